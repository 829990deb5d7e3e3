//! Hygeia's storage on SQLite: the embedded default, one file next to the binary.
//!
//! WAL journal, `synchronous=NORMAL`, a busy timeout, and `BEGIN IMMEDIATE` for every write
//! transaction, so that a reader upgrading to a writer never fails with `SQLITE_BUSY`.

use std::str::FromStr;
use std::time::Duration;

use hygeia_store::{Store, StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

type Db = Sqlite;
type SqlStore = SqliteStore;

mod batch_on_handle;
#[path = "../../store-sql-common/mod.rs"]
mod common;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
const BACKEND: &str = "sqlite";
/// Statistics from a sample of each index (fast on large tables), and the name index's segments
/// merged into one (each search reads every segment; bulk loads leave many).
const OPTIMIZE: &[&str] =
    &["PRAGMA analysis_limit = 1000", "ANALYZE", "INSERT INTO org_units_search (org_units_search) VALUES ('optimize')"];

/// A [`Store`] on one SQLite database file (or an in-memory database, for tests).
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection that every write goes through. SQLite takes one writer at a time; writers
    /// on several connections would wait on its busy handler, which sleeps 1, 2, 5... up to
    /// 100 ms between tries (a third of ingest throughput, BENCHMARKS.md), while writers queued
    /// here are woken in turn.
    writer: SqlitePool,
    counts: common::CountCache,
    /// Recent callers' profiles; this store's user and role writes forget them.
    profiles: common::ProfileCache,
    /// Payload rows and outcomes, and the usual one-statement submission writes, batched onto `writer`.
    batches: common::WriteBatches,
    /// Bumped when tasks are queued; this process's workers wait on it (other processes poll).
    queued: tokio::sync::watch::Sender<u64>,
    /// Stops [`checkpoint_in_background`] with the store.
    _checkpoints: Option<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long a statement waits for a lock another connection (or process) holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL frames (pages) past which the WAL, all copied back, is started again: 64 MiB.
const WAL_RESTART_FRAMES: i64 = 16_384;
/// How long the restart waits for readers of the old WAL, holding up every writer meanwhile:
/// a reader's statement is short, and a try that times out is tried again a second later.
const WAL_RESTART_WAIT: Duration = Duration::from_millis(100);

/// SQLite appends every commit to the WAL; a checkpoint copies its pages back into the database
/// file and syncs it, and the WAL starts over only at a moment when no reader is using it. Left
/// to itself, SQLite checkpoints on the writer after a commit (the next write waits for the copy
/// and the sync), and under steady load the pool's readers never all let go: the WAL grew without
/// end (2.4 GB after a minute of ingest) and every page read searched it (a sixth of the server's
/// time, `walFindFrame` in perf). So the automatic checkpoint is off, and every second this task
/// copies the WAL back from a reader's connection (PASSIVE: writes go on meanwhile); once the WAL
/// is past [`WAL_RESTART_FRAMES`] and all copied, it starts it over on the writer (RESTART),
/// waiting for readers at most [`WAL_RESTART_WAIT`] (with the usual five seconds, steady reads
/// held writes up for seconds: p99 2.9 s in the phones' load test).
async fn checkpoint_in_background(readers: SqlitePool, writer: SqlitePool) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match checkpoint_once(&readers, &writer, WAL_RESTART_FRAMES).await {
            Ok(Checkpoint::Copied { .. } | Checkpoint::Restarted) => {}
            Ok(Checkpoint::Busy) => tracing::info!("the WAL could not be started again yet (readers)"),
            Err(err) => tracing::warn!(%err, "WAL checkpoint failed"),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Checkpoint {
    /// Copied back as far as readers allow; the WAL holds `frames` pages.
    Copied {
        frames: i64,
    },
    Restarted,
    /// A reader held on past [`WAL_RESTART_WAIT`]; the next tick tries again.
    Busy,
}

/// One checkpoint: copy back, and start over once the WAL holds `restart_frames` pages or more.
async fn checkpoint_once(
    readers: &SqlitePool,
    writer: &SqlitePool,
    restart_frames: i64,
) -> Result<Checkpoint, sqlx::Error> {
    let (_, frames, copied): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(readers).await?;
    if frames < restart_frames || copied < frames {
        return Ok(Checkpoint::Copied { frames });
    }
    let pragma = |wait: Duration| format!("PRAGMA busy_timeout = {}", wait.as_millis());
    let mut conn = writer.acquire().await?;
    sqlx::query(sqlx::AssertSqlSafe(pragma(WAL_RESTART_WAIT))).execute(&mut *conn).await?;
    let restart = sqlx::query_as("PRAGMA wal_checkpoint(RESTART)").fetch_one(&mut *conn).await;
    sqlx::query(sqlx::AssertSqlSafe(pragma(BUSY_TIMEOUT))).execute(&mut *conn).await?;
    let (busy, _, _): (i64, i64, i64) = restart?;
    Ok(if busy == 0 { Checkpoint::Restarted } else { Checkpoint::Busy })
}

/// Writers are serialised, so the claim's single `UPDATE ... RETURNING` needs no row lock.
const CLAIM_LOCK: &str = "";
/// No cross-process notification: workers of other processes find new tasks when they poll.
const NOTIFY_QUEUED: Option<&str> = None;

async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// A lone write goes through `write_together` too: one hand-over instead of up to four.
const BATCH_LONE_WRITES: bool = true;

/// A batch of the usual submission writes, in one transaction on the writer connection's handle,
/// taken from its sqlx worker thread once for the whole batch (`batch_on_handle` says why). The
/// statements run on this task's thread: a batch takes well under a millisecond of SQLite's time
/// (it waits up to `BUSY_TIMEOUT` only while another process writes to the same file).
async fn write_together(
    writer: &SqlitePool,
    writes: &[&common::write_batches::BatchedWrite],
) -> Result<Vec<StoreResult<common::write_batches::Written>>, StoreError> {
    let mut conn = writer.acquire().await.map_err(common::db_err)?;
    let mut handle = conn.lock_handle().await.map_err(common::db_err)?;
    // SAFETY: the locked handle is this task's alone until `handle` drops, after the call; the
    // writer is outside any transaction between uses (every one commits or rolls back).
    unsafe { batch_on_handle::write(handle.as_raw_handle().as_ptr(), writes) }
}

/// `n` fresh org-unit ids, in order. The write transaction (`BEGIN IMMEDIATE`) excludes other
/// writers, so the ids above both the highest in use and the highest ever handed out
/// (AUTOINCREMENT's `sqlite_sequence`, which never reuses a deleted unit's id) stay free.
async fn reserve_unit_ids(conn: &mut sqlx::SqliteConnection, n: usize) -> Result<Vec<i64>, sqlx::Error> {
    let last: i64 = sqlx::query_scalar(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'org_units'), 0), \
         COALESCE((SELECT MAX(id) FROM org_units), 0))",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((1..=n as i64).map(|k| last + k).collect())
}

