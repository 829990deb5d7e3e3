//! Receiving submissions, whichever door they come through (OpenRosa, Iaso's phone upload).
//!
//! Nothing a phone sends may be lost, so the bytes are stored first: each multipart part goes to
//! file storage under one payload stem (or, if small, into the database with the payload's row),
//! and a payload row records the arrival and lists them.
//! Only then is the XML read: its form and version found, its answers turned into JSON with the
//! version's schema, the submission recorded (new, duplicate, edit or conflict) and its files
//! attached, pointing at the stored parts (nothing is copied). A payload whose processing fails
//! keeps its error and can be replayed (`hygeia replay-submissions`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use futures_util::TryStreamExt;
use hygeia_core::submission::bare_uuid;
use hygeia_core::{
    AccountId, Form, FormVersion, FormVersionId, Payload, PayloadChannel, PayloadPart, ProjectId, ReceivedXml,
    Submission, UserId, XmlOutcome,
};
use hygeia_files::FileStore;
use hygeia_store::{INLINE_KEY_PREFIX, InlineFile, NewPayload, StoreError};
use hygeia_xlsform::submission::{self as reader, Schema};
use serde_json::Value;

use crate::state::AppState;

/// The multipart field that holds the XML, in OpenRosa and in Iaso's protocol.
pub const XML_PART: &str = "xml_submission_file";

/// One part of an upload as received.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub bytes: Bytes,
}

/// An upload: its parts and who sent it where.
#[derive(Debug, Clone)]
pub struct Upload {
    pub account: AccountId,
    pub project: Option<ProjectId>,
    pub user: Option<UserId>,
    pub channel: PayloadChannel,
    pub parts: Vec<Part>,
}

/// What receiving a submission did.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Created(Submission),
    /// The same XML again: files it brings that were missing are attached.
    Duplicate(Submission),
    Edited(Submission),
}

impl Received {
    pub fn submission(&self) -> &Submission {
        match self {
            Received::Created(s) | Received::Duplicate(s) | Received::Edited(s) => s,
        }
    }
}

/// Why a stored payload could not become a submission; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("The upload has no '{XML_PART}' part.")]
    NoXml,
    #[error("{0}")]
    BadXml(String),
    #[error("No form with form_id '{0}' in this account.")]
    UnknownForm(String),
    #[error("The form '{form}' has no version '{version}'.")]
    UnknownVersion { form: String, version: String },
    #[error("The form '{0}' is deleted and takes no submissions.")]
    DeletedForm(String),
    #[error(
        "A submission already exists with the instance id '{0}', with a different XML: resubmit it as an edit (meta/deprecatedID) or with a new instance id."
    )]
    Conflict(String),
    #[error("The submission edits '{0}', which does not exist.")]
    UnknownDeprecated(String),
    #[error("{0}")]
    Invalid(String),
    #[error("storage failed: {0}")]
    Storage(String),
}

impl From<StoreError> for IngestError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Invalid(errors) => IngestError::Invalid(errors.to_string()),
            other => IngestError::Storage(other.to_string()),
        }
    }
}

impl From<hygeia_files::FileError> for IngestError {
    fn from(err: hygeia_files::FileError) -> Self {
        IngestError::Storage(err.to_string())
    }
}

/// Schemas of form versions, read from their XForm once.
#[derive(Default)]
pub struct SchemaCache {
    entries: Mutex<HashMap<FormVersionId, Arc<Schema>>>,
}

/// Versions kept; past it the cache starts over (a schema is cheap to read again).
const MAX_CACHED_SCHEMAS: usize = 512;

