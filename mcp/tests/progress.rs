//! Long waits and client timeouts. A wait (`wait_for_events`, `delegate` with `wait`) sends
//! `notifications/progress` every PROGRESS_EVERY when the client passes a progressToken, so a
//! client that resets its timeout on progress never times out; without a token a wait ends
//! after WAIT_WITHOUT_PROGRESS, under the 60 s default timeout of common clients.
//!
//! The fast tests run the mechanism with the timings scaled down (progress every 200 ms, a
//! client timeout of 600 ms, waits of 1-3 s): the ticker does not depend on the wait's length,
//! so the figures scale. The honest one, with the real timings (a 90 s wait, a client timeout
//! of 20 s), is `#[ignore]`d for the suite and run by CI:
//! `cargo test -p pinchwork-mcp --test progress -- --ignored`.

use pinchwork_mcp::server::{PROGRESS_EVERY, WAIT_WITHOUT_PROGRESS};
use pinchwork_mcp::{PinchworkMcp, Settings};
use pinchwork_test_kit::TestServer;
use pinchwork_test_kit::mcp::*;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest,
    ProgressNotificationParam, ServerResult,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService, ServiceError};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A client that notes when each progress notification came.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<(Instant, ProgressNotificationParam)>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.seen.lock().unwrap().push((Instant::now(), params));
    }
}

impl Recorder {
    fn take(&self) -> Vec<(Instant, ProgressNotificationParam)> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

async fn connect_timed(
    url: &str,
    key: &str,
    every: Duration,
    without_progress: Duration,
) -> (RunningService<RoleClient, Recorder>, Recorder) {
    let server = PinchworkMcp::new(Settings::new(url, Some(key.into())))
        .unwrap()
        .with_wait_timing(every, without_progress);
    let (server_io, client_io) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let recorder = Recorder::default();
    let client = recorder.clone().serve(client_io).await.unwrap();
    (client, recorder)
}

/// Calls `tool` as a client with a request `timeout` that each progress notification resets.
async fn call_resetting(
    client: &RunningService<RoleClient, Recorder>,
    tool: &'static str,
    args: Value,
    timeout: Duration,
) -> Result<CallToolResult, ServiceError> {
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(
        CallToolRequestParams::new(tool).with_arguments(args.as_object().unwrap().clone()),
    ));
    let options = PeerRequestOptions::with_timeout(timeout).reset_timeout_on_progress();
    let handle = client.send_request_with_option(request, options).await?;
    match handle.await_response().await? {
        ServerResult::CallToolResult(result) => Ok(result),
        other => panic!("{tool}: {other:?}"),
    }
}

