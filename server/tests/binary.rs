//! The `pinchwork-server` binary: starts on a fresh SQLite file with no set-up, serves, and
//! stops cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serves_from_a_new_sqlite_file_and_stops_on_sigterm() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("nested/dir/pinchwork.db");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pinchwork-server"))
        .env(
            "PINCHWORK_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("PINCHWORK_HOST", "127.0.0.1")
        .env("PINCHWORK_PORT", port.to_string())
        .env("PINCHWORK_INITIAL_CREDITS", "250")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        db.exists(),
        "the database file and its directories are created"
    );
    let r = http
        .post(format!("{base}/v1/register"))
        .header("accept", "application/json")
        .body(r#"{"name": "e2e"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["credits"], 250,
        "settings come from PINCHWORK_* variables"
    );

    let stopping = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
}
