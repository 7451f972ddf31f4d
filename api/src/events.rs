//! The events agents hear about their tasks (on the SSE stream, by webhook and through MCP).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

// ---------------------------------------------------------------------------------------------
// The typed event and its one JSON shape

/// The fields of an event that carries none of its own (`"data": {}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoFields {}

/// `task_claimed` (to the poster): who claimed the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskClaimed {
    /// The agent that claimed it.
    pub worker_id: String,
}

/// `task_approved` (to the worker): the poster's feedback, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskApproved {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
}

/// `task_rejected` (to the worker): why, and either until when the worker may re-deliver
/// (`grace_deadline`) or that this was the last rejection allowed (`max_rejections_reached`,
/// the task went back to the marketplace).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskRejected {
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// RFC 3339: the end of the re-delivery grace window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_deadline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rejections_reached: Option<bool>,
}

/// `task_question` (to the poster) and `question_answered` (to the asker): which question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuestionRef {
    pub question_id: String,
}

/// `task_message` (to the other party): which message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MessageRef {
    pub message_id: String,
}

/// What happened, with the fields of its kind: `{"event": <kind>, "data": {<fields>}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum EventData {
    TaskClaimed(TaskClaimed),
    TaskDelivered(NoFields),
    TaskApproved(TaskApproved),
    TaskRejected(TaskRejected),
    TaskCancelled(NoFields),
    TaskExpired(NoFields),
    DeadlineExpired(NoFields),
    RejectionGraceExpired(NoFields),
    ClaimTimeoutExpired(NoFields),
    TaskQuestion(QuestionRef),
    QuestionAnswered(QuestionRef),
    TaskMessage(MessageRef),
}

impl EventData {
    pub fn kind(&self) -> EventKind {
        match self {
            Self::TaskClaimed(_) => EventKind::TaskClaimed,
            Self::TaskDelivered(_) => EventKind::TaskDelivered,
            Self::TaskApproved(_) => EventKind::TaskApproved,
            Self::TaskRejected(_) => EventKind::TaskRejected,
            Self::TaskCancelled(_) => EventKind::TaskCancelled,
            Self::TaskExpired(_) => EventKind::TaskExpired,
            Self::DeadlineExpired(_) => EventKind::DeadlineExpired,
            Self::RejectionGraceExpired(_) => EventKind::RejectionGraceExpired,
            Self::ClaimTimeoutExpired(_) => EventKind::ClaimTimeoutExpired,
            Self::TaskQuestion(_) => EventKind::TaskQuestion,
            Self::QuestionAnswered(_) => EventKind::QuestionAnswered,
            Self::TaskMessage(_) => EventKind::TaskMessage,
        }
    }

    /// The event's own fields (the `data` object).
    fn fields(&self) -> Fields<'_> {
        match self {
            Self::TaskClaimed(f) => Fields::TaskClaimed(f),
            Self::TaskApproved(f) => Fields::TaskApproved(f),
            Self::TaskRejected(f) => Fields::TaskRejected(f),
            Self::TaskQuestion(f) | Self::QuestionAnswered(f) => Fields::Question(f),
            Self::TaskMessage(f) => Fields::Message(f),
            Self::TaskDelivered(f)
            | Self::TaskCancelled(f)
            | Self::TaskExpired(f)
            | Self::DeadlineExpired(f)
            | Self::RejectionGraceExpired(f)
            | Self::ClaimTimeoutExpired(f) => Fields::None(f),
        }
    }

    /// The event's own fields as a JSON object (what the event log stores).
    pub fn fields_json(&self) -> Value {
        serde_json::to_value(self.fields()).expect("event fields serialize")
    }

    /// The event of `kind` with the fields `data` (a JSON object; missing optional fields
    /// are absent, unknown ones ignored).
    pub fn from_parts(kind: EventKind, data: Value) -> Result<Self, serde_json::Error> {
        let data = match data {
            Value::Null => Value::Object(Map::new()),
            data => data,
        };
        serde_json::from_value(serde_json::json!({"event": kind, "data": data}))
    }
}

