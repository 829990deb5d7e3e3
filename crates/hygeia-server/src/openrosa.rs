//! OpenRosa, for ODK Collect, Enketo and ODK Web Forms: the server URL of a project is
//! `{host}/openrosa/{app_id}`, under which clients find `formList`, each form's XForm, manifest and
//! media, and `submission` (`HEAD` preflight, `POST` multipart). See
//! `reference/xlsform-openrosa.md` §6.
//!
//! Collect is challenge-driven: it sends credentials only after a `401` carrying
//! `WWW-Authenticate`, so every unauthenticated request gets one (Basic). Bearer tokens work too.
//! Every answer carries `X-OpenRosa-Version: 1.0`; successful submissions answer `201` with an
//! `<OpenRosaResponse>` (Collect treats `200` as a failure).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use hygeia_core::{Form, FormId, FormQuery, PayloadChannel, Project, UserProfile};
use hygeia_xlsform::xform::esc;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::forms::base_url;
use crate::auth::{CurrentUser, active_profile};
use crate::error::ApiError;
use crate::state::{AppState, SharedState};
use crate::submissions::{self, IngestError, Part, Received, Upload};

/// What `HEAD /submission` announces, and what `POST` accepts (Central's and Iaso's figure).
pub const MAX_SUBMISSION_BYTES: usize = 100_000_000;

/// The same endpoints under a project's server URL with credentials (`/openrosa/{app_id}`) and
/// with an app token in place of them (`/openrosa/key/{token}/{app_id}`).
pub fn router() -> Router<SharedState> {
    let mut router = Router::new();
    for base in ["/openrosa/{app_id}", "/openrosa/key/{token}/{app_id}"] {
        router = router
            .route(&format!("{base}/formList"), get(form_list))
            .route(&format!("{base}/forms/{{id}}/form.xml"), get(form_download))
            .route(&format!("{base}/forms/{{id}}/manifest"), get(manifest))
            .route(&format!("{base}/forms/{{id}}/attachments/{{name}}"), get(attachment))
            .route(
                &format!("{base}/submission"),
                get(submission_preflight)
                    .head(submission_preflight)
                    .post(submission)
                    .layer(DefaultBodyLimit::max(MAX_SUBMISSION_BYTES)),
            );
    }
    router
}

/// The path parameters of every OpenRosa route: the project, and the app token when the URL
/// carries one.
#[derive(Debug, Deserialize)]
struct Target {
    app_id: String,
    token: Option<String>,
}

impl Target {
    /// The server URL the client used, for the URLs it is sent.
    fn base(&self, headers: &HeaderMap) -> String {
        match &self.token {
            Some(token) => format!("{}/openrosa/key/{}/{}", base_url(headers), token, self.app_id),
            None => format!("{}/openrosa/{}", base_url(headers), self.app_id),
        }
    }
}

#[derive(Debug, Deserialize)]
struct FormTarget {
    app_id: String,
    id: i64,
}

#[derive(Debug, Deserialize)]
struct FileTarget {
    app_id: String,
    id: i64,
    name: String,
}

/// The user an app token acts for, limited to the token's project. An unknown or revoked
/// token is refused outright (403: asking for a password would not help).
async fn app_token_user(state: &AppState, token: &str) -> Result<UserProfile, OpenRosaError> {
    let refused = || OpenRosaError(StatusCode::FORBIDDEN, "This app token is unknown or revoked.".into());
    let found = state.store.projects().app_token(&crate::auth::hash_token(token)).await?.ok_or_else(refused)?;
    let mut profile = active_profile(state, found.user_id).await?.ok_or_else(refused)?;
    if profile.account_id != found.account_id
        || (!profile.projects.is_empty() && !profile.projects.contains(&found.project_id))
    {
        return Err(refused());
    }
    profile.projects = vec![found.project_id];
    Ok(profile)
}

