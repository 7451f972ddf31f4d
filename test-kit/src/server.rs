//! A real server on loopback with its own runtime on a background thread, for tests that drive
//! it from outside: the MCP and CLI tests, the end-to-end scenarios.

use crate::{TestDir, assert_books_balance_of, test_config};
use pinchwork_server::app::{AppState, Server};
use pinchwork_server::config::Config;
use pinchwork_server::time::SystemClock;
use std::sync::Arc;
use std::thread::JoinHandle;

/// A server on 127.0.0.1 on the real clock, its database in a [`TestDir`] (PostgreSQL when
/// `PINCHWORK_TEST_POSTGRES_URL` is set); stops when dropped.
pub struct TestServer {
    pub url: String,
    pub cfg: Config,
    /// The server's state, to look behind the API (the books).
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: TestDir,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// Starts a server on the test configuration with `change` on top.
    pub fn start_with(change: impl FnOnce(&mut Config)) -> Self {
        let dir = TestDir::new();
        let mut cfg = test_config(&dir);
        cfg.shutdown_timeout_seconds = 1;
        change(&mut cfg);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server_cfg = cfg.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let state = AppState::open(server_cfg, Arc::new(SystemClock))
                    .await
                    .unwrap();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let server = Server::start(state.clone(), listener).await.unwrap();
                started_tx.send((server.addr, state)).unwrap();
                let _ = stopped.await;
                server.shutdown().await;
            });
        });
        let (addr, state) = started_rx.recv().expect("the server starts");
        Self {
            url: format!("http://{addr}"),
            cfg,
            state,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// Asserts the books balance (see [`crate::TestApp::assert_books_balance`]).
    pub async fn assert_books_balance(&self) {
        assert_books_balance_of(&self.state).await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
