//! 64 workers race for 1,000 tasks over real HTTP: every task is claimed exactly once.

use pinchwork_test_kit::{TestApp, race_for_tasks};
use std::collections::HashSet;

const TASKS: usize = 1_000;
const WORKERS: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pickups_claim_every_task_exactly_once() {
    let app = TestApp::with(|c| {
        c.initial_credits = 100_000;
        // Workers hold every task they win: the race is about claims, not the cap on them.
        c.max_active_claims = TASKS as i64;
    })
    .await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);

    let (_, poster) = app.register("poster").await;
    let mut posted = HashSet::new();
    for i in 0..TASKS {
        posted.insert(app.post_task(&poster, &format!("task {i}"), 1).await);
    }
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        workers.push(app.register(&format!("worker-{i}")).await);
    }

    let counts = race_for_tasks(&app, &poster, &posted, &workers, &[base]).await;
    let busy_workers = counts.iter().filter(|&&n| n > 0).count();
    assert!(
        busy_workers > WORKERS / 2,
        "the claims really raced: {busy_workers} workers got tasks"
    );
    app.assert_books_balance().await;
    server.shutdown().await;
}
