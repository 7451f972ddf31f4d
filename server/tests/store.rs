//! The store's contract on the backend the suite runs on (SQLite; PostgreSQL in the
//! PostgreSQL pass): one statement at a time through `Transaction`, whichever driver runs it.

use pinchwork_server::store::StoreError;
use pinchwork_test_kit::{T0, TestApp};

/// `write_one` runs one statement outside an explicit transaction on PostgreSQL (no BEGIN and
/// COMMIT round trips); a job that tries a second statement fails instead of running it
/// unprotected.
#[tokio::test]
async fn a_single_statement_job_runs_one_statement_and_no_more() {
    let app = TestApp::new().await;
    let store = app.state.store.clone();
    let hit = |n: i64| {
        let store = store.clone();
        async move {
            store
                .write_one(move |tx| {
                    Box::pin(async move {
                        let mut window = tx.count_hit("test", "someone", T0, 60_000).await?;
                        for _ in 1..n {
                            window = tx.count_hit("test", "someone", T0, 60_000).await?;
                        }
                        Ok::<_, StoreError>(window)
                    })
                })
                .await
        }
    };
    assert_eq!(hit(1).await.unwrap().hits, 1);
    assert_eq!(hit(1).await.unwrap().hits, 2);
    let refused = hit(2).await.unwrap_err();
    assert!(
        refused.to_string().contains("second statement"),
        "{refused}"
    );
}

/// Rows are read by column name: a task written with every optional field set reads back the
/// same, joined queries included (browse adds the poster's reputation and the match rank).
#[tokio::test]
async fn a_task_reads_back_as_written_alone_and_in_a_browse() {
    let app = TestApp::new().await;
    let (poster, poster_key) = app.register("poster").await;
    let (_, worker_key) = app.register("worker").await;
    let task_id = app.post_task(&poster_key, "Translate this", 7).await;
    let read = app
        .get(&format!("/v1/tasks/{task_id}"), &poster_key)
        .await
        .expect(200);
    let browsed = app
        .get("/v1/tasks/available", &worker_key)
        .await
        .expect(200);
    let listed = &browsed.json["tasks"][0];
    assert_eq!(listed["task_id"], task_id.as_str());
    assert_eq!(read.json["need"], "Translate this");
    assert_eq!(listed["need"], read.json["need"]);
    assert_eq!(listed["max_credits"], 7);
    assert_eq!(listed["poster_id"], poster.as_str());
    assert_eq!(listed["is_matched"], false);
    assert_eq!(listed["match_rank"], serde_json::Value::Null);
    assert_eq!(listed["poster_reputation"], 0.0);
}
