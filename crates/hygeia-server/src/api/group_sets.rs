//! `/api/group_sets/`: named sets of groups of one version (DHIS2's organisation unit group sets).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use hygeia_core::permission as perm;
use hygeia_core::{GroupBelonging, GroupId, GroupSet, GroupSetId, GroupSetInput};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::epoch;
use crate::api::groups::{Catalog, version_or_default, versions_param};
use crate::api::orgunits::require_read;
use crate::api::pagination::{PageParams, envelope};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, PathId};
use crate::state::{AppState, SharedState};

/// Iaso's row: the set, its version and its groups (`groups` with names, `group_ids` for forms).
fn set_json(catalog: &Catalog, groups: &HashMap<GroupId, String>, set: &GroupSet) -> Value {
    json!({
        "id": set.id,
        "name": set.name,
        "source_ref": set.source_ref,
        "source_version": catalog.source_version(set.version_id),
        "group_belonging": set.group_belonging,
        "groups": set.group_ids.iter().map(|g| json!({"id": g, "name": groups.get(g)})).collect::<Vec<_>>(),
        "group_ids": set.group_ids,
        "created_at": epoch(set.created_at),
        "updated_at": epoch(set.updated_at),
    })
}

async fn group_names(state: &AppState, user: &CurrentUser) -> ApiResult<HashMap<GroupId, String>> {
    Ok(state.store.groups().list(user.0.account_id, &[]).await?.into_iter().map(|g| (g.id, g.name)).collect())
}

async fn respond(state: &AppState, user: &CurrentUser, set: &GroupSet) -> ApiResult<Value> {
    let catalog = Catalog::load(state, user.0.account_id).await?;
    Ok(set_json(&catalog, &group_names(state, user).await?, set))
}

/// Group sets of the account; `version` or `defaultVersion=true` narrow them, `search` matches names.
#[utoipa::path(get, path = "/api/group_sets/", tag = "orgunits", security(("bearer" = [])),
    params(("version" = Option<i64>, Query), ("defaultVersion" = Option<bool>, Query),
        ("search" = Option<String>, Query, description = "Part of the name, any case"), PageParams),
    responses((status = 200, description = "`{\"group_sets\": [...]}` or paginated", body = Object), (status = 401), (status = 403)))]
pub async fn list(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    require_read(&user)?;
    let paging = PageParams { limit: params.get("limit").cloned(), page: params.get("page").cloned() }.parse()?;
    let versions = versions_param(&state, &user, &params).await?;
    let search = params.get("search").map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    let catalog = Catalog::load(&state, user.0.account_id).await?;
    let names = group_names(&state, &user).await?;
    let rows: Vec<Value> = state
        .store
        .group_sets()
        .list(user.0.account_id, &versions)
        .await?
        .iter()
        .filter(|set| search.as_ref().is_none_or(|s| set.name.to_lowercase().contains(s)))
        .map(|set| set_json(&catalog, &names, set))
        .collect();
    Ok(Json(envelope("group_sets", rows, paging)))
}

#[utoipa::path(get, path = "/api/group_sets/{id}/", tag = "orgunits", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group set id")),
    responses((status = 200, description = "The group set", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn detail(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Value>> {
    require_read(&user)?;
    let set = state.store.group_sets().get(user.0.account_id, GroupSetId(id)).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(respond(&state, &user, &set).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSetBody {
    name: Option<String>,
    source_ref: Option<String>,
    /// Creation: the version (default: the account's live tree).
    source_version_id: Option<i64>,
    /// `SINGLE` (default) or `MULTIPLE`.
    group_belonging: Option<String>,
    /// The whole membership: groups of the set's version.
    group_ids: Option<Vec<i64>>,
}

fn belonging(value: Option<&str>, current: GroupBelonging) -> ApiResult<GroupBelonging> {
    match value {
        None => Ok(current),
        Some(value) => GroupBelonging::parse(value)
            .ok_or_else(|| ApiError::field("group_belonging", format!("\"{value}\" is not SINGLE or MULTIPLE."))),
    }
}

fn group_ids(ids: Vec<i64>) -> Vec<GroupId> {
    ids.into_iter().map(GroupId).collect()
}

#[utoipa::path(post, path = "/api/group_sets/", tag = "orgunits", security(("bearer" = [])), request_body = GroupSetBody,
    responses((status = 201, description = "The created group set", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn create(
    State(state): State<SharedState>,
    user: CurrentUser,
    AppJson(body): AppJson<GroupSetBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require(perm::ORG_UNIT_GROUPS)?;
    let account = user.0.account_id;
    let version = version_or_default(&state, account, body.source_version_id).await?;
    let input = GroupSetInput {
        version_id: version,
        name: body.name.ok_or_else(|| ApiError::field("name", "This field is required."))?,
        source_ref: body.source_ref,
        group_belonging: belonging(body.group_belonging.as_deref(), GroupBelonging::Single)?,
        group_ids: group_ids(body.group_ids.unwrap_or_default()),
    };
    let set = state.store.group_sets().create(account, Some(user.0.user_id), input).await?;
    Ok((StatusCode::CREATED, Json(respond(&state, &user, &set).await?)))
}

/// Changes what the body gives; `group_ids` replaces the whole membership.
#[utoipa::path(patch, path = "/api/group_sets/{id}/", tag = "orgunits", security(("bearer" = [])), request_body = GroupSetBody,
    params(("id" = i64, Path, description = "Group set id")),
    responses((status = 200, description = "The updated group set", body = Object), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn update(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
    AppJson(body): AppJson<GroupSetBody>,
) -> ApiResult<Json<Value>> {
    user.require(perm::ORG_UNIT_GROUPS)?;
    let account = user.0.account_id;
    let current = state.store.group_sets().get(account, GroupSetId(id)).await?.ok_or(ApiError::NotFound)?;
    if body.source_version_id.is_some_and(|v| v != current.version_id.0) {
        return Err(ApiError::field("source_version_id", "A group set cannot move to another version."));
    }
    let input = GroupSetInput {
        version_id: current.version_id,
        name: body.name.unwrap_or(current.name),
        source_ref: body.source_ref.or(current.source_ref),
        group_belonging: belonging(body.group_belonging.as_deref(), current.group_belonging)?,
        group_ids: body.group_ids.map(group_ids).unwrap_or(current.group_ids),
    };
    let set = state.store.group_sets().update(account, Some(user.0.user_id), current.id, input).await?;
    Ok(Json(respond(&state, &user, &set).await?))
}

#[utoipa::path(delete, path = "/api/group_sets/{id}/", tag = "orgunits", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group set id")),
    responses((status = 204, description = "Deleted"), (status = 401), (status = 403), (status = 404)))]
pub async fn delete(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<StatusCode> {
    user.require(perm::ORG_UNIT_GROUPS)?;
    state.store.group_sets().delete(user.0.account_id, Some(user.0.user_id), GroupSetId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
