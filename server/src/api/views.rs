//! Domain records → wire types.

use crate::model::{self, Agent, LedgerLine, Task, TaskStatus, VerificationState};
use crate::store::{OpenTask, StatFigures, SystemWork, round2};
use crate::time::{rfc3339, rfc3339_opt};
use pinchwork_client::types::{
    AbandonResponse, AgentPublic, AgentSelf, AvailableItem, LedgerEntry, Message, PickupItem,
    Question, StatsResponse, SystemWorkCharge, TagEarnings, TagReputation, TaskView, TrustScore,
    Verification,
};

/// A task with the system work done or reserved for it.
pub fn task_view_with(t: &Task, work: &[SystemWork]) -> TaskView {
    TaskView {
        system_work: work.iter().map(system_work_charge).collect(),
        ..task_view(t)
    }
}

fn system_work_charge(w: &SystemWork) -> SystemWorkCharge {
    let (status, credits) = match w.status {
        TaskStatus::Approved => ("charged", w.charged.unwrap_or(w.budget)),
        TaskStatus::Cancelled | TaskStatus::Expired => ("refunded", w.budget),
        _ => ("reserved", w.budget),
    };
    SystemWorkCharge {
        system_task_type: w.kind,
        status: status.into(),
        credits,
        paid_by: w.payer.clone(),
    }
}

/// A task as its poster or worker sees it (without its system work: see `task_view_with`).
pub fn task_view(t: &Task) -> TaskView {
    TaskView {
        task_id: t.id.clone(),
        status: t.status,
        need: t.need.clone(),
        context: t.context.clone(),
        result: t.result.clone(),
        max_credits: t.max_credits,
        credits_charged: t.credits_charged,
        tags: t.tags.clone(),
        poster_id: t.poster_id.clone(),
        worker_id: t.worker_id.clone(),
        created_at: rfc3339(t.created_at),
        deadline: rfc3339_opt(t.deadline),
        claim_deadline: rfc3339_opt(t.claim_deadline),
        delivered_at: rfc3339_opt(t.delivered_at),
        review_deadline: rfc3339_opt(t.review_deadline),
        review_timeout_minutes: t.review_timeout_minutes,
        claim_timeout_minutes: t.claim_timeout_minutes,
        rejection_reason: t.rejection_reason.clone(),
        rejection_count: t.rejection_count,
        rejection_grace_deadline: rfc3339_opt(t.rejection_grace_deadline),
        verification: t.verification.as_ref().map(verification),
        private: t.private,
        feedback: t.feedback.clone(),
        system_work: Vec::new(),
    }
}

fn verification(v: &VerificationState) -> Verification {
    let (status, meets, explanation) = match v {
        VerificationState::Pending => ("pending", None, None),
        VerificationState::TimedOut => ("timed_out", None, None),
        VerificationState::NotRepeated => ("not_repeated", None, None),
        VerificationState::Done {
            meets_requirements,
            explanation,
        } => (
            if *meets_requirements {
                "passed"
            } else {
                "failed"
            },
            Some(*meets_requirements),
            Some(explanation.clone()),
        ),
    };
    Verification {
        status: status.into(),
        meets_requirements: meets,
        explanation,
    }
}

pub fn pickup_item(t: &Task, poster_reputation: f64) -> PickupItem {
    PickupItem {
        task_id: t.id.clone(),
        poster_id: t.poster_id.clone(),
        need: t.need.clone(),
        context: t.context.clone(),
        max_credits: t.max_credits,
        tags: t.tags.clone(),
        created_at: rfc3339(t.created_at),
        poster_reputation,
        deadline: rfc3339_opt(t.deadline),
        claim_deadline: rfc3339_opt(t.claim_deadline),
        claim_timeout_minutes: t.claim_timeout_minutes,
        rejection_count: t.rejection_count,
        system_task_type: t.system_task_type,
        system_payload: t
            .system_payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
    }
}

