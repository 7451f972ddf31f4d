//! Events about tasks, addressed to one agent each. Rules record them while a transaction
//! runs; they are published on the bus only once that transaction has committed.

use crate::model::Millis;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

pub use pinchwork_api::events::EventKind;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Position in the event log (monotonic); 0 until the event is logged.
    pub id: i64,
    pub kind: EventKind,
    pub task_id: String,
    pub recipient: String,
    pub data: Map<String, Value>,
    pub created_at: Millis,
}

impl Event {
    pub fn new(kind: EventKind, task_id: &str, recipient: &str) -> Self {
        Self {
            id: 0,
            kind,
            task_id: task_id.into(),
            recipient: recipient.into(),
            data: Map::new(),
            created_at: 0,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }
}

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

    /// Wakes every listener.
    pub fn wake_all(&self) {
        for sender in self.channels.lock().unwrap().values() {
            let _ = sender.send(Notice::Wake);
        }
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
    state: crate::app::AppState,
    mut news: tokio::sync::mpsc::UnboundedReceiver<crate::store::NodeNews>,
) {
    use crate::store::NodeNews;
    while let Some(item) = news.recv().await {
        match item {
            NodeNews::Logged { recipient } => state.bus.wake(&recipient),
            NodeNews::AgentChanged { agent } => state.agent_changed(&agent).await,
            NodeNews::Resync => {
                state.bus.wake_all();
                state.auth_cache.forget_all();
                // A suspension may have been in the lost news: look again at every agent
                // holding something open here.
                let mut holding = state.bus.agents();
                holding.extend(state.mcp_sessions.agents());
                holding.sort();
                holding.dedup();
                for agent in holding {
                    state.agent_changed(&agent).await;
                }
            }
        }
    }
}

impl Event {
    /// The JSON an SSE client receives: type, task, the event's own fields, id and time.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), self.kind.as_str().into());
        body.insert("task_id".into(), self.task_id.clone().into());
        body.extend(self.data.clone());
        body.insert("event_id".into(), self.id.into());
        body.insert(
            "created_at".into(),
            crate::time::rfc3339(self.created_at).into(),
        );
        Value::Object(body)
    }
}
