//! Imports of whole trees: a file read into a draft (`hygeia-formats`), matched against the target
//! version of a data source, then written in one transaction (one org-unit type per level). The CLI
//! (`hygeia import ...`) and the import tasks share this code and its summary.
//!
//! Matching: a unit of the file with a reference (`ref`, DHIS2 id, `source_ref`) is the unit of
//! the version with that reference (or `iaso:<id>`); one without is the unit of the same name and
//! type under the same parent (the k-th such unit of the file matches the k-th of the version, so
//! re-importing a file with duplicate names changes nothing). Matched units are updated where the
//! file says something different; the others are created.

use std::collections::{HashMap, VecDeque};

use hygeia_core::{
    AccountId, DataSource, DataSourceInput, Group, NewOrgUnit, OrgUnit, OrgUnitId, OrgUnitQuery, OrgUnitScope,
    OrgUnitTypeId, OrgUnitTypeInput, OrgUnitUpdate, PlannedGroup, PlannedGroupInput, PlannedGroupSet, PlannedUnit,
    PlannedUpdate, SourceVersion, SourceVersionId, TreeChanges, UserId, ValidationError, ValidationStatus,
};
use hygeia_formats::{DraftNode, DraftParent, FormatError, TreeDraft};
use hygeia_jobs::{ProgressReporter, Stop};
use hygeia_store::{DynStore, StoreError};

/// Where an import goes.
#[derive(Debug, Clone)]
pub struct ImportTarget {
    pub account: AccountId,
    /// Found by name, or created.
    pub source_name: String,
    /// An existing version (updated), or `None` for the source's next version.
    pub version_number: Option<i64>,
    /// Status of the units created.
    pub validation_status: ValidationStatus,
    pub actor: Option<UserId>,
    /// The audit entries' source: `csv_import`, `gpkg_import`, ...
    pub audit_source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("this source has no version {0}: leave the version out to import into a new one")]
    UnknownVersion(i64),
    #[error("stopped: {0}")]
    Stopped(#[from] Stop),
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    pub version_id: SourceVersionId,
    pub version_number: i64,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub groups_created: usize,
    pub group_sets_created: usize,
    /// Units created per level, top first: (type name, count).
    pub by_level: Vec<(String, usize)>,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let levels: Vec<String> = self.by_level.iter().map(|(name, n)| format!("{n} {name}")).collect();
        write!(
            f,
            "version {}: created {}, updated {}, unchanged {}, refused 0 org units; {} groups and {} group sets created (created by level: {})",
            self.version_number,
            self.created,
            self.updated,
            self.unchanged,
            self.groups_created,
            self.group_sets_created,
            if levels.is_empty() { "none".to_owned() } else { levels.join(", ") }
        )
    }
}

impl ImportSummary {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "version_id": self.version_id.0,
            "version_number": self.version_number,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "refused": 0,
            "groups_created": self.groups_created,
            "group_sets_created": self.group_sets_created,
            "created_by_level": self.by_level.iter().map(|(n, c)| serde_json::json!({"type": n, "count": c})).collect::<Vec<_>>(),
        })
    }
}

