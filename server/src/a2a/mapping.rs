//! How a Pinchwork task looks to an A2A client, and what an A2A client's messages do. The
//! mapping is decided here and nowhere else (README.md and skill.md describe it).
//!
//! Ids: the A2A task id is the Pinchwork task id. The context id is the one the client sent
//! with its first message (or a new `ctx-…`); a task posted through the HTTP API is a context
//! of its own (its context id is its task id).
//!
//! | Pinchwork task                       | A2A state                   | status message          |
//! |--------------------------------------|-----------------------------|-------------------------|
//! | posted                               | `TASK_STATE_SUBMITTED`      | none                    |
//! | posted, with an unanswered question  | `TASK_STATE_INPUT_REQUIRED` | the oldest open question|
//! | claimed                              | `TASK_STATE_WORKING`        | the worker's last message, if any |
//! | delivered                            | `TASK_STATE_INPUT_REQUIRED` | how to approve or reject (the result is the artifact `result`) |
//! | approved (by the client or by the review timer) | `TASK_STATE_COMPLETED` | none       |
//! | cancelled                            | `TASK_STATE_CANCELED`       | none                    |
//! | expired at its deadline              | `TASK_STATE_FAILED`         | why                     |
//! | expired unclaimed at the end of its lifetime | `TASK_STATE_REJECTED` | why (no worker took it) |
//!
//! A message on an existing task (its `taskId` set) is, by the task's state: an approval
//! (`approve`, `approve 1`…`approve 5`, or a data part `{"action": "approve", "rating": 5}`)
//! or a rejection (`reject: <reason>`, or `{"action": "reject", "reason": "…"}`) of a
//! delivery; an answer to the open question (the oldest, or the one `metadata.questionId`
//! names) of a posted task; otherwise a message to the worker.

use super::jsonrpc::RpcError;
use super::types::{
    Artifact, Message, Part, Role, SendMessageRequest, Struct, Task as A2aTask,
    TaskArtifactUpdateEvent, TaskState, TaskStatus as A2aStatus, TaskStatusUpdateEvent,
};
use crate::api::views::task_view;
use crate::error::Result;
use crate::ids::new_id;
use crate::model::{self, Millis, Question, Task, TaskStatus};
use crate::store::{Page, StateCondition, Transaction};
use crate::time::rfc3339;
use pinchwork_client::lax;
use pinchwork_client::types::CreateTaskRequest;
use serde_json::{Value, json};

/// The longest id a client may give a message, a context or a push config.
pub const MAX_ID: usize = 200;

/// Everything A2A shows of one task, read in one transaction.
#[derive(Debug, Clone)]
pub struct View {
    pub task: Task,
    pub context_id: String,
    /// The id of the message the task was created from (A2A tasks, when history was read).
    pub request_id: Option<String>,
    /// The oldest unanswered question (posted tasks).
    pub open_question: Option<Question>,
    /// The current assignment's messages (claimed and delivered tasks).
    pub messages: Vec<model::Message>,
    /// Every question, when history was read.
    pub questions: Vec<Question>,
}

/// Reads what A2A shows of the poster's task: anyone else's task is not found.
pub async fn read(
    tx: &mut Transaction<'_>,
    poster: &str,
    task_id: &str,
    history: bool,
) -> Result<View> {
    let task = tx
        .task(task_id)
        .await?
        .filter(|t| t.poster_id == poster && !t.is_system)
        .ok_or_else(crate::error::Error::task_not_found)?;
    view_of(tx, task, history).await
}

/// Reads the rest of what A2A shows of a task.
pub async fn view_of(tx: &mut Transaction<'_>, task: Task, history: bool) -> Result<View> {
    let a2a = tx.a2a_task(&task.id).await?;
    let (context, request) = a2a.map(|a| (a.context_id, a.message_id)).unzip();
    read_more(tx, task, context, request, history).await
}

