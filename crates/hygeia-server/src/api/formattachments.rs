//! `/api/formattachments/`: files a form's questions use (the CSV of a `select_one_from_file`,
//! images), uploaded by the form's managers and served to phones through the form's manifest.

use axum::Json;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hygeia_core::permission as perm;
use hygeia_core::{FormAttachment, FormAttachmentId, FormId};
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::epoch;
use crate::api::forms::{base_url, parse_form_id, read_capped, require_reader, writable_form};
use crate::api::formversions::stream_file;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathId;
use crate::state::SharedState;

/// Attachments are media and lists for phones; a bigger one would not reach them anyway.
const MAX_ATTACHMENT_BYTES: usize = 50 * 1024 * 1024;

fn attachment_json(attachment: &FormAttachment, base: &str) -> Value {
    json!({
        "id": attachment.id,
        "name": attachment.name,
        "form_id": attachment.form_id,
        "file": format!("{base}/api/formattachments/{}/file/", attachment.id),
        "md5": attachment.md5,
        "created_at": epoch(attachment.created_at),
        "updated_at": epoch(attachment.updated_at),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AttachmentParams {
    /// The form's id.
    form_id: Option<String>,
}

/// A form the caller may see (projects limit forms too); `reader`: one of the forms' readers
/// (phones' users, who download the files, hold no form permission).
async fn readable_form(
    state: &SharedState,
    user: &CurrentUser,
    id: FormId,
    reader: bool,
) -> ApiResult<hygeia_core::Form> {
    if reader {
        require_reader(user)?;
    }
    let form = state.store.forms().get(user.0.account_id, id).await?.ok_or(ApiError::NotFound)?;
    if !form.visible_in(&user.0.projects) {
        return Err(ApiError::NotFound);
    }
    Ok(form)
}

#[utoipa::path(get, path = "/api/formattachments/", tag = "forms", params(AttachmentParams), security(("bearer" = [])),
    responses((status = 200, description = "`{\"results\": [...]}`", body = Object), (status = 400), (status = 401), (status = 404)))]
pub async fn list(
    State(state): State<SharedState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(params): Query<AttachmentParams>,
) -> ApiResult<Json<Value>> {
    let form_id = params.form_id.as_deref().ok_or_else(|| ApiError::field("form_id", "Name the form (form_id)."))?;
    let form = readable_form(&state, &user, parse_form_id(form_id)?, true).await?;
    let base = base_url(&headers);
    let rows: Vec<Value> = state
        .store
        .forms()
        .attachments(user.0.account_id, form.id)
        .await?
        .iter()
        .map(|a| attachment_json(a, &base))
        .collect();
    Ok(Json(json!({ "results": rows })))
}

/// Multipart `form_id` and `file` (its file name is the attachment's name, unless `name` is given).
#[utoipa::path(post, path = "/api/formattachments/", tag = "forms", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "form_id, file, name"),
    responses((status = 201, description = "The attachment", body = Object), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409)))]
pub async fn create(
    State(state): State<SharedState>,
    user: CurrentUser,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require(perm::FORMS_MANAGE)?;
    let bad_body = |e: axum::extract::multipart::MultipartError| {
        ApiError::field("file", format!("The upload was cut off or malformed: {e}"))
    };
    let (mut form_id, mut name, mut file) = (None, None, None);
    while let Some(field) = multipart.next_field().await.map_err(bad_body)? {
        match field.name().unwrap_or_default() {
            "file" => {
                let file_name = field.file_name().unwrap_or_default().to_owned();
                file = Some((file_name, read_capped(field, "file", MAX_ATTACHMENT_BYTES).await?));
            }
            "form_id" => form_id = Some(field.text().await.map_err(bad_body)?),
            "name" => name = Some(field.text().await.map_err(bad_body)?).filter(|n| !n.trim().is_empty()),
            _ => {}
        }
    }
    let form_id = form_id.ok_or_else(|| ApiError::field("form_id", "Name the form (form_id)."))?;
    let form = writable_form(&state, &user, parse_form_id(&form_id)?).await?;
    let (file_name, bytes) = file.ok_or_else(|| ApiError::field("file", "Attach the file as the \"file\" field."))?;
    let name = name.unwrap_or(file_name);
    let account = user.0.account_id;
    let md5 = hex::encode(Md5::digest(&bytes));
    let key = hygeia_files::FileStore::new_key(account, "form_attachments", &name);
    state.files.put_bytes(&key, bytes).await.map_err(|e| ApiError::Internal(format!("storing the attachment: {e}")))?;
    match state.store.forms().add_attachment(account, form.id, &name, &key, &md5).await {
        Ok(attachment) => Ok((StatusCode::CREATED, Json(attachment_json(&attachment, &base_url(&headers))))),
        Err(err) => {
            let _ = state.files.delete(account, &key).await;
            Err(err.into())
        }
    }
}

#[utoipa::path(delete, path = "/api/formattachments/{id}/", tag = "forms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Attachment id")),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
pub async fn delete(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<StatusCode> {
    let account = user.0.account_id;
    let attachment = state.store.forms().attachment(account, FormAttachmentId(id)).await?.ok_or(ApiError::NotFound)?;
    writable_form(&state, &user, attachment.form_id).await?;
    let removed = state.store.forms().delete_attachment(account, attachment.id).await?;
    if let Err(err) = state.files.delete(account, &removed.file_key).await {
        tracing::warn!(%err, key = removed.file_key, "an attachment's file was not deleted");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The attachment's content, for phones following the manifest's `downloadUrl`.
#[utoipa::path(get, path = "/api/formattachments/{id}/file/", tag = "forms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Attachment id")),
    responses((status = 200, description = "The file"), (status = 401), (status = 404)))]
pub async fn file(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<Response> {
    let attachment =
        state.store.forms().attachment(user.0.account_id, FormAttachmentId(id)).await?.ok_or(ApiError::NotFound)?;
    readable_form(&state, &user, attachment.form_id, false).await?;
    let content_type = match attachment.name.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => "text/csv; charset=utf-8",
        Some("xml") => "text/xml; charset=utf-8",
        Some("geojson") => "application/geo+json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    };
    stream_file(&state, &user, &attachment.file_key, &attachment.name, content_type).await
}
