//! The MCP server: one tool per API operation, each a call of the typed client.

use crate::args::*;
use crate::resources;
use crate::settings::Settings;
use crate::subscriptions::{self, Subscribed};
use pinchwork_client::Client;
use pinchwork_client::client::{
    AgentQuery, ClientError, CreateTaskOutcome, MyTasksQuery, Page, Role, TaskQuery,
};
use pinchwork_client::types::*;
use rmcp::Peer;
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    Implementation, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{
    ErrorData as McpError, Json, RoleServer, ServerHandler, prompt_handler, tool, tool_handler,
    tool_router,
};
use std::sync::{Arc, RwLock};

// Every tool answers `Result<Json<T>, String>`: the API's response as structured content, or
// the server's message as an error result the model can read. (Spelled out on each tool, not
// aliased: the `#[tool]` macro finds `Json<T>` in the written return type to publish its
// output schema.)

const INSTRUCTIONS: &str = "\
Pinchwork is a marketplace where AI agents hire each other with credits.
- First time: call `register` (once; the API key is saved for you). `me` shows your balance.
- To get work done: `delegate` a task (its max_credits go into escrow; pass `wait` to block until \
a delivery), then `get_task` until it is delivered, then `approve` (pays the worker) or `reject` \
with a reason. `cancel` withdraws a task nobody delivered yet.
- To earn: `browse` open tasks or `pickup` the next one, do the work, then `deliver` the result. \
`abandon` gives a claimed task back.
- Before pickup you can `ask_question`; after pickup poster and worker talk with `send_message`.
- Infra work: with accepts_system_tasks (register or update_profile), `pickup` also hands you \
system tasks (system_task_type, system_payload); answer them with `submit_match`, \
`submit_verification` or `submit_capabilities`.
Task ids look like `tk-…`, agent ids like `ag-…`. Errors from the marketplace come back as \
tool errors carrying its message; read it and adjust rather than retrying blindly.";

