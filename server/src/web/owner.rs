//! `/app`: the owner's view of one agent, signed in with its API key. Balance and ledger,
//! tasks posted and worked on, a task's page (with approve, reject, cancel and answers),
//! trust, webhook deliveries and profile editing. Each action calls the same rule as its
//! API endpoint, under the same rate limit bucket.

use super::layout::{self, Live, Nav, task_details, task_table, when, when_opt};
use super::session::{self, Area, Owner, Posted};
use super::{WebError, WebResult, see_other};
use crate::api::rate_limit::{Bucket, client_of, hit_by_address};
use crate::app::AppState;
use crate::error::Error;
use crate::market;
use crate::model::{Agent, LedgerLine, Task, TaskStatus, Trust};
use crate::store::{OpenTask, OpenTaskFilter, Page, Role, WebhookDelivery};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use pinchwork_client::types::{AnswerRequest, ApproveRequest, RejectRequest, UpdateProfileRequest};
use serde::Deserialize;

/// Rows each list on the home page shows.
const LIST: i64 = 10;

/// Counts a signed-in owner's action against the API's bucket for it.
pub async fn limit(s: &AppState, bucket: Bucket, agent_id: &str) -> Result<(), Error> {
    s.limiter
        .hit(bucket, &format!("agent:{agent_id}"), s.now())
        .await
}

/// An optional form field: empty means not given.
fn given(v: Option<String>) -> Option<String> {
    v.filter(|v| !v.trim().is_empty())
}

// ---------------------------------------------------------------------------------------------
// Signing in and out

pub async fn login_page(headers: HeaderMap) -> Response {
    sign_in_page(Area::Owner, &headers, None, StatusCode::OK)
}

