//! `/api/orgunittypes/`: the levels of the tree.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use hygeia_core::permission as perm;
use hygeia_core::{OrgUnitType, OrgUnitTypeId, OrgUnitTypeInput, Project, ProjectId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::epoch;
use crate::api::pagination::{PageParams, envelope};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, PathId};
use crate::state::SharedState;

fn type_json(t: &OrgUnitType, all: &[OrgUnitType], projects: &[Project]) -> Value {
    let short = |id: &OrgUnitTypeId| {
        all.iter().find(|o| o.id == *id).map(|o| {
            json!({"id": o.id, "name": o.name, "short_name": o.short_name, "depth": o.depth,
                   "created_at": epoch(o.created_at), "updated_at": epoch(o.updated_at)})
        })
    };
    json!({
        "id": t.id,
        "name": t.name,
        "short_name": t.short_name,
        "depth": t.depth,
        "category": t.category,
        "projects": projects.iter().filter(|p| t.projects.contains(&p.id)).map(|p| json!({
            "id": p.id, "name": p.name, "app_id": p.app_id, "description": p.description, "color": p.color,
        })).collect::<Vec<_>>(),
        "sub_unit_types": t.sub_unit_types.iter().filter_map(short).collect::<Vec<_>>(),
        "allow_creating_sub_unit_types": t.allow_creating_sub_unit_types.iter().filter_map(short).collect::<Vec<_>>(),
        "created_at": epoch(t.created_at),
        "updated_at": epoch(t.updated_at),
    })
}

/// Every authenticated user of the account may read the types (phones need them).
#[utoipa::path(get, path = "/api/orgunittypes/", tag = "orgunits", params(PageParams), security(("bearer" = [])),
    responses((status = 200, description = "`{\"orgUnitTypes\": [...]}` or paginated", body = Object), (status = 401)))]
pub async fn list(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(paging): Query<PageParams>,
) -> ApiResult<Json<Value>> {
    let paging = paging.parse()?;
    let account = user.0.account_id;
    let types = state.store.org_unit_types().list(account).await?;
    let projects = state.store.projects().list(account).await?;
    let rows: Vec<Value> = types.iter().map(|t| type_json(t, &types, &projects)).collect();
    Ok(Json(envelope("orgUnitTypes", rows, paging)))
}

#[utoipa::path(get, path = "/api/orgunittypes/{id}/", tag = "orgunits", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Type id")),
    responses((status = 200, description = "The type", body = Object), (status = 401), (status = 404)))]
pub async fn detail(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Value>> {
    let id = OrgUnitTypeId(id);
    let account = user.0.account_id;
    let types = state.store.org_unit_types().list(account).await?;
    let found = types.iter().find(|t| t.id == id).ok_or(ApiError::NotFound)?;
    let projects = state.store.projects().list(account).await?;
    Ok(Json(type_json(found, &types, &projects)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeBody {
    name: String,
    #[serde(default)]
    short_name: String,
    depth: Option<i64>,
    category: Option<String>,
    #[serde(default)]
    project_ids: Vec<i64>,
    #[serde(default)]
    sub_unit_type_ids: Vec<i64>,
    #[serde(default)]
    allow_creating_sub_unit_type_ids: Vec<i64>,
}

impl From<TypeBody> for OrgUnitTypeInput {
    fn from(body: TypeBody) -> Self {
        OrgUnitTypeInput {
            name: body.name,
            short_name: body.short_name,
            depth: body.depth,
            category: body.category,
            projects: body.project_ids.into_iter().map(ProjectId).collect(),
            sub_unit_types: body.sub_unit_type_ids.into_iter().map(OrgUnitTypeId).collect(),
            allow_creating_sub_unit_types: body
                .allow_creating_sub_unit_type_ids
                .into_iter()
                .map(OrgUnitTypeId)
                .collect(),
        }
    }
}

#[utoipa::path(post, path = "/api/orgunittypes/", tag = "orgunits", security(("bearer" = [])), request_body = TypeBody,
    responses((status = 201, description = "The created type", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn create(
    State(state): State<SharedState>,
    user: CurrentUser,
    AppJson(body): AppJson<TypeBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require(perm::ORG_UNIT_TYPES)?;
    let account = user.0.account_id;
    let created = state.store.org_unit_types().create(account, Some(user.0.user_id), body.into()).await?;
    let types = state.store.org_unit_types().list(account).await?;
    let projects = state.store.projects().list(account).await?;
    Ok((StatusCode::CREATED, Json(type_json(&created, &types, &projects))))
}

#[utoipa::path(put, path = "/api/orgunittypes/{id}/", tag = "orgunits", security(("bearer" = [])), request_body = TypeBody,
    params(("id" = i64, Path, description = "Type id")),
    responses((status = 200, description = "The updated type", body = Object), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn update(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
    AppJson(body): AppJson<TypeBody>,
) -> ApiResult<Json<Value>> {
    user.require(perm::ORG_UNIT_TYPES)?;
    let id = OrgUnitTypeId(id);
    let account = user.0.account_id;
    let updated = state.store.org_unit_types().update(account, Some(user.0.user_id), id, body.into()).await?;
    let types = state.store.org_unit_types().list(account).await?;
    let projects = state.store.projects().list(account).await?;
    Ok(Json(type_json(&updated, &types, &projects)))
}

#[utoipa::path(delete, path = "/api/orgunittypes/{id}/", tag = "orgunits", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Type id")),
    responses((status = 204, description = "Deleted"), (status = 401), (status = 403), (status = 404), (status = 409)))]
pub async fn delete(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<StatusCode> {
    user.require(perm::ORG_UNIT_TYPES)?;
    let id = OrgUnitTypeId(id);
    state.store.org_unit_types().delete(user.0.account_id, Some(user.0.user_id), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
