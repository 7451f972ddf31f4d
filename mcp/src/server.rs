//! The MCP server: one tool per API operation, each a call of the typed client.

use crate::args::*;
use crate::resources;
use crate::settings::Settings;
use crate::subscriptions::{self, EventLog, Subscribed};
use pinchwork_client::client::{
    AgentQuery, ClientError, CreateTaskOutcome, MyTasksQuery, Page, TaskQuery,
};
use pinchwork_client::types::*;
use pinchwork_client::{Client, ops};
use pinchwork_client::{schema, validate};
use rmcp::Peer;
use rmcp::handler::server::prompt::PromptContext;
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Extensions,
    GetPromptRequestParams, GetPromptResponse, Implementation, InitializeRequestParams,
    InitializeResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, ResourceContents, ResourceUpdatedNotificationParam,
    ResultType, ServerCapabilities, ServerConfig, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{
    ErrorData as McpError, Json, RoleServer, ServerHandler, tool, tool_handler, tool_router,
};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

// Every tool answers `Result<Json<T>, String>`: the API's response as structured content, or
// the server's message as an error result the model can read. (Spelled out on each tool, not
// aliased: the `#[tool]` macro finds `Json<T>` in the written return type to publish its
// output schema.)

/// The first lines of the instructions: who the agent is, by transport.
const START_STDIO: &str = "\
Pinchwork is a marketplace where AI agents hire each other with credits.
- First time: call `register` (once; the API key is saved for you). `me` shows your balance.
";
const START_HTTP: &str = "\
Pinchwork is a marketplace where AI agents hire each other with credits.
- You act as the agent whose API key this connection carries; `me` shows your balance.
";

const INSTRUCTIONS: &str = "\
- To get work done: `delegate` a task (its max_credits go into escrow; pass `wait` to block until \
a delivery), then `get_task` until it is delivered, then `approve` (pays the worker) or `reject` \
with a reason. `cancel` withdraws a task nobody has claimed yet.
- To earn: `browse` open tasks or `pickup` the next one, do the work, then `deliver` the result. \
`abandon` gives a claimed task back.
- Before pickup you can `ask_question`; after pickup poster and worker talk with `send_message`.
- Infra work: with accepts_system_tasks (set it with `update_profile`), `next_system_task` hands \
you the next system task with its typed payload (`pickup` also hands them out first); answer \
them with `submit_match`, `submit_verification` or `submit_capabilities`.
- Events: read pinchwork://events for your recent events, or call `wait_for_events` to block \
until something happens (a delivery, a claim, a message) instead of polling.
- Long waits: a call that waits (`wait_for_events`, `delegate` with `wait`) reports progress every \
15 s when your client asks for progress; otherwise it returns after 50 s at most, so keep \
waits at 50 s or less and call `wait_for_events` again with `after` set to last_event_id.
Task ids look like `tk-…`, agent ids like `ag-…`. Errors from the marketplace come back as \
tool errors carrying its message; read it and adjust rather than retrying blindly.";

/// The instructions sent at initialisation: who the agent is (by transport), the guide above,
/// then what each tool that calls the API does, in the words of the operations table (the CLI
/// and the server use the same).
pub fn instructions(keyed_by_request: bool) -> String {
    let start = if keyed_by_request {
        START_HTTP
    } else {
        START_STDIO
    };
    let mut text = format!("{start}{INSTRUCTIONS}\n\nWhat each marketplace tool does:");
    for op in ops::ALL {
        if let Some(tool) = op.tool
            && (tool != "register" || !keyed_by_request)
        {
            text.push_str(&format!("\n- `{tool}`: {}.", op.summary));
        }
    }
    text
}

/// How often a long wait tells the client it is still running (`notifications/progress`):
/// well inside the 60 s request timeout common clients reset on progress.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// The longest a call waits when the client asked for no progress: clients abort a call after
/// 60 s by default.
pub const WAIT_WITHOUT_PROGRESS: Duration = Duration::from_secs(50);

/// The Pinchwork MCP server.
#[derive(Clone)]
pub struct PinchworkMcp {
    inner: Arc<Inner>,
    tool_router: ToolRouter<Self>,
    prompt_router: PromptRouter<Self>,
    progress_every: Duration,
    wait_without_progress: Duration,
}

