use std::hash::{BuildHasher, Hasher};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::submission::export_id;
use hygeia_core::{
    AccountId, FormId, FormVersionId, OrgUnitId, OrgUnitScope, Page, Payload, PayloadChannel, PayloadPart, ProjectId,
    ReceivedXml, Submission, SubmissionFile, SubmissionFileId, SubmissionId, SubmissionMetadata, SubmissionQuery,
    SubmissionStatus, UserId, XmlOutcome,
};
use hygeia_store::{NewPayload, StoreError, StoreResult, SubmissionStore};
use sqlx::QueryBuilder;
use sqlx::types::Json;

use super::super::{Db, SqlStore, begin_write};
use super::org_units::{push_within, visible_roots};
use super::write_batches::BatchedWrite;
use super::{db_err, now};

type Conn = <Db as sqlx::Database>::Connection;

#[derive(sqlx::FromRow)]
pub(super) struct SubmissionRow {
    pub(super) id: i64,
    account_id: i64,
    uuid: String,
    file_name: String,
    form_id: Option<i64>,
    form_version_id: Option<i64>,
    project_id: Option<i64>,
    org_unit_id: Option<i64>,
    period: Option<String>,
    file_key: Option<String>,
    xml_md5: Option<String>,
    json: Option<Json<serde_json::Value>>,
    answers: Option<Json<serde_json::Value>>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    altitude: Option<f64>,
    accuracy: Option<f64>,
    device_id: Option<String>,
    name: Option<String>,
    created_by: Option<i64>,
    last_modified_by: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    source_created_at: Option<DateTime<Utc>>,
    source_updated_at: Option<DateTime<Utc>>,
    deleted: bool,
    export_id: String,
    last_export_success_at: Option<DateTime<Utc>>,
    edits: i64,
}

const COLUMNS: &str = "s.id, s.account_id, s.uuid, s.file_name, s.form_id, s.form_version_id, s.project_id, \
    s.org_unit_id, s.period, s.file_key, s.xml_md5, s.json, s.answers, s.latitude, s.longitude, s.altitude, \
    s.accuracy, s.device_id, s.name, s.created_by, s.last_modified_by, s.created_at, s.updated_at, \
    s.source_created_at, s.source_updated_at, s.deleted, s.export_id, s.last_export_success_at, s.edits";