/// Writes `draft` into the target. Everything is checked before anything is written, and the
/// changes are applied in one transaction: a refused draft leaves the tree as it was.
pub async fn import_draft(
    store: &DynStore,
    target: &ImportTarget,
    draft: &TreeDraft,
    progress: &dyn ProgressReporter,
) -> Result<ImportSummary, ImportError> {
    let total = draft.nodes.len() as i64;
    progress.step(0, total, "matching the units").await?;
    let account = target.account;
    let source = store.sources().sources(account).await?.into_iter().find(|s| s.name == target.source_name);
    let version = match (&source, target.version_number) {
        (Some(source), Some(number)) => {
            let versions = store.sources().versions(account, Some(source.id)).await?;
            Some(versions.into_iter().find(|v| v.number == number).ok_or(ImportError::UnknownVersion(number))?)
        }
        (None, Some(number)) => return Err(ImportError::UnknownVersion(number)),
        (_, None) => None,
    };
    let existing = match &version {
        Some(version) => Existing::load(store, account, version.id).await?,
        None => Existing::default(),
    };
    let types = store.org_unit_types().list(account).await?;
    let level_types: Vec<Option<OrgUnitTypeId>> = draft
        .levels
        .iter()
        .map(|level| {
            let named = types.iter().filter(|t| t.name == level.name);
            let mut named: Vec<_> = named.collect();
            named.sort_by_key(|t| (t.depth != level.depth, t.id));
            named.first().map(|t| t.id)
        })
        .collect();

    let mut plan = plan(draft, target, &existing, &level_types)?;
    if !plan.shape_checks.is_empty() {
        plan.drop_unchanged_shapes(store, account).await?;
    }

    // Everything is checked: now the source, the version and the missing types.
    let source = match source {
        Some(source) => source,
        None => {
            let input = DataSourceInput { name: target.source_name.clone(), ..Default::default() };
            store.sources().create_source(account, input).await?
        }
    };
    let version = match version {
        Some(version) => version,
        None => store.sources().create_version(account, source.id, "imported").await?,
    };
    set_defaults(store, account, &source, &version).await?;
    let level_types = create_missing_types(store, target, draft, level_types).await?;
    let changes = plan.changes(draft, version.id, &level_types, &target.audit_source);

    progress.step(0, total, "writing the units").await?;
    let scope = OrgUnitScope::whole_account(account);
    let applied =
        store.org_units().apply_changes(&scope, target.actor, &changes).await.map_err(|err| plan.locate(draft, err))?;
    progress.step(total, total, &format!("{} created, {} updated", applied.created.len(), plan.updated)).await?;
    store.optimize().await?;
    let mut by_level = vec![0usize; draft.levels.len()];
    for &node in &plan.created_nodes {
        by_level[draft.nodes[node].level] += 1;
    }
    Ok(ImportSummary {
        version_id: version.id,
        version_number: version.number,
        created: applied.created.len(),
        updated: plan.updated,
        unchanged: plan.unchanged,
        groups_created: applied.created_groups.len(),
        group_sets_created: plan.new_group_sets.len(),
        by_level: draft.levels.iter().map(|l| l.name.clone()).zip(by_level).filter(|(_, n)| *n > 0).collect(),
    })
}

async fn set_defaults(
    store: &DynStore,
    account: AccountId,
    source: &DataSource,
    version: &SourceVersion,
) -> Result<(), ImportError> {
    if source.default_version_id.is_none() {
        store.sources().set_source_default_version(account, version.id).await?;
    }
    let has_default = store.accounts().get(account).await?.is_some_and(|a| a.default_version_id.is_some());
    if !has_default {
        store.sources().set_account_default_version(account, version.id).await?;
    }
    Ok(())
}

/// One type per level, found by name (and depth) or created; each created level's type lists the
/// next level's below it, as Iaso's importers do.
async fn create_missing_types(
    store: &DynStore,
    target: &ImportTarget,
    draft: &TreeDraft,
    mut level_types: Vec<Option<OrgUnitTypeId>>,
) -> Result<Vec<OrgUnitTypeId>, ImportError> {
    let used = draft.counts_by_level();
    for i in (0..draft.levels.len()).rev() {
        if level_types[i].is_some() || used[i] == 0 {
            continue;
        }
        let level = &draft.levels[i];
        let below: Vec<OrgUnitTypeId> = level_types.get(i + 1).copied().flatten().into_iter().collect();
        // Iaso's short name: the text after the last " - " (`Health facility - HF`), else 4 letters.
        let short_name = match level.name.rsplit_once(" - ") {
            Some((_, short)) if !short.trim().is_empty() => short.trim().chars().take(50).collect(),
            _ => level.name.chars().take(4).collect(),
        };
        let input = OrgUnitTypeInput {
            name: level.name.clone(),
            short_name,
            depth: level.depth.or(Some(i as i64 + 1)),
            sub_unit_types: below,
            ..Default::default()
        };
        level_types[i] = Some(store.org_unit_types().create(target.account, target.actor, input).await?.id);
    }
    Ok(level_types.into_iter().map(|t| t.unwrap_or(OrgUnitTypeId(0))).collect())
}

