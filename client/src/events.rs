//! Your live events (`GET /v1/events`, Server-Sent Events), followed across reconnections.
//!
//! Each frame carries `event:` (the type, e.g. `task_delivered`), `id:` (the event's id) and
//! `data:` (the event in its one JSON shape, [`EventEnvelope`]: the same object a webhook
//! receives and MCP returns), decoded into the typed event. When the connection drops, [`EventStream`] reconnects with `Last-Event-ID`, so the
//! server replays what was missed; only authentication and other client errors end it.
//!
//! ```no_run
//! # async fn demo(client: pinchwork_client::Client) -> Result<(), pinchwork_client::ClientError> {
//! let mut events = client.events(None)?;
//! loop {
//!     let event = events.next().await?;
//!     println!("{} on {}", event.kind(), event.task_id);
//! }
//! # }
//! ```

use crate::client::{Client, ClientError, Result};
use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
pub use pinchwork_api::events::*;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, RETRY_AFTER};
use std::pin::Pin;
use std::time::Duration;

/// A connection silent for this long is taken for dead (the server sends a keep-alive
/// comment every 15 seconds).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest wait between two reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What happens to the connection, for progress messages.
#[derive(Debug)]
pub enum StreamStatus<'a> {
    /// The stream is open (first connection or after a reconnection).
    Connected,
    /// The connection failed or dropped; the next attempt comes after `delay`.
    Reconnecting {
        error: &'a ClientError,
        delay: Duration,
    },
}

type Frames = Pin<
    Box<
        dyn Stream<
                Item = std::result::Result<
                    eventsource_stream::Event,
                    EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

