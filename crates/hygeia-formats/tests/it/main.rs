//! The readers on the real files of `../shared/data` (see its SOURCES.md), found through
//! `HYGEIA_TEST_SHARED_DATA` or next to the repository.

use std::path::PathBuf;

use hygeia_formats::DraftParent;
use hygeia_formats::csv_tree::{self, DataDict};

fn shared(relative: &str) -> Option<PathBuf> {
    let root = std::env::var("HYGEIA_TEST_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")));
    let path = root.join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("{} is missing: test skipped (set HYGEIA_TEST_SHARED_DATA)", path.display());
        None
    }
}

/// 6,396 DRC schools under 11 provinces > 22 Proved > 258 Sproved (`;`, CRLF and LF, ~121 empty
/// trailing columns, quoted newlines, `NULL` texts, duplicate school names).
#[test]
fn the_drc_schools_import_as_iaso_reads_them() {
    let (Some(csv), Some(dict)) = (shared("iaso/testdata/schools.csv"), shared("iaso/testdata/data_dict.json")) else {
        return;
    };
    let dict = DataDict::from_json(&std::fs::read_to_string(dict).unwrap()).unwrap();
    let file = std::fs::File::open(&csv).unwrap();
    let draft = csv_tree::read(file, "schools.csv", &dict, "School").unwrap();
    assert_eq!(draft.level_names(), ["ProvincePoliAdmin", "Proved", "Sproved", "School"]);
    assert_eq!(draft.counts_by_level(), [11, 22, 258, 6396]);
    let leaves: Vec<_> = draft.nodes.iter().filter(|n| n.level == 3).collect();
    assert_eq!(leaves.iter().filter(|n| n.location.is_none()).count(), 1, "one school has no GPS");
    assert!(leaves.iter().all(|n| n.source_ref.is_none()), "Numero SECOPE is empty in every row");
    assert!(leaves.iter().all(|n| matches!(n.parent, DraftParent::Node(p) if draft.nodes[p].level == 2)));
    let first = leaves[0];
    assert_eq!(first.name, "ECOLE PRIMAIRE KISOLOKELE");
    let location = first.location.unwrap();
    assert!((location.latitude + 5.850_276).abs() < 1e-5 && (location.longitude - 13.059_383).abs() < 1e-5);
    // Every parent precedes its children, so levels can be created top down.
    assert!(draft.nodes.iter().enumerate().all(|(i, n)| match n.parent {
        DraftParent::Node(p) => p < i,
        _ => true,
    }));

    // The stale dictionary names columns the file does not have: refused, naming the column.
    let Some(stale) = shared("iaso/testdata/import_schools_data_dict.json") else { return };
    let stale = DataDict::from_json(&std::fs::read_to_string(stale).unwrap()).unwrap();
    let err = csv_tree::read(std::fs::File::open(&csv).unwrap(), "schools.csv", &stale, "School").unwrap_err();
    assert!(err.to_string().starts_with("schools.csv, row 1, column \"Country\": no column"), "{err}");
}

fn naomi() -> hygeia_formats::features::FeatureMapping {
    hygeia_formats::features::FeatureMapping {
        id: "area_id".into(),
        parent: "parent_area_id".into(),
        name: "area_name".into(),
        type_name: "area_level_label".into(),
        level: "area_level".into(),
        ..Default::default()
    }
}

