//! The queries whose shape depends on the caller's filters (open tasks, the agent directory,
//! an agent's tasks), built once for both backends: only parameter markers and substring search differ between
//! SQLite and PostgreSQL.

use super::cursor::Key;
use super::rows::{AGENT_COLS, T_TASK_COLS, TASK_COLS};
use super::sql::Cell;
use super::{AgentQuery, OpenTaskFilter, Page, Role};
use crate::model::{PLATFORM_AGENT_ID, TaskStatus};
use pinchwork_api::limits::MAX_COUNTED;

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

    /// Makes SQLite read a table through the named index (PostgreSQL needs no hint).
    fn index_hint(self, index: &str) -> String {
        match self {
            Self::Sqlite => format!(" INDEXED BY {index}"),
            Self::Postgres => String::new(),
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

/// How many tasks past the page each candidate list of `open_tasks` offers: the margin by
/// which the viewer-dependent order (tag overlap, trust) may reach past the page.
pub const CANDIDATE_SLACK: i64 = 50;

/// How many of the open tasks browsing shows in pickup order; past them, by poster reputation
/// then age (an index range, however deep the page).
pub const RELEVANT: i64 = 100;

/// The parts the open-task queries share, their common parameters bound: the viewer, the
/// filters, and which board list holds the tasks that pass them.
struct OpenTasks<'a> {
    filter: &'a OpenTaskFilter,
    args: Args,
    /// The viewer's marker.
    viewer: String,
    /// What a board row `g` must pass besides being on its list.
    passes: String,
    /// The tag of the board list: the first filter tag, or the empty tag (every open task).
    board: String,
    /// The seqs of the open tasks matched to the viewer.
    matched: String,
    /// The viewer's match rank and the poster's trust in the viewer of a task `t` (and
    /// `POSTER_REPUTATION`, the same for every viewer). Each is one index lookup, written as
    /// a subquery rather than a join: PostgreSQL plans these statements again on each run
    /// when the board is large (the plan for their values is then far cheaper than the
    /// generic one), and with one table to join instead of four, planning costs a fraction
    /// of what it did.
    rank: String,
    trust: String,
    /// The conditions on a task `t` (the filters as they always were: the lists bound the
    /// rows read, and the result on them is what it always was).
    conds: String,
}

impl<'a> OpenTasks<'a> {
    fn new(dialect: Dialect, filter: &'a OpenTaskFilter) -> Self {
        let mut args = Args::new(dialect);
        let viewer = args.bind(filter.viewer.clone());
        let mut passes = format!("g.poster_id <> {viewer}");
        if filter.check_system_work {
            passes.push_str(&no_system_work_by(&viewer, "g.task_id"));
        }
        let tags: Vec<String> = filter
            .tags
            .iter()
            .map(|tag| args.bind(tag.to_lowercase()))
            .collect();
        for tag in tags.iter().skip(1) {
            passes.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM open_task_tags f WHERE f.tag = {tag} \
                 AND f.seq = g.seq)"
            ));
        }
        let search = filter.search.as_deref().filter(|s| !s.is_empty());
        if let Some(search) = search {
            passes.push_str(&format!(" AND {}", text_search(&mut args, "g.seq", search)));
        }
        let board = match tags.first() {
            Some(tag) => tag.clone(),
            None => args.bind(String::new()),
        };
        let matched = format!(
            // CROSS JOIN: SQLite joins in the order written, from the viewer's matches.
            "SELECT mt.seq FROM task_matches mm CROSS JOIN tasks mt \
             WHERE mt.id = mm.task_id AND mm.agent_id = {viewer} AND mt.status = 'posted' \
             AND mt.match_status = 'matched'"
        );
        let rank = format!(
            "(SELECT m.rank FROM task_matches m WHERE m.task_id = t.id AND m.agent_id = {viewer})"
        );
        let trust = format!(
            "coalesce((SELECT tr.score FROM trust tr WHERE tr.truster_id = t.poster_id \
             AND tr.trusted_id = {viewer}), 0.5)"
        );
        let mut conds = format!(
            "t.status = 'posted' AND t.is_system = FALSE AND t.poster_id <> {viewer} \
             AND (t.match_status IN ('broadcast', 'pending') \
                  OR (t.match_status = 'matched' AND {rank} IS NOT NULL))"
        );
        if filter.check_system_work {
            conds.push_str(&no_system_work_by(&viewer, "t.id"));
        }
        let dialect = args.dialect;
        for tag in &tags {
            let found =
                dialect.contains("coalesce(t.tags_key, '')", &format!("',' || {tag} || ','"));
            conds.push_str(&format!(" AND {found}"));
        }
        if let Some(search) = search {
            // The text index folds case as the backend's lower() does or better.
            let search = format!("lower({})", args.bind(search.to_string()));
            let in_need = dialect.contains("lower(t.need)", &search);
            let in_context = dialect.contains("lower(coalesce(t.context, ''))", &search);
            conds.push_str(&format!(" AND ({in_need} OR {in_context})"));
        }
        Self {
            filter,
            args,
            viewer,
            passes,
            board,
            matched,
            rank,
            trust,
            conds,
        }
    }

    /// Whether the board rows that pass the filters are those of the board's tag less the
    /// viewer's own, which SQLite counts by tag (`open_board_sizes`): no text search, no tag
    /// beyond the first, and no system work the viewer did to look for.
    fn board_is_counted_by_tag(&self) -> bool {
        self.args.dialect == Dialect::Sqlite
            && self.filter.search.is_none()
            && self.filter.tags.len() <= 1
            && !self.filter.check_system_work
    }

    /// The first `size` rows of board list `tag` that pass the filters.
    fn list(&self, tag: &str, size: &str) -> String {
        format!(
            "SELECT seq FROM (SELECT g.seq FROM open_task_tags g WHERE g.tag = {tag} \
             AND {} ORDER BY g.poster_reputation DESC, g.seq LIMIT {size}) AS w",
            self.passes
        )
    }

    /// The candidates (lists of `size`) and the order on them, in pickup order: matched
    /// tasks first, by rank then age; then the rest, sharing more tags with the viewer first,
    /// then by poster reputation, the poster's trust in the viewer, and age.
    fn ordered(&mut self, size: i64) -> (String, String) {
        let size = self.args.bind(size);
        let mut candidates = vec![self.matched.clone(), self.list(&self.board, &size)];
        let mut order = format!(
            "(t.match_status <> 'matched'), {}, CASE WHEN t.match_status = 'matched' THEN t.seq END, ",
            self.match_rank()
        );
        let mut overlap = Vec::new();
        for tag in &self.filter.capability_tags {
            let tag = self.args.bind(tag.to_lowercase());
            candidates.push(self.list(&tag, &size));
            let shared = self
                .args
                .dialect
                .contains("coalesce(t.tags_key, '')", &format!("',' || {tag} || ','"));
            overlap.push(format!("CASE WHEN {shared} THEN 1 ELSE 0 END"));
        }
        if !overlap.is_empty() {
            order.push_str(&format!("{} DESC, ", overlap.join(" + ")));
        }
        order.push_str(&format!(
            "{POSTER_REPUTATION} DESC, {} DESC, t.seq",
            self.trust
        ));
        (candidates.join(" UNION "), order)
    }

    /// The viewer's rank of a task matched to the viewer (NULL for the others).
    fn match_rank(&self) -> String {
        format!(
            "CASE WHEN t.match_status = 'matched' THEN {} END",
            self.rank
        )
    }

    /// The task columns, the poster's reputation and the viewer's match rank.
    fn cols(&self) -> String {
        format!(
            "{}, {POSTER_REPUTATION} AS poster_reputation, {} AS match_rank",
            T_TASK_COLS.as_str(),
            self.match_rank()
        )
    }
}

