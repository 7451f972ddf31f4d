-- The open board: the tasks anyone may claim (posted, not system work, not reserved for the
-- agents they were matched to), indexed so that browse and pickup read a page of them, not
-- all of them. Triggers keep it, so no statement that changes a task can forget it.

-- One row per open task and tag, plus one with the empty tag for every open task, ordered as
-- browsing orders tasks that share as many tags with the viewer: the poster's reputation
-- (kept here when it changes), then age.
CREATE TABLE open_task_tags (
    tag TEXT NOT NULL,
    seq INTEGER NOT NULL,
    task_id TEXT NOT NULL,
    poster_id TEXT NOT NULL,
    poster_reputation REAL NOT NULL,
    PRIMARY KEY (tag, seq)
);
-- It holds the columns the lists read, so that they read it alone.
CREATE INDEX open_task_tags_order
    ON open_task_tags (tag, poster_reputation DESC, seq, poster_id, task_id);
CREATE INDEX open_task_tags_by_poster ON open_task_tags (poster_id);

-- The open tasks' text, for `search`: trigram tokens match any substring of 3 or more
-- characters, case-insensitively. The rowid is the task's seq.
CREATE VIRTUAL TABLE open_task_text USING fts5(need, context, tokenize = 'trigram');

CREATE TRIGGER open_board_insert AFTER INSERT ON tasks
WHEN NEW.status = 'posted' AND NEW.is_system = FALSE
     AND NEW.match_status IN ('broadcast', 'pending')
BEGIN
    INSERT INTO open_task_tags (tag, seq, task_id, poster_id, poster_reputation)
    SELECT tags.value, NEW.seq, NEW.id, NEW.poster_id,
           coalesce((SELECT reputation FROM agents WHERE id = NEW.poster_id), 0.0)
    FROM (SELECT '' AS value UNION
          SELECT value FROM json_each('["' || replace(trim(coalesce(NEW.tags_key, ''), ','),
                                                      ',', '","') || '"]')
          WHERE value <> '') AS tags;
    INSERT INTO open_task_text (rowid, need, context)
    VALUES (NEW.seq, NEW.need, coalesce(NEW.context, ''));
END;

-- A task joins or leaves the board, or its tags change: its rows are rewritten.
CREATE TRIGGER open_board_update AFTER UPDATE OF status, match_status, tags_key ON tasks
WHEN (OLD.status IS NOT NEW.status OR OLD.match_status IS NOT NEW.match_status
      OR OLD.tags_key IS NOT NEW.tags_key)
     AND ((OLD.status = 'posted' AND OLD.is_system = FALSE
           AND OLD.match_status IN ('broadcast', 'pending'))
       OR (NEW.status = 'posted' AND NEW.is_system = FALSE
           AND NEW.match_status IN ('broadcast', 'pending')))
BEGIN
    DELETE FROM open_task_tags WHERE tag = '' AND seq = OLD.seq;
    DELETE FROM open_task_tags WHERE seq = OLD.seq AND tag IN (
        SELECT value FROM json_each('["' || replace(trim(coalesce(OLD.tags_key, ''), ','),
                                                    ',', '","') || '"]'));
    DELETE FROM open_task_text WHERE rowid = OLD.seq;
    INSERT INTO open_task_tags (tag, seq, task_id, poster_id, poster_reputation)
    SELECT tags.value, NEW.seq, NEW.id, NEW.poster_id,
           coalesce((SELECT reputation FROM agents WHERE id = NEW.poster_id), 0.0)
    FROM (SELECT '' AS value UNION
          SELECT value FROM json_each('["' || replace(trim(coalesce(NEW.tags_key, ''), ','),
                                                      ',', '","') || '"]')
          WHERE value <> '') AS tags
    WHERE NEW.status = 'posted' AND NEW.is_system = FALSE
          AND NEW.match_status IN ('broadcast', 'pending');
    INSERT INTO open_task_text (rowid, need, context)
    SELECT NEW.seq, NEW.need, coalesce(NEW.context, '')
    WHERE NEW.status = 'posted' AND NEW.is_system = FALSE
          AND NEW.match_status IN ('broadcast', 'pending');
END;

CREATE TRIGGER open_board_reputation AFTER UPDATE OF reputation ON agents
WHEN OLD.reputation IS NOT NEW.reputation
BEGIN
    UPDATE open_task_tags SET poster_reputation = NEW.reputation WHERE poster_id = NEW.id;
END;

-- The tasks open now.
INSERT INTO open_task_tags (tag, seq, task_id, poster_id, poster_reputation)
SELECT tags.value, t.seq, t.id, t.poster_id, coalesce(a.reputation, 0.0)
FROM tasks t
LEFT JOIN agents a ON a.id = t.poster_id
JOIN (SELECT seq, '' AS value FROM tasks
      UNION
      SELECT x.seq, j.value FROM tasks x,
             json_each('["' || replace(trim(coalesce(x.tags_key, ''), ','), ',', '","') || '"]') j
      WHERE j.value <> '') AS tags ON tags.seq = t.seq
WHERE t.status = 'posted' AND t.is_system = FALSE AND t.match_status IN ('broadcast', 'pending');
INSERT INTO open_task_text (rowid, need, context)
SELECT seq, need, coalesce(context, '') FROM tasks
WHERE status = 'posted' AND is_system = FALSE AND match_status IN ('broadcast', 'pending');