/// Completes a task, whose context (and request message) were read with it, into a view.
pub async fn read_more(
    tx: &mut Transaction<'_>,
    task: Task,
    context_id: Option<String>,
    request_id: Option<String>,
    history: bool,
) -> Result<View> {
    let questions = if history || task.status == TaskStatus::Posted {
        tx.questions_of(&task.id).await?
    } else {
        Vec::new()
    };
    let open_question = (task.status == TaskStatus::Posted)
        .then(|| questions.iter().find(|q| q.answer.is_none()).cloned())
        .flatten();
    let messages = match (&task.status, &task.assignment) {
        (TaskStatus::Claimed | TaskStatus::Delivered, Some(assignment)) => {
            // A2A shows every message (and trims to `historyLength` itself).
            tx.messages_of(&task.id, assignment, &Page::all())
                .await?
                .items
        }
        _ => Vec::new(),
    };
    Ok(View {
        context_id: context_id.unwrap_or_else(|| task.id.clone()),
        request_id,
        open_question,
        messages,
        questions: if history { questions } else { Vec::new() },
        task,
    })
}

/// The A2A state of a task.
pub fn state_of(task: &Task, open_question: bool) -> TaskState {
    match task.status {
        TaskStatus::Posted if open_question => TaskState::InputRequired,
        TaskStatus::Posted => TaskState::Submitted,
        TaskStatus::Claimed => TaskState::Working,
        TaskStatus::Delivered => TaskState::InputRequired,
        TaskStatus::Approved => TaskState::Completed,
        TaskStatus::Cancelled => TaskState::Canceled,
        TaskStatus::Expired if deadline_ended(task) => TaskState::Failed,
        TaskStatus::Expired => TaskState::Rejected,
    }
}

/// An expired task's deadline (not its lifetime) ended it.
fn deadline_ended(task: &Task) -> bool {
    task.deadline.is_some_and(|d| d <= task.expires_at)
}

/// The list filter for an A2A state (`None`: nothing is ever in that state).
pub fn condition(state: TaskState) -> Option<StateCondition> {
    Some(match state {
        TaskState::Submitted => StateCondition::Submitted,
        TaskState::Working => StateCondition::Working,
        TaskState::InputRequired => StateCondition::InputRequired,
        TaskState::Completed => StateCondition::Completed,
        TaskState::Canceled => StateCondition::Canceled,
        TaskState::Failed => StateCondition::Failed,
        TaskState::Rejected => StateCondition::Rejected,
        TaskState::Unspecified | TaskState::AuthRequired => return None,
    })
}

/// When the task's current status began, as far as the task records it (approval and
/// cancellation times are not recorded: the delivery and creation times stand in).
pub fn status_time(task: &Task) -> Millis {
    match task.status {
        TaskStatus::Claimed => task.claimed_at.unwrap_or(task.created_at),
        TaskStatus::Delivered | TaskStatus::Approved => {
            task.delivered_at.unwrap_or(task.created_at)
        }
        TaskStatus::Expired => match task.deadline {
            Some(d) if d <= task.expires_at => d,
            _ => task.expires_at,
        },
        TaskStatus::Posted | TaskStatus::Cancelled => task.created_at,
    }
}

impl View {
    pub fn state(&self) -> TaskState {
        state_of(&self.task, self.open_question.is_some())
    }

    /// What a stream compares to tell that something the client sees changed: the state,
    /// the status message, and the delivery.
    pub fn marks(&self) -> (TaskState, Option<String>, Option<Millis>) {
        let message = self.status_message().map(|m| m.message_id);
        (self.state(), message, self.task.delivered_at)
    }

    fn message(&self, id: String, role: Role, text: String, metadata: Option<Struct>) -> Message {
        Message {
            message_id: id,
            context_id: self.context_id.clone(),
            task_id: self.task.id.clone(),
            role,
            parts: vec![Part::text(text)],
            metadata,
            extensions: Vec::new(),
            reference_task_ids: Vec::new(),
        }
    }

