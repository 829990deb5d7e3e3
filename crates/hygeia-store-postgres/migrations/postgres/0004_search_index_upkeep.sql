-- Trigram indexes written straight into the index, without GIN's pending list: after a bulk load the
-- list held tens of thousands of entries that every search scanned linearly until the next VACUUM
-- (name search: 52 ms before VACUUM, 12 ms after; BENCHMARKS.md). Writes pay a little, reads no more.
ALTER INDEX org_units_name_trigrams SET (fastupdate = off);
ALTER INDEX org_units_alias_trigrams SET (fastupdate = off);
SELECT gin_clean_pending_list('org_units_name_trigrams'::regclass);
SELECT gin_clean_pending_list('org_units_alias_trigrams'::regclass);
