//! `/api/orgunits/tree/` and `/api/orgunits/tree/search/`: the tree one level at a time, for
//! pickers and tree widgets.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{Query, State};
use hygeia_core::{
    DataSourceId, OrgUnit, OrgUnitId, OrgUnitOrder, OrgUnitQuery, OrgUnitSearch, OrgUnitTypeId, ParentFilter,
    SourceVersionId, UserProfile, ValidationStatus,
};
use serde_json::{Value, json};

use crate::api::orgunits::{require_read, scope_of};
use crate::api::pagination::PageParams;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, SharedState};

/// The version a tree shows: `version`, the default of `data_source_id`, or the account's live tree.
async fn tree_version(
    state: &AppState,
    user: &UserProfile,
    params: &HashMap<String, String>,
) -> ApiResult<SourceVersionId> {
    let number =
        |name: &str, value: &String| value.parse::<i64>().map_err(|_| ApiError::field(name, "A number is required."));
    if let Some(version) = params.get("version").filter(|v| !v.is_empty()) {
        return Ok(SourceVersionId(number("version", version)?));
    }
    if let Some(source) = params.get("data_source_id").filter(|v| !v.is_empty()) {
        let source =
            state.store.sources().source(user.account_id, DataSourceId(number("data_source_id", source)?)).await?;
        return Ok(source.and_then(|s| s.default_version_id).unwrap_or(SourceVersionId(-1)));
    }
    let account = state.store.accounts().get(user.account_id).await?.ok_or(ApiError::NotFound)?;
    Ok(account.default_version_id.map(SourceVersionId).unwrap_or(SourceVersionId(-1)))
}

fn statuses(params: &HashMap<String, String>) -> ApiResult<Vec<ValidationStatus>> {
    match params.get("validation_status").map(String::as_str) {
        None | Some("") => Ok(vec![ValidationStatus::Valid]),
        Some("all") => Ok(Vec::new()),
        Some(list) => list
            .split(',')
            .map(|s| {
                ValidationStatus::parse(s)
                    .ok_or_else(|| ApiError::field("validation_status", format!("Invalid validation status : {s}")))
            })
            .collect(),
    }
}

async fn rows(state: &AppState, user: &UserProfile, units: &[OrgUnit]) -> ApiResult<Vec<Value>> {
    let ids: Vec<OrgUnitId> = units.iter().map(|u| u.id).collect();
    let parents: HashSet<OrgUnitId> =
        state.store.org_units().with_children(user.account_id, &ids).await?.into_iter().collect();
    let types: HashMap<OrgUnitTypeId, String> =
        state.store.org_unit_types().list(user.account_id).await?.into_iter().map(|t| (t.id, t.short_name)).collect();
    Ok(units
        .iter()
        .map(|u| {
            json!({
                "id": u.id,
                "name": u.name,
                "validation_status": u.validation_status,
                "has_children": parents.contains(&u.id),
                "org_unit_type_id": u.org_unit_type_id,
                "org_unit_type_short_name": u.org_unit_type_id.and_then(|t| types.get(&t)),
            })
        })
        .collect())
}

/// One level: the children of `parent_id`, or the top level (for a restricted user, their own roots).
#[utoipa::path(get, path = "/api/orgunits/tree/", tag = "orgunits", security(("bearer" = [])),
    params(("parent_id" = Option<i64>, Query, description = "Parent; absent for the top level"),
           ("validation_status" = Option<String>, Query, description = "Comma list or all; default VALID"),
           ("version" = Option<i64>, Query), ("data_source_id" = Option<i64>, Query)),
    responses((status = 200, description = "The level's units", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn level(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    require_read(&user)?;
    let scope = scope_of(&user.0);
    let mut query = OrgUnitQuery {
        validation_statuses: statuses(&params)?,
        version_ids: vec![tree_version(&state, &user.0, &params).await?],
        order: vec![(OrgUnitOrder::Name, false)],
        ..Default::default()
    };
    match params.get("parent_id").filter(|p| !p.is_empty()) {
        Some(parent) => {
            let parent = parent.parse::<i64>().map_err(|_| ApiError::field("parent_id", "A number is required."))?;
            query.parent = Some(ParentFilter::ChildrenOf(Some(OrgUnitId(parent))));
        }
        None if scope.roots.is_empty() => query.parent = Some(ParentFilter::ChildrenOf(None)),
        None => query.search = Some(OrgUnitSearch::Ids(scope.roots.clone())),
    }
    let units = state.store.org_units().list(&scope, &query).await?.items;
    Ok(Json(Value::Array(rows(&state, &user.0, &units).await?)))
}

/// Units of the tree's version whose name matches, `{count, results}` (paginated with `limit`).
#[utoipa::path(get, path = "/api/orgunits/tree/search/", tag = "orgunits", security(("bearer" = [])),
    params(("search" = String, Query, description = "Name or alias"), PageParams),
    responses((status = 200, description = "Matches", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn search(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    require_read(&user)?;
    let paging = PageParams { limit: params.get("limit").cloned(), page: params.get("page").cloned() }.parse()?;
    let text = params.get("search").map(|s| s.trim().to_owned()).unwrap_or_default();
    let query = OrgUnitQuery {
        search: Some(OrgUnitSearch::Text(text)),
        validation_statuses: statuses(&params)?,
        version_ids: vec![tree_version(&state, &user.0, &params).await?],
        order: vec![(OrgUnitOrder::Name, false)],
        page: paging.map(|(limit, page)| (limit as u64, (page - 1).saturating_mul(limit) as u64)),
        ..Default::default()
    };
    let result = state.store.org_units().list(&scope_of(&user.0), &query).await?;
    let mut body = json!({"count": result.count, "results": rows(&state, &user.0, &result.items).await?});
    if let Some((limit, page)) = paging {
        let pages = (result.count as usize).div_ceil(limit).max(1);
        body["has_next"] = json!(page < pages);
        body["has_previous"] = json!(page > 1);
        body["page"] = json!(page);
        body["pages"] = json!(pages);
        body["limit"] = json!(limit);
    }
    Ok(Json(body))
}
