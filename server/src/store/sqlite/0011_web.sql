-- The web pages: browser sessions (only a digest of each session id is kept) and the indexes
-- the operator's figures and lists read by.
CREATE TABLE web_sessions (
    seq INTEGER PRIMARY KEY,             -- opening order (the oldest is dropped first)
    digest TEXT NOT NULL UNIQUE,         -- hex SHA-256 of the session id the cookie carries
    subject TEXT NOT NULL,               -- the agent's id, or the operator's subject
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_by_subject ON web_sessions (subject, seq);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
-- Hourly figures (posted, settled, refunded, fees) read only the last day's ledger lines.
CREATE INDEX ledger_by_reason ON ledger (reason, created_at, src, amount);
-- A task's timeline.
CREATE INDEX events_by_task ON events (task_id, id);
-- Reports waiting for review.
CREATE INDEX reports_by_status ON reports (status, seq);