/// The sign-in form of an area, with a message after a failed try.
pub fn sign_in_page(
    area: Area,
    headers: &HeaderMap,
    failure: Option<&str>,
    status: StatusCode,
) -> Response {
    let (secret, set) = session::pre_session(headers);
    let csrf = session::csrf_token(&secret);
    let (title, label, hint) = match area {
        Area::Owner => (
            "Sign in to your agent",
            "Your agent's API key",
            "The key is checked once and never stored: the session lasts 12 hours.",
        ),
        Area::Operator => (
            "Operator sign-in",
            "Admin key",
            "The server's PINCHWORK_ADMIN_KEY. The session lasts 8 hours.",
        ),
    };
    let body = html! {
        h1 { (title) }
        @if let Some(failure) = failure {
            p.error role="alert" { (failure) }
        }
        form method="post" action=(area.login_path()) {
            input type="hidden" name="csrf" value=(csrf);
            label for="key" { (label) }
            input #key type="password" name="key" required autocomplete="current-password"
                autofocus spellcheck="false";
            p.muted { (hint) " Browsers keep the session only over HTTPS, or on localhost." }
            button type="submit" { "Sign in" }
        }
    };
    let mut res = (
        status,
        Html(layout::page(title, Nav::Public, None, Live::STATIC, body).into_string()),
    )
        .into_response();
    if let Some(cookie) = set {
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
    res
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub key: String,
}

/// Reads a sign-in form after checking its token and counting the try against the client's
/// address; the caller checks the key.
pub async fn sign_in_form(s: &AppState, req: Request) -> Result<(HeaderMap, SignInForm), WebError> {
    let client = client_of(req.extensions(), req.headers(), s);
    let (parts, body) = req.into_parts();
    hit_by_address(s, Bucket::SignIn, client).await?;
    let bytes = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map_err(|_| Error::PayloadTooLarge("Form too large".into()))?;
    let form: SignInForm =
        serde_urlencoded::from_bytes(&bytes).map_err(|_| Error::bad_request("Invalid form"))?;
    session::check_pre_session(&parts.headers, &form.csrf)?;
    Ok((parts.headers, form))
}

pub async fn login(State(s): State<AppState>, req: Request) -> Response {
    let (headers, form) = match sign_in_form(&s, req).await {
        Ok(read) => read,
        Err(e) => return e.into_response(),
    };
    let agent = match session::agent_by_key(&s, &form.key).await {
        Ok(agent) => agent,
        Err(e @ (Error::Unauthorized(_) | Error::Forbidden(_))) => {
            let message = match e {
                Error::Forbidden(_) => "This agent is suspended.",
                _ => "That API key is not valid on this server.",
            };
            return sign_in_page(Area::Owner, &headers, Some(message), e.status());
        }
        Err(e) => return WebError(e).into_response(),
    };
    match session::open(&s, Area::Owner, agent).await {
        Ok(cookie) => {
            let mut res = see_other(Area::Owner.home());
            res.headers_mut().append(header::SET_COOKIE, cookie);
            res
        }
        Err(e) => WebError(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    Posted(_, Empty {}): Posted<Owner, Empty>,
) -> WebResult<Response> {
    let cookie = session::close(&s, Area::Owner, &headers).await?;
    let mut res = see_other("/");
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}

// ---------------------------------------------------------------------------------------------
// The agent

/// Everything the home page shows, read in one snapshot.
struct Home {
    agent: Agent,
    escrowed: i64,
    ledger: Vec<LedgerLine>,
    posted: Vec<Task>,
    worked: Vec<Task>,
    open: Vec<OpenTask>,
    trust: Vec<Trust>,
    deliveries: Vec<WebhookDelivery>,
}

pub async fn home(State(s): State<AppState>, owner: Owner) -> WebResult<Html<String>> {
    let id = owner.agent_id.clone();
    let page = Page::first(LIST);
    let home = s
        .read(move |tx| {
            Box::pin(async move {
                let agent = tx
                    .agent(&id)
                    .await?
                    .ok_or_else(|| Error::not_found("Agent not found"))?;
                let filter = OpenTaskFilter {
                    viewer: id.clone(),
                    ..Default::default()
                };
                let mut trust = tx.trust_of(&id).await?;
                trust.truncate(LIST as usize);
                Ok::<_, Error>(Home {
                    escrowed: tx.escrowed_by(&id).await?,
                    ledger: tx.ledger_of(&id, &page).await?.items,
                    posted: tx
                        .tasks_of(&id, Some(Role::Poster), None, &page)
                        .await?
                        .items,
                    worked: tx
                        .tasks_of(&id, Some(Role::Worker), None, &page)
                        .await?
                        .items,
                    open: market::tasks::browse(tx, &filter, page).await?.items,
                    trust,
                    deliveries: tx.webhook_deliveries_of(&id, LIST).await?,
                    agent,
                })
            })
        })
        .await?;
    Ok(Html(render_home(&home, &owner.csrf).into_string()))
}

fn render_home(h: &Home, csrf: &str) -> Markup {
    let a = &h.agent;
    let failures = h
        .deliveries
        .iter()
        .filter(|d| d.status == crate::store::DeliveryStatus::Failed)
        .count();
    layout::page(
        &a.name,
        Nav::Owner,
        Some(csrf),
        Live {
            stream: Some("/app/events"),
            poll_ms: Some(5_000),
        },
        html! {
            h1 { (a.name) " " small.muted { code { (a.id) } } }
            ul.figures #balance data-live aria-label="Balance" {
                li { strong { (a.credits) } "credits available" }
                li { strong { (h.escrowed) } "credits in escrow" }
                li { strong { (format!("{:.2}", a.reputation)) } "reputation (" (a.rating_count) " ratings)" }
                li { strong { (a.tasks_posted) } "tasks posted" }
                li { strong { (a.tasks_completed) } "tasks completed" }
            }
            div.grid {
                section #posted data-live aria-labelledby="posted-h" {
                    h2 #posted-h { "Tasks posted" }
                    (task_table(&h.posted, "/app/tasks", "No tasks posted yet."))
                }
                section #worked data-live aria-labelledby="worked-h" {
                    h2 #worked-h { "Tasks worked on" }
                    (task_table(&h.worked, "/app/tasks", "No tasks worked on yet."))
                }
            }
            section #open data-live aria-labelledby="open-h" {
                h2 #open-h { "Open tasks this agent could pick up" }
                @if h.open.is_empty() {
                    p.muted { "None right now." }
                } @else {
                    div.scroll { table {
                        thead { tr { th { "Task" } th { "Need" } th.num { "Credits" } th { "Posted" } } }
                        tbody { @for o in &h.open { tr {
                            td { code { (o.task.id) } }
                            td { (layout::clip(&o.task.need, 100)) }
                            td.num { (o.task.max_credits) }
                            td { (when(o.task.created_at)) }
                        } } }
                    } }
                }
            }
            div.grid {
                section #ledger data-live aria-labelledby="ledger-h" {
                    h2 #ledger-h { "Ledger" }
                    @if h.ledger.is_empty() { p.muted { "No movements yet." } } @else {
                        div.scroll { table {
                            thead { tr { th { "When" } th { "Reason" } th { "Task" } th.num { "Credits" } } }
                            tbody { @for l in &h.ledger { tr {
                                td { (when(l.created_at)) }
                                td { (l.reason) }
                                td { @if let Some(t) = &l.task_id { code { (t) } } }
                                td class=(if l.amount < 0 { "num bad" } else { "num ok" }) { (format!("{:+}", l.amount)) }
                            } } }
                        } }
                    }
                }
                section #trust data-live aria-labelledby="trust-h" {
                    h2 #trust-h { "Trust in other agents" }
                    @if h.trust.is_empty() { p.muted { "No dealings with other agents yet." } } @else {
                        div.scroll { table {
                            thead { tr { th { "Agent" } th.num { "Score" } th.num { "Dealings" } } }
                            tbody { @for t in &h.trust { tr {
                                td { code { (t.trusted_id) } }
                                td.num { (format!("{:.2}", t.score)) }
                                td.num { (t.interactions) }
                            } } }
                        } }
                    }
                }
            }
            section #webhook data-live aria-labelledby="webhook-h" {
                h2 #webhook-h { "Webhook" }
                @match &a.webhook_url {
                    Some(url) => p { "Deliveries go to " code { (url) } "; signing secret: "
                        (if a.webhook_secret.is_some() { "set" } else { "not set" }) "." },
                    None => p.muted { "No webhook set." },
                }
                @if !h.deliveries.is_empty() {
                    p { "Last " (h.deliveries.len()) " deliveries, " (failures) " failed:" }
                    div.scroll { table {
                        thead { tr { th { "When" } th { "Event" } th { "Status" } th.num { "Attempts" } th { "Last answer" } } }
                        tbody { @for d in &h.deliveries { tr {
                            td { (when(d.created_at)) }
                            td { (d.kind) }
                            td class=(match d.status { crate::store::DeliveryStatus::Failed => "bad", crate::store::DeliveryStatus::Delivered => "ok", _ => "warn" }) { (d.status.as_str()) }
                            td.num { (d.attempts) }
                            td { @if let Some(code) = d.last_status { (code) " " } @if let Some(e) = &d.last_error { (layout::clip(e, 80)) } }
                        } } }
                    } }
                }
            }
            section aria-labelledby="profile-h" {
                h2 #profile-h { "Profile" }
                form method="post" action="/app/profile" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="good_at" { "Good at" }
                    textarea #good_at name="good_at" maxlength="2000" { (a.good_at.as_deref().unwrap_or("")) }
                    label for="webhook_url" { "Webhook URL (empty: none)" }
                    input #webhook_url type="url" name="webhook_url" value=(a.webhook_url.as_deref().unwrap_or(""));
                    label for="webhook_secret" { "New webhook secret (empty: keep the current one)" }
                    input #webhook_secret type="password" name="webhook_secret" autocomplete="new-password";
                    label.check { input type="checkbox" name="accepts_system_tasks" value="true" checked[a.accepts_system_tasks]; "Do system work (matching, verification) for the platform" }
                    p { button type="submit" { "Save profile" } }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub struct ProfileForm {
    good_at: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    accepts_system_tasks: Option<String>,
}

pub async fn profile(
    State(s): State<AppState>,
    Posted(owner, form): Posted<Owner, ProfileForm>,
) -> WebResult<Response> {
    limit(&s, Bucket::Profile, &owner.agent_id).await?;
    let req = UpdateProfileRequest {
        good_at: form.good_at.map(|g| g.trim().to_string()),
        accepts_system_tasks: Some(form.accepts_system_tasks.is_some()),
        // Empty removes the webhook, as in the API.
        webhook_url: Some(form.webhook_url.unwrap_or_default().trim().to_string()),
        webhook_secret: given(form.webhook_secret),
    };
    let id = owner.agent_id;
    s.write(move |tx, ctx| {
        Box::pin(async move { market::agents::update_profile(tx, ctx, &id, req).await })
    })
    .await?;
    s.refresh_routing().await?;
    Ok(see_other("/app"))
}

// ---------------------------------------------------------------------------------------------
// A task

pub async fn task_page(
    State(s): State<AppState>,
    owner: Owner,
    Path(task_id): Path<String>,
) -> WebResult<Html<String>> {
    let viewer = owner.agent_id.clone();
    let (task, questions, messages, events) = s
        .read(move |tx| {
            Box::pin(async move {
                let task = market::tasks::visible_task(tx, &viewer, &task_id).await?;
                let questions = market::social::questions(tx, &viewer, &task.id).await?;
                let messages = market::social::messages(tx, &viewer, &task.id, &Page::all())
                    .await?
                    .items;
                let events = tx.task_events(&task.id, Some(&viewer), 200).await?;
                Ok::<_, Error>((task, questions, messages, events))
            })
        })
        .await?;
    let mine = task.poster_id == owner.agent_id;
    let csrf = owner.csrf.as_str();
    let base = format!("/app/tasks/{}", task.id);
    let body = html! {
        p { a href="/app" { "← My agent" } }
        h1 { "Task " code { (task.id) } }
        p #state data-live {
            (layout::status_badge(task.status)) " · "
            @if mine { "you posted it" } @else { "you work on it" }
            " · up to " (task.max_credits) " credits"
            @if let Some(charged) = task.credits_charged { " · " (charged) " charged" }
            @if let Some(w) = &task.worker_id { " · worker " code { (w) } }
            " · expires " (when(task.expires_at))
            @if let Some(d) = task.review_deadline { " · review by " (when(d)) }
        }
        @if mine {
            section #actions data-live aria-labelledby="actions-h" {
                h2 #actions-h { "Review" }
                @match task.status {
                    TaskStatus::Delivered => div.actions {
                        form method="post" action={ (base) "/approve" } {
                            input type="hidden" name="csrf" value=(csrf);
                            label for="rating" { "Rating (optional)" }
                            select #rating name="rating" {
                                option value="" { "—" }
                                @for r in (1..=5).rev() { option value=(r) { (r) } }
                            }
                            label for="feedback" { "Feedback (optional)" }
                            input #feedback type="text" name="feedback" maxlength="2000";
                            p { button #approve type="submit" { "Approve and pay" } }
                        }
                        form method="post" action={ (base) "/reject" } {
                            input type="hidden" name="csrf" value=(csrf);
                            label for="reason" { "Reason for rejecting" }
                            input #reason type="text" name="reason" maxlength="2000";
                            p { button.secondary type="submit" { "Reject" } }
                        }
                    },
                    TaskStatus::Posted => form method="post" action={ (base) "/cancel" } {
                        input type="hidden" name="csrf" value=(csrf);
                        p.muted { "Waiting for a worker. Cancelling refunds the escrow." }
                        button.secondary type="submit" { "Cancel task" }
                    },
                    _ => p.muted { "Nothing to review now." },
                }
            }
        }
        (task_details(&task, &events))
        section #questions data-live aria-labelledby="questions-h" {
            h2 #questions-h { "Questions" }
            @if questions.is_empty() { p.muted { "No questions." } }
            @for q in &questions {
                div.question {
                    p { strong { (q.question) } " — " code { (q.asker_id) } ", " (when(q.created_at)) }
                    @match &q.answer {
                        Some(answer) => p { "Answer: " (answer) " (" (when_opt(q.answered_at)) ")" },
                        None if mine => form.row method="post" action={ (base) "/questions/" (q.id) "/answer" } {
                            input type="hidden" name="csrf" value=(csrf);
                            label for={ "answer-" (q.id) } { "Answer" }
                            input id={ "answer-" (q.id) } type="text" name="answer" required maxlength="10000";
                            button type="submit" { "Answer" }
                        },
                        None => p.muted { "Not answered yet." },
                    }
                }
            }
        }
        section #messages data-live aria-labelledby="messages-h" {
            h2 #messages-h { "Messages" }
            @if messages.is_empty() { p.muted { "No messages in this assignment." } }
            @for m in &messages {
                p { code { (m.sender_id) } " (" (when(m.created_at)) "): " (m.message) }
            }
        }
    };
    Ok(Html(
        layout::page(
            &format!("Task {}", task.id),
            Nav::Owner,
            Some(csrf),
            Live {
                stream: Some("/app/events"),
                poll_ms: None,
            },
            body,
        )
        .into_string(),
    ))
}

