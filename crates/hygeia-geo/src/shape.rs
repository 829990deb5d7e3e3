//! A validated org-unit shape: the full MultiPolygon, its bounding box, and the simplified copy
//! used for lists, maps and phones.

use geo::{BoundingRect, Contains, MultiPolygon, Point, Simplify, Validation};

use crate::{GeoError, geojson, wkb};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub full: MultiPolygon<f64>,
    pub simplified: MultiPolygon<f64>,
    pub bbox: BBox,
}

/// Most polygons a shape may hold, and positions in all: above real boundaries (a detailed
/// national border has tens of thousands of positions), far below what would exhaust memory.
const MAX_POLYGONS: usize = 5_000;
const MAX_POSITIONS: usize = 500_000;
/// geo's validity check compares segments pairwise (quadratic): it runs up to this many
/// positions, about 0.1 s of CPU; larger shapes are checked for structure and range only.
const MAX_POSITIONS_FOR_VALIDITY: usize = 10_000;

impl Shape {
    /// Checks a MultiPolygon: within WGS84, finite, closed rings of at least four positions, and
    /// no self-intersection; then computes its box and simplified copy.
    pub fn new(full: MultiPolygon<f64>) -> Result<Shape, GeoError> {
        let (shape, problem) = Shape::checked(full, true)?;
        debug_assert!(problem.is_none());
        Ok(shape)
    }

    /// Like [`Shape::new`], but a shape that is well formed and in range and only fails the
    /// validity rules (self-intersecting or touching rings, common in published boundaries once
    /// quantized) is kept, with the problem returned for the caller to report.
    pub fn lenient(full: MultiPolygon<f64>) -> Result<(Shape, Option<String>), GeoError> {
        Shape::checked(full, false)
    }

    fn checked(full: MultiPolygon<f64>, strict: bool) -> Result<(Shape, Option<String>), GeoError> {
        if full.0.is_empty() {
            return Err(GeoError::Shape("the shape has no polygon".into()));
        }
        if full.0.len() > MAX_POLYGONS {
            return Err(GeoError::Shape(format!("more than {MAX_POLYGONS} polygons")));
        }
        let mut positions = 0usize;
        for (p, polygon) in full.0.iter().enumerate() {
            for (r, ring) in std::iter::once(polygon.exterior()).chain(polygon.interiors()).enumerate() {
                positions += ring.0.len();
                let at = format!("polygon {p}, ring {r}");
                if ring.0.len() < 4 {
                    return Err(GeoError::Shape(format!("{at}: a ring needs at least 4 positions")));
                }
                if ring.0.first() != ring.0.last() {
                    return Err(GeoError::Shape(format!("{at}: the ring is not closed (first position != last)")));
                }
                if let Some((i, c)) = ring.0.iter().enumerate().find(|(_, c)| {
                    !(c.x.is_finite()
                        && c.y.is_finite()
                        && (-180.0..=180.0).contains(&c.x)
                        && (-90.0..=90.0).contains(&c.y))
                }) {
                    return Err(GeoError::Shape(format!(
                        "{at}, position {i}: ({}, {}) is not a WGS84 longitude, latitude",
                        c.x, c.y
                    )));
                }
            }
        }
        if positions > MAX_POSITIONS {
            return Err(GeoError::Shape(format!("more than {MAX_POSITIONS} positions")));
        }
        let mut invalid = None;
        if positions <= MAX_POSITIONS_FOR_VALIDITY
            && let Err(problem) = full.check_validation()
        {
            let problem = format!("the polygons are not valid: {problem}");
            if strict {
                return Err(GeoError::Shape(problem));
            }
            invalid = Some(problem);
        }
        let rect = full.bounding_rect().ok_or_else(|| GeoError::Shape("the shape is empty".into()))?;
        let bbox = BBox { min_x: rect.min().x, min_y: rect.min().y, max_x: rect.max().x, max_y: rect.max().y };
        // Iaso's tolerance: a thousandth of the larger side of the box.
        let tolerance = 0.001 * (bbox.max_x - bbox.min_x).max(bbox.max_y - bbox.min_y);
        let simplified = simplify(&full, tolerance);
        Ok((Shape { full, simplified, bbox }, invalid))
    }

    pub fn from_geojson(document: &serde_json::Value) -> Result<Shape, GeoError> {
        Shape::new(geojson::parse_multipolygon(document)?)
    }

    pub fn full_wkb(&self) -> Vec<u8> {
        wkb::encode_multipolygon(&self.full)
    }

