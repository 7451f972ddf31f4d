//! Retention: what grows with the marketplace's age is forgotten once past its retention
//! period. Each prune statement touches at most `batch` rows found through an index, so a
//! backlog is cleared over several short transactions and never holds SQLite's single writer
//! (or a PostgreSQL connection) for long.

use super::Result;
use super::sql::{Transaction, args};
use crate::model::Millis;

/// What a prune forgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prune {
    /// Rate-limit windows that started before the cut-off.
    RateWindows,
    /// Events logged before the cut-off (the replay log).
    Events,
    /// Webhook deliveries that finished (delivered or failed) before the cut-off.
    WebhookDeliveries,
    /// The payloads of finished system tasks posted before the cut-off; the task stays (the
    /// books), only its bulky input goes.
    SystemPayloads,
}

impl Prune {
    pub const ALL: [Prune; 4] = [
        Prune::RateWindows,
        Prune::Events,
        Prune::WebhookDeliveries,
        Prune::SystemPayloads,
    ];

    /// `$1` is the cut-off, `$2` the batch.
    fn sql(self) -> &'static str {
        match self {
            // By `rate_windows_by_start`. Any `batch` of the expired rows will do: no sort,
            // so the index scan stops at the batch, whatever the backlog.
            Prune::RateWindows => {
                "DELETE FROM rate_windows WHERE (bucket, subject) IN (SELECT bucket, subject \
                 FROM rate_windows WHERE window_start < $1 LIMIT $2)"
            }
            // Ids follow time, so the expired events are the oldest ids: only the `batch`
            // oldest (the primary key's first rows) are looked at, and no index on the time is
            // needed. A pass that finds a younger event among them stops there.
            Prune::Events => {
                "DELETE FROM events WHERE id IN (SELECT id FROM \
                 (SELECT id, created_at FROM events ORDER BY id LIMIT $2) AS oldest \
                 WHERE created_at < $1)"
            }
            // By `webhook_deliveries_finished`, likewise unsorted.
            Prune::WebhookDeliveries => {
                "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
                 WHERE finished_at IS NOT NULL AND finished_at < $1 LIMIT $2)"
            }
            // By `tasks_system_payload` (its condition spelled the same, so that both
            // planners match it), likewise unsorted. A finished task never changes again, so
            // clearing the column races no compare-and-set.
            Prune::SystemPayloads => {
                "UPDATE tasks SET system_payload = NULL WHERE seq IN (SELECT seq FROM tasks \
                 WHERE is_system AND system_payload IS NOT NULL \
                 AND status IN ('approved', 'expired', 'cancelled') AND created_at < $1 \
                 LIMIT $2)"
            }
        }
    }
}

impl Transaction<'_> {
    /// Forgets at most `batch` rows of `what` older than `before`; returns how many.
    pub async fn prune(&mut self, what: Prune, before: Millis, batch: i64) -> Result<usize> {
        Ok(self.execute(what.sql(), args![before, batch]).await? as usize)
    }
}
