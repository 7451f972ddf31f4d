//! Resource subscriptions, fed by the agent's live event stream (`GET /v1/events`).
//!
//! Every event is about a task: it may change that task, your task list, your balance and
//! reputation, and what is open for pickup. So each event sends `notifications/resources/updated`
//! for the subscribed URIs among `pinchwork://tasks/{its task}`, `pinchwork://tasks/mine`,
//! `pinchwork://me`, `pinchwork://events` and `pinchwork://tasks/available`; the client then
//! reads the resource. One follower of the stream per session feeds an [`EventLog`]: the
//! recent events (`pinchwork://events`, `wait_for_events`) and a broadcast to the watchers.
//! Both mechanisms are served: `resources/subscribe` (protocol versions up to 2025-11-25,
//! one watcher per session) and `subscriptions/listen` (2026-07-28, one watcher per listen).

use pinchwork_client::Client;
use pinchwork_client::events::EventEnvelope;
use pinchwork_client::events::EventStream;
use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// Whether `uri` names a resource that events can change (the ones worth subscribing to).
pub fn subscribable(uri: &str) -> bool {
    match uri.strip_prefix("pinchwork://") {
        Some("me" | "events" | "tasks/mine" | "tasks/available") => true,
        Some(rest) => rest
            .strip_prefix("tasks/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/')),
        None => false,
    }
}

/// The URIs an event may have changed.
pub fn affected(event: &EventEnvelope) -> Vec<String> {
    let mut uris = vec![
        "pinchwork://me".to_string(),
        "pinchwork://events".to_string(),
        "pinchwork://tasks/mine".to_string(),
        "pinchwork://tasks/available".to_string(),
    ];
    if !event.task_id.is_empty() {
        uris.push(format!("pinchwork://tasks/{}", event.task_id));
    }
    uris
}

/// The URIs a session is subscribed to (shared with its watcher).
pub type Subscribed = Arc<Mutex<BTreeSet<String>>>;

/// How many recent events a session keeps (`pinchwork://events`).
pub const RECENT_EVENTS: usize = 50;

/// The agent's events as one session receives them: the last [`RECENT_EVENTS`], and a
/// broadcast of each new one, fed by one follower of `GET /v1/events` (started on first use,
/// restarted if it stopped, e.g. before `register` gave us a key).
pub struct EventLog {
    recent: Mutex<VecDeque<EventEnvelope>>,
    live: broadcast::Sender<EventEnvelope>,
    follower: Mutex<Option<JoinHandle<()>>>,
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            recent: Mutex::new(VecDeque::with_capacity(RECENT_EVENTS)),
            live: broadcast::channel(256).0,
            follower: Mutex::new(None),
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        if let Some(task) = self.follower.get_mut().expect("follower lock").take() {
            task.abort();
        }
    }
}

impl EventLog {
    /// Follows `client`'s events unless a follower already runs; false without a key.
    pub fn follow(self: &Arc<Self>, client: &Client) -> bool {
        let mut follower = self.follower.lock().expect("follower lock");
        if follower.as_ref().is_some_and(|t| !t.is_finished()) {
            return true;
        }
        let events = match client.events(None) {
            Ok(events) => events,
            Err(_) => return false,
        };
        let log = Arc::downgrade(self);
        *follower = Some(tokio::spawn(run_follower(events, log)));
        true
    }

    /// The recent events, oldest first.
    pub fn recent(&self) -> Vec<EventEnvelope> {
        self.recent
            .lock()
            .expect("events lock")
            .iter()
            .cloned()
            .collect()
    }

    /// New events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EventEnvelope> {
        self.live.subscribe()
    }

    /// The recent events after the one with id `after`: `None` when that event is not among
    /// the recent ones (too old, or from before the follower started).
    pub fn after(&self, after: i64) -> Option<Vec<EventEnvelope>> {
        let recent = self.recent.lock().expect("events lock");
        let at = recent.iter().position(|e| e.event_id == after)?;
        Some(recent.iter().skip(at + 1).cloned().collect())
    }

    /// Records a received event and announces it (in one step, so that a reader who
    /// subscribed before looking at the recent events misses nothing).
    pub fn push(&self, event: EventEnvelope) {
        let mut recent = self.recent.lock().expect("events lock");
        if recent.len() == RECENT_EVENTS {
            recent.pop_front();
        }
        recent.push_back(event.clone());
        let _ = self.live.send(event);
    }
}

async fn run_follower(mut events: EventStream, log: Weak<EventLog>) {
    loop {
        let event = match events.next().await {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "event stream ended");
                return;
            }
        };
        tracing::debug!(event = %event.kind(), task = %event.task_id, "event");
        let Some(log) = log.upgrade() else { return };
        log.push(event);
    }
}

/// Follows the session's events (`live`) until `notify` answers false (the session is gone),
/// calling `notify` for each subscribed URI an event may have changed.
pub async fn watch<F, Fut>(
    mut live: broadcast::Receiver<EventEnvelope>,
    subscribed: Subscribed,
    mut notify: F,
) where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        let uris: Vec<String> = match live.recv().await {
            Ok(event) => {
                let subscribed = subscribed.lock().expect("subscriptions lock");
                affected(&event)
                    .into_iter()
                    .filter(|uri| subscribed.contains(uri))
                    .collect()
            }
            // Missed some: everything subscribed may have changed.
            Err(broadcast::error::RecvError::Lagged(_)) => subscribed
                .lock()
                .expect("subscriptions lock")
                .iter()
                .cloned()
                .collect(),
            Err(broadcast::error::RecvError::Closed) => return,
        };
        for uri in uris {
            if !notify(uri).await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_resources_that_events_change_are_subscribable() {
        for uri in [
            "pinchwork://me",
            "pinchwork://events",
            "pinchwork://tasks/mine",
            "pinchwork://tasks/available",
            "pinchwork://tasks/tk-1",
        ] {
            assert!(subscribable(uri), "{uri}");
        }
        for uri in [
            "pinchwork://skill",
            "pinchwork://tasks/",
            "pinchwork://tasks/a/b",
            "http://x",
        ] {
            assert!(!subscribable(uri), "{uri}");
        }
    }
}
