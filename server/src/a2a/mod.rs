//! A2A (Agent2Agent) 1.0: agents that speak A2A delegate work to the marketplace as they would
//! to any agent, and the marketplace's workers do it. `POST /a2a` is the JSON-RPC binding
//! (`A2A-Version: 1.0`); `/.well-known/agent-card.json` says so.
//!
//! A thin translation layer: each method is the same market rule the HTTP API calls (the same
//! validation, limits, credits and rate limits, the same bearer API key), with the task shown
//! as A2A shows tasks (`mapping`). The A2A client is the task's poster.
//!
//! - `types`: the wire types; `jsonrpc`: the envelope, versions and error codes;
//! - `mapping`: Pinchwork task ⇄ A2A task, states, and what follow-up messages do;
//! - `stream`: SSE streams and blocking calls; `push`: push notifications; `card`.

pub mod card;
pub mod jsonrpc;
pub mod mapping;
pub mod push;
pub mod stream;
pub mod types;

use crate::api::auth;
use crate::api::rate_limit::{Bucket, subject};
use crate::app::AppState;
use crate::error::Error;
use crate::market::social as talk;
use crate::market::tasks as rules;
use crate::model::TaskStatus;
use crate::store::{A2aTask, A2aTaskFilter, Page};
use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use jsonrpc::{Method, RpcError, success};
use mapping::{Intent, View};
use pinchwork_client::types::{AnswerRequest, ApproveRequest, MessageRequest, RejectRequest};
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use stream::{Watch, ends};
use types::{
    ListPushConfigsRequest, ListPushConfigsResponse, ListTasksRequest, ListTasksResponse,
    PushConfigRequest, SendMessageRequest, SendMessageResponse, StreamResponse, TaskIdRequest,
    TaskPushNotificationConfig,
};

/// The JSON-RPC endpoint.
pub const PATH: &str = "/a2a";

/// What the A2A endpoint keeps in memory on each node.
#[derive(Default)]
pub struct Shared {
    /// The streams and blocking calls open per agent.
    pub watches: Arc<stream::Watches>,
    /// Whether any task may have a push config: until one has, writes skip looking for them.
    /// Raised before a config is saved on this node, and when a timer tick finds one (so a
    /// node learns of another node's first config within a tick); never lowered while the
    /// node runs, so that no tick can hide a config being saved.
    pushes: AtomicBool,
}

impl Shared {
    pub fn pushes(&self) -> bool {
        self.pushes.load(Ordering::SeqCst)
    }

    /// A config is about to be saved: from now on, writes look for configs.
    fn expect_pushes(&self) {
        self.pushes.store(true, Ordering::SeqCst);
    }
}

/// Notes whether any push config exists (at start and every timer tick), once there is one.
pub async fn refresh(s: &AppState) -> crate::error::Result<()> {
    if !s.a2a.pushes() && s.read(|tx| tx.push_configs_exist()).await? {
        s.a2a.expect_pushes();
    }
    Ok(())
}

/// How long a blocking SendMessage waits, unless `metadata.wait` says otherwise.
const BLOCKING_WAIT: Duration = Duration::from_secs(30);

/// Page size of ListTasks when the client names none, and the largest it may name.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 100;

/// `POST /a2a`: one JSON-RPC call. Answers are JSON-RPC responses (HTTP 200, or 401/403 when
/// the key is refused and 429 past a rate limit); streaming methods answer with an SSE stream
/// of them.
pub async fn endpoint(State(s): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, s.cfg.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => {
            return RpcError::invalid_request(format!(
                "Payload too large: at most {} bytes",
                s.cfg.max_body_bytes
            ))
            .respond(Value::Null);
        }
    };
    let call = match jsonrpc::read_call(&body, &parts.headers) {
        Ok(call) => call,
        Err((id, e)) => return e.respond(id),
    };
    let id = call.id.clone();
    match run(&s, &parts, call).await {
        Ok(res) => res,
        Err(e) => e.respond(id),
    }
}

