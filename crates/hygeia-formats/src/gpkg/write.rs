//! Writing Iaso's GeoPackage: a new SQLite file with the GeoPackage 1.2 tables, one layer per
//! (depth, type) created when its first unit arrives, rows inserted as they come (the caller
//! streams pages of units; nothing is held but the layers' extents and a few hundred rows waiting
//! to be inserted together), and the `groups` table.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use geo::BoundingRect;
use hygeia_core::Location;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use super::{layer_name, quote_ident, quote_text};
use crate::error::FormatError;

/// One unit as the export writes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportUnit {
    pub id: i64,
    pub name: String,
    /// `source_ref`, else `iaso:<id>`.
    pub source_ref: String,
    pub code: String,
    /// "Name (Type)" of the parent.
    pub parent: Option<String>,
    pub parent_ref: Option<String>,
    pub group_refs: Vec<String>,
    pub group_names: Vec<String>,
    pub uuid: Option<String>,
    pub opening_date: Option<NaiveDate>,
    pub closed_date: Option<NaiveDate>,
    pub depth: Option<i64>,
    pub type_name: Option<String>,
    pub location: Option<Location>,
    /// The boundary as WKB (preferred to the location when both exist, as Iaso).
    pub shape_wkb: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportGroup {
    pub source_ref: String,
    pub name: String,
}

#[derive(Default)]
struct Layer {
    points: bool,
    polygons: bool,
    extent: Option<[f64; 4]>,
    /// Rows not inserted yet, and their geometries' size.
    pending: Vec<Row>,
    pending_bytes: usize,
}

/// A layer's row, as bound to the INSERT.
struct Row {
    geom: Option<Vec<u8>>,
    name: String,
    source_ref: String,
    code: String,
    parent: Option<String>,
    parent_ref: Option<String>,
    group_refs: String,
    group_names: String,
    uuid: Option<String>,
    opening_date: Option<String>,
    closed_date: Option<String>,
    id: i64,
}

/// Rows go to SQLite a statement of this many at a time (each statement is a round trip to the
/// driver's thread), or sooner when their geometries reach `FLUSH_BYTES`.
const FLUSH_ROWS: usize = 500;
const FLUSH_BYTES: usize = 4 << 20;

pub struct GpkgWriter {
    conn: SqliteConnection,
    file: String,
    layers: HashMap<String, Layer>,
}

const WGS84: &str = "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,\
AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],\
UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\",EAST],\
AUTHORITY[\"EPSG\",\"4326\"]]";

const SCHEMA: &[&str] = &[
    "PRAGMA application_id = 1196444487",
    "PRAGMA user_version = 10200",
    "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL, \
     organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)",
    "CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE, \
     description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), \
     min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER, \
     CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))",
    "CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL, \
     srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name), \
     CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name), \
     CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))",
    "INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system')",
    "INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system')",
    "CREATE TABLE groups (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, ref TEXT NOT NULL, name TEXT NOT NULL)",
    "INSERT INTO gpkg_contents (table_name, data_type, identifier) VALUES ('groups', 'attributes', 'groups')",
];

