use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::orgunit::GROUP_CONTENT_TYPE;
use hygeia_core::{AccountId, Group, GroupId, GroupInput, OrgUnitId, OrgUnitScope, SourceVersionId, UserId};
use hygeia_store::{GroupStore, StoreError, StoreResult};
use sqlx::QueryBuilder;

use super::super::{Db, SqlStore, begin_write};
use super::org_units::{record_change, visible_unit};
use super::{db_err, lock_tree, now, sorted_dedup};

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: i64,
    account_id: i64,
    version_id: i64,
    name: String,
    source_ref: Option<String>,
    block_of_countries: bool,
    org_unit_count: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<GroupRow> for Group {
    fn from(row: GroupRow) -> Self {
        Group {
            id: GroupId(row.id),
            account_id: AccountId(row.account_id),
            version_id: SourceVersionId(row.version_id),
            name: row.name,
            source_ref: row.source_ref,
            block_of_countries: row.block_of_countries,
            org_unit_count: row.org_unit_count.max(0) as u64,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

const COLUMNS: &str = "SELECT g.id, g.account_id, g.version_id, g.name, g.source_ref, g.block_of_countries, \
    (SELECT COUNT(*) FROM org_unit_group_members m WHERE m.group_id = g.id) AS org_unit_count, g.created_at, \
    g.updated_at FROM org_unit_groups g";

type Conn = <Db as sqlx::Database>::Connection;

async fn load(conn: &mut Conn, account: AccountId, id: GroupId) -> StoreResult<Option<Group>> {
    let row: Option<GroupRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE g.account_id = $1 AND g.id = $2")))
            .bind(account.0)
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    Ok(row.map(Into::into))
}

async fn check_version(conn: &mut Conn, account: AccountId, version: SourceVersionId) -> StoreResult<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM source_versions WHERE account_id = $1 AND id = $2")
        .bind(account.0)
        .bind(version.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::invalid("version_id", "Unknown version: it does not exist in this account."))
}

#[async_trait]
impl GroupStore for SqlStore {
    async fn create(&self, account: AccountId, actor: Option<UserId>, group: GroupInput) -> StoreResult<Group> {
        group.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        check_version(&mut tx, account, group.version_id).await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO org_unit_groups (account_id, version_id, name, source_ref, block_of_countries, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(account.0)
        .bind(group.version_id.0)
        .bind(group.name.trim())
        .bind(&group.source_ref)
        .bind(group.block_of_countries)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let created = load(&mut tx, account, GroupId(id)).await?.ok_or(StoreError::NotFound)?;
        record_change(&mut tx, account, actor, (GROUP_CONTENT_TYPE, id), "group_api", None, Some(&created)).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    async fn get(&self, account: AccountId, id: GroupId) -> StoreResult<Option<Group>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        load(&mut conn, account, id).await
    }

    async fn list(&self, account: AccountId, versions: &[SourceVersionId]) -> StoreResult<Vec<Group>> {
        let mut query = QueryBuilder::<Db>::new(COLUMNS);
        query.push(" WHERE g.account_id = ").push_bind(account.0);
        if !versions.is_empty() {
            query.push(" AND g.version_id IN (");
            let mut list = query.separated(", ");
            for version in versions {
                list.push_bind(version.0);
            }
            query.push(")");
        }
        let rows: Vec<GroupRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?;
        let mut groups: Vec<Group> = rows.into_iter().map(Into::into).collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(groups)
    }

    async fn update(
        &self,
        account: AccountId,
        actor: Option<UserId>,
        id: GroupId,
        group: GroupInput,
    ) -> StoreResult<Group> {
        group.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let past = load(&mut tx, account, id).await?.ok_or(StoreError::NotFound)?;
        if past.version_id != group.version_id {
            return Err(StoreError::invalid("version_id", "A group cannot move to another version."));
        }
        sqlx::query(
            "UPDATE org_unit_groups SET name = $3, source_ref = $4, block_of_countries = $5, updated_at = $6 \
             WHERE account_id = $1 AND id = $2",
        )
        .bind(account.0)
        .bind(id.0)
        .bind(group.name.trim())
        .bind(&group.source_ref)
        .bind(group.block_of_countries)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let updated = load(&mut tx, account, id).await?.ok_or(StoreError::NotFound)?;
        record_change(&mut tx, account, actor, (GROUP_CONTENT_TYPE, id.0), "group_api", Some(&past), Some(&updated))
            .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(updated)
    }

    async fn delete(&self, account: AccountId, actor: Option<UserId>, id: GroupId) -> StoreResult<()> {
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Its members leave with it: a tree change for the group filter's counts.
        lock_tree(&mut tx, account).await?;
        let past = load(&mut tx, account, id).await?.ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM org_unit_groups WHERE account_id = $1 AND id = $2")
            .bind(account.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        record_change::<Group>(&mut tx, account, actor, (GROUP_CONTENT_TYPE, id.0), "group_api", Some(&past), None)
            .await?;
        tx.commit().await.map_err(db_err)
    }

    async fn change_members(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        id: GroupId,
        add: &[OrgUnitId],
        remove: &[OrgUnitId],
    ) -> StoreResult<Group> {
        let account = scope.account;
        if add.len() + remove.len() > 10_000 {
            return Err(StoreError::invalid("org_unit_ids", "Change at most 10000 members at once."));
        }
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        lock_tree(&mut tx, account).await?;
        let past = load(&mut tx, account, id).await?.ok_or(StoreError::NotFound)?;
        for unit in sorted_dedup(add.iter().chain(remove).copied().collect()) {
            let found = visible_unit(&mut tx, scope, unit).await?;
            match found {
                Some(u) if u.version_id == past.version_id => {}
                Some(_) => {
                    return Err(StoreError::invalid(
                        "org_unit_ids",
                        format!("Unit {unit} belongs to another version."),
                    ));
                }
                None => return Err(StoreError::invalid("org_unit_ids", format!("Unknown unit {unit}."))),
            }
        }
        for unit in sorted_dedup(remove.to_vec()) {
            sqlx::query("DELETE FROM org_unit_group_members WHERE group_id = $1 AND org_unit_id = $2")
                .bind(id.0)
                .bind(unit.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        for unit in sorted_dedup(add.to_vec()) {
            sqlx::query(
                "INSERT INTO org_unit_group_members (group_id, org_unit_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id.0)
            .bind(unit.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        let updated = load(&mut tx, account, id).await?.ok_or(StoreError::NotFound)?;
        let members = |added: &[OrgUnitId], removed: &[OrgUnitId]| serde_json::json!({"added": added.iter().map(|u| u.0).collect::<Vec<_>>(), "removed": removed.iter().map(|u| u.0).collect::<Vec<_>>()});
        record_change(
            &mut tx,
            account,
            actor,
            (GROUP_CONTENT_TYPE, id.0),
            "group_api",
            None,
            Some(&members(add, remove)),
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(updated)
    }

    async fn groups_of(&self, account: AccountId, units: &[OrgUnitId]) -> StoreResult<Vec<(OrgUnitId, Group)>> {
        let mut result = Vec::new();
        for chunk in units.chunks(1000) {
            let mut query = QueryBuilder::<Db>::new(
                "SELECT m.org_unit_id, g.id, g.account_id, g.version_id, g.name, g.source_ref, g.block_of_countries, \
                 CAST(0 AS BIGINT) AS org_unit_count, g.created_at, g.updated_at FROM org_unit_group_members m \
                 JOIN org_unit_groups g ON g.id = m.group_id WHERE g.account_id = ",
            );
            query.push_bind(account.0).push(" AND m.org_unit_id IN (");
            let mut list = query.separated(", ");
            for unit in chunk {
                list.push_bind(unit.0);
            }
            query.push(")");
            let rows: Vec<MemberRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?;
            result.extend(rows.into_iter().map(|row| (OrgUnitId(row.org_unit_id), Group::from(row.group))));
        }
        result.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.name.cmp(&b.1.name)));
        Ok(result)
    }
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    org_unit_id: i64,
    #[sqlx(flatten)]
    group: GroupRow,
}
