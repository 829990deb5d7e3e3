//! A batch of the usual submission writes (`common::write_batches`) run on the writer
//! connection's own SQLite handle, in one go.
//!
//! Through sqlx, every statement is a round trip between the batching task and the connection's
//! worker thread: two thread wake-ups, each waiting for a core behind the requests' tasks. Here
//! the batching task takes the handle from the worker once (sqlx's `lock_handle`) and runs the
//! transaction and every statement itself: one hand-over per batch. Under the phones' load test
//! the writer's thread went from 11,600 wake-ups a second to 3,500 (BENCHMARKS.md, sixth pass).
//! The statements are the shared ones (`RECORD_PAYLOAD`, `USUAL_XML`, ...), bound as sqlx binds
//! them (a timestamp as RFC 3339 text, JSON as text) and read back in their `RETURNING` order.
//!
//! Any error, a row this code cannot read included, rolls the batch back: `write_batches` then
//! writes each of its writes alone through sqlx, which gives each its own answer.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use hygeia_core::{
    AccountId, FormId, FormVersionId, OrgUnitId, Payload, PayloadChannel, ProjectId, Submission, SubmissionId, UserId,
};
use hygeia_store::{StoreError, StoreResult};
use rusqlite::types::{Type, Value, ValueRef};
use rusqlite::{Connection, Row, Statement};

use crate::common::now;
use crate::common::submissions::{MARK_PAYLOAD_PROCESSED, NEW_METADATA, USUAL_XML, new_export_id};
use crate::common::write_batches::{
    BatchedWrite, FINISH_PAYLOAD, RECORD_INLINE_FILE, RECORD_PAYLOAD, Written, inline_files_account,
};

/// Writes `writes` in one transaction on `handle`; `Err` when the batch was rolled back.
///
/// # Safety
/// `handle` is an open connection that nothing else uses until this returns (sqlx's locked
/// handle), outside any transaction.
pub(crate) unsafe fn write(
    handle: *mut rusqlite::ffi::sqlite3,
    writes: &[&BatchedWrite],
) -> Result<Vec<StoreResult<Written>>, StoreError> {
    // SAFETY: the caller's promise; a connection made from a handle neither closes it nor keeps
    // it past its own drop (its cached statements are finalized then, before the handle goes back).
    let conn = unsafe { Connection::from_handle(handle) }.map_err(StoreError::backend)?;
    conn.execute_batch("BEGIN IMMEDIATE").map_err(StoreError::backend)?;
    let written = writes.iter().map(|write| statement(&conn, write)).collect::<rusqlite::Result<Vec<_>>>();
    match written.and_then(|results| conn.execute_batch("COMMIT").map(|()| results)) {
        Ok(results) => Ok(results),
        Err(err) => {
            // A failed COMMIT leaves the transaction open in SQLite: it must end here either way.
            let _ = conn.execute_batch("ROLLBACK");
            Err(StoreError::backend(err))
        }
    }
}

