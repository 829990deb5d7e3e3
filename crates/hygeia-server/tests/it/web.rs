//! The server-rendered pages over HTTP (the browser tests in `browser.rs` drive them for real):
//! login redirects, the org-unit list and its htmx fragments, the tree, a unit's page and its
//! edit form, languages, static files, and the scope of restricted users.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use hygeia_core::{OrgUnitId, OrgUnitScope};
use serde_json::json;

use crate::georegistry::{ok, setup};
use crate::on_both_backends;
use crate::support::{PASSWORD, Reply, TestApp, multipart, send_json, shared};

on_both_backends!(
    pages_send_a_browser_without_session_to_the_login,
    the_org_unit_pages_list_filter_browse_and_edit,
    restricted_users_see_only_their_subtree_in_pages,
    readers_see_units_but_cannot_edit_them,
    embedded_front_end_files_are_served_for_good,
    imports_from_the_import_page_are_followed_on_their_task_page,
    tasks_are_stopped_relaunched_and_kept_to_their_launcher,
    forms_are_created_and_xlsforms_published_or_refused_where_they_fail,
    users_are_managed_within_what_their_manager_holds,
);

/// Signs `username` in through the login form; returns the session cookie.
pub(crate) async fn sign_in(app: &TestApp, username: &str) -> String {
    let body = format!("username={username}&password={}&next=/", PASSWORD.replace(' ', "+"));
    let reply = app
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    reply.header("set-cookie").unwrap().split(';').next().unwrap().to_owned()
}

async fn page(app: &TestApp, cookie: &str, path: &str, extra: &[(&str, &str)]) -> Reply {
    let mut request = Request::get(path).header(header::COOKIE, cookie);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    app.send(request.body(Body::empty()).unwrap()).await
}

async fn post_form(app: &TestApp, cookie: &str, path: &str, body: &str, htmx: bool) -> Reply {
    let mut request = Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if htmx {
        request = request.header("hx-request", "true");
    }
    app.send(request.body(Body::from(body.to_owned())).unwrap()).await
}

async fn pages_send_a_browser_without_session_to_the_login(app: &TestApp) {
    let reply = app.get("/orgunits?search=Bo", None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some("/login?next=%2Forgunits%3Fsearch%3DBo"));
    let fragment =
        app.send(Request::get("/orgunits/tree").header("hx-request", "true").body(Body::empty()).unwrap()).await;
    assert_eq!(fragment.status, StatusCode::NO_CONTENT, "htmx is told to load the login page whole");
    assert_eq!(fragment.header("hx-redirect"), Some("/login?next=%2Forgunits%2Ftree"));
    let french = app
        .send(Request::get("/login").header(header::ACCEPT_LANGUAGE, "fr-BF,fr;q=0.9").body(Body::empty()).unwrap())
        .await;
    assert!(french.text().contains("Connexion à Hygeia"), "{}", french.text());
    assert!(french.text().contains("lang=\"fr\""));
}

