//! Exports of org units (a version, or the list's selection) to files, a page at a time: memory
//! stays flat whatever the tree's size. The list's `csv=true`/`gpkg=true`, the export tasks and
//! `hygeia export ...` share this code.

use std::collections::HashMap;
use std::path::Path;

use hygeia_core::{
    AccountId, Group, OrgUnit, OrgUnitId, OrgUnitOrder, OrgUnitQuery, OrgUnitScope, OrgUnitType, OrgUnitTypeId,
};
use hygeia_formats::FormatError;
use hygeia_formats::gpkg::{ExportGroup, ExportUnit, GpkgWriter};
use hygeia_jobs::{ProgressReporter, Stop};
use hygeia_store::{DynStore, StoreError};

/// Units per page: large enough for few round trips, small enough that a page of boundaries
/// stays a few megabytes.
const PAGE: u64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stopped: {0}")]
    Stopped(#[from] Stop),
}

/// One page of units, with what their rows show: ancestors, groups and (when asked) boundaries.
pub struct UnitPage {
    pub units: Vec<OrgUnit>,
    ancestors: HashMap<OrgUnitId, OrgUnit>,
    groups: HashMap<OrgUnitId, Vec<Group>>,
    shapes: HashMap<OrgUnitId, Vec<u8>>,
}

impl UnitPage {
    /// Ancestors nearest first (parent, grandparent, ...).
    pub fn ancestors(&self, unit: &OrgUnit) -> Vec<&OrgUnit> {
        let mut ids = unit.path.ids();
        ids.pop();
        ids.iter().rev().filter_map(|id| self.ancestors.get(id)).collect()
    }

    pub fn parent(&self, unit: &OrgUnit) -> Option<&OrgUnit> {
        unit.parent_id.and_then(|p| self.ancestors.get(&p))
    }

    pub fn groups(&self, unit: &OrgUnit) -> &[Group] {
        self.groups.get(&unit.id).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn shape(&self, unit: &OrgUnit) -> Option<&Vec<u8>> {
        self.shapes.get(&unit.id)
    }
}

/// Pages through the units matching `query` (its paging is replaced), in id order.
pub struct UnitPages<'a> {
    store: &'a DynStore,
    scope: OrgUnitScope,
    query: OrgUnitQuery,
    with_shapes: bool,
    offset: u64,
    pub total: u64,
    done: bool,
}

impl<'a> UnitPages<'a> {
    pub async fn new(
        store: &'a DynStore,
        scope: OrgUnitScope,
        mut query: OrgUnitQuery,
        with_shapes: bool,
    ) -> Result<UnitPages<'a>, StoreError> {
        query.order = vec![(OrgUnitOrder::Id, false)];
        query.page = Some((0, 0));
        let total = store.org_units().list(&scope, &query).await?.count;
        Ok(UnitPages { store, scope, query, with_shapes, offset: 0, total, done: false })
    }

    pub async fn next(&mut self) -> Result<Option<UnitPage>, StoreError> {
        if self.done {
            return Ok(None);
        }
        self.query.page = Some((PAGE, self.offset));
        let units = self.store.org_units().list(&self.scope, &self.query).await?.items;
        self.offset += units.len() as u64;
        if (units.len() as u64) < PAGE {
            self.done = true;
        }
        if units.is_empty() {
            return Ok(None);
        }
        let account = self.scope.account;
        let mut wanted: Vec<OrgUnitId> = units.iter().flat_map(|u| u.path.ids()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let ancestors = self.store.org_units().by_ids(account, &wanted).await?.into_iter().map(|u| (u.id, u)).collect();
        let ids: Vec<OrgUnitId> = units.iter().map(|u| u.id).collect();
        let mut groups: HashMap<OrgUnitId, Vec<Group>> = HashMap::new();
        for (unit, group) in self.store.groups().groups_of(account, &ids).await? {
            groups.entry(unit).or_default().push(group);
        }
        let shapes = if self.with_shapes {
            let shaped: Vec<OrgUnitId> = units.iter().filter(|u| u.has_shape).map(|u| u.id).collect();
            self.store.org_units().shapes_wkb(account, &shaped, false).await?.into_iter().collect()
        } else {
            HashMap::new()
        };
        Ok(Some(UnitPage { units, ancestors, groups, shapes }))
    }
}

/// A unit's reference in exports: its `source_ref`, else `iaso:<id>` (which imports read back).
pub fn reference(unit: &OrgUnit) -> String {
    unit.source_ref.clone().filter(|r| !r.trim().is_empty()).unwrap_or_else(|| format!("iaso:{}", unit.id))
}

