//! Infra agents and system tasks: matching, verification, capability extraction, the phases
//! of pickup, the conflict rules, timeouts, malformed results, and platform payouts.

use pinchwork_server::model::TaskStatus;
use pinchwork_test_kit::{TestApp, match_task};
use serde_json::{Value, json};

const SECOND: i64 = 1_000;

async fn balance(app: &TestApp, key: &str) -> i64 {
    app.credits(key).await
}

#[tokio::test]
async fn a_full_round_with_one_infra_agent() {
    let app = TestApp::new().await;
    let (_, infra) = app
        .register_with("infra", json!({"accepts_system_tasks": true}))
        .await;
    let (poster_id, poster) = app.register("poster").await;
    let (worker_id, worker) = app
        .register_with("worker", json!({"good_at": "python security reviews"}))
        .await;
    let (_, other) = app.register("other").await;

    // Registering with good_at asked for capability extraction: the infra agent sees it first.
    let extract = app.pickup_next(&infra).await.expect("extraction task");
    assert_eq!(extract["system_task_type"], "extract_capabilities");
    assert_eq!(extract["system_payload"]["agent_id"], worker_id.as_str());
    assert_eq!(extract["poster_id"], "ag-platform");
    let done = app
        .deliver(
            &infra,
            &extract,
            json!({"agent_id": worker_id, "tags": ["python", "security"]}),
        )
        .await
        .expect(200);
    assert_eq!(
        done.json["status"], "approved",
        "system work is approved on delivery"
    );
    let me = app.get("/v1/me", &worker).await.expect(200);
    assert_eq!(me.json["capability_tags"], json!(["python", "security"]));

    // A new task: a match task for the infra agent, with the candidates in its payload.
    let task = app
        .post_task(&poster, "Audit this FastAPI endpoint", 20)
        .await;
    let matching = app.pickup_next(&infra).await.expect("match task");
    assert_eq!(matching["system_task_type"], "match_agents");
    let payload = &matching["system_payload"];
    assert_eq!(payload["task"]["task_id"], task.as_str());
    let candidates: Vec<&str> = payload["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["agent_id"].as_str().unwrap())
        .collect();
    assert!(candidates.contains(&worker_id.as_str()));
    assert!(
        !candidates.contains(&poster_id.as_str()),
        "never the poster"
    );
    // While matching is pending the task is open to everyone... but the worker is matched now.
    app.deliver(
        &infra,
        &matching,
        json!({"ranked_agents": [worker_id], "extracted_tags": ["fastapi", "security"]}),
    )
    .await
    .expect(200);

    // Matched: the worker sees it first (is_matched, rank 0); others do not see it yet.
    let browse = app.get("/v1/tasks/available", &worker).await.expect(200);
    assert_eq!(browse.json["tasks"][0]["task_id"], task.as_str());
    assert_eq!(browse.json["tasks"][0]["is_matched"], true);
    assert_eq!(browse.json["tasks"][0]["match_rank"], 0);
    assert_eq!(
        app.get("/v1/tasks/available", &other)
            .await
            .expect(200)
            .json["total"],
        0
    );
    assert!(app.pickup_next(&other).await.is_none());
    let claimed = app.pickup_next(&worker).await.expect("matched task");
    assert_eq!(claimed["task_id"], task.as_str());

    // Delivery spawns verification for the infra agent; the verdict shows on the task.
    app.deliver(&worker, &claimed, json!("Found an injection in line 4"))
        .await
        .expect(200);
    let pending = app
        .get(&format!("/v1/tasks/{task}"), &poster)
        .await
        .expect(200);
    assert_eq!(pending.json["verification"]["status"], "pending");
    let verify = app.pickup_next(&infra).await.expect("verify task");
    assert_eq!(verify["system_task_type"], "verify_completion");
    assert_eq!(
        verify["system_payload"]["result"],
        "Found an injection in line 4"
    );
    app.deliver(
        &infra,
        &verify,
        json!({"meets_requirements": true, "explanation": "Names the flaw and the line"}),
    )
    .await
    .expect(200);
    let verified = app
        .get(&format!("/v1/tasks/{task}"), &poster)
        .await
        .expect(200);
    assert_eq!(
        verified.json["verification"],
        json!({"status": "passed", "meets_requirements": true, "explanation": "Names the flaw and the line"})
    );
    app.post(&format!("/v1/tasks/{task}/approve"), &poster, json!({}))
        .await
        .expect(200);

    // The infra agent earned 2 + 3 + 5 from the platform account, through the ledger.
    assert_eq!(balance(&app, &infra).await, 100 + 2 + 3 + 5);
    let ledger = app.get("/v1/me/credits", &infra).await.expect(200).json["ledger"].clone();
    let payments: Vec<i64> = ledger
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["reason"] == "payment")
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(payments, [5, 3, 2]);
    app.assert_books_balance().await;
}

