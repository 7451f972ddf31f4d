//! `/admin`: the operator's dashboard, signed in with the admin key. Marketplace figures over
//! the last day, agents (search, suspend, grant), reports, tasks (any of them), system work,
//! webhook health and the server's own health. Suspending and granting call what the admin
//! API calls.

use super::layout::{self, Live, Nav, status_badge, task_details, task_table, when};
use super::owner::{Empty, sign_in_form, sign_in_page};
use super::session::{self, Area, Operator, Posted};
use super::{WebError, WebResult, WebShared, see_other};
use crate::api::admin::{check_key, configured_key, set_suspended};
use crate::app::AppState;
use crate::error::Error;
use crate::market;
use crate::model::{HOUR, TaskStatus};
use crate::store::{MarketFigures, Node, Page, StoreError, TaskSearch};
use axum::Extension;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use pinchwork_client::types::{GrantRequest, SuspendRequest};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

/// Rows per list.
const LIST: i64 = 50;

fn operator_page(title: &str, csrf: &str, poll_ms: Option<u32>, body: Markup) -> Html<String> {
    Html(
        layout::page(
            title,
            Nav::Operator,
            Some(csrf),
            Live {
                stream: None,
                poll_ms,
            },
            body,
        )
        .into_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// Signing in and out

pub async fn login_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = configured_key(&s) {
        return WebError(e).into_response();
    }
    sign_in_page(Area::Operator, &headers, None, StatusCode::OK)
}

pub async fn login(State(s): State<AppState>, req: Request) -> Response {
    let (headers, form) = match sign_in_form(&s, req).await {
        Ok(read) => read,
        Err(e) => return e.into_response(),
    };
    let expected = match configured_key(&s) {
        Ok(key) => key.to_string(),
        Err(e) => return WebError(e).into_response(),
    };
    if let Err(e) = check_key(&expected, &form.key) {
        return sign_in_page(
            Area::Operator,
            &headers,
            Some("That is not this server's admin key."),
            e.status(),
        );
    }
    match session::open(&s, Area::Operator, session::operator_subject(&expected)).await {
        Ok(cookie) => {
            let mut res = see_other(Area::Operator.home());
            res.headers_mut().append(header::SET_COOKIE, cookie);
            res
        }
        Err(e) => WebError(e).into_response(),
    }
}

pub async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    Posted(_, Empty {}): Posted<Operator, Empty>,
) -> WebResult<Response> {
    let cookie = session::close(&s, Area::Operator, &headers).await?;
    let mut res = see_other("/");
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}

// ---------------------------------------------------------------------------------------------
// The dashboard

pub async fn dashboard(
    State(s): State<AppState>,
    Extension(shared): Extension<Arc<WebShared>>,
    op: Operator,
) -> WebResult<Html<String>> {
    let figures = shared.figures(&s).await?;
    // The database's round trip, as this page's own small read sees it.
    let started = Instant::now();
    let alive_since = s.now() - NODE_GONE_AFTER;
    let (recent, nodes) = s
        .read(move |tx| {
            Box::pin(async move {
                let recent = tx
                    .tasks_for_operator(&TaskSearch::default(), Page::first(10))
                    .await?;
                Ok::<_, StoreError>((recent, tx.nodes_seen_since(alive_since).await?))
            })
        })
        .await?;
    let db_ms = started.elapsed().as_secs_f64() * 1000.0;
    let body = html! {
        h1 { "Operator dashboard" }
        (figures_view(&figures, s.now()))
        div.grid {
            section #health data-live aria-labelledby="health-h" {
                h2 #health-h { "Server health" }
                ul {
                    li { "This node: " code { (s.node) } ", pinchwork " (env!("CARGO_PKG_VERSION")) }
                    li { (nodes_view(&nodes, &s.node, s.now())) }
                    li { "Database: " (if s.store.shared() { "PostgreSQL, shared by every node" } else { "SQLite, this node only" })
                         ", read in " (format!("{db_ms:.1}")) " ms" }
                    li { "Event log: " @match figures.last_event {
                        Some((id, at)) => { "newest event #" (id) ", " (((s.now() - at).max(0)) / 1000) " s ago" },
                        None => "empty",
                    } }
                    li { "Figures are at most 5 s old." }
                }
            }
            section #recent data-live aria-labelledby="recent-h" {
                h2 #recent-h { "Newest tasks" }
                (task_table(&recent, "/admin/tasks", "No tasks yet."))
                p { a href="/admin/tasks" { "All tasks" } }
            }
        }
    };
    Ok(operator_page(
        "Operator dashboard",
        &op.csrf,
        Some(3_000),
        body,
    ))
}

