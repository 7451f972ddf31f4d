//! SQLite backend: one writer thread owns the only read-write connection, so write
//! transactions never wait on each other's locks and a read-check-write inside one of them is
//! atomic; a few reader threads serve snapshots from WAL beside it.

use super::query::{self, Dialect, Query};
use super::rows::{
    self, AGENT_COLS, Cell, Cells, DELIVERY_COLUMNS, EARLIER_PENDING, QUESTION_COLS,
    SYSTEM_WORK_COLS, StatFigures, TASK_COLS, TASK_DERIVED, TASK_MUTABLE, TRUST_COLS,
};
use super::web::{self, MarketFigures, Node, Report, SessionKey, TaskSearch, WebSession};
use super::{
    A2aTask, A2aTaskFilter, AgentQuery, AttemptRecord, Backend, Books, Counter, DeliveryStatus,
    Done, DueWebhook, Job, ListedTask, OpenTask, OpenTaskFilter, Page, Paged, PushConfig,
    RateWindow, Role, SystemWork, Transaction, UnansweredQuestions, WebhookDelivery, a2a,
};
use super::{Failed, Result, StoreError};
use crate::model::{
    Agent, DAY, ESCROW_ACCOUNT, Event, EventData, EventKind, LedgerLine, MINT_ACCOUNT, Message,
    Millis, Question, RoutingHints, TagReputation, Task, TaskStatus, Transfer, Trust,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("sqlite/0001_core.sql"),
    include_str!("sqlite/0002_social.sql"),
    include_str!("sqlite/0003_events.sql"),
    include_str!("sqlite/0004_webhooks.sql"),
    include_str!("sqlite/0005_infra.sql"),
    include_str!("sqlite/0006_rate_windows.sql"),
    include_str!("sqlite/0007_economy.sql"),
    include_str!("sqlite/0008_retire_reserve.sql"),
    include_str!("sqlite/0009_webhook_order.sql"),
    include_str!("sqlite/0010_a2a.sql"),
    include_str!("sqlite/0011_web.sql"),
    include_str!("sqlite/0012_nodes.sql"),
];

struct Command {
    job: Job,
    done: Done,
}

pub struct Sqlite {
    writer: mpsc::Sender<Command>,
    /// None when reads share the writer (in-memory databases).
    readers: Option<mpsc::Sender<Command>>,
    /// Background threads without a queue (the checkpointer) stop once this is dropped.
    _alive: Arc<()>,
}

impl Sqlite {
    /// `target` is what follows `sqlite:` in the URL: `//relative/path`, `///absolute/path`
    /// or `:memory:`.
    pub fn open(target: &str, readers: usize) -> Result<Self> {
        let in_memory = target == ":memory:" || target == "//:memory:";
        let path = target.strip_prefix("//").unwrap_or(target).to_string();
        let dir = std::path::Path::new(&path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty());
        if let (false, Some(dir)) = (in_memory, dir) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("creating {dir:?}: {e}")))?;
        }
        let conn = if in_memory {
            Connection::open_in_memory()?
        } else {
            Connection::open(&path)?
        };
        configure(&conn, true)?;
        migrate(&conn)?;

        let alive = Arc::new(());
        if !in_memory {
            // Checkpoints run beside the writer instead of inside its commits.
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            spawn_checkpointer(path.clone(), Arc::downgrade(&alive))?;
        }
        let writer = spawn_writer(conn)?;
        let readers = if in_memory || readers == 0 {
            None
        } else {
            let (tx, rx) = mpsc::channel::<Command>();
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..readers {
                let conn = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&conn, false)?;
                spawn_reader(format!("sqlite-reader-{i}"), rx.clone(), conn)?;
            }
            Some(tx)
        };
        Ok(Self {
            writer,
            readers,
            _alive: alive,
        })
    }
}

impl Backend for Sqlite {
    fn run(&self, write: bool, job: Job, done: Done) {
        let queue = match (&self.readers, write) {
            (Some(readers), false) => readers,
            _ => &self.writer,
        };
        if let Err(mpsc::SendError(cmd)) = queue.send(Command { job, done }) {
            let _ = cmd.done.send(Err(StoreError::Unavailable(
                "database worker stopped".into(),
            )
            .into()));
        }
    }
}

fn configure(conn: &Connection, writer: bool) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.set_prepared_statement_cache_capacity(256);
    if writer {
        // WAL lets readers run beside the writer; NORMAL sync is durable across process
        // crashes (only an OS crash can lose the last commits).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<()> {
    let done: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

/// Jobs committed together at most, when they queue up behind each other.
const MAX_GROUP: usize = 64;

/// The writer: one thread, one connection. Jobs that queued up while the previous commit
/// ran are committed together in one transaction (group commit), each inside its own
/// savepoint so that a failing job is undone alone.
fn spawn_writer(conn: Connection) -> Result<mpsc::Sender<Command>> {
    let (tx, rx) = mpsc::channel::<Command>();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(cmd) => group.push(cmd),
                        Err(_) => break,
                    }
                }
                if group.len() == 1 {
                    let cmd = group.pop().expect("one job");
                    run_in_transaction(&conn, "BEGIN IMMEDIATE", cmd);
                } else {
                    run_group(&conn, group);
                }
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("spawning the SQLite writer: {e}")))?;
    Ok(tx)
}

