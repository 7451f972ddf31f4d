//! The store's contract on the backend the suite runs on (SQLite; PostgreSQL in the
//! PostgreSQL pass): one statement at a time through `Transaction`, whichever driver runs it.

use pinchwork_server::store::StoreError;
use pinchwork_test_kit::{T0, TestApp};

/// `write_one` runs one statement outside an explicit transaction on PostgreSQL (no BEGIN and
/// COMMIT round trips); a job that tries a second statement there fails instead of running it
/// unprotected. On SQLite it runs in a transaction, whatever its statements.
#[tokio::test]
async fn a_single_statement_job_runs_one_statement_and_no_more() {
    let app = TestApp::new().await;
    let store = app.state.store.clone();
    let hit = |n: i64| {
        let store = store.clone();
        async move {
            store
                .write_one(move |tx| {
                    Box::pin(async move {
                        let mut window = tx.count_hit("test", "someone", T0, 60_000).await?;
                        for _ in 1..n {
                            window = tx.count_hit("test", "someone", T0, 60_000).await?;
                        }
                        Ok::<_, StoreError>(window)
                    })
                })
                .await
        }
    };
    assert_eq!(hit(1).await.unwrap().hits, 1);
    assert_eq!(hit(1).await.unwrap().hits, 2);
    if !store.shared() {
        assert_eq!(hit(2).await.unwrap().hits, 4);
        return;
    }
    let refused = hit(2).await.unwrap_err();
    assert!(
        refused.to_string().contains("second statement"),
        "{refused}"
    );
}

/// Rows are read by column name: a task written with every optional field set reads back the
/// same, joined queries included (browse adds the poster's reputation and the match rank).
#[tokio::test]
async fn a_task_reads_back_as_written_alone_and_in_a_browse() {
    let app = TestApp::new().await;
    let (poster, poster_key) = app.register("poster").await;
    let (_, worker_key) = app.register("worker").await;
    let task_id = app.post_task(&poster_key, "Translate this", 7).await;
    let read = app
        .get(&format!("/v1/tasks/{task_id}"), &poster_key)
        .await
        .expect(200);
    let browsed = app
        .get("/v1/tasks/available", &worker_key)
        .await
        .expect(200);
    let listed = &browsed.json["tasks"][0];
    assert_eq!(listed["task_id"], task_id.as_str());
    assert_eq!(read.json["need"], "Translate this");
    assert_eq!(listed["need"], read.json["need"]);
    assert_eq!(listed["max_credits"], 7);
    assert_eq!(listed["poster_id"], poster.as_str());
    assert_eq!(listed["is_matched"], false);
    assert_eq!(listed["match_rank"], serde_json::Value::Null);
    assert_eq!(listed["poster_reputation"], 0.0);
}