    fn status_message(&self) -> Option<Message> {
        let t = &self.task;
        match self.state() {
            TaskState::InputRequired if t.status == TaskStatus::Posted => {
                let q = self.open_question.as_ref()?;
                Some(self.message(
                    q.id.clone(),
                    Role::Agent,
                    format!("A worker asks: {}", q.question),
                    Some(meta(json!({"questionId": q.id, "askerId": q.asker_id}))),
                ))
            }
            TaskState::InputRequired => {
                let mut text = String::from(
                    "Delivered: the result is the artifact \"result\". Reply \"approve\" \
                     (or \"approve 1\" to \"approve 5\" to rate the worker) to accept it and pay, \
                     or \"reject: <reason>\" to send it back.",
                );
                if let Some(at) = t.review_deadline {
                    text.push_str(&format!(
                        " Without a reply it is approved at {}.",
                        rfc3339(at)
                    ));
                }
                let at = t.delivered_at.unwrap_or_default();
                Some(self.message(format!("{}/delivered/{at}", t.id), Role::Agent, text, None))
            }
            TaskState::Working => {
                let worker = t.worker_id.as_deref()?;
                let m = self.messages.iter().rev().find(|m| m.sender_id == worker)?;
                Some(self.message(
                    m.id.clone(),
                    Role::Agent,
                    m.message.clone(),
                    Some(meta(json!({"senderId": worker}))),
                ))
            }
            TaskState::Failed => Some(self.message(
                format!("{}/expired", t.id),
                Role::Agent,
                "The deadline passed before the task was done; the escrow was refunded.".into(),
                None,
            )),
            TaskState::Rejected => Some(self.message(
                format!("{}/expired", t.id),
                Role::Agent,
                "No worker took the task before it expired; the escrow was refunded.".into(),
                None,
            )),
            _ => None,
        }
    }

    pub fn status(&self) -> A2aStatus {
        A2aStatus {
            state: self.state(),
            message: self.status_message(),
            timestamp: Some(rfc3339(status_time(&self.task))),
        }
    }

    /// The delivered result, while there is one.
    pub fn artifact(&self) -> Option<Artifact> {
        let result = self.task.result.as_ref()?;
        Some(Artifact {
            artifact_id: "result".into(),
            name: Some("result".into()),
            description: Some("The worker's delivery".into()),
            parts: vec![Part::text(result.clone())],
            metadata: self
                .task
                .credits_charged
                .map(|c| meta(json!({"creditsCharged": c}))),
        })
    }

    /// The task as A2A shows it: `history_length` of its messages (all when None), its
    /// artifacts unless left out, and the Pinchwork view of it under `metadata.pinchwork`.
    pub fn to_task(&self, history_length: Option<i64>, artifacts: bool) -> A2aTask {
        let mut pinchwork = serde_json::to_value(task_view(&self.task)).expect("views serialize");
        if let Some(fields) = pinchwork.as_object_mut() {
            // It is the artifact.
            fields.remove("result");
        }
        let mut history = self.history();
        if let Some(n) = history_length {
            let keep = usize::try_from(n).unwrap_or(0);
            history.drain(..history.len().saturating_sub(keep));
        }
        A2aTask {
            id: self.task.id.clone(),
            context_id: self.context_id.clone(),
            status: self.status(),
            artifacts: if artifacts {
                self.artifact().into_iter().collect()
            } else {
                Vec::new()
            },
            history,
            metadata: Some(meta(json!({ "pinchwork": pinchwork }))),
        }
    }

