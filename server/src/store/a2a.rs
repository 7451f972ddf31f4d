//! What the A2A endpoint keeps beside tasks (the context and message an A2A client created a
//! task from; where it wants updates pushed), and its statements, written once for both
//! backends.

use super::Page;
use super::Result;
use super::query::{Args, Dialect, Query};
use super::rows::T_TASK_COLS;
use super::sql::Cells;
use crate::model::Millis;

/// A task an A2A client created: its context, and the id of the message it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct A2aTask {
    pub task_id: String,
    pub poster_id: String,
    pub context_id: String,
    pub message_id: String,
    pub created_at: Millis,
}

/// Where an A2A client wants a task's updates pushed, and how to authenticate to it.
#[derive(Debug, Clone, PartialEq)]
pub struct PushConfig {
    pub task_id: String,
    pub id: String,
    pub url: String,
    pub token: Option<String>,
    pub auth_scheme: Option<String>,
    pub auth_credentials: Option<String>,
    pub created_at: Millis,
}

/// An A2A state a list filters on, as a condition on the task row. Each must say what
/// `a2a::mapping::state_of` says of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateCondition {
    Submitted,
    Working,
    InputRequired,
    Completed,
    Canceled,
    Failed,
    Rejected,
}

/// Which of a poster's tasks an A2A list shows.
#[derive(Debug, Clone, Default)]
pub struct A2aTaskFilter {
    pub poster: String,
    /// Tasks of this context only (a task no A2A client created is its own context).
    pub context_id: Option<String>,
    pub state: Option<StateCondition>,
    /// Only tasks whose status time (`STATUS_TIME`) is later than this.
    pub status_after: Option<Millis>,
}

/// The task has an unanswered question.
const OPEN_QUESTION: &str =
    "EXISTS (SELECT 1 FROM questions q WHERE q.task_id = t.id AND q.answer IS NULL)";

/// The expired task's deadline (not its lifetime) ended it.
const DEADLINE_ENDED: &str = "(t.deadline IS NOT NULL AND t.deadline <= t.expires_at)";

/// When a task's current status began, as far as the row tells (`a2a::mapping::status_time`).
const STATUS_TIME: &str = "CASE t.status WHEN 'claimed' THEN t.claimed_at \
    WHEN 'delivered' THEN t.delivered_at WHEN 'approved' THEN t.delivered_at \
    WHEN 'expired' THEN CASE WHEN t.deadline IS NOT NULL AND t.deadline <= t.expires_at \
    THEN t.deadline ELSE t.expires_at END ELSE t.created_at END";

impl StateCondition {
    fn sql(self) -> String {
        match self {
            Self::Submitted => format!("t.status = 'posted' AND NOT {OPEN_QUESTION}"),
            Self::Working => "t.status = 'claimed'".into(),
            Self::InputRequired => {
                format!("(t.status = 'delivered' OR (t.status = 'posted' AND {OPEN_QUESTION}))")
            }
            Self::Completed => "t.status = 'approved'".into(),
            Self::Canceled => "t.status = 'cancelled'".into(),
            Self::Failed => format!("t.status = 'expired' AND {DEADLINE_ENDED}"),
            Self::Rejected => format!("t.status = 'expired' AND NOT {DEADLINE_ENDED}"),
        }
    }
}

pub(super) fn insert_task(dialect: Dialect, t: &A2aTask) -> Query {
    let mut a = Args::new(dialect);
    let values = [
        a.bind(t.task_id.clone()),
        a.bind(t.poster_id.clone()),
        a.bind(t.context_id.clone()),
        a.bind(t.message_id.clone()),
        a.bind(t.created_at),
    ]
    .join(", ");
    a.query(format!(
        "INSERT INTO a2a_tasks ({TASK_COLS}) VALUES ({values}) ON CONFLICT DO NOTHING"
    ))
}

