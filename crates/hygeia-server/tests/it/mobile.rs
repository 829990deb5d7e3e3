//! Iaso's phone sync over HTTP: the public app settings, the offline tree (only VALID units of the
//! project's types in the default version, parents before children, within the caller's subtree,
//! paged) and units created on the phone (idempotent on uuid, NEW, all or none), then named by
//! uuid in a submission's metadata.

use axum::http::{Method, StatusCode};
use hygeia_core::{
    DataSourceInput, NewOrgUnit, OrgUnitId, OrgUnitScope, OrgUnitTypeId, OrgUnitTypeInput, ProjectId, SourceVersionId,
    ValidationStatus,
};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, send_json};

on_both_backends!(the_phone_downloads_its_view_of_the_tree, units_created_on_phones_arrive_as_new);

const APP_ID: &str = "bfa.demo";

/// Country (a type outside the project) > region > district > three facilities, one of them NEW,
/// in the account's default version; a unit of another version; an admin and a district user.
struct Tree {
    admin: String,
    district_user: String,
    region: OrgUnitId,
    district: OrgUnitId,
    facility_type: OrgUnitTypeId,
    version: SourceVersionId,
    account: hygeia_core::AccountId,
}

async fn tree(app: &TestApp) -> Tree {
    let account = app.account("bfa").await;
    let project = app.project(account, "BFA Demo Project", APP_ID).await;
    let kind = |name: &str, projects: Vec<ProjectId>| OrgUnitTypeInput {
        name: name.into(),
        short_name: name.into(),
        projects,
        ..Default::default()
    };
    let types = app.store.org_unit_types();
    let mut type_ids = Vec::new();
    for (name, projects) in
        [("Country", vec![]), ("Region", vec![project]), ("District", vec![project]), ("Facility", vec![project])]
    {
        type_ids.push(types.create(account, None, kind(name, projects)).await.unwrap().id);
    }
    let sources = app.store.sources();
    let source =
        sources.create_source(account, DataSourceInput { name: "bfa".into(), ..Default::default() }).await.unwrap();
    let version = sources.create_version(account, source.id, "v1").await.unwrap().id;
    let other_version = sources.create_version(account, source.id, "v2").await.unwrap().id;
    sources.set_account_default_version(account, version).await.unwrap();
    let scope = OrgUnitScope::whole_account(account);
    let create = |version, name: &str, parent: Option<OrgUnitId>, kind: OrgUnitTypeId, status| {
        let mut unit = NewOrgUnit::new(version, name);
        unit.parent_id = parent;
        unit.org_unit_type_id = Some(kind);
        unit.validation_status = status;
        unit
    };
    let units = app.store.org_units();
    let valid = ValidationStatus::Valid;
    let country = units.create(&scope, None, create(version, "Burkina Faso", None, type_ids[0], valid)).await.unwrap();
    let region = units.create(&scope, None, create(version, "Boucle", Some(country.id), type_ids[1], valid)).await;
    let region = region.unwrap().id;
    let district = units.create(&scope, None, create(version, "DS Boromo", Some(region), type_ids[2], valid)).await;
    let district = district.unwrap().id;
    for (name, status) in [("CSPS Bana", valid), ("CSPS proposed", ValidationStatus::New), ("CMA Boromo", valid)] {
        units.create(&scope, None, create(version, name, Some(district), type_ids[3], status)).await.unwrap();
    }
    units.create(&scope, None, create(other_version, "Elsewhere", None, type_ids[1], valid)).await.unwrap();
    app.user(account, "admin", |u| u.is_superuser = true).await;
    app.user(account, "boromo", |u| u.org_units = vec![district.0]).await;
    Tree {
        admin: app.token("admin").await,
        district_user: app.token("boromo").await,
        region,
        district,
        facility_type: type_ids[3],
        version,
        account,
    }
}