    /// The conversation so far, oldest first: the request, questions and answers, and the
    /// current assignment's messages.
    fn history(&self) -> Vec<Message> {
        let t = &self.task;
        let mut request = vec![Part::text(t.need.clone())];
        if let Some(context) = &t.context {
            request.push(Part::text(context.clone()));
        }
        let request_id = self
            .request_id
            .clone()
            .unwrap_or_else(|| format!("{}/request", t.id));
        let mut items = vec![(
            t.created_at,
            Message {
                parts: request,
                ..self.message(request_id, Role::User, String::new(), None)
            },
        )];
        for q in &self.questions {
            let about = || Some(meta(json!({"questionId": q.id})));
            items.push((
                q.created_at,
                self.message(q.id.clone(), Role::Agent, q.question.clone(), about()),
            ));
            if let (Some(answer), Some(at)) = (&q.answer, q.answered_at) {
                let id = format!("{}/answer", q.id);
                items.push((at, self.message(id, Role::User, answer.clone(), about())));
            }
        }
        for m in &self.messages {
            let role = if m.sender_id == t.poster_id {
                Role::User
            } else {
                Role::Agent
            };
            items.push((
                m.created_at,
                self.message(m.id.clone(), role, m.message.clone(), None),
            ));
        }
        items.sort_by_key(|(at, _)| *at);
        items.into_iter().map(|(_, m)| m).collect()
    }

    pub fn status_update(&self) -> TaskStatusUpdateEvent {
        TaskStatusUpdateEvent {
            task_id: self.task.id.clone(),
            context_id: self.context_id.clone(),
            status: self.status(),
            metadata: None,
        }
    }

    pub fn artifact_update(&self) -> Option<TaskArtifactUpdateEvent> {
        Some(TaskArtifactUpdateEvent {
            task_id: self.task.id.clone(),
            context_id: self.context_id.clone(),
            artifact: self.artifact()?,
            append: false,
            last_chunk: true,
            metadata: None,
        })
    }
}

fn meta(value: Value) -> Struct {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("metadata is an object"),
    }
}

// ---------------------------------------------------------------------------------------------
// What clients send

/// A task to post, from an A2A client's first message.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub request: CreateTaskRequest,
    pub context_id: String,
    pub message_id: String,
}

/// An id the client chose: not blank, at most `MAX_ID` characters, no control characters.
pub fn client_id(field: &str, id: &str) -> std::result::Result<(), RpcError> {
    if id.trim().is_empty() {
        return Err(RpcError::invalid_params(format!("{field} is required")));
    }
    if id.chars().count() > MAX_ID || id.chars().any(char::is_control) {
        return Err(RpcError::invalid_params(format!(
            "{field} must be at most {MAX_ID} characters, without control characters"
        )));
    }
    Ok(())
}

/// The task a first message asks for: its text parts are the need, its data parts (JSON)
/// and file links the context, and `metadata` (of the request, then of the message) holds
/// `max_credits`, `tags`, `deadline_minutes`, `review_timeout_minutes`,
/// `claim_timeout_minutes`, `private` and `context` (camelCase spellings too). Limits are the market's.
pub fn new_task(req: &SendMessageRequest) -> std::result::Result<NewTask, RpcError> {
    let m = &req.message;
    client_id("message.messageId", &m.message_id)?;
    let context_id = if m.context_id.is_empty() {
        new_id("ctx")
    } else {
        client_id("message.contextId", &m.context_id)?;
        m.context_id.clone()
    };
    let (text, mut context) = content(&m.parts)?;
    let metadata = metadata_of(req);
    let int = |keys: [&str; 2]| -> std::result::Result<Option<i64>, RpcError> {
        match pick(&metadata, keys) {
            None => Ok(None),
            Some(v) => lax::opt_int(v.clone()).map_err(|_| {
                RpcError::invalid_params(format!("metadata.{} must be an integer", keys[0]))
            }),
        }
    };
    let tags = match pick(&metadata, ["tags", "tags"]) {
        None => None,
        Some(v) => lax::opt_string_list(v.clone())
            .map_err(|_| RpcError::invalid_params("metadata.tags must be a list of strings"))?,
    };
    let private = match pick(&metadata, ["private", "private"]) {
        None => None,
        Some(v) => lax::opt_bool(v.clone())
            .map_err(|_| RpcError::invalid_params("metadata.private must be true or false"))?,
    };
    if let Some(extra) = pick(&metadata, ["context", "context"]) {
        let Value::String(extra) = extra else {
            return Err(RpcError::invalid_params(
                "metadata.context must be a string",
            ));
        };
        context.insert(0, extra.clone());
    }
    let (need, context) = match (text.is_empty(), context.is_empty()) {
        (true, true) => {
            return Err(RpcError::invalid_params(
                "The message says nothing: send a text part saying what you need",
            ));
        }
        // Data alone: it is the need.
        (true, false) => (context.join("\n"), None),
        (false, _) => (
            text.join("\n"),
            Some(context.join("\n")).filter(|c| !c.is_empty()),
        ),
    };
    Ok(NewTask {
        request: CreateTaskRequest {
            need,
            context,
            max_credits: int(["max_credits", "maxCredits"])?,
            tags,
            wait: None,
            deadline_minutes: int(["deadline_minutes", "deadlineMinutes"])?,
            review_timeout_minutes: int(["review_timeout_minutes", "reviewTimeoutMinutes"])?,
            claim_timeout_minutes: int(["claim_timeout_minutes", "claimTimeoutMinutes"])?,
            private,
        },
        context_id,
        message_id: m.message_id.clone(),
    })
}