impl From<SubmissionRow> for Submission {
    fn from(row: SubmissionRow) -> Self {
        Submission {
            id: SubmissionId(row.id),
            account_id: AccountId(row.account_id),
            uuid: row.uuid,
            file_name: row.file_name,
            form_id: row.form_id.map(FormId),
            form_version_id: row.form_version_id.map(FormVersionId),
            project_id: row.project_id.map(ProjectId),
            org_unit_id: row.org_unit_id.map(OrgUnitId),
            period: row.period,
            file_key: row.file_key,
            xml_md5: row.xml_md5,
            json: row.json.map(|j| j.0),
            answers: row.answers.map(|j| j.0),
            latitude: row.latitude,
            longitude: row.longitude,
            altitude: row.altitude,
            accuracy: row.accuracy,
            device_id: row.device_id,
            name: row.name,
            created_by: row.created_by.map(UserId),
            last_modified_by: row.last_modified_by.map(UserId),
            created_at: row.created_at,
            updated_at: row.updated_at,
            source_created_at: row.source_created_at,
            source_updated_at: row.source_updated_at,
            deleted: row.deleted,
            export_id: row.export_id,
            last_export_success_at: row.last_export_success_at,
            edits: row.edits,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct PayloadRow {
    id: i64,
    account_id: Option<i64>,
    channel: String,
    file_key: String,
    parts: Option<Json<Vec<PayloadPart>>>,
    size: i64,
    received_at: DateTime<Utc>,
    processed_at: Option<DateTime<Utc>>,
    error: Option<String>,
    submission_id: Option<i64>,
    user_id: Option<i64>,
    project_id: Option<i64>,
}

pub(super) const PAYLOAD_COLUMNS: &str = "id, account_id, channel, file_key, parts, size, received_at, processed_at, \
    error, submission_id, user_id, project_id";

impl TryFrom<PayloadRow> for Payload {
    type Error = StoreError;

    fn try_from(row: PayloadRow) -> Result<Self, StoreError> {
        Ok(Payload {
            id: row.id,
            account_id: row.account_id.map(AccountId),
            channel: PayloadChannel::parse(&row.channel).ok_or_else(|| {
                StoreError::backend(std::io::Error::other(format!("unknown payload channel {:?}", row.channel)))
            })?,
            file_key: row.file_key,
            parts: row.parts.map(|parts| parts.0).unwrap_or_default(),
            size: row.size,
            received_at: row.received_at,
            processed_at: row.processed_at,
            error: row.error,
            submission_id: row.submission_id.map(SubmissionId),
            user_id: row.user_id.map(UserId),
            project_id: row.project_id.map(ProjectId),
        })
    }
}

#[derive(sqlx::FromRow)]
struct FileRow {
    id: i64,
    submission_id: i64,
    name: String,
    file_key: String,
    md5: String,
    size: i64,
    created_at: DateTime<Utc>,
}

impl From<FileRow> for SubmissionFile {
    fn from(row: FileRow) -> Self {
        SubmissionFile {
            id: SubmissionFileId(row.id),
            submission_id: SubmissionId(row.submission_id),
            name: row.name,
            file_key: row.file_key,
            md5: row.md5,
            size: row.size,
            created_at: row.created_at,
        }
    }
}

/// Iaso's derived status, as SQL over `s` (the submission) and `f` (its form).
const STATUS: &str = "CASE WHEN f.single_per_period AND s.period IS NOT NULL AND s.period <> '' \
    AND s.org_unit_id IS NOT NULL AND (SELECT COUNT(*) FROM submissions d WHERE d.account_id = s.account_id \
    AND d.form_id = s.form_id AND d.org_unit_id = s.org_unit_id AND d.period = s.period AND NOT d.deleted \
    AND d.file_key IS NOT NULL) > 1 THEN 'DUPLICATED' \
    WHEN s.last_export_success_at IS NOT NULL THEN 'EXPORTED' ELSE 'READY' END";

pub(crate) fn new_export_id() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let mut counter = 0u64;
    export_id(|| {
        counter += 1;
        let mut hasher = state.build_hasher();
        hasher.write_u64(counter);
        hasher.finish()
    })
}

/// The first (oldest) submission of the account matching `condition` on `s`, whose one value is `$2`.
async fn first_where<T>(
    conn: &mut Conn,
    account: AccountId,
    condition: &str,
    value: T,
) -> StoreResult<Option<Submission>>
where
    T: for<'q> sqlx::Encode<'q, Db> + sqlx::Type<Db> + Send + 'static,
{
    let sql =
        format!("SELECT {COLUMNS} FROM submissions s WHERE s.account_id = $1 AND {condition} ORDER BY s.id LIMIT 1");
    let row: Option<SubmissionRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(account.0)
        .bind(value)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(row.map(Submission::from))
}

async fn by_uuid(conn: &mut Conn, account: AccountId, uuid: &str) -> StoreResult<Option<Submission>> {
    first_where(conn, account, "s.uuid = $2", uuid.to_owned()).await
}

/// A submission still waiting for its XML, under this file name.
async fn awaiting_xml(conn: &mut Conn, account: AccountId, file_name: &str) -> StoreResult<Option<Submission>> {
    first_where(conn, account, "s.file_name = $2 AND s.file_key IS NULL", file_name.to_owned()).await
}

/// A submission whose XML came first and whose phone metadata has not, under this file name.
async fn awaiting_metadata(conn: &mut Conn, account: AccountId, file_name: &str) -> StoreResult<Option<Submission>> {
    let condition = "s.file_name = $2 AND s.file_key IS NOT NULL AND s.source_created_at IS NULL";
    first_where(conn, account, condition, file_name.to_owned()).await
}

async fn by_id(conn: &mut Conn, account: AccountId, id: SubmissionId) -> StoreResult<Option<Submission>> {
    first_where(conn, account, "s.id = $2", id.0).await
}

/// Forms, projects and org units a submission names must be the account's own.
async fn check_references(
    conn: &mut Conn,
    account: AccountId,
    form: Option<FormId>,
    project: Option<ProjectId>,
    org_unit: Option<OrgUnitId>,
) -> StoreResult<()> {
    if form.is_none() && project.is_none() && org_unit.is_none() {
        return Ok(());
    }
    // One statement for the three: every submission written pays it, under the write lock.
    let (forms, projects, units): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM forms WHERE account_id = $1 AND id = $2), \
         (SELECT COUNT(*) FROM projects WHERE account_id = $1 AND id = $3), \
         (SELECT COUNT(*) FROM org_units WHERE account_id = $1 AND id = $4)",
    )
    .bind(account.0)
    .bind(form.map(|f| f.0))
    .bind(project.map(|p| p.0))
    .bind(org_unit.map(|o| o.0))
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    let unknown = "Unknown id: it does not exist in this account.";
    for (given, found, field) in [
        (form.is_some(), forms, "form_id"),
        (project.is_some(), projects, "project_id"),
        (org_unit.is_some(), units, "org_unit_id"),
    ] {
        if given && found == 0 {
            return Err(StoreError::invalid(field, unknown));
        }
    }
    Ok(())
}

