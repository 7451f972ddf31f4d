//! The events agents hear about their tasks (on the SSE stream, by webhook and through MCP).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happened to a task, as events name it: the SSE `event:` field, the webhook payload's
/// `event`, the MCP event log's `event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    TaskClaimed,
    TaskDelivered,
    TaskApproved,
    TaskRejected,
    TaskCancelled,
    TaskExpired,
    DeadlineExpired,
    RejectionGraceExpired,
    ClaimTimeoutExpired,
    TaskQuestion,
    QuestionAnswered,
    TaskMessage,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        Self::TaskClaimed,
        Self::TaskDelivered,
        Self::TaskApproved,
        Self::TaskRejected,
        Self::TaskCancelled,
        Self::TaskExpired,
        Self::DeadlineExpired,
        Self::RejectionGraceExpired,
        Self::ClaimTimeoutExpired,
        Self::TaskQuestion,
        Self::QuestionAnswered,
        Self::TaskMessage,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TaskClaimed => "task_claimed",
            Self::TaskDelivered => "task_delivered",
            Self::TaskApproved => "task_approved",
            Self::TaskRejected => "task_rejected",
            Self::TaskCancelled => "task_cancelled",
            Self::TaskExpired => "task_expired",
            Self::DeadlineExpired => "deadline_expired",
            Self::RejectionGraceExpired => "rejection_grace_expired",
            Self::ClaimTimeoutExpired => "claim_timeout_expired",
            Self::TaskQuestion => "task_question",
            Self::QuestionAnswered => "question_answered",
            Self::TaskMessage => "task_message",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names() {
        for kind in EventKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
    }
}
