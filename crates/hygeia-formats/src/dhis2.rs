//! Org units from a DHIS2 server's Web API, as Iaso's `dhis2_ou_importer` reads them: levels (each a
//! type), units sorted by path (paged, or all at once when the server ignores paging), their groups,
//! and the group sets. `geometry` (DHIS2 2.32+) and the older `coordinates` string both give
//! locations and boundaries.

use std::time::Duration;

use chrono::NaiveDate;
use geo::{Coord, Geometry, LineString, MultiPolygon, Point, Polygon};
use serde::Deserialize;
use serde_json::Value;

use crate::draft::{DraftGroup, DraftGroupSet, DraftLevel, DraftNode, DraftParent, TreeDraft};
use crate::error::{FormatError, Located};
use crate::geometry::{self, UnitGeometry};

/// Where to read from.
#[derive(Debug, Clone)]
pub struct Dhis2Connection {
    /// The server's base URL (`https://play.dhis2.org/2.39.1`), without `/api`.
    pub base_url: String,
    pub username: String,
    pub password: String,
}

const FIELDS: &str =
    "id,name,path,coordinates,geometry,parent,organisationUnitGroups[id,name],level,openingDate,closedDate,code";
const PAGE_SIZE: usize = 500;

#[derive(Deserialize)]
struct Pager {
    #[serde(rename = "pageCount")]
    page_count: Option<usize>,
}

#[derive(Deserialize)]
struct UnitsPage {
    pager: Option<Pager>,
    #[serde(rename = "organisationUnits")]
    units: Vec<Dhis2Unit>,
}