/// How long a blocking SendMessage waits for the task to finish or need the client
/// (`metadata.wait`, 1-300 seconds).
pub fn wait_seconds(req: &SendMessageRequest) -> std::result::Result<Option<i64>, RpcError> {
    let metadata = metadata_of(req);
    match pick(&metadata, ["wait", "wait"]) {
        None => Ok(None),
        Some(v) => match lax::opt_int(v.clone()) {
            Ok(Some(n)) if (1..=crate::market::validate::MAX_WAIT_SECONDS).contains(&n) => {
                Ok(Some(n))
            }
            _ => Err(RpcError::invalid_params(format!(
                "metadata.wait must be between 1 and {} seconds",
                crate::market::validate::MAX_WAIT_SECONDS
            ))),
        },
    }
}

/// The request's metadata, then the message's over it.
fn metadata_of(req: &SendMessageRequest) -> Struct {
    let mut all = req.metadata.clone().unwrap_or_default();
    all.extend(req.message.metadata.clone().unwrap_or_default());
    all
}

fn pick<'m>(metadata: &'m Struct, keys: [&str; 2]) -> Option<&'m Value> {
    keys.iter()
        .find_map(|k| metadata.get(*k))
        .filter(|v| !v.is_null())
}

/// The text parts, and the rest as context lines (data as JSON, files as links).
fn content(parts: &[Part]) -> std::result::Result<(Vec<String>, Vec<String>), RpcError> {
    let (mut text, mut context) = (Vec::new(), Vec::new());
    for part in parts {
        if let Some(t) = &part.text {
            text.push(t.clone());
        } else if let Some(data) = &part.data {
            context.push(data.to_string());
        } else if let Some(url) = &part.url {
            let name = part.filename.as_deref().unwrap_or("file");
            let kind = part.media_type.as_deref().unwrap_or("unknown type");
            context.push(format!("Attached {name} ({kind}): {url}"));
        } else if part.raw.is_some() {
            return Err(RpcError::content_type(
                "Raw file parts are not supported: send text, data, or a file by URL",
            ));
        } else {
            return Err(RpcError::invalid_params(
                "Every part needs text, data, url or raw content",
            ));
        }
    }
    Ok((text, context))
}

/// What a message on an existing task asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    Approve {
        rating: Option<i64>,
        feedback: Option<String>,
    },
    Reject {
        reason: Option<String>,
        feedback: Option<String>,
    },
    /// An answer to the open question, or a message to the worker (by the task's state).
    Reply {
        text: String,
        question_id: Option<String>,
    },
}

