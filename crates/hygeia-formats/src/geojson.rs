//! GeoJSON FeatureCollections (RFC 7946, WGS84) as trees, mapped by a [`FeatureMapping`], and
//! back. A legacy `crs` member naming anything but WGS84 longitude/latitude is refused.

use std::io::Write;

use geo::{Geometry, MultiPolygon, Point};
use serde_json::Value;

use crate::draft::TreeDraft;
use crate::error::{FormatError, Located};
use crate::features::{FeatureMapping, FeatureTree};

pub fn read(bytes: &[u8], file: &str, mapping: &FeatureMapping) -> Result<TreeDraft, FormatError> {
    let whole =
        |message: String| FormatError::invalid(Located { file: file.to_owned(), ..Default::default() }, message);
    let document: Value = serde_json::from_slice(bytes)
        .map_err(|e| whole(format!("not JSON: {e} (line {}, column {})", e.line(), e.column())))?;
    if document.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(whole("expected a GeoJSON FeatureCollection".into()));
    }
    if let Some(crs) = document.pointer("/crs/properties/name").and_then(Value::as_str) {
        let wgs84 = ["urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:EPSG::4326", "EPSG:4326", "OGC:CRS84"];
        if !wgs84.contains(&crs) {
            return Err(whole(format!("the coordinates use {crs}; only WGS84 longitude/latitude is read")));
        }
    }
    let Some(features) = document.get("features").and_then(Value::as_array) else {
        return Err(whole("the FeatureCollection has no \"features\" array".into()));
    };
    let mut tree = FeatureTree::new(file, mapping.clone());
    for (i, feature) in features.iter().enumerate() {
        let row = i + 1;
        let at = |column: &str| Located {
            file: file.to_owned(),
            part: None,
            row: Some(row),
            column: Some(column.to_owned()),
        };
        let properties = feature.get("properties").and_then(Value::as_object);
        let property = |name: &str| properties.and_then(|p| p.get(name)).and_then(text);
        let geometry = match feature.get("geometry") {
            None | Some(Value::Null) => None,
            Some(geometry) => Some(parse_geometry(geometry).map_err(|m| FormatError::invalid(at("geometry"), m))?),
        };
        tree.add(row, property, feature.get("id").and_then(text), geometry)?;
    }
    Ok(tree.finish())
}

/// A property as text: strings trimmed, whole numbers without ".0", booleans as true/false.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Points and polygons; the polygon reader (with its located errors) is the geometry layer's.
fn parse_geometry(geometry: &Value) -> Result<Geometry<f64>, String> {
    match geometry.get("type").and_then(Value::as_str) {
        Some("Point") => {
            let c = geometry.get("coordinates").and_then(Value::as_array).ok_or("a Point needs coordinates")?;
            let (Some(x), Some(y)) = (c.first().and_then(Value::as_f64), c.get(1).and_then(Value::as_f64)) else {
                return Err("a Point's coordinates are [longitude, latitude]".into());
            };
            Ok(Geometry::Point(Point::new(x, y)))
        }
        Some("Polygon" | "MultiPolygon") => {
            hygeia_geo::geojson::parse_multipolygon(geometry).map(Geometry::MultiPolygon).map_err(|e| e.to_string())
        }
        Some(other) => Err(format!("a {other} cannot be an org unit's location or boundary")),
        None => Err("the geometry has no type".into()),
    }
}

/// One feature of an export.
pub struct ExportFeature<'a> {
    pub id: i64,
    pub source_ref: &'a str,
    pub name: &'a str,
    pub parent_ref: Option<&'a str>,
    pub type_name: Option<&'a str>,
    pub level: Option<i64>,
    pub validation_status: &'a str,
    pub code: &'a str,
    /// A point (longitude, latitude), used when there is no boundary.
    pub point: Option<(f64, f64)>,
    pub shape: Option<&'a MultiPolygon<f64>>,
}

/// Writes a FeatureCollection a feature at a time (re-importable with the default mapping
/// plus `id=ref, parent=parent_ref`).
pub struct GeoJsonWriter<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> GeoJsonWriter<W> {
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[")?;
        Ok(GeoJsonWriter { out, first: true })
    }

    pub fn add(&mut self, feature: &ExportFeature) -> std::io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        let properties = serde_json::json!({
            "id": feature.id,
            "ref": feature.source_ref,
            "name": feature.name,
            "parent_ref": feature.parent_ref,
            "type": feature.type_name,
            "level": feature.level,
            "validation_status": feature.validation_status,
            "code": feature.code,
        });
        write!(
            self.out,
            "{{\"type\":\"Feature\",\"id\":{},\"properties\":{properties},\"geometry\":",
            serde_json::to_string(feature.source_ref)?
        )?;
        match (feature.shape, feature.point) {
            (Some(shape), _) => self.out.write_all(hygeia_geo::geojson::geometry_json(shape).as_bytes())?,
            (None, Some((x, y))) => write!(self.out, "{{\"type\":\"Point\",\"coordinates\":[{x},{y}]}}")?,
            (None, None) => self.out.write_all(b"null")?,
        }
        self.out.write_all(b"}")
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(b"]}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DraftParent;

    #[test]
    fn features_map_to_units_and_mistakes_are_located() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"code":"C","label":"Country","lvl":0,"title":"Land"},
             "geometry":{"type":"Polygon","coordinates":[[[0,0],[2,0],[2,2],[0,0]]]}},
            {"type":"Feature","properties":{"code":7,"up":"C","label":"Town","lvl":1,"title":"Ville"},
             "geometry":{"type":"Point","coordinates":[1,1]}}]}"#;
        let mapping = FeatureMapping {
            id: "code".into(),
            parent: "up".into(),
            name: "title".into(),
            type_name: "label".into(),
            level: "lvl".into(),
            ..Default::default()
        };
        let draft = read(text.as_bytes(), "t.geojson", &mapping).unwrap();
        assert_eq!(draft.level_names(), ["Country", "Town"]);
        assert_eq!(draft.nodes[1].source_ref.as_deref(), Some("7"));
        assert_eq!(draft.nodes[1].parent, DraftParent::Ref("C".into()));
        assert!(draft.nodes[0].shape.is_some() && draft.nodes[1].location.is_some());

        let err = |t: &str| read(t.as_bytes(), "t.geojson", &mapping).unwrap_err().to_string();
        assert_eq!(
            err(&text.replace("\"title\":\"Ville\"", "\"title\":\" \"")),
            "t.geojson, row 2, column \"title\": the name is empty"
        );
        assert_eq!(
            err(&text.replace("\"code\":7", "\"code\":\"C\"")),
            "t.geojson, row 2, column \"code\": id \"C\" is also used by row 1"
        );
        assert!(err(&text.replace("[1,1]", "[1,100]")).starts_with("t.geojson, row 2, column \"geometry\": the point"));
        assert!(err(&text.replace("\"lvl\":1", "\"lvl\":\"one\"")).contains("\"one\" is not a whole number"));
        assert!(err("[1,2]").contains("expected a GeoJSON FeatureCollection"));
        assert!(err("{\"type\":").starts_with("t.geojson: not JSON"));
    }
}
