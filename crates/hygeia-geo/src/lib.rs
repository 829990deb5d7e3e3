//! Hygeia's geometry, WGS84 only (EPSG:4326).
//!
//! - [`wkb`]: a bounds-checked WKB reader (ISO and EWKB, 2D/Z/M/ZM) and a writer, plus the
//!   GeoPackage blob header. Untrusted blobs never make it allocate more than their own length
//!   suggests, never panic, and never recurse without bound.
//! - [`geojson`]: shapes from GeoJSON (Polygon, MultiPolygon, Feature, FeatureCollection), with
//!   errors that name the position at fault, and back.
//! - [`topojson`]: TopoJSON topologies (us-atlas, world-atlas) as GeoJSON features.
//! - [`Shape`]: a validated MultiPolygon with its bounding box and the simplified copy kept for maps.

pub mod geojson;
pub mod shape;
pub mod topojson;
pub mod wkb;

pub use shape::{BBox, Shape, contains, decode_multipolygon};

/// What is wrong with a geometry, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoError {
    /// Malformed bytes: truncated, unknown type, impossible counts.
    #[error("invalid WKB at byte {offset}: {message}")]
    Wkb { offset: usize, message: String },
    /// Malformed or unsupported GeoJSON; `path` points into the document (`coordinates[0][3]`).
    #[error("invalid GeoJSON at {path}: {message}")]
    GeoJson { path: String, message: String },
    /// Well-formed but not a usable shape: out of WGS84 range, unclosed or self-intersecting rings.
    #[error("invalid shape: {0}")]
    Shape(String),
}