impl SchemaCache {
    pub(crate) async fn load(
        &self,
        files: &FileStore,
        account: AccountId,
        version: &FormVersion,
    ) -> Result<Arc<Schema>, IngestError> {
        if let Some(schema) = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(&version.id) {
            return Ok(schema.clone());
        }
        let stream = files.open(account, &version.file_key).await?;
        let bytes: Vec<Bytes> = stream.chunks.try_collect().await?;
        let xform = String::from_utf8(bytes.concat())
            .map_err(|_| IngestError::Storage(format!("the XForm of version {} is not UTF-8", version.version_id)))?;
        let schema = Arc::new(Schema::from_xform(&xform).map_err(|e| {
            IngestError::Storage(format!("the XForm of version {} is unreadable: {e}", version.version_id))
        })?);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_CACHED_SCHEMAS {
            entries.clear();
        }
        entries.insert(version.id, schema.clone());
        Ok(schema)
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(bytes))
}

/// Parts up to this size are kept in the database, written with the payload's row, rather than as
/// a file each: a phone's XML is a few kilobytes, and a file costs more to create than to fill
/// (BENCHMARKS.md, phones' seventh pass). Photos and other large parts go to file storage.
const INLINE_UP_TO: usize = 64 * 1024;

/// Stores every part and records the payload; the parts' keys come back for processing.
pub async fn store_payload(state: &AppState, upload: &Upload) -> Result<(Payload, Vec<PayloadPart>), IngestError> {
    let bucket = chrono::Utc::now().format("%Y%m%d%H").to_string();
    let stem = FileStore::new_stem(upload.account, "payloads", &bucket);
    let mut stored = Vec::with_capacity(upload.parts.len());
    let mut inline = Vec::new();
    let mut size = 0;
    for (i, part) in upload.parts.iter().enumerate() {
        let base = part.file_name.as_deref().unwrap_or(&part.name);
        let mut key = format!("{stem}-{i}-{}", hygeia_files::safe_segment(base));
        if part.bytes.len() <= INLINE_UP_TO {
            key.insert_str(0, INLINE_KEY_PREFIX);
            inline.push(InlineFile { key: key.clone(), bytes: part.bytes.to_vec() });
        } else {
            state.files.put_bytes(&key, part.bytes.clone()).await?;
        }
        size += part.bytes.len() as u64;
        stored.push(PayloadPart {
            name: part.name.clone(),
            file_name: part.file_name.clone(),
            key,
            size: part.bytes.len() as u64,
            md5: md5_hex(&part.bytes),
        });
    }
    let payload = state
        .store
        .submissions()
        .record_payload(NewPayload {
            account: Some(upload.account),
            channel: upload.channel,
            file_key: stem,
            parts: stored.clone(),
            inline,
            size: size as i64,
            user: upload.user,
            project: upload.project,
        })
        .await?;
    Ok((payload, stored))
}

/// Stores the upload, then processes it; the payload row records the outcome either way.
pub async fn receive(state: &AppState, upload: Upload) -> Result<Received, IngestError> {
    let (payload, parts) = store_payload(state, &upload).await?;
    let parts_with_bytes: Vec<(PayloadPart, Bytes)> =
        parts.into_iter().zip(upload.parts.into_iter().map(|p| p.bytes)).collect();
    finish(state, &payload, process(state, &payload, &parts_with_bytes).await).await
}

/// Processes a stored payload again (after its form or version was fixed, for instance).
pub async fn replay(state: &AppState, payload: &Payload) -> Result<Received, IngestError> {
    let account = payload.account_id.ok_or_else(|| IngestError::Invalid("The payload names no account.".into()))?;
    let with_bytes = stored_parts(state, account, payload).await?;
    finish(state, payload, process(state, payload, &with_bytes).await).await
}

/// A stored payload's parts, read back from file storage.
pub async fn stored_parts(
    state: &AppState,
    account: AccountId,
    payload: &Payload,
) -> Result<Vec<(PayloadPart, Bytes)>, IngestError> {
    let parts = if payload.parts.is_empty() {
        // The older layout: a directory per payload, its parts listed in a file beside them.
        let manifest = read_file(state, account, &format!("{}/parts.json", payload.file_key)).await?;
        serde_json::from_slice(&manifest).map_err(|e| IngestError::Storage(format!("parts.json: {e}")))?
    } else {
        payload.parts.clone()
    };
    let mut with_bytes = Vec::with_capacity(parts.len());
    for part in parts {
        let bytes = read_file(state, account, &part.key).await?;
        with_bytes.push((part, bytes));
    }
    Ok(with_bytes)
}