/// [`COLUMNS`] without the `s.` prefix: SQLite's `RETURNING` does not know a table's alias.
static RETURNED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| COLUMNS.replace("s.", ""));

/// The XML's fields onto a submission row `s` (its metadata, where the phone gave some, wins),
/// over the binds of [`bind_xml`]. The row is named: in an upsert, PostgreSQL would not know
/// `project_id` from `excluded.project_id`.
const SET_XML: &str = "SET uuid = $2, file_name = $3, form_id = $4, form_version_id = $5, \
    project_id = COALESCE(s.project_id, $6), file_key = $7, xml_md5 = $8, json = $9, answers = $10, \
    latitude = COALESCE(s.latitude, $11), longitude = COALESCE(s.longitude, $12), \
    altitude = COALESCE(s.altitude, $13), accuracy = COALESCE(s.accuracy, $14), device_id = $15, name = $16, \
    org_unit_id = COALESCE(s.org_unit_id, $17), period = COALESCE(s.period, $18), \
    created_by = COALESCE(s.created_by, $19), last_modified_by = $19, updated_at = $20, edits = s.edits + $21";

/// [`check_references`] as a condition, for the one-statement paths: the form, project and org
/// unit bound at these placeholders (a null one passes) are the account's (`$1`) own.
fn references_hold(form: &str, project: &str, org_unit: &str) -> String {
    format!(
        "({form} IS NULL OR EXISTS (SELECT 1 FROM forms WHERE account_id = $1 AND id = {form})) \
         AND ({project} IS NULL OR EXISTS (SELECT 1 FROM projects WHERE account_id = $1 AND id = {project})) \
         AND ({org_unit} IS NULL OR EXISTS (SELECT 1 FROM org_units WHERE account_id = $1 AND id = {org_unit}))"
    )
}

/// Binds `first` as `$1`, the XML's fields as `$2`–`$20` and whether it is an edit as `$21`.
fn bind_xml<'q, O>(
    query: sqlx::query::QueryAs<'q, Db, O, <Db as sqlx::Database>::Arguments>,
    first: i64,
    xml: &'q ReceivedXml,
    edit: bool,
) -> sqlx::query::QueryAs<'q, Db, O, <Db as sqlx::Database>::Arguments> {
    query
        .bind(first)
        .bind(&xml.uuid)
        .bind(&xml.file_name)
        .bind(xml.form_id.0)
        .bind(xml.form_version_id.map(|v| v.0))
        .bind(xml.project_id.map(|p| p.0))
        .bind(&xml.file_key)
        .bind(&xml.xml_md5)
        .bind(Json(&xml.json))
        .bind(Json(&xml.answers))
        .bind(xml.latitude)
        .bind(xml.longitude)
        .bind(xml.altitude)
        .bind(xml.accuracy)
        .bind(&xml.device_id)
        .bind(&xml.name)
        .bind(xml.org_unit_id.map(|o| o.0))
        .bind(&xml.period)
        .bind(xml.created_by.map(|u| u.0))
        .bind(now())
        .bind(i64::from(edit))
}

/// `$1` the payload, `$2` its account, `$3` the time, `$4` the submission.
pub(crate) const MARK_PAYLOAD_PROCESSED: &str = "UPDATE submission_payloads SET processed_at = $3, error = NULL, \
    submission_id = $4 WHERE id = $1 AND account_id = $2";

