-- Georegistry: data sources and versions, org-unit types, org units, groups, audit log.
-- Same version and meaning as the PostgreSQL twin in the other backend crate.
-- account_id is copied onto every tenant-owned row (it never changes), so each query is scoped by a
-- plain indexed column instead of a chain of joins.

CREATE TABLE data_sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    -- A version of this source (checked by the store: the two tables reference each other).
    default_version_id BIGINT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE data_source_projects (
    data_source_id BIGINT NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (data_source_id, project_id)
);

CREATE TABLE source_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    data_source_id BIGINT NOT NULL REFERENCES data_sources (id),
    number BIGINT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (data_source_id, number)
);
CREATE INDEX source_versions_account ON source_versions (account_id);

CREATE TABLE org_unit_types (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    short_name TEXT NOT NULL DEFAULT '',
    depth BIGINT,
    category TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX org_unit_types_account ON org_unit_types (account_id);

CREATE TABLE org_unit_type_projects (
    org_unit_type_id BIGINT NOT NULL REFERENCES org_unit_types (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (org_unit_type_id, project_id)
);

-- Types shown under a type in the registry.
CREATE TABLE org_unit_type_sub_types (
    org_unit_type_id BIGINT NOT NULL REFERENCES org_unit_types (id) ON DELETE CASCADE,
    sub_type_id BIGINT NOT NULL REFERENCES org_unit_types (id) ON DELETE CASCADE,
    PRIMARY KEY (org_unit_type_id, sub_type_id)
);

-- Types phones may create under a unit of a type.
CREATE TABLE org_unit_type_creatable_sub_types (
    org_unit_type_id BIGINT NOT NULL REFERENCES org_unit_types (id) ON DELETE CASCADE,
    sub_type_id BIGINT NOT NULL REFERENCES org_unit_types (id) ON DELETE CASCADE,
    PRIMARY KEY (org_unit_type_id, sub_type_id)
);

CREATE TABLE org_units (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    version_id BIGINT NOT NULL REFERENCES source_versions (id),
    parent_id BIGINT REFERENCES org_units (id),
    -- Ids from the root down to this unit, '12.345.6789'; subtree = this path or paths below it.
    path TEXT NOT NULL,
    depth BIGINT NOT NULL,
    name TEXT NOT NULL,
    uuid TEXT,
    custom BOOLEAN NOT NULL DEFAULT FALSE,
    validation_status TEXT NOT NULL CHECK (validation_status IN ('NEW', 'VALID', 'REJECTED')),
    org_unit_type_id BIGINT REFERENCES org_unit_types (id),
    source_ref TEXT,
    code TEXT NOT NULL DEFAULT '',
    latitude REAL,
    longitude REAL,
    altitude REAL,
    -- Shapes: ISO WKB MultiPolygons in WGS84; the simplified copy is rewritten with every geom write.
    geom BLOB,
    simplified_geom BLOB,
    catchment BLOB,
    -- Bounding box of the location and shape together, for spatial filters.
    min_x REAL,
    min_y REAL,
    max_x REAL,
    max_y REAL,
    aliases TEXT NOT NULL,
    opening_date TEXT,
    closed_date TEXT,
    creator_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX org_units_account_path ON org_units (account_id, path);
CREATE INDEX org_units_parent ON org_units (parent_id);
CREATE INDEX org_units_version_status ON org_units (version_id, validation_status);
CREATE INDEX org_units_version_ref ON org_units (version_id, source_ref);
CREATE INDEX org_units_uuid ON org_units (uuid);
CREATE INDEX org_units_type ON org_units (org_unit_type_id);
-- The list's default order, and its count by status.
CREATE INDEX org_units_account_name ON org_units (account_id, name);
CREATE INDEX org_units_account_status ON org_units (account_id, validation_status);
-- Iaso's rule: codes are unique per version among VALID units with a code.
CREATE UNIQUE INDEX org_units_valid_code ON org_units (version_id, code) WHERE validation_status = 'VALID' AND code <> '';
-- R*Tree over the bounding boxes, kept in step by triggers.
CREATE VIRTUAL TABLE org_units_rtree USING rtree (id, min_x, max_x, min_y, max_y);
CREATE TRIGGER org_units_rtree_insert AFTER INSERT ON org_units WHEN NEW.min_x IS NOT NULL
BEGIN
    INSERT INTO org_units_rtree VALUES (NEW.id, NEW.min_x, NEW.max_x, NEW.min_y, NEW.max_y);
END;
CREATE TRIGGER org_units_rtree_update AFTER UPDATE OF min_x, min_y, max_x, max_y ON org_units
BEGIN
    DELETE FROM org_units_rtree WHERE id = OLD.id;
    INSERT INTO org_units_rtree SELECT NEW.id, NEW.min_x, NEW.max_x, NEW.min_y, NEW.max_y WHERE NEW.min_x IS NOT NULL;
END;
CREATE TRIGGER org_units_rtree_delete AFTER DELETE ON org_units
BEGIN
    DELETE FROM org_units_rtree WHERE id = OLD.id;
END;

CREATE TABLE org_unit_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    version_id BIGINT NOT NULL REFERENCES source_versions (id),
    name TEXT NOT NULL,
    source_ref TEXT,
    block_of_countries BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX org_unit_groups_version ON org_unit_groups (version_id);

CREATE TABLE org_unit_group_members (
    group_id BIGINT NOT NULL REFERENCES org_unit_groups (id) ON DELETE CASCADE,
    org_unit_id BIGINT NOT NULL REFERENCES org_units (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, org_unit_id)
);
CREATE INDEX org_unit_group_members_unit ON org_unit_group_members (org_unit_id);

CREATE TABLE org_unit_group_sets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    version_id BIGINT NOT NULL REFERENCES source_versions (id),
    name TEXT NOT NULL,
    source_ref TEXT,
    group_belonging TEXT NOT NULL DEFAULT 'SINGLE' CHECK (group_belonging IN ('SINGLE', 'MULTIPLE')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE org_unit_group_set_groups (
    group_set_id BIGINT NOT NULL REFERENCES org_unit_group_sets (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES org_unit_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (group_set_id, group_id)
);

-- Audit history (Iaso's Modification): who changed what, from where, before and after.
CREATE TABLE modifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    content_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    source TEXT NOT NULL,
    past_value TEXT,
    new_value TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX modifications_object ON modifications (account_id, content_type, object_id);
