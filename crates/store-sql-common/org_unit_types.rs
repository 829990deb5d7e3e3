use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::orgunit::ORG_UNIT_TYPE_CONTENT_TYPE;
use hygeia_core::{AccountId, OrgUnitType, OrgUnitTypeId, OrgUnitTypeInput, ProjectId, UserId};
use hygeia_store::{OrgUnitTypeStore, StoreError, StoreResult};

use super::super::{Db, SqlStore, begin_write};
use super::org_units::record_change;
use super::{check_owned, db_err, lock_tree_and_catalog, now, replace_links, sorted_dedup};

type Conn = <Db as sqlx::Database>::Connection;

#[derive(sqlx::FromRow)]
struct TypeRow {
    id: i64,
    account_id: i64,
    name: String,
    short_name: String,
    depth: Option<i64>,
    category: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The three link tables of a type: (table, column holding the linked id).
const LINKS: [(&str, &str); 3] = [
    ("org_unit_type_projects", "project_id"),
    ("org_unit_type_sub_types", "sub_type_id"),
    ("org_unit_type_creatable_sub_types", "sub_type_id"),
];

/// The account's types (or one), with their link lists, read on the caller's connection.
async fn load_types(conn: &mut Conn, account: AccountId, only: Option<OrgUnitTypeId>) -> StoreResult<Vec<OrgUnitType>> {
    let (condition, second) = match only {
        Some(id) => ("account_id = $1 AND id = $2", Some(id.0)),
        None => ("account_id = $1", None),
    };
    let sql = format!(
        "SELECT id, account_id, name, short_name, depth, category, created_at, updated_at \
             FROM org_unit_types WHERE {condition}"
    );
    let mut query = sqlx::query_as::<_, TypeRow>(sqlx::AssertSqlSafe(sql)).bind(account.0);
    if let Some(second) = second {
        query = query.bind(second);
    }
    let rows = query.fetch_all(&mut *conn).await.map_err(db_err)?;
    let links: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT 'project', l.org_unit_type_id, l.project_id FROM org_unit_type_projects l \
             JOIN org_unit_types t ON t.id = l.org_unit_type_id WHERE t.account_id = $1 \
             UNION ALL SELECT 'sub', l.org_unit_type_id, l.sub_type_id FROM org_unit_type_sub_types l \
             JOIN org_unit_types t ON t.id = l.org_unit_type_id WHERE t.account_id = $1 \
             UNION ALL SELECT 'creatable', l.org_unit_type_id, l.sub_type_id FROM org_unit_type_creatable_sub_types l \
             JOIN org_unit_types t ON t.id = l.org_unit_type_id WHERE t.account_id = $1",
    )
    .bind(account.0)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut by_type: HashMap<(i64, String), Vec<i64>> = HashMap::new();
    for (kind, owner, linked) in links {
        by_type.entry((owner, kind)).or_default().push(linked);
    }
    let mut take = |id: i64, kind: &str| {
        let mut ids = by_type.remove(&(id, kind.to_owned())).unwrap_or_default();
        ids.sort_unstable();
        ids
    };
    let mut types: Vec<OrgUnitType> = rows
        .into_iter()
        .map(|row| OrgUnitType {
            projects: take(row.id, "project").into_iter().map(ProjectId).collect(),
            sub_unit_types: take(row.id, "sub").into_iter().map(OrgUnitTypeId).collect(),
            allow_creating_sub_unit_types: take(row.id, "creatable").into_iter().map(OrgUnitTypeId).collect(),
            id: OrgUnitTypeId(row.id),
            account_id: AccountId(row.account_id),
            name: row.name,
            short_name: row.short_name,
            depth: row.depth,
            category: row.category,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
        .collect();
    types.sort_by(|a, b| a.depth.cmp(&b.depth).then_with(|| a.name.cmp(&b.name)).then(a.id.cmp(&b.id)));
    Ok(types)
}

/// Checks and writes a type's projects and sub-type lists.
async fn write_type_links(conn: &mut Conn, account: AccountId, id: i64, input: &OrgUnitTypeInput) -> StoreResult<()> {
    let projects = sorted_dedup(input.projects.iter().map(|p| p.0).collect());
    let subs = sorted_dedup(input.sub_unit_types.iter().map(|t| t.0).collect());
    let creatable = sorted_dedup(input.allow_creating_sub_unit_types.iter().map(|t| t.0).collect());
    check_owned(conn, "projects", "projects", account.0, &projects).await?;
    check_owned(conn, "org_unit_types", "sub_unit_types", account.0, &subs).await?;
    check_owned(conn, "org_unit_types", "allow_creating_sub_unit_types", account.0, &creatable).await?;
    for ((table, column), ids) in LINKS.into_iter().zip([projects, subs, creatable]) {
        replace_links(conn, table, "org_unit_type_id", column, id, &ids).await?;
    }
    Ok(())
}

#[async_trait]
impl OrgUnitTypeStore for SqlStore {
    async fn create(
        &self,
        account: AccountId,
        actor: Option<UserId>,
        input: OrgUnitTypeInput,
    ) -> StoreResult<OrgUnitType> {
        input.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Names and versions shown with every unit: a georegistry change for the caches.
        lock_tree_and_catalog(&mut tx, account).await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO org_unit_types (account_id, name, short_name, depth, category, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(account.0)
        .bind(input.name.trim())
        .bind(input.short_name.trim())
        .bind(input.depth)
        .bind(&input.category)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        write_type_links(&mut tx, account, id, &input).await?;
        let created = load_types(&mut tx, account, Some(OrgUnitTypeId(id))).await?.pop().ok_or(StoreError::NotFound)?;
        record(&mut tx, account, actor, id, None, Some(&created)).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    async fn get(&self, account: AccountId, id: OrgUnitTypeId) -> StoreResult<Option<OrgUnitType>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        Ok(load_types(&mut conn, account, Some(id)).await?.pop())
    }

    async fn list(&self, account: AccountId) -> StoreResult<Vec<OrgUnitType>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        load_types(&mut conn, account, None).await
    }

    async fn update(
        &self,
        account: AccountId,
        actor: Option<UserId>,
        id: OrgUnitTypeId,
        input: OrgUnitTypeInput,
    ) -> StoreResult<OrgUnitType> {
        input.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Names and versions shown with every unit: a georegistry change for the caches.
        lock_tree_and_catalog(&mut tx, account).await?;
        let past = load_types(&mut tx, account, Some(id)).await?.pop().ok_or(StoreError::NotFound)?;
        let done = sqlx::query(
            "UPDATE org_unit_types SET name = $3, short_name = $4, depth = $5, category = $6, updated_at = $7 \
             WHERE account_id = $1 AND id = $2",
        )
        .bind(account.0)
        .bind(id.0)
        .bind(input.name.trim())
        .bind(input.short_name.trim())
        .bind(input.depth)
        .bind(&input.category)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        write_type_links(&mut tx, account, id.0, &input).await?;
        let updated = load_types(&mut tx, account, Some(id)).await?.pop().ok_or(StoreError::NotFound)?;
        record(&mut tx, account, actor, id.0, Some(&past), Some(&updated)).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(updated)
    }

    async fn delete(&self, account: AccountId, actor: Option<UserId>, id: OrgUnitTypeId) -> StoreResult<()> {
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Names and versions shown with every unit: a georegistry change for the caches.
        lock_tree_and_catalog(&mut tx, account).await?;
        let past = load_types(&mut tx, account, Some(id)).await?.pop().ok_or(StoreError::NotFound)?;
        let in_use: Option<i64> =
            sqlx::query_scalar("SELECT id FROM org_units WHERE account_id = $1 AND org_unit_type_id = $2 LIMIT 1")
                .bind(account.0)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if in_use.is_some() {
            return Err(StoreError::Conflict {
                field: "org_unit_type",
                message: "Org units have this type: change their type first.".into(),
            });
        }
        sqlx::query("DELETE FROM org_unit_types WHERE account_id = $1 AND id = $2")
            .bind(account.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        record(&mut tx, account, actor, id.0, Some(&past), None).await?;
        tx.commit().await.map_err(db_err)
    }
}

async fn record(
    conn: &mut Conn,
    account: AccountId,
    actor: Option<UserId>,
    id: i64,
    past: Option<&OrgUnitType>,
    new: Option<&OrgUnitType>,
) -> StoreResult<()> {
    record_change(conn, account, actor, (ORG_UNIT_TYPE_CONTENT_TYPE, id), "org_unit_type_api", past, new).await
}
