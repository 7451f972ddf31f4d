//! The timer loop. Every due time is indexed (`next_due_at`), so each tick is one cheap
//! query; each due task is then fired in its own transaction with a compare-and-set. Timers
//! that fell due while the server was down are simply due at the first tick after start.

use crate::app::AppState;
use crate::config::Config;
use crate::error::Result;
use crate::market::tasks as rules;
use crate::model::{DAY, HOUR, MINUTE, Millis};
use crate::store::Prune;
use std::time::Duration;
use tokio::sync::watch;

/// How often a node says it is alive; the dashboard counts a node gone after a few misses.
pub const NODE_HEARTBEAT: Millis = 15_000;

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let tick = Duration::from_millis(state.cfg.timer_tick_ms.max(10));
    let mut last_prune = 0;
    let mut last_beat = state.now();
    loop {
        if let Err(e) = fire_due(&state).await {
            tracing::error!(error = %e, "timer pass failed");
        }
        if let Err(e) = state.refresh_routing().await {
            tracing::error!(error = %e, "reading the routing hints failed");
        }
        if let Err(e) = state.refresh_views().await {
            tracing::error!(error = %e, "reading whether A2A push configs exist failed");
        }
        if state.now() - last_beat >= NODE_HEARTBEAT {
            last_beat = state.now();
            if let Err(e) = state.beat().await {
                tracing::error!(error = %e, "recording this node's heartbeat failed");
            }
        }
        if state.now() - last_prune >= MINUTE {
            last_prune = state.now();
            if let Err(e) = prune_expired(&state).await {
                tracing::error!(error = %e, "pruning what is past its retention failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Rows one prune statement forgets at most: a backlog is cleared over several short
/// transactions, so SQLite's single writer is never held for long.
pub const PRUNE_BATCH: i64 = 1_000;

/// Forgets what is past its retention period (see `retention`); returns how many rows.
pub async fn prune_expired(state: &AppState) -> Result<usize> {
    prune_in_batches(state, PRUNE_BATCH).await
}

/// `prune_expired` with `batch` rows per statement: each statement in a transaction of its
/// own, repeated while a full batch went.
pub async fn prune_in_batches(state: &AppState, batch: i64) -> Result<usize> {
    let now = state.now();
    let mut total = 0;
    for what in Prune::ALL {
        let before = now.saturating_sub(retention(&state.cfg, what));
        loop {
            let gone = state
                .store
                .write_one(move |tx| Box::pin(async move { tx.prune(what, before, batch).await }))
                .await?;
            total += gone;
            if (gone as i64) < batch {
                break;
            }
            // Let waiting work have the writer between batches.
            tokio::task::yield_now().await;
        }
    }
    Ok(total)
}

/// How long `what` is kept: rate windows for a day (the longest window); the webhook
/// deliveries and system payloads for their own settings, else the event log's.
pub fn retention(cfg: &Config, what: Prune) -> Millis {
    let hours = match what {
        Prune::RateWindows => return DAY,
        Prune::Events => None,
        Prune::WebhookDeliveries => cfg.webhook_retention_hours,
        Prune::SystemPayloads => cfg.system_payload_retention_hours,
    };
    hours
        .unwrap_or(cfg.event_retention_hours)
        .saturating_mul(HOUR)
}

/// Fires every timer due now; returns how many tasks it touched.
pub async fn fire_due(state: &AppState) -> Result<usize> {
    let now = state.now();
    let due = state
        .read(move |tx| Box::pin(async move { rules::due_tasks(tx, now).await }))
        .await?;
    for id in &due {
        let id = id.clone();
        // One task's failure must not hold back the others.
        if let Err(e) = state
            .write(move |tx, ctx| {
                Box::pin(async move { rules::fire_due_timers(tx, ctx, &id).await })
            })
            .await
        {
            tracing::error!(error = %e, "firing a timer failed");
        }
    }
    Ok(due.len())
}
