//! Geometries read from files, turned into what a unit stores: a point becomes its location, a
//! polygon or multipolygon its boundary (validated, boxed and simplified by `hygeia-geo`).

use geo::{Geometry, MultiPolygon};
use hygeia_core::{BoundingBox, Location, ShapeData};
use hygeia_geo::{Shape, wkb};

/// A unit's geometry, read.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitGeometry {
    Point(Location),
    Shape(ShapeData),
}

/// Converts a decoded geometry; the error says what is wrong with it (the caller adds where).
/// A point with NaN coordinates (how GeoPackage writes an empty point) is no geometry.
pub fn from_geo(geometry: Geometry<f64>) -> Result<Option<UnitGeometry>, String> {
    match geometry {
        Geometry::Point(point) => {
            if point.x().is_nan() && point.y().is_nan() {
                return Ok(None);
            }
            let location = Location { latitude: point.y(), longitude: point.x(), altitude: 0.0 };
            let mut errors = hygeia_core::FieldErrors::default();
            location.validate(&mut errors);
            match errors.into_result() {
                Ok(()) => Ok(Some(UnitGeometry::Point(location))),
                Err(_) => Err(format!("the point ({}, {}) is not a WGS84 longitude, latitude", point.x(), point.y())),
            }
        }
        // The WKB reader reads an empty point (NaN coordinates) as an empty multi-point.
        Geometry::MultiPoint(points) if points.0.is_empty() => Ok(None),
        Geometry::MultiPoint(points) if points.0.len() == 1 => from_geo(Geometry::Point(points.0[0])),
        Geometry::Polygon(polygon) => shape(MultiPolygon(vec![polygon])).map(Some),
        Geometry::MultiPolygon(polygons) if polygons.0.is_empty() => Ok(None),
        Geometry::MultiPolygon(polygons) => shape(polygons).map(Some),
        other => Err(format!("a {} cannot be an org unit's location or boundary", kind(&other))),
    }
}

/// Reads a GeoPackage geometry blob (header, then WKB); `None` for an empty geometry.
pub fn from_gpkg_blob(blob: &[u8]) -> Result<Option<UnitGeometry>, String> {
    let payload = wkb::gpkg_payload(blob).map_err(|e| e.to_string())?;
    // Flags bit 4: the geometry is empty.
    if blob[3] & 0b1_0000 != 0 {
        return Ok(None);
    }
    from_geo(wkb::decode(payload).map_err(|e| e.to_string())?)
}

/// Published boundaries often fail strict validity once quantized (touching rings): they are
/// kept, as Iaso keeps them; out-of-range or malformed ones are refused.
fn shape(polygons: MultiPolygon<f64>) -> Result<UnitGeometry, String> {
    let (shape, _problem) = Shape::lenient(polygons).map_err(|e| e.to_string())?;
    Ok(UnitGeometry::Shape(shape_data(&shape)))
}

pub fn shape_data(shape: &Shape) -> ShapeData {
    let b = shape.bbox;
    ShapeData {
        full_wkb: shape.full_wkb(),
        simplified_wkb: shape.simplified_wkb(),
        bbox: BoundingBox { min_x: b.min_x, min_y: b.min_y, max_x: b.max_x, max_y: b.max_y },
    }
}

fn kind(geometry: &Geometry<f64>) -> &'static str {
    match geometry {
        Geometry::Point(_) => "point",
        Geometry::Line(_) | Geometry::LineString(_) => "line",
        Geometry::MultiLineString(_) => "multi-line",
        Geometry::MultiPoint(_) => "multi-point",
        Geometry::GeometryCollection(_) => "geometry collection",
        Geometry::Rect(_) => "rectangle",
        Geometry::Triangle(_) => "triangle",
        Geometry::Polygon(_) | Geometry::MultiPolygon(_) => "polygon",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{line_string, polygon};

    fn blob(flags: u8, wkb: &[u8]) -> Vec<u8> {
        let mut out = vec![b'G', b'P', 0, flags];
        out.extend_from_slice(&4326i32.to_le_bytes());
        out.extend_from_slice(wkb);
        out
    }

    fn point_wkb(x: f64, y: f64) -> Vec<u8> {
        let mut out = vec![1u8];
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&y.to_le_bytes());
        out
    }

    #[test]
    fn points_polygons_and_refusals() {
        let at = from_gpkg_blob(&blob(1, &point_wkb(13.5, 5.25))).unwrap();
        assert_eq!(at, Some(UnitGeometry::Point(Location { latitude: 5.25, longitude: 13.5, altitude: 0.0 })));
        assert_eq!(from_gpkg_blob(&blob(1, &point_wkb(f64::NAN, f64::NAN))).unwrap(), None);
        assert_eq!(from_gpkg_blob(&blob(0b1_0001, &point_wkb(1.0, 1.0))).unwrap(), None, "empty flag");
        let far = from_gpkg_blob(&blob(1, &point_wkb(13.5, 95.0))).unwrap_err();
        assert!(far.contains("not a WGS84"), "{far}");
        assert!(from_gpkg_blob(b"SQLite").unwrap_err().contains("GP"));
        let square = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)];
        let shape = from_gpkg_blob(&blob(1, &wkb::encode_multipolygon(&MultiPolygon(vec![square])))).unwrap();
        assert!(matches!(shape, Some(UnitGeometry::Shape(ShapeData { bbox, .. })) if bbox.max_x == 1.0));
        let line = geo::Geometry::LineString(line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)]);
        assert_eq!(from_geo(line).unwrap_err(), "a line cannot be an org unit's location or boundary");
    }
}
