//! A2A 1.0 (JSON-RPC) through the real router, and over HTTP for streams and push
//! notifications: the agent card, tasks posted from messages (once per message id), states
//! as the task moves, approval and rejection by follow-up messages, answers and messages to
//! the worker, listing, cancelling, streams, and signed pushes through the outbox. Every call
//! goes through the same rules, limits and credits as the HTTP API.

use axum::body::Body;
use axum::http::{Request, header};
use pinchwork_server::model::{HOUR, MINUTE};
use pinchwork_test_kit::hooks::{Hit, Receiver};
use pinchwork_test_kit::{Resp, TestApp, World, world, world_with};
use serde_json::{Value, json};
use std::time::Duration;

/// A JSON-RPC call to `/a2a` as the agent with `key`.
async fn rpc(app: &TestApp, key: Option<&str>, method: &str, params: Value) -> Resp {
    let body = json!({"jsonrpc": "2.0", "id": "call-1", "method": method, "params": params});
    let mut req = Request::post("/a2a")
        .header(header::CONTENT_TYPE, "application/json")
        .header("a2a-version", "1.0");
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    app.send(req.body(Body::from(body.to_string())).unwrap())
        .await
}

/// The result of a call that must succeed.
#[track_caller]
fn ok(r: &Resp) -> &Value {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["jsonrpc"], "2.0");
    assert_eq!(r.json["id"], "call-1");
    assert!(
        r.json.get("error").is_none(),
        "unexpected error: {}",
        r.text
    );
    &r.json["result"]
}

/// The error code and message of a call that must fail.
#[track_caller]
fn err(r: &Resp) -> (i64, String) {
    assert!(
        r.json.get("result").is_none(),
        "unexpected result: {}",
        r.text
    );
    let e = &r.json["error"];
    (
        e["code"].as_i64().unwrap(),
        e["message"].as_str().unwrap().to_string(),
    )
}

fn message(text: &str, message_id: &str) -> Value {
    json!({"messageId": message_id, "role": "ROLE_USER", "parts": [{"text": text}]})
}

/// Posts a task by SendMessage (answering at once); returns the A2A task.
async fn post(w: &World, text: &str, metadata: Value) -> Value {
    let mut m = message(text, &format!("m-{}", rand_suffix()));
    m["metadata"] = metadata;
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "SendMessage",
        json!({"message": m, "configuration": {"returnImmediately": true}}),
    )
    .await;
    ok(&r)["task"].clone()
}

