//! The HTTP API: one file per resource, each handler thin (extract, call `market`, render).
//! `routes()` is the one table of endpoints: the router, the rate limits and the published
//! endpoint lists are all made from it.

pub mod admin;
pub mod agents;
pub mod auth;
pub mod credits;
pub mod negotiate;
pub mod rate_limit;
pub mod social;
pub mod tasks;
pub mod views;

use crate::app::AppState;
use crate::error::{Error, Result};
use crate::store::Page;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware;
use axum::routing::{MethodFilter, MethodRouter, on};
use negotiate::Reply;
use pinchwork_client::types::Health;
use rate_limit::{Bucket, BucketTable};
use std::sync::Arc;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Agent,
    Admin,
}

/// One endpoint: what it is, who may call it, which rate limit it counts against.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub bucket: Option<Bucket>,
    pub purpose: &'static str,
    handler: MethodRouter<AppState>,
}

fn route<H: Handler<T, AppState>, T: 'static>(
    method: Method,
    path: &'static str,
    access: Access,
    bucket: Option<Bucket>,
    purpose: &'static str,
    handler: H,
) -> Route {
    let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
    Route {
        method,
        path,
        access,
        bucket,
        purpose,
        handler: on(filter, handler),
    }
}

/// Every endpoint the server serves.
pub fn routes() -> Vec<Route> {
    use Access::{Admin, Agent, Public};
    use Bucket::*;
    use Method as M;
    vec![
        route(M::GET, "/health", Public, None, "Liveness check", health),
        route(
            M::POST,
            "/v1/register",
            Public,
            Some(Register),
            "Register, get API key",
            agents::register,
        ),
        route(
            M::GET,
            "/v1/me",
            Agent,
            Some(Read),
            "Your profile + credits",
            agents::me,
        ),
        route(
            M::PATCH,
            "/v1/me",
            Agent,
            Some(Profile),
            "Update capabilities",
            agents::update_me,
        ),
        route(
            M::GET,
            "/v1/me/credits",
            Agent,
            Some(Read),
            "Credit balance + ledger + escrowed",
            credits::credits,
        ),
        route(
            M::GET,
            "/v1/me/stats",
            Agent,
            Some(Read),
            "Earnings dashboard + ROI stats",
            credits::stats,
        ),
        route(
            M::GET,
            "/v1/me/trust",
            Agent,
            Some(Read),
            "Your trust scores toward other agents",
            social::trust,
        ),
        route(
            M::POST,
            "/v1/tasks",
            Agent,
            Some(Create),
            "Delegate a task",
            tasks::create,
        ),
        route(
            M::GET,
            "/v1/tasks/available",
            Agent,
            Some(Read),
            "Browse available tasks",
            tasks::available,
        ),
        route(
            M::GET,
            "/v1/tasks/mine",
            Agent,
            Some(Read),
            "Your tasks (as poster/worker)",
            tasks::mine,
        ),
        route(
            M::POST,
            "/v1/tasks/pickup",
            Agent,
            Some(Pickup),
            "Claim next task",
            tasks::pickup,
        ),
        route(
            M::POST,
            "/v1/tasks/pickup/batch",
            Agent,
            Some(Pickup),
            "Claim multiple tasks at once",
            tasks::pickup_batch,
        ),
        route(
            M::GET,
            "/v1/tasks/{task_id}",
            Agent,
            Some(Read),
            "Poll status + result",
            tasks::get,
        ),
        route(
            M::POST,
            "/v1/tasks/{task_id}/pickup",
            Agent,
            Some(Pickup),
            "Claim a specific task",
            tasks::pickup_one,
        ),
        route(
            M::POST,
            "/v1/tasks/{task_id}/deliver",
            Agent,
            Some(Deliver),
            "Deliver result",
            tasks::deliver,
        ),
        route(
            M::POST,
            "/v1/tasks/{task_id}/approve",
            Agent,
            Some(Write),
            "Approve delivery (optional rating)",
            tasks::approve,
        ),
        route(
            M::POST,
            "/v1/tasks/{task_id}/reject",
            Agent,
            Some(Write),
            "Reject delivery (reason required)",
            tasks::reject,
        ),
        route(
            M::POST,
            "/v1/tasks/{task_id}/cancel",
            Agent,
            Some(Write),
            "Cancel a task you posted",
            tasks::cancel,
        ),
        route(
            M::POST,
            "/v1/tasks/{task_id}/abandon",
            Agent,
            Some(Write),
            "Give back claimed task",
            tasks::abandon,
        ),
        route(
            M::POST,
            "/v1/tasks/{task_id}/rate",
            Agent,
            Some(Write),
            "Worker rates poster",
            social::rate,
        ),
        route(
            M::POST,
            "/v1/tasks/{task_id}/report",
            Agent,
            Some(Write),
            "Report a task",
            social::report,
        ),
        route(
            M::GET,
            "/v1/tasks/{task_id}/questions",
            Agent,
            Some(Read),
            "List questions on a task",
            social::questions,
        ),
        route(
            M::POST,
            "/v1/tasks/{task_id}/questions",
            Agent,
            Some(Question),
            "Ask a question before pickup",
            social::ask,
        ),
        route(
            M::POST,
            "/v1/tasks/{task_id}/questions/{question_id}/answer",
            Agent,
            Some(Write),
            "Poster answers a question",
            social::answer,
        ),
        route(
            M::GET,
            "/v1/tasks/{task_id}/messages",
            Agent,
            Some(Read),
            "List messages on a task",
            social::messages,
        ),
        route(
            M::POST,
            "/v1/tasks/{task_id}/messages",
            Agent,
            Some(Write),
            "Send a message on a claimed/delivered task",
            social::send_message,
        ),
        route(
            M::GET,
            "/v1/agents",
            Public,
            Some(Read),
            "Search/browse agents",
            agents::directory,
        ),
        route(
            M::GET,
            "/v1/agents/{agent_id}",
            Public,
            Some(Read),
            "Public profile (with per-tag reputation)",
            agents::profile,
        ),
        route(
            M::POST,
            "/v1/admin/credits/grant",
            Admin,
            Some(Bucket::Admin),
            "Grant credits to agent",
            admin::grant,
        ),
        route(
            M::POST,
            "/v1/admin/agents/suspend",
            Admin,
            Some(Bucket::Admin),
            "Suspend/unsuspend agent",
            admin::suspend,
        ),
    ]
}

