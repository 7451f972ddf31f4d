//! The shared state of a running server, and serving it.

use crate::api::auth::AuthCache;
use crate::api::rate_limit::RateLimiter;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::Bus;
use crate::market::{self, Ctx, RoutingHints};
use crate::model::{DAY, Millis};
use crate::store::{Node, Store, Transaction, WebhookDelivery};
use crate::time::{Clock, SystemClock};
use crate::{a2a, api, scheduler, webhooks};
use futures_util::future::BoxFuture;
use pinchwork_mcp::http::McpHttp;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

#[derive(Clone)]
pub struct AppState {
    pub cfg: Arc<Config>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub bus: Bus,
    pub limiter: Arc<RateLimiter>,
    pub auth_cache: Arc<AuthCache>,
    /// Flips to true when the server begins to shut down; open streams end on it.
    pub shutdown: Arc<watch::Sender<bool>>,
    /// Who there is to route work to (see `refresh_routing`).
    pub routing: Arc<std::sync::Mutex<RoutingHints>>,
    /// Wakes the webhook worker when deliveries were queued.
    pub webhooks: Arc<Notify>,
    /// What each agent holds open here (streams, waits, MCP sessions), within its caps.
    pub holds: Arc<api::holds::Holds>,
    /// The MCP sessions open here, by agent.
    pub mcp_sessions: Arc<api::mcp::Sessions>,
    /// What the A2A endpoint keeps in memory (open streams, whether pushes exist).
    pub a2a: Arc<a2a::Shared>,
    /// This node among those sharing the database: its id and when it started.
    pub node: Arc<str>,
    pub started_at: Millis,
}

impl AppState {
    /// Opens the database (creating and migrating it as needed) and the platform account.
    pub async fn open(mut cfg: Config, clock: Arc<dyn Clock>) -> Result<Self> {
        cfg.load_admin_key().map_err(Error::Internal)?;
        let store = Store::open(
            &cfg.database_url,
            cfg.sqlite_readers,
            cfg.database_pool_size,
            cfg.database_read_pool_size,
        )
        .await?;
        // Nodes sharing a database share its rate-limit windows too.
        let shared = store.shared().then(|| store.clone());
        let limiter = Arc::new(RateLimiter::from_config(&cfg, shared).map_err(Error::Internal)?);
        let started_at = clock.now();
        let state = Self {
            cfg: Arc::new(cfg),
            store,
            clock,
            bus: Bus::default(),
            limiter,
            auth_cache: Arc::default(),
            shutdown: Arc::new(watch::channel(false).0),
            routing: Arc::default(),
            webhooks: Arc::default(),
            holds: Arc::default(),
            mcp_sessions: Arc::default(),
            a2a: Arc::default(),
            node: crate::ids::new_id("node").into(),
            started_at,
        };
        state
            .write(|tx, ctx| {
                Box::pin(async move { market::agents::ensure_platform(tx, ctx).await })
            })
            .await?;
        state.beat().await?;
        state.refresh_routing().await?;
        a2a::refresh(&state).await?;
        Ok(state)
    }

    /// Tells the nodes sharing the database that this one is alive (the operator's dashboard
    /// lists them), and forgets nodes gone for a day.
    pub async fn beat(&self) -> Result<()> {
        let now = self.now();
        let node = Node {
            id: self.node.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: self.started_at,
            seen_at: now,
        };
        self.write(move |tx, _| Box::pin(async move { tx.node_seen(&node, now - DAY).await }))
            .await
    }

    /// Re-reads who there is to route work to: after changes to agents on this server at
    /// once, and every timer tick for changes made on other servers.
    pub async fn refresh_routing(&self) -> Result<()> {
        let hints = self
            .read(|tx| Box::pin(async move { tx.routing_hints().await }))
            .await?;
        *self.routing.lock().unwrap() = hints;
        Ok(())
    }

    /// An agent's standing changed (here, or on another node sharing the database): its
    /// cached keys are forgotten, and if it is now suspended (or gone) its open streams,
    /// waits and MCP sessions on this node end at once.
    pub async fn agent_changed(&self, agent: &str) {
        self.auth_cache.forget(agent);
        let id = agent.to_string();
        match self
            .read(move |tx| Box::pin(async move { tx.agent(&id).await }))
            .await
        {
            Ok(Some(a)) if !a.suspended => {}
            Ok(_) => {
                self.bus.end(agent);
                self.mcp_sessions.close_agent(agent).await;
            }
            Err(e) => tracing::error!(error = %e, agent, "reading a changed agent failed"),
        }
    }