/// The reputation of the poster of a task `t` (a lookup, as `OpenTasks::rank` says why).
const POSTER_REPUTATION: &str =
    "coalesce((SELECT a.reputation FROM agents a WHERE a.id = t.poster_id), 0.0)";

/// The condition that the viewer did no system work about the task whose id is `task`.
fn no_system_work_by(viewer: &str, task: &str) -> String {
    format!(
        " AND NOT EXISTS (SELECT 1 FROM tasks s WHERE s.parent_task_id = {task} \
         AND s.worker_id = {viewer})"
    )
}

/// Open tasks the viewer may claim, in pickup order (see `Transaction::claimable`): `limit`
/// of them after `offset`, ordered among candidate lists of `size`.
///
/// Cost does not grow with the board. The order is computed over a bounded candidate set: the
/// tasks matched to the viewer, and, from the open board (`open_task_tags`), the first `size`
/// tasks by poster reputation then age among all that pass the filters, and as many among
/// those carrying each of the viewer's capability tags. Every list is an index range; the
/// filters are checked on the rows read.
pub fn open_tasks(
    dialect: Dialect,
    filter: &OpenTaskFilter,
    limit: i64,
    offset: i64,
    size: i64,
) -> Query {
    let mut q = OpenTasks::new(dialect, filter);
    let (candidates, order) = q.ordered(size);
    let limit = q.args.bind(limit);
    let offset = q.args.bind(offset);
    let cols = q.cols();
    q.args.query(format!(
        "SELECT {} FROM tasks t WHERE {} AND t.seq IN ({candidates}) ORDER BY {order} \
         LIMIT {limit} OFFSET {offset}",
        cols, q.conds,
    ))
}

