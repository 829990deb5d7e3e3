//! The code behind each task name: what the workers of `hygeia serve` and `hygeia worker` run.

mod bulk_update;
mod export_org_units;
pub(crate) mod import_file;
mod worker_check;

use hygeia_jobs::Registry;

use crate::state::SharedState;

pub use worker_check::{WORKER_CHECK, worker_check_params};

/// The user who launched `task`, still active in its account and still holding one of
/// `permissions`: tasks act with the rights their launcher has when they run. `doing` ends the
/// refusal's sentence.
pub(crate) async fn launcher(
    state: &SharedState,
    task: &hygeia_core::Task,
    permissions: &[&str],
    doing: &str,
) -> Result<hygeia_core::UserProfile, hygeia_jobs::TaskError> {
    use hygeia_jobs::TaskError;
    let launcher = task.launcher_id.ok_or_else(|| TaskError::failed("The task has no launcher to act as."))?;
    let user = state
        .store
        .users()
        .profile_of_user(launcher)
        .await
        .map_err(TaskError::failed)?
        .filter(|u| u.is_active && u.account_id == task.account_id)
        .ok_or_else(|| TaskError::failed("The user who launched the task no longer exists or is inactive."))?;
    if !permissions.iter().any(|p| user.has_permission(p)) {
        return Err(TaskError::failed(format!("The user who launched the task may no longer {doing}.")));
    }
    Ok(user)
}

/// Every task Hygeia knows, over the server's state.
pub fn registry(state: SharedState) -> Registry {
    let mut registry = Registry::new();
    registry
        .register(crate::api::bulkupdate::TASK_NAME, bulk_update::BulkUpdateTask(state.clone()))
        .register(crate::api::imports::FILE_TASK, import_file::ImportFileTask(state.clone()))
        .register(crate::api::imports::GPKG_TASK, import_file::ImportFileTask(state.clone()))
        .register(crate::api::imports::DHIS2_TASK, import_file::Dhis2ImportTask(state.clone()))
        .register(crate::api::exports::TASK_NAME, export_org_units::ExportOrgUnitsTask(state))
        .register(WORKER_CHECK, worker_check::WorkerCheck);
    registry
}