/// A method's params, read.
enum Params {
    Send(Box<SendMessageRequest>, bool),
    Get(types::GetTaskRequest),
    List(ListTasksRequest),
    Cancel(TaskIdRequest),
    Subscribe(TaskIdRequest),
    CreatePush(TaskPushNotificationConfig),
    GetPush(PushConfigRequest),
    ListPush(ListPushConfigsRequest),
    DeletePush(PushConfigRequest),
    ExtendedCard,
}

impl Params {
    fn read(method: Method, params: Value) -> Result<Self, RpcError> {
        use jsonrpc::params as p;
        Ok(match method {
            Method::SendMessage => Self::Send(Box::new(p(params)?), false),
            Method::SendStreamingMessage => Self::Send(Box::new(p(params)?), true),
            Method::GetTask => Self::Get(p(params)?),
            Method::ListTasks => Self::List(p(params)?),
            Method::CancelTask => Self::Cancel(p(params)?),
            Method::SubscribeToTask => Self::Subscribe(p(params)?),
            Method::CreatePushConfig => Self::CreatePush(p(params)?),
            Method::GetPushConfig => Self::GetPush(p(params)?),
            Method::ListPushConfigs => Self::ListPush(p(params)?),
            Method::DeletePushConfig => Self::DeletePush(p(params)?),
            Method::GetExtendedAgentCard => Self::ExtendedCard,
        })
    }

    /// The rate limit the call counts against: the one of the HTTP endpoint doing the same.
    fn bucket(&self) -> Bucket {
        match self {
            Self::Send(req, _) if req.message.task_id.is_empty() => Bucket::Create,
            Self::Send(..) | Self::Cancel(_) | Self::CreatePush(_) | Self::DeletePush(_) => {
                Bucket::Write
            }
            _ => Bucket::Read,
        }
    }
}

async fn run(s: &AppState, parts: &Parts, call: jsonrpc::Call) -> Result<Response, RpcError> {
    let params = Params::read(call.method, call.params)?;
    let addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let bucket = params.bucket();
    s.limiter
        .hit(bucket, &subject(bucket, &parts.headers, addr), s.now())
        .await?;
    let caller = auth::caller(s, &parts.headers)
        .await
        .map_err(RpcError::refused)?
        .id;
    let id = call.id;
    let json = |value: Value| Ok(Json(success(&id, value)).into_response());
    match params {
        Params::Send(req, streaming) => send(s, caller, *req, streaming, id).await,
        Params::Get(req) => {
            let history = history_length(req.history_length)?;
            let view = read(s, &caller, &req.id, history != Some(0)).await?;
            json(to_json(view.to_task(history, true)))
        }
        Params::List(req) => json(to_json(list(s, caller, req).await?)),
        Params::Cancel(req) => json(to_json(
            cancel(s, caller, req.id).await?.to_task(None, true),
        )),
        Params::Subscribe(req) => subscribe(s, caller, req.id, id).await,
        Params::CreatePush(config) => json(to_json(create_push(s, caller, config).await?)),
        Params::GetPush(req) => {
            let config = push_configs(s, caller, &req.task_id)
                .await?
                .into_iter()
                .find(|c| c.id == req.id)
                .ok_or_else(|| RpcError::not_found("Push notification config not found"))?;
            json(to_json(config))
        }
        Params::ListPush(req) => json(to_json(ListPushConfigsResponse {
            configs: push_configs(s, caller, &req.task_id).await?,
        })),
        Params::DeletePush(req) => {
            let (task_id, config_id) = (req.task_id, req.id);
            s.write(move |tx, _| {
                mapping::read(tx, &caller, &task_id, false)?;
                if !tx.delete_push_config(&task_id, &config_id)? {
                    return Err(Error::not_found("Push notification config not found"));
                }
                Ok(())
            })
            .await?;
            json(Value::Null)
        }
        Params::ExtendedCard => Err(RpcError::no_extended_card()),
    }
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
    Ok(s.read(move |tx| mapping::read(tx, &poster, &id, history))
        .await?)
}

