//! Events about tasks, addressed to one agent each. Rules record them while a transaction
//! runs; they are published on the bus only once that transaction has committed.

use serde_json::{Map, Value};
use tokio::sync::broadcast;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub task_id: String,
    pub recipient: String,
    pub data: Map<String, Value>,
}

impl Event {
    pub fn new(kind: EventKind, task_id: &str, recipient: &str) -> Self {
        Self {
            kind,
            task_id: task_id.into(),
            recipient: recipient.into(),
            data: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }
}

/// In-process fan-out of committed events to whoever listens (waiters, streams).
#[derive(Clone)]
pub struct Bus {
    sender: broadcast::Sender<Event>,
}

impl Default for Bus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(4096).0,
        }
    }
}

impl Bus {
    pub fn publish(&self, events: Vec<Event>) {
        for event in events {
            // No listener is not an error: the event simply has nobody waiting for it now.
            let _ = self.sender.send(event);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
