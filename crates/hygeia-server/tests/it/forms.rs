//! Forms over HTTP in Iaso's shapes: a form created, XLSForms uploaded and converted in-process,
//! versions listed with their descriptor, files and manifest served, phones' form list, soft
//! deletion and restoration, and who may see what.

use axum::http::{Method, StatusCode};
use md5::{Digest, Md5};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, multipart, multipart_as, post_multipart, send_json, shared};

on_both_backends!(forms_and_versions_follow_iasos_api, forms_stay_within_their_account_and_projects);

fn corpus(name: &str) -> Option<Vec<u8>> {
    Some(std::fs::read(shared(&format!("xlsform-corpus/{name}"))?).unwrap())
}

fn ok(reply: crate::support::Reply, status: StatusCode) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text());
    reply.json()
}

async fn upload(app: &TestApp, token: &str, form: i64, name: &str, bytes: &[u8]) -> crate::support::Reply {
    let body = multipart_as(&[("form_id", &form.to_string())], "xls_file", Some((name, bytes)));
    post_multipart(app, "/api/formversions/", token, body).await
}

/// The body Iaso's dashboard posts (captured in `iaso-api-examples/forms.md`).
fn child_programme(project: i64) -> Value {
    json!({"name": "Child Programme", "project_ids": [project], "org_unit_type_ids": [], "period_type": null,
           "single_per_period": false, "periods_before_allowed": 0, "periods_after_allowed": 0,
           "device_field": "deviceid", "location_field": "", "derived": false, "label_keys": []})
}