/// A node that has not said it is alive for this long counts as gone.
const NODE_GONE_AFTER: i64 = 4 * crate::scheduler::NODE_HEARTBEAT;

/// The nodes using the database, as their heartbeats say.
fn nodes_view(nodes: &[Node], this: &str, now: i64) -> Markup {
    html! {
        (nodes.len()) @if nodes.len() == 1 { " node" } @else { " nodes" } " alive (heard from in the last "
        (NODE_GONE_AFTER / 1000) " s):"
        ul #nodes {
            @for n in nodes {
                li {
                    code { (n.id) } @if n.id == this { " (this one)" }
                    ", pinchwork " (n.version) ", up since " (when(n.started_at))
                    ", heard from " (((now - n.seen_at).max(0)) / 1000) " s ago"
                }
            }
        }
    }
}

/// Height class (h0-h10) of a bar for `v` out of `max`.
fn bar(v: i64, max: i64) -> String {
    let tenth = if max > 0 { (v * 10 + max - 1) / max } else { 0 };
    format!("h{}", tenth.clamp(0, 10))
}

fn figures_view(f: &MarketFigures, now: i64) -> Markup {
    let status = |s: &str| f.tasks_by_status.get(s).copied().unwrap_or(0);
    let hours: Vec<(i64, crate::store::web::HourFigures)> = (0..24)
        .rev()
        .map(|back| {
            let hour = now - now.rem_euclid(HOUR) - back * HOUR;
            (hour, f.hours.get(&hour).copied().unwrap_or_default())
        })
        .collect();
    let max = hours
        .iter()
        .map(|(_, h)| h.posted.max(h.settled))
        .max()
        .unwrap_or(0);
    let day = |pick: fn(&crate::store::web::HourFigures) -> i64| -> i64 {
        hours.iter().map(|(_, h)| pick(h)).sum()
    };
    let pending = f.webhooks.get("pending").copied().unwrap_or(0);
    let failed = f.webhooks.get("failed").copied().unwrap_or(0);
    html! {
        ul.figures #figures data-live aria-label="Marketplace figures" {
            li { strong { (status("posted")) } "posted" }
            li { strong { (status("claimed")) } "claimed" }
            li { strong { (status("delivered")) } "delivered" }
            li { strong { (day(|h| h.settled)) } "approved (24 h)" }
            li { strong { (day(|h| h.refunded)) } "cancelled or expired (24 h)" }
            li { strong { (f.escrow) } "credits in escrow" }
            li { strong { (day(|h| h.fees)) } "fees earned (24 h)" }
            li { strong { (f.platform_balance) } "platform account" }
            li { strong { (f.agents) } "agents (" (f.suspended) " suspended)" }
            li { strong { (f.open_reports) } a href="/admin/reports" { "open reports" } }
        }
        div.grid {
            section #hours data-live aria-labelledby="hours-h" {
                h2 #hours-h { "Lifecycles per hour (24 h)" }
                p { (day(|h| h.posted)) " posted, " (day(|h| h.settled)) " settled, "
                    (day(|h| h.refunded)) " refunded; " (day(|h| h.paid)) " credits paid to workers." }
                ul.bars aria-label="Tasks posted per hour, oldest first" {
                    @for (hour, h) in &hours {
                        li class=(bar(h.posted, max)) title={ (when(*hour)) ": " (h.posted) " posted, " (h.settled) " settled" } {}
                    }
                }
                p.muted { "Bars: tasks posted per hour, the last 24 hours." }
            }
            section #system data-live aria-labelledby="system-h" {
                h2 #system-h { "Infra agents and system work" }
                ul {
                    li { a href="/admin/agents?infra=1" { (f.infra_agents) " active infra agents" } }
                    li { (f.system_open) " system tasks waiting, "
                        span class=(if f.system_late > 0 { "bad" } else { "ok" }) { (f.system_late) " late" }
                        " (waiting over " (super::SYSTEM_LATE_AFTER / 60_000) " min)" }
                    li { (day(|h| h.system_paid)) " system tasks paid (24 h), " (day(|h| h.system_credits)) " credits" }
                }
            }
            section #webhooks data-live aria-labelledby="webhooks-h" {
                h2 #webhooks-h { "Webhook health" }
                ul {
                    li { (f.webhooks.get("delivered").copied().unwrap_or(0)) " delivered (kept for the retention period)" }
                    li { span class=(if failed > 0 { "bad" } else { "ok" }) { (failed) " failed" } }
                    li { (pending) " pending"
                        @if let Some(due) = f.webhook_oldest_due { ", oldest due " (when(due)) } }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Agents

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    status: Option<String>,
    /// Agents: only those doing system work.
    infra: Option<String>,
    /// Tasks: only those this agent posted or works on.
    agent: Option<String>,
}

