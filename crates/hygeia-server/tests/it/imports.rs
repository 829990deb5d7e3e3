//! Imports and exports through the shared import code (`hygeia_server::imports`), with the real
//! files of `../shared/data`, on both backends.

use std::path::PathBuf;

use hygeia_core::{AccountId, OrgUnit, OrgUnitQuery, OrgUnitScope, ValidationStatus};
use hygeia_formats::features::FeatureMapping;
use hygeia_formats::{geojson, gpkg};
use hygeia_jobs::NoProgress;
use hygeia_server::exports::{export_geojson, export_gpkg};
use hygeia_server::imports::{ImportError, ImportSummary, ImportTarget, import_draft};

use axum::http::StatusCode;

use crate::support::{TestApp, multipart, post_multipart, shared, wait_until_ended};

fn target(account: AccountId, source: &str, version: Option<i64>) -> ImportTarget {
    ImportTarget {
        account,
        source_name: source.into(),
        version_number: version,
        validation_status: ValidationStatus::Valid,
        actor: None,
        audit_source: "gpkg_import".into(),
    }
}

async fn import_gpkg(app: &TestApp, target: &ImportTarget, file: &str) -> Result<ImportSummary, String> {
    let path = shared(&format!("iaso/gpkg/{file}")).expect("fixture");
    let draft = gpkg::read(&path, file).await.map_err(|e| e.to_string())?;
    import_draft(&app.store, target, &draft, &NoProgress).await.map_err(|e: ImportError| e.to_string())
}

async fn units(app: &TestApp, account: AccountId) -> Vec<OrgUnit> {
    let query = OrgUnitQuery::default();
    let mut units = app.store.org_units().list(&OrgUnitScope::whole_account(account), &query).await.unwrap().items;
    units.sort_by_key(|u| u.id);
    units
}

fn counts(summary: &ImportSummary) -> (usize, usize, usize) {
    (summary.created, summary.updated, summary.unchanged)
}

