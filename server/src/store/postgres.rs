//! PostgreSQL backend, for several server nodes sharing one database. A pool of threads, each
//! owning one connection, runs transactions: writes at READ COMMITTED, where every
//! read-check-write of the rules is made safe by a row lock (`task` reads lock the row) or a
//! conditional statement (compare-and-set, `credits >= n`, `ON CONFLICT`); reads on a
//! REPEATABLE READ snapshot. Pickups lock the task they return with `FOR UPDATE SKIP LOCKED`,
//! so concurrent pickups on any node never wait for each other nor claim a task twice.
//!
//! Each commit that logs events notifies the other nodes (`NOTIFY pinchwork_events`) so
//! they can wake their listeners; the event log stays the source of truth.

use super::query::{self, Dialect, Query};
use super::rows::{
    self, AGENT_COLS, Cell, Cells, DELIVERY_COLUMNS, EARLIER_PENDING, QUESTION_COLS,
    SYSTEM_WORK_COLS, StatFigures, TASK_COLS, TASK_DERIVED, TASK_MUTABLE, TRUST_COLS,
};
use super::web::{self, MarketFigures, Node, Report, SessionKey, TaskSearch, WebSession};
use super::{
    A2aTask, A2aTaskFilter, AgentQuery, AttemptRecord, Backend, Books, Counter, DeliveryStatus,
    Done, DueWebhook, Job, ListedTask, NodeNews, OpenTask, OpenTaskFilter, Page, Paged, PushConfig,
    RateWindow, Role, SystemWork, Transaction, UnansweredQuestions, WebhookDelivery, a2a,
};
use super::{Failed, Result, StoreError};
use crate::model::{
    Agent, DAY, ESCROW_ACCOUNT, Event, EventData, EventKind, LedgerLine, MINT_ACCOUNT, Message,
    Millis, Question, RoutingHints, TagReputation, Task, TaskStatus, Transfer, Trust,
};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Schema versions, applied in order; `pinchwork_migrations` records which ran.
const MIGRATIONS: &[&str] = &[
    include_str!("postgres/0001_schema.sql"),
    include_str!("postgres/0002_economy.sql"),
    include_str!("postgres/0003_retire_reserve.sql"),
    include_str!("postgres/0004_webhook_order.sql"),
    include_str!("postgres/0005_a2a.sql"),
    include_str!("postgres/0006_web.sql"),
    include_str!("postgres/0007_nodes.sql"),
];

/// The advisory lock that lets one node at a time migrate.
const MIGRATION_LOCK: i64 = 0x7069_6e63_686d_6967;

/// The advisory lock sign-ins take, so that session bounds hold across nodes.
const WEB_SESSIONS_LOCK: i64 = 0x7069_6e63_6877_6562;

/// The channel nodes tell each other on, at commit: events logged, agents changed.
const EVENTS_CHANNEL: &str = "pinchwork_events";

/// Prepared statements kept per connection, at most (dynamic filters make many shapes).
const STATEMENT_CACHE: usize = 512;

struct Command {
    write: bool,
    job: Job,
    done: Done,
}

pub struct Postgres {
    jobs: mpsc::Sender<Command>,
    url: String,
    /// Tells this node's own notifications apart from other nodes'.
    node: Arc<str>,
}

impl Postgres {
    pub fn open(url: &str, pool_size: usize) -> Result<Self> {
        // The blocking client runs its own runtime: keep it off the caller's (async) thread.
        let owned = url.to_string();
        std::thread::spawn(move || migrate(&mut connect(&owned)?))
            .join()
            .map_err(|_| StoreError::Unavailable("migrating PostgreSQL panicked".into()))??;
        let node: Arc<str> = crate::ids::new_id("node").into();
        let (jobs, queue) = mpsc::channel::<Command>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..pool_size.max(1) {
            let (queue, url, node) = (queue.clone(), url.to_string(), node.clone());
            std::thread::Builder::new()
                .name(format!("postgres-{i}"))
                .spawn(move || serve(&url, &node, &queue))
                .map_err(|e| {
                    StoreError::Unavailable(format!("spawning a PostgreSQL worker: {e}"))
                })?;
        }
        Ok(Self {
            jobs,
            url: url.to_string(),
            node,
        })
    }
}

impl Backend for Postgres {
    fn run(&self, write: bool, job: Job, done: Done) {
        if let Err(mpsc::SendError(cmd)) = self.jobs.send(Command { write, job, done }) {
            let _ = cmd.done.send(Err(StoreError::Unavailable(
                "database worker stopped".into(),
            )
            .into()));
        }
    }

    fn shared(&self) -> bool {
        true
    }

    fn listen(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<NodeNews>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (url, node) = (self.url.clone(), self.node.clone());
        std::thread::Builder::new()
            .name("postgres-listen".into())
            .spawn(move || listen(&url, &node, &tx))
            .ok()?;
        Some(rx)
    }
}

fn connect(url: &str) -> Result<Client> {
    Client::connect(url, NoTls).map_err(StoreError::from)
}

fn migrate(client: &mut Client) -> Result<()> {
    // Nodes starting together take turns; each sees what the one before it applied.
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let outcome = (|| -> Result<()> {
        client.batch_execute(
            "CREATE TABLE IF NOT EXISTS pinchwork_migrations \
             (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )?;
        let done: i64 = client
            .query_one(
                "SELECT coalesce(max(version), 0) FROM pinchwork_migrations",
                &[],
            )?
            .get(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
            let mut tx = client.transaction()?;
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO pinchwork_migrations (version) VALUES ($1)",
                &[&(i as i64 + 1)],
            )?;
            tx.commit()?;
        }
        Ok(())
    })();
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
    outcome
}

