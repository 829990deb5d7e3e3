//! Payload rows and their outcomes, written in batches. Under load many uploads wait at once for
//! the one writer (SQLite) or for their own commit's flush (PostgreSQL): one transaction for every
//! payload write that queued while the previous batch ran costs one commit instead of one each.
//! A write that finds the queue empty goes at once: batching adds no wait, it gathers what is
//! already waiting.

use hygeia_core::{Payload, SubmissionId};
use hygeia_store::{NewPayload, StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot};

use super::super::{Db, begin_write};
use super::submissions::{PAYLOAD_COLUMNS, PayloadRow};
use super::{db_err, now};

/// Writes taken in one transaction at most; more wait for the next.
const MAX_BATCH: usize = 64;

pub(crate) enum PayloadWrite {
    Record(NewPayload),
    Finish { id: i64, outcome: Result<Option<SubmissionId>, String> },
}

struct Queued {
    write: PayloadWrite,
    reply: oneshot::Sender<StoreResult<Payload>>,
}

/// The queue, and the task that empties it into the writer pool (stopped with the store).
pub(crate) struct PayloadBatches {
    queue: mpsc::Sender<Queued>,
    task: tokio::task::AbortHandle,
}

impl Drop for PayloadBatches {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PayloadBatches {
    /// Starts the batching task on the current tokio runtime.
    pub(crate) fn start(writer: sqlx::Pool<Db>) -> PayloadBatches {
        let (queue, receiver) = mpsc::channel(1_024);
        let task = tokio::spawn(run(writer, receiver)).abort_handle();
        PayloadBatches { queue, task }
    }

    /// Writes `write` with whatever else is queued, and answers its own result. Should the task
    /// be gone (its runtime ended), the write goes alone on `writer`.
    pub(crate) async fn write(&self, writer: &sqlx::Pool<Db>, write: PayloadWrite) -> StoreResult<Payload> {
        let (reply, answer) = oneshot::channel();
        match self.queue.send(Queued { write, reply }).await {
            Ok(()) => answer.await.unwrap_or_else(|_| {
                Err(StoreError::backend(std::io::Error::other("the payload writer stopped before answering")))
            }),
            Err(mpsc::error::SendError(queued)) => write_one(writer, &queued.write).await,
        }
    }
}

async fn run(writer: sqlx::Pool<Db>, mut receiver: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if batch.len() > 1
            && let Ok(results) = write_together(&writer, &batch).await
        {
            for (queued, result) in batch.drain(..).zip(results) {
                let _ = queued.reply.send(result);
            }
            continue;
        }
        // One write, or a batch that failed as a whole (rolled back): each alone, so that an
        // error reaches only the write that caused it.
        for queued in batch.drain(..) {
            let result = write_one(&writer, &queued.write).await;
            let _ = queued.reply.send(result);
        }
    }
}

/// Every write in one transaction; a missing row is that write's own answer, any other error
/// fails the batch.
async fn write_together(writer: &sqlx::Pool<Db>, batch: &[Queued]) -> Result<Vec<StoreResult<Payload>>, StoreError> {
    let mut tx = begin_write(writer).await.map_err(db_err)?;
    let mut results = Vec::with_capacity(batch.len());
    for queued in batch {
        let row = statement(&mut *tx, &queued.write).await.map_err(db_err)?;
        results.push(row.ok_or(StoreError::NotFound).and_then(Payload::try_from));
    }
    tx.commit().await.map_err(db_err)?;
    Ok(results)
}

async fn write_one(writer: &sqlx::Pool<Db>, write: &PayloadWrite) -> StoreResult<Payload> {
    statement(writer, write).await.map_err(db_err)?.ok_or(StoreError::NotFound)?.try_into()
}

async fn statement<'e, E>(executor: E, write: &PayloadWrite) -> Result<Option<PayloadRow>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    match write {
        PayloadWrite::Record(payload) => {
            let sql = format!(
                "INSERT INTO submission_payloads (account_id, channel, file_key, parts, size, received_at, user_id, \
                 project_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {PAYLOAD_COLUMNS}"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(payload.account.map(|a| a.0))
                .bind(payload.channel.as_str())
                .bind(&payload.file_key)
                .bind(sqlx::types::Json(&payload.parts))
                .bind(payload.size)
                .bind(now())
                .bind(payload.user.map(|u| u.0))
                .bind(payload.project.map(|p| p.0))
                .fetch_optional(executor)
                .await
        }
        PayloadWrite::Finish { id, outcome } => {
            let (submission, error) = match outcome {
                Ok(submission) => (submission.map(|s| s.0), None),
                Err(error) => (None, Some(error.as_str())),
            };
            let sql = format!(
                "UPDATE submission_payloads SET processed_at = $2, error = $3, submission_id = $4 WHERE id = $1 \
                 RETURNING {PAYLOAD_COLUMNS}"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(now())
                .bind(error)
                .bind(submission)
                .fetch_optional(executor)
                .await
        }
    }
}
