//! The form pages: the list (`/forms`, with a new form's name and project), and one form
//! (`/forms/{id}`): its versions, an XLSForm upload that shows the converter's located error
//! (sheet, row, column) when it refuses the file, and a preview of the latest version's
//! questions. The same checks as the API (`api::formversions::publish`).

use std::collections::HashMap;

use askama::Template;
use axum::Form as UrlForm;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use hygeia_core::permission as perm;
use hygeia_core::{Form, FormId, FormInput, FormQuery, FormVersion, Project, ProjectId};
use serde::Deserialize;

use super::{Chrome, PageResult, PageUser, render};
use crate::api::forms::visible_form;
use crate::api::formversions::{NotPublished, publish, read_upload};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathId;
use crate::state::{AppState, SharedState};

const READERS: [&str; 3] = [perm::FORMS_MANAGE, perm::SUBMISSIONS, perm::COMPLETENESS_STATS];

fn require_reader(page: &PageUser) -> ApiResult<()> {
    if READERS.iter().any(|p| page.user.has_permission(p)) { Ok(()) } else { Err(ApiError::Forbidden) }
}

struct FormRow {
    form: Form,
    latest: Option<FormVersion>,
    projects: String,
}

#[derive(Template)]
#[template(path = "forms.html")]
struct ListPage {
    chrome: Chrome,
    forms: Vec<FormRow>,
    projects: Vec<Project>,
    can_manage: bool,
    error: Option<String>,
}

async fn projects_of(state: &AppState, page: &PageUser) -> ApiResult<Vec<Project>> {
    let mut projects = state.store.projects().list(page.user.account_id).await?;
    if !page.user.projects.is_empty() {
        projects.retain(|p| page.user.projects.contains(&p.id));
    }
    Ok(projects)
}

async fn list_page(state: &AppState, page: &PageUser, error: Option<String>) -> PageResult {
    require_reader(page)?;
    let account = page.user.account_id;
    let mut forms = state.store.forms().list(account, &FormQuery::default()).await?;
    forms.retain(|f| f.visible_in(&page.user.projects));
    let ids: Vec<FormId> = forms.iter().map(|f| f.id).collect();
    let mut latest = state.store.forms().latest_versions(account, &ids).await?;
    let projects = projects_of(state, page).await?;
    let names: HashMap<ProjectId, &str> = projects.iter().map(|p| (p.id, p.name.as_str())).collect();
    let forms = forms
        .into_iter()
        .map(|form| FormRow {
            latest: latest.remove(&form.id),
            projects: form
                .input
                .project_ids
                .iter()
                .filter_map(|p| names.get(p))
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
            form,
        })
        .collect();
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let chrome = Chrome::new(state, page, "forms").await?;
    let can_manage = page.user.has_permission(perm::FORMS_MANAGE);
    Ok(render(ListPage { chrome, forms, projects, can_manage, error }, status)?)
}

/// `/forms`.
pub async fn list(State(state): State<SharedState>, page: PageUser) -> PageResult {
    list_page(&state, &page, None).await
}

#[derive(Deserialize)]
pub struct NewForm {
    name: String,
    #[serde(default)]
    project_id: String,
}

/// `POST /forms`: a new form in one of the user's projects; then its page, to upload a version.
pub async fn create(State(state): State<SharedState>, page: PageUser, UrlForm(new): UrlForm<NewForm>) -> PageResult {
    if !page.user.has_permission(perm::FORMS_MANAGE) {
        return Err(ApiError::Forbidden.into());
    }
    let projects = projects_of(&state, &page).await?;
    let project = match new.project_id.trim().parse::<i64>() {
        Ok(id) if projects.iter().any(|p| p.id.0 == id) => ProjectId(id),
        _ => return list_page(&state, &page, Some("project_id: choose one of your projects.".into())).await,
    };
    let input = FormInput::new(new.name.trim(), vec![project]);
    match state.store.forms().create(page.user.account_id, input).await {
        Ok(form) => {
            state.forget_recent();
            Ok(Redirect::to(&format!("/forms/{}", form.id.0)).into_response())
        }
        Err(hygeia_store::StoreError::Invalid(errors)) => list_page(&state, &page, Some(errors.to_string())).await,
        Err(other) => Err(other.into()),
    }
}