pub async fn agents(
    State(s): State<AppState>,
    op: Operator,
    Query(q): Query<SearchQuery>,
) -> WebResult<Html<String>> {
    let search = q.q.map(|v| v.trim().chars().take(200).collect::<String>());
    let infra = q.infra.is_some_and(|v| !v.is_empty());
    let lookup = search.clone();
    let list = s
        .read(move |tx| {
            Box::pin(async move {
                tx.agents_for_operator(lookup.as_deref(), infra, Page::first(LIST))
                    .await
            })
        })
        .await?;
    let body = html! {
        h1 { "Agents" }
        form.row method="get" action="/admin/agents" role="search" {
            label for="q" { "Id or part of the name" }
            input #q type="search" name="q" value=(search.as_deref().unwrap_or(""));
            label.check { input type="checkbox" name="infra" value="1" checked[infra]; "Infra agents only" }
            button type="submit" { "Search" }
        }
        section #agents data-live aria-label="Agents" {
            @if list.is_empty() { p.muted { "No agents found." } } @else {
                div.scroll { table {
                    thead { tr { th { "Agent" } th { "Name" } th.num { "Credits" } th.num { "Reputation" } th { "Standing" } th { "Joined" } } }
                    tbody { @for a in &list { tr {
                        td { a href={ "/admin/agents/" (a.id) } { code { (a.id) } } }
                        td { (a.name) }
                        td.num { (a.credits) }
                        td.num { (format!("{:.2}", a.reputation)) }
                        td { @if a.suspended { span.bad { "suspended" } } @else { "active" }
                             @if a.accepts_system_tasks { " · infra" } }
                        td { (when(a.created_at)) }
                    } } }
                } }
                p.muted { "Newest first, at most " (LIST) "." }
            }
        }
    };
    Ok(operator_page("Agents", &op.csrf, None, body))
}

pub async fn agent_page(
    State(s): State<AppState>,
    op: Operator,
    Path(agent_id): Path<String>,
) -> WebResult<Html<String>> {
    let id = agent_id.clone();
    let (agent, tasks) = s
        .read(move |tx| {
            Box::pin(async move {
                let agent = tx
                    .agent(&id)
                    .await?
                    .filter(|a| a.id != crate::model::PLATFORM_AGENT_ID)
                    .ok_or_else(|| Error::not_found("Agent not found"))?;
                let page = Page::first(20);
                let tasks = tx.tasks_of(&id, None, None, &page).await?.items;
                Ok::<_, Error>((agent, tasks))
            })
        })
        .await?;
    let csrf = op.csrf.as_str();
    let base = format!("/admin/agents/{}", agent.id);
    let body = html! {
        p { a href="/admin/agents" { "← Agents" } }
        h1 { (agent.name) " " small.muted { code { (agent.id) } } }
        section #standing data-live aria-labelledby="standing-h" {
            h2 #standing-h { "Standing" }
            p { (agent.credits) " credits · reputation " (format!("{:.2}", agent.reputation))
                " (" (agent.rating_count) " ratings) · " (agent.tasks_posted) " posted · "
                (agent.tasks_completed) " completed · " (agent.abandon_count) " abandoned · joined "
                (when(agent.created_at)) }
            p { "Good at: " (agent.good_at.as_deref().unwrap_or("—")) }
            p { "Webhook: " (if agent.webhook_url.is_some() { "set" } else { "none" })
                " · infra agent: " (if agent.accepts_system_tasks { "yes" } else { "no" }) }
            p { "Status: " @if agent.suspended { strong.bad { "suspended" } } @else { strong.ok { "active" } } }
        }
        div.grid {
            section aria-labelledby="suspend-h" {
                h2 #suspend-h { @if agent.suspended { "Reinstate" } @else { "Suspend" } }
                form method="post" action={ (base) "/suspend" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="suspended" value=(if agent.suspended { "false" } else { "true" });
                    @if !agent.suspended {
                        label for="reason" { "Reason" }
                        input #reason type="text" name="reason" maxlength="2000";
                        p.muted { "Its API key stops working and its owner's web sessions end." }
                    }
                    p { button #suspend type="submit" { @if agent.suspended { "Reinstate agent" } @else { "Suspend agent" } } }
                }
            }
            section aria-labelledby="grant-h" {
                h2 #grant-h { "Grant credits" }
                form method="post" action={ (base) "/grant" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="amount" { "Amount" }
                    input #amount type="number" name="amount" min="1" max="1000000000" required;
                    label for="grant-reason" { "Reason (optional)" }
                    input #grant-reason type="text" name="reason" maxlength="2000";
                    p { button type="submit" { "Grant" } }
                }
            }
        }
        section #agent-tasks data-live aria-labelledby="tasks-h" {
            h2 #tasks-h { "Its tasks" }
            (task_table(&tasks, "/admin/tasks", "No tasks."))
        }
    };
    Ok(operator_page(&agent.name, csrf, None, body))
}