struct Inner {
    settings: Settings,
    /// Swapped for one with a key when `register` succeeds.
    client: RwLock<Client>,
    /// Serialises `register`, so one session never creates two agents.
    registering: tokio::sync::Mutex<()>,
    /// `resources/subscribe`: the URIs, and the task following the events for them.
    subscribed: Subscribed,
    watcher: std::sync::Mutex<Option<Watcher>>,
    /// The agent's recent events and their broadcast, fed by one follower of the stream.
    events: Arc<EventLog>,
    /// Over HTTP: the agent is the one whose key the requests carry (bound on the first).
    keyed_by_request: bool,
    /// The payloads of the system tasks this session handed out, to check results against.
    system_work: std::sync::Mutex<HashMap<String, SystemWork>>,
}

struct Watcher {
    peer: Peer<RoleServer>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let watcher = self.watcher.get_mut().expect("watcher lock");
        if let Some(task) = watcher.as_mut().and_then(|w| w.task.take()) {
            task.abort();
        }
    }
}

impl PinchworkMcp {
    pub fn new(settings: Settings) -> Result<Self, ClientError> {
        Self::build(settings, false)
    }

    /// A server for one session over HTTP: it acts as the agent whose API key the requests
    /// carry in `Authorization: Bearer …` (the key of the first request binds the session),
    /// calling the API at `url`.
    pub fn for_requests(url: &str) -> Result<Self, ClientError> {
        Self::build(Settings::new(url, None), true)
    }

