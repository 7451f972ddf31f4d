//! SSE benchmark: starts a real `pinchwork-server` (the release binary next to this one) on a
//! fresh database, opens one `GET /v1/events` stream for each of `--streams` agents, then
//! causes `--events` events addressed to random agents (a worker claims a task the agent
//! posted, which sends `task_claimed` to its poster) and prints how long each took to reach
//! its stream (p50/p90/p99/max), how many arrived, and the server's memory.
//!
//! ```sh
//! cargo build --release -p pinchwork-server -p pinchwork-bench
//! cargo run --release -p pinchwork-bench --bin pinchwork-sse-bench -- --streams 10000
//! ```

use clap::Parser;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use pinchwork_bench::*;
use reqwest::Client;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};

#[derive(Parser)]
#[command(about = "Latency of SSE event delivery with many open streams")]
struct Args {
    /// Open streams (one agent each).
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// Events to cause and time.
    #[arg(long, default_value_t = 2_000)]
    events: usize,
    /// Events in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// The server binary (default: pinchwork-server next to this program).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Keep the temporary directory (database and server log).
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("pinchwork-sse-bench: {e}");
        std::process::exit(1);
    }
}

/// When each task's event reached its stream.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn run(args: Args) -> Result<(), String> {
    let bin = find_server(args.server_bin.clone())?;
    let (mut server, port) = start_server(&bin, args.keep, &[])?;
    let base = format!("http://127.0.0.1:{port}");
    let client = Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| e.to_string())?;
    wait_healthy(&client, &base, &mut server).await?;
    let pid = server.child.id();

    let started = Instant::now();
    let agents = register_many(&client, &base, args.streams).await?;
    println!(
        "registered {} agents in {:.1} s",
        agents.len(),
        started.elapsed().as_secs_f64()
    );

    let arrivals: Arrivals = Arc::default();
    let (opened_tx, mut opened_rx) = mpsc::channel::<Result<(), String>>(1024);
    let started = Instant::now();
    for agent in &agents {
        tokio::spawn(follow(
            client.clone(),
            base.clone(),
            agent.key.clone(),
            arrivals.clone(),
            opened_tx.clone(),
        ));
    }
    drop(opened_tx);
    for _ in 0..agents.len() {
        opened_rx.recv().await.ok_or("a stream task died")??;
    }
    let rss_idle = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
    println!(
        "opened {} streams in {:.1} s; server RSS {:.1} MiB",
        agents.len(),
        started.elapsed().as_secs_f64(),
        rss_idle as f64 / 1024.0
    );

    let worker = register(&client, &base, "sse-bench-worker".into()).await?;
    let gate = Arc::new(Semaphore::new(args.concurrency));
    let mut handles = Vec::new();
    for i in 0..args.events {
        let poster = &agents[(i * 7919) % agents.len()];
        let permit = gate
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (client, base, poster_key, worker_key) = (
            client.clone(),
            base.clone(),
            poster.key.clone(),
            worker.key.clone(),
        );
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            let task = post(
                &client,
                &format!("{base}/v1/tasks"),
                &poster_key,
                json!({"need": "sse bench", "max_credits": 1}),
            )
            .await?;
            let task_id = task["task_id"].as_str().ok_or("no task_id")?.to_string();
            let sent = Instant::now();
            post(
                &client,
                &format!("{base}/v1/tasks/{task_id}/pickup"),
                &worker_key,
                json!({}),
            )
            .await?;
            Ok::<_, String>((task_id, sent, sent.elapsed()))
        }));
    }
    let mut sent = Vec::new();
    for h in handles {
        sent.push(h.await.map_err(|e| e.to_string())??);
    }
    // Let the last events arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let arrived = arrivals.lock().unwrap().clone();
    let mut latencies: Vec<u32> = Vec::new();
    let mut pickups: Vec<u32> = sent.iter().map(|(_, _, d)| d.as_micros() as u32).collect();
    for (task, at, _) in &sent {
        if let Some(got) = arrived.get(task) {
            latencies.push(got.saturating_duration_since(*at).as_micros() as u32);
        }
    }
    latencies.sort_unstable();
    pickups.sort_unstable();
    let line = |name: &str, v: &[u32]| {
        println!(
            "{name:<34} {:>8} {:>8} {:>8} {:>8}",
            ms(percentile(v, 0.50)),
            ms(percentile(v, 0.90)),
            ms(percentile(v, 0.99)),
            ms(v.last().copied().unwrap_or(0))
        )
    };
    println!(
        "\n{:<34} {:>8} {:>8} {:>8} {:>8}",
        "ms", "p50", "p90", "p99", "max"
    );
    line("pickup request → event received", &latencies);
    line("pickup request → response", &pickups);
    println!(
        "\nevents received: {} of {} ({} streams open)",
        latencies.len(),
        sent.len(),
        agents.len()
    );
    println!(
        "server memory: peak RSS (VmHWM) {:.1} MiB, current RSS {:.1} MiB, with streams idle {:.1} MiB",
        proc_status_kb(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0,
        proc_status_kb(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0,
        rss_idle as f64 / 1024.0
    );
    if latencies.len() != sent.len() {
        return Err("some events never arrived".into());
    }
    Ok(())
}

async fn register_many(client: &Client, base: &str, n: usize) -> Result<Vec<Agent>, String> {
    let gate = Arc::new(Semaphore::new(64));
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let permit = gate
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (client, base) = (client.clone(), base.to_string());
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            register(&client, &base, format!("sse-{i}")).await
        }));
    }
    let mut agents = Vec::with_capacity(n);
    for h in handles {
        agents.push(h.await.map_err(|e| e.to_string())??);
    }
    Ok(agents)
}

/// Follows one agent's stream, noting when each task's event arrives.
async fn follow(
    client: Client,
    base: String,
    key: String,
    arrivals: Arrivals,
    opened: mpsc::Sender<Result<(), String>>,
) {
    let response = client
        .get(format!("{base}/v1/events"))
        .bearer_auth(&key)
        .send()
        .await;
    let response = match response {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return drop(opened.send(Err(format!("stream: {}", r.status()))).await),
        Err(e) => return drop(opened.send(Err(format!("stream: {e}"))).await),
    };
    let _ = opened.send(Ok(())).await;
    let mut events = response.bytes_stream().eventsource();
    while let Some(Ok(event)) = events.next().await {
        let now = Instant::now();
        if let Ok(data) = serde_json::from_str::<Value>(&event.data)
            && let Some(task) = data["task_id"].as_str()
        {
            arrivals.lock().unwrap().insert(task.to_string(), now);
        }
    }
}

async fn post(client: &Client, url: &str, key: &str, body: Value) -> Result<Value, String> {
    let r = client
        .post(url)
        .bearer_auth(key)
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = r.status();
    let body: Value = r.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{url}: {status}: {body}"));
    }
    Ok(body)
}
