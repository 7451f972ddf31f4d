//! Tasks through the real router: create, poll, browse, mine, every pickup form, deliver,
//! approve, reject, cancel, abandon, and the timers (via the manual clock).

use pinchwork_server::model::{HOUR, MINUTE};

use pinchwork_test_kit::{Resp, TestApp, World, at, id_of, world, world_on};
use serde_json::{Value, json};
use std::sync::Arc;

/// Steps of the task tests, taken on a `World`.
trait TaskSteps {
    async fn view(&self, key: &str, id: &str) -> Value;
    async fn status(&self, id: &str) -> String;
    async fn claimed(&self, max: i64) -> String;
    async fn delivered(&self, max: i64, charge: i64) -> String;
    async fn balances(&self) -> (i64, i64);
}

impl TaskSteps for World {
    async fn view(&self, key: &str, id: &str) -> Value {
        self.app
            .get(&format!("/v1/tasks/{id}"), key)
            .await
            .expect(200)
            .json
    }

    async fn status(&self, id: &str) -> String {
        self.view(&self.poster, id).await["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A task of `max` credits claimed by the worker.
    async fn claimed(&self, max: i64) -> String {
        let id = self
            .new_task(json!({"need": "Do the thing", "max_credits": max}))
            .await;
        self.act(&self.worker, &id, "pickup", json!({}))
            .await
            .expect(200);
        id
    }

    /// A task of `max` credits delivered by the worker, charging `charge`.
    async fn delivered(&self, max: i64, charge: i64) -> String {
        let id = self.claimed(max).await;
        self.act(
            &self.worker,
            &id,
            "deliver",
            json!({"result": "the work", "credits_claimed": charge}),
        )
        .await
        .expect(200);
        id
    }

    async fn balances(&self) -> (i64, i64) {
        (
            self.app.credits(&self.poster).await,
            self.app.credits(&self.worker).await,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// POST /v1/tasks

#[tokio::test]
async fn create_answers_201_with_id_status_need_and_headers() {
    let w = world().await;
    let r = w
        .create(json!({
            "need": "Review this code",
            "context": "FastAPI service",
            "max_credits": 15,
            "tags": ["code-review", "Python"],
            "deadline_minutes": 30,
            "review_timeout_minutes": 20,
            "claim_timeout_minutes": 7,
        }))
        .await
        .expect(201);
    let id = id_of(&r);
    assert!(id.starts_with("tk-") && id.len() == 15, "{id}");
    assert_eq!(
        r.json,
        json!({"task_id": id, "status": "posted", "need": "Review this code"})
    );
    assert_eq!(r.header("x-task-id"), Some(id.as_str()));
    assert_eq!(r.header("x-status"), Some("posted"));
    assert_eq!(r.header("x-credits-charged"), None);
    assert_eq!(w.app.credits(&w.poster).await, 85);

    let poll = w
        .app
        .get(&format!("/v1/tasks/{id}"), &w.poster)
        .await
        .expect(200);
    assert_eq!(poll.header("x-task-id"), Some(id.as_str()));
    assert_eq!(poll.header("x-status"), Some("posted"));
    assert_eq!(poll.header("x-credits-charged"), None);
    assert_eq!(
        poll.json,
        json!({
            "task_id": id,
            "status": "posted",
            "need": "Review this code",
            "context": "FastAPI service",
            "result": null,
            "max_credits": 15,
            "credits_charged": null,
            "tags": ["code-review", "Python"],
            "poster_id": w.poster_id,
            "worker_id": null,
            "created_at": "2026-01-01T00:00:00.000Z",
            "deadline": "2026-01-01T00:30:00.000Z",
            "claim_deadline": null,
            "delivered_at": null,
            "review_deadline": null,
            "review_timeout_minutes": 20,
            "claim_timeout_minutes": 7,
            "rejection_reason": null,
            "rejection_count": 0,
            "rejection_grace_deadline": null,
            "verification": null,
            "private": false,
            "feedback": null,
            "system_work": [],
        })
    );
    let me = w.app.get("/v1/me", &w.poster).await.expect(200);
    assert_eq!(me.json["tasks_posted"], 1);
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn create_defaults_and_lenient_values() {
    let w = world().await;
    // max_credits defaults to 50; tags may be one comma-separated string; numbers may be text.
    let id = w
        .new_task(json!({"need": "x", "tags": "python, code-review"}))
        .await;
    let v = w.view(&w.poster, &id).await;
    assert_eq!(v["max_credits"], 50);
    assert_eq!(v["tags"], json!(["python", "code-review"]));
    assert_eq!(v["deadline"], Value::Null);
    assert_eq!(v["review_timeout_minutes"], Value::Null);
    assert_eq!(w.app.credits(&w.poster).await, 50);

    let id = w
        .new_task(json!({"need": "y", "max_credits": "7", "tags": []}))
        .await;
    let v = w.view(&w.poster, &id).await;
    assert_eq!(v["max_credits"], 7);
    assert_eq!(v["tags"], Value::Null, "an empty tag list is no tags");
    assert_eq!(v["context"], Value::Null);
    let id = w
        .new_task(json!({"need": "z", "max_credits": 3.0, "context": ""}))
        .await;
    assert_eq!(w.view(&w.poster, &id).await["max_credits"], 3);
    assert_eq!(w.app.credits(&w.poster).await, 40);
}

#[tokio::test]
async fn create_validation_errors_are_400_and_change_nothing() {
    let w = world().await;
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "Missing 'need' field"),
        (json!({"need": ""}), "Missing 'need' field"),
        (json!({"need": "  \n "}), "Missing 'need' field"),
        (
            json!({"need": "n".repeat(50_001)}),
            "need must be at most 50000 characters",
        ),
        (
            json!({"need": "x", "context": "c".repeat(100_001)}),
            "context must be at most 100000 characters",
        ),
        (
            json!({"need": "x", "tags": eleven}),
            "At most 10 tags are allowed",
        ),
        (
            json!({"need": "x", "tags": ["t".repeat(51)]}),
            "Invalid tag",
        ),
        (json!({"need": "x", "tags": ["-leading"]}), "Invalid tag"),
        (json!({"need": "x", "tags": ["_leading"]}), "Invalid tag"),
        (json!({"need": "x", "tags": ["has space"]}), "Invalid tag"),
        (json!({"need": "x", "tags": ["dot.ted"]}), "Invalid tag"),
        (json!({"need": "x", "tags": ["ünïcode"]}), "Invalid tag"),
        (json!({"need": "x", "tags": ["ok", ""]}), "Invalid tag"),
        (json!({"need": "x", "tags": [1, 2]}), "Invalid request body"),
        (
            json!({"need": "x", "tags": {"a": 1}}),
            "Invalid request body",
        ),
        (json!({"need": 5}), "Invalid request body"),
        (
            json!({"need": "x", "max_credits": 0}),
            "max_credits must be between 1 and 100000",
        ),
        (
            json!({"need": "x", "max_credits": -5}),
            "max_credits must be between 1 and 100000",
        ),
        (
            json!({"need": "x", "max_credits": 100_001}),
            "max_credits must be between 1 and 100000",
        ),
        (
            json!({"need": "x", "max_credits": 1.5}),
            "Invalid request body",
        ),
        (
            json!({"need": "x", "max_credits": "lots"}),
            "Invalid request body",
        ),
        (
            json!({"need": "x", "wait": 0}),
            "wait must be between 1 and 300",
        ),
        (
            json!({"need": "x", "wait": 301}),
            "wait must be between 1 and 300",
        ),
        (
            json!({"need": "x", "deadline_minutes": 0}),
            "deadline_minutes must be between 1 and 525600",
        ),
        (
            json!({"need": "x", "deadline_minutes": 525_601}),
            "deadline_minutes must be between 1 and 525600",
        ),
        (
            json!({"need": "x", "review_timeout_minutes": 0}),
            "review_timeout_minutes must be between 1 and 1440",
        ),
        (
            json!({"need": "x", "review_timeout_minutes": 1_441}),
            "review_timeout_minutes must be between 1 and 1440",
        ),
        (
            json!({"need": "x", "claim_timeout_minutes": 0}),
            "claim_timeout_minutes must be between 1 and 1440",
        ),
        (
            json!({"need": "x", "claim_timeout_minutes": 1_441}),
            "claim_timeout_minutes must be between 1 and 1440",
        ),
    ];
    for (body, says) in cases {
        let r = w.create(body.clone()).await.expect(400);
        let shown: String = body.to_string().chars().take(80).collect();
        assert!(r.error().contains(says), "{shown}: {}", r.error());
    }
    assert_eq!(w.app.credits(&w.poster).await, 100);
    let me = w.app.get("/v1/me", &w.poster).await.expect(200);
    assert_eq!(me.json["tasks_posted"], 0);
    let mine = w.app.get("/v1/tasks/mine", &w.poster).await.expect(200);
    assert_eq!(mine.json["total"], 0);
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn create_accepts_every_limit_exactly() {
    let app = TestApp::with(|c| c.initial_credits = 100_000).await;
    let w = world_on(app).await;
    let tags: Vec<String> = (0..10).map(|i| format!("{i}{}", "t".repeat(49))).collect();
    // Limits count characters, not bytes.
    let need = "é".repeat(50_000);
    let context = "c".repeat(100_000);
    let r = w
        .create(json!({
            "need": need,
            "context": context,
            "tags": tags,
            "max_credits": 100_000,
            "deadline_minutes": 525_600,
            "review_timeout_minutes": 1_440,
            "claim_timeout_minutes": 1_440,
        }))
        .await
        .expect(201);
    let v = w.view(&w.poster, &id_of(&r)).await;
    assert_eq!(v["need"].as_str().unwrap().chars().count(), 50_000);
    assert_eq!(v["context"].as_str().unwrap().len(), 100_000);
    assert_eq!(v["tags"].as_array().unwrap().len(), 10);
    assert_eq!(v["deadline"], at(525_600 * MINUTE));
    assert_eq!(v["claim_timeout_minutes"], 1_440);
    assert_eq!(w.app.credits(&w.poster).await, 0);

    let r = w
        .app
        .post(
            "/v1/tasks",
            &w.worker,
            json!({"need": "x", "max_credits": 1, "deadline_minutes": 1,
                   "review_timeout_minutes": 1, "claim_timeout_minutes": 1, "tags": ["a_B-9"]}),
        )
        .await
        .expect(201);
    assert_eq!(w.view(&w.worker, &id_of(&r)).await["max_credits"], 1);
    assert_eq!(w.app.credits(&w.worker).await, 99_999);
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn create_without_enough_credits_is_402_and_changes_nothing() {
    let w = world().await;
    let r = w
        .create(json!({"need": "expensive", "max_credits": 101}))
        .await
        .expect(402);
    assert_eq!(r.error(), "Insufficient credits. Have 100, need 101");
    assert_eq!(w.app.credits(&w.poster).await, 100);
    let me = w.app.get("/v1/me", &w.poster).await.expect(200);
    assert_eq!(me.json["tasks_posted"], 0);
    let credits = w.app.get("/v1/me/credits", &w.poster).await.expect(200);
    assert_eq!(credits.json["total"], 1, "no ledger line for the refusal");
    assert_eq!(credits.json["escrowed"], 0);
    assert_eq!(
        w.app.get("/v1/tasks/mine", &w.poster).await.json["total"],
        0
    );
    assert_eq!(
        w.app.get("/v1/tasks/available", &w.worker).await.json["total"],
        0,
        "the refused task is not on offer"
    );

    // Spending the whole balance is fine; one more credit is not.
    w.new_task(json!({"need": "all in", "max_credits": 100}))
        .await;
    let r = w
        .create(json!({"need": "one more", "max_credits": 1}))
        .await
        .expect(402);
    assert_eq!(r.error(), "Insufficient credits. Have 0, need 1");
    assert_eq!(w.app.credits(&w.poster).await, 0);
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn create_with_wait_returns_the_task_as_posted_when_nobody_delivers() {
    let w = world().await;
    let r = w
        .create(json!({"need": "quick", "max_credits": 5, "wait": 1}))
        .await
        .expect(201);
    assert_eq!(r.json["status"], "posted");
    assert_eq!(r.json["need"], "quick");
    assert_eq!(r.header("x-status"), Some("posted"));
    // The task stays open after the wait.
    let id = id_of(&r);
    w.act(&w.worker, &id, "pickup", json!({})).await.expect(200);
}

#[tokio::test]
async fn create_with_wait_returns_the_delivery() {
    let w = Arc::new(world().await);
    let worker = {
        let w = w.clone();
        tokio::spawn(async move {
            for _ in 0..500 {
                let r = w
                    .app
                    .call("POST", "/v1/tasks/pickup", Some(&w.worker), None)
                    .await;
                if r.status == 200 {
                    let id = id_of(&r);
                    w.act(
                        &w.worker,
                        &id,
                        "deliver",
                        json!({"result": "fast answer", "credits_claimed": 4}),
                    )
                    .await
                    .expect(200);
                    return id;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("nothing to pick up");
        })
    };
    let r = w
        .create(json!({"need": "quick", "max_credits": 6, "wait": 30}))
        .await
        .expect(200);
    let id = worker.await.unwrap();
    assert_eq!(r.json["task_id"], id.as_str());
    assert_eq!(r.json["status"], "delivered");
    assert_eq!(r.json["result"], "fast answer");
    assert_eq!(r.json["credits_charged"], 4);
    assert_eq!(r.json["worker_id"], w.worker_id.as_str());
    assert_eq!(r.header("x-credits-charged"), Some("4"));
    assert_eq!(r.header("x-status"), Some("delivered"));
}

#[tokio::test]
async fn create_with_wait_reports_the_current_state_when_claimed_but_undelivered() {
    let w = Arc::new(world().await);
    let worker = {
        let w = w.clone();
        tokio::spawn(async move {
            for _ in 0..500 {
                let r = w
                    .app
                    .call("POST", "/v1/tasks/pickup", Some(&w.worker), None)
                    .await;
                if r.status == 200 {
                    return id_of(&r);
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("nothing to pick up");
        })
    };
    let r = w
        .create(json!({"need": "slow", "max_credits": 6, "wait": 2}))
        .await
        .expect(201);
    let id = worker.await.unwrap();
    assert_eq!(r.json["task_id"], id.as_str());
    assert_eq!(
        r.json["status"], "claimed",
        "the task as it stands, not 'posted'"
    );
    assert_eq!(r.header("x-status"), Some("claimed"));
    // The claim goes on: the worker may still deliver.
    w.act(
        &w.worker,
        &id,
        "deliver",
        json!({"result": "late but fine"}),
    )
    .await
    .expect(200);
}

// ---------------------------------------------------------------------------------------------
// GET /v1/tasks/{id}

#[tokio::test]
async fn poll_is_for_poster_and_current_worker_only() {
    let w = world().await;
    let id = w.claimed(10).await;
    assert_eq!(
        w.view(&w.poster, &id).await["worker_id"],
        w.worker_id.as_str()
    );
    let as_worker = w.view(&w.worker, &id).await;
    assert_eq!(as_worker["status"], "claimed");
    assert_eq!(as_worker["claim_deadline"], at(10 * MINUTE));

    let r = w
        .app
        .get(&format!("/v1/tasks/{id}"), &w.stranger)
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    let r = w
        .app
        .get("/v1/tasks/tk-doesnotexist", &w.poster)
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");

    // A released worker no longer sees the task.
    w.act(&w.worker, &id, "abandon", json!({}))
        .await
        .expect(200);
    w.app
        .get(&format!("/v1/tasks/{id}"), &w.worker)
        .await
        .expect(404);
    assert_eq!(w.status(&id).await, "posted");
}

// ---------------------------------------------------------------------------------------------
// GET /v1/tasks/available

#[tokio::test]
async fn available_lists_open_tasks_of_others_oldest_first() {
    let w = world().await;
    let first = w
        .new_task(json!({"need": "First", "context": "ctx", "max_credits": 5,
                          "tags": ["python"], "deadline_minutes": 60}))
        .await;
    w.app.advance(MINUTE).await;
    let second = w
        .new_task(json!({"need": "Second", "max_credits": 6}))
        .await;
    let taken = w.new_task(json!({"need": "Taken", "max_credits": 7})).await;
    w.act(&w.stranger, &taken, "pickup", json!({}))
        .await
        .expect(200);
    let cancelled = w.new_task(json!({"need": "Gone", "max_credits": 1})).await;
    w.act(&w.poster, &cancelled, "cancel", json!({}))
        .await
        .expect(200);
    // The worker's own task is not offered to the worker.
    w.app.post_task(&w.worker, "Mine", 2).await;

    let r = w
        .app
        .get("/v1/tasks/available", &w.worker)
        .await
        .expect(200);
    assert_eq!(r.json["total"], 2);
    let tasks = r.json["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(
        tasks[0],
        json!({
            "task_id": first,
            "need": "First",
            "context": "ctx",
            "max_credits": 5,
            "tags": ["python"],
            "created_at": "2026-01-01T00:00:00.000Z",
            "poster_id": w.poster_id,
            "poster_reputation": 0.0,
            "is_matched": false,
            "match_rank": null,
            "rejection_count": 0,
            "deadline": "2026-01-01T01:00:00.000Z",
        })
    );
    assert_eq!(tasks[1]["task_id"], second.as_str());
    assert_eq!(tasks[1]["created_at"], at(MINUTE));

    // The poster sees neither own tasks nor claimed ones; sees the worker's.
    let r = w
        .app
        .get("/v1/tasks/available", &w.poster)
        .await
        .expect(200);
    assert_eq!(r.json["total"], 1);
    assert_eq!(r.json["tasks"][0]["need"], "Mine");
}

#[tokio::test]
async fn available_filters_by_search_and_tags() {
    let w = world().await;
    let k8s = w
        .new_task(
            json!({"need": "Fix the Kubernetes deployment", "max_credits": 1,
                          "tags": ["DevOps", "k8s"]}),
        )
        .await;
    let ctx = w
        .new_task(
            json!({"need": "Review", "context": "runs on kubernetes", "max_credits": 1,
                          "tags": ["devops"]}),
        )
        .await;
    let py = w
        .new_task(json!({"need": "Python script", "max_credits": 1, "tags": ["python"]}))
        .await;
    let ids = |r: &Resp| r.task_ids();
    let get = |q: &'static str| {
        let app = &w.app;
        let key = w.worker.clone();
        async move {
            app.get(&format!("/v1/tasks/available?{q}"), &key)
                .await
                .expect(200)
        }
    };
    assert_eq!(
        ids(&get("search=KUBERNETES").await),
        vec![k8s.clone(), ctx.clone()]
    );
    assert_eq!(ids(&get("search=script").await), vec![py.clone()]);
    assert_eq!(
        ids(&get("search=nothing-like-it").await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&get("search=").await).len(),
        3,
        "empty search is no filter"
    );
    assert_eq!(
        ids(&get("tags=devops").await),
        vec![k8s.clone(), ctx.clone()]
    );
    assert_eq!(
        ids(&get("tags=devops,K8S").await),
        vec![k8s.clone()],
        "every tag, any case"
    );
    assert_eq!(ids(&get("tags=devops,%20k8s").await), vec![k8s.clone()]);
    assert_eq!(
        ids(&get("tags=dev").await),
        Vec::<String>::new(),
        "whole tags only"
    );
    assert_eq!(
        ids(&get("tags=devops&search=review").await),
        vec![ctx.clone()]
    );
    // Empty tag items are no filter.
    assert_eq!(ids(&get("tags=").await).len(), 3);
    assert_eq!(
        ids(&get("tags=devops,").await),
        vec![k8s.clone(), ctx.clone()]
    );
    assert_eq!(ids(&get("tags=,k8s,%20").await), vec![k8s.clone()]);
    let r = get("tags=python&search=kubernetes").await;
    assert_eq!(r.json["total"], 0);
    assert_eq!(r.json["tasks"], json!([]));
}

#[tokio::test]
async fn available_pages_with_limit_and_offset() {
    let w = world().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            w.new_task(json!({"need": format!("t{i}"), "max_credits": 1}))
                .await,
        );
    }
    let r = w
        .app
        .get("/v1/tasks/available?limit=2&offset=1", &w.worker)
        .await
        .expect(200);
    assert_eq!(r.json["total"], 5, "total counts before paging");
    let page: Vec<&str> = r.json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(page, vec![ids[1].as_str(), ids[2].as_str()]);
    let r = w
        .app
        .get("/v1/tasks/available?offset=5", &w.worker)
        .await
        .expect(200);
    assert_eq!(
        (r.json["total"].clone(), r.json["tasks"].clone()),
        (json!(5), json!([]))
    );

    for query in [
        "limit=0",
        "limit=101",
        "offset=-1",
        "limit=x",
        "offset=y",
        "limit=-3",
    ] {
        let r = w
            .app
            .get(&format!("/v1/tasks/available?{query}"), &w.worker)
            .await
            .expect(422);
        assert!(!r.error().is_empty(), "{query}");
    }
    let r = w
        .app
        .get("/v1/tasks/available?limit=100", &w.worker)
        .await
        .expect(200);
    assert_eq!(r.json["tasks"].as_array().unwrap().len(), 5);
}

// ---------------------------------------------------------------------------------------------
// GET /v1/tasks/mine

#[tokio::test]
async fn mine_lists_by_role_and_status_newest_first() {
    let w = world().await;
    let posted = w
        .new_task(json!({"need": "posted one", "max_credits": 1}))
        .await;
    w.app.advance(MINUTE).await;
    let claimed = w.claimed(2).await;
    w.app.advance(MINUTE).await;
    let delivered = w.delivered(3, 3).await;
    // A task the worker posted and the poster works on.
    w.app.advance(MINUTE).await;
    let reverse = w.app.post_task(&w.worker, "reverse", 4).await;
    w.act(&w.poster, &reverse, "pickup", json!({}))
        .await
        .expect(200);

    let ids = |r: Resp| -> Vec<String> {
        let r = r.expect(200);
        let tasks = r.json["tasks"].as_array().unwrap();
        assert_eq!(r.json["total"].as_u64().unwrap() as usize, tasks.len());
        tasks
            .iter()
            .map(|t| t["task_id"].as_str().unwrap().to_string())
            .collect()
    };
    let mine = |key: &str, q: &str| {
        let path = format!("/v1/tasks/mine{q}");
        let key = key.to_string();
        let app = &w.app;
        async move { app.get(&path, &key).await }
    };
    assert_eq!(
        ids(mine(&w.poster, "").await),
        vec![
            reverse.clone(),
            delivered.clone(),
            claimed.clone(),
            posted.clone()
        ]
    );
    assert_eq!(
        ids(mine(&w.poster, "?role=poster").await),
        vec![delivered.clone(), claimed.clone(), posted.clone()]
    );
    assert_eq!(
        ids(mine(&w.poster, "?role=worker").await),
        vec![reverse.clone()]
    );
    assert_eq!(
        ids(mine(&w.worker, "?role=worker").await),
        vec![delivered.clone(), claimed.clone()]
    );
    assert_eq!(
        ids(mine(&w.worker, "?role=worker&status=claimed").await),
        vec![claimed.clone()]
    );
    assert_eq!(
        ids(mine(&w.poster, "?status=claimed").await),
        vec![reverse.clone(), claimed.clone()]
    );
    assert_eq!(
        ids(mine(&w.poster, "?status=approved").await),
        Vec::<String>::new()
    );
    assert!(ids(mine(&w.stranger, "").await).is_empty());

    // Items are full task views.
    let r = mine(&w.worker, "?status=delivered").await.expect(200);
    let item = &r.json["tasks"][0];
    assert_eq!(item["result"], "the work");
    assert_eq!(item["credits_charged"], 3);
    assert_eq!(item["max_credits"], 3);
    assert_eq!(item["poster_id"], w.poster_id.as_str());
    assert_eq!(item["worker_id"], w.worker_id.as_str());

    // Paging.
    let r = mine(&w.poster, "?limit=1&offset=1").await.expect(200);
    assert_eq!(r.json["total"], 4);
    assert_eq!(r.json["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["tasks"][0]["task_id"], delivered.as_str());

    // A released worker no longer has the task.
    w.act(&w.worker, &claimed, "abandon", json!({}))
        .await
        .expect(200);
    assert_eq!(ids(mine(&w.worker, "?role=worker").await), vec![delivered]);
}

#[tokio::test]
async fn mine_bad_filters_are_400_and_bad_paging_422() {
    let w = world().await;
    let r = w
        .app
        .get("/v1/tasks/mine?role=boss", &w.poster)
        .await
        .expect(400);
    assert_eq!(r.error(), "Invalid role: boss");
    let r = w
        .app
        .get("/v1/tasks/mine?status=done", &w.poster)
        .await
        .expect(400);
    assert_eq!(r.error(), "Invalid status: done");
    for query in ["limit=0", "limit=101", "offset=-1", "limit=ten"] {
        w.app
            .get(&format!("/v1/tasks/mine?{query}"), &w.poster)
            .await
            .expect(422);
    }
    for status in [
        "posted",
        "claimed",
        "delivered",
        "approved",
        "expired",
        "cancelled",
    ] {
        w.app
            .get(
                &format!("/v1/tasks/mine?status={status}&role=poster"),
                &w.poster,
            )
            .await
            .expect(200);
    }
}

// ---------------------------------------------------------------------------------------------
// POST /v1/tasks/pickup

#[tokio::test]
async fn pickup_claims_the_oldest_open_task_with_headers() {
    let w = world().await;
    let first = w
        .new_task(
            json!({"need": "first", "context": "c", "max_credits": 9, "tags": ["a"],
                          "claim_timeout_minutes": 3}),
        )
        .await;
    let second = w
        .new_task(json!({"need": "second", "max_credits": 4}))
        .await;
    w.app.advance(MINUTE).await;
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup", Some(&w.worker), None)
        .await
        .expect(200);
    assert_eq!(r.header("x-task-id"), Some(first.as_str()));
    assert_eq!(r.header("x-budget"), Some("9"));
    assert_eq!(
        r.json,
        json!({
            "task_id": first,
            "poster_id": w.poster_id,
            "need": "first",
            "context": "c",
            "max_credits": 9,
            "tags": ["a"],
            "created_at": "2026-01-01T00:00:00.000Z",
            "poster_reputation": 0.0,
            "deadline": null,
            "claim_deadline": at(4 * MINUTE),
            "claim_timeout_minutes": 3,
            "rejection_count": 0,
            "system_task_type": null,
            "system_payload": null,
        })
    );
    let v = w.view(&w.poster, &first).await;
    assert_eq!(v["status"], "claimed");
    assert_eq!(v["worker_id"], w.worker_id.as_str());

    let r = w
        .app
        .call("POST", "/v1/tasks/pickup", Some(&w.worker), None)
        .await
        .expect(200);
    assert_eq!(r.json["task_id"], second.as_str());
    assert_eq!(
        r.json["claim_deadline"],
        at(11 * MINUTE),
        "default 10 minutes"
    );
    assert_eq!(r.header("x-budget"), Some("4"));

    // Nothing left: 204 with an empty body.
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup", Some(&w.worker), None)
        .await
        .expect(204);
    assert_eq!(r.text, "");
    // The poster never gets their own task.
    w.new_task(json!({"need": "own", "max_credits": 1})).await;
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup", Some(&w.poster), None)
        .await
        .expect(204);
    assert_eq!(r.text, "");
    // No credits move on a claim.
    assert_eq!(w.balances().await, (86, 100));
}

#[tokio::test]
async fn pickup_filters_by_search_and_tags_in_the_query() {
    let w = world().await;
    let plain = w
        .new_task(json!({"need": "plain work", "max_credits": 1}))
        .await;
    let k8s = w
        .new_task(
            json!({"need": "Fix", "context": "Kubernetes cluster", "max_credits": 1,
                          "tags": ["devops"]}),
        )
        .await;
    let py = w
        .new_task(json!({"need": "Python", "max_credits": 1, "tags": ["python", "data"]}))
        .await;
    let pick = |q: &'static str| {
        let app = &w.app;
        let key = w.worker.clone();
        async move {
            app.call("POST", &format!("/v1/tasks/pickup?{q}"), Some(&key), None)
                .await
        }
    };
    pick("tags=python,web").await.expect(204);
    pick("search=golang").await.expect(204);
    assert_eq!(
        pick("tags=DATA,python").await.expect(200).json["task_id"],
        py.as_str()
    );
    assert_eq!(
        pick("search=kubernetes").await.expect(200).json["task_id"],
        k8s.as_str()
    );
    pick("tags=devops").await.expect(204);
    assert_eq!(
        pick("tags=").await.expect(200).json["task_id"],
        plain.as_str()
    );
}

// ---------------------------------------------------------------------------------------------
// POST /v1/tasks/pickup/batch

#[tokio::test]
async fn batch_pickup_claims_up_to_count() {
    let w = world().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            w.new_task(json!({"need": format!("t{i}"), "max_credits": i + 1}))
                .await,
        );
    }
    let r = w
        .app
        .post("/v1/tasks/pickup/batch", &w.worker, json!({"count": 2}))
        .await
        .expect(200);
    assert_eq!(r.json["total"], 2);
    let got: Vec<&str> = r.json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[0].as_str(), ids[1].as_str()]);
    assert_eq!(r.json["tasks"][1]["max_credits"], 2);
    assert_eq!(r.json["tasks"][0]["claim_deadline"], at(10 * MINUTE));
    assert_eq!(w.status(&ids[1]).await, "claimed");

    // Default count is 5; only 5 of the remaining 5 are there.
    let r = w
        .app
        .post("/v1/tasks/pickup/batch", &w.stranger, json!({}))
        .await
        .expect(200);
    assert_eq!(r.json["total"], 5);
    assert_eq!(r.json["tasks"].as_array().unwrap().len(), 5);
    assert_eq!(w.status(&ids[6]).await, "claimed");

    // Nothing left: 200 with an empty list, never 204.
    let r = w
        .app
        .post("/v1/tasks/pickup/batch", &w.worker, json!({"count": 10}))
        .await
        .expect(200);
    assert_eq!(
        r.json,
        json!({"tasks": [], "total": 0, "next_cursor": null, "total_capped": false})
    );
}

#[tokio::test]
async fn batch_pickup_filters_and_validates() {
    let w = world().await;
    let a = w
        .new_task(json!({"need": "data cleaning", "max_credits": 1, "tags": ["python"]}))
        .await;
    w.new_task(json!({"need": "data viz", "max_credits": 1, "tags": ["js"]}))
        .await;
    w.new_task(json!({"need": "other", "max_credits": 1, "tags": ["python"]}))
        .await;
    for (body, says) in [
        (json!({"count": 0}), "count must be between 1 and 10"),
        (json!({"count": 11}), "count must be between 1 and 10"),
        (json!({"count": "many"}), "Invalid request body"),
        (json!({"tags": [1]}), "Invalid request body"),
    ] {
        let r = w
            .app
            .post("/v1/tasks/pickup/batch", &w.worker, body.clone())
            .await
            .expect(400);
        assert!(r.error().contains(says), "{body}: {}", r.error());
    }
    let r = w
        .app
        .post(
            "/v1/tasks/pickup/batch",
            &w.worker,
            json!({"count": 5, "tags": ["python"], "search": "DATA"}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["total"], 1);
    assert_eq!(r.json["tasks"][0]["task_id"], a.as_str());
    let avail = w.app.get("/v1/tasks/available", &w.worker).await;
    assert_eq!(
        avail.json["total"], 2,
        "the refused batches claimed nothing"
    );
    // Empty tag items are no filter.
    let r = w
        .app
        .post(
            "/v1/tasks/pickup/batch",
            &w.worker,
            json!({"count": 1, "tags": ["", "python"]}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["tasks"][0]["need"], "other");
    let r = w
        .app
        .post("/v1/tasks/pickup/batch", &w.worker, json!({"tags": ""}))
        .await
        .expect(200);
    assert_eq!(r.json["total"], 1);
    assert_eq!(r.json["tasks"][0]["need"], "data viz");
}

// ---------------------------------------------------------------------------------------------
// POST /v1/tasks/{id}/pickup

#[tokio::test]
async fn targeted_pickup_claims_that_task() {
    let w = world().await;
    let older = w.new_task(json!({"need": "older", "max_credits": 1})).await;
    let wanted = w
        .new_task(json!({"need": "wanted", "max_credits": 8}))
        .await;
    let r = w
        .act(&w.worker, &wanted, "pickup", json!({}))
        .await
        .expect(200);
    assert_eq!(r.json["task_id"], wanted.as_str());
    assert_eq!(r.header("x-task-id"), Some(wanted.as_str()));
    assert_eq!(r.header("x-budget"), Some("8"));
    assert_eq!(w.status(&wanted).await, "claimed");
    assert_eq!(w.status(&older).await, "posted");
}

#[tokio::test]
async fn targeted_pickup_refusals() {
    let w = world().await;
    let r = w
        .act(&w.worker, "tk-nope", "pickup", json!({}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");

    let own = w.new_task(json!({"need": "own", "max_credits": 1})).await;
    let r = w
        .act(&w.poster, &own, "pickup", json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Cannot pick up your own task");

    w.act(&w.worker, &own, "pickup", json!({}))
        .await
        .expect(200);
    let r = w
        .act(&w.worker, &own, "pickup", json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is claimed, not posted");
    let r = w
        .act(&w.poster, &own, "pickup", json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is claimed, not posted");
    // A stranger learns nothing about the state of someone else's task.
    let r = w
        .act(&w.stranger, &own, "pickup", json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is not available for pickup");

    let gone = w.new_task(json!({"need": "gone", "max_credits": 1})).await;
    w.act(&w.poster, &gone, "cancel", json!({}))
        .await
        .expect(200);
    let r = w
        .act(&w.stranger, &gone, "pickup", json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is not available for pickup");
    assert_eq!(w.status(&own).await, "claimed");
    assert_eq!(
        w.view(&w.poster, &own).await["worker_id"],
        w.worker_id.as_str()
    );
}

// ---------------------------------------------------------------------------------------------
// POST /v1/tasks/{id}/deliver

#[tokio::test]
async fn deliver_records_the_result_and_charge() {
    let w = world().await;
    let id = w.claimed(15).await;
    w.app.advance(2 * MINUTE).await;
    let r = w
        .act(
            &w.worker,
            &id,
            "deliver",
            json!({"result": "Found 3 issues", "credits_claimed": 12}),
        )
        .await
        .expect(200);
    assert_eq!(r.header("x-task-id"), Some(id.as_str()));
    assert_eq!(r.header("x-status"), Some("delivered"));
    assert_eq!(r.header("x-credits-charged"), Some("12"));
    assert_eq!(r.json["status"], "delivered");
    assert_eq!(r.json["result"], "Found 3 issues");
    assert_eq!(r.json["credits_charged"], 12);
    assert_eq!(r.json["worker_id"], w.worker_id.as_str());
    assert_eq!(r.json["delivered_at"], at(2 * MINUTE));
    assert_eq!(r.json["review_deadline"], at(32 * MINUTE));
    assert_eq!(r.json["claim_deadline"], Value::Null);
    // Delivery moves no credits yet.
    assert_eq!(w.balances().await, (85, 100));
    let poll = w
        .app
        .get(&format!("/v1/tasks/{id}"), &w.poster)
        .await
        .expect(200);
    assert_eq!(poll.json["result"], "Found 3 issues");
    assert_eq!(poll.header("x-credits-charged"), Some("12"));
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn deliver_charge_defaults_to_and_is_capped_at_max_credits() {
    let w = world().await;
    for (body, charged) in [
        (json!({"result": "r"}), 10),
        (json!({"result": "r", "credits_claimed": 999}), 10),
        (json!({"result": "r", "credits_claimed": "7"}), 7),
        (json!({"result": "r", "credits_claimed": 1}), 1),
        (json!({"result": "r", "credits_claimed": 10}), 10),
        (json!({"result": "r", "credits_claimed": null}), 10),
    ] {
        let id = w.claimed(10).await;
        let r = w
            .act(&w.worker, &id, "deliver", body.clone())
            .await
            .expect(200);
        assert_eq!(r.json["credits_charged"], charged, "{body}");
        let charged_header = charged.to_string();
        assert_eq!(r.header("x-credits-charged"), Some(charged_header.as_str()));
    }
}

#[tokio::test]
async fn deliver_validation_errors_are_400_and_change_nothing() {
    let w = world().await;
    let id = w.claimed(10).await;
    for (body, says) in [
        (json!({}), "Missing result"),
        (json!({"result": ""}), "Missing result"),
        (json!({"result": "  \n"}), "Missing result"),
        (json!({"result": null}), "Missing result"),
        (
            json!({"result": "r".repeat(500_001)}),
            "result must be at most 500000 characters",
        ),
        (
            json!({"result": "r", "credits_claimed": 0}),
            "credits_claimed must be at least 1",
        ),
        (
            json!({"result": "r", "credits_claimed": -5}),
            "credits_claimed must be at least 1",
        ),
        (
            json!({"result": "r", "credits_claimed": "abc"}),
            "Invalid request body",
        ),
        (
            json!({"result": "r", "credits_claimed": 2.5}),
            "Invalid request body",
        ),
        (json!({"result": 42}), "Invalid request body"),
    ] {
        let r = w
            .act(&w.worker, &id, "deliver", body.clone())
            .await
            .expect(400);
        let shown: String = body.to_string().chars().take(60).collect();
        assert!(r.error().contains(says), "{shown}: {}", r.error());
    }
    let v = w.view(&w.poster, &id).await;
    assert_eq!(v["status"], "claimed");
    assert_eq!(v["result"], Value::Null);

    // Exactly 500,000 characters is a valid result.
    let r = w
        .act(
            &w.worker,
            &id,
            "deliver",
            json!({"result": "é".repeat(500_000)}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["result"].as_str().unwrap().chars().count(), 500_000);
}

#[tokio::test]
async fn deliver_by_the_wrong_agent_or_in_the_wrong_state() {
    let w = world().await;
    let r = w
        .act(&w.worker, "tk-missing", "deliver", json!({"result": "r"}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");

    let posted = w.new_task(json!({"need": "n", "max_credits": 5})).await;
    let r = w
        .act(&w.worker, &posted, "deliver", json!({"result": "r"}))
        .await
        .expect(404);
    assert_eq!(
        r.error(),
        "Task not found",
        "not the worker of a posted task"
    );
    let r = w
        .act(&w.poster, &posted, "deliver", json!({"result": "r"}))
        .await
        .expect(403);
    assert_eq!(r.error(), "Not your task");

    let id = w.claimed(5).await;
    let r = w
        .act(&w.stranger, &id, "deliver", json!({"result": "r"}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    let r = w
        .act(&w.poster, &id, "deliver", json!({"result": "r"}))
        .await
        .expect(403);
    assert_eq!(r.error(), "Not your task");

    w.act(&w.worker, &id, "deliver", json!({"result": "first"}))
        .await
        .expect(200);
    let r = w
        .act(&w.worker, &id, "deliver", json!({"result": "second"}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is delivered, not claimed");
    assert_eq!(w.view(&w.poster, &id).await["result"], "first");
}

// ---------------------------------------------------------------------------------------------
// POST /v1/tasks/{id}/approve

#[tokio::test]
async fn approve_pays_the_worker_refunds_the_poster_and_rates() {
    let w = world().await;
    let id = w.delivered(15, 12).await;
    assert_eq!(w.balances().await, (85, 100));
    let r = w
        .act(
            &w.poster,
            &id,
            "approve",
            json!({"rating": 5, "feedback": "great"}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["status"], "approved");
    assert_eq!(r.json["credits_charged"], 12);
    assert_eq!(r.json["result"], "the work");
    assert_eq!(r.json["review_deadline"], Value::Null);
    assert_eq!(r.header("x-status"), Some("approved"));
    assert_eq!(r.header("x-credits-charged"), Some("12"));
    assert_eq!(w.balances().await, (88, 111));
    let worker = w.app.get("/v1/me", &w.worker).await.json;
    assert_eq!(worker["reputation"], 5.0);
    assert_eq!(worker["tasks_completed"], 1);
    // The platform fee went to the platform account.
    let fee = w.app.get("/v1/me/credits", &w.worker).await.json;
    assert_eq!(fee["ledger"][0]["amount"], 11);

    let r = w
        .act(&w.poster, &id, "approve", json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is approved, not delivered");
    assert_eq!(w.balances().await, (88, 111), "no second payout");
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn approve_without_body_or_rating() {
    let w = world().await;
    let id = w.delivered(50, 50).await;
    let r = w
        .app
        .call(
            "POST",
            &format!("/v1/tasks/{id}/approve"),
            Some(&w.poster),
            None,
        )
        .await
        .expect(200);
    assert_eq!(r.json["status"], "approved");
    // 50 charged: fee 5, worker 45, nothing back.
    assert_eq!(w.balances().await, (50, 145));
    let worker = w.app.get("/v1/me", &w.worker).await.json;
    assert_eq!(worker["reputation"], 0.0, "no rating given");
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn approve_refusals() {
    let w = world().await;
    let id = w.delivered(10, 10).await;
    for (body, says) in [
        (json!({"rating": 0}), "rating must be between 1 and 5"),
        (json!({"rating": 6}), "rating must be between 1 and 5"),
        (json!({"rating": -1}), "rating must be between 1 and 5"),
        (
            json!({"rating": 1_000_000}),
            "rating must be between 1 and 5",
        ),
        (json!({"rating": "great"}), "Invalid request body"),
        (json!({"rating": 4.5}), "Invalid request body"),
        (
            json!({"rating": 5, "feedback": "f".repeat(5_001)}),
            "feedback must be at most 5000 characters",
        ),
    ] {
        let r = w
            .act(&w.poster, &id, "approve", body.clone())
            .await
            .expect(400);
        let shown: String = body.to_string().chars().take(60).collect();
        assert!(r.error().contains(says), "{shown}: {}", r.error());
    }
    let r = w
        .act(&w.worker, &id, "approve", json!({}))
        .await
        .expect(403);
    assert_eq!(r.error(), "Not your task");
    let r = w
        .act(&w.stranger, &id, "approve", json!({}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    let r = w
        .act(&w.poster, "tk-missing", "approve", json!({}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    assert_eq!(w.status(&id).await, "delivered");
    assert_eq!(w.balances().await, (90, 100));

    let claimed = w.claimed(5).await;
    let r = w
        .act(&w.poster, &claimed, "approve", json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is claimed, not delivered");
    let posted = w.new_task(json!({"need": "n", "max_credits": 5})).await;
    let r = w
        .act(&w.poster, &posted, "approve", json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is posted, not delivered");
    // Exactly 5,000 characters of feedback and rating 1 are fine.
    w.act(
        &w.poster,
        &id,
        "approve",
        json!({"rating": 1, "feedback": "f".repeat(5_000)}),
    )
    .await
    .expect(200);
    assert_eq!(w.app.get("/v1/me", &w.worker).await.json["reputation"], 1.0);
    w.app.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// POST /v1/tasks/{id}/reject

#[tokio::test]
async fn reject_keeps_the_worker_for_a_grace_period() {
    let w = world().await;
    let id = w.delivered(10, 8).await;
    w.app.advance(MINUTE).await;
    let r = w
        .act(
            &w.poster,
            &id,
            "reject",
            json!({"reason": "Missing error handling", "feedback": "add try/catch"}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["status"], "claimed");
    assert_eq!(r.json["worker_id"], w.worker_id.as_str());
    assert_eq!(r.json["rejection_reason"], "Missing error handling");
    assert_eq!(r.json["rejection_count"], 1);
    assert_eq!(r.json["rejection_grace_deadline"], at(6 * MINUTE));
    assert_eq!(r.json["claim_deadline"], at(6 * MINUTE));
    assert_eq!(r.json["result"], Value::Null);
    assert_eq!(r.json["credits_charged"], Value::Null);
    assert_eq!(r.header("x-status"), Some("claimed"));
    assert_eq!(r.header("x-credits-charged"), None);
    assert_eq!(w.balances().await, (90, 100), "rejection moves no credits");

    // The worker re-delivers within the window without picking up again.
    w.app.advance(4 * MINUTE).await;
    let r = w
        .act(
            &w.worker,
            &id,
            "deliver",
            json!({"result": "with error handling"}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["status"], "delivered");
    assert_eq!(r.json["rejection_count"], 1);
    assert_eq!(r.json["rejection_grace_deadline"], Value::Null);
    // The old grace deadline passes: the delivery is untouched.
    w.app.advance(2 * MINUTE).await;
    assert_eq!(w.status(&id).await, "delivered");
    w.act(&w.poster, &id, "approve", json!({}))
        .await
        .expect(200);
    assert_eq!(w.balances().await, (90, 109));
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn reject_grace_expiry_releases_the_worker() {
    let w = world().await;
    let id = w.delivered(10, 10).await;
    w.act(&w.poster, &id, "reject", json!({"reason": "wrong"}))
        .await
        .expect(200);
    w.app.advance(5 * MINUTE - 1).await;
    assert_eq!(w.status(&id).await, "claimed");
    w.app.advance(1).await;
    let v = w.view(&w.poster, &id).await;
    assert_eq!(v["status"], "posted");
    assert_eq!(v["worker_id"], Value::Null);
    assert_eq!(v["rejection_count"], 1);
    assert_eq!(v["rejection_grace_deadline"], Value::Null);
    assert_eq!(v["claim_deadline"], Value::Null);
    w.app
        .get(&format!("/v1/tasks/{id}"), &w.worker)
        .await
        .expect(404);
    let r = w
        .act(&w.worker, &id, "deliver", json!({"result": "late"}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");

    // Browsing shows the rejection count; a new worker gets a fresh claim window.
    let avail = w.app.get("/v1/tasks/available", &w.stranger).await.json;
    assert_eq!(avail["tasks"][0]["rejection_count"], 1);
    let r = w
        .act(&w.stranger, &id, "pickup", json!({}))
        .await
        .expect(200);
    assert_eq!(r.json["rejection_count"], 1);
    assert_eq!(r.json["claim_deadline"], at(15 * MINUTE));
    w.app.advance(9 * MINUTE).await;
    assert_eq!(w.status(&id).await, "claimed");
    assert_eq!(w.balances().await, (90, 100));
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn third_rejection_releases_the_worker_at_once() {
    let w = world().await;
    let id = w.delivered(10, 10).await;
    for n in 1..=2 {
        let r = w
            .act(
                &w.poster,
                &id,
                "reject",
                json!({"reason": format!("no {n}")}),
            )
            .await
            .expect(200);
        assert_eq!(r.json["status"], "claimed");
        assert_eq!(r.json["rejection_count"], n);
        w.act(
            &w.worker,
            &id,
            "deliver",
            json!({"result": format!("try {}", n + 1)}),
        )
        .await
        .expect(200);
    }
    let r = w
        .act(&w.poster, &id, "reject", json!({"reason": "no 3"}))
        .await
        .expect(200);
    assert_eq!(r.json["status"], "posted");
    assert_eq!(r.json["worker_id"], Value::Null);
    assert_eq!(r.json["rejection_count"], 3);
    assert_eq!(r.json["rejection_reason"], "no 3");
    assert_eq!(r.json["rejection_grace_deadline"], Value::Null);
    assert_eq!(r.header("x-status"), Some("posted"));
    w.app
        .get(&format!("/v1/tasks/{id}"), &w.worker)
        .await
        .expect(404);
    // The escrow is still held for the reopened task.
    assert_eq!(w.balances().await, (90, 100));
    let credits = w.app.get("/v1/me/credits", &w.poster).await.json;
    assert_eq!(credits["escrowed"], 10);
    let avail = w.app.get("/v1/tasks/available", &w.stranger).await.json;
    assert_eq!(avail["tasks"][0]["task_id"], id.as_str());
    assert_eq!(avail["tasks"][0]["rejection_count"], 3);
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn reject_refusals() {
    let w = world().await;
    let id = w.delivered(10, 10).await;
    for (body, says) in [
        (json!({}), "Missing required field: reason"),
        (json!({"reason": ""}), "Missing required field: reason"),
        (json!({"reason": "   "}), "Missing required field: reason"),
        (
            json!({"feedback": "only feedback"}),
            "Missing required field: reason",
        ),
        (
            json!({"reason": "r".repeat(5_001)}),
            "reason must be at most 5000 characters",
        ),
        (
            json!({"reason": "r", "feedback": "f".repeat(5_001)}),
            "feedback must be at most 5000 characters",
        ),
        (json!({"reason": 7}), "Invalid request body"),
    ] {
        let r = w
            .act(&w.poster, &id, "reject", body.clone())
            .await
            .expect(400);
        let shown: String = body.to_string().chars().take(60).collect();
        assert!(r.error().contains(says), "{shown}: {}", r.error());
    }
    let r = w
        .act(&w.worker, &id, "reject", json!({"reason": "self"}))
        .await
        .expect(403);
    assert_eq!(r.error(), "Not your task");
    let r = w
        .act(&w.stranger, &id, "reject", json!({"reason": "x"}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    let r = w
        .act(&w.poster, "tk-missing", "reject", json!({"reason": "x"}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    let v = w.view(&w.poster, &id).await;
    assert_eq!(
        (v["status"].clone(), v["rejection_count"].clone()),
        (json!("delivered"), json!(0))
    );

    let claimed = w.claimed(5).await;
    let r = w
        .act(&w.poster, &claimed, "reject", json!({"reason": "x"}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is claimed, not delivered");
    w.act(&w.poster, &id, "approve", json!({}))
        .await
        .expect(200);
    let r = w
        .act(&w.poster, &id, "reject", json!({"reason": "x"}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is approved, not delivered");
    // A reason of exactly 5,000 characters is accepted.
    let other = w.delivered(5, 5).await;
    let r = w
        .act(
            &w.poster,
            &other,
            "reject",
            json!({"reason": "r".repeat(5_000)}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["rejection_count"], 1);
}

// ---------------------------------------------------------------------------------------------
// POST /v1/tasks/{id}/cancel

#[tokio::test]
async fn cancel_refunds_a_posted_task() {
    let w = world().await;
    let id = w.new_task(json!({"need": "n", "max_credits": 30})).await;
    assert_eq!(w.app.credits(&w.poster).await, 70);
    let r = w.act(&w.poster, &id, "cancel", json!({})).await.expect(200);
    assert_eq!(r.json["status"], "cancelled");
    assert_eq!(r.json["task_id"], id.as_str());
    assert_eq!(r.header("x-status"), Some("cancelled"));
    let c = w.app.get("/v1/me/credits", &w.poster).await.json;
    assert_eq!(c["balance"], 100);
    assert_eq!(c["escrowed"], 0);
    assert_eq!(c["ledger"][0]["amount"], 30);
    assert_eq!(c["ledger"][0]["reason"], "refund");
    assert_eq!(c["ledger"][0]["task_id"], id.as_str());
    assert_eq!(
        w.app.get("/v1/tasks/available", &w.worker).await.json["total"],
        0
    );
    w.app
        .call("POST", "/v1/tasks/pickup", Some(&w.worker), None)
        .await
        .expect(204);

    let r = w.act(&w.poster, &id, "cancel", json!({})).await.expect(409);
    assert_eq!(r.error(), "Task is cancelled, can only cancel posted tasks");
    assert_eq!(w.app.credits(&w.poster).await, 100, "refunded once");
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn cancel_refusals() {
    let w = world().await;
    let posted = w.new_task(json!({"need": "n", "max_credits": 5})).await;
    let r = w
        .act(&w.stranger, &posted, "cancel", json!({}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    let r = w
        .act(&w.poster, "tk-missing", "cancel", json!({}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");

    let claimed = w.claimed(10).await;
    let r = w
        .act(&w.worker, &claimed, "cancel", json!({}))
        .await
        .expect(403);
    assert_eq!(r.error(), "Not your task");
    let r = w
        .act(&w.poster, &claimed, "cancel", json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is claimed, can only cancel posted tasks");
    let delivered = w.delivered(10, 10).await;
    let r = w
        .act(&w.poster, &delivered, "cancel", json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is delivered, can only cancel posted tasks");
    assert_eq!(w.status(&posted).await, "posted");
    assert_eq!(w.status(&claimed).await, "claimed");
    assert_eq!(w.app.credits(&w.poster).await, 75);
}

// ---------------------------------------------------------------------------------------------
// POST /v1/tasks/{id}/abandon

#[tokio::test]
async fn abandon_gives_the_task_back() {
    let w = world().await;
    let id = w
        .new_task(json!({"need": "hard", "context": "ctx", "max_credits": 12}))
        .await;
    w.act(&w.worker, &id, "pickup", json!({})).await.expect(200);
    let r = w
        .act(&w.worker, &id, "abandon", json!({}))
        .await
        .expect(200);
    assert_eq!(
        r.json,
        json!({
            "id": id,
            "task_id": id,
            "poster_id": w.poster_id,
            "worker_id": null,
            "need": "hard",
            "context": "ctx",
            "status": "posted",
            "max_credits": 12,
        })
    );
    let v = w.view(&w.poster, &id).await;
    assert_eq!(v["status"], "posted");
    assert_eq!(v["worker_id"], Value::Null);
    assert_eq!(v["claim_deadline"], Value::Null);
    assert_eq!(w.balances().await, (88, 100));
    // Someone else may take it now.
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup", Some(&w.stranger), None)
        .await
        .expect(200);
    assert_eq!(r.json["task_id"], id.as_str());
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn abandon_refusals() {
    let w = world().await;
    let r = w
        .act(&w.worker, "tk-missing", "abandon", json!({}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    let id = w.claimed(10).await;
    let r = w
        .act(&w.poster, &id, "abandon", json!({}))
        .await
        .expect(403);
    assert_eq!(r.error(), "Not your task");
    let r = w
        .act(&w.stranger, &id, "abandon", json!({}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    w.act(&w.worker, &id, "deliver", json!({"result": "r"}))
        .await
        .expect(200);
    let r = w
        .act(&w.worker, &id, "abandon", json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is delivered, not claimed");
    assert_eq!(w.status(&id).await, "delivered");
}

#[tokio::test]
async fn abandon_is_allowed_during_the_rejection_grace() {
    let w = world().await;
    let id = w.delivered(10, 10).await;
    w.act(&w.poster, &id, "reject", json!({"reason": "no"}))
        .await
        .expect(200);
    let r = w
        .act(&w.worker, &id, "abandon", json!({}))
        .await
        .expect(200);
    assert_eq!(r.json["status"], "posted");
    let v = w.view(&w.poster, &id).await;
    assert_eq!(v["rejection_grace_deadline"], Value::Null);
    assert_eq!(v["rejection_count"], 1);
    // The next worker is not evicted by the old grace deadline.
    w.act(&w.stranger, &id, "pickup", json!({}))
        .await
        .expect(200);
    w.app.advance(6 * MINUTE).await;
    assert_eq!(w.status(&id).await, "claimed");
}

#[tokio::test]
async fn five_abandons_start_a_cooldown_and_a_served_cooldown_resets_the_count() {
    let w = world().await;
    let ids: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(
                w.new_task(json!({"need": format!("t{i}"), "max_credits": 1}))
                    .await,
            );
        }
        v
    };
    let abandon_once = |id: String| {
        let w = &w;
        async move {
            w.act(&w.worker, &id, "pickup", json!({})).await.expect(200);
            w.act(&w.worker, &id, "abandon", json!({}))
                .await
                .expect(200);
        }
    };
    for _ in 0..4 {
        abandon_once(ids[0].clone()).await;
    }
    // Four abandons: still free to work.
    w.act(&w.worker, &ids[1], "pickup", json!({}))
        .await
        .expect(200);
    w.act(&w.worker, &ids[1], "abandon", json!({}))
        .await
        .expect(200);

    // Five: every pickup form refuses for 30 minutes.
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup", Some(&w.worker), None)
        .await
        .expect(429);
    assert_eq!(
        r.error(),
        "Too many abandons. Cooldown until 2026-01-01T00:30:00.000Z"
    );
    assert_eq!(r.header("retry-after"), Some("1800"));
    let r = w
        .act(&w.worker, &ids[2], "pickup", json!({}))
        .await
        .expect(429);
    assert!(r.error().starts_with("Too many abandons"), "{}", r.error());
    let r = w
        .app
        .post("/v1/tasks/pickup/batch", &w.worker, json!({"count": 2}))
        .await
        .expect(429);
    assert!(r.error().starts_with("Too many abandons"), "{}", r.error());
    // Browsing stays allowed, and others can still pick up.
    assert_eq!(
        w.app.get("/v1/tasks/available", &w.worker).await.json["total"],
        3
    );
    assert_eq!(w.status(&ids[2]).await, "posted");

    w.app.advance(30 * MINUTE - 1000).await;
    let r = w
        .act(&w.worker, &ids[2], "pickup", json!({}))
        .await
        .expect(429);
    assert_eq!(r.header("retry-after"), Some("1"));
    w.app.advance(1000).await;
    w.act(&w.worker, &ids[2], "pickup", json!({}))
        .await
        .expect(200);

    // The served cooldown reset the count: this abandon is the first of a new series.
    w.act(&w.worker, &ids[2], "abandon", json!({}))
        .await
        .expect(200);
    for _ in 0..3 {
        abandon_once(ids[0].clone()).await;
    }
    // Four in the new series: still allowed.
    w.act(&w.worker, &ids[1], "pickup", json!({}))
        .await
        .expect(200);
    w.act(&w.worker, &ids[1], "abandon", json!({}))
        .await
        .expect(200);
    // That was the fifth: cooldown again.
    w.act(&w.worker, &ids[0], "pickup", json!({}))
        .await
        .expect(429);
    w.app.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// Timers

#[tokio::test]
async fn claim_timeout_releases_the_worker() {
    let w = world().await;
    let id = w.claimed(10).await;
    w.app.advance(10 * MINUTE - 1).await;
    assert_eq!(w.status(&id).await, "claimed");
    w.app.advance(1).await;
    let v = w.view(&w.poster, &id).await;
    assert_eq!(v["status"], "posted");
    assert_eq!(v["worker_id"], Value::Null);
    assert_eq!(v["claim_deadline"], Value::Null);
    let r = w
        .act(&w.worker, &id, "deliver", json!({"result": "too late"}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    assert_eq!(w.balances().await, (90, 100));

    // A custom claim timeout; the task is claimable again.
    let custom = w
        .new_task(json!({"need": "n", "max_credits": 1, "claim_timeout_minutes": 3}))
        .await;
    let r = w
        .act(&w.stranger, &custom, "pickup", json!({}))
        .await
        .expect(200);
    assert_eq!(r.json["claim_deadline"], at(13 * MINUTE));
    w.app.advance(3 * MINUTE).await;
    assert_eq!(w.status(&custom).await, "posted");
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn review_timeout_approves_and_pays() {
    let w = world().await;
    let id = w.delivered(20, 20).await;
    w.app.advance(30 * MINUTE - 1).await;
    assert_eq!(w.status(&id).await, "delivered");
    w.app.advance(1).await;
    assert_eq!(w.status(&id).await, "approved");
    // 20 charged: fee 2.
    assert_eq!(w.balances().await, (80, 118));
    assert_eq!(
        w.app.get("/v1/me", &w.worker).await.json["tasks_completed"],
        1
    );

    let custom = w
        .new_task(json!({"need": "n", "max_credits": 10, "review_timeout_minutes": 5}))
        .await;
    w.act(&w.worker, &custom, "pickup", json!({}))
        .await
        .expect(200);
    let r = w
        .act(
            &w.worker,
            &custom,
            "deliver",
            json!({"result": "r", "credits_claimed": 6}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["review_deadline"], at(35 * MINUTE));
    w.app.advance(5 * MINUTE).await;
    let v = w.view(&w.poster, &custom).await;
    assert_eq!(v["status"], "approved");
    assert_eq!(v["credits_charged"], 6);
    // 6 charged: fee 0, 4 refunded.
    assert_eq!(w.balances().await, (74, 124));
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn no_review_timeout_when_auto_approve_is_disabled() {
    let app = TestApp::with(|c| c.disable_auto_approve = true).await;
    let w = world_on(app).await;
    let id = w.delivered(10, 10).await;
    assert_eq!(w.view(&w.poster, &id).await["review_deadline"], Value::Null);
    w.app.advance(48 * HOUR).await;
    assert_eq!(w.status(&id).await, "delivered");
    assert_eq!(w.balances().await, (90, 100));
}

#[tokio::test]
async fn deadline_expires_a_posted_task_and_refunds() {
    let w = world().await;
    let id = w
        .new_task(json!({"need": "urgent", "max_credits": 25, "deadline_minutes": 30}))
        .await;
    w.app.advance(30 * MINUTE - 1).await;
    assert_eq!(w.status(&id).await, "posted");
    assert_eq!(w.app.credits(&w.poster).await, 75);
    w.app.advance(1).await;
    assert_eq!(w.status(&id).await, "expired");
    let c = w.app.get("/v1/me/credits", &w.poster).await.json;
    assert_eq!(c["balance"], 100);
    assert_eq!(c["escrowed"], 0);
    assert_eq!(c["ledger"][0]["reason"], "refund");
    w.act(&w.worker, &id, "pickup", json!({})).await.expect(409);
    let r = w.act(&w.poster, &id, "cancel", json!({})).await.expect(409);
    assert_eq!(r.error(), "Task is expired, can only cancel posted tasks");
    // A later tick does not refund twice.
    w.app.advance(HOUR).await;
    assert_eq!(w.app.credits(&w.poster).await, 100);
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn deadline_on_a_claimed_task_releases_the_worker_once() {
    let w = world().await;
    let id = w
        .new_task(json!({"need": "urgent", "max_credits": 10, "deadline_minutes": 5}))
        .await;
    w.act(&w.worker, &id, "pickup", json!({})).await.expect(200);
    w.app.advance(5 * MINUTE).await;
    let v = w.view(&w.poster, &id).await;
    assert_eq!(v["status"], "posted");
    assert_eq!(v["worker_id"], Value::Null);
    assert_eq!(v["deadline"], Value::Null, "the deadline only evicts once");
    assert_eq!(w.app.credits(&w.poster).await, 90, "still escrowed");
    // It lives another 72 hours from the release, then expires with a refund.
    w.app.advance(72 * HOUR - 1).await;
    assert_eq!(w.status(&id).await, "posted");
    w.app.advance(1).await;
    assert_eq!(w.status(&id).await, "expired");
    assert_eq!(w.app.credits(&w.poster).await, 100);
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn a_delivered_task_ignores_its_deadline() {
    let w = world().await;
    let id = w
        .new_task(
            json!({"need": "n", "max_credits": 10, "deadline_minutes": 5,
                          "review_timeout_minutes": 60}),
        )
        .await;
    w.act(&w.worker, &id, "pickup", json!({})).await.expect(200);
    w.act(&w.worker, &id, "deliver", json!({"result": "r"}))
        .await
        .expect(200);
    w.app.advance(10 * MINUTE).await;
    assert_eq!(w.status(&id).await, "delivered");
    w.app.advance(50 * MINUTE).await;
    assert_eq!(w.status(&id).await, "approved");
    assert_eq!(w.balances().await, (90, 109));
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn an_unclaimed_task_expires_after_72_hours() {
    let w = world().await;
    let id = w.new_task(json!({"need": "n", "max_credits": 40})).await;
    let claimed = w.claimed(10).await;
    w.app.advance(72 * HOUR - 1).await;
    assert_eq!(w.status(&id).await, "posted");
    w.app.advance(1).await;
    assert_eq!(w.status(&id).await, "expired");
    // A claimed task does not expire by age (its claim timeout released it long ago, which
    // gave it a fresh lifetime).
    assert_eq!(w.status(&claimed).await, "posted");
    assert_eq!(w.app.credits(&w.poster).await, 90);
    let c = w.app.get("/v1/me/credits", &w.poster).await.json;
    assert_eq!(c["escrowed"], 10);
    assert_eq!(
        w.app
            .get("/v1/tasks/mine?status=expired", &w.poster)
            .await
            .json["total"],
        1
    );
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn browse_and_pickup_show_the_posters_reputation() {
    let w = world().await;
    // The worker earns a 4-star rating, then posts a task of their own.
    let id = w.delivered(10, 10).await;
    w.act(&w.poster, &id, "approve", json!({"rating": 4}))
        .await
        .expect(200);
    let own = w.app.post_task(&w.worker, "from a rated poster", 5).await;
    let avail = w.app.get("/v1/tasks/available", &w.stranger).await.json;
    assert_eq!(avail["tasks"][0]["task_id"], own.as_str());
    assert_eq!(avail["tasks"][0]["poster_reputation"], 4.0);
    let r = w
        .act(&w.stranger, &own, "pickup", json!({}))
        .await
        .expect(200);
    assert_eq!(r.json["poster_reputation"], 4.0);
}

#[tokio::test]
async fn search_folds_ascii_case_and_finds_other_letters_as_written() {
    let w = world().await;
    let id = w
        .new_task(json!({"need": "Übersetzung ins Deutsche", "max_credits": 1}))
        .await;
    for q in [
        "search=DEUTSCHE",
        "search=ins%20deutsche",
        "search=%C3%9Cbersetzung",
        "search=%C3%9CBERSETZUNG%20INS",
    ] {
        let r = w
            .app
            .get(&format!("/v1/tasks/available?{q}"), &w.worker)
            .await
            .expect(200);
        assert_eq!(r.json["total"], 1, "{q}");
        assert_eq!(r.json["tasks"][0]["task_id"], id.as_str());
    }
    // Wildcards of SQL are plain characters.
    for q in ["search=%25", "search=_", "search=Deu%25"] {
        let r = w
            .app
            .get(&format!("/v1/tasks/available?{q}"), &w.worker)
            .await
            .expect(200);
        assert_eq!(r.json["total"], 0, "{q}");
    }
}
