//! The agent's events over MCP: `pinchwork://events` (the recent ones) and `wait_for_events`
//! (for clients that cannot subscribe), both fed by the session's one follower of the stream.

use pinchwork_mcp::Settings;
use pinchwork_test_kit::TestServer;
use pinchwork_test_kit::mcp::*;
use rmcp::model::ReadResourceRequestParams;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn recent_events(agent: &Agent) -> Value {
    let read = agent
        .read_resource(ReadResourceRequestParams::new("pinchwork://events"))
        .await
        .unwrap();
    let text = match &read.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("not text: {other:?}"),
    };
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_events_answers_new_events_and_the_resource_keeps_the_recent_ones() {
    let server = TestServer::start();
    let (alice, reg) = registered_agent(&server.url, "alice").await;
    let key = reg["api_key"].as_str().unwrap().to_string();
    let (bob, _) = registered_agent(&server.url, "bob").await;
    let task = ok(
        &alice,
        "delegate",
        json!({"need": "Juggle", "max_credits": 4}),
    )
    .await;
    let task_id = task["task_id"].as_str().unwrap().to_string();

    let bad = call(&alice, "wait_for_events", json!({"timeout_seconds": 0})).await;
    assert_eq!(bad.is_error, Some(true));
    assert!(text(&bad).contains("between 1 and 300"), "{}", text(&bad));

    // Nothing happens: the wait ends after its timeout, with no event (and starts following).
    let started = Instant::now();
    let quiet = ok(&alice, "wait_for_events", json!({"timeout_seconds": 1})).await;
    assert_eq!(quiet["timed_out"], true, "{quiet}");
    assert_eq!(quiet["events"], json!([]));
    assert!(started.elapsed() < Duration::from_secs(5));
    let recent = recent_events(&alice).await;
    assert_eq!(recent["following"], true, "{recent}");

    // A wait answers as soon as an event comes.
    let waiting = {
        let alice = connect_same(&alice);
        tokio::spawn(
            async move { ok(&alice, "wait_for_events", json!({"timeout_seconds": 30})).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    ok(&bob, "pickup_task", json!({"task_id": task_id})).await;
    let claimed = tokio::time::timeout(Duration::from_secs(15), waiting)
        .await
        .expect("the wait ends with the event")
        .unwrap();
    assert_eq!(claimed["timed_out"], false);
    assert_eq!(claimed["events"][0]["event"], "task_claimed", "{claimed}");
    assert_eq!(claimed["events"][0]["task_id"], task_id.as_str());
    assert!(
        claimed["events"][0]["data"]["worker_id"].is_string(),
        "{claimed}"
    );
    let claimed_id = claimed["last_event_id"].as_str().unwrap().to_string();
    assert_eq!(
        claimed["events"][0]["event_id"]
            .as_i64()
            .unwrap()
            .to_string(),
        claimed_id
    );

    // Events after a given id that already came are answered at once, from the session's log.
    ok(
        &bob,
        "deliver",
        json!({"task_id": task_id, "result": "three balls"}),
    )
    .await;
    let delivered = ok(
        &alice,
        "wait_for_events",
        json!({"after": claimed_id, "timeout_seconds": 20}),
    )
    .await;
    assert_eq!(
        delivered["events"][0]["event"], "task_delivered",
        "{delivered}"
    );
    let delivered_id = delivered["last_event_id"].as_str().unwrap().to_string();
    let nothing_after = ok(
        &alice,
        "wait_for_events",
        json!({"after": delivered_id, "timeout_seconds": 1}),
    )
    .await;
    assert_eq!(nothing_after["timed_out"], true);
    assert_eq!(nothing_after["last_event_id"], delivered_id.as_str());

    // The resource keeps them, oldest first.
    let recent = recent_events(&alice).await;
    let kinds: Vec<&str> = recent["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["task_claimed", "task_delivered"], "{recent}");

    // A new session does not have them: the server replays what came after the id.
    let fresh = connect(Settings::new(&server.url, Some(key))).await;
    let replayed = ok(
        &fresh,
        "wait_for_events",
        json!({"after": claimed_id, "timeout_seconds": 10}),
    )
    .await;
    assert_eq!(
        replayed["events"][0]["event"], "task_delivered",
        "{replayed}"
    );
    assert_eq!(replayed["last_event_id"], delivered_id.as_str());
}

/// A second handle on the same MCP session, for a spawned task.
fn connect_same(agent: &Agent) -> rmcp::Peer<rmcp::RoleClient> {
    agent.peer().clone()
}
