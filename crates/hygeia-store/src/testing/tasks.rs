//! Conformance checks of the task queue: claims, leases, progress, kill, relaunch, recovery, tenancy.

use std::time::Duration;

use hygeia_core::{NewTask, Progress, TaskId, TaskOutcome, TaskQuery, TaskStatus};
use serde_json::json;

use super::{account, assert_conflict, assert_invalid, assert_not_found};
use crate::{Lease, Store};

const LEASE: Duration = Duration::from_secs(60);

fn task(name: &str) -> NewTask {
    NewTask::new(name, json!({"file": format!("{name}.csv")}), None)
}

pub async fn tasks_are_queued_claimed_once_and_finished(store: &dyn Store) {
    let acc = account(store, "A").await;
    let tasks = store.tasks();
    let first = tasks.enqueue(acc, task("import")).await.unwrap();
    assert_eq!(first.status, TaskStatus::Queued);
    assert_eq!(first.params["file"], "import.csv");
    assert_eq!((first.attempts, first.max_attempts), (0, NewTask::DEFAULT_MAX_ATTEMPTS));
    let second = tasks.enqueue(acc, task("export")).await.unwrap();
    assert_invalid(tasks.enqueue(acc, task(" ")).await, "name");

    // Only registered names are claimed, oldest first, each by one worker.
    assert!(tasks.claim("w1", &["unknown"], LEASE).await.unwrap().is_none());
    assert!(tasks.claim("w1", &[], LEASE).await.unwrap().is_none());
    let claimed = tasks.claim("w1", &["import", "export"], LEASE).await.unwrap().expect("a task");
    assert_eq!(claimed.id, first.id);
    assert_eq!(claimed.status, TaskStatus::Running);
    assert_eq!(claimed.lease_owner.as_deref(), Some("w1"));
    assert_eq!(claimed.attempts, 1);
    assert!(claimed.started_at.is_some() && claimed.lease_expires_at.is_some());
    let other = tasks.claim("w2", &["import", "export"], LEASE).await.unwrap().expect("the second task");
    assert_eq!(other.id, second.id);
    assert!(tasks.claim("w3", &["import", "export"], LEASE).await.unwrap().is_none(), "nothing left");

    // Progress: stored, logged, and only by the lease holder.
    let progress = Progress { value: Some(3), end_value: Some(10), message: Some("row 3".into()) };
    assert_eq!(
        tasks.report_progress(first.id, "w1", &progress, LEASE).await.unwrap(),
        Lease::Held { should_be_killed: false }
    );
    assert_eq!(tasks.report_progress(first.id, "w2", &progress, LEASE).await.unwrap(), Lease::Lost);
    let half = Progress { value: Some(5), ..Default::default() };
    tasks.report_progress(first.id, "w1", &half, LEASE).await.unwrap();
    let seen = tasks.get(acc, first.id).await.unwrap().unwrap();
    assert_eq!((seen.progress_value, seen.end_value), (5, 10));
    assert_eq!(seen.progress_message.as_deref(), Some("row 3"), "a report without a message keeps the last one");
    assert_eq!(tasks.heartbeat(first.id, "w1", LEASE).await.unwrap(), Lease::Held { should_be_killed: false });
    assert_eq!(tasks.heartbeat(first.id, "w2", LEASE).await.unwrap(), Lease::Lost);

    let outcome = TaskOutcome::Success { message: "10 created".into(), data: Some(json!({"created": 10})) };
    assert!(!tasks.finish(first.id, "w2", &outcome).await.unwrap(), "not w2's task");
    assert!(tasks.finish(first.id, "w1", &outcome).await.unwrap());
    assert!(!tasks.finish(first.id, "w1", &outcome).await.unwrap(), "a task ends once");
    let done = tasks.get(acc, first.id).await.unwrap().unwrap();
    assert_eq!(done.status, TaskStatus::Success);
    assert_eq!(done.result, Some(json!({"result": "SUCCESS", "message": "10 created", "data": {"created": 10}})));
    assert!(done.ended_at.is_some() && done.lease_owner.is_none());
    let logs: Vec<String> = tasks.logs(acc, first.id).await.unwrap().into_iter().map(|l| l.message).collect();
    assert_eq!(logs, ["row 3", "Completed: 10 created"]);

    tasks.finish(second.id, "w2", &TaskOutcome::Errored { message: "bad row".into() }).await.unwrap();
    let failed = tasks.get(acc, second.id).await.unwrap().unwrap();
    assert_eq!(failed.status, TaskStatus::Errored);
    assert_eq!(failed.result.unwrap()["message"], "bad row");
}

