//! Tasks: post, browse, claim, deliver, review.

use super::auth::Auth;
use super::holds::Kind;
use super::negotiate::{Body, BodyText, Either, Path, Query, Reply};
use super::views::{abandon_response, available_item, pickup_item, task_view_with};
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::events::{EventKind, Notice};
use crate::market::{tasks as rules, validate};
use crate::model::{Task, TaskStatus};
use crate::store::{OpenTask, OpenTaskFilter, Role, SystemWork};
use axum::extract::State;
use pinchwork_api::limits::MAX_WAIT_SECONDS;
use pinchwork_api::query::{self, MyTasksQuery, PickupQuery, PickupWait, TaskQuery};
use pinchwork_client::types::{AbandonResponse, AvailableItem, PickupItem, TaskView};
use pinchwork_client::types::{
    ApproveRequest, BatchPickupRequest, CreateTaskRequest, CreateTaskResponse, DeliverRequest,
    RejectRequest, TaskList,
};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

impl BodyText for CreateTaskRequest {}
impl BodyText for BatchPickupRequest {}
impl BodyText for ApproveRequest {}
impl BodyText for RejectRequest {}
impl BodyText for DeliverRequest {
    const TEXT_FIELD: &'static str = "result";
}

/// A task with the guide's headers: X-Task-Id, X-Status and, once charged, X-Credits-Charged.
fn task_reply((task, work): &(Task, Vec<SystemWork>)) -> Reply<TaskView> {
    let reply = Reply::ok(&task_view_with(task, work))
        .header("x-task-id", &task.id)
        .header("x-status", task.status);
    match task.credits_charged {
        Some(charged) if charged != 0 => reply.header("x-credits-charged", charged),
        _ => reply,
    }
}

pub async fn create(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Body(req): Body<CreateTaskRequest>,
) -> Result<Either<Reply<CreateTaskResponse>, Reply<TaskView>>> {
    let wait = req.wait;
    let _hold = match wait {
        Some(_) => Some(
            s.holds
                .take(&agent.id, Kind::Wait, s.cfg.max_waits_per_agent)?,
        ),
        None => None,
    };
    // Listen before the task exists, so that no delivery can slip between create and wait.
    let events = wait.map(|_| s.bus.subscribe(&agent.id));
    let poster = agent.id.clone();
    let task = s
        .write_new(rules::creates_in_one_statement, move |tx, ctx| {
            Box::pin(async move { rules::create(tx, ctx, &poster, req).await })
        })
        .await?;
    let mut status = task.status;
    if let (Some(secs), Some(events)) = (wait, events) {
        let current = wait_for_delivery(&s, events, &task.id, &agent.id, secs).await?;
        if current.0.status != TaskStatus::Posted && current.0.status != TaskStatus::Claimed {
            return Ok(Either::Right(task_reply(&current)));
        }
        status = current.0.status;
    }
    Ok(Either::Left(
        Reply::created(&CreateTaskResponse {
            task_id: task.id.clone(),
            status,
            need: task.need,
        })
        .header("x-task-id", &task.id)
        .header("x-status", status),
    ))
}

/// Waits up to `secs` for the task's delivery event, then returns the task as it stands.
async fn wait_for_delivery(
    s: &AppState,
    mut events: tokio::sync::broadcast::Receiver<Notice>,
    task_id: &str,
    poster: &str,
    secs: i64,
) -> Result<(Task, Vec<SystemWork>)> {
    let wanted = task_id.to_string();
    let ended = tokio::time::timeout(Duration::from_secs(secs as u64), async {
        loop {
            match events.recv().await {
                Ok(Notice::Event(e))
                    if e.task_id == wanted && e.kind() == EventKind::TaskDelivered =>
                {
                    return false;
                }
                // The poster was suspended: the wait ends now.
                Ok(Notice::Ended) => return true,
                Ok(Notice::Event(_)) => {}
                // News from elsewhere, or notices missed: the database says whether it was
                // delivered.
                Ok(Notice::Wake) | Err(RecvError::Lagged(_)) => {
                    let (id, who) = (wanted.clone(), poster.to_string());
                    let task = s
                        .read(move |tx| {
                            Box::pin(async move { rules::visible_task(tx, &who, &id).await })
                        })
                        .await;
                    if task.is_ok_and(|t| {
                        t.status != TaskStatus::Posted && t.status != TaskStatus::Claimed
                    }) {
                        return false;
                    }
                }
                Err(RecvError::Closed) => return false,
            }
        }
    })
    .await;
    if matches!(ended, Ok(true)) {
        return Err(Error::forbidden("Agent suspended"));
    }
    let (id, who) = (task_id.to_string(), poster.to_string());
    s.read(move |tx| {
        Box::pin(async move {
            let task = rules::visible_task(tx, &who, &id).await?;
            rules::with_system_work(tx, task).await
        })
    })
    .await
}

