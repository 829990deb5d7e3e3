//! Shapes from and to GeoJSON. Only what org units carry: polygons, as a Polygon, a MultiPolygon,
//! a Feature holding one, or a FeatureCollection whose polygons are merged into one MultiPolygon
//! (Iaso's `geo_json`). Errors name the position in the document.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use serde_json::{Value, json};

use crate::GeoError;

fn fail<T>(path: &str, message: impl Into<String>) -> Result<T, GeoError> {
    Err(GeoError::GeoJson { path: path.to_owned(), message: message.into() })
}

/// The polygons of a GeoJSON document, merged into one MultiPolygon.
pub fn parse_multipolygon(document: &Value) -> Result<MultiPolygon<f64>, GeoError> {
    let mut polygons = Vec::new();
    collect(document, "$", &mut polygons)?;
    if polygons.is_empty() {
        return fail("$", "no polygon found");
    }
    Ok(MultiPolygon(polygons))
}

fn collect(value: &Value, path: &str, out: &mut Vec<Polygon<f64>>) -> Result<(), GeoError> {
    let Some(object) = value.as_object() else { return fail(path, "expected an object") };
    let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "FeatureCollection" => {
            let Some(features) = object.get("features").and_then(Value::as_array) else {
                return fail(&format!("{path}.features"), "expected an array of features");
            };
            for (i, feature) in features.iter().enumerate() {
                collect(feature, &format!("{path}.features[{i}]"), out)?;
            }
            Ok(())
        }
        "Feature" => match object.get("geometry") {
            Some(Value::Null) | None => Ok(()),
            Some(geometry) => collect(geometry, &format!("{path}.geometry"), out),
        },
        "Polygon" => {
            out.push(polygon(coordinates(object, path)?, &format!("{path}.coordinates"))?);
            Ok(())
        }
        "MultiPolygon" => {
            let path = format!("{path}.coordinates");
            let Some(members) = coordinates(object, &path)?.as_array() else { return fail(&path, "expected an array") };
            for (i, member) in members.iter().enumerate() {
                out.push(polygon(member, &format!("{path}[{i}]"))?);
            }
            Ok(())
        }
        "" => fail(&format!("{path}.type"), "missing \"type\""),
        other => fail(&format!("{path}.type"), format!("\"{other}\" is not a polygon type")),
    }
}

fn coordinates<'a>(object: &'a serde_json::Map<String, Value>, path: &str) -> Result<&'a Value, GeoError> {
    match object.get("coordinates") {
        Some(value) => Ok(value),
        None => fail(path, "missing \"coordinates\""),
    }
}

