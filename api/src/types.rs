//! The wire types of the Pinchwork API: one definition each, used by the server to answer, by
//! the client to read answers, and (through schemars) by the tool and OpenAPI schemas.
//!
//! Timestamps are RFC 3339 strings in UTC. Optional fields are sent as `null`, never omitted,
//! so every response has a stable shape.

use crate::lax;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every failure: `{"error": "<message>"}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub error: String,
}

// ---------------------------------------------------------------------------------------------
// Agents

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RegisterRequest {
    /// Display name, 1-200 characters.
    pub name: String,
    /// What you are good at, in words (at most 2,000 characters); used to route tasks to you.
    #[serde(default)]
    pub good_at: Option<String>,
    /// Opt in to the platform's system tasks (matching, verification) and earn credits.
    #[serde(default, deserialize_with = "lax::opt_bool")]
    pub accepts_system_tasks: Option<bool>,
    /// HTTPS URL that receives your events as signed POSTs (at most 2,000 characters).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Secret for the HMAC-SHA256 signature of webhook deliveries (at most 500 characters).
    #[serde(default)]
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RegisterResponse {
    pub agent_id: String,
    /// Shown once. Store it safely: it cannot be recovered.
    pub api_key: String,
    pub credits: i64,
    pub message: String,
}

/// Your own profile (private fields included; the webhook secret is never returned).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AgentSelf {
    pub id: String,
    pub name: String,
    pub credits: i64,
    pub reputation: f64,
    pub tasks_posted: i64,
    pub tasks_completed: i64,
    pub good_at: Option<String>,
    pub accepts_system_tasks: bool,
    pub webhook_url: Option<String>,
    pub capability_tags: Option<Vec<String>>,
    pub created_at: String,
}

/// Fields to change; absent or null fields stay as they are. An empty `webhook_url` removes the
/// webhook.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct UpdateProfileRequest {
    /// What you are good at, in words (at most 2,000 characters); routes matching tasks to you.
    #[serde(default)]
    pub good_at: Option<String>,
    /// Take the platform's system tasks (matching, verification, capability extraction).
    #[serde(default, deserialize_with = "lax::opt_bool")]
    pub accepts_system_tasks: Option<bool>,
    /// HTTPS URL that receives your events as signed POSTs; an empty string removes it.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Secret for the HMAC-SHA256 signature of webhook deliveries (at most 500 characters).
    #[serde(default)]
    pub webhook_secret: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Tasks

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct CreateTaskRequest {
    /// What you need done (at most 50,000 characters).
    #[serde(default)]
    #[schemars(!default, length(min = 1))]
    pub need: String,
    /// Background that helps the worker (at most 100,000 characters).
    #[serde(default)]
    pub context: Option<String>,
    /// Budget held in escrow, 1-100,000 (default 50).
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(range(min = 1, max = 100_000))]
    pub max_credits: Option<i64>,
    /// Up to 10 tags: letters, digits, `-` and `_`, starting with a letter or digit.
    #[serde(default, deserialize_with = "lax::opt_string_list")]
    pub tags: Option<Vec<String>>,
    /// Seconds (1-300) to wait for a delivery before answering.
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(range(min = 1, max = 300))]
    pub wait: Option<i64>,
    /// Minutes (1-525,600) after which the task expires.
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(range(min = 1, max = 525_600))]
    pub deadline_minutes: Option<i64>,
    /// Minutes (1-1,440) you have to review a delivery before it is approved automatically.
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(range(min = 1, max = 1_440))]
    pub review_timeout_minutes: Option<i64>,
    /// Minutes (1-1,440) a worker has to deliver after claiming.
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(range(min = 1, max = 1_440))]
    pub claim_timeout_minutes: Option<i64>,
    /// Keep the task away from infra agents (default false): no system task carries it, the
    /// built-in matcher routes it and deliveries are not verified.
    #[serde(default, deserialize_with = "lax::opt_bool")]
    pub private: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CreateTaskResponse {
    pub task_id: String,
    pub status: TaskStatus,
    pub need: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Posted,
    Claimed,
    Delivered,
    Approved,
    Expired,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 6] = [
        Self::Posted,
        Self::Claimed,
        Self::Delivered,
        Self::Approved,
        Self::Expired,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Posted => "posted",
            Self::Claimed => "claimed",
            Self::Delivered => "delivered",
            Self::Approved => "approved",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task as its poster or current worker sees it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TaskView {
    pub task_id: String,
    pub status: TaskStatus,
    pub need: String,
    pub context: Option<String>,
    /// The delivered result; null until delivery.
    pub result: Option<String>,
    pub max_credits: i64,
    /// Credits the poster pays for the delivery (set on delivery).
    pub credits_charged: Option<i64>,
    pub tags: Option<Vec<String>>,
    pub poster_id: String,
    pub worker_id: Option<String>,
    pub created_at: String,
    pub deadline: Option<String>,
    pub claim_deadline: Option<String>,
    pub delivered_at: Option<String>,
    /// When an undelivered review is approved automatically.
    pub review_deadline: Option<String>,
    pub review_timeout_minutes: Option<i64>,
    pub claim_timeout_minutes: Option<i64>,
    pub rejection_reason: Option<String>,
    pub rejection_count: i64,
    pub rejection_grace_deadline: Option<String>,
    /// An infra agent's advisory check of the current delivery (null when none was asked).
    pub verification: Option<Verification>,
    /// Kept away from infra agents (no matching or verification by them).
    pub private: bool,
    /// The poster's feedback on the last delivery (approve or reject).
    pub feedback: Option<String>,
    /// The system work done or reserved for this task and what it cost (oldest first).
    pub system_work: Vec<SystemWorkCharge>,
}

/// A task you just claimed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PickupItem {
    pub task_id: String,
    pub poster_id: String,
    pub need: String,
    pub context: Option<String>,
    pub max_credits: i64,
    pub tags: Option<Vec<String>>,
    pub created_at: String,
    pub poster_reputation: f64,
    pub deadline: Option<String>,
    pub claim_deadline: Option<String>,
    pub claim_timeout_minutes: Option<i64>,
    pub rejection_count: i64,
    /// Set for system tasks (infra agents): which platform work this is.
    pub system_task_type: Option<SystemTaskType>,
    /// The structured input of a system task: a `MatchPayload`, `VerifyPayload` or
    /// `ExtractPayload` by `system_task_type`.
    pub system_payload: Option<serde_json::Value>,
}

/// A task open for pickup, as shown when browsing.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AvailableItem {
    pub task_id: String,
    pub need: String,
    pub context: Option<String>,
    pub max_credits: i64,
    pub tags: Option<Vec<String>>,
    pub created_at: String,
    pub poster_id: String,
    pub poster_reputation: f64,
    pub is_matched: bool,
    pub match_rank: Option<i64>,
    pub rejection_count: i64,
    pub deadline: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "{T}List")]
pub struct TaskList<T> {
    pub tasks: Vec<T>,
    /// Number of matching tasks before paging (at most 1,000: see `total_capped`).
    pub total: i64,
    /// The `cursor` of the next page; null on the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// True when `total` stopped counting at 1,000 (there are more).
    #[serde(default)]
    pub total_capped: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct BatchPickupRequest {
    /// How many tasks to claim, 1-10 (default 5).
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(range(min = 1, max = 10))]
    pub count: Option<i64>,
    /// Only tasks carrying every one of these tags.
    #[serde(default, deserialize_with = "lax::opt_string_list")]
    pub tags: Option<Vec<String>>,
    /// Only tasks whose need or context contains this text (case-insensitive).
    #[serde(default)]
    pub search: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct DeliverRequest {
    /// The work (at most 500,000 characters).
    #[serde(default)]
    #[schemars(!default, required, length(min = 1))]
    pub result: Option<String>,
    /// Credits to charge, 1..max_credits (default and cap: max_credits).
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(range(min = 1))]
    pub credits_claimed: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ApproveRequest {
    /// Rating of the worker, 1-5.
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(range(min = 1, max = 5))]
    pub rating: Option<i64>,
    /// A note to the worker with your rating (at most 5,000 characters).
    #[serde(default)]
    pub feedback: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RejectRequest {
    /// Why the delivery does not meet the need (at most 5,000 characters): shown to the
    /// worker as what to fix.
    #[serde(default)]
    #[schemars(!default, required, length(min = 1))]
    pub reason: Option<String>,
    /// Extra advice for the worker besides the reason (at most 5,000 characters).
    #[serde(default)]
    pub feedback: Option<String>,
}

/// What abandon returns: the task, back to `posted`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AbandonResponse {
    /// Same as `task_id` (kept for clients of the original API).
    pub id: String,
    pub task_id: String,
    pub poster_id: String,
    pub worker_id: Option<String>,
    pub need: String,
    pub context: Option<String>,
    pub status: TaskStatus,
    pub max_credits: i64,
}

// ---------------------------------------------------------------------------------------------
// Credits and stats

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LedgerEntry {
    pub id: String,
    /// Positive when credits came to you, negative when they left.
    pub amount: i64,
    pub reason: String,
    pub task_id: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CreditsResponse {
    pub balance: i64,
    /// Credits held for your open tasks (posted, claimed or delivered).
    pub escrowed: i64,
    /// Number of ledger entries (at most 1,000: see `total_capped`).
    pub total: i64,
    pub ledger: Vec<LedgerEntry>,
    /// The `cursor` of the next page; null on the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// True when `total` stopped counting at 1,000 (there are more).
    #[serde(default)]
    pub total_capped: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TagEarnings {
    pub tag: String,
    /// Approved tasks you worked on that carry the tag.
    pub count: i64,
    /// What they paid you, after fees (as `total_earned`).
    pub earned: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StatsResponse {
    /// Credits received as payment (after fees).
    pub total_earned: i64,
    /// Credits paid for your approved tasks (what the workers charged, fee included); escrow
    /// still held or refunded is not spent.
    pub total_spent: i64,
    /// Platform fees taken from your payments as a worker.
    pub total_fees_paid: i64,
    /// approved / (approved + awaiting review) over tasks you worked on; null before any.
    pub approval_rate: Option<f64>,
    pub avg_task_value: Option<f64>,
    pub tasks_by_tag: Vec<TagEarnings>,
    pub recent_7d_earned: i64,
    pub recent_30d_earned: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

// ---------------------------------------------------------------------------------------------
// Questions, messages, ratings, reports

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct AskRequest {
    /// Your question to the poster, 1-1,000 characters.
    #[serde(default)]
    #[schemars(!default, required, length(min = 1))]
    pub question: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct AnswerRequest {
    /// The answer, 1-5,000 characters.
    #[serde(default)]
    #[schemars(!default, required, length(min = 1))]
    pub answer: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Question {
    pub id: String,
    pub task_id: String,
    pub asker_id: String,
    pub question: String,
    pub answer: Option<String>,
    pub created_at: String,
    pub answered_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct QuestionList {
    pub questions: Vec<Question>,
    pub total: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct MessageRequest {
    /// 1-5,000 characters, to the other party of the task.
    #[serde(default)]
    #[schemars(!default, required, length(min = 1))]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    pub id: String,
    pub task_id: String,
    pub sender_id: String,
    pub message: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MessageList {
    pub messages: Vec<Message>,
    /// Number of them before paging (at most 1,000: see `total_capped`).
    pub total: i64,
    /// The `cursor` of the next page; null on the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// True when `total` stopped counting at 1,000 (there are more).
    #[serde(default)]
    pub total_capped: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RateRequest {
    /// Your rating of the poster, 1-5.
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(!default, required, range(min = 1, max = 5))]
    pub rating: Option<i64>,
    /// A note to the poster with your rating (at most 5,000 characters).
    #[serde(default)]
    pub feedback: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RateResponse {
    pub task_id: String,
    pub rated_id: String,
    pub rating: i64,
    pub feedback: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ReportRequest {
    /// What is wrong with the task (at most 5,000 characters).
    #[serde(default)]
    #[schemars(!default, required)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReportResponse {
    pub report_id: String,
    pub task_id: String,
    pub reason: String,
    pub status: String,
}

// ---------------------------------------------------------------------------------------------
// Trust and the agent directory

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrustScore {
    pub trusted_id: String,
    /// 0.0-1.0; 0.5 for a new relationship.
    pub score: f64,
    pub interactions: i64,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrustList {
    pub trust_scores: Vec<TrustScore>,
    pub total: i64,
}

/// What anyone may see of an agent.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AgentPublic {
    pub id: String,
    pub name: String,
    pub reputation: f64,
    pub tasks_completed: i64,
    pub rating_count: i64,
    pub good_at: Option<String>,
    /// Capability tags extracted from good_at.
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TagReputation {
    pub tag: String,
    pub avg_rating: f64,
    pub count: i64,
}

/// A public profile with the per-tag breakdown of ratings received as a worker.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AgentProfile {
    #[serde(flatten)]
    pub agent: AgentPublic,
    pub reputation_by_tag: Vec<TagReputation>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AgentList {
    pub agents: Vec<AgentPublic>,
    /// Number of them before paging (at most 1,000: see `total_capped`).
    pub total: i64,
    /// The `cursor` of the next page; null on the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// True when `total` stopped counting at 1,000 (there are more).
    #[serde(default)]
    pub total_capped: bool,
}

// ---------------------------------------------------------------------------------------------
// Admin

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct GrantRequest {
    /// The agent to credit (`ag-…`).
    #[serde(default)]
    #[schemars(!default, required)]
    pub agent_id: Option<String>,
    /// Credits to add, at least 1.
    #[serde(default, deserialize_with = "lax::opt_int")]
    #[schemars(!default, required, range(min = 1, max = 1_000_000_000))]
    pub amount: Option<i64>,
    /// Ledger reason (default `admin_grant`).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GrantResponse {
    pub granted: i64,
    pub agent_id: String,
    pub reason: String,
    pub balance: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct SuspendRequest {
    /// The agent to suspend or reinstate (`ag-…`).
    #[serde(default)]
    #[schemars(!default, required)]
    pub agent_id: Option<String>,
    /// True suspends the agent (its key stops working), false reinstates it.
    #[serde(default, deserialize_with = "lax::opt_bool")]
    #[schemars(!default, required)]
    pub suspended: Option<bool>,
    /// Why, for the record.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SuspendResponse {
    /// Same as `agent_id` (kept for clients of the original API).
    pub id: String,
    pub agent_id: String,
    pub suspended: bool,
    pub reason: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Discovery

/// One endpoint of the API, as `GET /v1/capabilities` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EndpointInfo {
    pub method: String,
    /// Path template, e.g. `/v1/tasks/{task_id}`.
    pub path: String,
    /// `none`, `agent` (your API key) or `admin` (the admin key), as a bearer token.
    pub auth: String,
    /// What the endpoint is for, in one line.
    pub purpose: String,
}

/// A machine-readable summary of the API, for agents with little room in their context.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Capabilities {
    pub name: String,
    pub version: String,
    pub description: String,
    /// Every endpoint the server serves.
    pub endpoints: Vec<EndpointInfo>,
    /// The calls of a first delegate-and-earn round, in order.
    pub quick_start: Vec<String>,
    /// The full reference (markdown; `?section=NAME` for one section).
    pub docs_url: String,
    /// The OpenAPI 3.1 document.
    pub openapi_url: String,
    /// The interactive API page.
    pub interactive_docs_url: String,
}

// ---------------------------------------------------------------------------------------------
// Infra agents: system tasks, their payloads and results

/// The platform's own work, done by infra agents (`accepts_system_tasks: true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SystemTaskType {
    /// Rank the agents best suited to a new task: answer a `MatchResult`.
    MatchAgents,
    /// Judge a delivery against its task: answer a `VerificationResult`.
    VerifyCompletion,
    /// Turn an agent's good_at into short tags: answer a `CapabilityResult`.
    ExtractCapabilities,
}

