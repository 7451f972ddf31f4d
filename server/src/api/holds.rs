//! Long-lived work an agent holds open (event streams, parked waits, MCP sessions), counted
//! per agent: past its cap a new one is refused with 429 and Retry-After, so one agent cannot
//! hold the server's connections and memory for free.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Stream,
    Wait,
    McpSession,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Self::Stream => "open event streams",
            Self::Wait => "waiting requests",
            Self::McpSession => "MCP sessions",
        }
    }
}

/// How long a refused client is told to wait before trying again, in seconds.
const RETRY_AFTER_SECS: u64 = 10;

/// The counts of what each agent holds open on this node.
#[derive(Default)]
pub struct Holds {
    counts: Mutex<HashMap<(String, Kind), usize>>,
}

/// One thing held open; released when dropped.
pub struct Hold {
    holds: Arc<Holds>,
    agent: String,
    kind: Kind,
}

impl Holds {
    /// Takes one `kind` for `agent`, unless it already holds `max`.
    pub fn take(self: &Arc<Self>, agent: &str, kind: Kind, max: usize) -> Result<Hold> {
        let mut counts = self.counts.lock().unwrap();
        let count = counts.entry((agent.to_string(), kind)).or_default();
        if *count >= max {
            return Err(Error::TooManyRequests {
                message: format!(
                    "Too many {}: at most {max} per agent; close one first",
                    kind.describe()
                ),
                retry_after_secs: Some(RETRY_AFTER_SECS),
            });
        }
        *count += 1;
        Ok(Hold {
            holds: self.clone(),
            agent: agent.to_string(),
            kind,
        })
    }

    /// How many `kind` the agent holds.
    pub fn count(&self, agent: &str, kind: Kind) -> usize {
        let counts = self.counts.lock().unwrap();
        counts.get(&(agent.to_string(), kind)).copied().unwrap_or(0)
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut counts = self.holds.counts.lock().unwrap();
        let key = (std::mem::take(&mut self.agent), self.kind);
        if let Some(count) = counts.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&key);
            }
        }
    }
}
