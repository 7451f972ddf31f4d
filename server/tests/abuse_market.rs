//! Abuse of the market's own rules (issue 13, points 8 and 9): posters' work is not shown to
//! whoever declares itself an infra agent, and nobody can take every question slot of a task.

use axum::body::Body;
use axum::http::{Request, header};
use pinchwork_test_kit::{TestApp, world_with};
use serde_json::{Value, json};

const ADMIN: &str = "admin-key-for-tests-0123456789abcdef";

async fn ask(app: &TestApp, key: &str, task: &str, text: &str) -> pinchwork_test_kit::Resp {
    app.post(
        &format!("/v1/tasks/{task}/questions"),
        key,
        json!({"question": text}),
    )
    .await
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    k
}

// ---------------------------------------------------------------------------------------------
// 8. Posters' work is not shown to whoever asks

#[tokio::test]
async fn private_tasks_never_reach_infra_agents() {
    let app = TestApp::new().await;
    let (_, infra) = app
        .register_with("infra", json!({"accepts_system_tasks": true}))
        .await;
    let (skilled_id, skilled) = app
        .register_with("skilled", json!({"good_at": "haiku"}))
        .await;
    let (_, poster) = app.register("poster").await;
    let extract = app.pickup_next(&infra).await.unwrap();
    app.deliver(
        &infra,
        &extract,
        json!({"agent_id": skilled_id, "tags": ["haiku"]}),
    )
    .await;

    // Private (a markdown front-matter field, as any other): no match task; the built-in
    // matcher routes it, as when no infra agent exists.
    let req = Request::post("/v1/tasks")
        .header(header::AUTHORIZATION, format!("Bearer {poster}"))
        .header(header::CONTENT_TYPE, "text/markdown")
        .header(header::ACCEPT, "application/json")
        .body(Body::from(
            "---\nprivate: true\nmax_credits: 10\ncontext: our unreleased product\n---\n\
             Write a haiku about our launch",
        ))
        .unwrap();
    let task = app.send(req).await.expect(201).json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(app.pickup_next(&infra).await.is_none(), "no match task");
    let seen = app.get("/v1/tasks/available", &skilled).await.expect(200);
    assert_eq!(seen.json["tasks"][0]["task_id"], task.as_str());
    assert_eq!(seen.json["tasks"][0]["is_matched"], true);

    // Delivered: no verification, so no infra agent ever reads the result.
    app.post(&format!("/v1/tasks/{task}/pickup"), &skilled, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/tasks/{task}/deliver"),
        &skilled,
        json!({"result": "Secret launch haiku"}),
    )
    .await
    .expect(200);
    assert!(app.pickup_next(&infra).await.is_none(), "no verify task");
    let view = app
        .get(&format!("/v1/tasks/{task}"), &poster)
        .await
        .expect(200);
    assert_eq!(view.json["private"], true);
    assert_eq!(view.json["verification"], Value::Null);
    assert_eq!(view.json["system_work"], json!([]));
    assert_eq!(
        app.credits(&poster).await,
        90,
        "nothing paid for system work"
    );

    // The same task, not private, is matched and verified by an infra agent.
    let open = app.post_task(&poster, "Write a haiku", 10).await;
    let matching = app.pickup_next(&infra).await.expect("a match task");
    assert_eq!(matching["system_payload"]["task"]["task_id"], open.as_str());
    let view = app
        .get(&format!("/v1/tasks/{open}"), &poster)
        .await
        .expect(200);
    assert_eq!(view.json["private"], false);
    app.assert_books_balance().await;
}

