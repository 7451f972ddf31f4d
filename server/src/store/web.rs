//! What the web pages read and keep, written once for both backends: browser sessions, the
//! marketplace figures, and the operator's lists. Only parameter markers differ between
//! SQLite and PostgreSQL; each backend runs these queries with its own driver.

use super::Page;
use super::query::{Args, Dialect, Query};
use super::rows::{AGENT_COLS, Cells, TASK_COLS};
use crate::model::{Event, EventData, EventKind};
use crate::model::{MINT_ACCOUNT, Millis, PLATFORM_AGENT_ID, TaskStatus};
use std::collections::BTreeMap;

/// A signed-in browser: whose it is and until when. The session id itself is only in the
/// browser's cookie; the database keeps its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// Hex SHA-256 of the session id.
    pub digest: String,
    /// An agent's id, or the operator's subject.
    pub subject: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// A report waiting for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub id: String,
    pub task_id: String,
    pub reporter_id: String,
    pub reason: String,
    pub created_at: Millis,
}

/// A server node using the database, as its last heartbeat said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub version: String,
    pub started_at: Millis,
    pub seen_at: Millis,
}

/// Which tasks the operator lists: all, or those in one status, or those of one agent (as
/// poster or as worker), newest first.
#[derive(Debug, Clone, Default)]
pub struct TaskSearch {
    pub status: Option<TaskStatus>,
    pub agent: Option<String>,
}

/// One hour's movements of credits, from the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourFigures {
    /// Tasks posted (escrow taken).
    pub posted: i64,
    /// Tasks paid for (approved), and the credits paid to their workers.
    pub settled: i64,
    pub paid: i64,
    /// Tasks refunded (cancelled or expired).
    pub refunded: i64,
    pub fees: i64,
    /// System tasks the platform paid for, and what it paid.
    pub system_paid: i64,
    pub system_credits: i64,
}

/// The marketplace at a glance, for the landing page and the operator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MarketFigures {
    /// Agents (not the platform), and how many of them are suspended.
    pub agents: i64,
    pub suspended: i64,
    /// Active agents that do system work.
    pub infra_agents: i64,
    /// Open tasks (system tasks included) by status: posted, claimed, delivered.
    pub tasks_by_status: BTreeMap<String, i64>,
    /// Credits held for open tasks.
    pub escrow: i64,
    pub platform_balance: i64,
    /// System tasks waiting for an infra agent, and how many of them waited too long.
    pub system_open: i64,
    pub system_late: i64,
    /// Hour (ms since the epoch, on the hour) → its figures, for the hours asked for.
    pub hours: BTreeMap<Millis, HourFigures>,
    /// Webhook deliveries by status, and when the oldest pending one is due.
    pub webhooks: BTreeMap<String, i64>,
    pub webhook_oldest_due: Option<Millis>,
    pub open_reports: i64,
    /// The newest logged event's id and time.
    pub last_event: Option<(i64, Millis)>,
}

fn args(dialect: Dialect) -> Args {
    Args {
        dialect,
        args: Vec::new(),
    }
}