/// Runs a transaction-control statement through the statement cache: these run several
/// times per request, and parsing them each time is a measurable part of the writer's work.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_group(conn: &Connection, group: Vec<Command>) {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        let e = StoreError::from(e);
        for cmd in group {
            let _ = cmd.done.send(Err(Failed::Store(e.clone())));
        }
        return;
    }
    let mut outcomes = Vec::with_capacity(group.len());
    for cmd in group {
        let outcome = conn
            .prepare_cached("SAVEPOINT job")
            .and_then(|mut s| s.execute([]).map(|_| ()))
            .map_err(Failed::from)
            .and_then(|()| {
                let mut tx = SqliteTx { conn };
                catch_unwind(AssertUnwindSafe(|| (cmd.job)(&mut tx)))
                    .unwrap_or_else(|_| Err(StoreError::JobPanicked.into()))
            });
        let closed = match outcome {
            Ok(_) => control(conn, "RELEASE job"),
            Err(_) => control(conn, "ROLLBACK TO job").and_then(|()| control(conn, "RELEASE job")),
        };
        let outcome = closed.map_err(Failed::from).and(outcome);
        outcomes.push((cmd.done, outcome));
    }
    // Nobody hears of a success before it is committed.
    match control(conn, "COMMIT") {
        Ok(()) => {
            for (done, outcome) in outcomes {
                let _ = done.send(outcome);
            }
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            let e = StoreError::from(e);
            for (done, _) in outcomes {
                let _ = done.send(Err(Failed::Store(e.clone())));
            }
        }
    }
}

/// Checkpoints the WAL from its own connection, so the writer never pays for it inside a
/// commit. PASSIVE never blocks readers or the writer.
fn spawn_checkpointer(path: String, alive: std::sync::Weak<()>) -> Result<()> {
    let conn = Connection::open(&path)?;
    conn.busy_timeout(std::time::Duration::from_secs(1))?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            // Ends with the store that started it.
            while alive.upgrade().is_some() {
                std::thread::sleep(std::time::Duration::from_millis(500));
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("spawning the SQLite checkpointer: {e}")))?;
    Ok(())
}

/// A reader: takes the next read job from the shared queue, runs it in a snapshot.
fn spawn_reader(
    name: String,
    queue: Arc<Mutex<mpsc::Receiver<Command>>>,
    conn: Connection,
) -> Result<()> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            loop {
                let next = queue.lock().unwrap().recv();
                let Ok(cmd) = next else { return };
                run_in_transaction(&conn, "BEGIN", cmd);
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("spawning a SQLite reader: {e}")))?;
    Ok(())
}

fn run_in_transaction(conn: &Connection, begin: &str, cmd: Command) {
    let outcome = conn
        .prepare_cached(begin)
        .and_then(|mut s| s.execute([]).map(|_| ()))
        .map_err(Failed::from)
        .and_then(|()| {
            let mut tx = SqliteTx { conn };
            catch_unwind(AssertUnwindSafe(|| (cmd.job)(&mut tx)))
                .unwrap_or_else(|_| Err(StoreError::JobPanicked.into()))
        });
    let outcome = match outcome {
        Ok(value) => control(conn, "COMMIT").map(|()| value).map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            Failed::from(e)
        }),
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    };
    let _ = cmd.done.send(outcome);
}

/// The agent's webhook URL, if it has one.
fn webhook_url_of(conn: &Connection, agent_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT webhook_url FROM agents WHERE id = ?1")?
        .query_row([agent_id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten()
        .filter(|u| !u.is_empty()))
}

struct SqliteTx<'c> {
    conn: &'c Connection,
}

/// `?1, ?2, …, ?n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The compare-and-set update of a task, and where its values sit in `task_values`.
static TASK_UPDATE: std::sync::LazyLock<(String, Vec<usize>)> = std::sync::LazyLock::new(|| {
    let positions = rows::task_mutable_positions();
    let n = positions.len();
    let sql = format!(
        "UPDATE tasks SET ({}) = ({}) WHERE id = ?{} AND status = ?{} AND worker_id IS ?{}",
        TASK_MUTABLE.join(", "),
        placeholders(n),
        n + 1,
        n + 2,
        n + 3
    );
    (sql, positions)
});

/// A task's values in the order of TASK_COLS, then TASK_DERIVED.
fn task_values(t: &Task) -> Vec<SqlValue> {
    rows::task_cells(t).into_iter().map(sql_value).collect()
}

impl Cells for Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }
    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }
    fn real(&self, i: usize) -> rusqlite::Result<f64> {
        self.get(i)
    }
    fn flag(&self, i: usize) -> rusqlite::Result<bool> {
        self.get(i)
    }
    fn opt_bytes(&self, i: usize) -> rusqlite::Result<Option<Vec<u8>>> {
        self.get(i)
    }
}

/// The task columns prefixed with `t.`, for the joined queries (built once).
impl SqliteTx<'_> {
    fn query_rows<T>(
        &self,
        q: &Query,
        f: impl FnMut(&Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        Ok(self
            .conn
            .prepare_cached(&q.sql)?
            .query_map(params_from_iter(q.args.iter().cloned().map(sql_value)), f)?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn count(&self, q: &Query) -> Result<i64> {
        Ok(self.conn.prepare_cached(&q.sql)?.query_row(
            params_from_iter(q.args.iter().cloned().map(sql_value)),
            |r| r.get(0),
        )?)
    }

    /// Runs a built statement; returns how many rows it changed.
    fn run_query(&self, q: &Query) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached(&q.sql)?
            .execute(params_from_iter(q.args.iter().cloned().map(sql_value)))?)
    }
}