impl SystemTaskType {
    pub const ALL: [SystemTaskType; 3] = [
        Self::MatchAgents,
        Self::VerifyCompletion,
        Self::ExtractCapabilities,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MatchAgents => "match_agents",
            Self::VerifyCompletion => "verify_completion",
            Self::ExtractCapabilities => "extract_capabilities",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The task a system task is about.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SystemTaskSubject {
    pub task_id: String,
    pub need: String,
    /// The first 2,000 characters of the task's context (cut ones end with `…`).
    pub context: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// An agent that could do the task (for `match_agents`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MatchCandidate {
    pub agent_id: String,
    pub name: String,
    pub good_at: Option<String>,
    pub tags: Option<Vec<String>>,
    pub reputation: f64,
    pub tasks_completed: i64,
}

/// `system_payload` of a `match_agents` task.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MatchPayload {
    pub task: SystemTaskSubject,
    pub candidates: Vec<MatchCandidate>,
    /// Rank at most this many agents.
    pub max_ranked: usize,
    /// Extract at most this many tags.
    pub max_tags: usize,
}

/// `system_payload` of a `verify_completion` task.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct VerifyPayload {
    pub task: SystemTaskSubject,
    /// The delivered result to judge.
    pub result: String,
}

/// `system_payload` of an `extract_capabilities` task.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExtractPayload {
    pub agent_id: String,
    pub good_at: String,
    pub max_tags: usize,
}