fn names(page: &Value) -> Vec<&str> {
    page["orgUnits"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect()
}

async fn the_phone_downloads_its_view_of_the_tree(app: &TestApp) {
    let t = tree(app).await;

    let settings = app.get(&format!("/api/apps/{APP_ID}/"), None).await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.text());
    let settings = settings.json();
    assert_eq!((settings["id"].as_str(), settings["needs_authentication"].as_bool()), (Some(APP_ID), Some(true)));
    assert_eq!(settings["forms"], json!([]));
    let current = app.get(&format!("/api/apps/current/?app_id={APP_ID}"), None).await;
    assert_eq!(current.json()["name"], "BFA Demo Project");
    assert_eq!(app.get("/api/apps/no.such.app/", None).await.status, StatusCode::NOT_FOUND);

    let anonymous = app.get(&format!("/api/mobile/orgunits/?app_id={APP_ID}"), None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "the project needs authentication");

    let first = app.get(&format!("/api/mobile/orgunits/?app_id={APP_ID}&limit=2&page=1"), Some(&t.admin)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let first = first.json();
    assert_eq!(first["count"], 4, "VALID units of the project's types in the default version: {first}");
    assert_eq!(names(&first), ["Boucle", "DS Boromo"], "parents before children");
    assert_eq!(first["orgUnits"][0]["parent_id"], Value::Null, "the country is not in the phone's view");
    assert_eq!(first["orgUnits"][1]["parent_id"], t.region.0);
    assert_eq!((first["pages"].as_u64(), first["has_next"].as_bool()), (Some(2), Some(true)));
    assert_eq!(first["roots"], json!([]));
    let row = first["orgUnits"][1].as_object().unwrap();
    for key in ["org_unit_type_name", "validation_status", "uuid", "groups", "opening_date", "latitude", "aliases"] {
        assert!(row.contains_key(key), "{key} missing from {row:?}");
    }
    let second = app.get(&format!("/api/mobile/orgunits/?app_id={APP_ID}&limit=2&page=2"), Some(&t.admin)).await;
    let second = second.json();
    assert_eq!(names(&second), ["CSPS Bana", "CMA Boromo"]);
    assert!(second.get("roots").is_none(), "roots only on page 1");
    assert_eq!(second["has_previous"], true);

    let district =
        app.get(&format!("/api/mobile/orgunits/?app_id={APP_ID}&limit=25000&page=1"), Some(&t.district_user)).await;
    let district = district.json();
    assert_eq!(names(&district), ["DS Boromo", "CSPS Bana", "CMA Boromo"], "the district user's subtree only");
    assert_eq!(district["orgUnits"][0]["parent_id"], Value::Null, "the region is above the user's subtree");
    assert_eq!(district["roots"], json!([t.district.0]));

    let bad = app.get(&format!("/api/mobile/orgunits/?app_id={APP_ID}&limit=zero"), Some(&t.admin)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unknown = app.get("/api/mobile/orgunits/?app_id=no.such.app", Some(&t.admin)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn units_created_on_phones_arrive_as_new(app: &TestApp) {
    let t = tree(app).await;
    let path = format!("/api/mobile/orgunits/?app_id={APP_ID}");
    // The child comes first in the list but was created later: it names its parent by uuid.
    let body = json!([
        {"id": "c0ffee00-0000-4000-8000-000000000002", "name": "Case de santé Bana Nord", "orgUnitTypeId": t.facility_type.0,
         "parentId": "c0ffee00-0000-4000-8000-000000000001", "created_at": 1795334500.5, "latitude": 12.2, "longitude": -3.6},
        {"id": "c0ffee00-0000-4000-8000-000000000001", "name": "Poste de santé Ouarkoye", "org_unit_type_id": t.facility_type.0.to_string(),
         "parent_id": t.district.0, "created_at": 1795334400.123, "latitude": 12.1032, "longitude": -3.6655, "altitude": 295.0}
    ]);
    let created = send_json(app, Method::POST, &path, &t.admin, body.clone()).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let created = created.json();
    let rows = created.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let by_name = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap().clone();
    let post = by_name("Poste de santé Ouarkoye");
    let case = by_name("Case de santé Bana Nord");
    assert_eq!(post["validation_status"], "NEW");
    assert_eq!(post["parent_id"], t.district.0);
    assert_eq!(case["parent_id"], post["id"], "the parent named by uuid is the unit created just before");
    assert_eq!(post["org_unit_type_id"], t.facility_type.0.to_string(), "Iaso echoes the type id as a string");
    assert_eq!((post["latitude"].as_f64(), post["altitude"].as_f64()), (Some(12.1032), Some(295.0)));
    let stored = app
        .store
        .org_units()
        .get(&OrgUnitScope::whole_account(t.account), OrgUnitId(case["id"].as_i64().unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.custom);
    assert_eq!((stored.uuid.as_deref(), stored.version_id), (Some("c0ffee00-0000-4000-8000-000000000002"), t.version));

    let again = send_json(app, Method::POST, &path, &t.admin, body).await;
    assert_eq!(again.json(), json!([]), "known uuids are skipped: {}", again.text());
    let listed = app.get(&format!("/api/mobile/orgunits/?app_id={APP_ID}"), Some(&t.admin)).await.json();
    assert_eq!(listed["count"], 4, "NEW units stay out of the phones' tree");

    // A parent nobody knows: refused by name and position, and nothing of the upload is created.
    let orphan = json!([
        {"id": "c0ffee00-0000-4000-8000-000000000003", "name": "Fine", "parent_id": t.district.0, "created_at": 1},
        {"id": "c0ffee00-0000-4000-8000-000000000004", "name": "Orphan", "parentId": "no-such-uuid", "created_at": 2}
    ]);
    let refused = send_json(app, Method::POST, &path, &t.admin, orphan).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    assert!(refused.text().contains("[1].parent_id"), "{}", refused.text());
    // A district user cannot hang a unit above the district.
    let outside = json!([{"id": "c0ffee00-0000-4000-8000-000000000005", "name": "Above", "parent_id": t.region.0}]);
    let outside = send_json(app, Method::POST, &path, &t.district_user, outside).await;
    assert!(outside.status.is_client_error(), "{} {}", outside.status, outside.text());
    let all = app.store.org_units().list(&OrgUnitScope::whole_account(t.account), &Default::default()).await.unwrap();
    assert_eq!(all.count, 9, "6 + 1 in the other version + 2 from the phone, none of the refused ones");

    // The phone then names its new unit by uuid in a submission's metadata.
    let metadata = json!([{"id": "9f1c-sub-1", "file": "/sdcard/odk/instances/x/x.xml", "formId": null,
        "orgUnitId": "c0ffee00-0000-4000-8000-000000000002", "created_at": 1795334600}]);
    let reply = send_json(app, Method::POST, &format!("/api/instances/?app_id={APP_ID}"), &t.admin, metadata).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let submission = app.store.submissions().find_by_uuid(t.account, "9f1c-sub-1").await.unwrap().unwrap();
    assert_eq!(submission.org_unit_id, Some(OrgUnitId(case["id"].as_i64().unwrap())));
}
