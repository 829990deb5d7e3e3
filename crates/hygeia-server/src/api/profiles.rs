//! `GET /api/profiles/me/`: the caller, in Iaso's profile shape.

use axum::Json;
use axum::extract::State;
use hygeia_core::{Account, UserProfile};
use serde_json::{Value, json};

use crate::api::{epoch, iso};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

/// The authenticated user: identity, effective permissions, roles, restrictions and account.
#[utoipa::path(get, path = "/api/profiles/me/", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "The caller's profile, in Iaso's shape", body = Object),
              (status = 401, description = "Missing, invalid or expired credentials")))]
pub async fn me(State(state): State<SharedState>, CurrentUser(user): CurrentUser) -> ApiResult<Json<Value>> {
    let account = state.store.accounts().get(user.account_id).await?.ok_or(ApiError::NotFound)?;
    let projects = if user.projects.is_empty() {
        Vec::new()
    } else {
        let projects = state.store.projects().list(user.account_id).await?;
        projects
            .iter()
            .filter(|p| user.projects.contains(&p.id))
            .map(|p| json!({"id": p.id, "name": p.name, "app_id": p.app_id, "color": p.color}))
            .collect()
    };
    Ok(Json(profile_json(&user, &account, projects)))
}

pub fn profile_json(user: &UserProfile, account: &Account, projects: Vec<Value>) -> Value {
    json!({
        "id": user.profile_id,
        "first_name": user.first_name,
        "user_name": user.username,
        "last_name": user.last_name,
        "email": user.email,
        "date_joined": iso(user.date_joined),
        "permissions": user.effective_permissions(),
        "user_permissions": user.permissions,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "user_roles": user.user_roles.iter().map(|r| r.id).collect::<Vec<_>>(),
        "user_roles_permissions": user.user_roles.iter().map(|r| json!({
            "id": r.id,
            "name": r.name,
            "permissions": r.permissions,
        })).collect::<Vec<_>>(),
        "language": user.language,
        "organization": user.organization,
        "user_id": user.user_id,
        "dhis2_id": user.dhis2_id,
        "home_page": user.home_page,
        "phone_number": user.phone_number,
        "country_code": country_code(user.phone_number.as_deref()),
        "projects": projects,
        "other_accounts": null,
        "editable_org_unit_types": [],
        "user_roles_editable_org_unit_type_ids": [],
        "color": user.color,
        "account": account_json(account),
        "org_units": user.org_units.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
    })
}

/// The account as nested in a profile (Iaso's `Account.as_dict`).
pub fn account_json(account: &Account) -> Value {
    json!({
        "name": account.name,
        "id": account.id,
        "created_at": epoch(account.created_at),
        "updated_at": epoch(account.updated_at),
        "default_version": null,
        "feature_flags": account.feature_flags,
        "user_manual_path": account.user_manual_path,
        "forum_path": account.forum_path,
        "analytics_script": null,
        "modules": account.modules,
    })
}

/// Iaso derives a lowercase ISO country code from the phone number's calling code; Hygeia knows
/// the calling codes of the countries it is deployed in.
fn country_code(phone: Option<&str>) -> Option<&'static str> {
    const CODES: &[(&str, &str)] = &[
        ("+226", "bf"),
        ("+223", "ml"),
        ("+227", "ne"),
        ("+221", "sn"),
        ("+225", "ci"),
        ("+229", "bj"),
        ("+228", "tg"),
        ("+224", "gn"),
        ("+235", "td"),
        ("+237", "cm"),
        ("+243", "cd"),
        ("+242", "cg"),
        ("+250", "rw"),
        ("+257", "bi"),
        ("+265", "mw"),
        ("+260", "zm"),
        ("+258", "mz"),
        ("+234", "ng"),
        ("+233", "gh"),
        ("+254", "ke"),
        ("+255", "tz"),
        ("+256", "ug"),
        ("+251", "et"),
        ("+32", "be"),
        ("+33", "fr"),
        ("+41", "ch"),
        ("+44", "gb"),
        ("+1", "us"),
    ];
    let phone = phone?;
    CODES.iter().find(|(prefix, _)| phone.starts_with(prefix)).map(|(_, code)| *code)
}
