//! `GET /api/projects/` and `GET /api/projects/{id}/`.

use axum::Json;
use axum::extract::{Query, State};
use hygeia_core::{FeatureFlag, Project, ProjectId};
use serde_json::{Value, json};

use crate::api::epoch;
use crate::api::pagination::{PageParams, envelope};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathId;
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
