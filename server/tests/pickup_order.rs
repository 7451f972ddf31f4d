//! Pickup order among broadcast tasks: better posters first, then posters who trust the
//! worker more, then the oldest.

use pinchwork_test_kit::TestApp;
use serde_json::json;

async fn complete(app: &TestApp, poster: &str, worker: &str, rating: Option<i64>) {
    let task = app.post_task(poster, "warm-up", 5).await;
    app.post(&format!("/v1/tasks/{task}/pickup"), worker, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/tasks/{task}/deliver"),
        worker,
        json!({"result": "ok"}),
    )
    .await
    .expect(200);
    app.post(&format!("/v1/tasks/{task}/approve"), poster, json!({}))
        .await
        .expect(200);
    if let Some(rating) = rating {
        app.post(
            &format!("/v1/tasks/{task}/rate"),
            worker,
            json!({"rating": rating}),
        )
        .await
        .expect(201);
    }
}

async fn next_pickup(app: &TestApp, worker: &str) -> String {
    let r = app
        .call("POST", "/v1/tasks/pickup", Some(worker), None)
        .await
        .expect(200);
    r.json["task_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn better_rated_posters_come_first() {
    let app = TestApp::new().await;
    let (_, plain) = app.register("plain poster").await;
    let (_, rated) = app.register("rated poster").await;
    let (_, helper) = app.register("helper").await;
    let (_, worker) = app.register("worker").await;
    complete(&app, &rated, &helper, Some(5)).await;

    let older = app.post_task(&plain, "older task", 5).await;
    let newer = app
        .post_task(&rated, "newer task by a 5-star poster", 5)
        .await;
    assert_eq!(next_pickup(&app, &worker).await, newer);
    assert_eq!(next_pickup(&app, &worker).await, older);
}

#[tokio::test]
async fn trust_breaks_ties_between_equal_posters_then_age() {
    let app = TestApp::new().await;
    let (_, stranger_poster) = app.register("poster without history").await;
    let (_, friendly_poster) = app.register("poster who knows the worker").await;
    let (_, worker) = app.register("worker").await;
    let (_, newcomer) = app.register("newcomer").await;
    // An approval without a rating raises trust both ways and leaves reputation at 0.
    complete(&app, &friendly_poster, &worker, None).await;
    let trust = app.get("/v1/me/trust", &friendly_poster).await.expect(200);
    assert_eq!(trust.json["trust_scores"][0]["score"], 0.55);

    let older = app.post_task(&stranger_poster, "older", 5).await;
    let newer = app.post_task(&friendly_poster, "newer", 5).await;
    let older2 = app
        .post_task(&stranger_poster, "oldest of the rest", 5)
        .await;
    assert_eq!(
        next_pickup(&app, &worker).await,
        newer,
        "the poster who trusts the worker first"
    );
    // Nobody trusts the newcomer more than anyone else: plain age order.
    assert_eq!(next_pickup(&app, &newcomer).await, older);
    assert_eq!(next_pickup(&app, &newcomer).await, older2);
}

#[tokio::test]
async fn undecodable_path_segments_are_a_json_400() {
    let app = TestApp::new().await;
    let (_, key) = app.register("a").await;
    let r = app.get("/v1/tasks/%FF%FE", &key).await.expect(400);
    assert!(r.error().starts_with("Invalid path"), "{}", r.text);
}
