-- How many rows each tag has on the open board, kept by triggers, so that the total of a
-- browse (open tasks under one tag, or all, less the viewer's own) is a row read, not a count
-- of up to 1,001 board rows. SQLite only: its single writer takes these updates in turn,
-- where on PostgreSQL every post and claim on every node would queue for the row of the
-- empty tag.
CREATE TABLE open_board_sizes (
    tag TEXT PRIMARY KEY,
    n INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER open_board_sizes_insert AFTER INSERT ON open_task_tags
BEGIN
    INSERT INTO open_board_sizes (tag, n) VALUES (NEW.tag, 1)
    ON CONFLICT (tag) DO UPDATE SET n = n + 1;
END;

-- A tag no open task has any more goes, so the table holds the tags in use, no more.
CREATE TRIGGER open_board_sizes_delete AFTER DELETE ON open_task_tags
BEGIN
    UPDATE open_board_sizes SET n = n - 1 WHERE tag = OLD.tag;
    DELETE FROM open_board_sizes WHERE tag = OLD.tag AND n <= 0;
END;

INSERT INTO open_board_sizes (tag, n) SELECT tag, count(*) FROM open_task_tags GROUP BY tag;

-- A viewer's own rows under a tag, which a browse's total leaves out, are one index range.
DROP INDEX open_task_tags_by_poster;
CREATE INDEX open_task_tags_by_poster ON open_task_tags (poster_id, tag);
