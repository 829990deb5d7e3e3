//! Iaso's phone sync: the app's settings (`GET /api/apps/{app_id}/`), the tree a phone keeps
//! offline (`GET /api/mobile/orgunits/`) and the units created on the phone
//! (`POST /api/mobile/orgunits/`).
//!
//! The phone's view of the tree is Iaso's: VALID units of the account's default version whose
//! type belongs to the project, within the caller's subtrees, parents before children.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{Path, Query, State};
use hygeia_core::{
    FormQuery, Location, NewOrgUnit, OrgUnit, OrgUnitId, OrgUnitOrder, OrgUnitQuery, OrgUnitScope, OrgUnitSearch,
    OrgUnitTypeId, Project, SourceVersionId, UserProfile, ValidationStatus,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::catalog::catalog;
use crate::api::epoch;
use crate::api::forms::mobile_project;
use crate::api::orgunit_json::{self, Context};
use crate::api::orgunits::{context_for_account, scope_of, simplified_shapes};
use crate::api::pagination::positive;
use crate::auth::MaybeUser;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, SharedState};

/// The app settings a phone reads before it logs in (public, as in Iaso).
#[utoipa::path(get, path = "/api/apps/{app_id}/", tag = "mobile",
    params(("app_id" = String, Path, description = "The project's app id, or `current` with `?app_id=`")),
    responses((status = 200, description = "The app", body = Object), (status = 404)))]
pub async fn app(
    State(state): State<SharedState>,
    Path(app_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let app_id = if app_id == "current" {
        params.get("app_id").cloned().ok_or_else(|| ApiError::field("app_id", "The phone's app_id is required."))?
    } else {
        app_id
    };
    let project = state.store.projects().find_by_app_id(&app_id).await?.ok_or(ApiError::NotFound)?;
    let query = FormQuery { project_ids: vec![project.id], ..Default::default() };
    let forms = state.store.forms().list(project.account_id, &query).await?;
    let catalogue = state.store.projects().feature_flags().await?;
    let flags: Vec<Value> = catalogue
        .iter()
        .filter(|f| project.feature_flags.contains(&f.code))
        .map(|f| json!({"code": f.code, "name": f.name, "description": f.description, "configuration": null}))
        .collect();
    Ok(Json(json!({
        "id": project.app_id,
        "name": project.name,
        "app_id": project.app_id,
        "description": project.description,
        "forms": forms.iter().map(|f| f.id).collect::<Vec<_>>(),
        "feature_flags": flags,
        "needs_authentication": project.needs_authentication,
        "redirection_url": null,
        "min_version": project.min_version,
        "created_at": epoch(project.created_at),
        "updated_at": epoch(project.updated_at),
        "color": project.color,
    })))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MobileOrgUnitParams {
    app_id: Option<String>,
    /// Page size (default and most: 50,000; 1,000 with shapes).
    limit: Option<String>,
    /// 1-based page.
    page: Option<String>,
    /// `true` adds each unit's simplified boundary as `geo_json`.
    shapes: Option<String>,
}

const MAX_PAGE: usize = 50_000;
const MAX_PAGE_WITH_SHAPES: usize = 1_000;

/// The phone's view of the tree, one page at a time.
#[utoipa::path(get, path = "/api/mobile/orgunits/", tag = "mobile", params(MobileOrgUnitParams),
    security(("bearer" = [])),
    responses((status = 200, description = "`{count, orgUnits, has_next, has_previous, page, pages, limit[, roots]}`", body = Object),
              (status = 400), (status = 401), (status = 404)))]
pub async fn org_units(
    State(state): State<SharedState>,
    MaybeUser(caller): MaybeUser,
    Query(params): Query<MobileOrgUnitParams>,
) -> ApiResult<Json<Value>> {
    let project = mobile_project(&state, &caller, params.app_id.as_deref()).await?;
    let shapes = params.shapes.as_deref().is_some_and(|v| matches!(v, "true" | "True" | "1"));
    let cap = if shapes { MAX_PAGE_WITH_SHAPES } else { MAX_PAGE };
    let limit = params.limit.as_deref().map(|l| positive("limit", l)).transpose()?.unwrap_or(cap).min(cap);
    let page = params.page.as_deref().map(|p| positive("page", p)).transpose()?.unwrap_or(1);
    let view = PhoneView::of(&state, &project, caller.as_ref()).await?;
    let (count, units) = match &view.query {
        None => (0, Vec::new()),
        Some(query) => {
            let mut query = query.clone();
            query.page = Some((limit as u64, ((page - 1) * limit) as u64));
            let found = state.store.org_units().list(&view.scope, &query).await?;
            (found.count, found.items)
        }
    };
    let parents_shown = view.parents_in_view(&state, &units).await?;
    let context = context_for_account(&state, project.account_id, &units).await?;
    let geometries = if shapes { simplified_shapes(&state, project.account_id, &units).await? } else { HashMap::new() };
    let rows: Vec<Value> = units
        .iter()
        .map(|unit| {
            let mut row = phone_row(unit, &context, &parents_shown);
            if shapes {
                row["geo_json"] = geometries.get(&unit.id).map(|g| serde_json::to_value(g).unwrap_or_default()).into();
            }
            row
        })
        .collect();
    let pages = (count as usize).div_ceil(limit).max(1);
    let mut body = json!({
        "count": count,
        "orgUnits": rows,
        "has_next": page < pages,
        "has_previous": page > 1,
        "page": page,
        "pages": pages,
        "limit": limit,
    });
    if page == 1 {
        body["roots"] = json!(caller.as_ref().map(|u| u.org_units.clone()).unwrap_or_default());
    }
    Ok(Json(body))
}

