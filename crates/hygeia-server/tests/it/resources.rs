//! `/api/projects/` and `/api/accounts/`: shapes, pagination and tenancy.

use axum::http::StatusCode;
use hygeia_core::{NewProject, ProjectUpdate};
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(
    projects_list_and_detail_in_iaso_shape,
    projects_paginate_with_limit,
    accounts_list_only_the_callers_account,
    another_accounts_projects_are_invisible,
    project_restricted_users_see_only_their_projects,
);

async fn projects_list_and_detail_in_iaso_shape(app: &TestApp) {
    let account = app.account("BFA Demo").await;
    let mut new = NewProject::new("BFA Demo Project", "bfa.demo");
    new.feature_flags = vec!["TAKE_GPS_ON_FORM".into()];
    let project = app.store.projects().create(account, new).await.unwrap();
    app.user(account, "viewer", |_| {}).await;
    let token = app.token("viewer").await;

    let list = app.get("/api/projects/", Some(&token)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let list = list.json();
    assert_eq!(list.as_object().unwrap().keys().collect::<Vec<_>>(), ["projects"]);
    let item = &list["projects"][0];
    assert_eq!(item["id"], project.id.0);
    assert_eq!(item["name"], "BFA Demo Project");
    assert_eq!(item["app_id"], "bfa.demo");
    assert_eq!(item["needs_authentication"], true);
    assert_eq!(item["color"], "#1976D2");
    assert_eq!(item["feature_flags"][0]["code"], "TAKE_GPS_ON_FORM");
    assert!(item["created_at"].is_f64());
    let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "app_id",
            "description",
            "feature_flags",
            "created_at",
            "updated_at",
            "needs_authentication",
            "qr_code",
            "color"
        ]
    );

    let detail = app.get(&format!("/api/projects/{}/", project.id), Some(&token)).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.json(), *item);
    app.get("/api/projects/999999/", Some(&token)).await.error(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/projects/abc/", Some(&token)).await.error(StatusCode::NOT_FOUND, "not_found");
}

async fn projects_paginate_with_limit(app: &TestApp) {
    let account = app.account("A").await;
    for i in 0..5 {
        app.project(account, &format!("P{i}"), &format!("app.{i}")).await;
    }
    app.user(account, "u", |_| {}).await;
    let token = app.token("u").await;
    let page = app.get("/api/projects/?limit=2&page=2", Some(&token)).await.json();
    assert_eq!(page["count"], 5);
    assert_eq!(page["page"], 2);
    assert_eq!(page["pages"], 3);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["has_next"], true);
    assert_eq!(page["has_previous"], true);
    let names: Vec<&str> = page["projects"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["P2", "P3"]);
    let last = app.get("/api/projects/?limit=2&page=99", Some(&token)).await.json();
    assert_eq!(last["page"], 3, "pages past the end give the last page");
    let body =
        app.get("/api/projects/?limit=zero", Some(&token)).await.error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(body["fields"]["limit"].is_array());
    app.get("/api/projects/?limit=2&page=-1", Some(&token)).await.error(StatusCode::BAD_REQUEST, "validation_error");
}

async fn accounts_list_only_the_callers_account(app: &TestApp) {
    let mine = app.account("Mine").await;
    app.account("Someone else's").await;
    app.user(mine, "u", |u| u.is_superuser = true).await;
    let token = app.token("u").await;
    let body = app.get("/api/accounts/", Some(&token)).await.json();
    assert_eq!(body["count"], 1);
    assert_eq!(body["limit"], 20);
    assert_eq!(body["results"][0]["name"], "Mine");
    assert_eq!(body["results"][0]["id"], mine.0);
    assert!(body["results"][0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(app.get("/api/accounts/", None).await.status, StatusCode::UNAUTHORIZED);
}

/// Tenancy over HTTP: with the other account's ids in hand, nothing of it is visible.
async fn another_accounts_projects_are_invisible(app: &TestApp) {
    let a = app.account("A").await;
    let b = app.account("B").await;
    let b_project = app.project(b, "Secret", "b.secret").await;
    app.project(a, "Mine", "a.mine").await;
    app.user(a, "a-admin", |u| u.is_superuser = true).await;
    let token = app.token("a-admin").await;

    let list = app.get("/api/projects/", Some(&token)).await.json();
    assert_eq!(list["projects"].as_array().unwrap().len(), 1);
    assert_eq!(list["projects"][0]["app_id"], "a.mine");
    app.get(&format!("/api/projects/{b_project}/"), Some(&token)).await.error(StatusCode::NOT_FOUND, "not_found");
    // B's project is untouched and still B's.
    let still = app.store.projects().get(b, b_project).await.unwrap().unwrap();
    assert_eq!(still.name, "Secret");
    assert!(app.store.projects().update(a, b_project, ProjectUpdate::default()).await.is_err());
}

async fn project_restricted_users_see_only_their_projects(app: &TestApp) {
    let account = app.account("A").await;
    let field = app.project(account, "Field", "field").await;
    let office = app.project(account, "Office", "office").await;
    app.user(account, "limited", |u| u.projects = vec![field]).await;
    let token = app.token("limited").await;
    let list = app.get("/api/projects/", Some(&token)).await.json();
    assert_eq!(list, json!({"projects": [app.get(&format!("/api/projects/{field}/"), Some(&token)).await.json()]}));
    app.get(&format!("/api/projects/{office}/"), Some(&token)).await.error(StatusCode::NOT_FOUND, "not_found");
}
