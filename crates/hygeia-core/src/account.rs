use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::AccountId;
use crate::validate::{FieldErrors, ValidationError};

/// A tenant. Everything a user can see belongs to exactly one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// The source version holding the account's live org-unit tree (set once the georegistry exists).
    pub default_version_id: Option<i64>,
    /// Enabled modules (Iaso's `Account.modules`), e.g. `DEFAULT`, `DATA_COLLECTION_FORMS`.
    pub modules: Vec<String>,
    /// Account-level feature flags (Iaso's `AccountFeatureFlag` codes).
    pub feature_flags: Vec<String>,
    pub user_manual_path: String,
    pub forum_path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub modules: Vec<String>,
}

impl NewAccount {
    /// A new account with the modules a fresh Iaso account gets.
    pub fn named(name: impl Into<String>) -> Self {
        NewAccount { name: name.into(), modules: vec!["DEFAULT".into(), "DATA_COLLECTION_FORMS".into()] }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        errors.check_name("name", &self.name, 255);
        errors.into_result()
    }
}
