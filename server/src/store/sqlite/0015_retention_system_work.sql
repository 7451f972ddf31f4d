-- Retention: each prune deletes (or clears) in bounded batches found through an index, so a
-- backlog never holds the writer for long. Rate windows by their start; system tasks that
-- still carry a payload (open ones, and finished ones waiting to lose it) by status and age.
CREATE INDEX rate_windows_by_start ON rate_windows (window_start);
CREATE INDEX tasks_system_payload ON tasks (status, created_at)
    WHERE is_system AND system_payload IS NOT NULL;

-- Fewer statements per lifecycle: whether system work was ever funded about a task, so that
-- a task's view looks its system work up only then.
ALTER TABLE tasks ADD COLUMN system_work INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET system_work = 1 WHERE id IN
    (SELECT parent_task_id FROM tasks WHERE parent_task_id IS NOT NULL AND payer_id IS NOT NULL);