/// What one caller of one project may download.
struct PhoneView {
    scope: OrgUnitScope,
    /// `None`: nothing to show (no default version, or no type in the project).
    query: Option<OrgUnitQuery>,
}

impl PhoneView {
    async fn of(state: &AppState, project: &Project, caller: Option<&UserProfile>) -> ApiResult<PhoneView> {
        let account = project.account_id;
        let scope = caller.map(scope_of).unwrap_or_else(|| OrgUnitScope::whole_account(account));
        let version = default_version(state, project).await?;
        let catalog = catalog(state, account).await?;
        let mut types: Vec<OrgUnitTypeId> =
            catalog.types.values().filter(|t| t.projects.contains(&project.id)).map(|t| t.id).collect();
        types.sort();
        let query = match version {
            Some(version) if !types.is_empty() => Some(OrgUnitQuery {
                validation_statuses: vec![ValidationStatus::Valid],
                type_ids: types,
                version_ids: vec![version],
                order: vec![(OrgUnitOrder::Path, false)],
                ..Default::default()
            }),
            _ => None,
        };
        Ok(PhoneView { scope, query })
    }

    /// Which parents of `units` the phone also gets: a parent outside the view (not VALID, of a
    /// type the project does not use, above the caller's subtrees) is shown as no parent.
    async fn parents_in_view(&self, state: &AppState, units: &[OrgUnit]) -> ApiResult<HashSet<OrgUnitId>> {
        let Some(query) = &self.query else { return Ok(HashSet::new()) };
        let mut shown: HashSet<OrgUnitId> = units.iter().map(|u| u.id).collect();
        let mut wanted: Vec<OrgUnitId> =
            units.iter().filter_map(|u| u.parent_id).filter(|p| !shown.contains(p)).collect();
        wanted.sort();
        wanted.dedup();
        for chunk in wanted.chunks(1_000) {
            let mut query = query.clone();
            query.search = Some(OrgUnitSearch::Ids(chunk.to_vec()));
            query.order.clear();
            shown.extend(state.store.org_units().list(&self.scope, &query).await?.items.iter().map(|u| u.id));
        }
        Ok(shown)
    }
}

async fn default_version(state: &AppState, project: &Project) -> ApiResult<Option<SourceVersionId>> {
    let account = state.store.accounts().get(project.account_id).await?.ok_or(ApiError::NotFound)?;
    Ok(account.default_version_id.map(SourceVersionId))
}

/// Iaso's mobile org-unit row.
fn phone_row(unit: &OrgUnit, context: &Context, parents_shown: &HashSet<OrgUnitId>) -> Value {
    let mut row = orgunit_json::mobile_row(unit, context);
    row["parent_id"] = json!(unit.parent_id.filter(|p| parents_shown.contains(p)));
    row["uuid"] = json!(unit.uuid);
    let groups: Vec<&Value> = context.groups.get(&unit.id).into_iter().flatten().map(|g| &g["id"]).collect();
    row["groups"] = json!(groups);
    row["opening_date"] = json!(unit.opening_date);
    row["closed_date"] = json!(unit.closed_date);
    row
}

/// Units created on the phone: idempotent on their uuid, created `NEW` (and `custom`) in the
/// account's default version, all or none. A parent is an existing unit (id or uuid) or a unit
/// earlier in the same upload (the list is taken in the order the phone created them).
#[utoipa::path(post, path = "/api/mobile/orgunits/", tag = "mobile", params(MobileOrgUnitParams), request_body = Object,
    security(("bearer" = [])),
    responses((status = 200, description = "The units created (Iaso's `as_dict`); those already known are left out", body = Object),
              (status = 400), (status = 401), (status = 404)))]
