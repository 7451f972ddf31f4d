//! Storage. All SQL lives below this module. The market rules run against the `Transaction`
//! trait, one transaction at a time, so the same rules serve every backend; `Store` runs such
//! transactions for async callers. This module imports nothing above `model`.

mod a2a;
mod error;
mod postgres;
mod query;
mod rows;
pub mod scratch;
mod sqlite;
pub mod web;

pub use error::{Result, StoreError};

use crate::model::{
    Agent, Event, LedgerLine, Message, Millis, Question, RoutingHints, SystemTaskType,
    TagReputation, Task, TaskStatus, Transfer, Trust,
};
pub use rows::{StatFigures, TagEarned, round2};
use std::any::Any;
use std::sync::Arc;
pub use web::{MarketFigures, Node, Report, SessionKey, TaskSearch, WebSession};

pub use a2a::{A2aTask, A2aTaskFilter, ListedTask, PushConfig, StateCondition};

/// Which tasks a worker may claim or browse (shared filters of pickup and browse).
#[derive(Debug, Clone, Default)]
pub struct OpenTaskFilter {
    /// The agent looking: their own tasks are never offered.
    pub viewer: String,
    /// Every tag must be on the task (case-insensitive).
    pub tags: Vec<String>,
    /// Case-insensitive substring of need or context.
    pub search: Option<String>,
    /// The viewer's capability tags: tasks sharing more of them come first.
    pub capability_tags: Vec<String>,
}

/// A page of a list.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Poster,
    Worker,
}

/// An open task with what browsing shows of its poster.
#[derive(Debug, Clone)]
pub struct OpenTask {
    pub task: Task,
    pub poster_reputation: f64,
    /// The viewer's rank when the task was matched to them.
    pub match_rank: Option<i64>,
}

/// The public agent directory's filters.
#[derive(Debug, Clone, Default)]
pub struct AgentQuery {
    /// Case-insensitive substring of good_at.
    pub search: Option<String>,
    pub min_reputation: Option<f64>,
    /// Every one must be among the agent's capability tags (case-insensitive).
    pub tags: Vec<String>,
    /// Sort by tasks completed instead of reputation.
    pub by_tasks_completed: bool,
}

/// A piece of system work about a task, and where its escrow stands.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemWork {
    /// The task it is about.
    pub about: String,
    pub kind: SystemTaskType,
    pub status: TaskStatus,
    /// What was escrowed for it.
    pub budget: i64,
    /// What the infra agent charged (once delivered).
    pub charged: Option<i64>,
    pub payer: String,
}

/// One page of a list, and how many items the whole list has.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Items before paging.
    pub total: i64,
}

/// Unanswered questions on a task from agents in good standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnansweredQuestions {
    pub all: i64,
    /// Those from one asker.
    pub from_asker: i64,
}

/// A rate-limit window after a hit was counted in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    pub started_at: Millis,
    /// Hits in the window so far, this one included.
    pub hits: i64,
}

/// The credit totals an audit compares (minted = balances + escrowed when the books hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Books {
    /// The sum of every agent's balance.
    pub balances: i64,
    /// Credits held in escrow by open tasks.
    pub escrowed: i64,
    /// Credits ever minted.
    pub minted: i64,
}

/// A webhook delivery taken for an attempt, with its recipient's current signing secret.
#[derive(Debug, Clone, PartialEq)]
pub struct DueWebhook {
    pub delivery: WebhookDelivery,
    pub secret: Option<String>,
}

/// The agent counters that rules bump.
#[derive(Debug, Clone, Copy)]
pub enum Counter {
    TasksPosted,
    TasksCompleted,
}

/// Where a webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or being attempted, under a lease).
    Pending,
    Delivered,
    /// Gave up: retries exhausted, or the address was refused.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// One event on its way to an agent's webhook (a row of the outbox).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    pub id: String,
    pub event_id: i64,
    pub recipient: String,
    /// The event type.
    pub kind: String,
    pub url: String,
    /// The exact payload, sent unchanged on every attempt.
    pub body: String,
    pub status: DeliveryStatus,
    /// Attempts started so far.
    pub attempts: i64,
    /// When the next attempt is due; while one runs, the end of its lease.
    pub next_attempt_at: Millis,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
}

/// What became of one attempt, to record on its delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub status: DeliveryStatus,
    /// The next attempt's time (pending only).
    pub next_attempt_at: Millis,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