/// One write's statements, as `write_batches::statement` runs them through sqlx.
fn statement(conn: &Connection, write: &BatchedWrite) -> rusqlite::Result<StoreResult<Written>> {
    let missing = || Err(StoreError::NotFound);
    Ok(match write {
        BatchedWrite::RecordPayload(new) => {
            if !new.inline.is_empty() {
                let account = match inline_files_account(new) {
                    Ok(account) => account,
                    Err(refused) => return Ok(Err(refused)),
                };
                let mut insert = conn.prepare_cached(RECORD_INLINE_FILE)?;
                for file in &new.inline {
                    bind(&mut insert, &[text(&file.key), account.0.into(), Value::Blob(file.bytes.clone())])?;
                    insert.raw_execute()?;
                }
            }
            let values = [
                new.account.map(|a| a.0).into(),
                text(new.channel.as_str()),
                text(&new.file_key),
                json(&new.parts)?,
                new.size.into(),
                time(now()),
                new.user.map(|u| u.0).into(),
                new.project.map(|p| p.0).into(),
            ];
            first_row(&mut *conn.prepare_cached(&RECORD_PAYLOAD)?, &values, payload)?
                .map_or_else(missing, |p| Ok(Written::Payload(p)))
        }
        BatchedWrite::FinishPayload { id, outcome } => {
            let (submission, error) = match outcome {
                Ok(submission) => (submission.map(|s| s.0), None),
                Err(error) => (None, Some(error.as_str())),
            };
            let values = [(*id).into(), time(now()), opt_text(error), submission.into()];
            first_row(&mut *conn.prepare_cached(&FINISH_PAYLOAD)?, &values, payload)?
                .map_or_else(missing, |p| Ok(Written::Payload(p)))
        }
        BatchedWrite::UsualXml { account, xml } => {
            let values = [
                account.0.into(),
                text(&xml.uuid),
                text(&xml.file_name),
                xml.form_id.0.into(),
                xml.form_version_id.map(|v| v.0).into(),
                xml.project_id.map(|p| p.0).into(),
                text(&xml.file_key),
                text(&xml.xml_md5),
                json(&xml.json)?,
                json(&xml.answers)?,
                xml.latitude.into(),
                xml.longitude.into(),
                xml.altitude.into(),
                xml.accuracy.into(),
                opt_text(xml.device_id.as_deref()),
                opt_text(xml.name.as_deref()),
                xml.org_unit_id.map(|o| o.0).into(),
                opt_text(xml.period.as_deref()),
                xml.created_by.map(|u| u.0).into(),
                time(now()),
                // Never an edit: edits go through `record_xml`'s transaction.
                0i64.into(),
                new_export_id().into(),
            ];
            let row = first_row(&mut *conn.prepare_cached(&USUAL_XML)?, &values, submission)?;
            if let (Some(row), Some(payload)) = (&row, xml.payload_id) {
                let values = [payload.into(), account.0.into(), time(now()), row.id.0.into()];
                let mut mark = conn.prepare_cached(MARK_PAYLOAD_PROCESSED)?;
                bind(&mut mark, &values)?;
                mark.raw_execute()?;
            }
            Ok(Written::Submission(row))
        }
        BatchedWrite::NewMetadata { account, metadata } => {
            let values = [
                account.0.into(),
                metadata.form_id.map(|f| f.0).into(),
                metadata.project_id.map(|p| p.0).into(),
                metadata.org_unit_id.map(|o| o.0).into(),
                opt_text(metadata.period.as_deref()),
                metadata.latitude.into(),
                metadata.longitude.into(),
                metadata.altitude.into(),
                metadata.accuracy.into(),
                metadata.source_created_at.map_or(Value::Null, time),
                metadata.source_updated_at.map_or(Value::Null, time),
                metadata.created_by.map(|u| u.0).into(),
                time(now()),
                text(&metadata.uuid),
                text(&metadata.file_name),
                new_export_id().into(),
            ];
            Ok(Written::Submission(first_row(&mut *conn.prepare_cached(&NEW_METADATA)?, &values, submission)?))
        }
    })
}

/// Binds `values[n - 1]` to each `$n` of `statement`, as sqlx does.
fn bind(statement: &mut Statement<'_>, values: &[Value]) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let name = statement.parameter_name(index).unwrap_or("?");
        let value =
            name.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()).and_then(|n| values.get(n.checked_sub(1)?));
        let Some(value) = value else {
            return Err(rusqlite::Error::InvalidParameterName(name.to_owned()));
        };
        statement.raw_bind_parameter(index, value)?;
    }
    Ok(())
}

/// The first row the statement returns (with `RETURNING`, every change is made by then).
fn first_row<T>(
    statement: &mut Statement<'_>,
    values: &[Value],
    read: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    bind(statement, values)?;
    let mut rows = statement.raw_query();
    rows.next()?.map(read).transpose()
}

fn text(text: &str) -> Value {
    Value::Text(text.to_owned())
}

fn opt_text(text: Option<&str>) -> Value {
    text.map_or(Value::Null, self::text)
}

