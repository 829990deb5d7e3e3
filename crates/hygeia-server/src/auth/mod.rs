//! Who is calling: API clients send `Authorization: Bearer <access JWT>`, browsers a session
//! cookie. Both end in the caller's [`UserProfile`], and with it the account every query is
//! scoped to.

pub mod jwt;
pub mod password;
pub mod throttle;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::Utc;
use hygeia_core::{UserId, UserProfile};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;
use jwt::TokenType;

pub const SESSION_COOKIE: &str = "hygeia_session";

/// The authenticated caller. Rejects with 401 when there are no valid credentials.
pub struct CurrentUser(pub UserProfile);

impl CurrentUser {
    /// 403 unless the caller holds `codename` (superusers hold every permission).
    pub fn require(&self, codename: &str) -> Result<(), ApiError> {
        if self.0.has_permission(codename) { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

impl FromRequestParts<Arc<AppState>> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let user = if let Some(authorization) = parts.headers.get(header::AUTHORIZATION) {
            let value = authorization.to_str().map_err(|_| ApiError::InvalidToken)?;
            let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(ApiError::Unauthorized(
                    "Unsupported authorization scheme: send \"Authorization: Bearer <access token>\".".into(),
                ));
            }
            let token = state.tokens.verify(token.trim(), TokenType::Access).ok_or(ApiError::InvalidToken)?;
            let profile = active_profile(state, token.user).await?.ok_or(ApiError::InvalidToken)?;
            // Tokens issued before the last password change are void.
            if token.issued_at < profile.tokens_valid_from {
                return Err(ApiError::InvalidToken);
            }
            profile
        } else if let Some(user) = session_user(&parts.headers, state).await? {
            active_profile(state, user).await?.ok_or_else(ApiError::not_authenticated)?
        } else {
            return Err(ApiError::not_authenticated());
        };
        Ok(CurrentUser(user))
    }
}

/// The caller if authenticated, `None` otherwise (for pages that show a login link instead).
pub struct MaybeUser(pub Option<UserProfile>);

impl FromRequestParts<Arc<AppState>> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        match CurrentUser::from_request_parts(parts, state).await {
            Ok(CurrentUser(user)) => Ok(MaybeUser(Some(user))),
            Err(err @ (ApiError::Internal(_) | ApiError::Unavailable(_))) => Err(err),
            Err(_) => Ok(MaybeUser(None)),
        }
    }
}

/// The profile of an active user; a deleted or deactivated user's credentials stop working at once.
/// A database failure is an error, not "no such user".
pub async fn active_profile(state: &AppState, user: UserId) -> Result<Option<UserProfile>, ApiError> {
    Ok(state.store.users().profile_of_user(user).await?.filter(|profile| profile.is_active))
}

async fn session_user(headers: &HeaderMap, state: &AppState) -> Result<Option<UserId>, ApiError> {
    let jar = CookieJar::from_headers(headers);
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(state.store.sessions().user(&hash_token(cookie.value()), Utc::now()).await?)
}

/// Session and app tokens are stored only as their SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Starts a browser session for `user`; returns the cookie to set.
pub async fn start_session(state: &AppState, user: UserId) -> Result<Cookie<'static>, ApiError> {
    let token = jwt::random_hex(32);
    let ttl = state.settings.auth.session_ttl_secs;
    let expires = Utc::now() + chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX / 1000));
    // (Settings::validate bounds the lifetime, so the addition cannot overflow.)
    state.store.sessions().create(&hash_token(&token), user, expires).await?;
    Ok(Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.auth.secure_cookies)
        .max_age(time::Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX / 1000)))
        .build())
}

/// Ends the browser session carried by `jar`, if any; returns the jar with the cookie removed.
pub async fn end_session(state: &AppState, jar: CookieJar) -> Result<CookieJar, ApiError> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        state.store.sessions().delete(&hash_token(cookie.value())).await?;
    }
    Ok(jar.remove(Cookie::build(SESSION_COOKIE).path("/")))
}

/// The client's address, for throttling: the socket peer, or the last `X-Forwarded-For` hop when
/// configured to trust a reverse proxy.
pub struct ClientAddress(pub String);

impl FromRequestParts<Arc<AppState>> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        // The last hop is the one our proxy appended; earlier ones are whatever the client sent.
        if state.settings.http.trust_forwarded_for
            && let Some(forwarded) = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
            && let Some(last) = forwarded.rsplit(',').next().map(str::trim).filter(|hop| !hop.is_empty())
        {
            return Ok(ClientAddress(last.to_owned()));
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(ClientAddress(peer.unwrap_or_else(|| "unknown".into())))
    }
}
