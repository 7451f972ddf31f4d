-- The open board: the tasks anyone may claim (posted, not system work, not reserved for the
-- agents they were matched to), indexed so that browse and pickup read a page of them, not
-- all of them. Triggers keep it, so no statement that changes a task can forget it.
-- (SQLite's migration 0014 builds the same.)

-- One row per open task and tag, plus one with the empty tag for every open task, ordered as
-- browsing orders tasks that share as many tags with the viewer: the poster's reputation
-- (kept here when it changes), then age.
CREATE TABLE open_task_tags (
    tag TEXT NOT NULL,
    seq BIGINT NOT NULL,
    task_id TEXT NOT NULL,
    poster_id TEXT NOT NULL,
    poster_reputation DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tag, seq)
);
-- It holds the columns the lists read, so that they read it alone.
CREATE INDEX open_task_tags_order
    ON open_task_tags (tag, poster_reputation DESC, seq, poster_id, task_id);
CREATE INDEX open_task_tags_by_poster ON open_task_tags (poster_id);

-- The open tasks' text, for `search`: trigram indexes serve ILIKE '%text%' for 3 or more
-- characters (SQLite keeps an FTS5 trigram table instead).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX open_task_need_trgm ON tasks USING gin (need gin_trgm_ops)
    WHERE status = 'posted' AND is_system = FALSE AND match_status IN ('broadcast', 'pending');
CREATE INDEX open_task_context_trgm ON tasks USING gin (context gin_trgm_ops)
    WHERE status = 'posted' AND is_system = FALSE AND match_status IN ('broadcast', 'pending');

CREATE FUNCTION open_board_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM open_task_tags WHERE tag = '' AND seq = OLD.seq;
        DELETE FROM open_task_tags WHERE seq = OLD.seq AND tag = ANY (
            string_to_array(trim(both ',' from coalesce(OLD.tags_key, '')), ','));
    END IF;
    IF NEW.status = 'posted' AND NEW.is_system = FALSE
       AND NEW.match_status IN ('broadcast', 'pending') THEN
        INSERT INTO open_task_tags (tag, seq, task_id, poster_id, poster_reputation)
        SELECT DISTINCT tag, NEW.seq, NEW.id, NEW.poster_id,
               coalesce((SELECT reputation FROM agents WHERE id = NEW.poster_id), 0.0)
        FROM unnest(array_prepend('',
             string_to_array(trim(both ',' from coalesce(NEW.tags_key, '')), ','))) AS tag
        WHERE tag IS NOT NULL;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER open_board_insert AFTER INSERT ON tasks FOR EACH ROW
WHEN (NEW.status = 'posted' AND NEW.is_system = FALSE
      AND NEW.match_status IN ('broadcast', 'pending'))
EXECUTE FUNCTION open_board_sync();

-- A task joins or leaves the board, or its tags change: its rows are rewritten.
CREATE TRIGGER open_board_update AFTER UPDATE OF status, match_status, tags_key ON tasks
FOR EACH ROW
WHEN ((OLD.status IS DISTINCT FROM NEW.status OR OLD.match_status IS DISTINCT FROM NEW.match_status
       OR OLD.tags_key IS DISTINCT FROM NEW.tags_key)
      AND ((OLD.status = 'posted' AND OLD.is_system = FALSE
            AND OLD.match_status IN ('broadcast', 'pending'))
        OR (NEW.status = 'posted' AND NEW.is_system = FALSE
            AND NEW.match_status IN ('broadcast', 'pending'))))
EXECUTE FUNCTION open_board_sync();

CREATE FUNCTION open_board_reputation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE open_task_tags SET poster_reputation = NEW.reputation WHERE poster_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER open_board_reputation AFTER UPDATE OF reputation ON agents FOR EACH ROW
WHEN (OLD.reputation IS DISTINCT FROM NEW.reputation)
EXECUTE FUNCTION open_board_reputation();

-- The tasks open now.
INSERT INTO open_task_tags (tag, seq, task_id, poster_id, poster_reputation)
SELECT DISTINCT tag, t.seq, t.id, t.poster_id, coalesce(a.reputation, 0.0)
FROM tasks t
LEFT JOIN agents a ON a.id = t.poster_id
CROSS JOIN LATERAL unnest(array_prepend('',
     string_to_array(trim(both ',' from coalesce(t.tags_key, '')), ','))) AS tag
WHERE t.status = 'posted' AND t.is_system = FALSE AND t.match_status IN ('broadcast', 'pending');
