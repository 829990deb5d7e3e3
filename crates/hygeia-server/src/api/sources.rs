//! `/api/datasources/` and `/api/sourceversions/`.

use axum::Json;
use axum::extract::{Query, State};
use hygeia_core::permission as perm;
use hygeia_core::{
    AccountId, DataSource, DataSourceId, DataSourceInput, OrgUnitQuery, OrgUnitScope, ProjectId, SourceVersion,
    SourceVersionId,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::pagination::{PageParams, envelope};
use crate::api::{epoch, iso};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, PathId};
use crate::state::{AppState, SharedState};

/// Reading sources takes `iaso_sources` or the right to write them (or org-unit rights, which
/// need the source names to make sense of the tree).
fn require_read(user: &CurrentUser) -> ApiResult<()> {
    let readers = [perm::SOURCES, perm::WRITE_SOURCES, perm::ORG_UNITS, perm::ORG_UNITS_READ];
    if readers.iter().any(|p| user.0.has_permission(p)) { Ok(()) } else { Err(ApiError::Forbidden) }
}

async fn org_units_count(state: &AppState, account: AccountId, version: SourceVersionId) -> ApiResult<u64> {
    let query = OrgUnitQuery { version_ids: vec![version], page: Some((0, 0)), ..Default::default() };
    Ok(state.store.org_units().list(&OrgUnitScope::whole_account(account), &query).await?.count)
}

async fn version_json(
    state: &AppState,
    account: AccountId,
    version: &SourceVersion,
    source: &DataSource,
) -> ApiResult<Value> {
    Ok(json!({
        "id": version.id,
        "data_source": version.data_source_id,
        "number": version.number,
        "description": version.description,
        "created_at": iso(version.created_at),
        "updated_at": iso(version.updated_at),
        "data_source_name": source.name,
        "is_default": source.default_version_id == Some(version.id),
        "org_units_count": org_units_count(state, account, version.id).await?,
        "tree_config_status_fields": [],
    }))
}

async fn source_json(state: &AppState, account: AccountId, source: &DataSource) -> ApiResult<Value> {
    let projects = state.store.projects().list(account).await?;
    let mut versions = Vec::new();
    let mut default_version = Value::Null;
    for version in state.store.sources().versions(account, Some(source.id)).await? {
        let short = json!({
            "number": version.number,
            "description": version.description,
            "id": version.id,
            "created_at": epoch(version.created_at),
            "updated_at": epoch(version.updated_at),
            "org_units_count": org_units_count(state, account, version.id).await?,
        });
        if source.default_version_id == Some(version.id) {
            default_version = short.clone();
        }
        versions.push(short);
    }
    versions.reverse();
    Ok(json!({
        "id": source.id,
        "name": source.name,
        "read_only": source.read_only,
        "credentials": null,
        "description": source.description,
        "created_at": iso(source.created_at),
        "updated_at": iso(source.updated_at),
        "default_version": default_version,
        "tree_config_status_fields": [],
        "projects": projects.iter().filter(|p| source.projects.contains(&p.id)).map(|p| json!({
            "id": p.id, "name": p.name, "app_id": p.app_id, "color": p.color, "description": p.description,
        })).collect::<Vec<_>>(),
        "versions": versions,
        "url": null,
    }))
}

#[utoipa::path(get, path = "/api/datasources/", tag = "sources", params(PageParams), security(("bearer" = [])),
    responses((status = 200, description = "`{\"sources\": [...]}` or paginated", body = Object), (status = 401), (status = 403)))]
pub async fn list_sources(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(paging): Query<PageParams>,
) -> ApiResult<Json<Value>> {
    require_read(&user)?;
    let paging = paging.parse()?;
    let mut rows = Vec::new();
    for source in state.store.sources().sources(user.0.account_id).await? {
        rows.push(source_json(&state, user.0.account_id, &source).await?);
    }
    Ok(Json(envelope("sources", rows, paging)))
}

