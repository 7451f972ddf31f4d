//! Pinchwork's test kit, shared by the server's, the MCP's, the CLI's and the end-to-end tests:
//! a fresh server on its own database per test, driven through the real router (or over real
//! HTTP on loopback) with a manual clock for timers ([`TestApp`]); a server on a thread of its
//! own on the real clock ([`TestServer`]); MCP agents ([`mcp`]); the CLI binary ([`cli`]); a
//! webhook receiver ([`hooks`]).

pub mod bins;
pub mod cli;
pub mod hooks;
pub mod mcp;
mod server;

pub use server::TestServer;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use pinchwork_server::app::{AppState, Server};
use pinchwork_server::config::Config;
use pinchwork_server::error::Error;
use pinchwork_server::model::{HOUR, Millis, PLATFORM_AGENT_ID, SystemTaskType, Task};
use pinchwork_server::scheduler;
use pinchwork_server::store::Books;
use pinchwork_server::store::scratch::{self, ScratchDatabase};
use pinchwork_server::time::ManualClock;
use serde_json::{Value, json};
use std::sync::Arc;
use tempfile::TempDir;
use tower::ServiceExt;

/// 2026-01-01T00:00:00Z: tests start at a fixed instant and move time by hand.
pub const T0: i64 = 1_767_225_600_000;

/// Cloned, it is the same server (for requests sent from other tasks).
#[derive(Clone)]
pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub clock: ManualClock,
    pub cfg: Config,
    pub dir: Arc<TestDir>,
}

/// Where a test's server keeps its data: a temporary directory and, when
/// `PINCHWORK_TEST_POSTGRES_URL` is set, a PostgreSQL database of its own (dropped with it).
/// Without that variable the database is a SQLite file in the directory.
pub struct TestDir {
    pub tmp: TempDir,
    pub database_url: String,
    postgres: Option<ScratchDatabase>,
}

impl std::ops::Deref for TestDir {
    type Target = TempDir;
    fn deref(&self) -> &TempDir {
        &self.tmp
    }
}