/// SendMessage and SendStreamingMessage: a message without a task id posts a task; with one,
/// it acts on that task (`mapping::intent`).
async fn send(
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
        Some(s.a2a.watches.take(&poster)?)
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

fn to_json(value: impl Serialize) -> Value {
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
            if let Some(task_id) = tx.a2a_task_by_message(&poster, &new.message_id)? {
                return mapping::read(tx, &poster, &task_id, history);
            }
            let task = rules::create(tx, ctx, &poster, new.request)?;
            let first = tx.insert_a2a_task(&A2aTask {
                task_id: task.id.clone(),
                poster_id: poster.clone(),
                context_id: new.context_id,
                message_id: new.message_id,
                created_at: ctx.now,
            })?;
            if !first {
                return Err(Error::conflict(RESENT));
            }
            if let Some(config) = push {
                push::save(tx, &config.for_task(&task.id))?;
            }
            mapping::view_of(tx, task, history)
        })
        .await;
    match posted {
        Err(Error::Conflict(m)) if m == RESENT => {
            let poster = who.clone();
            let task_id = s
                .read(move |tx| tx.a2a_task_by_message(&poster, &message_id))
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
        let view = mapping::read(tx, &poster, &task_id, false)?;
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
                rules::approve(tx, ctx, &poster, &task_id, req)?;
            }
            Intent::Reject { reason, feedback } => {
                let req = RejectRequest { reason, feedback };
                rules::reject(tx, ctx, &poster, &task_id, req)?;
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
                talk::answer(tx, ctx, &poster, &task_id, &question, answer)?;
            }
            Intent::Reply { text, .. } => {
                let message = MessageRequest {
                    message: Some(text),
                };
                talk::send_message(tx, ctx, &poster, &task_id, message)?;
            }
        }
        mapping::read(tx, &poster, &task_id, history)
    })
    .await?)
}

/// ListTasks: the caller's tasks, newest first, paged by an opaque token.
async fn list(
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
        None | Some(types::TaskState::Unspecified) => None,
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
    let page = Page { limit, offset };
    let (views, total) = s
        .read(move |tx| {
            let (rows, total) = tx.a2a_tasks_of(&filter, page)?;
            let views = rows
                .into_iter()
                .map(|row| {
                    if history > 0 {
                        mapping::view_of(tx, row.task, true)
                    } else {
                        mapping::read_more(tx, row.task, row.context_id, None, false)
                    }
                })
                .collect::<crate::error::Result<Vec<_>>>()?;
            Ok((views, total))
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
async fn cancel(s: &AppState, poster: String, task_id: String) -> Result<View, RpcError> {
    s.write(move |tx, ctx| {
        mapping::read(tx, &poster, &task_id, false)?;
        rules::cancel(tx, ctx, &poster, &task_id)?;
        mapping::read(tx, &poster, &task_id, true)
    })
    .await
    .map_err(|e| match e {
        Error::Conflict(m) => RpcError::not_cancelable(m),
        other => other.into(),
    })
}

/// SubscribeToTask: the task, then its changes, until it is done or waits for its client.
async fn subscribe(
    s: &AppState,
    poster: String,
    task_id: String,
    id: Value,
) -> Result<Response, RpcError> {
    let slot = s.a2a.watches.take(&poster)?;
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

async fn create_push(
    s: &AppState,
    poster: String,
    c: TaskPushNotificationConfig,
) -> Result<TaskPushNotificationConfig, RpcError> {
    let config = push::config(&c, s.cfg.webhook_allow_insecure, s.now())?.for_task(&c.task_id);
    mapping::client_id("taskId", &c.task_id)?;
    let saved = config.clone();
    s.a2a.expect_pushes();
    s.write(move |tx, _| {
        mapping::read(tx, &poster, &config.task_id, false)?;
        push::save(tx, &config)
    })
    .await?;
    Ok(push::wire(&saved))
}

async fn push_configs(
    s: &AppState,
    poster: String,
    task_id: &str,
) -> Result<Vec<TaskPushNotificationConfig>, RpcError> {
    let task_id = task_id.to_string();
    let configs = s
        .read(move |tx| {
            mapping::read(tx, &poster, &task_id, false)?;
            tx.push_configs_of(&[task_id])
        })
        .await?;
    Ok(configs.iter().map(push::wire).collect())
}
