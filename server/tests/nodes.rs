//! Three server nodes on one PostgreSQL database, each serving real HTTP with its own timer
//! loop, webhook worker and relay of the other nodes' news: pickups spread over the nodes never
//! claim a task twice nor wait for each other, an event caused on one node reaches a stream
//! and a `wait` on another within a second (also after the nodes lost their notification
//! connections), every timer fires and every webhook is sent once, a rate limit is one
//! allowance across the nodes, and a suspension holds on every node at once.
//!
//! They need PostgreSQL (SQLite is a single-node database: nothing to share), so they are
//! ignored by default and reported as such; the PostgreSQL pass runs them:
//! `PINCHWORK_TEST_POSTGRES_URL=… cargo test -p pinchwork-server --test nodes -- --include-ignored`
//! (as `.ci/run` does). Run without the variable, they fail rather than pass untested.

use pinchwork_server::app::Server;
use pinchwork_server::config::Config;
use pinchwork_server::model::MINUTE;
use pinchwork_server::store::OpenTaskFilter;
use pinchwork_server::time::ManualClock;
use pinchwork_test_kit::hooks::Receiver;
use pinchwork_test_kit::{
    T0, TestApp, TestDir, next_within, open, pickup, race_for_tasks, test_config,
};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const NODES: usize = 3;

struct Cluster {
    nodes: Vec<TestApp>,
    servers: Vec<Server>,
    bases: Vec<String>,
    clock: ManualClock,
}

impl Cluster {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Three nodes on a fresh database, started at the same time (their migrations race).
    async fn start_with(change: impl FnOnce(&mut Config)) -> Self {
        let dir = Arc::new(TestDir::new());
        assert!(
            dir.is_postgres(),
            "the multi-node tests need PostgreSQL: set PINCHWORK_TEST_POSTGRES_URL"
        );
        let clock = ManualClock::new(T0);
        let mut cfg = test_config(&dir);
        cfg.initial_credits = 100_000;
        // The pickup races let workers hold every task they win.
        cfg.max_active_claims = 10_000;
        cfg.timer_tick_ms = 20;
        change(&mut cfg);
        let nodes = futures_util::future::join_all(
            (0..NODES).map(|_| TestApp::open(cfg.clone(), dir.clone(), clock.clone())),
        )
        .await;
        let mut servers = Vec::new();
        for node in &nodes {
            servers.push(node.serve().await);
        }
        let bases = servers
            .iter()
            .map(|s| format!("http://{}", s.addr))
            .collect();
        Self {
            nodes,
            servers,
            bases,
            clock,
        }
    }

    async fn stop(self) {
        for server in self.servers {
            server.shutdown().await;
        }
    }

