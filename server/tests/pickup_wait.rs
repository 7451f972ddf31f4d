//! Long-poll pickup (`?wait=N` on `pickup` and `pickup/batch`): a pickup with nothing to claim
//! parks until a task this agent may claim opens, then claims it; a task it may not take
//! leaves it parked; the wait is bounded per agent and per node, and ends with the client, the
//! server's shutdown or the wait itself.

use pinchwork_server::api::holds::Kind;
use pinchwork_test_kit::{Resp, TestApp, TestDir, World, test_config, world, world_with};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bound on waking a parked pickup.
const WOKEN_WITHIN: Duration = Duration::from_millis(100);

/// A request sent now on a task of its own; resolves to its answer and when it came.
fn spawn_call(
    app: &TestApp,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> tokio::task::JoinHandle<(Resp, Instant)> {
    let app = app.clone();
    let (path, key) = (path.to_string(), key.to_string());
    tokio::spawn(async move {
        let r = app.call("POST", &path, Some(&key), body).await;
        (r, Instant::now())
    })
}

/// Waits until `agent` has `n` pickups parked on `app` (they park before their first look).
async fn parked(app: &TestApp, agent: &str, n: usize) {
    for _ in 0..500 {
        if app.state.holds.count(agent, Kind::Pickup) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{agent} never had {n} pickups parked");
}

/// A task's status as its poster sees it.
async fn status_of(w: &World, id: &str) -> String {
    status_of_as(w, &w.poster, id).await
}

async fn status_of_as(w: &World, key: &str, id: &str) -> String {
    let r = w.app.get(&format!("/v1/tasks/{id}"), key).await.expect(200);
    r.json["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_parked_pickup_claims_a_matching_post_within_100_ms() {
    let w = world().await;
    let pickup = spawn_call(&w.app, "/v1/tasks/pickup?wait=10", &w.worker, None);
    parked(&w.app, &w.worker_id, 1).await;
    let id = w
        .new_task(json!({"need": "translate this", "max_credits": 5}))
        .await;
    let posted = Instant::now();
    let (r, answered) = pickup.await.unwrap();
    let r = r.expect(200);
    assert_eq!(r.json["task_id"], id);
    assert_eq!(r.header("x-task-id"), Some(id.as_str()));
    let took = answered.saturating_duration_since(posted);
    assert!(took < WOKEN_WITHIN, "woken {took:?} after the post");
    assert_eq!(status_of(&w, &id).await, "claimed");
    assert_eq!(w.app.state.holds.count(&w.worker_id, Kind::Pickup), 0);
}

#[tokio::test]
async fn a_parked_pickup_claims_a_task_given_back() {
    let w = world().await;
    let id = w
        .new_task(json!({"need": "a task", "max_credits": 5}))
        .await;
    w.act(&w.stranger, &id, "pickup", json!({}))
        .await
        .expect(200);
    let pickup = spawn_call(&w.app, "/v1/tasks/pickup?wait=10", &w.worker, None);
    parked(&w.app, &w.worker_id, 1).await;
    w.act(&w.stranger, &id, "abandon", json!({}))
        .await
        .expect(200);
    let released = Instant::now();
    let (r, answered) = pickup.await.unwrap();
    assert_eq!(r.expect(200).json["task_id"], id);
    assert!(answered.saturating_duration_since(released) < WOKEN_WITHIN);
}

#[tokio::test]
async fn a_task_it_may_not_take_leaves_it_parked_until_the_wait_ends() {
    let w = world().await;
    let pickup = spawn_call(&w.app, "/v1/tasks/pickup?wait=1&tags=rust", &w.worker, None);
    parked(&w.app, &w.worker_id, 1).await;
    let started = Instant::now();
    // Its own task, and one without the tag it asked for.
    let own = id_of_post(
        &w,
        &w.worker,
        json!({"need": "mine", "max_credits": 5, "tags": ["rust"]}),
    )
    .await;
    let other = w
        .new_task(json!({"need": "python", "max_credits": 5, "tags": ["python"]}))
        .await;
    let (r, answered) = pickup.await.unwrap();
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    assert!(answered.duration_since(started) >= Duration::from_millis(900));
    assert_eq!(status_of_as(&w, &w.worker, &own).await, "posted");
    assert_eq!(status_of(&w, &other).await, "posted");
}

async fn id_of_post(w: &World, key: &str, body: Value) -> String {
    let r = w.app.post("/v1/tasks", key, body).await.expect(201);
    r.json["task_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn no_wait_or_wait_0_answers_at_once_as_before() {
    let w = world().await;
    for path in [
        "/v1/tasks/pickup",
        "/v1/tasks/pickup?wait=0",
        "/v1/tasks/pickup?wait=",
    ] {
        let started = Instant::now();
        let r = w.app.call("POST", path, Some(&w.worker), None).await;
        assert_eq!(r.status, 204, "{path}: {}", r.text);
        assert!(started.elapsed() < Duration::from_secs(1), "{path}");
    }
    let r = w
        .app
        .post("/v1/tasks/pickup/batch?wait=0", &w.worker, json!({}))
        .await
        .expect(200);
    assert_eq!(
        r.json,
        json!({"tasks": [], "total": 0, "next_cursor": null, "total_capped": false})
    );
    let id = w.new_task(json!({"need": "now", "max_credits": 5})).await;
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup?wait=0", Some(&w.worker), None)
        .await;
    assert_eq!(r.expect(200).json["task_id"], id);
}

#[tokio::test]
async fn bad_wait_values_are_400_and_claim_nothing() {
    let w = world().await;
    let id = w
        .new_task(json!({"need": "stay open", "max_credits": 5}))
        .await;
    for wait in ["-1", "301", "soon", "1.5", "1e3"] {
        for (path, body) in [
            (format!("/v1/tasks/pickup?wait={wait}"), None),
            (
                format!("/v1/tasks/pickup/batch?wait={wait}"),
                Some(json!({})),
            ),
        ] {
            let r = w.app.call("POST", &path, Some(&w.worker), body).await;
            assert_eq!(r.status, 400, "{path}: {}", r.text);
            assert!(r.error().contains("wait"), "{path}: {}", r.error());
        }
    }
    assert_eq!(status_of(&w, &id).await, "posted");
}

#[tokio::test]
async fn a_parked_batch_claims_what_opens() {
    let w = world().await;
    let pickup = spawn_call(
        &w.app,
        "/v1/tasks/pickup/batch?wait=10",
        &w.worker,
        Some(json!({"count": 3})),
    );
    parked(&w.app, &w.worker_id, 1).await;
    let id = w.new_task(json!({"need": "one", "max_credits": 5})).await;
    let posted = Instant::now();
    let (r, answered) = pickup.await.unwrap();
    let r = r.expect(200);
    assert_eq!(r.json["total"], 1);
    assert_eq!(r.json["tasks"][0]["task_id"], id);
    assert!(answered.saturating_duration_since(posted) < WOKEN_WITHIN);
    // With nothing at the end of the wait: an empty list, as without a wait.
    let started = Instant::now();
    let r = w
        .app
        .post("/v1/tasks/pickup/batch?wait=1", &w.worker, json!({}))
        .await
        .expect(200);
    assert_eq!(
        r.json,
        json!({"tasks": [], "total": 0, "next_cursor": null, "total_capped": false})
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn shutdown_answers_a_parked_pickup_at_once() {
    let w = world().await;
    let pickup = spawn_call(&w.app, "/v1/tasks/pickup?wait=300", &w.worker, None);
    parked(&w.app, &w.worker_id, 1).await;
    let stopping = Instant::now();
    let _ = w.app.state.shutdown.send(true);
    let (r, answered) = tokio::time::timeout(Duration::from_secs(5), pickup)
        .await
        .expect("released by the shutdown")
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(answered.duration_since(stopping) < Duration::from_secs(1));
    assert_eq!(w.app.state.holds.count(&w.worker_id, Kind::Pickup), 0);
}

#[tokio::test]
async fn a_client_that_leaves_releases_its_parked_pickup() {
    let w = world().await;
    let pickup = spawn_call(&w.app, "/v1/tasks/pickup?wait=300", &w.worker, None);
    parked(&w.app, &w.worker_id, 1).await;
    pickup.abort();
    parked(&w.app, &w.worker_id, 0).await;
    // Nothing parked claims what opens next.
    let id = w.new_task(json!({"need": "later", "max_credits": 5})).await;
    assert_eq!(status_of(&w, &id).await, "posted");
}

#[tokio::test]
async fn a_suspended_agents_parked_pickup_ends() {
    let w = world().await;
    let pickup = spawn_call(&w.app, "/v1/tasks/pickup?wait=300", &w.worker, None);
    parked(&w.app, &w.worker_id, 1).await;
    w.app.state.bus.end(&w.worker_id);
    let (r, _) = tokio::time::timeout(Duration::from_secs(5), pickup)
        .await
        .expect("ended by the suspension")
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.text);
}

#[tokio::test]
async fn one_parked_pickup_more_than_allowed_is_429() {
    let w = world_with(|cfg| {
        cfg.max_pickup_waits_per_agent = 2;
        cfg.max_pickup_waits = 3;
    })
    .await;
    let first = spawn_call(&w.app, "/v1/tasks/pickup?wait=300", &w.worker, None);
    let second = spawn_call(
        &w.app,
        "/v1/tasks/pickup/batch?wait=300",
        &w.worker,
        Some(json!({})),
    );
    parked(&w.app, &w.worker_id, 2).await;
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup?wait=5", Some(&w.worker), None)
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.error().contains("at most 2 per agent"), "{}", r.error());
    assert!(r.header("retry-after").is_some());
    // Without a wait the agent still picks up as before.
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup", Some(&w.worker), None)
        .await;
    assert_eq!(r.status, 204);
    // The node's bound: a third agent's pickup parks, a fourth is refused.
    let third = spawn_call(&w.app, "/v1/tasks/pickup?wait=300", &w.stranger, None);
    parked(&w.app, &w.stranger_id, 1).await;
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup?wait=5", Some(&w.poster), None)
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.error().contains("on this server"), "{}", r.error());
    for parked in [first, second, third] {
        parked.abort();
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL (two nodes share one database): PINCHWORK_TEST_POSTGRES_URL and --include-ignored"]
async fn a_post_on_another_node_wakes_a_parked_pickup_within_100_ms() {
    let dir = Arc::new(TestDir::new());
    assert!(
        dir.is_postgres(),
        "the multi-node tests need PostgreSQL: set PINCHWORK_TEST_POSTGRES_URL"
    );
    let cfg = test_config(&dir);
    let clock = pinchwork_server::time::ManualClock::new(pinchwork_test_kit::T0);
    let a = TestApp::open(cfg.clone(), dir.clone(), clock.clone()).await;
    let b = TestApp::open(cfg, dir.clone(), clock).await;
    // Served, so that each node relays the other's news.
    let (server_a, server_b) = (a.serve().await, b.serve().await);
    let (_, poster) = b.register("poster").await;
    let (worker_id, worker) = a.register("worker").await;
    // The relay listens once it is connected: a post before then would go unheard (and be
    // found by the resynchronisation instead, which this test is not about).
    tokio::time::sleep(Duration::from_millis(300)).await;
    for round in 0..3 {
        let pickup = spawn_call(&a, "/v1/tasks/pickup?wait=10", &worker, None);
        parked(&a, &worker_id, 1).await;
        let r = b
            .post(
                "/v1/tasks",
                &poster,
                json!({"need": format!("round {round}"), "max_credits": 5}),
            )
            .await
            .expect(201);
        let posted = Instant::now();
        let (got, answered) = pickup.await.unwrap();
        assert_eq!(got.expect(200).json["task_id"], r.json["task_id"]);
        let took = answered.saturating_duration_since(posted);
        assert!(
            took < WOKEN_WITHIN,
            "round {round}: woken {took:?} after the post"
        );
    }
    server_a.shutdown().await;
    server_b.shutdown().await;
}

#[tokio::test]
async fn a_parked_pickup_is_one_request_for_the_rate_limit() {
    let w = world_with(|cfg| {
        cfg.rate_limits_enabled = true;
        cfg.rate_limit_register = "1000/hour".into();
        cfg.rate_limit_pickup = "2/minute".into();
    })
    .await;
    let pickup = spawn_call(&w.app, "/v1/tasks/pickup?wait=1&tags=rust", &w.worker, None);
    parked(&w.app, &w.worker_id, 1).await;
    // Each of these wakes it, and it looks again: none of that is a request of the client's.
    for need in ["one", "two", "three"] {
        w.new_task(json!({"need": need, "max_credits": 5, "tags": ["python"]}))
            .await;
    }
    let (r, _) = pickup.await.unwrap();
    assert_eq!(r.status, 204, "{}", r.text);
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup", Some(&w.worker), None)
        .await;
    assert_eq!(
        r.status, 200,
        "the second request of the minute: {}",
        r.text
    );
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup", Some(&w.worker), None)
        .await;
    assert_eq!(r.status, 429, "the third: {}", r.text);
}

#[tokio::test]
async fn an_agent_at_its_cap_still_claims_what_is_open_now() {
    let w = world_with(|cfg| cfg.max_pickup_waits_per_agent = 1).await;
    let rust = spawn_call(
        &w.app,
        "/v1/tasks/pickup?wait=300&tags=rust",
        &w.worker,
        None,
    );
    parked(&w.app, &w.worker_id, 1).await;
    let id = w
        .new_task(json!({"need": "untagged", "max_credits": 5}))
        .await;
    // Only a pickup that has to wait counts toward the cap.
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup?wait=5", Some(&w.worker), None)
        .await;
    assert_eq!(r.expect(200).json["task_id"], id);
    let r = w
        .app
        .call("POST", "/v1/tasks/pickup?wait=5", Some(&w.worker), None)
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    rust.abort();
}
