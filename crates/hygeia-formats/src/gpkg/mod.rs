//! Iaso's GeoPackage format, read and written.
//!
//! One feature layer per org-unit type, named `level-{depth}-{type name}` (split on the first two
//! dashes only: type names hold dashes, slashes and accents); other layers are ignored. Each row
//! is a unit: `ref` (required, unique in the file), `name` (required), `parent_ref` (a `ref` of the
//! file or of the target version, or `iaso:<id>`; empty: a root), `group_refs` (a comma list of
//! group refs; no column: groups left alone), `code`, `opening_date`, `closed_date`, and the
//! geometry (a point: the location; polygons: the boundary). An attributes table `groups(ref, name)`
//! lists the groups. `iaso#<id>`, the older reference form, reads as `iaso:<id>`.
//!
//! A GeoPackage is an SQLite database: it is opened read-only with the same SQLite Hygeia embeds.
//! Rows are named in messages by their layer and `fid`, the id QGIS shows.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

use crate::draft::{DraftGroup, DraftLevel, DraftNode, DraftParent, TreeDraft};
use crate::error::{FormatError, Located};
use crate::geometry::{self, UnitGeometry};

pub mod write;

pub use write::{ExportGroup, ExportUnit, GpkgWriter};

/// A layer name's parts: `level-3-District - DS` is depth 3, type "District - DS".
pub fn parse_layer_name(name: &str) -> Option<(i64, &str)> {
    let rest = name.strip_prefix("level-")?;
    let (depth, type_name) = rest.split_once('-')?;
    Some((depth.trim().parse().ok()?, type_name.trim()))
}

/// The layer name of a type at a depth (`level-999-Unknown` when neither is known, as Iaso).
pub fn layer_name(depth: Option<i64>, type_name: Option<&str>) -> String {
    format!("level-{}-{}", depth.unwrap_or(999), type_name.unwrap_or("Unknown"))
}

/// References as stored: trimmed, the old `iaso#<id>` form rewritten as `iaso:<id>`.
pub fn normalize_ref(text: &str) -> String {
    let text = text.trim();
    match text.strip_prefix("iaso#") {
        Some(id) => format!("iaso:{id}"),
        None => text.to_owned(),
    }
}

pub async fn read(path: &Path, file: &str) -> Result<TreeDraft, FormatError> {
    let whole =
        |message: String| FormatError::invalid(Located { file: file.to_owned(), ..Default::default() }, message);
    let mut head = [0u8; 16];
    let read = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|source| FormatError::Io { file: file.to_owned(), source })?;
        f.read(&mut head).map_err(|source| FormatError::Io { file: file.to_owned(), source })?
    };
    if read == 0 {
        return Err(whole("the file is empty: it is not a GeoPackage".into()));
    }
    if read < 16 || &head != b"SQLite format 3\0" {
        return Err(whole("not a GeoPackage: the file is not an SQLite database".into()));
    }
    let options = SqliteConnectOptions::new().filename(path).read_only(true).immutable(true);
    let mut conn = options.connect().await.map_err(|e| whole(format!("the GeoPackage cannot be opened: {e}")))?;
    let result = read_layers(&mut conn, file).await;
    let _ = conn.close().await;
    result
}

