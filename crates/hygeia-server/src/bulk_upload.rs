//! Iaso's zip bulk upload (`POST /api/mobile/bulkupload/`, `MOBILE_SYNCHRONIZE_WITH_ZIP`): a
//! phone's whole outbox in one archive: `orgUnits.json` (the units it created, as
//! `POST /api/mobile/orgunits/` takes them), `instances.json` (its submissions' metadata, as
//! `POST /api/instances/`), and one folder per submission holding its XML and attachments.
//!
//! The zip is stored first, as a payload of its own; then the units, the metadata and each
//! submission are processed in that order, each submission as an upload of its own (stored, and
//! replayable alone). A zip that fails as a whole keeps its error and can be replayed.

use std::collections::BTreeMap;

use axum::body::Bytes;
use hygeia_core::{PayloadChannel, Project, UserProfile};
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;
use crate::submissions::{self, IngestError, Part, Upload, XML_PART};

/// The multipart field of the archive.
pub const ZIP_PART: &str = "zip_file";

/// Most bytes one archive may unpack to (a zip bomb stops here).
const MAX_UNPACKED: u64 = 1 << 30;

/// What a bulk upload brought.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BulkSummary {
    pub org_units: usize,
    pub metadata: usize,
    pub submissions: usize,
    pub attachments: usize,
    /// Submissions stored but not processed (each is its own payload, replayable).
    pub failed: usize,
}

impl std::fmt::Display for BulkSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bulk upload: {} org units created, {} metadata, {} submissions with {} attachments, {} stored for replay",
            self.org_units, self.metadata, self.submissions, self.attachments, self.failed
        )
    }
}

/// The archive's files by path, read whole (bounded by [`MAX_UNPACKED`]).
fn unpack(zip: &[u8]) -> Result<BTreeMap<String, Bytes>, IngestError> {
    let files = hygeia_formats::archive::unpack_zip(ZIP_PART, zip, MAX_UNPACKED)
        .map_err(|e| IngestError::Invalid(e.to_string()))?;
    Ok(files.into_iter().map(|(name, bytes)| (name, Bytes::from(bytes))).collect())
}

fn json_list(files: &BTreeMap<String, Bytes>, name: &str) -> Result<Vec<Value>, IngestError> {
    let Some(bytes) = files.get(name) else { return Ok(Vec::new()) };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err(IngestError::Invalid(format!("{name}: a list is expected."))),
        Err(e) => Err(IngestError::Invalid(format!("{name}: not JSON: {e}"))),
    }
}

fn api_error(section: &str, err: ApiError) -> IngestError {
    match err {
        ApiError::Internal(cause) | ApiError::Unavailable(cause) => IngestError::Storage(cause),
        other => IngestError::Invalid(format!("{section}: {other}")),
    }
}

/// Processes an archive for `project`, as `caller`.
pub async fn process(
    state: &AppState,
    project: &Project,
    caller: Option<&UserProfile>,
    zip: &[u8],
) -> Result<BulkSummary, IngestError> {
    let files = unpack(zip)?;
    let units = json_list(&files, "orgUnits.json")?;
    let metadata = json_list(&files, "instances.json")?;
    let mut summary = BulkSummary { metadata: metadata.len(), ..Default::default() };
    summary.org_units = crate::api::mobile::create_phone_units(state, project, caller, units)
        .await
        .map_err(|e| api_error("orgUnits.json", e))?
        .len();
    crate::api::instances::record_phone_metadata(state, project, caller, &metadata)
        .await
        .map_err(|e| api_error("instances.json", e))?;
    // One folder per submission: `<uuid>/<name>.xml` and its attachments.
    let mut folders: BTreeMap<&str, Vec<(&str, &Bytes)>> = BTreeMap::new();
    for (path, bytes) in &files {
        if let Some((folder, file)) = path.rsplit_once('/')
            && !file.is_empty()
        {
            folders.entry(folder).or_default().push((file, bytes));
        }
    }
    for (folder, entries) in folders {
        let Some((xml_name, xml)) = entries.iter().find(|(name, _)| name.to_ascii_lowercase().ends_with(".xml")) else {
            tracing::info!(folder, "a bulk upload folder without XML was skipped");
            continue;
        };
        let mut parts =
            vec![Part { name: XML_PART.into(), file_name: Some((*xml_name).to_owned()), bytes: (*xml).clone() }];
        for (name, bytes) in entries.iter().filter(|(name, _)| name != xml_name) {
            parts.push(Part { name: (*name).to_owned(), file_name: Some((*name).to_owned()), bytes: (*bytes).clone() });
        }
        let attachments = parts.len() - 1;
        let upload = Upload {
            account: project.account_id,
            project: Some(project.id),
            user: caller.map(|u| u.user_id),
            channel: PayloadChannel::Iaso,
            parts,
        };
        match submissions::receive(state, upload).await {
            Ok(_) => {
                summary.submissions += 1;
                summary.attachments += attachments;
            }
            Err(IngestError::Storage(cause)) => return Err(IngestError::Storage(cause)),
            Err(err) => {
                tracing::info!(folder, %err, "a submission of a bulk upload was stored but not processed");
                summary.failed += 1;
            }
        }
    }
    Ok(summary)
}

