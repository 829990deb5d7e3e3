//! Hygeia's storage on PostgreSQL: the scale-out backend, shared by many stateless servers.

use std::time::Duration;

use hygeia_store::{StoreError, StoreResult};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};

type Db = Postgres;
type SqlStore = PostgresStore;

#[path = "../../store-sql-common/mod.rs"]
mod common;
#[cfg(feature = "testing")]
pub mod testing;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
const BACKEND: &str = "postgres";
/// Autovacuum keeps statistics current; this catches up at once after bulk writes, and merges the
/// trigram indexes' pending lists (0007) so that searches need not scan them.
const OPTIMIZE: &[&str] = &[
    "ANALYZE",
    "SELECT gin_clean_pending_list('org_units_name_trigrams'::regclass)",
    "SELECT gin_clean_pending_list('org_units_alias_trigrams'::regclass)",
];

/// A [`Store`] on a PostgreSQL database.
pub struct PostgresStore {
    pool: PgPool,
    /// The pool writes go through: the same one (PostgreSQL runs writers side by side).
    writer: PgPool,
    counts: common::CountCache,
    /// Recent callers' profiles; this store's user and role writes forget them.
    profiles: common::ProfileCache,
    /// Payload rows and outcomes, and the usual one-statement submission writes, batched onto
    /// `writer` (one commit per batch).
    batches: common::WriteBatches,
    /// Bumped when tasks are queued, by this process or (through LISTEN) by any other.
    queued: tokio::sync::watch::Sender<u64>,
    listening: std::sync::Once,
}

/// Concurrent claims skip the rows other claims hold instead of queueing behind them.
const CLAIM_LOCK: &str = " FOR UPDATE SKIP LOCKED";
/// Wakes the workers of every process sharing the database.
const NOTIFY_QUEUED: Option<&str> = Some("SELECT pg_notify('hygeia_tasks_queued', '')");
const QUEUED_CHANNEL: &str = "hygeia_tasks_queued";

/// Batched writes go statement by statement: their round trips are to the server, and what a
/// batch saves here is the commit's flush, one for all.
use common::write_batches::write_statement_by_statement as write_together;
/// A lone write goes as it is, without a transaction around it.
const BATCH_LONE_WRITES: bool = false;

async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin().await
}

/// `n` fresh org-unit ids from the identity's sequence, in increasing order (concurrent writers
/// draw from the same sequence, so they need not be consecutive).
async fn reserve_unit_ids(conn: &mut sqlx::PgConnection, n: usize) -> Result<Vec<i64>, sqlx::Error> {
    let mut ids: Vec<i64> =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('org_units', 'id')) FROM generate_series(1, $1)")
            .bind(n as i64)
            .fetch_all(&mut *conn)
            .await?;
    ids.sort_unstable();
    Ok(ids)
}

/// PostgreSQL's indexes need no help with bulk creations (see the SQLite backend's).
async fn defer_bulk_indexing(_conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    Ok(())
}

async fn index_bulk_rows(_conn: &mut sqlx::PgConnection, _ids: &[i64]) -> Result<(), sqlx::Error> {
    Ok(())
}

/// Name search: the shared `LOWER(name) LIKE` filter, which the trigram indexes answer.
fn push_text_search(_query: &mut sqlx::QueryBuilder<Postgres>, _text: &str) -> bool {
    false
}

/// Org units whose box meets `bbox`, in the terms of the partial GiST index on `box(...)`.
fn push_bbox_candidates(query: &mut sqlx::QueryBuilder<Postgres>, bbox: &hygeia_core::BoundingBox) {
    query.push(" AND o.min_x IS NOT NULL AND box(point(o.min_x, o.min_y), point(o.max_x, o.max_y)) && box(point(");
    query.push_bind(bbox.min_x).push(", ").push_bind(bbox.min_y).push("), point(");
    query.push_bind(bbox.max_x).push(", ").push_bind(bbox.max_y).push("))");
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`). Does not migrate.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(StoreError::backend)?;
        Ok(PostgresStore {
            batches: common::WriteBatches::start(pool.clone()),
            writer: pool.clone(),
            pool,
            counts: Default::default(),
            profiles: Default::default(),
            queued: tokio::sync::watch::Sender::new(0),
            listening: std::sync::Once::new(),
        })
    }

    /// Forwards `NOTIFY hygeia_tasks_queued` from other processes to `queued`, from the first
    /// worker's subscription on; reconnects after a failure (workers poll meanwhile).
    fn start_listening(&self) {
        self.listening.call_once(|| {
            let pool = self.pool.clone();
            let queued = self.queued.clone();
            tokio::spawn(async move {
                loop {
                    match sqlx::postgres::PgListener::connect_with(&pool).await {
                        Ok(mut listener) => match listener.listen(QUEUED_CHANNEL).await {
                            Ok(()) => {
                                // A missed notification while reconnecting is covered by a wake-up now.
                                queued.send_modify(|g| *g = g.wrapping_add(1));
                                while listener.recv().await.is_ok() {
                                    queued.send_modify(|g| *g = g.wrapping_add(1));
                                }
                            }
                            Err(err) => tracing::warn!(%err, "LISTEN for queued tasks failed"),
                        },
                        Err(err) => tracing::warn!(%err, "no connection to LISTEN for queued tasks"),
                    }
                    if pool.is_closed() || queued.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        });
    }
}
