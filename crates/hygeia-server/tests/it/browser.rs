//! The dashboard in a real browser: headless Debian Chromium driven by playwright-core
//! (`web/tests/dashboard.mjs`) against a server on 127.0.0.1, on both backends. Screenshots of
//! every step go to `target/tmp/browser-screenshots/` (`{backend}-{scenario}-{step}.png`). Without Chromium the tests say so and
//! pass, unless `HYGEIA_TEST_REQUIRE_BROWSER` is set (CI sets it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use hygeia_core::{OrgUnitId, OrgUnitScope};
use serde_json::{Value, json};

use crate::georegistry::{ok, setup_account};
use crate::on_both_backends;
use crate::support::{PASSWORD, TestApp, send_json, shared};

on_both_backends!(
    the_dashboard_browses_filters_and_edits_in_a_browser,
    a_restricted_user_sees_only_their_district,
    a_geopackage_imported_in_the_browser_is_followed_to_its_end,
    an_xlsform_is_refused_where_it_fails_then_published_in_the_browser,
    a_form_filled_in_the_browser_arrives_through_openrosa,
);

fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var("HYGEIA_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("HYGEIA_TEST_REQUIRE_BROWSER").is_none(),
        "HYGEIA_TEST_REQUIRE_BROWSER is set but there is no Chromium at {} (apt-get install chromium)",
        path.display()
    );
    eprintln!("skipped: no Chromium at {} (apt-get install chromium)", path.display());
    None
}

/// Serves the test application on 127.0.0.1; the server stops with the test's runtime.
async fn serve(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = app.app.clone().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    format!("http://{address}")
}

/// Runs the browser script on `case`; returns what it printed.
async fn drive(chromium: &Path, base: &str, prefix: &str, mut case: Value) -> Value {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    case["base"] = json!(base);
    case["chromium"] = json!(chromium);
    case["shots"] = json!(shots);
    case["prefix"] = json!(prefix);
    case["password"] = json!(PASSWORD);
    let run = tokio::process::Command::new("node")
        .arg(web.join("tests/dashboard.mjs"))
        .current_dir(&web)
        .env("HYGEIA_BROWSER_CASE", case.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser script finishes within two minutes")
        .expect("node starts (Node.js 20+ is needed, as for the build)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser script failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("the script prints JSON")
}

struct Tree {
    country: i64,
    regions: Vec<i64>,
    districts: Vec<i64>,
    facilities: Vec<i64>,
}

/// A square of `half` degrees around (lon, lat), as GeoJSON.
fn square(lon: f64, lat: f64, half: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[
        [lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half], [lon - half, lat - half]
    ]]})
}

/// A country with a boundary, two regions with boundaries, two districts in each (no geography),
/// and three health facilities with locations in each district: all VALID.
async fn seed(app: &TestApp, token: &str) -> Tree {
    let create = |body: Value| async move {
        ok(send_json(app, Method::POST, "/api/orgunits/create_org_unit/", token, body).await, StatusCode::OK)["id"]
            .as_i64()
            .unwrap()
    };
    let country =
        create(json!({"name": "Burkina Faso", "validation_status": "VALID", "geo_json": square(-1.5, 12.0, 3.0)}))
            .await;
    let mut tree = Tree { country, regions: vec![], districts: vec![], facilities: vec![] };
    for (r, region_name) in ["Boucle du Mouhoun", "Centre"].iter().enumerate() {
        let (lon, lat) = (-3.0 + 2.5 * r as f64, 12.0);
        let region = create(json!({"name": region_name, "parent_id": country, "validation_status": "VALID",
                                    "geo_json": square(lon, lat, 1.0)}))
        .await;
        tree.regions.push(region);
        for d in 0..2 {
            let district = create(json!({"name": format!("DS {region_name} {}", d + 1), "parent_id": region,
                                          "validation_status": "VALID"}))
            .await;
            tree.districts.push(district);
            for f in 0..3 {
                let facility = create(json!({"name": format!("CSPS {region_name} {}-{}", d + 1, f + 1),
                    "parent_id": district, "validation_status": "VALID",
                    "latitude": lat - 0.5 + 0.3 * d as f64, "longitude": lon - 0.5 + 0.3 * f as f64}))
                .await;
                tree.facilities.push(facility);
            }
        }
    }
    tree
}

