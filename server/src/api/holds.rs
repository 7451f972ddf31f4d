//! Long-lived work an agent holds open (event streams, parked waits and pickups, MCP
//! sessions), counted per agent: past its cap a new one is refused with 429 and Retry-After, so
//! one agent cannot hold the server's connections and memory for free. Parked pickups are also
//! counted for the whole node (each one looks again whenever a task opens).

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Stream,
    Wait,
    /// A pickup parked until a task appears (`?wait=`).
    Pickup,
    McpSession,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Self::Stream => "open event streams",
            Self::Wait => "waiting requests",
            Self::Pickup => "waiting pickups",
            Self::McpSession => "MCP sessions",
        }
    }
}

/// How long a refused client is told to wait before trying again, in seconds.
const RETRY_AFTER_SECS: u64 = 10;

/// The counts of what each agent holds open on this node; under the empty agent id (no
/// agent has it), what all of them hold.
#[derive(Default)]
pub struct Holds {
    counts: Mutex<HashMap<(String, Kind), usize>>,
}

/// The key of a node-wide count.
const NODE: &str = "";

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

    /// Takes one `kind` for `agent` as `take` does, unless the whole node already holds
    /// `node_max` of them: then 429 too, saying that the server is busy.
    pub fn take_on_node(
        self: &Arc<Self>,
        agent: &str,
        kind: Kind,
        max: usize,
        node_max: usize,
    ) -> Result<(Hold, Hold)> {
        if self.count(NODE, kind) >= node_max {
            return Err(Error::TooManyRequests {
                message: format!(
                    "Too many {} on this server (at most {node_max}); try again shortly",
                    kind.describe()
                ),
                retry_after_secs: Some(RETRY_AFTER_SECS),
            });
        }
        let mine = self.take(agent, kind, max)?;
        // Checked and taken under two locks: at worst a race lets the node hold one or two
        // more than `node_max`, never an unbounded number.
        let node = self.take(NODE, kind, usize::MAX)?;
        Ok((mine, node))
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
