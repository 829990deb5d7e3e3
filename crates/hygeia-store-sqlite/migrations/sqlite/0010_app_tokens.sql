-- App tokens: a phone's server URL carries one (`/openrosa/key/{token}/{app_id}`) instead of a
-- password. Each acts as one user, within one project; only its SHA-256 is kept.
CREATE TABLE app_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX app_tokens_project ON app_tokens (account_id, project_id);
