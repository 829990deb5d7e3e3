//! The browser's login and logout.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::i18n::{self, Texts};
use super::render;
use crate::api::token::check_password;
use crate::auth::{ClientAddress, MaybeUser, end_session, start_session};
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: &'static Texts,
    error: Option<String>,
    next: String,
    username: String,
}

impl LoginPage {
    fn asset(&self, name: &str) -> String {
        super::asset(name)
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

/// Only local paths are followed after login, so `/login?next=https://evil.example` cannot be
/// used to bounce a user to another site. Browsers drop tabs and newlines from URLs and read `\`
/// as `/`, so a path holding any of them (`/\t/evil.example`) is refused too.
fn safe_next(next: Option<String>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.len() <= 2048
                && path.chars().all(|c| c.is_ascii_graphic() && c != '\\') =>
        {
            path
        }
        _ => "/".to_owned(),
    }
}

pub async fn form(
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> ApiResult<Response> {
    let next = safe_next(query.next);
    if user.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    let t = i18n::choose(None, &headers);
    render(LoginPage { t, error: None, next, username: String::new() }, StatusCode::OK)
}

pub async fn submit(
    State(state): State<SharedState>,
    ClientAddress(address): ClientAddress,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> ApiResult<Response> {
    let next = safe_next(form.next);
    let t = i18n::choose(None, &headers);
    match check_password(&state, &form.username, form.password, &address).await {
        Ok(user) => {
            state.store.users().record_login(user.user_id, chrono::Utc::now()).await?;
            let cookie = start_session(&state, user.user_id).await?;
            Ok((jar.add(cookie), Redirect::to(&next)).into_response())
        }
        Err(err @ (ApiError::Unauthorized(_) | ApiError::TooManyRequests { .. })) => {
            let status = err.status();
            let message = match err {
                ApiError::TooManyRequests { .. } => err.to_string(),
                _ => t.wrong_credentials.to_owned(),
            };
            render(LoginPage { t, error: Some(message), next, username: form.username }, status)
        }
        Err(other) => Err(other),
    }
}

pub async fn logout(State(state): State<SharedState>, jar: CookieJar) -> ApiResult<Response> {
    let jar = end_session(&state, jar).await?;
    Ok((jar, Redirect::to("/login")).into_response())
}

#[derive(Deserialize)]
pub struct LanguageForm {
    language: String,
    next: Option<String>,
}

/// `POST /language`: the signed-in user's own language (kept in their profile), then back.
pub async fn language(
    State(state): State<SharedState>,
    page: super::PageUser,
    Form(form): Form<LanguageForm>,
) -> Result<Response, super::PageError> {
    let language = match form.language.as_str() {
        code @ ("en" | "fr") => code.to_owned(),
        other => {
            return Err(ApiError::field("language", format!("\"{other}\" is not a valid choice: use en or fr.")).into());
        }
    };
    let update = hygeia_core::ProfileUpdate { language: Some(Some(language)), ..Default::default() };
    state.store.users().update(page.user.account_id, page.user.profile_id, update).await?;
    Ok(Redirect::to(&safe_next(form.next)).into_response())
}