async fn iaso_geopackages_import_update_and_refuse(app: &TestApp) {
    if shared("iaso/gpkg/minimal.gpkg").is_none() {
        return;
    }
    let account = app.account("Cameroun").await;
    let first = target(account, "Cameroun GPKG", None);
    let summary = import_gpkg(app, &first, "minimal.gpkg").await.unwrap();
    assert_eq!(counts(&summary), (3, 0, 0), "{summary}");
    assert_eq!(summary.groups_created, 2);
    assert_eq!(summary.by_level, [("DS".into(), 1), ("AS".into(), 1), ("FOSA".into(), 1)]);
    let tree = units(app, account).await;
    let by_name = |name: &str| tree.iter().find(|u| u.name == name).unwrap_or_else(|| panic!("{name} in {tree:#?}"));
    let (ds, area, fosa) = (by_name("District Betare Oya"), by_name("AS Tongo Gadima"), by_name("CSI de Garga-Sarali"));
    assert_eq!(ds.parent_id, None);
    assert_eq!(area.parent_id, Some(ds.id));
    assert_eq!(fosa.parent_id, Some(area.id));
    assert!(ds.has_shape && area.has_shape && !fosa.has_shape);
    assert!(fosa.location.is_some_and(|l| (13.0..15.0).contains(&l.longitude) && (4.0..7.0).contains(&l.latitude)));
    assert_eq!(fosa.code, "ES0025");
    assert_eq!(ds.opening_date.map(|d| d.to_string()).as_deref(), Some("2020-01-01"));
    assert_eq!(ds.closed_date.map(|d| d.to_string()).as_deref(), Some("2021-12-31"));
    assert_eq!(ds.source_ref.as_deref(), Some("cdd3e94c-3c2a-4ab1-8900-be97f82347de"));
    let groups = app.store.groups().groups_of(account, &[fosa.id]).await.unwrap();
    let mut names: Vec<&str> = groups.iter().map(|(_, g)| g.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Group A", "Group B"]);

    // The same file again into version 1: nothing changes.
    let again = target(account, "Cameroun GPKG", Some(1));
    let summary = import_gpkg(app, &again, "minimal.gpkg").await.unwrap();
    assert_eq!(counts(&summary), (0, 0, 3), "{summary}");
    assert_eq!(summary.groups_created, 0);

    // The simplified file: new boundaries for the district and the area, the facility as it was,
    // and one more area without geometry or parent.
    let summary = import_gpkg(app, &again, "minimal_simplified.gpkg").await.unwrap();
    assert_eq!(counts(&summary), (1, 2, 1), "{summary}");
    let tree = units(app, account).await;
    assert_eq!(tree.len(), 4);
    let empty = tree.iter().find(|u| u.name == "empty_geom").unwrap();
    assert!(empty.parent_id.is_none() && empty.location.is_none() && !empty.has_shape);

    // Refusals name the layer, the row and the column, and write nothing.
    let before = units(app, account).await;
    let refusals = [
        ("blank_name.gpkg", "blank_name.gpkg, level-3-DS, row 1, column \"name\": the name is empty"),
        ("null_name.gpkg", "null_name.gpkg, level-3-DS, row 1, column \"name\": the name is empty"),
        ("blank_ref.gpkg", "blank_ref.gpkg, level-3-DS, row 1, column \"ref\": the ref is empty"),
        ("empty_ref.gpkg", "empty_ref.gpkg, level-3-DS, row 1, column \"ref\": the ref is empty"),
        ("null_ref.gpkg", "null_ref.gpkg, level-3-DS, row 1, column \"ref\": the ref is empty"),
        (
            "missing_column_name.gpkg",
            "missing_column_name.gpkg, level-3-DS, column \"name\": column 'name' is required but missing",
        ),
        (
            "missing_column_ref.gpkg",
            "missing_column_ref.gpkg, level-3-DS, column \"ref\": column 'ref' is required but missing",
        ),
        ("missing_ref.gpkg", "missing_ref.gpkg: the file is empty: it is not a GeoPackage"),
        (
            "minimal_simplified_group.gpkg",
            "minimal_simplified_group.gpkg, level-5-FOSA, row 1, column \"group_refs\": unknown group \"group_not_in_gpkg\"",
        ),
    ];
    for (file, expected) in refusals {
        let err = import_gpkg(app, &target(account, "Refused", None), file).await.unwrap_err();
        assert!(err.starts_with(expected), "{file}: {err}");
    }
    assert_eq!(units(app, account).await, before, "refused files wrote nothing");
    let sources = app.store.sources().sources(account).await.unwrap();
    assert!(sources.iter().all(|s| s.name != "Refused"), "no source was created for refused files");

    // Valid despite their names (see SOURCES.md): blank or missing parent_ref means a root.
    for file in ["blank_parent_ref.gpkg", "missing_column_parent_ref.gpkg", "empty_name.gpkg", "null_parent_ref.gpkg"] {
        let summary = import_gpkg(app, &target(account, file, None), file).await.unwrap();
        assert_eq!(summary.created, 3, "{file}: {summary}");
    }

    // Iaso's export format: refs in three forms, groups referenced as iaso#<id> and iaso:<id>.
    let summary = import_gpkg(app, &target(account, "BFA", None), "multiple-internal-ref-formats.gpkg").await.unwrap();
    assert_eq!(counts(&summary), (7, 0, 0), "{summary}");
    assert_eq!(summary.groups_created, 3);
    let tree = units(app, account).await;
    let old_ref = tree.iter().find(|u| u.name == "org unit - old internal ref").unwrap();
    assert_eq!(old_ref.source_ref.as_deref(), Some("iaso:178465"));
    let madouba = tree.iter().find(|u| u.name == "Madouba").unwrap();
    assert_eq!(old_ref.parent_id, Some(madouba.id));
    assert_eq!(app.store.groups().groups_of(account, &[old_ref.id]).await.unwrap().len(), 3);
}

/// Export then import: the same tree, and re-importing the export into its own version changes nothing.
async fn geopackage_exports_round_trip(app: &TestApp) {
    let Some(path) = shared("openhexa/iaso_bfa_org_units.gpkg") else { return };
    let account = app.account("Burkina").await;
    let draft = gpkg::read(&path, "iaso_bfa_org_units.gpkg").await.unwrap();
    let summary = import_draft(&app.store, &target(account, "BFA", None), &draft, &NoProgress).await.unwrap();
    assert_eq!(summary.created, 136, "{summary}");
    let version = summary.version_id;

    let dir = tempdir("round-trip");
    let out = dir.join("export.gpkg");
    let query = OrgUnitQuery { version_ids: vec![version], ..Default::default() };
    let scope = OrgUnitScope::whole_account(account);
    assert_eq!(export_gpkg(&app.store, scope.clone(), query, &out, &NoProgress).await.unwrap(), 136);

    check_with_gdal(&out, &[("level-5-Health facility/Formation sanitaire - HF", "Point", 83), ("groups", "None", 4)]);
    let exported = gpkg::read(&out, "export.gpkg").await.unwrap();
    assert_eq!(exported.level_names(), draft.level_names());
    assert_eq!(exported.groups.len(), draft.groups.len());
    let same = import_draft(&app.store, &target(account, "BFA", Some(1)), &exported, &NoProgress).await.unwrap();
    assert_eq!(counts(&same), (0, 0, 136), "{same}");

    let copy = import_draft(&app.store, &target(account, "BFA copy", None), &exported, &NoProgress).await.unwrap();
    assert_eq!(copy.created, 136);
    let shape = |units: &[OrgUnit]| {
        let mut rows: Vec<(String, Option<String>, String, bool, Option<(i64, i64)>)> = units
            .iter()
            .map(|u| {
                let parent =
                    u.parent_id.and_then(|p| units.iter().find(|x| x.id == p)).and_then(|p| p.source_ref.clone());
                let at = u.location.map(|l| ((l.longitude * 1e6).round() as i64, (l.latitude * 1e6).round() as i64));
                (u.source_ref.clone().unwrap_or_default(), parent, u.name.clone(), u.has_shape, at)
            })
            .collect();
        rows.sort();
        rows
    };
    let all = units(app, account).await;
    let original: Vec<OrgUnit> = all.iter().filter(|u| u.version_id == version).cloned().collect();
    let copied: Vec<OrgUnit> = all.iter().filter(|u| u.version_id == copy.version_id).cloned().collect();
    assert_eq!(shape(&original), shape(&copied));
    let (a, b) = (original.iter().find(|u| u.has_shape).unwrap(), copied.iter().find(|u| u.has_shape).unwrap());
    let wkb = |id| async move { app.store.org_units().shapes_wkb(account, &[id], false).await.unwrap() };
    let (wa, wb) = (wkb(a.id).await, wkb(b.id).await);
    assert_eq!(wa[0].1, wb[0].1, "boundaries survive the round trip byte for byte");
    std::fs::remove_dir_all(dir).unwrap();
}

/// GDAL (`ogrinfo`) must open the file and see the layers with their geometry types and counts.
/// Skipped when GDAL is missing, unless `HYGEIA_TEST_REQUIRE_GDAL` is set (as CI does).
fn check_with_gdal(path: &std::path::Path, layers: &[(&str, &str, usize)]) {
    let output = match std::process::Command::new("ogrinfo").arg("-al").arg("-so").arg(path).output() {
        Ok(output) => output,
        Err(_) if std::env::var_os("HYGEIA_TEST_REQUIRE_GDAL").is_none() => {
            eprintln!("ogrinfo is missing: the GDAL check was skipped (apt-get install gdal-bin)");
            return;
        }
        Err(err) => panic!("ogrinfo is required (HYGEIA_TEST_REQUIRE_GDAL): {err}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ogrinfo failed: {stderr}");
    assert!(!stderr.contains("ERROR") && !stderr.contains("Warning"), "ogrinfo complained: {stderr}");
    for (name, geometry, count) in layers {
        let block = stdout
            .split("Layer name: ")
            .find(|b| b.starts_with(&format!("{name}\n")))
            .unwrap_or_else(|| panic!("no layer {name} in {stdout}"));
        assert!(block.contains(&format!("Geometry: {geometry}\n")), "{name}: {block}");
        assert!(block.contains(&format!("Feature Count: {count}\n")), "{name}: {block}");
    }
}

fn naomi() -> FeatureMapping {
    FeatureMapping {
        id: "area_id".into(),
        parent: "parent_area_id".into(),
        name: "area_name".into(),
        type_name: "area_level_label".into(),
        level: "area_level".into(),
        ..Default::default()
    }
}

/// Two versions of the Malawi areas: the older file (down to districts), then the newer one into
/// the same version (32 areas added below the districts), then out as GeoJSON and back.
async fn geojson_versions_update_and_round_trip(app: &TestApp) {
    let (Some(v1), Some(v2)) = (
        shared("boundaries/malawi_naomi/demo_areas_district28.geojson"),
        shared("boundaries/malawi_naomi/demo_areas.geojson"),
    ) else {
        return;
    };
    let account = app.account("Malawi").await;
    let read = |path: &PathBuf| geojson::read(&std::fs::read(path).unwrap(), "areas.geojson", &naomi()).unwrap();
    let first = import_draft(&app.store, &target(account, "naomi", None), &read(&v1), &NoProgress).await.unwrap();
    assert_eq!(counts(&first), (37, 0, 0), "{first}");
    let second = import_draft(&app.store, &target(account, "naomi", Some(1)), &read(&v2), &NoProgress).await.unwrap();
    assert_eq!((second.created, second.updated + second.unchanged), (32, 37), "{second}");
    assert_eq!(second.by_level, [("District + Metro".into(), 32)]);
    let tree = units(app, account).await;
    let lilongwe = tree.iter().find(|u| u.source_ref.as_deref() == Some("MWI_4_15_demo")).expect("a level-4 area");
    let parent = tree.iter().find(|u| Some(u.id) == lilongwe.parent_id).unwrap();
    assert_eq!(parent.source_ref.as_deref(), Some("MWI_3_13_demo"));

    let mut bytes = Vec::new();
    let query = OrgUnitQuery { version_ids: vec![first.version_id], ..Default::default() };
    let scope = OrgUnitScope::whole_account(account);
    assert_eq!(export_geojson(&app.store, scope, query, &mut bytes, &NoProgress).await.unwrap(), 69);
    let exported = geojson::read(&bytes, "export.geojson", &FeatureMapping::hygeia_export()).unwrap();
    assert_eq!(exported.counts_by_level(), [1, 3, 5, 28, 32]);
    let same = import_draft(&app.store, &target(account, "naomi", Some(1)), &exported, &NoProgress).await.unwrap();
    assert_eq!(counts(&same), (0, 0, 69), "{same}");
}

/// The list's exports: the same filters as the list, Iaso's columns, and the caller's subtree only.
async fn list_exports_follow_the_filters_and_the_scope(app: &TestApp) {
    let Some(path) = shared("openhexa/iaso_bfa_org_units.gpkg") else { return };
    let account = app.account("Burkina").await;
    let draft = gpkg::read(&path, "iaso_bfa_org_units.gpkg").await.unwrap();
    let summary = import_draft(&app.store, &target(account, "BFA", None), &draft, &NoProgress).await.unwrap();
    let tree = units(app, account).await;
    let nouna = tree.iter().find(|u| u.name == "DS Nouna").unwrap();
    let facility_type = tree.iter().find(|u| u.name == "CSPS Madouba").unwrap().org_unit_type_id.unwrap();
    app.user(account, "admin", |u| u.is_superuser = true).await;
    app.user(account, "nouna", |u| {
        u.permissions = vec!["iaso_org_units_read".into()];
        u.org_units = vec![nouna.id.0];
    })
    .await;
    let (admin, restricted) = (app.token("admin").await, app.token("nouna").await);

    let version = summary.version_id.0;
    let reply =
        app.get(&format!("/api/orgunits/?csv=true&version={version}&validation_status=all"), Some(&admin)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("text/csv; charset=utf-8"));
    let disposition = reply.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"hygeia-Burkina-org_units-") && disposition.ends_with(".csv\"")
    );
    let mut csv = csv::Reader::from_reader(reply.bytes.as_slice());
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(&header[..4], ["ID", "Nom", "Type", "Latitude"]);
    assert_eq!(header[12], "Référence externe");
    assert_eq!(
        &header[13..21],
        [
            "parent 1",
            "parent 2",
            "parent 3",
            "parent 4",
            "Ref Ext parent 1",
            "Ref Ext parent 2",
            "Ref Ext parent 3",
            "Ref Ext parent 4"
        ]
    );
    assert_eq!(header.len(), 22 + 4, "one column per group: {header:?}");
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 136);
    let madouba = rows.iter().find(|r| &r[1] == "CSPS Madouba").unwrap();
    assert_eq!(&madouba[12], "O8KHatHm4dw");
    assert_eq!((&madouba[13], &madouba[14], &madouba[16]), ("Madouba", "DS Nouna", "Burkina Faso"));
    assert_eq!(&madouba[17], "cfke3S7Q8Vo");
    assert_eq!(&madouba[11], "VALID");
    assert_eq!(&madouba[10], "BFA");

    // The list's filters apply: one type.
    let filtered = app
        .get(&format!("/api/orgunits/?csv=true&version={version}&orgUnitTypeId={}", facility_type.0), Some(&admin))
        .await;
    assert_eq!(csv::Reader::from_reader(filtered.bytes.as_slice()).records().count(), 83);

    // A user limited to one district exports that district only, in every format.
    let scoped = app.get(&format!("/api/orgunits/?csv=true&version={version}"), Some(&restricted)).await;
    let names: Vec<String> =
        csv::Reader::from_reader(scoped.bytes.as_slice()).records().map(|r| r.unwrap()[1].to_owned()).collect();
    let in_nouna = tree.iter().filter(|u| u.path.is_within(&nouna.path)).count();
    assert_eq!(names.len(), in_nouna);
    assert!(names.contains(&"CSPS Madouba".to_owned()) && !names.contains(&"Burkina Faso".to_owned()));

    let xlsx = app.get(&format!("/api/orgunits/?xlsx=true&version={version}"), Some(&restricted)).await;
    assert_eq!(xlsx.status, StatusCode::OK, "{}", xlsx.text());
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.bytes.clone())).unwrap();
    use calamine::Reader;
    let sheet = workbook.worksheet_range("Org units").unwrap();
    assert_eq!(sheet.height(), in_nouna + 1);
    assert_eq!(sheet.get((0, 1)).unwrap().to_string(), "Nom");

    let gpkg_reply = app.get(&format!("/api/orgunits/?gpkg=true&version={version}"), Some(&restricted)).await;
    assert_eq!(gpkg_reply.status, StatusCode::OK, "{}", gpkg_reply.text());
    let dir = tempdir("list-gpkg");
    std::fs::write(dir.join("scoped.gpkg"), &gpkg_reply.bytes).unwrap();
    let exported = gpkg::read(&dir.join("scoped.gpkg"), "scoped.gpkg").await.unwrap();
    assert_eq!(exported.nodes.len(), in_nouna);
    std::fs::remove_dir_all(dir).unwrap();

    app.get("/api/orgunits/?csv=true", None).await.error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

