use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use hygeia_core::orgunit::{MAX_TREE_DEPTH, ORG_UNIT_CONTENT_TYPE, check_dates};
use hygeia_core::validate::FieldErrors;
use hygeia_core::{
    AccountId, BulkOrgUnitChange, Geography, Location, Modification, NewOrgUnit, OrgUnit, OrgUnitId, OrgUnitOrder,
    OrgUnitQuery, OrgUnitScope, OrgUnitSearch, OrgUnitSelection, OrgUnitTypeId, OrgUnitUpdate, Page, ParentFilter,
    ShapeData, SourceVersionId, TreeChanges, TreeChangesApplied, TreePath, UserId, ValidationStatus,
};
use hygeia_store::{OrgUnitStore, StoreError, StoreResult};
use sqlx::QueryBuilder;
use sqlx::types::Json;

use super::super::{Db, SqlStore, begin_write, push_bbox_candidates, push_text_search};
use super::{db_err, lock_tree, now, on_unique};

type Conn = <Db as sqlx::Database>::Connection;

#[derive(sqlx::FromRow)]
pub(super) struct UnitRow {
    id: i64,
    account_id: i64,
    version_id: i64,
    parent_id: Option<i64>,
    path: String,
    name: String,
    uuid: Option<String>,
    custom: bool,
    validation_status: String,
    org_unit_type_id: Option<i64>,
    source_ref: Option<String>,
    code: String,
    latitude: Option<f64>,
    longitude: Option<f64>,
    altitude: Option<f64>,
    has_shape: bool,
    aliases: Json<Vec<String>>,
    opening_date: Option<NaiveDate>,
    closed_date: Option<NaiveDate>,
    creator_id: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UnitRow> for OrgUnit {
    fn from(row: UnitRow) -> Self {
        let location = match (row.latitude, row.longitude) {
            (Some(latitude), Some(longitude)) => {
                Some(Location { latitude, longitude, altitude: row.altitude.unwrap_or(0.0) })
            }
            _ => None,
        };
        OrgUnit {
            id: OrgUnitId(row.id),
            account_id: AccountId(row.account_id),
            version_id: SourceVersionId(row.version_id),
            parent_id: row.parent_id.map(OrgUnitId),
            path: TreePath(row.path),
            name: row.name,
            uuid: row.uuid,
            custom: row.custom,
            // The column's CHECK constraint admits only the three statuses.
            validation_status: ValidationStatus::parse(&row.validation_status).unwrap_or(ValidationStatus::New),
            org_unit_type_id: row.org_unit_type_id.map(OrgUnitTypeId),
            source_ref: row.source_ref,
            code: row.code,
            location,
            has_shape: row.has_shape,
            aliases: row.aliases.0,
            opening_date: row.opening_date,
            closed_date: row.closed_date,
            creator_id: row.creator_id.map(UserId),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub(super) const COLUMNS: &str = "SELECT o.id, o.account_id, o.version_id, o.parent_id, o.path, o.name, o.uuid, o.custom, \
    o.validation_status, o.org_unit_type_id, o.source_ref, o.code, o.latitude, o.longitude, o.altitude, o.has_shape, o.aliases, \
    o.opening_date, o.closed_date, o.creator_id, o.created_at, o.updated_at FROM org_units o";

pub(super) const CODE_TAKEN: &str = "Another valid org unit of this version already has this code.";

/// Paths of the subtrees a scope may see: `None` for the whole account.
pub(super) async fn visible_roots(conn: &mut Conn, scope: &OrgUnitScope) -> StoreResult<Option<Vec<String>>> {
    if scope.roots.is_empty() {
        return Ok(None);
    }
    let mut query = QueryBuilder::<Db>::new("SELECT path FROM org_units WHERE account_id = ");
    query.push_bind(scope.account.0).push(" AND id IN (");
    let mut list = query.separated(", ");
    for root in &scope.roots {
        list.push_bind(root.0);
    }
    query.push(")");
    let paths: Vec<String> = query.build_query_scalar().fetch_all(&mut *conn).await.map_err(db_err)?;
    Ok(Some(paths))
}

/// `AND o.path` lies in one of the subtrees. A subtree is its root's path or the paths between
/// `path.` and `path/` ('/' follows '.'), a range a B-tree index answers.
pub(super) fn push_within(query: &mut QueryBuilder<Db>, roots: &Option<Vec<String>>) {
    let Some(roots) = roots else { return };
    if roots.is_empty() {
        query.push(" AND 1 = 0");
        return;
    }
    query.push(" AND (");
    for (i, root) in roots.iter().enumerate() {
        if i > 0 {
            query.push(" OR ");
        }
        push_subtree(query, root, true);
    }
    query.push(")");
}

fn push_subtree(query: &mut QueryBuilder<Db>, root: &str, include_root: bool) {
    query.push("(");
    if include_root {
        query.push("o.path = ").push_bind(root.to_owned()).push(" OR ");
    }
    query
        .push("(o.path > ")
        .push_bind(format!("{root}."))
        .push(" AND o.path < ")
        .push_bind(format!("{root}/"))
        .push("))");
}

pub(super) fn push_in<T>(query: &mut QueryBuilder<Db>, column: &str, values: impl IntoIterator<Item = T>)
where
    T: for<'q> sqlx::Encode<'q, Db> + sqlx::Type<Db> + Send + 'static,
{
    query.push(" AND ").push(column).push(" IN (");
    let mut list = query.separated(", ");
    let mut any = false;
    for value in values {
        list.push_bind(value);
        any = true;
    }
    if !any {
        list.push("NULL");
    }
    query.push(")");
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The WHERE clause of a list: account, visible subtrees, then each filter.
pub(super) fn push_filters(
    query: &mut QueryBuilder<Db>,
    scope: &OrgUnitScope,
    roots: &Option<Vec<String>>,
    filter: &OrgUnitQuery,
    subtree_root: Option<&str>,
) {
    query.push(" WHERE o.account_id = ").push_bind(scope.account.0);
    push_within(query, roots);
    match &filter.search {
        None => {}
        Some(OrgUnitSearch::Text(text)) if text.is_empty() => {}
        Some(OrgUnitSearch::Text(text)) if push_text_search(query, text) => {}
        Some(OrgUnitSearch::Text(text)) => {
            let lower = text.to_lowercase();
            query
                .push(" AND (LOWER(o.name) LIKE ")
                .push_bind(format!("%{}%", like_escape(&lower)))
                .push(" ESCAPE '\\'");
            // Aliases are a JSON array of strings: an alias equal to the text appears quoted in it.
            let quoted = serde_json::to_string(&lower).unwrap_or_default();
            query.push(" OR LOWER(CAST(o.aliases AS TEXT)) LIKE ").push_bind(format!("%{}%", like_escape(&quoted)));
            query.push(" ESCAPE '\\')");
        }
        Some(OrgUnitSearch::Ids(ids)) => push_in(query, "o.id", ids.iter().map(|id| id.0)),
        Some(OrgUnitSearch::Codes(codes)) => push_in(query, "o.code", codes.clone()),
        Some(OrgUnitSearch::Uuids(uuids)) => push_in(query, "o.uuid", uuids.clone()),
        Some(OrgUnitSearch::Refs(refs)) => {
            // `iaso:<id>` (or the older `iaso#<id>`) names a unit that has no external id.
            let (ids, refs): (Vec<&String>, Vec<&String>) =
                refs.iter().partition(|r| r.strip_prefix("iaso:").or_else(|| r.strip_prefix("iaso#")).is_some());
            let ids: Vec<i64> = ids.iter().filter_map(|r| r.get(5..).and_then(|id| id.parse().ok())).collect();
            query.push(" AND (1 = 0");
            if !refs.is_empty() {
                query.push(" OR o.source_ref IN (");
                let mut list = query.separated(", ");
                for r in refs {
                    list.push_bind(r.clone());
                }
                query.push(")");
            }
            if !ids.is_empty() {
                query.push(" OR o.id IN (");
                let mut list = query.separated(", ");
                for id in ids {
                    list.push_bind(id);
                }
                query.push(")");
            }
            query.push(")");
        }
    }
    if !filter.validation_statuses.is_empty() {
        push_in(query, "o.validation_status", filter.validation_statuses.iter().map(|s| s.as_str().to_owned()));
    }
    if !filter.type_ids.is_empty() {
        push_in(query, "o.org_unit_type_id", filter.type_ids.iter().map(|t| t.0));
    }
    if !filter.version_ids.is_empty() {
        push_in(query, "o.version_id", filter.version_ids.iter().map(|v| v.0));
    }
    if !filter.group_ids.is_empty() {
        query.push(" AND o.id IN (SELECT org_unit_id FROM org_unit_group_members WHERE 1 = 1");
        push_in(query, "group_id", filter.group_ids.iter().map(|g| g.0));
        query.push(")");
    }
    match filter.parent {
        None => {}
        Some(ParentFilter::ChildrenOf(Some(parent))) => {
            query.push(" AND o.parent_id = ").push_bind(parent.0);
        }
        Some(ParentFilter::ChildrenOf(None)) => {
            query.push(" AND o.parent_id IS NULL");
        }
        Some(ParentFilter::SubtreeOf { include_root, .. }) => match subtree_root {
            Some(root) => {
                query.push(" AND ");
                push_subtree(query, root, include_root);
            }
            None => {
                query.push(" AND 1 = 0");
            }
        },
    }
    match filter.geography {
        Geography::Unfiltered => {}
        Geography::WithLocation => {
            query.push(" AND o.latitude IS NOT NULL");
        }
        Geography::WithShape => {
            query.push(" AND o.has_shape");
        }
        Geography::WithAny => {
            query.push(" AND (o.latitude IS NOT NULL OR o.has_shape)");
        }
        Geography::WithNone => {
            query.push(" AND o.latitude IS NULL AND NOT o.has_shape");
        }
    }
    if let Some(bbox) = filter.bbox {
        // Each backend narrows with its spatial index (R*Tree, GiST), then the columns decide.
        push_bbox_candidates(query, &bbox);
        query.push(" AND o.min_x <= ").push_bind(bbox.max_x);
        query.push(" AND o.max_x >= ").push_bind(bbox.min_x);
        query.push(" AND o.min_y <= ").push_bind(bbox.max_y);
        query.push(" AND o.max_y >= ").push_bind(bbox.min_y);
    }
}

fn push_order(query: &mut QueryBuilder<Db>, order: &[(OrgUnitOrder, bool)]) {
    query.push(" ORDER BY ");
    for (field, descending) in order {
        let column = match field {
            OrgUnitOrder::Id => "o.id",
            OrgUnitOrder::Name => "o.name",
            OrgUnitOrder::ValidationStatus => "o.validation_status",
            OrgUnitOrder::CreatedAt => "o.created_at",
            OrgUnitOrder::UpdatedAt => "o.updated_at",
            OrgUnitOrder::Path => "o.path",
        };
        query.push(column).push(if *descending { " DESC, " } else { ", " });
    }
    // Ties (and the default) by id, so pages never overlap.
    query.push("o.id");
}

/// How many units match `filter`, paging aside. The count is reused while the tree is unchanged
/// (see `CountCache`); the version is read before counting, so a write in between only makes the
/// next request count again.
async fn count_units(
    counts: &super::CountCache,
    conn: &mut Conn,
    scope: &OrgUnitScope,
    roots: &Option<Vec<String>>,
    filter: &OrgUnitQuery,
    subtree_root: Option<&str>,
) -> StoreResult<u64> {
    let tree_version: i64 = sqlx::query_scalar("SELECT tree_version FROM accounts WHERE id = $1")
        .bind(scope.account.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .unwrap_or_default();
    let key = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        roots,
        subtree_root,
        filter.search,
        filter.validation_statuses,
        filter.type_ids,
        filter.version_ids,
        filter.group_ids,
        filter.parent,
        filter.geography,
        filter.bbox
    );
    if let Some(total) = counts.get(scope.account.0, &key, tree_version) {
        return Ok(total);
    }
    let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM org_units o");
    push_filters(&mut count, scope, roots, filter, subtree_root);
    let total: i64 = count.build_query_scalar().fetch_one(&mut *conn).await.map_err(db_err)?;
    let total = total.max(0) as u64;
    counts.put(scope.account.0, key, tree_version, total);
    Ok(total)
}

/// A unit of the account that the scope may see, read inside the caller's transaction.
pub(super) async fn visible_unit(conn: &mut Conn, scope: &OrgUnitScope, id: OrgUnitId) -> StoreResult<Option<OrgUnit>> {
    let roots = visible_roots(conn, scope).await?;
    let mut query = QueryBuilder::<Db>::new(COLUMNS);
    query.push(" WHERE o.account_id = ").push_bind(scope.account.0).push(" AND o.id = ").push_bind(id.0);
    push_within(&mut query, &roots);
    let row: Option<UnitRow> = query.build_query_as().fetch_optional(&mut *conn).await.map_err(db_err)?;
    Ok(row.map(Into::into))
}

/// Refuses writes into versions of another account or of a read-only source.
pub(super) async fn check_writable_version(
    conn: &mut Conn,
    account: AccountId,
    version: SourceVersionId,
) -> StoreResult<()> {
    let read_only: Option<bool> = sqlx::query_scalar(
        "SELECT s.read_only FROM source_versions v JOIN data_sources s ON s.id = v.data_source_id \
         WHERE v.account_id = $1 AND v.id = $2",
    )
    .bind(account.0)
    .bind(version.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    match read_only {
        None => Err(StoreError::invalid("version_id", "Unknown version: it does not exist in this account.")),
        Some(true) => Err(StoreError::invalid("version_id", "This version's data source is read-only.")),
        Some(false) => Ok(()),
    }
}

pub(super) async fn check_type(
    conn: &mut Conn,
    account: AccountId,
    org_unit_type: Option<OrgUnitTypeId>,
) -> StoreResult<()> {
    let Some(org_unit_type) = org_unit_type else { return Ok(()) };
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM org_unit_types WHERE account_id = $1 AND id = $2")
        .bind(account.0)
        .bind(org_unit_type.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    match found {
        Some(_) => Ok(()),
        None => {
            Err(StoreError::invalid("org_unit_type_id", "Unknown org unit type: it does not exist in this account."))
        }
    }
}

/// The new parent of a unit of `version`: visible to the scope, in the same version.
pub(super) async fn check_parent(
    conn: &mut Conn,
    scope: &OrgUnitScope,
    version: SourceVersionId,
    parent: Option<OrgUnitId>,
) -> StoreResult<Option<OrgUnit>> {
    let Some(parent) = parent else {
        if !scope.roots.is_empty() {
            return Err(StoreError::invalid(
                "parent_id",
                "Users limited to part of the tree cannot create or move units to the top level.",
            ));
        }
        return Ok(None);
    };
    let parent = visible_unit(conn, scope, parent)
        .await?
        .ok_or_else(|| StoreError::invalid("parent_id", "Unknown parent: it does not exist or is out of reach."))?;
    if parent.version_id != version {
        return Err(StoreError::invalid("parent_id", "The parent belongs to another version."));
    }
    Ok(Some(parent))
}

/// Replaces a unit's stored boundary (`None` removes it); its `has_shape` flag is the caller's.
pub(super) async fn write_shape(conn: &mut Conn, unit: i64, shape: Option<&ShapeData>) -> StoreResult<()> {
    sqlx::query("DELETE FROM org_unit_shapes WHERE org_unit_id = $1")
        .bind(unit)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    if let Some(shape) = shape {
        sqlx::query("INSERT INTO org_unit_shapes (org_unit_id, geom, simplified_geom) VALUES ($1, $2, $3)")
            .bind(unit)
            .bind(&shape.full_wkb)
            .bind(&shape.simplified_wkb)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// The box the spatial filters read: the shape's when there is one, else the location's point.
pub(super) fn unit_box(location: Option<&Location>, shape: Option<&ShapeData>) -> [Option<f64>; 4] {
    match (shape, location) {
        (Some(shape), _) => {
            [Some(shape.bbox.min_x), Some(shape.bbox.min_y), Some(shape.bbox.max_x), Some(shape.bbox.max_y)]
        }
        (None, Some(l)) => [Some(l.longitude), Some(l.latitude), Some(l.longitude), Some(l.latitude)],
        (None, None) => [None; 4],
    }
}

async fn record(
    conn: &mut Conn,
    account: AccountId,
    actor: Option<UserId>,
    unit: OrgUnitId,
    past: Option<&OrgUnit>,
    new: Option<&OrgUnit>,
) -> StoreResult<()> {
    record_change(conn, account, actor, (ORG_UNIT_CONTENT_TYPE, unit.0), "org_unit_api", past, new).await
}

/// Writes an audit entry for `object` (content type, id), inside the caller's transaction.
pub(super) async fn record_change<T: serde::Serialize + Sync>(
    conn: &mut Conn,
    account: AccountId,
    actor: Option<UserId>,
    object: (&str, i64),
    source: &str,
    past: Option<&T>,
    new: Option<&T>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO modifications (account_id, content_type, object_id, user_id, source, past_value, new_value, \
         created_at) VALUES ($1, $2, $3, $4, $8, $5, $6, $7)",
    )
    .bind(account.0)
    .bind(object.0)
    .bind(object.1.to_string())
    .bind(actor.map(|a| a.0))
    .bind(past.map(Json))
    .bind(new.map(Json))
    .bind(now())
    .bind(source)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Applies a checked update to one unit inside the caller's transaction, which holds the tree
/// lock; audits it under `source`.
pub(super) async fn update_in_tx(
    tx: &mut Conn,
    scope: &OrgUnitScope,
    actor: Option<UserId>,
    id: OrgUnitId,
    update: OrgUnitUpdate,
    source: &str,
) -> StoreResult<OrgUnit> {
    let account = scope.account;
    let current = visible_unit(tx, scope, id).await?.ok_or(StoreError::NotFound)?;
    check_writable_version(tx, account, current.version_id).await?;

    let mut next = current.clone();
    if let Some(name) = update.name {
        next.name = name.trim().to_owned();
    }
    if let Some(status) = update.validation_status {
        next.validation_status = status;
    }
    if let Some(org_unit_type) = update.org_unit_type_id {
        check_type(tx, account, org_unit_type).await?;
        next.org_unit_type_id = org_unit_type;
    }
    if let Some(source_ref) = update.source_ref {
        next.source_ref = source_ref;
    }
    if let Some(code) = update.code {
        next.code = code.trim().to_owned();
    }
    if let Some(location) = update.location {
        next.location = location;
    }
    if let Some(aliases) = update.aliases {
        next.aliases = aliases;
    }
    if let Some(opening) = update.opening_date {
        next.opening_date = opening;
    }
    if let Some(closed) = update.closed_date {
        next.closed_date = closed;
    }
    let mut dates = FieldErrors::default();
    check_dates(&mut dates, next.opening_date, next.closed_date);
    dates.into_result()?;

    if let Some(new_parent) = update.parent_id
        && new_parent != current.parent_id
    {
        let parent = check_parent(tx, scope, current.version_id, new_parent).await?;
        if let Some(parent) = &parent
            && parent.path.is_within(&current.path)
        {
            return Err(StoreError::invalid("parent_id", "A unit cannot move under itself or its own descendants."));
        }
        let new_path = match &parent {
            Some(parent) => parent.path.child(id),
            None => TreePath::root(id),
        };
        let deepest: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(depth) FROM org_units WHERE account_id = $1 AND (path = $2 OR (path > $3 AND path < $4))",
        )
        .bind(account.0)
        .bind(&current.path.0)
        .bind(format!("{}.", current.path.0))
        .bind(format!("{}/", current.path.0))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let below = deepest.unwrap_or(0) as usize - current.path.depth().min(deepest.unwrap_or(0) as usize);
        if new_path.depth() + below > MAX_TREE_DEPTH {
            return Err(StoreError::invalid(
                "parent_id",
                format!("The tree may not be deeper than {MAX_TREE_DEPTH} levels."),
            ));
        }
        // Rewrite the paths of the unit and its whole subtree in one statement.
        let depth_change = new_path.depth() as i64 - current.path.depth() as i64;
        sqlx::query(
            "UPDATE org_units SET path = $2 || SUBSTR(path, CAST($3 AS INTEGER)), depth = depth + CAST($4 AS BIGINT) \
             WHERE account_id = $1 AND (path = $5 OR (path > $6 AND path < $7))",
        )
        .bind(account.0)
        .bind(&new_path.0)
        .bind(current.path.0.len() as i64 + 1)
        .bind(depth_change)
        .bind(&current.path.0)
        .bind(format!("{}.", current.path.0))
        .bind(format!("{}/", current.path.0))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        next.parent_id = new_parent;
        next.path = new_path;
    }

    // A new shape replaces both copies and the box; without one, a kept shape keeps its box and
    // a unit without a shape is boxed by its point.
    let (shape_given, new_shape) = match update.shape {
        Some(shape) => (true, shape),
        None => (false, None),
    };
    let keeps_shape = !shape_given && current.has_shape;
    let [min_x, min_y, max_x, max_y] = unit_box(next.location.as_ref(), new_shape.as_ref());
    next.has_shape = if shape_given { new_shape.is_some() } else { current.has_shape };
    sqlx::query(
        "UPDATE org_units SET parent_id = $2, name = $3, validation_status = $4, org_unit_type_id = $5, \
         source_ref = $6, code = $7, latitude = $8, longitude = $9, altitude = $10, \
         min_x = CASE WHEN $17 THEN min_x ELSE $11 END, min_y = CASE WHEN $17 THEN min_y ELSE $12 END, \
         max_x = CASE WHEN $17 THEN max_x ELSE $18 END, max_y = CASE WHEN $17 THEN max_y ELSE $19 END, \
         has_shape = CASE WHEN $20 THEN $21 ELSE has_shape END, \
         aliases = $13, opening_date = $14, closed_date = $15, updated_at = $16 WHERE id = $1",
    )
    .bind(id.0)
    .bind(next.parent_id.map(|p| p.0))
    .bind(&next.name)
    .bind(next.validation_status.as_str())
    .bind(next.org_unit_type_id.map(|t| t.0))
    .bind(&next.source_ref)
    .bind(&next.code)
    .bind(next.location.map(|l| l.latitude))
    .bind(next.location.map(|l| l.longitude))
    .bind(next.location.map(|l| l.altitude))
    .bind(min_x)
    .bind(min_y)
    .bind(Json(&next.aliases))
    .bind(next.opening_date)
    .bind(next.closed_date)
    .bind(now())
    .bind(keeps_shape)
    .bind(max_x)
    .bind(max_y)
    .bind(shape_given)
    .bind(new_shape.is_some())
    .execute(&mut *tx)
    .await
    .map_err(on_unique("code", CODE_TAKEN))?;
    if shape_given {
        write_shape(tx, id.0, new_shape.as_ref()).await?;
    }
    let updated = visible_unit(tx, &OrgUnitScope::whole_account(account), id).await?.ok_or(StoreError::NotFound)?;
    record_change(tx, account, actor, (ORG_UNIT_CONTENT_TYPE, id.0), source, Some(&current), Some(&updated)).await?;
    Ok(updated)
}

#[derive(sqlx::FromRow)]
struct ModificationRow {
    id: i64,
    content_type: String,
    object_id: String,
    user_id: Option<i64>,
    source: String,
    past_value: Option<Json<serde_json::Value>>,
    new_value: Option<Json<serde_json::Value>>,
    created_at: DateTime<Utc>,
}

#[async_trait]
impl OrgUnitStore for SqlStore {
    async fn create(&self, scope: &OrgUnitScope, actor: Option<UserId>, unit: NewOrgUnit) -> StoreResult<OrgUnit> {
        unit.validate()?;
        let account = scope.account;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        lock_tree(&mut tx, account).await?;
        check_writable_version(&mut tx, account, unit.version_id).await?;
        check_type(&mut tx, account, unit.org_unit_type_id).await?;
        let parent = check_parent(&mut tx, scope, unit.version_id, unit.parent_id).await?;
        if parent.as_ref().is_some_and(|p| p.path.depth() >= MAX_TREE_DEPTH) {
            return Err(StoreError::invalid(
                "parent_id",
                format!("The tree may not be deeper than {MAX_TREE_DEPTH} levels."),
            ));
        }
        let [min_x, min_y, max_x, max_y] = unit_box(unit.location.as_ref(), unit.shape.as_ref());
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO org_units (account_id, version_id, parent_id, path, depth, name, uuid, custom, \
             validation_status, org_unit_type_id, source_ref, code, latitude, longitude, altitude, min_x, min_y, \
             max_x, max_y, aliases, opening_date, closed_date, creator_id, created_at, updated_at, has_shape) \
             VALUES ($1, $2, $3, '', 0, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $21, $22, $16, $17, \
             $18, $19, $20, $20, $23) RETURNING id",
        )
        .bind(account.0)
        .bind(unit.version_id.0)
        .bind(parent.as_ref().map(|p| p.id.0))
        .bind(unit.name.trim())
        .bind(&unit.uuid)
        .bind(unit.custom)
        .bind(unit.validation_status.as_str())
        .bind(unit.org_unit_type_id.map(|t| t.0))
        .bind(&unit.source_ref)
        .bind(unit.code.trim())
        .bind(unit.location.map(|l| l.latitude))
        .bind(unit.location.map(|l| l.longitude))
        .bind(unit.location.map(|l| l.altitude))
        .bind(min_x)
        .bind(min_y)
        .bind(Json(&unit.aliases))
        .bind(unit.opening_date)
        .bind(unit.closed_date)
        .bind(actor.map(|a| a.0))
        .bind(at)
        .bind(max_x)
        .bind(max_y)
        .bind(unit.shape.is_some())
        .fetch_one(&mut *tx)
        .await
        .map_err(on_unique("code", CODE_TAKEN))?;
        let path = match &parent {
            Some(parent) => parent.path.child(OrgUnitId(id)),
            None => TreePath::root(OrgUnitId(id)),
        };
        sqlx::query("UPDATE org_units SET path = $2, depth = $3 WHERE id = $1")
            .bind(id)
            .bind(&path.0)
            .bind(path.depth() as i64)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if let Some(shape) = &unit.shape {
            write_shape(&mut tx, id, Some(shape)).await?;
        }
        let created = visible_unit(&mut tx, &OrgUnitScope::whole_account(account), OrgUnitId(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        record(&mut tx, account, actor, created.id, None, Some(&created)).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    async fn create_many(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        units: &[NewOrgUnit],
    ) -> StoreResult<Vec<OrgUnitId>> {
        super::org_unit_bulk::create_many(&self.writer, scope, actor, units).await
    }

    async fn create_tree(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        units: &[NewOrgUnit],
        batch_parents: &[Option<usize>],
    ) -> StoreResult<Vec<OrgUnitId>> {
        super::org_unit_bulk::create_tree(&self.writer, scope, actor, units, batch_parents).await
    }

    async fn apply_changes(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        changes: &TreeChanges,
    ) -> StoreResult<TreeChangesApplied> {
        super::org_unit_bulk::apply_changes(&self.writer, scope, actor, changes).await
    }

    async fn get(&self, scope: &OrgUnitScope, id: OrgUnitId) -> StoreResult<Option<OrgUnit>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        visible_unit(&mut conn, scope, id).await
    }

    async fn list(&self, scope: &OrgUnitScope, filter: &OrgUnitQuery) -> StoreResult<Page<OrgUnit>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let roots = visible_roots(&mut conn, scope).await?;
        // The subtree filter's root, if it is visible: a hidden root gives an empty subtree.
        let subtree_root = match filter.parent {
            Some(ParentFilter::SubtreeOf { root, .. }) => visible_unit(&mut conn, scope, root).await?.map(|u| u.path.0),
            _ => None,
        };

        // Unpaged, every match is returned: the rows are the count, which is not asked for.
        let paged = filter.page.is_some() || filter.after_id.is_some();
        let counted = if paged {
            Some(count_units(&self.counts, &mut conn, scope, &roots, filter, subtree_root.as_deref()).await?)
        } else {
            None
        };

        let mut select = QueryBuilder::<Db>::new(COLUMNS);
        push_filters(&mut select, scope, &roots, filter, subtree_root.as_deref());
        if let Some(after) = filter.after_id {
            select.push(" AND o.id > ").push_bind(after.0);
        }
        push_order(&mut select, &filter.order);
        if let Some((limit, offset)) = filter.page {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let offset = i64::try_from(offset).unwrap_or(i64::MAX);
            select.push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        }
        let rows: Vec<UnitRow> = select.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
        let count = counted.unwrap_or(rows.len() as u64);
        Ok(Page { count, items: rows.into_iter().map(Into::into).collect() })
    }

    async fn update(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        id: OrgUnitId,
        update: OrgUnitUpdate,
    ) -> StoreResult<OrgUnit> {
        update.validate()?;
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Read under the tree lock, so that concurrent moves and edits apply one after the other.
        lock_tree(&mut tx, scope.account).await?;
        let updated = update_in_tx(&mut tx, scope, actor, id, update, "org_unit_api").await?;
        tx.commit().await.map_err(db_err)?;
        Ok(updated)
    }

    async fn bulk_update(
        &self,
        scope: &OrgUnitScope,
        actor: Option<UserId>,
        selection: &OrgUnitSelection,
        change: &BulkOrgUnitChange,
    ) -> StoreResult<u64> {
        super::org_unit_bulk::bulk_update(&self.writer, scope, actor, selection, change).await
    }

    async fn ancestors(&self, scope: &OrgUnitScope, id: OrgUnitId) -> StoreResult<Vec<OrgUnit>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let unit = visible_unit(&mut conn, scope, id).await?.ok_or(StoreError::NotFound)?;
        let ids: Vec<i64> = unit.path.ids().into_iter().filter(|a| *a != id).map(|a| a.0).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Db>::new(COLUMNS);
        query.push(" WHERE o.account_id = ").push_bind(scope.account.0);
        push_in(&mut query, "o.id", ids);
        query.push(" ORDER BY o.depth");
        let rows: Vec<UnitRow> = query.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn by_ids(&self, account: AccountId, ids: &[OrgUnitId]) -> StoreResult<Vec<OrgUnit>> {
        let mut units = Vec::with_capacity(ids.len());
        // Chunks keep each statement well under the backends' bind-parameter limits.
        for chunk in ids.chunks(1000) {
            let mut query = QueryBuilder::<Db>::new(COLUMNS);
            query.push(" WHERE o.account_id = ").push_bind(account.0);
            push_in(&mut query, "o.id", chunk.iter().map(|id| id.0));
            let rows: Vec<UnitRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?;
            units.extend(rows.into_iter().map(OrgUnit::from));
        }
        Ok(units)
    }

    async fn shape_wkb(&self, scope: &OrgUnitScope, id: OrgUnitId, simplified: bool) -> StoreResult<Option<Vec<u8>>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        if visible_unit(&mut conn, scope, id).await?.is_none() {
            return Ok(None);
        }
        let sql = if simplified {
            "SELECT s.simplified_geom FROM org_unit_shapes s JOIN org_units o ON o.id = s.org_unit_id \
             WHERE o.account_id = $1 AND s.org_unit_id = $2"
        } else {
            "SELECT s.geom FROM org_unit_shapes s JOIN org_units o ON o.id = s.org_unit_id \
             WHERE o.account_id = $1 AND s.org_unit_id = $2"
        };
        let shape: Option<Option<Vec<u8>>> = sqlx::query_scalar(sql)
            .bind(scope.account.0)
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
        Ok(shape.flatten())
    }

    async fn shapes_wkb(
        &self,
        account: AccountId,
        ids: &[OrgUnitId],
        simplified: bool,
    ) -> StoreResult<Vec<(OrgUnitId, Vec<u8>)>> {
        let column = if simplified { "s.simplified_geom" } else { "s.geom" };
        let mut shapes = Vec::new();
        for chunk in ids.chunks(1000) {
            let mut query = QueryBuilder::<Db>::new("SELECT o.id, ");
            query.push(column).push(" FROM org_unit_shapes s JOIN org_units o ON o.id = s.org_unit_id");
            query.push(" WHERE o.account_id = ").push_bind(account.0);
            push_in(&mut query, "o.id", chunk.iter().map(|id| id.0));
            let rows: Vec<(i64, Vec<u8>)> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?;
            shapes.extend(rows.into_iter().map(|(id, wkb)| (OrgUnitId(id), wkb)));
        }
        Ok(shapes)
    }

    async fn with_children(&self, account: AccountId, ids: &[OrgUnitId]) -> StoreResult<Vec<OrgUnitId>> {
        let mut parents = Vec::new();
        for chunk in ids.chunks(1000) {
            let mut query =
                QueryBuilder::<Db>::new("SELECT DISTINCT o.parent_id FROM org_units o WHERE o.account_id = ");
            query.push_bind(account.0);
            push_in(&mut query, "o.parent_id", chunk.iter().map(|id| id.0));
            let found: Vec<i64> = query.build_query_scalar().fetch_all(&self.pool).await.map_err(db_err)?;
            parents.extend(found.into_iter().map(OrgUnitId));
        }
        Ok(parents)
    }

    async fn history(&self, account: AccountId, content_type: &str, object_id: &str) -> StoreResult<Vec<Modification>> {
        let rows: Vec<ModificationRow> = sqlx::query_as(
            "SELECT id, content_type, object_id, user_id, source, past_value, new_value, created_at FROM modifications \
             WHERE account_id = $1 AND content_type = $2 AND object_id = $3 ORDER BY id DESC",
        )
        .bind(account.0)
        .bind(content_type)
        .bind(object_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|row| Modification {
                id: row.id,
                content_type: row.content_type,
                object_id: row.object_id,
                user_id: row.user_id.map(UserId),
                source: row.source,
                past_value: row.past_value.map(|v| v.0),
                new_value: row.new_value.map(|v| v.0),
                created_at: row.created_at,
            })
            .collect())
    }
}
