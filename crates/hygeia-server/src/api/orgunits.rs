//! `/api/orgunits/`: the tree, in Iaso's paths, parameters and shapes.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use hygeia_core::permission as perm;
use hygeia_core::{
    AccountId, BoundingBox, Geography, Location, NewOrgUnit, OrgUnit, OrgUnitId, OrgUnitOrder, OrgUnitQuery,
    OrgUnitScope, OrgUnitSearch, OrgUnitTypeId, OrgUnitUpdate, ParentFilter, ShapeData, SourceVersionId, UserProfile,
    ValidationStatus,
};
use hygeia_geo::Shape;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::api::catalog::catalog;
use crate::api::orgunit_json::{self, Context};
use crate::api::pagination::PageParams;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, PathId};
use crate::state::{AppState, SharedState};

/// What the caller may see: their account, limited to their org units unless superuser.
pub fn scope_of(user: &UserProfile) -> OrgUnitScope {
    let roots = if user.is_superuser { Vec::new() } else { user.org_units.iter().copied().map(OrgUnitId).collect() };
    OrgUnitScope { account: user.account_id, roots }
}

/// Reading the tree takes one of Iaso's org-unit, form, submission or registry permissions.
pub const TREE_READERS: &[&str] = &[
    perm::ORG_UNITS,
    perm::ORG_UNITS_READ,
    perm::FORMS_MANAGE,
    perm::SUBMISSIONS,
    perm::REGISTRY_READ,
    perm::REGISTRY_WRITE,
];

pub fn require_read(user: &CurrentUser) -> ApiResult<()> {
    if TREE_READERS.iter().any(|p| user.0.has_permission(p)) { Ok(()) } else { Err(ApiError::Forbidden) }
}

/// Loads what the serialisers need for `units`: the catalog, their ancestors and groups.
pub async fn context_for(state: &AppState, user: &UserProfile, units: &[OrgUnit]) -> ApiResult<Context> {
    context_for_account(state, user.account_id, units).await
}

