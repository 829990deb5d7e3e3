//! `/api/instances/` (Iaso's submissions) and Iaso's phone upload: the metadata call
//! (`POST /api/instances/`) and the XML call (`POST /sync/form_upload/`), in either order.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use hygeia_core::permission as perm;
use hygeia_core::{
    FormId, OrgUnitId, PayloadChannel, ProjectId, Submission, SubmissionId, SubmissionMetadata, SubmissionQuery,
    SubmissionStatus, UserProfile,
};
use hygeia_store::StoreError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::catalog::catalog;
use crate::api::epoch;
use crate::api::forms::mobile_project;
use crate::api::mobile::{by_uuids, number, phone_list};
use crate::api::orgunit_json;
use crate::api::orgunits::scope_of;
use crate::api::pagination::PageParams;
use crate::auth::{CurrentUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, PathId};
use crate::state::{AppState, SharedState};
use crate::submission_exports::{self, SubmissionTable};
use crate::submissions::{self, Upload, XML_PART, base_name};

pub(crate) fn require_reader(user: &CurrentUser) -> ApiResult<()> {
    user.require(perm::SUBMISSIONS)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct AppParams {
    app_id: Option<String>,
}

/// Device timestamps: seconds or milliseconds since the epoch.
fn device_time(value: &Value) -> Option<DateTime<Utc>> {
    let n = number(value)?;
    let seconds = if n > 1e11 { n / 1000.0 } else { n };
    Utc.timestamp_opt(seconds.trunc() as i64, ((seconds.fract()) * 1e9) as u32).single()
}

/// The phone's metadata for its submissions, before or after their XML (idempotent on `id`).
#[utoipa::path(post, path = "/api/instances/", tag = "instances", params(AppParams), request_body = Object,
    security(("bearer" = [])),
    responses((status = 200, description = "`{\"res\": \"ok\"}`", body = Object), (status = 400), (status = 401), (status = 404)))]
pub async fn create(
    State(state): State<SharedState>,
    MaybeUser(caller): MaybeUser,
    Query(params): Query<AppParams>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let project = mobile_project(&state, &caller, params.app_id.as_deref()).await?;
    // A list (Iaso's phone) or one object; not AppJson, which takes objects only.
    let items = phone_list(&body, "submissions")?;
    record_phone_metadata(&state, &project, caller.as_ref(), &items).await?;
    Ok(Json(json!({"res": "ok"})))
}

/// Records the phone's metadata of its submissions (the upload's first call, and the zip bulk
/// upload's `instances.json`); idempotent on each `id`.
pub(crate) async fn record_phone_metadata(
    state: &AppState,
    project: &hygeia_core::Project,
    caller: Option<&UserProfile>,
    items: &[Value],
) -> ApiResult<()> {
    for (i, item) in items.iter().enumerate() {
        let field = |name: &str| format!("[{i}].{name}");
        let uuid = item["id"].as_str().map(str::trim).filter(|s| !s.is_empty());
        let uuid = uuid.ok_or_else(|| ApiError::field(&field("id"), "Each submission needs its id (a uuid)."))?;
        let file = item["file"].as_str().map(str::trim).filter(|s| !s.is_empty());
        let file = file.ok_or_else(|| ApiError::field(&field("file"), "Each submission needs its file name."))?;
        let form_id = match item.get("formId").filter(|v| !v.is_null()) {
            Some(v) => Some(FormId(
                number(v).ok_or_else(|| ApiError::field(&field("formId"), "A form id is a number."))? as i64,
            )),
            None => None,
        };
        let unknown_unit = || ApiError::field(&field("orgUnitId"), "Unknown org unit: give its id or its uuid.");
        let org_unit_id = match item.get("orgUnitId").filter(|v| !v.is_null()) {
            // An id is checked by the store as it writes: one statement instead of two.
            Some(v) => match number(v) {
                Some(id) => Some(OrgUnitId(id as i64)),
                None => Some(phone_unit(state, project.account_id, v).await.map_err(|_| unknown_unit())?),
            },
            None => None,
        };
        let latitude = item.get("latitude").and_then(number);
        let longitude = item.get("longitude").and_then(number);
        // Iaso keeps a location only when both coordinates are given (and non-zero).
        let located = latitude.is_some_and(|v| v != 0.0) && longitude.is_some_and(|v| v != 0.0);
        let metadata = SubmissionMetadata {
            uuid: hygeia_core::submission::bare_uuid(uuid).to_owned(),
            file_name: base_name(file).to_owned(),
            form_id,
            project_id: Some(project.id),
            org_unit_id,
            period: item["period"].as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
            latitude: latitude.filter(|_| located),
            longitude: longitude.filter(|_| located),
            altitude: located.then(|| item.get("altitude").and_then(number).unwrap_or(0.0)),
            accuracy: item.get("accuracy").and_then(number).filter(|_| located),
            source_created_at: item.get("created_at").and_then(device_time),
            source_updated_at: item.get("updated_at").and_then(device_time),
            created_by: caller.map(|u| u.user_id),
        };
        match state.store.submissions().record_metadata(project.account_id, metadata).await {
            Err(StoreError::Invalid(err)) if err.0.0.contains_key("org_unit_id") => return Err(unknown_unit()),
            recorded => recorded?,
        };
    }
    Ok(())
}