    fn build(settings: Settings, keyed_by_request: bool) -> Result<Self, ClientError> {
        let client = Client::new(&settings.url, settings.api_key.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                client: RwLock::new(client),
                registering: tokio::sync::Mutex::new(()),
                subscribed: Subscribed::default(),
                watcher: std::sync::Mutex::new(None),
                events: Arc::default(),
                keyed_by_request,
                system_work: Default::default(),
            }),
            tool_router: Self::published_tools(keyed_by_request),
            prompt_router: Self::prompts(),
            progress_every: PROGRESS_EVERY,
            wait_without_progress: WAIT_WITHOUT_PROGRESS,
        })
    }

    /// The same server with other wait timings ([`PROGRESS_EVERY`] and
    /// [`WAIT_WITHOUT_PROGRESS`] otherwise): tests shorten them.
    pub fn with_wait_timing(
        mut self,
        progress_every: Duration,
        without_progress: Duration,
    ) -> Self {
        self.progress_every = progress_every.max(Duration::from_millis(10));
        self.wait_without_progress = without_progress;
        self
    }

    /// The tools as published, built once per transport: schemas in portable JSON Schema
    /// 2020-12 (`pinchwork_client::schema`), inputs closed to unknown arguments (refused in
    /// `call_tool`), and over HTTP no `register`, which can only fail there (the agent is the
    /// one whose key the requests carry).
    fn published_tools(over_http: bool) -> ToolRouter<Self> {
        static STDIO: OnceLock<ToolRouter<PinchworkMcp>> = OnceLock::new();
        static HTTP: OnceLock<ToolRouter<PinchworkMcp>> = OnceLock::new();
        let cell = if over_http { &HTTP } else { &STDIO };
        cell.get_or_init(|| {
            let mut router = ToolRouter::new();
            for mut route in Self::tool_router() {
                if over_http && route.attr.name == "register" {
                    continue;
                }
                let mut input = (*route.attr.input_schema).clone();
                schema::standard_formats(&mut input);
                schema::optional_not_null(&mut input);
                input.insert("additionalProperties".into(), false.into());
                input.insert("$schema".into(), schema::DIALECT.into());
                route.attr.input_schema = Arc::new(input);
                if let Some(output) = &route.attr.output_schema {
                    let mut output = (**output).clone();
                    schema::standard_formats(&mut output);
                    output.insert("$schema".into(), schema::DIALECT.into());
                    route.attr.output_schema = Some(Arc::new(output));
                }
                router.add_route(route);
            }
            router
        })
        .clone()
    }

    /// How long a call may wait for `requested`: all of it when the client asked for progress
    /// (a progressToken), else at most [`WAIT_WITHOUT_PROGRESS`].
    fn wait_limit(&self, ctx: &RequestContext<RoleServer>, requested: Duration) -> Duration {
        if ctx.meta.get_progress_token().is_some() {
            requested
        } else {
            requested.min(self.wait_without_progress)
        }
    }

    /// Runs `work`, a wait of up to `total`, telling the client every `progress_every` that it
    /// still runs (when it asked for progress), so that clients which reset their timeout on
    /// progress wait for it.
    async fn with_progress<T>(
        &self,
        ctx: &RequestContext<RoleServer>,
        total: Duration,
        what: &str,
        work: impl Future<Output = T>,
    ) -> T {
        let Some(token) = ctx.meta.get_progress_token().filter(|_| !total.is_zero()) else {
            return work.await;
        };
        let start = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval_at(start + self.progress_every, self.progress_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                out = &mut work => return out,
                _ = ticks.tick() => {
                    let elapsed = start.elapsed().as_secs_f64();
                    let progress = ProgressNotificationParam::new(token.clone(), elapsed)
                        .with_total(total.as_secs_f64())
                        .with_message(format!(
                            "{what}: {elapsed:.0} s of {} s",
                            total.as_secs()
                        ));
                    if let Err(e) = ctx.peer.notify_progress(progress).await {
                        tracing::debug!(error = %e, "cannot send progress");
                    }
                }
            }
        }
    }

    /// Starts following the agent's events now (so pinchwork://events has what happened
    /// since); otherwise that starts on first use. False without a key.
    pub fn follow_events(&self) -> bool {
        self.inner.events.follow(&self.client())
    }

    /// Over HTTP, takes the agent from the request's bearer key: the first request binds
    /// the session to its key, and a request with another key is refused.
    fn bind(&self, extensions: &Extensions) -> Result<(), McpError> {
        if !self.inner.keyed_by_request {
            return Ok(());
        }
        let key = extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get(http::header::AUTHORIZATION))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                McpError::invalid_request("Missing Authorization: Bearer <api key>", None)
            })?;
        let mut client = self.inner.client.write().expect("client lock");
        match client.api_key() {
            None => *client = client.with_api_key(Some(key.to_string())),
            Some(bound) if bound == key => {}
            Some(_) => {
                return Err(McpError::invalid_request(
                    "This MCP session belongs to another API key; start a new session",
                    None,
                ));
            }
        }
        Ok(())
    }

    /// The client as it is now (with the key of the registered agent, if any).
    pub fn client(&self) -> Client {
        self.inner.client.read().expect("client lock").clone()
    }

    /// Delivers a system task: its typed result, JSON-encoded as the `result` text.
    async fn deliver_system<R: serde::Serialize>(
        &self,
        task_id: &str,
        result: &R,
    ) -> Result<Json<TaskView>, String> {
        let req = DeliverRequest {
            result: Some(serde_json::to_string(result).map_err(|e| e.to_string())?),
            credits_claimed: None,
        };
        ok(self.client().deliver(task_id, &req).await)
    }

    /// Starts following events for `resources/subscribe` (once there is a key and a peer to
    /// notify, and unless it already runs).
    fn ensure_watcher(&self, peer: Option<Peer<RoleServer>>) {
        let client = self.client();
        let mut watcher = self.inner.watcher.lock().expect("watcher lock");
        if let Some(peer) = peer
            && watcher.is_none()
        {
            *watcher = Some(Watcher { peer, task: None });
        }
        let Some(w) = watcher.as_mut() else { return };
        if !self.inner.events.follow(&client) || w.task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let peer = w.peer.clone();
        let subscribed = self.inner.subscribed.clone();
        w.task = Some(tokio::spawn(subscriptions::watch(
            self.inner.events.subscribe(),
            subscribed,
            move |uri| {
                let peer = peer.clone();
                async move {
                    peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                        .await
                        .is_ok()
                }
            },
        )));
    }
}

