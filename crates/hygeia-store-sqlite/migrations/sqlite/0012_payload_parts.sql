-- A payload's parts are listed on its row (JSON: name, file_name, key, size, md5) instead of in a
-- parts.json file beside them: one file fewer per upload, and no directory of its own (creating
-- inodes was a quarter of the server's time under ingest load, BENCHMARKS.md). Older rows keep
-- NULL here and their parts.json.
ALTER TABLE submission_payloads ADD COLUMN parts TEXT;