async fn forms_and_versions_follow_iasos_api(app: &TestApp) {
    let (Some(repeat_form), Some(other_form), Some(broken)) =
        (corpus("iaso_repeat_group_form.xlsx"), corpus("iaso_form_1.xlsx"), corpus("iaso_child_registration.xlsx"))
    else {
        return;
    };
    let account = app.account("BFA Demo").await;
    let project = app.project(account, "BFA Demo Project", "bfa.demo").await;
    app.user(account, "admin", |u| u.is_superuser = true).await;
    let token = app.token("admin").await;

    let created =
        ok(send_json(app, Method::POST, "/api/forms/", &token, child_programme(project.0)).await, StatusCode::CREATED);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["form_id"], Value::Null, "no version yet");
    assert_eq!(created["latest_form_version"], Value::Null);
    assert_eq!(created["projects"][0]["app_id"], "bfa.demo");
    assert_eq!(created["change_request_mode"], "CR_MODE_NONE");

    // The XLSForm is converted on upload; the version id is generated from the day.
    let first = ok(upload(app, &token, id, "iaso_repeat_group_form.xlsx", &repeat_form).await, StatusCode::CREATED);
    let today = chrono::Utc::now().format("%Y%m%d").to_string();
    assert_eq!(first["version_id"], format!("{today}01"));
    assert_eq!(first["form_name"], "Child Programme");
    assert_eq!(first["created_by"]["username"], "admin");
    let file_url = first["file"].as_str().unwrap();
    assert!(file_url.ends_with(&format!("/api/formversions/{}/file/", first["id"])), "{file_url}");
    let path = file_url.split_once("://").unwrap().1.split_once('/').unwrap().1;
    let xform = app.get(&format!("/{path}"), Some(&token)).await;
    assert_eq!(xform.status, StatusCode::OK);
    assert!(xform.text().contains(r#"<data id="eventtracker2334">"#), "{}", xform.text());
    assert_eq!(first["md5"], hex::encode(Md5::digest(&xform.bytes)), "the md5 is the served file's");
    let xls = app.get(&format!("/api/formversions/{}/xls_file/", first["id"]), Some(&token)).await;
    assert_eq!(xls.bytes, repeat_form, "the XLSForm is kept as uploaded");

    let form = ok(app.get(&format!("/api/forms/{id}/"), Some(&token)).await, StatusCode::OK);
    assert_eq!(form["form_id"], "eventtracker2334", "the first version sets the form_id");
    assert_eq!(form["latest_form_version"]["version_id"], first["version_id"]);
    let fields =
        ok(app.get(&format!("/api/forms/{id}/?fields=id,possible_fields"), Some(&token)).await, StatusCode::OK);
    assert_eq!(fields.as_object().unwrap().len(), 2, "{fields}");
    let names: Vec<&str> =
        fields["possible_fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"hh_repeat") && names.contains(&"last_name") && !names.contains(&"households_note"),
        "{names:?}"
    );

    let described =
        ok(app.get(&format!("/api/formversions/?form_id={id}&fields=descriptor"), Some(&token)).await, StatusCode::OK);
    let descriptor = &described["form_versions"][0]["descriptor"];
    assert_eq!(described["form_versions"][0].as_object().unwrap().len(), 1);
    assert_eq!(descriptor["id_string"], "eventtracker2334");
    assert_eq!(descriptor["_xpath"]["hh_repeat"], "/data/households/hh_repeat");
    assert_eq!(descriptor["_xpath"]["gender"], Value::Null, "two questions are called gender");
    assert_eq!(descriptor["choices"]["yesno"][0], json!({"name": "1", "label": "Oui"}));

    // A second upload of the same form: the next revision of the day.
    let second = ok(upload(app, &token, id, "iaso_repeat_group_form.xlsx", &repeat_form).await, StatusCode::CREATED);
    assert_eq!(second["version_id"], format!("{today}02"));

    // Refusals: a broken XLSForm names its place; another form_id is a conflict; nothing is kept.
    let refused = upload(app, &token, id, "iaso_child_registration.xlsx", &broken).await;
    let body = refused.error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(body["fields"]["xls_file"][0].as_str().unwrap().contains("jr:count"), "{body}");
    assert_eq!(body["xlsform_errors"][0]["sheet"], "survey", "{body}");
    upload(app, &token, id, "iaso_form_1.xlsx", &other_form).await.error(StatusCode::CONFLICT, "conflict");
    upload(app, &token, id, "empty.xlsx", b"not a workbook").await.error(StatusCode::BAD_REQUEST, "validation_error");
    let oversize = vec![b'x'; 20 * 1024 * 1024 + 1];
    let body = upload(app, &token, id, "huge.xlsx", &oversize).await.error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(body["fields"]["xls_file"][0].as_str().unwrap().contains("20 MiB"), "{body}");
    let missing =
        post_multipart(app, "/api/formversions/", &token, multipart(&[("form_id", &id.to_string())], None)).await;
    missing.error(StatusCode::BAD_REQUEST, "validation_error");
    let versions = ok(app.get(&format!("/api/formversions/?form_id={id}"), Some(&token)).await, StatusCode::OK);
    assert_eq!(versions["form_versions"].as_array().unwrap().len(), 2);
    assert_eq!(versions["form_versions"][1]["full_name"], format!("Child Programme - V{today}02"));
    let stored = std::fs::read_dir(
        std::path::Path::new(&app.state.settings.storage.path).join(format!("accounts/{}/form_versions", account.0)),
    )
    .unwrap()
    .count();
    assert_eq!(stored, 4, "two versions, two files each: refused uploads left nothing");

    // Attachments and the manifest.
    let manifest = app.get(&format!("/api/forms/{id}/manifest/"), Some(&token)).await;
    assert_eq!(manifest.header("x-openrosa-version"), Some("1.0"));
    assert!(!manifest.text().contains("<mediaFile>"));
    let csv = b"name,label\nkolo,Kolo\n";
    let attached = ok(
        post_multipart(
            app,
            "/api/formattachments/",
            &token,
            multipart(&[("form_id", &id.to_string())], Some(("villages.csv", csv))),
        )
        .await,
        StatusCode::CREATED,
    );
    assert_eq!(attached["md5"], hex::encode(Md5::digest(csv)));
    let again = post_multipart(
        app,
        "/api/formattachments/",
        &token,
        multipart(&[("form_id", &id.to_string())], Some(("villages.csv", csv))),
    )
    .await;
    again.error(StatusCode::CONFLICT, "conflict");
    let manifest = app.get(&format!("/api/forms/{id}/manifest/"), Some(&token)).await.text();
    assert!(manifest.contains("<filename>villages.csv</filename>"), "{manifest}");
    assert!(manifest.contains(&format!("<hash>md5:{}</hash>", attached["md5"].as_str().unwrap())), "{manifest}");
    let download = app.get(&format!("/api/formattachments/{}/file/", attached["id"]), Some(&token)).await;
    assert_eq!(download.bytes, csv);
    let listed = ok(app.get(&format!("/api/formattachments/?form_id={id}"), Some(&token)).await, StatusCode::OK);
    assert_eq!(listed["results"][0]["name"], "villages.csv");

    // The phone's list: forms of the app's project that have a version.
    let bare = ok(
        send_json(app, Method::POST, "/api/forms/", &token, json!({"name": "Draft", "project_ids": [project.0]})).await,
        StatusCode::CREATED,
    );
    let mobile = ok(app.get("/api/mobile/forms/?app_id=bfa.demo", Some(&token)).await, StatusCode::OK);
    let ids: Vec<i64> = mobile["forms"].as_array().unwrap().iter().map(|f| f["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [id], "the draft without a version is not sent to phones");
    assert!(mobile["forms"][0].get("instances_count").is_none());
    assert_eq!(app.get("/api/mobile/forms/?app_id=bfa.demo", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/mobile/forms/?app_id=no.such.app", Some(&token)).await.status, StatusCode::NOT_FOUND);
    let mobile_manifest = app.get(&format!("/api/mobile/forms/{id}/manifest/?app_id=bfa.demo"), Some(&token)).await;
    assert!(mobile_manifest.text().contains("villages.csv"));

    // Updates, validation, soft deletion and restoration.
    let patched = ok(
        send_json(
            app,
            Method::PATCH,
            &format!("/api/forms/{id}/"),
            &token,
            json!({"period_type": "MONTH", "periods_before_allowed": 3}),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!((patched["period_type"].as_str(), patched["periods_before_allowed"].as_i64()), (Some("MONTH"), Some(3)));
    assert_eq!(patched["name"], "Child Programme", "PATCH keeps what it does not name");
    let bad =
        send_json(app, Method::PATCH, &format!("/api/forms/{id}/"), &token, json!({"period_type": "FORTNIGHT"})).await;
    assert!(bad.error(StatusCode::BAD_REQUEST, "validation_error")["fields"]["period_type"].is_array());
    let bad =
        send_json(app, Method::PATCH, &format!("/api/forms/{id}/"), &token, json!({"periods_before_allowed": 0})).await;
    bad.error(StatusCode::BAD_REQUEST, "validation_error");
    let deleted = send_json(app, Method::DELETE, &format!("/api/forms/{id}/"), &token, json!({})).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let listed = ok(app.get("/api/forms/", Some(&token)).await, StatusCode::OK);
    assert_eq!(
        listed["forms"].as_array().unwrap().iter().map(|f| f["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        [bare["id"].as_i64().unwrap()]
    );
    let only = ok(app.get("/api/forms/?only_deleted=1", Some(&token)).await, StatusCode::OK);
    assert_eq!(only["forms"][0]["id"], id);
    assert!(only["forms"][0]["deleted_at"].is_f64());
    upload(app, &token, id, "iaso_repeat_group_form.xlsx", &repeat_form)
        .await
        .error(StatusCode::BAD_REQUEST, "validation_error");
    let restored = ok(
        send_json(app, Method::PATCH, &format!("/api/forms/{id}/"), &token, json!({"deleted_at": null})).await,
        StatusCode::OK,
    );
    assert_eq!(restored["deleted_at"], Value::Null);
    let paged = ok(app.get("/api/forms/?limit=1&page=1&order=-name", Some(&token)).await, StatusCode::OK);
    assert_eq!((paged["count"].as_i64(), paged["forms"][0]["name"].as_str()), (Some(2), Some("Draft")));
    let searched = ok(app.get("/api/forms/?search=child", Some(&token)).await, StatusCode::OK);
    assert_eq!(searched["forms"].as_array().unwrap().len(), 1);
}

async fn forms_stay_within_their_account_and_projects(app: &TestApp) {
    let Some(repeat_form) = corpus("iaso_repeat_group_form.xlsx") else { return };
    let account = app.account("BFA Demo").await;
    let (p1, p2) = (app.project(account, "One", "one.app").await, app.project(account, "Two", "two.app").await);
    app.user(account, "admin", |u| u.is_superuser = true).await;
    let token = app.token("admin").await;
    let form =
        ok(send_json(app, Method::POST, "/api/forms/", &token, child_programme(p1.0)).await, StatusCode::CREATED);
    let id = form["id"].as_i64().unwrap();
    let version = ok(upload(app, &token, id, "f.xlsx", &repeat_form).await, StatusCode::CREATED);

    // A field agent: no form permission, yet downloads the XForm; a user of the other project sees nothing.
    app.user(account, "agent", |_| {}).await;
    let agent = app.token("agent").await;
    assert_eq!(app.get("/api/forms/", Some(&agent)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&format!("/api/formversions/{}/file/", version["id"]), Some(&agent)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        ok(app.get("/api/mobile/forms/?app_id=one.app", Some(&agent)).await, StatusCode::OK)["forms"][0]["id"],
        id
    );
    let denied = send_json(app, Method::POST, "/api/forms/", &agent, child_programme(p1.0)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    app.user(account, "reader_two", |u| {
        u.permissions = vec!["iaso_forms".into()];
        u.projects = vec![p2];
    })
    .await;
    let reader_two = app.token("reader_two").await;
    assert!(
        ok(app.get("/api/forms/", Some(&reader_two)).await, StatusCode::OK)["forms"].as_array().unwrap().is_empty()
    );
    assert_eq!(app.get(&format!("/api/forms/{id}/"), Some(&reader_two)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/api/formversions/{}/", version["id"]), Some(&reader_two)).await.status,
        StatusCode::NOT_FOUND
    );
    let moved = send_json(app, Method::POST, "/api/forms/", &reader_two, child_programme(p1.0)).await;
    moved.error(StatusCode::BAD_REQUEST, "validation_error");

    // Another account: nothing of this one exists.
    let other = app.account("Elsewhere").await;
    app.user(other, "stranger", |u| u.is_superuser = true).await;
    let stranger = app.token("stranger").await;
    assert!(ok(app.get("/api/forms/", Some(&stranger)).await, StatusCode::OK)["forms"].as_array().unwrap().is_empty());
    for path in [
        format!("/api/forms/{id}/"),
        format!("/api/forms/{id}/manifest/"),
        format!("/api/formversions/{}/", version["id"]),
        format!("/api/formversions/{}/file/", version["id"]),
    ] {
        assert_eq!(app.get(&path, Some(&stranger)).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert!(ok(app.get(&format!("/api/formversions/?form_id={id}"), Some(&stranger)).await, StatusCode::OK)["form_versions"].as_array().unwrap().is_empty());
    assert_eq!(upload(app, &stranger, id, "f.xlsx", &repeat_form).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/mobile/forms/?app_id=one.app", Some(&stranger)).await.status, StatusCode::NOT_FOUND);
    let foreign = send_json(app, Method::POST, "/api/forms/", &stranger, child_programme(p1.0)).await;
    foreign.error(StatusCode::BAD_REQUEST, "validation_error");
}
