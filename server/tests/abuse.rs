//! The server under hostile input (issue 13): one test per way of taking it down or making it
//! grow without bound, each through the real router or a real socket.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use pinchwork_test_kit::TestApp;
use pinchwork_test_kit::hooks::Receiver;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn markdown(path: &str, text: String) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "text/markdown")
        .header(header::ACCEPT, "application/json")
        .body(Body::from(text))
        .unwrap()
}

/// YAML front-matter of one anchor of `items` items and `aliases` aliases to it.
fn alias_bomb(items: usize, aliases: usize) -> String {
    format!(
        "---\nname: bomb\nx: &a [{}]\ny: [{}]\n---\nhello\n",
        vec!["1"; items].join(","),
        vec!["*a"; aliases].join(",")
    )
}

// 1. Front-matter cannot explode.
#[tokio::test]
async fn yaml_aliases_are_refused_before_they_expand() {
    let app = TestApp::new().await;
    let before = rss_kib();
    // The payload of the issue: 10,000 items, 100,000 aliases (320 KB, a billion values).
    let bomb = alias_bomb(10_000, 100_000);
    assert!(bomb.len() > 300_000);
    let r = app.send(markdown("/v1/register", bomb)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.error().contains("too large"), "{}", r.error());
    // Under the front-matter size cap, the expansion itself is what is refused.
    let bomb = alias_bomb(1_000, 50_000);
    assert!(bomb.len() < pinchwork_client::limits::MAX_FRONT_MATTER_BYTES);
    let r = app.send(markdown("/v1/register", bomb)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.error().contains("values"), "{}", r.error());
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 200, "memory grew by {grown_mib} MiB");
    // Nothing was registered; an honest front-matter still works.
    let r = app
        .send(markdown("/v1/register", "---\nname: honest\n---\n".into()))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

// 2. Every list in a request is bounded.
#[tokio::test]
async fn a_thousand_tags_are_a_clear_400_everywhere() {
    let app = TestApp::new().await;
    let (_, key) = app.register("lister").await;
    let tags: Vec<String> = (0..1_000).map(|i| format!("t{i}")).collect();
    let query = tags.join(",");
    for (method, path, body) in [
        ("GET", format!("/v1/tasks/available?tags={query}"), None),
        ("POST", format!("/v1/tasks/pickup?tags={query}"), None),
        (
            "POST",
            "/v1/tasks/pickup/batch".to_string(),
            Some(json!({"tags": tags})),
        ),
        ("GET", format!("/v1/agents?tags={query}"), None),
        (
            "GET",
            format!("/v1/tasks/available?search={}", "s".repeat(10_000)),
            None,
        ),
    ] {
        let r = app.call(method, &path, Some(&key), body).await;
        assert_eq!(r.status, 400, "{method} {}: {}", &path[..40], r.text);
        assert!(
            r.error().contains("At most 10 tags") || r.error().contains("search"),
            "{}",
            r.error()
        );
    }
}

