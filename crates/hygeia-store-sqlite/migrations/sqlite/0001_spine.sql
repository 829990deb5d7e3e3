-- Platform spine: accounts, users and profiles, projects, roles, sessions, secrets.
-- Same version and meaning as the PostgreSQL twin in the other backend crate.
-- AUTOINCREMENT everywhere: a deleted row's id is never given to a new one, so an old token or
-- link naming that id can never reach someone else.

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    default_version_id BIGINT,
    modules TEXT NOT NULL,
    feature_flags TEXT NOT NULL,
    user_manual_path TEXT NOT NULL DEFAULT '',
    forum_path TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- A login identity. Usernames are unique across the installation, as in Django.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
    is_staff BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    date_joined TEXT NOT NULL,
    -- Unix seconds; API tokens issued earlier are refused (set when the password changes).
    tokens_valid_from BIGINT NOT NULL DEFAULT 0,
    last_login TEXT
);

-- A user's membership of one account (Iaso's Profile).
CREATE TABLE profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    language TEXT,
    organization TEXT,
    phone_number TEXT,
    dhis2_id TEXT,
    home_page TEXT,
    color TEXT NOT NULL DEFAULT '#1976D2',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX profiles_account ON profiles (account_id);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    app_id TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    color TEXT NOT NULL DEFAULT '#1976D2',
    needs_authentication BOOLEAN NOT NULL DEFAULT TRUE,
    min_version BIGINT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX projects_account ON projects (account_id);

-- The global feature-flag catalogue (Iaso's FeatureFlag); projects pick from it.
CREATE TABLE feature_flags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT 'NA',
    requires_authentication BOOLEAN NOT NULL DEFAULT FALSE,
    position BIGINT NOT NULL DEFAULT 0,
    is_dangerous BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE project_feature_flags (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    feature_flag_id BIGINT NOT NULL REFERENCES feature_flags (id),
    PRIMARY KEY (project_id, feature_flag_id)
);

CREATE TABLE user_roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE user_role_permissions (
    user_role_id BIGINT NOT NULL REFERENCES user_roles (id) ON DELETE CASCADE,
    codename TEXT NOT NULL,
    PRIMARY KEY (user_role_id, codename)
);

CREATE TABLE profile_permissions (
    profile_id BIGINT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    codename TEXT NOT NULL,
    PRIMARY KEY (profile_id, codename)
);

CREATE TABLE profile_user_roles (
    profile_id BIGINT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    user_role_id BIGINT NOT NULL REFERENCES user_roles (id) ON DELETE CASCADE,
    PRIMARY KEY (profile_id, user_role_id)
);

-- A project that users are restricted to cannot be deleted: dropping the link would widen the
-- restriction to every project of the account.
CREATE TABLE profile_projects (
    profile_id BIGINT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
    PRIMARY KEY (profile_id, project_id)
);

-- Roots of the subtrees a user is restricted to. The org-unit table arrives with the georegistry,
-- which adds the reference check.
CREATE TABLE profile_org_units (
    profile_id BIGINT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    org_unit_id BIGINT NOT NULL,
    PRIMARY KEY (profile_id, org_unit_id)
);

-- Browser sessions: only a SHA-256 of the cookie value is kept. Times are Unix seconds.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Installation secrets generated on first start (e.g. the JWT signing key).
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO feature_flags (code, name, description, category, requires_authentication, position, is_dangerous, created_at, updated_at) VALUES
    ('INSTANT_EXPORT', 'Instant export', '', 'DCO', FALSE, 0, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('TAKE_GPS_ON_FORM', 'Take GPS on form', '', 'DCO', FALSE, 10, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('REQUIRE_AUTHENTICATION', 'Require authentication', '', 'NA', TRUE, 20, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('FORMS_AUTO_UPLOAD', 'Forms auto upload', '', 'DCO', FALSE, 30, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('LIMIT_OU_DOWNLOAD_TO_ROOTS', 'Limit org unit download to the user''s roots', '', 'REO', FALSE, 40, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_SYNCHRONIZE_WITH_ZIP', 'Synchronize with zip upload', '', 'DCO', FALSE, 50, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('HOME_OFFLINE', 'Offline home', '', 'NA', FALSE, 60, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_STOCK', 'Stock on mobile', '', 'STM', FALSE, 70, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('CHECK_POSITION_FOR_FORMS', 'Check position for forms', '', 'GEO', FALSE, 80, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('DATA_COLLECTION', 'Data collection', '', 'DCO', FALSE, 90, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('ENTITY', 'Entities', '', 'ENT', FALSE, 100, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('GPS_TRACKING', 'GPS tracking', '', 'GEO', FALSE, 110, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('TRANSPORT_TRACKING', 'Transport tracking', '', 'GEO', FALSE, 120, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_CHANGE_REQUESTS_TAB', 'Change requests tab', '', 'DAV', FALSE, 130, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_CHECK_FORMS_UPDATE', 'Check forms update', '', 'DCO', FALSE, 140, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_CHECK_OU_UPDATE', 'Check org units update', '', 'REO', FALSE, 150, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_FORCE_FORMS_UPDATE', 'Force forms update', '', 'DCO', FALSE, 160, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_FORCE_OU_UPDATE', 'Force org units update', '', 'REO', FALSE, 170, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_ENTITY_LIMITED_SEARCH', 'Limited entity search', '', 'ENT', FALSE, 180, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_ENTITY_NO_CREATION', 'No entity creation', '', 'ENT', FALSE, 190, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_ENTITY_WARN_WHEN_FOUND', 'Warn when entity found', '', 'ENT', FALSE, 200, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_FINALIZED_FORM_ARE_READ', 'Finalized forms are read-only', '', 'DCO', FALSE, 210, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_HIDE_CLOSED_ORG_UNIT', 'Hide closed org units', '', 'REO', FALSE, 220, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_NO_ORG_UNIT', 'No org unit', '', 'REO', FALSE, 230, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_ORG_UNIT_REGISTRY', 'Org unit registry', '', 'REO', FALSE, 240, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_SELECT_CLOSEST_ORG_UNIT', 'Select closest org unit', '', 'GEO', FALSE, 250, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_SUBMISSION_INCOMPLETE_BY_DEFAULT', 'Submissions incomplete by default', '', 'DCO', FALSE, 260, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_USE_ETHIOPIC_CALENDAR', 'Ethiopic calendar', '', 'NA', FALSE, 270, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('MOBILE_VALIDATION_WORKFLOW', 'Validation workflow', '', 'DAV', FALSE, 280, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('ORG_UNIT_CHANGE_REQUEST', 'Org unit change requests', '', 'DAV', FALSE, 290, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('PLANNING', 'Planning', '', 'PLA', FALSE, 300, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('REPORTS', 'Reports', '', 'NA', FALSE, 310, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('SHOW_DETAIL_MAP_ON_MOBILE', 'Detail map on mobile', '', 'GEO', FALSE, 320, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('SHOW_LINK_INSTANCE_REFERENCE', 'Link instance reference', '', 'DCO', FALSE, 330, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('WRITE_ON_NFC_CARDS', 'Write on NFC cards', '', 'ENT', FALSE, 340, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    ('NEEDS_AUTHENTICATION', 'Needs authentication', '', 'NA', TRUE, 350, FALSE, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'));
