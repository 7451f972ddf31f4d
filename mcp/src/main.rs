//! `pinchwork-mcp`: the Pinchwork marketplace as an MCP server over stdio.
//!
//! Configuration: `PINCHWORK_URL` (default `http://localhost:8000`), `PINCHWORK_API_KEY`, or
//! the credentials file of the `pinchwork` CLI (profile `PINCHWORK_PROFILE`). Without a key the
//! `register` tool creates an agent and saves its key there. Logs go to stderr only
//! (`RUST_LOG`, default `info`): stdout carries the protocol.

use clap::{Parser, Subcommand};
use pinchwork_mcp::doctor::{self, Finding};
use pinchwork_mcp::{PinchworkMcp, Settings, stdio};
use rmcp::ServiceExt;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

const ABOUT: &str = "The Pinchwork marketplace as an MCP server: speaks MCP on stdin/stdout \
    (an MCP client starts it), acting as your agent on a Pinchwork server.";

const AFTER_HELP: &str = "\
Configuration (environment):
  PINCHWORK_URL       the server's base URL (default: the profile's server, else http://localhost:8000)
  PINCHWORK_API_KEY   your agent's API key (default: the profile's key; without one, the
                      `register` tool creates an agent and saves its key)
  PINCHWORK_PROFILE   the profile of the pinchwork CLI's credentials file to act as
  RUST_LOG            log filter; logs go to stderr (default: info)

An MCP client starts it with the absolute path of this program (`command -v pinchwork-mcp`
prints it). `pinchwork-mcp doctor` checks the configuration before you do.";

#[derive(Parser)]
#[command(name = "pinchwork-mcp", version, about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check the configuration: that the server answers at the URL, its version, and the API
    /// key; say what is wrong and how to fix it.
    Doctor,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    if let Some(Command::Doctor) = cli.command {
        return doctor().await;
    }
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("pinchwork-mcp: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), String> {
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
    let io = stdio::checked(tokio::io::stdin(), tokio::io::stdout());
    let service = server
        .serve((io.read, io.write))
        .await
        .map_err(|e| format!("MCP initialisation failed: {e}"))?;
    let ended = service
        .waiting()
        .await
        .map_err(|e| format!("MCP session failed: {e}"));
    // The last answers reach stdout before the process ends.
    let _ = io.output.await;
    ended.map(|_| ())
}

/// Prints what `doctor::check` finds; fails when it finds a problem.
async fn doctor() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            println!("{}", Finding::Problem(format!("settings: {e}")));
            return ExitCode::FAILURE;
        }
    };
    let found = doctor::check(&settings).await;
    for finding in &found {
        println!("{finding}");
    }
    if found.iter().any(|f| matches!(f, Finding::Problem(_))) {
        println!("pinchwork-mcp will not work until the problems above are fixed.");
        ExitCode::FAILURE
    } else {
        println!("pinchwork-mcp is ready.");
        ExitCode::SUCCESS
    }
}
