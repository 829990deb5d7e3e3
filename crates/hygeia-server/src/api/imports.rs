//! Imports started from the API: `POST /api/tasks/create/importgpkg/` (Iaso's) and
//! `POST /api/tasks/create/importfile/` (CSV, GeoJSON, GeoPackage or a zipped Shapefile) take a
//! multipart upload, keep
//! the file in file storage, and queue a task that a worker runs with progress; `POST
//! /api/dhis2ouimporter/` queues a DHIS2 import. Everything that can be checked before the task
//! runs (the source, the version, the mapping) is checked here, so that mistakes answer 400.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use futures_util::TryStreamExt;
use hygeia_core::permission as perm;
use hygeia_core::{DataSourceId, NewTask, Task, ValidationStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::tasks;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::AppJson;
use crate::state::{AppState, SharedState};

/// The task that imports an uploaded file.
pub const FILE_TASK: &str = "import_file";
/// Iaso's name for the GeoPackage import task.
pub const GPKG_TASK: &str = "import_gpkg_task";
pub const DHIS2_TASK: &str = "dhis2_ou_importer";

/// What a file import task reads from its parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileImport {
    /// `csv`, `gpkg`, `geojson` or `shp` (a zip).
    pub format: String,
    pub file_key: String,
    pub file_name: String,
    pub source_name: String,
    pub version_number: Option<i64>,
    pub validation_status: String,
    /// CSV: the data dictionary (Iaso's `data_dict.json`); GeoJSON and Shapefile: the property mapping
    /// (`id`, `parent`, `name`, `type`, `level`).
    #[serde(default)]
    pub mapping: Option<Value>,
    /// CSV: the leaves' type name.
    #[serde(default)]
    pub leaf_type: Option<String>,
}

/// `POST /api/tasks/create/importgpkg/`: Iaso's form (`file`, `data_source`, `version_number`,
/// `description`, `default_valid`).
#[utoipa::path(post, path = "/api/tasks/create/importgpkg/", tag = "tasks", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "file, data_source, version_number, default_valid"),
    responses((status = 201, description = "`{\"task\": ...}`: the queued import", body = Object),
        (status = 400), (status = 401), (status = 403)))]
pub async fn import_gpkg(
    State(state): State<SharedState>,
    user: CurrentUser,
    multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let task = queue_upload(&state, &user, multipart, Some("gpkg")).await?;
    created(&state, &user, &task).await
}

/// `POST /api/tasks/create/importfile/`: `file`, `format` (csv, gpkg, geojson, shp: a zip of the
/// Shapefile), `data_source` (id) or `source_name`, `version_number`, `validation_status` (or
/// `default_valid`), and for CSV `data_dict` (JSON) and `leaf_type`, for GeoJSON and Shapefile
/// `mapping` (JSON).
#[utoipa::path(post, path = "/api/tasks/create/importfile/", tag = "tasks", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "file, format, data_source or source_name, version_number, validation_status, data_dict, leaf_type, mapping"),
    responses((status = 201, description = "`{\"task\": ...}`: the queued import", body = Object),
        (status = 400), (status = 401), (status = 403)))]
pub async fn import_file(
    State(state): State<SharedState>,
    user: CurrentUser,
    multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let task = queue_upload(&state, &user, multipart, None).await?;
    created(&state, &user, &task).await
}

/// `201 {"task": ...}`.
async fn created(state: &AppState, user: &CurrentUser, task: &Task) -> ApiResult<(StatusCode, Json<Value>)> {
    Ok((StatusCode::CREATED, Json(json!({ "task": tasks::respond(state, &user.0, task).await? }))))
}

/// Keeps the uploaded `file` in file storage and queues its import (the dashboard's import page
/// posts the same form); nothing is kept when the form is refused.
pub(crate) async fn queue_upload(
    state: &AppState,
    user: &CurrentUser,
    mut multipart: Multipart,
    format: Option<&str>,
) -> ApiResult<Task> {
    user.require(perm::SOURCES)?;
    let account = user.0.account_id;
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut stored: Option<(String, String)> = None;
    let bad_body = |e: axum::extract::multipart::MultipartError| {
        ApiError::field("file", format!("The upload was cut off or malformed: {e}"))
    };
    while let Some(field) = multipart.next_field().await.map_err(bad_body)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("upload").to_owned();
            let key = hygeia_files::FileStore::new_key(account, "imports", &file_name);
            let chunks = field.map_err(|e| std::io::Error::other(e.to_string()));
            if let Err(err) = state.files.put_stream(&key, chunks).await {
                let _ = state.files.delete(account, &key).await;
                return Err(ApiError::field("file", format!("The file could not be received: {err}")));
            }
            stored = Some((key, file_name));
        } else {
            let value = field.text().await.map_err(bad_body)?;
            fields.insert(name, value);
        }
    }
    let Some((file_key, file_name)) = stored else {
        return Err(ApiError::field("file", "Attach the file to import as the \"file\" field."));
    };
    let result = check_and_queue(state, user, &fields, format, file_key.clone(), file_name).await;
    if result.is_err() {
        let _ = state.files.delete(account, &file_key).await;
    }
    result
}

