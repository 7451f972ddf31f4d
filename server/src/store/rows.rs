//! What both backends share about rows: the column lists, the JSON kept in text columns, the
//! values a task row is written with, and building records from a row whichever driver read
//! it. Each backend keeps only its SQL and its driver's plumbing.

use super::{DeliveryStatus, WebhookDelivery, tags_key};
use crate::model::{
    Agent, MatchStatus, Question, SystemTaskType, TagReputation, Task, TaskStatus, Trust,
    VerificationState,
};
use std::collections::BTreeMap;

pub const AGENT_COLS: &str = "id, name, key_digest, credits, reputation, rating_count, \
    tasks_posted, tasks_completed, accepts_system_tasks, good_at, capability_tags, suspended, \
    abandon_count, last_abandon_at, webhook_url, webhook_secret, created_at";

pub const TASK_COLS: &str = "id, poster_id, worker_id, need, context, result, status, \
    max_credits, credits_charged, tags, is_system, match_status, match_deadline, \
    rejection_reason, rejection_count, rejection_grace_deadline, review_timeout_minutes, \
    claim_timeout_minutes, claim_deadline, review_deadline, deadline, created_at, claimed_at, \
    delivered_at, expires_at, assignment, system_task_type, parent_task_id, subject_agent_id, \
    system_payload, excluded_agents, extracted_tags, verification, verification_deadline, \
    private, payer_id, feedback";

/// How many columns TASK_COLS names: a joined query's extra columns come after them.
pub const TASK_COL_COUNT: usize = 37;

/// Columns a task row has beyond TASK_COLS: derived for filtering and timers.
pub const TASK_DERIVED: &str = "tags_key, next_due_at";

/// The task columns that change after insertion. A compare-and-set update writes only these
/// (so that the indexes on the others are left alone).
pub const TASK_MUTABLE: &[&str] = &[
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
    "feedback",
    "tags_key",
    "next_due_at",
];

pub const QUESTION_COLS: &str = "id, task_id, asker_id, question, answer, created_at, answered_at";

pub const TRUST_COLS: &str = "truster_id, trusted_id, score, interactions, updated_at";

pub const DELIVERY_COLUMNS: &str = "d.id, d.event_id, d.recipient, d.kind, d.url, d.body, \
    d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, \
    d.finished_at";

/// Whether a pending delivery `d` has an earlier pending one to the same recipient: deliveries
/// go out one at a time per recipient, in the order of their events, so a slow or failing
/// receiver holds at most one of the shared workers and never receives events out of order.
pub const EARLIER_PENDING: &str = "SELECT 1 FROM webhook_deliveries e \
    WHERE e.recipient = d.recipient AND e.status = 'pending' \
    AND e.created_at <= d.created_at \
    AND (e.created_at < d.created_at OR e.event_id < d.event_id)";

/// The task columns of a table aliased `t` (built once).
pub static T_TASK_COLS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| task_cols("t."));

/// The task columns, each prefixed (for joined queries).
pub fn task_cols(prefix: &str) -> String {
    TASK_COLS
        .split(',')
        .map(|c| format!("{prefix}{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where each of TASK_MUTABLE sits among TASK_COLS then TASK_DERIVED (as `task_cells` orders
/// a task's values).
pub fn task_mutable_positions() -> Vec<usize> {
    let all: Vec<&str> = TASK_COLS
        .split(',')
        .chain(TASK_DERIVED.split(','))
        .map(str::trim)
        .collect();
    TASK_MUTABLE
        .iter()
        .map(|c| all.iter().position(|a| a == c).expect("a task column"))
        .collect()
}

/// A value to bind, whichever driver binds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Real(f64),
    Flag(bool),
}

impl From<String> for Cell {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}
impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}
impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}
impl From<Option<i64>> for Cell {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

/// A task's values in the order of TASK_COLS, then TASK_DERIVED.
pub fn task_cells(t: &Task) -> Vec<Cell> {
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
        Cell::Flag(t.is_system),
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
        Cell::Flag(t.private),
        t.payer_id.clone().into(),
        t.feedback.clone().into(),
        tags_key(&Some(t.routing_tags())).into(),
        t.next_due().into(),
    ]
}

/// Reading typed cells off a row, whatever the driver.
pub trait Cells {
    type Error;
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    fn real(&self, i: usize) -> Result<f64, Self::Error>;
    fn flag(&self, i: usize) -> Result<bool, Self::Error>;
    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, Self::Error>;
}

