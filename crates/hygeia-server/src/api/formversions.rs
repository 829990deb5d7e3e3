//! `/api/formversions/`: an XLSForm uploaded, converted on the spot in-process, kept with its
//! XForm in file storage; the versions listed (with `fields=descriptor`) and their files served.

use std::collections::HashMap;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hygeia_core::{Form, FormField, FormId, FormVersion, FormVersionId, NewFormVersion, UserId};
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::epoch;
use crate::api::forms::{base_url, parse_form_id, pick, read_capped, require_reader, writable_form};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathId;
use crate::state::{AppState, SharedState};

/// XLSForms are spreadsheets of a few hundred rows; a bigger upload is a mistake.
const MAX_XLSFORM_BYTES: usize = 20 * 1024 * 1024;

const DEFAULT_KEYS: &[&str] = &[
    "id",
    "version_id",
    "form_id",
    "form_name",
    "full_name",
    "mapped",
    "xls_file",
    "file",
    "md5",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "start_period",
    "end_period",
    "mapping_versions",
];

/// Lowercase words joined by `_`, as Iaso names version files (`child_programme_2026112201.xml`).
fn slug(name: &str) -> String {
    let words: Vec<String> =
        name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).collect();
    if words.is_empty() { "form".into() } else { words.join("_") }
}

async fn user_refs(state: &SharedState, versions: &[FormVersion]) -> ApiResult<HashMap<UserId, Value>> {
    let mut refs = HashMap::new();
    for user in versions.iter().filter_map(|v| v.created_by) {
        if refs.contains_key(&user) {
            continue;
        }
        if let Some(profile) = state.store.users().profile_of_user(user).await? {
            refs.insert(
                user,
                json!({"id": profile.user_id, "username": profile.username, "first_name": profile.first_name,
                       "last_name": profile.last_name}),
            );
        }
    }
    Ok(refs)
}

fn version_json(version: &FormVersion, form_name: &str, base: &str, users: &HashMap<UserId, Value>) -> Value {
    let by = version.created_by.and_then(|u| users.get(&u)).cloned().unwrap_or(Value::Null);
    json!({
        "id": version.id,
        "version_id": version.version_id,
        "form_id": version.form_id,
        "form_name": form_name,
        "full_name": format!("{form_name} - V{}", version.version_id),
        "mapped": false,
        "xls_file": version.xls_file_key.as_ref().map(|_| format!("{base}/api/formversions/{}/xls_file/", version.id)),
        "file": format!("{base}/api/formversions/{}/file/", version.id),
        "md5": version.md5,
        "created_at": epoch(version.created_at),
        "updated_at": epoch(version.updated_at),
        "created_by": by.clone(),
        "updated_by": by,
        "start_period": version.start_period,
        "end_period": version.end_period,
        "mapping_versions": [],
        "descriptor": version.descriptor,
        "possible_fields": version.possible_fields.iter()
            .map(|f| json!({"name": f.name, "label": f.label, "type": f.field_type})).collect::<Vec<_>>(),
    })
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct VersionListParams {
    /// The versions of this form (its id).
    form_id: Option<String>,
    /// Comma-separated keys of each row; `descriptor` gives the form's JSON tree.
    fields: Option<String>,
    /// `version_id`, `-version_id`, `created_at`, `-created_at` (default: oldest first).
    order: Option<String>,
}

#[utoipa::path(get, path = "/api/formversions/", tag = "forms", params(VersionListParams), security(("bearer" = [])),
    responses((status = 200, description = "`{\"form_versions\": [...]}`", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    State(state): State<SharedState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(params): Query<VersionListParams>,
) -> ApiResult<Json<Value>> {
    require_reader(&user)?;
    let account = user.0.account_id;
    let form = match params.form_id.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(text) => Some(parse_form_id(text)?),
        None => None,
    };
    let forms: HashMap<FormId, hygeia_core::Form> = state
        .store
        .forms()
        .list(account, &hygeia_core::FormQuery { deleted: hygeia_core::DeletedForms::Included, ..Default::default() })
        .await?
        .into_iter()
        .filter(|f| f.visible_in(&user.0.projects))
        .map(|f| (f.id, f))
        .collect();
    let mut versions: Vec<FormVersion> = state
        .store
        .forms()
        .versions(account, form)
        .await?
        .into_iter()
        .filter(|v| forms.contains_key(&v.form_id))
        .collect();
    match params.order.as_deref() {
        None | Some("") | Some("id") | Some("created_at") => {}
        Some("-id") | Some("-created_at") => versions.reverse(),
        Some("version_id") => versions.sort_by(|a, b| a.version_id.cmp(&b.version_id)),
        Some("-version_id") => versions.sort_by(|a, b| b.version_id.cmp(&a.version_id)),
        Some(_) => return Err(ApiError::field("order", "Order by version_id or created_at (- for descending).")),
    }
    let users = user_refs(&state, &versions).await?;
    let base = base_url(&headers);
    let rows: Vec<Value> = versions
        .iter()
        .map(|v| {
            pick(version_json(v, &forms[&v.form_id].input.name, &base, &users), params.fields.as_deref(), DEFAULT_KEYS)
        })
        .collect();
    Ok(Json(json!({ "form_versions": rows })))
}

/// A version of a form the caller may see. Phones' users hold no form permission but download
/// the XForm: `reader` says whether the caller must be one of the forms' readers.
async fn visible_version(
    state: &SharedState,
    user: &CurrentUser,
    id: i64,
    reader: bool,
) -> ApiResult<(FormVersion, hygeia_core::Form)> {
    if reader {
        require_reader(user)?;
    }
    let account = user.0.account_id;
    let version = state.store.forms().version(account, FormVersionId(id)).await?.ok_or(ApiError::NotFound)?;
    let form = state.store.forms().get(account, version.form_id).await?.ok_or(ApiError::NotFound)?;
    if !form.visible_in(&user.0.projects) {
        return Err(ApiError::NotFound);
    }
    Ok((version, form))
}

#[utoipa::path(get, path = "/api/formversions/{id}/", tag = "forms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Version id"), VersionListParams),
    responses((status = 200, description = "The version", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn detail(
    State(state): State<SharedState>,
    user: CurrentUser,
    headers: HeaderMap,
    PathId(id): PathId,
    Query(params): Query<VersionListParams>,
) -> ApiResult<Json<Value>> {
    let (version, form) = visible_version(&state, &user, id, true).await?;
    let users = user_refs(&state, std::slice::from_ref(&version)).await?;
    let row = version_json(&version, &form.input.name, &base_url(&headers), &users);
    Ok(Json(pick(row, params.fields.as_deref(), DEFAULT_KEYS)))
}

/// The version's XForm (what phones download).
#[utoipa::path(get, path = "/api/formversions/{id}/file/", tag = "forms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Version id")),
    responses((status = 200, description = "The XForm", content_type = "text/xml"), (status = 401), (status = 404)))]
pub async fn xform_file(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let (version, form) = visible_version(&state, &user, id, false).await?;
    let name = format!("{}_{}.xml", slug(&form.input.name), version.version_id);
    stream_file(&state, &user, &version.file_key, &name, "text/xml; charset=utf-8").await
}

/// The uploaded XLSForm.
#[utoipa::path(get, path = "/api/formversions/{id}/xls_file/", tag = "forms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Version id")),
    responses((status = 200, description = "The XLSForm"), (status = 401), (status = 404)))]
