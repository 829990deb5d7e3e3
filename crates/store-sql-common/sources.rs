use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::{AccountId, DataSource, DataSourceId, DataSourceInput, ProjectId, SourceVersion, SourceVersionId};
use hygeia_store::{SourceStore, StoreError, StoreResult};

use super::super::{SqlStore, begin_write};
use super::{check_owned, db_err, lock_tree_and_catalog, now, on_unique, replace_links, sorted_dedup};

#[derive(sqlx::FromRow)]
struct SourceRow {
    id: i64,
    account_id: i64,
    name: String,
    description: String,
    read_only: bool,
    default_version_id: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: i64,
    account_id: i64,
    data_source_id: i64,
    number: i64,
    description: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<VersionRow> for SourceVersion {
    fn from(row: VersionRow) -> Self {
        SourceVersion {
            id: SourceVersionId(row.id),
            account_id: AccountId(row.account_id),
            data_source_id: DataSourceId(row.data_source_id),
            number: row.number,
            description: row.description,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

const NAME_TAKEN: &str = "A data source with this name already exists.";
const SOURCE_COLUMNS: &str =
    "SELECT id, account_id, name, description, read_only, default_version_id, created_at, updated_at FROM data_sources";
const VERSION_COLUMNS: &str =
    "SELECT id, account_id, data_source_id, number, description, created_at, updated_at FROM source_versions";

impl SqlStore {
    async fn load_sources(&self, account: AccountId, only: Option<DataSourceId>) -> StoreResult<Vec<DataSource>> {
        let (condition, second) = match only {
            Some(id) => ("account_id = $1 AND id = $2", Some(id.0)),
            None => ("account_id = $1", None),
        };
        let mut query =
            sqlx::query_as::<_, SourceRow>(sqlx::AssertSqlSafe(format!("{SOURCE_COLUMNS} WHERE {condition}")))
                .bind(account.0);
        if let Some(second) = second {
            query = query.bind(second);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db_err)?;
        let links: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT l.data_source_id, l.project_id FROM data_source_projects l \
             JOIN data_sources s ON s.id = l.data_source_id WHERE s.account_id = $1",
        )
        .bind(account.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut projects: HashMap<i64, Vec<ProjectId>> = HashMap::new();
        for (source, project) in links {
            projects.entry(source).or_default().push(ProjectId(project));
        }
        let mut sources: Vec<DataSource> = rows
            .into_iter()
            .map(|row| {
                let mut source_projects = projects.remove(&row.id).unwrap_or_default();
                source_projects.sort();
                DataSource {
                    id: DataSourceId(row.id),
                    account_id: AccountId(row.account_id),
                    name: row.name,
                    description: row.description,
                    read_only: row.read_only,
                    default_version_id: row.default_version_id.map(SourceVersionId),
                    projects: source_projects,
                    created_at: row.created_at,
                    updated_at: row.updated_at,
                }
            })
            .collect();
        sources.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(sources)
    }

    /// The version if it belongs to the account, inside a write transaction.
    async fn owned_version(
        conn: &mut <super::super::Db as sqlx::Database>::Connection,
        account: AccountId,
        version: SourceVersionId,
    ) -> StoreResult<VersionRow> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{VERSION_COLUMNS} WHERE account_id = $1 AND id = $2")))
            .bind(account.0)
            .bind(version.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl SourceStore for SqlStore {
    async fn create_source(&self, account: AccountId, source: DataSourceInput) -> StoreResult<DataSource> {
        source.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Names and versions shown with every unit: a georegistry change for the caches.
        lock_tree_and_catalog(&mut tx, account).await?;
        let projects = sorted_dedup(source.projects.iter().map(|p| p.0).collect());
        check_owned(&mut tx, "projects", "projects", account.0, &projects).await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO data_sources (account_id, name, description, read_only, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(account.0)
        .bind(source.name.trim())
        .bind(&source.description)
        .bind(source.read_only)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(on_unique("name", NAME_TAKEN))?;
        replace_links(&mut tx, "data_source_projects", "data_source_id", "project_id", id, &projects).await?;
        tx.commit().await.map_err(db_err)?;
        self.source(account, DataSourceId(id)).await?.ok_or(StoreError::NotFound)
    }

    async fn source(&self, account: AccountId, id: DataSourceId) -> StoreResult<Option<DataSource>> {
        Ok(self.load_sources(account, Some(id)).await?.pop())
    }

    async fn sources(&self, account: AccountId) -> StoreResult<Vec<DataSource>> {
        self.load_sources(account, None).await
    }

    async fn update_source(
        &self,
        account: AccountId,
        id: DataSourceId,
        source: DataSourceInput,
    ) -> StoreResult<DataSource> {
        source.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Names and versions shown with every unit: a georegistry change for the caches.
        lock_tree_and_catalog(&mut tx, account).await?;
        let projects = sorted_dedup(source.projects.iter().map(|p| p.0).collect());
        check_owned(&mut tx, "projects", "projects", account.0, &projects).await?;
        let done = sqlx::query(
            "UPDATE data_sources SET name = $3, description = $4, read_only = $5, updated_at = $6 \
             WHERE account_id = $1 AND id = $2",
        )
        .bind(account.0)
        .bind(id.0)
        .bind(source.name.trim())
        .bind(&source.description)
        .bind(source.read_only)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(on_unique("name", NAME_TAKEN))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        replace_links(&mut tx, "data_source_projects", "data_source_id", "project_id", id.0, &projects).await?;
        tx.commit().await.map_err(db_err)?;
        self.source(account, id).await?.ok_or(StoreError::NotFound)
    }

    async fn create_version(
        &self,
        account: AccountId,
        source: DataSourceId,
        description: &str,
    ) -> StoreResult<SourceVersion> {
        if description.chars().count() > 10_000 {
            return Err(StoreError::invalid("description", "Ensure this field has no more than 10000 characters."));
        }
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Names and versions shown with every unit: a georegistry change for the caches.
        lock_tree_and_catalog(&mut tx, account).await?;
        let owned: Option<i64> = sqlx::query_scalar("SELECT id FROM data_sources WHERE account_id = $1 AND id = $2")
            .bind(account.0)
            .bind(source.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if owned.is_none() {
            return Err(StoreError::invalid("data_source_id", "Unknown id: it does not exist in this account."));
        }
        let at = now();
        let row: VersionRow = sqlx::query_as(
            "INSERT INTO source_versions (account_id, data_source_id, number, description, created_at, updated_at) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(number), 0) + 1 FROM source_versions WHERE data_source_id = $2), \
             $3, $4, $4) RETURNING id, account_id, data_source_id, number, description, created_at, updated_at",
        )
        .bind(account.0)
        .bind(source.0)
        .bind(description)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(on_unique("number", "This version number already exists; try again."))?;
        tx.commit().await.map_err(db_err)?;
        Ok(row.into())
    }

    async fn version(&self, account: AccountId, id: SourceVersionId) -> StoreResult<Option<SourceVersion>> {
        let row: Option<VersionRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{VERSION_COLUMNS} WHERE account_id = $1 AND id = $2")))
                .bind(account.0)
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(row.map(Into::into))
    }

    async fn versions(&self, account: AccountId, source: Option<DataSourceId>) -> StoreResult<Vec<SourceVersion>> {
        let rows: Vec<VersionRow> = match source {
            Some(source) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{VERSION_COLUMNS} WHERE account_id = $1 AND data_source_id = $2 ORDER BY number DESC"
                )))
                .bind(account.0)
                .bind(source.0)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{VERSION_COLUMNS} WHERE account_id = $1 ORDER BY data_source_id, number DESC"
                )))
                .bind(account.0)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn set_source_default_version(&self, account: AccountId, version: SourceVersionId) -> StoreResult<()> {
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Names and versions shown with every unit: a georegistry change for the caches.
        lock_tree_and_catalog(&mut tx, account).await?;
        let row = Self::owned_version(&mut tx, account, version).await?;
        sqlx::query("UPDATE data_sources SET default_version_id = $2, updated_at = $3 WHERE id = $1")
            .bind(row.data_source_id)
            .bind(version.0)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn set_account_default_version(&self, account: AccountId, version: SourceVersionId) -> StoreResult<()> {
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Names and versions shown with every unit: a georegistry change for the caches.
        lock_tree_and_catalog(&mut tx, account).await?;
        Self::owned_version(&mut tx, account, version).await?;
        sqlx::query("UPDATE accounts SET default_version_id = $2, updated_at = $3 WHERE id = $1")
            .bind(account.0)
            .bind(version.0)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }
}
