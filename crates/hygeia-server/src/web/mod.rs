//! Server-rendered pages (askama), updated in place with htmx; maps drawn by Leaflet. Every page
//! reads through the same scope as the API ([`crate::api::orgunits::scope_of`]), so a user
//! restricted to a subtree sees only that subtree here too. The front-end files are embedded
//! (`hygeia-assets`) and served under `/static/`.

mod forms;
mod home;
pub mod i18n;
mod login;
mod orgunits;
mod sources;
mod submissions;
mod tasks;
mod users;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hygeia_core::UserProfile;

use crate::auth::MaybeUser;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, SharedState};
use i18n::Texts;

/// The pages; `upload_limit` caps the import page's file (as for the import API).
pub fn router(upload_limit: usize) -> Router<SharedState> {
    Router::new()
        .route("/", get(home::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/language", post(login::language))
        .route("/orgunits", get(orgunits::list))
        .route("/orgunits/tree", get(orgunits::tree))
        .route("/orgunits/{id}", get(orgunits::unit).post(orgunits::edit))
        .route("/forms", get(forms::list).post(forms::create))
        .route("/forms/{id}", get(forms::detail))
        .route("/forms/{id}/fill", get(forms::fill))
        .route("/forms/{id}/versions", post(forms::upload).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/submissions", get(submissions::list))
        .route("/submissions/{id}", get(submissions::detail))
        .route("/sources", get(sources::list))
        .route("/sources/import", get(sources::form).post(sources::upload).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/sources/dhis2", post(sources::dhis2))
        .route("/users", get(users::list).post(users::create))
        .route("/users/new", get(users::new_form))
        .route("/users/{id}", get(users::edit_form).post(users::update))
        .route("/tasks", get(tasks::list))
        .route("/tasks/{id}", get(tasks::detail))
        .route("/tasks/{id}/kill", post(tasks::kill))
        .route("/tasks/{id}/relaunch", post(tasks::relaunch))
        .route("/static/{*name}", get(static_file))
}

/// The signed-in user of a page, with the texts of their language. Without a session the browser
/// is sent to the login page, which brings it back here afterwards.
pub struct PageUser {
    pub user: UserProfile,
    pub t: &'static Texts,
    /// The page's own path and query (where the language switch comes back to).
    pub path: String,
}

impl FromRequestParts<Arc<AppState>> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let MaybeUser(user) = MaybeUser::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let Some(user) = user else {
            let login = match parts.uri.path_and_query().map(|p| p.as_str()) {
                None | Some("/") => "/login".to_owned(),
                Some(next) => {
                    format!("/login?next={}", form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())
                }
            };
            // htmx follows redirects inside the fragment; a full-page redirect needs HX-Redirect.
            if parts.headers.contains_key("hx-request") {
                let mut response = StatusCode::NO_CONTENT.into_response();
                if let Ok(value) = HeaderValue::from_str(&login) {
                    response.headers_mut().insert("hx-redirect", value);
                }
                return Err(response);
            }
            return Err(Redirect::to(&login).into_response());
        };
        let t = i18n::choose(user.language.as_deref(), &parts.headers);
        let path = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
        Ok(PageUser { user, t, path })
    }
}

/// What every page's frame shows: the navigation, who is signed in, in which language.
pub struct Chrome {
    pub t: &'static Texts,
    pub username: String,
    pub account: String,
    /// The navigation entry to highlight.
    pub section: &'static str,
    /// The maps' background tiles (a URL template), if the installation has any.
    pub map_tiles: Option<String>,
    /// The page's path and query.
    pub path: String,
}

impl Chrome {
    pub async fn new(state: &AppState, page: &PageUser, section: &'static str) -> ApiResult<Chrome> {
        let account = state.store.accounts().get(page.user.account_id).await?.map(|a| a.name).unwrap_or_default();
        Ok(Chrome {
            t: page.t,
            username: page.user.username.clone(),
            account,
            section,
            map_tiles: state.settings.web.map_tiles.clone(),
            path: page.path.clone(),
        })
    }

    /// The URL of an embedded front-end file, versioned by its content.
    pub fn asset(&self, name: &str) -> String {
        hygeia_assets::url(name)
    }
}

/// The URL of an embedded file, for pages without a [`Chrome`] (login).
pub fn asset(name: &str) -> String {
    hygeia_assets::url(name)
}

/// What a page handler answers.
pub type PageResult = Result<Response, PageError>;

pub fn render(page: impl Template, status: StatusCode) -> ApiResult<Response> {
    let html = page.render().map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((status, Html(html)).into_response())
}

/// What a page answers when it fails: the API's error, as a small HTML page for a person (the
/// status is the API's; internal errors are logged by the API's error and not shown).
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        PageError(err)
    }
}

impl From<hygeia_store::StoreError> for PageError {
    fn from(err: hygeia_store::StoreError) -> Self {
        PageError(err.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let message = if status.is_server_error() {
            // The API's error response logs the cause; it is dropped, so the cause is not shown.
            drop(self.0.into_response());
            "The server failed; the failure is logged.".to_owned()
        } else {
            self.0.to_string()
        };
        let html = ErrorPage { status: status.as_u16(), message: message.clone() }.render().unwrap_or(message);
        (status, Html(html)).into_response()
    }
}

/// The `page` a list page asks for: 1 unless a positive number is given (a page past the end
/// shows the last one, as the API does).
pub fn requested_page(params: &std::collections::HashMap<String, String>) -> u64 {
    params.get("page").and_then(|p| p.parse::<u64>().ok()).unwrap_or(1).max(1)
}

/// The list filters among `params` as a query string (trimmed, empty ones left out), in `keys`'
/// order: what paging and export links carry.
pub fn filter_query(keys: &[&str], params: &std::collections::HashMap<String, String>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for key in keys {
        if let Some(value) = params.get(*key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            serializer.append_pair(key, value);
        }
    }
    serializer.finish()
}

/// Whether htmx asks for a fragment to swap in (not for a whole page: a history restore asks
/// for the whole page again).
pub fn wants_fragment(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request") && !headers.contains_key("hx-history-restore-request")
}

/// `/static/{name}`: an embedded file. Its URL carries its content version, so it may be cached
/// for a year.
async fn static_file(Path(name): Path<String>) -> Response {
    match hygeia_assets::get(&name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            asset.bytes,
        )
            .into_response(),
        None => ApiError::NotFound.into_response(),
    }
}
