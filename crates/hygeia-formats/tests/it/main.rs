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