/// The target version's units and groups, indexed for matching.
#[derive(Default)]
struct Existing {
    units: Vec<OrgUnit>,
    by_ref: HashMap<String, usize>,
    by_id: HashMap<OrgUnitId, usize>,
    /// (parent, name, type) → units, in id order.
    by_key: HashMap<(Option<OrgUnitId>, String, Option<OrgUnitTypeId>), VecDeque<usize>>,
    groups: Vec<Group>,
    group_sets: Vec<hygeia_core::GroupSet>,
    memberships: HashMap<OrgUnitId, Vec<hygeia_core::GroupId>>,
}

impl Existing {
    async fn load(store: &DynStore, account: AccountId, version: SourceVersionId) -> Result<Existing, ImportError> {
        let query = OrgUnitQuery { version_ids: vec![version], ..Default::default() };
        let mut units = store.org_units().list(&OrgUnitScope::whole_account(account), &query).await?.items;
        units.sort_by_key(|u| u.id);
        let mut existing = Existing::default();
        for (i, unit) in units.iter().enumerate() {
            if let Some(source_ref) = &unit.source_ref {
                existing.by_ref.entry(source_ref.clone()).or_insert(i);
            }
            existing.by_id.insert(unit.id, i);
            let key = (unit.parent_id, unit.name.clone(), unit.org_unit_type_id);
            existing.by_key.entry(key).or_default().push_back(i);
        }
        let ids: Vec<OrgUnitId> = units.iter().map(|u| u.id).collect();
        for chunk in ids.chunks(5000) {
            for (unit, group) in store.groups().groups_of(account, chunk).await? {
                existing.memberships.entry(unit).or_default().push(group.id);
            }
        }
        existing.groups = store.groups().list(account, &[version]).await?;
        existing.group_sets = store.group_sets().list(account, &[version]).await?;
        existing.units = units;
        Ok(existing)
    }

    /// A reference: the `source_ref` of a unit of the version, or `iaso:<id>`.
    fn unit_by_ref(&self, reference: &str) -> Option<&OrgUnit> {
        if let Some(&i) = self.by_ref.get(reference) {
            return Some(&self.units[i]);
        }
        let id: i64 = reference.strip_prefix("iaso:")?.trim().parse().ok()?;
        self.by_id.get(&OrgUnitId(id)).map(|&i| &self.units[i])
    }

    fn group_by_ref(&self, reference: &str) -> Option<&Group> {
        let by_id = reference.strip_prefix("iaso:").and_then(|id| id.trim().parse::<i64>().ok());
        self.groups.iter().find(|g| g.source_ref.as_deref() == Some(reference) || Some(g.id.0) == by_id)
    }
}

/// Where a node of the draft goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Resolved {
    Root,
    Node(usize),
    Existing(OrgUnitId),
}

/// The decisions, before the types exist (creates get their type when the plan becomes changes).
struct Plan {
    /// Draft node of each unit to create, parents first.
    created_nodes: Vec<usize>,
    create_parents: Vec<(Option<OrgUnitId>, Option<usize>)>,
    updates: Vec<(usize, PlannedUpdate)>,
    /// Updates whose new shape must be compared with the stored one: (index in `updates`).
    shape_checks: Vec<usize>,
    new_groups: Vec<PlannedGroupInput>,
    renamed_groups: Vec<(hygeia_core::GroupId, String)>,
    new_group_sets: Vec<PlannedGroupSet>,
    memberships: Vec<(PlannedUnit, Vec<PlannedGroup>)>,
    validation_status: ValidationStatus,
    updated: usize,
    unchanged: usize,
    /// Units whose only change is their groups.
    groups_only: usize,
    /// Nodes matched to existing units whose only change may be their shape.
    shape_only: Vec<bool>,
}

