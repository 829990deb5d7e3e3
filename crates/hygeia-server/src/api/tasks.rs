//! `/api/tasks/`: the account's background tasks, in Iaso's shapes: list, detail, kill, relaunch,
//! progress history.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{TimeZone, Utc};
use hygeia_core::permission as perm;
use hygeia_core::{Task, TaskId, TaskQuery, TaskStatus, UserId, UserProfile};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::epoch;
use crate::api::orgunits::{ids, parse_date};
use crate::api::pagination::PageParams;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, PathId};
use crate::state::{AppState, SharedState};

/// Iaso's user dict in task rows.
fn user_json(user: &UserProfile) -> Value {
    json!({
        "id": user.user_id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "username": user.username,
        "full_name": format!("{} {}", user.first_name, user.last_name).trim().to_owned(),
    })
}

/// The launchers of `tasks` who still exist in the caller's account.
async fn launchers(
    state: &AppState,
    account: hygeia_core::AccountId,
    tasks: &[Task],
) -> ApiResult<HashMap<UserId, Value>> {
    let mut found = HashMap::new();
    for id in tasks.iter().filter_map(|t| t.launcher_id) {
        if found.contains_key(&id) {
            continue;
        }
        if let Some(profile) = state.store.users().profile_of_user(id).await?
            && profile.account_id == account
        {
            found.insert(id, user_json(&profile));
        }
    }
    Ok(found)
}

/// A task as Iaso shows it; `params` are never shown (they may name files and credentials).
pub fn task_json(task: &Task, launchers: &HashMap<UserId, Value>) -> Value {
    let launcher = task.launcher_id.and_then(|id| launchers.get(&id)).cloned().unwrap_or(Value::Null);
    json!({
        "id": task.id,
        "created_at": epoch(task.created_at),
        "started_at": task.started_at.map(epoch),
        "ended_at": task.ended_at.map(epoch),
        "progress_value": task.progress_value,
        "end_value": task.end_value,
        "created_by": launcher,
        "launcher": launcher,
        "result": task.result,
        "status": task.status,
        "name": task.name,
        "should_be_killed": task.should_be_killed,
        "progress_message": task.progress_message,
        "polio_notification_import_id": null,
    })
}

pub async fn respond(state: &AppState, user: &UserProfile, task: &Task) -> ApiResult<Value> {
    let launchers = launchers(state, user.account_id, std::slice::from_ref(task)).await?;
    Ok(task_json(task, &launchers))
}

