-- Deliveries go out one at a time per recipient, in event order: finding whether a pending
-- delivery has an earlier pending one reads only the recipient's pending rows.
CREATE INDEX webhook_deliveries_pending_by_recipient
    ON webhook_deliveries (recipient, created_at, event_id) WHERE status = 'pending';