/// [`context_for`] when there may be no user (phones of projects open to anonymous use).
pub async fn context_for_account(state: &AppState, account: AccountId, units: &[OrgUnit]) -> ApiResult<Context> {
    let store = &state.store;
    let catalog = catalog(state, account).await?;
    let own: HashSet<OrgUnitId> = units.iter().map(|u| u.id).collect();
    let mut wanted: Vec<OrgUnitId> = units
        .iter()
        .flat_map(|u| u.path.ids())
        .filter(|id| !own.contains(id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    wanted.sort();
    let mut ancestors = state.ancestors.load(state, account, catalog.tree_version, &wanted).await?;
    for unit in units {
        ancestors.insert(unit.id, unit.clone());
    }
    let mut groups: HashMap<OrgUnitId, Vec<Value>> = HashMap::new();
    let shown: Vec<OrgUnitId> = units.iter().map(|u| u.id).collect();
    for (unit, group) in store.groups().groups_of(account, &shown).await? {
        groups
            .entry(unit)
            .or_default()
            .push(json!({"id": group.id, "name": group.name, "source_ref": group.source_ref}));
    }
    Ok(Context { catalog, ancestors, groups })
}

/// Most items a list parameter may hold: keeps every statement within the backends' limits.
const MAX_LIST_ITEMS: usize = 1_000;

pub(crate) fn ids(name: &str, value: &str) -> ApiResult<Vec<i64>> {
    if value.split(',').count() > MAX_LIST_ITEMS {
        return Err(ApiError::field(name, format!("Give at most {MAX_LIST_ITEMS} ids.")));
    }
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<i64>().map_err(|_| ApiError::field(name, format!("\"{s}\" is not a number."))))
        .collect()
}

fn one_id(name: &str, value: &str) -> ApiResult<i64> {
    value.trim().parse().map_err(|_| ApiError::field(name, format!("\"{value}\" is not a number.")))
}

fn truthy(value: Option<&String>) -> bool {
    value.is_some_and(|v| matches!(v.as_str(), "true" | "True" | "1"))
}

/// Turns Iaso's query parameters into a store query.
pub(crate) async fn parse_query(
    state: &AppState,
    user: &UserProfile,
    params: &HashMap<String, String>,
) -> ApiResult<OrgUnitQuery> {
    let mut query = OrgUnitQuery::default();
    if let Some(search) = params.get("search").filter(|s| !s.trim().is_empty()) {
        query.search = Some(OrgUnitSearch::parse(search)?);
        let items = match &query.search {
            Some(OrgUnitSearch::Ids(list)) => list.len(),
            Some(OrgUnitSearch::Refs(list) | OrgUnitSearch::Codes(list) | OrgUnitSearch::Uuids(list)) => list.len(),
            _ => 0,
        };
        if items > MAX_LIST_ITEMS {
            return Err(ApiError::field("search", format!("Give at most {MAX_LIST_ITEMS} ids, refs or codes.")));
        }
    }
    query.validation_statuses = match params.get("validation_status").map(String::as_str) {
        None | Some("") => vec![ValidationStatus::Valid],
        Some("all") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| {
                ValidationStatus::parse(s)
                    .ok_or_else(|| ApiError::field("validation_status", format!("Invalid validation status : {s}")))
            })
            .collect::<ApiResult<_>>()?,
    };
    if let Some(groups) = params.get("group").filter(|g| !g.is_empty()) {
        query.group_ids = ids("group", groups)?.into_iter().map(hygeia_core::GroupId).collect();
    }
    if let Some(types) = params.get("orgUnitTypeId") {
        query.type_ids = ids("orgUnitTypeId", types)?.into_iter().map(OrgUnitTypeId).collect();
    }
    if let Some(parent) = params.get("orgUnitParentId").filter(|s| !s.is_empty()) {
        let root = OrgUnitId(one_id("orgUnitParentId", parent)?);
        let include_root = params.get("onlyDirectChildren").map(String::as_str) != Some("false");
        query.parent = Some(ParentFilter::SubtreeOf { root, include_root });
    } else if let Some(parent) = params.get("parent_id").filter(|s| !s.is_empty()) {
        let id = one_id("parent_id", parent)?;
        query.parent = Some(ParentFilter::ChildrenOf((id != 0).then_some(OrgUnitId(id))));
    }
    // Versions: an explicit version, the default version of a source, or the account's live tree.
    if let Some(version) = params.get("version").filter(|s| !s.is_empty()) {
        query.version_ids = vec![SourceVersionId(one_id("version", version)?)];
    } else if let Some(source) = params.get("source").filter(|s| !s.is_empty()) {
        let source = hygeia_core::DataSourceId(one_id("source", source)?);
        let default = state.store.sources().source(user.account_id, source).await?.and_then(|s| s.default_version_id);
        // A source without a default version (or of another account) lists nothing.
        query.version_ids = vec![default.unwrap_or(SourceVersionId(-1))];
    } else if truthy(params.get("defaultVersion")) {
        let account = state.store.accounts().get(user.account_id).await?.ok_or(ApiError::NotFound)?;
        query.version_ids = vec![account.default_version_id.map(SourceVersionId).unwrap_or(SourceVersionId(-1))];
    }
    query.geography = match params.get("geography").map(String::as_str) {
        None | Some("") => Geography::Unfiltered,
        Some("location") => Geography::WithLocation,
        Some("shape") => Geography::WithShape,
        Some("any") => Geography::WithAny,
        Some("none") => Geography::WithNone,
        Some(other) => {
            return Err(ApiError::field("geography", format!("\"{other}\" is not one of location, shape, any, none.")));
        }
    };
    if truthy(params.get("withShape")) {
        query.geography = Geography::WithShape;
    } else if truthy(params.get("withLocation")) {
        query.geography = Geography::WithLocation;
    }
    if let Some(bbox) = params.get("bbox").filter(|s| !s.is_empty()) {
        query.bbox = Some(parse_bbox(bbox)?);
    }
    query.order = match params.get("order").filter(|s| !s.is_empty()) {
        Some(order) if order.split(',').count() > 6 => {
            return Err(ApiError::field("order", "Order by at most 6 fields."));
        }
        Some(order) => order
            .split(',')
            .map(|field| {
                OrgUnitOrder::parse(field)
                    .ok_or_else(|| ApiError::field("order", format!("Cannot order by \"{field}\".")))
            })
            .collect::<ApiResult<_>>()?,
        None => vec![(OrgUnitOrder::Name, false)],
    };
    Ok(query)
}

