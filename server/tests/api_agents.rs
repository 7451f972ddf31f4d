//! Agents through the real router: registration, authentication, the caller's profile, credits,
//! stats and health.

use pinchwork_server::model::{DAY, MINUTE};

use axum::body::Body;
use axum::http::{Request, header};
use pinchwork_test_kit::{Resp, TestApp};
use serde_json::{Value, json};

async fn register_with(app: &TestApp, body: Value) -> Resp {
    app.call("POST", "/v1/register", None, Some(body)).await
}

async fn patch_me(app: &TestApp, key: &str, body: Value) -> Resp {
    app.call("PATCH", "/v1/me", Some(key), Some(body)).await
}

/// A request with an arbitrary Authorization header (or none).
async fn with_authorization(app: &TestApp, path: &str, authorization: Option<&str>) -> Resp {
    let mut req = Request::builder()
        .uri(path)
        .header(header::ACCEPT, "application/json");
    if let Some(value) = authorization {
        req = req.header(header::AUTHORIZATION, value);
    }
    app.send(req.body(Body::empty()).unwrap()).await
}

async fn suspend(app: &TestApp, agent_id: &str) {
    let id = agent_id.to_string();
    app.state
        .write(move |tx, _| {
            Box::pin(async move {
                let mut agent = tx.agent(&id).await?.expect("agent exists");
                agent.suspended = true;
                tx.save_agent_profile(&agent).await
            })
        })
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// POST /v1/register

#[tokio::test]
async fn register_returns_id_key_credits_and_welcome() {
    let app = TestApp::new().await;
    let r = register_with(&app, json!({"name": "my-agent"}))
        .await
        .expect(201);
    let id = r.json["agent_id"].as_str().unwrap();
    assert!(id.starts_with("ag-") && id.len() == 15, "{id}");
    let key = r.json["api_key"].as_str().unwrap();
    assert!(key.starts_with("pwk-"), "{key}");
    assert_eq!(key.len(), 47, "pwk- + 43 characters");
    assert!(
        key[4..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{key}"
    );
    assert_eq!(r.json["credits"], 100);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("SAVE YOUR API KEY"),
        "{}",
        r.text
    );
    assert_eq!(
        r.json.as_object().unwrap().len(),
        4,
        "agent_id, api_key, credits, message: {}",
        r.text
    );

    // The key works at once and belongs to the new agent.
    let me = app.get("/v1/me", key).await.expect(200);
    assert_eq!(me.json["id"], id);
    assert_eq!(me.json["name"], "my-agent");
    assert_eq!(me.json["credits"], 100);
    app.assert_books_balance().await;
}

#[tokio::test]
async fn register_keys_and_ids_are_unique() {
    let app = TestApp::new().await;
    let (a_id, a_key) = app.register("same-name").await;
    let (b_id, b_key) = app.register("same-name").await;
    assert_ne!(a_id, b_id);
    assert_ne!(a_key, b_key);
    assert_eq!(app.get("/v1/me", &a_key).await.expect(200).json["id"], a_id);
    assert_eq!(app.get("/v1/me", &b_key).await.expect(200).json["id"], b_id);
}

#[tokio::test]
async fn register_with_optional_fields() {
    let app = TestApp::new().await;
    let r = register_with(
        &app,
        json!({
            "name": "infra",
            "good_at": "sandboxed code execution, Python",
            "accepts_system_tasks": "true",
            "webhook_url": "https://hooks.example.com/pinchwork",
            "webhook_secret": "s3cret"
        }),
    )
    .await
    .expect(201);
    let key = r.json["api_key"].as_str().unwrap();
    let me = app.get("/v1/me", key).await.expect(200);
    assert_eq!(me.json["good_at"], "sandboxed code execution, Python");
    assert_eq!(me.json["accepts_system_tasks"], true);
    assert_eq!(
        me.json["webhook_url"],
        "https://hooks.example.com/pinchwork"
    );
    assert!(
        !me.text.contains("s3cret") && me.json.get("webhook_secret").is_none(),
        "the secret is never returned: {}",
        me.text
    );
}

#[tokio::test]
async fn register_the_sign_up_bonus_is_configurable_and_in_the_ledger() {
    let app = TestApp::with(|c| c.initial_credits = 250).await;
    let r = register_with(&app, json!({"name": "rich"}))
        .await
        .expect(201);
    assert_eq!(r.json["credits"], 250);
    let key = r.json["api_key"].as_str().unwrap();
    let credits = app.get("/v1/me/credits", key).await.expect(200);
    assert_eq!(credits.json["balance"], 250);
    assert_eq!(credits.json["total"], 1);
    assert_eq!(credits.json["ledger"][0]["amount"], 250);
    assert_eq!(credits.json["ledger"][0]["reason"], "signup_bonus");
    app.assert_books_balance().await;
}

#[tokio::test]
async fn register_validation_errors_are_400() {
    let app = TestApp::new().await;
    let too_long = "x".repeat(201);
    let long_good_at = "g".repeat(2_001);
    let long_secret = "s".repeat(501);
    for (body, says) in [
        (json!({}), "name"),
        (json!({"name": ""}), "Missing required field: name"),
        (json!({"name": "   "}), "Missing required field: name"),
        (
            json!({"name": too_long}),
            "name must be at most 200 characters",
        ),
        (
            json!({"name": "a", "good_at": long_good_at}),
            "good_at must be at most 2000 characters",
        ),
        (
            json!({"name": "a", "webhook_secret": long_secret}),
            "webhook_secret must be at most 500 characters",
        ),
        (json!({"name": 5}), "Invalid request body"),
        (
            json!({"name": "a", "accepts_system_tasks": "maybe"}),
            "Invalid request body",
        ),
        (
            json!({"name": "a", "webhook_url": "http://hooks.example.com/x"}),
            "Invalid webhook_url",
        ),
        (
            json!({"name": "a", "webhook_url": "https://127.0.0.1/x"}),
            "Invalid webhook_url",
        ),
        (
            json!({"name": "a", "webhook_url": "https://localhost/x"}),
            "Invalid webhook_url",
        ),
        (
            json!({"name": "a", "webhook_url": "https://169.254.169.254/latest"}),
            "Invalid webhook_url",
        ),
    ] {
        let r = register_with(&app, body.clone()).await.expect(400);
        assert!(r.error().contains(says), "{body}: {}", r.error());
    }
    // Nothing was created by the refused registrations (and the platform starts empty).
    let books = app
        .state
        .read(|tx| Box::pin(async move { tx.books().await }))
        .await
        .unwrap();
    assert_eq!(books.balances, books.minted);
    assert_eq!(
        books.balances, 0,
        "no sign-up bonus was minted for a refused registration"
    );
}

#[tokio::test]
async fn register_name_of_exactly_200_characters_is_accepted() {
    let app = TestApp::new().await;
    let name = "n".repeat(200);
    let r = register_with(&app, json!({"name": name, "good_at": "g".repeat(2_000)}))
        .await
        .expect(201);
    let me = app
        .get("/v1/me", r.json["api_key"].as_str().unwrap())
        .await
        .expect(200);
    assert_eq!(me.json["name"].as_str().unwrap().len(), 200);
    assert_eq!(me.json["good_at"].as_str().unwrap().len(), 2_000);
}

// ---------------------------------------------------------------------------------------------
// Authentication

#[tokio::test]
async fn missing_or_malformed_authorization_is_401() {
    let app = TestApp::new().await;
    for path in [
        "/v1/me",
        "/v1/me/credits",
        "/v1/me/stats",
        "/v1/tasks/available",
        "/v1/tasks/mine",
    ] {
        let r = with_authorization(&app, path, None).await.expect(401);
        assert_eq!(
            r.error(),
            "Missing or invalid Authorization header",
            "{path}"
        );
        for header in ["Basic abc", "Bearer", "Bearer ", "pwk-abc", "Token pwk-abc"] {
            let r = with_authorization(&app, path, Some(header))
                .await
                .expect(401);
            assert_eq!(
                r.error(),
                "Missing or invalid Authorization header",
                "{path} {header:?}"
            );
        }
    }
    for path in ["/v1/tasks", "/v1/tasks/pickup", "/v1/tasks/tk-x/deliver"] {
        let r = app.call("POST", path, None, Some(json!({}))).await;
        assert_eq!(r.status.as_u16(), 401, "{path}: {}", r.text);
        assert_eq!(r.error(), "Missing or invalid Authorization header");
    }
}

#[tokio::test]
async fn unknown_key_is_401_invalid_api_key() {
    let app = TestApp::new().await;
    let (_, key) = app.register("a").await;
    for bad in [
        "pwk-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string(),
        format!("{key}x"),
        key[..key.len() - 1].to_string(),
    ] {
        let r = app.get("/v1/me", &bad).await.expect(401);
        assert_eq!(r.error(), "Invalid API key");
    }
    // Creating with a bad key changes nothing.
    let r = app
        .post(
            "/v1/tasks",
            "pwk-nope",
            json!({"need": "x", "max_credits": 5}),
        )
        .await
        .expect(401);
    assert_eq!(r.error(), "Invalid API key");
    assert_eq!(app.credits(&key).await, 100);
}

#[tokio::test]
async fn suspended_agent_is_403() {
    let app = TestApp::new().await;
    let (id, key) = app.register("bad-actor").await;
    suspend(&app, &id).await;
    let r = app.get("/v1/me", &key).await.expect(403);
    assert_eq!(r.error(), "Agent suspended");
    let r = app
        .post("/v1/tasks", &key, json!({"need": "x", "max_credits": 5}))
        .await
        .expect(403);
    assert_eq!(r.error(), "Agent suspended");
}

// ---------------------------------------------------------------------------------------------
// GET / PATCH /v1/me

#[tokio::test]
async fn me_shows_the_profile_with_counters() {
    let app = TestApp::new().await;
    let (id, key) = app.register("poster").await;
    let me = app.get("/v1/me", &key).await.expect(200);
    let expected = json!({
        "id": id,
        "name": "poster",
        "credits": 100,
        "reputation": 0.0,
        "tasks_posted": 0,
        "tasks_completed": 0,
        "good_at": null,
        "accepts_system_tasks": false,
        "webhook_url": null,
        "capability_tags": null,
        "created_at": "2026-01-01T00:00:00.000Z",
    });
    assert_eq!(me.json, expected);

    app.post_task(&key, "first", 10).await;
    app.post_task(&key, "second", 5).await;
    let me = app.get("/v1/me", &key).await.expect(200);
    assert_eq!(me.json["tasks_posted"], 2);
    assert_eq!(me.json["credits"], 85);
}

#[tokio::test]
async fn me_counts_completed_tasks_and_reputation_of_the_worker() {
    let app = TestApp::new().await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let task = app.post_task(&poster, "work", 10).await;
    app.post(&format!("/v1/tasks/{task}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/tasks/{task}/deliver"),
        &worker,
        json!({"result": "done"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/tasks/{task}/approve"),
        &poster,
        json!({"rating": 4}),
    )
    .await
    .expect(200);
    let me = app.get("/v1/me", &worker).await.expect(200);
    assert_eq!(me.json["tasks_completed"], 1);
    assert_eq!(me.json["reputation"], 4.0);
    assert_eq!(me.json["credits"], 109, "10 charged less the 10 % fee");
}

#[tokio::test]
async fn patch_me_updates_the_given_fields_only() {
    let app = TestApp::new().await;
    let (id, key) = app.register("agent").await;
    let r = patch_me(
        &app,
        &key,
        json!({"good_at": "security auditing, OWASP Top 10"}),
    )
    .await
    .expect(200);
    assert_eq!(r.json["id"], id);
    assert_eq!(r.json["good_at"], "security auditing, OWASP Top 10");
    assert_eq!(r.json["accepts_system_tasks"], false);

    let r = patch_me(
        &app,
        &key,
        json!({"accepts_system_tasks": true, "webhook_url": "https://hooks.example.com/a",
               "webhook_secret": "new-secret"}),
    )
    .await
    .expect(200);
    assert_eq!(
        r.json["good_at"], "security auditing, OWASP Top 10",
        "absent fields stay"
    );
    assert_eq!(r.json["accepts_system_tasks"], true);
    assert_eq!(r.json["webhook_url"], "https://hooks.example.com/a");
    assert!(!r.text.contains("new-secret"));

    // null is "no change"; an empty webhook_url removes the webhook.
    let r = patch_me(&app, &key, json!({"good_at": null, "webhook_url": ""}))
        .await
        .expect(200);
    assert_eq!(r.json["good_at"], "security auditing, OWASP Top 10");
    assert_eq!(r.json["webhook_url"], Value::Null);

    // The change is stored, not only echoed.
    let me = app.get("/v1/me", &key).await.expect(200);
    assert_eq!(me.json["accepts_system_tasks"], true);
    assert_eq!(me.json["webhook_url"], Value::Null);
    assert_eq!(me.json["credits"], 100, "a profile change moves no credits");

    // An empty body changes nothing.
    let r = patch_me(&app, &key, json!({})).await.expect(200);
    assert_eq!(r.json, me.json);
}

#[tokio::test]
async fn patch_me_validation_errors_are_400_and_change_nothing() {
    let app = TestApp::new().await;
    let (_, key) = app.register("agent").await;
    patch_me(&app, &key, json!({"good_at": "before"}))
        .await
        .expect(200);
    for (body, says) in [
        (
            json!({"good_at": "g".repeat(2_001)}),
            "good_at must be at most 2000 characters",
        ),
        (
            json!({"webhook_secret": "s".repeat(501)}),
            "webhook_secret must be at most 500 characters",
        ),
        (
            json!({"webhook_url": "http://hooks.example.com/"}),
            "Invalid webhook_url",
        ),
        (
            json!({"webhook_url": "https://10.0.0.1/"}),
            "Invalid webhook_url",
        ),
        (
            json!({"webhook_url": "https://[::1]/"}),
            "Invalid webhook_url",
        ),
        (
            json!({"good_at": "after", "webhook_url": "ftp://x"}),
            "Invalid webhook_url",
        ),
        (
            json!({"accepts_system_tasks": "perhaps"}),
            "Invalid request body",
        ),
        (json!({"good_at": 12}), "Invalid request body"),
    ] {
        let r = patch_me(&app, &key, body.clone()).await.expect(400);
        assert!(r.error().contains(says), "{body}: {}", r.error());
    }
    let me = app.get("/v1/me", &key).await.expect(200);
    assert_eq!(me.json["good_at"], "before");
    assert_eq!(me.json["webhook_url"], Value::Null);
    assert_eq!(me.json["accepts_system_tasks"], false);
}

#[tokio::test]
async fn me_without_a_key_is_401_for_patch_too() {
    let app = TestApp::new().await;
    let r = app
        .call("PATCH", "/v1/me", None, Some(json!({"good_at": "x"})))
        .await
        .expect(401);
    assert_eq!(r.error(), "Missing or invalid Authorization header");
}

// ---------------------------------------------------------------------------------------------
// GET /v1/me/credits

#[tokio::test]
async fn credits_show_balance_escrow_and_ledger_newest_first() {
    let app = TestApp::new().await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;

    let c = app.get("/v1/me/credits", &poster).await.expect(200);
    assert_eq!(c.json["balance"], 100);
    assert_eq!(c.json["escrowed"], 0);
    assert_eq!(c.json["total"], 1);
    let first = &c.json["ledger"][0];
    assert_eq!(first["amount"], 100);
    assert_eq!(first["reason"], "signup_bonus");
    assert_eq!(first["task_id"], Value::Null);
    assert_eq!(first["created_at"], "2026-01-01T00:00:00.000Z");
    assert!(first["id"].as_str().unwrap().starts_with("le-"));

    let task = app.post_task(&poster, "Review", 15).await;
    app.advance(MINUTE).await;
    let other = app.post_task(&poster, "Other", 20).await;
    let c = app.get("/v1/me/credits", &poster).await.expect(200);
    assert_eq!(c.json["balance"], 65);
    assert_eq!(c.json["escrowed"], 35);
    assert_eq!(c.json["total"], 3);
    let ledger = c.json["ledger"].as_array().unwrap();
    assert_eq!(
        ledger
            .iter()
            .map(|l| (l["amount"].as_i64().unwrap(), l["reason"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        vec![(-20, "escrow"), (-15, "escrow"), (100, "signup_bonus")]
    );
    assert_eq!(ledger[0]["task_id"], other.as_str());
    assert_eq!(ledger[0]["created_at"], "2026-01-01T00:01:00.000Z");
    assert_eq!(ledger[1]["task_id"], task.as_str());

    // Claimed and delivered tasks are still escrowed; approval settles them.
    app.post(&format!("/v1/tasks/{task}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    let c = app.get("/v1/me/credits", &poster).await.expect(200);
    assert_eq!(c.json["escrowed"], 35);
    app.post(
        &format!("/v1/tasks/{task}/deliver"),
        &worker,
        json!({"result": "ok", "credits_claimed": 12}),
    )
    .await
    .expect(200);
    assert_eq!(
        app.get("/v1/me/credits", &poster).await.json["escrowed"],
        35
    );
    app.post(&format!("/v1/tasks/{task}/approve"), &poster, json!({}))
        .await
        .expect(200);
    let c = app.get("/v1/me/credits", &poster).await.expect(200);
    assert_eq!(c.json["balance"], 68, "3 of 15 came back");
    assert_eq!(c.json["escrowed"], 20);
    assert_eq!(c.json["ledger"][0]["amount"], 3);
    assert_eq!(c.json["ledger"][0]["reason"], "refund");

    let w = app.get("/v1/me/credits", &worker).await.expect(200);
    assert_eq!(w.json["balance"], 111);
    assert_eq!(w.json["escrowed"], 0);
    assert_eq!(w.json["ledger"][0]["amount"], 11);
    assert_eq!(w.json["ledger"][0]["reason"], "payment");
    assert_eq!(w.json["ledger"][0]["task_id"], task.as_str());
    app.assert_books_balance().await;
}

#[tokio::test]
async fn credits_ledger_pages_with_limit_and_offset() {
    let app = TestApp::new().await;
    let (_, key) = app.register("poster").await;
    for i in 1..=4 {
        app.post_task(&key, &format!("task {i}"), i).await;
    }
    let c = app
        .get("/v1/me/credits?limit=2&offset=1", &key)
        .await
        .expect(200);
    assert_eq!(c.json["total"], 5);
    let amounts: Vec<i64> = c.json["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![-3, -2]);
    let c = app.get("/v1/me/credits?offset=10", &key).await.expect(200);
    assert_eq!(c.json["total"], 5);
    assert_eq!(c.json["ledger"], json!([]));
    assert_eq!(c.json["balance"], 90);
}

#[tokio::test]
async fn credits_bad_paging_is_422() {
    let app = TestApp::new().await;
    let (_, key) = app.register("a").await;
    for query in [
        "limit=0",
        "limit=101",
        "offset=-1",
        "limit=abc",
        "offset=1.5",
    ] {
        let r = app
            .get(&format!("/v1/me/credits?{query}"), &key)
            .await
            .expect(422);
        assert!(!r.error().is_empty(), "{query}");
    }
    app.get("/v1/me/credits?limit=100&offset=0", &key)
        .await
        .expect(200);
    app.get("/v1/me/credits?limit=1", &key).await.expect(200);
}

// ---------------------------------------------------------------------------------------------
// GET /v1/me/stats

#[tokio::test]
async fn stats_of_a_new_agent_are_empty() {
    let app = TestApp::new().await;
    let (_, key) = app.register("new").await;
    let s = app.get("/v1/me/stats", &key).await.expect(200);
    assert_eq!(
        s.json,
        json!({
            "total_earned": 0,
            "total_spent": 0,
            "total_fees_paid": 0,
            "approval_rate": null,
            "avg_task_value": null,
            "tasks_by_tag": [],
            "recent_7d_earned": 0,
            "recent_30d_earned": 0,
        })
    );
}

#[tokio::test]
async fn stats_add_up_earnings_fees_and_tags() {
    let app = TestApp::new().await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let python = app
        .post(
            "/v1/tasks",
            &poster,
            json!({"need": "py", "max_credits": 20, "tags": ["python", "security"]}),
        )
        .await
        .expect(201)
        .json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let plain = app.post_task(&poster, "plain", 10).await;
    let pending = app
        .post(
            "/v1/tasks",
            &poster,
            json!({"need": "later", "max_credits": 5, "tags": ["python"]}),
        )
        .await
        .expect(201)
        .json["task_id"]
        .as_str()
        .unwrap()
        .to_string();

    for (task, claim) in [(&python, 15), (&plain, 10), (&pending, 5)] {
        app.post(&format!("/v1/tasks/{task}/pickup"), &worker, json!({}))
            .await
            .expect(200);
        app.post(
            &format!("/v1/tasks/{task}/deliver"),
            &worker,
            json!({"result": "done", "credits_claimed": claim}),
        )
        .await
        .expect(200);
    }
    for task in [&python, &plain] {
        app.post(&format!("/v1/tasks/{task}/approve"), &poster, json!({}))
            .await
            .expect(200);
    }

    let s = app.get("/v1/me/stats", &worker).await.expect(200);
    // 15 - fee 1 = 14, and 10 - fee 1 = 9.
    assert_eq!(s.json["total_earned"], 23);
    assert_eq!(s.json["total_fees_paid"], 2);
    assert_eq!(s.json["total_spent"], 0);
    assert_eq!(
        s.json["approval_rate"], 0.67,
        "2 approved, 1 awaiting review"
    );
    assert_eq!(s.json["avg_task_value"], 12.5);
    assert_eq!(s.json["recent_7d_earned"], 23);
    assert_eq!(s.json["recent_30d_earned"], 23);
    assert_eq!(
        s.json["tasks_by_tag"],
        json!([
            {"tag": "python", "count": 1, "earned": 14},
            {"tag": "security", "count": 1, "earned": 14},
        ]),
        "after the fee, as total_earned"
    );

    // What the two approved tasks cost; the escrow of the one awaiting review is not spent.
    let p = app.get("/v1/me/stats", &poster).await.expect(200);
    assert_eq!(p.json["total_spent"], 25);
    assert_eq!(p.json["total_earned"], 0);
    assert_eq!(p.json["approval_rate"], Value::Null);

    // Earnings age out of the recent windows.
    app.post(&format!("/v1/tasks/{pending}/approve"), &poster, json!({}))
        .await
        .expect(200);
    app.advance(8 * DAY).await;
    let s = app.get("/v1/me/stats", &worker).await.expect(200);
    assert_eq!(s.json["total_earned"], 28);
    assert_eq!(s.json["recent_7d_earned"], 0);
    assert_eq!(s.json["recent_30d_earned"], 28);
    assert_eq!(s.json["approval_rate"], 1.0);
    app.advance(30 * DAY).await;
    let s = app.get("/v1/me/stats", &worker).await.expect(200);
    assert_eq!(s.json["recent_30d_earned"], 0);
    assert_eq!(s.json["total_earned"], 28);
    app.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// GET /health

#[tokio::test]
async fn health_is_json_without_auth_whatever_the_accept() {
    let app = TestApp::new().await;
    let req = Request::builder()
        .uri("/health")
        .header(header::ACCEPT, "text/markdown")
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await.expect(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json["status"], "ok");
    assert_eq!(r.json["version"], env!("CARGO_PKG_VERSION"));
}
