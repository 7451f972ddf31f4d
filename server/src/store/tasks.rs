//! Tasks: their rows, the compare-and-set every transition goes through, the open tasks a
//! worker may claim or browse, system work, matches and timers.

use super::cursor::{self, Key, List, seq_after};
use super::ledger::transfer_cells;
use super::query::{self, CANDIDATE_SLACK, Dialect, RELEVANT};
use super::rows::{self, SYSTEM_WORK_COLS, TASK_COLS, TASK_DERIVED, TASK_MUTABLE};
use super::sql::{Cell, Transaction, args};
use super::{OpenTask, OpenTaskFilter, Page, Paged, Result, Role, StoreError, SystemWork};
use crate::model::{Millis, Task, TaskStatus, Transfer};
use std::sync::LazyLock;

/// `$first, …` for `n` values.
fn markers(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many values `rows::task_cells` gives, in the order of `TASK_COLS, TASK_DERIVED`.
fn task_cell_count() -> usize {
    TASK_COLS.split(',').count() + TASK_DERIVED.split(',').count()
}

static INSERT_TASK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO tasks ({TASK_COLS}, {TASK_DERIVED}) VALUES ({})",
        markers(1, task_cell_count())
    )
});

/// The compare-and-set update of a task, and where its values sit in `task_cells`.
static UPDATE_TASK: LazyLock<(String, Vec<usize>)> = LazyLock::new(|| {
    let positions = rows::task_mutable_positions();
    let n = positions.len();
    let sql = format!(
        "UPDATE tasks SET ({}) = ({}) WHERE id = ${} AND status = ${} \
         AND worker_id IS NOT DISTINCT FROM ${}",
        TASK_MUTABLE.join(", "),
        markers(1, n),
        n + 1,
        n + 2,
        n + 3
    );
    (sql, positions)
});

