//! `GET /app/events`: the signed-in owner's events as Server-Sent Events, for the page's live
//! parts (the API's /v1/events needs a bearer header, which EventSource cannot send). Each
//! frame only names what happened; the page re-reads itself. At most STREAMS_PER_AGENT per
//! agent on this node.

use super::WebShared;
use super::session::Owner;
use crate::app::AppState;
use crate::error::Error;
use crate::events::Notice;
use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Open page streams per agent, per node.
pub const STREAMS_PER_AGENT: usize = 4;

/// Counts an agent's open stream while it lives.
struct Slot {
    shared: Arc<WebShared>,
    agent: String,
}

impl Slot {
    fn take(shared: Arc<WebShared>, agent: &str) -> Option<Self> {
        let mut open = shared.streams.lock().unwrap();
        let n = open.entry(agent.to_string()).or_default();
        if *n >= STREAMS_PER_AGENT {
            return None;
        }
        *n += 1;
        drop(open);
        Some(Self {
            shared,
            agent: agent.to_string(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.shared.streams.lock().unwrap();
        if let Some(n) = open.get_mut(&self.agent) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.agent);
            }
        }
    }
}

pub async fn owner_events(
    State(s): State<AppState>,
    Extension(shared): Extension<Arc<WebShared>>,
    owner: Owner,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, Error> {
    let slot = Slot::take(shared, &owner.agent_id).ok_or_else(|| Error::TooManyRequests {
        message: format!("At most {STREAMS_PER_AGENT} live pages per agent"),
        retry_after_secs: Some(30),
    })?;
    let live = s.bus.subscribe(&owner.agent_id);
    let shutdown = s.shutdown.subscribe();
    let frames = stream::unfold(
        (live, shutdown, slot),
        |(mut live, mut shutdown, slot)| async move {
            let frame = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return None,
                notice = live.recv() => match notice {
                    Ok(Notice::Event(e)) => SseEvent::default()
                        .event(e.kind.as_str())
                        .data(e.task_id.clone()),
                    // Something may have happened that this node did not publish: re-read.
                    Ok(Notice::Wake) | Err(RecvError::Lagged(_)) => {
                        SseEvent::default().event("refresh").data("")
                    }
                    Err(RecvError::Closed) => return None,
                },
            };
            Some((Ok(frame), (live, shutdown, slot)))
        },
    );
    Ok(Sse::new(frames).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