#[tokio::test]
async fn system_tasks_carry_only_what_the_job_needs() {
    let app = TestApp::new().await;
    let (_, infra) = app
        .register_with("infra", json!({"accepts_system_tasks": true}))
        .await;
    let (poster_id, poster) = app.register("poster").await;
    let (worker_id, worker) = app.register("worker").await;
    let task = app
        .post(
            "/v1/tasks",
            &poster,
            json!({"need": "Summarise", "context": "a report", "tags": ["docs"],
                   "max_credits": 10}),
        )
        .await
        .expect(201)
        .json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let matching = app.pickup_next(&infra).await.unwrap();
    assert_eq!(
        keys(&matching["system_payload"]),
        ["candidates", "max_ranked", "max_tags", "task"]
    );
    // What the task is, not who posted it.
    assert_eq!(
        matching["system_payload"]["task"],
        json!({"task_id": task, "need": "Summarise", "context": "a report", "tags": ["docs"]})
    );
    app.deliver(&infra, &matching, json!({"ranked_agents": []}))
        .await;

    app.post(&format!("/v1/tasks/{task}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/tasks/{task}/deliver"),
        &worker,
        json!({"result": "The summary"}),
    )
    .await
    .expect(200);
    let verify = app.pickup_next(&infra).await.unwrap();
    // The result to judge and the task it answers; not who posted it nor who did it.
    assert_eq!(keys(&verify["system_payload"]), ["result", "task"]);
    assert_eq!(verify["system_payload"]["result"], "The summary");
    let text = verify.to_string();
    assert!(
        !text.contains(&worker_id),
        "the worker's identity is private"
    );
    assert!(!text.contains(&poster_id), "so is the poster's");
    // Having verified it gives no access to the task itself.
    app.get(&format!("/v1/tasks/{task}"), &infra)
        .await
        .expect(404);
}

// ---------------------------------------------------------------------------------------------
// 9. Nobody takes every question slot

#[tokio::test]
async fn one_asker_cannot_take_every_question_slot() {
    let w = world_with(|_| {}).await;
    let app = &w.app;
    let task = w
        .new_task(json!({"need": "Plan a trip", "max_credits": 5}))
        .await;
    let first = ask(app, &w.stranger, &task, "Where to?")
        .await
        .expect(201)
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    ask(app, &w.stranger, &task, "When?").await.expect(201);
    let r = ask(app, &w.stranger, &task, "How long?").await.expect(429);
    assert_eq!(
        r.error(),
        "Max 2 unanswered questions per asker on a task: wait for the poster's answers"
    );
    // Others still have room, and an answer gives the asker room again.
    ask(app, &w.worker, &task, "Budget?").await.expect(201);
    app.post(
        &format!("/v1/tasks/{task}/questions/{first}/answer"),
        &w.poster,
        json!({"answer": "Lisbon"}),
    )
    .await
    .expect(200);
    ask(app, &w.stranger, &task, "How long?").await.expect(201);
}

#[tokio::test]
async fn questions_of_suspended_askers_stop_counting() {
    let w = world_with(|c| c.admin_key = Some(ADMIN.into())).await;
    let app = &w.app;
    let task = w
        .new_task(json!({"need": "Plan a trip", "max_credits": 5}))
        .await;
    let (spammer_id, spammer) = app.register("spammer").await;
    let (_, late) = app.register("late").await;
    for key in [&spammer, &spammer, &w.stranger, &w.stranger, &w.worker] {
        ask(app, key, &task, "?").await.expect(201);
    }
    assert_eq!(
        ask(app, &late, &task, "?").await.expect(429).error(),
        "Max 5 unanswered questions per task"
    );
    let suspend = |suspended: bool| {
        app.post(
            "/v1/admin/agents/suspend",
            ADMIN,
            json!({"agent_id": spammer_id, "suspended": suspended}),
        )
    };
    suspend(true).await.expect(200);
    ask(app, &late, &task, "?").await.expect(201);
    // Reinstated, its questions count again: the task is full once more.
    suspend(false).await.expect(200);
    let (_, later) = app.register("later").await;
    ask(app, &later, &task, "?").await.expect(429);
}

/// No endpoint deletes an agent; an operator may, in the database. Its questions go too.
#[tokio::test]
async fn questions_of_deleted_askers_stop_counting() {
    let w = world_with(|_| {}).await;
    let app = &w.app;
    let task = w
        .new_task(json!({"need": "Plan a trip", "max_credits": 5}))
        .await;
    let (gone_id, gone) = app.register("gone").await;
    for key in [&gone, &gone, &w.stranger, &w.stranger, &w.worker] {
        ask(app, key, &task, "?").await.expect(201);
    }
    let (_, late) = app.register("late").await;
    ask(app, &late, &task, "?").await.expect(429);
    let delete = format!("DELETE FROM agents WHERE id = '{gone_id}'");
    if app.dir.is_postgres() {
        pinchwork_test_kit::admin(&app.dir.database_url, &delete);
    } else {
        let db = rusqlite::Connection::open(app.dir.path().join("pinchwork.db")).unwrap();
        db.execute_batch(&delete).unwrap();
    }
    ask(app, &late, &task, "?").await.expect(201);
}
