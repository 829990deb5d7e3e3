//! Data sources and their versions (`/sources`), and the import page (`/sources/import`): a file
//! (CSV, GeoPackage, GeoJSON, zipped Shapefile) or a DHIS2 server, queued as a task whose page
//! then shows its progress live. The forms are the import API's, checked by the same code.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use hygeia_core::permission as perm;
use hygeia_core::{DataSource, SourceVersion};
use serde::Deserialize;

use super::{Chrome, PageResult, PageUser, render};
use crate::api::imports::{Dhis2ImportBody, queue_dhis2, queue_upload};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, SharedState};

struct SourceView {
    source: DataSource,
    versions: Vec<SourceVersion>,
}

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage {
    chrome: Chrome,
    sources: Vec<SourceView>,
    can_import: bool,
}

fn require_sources(page: &PageUser) -> ApiResult<()> {
    let readers = [perm::SOURCES, perm::WRITE_SOURCES, perm::ORG_UNITS, perm::ORG_UNITS_READ];
    if readers.iter().any(|p| page.user.has_permission(p)) { Ok(()) } else { Err(ApiError::Forbidden) }
}

/// `/sources`: each source with its versions, newest first; the default one marked.
pub async fn list(State(state): State<SharedState>, page: PageUser) -> PageResult {
    require_sources(&page)?;
    let account = page.user.account_id;
    let mut sources = state.store.sources().sources(account).await?;
    sources.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()));
    let mut versions = state.store.sources().versions(account, None).await?;
    versions.sort_by(|a, b| b.number.cmp(&a.number));
    let sources = sources
        .into_iter()
        .map(|source| {
            let versions = versions.iter().filter(|v| v.data_source_id == source.id).cloned().collect();
            SourceView { source, versions }
        })
        .collect();
    let chrome = Chrome::new(&state, &page, "sources").await?;
    let can_import = page.user.has_permission(perm::SOURCES);
    Ok(render(SourcesPage { chrome, sources, can_import }, StatusCode::OK)?)
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    chrome: Chrome,
    sources: Vec<DataSource>,
    /// Which form the error belongs to (`file` or `dhis2`), and the error.
    error: Option<(&'static str, String)>,
}

async fn import_page(state: &AppState, page: &PageUser, error: Option<(&'static str, String)>) -> PageResult {
    let mut sources = state.store.sources().sources(page.user.account_id).await?;
    sources.retain(|s| !s.read_only);
    sources.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()));
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let chrome = Chrome::new(state, page, "sources").await?;
    Ok(render(ImportPage { chrome, sources, error }, status)?)
}

/// `/sources/import`.
pub async fn form(State(state): State<SharedState>, page: PageUser) -> PageResult {
    if !page.user.has_permission(perm::SOURCES) {
        return Err(ApiError::Forbidden.into());
    }
    import_page(&state, &page, None).await
}

/// The refusals a person can fix, shown on the form; anything else is the error page.
fn refusal(err: ApiError) -> Result<String, ApiError> {
    match err {
        ApiError::Validation(errors) => Ok(errors.to_string()),
        ApiError::BadRequest(message) => Ok(message),
        other => Err(other),
    }
}

/// `POST /sources/import` (multipart, the import API's fields): queued, then the task's page.
pub async fn upload(State(state): State<SharedState>, page: PageUser, multipart: Multipart) -> PageResult {
    let user = CurrentUser(page.user.clone());
    match queue_upload(&state, &user, multipart, None).await {
        Ok(task) => Ok(Redirect::to(&format!("/tasks/{}", task.id.0)).into_response()),
        Err(err) => import_page(&state, &page, Some(("file", refusal(err)?))).await,
    }
}

#[derive(Deserialize)]
pub struct Dhis2Form {
    source_id: String,
    #[serde(default)]
    source_version_number: String,
    dhis2_url: String,
    dhis2_login: String,
    dhis2_password: String,
    #[serde(default)]
    validate_status: Option<String>,
}

/// `POST /sources/dhis2`: a DHIS2 import, queued, then the task's page.
pub async fn dhis2(State(state): State<SharedState>, page: PageUser, Form(form): Form<Dhis2Form>) -> PageResult {
    let user = CurrentUser(page.user.clone());
    let number = |field: &str, value: &str| -> Result<Option<i64>, String> {
        match value.trim() {
            "" => Ok(None),
            v => v.parse().map(Some).map_err(|_| format!("{field}: \"{v}\" is not a number.")),
        }
    };
    let body =
        match (number("source_id", &form.source_id), number("source_version_number", &form.source_version_number)) {
            (Ok(Some(source_id)), Ok(source_version_number)) => Dhis2ImportBody {
                source_id,
                source_version_number,
                dhis2_url: form.dhis2_url,
                dhis2_login: form.dhis2_login,
                dhis2_password: form.dhis2_password,
                validate_status: form.validate_status.is_some(),
            },
            (Ok(None), _) => {
                return import_page(&state, &page, Some(("dhis2", "source_id: choose a data source.".into()))).await;
            }
            (Err(message), _) | (_, Err(message)) => return import_page(&state, &page, Some(("dhis2", message))).await,
        };
    match queue_dhis2(&state, &user, body).await {
        Ok(task) => Ok(Redirect::to(&format!("/tasks/{}", task.id.0)).into_response()),
        Err(err) => import_page(&state, &page, Some(("dhis2", refusal(err)?))).await,
    }
}
