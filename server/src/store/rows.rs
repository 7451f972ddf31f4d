//! What both backends share about rows: the column lists, the JSON kept in text columns, the
//! values a task row is written with, and building records from a row whichever driver read
//! it. Each backend keeps only its SQL and its driver's plumbing.

use super::sql::{Cell, Cells};
use super::{DeliveryStatus, Result, WebhookDelivery, tags_key};
use crate::model::{
    Agent, MatchStatus, Question, SystemTaskType, TagReputation, Task, TaskStatus, Trust,
    VerificationState,
};
use std::collections::BTreeMap;

macro_rules! agent_written_cols {
    () => {
        "id, name, key_digest, credits, reputation, rating_count, tasks_posted, \
         tasks_completed, accepts_system_tasks, good_at, capability_tags, suspended, \
         abandon_count, last_abandon_at, webhook_url, webhook_secret, created_at"
    };
}

/// The columns an agent is inserted with.
pub const AGENT_WRITTEN_COLS: &str = agent_written_cols!();

/// The columns an agent is read with: those it is inserted with, and the one its database's
/// triggers keep (`did_system_work`), which the server never writes.
pub const AGENT_COLS: &str = concat!(agent_written_cols!(), ", did_system_work");

pub const TASK_COLS: &str = "id, poster_id, worker_id, need, context, result, status, \
    max_credits, credits_charged, tags, is_system, match_status, match_deadline, \
    rejection_reason, rejection_count, rejection_grace_deadline, review_timeout_minutes, \
    claim_timeout_minutes, claim_deadline, review_deadline, deadline, created_at, claimed_at, \
    delivered_at, expires_at, assignment, system_task_type, parent_task_id, subject_agent_id, \
    system_payload, excluded_agents, extracted_tags, verification, verification_deadline, \
    private, payer_id, feedback, system_work";

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
    "system_work",
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
        Cell::Flag(t.system_work),
        tags_key(&Some(t.routing_tags())).into(),
        t.next_due().into(),
    ]
}

pub fn agent_from(r: &dyn Cells) -> Result<Agent> {
    Ok(Agent {
        id: r.text("id")?,
        name: r.text("name")?,
        key_digest: r.opt_bytes("key_digest")?.unwrap_or_default(),
        credits: r.int("credits")?,
        reputation: r.real("reputation")?,
        rating_count: r.int("rating_count")?,
        tasks_posted: r.int("tasks_posted")?,
        tasks_completed: r.int("tasks_completed")?,
        accepts_system_tasks: r.flag("accepts_system_tasks")?,
        good_at: r.opt_text("good_at")?,
        capability_tags: json_list(r.opt_text("capability_tags")?),
        suspended: r.flag("suspended")?,
        abandon_count: r.int("abandon_count")?,
        last_abandon_at: r.opt_int("last_abandon_at")?,
        webhook_url: r.opt_text("webhook_url")?,
        webhook_secret: r.opt_text("webhook_secret")?,
        created_at: r.int("created_at")?,
        did_system_work: r.flag("did_system_work")?,
    })
}

