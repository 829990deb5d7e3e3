//! Hygeia's storage on PostgreSQL: the scale-out backend, shared by many stateless servers.

use std::time::Duration;

use async_trait::async_trait;
use hygeia_store::{
    AccountStore, ProjectStore, SecretStore, SessionStore, Store, StoreError, StoreResult, UserRoleStore, UserStore,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};

type Db = Postgres;
type SqlStore = PostgresStore;

#[path = "../../store-sql-common/mod.rs"]
mod common;
#[cfg(feature = "testing")]
pub mod testing;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A [`Store`] on a PostgreSQL database.
pub struct PostgresStore {
    pool: PgPool,
}

async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin().await
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

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(StoreError::backend)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(StoreError::backend)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn accounts(&self) -> &dyn AccountStore {
        self
    }
    fn users(&self) -> &dyn UserStore {
        self
    }
    fn projects(&self) -> &dyn ProjectStore {
        self
    }
    fn user_roles(&self) -> &dyn UserRoleStore {
        self
    }
    fn sessions(&self) -> &dyn SessionStore {
        self
    }
    fn secrets(&self) -> &dyn SecretStore {
        self
    }
}
