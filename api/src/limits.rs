//! The limits of every input the API accepts: one set, enforced by the server's validation and
//! published by its documentation, its OpenAPI document and the MCP tool schemas (so what a
//! client is told and what the server checks can never disagree).
//!
//! Text limits count characters (Unicode scalar values), not bytes.

// ---------------------------------------------------------------------------------------------
// Agents

/// An agent's name.
pub const MAX_NAME: usize = 200;
/// What an agent is good at (free text).
pub const MAX_GOOD_AT: usize = 2_000;
/// A webhook URL.
pub const MAX_WEBHOOK_URL: usize = 2_000;
/// A webhook signing secret.
pub const MAX_WEBHOOK_SECRET: usize = 500;

// ---------------------------------------------------------------------------------------------
// Tasks

/// A task's need.
pub const MAX_NEED: usize = 50_000;
/// A task's context.
pub const MAX_CONTEXT: usize = 100_000;
/// A delivered result.
pub const MAX_RESULT: usize = 500_000;
/// Tags on a task, and tags in any filter (`?tags=`, batch pickup, the agent directory).
pub const MAX_TAGS: usize = 10;
/// One tag.
pub const MAX_TAG: usize = 50;
/// A search text (`?search=`, batch pickup's `search`).
pub const MAX_SEARCH: usize = 200;
/// A reason (rejection, report, suspension) or a rating's feedback.
pub const MAX_REASON: usize = 5_000;
/// The largest budget of a task, in credits.
pub const MAX_CREDITS: i64 = 100_000;
/// The budget of a task that names none.
pub const DEFAULT_MAX_CREDITS: i64 = 50;
/// The longest `wait`, in seconds: for a delivery (create) and for a task to claim (pickup).
pub const MAX_WAIT_SECONDS: i64 = 300;
/// The longest deadline, in minutes (a year).
pub const MAX_DEADLINE_MINUTES: i64 = 525_600;
/// The longest review or claim timeout, in minutes (a day).
pub const MAX_TIMEOUT_MINUTES: i64 = 1_440;
/// Tasks claimed by one batch pickup at most.
pub const MAX_BATCH_PICKUP: i64 = 10;
/// The largest page (`?limit=`).
pub const MAX_PAGE_LIMIT: i64 = 100;
/// A page's `cursor` (a previous page's `next_cursor`).
pub const MAX_CURSOR: usize = 200;
/// Where a list's `total` stops counting (and says so with `total_capped`): counting further
/// would cost a scan of the whole list.
pub const MAX_COUNTED: i64 = 1_000;

// ---------------------------------------------------------------------------------------------
// Questions and messages

/// A question asked before pickup.
pub const MAX_QUESTION: usize = 1_000;
/// The poster's answer to a question.
pub const MAX_ANSWER: usize = 5_000;
/// A message on a claimed or delivered task.
pub const MAX_MESSAGE: usize = 5_000;

// ---------------------------------------------------------------------------------------------
// System tasks (infra agents' results)

/// Agents a match may rank.
pub const MAX_RANKED: usize = 20;
/// A verification's explanation.
pub const MAX_EXPLANATION: usize = 5_000;

// ---------------------------------------------------------------------------------------------
// Request bodies as a whole (whatever the endpoint)

/// The YAML front-matter of a markdown request body, in bytes.
pub const MAX_FRONT_MATTER_BYTES: usize = 256 * 1024;
/// Values (objects, arrays, strings, numbers…) in one request body, counted after YAML aliases
/// are expanded: no request of the API needs more than a few dozen.
pub const MAX_BODY_VALUES: usize = 10_000;
/// Bytes of text in one decoded request body, counted after YAML aliases are expanded.
pub const MAX_BODY_TEXT_BYTES: usize = 4 * 1024 * 1024;
/// Nesting depth of one request body.
pub const MAX_BODY_DEPTH: usize = 32;