/// The unit a phone created offline, named by its uuid (sent before with
/// `POST /api/mobile/orgunits/`, into the account's default version).
async fn phone_unit(state: &AppState, account: hygeia_core::AccountId, value: &Value) -> ApiResult<OrgUnitId> {
    let uuid = value.as_str().map(str::trim).filter(|s| !s.is_empty()).ok_or(ApiError::NotFound)?;
    let account_row = state.store.accounts().get(account).await?.ok_or(ApiError::NotFound)?;
    let version = account_row.default_version_id.map(hygeia_core::SourceVersionId).ok_or(ApiError::NotFound)?;
    let found = by_uuids(state, account, version, &[uuid.to_owned()]).await?;
    found.first().map(|u| u.id).ok_or(ApiError::NotFound)
}

/// The XML (and files) of a submission, from Iaso's phone. As Iaso does, the answer is a
/// success once the payload is stored, even when it cannot be processed yet: the phone would
/// otherwise send it forever; the payload waits for `hygeia replay-submissions`.
#[utoipa::path(post, path = "/sync/form_upload/", tag = "instances", params(AppParams), security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "`xml_submission_file` and one part per attached file"),
    responses((status = 201, description = "`{\"result\": \"success\"}`", body = Object), (status = 200, description = "Stored, not processed", body = Object), (status = 400), (status = 401)))]
