-- Trigram indexes take new entries through GIN's pending list again (undoing 0004): written one at a
-- time, a 100,000-unit import spent 3.7 s of its 7.9 s in these two indexes, against 0.7 s through the
-- pending list. Every import and the hourly statistics refresh (`Store::optimize`) merge the list into
-- the index at once, so searches do not scan a long list as they did after 0004's bulk loads.
ALTER INDEX org_units_name_trigrams SET (fastupdate = on);
ALTER INDEX org_units_alias_trigrams SET (fastupdate = on);
