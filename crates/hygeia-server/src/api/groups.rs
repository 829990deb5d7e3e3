//! `/api/groups/`: org-unit groups and their members.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use hygeia_core::permission as perm;
use hygeia_core::{AccountId, Group, GroupId, GroupInput, GroupSet, OrgUnitId, SourceVersionId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::orgunits::{require_read, scope_of};
use crate::api::pagination::{PageParams, envelope};
use crate::api::{catalog, epoch};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, PathId};
use crate::state::{AppState, SharedState};

/// The versions, sources and group sets that group rows show, loaded once per request.
pub struct Catalog {
    shared: Arc<catalog::Catalog>,
    sets: Vec<GroupSet>,
}

impl Catalog {
    pub async fn load(state: &AppState, account: AccountId) -> ApiResult<Catalog> {
        Ok(Catalog {
            shared: catalog::catalog(state, account).await?,
            sets: state.store.group_sets().list(account, &[]).await?,
        })
    }

    /// `{id, number, data_source: {id, name}}`.
    pub fn source_version(&self, version: SourceVersionId) -> Value {
        let Some(v) = self.shared.versions.get(&version) else { return Value::Null };
        let source = self.shared.sources.get(&v.data_source_id);
        json!({
            "id": v.id,
            "number": v.number,
            "data_source": source.map(|s| json!({"id": s.id, "name": s.name})),
        })
    }
}

fn group_json(catalog: &Catalog, group: &Group) -> Value {
    let sets: Vec<Value> = catalog
        .sets
        .iter()
        .filter(|set| set.group_ids.contains(&group.id))
        .map(|set| json!({"id": set.id, "name": set.name}))
        .collect();
    json!({
        "id": group.id,
        "name": group.name,
        "source_ref": group.source_ref,
        "source_version": catalog.source_version(group.version_id),
        "group_sets": sets,
        "org_unit_count": group.org_unit_count,
        "block_of_countries": group.block_of_countries,
        "created_at": epoch(group.created_at),
        "updated_at": epoch(group.updated_at),
    })
}

async fn respond(state: &AppState, user: &CurrentUser, group: &Group) -> ApiResult<Value> {
    Ok(group_json(&Catalog::load(state, user.0.account_id).await?, group))
}

/// The version a new group or group set goes into: the one given, or the account's live tree.
pub async fn version_or_default(
    state: &AppState,
    account: AccountId,
    given: Option<i64>,
) -> ApiResult<SourceVersionId> {
    if let Some(version) = given {
        return Ok(SourceVersionId(version));
    }
    let account = state.store.accounts().get(account).await?.ok_or(ApiError::NotFound)?;
    account.default_version_id.map(SourceVersionId).ok_or_else(|| {
        ApiError::field("source_version_id", "The account has no default version: give source_version_id.")
    })
}

/// `version` (or `defaultVersion=true`) as the list of versions to show; empty for all.
pub async fn versions_param(
    state: &AppState,
    user: &CurrentUser,
    params: &HashMap<String, String>,
) -> ApiResult<Vec<SourceVersionId>> {
    if let Some(version) = params.get("version").filter(|v| !v.is_empty()) {
        let id = version.parse().map_err(|_| ApiError::field("version", "A number is required."))?;
        Ok(vec![SourceVersionId(id)])
    } else if params.get("defaultVersion").is_some_and(|v| v == "true") {
        let account = state.store.accounts().get(user.0.account_id).await?.ok_or(ApiError::NotFound)?;
        Ok(vec![SourceVersionId(account.default_version_id.unwrap_or(-1))])
    } else {
        Ok(Vec::new())
    }
}

/// Groups of the account; `version` or `defaultVersion=true` narrow them.
#[utoipa::path(get, path = "/api/groups/", tag = "orgunits", security(("bearer" = [])),
    params(("version" = Option<i64>, Query), ("defaultVersion" = Option<bool>, Query), PageParams),
    responses((status = 200, description = "`{\"groups\": [...]}` or paginated", body = Object), (status = 401), (status = 403)))]
pub async fn list(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    require_read(&user)?;
    let paging = PageParams { limit: params.get("limit").cloned(), page: params.get("page").cloned() }.parse()?;
    let versions = versions_param(&state, &user, &params).await?;
    let catalog = Catalog::load(&state, user.0.account_id).await?;
    let groups = state.store.groups().list(user.0.account_id, &versions).await?;
    let rows: Vec<Value> = groups.iter().map(|group| group_json(&catalog, group)).collect();
    Ok(Json(envelope("groups", rows, paging)))
}

