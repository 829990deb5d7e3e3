-- Small files kept in the database instead of one file each in file storage: a phone's XML, a
-- few kilobytes, is a row of the upload's own transaction instead of a file created, written and
-- renamed (with a blocking-pool hand-over) before it (BENCHMARKS.md, phones' seventh pass). Their
-- keys begin with `db:` and are otherwise file keys, so a submission or a payload part names its
-- bytes the same way wherever they are.
CREATE TABLE inline_files (
    key TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    bytes BYTEA NOT NULL
);