/// Turns the per-row search and R*Tree triggers off for the rest of the transaction: a bulk
/// creation indexes its rows once, through [`index_bulk_rows`] (migration 0007 says why).
async fn defer_bulk_indexing(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO org_units_index_deferred (since_id) VALUES (0)").execute(&mut *conn).await?;
    Ok(())
}

/// Indexes the units `ids` (reserved by [`reserve_unit_ids`]: consecutive, above every other id)
/// in one statement per index, and turns the triggers back on.
async fn index_bulk_rows(conn: &mut sqlx::SqliteConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    if let (Some(first), Some(last)) = (ids.first(), ids.last()) {
        sqlx::query(
            "INSERT INTO org_units_search (rowid, name, aliases) \
             SELECT id, name, aliases FROM org_units WHERE id BETWEEN ?1 AND ?2",
        )
        .bind(first)
        .bind(last)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO org_units_rtree (id, min_x, max_x, min_y, max_y) \
             SELECT id, min_x, max_x, min_y, max_y FROM org_units WHERE id BETWEEN ?1 AND ?2 AND min_x IS NOT NULL",
        )
        .bind(first)
        .bind(last)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM org_units_index_deferred").execute(&mut *conn).await?;
    Ok(())
}

/// Name search through the trigram index (`org_units_search`): the text as an FTS5 phrase, which
/// the trigram tokenizer matches as a substring, case-insensitively. Shorter than three characters,
/// the text has no trigram: the shared `LIKE` scan answers instead.
fn push_text_search(query: &mut sqlx::QueryBuilder<Sqlite>, text: &str) -> bool {
    if text.chars().count() < 3 {
        return false;
    }
    let phrase = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
    // An alias matches when it equals the text: the JSON array holds it quoted.
    let quoted = serde_json::to_string(text).unwrap_or_default();
    let expression = format!("name : {} OR aliases : {}", phrase(text), phrase(&quoted));
    query.push(" AND o.id IN (SELECT rowid FROM org_units_search WHERE org_units_search MATCH ");
    query.push_bind(expression).push(")");
    true
}

/// Org units whose box meets `bbox`, found through the R*Tree the triggers keep.
fn push_bbox_candidates(query: &mut sqlx::QueryBuilder<Sqlite>, bbox: &hygeia_core::BoundingBox) {
    query.push(" AND o.id IN (SELECT id FROM org_units_rtree WHERE min_x <= ").push_bind(bbox.max_x);
    query.push(" AND max_x >= ").push_bind(bbox.min_x);
    query.push(" AND min_y <= ").push_bind(bbox.max_y);
    query.push(" AND max_y >= ").push_bind(bbox.min_y).push(")");
}