/// One transaction's view of the database. Every method is a single statement or a small,
/// fixed group of them; the caller decides what is atomic by what it does in one transaction.
pub trait Transaction {
    // Agents
    /// Adds the agent; false (and nothing changed) when one with its id exists.
    fn insert_agent(&mut self, agent: &Agent) -> Result<bool>;
    fn agent(&mut self, id: &str) -> Result<Option<Agent>>;
    fn agent_by_key_digest(&mut self, digest: &[u8]) -> Result<Option<Agent>>;
    /// Writes the profile fields (never credits, see `add_credits`, nor the abandon count,
    /// see `count_abandon`).
    fn save_agent_profile(&mut self, agent: &Agent) -> Result<()>;
    /// Counts an abandon at `now`: the count starts again at 1 once a cooldown (reached at
    /// `threshold` abandons, `cooldown_ms` long) has been served. One statement.
    fn count_abandon(
        &mut self,
        agent_id: &str,
        now: Millis,
        threshold: i64,
        cooldown_ms: Millis,
    ) -> Result<()>;
    fn bump(&mut self, agent_id: &str, counter: Counter) -> Result<()>;
    fn add_credits(&mut self, agent_id: &str, delta: i64) -> Result<()>;
    /// Takes `amount` only if the balance covers it; false (and nothing taken) otherwise.
    fn take_credits(&mut self, agent_id: &str, amount: i64) -> Result<bool>;

    // Ledger
    fn insert_transfer(&mut self, t: &Transfer) -> Result<()>;
    /// Newest first, signed from the agent's side, with the total count.
    fn ledger_of(&mut self, agent_id: &str, page: Page) -> Result<Paged<LedgerLine>>;
    /// Credits the agent has in escrow: its open tasks' budgets and the system work it funds.
    fn escrowed_by(&mut self, agent_id: &str) -> Result<i64>;
    /// The sums an agent's stats are made of.
    fn stats_of(&mut self, agent_id: &str, now: Millis) -> Result<StatFigures>;

    // Tasks
    fn insert_task(&mut self, task: &Task) -> Result<()>;
    fn task(&mut self, id: &str) -> Result<Option<Task>>;
    /// Saves `task` only if the stored row still has `prior_status` and `prior_worker`;
    /// returns whether it did (the compare-and-set every transition goes through).
    fn save_task(
        &mut self,
        task: &Task,
        prior_status: TaskStatus,
        prior_worker: Option<&str>,
    ) -> Result<bool>;
    /// Tasks the viewer may claim, in pickup order: those matched to the viewer by rank, then
    /// those open to everyone by tag overlap with the viewer, poster reputation, the poster's
    /// trust in the viewer, then age. Never the viewer's own, nor tasks the viewer did system
    /// work for. In a write transaction they are the caller's to claim: locked until commit,
    /// and never ones another transaction holds.
    fn claimable(&mut self, filter: &OpenTaskFilter, limit: i64) -> Result<Vec<OpenTask>>;
    /// The same tasks as browsing shows them (never locked), with the total before paging.
    fn available(&mut self, filter: &OpenTaskFilter, page: Page) -> Result<Paged<OpenTask>>;
    /// Open system tasks the viewer may do, oldest first (never about the viewer's own work);
    /// locked as `claimable` locks them.
    fn system_claimable(&mut self, viewer: &str, limit: i64) -> Result<Vec<OpenTask>>;
    /// Posted or claimed system tasks about a task or an agent.
    fn open_system_tasks_about(&mut self, subject: &str) -> Result<Vec<Task>>;
    /// Whether the agent did (or holds) a system task about this task.
    fn did_system_work(&mut self, task_id: &str, agent_id: &str) -> Result<bool>;
    /// The funded system work about these tasks, oldest first (one query for a page).
    fn system_work_about(&mut self, task_ids: &[&str]) -> Result<Vec<SystemWork>>;
    /// Whether a capability extraction about the agent spawned after `since` was done (paid).
    fn extracted_since(&mut self, agent_id: &str, since: Millis) -> Result<bool>;
    /// How many tasks the agent holds claimed.
    fn active_claims(&mut self, agent_id: &str) -> Result<i64>;
    /// Whether any active agent does system work, and whether any has skills to match on.
    fn routing_hints(&mut self) -> Result<RoutingHints>;
    /// Active agents with skills to match a task to, best reputation first, never `exclude`.
    fn match_candidates(&mut self, exclude: &str, limit: i64) -> Result<Vec<Agent>>;
    /// Routes a task to these agents, best first.
    fn insert_matches(&mut self, task_id: &str, ranked: &[String]) -> Result<()>;
    /// The agents a task is routed to, best first.
    fn matches_of(&mut self, task_id: &str) -> Result<Vec<String>>;
    /// The agent's tasks (not system tasks), newest first, with the total before paging.
    fn tasks_of(
        &mut self,
        agent_id: &str,
        role: Option<Role>,
        status: Option<TaskStatus>,
        page: Page,
    ) -> Result<Paged<Task>>;
    /// Ids of tasks with a timer due at `now`, soonest first.
    fn due_task_ids(&mut self, now: Millis, limit: i64) -> Result<Vec<String>>;

