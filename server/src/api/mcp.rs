//! `/mcp`: the marketplace as an MCP server over streamable HTTP (pinchwork-mcp's service).
//! Every request needs a valid API key (`Authorization: Bearer …`, 401 JSON otherwise); the
//! MCP session acts as that agent, calling this server's HTTP API back over loopback.

use crate::api::auth::Auth;
use crate::app::AppState;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use pinchwork_mcp::http::McpHttpService;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The path of the MCP endpoint.
pub const PATH: &str = "/mcp";

/// The MCP endpoint behind the key check.
pub fn router(state: AppState, service: McpHttpService) -> Router {
    Router::new()
        .nest_service(PATH, service)
        .layer(middleware::from_fn_with_state(state, require_key))
}

async fn require_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Err(e) = Auth::from_request_parts(&mut parts, &state).await {
        return (
            e.status(),
            axum::Json(json!({ "error": e.public_message() })),
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The URL at which this server reaches itself: its address, with loopback for a wildcard.
pub fn self_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}