/// A timestamp as sqlx writes one to SQLite.
fn time(at: DateTime<Utc>) -> Value {
    Value::Text(at.to_rfc3339_opts(SecondsFormat::AutoSi, false))
}

fn json(value: &impl serde::Serialize) -> rusqlite::Result<Value> {
    serde_json::to_string(value).map(Value::Text).map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))
}

fn read_time(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let text = match row.get_ref(column)? {
        ValueRef::Null => return Ok(None),
        value => value.as_str()?,
    };
    // What sqlx writes, or SQLite's own `datetime()` form (taken as UTC, as sqlx takes it).
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%F %T%.f").map(|at| at.and_utc()))
        .map(Some)
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, Box::new(err)))
}

fn required_time(row: &Row<'_>, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    read_time(row, column)?.ok_or(rusqlite::Error::InvalidColumnType(column, "timestamp".into(), Type::Null))
}

fn read_json<T: serde::de::DeserializeOwned>(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<T>> {
    let bytes = match row.get_ref(column)? {
        ValueRef::Null => return Ok(None),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes,
        other => return Err(rusqlite::Error::InvalidColumnType(column, "json".into(), other.data_type())),
    };
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, Box::new(err)))
}

/// A row of `PAYLOAD_COLUMNS`.
fn payload(row: &Row<'_>) -> rusqlite::Result<Payload> {
    let channel: String = row.get(2)?;
    Ok(Payload {
        id: row.get(0)?,
        account_id: row.get::<_, Option<i64>>(1)?.map(AccountId),
        channel: PayloadChannel::parse(&channel).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                Type::Text,
                format!("unknown payload channel {channel:?}").into(),
            )
        })?,
        file_key: row.get(3)?,
        parts: read_json(row, 4)?.unwrap_or_default(),
        size: row.get(5)?,
        received_at: required_time(row, 6)?,
        processed_at: read_time(row, 7)?,
        error: row.get(8)?,
        submission_id: row.get::<_, Option<i64>>(9)?.map(SubmissionId),
        user_id: row.get::<_, Option<i64>>(10)?.map(UserId),
        project_id: row.get::<_, Option<i64>>(11)?.map(ProjectId),
    })
}

/// A row of `RETURNED`.
fn submission(row: &Row<'_>) -> rusqlite::Result<Submission> {
    Ok(Submission {
        id: SubmissionId(row.get(0)?),
        account_id: AccountId(row.get(1)?),
        uuid: row.get(2)?,
        file_name: row.get(3)?,
        form_id: row.get::<_, Option<i64>>(4)?.map(FormId),
        form_version_id: row.get::<_, Option<i64>>(5)?.map(FormVersionId),
        project_id: row.get::<_, Option<i64>>(6)?.map(ProjectId),
        org_unit_id: row.get::<_, Option<i64>>(7)?.map(OrgUnitId),
        period: row.get(8)?,
        file_key: row.get(9)?,
        xml_md5: row.get(10)?,
        json: read_json(row, 11)?,
        answers: read_json(row, 12)?,
        latitude: row.get(13)?,
        longitude: row.get(14)?,
        altitude: row.get(15)?,
        accuracy: row.get(16)?,
        device_id: row.get(17)?,
        name: row.get(18)?,
        created_by: row.get::<_, Option<i64>>(19)?.map(UserId),
        last_modified_by: row.get::<_, Option<i64>>(20)?.map(UserId),
        created_at: required_time(row, 21)?,
        updated_at: required_time(row, 22)?,
        source_created_at: read_time(row, 23)?,
        source_updated_at: read_time(row, 24)?,
        deleted: row.get(25)?,
        export_id: row.get(26)?,
        last_export_success_at: read_time(row, 27)?,
        edits: row.get(28)?,
    })
}

#[cfg(test)]
mod tests {
    use hygeia_core::{
        DataSourceInput, FormInput, NewAccount, NewOrgUnit, NewProject, NewUser, OrgUnitScope, PayloadPart,
        ReceivedXml, SubmissionMetadata, ValidationStatus,
    };
    use hygeia_store::{InlineFile, NewPayload, Store};
    use serde_json::json;