    // Ratings
    /// Records a rating; false when the rater already rated this task.
    fn insert_rating(
        &mut self,
        task_id: &str,
        rater: &str,
        rated: &str,
        score: i64,
        now: Millis,
    ) -> Result<bool>;
    /// Recomputes the agent's reputation (mean of ratings received) and rating count.
    fn refresh_reputation(&mut self, agent_id: &str) -> Result<()>;

    // Questions, messages, reports
    fn insert_question(&mut self, q: &Question) -> Result<()>;
    fn question(&mut self, id: &str) -> Result<Option<Question>>;
    /// Records the answer only if the question is still unanswered; returns whether it did.
    fn answer_question(&mut self, id: &str, answer: &str, now: Millis) -> Result<bool>;
    fn questions_of(&mut self, task_id: &str) -> Result<Vec<Question>>;
    /// Unanswered questions on the task from agents in good standing (not suspended, not
    /// deleted): in all, and from `asker`.
    fn unanswered_questions(&mut self, task_id: &str, asker: &str) -> Result<UnansweredQuestions>;
    fn insert_message(&mut self, m: &Message, assignment: &str) -> Result<()>;
    fn messages_of(&mut self, task_id: &str, assignment: &str) -> Result<Vec<Message>>;
    fn insert_report(
        &mut self,
        id: &str,
        task_id: &str,
        reporter: &str,
        reason: &str,
        now: Millis,
    ) -> Result<()>;

    // Trust and reputation
    /// One good or bad outcome between truster and trusted (see `query::adjust_trust`), in one
    /// statement.
    fn adjust_trust(&mut self, truster: &str, trusted: &str, good: bool, now: Millis)
    -> Result<()>;
    /// The truster's scores, highest first.
    fn trust_of(&mut self, truster: &str) -> Result<Vec<Trust>>;
    /// Ratings the agent received as a worker, per tag of the rated tasks, best first.
    fn reputation_by_tag(&mut self, agent_id: &str) -> Result<Vec<TagReputation>>;

    // Directory
    /// Active agents (not suspended, not the platform), best first, with the total.
    fn directory(&mut self, q: &AgentQuery, page: Page) -> Result<Paged<Agent>>;

    // Event log
    /// Logs the events (setting their ids and times; one recipient's in the order given) and
    /// returns each one's recipient's webhook URL, if any, so that deliveries are queued in
    /// the same transaction without another lookup.
    fn append_events(&mut self, events: &mut [Event], now: Millis) -> Result<Vec<Option<String>>>;
    /// The recipient's events after `after_id`, oldest first.
    fn events_after(&mut self, recipient: &str, after_id: i64, limit: i64) -> Result<Vec<Event>>;
    /// The id of the recipient's newest logged event (0 when none).
    fn latest_event_id(&mut self, recipient: &str) -> Result<i64>;
    /// Forgets events logged before `before`; returns how many.
    fn prune_events(&mut self, before: Millis) -> Result<usize>;

    /// Tells the other nodes sharing the database, once this transaction commits, that the
    /// agent's standing changed (a no-op where no other node can be).
    fn announce_agent_change(&mut self, agent_id: &str) -> Result<()>;

    // Rate limits shared by several nodes
    /// Counts a hit in the (bucket, subject) window, starting a new window when the current
    /// one (`window_ms` long) has ended; returns the window's start and its hits so far.
    fn count_hit(
        &mut self,
        bucket: &str,
        subject: &str,
        now: Millis,
        window_ms: Millis,
    ) -> Result<RateWindow>;
    /// Forgets windows that started before `before`; returns how many.
    fn prune_rate_windows(&mut self, before: Millis) -> Result<usize>;