pub async fn form_upload(
    State(state): State<SharedState>,
    MaybeUser(caller): MaybeUser,
    Query(params): Query<AppParams>,
    mut multipart: Multipart,
) -> ApiResult<Response> {
    let (account, project) = match (params.app_id.as_deref(), &caller) {
        (Some(app_id), _) => {
            let project = mobile_project(&state, &caller, Some(app_id)).await?;
            (project.account_id, Some(project.id))
        }
        (None, Some(user)) => (user.account_id, None),
        (None, None) => return Err(ApiError::not_authenticated()),
    };
    let (parts, cut_off) = crate::openrosa::read_parts(&mut multipart).await;
    let upload =
        Upload { account, project, user: caller.as_ref().map(|u| u.user_id), channel: PayloadChannel::Iaso, parts };
    if let Some(problem) = cut_off {
        if let Ok((payload, _)) = submissions::store_payload(&state, &upload).await {
            let _ = state.store.submissions().finish_payload(payload.id, Err(problem.clone())).await;
        }
        return Err(ApiError::field(XML_PART, format!("The upload is incomplete: {problem}.")));
    }
    if !upload.parts.iter().any(|p| p.name == XML_PART) {
        return Err(ApiError::field(XML_PART, "The upload has no XML part."));
    }
    match submissions::receive(&state, upload).await {
        Ok(_) => Ok((StatusCode::CREATED, Json(json!({"result": "success"}))).into_response()),
        Err(submissions::IngestError::Storage(cause)) => Err(ApiError::Internal(cause)),
        Err(err) => Ok((StatusCode::OK, Json(json!({"result": "stored", "error": err.to_string()}))).into_response()),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// One form id.
    #[serde(rename = "form_id")]
    form_id: Option<String>,
    /// Comma-separated form ids.
    #[serde(rename = "form_ids")]
    form_ids: Option<String>,
    org_unit_id: Option<String>,
    /// Submissions on this unit or below it.
    org_unit_parent_id: Option<String>,
    /// Comma-separated periods (`period_ids`, `periods` and `period` are the same).
    #[serde(rename = "period_ids")]
    period_ids: Option<String>,
    periods: Option<String>,
    period: Option<String>,
    /// With `endPeriod`: every period within the range (its quarters, months, weeks, days...).
    start_period: Option<String>,
    end_period: Option<String>,
    /// READY, DUPLICATED or EXPORTED.
    status: Option<String>,
    with_location: Option<String>,
    /// Device-or-server creation date, from (YYYY-MM-DD).
    date_from: Option<String>,
    date_to: Option<String>,
    search: Option<String>,
    /// `true`: only deleted submissions.
    show_deleted: Option<String>,
    #[serde(rename = "project_ids")]
    project_ids: Option<String>,
    /// `true`: every matching submission of one form (`form_ids`) as CSV, one column per
    /// question, repeats flattened; streamed.
    csv: Option<String>,
    /// `true`: the same as an XLSX workbook.
    xlsx: Option<String>,
}

fn ids<T>(text: Option<&str>, field: &str, make: impl Fn(i64) -> T) -> ApiResult<Vec<T>> {
    let Some(text) = text else { return Ok(Vec::new()) };
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<i64>().map(&make).map_err(|_| ApiError::field(field, "Comma-separated ids are expected.")))
        .collect()
}

fn yes(text: Option<&str>) -> Option<bool> {
    text.map(|t| matches!(t.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

fn day(text: Option<&str>, field: &str, end: bool) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    let date =
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| ApiError::field(field, "A date is YYYY-MM-DD."))?;
    let time = if end { date.and_hms_micro_opt(23, 59, 59, 999_999) } else { date.and_hms_opt(0, 0, 0) };
    Ok(time.map(|t| t.and_utc()))
}

impl ListParams {
    /// The listed periods narrowed to `startPeriod`..`endPeriod`, or the range's periods.
    fn period_range(&self, listed: Vec<String>) -> ApiResult<Vec<String>> {
        let given = |p: &Option<String>| p.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned);
        let (start, end) = match (given(&self.start_period), given(&self.end_period)) {
            (None, None) => return Ok(listed),
            (Some(start), Some(end)) => (start, end),
            (Some(_), None) => return Err(ApiError::field("endPeriod", "A range needs endPeriod too.")),
            (None, Some(_)) => return Err(ApiError::field("startPeriod", "A range needs startPeriod too.")),
        };
        let range = hygeia_core::period::range(&start, &end).map_err(|e| ApiError::field("startPeriod", e))?;
        if listed.is_empty() {
            return Ok(range);
        }
        // Both given: the listed periods that lie within the range (none may: then nothing matches).
        let within: Vec<String> = listed.into_iter().filter(|p| range.contains(p)).collect();
        Ok(if within.is_empty() { vec![String::new()] } else { within })
    }

    pub(crate) fn query(&self) -> ApiResult<SubmissionQuery> {
        let mut forms = ids(self.form_ids.as_deref(), "form_ids", FormId)?;
        forms.extend(ids(self.form_id.as_deref(), "form_id", FormId)?);
        let one = |text: &Option<String>, field: &str| -> ApiResult<Option<OrgUnitId>> {
            Ok(ids(text.as_deref(), field, OrgUnitId)?.into_iter().next())
        };
        let periods = [&self.period_ids, &self.periods, &self.period]
            .into_iter()
            .flatten()
            .flat_map(|p| p.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let periods = self.period_range(periods)?;
        let status = match self.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => Some(
                SubmissionStatus::parse(text)
                    .ok_or_else(|| ApiError::field("status", "The status is READY, DUPLICATED or EXPORTED."))?,
            ),
            None => None,
        };
        Ok(SubmissionQuery {
            forms,
            org_unit: one(&self.org_unit_id, "orgUnitId")?,
            org_unit_parent: one(&self.org_unit_parent_id, "orgUnitParentId")?,
            periods,
            status,
            with_location: yes(self.with_location.as_deref()),
            date_from: day(self.date_from.as_deref(), "dateFrom", false)?,
            date_to: day(self.date_to.as_deref(), "dateTo", true)?,
            search: self.search.clone(),
            deleted: yes(self.show_deleted.as_deref()).unwrap_or(false),
            projects: ids(self.project_ids.as_deref(), "project_ids", ProjectId)?,
            ids: Vec::new(),
            limit: None,
            offset: 0,
            after_id: None,
        })
    }
}