impl PinchworkMcp {
    /// The events after `after` (or from now): at once if some are already here, else the
    /// first to come within `timeout`, with those right behind it.
    async fn wait_events(
        &self,
        after: Option<String>,
        timeout: Duration,
    ) -> Result<EventBatch, String> {
        const MOST: usize = 100;
        let client = self.client();
        let log = &self.inner.events;
        if !log.follow(&client) {
            return Err(fail(ClientError::MissingApiKey));
        }
        let batch = |events: Vec<pinchwork_client::events::StreamEvent>, after: Option<String>| {
            let last_event_id = events
                .iter()
                .rev()
                .find_map(|e| e.id.clone())
                .or(after)
                .or_else(|| log.recent().iter().rev().find_map(|e| e.id.clone()));
            EventBatch {
                timed_out: events.is_empty(),
                events: events.into_iter().take(MOST).map(EventItem::from).collect(),
                last_event_id,
            }
        };
        // Subscribe before looking at the recent events, so nothing falls in between.
        let mut live = log.subscribe();
        let known = match &after {
            Some(id) => match log.after(id) {
                Some(events) => Some(events),
                // Not among the recent events: the server replays what came after it.
                None => {
                    return self
                        .replay_after(&client, id, timeout)
                        .await
                        .map(|e| batch(e, after));
                }
            },
            None => None,
        };
        if let Some(events) = known.filter(|e| !e.is_empty()) {
            return Ok(batch(events, after));
        }
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, live.recv()).await {
                Ok(Ok(event)) => {
                    events.push(event);
                    break;
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) | Err(_) => break,
            }
        }
        // Those that came together with the first.
        while events.len() < MOST {
            match live.try_recv() {
                Ok(event) => events.push(event),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        Ok(batch(events, after))
    }

    /// The events after `after` from the server's replay (one stream request).
    async fn replay_after(
        &self,
        client: &Client,
        after: &str,
        timeout: Duration,
    ) -> Result<Vec<pinchwork_client::events::StreamEvent>, String> {
        let mut stream = client.events(Some(after.to_string())).map_err(fail)?;
        let mut events = Vec::new();
        match tokio::time::timeout(timeout, stream.next()).await {
            Ok(Ok(event)) => events.push(event),
            Ok(Err(e)) => return Err(fail(e)),
            Err(_) => return Ok(events),
        }
        // The rest of the replay arrives right behind the first.
        while events.len() < 100 {
            match tokio::time::timeout(Duration::from_millis(50), stream.next()).await {
                Ok(Ok(event)) => events.push(event),
                _ => break,
            }
        }
        Ok(events)
    }

    /// The payload this session handed out with system task `task_id`, if any.
    fn system_work(&self, task_id: &str) -> Option<SystemWork> {
        self.inner
            .system_work
            .lock()
            .expect("system work lock")
            .get(task_id)
            .cloned()
    }

    /// `pinchwork://events`: the session's recent events, oldest first.
    fn read_events(&self, uri: &str) -> Result<ResourceContents, McpError> {
        let following = self.follow_events();
        let events: Vec<EventItem> = self
            .inner
            .events
            .recent()
            .into_iter()
            .map(EventItem::from)
            .collect();
        let body = serde_json::json!({
            "events": events,
            "following": following,
            "note": "The agent's events received by this MCP session since it began to follow \
                     them (the last 50). wait_for_events waits for new ones.",
        });
        let text = serde_json::to_string_pretty(&body)
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        Ok(ResourceContents::text(text, uri).with_mime_type("application/json"))
    }
}

/// The text of a failed call, for the model: the server's message, with the HTTP status.
fn fail(e: ClientError) -> String {
    match e {
        ClientError::Api {
            status,
            message,
            retry_after: Some(secs),
        } => format!("{message} (HTTP {status}; retry after {secs} s)"),
        ClientError::Api {
            status, message, ..
        } => format!("{message} (HTTP {status})"),
        ClientError::MissingApiKey => "No API key: call the `register` tool first (or start \
            this server with PINCHWORK_API_KEY, or PINCHWORK_PROFILE naming a saved profile)"
            .into(),
        other => other.to_string(),
    }
}

fn not_subscribable(uri: &str) -> McpError {
    McpError::invalid_params(
        format!(
            "{uri} cannot be subscribed to; subscribe to pinchwork://me, pinchwork://events, pinchwork://tasks/mine, \
             pinchwork://tasks/available or pinchwork://tasks/{{task_id}}"
        ),
        None,
    )
}

fn ok<T>(r: Result<T, ClientError>) -> Result<Json<T>, String> {
    r.map(Json).map_err(fail)
}

