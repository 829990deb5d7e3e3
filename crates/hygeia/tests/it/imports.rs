//! `hygeia import csv` end to end: the DRC schools with Iaso's data dictionary, and a file refused
//! on its last row that changes nothing. SQLite, and PostgreSQL when configured.

use std::path::{Path, PathBuf};

use hygeia_core::{OrgUnitQuery, OrgUnitScope, ValidationStatus};

use crate::{hygeia, ok, on_postgres, run, scratch_dir};

fn shared(relative: &str) -> Option<PathBuf> {
    let root = std::env::var("HYGEIA_TEST_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")));
    Some(root.join(relative)).filter(|p| p.exists())
}

fn unit_count(dir: &Path, database_url: Option<&str>) -> (u64, usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = database_url.map(str::to_owned).unwrap_or_else(|| format!("sqlite://{}/data/hygeia.db", dir.display()));
    runtime.block_on(async {
        let store = hygeia_server::backend::connect(&url).await.unwrap();
        let account = store.accounts().find_by_name("DRC").await.unwrap().unwrap().id;
        let query = OrgUnitQuery { validation_statuses: vec![ValidationStatus::Valid], ..Default::default() };
        let count = store.org_units().list(&OrgUnitScope::whole_account(account), &query).await.unwrap().count;
        let versions = store.sources().versions(account, None).await.unwrap().len();
        store.close().await;
        (count, versions)
    })
}

fn csv_imports(dir: &Path, database_url: Option<&str>) {
    ok(&run(hygeia(dir, database_url).arg("migrate"), None));
    ok(&run(hygeia(dir, database_url).args(["create-account", "DRC"]), None));
    let import = |file: &Path, dict: &Path| {
        let mut command = hygeia(dir, database_url);
        command.args(["import", "csv"]).arg(file).args(["--account", "DRC", "--source", "wb_schools_2019"]);
        command.arg("--data-dict").arg(dict).args(["--leaf-type", "School"]);
        run(&mut command, None)
    };

    // A file that fails on its last row: refused with the row and column, nothing written.
    let dict = dir.join("dict.json");
    std::fs::write(
        &dict,
        r#"{"name": "School", "parents": ["Province", "District"], "latitude": "Lat", "longitude": "Lon"}"#,
    )
    .unwrap();
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "Province;District;School;Lat;Lon\nKongo;Boma;EP 1;-5.8;13.0\nKongo;Boma;EP 2;-5.9;north\n")
        .unwrap();
    let refused = import(&bad, &dict);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("bad.csv, row 3, column \"Lon\": \"north\" is not a number"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(unit_count(dir, database_url), (0, 0), "no unit and no version");

    let good = dir.join("good.csv");
    std::fs::write(&good, "Province;District;School;Lat;Lon\nKongo;Boma;EP 1;-5.8;13.0\nKongo;Boma;EP 1;;\n").unwrap();
    let out = ok(&import(&good, &dict));
    assert!(out.contains("version 1: created 4, updated 0, unchanged 0, refused 0 org units"), "{out}");
    assert!(out.contains("(created by level: 1 Province, 1 District, 2 School)"), "{out}");
    // The same file into the same version: every unit matched (the duplicate names in order).
    let mut again = hygeia(dir, database_url);
    again.args(["import", "csv"]).arg(&good).args([
        "--account",
        "DRC",
        "--source",
        "wb_schools_2019",
        "--version",
        "1",
    ]);
    again.arg("--data-dict").arg(&dict).args(["--leaf-type", "School"]);
    let out = ok(&run(&mut again, None));
    assert!(out.contains("version 1: created 0, updated 0, unchanged 4"), "{out}");

    let (Some(schools), Some(data_dict)) =
        (shared("iaso/testdata/schools.csv"), shared("iaso/testdata/data_dict.json"))
    else {
        eprintln!("shared data missing: the DRC schools import was skipped (set HYGEIA_TEST_SHARED_DATA)");
        return;
    };
    let out = ok(&import(&schools, &data_dict));
    assert!(out.contains("version 2: created 6687, updated 0, unchanged 0"), "{out}");
    assert!(out.contains("(created by level: 11 ProvincePoliAdmin, 22 Proved, 258 Sproved, 6396 School)"), "{out}");
    assert_eq!(unit_count(dir, database_url), (4 + 6687, 2));
}

