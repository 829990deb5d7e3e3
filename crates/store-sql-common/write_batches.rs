//! The writes every submission makes, in batches: its payload row, the one-statement arrival of
//! its metadata or its XML (with its payload's outcome, in the same transaction), and a failed
//! payload's outcome. Under load many uploads wait at once for the one writer (SQLite) or for
//! their own commit's flush (PostgreSQL); one task holds the writer and runs every write that
//! queued while the previous batch ran in one transaction, back to back: one commit instead of one
//! each, and no hand-over of the writer between requests' tasks (on a busy runtime the writer
//! otherwise sits idle until the next task is polled). A write that finds the queue empty goes at
//! once: batching adds no wait, it gathers what is already waiting.
//!
//! Each backend says how a batch is written (`write_together`): PostgreSQL statement by statement
//! ([`write_statement_by_statement`]), SQLite all at once on its connection's own thread.

use hygeia_core::{AccountId, Payload, ReceivedXml, Submission, SubmissionId, SubmissionMetadata};
use hygeia_store::{INLINE_KEY_PREFIX, NewPayload, StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot};

use super::super::{BATCH_LONE_WRITES, Db, begin_write, write_together};
use super::submissions::{
    PAYLOAD_COLUMNS, PayloadRow, SubmissionRow, mark_payload_processed, new_metadata_statement, usual_xml_statement,
};
use super::{db_err, now};

type Conn = <Db as sqlx::Database>::Connection;

/// Writes taken in one transaction at most; more wait for the next.
const MAX_BATCH: usize = 64;

pub(crate) enum BatchedWrite {
    RecordPayload(NewPayload),
    FinishPayload {
        id: i64,
        outcome: Result<Option<SubmissionId>, String>,
    },
    /// See `record_usual_xml`: `None` when the usual case does not apply.
    UsualXml {
        account: AccountId,
        xml: ReceivedXml,
    },
    /// See `record_new_metadata`: `None` when the usual case does not apply.
    NewMetadata {
        account: AccountId,
        metadata: SubmissionMetadata,
    },
}

/// What a batched write gives back.
pub(crate) enum Written {
    Payload(Payload),
    Submission(Option<Submission>),
}

struct Queued {
    write: BatchedWrite,
    reply: oneshot::Sender<StoreResult<Written>>,
}

/// The queue, and the task that empties it into the writer pool (stopped with the store).
pub(crate) struct WriteBatches {
    queue: mpsc::Sender<Queued>,
    task: tokio::task::AbortHandle,
}

impl Drop for WriteBatches {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WriteBatches {
    /// Starts the batching task on the current tokio runtime.
    pub(crate) fn start(writer: sqlx::Pool<Db>) -> WriteBatches {
        let (queue, receiver) = mpsc::channel(1_024);
        let task = tokio::spawn(run(writer, receiver)).abort_handle();
        WriteBatches { queue, task }
    }

    /// Writes `write` with whatever else is queued, and answers its own result. Should the task
    /// be gone (its runtime ended), the write goes alone on `writer`.
    pub(crate) async fn write(&self, writer: &sqlx::Pool<Db>, write: BatchedWrite) -> StoreResult<Written> {
        let (reply, answer) = oneshot::channel();
        match self.queue.send(Queued { write, reply }).await {
            Ok(()) => answer.await.unwrap_or_else(|_| {
                Err(StoreError::backend(std::io::Error::other("the batched writer stopped before answering")))
            }),
            Err(mpsc::error::SendError(queued)) => write_one(writer, &queued.write).await,
        }
    }

    pub(crate) async fn payload(&self, writer: &sqlx::Pool<Db>, write: BatchedWrite) -> StoreResult<Payload> {
        match self.write(writer, write).await? {
            Written::Payload(payload) => Ok(payload),
            Written::Submission(_) => Err(mismatch()),
        }
    }

    pub(crate) async fn submission(
        &self,
        writer: &sqlx::Pool<Db>,
        write: BatchedWrite,
    ) -> StoreResult<Option<Submission>> {
        match self.write(writer, write).await? {
            Written::Submission(submission) => Ok(submission),
            Written::Payload(_) => Err(mismatch()),
        }
    }
}

fn mismatch() -> StoreError {
    StoreError::backend(std::io::Error::other("a batched write was answered for another kind of write"))
}

/// The payload row's insert: `$1`–`$8` as [`statement`] binds them; returns [`PAYLOAD_COLUMNS`].
pub(crate) static RECORD_PAYLOAD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO submission_payloads (account_id, channel, file_key, parts, size, received_at, user_id, \
         project_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {PAYLOAD_COLUMNS}"
    )
});

/// A file the payload keeps in the database: `$1` its key, `$2` the account, `$3` the bytes.
pub(crate) const RECORD_INLINE_FILE: &str = "INSERT INTO inline_files (key, account_id, bytes) VALUES ($1, $2, $3)";

/// The account whose inline files `new` brings, once their keys are checked.
pub(crate) fn inline_files_account(new: &NewPayload) -> StoreResult<AccountId> {
    let account =
        new.account.ok_or_else(|| StoreError::invalid("inline", "Files kept in the database belong to an account."))?;
    if let Some(file) = new.inline.iter().find(|f| !f.key.starts_with(INLINE_KEY_PREFIX)) {
        return Err(StoreError::invalid(
            "inline",
            format!("\"{}\" does not begin with {INLINE_KEY_PREFIX}.", file.key),
        ));
    }
    Ok(account)
}