    pub fn simplified_wkb(&self) -> Vec<u8> {
        wkb::encode_multipolygon(&self.simplified)
    }
}

/// Douglas-Peucker with `tolerance`, defensively: a shape too small to simplify meaningfully is
/// kept as it is, and so is one that trips geo's internal checks (degenerate, subnormal
/// coordinates make its distances NaN; found by fuzzing).
fn simplify(full: &MultiPolygon<f64>, tolerance: f64) -> MultiPolygon<f64> {
    if !tolerance.is_normal() || tolerance < 1e-9 {
        return full.clone();
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| full.simplify(tolerance))).unwrap_or_else(|_| full.clone())
}

/// Polygons from stored WKB (validated when written; decoded defensively all the same).
pub fn decode_multipolygon(bytes: &[u8]) -> Result<MultiPolygon<f64>, GeoError> {
    match wkb::decode(bytes)? {
        geo::Geometry::MultiPolygon(m) => Ok(m),
        geo::Geometry::Polygon(p) => Ok(MultiPolygon(vec![p])),
        _ => Err(GeoError::Shape("the geometry is not a polygon".into())),
    }
}

/// Whether a point (longitude, latitude) lies inside the polygons: a facility outside its
/// district is allowed, and reported.
pub fn contains(shape: &MultiPolygon<f64>, longitude: f64, latitude: f64) -> bool {
    shape.contains(&Point::new(longitude, latitude))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn square(size: f64) -> serde_json::Value {
        json!({"type": "Polygon", "coordinates": [[[0, 0], [size, 0], [size, size], [0, size], [0, 0]]]})
    }

    #[test]
    fn valid_shapes_get_a_box_and_a_simplified_copy() {
        let shape = Shape::from_geojson(&square(2.0)).unwrap();
        assert_eq!(shape.bbox, BBox { min_x: 0.0, min_y: 0.0, max_x: 2.0, max_y: 2.0 });
        assert!(contains(&shape.full, 1.0, 1.0) && !contains(&shape.full, 3.0, 1.0));
        let stored = decode_multipolygon(&shape.full_wkb()).unwrap();
        assert_eq!(stored, shape.full);
    }

    /// A fuzzer-found blob: a polygon of near-zero, subnormal coordinates that made geo's
    /// simplification assert.
    #[test]
    fn degenerate_tiny_polygons_do_not_panic() {
        let blob = base64_decode(
            "AQMAAAABAAAABgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA9AAAAP//fwAAAD8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
        );
        if let Ok(polygons) = decode_multipolygon(&blob) {
            let _ = Shape::new(polygons);
        }
    }

    fn base64_decode(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = Vec::new();
        for byte in text.bytes().filter(|b| *b != b'=') {
            bits = (bits << 6) | ALPHABET.iter().position(|a| *a == byte).unwrap() as u32;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
            }
        }
        out
    }

    #[test]
    fn lenient_checks_keep_self_intersecting_shapes_and_say_why() {
        let bowtie = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]});
        let polygons = geojson::parse_multipolygon(&bowtie).unwrap();
        assert!(matches!(Shape::new(polygons.clone()), Err(GeoError::Shape(m)) if m.contains("self-intersection")));
        let (shape, problem) = Shape::lenient(polygons).unwrap();
        assert!(problem.unwrap().contains("self-intersection"));
        assert_eq!(shape.bbox, BBox { min_x: 0.0, min_y: 0.0, max_x: 1.0, max_y: 1.0 });
        let (_, none) = Shape::lenient(geojson::parse_multipolygon(&square(1.0)).unwrap()).unwrap();
        assert_eq!(none, None);
        let out_of_range = geojson::parse_multipolygon(&square(200.0)).unwrap();
        assert!(Shape::lenient(out_of_range).is_err(), "range errors stay errors");
    }

    #[test]
    fn bad_shapes_are_refused_with_the_reason() {
        let reason = |doc| match Shape::from_geojson(&doc) {
            Err(GeoError::Shape(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(reason(square(200.0)).contains("not a WGS84"));
        let unclosed =
            Shape::from_geojson(&json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}));
        assert!(
            matches!(unclosed, Err(GeoError::GeoJson { ref message, .. }) if message.contains("not closed")),
            "{unclosed:?}"
        );
        let short = Shape::from_geojson(&json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}));
        assert!(
            matches!(short, Err(GeoError::GeoJson { ref message, .. }) if message.contains("at least 4")),
            "{short:?}"
        );
        // A bow tie: the ring crosses itself.
        let bow_tie = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]});
        assert!(reason(bow_tie).contains("not valid"));
    }
}