pub fn group_reference(group: &Group) -> String {
    group.source_ref.clone().filter(|r| !r.trim().is_empty()).unwrap_or_else(|| format!("iaso:{}", group.id))
}

/// The account's types by id.
pub async fn types_by_id(
    store: &DynStore,
    account: AccountId,
) -> Result<HashMap<OrgUnitTypeId, OrgUnitType>, StoreError> {
    Ok(store.org_unit_types().list(account).await?.into_iter().map(|t| (t.id, t)).collect())
}

/// Writes the matching units to a new GeoPackage in Iaso's format; returns how many.
pub async fn export_gpkg(
    store: &DynStore,
    scope: OrgUnitScope,
    query: OrgUnitQuery,
    path: &Path,
    progress: &dyn ProgressReporter,
) -> Result<u64, ExportError> {
    let types = types_by_id(store, scope.account).await?;
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut pages = UnitPages::new(store, scope, query, true).await?;
    let mut writer = GpkgWriter::create(path, &file).await?;
    let mut groups: HashMap<hygeia_core::GroupId, ExportGroup> = HashMap::new();
    let mut written = 0u64;
    progress.step(0, pages.total as i64, "writing the GeoPackage").await?;
    while let Some(page) = pages.next().await? {
        for unit in &page.units {
            let unit_type = unit.org_unit_type_id.and_then(|t| types.get(&t));
            let label = |u: &OrgUnit| {
                let type_name = u.org_unit_type_id.and_then(|t| types.get(&t)).map(|t| t.name.as_str()).unwrap_or("");
                format!("{} ({type_name})", u.name)
            };
            let unit_groups = page.groups(unit);
            for group in unit_groups {
                groups
                    .entry(group.id)
                    .or_insert_with(|| ExportGroup { source_ref: group_reference(group), name: group.name.clone() });
            }
            let row = ExportUnit {
                id: unit.id.0,
                name: unit.name.clone(),
                source_ref: reference(unit),
                code: unit.code.clone(),
                parent: page.parent(unit).map(label),
                parent_ref: page.parent(unit).map(reference),
                group_refs: unit_groups.iter().map(group_reference).collect(),
                group_names: unit_groups.iter().map(|g| g.name.clone()).collect(),
                uuid: unit.uuid.clone(),
                opening_date: unit.opening_date,
                closed_date: unit.closed_date,
                depth: unit_type.and_then(|t| t.depth),
                type_name: unit_type.map(|t| t.name.clone()),
                location: unit.location,
                shape_wkb: page.shape(unit).cloned(),
            };
            writer.add(&row).await?;
            written += 1;
        }
        progress.step(written as i64, pages.total as i64, "writing the GeoPackage").await?;
    }
    let mut groups: Vec<ExportGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| a.source_ref.cmp(&b.source_ref));
    writer.add_groups(&groups).await?;
    writer.finish().await?;
    Ok(written)
}

/// Writes the matching units as a GeoJSON FeatureCollection (boundaries in full, else points).
pub async fn export_geojson<W: std::io::Write>(
    store: &DynStore,
    scope: OrgUnitScope,
    query: OrgUnitQuery,
    out: W,
    progress: &dyn ProgressReporter,
) -> Result<u64, ExportError> {
    use hygeia_formats::geojson::{ExportFeature, GeoJsonWriter};
    let io = |source: std::io::Error| FormatError::Io { file: "GeoJSON".into(), source };
    let types = types_by_id(store, scope.account).await?;
    let mut pages = UnitPages::new(store, scope, query, true).await?;
    let mut writer = GeoJsonWriter::new(out).map_err(io)?;
    let mut written = 0u64;
    while let Some(page) = pages.next().await? {
        for unit in &page.units {
            let unit_type = unit.org_unit_type_id.and_then(|t| types.get(&t));
            let shape = page.shape(unit).and_then(|wkb| hygeia_geo::decode_multipolygon(wkb).ok());
            let source_ref = reference(unit);
            let parent_ref = page.parent(unit).map(reference);
            writer
                .add(&ExportFeature {
                    id: unit.id.0,
                    source_ref: &source_ref,
                    name: &unit.name,
                    parent_ref: parent_ref.as_deref(),
                    type_name: unit_type.map(|t| t.name.as_str()),
                    level: unit_type.and_then(|t| t.depth),
                    validation_status: unit.validation_status.as_str(),
                    code: &unit.code,
                    point: unit.location.map(|l| (l.longitude, l.latitude)),
                    shape: shape.as_ref(),
                })
                .map_err(io)?;
            written += 1;
        }
        progress.step(written as i64, pages.total as i64, "writing the GeoJSON").await?;
    }
    writer.finish().map_err(io)?;
    Ok(written)
}
