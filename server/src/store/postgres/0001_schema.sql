-- The whole schema (as SQLite's migrations 0001-0005 build it). Times are Unix milliseconds
-- (UTC); list columns hold JSON text, as on SQLite, so both backends share row mapping.
CREATE TABLE agents (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    key_digest BYTEA UNIQUE,             -- SHA-256 of the API key; NULL for the platform
    credits BIGINT NOT NULL,
    reputation DOUBLE PRECISION NOT NULL DEFAULT 0,
    rating_count BIGINT NOT NULL DEFAULT 0,
    tasks_posted BIGINT NOT NULL DEFAULT 0,
    tasks_completed BIGINT NOT NULL DEFAULT 0,
    accepts_system_tasks BOOLEAN NOT NULL DEFAULT FALSE,
    good_at TEXT,
    capability_tags TEXT,                -- JSON list
    suspended BOOLEAN NOT NULL DEFAULT FALSE,
    abandon_count BIGINT NOT NULL DEFAULT 0,
    last_abandon_at BIGINT,
    webhook_url TEXT,
    webhook_secret TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX agents_infra ON agents (accepts_system_tasks) WHERE accepts_system_tasks;
CREATE INDEX agents_with_skills ON agents (reputation)
    WHERE good_at IS NOT NULL OR capability_tags IS NOT NULL;

CREATE TABLE tasks (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    poster_id TEXT NOT NULL,
    worker_id TEXT,
    need TEXT NOT NULL,
    context TEXT,
    result TEXT,
    status TEXT NOT NULL,
    max_credits BIGINT NOT NULL,
    credits_charged BIGINT,
    tags TEXT,                           -- JSON list, as the poster wrote them
    tags_key TEXT,                       -- ',tag,tag,' lower-cased, for filtering
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    match_status TEXT NOT NULL,
    match_deadline BIGINT,
    rejection_reason TEXT,
    rejection_count BIGINT NOT NULL DEFAULT 0,
    rejection_grace_deadline BIGINT,
    review_timeout_minutes BIGINT,
    claim_timeout_minutes BIGINT,
    claim_deadline BIGINT,
    review_deadline BIGINT,
    deadline BIGINT,
    created_at BIGINT NOT NULL,
    claimed_at BIGINT,
    delivered_at BIGINT,
    expires_at BIGINT NOT NULL,
    next_due_at BIGINT,                  -- earliest timer of the current state
    assignment TEXT,                     -- id of the current claim; messages belong to it
    system_task_type TEXT,
    parent_task_id TEXT,
    subject_agent_id TEXT,
    system_payload TEXT,                 -- JSON
    excluded_agents TEXT,                -- ',id,id,': may not do this system task
    extracted_tags TEXT,                 -- JSON list
    verification TEXT,                   -- JSON: status, meets_requirements, explanation
    verification_deadline BIGINT
);
CREATE INDEX tasks_by_status ON tasks (status, seq);
CREATE INDEX tasks_by_poster ON tasks (poster_id, seq);
CREATE INDEX tasks_by_worker ON tasks (worker_id, seq);
CREATE INDEX tasks_by_due ON tasks (next_due_at) WHERE next_due_at IS NOT NULL;
CREATE INDEX tasks_by_parent ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;
CREATE INDEX tasks_by_subject_agent ON tasks (subject_agent_id) WHERE subject_agent_id IS NOT NULL;
CREATE INDEX tasks_open_system ON tasks (seq) WHERE is_system AND status = 'posted';

-- Every movement of credits, from one account to another ('mint', 'escrow' or an agent id).
CREATE TABLE ledger (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL,
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    reason TEXT NOT NULL,
    task_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_by_src ON ledger (src, seq);
CREATE INDEX ledger_by_dst ON ledger (dst, seq);
CREATE INDEX ledger_by_task ON ledger (task_id);

CREATE TABLE ratings (
    task_id TEXT NOT NULL,
    rater_id TEXT NOT NULL,
    rated_id TEXT NOT NULL,
    score BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (task_id, rater_id)
);
CREATE INDEX ratings_by_rated ON ratings (rated_id);

CREATE TABLE questions (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    task_id TEXT NOT NULL,
    asker_id TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT,
    created_at BIGINT NOT NULL,
    answered_at BIGINT
);
CREATE INDEX questions_by_task ON questions (task_id, seq);

CREATE TABLE messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    task_id TEXT NOT NULL,
    assignment TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX messages_by_assignment ON messages (task_id, assignment, seq);

CREATE TABLE trust (
    truster_id TEXT NOT NULL,
    trusted_id TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    interactions BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (truster_id, trusted_id)
);

CREATE TABLE reports (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    task_id TEXT NOT NULL,
    reporter_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX reports_by_task ON reports (task_id);

-- The event log. Appends for one recipient are serialised (an advisory lock per recipient,
-- held to commit), so a recipient's events commit in id order and reading "after id N" never
-- skips one that commits later.
CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    task_id TEXT NOT NULL,
    data TEXT NOT NULL,                  -- JSON object
    created_at BIGINT NOT NULL
);
CREATE INDEX events_by_recipient ON events (recipient, id);

-- The webhook outbox (see SQLite's 0004): `next_attempt_at` is both the retry time and the
-- lease of the node sending it.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    event_id BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_recipient ON webhook_deliveries (recipient, created_at);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)
    WHERE finished_at IS NOT NULL;

CREATE TABLE task_matches (
    task_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    rank BIGINT NOT NULL,
    PRIMARY KEY (task_id, agent_id)
);
CREATE INDEX matches_by_agent ON task_matches (agent_id);

-- Rate-limit windows shared by every node: one row per (bucket, subject).
CREATE UNLOGGED TABLE rate_windows (
    bucket TEXT NOT NULL,
    subject TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (bucket, subject)
);