pub async fn kills_relaunches_and_releases_follow_the_status(store: &dyn Store) {
    let acc = account(store, "A").await;
    let tasks = store.tasks();
    // A queued task is killed at once; a running one is told at its next report.
    let queued = tasks.enqueue(acc, task("slow")).await.unwrap();
    let killed = tasks.set_should_be_killed(acc, queued.id, true).await.unwrap();
    assert_eq!(killed.status, TaskStatus::Killed);
    assert_eq!(killed.result.as_ref().unwrap()["result"], "KILLED");
    assert!(tasks.claim("w", &["slow"], LEASE).await.unwrap().is_none(), "a killed task never runs");

    let running = tasks.enqueue(acc, task("slow")).await.unwrap();
    tasks.claim("w", &["slow"], LEASE).await.unwrap().unwrap();
    assert_eq!(tasks.set_should_be_killed(acc, running.id, true).await.unwrap().status, TaskStatus::Running);
    let report = tasks.report_progress(running.id, "w", &Progress::default(), LEASE).await.unwrap();
    assert_eq!(report, Lease::Held { should_be_killed: true });
    assert!(!tasks.set_should_be_killed(acc, running.id, false).await.unwrap().should_be_killed);
    assert_eq!(tasks.heartbeat(running.id, "w", LEASE).await.unwrap(), Lease::Held { should_be_killed: false });
    tasks.set_should_be_killed(acc, running.id, true).await.unwrap();
    tasks.finish(running.id, "w", &TaskOutcome::Killed).await.unwrap();
    assert_eq!(tasks.get(acc, running.id).await.unwrap().unwrap().status, TaskStatus::Killed);
    // Ended tasks do not change.
    let after = tasks.set_should_be_killed(acc, running.id, false).await.unwrap();
    assert!(after.should_be_killed && after.status == TaskStatus::Killed);

    // Relaunch: errored and killed tasks start over with their parameters.
    let relaunched = tasks.relaunch(acc, running.id).await.unwrap();
    assert_eq!(relaunched.status, TaskStatus::Queued);
    assert_eq!((relaunched.attempts, relaunched.progress_value), (0, 0));
    assert!(!relaunched.should_be_killed && relaunched.result.is_none() && relaunched.ended_at.is_none());
    assert_eq!(relaunched.params, running.params);
    assert_conflict(tasks.relaunch(acc, running.id).await, "status");
    let again = tasks.claim("w", &["slow"], LEASE).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (running.id, 1));
    assert_conflict(tasks.relaunch(acc, running.id).await, "status");

    // A worker shutting down gives the task back without spending an attempt.
    assert!(tasks.release(again.id, "w").await.unwrap());
    let back = tasks.get(acc, again.id).await.unwrap().unwrap();
    assert_eq!((back.status, back.attempts, back.lease_owner.as_deref()), (TaskStatus::Queued, 0, None));
    assert!(!tasks.release(again.id, "w").await.unwrap());
    assert_not_found(tasks.relaunch(acc, TaskId(i64::MAX)).await);
}

