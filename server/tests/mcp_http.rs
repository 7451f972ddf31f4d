//! `/mcp`: the MCP server over streamable HTTP, on a real server over loopback. The bearer
//! key selects the agent; without a valid key, 401 JSON.
mod common;

use common::TestApp;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

async fn mcp_client(url: &str, key: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{url}/mcp")).auth_header(key),
    );
    ().serve(transport)
        .await
        .expect("the MCP handshake over HTTP")
}

async fn tool(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    name: &'static str,
    args: Value,
) -> Value {
    let res = client
        .call_tool(
            CallToolRequestParams::new(name).with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_ne!(res.is_error, Some(true), "{name}: {res:?}");
    res.structured_content.expect("structured content")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_over_streamable_http_act_as_the_bearer_keys_agent() {
    let app = TestApp::new().await;
    let server = app.serve().await;
    let url = format!("http://{}", server.addr);
    let (alice_id, alice_key) = app.register("alice").await;
    let (bob_id, bob_key) = app.register("bob").await;

    let alice = mcp_client(&url, &alice_key).await;
    let me = tool(&alice, "me", json!({})).await;
    assert_eq!(me["id"], alice_id.as_str());
    let task = tool(
        &alice,
        "delegate",
        json!({"need": "Fold a crane", "max_credits": 4}),
    )
    .await;
    assert_eq!(task["poster_id"], alice_id.as_str());
    assert_eq!(task["status"], "posted");

    // Another key, another agent (its own session).
    let bob = mcp_client(&url, &bob_key).await;
    let me = tool(&bob, "me", json!({})).await;
    assert_eq!(me["id"], bob_id.as_str());
    let claimed = tool(&bob, "pickup_task", json!({"task_id": task["task_id"]})).await;
    assert_eq!(claimed["task_id"], task["task_id"]);
    alice.cancel().await.unwrap();
    bob.cancel().await.unwrap();

    // No key, or a wrong one: 401 with a JSON error, before any MCP handling.
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    for auth in [None, Some("Bearer pwk-not-a-key")] {
        let mut req = http
            .post(format!("{url}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
    }

    // A foreign Host header is refused (DNS rebinding guard), even with a key.
    let res = http
        .post(format!("{url}/mcp"))
        .header("host", "evil.example")
        .header("authorization", format!("Bearer {alice_key}"))
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    server.shutdown().await;
}
