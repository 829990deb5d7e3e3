-- Forms (Iaso's Form), their versions (an XLSForm converted to an XForm; both files in file storage)
-- and attachments (files the questions use, listed in the OpenRosa manifest).
CREATE TABLE forms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    -- The XLSForm's form_id, set by the first version and constant after.
    form_id TEXT,
    period_type TEXT,
    single_per_period BOOLEAN NOT NULL,
    periods_before_allowed BIGINT NOT NULL,
    periods_after_allowed BIGINT NOT NULL,
    device_field TEXT NOT NULL,
    location_field TEXT NOT NULL,
    derived BOOLEAN NOT NULL,
    label_keys TEXT NOT NULL,
    possible_fields TEXT NOT NULL,
    legend_threshold TEXT,
    change_request_mode TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX forms_account_name ON forms (account_id, name);
-- Iaso's rule: a form_id names one form of the account (deleted ones keep theirs: they may return).
CREATE UNIQUE INDEX forms_account_form_id ON forms (account_id, form_id) WHERE form_id IS NOT NULL;

CREATE TABLE form_projects (
    form_id BIGINT NOT NULL REFERENCES forms (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (form_id, project_id)
);
CREATE INDEX form_projects_project ON form_projects (project_id);

CREATE TABLE form_org_unit_types (
    form_id BIGINT NOT NULL REFERENCES forms (id) ON DELETE CASCADE,
    org_unit_type_id BIGINT NOT NULL REFERENCES org_unit_types (id) ON DELETE CASCADE,
    PRIMARY KEY (form_id, org_unit_type_id)
);

CREATE TABLE form_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    form_id BIGINT NOT NULL REFERENCES forms (id) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    file_key TEXT NOT NULL,
    xls_file_key TEXT,
    md5 TEXT NOT NULL,
    descriptor TEXT NOT NULL,
    possible_fields TEXT NOT NULL,
    start_period TEXT,
    end_period TEXT,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (form_id, version_id)
);

CREATE TABLE form_attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    form_id BIGINT NOT NULL REFERENCES forms (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    file_key TEXT NOT NULL,
    md5 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (form_id, name)
);
