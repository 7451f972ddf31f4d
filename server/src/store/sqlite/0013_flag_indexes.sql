-- Partial indexes on a flag, spelled as PostgreSQL's schema and the shared statements spell
-- the condition (a bare flag), so that the planner matches them.
DROP INDEX tasks_open_system;
CREATE INDEX tasks_open_system ON tasks (seq) WHERE is_system AND status = 'posted';
DROP INDEX agents_infra;
CREATE INDEX agents_infra ON agents (accepts_system_tasks) WHERE accepts_system_tasks;
