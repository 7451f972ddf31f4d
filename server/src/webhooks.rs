//! Webhooks: every event for an agent with a webhook URL is POSTed to it as JSON, signed with
//! the agent's secret, from a durable outbox.
//!
//! - `enqueue` runs inside the transaction that logs the events, so a delivery exists if and
//!   only if its event committed, and survives restarts.
//! - `run` is the worker: it takes due deliveries under a lease (so several nodes never send
//!   one at once), sends them, and records the outcome; failures are retried 1 s, 2 s, 4 s …
//!   later (service clock) up to `webhook_max_retries` times, then marked failed.
//! - SSRF guard: only public addresses are ever connected to. Names are resolved by
//!   `GuardedResolver`, which refuses a name when any of its addresses is not public, and the
//!   connection uses exactly the addresses it checked; literal addresses (which skip DNS) are
//!   checked before sending; redirects are not followed; proxies are not used.
//!   `webhook_allow_insecure` allows plain http and loopback addresses, for local testing.
//! - A2A push notifications go out the same way (`a2a::push`, asked through `AppState::sending`): queued with the change they
//!   announce, sent to the client's URL with its token and `Authorization`, and signed with
//!   the token; a delivery whose config was deleted is dropped.

use crate::app::AppState;
use crate::error::Result;
use crate::events::Event;
use crate::ids;
use crate::market::validate;
use crate::model::Millis;
use crate::store::{AttemptRecord, DeliveryStatus, DueWebhook, Transaction, WebhookDelivery};
use hmac::{Hmac, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Url, redirect};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How often the worker looks for due deliveries when nothing wakes it.
const POLL: Duration = Duration::from_millis(250);
/// Deliveries being sent at once by one node at most.
const MAX_IN_FLIGHT: usize = 64;
/// A lease outlasts the attempt's timeout by this much.
const LEASE_MARGIN: Millis = 5_000;
/// The longest error text kept on a delivery.
const MAX_ERROR_CHARS: usize = 500;

// ---------------------------------------------------------------------------------------------
// Enqueueing (inside the writing transaction)

/// Queues one delivery per event whose recipient has a webhook URL; returns how many.
/// The events must be logged already (their ids and times set).
pub async fn enqueue(
    tx: &mut Transaction<'_>,
    events: &[Event],
    urls: Vec<Option<String>>,
    now: Millis,
) -> Result<usize> {
    let mut queued = 0;
    for (event, url) in events.iter().zip(urls) {
        let Some(url) = url else { continue };
        let kind = event.kind().as_str();
        queue(
            tx,
            event.id,
            &event.recipient,
            kind,
            url,
            payload(event),
            now,
        )
        .await?;
        queued += 1;
    }
    Ok(queued)
}

/// Queues one delivery of `body` to `url`, due at once.
pub async fn queue(
    tx: &mut Transaction<'_>,
    event_id: i64,
    recipient: &str,
    kind: &str,
    url: String,
    body: String,
    now: Millis,
) -> Result<()> {
    Ok(tx
        .insert_webhook_delivery(&WebhookDelivery {
            id: ids::new_id("wh"),
            event_id,
            recipient: recipient.to_string(),
            kind: kind.to_string(),
            url,
            body,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_status: None,
            last_error: None,
            created_at: now,
            finished_at: None,
        })
        .await?)
}

/// The event's one JSON shape ([`crate::events::EventEnvelope`]): the guide's payload
/// (`{"event", "task_id", "data", "timestamp"}`) is a subset of it, and it is the same object
/// the SSE stream sends.
pub fn payload(event: &Event) -> String {
    serde_json::to_string(&event.envelope()).expect("events serialize")
}

// ---------------------------------------------------------------------------------------------
// Signing

