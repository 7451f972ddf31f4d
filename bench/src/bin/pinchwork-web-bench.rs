//! How fast the web pages answer on a big marketplace: fills a fresh database with agents,
//! tasks (by default 100,000 over the last 30 days: open ones among the last three days', as
//! timers leave a real market), their ledger lines and events, then times each page through the real router, signed in, and prints the median
//! and the slowest of several runs. The figures cache is emptied before every run (a new
//! router), so the landing page and the dashboard pay for their figures each time.
//!
//!     cargo run --release -p pinchwork-bench --bin pinchwork-web-bench -- [--tasks N]
//!         [--agents N] [--runs N] [--postgres URL] [--keep]

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use pinchwork_server::app::AppState;
use pinchwork_server::config::Config;
use pinchwork_server::events::Event;
use pinchwork_server::model::EventData;
use pinchwork_server::model::{Agent, HOUR, MINUTE, Task, TaskStatus, Transfer};
use pinchwork_server::store::StoreError;
use pinchwork_server::store::scratch::ScratchDatabase;
use pinchwork_server::time::SystemClock;
use pinchwork_server::web::session::{self, Area};
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

struct Args {
    tasks: usize,
    agents: usize,
    runs: usize,
    postgres: Option<String>,
    keep: bool,
}

fn args() -> Args {
    let mut a = Args {
        tasks: 100_000,
        agents: 2_000,
        runs: 15,
        postgres: None,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match flag.as_str() {
            "--tasks" => a.tasks = value().parse().expect("a count"),
            "--agents" => a.agents = value().parse().expect("a count"),
            "--runs" => a.runs = value().parse().expect("a count"),
            "--postgres" => a.postgres = Some(value()),
            "--keep" => a.keep = true,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn agent(i: usize, now: i64) -> Agent {
    Agent {
        id: format!("ag-bench{i:07}"),
        name: format!("bench agent {i}"),
        key_digest: pinchwork_server::ids::key_digest(&format!("pwk-bench-{i}")),
        credits: 1_000,
        reputation: (i % 50) as f64 / 10.0,
        rating_count: (i % 7) as i64,
        tasks_posted: 0,
        tasks_completed: 0,
        accepts_system_tasks: i.is_multiple_of(100),
        good_at: Some(format!("skill {}", i % 30)),
        capability_tags: None,
        suspended: i % 500 == 1,
        abandon_count: 0,
        last_abandon_at: None,
        webhook_url: None,
        webhook_secret: None,
        created_at: now - 72 * HOUR,
        did_system_work: false,
    }
}

/// Writes `n` tasks (and their ledger lines and events) in batches, spread over two days.
async fn fill(state: &AppState, a: &Args, now: i64) {
    let agents = a.agents;
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                for i in 0..agents {
                    tx.insert_agent(&agent(i, now)).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
        .unwrap();
    let statuses = [
        TaskStatus::Approved,
        TaskStatus::Approved,
        TaskStatus::Approved,
        TaskStatus::Posted,
        TaskStatus::Claimed,
        TaskStatus::Delivered,
        TaskStatus::Cancelled,
        TaskStatus::Expired,
    ];
    let batch = 5_000;
    let tasks = a.tasks;
    let started = Instant::now();
    for start in (0..a.tasks).step_by(batch) {
        let end = (start + batch).min(a.tasks);
        state
            .store
            .write(move |tx| {
                Box::pin(async move {
                    for i in start..end {
                        let span = 30 * 24 * HOUR;
                        let at = now - span + (i as i64 * span) / tasks as i64;
                        let poster = format!("ag-bench{:07}", (i * 7) % agents);
                        let worker = format!("ag-bench{:07}", (i * 13 + 1) % agents);
                        let id = format!("tk-bench{i:08}");
                        let mut t = Task::posted(
                            id.clone(),
                            &poster,
                            format!("Benchmark task {i}: summarise document {}", i % 997),
                            10 + (i % 40) as i64,
                            at,
                            at + 72 * HOUR,
                        );
                        t.status = statuses[i % statuses.len()];
                        let open = matches!(
                            t.status,
                            TaskStatus::Posted | TaskStatus::Claimed | TaskStatus::Delivered
                        );
                        if at < now - 72 * HOUR && open {
                            t.status = TaskStatus::Expired;
                        }
                        if t.status != TaskStatus::Posted {
                            t.worker_id = Some(worker.clone());
                            t.claimed_at = Some(at + MINUTE);
                        }
                        if matches!(t.status, TaskStatus::Delivered | TaskStatus::Approved) {
                            t.result = Some("Done.".into());
                            t.delivered_at = Some(at + 2 * MINUTE);
                            t.credits_charged = Some(t.max_credits);
                        }
                        tx.insert_task(&t).await?;
                        let line =
                            |n: usize, from: &str, to: &str, amount: i64, reason: &str| Transfer {
                                id: format!("le-{i:08}-{n}"),
                                from: from.into(),
                                to: to.into(),
                                amount,
                                reason: reason.into(),
                                task_id: Some(id.clone()),
                                created_at: at + n as i64 * MINUTE,
                            };
                        tx.insert_transfer(&line(0, &poster, "escrow", t.max_credits, "escrow"))
                            .await?;
                        match t.status {
                            TaskStatus::Approved => {
                                let fee = t.max_credits / 10;
                                tx.insert_transfer(&line(
                                    3,
                                    "escrow",
                                    &worker,
                                    t.max_credits - fee,
                                    "payment",
                                ))
                                .await?;
                                tx.insert_transfer(&line(
                                    3,
                                    "escrow",
                                    "ag-platform",
                                    fee,
                                    "platform_fee",
                                ))
                                .await?;
                            }
                            TaskStatus::Cancelled | TaskStatus::Expired => {
                                tx.insert_transfer(&line(
                                    3,
                                    "escrow",
                                    &poster,
                                    t.max_credits,
                                    "refund",
                                ))
                                .await?;
                            }
                            _ => {}
                        }
                        if t.status != TaskStatus::Posted {
                            let mut events = vec![
                                Event::new(
                                    EventData::TaskClaimed(pinchwork_client::events::TaskClaimed {
                                        worker_id: worker.clone(),
                                    }),
                                    &id,
                                    &poster,
                                ),
                                Event::new(
                                    EventData::TaskDelivered(Default::default()),
                                    &id,
                                    &poster,
                                ),
                            ];
                            tx.append_events(&mut events, at + MINUTE).await?;
                        }
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .await
            .unwrap();
    }
    eprintln!(
        "filled {} tasks, {} agents in {:.1} s",
        a.tasks,
        a.agents,
        started.elapsed().as_secs_f64()
    );
}

async fn time_page(state: &AppState, path: &str, cookie: &str, runs: usize) -> (f64, f64, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        // A new router: no figures cached.
        let router = pinchwork_server::api::router(state.clone());
        let req = Request::get(path)
            .header(header::ACCEPT, "text/html")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap();
        let started = Instant::now();
        let res = router.oneshot(req).await.unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(status.is_success(), "{path}: {status}");
        size = body.len();
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() - 1], size)
}

#[tokio::main]
async fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::defaults();
    cfg.admin_key = Some("bench-admin".into());
    cfg.rate_limits_enabled = false;
    let _scratch;
    if let Some(server) = &a.postgres {
        let db = ScratchDatabase::create(server, "pwwebbench").expect("a scratch database");
        cfg.database_url = db.url.clone();
        _scratch = Some(db);
    } else {
        cfg.database_url = format!("sqlite://{}/bench.db", dir.path().display());
        _scratch = None;
    }
    let state = AppState::open(cfg, Arc::new(SystemClock)).await.unwrap();
    let now = state.now();
    fill(&state, &a, now).await;

    // The busiest poster: agent 0 posts every agents/7-th task.
    let owner = "ag-bench0000000".to_string();
    let cookie =
        |set: axum::http::HeaderValue| set.to_str().unwrap().split(';').next().unwrap().to_string();
    let owner_cookie = cookie(
        session::open(&state, Area::Owner, owner.clone())
            .await
            .unwrap(),
    );
    let operator_cookie = cookie(
        session::open(
            &state,
            Area::Operator,
            session::operator_subject("bench-admin"),
        )
        .await
        .unwrap(),
    );
    let task = "tk-bench00000000";
    let pages: Vec<(&str, String, &str)> = vec![
        ("landing", "/".into(), ""),
        ("owner home", "/app".into(), &owner_cookie),
        ("owner task", format!("/app/tasks/{task}"), &owner_cookie),
        ("dashboard", "/admin".into(), &operator_cookie),
        ("agents", "/admin/agents".into(), &operator_cookie),
        (
            "agents search",
            "/admin/agents?q=agent%201999".into(),
            &operator_cookie,
        ),
        ("tasks", "/admin/tasks".into(), &operator_cookie),
        (
            "tasks approved",
            "/admin/tasks?status=approved".into(),
            &operator_cookie,
        ),
        ("task", format!("/admin/tasks/{task}"), &operator_cookie),
        ("reports", "/admin/reports".into(), &operator_cookie),
    ];
    println!(
        "pages with {} tasks, {} agents ({}), {} runs each, figures uncached:",
        a.tasks,
        a.agents,
        if a.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        a.runs
    );
    println!(
        "{:<16} {:>10} {:>10} {:>9}",
        "page", "median ms", "max ms", "bytes"
    );
    for (name, path, cookie) in &pages {
        let (median, max, size) = time_page(&state, path, cookie, a.runs).await;
        println!("{name:<16} {median:>10.2} {max:>10.2} {size:>9}");
    }
    if a.keep {
        let kept = dir.keep();
        eprintln!("kept {}", kept.display());
        if let Some(db) = _scratch {
            eprintln!("kept {}", db.url);
            std::mem::forget(db);
        }
    }
}
