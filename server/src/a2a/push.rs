//! Push notifications: an A2A client registers, per task, a URL (with a token and/or an
//! `Authorization` to send back); every change of the task is then POSTed there as a
//! `StreamResponse`: `{"statusUpdate": …}`, or, when the result is delivered, the whole task
//! with the result as its artifact (`{"task": …}`), through the webhook outbox, so deliveries are durable, retried, and never sent
//! to private addresses.
//!
//! How the client tells a notification is ours: `X-A2A-Notification-Token` carries the token
//! it chose (what the official SDKs send), `Authorization: <scheme> <credentials>` what it
//! asked for, and, when it set a token, `X-Pinchwork-Signature` is
//! `sha256=<hex HMAC-SHA256(token, body)>` and `X-Pinchwork-Timestamp-Signature` the same over
//! `"<X-Pinchwork-Timestamp>.<body>"`, so it can check the body is intact and refuse replays.

use super::jsonrpc::RpcError;
use super::mapping::{self, View};
use super::types::{AuthenticationInfo, StreamResponse, TaskPushNotificationConfig};
use crate::app::AppState;
use crate::error::Result;
use crate::events::{Event, EventKind};
use crate::market::validate;
use crate::model::Millis;
use crate::store::{PushConfig, Transaction, WebhookDelivery};
use crate::webhooks;
use crate::webhooks::Sending;
use std::collections::BTreeSet;

/// Push configs one task may have.
pub const MAX_PER_TASK: usize = 5;
const MAX_TOKEN: usize = 500;
const MAX_SCHEME: usize = 50;
const MAX_CREDENTIALS: usize = 2_000;

/// The outbox recipient of a push delivery: `a2a-push:<task id>/<config id>` (task ids have
/// no `/`), so the sender finds the config (and a deleted config stops its deliveries).
const RECIPIENT: &str = "a2a-push:";

/// Checks a config a client sent (its task is set by `for_task`).
pub fn config(
    c: &TaskPushNotificationConfig,
    allow_insecure: bool,
    now: Millis,
) -> std::result::Result<PushConfig, RpcError> {
    if !c.id.is_empty() {
        mapping::client_id("id", &c.id)?;
    }
    if c.url.is_empty() {
        return Err(RpcError::invalid_params("url is required"));
    }
    validate::webhook_url(&c.url, allow_insecure)
        .map_err(|e| RpcError::invalid_params(e.to_string().replace("webhook_url", "url")))?;
    let token = c.token.clone().filter(|t| !t.is_empty());
    if let Some(token) = &token {
        header_safe("token", token, MAX_TOKEN)?;
    }
    let (scheme, credentials) = match &c.authentication {
        None => (None, None),
        Some(AuthenticationInfo {
            scheme,
            credentials,
        }) => {
            let scheme_ok = !scheme.is_empty()
                && scheme.len() <= MAX_SCHEME
                && scheme
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
            if !scheme_ok {
                return Err(RpcError::invalid_params(format!(
                    "authentication.scheme must be 1-{MAX_SCHEME} letters, digits, '-', '_' or '.'"
                )));
            }
            let credentials = credentials.clone().filter(|c| !c.is_empty());
            let Some(credentials) = credentials else {
                return Err(RpcError::invalid_params(
                    "authentication.credentials is required with a scheme",
                ));
            };
            header_safe("authentication.credentials", &credentials, MAX_CREDENTIALS)?;
            (Some(scheme.clone()), Some(credentials))
        }
    };
    Ok(PushConfig {
        task_id: String::new(),
        id: c.id.clone(),
        url: c.url.clone(),
        token,
        auth_scheme: scheme,
        auth_credentials: credentials,
        created_at: now,
    })
}

impl PushConfig {
    /// The config of task `task_id`; without an id of its own, its id is the task's (as the
    /// official SDKs default it).
    pub fn for_task(mut self, task_id: &str) -> Self {
        self.task_id = task_id.to_string();
        if self.id.is_empty() {
            self.id = task_id.to_string();
        }
        self
    }
}

/// A value sent back in a header: visible ASCII and spaces only, bounded.
fn header_safe(field: &str, value: &str, max: usize) -> std::result::Result<(), RpcError> {
    if value.len() > max || !value.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return Err(RpcError::invalid_params(format!(
            "{field} must be at most {max} visible ASCII characters"
        )));
    }
    Ok(())
}

