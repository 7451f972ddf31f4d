//! Real time: every event type reaches its recipient's SSE stream with the documented payload,
//! a reconnect with Last-Event-ID gets exactly what was missed, `wait` answers as soon as the
//! task is delivered, and shutdown closes open streams.

use futures_util::StreamExt;
use pinchwork_server::model::MINUTE;
use pinchwork_test_kit::{Events, TestApp, next, open};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Reads the next event and checks its name, task and the fields of its data.
async fn expect(events: &mut Events, kind: &str, task: &str) -> Value {
    let event = next(events).await;
    assert_eq!(event.event, kind, "{event:?}");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data["type"], kind);
    assert_eq!(data["task_id"], task);
    assert_eq!(
        data["event_id"].as_i64().unwrap().to_string(),
        event.id,
        "id line = event_id"
    );
    assert!(data["created_at"].as_str().unwrap().ends_with('Z'));
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_reaches_its_recipient() {
    let app = TestApp::new().await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    let (poster_id, poster) = app.register("poster").await;
    let (worker_id, worker) = app.register("worker").await;
    let (_, asker) = app.register("asker").await;
    let mut to_poster = open(&base, &poster, None).await;
    let mut to_worker = open(&base, &worker, None).await;
    let mut to_asker = open(&base, &asker, None).await;

    // Questions before pickup.
    let task = app.post_task(&poster, "translate this", 20).await;
    let q = app
        .post(
            &format!("/v1/tasks/{task}/questions"),
            &asker,
            json!({"question": "Which language?"}),
        )
        .await
        .expect(201);
    let qid = q.json["id"].as_str().unwrap();
    assert_eq!(
        expect(&mut to_poster, "task_question", &task).await["question_id"],
        qid
    );
    app.post(
        &format!("/v1/tasks/{task}/questions/{qid}/answer"),
        &poster,
        json!({"answer": "Dutch"}),
    )
    .await
    .expect(200);
    assert_eq!(
        expect(&mut to_asker, "question_answered", &task).await["question_id"],
        qid
    );

    // Claim, message, deliver, reject (with grace), deliver, approve.
    app.post(&format!("/v1/tasks/{task}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    assert_eq!(
        expect(&mut to_poster, "task_claimed", &task).await["worker_id"],
        worker_id.as_str()
    );
    let m = app
        .post(
            &format!("/v1/tasks/{task}/messages"),
            &poster,
            json!({"message": "formal tone"}),
        )
        .await
        .expect(201);
    assert_eq!(
        expect(&mut to_worker, "task_message", &task).await["message_id"],
        m.json["id"]
    );
    app.post(
        &format!("/v1/tasks/{task}/deliver"),
        &worker,
        json!({"result": "v1"}),
    )
    .await
    .expect(200);
    expect(&mut to_poster, "task_delivered", &task).await;
    let rejected = app
        .post(
            &format!("/v1/tasks/{task}/reject"),
            &poster,
            json!({"reason": "too casual"}),
        )
        .await
        .expect(200);
    let data = expect(&mut to_worker, "task_rejected", &task).await;
    assert_eq!(data["reason"], "too casual");
    assert_eq!(
        data["grace_deadline"],
        rejected.json["rejection_grace_deadline"]
    );
    app.post(
        &format!("/v1/tasks/{task}/deliver"),
        &worker,
        json!({"result": "v2"}),
    )
    .await
    .expect(200);
    expect(&mut to_poster, "task_delivered", &task).await;
    app.post(&format!("/v1/tasks/{task}/approve"), &poster, json!({}))
        .await
        .expect(200);
    expect(&mut to_worker, "task_approved", &task).await;

    // Cancel tells the agents who showed interest (asked about it).
    let cancelled = app.post_task(&poster, "never mind", 5).await;
    app.post(
        &format!("/v1/tasks/{cancelled}/questions"),
        &asker,
        json!({"question": "When?"}),
    )
    .await
    .expect(201);
    expect(&mut to_poster, "task_question", &cancelled).await;
    app.post(&format!("/v1/tasks/{cancelled}/cancel"), &poster, json!({}))
        .await
        .expect(200);
    expect(&mut to_asker, "task_cancelled", &cancelled).await;

    // Timers: claim timeout, rejection grace, deadline of a claimed task, expiry.
    let timed = app.post_task(&poster, "slow", 5).await;
    app.post(&format!("/v1/tasks/{timed}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    expect(&mut to_poster, "task_claimed", &timed).await;
    app.advance(10 * MINUTE).await;
    expect(&mut to_worker, "claim_timeout_expired", &timed).await;

    app.post(&format!("/v1/tasks/{timed}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    expect(&mut to_poster, "task_claimed", &timed).await;
    app.post(
        &format!("/v1/tasks/{timed}/deliver"),
        &worker,
        json!({"result": "r"}),
    )
    .await
    .expect(200);
    expect(&mut to_poster, "task_delivered", &timed).await;
    app.post(
        &format!("/v1/tasks/{timed}/reject"),
        &poster,
        json!({"reason": "no"}),
    )
    .await
    .expect(200);
    expect(&mut to_worker, "task_rejected", &timed).await;
    app.advance(5 * MINUTE).await;
    expect(&mut to_worker, "rejection_grace_expired", &timed).await;

    let urgent = app
        .post(
            "/v1/tasks",
            &poster,
            json!({"need": "urgent", "max_credits": 5, "deadline_minutes": 3}),
        )
        .await
        .expect(201)
        .json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(&format!("/v1/tasks/{urgent}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    expect(&mut to_poster, "task_claimed", &urgent).await;
    app.advance(3 * MINUTE).await;
    expect(&mut to_worker, "deadline_expired", &urgent).await;

    app.advance(72 * 60 * MINUTE).await;
    // Both open tasks expire; the poster hears of each.
    let mut expired = vec![
        expect_any(&mut to_poster, "task_expired").await,
        expect_any(&mut to_poster, "task_expired").await,
    ];
    expired.sort();
    let mut want = vec![timed.clone(), urgent.clone()];
    want.sort();
    assert_eq!(expired, want);
    let _ = poster_id;
    server.shutdown().await;
}

async fn expect_any(events: &mut Events, kind: &str) -> String {
    let event = next(events).await;
    assert_eq!(event.event, kind);
    let data: Value = serde_json::from_str(&event.data).unwrap();
    data["task_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_last_event_id_replays_exactly_what_was_missed() {
    let app = TestApp::new().await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;

    let mut stream = open(&base, &poster, None).await;
    let first = app.post_task(&poster, "first", 5).await;
    app.post(&format!("/v1/tasks/{first}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    let seen = next(&mut stream).await;
    assert_eq!(seen.event, "task_claimed");
    drop(stream);

    // While disconnected: three more events for the poster.
    app.post(
        &format!("/v1/tasks/{first}/deliver"),
        &worker,
        json!({"result": "r"}),
    )
    .await
    .expect(200);
    let second = app.post_task(&poster, "second", 5).await;
    app.post(&format!("/v1/tasks/{second}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/tasks/{second}/deliver"),
        &worker,
        json!({"result": "r"}),
    )
    .await
    .expect(200);

    let mut resumed = open(&base, &poster, Some(&seen.id)).await;
    let replayed = [
        next(&mut resumed).await,
        next(&mut resumed).await,
        next(&mut resumed).await,
    ];
    let kinds: Vec<_> = replayed.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["task_delivered", "task_claimed", "task_delivered"]);
    let ids: Vec<i64> = replayed.iter().map(|e| e.id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > seen.id.parse().unwrap());
    // Then live, with nothing repeated.
    let third = app.post_task(&poster, "third", 5).await;
    app.post(&format!("/v1/tasks/{third}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    expect(&mut resumed, "task_claimed", &third).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), resumed.next())
            .await
            .is_err(),
        "nothing more"
    );

    // A new stream without Last-Event-ID starts from now: no replay.
    let mut fresh = open(&base, &poster, None).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), fresh.next())
            .await
            .is_err()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_answers_as_soon_as_the_task_is_delivered() {
    let app = TestApp::new().await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;

    let http = reqwest::Client::new();
    let waiting = tokio::spawn({
        let (http, base, poster) = (http.clone(), base.clone(), poster.clone());
        async move {
            let r = http
                .post(format!("{base}/v1/tasks"))
                .bearer_auth(&poster)
                .header("accept", "application/json")
                .json(&json!({"need": "quick one", "max_credits": 7, "wait": 30}))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                Instant::now(),
                r.json::<Value>().await.unwrap(),
            )
        }
    });
    // Pick it up once it exists, then deliver.
    let task = loop {
        let r = app
            .call("POST", "/v1/tasks/pickup", Some(&worker), None)
            .await;
        if r.status == 200 {
            break r.json["task_id"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    app.post(
        &format!("/v1/tasks/{task}/deliver"),
        &worker,
        json!({"result": "done", "credits_claimed": 6}),
    )
    .await
    .expect(200);
    let delivered_at = Instant::now();
    let (status, answered_at, body) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["status"], "delivered");
    assert_eq!(body["result"], "done");
    assert_eq!(body["credits_charged"], 6);
    let lag = answered_at.saturating_duration_since(delivered_at);
    assert!(
        lag < Duration::from_millis(100),
        "wait answered {lag:?} after the delivery"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_open_streams_promptly() {
    // Twenty streams of one agent: past the default cap of open streams per agent.
    let app = TestApp::with(|cfg| cfg.max_streams_per_agent = 20).await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    let (_, key) = app.register("listener").await;
    let mut streams = Vec::new();
    for _ in 0..20 {
        streams.push(open(&base, &key, None).await);
    }
    let started = Instant::now();
    server.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    for mut stream in streams {
        let end = tokio::time::timeout(Duration::from_secs(2), stream.next())
            .await
            .expect("stream closed");
        assert!(end.is_none() || end.unwrap().is_err(), "stream ended");
    }
}

#[tokio::test]
async fn a_bad_last_event_id_is_a_400() {
    let app = TestApp::new().await;
    let (_, key) = app.register("a").await;
    let req = axum::http::Request::get("/v1/events")
        .header("authorization", format!("Bearer {key}"))
        .header("last-event-id", "yesterday")
        .body(axum::body::Body::empty())
        .unwrap();
    let r = app.send(req).await.expect(400);
    assert!(r.text.contains("Last-Event-ID"));
}

#[tokio::test]
async fn events_older_than_the_retention_period_are_pruned() {
    let app = TestApp::with(|c| c.event_retention_hours = 1).await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let task = app.post_task(&poster, "t", 5).await;
    app.post(&format!("/v1/tasks/{task}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    let poster_id = app.get("/v1/me", &poster).await.json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let count = |id: String| {
        let state = app.state.clone();
        async move {
            state
                .read(move |tx| Box::pin(async move { tx.events_after(&id, 0, 100).await }))
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(count(poster_id.clone()).await, 1);
    app.clock.advance(59 * MINUTE);
    pinchwork_server::scheduler::prune_expired(&app.state)
        .await
        .unwrap();
    assert_eq!(
        count(poster_id.clone()).await,
        1,
        "kept within the retention period"
    );
    app.clock.advance(2 * MINUTE);
    pinchwork_server::scheduler::prune_expired(&app.state)
        .await
        .unwrap();
    assert_eq!(count(poster_id).await, 0, "pruned after it");
}

/// Events another node logged reach this node's streams through the relay: the news names
/// the recipient, the log supplies the event; after a `Resync` (news lost with the
/// connection) every stream re-reads the log and finds what nobody announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_delivers_other_nodes_events_and_resyncs_after_lost_news() {
    use pinchwork_server::events::Event as Logged;
    use pinchwork_server::model::EventData;
    use pinchwork_server::store::NodeNews;

    let app = TestApp::new().await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    let (agent, key) = app.register("listener").await;
    let mut stream = open(&base, &key, None).await;
    let (news, feed) = tokio::sync::mpsc::unbounded_channel();
    let relay = tokio::spawn(pinchwork_server::events::relay(
        app.state.bus.clone(),
        app.state.clone(),
        feed,
    ));

    // Logged as another node would: committed, but not published on this node's bus.
    let log = |task: &'static str| {
        let agent = agent.clone();
        app.state.store.write(move |tx| {
            Box::pin(async move {
                let message = pinchwork_client::events::MessageRef {
                    message_id: "m-1".into(),
                };
                let mut events = vec![Logged::new(EventData::TaskMessage(message), task, &agent)];
                tx.append_events(&mut events, pinchwork_test_kit::T0)
                    .await
                    .map(|_| ())
            })
        })
    };
    log("tk-announced").await.unwrap();
    news.send(NodeNews::Logged {
        recipient: agent.clone(),
    })
    .unwrap();
    let data: Value = serde_json::from_str(&next(&mut stream).await.data).unwrap();
    assert_eq!(data["task_id"], "tk-announced");

    log("tk-unannounced").await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(quiet.is_err(), "nothing arrives without news: {quiet:?}");
    news.send(NodeNews::Resync).unwrap();
    let data: Value = serde_json::from_str(&next(&mut stream).await.data).unwrap();
    assert_eq!(data["task_id"], "tk-unannounced");

    relay.abort();
    server.shutdown().await;
}

/// One event, one JSON object: the SSE frame's `data:`, the webhook body and the event MCP
/// returns (decoded by the client and re-encoded) are equal, and hold every field both
/// guide sections promise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_webhooks_and_mcp_send_the_same_event_object() {
    use pinchwork_test_kit::hooks::Receiver;
    use pinchwork_test_kit::mcp;
    let app = TestApp::with(|cfg| cfg.webhook_allow_insecure = true).await;
    let server = app.serve().await;
    let base = format!("http://{}", server.addr);
    let hooks = Receiver::start(200).await;
    let (_, poster) = app
        .register_with("poster", json!({"webhook_url": hooks.url}))
        .await;
    let (worker_id, worker) = app.register("worker").await;
    let mut sse = open(&base, &poster, None).await;

    // To the poster: a question (question_id), the claim (worker_id), the delivery (no fields).
    let task = app.post_task(&poster, "translate this", 20).await;
    app.post(
        &format!("/v1/tasks/{task}/questions"),
        &worker,
        json!({"question": "Which language?"}),
    )
    .await
    .expect(201);
    app.post(&format!("/v1/tasks/{task}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/tasks/{task}/deliver"),
        &worker,
        json!({"result": "done"}),
    )
    .await
    .expect(200);

    let mut on_sse = Vec::new();
    for _ in 0..3 {
        let frame = next(&mut sse).await;
        let data: Value = serde_json::from_str(&frame.data).unwrap();
        assert_eq!(data["event"], frame.event.as_str());
        assert_eq!(data["event_id"].as_i64().unwrap().to_string(), frame.id);
        on_sse.push(data);
    }
    let by_webhook: Vec<Value> = hooks.wait_for(3).await.iter().map(|h| h.json()).collect();
    let agent = mcp::connect_http(&base, &poster).await;
    let replayed = mcp::ok(
        &agent,
        "wait_for_events",
        json!({"after": "0", "timeout_seconds": 10}),
    )
    .await;
    let by_mcp = replayed["events"].as_array().unwrap().clone();

    assert_eq!(on_sse, by_webhook, "SSE data and webhook bodies");
    assert_eq!(on_sse, by_mcp, "SSE data and MCP events");
    let kinds: Vec<&str> = on_sse
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["task_question", "task_claimed", "task_delivered"]);
    for event in &on_sse {
        // The webhook section's fields and the SSE section's, in one object.
        for field in [
            "event",
            "task_id",
            "data",
            "timestamp",
            "event_id",
            "type",
            "created_at",
        ] {
            assert!(event.get(field).is_some(), "{field} in {event}");
        }
        assert_eq!(event["type"], event["event"]);
        assert_eq!(event["timestamp"], event["created_at"]);
        assert_eq!(event["task_id"], task.as_str());
        // The kind's fields, in `data` and at the top level.
        for (key, value) in event["data"].as_object().unwrap() {
            assert_eq!(&event[key], value, "{key} at the top level of {event}");
        }
    }
    assert_eq!(on_sse[1]["data"], json!({"worker_id": worker_id}));
    assert_eq!(on_sse[2]["data"], json!({}));
    assert!(
        on_sse[0]["data"]["question_id"].is_string(),
        "{}",
        on_sse[0]
    );
}