/// Reads a follow-up message: a data part with an `action`, else its text.
pub fn intent(m: &Message) -> std::result::Result<Intent, RpcError> {
    for data in m.parts.iter().filter_map(|p| p.data.as_ref()) {
        let Some(action) = data.get("action").and_then(Value::as_str) else {
            continue;
        };
        let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_string);
        return match action.to_ascii_lowercase().as_str() {
            "approve" => Ok(Intent::Approve {
                rating: match data.get("rating") {
                    None | Some(Value::Null) => None,
                    Some(v) => lax::opt_int(v.clone())
                        .map_err(|_| RpcError::invalid_params("rating must be an integer"))?,
                },
                feedback: text("feedback"),
            }),
            "reject" => Ok(Intent::Reject {
                reason: text("reason"),
                feedback: text("feedback"),
            }),
            other => Err(RpcError::invalid_params(format!(
                "Unknown action {other:?}: use \"approve\" or \"reject\""
            ))),
        };
    }
    let (text, _) = content(&m.parts)?;
    let text = text.join("\n");
    if text.trim().is_empty() {
        return Err(RpcError::invalid_params(
            "The message has no text: reply with text, or a data part with an action",
        ));
    }
    if let Some(intent) = approval(&text) {
        return Ok(intent);
    }
    let question_id = m
        .metadata
        .as_ref()
        .and_then(|md| md.get("questionId").or_else(|| md.get("question_id")))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Intent::Reply { text, question_id })
}

