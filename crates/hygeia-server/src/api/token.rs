//! `POST /api/token/` and `POST /api/token/refresh/`, as djangorestframework-simplejwt answers them.

use std::time::Instant;

use axum::Json;
use axum::extract::{Query, State};
use chrono::Utc;
use hygeia_core::UserProfile;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::jwt::TokenType;
use crate::auth::{ClientAddress, active_profile, password};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonOrForm;
use crate::state::{AppState, SharedState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    username: String,
    password: String,
}

#[derive(Deserialize, IntoParams)]
pub struct AppQuery {
    /// A project's `app_id`: the token is then only issued to users allowed in that project.
    app_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenPairBody {
    refresh: String,
    access: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh: String,
}

#[derive(Serialize, ToSchema)]
pub struct RefreshBody {
    access: String,
    refresh: String,
}

const WRONG_CREDENTIALS: &str = "No active account found with the given credentials";

/// Exchanges a username and password for an access/refresh token pair. Repeated failures for one
/// username or one client address are answered 429 for a minute.
#[utoipa::path(post, path = "/api/token/", tag = "auth", params(AppQuery), request_body = TokenRequest,
    responses(
        (status = 200, body = TokenPairBody),
        (status = 400, description = "A field is missing or malformed"),
        (status = 401, description = "Wrong credentials"),
        (status = 403, description = "The user may not use this project"),
        (status = 404, description = "Unknown app_id"),
        (status = 429, description = "Too many failed attempts"),
    ))]
pub async fn obtain(
    State(state): State<SharedState>,
    Query(query): Query<AppQuery>,
    ClientAddress(address): ClientAddress,
    JsonOrForm(request): JsonOrForm<TokenRequest>,
) -> ApiResult<Json<TokenPairBody>> {
    let user = check_password(&state, &request.username, request.password, &address).await?;
    if let Some(app_id) = query.app_id.as_deref() {
        check_project_access(&state, &user, app_id).await?;
    }
    state.store.users().record_login(user.user_id, Utc::now()).await?;
    let pair = state.tokens.issue_pair(user.user_id);
    Ok(Json(TokenPairBody { refresh: pair.refresh, access: pair.access }))
}

/// Verifies a username and password under the failed-login throttle; shared with the browser
/// login page.
pub async fn check_password(
    state: &AppState,
    username: &str,
    password: String,
    address: &str,
) -> ApiResult<UserProfile> {
    // No account has a longer username (Django's limit); refusing early keeps throttle keys small.
    if username.chars().count() > 150 {
        return Err(ApiError::Unauthorized(WRONG_CREDENTIALS.into()));
    }
    let keys = [format!("user:{}", username.to_lowercase()), format!("ip:{address}")];
    // The attempt counts as a failure from the start, so parallel guesses cannot all slip past the
    // limit while their hashes are being checked; a success takes it back.
    state
        .login_throttle
        .begin_attempt(&keys, Instant::now())
        .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;

    let credentials = state.store.users().credentials(username).await?;
    // Unknown usernames are checked against a decoy hash so both paths take the same time.
    let (hash, candidate) = match &credentials {
        Some(c) if c.is_active => (c.password_hash.clone(), Some(c.user_id)),
        _ => (password::decoy_hash().to_owned(), None),
    };
    let matches = password::verify_password(password, hash).await?;
    let profile = match (matches, candidate) {
        (true, Some(user)) => active_profile(state, user).await?,
        _ => None,
    };
    match profile {
        Some(profile) => {
            state.login_throttle.succeeded(&keys);
            Ok(profile)
        }
        None => Err(ApiError::Unauthorized(WRONG_CREDENTIALS.into())),
    }
}

/// With `?app_id=`, the project must exist and the user must belong to it (Iaso's rule).
async fn check_project_access(state: &AppState, user: &UserProfile, app_id: &str) -> ApiResult<()> {
    let project = state
        .store
        .projects()
        .find_by_app_id(app_id)
        .await?
        .ok_or_else(|| ApiError::NotFoundBecause("Unknown project.".into()))?;
    let allowed =
        project.account_id == user.account_id && (user.projects.is_empty() || user.projects.contains(&project.id));
    if allowed { Ok(()) } else { Err(ApiError::ForbiddenBecause("You don't have access to this project.".into())) }
}

/// Exchanges a refresh token for a new pair; the old refresh token stays valid until it expires.
#[utoipa::path(post, path = "/api/token/refresh/", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = RefreshBody), (status = 401, description = "Invalid or expired refresh token")))]
pub async fn refresh(
    State(state): State<SharedState>,
    JsonOrForm(request): JsonOrForm<RefreshRequest>,
) -> ApiResult<Json<RefreshBody>> {
    let token = state.tokens.verify(&request.refresh, TokenType::Refresh).ok_or(ApiError::InvalidToken)?;
    let profile = active_profile(&state, token.user).await?.ok_or(ApiError::InvalidToken)?;
    if token.issued_at < profile.tokens_valid_from {
        return Err(ApiError::InvalidToken);
    }
    let pair = state.tokens.issue_pair(profile.user_id);
    Ok(Json(RefreshBody { access: pair.access, refresh: pair.refresh }))
}
