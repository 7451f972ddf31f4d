-- The webhook outbox: one row per event for an agent with a webhook URL, written in the
-- transaction that logs the event, so a delivery exists if and only if its event committed
-- and survives restarts. `next_attempt_at` is both the retry time and the lease of a node
-- sending it (pushed past the attempt timeout when taken).
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,                 -- sent as X-Pinchwork-Delivery
    event_id INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,                  -- the exact JSON payload, the same on every attempt
    status TEXT NOT NULL DEFAULT 'pending', -- pending | delivered | failed
    attempts INTEGER NOT NULL DEFAULT 0, -- attempts started
    next_attempt_at INTEGER NOT NULL,
    last_status INTEGER,                 -- HTTP status of the last answer
    last_error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_recipient ON webhook_deliveries (recipient, created_at);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)
    WHERE finished_at IS NOT NULL;
