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
    counts: common::CountCache,
}

async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin().await
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
        Ok(PostgresStore { pool, counts: Default::default() })
    }
}
