-- Read paths of the georegistry at scale.

-- Bumped by every write to an account's tree (units, moves, group members): cached list counts
-- are valid while it stays the same. Its row lock also serialises the account's tree writers.
ALTER TABLE accounts ADD COLUMN tree_version BIGINT NOT NULL DEFAULT 0;

-- Name and alias search: trigram indexes answer LOWER(...) LIKE '%text%' without a full scan.
-- The extension lives in `public` (one per database, whatever schema Hygeia's tables are in).
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE INDEX org_units_name_trigrams ON org_units USING gin (LOWER(name) public.gin_trgm_ops);
CREATE INDEX org_units_alias_trigrams ON org_units USING gin (LOWER(CAST(aliases AS TEXT)) public.gin_trgm_ops);