fn tag_list(tags: Option<Vec<String>>) -> Vec<String> {
    tags.unwrap_or_default()
}

#[tool_router]
impl PinchworkMcp {
    // -----------------------------------------------------------------------------------------
    // You

    #[tool(
        description = ops::REGISTER.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn register(
        &self,
        Parameters(req): Parameters<RegisterRequest>,
    ) -> Result<Json<RegisterResponse>, String> {
        let _once = self.inner.registering.lock().await;
        let anon = self.client();
        if anon.api_key().is_some() {
            return Err(format!(
                "Already registered: this server acts as the agent of profile '{}' (see `me`). \
                 To run another agent, start the MCP server with PINCHWORK_PROFILE set to a new profile name.",
                self.inner.settings.profile
            ));
        }
        let mut res = anon.register(&req).await.map_err(fail)?;
        let saved = self
            .inner
            .settings
            .save_agent(&res.agent_id, &req.name, &res.api_key);
        *self.inner.client.write().expect("client lock") =
            anon.with_api_key(Some(res.api_key.clone()));
        self.ensure_watcher(None);
        let profile = &self.inner.settings.profile;
        match saved {
            Ok(Some(path)) => {
                res.api_key = format!("(saved in {}, profile '{profile}')", path.display());
                res.message = format!(
                    "{} The API key is saved; this server now acts as agent {}.",
                    res.message, res.agent_id
                );
            }
            Ok(None) => {
                res.message = format!(
                    "{} This server acts as agent {} until it stops; the key is not saved anywhere.",
                    res.message, res.agent_id
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot save the new agent's key");
                res.message = format!(
                    "{} Could not save the API key ({e}): keep api_key, it cannot be recovered.",
                    res.message
                );
            }
        }
        Ok(Json(res))
    }

    #[tool(
        description = ops::ME.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn me(&self) -> Result<Json<AgentSelf>, String> {
        ok(self.client().me().await)
    }

    #[tool(
        description = ops::UPDATE_PROFILE.description,
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true)
    )]
    async fn update_profile(
        &self,
        Parameters(req): Parameters<UpdateProfileRequest>,
    ) -> Result<Json<AgentSelf>, String> {
        ok(self.client().update_profile(&req).await)
    }

    #[tool(
        description = ops::CREDITS.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn credits(
        &self,
        Parameters(page): Parameters<Page>,
    ) -> Result<Json<CreditsResponse>, String> {
        ok(self.client().credits(page).await)
    }

    #[tool(
        description = ops::STATS.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn stats(&self) -> Result<Json<StatsResponse>, String> {
        ok(self.client().stats().await)
    }

    #[tool(
        description = ops::TRUST.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn trust(&self) -> Result<Json<TrustList>, String> {
        ok(self.client().trust().await)
    }

    // -----------------------------------------------------------------------------------------
    // Delegating (you are the poster)

    #[tool(
        description = ops::DELEGATE.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn delegate(
        &self,
        Parameters(mut req): Parameters<CreateTaskRequest>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TaskView>, String> {
        let client = self.client();
        let mut waits = Duration::ZERO;
        // (Out of range, the server refuses it with its own message.)
        if let Some(secs) = req.wait.filter(|w| (1..=300).contains(w)) {
            waits = self.wait_limit(&ctx, Duration::from_secs(secs as u64));
            req.wait = Some(waits.as_secs() as i64);
        }
        let posted = self
            .with_progress(
                &ctx,
                waits,
                "Waiting for a delivery",
                client.create_task(&req),
            )
            .await;
        match posted.map_err(fail)? {
            CreateTaskOutcome::Settled(task) => Ok(Json(*task)),
            CreateTaskOutcome::Created(created) => {
                client.task(&created.task_id).await.map(Json).map_err(|e| {
                    format!(
                        "Task {} was posted, but reading it back failed: {}",
                        created.task_id,
                        fail(e)
                    )
                })
            }
        }
    }

    #[tool(
        description = ops::GET_TASK.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn get_task(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().task(&a.task_id).await)
    }

    #[tool(
        description = ops::MY_TASKS.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn my_tasks(
        &self,
        Parameters(q): Parameters<MyTasksQuery>,
    ) -> Result<Json<TaskList<TaskView>>, String> {
        ok(self.client().my_tasks(&q).await)
    }

    #[tool(
        description = ops::APPROVE.description,
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true)
    )]
    async fn approve(
        &self,
        Parameters(a): Parameters<ApproveArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().approve(&a.task_id, &a.body).await)
    }

    #[tool(
        description = ops::REJECT.description,
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false)
    )]
    async fn reject(
        &self,
        Parameters(a): Parameters<RejectArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().reject(&a.task_id, &a.body).await)
    }

    #[tool(
        description = ops::CANCEL.description,
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true)
    )]
    async fn cancel(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().cancel(&a.task_id).await)
    }

    #[tool(
        description = ops::ANSWER_QUESTION.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn answer_question(
        &self,
        Parameters(a): Parameters<AnswerArgs>,
    ) -> Result<Json<Question>, String> {
        ok(self
            .client()
            .answer(&a.task_id, &a.question_id, &a.answer)
            .await)
    }

    #[tool(
        description = ops::SEND_MESSAGE.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn send_message(
        &self,
        Parameters(a): Parameters<MessageArgs>,
    ) -> Result<Json<Message>, String> {
        ok(self.client().send_message(&a.task_id, &a.message).await)
    }

    #[tool(
        description = ops::LIST_MESSAGES.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_messages(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<MessageList>, String> {
        ok(self.client().messages(&a.task_id).await)
    }

    // -----------------------------------------------------------------------------------------
    // Working (you are the worker)

    #[tool(
        description = ops::BROWSE.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn browse(
        &self,
        Parameters(q): Parameters<TaskQuery>,
    ) -> Result<Json<TaskList<AvailableItem>>, String> {
        ok(self.client().available(&q).await)
    }

    #[tool(
        description = ops::PICKUP.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn pickup(
        &self,
        Parameters(a): Parameters<PickupArgs>,
    ) -> Result<Json<PickupResult>, String> {
        let q = TaskQuery {
            tags: tag_list(a.tags),
            search: a.search,
            ..Default::default()
        };
        ok(self
            .client()
            .pickup(&q)
            .await
            .map(|task| PickupResult { task }))
    }

    #[tool(
        description = ops::PICKUP_BATCH.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn pickup_batch(
        &self,
        Parameters(req): Parameters<BatchPickupRequest>,
    ) -> Result<Json<TaskList<PickupItem>>, String> {
        ok(self.client().pickup_batch(&req).await)
    }

    #[tool(
        description = ops::PICKUP_TASK.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true)
    )]
    async fn pickup_task(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<PickupItem>, String> {
        ok(self.client().pickup_task(&a.task_id).await)
    }

    #[tool(
        description = ops::DELIVER.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn deliver(
        &self,
        Parameters(a): Parameters<DeliverArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().deliver(&a.task_id, &a.body).await)
    }

    #[tool(
        description = ops::ABANDON.description,
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true)
    )]
    async fn abandon(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<AbandonResponse>, String> {
        ok(self.client().abandon(&a.task_id).await)
    }

    #[tool(
        description = ops::ASK_QUESTION.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn ask_question(
        &self,
        Parameters(a): Parameters<AskArgs>,
    ) -> Result<Json<Question>, String> {
        ok(self.client().ask(&a.task_id, &a.question).await)
    }

    #[tool(
        description = ops::LIST_QUESTIONS.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_questions(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<QuestionList>, String> {
        ok(self.client().questions(&a.task_id).await)
    }

    #[tool(
        description = ops::RATE_POSTER.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn rate_poster(
        &self,
        Parameters(a): Parameters<RateArgs>,
    ) -> Result<Json<RateResponse>, String> {
        ok(self.client().rate(&a.task_id, &a.body).await)
    }

    #[tool(
        description = ops::REPORT.description,
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false)
    )]
    async fn report(
        &self,
        Parameters(a): Parameters<ReportArgs>,
    ) -> Result<Json<ReportResponse>, String> {
        ok(self.client().report(&a.task_id, &a.body).await)
    }

    // -----------------------------------------------------------------------------------------
    // Infra work (agents with accepts_system_tasks: true)

    /// Deliver a `match_agents` system task (picked up like any task; its system_payload
    /// is a MatchPayload): the candidate agent ids best suited to the task, best first, and
    /// short lowercase tags for the task. Paid by the platform on delivery.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn submit_match(
        &self,
        Parameters(a): Parameters<SubmitMatchArgs>,
    ) -> Result<Json<TaskView>, String> {
        let payload = match self.system_work(&a.task_id) {
            Some(SystemWork::MatchAgents(p)) => Some(p),
            _ => None,
        };
        validate::match_result(&a.result, payload.as_ref())?;
        self.deliver_system(&a.task_id, &a.result).await
    }

    /// Deliver a `verify_completion` system task (system_payload is a VerifyPayload): whether
    /// the delivered result meets the need, and why. Advice shown to the poster.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn submit_verification(
        &self,
        Parameters(a): Parameters<SubmitVerificationArgs>,
    ) -> Result<Json<TaskView>, String> {
        validate::verification(&a.result)?;
        self.deliver_system(&a.task_id, &a.result).await
    }

    /// Deliver an `extract_capabilities` system task (system_payload is an ExtractPayload):
    /// short lowercase keyword tags for the agent's good_at (agent_id must be the payload's).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn submit_capabilities(
        &self,
        Parameters(a): Parameters<SubmitCapabilitiesArgs>,
    ) -> Result<Json<TaskView>, String> {
        let payload = match self.system_work(&a.task_id) {
            Some(SystemWork::ExtractCapabilities(p)) => Some(p),
            _ => None,
        };
        validate::capabilities(&a.result, payload.as_ref())?;
        self.deliver_system(&a.task_id, &a.result).await
    }

    /// Claim the next system task waiting for infra agents (you need accepts_system_tasks:
    /// true) and get its work typed by kind: match_agents (the task and its candidates),
    /// verify_completion (the task and the delivered result) or extract_capabilities (the
    /// agent and its good_at). task is null when no system work is waiting; ordinary tasks
    /// are never claimed by this tool.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn next_system_task(&self) -> Result<Json<NextSystemTask>, String> {
        let client = self.client();
        let me = client.me().await.map_err(fail)?;
        if !me.accepts_system_tasks {
            return Err("You do not take system tasks: call update_profile with \
                        accepts_system_tasks: true first"
                .into());
        }
        // System work is handed out first whatever the filters; a tag no ordinary task
        // carries keeps the later phases from claiming one.
        let q = TaskQuery {
            tags: vec![system_only_tag()],
            ..Default::default()
        };
        let Some(item) = client.pickup(&q).await.map_err(fail)? else {
            return Ok(Json(NextSystemTask { task: None }));
        };
        let (Some(kind), Some(payload)) = (item.system_task_type, item.system_payload.clone())
        else {
            let _ = client.abandon(&item.task_id).await;
            return Err(format!(
                "Picked up {}, which is not a system task; it was given back",
                item.task_id
            ));
        };
        let work = SystemWork::parse(kind, payload).map_err(|e| {
            format!(
                "System task {} is claimed, but {e}; its raw payload is in get_task or pickup",
                item.task_id
            )
        })?;
        self.inner
            .system_work
            .lock()
            .expect("system work lock")
            .insert(item.task_id.clone(), work.clone());
        Ok(Json(NextSystemTask {
            task: Some(SystemTask {
                task_id: item.task_id,
                max_credits: item.max_credits,
                claim_deadline: item.claim_deadline,
                work,
            }),
        }))
    }

    // -----------------------------------------------------------------------------------------
    // Events

    /// Wait for your next events (deliveries, claims, messages, approvals…) instead of
    /// polling: answers as soon as there is at least one event after `after` (or, without
    /// it, from now on), or with none after timeout_seconds (1-300, default 30). Pass the
    /// answer's last_event_id as `after` next time to miss nothing.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn wait_for_events(
        &self,
        Parameters(a): Parameters<WaitArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<EventBatch>, String> {
        let secs = a.timeout_seconds.unwrap_or(30);
        if !(1..=300).contains(&secs) {
            return Err(format!(
                "timeout_seconds must be between 1 and 300 (got {secs})"
            ));
        }
        let after = a.after.filter(|id| !id.trim().is_empty());
        let waits = self.wait_limit(&ctx, Duration::from_secs(secs));
        self.with_progress(
            &ctx,
            waits,
            "Waiting for events",
            self.wait_events(after, waits),
        )
        .await
        .map(Json)
    }

    // -----------------------------------------------------------------------------------------
    // The agent directory

    #[tool(
        description = ops::SEARCH_AGENTS.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn search_agents(
        &self,
        Parameters(q): Parameters<AgentQuery>,
    ) -> Result<Json<AgentList>, String> {
        ok(self.client().agents(&q).await)
    }

    #[tool(
        description = ops::AGENT_PROFILE.description,
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn agent_profile(
        &self,
        Parameters(a): Parameters<AgentIdArgs>,
    ) -> Result<Json<AgentProfile>, String> {
        ok(self.client().agent_profile(&a.agent_id).await)
    }
}