/// `approve`, `approved`, `approve 4` (a rating), `reject: <reason>`, `reject <reason>`. Any
/// other text is not a verdict (so "approve the plan but…" reaches the worker as a message).
fn approval(text: &str) -> Option<Intent> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let word_end = lower
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(lower.len());
    let (word, rest) = (&lower[..word_end], &t[word_end..]);
    match word {
        "approve" | "approved" => {
            let rest = rest.trim().trim_start_matches([':', ',', '-']).trim();
            let rest = rest.trim_end_matches(['.', '!']).trim();
            match rest {
                "" => Some(Intent::Approve {
                    rating: None,
                    feedback: None,
                }),
                r if r.len() == 1 && r.as_bytes()[0].is_ascii_digit() => Some(Intent::Approve {
                    rating: r.parse().ok(),
                    feedback: None,
                }),
                _ => None,
            }
        }
        "reject" | "rejected" => {
            let reason = rest.trim().trim_start_matches([':', ',', '-']).trim();
            Some(Intent::Reject {
                reason: Some(reason.to_string()).filter(|r| !r.is_empty()),
                feedback: None,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HOUR;

    fn message(parts: Vec<Part>, metadata: Option<Value>) -> Message {
        Message {
            message_id: "m-1".into(),
            context_id: String::new(),
            task_id: String::new(),
            role: Role::User,
            parts,
            metadata: metadata.map(meta),
            extensions: Vec::new(),
            reference_task_ids: Vec::new(),
        }
    }

    fn data(value: Value) -> Part {
        Part {
            data: Some(value),
            ..Part::default()
        }
    }

    #[test]
    fn every_pinchwork_status_has_its_a2a_state() {
        let mut t = Task::posted("tk-1".into(), "ag-p", "n".into(), 5, 0, 72 * HOUR);
        assert_eq!(state_of(&t, false), TaskState::Submitted);
        assert_eq!(state_of(&t, true), TaskState::InputRequired);
        for (status, state) in [
            (TaskStatus::Claimed, TaskState::Working),
            (TaskStatus::Delivered, TaskState::InputRequired),
            (TaskStatus::Approved, TaskState::Completed),
            (TaskStatus::Cancelled, TaskState::Canceled),
            (TaskStatus::Expired, TaskState::Rejected),
        ] {
            t.status = status;
            assert_eq!(state_of(&t, false), state, "{status}");
        }
        t.deadline = Some(HOUR);
        assert_eq!(state_of(&t, false), TaskState::Failed);
        assert_eq!(status_time(&t), HOUR);
        t.deadline = Some(100 * HOUR);
        assert_eq!(
            state_of(&t, false),
            TaskState::Rejected,
            "the lifetime ended first"
        );
        assert_eq!(status_time(&t), 72 * HOUR);
        // Every state a task can be in has a list filter; the others none.
        for state in TaskState::ALL {
            let reachable = !matches!(state, TaskState::Unspecified | TaskState::AuthRequired);
            assert_eq!(condition(state).is_some(), reachable, "{state:?}");
        }
    }

    #[test]
    fn a_first_message_becomes_a_task_request() {
        let req = SendMessageRequest {
            message: message(
                vec![Part::text("Translate this"), data(json!({"lang": "fr"}))],
                Some(
                    json!({"max_credits": 12.0, "tags": ["translation"], "deadlineMinutes": "30"}),
                ),
            ),
            configuration: Default::default(),
            metadata: Some(meta(
                json!({"max_credits": 99, "review_timeout_minutes": 5}),
            )),
        };
        let t = new_task(&req).unwrap();
        assert_eq!(t.request.need, "Translate this");
        assert_eq!(t.request.context.as_deref(), Some(r#"{"lang":"fr"}"#));
        assert_eq!(
            t.request.max_credits,
            Some(12),
            "the message's metadata wins"
        );
        assert_eq!(t.request.tags, Some(vec!["translation".to_string()]));
        assert_eq!(t.request.deadline_minutes, Some(30));
        assert_eq!(t.request.review_timeout_minutes, Some(5));
        assert!(t.context_id.starts_with("ctx-"));
        assert_eq!(t.message_id, "m-1");

        let bad = |metadata: Value| {
            new_task(&SendMessageRequest {
                message: message(vec![Part::text("x")], Some(metadata)),
                configuration: Default::default(),
                metadata: None,
            })
            .unwrap_err()
        };
        assert_eq!(bad(json!({"max_credits": 1.5})).code, -32602);
        assert!(
            bad(json!({"maxCredits": "lots"}))
                .message
                .contains("max_credits")
        );
        assert_eq!(bad(json!({"tags": 3})).code, -32602);
        let raw = Part {
            raw: Some("aGk=".into()),
            ..Part::default()
        };
        let no_raw = SendMessageRequest {
            message: message(vec![raw], None),
            configuration: Default::default(),
            metadata: None,
        };
        assert_eq!(new_task(&no_raw).unwrap_err().code, -32005);
    }

    #[test]
    fn verdicts_are_read_strictly_and_anything_else_is_a_reply() {
        let text = |t: &str| intent(&message(vec![Part::text(t)], None)).unwrap();
        let approve = |rating| Intent::Approve {
            rating,
            feedback: None,
        };
        assert_eq!(text("approve"), approve(None));
        assert_eq!(text("  Approved! "), approve(None));
        assert_eq!(text("approve 5"), approve(Some(5)));
        assert_eq!(text("APPROVE: 3."), approve(Some(3)));
        assert_eq!(
            text("reject: the French is wrong"),
            Intent::Reject {
                reason: Some("the French is wrong".into()),
                feedback: None
            }
        );
        assert_eq!(
            text("reject"),
            Intent::Reject {
                reason: None,
                feedback: None
            }
        );
        for reply in [
            "approve the plan, but use tabs",
            "approvement",
            "please approve",
        ] {
            assert!(matches!(text(reply), Intent::Reply { .. }), "{reply}");
        }
        let by_data = intent(&message(
            vec![data(
                json!({"action": "approve", "rating": 4.0, "feedback": "ok"}),
            )],
            None,
        ))
        .unwrap();
        assert_eq!(
            by_data,
            Intent::Approve {
                rating: Some(4),
                feedback: Some("ok".into())
            }
        );
        let answer = intent(&message(
            vec![Part::text("Yes, British English")],
            Some(json!({"questionId": "qa-1"})),
        ))
        .unwrap();
        assert_eq!(
            answer,
            Intent::Reply {
                text: "Yes, British English".into(),
                question_id: Some("qa-1".into())
            }
        );
        assert!(intent(&message(vec![data(json!({"action": "dance"}))], None)).is_err());
        assert!(intent(&message(vec![Part::text("  ")], None)).is_err());
    }
}
