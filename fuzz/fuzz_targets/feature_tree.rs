//! Untrusted GeoJSON feature collections and DHIS2 coordinate strings: a draft or a located
//! error, never a panic.
#![no_main]

use hygeia_formats::features::FeatureMapping;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hygeia_formats::geojson::read(data, "fuzz.geojson", &FeatureMapping::default());
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hygeia_formats::dhis2::parse_coordinates(text);
    }
});