impl Transaction<'_> {
    pub async fn insert_task(&mut self, task: &Task) -> Result<()> {
        self.execute(&INSERT_TASK, rows::task_cells(task)).await?;
        Ok(())
    }

    /// Saves an agent's newly posted task with its escrow (`escrow`: the poster's transfer to
    /// the escrow account), counting it in the poster's `tasks_posted`. When the poster's
    /// balance does not cover the escrow: that balance, and nothing changed. One statement on
    /// PostgreSQL (the poster is the insert's `$2`; the balance check and the row lock are
    /// `move_credits`'), so that posting needs no explicit transaction there; four on SQLite.
    pub async fn insert_posted_task(
        &mut self,
        task: &Task,
        escrow: &Transfer,
    ) -> Result<Option<i64>> {
        static POSTED: LazyLock<String> = LazyLock::new(|| {
            let n = task_cell_count();
            let (ledger, amount) = (markers(n + 1, 7), n + 4);
            // The last SELECT reads the balance as it was before the statement.
            format!(
                "WITH taken AS (UPDATE agents SET credits = credits - ${amount}, \
                 tasks_posted = tasks_posted + 1 WHERE id = $2 AND credits >= ${amount} \
                 RETURNING id), \
                 posted AS (INSERT INTO tasks ({TASK_COLS}, {TASK_DERIVED}) SELECT {} \
                 FROM taken RETURNING id), \
                 entered AS (INSERT INTO ledger (id, src, dst, amount, reason, task_id, \
                 created_at) SELECT {ledger} FROM posted) \
                 SELECT (SELECT count(*) FROM taken) AS posted, \
                 coalesce((SELECT credits FROM agents WHERE id = $2), 0) AS balance",
                markers(1, n)
            )
        });
        debug_assert_eq!(escrow.from, task.poster_id);
        if self.dialect() == Dialect::Postgres {
            let mut values = rows::task_cells(task);
            values.extend(transfer_cells(escrow));
            let (posted, balance) = self
                .fetch_one(&POSTED, values, |r| {
                    Ok((r.int("posted")?, r.int("balance")?))
                })
                .await?;
            return Ok((posted == 0).then_some(balance));
        }
        if !self.move_credits(escrow, true, false).await? {
            let balance = self.agent(&task.poster_id).await?.map_or(0, |a| a.credits);
            return Ok(Some(balance));
        }
        self.insert_task(task).await?;
        self.bump(&task.poster_id, super::Counter::TasksPosted)
            .await?;
        Ok(None)
    }

    /// A task. A write transaction reads a task to change it: on PostgreSQL its row is held
    /// until commit, which makes the read-check-write atomic across nodes, as the single
    /// writer does on SQLite.
    pub async fn task(&mut self, id: &str) -> Result<Option<Task>> {
        static READ: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {TASK_COLS} FROM tasks WHERE id = $1"));
        static LOCK: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {TASK_COLS} FROM tasks WHERE id = $1 FOR UPDATE"));
        let sql = if self.writes() && self.dialect() == Dialect::Postgres {
            &LOCK
        } else {
            &READ
        };
        self.fetch_optional(sql, args![id], rows::task_from).await
    }

    /// Saves `task` only if the stored row still has `prior_status` and `prior_worker`;
    /// returns whether it did (the compare-and-set every transition goes through).
    pub async fn save_task(
        &mut self,
        task: &Task,
        prior_status: TaskStatus,
        prior_worker: Option<&str>,
    ) -> Result<bool> {
        let (sql, positions) = &*UPDATE_TASK;
        let mut all: Vec<Option<Cell>> = rows::task_cells(task).into_iter().map(Some).collect();
        let mut values: Vec<Cell> = positions
            .iter()
            .map(|&i| all[i].take().expect("each column once"))
            .collect();
        values.extend(args![&task.id, prior_status.as_str(), prior_worker]);
        Ok(self.execute(sql, values).await? == 1)
    }

    /// Tasks the viewer may claim, in pickup order: those matched to the viewer by rank, then
    /// those open to everyone by tag overlap with the viewer, poster reputation, the poster's
    /// trust in the viewer, then age. Never the viewer's own, nor tasks the viewer did system
    /// work for. In a write transaction they are the caller's to claim: locked until commit,
    /// and never ones another transaction holds.
    pub async fn claimable(
        &mut self,
        filter: &OpenTaskFilter,
        limit: i64,
    ) -> Result<Vec<OpenTask>> {
        let tasks = query::open_tasks(self.dialect(), filter, limit, 0, limit + CANDIDATE_SLACK);
        self.claim_candidates(tasks).await
    }

    /// The same tasks as browsing shows them (never locked), with the total before paging
    /// (capped). The first `RELEVANT` are in pickup order; the rest follow by poster
    /// reputation then age, so that a page deep in a large board, by offset or by cursor,
    /// reads an index range.
    pub async fn available(
        &mut self,
        filter: &OpenTaskFilter,
        page: Page,
    ) -> Result<Paged<OpenTask>> {
        let dialect = self.dialect();
        let size = RELEVANT + CANDIDATE_SLACK;
        // One row past the page says whether there is a next one.
        let wanted = page.limit + 1;
        let (position, after) = match cursor::after(List::Browse, &page)? {
            None => (page.offset, None),
            Some(Key::Real(reputation, seq)) => (RELEVANT, Some((reputation, seq))),
            Some(Key::Seq(position)) => (position, None),
            Some(Key::Int(..)) => return Err(StoreError::InvalidCursor),
        };
        // Each row with its cursor: the position after it among the first RELEVANT, its
        // board key past them.
        let mut rows: Vec<(OpenTask, Key)> = Vec::new();
        let mut ended = false;
        if position < RELEVANT {
            let take = wanted.min(RELEVANT - position);
            let tasks = query::open_tasks(dialect, filter, take, position, size);
            let first = self.fetch_query(tasks, rows::open_task_from).await?;
            // Fewer than asked: the lists held every open task that passes the filters.
            ended = (first.len() as i64) < take;
            rows.extend(
                first
                    .into_iter()
                    .zip(position + 1..)
                    .map(|(t, p)| (t, Key::Seq(p))),
            );
        }
        let more = wanted - rows.len() as i64;
        if more > 0 && !ended {
            let skip = (position - RELEVANT).max(0);
            let rest =
                query::rest_of_open_tasks(dialect, filter, RELEVANT, size, after, skip, more);
            let rest = self
                .fetch_query(rest, |r| {
                    let key = Key::Real(r.real("board_reputation")?, r.int("seq")?);
                    Ok((rows::open_task_from(r)?, key))
                })
                .await?;
            rows.extend(rest);
        }
        let count = query::count_open_tasks(dialect, filter);
        let total = query::capped_total(self.count(&count.sql, count.args).await?);
        Ok(Paged::keyset(rows, List::Browse, &page, total))
    }

    /// Refreshes the planner's statistics of the tables the open-task queries read, after a
    /// bulk load (PostgreSQL's ANALYZE, which autovacuum runs by itself soon after; SQLite's
    /// plans use none).
    pub async fn refresh_statistics(&mut self) -> Result<()> {
        if self.dialect() == Dialect::Postgres {
            self.execute("ANALYZE tasks, open_task_tags, agents", args![])
                .await?;
        }
        Ok(())
    }

    /// Open system tasks the viewer may do, oldest first (never about the viewer's own work);
    /// locked as `claimable` locks them.
    pub async fn system_claimable(&mut self, viewer: &str, limit: i64) -> Result<Vec<OpenTask>> {
        let tasks = query::system_tasks(self.dialect(), viewer, limit);
        self.claim_candidates(tasks).await
    }

    /// Open tasks for a pickup. On SQLite the single writer makes them the caller's to claim;
    /// on PostgreSQL a write transaction locks them, skipping those another one holds, so
    /// concurrent pickups on any node never wait for each other nor claim a task twice.
    async fn claim_candidates(&mut self, mut tasks: query::Query) -> Result<Vec<OpenTask>> {
        if self.writes() && self.dialect() == Dialect::Postgres {
            tasks.sql.push_str(" FOR UPDATE OF t SKIP LOCKED");
        }
        self.fetch_query(tasks, rows::open_task_from).await
    }

    /// Posted or claimed system tasks about a task or an agent.
    pub async fn open_system_tasks_about(&mut self, subject: &str) -> Result<Vec<Task>> {
        let sql = format!(
            "SELECT {TASK_COLS} FROM tasks \
             WHERE (parent_task_id = $1 OR subject_agent_id = $1) \
             AND is_system AND status IN ('posted', 'claimed')"
        );
        self.fetch_all(&sql, args![subject], rows::task_from).await
    }

    /// Whether the agent did (or holds) a system task about this task.
    pub async fn did_system_work(&mut self, task_id: &str, agent_id: &str) -> Result<bool> {
        self.check(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE parent_task_id = $1 AND worker_id = $2) \
             AS b",
            args![task_id, agent_id],
        )
        .await
    }

    /// The funded system work about these tasks, oldest first (one query for a page).
    pub async fn system_work_about(&mut self, task_ids: &[&str]) -> Result<Vec<SystemWork>> {
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {SYSTEM_WORK_COLS} FROM tasks WHERE parent_task_id IN ({}) \
             AND payer_id IS NOT NULL ORDER BY seq",
            markers(1, task_ids.len())
        );
        let ids = task_ids.iter().map(|&id| Cell::from(id)).collect();
        self.fetch_all(&sql, ids, rows::system_work_from).await
    }

    /// Whether a capability extraction about the agent spawned after `since` was done (paid).
    pub async fn extracted_since(&mut self, agent_id: &str, since: Millis) -> Result<bool> {
        self.check(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE subject_agent_id = $1 \
             AND system_task_type = 'extract_capabilities' AND status = 'approved' \
             AND created_at > $2) AS b",
            args![agent_id, since],
        )
        .await
    }

    /// Routes a task to these agents, best first.
    pub async fn insert_matches(&mut self, task_id: &str, ranked: &[String]) -> Result<()> {
        for (rank, agent) in ranked.iter().enumerate() {
            self.execute(
                "INSERT INTO task_matches (task_id, agent_id, rank) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                args![task_id, agent, rank as i64],
            )
            .await?;
        }
        Ok(())
    }

    /// The agents a task is routed to, best first.
    pub async fn matches_of(&mut self, task_id: &str) -> Result<Vec<String>> {
        self.fetch_all(
            "SELECT agent_id FROM task_matches WHERE task_id = $1 ORDER BY rank",
            args![task_id],
            |r| r.text("agent_id"),
        )
        .await
    }

    /// The agent's tasks (not system tasks), newest first, with the total before paging
    /// (capped).
    pub async fn tasks_of(
        &mut self,
        agent_id: &str,
        role: Option<Role>,
        status: Option<TaskStatus>,
        page: &Page,
    ) -> Result<Paged<Task>> {
        let after = seq_after(List::MyTasks, page)?;
        let (tasks, count) = query::tasks_of(self.dialect(), agent_id, role, status, page, after);
        self.seq_paged(tasks, count, List::MyTasks, page, rows::task_from)
            .await
    }

    /// Ids of tasks with a timer due at `now`, soonest first.
    pub async fn due_task_ids(&mut self, now: Millis, limit: i64) -> Result<Vec<String>> {
        self.fetch_all(
            "SELECT id FROM tasks WHERE next_due_at <= $1 ORDER BY next_due_at LIMIT $2",
            args![now, limit],
            |r| r.text("id"),
        )
        .await
    }
}