/// A payload's outcome: `$1` the payload, `$2` the time, `$3` the error, `$4` the submission;
/// returns [`PAYLOAD_COLUMNS`].
pub(crate) static FINISH_PAYLOAD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE submission_payloads SET processed_at = $2, error = $3, submission_id = $4 WHERE id = $1 \
         RETURNING {PAYLOAD_COLUMNS}"
    )
});

async fn run(writer: sqlx::Pool<Db>, mut receiver: mpsc::Receiver<Queued>) {
    let mut batch: Vec<Queued> = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let writes: Vec<&BatchedWrite> = batch.iter().map(|queued| &queued.write).collect();
        if writes.len() > 1 || BATCH_LONE_WRITES {
            match write_together(&writer, &writes).await {
                Ok(results) => {
                    for (queued, result) in batch.drain(..).zip(results) {
                        let _ = queued.reply.send(result);
                    }
                    continue;
                }
                Err(err) => tracing::debug!(%err, writes = writes.len(), "a batch failed whole; each write goes alone"),
            }
        }
        // One write, or a batch that failed as a whole (rolled back): each alone, so that an
        // error reaches only the write that caused it.
        for queued in batch.drain(..) {
            let result = write_one(&writer, &queued.write).await;
            let _ = queued.reply.send(result);
        }
    }
}

/// Every write in one transaction, one statement after the other; a missing payload row is that
/// write's own answer, any other error fails the batch.
#[allow(dead_code, reason = "SQLite writes its batches on the connection's own thread instead")]
pub(crate) async fn write_statement_by_statement(
    writer: &sqlx::Pool<Db>,
    writes: &[&BatchedWrite],
) -> Result<Vec<StoreResult<Written>>, StoreError> {
    let mut tx = begin_write(writer).await.map_err(db_err)?;
    let mut results = Vec::with_capacity(writes.len());
    for write in writes {
        results.push(statement(&mut tx, write).await?);
    }
    tx.commit().await.map_err(db_err)?;
    Ok(results)
}

async fn write_one(writer: &sqlx::Pool<Db>, write: &BatchedWrite) -> StoreResult<Written> {
    let several_statements = match write {
        BatchedWrite::UsualXml { xml, .. } => xml.payload_id.is_some(),
        BatchedWrite::RecordPayload(new) => !new.inline.is_empty(),
        _ => false,
    };
    if several_statements {
        // The submission and its payload's outcome, or the payload and its inline files:
        // together or not at all.
        let mut tx = begin_write(writer).await.map_err(db_err)?;
        let written = statement(&mut tx, write).await??;
        tx.commit().await.map_err(db_err)?;
        return Ok(written);
    }
    let mut conn = writer.acquire().await.map_err(db_err)?;
    statement(&mut conn, write).await?
}

/// The write's statements: `Err` for a database error (which fails a batch), else the write's
/// own answer.
async fn statement(conn: &mut Conn, write: &BatchedWrite) -> StoreResult<StoreResult<Written>> {
    let payload = |row: Option<PayloadRow>| row.ok_or(StoreError::NotFound).and_then(Payload::try_from);
    let submission = |row: Option<SubmissionRow>| Written::Submission(row.map(Submission::from));
    Ok(match write {
        BatchedWrite::RecordPayload(new) => {
            if !new.inline.is_empty() {
                let account = match inline_files_account(new) {
                    Ok(account) => account,
                    Err(refused) => return Ok(Err(refused)),
                };
                for file in &new.inline {
                    sqlx::query(RECORD_INLINE_FILE)
                        .bind(&file.key)
                        .bind(account.0)
                        .bind(&file.bytes)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                }
            }
            let row = sqlx::query_as(sqlx::AssertSqlSafe(RECORD_PAYLOAD.as_str()))
                .bind(new.account.map(|a| a.0))
                .bind(new.channel.as_str())
                .bind(&new.file_key)
                .bind(sqlx::types::Json(&new.parts))
                .bind(new.size)
                .bind(now())
                .bind(new.user.map(|u| u.0))
                .bind(new.project.map(|p| p.0))
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
            payload(row).map(Written::Payload)
        }
        BatchedWrite::FinishPayload { id, outcome } => {
            let (submission, error) = match outcome {
                Ok(submission) => (submission.map(|s| s.0), None),
                Err(error) => (None, Some(error.as_str())),
            };
            let row = sqlx::query_as(sqlx::AssertSqlSafe(FINISH_PAYLOAD.as_str()))
                .bind(id)
                .bind(now())
                .bind(error)
                .bind(submission)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
            payload(row).map(Written::Payload)
        }
        BatchedWrite::UsualXml { account, xml } => {
            let row = usual_xml_statement(&mut *conn, *account, xml).await?;
            if let (Some(row), Some(payload)) = (&row, xml.payload_id) {
                mark_payload_processed(&mut *conn, *account, payload, SubmissionId(row.id)).await?;
            }
            Ok(submission(row))
        }
        BatchedWrite::NewMetadata { account, metadata } => {
            Ok(submission(new_metadata_statement(&mut *conn, *account, metadata).await?))
        }
    })
}
