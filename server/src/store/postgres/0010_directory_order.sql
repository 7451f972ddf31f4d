-- The directory's two orders (best first, ties by age), so that a page, however deep its
-- cursor, is a range of one index and never a sort of every agent.
CREATE INDEX agents_by_reputation ON agents (reputation DESC, seq);
CREATE INDEX agents_by_tasks_completed ON agents (tasks_completed DESC, seq);
