//! Request tracing through the real router: every response carries a request id (the
//! client's when it is sane), and the log lines of a request carry its id, route and agent.

use axum::body::Body;
use axum::http::{Request, header};
use pinchwork_test_kit::{Resp, TestApp};
use std::sync::{Arc, Mutex, OnceLock};

async fn get_with_request_id(app: &TestApp, path: &str, id: Option<&str>) -> Resp {
    let mut req = Request::builder()
        .uri(path)
        .header(header::ACCEPT, "application/json");
    if let Some(id) = id {
        req = req.header("x-request-id", id);
    }
    app.send(req.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    captured_logs();
    let app = TestApp::new().await;
    let given = "client-7f3a.01:x_y";
    let r = get_with_request_id(&app, "/health", Some(given)).await;
    assert_eq!(r.header("x-request-id"), Some(given), "a sane id is kept");

    let fresh = get_with_request_id(&app, "/health", None).await;
    let made = fresh
        .header("x-request-id")
        .expect("an id is made")
        .to_string();
    assert!(made.starts_with("req-"), "{made}");
    let again = get_with_request_id(&app, "/health", None).await;
    assert_ne!(
        again.header("x-request-id"),
        Some(made.as_str()),
        "ids differ"
    );

    // Errors, unknown routes and refused callers get one too.
    let r = get_with_request_id(&app, "/v1/me", Some("abc"))
        .await
        .expect(401);
    assert_eq!(r.header("x-request-id"), Some("abc"));
    let r = get_with_request_id(&app, "/no/such/route", Some("abc"))
        .await
        .expect(404);
    assert_eq!(r.header("x-request-id"), Some("abc"));

    // Too long, or with characters a log line or header should not carry: replaced.
    for insane in [
        "x".repeat(65),
        "two words".into(),
        "a\"b".into(),
        "é".into(),
    ] {
        let r = get_with_request_id(&app, "/health", Some(&insane)).await;
        let id = r.header("x-request-id").expect("an id");
        assert!(id.starts_with("req-"), "{insane:?} was kept as {id:?}");
    }
    let longest = "y".repeat(64);
    let r = get_with_request_id(&app, "/health", Some(&longest)).await;
    assert_eq!(r.header("x-request-id"), Some(longest.as_str()));
}

/// This binary's log, captured by a global subscriber installed before any test sends a
/// request. (A thread-local one would race the other test: a span's callsite first hit with
/// no subscriber caches "not interested", and its fields never reach the log.)
fn captured_logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        logs
    })
}

/// A log sink.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn error_log_lines_carry_the_request_id_route_and_agent() {
    let logs = captured_logs();
    let app = TestApp::new().await;
    let (agent_id, key) = app.register("tracer").await;

    let req = Request::builder()
        .uri("/v1/tasks/tk-doesnotexist")
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header("x-request-id", "trace-me-404");
    app.send(req.body(Body::empty()).unwrap()).await.expect(404);
    get_with_request_id(&app, "/v1/me", Some("trace-me-401"))
        .await
        .expect(401);

    let text = logs.text();
    let line = |id: &str| {
        text.lines()
            .find(|l| l.contains(id) && l.contains("request refused"))
            .unwrap_or_else(|| panic!("no error line with {id} in:\n{text}"))
            .to_string()
    };
    let not_found = line("request_id=trace-me-404");
    for part in [
        "method=GET",
        "path=/v1/tasks/{task_id}",
        &format!("agent_id={agent_id}"),
        "status=404",
        "latency_us=",
    ] {
        assert!(not_found.contains(part), "{part} missing from {not_found}");
    }
    let refused = line("request_id=trace-me-401");
    assert!(refused.contains("path=/v1/me"), "{refused}");
    assert!(refused.contains("status=401"), "{refused}");
    assert!(
        !refused.contains("agent_id"),
        "no agent was verified: {refused}"
    );
}