/// The fields of each kind, untagged: what appears both as `data` and at the envelope's top
/// level.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
enum Fields<'a> {
    TaskClaimed(&'a TaskClaimed),
    TaskApproved(&'a TaskApproved),
    TaskRejected(&'a TaskRejected),
    Question(&'a QuestionRef),
    Message(&'a MessageRef),
    None(&'a NoFields),
}

/// An event about a task, addressed to one agent, in the one JSON shape every surface sends:
/// the `data:` of an SSE frame, the body of a webhook request and an event in MCP's
/// `wait_for_events` and `pinchwork://events` are the same object:
///
/// ```json
/// {"event": "task_rejected", "type": "task_rejected", "task_id": "tk-…", "event_id": 42,
///  "created_at": "2025-06-01T12:00:00+00:00", "timestamp": "2025-06-01T12:00:00+00:00",
///  "data": {"reason": "…", "grace_deadline": "…"}, "reason": "…", "grace_deadline": "…"}
/// ```
///
/// `event` and `type` are the same kind, `created_at` and `timestamp` the same instant, and
/// the kind's own fields are given both in `data` and at the top level: the webhook shape of
/// the guide (`event`, `task_id`, `data`, `timestamp`) and the SSE shape (`type`, `task_id`,
/// the fields, `event_id`, `created_at`) are both subsets of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEnvelope {
    /// The event's position in the recipient's log: resume a stream after it.
    pub event_id: i64,
    pub task_id: String,
    /// RFC 3339.
    pub created_at: String,
    pub data: EventData,
}

impl EventEnvelope {
    pub fn kind(&self) -> EventKind {
        self.data.kind()
    }
}

/// An event about one of your tasks: the same object on the SSE stream (`data:`), in a
/// webhook's body and from MCP. `event` and `type` are the same type, `created_at` and
/// `timestamp` the same instant; the type's own fields are in `data` and repeated at the top
/// level.
// The envelope as it is written, and described: `EventEnvelope`'s JSON Schema is this one.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Event")]
struct Shape<'a> {
    /// The event's position in the recipient's log (`id:` on the SSE stream).
    event_id: i64,
    /// The kind again, for SSE scripts (the same as `event`).
    #[serde(rename = "type")]
    kind: EventKind,
    task_id: &'a str,
    /// RFC 3339.
    created_at: &'a str,
    /// The same instant as `created_at` (the webhook field).
    timestamp: &'a str,
    /// `event` (the kind) and `data` (the kind's fields).
    #[serde(flatten)]
    data: &'a EventData,
    /// The kind's fields again at the top level (as SSE scripts read them).
    #[serde(flatten)]
    fields: Fields<'a>,
}

impl Serialize for EventEnvelope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Shape {
            event_id: self.event_id,
            kind: self.kind(),
            task_id: &self.task_id,
            created_at: &self.created_at,
            timestamp: &self.created_at,
            data: &self.data,
            fields: self.data.fields(),
        }
        .serialize(s)
    }
}

/// Reads the envelope, and also either older shape: the webhook's (fields under `data`,
/// time in `timestamp`) and the SSE's (kind in `type`, fields at the top level).
impl<'de> Deserialize<'de> for EventEnvelope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            event_id: i64,
            event: Option<EventKind>,
            #[serde(rename = "type")]
            kind: Option<EventKind>,
            task_id: String,
            created_at: Option<String>,
            timestamp: Option<String>,
            data: Option<Value>,
            #[serde(flatten)]
            rest: Map<String, Value>,
        }
        use serde::de::Error;
        let raw = Raw::deserialize(d)?;
        let kind = raw
            .event
            .or(raw.kind)
            .ok_or_else(|| D::Error::missing_field("event"))?;
        let data = raw.data.unwrap_or(Value::Object(raw.rest));
        Ok(Self {
            event_id: raw.event_id,
            task_id: raw.task_id,
            created_at: raw.created_at.or(raw.timestamp).unwrap_or_default(),
            data: EventData::from_parts(kind, data).map_err(D::Error::custom)?,
        })
    }
}