pub fn agent_from<R: Cells>(r: &R) -> Result<Agent, R::Error> {
    Ok(Agent {
        id: r.text(0)?,
        name: r.text(1)?,
        key_digest: r.opt_bytes(2)?.unwrap_or_default(),
        credits: r.int(3)?,
        reputation: r.real(4)?,
        rating_count: r.int(5)?,
        tasks_posted: r.int(6)?,
        tasks_completed: r.int(7)?,
        accepts_system_tasks: r.flag(8)?,
        good_at: r.opt_text(9)?,
        capability_tags: json_list(r.opt_text(10)?),
        suspended: r.flag(11)?,
        abandon_count: r.int(12)?,
        last_abandon_at: r.opt_int(13)?,
        webhook_url: r.opt_text(14)?,
        webhook_secret: r.opt_text(15)?,
        created_at: r.int(16)?,
    })
}

pub fn task_from<R: Cells>(r: &R) -> Result<Task, R::Error> {
    Ok(Task {
        id: r.text(0)?,
        poster_id: r.text(1)?,
        worker_id: r.opt_text(2)?,
        need: r.text(3)?,
        context: r.opt_text(4)?,
        result: r.opt_text(5)?,
        status: TaskStatus::parse(&r.text(6)?).unwrap_or(TaskStatus::Cancelled),
        max_credits: r.int(7)?,
        credits_charged: r.opt_int(8)?,
        tags: json_list(r.opt_text(9)?),
        is_system: r.flag(10)?,
        match_status: MatchStatus::parse(&r.text(11)?).unwrap_or(MatchStatus::Broadcast),
        match_deadline: r.opt_int(12)?,
        rejection_reason: r.opt_text(13)?,
        rejection_count: r.int(14)?,
        rejection_grace_deadline: r.opt_int(15)?,
        review_timeout_minutes: r.opt_int(16)?,
        claim_timeout_minutes: r.opt_int(17)?,
        claim_deadline: r.opt_int(18)?,
        review_deadline: r.opt_int(19)?,
        deadline: r.opt_int(20)?,
        created_at: r.int(21)?,
        claimed_at: r.opt_int(22)?,
        delivered_at: r.opt_int(23)?,
        expires_at: r.int(24)?,
        assignment: r.opt_text(25)?,
        system_task_type: r.opt_text(26)?.and_then(|t| SystemTaskType::parse(&t)),
        parent_task_id: r.opt_text(27)?,
        subject_agent_id: r.opt_text(28)?,
        system_payload: r.opt_text(29)?,
        excluded_agents: r.opt_text(30)?,
        extracted_tags: json_list(r.opt_text(31)?),
        verification: r.opt_text(32)?.and_then(|v| verification_from_json(&v)),
        verification_deadline: r.opt_int(33)?,
        private: r.flag(34)?,
        payer_id: r.opt_text(35)?,
        feedback: r.opt_text(36)?,
    })
}

/// A task row followed by its poster's reputation and the viewer's match rank.
pub fn open_task_from<R: Cells>(r: &R) -> Result<super::OpenTask, R::Error> {
    Ok(super::OpenTask {
        task: task_from(r)?,
        poster_reputation: r.real(TASK_COL_COUNT)?,
        match_rank: r.opt_int(TASK_COL_COUNT + 1)?,
    })
}

/// `parent_task_id, system_task_type, status, max_credits, credits_charged, payer_id`.
pub const SYSTEM_WORK_COLS: &str =
    "parent_task_id, system_task_type, status, max_credits, credits_charged, payer_id";

pub fn system_work_from<R: Cells>(r: &R) -> Result<super::SystemWork, R::Error> {
    Ok(super::SystemWork {
        about: r.text(0)?,
        kind: SystemTaskType::parse(&r.text(1)?).unwrap_or(SystemTaskType::MatchAgents),
        status: TaskStatus::parse(&r.text(2)?).unwrap_or(TaskStatus::Cancelled),
        budget: r.int(3)?,
        charged: r.opt_int(4)?,
        payer: r.text(5)?,
    })
}

pub fn question_from<R: Cells>(r: &R) -> Result<Question, R::Error> {
    Ok(Question {
        id: r.text(0)?,
        task_id: r.text(1)?,
        asker_id: r.text(2)?,
        question: r.text(3)?,
        answer: r.opt_text(4)?,
        created_at: r.int(5)?,
        answered_at: r.opt_int(6)?,
    })
}

