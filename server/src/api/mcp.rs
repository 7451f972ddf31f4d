//! `/mcp`: the marketplace as an MCP server over streamable HTTP (pinchwork-mcp's service).
//! Every request needs a valid API key (`Authorization: Bearer …`; otherwise 401 with
//! `WWW-Authenticate: Bearer` and a JSON body, so that clients say "invalid API key" rather
//! than start an OAuth flow); the MCP session acts as that agent, calling this server's HTTP
//! API back over loopback. Every error body is JSON, and ending a session (DELETE) is 204.

use crate::api::auth::{Auth, Verified};
use crate::api::holds::{Hold, Kind};
use crate::api::rate_limit::Bucket;
use crate::app::AppState;
use crate::error::Error;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use pinchwork_mcp::http::McpHttpService;
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::SessionId;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};

/// The path of the MCP endpoint.
pub const PATH: &str = "/mcp";

/// The MCP endpoint behind the key check.
pub fn router(state: AppState, service: McpHttpService) -> Router {
    let router = Router::new()
        .nest_service(PATH, service)
        .layer(middleware::from_fn(api_style))
        .layer(middleware::from_fn_with_state(state, require_key));
    crate::api::trace::traced(router)
}

/// Every request needs a valid key (failures count against the client's address, as on the
/// API). A new session (a POST without `Mcp-Session-Id`: `initialize`) counts against the
/// agent's read limit and its cap of sessions. Other requests are not counted here: the API
/// calls they make back over loopback carry the agent's key and count against the agent
/// there, once.
async fn require_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let caller = match Auth::from_request_parts(&mut parts, &state).await {
        Ok(Auth(caller)) => caller,
        Err(e) => {
            let mut res = json_error(&e);
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
    };
    let opens_session = parts.method == Method::POST && !parts.headers.contains_key(SESSION_HEADER);
    if !opens_session {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let subject = Verified::Agent(caller.id.clone()).subject();
    if let Err(e) = state.limiter.hit(Bucket::Read, &subject, state.now()).await {
        return json_error(&e);
    }
    state.mcp_sessions.forget_closed(&caller.id).await;
    let hold = match state.holds.take(
        &caller.id,
        Kind::McpSession,
        state.cfg.max_mcp_sessions_per_agent,
    ) {
        Ok(hold) => hold,
        Err(e) => return json_error(&e),
    };
    let res = next.run(Request::from_parts(parts, body)).await;
    if let Some(id) = res
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        state.mcp_sessions.opened(&caller.id, id, hold);
    }
    res
}

fn json_error(e: &Error) -> Response {
    let mut res = (
        e.status(),
        axum::Json(json!({ "error": e.public_message() })),
    )
        .into_response();
    if let Error::TooManyRequests {
        retry_after_secs: Some(secs),
        ..
    } = e
        && let Ok(v) = secs.to_string().parse()
    {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

const SESSION_HEADER: &str = "mcp-session-id";

/// The MCP sessions open on this node, by agent, each holding its place in the agent's cap
/// until it ends.
#[derive(Default)]
pub struct Sessions {
    manager: OnceLock<Arc<LocalSessionManager>>,
    by_agent: Mutex<HashMap<String, Vec<(SessionId, Hold)>>>,
}

impl Sessions {
    /// The session manager the sessions live in (set once the endpoint is mounted).
    pub fn attach(&self, manager: Arc<LocalSessionManager>) {
        let _ = self.manager.set(manager);
    }

    fn opened(&self, agent: &str, id: &str, hold: Hold) {
        let mut by_agent = self.by_agent.lock().unwrap();
        by_agent
            .entry(agent.to_string())
            .or_default()
            .push((SessionId::from(id), hold));
    }

    /// Releases the places of the agent's sessions that have ended (closed by the client,
    /// or idle past the session timeout).
    async fn forget_closed(&self, agent: &str) {
        let Some(manager) = self.manager.get() else {
            return;
        };
        let live = manager.sessions.read().await;
        let mut by_agent = self.by_agent.lock().unwrap();
        if let Some(sessions) = by_agent.get_mut(agent) {
            sessions.retain(|(id, _)| live.contains_key(id));
            if sessions.is_empty() {
                by_agent.remove(agent);
            }
        }
    }

    /// The agents with sessions on this node.
    pub fn agents(&self) -> Vec<String> {
        self.by_agent.lock().unwrap().keys().cloned().collect()
    }

    /// Whether the session is open (for tests: the test kit turns on `test-support`).
    #[cfg(any(test, feature = "test-support"))]
    pub async fn is_open(&self, id: &str) -> bool {
        let Some(manager) = self.manager.get() else {
            return false;
        };
        manager
            .sessions
            .read()
            .await
            .contains_key(&SessionId::from(id))
    }

    /// Ends every session of the agent on this node.
    pub async fn close_agent(&self, agent: &str) {
        let sessions = self.by_agent.lock().unwrap().remove(agent);
        let (Some(manager), Some(sessions)) = (self.manager.get(), sessions) else {
            return;
        };
        for (id, _hold) in sessions {
            if let Err(e) = manager.close_session(&id).await {
                tracing::debug!(error = %e, "closing an MCP session");
            }
        }
    }
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
