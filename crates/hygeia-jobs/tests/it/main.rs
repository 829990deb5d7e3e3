//! The worker pool against real stores: SQLite files and PostgreSQL schemas.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hygeia_core::{AccountId, NewAccount, NewTask, Task, TaskId, TaskQuery, TaskStatus};
use hygeia_jobs::{ProgressReporter, Registry, TaskError, TaskHandler, TaskSuccess, WorkerConfig, WorkerPool};
use hygeia_store::DynStore;
use hygeia_store::testing::TestStore;
use serde_json::json;

/// A SQLite file (several connections, as `hygeia serve` opens it), removed at the end.
async fn sqlite() -> Option<TestStore> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hygeia-jobs-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = hygeia_store_sqlite::SqliteStore::connect(&format!("sqlite://{}/tasks.db", dir.display()))
        .await
        .expect("open SQLite");
    hygeia_store::Store::migrate(&store).await.unwrap();
    let teardown = Box::pin(async move {
        let _ = std::fs::remove_dir_all(dir);
    });
    Some(TestStore::new(Arc::new(store), Some(teardown)))
}

async fn postgres() -> Option<TestStore> {
    hygeia_store_postgres::testing::isolated().await
}

macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $test() {
            let Some(store) = super::sqlite().await else { return };
            super::$test(store.store.clone()).await;
            store.finish().await;
        } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $test() {
            let Some(store) = super::postgres().await else { return };
            super::$test(store.store.clone()).await;
            store.finish().await;
        } )* }
    };
}

on_both_backends!(
    two_thousand_tasks_run_exactly_once_on_four_workers,
    progress_shows_while_running_and_kill_is_honoured,
    failures_and_panics_end_errored_and_the_worker_keeps_serving,
    a_dead_workers_task_is_recovered_and_run_again,
    relaunched_tasks_run_again,
    shutdown_gives_unfinished_tasks_back,
);

fn quick(workers: usize) -> WorkerConfig {
    WorkerConfig {
        workers,
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(200),
        progress_interval: Duration::ZERO,
        shutdown_grace: Duration::from_secs(5),
    }
}

async fn account(store: &DynStore) -> AccountId {
    store.accounts().create(NewAccount::named("Tasks")).await.unwrap().id
}