pub async fn xls_file(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<Response> {
    let (version, form) = visible_version(&state, &user, id, true).await?;
    let key = version.xls_file_key.as_deref().ok_or(ApiError::NotFound)?;
    let extension = key.rsplit('.').next().unwrap_or("xlsx");
    let name = format!("{}_{}.{extension}", slug(&form.input.name), version.version_id);
    stream_file(&state, &user, key, &name, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").await
}

pub async fn stream_file(
    state: &SharedState,
    user: &CurrentUser,
    key: &str,
    name: &str,
    content_type: &str,
) -> ApiResult<Response> {
    let file = state.open_file(user.0.account_id, key).await.map_err(|err| match err {
        hygeia_files::FileError::NotFound => ApiError::NotFoundBecause("The file is no longer stored.".into()),
        other => ApiError::Internal(other.to_string()),
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CONTENT_LENGTH, file.size.to_string()),
        ],
        Body::from_stream(file.chunks),
    )
        .into_response())
}

/// The upload's fields.
pub(crate) struct Upload {
    form_id: Option<String>,
    xls_file: Option<(String, Bytes)>,
    start_period: Option<String>,
    end_period: Option<String>,
}

pub(crate) async fn read_upload(mut multipart: Multipart) -> ApiResult<Upload> {
    let bad_body = |e: axum::extract::multipart::MultipartError| {
        ApiError::field("xls_file", format!("The upload was cut off or malformed: {e}"))
    };
    let mut upload = Upload { form_id: None, xls_file: None, start_period: None, end_period: None };
    while let Some(field) = multipart.next_field().await.map_err(bad_body)? {
        match field.name().unwrap_or_default() {
            "xls_file" => {
                let name = field.file_name().unwrap_or("form.xlsx").to_owned();
                upload.xls_file = Some((name, read_capped(field, "xls_file", MAX_XLSFORM_BYTES).await?));
            }
            "form_id" => upload.form_id = Some(field.text().await.map_err(bad_body)?),
            "start_period" => {
                upload.start_period = Some(field.text().await.map_err(bad_body)?).filter(|p| !p.is_empty())
            }
            "end_period" => upload.end_period = Some(field.text().await.map_err(bad_body)?).filter(|p| !p.is_empty()),
            _ => {}
        }
    }
    Ok(upload)
}

