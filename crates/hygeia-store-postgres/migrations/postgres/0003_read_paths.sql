-- Read paths of the georegistry at scale.

-- Bumped by every write to an account's tree (units, moves, group members): cached list counts
-- are valid while it stays the same. Its row lock also serialises the account's tree writers.
ALTER TABLE accounts ADD COLUMN tree_version BIGINT NOT NULL DEFAULT 0;

-- Name and alias search: trigram indexes answer LOWER(...) LIKE '%text%' without a full scan.
-- The extension lives in `public` (one per database, whatever schema Hygeia's tables are in).
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE INDEX org_units_name_trigrams ON org_units USING gin (LOWER(name) public.gin_trgm_ops);
CREATE INDEX org_units_alias_trigrams ON org_units USING gin (LOWER(CAST(aliases AS TEXT)) public.gin_trgm_ops);

-- Boundaries beside the units, as on SQLite (where reading a row past a large blob walked its
-- overflow pages): the unit rows stay small and the same SQL serves both backends.
CREATE TABLE org_unit_shapes (
    org_unit_id BIGINT PRIMARY KEY REFERENCES org_units (id) ON DELETE CASCADE,
    -- ISO WKB MultiPolygons in WGS84; the simplified copy is rewritten with every geom write.
    geom BYTEA NOT NULL,
    simplified_geom BYTEA NOT NULL
);
INSERT INTO org_unit_shapes (org_unit_id, geom, simplified_geom)
    SELECT id, geom, COALESCE(simplified_geom, geom) FROM org_units WHERE geom IS NOT NULL;
ALTER TABLE org_units ADD COLUMN has_shape BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE org_units SET has_shape = TRUE WHERE geom IS NOT NULL;
ALTER TABLE org_units DROP COLUMN geom;
ALTER TABLE org_units DROP COLUMN simplified_geom;