/// Headers every OpenRosa answer carries.
fn openrosa_headers(headers: &mut HeaderMap) {
    headers.insert("x-openrosa-version", HeaderValue::from_static("1.0"));
    if let Ok(date) = HeaderValue::from_str(&chrono::Utc::now().to_rfc2822()) {
        headers.insert(header::DATE, date);
    }
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    openrosa_headers(response.headers_mut());
    response
}

/// `<OpenRosaResponse>` with a message Collect shows to the user.
fn message(status: StatusCode, text: &str) -> Response {
    let nature = if status.is_success() { "submit_success" } else { "error" };
    xml_response(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OpenRosaResponse xmlns=\"http://openrosa.org/http/response\" items=\"0\"><message nature=\"{nature}\">{}</message></OpenRosaResponse>\n",
            esc(text)
        ),
    )
}

/// An error as OpenRosa clients expect it; a 401 carries the Basic challenge.
pub struct OpenRosaError(StatusCode, String);

impl IntoResponse for OpenRosaError {
    fn into_response(self) -> Response {
        let mut response = message(self.0, &self.1);
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Hygeia\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

impl From<ApiError> for OpenRosaError {
    fn from(err: ApiError) -> Self {
        let status = err.status();
        OpenRosaError(status, err.to_string())
    }
}

impl From<hygeia_store::StoreError> for OpenRosaError {
    fn from(err: hygeia_store::StoreError) -> Self {
        ApiError::from(err).into()
    }
}

type OpenRosaResult<T> = Result<T, OpenRosaError>;

/// Verified Basic credentials, kept a few minutes so that a phone sending a batch does not pay a
/// password hash per request. Keyed by a hash of the header; void once the password changes.
#[derive(Default)]
pub struct BasicAuthCache {
    entries: Mutex<HashMap<[u8; 32], VerifiedLogin>>,
    /// One check at a time per credentials: the parallel requests of a phone, or of a team
    /// sharing a login, wait for the first check instead of each counting as a login attempt
    /// (fifty at once would trip the login throttle).
    checks: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
}

#[derive(Clone)]
struct VerifiedLogin {
    user: hygeia_core::UserId,
    at: Instant,
    /// When the password was checked (Unix seconds), against `tokens_valid_from`.
    verified_at: i64,
    /// The profile as last read, and when: reread every few seconds, so that a deactivation
    /// or a new password takes effect that soon, while a phone's batch reads it once.
    profile: UserProfile,
    read_at: Instant,
}

impl BasicAuthCache {
    /// The user these credentials were verified for, if recently and not since voided.
    async fn fresh(&self, state: &AppState, key: &[u8; 32]) -> Result<Option<UserProfile>, OpenRosaError> {
        let cached = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned();
        let Some(login) = cached.filter(|l| l.at.elapsed() < BASIC_CACHE_TTL) else { return Ok(None) };
        if login.read_at.elapsed() < crate::recent::RECENT_TTL {
            return Ok(Some(login.profile));
        }
        // A password changed since the check voids it.
        match active_profile(state, login.user).await? {
            Some(profile) if profile.tokens_valid_from <= login.verified_at => {
                let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(entry) = entries.get_mut(key) {
                    entry.profile = profile.clone();
                    entry.read_at = Instant::now();
                }
                Ok(Some(profile))
            }
            _ => Ok(None),
        }
    }

    fn remember(&self, key: [u8; 32], profile: &UserProfile) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_BASIC_CACHE {
            entries.clear();
        }
        let now = Instant::now();
        let login = VerifiedLogin {
            user: profile.user_id,
            at: now,
            verified_at: chrono::Utc::now().timestamp(),
            profile: profile.clone(),
            read_at: now,
        };
        entries.insert(key, login);
    }

    fn check_lock(&self, key: [u8; 32]) -> Arc<tokio::sync::Mutex<()>> {
        let mut checks = self.checks.lock().unwrap_or_else(|p| p.into_inner());
        if checks.len() >= MAX_BASIC_CACHE {
            // Locks held now stay valid for their holders; later callers get new ones.
            checks.clear();
        }
        checks.entry(key).or_default().clone()
    }
}

const BASIC_CACHE_TTL: Duration = Duration::from_secs(300);
const MAX_BASIC_CACHE: usize = 10_000;

/// The caller of an OpenRosa request: Basic or Bearer; or the browser session of the dashboard's
/// own form-filling page, for a same-origin request only (`Sec-Fetch-Site: same-origin`, which
/// other sites cannot forge; the CSRF layer refuses their requests before this).
pub struct OpenRosaUser(pub UserProfile);

impl FromRequestParts<SharedState> for OpenRosaUser {
    type Rejection = OpenRosaError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Self::Rejection> {
        if let Ok(Path(params)) = Path::<HashMap<String, String>>::from_request_parts(parts, state).await
            && let Some(token) = params.get("token")
        {
            return app_token_user(state, token).await.map(OpenRosaUser);
        }
        let challenge = || OpenRosaError(StatusCode::UNAUTHORIZED, "Authentication required.".into());
        let Some(value) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            if parts.headers.get("sec-fetch-site").is_some_and(|site| site == "same-origin")
                && let Ok(CurrentUser(user)) = CurrentUser::from_request_parts(parts, state).await
            {
                return Ok(OpenRosaUser(user));
            }
            return Err(challenge());
        };
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return match CurrentUser::from_request_parts(parts, state).await {
                Ok(CurrentUser(user)) => Ok(OpenRosaUser(user)),
                Err(_) => Err(challenge()),
            };
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(challenge());
        }
        let key: [u8; 32] = Sha256::digest(credentials.trim().as_bytes()).into();
        let logins = &state.openrosa_logins;
        if let Some(profile) = logins.fresh(state, &key).await? {
            return Ok(OpenRosaUser(profile));
        }
        let lock = logins.check_lock(key);
        let _checking = lock.lock().await;
        // Verified meanwhile by the request we waited for?
        if let Some(profile) = logins.fresh(state, &key).await? {
            return Ok(OpenRosaUser(profile));
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(credentials.trim()).map_err(|_| challenge())?;
        let text = String::from_utf8(decoded).map_err(|_| challenge())?;
        let (username, password) = text.split_once(':').ok_or_else(challenge)?;
        let address = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or("openrosa");
        let profile = match crate::api::token::check_password(state, username, password.to_owned(), address).await {
            Ok(profile) => profile,
            Err(ApiError::TooManyRequests { retry_after }) => {
                return Err(OpenRosaError(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Too many failed attempts; try again in {} seconds.", retry_after.as_secs().max(1)),
                ));
            }
            Err(ApiError::Unauthorized(_)) => return Err(challenge()),
            Err(other) => return Err(other.into()),
        };
        logins.remember(key, &profile);
        Ok(OpenRosaUser(profile))
    }
}