/// The converter's refusal, located.
struct Refusal {
    sheet: String,
    row: String,
    column: String,
    message: String,
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage {
    chrome: Chrome,
    form: Form,
    versions: Vec<FormVersion>,
    latest: Option<FormVersion>,
    can_manage: bool,
    published: Option<String>,
    refusal: Option<Refusal>,
    error: Option<String>,
}

async fn form_page(
    state: &SharedState,
    page: &PageUser,
    id: i64,
    published: Option<String>,
    refusal: Option<Refusal>,
    error: Option<String>,
) -> PageResult {
    require_reader(page)?;
    let form = visible_form(state, &page.user, FormId(id)).await?;
    let mut versions = state.store.forms().versions(page.user.account_id, Some(form.id)).await?;
    versions.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.0.cmp(&a.id.0)));
    let latest = versions.first().cloned();
    let status = if refusal.is_some() || error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let chrome = Chrome::new(state, page, "forms").await?;
    let can_manage = page.user.has_permission(perm::FORMS_MANAGE);
    Ok(render(FormPage { chrome, form, versions, latest, can_manage, published, refusal, error }, status)?)
}

/// `/forms/{id}` (`?published=VERSION` after an upload).
pub async fn detail(
    State(state): State<SharedState>,
    page: PageUser,
    PathId(id): PathId,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    form_page(&state, &page, id, params.get("published").cloned(), None, None).await
}

/// `POST /forms/{id}/versions` (multipart `xls_file`): converted and published, or refused
/// with the converter's located error on the page.
pub async fn upload(
    State(state): State<SharedState>,
    page: PageUser,
    PathId(id): PathId,
    multipart: Multipart,
) -> PageResult {
    let user = CurrentUser(page.user.clone());
    user.require(perm::FORMS_MANAGE)?;
    let form = visible_form(&state, &page.user, FormId(id)).await?;
    let upload = read_upload(multipart).await?;
    match publish(&state, &user, &form, upload).await {
        Ok(version) => {
            let query =
                form_urlencoded::Serializer::new(String::new()).append_pair("published", &version.version_id).finish();
            Ok(Redirect::to(&format!("/forms/{id}?{query}")).into_response())
        }
        Err(NotPublished::XlsForm(err)) => {
            let refusal = Refusal {
                sheet: err.sheet.clone().unwrap_or_default(),
                row: err.row.map(|r| r.to_string()).unwrap_or_default(),
                column: err.column.clone().unwrap_or_default(),
                message: err.message.clone(),
            };
            form_page(&state, &page, id, None, Some(refusal), None).await
        }
        Err(NotPublished::Refused(
            err @ (ApiError::Validation(_) | ApiError::BadRequest(_) | ApiError::Conflict { .. }),
        )) => form_page(&state, &page, id, None, None, Some(err.to_string())).await,
        Err(NotPublished::Refused(other)) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "fill.html")]
struct FillPage {
    chrome: Chrome,
    form: Form,
    version: FormVersion,
    app_id: String,
}

/// `/forms/{id}/fill`: the latest version in ODK Web Forms, sent to the OpenRosa endpoint of
/// one of the form's projects that the user is in.
pub async fn fill(State(state): State<SharedState>, page: PageUser, PathId(id): PathId) -> PageResult {
    require_reader(&page)?;
    let form = visible_form(&state, &page.user, FormId(id)).await?;
    let account = page.user.account_id;
    let version = state
        .store
        .forms()
        .latest_versions(account, &[form.id])
        .await?
        .remove(&form.id)
        .ok_or_else(|| ApiError::NotFoundBecause("The form has no version to fill yet: publish one.".into()))?;
    let projects = projects_of(&state, &page).await?;
    let project = projects
        .into_iter()
        .find(|p| form.input.project_ids.contains(&p.id))
        .ok_or_else(|| ApiError::ForbiddenBecause("The form is in none of your projects.".into()))?;
    let chrome = Chrome::new(&state, &page, "forms").await?;
    Ok(render(FillPage { chrome, form, version, app_id: project.app_id }, StatusCode::OK)?)
}
