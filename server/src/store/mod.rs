//! Storage. All SQL lives below this module. The market rules run against `Transaction`, one
//! transaction at a time, whichever backend it is on: each statement is written once (in the
//! area modules: agents, tasks, ledger, social, events, webhooks, limits, a2a, web) and run
//! by `sql.rs` on SQLite (rusqlite, on its writer and reader threads) or PostgreSQL (sqlx, on
//! the server's runtime). `Store` runs transactions for async callers. This module imports
//! nothing above `model`.

mod a2a;
mod agents;
pub mod cursor;
mod error;
mod events;
mod ledger;
mod limits;
mod postgres;
mod query;
mod retention;
mod rows;
pub mod scratch;
mod social;
mod sql;
mod sqlite;
mod tasks;
pub mod web;
mod webhooks;

pub use error::{Result, StoreError};

use crate::model::{Millis, SystemTaskType, Task, TaskStatus};
use futures_util::future::BoxFuture;
pub use retention::Prune;
pub use rows::{StatFigures, TagEarned, round2};
pub use sql::Transaction;
use std::sync::Arc;
pub use web::{MarketFigures, Node, Report, SessionKey, TaskSearch, WebSession};

pub use a2a::{A2aTask, A2aTaskFilter, ListedTask, PushConfig, StateCondition};

/// Rows of a database from before the mark of system workers (for the tests of the migration
/// that adds it): the matcher of a task, the extractor of an agent's capabilities, that agent.
#[cfg(test)]
const BEFORE_SYSTEM_WORKER_MARK: &str = "\
    INSERT INTO agents (id, name, credits, created_at) VALUES \
    ('ag-matcher', 'm', 0, 1), ('ag-extractor', 'e', 0, 1), ('ag-other', 'o', 0, 1); \
    INSERT INTO tasks (id, poster_id, worker_id, need, status, max_credits, match_status, \
    created_at, expires_at, is_system, parent_task_id, subject_agent_id) VALUES \
    ('tk-match', 'ag-platform', 'ag-matcher', 'm', 'approved', 1, 'broadcast', 1, 2, TRUE, \
     'tk-x', NULL), \
    ('tk-extract', 'ag-platform', 'ag-extractor', 'e', 'approved', 1, 'broadcast', 1, 2, TRUE, \
     NULL, 'ag-other')";

/// Which tasks a worker may claim or browse (shared filters of pickup and browse).
#[derive(Debug, Clone)]
pub struct OpenTaskFilter {
    /// The agent looking: their own tasks are never offered.
    pub viewer: String,
    /// Every tag must be on the task (case-insensitive).
    pub tags: Vec<String>,
    /// Case-insensitive substring of need or context.
    pub search: Option<String>,
    /// The viewer's capability tags: tasks sharing more of them come first.
    pub capability_tags: Vec<String>,
    /// Whether each task is checked for system work the viewer did about it (which bars the
    /// viewer from claiming it): always, unless the viewer is known never to have done any.
    pub check_system_work: bool,
}

impl Default for OpenTaskFilter {
    fn default() -> Self {
        Self {
            viewer: String::new(),
            tags: Vec::new(),
            search: None,
            capability_tags: Vec::new(),
            check_system_work: true,
        }
    }
}

/// A page of a list: `limit` rows after skipping `offset`, or after the row a cursor names
/// (a previous page's `next_cursor`, decoded by the list's query: see `cursor`).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
    pub cursor: Option<String>,
}

