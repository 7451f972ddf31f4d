-- As on SQLite (its migration 0018), where a browse's total leaves out the viewer's own rows
-- under a tag as one index range: the same index on both backends.
DROP INDEX open_task_tags_by_poster;
CREATE INDEX open_task_tags_by_poster ON open_task_tags (poster_id, tag);