type Notice = Box<dyn FnMut(StreamStatus<'_>) + Send>;

/// Your event stream; [`EventStream::next`] waits for the next event, reconnecting as needed.
pub struct EventStream {
    client: Client,
    http: reqwest::Client,
    last_event_id: Option<String>,
    frames: Option<Frames>,
    /// Consecutive failed attempts (for the backoff).
    failures: u32,
    /// Reconnection delay asked for by the server (`retry:`).
    server_retry: Option<Duration>,
    notice: Option<Notice>,
}

impl Client {
    /// Follows your events. With `last_event_id`, the server first replays the events after
    /// it; without, the stream starts with what happens from now on. Connects on the first
    /// [`EventStream::next`].
    pub fn events(&self, last_event_id: Option<String>) -> Result<EventStream> {
        if self.api_key().is_none() {
            return Err(ClientError::MissingApiKey);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("pinchwork-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(IDLE_TIMEOUT)
            .build()?;
        Ok(EventStream {
            client: self.clone(),
            http,
            last_event_id: last_event_id.filter(|id| !id.is_empty()),
            frames: None,
            failures: 0,
            server_retry: None,
            notice: None,
        })
    }
}

impl EventStream {
    /// Calls `notice` when the stream connects and before each reconnection.
    pub fn on_status(mut self, notice: impl FnMut(StreamStatus<'_>) + Send + 'static) -> Self {
        self.notice = Some(Box::new(notice));
        self
    }

    /// The id of the last event received (where a new stream would resume).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The next event. Dropped connections and server errors (5xx, 429) are retried with a
    /// growing delay; client errors (a bad key, a suspended agent, …) end the stream. Frames
    /// that are not an event this build knows (a kind from a newer server) are skipped.
    pub async fn next(&mut self) -> Result<EventEnvelope> {
        loop {
            let frames = match self.frames.as_mut() {
                Some(frames) => frames,
                None => match self.connect().await {
                    Ok(frames) => {
                        self.failures = 0;
                        self.notify(StreamStatus::Connected);
                        self.frames.insert(frames)
                    }
                    Err((e, retry_after)) if retryable(&e) => {
                        self.wait_before_retry(&e, retry_after).await;
                        continue;
                    }
                    Err((e, _)) => return Err(e),
                },
            };
            match frames.next().await {
                Some(Ok(frame)) => {
                    if let Some(retry) = frame.retry {
                        self.server_retry = Some(retry);
                    }
                    if !frame.id.is_empty() {
                        self.last_event_id = Some(frame.id.clone());
                    }
                    if let Some(event) = event_of(&frame) {
                        return Ok(event);
                    }
                }
                Some(Err(e)) => {
                    self.frames = None;
                    let error = match e {
                        EventStreamError::Transport(e) => ClientError::Transport(e),
                        other => ClientError::Decode {
                            status: 200,
                            message: other.to_string(),
                        },
                    };
                    self.wait_before_retry(&error, None).await;
                }
                None => {
                    self.frames = None;
                    self.wait_before_retry(&ClientError::StreamEnded, None)
                        .await;
                }
            }
        }
    }

    /// Opens the stream; on failure, the error and the server's Retry-After. The future
    /// borrows nothing from `self`, so `next` can run in a spawned task.
    fn connect(
        &self,
    ) -> impl Future<Output = std::result::Result<Frames, (ClientError, Option<u64>)>> + Send + 'static
    {
        let key = self.client.api_key().unwrap_or_default();
        let mut req = self
            .http
            .get(self.client.url(&["v1", "events"]))
            .header(ACCEPT, "text/event-stream")
            .header(AUTHORIZATION, format!("Bearer {}", key.trim()));
        if let Some(id) = &self.last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        async move {
            let res = req.send().await.map_err(|e| (e.into(), None))?;
            let status = res.status();
            if !status.is_success() {
                let retry_after = res
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok());
                let text = res.text().await.unwrap_or_default();
                let error = ClientError::Api {
                    status: status.as_u16(),
                    message: crate::client::error_message(status, &text),
                    retry_after,
                };
                return Err((error, retry_after));
            }
            let frames: Frames = Box::pin(res.bytes_stream().eventsource());
            Ok(frames)
        }
    }

    async fn wait_before_retry(&mut self, error: &ClientError, retry_after: Option<u64>) {
        let backoff = Duration::from_secs(1 << self.failures.min(5)).min(MAX_BACKOFF);
        let delay = retry_after
            .map(Duration::from_secs)
            .or(self.server_retry)
            .unwrap_or(backoff);
        self.failures = self.failures.saturating_add(1);
        self.notify(StreamStatus::Reconnecting { error, delay });
        tokio::time::sleep(delay).await;
    }

    fn notify(&mut self, status: StreamStatus<'_>) {
        if let Some(notice) = self.notice.as_mut() {
            notice(status);
        }
    }
}

/// Whether a failure may pass by itself (network, server trouble, rate limit).
fn retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Transport(_) | ClientError::Decode { .. } | ClientError::StreamEnded => true,
        ClientError::Api { status, .. } => {
            *status == 408
                || *status == 429
                || StatusCode::from_u16(*status).is_ok_and(|s| s.is_server_error())
        }
        ClientError::MissingApiKey | ClientError::InvalidUrl(_) => false,
    }
}

/// The event a frame carries, if it is one this build knows.
fn event_of(frame: &eventsource_stream::Event) -> Option<EventEnvelope> {
    let mut event: EventEnvelope = serde_json::from_str(&frame.data).ok()?;
    if event.event_id == 0 {
        event.event_id = frame.id.parse().unwrap_or_default();
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_end_the_stream_and_the_rest_are_retried() {
        let api = |status| ClientError::Api {
            status,
            message: String::new(),
            retry_after: None,
        };
        assert!(!retryable(&api(401)));
        assert!(!retryable(&api(403)));
        assert!(retryable(&api(429)));
        assert!(retryable(&api(503)));
        assert!(retryable(&ClientError::StreamEnded));
    }

    #[test]
    fn frames_become_events() {
        let e = event_of(&eventsource_stream::Event {
            event: "task_delivered".into(),
            data: r#"{"type": "task_delivered", "task_id": "t1"}"#.into(),
            id: "7".into(),
            retry: None,
        })
        .unwrap();
        assert_eq!(e.event_id, 7);
        assert_eq!(e.task_id, "t1");
        assert_eq!(e.kind(), EventKind::TaskDelivered);
        for data in [
            "plain",
            r#"{"type": "from_a_newer_server", "task_id": "t1"}"#,
        ] {
            let frame = eventsource_stream::Event {
                event: String::new(),
                data: data.into(),
                id: String::new(),
                retry: None,
            };
            assert_eq!(event_of(&frame), None);
        }
    }

    #[tokio::test]
    async fn a_stream_needs_a_key() {
        let c = Client::new("http://127.0.0.1:9", None).unwrap();
        assert!(matches!(c.events(None), Err(ClientError::MissingApiKey)));
    }

    /// A tiny SSE server: the first connection sends one event and hangs up; the second must
    /// carry `Last-Event-ID: 1` and gets the next event.
    #[tokio::test]
    async fn reconnects_with_the_last_event_id() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            for n in 1..=2 {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let len = sock.read(&mut buf).await.unwrap();
                seen.push(String::from_utf8_lossy(&buf[..len]).to_lowercase());
                let body = format!(
                    "retry: 10\nevent: task_cancelled\nid: {n}\ndata: {{\"event\": \"task_cancelled\", \"task_id\": \"t{n}\"}}\n\n"
                );
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                sock.write_all(head.as_bytes()).await.unwrap();
                sock.write_all(body.as_bytes()).await.unwrap();
            }
            seen
        });
        let client = Client::new(&format!("http://{addr}"), Some("k".into())).unwrap();
        let mut events = client.events(None).unwrap();
        let first = events.next().await.unwrap();
        assert_eq!(first.task_id, "t1");
        let second = events.next().await.unwrap();
        assert_eq!(second.task_id, "t2");
        assert_eq!(events.last_event_id(), Some("2"));
        let seen = server.await.unwrap();
        assert!(seen[0].contains("authorization: bearer k"));
        assert!(!seen[0].contains("last-event-id"));
        assert!(seen[1].contains("last-event-id: 1"), "{}", seen[1]);
    }
}
