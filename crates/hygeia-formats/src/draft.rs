//! What an import will create: a forest of nodes, each naming its parent by index, parents first.

use hygeia_core::Location;

#[derive(Debug, Clone, PartialEq)]
pub struct DraftNode {
    pub name: String,
    /// The level's type name (a parent column's title, or the leaves' type).
    pub level: usize,
    /// Index of the parent in [`TreeDraft::nodes`] (always smaller than this node's), or a root.
    pub parent: Option<usize>,
    pub location: Option<Location>,
    pub source_ref: Option<String>,
    /// The row that first named this node, for messages about it.
    pub row: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeDraft {
    /// The file it was read from, for messages.
    pub file: String,
    /// Type names by level, top first; the last is the leaves'.
    pub levels: Vec<String>,
    pub nodes: Vec<DraftNode>,
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
}