/// The project of `app_id`, which the caller must belong to (unknown and foreign look alike).
async fn project_for(state: &AppState, user: &UserProfile, app_id: &str) -> OpenRosaResult<Project> {
    let not_found = || OpenRosaError(StatusCode::NOT_FOUND, format!("No project with app_id \"{app_id}\"."));
    let project = state.project_by_app_id(app_id).await?.ok_or_else(not_found)?;
    if project.account_id != user.account_id {
        return Err(not_found());
    }
    if !user.projects.is_empty() && !user.projects.contains(&project.id) {
        return Err(OpenRosaError(StatusCode::FORBIDDEN, "You don't have access to this project.".into()));
    }
    Ok(project)
}

/// A form of the project that phones can fill.
async fn project_form(state: &AppState, project: &Project, id: i64) -> OpenRosaResult<Form> {
    let form = state.store.forms().get(project.account_id, FormId(id)).await?;
    form.filter(|f| f.deleted_at.is_none() && f.input.project_ids.contains(&project.id))
        .ok_or_else(|| OpenRosaError(StatusCode::NOT_FOUND, "No such form in this project.".into()))
}

async fn form_list(
    State(state): State<SharedState>,
    OpenRosaUser(user): OpenRosaUser,
    Path(target): Path<Target>,
    headers: HeaderMap,
) -> OpenRosaResult<Response> {
    let project = project_for(&state, &user, &target.app_id).await?;
    let query = FormQuery { project_ids: vec![project.id], with_versions: true, ..Default::default() };
    let forms: Vec<Form> = state.store.forms().list(project.account_id, &query).await?;
    let ids: Vec<FormId> = forms.iter().map(|f| f.id).collect();
    let latest = state.store.forms().latest_versions(project.account_id, &ids).await?;
    let base = target.base(&headers);
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xforms xmlns=\"http://openrosa.org/xforms/xformsList\">\n",
    );
    for form in &forms {
        let (Some(version), Some(form_id)) = (latest.get(&form.id), form.form_id.as_deref()) else { continue };
        let attachments = state.store.forms().attachments(project.account_id, form.id).await?;
        let manifest = if attachments.is_empty() {
            String::new()
        } else {
            format!("<manifestUrl>{base}/forms/{}/manifest</manifestUrl>", form.id)
        };
        xml.push_str(&format!(
            "  <xform><formID>{}</formID><name>{}</name><version>{}</version><hash>md5:{}</hash>\
             <downloadUrl>{base}/forms/{}/form.xml</downloadUrl>{manifest}</xform>\n",
            esc(form_id),
            esc(&form.input.name),
            esc(&version.version_id),
            version.md5,
            form.id,
        ));
    }
    xml.push_str("</xforms>\n");
    Ok(xml_response(StatusCode::OK, xml))
}