/// Marks a stored payload of `account` processed into `submission` (see `ReceivedXml::payload_id`).
pub(super) async fn mark_payload_processed<'e, E>(
    executor: E,
    account: AccountId,
    payload: i64,
    submission: SubmissionId,
) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(MARK_PAYLOAD_PROCESSED)
        .bind(payload)
        .bind(account.0)
        .bind(now())
        .bind(submission.0)
        .execute(executor)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The two usual arrivals of an XML in one statement: a statement is atomic on its own, and the
/// writer is held for one round trip instead of eight (on SQLite every write waits for the one
/// before it; BENCHMARKS.md); it runs in a batch of writes (`write_batches`), never for an edit.
/// A new submission is inserted whole, unless another row waits for its XML under the same file
/// name; XML for metadata already there (the same uuid, no XML yet) fills that row. `None`: neither
/// applies (a duplicate, an edit, a merge by file name, a reference of another account), and the
/// full transaction of `record_xml` decides.
pub(super) async fn usual_xml_statement<'e, E>(
    executor: E,
    account: AccountId,
    xml: &ReceivedXml,
) -> StoreResult<Option<SubmissionRow>>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let query = sqlx::query_as::<_, SubmissionRow>(sqlx::AssertSqlSafe(USUAL_XML.as_str()));
    bind_xml(query, account.0, xml, false).bind(new_export_id()).fetch_optional(executor).await.map_err(db_err)
}

/// The statement of [`usual_xml_statement`]: `$1` the account, `$2`–`$21` as [`bind_xml`] binds
/// them (never an edit), `$22` a new export id; returns [`RETURNED`].
pub(crate) static USUAL_XML: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO submissions AS s (account_id, uuid, file_name, form_id, form_version_id, project_id, file_key, \
         xml_md5, json, answers, latitude, longitude, altitude, accuracy, device_id, name, org_unit_id, period, \
         created_by, last_modified_by, created_at, updated_at, edits, deleted, export_id) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, $20, $20, \
         $21, FALSE, $22 WHERE NOT EXISTS (SELECT 1 FROM submissions w WHERE w.account_id = $1 \
         AND w.file_name = $3 AND w.file_key IS NULL AND w.uuid <> $2) AND {} \
         ON CONFLICT (account_id, uuid) DO UPDATE {SET_XML} WHERE s.file_key IS NULL RETURNING {}",
        references_hold("$4", "$6", "$17"),
        *RETURNED
    )
});

/// Binds `first` as `$1` and the phone's metadata as `$2`–`$13`.
fn bind_metadata<'q, O>(
    query: sqlx::query::QueryAs<'q, Db, O, <Db as sqlx::Database>::Arguments>,
    first: i64,
    metadata: &'q SubmissionMetadata,
) -> sqlx::query::QueryAs<'q, Db, O, <Db as sqlx::Database>::Arguments> {
    query
        .bind(first)
        .bind(metadata.form_id.map(|f| f.0))
        .bind(metadata.project_id.map(|p| p.0))
        .bind(metadata.org_unit_id.map(|o| o.0))
        .bind(&metadata.period)
        .bind(metadata.latitude)
        .bind(metadata.longitude)
        .bind(metadata.altitude)
        .bind(metadata.accuracy)
        .bind(metadata.source_created_at)
        .bind(metadata.source_updated_at)
        .bind(metadata.created_by.map(|u| u.0))
        .bind(now())
}

/// The usual first call of Iaso's two (metadata before XML) in one statement, as
/// [`usual_xml_statement`] does for the XML: inserted unless the uuid is known or a row under the
/// same file name waits for its XML or its metadata. `None`: the full transaction decides. Run in
/// a batch of writes (`write_batches`).
pub(super) async fn new_metadata_statement<'e, E>(
    executor: E,
    account: AccountId,
    metadata: &SubmissionMetadata,
) -> StoreResult<Option<SubmissionRow>>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let query = sqlx::query_as::<_, SubmissionRow>(sqlx::AssertSqlSafe(NEW_METADATA.as_str()));
    bind_metadata(query, account.0, metadata)
        .bind(&metadata.uuid)
        .bind(&metadata.file_name)
        .bind(new_export_id())
        .fetch_optional(executor)
        .await
        .map_err(db_err)
}