pub(super) fn task_by_message(dialect: Dialect, poster: &str, message_id: &str) -> Query {
    let mut a = Args::new(dialect);
    let (poster, message) = (a.bind(poster.to_string()), a.bind(message_id.to_string()));
    a.query(format!(
        "SELECT task_id FROM a2a_tasks WHERE poster_id = {poster} AND message_id = {message}"
    ))
}

const TASK_COLS: &str = "task_id, poster_id, context_id, message_id, created_at";

pub(super) fn task(dialect: Dialect, task_id: &str) -> Query {
    let mut a = Args::new(dialect);
    let task = a.bind(task_id.to_string());
    a.query(format!(
        "SELECT {TASK_COLS} FROM a2a_tasks WHERE task_id = {task}"
    ))
}

pub(super) fn task_from(r: &dyn Cells) -> Result<A2aTask> {
    Ok(A2aTask {
        task_id: r.text("task_id")?,
        poster_id: r.text("poster_id")?,
        context_id: r.text("context_id")?,
        message_id: r.text("message_id")?,
        created_at: r.int("created_at")?,
    })
}

/// A page of the poster's tasks (task columns, then the A2A context), newest first, and the
/// count of them all.
pub(super) fn tasks_of(dialect: Dialect, f: &A2aTaskFilter, page: Page) -> (Query, Query) {
    let mut a = Args::new(dialect);
    let poster = a.bind(f.poster.clone());
    let mut from = format!(
        "FROM tasks t LEFT JOIN a2a_tasks c ON c.task_id = t.id \
         WHERE t.poster_id = {poster} AND t.is_system = FALSE"
    );
    if let Some(context) = &f.context_id {
        let context = a.bind(context.clone());
        from.push_str(&format!(" AND coalesce(c.context_id, t.id) = {context}"));
    }
    if let Some(state) = f.state {
        from.push_str(&format!(" AND {}", state.sql()));
    }
    if let Some(after) = f.status_after {
        let after = a.bind(after);
        from.push_str(&format!(" AND ({STATUS_TIME}) > {after}"));
    }
    let count = a.query_so_far(format!("SELECT count(*) AS n {from}"));
    let limit = a.bind(page.limit);
    let offset = a.bind(page.offset);
    let tasks = a.query(format!(
        "SELECT {}, c.context_id {from} ORDER BY t.seq DESC LIMIT {limit} OFFSET {offset}",
        T_TASK_COLS.as_str()
    ));
    (tasks, count)
}

const PUSH_COLS: &str = "task_id, id, url, token, auth_scheme, auth_credentials, created_at";

/// Adds the config, or replaces the task's config of the same id.
pub(super) fn save_push_config(dialect: Dialect, c: &PushConfig) -> Query {
    let mut a = Args::new(dialect);
    let values = [
        a.bind(c.task_id.clone()),
        a.bind(c.id.clone()),
        a.bind(c.url.clone()),
        a.bind(c.token.clone()),
        a.bind(c.auth_scheme.clone()),
        a.bind(c.auth_credentials.clone()),
        a.bind(c.created_at),
    ]
    .join(", ");
    a.query(format!(
        "INSERT INTO a2a_push_configs ({PUSH_COLS}) VALUES ({values}) \
         ON CONFLICT (task_id, id) DO UPDATE SET url = excluded.url, token = excluded.token, \
         auth_scheme = excluded.auth_scheme, auth_credentials = excluded.auth_credentials"
    ))
}

/// The configs of these tasks, each task's oldest first.
pub(super) fn push_configs_of(dialect: Dialect, task_ids: &[String]) -> Query {
    let mut a = Args::new(dialect);
    let ids: Vec<String> = task_ids.iter().map(|id| a.bind(id.clone())).collect();
    a.query(format!(
        "SELECT {PUSH_COLS} FROM a2a_push_configs WHERE task_id IN ({}) \
         ORDER BY task_id, created_at, id",
        ids.join(", ")
    ))
}

