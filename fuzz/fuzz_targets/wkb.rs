//! Untrusted WKB and GeoPackage blobs: never a panic, never an allocation out of proportion.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hygeia_geo::wkb::decode(data);
    if let Ok(payload) = hygeia_geo::wkb::gpkg_payload(data) {
        let _ = hygeia_geo::wkb::decode(payload);
    }
    if let Ok(polygons) = hygeia_geo::decode_multipolygon(data) {
        let _ = hygeia_geo::Shape::new(polygons);
    }
});
