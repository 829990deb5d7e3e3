//! `/`: the account, its projects, how many units and forms it has, and the user's recent tasks.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use hygeia_core::{FormQuery, OrgUnitQuery, Project, Task, TaskQuery, ValidationStatus};

use super::{Chrome, PageResult, PageUser, render};
use crate::api::orgunits::scope_of;
use crate::state::SharedState;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    projects: Vec<Project>,
    valid_units: u64,
    forms: usize,
    tasks: Vec<Task>,
}

pub async fn page(State(state): State<SharedState>, page: PageUser) -> PageResult {
    let user = &page.user;
    let mut projects = state.store.projects().list(user.account_id).await?;
    if !user.projects.is_empty() {
        projects.retain(|p| user.projects.contains(&p.id));
    }
    let counted =
        OrgUnitQuery { validation_statuses: vec![ValidationStatus::Valid], page: Some((0, 0)), ..Default::default() };
    let valid_units = state.store.org_units().list(&scope_of(user), &counted).await?.count;
    let forms = state.store.forms().list(user.account_id, &FormQuery::default()).await?.len();
    let mine = TaskQuery { launchers: vec![user.user_id], page: Some((5, 0)), ..Default::default() };
    let tasks = state.store.tasks().list(user.account_id, &mine).await?.items;
    let chrome = Chrome::new(&state, &page, "home").await?;
    Ok(render(HomePage { chrome, projects, valid_units, forms, tasks }, StatusCode::OK)?)
}
