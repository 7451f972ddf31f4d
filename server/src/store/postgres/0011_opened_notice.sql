-- A task saved open (posted: new, released, its match window closed) tells the other nodes,
-- so that pickups parked there look again. Said by the statement that saves the task, it
-- costs no statement of its own; NOTIFY is delivered at commit, and only then, and one
-- transaction's identical notices are delivered once. `pinchwork.node` is set on each of a
-- node's connections, so the node skips its own notices (it has woken its pickups already).
CREATE FUNCTION task_opened_notice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pinchwork_events',
        coalesce(current_setting('pinchwork.node', true), '') || ' opened tasks');
    RETURN NULL;
END $$;

CREATE TRIGGER task_opened_insert AFTER INSERT ON tasks FOR EACH ROW
WHEN (NEW.status = 'posted')
EXECUTE FUNCTION task_opened_notice();

CREATE TRIGGER task_opened_update AFTER UPDATE OF status, match_status, tags_key ON tasks
FOR EACH ROW
WHEN (NEW.status = 'posted')
EXECUTE FUNCTION task_opened_notice();
