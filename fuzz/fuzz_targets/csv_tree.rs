//! Untrusted CSV trees: any bytes give a draft or a located error, never a panic, and every draft
//! names only earlier nodes as parents.
#![no_main]

use hygeia_formats::DraftParent;
use hygeia_formats::csv_tree::{self, DataDict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dict = DataDict {
        name: "name".into(),
        parents: vec!["region".into(), "district".into()],
        latitude: Some("lat".into()),
        longitude: Some("lon".into()),
        altitude: Some("alt".into()),
        source_ref: Some("ref".into()),
    };
    let mut input = b"region;district;name;lat;lon;alt;ref\n".to_vec();
    input.extend_from_slice(data);
    if let Ok(draft) = csv_tree::read(&input[..], "fuzz.csv", &dict, "facility") {
        for (i, node) in draft.nodes.iter().enumerate() {
            assert!(!matches!(node.parent, DraftParent::Node(p) if p >= i));
            if let Some(location) = node.location {
                assert!(location.latitude.abs() <= 90.0 && location.longitude.abs() <= 180.0);
            }
        }
    }
});
