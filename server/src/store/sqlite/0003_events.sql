-- The event log: every event once, in commit order, kept for the retention period so that
-- streams can replay what a client missed (Last-Event-ID).
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    task_id TEXT NOT NULL,
    data TEXT NOT NULL,                  -- JSON object
    created_at INTEGER NOT NULL
);
CREATE INDEX events_by_recipient ON events (recipient, id);