pub async fn create_org_units(
    State(state): State<SharedState>,
    MaybeUser(caller): MaybeUser,
    Query(params): Query<MobileOrgUnitParams>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let project = mobile_project(&state, &caller, params.app_id.as_deref()).await?;
    let items = phone_list(&body, "org units")?;
    let created = create_phone_units(&state, &project, caller.as_ref(), items).await?;
    let context = context_for_account(&state, project.account_id, &created).await?;
    let rows: Vec<Value> = created
        .iter()
        .map(|unit| {
            let mut row = orgunit_json::as_dict(unit, &context);
            // Iaso echoes the type id as a string here.
            row["org_unit_type_id"] = json!(unit.org_unit_type_id.map(|t| t.0.to_string()));
            row
        })
        .collect();
    Ok(Json(Value::Array(rows)))
}

/// Creates the units a phone sends (the upload call's and the zip bulk upload's `orgUnits.json`);
/// returns those created (known uuids are skipped).
pub(crate) async fn create_phone_units(
    state: &AppState,
    project: &Project,
    caller: Option<&UserProfile>,
    mut items: Vec<Value>,
) -> ApiResult<Vec<OrgUnit>> {
    let version = default_version(state, project)
        .await?
        .ok_or_else(|| ApiError::field("non_field_errors", "The account has no default version to add units to."))?;
    let account = project.account_id;
    let scope = caller.map(scope_of).unwrap_or_else(|| OrgUnitScope::whole_account(account));
    // Field names in errors refer to the list as sent, before sorting.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|a, b| {
        let at = |i: &usize| items[*i].get("created_at").and_then(number).unwrap_or(f64::MAX);
        at(a).total_cmp(&at(b))
    });
    let uuids: Vec<String> = items.iter().filter_map(|i| i["id"].as_str().map(str::to_owned)).collect();
    let known: HashMap<String, OrgUnit> = by_uuids(state, account, version, &uuids)
        .await?
        .into_iter()
        .filter_map(|u| Some((u.uuid.clone()?, u)))
        .collect();

    let mut units: Vec<NewOrgUnit> = Vec::new();
    let mut batch_parents: Vec<Option<usize>> = Vec::new();
    let mut batch_index: HashMap<String, usize> = HashMap::new();
    for i in order {
        let item = std::mem::take(&mut items[i]);
        let field = |name: &str| format!("[{i}].{name}");
        let uuid = item["id"].as_str().map(str::trim).filter(|s| !s.is_empty());
        let uuid = uuid.ok_or_else(|| ApiError::field(&field("id"), "Each org unit needs its id (a uuid)."))?;
        if known.contains_key(uuid) || batch_index.contains_key(uuid) {
            continue;
        }
        let name = item["name"].as_str().map(str::trim).filter(|s| !s.is_empty());
        let name = name.ok_or_else(|| ApiError::field(&field("name"), "Each org unit needs a name."))?;
        let mut unit = NewOrgUnit::new(version, name);
        unit.uuid = Some(uuid.to_owned());
        unit.custom = true;
        unit.validation_status = ValidationStatus::New;
        let type_value = item.get("orgUnitTypeId").or_else(|| item.get("org_unit_type_id")).filter(|v| !v.is_null());
        unit.org_unit_type_id = match type_value {
            Some(v) => Some(OrgUnitTypeId(
                number(v).ok_or_else(|| ApiError::field(&field("org_unit_type_id"), "A type id is a number."))? as i64,
            )),
            None => None,
        };
        let mut batch_parent = None;
        match item.get("parentId").or_else(|| item.get("parent_id")).filter(|v| !v.is_null()) {
            None => {}
            Some(v) => match parent_reference(v) {
                Some(Parent::Id(id)) => unit.parent_id = Some(id),
                Some(Parent::Uuid(parent)) => match (batch_index.get(&parent), known.get(&parent)) {
                    (Some(index), _) => batch_parent = Some(*index),
                    (None, Some(existing)) => unit.parent_id = Some(existing.id),
                    (None, None) => {
                        match by_uuids(state, account, version, std::slice::from_ref(&parent)).await?.first() {
                            Some(existing) => unit.parent_id = Some(existing.id),
                            None => {
                                return Err(ApiError::field(
                                    &field("parent_id"),
                                    format!("No org unit has uuid \"{parent}\"."),
                                ));
                            }
                        }
                    }
                },
                None => return Err(ApiError::field(&field("parent_id"), "A parent is an org-unit id or uuid.")),
            },
        }
        let latitude = item.get("latitude").and_then(number);
        let longitude = item.get("longitude").and_then(number);
        if let (Some(latitude), Some(longitude)) = (latitude, longitude) {
            let altitude = item.get("altitude").and_then(number).unwrap_or(0.0);
            unit.location = Some(Location { latitude, longitude, altitude });
        }
        batch_index.insert(uuid.to_owned(), units.len());
        units.push(unit);
        batch_parents.push(batch_parent);
    }
    if units.is_empty() {
        return Ok(Vec::new());
    }
    let actor = caller.map(|u| u.user_id);
    let ids = state.store.org_units().create_tree(&scope, actor, &units, &batch_parents).await?;
    Ok(state.store.org_units().by_ids(account, &ids).await?)
}

