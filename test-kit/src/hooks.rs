//! A webhook receiver on 127.0.0.1 for tests: records every request, answers a chosen status.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver saw of one request.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Shared = (Arc<Mutex<Vec<Hit>>>, Arc<AtomicU16>);

/// A webhook receiver on 127.0.0.1 that records every request and answers `status`.
#[derive(Clone)]
pub struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    status: Arc<AtomicU16>,
    pub url: String,
}

impl Receiver {
    pub async fn start(status: u16) -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(status));
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |State((hits, status)): State<Shared>,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        hits.lock().unwrap().push(Hit { headers, body });
                        StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap()
                    },
                ),
            )
            .with_state((hits.clone(), status.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { hits, status, url }
    }

    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches("/hook")
            .parse()
            .unwrap()
    }

    /// Waits (up to 5 s) until at least `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Hit> {
        let start = Instant::now();
        loop {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "expected {n} webhook requests, got {}",
                hits.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts that no more than `n` requests arrive within `ms`.
    pub async fn stays_at(&self, n: usize, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        assert_eq!(self.hits().len(), n, "unexpected webhook requests");
    }
}