/// Saves a config of the poster's task (replacing the one of the same id), within the limit.
pub async fn save(tx: &mut Transaction<'_>, config: &PushConfig) -> Result<()> {
    let existing = tx
        .push_configs_of(std::slice::from_ref(&config.task_id))
        .await?;
    let replaces = existing.iter().any(|c| c.id == config.id);
    if !replaces && existing.len() >= MAX_PER_TASK {
        return Err(crate::error::Error::bad_request(format!(
            "A task has at most {MAX_PER_TASK} push notification configs"
        )));
    }
    Ok(tx.save_push_config(config).await?)
}

/// A stored config as the client sees it (the credentials it gave are not shown back).
pub fn wire(c: &PushConfig) -> TaskPushNotificationConfig {
    TaskPushNotificationConfig {
        tenant: String::new(),
        id: c.id.clone(),
        task_id: c.task_id.clone(),
        url: c.url.clone(),
        token: c.token.clone(),
        authentication: c.auth_scheme.clone().map(|scheme| AuthenticationInfo {
            scheme,
            credentials: None,
        }),
    }
}

/// Queues, inside the writing transaction, a push of each changed task to each of its
/// configs: its status (the task with its artifact, when this change delivered it). `changed` are the tasks
/// the transaction changed; `events` what it logged. Returns how many deliveries it queued.
pub async fn enqueue(
    tx: &mut Transaction<'_>,
    events: &[Event],
    changed: &BTreeSet<String>,
    now: Millis,
) -> Result<usize> {
    if changed.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = changed.iter().cloned().collect();
    let configs = tx.push_configs_of(&ids).await?;
    let mut queued = 0;
    let mut current: Option<View> = None;
    for config in &configs {
        if current.as_ref().is_none_or(|v| v.task.id != config.task_id) {
            let Some(task) = tx.task(&config.task_id).await? else {
                continue;
            };
            current = Some(mapping::view_of(tx, task, false).await?);
        }
        let view = current.as_ref().expect("read above");
        let event = events.iter().find(|e| e.task_id == config.task_id);
        let delivered = events
            .iter()
            .any(|e| e.task_id == config.task_id && e.kind() == EventKind::TaskDelivered);
        // A delivery is one notification with its result (two could arrive in either order).
        let (kind, body) = if delivered {
            (
                "a2a.task",
                StreamResponse::Task(view.to_task(Some(0), true)),
            )
        } else {
            (
                "a2a.status_update",
                StreamResponse::StatusUpdate(view.status_update()),
            )
        };
        let recipient = format!("{RECIPIENT}{}/{}", config.task_id, config.id);
        let body = serde_json::to_string(&body).expect("A2A types serialize");
        let event_id = event.map_or(0, |e| e.id);
        webhooks::queue(
            tx,
            event_id,
            &recipient,
            kind,
            config.url.clone(),
            body,
            now,
        )
        .await?;
        queued += 1;
    }
    Ok(queued)
}

/// What sending `delivery` takes (reads the push config of A2A pushes).
pub async fn sending(state: &AppState, delivery: &WebhookDelivery) -> Result<Sending> {
    let Some(key) = delivery.recipient.strip_prefix(RECIPIENT) else {
        return Ok(Sending::Webhook);
    };
    let Some((task_id, id)) = key.split_once('/') else {
        return Ok(Sending::Gone);
    };
    let (task_id, id) = (task_id.to_string(), id.to_string());
    let config = state
        .read(move |tx| {
            Box::pin(async move {
                Ok::<_, crate::error::Error>(
                    tx.push_configs_of(&[task_id])
                        .await?
                        .into_iter()
                        .find(|c| c.id == id),
                )
            })
        })
        .await?;
    let Some(config) = config else {
        return Ok(Sending::Gone);
    };
    let mut headers = Vec::new();
    if let Some(token) = &config.token {
        headers.push(("X-A2A-Notification-Token", token.clone()));
    }
    if let (Some(scheme), Some(credentials)) = (&config.auth_scheme, &config.auth_credentials) {
        headers.push(("Authorization", format!("{scheme} {credentials}")));
    }
    Ok(Sending::Push {
        token: config.token,
        headers,
    })
}
