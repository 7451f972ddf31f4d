//! Test harness: a real Pinchwork server on loopback (its own database), and MCP agents talking
//! to it through `pinchwork-mcp`, in process over a duplex pipe.
#![allow(dead_code)]

use pinchwork_mcp::{PinchworkMcp, Settings};
use pinchwork_server::app::{AppState, Server};
use pinchwork_server::config::Config;
use pinchwork_server::time::SystemClock;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{Peer, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::thread::JoinHandle;
use tempfile::TempDir;

/// A server with its own runtime on a background thread; stops when dropped.
pub struct TestServer {
    pub url: String,
    pub cfg: Config,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _db: TempDir,
}

impl TestServer {
    pub fn start() -> Self {
        let db = TempDir::new().unwrap();
        let mut cfg = Config::defaults();
        cfg.database_url = format!("sqlite://{}", db.path().join("pinchwork.db").display());
        cfg.rate_limits_enabled = false;
        cfg.shutdown_timeout_seconds = 1;
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server_cfg = cfg.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let state = AppState::open(server_cfg, Arc::new(SystemClock))
                    .await
                    .unwrap();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let server = Server::start(state, listener).await.unwrap();
                addr_tx.send(server.addr).unwrap();
                let _ = stopped.await;
                server.shutdown().await;
            });
        });
        let addr = addr_rx.recv().expect("the server starts");
        Self {
            url: format!("http://{addr}"),
            cfg,
            stop: Some(stop),
            thread: Some(thread),
            _db: db,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub type Agent = RunningService<RoleClient, ()>;

/// An MCP client connected to a fresh `pinchwork-mcp` server with `settings`.
pub async fn connect(settings: Settings) -> Agent {
    let server = PinchworkMcp::new(settings).unwrap();
    let (server_io, client_io) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(client_io)
        .await
        .expect("the MCP handshake succeeds")
}

/// Calls `tool` with `args` (a JSON object).
pub async fn call(agent: &Peer<RoleClient>, tool: &'static str, args: Value) -> CallToolResult {
    let args = match args {
        Value::Object(map) => map,
        Value::Null => Default::default(),
        other => panic!("tool arguments must be an object, not {other}"),
    };
    agent
        .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"))
}

/// Calls `tool` and answers its structured content, failing the test on an error result.
pub async fn ok(agent: &Peer<RoleClient>, tool: &'static str, args: Value) -> Value {
    let res = call(agent, tool, args).await;
    assert_ne!(res.is_error, Some(true), "{tool} failed: {}", text(&res));
    let shown = text(&res);
    res.structured_content
        .unwrap_or_else(|| panic!("{tool} returned no structured content: {shown}"))
}

/// The text blocks of a result, joined.
pub fn text(res: &CallToolResult) -> String {
    res.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Registers an agent through the `register` tool of a key-less MCP server.
pub async fn registered_agent(url: &str, name: &str) -> (Agent, Value) {
    let agent = connect(Settings::new(url, None)).await;
    let me = ok(&agent, "register", json!({ "name": name })).await;
    (agent, me)
}