/// Checks the notifications of one wait of `total` begun at `start` and ended at `end`: at
/// least one every `most_apart`, progress rising, the total announced.
fn assert_steady(
    seen: &[(Instant, ProgressNotificationParam)],
    start: Instant,
    end: Instant,
    total: Duration,
    most_apart: Duration,
) {
    let mut last = start;
    let mut progress = -1.0;
    for (at, p) in seen {
        assert!(
            *at - last <= most_apart,
            "{:?} without progress",
            *at - last
        );
        assert!(p.progress > progress, "progress must rise: {seen:?}");
        assert_eq!(p.total, Some(total.as_secs_f64()));
        assert!(p.message.as_deref().is_some_and(|m| m.contains(" s of ")));
        last = *at;
        progress = p.progress;
    }
    assert!(
        end - last <= most_apart,
        "{:?} without progress at the end",
        end - last
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_wait_reports_progress_and_outlives_a_client_timeout_that_resets_on_progress() {
    let server = TestServer::start();
    let (_, me) = registered_agent(&server.url, "alice").await;
    let key = me["api_key"].as_str().unwrap();
    let every = Duration::from_millis(200);
    let (client, recorder) = connect_timed(&server.url, key, every, Duration::from_secs(1)).await;

    // 3 s of waiting against a client that gives up after 600 ms without news.
    let start = Instant::now();
    let result = call_resetting(
        &client,
        "wait_for_events",
        json!({"timeout_seconds": 3}),
        Duration::from_millis(600),
    )
    .await
    .expect("the wait completes: progress keeps the client waiting");
    let end = Instant::now();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let batch = result.structured_content.unwrap();
    assert_eq!(batch["timed_out"], true, "{batch}");
    assert!(end - start >= Duration::from_secs(3), "{:?}", end - start);
    let seen = recorder.take();
    assert!(seen.len() >= 10, "{} notifications in 3 s", seen.len());
    assert_steady(&seen, start, end, Duration::from_secs(3), 3 * every);

    // Control: with progress every 5 s, the same client gives up: the notifications are what
    // kept it waiting.
    let (slow, _) = connect_timed(
        &server.url,
        key,
        Duration::from_secs(5),
        Duration::from_secs(1),
    )
    .await;
    let gave_up = call_resetting(
        &slow,
        "wait_for_events",
        json!({"timeout_seconds": 3}),
        Duration::from_millis(600),
    )
    .await;
    assert!(
        matches!(gave_up, Err(ServiceError::Timeout { .. })),
        "{gave_up:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegate_waits_for_the_delivery_with_progress() {
    let server = TestServer::start();
    let (_, me) = registered_agent(&server.url, "alice").await;
    let (bob, _) = registered_agent(&server.url, "bob").await;
    let every = Duration::from_millis(200);
    let key = me["api_key"].as_str().unwrap();
    let (alice, recorder) = connect_timed(&server.url, key, every, Duration::from_secs(1)).await;

    // Bob delivers 1.5 s after the task is posted; Alice's delegate blocks until then.
    let worker = tokio::spawn(async move {
        let task = loop {
            let picked = ok(&bob, "pickup", json!({})).await;
            if !picked["task"].is_null() {
                break picked["task"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(Duration::from_millis(1500)).await;
        ok(
            &bob,
            "deliver",
            json!({"task_id": task["task_id"], "result": "done"}),
        )
        .await;
    });
    let start = Instant::now();
    let result = call_resetting(
        &alice,
        "delegate",
        json!({"need": "Wave", "max_credits": 2, "wait": 10}),
        Duration::from_millis(600),
    )
    .await
    .expect("delegate completes");
    let end = Instant::now();
    worker.await.unwrap();
    let task = result.structured_content.unwrap();
    assert_eq!(task["status"], "delivered", "{task}");
    assert_eq!(task["result"], "done");
    assert!(end - start < Duration::from_secs(10));
    let seen = recorder.take();
    assert!(seen.len() >= 5, "{} notifications", seen.len());
    assert_steady(&seen, start, end, Duration::from_secs(10), 3 * every);
}

/// A client that sends no progressToken, speaking JSON-RPC itself (rmcp's client always
/// sends one): a longer wait is cut to the limit, and no progress is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_progress_token_a_wait_ends_at_the_limit() {
    let server = TestServer::start();
    let (_, me) = registered_agent(&server.url, "alice").await;
    let key = me["api_key"].as_str().unwrap();
    let mcp = PinchworkMcp::new(Settings::new(&server.url, Some(key.into())))
        .unwrap()
        .with_wait_timing(Duration::from_millis(200), Duration::from_secs(1));
    let (server_io, client_io) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = mcp.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let (read, mut write) = tokio::io::split(client_io);
    let mut lines = BufReader::new(read).lines();
    for msg in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "plain", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "wait_for_events", "arguments": {"timeout_seconds": 5}}}),
    ] {
        write
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
    }
    let start = Instant::now();
    let mut progress = 0;
    let answer = loop {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("an answer")
            .unwrap()
            .unwrap();
        let msg: Value = serde_json::from_str(&line).unwrap();
        if msg["method"] == "notifications/progress" {
            progress += 1;
        }
        if msg["id"] == 2 {
            break msg;
        }
    };
    let took = start.elapsed();
    assert_eq!(
        answer["result"]["structuredContent"]["timed_out"], true,
        "{answer}"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "a 5 s wait ends at the 1 s limit: {took:?}"
    );
    assert_eq!(progress, 0, "no progress without a token");
}

/// The real timings: a 90 s wait with a client that times out after 20 s without progress
/// completes, with progress at least every 20 s; a client without a progressToken gets its
/// answer within its 60 s timeout. About 90 s: run by CI with `--ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "takes 90 s; CI runs it: cargo test -p pinchwork-mcp --test progress -- --ignored"]
async fn a_90_s_wait_completes_with_progress_at_least_every_20_s() {
    assert!(PROGRESS_EVERY <= Duration::from_secs(20));
    assert!(WAIT_WITHOUT_PROGRESS < Duration::from_secs(60));
    let server = TestServer::start();
    let (_, me) = registered_agent(&server.url, "alice").await;
    let key = me["api_key"].as_str().unwrap();
    let (client, recorder) =
        connect_timed(&server.url, key, PROGRESS_EVERY, WAIT_WITHOUT_PROGRESS).await;

    let start = Instant::now();
    let long = call_resetting(
        &client,
        "wait_for_events",
        json!({"timeout_seconds": 90}),
        Duration::from_secs(20),
    );
    let (long, untracked) = tokio::join!(long, untracked_wait(&server.url, key, 90));
    let end = Instant::now();
    let result = long.expect("the 90 s wait completes");
    assert_eq!(result.structured_content.unwrap()["timed_out"], true);
    assert!(end - start >= Duration::from_secs(90));
    let seen = recorder.take();
    println!(
        "90 s wait: {} progress notifications, at {:?} s",
        seen.len(),
        seen.iter()
            .map(|(at, _)| (*at - start).as_secs_f64().round())
            .collect::<Vec<_>>()
    );
    assert_steady(
        &seen,
        start,
        end,
        Duration::from_secs(90),
        Duration::from_secs(20),
    );
    println!("without a progressToken: answered after {untracked:?}");
    assert!(untracked < Duration::from_secs(60), "{untracked:?}");
}

/// How long a `wait_for_events` of `secs` takes for the built binary over stdio, asked
/// without a progressToken.
async fn untracked_wait(url: &str, key: &str, secs: u64) -> Duration {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pinchwork-mcp"))
        .env("PINCHWORK_URL", url)
        .env("PINCHWORK_API_KEY", key)
        .env(
            "PINCHWORK_CONFIG_DIR",
            std::env::temp_dir().join("pinchwork-mcp-progress"),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for msg in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "plain", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "wait_for_events", "arguments": {"timeout_seconds": secs}}}),
    ] {
        stdin
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
    }
    let start = Instant::now();
    loop {
        let line = lines.next_line().await.unwrap().expect("an answer");
        let msg: Value = serde_json::from_str(&line).unwrap();
        if msg["id"] == 2 {
            assert_eq!(
                msg["result"]["structuredContent"]["timed_out"], true,
                "{msg}"
            );
            return start.elapsed();
        }
    }
}
