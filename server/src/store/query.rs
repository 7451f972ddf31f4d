//! The queries whose shape depends on the caller's filters (open tasks, the agent directory,
//! an agent's tasks), built once for both backends: only parameter markers and substring search differ between
//! SQLite and PostgreSQL.

use super::rows::{AGENT_COLS, T_TASK_COLS, TASK_COLS};
use super::sql::Cell;
use super::{AgentQuery, OpenTaskFilter, Page, Role};
use crate::model::{PLATFORM_AGENT_ID, TaskStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The marker of parameter `n` (1-based).
    fn param(self, n: usize) -> String {
        match self {
            Self::Sqlite => format!("?{n}"),
            Self::Postgres => format!("${n}"),
        }
    }

    /// True when `needle` occurs in `haystack` (both SQL expressions).
    pub fn contains(self, haystack: &str, needle: &str) -> String {
        match self {
            Self::Sqlite => format!("instr({haystack}, {needle}) > 0"),
            Self::Postgres => format!("strpos({haystack}, {needle}) > 0"),
        }
    }
}

/// A query and its parameters, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub sql: String,
    pub args: Vec<Cell>,
}

/// Collects parameters while a query is written.
pub(super) struct Args {
    pub dialect: Dialect,
    pub args: Vec<Cell>,
}

impl Args {
    pub(super) fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            args: Vec::new(),
        }
    }

    /// The query `sql` with the parameters bound so far, which stay bound for the next.
    pub(super) fn query_so_far(&self, sql: String) -> Query {
        Query {
            sql,
            args: self.args.clone(),
        }
    }

    /// The query `sql`, with the parameters bound so far.
    pub(super) fn query(self, sql: String) -> Query {
        Query {
            sql,
            args: self.args,
        }
    }

    /// Adds a parameter; returns its marker.
    pub fn bind(&mut self, arg: impl Into<Cell>) -> String {
        let arg = arg.into();
        self.args.push(arg);
        self.dialect.param(self.args.len())
    }
}

/// Open tasks the viewer may claim, in pickup order, selecting the task columns, the
/// poster's reputation and the viewer's match rank (see `Transaction::claimable`): one page of
/// them, and the count of them all.
pub fn open_tasks(dialect: Dialect, filter: &OpenTaskFilter, page: Page) -> (Query, Query) {
    let mut args = Args {
        dialect,
        args: Vec::new(),
    };
    let viewer = args.bind(filter.viewer.clone());
    let mut from = format!(
        "{}, coalesce(a.reputation, 0.0) AS poster_reputation, \
         CASE WHEN t.match_status = 'matched' THEN m.rank END AS match_rank FROM tasks t \
         LEFT JOIN task_matches m ON m.task_id = t.id AND m.agent_id = {viewer} \
         LEFT JOIN agents a ON a.id = t.poster_id \
         LEFT JOIN trust tr ON tr.truster_id = t.poster_id AND tr.trusted_id = {viewer} \
         WHERE t.status = 'posted' AND t.is_system = FALSE AND t.poster_id <> {viewer} \
         AND (t.match_status IN ('broadcast', 'pending') \
              OR (t.match_status = 'matched' AND m.agent_id IS NOT NULL)) \
         AND NOT EXISTS (SELECT 1 FROM tasks s WHERE s.parent_task_id = t.id \
                         AND s.worker_id = {viewer})",
        T_TASK_COLS.as_str()
    );
    for tag in &filter.tags {
        let tag = args.bind(format!(",{},", tag.to_lowercase()));
        let found = dialect.contains("coalesce(t.tags_key, '')", &tag);
        from.push_str(&format!(" AND {found}"));
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.is_empty()) {
        // lower() on both sides: SQLite's folds ASCII only, PostgreSQL's every letter, and
        // each backend must fold the search as it folds the text.
        let search = format!("lower({})", args.bind(search.to_string()));
        let in_need = dialect.contains("lower(t.need)", &search);
        let in_context = dialect.contains("lower(coalesce(t.context, ''))", &search);
        from.push_str(&format!(" AND ({in_need} OR {in_context})"));
    }
    let count = Query {
        sql: format!("SELECT count(*) AS n FROM (SELECT {from}) AS open_tasks"),
        args: args.args.clone(),
    };
    // Matched tasks first, by rank then age; then the rest, sharing more tags with the viewer
    // first, then by poster reputation, the poster's trust in the viewer, and age.
    let mut order = String::from(
        "(t.match_status <> 'matched'), CASE WHEN t.match_status = 'matched' THEN m.rank END, \
         CASE WHEN t.match_status = 'matched' THEN t.seq END, ",
    );
    let overlap: Vec<String> = filter
        .capability_tags
        .iter()
        .map(|tag| {
            let tag = args.bind(format!(",{},", tag.to_lowercase()));
            let shared = dialect.contains("coalesce(t.tags_key, '')", &tag);
            format!("CASE WHEN {shared} THEN 1 ELSE 0 END")
        })
        .collect();
    if !overlap.is_empty() {
        order.push_str(&format!("{} DESC, ", overlap.join(" + ")));
    }
    order.push_str("coalesce(a.reputation, 0.0) DESC, coalesce(tr.score, 0.5) DESC, t.seq");
    let limit = args.bind(page.limit);
    let offset = args.bind(page.offset);
    let tasks = Query {
        sql: format!("SELECT {from} ORDER BY {order} LIMIT {limit} OFFSET {offset}"),
        args: args.args,
    };
    (tasks, count)
}

