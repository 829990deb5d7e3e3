use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ProfileId, ProjectId, UserId, UserRoleId};
use crate::permission;
use crate::validate::{FieldErrors, ValidationError};

/// A user as seen inside one account: login identity plus the profile that ties it to the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserProfile {
    pub user_id: UserId,
    pub profile_id: ProfileId,
    pub account_id: AccountId,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_superuser: bool,
    pub is_staff: bool,
    pub is_active: bool,
    pub date_joined: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
    pub language: Option<String>,
    pub organization: Option<String>,
    pub phone_number: Option<String>,
    pub dhis2_id: Option<String>,
    pub home_page: Option<String>,
    pub color: String,
    /// Permissions granted to the user directly, sorted.
    pub permissions: Vec<String>,
    /// Roles held, sorted by name, each with its permissions.
    pub user_roles: Vec<UserRoleRef>,
    /// Projects the user is limited to; empty means every project of the account.
    pub projects: Vec<ProjectId>,
    /// Roots of the subtrees the user is limited to; empty means the whole account.
    pub org_units: Vec<i64>,
    /// Unix seconds: API tokens issued before this instant are refused (moved on password change).
    pub tokens_valid_from: i64,
}

impl UserProfile {
    /// Permissions that come from roles, sorted and deduplicated.
    pub fn role_permissions(&self) -> Vec<String> {
        let mut all: Vec<String> = self.user_roles.iter().flat_map(|r| r.permissions.iter().cloned()).collect();
        all.sort();
        all.dedup();
        all
    }

    /// Direct permissions and role permissions together, sorted and deduplicated.
    pub fn effective_permissions(&self) -> Vec<String> {
        let mut all = self.role_permissions();
        all.extend(self.permissions.iter().cloned());
        all.sort();
        all.dedup();
        all
    }

    /// Superusers hold every permission, as in Iaso.
    pub fn has_permission(&self, codename: &str) -> bool {
        self.is_superuser
            || self.permissions.iter().any(|p| p == codename)
            || self.user_roles.iter().any(|r| r.permissions.iter().any(|p| p == codename))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRoleRef {
    pub id: UserRoleId,
    pub name: String,
    pub permissions: Vec<String>,
}

/// What login needs to know about a username, and nothing more.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user_id: UserId,
    pub password_hash: String,
    pub is_active: bool,
}

/// A user to create inside an account. The password arrives already hashed: hashing is the
/// auth layer's business, storage never sees a clear password.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_superuser: bool,
    pub is_staff: bool,
    pub language: Option<String>,
    pub phone_number: Option<String>,
    pub organization: Option<String>,
    pub permissions: Vec<String>,
    pub user_roles: Vec<UserRoleId>,
    pub projects: Vec<ProjectId>,
    pub org_units: Vec<i64>,
}

impl NewUser {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        check_username(&mut errors, &self.username);
        check_text(&mut errors, "first_name", Some(&self.first_name), 150);
        check_text(&mut errors, "last_name", Some(&self.last_name), 150);
        check_text(&mut errors, "email", Some(&self.email), 254);
        check_text(&mut errors, "organization", self.organization.as_deref(), 255);
        check_list_len(&mut errors, "projects", Some(&self.projects), MAX_PROJECTS);
        check_list_len(&mut errors, "user_roles", Some(&self.user_roles), MAX_USER_ROLES);
        check_list_len(&mut errors, "org_units", Some(&self.org_units), MAX_ORG_UNITS);
        if self.password_hash.is_empty() {
            errors.add("password", "This field is required.");
        }
        check_profile_fields(
            &mut errors,
            Some(&self.email),
            self.language.as_deref(),
            self.phone_number.as_deref(),
            Some(&self.permissions),
        );
        errors.into_result()
    }
}

/// A partial update of a user's profile; `None` leaves the field unchanged.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub language: Option<Option<String>>,
    pub phone_number: Option<Option<String>>,
    pub organization: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub permissions: Option<Vec<String>>,
    pub user_roles: Option<Vec<UserRoleId>>,
    pub projects: Option<Vec<ProjectId>>,
    pub org_units: Option<Vec<i64>>,
}

impl ProfileUpdate {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        check_text(&mut errors, "first_name", self.first_name.as_deref(), 150);
        check_text(&mut errors, "last_name", self.last_name.as_deref(), 150);
        check_text(&mut errors, "email", self.email.as_deref(), 254);
        check_text(&mut errors, "organization", self.organization.as_ref().and_then(Option::as_deref), 255);
        check_list_len(&mut errors, "projects", self.projects.as_ref(), MAX_PROJECTS);
        check_list_len(&mut errors, "user_roles", self.user_roles.as_ref(), MAX_USER_ROLES);
        check_list_len(&mut errors, "org_units", self.org_units.as_ref(), MAX_ORG_UNITS);
        check_profile_fields(
            &mut errors,
            self.email.as_ref(),
            self.language.as_ref().and_then(Option::as_deref),
            self.phone_number.as_ref().and_then(Option::as_deref),
            self.permissions.as_ref(),
        );
        errors.into_result()
    }
}

