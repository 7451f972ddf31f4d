-- Credits that cannot be farmed (issue 14) and private tasks (issue 13).
ALTER TABLE tasks ADD COLUMN private INTEGER NOT NULL DEFAULT 0; -- kept away from infra agents
ALTER TABLE tasks ADD COLUMN payer_id TEXT;   -- who funded a system task's escrow
ALTER TABLE tasks ADD COLUMN feedback TEXT;   -- the poster's last approve/reject feedback
-- System work an agent has in escrow.
CREATE INDEX tasks_by_payer ON tasks (payer_id)
    WHERE payer_id IS NOT NULL AND status IN ('posted', 'claimed', 'delivered');
-- An agent's current claims (the cap on claims held at once), whatever its history.
CREATE INDEX tasks_claimed_by_worker ON tasks (worker_id) WHERE status = 'claimed';
-- Unanswered questions of a task, whatever its answered ones.
CREATE INDEX questions_open ON questions (task_id) WHERE answer IS NULL;