async fn the_dashboard_browses_filters_and_edits_in_a_browser(app: &TestApp) {
    let Some(chromium) = chromium() else { return };
    let (account, token, _) = setup_account(app).await;
    let tree = seed(app, &token).await;
    let base = serve(app).await;
    let unit = tree.facilities[1];
    let scope = OrgUnitScope::whole_account(account);
    let before = app.store.org_units().get(&scope, OrgUnitId(unit)).await.unwrap().unwrap();
    let shape_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-shape.geojson", app.store.backend()));
    let (lon, lat) = (before.location.unwrap().longitude, before.location.unwrap().latitude);
    std::fs::write(
        &shape_file,
        json!({"type": "Feature", "properties": {}, "geometry": square(lon, lat, 0.05)}).to_string(),
    )
    .unwrap();
    let seen = drive(
        &chromium,
        &base,
        &format!("{}-editor", app.store.backend()),
        json!({
            "scenario": "editor",
            "username": "admin",
            "country": "Burkina Faso",
            "region": "Boucle du Mouhoun",
            "region_id": tree.regions[0],
            "region_count": 1 + 2 + 6,
            "region_mapped": 1 + 6,
            "search": "CSPS",
            "search_count": 6,
            "unit": unit,
            "location_saved": "Location saved.",
            "shape_file": shape_file,
            "shape_saved": "Shape saved.",
            "new_name": "CSPS renamed in the browser",
        }),
    )
    .await;
    let after = app.store.org_units().get(&scope, OrgUnitId(unit)).await.unwrap().unwrap();
    assert_eq!(after.name, "CSPS renamed in the browser");
    assert!(after.has_shape && !before.has_shape, "the uploaded boundary is stored");
    let (old, new) = (before.location.unwrap(), after.location.expect("still located"));
    assert!(
        (new.longitude - old.longitude).abs() > 1e-4 && (new.latitude - old.latitude).abs() > 1e-4,
        "the drag moved the point: {old:?} -> {new:?}"
    );
    assert!(new.longitude > old.longitude && new.latitude < old.latitude, "right and down on the map: east and south");
    assert_eq!(
        seen["location"],
        format!("{:.6}, {:.6}", new.latitude, new.longitude),
        "the page shows what was stored"
    );
    assert_eq!(seen["refusal"], "parent_id: \"not-a-number\" is not a number.");
    let history = app.store.org_units().history(account, "iaso.orgunit", &unit.to_string()).await.unwrap();
    assert!(history.len() >= 3, "created, moved, renamed: {}", history.len());
}

async fn a_restricted_user_sees_only_their_district(app: &TestApp) {
    let Some(chromium) = chromium() else { return };
    let (account, token, _) = setup_account(app).await;
    let tree = seed(app, &token).await;
    let district = tree.districts[2];
    app.user(account, "district-manager", |u| {
        u.permissions = vec!["iaso_org_units".into(), "iaso_submissions".into()];
        u.org_units = vec![district];
    })
    .await;
    // One submission in the district, one outside it.
    let project = app.project(account, "Visits", "visits.app").await;
    let form = app.store.forms().create(account, hygeia_core::FormInput::new("Visit", vec![project])).await.unwrap().id;
    let mut submissions = Vec::new();
    for (n, unit) in [tree.facilities[7], tree.facilities[0]].into_iter().enumerate() {
        let uuid = format!("3f0c9a4e-0000-4000-8000-00000000000{n}");
        let received = hygeia_core::ReceivedXml {
            uuid: uuid.clone(),
            replaces: None,
            file_name: format!("{uuid}.xml"),
            form_id: form,
            form_version_id: None,
            project_id: None,
            file_key: format!("accounts/{}/submissions/{uuid}.xml", account.0),
            xml_md5: format!("md5-{n}"),
            json: json!({"visitor": "Awa"}),
            answers: json!({"visitor": "Awa"}),
            name: None,
            latitude: None,
            longitude: None,
            altitude: None,
            accuracy: None,
            device_id: None,
            org_unit_id: Some(OrgUnitId(unit)),
            period: None,
            created_by: None,
            payload_id: None,
        };
        match app.store.submissions().record_xml(account, received).await.unwrap() {
            hygeia_core::XmlOutcome::Created(s) => submissions.push(s.id.0),
            other => panic!("{other:?}"),
        }
    }
    let base = serve(app).await;
    drive(
        &chromium,
        &base,
        &format!("{}-restricted", app.store.backend()),
        json!({
            "scenario": "restricted",
            "username": "district-manager",
            "district": "DS Centre 1",
            "district_count": 1 + 3,
            "district_mapped": 3,
            "outside": tree.facilities[0],
            "outside_name": "CSPS Boucle du Mouhoun 1-1",
            "country_id": tree.country,
            "inside_submission": submissions[0],
            "outside_submission": submissions[1],
        }),
    )
    .await;
}