/// A named set of permissions, owned by one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRole {
    pub id: UserRoleId,
    pub account_id: AccountId,
    pub name: String,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct UserRoleInput {
    pub name: String,
    pub permissions: Vec<String>,
}

impl UserRoleInput {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = FieldErrors::default();
        errors.check_name("name", &self.name, 150);
        check_permissions(&mut errors, &self.permissions);
        errors.into_result()
    }
}

/// Django's username rule: 1-150 characters, letters, digits and `@.+-_`.
fn check_username(errors: &mut FieldErrors, username: &str) {
    if username.is_empty() {
        errors.add("username", "This field may not be blank.");
    } else if username.chars().count() > 150 {
        errors.add("username", "Ensure this field has no more than 150 characters.");
    } else if !username.chars().all(|c| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_')) {
        errors.add("username", "Enter a valid username: letters, digits and @/./+/-/_ only.");
    }
}

/// Upper bounds on list inputs, far above real use, so that no request can build an oversized query.
pub const MAX_PROJECTS: usize = 1_000;
pub const MAX_USER_ROLES: usize = 1_000;
pub const MAX_ORG_UNITS: usize = 10_000;

fn check_list_len<T>(errors: &mut FieldErrors, field: &str, list: Option<&Vec<T>>, max: usize) {
    if list.is_some_and(|l| l.len() > max) {
        errors.add(field, format!("Ensure this list has no more than {max} items."));
    }
}

/// Free-text profile fields: bounded, single-line.
fn check_text(errors: &mut FieldErrors, field: &str, value: Option<&str>, max_chars: usize) {
    if let Some(value) = value {
        if value.chars().count() > max_chars {
            errors.add(field, format!("Ensure this field has no more than {max_chars} characters."));
        } else if value.chars().any(char::is_control) {
            errors.add(field, "Control characters are not allowed.");
        }
    }
}

fn check_profile_fields(
    errors: &mut FieldErrors,
    email: Option<&String>,
    language: Option<&str>,
    phone_number: Option<&str>,
    permissions: Option<&Vec<String>>,
) {
    if let Some(email) = email.filter(|e| !e.is_empty()) {
        let valid = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !email.chars().any(char::is_whitespace)
        });
        if !valid {
            errors.add("email", "Enter a valid email address.");
        }
    }
    if let Some(language) = language
        && !matches!(language, "en" | "fr")
    {
        errors.add("language", format!("\"{language}\" is not a valid choice: use en or fr."));
    }
    if let Some(phone) = phone_number {
        // E.164: a plus sign and 8 to 15 digits.
        let digits = phone.strip_prefix('+').unwrap_or("");
        if !(8..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
            errors.add("phone_number", "Enter a phone number in international format, e.g. +22670000000.");
        }
    }
    if let Some(permissions) = permissions {
        check_permissions(errors, permissions);
    }
}

fn check_permissions(errors: &mut FieldErrors, permissions: &[String]) {
    if permissions.len() > 4 * permission::ALL.len() {
        errors.add("permissions", "Too many permissions.");
        return;
    }
    for unknown in permission::unknown(permissions.iter().map(String::as_str)) {
        errors.add("permissions", format!("Unknown permission \"{unknown}\"."));
    }
}

/// Password policy at the edge (CLI, API): long enough to matter, short enough to hash cheaply.
pub fn validate_password(password: &str) -> Result<(), ValidationError> {
    let chars = password.chars().count();
    if chars < 8 {
        Err(ValidationError::field("password", "This password is too short: use at least 8 characters."))
    } else if password.len() > 1024 {
        Err(ValidationError::field("password", "This password is too long: use at most 1024 bytes."))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(username: &str) -> NewUser {
        NewUser { username: username.into(), password_hash: "x".into(), ..Default::default() }
    }

    #[test]
    fn usernames_follow_django_rules() {
        assert!(user("jean.dupont+1@moh").validate().is_ok());
        assert!(user("élodie").validate().is_ok());
        assert!(user("with space").validate().is_err());
        assert!(user("").validate().is_err());
    }

    #[test]
    fn profile_fields_are_checked() {
        let mut u = user("a");
        u.email = "not-an-email".into();
        u.language = Some("de".into());
        u.phone_number = Some("0700".into());
        u.permissions = vec!["iaso_forms".into(), "iaso_bogus".into()];
        let fields = u.validate().unwrap_err().0.0;
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["email", "language", "permissions", "phone_number"]);
        assert_eq!(fields["permissions"], ["Unknown permission \"iaso_bogus\"."]);
    }

    #[test]
    fn passwords_need_eight_characters() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
    }
}
