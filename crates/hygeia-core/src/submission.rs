//! Submissions (Iaso's `Instance`, §1.11): one filled form about one org unit, its XML kept as
//! the record with every earlier version of it, its files, and the raw payloads phones sent.
//!
//! A submission can exist before its XML: Iaso's phone first posts the metadata (form, org unit,
//! period, location), then the XML, in either order; the two meet on the XML's file name.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{AccountId, FormId, FormVersionId, ProjectId, SubmissionFileId, SubmissionId, UserId};
use crate::orgunit::OrgUnitId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub id: SubmissionId,
    pub account_id: AccountId,
    /// The client's id: the XML's `instanceID` without `uuid:`, or the phone's `id`.
    pub uuid: String,
    /// The XML's base name, the key the phone's two upload calls meet on.
    pub file_name: String,
    pub form_id: Option<FormId>,
    pub form_version_id: Option<FormVersionId>,
    pub project_id: Option<ProjectId>,
    pub org_unit_id: Option<OrgUnitId>,
    pub period: Option<String>,
    /// The current XML in file storage (`None` while only the metadata has arrived) and its MD5.
    pub file_key: Option<String>,
    pub xml_md5: Option<String>,
    /// Iaso's flat answers (bare names, strings, `_version`).
    pub json: Option<Value>,
    /// The answers typed and nested by groups and repeats.
    pub answers: Option<Value>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub altitude: Option<f64>,
    pub accuracy: Option<f64>,
    pub device_id: Option<String>,
    /// `meta/instanceName`.
    pub name: Option<String>,
    pub created_by: Option<UserId>,
    pub last_modified_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The device's clock (Iaso's `source_created_at` / `source_updated_at`).
    pub source_created_at: Option<DateTime<Utc>>,
    pub source_updated_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// DHIS2-style 11-character id, made at creation (the event id once exported).
    pub export_id: String,
    pub last_export_success_at: Option<DateTime<Utc>>,
    /// How many times the XML was replaced by an edit.
    pub edits: i64,
}

/// Iaso's derived status (never stored): `DUPLICATED` when the form is single-per-period and
/// another live submission has the same org unit and period; else `EXPORTED` once exported;
/// else `READY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubmissionStatus {
    #[serde(rename = "READY")]
    Ready,
    #[serde(rename = "DUPLICATED")]
    Duplicated,
    #[serde(rename = "EXPORTED")]
    Exported,
}

impl SubmissionStatus {
    pub fn parse(text: &str) -> Option<SubmissionStatus> {
        match text.trim().to_ascii_uppercase().as_str() {
            "READY" => Some(SubmissionStatus::Ready),
            "DUPLICATED" => Some(SubmissionStatus::Duplicated),
            "EXPORTED" => Some(SubmissionStatus::Exported),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Ready => "READY",
            SubmissionStatus::Duplicated => "DUPLICATED",
            SubmissionStatus::Exported => "EXPORTED",
        }
    }
}

/// A file that came with a submission (a photo, an audit log), by the name its XML gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionFile {
    pub id: SubmissionFileId,
    pub submission_id: SubmissionId,
    pub name: String,
    pub file_key: String,
    pub md5: String,
    pub size: i64,
    pub created_at: DateTime<Utc>,
}

/// What the phone says about a submission before (or after) sending its XML (Iaso's
/// `POST /api/instances/`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubmissionMetadata {
    pub uuid: String,
    pub file_name: String,
    pub form_id: Option<FormId>,
    pub project_id: Option<ProjectId>,
    pub org_unit_id: Option<OrgUnitId>,
    pub period: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub altitude: Option<f64>,
    pub accuracy: Option<f64>,
    pub source_created_at: Option<DateTime<Utc>>,
    pub source_updated_at: Option<DateTime<Utc>>,
    pub created_by: Option<UserId>,
}

/// A submission's XML, read and stored, ready to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedXml {
    /// The instance id without `uuid:`.
    pub uuid: String,
    /// Set when the XML edits an earlier one (`meta/deprecatedID`, without `uuid:`).
    pub replaces: Option<String>,
    pub file_name: String,
    pub form_id: FormId,
    pub form_version_id: Option<FormVersionId>,
    pub project_id: Option<ProjectId>,
    pub file_key: String,
    pub xml_md5: String,
    pub json: Value,
    pub answers: Value,
    pub name: Option<String>,
    /// From the form's location field; the phone's metadata wins where it gives one.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub altitude: Option<f64>,
    pub accuracy: Option<f64>,
    pub device_id: Option<String>,
    pub org_unit_id: Option<OrgUnitId>,
    pub period: Option<String>,
    pub created_by: Option<UserId>,
    /// The stored payload the XML came in: once the XML is recorded (created, a duplicate or an
    /// edit), the payload is marked processed with its submission, in the same transaction.
    pub payload_id: Option<i64>,
}

