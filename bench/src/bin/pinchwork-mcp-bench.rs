//! MCP overhead benchmark: what a tool call of `pinchwork-mcp` costs over the HTTP call it
//! makes. Starts a server in process on loopback (fresh database, rate limits off), registers
//! one agent, then times `--calls` sequential `me` calls twice: straight through the typed
//! client (`GET /v1/me`), and as the `me` tool of an in-process MCP session (rmcp client and
//! server over a duplex pipe; the server side calls the same client). Prints p50/p99/mean of
//! each and the difference and ratio.
//!
//! ```sh
//! cargo run --release -p pinchwork-bench --bin pinchwork-mcp-bench -- --calls 2000
//! ```

use clap::Parser;
use pinchwork_client::Client;
use pinchwork_client::types::RegisterRequest;
use pinchwork_mcp::{PinchworkMcp, Settings};
use pinchwork_server::app::{AppState, Server};
use pinchwork_server::config::Config;
use pinchwork_server::time::SystemClock;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Latency of an MCP tool call over the raw HTTP call it makes")]
struct Args {
    /// Timed calls of each kind.
    #[arg(long, default_value_t = 2_000)]
    calls: usize,
    /// Untimed calls of each kind first.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("pinchwork-mcp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut cfg = Config::defaults();
    cfg.database_url = format!("sqlite://{}", dir.join("pinchwork.db").display());
    cfg.rate_limits_enabled = false;
    cfg.shutdown_timeout_seconds = 1;
    let state = AppState::open(cfg, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let server = Server::start(state, listener)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("http://{}", server.addr);

    let anon = Client::new(&url, None).map_err(|e| e.to_string())?;
    let reg = anon
        .register(&RegisterRequest {
            name: "bench".into(),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let client = anon.with_api_key(Some(reg.api_key.clone()));

    // Raw: the typed client's GET /v1/me.
    let raw = time(args.warmup, args.calls, || async {
        client.me().await.map(|_| ()).map_err(|e| e.to_string())
    })
    .await?;

    // MCP: the `me` tool of an in-process session, which makes the same call.
    let mcp =
        PinchworkMcp::new(Settings::new(&url, Some(reg.api_key))).map_err(|e| e.to_string())?;
    let (server_io, client_io) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = mcp.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let session = ().serve(client_io).await.map_err(|e| format!("MCP handshake: {e}"))?;
    let tool = time(args.warmup, args.calls, || async {
        let res = session
            .call_tool(CallToolRequestParams::new("me"))
            .await
            .map_err(|e| e.to_string())?;
        match res.is_error {
            Some(true) => Err(format!("me failed: {:?}", res.content)),
            _ => Ok(()),
        }
    })
    .await?;
    let _ = session.cancel().await;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "{} sequential `me` calls each (after {} warm-up)",
        args.calls, args.warmup
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9}",
        "", "p50 ms", "p99 ms", "mean ms"
    );
    for (name, s) in [
        ("raw HTTP (client.me)", &raw),
        ("MCP tool over duplex (me)", &tool),
    ] {
        println!("{name:<28} {:>9.3} {:>9.3} {:>9.3}", s.p50, s.p99, s.mean);
    }
    println!(
        "{:<28} {:>9.3} {:>9.3} {:>9.3}",
        "MCP overhead (difference)",
        tool.p50 - raw.p50,
        tool.p99 - raw.p99,
        tool.mean - raw.mean
    );
    println!(
        "{:<28} {:>9.2} {:>9.2} {:>9.2}",
        "ratio MCP / raw",
        tool.p50 / raw.p50,
        tool.p99 / raw.p99,
        tool.mean / raw.mean
    );
    Ok(())
}

/// Latency figures, in milliseconds.
struct Stats {
    p50: f64,
    p99: f64,
    mean: f64,
}

async fn time<F, Fut>(warmup: usize, calls: usize, mut call: F) -> Result<Stats, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    for _ in 0..warmup {
        call().await?;
    }
    let mut took: Vec<Duration> = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        call().await?;
        took.push(start.elapsed());
    }
    took.sort();
    let at = |p: f64| {
        let rank = ((p * took.len() as f64).ceil() as usize).clamp(1, took.len());
        took[rank - 1].as_secs_f64() * 1000.0
    };
    let mean = took.iter().map(Duration::as_secs_f64).sum::<f64>() / took.len() as f64 * 1000.0;
    Ok(Stats {
        p50: at(0.50),
        p99: at(0.99),
        mean,
    })
}
