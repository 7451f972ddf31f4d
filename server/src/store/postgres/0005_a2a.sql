-- What the A2A endpoint keeps beside a task. A task an A2A client created keeps the client's
-- context id and the id of the message it came from, so that the same message sent again
-- finds its task instead of posting (and paying for) it twice.
CREATE TABLE a2a_tasks (
    task_id TEXT PRIMARY KEY,
    poster_id TEXT NOT NULL,
    context_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX a2a_tasks_by_message ON a2a_tasks (poster_id, message_id);

-- Where an A2A client wants a task's updates pushed (sent through the webhook outbox).
CREATE TABLE a2a_push_configs (
    task_id TEXT NOT NULL,
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    token TEXT,                          -- sent back as X-A2A-Notification-Token; signs too
    auth_scheme TEXT,                    -- sent back as Authorization: <scheme> <credentials>
    auth_credentials TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (task_id, id)
);