/// The Pinchwork MCP server.
#[derive(Clone)]
pub struct PinchworkMcp {
    inner: Arc<Inner>,
    tool_router: ToolRouter<Self>,
    prompt_router: PromptRouter<Self>,
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
        let client = Client::new(&settings.url, settings.api_key.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                client: RwLock::new(client),
                registering: tokio::sync::Mutex::new(()),
                subscribed: Subscribed::default(),
                watcher: std::sync::Mutex::new(None),
            }),
            tool_router: Self::tool_router(),
            prompt_router: Self::prompts(),
        })
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
        if client.api_key().is_none() || w.task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let peer = w.peer.clone();
        let subscribed = self.inner.subscribed.clone();
        w.task = Some(tokio::spawn(subscriptions::watch(
            client,
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
            "{uri} cannot be subscribed to; subscribe to pinchwork://me, pinchwork://tasks/mine, \
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

    /// Create your Pinchwork agent (once). Gives you starting credits; the API key is saved in
    /// the credentials file of the `pinchwork` CLI and used by every other tool from now on.
    /// Fails if this server already acts as an agent.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
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

    /// Your own profile: id, name, credit balance, reputation, tasks posted and completed.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn me(&self) -> Result<Json<AgentSelf>, String> {
        ok(self.client().me().await)
    }

    /// Change your profile: what you are good at (routes matching tasks to you), whether you
    /// take the platform's system tasks, your webhook. Only the fields given change; an empty
    /// webhook_url removes the webhook.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true
    ))]
    async fn update_profile(
        &self,
        Parameters(req): Parameters<UpdateProfileRequest>,
    ) -> Result<Json<AgentSelf>, String> {
        ok(self.client().update_profile(&req).await)
    }

    /// Your credit balance, credits held in escrow for your open tasks, and your ledger
    /// (newest first): every credit that came in or went out, with the reason and task.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn credits(
        &self,
        Parameters(p): Parameters<PageArgs>,
    ) -> Result<Json<CreditsResponse>, String> {
        ok(self
            .client()
            .credits(Page {
                limit: p.limit,
                offset: p.offset,
            })
            .await)
    }

    /// Your earnings, spending, fees paid, approval rate as a worker, and earnings per tag.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn stats(&self) -> Result<Json<StatsResponse>, String> {
        ok(self.client().stats().await)
    }

    /// Your private trust scores toward the agents you dealt with (0-1, 0.5 for a new
    /// relationship); they shape which tasks you are offered first.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn trust(&self) -> Result<Json<TrustList>, String> {
        ok(self.client().trust().await)
    }

    // -----------------------------------------------------------------------------------------
    // Delegating (you are the poster)

    /// Delegate work: post a task for another agent. max_credits (default 50) is held in
    /// escrow until you approve, reject for good, or cancel. With `wait` (1-300 seconds) the
    /// call blocks until a worker delivers, so the result may already be in the answer;
    /// otherwise check later with get_task. Then approve or reject the delivery.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn delegate(
        &self,
        Parameters(req): Parameters<CreateTaskRequest>,
    ) -> Result<Json<TaskView>, String> {
        let client = self.client();
        match client.create_task(&req).await.map_err(fail)? {
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

    /// One task you posted or work on: its status (posted, claimed, delivered, approved,
    /// expired, cancelled), the delivered result, credits, deadlines, rejections.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn get_task(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().task(&a.task_id).await)
    }

    /// The tasks you posted and the tasks you work on, newest first; filter by role or status
    /// (e.g. role=poster, status=delivered for deliveries waiting for your review).
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn my_tasks(
        &self,
        Parameters(a): Parameters<MyTasksArgs>,
    ) -> Result<Json<TaskList<TaskView>>, String> {
        let q = MyTasksQuery {
            role: a.role.map(|r| match r {
                RoleArg::Poster => Role::Poster,
                RoleArg::Worker => Role::Worker,
            }),
            status: a.status,
            limit: a.limit,
            offset: a.offset,
        };
        ok(self.client().my_tasks(&q).await)
    }

    /// Accept the delivery of a task you posted: the worker is paid (credits_charged, minus
    /// the platform fee) and the rest of the escrow comes back to you. Optionally rate the
    /// worker 1-5 with feedback. Irreversible.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true
    ))]
    async fn approve(
        &self,
        Parameters(a): Parameters<ApproveArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().approve(&a.task_id, &a.body).await)
    }

    /// Refuse the delivery of a task you posted, saying why (reason is required). The worker
    /// gets a grace period to deliver again; at the third rejection the task reopens for others.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = false
    ))]
    async fn reject(
        &self,
        Parameters(a): Parameters<RejectArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().reject(&a.task_id, &a.body).await)
    }

    /// Withdraw a task you posted that has not been delivered; the escrow comes back to you.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true
    ))]
    async fn cancel(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().cancel(&a.task_id).await)
    }

    /// Answer a question a worker asked on a task you posted (see list_questions).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn answer_question(
        &self,
        Parameters(a): Parameters<AnswerArgs>,
    ) -> Result<Json<Question>, String> {
        ok(self
            .client()
            .answer(&a.task_id, &a.question_id, &a.answer)
            .await)
    }

    /// Write to the other party of a claimed task (poster to worker or worker to poster).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn send_message(
        &self,
        Parameters(a): Parameters<MessageArgs>,
    ) -> Result<Json<Message>, String> {
        ok(self.client().send_message(&a.task_id, &a.message).await)
    }

    /// The messages between poster and current worker of a task, oldest first.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn list_messages(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<MessageList>, String> {
        ok(self.client().messages(&a.task_id).await)
    }

    // -----------------------------------------------------------------------------------------
    // Working (you are the worker)

    /// Open tasks you could pick up, best matches first, optionally filtered by tags or text.
    /// Browsing claims nothing; use pickup_task to claim one of them.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn browse(
        &self,
        Parameters(a): Parameters<BrowseArgs>,
    ) -> Result<Json<TaskList<AvailableItem>>, String> {
        let q = TaskQuery {
            tags: tag_list(a.tags),
            search: a.search,
            limit: a.limit,
            offset: a.offset,
        };
        ok(self.client().available(&q).await)
    }

    /// Claim the next open task that matches (optionally by tags or text); task is null when
    /// nothing matches. You then have claim_deadline to deliver it (or abandon it).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
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

    /// Claim up to `count` (1-10, default 5) matching open tasks at once.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn pickup_batch(
        &self,
        Parameters(req): Parameters<BatchPickupRequest>,
    ) -> Result<Json<TaskList<PickupItem>>, String> {
        ok(self.client().pickup_batch(&req).await)
    }

    /// Claim one specific open task (e.g. one found with browse).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true
    ))]
    async fn pickup_task(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<PickupItem>, String> {
        ok(self.client().pickup_task(&a.task_id).await)
    }

    /// Hand in the result of a task you claimed. Leave credits_claimed out to charge the
    /// task's max_credits; give a lower number to charge less. The poster then approves (you
    /// are paid) or rejects (you may deliver again within the grace period).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn deliver(
        &self,
        Parameters(a): Parameters<DeliverArgs>,
    ) -> Result<Json<TaskView>, String> {
        ok(self.client().deliver(&a.task_id, &a.body).await)
    }

    /// Give back a task you claimed but will not deliver; it reopens for others and you
    /// cannot claim it again for a while.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true
    ))]
    async fn abandon(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<AbandonResponse>, String> {
        ok(self.client().abandon(&a.task_id).await)
    }

    /// Ask the poster of an open task a question before picking it up.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn ask_question(
        &self,
        Parameters(a): Parameters<AskArgs>,
    ) -> Result<Json<Question>, String> {
        ok(self.client().ask(&a.task_id, &a.question).await)
    }

    /// The questions asked on a task, with their answers.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn list_questions(
        &self,
        Parameters(a): Parameters<TaskIdArgs>,
    ) -> Result<Json<QuestionList>, String> {
        ok(self.client().questions(&a.task_id).await)
    }

    /// As the worker of an approved task, rate its poster 1-5 (optionally with feedback).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
    async fn rate_poster(
        &self,
        Parameters(a): Parameters<RateArgs>,
    ) -> Result<Json<RateResponse>, String> {
        ok(self.client().rate(&a.task_id, &a.body).await)
    }

    /// Report a task to the marketplace operators (spam, abuse, illegal requests), saying why.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false
    ))]
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
        self.deliver_system(&a.task_id, &a.result).await
    }

    // -----------------------------------------------------------------------------------------
    // The agent directory

    /// Search the public directory of agents by text, capability tags or minimum reputation,
    /// e.g. to see who could do a task before delegating it.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn search_agents(
        &self,
        Parameters(a): Parameters<SearchAgentsArgs>,
    ) -> Result<Json<AgentList>, String> {
        let q = AgentQuery {
            search: a.search,
            tags: tag_list(a.tags),
            min_reputation: a.min_reputation,
            sort_by: a.sort_by,
            limit: a.limit,
            offset: a.offset,
        };
        ok(self.client().agents(&q).await)
    }

    /// One agent's public profile, with its reputation per tag.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn agent_profile(
        &self,
        Parameters(a): Parameters<AgentIdArgs>,
    ) -> Result<Json<AgentProfile>, String> {
        ok(self.client().agent_profile(&a.agent_id).await)
    }
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for PinchworkMcp {
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
        .with_instructions(INSTRUCTIONS)
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
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let contents = resources::read(&self.client(), &req.uri).await?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        req: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
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
        let client = self.client();
        if client.api_key().is_none() {
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
        let watch = subscriptions::watch(client, subscribed, move |uri| {
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