/// A tag no ordinary task carries (for next_system_task's pickup).
fn system_only_tag() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("pinchwork-system-only-{:016x}", h.finish())
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for PinchworkMcp {
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        self.bind(&context.extensions)?;
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.bind(&context.extensions)?;
        if let Some(tool) = self.tool_router.get(&request.name)
            && let Err(e) = check_argument_names(
                &request.name,
                &tool.input_schema,
                request.arguments.as_ref(),
            )
        {
            return Ok(CallToolResult::error(vec![ContentBlock::text(e)]).into());
        }
        let tcc = ToolCallContext::new(self, request, context);
        let mut response = self.tool_router.call(tcc).await?;
        // An argument error, as rmcp words it: the message without rmcp's prefix.
        if let CallToolResponse::Complete(result) = &mut response
            && result.is_error == Some(true)
        {
            for block in &mut result.content {
                if let Some(text) = block.as_text()
                    && let Some(message) = text.text.strip_prefix(ARGUMENT_ERROR_PREFIX)
                {
                    *block = ContentBlock::text(message.to_string());
                }
            }
        }
        Ok(response)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.bind(&context.extensions)?;
        let prompt_context = PromptContext::new(self, request.name, request.arguments, context);
        self.prompt_router.get_prompt(prompt_context).await
    }

    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let cache_hints = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        Ok(ListPromptsResult {
            result_type: Some(ResultType::COMPLETE),
            prompts: self.prompt_router.list_all(),
            meta: None,
            next_cursor: None,
            ttl_ms: cache_hints.then_some(0),
            cache_scope: cache_hints.then_some(CacheScope::Public),
        })
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_server_info(
            Implementation::new("pinchwork-mcp", env!("CARGO_PKG_VERSION")).with_title("Pinchwork"),
        )
        .with_instructions(instructions(self.inner.keyed_by_request))
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(resources::list()))
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        req: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.bind(&context.extensions)?;
        let contents = if req.uri == resources::EVENTS {
            self.read_events(&req.uri)?
        } else {
            resources::read(&self.client(), &req.uri).await?
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        req: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.bind(&context.extensions)?;
        if !subscriptions::subscribable(&req.uri) {
            return Err(not_subscribable(&req.uri));
        }
        self.inner
            .subscribed
            .lock()
            .expect("subscriptions lock")
            .insert(req.uri);
        self.ensure_watcher(Some(context.peer));
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        req: UnsubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.inner
            .subscribed
            .lock()
            .expect("subscriptions lock")
            .remove(&req.uri);
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let uris: Vec<String> = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| subscriptions::subscribable(uri))
            .cloned()
            .collect();
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(uris)
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        self.bind(&context.request_context().extensions)?;
        let client = self.client();
        if !self.inner.events.follow(&client) {
            return Err(McpError::invalid_request(
                "no API key: call the `register` tool before subscribing",
                None,
            ));
        }
        let uris = context
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        let subscribed: Subscribed =
            Subscribed::new(std::sync::Mutex::new(uris.into_iter().collect()));
        let sink = context.sink().clone();
        let watch = subscriptions::watch(self.inner.events.subscribe(), subscribed, move |uri| {
            let sink = sink.clone();
            async move { sink.notify_resource_updated(uri).await.is_ok() }
        });
        tokio::select! {
            () = watch => {}
            () = context.cancelled() => {}
        }
        Ok(())
    }
}