/// One connection with its prepared statements.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// A pool thread: takes the next job from the shared queue and runs it in a transaction on
/// its connection, reconnecting when the connection was lost.
fn serve(url: &str, node: &str, queue: &Mutex<mpsc::Receiver<Command>>) {
    let mut conn: Option<Conn> = None;
    loop {
        let next = queue.lock().unwrap().recv();
        let Ok(cmd) = next else { return };
        if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            match connect(url) {
                Ok(client) => {
                    conn = Some(Conn {
                        client,
                        statements: HashMap::new(),
                    })
                }
                Err(e) => {
                    let _ = cmd.done.send(Err(e.into()));
                    continue;
                }
            }
        }
        let conn = conn.as_mut().expect("connected above");
        let outcome = run_in_transaction(conn, node, cmd.write, cmd.job);
        let _ = cmd.done.send(outcome);
    }
}

fn run_in_transaction(
    conn: &mut Conn,
    node: &str,
    write: bool,
    job: Job,
) -> Result<Box<dyn std::any::Any + Send>, Failed> {
    let begin = if write {
        "BEGIN"
    } else {
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    };
    conn.client.batch_execute(begin)?;
    let outcome = {
        let mut tx = PgTx { conn, node, write };
        catch_unwind(AssertUnwindSafe(|| job(&mut tx)))
            .unwrap_or_else(|_| Err(StoreError::JobPanicked.into()))
    };
    match outcome {
        Ok(value) => {
            conn.client.batch_execute("COMMIT")?;
            Ok(value)
        }
        Err(e) => {
            let _ = conn.client.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}

/// Follows the other nodes' notifications, reconnecting when the connection drops. Each time
/// it starts listening it asks for a resynchronisation: notifications sent while it was not
/// (before the first connection too, when streams may already be open) are lost.
fn listen(url: &str, node: &str, out: &tokio::sync::mpsc::UnboundedSender<NodeNews>) {
    while !out.is_closed() {
        let mut client = match connect(url).and_then(|mut c| {
            c.batch_execute(&format!("LISTEN {EVENTS_CHANNEL}"))
                .map(|()| c)
                .map_err(StoreError::from)
        }) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "listening for other nodes' events failed, retrying");
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        if out.send(NodeNews::Resync).is_err() {
            return;
        }
        loop {
            let next = client
                .notifications()
                .timeout_iter(Duration::from_millis(500))
                .next();
            match next {
                Ok(Some(n)) => {
                    if let Some(logged) = parse_notice(n.payload(), node)
                        && out.send(logged).is_err()
                    {
                        return;
                    }
                }
                Ok(None) if out.is_closed() => return,
                Ok(None) if client.is_closed() => break,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "lost the event notifications, reconnecting");
                    break;
                }
            }
        }
    }
}

/// `node event recipient` or `node agent id` → the news, unless this node sent it (and so
/// acted on it already).
fn parse_notice(payload: &str, node: &str) -> Option<NodeNews> {
    let mut parts = payload.splitn(3, ' ');
    let (from, kind, about) = (parts.next()?, parts.next()?, parts.next()?.to_string());
    if from == node {
        return None;
    }
    match kind {
        "event" => Some(NodeNews::Logged { recipient: about }),
        "agent" => Some(NodeNews::AgentChanged { agent: about }),
        _ => None,
    }
}

