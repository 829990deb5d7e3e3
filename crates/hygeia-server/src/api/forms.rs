//! `/api/forms/`: forms in Iaso's shape (list with filters, create, read, update, soft delete and
//! restore), their OpenRosa manifest, and the phone's `/api/mobile/forms/?app_id=`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hygeia_core::permission as perm;
use hygeia_core::{
    AccountId, DeletedForms, FeatureFlag, Form, FormId, FormInput, FormQuery, FormVersion, OrgUnitType, OrgUnitTypeId,
    PeriodType, Project, ProjectId, UserProfile,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api::epoch;
use crate::api::pagination::{PageParams, envelope};
use crate::api::projects::project_json;
use crate::auth::{CurrentUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, PathId};
use crate::state::SharedState;

/// Who may read forms: their managers and those who read submissions or completeness.
const FORM_READERS: [&str; 3] = [perm::FORMS_MANAGE, perm::SUBMISSIONS, perm::COMPLETENESS_STATS];

pub fn require_reader(user: &CurrentUser) -> ApiResult<()> {
    if FORM_READERS.iter().any(|p| user.0.has_permission(p)) { Ok(()) } else { Err(ApiError::Forbidden) }
}

/// The keys a form row has unless `fields` asks for others (Iaso's default serializer).
const DEFAULT_KEYS: &[&str] = &[
    "id",
    "name",
    "form_id",
    "device_field",
    "location_field",
    "org_unit_types",
    "org_unit_type_ids",
    "org_unit_groups",
    "org_unit_group_ids",
    "projects",
    "project_ids",
    "period_type",
    "single_per_period",
    "periods_before_allowed",
    "periods_after_allowed",
    "latest_form_version",
    "instances_count",
    "instance_updated_at",
    "created_at",
    "updated_at",
    "deleted_at",
    "derived",
    "label_keys",
    "reference_form_of_org_unit_types",
    "legend_threshold",
    "change_request_mode",
    "has_mappings",
    "validation_workflow",
];

/// `http://host` as the client reached us (Iaso's file URLs are absolute).
pub fn base_url(headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    let host = header(header::HOST.as_str()).unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// What form rows are built from, loaded once per request.
pub struct FormContext {
    types: Vec<OrgUnitType>,
    projects: Vec<Project>,
    flags: Vec<FeatureFlag>,
    latest: HashMap<FormId, FormVersion>,
    attachments: HashMap<FormId, usize>,
    base: String,
}

impl FormContext {
    pub async fn load(state: &SharedState, account: AccountId, forms: &[Form], headers: &HeaderMap) -> ApiResult<Self> {
        let ids: Vec<FormId> = forms.iter().map(|f| f.id).collect();
        let mut attachments = HashMap::new();
        for form in forms {
            attachments.insert(form.id, state.store.forms().attachments(account, form.id).await?.len());
        }
        Ok(FormContext {
            types: state.store.org_unit_types().list(account).await?,
            projects: state.store.projects().list(account).await?,
            flags: state.store.projects().feature_flags().await?,
            latest: state.store.forms().latest_versions(account, &ids).await?,
            attachments,
            base: base_url(headers),
        })
    }

    pub fn version_file_url(&self, version: &FormVersion) -> String {
        format!("{}/api/formversions/{}/file/", self.base, version.id)
    }

    pub fn version_xls_url(&self, version: &FormVersion) -> Option<String> {
        version.xls_file_key.as_ref().map(|_| format!("{}/api/formversions/{}/xls_file/", self.base, version.id))
    }

    /// The whole row; `fields` (Iaso's comma list) picks keys, else the default ones.
    pub fn form_json(&self, form: &Form, fields: Option<&str>) -> Value {
        let input = &form.input;
        let types: Vec<Value> = self
            .types
            .iter()
            .filter(|t| input.org_unit_type_ids.contains(&t.id))
            .map(|t| {
                json!({"id": t.id, "name": t.name, "short_name": t.short_name, "created_at": epoch(t.created_at),
                       "updated_at": epoch(t.updated_at), "depth": t.depth, "sub_unit_types": []})
            })
            .collect();
        let projects: Vec<Value> = self
            .projects
            .iter()
            .filter(|p| input.project_ids.contains(&p.id))
            .map(|p| project_json(p, &self.flags))
            .collect();
        let latest = self.latest.get(&form.id).map(|v| {
            json!({"id": v.id, "version_id": v.version_id, "file": self.version_file_url(v),
                   "xls_file": self.version_xls_url(v), "created_at": epoch(v.created_at),
                   "updated_at": epoch(v.updated_at)})
        });
        let possible_fields: Vec<Value> = form
            .possible_fields
            .iter()
            .map(|f| json!({"name": f.name, "label": f.label, "type": f.field_type}))
            .collect();
        let row = json!({
            "id": form.id,
            "name": input.name,
            "form_id": form.form_id,
            "device_field": input.device_field,
            "location_field": input.location_field,
            "org_unit_types": types,
            "org_unit_type_ids": input.org_unit_type_ids,
            "org_unit_groups": [],
            "org_unit_group_ids": [],
            "projects": projects,
            "project_ids": input.project_ids,
            "period_type": input.period_type.map(PeriodType::as_str),
            "single_per_period": input.single_per_period,
            "periods_before_allowed": input.periods_before_allowed,
            "periods_after_allowed": input.periods_after_allowed,
            "latest_form_version": latest,
            // Submissions arrive with issue 7; until then a form has none.
            "instances_count": 0,
            "instance_updated_at": null,
            "created_at": epoch(form.created_at),
            "updated_at": epoch(form.updated_at),
            "deleted_at": form.deleted_at.map(epoch),
            "derived": input.derived,
            "label_keys": input.label_keys,
            "possible_fields": possible_fields,
            "predefined_filters": [],
            "has_attachments": self.attachments.get(&form.id).is_some_and(|n| *n > 0),
            "reference_form_of_org_unit_types": [],
            "legend_threshold": input.legend_threshold,
            "change_request_mode": input.change_request_mode,
            "has_mappings": false,
            "validation_workflow": null,
        });
        pick(row, fields, DEFAULT_KEYS)
    }
}

/// A form id given as text (a query parameter or a multipart field).
pub fn parse_form_id(text: &str) -> ApiResult<FormId> {
    text.trim().parse().map(FormId).map_err(|_| ApiError::field("form_id", "A form id is a number."))
}

/// A multipart file field read into memory, refused (as `field`) past `max_bytes`.
pub async fn read_capped(
    mut part: axum::extract::multipart::Field<'_>,
    field: &str,
    max_bytes: usize,
) -> ApiResult<axum::body::Bytes> {
    let mut bytes = Vec::new();
    while let Some(chunk) =
        part.chunk().await.map_err(|e| ApiError::field(field, format!("The upload was cut off or malformed: {e}")))?
    {
        if bytes.len() + chunk.len() > max_bytes {
            let limit = max_bytes / (1024 * 1024);
            return Err(ApiError::field(field, format!("The file may not be larger than {limit} MiB.")));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.into())
}

/// Keeps the keys `fields` names (comma-separated), or `default` when it names none.
pub fn pick(row: Value, fields: Option<&str>, default: &[&str]) -> Value {
    let Value::Object(mut all) = row else { return row };
    let asked: Vec<&str> =
        fields.map(|f| f.split(',').map(str::trim).filter(|f| !f.is_empty()).collect()).unwrap_or_default();
    let keep: Vec<&str> = if asked.is_empty() { default.to_vec() } else { asked };
    let mut picked = Map::new();
    for key in keep {
        if let Some(value) = all.remove(key) {
            picked.insert(key.to_owned(), value);
        }
    }
    Value::Object(picked)
}

/// A form the caller may see: in their account, and in one of their projects if they are limited.
pub(crate) async fn visible_form(state: &SharedState, user: &UserProfile, id: FormId) -> ApiResult<Form> {
    let form = state.store.forms().get(user.account_id, id).await?.ok_or(ApiError::NotFound)?;
    if !form.visible_in(&user.projects) {
        return Err(ApiError::NotFound);
    }
    Ok(form)
}

pub async fn writable_form(state: &SharedState, user: &CurrentUser, id: FormId) -> ApiResult<Form> {
    user.require(perm::FORMS_MANAGE)?;
    visible_form(state, &user.0, id).await
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct FormListParams {
    /// Forms of the project with this app id.
    app_id: Option<String>,
    /// Comma-separated project ids.
    #[serde(rename = "projectsIds")]
    projects_ids: Option<String>,
    /// Comma-separated org-unit type ids.
    #[serde(rename = "orgUnitTypeIds")]
    org_unit_type_ids: Option<String>,
    /// Part of the name, case-insensitive.
    search: Option<String>,
    /// `1`/`true`: deleted forms only.
    only_deleted: Option<String>,
    /// `1`/`true`: deleted forms too.
    show_deleted: Option<String>,
    /// Comma-separated keys of each row.
    fields: Option<String>,
    /// `name`, `-name`, `id`, `-id`, `created_at`, `updated_at` (and their `-`).
    order: Option<String>,
}

fn ids<T>(param: &str, text: Option<&str>, wrap: fn(i64) -> T) -> ApiResult<Vec<T>> {
    let Some(text) = text else { return Ok(Vec::new()) };
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<i64>().map(wrap).map_err(|_| ApiError::field(param, "A comma-separated list of ids.")))
        .collect()
}

fn truthy(value: Option<&str>) -> bool {
    value.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

async fn project_of_app(state: &SharedState, account: hygeia_core::AccountId, app_id: &str) -> ApiResult<Project> {
    match state.store.projects().find_by_app_id(app_id).await? {
        Some(project) if project.account_id == account => Ok(project),
        _ => Err(ApiError::NotFoundBecause(format!("No project with app_id \"{app_id}\"."))),
    }
}

/// The account's forms, filtered as Iaso filters them; users limited to projects see theirs only.
#[utoipa::path(get, path = "/api/forms/", tag = "forms", params(FormListParams, PageParams), security(("bearer" = [])),
    responses((status = 200, description = "`{\"forms\": [...]}`, or paginated with `limit`", body = Object),
        (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    State(state): State<SharedState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(params): Query<FormListParams>,
    Query(paging): Query<PageParams>,
) -> ApiResult<Json<Value>> {
    require_reader(&user)?;
    let paging = paging.parse()?;
    let account = user.0.account_id;
    let mut query = FormQuery {
        project_ids: ids("projectsIds", params.projects_ids.as_deref(), ProjectId)?,
        org_unit_type_ids: ids("orgUnitTypeIds", params.org_unit_type_ids.as_deref(), OrgUnitTypeId)?,
        search: params.search.clone(),
        deleted: if truthy(params.only_deleted.as_deref()) {
            DeletedForms::Only
        } else if truthy(params.show_deleted.as_deref()) {
            DeletedForms::Included
        } else {
            DeletedForms::Hidden
        },
        with_versions: false,
    };
    if let Some(app_id) = &params.app_id {
        query.project_ids.push(project_of_app(&state, account, app_id).await?.id);
    }
    let mut forms = state.store.forms().list(account, &query).await?;
    forms.retain(|f| f.visible_in(&user.0.projects));
    sort_forms(&mut forms, params.order.as_deref())?;
    let context = FormContext::load(&state, user.0.account_id, &forms, &headers).await?;
    let rows: Vec<Value> = forms.iter().map(|f| context.form_json(f, params.fields.as_deref())).collect();
    Ok(Json(envelope("forms", rows, paging)))
}

fn sort_forms(forms: &mut [Form], order: Option<&str>) -> ApiResult<()> {
    let Some(order) = order.map(str::trim).filter(|o| !o.is_empty()) else { return Ok(()) };
    let (descending, key) = match order.strip_prefix('-') {
        Some(key) => (true, key),
        None => (false, order),
    };
    match key {
        "name" => forms.sort_by_key(|f| f.input.name.to_lowercase()),
        "id" => forms.sort_by_key(|f| f.id),
        "created_at" => forms.sort_by_key(|f| f.created_at),
        "updated_at" => forms.sort_by_key(|f| f.updated_at),
        _ => return Err(ApiError::field("order", "Order by name, id, created_at or updated_at (- for descending).")),
    }
    if descending {
        forms.reverse();
    }
    Ok(())
}

/// A form body: Iaso's serializer fields. Unknown keys (a whole row sent back) are ignored.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct FormBody {
    name: Option<String>,
    project_ids: Option<Vec<i64>>,
    org_unit_type_ids: Option<Vec<i64>>,
    #[serde(default, deserialize_with = "present")]
    period_type: Option<Option<String>>,
    single_per_period: Option<bool>,
    periods_before_allowed: Option<i64>,
    periods_after_allowed: Option<i64>,
    device_field: Option<String>,
    location_field: Option<String>,
    derived: Option<bool>,
    label_keys: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    legend_threshold: Option<Option<Value>>,
    change_request_mode: Option<String>,
    /// `null` restores a deleted form.
    #[serde(default, deserialize_with = "present")]
    deleted_at: Option<Option<Value>>,
}

/// Tells a key sent as `null` (`Some(None)`) from a key left out (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl FormBody {
    /// The body laid over `base` (a new form's defaults, or the form as it is).
    fn apply(self, mut input: FormInput) -> ApiResult<FormInput> {
        if let Some(name) = self.name {
            input.name = name;
        }
        if let Some(projects) = self.project_ids {
            input.project_ids = projects.into_iter().map(ProjectId).collect();
        }
        if let Some(types) = self.org_unit_type_ids {
            input.org_unit_type_ids = types.into_iter().map(OrgUnitTypeId).collect();
        }
        if let Some(period_type) = self.period_type {
            input.period_type = match period_type.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
                None => None,
                Some(text) => Some(PeriodType::parse(text).ok_or_else(|| {
                    let choices: Vec<&str> = PeriodType::ALL.iter().map(|p| p.as_str()).collect();
                    ApiError::field(
                        "period_type",
                        format!("\"{text}\" is not a valid choice ({}).", choices.join(", ")),
                    )
                })?),
            };
        }
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(value) = self.$field {
                    input.$field = value;
                }
            )*};
        }
        set!(
            single_per_period,
            periods_before_allowed,
            periods_after_allowed,
            device_field,
            location_field,
            derived,
            label_keys,
            change_request_mode
        );
        if let Some(threshold) = self.legend_threshold {
            input.legend_threshold = threshold;
        }
        Ok(input)
    }
}