/// Posts a task by SendMessage; returns its id.
async fn post_id(w: &World, text: &str, metadata: Value) -> String {
    post(w, text, metadata).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

/// A follow-up message on `task`.
async fn say(w: &World, task: &str, parts: Value, metadata: Option<Value>) -> Resp {
    let mut m = json!({"messageId": format!("m-{}", rand_suffix()), "role": "ROLE_USER",
                       "taskId": task, "parts": parts});
    if let Some(md) = metadata {
        m["metadata"] = md;
    }
    rpc(
        &w.app,
        Some(&w.poster),
        "SendMessage",
        json!({"message": m, "configuration": {"returnImmediately": true}}),
    )
    .await
}

async fn get(w: &World, task: &str) -> Value {
    let r = rpc(&w.app, Some(&w.poster), "GetTask", json!({"id": task})).await;
    ok(&r).clone()
}

fn state(task: &Value) -> &str {
    task["status"]["state"].as_str().unwrap()
}

fn status_text(task: &Value) -> &str {
    task["status"]["message"]["parts"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

async fn pickup(w: &World, task: &str) {
    w.act(&w.worker, task, "pickup", json!({}))
        .await
        .expect(200);
}

async fn deliver(w: &World, task: &str, result: &str) {
    w.act(
        &w.worker,
        task,
        "deliver",
        json!({"result": result, "credits_claimed": 8}),
    )
    .await
    .expect(200);
}

// ---------------------------------------------------------------------------------------------
// The agent card

#[tokio::test]
async fn the_agent_card_names_the_endpoint_its_abilities_and_auth() {
    let app = TestApp::new().await;
    let req = Request::get("/.well-known/agent-card.json")
        .header(header::HOST, "pinchwork.test:8000")
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await.expect(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let card = &r.json;
    assert_eq!(card["name"], "Pinchwork");
    assert!(card["description"].as_str().unwrap().len() > 50);
    assert_eq!(
        card["supportedInterfaces"],
        json!([{"url": "http://pinchwork.test:8000/a2a", "protocolBinding": "JSONRPC",
                "protocolVersion": "1.0"}])
    );
    assert_eq!(card["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        card["capabilities"],
        json!({"streaming": true, "pushNotifications": true, "extendedAgentCard": false})
    );
    let scheme = &card["securitySchemes"]["pinchworkApiKey"]["httpAuthSecurityScheme"];
    assert_eq!(scheme["scheme"], "Bearer");
    assert_eq!(
        card["securityRequirements"],
        json!([{"schemes": {"pinchworkApiKey": {"list": []}}}])
    );
    assert_eq!(
        card["defaultInputModes"],
        json!(["text/plain", "application/json"])
    );
    let skill = &card["skills"][0];
    assert_eq!(skill["id"], "delegate");
    assert!(
        skill["description"]
            .as_str()
            .unwrap()
            .contains("max_credits")
    );

    // The older path sends clients to the card.
    let r = app
        .call("GET", "/.well-known/agent.json", None, None)
        .await
        .expect(308);
    assert_eq!(r.header("location"), Some("/.well-known/agent-card.json"));

    // A configured public URL wins over the Host header, and the card may then be cached.
    let app = TestApp::with(|cfg| cfg.public_url = Some("https://pinch.example/".into())).await;
    let r = app
        .call("GET", "/.well-known/agent-card.json", None, None)
        .await
        .expect(200);
    assert_eq!(
        r.json["supportedInterfaces"][0]["url"],
        "https://pinch.example/a2a"
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
}

// ---------------------------------------------------------------------------------------------
// The envelope, versions, auth and limits

#[tokio::test]
async fn malformed_calls_get_json_rpc_errors_and_change_nothing() {
    let w = world().await;
    let raw = |body: &'static str, version: Option<&'static str>| {
        let mut req = Request::post("/a2a")
            .header(header::AUTHORIZATION, format!("Bearer {}", w.poster))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(v) = version {
            req = req.header("a2a-version", v);
        }
        req.body(Body::from(body)).unwrap()
    };
    let code = |r: &Resp| (r.status.as_u16(), r.json["error"]["code"].as_i64().unwrap());
    let r = w.app.send(raw("{not json", None)).await;
    assert_eq!(code(&r), (200, -32700));
    assert_eq!(r.json["id"], Value::Null);
    let r = w.app.send(raw("[]", None)).await;
    assert_eq!(code(&r), (200, -32600));
    let r = w
        .app
        .send(raw(r#"{"jsonrpc":"2.0","id":5,"method":"DoThings"}"#, None))
        .await;
    assert_eq!(code(&r), (200, -32601));
    assert_eq!(r.json["id"], 5);
    // A2A 0.3 clients are told what to call instead.
    let r = w
        .app
        .send(raw(
            r#"{"jsonrpc":"2.0","id":5,"method":"message/send","params":{}}"#,
            None,
        ))
        .await;
    assert_eq!(code(&r), (200, -32009));
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SendMessage")
    );
    assert_eq!(
        r.json["error"]["data"][0]["@type"],
        "type.googleapis.com/google.rpc.ErrorInfo"
    );
    assert_eq!(
        r.json["error"]["data"][0]["reason"],
        "VERSION_NOT_SUPPORTED"
    );
    let r = w
        .app
        .send(raw(
            r#"{"jsonrpc":"2.0","id":5,"method":"GetTask","params":{"id":"x"}}"#,
            Some("0.3"),
        ))
        .await;
    assert_eq!(code(&r), (200, -32009));
    // Params that are not the method's message.
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "SendMessage",
        json!({"message": 3}),
    )
    .await;
    assert_eq!(err(&r).0, -32602);
    let r = rpc(&w.app, Some(&w.poster), "SendMessage", json!({})).await;
    assert_eq!(err(&r).0, -32602);
    // No key, a wrong key: 401 with the JSON-RPC error, as the API refuses them.
    let r = rpc(&w.app, None, "GetTask", json!({"id": "tk-x"})).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.json["error"]["data"][0]["reason"], "UNAUTHENTICATED");
    assert_eq!(r.json["error"]["data"][0]["metadata"]["httpStatus"], "401");
    let r = rpc(&w.app, Some("pwk-nope"), "GetTask", json!({"id": "tk-x"})).await;
    assert_eq!(r.status, 401);
    let r = rpc(&w.app, Some(&w.poster), "GetExtendedAgentCard", json!({})).await;
    assert_eq!(err(&r).0, -32007);
    // Nothing was posted.
    assert_eq!(w.app.credits(&w.poster).await, 100);
    let mine = w.app.get("/v1/tasks/mine", &w.poster).await.expect(200);
    assert_eq!(mine.json["total"], 0);
}

#[tokio::test]
async fn a2a_calls_count_against_the_same_rate_limits_as_the_api() {
    let w = world_with(|cfg| {
        cfg.rate_limits_enabled = true;
        cfg.rate_limit_create = "2/minute".into();
    })
    .await;
    w.new_task(json!({"need": "one", "max_credits": 5})).await;
    post(&w, "two", json!({"max_credits": 5})).await;
    let m = json!({"message": message("three", "m-three"),
                   "configuration": {"returnImmediately": true}});
    let r = rpc(&w.app, Some(&w.poster), "SendMessage", m).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.json["error"]["data"][0]["reason"], "RATE_LIMITED");
    assert_eq!(
        w.app.credits(&w.poster).await,
        90,
        "the third was not posted"
    );
    // Reads have their own allowance.
    let r = rpc(&w.app, Some(&w.poster), "ListTasks", json!({})).await;
    assert_eq!(ok(&r)["totalSize"], 2);
}

// ---------------------------------------------------------------------------------------------
// Posting tasks

#[tokio::test]
async fn a_message_posts_a_task_with_its_budget_tags_and_deadline() {
    let w = world().await;
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "SendMessage",
        json!({
            "message": {
                "messageId": "msg-1", "contextId": "my-project", "role": "ROLE_USER",
                "parts": [{"text": "Translate to French"}, {"data": {"text": "Hello"}}],
                "metadata": {"max_credits": 12.0, "tags": ["translation", "french"],
                             "deadline_minutes": 60}
            },
            "configuration": {"returnImmediately": true}
        }),
    )
    .await;
    let task = &ok(&r)["task"];
    let id = task["id"].as_str().unwrap();
    assert!(id.starts_with("tk-"), "the A2A id is the Pinchwork task id");
    assert_eq!(task["contextId"], "my-project");
    assert_eq!(state(task), "TASK_STATE_SUBMITTED");
    assert_eq!(task["status"]["timestamp"], pinchwork_test_kit::at(0));
    assert_eq!(task["metadata"]["pinchwork"]["status"], "posted");
    assert_eq!(task["history"][0]["messageId"], "msg-1");
    assert_eq!(task["history"][0]["role"], "ROLE_USER");
    // The same task through the HTTP API.
    let t = w
        .app
        .get(&format!("/v1/tasks/{id}"), &w.poster)
        .await
        .expect(200)
        .json;
    assert_eq!(t["need"], "Translate to French");
    assert_eq!(t["context"], r#"{"text":"Hello"}"#);
    assert_eq!(t["max_credits"], 12);
    assert_eq!(t["tags"], json!(["translation", "french"]));
    assert_eq!(t["deadline"], pinchwork_test_kit::at(60 * MINUTE));
    assert_eq!(
        w.app.credits(&w.poster).await,
        88,
        "the budget is in escrow"
    );
    w.app.assert_books_balance().await;

    // Without a context id the task gets a context of its own.
    let other = post(&w, "Another thing", json!({})).await;
    assert!(other["contextId"].as_str().unwrap().starts_with("ctx-"));
    assert_eq!(
        other["metadata"]["pinchwork"]["max_credits"], 50,
        "the default budget"
    );
}

#[tokio::test]
async fn the_same_message_sent_again_finds_its_task_instead_of_posting_twice() {
    let w = world().await;
    let send = || {
        rpc(
            &w.app,
            Some(&w.poster),
            "SendMessage",
            json!({"message": message("Do it once", "retry-me"),
                   "configuration": {"returnImmediately": true},
                   "metadata": {"max_credits": 10}}),
        )
    };
    let first = ok(&send().await)["task"]["id"].clone();
    let again = ok(&send().await)["task"]["id"].clone();
    assert_eq!(first, again);
    assert_eq!(w.app.credits(&w.poster).await, 90);
    // Concurrent resends of another message: one task, one escrow, every call told its id.
    let calls = (0..8).map(|_| {
        rpc(
            &w.app,
            Some(&w.poster),
            "SendMessage",
            json!({"message": message("Race me", "raced"),
                   "configuration": {"returnImmediately": true},
                   "metadata": {"max_credits": 10}}),
        )
    });
    let answers = futures_util::future::join_all(calls).await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|r| ok(r)["task"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(w.app.credits(&w.poster).await, 80);
    let mine = w.app.get("/v1/tasks/mine", &w.poster).await.expect(200);
    assert_eq!(mine.json["total"], 2);
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn a2a_tasks_obey_the_apis_limits_and_credits() {
    let w = world().await;
    let send = |parts: Value, metadata: Value| {
        rpc(
            &w.app,
            Some(&w.poster),
            "SendMessage",
            json!({"message": {"messageId": format!("m-{}", rand_suffix()), "role": "ROLE_USER",
                               "parts": parts, "metadata": metadata},
                   "configuration": {"returnImmediately": true}}),
        )
    };
    let text = json!([{"text": "x"}]);
    let (code, msg) = err(&send(text.clone(), json!({"max_credits": 0})).await);
    assert_eq!(
        (code, msg.as_str()),
        (-32602, "max_credits must be between 1 and 100000")
    );
    let (code, msg) = err(&send(text.clone(), json!({"tags": ["no spaces"]})).await);
    assert_eq!(code, -32602);
    assert!(msg.starts_with("Invalid tag"), "{msg}");
    let (code, _) = err(&send(json!([{"text": "é".repeat(50_001)}]), json!({})).await);
    assert_eq!(code, -32602);
    let (code, msg) = err(&send(json!([]), json!({})).await);
    assert_eq!(code, -32602, "{msg}");
    let (code, _) = err(&send(json!([{"raw": "aGVsbG8="}]), json!({})).await);
    assert_eq!(code, -32005);
    // More than the balance: the API's 402, as a JSON-RPC error that says so.
    let r = send(text.clone(), json!({"max_credits": 500})).await;
    let (code, msg) = err(&r);
    assert_eq!(code, -32000);
    assert!(msg.contains("credits"), "{msg}");
    assert_eq!(r.json["error"]["data"][0]["reason"], "INSUFFICIENT_CREDITS");
    assert_eq!(r.json["error"]["data"][0]["metadata"]["httpStatus"], "402");
    // Nothing was posted, nothing held.
    assert_eq!(w.app.credits(&w.poster).await, 100);
    let mine = w.app.get("/v1/tasks/mine", &w.poster).await.expect(200);
    assert_eq!(mine.json["total"], 0);
}

// ---------------------------------------------------------------------------------------------
// The life of a task, as an A2A client sees and steers it

#[tokio::test]
async fn states_follow_the_task_and_follow_up_messages_steer_it() {
    let w = world().await;
    let task = post(&w, "Write a haiku about crabs", json!({"max_credits": 10})).await;
    let id = task["id"].as_str().unwrap().to_string();

    // A worker asks before picking up: the client is asked for input.
    let q = w
        .act(
            &w.worker,
            &id,
            "questions",
            json!({"question": "Funny or serious?"}),
        )
        .await
        .expect(201);
    let qid = q.json["id"].as_str().unwrap().to_string();
    let t = get(&w, &id).await;
    assert_eq!(state(&t), "TASK_STATE_INPUT_REQUIRED");
    assert_eq!(status_text(&t), "A worker asks: Funny or serious?");
    assert_eq!(
        t["status"]["message"]["metadata"]["questionId"],
        qid.as_str()
    );
    assert_eq!(t["status"]["message"]["role"], "ROLE_AGENT");
    // The client's reply answers it.
    let r = say(&w, &id, json!([{"text": "Funny, please"}]), None).await;
    assert_eq!(state(&ok(&r)["task"]), "TASK_STATE_SUBMITTED");
    let qs = w
        .app
        .get(&format!("/v1/tasks/{id}/questions"), &w.worker)
        .await
        .expect(200);
    assert_eq!(qs.json["questions"][0]["answer"], "Funny, please");
    // Nobody to write to before a worker claims it.
    let r = say(&w, &id, json!([{"text": "hello?"}]), None).await;
    assert_eq!(err(&r).0, -32004);

    pickup(&w, &id).await;
    let t = get(&w, &id).await;
    assert_eq!(state(&t), "TASK_STATE_WORKING");
    assert_eq!(t["status"]["timestamp"], pinchwork_test_kit::at(0));
    // A verdict before a delivery is refused with the API's reason.
    let r = say(&w, &id, json!([{"text": "approve"}]), None).await;
    assert_eq!(err(&r), (-32004, "Task is claimed, not delivered".into()));
    // The worker writes; the client sees it as the status message, and writes back.
    w.act(
        &w.worker,
        &id,
        "messages",
        json!({"message": "Working on it"}),
    )
    .await
    .expect(201);
    let t = get(&w, &id).await;
    assert_eq!(status_text(&t), "Working on it");
    let r = say(
        &w,
        &id,
        json!([{"text": "Approve the rhyme scheme, but no puns"}]),
        None,
    )
    .await;
    assert_eq!(state(&ok(&r)["task"]), "TASK_STATE_WORKING");
    let thread = w
        .app
        .get(&format!("/v1/tasks/{id}/messages"), &w.worker)
        .await
        .expect(200);
    assert_eq!(
        thread.json["messages"][1]["message"],
        "Approve the rhyme scheme, but no puns"
    );

    w.app.advance(MINUTE).await;
    deliver(&w, &id, "Sideways I scuttle").await;
    let t = get(&w, &id).await;
    assert_eq!(state(&t), "TASK_STATE_INPUT_REQUIRED");
    assert!(
        status_text(&t).contains("Reply \"approve\""),
        "{}",
        status_text(&t)
    );
    assert_eq!(t["status"]["timestamp"], pinchwork_test_kit::at(MINUTE));
    assert_eq!(
        t["artifacts"],
        json!([{"artifactId": "result", "name": "result", "description": "The worker's delivery",
                "parts": [{"text": "Sideways I scuttle"}], "metadata": {"creditsCharged": 8}}])
    );
    // The whole conversation, oldest first.
    let roles: Vec<(&str, &str)> = t["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap(),
                m["parts"][0]["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("ROLE_USER", "Write a haiku about crabs"),
            ("ROLE_AGENT", "Funny or serious?"),
            ("ROLE_USER", "Funny, please"),
            ("ROLE_AGENT", "Working on it"),
            ("ROLE_USER", "Approve the rhyme scheme, but no puns"),
        ]
    );
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "GetTask",
        json!({"id": id, "historyLength": 1}),
    )
    .await;
    assert_eq!(ok(&r)["history"].as_array().unwrap().len(), 1);
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "GetTask",
        json!({"id": id, "historyLength": 0}),
    )
    .await;
    assert!(ok(&r).get("history").is_none());
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "GetTask",
        json!({"id": id, "historyLength": -1}),
    )
    .await;
    assert_eq!(err(&r).0, -32602);

    // Approving by message pays the worker and rates them.
    let r = say(&w, &id, json!([{"text": "approve 5"}]), None).await;
    let done = &ok(&r)["task"];
    assert_eq!(state(done), "TASK_STATE_COMPLETED");
    assert_eq!(done["metadata"]["pinchwork"]["status"], "approved");
    assert_eq!(w.app.credits(&w.poster).await, 92, "8 charged, 2 refunded");
    let profile = w
        .app
        .call("GET", &format!("/v1/agents/{}", w.worker_id), None, None)
        .await
        .expect(200);
    assert_eq!(profile.json["rating_count"], 1);
    assert_eq!(profile.json["reputation"], 5.0);
    // A finished task takes no more messages.
    let r = say(&w, &id, json!([{"text": "thanks!"}]), None).await;
    let (code, msg) = err(&r);
    assert_eq!(code, -32004);
    assert!(msg.contains("TASK_STATE_COMPLETED"), "{msg}");
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn rejecting_by_message_sends_the_work_back_and_needs_a_reason() {
    let w = world().await;
    let id = post_id(&w, "Summarise", json!({"max_credits": 10})).await;
    pickup(&w, &id).await;
    deliver(&w, &id, "too short").await;
    let r = say(&w, &id, json!([{"text": "reject"}]), None).await;
    let (code, msg) = err(&r);
    assert_eq!(code, -32602);
    assert!(msg.contains("reject: "), "{msg}");
    let r = say(
        &w,
        &id,
        json!([{"data": {"action": "reject", "reason": "Needs five bullets"}}]),
        None,
    )
    .await;
    let t = &ok(&r)["task"];
    assert_eq!(state(t), "TASK_STATE_WORKING");
    assert_eq!(
        t["metadata"]["pinchwork"]["rejection_reason"],
        "Needs five bullets"
    );
    assert!(t.get("artifacts").is_none(), "the rejected result is gone");
    // Delivered again and approved with a data part.
    deliver(&w, &id, "1\n2\n3\n4\n5").await;
    let r = say(
        &w,
        &id,
        json!([{"data": {"action": "approve", "rating": 4, "feedback": "good"}}]),
        None,
    )
    .await;
    assert_eq!(state(&ok(&r)["task"]), "TASK_STATE_COMPLETED");
}

#[tokio::test]
async fn auto_approval_after_the_review_timeout_still_applies() {
    let w = world().await;
    let id = post_id(
        &w,
        "Quick job",
        json!({"max_credits": 10, "reviewTimeoutMinutes": 5}),
    )
    .await;
    pickup(&w, &id).await;
    deliver(&w, &id, "done").await;
    let t = get(&w, &id).await;
    assert!(
        status_text(&t).contains(&format!(
            "approved at {}",
            pinchwork_test_kit::at(5 * MINUTE)
        )),
        "{}",
        status_text(&t)
    );
    w.app.advance(5 * MINUTE).await;
    assert_eq!(state(&get(&w, &id).await), "TASK_STATE_COMPLETED");
}

#[tokio::test]
async fn expired_tasks_fail_at_their_deadline_and_are_rejected_at_the_end_of_their_lifetime() {
    let w = world().await;
    let at_deadline = post(
        &w,
        "Soon",
        json!({"max_credits": 5, "deadline_minutes": 10}),
    )
    .await;
    let unwanted = post(&w, "Whenever", json!({"max_credits": 5})).await;
    w.app.advance(10 * MINUTE).await;
    let t = get(&w, at_deadline["id"].as_str().unwrap()).await;
    assert_eq!(state(&t), "TASK_STATE_FAILED");
    assert_eq!(
        t["status"]["timestamp"],
        pinchwork_test_kit::at(10 * MINUTE)
    );
    assert!(status_text(&t).contains("deadline"));
    w.app.advance(72 * HOUR).await;
    let t = get(&w, unwanted["id"].as_str().unwrap()).await;
    assert_eq!(state(&t), "TASK_STATE_REJECTED");
    assert!(status_text(&t).contains("No worker took the task"));
    assert_eq!(w.app.credits(&w.poster).await, 100, "both refunded");
}

#[tokio::test]
async fn cancel_follows_the_apis_rule_and_only_the_poster_sees_its_tasks() {
    let w = world().await;
    let open = post(&w, "Cancel me", json!({"max_credits": 10})).await;
    let taken = post(&w, "Keep me", json!({"max_credits": 10})).await;
    let (open, taken) = (
        open["id"].as_str().unwrap().to_string(),
        taken["id"].as_str().unwrap().to_string(),
    );
    pickup(&w, &taken).await;
    let r = rpc(&w.app, Some(&w.poster), "CancelTask", json!({"id": open})).await;
    assert_eq!(state(ok(&r)), "TASK_STATE_CANCELED");
    assert_eq!(w.app.credits(&w.poster).await, 90, "the open one refunded");
    let r = rpc(&w.app, Some(&w.poster), "CancelTask", json!({"id": taken})).await;
    let (code, msg) = err(&r);
    assert_eq!(
        (code, msg.as_str()),
        (-32002, "Task is claimed, can only cancel posted tasks")
    );
    let r = rpc(&w.app, Some(&w.poster), "CancelTask", json!({"id": open})).await;
    assert_eq!(err(&r).0, -32002, "already canceled");
    // Someone else's task does not exist for you, worker or not.
    for key in [&w.stranger, &w.worker] {
        for method in ["GetTask", "CancelTask", "SubscribeToTask"] {
            let r = rpc(&w.app, Some(key), method, json!({"id": taken})).await;
            assert_eq!(err(&r), (-32001, "Task not found".into()), "{method}");
        }
        let r = say(
            &World {
                poster: key.clone(),
                ..world_clone(&w)
            },
            &taken,
            json!([{"text": "approve"}]),
            None,
        )
        .await;
        assert_eq!(err(&r).0, -32001);
    }
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "GetTask",
        json!({"id": "tk-nothing"}),
    )
    .await;
    assert_eq!(err(&r).0, -32001);
}

/// The same world, for acting as one of its agents.
fn world_clone(w: &World) -> World {
    World {
        app: TestApp {
            state: w.app.state.clone(),
            router: w.app.router.clone(),
            clock: w.app.clock.clone(),
            cfg: w.app.cfg.clone(),
            dir: w.app.dir.clone(),
        },
        poster: w.poster.clone(),
        poster_id: w.poster_id.clone(),
        worker: w.worker.clone(),
        worker_id: w.worker_id.clone(),
        stranger: w.stranger.clone(),
        stranger_id: w.stranger_id.clone(),
    }
}

#[tokio::test]
async fn list_tasks_filters_by_state_and_context_and_pages() {
    let w = world().await;
    let mut ids = Vec::new();
    for (i, context) in ["a", "a", "b"].iter().enumerate() {
        let r = rpc(
            &w.app,
            Some(&w.poster),
            "SendMessage",
            json!({"message": {"messageId": format!("list-{i}"), "contextId": context,
                               "role": "ROLE_USER", "parts": [{"text": format!("job {i}")}],
                               "metadata": {"max_credits": 5}},
                   "configuration": {"returnImmediately": true}}),
        )
        .await;
        ids.push(ok(&r)["task"]["id"].as_str().unwrap().to_string());
    }
    // One posted through the API is a context of its own.
    let api_task = w
        .new_task(json!({"need": "api job", "max_credits": 5}))
        .await;
    // Another poster's task is never listed.
    w.app
        .post("/v1/tasks", &w.stranger, json!({"need": "not yours"}))
        .await
        .expect(201);
    w.app.advance(MINUTE).await;
    pickup(&w, &ids[1]).await;
    deliver(&w, &ids[1], "done").await;

    let list = |params: Value| rpc(&w.app, Some(&w.poster), "ListTasks", params);
    let all = ok(&list(json!({})).await).clone();
    assert_eq!(all["totalSize"], 4);
    assert_eq!(all["pageSize"], 50);
    assert_eq!(all["nextPageToken"], "");
    let listed: Vec<&str> = all["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [api_task.as_str(), &ids[2], &ids[1], &ids[0]],
        "newest first"
    );
    assert_eq!(all["tasks"][0]["contextId"], api_task.as_str());
    assert!(
        all["tasks"][0].get("history").is_none(),
        "lists leave history out"
    );
    assert!(all["tasks"][2].get("artifacts").is_none(), "and artifacts");

    let r = ok(&list(json!({"contextId": "a"})).await).clone();
    assert_eq!(r["totalSize"], 2);
    let r =
        ok(&list(json!({"status": "TASK_STATE_INPUT_REQUIRED", "includeArtifacts": true})).await)
            .clone();
    assert_eq!(r["totalSize"], 1);
    assert_eq!(r["tasks"][0]["id"], ids[1].as_str());
    assert_eq!(r["tasks"][0]["artifacts"][0]["parts"][0]["text"], "done");
    let r = ok(&list(json!({"status": "TASK_STATE_SUBMITTED"})).await).clone();
    assert_eq!(r["totalSize"], 3);
    let r = ok(&list(json!({"status": 3})).await).clone();
    assert_eq!(r["totalSize"], 0, "none completed (the state by number)");
    let r = ok(&list(json!({"statusTimestampAfter": pinchwork_test_kit::at(MINUTE - 1)})).await)
        .clone();
    assert_eq!(r["totalSize"], 1, "only the delivery happened after");
    let r = ok(&list(json!({"historyLength": 1, "contextId": "a"})).await).clone();
    assert_eq!(r["tasks"][1]["history"][0]["messageId"], "list-0");

    // Pages of two.
    let first = ok(&list(json!({"pageSize": 2})).await).clone();
    assert_eq!(first["tasks"].as_array().unwrap().len(), 2);
    let token = first["nextPageToken"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    let second = ok(&list(json!({"pageSize": 2, "pageToken": token})).await).clone();
    assert_eq!(second["tasks"][0]["id"], ids[1].as_str());
    assert_eq!(second["nextPageToken"], "");

    for bad in [
        json!({"pageSize": 0}),
        json!({"pageSize": 101}),
        json!({"pageToken": "nope"}),
        json!({"status": "TASK_STATE_SLEEPING"}),
        json!({"statusTimestampAfter": "yesterday"}),
    ] {
        assert_eq!(err(&list(bad.clone()).await).0, -32602, "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Push notifications

#[tokio::test]
async fn push_configs_are_checked_kept_per_task_and_bounded() {
    let w = world().await;
    let id = post_id(&w, "Notify me", json!({"max_credits": 5})).await;
    let create = |config: Value| {
        rpc(
            &w.app,
            Some(&w.poster),
            "CreateTaskPushNotificationConfig",
            config,
        )
    };
    let r = create(
        json!({"taskId": id, "url": "https://hooks.example.com/a2a", "token": "tok",
                          "authentication": {"scheme": "Bearer", "credentials": "secret"}}),
    )
    .await;
    let saved = ok(&r).clone();
    assert_eq!(
        saved["id"],
        id.as_str(),
        "without an id, the config is the task's"
    );
    assert_eq!(saved["taskId"], id.as_str());
    assert_eq!(saved["token"], "tok");
    assert_eq!(
        saved["authentication"],
        json!({"scheme": "Bearer"}),
        "credentials not shown back"
    );
    for (bad, why) in [
        (
            json!({"taskId": id, "url": "http://hooks.example.com/"}),
            "https",
        ),
        (
            json!({"taskId": id, "url": "https://127.0.0.1/hook"}),
            "loopback",
        ),
        (
            json!({"taskId": id, "url": "https://10.0.0.1/hook"}),
            "private",
        ),
        (json!({"taskId": id}), "no url"),
        (
            json!({"taskId": id, "url": "https://h.example.com/", "token": "a\nb"}),
            "header",
        ),
        (
            json!({"taskId": id, "url": "https://h.example.com/",
                "authentication": {"scheme": "Bearer"}}),
            "no credentials",
        ),
    ] {
        assert_eq!(err(&create(bad).await).0, -32602, "{why}");
    }
    for i in 1..5 {
        ok(
            &create(json!({"taskId": id, "id": format!("c{i}"), "url": "https://h.example.com/"}))
                .await,
        );
    }
    let r = create(json!({"taskId": id, "id": "c9", "url": "https://h.example.com/"})).await;
    assert_eq!(err(&r).0, -32602, "at most five per task");
    // Replacing one is not adding one.
    ok(&create(json!({"taskId": id, "id": "c1", "url": "https://other.example.com/"})).await);

    let r = rpc(
        &w.app,
        Some(&w.poster),
        "ListTaskPushNotificationConfigs",
        json!({"taskId": id}),
    )
    .await;
    let configs = ok(&r)["configs"].as_array().unwrap().clone();
    assert_eq!(configs.len(), 5);
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "GetTaskPushNotificationConfig",
        json!({"taskId": id, "id": "c1"}),
    )
    .await;
    assert_eq!(ok(&r)["url"], "https://other.example.com/");
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "DeleteTaskPushNotificationConfig",
        json!({"taskId": id, "id": "c1"}),
    )
    .await;
    assert_eq!(*ok(&r), Value::Null);
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "GetTaskPushNotificationConfig",
        json!({"taskId": id, "id": "c1"}),
    )
    .await;
    assert_eq!(err(&r).0, -32001);
    // Nobody else touches them.
    let r = rpc(
        &w.app,
        Some(&w.stranger),
        "ListTaskPushNotificationConfigs",
        json!({"taskId": id}),
    )
    .await;
    assert_eq!(err(&r).0, -32001);
    let r = rpc(
        &w.app,
        Some(&w.stranger),
        "CreateTaskPushNotificationConfig",
        json!({"taskId": id, "url": "https://h.example.com/"}),
    )
    .await;
    assert_eq!(err(&r).0, -32001);
}

/// Checks a push notification's token, Authorization and signatures (recomputed here).
fn verify_push(hit: &Hit, token: &str) -> Value {
    use hmac::{Hmac, Mac};
    assert_eq!(hit.header("x-a2a-notification-token"), Some(token));
    assert_eq!(hit.header("authorization"), Some("Bearer client-secret"));
    assert_eq!(hit.header("content-type"), Some("application/json"));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(&hit.body);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(hit.header("x-pinchwork-signature"), Some(sig.as_str()));
    let ts = hit.header("x-pinchwork-timestamp").unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&hit.body);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        hit.header("x-pinchwork-timestamp-signature"),
        Some(sig.as_str())
    );
    hit.json()
}

#[tokio::test]
async fn changes_are_pushed_signed_through_the_outbox_until_the_config_is_deleted() {
    let w = world_with(|cfg| cfg.webhook_allow_insecure = true).await;
    let receiver = Receiver::start(200).await;
    let server = w.app.serve().await;
    // The config comes with the message that posts the task.
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "SendMessage",
        json!({"message": message("Push it", "push-1"),
               "configuration": {"returnImmediately": true, "taskPushNotificationConfig": {
                   "url": receiver.url, "token": "tok-123",
                   "authentication": {"scheme": "Bearer", "credentials": "client-secret"}}},
               "metadata": {"max_credits": 10}}),
    )
    .await;
    let id = ok(&r)["task"]["id"].as_str().unwrap().to_string();
    receiver.stays_at(0, 100).await;

    pickup(&w, &id).await;
    let hits = receiver.wait_for(1).await;
    let body = verify_push(&hits[0], "tok-123");
    assert_eq!(
        hits[0].header("x-pinchwork-event"),
        Some("a2a.status_update")
    );
    assert_eq!(body["statusUpdate"]["taskId"], id.as_str());
    assert_eq!(
        body["statusUpdate"]["status"]["state"],
        "TASK_STATE_WORKING"
    );

    // The delivery: the task with its result, in one notification.
    deliver(&w, &id, "pushed result").await;
    let hits = receiver.wait_for(2).await;
    assert_eq!(hits[1].header("x-pinchwork-event"), Some("a2a.task"));
    let task = &verify_push(&hits[1], "tok-123")["task"];
    assert_eq!(state(task), "TASK_STATE_INPUT_REQUIRED");
    assert_eq!(task["artifacts"][0]["parts"][0]["text"], "pushed result");

    // A rejection, and an eventless change (the worker gives the task back), are pushed too.
    say(&w, &id, json!([{"text": "reject: not pushy enough"}]), None).await;
    let hits = receiver.wait_for(3).await;
    assert_eq!(
        verify_push(&hits[2], "tok-123")["statusUpdate"]["status"]["state"],
        "TASK_STATE_WORKING"
    );
    w.act(&w.worker, &id, "abandon", json!({}))
        .await
        .expect(200);
    let hits = receiver.wait_for(4).await;
    assert_eq!(
        verify_push(&hits[3], "tok-123")["statusUpdate"]["status"]["state"],
        "TASK_STATE_SUBMITTED"
    );

    // Deleted: nothing more is sent.
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "DeleteTaskPushNotificationConfig",
        json!({"taskId": id, "id": id}),
    )
    .await;
    ok(&r);
    let r = rpc(&w.app, Some(&w.poster), "CancelTask", json!({"id": id})).await;
    ok(&r);
    receiver.stays_at(4, 500).await;
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Streams (over HTTP)

/// An A2A stream: SSE events whose data are JSON-RPC responses.
type Sse = pinchwork_test_kit::Events;

/// Calls a streaming method over HTTP; returns the SSE stream.
async fn open_stream(base: &str, key: &str, method: &str, params: Value) -> Sse {
    use eventsource_stream::Eventsource;
    let res = reqwest::Client::new()
        .post(format!("{base}/a2a"))
        .bearer_auth(key)
        .header("a2a-version", "1.0")
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    Box::pin(res.bytes_stream().eventsource())
}

/// The next item of a stream (a JSON-RPC result), within two seconds.
async fn item(events: &mut Sse) -> Value {
    within(Duration::from_secs(2), events).await
}

/// The stream ends (within two seconds) without another item.
async fn ends(events: &mut Sse) {
    use futures_util::StreamExt;
    let next = tokio::time::timeout(Duration::from_secs(2), events.next())
        .await
        .expect("the stream ends within 2 s");
    assert!(next.is_none(), "unexpected item: {next:?}");
}

#[tokio::test]
async fn a_streamed_message_follows_the_task_until_it_needs_the_client() {
    let w = world().await;
    let server = w.app.serve().await;
    let base = format!("http://{}", server.addr);
    let mut events = open_stream(
        &base,
        &w.poster,
        "SendStreamingMessage",
        json!({"message": message("Stream me", "s-1"), "metadata": {"max_credits": 10}}),
    )
    .await;
    let task = item(&mut events).await["task"].clone();
    assert_eq!(state(&task), "TASK_STATE_SUBMITTED");
    let id = task["id"].as_str().unwrap().to_string();

    pickup(&w, &id).await;
    let update = item(&mut events).await;
    assert_eq!(update["statusUpdate"]["taskId"], id.as_str());
    assert_eq!(update["statusUpdate"]["contextId"], task["contextId"]);
    assert_eq!(
        update["statusUpdate"]["status"]["state"],
        "TASK_STATE_WORKING"
    );
    w.act(&w.worker, &id, "messages", json!({"message": "Halfway"}))
        .await
        .expect(201);
    let update = item(&mut events).await;
    assert_eq!(
        update["statusUpdate"]["status"]["message"]["parts"][0]["text"],
        "Halfway"
    );

    deliver(&w, &id, "streamed result").await;
    let artifact = item(&mut events).await;
    assert_eq!(
        artifact["artifactUpdate"]["artifact"]["artifactId"],
        "result"
    );
    assert_eq!(
        artifact["artifactUpdate"]["artifact"]["parts"][0]["text"],
        "streamed result"
    );
    let update = item(&mut events).await;
    assert_eq!(
        update["statusUpdate"]["status"]["state"],
        "TASK_STATE_INPUT_REQUIRED"
    );
    ends(&mut events).await;

    // Approving by a streamed message: the completed task, and the end.
    let mut events = open_stream(
        &base,
        &w.poster,
        "SendStreamingMessage",
        json!({"message": {"messageId": "s-2", "taskId": id, "role": "ROLE_USER",
                           "parts": [{"text": "approve"}]}}),
    )
    .await;
    assert_eq!(
        state(&item(&mut events).await["task"]),
        "TASK_STATE_COMPLETED"
    );
    ends(&mut events).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_subscription_sees_changes_no_event_announces_and_ends_at_a_final_state() {
    let w = world().await;
    let server = w.app.serve().await;
    let base = format!("http://{}", server.addr);
    let id = post_id(&w, "Subscribe to me", json!({"max_credits": 10})).await;
    pickup(&w, &id).await;
    let mut events = open_stream(&base, &w.poster, "SubscribeToTask", json!({"id": id})).await;
    assert_eq!(
        state(&item(&mut events).await["task"]),
        "TASK_STATE_WORKING"
    );
    // The worker gives it back: no event tells the poster, the stream still hears of it.
    w.act(&w.worker, &id, "abandon", json!({}))
        .await
        .expect(200);
    let update = item(&mut events).await;
    assert_eq!(
        update["statusUpdate"]["status"]["state"],
        "TASK_STATE_SUBMITTED"
    );
    // Cancelled through the HTTP API: the final state, and the end.
    w.act(&w.poster, &id, "cancel", json!({})).await.expect(200);
    let update = item(&mut events).await;
    assert_eq!(
        update["statusUpdate"]["status"]["state"],
        "TASK_STATE_CANCELED"
    );
    ends(&mut events).await;

    // A finished task has nothing to stream: a plain JSON-RPC error.
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "SubscribeToTask",
        json!({"id": id}),
    )
    .await;
    let (code, msg) = err(&r);
    assert_eq!(code, -32004);
    assert!(msg.contains("TASK_STATE_CANCELED"), "{msg}");
    server.shutdown().await;
}

#[tokio::test]
async fn an_agent_holds_a_bounded_number_of_streams() {
    let w = world().await;
    let server = w.app.serve().await;
    let base = format!("http://{}", server.addr);
    let id = post_id(&w, "Watched", json!({"max_credits": 10})).await;
    let mut open = Vec::new();
    // The same cap as the API's event streams.
    for _ in 0..w.app.state.cfg.max_streams_per_agent {
        let mut events = open_stream(&base, &w.poster, "SubscribeToTask", json!({"id": id})).await;
        item(&mut events).await;
        open.push(events);
    }
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "SubscribeToTask",
        json!({"id": id}),
    )
    .await;
    let (code, msg) = err(&r);
    assert_eq!((r.status.as_u16(), code), (429, -32000), "{msg}");
    assert!(msg.contains("Too many open event streams"), "{msg}");
    // Another agent is not held back by this one's streams.
    let other = post(
        &World {
            poster: w.stranger.clone(),
            ..world_clone(&w)
        },
        "Mine",
        json!({"max_credits": 5}),
    )
    .await;
    let mut theirs = open_stream(
        &base,
        &w.stranger,
        "SubscribeToTask",
        json!({"id": other["id"]}),
    )
    .await;
    item(&mut theirs).await;
    // Closing one frees its place.
    drop(open.pop());
    let mut again = None;
    for _ in 0..50 {
        let r = rpc(&w.app, Some(&w.poster), "GetTask", json!({"id": id})).await;
        ok(&r);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let res = reqwest::Client::new()
            .post(format!("{base}/a2a"))
            .bearer_auth(&w.poster)
            .json(
                &json!({"jsonrpc": "2.0", "id": 9, "method": "SubscribeToTask",
                          "params": {"id": id}}),
            )
            .send()
            .await
            .unwrap();
        if res.headers()["content-type"] == "text/event-stream" {
            again = Some(res);
            break;
        }
    }
    assert!(again.is_some(), "a closed stream gives its place back");
    server.shutdown().await;
}

