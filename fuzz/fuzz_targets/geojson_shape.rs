//! Untrusted GeoJSON shapes: parsed, validated and simplified without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(shape) = hygeia_geo::Shape::from_geojson(&document) {
            let _ = hygeia_geo::decode_multipolygon(&shape.full_wkb());
        }
    }
});
