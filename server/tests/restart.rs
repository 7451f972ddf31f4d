//! Timers that fall due while the server is down fire as soon as it is back.

use pinchwork_server::model::MINUTE;
use pinchwork_test_kit::{TestApp, test_config};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_due_during_downtime_fire_after_restart() {
    let first = TestApp::new().await;
    let (_, poster) = first.register("poster").await;
    let (_, worker) = first.register("worker").await;

    // One task of each timer kind.
    let expiring = first
        .post(
            "/v1/tasks",
            &poster,
            json!({"need": "deadline", "max_credits": 10, "deadline_minutes": 5}),
        )
        .await
        .expect(201)
        .json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let claimed = first
        .post(
            "/v1/tasks",
            &poster,
            json!({"need": "claim", "max_credits": 10, "claim_timeout_minutes": 5}),
        )
        .await
        .expect(201)
        .json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    first
        .post(&format!("/v1/tasks/{claimed}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    let reviewed = first
        .post(
            "/v1/tasks",
            &poster,
            json!({"need": "review", "max_credits": 10, "review_timeout_minutes": 5}),
        )
        .await
        .expect(201)
        .json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    first
        .post(&format!("/v1/tasks/{reviewed}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    first
        .post(
            &format!("/v1/tasks/{reviewed}/deliver"),
            &worker,
            json!({"result": "done"}),
        )
        .await
        .expect(200);

    let server = first.serve().await;
    server.shutdown().await;
    let (dir, clock) = (first.dir.clone(), first.clock.clone());
    drop(first);

    // Down for ten minutes: all three timers fall due meanwhile.
    clock.advance(10 * MINUTE);
    let second = TestApp::open(test_config(&dir), dir.clone(), clock).await;
    let server = second.serve().await;

    let status = |task: String| {
        let app = &second;
        let poster = poster.clone();
        async move {
            app.get(&format!("/v1/tasks/{task}"), &poster)
                .await
                .expect(200)
                .json["status"]
                .clone()
        }
    };
    let mut fired = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if status(expiring.clone()).await == "expired"
            && status(claimed.clone()).await == "posted"
            && status(reviewed.clone()).await == "approved"
        {
            fired = true;
            break;
        }
    }
    assert!(fired, "timers did not fire within 2 s of the restart");
    // Expired: refunded. Auto-approved: paid 10 less 1 fee.
    assert_eq!(second.credits(&poster).await, 100 - 10 - 10);
    assert_eq!(second.credits(&worker).await, 109);
    second.assert_books_balance().await;
    server.shutdown().await;
}