fn plan(
    draft: &TreeDraft,
    target: &ImportTarget,
    existing: &Existing,
    level_types: &[Option<OrgUnitTypeId>],
) -> Result<Plan, FormatError> {
    let nodes = &draft.nodes;
    let invalid =
        |node: &DraftNode, column: Option<&str>, message: String| FormatError::invalid(draft.at(node, column), message);
    // Every new unit is checked as the store will check it, before anything is written.
    for node in nodes {
        let mut unit = NewOrgUnit::new(SourceVersionId(0), node.name.clone());
        unit.location = node.location;
        unit.source_ref = node.source_ref.clone();
        unit.code = node.code.clone().unwrap_or_default();
        unit.opening_date = node.opening_date.flatten();
        unit.closed_date = node.closed_date.flatten();
        if let Err(ValidationError(fields)) = unit.validate() {
            let (field, messages) = fields.0.into_iter().next().unwrap_or_default();
            return Err(invalid(node, Some(&field), messages.join(" ")));
        }
    }

    // Parents: references resolved to nodes of the file, else to units of the version.
    let by_ref: HashMap<&str, usize> =
        nodes.iter().enumerate().filter_map(|(i, n)| Some((n.source_ref.as_deref()?, i))).collect();
    let mut parents = Vec::with_capacity(nodes.len());
    for node in nodes {
        parents.push(match &node.parent {
            DraftParent::Root => Resolved::Root,
            DraftParent::Node(j) => Resolved::Node(*j),
            DraftParent::Ref(reference) => match by_ref.get(reference.as_str()) {
                Some(&j) => Resolved::Node(j),
                None => match existing.unit_by_ref(reference) {
                    Some(unit) => Resolved::Existing(unit.id),
                    None => {
                        return Err(invalid(
                            node,
                            Some("parent_ref"),
                            format!("unknown parent \"{reference}\": no unit of the file or of the target version has this ref"),
                        ));
                    }
                },
            },
        });
    }
    let order = parents_first(draft, &parents)?;

    let mut matched: Vec<Option<OrgUnitId>> = vec![None; nodes.len()];
    let mut taken_keys: HashMap<(Option<OrgUnitId>, &str, Option<OrgUnitTypeId>), usize> = HashMap::new();
    let mut create_index: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut plan = Plan {
        created_nodes: Vec::new(),
        create_parents: Vec::new(),
        updates: Vec::new(),
        shape_checks: Vec::new(),
        new_groups: Vec::new(),
        renamed_groups: Vec::new(),
        new_group_sets: Vec::new(),
        memberships: Vec::new(),
        validation_status: target.validation_status,
        updated: 0,
        unchanged: 0,
        groups_only: 0,
        shape_only: Vec::new(),
    };

    // Groups: the file's, matched by ref to the version's (renamed if need be) or created.
    let mut groups: HashMap<&str, PlannedGroup> = HashMap::new();
    for group in &draft.groups {
        match existing.group_by_ref(&group.source_ref) {
            Some(found) => {
                if found.name != group.name.trim() {
                    plan.renamed_groups.push((found.id, group.name.clone()));
                }
                groups.insert(&group.source_ref, PlannedGroup::Existing(found.id));
            }
            None => {
                plan.new_groups
                    .push(PlannedGroupInput { name: group.name.clone(), source_ref: Some(group.source_ref.clone()) });
                groups.insert(&group.source_ref, PlannedGroup::New(plan.new_groups.len() - 1));
            }
        }
    }

    // Group sets: the file's, created unless the version has one with the same ref.
    let existing_sets: Vec<&str> = existing.group_sets.iter().filter_map(|s| s.source_ref.as_deref()).collect();
    for set in &draft.group_sets {
        if existing_sets.contains(&set.source_ref.as_str()) {
            continue;
        }
        let mut members = Vec::with_capacity(set.groups.len());
        for reference in &set.groups {
            let group = match groups.get(reference.as_str()) {
                Some(group) => *group,
                None => match existing.group_by_ref(reference) {
                    Some(group) => PlannedGroup::Existing(group.id),
                    None => {
                        let at = hygeia_formats::Located {
                            file: draft.file.clone(),
                            part: Some(format!("group set {}", set.name)),
                            ..Default::default()
                        };
                        return Err(FormatError::invalid(at, format!("unknown group \"{reference}\"")));
                    }
                },
            };
            if !members.contains(&group) {
                members.push(group);
            }
        }
        plan.new_group_sets.push(PlannedGroupSet {
            name: set.name.clone(),
            source_ref: Some(set.source_ref.clone()),
            groups: members,
        });
    }

    for &i in &order {
        let node = &nodes[i];
        let type_id = level_types.get(node.level).copied().flatten();
        // The parent as a unit of the version, when it is one (or will stay one).
        let parent_existing = match parents[i] {
            Resolved::Root => Some(None),
            Resolved::Existing(id) => Some(Some(id)),
            Resolved::Node(j) => matched[j].map(Some),
        };
        let found = match &node.source_ref {
            Some(reference) => existing.unit_by_ref(reference).map(|u| u.id),
            None => parent_existing.and_then(|parent| {
                let key = (parent, node.name.trim().to_owned(), type_id);
                let candidates = existing.by_key.get(&key)?;
                let taken = taken_keys.entry((parent, node.name.trim(), type_id)).or_insert(0);
                let unit = candidates.get(*taken)?;
                *taken += 1;
                Some(existing.units[*unit].id)
            }),
        };
        let mut counted_unchanged = false;
        let planned_unit = match found {
            Some(id) => {
                matched[i] = Some(id);
                let current = &existing.units[existing.by_id[&id]];
                let mut update = OrgUnitUpdate::default();
                let mut new_parent = None;
                if current.name != node.name.trim() {
                    update.name = Some(node.name.trim().to_owned());
                }
                // A level whose type does not exist yet: the type is created and set later.
                if type_id.is_none() || current.org_unit_type_id != type_id {
                    update.org_unit_type_id = Some(type_id);
                }
                match (parents[i], parent_existing) {
                    (_, Some(parent)) if parent != current.parent_id => update.parent_id = Some(parent),
                    (Resolved::Node(j), None) => new_parent = create_index[j],
                    _ => {}
                }
                if let Some(code) = &node.code
                    && current.code != code.trim()
                {
                    update.code = Some(code.trim().to_owned());
                }
                if let Some(opening) = node.opening_date
                    && current.opening_date != opening
                {
                    update.opening_date = Some(opening);
                }
                if let Some(closed) = node.closed_date
                    && current.closed_date != closed
                {
                    update.closed_date = Some(closed);
                }
                if let Some(location) = node.location
                    && current.location != Some(location)
                {
                    update.location = Some(Some(location));
                }
                let changed = update_changes_something(&update) || new_parent.is_some();
                let mut shape_check = false;
                if let Some(shape) = &node.shape {
                    update.shape = Some(Some(shape.clone()));
                    shape_check = current.has_shape;
                }
                if changed || node.shape.is_some() {
                    if shape_check {
                        plan.shape_checks.push(plan.updates.len());
                    }
                    plan.shape_only.push(!changed);
                    plan.updates.push((i, PlannedUpdate { id, update, new_parent }));
                } else {
                    plan.unchanged += 1;
                    counted_unchanged = true;
                }
                PlannedUnit::Existing(id)
            }
            None => {
                let parent = match parents[i] {
                    Resolved::Root => (None, None),
                    Resolved::Existing(id) => (Some(id), None),
                    Resolved::Node(j) => match matched[j] {
                        Some(id) => (Some(id), None),
                        None => (None, create_index[j]),
                    },
                };
                create_index[i] = Some(plan.created_nodes.len());
                plan.created_nodes.push(i);
                plan.create_parents.push(parent);
                PlannedUnit::New(plan.created_nodes.len() - 1)
            }
        };
        if let Some(refs) = &node.groups {
            let mut planned = Vec::with_capacity(refs.len());
            for reference in refs {
                let group = match groups.get(reference.as_str()) {
                    Some(group) => *group,
                    None => match existing.group_by_ref(reference) {
                        Some(group) => PlannedGroup::Existing(group.id),
                        None => {
                            return Err(invalid(
                                node,
                                Some("group_refs"),
                                format!(
                                    "unknown group \"{reference}\": it is neither in the file's groups nor in the target version"
                                ),
                            ));
                        }
                    },
                };
                if !planned.contains(&group) {
                    planned.push(group);
                }
            }
            let unchanged_groups = match planned_unit {
                PlannedUnit::Existing(id) => {
                    let mut now: Vec<PlannedGroup> = existing
                        .memberships
                        .get(&id)
                        .into_iter()
                        .flatten()
                        .map(|g| PlannedGroup::Existing(*g))
                        .collect();
                    let mut wanted = planned.clone();
                    now.sort_by_key(group_key);
                    wanted.sort_by_key(group_key);
                    now == wanted
                }
                PlannedUnit::New(_) => planned.is_empty(),
            };
            if !unchanged_groups {
                plan.memberships.push((planned_unit, planned));
                // A unit whose only change is its groups counts as updated.
                if counted_unchanged {
                    plan.unchanged -= 1;
                    plan.groups_only += 1;
                }
            }
        }
    }
    plan.updated = plan.updates.len() + plan.groups_only;
    Ok(plan)
}

