//! The MCP server over streamable HTTP, for `pinchwork-server` to mount at `/mcp`.
//!
//! Each session is a [`PinchworkMcp`] acting as the agent whose API key the requests carry
//! (`Authorization: Bearer …`), and calling the HTTP API at the given base URL — the server's
//! own address over loopback — through the typed client, like the stdio server: so the MCP
//! surface and the HTTP API can never disagree. The mounting server checks the key first.

use crate::server::PinchworkMcp;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The tower service answering MCP requests (sessions kept in this process).
pub type McpHttpService = StreamableHttpService<PinchworkMcp, LocalSessionManager>;

/// Host names always accepted in the `Host` header (a guard against DNS rebinding).
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The MCP endpoint and the switch that ends its sessions.
pub struct McpHttp {
    pub service: McpHttpService,
    /// The open sessions (for the mounting server's per-agent caps and suspensions).
    pub sessions: Arc<LocalSessionManager>,
    shutdown: CancellationToken,
}

impl McpHttp {
    /// Sessions call the API at `api_url`. `allowed_hosts`: host names (or `host:port`)
    /// accepted besides loopback; `*` accepts any host. A request with an `Origin` header (a
    /// browser's) is refused with 403 unless the origin is one of these hosts, as the MCP
    /// specification requires against DNS rebinding; `*` accepts any origin too.
    pub fn new(api_url: &str, allowed_hosts: &[String]) -> Self {
        let shutdown = CancellationToken::new();
        let mut config =
            StreamableHttpServerConfig::default().with_cancellation_token(shutdown.child_token());
        let extra: Vec<&str> = allowed_hosts
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .collect();
        if extra.contains(&"*") {
            config = config.disable_allowed_hosts().disable_allowed_origins();
        } else {
            let hosts: Vec<&str> = LOOPBACK_HOSTS.iter().copied().chain(extra).collect();
            config = config
                .with_allowed_origins(hosts.iter().flat_map(|h| origins_of(h)))
                .enforce_origin_validation()
                .with_allowed_hosts(hosts);
        }
        let url = api_url.to_string();
        let sessions = Arc::new(LocalSessionManager::default());
        let service = StreamableHttpService::new(
            move || PinchworkMcp::for_requests(&url).map_err(std::io::Error::other),
            sessions.clone(),
            config,
        );
        Self {
            service,
            sessions,
            shutdown,
        }
    }

    /// Ends every session and open stream (for the server's shutdown).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// A handle that ends the sessions when cancelled.
    pub fn shutdown_handle(&self) -> impl FnOnce() + Send + 'static {
        let token = self.shutdown.clone();
        move || token.cancel()
    }
}

/// The browser origins of an allowed host: http and https, on its port when it names one,
/// else on any port (as the Host check).
fn origins_of(host: &str) -> [String; 2] {
    let bracketed = if host.contains(':')
        && !host.starts_with('[')
        && host.parse::<std::net::Ipv6Addr>().is_ok()
    {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let has_port = bracketed
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok() && !bracketed.ends_with(']'));
    let authority = if has_port {
        bracketed
    } else {
        format!("{bracketed}:*")
    };
    [
        format!("http://{authority}"),
        format!("https://{authority}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_hosts_with_and_without_ports() {
        assert_eq!(
            origins_of("localhost"),
            ["http://localhost:*", "https://localhost:*"]
        );
        assert_eq!(origins_of("::1"), ["http://[::1]:*", "https://[::1]:*"]);
        assert_eq!(
            origins_of("pinch.example:8443"),
            ["http://pinch.example:8443", "https://pinch.example:8443"]
        );
    }
}
