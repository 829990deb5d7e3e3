//! Untrusted GeoPackage geometry blobs (header, envelope, WKB): a location, a boundary, nothing,
//! or an error; never a panic, and whatever is returned is within WGS84.
#![no_main]

use hygeia_formats::geometry::{UnitGeometry, from_gpkg_blob};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match from_gpkg_blob(data) {
        Ok(Some(UnitGeometry::Point(l))) => assert!(l.latitude.abs() <= 90.0 && l.longitude.abs() <= 180.0),
        Ok(Some(UnitGeometry::Shape(shape))) => {
            assert!(shape.bbox.min_x >= -180.0 && shape.bbox.max_x <= 180.0);
            assert!(shape.bbox.min_y >= -90.0 && shape.bbox.max_y <= 90.0);
        }
        Ok(None) | Err(_) => {}
    }
});
