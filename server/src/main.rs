use clap::Parser;
use pinchwork_server::{app, config::Config};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    // Colours only for a terminal (not in a log file or a pipe), and never under NO_COLOR.
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| "pinchwork_server=info".into()),
        )
        .init();
    if let Err(e) = app::run(Config::parse()).await {
        eprintln!("pinchwork-server: {e}");
        std::process::exit(1);
    }
}
