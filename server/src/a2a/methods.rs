//! The A2A methods: each reads what it needs, calls the market rules as the HTTP API's
//! handlers do, and shows the task as A2A shows it.

use super::jsonrpc::{RpcError, success};
use super::mapping::{self, Intent, View};
use super::push;
use super::stream::{self, Watch, ends};
use super::types::{
    GetTaskRequest, ListTasksRequest, ListTasksResponse, PushConfigRequest, SendMessageRequest,
    SendMessageResponse, StreamResponse, Task, TaskPushNotificationConfig, TaskState,
};
use crate::api::holds::Kind;
use crate::app::AppState;
use crate::error::Error;
use crate::market::social as talk;
use crate::market::tasks as rules;
use crate::model::TaskStatus;
use crate::store::{A2aTask, A2aTaskFilter, Page};
use axum::Json;
use axum::response::{IntoResponse, Response};
use pinchwork_client::types::{AnswerRequest, ApproveRequest, MessageRequest, RejectRequest};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// How long a blocking SendMessage waits, unless `metadata.wait` says otherwise.
const BLOCKING_WAIT: Duration = Duration::from_secs(30);

/// Page size of ListTasks when the client names none, and the largest it may name.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 100;

/// GetTask: the task, with `historyLength` of its messages.
pub(super) async fn get(
    s: &AppState,
    poster: String,
    req: GetTaskRequest,
) -> Result<Task, RpcError> {
    let history = history_length(req.history_length)?;
    let view = read(s, &poster, &req.id, history != Some(0)).await?;
    Ok(view.to_task(history, true))
}

/// `historyLength`: how many of the latest messages to show (all when absent).
fn history_length(n: Option<i64>) -> Result<Option<i64>, RpcError> {
    match n {
        Some(n) if n < 0 => Err(RpcError::invalid_params("historyLength must be 0 or more")),
        other => Ok(other),
    }
}

async fn read(s: &AppState, poster: &str, task_id: &str, history: bool) -> Result<View, RpcError> {
    let (poster, id) = (poster.to_string(), task_id.to_string());
    Ok(
        s.read(move |tx| Box::pin(async move { mapping::read(tx, &poster, &id, history).await }))
            .await?,
    )
}

/// SendMessage and SendStreamingMessage: a message without a task id posts a task; with one,
/// it acts on that task (`mapping::intent`).
pub(super) async fn send(
    s: &AppState,
    poster: String,
    req: SendMessageRequest,
    streaming: bool,
    id: Value,
) -> Result<Response, RpcError> {
    let history = history_length(req.configuration.history_length)?;
    let blocking = !streaming && !req.configuration.return_immediately;
    let limit = match mapping::wait_seconds(&req)? {
        Some(secs) => Duration::from_secs(secs as u64),
        None => BLOCKING_WAIT,
    };
    // Taken before the work, so that a client over its limit changes nothing.
    let slot = if streaming || blocking {
        let (kind, max) = if streaming {
            (Kind::Stream, s.cfg.max_streams_per_agent)
        } else {
            (Kind::Wait, s.cfg.max_waits_per_agent)
        };
        Some(s.holds.take(&poster, kind, max)?)
    } else {
        None
    };
    // Listening before the work, so that no change after it is missed.
    let poster_news = s.bus.subscribe(&poster);
    let new = req.message.task_id.is_empty();
    let view = if new {
        create(s, poster.clone(), &req, history != Some(0)).await?
    } else {
        reply(s, poster.clone(), &req, history != Some(0)).await?
    };
    let task = view.to_task(history, true);
    let Some(slot) = slot else {
        return Ok(Json(success(&id, to_json(SendMessageResponse::Task(task)))).into_response());
    };
    let (done, marks) = (ends(view.state()), view.marks());
    let watch = Watch::start(s, slot, poster_news, view);
    if streaming {
        let follow = (new || !done).then_some(watch);
        return Ok(stream::sse(id, StreamResponse::Task(task), follow).into_response());
    }
    let waited = stream::wait(watch, limit).await?;
    let task = if waited.marks() == marks || history == Some(0) {
        waited.to_task(history, true)
    } else {
        // The watch reads only what tells a change: read the history too.
        read(s, &poster, &waited.task.id, true)
            .await?
            .to_task(history, true)
    };
    Ok(Json(success(&id, to_json(SendMessageResponse::Task(task)))).into_response())
}

pub(super) fn to_json(value: impl Serialize) -> Value {
    serde_json::to_value(value).expect("A2A types serialize")
}