async fn read_layers(conn: &mut SqliteConnection, file: &str) -> Result<TreeDraft, FormatError> {
    let at = |part: Option<&str>, row: Option<usize>, column: Option<&str>| Located {
        file: file.to_owned(),
        part: part.map(str::to_owned),
        row,
        column: column.map(str::to_owned),
    };
    let broken = |part: Option<&str>, e: sqlx::Error| {
        FormatError::invalid(at(part, None, None), format!("the GeoPackage is damaged: {e}"))
    };
    let contents: Vec<(String, String)> = sqlx::query_as("SELECT table_name, data_type FROM gpkg_contents")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| FormatError::invalid(at(None, None, None), format!("not a GeoPackage: {e}")))?;
    let geometry_columns: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT table_name, column_name, srs_id FROM gpkg_geometry_columns")
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| broken(None, e))?;

    let mut draft = TreeDraft { file: file.to_owned(), ..Default::default() };
    let mut layers: Vec<(i64, String, String)> = contents
        .iter()
        .filter(|(name, kind)| kind == "features" && name.starts_with("level-"))
        .map(|(name, _)| match parse_layer_name(name) {
            Some((depth, type_name)) => Ok((depth, type_name.to_owned(), name.clone())),
            None => Err(FormatError::invalid(
                at(Some(name), None, None),
                "a layer name must read level-{depth}-{type name}, the depth a whole number",
            )),
        })
        .collect::<Result<_, _>>()?;
    if layers.is_empty() {
        return Err(FormatError::invalid(
            at(None, None, None),
            "no layer named level-{depth}-{type name}: this is not a GeoPackage in Iaso's format",
        ));
    }
    layers.sort();

    // Refs are unique across the file: (layer, fid) of each, for the message about a second use.
    let mut refs: HashMap<String, (usize, usize)> = HashMap::new();
    for (depth, type_name, layer) in &layers {
        let part = draft.parts.len();
        draft.parts.push(layer.clone());
        let level = match draft.levels.iter().position(|l| &l.name == type_name && l.depth == Some(*depth)) {
            Some(level) => level,
            None => {
                draft.levels.push(DraftLevel { name: type_name.clone(), depth: Some(*depth) });
                draft.levels.len() - 1
            }
        };
        let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info({})",
            quote_text(layer)
        )))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| broken(Some(layer), e))?;
        let has = |column: &str| columns.iter().any(|c| c == column);
        for required in ["ref", "name"] {
            if !has(required) {
                return Err(FormatError::invalid(
                    at(Some(layer), None, Some(required)),
                    format!("column '{required}' is required but missing from the layer"),
                ));
            }
        }
        let geometry = geometry_columns.iter().find(|(table, ..)| table == layer);
        if let Some((_, _, srs)) = geometry
            && !matches!(srs, 4326 | 0 | -1)
        {
            return Err(FormatError::invalid(
                at(Some(layer), None, None),
                format!("the layer's coordinates use SRS {srs}; only WGS84 (EPSG:4326) is read: reproject it first"),
            ));
        }
        let optional = ["parent_ref", "group_refs", "code", "opening_date", "closed_date"];
        let mut select = String::from("SELECT fid, CAST(name AS TEXT), CAST(ref AS TEXT)");
        for column in optional {
            if has(column) {
                select.push_str(&format!(", CAST({} AS TEXT)", quote_ident(column)));
            } else {
                select.push_str(", NULL");
            }
        }
        match geometry {
            Some((_, column, _)) => select.push_str(&format!(", {}", quote_ident(column))),
            None => select.push_str(", NULL"),
        }
        select.push_str(&format!(" FROM {} ORDER BY fid", quote_ident(layer)));
        let rows: Vec<SqliteRow> =
            sqlx::query(sqlx::AssertSqlSafe(select)).fetch_all(&mut *conn).await.map_err(|e| broken(Some(layer), e))?;
        for row in rows {
            let fid: i64 = row.try_get(0).map_err(|e| broken(Some(layer), e))?;
            let fid = fid.max(0) as usize;
            let text = |i: usize| -> Option<String> { row.try_get::<Option<String>, _>(i).ok().flatten() };
            let fail =
                |column: &str, message: String| FormatError::invalid(at(Some(layer), Some(fid), Some(column)), message);
            let name = text(1).map(|n| n.trim().to_owned()).unwrap_or_default();
            if name.is_empty() {
                return Err(fail("name", "the name is empty".into()));
            }
            let source_ref = text(2).map(|r| normalize_ref(&r)).unwrap_or_default();
            if source_ref.is_empty() {
                return Err(fail("ref", "the ref is empty: every unit needs one".into()));
            }
            if let Some(&(other_part, other_fid)) = refs.get(&source_ref) {
                return Err(fail(
                    "ref",
                    format!("ref \"{source_ref}\" is also used by {}, row {other_fid}", draft.parts[other_part]),
                ));
            }
            refs.insert(source_ref.clone(), (part, fid));
            let parent = match text(3).map(|p| normalize_ref(&p)) {
                Some(parent) if !parent.is_empty() => {
                    if parent == source_ref {
                        return Err(fail("parent_ref", "a unit cannot be its own parent".into()));
                    }
                    DraftParent::Ref(parent)
                }
                _ => DraftParent::Root,
            };
            let mut node = DraftNode::new(name, level, parent, fid);
            node.part = Some(part);
            node.source_ref = Some(source_ref);
            if has("group_refs") {
                let list = text(4).unwrap_or_default();
                node.groups = Some(list.split(',').map(normalize_ref).filter(|g| !g.is_empty()).collect());
            }
            if has("code") {
                node.code = Some(text(5).map(|c| c.trim().to_owned()).unwrap_or_default());
            }
            for (index, column, slot) in
                [(6, "opening_date", &mut node.opening_date), (7, "closed_date", &mut node.closed_date)]
            {
                if has(column) {
                    *slot = Some(parse_date(text(index).as_deref()).map_err(|m| fail(column, m))?);
                }
            }
            let blob: Option<Vec<u8>> = row.try_get(8).ok().flatten();
            if let Some(blob) = blob {
                let column = geometry.map(|(_, c, _)| c.as_str()).unwrap_or("geom");
                match geometry::from_gpkg_blob(&blob).map_err(|m| fail(column, m))? {
                    Some(UnitGeometry::Point(location)) => node.location = Some(location),
                    Some(UnitGeometry::Shape(shape)) => node.shape = Some(shape),
                    None => {}
                }
            }
            draft.nodes.push(node);
        }
    }

    let has_groups = contents.iter().any(|(name, _)| name == "groups");
    if has_groups {
        let rows: Vec<(i64, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT fid, CAST(ref AS TEXT), CAST(name AS TEXT) FROM groups ORDER BY fid")
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| {
                    FormatError::invalid(
                        at(Some("groups"), None, None),
                        format!("the groups table needs fid, ref and name: {e}"),
                    )
                })?;
        for (fid, source_ref, name) in rows {
            let fail = |column: &str, message: &str| {
                FormatError::invalid(at(Some("groups"), Some(fid.max(0) as usize), Some(column)), message)
            };
            let source_ref = source_ref.map(|r| normalize_ref(&r)).unwrap_or_default();
            let name = name.map(|n| n.trim().to_owned()).unwrap_or_default();
            if source_ref.is_empty() {
                return Err(fail("ref", "the group's ref is empty"));
            }
            if name.is_empty() {
                return Err(fail("name", "the group's name is empty"));
            }
            if draft.groups.iter().any(|g| g.source_ref == source_ref) {
                return Err(fail("ref", "this group ref is listed twice"));
            }
            draft.groups.push(DraftGroup { source_ref, name });
        }
    }
    Ok(draft)
}