/// Replays up to `limit` unprocessed or failed payloads, oldest first, telling `report` each
/// outcome (what it became, or why it still fails); returns (processed, still failing).
pub async fn replay_unprocessed(
    state: &AppState,
    limit: u64,
    mut report: impl FnMut(i64, Result<String, &IngestError>),
) -> Result<(u64, u64), StoreError> {
    let (mut done, mut failed) = (0, 0);
    for payload in state.store.submissions().unprocessed_payloads(limit).await? {
        let outcome = match payload.channel {
            PayloadChannel::Bulk => crate::bulk_upload::replay(state, &payload).await.map(|s| s.to_string()),
            _ => replay(state, &payload).await.map(|r| format!("submission {}", r.submission().id.0)),
        };
        match outcome {
            Ok(what) => {
                done += 1;
                report(payload.id, Ok(what));
            }
            Err(err) => {
                failed += 1;
                report(payload.id, Err(&err));
            }
        }
    }
    Ok((done, failed))
}

/// Records a failed outcome on the payload; a recorded XML marked it processed as it was written
/// (`ReceivedXml::payload_id`), which saves the writer a statement per submission.
async fn finish(
    state: &AppState,
    payload: &Payload,
    outcome: Result<Received, IngestError>,
) -> Result<Received, IngestError> {
    if let Err(err) = &outcome {
        if let Err(store_err) = state.store.submissions().finish_payload(payload.id, Err(err.to_string())).await {
            tracing::warn!(payload = payload.id, err = %store_err, "the payload's outcome could not be recorded");
        }
        tracing::info!(payload = payload.id, %err, "a submission payload was kept but not processed");
    }
    outcome
}

async fn read_file(state: &AppState, account: AccountId, key: &str) -> Result<Bytes, IngestError> {
    let stream = state.open_file(account, key).await?;
    let chunks: Vec<Bytes> = stream.chunks.try_collect().await?;
    Ok(chunks.concat().into())
}

/// The form a submission names, and the version it was filled with (its latest when the XML
/// names none).
pub async fn form_and_version(
    state: &AppState,
    account: AccountId,
    form_id: &str,
    version_id: Option<&str>,
) -> Result<Arc<(Form, FormVersion)>, IngestError> {
    let key = (account, form_id.to_owned(), version_id.map(str::to_owned));
    if let Some(found) = state.recent_forms.get(&key) {
        return Ok(found);
    }
    let forms = state.store.forms();
    let form =
        forms.find_by_xform_id(account, form_id).await?.ok_or_else(|| IngestError::UnknownForm(form_id.into()))?;
    if form.deleted_at.is_some() {
        return Err(IngestError::DeletedForm(form_id.into()));
    }
    let version = match version_id {
        Some(version_id) => forms.version_by_version_id(account, form.id, version_id).await?,
        None => forms.latest_versions(account, &[form.id]).await?.remove(&form.id),
    };
    let version = version.ok_or_else(|| IngestError::UnknownVersion {
        form: form_id.into(),
        version: version_id.unwrap_or_default().into(),
    })?;
    let found = Arc::new((form, version));
    state.recent_forms.put(key, found.clone());
    Ok(found)
}

