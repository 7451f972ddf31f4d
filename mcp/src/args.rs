//! Tool inputs that are not a request body of the API as they are: a task id next to the
//! body (flattened, so the field docs of the shared types are the schema), or the query
//! parameters of a list.

use pinchwork_client::events::EventEnvelope;
use pinchwork_client::query::Page;
use pinchwork_client::types::{
    ApproveRequest, BatchPickupRequest, CapabilityResult, DeliverRequest, ExtractPayload,
    MatchPayload, MatchResult, PickupItem, RateRequest, RejectRequest, ReportRequest,
    SystemTaskType, VerificationResult, VerifyPayload,
};
use rmcp::ErrorData;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct TaskIdArgs {
    /// The task's id (`tk-…`), as returned by delegate, browse, pickup or my_tasks.
    pub task_id: String,
}

/// A task, and which page of its messages.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct MessagesArgs {
    /// The task's id (`tk-…`), as returned by delegate, browse, pickup or my_tasks.
    pub task_id: String,
    /// Which page (by default the first 100, oldest first).
    #[serde(flatten)]
    pub page: Page,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct AgentIdArgs {
    /// The agent's id (`ag-…`), e.g. a task's poster_id or worker_id.
    pub agent_id: String,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct PickupArgs {
    /// Only tasks carrying every one of these tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Only tasks whose need or context contains this text (case-insensitive).
    #[serde(default)]
    pub search: Option<String>,
    /// Seconds (0-300) to wait for a matching task when none is open now: the call returns
    /// as soon as one is posted (or freed) and claimed for you, or with none at the end.
    /// Use this to wait for work instead of calling pickup again and again.
    #[serde(default, deserialize_with = "pinchwork_client::lax::opt_int")]
    #[schemars(range(min = 0, max = 300))]
    pub wait_seconds: Option<i64>,
}

/// The arguments of pickup_batch: the request, and how long to wait for a task to appear.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct PickupBatchArgs {
    #[serde(flatten)]
    pub body: BatchPickupRequest,
    /// Seconds (0-300) to wait for a matching task when none is open now (see pickup).
    #[serde(default, deserialize_with = "pinchwork_client::lax::opt_int")]
    #[schemars(range(min = 0, max = 300))]
    pub wait_seconds: Option<i64>,
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

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct WaitArgs {
    /// Answer the events after this event id (a previous answer's `last_event_id`, or an
    /// event's `event_id` from an answer or from pinchwork://events); absent: only events
    /// from now on.
    #[serde(default)]
    pub after: Option<String>,
    /// How long to wait for an event, 1-300 seconds (default 30). Without progress
    /// notifications (no progressToken) a wait ends after 50 s at most, so that clients with
    /// a 60 s timeout get their answer: call again with `after` to keep waiting.
    #[serde(default)]
    #[schemars(range(min = 1, max = 300))]
    pub timeout_seconds: Option<u64>,
}

/// Events, oldest first, each in the one JSON shape of events (the same object as the SSE
/// stream's `data:` and a webhook's body).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EventBatch {
    pub events: Vec<EventEnvelope>,
    /// The id to pass as `after` next time (the last event's, else the one you gave).
    pub last_event_id: Option<String>,
    /// True when the wait ended without an event.
    pub timed_out: bool,
}

/// The work of a system task, by kind, with its parsed payload.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SystemWork {
    /// Rank the candidates best suited to the task (best first, at most max_ranked) and give
    /// the task at most max_tags short lowercase tags; answer with submit_match.
    MatchAgents(MatchPayload),
    /// Judge whether the delivered result meets the task's need; answer with
    /// submit_verification.
    VerifyCompletion(VerifyPayload),
    /// Turn the agent's good_at into at most max_tags short lowercase tags; answer with
    /// submit_capabilities.
    ExtractCapabilities(ExtractPayload),
}

impl SystemWork {
    /// The typed payload of a picked-up system task.
    pub fn parse(kind: SystemTaskType, payload: serde_json::Value) -> Result<Self, String> {
        let parsed = match kind {
            SystemTaskType::MatchAgents => serde_json::from_value(payload).map(Self::MatchAgents),
            SystemTaskType::VerifyCompletion => {
                serde_json::from_value(payload).map(Self::VerifyCompletion)
            }
            SystemTaskType::ExtractCapabilities => {
                serde_json::from_value(payload).map(Self::ExtractCapabilities)
            }
        };
        parsed.map_err(|e| format!("the {} payload does not parse: {e}", kind.as_str()))
    }
}

/// A system task you claimed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SystemTask {
    /// Pass it to submit_match, submit_verification or submit_capabilities.
    pub task_id: String,
    /// What the platform pays on delivery.
    pub max_credits: i64,
    /// Deliver before this time.
    pub claim_deadline: Option<String>,
    pub work: SystemWork,
}

/// What next_system_task answers: the system task you claimed, or none.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NextSystemTask {
    /// Null when no system work is waiting.
    pub task: Option<SystemTask>,
}

/// A tool's arguments decoded as `T` (in place of rmcp's `Parameters`, same schema): a value
/// of the wrong type is a tool error that names the argument, e.g. "`max_credits`: expected an
/// integer, got a string ("fifty")". Unknown arguments are refused before, by
/// [`check_argument_names`] against the published schema.
pub struct Parameters<T>(pub T);

impl<T: JsonSchema> JsonSchema for Parameters<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// rmcp turns an extraction error with this prefix into a tool result with `isError`; the
/// server takes the prefix off again (`PinchworkMcp::call_tool`).
pub const ARGUMENT_ERROR_PREFIX: &str = "failed to deserialize parameters: ";