#[utoipa::path(post, path = "/api/forms/", tag = "forms", request_body = FormBody, security(("bearer" = [])),
    responses((status = 201, description = "The form (`form_id` is null until a version is uploaded)", body = Object),
        (status = 400), (status = 401), (status = 403)))]
pub async fn create(
    State(state): State<SharedState>,
    user: CurrentUser,
    headers: HeaderMap,
    AppJson(body): AppJson<FormBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    user.require(perm::FORMS_MANAGE)?;
    let input = body.apply(FormInput::new("", Vec::new()))?;
    if !user.0.projects.is_empty() && !input.project_ids.iter().all(|p| user.0.projects.contains(p)) {
        return Err(ApiError::field("project_ids", "You may only add forms to your own projects."));
    }
    let form = state.store.forms().create(user.0.account_id, input).await?;
    state.forget_recent();
    let context = FormContext::load(&state, user.0.account_id, std::slice::from_ref(&form), &headers).await?;
    Ok((StatusCode::CREATED, Json(context.form_json(&form, None))))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct FieldsParam {
    /// Comma-separated keys of the answer.
    fields: Option<String>,
}

#[utoipa::path(get, path = "/api/forms/{id}/", tag = "forms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Form id"), FieldsParam),
    responses((status = 200, description = "The form, deleted or not", body = Object), (status = 401), (status = 403), (status = 404)))]