/// The Malawi areas (naomi): 69 features over 5 levels with explicit parent ids, as GeoJSON (with
/// a legacy `crs` member) and as a Shapefile whose DBF truncated the field names.
#[test]
fn the_malawi_areas_read_from_geojson_and_shapefile_alike() {
    let (Some(geojson), Some(shp)) = (
        shared("boundaries/malawi_naomi/demo_areas.geojson"),
        shared("boundaries/malawi_naomi/shp/mwi_demo_areas.shp"),
    ) else {
        return;
    };
    let bytes = std::fs::read(geojson).unwrap();
    let from_json = hygeia_formats::geojson::read(&bytes, "demo_areas.geojson", &naomi()).unwrap();
    assert_eq!(from_json.level_names(), ["Country", "Region", "Zone", "District", "District + Metro"]);
    assert_eq!(from_json.counts_by_level(), [1, 3, 5, 28, 32]);
    assert!(from_json.nodes.iter().all(|n| n.shape.is_some()));
    let root = &from_json.nodes[0];
    assert_eq!((root.source_ref.as_deref(), root.parent.clone()), (Some("MWI"), DraftParent::Root));

    // In the DBF, area_level_label became area_lev_1 (GDAL's renaming, not a truncation).
    let mapping = hygeia_formats::features::FeatureMapping { type_name: "area_lev_1".into(), ..naomi() };
    let from_shp = hygeia_formats::shapefile::read(&shp, "mwi_demo_areas.shp", &mapping).unwrap();
    assert_eq!(from_shp.level_names(), from_json.level_names());
    assert_eq!(from_shp.counts_by_level(), from_json.counts_by_level());
    let key = |d: &hygeia_formats::TreeDraft| {
        let mut rows: Vec<(Option<String>, String, DraftParent)> =
            d.nodes.iter().map(|n| (n.source_ref.clone(), n.name.clone(), n.parent.clone())).collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    };
    assert_eq!(key(&from_shp), key(&from_json));
    let bbox = |d: &hygeia_formats::TreeDraft| d.nodes[0].shape.as_ref().map(|s| s.bbox);
    let (a, b) = (bbox(&from_json).unwrap(), bbox(&from_shp).unwrap());
    assert!((a.min_x - b.min_x).abs() < 1e-9 && (a.max_y - b.max_y).abs() < 1e-9, "{a:?} {b:?}");
}

/// A zip of one Shapefile (as browsers upload it, in a folder, with a macOS copy) reads as the
/// Shapefile itself; archives without exactly one layer, or not zips at all, are refused.
#[test]
fn zipped_shapefiles_read_as_the_shapefile() {
    use std::io::Write;
    let Some(shp) = shared("boundaries/malawi_naomi/shp/mwi_demo_areas.shp") else { return };
    let mapping = hygeia_formats::features::FeatureMapping { type_name: "area_lev_1".into(), ..naomi() };
    let direct = hygeia_formats::shapefile::read(&shp, "mwi_demo_areas.shp", &mapping).unwrap();
    let dir = std::env::temp_dir().join(format!("hygeia-zip-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zip_of = |name: &str, entries: &[(&str, Vec<u8>)]| {
        let path = dir.join(name);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for (entry, bytes) in entries {
            zip.start_file(*entry, zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        path
    };
    let companion = |ext: &str| std::fs::read(shp.with_extension(ext)).unwrap();
    let mut entries: Vec<(&str, Vec<u8>)> =
        ["shp", "shx", "dbf", "prj", "cpg"].iter().map(|ext| ("", companion(ext))).collect();
    let names = ["mwi/areas.shp", "mwi/areas.shx", "mwi/areas.dbf", "mwi/areas.prj", "mwi/areas.cpg"];
    for (entry, name) in entries.iter_mut().zip(names) {
        entry.0 = name;
    }
    entries.push(("__MACOSX/mwi/._areas.shp", b"resource fork".to_vec()));
    let good = zip_of("areas.zip", &entries);
    let zipped = hygeia_formats::shapefile::read_zip(&good, "areas.zip", &mapping).unwrap();
    assert_eq!(zipped.counts_by_level(), direct.counts_by_level());
    assert_eq!(zipped.nodes.len(), 69);
    let names = |d: &hygeia_formats::TreeDraft| d.nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&zipped), names(&direct));

    let refused = |path: &std::path::Path| {
        hygeia_formats::shapefile::read_zip(path, "upload.zip", &mapping).unwrap_err().to_string()
    };
    let empty = zip_of("empty.zip", &[("readme.txt", b"no layer".to_vec())]);
    assert!(refused(&empty).contains("upload.zip") && refused(&empty).contains("no .shp file"), "{}", refused(&empty));
    let two = zip_of("two.zip", &[("a.shp", companion("shp")), ("b.shp", companion("shp"))]);
    assert!(refused(&two).contains("2 .shp files"), "{}", refused(&two));
    let not_zip = dir.join("not.zip");
    std::fs::write(&not_zip, b"PK but not really").unwrap();
    assert!(refused(&not_zip).contains("not a readable zip archive"), "{}", refused(&not_zip));
    // A .shp without its .dbf is named as the layer's problem, inside the zip.
    let lonely = zip_of("lonely.zip", &[("areas.shp", companion("shp")), ("areas.shx", companion("shx"))]);
    assert!(refused(&lonely).contains("upload.zip (areas.shp)"), "{}", refused(&lonely));
    std::fs::remove_dir_all(dir).unwrap();
}
