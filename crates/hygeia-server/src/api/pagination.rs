//! Iaso's list envelopes: without `limit`, `{"<key>": [...]}`; with `limit` (and a 1-based `page`),
//! `{"count", "<key>", "has_next", "has_previous", "page", "pages", "limit"}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::IntoParams;

use crate::error::ApiError;

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct PageParams {
    /// Page size; when absent the whole list is returned (for most resources).
    pub limit: Option<String>,
    /// 1-based page number; pages past the end give the last page.
    pub page: Option<String>,
}

const MAX_LIMIT: usize = 10_000;

impl PageParams {
    /// `(limit, page)` when pagination was asked for; a bad number is a 400 naming the parameter.
    pub fn parse(&self) -> Result<Option<(usize, usize)>, ApiError> {
        let Some(limit) = self.limit.as_deref() else {
            return Ok(None);
        };
        let limit = positive("limit", limit)?.min(MAX_LIMIT);
        let page = self.page.as_deref().map(|p| positive("page", p)).transpose()?.unwrap_or(1);
        Ok(Some((limit, page)))
    }
}

pub(crate) fn positive(name: &str, value: &str) -> Result<usize, ApiError> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::field(name, "A positive integer is required.")),
    }
}

/// Wraps `items` in the envelope, paginating when `paging` is set.
pub fn envelope<T: Serialize>(key: &str, items: Vec<T>, paging: Option<(usize, usize)>) -> Value {
    let mut body = Map::new();
    match paging {
        None => {
            body.insert(key.into(), serde_json::to_value(items).unwrap_or_default());
        }
        Some((limit, page)) => {
            let count = items.len();
            let pages = count.div_ceil(limit).max(1);
            let page = page.min(pages);
            let slice: Vec<T> = items.into_iter().skip((page - 1) * limit).take(limit).collect();
            body.insert("count".into(), count.into());
            body.insert(key.into(), serde_json::to_value(slice).unwrap_or_default());
            body.insert("has_next".into(), (page < pages).into());
            body.insert("has_previous".into(), (page > 1).into());
            body.insert("page".into(), page.into());
            body.insert("pages".into(), pages.into());
            body.insert("limit".into(), limit.into());
        }
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_clamped_and_counted() {
        let body = envelope("projects", vec![1, 2, 3, 4, 5], Some((2, 9)));
        assert_eq!(body["projects"], serde_json::json!([5]));
        assert_eq!(body["page"], 3);
        assert_eq!(body["pages"], 3);
        assert_eq!(body["has_next"], false);
        assert_eq!(body["has_previous"], true);
        assert_eq!(envelope("projects", Vec::<i32>::new(), None), serde_json::json!({"projects": []}));
        assert!(PageParams { limit: Some("0".into()), page: None }.parse().is_err());
        assert!(PageParams { limit: Some("10".into()), page: Some("x".into()) }.parse().is_err());
    }
}
