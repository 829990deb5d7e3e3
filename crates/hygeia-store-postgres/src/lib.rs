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
/// Autovacuum keeps statistics current; this catches up at once after bulk writes.
const OPTIMIZE: &[&str] = &["ANALYZE"];

/// A [`Store`] on a PostgreSQL database.
pub struct PostgresStore {
    pool: PgPool,
}

async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin().await
}

/// Serialises the writers of one account's trees until the transaction ends: a move reads paths
/// that another move could rewrite, and READ COMMITTED alone would let two moves make a cycle.
async fn lock_tree(conn: &mut sqlx::PgConnection, account: hygeia_core::AccountId) -> StoreResult<()> {
    // The two-key form keeps this lock apart from any other use of advisory locks.
    const ORG_UNIT_TREE: i32 = 0x4F55; // "OU"
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(ORG_UNIT_TREE)
        .bind(i32::try_from(account.0).unwrap_or(i32::MAX))
        .execute(conn)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
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
        Ok(PostgresStore { pool })
    }
}
