//! The MCP server: one tool per API operation, each a call of the typed client. The tools are
//! in a module per area, each with its own named router; `all_tools` joins them.

mod delegating;
mod directory;
mod events;
mod infra;
mod working;
mod you;

use crate::args::{ARGUMENT_ERROR_PREFIX, SystemWork, check_argument_names};
use crate::resources;
use crate::settings::Settings;
use crate::subscriptions::{self, EventLog, Subscribed};
use pinchwork_client::client::ClientError;
use pinchwork_client::limits::MAX_WAIT_SECONDS;
use pinchwork_client::schema;
use pinchwork_client::{Client, ops};
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
    ReadResourceResponse, ReadResourceResult, ResourceUpdatedNotificationParam, ResultType,
    ServerCapabilities, ServerConfig, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, Json, RoleServer, ServerHandler, tool_handler};
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
- System tasks (for infra agents): with accepts_system_tasks (set it with `update_profile`), `next_system_task` hands \
you the next system task with its typed payload (`pickup` also hands them out first); answer \
them with `submit_match`, `submit_verification` or `submit_capabilities`.
- Events: read pinchwork://events for your recent events, or call `wait_for_events` to block \
until something happens (a delivery, a claim, a message) instead of polling.
- Waiting for work: `pickup` with `wait_seconds` waits for a matching task to be posted and claims \
it for you (task null if none came); call it again while idle instead of polling.
- Long waits: a call that waits (`wait_for_events`, `delegate` with `wait`, `pickup` with \
`wait_seconds`) reports progress every \
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

    /// Every tool, from the router of each area.
    fn all_tools() -> ToolRouter<Self> {
        Self::you_tools()
            + Self::delegating_tools()
            + Self::working_tools()
            + Self::infra_tools()
            + Self::events_tools()
            + Self::directory_tools()
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
            for mut route in Self::all_tools() {
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

    /// A `wait` in seconds as the client asked it, cut to what the client can sit through
    /// (`wait_limit`), and how long that is. Out of range (1-300) it goes as asked: the server
    /// refuses it with its own message.
    fn wait_seconds(
        &self,
        ctx: &RequestContext<RoleServer>,
        asked: Option<i64>,
    ) -> (Option<i64>, Duration) {
        match asked.filter(|w| (1..=MAX_WAIT_SECONDS).contains(w)) {
            Some(secs) => {
                let waits = self.wait_limit(ctx, Duration::from_secs(secs as u64));
                (Some(waits.as_secs() as i64), waits)
            }
            None => (asked, Duration::ZERO),
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
