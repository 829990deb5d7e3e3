//! A batch of changes to one version's tree, applied by the store in one transaction: what an
//! import decided after matching a file against the version (units to create, units to update,
//! groups to create or rename, memberships to set).

use crate::orgunit::{GroupId, NewOrgUnit, OrgUnitId, OrgUnitUpdate, SourceVersionId};

/// A unit of the batch: one it creates (by index into [`TreeChanges::creates`]) or one that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlannedUnit {
    New(usize),
    Existing(OrgUnitId),
}

/// A group of the batch: one it creates (by index into [`TreeChanges::new_groups`]) or one that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlannedGroup {
    New(usize),
    Existing(GroupId),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedGroupInput {
    pub name: String,
    pub source_ref: Option<String>,
}

/// A group set to create, with its groups (of the batch's version).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedGroupSet {
    pub name: String,
    pub source_ref: Option<String>,
    pub groups: Vec<PlannedGroup>,
}

/// An update of an existing unit; `new_parent` moves it under a unit the batch creates (its
/// `update.parent_id` is then ignored).
#[derive(Debug, Clone)]
pub struct PlannedUpdate {
    pub id: OrgUnitId,
    pub update: OrgUnitUpdate,
    pub new_parent: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct TreeChanges {
    pub version_id: SourceVersionId,
    /// Created a generation at a time: `create_parents[i] = Some(j)` hangs `creates[i]` under
    /// `creates[j]` (which comes earlier); `None` keeps `creates[i].parent_id`.
    pub creates: Vec<NewOrgUnit>,
    pub create_parents: Vec<Option<usize>>,
    /// Applied after the creations, in order.
    pub updates: Vec<PlannedUpdate>,
    pub new_groups: Vec<PlannedGroupInput>,
    pub renamed_groups: Vec<(GroupId, String)>,
    pub new_group_sets: Vec<PlannedGroupSet>,
    /// Each listed unit ends up in exactly these groups of the version.
    pub memberships: Vec<(PlannedUnit, Vec<PlannedGroup>)>,
    /// The audit entries' source (`gpkg_import`, `csv_import`, ...).
    pub audit_source: String,
}

impl TreeChanges {
    pub fn new(version_id: SourceVersionId, audit_source: impl Into<String>) -> Self {
        TreeChanges {
            version_id,
            creates: Vec::new(),
            create_parents: Vec::new(),
            updates: Vec::new(),
            new_groups: Vec::new(),
            renamed_groups: Vec::new(),
            new_group_sets: Vec::new(),
            memberships: Vec::new(),
            audit_source: audit_source.into(),
        }
    }
}

/// What the store did: the ids of the created units and groups, in input order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeChangesApplied {
    pub created: Vec<OrgUnitId>,
    pub created_groups: Vec<GroupId>,
}
