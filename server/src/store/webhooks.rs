//! The webhook outbox: deliveries queued with their events, taken under a lease, recorded.

use super::query::Dialect;
use super::rows::{self, DELIVERY_COLUMNS, EARLIER_PENDING};
use super::sql::{Transaction, args};
use super::{AttemptRecord, DeliveryStatus, DueWebhook, Result, WebhookDelivery};
use crate::model::Millis;

impl Transaction<'_> {
    pub async fn insert_webhook_delivery(&mut self, d: &WebhookDelivery) -> Result<()> {
        self.execute(
            "INSERT INTO webhook_deliveries (id, event_id, recipient, kind, url, body, \
             status, attempts, next_attempt_at, last_status, last_error, created_at, \
             finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            args![
                &d.id,
                d.event_id,
                &d.recipient,
                &d.kind,
                &d.url,
                &d.body,
                d.status.as_str(),
                d.attempts,
                d.next_attempt_at,
                d.last_status,
                &d.last_error,
                d.created_at,
                d.finished_at,
            ],
        )
        .await?;
        Ok(())
    }

    /// Takes up to `limit` pending deliveries due at `now`, oldest first: counts an attempt
    /// on each and leases it until `lease_until` (its `next_attempt_at`), so that no other
    /// node takes it meanwhile. Returns them (as updated) with the recipient's current secret.
    pub async fn take_due_webhooks(
        &mut self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> Result<Vec<DueWebhook>> {
        // Rows another node is taking right now are skipped, not waited for.
        let skip_locked = match self.dialect() {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        // The returned columns are bare: SQLite's RETURNING names the updated table's own.
        let returned = DELIVERY_COLUMNS.replace("d.", "");
        let sql = format!(
            "UPDATE webhook_deliveries AS d SET attempts = d.attempts + 1, \
             next_attempt_at = $2 \
             FROM (SELECT id AS due_id FROM webhook_deliveries d WHERE status = 'pending' \
                   AND next_attempt_at <= $1 AND NOT EXISTS ({EARLIER_PENDING}) \
                   ORDER BY next_attempt_at, created_at LIMIT $3{skip_locked}) AS due \
             WHERE d.id = due.due_id \
             RETURNING {returned}, \
             (SELECT webhook_secret FROM agents a WHERE a.id = recipient) AS secret"
        );
        let mut taken = self
            .fetch_all(&sql, args![now, lease_until, limit], |r| {
                Ok(DueWebhook {
                    delivery: rows::delivery_from(r)?,
                    secret: r.opt_text("secret")?,
                })
            })
            .await?;
        taken.sort_by_key(|t| (t.delivery.created_at, t.delivery.event_id));
        Ok(taken)
    }

    /// Records the outcome of attempt number `attempt`, only if the delivery is still pending
    /// at that attempt (a stale sender whose lease ran out changes nothing); returns whether
    /// it did.
    pub async fn record_webhook_attempt(
        &mut self,
        id: &str,
        attempt: i64,
        record: &AttemptRecord,
        now: Millis,
    ) -> Result<bool> {
        let finished_at = (record.status != DeliveryStatus::Pending).then_some(now);
        let changed = self
            .execute(
                "UPDATE webhook_deliveries SET status = $3, next_attempt_at = $4, \
                 last_status = $5, last_error = $6, finished_at = $7 \
                 WHERE id = $1 AND attempts = $2 AND status = 'pending'",
                args![
                    id,
                    attempt,
                    record.status.as_str(),
                    record.next_attempt_at,
                    record.last_status,
                    &record.last_error,
                    finished_at,
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// The agent's latest deliveries, newest first.
    pub async fn webhook_deliveries_of(
        &mut self,
        recipient: &str,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.recipient = $1 \
             ORDER BY d.created_at DESC, d.event_id DESC LIMIT $2"
        );
        self.fetch_all(&sql, args![recipient, limit], rows::delivery_from)
            .await
    }
}