/// Every figure in one statement, none reading all tasks: tasks by open status (an index
/// range), the escrow from the books (minted less every balance: the credits that are in
/// no balance are in escrow), the ledger only from `since` on, agents and the webhook outbox
/// (bounded by its retention). Rows are (figure, key, n, a, b).
pub fn figures(dialect: Dialect, since: Millis, late_before: Millis) -> Query {
    // As the partial index on open system tasks is written in each schema.
    let yes = match dialect {
        Dialect::Sqlite => "1",
        Dialect::Postgres => "TRUE",
    };
    let mut a = args(dialect);
    let since = a.bind(since);
    let late = a.bind(late_before);
    let sql = format!(
        "SELECT 'status', status, count(*), 0, 0 FROM tasks \
           WHERE status IN ('posted', 'claimed', 'delivered') GROUP BY status \
         UNION ALL SELECT 'agents', '', count(*), \
           coalesce(sum(CASE WHEN suspended THEN 1 ELSE 0 END), 0), 0 \
           FROM agents WHERE id <> '{PLATFORM_AGENT_ID}' \
         UNION ALL SELECT 'infra', '', count(*), 0, 0 FROM agents \
           WHERE accepts_system_tasks = TRUE AND suspended = FALSE \
         UNION ALL SELECT 'escrow', '', \
           CAST((SELECT coalesce(sum(amount), 0) FROM ledger WHERE src = '{MINT_ACCOUNT}') \
           - (SELECT coalesce(sum(amount), 0) FROM ledger WHERE dst = '{MINT_ACCOUNT}') \
           - (SELECT coalesce(sum(credits), 0) FROM agents) AS BIGINT), 0, 0 \
         UNION ALL SELECT 'platform', '', credits, 0, 0 FROM agents \
           WHERE id = '{PLATFORM_AGENT_ID}' \
         UNION ALL SELECT 'system', '', count(*), \
           coalesce(sum(CASE WHEN created_at < {late} THEN 1 ELSE 0 END), 0), 0 \
           FROM tasks WHERE is_system = {yes} AND status = 'posted' \
         UNION ALL SELECT 'hour', \
           reason || CASE WHEN src = '{PLATFORM_AGENT_ID}' THEN ':system' ELSE '' END, \
           created_at / 3600000, count(*), CAST(sum(amount) AS BIGINT) \
           FROM ledger WHERE reason IN ('escrow', 'payment', 'refund', 'platform_fee') \
           AND created_at >= {since} \
           GROUP BY reason, src = '{PLATFORM_AGENT_ID}', created_at / 3600000 \
         UNION ALL SELECT 'webhooks', status, count(*), coalesce(min(next_attempt_at), 0), 0 \
           FROM webhook_deliveries GROUP BY status \
         UNION ALL SELECT 'reports', '', count(*), 0, 0 FROM reports WHERE status = 'open' \
         UNION ALL SELECT 'event', '', id, created_at, 0 \
           FROM (SELECT id, created_at FROM events ORDER BY id DESC LIMIT 1) e"
    );
    Query { sql, args: a.args }
}

/// Folds the rows of `figures` into the figures.
pub fn figures_from(rows: Vec<FigureRow>) -> MarketFigures {
    let mut f = MarketFigures::default();
    for (figure, key, value, extra, credits) in rows {
        match figure.as_str() {
            "status" => {
                f.tasks_by_status.insert(key, value);
            }
            "agents" => (f.agents, f.suspended) = (value, extra),
            "infra" => f.infra_agents = value,
            "escrow" => f.escrow = value,
            "platform" => f.platform_balance = value,
            "system" => (f.system_open, f.system_late) = (value, extra),
            "hour" => {
                let count = extra;
                let hour = f.hours.entry(value * 3_600_000).or_default();
                match key.as_str() {
                    "escrow" => hour.posted += count,
                    "payment" => (hour.settled, hour.paid) = (count, credits),
                    "payment:system" => (hour.system_paid, hour.system_credits) = (count, credits),
                    "refund" | "refund:system" => hour.refunded += count,
                    "platform_fee" => hour.fees += credits,
                    _ => {}
                }
            }
            "webhooks" => {
                if key == "pending" && value > 0 {
                    f.webhook_oldest_due = Some(extra);
                }
                f.webhooks.insert(key, value);
            }
            "reports" => f.open_reports = value,
            "event" => f.last_event = Some((value, extra)),
            _ => {}
        }
    }
    f
}

/// A row of `figures`: (figure, key, n, a, b).
pub type FigureRow = (String, String, i64, i64, i64);

pub fn figure_row<R: Cells>(r: &R) -> Result<FigureRow, R::Error> {
    Ok((r.text(0)?, r.text(1)?, r.int(2)?, r.int(3)?, r.int(4)?))
}

/// Agents of any standing, newest first: all of them, or those whose id is `search` or whose
/// name contains it (case-insensitive); only infra agents when `infra`.
pub fn agents(dialect: Dialect, search: Option<&str>, infra: bool, page: Page) -> Query {
    let mut a = args(dialect);
    let mut cond = format!("id <> '{PLATFORM_AGENT_ID}'");
    if infra {
        cond.push_str(" AND accepts_system_tasks = TRUE");
    }
    if let Some(search) = search.filter(|s| !s.is_empty()) {
        let exact = a.bind(search.to_string());
        let folded = format!("lower({})", a.bind(search.to_string()));
        let found = dialect.contains("lower(name)", &folded);
        cond.push_str(&format!(" AND (id = {exact} OR {found})"));
    }
    let limit = a.bind(page.limit);
    let offset = a.bind(page.offset);
    Query {
        sql: format!(
            "SELECT {AGENT_COLS} FROM agents WHERE {cond} ORDER BY seq DESC \
             LIMIT {limit} OFFSET {offset}"
        ),
        args: a.args,
    }
}