pub async fn get(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
) -> Result<Reply<TaskView>> {
    let task = s
        .read(move |tx| {
            Box::pin(async move {
                let task = rules::visible_task(tx, &agent.id, &task_id).await?;
                rules::with_system_work(tx, task).await
            })
        })
        .await?;
    Ok(task_reply(&task))
}

/// What a browse or pickup filters on, within the limits. Empty tags (`tags=`, `tags=a,`) are
/// no filter, not a tag nothing carries.
fn open_task_filter(
    viewer: String,
    tags: Option<Vec<String>>,
    search: Option<String>,
) -> Result<OpenTaskFilter> {
    Ok(OpenTaskFilter {
        viewer,
        tags: validate::filter_tags(tags.unwrap_or_default())?,
        search: validate::search(search)?,
        ..Default::default()
    })
}

pub async fn available(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Query(q): Query<TaskQuery>,
) -> Result<Reply<TaskList<AvailableItem>>> {
    let page = super::page(q.page, 20)?;
    let filter = open_task_filter(agent.id, Some(q.tags), q.search)?;
    let open = s
        .read(move |tx| Box::pin(async move { rules::browse(tx, &filter, page).await }))
        .await?;
    Ok(Reply::ok(&TaskList {
        tasks: open.items.iter().map(available_item).collect(),
        total: open.total,
        next_cursor: open.next_cursor,
        total_capped: open.total_capped,
    }))
}

pub async fn mine(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Query(q): Query<MyTasksQuery>,
) -> Result<Reply<TaskList<TaskView>>> {
    let page = super::page(q.page, 20)?;
    let role = q.role.map(|role| match role {
        query::Role::Poster => Role::Poster,
        query::Role::Worker => Role::Worker,
    });
    let mine = s
        .read(move |tx| {
            Box::pin(async move {
                let mine = tx.tasks_of(&agent.id, role, q.status, &page).await?;
                let tasks = rules::with_system_work_all(tx, mine.items).await?;
                Ok::<_, Error>((tasks, mine.total, mine.next_cursor, mine.total_capped))
            })
        })
        .await?;
    let (tasks, total, next_cursor, total_capped) = mine;
    Ok(Reply::ok(&TaskList {
        tasks: tasks.iter().map(|(t, w)| task_view_with(t, w)).collect(),
        total,
        next_cursor,
        total_capped,
    }))
}

/// A claimed task as the worker receives it, with X-Task-Id and X-Budget.
fn pickup_reply(open: &OpenTask) -> Reply<PickupItem> {
    Reply::ok(&pickup_item(&open.task, open.poster_reputation))
        .header("x-task-id", &open.task.id)
        .header("x-budget", open.task.max_credits)
}

pub async fn pickup(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Query(q): Query<PickupQuery>,
) -> Result<Reply<PickupItem>> {
    let who = agent.id.clone();
    let filter = open_task_filter(agent.id, Some(q.tags), q.search)?;
    let claimed = parked(&s, &who, q.wait, Option::is_some, || {
        let filter = filter.clone();
        s.write(move |tx, ctx| Box::pin(async move { rules::pickup_next(tx, ctx, &filter).await }))
    })
    .await?;
    match claimed {
        Some(open) => Ok(pickup_reply(&open)),
        None => Ok(Reply::no_content()),
    }
}

pub async fn pickup_batch(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Query(wait): Query<PickupWait>,
    Body(req): Body<BatchPickupRequest>,
) -> Result<Reply<TaskList<PickupItem>>> {
    let who = agent.id.clone();
    let filter = open_task_filter(agent.id, req.tags, req.search)?;
    let count = req.count;
    let claimed = parked(
        &s,
        &who,
        wait,
        |c: &Vec<OpenTask>| !c.is_empty(),
        || {
            let filter = filter.clone();
            s.write(move |tx, ctx| {
                Box::pin(async move { rules::pickup_batch(tx, ctx, &filter, count).await })
            })
        },
    )
    .await?;
    let tasks: Vec<_> = claimed
        .iter()
        .map(|o| pickup_item(&o.task, o.poster_reputation))
        .collect();
    Ok(Reply::ok(&TaskList {
        total: tasks.len() as i64,
        tasks,
        next_cursor: None,
        total_capped: false,
    }))
}

