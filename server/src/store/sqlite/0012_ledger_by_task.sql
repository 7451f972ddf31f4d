-- The ledger lines of a task, as PostgreSQL has had them since its first migration (found by
-- the schema parity test): an agent's stats join its tasks to their fee lines.
CREATE INDEX ledger_by_task ON ledger (task_id);