async fn process(state: &AppState, payload: &Payload, parts: &[(PayloadPart, Bytes)]) -> Result<Received, IngestError> {
    let account = payload.account_id.ok_or_else(|| IngestError::Invalid("The payload names no account.".into()))?;
    let (xml_part, xml_bytes) = parts.iter().find(|(p, _)| p.name == XML_PART).ok_or(IngestError::NoXml)?;
    let xml = std::str::from_utf8(xml_bytes)
        .map_err(|e| IngestError::BadXml(format!("The submission is not UTF-8 text (byte {}).", e.valid_up_to())))?;
    let envelope = reader::envelope(xml).map_err(|e| IngestError::BadXml(e.to_string()))?;
    let found = form_and_version(state, account, &envelope.form_id, envelope.version.as_deref()).await?;
    let (form, version) = (&found.0, &found.1);
    let schema = state.schemas.load(&state.files, account, &version).await?;
    let bad = |e: reader::SubmissionError| IngestError::BadXml(e.to_string());
    let mut json = reader::iaso_flat_json(xml, Some(&schema)).map_err(bad)?;
    let answers = reader::typed_json(xml, &schema).map_err(bad)?;
    let uuid = match &envelope.instance_id {
        Some(id) => bare_uuid(id).to_owned(),
        // Without an instance id the XML's bytes name it: a retry is then a duplicate.
        None => format!("md5-{}", xml_part.md5),
    };
    if let Value::Object(map) = &mut json {
        map.entry("instanceID").or_insert_with(|| Value::String(format!("uuid:{uuid}")));
    }
    let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty());
    let point = (!form.input.location_field.is_empty())
        .then(|| text(&form.input.location_field))
        .flatten()
        .and_then(reader::geopoint);
    let coordinate = |name: &str| point.as_ref().and_then(|p| p[name].as_f64());
    let device_field = if form.input.device_field.is_empty() { "deviceid" } else { &form.input.device_field };
    let file_name = xml_part.file_name.clone().unwrap_or_else(|| format!("{uuid}.xml"));
    let received = ReceivedXml {
        uuid: uuid.clone(),
        replaces: envelope.deprecated_id.as_deref().map(|d| bare_uuid(d).to_owned()),
        file_name: base_name(&file_name).to_owned(),
        form_id: form.id,
        form_version_id: Some(version.id),
        project_id: payload.project_id,
        file_key: xml_part.key.clone(),
        xml_md5: xml_part.md5.clone(),
        name: envelope.instance_name.clone(),
        latitude: coordinate("latitude"),
        longitude: coordinate("longitude"),
        altitude: coordinate("altitude"),
        accuracy: coordinate("accuracy"),
        device_id: text(device_field).map(str::to_owned),
        org_unit_id: None,
        period: None,
        created_by: payload.user_id,
        payload_id: Some(payload.id),
        json,
        answers,
    };
    let received = match state.store.submissions().record_xml(account, received).await? {
        XmlOutcome::Created(s) => Received::Created(s),
        XmlOutcome::Duplicate(s) => Received::Duplicate(s),
        XmlOutcome::Edited(s) => Received::Edited(s),
        XmlOutcome::Conflict(_) => return Err(IngestError::Conflict(uuid)),
        XmlOutcome::UnknownDeprecated => {
            return Err(IngestError::UnknownDeprecated(envelope.deprecated_id.unwrap_or_default()));
        }
    };
    let submission = received.submission();
    let attached = parts.iter().any(|(p, _)| p.name != XML_PART && p.file_name.is_some());
    let known: Vec<String> = if attached {
        state.store.submissions().files(account, submission.id).await?.into_iter().map(|f| f.name).collect()
    } else {
        Vec::new()
    };
    for (part, _) in parts.iter().filter(|(p, _)| p.name != XML_PART && p.file_name.is_some()) {
        let name = base_name(part.file_name.as_deref().unwrap_or(&part.name));
        // A duplicate brings the files a cut-off batch missed; those already there stay.
        if matches!(received, Received::Duplicate(_)) && known.iter().any(|k| k == name) {
            continue;
        }
        state
            .store
            .submissions()
            .add_file(account, submission.id, name, &part.key, &part.md5, part.size as i64)
            .await?;
    }
    Ok(received)
}

/// `/sdcard/odk/instances/x/1714.jpg` → `1714.jpg` (phones send paths; ODK keeps the base name).
pub fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}