impl Default for TestDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDir {
    pub fn new() -> Self {
        let tmp = TempDir::new().unwrap();
        match std::env::var("PINCHWORK_TEST_POSTGRES_URL") {
            Ok(server) if !server.is_empty() => {
                // A suite asked to run on PostgreSQL must not pass without it.
                let db = ScratchDatabase::create(&server, "pwt").unwrap_or_else(|e| {
                    panic!("PINCHWORK_TEST_POSTGRES_URL={server} cannot be used: {e}")
                });
                Self {
                    tmp,
                    database_url: db.url.clone(),
                    postgres: Some(db),
                }
            }
            _ => Self {
                database_url: format!("sqlite://{}", tmp.path().join("pinchwork.db").display()),
                tmp,
                postgres: None,
            },
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// A SQLite file in a temporary directory, whatever the environment says (for tests that
    /// run on each backend in turn).
    pub fn sqlite() -> Self {
        let tmp = TempDir::new().unwrap();
        Self {
            database_url: format!("sqlite://{}", tmp.path().join("pinchwork.db").display()),
            tmp,
            postgres: None,
        }
    }

    /// A PostgreSQL database of its own when `PINCHWORK_TEST_POSTGRES_URL` is set; None (and
    /// a note on stderr, so the skip is visible) otherwise.
    pub fn postgres(what: &str) -> Option<Self> {
        let dir = Self::new();
        if !dir.is_postgres() {
            eprintln!("SKIPPED {what} on PostgreSQL: PINCHWORK_TEST_POSTGRES_URL is not set");
            return None;
        }
        Some(dir)
    }
}

/// A match task about `parent`, as the platform posts one (3 credits, 72 hours from `now`), to
/// be saved straight into a store.
pub fn match_task(id: &str, parent: &str, now: Millis) -> Task {
    let mut task = Task::posted(
        id.into(),
        PLATFORM_AGENT_ID,
        format!("Match agents for: {parent}"),
        3,
        now,
        now + 72 * HOUR,
    );
    task.is_system = true;
    task.system_task_type = Some(SystemTaskType::MatchAgents);
    task.parent_task_id = Some(parent.into());
    task
}

/// Runs statements on the PostgreSQL database `url` names.
pub fn admin(url: &str, sql: &str) {
    scratch::admin(url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// The `error` message of a failure.
    /// The `task_id`s of a task list answer (`{"tasks": [...]}`), in order.
    pub fn task_ids(&self) -> Vec<String> {
        self.json["tasks"]
            .as_array()
            .expect("a task list")
            .iter()
            .map(|t| t["task_id"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn error(&self) -> &str {
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {}", self.text))
    }
}

pub fn test_config(dir: &TestDir) -> Config {
    let mut cfg = Config::defaults();
    cfg.database_url = dir.database_url.clone();
    // Enough connections for the concurrency tests, few enough for many tests at once.
    cfg.database_pool_size = 8;
    // Tests that are about rate limits switch them on themselves.
    cfg.rate_limits_enabled = false;
    cfg
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(change: impl FnOnce(&mut Config)) -> Self {
        let dir = Arc::new(TestDir::new());
        let mut cfg = test_config(&dir);
        change(&mut cfg);
        Self::open(cfg, dir, ManualClock::new(T0)).await
    }

    /// A fresh server on the database of `dir`.
    pub async fn on(dir: TestDir, change: impl FnOnce(&mut Config)) -> Self {
        let dir = Arc::new(dir);
        let mut cfg = test_config(&dir);
        change(&mut cfg);
        Self::open(cfg, dir, ManualClock::new(T0)).await
    }

    /// Opens a server on `cfg` (possibly an existing database) with the given clock.
    pub async fn open(cfg: Config, dir: Arc<TestDir>, clock: ManualClock) -> Self {
        let state = AppState::open(cfg.clone(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let router = pinchwork_server::api::router(state.clone());
        Self {
            state,
            router,
            clock,
            cfg,
            dir,
        }
    }

    /// Sends a request through the router. `body`: a JSON value, sent as application/json.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header(header::ACCEPT, "application/json");
        if let Some(key) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let req = match body {
            Some(body) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.unwrap()).await
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> Resp {
        self.call("GET", path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Resp {
        self.call("POST", path, Some(key), Some(body)).await
    }

    /// Registers an agent; returns (agent_id, api_key).
    pub async fn register(&self, name: &str) -> (String, String) {
        let r = self
            .call("POST", "/v1/register", None, Some(json!({"name": name})))
            .await
            .expect(201);
        (
            r.json["agent_id"].as_str().unwrap().into(),
            r.json["api_key"].as_str().unwrap().into(),
        )
    }

    /// Registers an agent with more fields (`good_at`, `accepts_system_tasks`, …); returns
    /// (agent_id, api_key).
    pub async fn register_with(&self, name: &str, mut body: Value) -> (String, String) {
        body["name"] = json!(name);
        let r = self
            .call("POST", "/v1/register", None, Some(body))
            .await
            .expect(201);
        (
            r.json["agent_id"].as_str().unwrap().into(),
            r.json["api_key"].as_str().unwrap().into(),
        )
    }

    /// Gives an agent capability tags as the platform does: sets its `good_at`, and `infra`
    /// (an agent accepting system tasks, with no other system work waiting) delivers the
    /// extraction that spawns.
    pub async fn extract_capability_tags(
        &self,
        infra: &str,
        (agent_id, agent): (&str, &str),
        good_at: &str,
        tags: &[&str],
    ) {
        self.call(
            "PATCH",
            "/v1/me",
            Some(agent),
            Some(json!({"good_at": good_at})),
        )
        .await
        .expect(200);
        let extract = self.pickup_next(infra).await.expect("the extraction");
        self.deliver(infra, &extract, json!({"agent_id": agent_id, "tags": tags}))
            .await
            .expect(200);
    }

    /// `POST /v1/tasks/pickup`: the claimed task (system work first for infra agents), or
    /// None on 204.
    pub async fn pickup_next(&self, key: &str) -> Option<Value> {
        let r = self.call("POST", "/v1/tasks/pickup", Some(key), None).await;
        match r.status.as_u16() {
            200 => Some(r.json),
            204 => None,
            other => panic!("pickup answered {other}: {}", r.text),
        }
    }

    /// Delivers a result for `task` as pickup answered it: a string as it is, anything else
    /// (a system task's result) as JSON text.
    pub async fn deliver(&self, key: &str, task: &Value, result: Value) -> Resp {
        let id = task["task_id"].as_str().unwrap();
        let result = match result {
            Value::String(_) => result,
            other => json!(other.to_string()),
        };
        self.post(
            &format!("/v1/tasks/{id}/deliver"),
            key,
            json!({"result": result}),
        )
        .await
    }

    /// Posts a task for `max_credits`; returns its id.
    pub async fn post_task(&self, key: &str, need: &str, max_credits: i64) -> String {
        let r = self
            .post(
                "/v1/tasks",
                key,
                json!({"need": need, "max_credits": max_credits}),
            )
            .await
            .expect(201);
        r.json["task_id"].as_str().unwrap().into()
    }

    pub async fn credits(&self, key: &str) -> i64 {
        self.get("/v1/me/credits", key).await.expect(200).json["balance"]
            .as_i64()
            .unwrap()
    }

    /// Moves the clock and fires whatever fell due, as the timer loop would.
    pub async fn advance(&self, ms: i64) {
        self.clock.advance(ms);
        scheduler::fire_due(&self.state).await.unwrap();
    }

    /// Asserts the books balance: balances + escrow = minted, and every balance is explained
    /// by the ledger.
    pub async fn assert_books_balance(&self) {
        assert_books_balance_of(&self.state).await;
    }

    /// Serves this app's state over real HTTP on 127.0.0.1 (port chosen by the OS).
    pub async fn serve(&self) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Server::start(self.state.clone(), listener).await.unwrap()
    }
}

/// Asserts the books of `state` balance: balances + escrow = minted, and every balance is
/// explained by the ledger.
pub async fn assert_books_balance_of(state: &AppState) {
    let (books, unexplained) = state
        .read(|tx| {
            Box::pin(async move {
                Ok::<_, Error>((tx.books().await?, tx.unexplained_balances().await?))
            })
        })
        .await
        .unwrap();
    let Books {
        balances,
        escrowed: escrow,
        minted,
    } = books;
    assert_eq!(
        balances + escrow,
        minted,
        "balances {balances} + escrow {escrow} != minted {minted}"
    );
    assert!(
        unexplained.is_empty(),
        "balances not explained by the ledger: {unexplained:?}"
    );
}

/// 2026-01-01T00:00:00Z plus `ms_after_t0`, as the API writes it.
pub fn at(ms_after_t0: i64) -> String {
    pinchwork_server::time::rfc3339(T0 + ms_after_t0)
}

/// The `task_id` of a response.
pub fn id_of(r: &Resp) -> String {
    r.json["task_id"].as_str().unwrap().to_string()
}

/// A poster, a worker and a bystander, 100 credits each.
pub struct World {
    pub app: TestApp,
    pub poster: String,
    pub poster_id: String,
    pub worker: String,
    pub worker_id: String,
    pub stranger: String,
    pub stranger_id: String,
}

pub async fn world() -> World {
    world_on(TestApp::new().await).await
}

pub async fn world_with(change: impl FnOnce(&mut Config)) -> World {
    world_on(TestApp::with(change).await).await
}

pub async fn world_on(app: TestApp) -> World {
    let (poster_id, poster) = app.register("poster").await;
    let (worker_id, worker) = app.register("worker").await;
    let (stranger_id, stranger) = app.register("stranger").await;
    World {
        app,
        poster,
        poster_id,
        worker,
        worker_id,
        stranger,
        stranger_id,
    }
}

impl World {
    /// The poster posts a task.
    pub async fn create(&self, body: Value) -> Resp {
        self.app.post("/v1/tasks", &self.poster, body).await
    }

    pub async fn new_task(&self, body: Value) -> String {
        id_of(&self.create(body).await.expect(201))
    }

    /// `POST /v1/tasks/{id}/{action}` as `key`.
    pub async fn act(&self, key: &str, id: &str, action: &str, body: Value) -> Resp {
        self.app
            .post(&format!("/v1/tasks/{id}/{action}"), key, body)
            .await
    }
}

/// An agent's SSE stream (`GET /v1/events`).
pub type Events = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// Opens the agent's event stream on the server at `base`, resuming after `last_event_id`.
pub async fn open(base: &str, key: &str, last_event_id: Option<&str>) -> Events {
    use eventsource_stream::Eventsource;
    let mut req = reqwest::Client::new()
        .get(format!("{base}/v1/events"))
        .bearer_auth(key);
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    Box::pin(res.bytes_stream().eventsource())
}

/// The next event (keepalive comments are not events), within two seconds.
pub async fn next(events: &mut Events) -> eventsource_stream::Event {
    next_within(events, std::time::Duration::from_secs(2)).await
}

/// The next event, within `limit`.
pub async fn next_within(
    events: &mut Events,
    limit: std::time::Duration,
) -> eventsource_stream::Event {
    use futures_util::StreamExt;
    tokio::time::timeout(limit, events.next())
        .await
        .unwrap_or_else(|_| panic!("no event within {limit:?}"))
        .expect("stream ended")
        .expect("well-formed event")
}

/// `POST /v1/tasks/pickup` over HTTP: the claimed task's id, or None on 204.
pub async fn pickup(http: &reqwest::Client, base: &str, key: &str) -> Option<String> {
    let r = http
        .post(format!("{base}/v1/tasks/pickup"))
        .bearer_auth(key)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    match r.status().as_u16() {
        204 => None,
        200 => Some(
            r.json::<Value>().await.unwrap()["task_id"]
                .as_str()
                .unwrap()
                .to_string(),
        ),
        other => panic!("pickup answered {other}: {}", r.text().await.unwrap()),
    }
}

/// Every worker (id, key) picks up tasks until none is left, all at once, worker `i` through
/// the server at `bases[i % len]`. Checks that no task was claimed twice, that every one of
/// `posted` was claimed, and that `app`'s database agrees on each holder; returns how many
/// tasks each worker got.
pub async fn race_for_tasks(
    app: &TestApp,
    poster: &str,
    posted: &std::collections::HashSet<String>,
    workers: &[(String, String)],
    bases: &[String],
) -> Vec<usize> {
    let http = reqwest::Client::new();
    let handles: Vec<_> = workers
        .iter()
        .enumerate()
        .map(|(i, (id, key))| {
            let base = bases[i % bases.len()].clone();
            let (http, id, key) = (http.clone(), id.clone(), key.clone());
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                while let Some(task) = pickup(&http, &base, &key).await {
                    claimed.push(task);
                }
                (id, claimed)
            })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut counts = Vec::new();
    for handle in handles {
        let (worker_id, claimed) = handle.await.unwrap();
        counts.push(claimed.len());
        for task in claimed {
            assert!(seen.insert(task.clone()), "{task} was claimed twice");
            let r = app
                .get(&format!("/v1/tasks/{task}"), poster)
                .await
                .expect(200);
            assert_eq!(r.json["worker_id"], json!(worker_id));
            assert_eq!(r.json["status"], "claimed");
        }
    }
    assert_eq!(&seen, posted, "every task claimed, none lost");
    counts
}
