-- SQLite's 0006 puts the simplified boundary before the full one (SQLite walks a large blob's
-- overflow pages to reach the columns after it). PostgreSQL keeps large values out of line (TOAST),
-- so its column order does not matter: nothing to do; the version keeps both backends' numbers equal.
SELECT 1;