#[utoipa::path(get, path = "/api/groups/{id}/", tag = "orgunits", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group id")),
    responses((status = 200, description = "The group", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn detail(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Value>> {
    require_read(&user)?;
    let id = GroupId(id);
    let group = state.store.groups().get(user.0.account_id, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(respond(&state, &user, &group).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    name: Option<String>,
    source_ref: Option<String>,
    /// Creation: the version (default: the account's live tree).
    source_version_id: Option<i64>,
    block_of_countries: Option<bool>,
    /// Units to add to the group.
    #[serde(default)]
    org_units_added: Vec<i64>,
    /// Units to remove from the group.
    #[serde(default)]
    org_units_removed: Vec<i64>,
}

fn units(ids: &[i64]) -> Vec<OrgUnitId> {
    ids.iter().copied().map(OrgUnitId).collect()
}

#[utoipa::path(post, path = "/api/groups/", tag = "orgunits", security(("bearer" = [])), request_body = GroupBody,
    responses((status = 201, description = "The created group", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn create(
    State(state): State<SharedState>,
    user: CurrentUser,
    AppJson(body): AppJson<GroupBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require(perm::ORG_UNIT_GROUPS)?;
    let account = user.0.account_id;
    let version = version_or_default(&state, account, body.source_version_id).await?;
    let input = GroupInput {
        version_id: version,
        name: body.name.ok_or_else(|| ApiError::field("name", "This field is required."))?,
        source_ref: body.source_ref,
        block_of_countries: body.block_of_countries.unwrap_or(false),
    };
    let actor = Some(user.0.user_id);
    let mut group = state.store.groups().create(account, actor, input).await?;
    if !body.org_units_added.is_empty() {
        let added = units(&body.org_units_added);
        group = match state.store.groups().change_members(&scope_of(&user.0), actor, group.id, &added, &[]).await {
            Ok(group) => group,
            Err(err) => {
                // All or nothing: a group whose members were refused is not kept.
                state.store.groups().delete(account, actor, group.id).await?;
                return Err(err.into());
            }
        };
    }
    Ok((StatusCode::CREATED, Json(respond(&state, &user, &group).await?)))
}

/// Renames a group and adds or removes members.
#[utoipa::path(patch, path = "/api/groups/{id}/", tag = "orgunits", security(("bearer" = [])), request_body = GroupBody,
    params(("id" = i64, Path, description = "Group id")),
    responses((status = 200, description = "The updated group", body = Object), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn update(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
    AppJson(body): AppJson<GroupBody>,
) -> ApiResult<Json<Value>> {
    user.require(perm::ORG_UNIT_GROUPS)?;
    let id = GroupId(id);
    let account = user.0.account_id;
    let actor = Some(user.0.user_id);
    let current = state.store.groups().get(account, id).await?.ok_or(ApiError::NotFound)?;
    if body.source_version_id.is_some_and(|v| v != current.version_id.0) {
        return Err(ApiError::field("source_version_id", "A group cannot move to another version."));
    }
    // Members first: they are the part most likely to be refused, and nothing is written then.
    let mut group = current.clone();
    if !body.org_units_added.is_empty() || !body.org_units_removed.is_empty() {
        let (added, removed) = (units(&body.org_units_added), units(&body.org_units_removed));
        group = state.store.groups().change_members(&scope_of(&user.0), actor, id, &added, &removed).await?;
    }
    if body.name.is_some() || body.source_ref.is_some() || body.block_of_countries.is_some() {
        let input = GroupInput {
            version_id: current.version_id,
            name: body.name.unwrap_or(current.name),
            source_ref: body.source_ref.or(current.source_ref),
            block_of_countries: body.block_of_countries.unwrap_or(current.block_of_countries),
        };
        group = state.store.groups().update(account, actor, id, input).await?;
    }
    Ok(Json(respond(&state, &user, &group).await?))
}

#[utoipa::path(delete, path = "/api/groups/{id}/", tag = "orgunits", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Group id")),
    responses((status = 204, description = "Deleted"), (status = 401), (status = 403), (status = 404)))]
pub async fn delete(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<StatusCode> {
    user.require(perm::ORG_UNIT_GROUPS)?;
    let id = GroupId(id);
    state.store.groups().delete(user.0.account_id, Some(user.0.user_id), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