/// Runs a pickup; with `?wait=N` and nothing claimed, parks up to N seconds and runs it again
/// each time a task opens (here or on another node) until it claims something. It answers
/// what the last run did: what was claimed, or nothing once the wait is over or the server
/// shuts down; a client that leaves drops the future, and the hold with it. A task opened that
/// this agent may not take changes nothing: the run finds nothing and it parks again.
async fn parked<T, F>(
    s: &AppState,
    agent: &str,
    wait: PickupWait,
    claimed: impl Fn(&T) -> bool,
    pickup: impl Fn() -> F,
) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    let secs = validate::in_range("wait", wait.wait, 0, MAX_WAIT_SECONDS)?.unwrap_or(0);
    // Watched before each run, so that a task opened while it runs is not missed.
    let mut opened = s.bus.watch_opened();
    let mut got = pickup().await?;
    if secs == 0 || claimed(&got) {
        return Ok(got);
    }
    // Only a pickup that has to wait counts toward the caps (nothing was claimed if refused).
    let _holds = s.holds.take_on_node(
        agent,
        Kind::Pickup,
        s.cfg.max_pickup_waits_per_agent,
        s.cfg.max_pickup_waits,
    )?;
    let until = tokio::time::Instant::now() + Duration::from_secs(secs as u64);
    let mut shutdown = s.shutdown.subscribe();
    // The agent's own channel only says when it is suspended (the wait then ends).
    let mut news = s.bus.subscribe(agent);
    loop {
        tokio::select! {
            changed = opened.changed() => if changed.is_err() {
                return Ok(got);
            },
            () = tokio::time::sleep_until(until) => return Ok(got),
            _ = shutdown.wait_for(|stop| *stop) => return Ok(got),
            notice = news.recv() => match notice {
                Ok(Notice::Ended) => return Err(Error::forbidden("Agent suspended")),
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(got),
            },
        }
        opened.borrow_and_update();
        got = pickup().await?;
        if claimed(&got) {
            return Ok(got);
        }
    }
}

pub async fn pickup_one(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
) -> Result<Reply<PickupItem>> {
    let open = s
        .write(move |tx, ctx| {
            Box::pin(async move { rules::pickup_task(tx, ctx, &agent.id, &task_id).await })
        })
        .await?;
    Ok(pickup_reply(&open))
}

pub async fn deliver(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
    Body(req): Body<DeliverRequest>,
) -> Result<Reply<TaskView>> {
    let task = s
        .write(move |tx, ctx| {
            Box::pin(async move {
                let task = rules::deliver(tx, ctx, &agent.id, &task_id, req).await?;
                rules::with_system_work(tx, task).await
            })
        })
        .await?;
    Ok(task_reply(&task))
}

pub async fn approve(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
    Body(req): Body<ApproveRequest>,
) -> Result<Reply<TaskView>> {
    let task = s
        .write(move |tx, ctx| {
            Box::pin(async move {
                let task = rules::approve(tx, ctx, &agent.id, &task_id, req).await?;
                rules::with_system_work(tx, task).await
            })
        })
        .await?;
    Ok(task_reply(&task))
}

pub async fn reject(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
    Body(req): Body<RejectRequest>,
) -> Result<Reply<TaskView>> {
    let task = s
        .write(move |tx, ctx| {
            Box::pin(async move {
                let task = rules::reject(tx, ctx, &agent.id, &task_id, req).await?;
                rules::with_system_work(tx, task).await
            })
        })
        .await?;
    Ok(task_reply(&task))
}

pub async fn cancel(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
) -> Result<Reply<TaskView>> {
    let task = s
        .write(move |tx, ctx| {
            Box::pin(async move {
                let task = rules::cancel(tx, ctx, &agent.id, &task_id).await?;
                rules::with_system_work(tx, task).await
            })
        })
        .await?;
    Ok(task_reply(&task))
}

pub async fn abandon(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
) -> Result<Reply<AbandonResponse>> {
    let task = s
        .write(move |tx, ctx| {
            Box::pin(async move { rules::abandon(tx, ctx, &agent.id, &task_id).await })
        })
        .await?;
    Ok(Reply::ok(&abandon_response(&task)))
}