impl Cells for Row {
    type Error = postgres::Error;
    fn text(&self, i: usize) -> Result<String, postgres::Error> {
        self.try_get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, postgres::Error> {
        self.try_get(i)
    }
    fn int(&self, i: usize) -> Result<i64, postgres::Error> {
        self.try_get(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, postgres::Error> {
        self.try_get(i)
    }
    fn real(&self, i: usize) -> Result<f64, postgres::Error> {
        self.try_get(i)
    }
    fn flag(&self, i: usize) -> Result<bool, postgres::Error> {
        self.try_get(i)
    }
    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, postgres::Error> {
        self.try_get(i)
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

fn cell_param(cell: Cell) -> Param {
    match cell {
        Cell::Text(v) => Box::new(v),
        Cell::Int(v) => Box::new(v),
        Cell::Real(v) => Box::new(v),
        Cell::Flag(v) => Box::new(v),
    }
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// The compare-and-set update of a task, and where its values sit in `task_cells`.
static TASK_UPDATE: std::sync::LazyLock<(String, Vec<usize>)> = std::sync::LazyLock::new(|| {
    let positions = rows::task_mutable_positions();
    let n = positions.len();
    let sets = (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE tasks SET ({}) = ({sets}) WHERE id = ${} AND status = ${} \
         AND worker_id IS NOT DISTINCT FROM ${}",
        TASK_MUTABLE.join(", "),
        n + 1,
        n + 2,
        n + 3
    );
    (sql, positions)
});

/// A stable 64-bit key for an advisory lock on one event recipient.
fn recipient_lock(recipient: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(recipient.as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

struct PgTx<'c> {
    conn: &'c mut Conn,
    node: &'c str,
    /// Write transactions lock what they read to change.
    write: bool,
}

impl PgTx<'_> {
    fn stmt(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.conn.statements.get(sql) {
            return Ok(s.clone());
        }
        if self.conn.statements.len() >= STATEMENT_CACHE {
            self.conn.statements.clear();
        }
        let s = self.conn.client.prepare(sql)?;
        self.conn.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let s = self.stmt(sql)?;
        Ok(self.conn.client.query(&s, params)?)
    }

    fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let s = self.stmt(sql)?;
        Ok(self.conn.client.query_opt(&s, params)?)
    }

    fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        let s = self.stmt(sql)?;
        Ok(self.conn.client.query_one(&s, params)?)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let s = self.stmt(sql)?;
        Ok(self.conn.client.execute(&s, params)?)
    }

    /// The first column of a one-row query.
    fn scalar<T: for<'a> postgres::types::FromSql<'a>>(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<T> {
        Ok(self.query_one(sql, params)?.try_get(0)?)
    }

    fn map<T>(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        f: impl Fn(&Row) -> Result<T, postgres::Error>,
    ) -> Result<Vec<T>> {
        Ok(self
            .query(sql, params)?
            .iter()
            .map(f)
            .collect::<Result<_, _>>()?)
    }

    fn query_rows<T>(
        &mut self,
        q: &Query,
        f: impl Fn(&Row) -> Result<T, postgres::Error>,
    ) -> Result<Vec<T>> {
        let params: Vec<Param> = q.args.iter().cloned().map(cell_param).collect();
        self.map(&q.sql, &refs(&params), f)
    }

    /// Open tasks for a pickup: in a write transaction ours to claim, locked, and never one
    /// another transaction holds.
    fn claim_candidates(&mut self, mut tasks: Query) -> Result<Vec<OpenTask>> {
        if self.write {
            tasks.sql.push_str(" FOR UPDATE OF t SKIP LOCKED");
        }
        self.query_rows(&tasks, rows::open_task_from)
    }

    fn count(&mut self, q: &Query) -> Result<i64> {
        let params: Vec<Param> = q.args.iter().cloned().map(cell_param).collect();
        self.scalar(&q.sql, &refs(&params))
    }

    /// Runs a built statement; returns how many rows it changed.
    fn run_query(&mut self, q: &Query) -> Result<usize> {
        let params: Vec<Param> = q.args.iter().cloned().map(cell_param).collect();
        Ok(self.execute(&q.sql, &refs(&params))? as usize)
    }
}

impl Transaction for PgTx<'_> {
    fn insert_agent(&mut self, a: &Agent) -> Result<bool> {
        let digest = (!a.key_digest.is_empty()).then_some(&a.key_digest);
        let n = self.execute(
            &format!(
                "INSERT INTO agents ({AGENT_COLS}) VALUES \
                 ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) ON CONFLICT (id) DO NOTHING"
            ),
            &[
                &a.id,
                &a.name,
                &digest,
                &a.credits,
                &a.reputation,
                &a.rating_count,
                &a.tasks_posted,
                &a.tasks_completed,
                &a.accepts_system_tasks,
                &a.good_at,
                &rows::list_json(&a.capability_tags),
                &a.suspended,
                &a.abandon_count,
                &a.last_abandon_at,
                &a.webhook_url,
                &a.webhook_secret,
                &a.created_at,
            ],
        )?;
        Ok(n == 1)
    }

    fn agent(&mut self, id: &str) -> Result<Option<Agent>> {
        let row = self.query_opt(
            &format!("SELECT {AGENT_COLS} FROM agents WHERE id = $1"),
            &[&id],
        )?;
        Ok(row.map(|r| rows::agent_from(&r)).transpose()?)
    }

    fn agent_by_key_digest(&mut self, digest: &[u8]) -> Result<Option<Agent>> {
        let row = self.query_opt(
            &format!("SELECT {AGENT_COLS} FROM agents WHERE key_digest = $1"),
            &[&digest],
        )?;
        Ok(row.map(|r| rows::agent_from(&r)).transpose()?)
    }

    fn save_agent_profile(&mut self, a: &Agent) -> Result<()> {
        self.execute(
            "UPDATE agents SET name = $2, accepts_system_tasks = $3, good_at = $4, \
             capability_tags = $5, suspended = $6, webhook_url = $7, webhook_secret = $8 \
             WHERE id = $1",
            &[
                &a.id,
                &a.name,
                &a.accepts_system_tasks,
                &a.good_at,
                &rows::list_json(&a.capability_tags),
                &a.suspended,
                &a.webhook_url,
                &a.webhook_secret,
            ],
        )?;
        Ok(())
    }

    fn count_abandon(
        &mut self,
        agent_id: &str,
        now: Millis,
        threshold: i64,
        cooldown_ms: Millis,
    ) -> Result<()> {
        self.execute(
            "UPDATE agents SET abandon_count = CASE WHEN abandon_count >= $2 \
             AND coalesce(last_abandon_at, 0) + $3 <= $4 THEN 1 ELSE abandon_count + 1 END, \
             last_abandon_at = $4 WHERE id = $1",
            &[&agent_id, &threshold, &cooldown_ms, &now],
        )?;
        Ok(())
    }

    fn bump(&mut self, agent_id: &str, counter: Counter) -> Result<()> {
        let sql = match counter {
            Counter::TasksPosted => {
                "UPDATE agents SET tasks_posted = tasks_posted + 1 WHERE id = $1"
            }
            Counter::TasksCompleted => {
                "UPDATE agents SET tasks_completed = tasks_completed + 1 WHERE id = $1"
            }
        };
        self.execute(sql, &[&agent_id])?;
        Ok(())
    }

    fn add_credits(&mut self, agent_id: &str, delta: i64) -> Result<()> {
        self.execute(
            "UPDATE agents SET credits = credits + $2 WHERE id = $1",
            &[&agent_id, &delta],
        )?;
        Ok(())
    }

    fn take_credits(&mut self, agent_id: &str, amount: i64) -> Result<bool> {
        let n = self.execute(
            "UPDATE agents SET credits = credits - $2 WHERE id = $1 AND credits >= $2",
            &[&agent_id, &amount],
        )?;
        Ok(n == 1)
    }

    fn insert_transfer(&mut self, t: &Transfer) -> Result<()> {
        self.execute(
            "INSERT INTO ledger (id, src, dst, amount, reason, task_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &t.id,
                &t.from,
                &t.to,
                &t.amount,
                &t.reason,
                &t.task_id,
                &t.created_at,
            ],
        )?;
        Ok(())
    }

    fn ledger_of(&mut self, agent_id: &str, page: Page) -> Result<Paged<LedgerLine>> {
        let total: i64 = self.scalar(
            "SELECT (SELECT count(*) FROM ledger WHERE src = $1) \
             + (SELECT count(*) FROM ledger WHERE dst = $1)",
            &[&agent_id],
        )?;
        let lines = self.map(
            "SELECT id, CASE WHEN dst = $1 THEN amount ELSE -amount END, reason, task_id, \
             created_at FROM ledger WHERE src = $1 OR dst = $1 \
             ORDER BY seq DESC LIMIT $2 OFFSET $3",
            &[&agent_id, &page.limit, &page.offset],
            |r| {
                Ok(LedgerLine {
                    id: r.try_get(0)?,
                    amount: r.try_get(1)?,
                    reason: r.try_get(2)?,
                    task_id: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                })
            },
        )?;
        Ok(Paged {
            items: lines,
            total,
        })
    }

    fn escrowed_by(&mut self, agent_id: &str) -> Result<i64> {
        self.scalar(
            "SELECT ((SELECT coalesce(sum(max_credits), 0) FROM tasks WHERE poster_id = $1 \
             AND NOT is_system AND status IN ('posted', 'claimed', 'delivered')) \
             + (SELECT coalesce(sum(max_credits), 0) FROM tasks WHERE payer_id = $1 \
             AND status IN ('posted', 'claimed', 'delivered')))::bigint",
            &[&agent_id],
        )
    }

    fn stats_of(&mut self, agent_id: &str, now: Millis) -> Result<StatFigures> {
        let earned_since = |tx: &mut Self, since: Millis| -> Result<i64> {
            tx.scalar(
                "SELECT coalesce(sum(amount), 0)::bigint FROM ledger \
                 WHERE dst = $1 AND reason = 'payment' AND created_at >= $2",
                &[&agent_id, &since],
            )
        };
        let total_earned = earned_since(self, i64::MIN)?;
        let recent_7d_earned = earned_since(self, now - 7 * DAY)?;
        let recent_30d_earned = earned_since(self, now - 30 * DAY)?;
        let total_spent = self.scalar(
            "SELECT coalesce(sum(credits_charged), 0)::bigint FROM tasks \
             WHERE poster_id = $1 AND status = 'approved' AND NOT is_system",
            &[&agent_id],
        )?;
        let total_fees_paid = self.scalar(
            "SELECT coalesce(sum(l.amount), 0)::bigint FROM ledger l \
             JOIN tasks t ON t.id = l.task_id \
             WHERE l.reason = 'platform_fee' AND t.worker_id = $1 AND t.status = 'approved'",
            &[&agent_id],
        )?;
        let row = self.query_one(
            "SELECT count(*) FILTER (WHERE status = 'approved'), \
             count(*) FILTER (WHERE status = 'delivered'), \
             (avg(credits_charged) FILTER (WHERE status = 'approved'))::float8 \
             FROM tasks WHERE worker_id = $1",
            &[&agent_id],
        )?;
        let approved_tags = self.map(
            "SELECT t.tags, l.amount FROM ledger l JOIN tasks t ON t.id = l.task_id \
             WHERE l.dst = $1 AND l.reason = 'payment' AND t.tags IS NOT NULL",
            &[&agent_id],
            |r| Ok((r.try_get(0)?, r.try_get(1)?)),
        )?;
        Ok(StatFigures {
            total_earned,
            total_spent,
            total_fees_paid,
            approved: row.try_get(0)?,
            delivered: row.try_get(1)?,
            avg_value: row.try_get(2)?,
            earned_by_tag: super::rows::earned_by_tag(approved_tags),
            recent_7d_earned,
            recent_30d_earned,
        })
    }

    fn insert_task(&mut self, t: &Task) -> Result<()> {
        let values: Vec<Param> = rows::task_cells(t).into_iter().map(cell_param).collect();
        let placeholders = (1..=values.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql =
            format!("INSERT INTO tasks ({TASK_COLS}, {TASK_DERIVED}) VALUES ({placeholders})");
        self.execute(&sql, &refs(&values))?;
        Ok(())
    }

    fn task(&mut self, id: &str) -> Result<Option<Task>> {
        // A write transaction reads a task to change it: holding its row until commit makes
        // the read-check-write atomic across nodes, as the single writer does on SQLite.
        let sql = if self.write {
            format!("SELECT {TASK_COLS} FROM tasks WHERE id = $1 FOR UPDATE")
        } else {
            format!("SELECT {TASK_COLS} FROM tasks WHERE id = $1")
        };
        let row = self.query_opt(&sql, &[&id])?;
        Ok(row.map(|r| rows::task_from(&r)).transpose()?)
    }

    fn save_task(
        &mut self,
        t: &Task,
        prior_status: TaskStatus,
        prior_worker: Option<&str>,
    ) -> Result<bool> {
        let (sql, positions) = &*TASK_UPDATE;
        let mut all: Vec<Option<Cell>> = rows::task_cells(t).into_iter().map(Some).collect();
        let mut values: Vec<Param> = positions
            .iter()
            .map(|&i| cell_param(all[i].take().expect("each column once")))
            .collect();
        values.push(Box::new(t.id.clone()));
        values.push(Box::new(prior_status.as_str().to_string()));
        values.push(Box::new(prior_worker.map(str::to_string)));
        Ok(self.execute(sql, &refs(&values))? == 1)
    }

    fn claimable(&mut self, filter: &OpenTaskFilter, limit: i64) -> Result<Vec<OpenTask>> {
        let (tasks, _) = query::open_tasks(Dialect::Postgres, filter, Page { limit, offset: 0 });
        self.claim_candidates(tasks)
    }

    fn available(&mut self, filter: &OpenTaskFilter, page: Page) -> Result<Paged<OpenTask>> {
        let (tasks, count) = query::open_tasks(Dialect::Postgres, filter, page);
        Ok(Paged {
            items: self.query_rows(&tasks, rows::open_task_from)?,
            total: self.count(&count)?,
        })
    }

    fn system_claimable(&mut self, viewer: &str, limit: i64) -> Result<Vec<OpenTask>> {
        self.claim_candidates(query::system_tasks(Dialect::Postgres, viewer, limit))
    }

    fn open_system_tasks_about(&mut self, subject: &str) -> Result<Vec<Task>> {
        self.map(
            &format!(
                "SELECT {TASK_COLS} FROM tasks WHERE (parent_task_id = $1 OR subject_agent_id = $1) \
                 AND is_system AND status IN ('posted', 'claimed')"
            ),
            &[&subject],
            rows::task_from,
        )
    }

    fn did_system_work(&mut self, task_id: &str, agent_id: &str) -> Result<bool> {
        self.scalar(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE parent_task_id = $1 AND worker_id = $2)",
            &[&task_id, &agent_id],
        )
    }

    fn system_work_about(&mut self, task_ids: &[&str]) -> Result<Vec<SystemWork>> {
        self.map(
            &format!(
                "SELECT {SYSTEM_WORK_COLS} FROM tasks WHERE parent_task_id = ANY($1) \
                 AND payer_id IS NOT NULL ORDER BY seq"
            ),
            &[&task_ids],
            rows::system_work_from,
        )
    }

    fn extracted_since(&mut self, agent_id: &str, since: Millis) -> Result<bool> {
        self.scalar(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE subject_agent_id = $1 \
             AND system_task_type = 'extract_capabilities' AND status = 'approved' \
             AND created_at > $2)",
            &[&agent_id, &since],
        )
    }

    fn active_claims(&mut self, agent_id: &str) -> Result<i64> {
        self.scalar(
            "SELECT count(*) FROM tasks WHERE worker_id = $1 AND status = 'claimed'",
            &[&agent_id],
        )
    }

    fn routing_hints(&mut self) -> Result<RoutingHints> {
        let row = self.query_one(
            "SELECT EXISTS (SELECT 1 FROM agents WHERE accepts_system_tasks \
             AND NOT suspended AND key_digest IS NOT NULL), \
             EXISTS (SELECT 1 FROM agents WHERE (good_at IS NOT NULL \
             OR capability_tags IS NOT NULL) AND NOT suspended AND key_digest IS NOT NULL)",
            &[],
        )?;
        Ok(RoutingHints {
            infra_agents: row.try_get(0)?,
            skilled_agents: row.try_get(1)?,
        })
    }

    fn match_candidates(&mut self, exclude: &str, limit: i64) -> Result<Vec<Agent>> {
        self.map(
            &format!(
                "SELECT {AGENT_COLS} FROM agents WHERE NOT suspended AND key_digest IS NOT NULL \
                 AND id <> $1 AND (good_at IS NOT NULL OR capability_tags IS NOT NULL) \
                 ORDER BY reputation DESC LIMIT $2"
            ),
            &[&exclude, &limit],
            rows::agent_from,
        )
    }

    fn insert_matches(&mut self, task_id: &str, ranked: &[String]) -> Result<()> {
        for (rank, agent) in ranked.iter().enumerate() {
            self.execute(
                "INSERT INTO task_matches (task_id, agent_id, rank) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&task_id, agent, &(rank as i64)],
            )?;
        }
        Ok(())
    }

    fn matches_of(&mut self, task_id: &str) -> Result<Vec<String>> {
        self.map(
            "SELECT agent_id FROM task_matches WHERE task_id = $1 ORDER BY rank",
            &[&task_id],
            |r| r.try_get(0),
        )
    }

    fn tasks_of(
        &mut self,
        agent_id: &str,
        role: Option<Role>,
        status: Option<TaskStatus>,
        page: Page,
    ) -> Result<Paged<Task>> {
        let (tasks, count) = query::tasks_of(Dialect::Postgres, agent_id, role, status, page);
        Ok(Paged {
            items: self.query_rows(&tasks, rows::task_from)?,
            total: self.count(&count)?,
        })
    }

    fn due_task_ids(&mut self, now: Millis, limit: i64) -> Result<Vec<String>> {
        self.map(
            "SELECT id FROM tasks WHERE next_due_at <= $1 ORDER BY next_due_at LIMIT $2",
            &[&now, &limit],
            |r| r.try_get(0),
        )
    }

    fn insert_rating(
        &mut self,
        task_id: &str,
        rater: &str,
        rated: &str,
        score: i64,
        now: Millis,
    ) -> Result<bool> {
        let n = self.execute(
            "INSERT INTO ratings (task_id, rater_id, rated_id, score, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&task_id, &rater, &rated, &score, &now],
        )?;
        Ok(n == 1)
    }

    fn refresh_reputation(&mut self, agent_id: &str) -> Result<()> {
        self.execute(
            "UPDATE agents SET \
             reputation = coalesce((SELECT round(avg(score), 2)::float8 FROM ratings \
             WHERE rated_id = $1), 0.0), \
             rating_count = (SELECT count(*) FROM ratings WHERE rated_id = $1) WHERE id = $1",
            &[&agent_id],
        )?;
        Ok(())
    }

    fn insert_question(&mut self, q: &Question) -> Result<()> {
        self.execute(
            "INSERT INTO questions (id, task_id, asker_id, question, answer, created_at, \
             answered_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &q.id,
                &q.task_id,
                &q.asker_id,
                &q.question,
                &q.answer,
                &q.created_at,
                &q.answered_at,
            ],
        )?;
        Ok(())
    }

    fn question(&mut self, id: &str) -> Result<Option<Question>> {
        let row = self.query_opt(
            &format!("SELECT {QUESTION_COLS} FROM questions WHERE id = $1"),
            &[&id],
        )?;
        Ok(row.map(|r| rows::question_from(&r)).transpose()?)
    }

    fn answer_question(&mut self, id: &str, answer: &str, now: Millis) -> Result<bool> {
        let n = self.execute(
            "UPDATE questions SET answer = $2, answered_at = $3 \
             WHERE id = $1 AND answer IS NULL",
            &[&id, &answer, &now],
        )?;
        Ok(n == 1)
    }

    fn questions_of(&mut self, task_id: &str) -> Result<Vec<Question>> {
        self.map(
            &format!("SELECT {QUESTION_COLS} FROM questions WHERE task_id = $1 ORDER BY seq"),
            &[&task_id],
            rows::question_from,
        )
    }

    fn unanswered_questions(&mut self, task_id: &str, asker: &str) -> Result<UnansweredQuestions> {
        let row = self.query_one(
            "SELECT count(*), count(*) FILTER (WHERE q.asker_id = $2) FROM questions q \
             JOIN agents a ON a.id = q.asker_id \
             WHERE q.task_id = $1 AND q.answer IS NULL AND NOT a.suspended",
            &[&task_id, &asker],
        )?;
        Ok(UnansweredQuestions {
            all: row.try_get(0)?,
            from_asker: row.try_get(1)?,
        })
    }

    fn insert_message(&mut self, m: &Message, assignment: &str) -> Result<()> {
        self.execute(
            "INSERT INTO messages (id, task_id, assignment, sender_id, message, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &m.id,
                &m.task_id,
                &assignment,
                &m.sender_id,
                &m.message,
                &m.created_at,
            ],
        )?;
        Ok(())
    }