/// `YYYY-MM-DD` (or a timestamp starting with one); empty clears.
fn parse_date(text: Option<&str>) -> Result<Option<NaiveDate>, String> {
    let text = text.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Ok(None);
    }
    let day = text.get(..10).unwrap_or(text);
    NaiveDate::from_str(day).map(Some).map_err(|_| format!("\"{text}\" is not a date (YYYY-MM-DD)"))
}

/// An SQL identifier in double quotes (layer names hold spaces, slashes and quotes).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An SQL string literal.
pub(crate) fn quote_text(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names_split_on_the_first_two_dashes() {
        assert_eq!(parse_layer_name("level-3-DS"), Some((3, "DS")));
        assert_eq!(
            parse_layer_name("level-5-Health facility/Formation sanitaire - HF"),
            Some((5, "Health facility/Formation sanitaire - HF"))
        );
        assert_eq!(parse_layer_name("level-x-DS"), None);
        assert_eq!(parse_layer_name("layer_styles"), None);
        assert_eq!(layer_name(None, None), "level-999-Unknown");
        assert_eq!(normalize_ref(" iaso#6688 "), "iaso:6688");
        assert_eq!(parse_date(Some("2020-01-01")), Ok(NaiveDate::from_ymd_opt(2020, 1, 1)));
        assert_eq!(parse_date(Some("2023-05-10T00:00:00.000")), Ok(NaiveDate::from_ymd_opt(2023, 5, 10)));
        assert_eq!(parse_date(Some(" ")), Ok(None));
        assert!(parse_date(Some("10/05/2023")).is_err());
    }
}