impl GpkgWriter {
    /// Creates the file (which must not exist: a GeoPackage is written whole, once).
    pub async fn create(path: &Path, file: &str) -> Result<GpkgWriter, FormatError> {
        let fail = |e: sqlx::Error| write_error(file, e);
        // A fresh file that is thrown away if writing fails: no journal needed.
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Off)
            .synchronous(SqliteSynchronous::Off);
        let mut conn = options.connect().await.map_err(fail)?;
        sqlx::query("BEGIN").execute(&mut conn).await.map_err(fail)?;
        for statement in SCHEMA {
            sqlx::query(sqlx::AssertSqlSafe(*statement)).execute(&mut conn).await.map_err(fail)?;
        }
        sqlx::query("INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84 geodetic', 4326, 'EPSG', 4326, $1, 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid')")
            .bind(WGS84)
            .execute(&mut conn)
            .await
            .map_err(fail)?;
        Ok(GpkgWriter { conn, file: file.to_owned(), layers: HashMap::new() })
    }

    pub async fn add(&mut self, unit: &ExportUnit) -> Result<(), FormatError> {
        let layer_name = layer_name(unit.depth, unit.type_name.as_deref());
        if !self.layers.contains_key(&layer_name) {
            self.create_layer(&layer_name).await?;
        }
        let (blob, kind, extent) = match (&unit.shape_wkb, unit.location) {
            (Some(wkb), _) => {
                let extent = hygeia_geo::wkb::decode(wkb)
                    .ok()
                    .and_then(|g| g.bounding_rect())
                    .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y]);
                (Some(blob(wkb)), Some(false), extent)
            }
            (None, Some(l)) => {
                (Some(blob(&point_wkb(l))), Some(true), Some([l.longitude, l.latitude, l.longitude, l.latitude]))
            }
            (None, None) => (None, None, None),
        };
        let layer = self.layers.get_mut(&layer_name).expect("created above");
        match kind {
            Some(true) => layer.points = true,
            Some(false) => layer.polygons = true,
            None => {}
        }
        if let Some([x0, y0, x1, y1]) = extent {
            layer.extent = Some(match layer.extent {
                None => [x0, y0, x1, y1],
                Some([a, b, c, d]) => [a.min(x0), b.min(y0), c.max(x1), d.max(y1)],
            });
        }
        let date = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
        let geom_bytes = blob.as_ref().map_or(0, Vec::len);
        layer.pending.push(Row {
            geom: blob,
            name: unit.name.clone(),
            source_ref: unit.source_ref.clone(),
            code: unit.code.clone(),
            parent: unit.parent.clone(),
            parent_ref: unit.parent_ref.clone(),
            group_refs: unit.group_refs.join(", "),
            group_names: unit.group_names.join(", "),
            uuid: unit.uuid.clone(),
            opening_date: date(unit.opening_date),
            closed_date: date(unit.closed_date),
            id: unit.id,
        });
        layer.pending_bytes += geom_bytes;
        if layer.pending.len() >= FLUSH_ROWS || layer.pending_bytes >= FLUSH_BYTES {
            let rows = std::mem::take(&mut layer.pending);
            layer.pending_bytes = 0;
            self.insert(&layer_name, rows).await?;
        }
        Ok(())
    }

    async fn insert(&mut self, layer: &str, rows: Vec<Row>) -> Result<(), FormatError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
            "INSERT INTO {} (geom, name, ref, code, parent, parent_ref, group_refs, group_names, uuid, opening_date, \
             closed_date, id) ",
            quote_ident(layer)
        ));
        insert.push_values(rows, |mut values, row| {
            values
                .push_bind(row.geom)
                .push_bind(row.name)
                .push_bind(row.source_ref)
                .push_bind(row.code)
                .push_bind(row.parent)
                .push_bind(row.parent_ref)
                .push_bind(row.group_refs)
                .push_bind(row.group_names)
                .push_bind(row.uuid)
                .push_bind(row.opening_date)
                .push_bind(row.closed_date)
                .push_bind(row.id);
        });
        insert.build().execute(&mut self.conn).await.map_err(|e| write_error(&self.file, e))?;
        Ok(())
    }

    pub async fn add_groups(&mut self, groups: &[ExportGroup]) -> Result<(), FormatError> {
        for group in groups {
            sqlx::query("INSERT INTO groups (ref, name) VALUES ($1, $2)")
                .bind(&group.source_ref)
                .bind(&group.name)
                .execute(&mut self.conn)
                .await
                .map_err(|e| write_error(&self.file, e))?;
        }
        Ok(())
    }

    async fn create_layer(&mut self, name: &str) -> Result<(), FormatError> {
        let statements = [
            format!(
                "CREATE TABLE {} (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, geom GEOMETRY, name TEXT, ref TEXT, \
                 code TEXT, parent TEXT, parent_ref TEXT, group_refs TEXT, group_names TEXT, uuid TEXT, \
                 opening_date DATE, closed_date DATE, id INTEGER)",
                quote_ident(name)
            ),
            format!(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES ({0}, 'features', {0}, 4326)",
                quote_text(name)
            ),
            format!("INSERT INTO gpkg_geometry_columns VALUES ({}, 'geom', 'GEOMETRY', 4326, 0, 0)", quote_text(name)),
        ];
        for statement in statements {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut self.conn)
                .await
                .map_err(|e| write_error(&self.file, e))?;
        }
        self.layers.insert(name.to_owned(), Layer::default());
        Ok(())
    }

    /// Records each layer's geometry type and extent, and closes the file.
    pub async fn finish(mut self) -> Result<(), FormatError> {
        let pending: Vec<(String, Vec<Row>)> =
            self.layers.iter_mut().map(|(name, layer)| (name.clone(), std::mem::take(&mut layer.pending))).collect();
        for (name, rows) in pending {
            self.insert(&name, rows).await?;
        }
        let fail = |e: sqlx::Error| write_error(&self.file, e);
        for (name, layer) in &self.layers {
            let kind = match (layer.points, layer.polygons) {
                (true, false) => "POINT",
                (false, true) => "MULTIPOLYGON",
                _ => "GEOMETRY",
            };
            sqlx::query("UPDATE gpkg_geometry_columns SET geometry_type_name = $1 WHERE table_name = $2")
                .bind(kind)
                .bind(name)
                .execute(&mut self.conn)
                .await
                .map_err(fail)?;
            if let Some([min_x, min_y, max_x, max_y]) = layer.extent {
                sqlx::query(
                    "UPDATE gpkg_contents SET min_x = $1, min_y = $2, max_x = $3, max_y = $4 WHERE table_name = $5",
                )
                .bind(min_x)
                .bind(min_y)
                .bind(max_x)
                .bind(max_y)
                .bind(name)
                .execute(&mut self.conn)
                .await
                .map_err(fail)?;
            }
        }
        sqlx::query("COMMIT").execute(&mut self.conn).await.map_err(fail)?;
        self.conn.close().await.map_err(fail)?;
        Ok(())
    }
}

fn write_error(file: &str, e: sqlx::Error) -> FormatError {
    FormatError::Io { file: file.to_owned(), source: std::io::Error::other(e.to_string()) }
}

/// A GeoPackage geometry blob: `GP`, version 0, flags (little-endian, no envelope), SRS 4326, WKB.
fn blob(wkb: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + wkb.len());
    out.extend_from_slice(&[b'G', b'P', 0, 0b0000_0001]);
    out.extend_from_slice(&4326i32.to_le_bytes());
    out.extend_from_slice(wkb);
    out
}

fn point_wkb(location: Location) -> Vec<u8> {
    let mut out = Vec::with_capacity(21);
    out.push(1);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&location.longitude.to_le_bytes());
    out.extend_from_slice(&location.latitude.to_le_bytes());
    out
}