pub fn trust_from<R: Cells>(r: &R) -> Result<Trust, R::Error> {
    Ok(Trust {
        truster_id: r.text(0)?,
        trusted_id: r.text(1)?,
        score: r.real(2)?,
        interactions: r.int(3)?,
        updated_at: r.int(4)?,
    })
}

pub fn delivery_from<R: Cells>(r: &R) -> Result<WebhookDelivery, R::Error> {
    Ok(WebhookDelivery {
        id: r.text(0)?,
        event_id: r.int(1)?,
        recipient: r.text(2)?,
        kind: r.text(3)?,
        url: r.text(4)?,
        body: r.text(5)?,
        status: DeliveryStatus::parse(&r.text(6)?).unwrap_or(DeliveryStatus::Failed),
        attempts: r.int(7)?,
        next_attempt_at: r.int(8)?,
        last_status: r.opt_int(9)?,
        last_error: r.opt_text(10)?,
        created_at: r.int(11)?,
        finished_at: r.opt_int(12)?,
    })
}

pub fn json_list(text: Option<String>) -> Option<Vec<String>> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

pub fn list_json(list: &Option<Vec<String>>) -> Option<String> {
    list.as_ref()
        .map(|l| serde_json::to_string(l).expect("strings serialize"))
}

fn verification_to_json(v: &VerificationState) -> String {
    let value = match v {
        VerificationState::Pending => serde_json::json!({"status": "pending"}),
        VerificationState::TimedOut => serde_json::json!({"status": "timed_out"}),
        VerificationState::NotRepeated => serde_json::json!({"status": "not_repeated"}),
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
        "not_repeated" => VerificationState::NotRepeated,
        _ => VerificationState::Done {
            meets_requirements: v["meets_requirements"].as_bool()?,
            explanation: v["explanation"].as_str()?.to_string(),
        },
    })
}

/// (count, sum of values) per tag, from rows of (JSON tag list, value).
fn sum_by_tag(rows: impl IntoIterator<Item = (String, i64)>) -> BTreeMap<String, (i64, i64)> {
    let mut per_tag = BTreeMap::<String, (i64, i64)>::new();
    for (tags, value) in rows {
        for tag in json_list(Some(tags)).unwrap_or_default() {
            let entry = per_tag.entry(tag).or_default();
            entry.0 += 1;
            entry.1 += value;
        }
    }
    per_tag
}

/// Reputation per tag from (the rated task's JSON tags, score) rows, best first.
pub fn tag_reputations(rows: impl IntoIterator<Item = (String, i64)>) -> Vec<TagReputation> {
    let mut out: Vec<TagReputation> = sum_by_tag(rows)
        .into_iter()
        .map(|(tag, (count, sum))| TagReputation {
            tag,
            avg_rating: round2(sum as f64 / count as f64),
            count,
        })
        .collect();
    out.sort_by(|a, b| {
        b.avg_rating
            .total_cmp(&a.avg_rating)
            .then(b.count.cmp(&a.count))
    });
    out
}

/// Earnings per tag from (the approved task's JSON tags, payment after the fee) rows, most
/// first.
pub fn earned_by_tag(rows: impl IntoIterator<Item = (String, i64)>) -> Vec<TagEarned> {
    let mut out: Vec<TagEarned> = sum_by_tag(rows)
        .into_iter()
        .map(|(tag, (count, earned))| TagEarned { tag, count, earned })
        .collect();
    out.sort_by(|a, b| b.earned.cmp(&a.earned).then(a.tag.cmp(&b.tag)));
    out
}

/// Rounded to cents (averages and rates are shown so).
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What an agent earned for work with one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagEarned {
    pub tag: String,
    /// Approved tasks with the tag.
    pub count: i64,
    /// Payments received for them, after the fee.
    pub earned: i64,
}

/// The sums an agent's stats are made of (the api rounds and shapes them).
#[derive(Debug, Clone, PartialEq)]
pub struct StatFigures {
    pub total_earned: i64,
    pub total_spent: i64,
    pub total_fees_paid: i64,
    /// Tasks the agent worked on, approved and waiting for review.
    pub approved: i64,
    pub delivered: i64,
    pub avg_value: Option<f64>,
    /// Earnings per tag of the agent's approved work, most first.
    pub earned_by_tag: Vec<TagEarned>,
    pub recent_7d_earned: i64,
    pub recent_30d_earned: i64,
}
