//! Tools and helpers for events: waiting for them, replaying them, the events resource.

use super::{PinchworkMcp, fail};
use crate::args::{EventBatch, Parameters, WaitArgs};
use pinchwork_client::client::{Client, ClientError};
use pinchwork_client::events::EventEnvelope;
use rmcp::ErrorData as McpError;
use rmcp::model::ResourceContents;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};
use std::time::Duration;

#[tool_router(router = events_tools, vis = "pub(super)")]
impl PinchworkMcp {
    /// Wait for your next events (deliveries, claims, messages, approvals…) instead of
    /// polling: answers as soon as there is at least one event after `after` (or, without
    /// it, from now on), or with none after timeout_seconds (1-300, default 30). Pass the
    /// answer's last_event_id as `after` next time to miss nothing.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true))]
    async fn wait_for_events(
        &self,
        Parameters(a): Parameters<WaitArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<EventBatch>, String> {
        let secs = a.timeout_seconds.unwrap_or(30);
        if !(1..=300).contains(&secs) {
            return Err(format!(
                "timeout_seconds must be between 1 and 300 (got {secs})"
            ));
        }
        let after = match a
            .after
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
        {
            Some(id) => Some(id.parse::<i64>().map_err(|_| {
                format!("after must be an event id (a number such as a last_event_id; got {id:?})")
            })?),
            None => None,
        };
        let waits = self.wait_limit(&ctx, Duration::from_secs(secs));
        self.with_progress(
            &ctx,
            waits,
            "Waiting for events",
            self.wait_events(after, waits),
        )
        .await
        .map(Json)
    }
}

impl PinchworkMcp {
    /// The events after `after` (or from now): at once if some are already here, else the
    /// first to come within `timeout`, with those right behind it.
    async fn wait_events(
        &self,
        after: Option<i64>,
        timeout: Duration,
    ) -> Result<EventBatch, String> {
        const MOST: usize = 100;
        let client = self.client();
        let log = &self.inner.events;
        if !log.follow(&client) {
            return Err(fail(ClientError::MissingApiKey));
        }
        let batch = |mut events: Vec<EventEnvelope>, after: Option<i64>| {
            events.truncate(MOST);
            let last_event_id = events
                .last()
                .map(|e| e.event_id)
                .or(after)
                .or_else(|| log.recent().last().map(|e| e.event_id));
            EventBatch {
                timed_out: events.is_empty(),
                events,
                last_event_id: last_event_id.map(|id| id.to_string()),
            }
        };
        // Subscribe before looking at the recent events, so nothing falls in between.
        let mut live = log.subscribe();
        let known = match &after {
            Some(id) => match log.after(*id) {
                Some(events) => Some(events),
                // Not among the recent events: the server replays what came after it.
                None => {
                    return self
                        .replay_after(&client, *id, timeout)
                        .await
                        .map(|e| batch(e, after));
                }
            },
            None => None,
        };
        if let Some(events) = known.filter(|e| !e.is_empty()) {
            return Ok(batch(events, after));
        }
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, live.recv()).await {
                Ok(Ok(event)) => {
                    events.push(event);
                    break;
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) | Err(_) => break,
            }
        }
        // Those that came together with the first.
        while events.len() < MOST {
            match live.try_recv() {
                Ok(event) => events.push(event),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        Ok(batch(events, after))
    }

    /// The events after `after` from the server's replay (one stream request).
    async fn replay_after(
        &self,
        client: &Client,
        after: i64,
        timeout: Duration,
    ) -> Result<Vec<EventEnvelope>, String> {
        let mut stream = client.events(Some(after.to_string())).map_err(fail)?;
        let mut events = Vec::new();
        match tokio::time::timeout(timeout, stream.next()).await {
            Ok(Ok(event)) => events.push(event),
            Ok(Err(e)) => return Err(fail(e)),
            Err(_) => return Ok(events),
        }
        // The rest of the replay arrives right behind the first.
        while events.len() < 100 {
            match tokio::time::timeout(Duration::from_millis(50), stream.next()).await {
                Ok(Ok(event)) => events.push(event),
                _ => break,
            }
        }
        Ok(events)
    }

    /// `pinchwork://events`: the session's recent events, oldest first.
    pub(super) fn read_events(&self, uri: &str) -> Result<ResourceContents, McpError> {
        let following = self.follow_events();
        let events = self.inner.events.recent();
        let body = serde_json::json!({
            "events": events,
            "following": following,
            "note": "The agent's events received by this MCP session since it began to follow \
                     them (the last 50). wait_for_events waits for new ones.",
        });
        let text = serde_json::to_string_pretty(&body)
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        Ok(ResourceContents::text(text, uri).with_mime_type("application/json"))
    }
}