/// How many open tasks the viewer may claim: those matched to the viewer, and those on the
/// board that pass the filters, counted up to `MAX_COUNTED + 1` (its order index holds the
/// poster and the task, so the count reads it alone) or, on SQLite, read from the board's
/// count for its tag less the viewer's own.
pub fn count_open_tasks(dialect: Dialect, filter: &OpenTaskFilter) -> Query {
    let mut q = OpenTasks::new(dialect, filter);
    let cap = q.args.bind(MAX_COUNTED + 1);
    let (board, viewer) = (&q.board, &q.viewer);
    let counted = format!(
        "(SELECT count(*) FROM (SELECT 1 FROM open_task_tags g WHERE g.tag = {board} AND {} \
          LIMIT {cap}) AS board_n)",
        q.passes
    );
    let on_board = if q.board_is_counted_by_tag() {
        // The viewer's own are an index range of the poster's rows (by the tag's, SQLite
        // would read the whole board), read up to the cap: past it, the board is counted.
        format!(
            "(SELECT CASE WHEN own.n < {cap} \
                 THEN coalesce((SELECT n FROM open_board_sizes WHERE tag = {board}), 0) - own.n \
                 ELSE {counted} END \
              FROM (SELECT count(*) AS n FROM (SELECT 1 FROM open_task_tags o{} \
                    WHERE o.poster_id = {viewer} AND o.tag = {board} LIMIT {cap}) AS own_n) \
                   AS own)",
            dialect.index_hint("open_task_tags_by_poster")
        )
    } else {
        counted
    };
    q.args.query(format!(
        "SELECT (SELECT count(*) FROM (SELECT t.id FROM tasks t WHERE {} \
                 AND t.seq IN ({})) AS matched_n) + {on_board} AS n",
        q.conds, q.matched,
    ))
}