/// Posts the task a first message asks for, once per message id: the same message sent again
/// (a retry) finds the task it posted.
async fn create(
    s: &AppState,
    poster: String,
    req: &SendMessageRequest,
    history: bool,
) -> Result<View, RpcError> {
    /// Another call posted this message first (and this one is undone).
    const RESENT: &str = "This message was just posted by another call";
    let new = mapping::new_task(req)?;
    let push = req
        .configuration
        .task_push_notification_config
        .as_ref()
        .map(|c| push::config(c, s.cfg.webhook_allow_insecure, s.now()))
        .transpose()?;
    if push.is_some() {
        s.a2a.expect_pushes();
    }
    let (who, message_id) = (poster.clone(), new.message_id.clone());
    let posted = s
        .write(move |tx, ctx| {
            Box::pin(async move {
                if let Some(task_id) = tx.a2a_task_by_message(&poster, &new.message_id).await? {
                    return mapping::read(tx, &poster, &task_id, history).await;
                }
                let task = rules::create(tx, ctx, &poster, new.request).await?;
                let first = tx
                    .insert_a2a_task(&A2aTask {
                        task_id: task.id.clone(),
                        poster_id: poster.clone(),
                        context_id: new.context_id,
                        message_id: new.message_id,
                        created_at: ctx.now,
                    })
                    .await?;
                if !first {
                    return Err(Error::conflict(RESENT));
                }
                if let Some(config) = push {
                    push::save(tx, &config.for_task(&task.id)).await?;
                }
                mapping::view_of(tx, task, history).await
            })
        })
        .await;
    match posted {
        Err(Error::Conflict(m)) if m == RESENT => {
            let poster = who.clone();
            let task_id = s
                .read(move |tx| {
                    Box::pin(async move { tx.a2a_task_by_message(&poster, &message_id).await })
                })
                .await?
                .ok_or_else(RpcError::internal)?;
            read(s, &who, &task_id, history).await
        }
        other => Ok(other?),
    }
}

/// Acts on an existing task as the follow-up message asks (see `mapping`).
async fn reply(
    s: &AppState,
    poster: String,
    req: &SendMessageRequest,
    history: bool,
) -> Result<View, RpcError> {
    let intent = mapping::intent(&req.message)?;
    if let Intent::Reject { reason: None, .. } = intent {
        return Err(RpcError::invalid_params(
            "A rejection needs a reason: reply \"reject: <what is wrong>\"",
        ));
    }
    let task_id = req.message.task_id.clone();
    Ok(s.write(move |tx, ctx| {
        Box::pin(async move {
            let view = mapping::read(tx, &poster, &task_id, false).await?;
            let state = view.state();
            if state.is_terminal() {
                return Err(Error::conflict(format!(
                    "Task {task_id} is in terminal state {}: it takes no more messages",
                    state.name()
                )));
            }
            match intent {
                Intent::Approve { rating, feedback } => {
                    let req = ApproveRequest { rating, feedback };
                    rules::approve(tx, ctx, &poster, &task_id, req).await?;
                }
                Intent::Reject { reason, feedback } => {
                    let req = RejectRequest { reason, feedback };
                    rules::reject(tx, ctx, &poster, &task_id, req).await?;
                }
                Intent::Reply { text, question_id } if view.task.status == TaskStatus::Posted => {
                    let question = question_id
                        .or_else(|| view.open_question.map(|q| q.id))
                        .ok_or_else(|| {
                            Error::conflict(
                                "No worker has claimed the task yet, so there is nobody to \
                                 write to (and no question to answer): it waits for a worker",
                            )
                        })?;
                    let answer = AnswerRequest { answer: Some(text) };
                    talk::answer(tx, ctx, &poster, &task_id, &question, answer).await?;
                }
                Intent::Reply { text, .. } => {
                    let message = MessageRequest {
                        message: Some(text),
                    };
                    talk::send_message(tx, ctx, &poster, &task_id, message).await?;
                }
            }
            mapping::read(tx, &poster, &task_id, history).await
        })
    })
    .await?)
}