impl Page {
    /// The first `limit` rows.
    pub fn first(limit: i64) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// Every row (for the surfaces that show a whole, naturally small list at once: a task's
    /// messages to A2A and to the operator).
    pub fn all() -> Self {
        Self::first(i64::MAX)
    }
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
    /// Items before paging (for the capped lists, at most `MAX_COUNTED`).
    pub total: i64,
    /// True when `total` stopped counting at `MAX_COUNTED`.
    pub total_capped: bool,
    /// The token of the page after this one (None on the last page, and for the lists
    /// without cursors).
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    /// A page counted in full, without a cursor.
    pub fn counted(items: Vec<T>, total: i64) -> Self {
        Self {
            items,
            total,
            total_capped: false,
            next_cursor: None,
        }
    }
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

/// A unit of work run inside one transaction: given the transaction, the future of its
/// outcome, with its value and error (a database failure converts into the error).
pub trait Job<T, E>:
    for<'t, 'c> FnOnce(&'t mut Transaction<'c>) -> BoxFuture<'t, Result<T, E>> + Send + 'static
{
}

impl<T, E, F> Job<T, E> for F where
    F: for<'t, 'c> FnOnce(&'t mut Transaction<'c>) -> BoxFuture<'t, Result<T, E>> + Send + 'static
{
}

/// What a job returns: anything that can cross to the caller's task.
pub trait Outcome: Send + 'static {}

impl<T: Send + 'static> Outcome for T {}

/// A job's own error, which a database failure converts into.
pub trait JobError: From<StoreError> + Send + 'static {}

impl<E: From<StoreError> + Send + 'static> JobError for E {}

/// Runs transactions on a backend for async code.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// What another node sharing the database tells this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeNews {
    /// An event for `recipient` committed.
    Logged { recipient: String },
    /// The agent's standing changed (suspended, reinstated): forget what was cached of it.
    AgentChanged { agent: String },
    /// A task was saved open: parked pickups should look again.
    TaskOpened,
    /// News may have been missed (the connection was lost): every listener should re-read
    /// the log, and cached agents be checked again.
    Resync,
}

impl Store {
    /// Opens the database named by `url` and brings its schema up to date.
    /// `sqlite_readers`: reader threads beside SQLite's writer; `pool_size`: connections to
    /// PostgreSQL for writes, `read_pool_size` for read-only transactions.
    pub async fn open(
        url: &str,
        sqlite_readers: usize,
        pool_size: usize,
        read_pool_size: usize,
    ) -> Result<Self> {
        let backend = if let Some(rest) = url.strip_prefix("sqlite:") {
            Backend::Sqlite(sqlite::Sqlite::open(rest, sqlite_readers)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres::Postgres::open(url, pool_size, read_pool_size).await?)
        } else {
            return Err(StoreError::Unavailable(format!(
                "unsupported database URL {url:?}: use sqlite://path, sqlite::memory: or \
                 postgres://user@host/database"
            )));
        };
        Ok(Self {
            backend: Arc::new(backend),
        })
    }

    /// Whether several nodes may share this database (and so rate limits and events must
    /// go through it).
    pub fn shared(&self) -> bool {
        matches!(*self.backend, Backend::Postgres(_))
    }

    /// Follows the news of the other nodes (None for a database only this node uses).
    pub fn listen(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<NodeNews>> {
        match &*self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg.listen()),
        }
    }

    /// Runs `job` in one read-write transaction: committed if it returns Ok, rolled back if
    /// not. The job's own error comes back as it was; a database failure as `E::from`.
    pub async fn write<T: Outcome, E: JobError>(&self, job: impl Job<T, E>) -> Result<T, E> {
        self.run(true, job).await
    }

    /// Runs a job that is exactly one statement on PostgreSQL, which is atomic by itself
    /// there: outside an explicit transaction, sparing the `BEGIN` and `COMMIT` round trips
    /// (a second statement fails the job instead of running unprotected). On SQLite as `write`
    /// does: a transaction there costs no round trip, and some such jobs are several
    /// statements there.
    pub async fn write_one<T: Outcome, E: JobError>(&self, job: impl Job<T, E>) -> Result<T, E> {
        match &*self.backend {
            Backend::Sqlite(db) => db.run(true, job).await,
            Backend::Postgres(db) => db.run_one(job).await,
        }
    }

    /// Runs `job` in one read-only transaction (a consistent snapshot).
    pub async fn read<T: Outcome, E: JobError>(&self, job: impl Job<T, E>) -> Result<T, E> {
        self.run(false, job).await
    }

    async fn run<T: Outcome, E: JobError>(&self, write: bool, job: impl Job<T, E>) -> Result<T, E> {
        match &*self.backend {
            Backend::Sqlite(db) => db.run(write, job).await,
            Backend::Postgres(db) => db.run(write, job).await,
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
