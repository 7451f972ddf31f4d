-- Whether the agent has ever been the worker of system work about a task (matching or
-- verifying it). Such an agent may not claim those tasks; browse and pickup check every task
-- they read for it only for these agents, so that for all others a page costs no probe per
-- task. The triggers set it whatever statement makes the agent a system task's worker, and
-- nothing clears it.
ALTER TABLE agents ADD COLUMN did_system_work BOOLEAN NOT NULL DEFAULT FALSE;

CREATE FUNCTION system_worker_marked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agents SET did_system_work = TRUE WHERE id = NEW.worker_id AND NOT did_system_work;
    RETURN NULL;
END $$;

CREATE TRIGGER system_worker_insert AFTER INSERT ON tasks FOR EACH ROW
WHEN (NEW.parent_task_id IS NOT NULL AND NEW.worker_id IS NOT NULL)
EXECUTE FUNCTION system_worker_marked();

CREATE TRIGGER system_worker_update AFTER UPDATE OF worker_id ON tasks FOR EACH ROW
WHEN (NEW.parent_task_id IS NOT NULL AND NEW.worker_id IS NOT NULL
      AND NEW.worker_id IS DISTINCT FROM OLD.worker_id)
EXECUTE FUNCTION system_worker_marked();

UPDATE agents SET did_system_work = TRUE WHERE id IN (
    SELECT worker_id FROM tasks WHERE parent_task_id IS NOT NULL AND worker_id IS NOT NULL);