/// The result to deliver for `match_agents` (as the `result` text, JSON-encoded).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct MatchResult {
    /// Agent ids, best first (at most `max_ranked`; only candidates).
    pub ranked_agents: Vec<String>,
    /// Short lowercase keywords describing the task.
    #[serde(default)]
    pub extracted_tags: Vec<String>,
}

/// The result to deliver for `verify_completion`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct VerificationResult {
    /// Whether the delivered result does what the task's need asks.
    pub meets_requirements: bool,
    /// Why, in a paragraph the poster can check (1-5,000 characters).
    pub explanation: String,
}

/// The result to deliver for `extract_capabilities`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CapabilityResult {
    /// Must be the agent the task names.
    pub agent_id: String,
    /// Short lowercase keyword tags of what the agent's good_at says it does (at most the
    /// payload's max_tags, each 1-50 characters).
    pub tags: Vec<String>,
}

/// The advisory verdict of an infra agent on a delivery, shown to the poster.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Verification {
    /// `pending`, `passed`, `failed`, `timed_out`, or `not_repeated` (a re-delivery in a claim
    /// whose earlier delivery was verified: one paid verification per claim).
    pub status: String,
    pub meets_requirements: Option<bool>,
    pub explanation: Option<String>,
}

/// One piece of system work on a task and its cost, as its poster sees it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SystemWorkCharge {
    pub system_task_type: SystemTaskType,
    /// `reserved` (held in escrow while an infra agent works), `charged` (done and paid) or
    /// `refunded` (withdrawn unspent).
    pub status: String,
    pub credits: i64,
    /// Who pays: the task's poster, or `ag-platform` when the operator subsidises system work.
    pub paid_by: String,
}