enum Parent {
    Id(OrgUnitId),
    Uuid(String),
}

/// Iaso's phone names a parent by id (a number or a numeric string) or, for units it created
/// offline, by uuid.
fn parent_reference(value: &Value) -> Option<Parent> {
    match value {
        Value::Number(n) => n.as_i64().map(|id| Parent::Id(OrgUnitId(id))),
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(id) => Some(Parent::Id(OrgUnitId(id))),
            Err(_) if !s.trim().is_empty() => Some(Parent::Uuid(s.trim().to_owned())),
            Err(_) => None,
        },
        _ => None,
    }
}

/// Units of the version with one of these uuids (whatever the caller's subtree: a uuid is the
/// phone's own name for a unit it sent).
pub(crate) async fn by_uuids(
    state: &AppState,
    account: hygeia_core::AccountId,
    version: SourceVersionId,
    uuids: &[String],
) -> ApiResult<Vec<OrgUnit>> {
    let mut found = Vec::new();
    for chunk in uuids.chunks(1_000) {
        let query = OrgUnitQuery {
            search: Some(OrgUnitSearch::Uuids(chunk.to_vec())),
            version_ids: vec![version],
            ..Default::default()
        };
        found.extend(state.store.org_units().list(&OrgUnitScope::whole_account(account), &query).await?.items);
    }
    Ok(found)
}

/// The phone's JSON body: a list of `what` (or a single one).
pub(crate) fn phone_list(body: &[u8], what: &str) -> ApiResult<Vec<Value>> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::field("non_field_errors", format!("The body is not JSON: {e}")))?;
    match body {
        Value::Array(items) => Ok(items),
        one @ Value::Object(_) => Ok(vec![one]),
        _ => Err(ApiError::field("non_field_errors", format!("Send a list of {what}."))),
    }
}

/// A number or a numeric string (Iaso's phone sends ids and coordinates either way).
pub(crate) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A phone's whole outbox in one zip (`zip_file`: `orgUnits.json`, `instances.json`, one folder
/// per submission with its XML and attachments). Stored before it is processed; `204` once
/// processed. A submission that cannot be processed yet is kept for replay, as with the two-call
/// upload; an archive that cannot be read at all is refused (and kept).
#[utoipa::path(post, path = "/api/mobile/bulkupload/", tag = "mobile", params(MobileOrgUnitParams), security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "`zip_file`"),
    responses((status = 204, description = "Stored and processed"), (status = 400), (status = 401), (status = 404)))]
pub async fn bulk_upload(
    State(state): State<SharedState>,
    MaybeUser(caller): MaybeUser,
    Query(params): Query<MobileOrgUnitParams>,
    mut multipart: axum::extract::Multipart,
) -> ApiResult<axum::http::StatusCode> {
    use crate::bulk_upload::ZIP_PART;
    let project = mobile_project(&state, &caller, params.app_id.as_deref()).await?;
    let (parts, cut_off) = crate::openrosa::read_parts(&mut multipart).await;
    if !parts.iter().any(|p| p.name == ZIP_PART) && cut_off.is_none() {
        return Err(ApiError::field(ZIP_PART, "The upload has no zip_file part."));
    }
    if let Some(problem) = cut_off {
        // What arrived is kept for inspection, and refused.
        if let Err(err) = crate::bulk_upload::keep(&state, &project, caller.as_ref(), parts, &problem).await {
            tracing::warn!(%err, "a cut-off bulk upload could not be kept");
        }
        return Err(ApiError::field(ZIP_PART, format!("The upload is incomplete: {problem}.")));
    }
    match crate::bulk_upload::receive(&state, &project, caller.as_ref(), parts).await {
        Ok(summary) => {
            tracing::info!(%summary, app_id = %project.app_id, "bulk upload processed");
            Ok(axum::http::StatusCode::NO_CONTENT)
        }
        Err(crate::submissions::IngestError::Storage(cause)) => Err(ApiError::Internal(cause)),
        Err(err) => Err(ApiError::field(ZIP_PART, err.to_string())),
    }
}