/// The matcher picks up the match task of `task`, runs `meanwhile` while it holds it, and
/// delivers a ranking of nobody.
async fn match_to_nobody<F: std::future::Future<Output = ()>>(
    app: &TestApp,
    matcher: &str,
    task: &str,
    meanwhile: impl FnOnce() -> F,
) {
    let matching = app.pickup_next(matcher).await.expect("match task");
    assert_eq!(matching["system_payload"]["task"]["task_id"], task);
    meanwhile().await;
    app.deliver(
        matcher,
        &matching,
        json!({"ranked_agents": [], "extracted_tags": []}),
    )
    .await
    .expect(200);
}

/// Whether the agent is marked as having done system work about a task.
async fn marked(app: &TestApp, id: &str) -> bool {
    let id = id.to_string();
    app.state
        .read(move |tx| Box::pin(async move { tx.agent(&id).await }))
        .await
        .unwrap()
        .expect("the agent")
        .did_system_work
}

/// Browse and pickup check every task for system work the viewer did about it only when the
/// viewer is marked: the database marks the worker of any system task about a task, however
/// it became its worker, and nothing unmarks it.
#[tokio::test]
async fn the_workers_of_system_work_about_tasks_are_marked_for_good() {
    let app = TestApp::new().await;
    let (matcher_id, matcher) = app
        .register_with("matcher", json!({"accepts_system_tasks": true}))
        .await;
    let (extractor_id, extractor) = app
        .register_with("extractor", json!({"accepts_system_tasks": true}))
        .await;
    let (poster_id, poster) = app.register("poster").await;
    assert!(
        !marked(&app, &matcher_id).await,
        "nobody is marked at first"
    );

    // Work about an agent (its capabilities) is not about a task.
    app.register_with("skilled", json!({"good_at": "haiku and limericks"}))
        .await;
    let extraction = app.pickup_next(&extractor).await.expect("extraction task");
    assert_eq!(extraction["system_task_type"], "extract_capabilities");
    assert!(!marked(&app, &extractor_id).await);

    // Claiming the match task of a task marks its worker, and delivering it keeps the mark.
    let task = app.post_task(&poster, "Write a haiku", 10).await;
    match_to_nobody(&app, &matcher, &task, || async {
        assert!(marked(&app, &matcher_id).await)
    })
    .await;
    assert!(marked(&app, &matcher_id).await);
    assert!(app.pickup_next(&matcher).await.is_none(), "its own match");

    // A system task saved with its worker already set marks the worker too.
    let (parent, worker) = (task.clone(), poster_id.clone());
    app.state
        .write(move |tx, ctx| {
            Box::pin(async move {
                let mut done = match_task("tk-importedsystem", &parent, ctx.now);
                done.worker_id = Some(worker);
                done.status = TaskStatus::Approved;
                Ok::<_, pinchwork_server::market::Error>(tx.insert_task(&done).await?)
            })
        })
        .await
        .unwrap();
    assert!(marked(&app, &poster_id).await);
}