/// The open tasks past the first `relevant` of the pickup order (those computed over lists of
/// `size`), by poster reputation then age: `limit` of them after the board row `after`
/// (its poster reputation and seq) or after skipping `skip`. Each row also has its board key
/// (`board_reputation`, `seq`) for the next page's cursor.
pub fn rest_of_open_tasks(
    dialect: Dialect,
    filter: &OpenTaskFilter,
    relevant: i64,
    size: i64,
    after: Option<(f64, i64)>,
    skip: i64,
    limit: i64,
) -> Query {
    let mut q = OpenTasks::new(dialect, filter);
    let (candidates, order) = q.ordered(size);
    let relevant = q.args.bind(relevant);
    let mut cond = format!(
        "g.seq NOT IN (SELECT t.seq FROM tasks t WHERE {} AND t.seq IN ({candidates}) \
         ORDER BY {order} LIMIT {relevant})",
        q.conds,
    );
    if let Some((reputation, seq)) = after {
        let reputation = q.args.bind(Cell::Real(reputation));
        let seq = q.args.bind(seq);
        // The first term is the index range; the second starts it after the row.
        cond.push_str(&format!(
            " AND g.poster_reputation <= {reputation} \
             AND (g.poster_reputation < {reputation} OR g.seq > {seq})"
        ));
    }
    let limit = q.args.bind(limit);
    let skip = q.args.bind(skip);
    let cols = q.cols();
    q.args.query(format!(
        "SELECT {}, g.poster_reputation AS board_reputation, t.seq AS seq \
         FROM open_task_tags g CROSS JOIN tasks t \
         WHERE t.seq = g.seq AND g.tag = {} AND {} AND {} AND {cond} \
         ORDER BY g.poster_reputation DESC, g.seq LIMIT {limit} OFFSET {skip}",
        cols, q.board, q.passes, q.conds,
    ))
}

/// The shortest search the text index serves: trigrams.
const INDEXED_SEARCH_CHARS: usize = 3;

/// How many open tasks a search considers at most, so that a search for common text costs no
/// more than a bounded read: the oldest that match, or, for a search too short for the text
/// index, those that match among the first this many by poster reputation then age.
pub const SEARCHED: i64 = 1_000;