#[tokio::test]
async fn a_blocking_send_waits_for_the_delivery() {
    let w = world().await;
    let app = world_clone(&w);
    let waiting = tokio::spawn(async move {
        rpc(
            &app.app,
            Some(&app.poster),
            "SendMessage",
            json!({"message": message("Wait for me", "b-1"),
                   "metadata": {"max_credits": 10, "wait": 5}}),
        )
        .await
    });
    // The worker finds it, and delivers.
    let id = loop {
        let open = w
            .app
            .get("/v1/tasks/available", &w.worker)
            .await
            .expect(200);
        if let Some(t) = open.json["tasks"][0]["task_id"].as_str() {
            break t.to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    pickup(&w, &id).await;
    deliver(&w, &id, "waited result").await;
    let r = waiting.await.unwrap();
    let task = &ok(&r)["task"];
    assert_eq!(state(task), "TASK_STATE_INPUT_REQUIRED");
    assert_eq!(task["artifacts"][0]["parts"][0]["text"], "waited result");
    assert_eq!(task["history"][0]["messageId"], "b-1", "with its history");
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "SendMessage",
        json!({"message": message("x", "b-2"), "metadata": {"wait": 301}}),
    )
    .await;
    assert_eq!(err(&r).0, -32602);
}

/// On a database several nodes share, a stream on one node sees what another node changed,
/// even when no event tells the poster (here: the worker gives the task back on the other
/// node). PostgreSQL only: on SQLite there is one node.
#[tokio::test]
async fn a_stream_sees_changes_made_on_another_node() {
    let w = world().await;
    if !w.app.dir.is_postgres() {
        eprintln!("PINCHWORK_TEST_POSTGRES_URL is not set: several nodes need PostgreSQL");
        return;
    }
    let other = TestApp::open(w.app.cfg.clone(), w.app.dir.clone(), w.app.clock.clone()).await;
    let server = w.app.serve().await;
    let other_server = other.serve().await;
    let base = format!("http://{}", server.addr);
    let id = post_id(&w, "Across nodes", json!({"max_credits": 10})).await;
    pickup(&w, &id).await;
    let mut events = open_stream(&base, &w.poster, "SubscribeToTask", json!({"id": id})).await;
    assert_eq!(
        state(&item(&mut events).await["task"]),
        "TASK_STATE_WORKING"
    );
    // An event to the poster, committed on the other node: heard at once.
    other
        .post(
            &format!("/v1/tasks/{id}/messages"),
            &w.worker,
            json!({"message": "from node two"}),
        )
        .await
        .expect(201);
    let update = item(&mut events).await;
    assert_eq!(
        update["statusUpdate"]["status"]["message"]["parts"][0]["text"],
        "from node two"
    );
    // No event to the poster: the stream's periodic re-read finds it.
    other
        .post(&format!("/v1/tasks/{id}/abandon"), &w.worker, json!({}))
        .await
        .expect(200);
    let update = within(Duration::from_secs(7), &mut events).await;
    assert_eq!(
        update["statusUpdate"]["status"]["state"],
        "TASK_STATE_SUBMITTED"
    );
    other_server.shutdown().await;
    server.shutdown().await;
}

/// The next item of a stream within `limit`: the result of the call (id 9) it answers.
async fn within(limit: Duration, events: &mut Sse) -> Value {
    let event = pinchwork_test_kit::next_within(events, limit).await;
    let json: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(json["id"], 9);
    json["result"].clone()
}

/// A node learns of push configs made on another node (within a timer tick) and pushes the
/// changes it makes. PostgreSQL only: on SQLite there is one node.
#[tokio::test]
async fn another_node_pushes_the_changes_it_makes() {
    let w = world_with(|cfg| cfg.webhook_allow_insecure = true).await;
    if !w.app.dir.is_postgres() {
        eprintln!("PINCHWORK_TEST_POSTGRES_URL is not set: several nodes need PostgreSQL");
        return;
    }
    let other = TestApp::open(w.app.cfg.clone(), w.app.dir.clone(), w.app.clock.clone()).await;
    let (server, other_server) = (w.app.serve().await, other.serve().await);
    let receiver = Receiver::start(200).await;
    let id = post_id(&w, "Push from elsewhere", json!({"max_credits": 10})).await;
    let r = rpc(
        &w.app,
        Some(&w.poster),
        "CreateTaskPushNotificationConfig",
        json!({"taskId": id, "url": receiver.url, "token": "tok-123",
               "authentication": {"scheme": "Bearer", "credentials": "client-secret"}}),
    )
    .await;
    ok(&r);
    // A few ticks of the other node's timer loop.
    tokio::time::sleep(Duration::from_millis(3 * w.app.cfg.timer_tick_ms + 100)).await;
    other
        .post(&format!("/v1/tasks/{id}/pickup"), &w.worker, json!({}))
        .await
        .expect(200);
    let hits = receiver.wait_for(1).await;
    let body = verify_push(&hits[0], "tok-123");
    assert_eq!(
        body["statusUpdate"]["status"]["state"],
        "TASK_STATE_WORKING"
    );
    other_server.shutdown().await;
    server.shutdown().await;
}