/// The statement of [`new_metadata_statement`]: `$1` the account, `$2`–`$13` as
/// [`bind_metadata`] binds them, `$14` the uuid, `$15` the file name, `$16` a new export id;
/// returns [`RETURNED`].
pub(crate) static NEW_METADATA: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO submissions AS s (account_id, form_id, project_id, org_unit_id, period, latitude, longitude, \
         altitude, accuracy, source_created_at, source_updated_at, created_by, updated_at, created_at, uuid, \
         file_name, export_id, deleted, edits) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, $16, FALSE, 0 \
         WHERE NOT EXISTS (SELECT 1 FROM submissions w WHERE w.account_id = $1 AND w.file_name = $15 \
         AND (w.file_key IS NULL OR w.source_created_at IS NULL)) AND {} \
         ON CONFLICT (account_id, uuid) DO NOTHING RETURNING {}",
        references_hold("$2", "$3", "$4"),
        *RETURNED
    )
});

/// Writes the XML's fields onto a submission row; the row as it then is.
async fn write_xml(conn: &mut Conn, id: SubmissionId, xml: &ReceivedXml, edit: bool) -> StoreResult<Submission> {
    let sql = format!("UPDATE submissions AS s {SET_XML} WHERE s.id = $1 RETURNING {}", *RETURNED);
    let query = sqlx::query_as::<_, SubmissionRow>(sqlx::AssertSqlSafe(sql));
    Ok(bind_xml(query, id.0, xml, edit).fetch_one(&mut *conn).await.map_err(db_err)?.into())
}

async fn insert(conn: &mut Conn, account: AccountId, uuid: &str, file_name: &str) -> StoreResult<SubmissionId> {
    let at = now();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO submissions (account_id, uuid, file_name, created_at, updated_at, deleted, export_id, edits) \
         VALUES ($1, $2, $3, $4, $4, FALSE, $5, 0) RETURNING id",
    )
    .bind(account.0)
    .bind(uuid)
    .bind(file_name)
    .bind(at)
    .bind(new_export_id())
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(SubmissionId(id))
}

async fn fetch(conn: &mut Conn, account: AccountId, id: SubmissionId) -> StoreResult<Submission> {
    by_id(conn, account, id).await?.ok_or(StoreError::NotFound)
}

#[async_trait]
impl SubmissionStore for SqlStore {
    async fn record_payload(&self, payload: NewPayload) -> StoreResult<Payload> {
        self.batches.payload(&self.writer, BatchedWrite::RecordPayload(payload)).await
    }

    async fn inline_file(&self, account: AccountId, key: &str) -> StoreResult<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT bytes FROM inline_files WHERE key = $1 AND account_id = $2")
            .bind(key)
            .bind(account.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn finish_payload(&self, id: i64, outcome: Result<Option<SubmissionId>, String>) -> StoreResult<Payload> {
        self.batches.payload(&self.writer, BatchedWrite::FinishPayload { id, outcome }).await
    }

    async fn unprocessed_payloads(&self, limit: u64) -> StoreResult<Vec<Payload>> {
        let sql = format!(
            "SELECT {PAYLOAD_COLUMNS} FROM submission_payloads WHERE processed_at IS NULL OR error IS NOT NULL \
             ORDER BY id LIMIT $1"
        );
        let rows: Vec<PayloadRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit as i64).fetch_all(&self.pool).await.map_err(db_err)?;
        rows.into_iter().map(Payload::try_from).collect()
    }

    async fn payload(&self, id: i64) -> StoreResult<Option<Payload>> {
        let sql = format!("SELECT {PAYLOAD_COLUMNS} FROM submission_payloads WHERE id = $1");
        let row: Option<PayloadRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await.map_err(db_err)?;
        row.map(Payload::try_from).transpose()
    }

