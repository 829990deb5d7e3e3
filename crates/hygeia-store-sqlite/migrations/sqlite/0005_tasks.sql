-- Background tasks: Iaso's task row, which is also the queue (attempts, lease, run_at).
-- Same version and meaning as the PostgreSQL twin in the other backend crate.

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCESS', 'ERRORED', 'KILLED', 'SKIPPED')),
    params TEXT NOT NULL,
    launcher_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    progress_value BIGINT NOT NULL DEFAULT 0,
    end_value BIGINT NOT NULL DEFAULT 0,
    progress_message TEXT,
    result TEXT,
    should_be_killed BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at TEXT NOT NULL,
    lease_owner TEXT,
    lease_expires_at TEXT
);
-- What workers claim from, and where the reaper looks for lost workers.
CREATE INDEX tasks_queued ON tasks (run_at, id) WHERE status = 'QUEUED';
CREATE INDEX tasks_leased ON tasks (lease_expires_at) WHERE status = 'RUNNING';
CREATE INDEX tasks_account ON tasks (account_id, created_at);

-- Every progress message, in order (Iaso's TaskLog).
CREATE TABLE task_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX task_logs_task ON task_logs (task_id, id);
