//! Background tasks as Iaso keeps them: a row per task with its status, progress and result, plus
//! what a durable queue needs (attempts, a lease held by the worker running it, when it may run).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{AccountId, TaskId, UserId};

/// Iaso's task statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskStatus {
    Queued,
    Running,
    Success,
    Errored,
    Killed,
    Skipped,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 6] = [
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Success,
        TaskStatus::Errored,
        TaskStatus::Killed,
        TaskStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "QUEUED",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Success => "SUCCESS",
            TaskStatus::Errored => "ERRORED",
            TaskStatus::Killed => "KILLED",
            TaskStatus::Skipped => "SKIPPED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(value.trim()))
    }

    /// Ended for good: nothing will run it again unless it is relaunched.
    pub fn is_final(self) -> bool {
        !matches!(self, TaskStatus::Queued | TaskStatus::Running)
    }

    /// Iaso relaunches errored tasks; Hygeia also relaunches killed ones (a kill is often a mistake).
    pub fn can_relaunch(self) -> bool {
        matches!(self, TaskStatus::Errored | TaskStatus::Killed)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub id: TaskId,
    pub account_id: AccountId,
    /// What to run: the name a handler is registered under (`org_unit_bulk_update`, `import_gpkg`).
    pub name: String,
    pub status: TaskStatus,
    /// The handler's input; never shown by the API (it may name files and credentials).
    pub params: Value,
    pub launcher_id: Option<UserId>,
    pub progress_value: i64,
    pub end_value: i64,
    pub progress_message: Option<String>,
    /// `{"result": "SUCCESS"|"ERRORED"|"KILLED", "message": ..., ["data": ...]}`, as Iaso stores it.
    pub result: Option<Value>,
    pub should_be_killed: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Times a worker has claimed it (a lost worker's claim counts).
    pub attempts: i32,
    pub max_attempts: i32,
    /// Not claimed before this time.
    pub run_at: DateTime<Utc>,
    /// The worker that holds it while running, and until when its claim holds without a heartbeat.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
}

/// A task to queue.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub name: String,
    pub params: Value,
    pub launcher_id: Option<UserId>,
    /// Claims allowed before a task whose workers keep dying is given up as ERRORED.
    pub max_attempts: i32,
}

impl NewTask {
    pub const DEFAULT_MAX_ATTEMPTS: i32 = 3;

    pub fn new(name: impl Into<String>, params: Value, launcher_id: Option<UserId>) -> Self {
        NewTask { name: name.into(), params, launcher_id, max_attempts: Self::DEFAULT_MAX_ATTEMPTS }
    }
}

/// Progress as task code reports it; `None` keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub value: Option<i64>,
    pub end_value: Option<i64>,
    pub message: Option<String>,
}

/// How a run ended, as the worker records it.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// `data` is what the task produced (a summary, or `"file:<key>"` for a download).
    Success {
        message: String,
        data: Option<Value>,
    },
    Errored {
        message: String,
    },
    Killed,
}

impl TaskOutcome {
    pub fn status(&self) -> TaskStatus {
        match self {
            TaskOutcome::Success { .. } => TaskStatus::Success,
            TaskOutcome::Errored { .. } => TaskStatus::Errored,
            TaskOutcome::Killed => TaskStatus::Killed,
        }
    }

    /// Iaso's `result` JSON.
    pub fn result(&self, last_progress_message: Option<&str>) -> Value {
        match self {
            TaskOutcome::Success { message, data: None } => {
                serde_json::json!({"result": "SUCCESS", "message": message})
            }
            TaskOutcome::Success { message, data: Some(data) } => {
                serde_json::json!({"result": "SUCCESS", "message": message, "data": data})
            }
            TaskOutcome::Errored { message } => serde_json::json!({
                "result": "ERRORED", "message": message, "last_progress_message": last_progress_message,
            }),
            TaskOutcome::Killed => serde_json::json!({"result": "KILLED", "message": "Killed"}),
        }
    }
}

/// What a list of tasks may be narrowed to (Iaso's `/api/tasks/` filters).
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    pub statuses: Vec<TaskStatus>,
    /// Task names (Iaso's `task_type`).
    pub names: Vec<String>,
    pub launchers: Vec<UserId>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_until: Option<DateTime<Utc>>,
    /// Newest first unless `oldest_first`.
    pub oldest_first: bool,
    /// `(limit, offset)`.
    pub page: Option<(u64, u64)>,
}

/// An entry of a task's progress history (Iaso's TaskLog).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskLog {
    pub message: String,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_only_ended_ones_relaunch() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(TaskStatus::parse("errored"), Some(TaskStatus::Errored));
        assert_eq!(TaskStatus::parse("DONE"), None);
        assert!(TaskStatus::Errored.can_relaunch() && TaskStatus::Killed.can_relaunch());
        assert!(!TaskStatus::Success.can_relaunch() && !TaskStatus::Running.can_relaunch());
        assert!(!TaskStatus::Queued.is_final() && TaskStatus::Skipped.is_final());
    }

    #[test]
    fn outcomes_give_iaso_results() {
        let done = TaskOutcome::Success { message: "2 modified".into(), data: None };
        assert_eq!(done.result(None), serde_json::json!({"result": "SUCCESS", "message": "2 modified"}));
        let failed = TaskOutcome::Errored { message: "boom".into() };
        assert_eq!(failed.result(Some("row 3"))["last_progress_message"], "row 3");
        assert_eq!(TaskOutcome::Killed.result(None)["message"], "Killed");
    }
}
