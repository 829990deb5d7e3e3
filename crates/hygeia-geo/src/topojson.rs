//! TopoJSON (the format of us-atlas and world-atlas) to GeoJSON features, so that boundaries
//! published as topologies go through the same shape checks as any GeoJSON.
//!
//! Arcs are shared line strings; a polygon ring lists arc indexes (`~i`, i.e. `-i - 1`, walks arc
//! `i` backwards). With a `transform`, arc positions are quantized and delta-encoded. Only polygon
//! geometries are kept; other kinds (points, lines) are skipped, as org units' shapes are areas.

use serde_json::{Map, Value, json};

use crate::GeoError;

fn fail<T>(path: &str, message: impl Into<String>) -> Result<T, GeoError> {
    Err(GeoError::GeoJson { path: path.to_owned(), message: message.into() })
}

/// Most positions a topology may hold in all: bounds the memory an untrusted file can claim.
const MAX_POSITIONS: usize = 50_000_000;

/// The polygon geometries of `object` (e.g. `"counties"`) as GeoJSON Features with the
/// geometry's `id` and `properties`; geometries of other kinds are skipped.
pub fn features(document: &Value, object: &str) -> Result<Vec<Value>, GeoError> {
    if document.get("type").and_then(Value::as_str) != Some("Topology") {
        return fail("$.type", "expected \"Topology\"");
    }
    let arcs = decode_arcs(document)?;
    let Some(root) = document.get("objects").and_then(|o| o.get(object)) else {
        return fail("$.objects", format!("no object named \"{object}\""));
    };
    let path = format!("$.objects.{object}");
    let geometries: Vec<(String, &Value)> = match root.get("type").and_then(Value::as_str) {
        Some("GeometryCollection") => match root.get("geometries").and_then(Value::as_array) {
            Some(list) => list.iter().enumerate().map(|(i, g)| (format!("{path}.geometries[{i}]"), g)).collect(),
            None => return fail(&format!("{path}.geometries"), "expected an array"),
        },
        _ => vec![(path, root)],
    };
    let mut out = Vec::new();
    for (path, geometry) in geometries {
        let coordinates = match geometry.get("type").and_then(Value::as_str) {
            Some("Polygon") => polygon(&arcs, geometry.get("arcs"), &format!("{path}.arcs"))?,
            Some("MultiPolygon") => {
                let Some(polygons) = geometry.get("arcs").and_then(Value::as_array) else {
                    return fail(&format!("{path}.arcs"), "expected an array of polygons");
                };
                let mut all = Vec::with_capacity(polygons.len());
                for (i, rings) in polygons.iter().enumerate() {
                    let rings = polygon(&arcs, Some(rings), &format!("{path}.arcs[{i}]"))?;
                    if rings.as_array().is_some_and(|r| !r.is_empty()) {
                        all.push(rings);
                    }
                }
                Value::Array(all)
            }
            _ => continue,
        };
        let kind = if geometry["type"] == "Polygon" { "Polygon" } else { "MultiPolygon" };
        out.push(json!({
            "type": "Feature",
            "id": geometry.get("id").cloned().unwrap_or(Value::Null),
            "properties": geometry.get("properties").cloned().unwrap_or_else(|| Value::Object(Map::new())),
            "geometry": {"type": kind, "coordinates": coordinates},
        }));
    }
    Ok(out)
}

/// Every arc as absolute positions.
fn decode_arcs(document: &Value) -> Result<Vec<Vec<[f64; 2]>>, GeoError> {
    let transform = match document.get("transform") {
        None | Some(Value::Null) => None,
        Some(t) => {
            let pair = |key: &str| -> Result<[f64; 2], GeoError> {
                match t.get(key).and_then(Value::as_array).map(|a| a.iter().map(Value::as_f64).collect::<Vec<_>>()) {
                    Some(v) if v.len() == 2 && v.iter().all(|n| n.is_some_and(f64::is_finite)) => {
                        Ok([v[0].unwrap_or_default(), v[1].unwrap_or_default()])
                    }
                    _ => fail(&format!("$.transform.{key}"), "expected two finite numbers"),
                }
            };
            Some((pair("scale")?, pair("translate")?))
        }
    };
    let Some(arcs) = document.get("arcs").and_then(Value::as_array) else {
        return fail("$.arcs", "expected an array of arcs");
    };
    let mut total = 0usize;
    let mut decoded = Vec::with_capacity(arcs.len());
    for (i, arc) in arcs.iter().enumerate() {
        let Some(positions) = arc.as_array() else { return fail(&format!("$.arcs[{i}]"), "expected an array") };
        total += positions.len();
        if total > MAX_POSITIONS {
            return fail("$.arcs", format!("more than {MAX_POSITIONS} positions"));
        }
        let mut line = Vec::with_capacity(positions.len());
        let (mut x, mut y) = (0.0, 0.0);
        for (j, position) in positions.iter().enumerate() {
            let xy = position.as_array().and_then(|p| Some((p.first()?.as_f64()?, p.get(1)?.as_f64()?)));
            let Some((px, py)) = xy.filter(|(a, b)| a.is_finite() && b.is_finite()) else {
                return fail(&format!("$.arcs[{i}][{j}]"), "expected [x, y] numbers");
            };
            line.push(match transform {
                Some(([sx, sy], [tx, ty])) => {
                    // Quantized positions are deltas from the previous one.
                    x += px;
                    y += py;
                    [x * sx + tx, y * sy + ty]
                }
                None => [px, py],
            });
        }
        decoded.push(line);
    }
    Ok(decoded)
}

