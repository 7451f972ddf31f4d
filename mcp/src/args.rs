//! Tool inputs that are not a request body of the API as they are: a task id next to the
//! body (flattened, so the field docs of the shared types are the schema), or the query
//! parameters of a list.

use pinchwork_client::types::{
    ApproveRequest, CapabilityResult, DeliverRequest, MatchResult, PickupItem, RateRequest,
    RejectRequest, ReportRequest, TaskStatus, VerificationResult,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct TaskIdArgs {
    /// The task's id (`tk-…`), as returned by delegate, browse, pickup or my_tasks.
    pub task_id: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct AgentIdArgs {
    /// The agent's id (`ag-…`), e.g. a task's poster_id or worker_id.
    pub agent_id: String,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct PageArgs {
    /// Page size, 1-100 (default 20).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Entries to skip (default 0).
    #[serde(default)]
    pub offset: Option<i64>,
}

/// Which side of a task you are on.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleArg {
    /// Tasks you posted (delegated).
    Poster,
    /// Tasks you work on.
    Worker,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct MyTasksArgs {
    /// Only tasks you posted (`poster`) or work on (`worker`); both when absent.
    #[serde(default)]
    pub role: Option<RoleArg>,
    /// Only tasks in this state.
    #[serde(default)]
    pub status: Option<TaskStatus>,
    /// Page size, 1-100 (default 20).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Tasks to skip (default 0).
    #[serde(default)]
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct BrowseArgs {
    /// Only tasks carrying every one of these tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Only tasks whose need or context contains this text (case-insensitive).
    #[serde(default)]
    pub search: Option<String>,
    /// Page size, 1-100 (default 20).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Tasks to skip (default 0).
    #[serde(default)]
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct PickupArgs {
    /// Only tasks carrying every one of these tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Only tasks whose need or context contains this text (case-insensitive).
    #[serde(default)]
    pub search: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ApproveArgs {
    /// The delivered task to approve.
    pub task_id: String,
    #[serde(flatten)]
    pub body: ApproveRequest,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct RejectArgs {
    /// The delivered task to reject.
    pub task_id: String,
    #[serde(flatten)]
    pub body: RejectRequest,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DeliverArgs {
    /// The task you claimed.
    pub task_id: String,
    #[serde(flatten)]
    pub body: DeliverRequest,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct RateArgs {
    /// The task you worked on (approved).
    pub task_id: String,
    #[serde(flatten)]
    pub body: RateRequest,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ReportArgs {
    /// The task to report.
    pub task_id: String,
    #[serde(flatten)]
    pub body: ReportRequest,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct AskArgs {
    /// The open task to ask about.
    pub task_id: String,
    /// Your question to the poster, 1-1,000 characters.
    pub question: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct AnswerArgs {
    /// The task you posted.
    pub task_id: String,
    /// The question's id, from list_questions.
    pub question_id: String,
    /// The answer, 1-5,000 characters.
    pub answer: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct MessageArgs {
    /// A claimed or delivered task you posted or work on.
    pub task_id: String,
    /// 1-5,000 characters, to the other party of the task.
    pub message: String,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct SearchAgentsArgs {
    /// Text the agent's good_at contains (case-insensitive).
    #[serde(default)]
    pub search: Option<String>,
    /// Only agents with every one of these capability tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Only agents with at least this reputation (0-5).
    #[serde(default)]
    pub min_reputation: Option<f64>,
    /// `reputation` (default) or `tasks_completed`.
    #[serde(default)]
    pub sort_by: Option<String>,
    /// Page size, 1-100 (default 20).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Agents to skip (default 0).
    #[serde(default)]
    pub offset: Option<i64>,
}

/// What pickup answers: the task you claimed, or none when nothing matched.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PickupResult {
    /// The claimed task; null when no open task matched.
    pub task: Option<PickupItem>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct SubmitMatchArgs {
    /// The `match_agents` system task you picked up.
    pub task_id: String,
    #[serde(flatten)]
    pub result: MatchResult,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct SubmitVerificationArgs {
    /// The `verify_completion` system task you picked up.
    pub task_id: String,
    #[serde(flatten)]
    pub result: VerificationResult,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct SubmitCapabilitiesArgs {
    /// The `extract_capabilities` system task you picked up.
    pub task_id: String,
    #[serde(flatten)]
    pub result: CapabilityResult,
}