    /// Re-reads what the surfaces keep of the marketplace (the A2A endpoint's view), on each
    /// timer tick.
    pub async fn refresh_views(&self) -> Result<()> {
        a2a::refresh(self).await
    }

    /// How the webhook outbox sends a delivery: an agent's webhook, or an A2A push with its
    /// config's token and headers.
    pub async fn sending(&self, delivery: &WebhookDelivery) -> Result<webhooks::Sending> {
        a2a::push::sending(self, delivery).await
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Runs a workflow in one write transaction, then publishes the events it recorded (only
    /// once the transaction has committed).
    pub async fn write<T: Send + 'static, E: Into<Error> + Send + 'static>(
        &self,
        work: impl Workflow<T, E>,
    ) -> Result<T> {
        self.write_new(|_| false, work).await
    }

    /// `write` for a workflow that, when `single` holds of the routing hints it runs with,
    /// runs one statement and changes only tasks it creates (so no A2A push config can name
    /// them yet): on PostgreSQL it then runs without `BEGIN` and `COMMIT` (`Store::write_one`).
    pub async fn write_new<T: Send + 'static, E: Into<Error> + Send + 'static>(
        &self,
        single: fn(&RoutingHints) -> bool,
        work: impl Workflow<T, E>,
    ) -> Result<T> {
        let mut ctx = Ctx::new(self.cfg.clone(), self.now(), *self.routing.lock().unwrap());
        let single = single(&ctx.routing);
        let a2a = self.a2a.clone();
        let job = as_job(move |tx| {
            Box::pin(async move {
                let value = work(tx, &mut ctx).await.map_err(Into::<Error>::into)?;
                // Logged in the same transaction: an event exists if and only if its change
                // committed, and is published below only after that.
                let urls = tx.append_events(&mut ctx.events, ctx.now).await?;
                // Webhook deliveries too: queued if and only if their event committed.
                let mut queued = webhooks::enqueue(tx, &ctx.events, urls, ctx.now).await?;
                // And the A2A push notifications of the tasks that changed (read when the
                // transaction runs, after any config saved before it; none can name a task
                // made by a single statement).
                let changed = ctx.changed_tasks();
                if !single && a2a.pushes() {
                    queued += a2a::push::enqueue(tx, &ctx.events, &changed, ctx.now).await?;
                }
                Ok((value, ctx.events, changed, queued, ctx.opened))
            })
        });
        let (value, events, changed, webhooks_queued, opened) = match single {
            true => self.store.write_one(job).await?,
            false => self.store.write(job).await?,
        };
        if webhooks_queued > 0 {
            self.webhooks.notify_one();
        }
        self.bus.publish(events);
        self.bus.wake_tasks(&changed);
        if opened {
            self.bus.task_opened();
        }
        Ok(value)
    }

    /// Runs `work` on a consistent read-only snapshot.
    pub async fn read<T, E, F>(&self, work: F) -> Result<T>
    where
        F: for<'t, 'c> FnOnce(&'t mut Transaction<'c>) -> BoxFuture<'t, Result<T, E>>
            + Send
            + 'static,
        T: Send + 'static,
        E: Into<Error> + Send + 'static,
    {
        self.store
            .read(move |tx| Box::pin(async move { work(tx).await.map_err(Into::<Error>::into) }))
            .await
    }
}

/// A workflow `AppState::write` runs: given the transaction and the context, the future of its
/// outcome.
pub trait Workflow<T, E>:
    for<'a, 'c> FnOnce(&'a mut Transaction<'c>, &'a mut Ctx) -> BoxFuture<'a, Result<T, E>>
    + Send
    + 'static
{
}

impl<T, E, F> Workflow<T, E> for F where
    F: for<'a, 'c> FnOnce(&'a mut Transaction<'c>, &'a mut Ctx) -> BoxFuture<'a, Result<T, E>>
        + Send
        + 'static
{
}

/// Gives a closure the signature of a store job (closures take it from a bound at the call).
fn as_job<T, F>(job: F) -> F
where
    F: for<'t, 'c> FnOnce(&'t mut Transaction<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static,
{
    job
}

impl crate::events::AgentWatch for AppState {
    async fn changed(&self, agent: &str) {
        self.agent_changed(agent).await
    }

    fn forget_all(&self) {
        self.auth_cache.forget_all();
    }

    fn holding(&self) -> Vec<String> {
        self.mcp_sessions.agents()
    }
}

/// A server listening on a socket, with its timer loop and webhook worker; stops when
/// `shutdown` flips to true.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    handle: tokio::task::JoinHandle<()>,
    stop: Arc<watch::Sender<bool>>,
}

impl Server {
    pub async fn start(state: AppState, listener: TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let stop = state.shutdown.clone();
        let stopped = stop.subscribe();
        let timers = tokio::spawn(scheduler::run(state.clone(), stopped.clone()));
        let hooks = tokio::spawn(webhooks::run(state.clone(), stopped.clone()));
        // News from other nodes sharing the database: events for listeners here, agents
        // whose standing changed.
        let relay = state
            .store
            .listen()
            .map(|news| tokio::spawn(crate::events::relay(state.bus.clone(), state.clone(), news)));
        // MCP over streamable HTTP at /mcp, calling this server's API back over loopback.
        let mcp = McpHttp::new(&api::mcp::self_url(addr), &state.cfg.mcp_allowed_hosts);
        let end_mcp_sessions = mcp.shutdown_handle();
        state.mcp_sessions.attach(mcp.sessions.clone());
        let app = api::router(state.clone()).merge(api::mcp::router(state.clone(), mcp.service));
        let grace = Duration::from_secs(state.cfg.shutdown_timeout_seconds);
        let limits = crate::serve::ConnLimits {
            max_connections: state.cfg.max_connections,
            header_read_timeout: Duration::from_secs(state.cfg.header_read_timeout_seconds.max(1)),
            body_read_timeout: Duration::from_secs(state.cfg.body_read_timeout_seconds.max(1)),
        };
        let handle = tokio::spawn(async move {
            let mut until_stop = stopped.clone();
            tokio::spawn(async move {
                let _ = until_stop.wait_for(|s| *s).await;
                // Open MCP streams would hold the shutdown up.
                end_mcp_sessions();
            });
            crate::serve::serve(listener, app, limits, stopped, grace).await;
            timers.abort();
            hooks.abort();
            if let Some(relay) = relay {
                relay.abort();
            }
        });
        Ok(Self {
            addr,
            state,
            handle,
            stop,
        })
    }

    /// Stops accepting, lets open requests finish (bounded), and stops the timers.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }

    pub async fn wait(self) {
        let _ = self.handle.await;
    }

    pub fn trigger_shutdown(&self) -> Arc<watch::Sender<bool>> {
        self.stop.clone()
    }
}

/// Serves until SIGINT or SIGTERM.
pub async fn run(cfg: Config) -> std::result::Result<(), String> {
    let host = cfg.listen_host()?.to_string();
    let addr = format!("{host}:{}", cfg.port);
    let data = cfg.data_location();
    let dev = cfg.dev;
    let state = AppState::open(cfg, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    let signalled = shutdown_signal();
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("binding {addr}: {e}"))?;
    let server = Server::start(state, listener)
        .await
        .map_err(|e| e.to_string())?;
    let reach = if server.addr.ip().is_unspecified() {
        "every interface: other machines can reach it (--host 127.0.0.1 for this one only)"
    } else if server.addr.ip().is_loopback() {
        "this machine only"
    } else {
        "this address"
    };
    tracing::info!("pinchwork listening on http://{} ({reach})", server.addr);
    tracing::info!("data: {data}");
    if dev {
        tracing::info!("development mode: no rate limits for clients on this machine");
    }
    let stop = server.trigger_shutdown();
    tokio::spawn(async move {
        signalled.await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    server.wait().await;
    Ok(())
}

/// SIGINT or SIGTERM, listened for from the call on: called before serving, so that a signal
/// sent once clients can connect always stops the server cleanly.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let [mut interrupt, mut terminate] =
        [SignalKind::interrupt(), SignalKind::terminate()].map(|kind| signal(kind).ok());
    async fn received(signal: &mut Option<Signal>) {
        match signal {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    async move {
        tokio::select! {
            _ = received(&mut interrupt) => {},
            _ = received(&mut terminate) => {},
        }
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