fn group_key(group: &PlannedGroup) -> (bool, i64) {
    match group {
        PlannedGroup::New(i) => (true, *i as i64),
        PlannedGroup::Existing(id) => (false, id.0),
    }
}

fn update_changes_something(update: &OrgUnitUpdate) -> bool {
    update.name.is_some()
        || update.parent_id.is_some()
        || update.org_unit_type_id.is_some()
        || update.code.is_some()
        || update.opening_date.is_some()
        || update.closed_date.is_some()
        || update.location.is_some()
        || update.shape.is_some()
}

/// The nodes in an order where every parent of the file comes before its children; a cycle of
/// parents is refused, naming its units.
fn parents_first(draft: &TreeDraft, parents: &[Resolved]) -> Result<Vec<usize>, FormatError> {
    let n = parents.len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut roots = Vec::new();
    for (i, parent) in parents.iter().enumerate() {
        match parent {
            Resolved::Node(j) => children[*j].push(i),
            _ => roots.push(i),
        }
    }
    let mut order = Vec::with_capacity(n);
    let mut queue: VecDeque<usize> = roots.into();
    while let Some(i) = queue.pop_front() {
        order.push(i);
        queue.extend(children[i].iter().copied());
    }
    if order.len() < n {
        let mut seen = vec![false; n];
        for &i in &order {
            seen[i] = true;
        }
        let start = (0..n).find(|&i| !seen[i]).unwrap_or(0);
        // Walk up from a unit left out until a unit repeats: that is the cycle.
        let mut path = vec![start];
        let mut at = start;
        while let Resolved::Node(j) = parents[at] {
            if let Some(p) = path.iter().position(|&k| k == j) {
                path.drain(..p);
                break;
            }
            path.push(j);
            at = j;
        }
        let names: Vec<String> = path
            .iter()
            .map(|&k| draft.nodes[k].source_ref.clone().unwrap_or_else(|| draft.nodes[k].name.clone()))
            .collect();
        let node = &draft.nodes[path[0]];
        return Err(FormatError::invalid(
            draft.at(node, Some("parent_ref")),
            format!("the parents form a cycle: {} → {}", names.join(" → "), names[0]),
        ));
    }
    Ok(order)
}

