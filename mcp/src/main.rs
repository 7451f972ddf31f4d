//! `pinchwork-mcp`: the Pinchwork marketplace as an MCP server over stdio.
//!
//! Configuration: `PINCHWORK_URL` (default `http://localhost:8000`), `PINCHWORK_API_KEY`, or
//! the credentials file of the `pinchwork` CLI (profile `PINCHWORK_PROFILE`). Without a key the
//! `register` tool creates an agent and saves its key there. Logs go to stderr only
//! (`RUST_LOG`, default `info`): stdout carries the protocol.

use pinchwork_mcp::{PinchworkMcp, Settings};
use rmcp::ServiceExt;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("pinchwork-mcp: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    tracing::info!(
        url = %settings.url,
        profile = %settings.profile,
        has_key = settings.api_key.is_some(),
        "pinchwork-mcp starting on stdio"
    );
    let server = PinchworkMcp::new(settings).map_err(|e| e.to_string())?;
    // pinchwork://events shows what happened since the session began.
    server.follow_events();
    let service = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP initialisation failed: {e}"))?;
    service
        .waiting()
        .await
        .map_err(|e| format!("MCP session failed: {e}"))?;
    Ok(())
}
