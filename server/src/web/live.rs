//! `GET /app/events`: the signed-in owner's events as Server-Sent Events, for the page's live
//! parts (the API's /v1/events needs a bearer header, which EventSource cannot send). Each
//! frame only names what happened; the page re-reads itself. Each counts against the agent's
//! cap of open event streams on this node (the same as `/v1/events`) and ends when the agent
//! is suspended.

use super::session::Owner;
use crate::api::holds::Kind;
use crate::app::AppState;
use crate::error::Error;
use crate::events::Notice;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

pub async fn owner_events(
    State(s): State<AppState>,
    owner: Owner,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, Error> {
    let slot = s
        .holds
        .take(&owner.agent_id, Kind::Stream, s.cfg.max_streams_per_agent)?;
    let live = s.bus.subscribe(&owner.agent_id);
    let shutdown = s.shutdown.subscribe();
    let frames = stream::unfold(
        (live, shutdown, slot),
        |(mut live, mut shutdown, slot)| async move {
            let frame = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return None,
                notice = live.recv() => match notice {
                    Ok(Notice::Event(e)) => SseEvent::default()
                        .event(e.kind().as_str())
                        .data(e.task_id.clone()),
                    // Something may have happened that this node did not publish: re-read.
                    Ok(Notice::Wake) | Err(RecvError::Lagged(_)) => {
                        SseEvent::default().event("refresh").data("")
                    }
                    // Suspended: the stream ends.
                    Ok(Notice::Ended) | Err(RecvError::Closed) => return None,
                },
            };
            Some((Ok(frame), (live, shutdown, slot)))
        },
    );
    Ok(Sse::new(frames).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
