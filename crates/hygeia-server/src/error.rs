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
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause.to_string()),
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

/// Error responses made below the handlers (body limit, timeout, CSRF, panics, unknown method,
/// axum's own extractor rejections) come without a body or as plain text; this gives them the same
/// JSON shape as the rest, keeping their headers and, for plain text, their message.
pub async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    // JSON is already in shape; HTML pages (the browser login) render their own errors.
    if !(status.is_client_error() || status.is_server_error())
        || content_type.starts_with("application/json")
        || content_type.starts_with("text/html")
        // OpenRosa answers (formList, submissions) are XML that ODK clients read.
        || content_type.starts_with("text/xml")
    {
        return response;
    }
    let (code, default_message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "Request body is too large."),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "The request took too long."),
        // The only empty 403 below the handlers is the CSRF layer's.
        StatusCode::FORBIDDEN => ("permission_denied", "Cross-site request refused (CSRF protection)."),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method not allowed."),
        StatusCode::NOT_FOUND => ("not_found", "Not found."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "Unsupported content type."),
        StatusCode::INTERNAL_SERVER_ERROR => ("internal_error", "Internal server error."),
        _ if status.is_client_error() => ("bad_request", status.canonical_reason().unwrap_or("Bad request.")),
        _ => ("error", status.canonical_reason().unwrap_or("Request failed.")),
    };
    let plain_text = content_type.starts_with("text/plain") && !status.is_server_error();
    let (mut parts, body) = response.into_parts();
    // A rejection's text (e.g. "Failed to deserialize query string: ...") tells the client what to fix.
    let message = match plain_text {
        true => match axum::body::to_bytes(body, 4096).await {
            Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).trim().to_owned(),
            _ => default_message.to_owned(),
        },
        false => default_message.to_owned(),
    };
    let rewritten = error_with_status(status, code, &message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, rewritten.into_body())
}

fn error_with_status(status: StatusCode, code: &'static str, message: &str) -> Response {
    let body = ErrorBody { error: code, message: message.into(), detail: message.into(), code: None, fields: None };
    (status, axum::Json(body)).into_response()
}
