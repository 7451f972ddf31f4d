use clap::Parser;
use pinchwork_server::{app, config::Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| "pinchwork_server=info".into()),
        )
        .init();
    if let Err(e) = app::run(Config::parse()).await {
        eprintln!("pinchwork-server: {e}");
        std::process::exit(1);
    }
}
