//! End to end: the built `pinchwork-mcp` binary over stdio, as an MCP client launches it.

mod common;

use common::TestServer;
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
