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
mod methods;
pub mod push;
pub mod stream;
pub mod types;

use crate::api::auth;
use crate::api::auth::Verified;
use crate::api::rate_limit::Bucket;
use crate::app::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use jsonrpc::{Method, RpcError, success};
use methods::{
    cancel, create_push, delete_push, get, get_push, list, push_configs, send, subscribe, to_json,
};
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use types::{
    GetTaskRequest, ListPushConfigsRequest, ListPushConfigsResponse, ListTasksRequest,
    PushConfigRequest, SendMessageRequest, TaskIdRequest, TaskPushNotificationConfig,
};

/// The JSON-RPC endpoint.
pub const PATH: &str = "/a2a";

/// What the A2A endpoint keeps in memory on each node.
#[derive(Default)]
pub struct Shared {
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
    if !s.a2a.pushes()
        && s.read(|tx| Box::pin(async move { tx.push_configs_exist().await }))
            .await?
    {
        s.a2a.expect_pushes();
    }
    Ok(())
}

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

/// A caller the route table refuses (no key, a wrong key, a suspended agent): the JSON-RPC
/// error, with the HTTP status the API would answer (the request's id is not read yet).
pub fn refusal(e: crate::error::Error) -> Response {
    RpcError::refused(e).respond(Value::Null)
}

/// A method's params, read.
enum Params {
    Send(Box<SendMessageRequest>, bool),
    Get(GetTaskRequest),
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
    let caller = auth::caller(s, parts).await.map_err(RpcError::refused)?.id;
    let subject = Verified::Agent(caller.clone()).subject();
    s.limiter.hit(params.bucket(), &subject, s.now()).await?;
    let id = call.id;
    match params {
        Params::Send(req, streaming) => send(s, caller, *req, streaming, id).await,
        Params::Get(req) => answer(&id, get(s, caller, req).await?),
        Params::List(req) => answer(&id, list(s, caller, req).await?),
        Params::Cancel(req) => answer(&id, cancel(s, caller, req.id).await?),
        Params::Subscribe(req) => subscribe(s, caller, req.id, id).await,
        Params::CreatePush(config) => answer(&id, create_push(s, caller, config).await?),
        Params::GetPush(req) => answer(&id, get_push(s, caller, req).await?),
        Params::ListPush(req) => {
            let configs = push_configs(s, caller, &req.task_id).await?;
            answer(&id, ListPushConfigsResponse { configs })
        }
        Params::DeletePush(req) => {
            delete_push(s, caller, req.task_id, req.id).await?;
            answer(&id, Value::Null)
        }
        Params::ExtendedCard => Err(RpcError::no_extended_card()),
    }
}

/// A successful answer to call `id`.
fn answer(id: &Value, result: impl Serialize) -> Result<Response, RpcError> {
    Ok(Json(success(id, to_json(result))).into_response())
}
