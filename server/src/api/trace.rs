//! Request tracing: every request gets an id and a span. The id is the client's
//! `x-request-id` when it is sane (short, plain characters), else a new one; it is returned
//! in the `x-request-id` response header. The span carries the method, the matched route,
//! the id, then the agent (once its key is verified), the status and the latency; everything
//! logged while serving the request (internal errors among it) is logged inside the span, so
//! it carries the id too, and every error response logs one line of its own.

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Response};
use axum::middleware::{self, Next};
use std::time::Duration;
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The header a request id comes in and goes back out in.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a client.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// The id of the request being served, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Wraps every route of `router` (and its fallback) in the request id and the span.
pub fn traced(router: Router) -> Router {
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_request(())
                .on_response(on_response)
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(middleware::from_fn(request_id))
}

/// Records the verified agent on the request's span.
pub fn record_agent(agent_id: &str) {
    Span::current().record("agent_id", tracing::field::display(agent_id));
}

/// A client's id is kept when a log line and a header can carry it as it is.
fn sane(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

async fn request_id(mut req: Request, next: Next) -> axum::response::Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| sane(id))
        .map(str::to_owned)
        .unwrap_or_else(|| crate::ids::new_id("req"));
    let value = HeaderValue::from_str(&id).expect("a sane id is a header value");
    req.headers_mut().insert(REQUEST_ID, value.clone());
    req.extensions_mut().insert(RequestId(id));
    let mut res = next.run(req).await;
    res.headers_mut().insert(REQUEST_ID, value);
    res
}

fn make_span(req: &Request<Body>) -> Span {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str);
    let id = req
        .extensions()
        .get::<RequestId>()
        .map_or("", |id| id.0.as_str());
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %path,
        request_id = %id,
        agent_id = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_us = tracing::field::Empty,
    )
}

fn on_response(res: &Response<Body>, latency: Duration, span: &Span) {
    let status = res.status().as_u16();
    span.record("status", status);
    span.record("latency_us", latency.as_micros() as u64);
    // The span holds the status and latency: the line only says how it ended.
    if status >= 500 {
        tracing::error!("request failed");
    } else if status >= 400 {
        tracing::info!("request refused");
    } else {
        tracing::debug!("request served");
    }
}
