//! The HTTP layer's one error type. Every failure a client can cause becomes a 4xx with a JSON body
//! `{"error": code, "message": ..., "detail": ..., "fields": {field: [messages]}}`; `detail`
//! repeats `message` for clients written against Iaso (Django REST framework). Internal errors are
//! logged with the request's id and answered with a generic 500.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hygeia_core::ValidationError;
use hygeia_store::StoreError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Validation(ValidationError),
    #[error("{message}")]
    Conflict { field: &'static str, message: String },
    /// No credentials, or wrong ones.
    #[error("{0}")]
    Unauthorized(String),
    /// A bearer token that is malformed, forged, expired or of the wrong type.
    #[error("Given token not valid for any token type")]
    InvalidToken,
    #[error("You do not have permission to perform this action.")]
    Forbidden,
    #[error("{0}")]
    ForbiddenBecause(String),
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    NotFoundBecause(String),
    #[error("Request body is too large.")]
    PayloadTooLarge,
    #[error("Method not allowed.")]
    MethodNotAllowed,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("Too many failed attempts; try again in {} seconds.", .retry_after.as_secs().max(1))]
    TooManyRequests { retry_after: Duration },
    #[error("The server is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<BTreeMap<String, Vec<String>>>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unauthorized(_) | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::ForbiddenBecause(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::NotFoundBecause(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Validation(_) => "validation_error",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Unauthorized(_) => "not_authenticated",
            ApiError::InvalidToken => "token_not_valid",
            ApiError::Forbidden | ApiError::ForbiddenBecause(_) => "permission_denied",
            ApiError::NotFound | ApiError::NotFoundBecause(_) => "not_found",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(ValidationError::field(field, message))
    }

    pub fn not_authenticated() -> Self {
        ApiError::Unauthorized("Authentication credentials were not provided.".into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "Internal server error.".to_owned()
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "service unavailable");
                "The service is unavailable.".to_owned()
            }
            ApiError::Validation(err) => {
                if err.0.0.len() == 1 {
                    err.to_string().replacen("invalid input: ", "", 1)
                } else {
                    err.to_string()
                }
            }
            other => other.to_string(),
        };
        let fields = match &self {
            ApiError::Validation(err) => Some(err.0.0.clone()),
            ApiError::Conflict { field, message } => {
                Some(BTreeMap::from([((*field).to_owned(), vec![message.clone()])]))
            }
            _ => None,
        };
        let body = ErrorBody {
            error: self.code(),
            detail: message.clone(),
            message,
            code: matches!(self, ApiError::InvalidToken).then_some("token_not_valid"),
            fields,
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized(_) | ApiError::InvalidToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"api\""));
            }
            ApiError::TooManyRequests { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict { field, message } => ApiError::Conflict { field, message },
            StoreError::Invalid(err) => ApiError::Validation(err),
            StoreError::Backend(cause) => ApiError::Internal(cause.to_string()),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        ApiError::Validation(err)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Error responses made below the handlers (body limit, timeout, CSRF, panics, unknown method)
/// come without a body or as plain text; this gives them the same JSON shape as the rest.
pub async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    // HTML pages (the browser login) render their own errors.
    if response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html")) {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "Request body is too large."),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "The request took too long."),
        // The only empty 403 below the handlers is the CSRF layer's.
        StatusCode::FORBIDDEN => ("permission_denied", "Cross-site request refused (CSRF protection)."),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method not allowed."),
        StatusCode::NOT_FOUND => ("not_found", "Not found."),
        StatusCode::INTERNAL_SERVER_ERROR => ("internal_error", "Internal server error."),
        _ => ("error", status.canonical_reason().unwrap_or("Request failed.")),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut rewritten = error_with_status(status, code, message);
    if let Some(allow) = allow {
        rewritten.headers_mut().insert(header::ALLOW, allow);
    }
    rewritten
}

fn error_with_status(status: StatusCode, code: &'static str, message: &str) -> Response {
    let body = ErrorBody { error: code, message: message.into(), detail: message.into(), code: None, fields: None };
    (status, axum::Json(body)).into_response()
}
