//! `org_unit_bulk_update`: the bulk change of `/api/tasks/create/orgunitsbulkupdate/`, applied as
//! its launcher, with the rights the launcher has when it runs.

use async_trait::async_trait;
use hygeia_core::Task;
use hygeia_core::permission as perm;
use hygeia_jobs::{ProgressReporter, TaskError, TaskHandler, TaskSuccess};

use crate::api::bulkupdate::{BulkUpdateBody, apply};
use crate::state::SharedState;

pub struct BulkUpdateTask(pub SharedState);

#[async_trait]
impl TaskHandler for BulkUpdateTask {
    async fn run(&self, task: &Task, progress: &dyn ProgressReporter) -> Result<TaskSuccess, TaskError> {
        let body: BulkUpdateBody = serde_json::from_value(task.params["body"].clone())
            .map_err(|err| TaskError::failed(format!("The task's parameters are not a bulk update: {err}")))?;
        let launcher = task.launcher_id.ok_or_else(|| TaskError::failed("The task has no launcher to act as."))?;
        let user = self
            .0
            .store
            .users()
            .profile_of_user(launcher)
            .await
            .map_err(TaskError::failed)?
            .filter(|u| u.is_active && u.account_id == task.account_id)
            .ok_or_else(|| TaskError::failed("The user who launched the task no longer exists or is inactive."))?;
        if !user.has_permission(perm::ORG_UNITS) {
            return Err(TaskError::failed("The user who launched the task may no longer change org units."));
        }
        progress.step(0, 1, "Applying the change").await?;
        let count = apply(&self.0, &user, &body).await.map_err(TaskError::failed)?;
        let message = format!("{count} modified");
        progress.step(1, 1, &message).await?;
        Ok(TaskSuccess { message, data: Some(serde_json::json!({ "count": count })) })
    }
}
