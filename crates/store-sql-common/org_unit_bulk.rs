//! One change applied to many org units in one transaction (Iaso's bulk update): a new type, a
//! validation status, groups joined or left, each unit audited.

use std::collections::{BTreeSet, HashMap};

use hygeia_core::orgunit::ORG_UNIT_CONTENT_TYPE;
use hygeia_core::{
    BulkOrgUnitChange, GroupId, OrgUnit, OrgUnitScope, OrgUnitSelection, ParentFilter, SourceVersionId, UserId,
};
use hygeia_store::{StoreError, StoreResult};
use sqlx::QueryBuilder;
use sqlx::types::Json;

use super::super::{Db, begin_write, lock_tree};
use super::org_units::{
    CODE_TAKEN, COLUMNS, UnitRow, check_type, check_writable_version, push_filters, push_in, push_within,
    visible_roots, visible_unit,
};
use super::{db_err, now, on_unique, sorted_dedup};

type Conn = <Db as sqlx::Database>::Connection;

/// Statements touch at most this many units, well within the backends' bind-parameter limits.
const CHUNK: usize = 1000;

pub(super) async fn bulk_update(
    pool: &sqlx::Pool<Db>,
    scope: &OrgUnitScope,
    actor: Option<UserId>,
    selection: &OrgUnitSelection,
    change: &BulkOrgUnitChange,
) -> StoreResult<u64> {
    let account = scope.account;
    let mut tx = begin_write(pool).await.map_err(db_err)?;
    lock_tree(&mut tx, account).await?;
    let ids = selected_ids(&mut tx, scope, selection).await?;
    check_type(&mut tx, account, change.org_unit_type_id).await?;
    let added = group_versions(&mut tx, scope, &change.groups_added, "groups_added").await?;
    let removed = group_versions(&mut tx, scope, &change.groups_removed, "groups_removed").await?;

    let mut past = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        past.extend(load(&mut tx, scope, chunk).await?);
    }
    let versions: BTreeSet<SourceVersionId> = past.iter().map(|u| u.version_id).collect();
    for version in &versions {
        check_writable_version(&mut tx, account, *version).await?;
    }
    for (field, groups) in [("groups_added", &added), ("groups_removed", &removed)] {
        for (group, version) in groups {
            if let Some(unit) = past.iter().find(|u| u.version_id != *version) {
                return Err(StoreError::invalid(
                    field,
                    format!("Group {group} belongs to another version than unit {}.", unit.id),
                ));
            }
        }
    }

    let at = now();
    for chunk in ids.chunks(CHUNK) {
        let mut update = QueryBuilder::<Db>::new("UPDATE org_units SET updated_at = ");
        update.push_bind(at);
        if let Some(org_unit_type) = change.org_unit_type_id {
            update.push(", org_unit_type_id = ").push_bind(org_unit_type.0);
        }
        if let Some(status) = change.validation_status {
            update.push(", validation_status = ").push_bind(status.as_str());
        }
        update.push(" WHERE account_id = ").push_bind(account.0);
        push_in(&mut update, "id", chunk.iter().copied());
        // Making units VALID can collide with the codes of other valid units.
        update.build().execute(&mut *tx).await.map_err(on_unique("code", CODE_TAKEN))?;

        for group in removed.keys() {
            let mut delete = QueryBuilder::<Db>::new("DELETE FROM org_unit_group_members WHERE group_id = ");
            delete.push_bind(group.0);
            push_in(&mut delete, "org_unit_id", chunk.iter().copied());
            delete.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        for group in added.keys() {
            let mut insert = QueryBuilder::<Db>::new("INSERT INTO org_unit_group_members (group_id, org_unit_id) ");
            insert.push_values(chunk, |mut row, unit| {
                row.push_bind(group.0).push_bind(*unit);
            });
            insert.push(" ON CONFLICT DO NOTHING");
            insert.build().execute(&mut *tx).await.map_err(db_err)?;
        }
    }

    let groups_change = serde_json::json!({
        "groups_added": change.groups_added,
        "groups_removed": change.groups_removed,
    });
    let past_by_id: HashMap<i64, &OrgUnit> = past.iter().map(|u| (u.id.0, u)).collect();
    for chunk in ids.chunks(CHUNK / 4) {
        let updated = load(&mut tx, &OrgUnitScope::whole_account(account), chunk).await?;
        let mut insert = QueryBuilder::<Db>::new(
            "INSERT INTO modifications (account_id, content_type, object_id, user_id, source, past_value, \
             new_value, created_at) ",
        );
        insert.push_values(&updated, |mut row, unit| {
            let mut new_value = serde_json::to_value(unit).unwrap_or_default();
            if !change.groups_added.is_empty() || !change.groups_removed.is_empty() {
                new_value["bulk_groups"] = groups_change.clone();
            }
            row.push_bind(account.0)
                .push_bind(ORG_UNIT_CONTENT_TYPE)
                .push_bind(unit.id.0.to_string())
                .push_bind(actor.map(|a| a.0))
                .push_bind("bulk_update")
                .push_bind(past_by_id.get(&unit.id.0).map(|u| Json(serde_json::to_value(u).unwrap_or_default())))
                .push_bind(Json(new_value))
                .push_bind(at);
        });
        if !updated.is_empty() {
            insert.build().execute(&mut *tx).await.map_err(db_err)?;
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(ids.len() as u64)
}

/// The selected units' ids, sorted. Explicit ids must all be visible.
async fn selected_ids(conn: &mut Conn, scope: &OrgUnitScope, selection: &OrgUnitSelection) -> StoreResult<Vec<i64>> {
    let roots = visible_roots(conn, scope).await?;
    match selection {
        OrgUnitSelection::Ids(ids) => {
            let wanted = sorted_dedup(ids.iter().map(|id| id.0).collect());
            let mut found = Vec::with_capacity(wanted.len());
            for chunk in wanted.chunks(CHUNK) {
                let mut query = QueryBuilder::<Db>::new("SELECT o.id FROM org_units o WHERE o.account_id = ");
                query.push_bind(scope.account.0);
                push_within(&mut query, &roots);
                push_in(&mut query, "o.id", chunk.iter().copied());
                let mut ids: Vec<i64> = query.build_query_scalar().fetch_all(&mut *conn).await.map_err(db_err)?;
                ids.sort_unstable();
                if let Some(missing) = chunk.iter().find(|id| ids.binary_search(id).is_err()) {
                    return Err(StoreError::invalid(
                        "selected_ids",
                        format!("Unknown unit {missing}: it does not exist or is out of reach."),
                    ));
                }
                found.extend(ids);
            }
            Ok(found)
        }
        OrgUnitSelection::Matching { queries, except } => {
            let mut found = BTreeSet::new();
            for filter in queries {
                let subtree_root = match filter.parent {
                    Some(ParentFilter::SubtreeOf { root, .. }) => {
                        visible_unit(conn, scope, root).await?.map(|u| u.path.0)
                    }
                    _ => None,
                };
                let mut query = QueryBuilder::<Db>::new("SELECT o.id FROM org_units o");
                push_filters(&mut query, scope, &roots, filter, subtree_root.as_deref());
                let ids: Vec<i64> = query.build_query_scalar().fetch_all(&mut *conn).await.map_err(db_err)?;
                found.extend(ids);
            }
            for id in except {
                found.remove(&id.0);
            }
            Ok(found.into_iter().collect())
        }
    }
}

/// The groups' versions; an unknown group (or another account's) is refused under `field`.
async fn group_versions(
    conn: &mut Conn,
    scope: &OrgUnitScope,
    groups: &[GroupId],
    field: &'static str,
) -> StoreResult<HashMap<GroupId, SourceVersionId>> {
    let mut versions = HashMap::new();
    for group in sorted_dedup(groups.to_vec()) {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version_id FROM org_unit_groups WHERE account_id = $1 AND id = $2")
                .bind(scope.account.0)
                .bind(group.0)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
        let version = version.ok_or_else(|| StoreError::invalid(field, format!("Unknown group {group}.")))?;
        versions.insert(group, SourceVersionId(version));
    }
    Ok(versions)
}

async fn load(conn: &mut Conn, scope: &OrgUnitScope, ids: &[i64]) -> StoreResult<Vec<OrgUnit>> {
    let mut query = QueryBuilder::<Db>::new(COLUMNS);
    query.push(" WHERE o.account_id = ").push_bind(scope.account.0);
    push_in(&mut query, "o.id", ids.iter().copied());
    query.push(" ORDER BY o.id");
    let rows: Vec<UnitRow> = query.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
    Ok(rows.into_iter().map(Into::into).collect())
}
