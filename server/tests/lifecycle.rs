use pinchwork_test_kit::TestApp;
use serde_json::json;

#[tokio::test]
async fn full_round_trip_moves_credits_as_documented() {
    let app = TestApp::new().await;
    let (_, poster) = app.register("poster").await;
    let (worker_id, worker) = app.register("worker").await;
    let task = app.post_task(&poster, "Review this code", 15).await;
    assert_eq!(app.credits(&poster).await, 85);

    let picked = app
        .call("POST", "/v1/tasks/pickup", Some(&worker), None)
        .await
        .expect(200);
    assert_eq!(picked.json["task_id"], task.as_str());
    assert_eq!(picked.header("x-budget"), Some("15"));

    let delivered = app
        .post(
            &format!("/v1/tasks/{task}/deliver"),
            &worker,
            json!({"result": "3 bugs", "credits_claimed": 12}),
        )
        .await
        .expect(200);
    assert_eq!(delivered.json["status"], "delivered");
    assert_eq!(delivered.header("x-credits-charged"), Some("12"));

    let approved = app
        .post(
            &format!("/v1/tasks/{task}/approve"),
            &poster,
            json!({"rating": 5}),
        )
        .await
        .expect(200);
    assert_eq!(approved.json["status"], "approved");
    assert_eq!(approved.json["worker_id"], worker_id.as_str());
    // Charged 12 of 15: the poster gets 3 back; the worker gets 12 less the 10 % fee (1).
    assert_eq!(app.credits(&poster).await, 88);
    assert_eq!(app.credits(&worker).await, 111);
    app.assert_books_balance().await;
}