    async fn record_metadata(&self, account: AccountId, metadata: SubmissionMetadata) -> StoreResult<Submission> {
        let usual = BatchedWrite::NewMetadata { account, metadata: metadata.clone() };
        if let Some(created) = self.batches.submission(&self.writer, usual).await? {
            return Ok(created);
        }
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        check_references(&mut tx, account, metadata.form_id, metadata.project_id, metadata.org_unit_id).await?;
        let known = by_uuid(&mut tx, account, &metadata.uuid).await?;
        // Known and already described by the phone: a retry, nothing changes.
        if let Some(known) = &known
            && (known.source_created_at.is_some() || known.org_unit_id.is_some())
        {
            tx.commit().await.map_err(db_err)?;
            return Ok(known.clone());
        }
        // The XML may have come first, under this id or its own: the file name joins them.
        let id = match known.map(|k| k.id) {
            Some(id) => id,
            None => match awaiting_xml(&mut tx, account, &metadata.file_name).await? {
                Some(waiting) => waiting.id,
                None => match awaiting_metadata(&mut tx, account, &metadata.file_name).await? {
                    Some(xml_first) => xml_first.id,
                    None => insert(&mut tx, account, &metadata.uuid, &metadata.file_name).await?,
                },
            },
        };
        let sql = format!(
            "UPDATE submissions SET form_id = COALESCE($2, form_id), project_id = COALESCE($3, project_id), \
             org_unit_id = $4, period = $5, latitude = $6, longitude = $7, altitude = $8, accuracy = $9, \
             source_created_at = $10, source_updated_at = $11, created_by = COALESCE(created_by, $12), \
             updated_at = $13 WHERE id = $1 RETURNING {}",
            *RETURNED
        );
        let query = sqlx::query_as::<_, SubmissionRow>(sqlx::AssertSqlSafe(sql));
        let row = bind_metadata(query, id.0, &metadata).fetch_one(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(row.into())
    }

    async fn record_xml(&self, account: AccountId, xml: ReceivedXml) -> StoreResult<XmlOutcome> {
        if xml.replaces.is_none() {
            let usual = BatchedWrite::UsualXml { account, xml: xml.clone() };
            if let Some(created) = self.batches.submission(&self.writer, usual).await? {
                return Ok(XmlOutcome::Created(created));
            }
        }
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        check_references(&mut tx, account, Some(xml.form_id), xml.project_id, xml.org_unit_id).await?;
        let outcome = if let Some(replaced) = &xml.replaces {
            match by_uuid(&mut tx, account, replaced).await? {
                None => match by_uuid(&mut tx, account, &xml.uuid).await? {
                    // The edit was already recorded (a retry): same bytes, nothing to do.
                    Some(current) if current.xml_md5.as_deref() == Some(xml.xml_md5.as_str()) => {
                        XmlOutcome::Duplicate(current)
                    }
                    Some(current) => XmlOutcome::Conflict(current),
                    None => XmlOutcome::UnknownDeprecated,
                },
                Some(old) if by_uuid(&mut tx, account, &xml.uuid).await?.is_some() => XmlOutcome::Conflict(old),
                Some(old) => {
                    if let (Some(key), Some(md5)) = (&old.file_key, &old.xml_md5) {
                        sqlx::query(
                            "INSERT INTO submission_versions (submission_id, uuid, file_key, xml_md5, replaced_at) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(old.id.0)
                        .bind(&old.uuid)
                        .bind(key)
                        .bind(md5)
                        .bind(now())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    }
                    XmlOutcome::Edited(write_xml(&mut tx, old.id, &xml, true).await?)
                }
            }
        } else {
            match by_uuid(&mut tx, account, &xml.uuid).await? {
                Some(known) if known.file_key.is_none() => {
                    XmlOutcome::Created(write_xml(&mut tx, known.id, &xml, false).await?)
                }
                Some(known) if known.xml_md5.as_deref() == Some(xml.xml_md5.as_str()) => XmlOutcome::Duplicate(known),
                Some(known) => XmlOutcome::Conflict(known),
                None => {
                    let id = match awaiting_xml(&mut tx, account, &xml.file_name).await? {
                        Some(waiting) => waiting.id,
                        None => insert(&mut tx, account, &xml.uuid, &xml.file_name).await?,
                    };
                    XmlOutcome::Created(write_xml(&mut tx, id, &xml, false).await?)
                }
            }
        };
        if let (XmlOutcome::Created(s) | XmlOutcome::Duplicate(s) | XmlOutcome::Edited(s), Some(payload)) =
            (&outcome, xml.payload_id)
        {
            mark_payload_processed(&mut *tx, account, payload, s.id).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(outcome)
    }

    async fn add_file(
        &self,
        account: AccountId,
        submission: SubmissionId,
        name: &str,
        file_key: &str,
        md5: &str,
        size: i64,
    ) -> StoreResult<SubmissionFile> {
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        by_id(&mut tx, account, submission).await?.ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM submission_files WHERE submission_id = $1 AND name = $2")
            .bind(submission.0)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let row: FileRow = sqlx::query_as(
            "INSERT INTO submission_files (submission_id, name, file_key, md5, size, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, submission_id, name, file_key, md5, size, created_at",
        )
        .bind(submission.0)
        .bind(name)
        .bind(file_key)
        .bind(md5)
        .bind(size)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(row.into())
    }

    async fn files(&self, account: AccountId, submission: SubmissionId) -> StoreResult<Vec<SubmissionFile>> {
        let rows: Vec<FileRow> = sqlx::query_as(
            "SELECT sf.id, sf.submission_id, sf.name, sf.file_key, sf.md5, sf.size, sf.created_at \
             FROM submission_files sf JOIN submissions s ON s.id = sf.submission_id \
             WHERE s.account_id = $1 AND sf.submission_id = $2 ORDER BY sf.name",
        )
        .bind(account.0)
        .bind(submission.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(SubmissionFile::from).collect())
    }

    async fn file(&self, account: AccountId, id: SubmissionFileId) -> StoreResult<Option<SubmissionFile>> {
        let row: Option<FileRow> = sqlx::query_as(
            "SELECT sf.id, sf.submission_id, sf.name, sf.file_key, sf.md5, sf.size, sf.created_at \
             FROM submission_files sf JOIN submissions s ON s.id = sf.submission_id \
             WHERE s.account_id = $1 AND sf.id = $2",
        )
        .bind(account.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(SubmissionFile::from))
    }

    async fn history(&self, account: AccountId, submission: SubmissionId) -> StoreResult<Vec<(String, String)>> {
        sqlx::query_as(
            "SELECT v.uuid, v.file_key FROM submission_versions v JOIN submissions s ON s.id = v.submission_id \
             WHERE s.account_id = $1 AND v.submission_id = $2 ORDER BY v.id",
        )
        .bind(account.0)
        .bind(submission.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn get(&self, account: AccountId, id: SubmissionId) -> StoreResult<Option<Submission>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        by_id(&mut conn, account, id).await
    }

    async fn find_by_uuid(&self, account: AccountId, uuid: &str) -> StoreResult<Option<Submission>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        by_uuid(&mut conn, account, uuid).await
    }

    async fn list(
        &self,
        scope: &OrgUnitScope,
        query: &SubmissionQuery,
    ) -> StoreResult<Page<(Submission, SubmissionStatus)>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let roots = visible_roots(&mut conn, scope).await?;
        let filters = |builder: &mut QueryBuilder<Db>| {
            builder
                .push(" FROM submissions s LEFT JOIN forms f ON f.id = s.form_id LEFT JOIN org_units o ON o.id = s.org_unit_id")
                .push(" WHERE s.account_id = ")
                .push_bind(scope.account.0)
                .push(" AND s.file_key IS NOT NULL AND s.deleted = ")
                .push_bind(query.deleted);
            if roots.is_some() {
                builder.push(" AND o.id IS NOT NULL");
            }
            push_within(builder, &roots);
            if !query.forms.is_empty() {
                super::org_units::push_in(builder, "s.form_id", query.forms.iter().map(|f| f.0));
            }
            if !query.ids.is_empty() {
                super::org_units::push_in(builder, "s.id", query.ids.iter().map(|s| s.0));
            }
            if !query.projects.is_empty() {
                super::org_units::push_in(builder, "s.project_id", query.projects.iter().map(|p| p.0));
            }
            if !query.periods.is_empty() {
                super::org_units::push_in(builder, "s.period", query.periods.clone());
            }
            if let Some(unit) = query.org_unit {
                builder.push(" AND s.org_unit_id = ").push_bind(unit.0);
            }
            if let Some(parent) = query.org_unit_parent {
                // The parent's own submissions and those of every unit below it.
                builder
                    .push(" AND o.id IS NOT NULL AND EXISTS (SELECT 1 FROM org_units p WHERE p.id = ")
                    .push_bind(parent.0)
                    .push(" AND p.account_id = ")
                    .push_bind(scope.account.0)
                    .push(" AND (o.path = p.path OR (o.path > p.path || '.' AND o.path < p.path || '/')))");
            }
            match query.with_location {
                Some(true) => {
                    builder.push(" AND s.latitude IS NOT NULL AND s.longitude IS NOT NULL");
                }
                Some(false) => {
                    builder.push(" AND (s.latitude IS NULL OR s.longitude IS NULL)");
                }
                None => {}
            }
            if let Some(from) = query.date_from {
                builder.push(" AND COALESCE(s.source_created_at, s.created_at) >= ").push_bind(from);
            }
            if let Some(to) = query.date_to {
                builder.push(" AND COALESCE(s.source_created_at, s.created_at) <= ").push_bind(to);
            }
            if let Some(search) = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                builder
                    .push(" AND (LOWER(o.name) LIKE ")
                    .push_bind(format!("%{}%", search.to_lowercase()))
                    .push(" OR s.uuid = ")
                    .push_bind(search.to_owned())
                    .push(")");
            }
            if let Some(status) = query.status {
                builder.push(format!(" AND ({STATUS}) = ")).push_bind(status.as_str());
            }
            if let Some(after) = query.after_id {
                builder.push(" AND s.id > ").push_bind(after.0);
            }
        };
        let total: i64 = if query.after_id.is_some() {
            0
        } else {
            let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*)");
            filters(&mut count);
            count.build_query_scalar().fetch_one(&mut *conn).await.map_err(db_err)?
        };
        let mut select = QueryBuilder::<Db>::new(format!("SELECT {COLUMNS}, {STATUS} AS status"));
        filters(&mut select);
        select.push(if query.after_id.is_some() { " ORDER BY s.id" } else { " ORDER BY s.updated_at DESC, s.id DESC" });
        if let Some(limit) = query.limit {
            select.push(" LIMIT ").push_bind(limit as i64).push(" OFFSET ").push_bind(query.offset as i64);
        }
        #[derive(sqlx::FromRow)]
        struct Listed {
            #[sqlx(flatten)]
            row: SubmissionRow,
            status: String,
        }
        let rows: Vec<Listed> = select.build_query_as().fetch_all(&mut *conn).await.map_err(db_err)?;
        let items = rows
            .into_iter()
            .map(|listed| {
                let status = SubmissionStatus::parse(&listed.status).unwrap_or(SubmissionStatus::Ready);
                (Submission::from(listed.row), status)
            })
            .collect();
        Ok(Page { count: total as u64, items })
    }

