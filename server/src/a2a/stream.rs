//! Following one task for its client: the SSE streams of SendStreamingMessage and
//! SubscribeToTask, and blocking SendMessage calls. A watch holds no database connection: it
//! sleeps until there is news of the task (a commit on this node that changed it, an event to
//! the poster from another node, and, on a database several nodes share, a re-read every few
//! seconds for what other nodes changed without telling the poster), then reads the task and
//! reports it if anything the client sees changed.
//!
//! Each stream counts against its agent's cap of open streams, each blocking call against its
//! cap of waiting requests (the same caps as `/v1/events` and `wait`; past them a call gets
//! the 429-like rate-limit error), and both end when the agent is suspended.

use super::jsonrpc::{RpcError, failure, success};
use super::mapping::{self, View};
use super::types::{StreamResponse, TaskState};
use crate::api::holds::Hold;
use crate::app::AppState;
use crate::events::Notice;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::Value;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How often a watch re-reads its task on a database shared by several nodes.
const RECHECK: Duration = Duration::from_secs(5);

/// Comments sent on a quiet stream: more often than every 5 s, the read timeout of httpx (the
/// official Python SDK's HTTP client) by default, so that its streams survive a slow worker.
const KEEP_ALIVE: Duration = Duration::from_secs(4);

/// Follows one task of a poster.
pub struct Watch {
    state: AppState,
    poster: String,
    task_id: String,
    task_news: broadcast::Receiver<Notice>,
    poster_news: broadcast::Receiver<Notice>,
    shutdown: watch::Receiver<bool>,
    recheck: Option<tokio::time::Interval>,
    last: View,
    /// Read the task before waiting: something may have changed since `last` was read.
    catch_up: bool,
    _hold: Hold,
}

impl Watch {
    /// Follows the task from `last` on. `poster_news` must have been subscribed before `last`
    /// was read; news of the task itself is subscribed here, and the first `next` reads the
    /// task at once, so nothing between the two is missed.
    pub fn start(
        state: &AppState,
        hold: Hold,
        poster_news: broadcast::Receiver<Notice>,
        last: View,
    ) -> Self {
        let recheck = state.store.shared().then(|| {
            let mut interval = tokio::time::interval(RECHECK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        Self {
            task_news: state.bus.subscribe_task(&last.task.id),
            shutdown: state.shutdown.subscribe(),
            state: state.clone(),
            poster: last.task.poster_id.clone(),
            task_id: last.task.id.clone(),
            poster_news,
            recheck,
            last,
            catch_up: true,
            _hold: hold,
        }
    }

    /// The task once something the client sees has changed: (before, after). None when the
    /// server shuts down.
    pub async fn next(&mut self) -> Result<Option<(View, View)>, RpcError> {
        loop {
            if !std::mem::take(&mut self.catch_up) && !self.news().await {
                return Ok(None);
            }
            let (poster, id) = (self.poster.clone(), self.task_id.clone());
            let view = self
                .state
                .read(move |tx| {
                    Box::pin(async move { mapping::read(tx, &poster, &id, false).await })
                })
                .await?;
            if view.marks() != self.last.marks() {
                let before = std::mem::replace(&mut self.last, view.clone());
                return Ok(Some((before, view)));
            }
        }
    }

    /// Waits for news that may concern the task; false at shutdown.
    async fn news(&mut self) -> bool {
        loop {
            let recheck = async {
                match self.recheck.as_mut() {
                    Some(interval) => {
                        interval.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let poster_news = tokio::select! {
                _ = self.shutdown.wait_for(|stop| *stop) => return false,
                _ = recheck => return true,
                news = self.task_news.recv() => return !matches!(news, Err(broadcast::error::RecvError::Closed)),
                news = self.poster_news.recv() => news,
            };
            match poster_news {
                Ok(Notice::Event(e)) if e.task_id != self.task_id => {}
                // The poster was suspended: its streams and blocking calls end.
                Ok(Notice::Ended) | Err(broadcast::error::RecvError::Closed) => return false,
                _ => return true,
            }
        }
    }
}

/// What a client is told of a change: the artifact when a result was newly delivered, then
/// the status when it changed.
pub fn changes(before: &View, after: &View) -> Vec<StreamResponse> {
    let mut out = Vec::new();
    if after.task.delivered_at != before.task.delivered_at
        && let Some(update) = after.artifact_update()
    {
        out.push(StreamResponse::ArtifactUpdate(update));
    }
    let (state, message, _) = after.marks();
    let (was, said, _) = before.marks();
    if (state, message) != (was, said) {
        out.push(StreamResponse::StatusUpdate(after.status_update()));
    }
    out
}

/// Where a stream ends: the task is done, or waits for its client.
pub fn ends(state: TaskState) -> bool {
    state.is_terminal() || state.is_interrupted()
}

/// An SSE stream of JSON-RPC responses answering call `id`: `first`, then each change
/// `watch` reports (when given), until a change leaves the task done or waiting for its
/// client.
pub fn sse(
    id: Value,
    first: StreamResponse,
    watch: Option<Watch>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    struct Follow {
        id: Value,
        pending: VecDeque<StreamResponse>,
        watch: Option<Watch>,
    }
    let follow = Follow {
        id,
        pending: VecDeque::from([first]),
        watch,
    };
    let events = stream::unfold(follow, |mut f| async move {
        loop {
            if let Some(item) = f.pending.pop_front() {
                let json = serde_json::to_value(&item).expect("A2A types serialize");
                let frame = SseEvent::default().data(
                    serde_json::to_string(&success(&f.id, json)).expect("responses serialize"),
                );
                return Some((Ok(frame), f));
            }
            let watch = f.watch.as_mut()?;
            match watch.next().await {
                Ok(Some((before, after))) => {
                    f.pending.extend(changes(&before, &after));
                    if ends(after.state()) {
                        f.watch = None;
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    f.watch = None;
                    let frame = SseEvent::default().event("error").data(
                        serde_json::to_string(&failure(&f.id, &e)).expect("responses serialize"),
                    );
                    return Some((Ok(frame), f));
                }
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keepalive"))
}

/// Waits up to `limit` for the task to be done or to wait for its client; returns it as it
/// then stands.
pub async fn wait(mut watch: Watch, limit: Duration) -> Result<View, RpcError> {
    if ends(watch.last.state()) {
        return Ok(watch.last);
    }
    let waited = tokio::time::timeout(limit, async {
        while let Some((_, after)) = watch.next().await? {
            if ends(after.state()) {
                break;
            }
        }
        Ok::<_, RpcError>(())
    })
    .await;
    if let Ok(Err(e)) = waited {
        return Err(e);
    }
    Ok(watch.last)
}
