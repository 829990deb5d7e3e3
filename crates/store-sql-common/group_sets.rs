use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::orgunit::GROUP_SET_CONTENT_TYPE;
use hygeia_core::{AccountId, GroupBelonging, GroupId, GroupSet, GroupSetId, GroupSetInput, SourceVersionId, UserId};
use hygeia_store::{GroupSetStore, StoreError, StoreResult};
use sqlx::QueryBuilder;

use super::super::{Db, SqlStore, begin_write};
use super::org_units::record_change;
use super::{db_err, now, sorted_dedup};

type Conn = <Db as sqlx::Database>::Connection;

#[derive(sqlx::FromRow)]
struct SetRow {
    id: i64,
    account_id: i64,
    version_id: i64,
    name: String,
    source_ref: Option<String>,
    group_belonging: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "SELECT s.id, s.account_id, s.version_id, s.name, s.source_ref, s.group_belonging, \
    s.created_at, s.updated_at FROM org_unit_group_sets s";

/// Reads sets with their member groups: one query for the sets, one for all their memberships.
async fn load_where(conn: &mut Conn, mut query: QueryBuilder<Db>) -> StoreResult<Vec<GroupSet>> {
    let rows: Vec<SetRow> = query.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut members =
        QueryBuilder::<Db>::new("SELECT group_set_id, group_id FROM org_unit_group_set_groups WHERE group_set_id IN (");
    let mut list = members.separated(", ");
    for row in &rows {
        list.push_bind(row.id);
    }
    members.push(") ORDER BY group_set_id, group_id");
    let pairs: Vec<(i64, i64)> = members.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|row| GroupSet {
            id: GroupSetId(row.id),
            account_id: AccountId(row.account_id),
            version_id: SourceVersionId(row.version_id),
            name: row.name,
            source_ref: row.source_ref,
            // The column's CHECK constraint admits only the two values.
            group_belonging: GroupBelonging::parse(&row.group_belonging).unwrap_or_default(),
            group_ids: pairs.iter().filter(|(set, _)| *set == row.id).map(|(_, group)| GroupId(*group)).collect(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
        .collect())
}

async fn load(conn: &mut Conn, account: AccountId, id: GroupSetId) -> StoreResult<Option<GroupSet>> {
    let mut query = QueryBuilder::<Db>::new(COLUMNS);
    query.push(" WHERE s.account_id = ").push_bind(account.0).push(" AND s.id = ").push_bind(id.0);
    Ok(load_where(conn, query).await?.pop())
}

/// The version must be the account's, and every group must be of that version.
async fn check_members(conn: &mut Conn, account: AccountId, set: &GroupSetInput) -> StoreResult<Vec<GroupId>> {
    let version: Option<i64> = sqlx::query_scalar("SELECT id FROM source_versions WHERE account_id = $1 AND id = $2")
        .bind(account.0)
        .bind(set.version_id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    if version.is_none() {
        return Err(StoreError::invalid("version_id", "Unknown version: it does not exist in this account."));
    }
    let groups = sorted_dedup(set.group_ids.clone());
    for chunk in groups.chunks(1000) {
        let mut query = QueryBuilder::<Db>::new("SELECT id, version_id FROM org_unit_groups WHERE account_id = ");
        query.push_bind(account.0).push(" AND id IN (");
        let mut list = query.separated(", ");
        for group in chunk {
            list.push_bind(group.0);
        }
        query.push(")");
        let found: Vec<(i64, i64)> = query.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
        for group in chunk {
            match found.iter().find(|(id, _)| *id == group.0) {
                None => return Err(StoreError::invalid("group_ids", format!("Unknown group {group}."))),
                Some((_, version)) if *version != set.version_id.0 => {
                    return Err(StoreError::invalid("group_ids", format!("Group {group} belongs to another version.")));
                }
                Some(_) => {}
            }
        }
    }
    Ok(groups)
}

async fn replace_members(conn: &mut Conn, id: i64, groups: &[GroupId]) -> StoreResult<()> {
    sqlx::query("DELETE FROM org_unit_group_set_groups WHERE group_set_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    for chunk in groups.chunks(1000) {
        let mut insert = QueryBuilder::<Db>::new("INSERT INTO org_unit_group_set_groups (group_set_id, group_id) ");
        insert.push_values(chunk, |mut row, group| {
            row.push_bind(id).push_bind(group.0);
        });
        insert.build().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

#[async_trait]
impl GroupSetStore for SqlStore {
    async fn create(&self, account: AccountId, actor: Option<UserId>, set: GroupSetInput) -> StoreResult<GroupSet> {
        set.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let groups = check_members(&mut tx, account, &set).await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO org_unit_group_sets (account_id, version_id, name, source_ref, group_belonging, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(account.0)
        .bind(set.version_id.0)
        .bind(set.name.trim())
        .bind(&set.source_ref)
        .bind(set.group_belonging.as_str())
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        replace_members(&mut tx, id, &groups).await?;
        let created = load(&mut tx, account, GroupSetId(id)).await?.ok_or(StoreError::NotFound)?;
        record_change(&mut tx, account, actor, (GROUP_SET_CONTENT_TYPE, id), "group_set_api", None, Some(&created))
            .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    async fn get(&self, account: AccountId, id: GroupSetId) -> StoreResult<Option<GroupSet>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        load(&mut conn, account, id).await
    }

    async fn list(&self, account: AccountId, versions: &[SourceVersionId]) -> StoreResult<Vec<GroupSet>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let mut query = QueryBuilder::<Db>::new(COLUMNS);
        query.push(" WHERE s.account_id = ").push_bind(account.0);
        if !versions.is_empty() {
            query.push(" AND s.version_id IN (");
            let mut list = query.separated(", ");
            for version in versions {
                list.push_bind(version.0);
            }
            query.push(")");
        }
        let mut sets = load_where(&mut conn, query).await?;
        sets.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(sets)
    }

    async fn update(
        &self,
        account: AccountId,
        actor: Option<UserId>,
        id: GroupSetId,
        set: GroupSetInput,
    ) -> StoreResult<GroupSet> {
        set.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let past = load(&mut tx, account, id).await?.ok_or(StoreError::NotFound)?;
        if past.version_id != set.version_id {
            return Err(StoreError::invalid("version_id", "A group set cannot move to another version."));
        }
        let groups = check_members(&mut tx, account, &set).await?;
        sqlx::query(
            "UPDATE org_unit_group_sets SET name = $3, source_ref = $4, group_belonging = $5, updated_at = $6 \
             WHERE account_id = $1 AND id = $2",
        )
        .bind(account.0)
        .bind(id.0)
        .bind(set.name.trim())
        .bind(&set.source_ref)
        .bind(set.group_belonging.as_str())
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        replace_members(&mut tx, id.0, &groups).await?;
        let updated = load(&mut tx, account, id).await?.ok_or(StoreError::NotFound)?;
        record_change(
            &mut tx,
            account,
            actor,
            (GROUP_SET_CONTENT_TYPE, id.0),
            "group_set_api",
            Some(&past),
            Some(&updated),
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(updated)
    }

    async fn delete(&self, account: AccountId, actor: Option<UserId>, id: GroupSetId) -> StoreResult<()> {
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let past = load(&mut tx, account, id).await?.ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM org_unit_group_sets WHERE account_id = $1 AND id = $2")
            .bind(account.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        record_change::<GroupSet>(
            &mut tx,
            account,
            actor,
            (GROUP_SET_CONTENT_TYPE, id.0),
            "group_set_api",
            Some(&past),
            None,
        )
        .await?;
        tx.commit().await.map_err(db_err)
    }
}