impl Plan {
    /// Drops new shapes equal to the stored ones (the rest of such an update may stay).
    async fn drop_unchanged_shapes(&mut self, store: &DynStore, account: AccountId) -> Result<(), ImportError> {
        let ids: Vec<OrgUnitId> = self.shape_checks.iter().map(|&u| self.updates[u].1.id).collect();
        let mut stored: HashMap<OrgUnitId, Vec<u8>> = HashMap::new();
        for chunk in ids.chunks(500) {
            stored.extend(store.org_units().shapes_wkb(account, chunk, false).await?);
        }
        let regrouped: std::collections::HashSet<OrgUnitId> = self
            .memberships
            .iter()
            .filter_map(|(unit, _)| match unit {
                PlannedUnit::Existing(id) => Some(*id),
                PlannedUnit::New(_) => None,
            })
            .collect();
        let mut dropped = Vec::new();
        for &u in &self.shape_checks {
            let (_, planned) = &mut self.updates[u];
            let same =
                matches!(&planned.update.shape, Some(Some(shape)) if stored.get(&planned.id) == Some(&shape.full_wkb));
            if same {
                planned.update.shape = None;
                if self.shape_only[u] {
                    dropped.push(u);
                }
            }
        }
        let mut keep = vec![true; self.updates.len()];
        for &u in &dropped {
            keep[u] = false;
            // Still updated when its groups change.
            if !regrouped.contains(&self.updates[u].1.id) {
                self.updated -= 1;
                self.unchanged += 1;
            }
        }
        let mut k = 0;
        self.updates.retain(|_| {
            k += 1;
            keep[k - 1]
        });
        self.shape_checks.clear();
        Ok(())
    }