/// Open system tasks the viewer may do, oldest first, shaped as `open_tasks` rows (no poster
/// reputation, no rank).
pub fn system_tasks(dialect: Dialect, viewer: &str, limit: i64) -> Query {
    let mut args = Args {
        dialect,
        args: Vec::new(),
    };
    let viewer = args.bind(viewer.to_string());
    let excluded = dialect.contains(
        "coalesce(t.excluded_agents, '')",
        &format!("',' || {viewer} || ','"),
    );
    let limit = args.bind(limit);
    Query {
        sql: format!(
            "SELECT {}, CAST(0.0 AS DOUBLE PRECISION) AS poster_reputation, \
             CAST(NULL AS BIGINT) AS match_rank FROM tasks t \
             WHERE t.is_system AND t.status = 'posted' AND NOT ({excluded}) \
             ORDER BY t.seq LIMIT {limit}",
            T_TASK_COLS.as_str()
        ),
        args: args.args,
    }
}

/// Records one outcome between truster and trusted in one statement (so outcomes recorded at
/// once on several nodes all count): the score starts at 0.5 and moves up by `0.1·(1 − s)`
/// after a good outcome or down to `0.9·s` after a bad one, rounded to 6 decimals. `mutual`
/// records it both ways in the same statement (the two must differ).
/// Parameters: truster, trusted, good (a boolean), now.
pub fn adjust_trust(dialect: Dialect, mutual: bool) -> &'static str {
    static SQL: std::sync::LazyLock<[[String; 2]; 2]> = std::sync::LazyLock::new(|| {
        [Dialect::Sqlite, Dialect::Postgres].map(|dialect| {
            let step = |s: &str| {
                let next = format!("CASE WHEN $3 THEN {s} + 0.1 * (1.0 - {s}) ELSE {s} * 0.9 END");
                match dialect {
                    Dialect::Sqlite => format!("round({next}, 6)"),
                    Dialect::Postgres => format!("round(({next})::numeric, 6)::float8"),
                }
            };
            let first = step("0.5");
            [false, true].map(|mutual| {
                let back = match mutual {
                    true => format!(", ($2, $1, {first}, 1, $4)"),
                    false => String::new(),
                };
                format!(
                    "INSERT INTO trust AS tr (truster_id, trusted_id, score, interactions, \
                     updated_at) VALUES ($1, $2, {first}, 1, $4){back} \
                     ON CONFLICT (truster_id, trusted_id) DO UPDATE SET \
                     score = {}, interactions = tr.interactions + 1, updated_at = $4",
                    step("tr.score"),
                )
            })
        })
    });
    &SQL[dialect as usize][mutual as usize]
}

