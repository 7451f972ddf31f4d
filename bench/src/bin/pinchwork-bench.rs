//! Load benchmark: starts a real `pinchwork-server` (the release binary next to this one) on a
//! fresh SQLite database in a temporary directory (or one or more nodes on a fresh PostgreSQL
//! database: `--postgres URL --nodes 3`), drives whole task lifecycles through it over
//! HTTP (create → pickup → deliver → approve), and prints throughput, per-endpoint latency,
//! status counts, the server's memory and CPU, and a credit-conservation check.
//!
//! ```sh
//! cargo build --release -p pinchwork-server -p pinchwork-bench
//! cargo run --release -p pinchwork-bench --bin pinchwork-bench -- --workers 32 --seconds 10
//! ```
//!
//! Posters and workers are separate agents. Each poster keeps at most `--window` tasks open;
//! it has a creating loop and an approving loop, so it creates while it waits for deliveries.
//! A worker that delivers hands the task id to its poster through an in-process channel (the
//! bench is one process), so posters learn of deliveries without polling the server.

use pinchwork_bench::*;

use axum::body::Bytes;
use clap::Parser;
use pinchwork_client::types::{CreateTaskResponse, CreditsResponse, PickupItem};
use pinchwork_server::store::scratch::ScratchDatabase;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "pinchwork-bench",
    about = "Drives task lifecycles through a real pinchwork-server and reports throughput"
)]
struct Args {
    /// Concurrent workers (each: pickup, then deliver).
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// Concurrent posters (each: create tasks, approve deliveries).
    #[arg(long, default_value_t = 16)]
    posters: usize,
    /// Open (unapproved) tasks each poster keeps at most.
    #[arg(long, default_value_t = 4)]
    window: usize,
    /// Measured duration, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured run before the measurement, in seconds.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// How long a worker waits after an empty pickup (204), in milliseconds.
    #[arg(long, default_value_t = 2)]
    idle_backoff_ms: u64,
    /// Credits each task offers (the platform fee is 10 % of it).
    #[arg(long, default_value_t = 10)]
    max_credits: i64,
    /// The server binary (default: `pinchwork-server` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Keeps the temporary directory (database and server log) instead of deleting it.
    #[arg(long)]
    keep: bool,
    /// Runs on PostgreSQL instead of SQLite: the URL of any database on the server
    /// (`postgres://user@host:port/db`). The bench makes a fresh database there for the run
    /// and drops it afterwards.
    #[arg(long)]
    postgres: Option<String>,
    /// Server nodes sharing the database (more than one needs --postgres). Each poster and
    /// worker talks to one node, in turn, as a load balancer with sticky clients would spread
    /// them.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Fills the marketplace with this many open tasks before the run, which the benchmark's
    /// workers never take (tag `elsewhere`, posted by agents of their own): the benchmark's
    /// tasks are then tagged `bench` and its workers pick up with `?tags=bench`, also at 0, so
    /// that runs at different sizes do the same work.
    #[arg(long)]
    open_tasks: Option<usize>,
    /// Fills the marketplace's history with this many settled tasks before the run (approved
    /// a month ago, posted and done by agents of their own, paid in the ledger; their events
    /// long pruned): what a marketplace's past costs. Implies `--open-tasks 0` when that is
    /// not given.
    #[arg(long)]
    settled_tasks: Option<usize>,
    /// Agents that only browse (`GET /v1/tasks/available`, first page, no filter), each in a
    /// loop: what a marketplace's size costs a read.
    #[arg(long, default_value_t = 0)]
    readers: usize,
    /// The readers browse only tasks with this tag (`?tags=`), such as `bench`, the board the
    /// workers pick up from: the same page at every --open-tasks, where the unfiltered first
    /// page is nearly empty at 0 and full of pre-filled tasks above it.
    #[arg(long, value_name = "TAG")]
    reader_tag: Option<String>,
    /// Workers pick up with `?wait=S` (long poll): with nothing to claim, a pickup waits up
    /// to S seconds for a task instead of answering 204 at once. 0: they poll, sleeping
    /// --idle-backoff-ms after each empty pickup.
    #[arg(long, default_value_t = 0, value_name = "S")]
    long_poll: u64,
}