pub fn available_item(o: &OpenTask) -> AvailableItem {
    let t = &o.task;
    AvailableItem {
        task_id: t.id.clone(),
        need: t.need.clone(),
        context: t.context.clone(),
        max_credits: t.max_credits,
        tags: t.tags.clone(),
        created_at: rfc3339(t.created_at),
        poster_id: t.poster_id.clone(),
        poster_reputation: o.poster_reputation,
        is_matched: o.match_rank.is_some(),
        match_rank: o.match_rank,
        rejection_count: t.rejection_count,
        deadline: rfc3339_opt(t.deadline),
    }
}

pub fn abandon_response(t: &Task) -> AbandonResponse {
    AbandonResponse {
        id: t.id.clone(),
        task_id: t.id.clone(),
        poster_id: t.poster_id.clone(),
        worker_id: t.worker_id.clone(),
        need: t.need.clone(),
        context: t.context.clone(),
        status: t.status,
        max_credits: t.max_credits,
    }
}

pub fn agent_self(a: &Agent) -> AgentSelf {
    AgentSelf {
        id: a.id.clone(),
        name: a.name.clone(),
        credits: a.credits,
        reputation: a.reputation,
        tasks_posted: a.tasks_posted,
        tasks_completed: a.tasks_completed,
        good_at: a.good_at.clone(),
        accepts_system_tasks: a.accepts_system_tasks,
        webhook_url: a.webhook_url.clone(),
        capability_tags: a.capability_tags.clone(),
        created_at: rfc3339(a.created_at),
    }
}

pub fn ledger_entry(l: &LedgerLine) -> LedgerEntry {
    LedgerEntry {
        id: l.id.clone(),
        amount: l.amount,
        reason: l.reason.clone(),
        task_id: l.task_id.clone(),
        created_at: rfc3339(l.created_at),
    }
}

pub fn agent_public(a: &Agent) -> AgentPublic {
    AgentPublic {
        id: a.id.clone(),
        name: a.name.clone(),
        reputation: a.reputation,
        tasks_completed: a.tasks_completed,
        rating_count: a.rating_count,
        good_at: a.good_at.clone(),
        tags: a.capability_tags.clone(),
    }
}

pub fn tag_reputation(t: &model::TagReputation) -> TagReputation {
    TagReputation {
        tag: t.tag.clone(),
        avg_rating: t.avg_rating,
        count: t.count,
    }
}

pub fn question(q: &model::Question) -> Question {
    Question {
        id: q.id.clone(),
        task_id: q.task_id.clone(),
        asker_id: q.asker_id.clone(),
        question: q.question.clone(),
        answer: q.answer.clone(),
        created_at: rfc3339(q.created_at),
        answered_at: rfc3339_opt(q.answered_at),
    }
}

pub fn message(m: &model::Message) -> Message {
    Message {
        id: m.id.clone(),
        task_id: m.task_id.clone(),
        sender_id: m.sender_id.clone(),
        message: m.message.clone(),
        created_at: rfc3339(m.created_at),
    }
}

pub fn trust_score(t: &model::Trust) -> TrustScore {
    TrustScore {
        trusted_id: t.trusted_id.clone(),
        score: t.score,
        interactions: t.interactions,
        updated_at: rfc3339(t.updated_at),
    }
}

/// An agent's stats: rates and averages rounded to cents.
pub fn stats(f: StatFigures) -> StatsResponse {
    let (approved, delivered) = (f.approved, f.delivered);
    StatsResponse {
        total_earned: f.total_earned,
        total_spent: f.total_spent,
        total_fees_paid: f.total_fees_paid,
        approval_rate: (approved + delivered > 0)
            .then(|| round2(approved as f64 / (approved + delivered) as f64)),
        avg_task_value: f.avg_value.map(round2),
        tasks_by_tag: f
            .earned_by_tag
            .into_iter()
            .map(|t| TagEarnings {
                tag: t.tag,
                count: t.count,
                earned: t.earned,
            })
            .collect(),
        recent_7d_earned: f.recent_7d_earned,
        recent_30d_earned: f.recent_30d_earned,
    }
}