/// Tasks (system tasks included), newest first, as `search` narrows them. An agent's tasks
/// come from the poster and worker indexes, each bounded by the page.
pub fn tasks(dialect: Dialect, search: &TaskSearch, page: Page) -> Query {
    let mut a = args(dialect);
    let mut conds = Vec::new();
    if let Some(status) = search.status {
        conds.push(format!("status = {}", a.bind(status.as_str().to_string())));
    }
    let limit = a.bind(page.limit);
    let offset = a.bind(page.offset);
    let sql = match &search.agent {
        None => {
            let cond = match conds.is_empty() {
                true => String::new(),
                false => format!("WHERE {}", conds.join(" AND ")),
            };
            format!(
                "SELECT {TASK_COLS} FROM tasks {cond} ORDER BY seq DESC LIMIT {limit} OFFSET {offset}"
            )
        }
        Some(agent) => {
            let extra: String = conds.iter().map(|c| format!(" AND {c}")).collect();
            let window = a.bind(page.limit + page.offset);
            let side = |a: &mut Args, column: &str| {
                let agent = a.bind(agent.clone());
                format!(
                    "SELECT seq FROM (SELECT seq FROM tasks WHERE {column} = {agent}{extra} \
                     ORDER BY seq DESC LIMIT {window}) AS {column}_side"
                )
            };
            let (posted, worked) = (side(&mut a, "poster_id"), side(&mut a, "worker_id"));
            format!(
                "SELECT {TASK_COLS} FROM tasks WHERE seq IN ({posted} UNION {worked}) \
                 ORDER BY seq DESC LIMIT {limit} OFFSET {offset}"
            )
        }
    };
    Query { sql, args: a.args }
}

/// Open reports, newest first.
pub fn open_reports(dialect: Dialect, limit: i64) -> Query {
    let mut a = args(dialect);
    let limit = a.bind(limit);
    Query {
        sql: format!(
            "SELECT id, task_id, reporter_id, reason, created_at FROM reports \
             WHERE status = 'open' ORDER BY seq DESC LIMIT {limit}"
        ),
        args: a.args,
    }
}

/// Marks an open report as dealt with.
pub fn resolve_report(dialect: Dialect, id: &str) -> Query {
    let mut a = args(dialect);
    let id = a.bind(id.to_string());
    Query {
        sql: format!("UPDATE reports SET status = 'resolved' WHERE id = {id} AND status = 'open'"),
        args: a.args,
    }
}

/// A node's heartbeat: it is alive, at this version.
pub fn node_seen(dialect: Dialect, node: &Node) -> Query {
    let mut a = args(dialect);
    let (id, version) = (a.bind(node.id.clone()), a.bind(node.version.clone()));
    let (started, seen) = (a.bind(node.started_at), a.bind(node.seen_at));
    Query {
        sql: format!(
            "INSERT INTO nodes (id, version, started_at, seen_at) \
             VALUES ({id}, {version}, {started}, {seen}) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, seen_at = excluded.seen_at"
        ),
        args: a.args,
    }
}

/// Forgets nodes not seen since `before`.
pub fn forget_nodes(dialect: Dialect, before: Millis) -> Query {
    let mut a = args(dialect);
    let before = a.bind(before);
    Query {
        sql: format!("DELETE FROM nodes WHERE seen_at < {before}"),
        args: a.args,
    }
}

/// The nodes seen since `since`, oldest first (a handful of rows).
pub fn nodes(dialect: Dialect, since: Millis) -> Query {
    let mut a = args(dialect);
    let since = a.bind(since);
    Query {
        sql: format!(
            "SELECT id, version, started_at, seen_at FROM nodes WHERE seen_at >= {since} \
             ORDER BY started_at, id"
        ),
        args: a.args,
    }
}

pub fn node_from<R: Cells>(r: &R) -> Result<Node, R::Error> {
    Ok(Node {
        id: r.text(0)?,
        version: r.text(1)?,
        started_at: r.int(2)?,
        seen_at: r.int(3)?,
    })
}

pub fn report_from<R: Cells>(r: &R) -> Result<Report, R::Error> {
    Ok(Report {
        id: r.text(0)?,
        task_id: r.text(1)?,
        reporter_id: r.text(2)?,
        reason: r.text(3)?,
        created_at: r.int(4)?,
    })
}