/// Every prune forgets exactly what is past its own retention period and keeps the rest: one
/// statement forgets at most a batch, and a backlog larger than a batch is cleared over
/// several. Finished system tasks lose their payload, not their row.
#[tokio::test]
async fn each_prune_forgets_what_is_past_retention_in_batches_and_keeps_the_rest() {
    use pinchwork_server::model::{
        DAY, Event, EventData, HOUR, PLATFORM_AGENT_ID, Task, TaskStatus,
    };
    use pinchwork_server::scheduler::{prune_in_batches, retention};
    use pinchwork_server::store::{DeliveryStatus, Prune, WebhookDelivery};

    let app = TestApp::with(|c| {
        c.event_retention_hours = 1;
        c.webhook_retention_hours = Some(2);
        c.system_payload_retention_hours = Some(3);
    })
    .await;
    let store = app.state.store.clone();
    let cut = |what| T0 - retention(&app.state.cfg, what);
    assert_eq!(
        [
            Prune::RateWindows,
            Prune::Events,
            Prune::WebhookDeliveries,
            Prune::SystemPayloads
        ]
        .map(cut),
        [T0 - DAY, T0 - HOUR, T0 - 2 * HOUR, T0 - 3 * HOUR],
        "each its own setting"
    );
    const OLD: i64 = 5;

    // Rate windows: five started before the cut, one at it, one now.
    let windows_cut = cut(Prune::RateWindows);
    let mut windows = Vec::new();
    for i in 0..OLD {
        windows.push((format!("old-{i}"), windows_cut - 1 - i));
    }
    windows.push(("at-cut".into(), windows_cut));
    windows.push(("now".into(), T0));
    // Events: five logged before the cut, then one at it and one now (ids follow time).
    let events_cut = cut(Prune::Events);
    let mut event_times: Vec<i64> = (0..OLD).map(|i| events_cut - OLD + i).collect();
    event_times.extend([events_cut, T0]);
    // Deliveries: five finished before the cut; kept: one finished at it, one pending since
    // long ago, one finished now.
    let hooks_cut = cut(Prune::WebhookDeliveries);
    let mut hooks: Vec<(String, Option<i64>)> = (0..OLD)
        .map(|i| (format!("old-{i}"), Some(hooks_cut - 1 - i)))
        .collect();
    hooks.extend([
        ("at-cut".into(), Some(hooks_cut)),
        ("pending".into(), None),
        ("now".into(), Some(T0)),
    ]);
    // System tasks: five finished and posted before the cut (each finished status); kept:
    // one posted at the cut, old ones still open, one ordinary old task.
    let payload_cut = cut(Prune::SystemPayloads);
    let finished = [
        TaskStatus::Approved,
        TaskStatus::Expired,
        TaskStatus::Cancelled,
    ];
    let mut tasks: Vec<(String, TaskStatus, i64, bool)> = (0..OLD)
        .map(|i| {
            let status = finished[i as usize % 3];
            (format!("tk-old-{i}"), status, payload_cut - 1 - i, true)
        })
        .collect();
    tasks.extend([
        ("tk-at-cut".into(), TaskStatus::Approved, payload_cut, true),
        (
            "tk-posted".into(),
            TaskStatus::Posted,
            payload_cut - DAY,
            true,
        ),
        (
            "tk-claimed".into(),
            TaskStatus::Claimed,
            payload_cut - DAY,
            true,
        ),
        (
            "tk-delivered".into(),
            TaskStatus::Delivered,
            payload_cut - DAY,
            true,
        ),
        (
            "tk-ordinary".into(),
            TaskStatus::Approved,
            payload_cut - DAY,
            false,
        ),
    ]);

    let seed = (
        windows.clone(),
        event_times.clone(),
        hooks.clone(),
        tasks.clone(),
    );
    store
        .write(move |tx| {
            Box::pin(async move {
                let (windows, event_times, hooks, tasks) = seed;
                for (subject, start) in windows {
                    tx.count_hit("test", &subject, start, 60_000).await?;
                }
                for at in event_times {
                    let mut e = [Event::new(
                        EventData::TaskCancelled(Default::default()),
                        "tk-x",
                        "ag-x",
                    )];
                    tx.append_events(&mut e, at).await?;
                }
                for (id, finished_at) in hooks {
                    tx.insert_webhook_delivery(&WebhookDelivery {
                        id: format!("wd-{id}"),
                        event_id: 1,
                        recipient: "ag-x".into(),
                        kind: "task_cancelled".into(),
                        url: "https://example.com/hook".into(),
                        body: "{}".into(),
                        status: match finished_at {
                            Some(_) => DeliveryStatus::Delivered,
                            None => DeliveryStatus::Pending,
                        },
                        attempts: 1,
                        next_attempt_at: T0 - 10 * DAY,
                        last_status: None,
                        last_error: None,
                        created_at: T0 - 10 * DAY,
                        finished_at,
                    })
                    .await?;
                }
                for (id, status, created, system) in tasks {
                    let mut t = Task::posted(id, PLATFORM_AGENT_ID, "n".into(), 1, created, T0);
                    t.status = status;
                    t.is_system = system;
                    t.system_payload = Some(r#"{"candidates":[]}"#.into());
                    tx.insert_task(&t).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
        .unwrap();

    // One statement forgets at most its batch.
    for what in Prune::ALL {
        let before = cut(what);
        let gone = store
            .write_one(move |tx| Box::pin(async move { tx.prune(what, before, 2).await }))
            .await
            .unwrap();
        assert_eq!(gone, 2, "{what:?}: one batch");
    }
    // The rest of the backlog goes over several batches; a second pass finds nothing.
    let gone = prune_in_batches(&app.state, 2).await.unwrap();
    assert_eq!(gone, 4 * (OLD as usize - 2));
    assert_eq!(prune_in_batches(&app.state, 2).await.unwrap(), 0);

    let left = store
        .read(move |tx| {
            Box::pin(async move {
                let events: Vec<i64> = tx
                    .events_after("ag-x", 0, 100)
                    .await?
                    .iter()
                    .map(|e| e.created_at)
                    .collect();
                let mut hooks: Vec<String> = tx
                    .webhook_deliveries_of("ag-x", 100)
                    .await?
                    .into_iter()
                    .map(|d| d.id)
                    .collect();
                hooks.sort();
                let mut tasks = Vec::new();
                for id in ["tk-old-0", "tk-old-1", "tk-old-2", "tk-old-3", "tk-old-4"]
                    .into_iter()
                    .chain(["tk-at-cut", "tk-posted", "tk-claimed", "tk-delivered"])
                    .chain(["tk-ordinary"])
                {
                    let t = tx.task(id).await?.expect("the row stays");
                    tasks.push((t.id, t.system_payload.is_some()));
                }
                Ok::<_, StoreError>((events, hooks, tasks))
            })
        })
        .await
        .unwrap();
    assert_eq!(left.0, vec![events_cut, T0], "events");
    assert_eq!(left.1, ["wd-at-cut", "wd-now", "wd-pending"], "deliveries");
    let kept: Vec<&str> = left
        .2
        .iter()
        .filter(|(_, has)| *has)
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(
        kept,
        [
            "tk-at-cut",
            "tk-posted",
            "tk-claimed",
            "tk-delivered",
            "tk-ordinary"
        ],
        "payloads"
    );
    // Windows: the young ones still count on; the old ones start afresh.
    for (subject, start) in windows {
        let w = store
            .write_one(move |tx| {
                Box::pin(async move { tx.count_hit("test", &subject, start, 60_000).await })
            })
            .await
            .unwrap();
        let expected = if start < windows_cut { 1 } else { 2 };
        assert_eq!(w.hits, expected, "window at {start}");
    }
}