/// What rows need besides the submissions: form names, units, the catalog.
struct RowContext {
    forms: HashMap<FormId, String>,
    /// The submissions' units (as `ancestors`), with the catalog that names their types and sources.
    units: orgunit_json::Context,
    users: HashMap<hygeia_core::UserId, UserProfile>,
}

impl RowContext {
    async fn load(state: &AppState, user: &UserProfile, submissions: &[&Submission]) -> ApiResult<Self> {
        let catalog = catalog(state, user.account_id).await?;
        let mut unit_ids: Vec<OrgUnitId> = submissions.iter().filter_map(|s| s.org_unit_id).collect();
        unit_ids.sort();
        unit_ids.dedup();
        let units = state.ancestors.load(state, user.account_id, catalog.tree_version, &unit_ids).await?;
        let form_ids: Vec<FormId> = submissions.iter().filter_map(|s| s.form_id).collect();
        let mut user_ids: Vec<hygeia_core::UserId> = Vec::new();
        for submission in submissions {
            user_ids.extend(submission.created_by);
            user_ids.extend(submission.last_modified_by);
        }
        let mut forms = HashMap::new();
        for form in form_ids {
            if let std::collections::hash_map::Entry::Vacant(slot) = forms.entry(form)
                && let Some(found) = state.store.forms().get(user.account_id, form).await?
            {
                slot.insert(found.input.name);
            }
        }
        let mut users = HashMap::new();
        for id in user_ids {
            if let std::collections::hash_map::Entry::Vacant(slot) = users.entry(id)
                && let Some(profile) = state.store.users().profile_of_user(id).await?
                && profile.account_id == user.account_id
            {
                slot.insert(profile);
            }
        }
        let units = orgunit_json::Context { catalog, ancestors: units, groups: HashMap::new() };
        Ok(RowContext { forms, units, users })
    }

    fn org_unit(&self, id: Option<OrgUnitId>) -> Value {
        match id.and_then(|id| self.units.ancestors.get(&id)) {
            Some(unit) => orgunit_json::as_dict(unit, &self.units),
            None => Value::Null,
        }
    }

    fn row(&self, submission: &Submission, status: SubmissionStatus) -> Value {
        let created_by = submission
            .created_by
            .and_then(|u| self.users.get(&u))
            .map(|u| json!({"username": u.username, "first_name": u.first_name, "last_name": u.last_name}));
        let last_modified_by = submission.last_modified_by.and_then(|u| self.users.get(&u)).map(|u| u.username.clone());
        json!({
            "id": submission.id,
            "uuid": submission.uuid,
            "export_id": submission.export_id,
            "file_name": submission.file_name,
            "file_content": submission.json,
            "file_url": format!("/api/instances/{}/xml/", submission.id),
            "form_id": submission.form_id,
            "form_name": submission.form_id.and_then(|f| self.forms.get(&f)),
            "created_at": epoch(submission.created_at),
            "updated_at": epoch(submission.updated_at),
            "source_created_at": submission.source_created_at.map(epoch),
            "source_updated_at": submission.source_updated_at.map(epoch),
            "org_unit": self.org_unit(submission.org_unit_id),
            "latitude": submission.latitude,
            "longitude": submission.longitude,
            "altitude": submission.altitude,
            "period": submission.period,
            "project_id": submission.project_id,
            "status": status.as_str(),
            "created_by": created_by,
            "last_modified_by": last_modified_by,
            "deleted": submission.deleted,
        })
    }
}

