//! Resource subscriptions: events of the agent's stream become `notifications/resources/updated`,
//! over `resources/subscribe` (sessions up to 2025-11-25) and `subscriptions/listen`
//! (2026-07-28).

use pinchwork_mcp::{PinchworkMcp, Settings};
use pinchwork_test_kit::TestServer;
use pinchwork_test_kit::mcp::*;
use rmcp::model::{
    ClientConfig, ProtocolVersion, ResourceUpdatedNotificationParam, ServerNotification,
    SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::mpsc;

/// A client on a session-based protocol version that reports resource updates.
struct Updates(mpsc::UnboundedSender<String>);

impl ClientHandler for Updates {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::default().with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params.uri);
    }
}

async fn legacy_client(
    settings: Settings,
) -> (
    RunningService<RoleClient, Updates>,
    mpsc::UnboundedReceiver<String>,
) {
    let server = PinchworkMcp::new(settings).unwrap();
    let (server_io, client_io) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let (tx, rx) = mpsc::unbounded_channel();
    (Updates(tx).serve(client_io).await.unwrap(), rx)
}

/// A client on the 2026-07-28 protocol (discovery instead of `initialize`).
async fn modern_client(settings: Settings) -> Agent {
    let server = PinchworkMcp::new(settings).unwrap();
    let (server_io, client_io) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve_with_lifecycle(
        client_io,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .unwrap()
}

/// The promise: a subscribed client hears of a change within a second.
const WITHIN: Duration = Duration::from_secs(1);

/// Collects updates until every one of `expected` has come (other URIs may come too), each
/// within a second.
async fn expect_updates(rx: &mut mpsc::UnboundedReceiver<String>, expected: &[&str]) {
    let mut missing: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    while !missing.is_empty() {
        let uri = tokio::time::timeout(WITHIN, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no update for {missing:?}"))
            .unwrap();
        missing.remove(&uri);
    }
}

/// Time for a new subscription's event stream to connect (events start from then on).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_subscribe_sends_updates_for_the_agents_events() {
    let server = TestServer::start();
    let (alice, reg) = registered_agent(&server.url, "alice").await;
    let key = reg["api_key"].as_str().unwrap().to_string();
    let (bob, _) = registered_agent(&server.url, "bob").await;
    let task = ok(
        &alice,
        "delegate",
        json!({"need": "Draw", "max_credits": 3}),
    )
    .await;
    let task_id = task["task_id"].as_str().unwrap().to_string();
    let task_uri = format!("pinchwork://tasks/{task_id}");

    let (watcher, mut updates) = legacy_client(Settings::new(&server.url, Some(key))).await;
    for uri in [task_uri.as_str(), "pinchwork://me"] {
        #[allow(deprecated)]
        watcher
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .unwrap();
    }
    #[allow(deprecated)]
    let refused = watcher
        .subscribe(SubscribeRequestParams::new("pinchwork://skill"))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("cannot be subscribed"),
        "{refused}"
    );
    settle().await;

    ok(&bob, "pickup_task", json!({"task_id": task_id})).await;
    expect_updates(&mut updates, &[&task_uri, "pinchwork://me"]).await;

    #[allow(deprecated)]
    watcher
        .unsubscribe(UnsubscribeRequestParams::new("pinchwork://me"))
        .await
        .unwrap();
    ok(
        &bob,
        "deliver",
        json!({"task_id": task_id, "result": "a cat"}),
    )
    .await;
    expect_updates(&mut updates, &[&task_uri]).await;
    // Reading the resource shows the change the update announced.
    let read = watcher
        .read_resource(rmcp::model::ReadResourceRequestParams::new(&task_uri))
        .await
        .unwrap();
    let text = format!("{:?}", read.contents[0]);
    assert!(text.contains("delivered"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_listen_sends_updates_for_the_accepted_uris() {
    let server = TestServer::start();
    let (alice, reg) = registered_agent(&server.url, "alice").await;
    let key = reg["api_key"].as_str().unwrap().to_string();
    let (bob, _) = registered_agent(&server.url, "bob").await;
    let task = ok(
        &alice,
        "delegate",
        json!({"need": "Sing", "max_credits": 3}),
    )
    .await;
    let task_id = task["task_id"].as_str().unwrap().to_string();
    let task_uri = format!("pinchwork://tasks/{task_id}");

    let listener = modern_client(Settings::new(&server.url, Some(key))).await;
    // Tools work the same on the stateless protocol.
    let me = ok(&listener, "me", json!({})).await;
    assert_eq!(me["id"], reg["agent_id"]);
    let mut subscription = listener
        .listen(
            SubscriptionFilter::builder()
                .resource_subscription(task_uri.clone())
                .resource_subscription("pinchwork://skill")
                .build(),
        )
        .await
        .unwrap();
    assert_eq!(
        subscription.acknowledged().resource_subscriptions,
        Some(vec![task_uri.clone()]),
        "only resources that events change are accepted"
    );
    settle().await;

    ok(&bob, "pickup_task", json!({"task_id": task_id})).await;
    let note = tokio::time::timeout(WITHIN, subscription.next())
        .await
        .expect("an update")
        .unwrap()
        .expect("the subscription is open");
    match note {
        ServerNotification::ResourceUpdatedNotification(n) => assert_eq!(n.params.uri, task_uri),
        other => panic!("unexpected {other:?}"),
    }
}