/// A page of the public directory (active agents, not the platform), best first, and the
/// count of them all.
pub fn directory(dialect: Dialect, q: &AgentQuery, page: Page) -> (Query, Query) {
    let mut args = Args {
        dialect,
        args: Vec::new(),
    };
    let mut cond = format!("suspended = FALSE AND id <> '{PLATFORM_AGENT_ID}'");
    if let Some(search) = q.search.as_deref().filter(|s| !s.is_empty()) {
        let search = format!("lower({})", args.bind(search.to_string()));
        let found = dialect.contains("lower(coalesce(good_at, ''))", &search);
        cond.push_str(&format!(" AND {found}"));
    }
    if let Some(min) = q.min_reputation {
        cond.push_str(&format!(
            " AND reputation >= {}",
            args.bind(Cell::Real(min))
        ));
    }
    for tag in &q.tags {
        // Tags are kept as a JSON list: look for the quoted tag.
        let tag = format!("lower({})", args.bind(format!("\"{tag}\"")));
        let found = dialect.contains("lower(coalesce(capability_tags, ''))", &tag);
        cond.push_str(&format!(" AND {found}"));
    }
    let count = Query {
        sql: format!("SELECT count(*) AS n FROM agents WHERE {cond}"),
        args: args.args.clone(),
    };
    let order = if q.by_tasks_completed {
        "tasks_completed"
    } else {
        "reputation"
    };
    let limit = args.bind(page.limit);
    let offset = args.bind(page.offset);
    let agents = Query {
        sql: format!(
            "SELECT {AGENT_COLS} FROM agents WHERE {cond} ORDER BY {order} DESC, seq \
             LIMIT {limit} OFFSET {offset}"
        ),
        args: args.args,
    };
    (agents, count)
}

/// A page of the agent's tasks (not system tasks) in one role or both, newest first, and the
/// count of them all.
pub fn tasks_of(
    dialect: Dialect,
    agent_id: &str,
    role: Option<Role>,
    status: Option<TaskStatus>,
    page: Page,
) -> (Query, Query) {
    let mut args = Args {
        dialect,
        args: Vec::new(),
    };
    let agent = args.bind(agent_id.to_string());
    let mut cond = match role {
        Some(Role::Poster) => format!("poster_id = {agent}"),
        Some(Role::Worker) => format!("worker_id = {agent}"),
        None => format!("(poster_id = {agent} OR worker_id = {agent})"),
    };
    cond.push_str(" AND is_system = FALSE");
    if let Some(status) = status {
        let status = args.bind(status.as_str().to_string());
        cond.push_str(&format!(" AND status = {status}"));
    }
    let count = Query {
        sql: format!("SELECT count(*) AS n FROM tasks WHERE {cond}"),
        args: args.args.clone(),
    };
    let limit = args.bind(page.limit);
    let offset = args.bind(page.offset);
    let tasks = Query {
        sql: format!(
            "SELECT {TASK_COLS} FROM tasks WHERE {cond} ORDER BY seq DESC \
             LIMIT {limit} OFFSET {offset}"
        ),
        args: args.args,
    };
    (tasks, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_in_order_in_each_dialect() {
        let filter = OpenTaskFilter {
            viewer: "ag-1".into(),
            tags: vec!["Rust".into()],
            search: Some("Über".into()),
            capability_tags: vec!["sql".into()],
        };
        let page = Page {
            limit: 5,
            offset: 10,
        };
        for (dialect, marker) in [(Dialect::Sqlite, "?"), (Dialect::Postgres, "$")] {
            let (tasks, count) = open_tasks(dialect, &filter, page);
            assert_eq!(
                tasks.args,
                vec![
                    Cell::from("ag-1".to_string()),
                    Cell::from(",rust,".to_string()),
                    Cell::from("Über".to_string()),
                    Cell::from(",sql,".to_string()),
                    Cell::from(5),
                    Cell::from(10),
                ]
            );
            // The count binds only what its WHERE uses.
            assert_eq!(count.args, tasks.args[..3]);
            assert!(
                tasks
                    .sql
                    .contains(&format!("LIMIT {marker}5 OFFSET {marker}6"))
            );
            assert!(!count.sql.contains(&format!("{marker}4")));
        }
    }
}