/// sqlx pings a connection when it is taken from the pool and again when it is given back; on
/// SQLite each ping is a round trip to the connection's worker thread (two thread wake-ups), so
/// a one-statement read cost three round trips instead of one. The ping on taking is meant for
/// network connections that went stale while idle, which an embedded database's cannot; it is
/// off. (The ping on giving back cannot be turned off.)
fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new().test_before_acquire(false)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url`, e.g. `sqlite://./data/hygeia.db` or
    /// `sqlite::memory:`. Does not migrate.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // 8 MiB of page cache per connection (SQLite's default is 2 MiB). A shared memory map
            // was tried too: it put the whole file in the server's resident memory (BENCHMARKS.md).
            .pragma("cache_size", "-8192")
            // A write transaction keeps up to 128 MiB of changed pages before it spills them to
            // the WAL mid-transaction (and reads them back): a 100,000-unit import fits. Only the
            // one writer holds changed pages; they are released when it commits.
            .pragma("cache_spill", "32768")
            // The WAL grows to the largest transaction (an import's hundred megabytes); after a
            // checkpoint it is cut back to this.
            .pragma("journal_size_limit", "16777216")
            // Checkpoints are made in the background, off the writer (`checkpoint_in_background`).
            .pragma("wal_autocheckpoint", "0")
            .pragma("temp_store", "memory");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let (pool, writer) = if in_memory {
            // Every connection to `:memory:` is its own database: keep exactly one, forever.
            let pool = pool_options()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(StoreError::backend)?;
            (pool.clone(), pool)
        } else {
            let pool = pool_options().max_connections(8).connect_with(options.clone()).await;
            // A writer waits its turn here, not in SQLite (see `writer`).
            let writer =
                pool_options().max_connections(1).acquire_timeout(Duration::from_secs(30)).connect_with(options).await;
            (pool.map_err(StoreError::backend)?, writer.map_err(StoreError::backend)?)
        };
        let checkpoints = (!in_memory)
            .then(|| AbortOnDrop(tokio::spawn(checkpoint_in_background(pool.clone(), writer.clone())).abort_handle()));
        Ok(SqliteStore {
            batches: common::WriteBatches::start(writer.clone()),
            pool,
            writer,
            counts: Default::default(),
            profiles: Default::default(),
            queued: tokio::sync::watch::Sender::new(0),
            _checkpoints: checkpoints,
        })
    }

    /// Only this process's workers are told of new tasks (through `queued`).
    fn start_listening(&self) {}

    /// A fresh, migrated in-memory database.
    pub async fn in_memory() -> StoreResult<Self> {
        let store = Self::connect("sqlite::memory:").await?;
        store.migrate().await?;
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn insert(pool: &SqlitePool, blob: &str) {
        sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO t VALUES ({blob})"))).execute(pool).await.unwrap();
    }

    #[tokio::test]
    async fn the_wal_is_copied_back_off_the_writer_and_started_again_when_large() {
        let dir = std::env::temp_dir().join(format!("hygeia-wal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("wal.db").display())).await.unwrap();
        sqlx::query("CREATE TABLE t (payload BLOB)").execute(&store.writer).await.unwrap();
        // A reader in a transaction pins the WAL while 4 MiB are written: nothing can be copied.
        let mut reader = store.pool.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *reader).await.unwrap();
        sqlx::query("SELECT COUNT(*) FROM t").fetch_one(&mut *reader).await.unwrap();
        for _ in 0..64 {
            insert(&store.writer, "randomblob(65536)").await;
        }
        let Checkpoint::Copied { frames } = checkpoint_once(&store.pool, &store.writer, 100).await.unwrap() else {
            panic!("a pinned WAL is not started again")
        };
        assert!(frames > 1000, "no automatic checkpoint took the WAL on the writer: {frames} frames");
        sqlx::query("COMMIT").execute(&mut *reader).await.unwrap();
        drop(reader);

        assert_eq!(
            checkpoint_once(&store.pool, &store.writer, frames + 1).await.unwrap(),
            Checkpoint::Copied { frames },
            "below the limit: copied, kept"
        );
        assert_eq!(checkpoint_once(&store.pool, &store.writer, 100).await.unwrap(), Checkpoint::Restarted);
        // The next write goes to the WAL's beginning: one transaction's frames, not a thousand.
        insert(&store.writer, "x'00'").await;
        let Checkpoint::Copied { frames } = checkpoint_once(&store.pool, &store.writer, i64::MAX).await.unwrap() else {
            panic!()
        };
        assert!((1..10).contains(&frames), "{frames} frames after the restart");
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&store.pool).await.unwrap();
        assert_eq!(count, 65, "nothing written was lost");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