/// `sha256=<lowercase hex HMAC-SHA256(secret, message)>`.
pub fn sign(secret: &str, message: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(message);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The replay-resistant signature: over `"<unix seconds>.<body>"`, sent with the timestamp in
/// `X-Pinchwork-Timestamp`, so a receiver can refuse old or replayed requests.
pub fn sign_timestamped(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    sign(secret, &message)
}

// ---------------------------------------------------------------------------------------------
// SSRF guard

/// Why a webhook address was not contacted at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether the worker may connect to `ip`: public addresses only, plus loopback when
/// insecure webhooks are allowed (local testing).
pub fn address_allowed(ip: IpAddr, allow_insecure: bool) -> bool {
    if validate::is_public(ip) {
        return true;
    }
    let loopback = match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    allow_insecure && loopback
}

/// Resolves `host` and returns its addresses only if every one of them is allowed.
pub async fn resolve_checked(
    host: &str,
    allow_insecure: bool,
) -> std::result::Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if addrs.is_empty() {
        return Err(format!("{host} has no addresses").into());
    }
    if let Some(bad) = addrs
        .iter()
        .find(|a| !address_allowed(a.ip(), allow_insecure))
    {
        return Err(Box::new(Refused(format!(
            "{host} resolves to the non-public address {}",
            bad.ip()
        ))));
    }
    Ok(addrs)
}

/// The HTTP client's resolver: the connection goes to exactly the addresses checked here, so a
/// name cannot be re-pointed between the check and the connect.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub allow_insecure: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_insecure = self.allow_insecure;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolve_checked(&host, allow_insecure).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Checks what can be checked before connecting: the scheme, and literal addresses (which the
/// client connects to without asking the resolver).
pub fn check_url(url: &str, allow_insecure: bool) -> std::result::Result<Url, Refused> {
    // WHATWG parsing: 2130706433, 0x7f000001 and 0177.0.0.1 all become 127.0.0.1 here.
    let parsed = Url::parse(url).map_err(|e| Refused(format!("invalid URL: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        other => return Err(Refused(format!("the scheme {other} is not allowed"))),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Refused("credentials in the URL are not allowed".into()));
    }
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Err(Refused("the URL has no host".into()));
    };
    // Literal addresses come out normalised: dotted IPv4, or bracketed IPv6.
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    if let Some(ip) = ip.filter(|ip| !address_allowed(*ip, allow_insecure)) {
        return Err(Refused(format!("the non-public address {ip}")));
    }
    Ok(parsed)
}

/// The client every delivery goes through.
pub fn client(allow_insecure: bool, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { allow_insecure }))
        .redirect(redirect::Policy::none())
        .no_proxy()
        .https_only(!allow_insecure)
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("Pinchwork-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

// ---------------------------------------------------------------------------------------------
// Sending

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered(u16),
    /// Another answer, or no answer (connection error, timeout): worth retrying.
    Failed { status: Option<u16>, error: String },
    /// The address is not allowed: never retried.
    Refused(String),
}

/// Sends one delivery once, with `headers` besides the usual ones. `timestamp` is the
/// attempt's time in Unix seconds.
pub async fn attempt(
    client: &reqwest::Client,
    delivery: &WebhookDelivery,
    secret: Option<&str>,
    headers: &[(&'static str, String)],
    timestamp: i64,
    allow_insecure: bool,
) -> Outcome {
    let url = match check_url(&delivery.url, allow_insecure) {
        Ok(url) => url,
        Err(refused) => return Outcome::Refused(refused.to_string()),
    };
    let body = delivery.body.as_bytes();
    let mut req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Pinchwork-Event", &delivery.kind)
        .header("X-Pinchwork-Delivery", &delivery.id)
        .header("X-Pinchwork-Timestamp", timestamp.to_string());
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        req = req
            .header("X-Pinchwork-Signature", sign(secret, body))
            .header(
                "X-Pinchwork-Timestamp-Signature",
                sign_timestamped(secret, timestamp, body),
            );
    }
    match req.body(delivery.body.clone()).send().await {
        Ok(res) if res.status().is_success() => Outcome::Delivered(res.status().as_u16()),
        Ok(res) => Outcome::Failed {
            status: Some(res.status().as_u16()),
            error: format!("HTTP {}", res.status()),
        },
        Err(e) => match refusal_in(&e) {
            Some(refused) => Outcome::Refused(refused),
            None => Outcome::Failed {
                status: None,
                // The URL's query may hold the receiver's token: never logged nor stored.
                error: redact(&error_chain(&e.without_url()), &delivery.url),
            },
        },
    }
}

/// `text` without the query string of `url` (nor anything else after a `?` in it).
pub fn redact(text: &str, url: &str) -> String {
    match url.split_once('?') {
        Some((_, query)) if !query.is_empty() => text.replace(&format!("?{query}"), "?…"),
        _ => text.to_string(),
    }
}

/// The resolver's refusal, if that is what stopped the request.
fn refusal_in(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return Some(refused.to_string());
        }
        cause = err.source();
    }
    // Some layers wrap the cause in a way that hides its type; its text still tells.
    let text = error_chain(e);
    text.contains("refused: ")
        .then(|| {
            text.rsplit("refused: ")
                .next()
                .map(|t| format!("refused: {t}"))
        })
        .flatten()
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(err) = cause {
        let more = err.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = err.source();
    }
    text
}

