//! The business rules, with no HTTP in them. Workflows take a `Tx` and a `Ctx` and do one
//! whole operation inside one transaction.

pub mod agents;
pub mod credits;
pub mod lifecycle;
pub mod matching;
pub mod social;
pub mod system_tasks;
pub mod tasks;
pub mod validate;

use crate::config::Config;
use crate::events::Event;
use crate::model::Millis;
use std::sync::Arc;

/// What a workflow knows besides the database: the settings, the time of the operation, and
/// the events it has to announce once its transaction commits.
pub struct Ctx {
    pub cfg: Arc<Config>,
    pub now: Millis,
    pub events: Vec<Event>,
    /// Who is there to route work to (kept by the server, so no write pays for looking).
    pub routing: RoutingHints,
}

/// Whether any active agent does system work, and whether any has skills to match on. Kept
/// current on this server by the operations that change them and re-read every timer tick
/// (so another server's change shows within a tick).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoutingHints {
    pub infra_agents: bool,
    pub skilled_agents: bool,
}

impl Ctx {
    pub fn new(cfg: Arc<Config>, now: Millis, routing: RoutingHints) -> Self {
        Self {
            cfg,
            now,
            events: Vec::new(),
            routing,
        }
    }

    pub fn emit(&mut self, event: Event) {
        self.events.push(event);
    }
}