#[derive(Deserialize)]
struct Reference {
    id: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Dhis2Unit {
    id: String,
    name: Option<String>,
    parent: Option<Reference>,
    level: Option<Value>,
    code: Option<String>,
    #[serde(rename = "openingDate")]
    opening_date: Option<String>,
    #[serde(rename = "closedDate")]
    closed_date: Option<String>,
    geometry: Option<Value>,
    coordinates: Option<String>,
    #[serde(rename = "organisationUnitGroups", default)]
    groups: Vec<Reference>,
}

#[derive(Deserialize)]
struct Level {
    level: Value,
    name: Option<String>,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct Levels {
    #[serde(rename = "organisationUnitLevels")]
    levels: Vec<Level>,
}

#[derive(Deserialize)]
struct GroupSet {
    id: String,
    name: Option<String>,
    #[serde(rename = "organisationUnitGroups", default)]
    groups: Vec<Reference>,
}

#[derive(Deserialize)]
struct GroupSets {
    #[serde(rename = "organisationUnitGroupSets")]
    sets: Vec<GroupSet>,
}

struct Client {
    http: reqwest::Client,
    connection: Dhis2Connection,
    label: String,
}

impl Client {
    fn at(&self, part: &str) -> Located {
        Located { file: self.label.clone(), part: Some(part.to_owned()), ..Default::default() }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, FormatError> {
        let url = {
            let mut encoded = form_urlencoded::Serializer::new(String::new());
            for (key, value) in query {
                encoded.append_pair(key, value);
            }
            format!("{}/api/{path}?{}", self.connection.base_url.trim_end_matches('/'), encoded.finish())
        };
        let response = self
            .http
            .get(&url)
            .basic_auth(&self.connection.username, Some(&self.connection.password))
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| FormatError::Io {
                file: self.label.clone(),
                source: std::io::Error::other(format!("{path}: {e}")),
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(FormatError::invalid(
                self.at(path),
                format!("DHIS2 refused the credentials of user \"{}\" ({status})", self.connection.username),
            ));
        }
        if !status.is_success() {
            return Err(FormatError::invalid(self.at(path), format!("DHIS2 answered {status}")));
        }
        let bytes = response.bytes().await.map_err(|e| FormatError::Io {
            file: self.label.clone(),
            source: std::io::Error::other(format!("{path}: {e}")),
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| FormatError::invalid(self.at(path), format!("the answer is not the JSON expected: {e}")))
    }
}

/// Reads the whole tree. Nothing is written anywhere: the import decides what to do with it.
pub async fn read(connection: &Dhis2Connection) -> Result<TreeDraft, FormatError> {
    let label = format!("DHIS2 {}", connection.base_url.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .connect_timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| FormatError::Io { file: label.clone(), source: std::io::Error::other(e) })?;
    let client = Client { http, connection: connection.clone(), label: label.clone() };

    let levels: Levels = client
        .get("organisationUnitLevels", &[("fields", "id,name,displayName,level".into()), ("paging", "false".into())])
        .await?;
    let mut draft = TreeDraft { file: label, ..Default::default() };
    let mut by_number: Vec<(i64, usize)> = Vec::new();
    let mut sorted: Vec<(i64, String)> =
        levels.levels.into_iter().filter_map(|l| Some((number(&l.level)?, l.name.or(l.display_name)?))).collect();
    sorted.sort();
    for (depth, name) in sorted {
        by_number.push((depth, draft.levels.len()));
        draft.levels.push(DraftLevel { name: name.trim().to_owned(), depth: Some(depth) });
    }

    let mut units = Vec::new();
    let mut page = 1;
    loop {
        let query = [
            ("fields", FIELDS.to_owned()),
            ("order", "path:asc".to_owned()),
            ("pageSize", PAGE_SIZE.to_string()),
            ("page", page.to_string()),
        ];
        let answer: UnitsPage = client.get("organisationUnits", &query).await?;
        let count = answer.units.len();
        units.extend(answer.units);
        // No pager: the server sent everything at once (paging=false, or an old server).
        let last = answer.pager.and_then(|p| p.page_count).is_none_or(|pages| page >= pages) || count == 0;
        if last {
            break;
        }
        page += 1;
    }

    for (i, unit) in units.iter().enumerate() {
        let part = format!("organisation unit {}", unit.id);
        let at = |column: &str| Located {
            file: draft.file.clone(),
            part: Some(part.clone()),
            row: None,
            column: Some(column.to_owned()),
        };
        let name = unit.name.as_deref().map(str::trim).unwrap_or_default();
        if name.is_empty() {
            return Err(FormatError::invalid(at("name"), "the unit has no name"));
        }
        let depth = unit.level.as_ref().and_then(number);
        let level = match by_number.iter().find(|(d, _)| Some(*d) == depth) {
            Some((_, level)) => *level,
            None => {
                // A level DHIS2 does not list: a type of its own, as Iaso's fallback type.
                let name = depth.map(|d| format!("Level {d}")).unwrap_or_else(|| "Unknown level".into());
                draft.levels.push(DraftLevel { name, depth });
                by_number.push((depth.unwrap_or(-1), draft.levels.len() - 1));
                draft.levels.len() - 1
            }
        };
        let parent = match &unit.parent {
            Some(parent) if !parent.id.trim().is_empty() => DraftParent::Ref(parent.id.trim().to_owned()),
            _ => DraftParent::Root,
        };
        let mut node = DraftNode::new(name, level, parent, i + 1);
        node.source_ref = Some(unit.id.trim().to_owned());
        node.code = Some(unit.code.clone().unwrap_or_default());
        node.opening_date =
            Some(date(unit.opening_date.as_deref()).map_err(|m| FormatError::invalid(at("openingDate"), m))?);
        node.closed_date =
            Some(date(unit.closed_date.as_deref()).map_err(|m| FormatError::invalid(at("closedDate"), m))?);
        let geometry = match (&unit.geometry, unit.coordinates.as_deref().map(str::trim)) {
            (Some(geometry), _) if !geometry.is_null() => {
                Some(("geometry", from_geojson(geometry).map_err(|m| FormatError::invalid(at("geometry"), m))?))
            }
            (_, Some(text)) if !text.is_empty() => {
                Some(("coordinates", parse_coordinates(text).map_err(|m| FormatError::invalid(at("coordinates"), m))?))
            }
            _ => None,
        };
        if let Some((field, geometry)) = geometry {
            // Iaso drops points outside WGS84 rather than refusing the unit; boundaries must be valid.
            let point_out_of_range =
                matches!(&geometry, Geometry::Point(p) if p.x().abs() > 180.0 || p.y().abs() > 90.0);
            if !point_out_of_range {
                match geometry::from_geo(geometry).map_err(|m| FormatError::invalid(at(field), m))? {
                    Some(UnitGeometry::Point(location)) => node.location = Some(location),
                    Some(UnitGeometry::Shape(shape)) => node.shape = Some(shape),
                    None => {}
                }
            }
        }
        let mut groups = Vec::with_capacity(unit.groups.len());
        for group in &unit.groups {
            add_group(&mut draft.groups, group);
            groups.push(group.id.clone());
        }
        node.groups = Some(groups);
        draft.nodes.push(node);
    }

    let sets: GroupSets = client
        .get(
            "organisationUnitGroupSets",
            &[("fields", "id,name,organisationUnitGroups[id,name]".into()), ("paging", "false".into())],
        )
        .await?;
    for set in sets.sets {
        for group in &set.groups {
            add_group(&mut draft.groups, group);
        }
        draft.group_sets.push(DraftGroupSet {
            name: set.name.clone().unwrap_or_else(|| set.id.clone()),
            source_ref: set.id,
            groups: set.groups.into_iter().map(|g| g.id).collect(),
        });
    }
    Ok(draft)
}

fn add_group(groups: &mut Vec<DraftGroup>, group: &Reference) {
    match groups.iter_mut().find(|g| g.source_ref == group.id) {
        Some(known) => {
            if known.name == known.source_ref
                && let Some(name) = &group.name
            {
                known.name = name.trim().to_owned();
            }
        }
        None => groups.push(DraftGroup {
            source_ref: group.id.clone(),
            name: group.name.clone().map(|n| n.trim().to_owned()).unwrap_or_else(|| group.id.clone()),
        }),
    }
}

/// DHIS2 writes levels as numbers or as strings of digits.
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `2023-05-10T00:00:00.000` (or a bare date).
fn date(text: Option<&str>) -> Result<Option<NaiveDate>, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    let day = text.get(..10).unwrap_or(text);
    day.parse().map(Some).map_err(|_| format!("\"{text}\" is not a date"))
}

fn from_geojson(geometry: &Value) -> Result<Geometry<f64>, String> {
    match geometry.get("type").and_then(Value::as_str) {
        Some("Point") => {
            let c = geometry.get("coordinates").ok_or("a Point needs coordinates")?;
            point(c)
        }
        Some("Polygon" | "MultiPolygon") => {
            hygeia_geo::geojson::parse_multipolygon(geometry).map(Geometry::MultiPolygon).map_err(|e| e.to_string())
        }
        Some(other) => Err(format!("a {other} cannot be an org unit's location or boundary")),
        None => Err("the geometry has no type".into()),
    }
}

fn point(value: &Value) -> Result<Geometry<f64>, String> {
    match value.as_array().map(Vec::as_slice) {
        Some([x, y, ..]) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => Ok(Geometry::Point(Point::new(x, y))),
            _ => Err("a point is [longitude, latitude]".into()),
        },
        _ => Err("a point is [longitude, latitude]".into()),
    }
}

/// The pre-2.32 `coordinates` string: `[x,y]`, `[[[x,y],...]]` (a polygon's rings) or
/// `[[[[x,y],...]]]` (polygons), told apart by how deep the numbers lie.
pub fn parse_coordinates(text: &str) -> Result<Geometry<f64>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("the coordinates are not JSON: {e}"))?;
    let mut depth = 0;
    let mut probe = &value;
    while let Some(first) = probe.as_array().and_then(|a| a.first()) {
        depth += 1;
        probe = first;
    }
    let ring = |value: &Value| -> Result<LineString<f64>, String> {
        let positions = value.as_array().ok_or("a ring is a list of positions")?;
        positions
            .iter()
            .map(|p| match point(p)? {
                Geometry::Point(p) => Ok(Coord { x: p.x(), y: p.y() }),
                _ => unreachable!("point() makes points"),
            })
            .collect::<Result<Vec<_>, String>>()
            .map(LineString)
    };
    let polygon = |value: &Value| -> Result<Polygon<f64>, String> {
        let rings = value.as_array().ok_or("a polygon is a list of rings")?;
        let mut rings = rings.iter().map(ring).collect::<Result<Vec<_>, _>>()?;
        if rings.is_empty() {
            return Err("a polygon needs a ring".into());
        }
        let exterior = rings.remove(0);
        Ok(Polygon::new(exterior, rings))
    };
    match depth {
        1 => point(&value),
        3 => Ok(Geometry::MultiPolygon(MultiPolygon(vec![polygon(&value)?]))),
        4 => {
            let polygons = value.as_array().ok_or("polygons are a list")?;
            Ok(Geometry::MultiPolygon(MultiPolygon(polygons.iter().map(polygon).collect::<Result<_, _>>()?)))
        }
        _ => Err("the coordinates are neither a point nor polygons".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legacy_coordinates_string_reads_by_depth() {
        assert_eq!(parse_coordinates("[-11.3596,8.5317]").unwrap(), Geometry::Point(Point::new(-11.3596, 8.5317)));
        let square = "[[[0,0],[1,0],[1,1],[0,0]]]";
        assert!(matches!(parse_coordinates(square).unwrap(), Geometry::MultiPolygon(m) if m.0.len() == 1));
        let two = format!("[{square},{square}]");
        assert!(matches!(parse_coordinates(&two).unwrap(), Geometry::MultiPolygon(m) if m.0.len() == 2));
        assert!(parse_coordinates("[[1,2]]").unwrap_err().contains("neither"));
        assert!(parse_coordinates("[1,").unwrap_err().contains("not JSON"));
        assert!(parse_coordinates("[[[\"a\",1]]]").is_err());
        assert_eq!(date(Some("2023-05-10T00:00:00.000")), Ok(NaiveDate::from_ymd_opt(2023, 5, 10)));
    }
}
