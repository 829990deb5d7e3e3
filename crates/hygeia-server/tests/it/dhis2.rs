//! DHIS2 imports against a small DHIS2-compatible server started here, answering with the
//! responses recorded from real DHIS2 servers (`../shared/data/dhis2/`).

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hygeia_core::{AccountId, OrgUnitQuery, OrgUnitScope, ValidationStatus};
use hygeia_formats::dhis2::{self, Dhis2Connection};
use hygeia_jobs::NoProgress;
use hygeia_server::imports::{ImportTarget, import_draft};
use serde_json::Value;

use crate::support::{TestApp, wait_until_ended};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Two pages of units, with a pager.
    Paged,
    /// Everything at once, without a pager (`paging=false`).
    Unpaged,
    /// The units endpoint fails.
    Broken,
    /// The units endpoint answers something that is not JSON.
    Garbled,
}

struct Fake {
    mode: Mode,
    dir: PathBuf,
}

fn fixtures() -> Option<PathBuf> {
    let root = std::env::var("HYGEIA_TEST_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")));
    Some(root.join("dhis2/iaso-fixtures")).filter(|p| p.exists())
}

impl Fake {
    fn file(&self, name: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir.join(name)).unwrap()).unwrap()
    }
}

/// DHIS2's Basic authentication, with the demo servers' admin/district.
fn authorised(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some("Basic YWRtaW46ZGlzdHJpY3Q=")
}

async fn levels(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(fake.file("organisationUnitLevels.json")).into_response()
}

async fn units(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    assert!(query["fields"].contains("geometry") && query["fields"].contains("organisationUnitGroups[id,name]"));
    let (first, second) = (fake.file("orgunits.json"), fake.file("orgunits_strange_geom.json"));
    match fake.mode {
        Mode::Broken => (StatusCode::INTERNAL_SERVER_ERROR, "java.lang.NullPointerException").into_response(),
        Mode::Garbled => (StatusCode::OK, "{\"organisationUnits\": [{\"id\": ").into_response(),
        Mode::Unpaged => {
            let mut all = first["organisationUnits"].as_array().unwrap().clone();
            all.extend(second["organisationUnits"].as_array().unwrap().iter().cloned());
            axum::Json(serde_json::json!({ "organisationUnits": all })).into_response()
        }
        Mode::Paged => {
            let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let mut answer = if page == 1 { first } else { second };
            answer["pager"] = serde_json::json!({"page": page, "pageCount": 2, "total": 8, "pageSize": 4});
            axum::Json(answer).into_response()
        }
    }
}

async fn group_sets(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(fake.file("groupsets.json")).into_response()
}

