//! `GET /v1/events`: the caller's events as Server-Sent Events. `Last-Event-ID` (or
//! `?last_event_id=`) replays what the client missed from the event log, then the stream
//! follows live events. An open stream holds no database connection: live notices wake it,
//! and it reads what is new from the log (so events committed on other nodes, or published
//! out of order, are sent in log order and never skipped).

use super::auth::Auth;
use super::holds::{Hold, Kind};
use super::negotiate::{Events, Frame, Query};
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::events::{Event, EventEnvelope, Notice};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::KeepAlive;
use futures_util::stream;
use serde::Deserialize;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Events replayed per read of the log.
const REPLAY_BATCH: i64 = 500;

#[derive(Deserialize, schemars::JsonSchema)]
pub struct EventsQuery {
    /// Resume after this event id (as the `Last-Event-ID` header does).
    last_event_id: Option<i64>,
}

struct Follow {
    state: AppState,
    agent: String,
    /// Id of the last event sent; everything up to it is done.
    last: i64,
    /// Logged events still to send before going live.
    backlog: VecDeque<Event>,
    /// Whether the log may hold more after the backlog (a full batch was read).
    more_in_log: bool,
    live: broadcast::Receiver<Notice>,
    shutdown: watch::Receiver<bool>,
    /// This stream's place in the agent's cap of open streams.
    _hold: Hold,
}

pub async fn stream(
    State(s): State<AppState>,
    Auth(caller): Auth,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Events<EventEnvelope>> {
    let header = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let last = match header.map(|v| v.trim().parse::<i64>()) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return Err(Error::bad_request("Last-Event-ID must be an event id")),
        None => q.last_event_id,
    };
    let hold = s
        .holds
        .take(&caller.id, Kind::Stream, s.cfg.max_streams_per_agent)?;
    // Subscribe before reading the log, so nothing falls between the two.
    let live = s.bus.subscribe(&caller.id);
    let last = match last {
        Some(id) => id,
        // A new stream starts after the newest logged event: only what happens from now.
        None => {
            let agent = caller.id.clone();
            s.read(move |tx| Box::pin(async move { tx.latest_event_id(&agent).await }))
                .await?
        }
    };
    let mut follow = Follow {
        shutdown: s.shutdown.subscribe(),
        state: s,
        agent: caller.id,
        last,
        backlog: VecDeque::new(),
        more_in_log: true,
        live,
        _hold: hold,
    };
    follow.read_log().await?;
    let events = stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        let frame = Frame {
            event: event.kind().as_str(),
            id: event.id.to_string(),
            data: event.envelope(),
        };
        Some((frame, f))
    });
    Ok(Events::new(
        events,
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keepalive"),
    ))
}

impl Follow {
    /// Reads the next batch of logged events after `last` into the backlog.
    async fn read_log(&mut self) -> Result<()> {
        let (agent, after) = (self.agent.clone(), self.last);
        let batch = self
            .state
            .read(move |tx| {
                Box::pin(async move { tx.events_after(&agent, after, REPLAY_BATCH).await })
            })
            .await?;
        self.more_in_log = batch.len() as i64 == REPLAY_BATCH;
        self.backlog.extend(batch);
        Ok(())
    }

    /// The next event to send, or None when the stream should end (shutdown).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.last = event.id;
                return Some(event);
            }
            if self.more_in_log {
                self.read_log().await.ok()?;
                continue;
            }
            let received = tokio::select! {
                _ = self.shutdown.wait_for(|stop| *stop) => return None,
                received = self.live.recv() => received,
            };
            match received {
                // Already sent from the log.
                Ok(Notice::Event(event)) if event.id <= self.last => {}
                // Something new: the log has it, and anything before it that this node heard
                // of out of order (events committed on other nodes arrive later).
                Ok(Notice::Event(_) | Notice::Wake)
                | Err(broadcast::error::RecvError::Lagged(_)) => self.read_log().await.ok()?,
                Ok(Notice::Ended) | Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
