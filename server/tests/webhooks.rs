//! Webhooks: signed deliveries with the guide's payload (within the one event object), retries
//! with backoff, giving up after the maximum, surviving a restart, and refusing non-public
//! addresses both when the URL is set and at delivery time (after DNS resolution).

use pinchwork_server::store::{DeliveryStatus, WebhookDelivery};
use pinchwork_server::webhooks;
use pinchwork_test_kit::hooks::{Hit, Receiver};
use pinchwork_test_kit::{T0, TestApp, test_config};
use serde_json::json;

use std::time::{Duration, Instant};

const SECRET: &str = "my-hmac-secret";

async fn insecure_app() -> TestApp {
    TestApp::with(|cfg| cfg.webhook_allow_insecure = true).await
}

/// The agent's deliveries, oldest first.
async fn deliveries(app: &TestApp, agent: &str) -> Vec<WebhookDelivery> {
    let agent = agent.to_string();
    let mut newest_first = app
        .state
        .read(move |tx| Box::pin(async move { tx.webhook_deliveries_of(&agent, 1000).await }))
        .await
        .unwrap();
    newest_first.reverse();
    newest_first
}

/// Waits (up to 5 s) until the agent's only delivery satisfies `done`; returns it.
async fn wait_delivery(
    app: &TestApp,
    agent: &str,
    done: impl Fn(&WebhookDelivery) -> bool,
) -> WebhookDelivery {
    let start = Instant::now();
    loop {
        let all = deliveries(app, agent).await;
        assert!(all.len() <= 1, "one delivery expected: {all:?}");
        if let Some(d) = all.into_iter().next().filter(|d| done(d)) {
            return d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "delivery never got there: {:?}",
            deliveries(app, agent).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Registers an agent with a webhook (and a secret, if given); returns (id, key).
async fn register_hooked(
    app: &TestApp,
    name: &str,
    url: &str,
    secret: Option<&str>,
) -> (String, String) {
    let (id, key) = app.register(name).await;
    let mut body = json!({"webhook_url": url});
    if let Some(secret) = secret {
        body["webhook_secret"] = secret.into();
    }
    app.call("PATCH", "/v1/me", Some(&key), Some(body))
        .await
        .expect(200);
    (id, key)
}

/// Sets an agent's webhook URL in the database, past the checks of PATCH /v1/me (as a URL whose
/// name later resolves elsewhere would be).
async fn force_webhook_url(app: &TestApp, agent: &str, url: &str) {
    let (agent, url) = (agent.to_string(), url.to_string());
    app.state
        .write(move |tx, _| {
            Box::pin(async move {
                let mut a = tx.agent(&agent).await?.unwrap();
                a.webhook_url = Some(url);
                tx.save_agent_profile(&a).await
            })
        })
        .await
        .unwrap();
}

/// A task posted by `poster` and picked up by a fresh worker: the poster gets `task_claimed`.
async fn claimed_task(app: &TestApp, poster: &str) -> (String, String, String) {
    let (worker_id, worker) = app.register("worker").await;
    let task = app.post_task(poster, "review my code", 10).await;
    app.post(&format!("/v1/tasks/{task}/pickup"), &worker, json!({}))
        .await
        .expect(200);
    (task, worker_id, worker)
}

fn verify(hit: &Hit, secret: &str) {
    let body = &hit.body[..];
    assert_eq!(
        hit.header("x-pinchwork-signature").unwrap(),
        webhooks::sign(secret, body)
    );
    // Recomputed independently of the server's helpers: HMAC over "<timestamp>.<body>".
    use hmac::{Hmac, Mac};
    let ts = hit.header("x-pinchwork-timestamp").unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        hit.header("x-pinchwork-timestamp-signature").unwrap(),
        expected
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(
        &hex::decode(
            hit.header("x-pinchwork-signature")
                .unwrap()
                .strip_prefix("sha256=")
                .unwrap(),
        )
        .unwrap(),
    )
    .expect("body signature verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_arrive_with_the_guide_payload() {
    let receiver = Receiver::start(200).await;
    let app = insecure_app().await;
    let server = app.serve().await;
    let (poster_id, poster) = register_hooked(&app, "poster", &receiver.url, Some(SECRET)).await;
    let (task, worker_id, worker) = claimed_task(&app, &poster).await;

    let hits = receiver.wait_for(1).await;
    let hit = &hits[0];
    assert_eq!(hit.header("content-type"), Some("application/json"));
    assert_eq!(hit.header("x-pinchwork-event"), Some("task_claimed"));
    assert!(
        hit.header("x-pinchwork-delivery")
            .unwrap()
            .starts_with("wh-")
    );
    assert_eq!(
        hit.header("x-pinchwork-timestamp"),
        Some((T0 / 1000).to_string().as_str())
    );
    verify(hit, SECRET);
    let body = hit.json();
    assert_eq!(body["event"], "task_claimed");
    assert_eq!(body["task_id"], task.as_str());
    assert_eq!(body["data"]["worker_id"], worker_id.as_str());
    assert_eq!(body["timestamp"], "2026-01-01T00:00:00.000Z");
    let event_id = body["event_id"].as_i64().unwrap();
    assert!(event_id > 0);
    // The guide's fields, within the one event object (the same as on the SSE stream).
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "data",
            "event",
            "event_id",
            "task_id",
            "timestamp",
            "type",
            "worker_id"
        ],
        "{body}"
    );
    assert_eq!(body["type"], "task_claimed");
    assert_eq!(body["created_at"], body["timestamp"]);
    assert_eq!(body["worker_id"], body["data"]["worker_id"]);
    // A forged body does not verify.
    assert_ne!(
        webhooks::sign(SECRET, b"{\"event\":\"task_approved\"}"),
        hit.header("x-pinchwork-signature").unwrap()
    );

    let d = wait_delivery(&app, &poster_id, |d| d.status == DeliveryStatus::Delivered).await;
    assert_eq!(d.attempts, 1);
    assert_eq!(d.last_status, Some(200));
    assert_eq!(d.event_id, event_id);
    assert_eq!(d.id, hit.header("x-pinchwork-delivery").unwrap());

    // The next event follows, with a later event id.
    app.post(
        &format!("/v1/tasks/{task}/deliver"),
        &worker,
        json!({"result": "done"}),
    )
    .await
    .expect(200);
    let hits = receiver.wait_for(2).await;
    assert_eq!(hits[1].json()["event"], "task_delivered");
    assert!(hits[1].json()["event_id"].as_i64().unwrap() > event_id);
    verify(&hits[1], SECRET);

    // Without a secret: the same payload, unsigned. Agents without a webhook get nothing.
    let unsigned = Receiver::start(200).await;
    let (quiet_id, quiet) = register_hooked(&app, "quiet", &unsigned.url, None).await;
    let task2 = app.post_task(&quiet, "another", 5).await;
    let (_, plain) = app.register("plain").await;
    app.post(&format!("/v1/tasks/{task2}/pickup"), &plain, json!({}))
        .await
        .expect(200);
    let hit = &unsigned.wait_for(1).await[0];
    assert_eq!(hit.json()["event"], "task_claimed");
    assert!(hit.header("x-pinchwork-signature").is_none());
    assert!(hit.header("x-pinchwork-timestamp-signature").is_none());
    wait_delivery(&app, &quiet_id, |d| d.status == DeliveryStatus::Delivered).await;
    assert!(deliveries(&app, &worker_id).await.is_empty());
    receiver.stays_at(2, 300).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_retried_with_backoff_until_they_succeed() {
    let receiver = Receiver::start(500).await;
    let app = insecure_app().await;
    let server = app.serve().await;
    let (poster_id, poster) = register_hooked(&app, "poster", &receiver.url, Some(SECRET)).await;
    claimed_task(&app, &poster).await;

    // Attempt 1 fails; the next is due 1 s later, then 2 s, then 4 s.
    receiver.wait_for(1).await;
    let d = wait_delivery(&app, &poster_id, |d| d.next_attempt_at == T0 + 1_000).await;
    assert_eq!(d.attempts, 1);
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(d.last_status, Some(500));
    assert_eq!(d.next_attempt_at, T0 + 1_000);
    assert!(d.last_error.as_deref().unwrap().contains("500"));

    let mut now = T0;
    for (attempt, backoff) in [(2, 1_000), (3, 2_000)] {
        app.clock.advance(backoff - 1);
        receiver.stays_at(attempt - 1, 400).await;
        app.clock.advance(1);
        now += backoff;
        receiver.wait_for(attempt).await;
        // Recorded: the retry is due twice as long after this attempt.
        let d = wait_delivery(&app, &poster_id, |d| d.next_attempt_at == now + 2 * backoff).await;
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(d.attempts, attempt as i64);
    }

    // The receiver recovers: attempt 4 succeeds.
    receiver.answer(204);
    app.clock.advance(4_000);
    let hits = receiver.wait_for(4).await;
    let d = wait_delivery(&app, &poster_id, |d| d.status != DeliveryStatus::Pending).await;
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert_eq!(
        (d.attempts, d.last_status, d.last_error),
        (4, Some(204), None)
    );
    // Every attempt is the same delivery with the same body, each freshly signed.
    for hit in &hits {
        assert_eq!(hit.header("x-pinchwork-delivery"), Some(d.id.as_str()));
        assert_eq!(hit.body, hits[0].body);
        verify(hit, SECRET);
    }
    app.clock.advance(60_000);
    receiver.stays_at(4, 400).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_given_up_after_the_maximum_retries() {
    let receiver = Receiver::start(500).await;
    let app = insecure_app().await;
    let server = app.serve().await;
    let (poster_id, poster) = register_hooked(&app, "poster", &receiver.url, None).await;
    claimed_task(&app, &poster).await;

    // The default: 3 retries, 4 attempts in all.
    receiver.wait_for(1).await;
    let mut now = T0;
    for (attempt, backoff) in [(2, 1_000), (3, 2_000), (4, 4_000)] {
        // The failure of the previous attempt is recorded with its retry time.
        wait_delivery(&app, &poster_id, |d| d.next_attempt_at == now + backoff).await;
        app.clock.advance(backoff);
        now += backoff;
        receiver.wait_for(attempt).await;
    }
    let d = wait_delivery(&app, &poster_id, |d| d.status != DeliveryStatus::Pending).await;
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.attempts, 4);
    assert_eq!(d.last_status, Some(500));
    assert!(d.last_error.unwrap().contains("500"));
    assert!(d.finished_at.is_some());
    app.clock.advance(3_600_000);
    receiver.stays_at(4, 500).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_deliveries_are_sent_after_a_restart() {
    let receiver = Receiver::start(503).await;
    let first = insecure_app().await;
    let (poster_id, poster) = register_hooked(&first, "poster", &receiver.url, Some(SECRET)).await;
    // No server runs yet, so no worker: the delivery waits in the outbox.
    let (task, _, _) = claimed_task(&first, &poster).await;
    let d = deliveries(&first, &poster_id).await;
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].status, d[0].attempts), (DeliveryStatus::Pending, 0));
    receiver.stays_at(0, 300).await;

    // The server runs while the receiver is down: one failed attempt, then it stops.
    let server = first.serve().await;
    receiver.wait_for(1).await;
    wait_delivery(&first, &poster_id, |d| {
        d.attempts == 1 && d.last_status == Some(503)
    })
    .await;
    server.shutdown().await;
    let (dir, clock) = (first.dir.clone(), first.clock.clone());
    drop(first);

    // Back up with the receiver healthy: the retry goes out.
    receiver.answer(200);
    clock.advance(1_000);
    let mut cfg = test_config(&dir);
    cfg.webhook_allow_insecure = true;
    let second = TestApp::open(cfg, dir.clone(), clock).await;
    let server = second.serve().await;
    let hits = receiver.wait_for(2).await;
    assert_eq!(hits[1].json()["event"], "task_claimed");
    assert_eq!(hits[1].json()["task_id"], task.as_str());
    assert_eq!(hits[1].body, hits[0].body);
    verify(&hits[1], SECRET);
    let d = wait_delivery(&second, &poster_id, |d| {
        d.status == DeliveryStatus::Delivered
    })
    .await;
    assert_eq!(d.attempts, 2);
    receiver.stays_at(2, 300).await;
    server.shutdown().await;
}

#[tokio::test]
async fn private_addresses_are_refused_when_the_url_is_set() {
    let app = TestApp::new().await;
    let (_, key) = app.register("agent").await;
    for url in [
        "https://10.0.0.1/hook",
        "https://10.255.255.255/hook",
        "https://172.16.0.1/hook",
        "https://172.31.255.1/hook",
        "https://192.168.1.1/hook",
        "https://127.0.0.1/hook",
        "https://127.0.0.2:8443/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://0.0.0.0/hook",
        "https://2130706433/hook",
        "https://0x7f000001/hook",
        "https://0177.0.0.1/hook",
        "https://localhost/hook",
        "https://localhost./hook",
        "https://metadata.google.internal/computeMetadata/v1/",
        "http://hooks.example.com/hook",
        "https://user:pass@hooks.example.com/hook",
    ] {
        let r = app
            .call(
                "PATCH",
                "/v1/me",
                Some(&key),
                Some(json!({"webhook_url": url})),
            )
            .await;
        assert_eq!(r.status, 400, "{url} was accepted: {}", r.text);
        assert!(r.error().contains("webhook_url"), "{}", r.error());
        // Registration checks the same way.
        let r = app
            .call(
                "POST",
                "/v1/register",
                None,
                Some(json!({"name": "x", "webhook_url": url})),
            )
            .await;
        assert_eq!(r.status, 400, "{url} was accepted at registration");
    }
    app.call(
        "PATCH",
        "/v1/me",
        Some(&key),
        Some(json!({"webhook_url": "https://hooks.example.com/pinchwork"})),
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolving_to_private_addresses_are_refused_at_delivery() {
    let receiver = Receiver::start(200).await;
    let port = receiver.port();
    let app = TestApp::new().await; // not insecure: https and public addresses only
    let server = app.serve().await;

    // `localhost` resolves to loopback: the resolver refuses it, nothing is sent, and the
    // delivery fails at once (a refusal is not retried).
    let (victim_id, victim) = app.register("poster").await;
    force_webhook_url(&app, &victim_id, &format!("https://localhost:{port}/hook")).await;
    claimed_task(&app, &victim).await;
    let d = wait_delivery(&app, &victim_id, |d| d.status != DeliveryStatus::Pending).await;
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.attempts, 1);
    let error = d.last_error.unwrap();
    assert!(error.contains("non-public address"), "{error}");

    // Literal addresses in other spellings are checked before any connection.
    for url in [
        format!("https://2130706433:{port}/hook"),
        format!("https://0x7f000001:{port}/hook"),
        format!("https://[::ffff:127.0.0.1]:{port}/hook"),
        "https://169.254.169.254/latest/meta-data".to_string(),
        "https://10.0.0.1/hook".to_string(),
    ] {
        let (id, key) = app.register("poster").await;
        force_webhook_url(&app, &id, &url).await;
        claimed_task(&app, &key).await;
        let d = wait_delivery(&app, &id, |d| d.status != DeliveryStatus::Pending).await;
        assert_eq!(d.status, DeliveryStatus::Failed, "{url}");
        assert!(
            d.last_error
                .as_deref()
                .unwrap()
                .contains("non-public address"),
            "{url}: {:?}",
            d.last_error
        );
    }
    // Plain http is refused without the insecure switch, even to a public address.
    let (id, key) = app.register("poster").await;
    force_webhook_url(&app, &id, "http://93.184.216.34/hook").await;
    claimed_task(&app, &key).await;
    let d = wait_delivery(&app, &id, |d| d.status != DeliveryStatus::Pending).await;
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert!(d.last_error.unwrap().contains("scheme http"));

    receiver.stays_at(0, 300).await;
    server.shutdown().await;

    // The resolver itself: loopback names are refused, unless insecure webhooks are allowed.
    let err = webhooks::resolve_checked("localhost", false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("non-public address"), "{err}");
    assert!(webhooks::resolve_checked("localhost", true).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_mode_allows_loopback_but_not_the_private_network() {
    let app = insecure_app().await;
    let server = app.serve().await;
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/hook",
        "http://192.168.0.1/hook",
    ] {
        let (id, key) = register_hooked(&app, "poster", url, None).await;
        claimed_task(&app, &key).await;
        let d = wait_delivery(&app, &id, |d| d.status != DeliveryStatus::Pending).await;
        assert_eq!(d.status, DeliveryStatus::Failed, "{url}");
        assert_eq!(d.attempts, 1, "{url}: refused, not retried");
        assert!(d.last_error.unwrap().contains("non-public address"));
    }
    server.shutdown().await;
}
