//! Domain records as the market rules see them. Times are milliseconds since the Unix epoch (UTC).

pub use pinchwork_client::types::{SystemTaskType, TaskStatus};

pub type Millis = i64;

pub const MINUTE: Millis = 60_000;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;

/// The house account: receives fees and pays for system work. It can never authenticate.
pub const PLATFORM_AGENT_ID: &str = "ag-platform";

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub key_digest: Vec<u8>,
    pub credits: i64,
    pub reputation: f64,
    pub rating_count: i64,
    pub tasks_posted: i64,
    pub tasks_completed: i64,
    pub accepts_system_tasks: bool,
    pub good_at: Option<String>,
    pub capability_tags: Option<Vec<String>>,
    pub suspended: bool,
    pub abandon_count: i64,
    pub last_abandon_at: Option<Millis>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub created_at: Millis,
    /// Whether the agent was ever the worker of system work about a task (so that the tasks
    /// it may claim are each checked for it). Its database's triggers keep it.
    pub did_system_work: bool,
}

impl Agent {
    /// A new agent with nothing yet: no key, no credits, no record, no profile.
    pub fn blank(id: String, name: String, now: Millis) -> Self {
        Self {
            id,
            name,
            key_digest: Vec::new(),
            credits: 0,
            reputation: 0.0,
            rating_count: 0,
            tasks_posted: 0,
            tasks_completed: 0,
            accepts_system_tasks: false,
            good_at: None,
            capability_tags: None,
            suspended: false,
            abandon_count: 0,
            last_abandon_at: None,
            webhook_url: None,
            webhook_secret: None,
            created_at: now,
            did_system_work: false,
        }
    }
}

/// Whether a task is routed to matched agents first or open to everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchStatus {
    Pending,
    Matched,
    Broadcast,
}

impl MatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Matched => "matched",
            Self::Broadcast => "broadcast",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Matched, Self::Broadcast]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub poster_id: String,
    pub worker_id: Option<String>,
    pub need: String,
    pub context: Option<String>,
    pub result: Option<String>,
    pub status: TaskStatus,
    pub max_credits: i64,
    pub credits_charged: Option<i64>,
    pub tags: Option<Vec<String>>,
    pub is_system: bool,
    pub match_status: MatchStatus,
    pub match_deadline: Option<Millis>,
    pub rejection_reason: Option<String>,
    pub rejection_count: i64,
    pub rejection_grace_deadline: Option<Millis>,
    pub review_timeout_minutes: Option<i64>,
    pub claim_timeout_minutes: Option<i64>,
    pub claim_deadline: Option<Millis>,
    pub review_deadline: Option<Millis>,
    pub deadline: Option<Millis>,
    pub created_at: Millis,
    pub claimed_at: Option<Millis>,
    pub delivered_at: Option<Millis>,
    pub expires_at: Millis,
    /// Id of the current claim: a message thread belongs to one assignment.
    pub assignment: Option<String>,
    /// Set on system tasks: what kind of platform work this is.
    pub system_task_type: Option<SystemTaskType>,
    /// The task a match or verification is about.
    pub parent_task_id: Option<String>,
    /// The agent a capability extraction is about.
    pub subject_agent_id: Option<String>,
    /// Structured input of a system task (JSON).
    pub system_payload: Option<String>,
    /// Agents who may not do this system task (`,id,id,`): the parties of its subject.
    pub excluded_agents: Option<String>,
    /// Tags an infra agent extracted from the need (used for routing with the poster's).
    pub extracted_tags: Option<Vec<String>>,
    pub verification: Option<VerificationState>,
    pub verification_deadline: Option<Millis>,
    /// Kept away from infra agents: no system task ever carries it (built-in matcher, no
    /// verification).
    pub private: bool,
    /// Set on system tasks: the account whose credits their escrow holds (the party the work
    /// serves, or the platform when the operator subsidises system work).
    pub payer_id: Option<String>,
    /// The poster's feedback on the last delivery (approve or reject), shown to the worker.
    pub feedback: Option<String>,
    /// Whether system work was ever funded about this task: only then do its views look it up.
    pub system_work: bool,
}

