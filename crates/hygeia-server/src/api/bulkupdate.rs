//! `POST /api/orgunits/bulkupdate/`: one change (type, validation status, groups) applied to a
//! selection of units, all or nothing.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hygeia_core::permission as perm;
use hygeia_core::{
    BulkOrgUnitChange, GroupId, NewTask, OrgUnitId, OrgUnitSelection, OrgUnitTypeId, UserProfile, ValidationStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::orgunits::{parse_query, scope_of};
use crate::api::tasks;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::AppJson;
use crate::state::{AppState, SharedState};

/// Iaso's body: `selected_ids`, or `select_all` with the list's `searches` (each an object of the
/// list's query parameters) minus `unselected_ids`; then what to change.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkUpdateBody {
    #[serde(default)]
    select_all: bool,
    #[serde(default)]
    selected_ids: Vec<i64>,
    #[serde(default)]
    unselected_ids: Vec<i64>,
    /// Objects of `/api/orgunits/` query parameters, e.g. `{"orgUnitParentId": 12, "validation_status": "NEW"}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    searches: Vec<HashMap<String, Value>>,
    org_unit_type: Option<i64>,
    #[serde(default)]
    groups_added: Vec<i64>,
    #[serde(default)]
    groups_removed: Vec<i64>,
    validation_status: Option<String>,
}

/// Most units a request may name, and most searches it may combine.
const MAX_IDS: usize = 100_000;
const MAX_SEARCHES: usize = 20;

/// A search object's values as the query-string parameters the list parses.
pub(crate) fn as_params(search: &HashMap<String, Value>) -> HashMap<String, String> {
    search
        .iter()
        .filter_map(|(key, value)| {
            let text = match value {
                Value::Null => return None,
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned).unwrap_or_else(|| item.to_string()))
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            Some((key.clone(), text))
        })
        .collect()
}

#[utoipa::path(post, path = "/api/orgunits/bulkupdate/", tag = "orgunits", security(("bearer" = [])),
    request_body = BulkUpdateBody,
    responses((status = 200, description = "`{\"count\": n}`: how many units were changed", body = Object),
        (status = 400), (status = 401), (status = 403), (status = 409)))]
pub async fn bulk_update(
    State(state): State<SharedState>,
    user: CurrentUser,
    AppJson(body): AppJson<BulkUpdateBody>,
) -> ApiResult<Json<Value>> {
    user.require(perm::ORG_UNITS)?;
    let count = apply(&state, &user.0, &body).await?;
    Ok(Json(json!({ "count": count })))
}

/// Iaso's task form of the same change: checked now, applied by a worker; answers `{"task": ...}`.
#[utoipa::path(post, path = "/api/tasks/create/orgunitsbulkupdate/", tag = "tasks", security(("bearer" = [])),
    request_body = BulkUpdateBody,
    responses((status = 201, description = "`{\"task\": ...}`: the queued task", body = Object),
        (status = 400), (status = 401), (status = 403)))]
pub async fn create_task(
    State(state): State<SharedState>,
    user: CurrentUser,
    AppJson(body): AppJson<BulkUpdateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require(perm::ORG_UNITS)?;
    // Refuse a bad body now rather than in a task the user has to go and read.
    prepare(&state, &user.0, &body).await?;
    let params = json!({ "body": body });
    let task = NewTask::new(TASK_NAME, params, Some(user.0.user_id));
    let task = state.store.tasks().enqueue(user.0.account_id, task).await?;
    Ok((StatusCode::CREATED, Json(json!({ "task": tasks::respond(&state, &user.0, &task).await? }))))
}

/// The task name, as Iaso calls it.
pub const TASK_NAME: &str = "org_unit_bulk_update";

/// Applies `body` as `user`; returns how many units were changed.
pub async fn apply(state: &AppState, user: &UserProfile, body: &BulkUpdateBody) -> ApiResult<u64> {
    let (selection, change) = prepare(state, user, body).await?;
    Ok(state.store.org_units().bulk_update(&scope_of(user), Some(user.user_id), &selection, &change).await?)
}

/// The selection and the change a body asks for, checked.
async fn prepare(
    state: &AppState,
    user: &UserProfile,
    body: &BulkUpdateBody,
) -> ApiResult<(OrgUnitSelection, BulkOrgUnitChange)> {
    if body.selected_ids.len() > MAX_IDS || body.unselected_ids.len() > MAX_IDS {
        return Err(ApiError::field("selected_ids", format!("Name at most {MAX_IDS} units; use select_all.")));
    }
    if body.searches.len() > MAX_SEARCHES {
        return Err(ApiError::field("searches", format!("Give at most {MAX_SEARCHES} searches.")));
    }
    let change = BulkOrgUnitChange {
        org_unit_type_id: body.org_unit_type.map(OrgUnitTypeId),
        validation_status: body
            .validation_status
            .as_deref()
            .map(|s| {
                ValidationStatus::parse(s)
                    .ok_or_else(|| ApiError::field("validation_status", format!("Invalid validation status : {s}")))
            })
            .transpose()?,
        groups_added: body.groups_added.iter().copied().map(GroupId).collect(),
        groups_removed: body.groups_removed.iter().copied().map(GroupId).collect(),
    };
    if change.is_empty() {
        return Err(ApiError::field(
            "org_unit_type",
            "Nothing to change: give org_unit_type, validation_status, groups_added or groups_removed.",
        ));
    }
    let selection = if body.select_all {
        if body.searches.is_empty() {
            return Err(ApiError::field("searches", "select_all needs at least one search."));
        }
        let mut queries = Vec::with_capacity(body.searches.len());
        for search in &body.searches {
            queries.push(parse_query(state, user, &as_params(search)).await?);
        }
        OrgUnitSelection::Matching { queries, except: body.unselected_ids.iter().copied().map(OrgUnitId).collect() }
    } else {
        if body.selected_ids.is_empty() {
            return Err(ApiError::field("selected_ids", "Select at least one unit, or use select_all."));
        }
        OrgUnitSelection::Ids(body.selected_ids.iter().copied().map(OrgUnitId).collect())
    };
    Ok((selection, change))
}
