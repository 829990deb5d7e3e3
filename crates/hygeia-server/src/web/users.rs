//! The user pages: the account's users (`/users`), a new user (`/users/new`) and one user's
//! permissions, projects, org-unit restrictions and language (`/users/{id}`).
//!
//! Who may manage whom: `iaso_users` manages every user of the account; `iaso_users_managed`
//! only users restricted to units inside the manager's own subtrees, and gives them such units
//! only. Nobody grants a permission they do not hold themselves (superusers hold all), gives a
//! project they are not in, or changes a superuser without being one.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use hygeia_core::permission::{self as perm, Permission};
use hygeia_core::{NewUser, OrgUnitId, ProfileId, ProfileUpdate, Project, ProjectId, UserProfile};

use super::{Chrome, PageResult, PageUser, render};
use crate::api::orgunits::scope_of;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathId;
use crate::state::{AppState, SharedState};

/// What the manager may do.
fn manages_all(manager: &UserProfile) -> bool {
    manager.has_permission(perm::USERS)
}

fn require_manager(page: &PageUser) -> ApiResult<()> {
    if manages_all(&page.user) || page.user.has_permission(perm::USERS_MANAGED) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Whether `manager` may change `user` at all.
async fn may_manage(state: &AppState, manager: &UserProfile, user: &UserProfile) -> ApiResult<bool> {
    if user.is_superuser && !manager.is_superuser {
        return Ok(false);
    }
    if manages_all(manager) {
        return Ok(true);
    }
    // A subtree manager: the user must be restricted, and only to units the manager may see.
    Ok(!user.org_units.is_empty() && units_within(state, manager, &user.org_units).await?)
}

async fn units_within(state: &AppState, manager: &UserProfile, units: &[i64]) -> ApiResult<bool> {
    let scope = scope_of(manager);
    for id in units {
        if state.store.org_units().get(&scope, OrgUnitId(*id)).await?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

struct UserRow {
    profile_id: i64,
    username: String,
    name: String,
    permissions: usize,
    projects: String,
    org_units: String,
    last_login: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct ListPage {
    chrome: Chrome,
    users: Vec<UserRow>,
}

async fn project_names(state: &AppState, page: &PageUser) -> ApiResult<HashMap<ProjectId, String>> {
    Ok(state.store.projects().list(page.user.account_id).await?.into_iter().map(|p| (p.id, p.name)).collect())
}

async fn unit_names(state: &AppState, page: &PageUser, ids: &[i64]) -> ApiResult<HashMap<i64, String>> {
    let mut ids: Vec<OrgUnitId> = ids.iter().copied().map(OrgUnitId).collect();
    ids.sort();
    ids.dedup();
    let catalog = crate::api::catalog::catalog(state, page.user.account_id).await?;
    let units = state.ancestors.load(state, page.user.account_id, catalog.tree_version, &ids).await?;
    Ok(units.into_iter().map(|(id, unit)| (id.0, unit.name)).collect())
}

/// `/users`: those the caller may manage.
pub async fn list(State(state): State<SharedState>, page: PageUser) -> PageResult {
    require_manager(&page)?;
    let mut users = Vec::new();
    for user in state.store.users().list(page.user.account_id).await? {
        if may_manage(&state, &page.user, &user).await? {
            users.push(user);
        }
    }
    users.sort_by(|a, b| a.username.cmp(&b.username));
    let projects = project_names(&state, &page).await?;
    let all_units: Vec<i64> = users.iter().flat_map(|u| u.org_units.iter().copied()).collect();
    let units = unit_names(&state, &page, &all_units).await?;
    let join = |names: Vec<String>| names.join(", ");
    let rows = users
        .iter()
        .map(|u| UserRow {
            profile_id: u.profile_id.0,
            username: u.username.clone(),
            name: format!("{} {}", u.first_name, u.last_name).trim().to_owned(),
            permissions: u.effective_permissions().len(),
            projects: join(u.projects.iter().filter_map(|p| projects.get(p).cloned()).collect()),
            org_units: join(
                u.org_units.iter().map(|id| units.get(id).cloned().unwrap_or_else(|| id.to_string())).collect(),
            ),
            last_login: u.last_login.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default(),
        })
        .collect();
    let chrome = Chrome::new(&state, &page, "users").await?;
    Ok(render(ListPage { chrome, users: rows }, StatusCode::OK)?)
}

/// The form's fields, as typed (kept when refused).
#[derive(Default)]
struct Fields {
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    language: String,
    permissions: Vec<String>,
    projects: Vec<i64>,
    org_units: String,
    is_active: bool,
}

impl Fields {
    fn of(user: &UserProfile) -> Fields {
        Fields {
            username: user.username.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email: user.email.clone(),
            language: user.language.clone().unwrap_or_default(),
            permissions: user.permissions.clone(),
            projects: user.projects.iter().map(|p| p.0).collect(),
            org_units: user.org_units.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
            is_active: user.is_active,
        }
    }

    /// From the posted form (checkboxes repeat their name).
    fn parse(pairs: &[(String, String)]) -> Fields {
        let one =
            |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
        Fields {
            username: one("username"),
            first_name: one("first_name"),
            last_name: one("last_name"),
            email: one("email"),
            language: one("language"),
            permissions: pairs.iter().filter(|(k, _)| k == "permissions").map(|(_, v)| v.clone()).collect(),
            projects: pairs.iter().filter(|(k, _)| k == "projects").filter_map(|(_, v)| v.parse().ok()).collect(),
            org_units: one("org_units"),
            is_active: pairs.iter().any(|(k, v)| k == "is_active" && v == "true"),
        }
    }

    fn org_unit_ids(&self) -> Result<Vec<i64>, String> {
        self.org_units
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<i64>().map_err(|_| format!("org_units: \"{s}\" is not a unit id.")))
            .collect()
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    chrome: Chrome,
    /// `None` for a new user.
    profile_id: Option<i64>,
    fields: Fields,
    /// Permissions the manager may grant (what they hold).
    grantable: Vec<&'static Permission>,
    projects: Vec<Project>,
    org_unit_names: String,
    message: Option<String>,
    error: Option<String>,
}

impl UserPage {
    fn has_permission(&self, codename: &&str) -> bool {
        self.fields.permissions.iter().any(|p| p == codename)
    }

    fn in_project(&self, id: &ProjectId) -> bool {
        self.fields.projects.contains(&id.0)
    }
}

async fn user_page(
    state: &AppState,
    page: &PageUser,
    profile_id: Option<i64>,
    fields: Fields,
    message: Option<String>,
    error: Option<String>,
) -> PageResult {
    let grantable = perm::ALL.iter().filter(|p| page.user.has_permission(p.codename)).collect();
    let mut projects = state.store.projects().list(page.user.account_id).await?;
    if !page.user.projects.is_empty() {
        projects.retain(|p| page.user.projects.contains(&p.id));
    }
    let ids = fields.org_unit_ids().unwrap_or_default();
    let names = unit_names(state, page, &ids).await?;
    let org_unit_names = ids.iter().filter_map(|id| names.get(id).cloned()).collect::<Vec<_>>().join(", ");
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let chrome = Chrome::new(state, page, "users").await?;
    let view = UserPage { chrome, profile_id, fields, grantable, projects, org_unit_names, message, error };
    Ok(render(view, status)?)
}

/// `/users/new`.
pub async fn new_form(State(state): State<SharedState>, page: PageUser) -> PageResult {
    require_manager(&page)?;
    let fields = Fields { is_active: true, ..Default::default() };
    user_page(&state, &page, None, fields, None, None).await
}

/// What the manager may give: their own permissions, projects and subtrees; a subtree manager
/// must restrict the user.
async fn check_grants(state: &AppState, manager: &UserProfile, fields: &Fields) -> Result<Vec<i64>, String> {
    if let Some(p) = fields.permissions.iter().find(|p| !manager.has_permission(p)) {
        return Err(format!("permissions: you cannot grant \"{p}\", which you do not hold."));
    }
    if !manager.projects.is_empty() && !fields.projects.iter().all(|p| manager.projects.contains(&ProjectId(*p))) {
        return Err("projects: you can only give projects you are in.".into());
    }
    let units = fields.org_unit_ids()?;
    if !manages_all(manager) && units.is_empty() {
        return Err("org_units: restrict the user to units of your own subtree.".into());
    }
    match units_within(state, manager, &units).await {
        Ok(true) => Ok(units),
        Ok(false) => Err("org_units: a unit given does not exist or is outside your subtree.".into()),
        Err(err) => Err(err.to_string()),
    }
}

/// `POST /users`: a new user, with a first password; then their page.
pub async fn create(State(state): State<SharedState>, page: PageUser, body: axum::body::Bytes) -> PageResult {
    require_manager(&page)?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let fields = Fields::parse(&pairs);
    let password = pairs.iter().find(|(k, _)| k == "password").map(|(_, v)| v.clone()).unwrap_or_default();
    let units = match check_grants(&state, &page.user, &fields).await {
        Ok(units) => units,
        Err(message) => return user_page(&state, &page, None, fields, None, Some(message)).await,
    };
    if password.chars().count() < 8 {
        let message = "password: give at least 8 characters.".to_owned();
        return user_page(&state, &page, None, fields, None, Some(message)).await;
    }
    let new = NewUser {
        username: fields.username.clone(),
        password_hash: crate::auth::password::hash_password(password).await?,
        first_name: fields.first_name.clone(),
        last_name: fields.last_name.clone(),
        email: fields.email.clone(),
        is_superuser: false,
        is_staff: false,
        language: Some(fields.language.clone()).filter(|l| !l.is_empty()),
        phone_number: None,
        organization: None,
        permissions: fields.permissions.clone(),
        user_roles: Vec::new(),
        projects: fields.projects.iter().copied().map(ProjectId).collect(),
        org_units: units,
    };
    match state.store.users().create(page.user.account_id, new).await {
        Ok(user) => Ok(Redirect::to(&format!("/users/{}?created=1", user.profile_id.0)).into_response()),
        Err(err @ (hygeia_store::StoreError::Invalid(_) | hygeia_store::StoreError::Conflict { .. })) => {
            user_page(&state, &page, None, fields, None, Some(ApiError::from(err).to_string())).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn managed(state: &AppState, page: &PageUser, id: i64) -> ApiResult<UserProfile> {
    let user = state.store.users().get(page.user.account_id, ProfileId(id)).await?.ok_or(ApiError::NotFound)?;
    // Users the caller may not manage are not theirs to see here either.
    if may_manage(state, &page.user, &user).await? { Ok(user) } else { Err(ApiError::NotFound) }
}

/// `/users/{profile id}`.
pub async fn edit_form(
    State(state): State<SharedState>,
    page: PageUser,
    PathId(id): PathId,
    axum::extract::Query(params): axum::extract::Query<HashMap<String, String>>,
) -> PageResult {
    require_manager(&page)?;
    let user = managed(&state, &page, id).await?;
    let message = params.contains_key("created").then(|| page.t.user_created.to_owned());
    user_page(&state, &page, Some(id), Fields::of(&user), message, None).await
}

/// `POST /users/{profile id}`: names, language, active, permissions, projects, restrictions.
pub async fn update(
    State(state): State<SharedState>,
    page: PageUser,
    PathId(id): PathId,
    body: axum::body::Bytes,
) -> PageResult {
    require_manager(&page)?;
    let user = managed(&state, &page, id).await?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let mut fields = Fields::parse(&pairs);
    fields.username = user.username.clone();
    let units = match check_grants(&state, &page.user, &fields).await {
        Ok(units) => units,
        Err(message) => return user_page(&state, &page, Some(id), fields, None, Some(message)).await,
    };
    // Permissions the manager cannot see stay as they were (they were not on the form).
    let mut permissions: Vec<String> =
        user.permissions.iter().filter(|p| !page.user.has_permission(p)).cloned().collect();
    permissions.extend(fields.permissions.iter().cloned());
    let update = ProfileUpdate {
        first_name: Some(fields.first_name.clone()),
        last_name: Some(fields.last_name.clone()),
        email: Some(fields.email.clone()),
        language: Some(Some(fields.language.clone()).filter(|l| !l.is_empty())),
        is_active: Some(fields.is_active || user.user_id == page.user.user_id),
        permissions: Some(permissions),
        projects: Some(fields.projects.iter().copied().map(ProjectId).collect()),
        org_units: Some(units),
        ..Default::default()
    };
    match state.store.users().update(page.user.account_id, user.profile_id, update).await {
        Ok(updated) => {
            user_page(&state, &page, Some(id), Fields::of(&updated), Some(page.t.saved.to_owned()), None).await
        }
        Err(err @ hygeia_store::StoreError::Invalid(_)) => {
            user_page(&state, &page, Some(id), fields, None, Some(ApiError::from(err).to_string())).await
        }
        Err(other) => Err(other.into()),
    }
}