fn from(addr: &str, mut req: Request<Body>) -> Request<Body> {
    let addr: SocketAddr = addr.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

fn get_me(key: &str) -> Request<Body> {
    Request::get("/v1/me")
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap()
}

// 3. Rate limits count what an attacker controls.
#[tokio::test]
async fn made_up_keys_are_counted_against_the_address_and_then_refused() {
    let app = TestApp::with(|cfg| {
        cfg.rate_limits_enabled = true;
        cfg.rate_limit_auth_failures = "20/minute".into();
        cfg.rate_limit_read = "3/minute".into();
        cfg.rate_limit_register = "100/minute".into();
        cfg.admin_key = Some("a".repeat(40));
        cfg.trusted_proxies = vec!["10.0.0.1".into()];
    })
    .await;
    // 30 random keys from one address: 20 × 401, then 429 without a lookup.
    let mut statuses = Vec::new();
    for i in 0..30 {
        let r = app
            .send(from(
                "198.51.100.1:1000",
                get_me(&format!("pwk-made-up-{i}")),
            ))
            .await;
        statuses.push(r.status.as_u16());
    }
    assert_eq!(statuses[..20], [401; 20]);
    assert_eq!(statuses[20..], [429; 10]);
    // The same for admin key guesses.
    for i in 0..25 {
        let r = app
            .send(from(
                "198.51.100.2:1000",
                Request::post("/v1/admin/credits/grant")
                    .header(header::AUTHORIZATION, format!("Bearer guess-{i}"))
                    .body(Body::empty())
                    .unwrap(),
            ))
            .await;
        assert_eq!(r.status, if i < 20 { 403 } else { 429 }, "{i}");
    }
    // Another address, another allowance; IPv6 neighbours in one /64 share theirs.
    let r = app.send(from("198.51.100.3:1000", get_me("pwk-x"))).await;
    assert_eq!(r.status, 401);
    for i in 0..20 {
        let addr = format!("[2001:db8:7:7::{i:x}]:1000");
        app.send(from(&addr, get_me("pwk-x"))).await;
    }
    let r = app
        .send(from("[2001:db8:7:7::ff]:1", get_me("pwk-x")))
        .await;
    assert_eq!(r.status, 429, "the /64 is one client");
    // Behind a trusted proxy, X-Forwarded-For names the client.
    let mut req = get_me("pwk-x");
    req.headers_mut()
        .insert("x-forwarded-for", "198.51.100.1".parse().unwrap());
    let r = app.send(from("10.0.0.1:1000", req)).await;
    assert_eq!(r.status, 429, "counted as the client it forwards for");

    // Verified keys count against their agent, whatever the address.
    let (_, alice) = app.register("alice").await;
    let (_, bob) = app.register("bob").await;
    for i in 0..3 {
        let addr = format!("203.0.113.{i}:1000");
        assert_eq!(app.send(from(&addr, get_me(&alice))).await.status, 200);
    }
    let r = app.send(from("203.0.113.9:1000", get_me(&alice))).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    let r = app.send(from("203.0.113.0:1000", get_me(&bob))).await;
    assert_eq!(r.status, 200, "bob has his own allowance");
}

/// A raw connection to `addr` that has sent `bytes`.
async fn half_request(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Whether the server closes `stream` within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    read.await.is_ok()
}

// 4. Connections cannot be held for free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_do_not_crowd_out_others() {
    let app = TestApp::with(|cfg| {
        cfg.header_read_timeout_seconds = 1;
        cfg.body_read_timeout_seconds = 1;
        cfg.shutdown_timeout_seconds = 1;
    })
    .await;
    let (_, key) = app.register("patient").await;
    let server = app.serve().await;
    let addr = server.addr;
    // Half a request line, then nothing: disconnected.
    let mut slow = half_request(addr, b"GET /hea").await;
    let started = Instant::now();
    assert!(closed_within(&mut slow, Duration::from_secs(10)).await);
    assert!(started.elapsed() < Duration::from_secs(5));
    // A body that never comes: the request fails and the connection closes.
    let mut trickle = half_request(
        addr,
        b"POST /v1/tasks HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"ne",
    )
    .await;
    assert!(closed_within(&mut trickle, Duration::from_secs(10)).await);
    // 1,000 half requests do not stop a normal client.
    let mut held = Vec::new();
    for _ in 0..1_000 {
        held.push(half_request(addr, b"GET / HTTP/1.1\r\nhost").await);
    }
    let started = Instant::now();
    let res = reqwest::Client::new()
        .get(format!("http://{addr}/v1/me"))
        .bearer_auth(&key)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    // Shutdown has a deadline, even with an open stream and slow clients.
    let _stream = pinchwork_test_kit::open(&format!("http://{addr}"), &key, None).await;
    let _slow = half_request(
        addr,
        b"POST /v1/tasks HTTP/1.1\r\ncontent-length: 9\r\n\r\n",
    )
    .await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown within its deadline");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held);
}