#[tokio::test]
async fn conflict_rules() {
    let app = TestApp::new().await;
    let (_, poster_infra) = app
        .register_with(
            "poster who is also infra",
            json!({"accepts_system_tasks": true}),
        )
        .await;
    let (_, matcher) = app
        .register_with("matcher", json!({"accepts_system_tasks": true}))
        .await;
    let (_, worker) = app
        .register_with("worker", json!({"accepts_system_tasks": true}))
        .await;

    // Nobody matches their own task: the poster's pickup skips its match task.
    let task = app.post_task(&poster_infra, "Write a haiku", 10).await;
    assert!(
        app.pickup_next(&poster_infra).await.is_none(),
        "own task's match task is not offered"
    );
    match_to_nobody(&app, &matcher, &task, || async {}).await;

    // Whoever matched a task may not work on it, by any pickup form.
    let r = app
        .post(&format!("/v1/tasks/{task}/pickup"), &matcher, json!({}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Conflict: you did system work on this task");
    assert!(app.pickup_next(&matcher).await.is_none());
    assert_eq!(
        app.get("/v1/tasks/available", &matcher)
            .await
            .expect(200)
            .json["total"],
        0
    );

    // The worker never verifies their own delivery, and the poster not their own task either.
    let claimed = app.pickup_next(&worker).await.expect("the task");
    assert_eq!(claimed["task_id"], task.as_str());
    app.deliver(&worker, &claimed, json!("An old silent pond"))
        .await
        .expect(200);
    assert!(
        app.pickup_next(&worker).await.is_none(),
        "no verifying one's own delivery"
    );
    assert!(
        app.pickup_next(&poster_infra).await.is_none(),
        "no verifying one's own task"
    );
    let verify = app
        .pickup_next(&matcher)
        .await
        .expect("the matcher may verify");
    assert_eq!(verify["system_task_type"], "verify_completion");
}

#[tokio::test]
async fn malformed_results_change_nothing_and_earn_nothing() {
    let app = TestApp::new().await;
    let (_, infra) = app
        .register_with("infra", json!({"accepts_system_tasks": true}))
        .await;
    let (_, poster) = app.register("poster").await;
    let (target_id, _) = app
        .register_with("skilled", json!({"good_at": "rust"}))
        .await;
    let extract = app.pickup_next(&infra).await.unwrap();
    for bad in [
        json!("not json"),
        json!({"agent_id": "ag-someone-else", "tags": ["rust"]}),
        json!({"agent_id": target_id, "tags": [1, 2]}),
        json!({"agent_id": target_id, "tags": "rust"}),
        json!({"agent_id": target_id, "tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
    ] {
        let r = app.deliver(&infra, &extract, bad.clone()).await.expect(400);
        assert!(!r.error().is_empty(), "{bad}");
    }
    let task = app.post_task(&poster, "Port this to Rust", 10).await;
    let matching = app.pickup_next(&infra).await.unwrap();
    for bad in [
        json!({"ranked_agents": ["ag-nobody"]}),
        json!({"ranked_agents": [7]}),
        json!({"extracted_tags": ["x"]}),
        json!([1, 2, 3]),
    ] {
        app.deliver(&infra, &matching, bad).await.expect(400);
    }
    // Nothing changed: both still claimed, unpaid, the task still pending a match.
    assert_eq!(balance(&app, &infra).await, 100);
    let view = app
        .get(&format!("/v1/tasks/{task}"), &poster)
        .await
        .expect(200);
    assert_eq!(view.json["status"], "posted");
    let profile = app
        .call("GET", &format!("/v1/agents/{target_id}"), None, None)
        .await
        .expect(200);
    assert_eq!(profile.json["tags"], Value::Null);
    app.assert_books_balance().await;
}

#[tokio::test]
async fn match_window_falls_back_to_broadcast_and_late_results_are_refused() {
    let app = TestApp::new().await;
    let (_, infra) = app
        .register_with("infra", json!({"accepts_system_tasks": true}))
        .await;
    let (_, poster) = app.register("poster").await;
    let (_, other) = app.register("other").await;
    let (chosen_id, _chosen) = app
        .register_with("chosen", json!({"good_at": "anything"}))
        .await;
    let extract = app.pickup_next(&infra).await.unwrap();
    app.deliver(
        &infra,
        &extract,
        json!({"agent_id": chosen_id, "tags": ["anything"]}),
    )
    .await
    .expect(200);

    // No infra result within 120 s: everyone may have it, the match task is withdrawn.
    let first = app.post_task(&poster, "first", 5).await;
    let matching = app.pickup_next(&infra).await.unwrap();
    app.advance(120 * SECOND).await;
    let late = app
        .deliver(&infra, &matching, json!({"ranked_agents": [chosen_id]}))
        .await
        .expect(409);
    assert_eq!(late.error(), "Task is cancelled, not claimed");
    assert_eq!(
        balance(&app, &infra).await,
        100 + 2,
        "late work is not paid"
    );
    assert_eq!(
        app.pickup_next(&other).await.unwrap()["task_id"],
        first.as_str()
    );

    // Matched agents who do not pick it up within the window lose their head start.
    let second = app.post_task(&poster, "second", 5).await;
    let matching = app.pickup_next(&infra).await.unwrap();
    app.deliver(&infra, &matching, json!({"ranked_agents": [chosen_id]}))
        .await
        .expect(200);
    assert!(
        app.pickup_next(&other).await.is_none(),
        "reserved for the matched agent"
    );
    app.advance(119 * SECOND).await;
    assert!(app.pickup_next(&other).await.is_none());
    app.advance(SECOND).await;
    assert_eq!(
        app.pickup_next(&other).await.unwrap()["task_id"],
        second.as_str()
    );
    app.assert_books_balance().await;
}

#[tokio::test]
async fn verification_times_out_and_cancelling_withdraws_system_work() {
    let app = TestApp::new().await;
    let (_, infra) = app
        .register_with("infra", json!({"accepts_system_tasks": true}))
        .await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;

    let task = app.post_task(&poster, "Summarise", 8).await;
    let matching = app.pickup_next(&infra).await.unwrap();
    app.deliver(&infra, &matching, json!({"ranked_agents": []}))
        .await
        .expect(200);
    let claimed = app.pickup_next(&worker).await.unwrap();
    app.deliver(&worker, &claimed, json!("summary"))
        .await
        .expect(200);
    let verify = app.pickup_next(&infra).await.unwrap();
    app.advance(120 * SECOND).await;
    let view = app
        .get(&format!("/v1/tasks/{task}"), &poster)
        .await
        .expect(200);
    assert_eq!(view.json["verification"]["status"], "timed_out");
    app.deliver(
        &infra,
        &verify,
        json!({"meets_requirements": false, "explanation": "late"}),
    )
    .await
    .expect(409);

    // Cancelling a task withdraws its pending match task; its result is refused, unpaid.
    let doomed = app.post_task(&poster, "never mind", 4).await;
    let matching = app.pickup_next(&infra).await.unwrap();
    assert_eq!(
        matching["system_payload"]["task"]["task_id"],
        doomed.as_str()
    );
    app.post(&format!("/v1/tasks/{doomed}/cancel"), &poster, json!({}))
        .await
        .expect(200);
    app.deliver(&infra, &matching, json!({"ranked_agents": []}))
        .await
        .expect(409);
    assert_eq!(balance(&app, &infra).await, 100 + 3);
    app.assert_books_balance().await;
}

#[tokio::test]
async fn built_in_matcher_without_infra_agents() {
    let app = TestApp::new().await;
    let (_, poster) = app
        .register_with("poster", json!({"good_at": "kubernetes"}))
        .await;
    let (_, rust) = app
        .register_with(
            "rustacean",
            json!({"good_at": "Rust services and async code"}),
        )
        .await;
    let (_, chef) = app
        .register_with("chef", json!({"good_at": "French cooking"}))
        .await;
    let (_, anyone) = app.register("anyone").await;

    // A real overlap ("rust") routes the task to the Rust agent first.
    let task = app
        .post_task(&poster, "Port this service to Rust", 10)
        .await;
    let seen = app.get("/v1/tasks/available", &rust).await.expect(200);
    assert_eq!(seen.json["tasks"][0]["is_matched"], true);
    assert_eq!(seen.json["tasks"][0]["match_rank"], 0);
    assert!(
        app.pickup_next(&chef).await.is_none(),
        "not matched, inside the window"
    );
    assert!(app.pickup_next(&anyone).await.is_none());
    assert_eq!(
        app.pickup_next(&rust).await.unwrap()["task_id"],
        task.as_str()
    );

    // Only stop words in common: no match, everyone sees it at once.
    let plain = app
        .post_task(&poster, "Please do this for me and the team", 10)
        .await;
    assert_eq!(
        app.pickup_next(&chef).await.unwrap()["task_id"],
        plain.as_str()
    );
}

#[tokio::test]
async fn capability_tags_order_broadcast_tasks_and_extraction_runs_once_per_change() {
    let app = TestApp::new().await;
    let (_, infra) = app
        .register_with("infra", json!({"accepts_system_tasks": true}))
        .await;
    let (worker_id, worker) = app.register("worker").await;
    let (_, poster) = app.register("poster").await;

    // Setting good_at spawns one extraction; setting the same text again spawns none.
    app.extract_capability_tags(&infra, (&worker_id, &worker), "go and sql", &["sql"])
        .await;
    app.call(
        "PATCH",
        "/v1/me",
        Some(&worker),
        Some(json!({"good_at": "go and sql"})),
    )
    .await
    .expect(200);
    assert!(
        app.pickup_next(&infra).await.is_none(),
        "only one extraction for one change"
    );

    // Broadcast tasks sharing the worker's tags come first, whatever their age.
    let untagged = app.post_task(&poster, "older, untagged", 5).await;
    let m = app.pickup_next(&infra).await.unwrap();
    app.deliver(&infra, &m, json!({"ranked_agents": []}))
        .await
        .expect(200);
    let tagged = app
        .post(
            "/v1/tasks",
            &poster,
            json!({"need": "newer", "max_credits": 5, "tags": ["SQL"]}),
        )
        .await
        .expect(201)
        .json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let m = app.pickup_next(&infra).await.unwrap();
    app.deliver(&infra, &m, json!({"ranked_agents": []}))
        .await
        .expect(200);
    let browse = app.get("/v1/tasks/available", &worker).await.expect(200);
    assert_eq!(browse.json["tasks"][0]["task_id"], tagged.as_str());
    assert_eq!(
        app.pickup_next(&worker).await.unwrap()["task_id"],
        tagged.as_str()
    );
    assert_eq!(
        app.pickup_next(&worker).await.unwrap()["task_id"],
        untagged.as_str()
    );
    app.assert_books_balance().await;
}

/// A task's view lists its system work only when some was funded about it (the `system_work`
/// flag on the task spares every other view the lookup): a match, then a verification, each
/// listed as it is reserved; a task posted before any infra agent registered lists none.
#[tokio::test]
async fn a_tasks_view_lists_the_system_work_funded_about_it() {
    let app = TestApp::new().await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let before = app
        .post_task(&poster, "Posted before any infra agent", 5)
        .await;
    app.register_with("infra", json!({"accepts_system_tasks": true}))
        .await;
    app.state.refresh_routing().await.unwrap();
    let task = app.post_task(&poster, "Review this", 10).await;
    let kinds = |view: &Value| -> Vec<String> {
        view["system_work"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["system_task_type"].as_str().unwrap().to_string())
            .collect()
    };
    let view = app
        .get(&format!("/v1/tasks/{task}"), &poster)
        .await
        .expect(200);
    assert_eq!(kinds(&view.json), ["match_agents"]);
    let view = app
        .get(&format!("/v1/tasks/{before}"), &poster)
        .await
        .expect(200);
    assert_eq!(view.json["system_work"], json!([]));

    app.post(&format!("/v1/tasks/{task}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    let delivered = app
        .post(
            &format!("/v1/tasks/{task}/deliver"),
            &worker,
            json!({"result": "Looks fine"}),
        )
        .await
        .expect(200);
    assert_eq!(
        kinds(&delivered.json),
        ["match_agents", "verify_completion"],
        "{}",
        delivered.json
    );
}
