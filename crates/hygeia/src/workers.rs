//! Background workers: inside `hygeia serve`, alone in `hygeia worker`, and a check task to see
//! them at work.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use hygeia_core::{NewTask, Progress, TaskStatus};
use hygeia_jobs::{ProgressReporter, TerminalProgress, WorkerConfig, WorkerPool};
use hygeia_server::SharedState;
use hygeia_server::tasks::{WORKER_CHECK, registry, worker_check_params};

use crate::admin::find_account;

#[derive(Args, Clone, Copy)]
pub struct WorkerOptions {
    /// Tasks run at once by this process (0: none; `hygeia worker` processes run them instead).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Seconds a running task's claim holds without a heartbeat; a task whose worker died is
    /// retried after this.
    #[arg(long, default_value_t = 30)]
    pub lease_secs: u64,
}

impl WorkerOptions {
    fn config(self) -> WorkerConfig {
        WorkerConfig {
            workers: self.workers,
            lease: Duration::from_secs(self.lease_secs.max(1)),
            ..WorkerConfig::default()
        }
    }
}

/// Starts the workers over the server's state (its store and settings).
pub fn start(state: &SharedState, options: WorkerOptions) -> WorkerPool {
    tracing::info!(workers = options.workers, "background workers started");
    WorkerPool::start(state.store.clone(), registry(state.clone()), options.config())
}

#[derive(Args)]
pub struct WorkerCheck {
    /// Account name or id.
    #[arg(long)]
    account: String,
    #[arg(long, default_value_t = 10)]
    steps: u64,
    /// Milliseconds per step.
    #[arg(long, default_value_t = 500)]
    step_ms: u64,
    /// Wait for the task to end and show its progress.
    #[arg(long)]
    wait: bool,
}

/// Queues a `worker_check` task; with `--wait`, follows it to its end.
pub async fn worker_check(state: &SharedState, args: WorkerCheck) -> Result<()> {
    let store = &state.store;
    let account = find_account(store, &args.account).await?;
    let task = NewTask::new(WORKER_CHECK, worker_check_params(args.steps, args.step_ms), None);
    let task = store.tasks().enqueue(account.id, task).await.context("queueing the check")?;
    println!("queued task {} ({WORKER_CHECK}, {} steps)", task.id, args.steps);
    if !args.wait {
        return Ok(());
    }
    // The same progress interface task code reports through, drawn as a bar on stderr.
    let bar = TerminalProgress::new(std::io::stderr());
    loop {
        let Some(now) = store.tasks().get(account.id, task.id).await? else { bail!("task {} vanished", task.id) };
        let shown = Progress {
            value: Some(now.progress_value),
            end_value: Some(now.end_value),
            message: now.progress_message.clone(),
        };
        let _ = bar.report(shown).await;
        if now.status.is_final() {
            bar.finish();
            println!("task {} {} after {} attempt(s)", now.id, now.status.as_str(), now.attempts);
            if now.status != TaskStatus::Success {
                bail!("task {} ended {}: {}", now.id, now.status.as_str(), now.result.unwrap_or_default());
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
