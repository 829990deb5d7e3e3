//! Submissions over HTTP: an ODK Collect session replayed against the OpenRosa endpoints (form
//! list, form download, HEAD, POST with two attachments, a duplicate, an edit, a conflict), Iaso's
//! two-call phone upload in both orders, the submissions API with its filters and tenancy, and
//! uploads that are broken or cut off (stored, never lost).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use hygeia_core::{DataSourceInput, NewOrgUnit, OrgUnitId, OrgUnitScope, ValidationStatus};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{PASSWORD, Reply, TestApp, multipart_as, post_multipart, send_json, shared};

on_both_backends!(
    an_odk_collect_session_is_served,
    iaso_phone_uploads_meet_in_either_order,
    broken_and_foreign_submissions_are_refused_and_kept,
    stored_payloads_are_replayed_once_their_form_exists,
    exports_have_a_column_per_question_and_repeat_instance,
    app_tokens_replace_passwords_for_one_project,
    a_team_logging_in_at_once_is_not_throttled,
    a_zip_bulk_upload_brings_a_whole_outbox,
    submission_pages_filter_and_show_labelled_answers_and_photos,
    the_dashboard_session_submits_over_openrosa_from_its_own_pages_only
);

const FORM_ID: &str = "eventtracker2334";

/// A submission of the corpus's repeat-group form, with a photo and an audit log.
fn submission_xml(version: &str, instance: &str, deprecated: Option<&str>, name: &str) -> String {
    let deprecated = deprecated.map(|d| format!("<deprecatedID>uuid:{d}</deprecatedID>")).unwrap_or_default();
    format!(
        r#"<data xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms" id="{FORM_ID}" version="{version}"><is_existing>0</is_existing><MMD_PER_NAM>{name}</MMD_PER_NAM><last_name>of mine</last_name><gender>Male</gender><households><households_note/><hh_repeat><name>household 1</name><gender>Male</gender><age>42</age><households_address><street>s</street><number>4</number><city>bxl</city></households_address></hh_repeat></households><meta><instanceID>uuid:{instance}</instanceID>{deprecated}</meta></data>"#
    )
}