#[utoipa::path(get, path = "/api/instances/", tag = "instances", params(ListParams, PageParams), security(("bearer" = [])),
    responses((status = 200, description = "Iaso's `{\"instances\": [...]}`, paginated with `limit`", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
    Query(paging): Query<PageParams>,
) -> ApiResult<Response> {
    require_reader(&user)?;
    let mut query = params.query()?;
    for (format, asked) in [("csv", &params.csv), ("xlsx", &params.xlsx)] {
        if yes(asked.as_deref()) == Some(true) {
            return export(&state, &user.0, query, format).await;
        }
    }
    let paging = paging.parse()?;
    if let Some((limit, page)) = paging {
        query.limit = Some(limit as u64);
        query.offset = ((page - 1) * limit) as u64;
    }
    let scope = scope_of(&user.0);
    let mut found = state.store.submissions().list(&scope, &query).await?;
    if let Some((limit, page)) = paging {
        // A page past the end gives the last one, as everywhere in the API.
        let pages = (found.count as usize).div_ceil(limit).max(1);
        if page > pages {
            query.offset = ((pages - 1) * limit) as u64;
            found = state.store.submissions().list(&scope, &query).await?;
        }
    }
    let shown: Vec<&Submission> = found.items.iter().map(|(s, _)| s).collect();
    let context = RowContext::load(&state, &user.0, &shown).await?;
    let rows: Vec<Value> = found.items.iter().map(|(s, status)| context.row(s, *status)).collect();
    Ok(Json(match paging {
        None => json!({ "instances": rows }),
        Some((limit, page)) => {
            let count = found.count as usize;
            let pages = count.div_ceil(limit).max(1);
            let page = page.min(pages);
            json!({
                "count": count, "instances": rows, "has_next": page < pages, "has_previous": page > 1,
                "page": page, "pages": pages, "limit": limit,
            })
        }
    })
    .into_response())
}

/// `csv=true` / `xlsx=true`: the table of one form's submissions, as a download named like
/// Iaso's. The CSV streams as it is read; the XLSX is written to a temporary file, then sent.
async fn export(state: &SharedState, user: &UserProfile, query: SubmissionQuery, format: &str) -> ApiResult<Response> {
    use axum::body::Body;
    use axum::http::header;
    let [form] = query.forms[..] else {
        return Err(ApiError::field("form_ids", "An export is of one form: give its id in form_ids."));
    };
    let table = SubmissionTable::new(state, scope_of(user), query, form).await?;
    let name = format!("instances-{form}-{}.{format}", Utc::now().format("%Y-%m-%d-%H-%M"));
    let (content_type, body) = if format == "csv" {
        ("text/csv; charset=utf-8", Body::from_stream(submission_exports::csv_stream(table)))
    } else {
        let path = std::env::temp_dir().join(format!("hygeia-export-{}.xlsx", crate::auth::jwt::random_hex(8)));
        let written = submission_exports::write_xlsx(table, &path).await;
        let opened = match written {
            Ok(_) => tokio::fs::File::open(&path).await.map_err(|e| ApiError::Internal(e.to_string())),
            Err(err) => Err(err),
        };
        // Unlinked at once: the open file is read to the end, then its space is freed.
        let _ = tokio::fs::remove_file(&path).await;
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Body::from_stream(crate::exports::file_chunks(opened?)),
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response())
}

/// A submission the caller may see (their account, their subtrees).
pub(crate) async fn visible(
    state: &AppState,
    user: &UserProfile,
    id: SubmissionId,
) -> ApiResult<(Submission, SubmissionStatus)> {
    let submission = state.store.submissions().get(user.account_id, id).await?.ok_or(ApiError::NotFound)?;
    let scope = scope_of(user);
    if !scope.roots.is_empty() {
        let Some(unit) = submission.org_unit_id else { return Err(ApiError::NotFound) };
        let units = state.store.org_units().get(&scope, unit).await?;
        if units.is_none() {
            return Err(ApiError::NotFound);
        }
    }
    let query =
        SubmissionQuery { search: Some(submission.uuid.clone()), deleted: submission.deleted, ..Default::default() };
    let status = state
        .store
        .submissions()
        .list(&scope, &query)
        .await?
        .items
        .into_iter()
        .find(|(s, _)| s.id == submission.id)
        .map(|(_, status)| status)
        .unwrap_or(SubmissionStatus::Ready);
    Ok((submission, status))
}

#[utoipa::path(get, path = "/api/instances/{id}/", tag = "instances", params(("id" = i64, Path, description = "Submission id")),
    security(("bearer" = [])), responses((status = 200, body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn detail(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Value>> {
    require_reader(&user)?;
    let (submission, status) = visible(&state, &user.0, SubmissionId(id)).await?;
    let context = RowContext::load(&state, &user.0, &[&submission]).await?;
    let mut row = context.row(&submission, status);
    let files = state.store.submissions().files(user.0.account_id, submission.id).await?;
    row["files"] = files
        .iter()
        .map(|f| json!({"id": f.id, "name": f.name, "file": format!("/api/instances/{}/files/{}/", submission.id, f.id), "created_at": epoch(f.created_at)}))
        .collect();
    row["device_id"] = json!(submission.device_id);
    row["form_version_id"] = json!(submission.form_version_id);
    row["accuracy"] = json!(submission.accuracy);
    row["answers"] = submission.answers.clone().unwrap_or(Value::Null);
    row["edits"] = json!(submission.edits);
    row["last_export_success_at"] = json!(submission.last_export_success_at.map(epoch));
    Ok(Json(row))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Patch {
    #[serde(default, deserialize_with = "some")]
    org_unit: Option<Option<Value>>,
    #[serde(default, deserialize_with = "some")]
    period: Option<Option<String>>,
    deleted: Option<bool>,
}

/// A present key (even `null`) as `Some`; an absent one stays `None`.
fn some<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[utoipa::path(patch, path = "/api/instances/{id}/", tag = "instances", params(("id" = i64, Path, description = "Submission id")),
    request_body = Patch, security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn update(
    State(state): State<SharedState>,
    user: CurrentUser,
    PathId(id): PathId,
    AppJson(patch): AppJson<Patch>,
) -> ApiResult<Json<Value>> {
    user.require(perm::UPDATE_SUBMISSION)?;
    let (submission, _) = visible(&state, &user.0, SubmissionId(id)).await?;
    let scope = scope_of(&user.0);
    let org_unit = match patch.org_unit {
        Some(Some(value)) => {
            let unit = number(&value)
                .map(|n| OrgUnitId(n as i64))
                .ok_or_else(|| ApiError::field("org_unit", "An org unit id is a number."))?;
            // Only to a unit the caller can see.
            state
                .store
                .org_units()
                .get(&scope, unit)
                .await?
                .ok_or_else(|| ApiError::field("org_unit", "Unknown org unit."))?;
            Some(Some(unit))
        }
        Some(None) => Some(None),
        None => None,
    };
    let period = patch.period.map(|p| p.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()));
    if org_unit.is_some() || period.is_some() {
        state
            .store
            .submissions()
            .update(user.0.account_id, submission.id, org_unit, period, Some(user.0.user_id))
            .await?;
    }
    if let Some(deleted) = patch.deleted {
        state.store.submissions().set_deleted(user.0.account_id, &[submission.id], deleted).await?;
    }
    detail(State(state), user, PathId(id)).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BulkDeleteBody {
    /// Every submission the list filters (in the query string) select, but `unselected_ids`.
    #[serde(default)]
    select_all: bool,
    #[serde(default)]
    selected_ids: Vec<i64>,
    #[serde(default)]
    unselected_ids: Vec<i64>,
    /// `false` restores instead.
    #[serde(default = "deletion_by_default")]
    is_deletion: bool,
}

fn deletion_by_default() -> bool {
    true
}

/// Soft-deletes (or restores) many submissions: the selected ones, or all that the filters
/// select but some. Only submissions the caller may see are touched.
#[utoipa::path(post, path = "/api/instances/bulkdelete/", tag = "instances", params(ListParams), request_body = BulkDeleteBody,
    security(("bearer" = [])),
    responses((status = 200, description = "`{\"result\": \"success\", \"changed\": n}`", body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn bulk_delete(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
    AppJson(body): AppJson<BulkDeleteBody>,
) -> ApiResult<Json<Value>> {
    user.require(perm::UPDATE_SUBMISSION)?;
    let mut query = params.query()?;
    // Deleting picks among live submissions, restoring among deleted ones.
    query.deleted = !body.is_deletion;
    if !body.select_all {
        if body.selected_ids.is_empty() {
            return Err(ApiError::field("selected_ids", "Select submissions, or send select_all."));
        }
        query.ids = body.selected_ids.iter().copied().map(SubmissionId).collect();
    }
    let except: std::collections::HashSet<i64> = body.unselected_ids.into_iter().collect();
    let scope = scope_of(&user.0);
    query.limit = Some(1_000);
    let mut after = SubmissionId(0);
    let mut changed = 0;
    loop {
        query.after_id = Some(after);
        let page = state.store.submissions().list(&scope, &query).await?.items;
        let Some((last, _)) = page.last() else { break };
        after = last.id;
        let chosen: Vec<SubmissionId> = page.iter().map(|(s, _)| s.id).filter(|id| !except.contains(&id.0)).collect();
        changed += state.store.submissions().set_deleted(user.0.account_id, &chosen, body.is_deletion).await?;
    }
    Ok(Json(json!({"result": "success", "changed": changed})))
}

#[utoipa::path(delete, path = "/api/instances/{id}/", tag = "instances", params(("id" = i64, Path, description = "Submission id")),
    security(("bearer" = [])), responses((status = 204), (status = 401), (status = 403), (status = 404)))]
pub async fn delete(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<StatusCode> {
    user.require(perm::UPDATE_SUBMISSION)?;
    let (submission, _) = visible(&state, &user.0, SubmissionId(id)).await?;
    state.store.submissions().set_deleted(user.0.account_id, &[submission.id], true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The submission's current XML, for a caller who may see the submission.
#[utoipa::path(get, path = "/api/instances/{id}/xml/", tag = "instances", params(("id" = i64, Path, description = "Submission id")),
    security(("bearer" = [])), responses((status = 200, description = "The XML", content_type = "text/xml"), (status = 401), (status = 403), (status = 404)))]
pub async fn xml(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<Response> {
    require_reader(&user)?;
    let (submission, _) = visible(&state, &user.0, SubmissionId(id)).await?;
    let key = submission.file_key.as_deref().ok_or(ApiError::NotFound)?;
    let name = hygeia_files::safe_segment(&submission.file_name);
    crate::api::formversions::stream_file(&state, &user, key, &name, "text/xml; charset=utf-8").await
}

/// A file of the submission (a photo, an audit log), for a caller who may see the submission.
#[utoipa::path(get, path = "/api/instances/{id}/files/{file}/", tag = "instances",
    params(("id" = i64, Path, description = "Submission id"), ("file" = i64, Path, description = "File id")),
    security(("bearer" = [])), responses((status = 200, description = "The file"), (status = 401), (status = 403), (status = 404)))]
pub async fn file(
    State(state): State<SharedState>,
    user: CurrentUser,
    axum::extract::Path((id, file)): axum::extract::Path<(i64, i64)>,
) -> ApiResult<Response> {
    require_reader(&user)?;
    let (submission, _) = visible(&state, &user.0, SubmissionId(id)).await?;
    let stored = state.store.submissions().file(user.0.account_id, hygeia_core::SubmissionFileId(file)).await?;
    let stored = stored.filter(|f| f.submission_id == submission.id).ok_or(ApiError::NotFound)?;
    let name = hygeia_files::safe_segment(&stored.name);
    crate::api::formversions::stream_file(&state, &user, &stored.file_key, &name, "application/octet-stream").await
}