#[utoipa::path(get, path = "/api/datasources/{id}/", tag = "sources", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Data source id")),
    responses((status = 200, description = "The data source", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn source_detail(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    require_read(&user)?;
    let id = DataSourceId(id);
    let source = state.store.sources().source(user.0.account_id, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(source_json(&state, user.0.account_id, &source).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceBody {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    project_ids: Vec<i64>,
    /// Makes this version (of the source) its default.
    default_version_id: Option<i64>,
}

impl From<SourceBody> for DataSourceInput {
    fn from(body: SourceBody) -> Self {
        DataSourceInput {
            name: body.name,
            description: body.description,
            read_only: body.read_only,
            projects: body.project_ids.into_iter().map(ProjectId).collect(),
        }
    }
}

#[utoipa::path(post, path = "/api/datasources/", tag = "sources", security(("bearer" = [])), request_body = SourceBody,
    responses((status = 201, description = "The created data source", body = Object), (status = 400), (status = 401), (status = 403), (status = 409)))]
pub async fn create_source(
    State(state): State<SharedState>,
    user: CurrentUser,
    AppJson(body): AppJson<SourceBody>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    user.require(perm::WRITE_SOURCES)?;
    if body.default_version_id.is_some() {
        return Err(ApiError::field("default_version_id", "A new source has no versions yet."));
    }
    let input = DataSourceInput::from(body);
    let source = state.store.sources().create_source(user.0.account_id, input).await?;
    Ok((axum::http::StatusCode::CREATED, Json(source_json(&state, user.0.account_id, &source).await?)))
}

#[utoipa::path(put, path = "/api/datasources/{id}/", tag = "sources", security(("bearer" = [])), request_body = SourceBody,
    params(("id" = i64, Path, description = "Data source id")),
    responses((status = 200, description = "The updated data source", body = Object), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn update_source(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
    AppJson(body): AppJson<SourceBody>,
) -> ApiResult<Json<Value>> {
    user.require(perm::WRITE_SOURCES)?;
    let id = DataSourceId(id);
    let account = user.0.account_id;
    let existing = state.store.sources().source(account, id).await?.ok_or(ApiError::NotFound)?;
    // Everything is checked before anything is written.
    let new_default = body.default_version_id.map(SourceVersionId).filter(|v| existing.default_version_id != Some(*v));
    if let Some(version) = new_default {
        user.require(perm::SOURCES_CHANGE_DEFAULT_VERSION)?;
        let owned = state.store.sources().version(account, version).await?;
        if owned.is_none_or(|v| v.data_source_id != id) {
            return Err(ApiError::field("default_version_id", "Unknown version of this source."));
        }
    }
    let input = DataSourceInput::from(body);
    let mut source = state.store.sources().update_source(account, id, input).await?;
    if let Some(version) = new_default {
        state.store.sources().set_source_default_version(account, version).await?;
        source.default_version_id = Some(version);
    }
    Ok(Json(source_json(&state, account, &source).await?))
}

#[utoipa::path(get, path = "/api/sourceversions/", tag = "sources", params(PageParams), security(("bearer" = [])),
    responses((status = 200, description = "`{\"versions\": [...]}` or paginated", body = Object), (status = 401), (status = 403)))]
pub async fn list_versions(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(paging): Query<PageParams>,
) -> ApiResult<Json<Value>> {
    require_read(&user)?;
    let paging = paging.parse()?;
    let account = user.0.account_id;
    let sources = state.store.sources().sources(account).await?;
    let mut rows = Vec::new();
    for version in state.store.sources().versions(account, None).await? {
        if let Some(source) = sources.iter().find(|s| s.id == version.data_source_id) {
            rows.push(version_json(&state, account, &version, source).await?);
        }
    }
    Ok(Json(envelope("versions", rows, paging)))
}

#[utoipa::path(get, path = "/api/sourceversions/{id}/", tag = "sources", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Version id")),
    responses((status = 200, description = "The version", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn version_detail(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    require_read(&user)?;
    let id = SourceVersionId(id);
    let account = user.0.account_id;
    let version = state.store.sources().version(account, id).await?.ok_or(ApiError::NotFound)?;
    let source = state.store.sources().source(account, version.data_source_id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(version_json(&state, account, &version, &source).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionBody {
    data_source_id: i64,
    #[serde(default)]
    description: String,
}

/// Adds the source's next version (number = highest + 1).
#[utoipa::path(post, path = "/api/sourceversions/", tag = "sources", security(("bearer" = [])), request_body = VersionBody,
    responses((status = 201, description = "The created version", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn create_version(
    State(state): State<SharedState>,
    user: CurrentUser,
    AppJson(body): AppJson<VersionBody>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    user.require(perm::WRITE_SOURCES)?;
    let account = user.0.account_id;
    let version =
        state.store.sources().create_version(account, DataSourceId(body.data_source_id), &body.description).await?;
    let source = state.store.sources().source(account, version.data_source_id).await?.ok_or(ApiError::NotFound)?;
    Ok((axum::http::StatusCode::CREATED, Json(version_json(&state, account, &version, &source).await?)))
}