pub async fn expired_leases_are_recovered_then_given_up(store: &dyn Store) {
    let acc = account(store, "A").await;
    let tasks = store.tasks();
    let mut new = task("fragile");
    new.max_attempts = 2;
    let fragile = tasks.enqueue(acc, new).await.unwrap();
    let doomed = tasks.enqueue(acc, task("doomed")).await.unwrap();
    let gone = Duration::ZERO;

    // A worker that died: its zero-length lease expires and the task goes back to the queue.
    tasks.claim("dead-1", &["fragile"], gone).await.unwrap().unwrap();
    tasks.claim("dead-1", &["doomed"], gone).await.unwrap().unwrap();
    tasks.set_should_be_killed(acc, doomed.id, true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(tasks.recover_expired().await.unwrap(), 2);
    assert_eq!(tasks.get(acc, doomed.id).await.unwrap().unwrap().status, TaskStatus::Killed, "a kill was asked");
    let requeued = tasks.get(acc, fragile.id).await.unwrap().unwrap();
    assert_eq!((requeued.status, requeued.attempts), (TaskStatus::Queued, 1));
    // The dead worker's late writes are refused.
    assert_eq!(tasks.heartbeat(fragile.id, "dead-1", LEASE).await.unwrap(), Lease::Lost);

    // Second attempt dies too: the retry limit is reached and the task errors with the reason.
    let second = tasks.claim("dead-2", &["fragile"], gone).await.unwrap().unwrap();
    assert_eq!(second.attempts, 2);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(tasks.recover_expired().await.unwrap(), 1);
    let given_up = tasks.get(acc, fragile.id).await.unwrap().unwrap();
    assert_eq!(given_up.status, TaskStatus::Errored);
    assert!(given_up.result.unwrap()["message"].as_str().unwrap().contains("stopped responding"));
    assert!(!tasks.finish(fragile.id, "dead-2", &TaskOutcome::Killed).await.unwrap());

    // A live lease is left alone.
    let alive = tasks.enqueue(acc, task("fragile")).await.unwrap();
    tasks.claim("alive", &["fragile"], LEASE).await.unwrap().unwrap();
    assert_eq!(tasks.recover_expired().await.unwrap(), 0);
    assert_eq!(tasks.get(acc, alive.id).await.unwrap().unwrap().status, TaskStatus::Running);
}

pub async fn task_lists_filter_and_stay_within_the_account(store: &dyn Store) {
    let a = account(store, "A").await;
    let b = account(store, "B").await;
    let tasks = store.tasks();
    let mut ids = Vec::new();
    for name in ["import", "export", "import"] {
        ids.push(tasks.enqueue(a, task(name)).await.unwrap().id);
    }
    let foreign = tasks.enqueue(b, task("import")).await.unwrap();

    let all = tasks.list(a, &TaskQuery::default()).await.unwrap();
    assert_eq!(all.count, 3);
    let listed: Vec<TaskId> = all.items.iter().map(|t| t.id).collect();
    assert_eq!(listed, vec![ids[2], ids[1], ids[0]], "newest first");
    let imports = TaskQuery { names: vec!["import".into()], oldest_first: true, ..Default::default() };
    let listed: Vec<TaskId> = tasks.list(a, &imports).await.unwrap().items.iter().map(|t| t.id).collect();
    assert_eq!(listed, vec![ids[0], ids[2]]);
    let paged = TaskQuery { page: Some((1, 1)), ..Default::default() };
    let page = tasks.list(a, &paged).await.unwrap();
    assert_eq!((page.count, page.items.len(), page.items[0].id), (3, 1, ids[1]));
    tasks.set_should_be_killed(a, ids[0], true).await.unwrap();
    let killed = TaskQuery { statuses: vec![TaskStatus::Killed], ..Default::default() };
    assert_eq!(tasks.list(a, &killed).await.unwrap().items.iter().map(|t| t.id).collect::<Vec<_>>(), vec![ids[0]]);

    // Another account's task does not exist for A.
    assert!(tasks.get(a, foreign.id).await.unwrap().is_none());
    assert_not_found(tasks.set_should_be_killed(a, foreign.id, true).await);
    assert_not_found(tasks.relaunch(a, foreign.id).await);
    assert!(tasks.logs(a, foreign.id).await.unwrap().is_empty());
    assert!(!tasks.get(b, foreign.id).await.unwrap().unwrap().should_be_killed);
}

pub async fn queueing_wakes_the_workers(store: &dyn Store) {
    let acc = account(store, "A").await;
    let mut signal = store.tasks().queued_signal();
    signal.borrow_and_update();
    store.tasks().enqueue(acc, task("import")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), signal.changed()).await.expect("woken").unwrap();
}
