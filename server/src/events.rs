//! Events about tasks, addressed to one agent each. Rules record them while a transaction
//! runs; they are published on the bus only once that transaction has committed.

pub use crate::model::{Event, EventKind};
pub use pinchwork_api::events::EventEnvelope;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

/// What listeners hear on the bus.
#[derive(Debug, Clone)]
pub enum Notice {
    /// An event for the listener's agent committed.
    Event(Arc<Event>),
    /// Something for the listener's agent may be in the log that this node did not publish
    /// (another node committed it, or news of it was lost): read the log.
    Wake,
    /// The listener's agent was suspended: end the stream or wait now.
    Ended,
}

/// In-process fan-out of committed events, one channel per agent that listens (streams,
/// waiters), so an event wakes only its recipient's listeners. Events committed on other
/// nodes sharing the database arrive through `relay`. The log stays the source of truth:
/// listeners that must not miss anything read it after `last` when woken.
#[derive(Clone, Default)]
pub struct Bus {
    channels: Arc<Mutex<HashMap<String, broadcast::Sender<Notice>>>>,
    /// Counts the commits that saved a task open, here or on another node: parked pickups
    /// watch it and look again when it moves.
    opened: Arc<watch::Sender<u64>>,
}

/// Events an agent's listeners may fall behind by before they re-read the log.
const CHANNEL_CAPACITY: usize = 256;

impl Bus {
    pub fn publish(&self, events: Vec<Event>) {
        let mut channels = self.channels.lock().unwrap();
        for event in events {
            let Some(sender) = channels.get(&event.recipient) else {
                continue;
            };
            if sender.send(Notice::Event(Arc::new(event))).is_err() {
                // Nobody listens any more: forget the channel.
                channels.retain(|_, s| s.receiver_count() > 0);
            }
        }
    }

    /// Live notices for `agent` from now on.
    pub fn subscribe(&self, agent: &str) -> broadcast::Receiver<Notice> {
        let mut channels = self.channels.lock().unwrap();
        match channels.get(agent) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(CHANNEL_CAPACITY);
                channels.insert(agent.to_string(), sender);
                receiver
            }
        }
    }

    /// Live notices that a task changed (committed on this node), from now on.
    pub fn subscribe_task(&self, task_id: &str) -> broadcast::Receiver<Notice> {
        self.subscribe(&task_channel(task_id))
    }

    /// Wakes the listeners of these tasks (after their changes committed).
    pub fn wake_tasks<'a>(&self, task_ids: impl IntoIterator<Item = &'a String>) {
        let mut channels = self.channels.lock().unwrap();
        let mut gone = false;
        for id in task_ids {
            if let Some(sender) = channels.get(&task_channel(id)) {
                gone |= sender.send(Notice::Wake).is_err();
            }
        }
        if gone {
            channels.retain(|_, s| s.receiver_count() > 0);
        }
    }

    /// Wakes `agent`'s listeners, if it has any on this node.
    pub fn wake(&self, agent: &str) {
        if let Some(sender) = self.channels.lock().unwrap().get(agent) {
            let _ = sender.send(Notice::Wake);
        }
    }

    /// Ends `agent`'s streams and waits on this node (it was suspended).
    pub fn end(&self, agent: &str) {
        if let Some(sender) = self.channels.lock().unwrap().get(agent) {
            let _ = sender.send(Notice::Ended);
        }
    }

    /// The agents with listeners on this node.
    pub fn agents(&self) -> Vec<String> {
        self.channels.lock().unwrap().keys().cloned().collect()
    }

    /// Wakes every listener, and every parked pickup.
    pub fn wake_all(&self) {
        for sender in self.channels.lock().unwrap().values() {
            let _ = sender.send(Notice::Wake);
        }
        self.task_opened();
    }

    /// A task may have become claimable (its change committed): parked pickups look again.
    pub fn task_opened(&self) {
        self.opened.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Moves each time a task may have become claimable, from now on.
    pub fn watch_opened(&self) -> watch::Receiver<u64> {
        self.opened.subscribe()
    }
}

/// The channel of a task's listeners (agent ids never start with `task:`).
fn task_channel(task_id: &str) -> String {
    format!("task:{task_id}")
}

/// Acts on the other nodes' news: wakes the listeners of agents whose events they logged (the
/// listeners read them from the log), forgets cached keys of agents whose standing changed
/// (and ends what a suspended agent holds open here).
/// After lost news, every listener is woken, every cached key forgotten, and every agent that
/// holds something open here looked at again.
pub async fn relay(
    bus: Bus,
    agents: impl AgentWatch,
    mut news: tokio::sync::mpsc::UnboundedReceiver<crate::store::NodeNews>,
) {
    use crate::store::NodeNews;
    while let Some(item) = news.recv().await {
        match item {
            NodeNews::Logged { recipient } => bus.wake(&recipient),
            NodeNews::AgentChanged { agent } => agents.changed(&agent).await,
            NodeNews::TaskOpened => bus.task_opened(),
            NodeNews::Resync => {
                bus.wake_all();
                agents.forget_all();
                // A suspension may have been in the lost news: look again at every agent
                // holding something open here.
                let mut holding = bus.agents();
                holding.extend(agents.holding());
                holding.sort();
                holding.dedup();
                for agent in holding {
                    agents.changed(&agent).await;
                }
            }
        }
    }
}

/// What the relay needs of the node besides the bus: acting on an agent whose standing
/// changed elsewhere (the app does it: caches, open sessions).
pub trait AgentWatch: Send + Sync {
    /// Forgets what is cached of the agent and ends what it holds open here if suspended.
    fn changed(&self, agent: &str) -> impl std::future::Future<Output = ()> + Send;
    /// Forgets every cached agent (news may have been lost).
    fn forget_all(&self);
    /// Agents holding something open here other than bus listeners (MCP sessions).
    fn holding(&self) -> Vec<String>;
}

impl Event {
    /// The event in its one JSON shape: the SSE frame's data, the webhook body, what MCP
    /// returns (see [`EventEnvelope`]).
    pub fn envelope(&self) -> EventEnvelope {
        EventEnvelope {
            event_id: self.id,
            task_id: self.task_id.clone(),
            created_at: crate::time::rfc3339(self.created_at),
            data: self.data.clone(),
        }
    }
}