    async fn update(
        &self,
        account: AccountId,
        id: SubmissionId,
        org_unit: Option<Option<OrgUnitId>>,
        period: Option<Option<String>>,
        actor: Option<UserId>,
    ) -> StoreResult<Submission> {
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let current = by_id(&mut tx, account, id).await?.ok_or(StoreError::NotFound)?;
        let org_unit = org_unit.unwrap_or(current.org_unit_id);
        check_references(&mut tx, account, None, None, org_unit).await?;
        let period = period.unwrap_or(current.period);
        sqlx::query(
            "UPDATE submissions SET org_unit_id = $2, period = $3, last_modified_by = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id.0)
        .bind(org_unit.map(|o| o.0))
        .bind(period)
        .bind(actor.map(|u| u.0))
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let submission = fetch(&mut tx, account, id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(submission)
    }

    async fn set_deleted(&self, account: AccountId, ids: &[SubmissionId], deleted: bool) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut query = QueryBuilder::<Db>::new("UPDATE submissions SET deleted = ");
        query.push_bind(deleted).push(", updated_at = ").push_bind(now()).push(" WHERE account_id = ");
        query.push_bind(account.0).push(" AND deleted <> ").push_bind(deleted);
        super::org_units::push_in(&mut query, "id", ids.iter().map(|s| s.0));
        let done = query.build().execute(&self.writer).await.map_err(db_err)?;
        Ok(done.rows_affected())
    }
}