/// `min_lon,min_lat,max_lon,max_lat` in WGS84.
fn parse_bbox(value: &str) -> ApiResult<BoundingBox> {
    let numbers: Vec<f64> = value.split(',').filter_map(|n| n.trim().parse().ok()).collect();
    let valid = numbers.len() == 4
        && numbers.iter().all(|n| n.is_finite())
        && (-180.0..=180.0).contains(&numbers[0])
        && (-180.0..=180.0).contains(&numbers[2])
        && (-90.0..=90.0).contains(&numbers[1])
        && (-90.0..=90.0).contains(&numbers[3])
        && numbers[0] <= numbers[2]
        && numbers[1] <= numbers[3];
    if !valid {
        return Err(ApiError::field("bbox", "Give min_lon,min_lat,max_lon,max_lat within WGS84 bounds."));
    }
    Ok(BoundingBox { min_x: numbers[0], min_y: numbers[1], max_x: numbers[2], max_y: numbers[3] })
}

/// The org-unit list: `{orgUnits: [...]}` without `limit`, Iaso's paginated `orgunits` with it.
#[utoipa::path(get, path = "/api/orgunits/", tag = "orgunits", security(("bearer" = [])),
    params(
        ("search" = Option<String>, Query, description = "Name or alias; or ids:1,2 / refs:a,iaso:12 / codes:X"),
        ("validation_status" = Option<String>, Query, description = "NEW, VALID, REJECTED (comma list) or all; default VALID"),
        ("orgUnitTypeId" = Option<String>, Query, description = "Type ids, comma list"),
        ("orgUnitParentId" = Option<i64>, Query, description = "Whole subtree under this unit"),
        ("parent_id" = Option<i64>, Query, description = "Direct children; 0 for roots"),
        ("source" = Option<i64>, Query, description = "The source's default version"),
        ("version" = Option<i64>, Query, description = "A version id"),
        ("defaultVersion" = Option<bool>, Query, description = "The account's live tree"),
        ("geography" = Option<String>, Query, description = "location, shape, any or none"),
        ("group" = Option<String>, Query, description = "Members of these groups (comma list of ids)"),
        ("bbox" = Option<String>, Query, description = "min_lon,min_lat,max_lon,max_lat"),
        ("order" = Option<String>, Query, description = "id, name, validation_status, created_at, updated_at, path; - for descending"),
        PageParams,
    ),
    responses((status = 200, description = "Org units", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    require_read(&user)?;
    let paging = PageParams { limit: params.get("limit").cloned(), page: params.get("page").cloned() }.parse()?;
    let mut query = parse_query(&state, &user.0, &params).await?;
    let scope = scope_of(&user.0);
    for format in ["csv", "xlsx", "gpkg"] {
        if truthy(params.get(format)) {
            return export(&state, &user.0, scope, query, format).await;
        }
    }
    if truthy(params.get("asLocation")) {
        return as_location(&state, &user.0, query, paging.map(|(limit, _)| limit)).await;
    }
    query.page = paging.map(|(limit, page)| (limit as u64, (page - 1).saturating_mul(limit) as u64));
    let mut result = state.store.org_units().list(&scope, &query).await?;
    let Some((limit, mut page)) = paging else {
        // Iaso's unpaginated variants: the mobile dicts, or `as_dict` rows with their shapes.
        let context = context_for(&state, &user.0, &[]).await?;
        if truthy(params.get("withShapes")) {
            let shapes = simplified_shapes(&state, user.0.account_id, &result.items).await?;
            let rows: Vec<Value> = result
                .items
                .iter()
                .map(|u| orgunit_json::row_with_shape(u, &context, shapes.get(&u.id).map(|s| &**s)))
                .collect();
            return Ok(Json(json!({ "orgUnits": rows })).into_response());
        }
        let rows: Vec<Value> = result.items.iter().map(|u| orgunit_json::mobile_row(u, &context)).collect();
        return Ok(Json(json!({ "orgUnits": rows })).into_response());
    };
    let pages = (result.count as usize).div_ceil(limit).max(1);
    if page > pages {
        // Iaso answers the last page for a page past the end.
        page = pages;
        query.page = Some((limit as u64, ((page - 1) * limit) as u64));
        result = state.store.org_units().list(&scope, &query).await?;
    }
    let context = context_for(&state, &user.0, &result.items).await?;
    // (With `limit`, Iaso ignores `withShapes`: the paginated rows never carry shapes.)
    if truthy(params.get("smallSearch")) {
        let rows: Vec<_> = result.items.iter().map(|u| orgunit_json::small_row(u, &context)).collect();
        return Ok(Json(ListPage::new(result.count, rows, page, pages, limit)).into_response());
    }
    let rows: Vec<_> = result.items.iter().map(|u| orgunit_json::list_row(u, &context)).collect();
    Ok(Json(ListPage::new(result.count, rows, page, pages, limit)).into_response())
}

/// `csv=true`, `xlsx=true`, `gpkg=true`: every unit the filters select (paging ignored), as a
/// download named like Iaso's (`hygeia-<account>-org_units-YYYY-MM-DD-HH-MM.<ext>`). The CSV is
/// streamed as it is read; the others are written to a temporary file first, then streamed.
async fn export(
    state: &AppState,
    user: &UserProfile,
    scope: OrgUnitScope,
    query: OrgUnitQuery,
    format: &str,
) -> ApiResult<Response> {
    use axum::body::Body;
    use axum::http::header;
    let account = state.store.accounts().get(user.account_id).await?.ok_or(ApiError::NotFound)?;
    let slug: String = account.name.chars().map(|c| if c.is_alphanumeric() { c } else { '_' }).collect();
    let name = format!("hygeia-{slug}-org_units-{}.{format}", chrono::Utc::now().format("%Y-%m-%d-%H-%M"));
    let content_type = match format {
        "csv" => "text/csv; charset=utf-8",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/geopackage+sqlite3",
    };
    let body = if format == "csv" {
        Body::from_stream(crate::exports::csv_stream(&state.store, scope, query).await?.1)
    } else {
        let path = std::env::temp_dir().join(format!("hygeia-export-{}.{format}", crate::auth::jwt::random_hex(8)));
        let progress = hygeia_jobs::NoProgress;
        let written = crate::exports::export_to_file(&state.store, scope, query, format, &path, &progress).await;
        let opened = match written {
            Ok(_) => tokio::fs::File::open(&path).await.map_err(|e| ApiError::Internal(e.to_string())),
            Err(err) => Err(ApiError::Internal(err.to_string())),
        };
        // Unlinked at once: the open file is read to the end, then its space is freed.
        let _ = tokio::fs::remove_file(&path).await;
        Body::from_stream(crate::exports::file_chunks(opened?))
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response())
}

/// `asLocation`: a bare array of the first `limit` units that have a location or a boundary
/// (Iaso ignores `page` here), each with its boundary for maps. Without `limit`, at most
/// [`MAX_LOCATIONS`] units.
async fn as_location(
    state: &AppState,
    user: &UserProfile,
    mut query: OrgUnitQuery,
    limit: Option<usize>,
) -> ApiResult<Response> {
    if query.geography == Geography::Unfiltered {
        query.geography = Geography::WithAny;
    }
    query.page = Some((limit.unwrap_or(MAX_LOCATIONS).min(MAX_LOCATIONS) as u64, 0));
    let result = state.store.org_units().list(&scope_of(user), &query).await?;
    let context = context_for(state, user, &result.items).await?;
    let shapes = simplified_shapes(state, user.account_id, &result.items).await?;
    let rows: Vec<Value> =
        result.items.iter().map(|u| orgunit_json::location_row(u, &context, shapes.get(&u.id).map(|s| &**s))).collect();
    Ok(Json(rows).into_response())
}

/// Most units an `asLocation` or GeoJSON answer holds.
const MAX_LOCATIONS: usize = 10_000;

/// The simplified boundaries of those `units` that have one, as GeoJSON geometries.
pub(crate) async fn simplified_shapes(
    state: &AppState,
    account: AccountId,
    units: &[OrgUnit],
) -> ApiResult<HashMap<OrgUnitId, Box<RawValue>>> {
    let with_shapes: Vec<OrgUnitId> = units.iter().filter(|u| u.has_shape).map(|u| u.id).collect();
    if with_shapes.is_empty() {
        return Ok(HashMap::new());
    }
    let shapes = state.store.org_units().shapes_wkb(account, &with_shapes, true).await?;
    // Decoding and rendering thousands of rings is CPU work: off the async workers.
    tokio::task::spawn_blocking(move || {
        shapes
            .into_iter()
            .filter_map(|(id, wkb)| {
                let shape = hygeia_geo::decode_multipolygon(&wkb).ok()?;
                RawValue::from_string(hygeia_geo::geojson::geometry_json(&shape)).ok().map(|json| (id, json))
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Iaso's paginated envelope of the org-unit list.
#[derive(serde::Serialize)]
struct ListPage<Row> {
    count: u64,
    counts: [(); 0],
    orgunits: Vec<Row>,
    has_next: bool,
    has_previous: bool,
    page: usize,
    pages: usize,
    limit: usize,
}

impl<Row> ListPage<Row> {
    fn new(count: u64, orgunits: Vec<Row>, page: usize, pages: usize, limit: usize) -> Self {
        ListPage { count, counts: [], orgunits, has_next: page < pages, has_previous: page > 1, page, pages, limit }
    }
}

/// The same filters as the list, as a GeoJSON FeatureCollection for maps: boundaries (simplified)
/// where units have one, else points.
#[utoipa::path(get, path = "/api/orgunits/geojson/", tag = "orgunits", security(("bearer" = [])),
    responses((status = 200, description = "FeatureCollection", body = Object), (status = 401), (status = 403)))]
pub async fn geojson(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    require_read(&user)?;
    let mut query = parse_query(&state, &user.0, &params).await?;
    let limit = PageParams { limit: params.get("limit").cloned(), page: None }
        .parse()?
        .map(|(l, _)| l)
        .unwrap_or(MAX_LOCATIONS);
    query.page = Some((limit as u64, 0));
    let result = state.store.org_units().list(&scope_of(&user.0), &query).await?;
    let context = context_for(&state, &user.0, &[]).await?;
    // Boundaries as their simplified copy (what maps draw); units without one show their point.
    let shapes = simplified_shapes(&state, user.0.account_id, &result.items).await?;
    let features = result.items.iter().map(|u| orgunit_json::feature(u, &context, shapes.get(&u.id).map(|s| &**s)));
    Ok(Json(orgunit_json::FeatureCollection::new(features.collect())).into_response())
}

/// One unit with its whole parent chain.
#[utoipa::path(get, path = "/api/orgunits/{id}/", tag = "orgunits", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Org unit id")),
    responses((status = 200, description = "The org unit", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn detail(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Value>> {
    require_read(&user)?;
    let id = OrgUnitId(id);
    let unit = state.store.org_units().get(&scope_of(&user.0), id).await?.ok_or(ApiError::NotFound)?;
    render_detail(&state, &user.0, &unit).await.map(Json)
}

/// The detail dict with the unit's simplified shape as GeoJSON, and a warning when its location
/// lies outside its parent's shape (allowed, as in Iaso, but worth a look).
async fn render_detail(state: &AppState, user: &UserProfile, unit: &OrgUnit) -> ApiResult<Value> {
    let context = context_for(state, user, std::slice::from_ref(unit)).await?;
    let scope = scope_of(user);
    let geo_json = match unit.has_shape {
        true => match state.store.org_units().shape_wkb(&scope, unit.id, true).await? {
            Some(wkb) => hygeia_geo::decode_multipolygon(&wkb)
                .map(|shape| hygeia_geo::geojson::to_feature_collection(&shape))
                .map_err(|err| ApiError::Internal(format!("stored shape of unit {}: {err}", unit.id)))?,
            None => Value::Null,
        },
        false => Value::Null,
    };
    let mut body = orgunit_json::detail(unit, &context, geo_json, scope.roots.is_empty());
    if outside_parent(state, &context, unit).await? {
        body["warnings"] = json!(["The location lies outside the parent's shape."]);
    }
    Ok(body)
}

/// Whether the unit's location lies outside its parent's boundary (allowed, as in Iaso, but worth
/// a look). `context` holds the unit's ancestors.
pub(crate) async fn outside_parent(state: &AppState, context: &Context, unit: &OrgUnit) -> ApiResult<bool> {
    let parent_has_shape = unit.parent_id.and_then(|p| context.ancestors.get(&p)).is_some_and(|p| p.has_shape);
    let (Some(location), Some(parent), true) = (unit.location, unit.parent_id, parent_has_shape) else {
        return Ok(false);
    };
    // The parent may be above a restricted user's roots: its shape is read account-wide.
    let account = OrgUnitScope::whole_account(unit.account_id);
    Ok(match state.store.org_units().shape_wkb(&account, parent, false).await? {
        Some(wkb) => hygeia_geo::decode_multipolygon(&wkb)
            .is_ok_and(|shape| !hygeia_geo::contains(&shape, location.longitude, location.latitude)),
        None => false,
    })
}

/// Distinguishes a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgUnitBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    parent_id: Option<Option<i64>>,
    validation_status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    org_unit_type_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    source_ref: Option<Option<String>>,
    code: Option<String>,
    #[serde(default, deserialize_with = "present")]
    latitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    longitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    altitude: Option<Option<f64>>,
    aliases: Option<Vec<String>>,
    /// The boundary as GeoJSON (Polygon, MultiPolygon, Feature or FeatureCollection); null removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Object)]
    geo_json: Option<Option<Value>>,
    /// Iaso's other name for `geo_json`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Object)]
    geom: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    opening_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    closed_date: Option<Option<String>>,
    /// Creation only: the version to create in (default: the account's live tree).
    version_id: Option<i64>,
}

/// Iaso accepts DD-MM-YYYY, DD/MM/YYYY and YYYY-MM-DD.
pub(crate) fn parse_date(field: &str, value: &str) -> ApiResult<NaiveDate> {
    ["%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(value.trim(), format).ok())
        .ok_or_else(|| ApiError::field(field, format!("\"{value}\" is not a date: use DD-MM-YYYY or YYYY-MM-DD.")))
}

fn parse_optional_date(field: &str, value: Option<Option<String>>) -> ApiResult<Option<Option<NaiveDate>>> {
    match value {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(text)) if text.trim().is_empty() => Ok(Some(None)),
        Some(Some(text)) => parse_date(field, &text).map(|d| Some(Some(d))),
    }
}

fn parse_status(value: &str) -> ApiResult<ValidationStatus> {
    ValidationStatus::parse(value)
        .ok_or_else(|| ApiError::field("validation_status", format!("Invalid validation status : {value}")))
}

impl OrgUnitBody {
    /// `None`: no shape sent; `Some(None)`: removed; otherwise validated, encoded and simplified.
    async fn shape(&mut self) -> ApiResult<Option<Option<ShapeData>>> {
        let (field, value) = match (self.geo_json.take(), self.geom.take()) {
            (Some(_), Some(_)) => return Err(ApiError::field("geom", "Send geo_json or geom, not both.")),
            (Some(value), None) => ("geo_json", value),
            (None, Some(value)) => ("geom", value),
            (None, None) => return Ok(None),
        };
        let Some(document) = value else { return Ok(Some(None)) };
        // Validation and simplification are CPU work: off the async workers.
        let shape = tokio::task::spawn_blocking(move || Shape::from_geojson(&document))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|err| ApiError::field(field, err.to_string()))?;
        let bbox = BoundingBox {
            min_x: shape.bbox.min_x,
            min_y: shape.bbox.min_y,
            max_x: shape.bbox.max_x,
            max_y: shape.bbox.max_y,
        };
        Ok(Some(Some(ShapeData { full_wkb: shape.full_wkb(), simplified_wkb: shape.simplified_wkb(), bbox })))
    }

    /// `None`: the location was not sent; `Some(None)`: cleared.
    fn location(&self) -> ApiResult<Option<Option<Location>>> {
        match (self.latitude, self.longitude) {
            (None, None) => Ok(None),
            (Some(None), Some(None)) => Ok(Some(None)),
            (Some(Some(latitude)), Some(Some(longitude))) => {
                let altitude = self.altitude.flatten().unwrap_or(0.0);
                Ok(Some(Some(Location { latitude, longitude, altitude })))
            }
            _ => Err(ApiError::field("latitude", "Send latitude and longitude together.")),
        }
    }

    async fn into_update(mut self) -> ApiResult<OrgUnitUpdate> {
        if self.version_id.is_some() {
            return Err(ApiError::field("version_id", "A unit cannot change version."));
        }
        Ok(OrgUnitUpdate {
            shape: self.shape().await?,
            location: self.location()?,
            validation_status: self.validation_status.as_deref().map(parse_status).transpose()?,
            opening_date: parse_optional_date("opening_date", self.opening_date)?,
            closed_date: parse_optional_date("closed_date", self.closed_date)?,
            name: self.name,
            parent_id: self.parent_id.map(|p| p.map(OrgUnitId)),
            org_unit_type_id: self.org_unit_type_id.map(|t| t.map(OrgUnitTypeId)),
            source_ref: self.source_ref,
            code: self.code,
            aliases: self.aliases,
        })
    }
}

/// Changes a unit: names, codes, status, type, location, dates, and its parent (moving its
/// whole subtree). Written to the audit log with the before and after.
#[utoipa::path(patch, path = "/api/orgunits/{id}/", tag = "orgunits", security(("bearer" = [])), request_body = OrgUnitBody,
    params(("id" = i64, Path, description = "Org unit id")),
    responses((status = 200, description = "The updated org unit", body = Object), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409)))]
pub async fn update(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
    AppJson(body): AppJson<OrgUnitBody>,
) -> ApiResult<Json<Value>> {
    user.require(perm::ORG_UNITS)?;
    let id = OrgUnitId(id);
    let update = body.into_update().await?;
    let unit = state.store.org_units().update(&scope_of(&user.0), Some(user.0.user_id), id, update).await?;
    render_detail(&state, &user.0, &unit).await.map(Json)
}

/// Creates a unit (Iaso's web form endpoint): in the given version or the account's live tree.
#[utoipa::path(post, path = "/api/orgunits/create_org_unit/", tag = "orgunits", security(("bearer" = [])), request_body = OrgUnitBody,
    responses((status = 200, description = "The created org unit", body = Object), (status = 400), (status = 401), (status = 403), (status = 409)))]
