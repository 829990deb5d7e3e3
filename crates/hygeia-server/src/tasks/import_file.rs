//! `import_file` / `import_gpkg_task` / `dhis2_ou_importer`: imports queued from the API, run as
//! their launcher (who must still hold `iaso_sources`), with the import's progress and summary.

use async_trait::async_trait;
use futures_util::StreamExt;
use hygeia_core::permission as perm;
use hygeia_core::{Task, UserProfile, ValidationStatus};
use hygeia_formats::csv_tree::{self, DataDict};
use hygeia_formats::features::FeatureMapping;
use hygeia_formats::{FormatError, TreeDraft, dhis2, geojson, gpkg, shapefile};
use hygeia_jobs::{ProgressReporter, TaskError, TaskHandler, TaskSuccess};
use tokio::io::AsyncWriteExt;

use crate::api::imports::FileImport;
use crate::imports::{ImportError, ImportTarget, import_draft};
use crate::state::SharedState;

pub struct ImportFileTask(pub SharedState);
pub struct Dhis2ImportTask(pub SharedState);

/// How a file's content maps to units.
pub enum Mapping {
    Csv(DataDict, String),
    Features(FeatureMapping),
    None,
}

/// The mapping a file import asks for, checked.
pub fn mapping_of(import: &FileImport) -> Result<Mapping, FormatError> {
    Ok(match import.format.as_str() {
        "csv" => {
            let dict = match &import.mapping {
                Some(dict) => DataDict::from_json(&dict.to_string())?,
                None => DataDict::iaso_export(),
            };
            Csv(dict, import.leaf_type.clone().unwrap_or_else(|| "Facility".into()))
        }
        "geojson" | "shp" => {
            let mut mapping = FeatureMapping::default();
            if let Some(given) = &import.mapping {
                let object = given.as_object().ok_or_else(|| FormatError::mapping("mapping", "Give an object."))?;
                for (key, value) in object {
                    let value = value.as_str().ok_or_else(|| FormatError::mapping(key, "Name a property."))?.to_owned();
                    match key.as_str() {
                        "id" => mapping.id = value,
                        "parent" => mapping.parent = value,
                        "name" => mapping.name = value,
                        "type" => mapping.type_name = value,
                        "level" => mapping.level = value,
                        other => return Err(FormatError::mapping(other, "Map id, parent, name, type or level.")),
                    }
                }
            }
            Mapping::Features(mapping)
        }
        _ => Mapping::None,
    })
}
use Mapping::Csv;

async fn launcher(state: &SharedState, task: &Task) -> Result<UserProfile, TaskError> {
    super::launcher(state, task, &[perm::SOURCES], "import into data sources").await
}

fn failed(err: ImportError) -> TaskError {
    match err {
        ImportError::Stopped(stop) => TaskError::Stopped(stop),
        other => TaskError::failed(format!("The import was refused; nothing was written. {other}")),
    }
}

async fn run_import(
    state: &SharedState,
    task: &Task,
    user: &UserProfile,
    draft: &TreeDraft,
    params: (&str, Option<i64>, &str, &str),
    progress: &dyn ProgressReporter,
) -> Result<TaskSuccess, TaskError> {
    let (source_name, version_number, status, audit_source) = params;
    let target = ImportTarget {
        account: task.account_id,
        source_name: source_name.to_owned(),
        version_number,
        validation_status: ValidationStatus::parse(status).unwrap_or(ValidationStatus::New),
        actor: Some(user.user_id),
        audit_source: audit_source.into(),
    };
    let summary = import_draft(&state.store, &target, draft, progress).await.map_err(failed)?;
    Ok(TaskSuccess { message: summary.to_string(), data: Some(summary.to_json()) })
}

