//! The web pages for people: the landing page (`/`), the owner's view of an agent (`/app`)
//! and the operator's dashboard (`/admin`). Server-rendered HTML (maud escapes every value),
//! one small CSS file and one small script for the live parts, all embedded in the binary.
//! A thin layer like the API: pages call the same market rules and store reads, and render.
//!
//! Every page is sent with a strict Content-Security-Policy (no inline script or style, no
//! other origin), `X-Frame-Options: DENY`, `no-store` caching and no referrer.

pub mod landing;
pub mod layout;
pub mod live;
pub mod operator;
pub mod owner;
pub mod session;

use crate::app::AppState;
use crate::error::Error;
use crate::model::{HOUR, MINUTE, Millis};
use crate::store::MarketFigures;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// What the pages share beyond the application state.
#[derive(Default)]
pub struct WebShared {
    /// The marketplace figures and when they were read: read at most every FIGURES_TTL.
    figures: tokio::sync::Mutex<Option<(Instant, Arc<MarketFigures>)>>,
}

/// How long figures are reused: many visitors cost one read per period.
const FIGURES_TTL: Duration = Duration::from_secs(5);
/// System tasks waiting longer than this count as late.
pub const SYSTEM_LATE_AFTER: Millis = 10 * MINUTE;

impl WebShared {
    /// The figures, read afresh when older than FIGURES_TTL (one reader at a time).
    pub async fn figures(&self, s: &AppState) -> Result<Arc<MarketFigures>, Error> {
        let mut cached = self.figures.lock().await;
        if let Some((at, figures)) = cached.as_ref()
            && at.elapsed() < FIGURES_TTL
        {
            return Ok(figures.clone());
        }
        let now = s.now();
        // The last 24 whole hours and this one.
        let since = now - now.rem_euclid(HOUR) - 23 * HOUR;
        let late = now - SYSTEM_LATE_AFTER;
        let figures = Arc::new(
            s.read(move |tx| Box::pin(async move { tx.market_figures(since, late).await }))
                .await?,
        );
        *cached = Some((Instant::now(), figures.clone()));
        Ok(figures)
    }
}

/// The pages' routes, to merge into the API router (which provides the `WebShared`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assets/app.css", get(layout::css))
        .route("/assets/app.js", get(layout::js))
        .route("/assets/icon.svg", get(layout::icon))
        .route("/app", get(owner::home))
        .route("/app/login", get(owner::login_page).post(owner::login))
        .route("/app/logout", post(owner::logout))
        .route("/app/profile", post(owner::profile))
        .route("/app/events", get(live::owner_events))
        .route("/app/tasks/{task_id}", get(owner::task_page))
        .route("/app/tasks/{task_id}/approve", post(owner::approve))
        .route("/app/tasks/{task_id}/reject", post(owner::reject))
        .route("/app/tasks/{task_id}/cancel", post(owner::cancel))
        .route(
            "/app/tasks/{task_id}/questions/{question_id}/answer",
            post(owner::answer),
        )
        .route("/admin", get(operator::dashboard))
        .route(
            "/admin/login",
            get(operator::login_page).post(operator::login),
        )
        .route("/admin/logout", post(operator::logout))
        .route("/admin/agents", get(operator::agents))
        .route("/admin/agents/{agent_id}", get(operator::agent_page))
        .route("/admin/agents/{agent_id}/suspend", post(operator::suspend))
        .route("/admin/agents/{agent_id}/grant", post(operator::grant))
        .route("/admin/tasks", get(operator::tasks))
        .route("/admin/tasks/{task_id}", get(operator::task_page))
        .route("/admin/reports", get(operator::reports))
        .route(
            "/admin/reports/{report_id}/resolve",
            post(operator::resolve_report),
        )
        .layer(middleware::from_fn(protect))
}

/// The headers every page carries.
async fn protect(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    secure(&mut res);
    res
}

/// Sets the pages' security headers (and `no-store` unless the response chose its caching).
pub fn secure(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// An error shown as a page: the status, the message (escaped) and a way back.
#[derive(Debug)]
pub struct WebError(pub Error);

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        self.0.log_if_internal();
        let status = self.0.status();
        let page = layout::error_page(status, &self.0.public_message());
        let mut res = (status, axum::response::Html(page.into_string())).into_response();
        if let Error::TooManyRequests {
            retry_after_secs: Some(secs),
            ..
        } = &self.0
        {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
        }
        res
    }
}

pub type WebResult<T> = Result<T, WebError>;

/// After a form: back to a page (303, so a reload does not post again).
pub fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")),
        )],
    )
        .into_response()
}
