//! End to end: the built `pinchwork-mcp` binary over stdio, as an MCP client launches it.

use pinchwork_test_kit::TestServer;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn the_binary_speaks_mcp_over_stdio_and_saves_the_registered_key() {
    let server = TestServer::start();
    let config = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pinchwork-mcp"))
        .env("PINCHWORK_URL", &server.url)
        .env("PINCHWORK_CONFIG_DIR", config.path())
        .env("PINCHWORK_PROFILE", "mcp-agent")
        .env_remove("PINCHWORK_API_KEY")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    // Logs are drained as they come (a full stderr pipe would block the server).
    let mut stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut logs = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut logs);
        logs
    });
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut send = |msg: Value| {
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
    };
    // Every line on stdout is a JSON-RPC message; answers the response to `id`.
    let response = |id: i64| loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("an answer on stdout");
        let msg: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carries only JSON-RPC ({e}): {line}"));
        assert_eq!(msg["jsonrpc"], "2.0", "{msg}");
        if msg["id"] == id {
            return msg;
        }
    };

    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "0"}
        }}),
    );
    let init = response(1);
    assert_eq!(
        init["result"]["serverInfo"]["name"], "pinchwork-mcp",
        "{init}"
    );
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );
    assert!(
        init["result"]["instructions"]
            .as_str()
            .unwrap()
            .contains("delegate")
    );
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let list = response(2);
    let tools = list["result"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 32, "{list}");
    let deliver = tools.iter().find(|t| t["name"] == "deliver").unwrap();
    assert_eq!(deliver["annotations"]["readOnlyHint"], false);
    assert!(
        deliver["outputSchema"]["properties"]["status"].is_object(),
        "{deliver}"
    );

    send(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "register", "arguments": {"name": "stdio-agent"}
        }}),
    );
    let reg = response(3);
    let result = &reg["result"];
    assert_ne!(result["isError"], true, "{reg}");
    let agent_id = result["structuredContent"]["agent_id"].as_str().unwrap();

    send(
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "name": "me", "arguments": {}
        }}),
    );
    let me = response(4);
    assert_eq!(me["result"]["structuredContent"]["id"], agent_id, "{me}");

    // An API failure is a result with isError, not a JSON-RPC error.
    send(
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
            "name": "get_task", "arguments": {"task_id": "tk-missing"}
        }}),
    );
    let missing = response(5);
    assert!(missing.get("error").is_none(), "{missing}");
    assert_eq!(missing["result"]["isError"], true, "{missing}");
    assert!(
        missing["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Task not found")
    );

    // Closing stdin ends the server; the key is in the CLI's credentials file.
    drop(stdin);
    let status = wait_with_timeout(&mut child, Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    let creds: Value = serde_json::from_str(
        &std::fs::read_to_string(config.path().join("credentials.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(creds["profiles"]["mcp-agent"]["agent_id"], agent_id);
    assert!(creds["profiles"]["mcp-agent"]["api_key"].is_string());

    let logs = logs.join().unwrap();
    assert!(
        logs.contains("pinchwork-mcp starting"),
        "logs go to stderr: {logs}"
    );
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("pinchwork-mcp did not exit after stdin closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The binary with a fresh configuration directory and `env`, its stdout lines on a channel.
struct Running {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    _config: tempfile::TempDir,
}

impl Running {
    fn start(env: &[(&str, &str)]) -> Self {
        let config = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinchwork-mcp"));
        cmd.env("PINCHWORK_CONFIG_DIR", config.path())
            .env_remove("PINCHWORK_API_KEY")
            .env_remove("PINCHWORK_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
            _config: config,
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next message on stdout (each line is one JSON-RPC message).
    fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(5))
            .expect("an answer on stdout within 5 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }
}

#[test]
fn a_malformed_line_gets_a_json_rpc_parse_error_and_the_session_goes_on() {
    let server = TestServer::start();
    let mut mcp = Running::start(&[("PINCHWORK_URL", &server.url)]);
    mcp.send("this is not json");
    let err = mcp.next();
    assert_eq!(err["jsonrpc"], "2.0", "{err}");
    assert_eq!(err["id"], Value::Null, "{err}");
    assert_eq!(err["error"]["code"], -32700, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Parse error"),
        "{err}"
    );
    // A truncated message too, then the session works as usual.
    mcp.send(r#"{"jsonrpc": "2.0", "id": 1, "method": "initialize""#);
    assert_eq!(mcp.next()["error"]["code"], -32700);
    mcp.send(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "0"}}})
        .to_string(),
    );
    let init = mcp.next();
    assert_eq!(init["id"], 1, "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "pinchwork-mcp");
    mcp.send(r#"{"jsonrpc": "2.0", "method": "notifications/initialized"}"#);
    mcp.send("}{");
    assert_eq!(mcp.next()["error"]["code"], -32700);
    mcp.send(r#"{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}"#);
    let list = mcp.next();
    assert_eq!(list["id"], 2, "{list}");
    assert!(list["result"]["tools"].as_array().unwrap().len() > 30);
    drop(mcp.stdin);
    let status = wait_with_timeout(&mut mcp.child, Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let config = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinchwork-mcp"));
    cmd.args(args)
        .env("PINCHWORK_CONFIG_DIR", config.path())
        .env_remove("PINCHWORK_API_KEY")
        .env_remove("PINCHWORK_URL")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn help_and_version_print_and_exit() {
    let (ok, help) = run(&["--help"], &[]);
    assert!(ok);
    for part in [
        "PINCHWORK_URL",
        "PINCHWORK_API_KEY",
        "doctor",
        "command -v pinchwork-mcp",
    ] {
        assert!(help.contains(part), "{part}: {help}");
    }
    let (ok, version) = run(&["--version"], &[]);
    assert!(ok);
    assert_eq!(
        version.trim(),
        format!("pinchwork-mcp {}", env!("CARGO_PKG_VERSION"))
    );
    let (ok, _) = run(&["--no-such-flag"], &[]);
    assert!(!ok);
}

#[test]
fn doctor_checks_the_url_the_key_and_the_server_version() {
    let server = TestServer::start();
    let client = pinchwork_client::Client::new(&server.url, None).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key = runtime
        .block_on(client.register(&pinchwork_client::types::RegisterRequest {
            name: "doc".into(),
            ..Default::default()
        }))
        .unwrap()
        .api_key;

    let (ok, out) = run(
        &["doctor"],
        &[("PINCHWORK_URL", &server.url), ("PINCHWORK_API_KEY", &key)],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("Pinchwork {}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    assert!(out.contains("agent doc (ag-"), "{out}");
    assert!(out.contains("ready"), "{out}");

    let (ok, out) = run(
        &["doctor"],
        &[
            ("PINCHWORK_URL", &server.url),
            ("PINCHWORK_API_KEY", "pwk-wrong"),
        ],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("PROBLEM  API key"), "{out}");
    assert!(out.contains("another server"), "{out}");

    let (ok, out) = run(&["doctor"], &[("PINCHWORK_URL", "http://127.0.0.1:9")]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("PROBLEM  server: cannot reach http://127.0.0.1:9"),
        "{out}"
    );

    // Something answers, but not Pinchwork: a path below the server instead of its base URL.
    let (ok, out) = run(
        &["doctor"],
        &[("PINCHWORK_URL", &format!("{}/elsewhere", server.url))],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("not as a Pinchwork server"), "{out}");
    // The API's own path is a mistake the settings name at once.
    let (ok, out) = run(
        &["doctor"],
        &[("PINCHWORK_URL", &format!("{}/v1", server.url))],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("without /v1"), "{out}");

    let (ok, out) = run(&["doctor"], &[("PINCHWORK_URL", &server.url)]);
    assert!(ok, "no key yet is fine (register creates one): {out}");
    assert!(out.contains("note     API key: none yet"), "{out}");
}