/// Polls until `done` holds for the task, or fails after `within`.
async fn wait_for(
    store: &DynStore,
    account: AccountId,
    id: TaskId,
    within: Duration,
    done: impl Fn(&Task) -> bool,
) -> Task {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let task = store.tasks().get(account, id).await.unwrap().unwrap();
        if done(&task) {
            return task;
        }
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting; task is {task:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts how many times each task ran.
#[derive(Clone, Default)]
struct Counting(Arc<Mutex<HashMap<TaskId, u32>>>);

#[async_trait]
impl TaskHandler for Counting {
    async fn run(&self, task: &Task, progress: &dyn ProgressReporter) -> Result<TaskSuccess, TaskError> {
        *self.0.lock().unwrap().entry(task.id).or_default() += 1;
        progress.step(1, 1, "counted").await?;
        Ok(TaskSuccess::message(format!("task {}", task.params["n"])))
    }
}

async fn two_thousand_tasks_run_exactly_once_on_four_workers(store: DynStore) {
    let acc = account(&store).await;
    let counting = Counting::default();
    let mut registry = Registry::new();
    registry.register("count", counting.clone());
    // Two "processes" of two workers each, over the same database.
    let pools = [
        WorkerPool::start(store.clone(), registry.clone(), quick(2)),
        WorkerPool::start(store.clone(), registry.clone(), quick(2)),
    ];
    let mut ids = Vec::new();
    for n in 0..2000 {
        ids.push(store.tasks().enqueue(acc, NewTask::new("count", json!({"n": n}), None)).await.unwrap().id);
    }
    let success = TaskQuery { statuses: vec![TaskStatus::Success], page: Some((1, 0)), ..Default::default() };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while store.tasks().list(acc, &success).await.unwrap().count < 2000 {
        assert!(tokio::time::Instant::now() < deadline, "not all tasks ran in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for pool in pools {
        pool.shutdown().await;
    }
    let runs = counting.0.lock().unwrap().clone();
    assert_eq!(runs.len(), 2000);
    assert!(runs.values().all(|&n| n == 1), "a task ran twice: {:?}", runs.iter().find(|(_, n)| **n != 1));
    let all = store.tasks().list(acc, &TaskQuery::default()).await.unwrap();
    assert!(all.items.iter().all(|t| t.status == TaskStatus::Success && t.attempts == 1 && t.progress_value == 1));
    assert_eq!(all.items.iter().find(|t| t.id == ids[7]).unwrap().result.as_ref().unwrap()["message"], "task 7");
}

/// Counts up slowly until told to stop.
#[derive(Clone, Default)]
struct Slow {
    steps_taken: Arc<AtomicUsize>,
}

#[async_trait]
impl TaskHandler for Slow {
    async fn run(&self, _task: &Task, progress: &dyn ProgressReporter) -> Result<TaskSuccess, TaskError> {
        for step in 1..=1000 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.steps_taken.store(step, Ordering::SeqCst);
            progress.step(step as i64, 1000, &format!("step {step}")).await?;
        }
        Ok(TaskSuccess::message("all steps"))
    }
}

async fn progress_shows_while_running_and_kill_is_honoured(store: DynStore) {
    let acc = account(&store).await;
    let slow = Slow::default();
    let mut registry = Registry::new();
    registry.register("slow", slow.clone());
    let pool = WorkerPool::start(store.clone(), registry, quick(1));
    let task = store.tasks().enqueue(acc, NewTask::new("slow", json!({}), None)).await.unwrap();
    let running = wait_for(&store, acc, task.id, Duration::from_secs(10), |t| t.progress_value >= 3).await;
    assert_eq!(running.status, TaskStatus::Running);
    assert_eq!(running.end_value, 1000);
    assert!(running.progress_message.as_deref().is_some_and(|m| m.starts_with("step ")));

    store.tasks().set_should_be_killed(acc, task.id, true).await.unwrap();
    let killed = wait_for(&store, acc, task.id, Duration::from_secs(10), |t| t.status.is_final()).await;
    assert_eq!(killed.status, TaskStatus::Killed);
    assert_eq!(killed.result.unwrap()["result"], "KILLED");
    let stopped_at = slow.steps_taken.load(Ordering::SeqCst);
    assert!(stopped_at < 1000);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(slow.steps_taken.load(Ordering::SeqCst), stopped_at, "the handler stopped at its report");
    let logs = store.tasks().logs(acc, task.id).await.unwrap();
    assert_eq!(logs.last().unwrap().message, "Killed");
    pool.shutdown().await;
}

struct Failing;

#[async_trait]
impl TaskHandler for Failing {
    async fn run(&self, task: &Task, _progress: &dyn ProgressReporter) -> Result<TaskSuccess, TaskError> {
        if task.params["panic"] == true {
            panic!("row 12 has no name");
        }
        Err(TaskError::failed("The file has no header row."))
    }
}

async fn failures_and_panics_end_errored_and_the_worker_keeps_serving(store: DynStore) {
    let acc = account(&store).await;
    let counting = Counting::default();
    let mut registry = Registry::new();
    registry.register("fail", Failing).register("count", counting.clone());
    let pool = WorkerPool::start(store.clone(), registry, quick(1));
    let failed = store.tasks().enqueue(acc, NewTask::new("fail", json!({}), None)).await.unwrap();
    let panicked = store.tasks().enqueue(acc, NewTask::new("fail", json!({"panic": true}), None)).await.unwrap();
    let after = store.tasks().enqueue(acc, NewTask::new("count", json!({"n": 1}), None)).await.unwrap();
    let ten = Duration::from_secs(10);
    let failed = wait_for(&store, acc, failed.id, ten, |t| t.status.is_final()).await;
    assert_eq!(failed.status, TaskStatus::Errored);
    assert_eq!(failed.result.unwrap()["message"], "The file has no header row.");
    let panicked = wait_for(&store, acc, panicked.id, ten, |t| t.status.is_final()).await;
    assert_eq!(panicked.status, TaskStatus::Errored);
    let message = panicked.result.unwrap()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("row 12 has no name"), "{message}");
    let after = wait_for(&store, acc, after.id, ten, |t| t.status.is_final()).await;
    assert_eq!(after.status, TaskStatus::Success, "the one worker kept serving");
    pool.shutdown().await;
}

async fn a_dead_workers_task_is_recovered_and_run_again(store: DynStore) {
    let acc = account(&store).await;
    let task = store.tasks().enqueue(acc, NewTask::new("count", json!({"n": 1}), None)).await.unwrap();
    // A worker claims it with a short lease and is never heard of again.
    let ghost = store.tasks().claim("ghost", &["count"], Duration::from_millis(300)).await.unwrap().unwrap();
    assert_eq!(ghost.id, task.id);
    let counting = Counting::default();
    let mut registry = Registry::new();
    registry.register("count", counting.clone());
    let mut config = quick(1);
    config.lease = Duration::from_millis(400);
    let pool = WorkerPool::start(store.clone(), registry, config);
    let done = wait_for(&store, acc, task.id, Duration::from_secs(10), |t| t.status.is_final()).await;
    assert_eq!((done.status, done.attempts), (TaskStatus::Success, 2));
    assert_eq!(counting.0.lock().unwrap().get(&task.id), Some(&1));
    assert!(!store.tasks().finish(task.id, "ghost", &hygeia_core::TaskOutcome::Killed).await.unwrap());
    pool.shutdown().await;
}

/// Fails on its first run only.
#[derive(Clone, Default)]
struct FailsOnce(Arc<AtomicUsize>);

#[async_trait]
impl TaskHandler for FailsOnce {
    async fn run(&self, _task: &Task, _progress: &dyn ProgressReporter) -> Result<TaskSuccess, TaskError> {
        match self.0.fetch_add(1, Ordering::SeqCst) {
            0 => Err(TaskError::failed("DHIS2 answered 503")),
            _ => Ok(TaskSuccess { message: "imported".into(), data: Some(json!({"created": 3})) }),
        }
    }
}

async fn relaunched_tasks_run_again(store: DynStore) {
    let acc = account(&store).await;
    let mut registry = Registry::new();
    registry.register("import", FailsOnce::default());
    let pool = WorkerPool::start(store.clone(), registry, quick(1));
    let task = store.tasks().enqueue(acc, NewTask::new("import", json!({"url": "https://dhis2"}), None)).await.unwrap();
    let ten = Duration::from_secs(10);
    assert_eq!(wait_for(&store, acc, task.id, ten, |t| t.status.is_final()).await.status, TaskStatus::Errored);
    store.tasks().relaunch(acc, task.id).await.unwrap();
    let done = wait_for(&store, acc, task.id, ten, |t| t.status.is_final()).await;
    assert_eq!(done.status, TaskStatus::Success);
    assert_eq!(done.result.unwrap()["data"]["created"], 3);
    assert_eq!(done.params["url"], "https://dhis2");
    pool.shutdown().await;
}

async fn shutdown_gives_unfinished_tasks_back(store: DynStore) {
    let acc = account(&store).await;
    let mut registry = Registry::new();
    registry.register("slow", Slow::default());
    let mut config = quick(1);
    config.shutdown_grace = Duration::from_millis(200);
    let pool = WorkerPool::start(store.clone(), registry, config);
    let task = store.tasks().enqueue(acc, NewTask::new("slow", json!({}), None)).await.unwrap();
    wait_for(&store, acc, task.id, Duration::from_secs(10), |t| t.progress_value >= 1).await;
    let started = std::time::Instant::now();
    pool.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(3), "shutdown waited {:?}", started.elapsed());
    let back = store.tasks().get(acc, task.id).await.unwrap().unwrap();
    assert_eq!((back.status, back.attempts, back.lease_owner), (TaskStatus::Queued, 0, None));
}