pub async fn detail(
    State(state): State<SharedState>,
    user: CurrentUser,
    headers: HeaderMap,
    PathId(id): PathId,
    Query(params): Query<FieldsParam>,
) -> ApiResult<Json<Value>> {
    require_reader(&user)?;
    let form = visible_form(&state, &user.0, FormId(id)).await?;
    let context = FormContext::load(&state, user.0.account_id, std::slice::from_ref(&form), &headers).await?;
    Ok(Json(context.form_json(&form, params.fields.as_deref())))
}

/// PUT and PATCH both merge the body into the form; `deleted_at: null` restores a deleted form.
#[utoipa::path(patch, path = "/api/forms/{id}/", tag = "forms", request_body = FormBody, security(("bearer" = [])),
    params(("id" = i64, Path, description = "Form id")),
    responses((status = 200, description = "The form", body = Object), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn update(
    State(state): State<SharedState>,
    user: CurrentUser,
    headers: HeaderMap,
    PathId(id): PathId,
    AppJson(body): AppJson<FormBody>,
) -> ApiResult<Json<Value>> {
    let form = writable_form(&state, &user, FormId(id)).await?;
    let restore = matches!(body.deleted_at, Some(None));
    let input = body.apply(form.input.clone())?;
    if !user.0.projects.is_empty() && !input.project_ids.iter().all(|p| user.0.projects.contains(p)) {
        return Err(ApiError::field("project_ids", "You may only add forms to your own projects."));
    }
    let account = user.0.account_id;
    let mut form = state.store.forms().update(account, form.id, input).await?;
    state.forget_recent();
    if restore && form.deleted_at.is_some() {
        form = state.store.forms().set_deleted(account, form.id, false).await?;
    }
    let context = FormContext::load(&state, user.0.account_id, std::slice::from_ref(&form), &headers).await?;
    Ok(Json(context.form_json(&form, None)))
}

#[utoipa::path(put, path = "/api/forms/{id}/", tag = "forms", request_body = FormBody, security(("bearer" = [])),
    params(("id" = i64, Path, description = "Form id")),
    responses((status = 200, description = "The form", body = Object), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn replace(
    state: State<SharedState>,
    user: CurrentUser,
    headers: HeaderMap,
    id: PathId,
    body: AppJson<FormBody>,
) -> ApiResult<Json<Value>> {
    update(state, user, headers, id, body).await
}

/// Soft deletion: the form leaves lists (see `only_deleted`) and phones, and can be restored.
#[utoipa::path(delete, path = "/api/forms/{id}/", tag = "forms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Form id")),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
pub async fn delete(State(state): State<SharedState>, user: CurrentUser, PathId(id): PathId) -> ApiResult<StatusCode> {
    let form = writable_form(&state, &user, FormId(id)).await?;
    state.store.forms().set_deleted(user.0.account_id, form.id, true).await?;
    state.forget_recent();
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenRosa manifest of the form's attachments, as ODK clients and Iaso's app read it.
#[utoipa::path(get, path = "/api/forms/{id}/manifest/", tag = "forms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Form id")),
    responses((status = 200, description = "`<manifest>` XML", content_type = "text/xml"), (status = 401), (status = 404)))]
pub async fn manifest(
    State(state): State<SharedState>,
    user: CurrentUser,
    headers: HeaderMap,
    PathId(id): PathId,
) -> ApiResult<Response> {
    require_reader(&user)?;
    let form = visible_form(&state, &user.0, FormId(id)).await?;
    manifest_response(&state, &form, &headers).await
}

/// The OpenRosa manifest of `attachments`, each downloadable at `url(attachment)`.
pub fn manifest_xml(
    attachments: &[hygeia_core::FormAttachment],
    url: impl Fn(&hygeia_core::FormAttachment) -> String,
) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<manifest xmlns=\"http://openrosa.org/xforms/xformsManifest\">\n",
    );
    for attachment in attachments {
        xml.push_str(&format!(
            "    <mediaFile>\n        <filename>{}</filename>\n        <hash>md5:{}</hash>\n        \
             <downloadUrl>{}</downloadUrl>\n    </mediaFile>\n",
            hygeia_xlsform::xform::esc(&attachment.name),
            attachment.md5,
            hygeia_xlsform::xform::esc(&url(attachment)),
        ));
    }
    xml.push_str("</manifest>\n");
    xml
}