async fn read_key(state: &AppState, account: hygeia_core::AccountId, key: &str) -> OpenRosaResult<Vec<u8>> {
    use futures_util::TryStreamExt;
    let stream =
        state.open_file(account, key).await.map_err(|e| OpenRosaError(StatusCode::NOT_FOUND, e.to_string()))?;
    let chunks: Vec<bytes::Bytes> = stream
        .chunks
        .try_collect()
        .await
        .map_err(|e| OpenRosaError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(chunks.concat())
}

async fn form_download(
    State(state): State<SharedState>,
    OpenRosaUser(user): OpenRosaUser,
    Path(FormTarget { app_id, id }): Path<FormTarget>,
) -> OpenRosaResult<Response> {
    let project = project_for(&state, &user, &app_id).await?;
    let form = project_form(&state, &project, id).await?;
    let latest = state.store.forms().latest_versions(project.account_id, &[form.id]).await?;
    let version = latest
        .get(&form.id)
        .ok_or_else(|| OpenRosaError(StatusCode::NOT_FOUND, "The form has no version yet.".into()))?;
    let bytes = read_key(&state, project.account_id, &version.file_key).await?;
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    openrosa_headers(response.headers_mut());
    Ok(response)
}

async fn manifest(
    State(state): State<SharedState>,
    OpenRosaUser(user): OpenRosaUser,
    Path(target): Path<Target>,
    Path(FormTarget { id, .. }): Path<FormTarget>,
    headers: HeaderMap,
) -> OpenRosaResult<Response> {
    let project = project_for(&state, &user, &target.app_id).await?;
    let form = project_form(&state, &project, id).await?;
    let base = format!("{}/forms/{}/attachments", target.base(&headers), form.id);
    let attachments = state.store.forms().attachments(project.account_id, form.id).await?;
    let xml = crate::api::forms::manifest_xml(&attachments, |a| format!("{base}/{}", a.name));
    Ok(xml_response(StatusCode::OK, xml))
}

async fn attachment(
    State(state): State<SharedState>,
    OpenRosaUser(user): OpenRosaUser,
    Path(FileTarget { app_id, id, name }): Path<FileTarget>,
) -> OpenRosaResult<Response> {
    let project = project_for(&state, &user, &app_id).await?;
    let form = project_form(&state, &project, id).await?;
    let attachments = state.store.forms().attachments(project.account_id, form.id).await?;
    let file = attachments
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| OpenRosaError(StatusCode::NOT_FOUND, format!("The form has no file \"{name}\".")))?;
    let bytes = read_key(&state, project.account_id, &file.file_key).await?;
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    openrosa_headers(response.headers_mut());
    Ok(response)
}