fn bulk(project: &Project, caller: Option<&UserProfile>, parts: Vec<Part>) -> Upload {
    Upload {
        account: project.account_id,
        project: Some(project.id),
        user: caller.map(|u| u.user_id),
        channel: PayloadChannel::Bulk,
        parts,
    }
}

/// Keeps an upload that cannot be processed (cut off midway), with why.
pub async fn keep(
    state: &AppState,
    project: &Project,
    caller: Option<&UserProfile>,
    parts: Vec<Part>,
    problem: &str,
) -> Result<(), IngestError> {
    let (payload, _) = submissions::store_payload(state, &bulk(project, caller, parts)).await?;
    state.store.submissions().finish_payload(payload.id, Err(problem.to_owned())).await?;
    Ok(())
}

/// Stores the archive, then processes it; the payload records the outcome.
pub async fn receive(
    state: &AppState,
    project: &Project,
    caller: Option<&UserProfile>,
    parts: Vec<Part>,
) -> Result<BulkSummary, IngestError> {
    let upload = bulk(project, caller, parts);
    let (payload, _) = submissions::store_payload(state, &upload).await?;
    let zip = upload.parts.iter().find(|p| p.name == ZIP_PART).map(|p| p.bytes.clone()).unwrap_or_default();
    finish(state, payload.id, process(state, project, caller, &zip).await).await
}

/// Processes a stored archive again, as the user who sent it.
pub async fn replay(state: &AppState, payload: &hygeia_core::Payload) -> Result<BulkSummary, IngestError> {
    let account = payload.account_id.ok_or_else(|| IngestError::Invalid("The payload names no account.".into()))?;
    let project_id = payload.project_id.ok_or_else(|| IngestError::Invalid("The payload names no project.".into()))?;
    let project = state
        .store
        .projects()
        .get(account, project_id)
        .await?
        .ok_or_else(|| IngestError::Invalid("The payload's project is gone.".into()))?;
    let caller = match payload.user_id {
        Some(user) => {
            crate::auth::active_profile(state, user).await.map_err(|e| IngestError::Storage(e.to_string()))?
        }
        None => None,
    };
    let parts = submissions::stored_parts(state, account, payload).await?;
    let zip = parts.into_iter().find(|(part, _)| part.name == ZIP_PART).map(|(_, bytes)| bytes).unwrap_or_default();
    finish(state, payload.id, process(state, &project, caller.as_ref(), &zip).await).await
}

/// Records the archive's outcome on its payload (a failure stays for replay).
async fn finish(
    state: &AppState,
    payload: i64,
    outcome: Result<BulkSummary, IngestError>,
) -> Result<BulkSummary, IngestError> {
    let record = outcome.as_ref().map(|_| None).map_err(|e| e.to_string());
    if let Err(err) = state.store.submissions().finish_payload(payload, record).await {
        tracing::warn!(payload, %err, "the bulk upload's outcome could not be recorded");
    }
    outcome
}