#[async_trait]
impl TaskHandler for ImportFileTask {
    async fn run(&self, task: &Task, progress: &dyn ProgressReporter) -> Result<TaskSuccess, TaskError> {
        let state = &self.0;
        let import: FileImport = serde_json::from_value(task.params["import"].clone())
            .map_err(|err| TaskError::failed(format!("The task's parameters are not an import: {err}")))?;
        let user = launcher(state, task).await?;
        progress.step(0, 1, "Reading the file").await?;
        // The upload comes back from file storage into a private temporary file (a GeoPackage is
        // read by SQLite, which needs a path).
        let local = std::env::temp_dir().join(format!("hygeia-import-{}-{}", task.id, crate::auth::jwt::random_hex(6)));
        let fetched = fetch(state, task, &import.file_key, &local).await;
        let draft = match fetched {
            Ok(()) => read(&import, &local).await,
            Err(err) => Err(err),
        };
        let _ = tokio::fs::remove_file(&local).await;
        let draft = draft?;
        let audit =
            if import.format == "shp" { "shapefile_import".to_owned() } else { format!("{}_import", import.format) };
        let params =
            (import.source_name.as_str(), import.version_number, import.validation_status.as_str(), audit.as_str());
        let outcome = run_import(state, task, &user, &draft, params, progress).await;
        if outcome.is_ok() {
            // The units hold what the file said; the upload itself is not kept.
            let _ = state.files.delete(task.account_id, &import.file_key).await;
        }
        outcome
    }
}

async fn fetch(state: &SharedState, task: &Task, key: &str, local: &std::path::Path) -> Result<(), TaskError> {
    let mut stream = state
        .files
        .open(task.account_id, key)
        .await
        .map_err(|e| TaskError::failed(format!("The uploaded file is no longer stored: {e}")))?
        .chunks;
    let mut out = tokio::fs::File::create(local).await.map_err(TaskError::failed)?;
    while let Some(chunk) = stream.next().await {
        out.write_all(&chunk.map_err(TaskError::failed)?).await.map_err(TaskError::failed)?;
    }
    out.flush().await.map_err(TaskError::failed)?;
    Ok(())
}

async fn read(import: &FileImport, local: &std::path::Path) -> Result<TreeDraft, TaskError> {
    let refused = |e: FormatError| TaskError::failed(format!("The file was refused; nothing was written. {e}"));
    let name = import.file_name.clone();
    match (import.format.as_str(), mapping_of(import).map_err(refused)?) {
        ("gpkg", _) => gpkg::read(local, &name).await.map_err(refused),
        ("csv", Csv(dict, leaf)) => {
            let file = std::fs::File::open(local).map_err(TaskError::failed)?;
            tokio::task::spawn_blocking(move || csv_tree::read(file, &name, &dict, &leaf))
                .await
                .map_err(TaskError::failed)?
                .map_err(refused)
        }
        ("geojson", Mapping::Features(mapping)) => {
            let bytes = tokio::fs::read(local).await.map_err(TaskError::failed)?;
            tokio::task::spawn_blocking(move || geojson::read(&bytes, &name, &mapping))
                .await
                .map_err(TaskError::failed)?
                .map_err(refused)
        }
        ("shp", Mapping::Features(mapping)) => {
            let local = local.to_owned();
            tokio::task::spawn_blocking(move || shapefile::read_zip(&local, &name, &mapping))
                .await
                .map_err(TaskError::failed)?
                .map_err(refused)
        }
        (other, _) => Err(TaskError::failed(format!("Unknown import format \"{other}\"."))),
    }
}

#[async_trait]
impl TaskHandler for Dhis2ImportTask {
    async fn run(&self, task: &Task, progress: &dyn ProgressReporter) -> Result<TaskSuccess, TaskError> {
        let state = &self.0;
        let user = launcher(state, task).await?;
        let p = &task.params;
        let text = |key: &str| p[key].as_str().unwrap_or_default().to_owned();
        let connection = dhis2::Dhis2Connection {
            base_url: text("dhis2_url"),
            username: text("dhis2_login"),
            password: text("dhis2_password"),
        };
        progress.step(0, 1, "Reading DHIS2").await?;
        let draft = dhis2::read(&connection)
            .await
            .map_err(|e| TaskError::failed(format!("DHIS2 could not be read; nothing was written. {e}")))?;
        let source_name = text("source_name");
        let params = (
            source_name.as_str(),
            p["version_number"].as_i64(),
            p["validation_status"].as_str().unwrap_or("NEW"),
            "dhis2_import",
        );
        run_import(state, task, &user, &draft, params, progress).await
    }
}