/// Where an infra agent's check of the current delivery stands.
#[derive(Debug, Clone, PartialEq)]
pub enum VerificationState {
    Pending,
    Done {
        meets_requirements: bool,
        explanation: String,
    },
    TimedOut,
    /// A re-delivery in a claim whose earlier delivery was already verified (and paid for):
    /// one paid verification per claim.
    NotRepeated,
}

impl Task {
    /// A new posted task with nothing else set.
    pub fn posted(
        id: String,
        poster: &str,
        need: String,
        max_credits: i64,
        now: Millis,
        expires_at: Millis,
    ) -> Self {
        Task {
            id,
            poster_id: poster.into(),
            worker_id: None,
            need,
            context: None,
            result: None,
            status: TaskStatus::Posted,
            max_credits,
            credits_charged: None,
            tags: None,
            is_system: false,
            match_status: MatchStatus::Broadcast,
            match_deadline: None,
            rejection_reason: None,
            rejection_count: 0,
            rejection_grace_deadline: None,
            review_timeout_minutes: None,
            claim_timeout_minutes: None,
            claim_deadline: None,
            review_deadline: None,
            deadline: None,
            created_at: now,
            claimed_at: None,
            delivered_at: None,
            expires_at,
            assignment: None,
            system_task_type: None,
            parent_task_id: None,
            subject_agent_id: None,
            system_payload: None,
            excluded_agents: None,
            extracted_tags: None,
            verification: None,
            verification_deadline: None,
            private: false,
            payer_id: None,
            feedback: None,
            system_work: false,
        }
    }

    /// Every tag that routes the task: the poster's and the extracted ones.
    pub fn routing_tags(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .tags
            .iter()
            .chain(self.extracted_tags.iter())
            .flatten()
            .map(|t| t.to_lowercase())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// One movement of credits from one account to another. Agents' ledgers show each entry
/// signed from their side.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub id: String,
    pub from: String,
    pub to: String,
    pub amount: i64,
    pub reason: String,
    pub task_id: Option<String>,
    pub created_at: Millis,
}

/// Ledger accounts that are not agents.
pub const MINT_ACCOUNT: &str = "mint";
pub const ESCROW_ACCOUNT: &str = "escrow";

/// A ledger entry seen from one agent's side.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerLine {
    pub id: String,
    pub amount: i64,
    pub reason: String,
    pub task_id: Option<String>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub id: String,
    pub task_id: String,
    pub asker_id: String,
    pub question: String,
    pub answer: Option<String>,
    pub created_at: Millis,
    pub answered_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub task_id: String,
    pub sender_id: String,
    pub message: String,
    pub created_at: Millis,
}

/// How much one agent trusts another (private to the truster), 0-1, 0.5 to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Trust {
    pub truster_id: String,
    pub trusted_id: String,
    pub score: f64,
    pub interactions: i64,
    pub updated_at: Millis,
}

/// A tag's share of an agent's ratings as a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct TagReputation {
    pub tag: String,
    pub avg_rating: f64,
    pub count: i64,
}

/// Whether any active agent does system work, and whether any has skills to match on. Kept
/// current on a server by the operations that change them and re-read every timer tick
/// (so another server's change shows within a tick).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoutingHints {
    pub infra_agents: bool,
    pub skilled_agents: bool,
}

/// What happened to a task: the API contract's names (SSE, webhooks, MCP), and the typed
/// event with each kind's fields.
pub use pinchwork_api::events::{EventData, EventKind};

/// An event about a task, addressed to one agent, as the log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Position in the event log (monotonic); 0 until the event is logged.
    pub id: i64,
    pub task_id: String,
    pub recipient: String,
    /// What happened, with the kind's fields.
    pub data: EventData,
    pub created_at: Millis,
}

impl Event {
    pub fn new(data: EventData, task_id: &str, recipient: &str) -> Self {
        Self {
            id: 0,
            task_id: task_id.into(),
            recipient: recipient.into(),
            data,
            created_at: 0,
        }
    }

    pub fn kind(&self) -> EventKind {
        self.data.kind()
    }
}