async fn the_org_unit_pages_list_filter_browse_and_edit(app: &TestApp) {
    let (account, token, _, [country, region, district]) = setup(app).await;
    ok(
        send_json(
            app,
            Method::POST,
            "/api/orgunits/create_org_unit/",
            &token,
            json!({"name": "CSPS Bagassi", "parent_id": district, "validation_status": "NEW", "latitude": 11.7, "longitude": -3.3}),
        )
        .await,
        StatusCode::OK,
    );
    let cookie = sign_in(app, "admin").await;

    let whole = page(app, &cookie, "/orgunits", &[]).await;
    assert_eq!(whole.status, StatusCode::OK);
    let html = whole.text();
    assert!(html.starts_with("<!doctype html>") && html.contains("id=\"filters\""));
    assert!(html.contains("<strong id=\"unit-count\">3</strong>"), "VALID units by default: {html}");
    assert!(!html.contains("CSPS Bagassi"), "a NEW unit is not listed by default");
    assert!(html.contains("/static/htmx.min.js?v=") && html.contains("/static/leaflet.js?v="));

    // htmx asks for the table alone; the filters are the list API's.
    let fragment = page(app, &cookie, "/orgunits?validation_status=NEW", &[("hx-request", "true")]).await;
    let table = fragment.text();
    assert!(!table.contains("<html"), "a fragment, not a page");
    assert!(table.contains("<strong id=\"unit-count\">1</strong>") && table.contains("CSPS Bagassi"), "{table}");
    let searched = page(app, &cookie, "/orgunits?search=boromo&validation_status=all", &[("hx-request", "true")]).await;
    assert!(searched.text().contains("<strong id=\"unit-count\">1</strong>") && searched.text().contains("DS Boromo"));
    let subtree = page(
        app,
        &cookie,
        &format!("/orgunits?orgUnitParentId={region}&validation_status=all"),
        &[("hx-request", "true")],
    )
    .await;
    assert!(subtree.text().contains("<strong id=\"unit-count\">3</strong>"), "{}", subtree.text());
    // A history restore asks for the whole page again.
    let restored =
        page(app, &cookie, "/orgunits", &[("hx-request", "true"), ("hx-history-restore-request", "true")]).await;
    assert!(restored.text().starts_with("<!doctype html>"));
    let far = page(app, &cookie, "/orgunits?page=18446744073709551615", &[("hx-request", "true")]).await;
    assert!(far.text().contains("<strong id=\"unit-count\">3</strong>"), "a page past the end shows the last");
    let bad = page(app, &cookie, "/orgunits?orgUnitTypeId=abc", &[]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("orgUnitTypeId: &#34;abc&#34; is not a number"), "{}", bad.text());

    // The tree, one level at a time.
    let top = page(app, &cookie, "/orgunits/tree", &[("hx-request", "true")]).await.text();
    assert!(top.contains("Burkina Faso") && !top.contains("Boucle du Mouhoun"), "{top}");
    let level = page(app, &cookie, &format!("/orgunits/tree?parent={country}"), &[("hx-request", "true")]).await.text();
    assert!(level.contains(&format!("data-filter-parent=\"{region}\"")) && level.contains("Boucle du Mouhoun"));

    // A unit's page: ancestors, children, the edit form.
    let unit = page(app, &cookie, &format!("/orgunits/{district}"), &[]).await;
    assert_eq!(unit.status, StatusCode::OK);
    let html = unit.text();
    assert!(html.contains(&format!("<a href=\"/orgunits/{country}\">Burkina Faso</a>")), "{html}");
    assert!(html.contains("CSPS Bagassi") && html.contains("id=\"unit-edit\""));

    let saved = post_form(
        app,
        &cookie,
        &format!("/orgunits/{district}"),
        &format!("name=DS+Boromo+II&org_unit_type_id=&parent_id={region}&validation_status=VALID&source_ref=&code=BRM"),
        true,
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK);
    assert!(saved.text().contains("Saved.") && saved.text().contains("value=\"DS Boromo II\""), "{}", saved.text());
    let scope = OrgUnitScope::whole_account(account);
    let stored = app.store.org_units().get(&scope, OrgUnitId(district)).await.unwrap().unwrap();
    assert_eq!((stored.name.as_str(), stored.code.as_str()), ("DS Boromo II", "BRM"));
    let history = page(app, &cookie, &format!("/orgunits/{district}"), &[]).await.text();
    assert!(history.contains("code, name"), "the change is in the history: {history}");

    // A refused change names its field, changes nothing, and keeps what was typed.
    let refused = post_form(
        app,
        &cookie,
        &format!("/orgunits/{district}"),
        "name=Typed&parent_id=abc&validation_status=VALID",
        true,
    )
    .await;
    assert_eq!(refused.status, StatusCode::OK, "htmx swaps only 2xx answers");
    assert!(
        refused.text().contains("parent_id: &#34;abc&#34; is not a number.")
            && refused.text().contains("value=\"Typed\"")
    );
    let cycle = post_form(
        app,
        &cookie,
        &format!("/orgunits/{country}"),
        &format!("name=Burkina+Faso&parent_id={district}&validation_status=VALID"),
        false,
    )
    .await;
    assert_eq!(cycle.status, StatusCode::BAD_REQUEST, "without htmx, the page with the error");
    assert!(cycle.text().contains("role=\"alert\""), "{}", cycle.text());
    assert_eq!(app.store.org_units().get(&scope, OrgUnitId(district)).await.unwrap().unwrap().name, "DS Boromo II");
    // Another site's form cannot post with the user's session (CSRF): refused, nothing changed.
    let forged = app
        .send(
            Request::post(format!("/orgunits/{district}"))
                .header(header::COOKIE, &cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site")
                .header(header::ORIGIN, "https://evil.example")
                .body(Body::from("name=Forged&validation_status=VALID"))
                .unwrap(),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.store.org_units().get(&scope, OrgUnitId(district)).await.unwrap().unwrap().name, "DS Boromo II");
    // Without htmx, a saved form redirects to the page.
    let plain =
        post_form(app, &cookie, &format!("/orgunits/{district}"), "name=DS+Boromo&validation_status=VALID", false)
            .await;
    assert_eq!(plain.status, StatusCode::SEE_OTHER);

    let french = page(app, &cookie, "/orgunits", &[(header::ACCEPT_LANGUAGE.as_str(), "fr")]).await.text();
    assert!(french.contains("Unités d&#39;organisation") && french.contains("lang=\"fr\""));
    let home = page(app, &cookie, "/", &[]).await.text();
    assert!(home.contains("<strong id=\"valid-units\">3</strong>"), "{home}");
    // The user's own choice of language, kept in the profile, wins over the browser's.
    let switched = post_form(app, &cookie, "/language", "language=fr&next=/orgunits?search=bo", false).await;
    assert_eq!((switched.status, switched.header("location")), (StatusCode::SEE_OTHER, Some("/orgunits?search=bo")));
    let chosen = page(app, &cookie, "/orgunits", &[(header::ACCEPT_LANGUAGE.as_str(), "en")]).await.text();
    assert!(chosen.contains("lang=\"fr\"") && chosen.contains("value=\"/orgunits\""), "{chosen}");
    let refused = post_form(app, &cookie, "/language", "language=de", false).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let away = post_form(app, &cookie, "/language", "language=en&next=https://evil.example/", false).await;
    assert_eq!(away.header("location"), Some("/"), "only local paths are followed");
    let missing = page(app, &cookie, "/orgunits/999999", &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.text().contains("<h1>404</h1>"));
}

async fn restricted_users_see_only_their_subtree_in_pages(app: &TestApp) {
    let (account, token, _, [country, region, district]) = setup(app).await;
    let other = ok(
        send_json(
            app,
            Method::POST,
            "/api/orgunits/create_org_unit/",
            &token,
            json!({"name": "Centre", "parent_id": country, "validation_status": "VALID"}),
        )
        .await,
        StatusCode::OK,
    )["id"]
        .as_i64()
        .unwrap();
    app.user(account, "district-manager", |u| {
        u.permissions = vec!["iaso_org_units".into()];
        u.org_units = vec![region];
    })
    .await;
    let cookie = sign_in(app, "district-manager").await;
    let list = page(app, &cookie, "/orgunits?validation_status=all", &[]).await.text();
    assert!(list.contains("<strong id=\"unit-count\">2</strong>"), "{list}");
    assert!(!list.contains(">Centre<"), "{list}");
    assert!(list.contains("<td>Burkina Faso</td>"), "the region's parent is named, not linked: {list}");
    let top = page(app, &cookie, "/orgunits/tree", &[]).await.text();
    assert!(top.contains("Boucle du Mouhoun") && !top.contains("Burkina Faso"), "their own roots: {top}");
    let hidden = page(app, &cookie, &format!("/orgunits/tree?parent={country}"), &[]).await.text();
    assert!(!hidden.contains("Centre"), "another subtree's level is empty: {hidden}");
    assert_eq!(page(app, &cookie, &format!("/orgunits/{other}"), &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(page(app, &cookie, &format!("/orgunits/{country}"), &[]).await.status, StatusCode::NOT_FOUND);
    let refused =
        post_form(app, &cookie, &format!("/orgunits/{other}"), "name=Mine&validation_status=VALID", true).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let own = page(app, &cookie, &format!("/orgunits/{district}"), &[]).await.text();
    assert!(
        own.contains("Burkina Faso") && !own.contains(&format!("href=\"/orgunits/{country}\"")),
        "named, not linked"
    );
    let home = page(app, &cookie, "/", &[]).await.text();
    assert!(home.contains("<strong id=\"valid-units\">2</strong>"), "{home}");
    let scope = OrgUnitScope::whole_account(account);
    assert_eq!(app.store.org_units().get(&scope, OrgUnitId(other)).await.unwrap().unwrap().name, "Centre");
}

async fn readers_see_units_but_cannot_edit_them(app: &TestApp) {
    let (account, _, _, [_, _, district]) = setup(app).await;
    app.user(account, "reader", |u| u.permissions = vec!["iaso_org_units_read".into()]).await;
    let cookie = sign_in(app, "reader").await;
    let unit = page(app, &cookie, &format!("/orgunits/{district}"), &[]).await.text();
    assert!(unit.contains("DS Boromo") && !unit.contains("id=\"unit-edit\""));
    assert!(unit.contains("data-editable=\"false\""));
    let refused =
        post_form(app, &cookie, &format!("/orgunits/{district}"), "name=Mine&validation_status=VALID", true).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    app.user(account, "nobody", |_| {}).await;
    let cookie = sign_in(app, "nobody").await;
    assert_eq!(page(app, &cookie, "/orgunits", &[]).await.status, StatusCode::FORBIDDEN);
}

async fn embedded_front_end_files_are_served_for_good(app: &TestApp) {
    let htmx = app.get("/static/htmx.min.js", None).await;
    assert_eq!(htmx.status, StatusCode::OK);
    assert_eq!(htmx.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(htmx.header("cache-control"), Some("public, max-age=31536000, immutable"));
    assert!(htmx.text().contains("htmx"));
    let icon = app.get("/static/images/marker-icon.png", None).await;
    assert!(icon.bytes.starts_with(b"\x89PNG"));
    assert_eq!(app.get("/static/../Cargo.toml", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/static/nope.js", None).await.status, StatusCode::NOT_FOUND);
}

async fn post_multipart_page(app: &TestApp, cookie: &str, path: &str, body: (String, Vec<u8>)) -> Reply {
    let request = Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, body.0)
        .body(Body::from(body.1))
        .unwrap();
    app.send(request).await
}

async fn imports_from_the_import_page_are_followed_on_their_task_page(app: &TestApp) {
    let Some(minimal) = shared("iaso/gpkg/minimal.gpkg") else { return };
    let (account, _, version) = crate::georegistry::setup_account(app).await;
    let cookie = sign_in(app, "admin").await;
    let sources = page(app, &cookie, "/sources", &[]).await.text();
    assert!(sources.contains("<h2>bfa") && sources.contains(&format!("version={version}")), "{sources}");
    assert!(sources.contains("href=\"/sources/import\""));
    let form = page(app, &cookie, "/sources/import", &[]).await;
    assert_eq!(form.status, StatusCode::OK);
    let source_id = app.store.sources().sources(account).await.unwrap()[0].id.0.to_string();
    assert!(form.text().contains(&format!("<option value=\"{source_id}\">bfa</option>")));

    // Refused before anything is queued: the form again, with the error.
    let no_file = post_multipart_page(app, &cookie, "/sources/import", multipart(&[("format", "gpkg")], None)).await;
    assert_eq!(no_file.status, StatusCode::BAD_REQUEST);
    assert!(no_file.text().contains("id=\"import-error\"") && no_file.text().contains("Attach the file"));
    let dhis2 = post_form(
        app,
        &cookie,
        "/sources/dhis2",
        &format!("source_id={source_id}&dhis2_url=ftp://x&dhis2_login=a&dhis2_password=b"),
        false,
    )
    .await;
    assert_eq!(dhis2.status, StatusCode::BAD_REQUEST);
    assert!(dhis2.text().contains("id=\"dhis2-error\"") && dhis2.text().contains("https://"), "{}", dhis2.text());
    assert!(app.store.tasks().list(account, &Default::default()).await.unwrap().items.is_empty());

    let registry = hygeia_server::tasks::registry(app.state.clone());
    let config = hygeia_jobs::WorkerConfig {
        workers: 1,
        poll_interval: std::time::Duration::from_millis(50),
        ..Default::default()
    };
    let pool = hygeia_jobs::WorkerPool::start(app.store.clone(), registry, config);
    let bytes = std::fs::read(&minimal).unwrap();
    let queued = post_multipart_page(
        app,
        &cookie,
        "/sources/import",
        multipart(
            &[("format", "gpkg"), ("data_source", &source_id), ("validation_status", "VALID")],
            Some(("minimal.gpkg", &bytes)),
        ),
    )
    .await;
    assert_eq!(queued.status, StatusCode::SEE_OTHER, "{}", queued.text());
    let task_page = queued.header("location").unwrap().to_owned();
    assert!(task_page.starts_with("/tasks/"));
    let whole = page(app, &cookie, &task_page, &[]).await.text();
    assert!(whole.contains("id=\"task-progress\"") && whole.contains("import_gpkg_task"), "{whole}");
    let mut panel = String::new();
    for _ in 0..500 {
        panel = page(app, &cookie, &task_page, &[("hx-request", "true")]).await.text();
        if panel.contains("data-status=\"SUCCESS\"") || panel.contains("data-status=\"ERRORED\"") {
            break;
        }
        assert!(panel.contains("hx-trigger=\"every 1s\""), "an active task's panel polls: {panel}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(panel.contains("data-status=\"SUCCESS\""), "{panel}");
    assert!(!panel.contains("hx-trigger"), "an ended task's panel stops polling: {panel}");
    assert!(panel.contains("id=\"task-outcome\""), "{panel}");
    // Without a version number, the import made a new version of the source.
    let versions = app.store.sources().versions(account, None).await.unwrap();
    let imported = versions.iter().max_by_key(|v| v.number).unwrap().id.0;
    assert_ne!(imported, version);
    let units =
        page(app, &cookie, &format!("/orgunits?version={imported}&validation_status=all"), &[("hx-request", "true")])
            .await;
    assert!(units.text().contains("<strong id=\"unit-count\">3</strong>"), "{}", units.text());
    let list = page(app, &cookie, "/tasks", &[]).await.text();
    assert!(list.contains(&format!("href=\"{task_page}\"")) && !list.contains("hx-trigger"), "{list}");
    pool.shutdown().await;
}

async fn tasks_are_stopped_relaunched_and_kept_to_their_launcher(app: &TestApp) {
    let (account, _, _) = crate::georegistry::setup_account(app).await;
    let admin = app.store.users().list(account).await.unwrap().into_iter().find(|u| u.username == "admin").unwrap();
    // No worker runs tasks of this name: it stays queued until stopped.
    let task = app
        .store
        .tasks()
        .enqueue(account, hygeia_core::NewTask::new("never_claimed", json!({}), Some(admin.user_id)))
        .await
        .unwrap();
    let cookie = sign_in(app, "admin").await;
    let path = format!("/tasks/{}", task.id.0);
    let queued = page(app, &cookie, &path, &[]).await.text();
    assert!(queued.contains("data-status=\"QUEUED\"") && queued.contains("/kill"), "{queued}");
    let list = page(app, &cookie, "/tasks", &[]).await.text();
    assert!(list.contains("hx-trigger=\"every 2s\""), "the list polls while a task is active: {list}");
    let killed = post_form(app, &cookie, &format!("{path}/kill"), "", true).await.text();
    assert!(
        killed.contains("data-status=\"KILLED\"") && killed.contains("/relaunch") && !killed.contains("/kill"),
        "{killed}"
    );
    let relaunched = post_form(app, &cookie, &format!("{path}/relaunch"), "", false).await;
    assert_eq!((relaunched.status, relaunched.header("location")), (StatusCode::SEE_OTHER, Some(path.as_str())));
    let again = app.store.tasks().get(account, task.id).await.unwrap().unwrap();
    assert_eq!(again.status, hygeia_core::TaskStatus::Queued);
    let french = page(app, &cookie, &path, &[(header::ACCEPT_LANGUAGE.as_str(), "fr")]).await.text();
    assert!(french.contains("En attente"), "{french}");

    // Without iaso_data_tasks, a user sees only the tasks they launched.
    app.user(account, "clerk", |u| u.permissions = vec!["iaso_org_units".into()]).await;
    let clerk = sign_in(app, "clerk").await;
    assert!(!page(app, &clerk, "/tasks", &[]).await.text().contains("never_claimed"));
    assert_eq!(page(app, &clerk, &path, &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(post_form(app, &clerk, &format!("{path}/kill"), "", true).await.status, StatusCode::FORBIDDEN);
    assert!(!app.store.tasks().get(account, task.id).await.unwrap().unwrap().should_be_killed);
}

async fn forms_are_created_and_xlsforms_published_or_refused_where_they_fail(app: &TestApp) {
    let (Some(good), Some(broken)) =
        (shared("xlsform-corpus/iaso_form_1.xlsx"), shared("xlsform-corpus/iaso_child_registration.xlsx"))
    else {
        return;
    };
    let (account, _, _) = crate::georegistry::setup_account(app).await;
    let project = app.project(account, "Child health", "child.health").await;
    let cookie = sign_in(app, "admin").await;
    let empty = page(app, &cookie, "/forms", &[]).await.text();
    assert!(
        empty.contains("No form yet.")
            && empty.contains(&format!("<option value=\"{}\">Child health</option>", project.0))
    );
    let refused = post_form(app, &cookie, "/forms", "name=Elsewhere&project_id=999999", false).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.text().contains("id=\"form-error\""));
    let created =
        post_form(app, &cookie, "/forms", &format!("name=Child+registration&project_id={}", project.0), false).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let form_page = created.header("location").unwrap().to_owned();
    let id = form_page.trim_start_matches("/forms/").to_owned();

    let upload = |file: &std::path::Path, name: &str| {
        let bytes = std::fs::read(file).unwrap();
        crate::support::multipart_as(&[], "xls_file", Some((name, &bytes)))
    };
    let bad = post_multipart_page(app, &cookie, &format!("/forms/{id}/versions"), upload(&broken, "child.xlsx")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let html = bad.text();
    assert!(html.contains("id=\"xlsform-error\"") && html.contains("<td id=\"error-sheet\">survey</td>"), "{html}");
    assert!(html.contains("repeat_count"), "the converter's message: {html}");
    assert!(app.store.forms().versions(account, None).await.unwrap().is_empty(), "nothing published");

    let good = post_multipart_page(app, &cookie, &format!("/forms/{id}/versions"), upload(&good, "form_1.xlsx")).await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.text());
    let after = good.header("location").unwrap().to_owned();
    assert!(after.starts_with(&format!("/forms/{id}?published=")));
    let html = page(app, &cookie, &after, &[]).await.text();
    let versions = app.store.forms().versions(account, None).await.unwrap();
    assert_eq!(versions.len(), 1);
    assert!(html.contains("id=\"published\"") && html.contains(&format!("<code>{}</code>", versions[0].version_id)));
    assert!(
        html.contains("id=\"questions\"")
            && html.contains(&format!("<code>{}</code>", versions[0].possible_fields[0].name))
    );
    let list = page(app, &cookie, "/forms", &[]).await.text();
    assert!(
        list.contains(&format!("href=\"/forms/{id}\">Child registration</a>"))
            && list.contains(&versions[0].version_id)
    );

    // Those who read forms but do not manage them see no upload, and may not post one.
    app.user(account, "analyst", |u| u.permissions = vec!["iaso_submissions".into()]).await;
    let analyst = sign_in(app, "analyst").await;
    let seen = page(app, &analyst, &form_page, &[]).await.text();
    assert!(seen.contains("Child registration") && !seen.contains("id=\"upload-version\""));
    let bytes = std::fs::read(shared("xlsform-corpus/iaso_form_1.xlsx").unwrap()).unwrap();
    let forbidden = post_multipart_page(
        app,
        &analyst,
        &format!("/forms/{id}/versions"),
        crate::support::multipart_as(&[], "xls_file", Some(("form_1.xlsx", &bytes))),
    )
    .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(
        post_form(app, &analyst, "/forms", &format!("name=X&project_id={}", project.0), false).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn users_are_managed_within_what_their_manager_holds(app: &TestApp) {
    let (account, _, _, [country, region, district]) = setup(app).await;
    let admin = sign_in(app, "admin").await;
    let list = page(app, &admin, "/users", &[]).await.text();
    assert!(list.contains(">admin</a>"), "{list}");
    let form = page(app, &admin, "/users/new", &[]).await.text();
    assert!(form.contains("value=\"iaso_users_managed\"") && form.contains("name=\"password\""));
    let password = PASSWORD.replace(' ', "+");
    let short = post_form(app, &admin, "/users", "username=fatou&password=short&is_active=true", false).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.text().contains("at least 8 characters") && short.text().contains("value=\"fatou\""));
    let created = post_form(
        app,
        &admin,
        "/users",
        &format!("username=fatou&password={password}&first_name=Fatou&language=fr&permissions=iaso_org_units&org_units={region}&is_active=true"),
        false,
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let fatou_page = created.header("location").unwrap().split('?').next().unwrap().to_owned();
    let users = app.store.users().list(account).await.unwrap();
    let fatou = users.iter().find(|u| u.username == "fatou").unwrap();
    assert_eq!((fatou.permissions.clone(), fatou.org_units.clone()), (vec!["iaso_org_units".to_owned()], vec![region]));
    // The user's own language, whatever the browser prefers.
    let fatou_cookie = sign_in(app, "fatou").await;
    let french = page(app, &fatou_cookie, "/orgunits", &[(header::ACCEPT_LANGUAGE.as_str(), "en")]).await.text();
    assert!(french.contains("lang=\"fr\""), "{french}");
    assert_eq!(page(app, &fatou_cookie, "/users", &[]).await.status, StatusCode::FORBIDDEN);

    let saved = post_form(
        app,
        &admin,
        &fatou_page,
        &format!("first_name=Fatou&language=en&org_units={district}&is_active=true"),
        false,
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK);
    assert!(saved.text().contains("id=\"user-saved\"") && saved.text().contains("DS Boromo"), "{}", saved.text());
    let fatou = app.store.users().list(account).await.unwrap().into_iter().find(|u| u.username == "fatou").unwrap();
    assert!(
        fatou.permissions.is_empty() && fatou.org_units == vec![district] && fatou.language.as_deref() == Some("en")
    );

    // A manager of a subtree: only within it, only with what they hold.
    app.user(account, "manager", |u| {
        u.permissions = vec!["iaso_users_managed".into(), "iaso_org_units".into()];
        u.org_units = vec![region];
    })
    .await;
    let manager = sign_in(app, "manager").await;
    let theirs = page(app, &manager, "/users", &[]).await.text();
    assert!(theirs.contains(">fatou</a>") && !theirs.contains(">admin</a>"), "{theirs}");
    let admin_id = app
        .store
        .users()
        .list(account)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "admin")
        .unwrap()
        .profile_id
        .0;
    assert_eq!(page(app, &manager, &format!("/users/{admin_id}"), &[]).await.status, StatusCode::NOT_FOUND);
    let new = |extra: &str| format!("username=aminata&password={password}&is_active=true{extra}");
    for (extra, refusal) in [
        (format!("&permissions=iaso_users&org_units={district}"), "you cannot grant &#34;iaso_users&#34;"),
        (format!("&permissions=iaso_org_units&org_units={country}"), "outside your subtree"),
        ("&permissions=iaso_org_units".to_owned(), "restrict the user"),
    ] {
        let refused = post_form(app, &manager, "/users", &new(&extra), false).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{extra}");
        assert!(refused.text().contains(refusal), "{extra}: {}", refused.text());
    }
    assert!(!app.store.users().list(account).await.unwrap().iter().any(|u| u.username == "aminata"));
    let made =
        post_form(app, &manager, "/users", &new(&format!("&permissions=iaso_org_units&org_units={district}")), false)
            .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text());
    let escalate = post_form(
        app,
        &manager,
        &fatou_page,
        &format!("permissions=iaso_users&org_units={district}&is_active=true"),
        false,
    )
    .await;
    assert_eq!(escalate.status, StatusCode::BAD_REQUEST);
    let fatou = app.store.users().list(account).await.unwrap().into_iter().find(|u| u.username == "fatou").unwrap();
    assert!(fatou.permissions.is_empty(), "nothing granted");
}