/// True when the open task whose seq is `seq` has `search` in its need or context, case
/// folded, and is one of the `SEARCHED` a search considers: through the text index (SQLite's
/// FTS5 trigram table, PostgreSQL's trigram indexes) when the search is long enough for
/// trigrams, else by reading the task.
fn text_search(args: &mut Args, seq: &str, search: &str) -> String {
    let dialect = args.dialect;
    if search.chars().count() < INDEXED_SEARCH_CHARS {
        let search = format!("lower({})", args.bind(search.to_string()));
        let in_need = dialect.contains("lower(x.need)", &search);
        let in_context = dialect.contains("lower(coalesce(x.context, ''))", &search);
        let first = args.bind(SEARCHED);
        return format!(
            "EXISTS (SELECT 1 FROM tasks x WHERE x.seq = {seq} AND ({in_need} OR {in_context})) \
             AND {seq} IN (SELECT seq FROM (SELECT h.seq FROM open_task_tags h WHERE h.tag = '' \
             ORDER BY h.poster_reputation DESC, h.seq LIMIT {first}) AS first_searched)"
        );
    }
    let matching = match dialect {
        Dialect::Sqlite => {
            // One FTS5 phrase: the text as it is, quotes doubled. In rowid order the index
            // stops at the limit instead of collecting every match.
            let phrase = args.bind(format!("\"{}\"", search.replace('"', "\"\"")));
            format!(
                "SELECT rowid FROM open_task_text WHERE open_task_text MATCH {phrase} ORDER BY rowid"
            )
        }
        Dialect::Postgres => {
            let escaped: String = search
                .chars()
                .flat_map(|c| match c {
                    '\\' | '%' | '_' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            let pattern = args.bind(format!("%{escaped}%"));
            format!(
                "SELECT x.seq FROM tasks x WHERE x.status = 'posted' \
                 AND x.is_system = FALSE AND x.match_status IN ('broadcast', 'pending') \
                 AND (x.need ILIKE {pattern} OR x.context ILIKE {pattern}) ORDER BY x.seq"
            )
        }
    };
    let first = args.bind(SEARCHED);
    format!("{seq} IN ({matching} LIMIT {first})")
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
             CAST(NULL AS BIGINT) AS match_rank FROM tasks t{} \
             WHERE t.is_system AND t.status = 'posted' AND NOT ({excluded}) \
             ORDER BY t.seq LIMIT {limit}",
            T_TASK_COLS.as_str(),
            // Without statistics SQLite prefers the status index, which holds every posted
            // task; PostgreSQL picks the partial index by itself.
            dialect.index_hint("tasks_open_system"),
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

/// Wraps a SELECT so that it counts its rows only up to `MAX_COUNTED` + 1: a total never costs
/// more than that many index entries, and a count above `MAX_COUNTED` says it was capped.
pub fn capped_count(select: &str) -> String {
    format!(
        "SELECT count(*) AS n FROM ({select} LIMIT {}) AS counted",
        MAX_COUNTED + 1
    )
}

/// The total of a capped count, and whether it was capped.
pub fn capped_total(n: i64) -> (i64, bool) {
    (n.min(MAX_COUNTED), n > MAX_COUNTED)
}

/// A page of the public directory (active agents, not the platform), best first (ties by
/// age), with `seq`, and the count of them all (capped). With a cursor, the rows after it.
pub fn directory(
    dialect: Dialect,
    q: &AgentQuery,
    page: &Page,
    after: Option<Key>,
) -> (Query, Query) {
    let mut args = Args::new(dialect);
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
    let count = args.query_so_far(capped_count(&format!(
        "SELECT 1 AS one FROM agents WHERE {cond}"
    )));
    let order = if q.by_tasks_completed {
        "tasks_completed"
    } else {
        "reputation"
    };
    let after = match after {
        Some(Key::Real(v, seq)) => Some((Cell::Real(v), seq)),
        Some(Key::Int(v, seq)) => Some((v.into(), seq)),
        Some(Key::Seq(_)) | None => None,
    };
    let select = format!("SELECT {AGENT_COLS}, seq FROM agents WHERE {cond}");
    let rows = match after {
        None => select,
        // After a cursor: the rest of its value's ties, then the lower values; two ranges of
        // the order's index (one range "<= value" would walk the ties before the cursor too,
        // and most agents tie at reputation 0).
        Some((value, seq)) => {
            let value = args.bind(value);
            let seq = args.bind(seq);
            let take = args.bind(page.offset.saturating_add(page.limit).saturating_add(1));
            format!(
                "SELECT * FROM ({select} AND {order} = {value} AND seq > {seq} \
                 ORDER BY seq LIMIT {take}) AS ties UNION ALL \
                 SELECT * FROM ({select} AND {order} < {value} \
                 ORDER BY {order} DESC, seq LIMIT {take}) AS below"
            )
        }
    };
    let limit = args.bind(page.limit.saturating_add(1));
    let offset = args.bind(page.offset);
    let agents = args.query(format!(
        "{rows} ORDER BY {order} DESC, seq LIMIT {limit} OFFSET {offset}"
    ));
    (agents, count)
}

/// A list in seq order: the rows of `table` meeting `cond` and any of `sides`, conditions each
/// served by its own `(…, seq)` index (an agent's side of a ledger line, poster or worker of a
/// task).
pub struct SeqList<'a> {
    pub table: &'a str,
    /// The columns selected (`seq` is added).
    pub cols: &'a str,
    pub sides: &'a [String],
    pub cond: &'a str,
    pub newest_first: bool,
}

/// A page of a `SeqList`, and the count of all its rows (capped). A page is each side's index
/// range up to the page's end, merged: never a sort of all the rows. With a cursor, the rows
/// after its seq. `args` holds the parameters the list's conditions bound.
pub fn seq_page(mut args: Args, list: &SeqList, page: &Page, after: Option<i64>) -> (Query, Query) {
    let SeqList {
        table,
        cols,
        sides,
        cond,
        newest_first,
    } = *list;
    // Each side leaves out the rows of the sides before it, so no row comes twice.
    let side = |i: usize, rest: &str| {
        let earlier: String = sides[..i]
            .iter()
            .map(|s| format!(" AND NOT ({s})"))
            .collect();
        format!("{}{earlier} AND {cond}{rest}", sides[i])
    };
    let counted: Vec<String> = (0..sides.len())
        .map(|i| format!("SELECT 1 AS one FROM {table} WHERE {}", side(i, "")))
        .collect();
    let count = args.query_so_far(capped_count(&counted.join(" UNION ALL ")));
    let (dir, before) = if newest_first {
        ("DESC", "<")
    } else {
        ("", ">")
    };
    let after = after
        .map(|seq| format!(" AND seq {before} {}", args.bind(seq)))
        .unwrap_or_default();
    let take = args.bind(page.offset.saturating_add(page.limit).saturating_add(1));
    let rows: Vec<String> = (0..sides.len())
        .map(|i| {
            format!(
                "SELECT * FROM (SELECT {cols}, seq FROM {table} WHERE {} \
                 ORDER BY seq {dir} LIMIT {take}) AS side{i}",
                side(i, &after)
            )
        })
        .collect();
    let limit = args.bind(page.limit.saturating_add(1));
    let offset = args.bind(page.offset);
    let rows = args.query(format!(
        "{} ORDER BY seq {dir} LIMIT {limit} OFFSET {offset}",
        rows.join(" UNION ALL ")
    ));
    (rows, count)
}

/// A page of the agent's tasks (not system tasks) in one role or both, newest first, and the
/// count of them all (capped).
pub fn tasks_of(
    dialect: Dialect,
    agent_id: &str,
    role: Option<Role>,
    status: Option<TaskStatus>,
    page: &Page,
    after: Option<i64>,
) -> (Query, Query) {
    let mut args = Args::new(dialect);
    let agent = args.bind(agent_id.to_string());
    let sides = match role {
        Some(Role::Poster) => vec![format!("poster_id = {agent}")],
        Some(Role::Worker) => vec![format!("worker_id = {agent}")],
        None => vec![
            format!("poster_id = {agent}"),
            format!("worker_id = {agent}"),
        ],
    };
    let mut cond = String::from("is_system = FALSE");
    if let Some(status) = status {
        let status = args.bind(status.as_str().to_string());
        cond.push_str(&format!(" AND status = {status}"));
    }
    let list = SeqList {
        table: "tasks",
        cols: TASK_COLS,
        sides: &sides,
        cond: &cond,
        newest_first: true,
    };
    seq_page(args, &list, page, after)
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
            check_system_work: true,
        };
        let page = Page {
            limit: 5,
            offset: 10,
            cursor: None,
        };
        for (dialect, marker, text) in [
            (Dialect::Sqlite, "?", "\"Über\""),
            (Dialect::Postgres, "$", "%Über%"),
        ] {
            let tasks = open_tasks(dialect, &filter, page.limit, page.offset, 65);
            let count = count_open_tasks(dialect, &filter);
            let filters = vec![
                Cell::from("ag-1".to_string()),
                Cell::from("rust".to_string()),
                Cell::from(text.to_string()),
                Cell::from(SEARCHED),
                Cell::from("Über".to_string()),
            ];
            assert_eq!(tasks.args[..5], filters);
            assert_eq!(
                tasks.args[5..],
                [
                    Cell::from(65),
                    Cell::from("sql".to_string()),
                    Cell::from(5),
                    Cell::from(10)
                ]
            );
            // The count binds only what its WHERE uses, and its cap.
            assert_eq!(count.args[..5], filters);
            assert_eq!(count.args[5..], [Cell::from(MAX_COUNTED + 1)]);
            assert!(
                tasks
                    .sql
                    .contains(&format!("LIMIT {marker}8 OFFSET {marker}9"))
            );
            assert!(!count.sql.contains(&format!("{marker}7")));
        }
    }

    #[test]
    fn short_searches_read_the_task_and_long_ones_the_text_index() {
        for (search, indexed) in [("ab", false), ("abc", true), ("日本", false)] {
            let filter = OpenTaskFilter {
                viewer: "ag-1".into(),
                tags: vec![],
                search: Some(search.into()),
                capability_tags: vec![],
                check_system_work: true,
            };
            let tasks = open_tasks(Dialect::Sqlite, &filter, 1, 0, 51);
            assert_eq!(
                tasks.sql.contains("open_task_text MATCH"),
                indexed,
                "{search}"
            );
        }
    }

    /// EXPLAIN QUERY PLAN of `sql` on a migrated SQLite database: one line per step.
    fn plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        // Parameters stay unbound (NULL): the plan does not depend on them.
        let mut rows = stmt.raw_query();
        let mut steps = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            steps.push(row.get::<_, String>(3).unwrap());
        }
        steps
    }

    /// Browse, pickup and their filters read index ranges: no step scans a table, no step
    /// reads every posted task (the status index alone), and none the whole board. Run with
    /// no rows, so with the planner's default estimates.
    #[tokio::test]
    async fn the_open_task_queries_read_indexes_not_tables() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("plans.db");
        let url = format!("sqlite://{}", path.display());
        drop(super::super::Store::open(&url, 0, 1, 1).await.unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        let filter =
            |tags: &[&str], search: Option<&str>, capability_tags: &[&str]| OpenTaskFilter {
                viewer: "ag-1".into(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                search: search.map(String::from),
                capability_tags: capability_tags.iter().map(|t| t.to_string()).collect(),
                check_system_work: true,
            };
        let mut queries = vec![("system work", system_tasks(Dialect::Sqlite, "ag-1", 1))];
        for (what, f) in [
            ("plain", filter(&[], None, &[])),
            ("capabilities", filter(&[], None, &["rust", "sql"])),
            ("tags", filter(&["rust", "go"], None, &["sql"])),
            ("search", filter(&[], Some("needle"), &["sql"])),
            ("short search", filter(&["go"], Some("ab"), &[])),
            (
                "no system work done",
                OpenTaskFilter {
                    check_system_work: false,
                    ..filter(&["go"], None, &["sql"])
                },
            ),
        ] {
            queries.push((what, open_tasks(Dialect::Sqlite, &f, 20, 0, 150)));
            queries.push((what, count_open_tasks(Dialect::Sqlite, &f)));
            let deep = rest_of_open_tasks(Dialect::Sqlite, &f, 100, 150, Some((4.5, 9)), 0, 20);
            queries.push((what, deep));
        }
        for (what, query) in queries {
            let plan = plan(&conn, &query.sql);
            let scans: Vec<_> = plan
                .iter()
                .filter(|step| {
                    // Allowed scans: a candidate list and the capped count (bounded), and the partial index of
                    // open system work (read in order, up to the limit).
                    let bounded = step.starts_with("SCAN w")
                        || *step == "SCAN matched_n"
                        || *step == "SCAN board_n"
                        || *step == "SCAN own_n"
                        || *step == "SCAN own"
                        || *step == "SCAN CONSTANT ROW"
                        // a full-text MATCH (FTS5's index)
                        || (step.starts_with("SCAN open_task_text VIRTUAL TABLE INDEX")
                            && step.contains(":M"))
                        || step.ends_with("USING INDEX tasks_open_system");
                    // The viewer's own board rows are read by poster: by tag, SQLite would
                    // walk the other posters' rows under it too.
                    let whole_board =
                        step.starts_with("SEARCH o ") && !step.contains("open_task_tags_by_poster");
                    (step.starts_with("SCAN") && !bounded)
                        || step.ends_with("(status=?)")
                        || whole_board
                })
                .collect();
            assert!(scans.is_empty(), "{what}: {scans:?} in {plan:#?}");
        }
    }

    #[test]
    fn like_patterns_escape_their_wildcards() {
        let mut args = Args::new(Dialect::Postgres);
        text_search(&mut args, "g.seq", "50%_off\\");
        assert_eq!(args.args[0], Cell::from("%50\\%\\_off\\\\%".to_string()));
    }
}
