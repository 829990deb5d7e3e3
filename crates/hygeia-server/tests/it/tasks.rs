//! Background tasks over HTTP: Iaso's task creation, list, detail, kill, relaunch and logs.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use hygeia_jobs::{WorkerConfig, WorkerPool};
use serde_json::{Value, json};

use crate::georegistry::{ok, setup};
use crate::on_both_backends;
use crate::support::send_json;
use crate::support::{TestApp, wait_until_ended};

on_both_backends!(
    bulk_update_runs_as_a_task_followed_through_the_api,
    tasks_are_scoped_and_gated_by_permission,
    task_files_download_with_the_tasks_rights,
);

async fn bulk_update_runs_as_a_task_followed_through_the_api(app: &TestApp) {
    let (_, token, _, [_, region, district]) = setup(app).await;
    let group = ok(
        send_json(app, Method::POST, "/api/groups/", &token, json!({"name": "Public", "source_ref": "g1"})).await,
        StatusCode::CREATED,
    );
    let body = json!({
        "select_all": false, "selected_ids": [region, district], "unselected_ids": [],
        "groups_added": [group["id"]], "groups_removed": [], "searches": [],
    });
    let created = ok(
        send_json(app, Method::POST, "/api/tasks/create/orgunitsbulkupdate/", &token, body).await,
        StatusCode::CREATED,
    );
    let task = &created["task"];
    assert_eq!(task["status"], "QUEUED");
    assert_eq!(task["name"], "org_unit_bulk_update");
    assert_eq!(task["launcher"]["username"], "admin");
    assert_eq!(task["created_by"], task["launcher"]);
    assert!(task.get("params").is_none(), "parameters are never shown: {task}");
    let id = task["id"].as_i64().unwrap();
    let listed = ok(app.get("/api/tasks/", Some(&token)).await, StatusCode::OK);
    assert_eq!(listed["tasks"][0]["id"], id);

    // Nothing changes until a worker runs it.
    let members = ok(app.get(&format!("/api/orgunits/?group={}", group["id"]), Some(&token)).await, StatusCode::OK);
    assert_eq!(members["orgUnits"].as_array().unwrap().len(), 0);
    let registry = hygeia_server::tasks::registry(app.state.clone());
    let config = WorkerConfig { workers: 1, poll_interval: Duration::from_millis(50), ..Default::default() };
    let pool = WorkerPool::start(app.store.clone(), registry, config);
    let done = wait_until_ended(app, &token, id).await;
    pool.shutdown().await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(done["result"], json!({"result": "SUCCESS", "message": "2 modified", "data": {"count": 2}}));
    assert_eq!((done["progress_value"].as_i64(), done["end_value"].as_i64()), (Some(1), Some(1)));
    assert!(done["started_at"].as_f64().unwrap() <= done["ended_at"].as_f64().unwrap());
    let members = ok(app.get(&format!("/api/orgunits/?group={}", group["id"]), Some(&token)).await, StatusCode::OK);
    assert_eq!(members["orgUnits"].as_array().unwrap().len(), 2);
    let logs = ok(app.get(&format!("/api/tasks/{id}/logs/"), Some(&token)).await, StatusCode::OK);
    let messages: Vec<&str> = logs["logs"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["Applying the change", "2 modified", "Completed: 2 modified"]);
    assert_eq!(logs["status"], "SUCCESS");

    // A finished task is neither relaunched nor killed.
    let relaunch = send_json(app, Method::PATCH, &format!("/api/tasks/{id}/relaunch/"), &token, json!({})).await;
    relaunch.error(StatusCode::CONFLICT, "conflict");
    let path = format!("/api/tasks/{id}/");
    let kill = send_json(app, Method::PATCH, &path, &token, json!({"should_be_killed": true})).await;
    assert_eq!(ok(kill, StatusCode::OK)["status"], "SUCCESS");

    // A body that cannot work is refused at once, naming the field, and queues nothing.
    let empty = json!({"selected_ids": [region]});
    let refused = send_json(app, Method::POST, "/api/tasks/create/orgunitsbulkupdate/", &token, empty).await;
    let error = refused.error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(error["fields"]["org_unit_type"].is_array(), "{error}");
    let listed = ok(app.get("/api/tasks/", Some(&token)).await, StatusCode::OK);
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 1);
}

