//! Reading and writing org-unit trees in outside formats. Readers turn a file into a
//! [`TreeDraft`] (what to create, parents before children) or a located [`FormatError`]; nothing here
//! touches the database, so a refused file can never have changed anything.

pub mod csv_tree;
mod draft;
mod error;

pub use draft::{DraftNode, TreeDraft};
pub use error::{FormatError, Located};