async fn check_and_queue(
    state: &AppState,
    user: &CurrentUser,
    fields: &HashMap<String, String>,
    format: Option<&str>,
    file_key: String,
    file_name: String,
) -> ApiResult<Task> {
    let format = match format.or(fields.get("format").map(String::as_str)) {
        Some(f @ ("csv" | "gpkg" | "geojson" | "shp")) => f.to_owned(),
        Some(other) => {
            return Err(ApiError::field("format", format!("\"{other}\" is not one of csv, gpkg, geojson, shp.")));
        }
        None => return Err(ApiError::field("format", "Say which format the file is in: csv, gpkg, geojson or shp.")),
    };
    let source_name = source_name(state, user, fields.get("data_source"), fields.get("source_name")).await?;
    let version_number = match fields.get("version_number").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        Some(v) => {
            Some(v.parse::<i64>().map_err(|_| ApiError::field("version_number", format!("\"{v}\" is not a number.")))?)
        }
        None => None,
    };
    let validation_status = match (fields.get("validation_status"), fields.get("default_valid")) {
        (Some(status), _) => ValidationStatus::parse(status)
            .ok_or_else(|| ApiError::field("validation_status", format!("Invalid validation status : {status}")))?,
        // Iaso's API imports units as NEW unless `default_valid` is set.
        (None, Some(valid)) if matches!(valid.as_str(), "true" | "True" | "1") => ValidationStatus::Valid,
        _ => ValidationStatus::New,
    };
    let json_field = |name: &str| -> ApiResult<Option<Value>> {
        fields
            .get(name)
            .filter(|t| !t.trim().is_empty())
            .map(|text| serde_json::from_str(text).map_err(|e| ApiError::field(name, format!("Not JSON: {e}"))))
            .transpose()
    };
    let mapping = match format.as_str() {
        "csv" => json_field("data_dict")?,
        "geojson" | "shp" => json_field("mapping")?,
        _ => None,
    };
    let import = FileImport {
        format,
        file_key,
        file_name,
        source_name,
        version_number,
        validation_status: validation_status.as_str().to_owned(),
        mapping,
        leaf_type: fields.get("leaf_type").cloned(),
    };
    // The mapping is checked now: a typo answers 400 instead of failing in the task.
    crate::tasks::import_file::mapping_of(&import).map_err(|e| ApiError::field("mapping", e.to_string()))?;
    let name = if import.format == "gpkg" { GPKG_TASK } else { FILE_TASK };
    let task = NewTask::new(name, json!({ "import": import }), Some(user.0.user_id));
    Ok(state.store.tasks().enqueue(user.0.account_id, task).await?)
}

/// The source named by id (Iaso's `data_source`/`source_id`) or by name (created when missing).
async fn source_name(
    state: &AppState,
    user: &CurrentUser,
    id: Option<&String>,
    name: Option<&String>,
) -> ApiResult<String> {
    match (id.map(|i| i.trim()).filter(|i| !i.is_empty()), name.map(|n| n.trim()).filter(|n| !n.is_empty())) {
        (Some(id), _) => {
            let id: i64 =
                id.parse().map_err(|_| ApiError::field("data_source", format!("\"{id}\" is not a number.")))?;
            let source = state.store.sources().source(user.0.account_id, DataSourceId(id)).await?;
            let source = source.ok_or_else(|| ApiError::field("data_source", "Unknown data source."))?;
            if source.read_only {
                return Err(ApiError::field("data_source", "This data source is read-only."));
            }
            Ok(source.name)
        }
        (None, Some(name)) => {
            if !user.0.has_permission(perm::WRITE_SOURCES) {
                return Err(ApiError::Forbidden);
            }
            Ok(name.to_owned())
        }
        (None, None) => Err(ApiError::field("data_source", "Give the data source (data_source) to import into.")),
    }
}

/// Iaso's DHIS2 import form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Dhis2ImportBody {
    pub source_id: i64,
    pub source_version_number: Option<i64>,
    pub dhis2_url: String,
    pub dhis2_login: String,
    pub dhis2_password: String,
    #[serde(default)]
    pub validate_status: bool,
}

/// `POST /api/dhis2ouimporter/`: queues a DHIS2 import into the source (a new version, or the
/// given one, updated).
#[utoipa::path(post, path = "/api/dhis2ouimporter/", tag = "tasks", security(("bearer" = [])),
    request_body = Dhis2ImportBody,
    responses((status = 201, description = "`{\"task\": ...}`: the queued import", body = Object),
        (status = 400), (status = 401), (status = 403)))]
pub async fn dhis2_import(
    State(state): State<SharedState>,
    user: CurrentUser,
    AppJson(body): AppJson<Dhis2ImportBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let task = queue_dhis2(&state, &user, body).await?;
    created(&state, &user, &task).await
}

/// Checks a DHIS2 import form and queues it (the dashboard's import page posts the same fields).
pub(crate) async fn queue_dhis2(state: &AppState, user: &CurrentUser, body: Dhis2ImportBody) -> ApiResult<Task> {
    user.require(perm::SOURCES)?;
    let id = body.source_id.to_string();
    let source_name = source_name(state, user, Some(&id), None).await?;
    let url = body.dhis2_url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ApiError::field("dhis2_url", "Give the DHIS2 server's address, starting with https://."));
    }
    let status = if body.validate_status { ValidationStatus::Valid } else { ValidationStatus::New };
    let params = json!({
        "source_name": source_name,
        "version_number": body.source_version_number,
        "validation_status": status.as_str(),
        "dhis2_url": url,
        "dhis2_login": body.dhis2_login,
        // Kept for the worker; the task API never shows parameters (see `tasks::task_json`).
        "dhis2_password": body.dhis2_password,
    });
    let task = NewTask::new(DHIS2_TASK, params, Some(user.0.user_id));
    Ok(state.store.tasks().enqueue(user.0.account_id, task).await?)
}