pub async fn create(
    State(state): State<SharedState>,
    user: CurrentUser,
    AppJson(mut body): AppJson<OrgUnitBody>,
) -> ApiResult<Json<Value>> {
    user.require(perm::ORG_UNITS)?;
    let version = match body.version_id {
        Some(version) => SourceVersionId(version),
        None => {
            let account = state.store.accounts().get(user.0.account_id).await?.ok_or(ApiError::NotFound)?;
            account
                .default_version_id
                .map(SourceVersionId)
                .ok_or_else(|| ApiError::field("version_id", "The account has no default version: give version_id."))?
        }
    };
    let name = body.name.clone().ok_or_else(|| ApiError::field("name", "Org unit name is required"))?;
    let location = body.location()?.flatten();
    let shape = body.shape().await?.flatten();
    let mut unit = NewOrgUnit::new(version, name);
    unit.parent_id = body.parent_id.flatten().map(OrgUnitId);
    unit.validation_status =
        body.validation_status.as_deref().map(parse_status).transpose()?.unwrap_or(ValidationStatus::New);
    unit.org_unit_type_id = body.org_unit_type_id.flatten().map(OrgUnitTypeId);
    unit.source_ref = body.source_ref.flatten();
    unit.code = body.code.unwrap_or_default();
    unit.location = location;
    unit.shape = shape;
    unit.aliases = body.aliases.unwrap_or_default();
    unit.opening_date = parse_optional_date("opening_date", body.opening_date)?.flatten();
    unit.closed_date = parse_optional_date("closed_date", body.closed_date)?.flatten();
    let created = state.store.org_units().create(&scope_of(&user.0), Some(user.0.user_id), unit).await?;
    render_detail(&state, &user.0, &created).await.map(Json)
}