    /// Waits (up to 10 s) until `done` holds, checking every 20 ms.
    async fn until(&self, what: &str, mut done: impl AsyncFnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(self).await {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn events_of(&self, agent: &str) -> Vec<String> {
        let agent = agent.to_string();
        self.nodes[0]
            .state
            .read(move |tx| Box::pin(async move { tx.events_after(&agent, 0, 10_000).await }))
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {}", e.kind().as_str(), e.task_id))
            .collect()
    }
}

async fn post(http: &reqwest::Client, url: &str, key: &str, body: Value) -> Value {
    let r = http
        .post(url)
        .bearer_auth(key)
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: PINCHWORK_TEST_POSTGRES_URL and --include-ignored"]
async fn pickups_on_three_nodes_claim_every_task_exactly_once() {
    let cluster = Cluster::start().await;
    let app = &cluster.nodes[0];
    let (poster_id, poster) = app.register("poster").await;
    let mut posted = HashSet::new();
    for i in 0..300 {
        posted.insert(app.post_task(&poster, &format!("task {i}"), 1).await);
    }
    let mut workers = Vec::new();
    for i in 0..30 {
        workers.push(app.register(&format!("worker-{i}")).await);
    }
    // Each worker talks to one node; the nodes race for the same rows.
    let counts = race_for_tasks(app, &poster, &posted, &workers, &cluster.bases).await;
    let busy_nodes: HashSet<usize> = (0..workers.len())
        .filter(|&i| counts[i] > 0)
        .map(|i| i % NODES)
        .collect();
    assert_eq!(busy_nodes.len(), NODES, "every node claimed tasks");
    // One task_claimed event per task: no claim happened twice, even briefly.
    let claims = cluster.events_of(&poster_id).await;
    assert_eq!(claims.len(), posted.len(), "one task_claimed per task");
    app.assert_books_balance().await;
    cluster.stop().await;
}

/// A pickup skips a task another transaction holds (`SKIP LOCKED`) and claims the next one at
/// once, instead of queueing behind that transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: PINCHWORK_TEST_POSTGRES_URL and --include-ignored"]
async fn a_pickup_takes_the_next_task_instead_of_waiting_for_a_held_one() {
    let cluster = Cluster::start().await;
    let app = &cluster.nodes[0];
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let first = app.post_task(&poster, "first", 1).await;
    let second = app.post_task(&poster, "second", 1).await;
    // Node A takes the oldest task, as a pickup does, and keeps its transaction open for 2 s.
    let held = Arc::new(AtomicBool::new(true));
    let holder = {
        let (state, held) = (app.state.clone(), held.clone());
        tokio::spawn(async move {
            state
                .store
                .write(move |tx| {
                    Box::pin(async move {
                        let filter = OpenTaskFilter {
                            viewer: "ag-someone-else".into(),
                            ..Default::default()
                        };
                        let taken = tx.claimable(&filter, 1).await?;
                        // PostgreSQL jobs run on the runtime: hold the transaction without
                        // holding a worker thread.
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        held.store(false, Ordering::SeqCst);
                        Ok::<_, pinchwork_server::error::Error>(
                            taken.into_iter().map(|o| o.task.id).collect::<Vec<_>>(),
                        )
                    })
                })
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let http = reqwest::Client::new();
    let got = pickup(&http, &cluster.bases[1], &worker).await;
    assert!(
        held.load(Ordering::SeqCst),
        "the pickup waited for the other transaction"
    );
    assert_eq!(got, Some(second), "the next task, not the held one");
    assert_eq!(holder.await.unwrap(), vec![first]);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: PINCHWORK_TEST_POSTGRES_URL and --include-ignored"]
async fn an_event_caused_on_one_node_reaches_a_stream_on_another_within_a_second() {
    let cluster = Cluster::start().await;
    let (a, b, c) = (&cluster.bases[0], &cluster.bases[1], &cluster.bases[2]);
    let app = &cluster.nodes[0];
    let http = reqwest::Client::new();
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let mut stream = open(a, &poster, None).await;

    // Claimed through node B, seen on node A.
    let task = app.post_task(&poster, "translate this", 10).await;
    let started = Instant::now();
    assert_eq!(
        pickup(&http, b, &worker).await.as_deref(),
        Some(task.as_str())
    );
    let event = next_within(&mut stream, Duration::from_secs(1)).await;
    assert_eq!(event.event, "task_claimed");
    let crossed = started.elapsed();

    // A message through node C, then a delivery through node B: in order, nothing skipped.
    post(
        &http,
        &format!("{c}/v1/tasks/{task}/messages"),
        &worker,
        json!({"message": "on it"}),
    )
    .await;
    post(
        &http,
        &format!("{b}/v1/tasks/{task}/deliver"),
        &worker,
        json!({"result": "done"}),
    )
    .await;
    assert_eq!(
        next_within(&mut stream, Duration::from_secs(1)).await.event,
        "task_message"
    );
    let delivered = next_within(&mut stream, Duration::from_secs(1)).await;
    assert_eq!(delivered.event, "task_delivered");

    // `wait` on node A answers when node C delivers.
    let waiting = {
        let (http, a, poster) = (http.clone(), a.clone(), poster.clone());
        tokio::spawn(async move {
            post(
                &http,
                &format!("{a}/v1/tasks"),
                &poster,
                json!({"need": "wait for me", "max_credits": 5, "wait": 30}),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = pickup(&http, c, &worker).await.expect("the waiting task");
    let asked = Instant::now();
    post(
        &http,
        &format!("{c}/v1/tasks/{second}/deliver"),
        &worker,
        json!({"result": "fast"}),
    )
    .await;
    let answer = tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("wait answered within a second of the delivery on another node")
        .unwrap();
    assert_eq!(answer["status"], "delivered");
    assert_eq!(answer["result"], "fast");
    eprintln!(
        "cross-node: stream {crossed:?} after the pickup began, wait {:?} after the delivery began",
        asked.elapsed()
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: PINCHWORK_TEST_POSTGRES_URL and --include-ignored"]
async fn streams_catch_up_after_the_nodes_lose_their_notifications() {
    let cluster = Cluster::start().await;
    let app = &cluster.nodes[0];
    let http = reqwest::Client::new();
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let mut stream = open(&cluster.bases[0], &poster, None).await;
    let task = app.post_task(&poster, "survive a reconnect", 10).await;

    // Cut every node's LISTEN connection, then claim at once: node A cannot hear of it, and
    // must find it in the log when it reconnects.
    pinchwork_test_kit::admin(
        &app.cfg.database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE query LIKE 'LISTEN %' AND datname = current_database()",
    );
    assert_eq!(
        pickup(&http, &cluster.bases[1], &worker).await.as_deref(),
        Some(task.as_str())
    );
    let event = next_within(&mut stream, Duration::from_secs(3)).await;
    assert_eq!(event.event, "task_claimed");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: PINCHWORK_TEST_POSTGRES_URL and --include-ignored"]
async fn every_timer_fires_once_with_three_timer_loops() {
    let cluster = Cluster::start().await;
    let app = &cluster.nodes[0];
    let (_, poster) = app.register("poster").await;
    let (worker_id, worker) = app.register("worker").await;
    let http = reqwest::Client::new();
    // 20 tasks only claimed (their claim times out), 20 delivered (their review times out).
    let mut claimed = Vec::new();
    let mut delivered = Vec::new();
    for i in 0..40 {
        let task = app.post_task(&poster, &format!("task {i}"), 10).await;
        let base = &cluster.bases[i % NODES];
        assert_eq!(
            pickup(&http, base, &worker).await.as_deref(),
            Some(task.as_str())
        );
        if i % 2 == 0 {
            claimed.push(task);
        } else {
            post(
                &http,
                &format!("{base}/v1/tasks/{task}/deliver"),
                &worker,
                json!({"result": "r"}),
            )
            .await;
            delivered.push(task);
        }
    }

    // Past the claim timeout (10 min): every node's timer loop sees the same due tasks.
    cluster.clock.advance(11 * MINUTE);
    cluster
        .until("every claim timed out", async |c: &Cluster| {
            c.events_of(&worker_id)
                .await
                .iter()
                .filter(|e| e.starts_with("claim_timeout_expired"))
                .count()
                >= claimed.len()
        })
        .await;
    // Past the review timeout (30 min): auto-approval pays each worker once.
    cluster.clock.advance(30 * MINUTE);
    cluster
        .until("every delivery was approved", async |c: &Cluster| {
            c.events_of(&worker_id)
                .await
                .iter()
                .filter(|e| e.starts_with("task_approved"))
                .count()
                >= delivered.len()
        })
        .await;
    // Give any double firing the time to show.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let events = cluster.events_of(&worker_id).await;
    for task in &claimed {
        let fired = events
            .iter()
            .filter(|e| **e == format!("claim_timeout_expired {task}"))
            .count();
        assert_eq!(fired, 1, "claim timeout of {task} fired {fired} times");
    }
    for task in &delivered {
        let fired = events
            .iter()
            .filter(|e| **e == format!("task_approved {task}"))
            .count();
        assert_eq!(fired, 1, "auto-approval of {task} fired {fired} times");
    }
    // Paid once each: 20 × 9 credits (10 less the 10 % fee).
    assert_eq!(app.credits(&worker).await, 100_000 + 20 * 9);
    app.assert_books_balance().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: PINCHWORK_TEST_POSTGRES_URL and --include-ignored"]
async fn rate_limits_hold_across_nodes() {
    let cluster = Cluster::start_with(|cfg| {
        cfg.rate_limits_enabled = true;
        cfg.rate_limit_create = "3/minute".into();
    })
    .await;
    let http = reqwest::Client::new();
    let (_, poster) = cluster.nodes[0].register("poster").await;
    let create = |node: usize| {
        let (http, url, poster) = (
            http.clone(),
            format!("{}/v1/tasks", cluster.bases[node]),
            poster.clone(),
        );
        async move {
            http.post(url)
                .bearer_auth(poster)
                .json(&json!({"need": "n", "max_credits": 1}))
                .send()
                .await
                .unwrap()
        }
    };
    // One allowance for the key, whichever node counts it.
    for node in 0..NODES {
        assert_eq!(
            create(node).await.status(),
            201,
            "hit {} on node {node}",
            node + 1
        );
    }
    for node in 0..NODES {
        let refused = create(node).await;
        assert_eq!(refused.status(), 429, "over the limit on node {node}");
        assert!(refused.headers().contains_key("retry-after"));
    }
    // A new window for everyone once the minute is over.
    cluster.clock.advance(MINUTE);
    assert_eq!(create(2).await.status(), 201);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: PINCHWORK_TEST_POSTGRES_URL and --include-ignored"]
async fn each_webhook_is_sent_once_by_three_outbox_workers() {
    let cluster = Cluster::start_with(|cfg| cfg.webhook_allow_insecure = true).await;
    let receiver = Receiver::start(200).await;
    let app = &cluster.nodes[0];
    let http = reqwest::Client::new();
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    app.call(
        "PATCH",
        "/v1/me",
        Some(&poster),
        Some(json!({"webhook_url": receiver.url})),
    )
    .await
    .expect(200);
    const CLAIMS: usize = 30;
    for i in 0..CLAIMS {
        app.post_task(&poster, &format!("task {i}"), 1).await;
        // Claimed through every node in turn: each queues the poster's webhook.
        assert!(
            pickup(&http, &cluster.bases[i % NODES], &worker)
                .await
                .is_some()
        );
    }
    let hits = receiver.wait_for(CLAIMS).await;
    receiver.stays_at(CLAIMS, 500).await;
    let ids: HashSet<_> = hits
        .iter()
        .map(|h| h.header("x-pinchwork-delivery").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), CLAIMS, "every delivery sent once");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: PINCHWORK_TEST_POSTGRES_URL and --include-ignored"]
async fn a_suspension_on_one_node_holds_on_the_others_within_a_second() {
    let cluster = Cluster::start_with(|cfg| cfg.admin_key = Some("admin-key".into())).await;
    let http = reqwest::Client::new();
    let (agent, key) = cluster.nodes[0].register("soon-suspended").await;
    let me = |node: usize| {
        let (http, url, key) = (
            http.clone(),
            format!("{}/v1/me", cluster.bases[node]),
            key.clone(),
        );
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Node B has checked the key and keeps it for a while.
    assert_eq!(me(1).await, 200);
    post(
        &http,
        &format!("{}/v1/admin/agents/suspend", cluster.bases[0]),
        "admin-key",
        json!({"agent_id": agent, "suspended": true}),
    )
    .await;
    let suspended = Instant::now();
    while me(1).await != 403 {
        assert!(
            suspended.elapsed() < Duration::from_secs(1),
            "node B still lets the suspended agent in"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(me(2).await, 403);
    cluster.stop().await;
}

/// What a suspended agent holds open on other nodes ends too: the suspension's news ends its
/// streams there (issue 13).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: PINCHWORK_TEST_POSTGRES_URL and --include-ignored"]
async fn a_suspension_on_one_node_ends_the_agents_streams_on_the_others() {
    let cluster = Cluster::start_with(|cfg| cfg.admin_key = Some("admin-key".into())).await;
    let (agent, key) = cluster.nodes[0].register("streaming").await;
    let mut on_b = open(&cluster.bases[1], &key, None).await;
    let mut on_c = open(&cluster.bases[2], &key, None).await;
    post(
        &reqwest::Client::new(),
        &format!("{}/v1/admin/agents/suspend", cluster.bases[0]),
        "admin-key",
        json!({"agent_id": agent, "suspended": true}),
    )
    .await;
    for stream in [&mut on_b, &mut on_c] {
        let end = tokio::time::timeout(
            Duration::from_secs(2),
            futures_util::StreamExt::next(stream),
        )
        .await
        .expect("the stream ended within two seconds");
        assert!(end.is_none(), "{end:?}");
    }
    cluster.stop().await;
}
