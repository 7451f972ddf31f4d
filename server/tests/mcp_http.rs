//! `/mcp`: the MCP server over streamable HTTP, on a real server over loopback. The bearer
//! key selects the agent; without a valid key, 401 JSON.

use pinchwork_test_kit::TestApp;
use pinchwork_test_kit::mcp::{connect_http as mcp_client, ok as tool};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_register_is_not_offered_and_the_instructions_say_whose_key_acts() {
    let app = TestApp::new().await;
    let server = app.serve().await;
    let url = format!("http://{}", server.addr);
    let (_, key) = app.register("alice").await;
    let client = mcp_client(&url, &key).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.len() > 30);
    assert!(
        !tools.iter().any(|t| t.name == "register"),
        "register can only fail over HTTP"
    );
    let instructions = client
        .peer_info()
        .and_then(|i| i.instructions.clone())
        .unwrap_or_default();
    assert!(instructions.contains("API key"), "{instructions}");
    assert!(!instructions.contains("register"), "{instructions}");
    let res = client
        .call_tool(
            CallToolRequestParams::new("register")
                .with_arguments(json!({"name": "x"}).as_object().unwrap().clone()),
        )
        .await;
    assert!(res.is_err(), "no such tool over HTTP: {res:?}");
    client.cancel().await.unwrap();
    server.shutdown().await;
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}})
}

/// A JSON body, whatever the status says.
async fn json_body(res: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("HTTP {status}: not JSON ({e}): {text:?}"));
    (status, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_http_answers_like_the_api_401_with_a_bearer_challenge_json_errors_204_on_delete() {
    let app = TestApp::new().await;
    let server = app.serve().await;
    let url = format!("http://{}/mcp", server.addr);
    let (_, key) = app.register("alice").await;
    let http = reqwest::Client::new();
    let post = |auth: Option<String>| {
        let mut req = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&initialize());
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req
    };

    // 401: a bearer challenge (so clients ask for a key, not OAuth) and a JSON body.
    let (status, headers, body) = json_body(post(None).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], r#"Bearer realm="pinchwork""#);
    assert!(body["error"].is_string(), "{body}");
    let (status, headers, _) =
        json_body(post(Some("Bearer pwk-wrong".into())).send().await.unwrap()).await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );

    // A session: DELETE ends it with 204; then it is gone (a JSON error).
    let res = post(Some(format!("Bearer {key}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let session = res.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    drop(res);
    let delete = || {
        http.delete(&url)
            .header("authorization", format!("Bearer {key}"))
            .header("mcp-session-id", &session)
    };
    let res = delete().send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());
    let (status, _, body) = json_body(
        http.post(&url)
            .header("authorization", format!("Bearer {key}"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!((400..500).contains(&status), "{status} {body}");

    // Every other error of /mcp is JSON too: a wrong method, no session id, a foreign Host.
    let (status, headers, body) = json_body(
        http.put(&url)
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 405, "{body}");
    assert!(headers.contains_key("allow"));
    assert!(body["error"].is_string(), "{body}");
    let (status, _, body) = json_body(
        http.get(&url)
            .header("authorization", format!("Bearer {key}"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!((400..500).contains(&status), "{status} {body}");
    let (status, _, body) = json_body(
        post(Some(format!("Bearer {key}")))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    assert!(body["error"].as_str().unwrap().contains("Host"), "{body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_origin_other_than_the_servers_hosts_is_refused() {
    let app = TestApp::new().await;
    let server = app.serve().await;
    let url = format!("http://{}/mcp", server.addr);
    let (_, key) = app.register("alice").await;
    let http = reqwest::Client::new();
    let with_origin = |origin: &str| {
        http.post(&url)
            .header("authorization", format!("Bearer {key}"))
            .header("accept", "application/json, text/event-stream")
            .header("origin", origin)
            .json(&initialize())
    };
    for origin in [
        "https://evil.example",
        "null",
        "http://localhost.evil.example:80",
    ] {
        let (status, _, body) = json_body(with_origin(origin).send().await.unwrap()).await;
        assert_eq!(status, 403, "{origin}: {body}");
        assert!(body["error"].as_str().unwrap().contains("Origin"), "{body}");
    }
    // Loopback pages (e.g. a local inspector) and clients sending no Origin are served.
    for origin in ["http://localhost:6274", "http://127.0.0.1:3000"] {
        let res = with_origin(origin).send().await.unwrap();
        assert_eq!(res.status(), 200, "{origin}");
    }
    server.shutdown().await;
}