    fn messages_of(&mut self, task_id: &str, assignment: &str) -> Result<Vec<Message>> {
        self.map(
            "SELECT id, task_id, sender_id, message, created_at FROM messages \
             WHERE task_id = $1 AND assignment = $2 ORDER BY seq",
            &[&task_id, &assignment],
            |r| {
                Ok(Message {
                    id: r.try_get(0)?,
                    task_id: r.try_get(1)?,
                    sender_id: r.try_get(2)?,
                    message: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                })
            },
        )
    }

    fn insert_report(
        &mut self,
        id: &str,
        task_id: &str,
        reporter: &str,
        reason: &str,
        now: Millis,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO reports (id, task_id, reporter_id, reason, status, created_at) \
             VALUES ($1, $2, $3, $4, 'open', $5)",
            &[&id, &task_id, &reporter, &reason, &now],
        )?;
        Ok(())
    }

    fn adjust_trust(
        &mut self,
        truster: &str,
        trusted: &str,
        good: bool,
        now: Millis,
    ) -> Result<()> {
        static SQL: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| query::adjust_trust(Dialect::Postgres));
        self.execute(&SQL, &[&truster, &trusted, &good, &now])?;
        Ok(())
    }

    fn trust_of(&mut self, truster: &str) -> Result<Vec<Trust>> {
        self.map(
            &format!(
                "SELECT {TRUST_COLS} FROM trust WHERE truster_id = $1 \
                 ORDER BY score DESC, trusted_id"
            ),
            &[&truster],
            rows::trust_from,
        )
    }

    fn reputation_by_tag(&mut self, agent_id: &str) -> Result<Vec<TagReputation>> {
        let rated = self.map(
            "SELECT t.tags, r.score FROM ratings r JOIN tasks t ON t.id = r.task_id \
             WHERE r.rated_id = $1 AND t.worker_id = $1 AND t.status = 'approved' \
             AND t.tags IS NOT NULL",
            &[&agent_id],
            |r| Ok((r.try_get(0)?, r.try_get(1)?)),
        )?;
        Ok(rows::tag_reputations(rated))
    }

    fn directory(&mut self, q: &AgentQuery, page: Page) -> Result<Paged<Agent>> {
        let (agents, count) = query::directory(Dialect::Postgres, q, page);
        Ok(Paged {
            items: self.query_rows(&agents, rows::agent_from)?,
            total: self.count(&count)?,
        })
    }

    fn append_events(&mut self, events: &mut [Event], now: Millis) -> Result<Vec<Option<String>>> {
        // One statement per event: wait for the recipient's turn (an advisory lock held to
        // commit, so one recipient's events commit in id order), log it, tell the other nodes
        // (NOTIFY is delivered at commit, and only then), and read the webhook URL. Locks are
        // taken in one global order, so two appends never wait on each other in a circle.
        let locks: Vec<i64> = events
            .iter()
            .map(|e| recipient_lock(&e.recipient))
            .collect();
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|&i| locks[i]);
        let mut urls = vec![None; events.len()];
        let node = self.node;
        for i in order {
            let event = &mut events[i];
            let data = event.data.fields_json().to_string();
            let row = self.query_one(
                "INSERT INTO events (recipient, kind, task_id, data, created_at) \
                 SELECT $1, $2, $3, $4, $5 FROM (SELECT pg_advisory_xact_lock($6)) AS turn \
                 RETURNING id, \
                 pg_notify($7, $8 || ' event ' || recipient), \
                 (SELECT nullif(webhook_url, '') FROM agents WHERE id = $1)",
                &[
                    &event.recipient,
                    &event.kind().as_str(),
                    &event.task_id,
                    &data,
                    &now,
                    &locks[i],
                    &EVENTS_CHANNEL,
                    &node,
                ],
            )?;
            event.id = row.try_get(0)?;
            event.created_at = now;
            urls[i] = row.try_get(2)?;
        }
        Ok(urls)
    }

    fn events_after(&mut self, recipient: &str, after_id: i64, limit: i64) -> Result<Vec<Event>> {
        let rows = self.query(
            "SELECT id, kind, task_id, data, created_at FROM events \
             WHERE recipient = $1 AND id > $2 ORDER BY id LIMIT $3",
            &[&recipient, &after_id, &limit],
        )?;
        let mut events = Vec::with_capacity(rows.len());
        for r in rows {
            // Kinds this build does not know (from a newer node) are skipped, not fatal.
            let Some(kind) = EventKind::parse(r.try_get(1)?) else {
                continue;
            };
            // Fields this build cannot read are skipped like unknown kinds.
            let data = serde_json::from_str(r.try_get(3)?).unwrap_or_default();
            let Ok(data) = EventData::from_parts(kind, data) else {
                continue;
            };
            events.push(Event {
                id: r.try_get(0)?,
                task_id: r.try_get(2)?,
                recipient: recipient.to_string(),
                data,
                created_at: r.try_get(4)?,
            });
        }
        Ok(events)
    }

    fn latest_event_id(&mut self, recipient: &str) -> Result<i64> {
        self.scalar(
            "SELECT coalesce(max(id), 0) FROM events WHERE recipient = $1",
            &[&recipient],
        )
    }

    fn prune_events(&mut self, before: Millis) -> Result<usize> {
        Ok(self.execute(
            "DELETE FROM events WHERE id < coalesce(\
             (SELECT id FROM events WHERE created_at >= $1 ORDER BY id LIMIT 1), \
             (SELECT coalesce(max(id), 0) + 1 FROM events))",
            &[&before],
        )? as usize)
    }

    fn announce_agent_change(&mut self, agent_id: &str) -> Result<()> {
        let payload = format!("{} agent {agent_id}", self.node);
        self.execute("SELECT pg_notify($1, $2)", &[&EVENTS_CHANNEL, &payload])?;
        Ok(())
    }

    fn count_hit(
        &mut self,
        bucket: &str,
        subject: &str,
        now: Millis,
        window_ms: Millis,
    ) -> Result<RateWindow> {
        let row = self.query_one(
            "INSERT INTO rate_windows AS w (bucket, subject, window_start, hits) \
             VALUES ($1, $2, $3, 1) ON CONFLICT (bucket, subject) DO UPDATE SET \
             window_start = CASE WHEN w.window_start + $4 <= $3 THEN $3 ELSE w.window_start END, \
             hits = CASE WHEN w.window_start + $4 <= $3 THEN 1 ELSE w.hits + 1 END \
             RETURNING window_start, hits",
            &[&bucket, &subject, &now, &window_ms],
        )?;
        Ok(RateWindow {
            started_at: row.try_get(0)?,
            hits: row.try_get(1)?,
        })
    }

    fn prune_rate_windows(&mut self, before: Millis) -> Result<usize> {
        Ok(self.execute(
            "DELETE FROM rate_windows WHERE window_start < $1",
            &[&before],
        )? as usize)
    }

    fn insert_webhook_delivery(&mut self, d: &WebhookDelivery) -> Result<()> {
        self.execute(
            "INSERT INTO webhook_deliveries (id, event_id, recipient, kind, url, body, \
             status, attempts, next_attempt_at, last_status, last_error, created_at, \
             finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &d.id,
                &d.event_id,
                &d.recipient,
                &d.kind,
                &d.url,
                &d.body,
                &d.status.as_str(),
                &d.attempts,
                &d.next_attempt_at,
                &d.last_status,
                &d.last_error,
                &d.created_at,
                &d.finished_at,
            ],
        )?;
        Ok(())
    }

    fn take_due_webhooks(
        &mut self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> Result<Vec<DueWebhook>> {
        // Rows another node is taking right now are skipped, not waited for.
        let mut taken = self.map(
            &format!(
                "UPDATE webhook_deliveries d SET attempts = d.attempts + 1, \
                 next_attempt_at = $2 \
                 FROM (SELECT id FROM webhook_deliveries d WHERE status = 'pending' \
                       AND next_attempt_at <= $1 AND NOT EXISTS ({EARLIER_PENDING}) \
                       ORDER BY next_attempt_at, created_at \
                       LIMIT $3 FOR UPDATE SKIP LOCKED) due \
                 WHERE d.id = due.id \
                 RETURNING {DELIVERY_COLUMNS}, \
                 (SELECT webhook_secret FROM agents a WHERE a.id = d.recipient)"
            ),
            &[&now, &lease_until, &limit],
            |r| {
                Ok(DueWebhook {
                    delivery: rows::delivery_from(r)?,
                    secret: r.try_get(13)?,
                })
            },
        )?;
        taken.sort_by_key(|t| (t.delivery.created_at, t.delivery.event_id));
        Ok(taken)
    }

    fn record_webhook_attempt(
        &mut self,
        id: &str,
        attempt: i64,
        record: &AttemptRecord,
        now: Millis,
    ) -> Result<bool> {
        let finished_at = (record.status != DeliveryStatus::Pending).then_some(now);
        let changed = self.execute(
            "UPDATE webhook_deliveries SET status = $3, next_attempt_at = $4, \
             last_status = $5, last_error = $6, finished_at = $7 \
             WHERE id = $1 AND attempts = $2 AND status = 'pending'",
            &[
                &id,
                &attempt,
                &record.status.as_str(),
                &record.next_attempt_at,
                &record.last_status,
                &record.last_error,
                &finished_at,
            ],
        )?;
        Ok(changed == 1)
    }

    fn webhook_deliveries_of(
        &mut self,
        recipient: &str,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        self.map(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.recipient = $1 \
                 ORDER BY d.created_at DESC, d.event_id DESC LIMIT $2"
            ),
            &[&recipient, &limit],
            rows::delivery_from,
        )
    }

    fn prune_webhook_deliveries(&mut self, before: Millis) -> Result<usize> {
        Ok(self.execute(
            "DELETE FROM webhook_deliveries WHERE finished_at IS NOT NULL \
             AND finished_at < $1",
            &[&before],
        )? as usize)
    }

    fn insert_a2a_task(&mut self, t: &A2aTask) -> Result<bool> {
        Ok(self.run_query(&a2a::insert_task(Dialect::Postgres, t))? == 1)
    }

    fn a2a_task_by_message(&mut self, poster: &str, message_id: &str) -> Result<Option<String>> {
        let q = a2a::task_by_message(Dialect::Postgres, poster, message_id);
        Ok(self.query_rows(&q, |r| r.try_get(0))?.pop())
    }

    fn a2a_task(&mut self, task_id: &str) -> Result<Option<A2aTask>> {
        let q = a2a::task(Dialect::Postgres, task_id);
        Ok(self.query_rows(&q, a2a::task_from)?.pop())
    }

    fn a2a_tasks_of(&mut self, filter: &A2aTaskFilter, page: Page) -> Result<Paged<ListedTask>> {
        let (tasks, count) = a2a::tasks_of(Dialect::Postgres, filter, page);
        Ok(Paged {
            items: self.query_rows(&tasks, a2a::listed_task_from)?,
            total: self.count(&count)?,
        })
    }

    fn save_push_config(&mut self, config: &PushConfig) -> Result<()> {
        self.run_query(&a2a::save_push_config(Dialect::Postgres, config))?;
        Ok(())
    }

    fn push_configs_of(&mut self, task_ids: &[String]) -> Result<Vec<PushConfig>> {
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        let q = a2a::push_configs_of(Dialect::Postgres, task_ids);
        self.query_rows(&q, a2a::push_config_from)
    }

    fn delete_push_config(&mut self, task_id: &str, id: &str) -> Result<bool> {
        Ok(self.run_query(&a2a::delete_push_config(Dialect::Postgres, task_id, id))? == 1)
    }

    fn push_configs_exist(&mut self) -> Result<bool> {
        self.scalar("SELECT EXISTS (SELECT 1 FROM a2a_push_configs)", &[])
    }

    fn open_web_session(&mut self, s: &WebSession, per_subject: i64, total: i64) -> Result<bool> {
        // Sign-ins on every node take turns, so that the bounds hold under concurrency.
        self.execute("SELECT pg_advisory_xact_lock($1)", &[&WEB_SESSIONS_LOCK])?;
        let sql = web::open_session(Dialect::Postgres, s, per_subject - 1);
        self.run_query(&sql.prune)?;
        if self.count(&sql.count)? >= total {
            return Ok(false);
        }
        self.run_query(&sql.trim)?;
        self.run_query(&sql.insert)?;
        Ok(true)
    }

    fn web_session(&mut self, digest: &str, now: Millis) -> Result<Option<WebSession>> {
        let q = web::session(Dialect::Postgres, digest, now);
        Ok(self.query_rows(&q, web::session_from)?.pop())
    }

    fn end_web_sessions(&mut self, key: SessionKey, value: &str) -> Result<usize> {
        self.run_query(&web::end_sessions(Dialect::Postgres, key, value))
    }

    fn market_figures(&mut self, since: Millis, late_before: Millis) -> Result<MarketFigures> {
        let q = web::figures(Dialect::Postgres, since, late_before);
        Ok(web::figures_from(self.query_rows(&q, web::figure_row)?))
    }

    fn agents_for_operator(
        &mut self,
        search: Option<&str>,
        infra: bool,
        page: Page,
    ) -> Result<Vec<Agent>> {
        let q = web::agents(Dialect::Postgres, search, infra, page);
        self.query_rows(&q, rows::agent_from)
    }

    fn tasks_for_operator(&mut self, search: &TaskSearch, page: Page) -> Result<Vec<Task>> {
        let q = web::tasks(Dialect::Postgres, search, page);
        self.query_rows(&q, rows::task_from)
    }

    fn open_reports(&mut self, limit: i64) -> Result<Vec<Report>> {
        self.query_rows(
            &web::open_reports(Dialect::Postgres, limit),
            web::report_from,
        )
    }

    fn resolve_report(&mut self, id: &str) -> Result<bool> {
        Ok(self.run_query(&web::resolve_report(Dialect::Postgres, id))? == 1)
    }

    fn node_seen(&mut self, node: &Node, forget_before: Millis) -> Result<()> {
        self.run_query(&web::node_seen(Dialect::Postgres, node))?;
        self.run_query(&web::forget_nodes(Dialect::Postgres, forget_before))?;
        Ok(())
    }

    fn nodes_seen_since(&mut self, since: Millis) -> Result<Vec<Node>> {
        self.query_rows(&web::nodes(Dialect::Postgres, since), web::node_from)
    }

    fn task_events(
        &mut self,
        task_id: &str,
        recipient: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Event>> {
        let q = web::task_events(Dialect::Postgres, task_id, recipient, limit);
        Ok(self
            .query_rows(&q, web::event_from)?
            .into_iter()
            .flatten()
            .collect())
    }

    fn books(&mut self) -> Result<Books> {
        let row = self.query_one(
            &format!(
                "SELECT (SELECT coalesce(sum(credits), 0)::bigint FROM agents), \
                 (SELECT coalesce(sum(max_credits), 0)::bigint FROM tasks \
                  WHERE (NOT is_system OR payer_id IS NOT NULL) \
                  AND status IN ('posted', 'claimed', 'delivered')), \
                 (SELECT coalesce(sum(amount), 0)::bigint FROM ledger WHERE src = '{MINT_ACCOUNT}') \
                 - (SELECT coalesce(sum(amount), 0)::bigint FROM ledger WHERE dst = '{MINT_ACCOUNT}')"
            ),
            &[],
        )?;
        Ok(Books {
            balances: row.try_get(0)?,
            escrowed: row.try_get(1)?,
            minted: row.try_get(2)?,
        })
    }

    fn unexplained_balances(&mut self) -> Result<Vec<String>> {
        self.map(
            &format!(
                "SELECT id FROM agents a WHERE credits <> \
                 (SELECT coalesce(sum(amount), 0) FROM ledger WHERE dst = a.id) \
                 - (SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = a.id) \
                 UNION ALL SELECT '{ESCROW_ACCOUNT}' WHERE \
                 (SELECT coalesce(sum(amount), 0) FROM ledger WHERE dst = '{ESCROW_ACCOUNT}') \
                 - (SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = '{ESCROW_ACCOUNT}') \
                 <> (SELECT coalesce(sum(max_credits), 0) FROM tasks \
                     WHERE (NOT is_system OR payer_id IS NOT NULL) \
                     AND status IN ('posted', 'claimed', 'delivered'))"
            ),
            &[],
            |r| r.try_get(0),
        )
    }
}