#[test]
fn csv_tree_import_on_sqlite() {
    let dir = scratch_dir("import-sqlite");
    csv_imports(&dir, None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_tree_import_on_postgres() {
    on_postgres("import-postgres", |dir, url| csv_imports(dir, Some(url)));
}

/// The file formats through the commands: a Shapefile in, GeoJSON and GeoPackage out, both back in.
fn file_formats(dir: &Path, database_url: Option<&str>) {
    let Some(shp) = shared("boundaries/malawi_naomi/shp/mwi_demo_areas.shp") else {
        eprintln!("shared data missing: the Malawi commands were skipped (set HYGEIA_TEST_SHARED_DATA)");
        return;
    };
    ok(&run(hygeia(dir, database_url).arg("migrate"), None));
    ok(&run(hygeia(dir, database_url).args(["create-account", "DRC"]), None));
    let mut import = hygeia(dir, database_url);
    import.args(["import", "shp"]).arg(&shp).args(["--account", "DRC", "--source", "naomi"]);
    import.args(["--id-property", "area_id", "--parent-property", "parent_area_id", "--name-property", "area_name"]);
    import.args(["--type-property", "area_lev_1", "--level-property", "area_level"]);
    let out = ok(&run(&mut import, None));
    assert!(out.contains("version 1: created 69,"), "{out}");

    let (json, gpkg) = (dir.join("areas.geojson"), dir.join("areas.gpkg"));
    for (format, file) in [("geojson", &json), ("gpkg", &gpkg)] {
        let mut export = hygeia(dir, database_url);
        export.args(["export", format, "--account", "DRC", "--source", "naomi", "-o"]).arg(file);
        let out = ok(&run(&mut export, None));
        assert!(out.contains("exported 69 org units of version 1"), "{out}");
    }
    let mut again = hygeia(dir, database_url);
    again.args(["import", "geojson"]).arg(&json).args(["--account", "DRC", "--source", "naomi", "--version", "1"]);
    again.args(["--id-property", "ref", "--parent-property", "parent_ref"]);
    let out = ok(&run(&mut again, None));
    assert!(out.contains("version 1: created 0, updated 0, unchanged 69"), "{out}");
    let mut copy = hygeia(dir, database_url);
    copy.args(["import", "gpkg"]).arg(&gpkg).args([
        "--account",
        "DRC",
        "--source",
        "copy",
        "--validation-status",
        "NEW",
    ]);
    let out = ok(&run(&mut copy, None));
    assert!(out.contains("version 1: created 69,") && out.contains("32 District + Metro"), "{out}");

    // A file that is not what its name says: refused, nothing written.
    std::fs::write(dir.join("fake.gpkg"), "not a database").unwrap();
    let mut fake = hygeia(dir, database_url);
    fake.args(["import", "gpkg"]).arg(dir.join("fake.gpkg")).args(["--account", "DRC", "--source", "fake"]);
    let refused = run(&mut fake, None);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("fake.gpkg: not a GeoPackage"), "{stderr}");
}

#[test]
fn file_formats_on_sqlite() {
    let dir = scratch_dir("formats-sqlite");
    file_formats(&dir, None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn file_formats_on_postgres() {
    on_postgres("formats-postgres", |dir, url| file_formats(dir, Some(url)));
}

/// `hygeia seed-demo`: an account with a project, an administrator and the Burkina Faso pyramid.
#[test]
fn seed_demo_creates_a_usable_account() {
    let Some(tree) = shared("openhexa/iaso_bfa_org_units.gpkg") else { return };
    let dir = scratch_dir("seed-demo");
    let out = ok(&run(hygeia(&dir, None).args(["seed-demo", "--account", "DRC", "--gpkg"]).arg(&tree), None));
    assert!(out.contains("project \"DRC project\" (app id drc.hygeia)"), "{out}");
    assert!(out.contains("version 1: created 136,"), "{out}");
    let password = out.split("with password ").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap();
    assert_eq!(password.len(), 18, "{out}");
    assert_eq!(unit_count(&dir, None), (136, 1));
    let again = run(hygeia(&dir, None).args(["seed-demo", "--account", "DRC", "--gpkg"]).arg(&tree), None);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store =
            hygeia_server::backend::connect(&format!("sqlite://{}/data/hygeia.db", dir.display())).await.unwrap();
        let credentials = store.users().credentials("drc-admin").await.unwrap().expect("the administrator");
        assert!(
            hygeia_server::auth::password::verify_password(password.to_owned(), credentials.password_hash)
                .await
                .unwrap()
        );
        let account = store.accounts().find_by_name("DRC").await.unwrap().unwrap().id;
        let project = store.projects().list(account).await.unwrap()[0].id;
        let types = store.org_unit_types().list(account).await.unwrap();
        assert!(!types.is_empty() && types.iter().all(|t| t.projects == [project]), "phones see the tree: {types:?}");
        store.close().await;
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