/// A task's logged events, oldest first: all of them, or those sent to `recipient`.
pub fn task_events(dialect: Dialect, task_id: &str, recipient: Option<&str>, limit: i64) -> Query {
    let mut a = args(dialect);
    let mut cond = format!("task_id = {}", a.bind(task_id.to_string()));
    if let Some(recipient) = recipient {
        cond.push_str(&format!(
            " AND recipient = {}",
            a.bind(recipient.to_string())
        ));
    }
    let limit = a.bind(limit);
    Query {
        sql: format!(
            "SELECT id, kind, task_id, data, created_at, recipient FROM events WHERE {cond} \
             ORDER BY id LIMIT {limit}"
        ),
        args: a.args,
    }
}

/// The live session with this digest.
pub fn session(dialect: Dialect, digest: &str, now: Millis) -> Query {
    let mut a = args(dialect);
    let (digest, now) = (a.bind(digest.to_string()), a.bind(now));
    Query {
        sql: format!(
            "SELECT digest, subject, created_at, expires_at FROM web_sessions \
             WHERE digest = {digest} AND expires_at > {now}"
        ),
        args: a.args,
    }
}

/// Ends one session (by digest) or every session of a subject.
pub fn end_sessions(dialect: Dialect, column: SessionKey, value: &str) -> Query {
    let mut a = args(dialect);
    let value = a.bind(value.to_string());
    let column = match column {
        SessionKey::Digest => "digest",
        SessionKey::Subject => "subject",
    };
    Query {
        sql: format!("DELETE FROM web_sessions WHERE {column} = {value}"),
        args: a.args,
    }
}

/// Which sessions `end_sessions` ends.
#[derive(Debug, Clone, Copy)]
pub enum SessionKey {
    Digest,
    Subject,
}

/// An event row of `task_events` (None for a kind this server does not know).
pub fn event_from<R: Cells>(r: &R) -> Result<Option<Event>, R::Error> {
    let Some(kind) = EventKind::parse(&r.text(1)?) else {
        return Ok(None);
    };
    let data = serde_json::from_str(&r.text(3)?).unwrap_or_default();
    let Ok(data) = EventData::from_parts(kind, data) else {
        return Ok(None);
    };
    Ok(Some(Event {
        id: r.int(0)?,
        task_id: r.text(2)?,
        recipient: r.text(5)?,
        data,
        created_at: r.int(4)?,
    }))
}

pub fn session_from<R: Cells>(r: &R) -> Result<WebSession, R::Error> {
    Ok(WebSession {
        digest: r.text(0)?,
        subject: r.text(1)?,
        created_at: r.int(2)?,
        expires_at: r.int(3)?,
    })
}

/// The statements of `Transaction::open_web_session`, in order: forget expired sessions, count the
/// live ones, drop the subject's oldest beyond `keep`, insert.
pub struct SessionSql {
    pub prune: Query,
    pub count: Query,
    pub trim: Query,
    pub insert: Query,
}

pub fn open_session(dialect: Dialect, s: &WebSession, keep: i64) -> SessionSql {
    let prune = {
        let mut a = args(dialect);
        let now = a.bind(s.created_at);
        Query {
            sql: format!("DELETE FROM web_sessions WHERE expires_at <= {now}"),
            args: a.args,
        }
    };
    let count = Query {
        sql: "SELECT count(*) FROM web_sessions".into(),
        args: Vec::new(),
    };
    let trim = {
        let mut a = args(dialect);
        let subject = a.bind(s.subject.clone());
        let keep = a.bind(keep);
        // SQLite needs a LIMIT before OFFSET; -1 is none.
        let all = match dialect {
            Dialect::Sqlite => "LIMIT -1 ",
            Dialect::Postgres => "",
        };
        Query {
            sql: format!(
                "DELETE FROM web_sessions WHERE digest IN (SELECT digest FROM web_sessions \
                 WHERE subject = {subject} ORDER BY seq DESC {all}OFFSET {keep})"
            ),
            args: a.args,
        }
    };
    let insert = {
        let mut a = args(dialect);
        let (digest, subject, created, expires) = (
            a.bind(s.digest.clone()),
            a.bind(s.subject.clone()),
            a.bind(s.created_at),
            a.bind(s.expires_at),
        );
        Query {
            sql: format!(
                "INSERT INTO web_sessions (digest, subject, created_at, expires_at) \
                 VALUES ({digest}, {subject}, {created}, {expires})"
            ),
            args: a.args,
        }
    };
    SessionSql {
        prune,
        count,
        trim,
        insert,
    }
}
