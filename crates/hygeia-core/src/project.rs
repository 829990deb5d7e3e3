use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ProjectId, UserId};
use crate::validate::{FieldErrors, ValidationError};

/// A data-collection project: one mobile app configuration, identified on phones by `app_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub account_id: AccountId,
    pub name: String,
    /// Unique across the whole installation: phones find their project by it before they log in.
    pub app_id: String,
    pub description: String,
    pub color: String,
    /// Legacy Iaso flag: anonymous phones may not download or submit.
    pub needs_authentication: bool,
    pub min_version: Option<i64>,
    /// Codes from the feature-flag catalogue.
    pub feature_flags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An entry of the global feature-flag catalogue (Iaso's `FeatureFlag`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureFlag {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub requires_authentication: bool,
    pub order: i64,
    pub is_dangerous: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const DEFAULT_COLOR: &str = "#1976D2";

#[derive(Debug, Clone)]
pub struct NewProject {
    pub name: String,
    pub app_id: String,
    pub description: String,
    pub color: String,
    pub needs_authentication: bool,
    pub feature_flags: Vec<String>,
}

impl NewProject {
    pub fn new(name: impl Into<String>, app_id: impl Into<String>) -> Self {
        NewProject {
            name: name.into(),
            app_id: app_id.into(),
            description: String::new(),
            color: DEFAULT_COLOR.into(),
            needs_authentication: true,
            feature_flags: Vec::new(),
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        errors.check_name("name", &self.name, 255);
        check_app_id(&mut errors, &self.app_id);
        check_color(&mut errors, &self.color);
        check_flags(&mut errors, Some(&self.feature_flags));
        errors.into_result()
    }
}

fn check_flags(errors: &mut FieldErrors, flags: Option<&Vec<String>>) {
    if flags.is_some_and(|f| f.len() > 500) {
        errors.add("feature_flags", "Ensure this list has no more than 500 items.");
    }
}

/// A partial update: `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectUpdate {
    pub name: Option<String>,
    pub app_id: Option<String>,
    pub description: Option<String>,
    pub color: Option<String>,
    pub needs_authentication: Option<bool>,
    pub feature_flags: Option<Vec<String>>,
}

impl ProjectUpdate {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        if let Some(name) = &self.name {
            errors.check_name("name", name, 255);
        }
        if let Some(app_id) = &self.app_id {
            check_app_id(&mut errors, app_id);
        }
        if let Some(color) = &self.color {
            check_color(&mut errors, color);
        }
        check_flags(&mut errors, self.feature_flags.as_ref());
        errors.into_result()
    }
}

/// App ids end up in URLs (`/openrosa/{app_id}/`) and in phone configuration: keep them to a safe
/// alphabet, like Android package names.
fn check_app_id(errors: &mut FieldErrors, app_id: &str) {
    if app_id.is_empty() {
        errors.add("app_id", "This field may not be blank.");
    } else if app_id.len() > 255 {
        errors.add("app_id", "Ensure this field has no more than 255 characters.");
    } else if !app_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        errors.add("app_id", "Use only letters, digits, '.', '_' and '-'.");
    }
}

fn check_color(errors: &mut FieldErrors, color: &str) {
    let hex = color.strip_prefix('#').unwrap_or("");
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        errors.add("color", "Enter a colour as #RRGGBB.");
    }
}

/// A token a phone puts in its server URL (`/openrosa/key/{token}/{app_id}`) instead of a
/// password: it acts as one user, within one project only. The token itself is shown once, at
/// creation; only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppToken {
    pub id: i64,
    pub account_id: AccountId,
    pub project_id: ProjectId,
    /// Whose submissions the phone sends (their permissions and org units apply).
    pub user_id: UserId,
    pub name: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewAppToken {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub name: String,
    pub token_hash: String,
    pub created_by: Option<UserId>,
}

impl NewAppToken {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        errors.check_name("name", &self.name, 255);
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_id_alphabet_is_enforced() {
        assert!(NewProject::new("P", "org.bluesquare.play").validate().is_ok());
        let err = NewProject::new("P", "bad app/id").validate().unwrap_err();
        assert!(err.0.0.contains_key("app_id"));
        let err = NewProject::new(" ", "").validate().unwrap_err();
        assert_eq!(err.0.0.keys().collect::<Vec<_>>(), ["app_id", "name"]);
    }
}
