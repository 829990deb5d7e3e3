//! Reading and writing org-unit trees in outside formats. Readers turn a file into a
//! [`TreeDraft`] (what to create, parents before children) or a located [`FormatError`]; nothing here
//! touches the database, so a refused file can never have changed anything.

pub mod archive;
pub mod csv_tree;
pub mod dhis2;
mod draft;
mod error;
pub mod features;
pub mod geojson;
pub mod geometry;
pub mod gpkg;
pub mod shapefile;

pub use draft::{DraftGroup, DraftGroupSet, DraftLevel, DraftNode, DraftParent, TreeDraft};
pub use error::{FormatError, Located};