#[derive(Deserialize)]
pub struct SuspendForm {
    suspended: Option<String>,
    reason: Option<String>,
}

pub async fn suspend(
    State(s): State<AppState>,
    Path(agent_id): Path<String>,
    Posted(_, form): Posted<Operator, SuspendForm>,
) -> WebResult<Response> {
    let suspended = match form.suspended.as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => return Err(Error::bad_request("suspended must be true or false").into()),
    };
    let agent = set_suspended(
        &s,
        SuspendRequest {
            agent_id: Some(agent_id),
            suspended: Some(suspended),
            reason: form.reason.filter(|r| !r.trim().is_empty()),
        },
    )
    .await?;
    Ok(see_other(&format!("/admin/agents/{}", agent.id)))
}

#[derive(Deserialize)]
pub struct GrantForm {
    amount: Option<String>,
    reason: Option<String>,
}

pub async fn grant(
    State(s): State<AppState>,
    Path(agent_id): Path<String>,
    Posted(_, form): Posted<Operator, GrantForm>,
) -> WebResult<Response> {
    let amount = form
        .amount
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse::<i64>()
                .map_err(|_| Error::bad_request("amount must be a whole number"))
        })
        .transpose()?;
    let req = GrantRequest {
        agent_id: Some(agent_id),
        amount,
        reason: form.reason.filter(|r| !r.trim().is_empty()),
    };
    let (agent, _, _) = s
        .write(move |tx, ctx| Box::pin(async move { market::agents::grant(tx, ctx, req).await }))
        .await?;
    Ok(see_other(&format!("/admin/agents/{}", agent.id)))
}

// ---------------------------------------------------------------------------------------------
// Tasks and reports

pub async fn tasks(
    State(s): State<AppState>,
    op: Operator,
    Query(q): Query<SearchQuery>,
) -> WebResult<Response> {
    // A task id goes straight to its page.
    if let Some(id) = q.q.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        let lookup = id.to_string();
        if s.read(move |tx| Box::pin(async move { tx.task(&lookup).await }))
            .await?
            .is_some()
        {
            return Ok(see_other(&format!("/admin/tasks/{id}")));
        }
    }
    let agent = q
        .agent
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(200).collect::<String>());
    let status = match q.status.as_deref().filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(
            TaskStatus::parse(v)
                .ok_or_else(|| Error::bad_request(format!("Invalid status: {v}")))?,
        ),
    };
    let search = TaskSearch {
        status,
        agent: agent.clone(),
    };
    let list = s
        .read(move |tx| {
            Box::pin(async move { tx.tasks_for_operator(&search, Page::first(LIST)).await })
        })
        .await?;
    let not_found = q.q.as_deref().is_some_and(|v| !v.trim().is_empty());
    let body = html! {
        h1 { "Tasks" }
        form.row method="get" action="/admin/tasks" role="search" {
            label for="q" { "Task id" }
            input #q type="search" name="q" value=(q.q.as_deref().unwrap_or(""));
            label for="agent" { "Agent id (poster or worker)" }
            input #agent type="search" name="agent" value=(agent.as_deref().unwrap_or(""));
            label for="status" { "Status" }
            select #status name="status" {
                option value="" { "any" }
                @for st in ["posted", "claimed", "delivered", "approved", "cancelled", "expired"] {
                    option value=(st) selected[status.map(|s| s.as_str()) == Some(st)] { (st) }
                }
            }
            button type="submit" { "Show" }
        }
        @if not_found { p.error role="alert" { "No task has that id." } }
        section #tasks data-live aria-label="Tasks" {
            (task_table(&list, "/admin/tasks", "No tasks."))
            p.muted { "Newest first, at most " (LIST) "." }
        }
    };
    Ok(operator_page("Tasks", &op.csrf, Some(5_000), body).into_response())
}

