//! Resource subscriptions, fed by the agent's live event stream (`GET /v1/events`).
//!
//! Every event is about a task: it may change that task, your task list, your balance and
//! reputation, and what is open for pickup. So each event sends `notifications/resources/updated`
//! for the subscribed URIs among `pinchwork://tasks/{its task}`, `pinchwork://tasks/mine`,
//! `pinchwork://me` and `pinchwork://tasks/available`; the client then reads the resource.
//! Both mechanisms are served: `resources/subscribe` (protocol versions up to 2025-11-25,
//! one watcher per session) and `subscriptions/listen` (2026-07-28, one watcher per listen).

use pinchwork_client::Client;
use pinchwork_client::events::StreamEvent;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Whether `uri` names a resource that events can change (the ones worth subscribing to).
pub fn subscribable(uri: &str) -> bool {
    match uri.strip_prefix("pinchwork://") {
        Some("me" | "tasks/mine" | "tasks/available") => true,
        Some(rest) => rest
            .strip_prefix("tasks/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/')),
        None => false,
    }
}

/// The URIs an event may have changed.
pub fn affected(event: &StreamEvent) -> Vec<String> {
    let mut uris = vec![
        "pinchwork://me".to_string(),
        "pinchwork://tasks/mine".to_string(),
        "pinchwork://tasks/available".to_string(),
    ];
    if let Some(id) = event.task_id() {
        uris.push(format!("pinchwork://tasks/{id}"));
    }
    uris
}

/// The URIs a session is subscribed to (shared with its watcher).
pub type Subscribed = Arc<Mutex<BTreeSet<String>>>;

/// Follows `client`'s events until `notify` answers false (the session is gone) or the stream
/// fails for good (e.g. the key was revoked), calling `notify` for each subscribed URI an
/// event may have changed.
pub async fn watch<F, Fut>(client: Client, subscribed: Subscribed, mut notify: F)
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut events = match client.events(None) {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "cannot follow events");
            return;
        }
    };
    loop {
        let event = match events.next().await {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "event stream ended");
                return;
            }
        };
        tracing::debug!(event = %event.event, task = ?event.task_id(), "event");
        let uris: Vec<String> = {
            let subscribed = subscribed.lock().expect("subscriptions lock");
            affected(&event)
                .into_iter()
                .filter(|uri| subscribed.contains(uri))
                .collect()
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