impl JsonSchema for EventEnvelope {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        Shape::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Shape::json_schema(generator)
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

    fn rejected() -> EventEnvelope {
        EventEnvelope {
            event_id: 42,
            task_id: "tk-1".into(),
            created_at: "2025-06-01T12:00:00+00:00".into(),
            data: EventData::TaskRejected(TaskRejected {
                reason: "incomplete".into(),
                feedback: None,
                grace_deadline: Some("2025-06-01T12:05:00+00:00".into()),
                max_rejections_reached: None,
            }),
        }
    }

    #[test]
    fn the_envelope_holds_both_guide_shapes() {
        let json = serde_json::to_value(rejected()).unwrap();
        let fields = serde_json::json!({
            "reason": "incomplete", "grace_deadline": "2025-06-01T12:05:00+00:00"
        });
        assert_eq!(
            json,
            serde_json::json!({
                "event": "task_rejected", "type": "task_rejected", "task_id": "tk-1",
                "event_id": 42, "created_at": "2025-06-01T12:00:00+00:00",
                "timestamp": "2025-06-01T12:00:00+00:00", "data": fields,
                "reason": "incomplete", "grace_deadline": "2025-06-01T12:05:00+00:00",
            })
        );
        // Back again, and from each older shape alone.
        assert_eq!(
            serde_json::from_value::<EventEnvelope>(json).unwrap(),
            rejected()
        );
        let webhook = serde_json::json!({
            "event": "task_rejected", "task_id": "tk-1", "data": fields,
            "timestamp": "2025-06-01T12:00:00+00:00", "event_id": 42,
        });
        assert_eq!(
            serde_json::from_value::<EventEnvelope>(webhook).unwrap(),
            rejected()
        );
        let sse = serde_json::json!({
            "type": "task_rejected", "task_id": "tk-1", "reason": "incomplete",
            "grace_deadline": "2025-06-01T12:05:00+00:00", "event_id": 42,
            "created_at": "2025-06-01T12:00:00+00:00",
        });
        assert_eq!(
            serde_json::from_value::<EventEnvelope>(sse).unwrap(),
            rejected()
        );
    }

    #[test]
    fn every_kind_has_fields_that_keep_clear_of_the_envelope() {
        let envelope = [
            "event",
            "type",
            "task_id",
            "event_id",
            "created_at",
            "timestamp",
            "data",
        ];
        for kind in EventKind::ALL {
            // Every kind decodes from its fields (here: empty strings for the required ones).
            let data = match kind {
                EventKind::TaskClaimed => serde_json::json!({"worker_id": "ag-1"}),
                EventKind::TaskRejected => serde_json::json!({"reason": "no"}),
                EventKind::TaskQuestion | EventKind::QuestionAnswered => {
                    serde_json::json!({"question_id": "q-1"})
                }
                EventKind::TaskMessage => serde_json::json!({"message_id": "m-1"}),
                _ => serde_json::json!({}),
            };
            let event = EventData::from_parts(kind, data.clone()).unwrap();
            assert_eq!(event.kind(), kind);
            assert_eq!(event.fields_json(), data);
        }
        let schema = serde_json::to_value(schemars::schema_for!(EventEnvelope)).unwrap();
        let text = schema.to_string();
        for field in [
            "worker_id",
            "feedback",
            "reason",
            "grace_deadline",
            "max_rejections_reached",
            "question_id",
            "message_id",
        ] {
            assert!(!envelope.contains(&field));
            assert!(
                text.contains(&format!("\"{field}\"")),
                "{field} in {schema:#}"
            );
        }
    }
}