/// `HEAD` (and `GET`) before a submission: 204 with the size accepted.
async fn submission_preflight(
    State(state): State<SharedState>,
    OpenRosaUser(user): OpenRosaUser,
    Path(Target { app_id, .. }): Path<Target>,
) -> OpenRosaResult<Response> {
    project_for(&state, &user, &app_id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    openrosa_headers(response.headers_mut());
    response.headers_mut().insert("x-openrosa-accept-content-length", HeaderValue::from(MAX_SUBMISSION_BYTES));
    Ok(response)
}

/// Reads every part of a multipart body; a body cut off mid-way keeps what arrived, whole parts
/// only, and says so.
pub async fn read_parts(multipart: &mut Multipart) -> (Vec<Part>, Option<String>) {
    let mut parts = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let file_name = field.file_name().map(str::to_owned);
                match field.bytes().await {
                    Ok(bytes) => parts.push(Part { name, file_name, bytes }),
                    Err(err) => return (parts, Some(format!("the part '{name}' was cut off: {err}"))),
                }
            }
            Ok(None) => return (parts, None),
            Err(err) => return (parts, Some(format!("the multipart body is malformed: {err}"))),
        }
    }
}

async fn submission(
    State(state): State<SharedState>,
    OpenRosaUser(user): OpenRosaUser,
    Path(Target { app_id, .. }): Path<Target>,
    mut multipart: Multipart,
) -> OpenRosaResult<Response> {
    let project = project_for(&state, &user, &app_id).await?;
    let (parts, cut_off) = read_parts(&mut multipart).await;
    // `*isIncomplete*`: Collect splits a large submission into batches repeating the XML; each
    // batch is handled alone (a repeat of the XML is a duplicate that brings more files).
    let parts: Vec<Part> = parts.into_iter().filter(|p| p.name != "*isIncomplete*").collect();
    let upload = Upload {
        account: project.account_id,
        project: Some(project.id),
        user: Some(user.user_id),
        channel: PayloadChannel::OpenRosa,
        parts,
    };
    if let Some(problem) = cut_off {
        // Whatever arrived is kept for inspection; the client will send it again.
        let kept = submissions::store_payload(&state, &upload).await;
        if let Ok((payload, _)) = &kept {
            let _ = state.store.submissions().finish_payload(payload.id, Err(problem.clone())).await;
        }
        return Err(OpenRosaError(StatusCode::BAD_REQUEST, format!("The upload is incomplete: {problem}.")));
    }
    if !upload.parts.iter().any(|p| p.name == submissions::XML_PART) {
        return Err(OpenRosaError(
            StatusCode::BAD_REQUEST,
            format!("The upload has no '{}' part.", submissions::XML_PART),
        ));
    }
    match submissions::receive(&state, upload).await {
        Ok(Received::Created(_) | Received::Edited(_)) => Ok(message(StatusCode::CREATED, "Form Received! Thank you.")),
        Ok(Received::Duplicate(_)) => {
            Ok(message(StatusCode::CREATED, "Form Received! (already received: missing files were added)"))
        }
        Err(err) => Err(ingest_error(err)),
    }
}

fn ingest_error(err: IngestError) -> OpenRosaError {
    let status = match &err {
        IngestError::NoXml | IngestError::BadXml(_) | IngestError::Invalid(_) => StatusCode::BAD_REQUEST,
        IngestError::UnknownForm(_) | IngestError::UnknownVersion { .. } | IngestError::UnknownDeprecated(_) => {
            StatusCode::NOT_FOUND
        }
        IngestError::DeletedForm(_) | IngestError::Conflict(_) => StatusCode::CONFLICT,
        IngestError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    OpenRosaError(status, err.to_string())
}
