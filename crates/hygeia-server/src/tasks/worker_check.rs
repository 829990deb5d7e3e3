//! `worker_check`: a task that only counts, in timed steps, so that an operator (or a test) can see
//! that workers run, report progress, honour a kill, and survive a restart
//! (`hygeia worker-check`).

use std::time::Duration;

use async_trait::async_trait;
use hygeia_core::Task;
use hygeia_jobs::{ProgressReporter, TaskError, TaskHandler, TaskSuccess};
use serde_json::{Value, json};

pub const WORKER_CHECK: &str = "worker_check";
const MAX_STEPS: u64 = 100_000;
const MAX_STEP_MS: u64 = 60_000;

pub fn worker_check_params(steps: u64, step_ms: u64) -> Value {
    json!({ "steps": steps, "step_ms": step_ms })
}

pub struct WorkerCheck;

#[async_trait]
impl TaskHandler for WorkerCheck {
    async fn run(&self, task: &Task, progress: &dyn ProgressReporter) -> Result<TaskSuccess, TaskError> {
        let steps = task.params["steps"].as_u64().unwrap_or(10).clamp(1, MAX_STEPS);
        let step = Duration::from_millis(task.params["step_ms"].as_u64().unwrap_or(100).min(MAX_STEP_MS));
        for done in 1..=steps {
            tokio::time::sleep(step).await;
            progress.step(done as i64, steps as i64, &format!("step {done} of {steps}")).await?;
        }
        Ok(TaskSuccess::message(format!("{steps} steps in attempt {}", task.attempts)))
    }
}