    fn changes(
        &self,
        draft: &TreeDraft,
        version: SourceVersionId,
        level_types: &[OrgUnitTypeId],
        audit_source: &str,
    ) -> TreeChanges {
        let mut changes = TreeChanges::new(version, audit_source);
        changes.creates = self
            .created_nodes
            .iter()
            .zip(&self.create_parents)
            .map(|(&n, (parent, _))| {
                let node = &draft.nodes[n];
                let mut unit = NewOrgUnit::new(version, node.name.trim());
                unit.parent_id = *parent;
                unit.validation_status = self.validation_status;
                unit.org_unit_type_id = level_types.get(node.level).copied();
                unit.source_ref = node.source_ref.clone();
                unit.code = node.code.clone().unwrap_or_default();
                unit.location = node.location;
                unit.shape = node.shape.clone();
                unit.opening_date = node.opening_date.flatten();
                unit.closed_date = node.closed_date.flatten();
                unit
            })
            .collect();
        changes.create_parents = self.create_parents.iter().map(|(_, batch)| *batch).collect();
        changes.updates = self
            .updates
            .iter()
            .map(|(n, planned)| {
                let mut planned = planned.clone();
                // A type created by this import: known only now.
                if planned.update.org_unit_type_id == Some(None) {
                    planned.update.org_unit_type_id = Some(level_types.get(draft.nodes[*n].level).copied());
                }
                planned
            })
            .collect();
        changes.new_groups = self.new_groups.clone();
        changes.renamed_groups = self.renamed_groups.clone();
        changes.memberships = self.memberships.clone();
        changes.new_group_sets = self.new_group_sets.clone();
        changes
    }

    /// A store refusal named `units[i].field` or `updates[i].field`, told as the file's row.
    fn locate(&self, draft: &TreeDraft, err: StoreError) -> ImportError {
        let StoreError::Invalid(ValidationError(fields)) = &err else { return err.into() };
        let Some((field, messages)) = fields.0.iter().next() else { return err.into() };
        let index = |prefix: &str| -> Option<(usize, String)> {
            let rest = field.strip_prefix(prefix)?;
            let (i, tail) = rest.split_once(']')?;
            Some((i.parse().ok()?, tail.trim_start_matches('.').to_owned()))
        };
        let node = if let Some((i, column)) = index("units[") {
            self.created_nodes.get(i).map(|&n| (n, column))
        } else if let Some((i, column)) = index("updates[") {
            self.updates.get(i).map(|(n, _)| (*n, column))
        } else {
            None
        };
        match node {
            Some((n, column)) => {
                let column = (!column.is_empty()).then_some(column);
                FormatError::invalid(draft.at(&draft.nodes[n], column.as_deref()), messages.join(" ")).into()
            }
            None => err.into(),
        }
    }
}
