//! Writes to many org units in one transaction: batch creation (imports, seeding) and one change
//! applied to a selection (Iaso's bulk update: a new type, a validation status, groups joined or
//! left). Each unit is audited.

use std::collections::{BTreeSet, HashMap};

use hygeia_core::orgunit::{GROUP_CONTENT_TYPE, GROUP_SET_CONTENT_TYPE, ORG_UNIT_CONTENT_TYPE};
use hygeia_core::{
    BulkOrgUnitChange, GroupId, GroupInput, NewOrgUnit, OrgUnit, OrgUnitId, OrgUnitScope, OrgUnitSelection,
    ParentFilter, PlannedGroup, PlannedUnit, ShapeData, SourceVersionId, TreeChanges, TreeChangesApplied, TreePath,
    UserId, ValidationError,
};
use hygeia_store::{StoreError, StoreResult};
use sqlx::QueryBuilder;
use sqlx::types::Json;

use super::super::{Db, begin_write, defer_bulk_indexing, index_bulk_rows, reserve_unit_ids};
use hygeia_core::orgunit::MAX_TREE_DEPTH;

use super::org_units::{
    CODE_TAKEN, COLUMNS, UnitRow, check_type, check_writable_version, push_filters, push_in, push_within,
    record_change, unit_box, update_in_tx, visible_roots, visible_unit,
};
use super::{db_err, lock_tree, now, on_unique, sorted_dedup};

type Conn = <Db as sqlx::Database>::Connection;

/// Statements touch at most this many units, well within the backends' bind-parameter limits.
const CHUNK: usize = 1000;

/// Rows a multi-row INSERT carries: 27 values each, within SQLite's 32,766 and PostgreSQL's 65,535
/// parameters.
const INSERT_ROWS: usize = 1000;

/// Boundaries a multi-row INSERT carries: a statement of a few megabytes.
const SHAPE_ROWS: usize = 64;

pub(super) async fn create_many(
    pool: &sqlx::Pool<Db>,
    scope: &OrgUnitScope,
    actor: Option<UserId>,
    units: &[NewOrgUnit],
) -> StoreResult<Vec<OrgUnitId>> {
    for (i, unit) in units.iter().enumerate() {
        unit.validate().map_err(|err| located(i, err))?;
    }
    if units.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = begin_write(pool).await.map_err(db_err)?;
    lock_tree(&mut tx, scope.account).await?;
    let batch: Vec<(&NewOrgUnit, Option<OrgUnitId>)> = units.iter().map(|u| (u, u.parent_id)).collect();
    let ids = insert_batch(&mut tx, scope, actor, &batch, "org_unit_api").await?;
    tx.commit().await.map_err(db_err)?;
    Ok(ids)
}

/// A whole tree in one transaction: `batch_parents[i] = Some(j)` makes `units[j]` (an earlier one)
/// the parent of `units[i]`; otherwise `units[i].parent_id` is used. Inserted a generation at a
/// time, so that each batch's parents exist when it is checked and its paths computed.
pub(super) async fn create_tree(
    pool: &sqlx::Pool<Db>,
    scope: &OrgUnitScope,
    actor: Option<UserId>,
    units: &[NewOrgUnit],
    batch_parents: &[Option<usize>],
) -> StoreResult<Vec<OrgUnitId>> {
    let generation = generations(units, batch_parents)?;
    if units.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = begin_write(pool).await.map_err(db_err)?;
    lock_tree(&mut tx, scope.account).await?;
    let ids = insert_generations(&mut tx, scope, actor, units, batch_parents, &generation, "org_unit_api").await?;
    tx.commit().await.map_err(db_err)?;
    Ok(ids)
}

/// Validates the units and counts each one's ancestors within the batch (its generation).
fn generations(units: &[NewOrgUnit], batch_parents: &[Option<usize>]) -> StoreResult<Vec<usize>> {
    if batch_parents.len() != units.len() {
        return Err(StoreError::invalid("units", "Give one batch parent (or none) per unit."));
    }
    let mut generation = vec![0usize; units.len()];
    for (i, parent) in batch_parents.iter().enumerate() {
        units[i].validate().map_err(|err| located(i, err))?;
        if let Some(j) = *parent {
            if j >= i {
                let message = "A unit's parent in the batch must come before it.";
                return Err(located(i, ValidationError::field("parent_id", message)));
            }
            generation[i] = generation[j] + 1;
        }
    }
    Ok(generation)
}

