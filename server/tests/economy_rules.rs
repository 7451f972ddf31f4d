//! The rules that keep credits unfarmable (issue 14), one test each: nothing is minted for
//! the platform, system work is paid for by whom it serves, no hoarding of claims, match
//! windows hold, the small holes are closed, and infra agents get what they need to match.
//! The economics simulation (`economics.rs`) shows they hold together.

use pinchwork_server::market::credits;
use pinchwork_server::model::{DAY, MINT_ACCOUNT, MINUTE, PLATFORM_AGENT_ID};
use pinchwork_server::store::{Page, StoreError};
use pinchwork_test_kit::{Resp, TestApp, match_task, test_config, world_with};
use serde_json::{Value, json};

const SECOND: i64 = 1_000;
const ADMIN: &str = "admin-key-for-tests-0123456789abcdef";

async fn register_infra(app: &TestApp, name: &str) -> String {
    app.register_with(name, json!({"accepts_system_tasks": true}))
        .await
        .1
}

async fn act(app: &TestApp, key: &str, task: &str, action: &str, body: Value) -> Resp {
    app.post(&format!("/v1/tasks/{task}/{action}"), key, body)
        .await
}

/// The worker claims the named task and delivers `result`.
async fn claim_and_deliver(app: &TestApp, worker: &str, task: &str, result: &str) {
    act(app, worker, task, "pickup", json!({}))
        .await
        .expect(200);
    act(app, worker, task, "deliver", json!({"result": result}))
        .await
        .expect(200);
}

async fn view(app: &TestApp, key: &str, task: &str) -> Value {
    app.get(&format!("/v1/tasks/{task}"), key)
        .await
        .expect(200)
        .json
}

/// The caller's ledger, newest first, as (reason, amount, task_id).
async fn ledger(app: &TestApp, key: &str) -> Vec<(String, i64, Value)> {
    let r = app.get("/v1/me/credits?limit=100", key).await.expect(200);
    r.json["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["reason"].as_str().unwrap().to_string(),
                l["amount"].as_i64().unwrap(),
                l["task_id"].clone(),
            )
        })
        .collect()
}

