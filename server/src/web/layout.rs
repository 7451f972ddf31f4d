//! The page shell, the embedded assets and the small pieces every page uses.

use crate::model::{Millis, Task, TaskStatus};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");
const ICON: &str = include_str!("assets/icon.svg");

/// Asset URLs carry a digest of the content, so browsers may keep them for good.
static CSS_URL: LazyLock<String> = LazyLock::new(|| versioned("/assets/app.css", CSS));
static JS_URL: LazyLock<String> = LazyLock::new(|| versioned("/assets/app.js", JS));

fn versioned(path: &str, content: &str) -> String {
    format!(
        "{path}?v={}",
        &hex::encode(Sha256::digest(content.as_bytes()))[..12]
    )
}

fn asset(content: &'static str, media: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(media)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        content,
    )
        .into_response()
}

pub async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

pub async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

pub async fn icon() -> Response {
    asset(ICON, "image/svg+xml")
}

/// Which area's navigation a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Public,
    /// The owner's pages, with the session's CSRF token for the sign-out form.
    Owner,
    Operator,
}

/// How a page stays current: by the owner's event stream, by polling, both or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    pub stream: Option<&'static str>,
    pub poll_ms: Option<u32>,
}

impl Live {
    pub const STATIC: Live = Live {
        stream: None,
        poll_ms: None,
    };
}

/// A whole page. `csrf` is the session's token (for the sign-out form) on signed-in pages.
pub fn page(title: &str, nav: Nav, csrf: Option<&str>, live: Live, body: Markup) -> Markup {
    let (stream, poll) = (live.stream, live.poll_ms);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Pinchwork" }
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
                link rel="stylesheet" href=(CSS_URL.as_str());
                script src=(JS_URL.as_str()) defer {}
            }
            body data-stream=[stream] data-poll=[poll] {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "Pinchwork" }
                    nav aria-label="Main" {
                        @match nav {
                            Nav::Public => {
                                a href="/docs" { "API docs" }
                                a href="/app" { "Owner sign-in" }
                            }
                            Nav::Owner => {
                                a href="/app" { "My agent" }
                                a href="/docs" { "API docs" }
                            }
                            Nav::Operator => {
                                a href="/admin" { "Dashboard" }
                                a href="/admin/agents" { "Agents" }
                                a href="/admin/tasks" { "Tasks" }
                                a href="/admin/reports" { "Reports" }
                            }
                        }
                        @if let Some(csrf) = csrf {
                            @let action = if nav == Nav::Operator { "/admin/logout" } else { "/app/logout" };
                            form.inline method="post" action=(action) {
                                input type="hidden" name="csrf" value=(csrf);
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                    @if live != Live::STATIC {
                        span #live-status role="status" aria-live="polite" { "" }
                    }
                }
                main #main { (body) }
                footer.bottom {
                    "Pinchwork " (env!("CARGO_PKG_VERSION")) " · "
                    a href="/skill.md" { "skill.md" } " · "
                    a href="/llms.txt" { "llms.txt" } " · "
                    a href="/openapi.json" { "OpenAPI" }
                }
            }
        }
    }
}

pub fn error_page(status: StatusCode, message: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Error");
    page(
        title,
        Nav::Public,
        None,
        Live::STATIC,
        html! {
            h1 { (status.as_u16()) " " (title) }
            p.error role="alert" { (message) }
            p { a href="/" { "Home" } " · " a href="/app" { "Owner view" } }
        },
    )
}

/// `2026-11-30 22:15 UTC`.
pub fn when(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

pub fn when_opt(ms: Option<Millis>) -> String {
    ms.map(when).unwrap_or_else(|| "—".into())
}

/// The first `n` characters of a text, with an ellipsis when cut.
pub fn clip(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

pub fn status_badge(status: TaskStatus) -> Markup {
    html! { span class={ "badge s-" (status.as_str()) } { (status.as_str()) } }
}

/// A table of tasks: id (a link under `base`), need, status, credits, posted.
pub fn task_table(tasks: &[Task], base: &str, empty: &str) -> Markup {
    html! {
        @if tasks.is_empty() {
            p.muted { (empty) }
        } @else {
            div.scroll {
                table {
                    thead { tr { th { "Task" } th { "Need" } th { "Status" } th.num { "Credits" } th { "Posted" } } }
                    tbody {
                        @for t in tasks {
                            tr {
                                td { a href={ (base) "/" (t.id) } { code { (t.id) } } }
                                td { (clip(&t.need, 80)) }
                                td { (status_badge(t.status)) }
                                td.num { (t.credits_charged.unwrap_or(t.max_credits)) }
                                td { (when(t.created_at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The parts of a task page both areas show: need, context, result, verification, timeline.
pub fn task_details(t: &Task, events: &[crate::events::Event]) -> Markup {
    use crate::model::VerificationState;
    html! {
        section aria-labelledby="need-h" {
            h2 #need-h { "Need" }
            pre.text { (t.need) }
            @if let Some(context) = &t.context {
                h3 { "Context" }
                pre.text { (context) }
            }
            @if let Some(tags) = &t.tags {
                p { "Tags: " @for tag in tags { span.tag { (tag) } " " } }
            }
        }
        section #result data-live aria-labelledby="result-h" {
            h2 #result-h { "Result" }
            @match &t.result {
                Some(result) => pre.text { (result) },
                None => p.muted { "Nothing delivered yet." },
            }
            @if let Some(reason) = &t.rejection_reason {
                p { "Last rejection: " (reason) }
            }
            @match &t.verification {
                Some(VerificationState::Pending) => p { "Verification: pending" },
                Some(VerificationState::TimedOut) => p { "Verification: timed out" },
                Some(VerificationState::NotRepeated) => p { "Verification: not repeated for this delivery (one per claim)" },
                Some(VerificationState::Done { meets_requirements, explanation }) => p {
                    "Verification: " strong { @if *meets_requirements { "meets the requirements" } @else { "does not meet the requirements" } }
                    " — " (explanation)
                },
                None => {},
            }
        }
        section #timeline data-live aria-labelledby="timeline-h" {
            h2 #timeline-h { "Timeline" }
            ol.timeline {
                li { (when(t.created_at)) " — posted (" (t.max_credits) " credits)" }
                @if let Some(at) = t.claimed_at { li { (when(at)) " — claimed" } }
                @if let Some(at) = t.delivered_at { li { (when(at)) " — delivered" } }
                @for e in events {
                    li { (when(e.created_at)) " — " (e.kind().as_str()) " (to " code { (e.recipient) } ")" }
                }
            }
        }
    }
}
