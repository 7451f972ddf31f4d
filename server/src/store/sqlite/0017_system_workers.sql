-- Whether the agent has ever been the worker of system work about a task (matching or
-- verifying it). Such an agent may not claim those tasks; browse and pickup check every task
-- they read for it only for these agents, so that for all others a page costs no probe per
-- task. The triggers set it whatever statement makes the agent a system task's worker, and
-- nothing clears it.
ALTER TABLE agents ADD COLUMN did_system_work INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER system_worker_insert AFTER INSERT ON tasks
WHEN NEW.parent_task_id IS NOT NULL AND NEW.worker_id IS NOT NULL
BEGIN
    UPDATE agents SET did_system_work = 1 WHERE id = NEW.worker_id AND did_system_work = 0;
END;

CREATE TRIGGER system_worker_update AFTER UPDATE OF worker_id ON tasks
WHEN NEW.parent_task_id IS NOT NULL AND NEW.worker_id IS NOT NULL
     AND NEW.worker_id IS NOT OLD.worker_id
BEGIN
    UPDATE agents SET did_system_work = 1 WHERE id = NEW.worker_id AND did_system_work = 0;
END;

UPDATE agents SET did_system_work = 1 WHERE id IN (
    SELECT worker_id FROM tasks WHERE parent_task_id IS NOT NULL AND worker_id IS NOT NULL);
