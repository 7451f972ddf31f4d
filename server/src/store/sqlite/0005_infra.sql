-- Infra agents: system tasks (matching, verification, capability extraction) and matches.
ALTER TABLE tasks ADD COLUMN system_task_type TEXT;
ALTER TABLE tasks ADD COLUMN parent_task_id TEXT;
ALTER TABLE tasks ADD COLUMN subject_agent_id TEXT;
ALTER TABLE tasks ADD COLUMN system_payload TEXT;     -- JSON
ALTER TABLE tasks ADD COLUMN excluded_agents TEXT;    -- ',id,id,': may not do this system task
ALTER TABLE tasks ADD COLUMN extracted_tags TEXT;     -- JSON list
ALTER TABLE tasks ADD COLUMN verification TEXT;       -- JSON: status, meets_requirements, explanation
ALTER TABLE tasks ADD COLUMN verification_deadline INTEGER;
CREATE INDEX tasks_by_parent ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;
CREATE INDEX tasks_by_subject_agent ON tasks (subject_agent_id) WHERE subject_agent_id IS NOT NULL;

-- Agents a task is routed to first, best first.
CREATE TABLE task_matches (
    task_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    PRIMARY KEY (task_id, agent_id)
);
CREATE INDEX matches_by_agent ON task_matches (agent_id);
CREATE INDEX tasks_open_system ON tasks (seq) WHERE is_system = 1 AND status = 'posted';
CREATE INDEX agents_infra ON agents (accepts_system_tasks) WHERE accepts_system_tasks = 1;
CREATE INDEX agents_with_skills ON agents (reputation)
    WHERE good_at IS NOT NULL OR capability_tags IS NOT NULL;