/// Applies an import's changes in one transaction: groups first, then the new units (a
/// generation at a time), then the updates in order, then the memberships.
pub(super) async fn apply_changes(
    pool: &sqlx::Pool<Db>,
    scope: &OrgUnitScope,
    actor: Option<UserId>,
    changes: &TreeChanges,
) -> StoreResult<TreeChangesApplied> {
    let account = scope.account;
    let generation = generations(&changes.creates, &changes.create_parents)?;
    if let Some(unit) = changes.creates.iter().position(|u| u.version_id != changes.version_id) {
        return Err(located(
            unit,
            ValidationError::field("version_id", "Every unit must belong to the batch's version."),
        ));
    }
    for (i, planned) in changes.updates.iter().enumerate() {
        planned.update.validate().map_err(|err| located_in("updates", i, err))?;
        if planned.new_parent.is_some_and(|j| j >= changes.creates.len()) {
            return Err(located_in("updates", i, ValidationError::field("parent_id", "Unknown new unit.")));
        }
    }
    for (i, group) in changes.new_groups.iter().enumerate() {
        let input = GroupInput {
            version_id: changes.version_id,
            name: group.name.clone(),
            source_ref: group.source_ref.clone(),
            block_of_countries: false,
        };
        input.validate().map_err(|err| located_in("groups", i, err))?;
    }

    let mut tx = begin_write(pool).await.map_err(db_err)?;
    lock_tree(&mut tx, account).await?;
    check_writable_version(&mut tx, account, changes.version_id).await?;
    let at = now();

    let mut created_groups = Vec::with_capacity(changes.new_groups.len());
    for group in &changes.new_groups {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO org_unit_groups (account_id, version_id, name, source_ref, block_of_countries, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, FALSE, $5, $5) RETURNING id",
        )
        .bind(account.0)
        .bind(changes.version_id.0)
        .bind(group.name.trim())
        .bind(&group.source_ref)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let created = serde_json::json!({ "name": group.name.trim(), "source_ref": group.source_ref });
        let object = (GROUP_CONTENT_TYPE, id);
        record_change(&mut tx, account, actor, object, &changes.audit_source, None, Some(&created)).await?;
        created_groups.push(GroupId(id));
    }
    let version_groups: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM org_unit_groups WHERE account_id = $1 AND version_id = $2")
            .bind(account.0)
            .bind(changes.version_id.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
    let in_version = |group: GroupId| version_groups.contains(&group.0);
    for (group, name) in &changes.renamed_groups {
        if !in_version(*group) {
            return Err(StoreError::invalid("groups", format!("Group {group} is not a group of this version.")));
        }
        sqlx::query("UPDATE org_unit_groups SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name.trim())
            .bind(at)
            .bind(group.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let renamed = serde_json::json!({ "name": name.trim() });
        let object = (GROUP_CONTENT_TYPE, group.0);
        record_change(&mut tx, account, actor, object, &changes.audit_source, None, Some(&renamed)).await?;
    }

    let created = if changes.creates.is_empty() {
        Vec::new()
    } else {
        let (creates, parents) = (&changes.creates, &changes.create_parents);
        insert_generations(&mut tx, scope, actor, creates, parents, &generation, &changes.audit_source).await?
    };

    for (i, planned) in changes.updates.iter().enumerate() {
        let mut update = planned.update.clone();
        if let Some(j) = planned.new_parent {
            update.parent_id = Some(Some(created[j]));
        }
        let current = visible_unit(&mut tx, scope, planned.id).await?.ok_or_else(|| {
            StoreError::invalid(&format!("updates[{i}]"), "Unknown unit: it does not exist or is out of reach.")
        })?;
        if current.version_id != changes.version_id {
            return Err(StoreError::invalid(&format!("updates[{i}]"), "The unit belongs to another version."));
        }
        update_in_tx(&mut tx, scope, actor, planned.id, update, &changes.audit_source).await.map_err(
            |err| match err {
                StoreError::Invalid(err) => located_in("updates", i, err),
                other => other,
            },
        )?;
    }

    let resolve_unit = |unit: PlannedUnit| match unit {
        PlannedUnit::New(i) => created.get(i).copied(),
        PlannedUnit::Existing(id) => Some(id),
    };
    let resolve_group = |group: PlannedGroup| match group {
        PlannedGroup::New(i) => created_groups.get(i).copied(),
        PlannedGroup::Existing(id) => in_version(id).then_some(id),
    };
    let mut members: Vec<(i64, i64)> = Vec::new();
    let mut units: Vec<i64> = Vec::with_capacity(changes.memberships.len());
    for (i, (unit, groups)) in changes.memberships.iter().enumerate() {
        let unit = resolve_unit(*unit)
            .ok_or_else(|| StoreError::invalid(&format!("memberships[{i}]"), "Unknown new unit."))?;
        units.push(unit.0);
        for group in groups {
            let group = resolve_group(*group).ok_or_else(|| {
                StoreError::invalid(&format!("memberships[{i}]"), "Unknown group: it is not a group of this version.")
            })?;
            members.push((group.0, unit.0));
        }
    }
    let units = sorted_dedup(units);
    if !version_groups.is_empty() || !created_groups.is_empty() {
        for chunk in units.chunks(CHUNK) {
            let mut delete = QueryBuilder::<Db>::new(
                "DELETE FROM org_unit_group_members WHERE group_id IN (SELECT id FROM org_unit_groups WHERE \
                 account_id = ",
            );
            delete.push_bind(account.0).push(" AND version_id = ").push_bind(changes.version_id.0).push(")");
            push_in(&mut delete, "org_unit_id", chunk.iter().copied());
            delete.build().execute(&mut *tx).await.map_err(db_err)?;
        }
    }
    for (i, set) in changes.new_group_sets.iter().enumerate() {
        let groups: Vec<i64> =
            set.groups.iter().map(|g| resolve_group(*g).map(|g| g.0)).collect::<Option<_>>().ok_or_else(|| {
                StoreError::invalid(&format!("group_sets[{i}]"), "Unknown group: it is not a group of this version.")
            })?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO org_unit_group_sets (account_id, version_id, name, source_ref, group_belonging, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, 'SINGLE', $5, $5) RETURNING id",
        )
        .bind(account.0)
        .bind(changes.version_id.0)
        .bind(set.name.trim())
        .bind(&set.source_ref)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let created = serde_json::json!({ "name": set.name.trim(), "source_ref": set.source_ref, "group_ids": groups });
        let object = (GROUP_SET_CONTENT_TYPE, id);
        record_change(&mut tx, account, actor, object, &changes.audit_source, None, Some(&created)).await?;
        for chunk in sorted_dedup(groups).chunks(CHUNK) {
            let mut insert = QueryBuilder::<Db>::new("INSERT INTO org_unit_group_set_groups (group_set_id, group_id) ");
            insert.push_values(chunk, |mut row, group| {
                row.push_bind(id).push_bind(*group);
            });
            insert.build().execute(&mut *tx).await.map_err(db_err)?;
        }
    }
    let members = sorted_dedup(members);
    for chunk in members.chunks(CHUNK) {
        let mut insert = QueryBuilder::<Db>::new("INSERT INTO org_unit_group_members (group_id, org_unit_id) ");
        insert.push_values(chunk, |mut row, (group, unit)| {
            row.push_bind(*group).push_bind(*unit);
        });
        insert.build().execute(&mut *tx).await.map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(TreeChangesApplied { created, created_groups })
}

/// Inserts `units` a generation at a time (`generation[i]`: how many batch ancestors unit `i` has).
async fn insert_generations(
    tx: &mut Conn,
    scope: &OrgUnitScope,
    actor: Option<UserId>,
    units: &[NewOrgUnit],
    batch_parents: &[Option<usize>],
    generation: &[usize],
    source: &str,
) -> StoreResult<Vec<OrgUnitId>> {
    let mut ids = vec![OrgUnitId(0); units.len()];
    for level in 0..=generation.iter().copied().max().unwrap_or(0) {
        let indexes: Vec<usize> = (0..units.len()).filter(|&i| generation[i] == level).collect();
        let batch: Vec<(&NewOrgUnit, Option<OrgUnitId>)> = indexes
            .iter()
            .map(|&i| (&units[i], batch_parents[i].map_or(units[i].parent_id, |j| Some(ids[j]))))
            .collect();
        let created = insert_batch(tx, scope, actor, &batch, source).await.map_err(|err| relocated(err, &indexes))?;
        for (k, &i) in indexes.iter().enumerate() {
            ids[i] = created[k];
        }
    }
    Ok(ids)
}

/// Renames `units[k].field` errors of a generation's batch to the input's indexes.
fn relocated(err: StoreError, indexes: &[usize]) -> StoreError {
    let StoreError::Invalid(ValidationError(fields)) = err else { return err };
    let mut errors = hygeia_core::FieldErrors::default();
    for (field, messages) in fields.0 {
        let renamed = field
            .strip_prefix("units[")
            .and_then(|rest| rest.split_once("]"))
            .and_then(|(k, tail)| Some(format!("units[{}]{tail}", indexes.get(k.parse::<usize>().ok()?)?)))
            .unwrap_or(field);
        for message in messages {
            errors.add(&renamed, message);
        }
    }
    StoreError::Invalid(ValidationError(errors))
}

/// From this many units a batch turns the per-row search and R*Tree triggers off and indexes its
/// rows in one statement per index (SQLite, migration 0007). Fewer are left to the triggers:
/// turning them off and indexing and turning them on again cost four statements, and a phone
/// sends one unit at a time.
const DEFER_INDEXING_FROM: usize = 100;

/// Checks and inserts `units` (whose parents all exist) inside the caller's transaction, which
/// holds the tree lock; audits each. Each unit comes with its parent (which replaces its
/// `parent_id`). The ids are reserved first, so each row is written once with its final path, and
/// its audit entry is built from what was written.
async fn insert_batch(
    tx: &mut Conn,
    scope: &OrgUnitScope,
    actor: Option<UserId>,
    batch: &[(&NewOrgUnit, Option<OrgUnitId>)],
    source: &str,
) -> StoreResult<Vec<OrgUnitId>> {
    let account = scope.account;
    // Versions and types: each distinct one checked once, a refusal named by its first unit.
    let locate = |i: usize| {
        move |e: StoreError| match e {
            StoreError::Invalid(err) => located(i, err),
            other => other,
        }
    };
    let (mut versions, mut types) = (BTreeSet::new(), BTreeSet::new());
    for (i, (unit, _)) in batch.iter().enumerate() {
        if versions.insert(unit.version_id) {
            check_writable_version(tx, account, unit.version_id).await.map_err(locate(i))?;
        }
        if let Some(org_unit_type) = unit.org_unit_type_id
            && types.insert(org_unit_type)
        {
            check_type(tx, account, Some(org_unit_type)).await.map_err(locate(i))?;
        }
    }
    let parents = parent_paths(tx, scope, batch).await?;
    let mut paths = Vec::with_capacity(batch.len());
    let ids = reserve_unit_ids(tx, batch.len()).await.map_err(db_err)?;
    for (i, ((unit, parent), id)) in batch.iter().zip(&ids).enumerate() {
        let id = OrgUnitId(*id);
        let path = match parent {
            None => TreePath::root(id),
            Some(parent) => match parents.get(parent) {
                None => {
                    let message = "Unknown parent: it does not exist or is out of reach.";
                    return Err(located(i, ValidationError::field("parent_id", message)));
                }
                Some((version, _)) if *version != unit.version_id => {
                    let message = "The parent belongs to another version.";
                    return Err(located(i, ValidationError::field("parent_id", message)));
                }
                Some((_, path)) if path.depth() >= MAX_TREE_DEPTH => {
                    let message = format!("The tree may not be deeper than {MAX_TREE_DEPTH} levels.");
                    return Err(located(i, ValidationError::field("parent_id", message)));
                }
                Some((_, path)) => path.child(id),
            },
        };
        paths.push(path);
    }

    let at = now();
    let created: Vec<OrgUnit> = batch
        .iter()
        .zip(&ids)
        .zip(paths)
        .map(|(((unit, parent), id), path)| OrgUnit {
            id: OrgUnitId(*id),
            account_id: account,
            version_id: unit.version_id,
            parent_id: *parent,
            path,
            name: unit.name.trim().to_owned(),
            uuid: unit.uuid.clone(),
            custom: unit.custom,
            validation_status: unit.validation_status,
            org_unit_type_id: unit.org_unit_type_id,
            source_ref: unit.source_ref.clone(),
            code: unit.code.trim().to_owned(),
            location: unit.location,
            has_shape: unit.shape.is_some(),
            aliases: unit.aliases.clone(),
            opening_date: unit.opening_date,
            closed_date: unit.closed_date,
            creator_id: actor,
            created_at: at,
            updated_at: at,
        })
        .collect();
    let deferred = batch.len() >= DEFER_INDEXING_FROM;
    if deferred {
        defer_bulk_indexing(tx).await.map_err(db_err)?;
    }
    for chunk in created.chunks(INSERT_ROWS).zip(batch.chunks(INSERT_ROWS)) {
        let mut insert = QueryBuilder::<Db>::new(
            "INSERT INTO org_units (id, account_id, version_id, parent_id, path, depth, name, uuid, custom, \
             validation_status, org_unit_type_id, source_ref, code, latitude, longitude, altitude, min_x, min_y, \
             max_x, max_y, aliases, opening_date, closed_date, creator_id, created_at, updated_at, has_shape) ",
        );
        insert.push_values(chunk.0.iter().zip(chunk.1), |mut row, (unit, (input, _))| {
            let [min_x, min_y, max_x, max_y] = unit_box(unit.location.as_ref(), input.shape.as_ref());
            row.push_bind(unit.id.0)
                .push_bind(account.0)
                .push_bind(unit.version_id.0)
                .push_bind(unit.parent_id.map(|p| p.0))
                .push_bind(unit.path.0.clone())
                .push_bind(unit.path.depth() as i64)
                .push_bind(unit.name.clone())
                .push_bind(unit.uuid.clone())
                .push_bind(unit.custom)
                .push_bind(unit.validation_status.as_str())
                .push_bind(unit.org_unit_type_id.map(|t| t.0))
                .push_bind(unit.source_ref.clone())
                .push_bind(unit.code.clone())
                .push_bind(unit.location.map(|l| l.latitude))
                .push_bind(unit.location.map(|l| l.longitude))
                .push_bind(unit.location.map(|l| l.altitude))
                .push_bind(min_x)
                .push_bind(min_y)
                .push_bind(max_x)
                .push_bind(max_y)
                .push_bind(Json(unit.aliases.clone()))
                .push_bind(unit.opening_date)
                .push_bind(unit.closed_date)
                .push_bind(actor.map(|a| a.0))
                .push_bind(at)
                .push_bind(at)
                .push_bind(unit.has_shape);
        });
        insert.build().execute(&mut *tx).await.map_err(on_unique("code", CODE_TAKEN))?;
    }
    if deferred {
        index_bulk_rows(tx, &ids).await.map_err(db_err)?;
    }

    let shapes: Vec<(i64, &ShapeData)> =
        ids.iter().zip(batch).filter_map(|(id, (unit, _))| Some((*id, unit.shape.as_ref()?))).collect();
    for chunk in shapes.chunks(SHAPE_ROWS) {
        let mut insert = QueryBuilder::<Db>::new("INSERT INTO org_unit_shapes (org_unit_id, geom, simplified_geom) ");
        insert.push_values(chunk, |mut row, (id, shape)| {
            row.push_bind(*id).push_bind(shape.full_wkb.as_slice()).push_bind(shape.simplified_wkb.as_slice());
        });
        insert.build().execute(&mut *tx).await.map_err(db_err)?;
    }

    for chunk in created.chunks(CHUNK / 4) {
        let entries: Vec<(&OrgUnit, Option<&OrgUnit>)> = chunk.iter().map(|u| (u, None)).collect();
        record_many(tx, scope, actor, source, &entries, at).await?;
    }
    Ok(ids.into_iter().map(OrgUnitId).collect())
}

/// The version and path of each distinct parent of `units` that the scope can see; a top-level
/// unit is refused to a scope limited to subtrees.
async fn parent_paths(
    conn: &mut Conn,
    scope: &OrgUnitScope,
    batch: &[(&NewOrgUnit, Option<OrgUnitId>)],
) -> StoreResult<HashMap<OrgUnitId, (SourceVersionId, TreePath)>> {
    if !scope.roots.is_empty()
        && let Some(i) = batch.iter().position(|(_, parent)| parent.is_none())
    {
        let message = "Users limited to part of the tree cannot create or move units to the top level.";
        return Err(located(i, ValidationError::field("parent_id", message)));
    }
    let roots = visible_roots(conn, scope).await?;
    let wanted = sorted_dedup(batch.iter().filter_map(|(_, parent)| parent.map(|p| p.0)).collect());
    let mut found = HashMap::with_capacity(wanted.len());
    for chunk in wanted.chunks(CHUNK) {
        let mut query =
            QueryBuilder::<Db>::new("SELECT o.id, o.version_id, o.path FROM org_units o WHERE o.account_id = ");
        query.push_bind(scope.account.0);
        push_within(&mut query, &roots);
        push_in(&mut query, "o.id", chunk.iter().copied());
        let rows: Vec<(i64, i64, String)> = query.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
        for (id, version, path) in rows {
            found.insert(OrgUnitId(id), (SourceVersionId(version), TreePath(path)));
        }
    }
    Ok(found)
}

/// A validation error of the batch's `index`th unit, its fields renamed `units[index].field`.
fn located(index: usize, err: ValidationError) -> StoreError {
    located_in("units", index, err)
}

/// A validation error of `list[index]`, its fields renamed `list[index].field`.
fn located_in(list: &str, index: usize, err: ValidationError) -> StoreError {
    let mut errors = hygeia_core::FieldErrors::default();
    for (field, messages) in err.0.0 {
        for message in messages {
            errors.add(&format!("{list}[{index}].{field}"), message);
        }
    }
    StoreError::Invalid(ValidationError(errors))
}

/// Audit entries for many units in one statement: `(new, past)` pairs.
async fn record_many(
    conn: &mut Conn,
    scope: &OrgUnitScope,
    actor: Option<UserId>,
    source: &str,
    entries: &[(&OrgUnit, Option<&OrgUnit>)],
    at: chrono::DateTime<chrono::Utc>,
) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut insert = QueryBuilder::<Db>::new(
        "INSERT INTO modifications (account_id, content_type, object_id, user_id, source, past_value, new_value, \
         created_at) ",
    );
    insert.push_values(entries, |mut row, (new, past)| {
        row.push_bind(scope.account.0)
            .push_bind(ORG_UNIT_CONTENT_TYPE)
            .push_bind(new.id.0.to_string())
            .push_bind(actor.map(|a| a.0))
            .push_bind(source.to_owned())
            .push_bind(past.map(Json))
            .push_bind(Json(*new))
            .push_bind(at);
    });
    insert.build().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

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

    let past_by_id: HashMap<OrgUnitId, &OrgUnit> = past.iter().map(|u| (u.id, u)).collect();
    for chunk in ids.chunks(CHUNK / 4) {
        let updated = load(&mut tx, scope, chunk).await?;
        let entries: Vec<(&OrgUnit, Option<&OrgUnit>)> =
            updated.iter().map(|u| (u, past_by_id.get(&u.id).copied())).collect();
        record_many(&mut tx, scope, actor, "bulk_update", &entries, at).await?;
    }
    // Membership changes are the groups' history, as with `change_members`.
    for (key, groups) in [("added", &added), ("removed", &removed)] {
        for group in groups.keys() {
            let change = serde_json::json!({ key: ids, "source": "bulk_update" });
            record_change(&mut tx, account, actor, (GROUP_CONTENT_TYPE, group.0), "bulk_update", None, Some(&change))
                .await?;
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
