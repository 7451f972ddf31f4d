-- Agents, tasks, the double-entry ledger and ratings. Times are Unix milliseconds (UTC).
CREATE TABLE agents (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    key_digest BLOB UNIQUE,              -- SHA-256 of the API key; NULL for the platform
    credits INTEGER NOT NULL,
    reputation REAL NOT NULL DEFAULT 0,
    rating_count INTEGER NOT NULL DEFAULT 0,
    tasks_posted INTEGER NOT NULL DEFAULT 0,
    tasks_completed INTEGER NOT NULL DEFAULT 0,
    accepts_system_tasks INTEGER NOT NULL DEFAULT 0,
    good_at TEXT,
    capability_tags TEXT,                -- JSON list
    suspended INTEGER NOT NULL DEFAULT 0,
    abandon_count INTEGER NOT NULL DEFAULT 0,
    last_abandon_at INTEGER,
    webhook_url TEXT,
    webhook_secret TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    poster_id TEXT NOT NULL,
    worker_id TEXT,
    need TEXT NOT NULL,
    context TEXT,
    result TEXT,
    status TEXT NOT NULL,
    max_credits INTEGER NOT NULL,
    credits_charged INTEGER,
    tags TEXT,                           -- JSON list, as the poster wrote them
    tags_key TEXT,                       -- ',tag,tag,' lower-cased, for filtering
    is_system INTEGER NOT NULL DEFAULT 0,
    match_status TEXT NOT NULL,
    match_deadline INTEGER,
    rejection_reason TEXT,
    rejection_count INTEGER NOT NULL DEFAULT 0,
    rejection_grace_deadline INTEGER,
    review_timeout_minutes INTEGER,
    claim_timeout_minutes INTEGER,
    claim_deadline INTEGER,
    review_deadline INTEGER,
    deadline INTEGER,
    created_at INTEGER NOT NULL,
    claimed_at INTEGER,
    delivered_at INTEGER,
    expires_at INTEGER NOT NULL,
    next_due_at INTEGER                  -- earliest timer of the current state
);
CREATE INDEX tasks_by_status ON tasks (status, seq);
CREATE INDEX tasks_by_poster ON tasks (poster_id, seq);
CREATE INDEX tasks_by_worker ON tasks (worker_id, seq);
CREATE INDEX tasks_by_due ON tasks (next_due_at) WHERE next_due_at IS NOT NULL;

-- Every movement of credits, from one account to another ('mint', 'escrow' or an agent id).
CREATE TABLE ledger (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    reason TEXT NOT NULL,
    task_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX ledger_by_src ON ledger (src, seq);
CREATE INDEX ledger_by_dst ON ledger (dst, seq);

CREATE TABLE ratings (
    task_id TEXT NOT NULL,
    rater_id TEXT NOT NULL,
    rated_id TEXT NOT NULL,
    score INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (task_id, rater_id)
);
CREATE INDEX ratings_by_rated ON ratings (rated_id);
