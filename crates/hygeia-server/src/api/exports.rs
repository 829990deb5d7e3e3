//! `POST /api/tasks/create/exportorgunits/`: the org-unit list's export (the list's filters, the
//! caller's part of the tree) as a background task with progress, for exports too large to wait for
//! in one request. The file is kept in file storage; `GET /api/tasks/{id}/download/` serves it.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hygeia_core::NewTask;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::bulkupdate::as_params;
use crate::api::orgunits::{parse_query, require_read};
use crate::api::tasks;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::exports::FORMATS;
use crate::extract::AppJson;
use crate::state::SharedState;

pub const TASK_NAME: &str = "export_org_units";

/// What to export: a format and the list's query parameters.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// `csv`, `xlsx`, `gpkg` or `geojson`.
    pub format: String,
    /// `/api/orgunits/` query parameters, e.g. `{"version": 3, "orgUnitTypeId": 5}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub filters: HashMap<String, Value>,
}

/// Queues the export; the filters are checked now, so that a mistake answers 400.
#[utoipa::path(post, path = "/api/tasks/create/exportorgunits/", tag = "tasks", security(("bearer" = [])),
    request_body = ExportBody,
    responses((status = 201, description = "`{\"task\": ...}`: the queued export", body = Object),
        (status = 400), (status = 401), (status = 403)))]
pub async fn create_task(
    State(state): State<SharedState>,
    user: CurrentUser,
    AppJson(body): AppJson<ExportBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_read(&user)?;
    if !FORMATS.contains(&body.format.as_str()) {
        let message = format!("\"{}\" is not one of {}.", body.format, FORMATS.join(", "));
        return Err(ApiError::field("format", message));
    }
    parse_query(&state, &user.0, &as_params(&body.filters)).await?;
    let task = NewTask::new(TASK_NAME, json!({ "export": body }), Some(user.0.user_id));
    let task = state.store.tasks().enqueue(user.0.account_id, task).await?;
    Ok((StatusCode::CREATED, Json(json!({ "task": tasks::respond(&state, &user.0, &task).await? }))))
}
