//! The task pages: the list (`/tasks`) and one task (`/tasks/{id}`), whose progress updates
//! live (htmx polls while a task is queued or running, and stops when it ends); kill, relaunch
//! and the result file's download. The same rights as the API: every task of the account with
//! `iaso_data_tasks`, otherwise the user's own.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use hygeia_core::permission as perm;
use hygeia_core::{Task, TaskId, TaskQuery, TaskStatus, UserProfile};

use super::i18n::Texts;
use super::{Chrome, PageResult, PageUser, render, requested_page, wants_fragment};
use crate::api::tasks::{result_file, visible_task};
use crate::error::ApiResult;
use crate::extract::PathId;
use crate::state::{AppState, SharedState};

const PAGE_SIZE: u64 = 50;

/// A task as its row and its page show it.
pub struct TaskView {
    pub id: i64,
    pub name: String,
    pub status: TaskStatus,
    pub progress: i64,
    pub end: i64,
    /// 0..=100, for the bar.
    pub percent: i64,
    pub message: String,
    pub created: String,
    pub ended: String,
    /// The result's message (`result.message`), when it ended.
    pub outcome: String,
    pub downloadable: bool,
    pub can_kill: bool,
    pub can_relaunch: bool,
    pub active: bool,
}

impl TaskView {
    fn of(task: &Task) -> TaskView {
        let active = matches!(task.status, TaskStatus::Queued | TaskStatus::Running);
        let percent = match (task.status, task.end_value) {
            (TaskStatus::Success, _) => 100,
            (_, end) if end > 0 => (task.progress_value * 100 / end).clamp(0, 100),
            _ => 0,
        };
        TaskView {
            id: task.id.0,
            name: task.name.clone(),
            status: task.status,
            progress: task.progress_value,
            end: task.end_value,
            percent,
            message: task.progress_message.clone().unwrap_or_default(),
            created: task.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ended: task.ended_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default(),
            outcome: task.result.as_ref().and_then(|r| r["message"].as_str()).map(str::to_owned).unwrap_or_default(),
            downloadable: result_file(task).is_ok(),
            can_kill: active && !task.should_be_killed,
            can_relaunch: matches!(task.status, TaskStatus::Errored | TaskStatus::Killed),
            active,
        }
    }
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct ListPage {
    chrome: Chrome,
    tasks: Vec<TaskView>,
    page: u64,
    pages: u64,
    polling: bool,
}

#[derive(Template)]
#[template(path = "tasks_table.html")]
struct TablePart {
    t: &'static Texts,
    tasks: Vec<TaskView>,
    page: u64,
    pages: u64,
    polling: bool,
}

fn sees_every_task(user: &UserProfile) -> bool {
    user.has_permission(perm::DATA_TASKS)
}

/// `/tasks`: newest first; the table alone for htmx (it polls itself while a task is active).
pub async fn list(
    State(state): State<SharedState>,
    page: PageUser,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let number = requested_page(&params);
    let mut query = TaskQuery { page: Some((PAGE_SIZE, (number - 1).saturating_mul(PAGE_SIZE))), ..Default::default() };
    if !sees_every_task(&page.user) {
        query.launchers = vec![page.user.user_id];
    }
    let result = state.store.tasks().list(page.user.account_id, &query).await?;
    let pages = result.count.div_ceil(PAGE_SIZE).max(1);
    let tasks: Vec<TaskView> = result.items.iter().map(TaskView::of).collect();
    let polling = tasks.iter().any(|t| t.active);
    if wants_fragment(&headers) {
        return Ok(render(TablePart { t: page.t, tasks, page: number, pages, polling }, StatusCode::OK)?);
    }
    let chrome = Chrome::new(&state, &page, "tasks").await?;
    Ok(render(ListPage { chrome, tasks, page: number, pages, polling }, StatusCode::OK)?)
}

#[derive(Template)]
#[template(path = "task.html")]
struct TaskPage {
    chrome: Chrome,
    task: TaskView,
    logs: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "task_progress.html")]
struct ProgressPart {
    t: &'static Texts,
    task: TaskView,
    logs: Vec<(String, String)>,
}

async fn load(state: &AppState, user: &UserProfile, id: i64) -> ApiResult<(TaskView, Vec<(String, String)>)> {
    let task = visible_task(state, user, TaskId(id)).await?;
    let logs = state.store.tasks().logs(user.account_id, task.id).await?;
    let logs = logs
        .into_iter()
        .rev()
        .take(20)
        .map(|log| (log.created_at.format("%H:%M:%S").to_string(), log.message))
        .collect();
    Ok((TaskView::of(&task), logs))
}

/// `/tasks/{id}`: the page, or (for htmx) its progress panel, which polls while the task runs.
pub async fn detail(
    State(state): State<SharedState>,
    page: PageUser,
    headers: HeaderMap,
    PathId(id): PathId,
) -> PageResult {
    let (task, logs) = load(&state, &page.user, id).await?;
    if wants_fragment(&headers) {
        return Ok(render(ProgressPart { t: page.t, task, logs }, StatusCode::OK)?);
    }
    let chrome = Chrome::new(&state, &page, "tasks").await?;
    Ok(render(TaskPage { chrome, task, logs }, StatusCode::OK)?)
}

/// `POST /tasks/{id}/kill`: asks the task to stop (a queued one stops at once).
pub async fn kill(
    State(state): State<SharedState>,
    page: PageUser,
    headers: HeaderMap,
    PathId(id): PathId,
) -> PageResult {
    let task = visible_task(&state, &page.user, TaskId(id)).await?;
    state.store.tasks().set_should_be_killed(page.user.account_id, task.id, true).await?;
    after_change(&state, &page, &headers, id).await
}

/// `POST /tasks/{id}/relaunch`: queues an errored or killed task again.
pub async fn relaunch(
    State(state): State<SharedState>,
    page: PageUser,
    headers: HeaderMap,
    PathId(id): PathId,
) -> PageResult {
    let task = visible_task(&state, &page.user, TaskId(id)).await?;
    state.store.tasks().relaunch(page.user.account_id, task.id).await?;
    after_change(&state, &page, &headers, id).await
}

/// htmx gets the progress panel again; a plain form post goes back to the task's page.
async fn after_change(state: &AppState, page: &PageUser, headers: &HeaderMap, id: i64) -> PageResult {
    if !wants_fragment(headers) {
        return Ok(Redirect::to(&format!("/tasks/{id}")).into_response());
    }
    let (task, logs) = load(state, &page.user, id).await?;
    Ok(render(ProgressPart { t: page.t, task, logs }, StatusCode::OK)?)
}