/// ListTasks: the caller's tasks, newest first, paged by an opaque token.
pub(super) async fn list(
    s: &AppState,
    poster: String,
    req: ListTasksRequest,
) -> Result<ListTasksResponse, RpcError> {
    let limit = req.page_size.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(RpcError::invalid_params(format!(
            "pageSize must be between 1 and {MAX_PAGE}"
        )));
    }
    // Lists leave history out unless asked for.
    let history = history_length(req.history_length)?.unwrap_or(0);
    let offset = match req.page_token.as_deref().unwrap_or_default() {
        "" => 0,
        token => token
            .parse::<i64>()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(|| RpcError::invalid_params("Invalid pageToken"))?,
    };
    let status_after = match req.status_timestamp_after.as_deref() {
        None | Some("") => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| {
                    RpcError::invalid_params("statusTimestampAfter must be an RFC 3339 time")
                })?
                .timestamp_millis(),
        ),
    };
    let state = match req.status {
        None | Some(TaskState::Unspecified) => None,
        Some(state) => match mapping::condition(state) {
            Some(condition) => Some(condition),
            // No task is ever in this state.
            None => {
                return Ok(ListTasksResponse {
                    tasks: Vec::new(),
                    next_page_token: String::new(),
                    page_size: limit as i32,
                    total_size: 0,
                });
            }
        },
    };
    let filter = A2aTaskFilter {
        poster,
        context_id: req.context_id.filter(|c| !c.is_empty()),
        state,
        status_after,
    };
    let page = Page {
        limit,
        offset,
        cursor: None,
    };
    let (views, total) = s
        .read(move |tx| {
            Box::pin(async move {
                let listed = tx.a2a_tasks_of(&filter, page).await?;
                let total = listed.total;
                let mut views = Vec::with_capacity(listed.items.len());
                for row in listed.items {
                    views.push(if history > 0 {
                        mapping::view_of(tx, row.task, true).await?
                    } else {
                        mapping::read_more(tx, row.task, row.context_id, None, false).await?
                    });
                }
                Ok::<_, Error>((views, total))
            })
        })
        .await?;
    let next = offset + views.len() as i64;
    Ok(ListTasksResponse {
        tasks: views
            .iter()
            .map(|v| v.to_task(Some(history), req.include_artifacts))
            .collect(),
        next_page_token: if next < total {
            next.to_string()
        } else {
            String::new()
        },
        page_size: limit as i32,
        total_size: total as i32,
    })
}

/// CancelTask: the same rule as the API's cancel (only a task nobody has claimed).
pub(super) async fn cancel(
    s: &AppState,
    poster: String,
    task_id: String,
) -> Result<Task, RpcError> {
    s.write(move |tx, ctx| {
        Box::pin(async move {
            mapping::read(tx, &poster, &task_id, false).await?;
            rules::cancel(tx, ctx, &poster, &task_id).await?;
            mapping::read(tx, &poster, &task_id, true).await
        })
    })
    .await
    .map(|view| view.to_task(None, true))
    .map_err(|e| match e {
        Error::Conflict(m) => RpcError::not_cancelable(m),
        other => other.into(),
    })
}

/// SubscribeToTask: the task, then its changes, until it is done or waits for its client.
pub(super) async fn subscribe(
    s: &AppState,
    poster: String,
    task_id: String,
    id: Value,
) -> Result<Response, RpcError> {
    let slot = s
        .holds
        .take(&poster, Kind::Stream, s.cfg.max_streams_per_agent)?;
    let poster_news = s.bus.subscribe(&poster);
    let view = read(s, &poster, &task_id, true).await?;
    let state = view.state();
    if state.is_terminal() {
        return Err(RpcError::unsupported(format!(
            "Task {task_id} is in terminal state {}: there is nothing more to stream",
            state.name()
        )));
    }
    let first = StreamResponse::Task(view.to_task(None, true));
    let watch = Watch::start(s, slot, poster_news, view);
    Ok(stream::sse(id, first, Some(watch)).into_response())
}

pub(super) async fn create_push(
    s: &AppState,
    poster: String,
    c: TaskPushNotificationConfig,
) -> Result<TaskPushNotificationConfig, RpcError> {
    let config = push::config(&c, s.cfg.webhook_allow_insecure, s.now())?.for_task(&c.task_id);
    mapping::client_id("taskId", &c.task_id)?;
    let saved = config.clone();
    s.a2a.expect_pushes();
    s.write(move |tx, _| {
        Box::pin(async move {
            mapping::read(tx, &poster, &config.task_id, false).await?;
            push::save(tx, &config).await
        })
    })
    .await?;
    Ok(push::wire(&saved))
}

pub(super) async fn push_configs(
    s: &AppState,
    poster: String,
    task_id: &str,
) -> Result<Vec<TaskPushNotificationConfig>, RpcError> {
    let task_id = task_id.to_string();
    let configs = s
        .read(move |tx| {
            Box::pin(async move {
                mapping::read(tx, &poster, &task_id, false).await?;
                Ok::<_, Error>(tx.push_configs_of(&[task_id]).await?)
            })
        })
        .await?;
    Ok(configs.iter().map(push::wire).collect())
}

pub(super) async fn get_push(
    s: &AppState,
    poster: String,
    req: PushConfigRequest,
) -> Result<TaskPushNotificationConfig, RpcError> {
    push_configs(s, poster, &req.task_id)
        .await?
        .into_iter()
        .find(|c| c.id == req.id)
        .ok_or_else(|| RpcError::not_found("Push notification config not found"))
}

pub(super) async fn delete_push(
    s: &AppState,
    poster: String,
    task_id: String,
    config_id: String,
) -> Result<(), RpcError> {
    s.write(move |tx, _| {
        Box::pin(async move {
            mapping::read(tx, &poster, &task_id, false).await?;
            if !tx.delete_push_config(&task_id, &config_id).await? {
                return Err(Error::not_found("Push notification config not found"));
            }
            Ok(())
        })
    })
    .await?;
    Ok(())
}
