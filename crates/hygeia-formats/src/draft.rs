//! What a file says the tree should be: levels (one org-unit type each), nodes naming their parent
//! by index or by reference, and groups. The import layer matches a draft against the target
//! version (by reference, else by name under the same parent) and decides what to create or update.

use chrono::NaiveDate;
use hygeia_core::{Location, ShapeData};

use crate::error::Located;

/// Where a node hangs.
#[derive(Debug, Clone, PartialEq)]
pub enum DraftParent {
    Root,
    /// Another node of the draft (by index; it may come before or after this one).
    Node(usize),
    /// A reference: a node's `source_ref` in the draft or in the target version, or `iaso:<id>`
    /// for a unit of the version by its id.
    Ref(String),
}

/// One level of the draft: an org-unit type.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftLevel {
    pub name: String,
    /// Depth in the tree (1 for the top), when the file says it.
    pub depth: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DraftGroup {
    pub source_ref: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DraftGroupSet {
    pub source_ref: String,
    pub name: String,
    /// References of its groups (in [`TreeDraft::groups`] or the target version).
    pub groups: Vec<String>,
}

/// One unit. `None` in the optional fields means "the file does not say": an update leaves the
/// stored value alone (a file that says "empty" gives `Some` of an empty value).
#[derive(Debug, Clone, PartialEq)]
pub struct DraftNode {
    pub name: String,
    /// Index into [`TreeDraft::levels`].
    pub level: usize,
    pub parent: DraftParent,
    pub source_ref: Option<String>,
    pub code: Option<String>,
    pub opening_date: Option<Option<NaiveDate>>,
    pub closed_date: Option<Option<NaiveDate>>,
    pub location: Option<Location>,
    pub shape: Option<ShapeData>,
    /// References of the groups the unit belongs to (all of them).
    pub groups: Option<Vec<String>>,
    /// Index into [`TreeDraft::parts`] (a GeoPackage layer), for messages.
    pub part: Option<usize>,
    /// The row that first named this node, for messages.
    pub row: usize,
}

impl DraftNode {
    pub fn new(name: impl Into<String>, level: usize, parent: DraftParent, row: usize) -> Self {
        DraftNode {
            name: name.into(),
            level,
            parent,
            source_ref: None,
            code: None,
            opening_date: None,
            closed_date: None,
            location: None,
            shape: None,
            groups: None,
            part: None,
            row,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeDraft {
    /// The file it was read from, for messages.
    pub file: String,
    /// Parts of the file (layers, sheets) that nodes name by index.
    pub parts: Vec<String>,
    /// Org-unit types, top first.
    pub levels: Vec<DraftLevel>,
    pub nodes: Vec<DraftNode>,
    pub groups: Vec<DraftGroup>,
    pub group_sets: Vec<DraftGroupSet>,
}

impl TreeDraft {
    /// How many nodes each level has, top first.
    pub fn counts_by_level(&self) -> Vec<usize> {
        let mut counts = vec![0; self.levels.len()];
        for node in &self.nodes {
            if let Some(count) = counts.get_mut(node.level) {
                *count += 1;
            }
        }
        counts
    }

    pub fn level_names(&self) -> Vec<&str> {
        self.levels.iter().map(|l| l.name.as_str()).collect()
    }

    /// Where a node was read, optionally naming a column.
    pub fn at(&self, node: &DraftNode, column: Option<&str>) -> Located {
        Located {
            file: self.file.clone(),
            part: node.part.and_then(|p| self.parts.get(p)).cloned(),
            row: Some(node.row),
            column: column.map(str::to_owned),
        }
    }
}
