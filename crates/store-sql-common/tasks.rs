//! Background tasks: the queue is the table. Claims, progress and endings act only through the
//! worker's lease (`lease_owner`), so a worker that lost its task can write nothing more to it.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hygeia_core::{
    AccountId, NewTask, Page, Progress, Task, TaskId, TaskLog, TaskOutcome, TaskQuery, TaskStatus, UserId,
};
use hygeia_store::{Lease, StoreError, StoreResult, TaskStore};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, QueryBuilder};

use super::super::{CLAIM_LOCK, Db, NOTIFY_QUEUED, SqlStore, begin_write};
use super::org_units::push_in;
use super::{db_err, now};

type Conn = <Db as sqlx::Database>::Connection;

const COLUMNS: &str = "SELECT id, account_id, name, status, params, launcher_id, progress_value, end_value, \
    progress_message, result, should_be_killed, created_at, started_at, ended_at, attempts, max_attempts, run_at, \
    lease_owner, lease_expires_at FROM tasks";
const RETURNING: &str = " RETURNING id, account_id, name, status, params, launcher_id, progress_value, end_value, \
    progress_message, result, should_be_killed, created_at, started_at, ended_at, attempts, max_attempts, run_at, \
    lease_owner, lease_expires_at";

#[derive(sqlx::FromRow)]
struct TaskRow {
    id: i64,
    account_id: i64,
    name: String,
    status: String,
    params: Json<serde_json::Value>,
    launcher_id: Option<i64>,
    progress_value: i64,
    end_value: i64,
    progress_message: Option<String>,
    result: Option<Json<serde_json::Value>>,
    should_be_killed: bool,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    lease_owner: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
}

impl From<TaskRow> for Task {
    fn from(row: TaskRow) -> Self {
        Task {
            id: TaskId(row.id),
            account_id: AccountId(row.account_id),
            name: row.name,
            // The column's CHECK constraint admits only the six statuses.
            status: TaskStatus::parse(&row.status).unwrap_or(TaskStatus::Errored),
            params: row.params.0,
            launcher_id: row.launcher_id.map(UserId),
            progress_value: row.progress_value,
            end_value: row.end_value,
            progress_message: row.progress_message,
            result: row.result.map(|r| r.0),
            should_be_killed: row.should_be_killed,
            created_at: row.created_at,
            started_at: row.started_at,
            ended_at: row.ended_at,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            run_at: row.run_at,
            lease_owner: row.lease_owner,
            lease_expires_at: row.lease_expires_at,
        }
    }
}

fn lease_end(lease: Duration) -> DateTime<Utc> {
    now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::hours(1))
}

async fn owned_task(conn: &mut Conn, account: AccountId, id: TaskId) -> StoreResult<Option<Task>> {
    let sql = format!("{COLUMNS} WHERE account_id = $1 AND id = $2");
    let row: Option<TaskRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(account.0)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(row.map(Into::into))
}

