use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::UserId;
use hygeia_store::{SessionStore, StoreResult};

use super::super::SqlStore;
use super::db_err;

#[async_trait]
impl SessionStore for SqlStore {
    async fn create(&self, token_hash: &str, user: UserId, expires_at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user.0)
            .bind(expires_at.timestamp())
            .bind(Utc::now().timestamp())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<UserId>> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(now.timestamp())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(id.map(UserId))
    }

    async fn delete(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now.timestamp())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}
