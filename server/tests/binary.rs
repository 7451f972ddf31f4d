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

/// Waits (up to 10 s) until the server at `base` answers.
async fn wait_until_serving(http: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    wait_until_serving(&http, &base).await;
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

/// `--dev`: loopback only, no limits for this machine's clients (more registrations than the
/// 5 an hour), and the start-up says where it listens and where the data is, in plain text
/// when the log is not a terminal.
#[tokio::test]
async fn dev_mode_says_where_it_listens_and_lifts_limits_for_loopback() {
    use std::io::Read;
    let dir = tempfile::TempDir::new().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pinchwork-server"))
        .arg("--dev")
        .current_dir(dir.path())
        .env_remove("PINCHWORK_DATABASE_URL")
        .env_remove("PINCHWORK_HOST")
        .env_remove("PINCHWORK_RATE_LIMITS_ENABLED")
        .env_remove("NO_COLOR")
        .env("PINCHWORK_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_serving(&http, &base).await;
    for i in 0..8 {
        let r = http
            .post(format!("{base}/v1/register"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"name": "dev-{i}"}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "registration {i}");
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let log = log.join().unwrap();
    assert!(
        log.contains(&format!(
            "pinchwork listening on http://127.0.0.1:{port} (this machine only)"
        )),
        "{log}"
    );
    let db = dir.path().join("data/pinchwork.db");
    assert!(
        log.contains(&format!("data: SQLite file {}", db.display())),
        "{log}"
    );
    assert!(db.exists());
    assert!(log.contains("development mode"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes in a log that is not a terminal: {log:?}"
    );
}

#[test]
fn dev_mode_refuses_to_listen_beyond_this_machine() {
    let out = Command::new(env!("CARGO_BIN_EXE_pinchwork-server"))
        .args([
            "--dev",
            "--host",
            "0.0.0.0",
            "--database-url",
            "sqlite::memory:",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--dev serves this machine only"),
        "{stderr}"
    );
}

/// A short admin key is warned about at start-up (guessing it is throttled, not impossible);
/// a long one is not.
#[tokio::test]
async fn a_weak_admin_key_is_warned_about_at_start_up() {
    use std::io::Read;
    for (key, warned) in [("short-admin-key", true), (&*"s".repeat(32), false)] {
        let dir = tempfile::TempDir::new().unwrap();
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pinchwork-server"))
            .env(
                "PINCHWORK_DATABASE_URL",
                format!("sqlite://{}", dir.path().join("p.db").display()),
            )
            .env("PINCHWORK_HOST", "127.0.0.1")
            .env("PINCHWORK_PORT", port.to_string())
            .env("PINCHWORK_ADMIN_KEY", key)
            .env_remove("PINCHWORK_ADMIN_KEY_FILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let outputs: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        let readers = outputs.map(|mut out| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = out.read_to_string(&mut text);
                text
            })
        });
        wait_until_serving(&reqwest::Client::new(), &format!("http://127.0.0.1:{port}")).await;
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(child.wait().unwrap().success());
        let log: String = readers.map(|r| r.join().unwrap()).concat();
        assert_eq!(
            log.contains("the admin key is shorter than 32 characters"),
            warned,
            "key of {} characters: {log}",
            key.len()
        );
    }
}
