use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::{AccountId, UserRole, UserRoleId, UserRoleInput};
use hygeia_store::{StoreError, StoreResult, UserRoleStore};

use super::super::{SqlStore, begin_write};
use super::{check_grantable, db_err, now, on_owned_row, on_unique, replace_links, sorted_dedup};

#[derive(sqlx::FromRow)]
struct UserRoleRow {
    id: i64,
    account_id: i64,
    name: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const NAME_TAKEN: &str = "A user role with this name already exists.";

impl SqlStore {
    /// The account's roles, or one of them, with their permissions.
    async fn load_roles(&self, account: AccountId, only: Option<UserRoleId>) -> StoreResult<Vec<UserRole>> {
        let rows: Vec<UserRoleRow> = sqlx::query_as(
            "SELECT id, account_id, name, created_at, updated_at FROM user_roles \
             WHERE account_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR id = $2) ORDER BY name",
        )
        .bind(account.0)
        .bind(only.map(|id| id.0))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let permissions: Vec<(i64, String)> = sqlx::query_as(
            "SELECT p.user_role_id, p.codename FROM user_role_permissions p JOIN user_roles r ON r.id = p.user_role_id \
             WHERE r.account_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR r.id = $2) ORDER BY p.codename",
        )
        .bind(account.0)
        .bind(only.map(|id| id.0))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut by_role: HashMap<i64, Vec<String>> = HashMap::new();
        for (role, codename) in permissions {
            by_role.entry(role).or_default().push(codename);
        }
        let mut roles: Vec<UserRole> = rows
            .into_iter()
            .map(|row| UserRole {
                permissions: by_role.remove(&row.id).unwrap_or_default(),
                id: UserRoleId(row.id),
                account_id: AccountId(row.account_id),
                name: row.name,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
            .collect();
        // Sorted here rather than in SQL: PostgreSQL would follow the database's locale.
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(roles)
    }
}

#[async_trait]
impl UserRoleStore for SqlStore {
    async fn create(&self, account: AccountId, role: UserRoleInput) -> StoreResult<UserRole> {
        role.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        check_grantable(&mut tx, account.0, &role.permissions).await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO user_roles (account_id, name, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
        )
        .bind(account.0)
        .bind(role.name.trim())
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(on_unique("name", NAME_TAKEN))?;
        let permissions = sorted_dedup(role.permissions);
        replace_links(&mut tx, "user_role_permissions", "user_role_id", "codename", id, &permissions).await?;
        tx.commit().await.map_err(db_err)?;
        self.get(account, UserRoleId(id)).await?.ok_or(StoreError::NotFound)
    }

    async fn get(&self, account: AccountId, id: UserRoleId) -> StoreResult<Option<UserRole>> {
        Ok(self.load_roles(account, Some(id)).await?.pop())
    }

    async fn list(&self, account: AccountId) -> StoreResult<Vec<UserRole>> {
        self.load_roles(account, None).await
    }

    async fn update(&self, account: AccountId, id: UserRoleId, role: UserRoleInput) -> StoreResult<UserRole> {
        role.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        check_grantable(&mut tx, account.0, &role.permissions).await?;
        let done = sqlx::query("UPDATE user_roles SET name = $3, updated_at = $4 WHERE account_id = $1 AND id = $2")
            .bind(account.0)
            .bind(id.0)
            .bind(role.name.trim())
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(on_unique("name", NAME_TAKEN))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let permissions = sorted_dedup(role.permissions);
        replace_links(&mut tx, "user_role_permissions", "user_role_id", "codename", id.0, &permissions).await?;
        tx.commit().await.map_err(db_err)?;
        // Every profile holding the role shows its new name and permissions.
        self.profiles.forget_all();
        self.get(account, id).await?.ok_or(StoreError::NotFound)
    }

    async fn delete(&self, account: AccountId, id: UserRoleId) -> StoreResult<()> {
        let deleted =
            on_owned_row(&self.writer, "DELETE FROM user_roles WHERE account_id = $1 AND id = $2", account.0, id.0)
                .await;
        self.profiles.forget_all();
        deleted
    }
}