    use super::*;
    use crate::common::write_batches::write_statement_by_statement;
    use crate::{SqliteStore, write_together};

    /// The same writes for either path: every field set, every kind of write, and the XML of a
    /// metadata row (the upsert's update), the XML before its metadata, and a missing payload.
    fn writes(
        store_ids: (AccountId, FormId, ProjectId, OrgUnitId, UserId),
        path: &str,
        payload: i64,
    ) -> Vec<BatchedWrite> {
        let (account, form, project, unit, user) = store_ids;
        let at = |s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let metadata = |uuid: &str| SubmissionMetadata {
            uuid: format!("{path}-{uuid}"),
            file_name: format!("{path}-{uuid}.xml"),
            form_id: Some(form),
            project_id: Some(project),
            org_unit_id: Some(unit),
            period: Some("202612".into()),
            latitude: Some(12.25),
            longitude: Some(-1.5),
            altitude: Some(301.0),
            accuracy: Some(4.5),
            source_created_at: Some(at("2026-12-01T08:30:00.123456Z")),
            source_updated_at: Some(at("2026-12-01T09:00:00Z")),
            created_by: Some(user),
        };
        let xml = |uuid: &str, payload_id| ReceivedXml {
            uuid: format!("{path}-{uuid}"),
            replaces: None,
            file_name: format!("{path}-{uuid}.xml"),
            form_id: form,
            form_version_id: None,
            project_id: Some(project),
            file_key: format!("submissions/{uuid}.xml"),
            xml_md5: "5d41402abc4b2a76b9719d911017c592".into(),
            json: json!({"name": "Awa", "group": [{"age": 3}, {"age": 4}]}),
            answers: json!({"name": "Awa"}),
            name: Some("Awa's visit".into()),
            latitude: Some(11.0),
            longitude: Some(-2.0),
            altitude: None,
            accuracy: Some(3.0),
            device_id: Some("imei:1".into()),
            org_unit_id: Some(unit),
            period: Some("202611".into()),
            created_by: Some(user),
            payload_id,
        };
        vec![
            BatchedWrite::RecordPayload(NewPayload {
                account: Some(account),
                channel: PayloadChannel::Iaso,
                file_key: format!("raw/{path}"),
                parts: vec![PayloadPart {
                    name: "photo".into(),
                    file_name: Some("photo.jpg".into()),
                    key: "raw/photo".into(),
                    size: 9,
                    md5: "0cc175b9c0f1b6a831c399e269772661".into(),
                }],
                inline: vec![InlineFile { key: format!("db:raw/{path}.xml"), bytes: b"<data/>".to_vec() }],
                size: 1234,
                user: Some(user),
                project: Some(project),
            }),
            BatchedWrite::NewMetadata { account, metadata: metadata("a") },
            BatchedWrite::UsualXml { account, xml: xml("a", Some(payload)) },
            BatchedWrite::UsualXml { account, xml: xml("b", None) },
            BatchedWrite::FinishPayload { id: payload, outcome: Err("the XML is cut off".into()) },
            BatchedWrite::FinishPayload { id: 987_654, outcome: Ok(None) },
        ]
    }

    /// What is the same whichever path wrote it: no ids, names, times or export ids.
    fn same_either_way(result: &StoreResult<Written>) -> String {
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        match result {
            Ok(Written::Payload(p)) => {
                let p = Payload { id: 0, file_key: String::new(), received_at: epoch, processed_at: None, ..p.clone() };
                format!("{p:?}")
            }
            Ok(Written::Submission(Some(s))) => {
                let s = Submission {
                    id: SubmissionId(0),
                    uuid: String::new(),
                    file_name: String::new(),
                    created_at: epoch,
                    updated_at: epoch,
                    export_id: String::new(),
                    ..s.clone()
                };
                format!("{s:?}")
            }
            Ok(Written::Submission(None)) => "no row".into(),
            Err(err) => format!("error {err}"),
        }
    }

