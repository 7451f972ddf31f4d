//! MCP agents talking to a server through `pinchwork-mcp`, in process over a duplex pipe.

use pinchwork_mcp::{PinchworkMcp, Settings};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{Peer, RoleClient, ServiceExt};
use serde_json::{Value, json};

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

/// An MCP client of the server's own endpoint (`/mcp`, streamable HTTP), acting as the agent
/// whose key it carries.
pub async fn connect_http(url: &str, key: &str) -> Agent {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{url}/mcp")).auth_header(key),
    );
    ().serve(transport)
        .await
        .expect("the MCP handshake over HTTP")
}

/// An MCP client of the `pinchwork-mcp` binary `bin`, started over stdio as an MCP host starts
/// it: pointed at `url`, saving its key in `config_dir` under `profile`. The child is killed
/// when the client is dropped.
pub async fn connect_stdio(
    bin: &std::path::Path,
    url: &str,
    config_dir: &std::path::Path,
    profile: &str,
) -> Agent {
    let mut child = tokio::process::Command::new(bin)
        .env("PINCHWORK_URL", url)
        .env("PINCHWORK_CONFIG_DIR", config_dir)
        .env("PINCHWORK_PROFILE", profile)
        .env_remove("PINCHWORK_API_KEY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("pinchwork-mcp starts");
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    // The child lives as long as the transport reads from it.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    ().serve((stdout, stdin))
        .await
        .expect("the MCP handshake over stdio")
}
