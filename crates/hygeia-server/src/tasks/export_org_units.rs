//! `export_org_units`: the export queued by `/api/tasks/create/exportorgunits/`, run as its launcher
//! (who must still read the tree, and sees only their part of it), written to a temporary file,
//! then kept in file storage for `GET /api/tasks/{id}/download/`.

use async_trait::async_trait;
use hygeia_core::Task;
use hygeia_jobs::{ProgressReporter, TaskError, TaskHandler, TaskSuccess};

use crate::api::bulkupdate::as_params;
use crate::api::exports::ExportBody;
use crate::api::orgunits::{TREE_READERS, parse_query, scope_of};
use crate::exports::{ExportError, export_to_file};
use crate::state::SharedState;

pub struct ExportOrgUnitsTask(pub SharedState);

#[async_trait]
impl TaskHandler for ExportOrgUnitsTask {
    async fn run(&self, task: &Task, progress: &dyn ProgressReporter) -> Result<TaskSuccess, TaskError> {
        let state = &self.0;
        let body: ExportBody = serde_json::from_value(task.params["export"].clone())
            .map_err(|err| TaskError::failed(format!("The task's parameters are not an export: {err}")))?;
        let user = super::launcher(state, task, TREE_READERS, "read org units").await?;
        let query = parse_query(state, &user, &as_params(&body.filters))
            .await
            .map_err(|err| TaskError::failed(format!("The filters are no longer valid: {err}")))?;
        let name = format!("org_units-{}.{}", chrono::Utc::now().format("%Y-%m-%d-%H-%M"), body.format);
        let local = std::env::temp_dir().join(format!("hygeia-export-{}-{}", task.id, crate::auth::jwt::random_hex(6)));
        let written = export_to_file(&state.store, scope_of(&user), query, &body.format, &local, progress).await;
        let stored = match written {
            Ok(count) => {
                let key = hygeia_files::FileStore::new_key(task.account_id, "exports", &name);
                state.files.put_file(&key, &local).await.map(|_| (count, key)).map_err(TaskError::failed)
            }
            Err(ExportError::Stopped(stop)) => Err(TaskError::Stopped(stop)),
            Err(err) => Err(TaskError::failed(format!("The export failed: {err}"))),
        };
        let _ = tokio::fs::remove_file(&local).await;
        let (count, key) = stored?;
        let message = format!("{count} org units exported as {}", body.format.to_uppercase());
        progress.step(count as i64, count as i64, &message).await?;
        Ok(TaskSuccess { message, data: Some(serde_json::Value::String(format!("file:{key}"))) })
    }
}
