//! `GET /api/projects/` and `GET /api/projects/{id}/`.

use axum::Json;
use axum::extract::{Query, State};
use hygeia_core::{AppToken, FeatureFlag, NewAppToken, Project, ProjectId};
use serde_json::{Value, json};

use crate::api::epoch;
use crate::api::pagination::{PageParams, envelope};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, PathId};
use crate::state::SharedState;

/// The account's projects; a user limited to some projects sees only those.
#[utoipa::path(get, path = "/api/projects/", tag = "projects", params(PageParams), security(("bearer" = [])),
    responses((status = 200, description = "`{\"projects\": [...]}`, or Iaso's paginated envelope with `limit`", body = Object),
              (status = 401)))]
pub async fn list(
    State(state): State<SharedState>,
    CurrentUser(user): CurrentUser,
    Query(paging): Query<PageParams>,
) -> ApiResult<Json<Value>> {
    let paging = paging.parse()?;
    let catalogue = state.store.projects().feature_flags().await?;
    let projects: Vec<Value> = state
        .store
        .projects()
        .list(user.account_id)
        .await?
        .iter()
        .filter(|p| user.projects.is_empty() || user.projects.contains(&p.id))
        .map(|p| project_json(p, &catalogue))
        .collect();
    Ok(Json(envelope("projects", projects, paging)))
}

/// One project of the caller's account.
#[utoipa::path(get, path = "/api/projects/{id}/", tag = "projects", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, description = "The project", body = Object), (status = 401), (status = 404)))]
pub async fn detail(
    State(state): State<SharedState>,
    CurrentUser(user): CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    let id = ProjectId(id);
    let project = state.store.projects().get(user.account_id, id).await?.ok_or(ApiError::NotFound)?;
    if !(user.projects.is_empty() || user.projects.contains(&project.id)) {
        return Err(ApiError::NotFound);
    }
    let catalogue = state.store.projects().feature_flags().await?;
    Ok(Json(project_json(&project, &catalogue)))
}

/// Iaso's project shape, with feature flags expanded from the catalogue.
pub fn project_json(project: &Project, catalogue: &[FeatureFlag]) -> Value {
    let flags: Vec<Value> = catalogue
        .iter()
        .filter(|f| project.feature_flags.contains(&f.code))
        .map(|f| {
            json!({
                "id": f.id,
                "name": f.name,
                "code": f.code,
                "description": f.description,
                "category": f.category,
                "requires_authentication": f.requires_authentication,
                "configuration": null,
                "created_at": epoch(f.created_at),
                "updated_at": epoch(f.updated_at),
            })
        })
        .collect();
    json!({
        "id": project.id,
        "name": project.name,
        "app_id": project.app_id,
        "description": project.description,
        "feature_flags": flags,
        "created_at": epoch(project.created_at),
        "updated_at": epoch(project.updated_at),
        "needs_authentication": project.needs_authentication,
        "qr_code": null,
        "color": project.color,
    })
}

/// A project of the caller's account that the caller manages (`iaso_projects`).
async fn managed_project(state: &SharedState, user: &CurrentUser, id: i64) -> ApiResult<Project> {
    user.require(hygeia_core::permission::PROJECTS)?;
    state.store.projects().get(user.0.account_id, ProjectId(id)).await?.ok_or(ApiError::NotFound)
}

fn app_token_json(token: &AppToken) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "user_id": token.user_id,
        "project_id": token.project_id,
        "created_by": token.created_by,
        "created_at": epoch(token.created_at),
        "revoked_at": token.revoked_at.map(epoch),
    })
}

/// The project's app tokens (never the tokens themselves: they are shown once, at creation).
#[utoipa::path(get, path = "/api/projects/{id}/app_tokens/", tag = "projects", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, description = "`{\"app_tokens\": [...]}`", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn app_tokens(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    let project = managed_project(&state, &user, id).await?;
    let tokens = state.store.projects().app_tokens(user.0.account_id, project.id).await?;
    Ok(Json(json!({ "app_tokens": tokens.iter().map(app_token_json).collect::<Vec<_>>() })))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct AppTokenBody {
    /// What the phone is, for the list ("Tablet 12, Boromo").
    name: String,
    /// The user whose submissions the phone sends (default: the caller).
    user_id: Option<i64>,
}

/// A new app token, and the server URL to give ODK Collect (the token is in it; it is not shown
/// again).
#[utoipa::path(post, path = "/api/projects/{id}/app_tokens/", tag = "projects", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id")), request_body = AppTokenBody,
    responses((status = 201, description = "The token with `token` and `server_url`", body = Object), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn create_app_token(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
    headers: axum::http::HeaderMap,
    AppJson(body): AppJson<AppTokenBody>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    let project = managed_project(&state, &user, id).await?;
    let acting_for = body.user_id.map(hygeia_core::UserId).unwrap_or(user.0.user_id);
    // A token acts for its user: only who manages users may make one for somebody else.
    if acting_for != user.0.user_id && !user.0.has_permission(hygeia_core::permission::USERS) {
        return Err(ApiError::ForbiddenBecause(
            "Only a user manager may make a token that acts for another user.".into(),
        ));
    }
    let secret = crate::auth::jwt::random_hex(24);
    let token = NewAppToken {
        project_id: project.id,
        user_id: acting_for,
        name: body.name,
        token_hash: crate::auth::hash_token(&secret),
        created_by: Some(user.0.user_id),
    };
    let created = state.store.projects().create_app_token(user.0.account_id, token).await?;
    let mut row = app_token_json(&created);
    let base = crate::api::forms::base_url(&headers);
    row["server_url"] = json!(format!("{base}/openrosa/key/{secret}/{}", project.app_id));
    row["token"] = json!(secret);
    Ok((axum::http::StatusCode::CREATED, Json(row)))
}

/// Revokes an app token: the phones using it are refused from now on.
#[utoipa::path(delete, path = "/api/projects/{id}/app_tokens/{token_id}/", tag = "projects", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id"), ("token_id" = i64, Path, description = "App token id")),
    responses((status = 200, description = "The revoked token", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn revoke_app_token(
    State(state): State<SharedState>,
    user: CurrentUser,
    axum::extract::Path((id, token_id)): axum::extract::Path<(i64, i64)>,
) -> ApiResult<Json<Value>> {
    let project = managed_project(&state, &user, id).await?;
    let revoked = state.store.projects().revoke_app_token(user.0.account_id, project.id, token_id).await?;
    Ok(Json(app_token_json(&revoked)))
}
