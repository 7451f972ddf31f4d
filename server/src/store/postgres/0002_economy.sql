-- Credits that cannot be farmed (issue 14) and private tasks (issue 13); see SQLite's 0007.
ALTER TABLE tasks ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tasks ADD COLUMN payer_id TEXT;
ALTER TABLE tasks ADD COLUMN feedback TEXT;
CREATE INDEX tasks_by_payer ON tasks (payer_id)
    WHERE payer_id IS NOT NULL AND status IN ('posted', 'claimed', 'delivered');
CREATE INDEX tasks_claimed_by_worker ON tasks (worker_id) WHERE status = 'claimed';
CREATE INDEX questions_open ON questions (task_id) WHERE answer IS NULL;