pub fn task_from(r: &dyn Cells) -> Result<Task> {
    Ok(Task {
        id: r.text("id")?,
        poster_id: r.text("poster_id")?,
        worker_id: r.opt_text("worker_id")?,
        need: r.text("need")?,
        context: r.opt_text("context")?,
        result: r.opt_text("result")?,
        status: TaskStatus::parse(&r.text("status")?).unwrap_or(TaskStatus::Cancelled),
        max_credits: r.int("max_credits")?,
        credits_charged: r.opt_int("credits_charged")?,
        tags: json_list(r.opt_text("tags")?),
        is_system: r.flag("is_system")?,
        match_status: MatchStatus::parse(&r.text("match_status")?)
            .unwrap_or(MatchStatus::Broadcast),
        match_deadline: r.opt_int("match_deadline")?,
        rejection_reason: r.opt_text("rejection_reason")?,
        rejection_count: r.int("rejection_count")?,
        rejection_grace_deadline: r.opt_int("rejection_grace_deadline")?,
        review_timeout_minutes: r.opt_int("review_timeout_minutes")?,
        claim_timeout_minutes: r.opt_int("claim_timeout_minutes")?,
        claim_deadline: r.opt_int("claim_deadline")?,
        review_deadline: r.opt_int("review_deadline")?,
        deadline: r.opt_int("deadline")?,
        created_at: r.int("created_at")?,
        claimed_at: r.opt_int("claimed_at")?,
        delivered_at: r.opt_int("delivered_at")?,
        expires_at: r.int("expires_at")?,
        assignment: r.opt_text("assignment")?,
        system_task_type: r
            .opt_text("system_task_type")?
            .and_then(|t| SystemTaskType::parse(&t)),
        parent_task_id: r.opt_text("parent_task_id")?,
        subject_agent_id: r.opt_text("subject_agent_id")?,
        system_payload: r.opt_text("system_payload")?,
        excluded_agents: r.opt_text("excluded_agents")?,
        extracted_tags: json_list(r.opt_text("extracted_tags")?),
        verification: r
            .opt_text("verification")?
            .and_then(|v| verification_from_json(&v)),
        verification_deadline: r.opt_int("verification_deadline")?,
        private: r.flag("private")?,
        payer_id: r.opt_text("payer_id")?,
        feedback: r.opt_text("feedback")?,
        system_work: r.flag("system_work")?,
    })
}

/// A task row followed by its poster's reputation and the viewer's match rank.
pub fn open_task_from(r: &dyn Cells) -> Result<super::OpenTask> {
    Ok(super::OpenTask {
        task: task_from(r)?,
        poster_reputation: r.real("poster_reputation")?,
        match_rank: r.opt_int("match_rank")?,
    })
}

/// `parent_task_id, system_task_type, status, max_credits, credits_charged, payer_id`.
pub const SYSTEM_WORK_COLS: &str =
    "parent_task_id, system_task_type, status, max_credits, credits_charged, payer_id";

pub fn system_work_from(r: &dyn Cells) -> Result<super::SystemWork> {
    Ok(super::SystemWork {
        about: r.text("parent_task_id")?,
        kind: SystemTaskType::parse(&r.text("system_task_type")?)
            .unwrap_or(SystemTaskType::MatchAgents),
        status: TaskStatus::parse(&r.text("status")?).unwrap_or(TaskStatus::Cancelled),
        budget: r.int("max_credits")?,
        charged: r.opt_int("credits_charged")?,
        payer: r.text("payer_id")?,
    })
}

pub fn question_from(r: &dyn Cells) -> Result<Question> {
    Ok(Question {
        id: r.text("id")?,
        task_id: r.text("task_id")?,
        asker_id: r.text("asker_id")?,
        question: r.text("question")?,
        answer: r.opt_text("answer")?,
        created_at: r.int("created_at")?,
        answered_at: r.opt_int("answered_at")?,
    })
}

pub fn trust_from(r: &dyn Cells) -> Result<Trust> {
    Ok(Trust {
        truster_id: r.text("truster_id")?,
        trusted_id: r.text("trusted_id")?,
        score: r.real("score")?,
        interactions: r.int("interactions")?,
        updated_at: r.int("updated_at")?,
    })
}

pub fn delivery_from(r: &dyn Cells) -> Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: r.text("id")?,
        event_id: r.int("event_id")?,
        recipient: r.text("recipient")?,
        kind: r.text("kind")?,
        url: r.text("url")?,
        body: r.text("body")?,
        status: DeliveryStatus::parse(&r.text("status")?).unwrap_or(DeliveryStatus::Failed),
        attempts: r.int("attempts")?,
        next_attempt_at: r.int("next_attempt_at")?,
        last_status: r.opt_int("last_status")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.int("created_at")?,
        finished_at: r.opt_int("finished_at")?,
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