fn sql_value(cell: Cell) -> SqlValue {
    match cell {
        Cell::Text(v) => v.into(),
        Cell::Int(v) => v.into(),
        Cell::Real(v) => v.into(),
        Cell::Flag(v) => v.into(),
    }
}

impl Transaction for SqliteTx<'_> {
    fn insert_agent(&mut self, a: &Agent) -> Result<bool> {
        let digest = (!a.key_digest.is_empty()).then_some(&a.key_digest);
        let n = self
            .conn
            .prepare_cached(&format!(
                "INSERT INTO agents ({AGENT_COLS}) VALUES \
                 (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17) ON CONFLICT (id) DO NOTHING"
            ))?
            .execute(params![
                a.id,
                a.name,
                digest,
                a.credits,
                a.reputation,
                a.rating_count,
                a.tasks_posted,
                a.tasks_completed,
                a.accepts_system_tasks,
                a.good_at,
                rows::list_json(&a.capability_tags),
                a.suspended,
                a.abandon_count,
                a.last_abandon_at,
                a.webhook_url,
                a.webhook_secret,
                a.created_at
            ])?;
        Ok(n == 1)
    }

    fn agent(&mut self, id: &str) -> Result<Option<Agent>> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {AGENT_COLS} FROM agents WHERE id = ?1"))?
            .query_row([id], |r| rows::agent_from(r))
            .optional()?)
    }

    fn agent_by_key_digest(&mut self, digest: &[u8]) -> Result<Option<Agent>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {AGENT_COLS} FROM agents WHERE key_digest = ?1"
            ))?
            .query_row([digest], |r| rows::agent_from(r))
            .optional()?)
    }

    fn save_agent_profile(&mut self, a: &Agent) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE agents SET name = ?2, accepts_system_tasks = ?3, good_at = ?4, \
                 capability_tags = ?5, suspended = ?6, webhook_url = ?7, webhook_secret = ?8 \
                 WHERE id = ?1",
            )?
            .execute(params![
                a.id,
                a.name,
                a.accepts_system_tasks,
                a.good_at,
                rows::list_json(&a.capability_tags),
                a.suspended,
                a.webhook_url,
                a.webhook_secret
            ])?;
        Ok(())
    }

    fn count_abandon(
        &mut self,
        agent_id: &str,
        now: Millis,
        threshold: i64,
        cooldown_ms: Millis,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE agents SET abandon_count = CASE WHEN abandon_count >= ?2 \
                 AND coalesce(last_abandon_at, 0) + ?3 <= ?4 THEN 1 ELSE abandon_count + 1 END, \
                 last_abandon_at = ?4 WHERE id = ?1",
            )?
            .execute(params![agent_id, threshold, cooldown_ms, now])?;
        Ok(())
    }

    fn bump(&mut self, agent_id: &str, counter: Counter) -> Result<()> {
        let sql = match counter {
            Counter::TasksPosted => {
                "UPDATE agents SET tasks_posted = tasks_posted + 1 WHERE id = ?1"
            }
            Counter::TasksCompleted => {
                "UPDATE agents SET tasks_completed = tasks_completed + 1 WHERE id = ?1"
            }
        };
        self.conn.prepare_cached(sql)?.execute([agent_id])?;
        Ok(())
    }

    fn add_credits(&mut self, agent_id: &str, delta: i64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE agents SET credits = credits + ?2 WHERE id = ?1")?
            .execute(params![agent_id, delta])?;
        Ok(())
    }

    fn take_credits(&mut self, agent_id: &str, amount: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE agents SET credits = credits - ?2 WHERE id = ?1 AND credits >= ?2",
            )?
            .execute(params![agent_id, amount])?;
        Ok(n == 1)
    }

    fn insert_transfer(&mut self, t: &Transfer) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO ledger (id, src, dst, amount, reason, task_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                t.id,
                t.from,
                t.to,
                t.amount,
                t.reason,
                t.task_id,
                t.created_at
            ])?;
        Ok(())
    }

    fn ledger_of(&mut self, agent_id: &str, page: Page) -> Result<Paged<LedgerLine>> {
        let total: i64 = self
            .conn
            .prepare_cached(
                "SELECT (SELECT count(*) FROM ledger WHERE src = ?1) \
                 + (SELECT count(*) FROM ledger WHERE dst = ?1)",
            )?
            .query_row([agent_id], |r| r.get(0))?;
        let lines = self
            .conn
            .prepare_cached(
                "SELECT id, CASE WHEN dst = ?1 THEN amount ELSE -amount END, reason, task_id, \
                 created_at FROM ledger WHERE src = ?1 OR dst = ?1 \
                 ORDER BY seq DESC LIMIT ?2 OFFSET ?3",
            )?
            .query_map(params![agent_id, page.limit, page.offset], |r| {
                Ok(LedgerLine {
                    id: r.get(0)?,
                    amount: r.get(1)?,
                    reason: r.get(2)?,
                    task_id: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Paged {
            items: lines,
            total,
        })
    }

    fn escrowed_by(&mut self, agent_id: &str) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT (SELECT coalesce(sum(max_credits), 0) FROM tasks WHERE poster_id = ?1 \
                 AND is_system = 0 AND status IN ('posted', 'claimed', 'delivered')) \
                 + (SELECT coalesce(sum(max_credits), 0) FROM tasks WHERE payer_id = ?1 \
                 AND status IN ('posted', 'claimed', 'delivered'))",
            )?
            .query_row([agent_id], |r| r.get(0))?)
    }

    fn stats_of(&mut self, agent_id: &str, now: Millis) -> Result<StatFigures> {
        let c = self.conn;
        let sum = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> Result<i64> {
            Ok(c.prepare_cached(sql)?.query_row(args, |r| r.get(0))?)
        };
        let earned_since = |since: Millis| {
            sum(
                "SELECT coalesce(sum(amount), 0) FROM ledger \
                 WHERE dst = ?1 AND reason = 'payment' AND created_at >= ?2",
                &[&agent_id, &since],
            )
        };
        let total_earned = earned_since(i64::MIN)?;
        let total_spent = sum(
            "SELECT coalesce(sum(credits_charged), 0) FROM tasks \
             WHERE poster_id = ?1 AND status = 'approved' AND is_system = 0",
            &[&agent_id],
        )?;
        let total_fees_paid = sum(
            "SELECT coalesce(sum(l.amount), 0) FROM ledger l JOIN tasks t ON t.id = l.task_id \
             WHERE l.reason = 'platform_fee' AND t.worker_id = ?1 AND t.status = 'approved'",
            &[&agent_id],
        )?;
        let (approved, delivered, avg_value): (i64, i64, Option<f64>) = c
            .prepare_cached(
                "SELECT count(*) FILTER (WHERE status = 'approved'), \
                 count(*) FILTER (WHERE status = 'delivered'), \
                 avg(credits_charged) FILTER (WHERE status = 'approved') \
                 FROM tasks WHERE worker_id = ?1",
            )?
            .query_row([agent_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let approved_tags: Vec<(String, i64)> = c
            .prepare_cached(
                "SELECT t.tags, l.amount FROM ledger l JOIN tasks t ON t.id = l.task_id \
                 WHERE l.dst = ?1 AND l.reason = 'payment' AND t.tags IS NOT NULL",
            )?
            .query_map([agent_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(StatFigures {
            total_earned,
            total_spent,
            total_fees_paid,
            approved,
            delivered,
            avg_value,
            earned_by_tag: super::rows::earned_by_tag(approved_tags),
            recent_7d_earned: earned_since(now - 7 * DAY)?,
            recent_30d_earned: earned_since(now - 30 * DAY)?,
        })
    }

    fn insert_task(&mut self, t: &Task) -> Result<()> {
        let values = task_values(t);
        let sql = format!(
            "INSERT INTO tasks ({TASK_COLS}, {TASK_DERIVED}) VALUES ({})",
            placeholders(values.len())
        );
        self.conn
            .prepare_cached(&sql)?
            .execute(params_from_iter(&values))?;
        Ok(())
    }

    fn task(&mut self, id: &str) -> Result<Option<Task>> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {TASK_COLS} FROM tasks WHERE id = ?1"))?
            .query_row([id], |r| rows::task_from(r))
            .optional()?)
    }

    fn save_task(
        &mut self,
        t: &Task,
        prior_status: TaskStatus,
        prior_worker: Option<&str>,
    ) -> Result<bool> {
        let (sql, positions) = &*TASK_UPDATE;
        let mut all = task_values(t);
        let mut values: Vec<SqlValue> = positions
            .iter()
            .map(|&i| std::mem::replace(&mut all[i], SqlValue::Null))
            .collect();
        values.push(t.id.clone().into());
        values.push(prior_status.as_str().to_string().into());
        values.push(prior_worker.map(str::to_string).into());
        Ok(self
            .conn
            .prepare_cached(sql)?
            .execute(params_from_iter(&values))?
            == 1)
    }

    fn claimable(&mut self, filter: &OpenTaskFilter, limit: i64) -> Result<Vec<OpenTask>> {
        // The single writer makes what it returns the caller's to claim.
        let (tasks, _) = query::open_tasks(Dialect::Sqlite, filter, Page { limit, offset: 0 });
        self.query_rows(&tasks, |r| rows::open_task_from(r))
    }

    fn available(&mut self, filter: &OpenTaskFilter, page: Page) -> Result<Paged<OpenTask>> {
        let (tasks, count) = query::open_tasks(Dialect::Sqlite, filter, page);
        Ok(Paged {
            items: self.query_rows(&tasks, |r| rows::open_task_from(r))?,
            total: self.count(&count)?,
        })
    }

    fn system_claimable(&mut self, viewer: &str, limit: i64) -> Result<Vec<OpenTask>> {
        let tasks = query::system_tasks(Dialect::Sqlite, viewer, limit);
        self.query_rows(&tasks, |r| rows::open_task_from(r))
    }

    fn open_system_tasks_about(&mut self, subject: &str) -> Result<Vec<Task>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {TASK_COLS} FROM tasks WHERE (parent_task_id = ?1 OR subject_agent_id = ?1) \
                 AND is_system = 1 AND status IN ('posted', 'claimed')"
            ))?
            .query_map([subject], |r| rows::task_from(r))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn did_system_work(&mut self, task_id: &str, agent_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM tasks WHERE parent_task_id = ?1 AND worker_id = ?2)",
            )?
            .query_row([task_id, agent_id], |r| r.get(0))?)
    }

    fn system_work_about(&mut self, task_ids: &[&str]) -> Result<Vec<SystemWork>> {
        // One statement whatever the number of ids: they come as a JSON array.
        let ids = serde_json::to_string(task_ids).expect("strings serialize");
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {SYSTEM_WORK_COLS} FROM tasks WHERE parent_task_id IN \
                 (SELECT value FROM json_each(?1)) AND payer_id IS NOT NULL ORDER BY seq"
            ))?
            .query_map([ids], |r| rows::system_work_from(r))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn extracted_since(&mut self, agent_id: &str, since: Millis) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM tasks WHERE subject_agent_id = ?1 \
                 AND system_task_type = 'extract_capabilities' AND status = 'approved' \
                 AND created_at > ?2)",
            )?
            .query_row(params![agent_id, since], |r| r.get(0))?)
    }

    fn active_claims(&mut self, agent_id: &str) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM tasks WHERE worker_id = ?1 AND status = 'claimed'",
            )?
            .query_row([agent_id], |r| r.get(0))?)
    }

    fn routing_hints(&mut self) -> Result<RoutingHints> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM agents WHERE accepts_system_tasks = 1 \
                 AND suspended = 0 AND key_digest IS NOT NULL), \
                 EXISTS (SELECT 1 FROM agents WHERE (good_at IS NOT NULL \
                 OR capability_tags IS NOT NULL) AND suspended = 0 AND key_digest IS NOT NULL)",
            )?
            .query_row([], |r| {
                Ok(RoutingHints {
                    infra_agents: r.get(0)?,
                    skilled_agents: r.get(1)?,
                })
            })?)
    }

    fn match_candidates(&mut self, exclude: &str, limit: i64) -> Result<Vec<Agent>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {AGENT_COLS} FROM agents WHERE suspended = 0 AND key_digest IS NOT NULL \
                 AND id != ?1 AND (good_at IS NOT NULL OR capability_tags IS NOT NULL) \
                 ORDER BY reputation DESC LIMIT ?2"
            ))?
            .query_map(params![exclude, limit], |r| rows::agent_from(r))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn insert_matches(&mut self, task_id: &str, ranked: &[String]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO task_matches (task_id, agent_id, rank) VALUES (?1, ?2, ?3) \
             ON CONFLICT DO NOTHING",
        )?;
        for (rank, agent) in ranked.iter().enumerate() {
            stmt.execute(params![task_id, agent, rank as i64])?;
        }
        Ok(())
    }

    fn matches_of(&mut self, task_id: &str) -> Result<Vec<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT agent_id FROM task_matches WHERE task_id = ?1 ORDER BY rank")?
            .query_map([task_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn tasks_of(
        &mut self,
        agent_id: &str,
        role: Option<Role>,
        status: Option<TaskStatus>,
        page: Page,
    ) -> Result<Paged<Task>> {
        let (tasks, count) = query::tasks_of(Dialect::Sqlite, agent_id, role, status, page);
        Ok(Paged {
            items: self.query_rows(&tasks, |r| rows::task_from(r))?,
            total: self.count(&count)?,
        })
    }

    fn due_task_ids(&mut self, now: Millis, limit: i64) -> Result<Vec<String>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id FROM tasks WHERE next_due_at <= ?1 ORDER BY next_due_at LIMIT ?2",
            )?
            .query_map(params![now, limit], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn insert_rating(
        &mut self,
        task_id: &str,
        rater: &str,
        rated: &str,
        score: i64,
        now: Millis,
    ) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO ratings (task_id, rater_id, rated_id, score, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            )?
            .execute(params![task_id, rater, rated, score, now])?;
        Ok(n == 1)
    }

    fn refresh_reputation(&mut self, agent_id: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE agents SET \
                 reputation = coalesce((SELECT round(avg(score), 2) FROM ratings \
                 WHERE rated_id = ?1), 0.0), \
                 rating_count = (SELECT count(*) FROM ratings WHERE rated_id = ?1) WHERE id = ?1",
            )?
            .execute([agent_id])?;
        Ok(())
    }

    fn insert_question(&mut self, q: &Question) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO questions (id, task_id, asker_id, question, answer, created_at, \
                 answered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                q.id,
                q.task_id,
                q.asker_id,
                q.question,
                q.answer,
                q.created_at,
                q.answered_at
            ])?;
        Ok(())
    }

    fn question(&mut self, id: &str) -> Result<Option<Question>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {QUESTION_COLS} FROM questions WHERE id = ?1"
            ))?
            .query_row([id], |r| rows::question_from(r))
            .optional()?)
    }

    fn answer_question(&mut self, id: &str, answer: &str, now: Millis) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE questions SET answer = ?2, answered_at = ?3 \
                 WHERE id = ?1 AND answer IS NULL",
            )?
            .execute(params![id, answer, now])?;
        Ok(n == 1)
    }

    fn questions_of(&mut self, task_id: &str) -> Result<Vec<Question>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {QUESTION_COLS} FROM questions WHERE task_id = ?1 ORDER BY seq"
            ))?
            .query_map([task_id], |r| rows::question_from(r))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn unanswered_questions(&mut self, task_id: &str, asker: &str) -> Result<UnansweredQuestions> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT count(*), count(*) FILTER (WHERE q.asker_id = ?2) FROM questions q \
                 JOIN agents a ON a.id = q.asker_id \
                 WHERE q.task_id = ?1 AND q.answer IS NULL AND a.suspended = 0",
            )?
            .query_row([task_id, asker], |r| {
                Ok(UnansweredQuestions {
                    all: r.get(0)?,
                    from_asker: r.get(1)?,
                })
            })?)
    }

    fn insert_message(&mut self, m: &Message, assignment: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO messages (id, task_id, assignment, sender_id, message, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                m.id,
                m.task_id,
                assignment,
                m.sender_id,
                m.message,
                m.created_at
            ])?;
        Ok(())
    }

    fn messages_of(&mut self, task_id: &str, assignment: &str) -> Result<Vec<Message>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, task_id, sender_id, message, created_at FROM messages \
                 WHERE task_id = ?1 AND assignment = ?2 ORDER BY seq",
            )?
            .query_map(params![task_id, assignment], |r| {
                Ok(Message {
                    id: r.get(0)?,
                    task_id: r.get(1)?,
                    sender_id: r.get(2)?,
                    message: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn insert_report(
        &mut self,
        id: &str,
        task_id: &str,
        reporter: &str,
        reason: &str,
        now: Millis,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO reports (id, task_id, reporter_id, reason, status, created_at) \
                 VALUES (?1, ?2, ?3, ?4, 'open', ?5)",
            )?
            .execute(params![id, task_id, reporter, reason, now])?;
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
            std::sync::LazyLock::new(|| query::adjust_trust(Dialect::Sqlite));
        self.conn
            .prepare_cached(&SQL)?
            .execute(params![truster, trusted, good, now])?;
        Ok(())
    }

    fn trust_of(&mut self, truster: &str) -> Result<Vec<Trust>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {TRUST_COLS} FROM trust WHERE truster_id = ?1 \
                 ORDER BY score DESC, trusted_id"
            ))?
            .query_map([truster], |r| rows::trust_from(r))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn reputation_by_tag(&mut self, agent_id: &str) -> Result<Vec<TagReputation>> {
        let rated = self
            .conn
            .prepare_cached(
                "SELECT t.tags, r.score FROM ratings r JOIN tasks t ON t.id = r.task_id \
                 WHERE r.rated_id = ?1 AND t.worker_id = ?1 AND t.status = 'approved' \
                 AND t.tags IS NOT NULL",
            )?
            .query_map([agent_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows::tag_reputations(rated))
    }

    fn directory(&mut self, q: &AgentQuery, page: Page) -> Result<Paged<Agent>> {
        let (agents, count) = query::directory(Dialect::Sqlite, q, page);
        Ok(Paged {
            items: self.query_rows(&agents, |r| rows::agent_from(r))?,
            total: self.count(&count)?,
        })
    }

    fn append_events(&mut self, events: &mut [Event], now: Millis) -> Result<Vec<Option<String>>> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO events (recipient, kind, task_id, data, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut url_of: Vec<(String, Option<String>)> = Vec::new();
        let mut urls = Vec::with_capacity(events.len());
        for event in events {
            let data = event.data.fields_json().to_string();
            stmt.execute(params![
                event.recipient,
                event.kind().as_str(),
                event.task_id,
                data,
                now
            ])?;
            event.id = self.conn.last_insert_rowid();
            event.created_at = now;
            let url = match url_of.iter().find(|(agent, _)| *agent == event.recipient) {
                Some((_, url)) => url.clone(),
                None => {
                    let url = webhook_url_of(self.conn, &event.recipient)?;
                    url_of.push((event.recipient.clone(), url.clone()));
                    url
                }
            };
            urls.push(url);
        }
        Ok(urls)
    }

    fn events_after(&mut self, recipient: &str, after_id: i64, limit: i64) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, task_id, data, created_at FROM events \
             WHERE recipient = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![recipient, after_id, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get(2)?,
                r.get::<_, String>(3)?,
                r.get(4)?,
            ))
        })?;
        let mut events = Vec::new();
        for row in rows {
            let (id, kind, task_id, data, created_at) = row?;
            // Kinds this build does not know (from a newer node) are skipped, not fatal.
            let Some(kind) = EventKind::parse(&kind) else {
                continue;
            };
            // Fields this build cannot read are skipped like unknown kinds.
            let data = serde_json::from_str(&data).unwrap_or_default();
            let Ok(data) = EventData::from_parts(kind, data) else {
                continue;
            };
            events.push(Event {
                id,
                task_id,
                recipient: recipient.to_string(),
                data,
                created_at,
            });
        }
        Ok(events)
    }

    fn latest_event_id(&mut self, recipient: &str) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT coalesce(max(id), 0) FROM events WHERE recipient = ?1")?
            .query_row([recipient], |r| r.get(0))?)
    }

    fn prune_events(&mut self, before: Millis) -> Result<usize> {
        Ok(self
            .conn
            // Ids follow time, so the expired events are the oldest ids: the scan stops at
            // the first one to keep, and no index on the time is needed.
            .prepare_cached(
                "DELETE FROM events WHERE id < coalesce(\
                 (SELECT id FROM events WHERE created_at >= ?1 ORDER BY id LIMIT 1), \
                 (SELECT coalesce(max(id), 0) + 1 FROM events))",
            )?
            .execute([before])?)
    }

    fn announce_agent_change(&mut self, _agent_id: &str) -> Result<()> {
        // One process owns a SQLite database: nobody else to tell.
        Ok(())
    }

    fn count_hit(
        &mut self,
        bucket: &str,
        subject: &str,
        now: Millis,
        window_ms: Millis,
    ) -> Result<RateWindow> {
        Ok(self
            .conn
            .prepare_cached(
                "INSERT INTO rate_windows AS w (bucket, subject, window_start, hits) \
                 VALUES (?1, ?2, ?3, 1) ON CONFLICT (bucket, subject) DO UPDATE SET \
                 window_start = CASE WHEN w.window_start + ?4 <= ?3 THEN ?3 ELSE w.window_start END, \
                 hits = CASE WHEN w.window_start + ?4 <= ?3 THEN 1 ELSE w.hits + 1 END \
                 RETURNING window_start, hits",
            )?
            .query_row(params![bucket, subject, now, window_ms], |r| {
                Ok(RateWindow {
                    started_at: r.get(0)?,
                    hits: r.get(1)?,
                })
            })?)
    }

    fn prune_rate_windows(&mut self, before: Millis) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM rate_windows WHERE window_start < ?1")?
            .execute([before])?)
    }

    fn insert_webhook_delivery(&mut self, d: &WebhookDelivery) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO webhook_deliveries (id, event_id, recipient, kind, url, body, \
                 status, attempts, next_attempt_at, last_status, last_error, created_at, \
                 finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                d.id,
                d.event_id,
                d.recipient,
                d.kind,
                d.url,
                d.body,
                d.status.as_str(),
                d.attempts,
                d.next_attempt_at,
                d.last_status,
                d.last_error,
                d.created_at,
                d.finished_at
            ])?;
        Ok(())
    }

    fn take_due_webhooks(
        &mut self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> Result<Vec<DueWebhook>> {
        let ids = self
            .conn
            .prepare_cached(&format!(
                "SELECT id FROM webhook_deliveries d WHERE status = 'pending' \
                 AND next_attempt_at <= ?1 AND NOT EXISTS ({EARLIER_PENDING}) \
                 ORDER BY next_attempt_at, created_at LIMIT ?2"
            ))?
            .query_map(params![now, limit], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut taken = Vec::with_capacity(ids.len());
        for id in ids {
            self.conn
                .prepare_cached(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, \
                     next_attempt_at = ?2 WHERE id = ?1",
                )?
                .execute(params![id, lease_until])?;
            let row = self
                .conn
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS}, a.webhook_secret FROM webhook_deliveries d \
                     LEFT JOIN agents a ON a.id = d.recipient WHERE d.id = ?1"
                ))?
                .query_row([&id], |r| {
                    Ok(DueWebhook {
                        delivery: rows::delivery_from(r)?,
                        secret: r.get(13)?,
                    })
                })?;
            taken.push(row);
        }
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
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE webhook_deliveries SET status = ?3, next_attempt_at = ?4, \
                 last_status = ?5, last_error = ?6, finished_at = ?7 \
                 WHERE id = ?1 AND attempts = ?2 AND status = 'pending'",
            )?
            .execute(params![
                id,
                attempt,
                record.status.as_str(),
                record.next_attempt_at,
                record.last_status,
                record.last_error,
                finished_at
            ])?;
        Ok(changed == 1)
    }

    fn webhook_deliveries_of(
        &mut self,
        recipient: &str,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        let rows = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.recipient = ?1 \
                 ORDER BY d.created_at DESC, d.event_id DESC LIMIT ?2"
            ))?
            .query_map(params![recipient, limit], |r| rows::delivery_from(r))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn prune_webhook_deliveries(&mut self, before: Millis) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM webhook_deliveries WHERE finished_at IS NOT NULL \
                 AND finished_at < ?1",
            )?
            .execute([before])?)
    }

    fn insert_a2a_task(&mut self, t: &A2aTask) -> Result<bool> {
        Ok(self.run_query(&a2a::insert_task(Dialect::Sqlite, t))? == 1)
    }

    fn a2a_task_by_message(&mut self, poster: &str, message_id: &str) -> Result<Option<String>> {
        let q = a2a::task_by_message(Dialect::Sqlite, poster, message_id);
        Ok(self.query_rows(&q, |r| r.get(0))?.pop())
    }

    fn a2a_task(&mut self, task_id: &str) -> Result<Option<A2aTask>> {
        let q = a2a::task(Dialect::Sqlite, task_id);
        Ok(self.query_rows(&q, |r| a2a::task_from(r))?.pop())
    }

    fn a2a_tasks_of(&mut self, filter: &A2aTaskFilter, page: Page) -> Result<Paged<ListedTask>> {
        let (tasks, count) = a2a::tasks_of(Dialect::Sqlite, filter, page);
        Ok(Paged {
            items: self.query_rows(&tasks, |r| a2a::listed_task_from(r))?,
            total: self.count(&count)?,
        })
    }

    fn save_push_config(&mut self, config: &PushConfig) -> Result<()> {
        self.run_query(&a2a::save_push_config(Dialect::Sqlite, config))?;
        Ok(())
    }

    fn push_configs_of(&mut self, task_ids: &[String]) -> Result<Vec<PushConfig>> {
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        let q = a2a::push_configs_of(Dialect::Sqlite, task_ids);
        self.query_rows(&q, |r| a2a::push_config_from(r))
    }

    fn delete_push_config(&mut self, task_id: &str, id: &str) -> Result<bool> {
        Ok(self.run_query(&a2a::delete_push_config(Dialect::Sqlite, task_id, id))? == 1)
    }

    fn push_configs_exist(&mut self) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM a2a_push_configs)")?
            .query_row([], |r| r.get(0))?)
    }

    fn open_web_session(&mut self, s: &WebSession, per_subject: i64, total: i64) -> Result<bool> {
        let sql = web::open_session(Dialect::Sqlite, s, per_subject - 1);
        self.run_query(&sql.prune)?;
        if self.count(&sql.count)? >= total {
            return Ok(false);
        }
        self.run_query(&sql.trim)?;
        self.run_query(&sql.insert)?;
        Ok(true)
    }

    fn web_session(&mut self, digest: &str, now: Millis) -> Result<Option<WebSession>> {
        let q = web::session(Dialect::Sqlite, digest, now);
        Ok(self.query_rows(&q, |r| web::session_from(r))?.pop())
    }

    fn end_web_sessions(&mut self, key: SessionKey, value: &str) -> Result<usize> {
        self.run_query(&web::end_sessions(Dialect::Sqlite, key, value))
    }

    fn market_figures(&mut self, since: Millis, late_before: Millis) -> Result<MarketFigures> {
        let q = web::figures(Dialect::Sqlite, since, late_before);
        Ok(web::figures_from(
            self.query_rows(&q, |r| web::figure_row(r))?,
        ))
    }

    fn agents_for_operator(
        &mut self,
        search: Option<&str>,
        infra: bool,
        page: Page,
    ) -> Result<Vec<Agent>> {
        let q = web::agents(Dialect::Sqlite, search, infra, page);
        self.query_rows(&q, |r| rows::agent_from(r))
    }

    fn tasks_for_operator(&mut self, search: &TaskSearch, page: Page) -> Result<Vec<Task>> {
        let q = web::tasks(Dialect::Sqlite, search, page);
        self.query_rows(&q, |r| rows::task_from(r))
    }

    fn open_reports(&mut self, limit: i64) -> Result<Vec<Report>> {
        self.query_rows(&web::open_reports(Dialect::Sqlite, limit), |r| {
            web::report_from(r)
        })
    }

    fn resolve_report(&mut self, id: &str) -> Result<bool> {
        Ok(self.run_query(&web::resolve_report(Dialect::Sqlite, id))? == 1)
    }

    fn node_seen(&mut self, node: &Node, forget_before: Millis) -> Result<()> {
        self.run_query(&web::node_seen(Dialect::Sqlite, node))?;
        self.run_query(&web::forget_nodes(Dialect::Sqlite, forget_before))?;
        Ok(())
    }

    fn nodes_seen_since(&mut self, since: Millis) -> Result<Vec<Node>> {
        self.query_rows(&web::nodes(Dialect::Sqlite, since), |r| web::node_from(r))
    }

    fn task_events(
        &mut self,
        task_id: &str,
        recipient: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Event>> {
        let q = web::task_events(Dialect::Sqlite, task_id, recipient, limit);
        Ok(self
            .query_rows(&q, |r| web::event_from(r))?
            .into_iter()
            .flatten()
            .collect())
    }

    fn books(&mut self) -> Result<Books> {
        Ok(self.conn.query_row(
            &format!(
                "SELECT (SELECT coalesce(sum(credits), 0) FROM agents), \
                 (SELECT coalesce(sum(max_credits), 0) FROM tasks \
                  WHERE (is_system = 0 OR payer_id IS NOT NULL) \
                  AND status IN ('posted', 'claimed', 'delivered')), \
                 (SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = '{MINT_ACCOUNT}') \
                 - (SELECT coalesce(sum(amount), 0) FROM ledger WHERE dst = '{MINT_ACCOUNT}')"
            ),
            [],
            |r| {
                Ok(Books {
                    balances: r.get(0)?,
                    escrowed: r.get(1)?,
                    minted: r.get(2)?,
                })
            },
        )?)
    }

    fn unexplained_balances(&mut self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id FROM agents a WHERE credits != \
             (SELECT coalesce(sum(amount), 0) FROM ledger WHERE dst = a.id) \
             - (SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = a.id) \
             UNION ALL SELECT '{ESCROW_ACCOUNT}' WHERE \
             (SELECT coalesce(sum(amount), 0) FROM ledger WHERE dst = '{ESCROW_ACCOUNT}') \
             - (SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = '{ESCROW_ACCOUNT}') \
             != (SELECT coalesce(sum(max_credits), 0) FROM tasks \
                 WHERE (is_system = 0 OR payer_id IS NOT NULL) \
                 AND status IN ('posted', 'claimed', 'delivered'))"
        ))?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }
}
