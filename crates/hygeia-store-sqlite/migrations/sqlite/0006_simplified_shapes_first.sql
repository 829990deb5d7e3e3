-- The simplified boundary before the full one: maps and lists read only the simplified copy, and
-- SQLite reaches a column after a large blob by walking that blob's overflow pages (a 5°x5° county
-- map read every full boundary too, and filled each connection's page cache with them).
CREATE TABLE org_unit_shapes_new (
    org_unit_id INTEGER PRIMARY KEY REFERENCES org_units (id) ON DELETE CASCADE,
    -- ISO WKB MultiPolygons in WGS84; the simplified copy is rewritten with every geom write.
    simplified_geom BLOB NOT NULL,
    geom BLOB NOT NULL
);
INSERT INTO org_unit_shapes_new (org_unit_id, simplified_geom, geom)
    SELECT org_unit_id, simplified_geom, geom FROM org_unit_shapes;
DROP TABLE org_unit_shapes;
ALTER TABLE org_unit_shapes_new RENAME TO org_unit_shapes;