async fn a_geopackage_imported_in_the_browser_is_followed_to_its_end(app: &TestApp) {
    let Some(chromium) = chromium() else { return };
    let Some(gpkg) = shared("openhexa/iaso_bfa_org_units.gpkg") else { return };
    let (account, _, _) = setup_account(app).await;
    let registry = hygeia_server::tasks::registry(app.state.clone());
    let config =
        hygeia_jobs::WorkerConfig { workers: 1, poll_interval: Duration::from_millis(100), ..Default::default() };
    let pool = hygeia_jobs::WorkerPool::start(app.store.clone(), registry, config);
    let base = serve(app).await;
    let expected = hygeia_formats::gpkg::read(&gpkg, "bfa.gpkg").await.unwrap().nodes.len();
    let seen = drive(
        &chromium,
        &base,
        &format!("{}-import", app.store.backend()),
        json!({
            "scenario": "import",
            "username": "admin",
            "gpkg": gpkg,
            "source_name": "BFA from the browser",
            "expected_units": expected,
        }),
    )
    .await;
    pool.shutdown().await;
    assert!(seen["outcome"].as_str().is_some_and(|o| !o.is_empty()), "{seen}");
    let source = app.store.sources().sources(account).await.unwrap();
    let imported = source.iter().find(|s| s.name == "BFA from the browser").expect("the new source");
    let version = app.store.sources().versions(account, Some(imported.id)).await.unwrap();
    assert_eq!(version.len(), 1);
    let query =
        hygeia_core::OrgUnitQuery { version_ids: vec![version[0].id], page: Some((0, 0)), ..Default::default() };
    let count = app.store.org_units().list(&OrgUnitScope::whole_account(account), &query).await.unwrap().count;
    assert_eq!(count as usize, expected);
    assert!(expected > 100, "the real pyramid: {expected} units");
}

async fn an_xlsform_is_refused_where_it_fails_then_published_in_the_browser(app: &TestApp) {
    let Some(chromium) = chromium() else { return };
    let (Some(good), Some(broken)) =
        (shared("xlsform-corpus/iaso_form_1.xlsx"), shared("xlsform-corpus/iaso_child_registration.xlsx"))
    else {
        return;
    };
    let (account, _, _) = setup_account(app).await;
    app.project(account, "Child health", "child.health").await;
    let base = serve(app).await;
    let seen = drive(
        &chromium,
        &base,
        &format!("{}-forms", app.store.backend()),
        json!({"scenario": "forms", "username": "admin", "form_name": "Form one", "good": good, "broken": broken}),
    )
    .await;
    assert_eq!(seen["refused_sheet"], "survey");
    let versions = app.store.forms().versions(account, None).await.unwrap();
    assert_eq!(versions.len(), 1, "the refused upload left nothing");
    assert!(seen["published"].as_str().unwrap().ends_with(&versions[0].version_id), "{seen}");
    assert_eq!(seen["questions"], versions[0].possible_fields.len());
}

/// A two-question XLSForm, written here (the corpus's forms have dozens of required questions).
fn tiny_xlsform() -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let survey = workbook.add_worksheet().set_name("survey").unwrap();
    for (row, cells) in
        [["type", "name", "label"], ["text", "visitor", "Your name"], ["integer", "age", "Your age"]].iter().enumerate()
    {
        for (column, text) in cells.iter().enumerate() {
            survey.write_string(row as u32, column as u16, *text).unwrap();
        }
    }
    let settings = workbook.add_worksheet().set_name("settings").unwrap();
    for (column, (key, value)) in [("form_id", "browser_visit"), ("version", "2026120301")].iter().enumerate() {
        settings.write_string(0, column as u16, *key).unwrap();
        settings.write_string(1, column as u16, *value).unwrap();
    }
    workbook.save_to_buffer().unwrap()
}

async fn a_form_filled_in_the_browser_arrives_through_openrosa(app: &TestApp) {
    let Some(chromium) = chromium() else { return };
    let (account, _, _) = setup_account(app).await;
    app.project(account, "Visits", "visits.app").await;
    let xlsform = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-visit.xlsx", app.store.backend()));
    std::fs::write(&xlsform, tiny_xlsform()).unwrap();
    let base = serve(app).await;
    let seen = drive(
        &chromium,
        &base,
        &format!("{}-fill", app.store.backend()),
        json!({"scenario": "fill", "username": "admin", "form_name": "Visit", "xlsform": xlsform,
               "answer": "Aminata Ouédraogo", "age": 34}),
    )
    .await;
    assert_eq!(seen["count"], "1", "{seen}");
    let answers = seen["answers"].as_str().unwrap();
    assert!(answers.contains("Your name visitor Aminata Ouédraogo Your age age 34"), "in the form's order: {answers}");
    let versions = app.store.forms().versions(account, None).await.unwrap();
    assert_eq!(versions.len(), 1, "the version uploaded on the form's page");
    let query = hygeia_core::SubmissionQuery::default();
    let stored = app.store.submissions().list(&OrgUnitScope::whole_account(account), &query).await.unwrap();
    assert_eq!(stored.count, 1);
    let submission = &stored.items[0].0;
    assert_eq!(submission.json.as_ref().unwrap()["visitor"], "Aminata Ouédraogo");
    assert_eq!(submission.form_version_id, Some(versions[0].id));
    assert_eq!(submission.created_by, app.store.users().list(account).await.unwrap()[0].user_id.into());
}