/// How long after its `attempt`-th failure (1-based) a delivery is tried again: 1 s, 2 s, 4 s …
pub fn backoff(attempt: i64) -> Millis {
    1_000 << (attempt - 1).clamp(0, 20)
}

/// What to record after attempt number `attempt` came to `outcome`.
pub fn record_for(outcome: &Outcome, attempt: i64, max_retries: u32, now: Millis) -> AttemptRecord {
    let give_up = |status: Option<u16>, error: &str| AttemptRecord {
        status: DeliveryStatus::Failed,
        next_attempt_at: now,
        last_status: status.map(i64::from),
        last_error: Some(truncate(error)),
    };
    match outcome {
        Outcome::Delivered(status) => AttemptRecord {
            status: DeliveryStatus::Delivered,
            next_attempt_at: now,
            last_status: Some(i64::from(*status)),
            last_error: None,
        },
        Outcome::Refused(why) => give_up(None, why),
        Outcome::Failed { status, error } if attempt > i64::from(max_retries) => {
            give_up(*status, error)
        }
        Outcome::Failed { status, error } => AttemptRecord {
            status: DeliveryStatus::Pending,
            next_attempt_at: now + backoff(attempt),
            last_status: status.map(i64::from),
            last_error: Some(truncate(error)),
        },
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_ERROR_CHARS).collect()
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker

/// Hosts whose circuit is remembered at most (closed ones are forgotten first).
const CIRCUIT_HOSTS: usize = 10_000;
/// The longest an open circuit stays open (it doubles each time it opens again).
const CIRCUIT_MAX_OPEN: Millis = 3_600_000;

/// Per receiving host, on this node: after `failures` attempts in a row failed, the host is
/// not contacted for a while (its deliveries are postponed, each postponement counting as an
/// attempt), so a host that keeps timing out cannot hold the shared workers.
pub struct Circuits {
    failures: u32,
    open_for: Millis,
    hosts: std::sync::Mutex<std::collections::HashMap<String, Circuit>>,
}

#[derive(Default, Clone, Copy)]
struct Circuit {
    /// Failed attempts in a row.
    failures: u32,
    /// Times the circuit opened since the host last succeeded.
    opened: u32,
    open_until: Millis,
}

impl Circuits {
    pub fn new(failures: u32, open_for: Millis) -> Self {
        Self {
            failures: failures.max(1),
            open_for: open_for.max(1),
            hosts: Default::default(),
        }
    }

    /// Until when `host` is not to be contacted, if its circuit is open.
    pub fn open_until(&self, host: &str, now: Millis) -> Option<Millis> {
        let hosts = self.hosts.lock().unwrap();
        hosts
            .get(host)
            .map(|c| c.open_until)
            .filter(|until| *until > now)
    }

    /// Counts an attempt's outcome against its host.
    pub fn record(&self, host: &str, delivered: bool, now: Millis) {
        let mut hosts = self.hosts.lock().unwrap();
        if delivered {
            hosts.remove(host);
            return;
        }
        if hosts.len() >= CIRCUIT_HOSTS && !hosts.contains_key(host) {
            hosts.retain(|_, c| c.open_until > now);
            if hosts.len() >= CIRCUIT_HOSTS {
                return;
            }
        }
        let circuit = hosts.entry(host.to_string()).or_default();
        circuit.failures += 1;
        if circuit.failures >= self.failures {
            let open_for = (self.open_for << circuit.opened.min(16)).min(CIRCUIT_MAX_OPEN);
            circuit.open_until = now + open_for;
            circuit.opened += 1;
            circuit.failures = 0;
        }
    }
}

/// The host a delivery goes to, as the circuit breaker counts it.
fn host_of(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The worker

/// Sends due deliveries until `stop` flips to true; woken at once by `state.webhooks` when new
/// ones are queued, otherwise every `POLL`. Attempts still running at stop are abandoned:
/// their lease runs out and they are sent again (at least once).
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let timeout = Duration::from_secs(state.cfg.webhook_timeout_seconds.max(1));
    let client = match client(state.cfg.webhook_allow_insecure, timeout) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; webhooks are off");
            return;
        }
    };
    let circuits = Arc::new(Circuits::new(
        state.cfg.webhook_circuit_failures,
        (state.cfg.webhook_circuit_open_seconds as Millis).saturating_mul(1_000),
    ));
    let mut in_flight = JoinSet::new();
    loop {
        while in_flight.try_join_next().is_some() {}
        let room = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
        if room > 0 {
            match take_due(&state, room).await {
                Ok(batch) => {
                    for DueWebhook { delivery, secret } in batch {
                        let (state, client) = (state.clone(), client.clone());
                        let circuits = circuits.clone();
                        in_flight.spawn(async move {
                            send_and_record(&state, &client, &circuits, delivery, secret).await
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "taking due webhook deliveries failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = state.webhooks.notified() => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Takes (leases) up to `limit` due deliveries.
pub async fn take_due(state: &AppState, limit: usize) -> Result<Vec<DueWebhook>> {
    let now = state.now();
    let lease_until =
        now + (state.cfg.webhook_timeout_seconds as Millis).saturating_mul(1_000) + LEASE_MARGIN;
    state
        .store
        .write(move |tx| {
            Box::pin(async move { tx.take_due_webhooks(now, lease_until, limit as i64).await })
        })
        .await
        .map_err(crate::error::Error::from)
}

/// How a delivery from the outbox is sent (the app asks the surface that queued it).
pub enum Sending {
    /// An agent's webhook: signed with the agent's secret.
    Webhook,
    /// An A2A push: signed with the config's token, with its headers.
    Push {
        token: Option<String>,
        headers: Vec<(&'static str, String)>,
    },
    /// The push config was deleted: not sent.
    Gone,
}

/// Sends a taken delivery once and records what came of it.
pub async fn send_and_record(
    state: &AppState,
    client: &reqwest::Client,
    circuits: &Circuits,
    delivery: WebhookDelivery,
    secret: Option<String>,
) {
    // A2A push notifications are signed with their config's token and carry its headers.
    let (secret, headers) = match state.sending(&delivery).await {
        Ok(Sending::Webhook) => (secret, Vec::new()),
        Ok(Sending::Push { token, headers }) => (token, headers),
        Ok(Sending::Gone) => {
            let refused = Outcome::Refused("the push notification config was deleted".into());
            return record(state, &delivery, &refused, None).await;
        }
        Err(e) => {
            let failed = Outcome::Failed {
                status: None,
                error: format!("reading the push notification config: {e}"),
            };
            return record(state, &delivery, &failed, None).await;
        }
    };
    let host = host_of(&delivery.url);
    let open_until = circuits.open_until(&host, state.now());
    let outcome = match open_until {
        Some(_) => Outcome::Failed {
            status: None,
            error: format!("not sent: {host} failed too often in a row (circuit open)"),
        },
        None => {
            let timestamp = state.now().div_euclid(1_000);
            let outcome = attempt(
                client,
                &delivery,
                secret.as_deref(),
                &headers,
                timestamp,
                state.cfg.webhook_allow_insecure,
            )
            .await;
            match &outcome {
                Outcome::Delivered(_) => circuits.record(&host, true, state.now()),
                Outcome::Failed { .. } => circuits.record(&host, false, state.now()),
                Outcome::Refused(_) => {}
            }
            outcome
        }
    };
    record(state, &delivery, &outcome, open_until).await;
}

/// Records what an attempt of `delivery` came to; while its host's circuit is open (until
/// `open_until`), the next attempt waits for it to close.
async fn record(
    state: &AppState,
    delivery: &WebhookDelivery,
    outcome: &Outcome,
    open_until: Option<Millis>,
) {
    let mut record = record_for(
        outcome,
        delivery.attempts,
        state.cfg.webhook_max_retries,
        state.now(),
    );
    if let (Some(until), DeliveryStatus::Pending) = (open_until, &record.status) {
        record.next_attempt_at = record.next_attempt_at.max(until);
    }
    match &record.status {
        DeliveryStatus::Failed => tracing::warn!(
            delivery = %delivery.id, attempts = delivery.attempts,
            error = ?record.last_error, "webhook delivery failed for good"
        ),
        DeliveryStatus::Pending => tracing::debug!(
            delivery = %delivery.id, attempts = delivery.attempts,
            error = ?record.last_error, "webhook delivery failed, will retry"
        ),
        DeliveryStatus::Delivered => {}
    }
    let (id, attempt_no, now) = (delivery.id.clone(), delivery.attempts, state.now());
    let saved = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.record_webhook_attempt(&id, attempt_no, &record, now)
                    .await
            })
        })
        .await;
    if let Err(e) = saved {
        tracing::error!(delivery = %delivery.id, error = %e, "recording a webhook attempt failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(sign_timestamped("k", 12, b"{}"), sign("k", b"12.{}"),);
    }

    #[test]
    fn backoff_doubles_from_one_second() {
        assert_eq!(
            (1..=4).map(backoff).collect::<Vec<_>>(),
            [1_000, 2_000, 4_000, 8_000]
        );
    }

    #[test]
    fn retries_stop_after_the_maximum() {
        let failed = Outcome::Failed {
            status: Some(500),
            error: "HTTP 500".into(),
        };
        let r = record_for(&failed, 1, 3, 0);
        assert_eq!(
            (r.status, r.next_attempt_at),
            (DeliveryStatus::Pending, 1_000)
        );
        assert_eq!(record_for(&failed, 3, 3, 0).status, DeliveryStatus::Pending);
        assert_eq!(record_for(&failed, 4, 3, 0).status, DeliveryStatus::Failed);
        let refused = Outcome::Refused("no".into());
        assert_eq!(record_for(&refused, 1, 3, 0).status, DeliveryStatus::Failed);
    }

    #[test]
    fn literal_addresses_are_checked_in_every_spelling() {
        for bad in [
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://0.0.0.0/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "http://93.184.216.34/",
            "ftp://93.184.216.34/",
            "https://u:p@93.184.216.34/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("https://93.184.216.34/x", false).is_ok());
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_url("http://[::1]:9/x", true).is_ok());
        // Insecure mode allows loopback, not the private network or the metadata service.
        assert!(check_url("http://10.0.0.1/", true).is_err());
        assert!(check_url("http://169.254.169.254/", true).is_err());
    }

    #[test]
    fn a_host_failing_in_a_row_is_left_alone_for_longer_each_time() {
        let circuits = Circuits::new(3, 1_000);
        for _ in 0..2 {
            circuits.record("slow.example", false, 0);
        }
        assert_eq!(circuits.open_until("slow.example", 0), None);
        circuits.record("slow.example", false, 0);
        assert_eq!(circuits.open_until("slow.example", 0), Some(1_000));
        assert_eq!(circuits.open_until("other.example", 0), None);
        assert_eq!(
            circuits.open_until("slow.example", 1_000),
            None,
            "half-open"
        );
        for _ in 0..3 {
            circuits.record("slow.example", false, 1_000);
        }
        assert_eq!(circuits.open_until("slow.example", 1_000), Some(3_000));
        circuits.record("slow.example", true, 3_000);
        assert_eq!(circuits.open_until("slow.example", 1_000), None, "closed");
    }

    #[test]
    fn errors_never_carry_the_query_string() {
        assert_eq!(
            redact(
                "error sending request for url (https://h.example/x?token=s3cret)",
                "https://h.example/x?token=s3cret"
            ),
            "error sending request for url (https://h.example/x?…)"
        );
        assert_eq!(redact("timed out", "https://h.example/x"), "timed out");
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let err = resolve_checked("localhost", false).await.unwrap_err();
        assert!(err.downcast_ref::<Refused>().is_some(), "{err}");
        assert!(resolve_checked("localhost", true).await.is_ok());
    }
}
