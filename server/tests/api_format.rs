//! Content negotiation through the real router: markdown with YAML front-matter in requests
//! and (by default) in responses, JSON on request, and every malformed body a 400 with
//! `{"error"}`, never a 500. Also the framework edges: 404/405 routes, 413 bodies, 204.

use axum::body::Body;
use axum::http::{Method, Request, header};
use pinchwork_test_kit::{Resp, TestApp};
use serde_json::{Map, Value, json};

const JSON: &str = "application/json";
const MARKDOWN: &str = "text/markdown";
/// What `curl -d` declares.
const FORM: &str = "application/x-www-form-urlencoded";

/// Sends `body` with the given content type; `accept` None sends no Accept header.
async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    key: Option<&str>,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: impl Into<Body>,
) -> Resp {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path);
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    if let Some(accept) = accept {
        req = req.header(header::ACCEPT, accept);
    }
    app.send(req.body(body.into()).unwrap()).await
}

/// A POST of a markdown body, answered in JSON.
async fn post_md(app: &TestApp, path: &str, key: Option<&str>, body: &str) -> Resp {
    raw(
        app,
        "POST",
        path,
        key,
        Some(MARKDOWN),
        Some(JSON),
        body.to_string(),
    )
    .await
}

/// A request answered in markdown (no Accept header).
async fn get_md(app: &TestApp, path: &str, key: &str) -> Resp {
    raw(app, "GET", path, Some(key), None, None, Body::empty()).await
}

/// Splits a markdown response into its front-matter (parsed as YAML) and its body text.
fn split_md(text: &str) -> (Map<String, Value>, String) {
    let Some(rest) = text.strip_prefix("---\n") else {
        return (Map::new(), text.to_string());
    };
    let end = rest.find("\n---\n").expect("closing fence") + 1;
    let yaml = &rest[..end];
    let body = rest[end + 4..].trim_start_matches('\n').to_string();
    let Value::Object(map) = serde_yaml::from_str::<Value>(yaml).unwrap() else {
        panic!("front-matter is not a mapping: {yaml}")
    };
    (map, body)
}

