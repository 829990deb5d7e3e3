//! The worker pool: N loops that claim a task, run its handler with a heartbeat beside it, and
//! record the outcome; a reaper that gives lost workers' tasks back to the queue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hygeia_core::{Progress, Task, TaskOutcome};
use hygeia_store::{DynStore, Lease};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::handler::{Registry, TaskError};
use crate::progress::{Stop, StoreProgress};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Concurrent tasks (one loop each).
    pub workers: usize,
    /// How long a claim holds without a heartbeat; a dead worker's task is retried after this.
    pub lease: Duration,
    /// Longest wait between looks at the queue when no wake-up comes.
    pub poll_interval: Duration,
    /// Least time between two progress writes of one task.
    pub progress_interval: Duration,
    /// On shutdown, how long running tasks may take to finish before they are given back.
    pub shutdown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            workers: 2,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(2),
            progress_interval: Duration::from_millis(250),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Running workers; [`WorkerPool::shutdown`] stops them.
pub struct WorkerPool {
    stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
    reaper: JoinHandle<()>,
}

struct Shared {
    store: DynStore,
    registry: Registry,
    names: Vec<String>,
    config: WorkerConfig,
}

impl WorkerPool {
    /// Starts `config.workers` loops over `store` (none when 0: the reaper still runs).
    pub fn start(store: DynStore, registry: Registry, config: WorkerConfig) -> WorkerPool {
        let (stop, _) = watch::channel(false);
        let prefix = instance_name();
        let names = registry.names();
        let shared = Arc::new(Shared { store, registry, names, config });
        let loops = (0..shared.config.workers)
            .map(|n| {
                let name = format!("{prefix}-{n}");
                tokio::spawn(worker_loop(shared.clone(), name, stop.subscribe()))
            })
            .collect();
        let reaper = tokio::spawn(reaper_loop(shared, stop.subscribe()));
        WorkerPool { stop, loops, reaper }
    }

    /// Stops claiming, lets running tasks finish within the grace period, gives the others back
    /// to the queue, and returns when every loop has ended.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for handle in self.loops {
            let _ = handle.await;
        }
        self.reaper.abort();
        let _ = self.reaper.await;
    }
}

/// `host:pid:random`, unique per process start, so leases name their holder.
fn instance_name() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "worker".into());
    let mut random = [0u8; 4];
    let _ = getrandom::fill(&mut random);
    format!("{host}:{}:{}", std::process::id(), hex::encode(random))
}

async fn reaper_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let every = (shared.config.lease / 2).max(Duration::from_millis(100));
    loop {
        match shared.store.tasks().recover_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(tasks = n, "recovered tasks whose worker stopped responding"),
            Err(err) => tracing::warn!(%err, "could not look for lost workers' tasks"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn worker_loop(shared: Arc<Shared>, worker: String, mut stop: watch::Receiver<bool>) {
    let mut queued = shared.store.tasks().queued_signal();
    let names: Vec<&str> = shared.names.iter().map(String::as_str).collect();
    while !*stop.borrow() {
        // Marked seen before looking: a task queued after the look wakes the wait below.
        queued.borrow_and_update();
        match shared.store.tasks().claim(&worker, &names, shared.config.lease).await {
            Ok(Some(task)) => run_claimed(&shared, &worker, task, &mut stop).await,
            Ok(None) => {
                tokio::select! {
                    _ = queued.changed() => {}
                    _ = tokio::time::sleep(shared.config.poll_interval) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(err) => {
                tracing::warn!(%err, worker, "could not claim a task");
                tokio::select! {
                    _ = tokio::time::sleep(shared.config.poll_interval) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

/// How the handler's run ended, seen from the worker.
enum Ending {
    Outcome(TaskOutcome),
    /// The task is another worker's now: write nothing.
    Lost,
    /// Shutting down: give it back.
    Release,
}

async fn run_claimed(shared: &Shared, worker: &str, task: Task, stop: &mut watch::Receiver<bool>) {
    let id = task.id;
    let Some(handler) = shared.registry.get(&task.name) else {
        // Unreachable through `claim`, which filters by the registry's names.
        let outcome = TaskOutcome::Errored { message: format!("No handler for tasks named \"{}\".", task.name) };
        let _ = shared.store.tasks().finish(id, worker, &outcome).await;
        return;
    };
    tracing::info!(task = %id, name = task.name, attempt = task.attempts, worker, "task started");
    let reporter = Arc::new(StoreProgress {
        store: shared.store.clone(),
        task: id,
        worker: worker.to_owned(),
        lease: shared.config.lease,
        interval: shared.config.progress_interval,
        pending: Mutex::new((Progress::default(), None)),
    });
    // The handler runs as its own tokio task, so that a panic is caught as a JoinError.
    let mut run = {
        let reporter = reporter.clone();
        tokio::spawn(async move { handler.run(&task, reporter.as_ref()).await })
    };
    let beat = (shared.config.lease / 3).max(Duration::from_millis(50));
    let mut heartbeat = tokio::time::interval(beat);
    heartbeat.tick().await;
    let mut stopping_since: Option<tokio::time::Instant> = None;
    let ending = loop {
        let grace_left = stopping_since.map(|at| shared.config.shutdown_grace.saturating_sub(at.elapsed()));
        tokio::select! {
            joined = &mut run => break ending_of(joined),
            _ = heartbeat.tick() => {
                match shared.store.tasks().heartbeat(id, worker, shared.config.lease).await {
                    Ok(Lease::Held { .. }) => {}
                    Ok(Lease::Lost) => { run.abort(); break Ending::Lost; }
                    Err(err) => tracing::warn!(task = %id, %err, "heartbeat failed"),
                }
            }
            _ = stop.changed(), if stopping_since.is_none() => {
                stopping_since = Some(tokio::time::Instant::now());
            }
            _ = tokio::time::sleep(grace_left.unwrap_or(Duration::MAX)), if grace_left.is_some() => {
                run.abort();
                break Ending::Release;
            }
        }
    };
    let tasks = shared.store.tasks();
    let result = match &ending {
        Ending::Outcome(outcome) => tasks.finish(id, worker, outcome).await,
        Ending::Release => tasks.release(id, worker).await,
        Ending::Lost => Ok(false),
    };
    match (ending, result) {
        (Ending::Outcome(outcome), Ok(true)) => {
            tracing::info!(task = %id, status = outcome.status().as_str(), "task ended")
        }
        (Ending::Release, Ok(true)) => tracing::info!(task = %id, "task given back to the queue at shutdown"),
        (_, Ok(_)) => tracing::warn!(task = %id, worker, "task was taken over by another worker"),
        // The lease will expire and the reaper will queue the task again.
        (_, Err(err)) => tracing::error!(task = %id, %err, "could not record the end of the task"),
    }
}

fn ending_of(joined: Result<Result<crate::TaskSuccess, TaskError>, tokio::task::JoinError>) -> Ending {
    match joined {
        Ok(Ok(success)) => Ending::Outcome(TaskOutcome::Success { message: success.message, data: success.data }),
        Ok(Err(TaskError::Stopped(Stop::Killed))) => Ending::Outcome(TaskOutcome::Killed),
        Ok(Err(TaskError::Stopped(Stop::LeaseLost))) => Ending::Lost,
        Ok(Err(TaskError::Failed(message))) => Ending::Outcome(TaskOutcome::Errored { message }),
        Err(join) if join.is_panic() => {
            let panic = join.into_panic();
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            Ending::Outcome(TaskOutcome::Errored { message: format!("The task failed unexpectedly: {text}") })
        }
        Err(_) => Ending::Lost,
    }
}
