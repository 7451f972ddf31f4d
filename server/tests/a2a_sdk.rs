//! End to end with the official A2A Python SDK (`a2a-sdk` 1.x) as the client: it reads the
//! agent card, sends a task and streams it while a worker (HTTP API) picks it up and delivers,
//! subscribes again and approves, gets and lists tasks, cancels one, and receives push
//! notifications whose token and signatures it verifies (`a2a_sdk/e2e.py`).
//!
//! It needs the SDK in a virtualenv, which `.ci/run` installs (into `target/a2a-venv`, once)
//! before running this test. Without one the test is ignored, and says so: run
//! `cargo test -p pinchwork-server --test a2a_sdk -- --ignored` after installing it, or set
//! `PINCHWORK_A2A_PYTHON` to a Python that has it.

use pinchwork_test_kit::world_with;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

fn python() -> PathBuf {
    match std::env::var("PINCHWORK_A2A_PYTHON") {
        Ok(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/a2a-venv/bin/python"),
    }
}

#[tokio::test]
#[ignore = "needs a2a-sdk in target/a2a-venv (.ci/run installs it and runs this test)"]
async fn the_official_python_sdk_delegates_through_a2a() {
    let python = python();
    assert!(
        python.exists(),
        "no Python with a2a-sdk at {} (run .ci/run, or set PINCHWORK_A2A_PYTHON)",
        python.display()
    );
    let w = world_with(|cfg| cfg.webhook_allow_insecure = true).await;
    let server = w.app.serve().await;
    let base = format!("http://{}", server.addr);

    // The worker: takes tasks tagged e2e-work and delivers them a moment later (so that the
    // client sees the task worked on before it is done).
    let (worker_base, worker_key) = (base.clone(), w.worker.clone());
    let worker = tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let r = http
                .post(format!("{worker_base}/v1/tasks/pickup?tags=e2e-work"))
                .bearer_auth(&worker_key)
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            if r.status() != 200 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            let task: Value = r.json().await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let id = task["task_id"].as_str().unwrap();
            let result = format!("done: {}", task["need"].as_str().unwrap());
            let r = http
                .post(format!("{worker_base}/v1/tasks/{id}/deliver"))
                .bearer_auth(&worker_key)
                .header("accept", "application/json")
                .json(&json!({"result": result}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    });

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/a2a_sdk/e2e.py");
    let poster = w.poster.clone();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .env("PINCHWORK_URL", base)
            .env("PINCHWORK_KEY", poster)
            .output()
            .unwrap()
    });
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the SDK client finished within 3 minutes")
        .unwrap();
    worker.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the SDK client failed: {stdout}");
    assert!(stdout.contains("A2A SDK END-TO-END: PASSED"));
    w.app.assert_books_balance().await;
    server.shutdown().await;
}