async fn admin_suspend(app: &TestApp, admin: &str, agent: &str) {
    let r = app
        .post(
            "/v1/admin/agents/suspend",
            admin,
            json!({"agent_id": agent, "suspended": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

// 5. Per-agent caps on long-lived work; a suspension ends it all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_and_waits_are_capped_per_agent_and_end_on_suspension() {
    let admin = "k".repeat(40);
    let app = TestApp::with(|cfg| {
        cfg.max_streams_per_agent = 2;
        cfg.max_waits_per_agent = 1;
        cfg.admin_key = Some("k".repeat(40));
    })
    .await;
    let (id, key) = app.register("holder").await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    let mut first = pinchwork_test_kit::open(&base, &key, None).await;
    let _second = pinchwork_test_kit::open(&base, &key, None).await;
    let third = http
        .get(format!("{base}/v1/events"))
        .bearer_auth(&key)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    let body: Value = third.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("event streams"));
    // One parked wait at a time.
    let waiting = {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        tokio::spawn(async move {
            http.post(format!("{base}/v1/tasks"))
                .bearer_auth(&key)
                .header("accept", "application/json")
                .json(&json!({"need": "wait for me", "max_credits": 1, "wait": 60}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = http
        .post(format!("{base}/v1/tasks"))
        .bearer_auth(&key)
        .json(&json!({"need": "and me", "max_credits": 1, "wait": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // Suspended: the stream and the wait end now, not in a minute.
    let started = Instant::now();
    admin_suspend(&app, &admin, &id).await;
    use futures_util::StreamExt;
    let ended = tokio::time::timeout(Duration::from_secs(5), first.next()).await;
    assert!(matches!(ended, Ok(None)), "the stream ended");
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the wait ended")
        .unwrap();
    assert_eq!(status, 403);
    assert!(started.elapsed() < Duration::from_secs(5));
    server.shutdown().await;
}

fn mcp_initialize(base: &str, key: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_sessions_are_capped_counted_and_closed_on_suspension() {
    let admin = "k".repeat(40);
    let app = TestApp::with(|cfg| {
        cfg.max_mcp_sessions_per_agent = 2;
        cfg.admin_key = Some("k".repeat(40));
        cfg.rate_limits_enabled = true;
        cfg.rate_limit_read = "3/minute".into();
        cfg.rate_limit_register = "100/minute".into();
    })
    .await;
    let (id, key) = app.register("mcp-holder").await;
    let (_, other) = app.register("mcp-reader").await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let res = mcp_initialize(&base, &key).send().await.unwrap();
        assert_eq!(res.status(), 200);
        sessions.push(
            res.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    let res = mcp_initialize(&base, &key).send().await.unwrap();
    assert_eq!(res.status(), 429, "a third session");
    assert!(res.headers().contains_key("retry-after"));
    // Each initialize counts against the agent's read limit (3 per minute here).
    for expected in [200, 200, 200, 429] {
        let res = mcp_initialize(&base, &other).send().await.unwrap();
        assert_eq!(res.status(), expected);
        if let Some(id) = res.headers().get("mcp-session-id") {
            // Close it, so the cap is not what refuses the fourth.
            reqwest::Client::new()
                .delete(format!("{base}/mcp"))
                .bearer_auth(&other)
                .header("mcp-session-id", id)
                .send()
                .await
                .unwrap();
        }
    }
    // Suspended: its sessions are closed (a request on one is refused by the MCP layer).
    admin_suspend(&app, &admin, &id).await;
    for session in &sessions {
        assert!(!app.state.mcp_sessions.is_open(session).await, "{session}");
    }
    assert_eq!(
        app.state
            .holds
            .count(&id, pinchwork_server::api::holds::Kind::McpSession),
        0
    );
    server.shutdown().await;
}

// 6. Webhooks: one at a time per recipient, in order; no query strings in errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_go_one_at_a_time_per_recipient_and_hide_query_strings() {
    let app = TestApp::with(|cfg| {
        cfg.webhook_allow_insecure = true;
        cfg.webhook_max_retries = 0;
    })
    .await;
    let receiver = Receiver::start(200).await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let r = app
        .call(
            "PATCH",
            "/v1/me",
            Some(&poster),
            Some(json!({"webhook_url": receiver.url})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The address guard: NAT64, 6to4 and site-local are refused (in secure mode).
    for url in [
        "https://[64:ff9b::a00:1]/",
        "https://[2002:a00:1::1]/",
        "https://[fec0::1]/",
    ] {
        let secure = TestApp::new().await;
        let (_, k) = secure.register("x").await;
        let r = secure
            .call(
                "PATCH",
                "/v1/me",
                Some(&k),
                Some(json!({"webhook_url": url})),
            )
            .await;
        assert_eq!(r.status, 400, "{url}");
    }
    // Three events for the poster, queued before the worker runs.
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = app.post_task(&poster, &format!("task {i}"), 1).await;
        app.post(&format!("/v1/tasks/{id}/pickup"), &worker, json!({}))
            .await;
        ids.push(id);
    }
    let due = app
        .state
        .store
        .write(|tx| Box::pin(async move { tx.take_due_webhooks(i64::MAX, i64::MAX, 10).await }))
        .await
        .unwrap();
    assert_eq!(
        due.len(),
        1,
        "only the oldest delivery of a recipient is taken"
    );
    assert!(due[0].delivery.body.contains(&ids[0]));
    // Errors are stored without the URL's query.
    let (dead_id, dead) = app.register("dead-end").await;
    let url = "http://127.0.0.1:9/hook?token=s3cret-token";
    app.call(
        "PATCH",
        "/v1/me",
        Some(&dead),
        Some(json!({"webhook_url": url})),
    )
    .await;
    let id = app.post_task(&dead, "anyone?", 1).await;
    app.post(&format!("/v1/tasks/{id}/pickup"), &worker, json!({}))
        .await;
    let server = app.serve().await;
    let mut stored = None;
    for _ in 0..50 {
        let who = dead_id.clone();
        let rows = app
            .state
            .read(move |tx| Box::pin(async move { tx.webhook_deliveries_of(&who, 100).await }))
            .await
            .unwrap();
        if let Some(e) = rows.iter().find_map(|d| d.last_error.clone()) {
            stored = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = stored.expect("the failed attempt was recorded");
    assert!(!stored.contains("s3cret"), "{stored}");
    server.shutdown().await;
}

// 7. The admin key can come from a file.
#[tokio::test]
async fn the_admin_key_is_read_from_a_file() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("admin.key");
    let key = "f".repeat(48);
    std::fs::write(&path, format!("{key}\n")).unwrap();
    let app = TestApp::with(|cfg| cfg.admin_key_file = Some(path.clone())).await;
    let (id, _) = app.register("granted").await;
    let grant = json!({"agent_id": id, "amount": 5});
    let r = app
        .post("/v1/admin/credits/grant", &key, grant.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.post("/v1/admin/credits/grant", "wrong", grant).await;
    assert_eq!(r.status, 403);
}
