-- Bulk creations index their rows once per batch (one INSERT ... SELECT over the new ids) instead of
-- row by row through the triggers: FTS5 flushes its pending terms at the end of every statement, so
-- a 100,000-unit import in 1,000-row statements wrote a hundred segments and then merged them.
-- A row in this table, written and removed inside the bulk transaction (so no other connection
-- ever sees it), turns the per-row insert triggers off.
CREATE TABLE org_units_index_deferred (since_id INTEGER NOT NULL);

DROP TRIGGER org_units_search_insert;
CREATE TRIGGER org_units_search_insert AFTER INSERT ON org_units
    WHEN NOT EXISTS (SELECT 1 FROM org_units_index_deferred)
BEGIN
    INSERT INTO org_units_search (rowid, name, aliases) VALUES (NEW.id, NEW.name, NEW.aliases);
END;

DROP TRIGGER org_units_rtree_insert;
CREATE TRIGGER org_units_rtree_insert AFTER INSERT ON org_units
    WHEN NEW.min_x IS NOT NULL AND NOT EXISTS (SELECT 1 FROM org_units_index_deferred)
BEGIN
    INSERT INTO org_units_rtree VALUES (NEW.id, NEW.min_x, NEW.max_x, NEW.min_y, NEW.max_y);
END;
