use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::{Account, AccountId, NewAccount};
use hygeia_store::{AccountStore, RegistryVersions, StoreError, StoreResult};
use sqlx::types::Json;

use super::super::SqlStore;
use super::{db_err, now, on_unique};

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    name: String,
    default_version_id: Option<i64>,
    modules: Json<Vec<String>>,
    feature_flags: Json<Vec<String>>,
    user_manual_path: String,
    forum_path: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Account {
            id: AccountId(row.id),
            name: row.name,
            default_version_id: row.default_version_id,
            modules: row.modules.0,
            feature_flags: row.feature_flags.0,
            user_manual_path: row.user_manual_path,
            forum_path: row.forum_path,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

const COLUMNS: &str = "SELECT id, name, default_version_id, modules, feature_flags, user_manual_path, forum_path, \
                       created_at, updated_at FROM accounts";

#[async_trait]
impl AccountStore for SqlStore {
    async fn create(&self, account: NewAccount) -> StoreResult<Account> {
        account.validate()?;
        let at = now();
        let row: AccountRow = sqlx::query_as(
            "INSERT INTO accounts (name, modules, feature_flags, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             RETURNING id, name, default_version_id, modules, feature_flags, user_manual_path, forum_path, created_at, updated_at",
        )
        .bind(account.name.trim())
        .bind(Json(account.modules))
        .bind(Json(Vec::<String>::new()))
        .bind(at)
        .fetch_one(&self.writer)
        .await
        .map_err(on_unique("name", "An account with this name already exists."))?;
        Ok(row.into())
    }

    async fn get(&self, id: AccountId) -> StoreResult<Option<Account>> {
        let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE id = $1")))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(Into::into))
    }

    async fn find_by_name(&self, name: &str) -> StoreResult<Option<Account>> {
        let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE name = $1")))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(Into::into))
    }

    async fn list(&self) -> StoreResult<Vec<Account>> {
        let rows: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLUMNS} ORDER BY id")))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn count(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(&self.pool).await.map_err(db_err)
    }

    async fn registry_versions(&self, account: AccountId) -> StoreResult<RegistryVersions> {
        let versions: Option<(i64, i64)> =
            sqlx::query_as("SELECT tree_version, catalog_version FROM accounts WHERE id = $1")
                .bind(account.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        let (tree, catalog) = versions.ok_or(StoreError::NotFound)?;
        Ok(RegistryVersions { tree, catalog })
    }
}