/// What recording an XML did.
#[derive(Debug, Clone, PartialEq)]
pub enum XmlOutcome {
    /// A new submission (or the XML for metadata that came first).
    Created(Submission),
    /// The same XML again (a retry, or a batch bringing more files): nothing changed.
    Duplicate(Submission),
    /// An edit: the submission's XML replaced, the earlier one kept in its history.
    Edited(Submission),
    /// Another XML under an instance id already taken: refused.
    Conflict(Submission),
    /// An edit of an instance that does not exist.
    UnknownDeprecated,
}

/// Filters of the submission list (Iaso's `/api/instances/` parameters).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubmissionQuery {
    pub forms: Vec<FormId>,
    pub org_unit: Option<OrgUnitId>,
    /// Submissions about this unit or any unit below it.
    pub org_unit_parent: Option<OrgUnitId>,
    pub periods: Vec<String>,
    pub status: Option<SubmissionStatus>,
    pub with_location: Option<bool>,
    /// Device-or-server creation date, inclusive.
    pub date_from: Option<DateTime<Utc>>,
    pub date_to: Option<DateTime<Utc>>,
    /// Org unit name (case-insensitive) or the submission's uuid.
    pub search: Option<String>,
    /// `true`: only deleted submissions; `false`: only live ones.
    pub deleted: bool,
    pub projects: Vec<ProjectId>,
    /// Only these submissions (empty: any).
    pub ids: Vec<SubmissionId>,
    pub limit: Option<u64>,
    pub offset: u64,
    /// Keyset paging for exports: only submissions with a larger id, in id order, and no count
    /// (the page's `count` is 0), so that each page costs the same however deep.
    pub after_id: Option<SubmissionId>,
}

/// Where a raw payload came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadChannel {
    /// ODK Collect, Enketo, Web Forms: `POST /openrosa/.../submission`.
    #[serde(rename = "openrosa")]
    OpenRosa,
    /// Iaso's phone: `POST /sync/form_upload/`.
    #[serde(rename = "iaso")]
    Iaso,
    /// Iaso's zip bulk upload (`POST /api/mobile/bulkupload/`): a phone's whole outbox.
    #[serde(rename = "bulk")]
    Bulk,
}

impl PayloadChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadChannel::OpenRosa => "openrosa",
            PayloadChannel::Iaso => "iaso",
            PayloadChannel::Bulk => "bulk",
        }
    }

    pub fn parse(text: &str) -> Option<PayloadChannel> {
        match text {
            "openrosa" => Some(PayloadChannel::OpenRosa),
            "iaso" => Some(PayloadChannel::Iaso),
            "bulk" => Some(PayloadChannel::Bulk),
            _ => None,
        }
    }
}

/// Bytes a client sent, stored before anything reads them, and what became of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub id: i64,
    pub account_id: Option<AccountId>,
    pub channel: PayloadChannel,
    /// The stem of its parts' keys (each part is `{file_key}-{n}-{name}`). Payloads stored before
    /// the row listed its parts have a directory here, with a `parts.json` listing them.
    pub file_key: String,
    /// Each part as stored, in the order received; empty for payloads of the older layout.
    pub parts: Vec<PayloadPart>,
    pub size: i64,
    pub received_at: DateTime<Utc>,
    /// `None` while unprocessed; `Some(Ok)` once recorded; `Some(Err)` with why it failed.
    pub processed_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub submission_id: Option<SubmissionId>,
    /// Who sent it, when known (replays run as them).
    pub user_id: Option<UserId>,
    pub project_id: Option<ProjectId>,
}

/// One part of a payload (`xml_submission_file`, an attached file), stored as its own file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadPart {
    /// The multipart field's name.
    pub name: String,
    /// The file name the client gave, if any.
    pub file_name: Option<String>,
    pub key: String,
    pub size: u64,
    pub md5: String,
}

/// `uuid:1234-...` → `1234-...`.
pub fn bare_uuid(instance_id: &str) -> &str {
    let trimmed = instance_id.trim();
    trimmed.strip_prefix("uuid:").unwrap_or(trimmed)
}

/// An 11-character DHIS2 uid (a letter, then letters and digits), from 64 random bits per call.
pub fn export_id(random: impl FnMut() -> u64) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut random = random;
    let mut id = String::with_capacity(11);
    id.push(LETTERS[(random() % LETTERS.len() as u64) as usize] as char);
    for _ in 0..10 {
        id.push(ALPHANUMERIC[(random() % ALPHANUMERIC.len() as u64) as usize] as char);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_lose_their_prefix() {
        assert_eq!(bare_uuid("uuid:abc-1"), "abc-1");
        assert_eq!(bare_uuid(" abc-1 "), "abc-1");
    }

    #[test]
    fn export_ids_look_like_dhis2_uids() {
        let mut n = 7u64;
        let id = export_id(|| {
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            n >> 11
        });
        assert_eq!(id.len(), 11);
        assert!(id.chars().next().unwrap().is_ascii_alphabetic());
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn statuses_read_as_iaso_writes_them() {
        assert_eq!(SubmissionStatus::parse("duplicated"), Some(SubmissionStatus::Duplicated));
        assert_eq!(SubmissionStatus::Exported.as_str(), "EXPORTED");
        assert_eq!(SubmissionStatus::parse("x"), None);
    }
}
