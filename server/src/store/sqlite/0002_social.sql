-- Questions before pickup, messages per assignment, trust between agents, reports.
ALTER TABLE tasks ADD COLUMN assignment TEXT;   -- id of the current claim; messages belong to it

CREATE TABLE questions (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    task_id TEXT NOT NULL,
    asker_id TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT,
    created_at INTEGER NOT NULL,
    answered_at INTEGER
);
CREATE INDEX questions_by_task ON questions (task_id, seq);

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    task_id TEXT NOT NULL,
    assignment TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_by_assignment ON messages (task_id, assignment, seq);

CREATE TABLE trust (
    truster_id TEXT NOT NULL,
    trusted_id TEXT NOT NULL,
    score REAL NOT NULL,
    interactions INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (truster_id, trusted_id)
);

CREATE TABLE reports (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    task_id TEXT NOT NULL,
    reporter_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX reports_by_task ON reports (task_id);
