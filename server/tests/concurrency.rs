//! 64 workers race for 1,000 tasks over real HTTP: every task is claimed exactly once.

mod common;

use common::TestApp;
use serde_json::{Value, json};
use std::collections::HashSet;

const TASKS: usize = 1_000;
const WORKERS: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pickups_claim_every_task_exactly_once() {
    let app = TestApp::with(|c| c.initial_credits = 100_000).await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();

    let (_, poster) = app.register("poster").await;
    let mut posted = HashSet::new();
    for i in 0..TASKS {
        posted.insert(app.post_task(&poster, &format!("task {i}"), 1).await);
    }
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        workers.push(app.register(&format!("worker-{i}")).await);
    }

    let handles: Vec<_> = workers
        .iter()
        .map(|(id, key)| {
            let (http, base, id, key) = (http.clone(), base.clone(), id.clone(), key.clone());
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                loop {
                    let r = http
                        .post(format!("{base}/v1/tasks/pickup"))
                        .bearer_auth(&key)
                        .header("accept", "application/json")
                        .send()
                        .await
                        .unwrap();
                    match r.status().as_u16() {
                        204 => return (id, claimed),
                        200 => {
                            let v: Value = r.json().await.unwrap();
                            claimed.push(v["task_id"].as_str().unwrap().to_string());
                        }
                        other => panic!("pickup answered {other}: {}", r.text().await.unwrap()),
                    }
                }
            })
        })
        .collect();

    let mut seen = HashSet::new();
    let mut busy_workers = 0;
    for handle in handles {
        let (worker_id, claimed) = handle.await.unwrap();
        busy_workers += usize::from(!claimed.is_empty());
        for task in claimed {
            assert!(seen.insert(task.clone()), "{task} was claimed twice");
            // The database agrees on who holds it.
            let r = app
                .get(&format!("/v1/tasks/{task}"), &poster)
                .await
                .expect(200);
            assert_eq!(r.json["worker_id"], json!(worker_id));
            assert_eq!(r.json["status"], "claimed");
        }
    }
    assert_eq!(seen, posted, "every task claimed, none lost");
    assert!(
        busy_workers > WORKERS / 2,
        "the claims really raced: {busy_workers} workers got tasks"
    );
    app.assert_books_balance().await;
    server.shutdown().await;
}