/// A refused XLSForm: 400 with the converter's located error, as a field error on `xls_file`
/// and as `{sheet, row, column, message}`.
fn refused(err: &hygeia_xlsform::XlsFormError) -> Response {
    let text = err.to_string();
    let body = json!({
        "error": "validation_error",
        "detail": text,
        "message": text,
        "fields": {"xls_file": [text]},
        "xlsform_errors": [{"sheet": err.sheet, "row": err.row, "column": err.column, "message": err.message}],
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Why an upload did not become a version.
pub(crate) enum NotPublished {
    /// The XLSForm itself, with the converter's located error.
    XlsForm(hygeia_xlsform::XlsFormError),
    Refused(ApiError),
}

impl From<ApiError> for NotPublished {
    fn from(err: ApiError) -> Self {
        NotPublished::Refused(err)
    }
}

/// Converts the upload's XLSForm and publishes it as a new version of `form` (the API and the
/// dashboard's form page both): nothing of a refused upload stays behind.
pub(crate) async fn publish(
    state: &AppState,
    user: &CurrentUser,
    form: &Form,
    upload: Upload,
) -> Result<FormVersion, NotPublished> {
    let (file_name, bytes) =
        upload.xls_file.ok_or_else(|| ApiError::field("xls_file", "Attach the XLSForm as the \"xls_file\" field."))?;
    let stem = file_name.rsplit_once('.').map_or(file_name.as_str(), |(stem, _)| stem).to_owned();
    let workbook = bytes.clone();
    let converted = tokio::task::spawn_blocking(move || {
        let workbook = hygeia_xlsform::Workbook::from_bytes(&workbook)?;
        let options = hygeia_xlsform::Options { fallback_form_id: Some(stem), root_name: None };
        hygeia_xlsform::convert(&workbook, &options)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the conversion stopped: {e}")))?;
    let conversion = match converted {
        Ok(conversion) => conversion,
        Err(err) => return Err(NotPublished::XlsForm(err)),
    };

    let account = user.0.account_id;
    let base_name = slug(&form.input.name);
    let extension = file_name.rsplit('.').next().filter(|e| e.len() <= 5).unwrap_or("xlsx").to_ascii_lowercase();
    let xml_key = hygeia_files::FileStore::new_key(account, "form_versions", &format!("{base_name}.xml"));
    let xls_key = hygeia_files::FileStore::new_key(account, "form_versions", &format!("{base_name}.{extension}"));
    let md5 = hex::encode(Md5::digest(conversion.xform.as_bytes()));
    let stored = async {
        state.files.put_bytes(&xls_key, bytes).await?;
        state.files.put_bytes(&xml_key, Bytes::from(conversion.xform)).await
    };
    let new = NewFormVersion {
        xform_id: conversion.form_id,
        version_id: conversion.version,
        file_key: xml_key.clone(),
        xls_file_key: Some(xls_key.clone()),
        md5,
        descriptor: conversion.descriptor,
        possible_fields: conversion
            .possible_fields
            .into_iter()
            .map(|f| FormField { name: f.name, label: f.label, field_type: f.r#type })
            .collect(),
        start_period: upload.start_period,
        end_period: upload.end_period,
    };
    let result = match stored.await {
        Ok(_) => {
            let today = chrono::Utc::now().date_naive();
            state
                .store
                .forms()
                .create_version(account, Some(user.0.user_id), form.id, new, today)
                .await
                .inspect(|_| state.forget_recent())
                .map_err(ApiError::from)
        }
        Err(err) => Err(ApiError::Internal(format!("storing the form's files: {err}"))),
    };
    match result {
        Ok(version) => Ok(version),
        Err(err) => {
            let _ = state.files.delete(account, &xls_key).await;
            let _ = state.files.delete(account, &xml_key).await;
            Err(err.into())
        }
    }
}

/// `form_id` (the form's id), `xls_file` (XLSX, XLS or ODS), `start_period`, `end_period`: converted
/// at once; the version id comes from the settings sheet or is generated (`YYYYMMDDrr`).
#[utoipa::path(post, path = "/api/formversions/", tag = "forms", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "form_id, xls_file, start_period, end_period"),
    responses((status = 201, description = "The version", body = Object),
        (status = 400, description = "The XLSForm's located error, or a version rule broken"), (status = 401), (status = 403), (status = 404), (status = 409)))]
pub async fn create(
    State(state): State<SharedState>,
    user: CurrentUser,
    headers: HeaderMap,
    multipart: Multipart,
) -> ApiResult<Response> {
    let upload = read_upload(multipart).await?;
    let form_id = upload
        .form_id
        .as_deref()
        .map(str::trim)
        .ok_or_else(|| ApiError::field("form_id", "Give the id of the form this version belongs to."))?;
    let form = writable_form(&state, &user, parse_form_id(form_id)?).await?;
    let version = match publish(&state, &user, &form, upload).await {
        Ok(version) => version,
        Err(NotPublished::XlsForm(err)) => return Ok(refused(&err)),
        Err(NotPublished::Refused(err)) => return Err(err),
    };
    let users = user_refs(&state, std::slice::from_ref(&version)).await?;
    let row = version_json(&version, &form.input.name, &base_url(&headers), &users);
    Ok((StatusCode::CREATED, Json(pick(row, None, DEFAULT_KEYS))).into_response())
}