/// A multipart body with the XML part and one part per file, as Collect sends it.
fn upload_body(xml: &str, xml_name: &str, files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "collect-boundary-91ab";
    let mut body = Vec::new();
    let mut part = |name: &str, file_name: &str, content_type: &str, bytes: &[u8]| {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    };
    part("xml_submission_file", xml_name, "text/xml", xml.as_bytes());
    for (name, bytes) in files {
        part(name, name, "application/octet-stream", bytes);
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn basic(username: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{PASSWORD}")))
}

async fn openrosa(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<(String, Vec<u8>)>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(path).header("x-openrosa-version", "1.0");
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    let request = match body {
        Some((content_type, bytes)) => request.header(header::CONTENT_TYPE, content_type).body(Body::from(bytes)),
        None => request.body(Body::empty()),
    };
    app.send(request.unwrap()).await
}

/// An account with a project, a superuser, a form with the corpus's version and an org unit.
struct Setup {
    token: String,
    form: i64,
    version: String,
    unit: OrgUnitId,
    account: hygeia_core::AccountId,
    project: hygeia_core::ProjectId,
}

async fn setup(app: &TestApp, name: &str, app_id: &str, username: &str) -> Option<Setup> {
    let workbook = std::fs::read(shared("xlsform-corpus/iaso_repeat_group_form.xlsx")?).unwrap();
    let account = app.account(name).await;
    let project = app.project(account, name, app_id).await;
    app.user(account, username, |u| u.is_superuser = true).await;
    let token = app.token(username).await;
    let form = send_json(
        app,
        Method::POST,
        "/api/forms/",
        &token,
        json!({"name": "Child Programme", "project_ids": [project.0], "location_field": "", "device_field": "deviceid"}),
    )
    .await;
    assert_eq!(form.status, StatusCode::CREATED, "{}", form.text());
    let form = form.json()["id"].as_i64().unwrap();
    let body = multipart_as(&[("form_id", &form.to_string())], "xls_file", Some(("form.xlsx", &workbook)));
    let version = post_multipart(app, "/api/formversions/", &token, body).await;
    assert_eq!(version.status, StatusCode::CREATED, "{}", version.text());
    let version = version.json()["version_id"].as_str().unwrap().to_owned();
    let source = app
        .store
        .sources()
        .create_source(account, DataSourceInput { name: name.into(), ..Default::default() })
        .await
        .unwrap();
    let source_version = app.store.sources().create_version(account, source.id, "v1").await.unwrap();
    let mut new = NewOrgUnit::new(source_version.id, format!("{name} clinic"));
    new.validation_status = ValidationStatus::Valid;
    let unit = app.store.org_units().create(&OrgUnitScope::whole_account(account), None, new).await.unwrap().id;
    Some(Setup { token, form, version, unit, account, project })
}

async fn instances(app: &TestApp, token: &str, query: &str) -> Value {
    let reply = app.get(&format!("/api/instances/{query}"), Some(token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()
}

/// Sends one submission over OpenRosa as `username`; returns its instance id.
async fn collect(app: &TestApp, username: &str, xml: &str) {
    let reply = openrosa(
        app,
        Method::POST,
        "/openrosa/bfa.demo/submission",
        Some(&basic(username)),
        Some(upload_body(xml, "s.xml", &[])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        writer.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

async fn a_zip_bulk_upload_brings_a_whole_outbox(app: &TestApp) {
    let Some(s) = setup(app, "BFA", "bfa.demo", "collector").await else { return };
    let scope = OrgUnitScope::whole_account(s.account);
    let version = app.store.org_units().get(&scope, s.unit).await.unwrap().unwrap().version_id;
    app.store.sources().set_account_default_version(s.account, version).await.unwrap();
    let units =
        json!([{"id": "u-new-1", "name": "Case de santé Nord", "parent_id": s.unit.0, "created_at": 1795334400}]);
    let metadata = json!([{"id": "b-1", "file": "/sdcard/odk/instances/b-1/b-1.xml", "formId": s.form,
        "orgUnitId": "u-new-1", "period": "202611", "created_at": 1795334500}]);
    let good = submission_xml(&s.version, "b-1", None, "Zipped");
    let archive = zip_of(&[
        ("orgUnits.json", units.to_string().as_bytes()),
        ("instances.json", metadata.to_string().as_bytes()),
        ("b-1/b-1.xml", good.as_bytes()),
        ("b-1/1714556000123.jpg", b"\xff\xd8jpeg"),
        ("b-2/b-2.xml", b"<data id='eventtracker2334' version='no-such-version'><meta><instanceID>uuid:b-2</instanceID></meta></data>"),
    ]);
    let body = multipart_as(&[], "zip_file", Some(("outbox.zip", &archive)));
    let reply = post_multipart(app, "/api/mobile/bulkupload/?app_id=bfa.demo", &s.token, body).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());

    let row = &instances(app, &s.token, "?search=b-1").await["instances"][0];
    assert_eq!(row["file_content"]["MMD_PER_NAM"], "Zipped");
    assert_eq!(row["org_unit"]["name"], "Case de santé Nord", "the unit made on the phone, named by uuid: {row}");
    assert_eq!(row["period"], "202611");
    let detail = instances(app, &s.token, &format!("{}/", row["id"])).await;
    assert_eq!(detail["files"][0]["name"], "1714556000123.jpg");
    // The submission that cannot be processed yet is kept for replay, alone.
    let waiting = app.store.submissions().unprocessed_payloads(10).await.unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(waiting[0].error.as_deref().unwrap_or_default().contains("no-such-version"), "{waiting:?}");

    // The same outbox again changes nothing: units and submissions are known by uuid.
    let body = multipart_as(&[], "zip_file", Some(("outbox.zip", &archive)));
    let again = post_multipart(app, "/api/mobile/bulkupload/?app_id=bfa.demo", &s.token, body).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT, "{}", again.text());
    assert_eq!(instances(app, &s.token, "?limit=10").await["count"], 1);
    let uuids = hygeia_core::OrgUnitQuery {
        search: Some(hygeia_core::OrgUnitSearch::Uuids(vec!["u-new-1".into()])),
        ..Default::default()
    };
    assert_eq!(app.store.org_units().list(&scope, &uuids).await.unwrap().count, 1);

    // A broken archive is refused by name, and kept.
    let body = multipart_as(&[], "zip_file", Some(("outbox.zip", b"not a zip")));
    let broken = post_multipart(app, "/api/mobile/bulkupload/?app_id=bfa.demo", &s.token, body).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert!(broken.text().contains("zip_file"), "{}", broken.text());
    let kept = app.store.submissions().unprocessed_payloads(10).await.unwrap();
    assert!(kept.iter().any(|p| p.channel == hygeia_core::PayloadChannel::Bulk), "{kept:?}");
    let none =
        post_multipart(app, "/api/mobile/bulkupload/?app_id=bfa.demo", &s.token, multipart_as(&[], "other", None))
            .await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
}

/// Fifty phones sharing one login send their first request at once: one password check, the
/// others wait for it, none is taken for a guesser.
async fn a_team_logging_in_at_once_is_not_throttled(app: &TestApp) {
    let Some(_) = setup(app, "BFA", "bfa.demo", "team").await else { return };
    let auth = basic("team");
    let requests = (0..50).map(|_| openrosa(app, Method::HEAD, "/openrosa/bfa.demo/submission", Some(&auth), None));
    let replies = futures_util::future::join_all(requests).await;
    let statuses: Vec<StatusCode> = replies.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == StatusCode::NO_CONTENT), "{statuses:?}");
    let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("team:wrong"));
    let guesses = (0..20).map(|_| openrosa(app, Method::HEAD, "/openrosa/bfa.demo/submission", Some(&wrong), None));
    let guessed: Vec<StatusCode> = futures_util::future::join_all(guesses).await.iter().map(|r| r.status).collect();
    assert!(guessed.contains(&StatusCode::TOO_MANY_REQUESTS), "wrong passwords are still throttled: {guessed:?}");
    assert!(!guessed.contains(&StatusCode::NO_CONTENT));
}

async fn app_tokens_replace_passwords_for_one_project(app: &TestApp) {
    let Some(s) = setup(app, "BFA", "bfa.demo", "admin").await else { return };
    let collector = app.user(s.account, "collector", |_| {}).await;
    let created = send_json(
        app,
        Method::POST,
        &format!("/api/projects/{}/app_tokens/", s.project),
        &s.token,
        json!({"name": "Tablet 12", "user_id": collector.user_id.0}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let created = created.json();
    let server_url = created["server_url"].as_str().unwrap().to_owned();
    let secret = created["token"].as_str().unwrap().to_owned();
    let base = format!("/openrosa/key/{secret}/bfa.demo");
    assert!(server_url.ends_with(&base), "{server_url}");

    // No credentials asked: the URL is the key.
    let list = openrosa(app, Method::GET, &format!("{base}/formList"), None, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let text = list.text();
    let download = text.split("<downloadUrl>").nth(1).unwrap().split("</downloadUrl>").next().unwrap();
    assert!(download.contains(&base), "the form is downloaded through the key too: {download}");
    let path = &download[download.find("/openrosa/").unwrap()..];
    assert_eq!(openrosa(app, Method::GET, path, None, None).await.status, StatusCode::OK);
    let xml = submission_xml(&s.version, "k-1", None, "Keyed");
    let posted =
        openrosa(app, Method::POST, &format!("{base}/submission"), None, Some(upload_body(&xml, "k.xml", &[]))).await;
    assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.text());
    let row = &instances(app, &s.token, "?search=k-1").await["instances"][0];
    assert_eq!(row["created_by"]["username"], "collector", "the token acts for its user");

    // The token opens its own project only; a wrong or revoked one opens nothing.
    let other = app.project(s.account, "Other", "other.app").await;
    let elsewhere = openrosa(app, Method::GET, &format!("/openrosa/key/{secret}/other.app/formList"), None, None).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN, "project {other:?}: {}", elsewhere.text());
    let wrong = openrosa(app, Method::GET, "/openrosa/key/not-a-token/bfa.demo/formList", None, None).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let stranger_account = app.account("Stranger").await;
    app.user(stranger_account, "stranger", |u| u.is_superuser = true).await;
    let stranger = app.token("stranger").await;
    assert_eq!(
        app.get(&format!("/api/projects/{}/app_tokens/", s.project), Some(&stranger)).await.status,
        StatusCode::NOT_FOUND
    );
    let listed = app.get(&format!("/api/projects/{}/app_tokens/", s.project), Some(&s.token)).await.json();
    assert_eq!(listed["app_tokens"][0]["name"], "Tablet 12");
    assert!(listed["app_tokens"][0].get("token").is_none(), "never shown again");
    let id = created["id"].as_i64().unwrap();
    let revoked =
        send_json(app, Method::DELETE, &format!("/api/projects/{}/app_tokens/{id}/", s.project), &s.token, json!({}))
            .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text());
    let after = openrosa(app, Method::GET, &format!("{base}/formList"), None, None).await;
    assert_eq!(after.status, StatusCode::FORBIDDEN);

    // A project manager makes tokens for themselves only: a token acting for the admin would lend
    // the admin's rights.
    let manager =
        app.user(s.account, "manager", |u| u.permissions = vec![hygeia_core::permission::PROJECTS.into()]).await;
    let manager_token = app.token("manager").await;
    let tokens = format!("/api/projects/{}/app_tokens/", s.project);
    let admin_id = app.store.users().credentials("admin").await.unwrap().unwrap().user_id.0;
    let lent = send_json(app, Method::POST, &tokens, &manager_token, json!({"name": "x", "user_id": admin_id})).await;
    assert_eq!(lent.status, StatusCode::FORBIDDEN, "{}", lent.text());
    let own = send_json(app, Method::POST, &tokens, &manager_token, json!({"name": "mine"})).await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text());
    assert_eq!(own.json()["user_id"], manager.user_id.0);
}

async fn exports_have_a_column_per_question_and_repeat_instance(app: &TestApp) {
    let Some(s) = setup(app, "BFA", "bfa.demo", "collector").await else { return };
    let one = submission_xml(&s.version, "e-1", None, "Awa");
    // The second has two households: the export gets a column per question of each.
    let household = one.split("<hh_repeat>").nth(1).unwrap().split("</hh_repeat>").next().unwrap().to_owned();
    let second_household = household.replace("household 1", "household 2").replace("<age>42", "<age>7");
    let two = submission_xml(&s.version, "e-2", None, "Binta")
        .replace("</hh_repeat>", &format!("</hh_repeat><hh_repeat>{second_household}</hh_repeat>"));
    collect(app, "collector", &one).await;
    collect(app, "collector", &two).await;

    let path = format!("/api/instances/?form_ids={}&csv=true", s.form);
    let reply = app.get(&path, Some(&s.token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(
        reply
            .header("content-disposition")
            .is_some_and(|d| d.contains("filename=\"instances-") && d.ends_with(".csv\""))
    );
    let mut reader = csv::Reader::from_reader(&reply.bytes[..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    for title in [
        "ID du formulaire",
        "instanceID",
        "Org unit",
        "parent1",
        "MMD_PER_NAM",
        "hh_repeat[1]/name",
        "hh_repeat[2]/age",
    ] {
        assert!(header.iter().any(|h| h == title), "{title} missing from {header:?}");
    }
    assert!(!header.iter().any(|h| h.starts_with("hh_repeat[3]")), "as many instances as the largest submission");
    let column = |title: &str| header.iter().position(|h| h == title).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let binta = rows.iter().find(|r| &r[column("instanceID")] == "uuid:e-2").unwrap();
    assert_eq!((&binta[column("MMD_PER_NAM")], &binta[column("hh_repeat[2]/age")]), ("Binta", "7"));
    assert_eq!(&binta[column("hh_repeat[2]/name")], "household 2");
    let awa = rows.iter().find(|r| &r[column("instanceID")] == "uuid:e-1").unwrap();
    assert_eq!((&awa[column("hh_repeat[1]/age")], &awa[column("hh_repeat[2]/age")]), ("42", ""));
    assert_eq!(&awa[column("Status")], "READY");

    let xlsx = app.get(&format!("/api/instances/?form_ids={}&xlsx=true", s.form), Some(&s.token)).await;
    assert_eq!(xlsx.status, StatusCode::OK, "{}", xlsx.text());
    use calamine::Reader;
    let mut workbook = calamine::Xlsx::new(std::io::Cursor::new(xlsx.bytes.to_vec())).unwrap();
    let sheet = workbook.worksheet_range("Submissions").unwrap();
    assert_eq!(sheet.height(), 3, "a header and two rows");
    let age = sheet.rows().next().unwrap().iter().position(|c| *c == "hh_repeat[1]/age").unwrap();
    assert!(
        sheet.rows().skip(1).all(|r| matches!(r[age], calamine::Data::Float(f) if f == 42.0)),
        "numbers as numbers"
    );

    // One form per export; a form of another account is unknown.
    let no_form = app.get("/api/instances/?csv=true", Some(&s.token)).await;
    assert_eq!(no_form.status, StatusCode::BAD_REQUEST);
    assert!(no_form.text().contains("form_ids"), "{}", no_form.text());
    let other = app.account("Other").await;
    app.user(other, "stranger", |u| u.is_superuser = true).await;
    let stranger = app.token("stranger").await;
    assert_eq!(app.get(&path, Some(&stranger)).await.status, StatusCode::BAD_REQUEST);
    // A user restricted to the clinic gets the clinic's submission only.
    let awa_id = &awa[column("ID du formulaire")];
    let moved =
        send_json(app, Method::PATCH, &format!("/api/instances/{awa_id}/"), &s.token, json!({"org_unit": s.unit.0}))
            .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
    app.user(s.account, "restricted", |u| {
        u.org_units = vec![s.unit.0];
        u.permissions = vec![
            hygeia_core::permission::SUBMISSIONS.to_owned(),
            hygeia_core::permission::UPDATE_SUBMISSION.to_owned(),
        ];
    })
    .await;
    let restricted = app.token("restricted").await;
    let reply = app.get(&path, Some(&restricted)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let mut reader = csv::Reader::from_reader(&reply.bytes[..]);
    let own_header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert!(!own_header.iter().any(|h| h.starts_with("hh_repeat[2]")), "columns follow the rows exported");
    let instance = own_header.iter().position(|h| h == "instanceID").unwrap();
    let uuids: Vec<String> = reader.records().map(|r| r.unwrap()[instance].to_owned()).collect();
    assert_eq!(uuids, ["uuid:e-1"]);

    // Bulk deletion: "all" is all the caller may see; unselected ones are spared; restoring.
    let bulk = |token: &str, body: Value| {
        let token = token.to_owned();
        async move { send_json(app, Method::POST, "/api/instances/bulkdelete/", &token, body).await }
    };
    let live = |token: &str| {
        let token = token.to_owned();
        async move { instances(app, &token, "?limit=10").await["count"].as_u64().unwrap() }
    };
    let done = bulk(&restricted, json!({"select_all": true})).await;
    assert_eq!(done.json()["changed"], 1, "the restricted user reaches the clinic's only: {}", done.text());
    assert_eq!(live(&s.token).await, 1);
    let awa_id: i64 = awa_id.parse().unwrap();
    let restored = bulk(&s.token, json!({"selected_ids": [awa_id], "is_deletion": false})).await;
    assert_eq!(restored.json()["changed"], 1, "{}", restored.text());
    let spared = bulk(&s.token, json!({"select_all": true, "unselected_ids": [awa_id]})).await;
    assert_eq!(spared.json()["changed"], 1);
    assert_eq!(live(&s.token).await, 1);
    assert_eq!(bulk(&s.token, json!({})).await.status, StatusCode::BAD_REQUEST, "nothing selected");
    let stranger_bulk = bulk(&stranger, json!({"selected_ids": [awa_id]})).await;
    assert_eq!(stranger_bulk.json()["changed"], 0, "another account's submissions are out of reach");
    assert_eq!(live(&s.token).await, 1);
}

async fn an_odk_collect_session_is_served(app: &TestApp) {
    let Some(s) = setup(app, "BFA", "bfa.demo", "collector").await else { return };
    let base = "/openrosa/bfa.demo";

    // Collect asks without credentials and is challenged.
    let challenge = openrosa(app, Method::GET, &format!("{base}/formList"), None, None).await;
    assert_eq!(challenge.status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.header("www-authenticate").is_some_and(|h| h.starts_with("Basic realm=")),
        "{:?}",
        challenge.headers
    );
    assert_eq!(challenge.header("x-openrosa-version"), Some("1.0"));
    let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("collector:nope"));
    assert_eq!(
        openrosa(app, Method::GET, &format!("{base}/formList"), Some(&wrong), None).await.status,
        StatusCode::UNAUTHORIZED
    );

    let auth = basic("collector");
    let list = openrosa(app, Method::GET, &format!("{base}/formList"), Some(&auth), None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    assert_eq!(list.header("x-openrosa-version"), Some("1.0"));
    let text = list.text();
    assert!(text.contains(r#"<xforms xmlns="http://openrosa.org/xforms/xformsList">"#), "{text}");
    assert!(
        text.contains(&format!("<formID>{FORM_ID}</formID>"))
            && text.contains(&format!("<version>{}</version>", s.version)),
        "{text}"
    );
    let download = text.split("<downloadUrl>").nth(1).unwrap().split("</downloadUrl>").next().unwrap();
    let path = download.split_once("://").map(|(_, rest)| &rest[rest.find('/').unwrap()..]).unwrap();
    let xform = openrosa(app, Method::GET, path, Some(&auth), None).await;
    assert_eq!(xform.status, StatusCode::OK);
    let hash = text.split("<hash>md5:").nth(1).unwrap().split('<').next().unwrap();
    assert_eq!(hash, hex::encode(<md5::Md5 as md5::Digest>::digest(&xform.bytes)), "the hash is the served bytes'");

    // HEAD, then a submission with two attachments.
    let head = openrosa(app, Method::HEAD, &format!("{base}/submission"), Some(&auth), None).await;
    assert_eq!(head.status, StatusCode::NO_CONTENT);
    assert_eq!(head.header("x-openrosa-accept-content-length"), Some("100000000"));
    let first = submission_xml(&s.version, "c0ffee-1", None, "Awa");
    // A photo too large to be kept in the database (it goes to file storage), a small audit log.
    let photo_bytes: Vec<u8> = b"\xff\xd8jpeg bytes".iter().copied().cycle().take(70_000).collect();
    let files: [(&str, &[u8]); 2] = [("1714556000123.jpg", &photo_bytes), ("audit.csv", b"event,start\n")];
    let posted = openrosa(
        app,
        Method::POST,
        &format!("{base}/submission"),
        Some(&auth),
        Some(upload_body(&first, "child.xml", &files)),
    )
    .await;
    assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.text());
    assert!(
        posted.text().contains("<OpenRosaResponse xmlns=\"http://openrosa.org/http/response\""),
        "{}",
        posted.text()
    );
    assert_eq!(posted.header("x-openrosa-version"), Some("1.0"));

    let listed = instances(app, &s.token, &format!("?form_id={}", s.form)).await;
    let rows = listed["instances"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{listed}");
    let row = &rows[0];
    assert_eq!((row["uuid"].as_str(), row["file_name"].as_str()), (Some("c0ffee-1"), Some("child.xml")));
    assert_eq!(row["file_content"]["MMD_PER_NAM"], "Awa");
    assert_eq!(row["file_content"]["hh_repeat"][0]["city"], "bxl");
    assert_eq!(row["file_content"]["_version"], s.version.as_str());
    assert_eq!(row["created_by"]["username"], "collector");
    assert_eq!(row["status"], "READY");
    let id = row["id"].as_i64().unwrap();
    let detail = instances(app, &s.token, &format!("{id}/")).await;
    let names: Vec<&str> = detail["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["1714556000123.jpg", "audit.csv"]);
    assert_eq!(
        detail["answers"]["households"]["hh_repeat"][0]["age"], 42,
        "typed JSON nests groups and repeats, numbers typed"
    );
    // The XML and the audit log are kept in the database, the photo in file storage.
    let stored = app.store.submissions().get(s.account, hygeia_core::SubmissionId(id)).await.unwrap().unwrap();
    assert!(stored.file_key.as_deref().is_some_and(|k| k.starts_with("db:")), "{:?}", stored.file_key);
    let kept = app.store.submissions().files(s.account, stored.id).await.unwrap();
    let keys: Vec<bool> = kept.iter().map(|f| f.file_key.starts_with("db:")).collect();
    assert_eq!(keys, [false, true], "{kept:?}");
    assert_eq!(app.state.files.open(s.account, &kept[0].file_key).await.unwrap().size, 70_000);
    // The XML and the files are served, as sent, to those who may see the submission.
    let served = app.get(row["file_url"].as_str().unwrap(), Some(&s.token)).await;
    assert_eq!((served.status, served.text()), (StatusCode::OK, first.clone()));
    let photo = app.get(detail["files"][0]["file"].as_str().unwrap(), Some(&s.token)).await;
    assert_eq!((photo.status, photo.bytes.as_slice()), (StatusCode::OK, files[0].1));
    assert_eq!(app.get(detail["files"][0]["file"].as_str().unwrap(), None).await.status, StatusCode::UNAUTHORIZED);
    let Some(outsider) = setup(app, "Other", "other.app", "outsider").await else { return };
    assert_eq!(app.get(row["file_url"].as_str().unwrap(), Some(&outsider.token)).await.status, StatusCode::NOT_FOUND);
    let audit = detail["files"][1]["file"].as_str().unwrap();
    assert_eq!(app.get(audit, Some(&outsider.token)).await.status, StatusCode::NOT_FOUND);

    // A retry of the same XML is accepted and creates nothing; a different XML under the same id is refused.
    let again = openrosa(
        app,
        Method::POST,
        &format!("{base}/submission"),
        Some(&auth),
        Some(upload_body(&first, "child.xml", &[])),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text());
    let other = submission_xml(&s.version, "c0ffee-1", None, "Someone else");
    let conflict = openrosa(
        app,
        Method::POST,
        &format!("{base}/submission"),
        Some(&auth),
        Some(upload_body(&other, "child.xml", &[])),
    )
    .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.text());
    assert!(conflict.text().contains("nature=\"error\""), "{}", conflict.text());

    // An edit: a new instance id naming the old one; the submission keeps its id and its history.
    let edit = submission_xml(&s.version, "c0ffee-2", Some("c0ffee-1"), "Awa Edited");
    let edited = openrosa(
        app,
        Method::POST,
        &format!("{base}/submission"),
        Some(&auth),
        Some(upload_body(&edit, "child.xml", &[])),
    )
    .await;
    assert_eq!(edited.status, StatusCode::CREATED, "{}", edited.text());
    let after = instances(app, &s.token, &format!("{id}/")).await;
    assert_eq!((after["uuid"].as_str(), after["edits"].as_i64()), (Some("c0ffee-2"), Some(1)));
    assert_eq!(after["file_content"]["MMD_PER_NAM"], "Awa Edited");
    let history = app.store.submissions().history(s.account, hygeia_core::SubmissionId(id)).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].0, "c0ffee-1");
    assert_eq!(instances(app, &s.token, "").await["instances"].as_array().unwrap().len(), 1, "still one submission");

    // An edit of an instance that never existed, and an unknown version.
    let orphan = submission_xml(&s.version, "c0ffee-9", Some("never-sent"), "X");
    let reply = openrosa(
        app,
        Method::POST,
        &format!("{base}/submission"),
        Some(&auth),
        Some(upload_body(&orphan, "x.xml", &[])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
    let unknown = submission_xml("1999010101", "c0ffee-8", None, "X");
    let reply = openrosa(
        app,
        Method::POST,
        &format!("{base}/submission"),
        Some(&auth),
        Some(upload_body(&unknown, "y.xml", &[])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
    assert!(reply.text().contains("no version '1999010101'"), "{}", reply.text());
}

async fn iaso_phone_uploads_meet_in_either_order(app: &TestApp) {
    let Some(s) = setup(app, "BFA", "bfa.demo", "admin").await else { return };
    let metadata = |uuid: &str, file: &str| {
        json!([{
            "id": uuid, "created_at": 1795331702.125, "updated_at": 1795331702.125,
            "file": format!("/storage/emulated/0/Android/data/com.bluesquarehub.iaso/files/Documents/instances/x/{file}"),
            "name": "Child Programme", "formId": s.form.to_string(), "orgUnitId": s.unit.0.to_string(),
            "latitude": 12.0911, "longitude": -3.6721, "altitude": 301.5, "accuracy": 8.5
        }])
    };
    let upload = |xml: String, file: &'static str| upload_body(&xml, file, &[("photo.jpg", b"jpeg")]);

    // Metadata first, then the XML.
    let reply =
        send_json(app, Method::POST, "/api/instances/?app_id=bfa.demo", &s.token, metadata("aaaa-1", "first.xml"))
            .await;
    assert_eq!((reply.status, reply.json()), (StatusCode::OK, json!({"res": "ok"})));
    let reply = post_multipart(
        app,
        "/sync/form_upload/",
        &s.token,
        upload(submission_xml(&s.version, "aaaa-1", None, "One"), "first.xml"),
    )
    .await;
    assert_eq!((reply.status, reply.json()), (StatusCode::CREATED, json!({"result": "success"})));

    // The XML first, then the metadata.
    let reply = post_multipart(
        app,
        "/sync/form_upload/",
        &s.token,
        upload(submission_xml(&s.version, "bbbb-2", None, "Two"), "second.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let reply =
        send_json(app, Method::POST, "/api/instances/?app_id=bfa.demo", &s.token, metadata("bbbb-2", "second.xml"))
            .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    // The phone retries its metadata: nothing new.
    send_json(app, Method::POST, "/api/instances/?app_id=bfa.demo", &s.token, metadata("aaaa-1", "first.xml")).await;

    let listed = instances(app, &s.token, &format!("?orgUnitId={}&limit=10&page=1", s.unit.0)).await;
    assert_eq!(listed["count"], 2, "{listed}");
    for row in listed["instances"].as_array().unwrap() {
        assert_eq!(row["org_unit"]["id"], s.unit.0, "{row}");
        assert_eq!((row["latitude"].as_f64(), row["altitude"].as_f64()), (Some(12.0911), Some(301.5)));
        assert_eq!(row["source_created_at"], 1795331702.125);
        assert!(row["export_id"].as_str().is_some_and(|e| e.len() == 11));
    }
    let search = instances(app, &s.token, "?search=clinic&withLocation=true").await;
    assert_eq!(search["instances"].as_array().unwrap().len(), 2);

    // Move one to another period, delete the other; deleted ones are listed apart.
    let rows = listed["instances"].as_array().unwrap();
    let (a, b) = (rows[0]["id"].as_i64().unwrap(), rows[1]["id"].as_i64().unwrap());
    let moved =
        send_json(app, Method::PATCH, &format!("/api/instances/{a}/"), &s.token, json!({"period": "202611"})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
    assert_eq!(moved.json()["period"], "202611");
    assert_eq!(instances(app, &s.token, "?period=202611").await["instances"].as_array().unwrap().len(), 1);
    let token = s.token.clone();
    let within = |range: &str| {
        let path = format!("/api/instances/{range}");
        let token = token.clone();
        async move { app.get(&path, Some(&token)).await }
    };
    let count = |reply: crate::support::Reply| reply.json()["instances"].as_array().unwrap().len();
    assert_eq!(count(within("?startPeriod=2026Q4&endPeriod=2026Q4").await), 1, "November is in the last quarter");
    assert_eq!(count(within("?startPeriod=2026&endPeriod=2026").await), 1);
    assert_eq!(count(within("?startPeriod=202612&endPeriod=2027").await), 0);
    assert_eq!(count(within("?startPeriod=2026Q4&endPeriod=2026Q4&period=202611").await), 1);
    assert_eq!(count(within("?startPeriod=2026Q1&endPeriod=2026Q1&period=202611").await), 0);
    let half = within("?startPeriod=2026Q4").await;
    assert_eq!(half.status, StatusCode::BAD_REQUEST);
    assert!(half.text().contains("endPeriod"), "{}", half.text());
    assert_eq!(within("?startPeriod=2026Q9&endPeriod=2027").await.status, StatusCode::BAD_REQUEST);
    let deleted = app
        .send(
            Request::delete(format!("/api/instances/{b}/"))
                .header(header::AUTHORIZATION, format!("Bearer {}", s.token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(instances(app, &s.token, "").await["instances"].as_array().unwrap().len(), 1);
    assert_eq!(instances(app, &s.token, "?showDeleted=true").await["instances"][0]["id"], b);
    let restored =
        send_json(app, Method::PATCH, &format!("/api/instances/{b}/"), &s.token, json!({"deleted": false})).await;
    assert_eq!(restored.json()["deleted"], false);
}

async fn broken_and_foreign_submissions_are_refused_and_kept(app: &TestApp) {
    let Some(s) = setup(app, "A", "a.app", "alice").await else { return };
    let Some(other) = setup(app, "B", "b.app", "bob").await else { return };
    let auth = basic("alice");

    // Not XML: refused with the cause, and the bytes are kept for inspection.
    let reply = openrosa(
        app,
        Method::POST,
        "/openrosa/a.app/submission",
        Some(&auth),
        Some(upload_body("<data id=", "bad.xml", &[])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(reply.text().contains("not well-formed"), "{}", reply.text());
    // A form of another account is unknown here.
    let foreign = submission_xml(&other.version, "dddd-1", None, "X").replace(FORM_ID, "no_such_form");
    let reply = openrosa(
        app,
        Method::POST,
        "/openrosa/a.app/submission",
        Some(&auth),
        Some(upload_body(&foreign, "f.xml", &[])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
    // Another account's project is not found, and bob's credentials do not open alice's project.
    let reply = openrosa(app, Method::GET, "/openrosa/b.app/formList", Some(&auth), None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // A body cut off mid-way.
    let (content_type, mut body) =
        upload_body(&submission_xml(&s.version, "eeee-1", None, "Cut"), "cut.xml", &[("big.jpg", &[7u8; 4096])]);
    body.truncate(body.len() - 2000);
    let reply =
        openrosa(app, Method::POST, "/openrosa/a.app/submission", Some(&auth), Some((content_type, body))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(reply.text().contains("incomplete"), "{}", reply.text());
    // Iaso's phone: an unknown form is stored and answered 200, to be replayed later.
    let unknown = submission_xml(&s.version, "ffff-1", None, "X").replace(FORM_ID, "later_form");
    let reply = post_multipart(app, "/sync/form_upload/", &s.token, upload_body(&unknown, "later.xml", &[])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["result"], "stored");
    // Metadata naming another account's org unit is refused.
    let meta = json!([{"id": "gggg-1", "file": "g.xml", "formId": s.form, "orgUnitId": other.unit.0}]);
    let reply = send_json(app, Method::POST, "/api/instances/?app_id=a.app", &s.token, meta).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(reply.text().contains("[0].orgUnitId") && reply.text().contains("Unknown org unit"), "{}", reply.text());

    // Every failed upload is kept with its error; nothing was recorded as a submission.
    let kept = app.store.submissions().unprocessed_payloads(100).await.unwrap();
    let errors: Vec<&str> =
        kept.iter().filter(|p| p.account_id == Some(s.account)).filter_map(|p| p.error.as_deref()).collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("later_form")), "{errors:?}");
    assert_eq!(instances(app, &s.token, "").await["instances"].as_array().unwrap().len(), 0);
    // Bob sees none of alice's submissions and none of his own exist.
    assert_eq!(instances(app, &other.token, "").await["instances"].as_array().unwrap().len(), 0);
}

async fn stored_payloads_are_replayed_once_their_form_exists(app: &TestApp) {
    let Some(workbook) = shared("xlsform-corpus/iaso_repeat_group_form.xlsx").map(|p| std::fs::read(p).unwrap()) else {
        return;
    };
    let account = app.account("C").await;
    let project = app.project(account, "C", "c.app").await;
    app.user(account, "carol", |u| u.is_superuser = true).await;
    let token = app.token("carol").await;
    // The phone sends its XML (naming no version) before the form is published: stored, answered 200.
    let xml = submission_xml("x", "hhhh-1", None, "Early").replace(r#" version="x""#, "");
    let reply = post_multipart(app, "/sync/form_upload/", &token, upload_body(&xml, "early.xml", &[])).await;
    assert_eq!((reply.status, reply.json()["result"].as_str()), (StatusCode::OK, Some("stored")), "{}", reply.text());
    // A payload kept by an earlier release: its own directory, its parts listed in parts.json.
    let older = submission_xml("x", "hhhh-2", None, "Older").replace(r#" version="x""#, "");
    let directory = hygeia_files::FileStore::new_key(account, "payloads", "x");
    let directory = directory.rsplit_once('/').unwrap().0;
    let xml_key = format!("{directory}/0-older.xml");
    app.state.files.put_bytes(&xml_key, older.clone().into()).await.unwrap();
    let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(older.as_bytes()));
    let manifest = json!([{"name": "xml_submission_file", "file_name": "older.xml", "key": xml_key,
        "size": older.len(), "md5": md5}]);
    app.state.files.put_bytes(&format!("{directory}/parts.json"), manifest.to_string().into()).await.unwrap();
    let payload = hygeia_store::NewPayload {
        account: Some(account),
        channel: hygeia_core::PayloadChannel::Iaso,
        file_key: directory.to_owned(),
        parts: Vec::new(),
        inline: Vec::new(),
        size: older.len() as i64,
        user: None,
        project: Some(project),
    };
    app.store.submissions().record_payload(payload).await.unwrap();
    let (done, failed) = hygeia_server::submissions::replay_unprocessed(&app.state, 100, |_, _| {}).await.unwrap();
    assert_eq!((done, failed), (0, 2), "the form still does not exist");

    // The form and its version arrive: the replay records the submission against the latest version.
    let form =
        send_json(app, Method::POST, "/api/forms/", &token, json!({"name": "Child", "project_ids": [project.0]})).await;
    let form = form.json()["id"].as_i64().unwrap();
    let body = multipart_as(&[("form_id", &form.to_string())], "xls_file", Some(("form.xlsx", &workbook)));
    assert_eq!(post_multipart(app, "/api/formversions/", &token, body).await.status, StatusCode::CREATED);
    let mut seen = Vec::new();
    let (done, failed) = hygeia_server::submissions::replay_unprocessed(&app.state, 100, |payload, outcome| {
        seen.push((payload, outcome.is_ok()))
    })
    .await
    .unwrap();
    assert_eq!((done, failed, seen.len()), (2, 0, 2));
    let listed = instances(app, &token, "").await;
    let mut names: Vec<&str> = listed["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["file_content"]["MMD_PER_NAM"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Early", "Older"], "{listed}");
    assert!(app.store.submissions().unprocessed_payloads(10).await.unwrap().is_empty());
}

/// The dashboard's submission pages: the table with the list API's filters, export links for one
/// form, a submission's answers under their labels with its photo, and nothing of another account.
async fn submission_pages_filter_and_show_labelled_answers_and_photos(app: &TestApp) {
    let Some(s) = setup(app, "BFA", "bfa.demo", "admin").await else { return };
    let photo: &[u8] = b"\xff\xd8\xff\xe0 not really a jpeg";
    let xml = submission_xml(&s.version, "5b1c9a4e-0000-4000-8000-000000000001", None, "Awa");
    let reply = openrosa(
        app,
        Method::POST,
        "/openrosa/bfa.demo/submission",
        Some(&basic("admin")),
        Some(upload_body(&xml, "s.xml", &[("1714.jpg", photo)])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let id = instances(app, &s.token, "").await["instances"][0]["id"].as_i64().unwrap();
    let cookie = crate::web::sign_in(app, "admin").await;
    let cookie = &cookie;
    let get = |path: String, htmx: bool| async move {
        let mut request = Request::get(path).header(header::COOKIE, cookie);
        if htmx {
            request = request.header("hx-request", "true");
        }
        app.send(request.body(Body::empty()).unwrap()).await
    };
    let list = get("/submissions".into(), false).await.text();
    assert!(
        list.contains("<strong id=\"submission-count\">1</strong>")
            && list.contains(&format!("href=\"/submissions/{id}\""))
    );
    assert!(list.contains("choose one form to export"), "an export is of one form");
    let one_form = get(format!("/submissions?form_ids={}", s.form), true).await.text();
    assert!(
        !one_form.contains("<html") && one_form.contains(&format!("/api/instances/?form_ids={}&amp;csv=true", s.form)),
        "{one_form}"
    );
    let none = get("/submissions?search=nobody-by-this-name".into(), true).await.text();
    assert!(none.contains("<strong id=\"submission-count\">0</strong>"), "{none}");
    let bad = get("/submissions?status=LOST".into(), false).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("READY, DUPLICATED or EXPORTED"));

    let page = get(format!("/submissions/{id}"), false).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("<code class=\"muted\">MMD_PER_NAM</code></td><td>Awa</td>"), "{html}");
    let version = app.store.forms().versions(s.account, None).await.unwrap().remove(0);
    let label = &version.possible_fields.iter().find(|f| f.name == "MMD_PER_NAM").unwrap().label;
    assert!(!label.is_empty() && html.contains(&format!("<td>{label} <br><code")), "the question's label: {label}");
    assert!(html.contains("alt=\"1714.jpg\""), "the photo is shown: {html}");

    // Another account's user finds nothing.
    let other = app.account("Elsewhere").await;
    app.user(other, "stranger", |u| u.permissions = vec!["iaso_submissions".into()]).await;
    let stranger = crate::web::sign_in(app, "stranger").await;
    let request = Request::get(format!("/submissions/{id}")).header(header::COOKIE, stranger.clone());
    assert_eq!(app.send(request.body(Body::empty()).unwrap()).await.status, StatusCode::NOT_FOUND);
    let request = Request::get("/submissions").header(header::COOKIE, stranger);
    let listed = app.send(request.body(Body::empty()).unwrap()).await.text();
    assert!(listed.contains("<strong id=\"submission-count\">0</strong>"), "{listed}");
}

/// The dashboard's form-filling page sends through OpenRosa with the browser's session: accepted
/// from the site's own pages (`Sec-Fetch-Site: same-origin`), challenged otherwise, refused
/// cross-site.
async fn the_dashboard_session_submits_over_openrosa_from_its_own_pages_only(app: &TestApp) {
    let Some(s) = setup(app, "BFA", "bfa.demo", "admin").await else { return };
    let cookie = crate::web::sign_in(app, "admin").await;
    let send = |site: Option<&'static str>, instance: &'static str| {
        let cookie = cookie.clone();
        let xml = submission_xml(&s.version, instance, None, "Awa");
        async move {
            let (content_type, body) = upload_body(&xml, "s.xml", &[]);
            let mut request = Request::post("/openrosa/bfa.demo/submission")
                .header(header::COOKIE, cookie)
                .header(header::CONTENT_TYPE, content_type)
                .header("x-openrosa-version", "1.0");
            if let Some(site) = site {
                request = request.header("sec-fetch-site", site);
            }
            app.send(request.body(Body::from(body)).unwrap()).await
        }
    };
    let bare = send(None, "7a0c9a4e-0000-4000-8000-000000000001").await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED, "a cookie alone is not an OpenRosa login");
    assert!(bare.header("www-authenticate").is_some_and(|c| c.starts_with("Basic")));
    let cross = send(Some("cross-site"), "7a0c9a4e-0000-4000-8000-000000000002").await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let own = send(Some("same-origin"), "7a0c9a4e-0000-4000-8000-000000000003").await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text());
    let listed = instances(app, &s.token, "").await;
    assert_eq!(listed["instances"].as_array().unwrap().len(), 1);
    assert_eq!(listed["instances"][0]["uuid"], "7a0c9a4e-0000-4000-8000-000000000003");
}
