-- Submissions (Iaso's Instance): one filled form about one org unit. The XML is kept in file
-- storage as the record; every XML an edit replaced stays in submission_versions. A submission
-- may exist before its XML (the phone's metadata call came first: file_key is NULL until then).
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    uuid TEXT NOT NULL,
    file_name TEXT NOT NULL,
    form_id BIGINT REFERENCES forms (id),
    form_version_id BIGINT REFERENCES form_versions (id) ON DELETE SET NULL,
    project_id BIGINT REFERENCES projects (id) ON DELETE SET NULL,
    org_unit_id BIGINT REFERENCES org_units (id) ON DELETE SET NULL,
    period TEXT,
    file_key TEXT,
    xml_md5 TEXT,
    json TEXT,
    answers TEXT,
    latitude REAL,
    longitude REAL,
    altitude REAL,
    accuracy REAL,
    device_id TEXT,
    name TEXT,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    last_modified_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    source_created_at TEXT,
    source_updated_at TEXT,
    deleted BOOLEAN NOT NULL,
    export_id TEXT NOT NULL,
    last_export_success_at TEXT,
    edits BIGINT NOT NULL
);
-- The client's id names one submission of the account; the phone's two calls meet on the file name.
CREATE UNIQUE INDEX submissions_account_uuid ON submissions (account_id, uuid);
CREATE INDEX submissions_account_file_name ON submissions (account_id, file_name);
CREATE INDEX submissions_account_form ON submissions (account_id, form_id, updated_at);
CREATE INDEX submissions_org_unit ON submissions (org_unit_id, period);

-- The XMLs an edit replaced, oldest first.
CREATE TABLE submission_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id BIGINT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    uuid TEXT NOT NULL,
    file_key TEXT NOT NULL,
    xml_md5 TEXT NOT NULL,
    replaced_at TEXT NOT NULL
);
CREATE INDEX submission_versions_submission ON submission_versions (submission_id);

CREATE TABLE submission_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id BIGINT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    file_key TEXT NOT NULL,
    md5 TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (submission_id, name)
);

-- What clients sent, stored before it is read: kept whether processing worked or not.
CREATE TABLE submission_payloads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT REFERENCES accounts (id),
    channel TEXT NOT NULL,
    file_key TEXT NOT NULL,
    size BIGINT NOT NULL,
    received_at TEXT NOT NULL,
    processed_at TEXT,
    error TEXT,
    submission_id BIGINT REFERENCES submissions (id) ON DELETE SET NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    project_id BIGINT REFERENCES projects (id) ON DELETE SET NULL
);
CREATE INDEX submission_payloads_unprocessed ON submission_payloads (processed_at, error);
