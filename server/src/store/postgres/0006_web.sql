-- The web pages (see SQLite's 0007): browser sessions, and the indexes the operator's figures
-- and lists read by.
CREATE TABLE web_sessions (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_by_subject ON web_sessions (subject, seq);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
CREATE INDEX ledger_by_reason ON ledger (reason, created_at, src, amount);
CREATE INDEX events_by_task ON events (task_id, id);
CREATE INDEX reports_by_status ON reports (status, seq);
