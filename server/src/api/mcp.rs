//! `/mcp`: the marketplace as an MCP server over streamable HTTP (pinchwork-mcp's service).
//! Every request needs a valid API key (`Authorization: Bearer …`; otherwise 401 with
//! `WWW-Authenticate: Bearer` and a JSON body, so that clients say "invalid API key" rather
//! than start an OAuth flow); the MCP session acts as that agent, calling this server's HTTP
//! API back over loopback. Every error body is JSON, and ending a session (DELETE) is 204.

use crate::api::auth::Auth;
use crate::app::AppState;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
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
        .layer(middleware::from_fn(api_style))
        .layer(middleware::from_fn_with_state(state, require_key))
}

async fn require_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Err(e) = Auth::from_request_parts(&mut parts, &state).await {
        let mut res = (
            e.status(),
            axum::Json(json!({ "error": e.public_message() })),
        )
            .into_response();
        if e.status() == StatusCode::UNAUTHORIZED {
            // RFC 6750: no error code when no key came, `invalid_token` for a wrong one.
            let challenge = if parts.headers.contains_key(header::AUTHORIZATION) {
                r#"Bearer realm="pinchwork", error="invalid_token", error_description="Invalid API key""#
            } else {
                r#"Bearer realm="pinchwork""#
            };
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        return res;
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Longest plain-text error body of rmcp turned into JSON (its messages are one line).
const MAX_ERROR_TEXT: usize = 16 * 1024;

/// rmcp answers some failures in plain text and a session's DELETE with 202: here errors
/// are `{"error": "..."}` like the rest of the API (JSON-RPC errors are JSON already), and
/// DELETE answers 204.
async fn api_style(req: Request, next: Next) -> Response {
    let deleting = req.method() == Method::DELETE;
    let res = next.run(req).await;
    let status = res.status();
    if deleting && status == StatusCode::ACCEPTED {
        let (mut parts, _) = res.into_parts();
        parts.status = StatusCode::NO_CONTENT;
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_string()
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let mut json = axum::Json(json!({ "error": message })).into_response();
    json.headers_mut().extend(parts.headers);
    *json.status_mut() = status;
    json
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
