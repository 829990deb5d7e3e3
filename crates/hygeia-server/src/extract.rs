//! Request body extractors whose rejections name the field at fault, in the API's error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Malformed JSON is a 400 naming the position; a wrong type, a missing or an unknown
/// field is a 400 naming the field; another content type is a 415; an oversize body a 413.
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(ApiError::UnsupportedMediaType(
                "Expected a JSON body (Content-Type: application/json).".into(),
            ));
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(AppJson)
    }
}

/// A JSON or `application/x-www-form-urlencoded` body, as Django REST framework accepts on its
/// token endpoints (data-science clients post forms there).
pub struct JsonOrForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonOrForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let form = content_type(&req).is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if !form && !is_json(&req) {
            return Err(ApiError::UnsupportedMediaType(
                "Expected a JSON or form-encoded body (Content-Type: application/json).".into(),
            ));
        }
        let bytes = read_body(req, state).await?;
        if form {
            let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(&bytes));
            serde_path_to_error::deserialize(deserializer)
                .map(JsonOrForm)
                .map_err(|err| data_error(&err.path().to_string(), &err.inner().to_string()))
        } else {
            parse_json(&bytes).map(JsonOrForm)
        }
    }
}

/// The numeric id at the end of a resource path (`/api/projects/{id}/`). Anything that is not an
/// id names no resource: 404, as an unknown id.
pub struct PathId(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state).await.map_err(|_| ApiError::NotFound)?;
        raw.parse().map(PathId).map_err(|_| ApiError::NotFound)
    }
}

fn content_type(req: &Request) -> Option<&str> {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

fn is_json(req: &Request) -> bool {
    content_type(req).is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim();
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
    })
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(format!("Could not read the request body: {}", rejection.body_text()))
        }
    })
}

/// Parses a request body, which in this API is always a JSON object.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => {}
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(ApiError::field("non_field_errors", "Expected a JSON object."));
        }
        Some(_) => {}
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let inner = err.inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::BadRequest(format!("JSON parse error - {inner}"))
        } else {
            data_error(&err.path().to_string(), &strip_position(&inner.to_string()))
        }
    })?;
    deserializer.end().map_err(|err| ApiError::BadRequest(format!("JSON parse error - {err}")))?;
    Ok(value)
}

/// Names the field a serde data error is about. The path points at the field, except for a
/// missing field, where it points at the parent and serde quotes the name in backticks.
fn data_error(path: &str, message: &str) -> ApiError {
    let root = path.is_empty() || path == ".";
    let quoted = message.split('`').nth(1);
    let field = match (message.starts_with("missing field"), quoted) {
        (true, Some(name)) if root => name.to_owned(),
        (true, Some(name)) => format!("{path}.{name}"),
        _ if root => quoted.filter(|_| message.starts_with("unknown field")).unwrap_or("non_field_errors").to_owned(),
        _ => path.to_owned(),
    };
    let message = if message.starts_with("missing field") {
        "This field is required.".to_owned()
    } else if message.starts_with("unknown field") {
        "Unknown field.".to_owned()
    } else {
        upper_first(message)
    };
    ApiError::field(&field, message)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn upper_first(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str().trim_end_matches('.')),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        username: String,
        password: String,
    }

    fn fields(err: ApiError) -> Vec<(String, Vec<String>)> {
        match err {
            ApiError::Validation(v) => v.0.0.into_iter().collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let missing = parse_json::<Login>(br#"{"username":"a"}"#).unwrap_err();
        assert_eq!(fields(missing), [("password".to_owned(), vec!["This field is required.".to_owned()])]);
        let unknown = parse_json::<Login>(br#"{"username":"a","password":"b","admin":true}"#).unwrap_err();
        assert_eq!(fields(unknown)[0].0, "admin");
        let wrong_type = parse_json::<Login>(br#"{"username":5,"password":"b"}"#).unwrap_err();
        let wrong = fields(wrong_type);
        assert_eq!(wrong[0].0, "username");
        assert!(wrong[0].1[0].starts_with("Invalid type: integer `5`, expected a string"), "{wrong:?}");
    }

    #[test]
    fn malformed_json_is_a_parse_error() {
        match parse_json::<Login>(br#"{"username":"#) {
            Err(ApiError::BadRequest(message)) => {
                assert!(message.starts_with("JSON parse error - "), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_json::<Login>(b"[] trailing"),
            Err(ApiError::BadRequest(_)) | Err(ApiError::Validation(_))
        ));
    }
}