pub(super) fn delete_push_config(dialect: Dialect, task_id: &str, id: &str) -> Query {
    let mut a = Args::new(dialect);
    let (task, id) = (a.bind(task_id.to_string()), a.bind(id.to_string()));
    a.query(format!(
        "DELETE FROM a2a_push_configs WHERE task_id = {task} AND id = {id}"
    ))
}

pub(super) fn push_config_from(r: &dyn Cells) -> Result<PushConfig> {
    Ok(PushConfig {
        task_id: r.text("task_id")?,
        id: r.text("id")?,
        url: r.text("url")?,
        token: r.opt_text("token")?,
        auth_scheme: r.opt_text("auth_scheme")?,
        auth_credentials: r.opt_text("auth_credentials")?,
        created_at: r.int("created_at")?,
    })
}

/// A task as A2A lists it: with its A2A context, if an A2A client created it.
#[derive(Debug, Clone)]
pub struct ListedTask {
    pub task: crate::model::Task,
    pub context_id: Option<String>,
}

pub(super) fn listed_task_from(r: &dyn Cells) -> Result<ListedTask> {
    Ok(ListedTask {
        task: super::rows::task_from(r)?,
        context_id: r.opt_text("context_id")?,
    })
}

impl super::Transaction<'_> {
    /// Records the A2A context and message a task was created from; false (and nothing
    /// changed) when the poster already created a task from a message with that id.
    pub async fn insert_a2a_task(&mut self, t: &A2aTask) -> Result<bool> {
        Ok(self.execute_query(insert_task(self.dialect(), t)).await? == 1)
    }

    /// The task the poster created from the A2A message `message_id`, if any.
    pub async fn a2a_task_by_message(
        &mut self,
        poster: &str,
        message_id: &str,
    ) -> Result<Option<String>> {
        let q = task_by_message(self.dialect(), poster, message_id);
        Ok(self.fetch_query(q, |r| r.text("task_id")).await?.pop())
    }

    /// What an A2A client said of a task it created.
    pub async fn a2a_task(&mut self, task_id: &str) -> Result<Option<A2aTask>> {
        let q = task(self.dialect(), task_id);
        Ok(self.fetch_query(q, task_from).await?.pop())
    }

    /// A page of the poster's tasks as A2A lists them, newest first, each with its A2A
    /// context, and the count of them all.
    pub async fn a2a_tasks_of(
        &mut self,
        filter: &A2aTaskFilter,
        page: Page,
    ) -> Result<super::Paged<ListedTask>> {
        let (tasks, count) = tasks_of(self.dialect(), filter, page);
        let items = self.fetch_query(tasks, listed_task_from).await?;
        let total = self.count(&count.sql, count.args).await?;
        Ok(super::Paged::counted(items, total))
    }

    /// Adds a push config, or replaces the task's config of the same id.
    pub async fn save_push_config(&mut self, config: &PushConfig) -> Result<()> {
        self.execute_query(save_push_config(self.dialect(), config))
            .await?;
        Ok(())
    }

    /// The push configs of these tasks, each task's oldest first.
    pub async fn push_configs_of(&mut self, task_ids: &[String]) -> Result<Vec<PushConfig>> {
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        let q = push_configs_of(self.dialect(), task_ids);
        self.fetch_query(q, push_config_from).await
    }

    /// Removes a push config; returns whether there was one.
    pub async fn delete_push_config(&mut self, task_id: &str, id: &str) -> Result<bool> {
        let q = delete_push_config(self.dialect(), task_id, id);
        Ok(self.execute_query(q).await? == 1)
    }

    /// Whether any task has a push config.
    pub async fn push_configs_exist(&mut self) -> Result<bool> {
        self.check(
            "SELECT EXISTS (SELECT 1 FROM a2a_push_configs) AS b",
            Vec::new(),
        )
        .await
    }
}
