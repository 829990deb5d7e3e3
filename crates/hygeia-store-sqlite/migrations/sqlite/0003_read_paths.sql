-- Read paths of the georegistry at scale.

-- Bumped by every write to an account's tree (units, moves, group members): cached list counts
-- are valid while it stays the same.
ALTER TABLE accounts ADD COLUMN tree_version BIGINT NOT NULL DEFAULT 0;

-- Name and alias search: a trigram index answers "contains" queries without scanning every name
-- (case-insensitive, Unicode case folding). External content: the text lives in org_units.
CREATE VIRTUAL TABLE org_units_search USING fts5 (
    name, aliases, content = 'org_units', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO org_units_search (org_units_search) VALUES ('rebuild');
CREATE TRIGGER org_units_search_insert AFTER INSERT ON org_units
BEGIN
    INSERT INTO org_units_search (rowid, name, aliases) VALUES (NEW.id, NEW.name, NEW.aliases);
END;
CREATE TRIGGER org_units_search_update AFTER UPDATE OF name, aliases ON org_units
BEGIN
    INSERT INTO org_units_search (org_units_search, rowid, name, aliases) VALUES ('delete', OLD.id, OLD.name, OLD.aliases);
    INSERT INTO org_units_search (rowid, name, aliases) VALUES (NEW.id, NEW.name, NEW.aliases);
END;
CREATE TRIGGER org_units_search_delete AFTER DELETE ON org_units
BEGIN
    INSERT INTO org_units_search (org_units_search, rowid, name, aliases) VALUES ('delete', OLD.id, OLD.name, OLD.aliases);
END;

-- Boundaries beside the units, not in their rows: SQLite stores a row's columns in order, and reading
-- any column after a large blob walked its overflow pages (every list row and ancestor with a shape).
CREATE TABLE org_unit_shapes (
    org_unit_id INTEGER PRIMARY KEY REFERENCES org_units (id) ON DELETE CASCADE,
    -- ISO WKB MultiPolygons in WGS84; the simplified copy is rewritten with every geom write.
    geom BLOB NOT NULL,
    simplified_geom BLOB NOT NULL
);
INSERT INTO org_unit_shapes (org_unit_id, geom, simplified_geom)
    SELECT id, geom, COALESCE(simplified_geom, geom) FROM org_units WHERE geom IS NOT NULL;
ALTER TABLE org_units ADD COLUMN has_shape BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE org_units SET has_shape = TRUE WHERE geom IS NOT NULL;
ALTER TABLE org_units DROP COLUMN geom;
ALTER TABLE org_units DROP COLUMN simplified_geom;