const INITIAL_CREDITS: i64 = 1_000_000_000;
const FEE_PERCENT: i64 = 10;
/// Clock ticks per second of /proc's CPU times (100 on every usual Linux).
const CLK_TCK: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ep {
    Create,
    PickupHit,
    PickupEmpty,
    Deliver,
    Approve,
    Browse,
}

impl Ep {
    const ALL: [Ep; 6] = [
        Ep::Create,
        Ep::PickupHit,
        Ep::PickupEmpty,
        Ep::Deliver,
        Ep::Approve,
        Ep::Browse,
    ];
    fn name(self) -> &'static str {
        match self {
            Ep::Create => "create",
            Ep::PickupHit => "pickup (200)",
            Ep::PickupEmpty => "pickup (204)",
            Ep::Deliver => "deliver",
            Ep::Approve => "approve",
            Ep::Browse => "browse",
        }
    }
}

/// What one actor saw; merged at the end.
#[derive(Default)]
struct Stats {
    /// Latencies in microseconds of requests that finished inside the measured window.
    lat: BTreeMap<Ep, Vec<u32>>,
    /// Responses inside the window by endpoint and status (0 = transport error).
    status: BTreeMap<(&'static str, u16), u64>,
    /// Lifecycles whose approval finished inside the window.
    lifecycles: u64,
    /// All approvals and the platform fees they paid, measured or not.
    approvals: u64,
    fees: i64,
    /// Approvals whose outcome is unknown (transport error): the fee check cannot be exact.
    unknown_approvals: u64,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        for (ep, v) in other.lat {
            self.lat.entry(ep).or_default().extend(v);
        }
        for (k, n) in other.status {
            *self.status.entry(k).or_default() += n;
        }
        self.lifecycles += other.lifecycles;
        self.approvals += other.approvals;
        self.fees += other.fees;
        self.unknown_approvals += other.unknown_approvals;
    }
}

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn contains(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }
    fn over(&self) -> bool {
        Instant::now() >= self.end
    }
}

/// Sends one request, reads the whole body, and records status and latency.
async fn call(
    stats: &mut Stats,
    window: Window,
    name: &'static str,
    req: RequestBuilder,
) -> Option<(StatusCode, Bytes)> {
    let t0 = Instant::now();
    let outcome = match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            resp.bytes().await.ok().map(|b| (status, b))
        }
        Err(_) => None,
    };
    let t1 = Instant::now();
    if window.contains(t1) {
        let code = outcome.as_ref().map_or(0, |(s, _)| s.as_u16());
        *stats.status.entry((name, code)).or_default() += 1;
        let ep = match (name, code) {
            ("create", _) => Some(Ep::Create),
            ("pickup", 204) => Some(Ep::PickupEmpty),
            ("pickup", _) => Some(Ep::PickupHit),
            ("deliver", _) => Some(Ep::Deliver),
            ("approve", _) => Some(Ep::Approve),
            ("browse", _) => Some(Ep::Browse),
            _ => None,
        };
        if let Some(ep) = ep {
            let micros = (t1 - t0).as_micros().min(u32::MAX as u128) as u32;
            stats.lat.entry(ep).or_default().push(micros);
        }
    }
    outcome
}

fn auth(req: RequestBuilder, key: &str) -> RequestBuilder {
    req.bearer_auth(key)
        .header(reqwest::header::ACCEPT, "application/json")
}

async fn poster_create_loop(
    client: Client,
    base: String,
    key: String,
    window: Window,
    open: Arc<Semaphore>,
    max_credits: i64,
    tagged: bool,
) -> Stats {
    let mut stats = Stats::default();
    let mut n = 0u64;
    while !window.over() {
        let Ok(Ok(permit)) = tokio::time::timeout(Duration::from_millis(50), open.acquire()).await
        else {
            continue;
        };
        permit.forget();
        n += 1;
        let mut body = json!({
            "need": format!("bench task {n}: summarise this paragraph"),
            "max_credits": max_credits,
        });
        if tagged {
            body["tags"] = json!([BENCH_TAG]);
        }
        let req = auth(client.post(format!("{base}/v1/tasks")), &key).json(&body);
        match call(&mut stats, window, "create", req).await {
            Some((StatusCode::CREATED, body)) => {
                if serde_json::from_slice::<CreateTaskResponse>(&body).is_err() {
                    open.add_permits(1);
                }
            }
            _ => open.add_permits(1),
        }
    }
    stats
}

