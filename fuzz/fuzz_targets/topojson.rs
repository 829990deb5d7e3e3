//! Untrusted TopoJSON: decoded to features and their shapes validated without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(features) = hygeia_geo::topojson::features(&document, "areas") {
            for feature in features {
                let _ = hygeia_geo::Shape::from_geojson(&feature);
            }
        }
    }
});