    // Webhook outbox
    fn insert_webhook_delivery(&mut self, d: &WebhookDelivery) -> Result<()>;
    /// Takes up to `limit` pending deliveries due at `now`, oldest first: counts an attempt
    /// on each and leases it until `lease_until` (its `next_attempt_at`), so that no other
    /// node takes it meanwhile. Returns them (as updated) with the recipient's current secret.
    fn take_due_webhooks(
        &mut self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> Result<Vec<DueWebhook>>;
    /// Records the outcome of attempt number `attempt`, only if the delivery is still pending
    /// at that attempt (a stale sender whose lease ran out changes nothing); returns whether
    /// it did.
    fn record_webhook_attempt(
        &mut self,
        id: &str,
        attempt: i64,
        record: &AttemptRecord,
        now: Millis,
    ) -> Result<bool>;
    /// The agent's latest deliveries, newest first.
    fn webhook_deliveries_of(
        &mut self,
        recipient: &str,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>>;
    /// Forgets deliveries that finished (delivered or failed) before `before`; returns how many.
    fn prune_webhook_deliveries(&mut self, before: Millis) -> Result<usize>;

    // A2A
    /// Records the A2A context and message a task was created from; false (and nothing
    /// changed) when the poster already created a task from a message with that id.
    fn insert_a2a_task(&mut self, t: &A2aTask) -> Result<bool>;
    /// The task the poster created from the A2A message `message_id`, if any.
    fn a2a_task_by_message(&mut self, poster: &str, message_id: &str) -> Result<Option<String>>;
    /// What an A2A client said of a task it created.
    fn a2a_task(&mut self, task_id: &str) -> Result<Option<A2aTask>>;
    /// A page of the poster's tasks as A2A lists them, newest first, each with its A2A
    /// context, and the count of them all.
    fn a2a_tasks_of(&mut self, filter: &A2aTaskFilter, page: Page) -> Result<Paged<ListedTask>>;
    /// Adds a push config, or replaces the task's config of the same id.
    fn save_push_config(&mut self, config: &PushConfig) -> Result<()>;
    /// The push configs of these tasks, each task's oldest first.
    fn push_configs_of(&mut self, task_ids: &[String]) -> Result<Vec<PushConfig>>;
    /// Removes a push config; returns whether there was one.
    fn delete_push_config(&mut self, task_id: &str, id: &str) -> Result<bool>;
    /// Whether any task has a push config.
    fn push_configs_exist(&mut self) -> Result<bool>;

    // The web pages: browser sessions, figures, the operator's lists (SQL in web.rs)
    /// Opens a browser session after forgetting expired ones and all but the subject's newest
    /// `per_subject - 1`; false (and nothing opened) when `total` sessions are live.
    fn open_web_session(&mut self, s: &WebSession, per_subject: i64, total: i64) -> Result<bool>;
    /// The live session with this digest.
    fn web_session(&mut self, digest: &str, now: Millis) -> Result<Option<WebSession>>;
    /// Ends one session (by digest) or every session of a subject; returns how many.
    fn end_web_sessions(&mut self, key: SessionKey, value: &str) -> Result<usize>;
    /// The marketplace figures, with the ledger's hours from `since` on; system tasks posted
    /// before `late_before` and still waiting count as late.
    fn market_figures(&mut self, since: Millis, late_before: Millis) -> Result<MarketFigures>;
    /// Agents of any standing, newest first: all, or by id or part of the name; only those
    /// doing system work when `infra`.
    fn agents_for_operator(
        &mut self,
        search: Option<&str>,
        infra: bool,
        page: Page,
    ) -> Result<Vec<Agent>>;
    /// Tasks (system tasks too), newest first, as `search` narrows them.
    fn tasks_for_operator(&mut self, search: &TaskSearch, page: Page) -> Result<Vec<Task>>;
    /// Open reports, newest first.
    fn open_reports(&mut self, limit: i64) -> Result<Vec<Report>>;
    /// Marks an open report as dealt with; false when there is no such open report.
    fn resolve_report(&mut self, id: &str) -> Result<bool>;
    /// Records this node's heartbeat and forgets nodes not seen since `forget_before`.
    fn node_seen(&mut self, node: &Node, forget_before: Millis) -> Result<()>;
    /// The nodes seen since `since`.
    fn nodes_seen_since(&mut self, since: Millis) -> Result<Vec<Node>>;
    /// A task's logged events, oldest first: all, or those sent to `recipient`.
    fn task_events(
        &mut self,
        task_id: &str,
        recipient: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Event>>;

    // Audits (tests and operators)
    fn books(&mut self) -> Result<Books>;
    /// Agents whose balance differs from the sum of their ledger lines.
    fn unexplained_balances(&mut self) -> Result<Vec<String>>;
}

/// A unit of work run inside one transaction, its value and its own error type erased.
type Job = Box<dyn FnOnce(&mut dyn Transaction) -> Result<Box<dyn Any + Send>, Failed> + Send>;

/// Why a job's transaction did not commit.
enum Failed {
    /// The database failed (the job may not even have run).
    Store(StoreError),
    /// The job returned its own error, handed back to its caller as it was.
    Job(Box<dyn Any + Send>),
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<rusqlite::Error> for Failed {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<::postgres::Error> for Failed {
    fn from(e: ::postgres::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Runs transactions on a backend for async code.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

/// What a backend provides: somewhere to run a transaction, read-write or read-only.
trait Backend: Send + Sync {
    fn run(&self, write: bool, job: Job, done: Done);

    /// News from the other nodes, for a database that several nodes share (None otherwise).
    fn listen(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<NodeNews>> {
        None
    }

    /// Whether other nodes may share this database.
    fn shared(&self) -> bool {
        false
    }
}

/// What another node sharing the database tells this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeNews {
    /// An event for `recipient` committed.
    Logged { recipient: String },
    /// The agent's standing changed (suspended, reinstated): forget what was cached of it.
    AgentChanged { agent: String },
    /// News may have been missed (the connection was lost): every listener should re-read
    /// the log, and cached agents be checked again.
    Resync,
}

type Done = tokio::sync::oneshot::Sender<Result<Box<dyn Any + Send>, Failed>>;

impl Store {
    /// Opens the database named by `url` and brings its schema up to date.
    /// `sqlite_readers`: reader threads beside SQLite's writer; `pool_size`: connections to
    /// PostgreSQL.
    pub fn open(url: &str, sqlite_readers: usize, pool_size: usize) -> Result<Self> {
        let backend: Arc<dyn Backend> = if let Some(rest) = url.strip_prefix("sqlite:") {
            Arc::new(sqlite::Sqlite::open(rest, sqlite_readers)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Arc::new(postgres::Postgres::open(url, pool_size)?)
        } else {
            return Err(StoreError::Unavailable(format!(
                "unsupported database URL {url:?}: use sqlite://path, sqlite::memory: or \
                 postgres://user@host/database"
            )));
        };
        Ok(Self { backend })
    }

    /// Whether several nodes may share this database (and so rate limits and events must
    /// go through it).
    pub fn shared(&self) -> bool {
        self.backend.shared()
    }

    /// Follows the news of the other nodes (None for a database only this node uses).
    pub fn listen(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<NodeNews>> {
        self.backend.listen()
    }

    /// Runs `job` in one read-write transaction: committed if it returns Ok, rolled back if
    /// not. The job's own error comes back as it was; a database failure as `E::from`.
    pub async fn write<T, E>(
        &self,
        job: impl FnOnce(&mut dyn Transaction) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(true, job).await
    }

    /// Runs `job` in one read-only transaction (a consistent snapshot).
    pub async fn read<T, E>(
        &self,
        job: impl FnOnce(&mut dyn Transaction) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(false, job).await
    }

    async fn run<T, E>(
        &self,
        write: bool,
        job: impl FnOnce(&mut dyn Transaction) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (done, answer) = tokio::sync::oneshot::channel();
        let erased: Job = Box::new(move |tx| match job(tx) {
            Ok(value) => Ok(Box::new(value) as Box<dyn Any + Send>),
            Err(e) => Err(Failed::Job(Box::new(e))),
        });
        self.backend.run(write, erased, done);
        let stopped = || StoreError::Unavailable("database worker stopped".into());
        match answer.await.unwrap_or_else(|_| Err(stopped().into())) {
            Ok(value) => Ok(*value.downcast::<T>().expect("job returns its own type")),
            Err(Failed::Store(e)) => Err(E::from(e)),
            Err(Failed::Job(e)) => Err(*e.downcast::<E>().expect("job fails with its own type")),
        }
    }
}

/// The lower-cased `,tag,tag,` form of a tag list that tag filters search.
pub fn tags_key(tags: &Option<Vec<String>>) -> Option<String> {
    tags.as_ref().map(|t| {
        format!(
            ",{},",
            t.iter()
                .map(|s| s.to_lowercase())
                .collect::<Vec<_>>()
                .join(",")
        )
    })
}