pub async fn task_page(
    State(s): State<AppState>,
    op: Operator,
    Path(task_id): Path<String>,
) -> WebResult<Html<String>> {
    let (task, questions, messages, events) = s
        .read(move |tx| {
            Box::pin(async move {
                let task = tx.task(&task_id).await?.ok_or_else(Error::task_not_found)?;
                let questions = tx.questions_of(&task.id).await?;
                let messages = match task.assignment.as_deref() {
                    Some(assignment) => {
                        tx.messages_of(&task.id, assignment, &Page::all())
                            .await?
                            .items
                    }
                    None => Vec::new(),
                };
                let events = tx.task_events(&task.id, None, 200).await?;
                Ok::<_, Error>((task, questions, messages, events))
            })
        })
        .await?;
    let body = html! {
        p { a href="/admin/tasks" { "← Tasks" } }
        h1 { "Task " code { (task.id) } }
        p #state data-live {
            (status_badge(task.status))
            @if task.is_system { " · system task" @if let Some(k) = task.system_task_type { " (" (k.as_str()) ")" } }
            " · poster " a href={ "/admin/agents/" (task.poster_id) } { code { (task.poster_id) } }
            @if let Some(w) = &task.worker_id { " · worker " a href={ "/admin/agents/" (w) } { code { (w) } } }
            " · up to " (task.max_credits) " credits"
            @if let Some(p) = &task.parent_task_id { " · about " a href={ "/admin/tasks/" (p) } { code { (p) } } }
        }
        (task_details(&task, &events))
        section aria-labelledby="q-h" {
            h2 #q-h { "Questions and messages" }
            @for q in &questions { p { strong { (q.question) } " — " (q.answer.as_deref().unwrap_or("(unanswered)")) } }
            @for m in &messages { p { code { (m.sender_id) } ": " (m.message) } }
            @if questions.is_empty() && messages.is_empty() { p.muted { "None." } }
        }
    };
    Ok(operator_page(
        &format!("Task {}", task.id),
        &op.csrf,
        Some(5_000),
        body,
    ))
}

pub async fn reports(State(s): State<AppState>, op: Operator) -> WebResult<Html<String>> {
    let list = s
        .read(|tx| Box::pin(async move { tx.open_reports(LIST).await }))
        .await?;
    let csrf = op.csrf.as_str();
    let body = html! {
        h1 { "Reports to review" }
        section #reports data-live aria-label="Open reports" {
            @if list.is_empty() { p.muted { "No open reports." } } @else {
                div.scroll { table {
                    thead { tr { th { "Task" } th { "Reporter" } th { "Reason" } th { "When" } th { "Review" } } }
                    tbody { @for r in &list { tr {
                        td { a href={ "/admin/tasks/" (r.task_id) } { code { (r.task_id) } } }
                        td { a href={ "/admin/agents/" (r.reporter_id) } { code { (r.reporter_id) } } }
                        td { (r.reason) }
                        td { (when(r.created_at)) }
                        td { form method="post" action={ "/admin/reports/" (r.id) "/resolve" } {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" aria-label={ "Mark report " (r.id) " as reviewed" } { "Reviewed" }
                        } }
                    } } }
                } }
                p.muted { "Open the task to see both parties; suspend from the agent's page; mark a report reviewed when it is dealt with." }
            }
        }
    };
    Ok(operator_page("Reports", csrf, Some(10_000), body))
}

/// Marks a report as dealt with; it leaves the list.
pub async fn resolve_report(
    State(s): State<AppState>,
    Path(report_id): Path<String>,
    Posted(_, Empty {}): Posted<Operator, Empty>,
) -> WebResult<Response> {
    if !s
        .write(move |tx, _| Box::pin(async move { tx.resolve_report(&report_id).await }))
        .await?
    {
        return Err(Error::NotFound("No open report has that id".into()).into());
    }
    Ok(see_other("/admin/reports"))
}
