use async_trait::async_trait;
use hygeia_store::{SecretStore, StoreResult};

use super::super::SqlStore;
use super::db_err;

#[async_trait]
impl SecretStore for SqlStore {
    async fn get_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String> {
        // Two servers starting together both insert; the first wins and both read its value.
        sqlx::query("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(candidate)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }
}