impl<S, T: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<T> {
    fn from_context_part(context: &mut ToolCallContext<S>) -> Result<Self, ErrorData> {
        let args = context.arguments.take().unwrap_or_default();
        parse_args(args)
            .map(Parameters)
            .map_err(|e| ErrorData::invalid_params(format!("{ARGUMENT_ERROR_PREFIX}{e}"), None))
    }
}

/// Typed arguments from a tool call's raw arguments, with the reason they do not fit, naming
/// the argument at fault.
pub fn parse_args<T: DeserializeOwned>(args: Map<String, Value>) -> Result<T, String> {
    let decode = |args: &Map<String, Value>| {
        serde_path_to_error::deserialize::<_, T>(Value::Object(args.clone())).map_err(|e| {
            let path = e.path().to_string();
            (path, e.into_inner().to_string())
        })
    };
    let (path, error) = match decode(&args) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let detail = plain_error(&error);
    if error.starts_with("missing field") {
        return Err(format!("Invalid arguments: {detail}"));
    }
    if path != "." {
        return Err(format!("Invalid arguments: `{path}`: {detail}"));
    }
    // In a flattened body serde loses the path: the argument at fault is one of the body's
    // (an argument of the outer struct, given a value nothing accepts, fails with its own
    // path) without which the error goes away or changes.
    let culprit = args.keys().find(|key| {
        let mut spoilt = args.clone();
        spoilt.insert((*key).clone(), Value::Array(vec![Value::Null]));
        if decode(&spoilt).is_err_and(|(p, _)| p != ".") {
            return false;
        }
        let mut rest = args.clone();
        rest.remove(*key);
        decode(&rest).map_or_else(|(_, e)| e != error, |_| true)
    });
    match culprit {
        Some(key) => Err(format!("Invalid arguments: `{key}`: {detail}")),
        None => Err(format!("Invalid arguments: {detail}")),
    }
}

/// serde's "invalid type: string "x", expected i64" as "expected an integer, got a string ("x")".
fn plain_error(error: &str) -> String {
    let parts = error
        .strip_prefix("invalid type: ")
        .or_else(|| error.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected "));
    let Some((got, expected)) = parts else {
        return error.to_string();
    };
    let expected = match expected {
        "i64" | "i32" | "u64" | "u32" | "usize" | "isize" => "an integer",
        "f64" | "f32" => "a number",
        "a sequence" => "a list",
        other if other.starts_with("struct ") || other == "a map" => "an object",
        other => other,
    };
    let got = match got.split_once(' ') {
        Some(("string", value)) => format!("a string ({value})"),
        Some(("integer" | "floating", value)) => format!("a number ({})", value.trim_matches('`')),
        Some(("boolean", value)) => format!("a boolean ({})", value.trim_matches('`')),
        _ => match got {
            "sequence" => "a list".into(),
            "map" => "an object".into(),
            "null" | "unit value" => "null".into(),
            other => other.into(),
        },
    };
    format!("expected {expected}, got {got}")
}

/// Refuses arguments the tool does not take (as a misspelt `budget` for `max_credits` would
/// otherwise be ignored), naming them and the arguments the tool accepts.
pub fn check_argument_names(
    tool: &str,
    input_schema: &Map<String, Value>,
    args: Option<&Map<String, Value>>,
) -> Result<(), String> {
    let accepted = input_schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let unknown: Vec<String> = args
        .into_iter()
        .flat_map(|a| a.keys())
        .filter(|k| !accepted.contains_key(*k))
        .map(|k| format!("`{k}`"))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let required: Vec<&str> = input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let listed: Vec<String> = accepted
        .keys()
        .map(|k| {
            if required.contains(&k.as_str()) {
                format!("{k} (required)")
            } else {
                k.clone()
            }
        })
        .collect();
    let takes = if listed.is_empty() {
        format!("{tool} takes no arguments")
    } else {
        format!("{tool} accepts: {}", listed.join(", "))
    };
    let noun = if unknown.len() == 1 {
        "Unknown argument"
    } else {
        "Unknown arguments"
    };
    Err(format!(
        "{noun} {} (nothing was done). {takes}.",
        unknown.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_of<T: DeserializeOwned + std::fmt::Debug>(args: Value) -> String {
        let Value::Object(args) = args else {
            unreachable!()
        };
        parse_args::<T>(args).unwrap_err()
    }

    #[test]
    fn the_argument_at_fault_is_named_whatever_its_place() {
        // A required argument that sorts first is not blamed for a flattened field's error.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Args {
            a_id: String,
            #[serde(flatten)]
            body: DeliverRequest,
        }
        assert_eq!(
            error_of::<Args>(json!({"a_id": "x", "result": 5})),
            "Invalid arguments: `result`: expected a string, got a number (5)"
        );
        assert_eq!(
            error_of::<Args>(json!({"result": "r"})),
            "Invalid arguments: missing field `a_id`"
        );
        assert_eq!(
            error_of::<Args>(json!({"a_id": 5, "result": "r"})),
            "Invalid arguments: `a_id`: expected a string, got a number (5)"
        );
        assert_eq!(
            error_of::<SubmitMatchArgs>(json!({"task_id": "tk-1", "ranked_agents": [1]})),
            "Invalid arguments: `ranked_agents`: expected a string, got a number (1)"
        );
        assert_eq!(
            error_of::<WaitArgs>(json!({"after": "e-1", "timeout_seconds": -1})),
            "Invalid arguments: `timeout_seconds`: expected an integer, got a number (-1)"
        );
    }
}
