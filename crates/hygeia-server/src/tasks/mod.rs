//! The code behind each task name: what the workers of `hygeia serve` and `hygeia worker` run.

mod bulk_update;
pub(crate) mod import_file;
mod worker_check;

use hygeia_jobs::Registry;

use crate::state::SharedState;

pub use worker_check::{WORKER_CHECK, worker_check_params};

/// Every task Hygeia knows, over the server's state.
pub fn registry(state: SharedState) -> Registry {
    let mut registry = Registry::new();
    registry
        .register(crate::api::bulkupdate::TASK_NAME, bulk_update::BulkUpdateTask(state.clone()))
        .register(crate::api::imports::FILE_TASK, import_file::ImportFileTask(state.clone()))
        .register(crate::api::imports::GPKG_TASK, import_file::ImportFileTask(state.clone()))
        .register(crate::api::imports::DHIS2_TASK, import_file::Dhis2ImportTask(state))
        .register(WORKER_CHECK, worker_check::WorkerCheck);
    registry
}