async fn tasks_are_scoped_and_gated_by_permission(app: &TestApp) {
    let (account, token, _, [_, region, _]) = setup(app).await;
    app.user(account, "editor", |u| u.permissions = vec!["iaso_org_units".into()]).await;
    let editor = app.token("editor").await;
    let body = json!({"selected_ids": [region], "validation_status": "NEW"});
    let mine = ok(
        send_json(app, Method::POST, "/api/tasks/create/orgunitsbulkupdate/", &editor, body.clone()).await,
        StatusCode::CREATED,
    )["task"]["id"]
        .as_i64()
        .unwrap();
    let admins = ok(
        send_json(app, Method::POST, "/api/tasks/create/orgunitsbulkupdate/", &token, body.clone()).await,
        StatusCode::CREATED,
    )["task"]["id"]
        .as_i64()
        .unwrap();

    // Without iaso_data_tasks: no list, no one else's task, but one's own.
    app.get("/api/tasks/", Some(&editor)).await.error(StatusCode::FORBIDDEN, "permission_denied");
    ok(app.get(&format!("/api/tasks/{mine}/"), Some(&editor)).await, StatusCode::OK);
    app.get(&format!("/api/tasks/{admins}/"), Some(&editor)).await.error(StatusCode::FORBIDDEN, "permission_denied");

    // Another account's users do not see the task at all.
    let other = app.account("Other").await;
    app.user(other, "outsider", |u| u.is_superuser = true).await;
    let outsider = app.token("outsider").await;
    app.get(&format!("/api/tasks/{mine}/"), Some(&outsider)).await.error(StatusCode::NOT_FOUND, "not_found");
    let listed = ok(app.get("/api/tasks/", Some(&outsider)).await, StatusCode::OK);
    assert_eq!(listed["tasks"], json!([]));
    let kill = json!({"should_be_killed": true});
    send_json(app, Method::PATCH, &format!("/api/tasks/{mine}/"), &outsider, kill.clone())
        .await
        .error(StatusCode::NOT_FOUND, "not_found");

    // A queued task killed ends at once; relaunched, it is queued again.
    let killed = ok(send_json(app, Method::PATCH, &format!("/api/tasks/{mine}/"), &editor, kill).await, StatusCode::OK);
    assert_eq!((killed["status"].as_str(), killed["should_be_killed"].as_bool()), (Some("KILLED"), Some(true)));
    assert_eq!(killed["result"]["result"], "KILLED");
    let queued = ok(
        send_json(app, Method::PATCH, &format!("/api/tasks/{mine}/relaunch/"), &editor, json!({})).await,
        StatusCode::OK,
    );
    assert_eq!((queued["status"].as_str(), queued["should_be_killed"].as_bool()), (Some("QUEUED"), Some(false)));

    // Filters and pages.
    let page = ok(app.get("/api/tasks/?limit=1&page=2&order=created_at", Some(&token)).await, StatusCode::OK);
    assert_eq!((page["count"].as_u64(), page["pages"].as_u64()), (Some(2), Some(2)));
    assert_eq!(page["tasks"][0]["id"], admins);
    let by_user =
        format!("/api/tasks/?users={}&task_type=org_unit_bulk_update&status=QUEUED", queued["launcher"]["id"]);
    let filtered = ok(app.get(&by_user, Some(&token)).await, StatusCode::OK);
    assert_eq!(
        filtered["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        [mine]
    );
    let none = ok(app.get("/api/tasks/?status=ERRORED", Some(&token)).await, StatusCode::OK);
    assert_eq!(none["tasks"], json!([]));
    app.get("/api/tasks/?status=DONE", Some(&token)).await.error(StatusCode::BAD_REQUEST, "validation_error");
    app.get("/api/tasks/?start_date=yesterday", Some(&token)).await.error(StatusCode::BAD_REQUEST, "validation_error");
    let bad = send_json(app, Method::PATCH, &format!("/api/tasks/{mine}/"), &token, json!({"status": "SUCCESS"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
}

/// A task that produced a file, as a worker would record it.
async fn finished_with(app: &TestApp, account: hygeia_core::AccountId, data: Value) -> i64 {
    let tasks = app.store.tasks();
    let task = tasks.enqueue(account, hygeia_core::NewTask::new("export", json!({}), None)).await.unwrap();
    let claimed = tasks.claim("w", &["export"], Duration::from_secs(60)).await.unwrap().unwrap();
    assert_eq!(claimed.id, task.id);
    let outcome = hygeia_core::TaskOutcome::Success { message: "exported".into(), data: Some(data) };
    assert!(tasks.finish(task.id, "w", &outcome).await.unwrap());
    task.id.0
}

async fn task_files_download_with_the_tasks_rights(app: &TestApp) {
    let (account, token, _, _) = setup(app).await;
    let key = hygeia_files::FileStore::new_key(account, "exports", "org units.csv");
    let content = "id;name\n1;Burkina Faso\n".repeat(10_000);
    let chunks = futures_util::stream::iter(
        content
            .as_bytes()
            .chunks(7_000)
            .map(|c| Ok::<_, hygeia_files::FileError>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    app.state.files.put_stream(&key, chunks).await.unwrap();
    let id = finished_with(app, account, json!(format!("file:{key}"))).await;

    let reply = app.get(&format!("/api/tasks/{id}/download/"), Some(&token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(reply.header("content-disposition"), Some("attachment; filename=\"org_units.csv\""));
    assert_eq!(reply.text(), content);
    let url = ok(app.get(&format!("/api/tasks/{id}/presigned-url/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(url["presigned_url"], format!("/api/tasks/{id}/download/"));

    // Other accounts, tasks without a file, and keys of another account all find nothing.
    let other = app.account("Other").await;
    app.user(other, "outsider", |u| u.is_superuser = true).await;
    let outsider = app.token("outsider").await;
    app.get(&format!("/api/tasks/{id}/download/"), Some(&outsider)).await.error(StatusCode::NOT_FOUND, "not_found");
    let plain = finished_with(app, account, json!({"count": 3})).await;
    app.get(&format!("/api/tasks/{plain}/download/"), Some(&token)).await.error(StatusCode::NOT_FOUND, "not_found");
    let forged = finished_with(app, other, json!(format!("file:{key}"))).await;
    app.get(&format!("/api/tasks/{forged}/download/"), Some(&outsider)).await.error(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("/api/tasks/{id}/download/"), None).await.error(StatusCode::UNAUTHORIZED, "not_authenticated");
}