async fn manifest_response(state: &SharedState, form: &Form, headers: &HeaderMap) -> ApiResult<Response> {
    let base = base_url(headers);
    let attachments = state.store.forms().attachments(form.account_id, form.id).await?;
    let xml = manifest_xml(&attachments, |a| format!("{base}/api/formattachments/{}/file/", a.id));
    Ok((
        [
            (header::CONTENT_TYPE, "text/xml; charset=utf-8"),
            (header::HeaderName::from_static("x-openrosa-version"), "1.0"),
        ],
        xml,
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct MobileParams {
    /// The phone's project.
    app_id: Option<String>,
    /// Comma-separated keys of each row.
    fields: Option<String>,
}

/// The project of `app_id` and the caller, who must be logged in unless the project lets
/// anonymous phones in, and must then belong to its account.
pub async fn mobile_project(
    state: &SharedState,
    caller: &Option<UserProfile>,
    app_id: Option<&str>,
) -> ApiResult<Project> {
    let app_id = app_id.ok_or_else(|| ApiError::field("app_id", "The phone's app_id is required."))?;
    let project = state
        .project_by_app_id(app_id)
        .await?
        .ok_or_else(|| ApiError::NotFoundBecause(format!("No project with app_id \"{app_id}\".")))?;
    match caller {
        None if project.needs_authentication => Err(ApiError::not_authenticated()),
        Some(user) if user.account_id != project.account_id => {
            Err(ApiError::NotFoundBecause(format!("No project with app_id \"{app_id}\".")))
        }
        _ => Ok(project),
    }
}

/// The forms a phone of the project fills: with at least one version, not derived, not deleted.
#[utoipa::path(get, path = "/api/mobile/forms/", tag = "forms", params(MobileParams), security(("bearer" = [])),
    responses((status = 200, description = "`{\"forms\": [...]}`", body = Object), (status = 400), (status = 401), (status = 404)))]
pub async fn mobile_list(
    State(state): State<SharedState>,
    MaybeUser(caller): MaybeUser,
    headers: HeaderMap,
    Query(params): Query<MobileParams>,
) -> ApiResult<Json<Value>> {
    let project = mobile_project(&state, &caller, params.app_id.as_deref()).await?;
    let query = FormQuery { project_ids: vec![project.id], with_versions: true, ..Default::default() };
    let mut forms = state.store.forms().list(project.account_id, &query).await?;
    forms.retain(|f| !f.input.derived);
    let context = FormContext::load(&state, project.account_id, &forms, &headers).await?;
    // Iaso's mobile rows: the default keys but the submission count.
    let mobile_keys: Vec<&str> = DEFAULT_KEYS.iter().copied().filter(|k| *k != "instances_count").collect();
    let fields = params.fields.unwrap_or_else(|| mobile_keys.join(","));
    let rows: Vec<Value> = forms.iter().map(|f| context.form_json(f, Some(&fields))).collect();
    Ok(Json(json!({ "forms": rows })))
}

#[utoipa::path(get, path = "/api/mobile/forms/{id}/manifest/", tag = "forms", params(MobileParams, ("id" = i64, Path, description = "Form id")),
    security(("bearer" = [])),
    responses((status = 200, description = "`<manifest>` XML", content_type = "text/xml"), (status = 401), (status = 404)))]
pub async fn mobile_manifest(
    State(state): State<SharedState>,
    MaybeUser(caller): MaybeUser,
    headers: HeaderMap,
    PathId(id): PathId,
    Query(params): Query<MobileParams>,
) -> ApiResult<Response> {
    let project = mobile_project(&state, &caller, params.app_id.as_deref()).await?;
    let form = state.store.forms().get(project.account_id, FormId(id)).await?.ok_or(ApiError::NotFound)?;
    if form.deleted_at.is_some() || !form.input.project_ids.contains(&project.id) {
        return Err(ApiError::NotFound);
    }
    manifest_response(&state, &form, &headers).await
}