async fn append_log(conn: &mut Conn, id: TaskId, message: &str) -> StoreResult<()> {
    sqlx::query("INSERT INTO task_logs (task_id, message, created_at) VALUES ($1, $2, $3)")
        .bind(id.0)
        .bind(message)
        .bind(now())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

impl SqlStore {
    /// Tells this process's workers, and on PostgreSQL every process's, that tasks were queued.
    async fn announce_queued(&self) {
        if let Some(notify) = NOTIFY_QUEUED {
            // Best effort: workers poll anyway.
            if let Err(err) = sqlx::query(notify).execute(&self.pool).await {
                tracing::warn!(%err, "could not notify the workers; they will find the task when they poll");
            }
        }
        self.queued.send_modify(|generation| *generation = generation.wrapping_add(1));
    }
}

#[async_trait]
impl TaskStore for SqlStore {
    async fn enqueue(&self, account: AccountId, task: NewTask) -> StoreResult<Task> {
        if task.name.trim().is_empty() {
            return Err(StoreError::invalid("name", "A task needs a name."));
        }
        let at = now();
        let sql = format!(
            "INSERT INTO tasks (account_id, name, status, params, launcher_id, created_at, max_attempts, run_at) \
             VALUES ($1, $2, 'QUEUED', $3, $4, $5, $6, $5){RETURNING}"
        );
        let row: TaskRow = sqlx::query_as(AssertSqlSafe(sql))
            .bind(account.0)
            .bind(task.name.trim())
            .bind(Json(&task.params))
            .bind(task.launcher_id.map(|u| u.0))
            .bind(at)
            .bind(task.max_attempts.max(1))
            .fetch_one(&self.writer)
            .await
            .map_err(db_err)?;
        self.announce_queued().await;
        Ok(row.into())
    }

    async fn get(&self, account: AccountId, id: TaskId) -> StoreResult<Option<Task>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        owned_task(&mut conn, account, id).await
    }

    async fn list(&self, account: AccountId, query: &TaskQuery) -> StoreResult<Page<Task>> {
        let filters = |builder: &mut QueryBuilder<Db>| {
            builder.push(" WHERE account_id = ").push_bind(account.0);
            if !query.statuses.is_empty() {
                push_in(builder, "status", query.statuses.iter().map(|s| s.as_str().to_owned()));
            }
            if !query.names.is_empty() {
                push_in(builder, "name", query.names.clone());
            }
            if !query.launchers.is_empty() {
                push_in(builder, "launcher_id", query.launchers.iter().map(|u| u.0));
            }
            if let Some(from) = query.created_from {
                builder.push(" AND created_at >= ").push_bind(from);
            }
            if let Some(until) = query.created_until {
                builder.push(" AND created_at < ").push_bind(until);
            }
        };
        let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM tasks");
        filters(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await.map_err(db_err)?;
        let mut select = QueryBuilder::<Db>::new(COLUMNS);
        filters(&mut select);
        select.push(if query.oldest_first { " ORDER BY created_at, id" } else { " ORDER BY created_at DESC, id DESC" });
        if let Some((limit, offset)) = query.page {
            select.push(" LIMIT ").push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
            select.push(" OFFSET ").push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
        }
        let rows: Vec<TaskRow> = select.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(Page { count: total.max(0) as u64, items: rows.into_iter().map(Into::into).collect() })
    }

    async fn set_should_be_killed(&self, account: AccountId, id: TaskId, kill: bool) -> StoreResult<Task> {
        let at = now();
        let killed = TaskOutcome::Killed.result(None);
        // A queued task never started: killing it ends it at once.
        let sql = format!(
            "UPDATE tasks SET should_be_killed = $3, \
             status = CASE WHEN $3 AND status = 'QUEUED' THEN 'KILLED' ELSE status END, \
             result = CASE WHEN $3 AND status = 'QUEUED' THEN $4 ELSE result END, \
             ended_at = CASE WHEN $3 AND status = 'QUEUED' THEN $5 ELSE ended_at END \
             WHERE account_id = $1 AND id = $2 AND status IN ('QUEUED', 'RUNNING'){RETURNING}"
        );
        let row: Option<TaskRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(account.0)
            .bind(id.0)
            .bind(kill)
            .bind(Json(&killed))
            .bind(at)
            .fetch_optional(&self.writer)
            .await
            .map_err(db_err)?;
        match row {
            Some(row) => Ok(row.into()),
            None => self.get(account, id).await?.ok_or(StoreError::NotFound),
        }
    }

    async fn relaunch(&self, account: AccountId, id: TaskId) -> StoreResult<Task> {
        let sql = format!(
            "UPDATE tasks SET status = 'QUEUED', should_be_killed = FALSE, progress_value = 0, \
             progress_message = NULL, result = NULL, started_at = NULL, ended_at = NULL, attempts = 0, run_at = $3, \
             lease_owner = NULL, lease_expires_at = NULL \
             WHERE account_id = $1 AND id = $2 AND status IN ('ERRORED', 'KILLED'){RETURNING}"
        );
        let row: Option<TaskRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(account.0)
            .bind(id.0)
            .bind(now())
            .fetch_optional(&self.writer)
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            return match self.get(account, id).await? {
                None => Err(StoreError::NotFound),
                Some(task) => Err(StoreError::Conflict {
                    field: "status",
                    message: format!(
                        "Only errored or killed tasks can be relaunched; this one is {}.",
                        task.status.as_str()
                    ),
                }),
            };
        };
        self.announce_queued().await;
        Ok(row.into())
    }

    async fn logs(&self, account: AccountId, id: TaskId) -> StoreResult<Vec<TaskLog>> {
        let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT l.message, l.created_at FROM task_logs l JOIN tasks t ON t.id = l.task_id \
             WHERE t.account_id = $1 AND l.task_id = $2 ORDER BY l.id",
        )
        .bind(account.0)
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|(message, created_at)| TaskLog { message, created_at }).collect())
    }

    async fn claim(&self, worker: &str, names: &[&str], lease: Duration) -> StoreResult<Option<Task>> {
        if names.is_empty() {
            return Ok(None);
        }
        let at = now();
        // One statement: SQLite serialises writers, PostgreSQL skips rows other claims have locked.
        let mut claim = QueryBuilder::<Db>::new("UPDATE tasks SET status = 'RUNNING', lease_owner = ");
        claim.push_bind(worker.to_owned());
        claim.push(", lease_expires_at = ").push_bind(lease_end(lease));
        claim.push(", started_at = ").push_bind(at);
        claim.push(
            ", ended_at = NULL, attempts = attempts + 1 WHERE id = (SELECT id FROM tasks WHERE status = 'QUEUED'",
        );
        claim.push(" AND run_at <= ").push_bind(at);
        push_in(&mut claim, "name", names.iter().map(|n| (*n).to_owned()));
        claim.push(" ORDER BY run_at, id LIMIT 1").push(CLAIM_LOCK).push(") AND status = 'QUEUED'").push(RETURNING);
        let row: Option<TaskRow> = claim.build_query_as().fetch_optional(&self.writer).await.map_err(db_err)?;
        Ok(row.map(Into::into))
    }

    async fn heartbeat(&self, id: TaskId, worker: &str, lease: Duration) -> StoreResult<Lease> {
        let kill: Option<bool> = sqlx::query_scalar(
            "UPDATE tasks SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'RUNNING' \
             RETURNING should_be_killed",
        )
        .bind(id.0)
        .bind(worker)
        .bind(lease_end(lease))
        .fetch_optional(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(kill.map_or(Lease::Lost, |should_be_killed| Lease::Held { should_be_killed }))
    }

    async fn report_progress(
        &self,
        id: TaskId,
        worker: &str,
        progress: &Progress,
        lease: Duration,
    ) -> StoreResult<Lease> {
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let kill: Option<bool> = sqlx::query_scalar(
            "UPDATE tasks SET progress_value = COALESCE($3, progress_value), end_value = COALESCE($4, end_value), \
             progress_message = COALESCE($5, progress_message), lease_expires_at = $6 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'RUNNING' RETURNING should_be_killed",
        )
        .bind(id.0)
        .bind(worker)
        .bind(progress.value)
        .bind(progress.end_value)
        .bind(progress.message.as_deref())
        .bind(lease_end(lease))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(should_be_killed) = kill else { return Ok(Lease::Lost) };
        if let Some(message) = &progress.message {
            append_log(&mut tx, id, message).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(Lease::Held { should_be_killed })
    }

    async fn finish(&self, id: TaskId, worker: &str, outcome: &TaskOutcome) -> StoreResult<bool> {
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        // Claims the row for this transaction and reads the message an error report quotes.
        let last: Option<(Option<String>,)> = sqlx::query_as(
            "UPDATE tasks SET lease_expires_at = lease_expires_at WHERE id = $1 AND lease_owner = $2 \
             AND status = 'RUNNING' RETURNING progress_message",
        )
        .bind(id.0)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((last_message,)) = last else { return Ok(false) };
        let result = outcome.result(last_message.as_deref());
        sqlx::query(
            "UPDATE tasks SET status = $2, result = $3, ended_at = $4, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(outcome.status().as_str())
        .bind(Json(&result))
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let message = match outcome {
            TaskOutcome::Success { message, .. } => format!("Completed: {message}"),
            TaskOutcome::Errored { message } => format!("Errored: {message}"),
            TaskOutcome::Killed => "Killed".to_owned(),
        };
        append_log(&mut tx, id, &message).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn release(&self, id: TaskId, worker: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'QUEUED', lease_owner = NULL, lease_expires_at = NULL, started_at = NULL, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END \
             WHERE id = $1 AND lease_owner = $2 AND status = 'RUNNING'",
        )
        .bind(id.0)
        .bind(worker)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        if done.rows_affected() > 0 {
            self.announce_queued().await;
        }
        Ok(done.rows_affected() > 0)
    }

    async fn recover_expired(&self) -> StoreResult<u64> {
        let at = now();
        let mut tx = begin_write(&self.writer).await.map_err(db_err)?;
        let killed = sqlx::query(
            "UPDATE tasks SET status = 'KILLED', result = $2, ended_at = $1, lease_owner = NULL, \
             lease_expires_at = NULL WHERE status = 'RUNNING' AND lease_expires_at < $1 AND should_be_killed",
        )
        .bind(at)
        .bind(Json(TaskOutcome::Killed.result(None)))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        let requeued = sqlx::query(
            "UPDATE tasks SET status = 'QUEUED', lease_owner = NULL, lease_expires_at = NULL, run_at = $1 \
             WHERE status = 'RUNNING' AND lease_expires_at < $1 AND attempts < max_attempts",
        )
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        let given_up = TaskOutcome::Errored {
            message: "The worker running this task stopped responding on its last allowed attempt.".into(),
        };
        let errored = sqlx::query(
            "UPDATE tasks SET status = 'ERRORED', result = $2, ended_at = $1, lease_owner = NULL, \
             lease_expires_at = NULL WHERE status = 'RUNNING' AND lease_expires_at < $1",
        )
        .bind(at)
        .bind(Json(given_up.result(None)))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        tx.commit().await.map_err(db_err)?;
        if requeued > 0 {
            self.announce_queued().await;
        }
        Ok(killed + requeued + errored)
    }

    fn queued_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.start_listening();
        self.queued.subscribe()
    }
}