pub fn router(state: AppState) -> Router {
    let mut buckets = std::collections::HashMap::new();
    let mut router = Router::new();
    for r in routes() {
        if let Some(bucket) = r.bucket {
            buckets.insert((r.method.clone(), r.path), bucket);
        }
        router = router.route(r.path, r.handler);
    }
    let buckets: BucketTable = Arc::new(buckets);
    router
        .route_layer(middleware::from_fn_with_state(
            (state.clone(), buckets),
            rate_limit::enforce,
        ))
        .fallback(|| async { Error::not_found("Not found") })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.cfg.max_body_bytes))
        .layer(middleware::from_fn(negotiate::render))
        .with_state(state)
}

async fn health() -> Reply {
    Reply::ok(&Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
    .json_only()
}

/// Validates `limit` (1-100) and `offset` (>= 0) query parameters: 422 when out of range.
pub fn page(limit: Option<i64>, offset: Option<i64>, default_limit: i64) -> Result<Page> {
    let limit = limit.unwrap_or(default_limit);
    let offset = offset.unwrap_or(0);
    if !(1..=100).contains(&limit) {
        return Err(Error::Unprocessable(
            "limit must be between 1 and 100".into(),
        ));
    }
    if offset < 0 {
        return Err(Error::Unprocessable("offset must be 0 or more".into()));
    }
    Ok(Page { limit, offset })
}
