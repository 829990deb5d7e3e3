use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::api::token::check_password;
use crate::auth::{ClientAddress, MaybeUser, end_session, start_session};
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<String>,
    next: String,
    username: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    username: String,
    account: String,
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

fn render(page: impl Template, status: StatusCode) -> ApiResult<Response> {
    let html = page.render().map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((status, Html(html)).into_response())
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

pub async fn home(State(state): State<SharedState>, MaybeUser(user): MaybeUser) -> ApiResult<Response> {
    let Some(user) = user else {
        return Ok(Redirect::to("/login").into_response());
    };
    let account = state.store.accounts().get(user.account_id).await?.map(|a| a.name).unwrap_or_default();
    render(HomePage { username: user.username, account }, StatusCode::OK)
}

pub async fn form(MaybeUser(user): MaybeUser, Query(query): Query<NextQuery>) -> ApiResult<Response> {
    let next = safe_next(query.next);
    if user.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    render(LoginPage { error: None, next, username: String::new() }, StatusCode::OK)
}

pub async fn submit(
    State(state): State<SharedState>,
    ClientAddress(address): ClientAddress,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> ApiResult<Response> {
    let next = safe_next(form.next);
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
                _ => "Wrong username or password.".to_owned(),
            };
            render(LoginPage { error: Some(message), next, username: form.username }, status)
        }
        Err(other) => Err(other),
    }
}

pub async fn logout(State(state): State<SharedState>, jar: CookieJar) -> ApiResult<Response> {
    let jar = end_session(&state, jar).await?;
    Ok((jar, Redirect::to("/login")).into_response())
}