/// Seeing every task takes `iaso_data_tasks`; whoever launched a task may always follow it.
pub(crate) async fn visible_task(state: &AppState, user: &UserProfile, id: TaskId) -> ApiResult<Task> {
    let task = state.store.tasks().get(user.account_id, id).await?.ok_or(ApiError::NotFound)?;
    if user.has_permission(perm::DATA_TASKS) || task.launcher_id == Some(user.user_id) {
        Ok(task)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// The start of a day given as Iaso's list filters write dates.
fn day(name: &str, value: &str) -> ApiResult<chrono::DateTime<Utc>> {
    let date = parse_date(name, value)?;
    Ok(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default()))
}

/// The list: `{tasks: [...]}`, or Iaso's paginated envelope with `limit`.
#[utoipa::path(get, path = "/api/tasks/", tag = "tasks", security(("bearer" = [])),
    params(
        ("status" = Option<String>, Query, description = "QUEUED, RUNNING, SUCCESS, ERRORED, KILLED, SKIPPED (comma list)"),
        ("task_type" = Option<String>, Query, description = "Task names (comma list)"),
        ("users" = Option<String>, Query, description = "Launcher user ids (comma list)"),
        ("start_date" = Option<String>, Query, description = "Created on or after this day (YYYY-MM-DD)"),
        ("end_date" = Option<String>, Query, description = "Created on or before this day"),
        ("order" = Option<String>, Query, description = "created_at or -created_at (default)"),
        PageParams,
    ),
    responses((status = 200, description = "Tasks", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    if !user.0.has_permission(perm::DATA_TASKS) && !user.0.has_permission(perm::PLANNING_WRITE) {
        return Err(ApiError::Forbidden);
    }
    let paging = PageParams { limit: params.get("limit").cloned(), page: params.get("page").cloned() }.parse()?;
    let mut query = TaskQuery::default();
    if let Some(statuses) = params.get("status").filter(|s| !s.is_empty()) {
        query.statuses = statuses
            .split(',')
            .map(|s| TaskStatus::parse(s).ok_or_else(|| ApiError::field("status", format!("Unknown status \"{s}\"."))))
            .collect::<ApiResult<_>>()?;
    }
    if let Some(names) = params.get("task_type").filter(|s| !s.is_empty()) {
        query.names = names.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
    }
    if let Some(users) = params.get("users").filter(|s| !s.is_empty()) {
        query.launchers = ids("users", users)?.into_iter().map(UserId).collect();
    }
    if let Some(start) = params.get("start_date").filter(|s| !s.is_empty()) {
        query.created_from = Some(day("start_date", start)?);
    }
    if let Some(end) = params.get("end_date").filter(|s| !s.is_empty()) {
        query.created_until = Some(day("end_date", end)? + chrono::Duration::days(1));
    }
    query.oldest_first = match params.get("order").map(String::as_str) {
        None | Some("" | "-created_at") => false,
        Some("created_at") => true,
        Some(other) => return Err(ApiError::field("order", format!("Cannot order by \"{other}\"."))),
    };
    query.page = paging.map(|(limit, page)| (limit as u64, ((page - 1) * limit) as u64));
    let result = state.store.tasks().list(user.0.account_id, &query).await?;
    let launchers = launchers(&state, user.0.account_id, &result.items).await?;
    let rows: Vec<Value> = result.items.iter().map(|t| task_json(t, &launchers)).collect();
    let Some((limit, page)) = paging else {
        return Ok(Json(json!({ "tasks": rows })));
    };
    let pages = (result.count as usize).div_ceil(limit).max(1);
    Ok(Json(json!({
        "count": result.count,
        "tasks": rows,
        "has_next": page < pages,
        "has_previous": page > 1,
        "page": page,
        "pages": pages,
        "limit": limit,
    })))
}

#[utoipa::path(get, path = "/api/tasks/{id}/", tag = "tasks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Task id")),
    responses((status = 200, description = "The task", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn detail(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Value>> {
    let task = visible_task(&state, &user.0, TaskId(id)).await?;
    respond(&state, &user.0, &task).await.map(Json)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    /// `true` asks the task to stop (a queued task is killed at once, a running one at its next
    /// progress report); `false` withdraws the request.
    should_be_killed: bool,
}

#[utoipa::path(patch, path = "/api/tasks/{id}/", tag = "tasks", security(("bearer" = [])), request_body = TaskPatch,
    params(("id" = i64, Path, description = "Task id")),
    responses((status = 200, description = "The task", body = Object), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn update(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
    AppJson(body): AppJson<TaskPatch>,
) -> ApiResult<Json<Value>> {
    let task = visible_task(&state, &user.0, TaskId(id)).await?;
    let task = state.store.tasks().set_should_be_killed(user.0.account_id, task.id, body.should_be_killed).await?;
    respond(&state, &user.0, &task).await.map(Json)
}

/// Queues an errored or killed task again, with the same parameters.
#[utoipa::path(patch, path = "/api/tasks/{id}/relaunch/", tag = "tasks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Task id")),
    responses((status = 200, description = "The queued task", body = Object), (status = 401), (status = 403), (status = 404), (status = 409)))]
pub async fn relaunch(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    let task = visible_task(&state, &user.0, TaskId(id)).await?;
    let task = state.store.tasks().relaunch(user.0.account_id, task.id).await?;
    respond(&state, &user.0, &task).await.map(Json)
}

/// The task's progress messages, oldest first (`order=-created_at` for newest first).
#[utoipa::path(get, path = "/api/tasks/{id}/logs/", tag = "tasks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Task id")),
    responses((status = 200, description = "`{status, logs: [{message, created_at}], end_value, progress_value}`", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn logs(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let task = visible_task(&state, &user.0, TaskId(id)).await?;
    let mut logs = state.store.tasks().logs(user.0.account_id, task.id).await?;
    if params.get("order").map(String::as_str) == Some("-created_at") {
        logs.reverse();
    }
    let logs: Vec<Value> =
        logs.iter().map(|l| json!({"message": l.message, "created_at": epoch(l.created_at)})).collect();
    Ok(Json(json!({
        "status": task.status,
        "logs": logs,
        "end_value": task.end_value,
        "progress_value": task.progress_value,
    })))
}

/// The file a finished task produced (its result's `data` is `"file:<key>"`).
pub(crate) fn result_file(task: &Task) -> ApiResult<&str> {
    let key = task.result.as_ref().and_then(|r| r["data"].as_str()).and_then(|d| d.strip_prefix("file:"));
    match (task.status, key) {
        (TaskStatus::Success, Some(key)) => Ok(key),
        _ => Err(ApiError::NotFoundBecause("This task has no file to download.".into())),
    }
}

/// Content types of the files tasks produce, by extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => "text/csv; charset=utf-8",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("gpkg") => "application/geopackage+sqlite3",
        Some("geojson") => "application/geo+json",
        Some("json") => "application/json",
        Some("zip") => "application/zip",
        Some("xml") => "application/xml",
        _ => "application/octet-stream",
    }
}

/// Streams the task's result file, with the same rights as reading the task.
#[utoipa::path(get, path = "/api/tasks/{id}/download/", tag = "tasks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Task id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 401), (status = 403), (status = 404)))]
pub async fn download(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<Response> {
    let task = visible_task(&state, &user.0, TaskId(id)).await?;
    let key = result_file(&task)?;
    let file = state.files.open(user.0.account_id, key).await.map_err(|err| match err {
        hygeia_files::FileError::NotFound => ApiError::NotFoundBecause("The task's file is no longer stored.".into()),
        other => ApiError::Internal(other.to_string()),
    })?;
    let name = hygeia_files::file_name(key);
    Ok((
        [
            (header::CONTENT_TYPE, content_type(name).to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CONTENT_LENGTH, file.size.to_string()),
        ],
        Body::from_stream(file.chunks),
    )
        .into_response())
}

/// Iaso's clients ask for a URL to fetch a task's file from; Hygeia serves it itself.
#[utoipa::path(get, path = "/api/tasks/{id}/presigned-url/", tag = "tasks", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Task id")),
    responses((status = 200, description = "`{\"presigned_url\": ...}`", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn presigned_url(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    let task = visible_task(&state, &user.0, TaskId(id)).await?;
    result_file(&task)?;
    Ok(Json(json!({ "presigned_url": format!("/api/tasks/{}/download/", task.id) })))
}
