//! The built `pinchwork-mcp` sends a saved key only to the server it was saved for, and warns
//! before sending a key over plain http to another machine.

use std::io::Read;
use std::process::{Command, Output, Stdio};

/// Starts the binary with `env` and closes its standard input at once (so the session ends
/// before it begins); answers its exit status and logs.
fn run(env: &[(&str, &str)], config: &std::path::Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinchwork-mcp"));
    cmd.env_remove("PINCHWORK_API_KEY")
        .env_remove("PINCHWORK_URL")
        .env_remove("PINCHWORK_PROFILE")
        .env("PINCHWORK_CONFIG_DIR", config)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        cmd.env(name, value);
    }
    let mut child = cmd.spawn().unwrap();
    drop(child.stdin.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let mut out = child.wait_with_output().unwrap();
    out.stderr = stderr.into_bytes();
    out
}

fn save(config: &std::path::Path, url: &str) {
    std::fs::write(
        config.join("credentials.json"),
        serde_json::json!({"current": "alice", "profiles": {"alice": {
            "api_key": "pwk-alice", "agent_id": "ag-alice", "agent_name": "alice", "url": url
        }}})
        .to_string(),
    )
    .unwrap();
}

#[test]
fn a_saved_key_is_not_sent_to_a_server_named_elsewhere() {
    let config = tempfile::tempdir().unwrap();
    save(config.path(), "http://127.0.0.1:9");
    let out = run(&[("PINCHWORK_URL", "http://127.0.0.1:8")], config.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("starting on stdio"), "{stderr}");
    assert!(
        stderr.contains("holds the key of agent alice for http://127.0.0.1:9")
            && stderr.contains("PINCHWORK_API_KEY"),
        "{stderr}"
    );
    // The same server written differently, or an explicit key, is fine.
    for env in [
        &[("PINCHWORK_URL", "http://127.0.0.1:9/")][..],
        &[
            ("PINCHWORK_URL", "http://127.0.0.1:8"),
            ("PINCHWORK_API_KEY", "pwk-other"),
        ],
    ] {
        let out = run(env, config.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("starting on stdio"), "{env:?}: {stderr}");
        assert!(stderr.contains("has_key=true"), "{stderr}");
    }
}

#[test]
fn a_key_over_plain_http_to_another_machine_is_warned_about() {
    let config = tempfile::tempdir().unwrap();
    // ::ffff:127.0.0.1 is not a loopback address to the check (as to std), so this stands for
    // another machine without leaving this one.
    for (url, warned) in [
        ("http://[::ffff:127.0.0.1]:9", true),
        ("http://127.0.0.1:9", false),
        ("https://[::ffff:127.0.0.1]:9", false),
    ] {
        let out = run(
            &[("PINCHWORK_URL", url), ("PINCHWORK_API_KEY", "pwk-x")],
            config.path(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("starting on stdio"), "{stderr}");
        assert_eq!(
            stderr.contains("the API key is sent over plain http"),
            warned,
            "{url}: {stderr}"
        );
    }
}
