//! Hand-made malformed requests against every endpoint of the route table (wrong types, huge
//! and empty lists, deep nesting, invalid UTF-8, bad paths, bad headers): never a 5xx, and
//! every refusal is a JSON `{"error": "..."}`. Deterministic and quick; run alone with
//! `cargo test -p pinchwork-server --test fuzz`.

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use pinchwork_test_kit::TestApp;
use serde_json::Value;
use tower::ServiceExt;

const ADMIN: &str = "fuzz-admin-key-0123456789abcdef0123456789";

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let many_tags = format!(
        "{{\"tags\": [{}], \"need\": \"x\"}}",
        vec!["\"t\""; 1_000].join(",")
    );
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let wide = format!("[{}]", vec!["0"; 20_000].join(","));
    let aliases = format!(
        "---\na: &x [{}]\nb: [{}]\n---\nbody",
        vec!["1"; 200].join(","),
        vec!["*x"; 200].join(",")
    );
    let json = "application/json";
    let md = "text/markdown";
    vec![
        (json, b"".to_vec()),
        (json, b"null".to_vec()),
        (json, b"[]".to_vec()),
        (json, b"\"text\"".to_vec()),
        (json, b"{\"need\": ".to_vec()),
        (json, b"\xff\xfe{}".to_vec()),
        (
            json,
            br#"{"need": 5, "max_credits": "many", "tags": {"a": 1}, "wait": true,
                "count": -1, "amount": 1e400, "suspended": "perhaps", "rating": [],
                "agent_id": {}, "result": null, "credits_claimed": "x"}"#
                .to_vec(),
        ),
        (
            json,
            br#"{"need": "", "max_credits": 0, "wait": 0, "count": 1000, "amount": -5,
                "rating": 99, "tags": [""], "webhook_url": "gopher://x", "good_at": 7}"#
                .to_vec(),
        ),
        (json, many_tags.into_bytes()),
        (json, deep.into_bytes()),
        (json, wide.into_bytes()),
        (md, b"---\nkey: [unclosed\n---\nbody".to_vec()),
        (md, b"---\n- a list\n---\n".to_vec()),
        (md, aliases.into_bytes()),
        (md, b"---\n!!binary x: y\n---\n".to_vec()),
        ("application/x-www-form-urlencoded", b"a=b&c=%ff".to_vec()),
        ("text/plain", b"\0\0\0".to_vec()),
        (
            json,
            br#"{"need": "a\u0000b", "agent_id": "\u0000", "name": "n\u0000"}"#.to_vec(),
        ),
        ("application/json; charset=ebcdic", b"{}".to_vec()),
    ]
}

fn queries() -> Vec<String> {
    vec![
        String::new(),
        "?limit=abc&offset=x".into(),
        "?limit=-5&offset=-1".into(),
        "?limit=100000".into(),
        format!("?tags={}", vec!["t"; 1_000].join(",")),
        format!("?search={}", "s".repeat(5_000)),
        "?search=%ff%fe&tags=%00".into(),
        "?search=a%00b".into(),
        "?last_event_id=x&section=%00&min_reputation=NaN&role=x&status=y&sort_by=z".into(),
        "?tags[]=a&tags[]=b&limit[]=1".into(),
    ]
}

fn ids(task: &str) -> Vec<String> {
    vec![
        task.to_string(),
        "tk-does-not-exist".into(),
        "%ff%fe".into(),
        "..%2f..%2fetc".into(),
        "tk-%00".into(),
        "a".repeat(3_000),
    ]
}

struct Seen {
    status: u16,
    body: String,
}

async fn send(app: &TestApp, req: Request<Body>) -> Seen {
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let streaming = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.to_str().unwrap_or_default().contains("event-stream"));
    if streaming {
        return Seen {
            status,
            body: String::new(),
        };
    }
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Seen {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn check(what: &str, seen: &Seen, failures: &mut Vec<String>) {
    let what: String = what.chars().take(160).collect();
    if seen.status >= 500 {
        failures.push(format!("{what}: {} {}", seen.status, seen.body));
    } else if seen.status >= 400 {
        let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
        // A2A speaks JSON-RPC: its errors say why in `error.message`.
        let why = if what.starts_with("POST /a2a ") {
            body["error"]["message"].as_str()
        } else {
            body["error"].as_str()
        };
        if why.is_none_or(|e| e.is_empty()) {
            failures.push(format!(
                "{what}: {} without an error: {}",
                seen.status, seen.body
            ));
        }
    }
}

#[tokio::test]
async fn malformed_requests_never_fail_the_server_and_always_say_why() {
    let app = TestApp::with(|cfg| cfg.admin_key = Some(ADMIN.into())).await;
    let (_, key) = app.register("fuzzer").await;
    let task = app.post_task(&key, "a task to poke at", 5).await;
    let auths = [
        None,
        Some(format!("Bearer {key}")),
        Some(format!("Bearer {ADMIN}")),
        Some("Bearer pwk-made-up".into()),
        Some("Basic Zm9vOmJhcg==".into()),
        Some("Bearer ".into()),
    ];
    let mut failures = Vec::new();
    let mut sent = 0;
    for route in pinchwork_server::api::routes() {
        let mut paths = vec![route.path.to_string()];
        if route.path.contains('{') {
            paths = ids(&task)
                .into_iter()
                .map(|id| {
                    route
                        .path
                        .replace("{task_id}", &id)
                        .replace("{question_id}", &id)
                        .replace("{agent_id}", &id)
                })
                .collect();
        }
        for path in paths {
            for (i, auth) in auths.iter().enumerate() {
                // Every query with the real key; the first query with every other header.
                let queries = if i == 1 {
                    queries()
                } else {
                    vec![String::new()]
                };
                for query in queries {
                    let with_body: Vec<Option<(&str, Vec<u8>)>> = if route.body.is_some() && i <= 2
                    {
                        bodies().into_iter().map(Some).collect()
                    } else {
                        vec![None]
                    };
                    for body in with_body {
                        let mut req = Request::builder()
                            .method(route.method.clone())
                            .uri(format!("{path}{query}"))
                            .header("last-event-id", "not-a-number");
                        req = req.header(header::ACCEPT, "application/json");
                        if let Some(auth) = auth {
                            req = req.header(header::AUTHORIZATION, auth);
                        }
                        let (ct, bytes) = body.unwrap_or(("application/json", Vec::new()));
                        let req = req
                            .header(header::CONTENT_TYPE, ct)
                            .body(Body::from(bytes))
                            .unwrap();
                        let what = format!("{} {path}{query} [{i}, {ct}]", route.method);
                        let seen = send(&app, req).await;
                        sent += 1;
                        check(&what, &seen, &mut failures);
                    }
                }
            }
        }
    }
    // Paths and methods no route has.
    for (method, path) in [
        ("GET", "/v1/nothing"),
        ("DELETE", "/v1/tasks"),
        ("GET", "/v1/tasks/%ff/deliver"),
        ("PUT", "/v1/me"),
        ("GET", "//v1//me"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, "application/json")
            .body(Body::empty())
            .unwrap();
        let seen = send(&app, req).await;
        sent += 1;
        check(&format!("{method} {path}"), &seen, &mut failures);
    }
    assert!(sent > 1_000, "{sent}");
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
