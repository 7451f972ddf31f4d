-- Retention: each prune deletes (or clears) in bounded batches found through an index, so a
-- backlog never holds the writer for long. Rate windows by their start; system tasks that
-- still carry a payload (open ones, and finished ones waiting to lose it) by status and age.
CREATE INDEX rate_windows_by_start ON rate_windows (window_start);
CREATE INDEX tasks_system_payload ON tasks (status, created_at)
    WHERE is_system AND system_payload IS NOT NULL;
