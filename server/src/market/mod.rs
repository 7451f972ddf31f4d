//! The business rules, with no HTTP and no SQL in them. Workflows take a `Transaction` and a
//! `Ctx` and do one whole operation inside one transaction; what they refuse is an `Error` in
//! the market's own terms.

pub mod agents;
pub mod credits;
pub mod error;
pub mod lifecycle;
pub mod matching;
pub mod social;
pub mod system_tasks;
pub mod tasks;
pub mod validate;

pub use error::{Error, Result};

use crate::config::Config;
pub use crate::model::RoutingHints;
use crate::model::{Event, Millis, Task, TaskStatus};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What a workflow knows besides the database: the settings, the time of the operation, and
/// the events it has to announce once its transaction commits.
pub struct Ctx {
    pub cfg: Arc<Config>,
    pub now: Millis,
    pub events: Vec<Event>,
    /// Who is there to route work to (kept by the server, so no write pays for looking).
    pub routing: RoutingHints,
    /// Tasks that changed with no event to say so (see `touch`).
    pub touched: Vec<String>,
    /// Whether a task was saved open (posted, released, its match changed): parked pickups
    /// look again once this commits.
    pub opened: bool,
}

impl Ctx {
    pub fn new(cfg: Arc<Config>, now: Millis, routing: RoutingHints) -> Self {
        Self {
            cfg,
            now,
            events: Vec::new(),
            routing,
            touched: Vec::new(),
            opened: false,
        }
    }

    pub fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Notes that a task changed where no event says so, for those who follow the task
    /// itself (A2A streams and push notifications).
    pub fn touch(&mut self, task_id: &str) {
        self.touched.push(task_id.to_string());
    }

    /// Notes a task just saved: if it is open, someone parked may now claim it. Saves that
    /// change an open task without opening it to anyone new only cost a needless look.
    pub fn saved(&mut self, task: &Task) {
        self.opened |= task.status == TaskStatus::Posted;
    }

    /// Every task this workflow changed as far as followers can tell: those its events name,
    /// and those it touched.
    pub fn changed_tasks(&self) -> BTreeSet<String> {
        self.events
            .iter()
            .map(|e| e.task_id.clone())
            .chain(self.touched.iter().cloned())
            .collect()
    }
}
