use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::{
    AccountId, AppToken, FeatureFlag, NewAppToken, NewProject, Project, ProjectId, ProjectUpdate, UserId,
};
use hygeia_store::{ProjectStore, StoreError, StoreResult};
use sqlx::QueryBuilder;

use super::super::{Db, SqlStore, begin_write};
use super::{db_err, now, on_owned_row, on_unique, replace_links, sorted_dedup};

#[derive(sqlx::FromRow)]
struct ProjectRow {
    id: i64,
    account_id: i64,
    name: String,
    app_id: String,
    description: String,
    color: String,
    needs_authentication: bool,
    min_version: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct FeatureFlagRow {
    id: i64,
    code: String,
    name: String,
    description: String,
    category: String,
    requires_authentication: bool,
    position: i64,
    is_dangerous: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct AppTokenRow {
    id: i64,
    account_id: i64,
    project_id: i64,
    user_id: i64,
    name: String,
    created_by: Option<i64>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<AppTokenRow> for AppToken {
    fn from(row: AppTokenRow) -> Self {
        AppToken {
            id: row.id,
            account_id: AccountId(row.account_id),
            project_id: ProjectId(row.project_id),
            user_id: UserId(row.user_id),
            name: row.name,
            created_by: row.created_by.map(UserId),
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

const APP_TOKEN_COLUMNS: &str = "id, account_id, project_id, user_id, name, created_by, created_at, revoked_at";

const APP_ID_TAKEN: &str = "A project with this app_id already exists.";

/// Selects projects with a condition appended after `WHERE`; binds start at `$1`.
fn select_projects(condition: &str) -> String {
    format!(
        "SELECT id, account_id, name, app_id, description, color, needs_authentication, min_version, created_at, \
         updated_at FROM projects WHERE {condition} ORDER BY id"
    )
}

impl SqlStore {
    /// Attaches each project's feature-flag codes (one query for all of them).
    async fn with_flags(&self, rows: Vec<ProjectRow>) -> StoreResult<Vec<Project>> {
        let mut flags: HashMap<i64, Vec<String>> = HashMap::new();
        if !rows.is_empty() {
            let mut query = QueryBuilder::<Db>::new(
                "SELECT pf.project_id, f.code FROM project_feature_flags pf \
                 JOIN feature_flags f ON f.id = pf.feature_flag_id WHERE pf.project_id IN (",
            );
            let mut list = query.separated(", ");
            for row in &rows {
                list.push_bind(row.id);
            }
            query.push(") ORDER BY f.code");
            let links: Vec<(i64, String)> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?;
            for (project, code) in links {
                flags.entry(project).or_default().push(code);
            }
            // Byte order on both backends (PostgreSQL's ORDER BY would follow the locale).
            flags.values_mut().for_each(|codes| codes.sort());
        }
        Ok(rows
            .into_iter()
            .map(|row| Project {
                feature_flags: flags.remove(&row.id).unwrap_or_default(),
                id: ProjectId(row.id),
                account_id: AccountId(row.account_id),
                name: row.name,
                app_id: row.app_id,
                description: row.description,
                color: row.color,
                needs_authentication: row.needs_authentication,
                min_version: row.min_version,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
            .collect())
    }
}

/// Turns flag codes into catalogue ids; an unknown code is a validation error.
async fn flag_ids(conn: &mut <Db as sqlx::Database>::Connection, codes: &[String]) -> StoreResult<Vec<i64>> {
    let codes = sorted_dedup(codes.to_vec());
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = QueryBuilder::<Db>::new("SELECT id, code FROM feature_flags WHERE code IN (");
    let mut list = query.separated(", ");
    for code in &codes {
        list.push_bind(code.clone());
    }
    query.push(")");
    let found: Vec<(i64, String)> = query.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
    if let Some(unknown) = codes.iter().find(|code| !found.iter().any(|(_, c)| c == *code)) {
        return Err(StoreError::invalid("feature_flags", format!("Unknown feature flag \"{unknown}\".")));
    }
    Ok(found.into_iter().map(|(id, _)| id).collect())
}

#[async_trait]
impl ProjectStore for SqlStore {
    async fn create(&self, account: AccountId, project: NewProject) -> StoreResult<Project> {
        project.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let flags = flag_ids(&mut tx, &project.feature_flags).await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO projects (account_id, name, app_id, description, color, needs_authentication, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(account.0)
        .bind(project.name.trim())
        .bind(&project.app_id)
        .bind(&project.description)
        .bind(&project.color)
        .bind(project.needs_authentication)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(on_unique("app_id", APP_ID_TAKEN))?;
        replace_links(&mut tx, "project_feature_flags", "project_id", "feature_flag_id", id, &flags).await?;
        tx.commit().await.map_err(db_err)?;
        self.get(account, ProjectId(id)).await?.ok_or(StoreError::NotFound)
    }

    async fn get(&self, account: AccountId, id: ProjectId) -> StoreResult<Option<Project>> {
        let rows: Vec<ProjectRow> = sqlx::query_as(sqlx::AssertSqlSafe(select_projects("account_id = $1 AND id = $2")))
            .bind(account.0)
            .bind(id.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(self.with_flags(rows).await?.pop())
    }

    async fn list(&self, account: AccountId) -> StoreResult<Vec<Project>> {
        let rows: Vec<ProjectRow> = sqlx::query_as(sqlx::AssertSqlSafe(select_projects("account_id = $1")))
            .bind(account.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        self.with_flags(rows).await
    }

    async fn update(&self, account: AccountId, id: ProjectId, update: ProjectUpdate) -> StoreResult<Project> {
        update.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let done = sqlx::query(
            "UPDATE projects SET name = COALESCE($3, name), app_id = COALESCE($4, app_id), \
             description = COALESCE($5, description), color = COALESCE($6, color), \
             needs_authentication = COALESCE($7, needs_authentication), updated_at = $8 \
             WHERE account_id = $1 AND id = $2",
        )
        .bind(account.0)
        .bind(id.0)
        .bind(update.name.as_deref().map(str::trim))
        .bind(update.app_id)
        .bind(update.description)
        .bind(update.color)
        .bind(update.needs_authentication)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(on_unique("app_id", APP_ID_TAKEN))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(codes) = update.feature_flags {
            let flags = flag_ids(&mut tx, &codes).await?;
            replace_links(&mut tx, "project_feature_flags", "project_id", "feature_flag_id", id.0, &flags).await?;
        }
        tx.commit().await.map_err(db_err)?;
        self.get(account, id).await?.ok_or(StoreError::NotFound)
    }

    async fn delete(&self, account: AccountId, id: ProjectId) -> StoreResult<()> {
        match on_owned_row(&self.writer, "DELETE FROM projects WHERE account_id = $1 AND id = $2", account.0, id.0)
            .await
        {
            // profile_projects restricts the delete: users limited to this project would otherwise
            // silently gain every project of the account.
            Err(StoreError::Invalid(_)) => Err(StoreError::Conflict {
                field: "users",
                message: "Some users are limited to this project: change their projects first.".into(),
            }),
            other => other,
        }
    }

    async fn find_by_app_id(&self, app_id: &str) -> StoreResult<Option<Project>> {
        let rows: Vec<ProjectRow> = sqlx::query_as(sqlx::AssertSqlSafe(select_projects("app_id = $1")))
            .bind(app_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(self.with_flags(rows).await?.pop())
    }

    async fn create_app_token(&self, account: AccountId, token: NewAppToken) -> StoreResult<AppToken> {
        token.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let project: Option<i64> = sqlx::query_scalar("SELECT id FROM projects WHERE account_id = $1 AND id = $2")
            .bind(account.0)
            .bind(token.project_id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if project.is_none() {
            return Err(StoreError::NotFound);
        }
        let user: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM profiles WHERE account_id = $1 AND user_id = $2")
                .bind(account.0)
                .bind(token.user_id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if user.is_none() {
            return Err(StoreError::invalid("user_id", "No such user in the account."));
        }
        let row: AppTokenRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO app_tokens (account_id, project_id, user_id, name, token_hash, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {APP_TOKEN_COLUMNS}"
        )))
        .bind(account.0)
        .bind(token.project_id.0)
        .bind(token.user_id.0)
        .bind(token.name.trim())
        .bind(&token.token_hash)
        .bind(token.created_by.map(|u| u.0))
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(on_unique("token", "This token is taken."))?;
        tx.commit().await.map_err(db_err)?;
        Ok(row.into())
    }

    async fn app_tokens(&self, account: AccountId, project: ProjectId) -> StoreResult<Vec<AppToken>> {
        let rows: Vec<AppTokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {APP_TOKEN_COLUMNS} FROM app_tokens WHERE account_id = $1 AND project_id = $2 ORDER BY id"
        )))
        .bind(account.0)
        .bind(project.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(AppToken::from).collect())
    }

    async fn revoke_app_token(&self, account: AccountId, project: ProjectId, id: i64) -> StoreResult<AppToken> {
        let row: Option<AppTokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE app_tokens SET revoked_at = COALESCE(revoked_at, $4) \
             WHERE account_id = $1 AND project_id = $2 AND id = $3 RETURNING {APP_TOKEN_COLUMNS}"
        )))
        .bind(account.0)
        .bind(project.0)
        .bind(id)
        .bind(now())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_err)?;
        row.map(AppToken::from).ok_or(StoreError::NotFound)
    }

    async fn app_token(&self, token_hash: &str) -> StoreResult<Option<AppToken>> {
        let row: Option<AppTokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {APP_TOKEN_COLUMNS} FROM app_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(AppToken::from))
    }

    async fn feature_flags(&self) -> StoreResult<Vec<FeatureFlag>> {
        let rows: Vec<FeatureFlagRow> = sqlx::query_as(
            "SELECT id, code, name, description, category, requires_authentication, position, is_dangerous, \
             created_at, updated_at FROM feature_flags ORDER BY position, code",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut flags: Vec<FeatureFlag> = rows
            .into_iter()
            .map(|row| FeatureFlag {
                id: row.id,
                code: row.code,
                name: row.name,
                description: row.description,
                category: row.category,
                requires_authentication: row.requires_authentication,
                order: row.position,
                is_dangerous: row.is_dangerous,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
            .collect();
        flags.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.code.cmp(&b.code)));
        Ok(flags)
    }
}