/// Uploads queued as tasks: Iaso's GeoPackage form and the CSV form, run by a worker with progress;
/// a refused file ends the task in error and writes nothing.
async fn uploads_import_as_tasks(app: &TestApp) {
    let (Some(minimal), Some(blank)) = (shared("iaso/gpkg/minimal.gpkg"), shared("iaso/gpkg/blank_name.gpkg")) else {
        return;
    };
    let account = app.account("Cameroun").await;
    app.user(account, "manager", |u| u.permissions = vec!["iaso_sources".into(), "iaso_write_sources".into()]).await;
    app.user(account, "reader", |u| u.permissions = vec!["iaso_org_units_read".into()]).await;
    let (token, reader) = (app.token("manager").await, app.token("reader").await);
    let source = app
        .store
        .sources()
        .create_source(account, hygeia_core::DataSourceInput { name: "Cameroun GPKG".into(), ..Default::default() })
        .await
        .unwrap();
    let bytes = std::fs::read(&minimal).unwrap();
    let source_id = source.id.0.to_string();
    let form = |file: &[u8]| {
        multipart(&[("data_source", &source_id), ("default_valid", "true")], Some(("minimal.gpkg", file)))
    };

    let refused = post_multipart(app, "/api/tasks/create/importgpkg/", &reader, form(&bytes)).await;
    refused.error(StatusCode::FORBIDDEN, "permission_denied");
    let no_file =
        post_multipart(app, "/api/tasks/create/importgpkg/", &token, multipart(&[("data_source", &source_id)], None))
            .await;
    no_file.error(StatusCode::BAD_REQUEST, "validation_error");

    let registry = hygeia_server::tasks::registry(app.state.clone());
    let config = hygeia_jobs::WorkerConfig {
        workers: 1,
        poll_interval: std::time::Duration::from_millis(50),
        ..Default::default()
    };
    let pool = hygeia_jobs::WorkerPool::start(app.store.clone(), registry, config);

    let created = post_multipart(app, "/api/tasks/create/importgpkg/", &token, form(&bytes)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let task = &created.json()["task"];
    assert_eq!(task["name"], "import_gpkg_task");
    let done = wait_until_ended(app, &token, task["id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(done["result"]["data"]["created"], 3, "{done}");
    assert_eq!(done["progress_value"], done["end_value"]);
    let tree = units(app, account).await;
    assert_eq!(tree.len(), 3);
    assert!(tree.iter().all(|u| u.validation_status == ValidationStatus::Valid && u.creator_id.is_some()));

    // A refused file: the task ends in error, naming the row; nothing is written.
    let bad = std::fs::read(&blank).unwrap();
    let created = post_multipart(app, "/api/tasks/create/importgpkg/", &token, form(&bad)).await;
    let done = wait_until_ended(app, &token, created.json()["task"]["id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "ERRORED", "{done}");
    let message = done["result"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("level-3-DS, row 1, column \"name\": the name is empty"), "{done}");
    assert_eq!(units(app, account).await.len(), 3);

    // A CSV with its data dictionary, into a new source named in the form.
    let csv = "Province;District;School;Lat;Lon\nKongo;Boma;EP 1;-5.8;13.0\nKongo;Boma;EP 2;-5.9;13.1\n";
    let dict = r#"{"name": "School", "parents": ["Province", "District"], "latitude": "Lat", "longitude": "Lon"}"#;
    let fields = [("format", "csv"), ("source_name", "Schools"), ("data_dict", dict), ("leaf_type", "School")];
    let wrong_dict = [("format", "csv"), ("source_name", "Schools"), ("data_dict", r#"{"nom": "School"}"#)];
    let refused = post_multipart(
        app,
        "/api/tasks/create/importfile/",
        &token,
        multipart(&wrong_dict, Some(("s.csv", csv.as_bytes()))),
    )
    .await;
    let body = refused.error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(body.to_string().contains("unknown field `nom`"), "{body}");
    let created = post_multipart(
        app,
        "/api/tasks/create/importfile/",
        &token,
        multipart(&fields, Some(("s.csv", csv.as_bytes()))),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let done = wait_until_ended(app, &token, created.json()["task"]["id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(done["result"]["data"]["created"], 4, "{done}");
    let schools = units(app, account).await.into_iter().filter(|u| u.name.starts_with("EP")).count();
    assert_eq!(schools, 2);

    // A zipped Shapefile (the Malawi areas) with its property mapping.
    if let Some(shp) = shared("boundaries/malawi_naomi/shp/mwi_demo_areas.shp") {
        use std::io::Write;
        let mut zipped = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
            zipped.start_file(format!("mwi_demo_areas.{ext}"), zip::write::SimpleFileOptions::default()).unwrap();
            zipped.write_all(&std::fs::read(shp.with_extension(ext)).unwrap()).unwrap();
        }
        let bytes = zipped.finish().unwrap().into_inner();
        let mapping = r#"{"id": "area_id", "parent": "parent_area_id", "name": "area_name", "type": "area_lev_1", "level": "area_level"}"#;
        let fields = [("format", "shp"), ("source_name", "Malawi"), ("mapping", mapping)];
        let created =
            post_multipart(app, "/api/tasks/create/importfile/", &token, multipart(&fields, Some(("mwi.zip", &bytes))))
                .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        let done = wait_until_ended(app, &token, created.json()["task"]["id"].as_i64().unwrap()).await;
        assert_eq!(done["status"], "SUCCESS", "{done}");
        assert_eq!(done["result"]["data"]["created"], 69, "{done}");
        // Not a zip: the task names the file and writes nothing.
        let before = units(app, account).await.len();
        let created = post_multipart(
            app,
            "/api/tasks/create/importfile/",
            &token,
            multipart(&fields, Some(("mwi.zip", b"not a zip".as_slice()))),
        )
        .await;
        let done = wait_until_ended(app, &token, created.json()["task"]["id"].as_i64().unwrap()).await;
        assert_eq!(done["status"], "ERRORED", "{done}");
        assert!(done["result"]["message"].as_str().unwrap_or_default().contains("mwi.zip"), "{done}");
        assert_eq!(units(app, account).await.len(), before);
    }
    pool.shutdown().await;
}

/// Exports queued as tasks: the list's filters and the launcher's subtree apply, the worker reports
/// progress, and the file is downloaded from the task by those who may see it.
async fn exports_run_as_tasks(app: &TestApp) {
    let Some(path) = shared("openhexa/iaso_bfa_org_units.gpkg") else { return };
    let account = app.account("Burkina").await;
    let draft = gpkg::read(&path, "iaso_bfa_org_units.gpkg").await.unwrap();
    let summary = import_draft(&app.store, &target(account, "BFA", None), &draft, &NoProgress).await.unwrap();
    let tree = units(app, account).await;
    let nouna = tree.iter().find(|u| u.name == "DS Nouna").unwrap();
    let facility_type = tree.iter().find(|u| u.name == "CSPS Madouba").unwrap().org_unit_type_id.unwrap();
    app.user(account, "admin", |u| u.is_superuser = true).await;
    app.user(account, "nouna", |u| {
        u.permissions = vec!["iaso_org_units_read".into()];
        u.org_units = vec![nouna.id.0];
    })
    .await;
    let other = app.account("Other").await;
    app.user(other, "stranger", |u| u.is_superuser = true).await;
    let (admin, restricted, stranger) =
        (app.token("admin").await, app.token("nouna").await, app.token("stranger").await);
    let version = summary.version_id.0;

    let refused =
        app.send(json_post("/api/tasks/create/exportorgunits/", &admin, serde_json::json!({ "format": "pdf" }))).await;
    let body = refused.error(StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(body["fields"]["format"][0], "\"pdf\" is not one of csv, xlsx, gpkg, geojson.", "{body}");
    let bad_filter = serde_json::json!({ "format": "csv", "filters": { "validation_status": "MAYBE" } });
    let refused = app.send(json_post("/api/tasks/create/exportorgunits/", &admin, bad_filter)).await;
    refused.error(StatusCode::BAD_REQUEST, "validation_error");

    let registry = hygeia_server::tasks::registry(app.state.clone());
    let config = hygeia_jobs::WorkerConfig {
        workers: 1,
        poll_interval: std::time::Duration::from_millis(50),
        ..Default::default()
    };
    let pool = hygeia_jobs::WorkerPool::start(app.store.clone(), registry, config);

    // The admin's CSV of one type.
    let filters = serde_json::json!({ "version": version, "orgUnitTypeId": facility_type.0 });
    let body = serde_json::json!({ "format": "csv", "filters": filters });
    let created = app.send(json_post("/api/tasks/create/exportorgunits/", &admin, body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.json()["task"]["name"], "export_org_units");
    let id = created.json()["task"]["id"].as_i64().unwrap();
    let done = wait_until_ended(app, &admin, id).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(done["result"]["message"], "83 org units exported as CSV", "{done}");
    assert_eq!((done["progress_value"].as_i64(), done["end_value"].as_i64()), (Some(83), Some(83)), "{done}");
    let file = app.get(&format!("/api/tasks/{id}/download/"), Some(&admin)).await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.text());
    assert_eq!(file.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(csv::Reader::from_reader(file.bytes.as_slice()).records().count(), 83);
    // Another account's user does not see the task or its file.
    assert_eq!(app.get(&format!("/api/tasks/{id}/download/"), Some(&stranger)).await.status, StatusCode::NOT_FOUND);

    // The district user's GeoPackage: their district only, whatever the filters ask.
    let body = serde_json::json!({ "format": "gpkg", "filters": { "version": version.to_string() } });
    let created = app.send(json_post("/api/tasks/create/exportorgunits/", &restricted, body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let id = created.json()["task"]["id"].as_i64().unwrap();
    let done = wait_until_ended(app, &restricted, id).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    let file = app.get(&format!("/api/tasks/{id}/download/"), Some(&restricted)).await;
    assert_eq!(file.header("content-type"), Some("application/geopackage+sqlite3"));
    let dir = tempdir("task-gpkg");
    std::fs::write(dir.join("district.gpkg"), &file.bytes).unwrap();
    let exported = gpkg::read(&dir.join("district.gpkg"), "district.gpkg").await.unwrap();
    let in_nouna = tree.iter().filter(|u| u.path.is_within(&nouna.path)).count();
    assert_eq!(exported.nodes.len(), in_nouna);
    assert!(exported.nodes.iter().all(|n| n.name != "Burkina Faso"));
    std::fs::remove_dir_all(dir).unwrap();
    pool.shutdown().await;
}

fn json_post(path: &str, token: &str, body: serde_json::Value) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap()
}

fn tempdir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("hygeia-{name}-{}-{:?}", std::process::id(), std::thread::current().id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

crate::on_both_backends!(
    iaso_geopackages_import_update_and_refuse,
    geopackage_exports_round_trip,
    geojson_versions_update_and_round_trip,
    list_exports_follow_the_filters_and_the_scope,
    uploads_import_as_tasks,
    exports_run_as_tasks
);