async fn platform_balance(app: &TestApp) -> i64 {
    app.state
        .read(|tx| {
            Box::pin(async move {
                Ok::<_, StoreError>(tx.agent(PLATFORM_AGENT_ID).await?.unwrap().credits)
            })
        })
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. Nothing is minted but registrations and admin grants

#[tokio::test]
async fn the_platform_starts_empty_and_holds_only_fees_and_grants() {
    let w = world_with(|c| c.admin_key = Some(ADMIN.into())).await;
    let app = &w.app;
    assert_eq!(platform_balance(app).await, 0, "no built-in reserve");
    let minted: i64 = app
        .state
        .read(|tx| Box::pin(async move { tx.books().await }))
        .await
        .unwrap()
        .minted;
    assert_eq!(minted, 300, "only the three sign-up bonuses were minted");

    // A fee is the platform's first credit.
    let task = w
        .new_task(json!({"need": "Write a haiku", "max_credits": 50}))
        .await;
    claim_and_deliver(app, &w.worker, &task, "An old pond").await;
    act(app, &w.poster, &task, "approve", json!({}))
        .await
        .expect(200);
    assert_eq!(platform_balance(app).await, 5);

    // The operator may grant the platform credits (to subsidise system work).
    let r = app
        .post(
            "/v1/admin/credits/grant",
            ADMIN,
            json!({"agent_id": PLATFORM_AGENT_ID, "amount": 40, "reason": "infra budget"}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["balance"], 45);
    // Where every platform credit came from: one fee, one grant.
    let lines = app
        .state
        .read(|tx| {
            Box::pin(async move { tx.ledger_of(PLATFORM_AGENT_ID, &Page::first(100)).await })
        })
        .await
        .unwrap()
        .items;
    let lines: Vec<(&str, i64)> = lines
        .iter()
        .map(|l| (l.reason.as_str(), l.amount))
        .collect();
    assert_eq!(lines, [("infra budget", 40), ("platform_fee", 5)]);
    app.assert_books_balance().await;
}

/// A database from before this change: its platform holds the minted reserve, less what it
/// paid infra agents, plus fees, and a system task spawned against the reserve is open.
#[tokio::test]
async fn an_existing_platform_reserve_is_retired_on_upgrade() {
    let first = TestApp::new().await;
    let (infra_id, infra) = first.register("infra").await;
    let (_, poster) = first.register("poster").await;
    let (_, worker) = first.register("worker").await;
    let task = first.post_task(&poster, "Old work", 50).await;
    claim_and_deliver(&first, &worker, &task, "done").await;
    act(&first, &poster, &task, "approve", json!({}))
        .await
        .expect(200);
    let (parent, infra_for_write) = (task.clone(), infra_id.clone());
    first
        .state
        .write(move |tx, ctx| {
            Box::pin(async move {
                // What the old start-up minted, and a system payment made from it.
                credits::transfer(
                    tx,
                    ctx,
                    MINT_ACCOUNT,
                    PLATFORM_AGENT_ID,
                    999_999_999,
                    "platform_reserve",
                    None,
                )
                .await?;
                credits::transfer(
                    tx,
                    ctx,
                    PLATFORM_AGENT_ID,
                    &infra_for_write,
                    2,
                    "payment",
                    None,
                )
                .await?;
                // An open system task of the old kind: nothing escrowed for it.
                let legacy = match_task("tk-legacysystem", &parent, ctx.now);
                Ok::<_, pinchwork_server::market::Error>(tx.insert_task(&legacy).await?)
            })
        })
        .await
        .unwrap();
    assert_eq!(platform_balance(&first).await, 999_999_999 - 2 + 5);
    let (dir, clock) = (first.dir.clone(), first.clock.clone());
    drop(first);

    // Run the migration that retires the reserve again, as on a database it never ran on
    // (it does nothing twice, and nothing where there was no reserve: the state above is
    // what it finds on an old database).
    if dir.is_postgres() {
        pinchwork_test_kit::admin(
            &dir.database_url,
            include_str!("../src/store/postgres/0003_retire_reserve.sql"),
        );
    } else {
        let conn = rusqlite::Connection::open(dir.path().join("pinchwork.db")).unwrap();
        conn.execute_batch(include_str!("../src/store/sqlite/0008_retire_reserve.sql"))
            .unwrap();
    }
    let app = TestApp::open(test_config(&dir), dir.clone(), clock).await;

    // The reserve went back to the mint; the platform keeps its fees beyond what it paid.
    assert_eq!(platform_balance(&app).await, 3);
    let lines = app
        .state
        .read(|tx| Box::pin(async move { tx.ledger_of(PLATFORM_AGENT_ID, &Page::first(10)).await }))
        .await
        .unwrap()
        .items;
    assert_eq!(lines[0].reason, "platform_reserve_retired");
    assert_eq!(lines[0].amount, -999_999_999);
    assert_eq!(app.credits(&infra).await, 102, "paid work stays paid");
    let legacy = app
        .state
        .read(|tx| Box::pin(async move { tx.task("tk-legacysystem").await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        legacy.status.as_str(),
        "cancelled",
        "unfunded system work withdrawn"
    );
    app.assert_books_balance().await;
    let minted: i64 = app
        .state
        .read(|tx| Box::pin(async move { tx.books().await }))
        .await
        .unwrap()
        .minted;
    assert_eq!(minted, 300, "only the sign-up bonuses remain minted");
}

// ---------------------------------------------------------------------------------------------
// 2. System work is paid for by whoever it serves

#[tokio::test]
async fn system_work_is_paid_by_the_party_it_serves_and_shown_to_it() {
    let app = TestApp::new().await;
    let infra = register_infra(&app, "infra").await;
    let (poster_id, poster) = app.register("poster").await;
    let (worker_id, worker) = app
        .register_with("worker", json!({"good_at": "python security"}))
        .await;

    // Extraction: the agent whose good_at changed pays 2, the infra agent earns 2.
    assert_eq!(app.credits(&worker).await, 98);
    assert_eq!(
        ledger(&app, &worker).await[0],
        ("extract_capabilities".into(), -2, Value::Null)
    );
    let extract = app.pickup_next(&infra).await.unwrap();
    app.deliver(
        &infra,
        &extract,
        json!({"agent_id": worker_id, "tags": ["python"]}),
    )
    .await
    .expect(200);
    assert_eq!(app.credits(&infra).await, 102);

    // Matching: reserved with the escrow when the task is posted.
    let task = app.post_task(&poster, "Audit this endpoint", 20).await;
    assert_eq!(app.credits(&poster).await, 100 - 20 - 3);
    assert_eq!(
        ledger(&app, &poster).await[..2],
        [
            ("match_agents".into(), -3, json!(task)),
            ("escrow".into(), -20, json!(task)),
        ]
    );
    let escrowed = app.get("/v1/me/credits", &poster).await.expect(200).json["escrowed"].clone();
    assert_eq!(escrowed, 23, "the reserved matching is held in escrow");
    assert_eq!(
        view(&app, &poster, &task).await["system_work"],
        json!([{"system_task_type": "match_agents", "status": "reserved", "credits": 3,
                "paid_by": poster_id}])
    );
    let matching = app.pickup_next(&infra).await.unwrap();
    app.deliver(&infra, &matching, json!({"ranked_agents": [worker_id]}))
        .await
        .expect(200);
    assert_eq!(app.credits(&infra).await, 105);
    assert_eq!(
        view(&app, &poster, &task).await["system_work"][0]["status"],
        "charged"
    );

    // Verification: taken from the poster when the delivery spawns it.
    claim_and_deliver(&app, &worker, &task, "Injection, line 4").await;
    assert_eq!(app.credits(&poster).await, 100 - 20 - 3 - 5);
    let verify = app.pickup_next(&infra).await.unwrap();
    app.deliver(
        &infra,
        &verify,
        json!({"meets_requirements": true, "explanation": "Names the flaw"}),
    )
    .await
    .expect(200);
    assert_eq!(app.credits(&infra).await, 110);
    act(&app, &poster, &task, "approve", json!({}))
        .await
        .expect(200);

    let shown = view(&app, &poster, &task).await["system_work"].clone();
    let shown: Vec<(&str, &str, i64)> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["system_task_type"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                c["credits"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("match_agents", "charged", 3),
            ("verify_completion", "charged", 5)
        ]
    );
    // The platform paid the infra agent at once and recovered each payment: it holds only
    // the fee of the approved task.
    assert_eq!(platform_balance(&app).await, 2);
    assert_eq!(app.credits(&poster).await, 100 - 20 - 3 - 5);
    assert_eq!(app.credits(&worker).await, 98 + 18);
    app.assert_books_balance().await;
}

#[tokio::test]
async fn cancelling_refunds_system_work_not_yet_done_and_never_work_done() {
    let app = TestApp::new().await;
    let infra = register_infra(&app, "infra").await;
    let (_, poster) = app.register("poster").await;

    // Cancelled before any infra agent matched it: everything comes back.
    let early = app.post_task(&poster, "Never mind", 10).await;
    act(&app, &poster, &early, "cancel", json!({}))
        .await
        .expect(200);
    assert_eq!(app.credits(&poster).await, 100);
    assert_eq!(
        view(&app, &poster, &early).await["system_work"][0]["status"],
        "refunded"
    );
    // The withdrawn match task is gone for the infra agent.
    assert!(app.pickup_next(&infra).await.is_none());

    // Cancelled after it was matched: the matching was spent, only the budget comes back.
    let late = app.post_task(&poster, "Changed my mind", 10).await;
    let matching = app.pickup_next(&infra).await.unwrap();
    app.deliver(&infra, &matching, json!({"ranked_agents": []}))
        .await
        .expect(200);
    act(&app, &poster, &late, "cancel", json!({}))
        .await
        .expect(200);
    assert_eq!(app.credits(&poster).await, 97);
    assert_eq!(app.credits(&infra).await, 103);

    // Matching not done within its window is withdrawn and refunded.
    let slow = app.post_task(&poster, "Nobody matches this", 10).await;
    app.advance(app.cfg.match_timeout_seconds * SECOND).await;
    assert_eq!(app.credits(&poster).await, 97 - 10);
    assert_eq!(
        view(&app, &poster, &slow).await["system_work"][0]["status"],
        "refunded"
    );
    assert_eq!(platform_balance(&app).await, 0);
    app.assert_books_balance().await;
}

#[tokio::test]
async fn a_party_that_cannot_pay_gets_no_system_work() {
    let app = TestApp::new().await;
    let infra = register_infra(&app, "infra").await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app
        .register_with("worker", json!({"good_at": "haiku"}))
        .await;
    let extract = app.pickup_next(&infra).await.unwrap();
    app.deliver(
        &infra,
        &extract,
        json!({"agent_id": extract["system_payload"]["agent_id"], "tags": ["haiku"]}),
    )
    .await
    .expect(200);

    // 100 credits exactly: the budget is escrowed, nothing is left for matching, so the
    // built-in matcher routes the task (the haiku writer sees it first), as with no infra.
    let task = app.post_task(&poster, "Write a haiku", 100).await;
    assert_eq!(app.credits(&poster).await, 0);
    assert!(app.pickup_next(&infra).await.is_none(), "no match task");
    let seen = app.get("/v1/tasks/available", &worker).await.expect(200);
    assert_eq!(seen.json["tasks"][0]["is_matched"], true);
    assert_eq!(view(&app, &poster, &task).await["system_work"], json!([]));

    // Nothing left for verification either: the delivery is not verified.
    claim_and_deliver(&app, &worker, &task, "An old pond").await;
    assert_eq!(
        view(&app, &poster, &task).await["verification"],
        Value::Null
    );
    assert!(app.pickup_next(&infra).await.is_none(), "no verify task");

    // An agent who cannot pay 2 credits gets no capability extraction.
    let broke = TestApp::with(|c| c.initial_credits = 1).await;
    let infra = register_infra(&broke, "infra").await;
    broke
        .register_with("skilled", json!({"good_at": "rust"}))
        .await;
    assert!(broke.pickup_next(&infra).await.is_none());
    app.assert_books_balance().await;
    broke.assert_books_balance().await;
}

#[tokio::test]
async fn one_paid_verification_per_claim() {
    let app = TestApp::new().await;
    let infra = register_infra(&app, "infra").await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let (_, other) = app.register("other").await;
    let task = app.post_task(&poster, "Summarise", 10).await;
    let m = app.pickup_next(&infra).await.unwrap();
    app.deliver(&infra, &m, json!({"ranked_agents": []}))
        .await
        .expect(200);
    act(&app, &worker, &task, "pickup", json!({}))
        .await
        .expect(200);

    // A pending verification withdrawn by a rejection is refunded: unspent.
    act(&app, &worker, &task, "deliver", json!({"result": "v1"}))
        .await
        .expect(200);
    assert_eq!(app.credits(&poster).await, 100 - 10 - 3 - 5);
    act(
        &app,
        &poster,
        &task,
        "reject",
        json!({"reason": "too short"}),
    )
    .await
    .expect(200);
    assert_eq!(app.credits(&poster).await, 100 - 10 - 3);

    // Verified (and paid) once in this claim...
    act(&app, &worker, &task, "deliver", json!({"result": "v2"}))
        .await
        .expect(200);
    let verify = app.pickup_next(&infra).await.unwrap();
    assert_eq!(verify["system_payload"]["result"], "v2");
    app.deliver(
        &infra,
        &verify,
        json!({"meets_requirements": false, "explanation": "misses the point"}),
    )
    .await
    .expect(200);
    act(
        &app,
        &poster,
        &task,
        "reject",
        json!({"reason": "still no"}),
    )
    .await
    .expect(200);
    // ... a re-delivery in the same claim is not verified (nor charged) again.
    act(&app, &worker, &task, "deliver", json!({"result": "v3"}))
        .await
        .expect(200);
    assert!(
        app.pickup_next(&infra).await.is_none(),
        "no second paid verification"
    );
    assert_eq!(
        view(&app, &poster, &task).await["verification"]["status"],
        "not_repeated"
    );
    assert_eq!(app.credits(&poster).await, 100 - 10 - 3 - 5);

    // A new claim is a new round: the third rejection released the worker.
    act(&app, &poster, &task, "reject", json!({"reason": "enough"}))
        .await
        .expect(200);
    claim_and_deliver(&app, &other, &task, "v4").await;
    assert_eq!(
        view(&app, &poster, &task).await["verification"]["status"],
        "pending"
    );
    assert_eq!(app.credits(&poster).await, 100 - 10 - 3 - 5 - 5);
    app.assert_books_balance().await;
}

#[tokio::test]
async fn one_extraction_per_agent_per_day() {
    let app = TestApp::new().await;
    let infra = register_infra(&app, "infra").await;
    let (agent_id, agent) = app.register("agent").await;
    let set = |good_at: &'static str| {
        let (app, agent) = (&app, agent.clone());
        async move {
            app.call(
                "PATCH",
                "/v1/me",
                Some(&agent),
                Some(json!({"good_at": good_at})),
            )
            .await
            .expect(200);
        }
    };
    set("rust").await;
    let e = app.pickup_next(&infra).await.unwrap();
    app.deliver(&infra, &e, json!({"agent_id": agent_id, "tags": ["rust"]}))
        .await
        .expect(200);
    // Within the day another change gets no paid extraction (the tags stay).
    set("rust and go").await;
    assert!(app.pickup_next(&infra).await.is_none());
    assert_eq!(app.credits(&agent).await, 98);
    // A day later it does.
    app.advance(DAY).await;
    set("rust, go and sql").await;
    let e = app.pickup_next(&infra).await.unwrap();
    assert_eq!(e["system_payload"]["good_at"], "rust, go and sql");
    assert_eq!(app.credits(&agent).await, 96);
    app.assert_books_balance().await;
}

#[tokio::test]
async fn the_operator_can_subsidise_system_work_from_granted_credits() {
    let app = TestApp::with(|c| {
        c.subsidise_system_work = true;
        c.admin_key = Some(ADMIN.into());
    })
    .await;
    let infra = register_infra(&app, "infra").await;
    let (poster_id, poster) = app.register("poster").await;

    // Nothing granted yet: the platform cannot pay, so the poster does.
    let first = app.post_task(&poster, "one", 10).await;
    assert_eq!(app.credits(&poster).await, 87);
    assert_eq!(
        view(&app, &poster, &first).await["system_work"][0]["paid_by"],
        poster_id.as_str()
    );
    app.post(
        "/v1/admin/credits/grant",
        ADMIN,
        json!({"agent_id": PLATFORM_AGENT_ID, "amount": 4}),
    )
    .await
    .expect(200);
    // Granted: the platform pays while its balance covers it.
    let second = app.post_task(&poster, "two", 10).await;
    assert_eq!(app.credits(&poster).await, 77);
    assert_eq!(platform_balance(&app).await, 1);
    assert_eq!(
        view(&app, &poster, &second).await["system_work"][0]["paid_by"],
        PLATFORM_AGENT_ID
    );
    let third = app.post_task(&poster, "three", 10).await;
    assert_eq!(app.credits(&poster).await, 64, "the platform ran out");
    assert_eq!(
        view(&app, &poster, &third).await["system_work"][0]["paid_by"],
        poster_id.as_str()
    );
    for _ in 0..3 {
        let m = app.pickup_next(&infra).await.unwrap();
        app.deliver(&infra, &m, json!({"ranked_agents": []}))
            .await
            .expect(200);
    }
    assert_eq!(app.credits(&infra).await, 109);
    assert_eq!(platform_balance(&app).await, 1, "never below zero");
    app.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// 4. No hoarding

#[tokio::test]
async fn an_agent_holds_at_most_max_active_claims() {
    let app = TestApp::with(|c| c.initial_credits = 1_000).await;
    assert_eq!(app.cfg.max_active_claims, 20, "the default");
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        tasks.push(app.post_task(&poster, &format!("task {i}"), 1).await);
    }
    let batch = |count: i64| app.post("/v1/tasks/pickup/batch", &worker, json!({"count": count}));
    assert_eq!(batch(10).await.expect(200).json["total"], 10);
    assert_eq!(batch(10).await.expect(200).json["total"], 10);
    let msg = "You already hold 20 claimed tasks, the most one agent may hold at once: deliver \
               or abandon one before picking up another";
    assert_eq!(batch(1).await.expect(409).error(), msg);
    let r = app
        .call("POST", "/v1/tasks/pickup", Some(&worker), None)
        .await;
    assert_eq!(r.expect(409).error(), msg);
    assert_eq!(
        act(&app, &worker, &tasks[23], "pickup", json!({}))
            .await
            .expect(409)
            .error(),
        msg
    );
    // A delivery frees a slot, for one more claim only.
    act(
        &app,
        &worker,
        &tasks[0],
        "deliver",
        json!({"result": "done"}),
    )
    .await
    .expect(200);
    assert_eq!(batch(5).await.expect(200).json["total"], 1);
    batch(1).await.expect(409);
    app.assert_books_balance().await;
}

#[tokio::test]
async fn a_claim_that_times_out_counts_as_an_abandon() {
    let app = TestApp::new().await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let limit = app.cfg.max_abandons_before_cooldown;
    for i in 0..limit {
        let task = app.post_task(&poster, &format!("held {i}"), 1).await;
        act(&app, &worker, &task, "pickup", json!({}))
            .await
            .expect(200);
        app.advance(app.cfg.default_claim_timeout_minutes * MINUTE)
            .await;
        assert_eq!(view(&app, &poster, &task).await["status"], "posted");
    }
    // As many missed claims as abandons allowed: the cooldown starts.
    let r = app
        .call("POST", "/v1/tasks/pickup", Some(&worker), None)
        .await;
    assert!(
        r.expect(429)
            .error()
            .starts_with("Too many abandons. Cooldown until"),
        "missed claims count like abandons"
    );
    app.advance(app.cfg.abandon_cooldown_minutes * MINUTE).await;
    assert!(app.pickup_next(&worker).await.is_some());
}

// ---------------------------------------------------------------------------------------------
// 5. Match windows hold

#[tokio::test]
async fn naming_a_task_does_not_skip_its_match_window() {
    let app = TestApp::new().await;
    let (_, poster) = app.register("poster").await;
    let (_, rustacean) = app
        .register_with("rustacean", json!({"good_at": "Rust"}))
        .await;
    let (_, other) = app.register("other").await;
    let task = app.post_task(&poster, "Port this to Rust", 10).await;
    let second = app.post_task(&poster, "Another Rust port", 10).await;
    let window = app.cfg.match_timeout_seconds * SECOND;

    let r = act(&app, &other, &task, "pickup", json!({}))
        .await
        .expect(409);
    assert_eq!(
        r.error(),
        format!(
            "Task is reserved for the agents it was matched to until {}",
            pinchwork_test_kit::at(window)
        )
    );
    // The matched agent may name it.
    act(&app, &rustacean, &task, "pickup", json!({}))
        .await
        .expect(200);
    // Once the window is over anyone may.
    app.advance(window - 1).await;
    act(&app, &other, &second, "pickup", json!({}))
        .await
        .expect(409);
    app.advance(1).await;
    act(&app, &other, &second, "pickup", json!({}))
        .await
        .expect(200);
}

// ---------------------------------------------------------------------------------------------
// 6. Small holes

#[tokio::test]
async fn the_platform_cannot_be_rated_or_trusted() {
    let app = TestApp::new().await;
    let infra = register_infra(&app, "infra").await;
    let (_, poster) = app.register("poster").await;
    app.post_task(&poster, "Match me", 10).await;
    let m = app.pickup_next(&infra).await.unwrap();
    let id = m["task_id"].as_str().unwrap().to_string();
    app.deliver(&infra, &m, json!({"ranked_agents": []}))
        .await
        .expect(200);
    let r = act(&app, &infra, &id, "rate", json!({"rating": 1}))
        .await
        .expect(409);
    assert_eq!(
        r.error(),
        "System work is not rated: the platform has no reputation"
    );
    let platform = app
        .state
        .read(|tx| {
            Box::pin(
                async move { Ok::<_, StoreError>(tx.agent(PLATFORM_AGENT_ID).await?.unwrap()) },
            )
        })
        .await
        .unwrap();
    assert_eq!((platform.reputation, platform.rating_count), (0.0, 0));
    let trust = app.get("/v1/me/trust", &infra).await.expect(200);
    assert_eq!(trust.json["total"], 0);
}

#[tokio::test]
async fn infra_results_take_only_well_formed_tags() {
    let app = TestApp::new().await;
    let infra = register_infra(&app, "infra").await;
    let (agent_id, _) = app.register_with("agent", json!({"good_at": "rust"})).await;
    let (_, poster) = app.register("poster").await;
    let extract = app.pickup_next(&infra).await.unwrap();
    for bad in ["rust,go", "rust go", ",rust", "-rust", "rüst"] {
        let r = app
            .deliver(
                &infra,
                &extract,
                json!({"agent_id": agent_id, "tags": [bad]}),
            )
            .await
            .expect(400);
        assert!(r.error().starts_with("Invalid tag"), "{bad}: {}", r.error());
    }
    app.deliver(
        &infra,
        &extract,
        json!({"agent_id": agent_id, "tags": [" Rust ", "async_io", "web-dev"]}),
    )
    .await
    .expect(200);
    let profile = app
        .call("GET", &format!("/v1/agents/{agent_id}"), None, None)
        .await
        .expect(200);
    assert_eq!(profile.json["tags"], json!(["rust", "async_io", "web-dev"]));

    app.post_task(&poster, "Tag me", 5).await;
    let m = app.pickup_next(&infra).await.unwrap();
    app.deliver(
        &infra,
        &m,
        json!({"ranked_agents": [], "extracted_tags": ["sql,python"]}),
    )
    .await
    .expect(400);
}

#[tokio::test]
async fn feedback_reaches_the_worker() {
    let w = world_with(|_| {}).await;
    let app = &w.app;
    let task = w
        .new_task(json!({"need": "Draft a tagline", "max_credits": 10}))
        .await;
    claim_and_deliver(app, &w.worker, &task, "v1").await;
    let r = act(
        app,
        &w.poster,
        &task,
        "reject",
        json!({"reason": "too long", "feedback": "Aim for five words"}),
    )
    .await
    .expect(200);
    assert_eq!(r.json["feedback"], "Aim for five words");
    assert_eq!(
        view(app, &w.worker, &task).await["feedback"],
        "Aim for five words"
    );

    act(app, &w.worker, &task, "deliver", json!({"result": "v2"}))
        .await
        .expect(200);
    assert_eq!(
        view(app, &w.worker, &task).await["feedback"],
        Value::Null,
        "a new delivery has no feedback yet"
    );
    act(
        app,
        &w.poster,
        &task,
        "approve",
        json!({"rating": 5, "feedback": "Perfect"}),
    )
    .await
    .expect(200);
    assert_eq!(view(app, &w.worker, &task).await["feedback"], "Perfect");

    let worker_id = w.worker_id.clone();
    let events = app
        .state
        .read(move |tx| Box::pin(async move { tx.events_after(&worker_id, 0, 100).await }))
        .await
        .unwrap();
    let feedback: Vec<(&str, Value)> = events
        .iter()
        .map(|e| (e.kind().as_str(), e.data.fields_json()))
        .filter(|(_, fields)| fields.get("feedback").is_some())
        .map(|(kind, fields)| (kind, fields["feedback"].clone()))
        .collect();
    assert_eq!(
        feedback,
        [
            ("task_rejected", json!("Aim for five words")),
            ("task_approved", json!("Perfect"))
        ]
    );
}

/// Outcomes recorded at the same time (approvals between the same two agents, abandons by
/// one worker) all count: each counter moves in one statement. On PostgreSQL the requests run
/// on separate connections at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_outcomes_are_all_counted() {
    const N: usize = 12;
    let w = world_with(|c| c.initial_credits = 1_000).await;
    let app = &w.app;
    let mut delivered = Vec::new();
    let mut held = Vec::new();
    for i in 0..2 * N {
        let task = w
            .new_task(json!({"need": format!("task {i}"), "max_credits": 1}))
            .await;
        act(app, &w.worker, &task, "pickup", json!({}))
            .await
            .expect(200);
        if i < N {
            act(app, &w.worker, &task, "deliver", json!({"result": "done"}))
                .await
                .expect(200);
            delivered.push(task);
        } else {
            held.push(task);
        }
    }
    let approvals = delivered.iter().map(|task| {
        let (router, poster, task) = (app.router.clone(), w.poster.clone(), task.clone());
        tokio::spawn(async move { call(router, &poster, &task, "approve").await })
    });
    let abandons = held.iter().map(|task| {
        let (router, worker, task) = (app.router.clone(), w.worker.clone(), task.clone());
        tokio::spawn(async move { call(router, &worker, &task, "abandon").await })
    });
    for status in futures_util::future::join_all(approvals.chain(abandons)).await {
        assert_eq!(status.unwrap(), 200);
    }
    let trust = app.get("/v1/me/trust", &w.poster).await.expect(200);
    assert_eq!(trust.json["trust_scores"][0]["interactions"], N as i64);
    let trust = app.get("/v1/me/trust", &w.worker).await.expect(200);
    assert_eq!(trust.json["trust_scores"][0]["interactions"], N as i64);
    let worker_id = w.worker_id.clone();
    let worker = app
        .state
        .read(move |tx| {
            Box::pin(async move { Ok::<_, StoreError>(tx.agent(&worker_id).await?.unwrap()) })
        })
        .await
        .unwrap();
    // The count restarts after a served cooldown; none was served here, so all count.
    assert_eq!(worker.abandon_count, N as i64);
    assert_eq!(worker.tasks_completed, N as i64);
}

/// Posts racing for one balance: exactly as many are saved as it covers, each with its escrow
/// and its count, and the rest refused with nothing saved. On PostgreSQL a post with nobody to
/// route it to is one statement outside an explicit transaction, and these run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posts_spend_a_balance_once() {
    let w = world_with(|c| c.initial_credits = 100).await;
    let posts = (0..16).map(|i| w.create(json!({"need": format!("post {i}"), "max_credits": 30})));
    let statuses: Vec<u16> = futures_util::future::join_all(posts)
        .await
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 402).count(),
        13,
        "{statuses:?}"
    );
    assert_eq!(w.app.credits(&w.poster).await, 10);
    let me = w.app.get("/v1/me", &w.poster).await.expect(200);
    assert_eq!(me.json["tasks_posted"], 3);
    let mine = w.app.get("/v1/tasks/mine", &w.poster).await.expect(200);
    assert_eq!(mine.json["total"], 3);
    let credits = w.app.get("/v1/me/credits", &w.poster).await.expect(200);
    assert_eq!(credits.json["escrowed"], 90);
    w.app.assert_books_balance().await;
}

