//! SQLite backend: one writer thread owns the only read-write connection, so write
//! transactions never wait on each other's locks and a read-check-write inside one of them is
//! atomic; a few reader threads serve snapshots from WAL beside it.

use super::{
    AgentQuery, AttemptRecord, Backend, Counter, DeliveryStatus, Done, Job, OpenTask,
    OpenTaskFilter, Page, Phase, Role, Tx, WebhookDelivery, tags_key,
};
use crate::error::{Error, Result};
use crate::events::{Event, EventKind};
use crate::market::RoutingHints;
use crate::model::{
    Agent, DAY, ESCROW_ACCOUNT, LedgerLine, MINT_ACCOUNT, MatchStatus, Message, Millis,
    PLATFORM_AGENT_ID, Question, SystemTaskType, TagReputation, Task, TaskStatus, Transfer, Trust,
    VerificationState,
};
use pinchwork_client::types::{StatsResponse, TagEarnings};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("sqlite/0001_core.sql"),
    include_str!("sqlite/0002_social.sql"),
    include_str!("sqlite/0003_events.sql"),
    include_str!("sqlite/0004_webhooks.sql"),
    include_str!("sqlite/0005_infra.sql"),
];

struct Command {
    job: Job<Box<dyn std::any::Any + Send>>,
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
                .map_err(|e| Error::Internal(format!("creating {dir:?}: {e}")))?;
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
    fn run(&self, write: bool, job: Job<Box<dyn std::any::Any + Send>>, done: Done) {
        let queue = match (&self.readers, write) {
            (Some(readers), false) => readers,
            _ => &self.writer,
        };
        if let Err(mpsc::SendError(cmd)) = queue.send(Command { job, done }) {
            let _ = cmd
                .done
                .send(Err(Error::Internal("database worker stopped".into())));
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
        .map_err(|e| Error::Internal(format!("spawning the SQLite writer: {e}")))?;
    Ok(tx)
}

/// Runs a transaction-control statement through the statement cache: these run several
/// times per request, and parsing them each time is a measurable part of the writer's work.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_group(conn: &Connection, group: Vec<Command>) {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        let e = Error::from(e);
        for cmd in group {
            let _ = cmd.done.send(Err(e.clone()));
        }
        return;
    }
    let mut outcomes = Vec::with_capacity(group.len());
    for cmd in group {
        let outcome = conn
            .prepare_cached("SAVEPOINT job")
            .and_then(|mut s| s.execute([]).map(|_| ()))
            .map_err(Error::from)
            .and_then(|()| {
                let mut tx = SqliteTx { conn };
                catch_unwind(AssertUnwindSafe(|| (cmd.job)(&mut tx)))
                    .unwrap_or_else(|_| Err(Error::Internal("a database job panicked".into())))
            });
        let closed = match outcome {
            Ok(_) => control(conn, "RELEASE job"),
            Err(_) => control(conn, "ROLLBACK TO job").and_then(|()| control(conn, "RELEASE job")),
        };
        let outcome = closed.map_err(Error::from).and(outcome);
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
            let e = Error::from(e);
            for (done, _) in outcomes {
                let _ = done.send(Err(e.clone()));
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
        .map_err(|e| Error::Internal(format!("spawning the SQLite checkpointer: {e}")))?;
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
        .map_err(|e| Error::Internal(format!("spawning a SQLite reader: {e}")))?;
    Ok(())
}

fn run_in_transaction(conn: &Connection, begin: &str, cmd: Command) {
    let outcome = conn
        .prepare_cached(begin)
        .and_then(|mut s| s.execute([]).map(|_| ()))
        .map_err(Error::from)
        .and_then(|()| {
            let mut tx = SqliteTx { conn };
            catch_unwind(AssertUnwindSafe(|| (cmd.job)(&mut tx)))
                .unwrap_or_else(|_| Err(Error::Internal("a database job panicked".into())))
        });
    let outcome = match outcome {
        Ok(value) => control(conn, "COMMIT").map(|()| value).map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            Error::from(e)
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

struct SqliteTx<'c> {
    conn: &'c Connection,
}

const AGENT_COLS: &str = "id, name, key_digest, credits, reputation, rating_count, tasks_posted, \
    tasks_completed, accepts_system_tasks, good_at, capability_tags, suspended, abandon_count, \
    last_abandon_at, webhook_url, webhook_secret, created_at";

const TASK_COLS: &str = "id, poster_id, worker_id, need, context, result, status, max_credits, \
    credits_charged, tags, is_system, match_status, match_deadline, rejection_reason, \
    rejection_count, rejection_grace_deadline, review_timeout_minutes, claim_timeout_minutes, \
    claim_deadline, review_deadline, deadline, created_at, claimed_at, delivered_at, expires_at, \
    assignment, system_task_type, parent_task_id, subject_agent_id, system_payload, \
    excluded_agents, extracted_tags, verification, verification_deadline";

/// Columns a task row has beyond TASK_COLS: derived for filtering and timers.
const TASK_DERIVED: &str = "tags_key, next_due_at";

/// `?1, ?2, …, ?n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The task columns that change after insertion. A compare-and-set update writes only these,
/// so that SQLite leaves the indexes on the others (id, poster) untouched.
const TASK_MUTABLE: &[&str] = &[
    "worker_id",
    "result",
    "status",
    "credits_charged",
    "match_status",
    "match_deadline",
    "rejection_reason",
    "rejection_count",
    "rejection_grace_deadline",
    "claim_deadline",
    "review_deadline",
    "deadline",
    "claimed_at",
    "delivered_at",
    "expires_at",
    "assignment",
    "extracted_tags",
    "verification",
    "verification_deadline",
    "tags_key",
    "next_due_at",
];

/// The compare-and-set update of a task, and where its values sit in `task_values`.
static TASK_UPDATE: std::sync::LazyLock<(String, Vec<usize>)> = std::sync::LazyLock::new(|| {
    let all: Vec<&str> = TASK_COLS
        .split(',')
        .chain(TASK_DERIVED.split(','))
        .map(str::trim)
        .collect();
    let positions: Vec<usize> = TASK_MUTABLE
        .iter()
        .map(|c| all.iter().position(|a| a == c).expect("a task column"))
        .collect();
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
    vec![
        t.id.clone().into(),
        t.poster_id.clone().into(),
        t.worker_id.clone().into(),
        t.need.clone().into(),
        t.context.clone().into(),
        t.result.clone().into(),
        t.status.as_str().to_string().into(),
        t.max_credits.into(),
        t.credits_charged.into(),
        list_json(&t.tags).into(),
        t.is_system.into(),
        t.match_status.as_str().to_string().into(),
        t.match_deadline.into(),
        t.rejection_reason.clone().into(),
        t.rejection_count.into(),
        t.rejection_grace_deadline.into(),
        t.review_timeout_minutes.into(),
        t.claim_timeout_minutes.into(),
        t.claim_deadline.into(),
        t.review_deadline.into(),
        t.deadline.into(),
        t.created_at.into(),
        t.claimed_at.into(),
        t.delivered_at.into(),
        t.expires_at.into(),
        t.assignment.clone().into(),
        t.system_task_type.map(|k| k.as_str().to_string()).into(),
        t.parent_task_id.clone().into(),
        t.subject_agent_id.clone().into(),
        t.system_payload.clone().into(),
        t.excluded_agents.clone().into(),
        list_json(&t.extracted_tags).into(),
        t.verification.as_ref().map(verification_to_json).into(),
        t.verification_deadline.into(),
        tags_key(&Some(t.routing_tags())).into(),
        t.next_due().into(),
    ]
}

fn verification_to_json(v: &VerificationState) -> String {
    let value = match v {
        VerificationState::Pending => serde_json::json!({"status": "pending"}),
        VerificationState::TimedOut => serde_json::json!({"status": "timed_out"}),
        VerificationState::Done {
            meets_requirements,
            explanation,
        } => serde_json::json!({
            "status": if *meets_requirements { "passed" } else { "failed" },
            "meets_requirements": meets_requirements,
            "explanation": explanation,
        }),
    };
    value.to_string()
}

fn verification_from_json(text: &str) -> Option<VerificationState> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(match v["status"].as_str()? {
        "pending" => VerificationState::Pending,
        "timed_out" => VerificationState::TimedOut,
        _ => VerificationState::Done {
            meets_requirements: v["meets_requirements"].as_bool()?,
            explanation: v["explanation"].as_str()?.to_string(),
        },
    })
}

/// A task row followed by its poster's reputation.
fn open_task_from_row(r: &Row) -> rusqlite::Result<OpenTask> {
    let match_rank = r.get(35)?;
    Ok(OpenTask {
        task: task_from_row(r)?,
        poster_reputation: r.get(34)?,
        match_rank,
    })
}

/// The task columns prefixed with `t.`, for the joined queries (built once).
static T_TASK_COLS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| task_cols("t."));

/// The task columns, each prefixed (for joined queries).
fn task_cols(prefix: &str) -> String {
    TASK_COLS
        .split(',')
        .map(|c| format!("{prefix}{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn json_list(text: Option<String>) -> Option<Vec<String>> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn list_json(list: &Option<Vec<String>>) -> Option<String> {
    list.as_ref()
        .map(|l| serde_json::to_string(l).expect("strings serialize"))
}

const QUESTION_COLS: &str = "id, task_id, asker_id, question, answer, created_at, answered_at";

fn question_from_row(r: &Row) -> rusqlite::Result<Question> {
    Ok(Question {
        id: r.get(0)?,
        task_id: r.get(1)?,
        asker_id: r.get(2)?,
        question: r.get(3)?,
        answer: r.get(4)?,
        created_at: r.get(5)?,
        answered_at: r.get(6)?,
    })
}

const TRUST_COLS: &str = "truster_id, trusted_id, score, interactions, updated_at";

fn trust_from_row(r: &Row) -> rusqlite::Result<Trust> {
    Ok(Trust {
        truster_id: r.get(0)?,
        trusted_id: r.get(1)?,
        score: r.get(2)?,
        interactions: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

fn agent_from_row(r: &Row) -> rusqlite::Result<Agent> {
    Ok(Agent {
        id: r.get(0)?,
        name: r.get(1)?,
        key_digest: r.get::<_, Option<Vec<u8>>>(2)?.unwrap_or_default(),
        credits: r.get(3)?,
        reputation: r.get(4)?,
        rating_count: r.get(5)?,
        tasks_posted: r.get(6)?,
        tasks_completed: r.get(7)?,
        accepts_system_tasks: r.get(8)?,
        good_at: r.get(9)?,
        capability_tags: json_list(r.get(10)?),
        suspended: r.get(11)?,
        abandon_count: r.get(12)?,
        last_abandon_at: r.get(13)?,
        webhook_url: r.get(14)?,
        webhook_secret: r.get(15)?,
        created_at: r.get(16)?,
    })
}

fn task_from_row(r: &Row) -> rusqlite::Result<Task> {
    let status: String = r.get(6)?;
    let match_status: String = r.get(11)?;
    Ok(Task {
        id: r.get(0)?,
        poster_id: r.get(1)?,
        worker_id: r.get(2)?,
        need: r.get(3)?,
        context: r.get(4)?,
        result: r.get(5)?,
        status: TaskStatus::parse(&status).unwrap_or(TaskStatus::Cancelled),
        max_credits: r.get(7)?,
        credits_charged: r.get(8)?,
        tags: json_list(r.get(9)?),
        is_system: r.get(10)?,
        match_status: MatchStatus::parse(&match_status).unwrap_or(MatchStatus::Broadcast),
        match_deadline: r.get(12)?,
        rejection_reason: r.get(13)?,
        rejection_count: r.get(14)?,
        rejection_grace_deadline: r.get(15)?,
        review_timeout_minutes: r.get(16)?,
        claim_timeout_minutes: r.get(17)?,
        claim_deadline: r.get(18)?,
        review_deadline: r.get(19)?,
        deadline: r.get(20)?,
        created_at: r.get(21)?,
        claimed_at: r.get(22)?,
        delivered_at: r.get(23)?,
        expires_at: r.get(24)?,
        assignment: r.get(25)?,
        system_task_type: r
            .get::<_, Option<String>>(26)?
            .and_then(|t| SystemTaskType::parse(&t)),
        parent_task_id: r.get(27)?,
        subject_agent_id: r.get(28)?,
        system_payload: r.get(29)?,
        excluded_agents: r.get(30)?,
        extracted_tags: json_list(r.get(31)?),
        verification: r
            .get::<_, Option<String>>(32)?
            .and_then(|v| verification_from_json(&v)),
        verification_deadline: r.get(33)?,
    })
}

/// The FROM, WHERE and ORDER BY of open tasks the viewer may claim in `phase` (parameters
/// from `?1` = viewer on), selecting the task columns, the poster's reputation and the rank.
fn open_tasks(filter: &OpenTaskFilter, phase: Phase) -> (String, String, Vec<String>, usize) {
    let mut args = vec![filter.viewer.clone()];
    let (join, section) = match phase {
        Phase::Matched => (
            "JOIN task_matches m ON m.task_id = t.id AND m.agent_id = ?1",
            "t.match_status = 'matched'",
        ),
        Phase::Broadcast => ("", "t.match_status IN ('broadcast', 'pending')"),
    };
    let rank = if phase == Phase::Matched {
        "m.rank"
    } else {
        "NULL"
    };
    let mut from = format!(
        "{}, coalesce(a.reputation, 0.0), {rank} FROM tasks t {join} \
         LEFT JOIN agents a ON a.id = t.poster_id \
         LEFT JOIN trust tr ON tr.truster_id = t.poster_id AND tr.trusted_id = ?1 \
         WHERE t.status = 'posted' AND t.is_system = 0 AND t.poster_id != ?1 AND {section} \
         AND NOT EXISTS (SELECT 1 FROM tasks s WHERE s.parent_task_id = t.id AND s.worker_id = ?1)",
        T_TASK_COLS.as_str()
    );
    for tag in &filter.tags {
        args.push(format!(",{},", tag.to_lowercase()));
        from.push_str(&format!(
            " AND instr(coalesce(t.tags_key, ''), ?{}) > 0",
            args.len()
        ));
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.is_empty()) {
        // SQLite's lower() folds ASCII only: fold the search the same way, or a search for
        // "Über" would never find "Über".
        args.push(search.to_ascii_lowercase());
        let n = args.len();
        from.push_str(&format!(
            " AND (instr(lower(t.need), ?{n}) > 0 OR instr(lower(coalesce(t.context, '')), ?{n}) > 0)"
        ));
    }
    // The ORDER BY's own parameters come after the WHERE's, so a count binds only those.
    let where_args = args.len();
    let mut order = String::new();
    match phase {
        Phase::Matched => order.push_str("m.rank, t.seq"),
        Phase::Broadcast => {
            // Shared tags first (when the viewer has capability tags at all).
            for tag in &filter.capability_tags {
                args.push(format!(",{},", tag.to_lowercase()));
                order.push_str(if order.is_empty() { "" } else { " + " });
                order.push_str(&format!(
                    "(instr(coalesce(t.tags_key, ''), ?{}) > 0)",
                    args.len()
                ));
            }
            if !order.is_empty() {
                order.push_str(" DESC, ");
            }
            order.push_str("coalesce(a.reputation, 0.0) DESC, coalesce(tr.score, 0.5) DESC, t.seq");
        }
    }
    (from, order, args, where_args)
}

impl SqliteTx<'_> {
    /// One page of open tasks of a phase, in order; with their total count when `count`.
    fn open_task_page(
        &mut self,
        filter: &OpenTaskFilter,
        phase: Phase,
        page: Page,
        count: bool,
    ) -> Result<(Vec<OpenTask>, i64)> {
        let (from, order, mut args, where_args) = open_tasks(filter, phase);
        let total: i64 = if count {
            self.conn
                .prepare_cached(&format!("SELECT count(*) FROM (SELECT {from})"))?
                .query_row(params_from_iter(&args[..where_args]), |r| r.get(0))?
        } else {
            0
        };
        args.push(page.limit.to_string());
        args.push(page.offset.to_string());
        let n = args.len();
        let sql = format!(
            "SELECT {from} ORDER BY {order} LIMIT CAST(?{} AS INTEGER) OFFSET CAST(?{n} AS INTEGER)",
            n - 1
        );
        let tasks = self
            .conn
            .prepare_cached(&sql)?
            .query_map(params_from_iter(&args), open_task_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok((tasks, total))
    }
}

impl Tx for SqliteTx<'_> {
    fn insert_agent(&mut self, a: &Agent) -> Result<()> {
        let digest = (!a.key_digest.is_empty()).then_some(&a.key_digest);
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO agents ({AGENT_COLS}) VALUES \
                 (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)"
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
                list_json(&a.capability_tags),
                a.suspended,
                a.abandon_count,
                a.last_abandon_at,
                a.webhook_url,
                a.webhook_secret,
                a.created_at
            ])?;
        Ok(())
    }

    fn agent(&mut self, id: &str) -> Result<Option<Agent>> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {AGENT_COLS} FROM agents WHERE id = ?1"))?
            .query_row([id], agent_from_row)
            .optional()?)
    }

    fn agent_by_key_digest(&mut self, digest: &[u8]) -> Result<Option<Agent>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {AGENT_COLS} FROM agents WHERE key_digest = ?1"
            ))?
            .query_row([digest], agent_from_row)
            .optional()?)
    }

    fn save_agent_profile(&mut self, a: &Agent) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE agents SET name = ?2, accepts_system_tasks = ?3, good_at = ?4, \
                 capability_tags = ?5, suspended = ?6, abandon_count = ?7, last_abandon_at = ?8, \
                 webhook_url = ?9, webhook_secret = ?10 WHERE id = ?1",
            )?
            .execute(params![
                a.id,
                a.name,
                a.accepts_system_tasks,
                a.good_at,
                list_json(&a.capability_tags),
                a.suspended,
                a.abandon_count,
                a.last_abandon_at,
                a.webhook_url,
                a.webhook_secret
            ])?;
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

    fn ledger_of(&mut self, agent_id: &str, page: Page) -> Result<(Vec<LedgerLine>, i64)> {
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
        Ok((lines, total))
    }

    fn escrowed_by(&mut self, agent_id: &str) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT coalesce(sum(max_credits), 0) FROM tasks WHERE poster_id = ?1 \
                 AND is_system = 0 AND status IN ('posted', 'claimed', 'delivered')",
            )?
            .query_row([agent_id], |r| r.get(0))?)
    }

    fn stats_of(&mut self, agent_id: &str, now: Millis) -> Result<StatsResponse> {
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
            "SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = ?1 AND reason = 'escrow'",
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
        let mut by_tag: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let mut rows = c.prepare_cached(
            "SELECT tags, coalesce(credits_charged, 0) FROM tasks \
                 WHERE worker_id = ?1 AND status = 'approved' AND tags IS NOT NULL",
        )?;
        let rows = rows.query_map([agent_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (tags, charged) = row?;
            for tag in json_list(Some(tags)).unwrap_or_default() {
                let entry = by_tag.entry(tag).or_default();
                entry.0 += 1;
                entry.1 += charged;
            }
        }
        let mut tasks_by_tag: Vec<TagEarnings> = by_tag
            .into_iter()
            .map(|(tag, (count, earned))| TagEarnings { tag, count, earned })
            .collect();
        tasks_by_tag.sort_by(|a, b| b.earned.cmp(&a.earned).then(a.tag.cmp(&b.tag)));
        let round2 = |x: f64| (x * 100.0).round() / 100.0;
        Ok(StatsResponse {
            total_earned,
            total_spent,
            total_fees_paid,
            approval_rate: (approved + delivered > 0)
                .then(|| round2(approved as f64 / (approved + delivered) as f64)),
            avg_task_value: avg_value.map(round2),
            tasks_by_tag,
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
            .query_row([id], task_from_row)
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

    fn claimable(
        &mut self,
        filter: &OpenTaskFilter,
        phase: Phase,
        limit: i64,
    ) -> Result<Vec<OpenTask>> {
        Ok(self
            .open_task_page(filter, phase, Page { limit, offset: 0 }, false)?
            .0)
    }

    fn available(&mut self, filter: &OpenTaskFilter, page: Page) -> Result<(Vec<OpenTask>, i64)> {
        // Matched tasks first: few per agent, so they are read whole and the page spans both.
        let (matched, matched_total) = self.open_task_page(
            filter,
            Phase::Matched,
            Page {
                limit: i64::MAX,
                offset: 0,
            },
            true,
        )?;
        let offset = (page.offset - matched_total).max(0);
        let (broadcast, broadcast_total) = self.open_task_page(
            filter,
            Phase::Broadcast,
            Page {
                limit: page.limit,
                offset,
            },
            true,
        )?;
        let tasks = matched
            .into_iter()
            .skip(page.offset as usize)
            .chain(broadcast)
            .take(page.limit as usize)
            .collect();
        Ok((tasks, matched_total + broadcast_total))
    }

    fn system_claimable(&mut self, viewer: &str, limit: i64) -> Result<Vec<OpenTask>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {}, 0.0, NULL FROM tasks t WHERE t.is_system = 1 AND t.status = 'posted' \
                 AND instr(coalesce(t.excluded_agents, ''), ',' || ?1 || ',') = 0 \
                 ORDER BY t.seq LIMIT ?2",
                T_TASK_COLS.as_str()
            ))?
            .query_map(params![viewer, limit], open_task_from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn open_system_tasks_about(&mut self, subject: &str) -> Result<Vec<Task>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {TASK_COLS} FROM tasks WHERE (parent_task_id = ?1 OR subject_agent_id = ?1) \
                 AND is_system = 1 AND status IN ('posted', 'claimed')"
            ))?
            .query_map([subject], task_from_row)?
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
            .query_map(params![exclude, limit], agent_from_row)?
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
    ) -> Result<(Vec<Task>, i64)> {
        let who = match role {
            Some(Role::Poster) => "poster_id = ?1",
            Some(Role::Worker) => "worker_id = ?1",
            None => "(poster_id = ?1 OR worker_id = ?1)",
        };
        let cond = format!("{who} AND is_system = 0 AND (?2 IS NULL OR status = ?2)");
        let status = status.map(|s| s.as_str());
        let total: i64 = self
            .conn
            .prepare_cached(&format!("SELECT count(*) FROM tasks WHERE {cond}"))?
            .query_row(params![agent_id, status], |r| r.get(0))?;
        let tasks = self
            .conn
            .prepare_cached(&format!(
                "SELECT {TASK_COLS} FROM tasks WHERE {cond} ORDER BY seq DESC LIMIT ?3 OFFSET ?4"
            ))?
            .query_map(
                params![agent_id, status, page.limit, page.offset],
                task_from_row,
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok((tasks, total))
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
            .query_row([id], question_from_row)
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
            .query_map([task_id], question_from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn unanswered_questions(&mut self, task_id: &str) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM questions WHERE task_id = ?1 AND answer IS NULL")?
            .query_row([task_id], |r| r.get(0))?)
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

    fn trust(&mut self, truster: &str, trusted: &str) -> Result<Option<Trust>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {TRUST_COLS} FROM trust WHERE truster_id = ?1 AND trusted_id = ?2"
            ))?
            .query_row([truster, trusted], trust_from_row)
            .optional()?)
    }

    fn save_trust(&mut self, t: &Trust) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO trust (truster_id, trusted_id, score, interactions, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (truster_id, trusted_id) DO UPDATE \
                 SET score = excluded.score, interactions = excluded.interactions, \
                 updated_at = excluded.updated_at",
            )?
            .execute(params![
                t.truster_id,
                t.trusted_id,
                t.score,
                t.interactions,
                t.updated_at
            ])?;
        Ok(())
    }

    fn trust_of(&mut self, truster: &str) -> Result<Vec<Trust>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {TRUST_COLS} FROM trust WHERE truster_id = ?1 \
                 ORDER BY score DESC, trusted_id"
            ))?
            .query_map([truster], trust_from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn reputation_by_tag(&mut self, agent_id: &str) -> Result<Vec<TagReputation>> {
        let mut per_tag: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT t.tags, r.score FROM ratings r JOIN tasks t ON t.id = r.task_id \
             WHERE r.rated_id = ?1 AND t.worker_id = ?1 AND t.status = 'approved' \
             AND t.tags IS NOT NULL",
        )?;
        let rows = stmt.query_map([agent_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (tags, score) = row?;
            for tag in json_list(Some(tags)).unwrap_or_default() {
                let entry = per_tag.entry(tag).or_default();
                entry.0 += score;
                entry.1 += 1;
            }
        }
        let mut out: Vec<TagReputation> = per_tag
            .into_iter()
            .map(|(tag, (sum, count))| TagReputation {
                tag,
                avg_rating: (sum as f64 / count as f64 * 100.0).round() / 100.0,
                count,
            })
            .collect();
        out.sort_by(|a, b| {
            b.avg_rating
                .total_cmp(&a.avg_rating)
                .then(b.count.cmp(&a.count))
        });
        Ok(out)
    }

    fn directory(&mut self, q: &AgentQuery, page: Page) -> Result<(Vec<Agent>, i64)> {
        let mut cond = format!("suspended = 0 AND id != '{PLATFORM_AGENT_ID}'");
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        if let Some(search) = q.search.as_deref().filter(|s| !s.is_empty()) {
            args.push(Box::new(search.to_ascii_lowercase()));
            cond.push_str(&format!(
                " AND instr(lower(coalesce(good_at, '')), ?{}) > 0",
                args.len()
            ));
        }
        if let Some(min) = q.min_reputation {
            args.push(Box::new(min));
            cond.push_str(&format!(" AND reputation >= ?{}", args.len()));
        }
        for tag in &q.tags {
            args.push(Box::new(format!("\"{}\"", tag.to_ascii_lowercase())));
            cond.push_str(&format!(
                " AND instr(lower(coalesce(capability_tags, '')), ?{}) > 0",
                args.len()
            ));
        }
        let total: i64 = self
            .conn
            .prepare_cached(&format!("SELECT count(*) FROM agents WHERE {cond}"))?
            .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
        let order = if q.by_tasks_completed {
            "tasks_completed"
        } else {
            "reputation"
        };
        let n = args.len();
        args.push(Box::new(page.limit));
        args.push(Box::new(page.offset));
        let agents = self
            .conn
            .prepare_cached(&format!(
                "SELECT {AGENT_COLS} FROM agents WHERE {cond} ORDER BY {order} DESC, seq \
                 LIMIT ?{} OFFSET ?{}",
                n + 1,
                n + 2
            ))?
            .query_map(params_from_iter(args.iter()), agent_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok((agents, total))
    }

    fn append_events(&mut self, events: &mut [Event], now: Millis) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO events (recipient, kind, task_id, data, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for event in events {
            let data = serde_json::to_string(&event.data).expect("JSON maps serialize");
            stmt.execute(params![
                event.recipient,
                event.kind.as_str(),
                event.task_id,
                data,
                now
            ])?;
            event.id = self.conn.last_insert_rowid();
            event.created_at = now;
        }
        Ok(())
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
            events.push(Event {
                id,
                kind,
                task_id,
                recipient: recipient.to_string(),
                data: serde_json::from_str(&data).unwrap_or_default(),
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

    fn webhook_url_of(&mut self, agent_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT webhook_url FROM agents WHERE id = ?1")?
            .query_row([agent_id], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten()
            .filter(|u| !u.is_empty()))
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
    ) -> Result<Vec<(WebhookDelivery, Option<String>)>> {
        let ids = self
            .conn
            .prepare_cached(
                "SELECT id FROM webhook_deliveries WHERE status = 'pending' \
                 AND next_attempt_at <= ?1 ORDER BY next_attempt_at, created_at LIMIT ?2",
            )?
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
                    Ok((delivery_from_row(r)?, r.get::<_, Option<String>>(13)?))
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

    fn webhook_deliveries_of(&mut self, recipient: &str) -> Result<Vec<WebhookDelivery>> {
        let rows = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.recipient = ?1 \
                 ORDER BY d.created_at, d.event_id"
            ))?
            .query_map([recipient], delivery_from_row)?
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

    fn books(&mut self) -> Result<(i64, i64, i64)> {
        Ok(self.conn.query_row(
            &format!(
                "SELECT (SELECT coalesce(sum(credits), 0) FROM agents), \
                 (SELECT coalesce(sum(max_credits), 0) FROM tasks WHERE is_system = 0 \
                  AND status IN ('posted', 'claimed', 'delivered')), \
                 (SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = '{MINT_ACCOUNT}') \
                 - (SELECT coalesce(sum(amount), 0) FROM ledger WHERE dst = '{MINT_ACCOUNT}')"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
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
             != (SELECT coalesce(sum(max_credits), 0) FROM tasks WHERE is_system = 0 \
                 AND status IN ('posted', 'claimed', 'delivered'))"
        ))?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }
}

const DELIVERY_COLUMNS: &str = "d.id, d.event_id, d.recipient, d.kind, d.url, d.body, d.status, \
    d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.finished_at";

fn delivery_from_row(r: &Row) -> rusqlite::Result<WebhookDelivery> {
    let status: String = r.get(6)?;
    Ok(WebhookDelivery {
        id: r.get(0)?,
        event_id: r.get(1)?,
        recipient: r.get(2)?,
        kind: r.get(3)?,
        url: r.get(4)?,
        body: r.get(5)?,
        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Failed),
        attempts: r.get(7)?,
        next_attempt_at: r.get(8)?,
        last_status: r.get(9)?,
        last_error: r.get(10)?,
        created_at: r.get(11)?,
        finished_at: r.get(12)?,
    })
}