/// The top-level keys of a front-matter block, in the order written.
fn top_level_keys(text: &str) -> Vec<String> {
    let rest = text.strip_prefix("---\n").unwrap();
    let yaml = &rest[..rest.find("\n---\n").unwrap()];
    yaml.lines()
        .filter(|l| !l.starts_with([' ', '-']))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

#[track_caller]
fn assert_markdown(r: &Resp) {
    assert_eq!(
        r.header("content-type"),
        Some("text/markdown; charset=utf-8"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("None"), "never the text None: {}", r.text);
}

struct Pair {
    app: TestApp,
    poster: String,
    worker: String,
}

async fn pair() -> Pair {
    let app = TestApp::new().await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    Pair {
        app,
        poster,
        worker,
    }
}

// ---------------------------------------------------------------------------------------------
// Markdown requests

#[tokio::test]
async fn markdown_create_takes_front_matter_fields_and_the_body_as_need() {
    let p = pair().await;
    let r = post_md(
        &p.app,
        "/v1/tasks",
        Some(&p.poster),
        "---\nmax_credits: 15\ntags: [legal, review]\ncontext: B2B SaaS\ndeadline_minutes: 60\n---\n\
         Review this SaaS Terms of Service for red flags.\n\nFocus on liability caps.\n",
    )
    .await
    .expect(201);
    let id = r.json["task_id"].as_str().unwrap().to_string();
    assert_eq!(
        r.json["need"],
        "Review this SaaS Terms of Service for red flags.\n\nFocus on liability caps."
    );
    let v = p.app.get(&format!("/v1/tasks/{id}"), &p.poster).await.json;
    assert_eq!(v["max_credits"], 15);
    assert_eq!(v["tags"], json!(["legal", "review"]));
    assert_eq!(v["context"], "B2B SaaS");
    assert_eq!(v["deadline"], "2026-01-01T01:00:00.000Z");
    assert_eq!(p.app.credits(&p.poster).await, 85);
}

#[tokio::test]
async fn markdown_without_front_matter_is_all_need() {
    let app = TestApp::with(|c| c.initial_credits = 160).await;
    let (_, poster) = app.register("poster").await;
    for content_type in [Some(MARKDOWN), Some("text/plain"), Some("text/x-markdown")] {
        let r = raw(
            &app,
            "POST",
            "/v1/tasks",
            Some(&poster),
            content_type,
            Some(JSON),
            "Translate this sentence: max_credits: 3".to_string(),
        )
        .await
        .expect(201);
        assert_eq!(r.json["need"], "Translate this sentence: max_credits: 3");
    }
    // Default budget 50, three times.
    assert_eq!(app.credits(&poster).await, 10);
}

#[tokio::test]
async fn markdown_front_matter_values_are_lenient_and_may_carry_the_need() {
    let p = pair().await;
    let r = post_md(
        &p.app,
        "/v1/tasks",
        Some(&p.poster),
        "---\nneed: from the front-matter\nmax_credits: \"12\"\ntags: a, b\n---\n",
    )
    .await
    .expect(201);
    assert_eq!(r.json["need"], "from the front-matter");
    let id = r.json["task_id"].as_str().unwrap();
    let v = p.app.get(&format!("/v1/tasks/{id}"), &p.poster).await.json;
    assert_eq!(v["max_credits"], 12);
    assert_eq!(v["tags"], json!(["a", "b"]));

    // Front-matter alone, without a need, is the usual 400.
    let r = post_md(
        &p.app,
        "/v1/tasks",
        Some(&p.poster),
        "---\nmax_credits: 5\n---\n",
    )
    .await
    .expect(400);
    assert_eq!(r.error(), "Missing 'need' field");
    // Limits apply to markdown input too.
    let r = post_md(
        &p.app,
        "/v1/tasks",
        Some(&p.poster),
        "---\nmax_credits: 0\n---\nsomething",
    )
    .await
    .expect(400);
    assert_eq!(r.error(), "max_credits must be between 1 and 100000");
    assert_eq!(p.app.credits(&p.poster).await, 88);
}

#[tokio::test]
async fn json_text_without_a_json_content_type_is_read_as_json() {
    // What `curl -d '{...}'` sends: application/x-www-form-urlencoded.
    let app = TestApp::new().await;
    let r = raw(
        &app,
        "POST",
        "/v1/register",
        None,
        Some("application/x-www-form-urlencoded"),
        Some(JSON),
        r#"{"name": "curl-agent", "good_at": "shell"}"#,
    )
    .await
    .expect(201);
    let key = r.json["api_key"].as_str().unwrap().to_string();
    let me = app.get("/v1/me", &key).await.json;
    assert_eq!(me["name"], "curl-agent");
    assert_eq!(me["good_at"], "shell");
    // A charset parameter on the JSON content type is fine.
    let r = raw(
        &app,
        "POST",
        "/v1/tasks",
        Some(&key),
        Some("application/json; charset=utf-8"),
        Some(JSON),
        r#"{"need": "x", "max_credits": 4}"#,
    )
    .await
    .expect(201);
    assert_eq!(r.json["need"], "x");
    assert_eq!(app.credits(&key).await, 96);
}

#[tokio::test]
async fn markdown_register_and_profile_update() {
    let app = TestApp::new().await;
    let r = post_md(
        &app,
        "/v1/register",
        None,
        "---\nname: md-agent\ngood_at: YAML, markdown\naccepts_system_tasks: true\n---\n",
    )
    .await
    .expect(201);
    let key = r.json["api_key"].as_str().unwrap().to_string();
    let r = raw(
        &app,
        "PATCH",
        "/v1/me",
        Some(&key),
        Some(MARKDOWN),
        Some(JSON),
        "---\ngood_at: writing\n---\n",
    )
    .await
    .expect(200);
    assert_eq!(r.json["name"], "md-agent");
    assert_eq!(r.json["good_at"], "writing");
    assert_eq!(r.json["accepts_system_tasks"], true);
}

#[tokio::test]
async fn markdown_deliver_body_is_the_result_and_plain_text_works() {
    let p = pair().await;
    let first = p.app.post_task(&p.poster, "one", 10).await;
    let second = p.app.post_task(&p.poster, "two", 10).await;
    for id in [&first, &second] {
        p.app
            .post(&format!("/v1/tasks/{id}/pickup"), &p.worker, json!({}))
            .await
            .expect(200);
    }
    let r = post_md(
        &p.app,
        &format!("/v1/tasks/{first}/deliver"),
        Some(&p.worker),
        "---\ncredits_claimed: 7\n---\n## Findings\n\n- SQL injection in line 4\n",
    )
    .await
    .expect(200);
    assert_eq!(r.json["result"], "## Findings\n\n- SQL injection in line 4");
    assert_eq!(r.json["credits_charged"], 7);
    assert_eq!(r.header("x-credits-charged"), Some("7"));

    let r = raw(
        &p.app,
        "POST",
        &format!("/v1/tasks/{second}/deliver"),
        Some(&p.worker),
        Some("text/plain"),
        Some(JSON),
        "Done: message SID SM123, delivered 14:32 UTC",
    )
    .await
    .expect(200);
    assert_eq!(
        r.json["result"],
        "Done: message SID SM123, delivered 14:32 UTC"
    );
    assert_eq!(r.json["credits_charged"], 10);
    assert_eq!(r.json["status"], "delivered");

    // An empty markdown deliver is still "Missing result".
    let third = p.app.post_task(&p.poster, "three", 1).await;
    p.app
        .post(&format!("/v1/tasks/{third}/pickup"), &p.worker, json!({}))
        .await
        .expect(200);
    let r = post_md(
        &p.app,
        &format!("/v1/tasks/{third}/deliver"),
        Some(&p.worker),
        "---\ncredits_claimed: 1\n---\n",
    )
    .await
    .expect(400);
    assert_eq!(r.error(), "Missing result");
}

#[tokio::test]
async fn markdown_review_fields_come_from_the_front_matter() {
    let p = pair().await;
    let mut ids = Vec::new();
    for need in ["a", "b"] {
        let id = p.app.post_task(&p.poster, need, 10).await;
        p.app
            .post(&format!("/v1/tasks/{id}/pickup"), &p.worker, json!({}))
            .await
            .expect(200);
        p.app
            .post(
                &format!("/v1/tasks/{id}/deliver"),
                &p.worker,
                json!({"result": "r"}),
            )
            .await
            .expect(200);
        ids.push(id);
    }
    let r = post_md(
        &p.app,
        &format!("/v1/tasks/{}/reject", ids[0]),
        Some(&p.poster),
        "---\nreason: Missing error handling\nfeedback: add try/except\n---\n",
    )
    .await
    .expect(200);
    assert_eq!(r.json["rejection_reason"], "Missing error handling");
    assert_eq!(r.json["status"], "claimed");

    let r = post_md(
        &p.app,
        &format!("/v1/tasks/{}/approve", ids[1]),
        Some(&p.poster),
        "---\nrating: 3\n---\n",
    )
    .await
    .expect(200);
    assert_eq!(r.json["status"], "approved");
    assert_eq!(p.app.get("/v1/me", &p.worker).await.json["reputation"], 3.0);
    let r = post_md(
        &p.app,
        &format!("/v1/tasks/{}/approve", ids[0]),
        Some(&p.poster),
        "---\nrating: 9\n---\n",
    )
    .await
    .expect(400);
    assert_eq!(r.error(), "rating must be between 1 and 5");
}

// ---------------------------------------------------------------------------------------------
// Markdown responses

#[tokio::test]
async fn responses_default_to_markdown_with_sorted_front_matter() {
    let p = pair().await;
    let r = raw(
        &p.app,
        "POST",
        "/v1/tasks",
        Some(&p.poster),
        Some(JSON),
        None,
        r#"{"need": "Review this SaaS Terms of Service", "max_credits": 5}"#,
    )
    .await
    .expect(201);
    assert_markdown(&r);
    let id = r.header("x-task-id").unwrap().to_string();
    assert_eq!(
        r.text,
        format!("---\nstatus: posted\ntask_id: {id}\n---\n\nReview this SaaS Terms of Service\n")
    );
    assert_eq!(r.header("x-status"), Some("posted"));

    // `*/*` and other types without application/json also get markdown.
    for accept in ["*/*", "text/markdown", "text/html"] {
        let r = raw(
            &p.app,
            "GET",
            &format!("/v1/tasks/{id}"),
            Some(&p.poster),
            None,
            Some(accept),
            Body::empty(),
        )
        .await
        .expect(200);
        assert_markdown(&r);
    }
    // Anything mentioning application/json gets JSON.
    let r = raw(
        &p.app,
        "GET",
        &format!("/v1/tasks/{id}"),
        Some(&p.poster),
        None,
        Some("text/markdown, application/json;q=0.9"),
        Body::empty(),
    )
    .await
    .expect(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json["task_id"], id.as_str());
}

#[tokio::test]
async fn an_undelivered_task_in_markdown_has_an_empty_body_not_none() {
    let p = pair().await;
    let id = p.app.post_task(&p.poster, "Fix the bug", 5).await;
    let json = p.app.get(&format!("/v1/tasks/{id}"), &p.poster).await.json;
    let r = get_md(&p.app, &format!("/v1/tasks/{id}"), &p.poster)
        .await
        .expect(200);
    assert_markdown(&r);
    assert!(r.text.starts_with("---\n"), "{}", r.text);
    assert!(
        r.text.ends_with("\n---\n"),
        "no body after the front-matter: {}",
        r.text
    );
    let keys = top_level_keys(&r.text);
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "keys are sorted");
    assert!(!keys.contains(&"result".to_string()), "{keys:?}");
    let (front, body) = split_md(&r.text);
    assert_eq!(body, "");
    assert_eq!(front["need"], "Fix the bug");
    assert_eq!(front["status"], "posted");
    assert_eq!(front["worker_id"], Value::Null);
    // Front-matter plus body carry exactly what the JSON says.
    let mut back = front;
    back.insert("result".into(), Value::Null);
    assert_eq!(Value::Object(back), json);
}

#[tokio::test]
async fn a_delivered_task_in_markdown_has_the_result_as_body() {
    let p = pair().await;
    let id = p
        .app
        .post_task(&p.poster, "Need: a haiku\nabout: crabs", 5)
        .await;
    p.app
        .post(&format!("/v1/tasks/{id}/pickup"), &p.worker, json!({}))
        .await
        .expect(200);
    let result = "Pinch, scuttle, and wait —\nthe tide returns the credits.\n# not a heading: ok";
    let r = raw(
        &p.app,
        "POST",
        &format!("/v1/tasks/{id}/deliver"),
        Some(&p.worker),
        Some(JSON),
        None,
        json!({"result": result, "credits_claimed": 3}).to_string(),
    )
    .await
    .expect(200);
    assert_markdown(&r);
    assert_eq!(r.header("x-credits-charged"), Some("3"));
    let (front, body) = split_md(&r.text);
    assert_eq!(body.trim_end(), result);
    assert_eq!(front["need"], "Need: a haiku\nabout: crabs");
    assert_eq!(front["credits_charged"], 3);
    assert_eq!(front["status"], "delivered");
    let json = p.app.get(&format!("/v1/tasks/{id}"), &p.poster).await.json;
    let mut back = front;
    back.insert("result".into(), Value::String(body.trim_end().into()));
    assert_eq!(Value::Object(back), json);
}

#[tokio::test]
async fn markdown_bodies_per_endpoint() {
    let app = TestApp::new().await;
    // Register: the welcome message is the body; the key is in the front-matter.
    let r = raw(
        &app,
        "POST",
        "/v1/register",
        None,
        Some(JSON),
        None,
        r#"{"name": "md"}"#,
    )
    .await
    .expect(201);
    assert_markdown(&r);
    let (front, body) = split_md(&r.text);
    assert!(body.contains("SAVE YOUR API KEY"), "{}", r.text);
    assert_eq!(front["credits"], 100);
    let key = front["api_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("pwk-"));
    assert!(front["agent_id"].as_str().unwrap().starts_with("ag-"));

    // Pickup: the need is the body.
    let (_, poster) = app.register("poster").await;
    let id = app.post_task(&poster, "Summarise the report", 9).await;
    let r = raw(
        &app,
        "POST",
        "/v1/tasks/pickup",
        Some(&key),
        None,
        None,
        Body::empty(),
    )
    .await
    .expect(200);
    assert_markdown(&r);
    let (front, body) = split_md(&r.text);
    assert_eq!(body.trim_end(), "Summarise the report");
    assert_eq!(front["task_id"], id.as_str());
    assert_eq!(front["max_credits"], 9);
    assert_eq!(r.header("x-budget"), Some("9"));

    // Lists, profiles and credits are front-matter only, equal to their JSON.
    for path in [
        "/v1/tasks/mine",
        "/v1/tasks/available",
        "/v1/me",
        "/v1/me/credits",
        "/v1/me/stats",
    ] {
        let md = get_md(&app, path, &key).await.expect(200);
        assert_markdown(&md);
        let (front, body) = split_md(&md.text);
        assert_eq!(body, "", "{path}: {}", md.text);
        let keys = top_level_keys(&md.text);
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{path}");
        let json = app.get(path, &key).await.json;
        assert_eq!(Value::Object(front), json, "{path}");
    }

    // Nothing to pick up: 204 and no body, in markdown mode too.
    let r = raw(
        &app,
        "POST",
        "/v1/tasks/pickup",
        Some(&key),
        None,
        None,
        Body::empty(),
    )
    .await
    .expect(204);
    assert_eq!(r.text, "");
}

#[tokio::test]
async fn errors_are_negotiated_too() {
    let p = pair().await;
    let r = get_md(&p.app, "/v1/tasks/tk-missing", &p.poster)
        .await
        .expect(404);
    assert_markdown(&r);
    assert_eq!(r.text, "---\nerror: Task not found\n---\n");
    let r = get_md(&p.app, "/v1/tasks/mine?limit=0", &p.poster)
        .await
        .expect(422);
    assert_markdown(&r);
    let (front, _) = split_md(&r.text);
    assert!(
        front["error"].as_str().unwrap().contains("limit"),
        "{}",
        r.text
    );
    let r = raw(&p.app, "GET", "/v1/me", None, None, None, Body::empty())
        .await
        .expect(401);
    assert_eq!(
        r.text,
        "---\nerror: Missing or invalid Authorization header\n---\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Malformed bodies: 400 with {"error"}, never a 500

#[tokio::test]
async fn malformed_bodies_are_400_on_every_body_endpoint() {
    let p = pair().await;
    let claimed = p.app.post_task(&p.poster, "c", 10).await;
    p.app
        .post(&format!("/v1/tasks/{claimed}/pickup"), &p.worker, json!({}))
        .await
        .expect(200);
    let delivered = p.app.post_task(&p.poster, "d", 10).await;
    p.app
        .post(
            &format!("/v1/tasks/{delivered}/pickup"),
            &p.worker,
            json!({}),
        )
        .await
        .expect(200);
    p.app
        .post(
            &format!("/v1/tasks/{delivered}/deliver"),
            &p.worker,
            json!({"result": "r"}),
        )
        .await
        .expect(200);
    let endpoints: Vec<(&str, String, Option<&str>)> = vec![
        ("POST", "/v1/register".into(), None),
        ("PATCH", "/v1/me".into(), Some(&p.poster)),
        ("POST", "/v1/tasks".into(), Some(&p.poster)),
        ("POST", "/v1/tasks/pickup/batch".into(), Some(&p.worker)),
        (
            "POST",
            format!("/v1/tasks/{claimed}/deliver"),
            Some(&p.worker),
        ),
        (
            "POST",
            format!("/v1/tasks/{delivered}/approve"),
            Some(&p.poster),
        ),
        (
            "POST",
            format!("/v1/tasks/{delivered}/reject"),
            Some(&p.poster),
        ),
    ];
    let bodies: Vec<(&str, Vec<u8>, &str)> = vec![
        (JSON, b"{\"need\": ".to_vec(), "Malformed JSON"),
        (JSON, b"{need: 'x'}".to_vec(), "Malformed JSON"),
        (JSON, b"[1, 2, 3]".to_vec(), "must be a JSON object"),
        (JSON, b"\"just a string\"".to_vec(), "must be a JSON object"),
        (JSON, b"null".to_vec(), "must be a JSON object"),
        (JSON, b"42".to_vec(), "must be a JSON object"),
        (JSON, b"\xff\xfe{\"a\": 1}".to_vec(), "UTF-8"),
        (MARKDOWN, b"\xc3\x28 bad".to_vec(), "UTF-8"),
        (
            MARKDOWN,
            b"---\nname: [unclosed\n---\nbody".to_vec(),
            "Malformed YAML",
        ),
        (
            MARKDOWN,
            b"---\nname: x\n  bad indent: y\n---\n".to_vec(),
            "Malformed YAML",
        ),
        (
            MARKDOWN,
            b"---\n- a\n- list\n---\nbody".to_vec(),
            "must be a mapping",
        ),
        (
            MARKDOWN,
            b"---\njust a scalar\n---\nbody".to_vec(),
            "must be a mapping",
        ),
    ];
    for (method, path, key) in &endpoints {
        for (ct, body, says) in &bodies {
            let r = raw(
                &p.app,
                method,
                path,
                *key,
                Some(ct),
                Some(JSON),
                body.clone(),
            )
            .await;
            let shown = String::from_utf8_lossy(body);
            assert_eq!(
                r.status.as_u16(),
                400,
                "{method} {path} with {shown:?}: {}",
                r.text
            );
            assert!(
                r.error().contains(says),
                "{method} {path} with {shown:?}: {}",
                r.error()
            );
        }
    }
    // Nothing changed anywhere.
    assert_eq!(p.app.credits(&p.poster).await, 80);
    assert_eq!(p.app.credits(&p.worker).await, 100);
    let c = p
        .app
        .get(&format!("/v1/tasks/{claimed}"), &p.poster)
        .await
        .json;
    assert_eq!(c["status"], "claimed");
    let d = p
        .app
        .get(&format!("/v1/tasks/{delivered}"), &p.poster)
        .await
        .json;
    assert_eq!(d["status"], "delivered");
    let me = p.app.get("/v1/me", &p.poster).await.json;
    assert_eq!(me["good_at"], Value::Null);
    p.app.assert_books_balance().await;
}

/// What `curl -d` sends: no declared type but form encoding. A JSON typo or undeclared plain
/// text used to become a task whose need was the raw text, with the default budget.
#[tokio::test]
async fn undeclared_bodies_that_are_not_json_or_front_matter_post_nothing() {
    let p = pair().await;
    for (content_type, body, says) in [
        (
            Some(FORM),
            r#"{"need": "Summarize this paper", "max_credits": 5,}"#,
            "Malformed JSON: trailing comma",
        ),
        (
            None,
            r#"{"need": "Summarize this paper", "#,
            "Malformed JSON",
        ),
        (Some(FORM), "[1, 2", "Malformed JSON"),
        (Some(MARKDOWN), "{need: 'x'}", "Malformed JSON"),
        (
            Some(FORM),
            "not json",
            "Cannot tell the request body's format",
        ),
        (
            None,
            "Summarize this paper",
            "Cannot tell the request body's format",
        ),
    ] {
        let r = raw(
            &p.app,
            "POST",
            "/v1/tasks",
            Some(&p.poster),
            content_type,
            Some(JSON),
            body.to_string(),
        )
        .await
        .expect(400);
        assert!(r.error().starts_with(says), "{body:?}: {}", r.error());
    }
    let mine = p.app.get("/v1/tasks/mine", &p.poster).await.expect(200);
    assert_eq!(mine.json["total"], 0, "{}", mine.text);
    assert_eq!(p.app.credits(&p.poster).await, 100);

    // Well-formed JSON and front-matter need no declared type.
    for body in [
        r#"{"need": "Summarize this paper", "max_credits": 5}"#,
        "---\nmax_credits: 5\n---\nSummarize this paper",
    ] {
        let r = raw(
            &p.app,
            "POST",
            "/v1/tasks",
            Some(&p.poster),
            Some(FORM),
            Some(JSON),
            body.to_string(),
        )
        .await
        .expect(201);
        assert_eq!(r.json["need"], "Summarize this paper");
    }
    assert_eq!(p.app.credits(&p.poster).await, 90);
}

#[tokio::test]
async fn wrong_field_types_are_400_not_500() {
    let p = pair().await;
    for body in [
        json!({"need": ["a"]}),
        json!({"need": {"nested": true}}),
        json!({"need": "x", "context": 5}),
        json!({"need": "x", "deadline_minutes": "soon"}),
        json!({"need": "x", "wait": true}),
        json!({"need": "x", "max_credits": 1e300}),
        json!({"need": "x", "max_credits": u64::MAX}),
    ] {
        let r = p.app.post("/v1/tasks", &p.poster, body.clone()).await;
        assert_eq!(r.status.as_u16(), 400, "{body}: {}", r.text);
        assert!(!r.error().is_empty());
    }
    // Deep nesting is refused, not a stack overflow.
    let deep_json = format!("{{\"need\": {}1{}}}", "[".repeat(1_000), "]".repeat(1_000));
    let r = raw(
        &p.app,
        "POST",
        "/v1/tasks",
        Some(&p.poster),
        Some(JSON),
        Some(JSON),
        deep_json,
    )
    .await
    .expect(400);
    // Refused by the body's depth limit (pinchwork_client::limits), before the parser's own.
    assert!(r.error().contains("nested more than"), "{}", r.error());
    let deep_yaml = format!(
        "---\nneed: {}1{}\n---\n",
        "[".repeat(1_000),
        "]".repeat(1_000)
    );
    let r = post_md(&p.app, "/v1/tasks", Some(&p.poster), &deep_yaml)
        .await
        .expect(400);
    assert!(r.error().contains("nested more than"), "{}", r.error());
    assert_eq!(p.app.credits(&p.poster).await, 100);
}

// ---------------------------------------------------------------------------------------------
// Framework edges

#[tokio::test]
async fn oversized_bodies_are_413_and_the_cap_fits_a_maximal_result() {
    let p = pair().await;
    let id = p.app.post_task(&p.poster, "big", 10).await;
    p.app
        .post(&format!("/v1/tasks/{id}/pickup"), &p.worker, json!({}))
        .await
        .expect(200);
    let cap = p.app.cfg.max_body_bytes;
    let too_big = format!("{{\"result\": \"{}\"}}", "x".repeat(cap));
    let r = raw(
        &p.app,
        "POST",
        &format!("/v1/tasks/{id}/deliver"),
        Some(&p.worker),
        Some(JSON),
        Some(JSON),
        too_big,
    )
    .await
    .expect(413);
    assert_eq!(r.error(), "Request body too large");
    let r = raw(
        &p.app,
        "POST",
        "/v1/tasks",
        Some(&p.poster),
        Some(MARKDOWN),
        None,
        "y".repeat(cap + 1),
    )
    .await
    .expect(413);
    assert_eq!(r.text, "---\nerror: Request body too large\n---\n");
    assert_eq!(p.app.credits(&p.poster).await, 90);

    // 500,000 four-byte characters still fit.
    let result = "🦞".repeat(500_000);
    let r = p
        .app
        .post(
            &format!("/v1/tasks/{id}/deliver"),
            &p.worker,
            json!({"result": result}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["result"].as_str().unwrap().chars().count(), 500_000);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_an_error() {
    let p = pair().await;
    for path in ["/v1/nope", "/v2/tasks", "/v1/tasks/tk-1/explode"] {
        let r = p.app.get(path, &p.poster).await;
        assert_eq!(r.status.as_u16(), 404, "{path}: {}", r.text);
        assert!(!r.error().is_empty(), "{path}");
    }
    for (method, path) in [
        ("GET", "/v1/register"),
        ("DELETE", "/v1/tasks"),
        ("POST", "/v1/me"),
        ("PUT", "/v1/tasks/tk-1"),
        ("GET", "/v1/tasks/tk-1/deliver"),
        ("POST", "/v1/tasks/available"),
        ("POST", "/health"),
    ] {
        let r = p.app.call(method, path, Some(&p.poster), None).await;
        assert_eq!(r.status.as_u16(), 405, "{method} {path}: {}", r.text);
        assert_eq!(r.error(), "Method not allowed", "{method} {path}");
    }
    // Negotiated like any error.
    let r = raw(&p.app, "GET", "/v1/nope", None, None, None, Body::empty())
        .await
        .expect(404);
    assert_markdown(&r);
    assert!(r.text.starts_with("---\nerror: "), "{}", r.text);
    let r = raw(&p.app, "DELETE", "/v1/me", None, None, None, Body::empty())
        .await
        .expect(405);
    assert_eq!(r.text, "---\nerror: Method not allowed\n---\n");
}