/// A polygon's rings (each a list of arc indexes) as GeoJSON coordinates.
fn polygon(arcs: &[Vec<[f64; 2]>], rings: Option<&Value>, path: &str) -> Result<Value, GeoError> {
    let Some(rings) = rings.and_then(Value::as_array) else { return fail(path, "expected an array of rings") };
    let mut out = Vec::with_capacity(rings.len());
    for (r, ring) in rings.iter().enumerate() {
        let Some(indexes) = ring.as_array() else { return fail(&format!("{path}[{r}]"), "expected arc indexes") };
        let mut positions: Vec<[f64; 2]> = Vec::new();
        for (k, index) in indexes.iter().enumerate() {
            let at = format!("{path}[{r}][{k}]");
            let Some(index) = index.as_i64() else { return fail(&at, "expected an integer arc index") };
            let (arc, reversed) = if index >= 0 { (index, false) } else { (-index - 1, true) };
            let Some(arc) = usize::try_from(arc).ok().and_then(|a| arcs.get(a)) else {
                return fail(&at, format!("arc {index} does not exist"));
            };
            let mut walk: Vec<[f64; 2]> = arc.clone();
            if reversed {
                walk.reverse();
            }
            // Consecutive arcs share their joining position.
            let skip = usize::from(!positions.is_empty());
            positions.extend(walk.into_iter().skip(skip));
        }
        // Published topologies (us-atlas's merged states) can miss closing a ring by one quantum.
        if positions.len() >= 3 && positions.first() != positions.last() {
            positions.push(positions[0]);
        }
        // Quantization can collapse a tiny ring to fewer than four positions: it has no area left.
        if positions.len() >= 4 {
            out.push(json!(positions));
        } else if r == 0 {
            return Ok(Value::Array(Vec::new()));
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two unit squares side by side sharing their middle edge (arc 1), quantized.
    fn topology() -> Value {
        json!({
            "type": "Topology",
            "transform": {"scale": [0.5, 0.5], "translate": [10.0, 20.0]},
            "objects": {"areas": {"type": "GeometryCollection", "geometries": [
                {"type": "Polygon", "id": "A", "properties": {"name": "West"}, "arcs": [[0, 1]]},
                {"type": "MultiPolygon", "id": "B", "arcs": [[[2, -2]]]},
                {"type": "Point", "coordinates": [0, 0]}
            ]}},
            "arcs": [
                [[2, 0], [-2, 0], [0, 2], [2, 0]],
                [[2, 2], [0, -2]],
                [[2, 2], [2, 0], [0, -2], [-2, 0]]
            ]
        })
    }

    #[test]
    fn shared_arcs_are_decoded_into_closed_rings() {
        let features = features(&topology(), "areas").unwrap();
        assert_eq!(features.len(), 2, "the point is skipped");
        assert_eq!(features[0]["id"], "A");
        assert_eq!(features[0]["properties"]["name"], "West");
        assert_eq!(
            features[0]["geometry"]["coordinates"],
            json!([[[11.0, 20.0], [10.0, 20.0], [10.0, 21.0], [11.0, 21.0], [11.0, 20.0]]])
        );
        assert_eq!(
            features[1]["geometry"]["coordinates"],
            json!([[[[11.0, 21.0], [12.0, 21.0], [12.0, 20.0], [11.0, 20.0], [11.0, 21.0]]]])
        );
        let shape = crate::Shape::from_geojson(&features[1]).unwrap();
        assert_eq!((shape.bbox.min_x, shape.bbox.max_y), (11.0, 21.0));
    }

    #[test]
    fn broken_topologies_name_the_place() {
        let mut bad = topology();
        bad["objects"]["areas"]["geometries"][0]["arcs"] = json!([[0, 7]]);
        let err = features(&bad, "areas").unwrap_err().to_string();
        assert!(err.contains("geometries[0].arcs[0][1]") && err.contains("arc 7"), "{err}");
        let mut bad = topology();
        bad["arcs"][1][0] = json!(["x", 1]);
        assert!(features(&bad, "areas").unwrap_err().to_string().contains("$.arcs[1][0]"));
        assert!(features(&topology(), "states").unwrap_err().to_string().contains("states"));
        assert!(features(&json!({"type": "FeatureCollection"}), "areas").is_err());
    }

    #[test]
    fn us_counties_decode() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/boundaries/us_atlas/counties-10m.json");
        let Ok(text) = std::fs::read_to_string(path) else { return };
        let document: Value = serde_json::from_str(&text).unwrap();
        let counties = features(&document, "counties").unwrap();
        assert_eq!(counties.len(), 3231);
        let valid = counties.iter().filter(|c| crate::Shape::from_geojson(c).is_ok()).count();
        assert!(valid > 3200, "{valid} valid shapes");
    }
}
