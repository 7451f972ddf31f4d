//! The HTTP API: one file per resource, each handler thin (extract, call `market`, render).

pub mod agents;
pub mod auth;
pub mod credits;
pub mod negotiate;
pub mod tasks;
pub mod views;

use crate::app::AppState;
use crate::error::{Error, Result};
use crate::store::Page;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use negotiate::Reply;
use pinchwork_client::types::Health;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/register", post(agents::register))
        .route("/v1/me", get(agents::me).patch(agents::update_me))
        .route("/v1/me/credits", get(credits::credits))
        .route("/v1/me/stats", get(credits::stats))
        .route("/v1/tasks", post(tasks::create))
        .route("/v1/tasks/available", get(tasks::available))
        .route("/v1/tasks/mine", get(tasks::mine))
        .route("/v1/tasks/pickup", post(tasks::pickup))
        .route("/v1/tasks/pickup/batch", post(tasks::pickup_batch))
        .route("/v1/tasks/{task_id}", get(tasks::get))
        .route("/v1/tasks/{task_id}/pickup", post(tasks::pickup_one))
        .route("/v1/tasks/{task_id}/deliver", post(tasks::deliver))
        .route("/v1/tasks/{task_id}/approve", post(tasks::approve))
        .route("/v1/tasks/{task_id}/reject", post(tasks::reject))
        .route("/v1/tasks/{task_id}/cancel", post(tasks::cancel))
        .route("/v1/tasks/{task_id}/abandon", post(tasks::abandon))
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