/// `POST /v1/tasks/{task}/{action}` through a clone of the router; the status.
async fn call(router: axum::Router, key: &str, task: &str, action: &str) -> u16 {
    use tower::ServiceExt;
    let req = axum::http::Request::post(format!("/v1/tasks/{task}/{action}"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    router.oneshot(req).await.unwrap().status().as_u16()
}

// ---------------------------------------------------------------------------------------------
// 7. Infra agents get what they need to match well

#[tokio::test]
async fn match_tasks_carry_the_need_the_context_and_the_tags_within_a_bound() {
    let app = TestApp::new().await;
    let infra = register_infra(&app, "infra").await;
    let (_, poster) = app.register("poster").await;
    let context = format!("{}{}", "a".repeat(1_999), "bcdef");
    app.post(
        "/v1/tasks",
        &poster,
        json!({"need": "Review this parser", "context": context, "tags": ["rust", "parsing"],
               "max_credits": 10}),
    )
    .await
    .expect(201);
    let m = app.pickup_next(&infra).await.unwrap();
    let excerpt = format!("{}b…", "a".repeat(1_999));
    let need = m["need"].as_str().unwrap();
    assert!(
        need.starts_with(&format!(
            "Match agents for: Review this parser\n\nContext: {excerpt}\n\nTags: rust, parsing\n\n"
        )),
        "{need}"
    );
    assert!(
        !need.contains("cdef"),
        "the context is cut at 2,000 characters"
    );
    assert_eq!(m["system_payload"]["task"]["context"], excerpt.as_str());
    assert_eq!(
        m["system_payload"]["task"]["tags"],
        json!(["rust", "parsing"])
    );

    // A short context is carried whole.
    app.post(
        "/v1/tasks",
        &poster,
        json!({"need": "Name a cat", "context": "It is orange", "max_credits": 1}),
    )
    .await
    .expect(201);
    let m = app.pickup_next(&infra).await.unwrap();
    assert!(
        m["need"]
            .as_str()
            .unwrap()
            .starts_with("Match agents for: Name a cat\n\nContext: It is orange\n\nRank")
    );
    assert_eq!(m["system_payload"]["task"]["context"], "It is orange");
}