async fn poster_approve_loop(
    client: Client,
    base: String,
    key: String,
    window: Window,
    open: Arc<Semaphore>,
    mut delivered: mpsc::UnboundedReceiver<String>,
) -> Stats {
    let mut stats = Stats::default();
    while !window.over() {
        let Ok(Some(task_id)) =
            tokio::time::timeout(Duration::from_millis(50), delivered.recv()).await
        else {
            continue;
        };
        let req = auth(
            client.post(format!("{base}/v1/tasks/{task_id}/approve")),
            &key,
        )
        .json(&json!({}));
        match call(&mut stats, window, "approve", req).await {
            Some((StatusCode::OK, body)) => {
                stats.approvals += 1;
                if window.contains(Instant::now()) {
                    stats.lifecycles += 1;
                }
                let view: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let charged = view["credits_charged"].as_i64().unwrap_or(0);
                stats.fees += charged * FEE_PERCENT * 100 / 10_000;
            }
            Some(_) => {}
            None => stats.unknown_approvals += 1,
        }
        open.add_permits(1);
    }
    stats
}

async fn worker_loop(
    client: Client,
    base: String,
    key: String,
    window: Window,
    posters: Arc<HashMap<String, mpsc::UnboundedSender<String>>>,
    backoff: Duration,
    pickup: String,
) -> Stats {
    let mut stats = Stats::default();
    while !window.over() {
        let req = auth(client.post(&pickup), &key);
        let item = match call(&mut stats, window, "pickup", req).await {
            Some((StatusCode::OK, body)) => serde_json::from_slice::<PickupItem>(&body).ok(),
            Some((StatusCode::NO_CONTENT, _)) => {
                tokio::time::sleep(backoff).await;
                continue;
            }
            _ => {
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let Some(item) = item else { continue };
        let req = auth(
            client.post(format!("{base}/v1/tasks/{}/deliver", item.task_id)),
            &key,
        )
        .json(&json!({"result": "Summary: the paragraph says what it says."}));
        if let Some((StatusCode::OK, _)) = call(&mut stats, window, "deliver", req).await
            && let Some(poster) = posters.get(&item.poster_id)
        {
            let _ = poster.send(item.task_id);
        }
    }
    stats
}

/// The URL a worker picks up with: only the benchmark's tasks when the marketplace is
/// pre-filled (`tagged`), and waiting up to `long_poll` seconds for one when it is not 0.
fn pickup_url(base: &str, tagged: bool, long_poll: u64) -> String {
    let mut query = Vec::new();
    if tagged {
        query.push(format!("tags={BENCH_TAG}"));
    }
    if long_poll > 0 {
        query.push(format!("wait={long_poll}"));
    }
    match query.is_empty() {
        true => format!("{base}/v1/tasks/pickup"),
        false => format!("{base}/v1/tasks/pickup?{}", query.join("&")),
    }
}

/// Browses the first page of open tasks (with `tag` only, if given) until the window ends.
async fn reader_loop(
    client: Client,
    base: String,
    key: String,
    window: Window,
    tag: Option<String>,
) -> Stats {
    let url = match tag {
        Some(tag) => format!("{base}/v1/tasks/available?tags={tag}"),
        None => format!("{base}/v1/tasks/available"),
    };
    let mut stats = Stats::default();
    while !window.over() {
        let req = auth(client.get(&url), &key);
        call(&mut stats, window, "browse", req).await;
    }
    stats
}

/// The tag of the benchmark's own tasks when the marketplace is pre-filled.
const BENCH_TAG: &str = "bench";

/// Writes `n` open tasks that the benchmark's workers never take (tag `elsewhere`, posted by
/// agents of their own) and `settled` approved tasks between other agents of their own
/// straight into the database, before any server starts, with their credits in the books:
/// each poster was minted what its tasks hold, and the settled ones' workers were paid it.
async fn prefill(url: &str, n: usize, settled: usize) -> Result<(), String> {
    use pinchwork_server::model::{
        Agent, DAY, ESCROW_ACCOUNT, HOUR, MINT_ACCOUNT, Task, TaskStatus, Transfer,
    };
    use pinchwork_server::store::{Store, StoreError};
    const CREDITS: i64 = 5;
    // Every poster posts at least one task, open or settled (its mint line moves at least one
    // credit).
    let posters_n = n.min(100).max(settled.min(100));
    const BATCH: usize = 5_000;
    let store = Store::open(url, 0, 2, 1).await.map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let line = move |id: String, from: &str, to: &str, amount: i64, reason: &str| Transfer {
        id,
        from: from.into(),
        to: to.into(),
        amount,
        reason: reason.into(),
        task_id: None,
        created_at: now - HOUR,
    };
    let posters: Vec<(Agent, Transfer, Agent)> = (0..posters_n)
        .map(|i| {
            let id = format!("ag-prefill{i:04}");
            let share = |all: usize| all / posters_n + usize::from(i < all % posters_n);
            let posted = (share(n) + share(settled)) as i64;
            let mut agent = Agent::blank(id.clone(), format!("prefill poster {i}"), now - 2 * HOUR);
            agent.key_digest = pinchwork_server::ids::key_digest(&format!("pwk-prefill-{i}"));
            agent.reputation = (i % 50) as f64 / 10.0;
            agent.tasks_posted = posted;
            let minted = line(
                format!("le-prefill-{i:04}"),
                MINT_ACCOUNT,
                &id,
                posted * CREDITS,
                "signup_bonus",
            );
            // The settled tasks' workers, one per poster, hold what they were paid.
            let mut worker = Agent::blank(
                format!("ag-prefillw{i:04}"),
                format!("prefill worker {i}"),
                now - 2 * HOUR,
            );
            worker.tasks_completed = share(settled) as i64;
            worker.credits = share(settled) as i64 * CREDITS;
            (agent, minted, worker)
        })
        .collect();
    store
        .write(move |tx| {
            Box::pin(async move {
                for (agent, minted, worker) in &posters {
                    tx.insert_agent(agent).await?;
                    tx.insert_transfer(minted).await?;
                    tx.insert_agent(worker).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
        .map_err(|e| e.to_string())?;
    for start in (0..settled).step_by(BATCH) {
        let end = (start + BATCH).min(settled);
        store
            .write(move |tx| {
                Box::pin(async move {
                    for i in start..end {
                        let (poster, worker) = (
                            format!("ag-prefill{:04}", i % posters_n),
                            format!("ag-prefillw{:04}", i % posters_n),
                        );
                        let id = format!("tk-settled{i:08}");
                        let at = now - 30 * DAY + i as i64;
                        let mut task = Task::posted(
                            id.clone(),
                            &poster,
                            format!("Settled task {i}: summarise report {}", i % 997),
                            CREDITS,
                            at,
                            at + 72 * HOUR,
                        );
                        task.tags = Some(vec!["history".into(), format!("topic{}", i % 50)]);
                        task.status = TaskStatus::Approved;
                        task.worker_id = Some(worker.clone());
                        task.claimed_at = Some(at + 1_000);
                        task.delivered_at = Some(at + 2_000);
                        task.result = Some(format!("Summary {i}"));
                        task.credits_charged = Some(CREDITS);
                        tx.insert_task(&task).await?;
                        for (k, (from, to, why)) in [
                            (poster.as_str(), ESCROW_ACCOUNT, "escrow"),
                            (ESCROW_ACCOUNT, worker.as_str(), "payment"),
                        ]
                        .into_iter()
                        .enumerate()
                        {
                            let mut t =
                                line(format!("le-settled{i:08}-{k}"), from, to, CREDITS, why);
                            t.task_id = Some(id.clone());
                            t.created_at = at;
                            tx.insert_transfer(&t).await?;
                        }
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        store
            .write(move |tx| {
                Box::pin(async move {
                    for i in start..end {
                        let poster = format!("ag-prefill{:04}", i % posters_n);
                        let id = format!("tk-prefill{i:08}");
                        let at = now - HOUR + i as i64;
                        let mut task = Task::posted(
                            id.clone(),
                            &poster,
                            format!("Prefilled task {i}: translate document {}", i % 997),
                            CREDITS,
                            at,
                            at + 72 * HOUR,
                        );
                        task.tags = Some(vec!["elsewhere".into(), format!("topic{}", i % 50)]);
                        tx.insert_task(&task).await?;
                        let mut escrow = line(
                            format!("le-prefill-{i:08}"),
                            &poster,
                            ESCROW_ACCOUNT,
                            CREDITS,
                            "escrow",
                        );
                        escrow.task_id = Some(id);
                        tx.insert_transfer(&escrow).await?;
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    // As autovacuum would within a minute: without statistics PostgreSQL plans for the empty
    // tables it last saw.
    store
        .write(|tx| Box::pin(async move { tx.refresh_statistics().await }))
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("pinchwork-bench: {e}");
        std::process::exit(1);
    }
}

/// CPU ticks per thread group, summed over the server nodes.
fn nodes_cpu(pids: &[u32]) -> BTreeMap<String, u64> {
    let mut total = BTreeMap::new();
    for &pid in pids {
        for (group, ticks) in thread_cpu(pid) {
            *total.entry(group).or_default() += ticks;
        }
    }
    total
}

async fn run(args: Args) -> Result<(), String> {
    if args.workers == 0 || args.posters == 0 || args.window == 0 || args.seconds == 0 {
        return Err("--workers, --posters, --window and --seconds must be at least 1".into());
    }
    if args.nodes == 0 || (args.nodes > 1 && args.postgres.is_none()) {
        return Err("--nodes must be 1, or more with --postgres (nodes share its database)".into());
    }
    let bin = find_server(args.server_bin.clone())?;
    let database = args
        .postgres
        .as_deref()
        .map(|server| ScratchDatabase::create(server, "pinchwork_bench"))
        .transpose()
        .map_err(|e| format!("creating the benchmark database: {e}"))?;
    let mut env = vec![
        ("PINCHWORK_INITIAL_CREDITS", INITIAL_CREDITS.to_string()),
        ("PINCHWORK_PLATFORM_FEE_PERCENT", FEE_PERCENT.to_string()),
    ];
    if let Some(db) = &database {
        env.push(("PINCHWORK_DATABASE_URL", db.url.clone()));
    }
    // A pre-filled SQLite database lives here (the server's own is in its temporary directory).
    let prefill_dir =
        std::env::temp_dir().join(format!("pinchwork-bench-prefill-{}", std::process::id()));
    // A pre-filled run tags the benchmark's own tasks (see --open-tasks).
    let prefilled = args.open_tasks.is_some() || args.settled_tasks.is_some();
    if prefilled {
        let (n, settled) = (
            args.open_tasks.unwrap_or(0),
            args.settled_tasks.unwrap_or(0),
        );
        let url = match &database {
            Some(db) => db.url.clone(),
            None => {
                std::fs::create_dir_all(&prefill_dir).map_err(|e| e.to_string())?;
                let url = format!("sqlite://{}", prefill_dir.join("bench.db").display());
                env.push(("PINCHWORK_DATABASE_URL", url.clone()));
                url
            }
        };
        let started = Instant::now();
        prefill(&url, n, settled).await?;
        println!(
            "pre-filled {n} open tasks (tag elsewhere) and {settled} settled ones in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let client = Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let mut servers = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..args.nodes {
        let (mut server, port) = start_server(&bin, args.keep, &env)?;
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(&client, &base, &mut server).await?;
        servers.push(server);
        bases.push(base);
    }
    let pids: Vec<u32> = servers.iter().map(|s| s.child.id()).collect();
    // Setup and the final audit go through the first node.
    let base = bases[0].clone();

    let mut posters = Vec::new();
    for i in 0..args.posters {
        posters.push(register(&client, &base, format!("bench-poster-{i}")).await?);
    }
    let mut workers = Vec::new();
    for i in 0..args.workers {
        workers.push(register(&client, &base, format!("bench-worker-{i}")).await?);
    }

    println!(
        "pinchwork-bench: server {} on {} ({} node(s) {bases:?}, pids {pids:?}); {} posters \
         (window {}), {} workers, {} readers{}, {} s warm-up + {} s measured",
        bin.display(),
        if database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        args.nodes,
        args.posters,
        args.window,
        args.workers,
        args.readers,
        match &args.reader_tag {
            Some(tag) => format!(" (tag {tag})"),
            None => String::new(),
        },
        args.warmup,
        args.seconds
    );

    let start = Instant::now() + Duration::from_secs(args.warmup);
    let window = Window {
        start,
        end: start + Duration::from_secs(args.seconds),
    };
    let mut channels = HashMap::new();
    let mut handles = Vec::new();
    for (i, p) in posters.iter().enumerate() {
        let base = &bases[i % bases.len()];
        let (tx, rx) = mpsc::unbounded_channel();
        channels.insert(p.id.clone(), tx);
        let open = Arc::new(Semaphore::new(args.window));
        handles.push(tokio::spawn(poster_create_loop(
            client.clone(),
            base.clone(),
            p.key.clone(),
            window,
            open.clone(),
            args.max_credits,
            prefilled,
        )));
        handles.push(tokio::spawn(poster_approve_loop(
            client.clone(),
            base.clone(),
            p.key.clone(),
            window,
            open,
            rx,
        )));
    }
    let channels = Arc::new(channels);
    for (i, w) in workers.iter().enumerate() {
        let base = &bases[i % bases.len()];
        handles.push(tokio::spawn(worker_loop(
            client.clone(),
            base.clone(),
            w.key.clone(),
            window,
            channels.clone(),
            Duration::from_millis(args.idle_backoff_ms),
            pickup_url(base, prefilled, args.long_poll),
        )));
    }
    for i in 0..args.readers {
        let base = &bases[i % bases.len()];
        let key = workers[i % workers.len()].key.clone();
        handles.push(tokio::spawn(reader_loop(
            client.clone(),
            base.clone(),
            key,
            window,
            args.reader_tag.clone(),
        )));
    }

    // CPU figures over the measured window.
    tokio::time::sleep_until(window.start.into()).await;
    let server_cpu0 = nodes_cpu(&pids);
    let bench_cpu0 = stat_cpu("/proc/self/stat").map_or(0, |(_, t)| t);
    let machine0 = machine_cpu();
    tokio::time::sleep_until(window.end.into()).await;
    let server_cpu1 = nodes_cpu(&pids);
    let bench_cpu1 = stat_cpu("/proc/self/stat").map_or(0, |(_, t)| t);
    let machine1 = machine_cpu();

    let mut stats = Stats::default();
    for h in handles {
        stats.merge(h.await.map_err(|e| format!("an actor failed: {e}"))?);
    }
    drop(channels);

    // Conservation: what the agents hold and have in escrow, plus the fees the platform took
    // from these tasks, is what was minted to the agents.
    let mut held = 0i64;
    let mut escrowed = 0i64;
    for a in posters.iter().chain(&workers) {
        let resp = auth(client.get(format!("{base}/v1/me/credits?limit=1")), &a.key)
            .send()
            .await
            .map_err(|e| format!("credits: {e}"))?;
        let c: CreditsResponse = resp.json().await.map_err(|e| format!("credits: {e}"))?;
        held += c.balance;
        escrowed += c.escrowed;
    }
    let minted = (posters.len() + workers.len()) as i64 * INITIAL_CREDITS;

    let vm_hwm: Vec<u64> = pids
        .iter()
        .map(|&pid| proc_status_kb(pid, "VmHWM:").unwrap_or(0))
        .collect();
    let vm_rss: Vec<u64> = pids
        .iter()
        .map(|&pid| proc_status_kb(pid, "VmRSS:").unwrap_or(0))
        .collect();
    drop(servers);
    drop(database);

    // Report.
    let secs = args.seconds as f64;
    println!();
    println!(
        "completed lifecycles: {} in {secs} s = {:.0}/s",
        stats.lifecycles,
        stats.lifecycles as f64 / secs
    );
    println!();
    println!(
        "{:<14} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "endpoint", "count", "p50 ms", "p90 ms", "p99 ms", "max ms", "req/s"
    );
    let mut pickup_all: Vec<u32> = Vec::new();
    let row = |name: &str, v: &mut Vec<u32>| {
        v.sort_unstable();
        println!(
            "{:<14} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9.0}",
            name,
            v.len(),
            ms(percentile(v, 0.50)),
            ms(percentile(v, 0.90)),
            ms(percentile(v, 0.99)),
            ms(v.last().copied().unwrap_or(0)),
            v.len() as f64 / secs
        );
    };
    for ep in Ep::ALL {
        let mut v = stats.lat.remove(&ep).unwrap_or_default();
        if matches!(ep, Ep::PickupHit | Ep::PickupEmpty) {
            pickup_all.extend_from_slice(&v);
        }
        row(ep.name(), &mut v);
        if ep == Ep::PickupEmpty {
            row("pickup (all)", &mut pickup_all);
        }
    }
    println!();
    let total: u64 = stats.status.values().sum();
    let errors: u64 = stats
        .status
        .iter()
        .filter(|((_, code), _)| !(200..300).contains(code))
        .map(|(_, n)| n)
        .sum();
    println!(
        "requests in window: {total} ({:.0}/s), errors: {errors}",
        total as f64 / secs
    );
    for ((name, code), n) in &stats.status {
        let label = if *code == 0 {
            "transport error".to_string()
        } else {
            code.to_string()
        };
        println!("  {name:<8} {label:<16} {n}");
    }
    println!();
    let mib = |kb: &[u64]| {
        kb.iter()
            .map(|k| format!("{:.1}", *k as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "server memory per node: peak RSS (VmHWM) {} MiB, current RSS {} MiB",
        mib(&vm_hwm),
        mib(&vm_rss)
    );
    let server_total: u64 = server_cpu1.values().sum::<u64>() - server_cpu0.values().sum::<u64>();
    let bench_total = bench_cpu1 - bench_cpu0;
    let machine_busy = machine1.0 - machine0.0;
    // On PostgreSQL, "rest of the machine" is mostly the database server.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "CPU over the window (cores of {cores}): server {:.2}, bench {:.2}, rest of the machine \
         {:.2}, idle {:.2}",
        server_total as f64 / CLK_TCK / secs,
        bench_total as f64 / CLK_TCK / secs,
        machine_busy.saturating_sub(server_total + bench_total) as f64 / CLK_TCK / secs,
        (machine1.1 - machine0.1).saturating_sub(machine_busy) as f64 / CLK_TCK / secs,
    );
    if stats.lifecycles > 0 {
        println!(
            "CPU per lifecycle: server {:.0} µs, bench {:.0} µs",
            server_total as f64 / CLK_TCK * 1e6 / stats.lifecycles as f64,
            bench_total as f64 / CLK_TCK * 1e6 / stats.lifecycles as f64
        );
    }
    for (group, t1) in &server_cpu1 {
        let t0 = server_cpu0.get(group).copied().unwrap_or(0);
        let used = (t1 - t0) as f64 / CLK_TCK / secs;
        if used >= 0.005 {
            println!("  server thread {group:<18} {used:.2}");
        }
    }
    println!();
    let sum = held + escrowed + stats.fees;
    let verdict = if sum == minted { "OK" } else { "MISMATCH" };
    println!(
        "credits: balances {held} + escrow {escrowed} + platform fees {} ({} approvals) = {sum}; \
         minted to agents {minted} → {verdict}",
        stats.fees, stats.approvals
    );
    if stats.unknown_approvals > 0 {
        println!(
            "  ({} approvals ended in a transport error; their fees are unknown)",
            stats.unknown_approvals
        );
    }
    if !args.keep {
        let _ = std::fs::remove_dir_all(&prefill_dir);
    }
    if sum != minted {
        return Err("credits are not conserved".into());
    }
    Ok(())
}