    #[tokio::test]
    async fn a_batch_on_the_handle_writes_and_reads_what_sqlx_does() {
        let store = SqliteStore::in_memory().await.unwrap();
        let account = store.accounts().create(NewAccount::named("A")).await.unwrap().id;
        let project = store.projects().create(account, NewProject::new("A", "a.app")).await.unwrap().id;
        let form = store.forms().create(account, FormInput::new("Visit", vec![project])).await.unwrap().id;
        let source =
            store.sources().create_source(account, DataSourceInput { name: "A".into(), ..Default::default() }).await;
        let version = store.sources().create_version(account, source.unwrap().id, "v1").await.unwrap().id;
        let mut new_unit = NewOrgUnit::new(version, "Clinic");
        new_unit.validation_status = ValidationStatus::Valid;
        let scope = OrgUnitScope::whole_account(account);
        let unit = store.org_units().create(&scope, None, new_unit).await.unwrap().id;
        let new_user = NewUser { username: "agent".into(), password_hash: "hash".into(), ..Default::default() };
        let user = store.users().create(account, new_user).await.unwrap().user_id;
        let ids = (account, form, project, unit, user);
        let payload = |channel| NewPayload {
            account: Some(account),
            channel,
            file_key: "raw/first".into(),
            parts: Vec::new(),
            inline: Vec::new(),
            size: 1,
            user: None,
            project: None,
        };
        let raw_payload = store.submissions().record_payload(payload(PayloadChannel::OpenRosa)).await.unwrap().id;
        let sqlx_payload = store.submissions().record_payload(payload(PayloadChannel::OpenRosa)).await.unwrap().id;

        let raw_writes = writes(ids, "raw", raw_payload);
        let raw = write_together(&store.writer, &raw_writes.iter().collect::<Vec<_>>())
            .await
            .expect("the batch is written on the handle, not handed back to sqlx");
        let sqlx_writes = writes(ids, "sqlx", sqlx_payload);
        let by_sqlx =
            write_statement_by_statement(&store.writer, &sqlx_writes.iter().collect::<Vec<_>>()).await.unwrap();
        assert_eq!(raw.len(), 6);
        for (n, (raw, by_sqlx)) in raw.iter().zip(&by_sqlx).enumerate() {
            assert_eq!(same_either_way(raw), same_either_way(by_sqlx), "write {n}");
        }
        assert!(matches!(raw[5], Err(StoreError::NotFound)), "a missing payload is that write's own answer");

        // Read back through sqlx: what the handle returned is what was stored.
        let Ok(Written::Submission(Some(merged))) = &raw[2] else { panic!("the XML meets its metadata") };
        assert_eq!(merged.period.as_deref(), Some("202612"), "the phone's metadata wins");
        assert_eq!(merged.source_created_at, Some("2026-12-01T08:30:00.123456Z".parse().unwrap()));
        assert_eq!(store.submissions().get(account, merged.id).await.unwrap(), Some(merged.clone()));
        let Ok(Written::Submission(Some(alone))) = &raw[3] else { panic!("an XML alone is a submission") };
        assert_eq!(store.submissions().get(account, alone.id).await.unwrap(), Some(alone.clone()));
        let Ok(Written::Payload(recorded)) = &raw[0] else { panic!("a payload row") };
        assert_eq!(store.submissions().payload(recorded.id).await.unwrap(), Some(recorded.clone()));
        let Ok(Written::Payload(finished)) = &raw[4] else { panic!("the payload's outcome") };
        assert_eq!(finished.submission_id, None, "the later failure is the payload's last word");
        assert_eq!(store.submissions().payload(raw_payload).await.unwrap(), Some(finished.clone()));
        for path in ["raw", "sqlx"] {
            let kept = store.submissions().inline_file(account, &format!("db:raw/{path}.xml")).await.unwrap();
            assert_eq!(kept.as_deref(), Some(&b"<data/>"[..]), "the payload's inline file, written by {path}");
        }
    }
}
