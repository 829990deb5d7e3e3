//! Workers as separate processes: one is killed with SIGKILL in the middle of a task, another
//! takes the task over once the dead one's lease expires, and the task completes exactly once.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hygeia_core::{AccountId, Task, TaskId, TaskStatus};
use hygeia_store::DynStore;

use crate::{hygeia, ok, on_postgres, run, scratch_dir};

struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_worker(dir: &Path, database_url: Option<&str>) -> Worker {
    let child = hygeia(dir, database_url)
        .args(["worker", "--workers", "1", "--lease-secs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn a worker");
    Worker(child)
}

fn wait_for(
    runtime: &tokio::runtime::Runtime,
    store: &DynStore,
    account: AccountId,
    id: TaskId,
    within: Duration,
    done: impl Fn(&Task) -> bool,
) -> Task {
    let deadline = Instant::now() + within;
    loop {
        let task = runtime.block_on(store.tasks().get(account, id)).unwrap().expect("the task");
        if done(&task) {
            return task;
        }
        assert!(Instant::now() < deadline, "gave up waiting; the task is {task:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn killed_worker_loses_no_task(dir: &Path, database_url: Option<&str>) {
    ok(&run(hygeia(dir, database_url).arg("migrate"), None));
    ok(&run(hygeia(dir, database_url).args(["create-account", "Workers"]), None));
    let out = ok(&run(
        hygeia(dir, database_url).args(["worker-check", "--account", "Workers", "--steps", "15", "--step-ms", "200"]),
        None,
    ));
    let id: i64 = out.split_whitespace().nth(2).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{out}"));
    let id = TaskId(id);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = database_url.map(str::to_owned).unwrap_or_else(|| format!("sqlite://{}/data/hygeia.db", dir.display()));
    let store = runtime.block_on(hygeia_server::backend::connect(&url)).unwrap();
    let account = runtime.block_on(store.accounts().find_by_name("Workers")).unwrap().unwrap().id;

    let mut first = start_worker(dir, database_url);
    let running = wait_for(&runtime, &store, account, id, Duration::from_secs(30), |t| t.progress_value >= 2);
    assert_eq!((running.status, running.attempts), (TaskStatus::Running, 1));
    first.0.kill().expect("SIGKILL");
    first.0.wait().unwrap();
    let orphan = runtime.block_on(store.tasks().get(account, id)).unwrap().unwrap();
    assert_eq!(orphan.status, TaskStatus::Running, "the dead worker's claim stands until its lease expires");

    let mut second = start_worker(dir, database_url);
    let done = wait_for(&runtime, &store, account, id, Duration::from_secs(30), |t| t.status.is_final());
    assert_eq!(done.status, TaskStatus::Success, "{done:?}");
    assert_eq!(done.attempts, 2);
    assert_eq!(done.result.as_ref().unwrap()["message"], "15 steps in attempt 2");
    assert_eq!((done.progress_value, done.end_value), (15, 15));
    let logs = runtime.block_on(store.tasks().logs(account, id)).unwrap();
    let completions = logs.iter().filter(|l| l.message.starts_with("Completed")).count();
    assert_eq!(completions, 1, "{logs:?}");

    assert!(Command::new("kill").args(["-TERM", &second.0.id().to_string()]).status().unwrap().success());
    let status = second.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    runtime.block_on(store.close());
}

#[test]
fn a_killed_worker_loses_no_task_on_sqlite() {
    let dir = scratch_dir("workers-sqlite");
    killed_worker_loses_no_task(&dir, None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_worker_loses_no_task_on_postgres() {
    on_postgres("workers-postgres", |dir, url| killed_worker_loses_no_task(dir, Some(url)));
}
