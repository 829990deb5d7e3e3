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
        let user = super::launcher(&self.0, task, &[perm::ORG_UNITS], "change org units").await?;
        progress.step(0, 1, "Applying the change").await?;
        let count = apply(&self.0, &user, &body).await.map_err(TaskError::failed)?;
        let message = format!("{count} modified");
        progress.step(1, 1, &message).await?;
        Ok(TaskSuccess { message, data: Some(serde_json::json!({ "count": count })) })
    }
}