fn polygon(value: &Value, path: &str) -> Result<Polygon<f64>, GeoError> {
    let Some(rings) = value.as_array() else { return fail(path, "expected an array of rings") };
    if rings.is_empty() {
        return fail(path, "a polygon needs an exterior ring");
    }
    let mut parsed = rings
        .iter()
        .enumerate()
        .map(|(i, ring)| self::ring(ring, &format!("{path}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let exterior = parsed.remove(0);
    Ok(Polygon::new(exterior, parsed))
}

fn ring(value: &Value, path: &str) -> Result<LineString<f64>, GeoError> {
    let Some(positions) = value.as_array() else { return fail(path, "expected an array of positions") };
    let coords = positions
        .iter()
        .enumerate()
        .map(|(i, position)| {
            let at = format!("{path}[{i}]");
            let numbers = position.as_array().map(|p| p.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>());
            match numbers {
                Some(Some(n)) if (2..=4).contains(&n.len()) => Ok(Coord { x: n[0], y: n[1] }),
                _ => fail(&at, "a position is [longitude, latitude] (an altitude may follow)"),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Checked here, on the document: geo closes open rings silently when building a polygon.
    if coords.len() < 4 {
        return fail(path, "a ring needs at least 4 positions");
    }
    if coords.first() != coords.last() {
        return fail(path, "the ring is not closed: its last position must repeat the first");
    }
    Ok(LineString::new(coords))
}

/// A MultiPolygon geometry object.
pub fn to_geometry(shape: &MultiPolygon<f64>) -> Value {
    let polygons: Vec<Value> = shape
        .0
        .iter()
        .map(|polygon| {
            std::iter::once(polygon.exterior())
                .chain(polygon.interiors())
                .map(|ring| ring.0.iter().map(|c| json!([c.x, c.y])).collect::<Vec<_>>())
                .collect::<Vec<_>>()
                .into()
        })
        .collect();
    json!({"type": "MultiPolygon", "coordinates": polygons})
}

/// Iaso's `geo_json`: a FeatureCollection holding the shape as one feature.
/// The same geometry as GeoJSON text, written straight from the coordinates: a map of thousands
/// of boundaries would otherwise build a JSON tree of every coordinate first (tens of bytes per
/// number, held by each concurrent request).
pub fn geometry_json(shape: &MultiPolygon<f64>) -> String {
    use std::fmt::Write;
    let positions: usize =
        shape.0.iter().map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>()).sum();
    let mut out = String::with_capacity(48 + positions * 40);
    out.push_str(r#"{"type":"MultiPolygon","coordinates":["#);
    for (p, polygon) in shape.0.iter().enumerate() {
        out.push_str(if p == 0 { "[" } else { ",[" });
        for (r, ring) in std::iter::once(polygon.exterior()).chain(polygon.interiors()).enumerate() {
            out.push_str(if r == 0 { "[" } else { ",[" });
            for (c, coord) in ring.0.iter().enumerate() {
                // Validated shapes hold finite numbers; `Debug` writes the shortest text that reads back
                // as the same number, which is valid JSON.
                let _ = write!(out, "{}[{:?},{:?}]", if c == 0 { "" } else { "," }, coord.x, coord.y);
            }
            out.push(']');
        }
        out.push(']');
    }
    out.push_str("]}");
    out
}

pub fn to_feature_collection(shape: &MultiPolygon<f64>) -> Value {
    json!({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": to_geometry(shape), "properties": {}}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_geometry_text_equals_the_json_tree() {
        let ring = json!([[0.5, -1.25], [1e-7, 0], [1, 1], [0.5, -1.25]]);
        let hole = json!([[0.6, 0.1], [0.7, 0.1], [0.7, 0.2], [0.6, 0.1]]);
        let multi = json!({"type": "MultiPolygon", "coordinates": [[ring, hole], [ring]]});
        let shape = parse_multipolygon(&multi).unwrap();
        let text = geometry_json(&shape);
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reparsed, to_geometry(&shape));
    }

    #[test]
    fn every_polygon_container_is_read() {
        let ring = json!([[0, 0], [1, 0], [1, 1], [0, 0]]);
        let polygon = json!({"type": "Polygon", "coordinates": [ring]});
        let multi = json!({"type": "MultiPolygon", "coordinates": [[ring], [ring]]});
        let collection = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": polygon, "properties": {}},
            {"type": "Feature", "geometry": multi, "properties": {}},
            {"type": "Feature", "geometry": null, "properties": {}},
        ]});
        assert_eq!(parse_multipolygon(&polygon).unwrap().0.len(), 1);
        assert_eq!(parse_multipolygon(&collection).unwrap().0.len(), 3);
        let round = parse_multipolygon(&to_feature_collection(&parse_multipolygon(&multi).unwrap())).unwrap();
        assert_eq!(round, parse_multipolygon(&multi).unwrap());
    }

    #[test]
    fn errors_point_into_the_document() {
        let bad = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, "x"], [1, 1], [0, 0]]]}}
        ]});
        match parse_multipolygon(&bad) {
            Err(GeoError::GeoJson { path, .. }) => assert_eq!(path, "$.features[0].geometry.coordinates[0][1]"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_multipolygon(&json!({"type": "Point", "coordinates": [0, 0]})),
            Err(GeoError::GeoJson { .. })
        ));
        assert!(parse_multipolygon(&json!({"type": "FeatureCollection", "features": []})).is_err());
        assert!(parse_multipolygon(&json!([1, 2])).is_err());
    }
}