#[derive(Deserialize)]
pub struct ApproveForm {
    rating: Option<String>,
    feedback: Option<String>,
}

pub async fn approve(
    State(s): State<AppState>,
    Path(task_id): Path<String>,
    Posted(owner, form): Posted<Owner, ApproveForm>,
) -> WebResult<Response> {
    limit(&s, Bucket::Write, &owner.agent_id).await?;
    let rating = match given(form.rating) {
        Some(r) => Some(
            r.trim()
                .parse()
                .map_err(|_| Error::bad_request("rating must be a whole number from 1 to 5"))?,
        ),
        None => None,
    };
    let req = ApproveRequest {
        rating,
        feedback: given(form.feedback),
    };
    let id = task_id.clone();
    s.write(move |tx, ctx| {
        Box::pin(async move { market::tasks::approve(tx, ctx, &owner.agent_id, &id, req).await })
    })
    .await?;
    Ok(see_other(&format!("/app/tasks/{task_id}")))
}

#[derive(Deserialize)]
pub struct RejectForm {
    reason: Option<String>,
}

pub async fn reject(
    State(s): State<AppState>,
    Path(task_id): Path<String>,
    Posted(owner, form): Posted<Owner, RejectForm>,
) -> WebResult<Response> {
    limit(&s, Bucket::Write, &owner.agent_id).await?;
    let req = RejectRequest {
        reason: given(form.reason),
        feedback: None,
    };
    let id = task_id.clone();
    s.write(move |tx, ctx| {
        Box::pin(async move { market::tasks::reject(tx, ctx, &owner.agent_id, &id, req).await })
    })
    .await?;
    Ok(see_other(&format!("/app/tasks/{task_id}")))
}

pub async fn cancel(
    State(s): State<AppState>,
    Path(task_id): Path<String>,
    Posted(owner, Empty {}): Posted<Owner, Empty>,
) -> WebResult<Response> {
    limit(&s, Bucket::Write, &owner.agent_id).await?;
    let id = task_id.clone();
    s.write(move |tx, ctx| {
        Box::pin(async move { market::tasks::cancel(tx, ctx, &owner.agent_id, &id).await })
    })
    .await?;
    Ok(see_other(&format!("/app/tasks/{task_id}")))
}

#[derive(Deserialize)]
pub struct AnswerForm {
    answer: Option<String>,
}

pub async fn answer(
    State(s): State<AppState>,
    Path((task_id, question_id)): Path<(String, String)>,
    Posted(owner, form): Posted<Owner, AnswerForm>,
) -> WebResult<Response> {
    limit(&s, Bucket::Write, &owner.agent_id).await?;
    let req = AnswerRequest {
        answer: form.answer,
    };
    let id = task_id.clone();
    s.write(move |tx, ctx| {
        Box::pin(async move {
            market::social::answer(tx, ctx, &owner.agent_id, &id, &question_id, req).await
        })
    })
    .await?;
    Ok(see_other(&format!("/app/tasks/{task_id}")))
}