/// Starts the fake server on a free port; returns its base URL.
async fn serve(mode: Mode, dir: PathBuf) -> String {
    let fake = Arc::new(Fake { mode, dir });
    let app = Router::new()
        .route("/api/organisationUnitLevels", get(levels))
        .route("/api/organisationUnits", get(units))
        .route("/api/organisationUnitGroupSets", get(group_sets))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn connection(base_url: &str, password: &str) -> Dhis2Connection {
    Dhis2Connection { base_url: base_url.into(), username: "admin".into(), password: password.into() }
}

fn target(account: AccountId, version: Option<i64>) -> ImportTarget {
    ImportTarget {
        account,
        source_name: "DHIS2 Sierra Leone".into(),
        version_number: version,
        validation_status: ValidationStatus::Valid,
        actor: None,
        audit_source: "dhis2_import".into(),
    }
}

async fn dhis2_imports_from_a_recorded_server(app: &TestApp) {
    let Some(dir) = fixtures() else {
        eprintln!("shared data missing: the DHIS2 import test was skipped (set HYGEIA_TEST_SHARED_DATA)");
        return;
    };
    let account = app.account("Sierra Leone").await;
    let paged = serve(Mode::Paged, dir.clone()).await;
    let draft = dhis2::read(&connection(&paged, "district")).await.unwrap();
    assert_eq!(draft.nodes.len(), 8, "both pages were read");
    let summary = import_draft(&app.store, &target(account, None), &draft, &NoProgress).await.unwrap();
    assert_eq!((summary.created, summary.group_sets_created), (8, 4), "{summary}");
    let scope = OrgUnitScope::whole_account(account);
    let tree = app.store.org_units().list(&scope, &OrgUnitQuery::default()).await.unwrap().items;
    let unit = |uid: &str| tree.iter().find(|u| u.source_ref.as_deref() == Some(uid)).unwrap();
    let (country, kenema, chiefdom, chp) =
        (unit("ImspTQPwCqd"), unit("kJq2mPyFEHo"), unit("KXSqt7jv6DU"), unit("LOpWauwwghf"));
    assert_eq!(
        (kenema.parent_id, chiefdom.parent_id, chp.parent_id),
        (Some(country.id), Some(kenema.id), Some(chiefdom.id))
    );
    // The legacy coordinates string: a point for the facility, polygons for the chiefdom.
    let location = chp.location.unwrap();
    assert_eq!((location.longitude, location.latitude), (-11.3596, 8.5317));
    assert!(chiefdom.has_shape && kenema.has_shape && !country.has_shape);
    assert_eq!(chp.code, "lvl5");
    assert_eq!(chp.opening_date.map(|d| d.to_string()).as_deref(), Some("2023-05-10"));
    // The 2.32+ geometry: a multipolygon with holes.
    assert!(unit("c").has_shape);
    // Levels are types; the level DHIS2 does not list (5) gets its own.
    let types = app.store.org_unit_types().list(account).await.unwrap();
    let type_of =
        |u: &hygeia_core::OrgUnit| types.iter().find(|t| Some(t.id) == u.org_unit_type_id).unwrap().name.clone();
    assert_eq!(
        (type_of(country), type_of(kenema), type_of(chiefdom), type_of(chp)),
        ("National".into(), "District".into(), "Chiefdom".into(), "Level 5".into())
    );
    let groups = app.store.groups().groups_of(account, &[chp.id]).await.unwrap();
    let mut names: Vec<String> = groups.iter().map(|(_, g)| g.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["CHP", "Public facilities", "Urban"]);
    let sets = app.store.group_sets().list(account, &[summary.version_id]).await.unwrap();
    assert_eq!(sets.len(), 4);
    let facility_type = sets.iter().find(|s| s.name == "Facility Type").unwrap();
    assert_eq!(facility_type.source_ref.as_deref(), Some("J5jldMd8OHv"));

    // The same server answering everything at once, into the same version: nothing changes.
    let unpaged = serve(Mode::Unpaged, dir.clone()).await;
    let again = dhis2::read(&connection(&unpaged, "district")).await.unwrap();
    let summary = import_draft(&app.store, &target(account, Some(1)), &again, &NoProgress).await.unwrap();
    assert_eq!((summary.created, summary.updated, summary.unchanged), (0, 0, 8), "{summary}");

    // Failures are named, and nothing is written.
    let wrong = dhis2::read(&connection(&paged, "wrong")).await.unwrap_err().to_string();
    assert!(
        wrong.contains("organisationUnitLevels") && wrong.contains("refused the credentials of user \"admin\" (401"),
        "{wrong}"
    );
    let broken = serve(Mode::Broken, dir.clone()).await;
    let failed = dhis2::read(&connection(&broken, "district")).await.unwrap_err().to_string();
    assert!(failed.contains("organisationUnits: DHIS2 answered 500"), "{failed}");
    let garbled = serve(Mode::Garbled, dir).await;
    let failed = dhis2::read(&connection(&garbled, "district")).await.unwrap_err().to_string();
    assert!(failed.contains("organisationUnits: the answer is not the JSON expected"), "{failed}");
    let refused = dhis2::read(&connection("http://127.0.0.1:9", "district")).await.unwrap_err().to_string();
    assert!(refused.contains("organisationUnitLevels"), "{refused}");
    assert_eq!(app.store.org_units().list(&scope, &OrgUnitQuery::default()).await.unwrap().count, 8);
}

/// Iaso's `POST /api/dhis2ouimporter/`: a task that a worker runs; the password never shows.
async fn dhis2_imports_run_as_tasks(app: &TestApp) {
    let Some(dir) = fixtures() else { return };
    let account = app.account("Sierra Leone").await;
    app.user(account, "manager", |u| u.permissions = vec!["iaso_sources".into()]).await;
    let token = app.token("manager").await;
    let source = app
        .store
        .sources()
        .create_source(account, hygeia_core::DataSourceInput { name: "SL".into(), ..Default::default() })
        .await
        .unwrap();
    let base = serve(Mode::Paged, dir).await;
    let body = serde_json::json!({
        "source_id": source.id.0, "dhis2_url": base, "dhis2_login": "admin", "dhis2_password": "district",
        "validate_status": true,
    });
    let request = axum::http::Request::post("/api/dhis2ouimporter/")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let created = app.send(request).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert!(!created.text().contains("district"), "the password is not echoed");
    let id = created.json()["task"]["id"].as_i64().unwrap();
    let registry = hygeia_server::tasks::registry(app.state.clone());
    let config = hygeia_jobs::WorkerConfig {
        workers: 1,
        poll_interval: std::time::Duration::from_millis(50),
        ..Default::default()
    };
    let pool = hygeia_jobs::WorkerPool::start(app.store.clone(), registry, config);
    let task = wait_until_ended(app, &token, id).await;
    pool.shutdown().await;
    assert_eq!(task["status"], "SUCCESS", "{task}");
    assert_eq!(task["result"]["data"]["created"], 8, "{task}");
    let valid = OrgUnitQuery { validation_statuses: vec![ValidationStatus::Valid], ..Default::default() };
    let scope = OrgUnitScope::whole_account(account);
    assert_eq!(app.store.org_units().list(&scope, &valid).await.unwrap().count, 8);
}

crate::on_both_backends!(dhis2_imports_from_a_recorded_server, dhis2_imports_run_as_tasks);
