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

/// Ancestors kept between pages (a unit is a few hundred bytes).
const MAX_KNOWN_ANCESTORS: usize = 20_000;

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
pub struct UnitPages {
    store: DynStore,
    scope: OrgUnitScope,
    query: OrgUnitQuery,
    with_shapes: bool,
    known: HashMap<OrgUnitId, OrgUnit>,
    pub total: u64,
    done: bool,
}

impl UnitPages {
    pub async fn new(
        store: &DynStore,
        scope: OrgUnitScope,
        mut query: OrgUnitQuery,
        with_shapes: bool,
    ) -> Result<UnitPages, StoreError> {
        query.order = vec![(OrgUnitOrder::Id, false)];
        query.page = Some((0, 0));
        query.after_id = None;
        let total = store.org_units().list(&scope, &query).await?.count;
        Ok(UnitPages { store: store.clone(), scope, query, with_shapes, known: HashMap::new(), total, done: false })
    }

    pub async fn next(&mut self) -> Result<Option<UnitPage>, StoreError> {
        if self.done {
            return Ok(None);
        }
        // Keyset paging: each page starts after the last id of the one before.
        self.query.page = Some((PAGE, 0));
        let units = self.store.org_units().list(&self.scope, &self.query).await?.items;
        self.query.after_id = units.last().map(|u| u.id);
        if (units.len() as u64) < PAGE {
            self.done = true;
        }
        if units.is_empty() {
            return Ok(None);
        }
        let account = self.scope.account;
        // Ancestors are mostly the same few units page after page: fetched once, kept (bounded).
        let own: HashMap<OrgUnitId, &OrgUnit> = units.iter().map(|u| (u.id, u)).collect();
        let mut path_ids: Vec<OrgUnitId> =
            units.iter().flat_map(|u| u.path.ids()).filter(|id| !own.contains_key(id)).collect();
        path_ids.sort_unstable();
        path_ids.dedup();
        let missing: Vec<OrgUnitId> = path_ids.iter().copied().filter(|id| !self.known.contains_key(id)).collect();
        if self.known.len() + missing.len() > MAX_KNOWN_ANCESTORS {
            self.known.clear();
        }
        let fetched =
            self.store.org_units().by_ids(account, if self.known.is_empty() { &path_ids } else { &missing }).await?;
        self.known.extend(fetched.into_iter().map(|u| (u.id, u)));
        let mut ancestors: HashMap<OrgUnitId, OrgUnit> =
            path_ids.iter().filter_map(|id| self.known.get(id).map(|u| (*id, u.clone()))).collect();
        ancestors.extend(own.into_iter().map(|(id, u)| (id, u.clone())));
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

/// Iaso's org-unit table (CSV and XLSX exports, §4.5 of the reference): one row per unit, its
/// parents nearest first, then one 0/1 column per group.
pub struct UnitTable {
    types: HashMap<OrgUnitTypeId, OrgUnitType>,
    sources: HashMap<hygeia_core::SourceVersionId, String>,
    users: HashMap<hygeia_core::UserId, String>,
    groups: Vec<Group>,
}

/// Parents shown per row, as in Iaso.
const PARENT_COLUMNS: usize = 4;

impl UnitTable {
    /// The group columns are the groups (with members) of the versions the query reads, known
    /// before the first row so that the table can be streamed.
    pub async fn new(store: &DynStore, account: AccountId, query: &OrgUnitQuery) -> Result<UnitTable, StoreError> {
        let types = types_by_id(store, account).await?;
        let sources_by_id: HashMap<_, _> =
            store.sources().sources(account).await?.into_iter().map(|s| (s.id, s.name)).collect();
        let sources = store
            .sources()
            .versions(account, None)
            .await?
            .into_iter()
            .map(|v| (v.id, sources_by_id.get(&v.data_source_id).cloned().unwrap_or_default()))
            .collect();
        let users = store.users().list(account).await?.into_iter().map(|u| (u.user_id, u.username)).collect();
        let mut groups: Vec<Group> = store
            .groups()
            .list(account, &query.version_ids)
            .await?
            .into_iter()
            .filter(|g| g.org_unit_count > 0)
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(UnitTable { types, sources, users, groups })
    }

    pub fn header(&self) -> Vec<String> {
        let mut columns: Vec<String> = [
            "ID",
            "Nom",
            "Type",
            "Latitude",
            "Longitude",
            "Date d'ouverture",
            "Date de fermeture",
            "Date de création",
            "Date de modification",
            "Créé par",
            "Source",
            "Validé",
            "Référence externe",
        ]
        .map(String::from)
        .to_vec();
        columns.extend((1..=PARENT_COLUMNS).map(|i| format!("parent {i}")));
        columns.extend((1..=PARENT_COLUMNS).map(|i| format!("Ref Ext parent {i}")));
        columns.push("Total de soumissions".into());
        columns.extend(self.groups.iter().map(|g| g.name.clone()));
        columns
    }

    pub fn row(&self, page: &UnitPage, unit: &OrgUnit) -> Vec<String> {
        let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
        let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
        let mut row = vec![
            unit.id.0.to_string(),
            unit.name.clone(),
            unit.org_unit_type_id.and_then(|t| self.types.get(&t)).map(|t| t.name.clone()).unwrap_or_default(),
            unit.location.map(|l| l.latitude.to_string()).unwrap_or_default(),
            unit.location.map(|l| l.longitude.to_string()).unwrap_or_default(),
            date(unit.opening_date),
            date(unit.closed_date),
            time(unit.created_at),
            time(unit.updated_at),
            unit.creator_id.and_then(|u| self.users.get(&u)).cloned().unwrap_or_default(),
            self.sources.get(&unit.version_id).cloned().unwrap_or_default(),
            unit.validation_status.as_str().to_owned(),
            reference(unit),
        ];
        let ancestors = page.ancestors(unit);
        row.extend((0..PARENT_COLUMNS).map(|i| ancestors.get(i).map(|a| a.name.clone()).unwrap_or_default()));
        row.extend((0..PARENT_COLUMNS).map(|i| ancestors.get(i).map(|a| reference(a)).unwrap_or_default()));
        // Submissions arrive with issue 7; until then every count is 0.
        row.push("0".into());
        let member_of = page.groups(unit);
        row.extend(
            self.groups.iter().map(|g| if member_of.iter().any(|m| m.id == g.id) { "1" } else { "0" }.to_owned()),
        );
        row
    }
}

/// The CSV export as a stream of chunks, one per page (constant memory whatever the size), and
/// how many units it holds.
pub async fn csv_stream(
    store: &DynStore,
    scope: OrgUnitScope,
    query: OrgUnitQuery,
) -> Result<(u64, impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + use<>), StoreError> {
    let table = UnitTable::new(store, scope.account, &query).await?;
    let pages = UnitPages::new(store, scope, query, false).await?;
    let mut header = csv::Writer::from_writer(Vec::new());
    header.write_record(table.header()).map_err(|e| StoreError::backend(std::io::Error::other(e)))?;
    let first = header.into_inner().unwrap_or_default();
    let total = pages.total;
    let state = (Some(first), pages, table);
    let stream = futures_util::stream::unfold(state, |(first, mut pages, table)| async move {
        if let Some(first) = first {
            return Some((Ok(bytes::Bytes::from(first)), (None, pages, table)));
        }
        match pages.next().await {
            Ok(Some(page)) => {
                let mut out = csv::Writer::from_writer(Vec::with_capacity(page.units.len() * 160));
                for unit in &page.units {
                    if let Err(err) = out.write_record(table.row(&page, unit)) {
                        return Some((Err(std::io::Error::other(err)), (None, pages, table)));
                    }
                }
                let chunk = out.into_inner().unwrap_or_default();
                Some((Ok(bytes::Bytes::from(chunk)), (None, pages, table)))
            }
            Ok(None) => None,
            // The client sees a cut-off body; the log says why.
            Err(err) => {
                tracing::error!(error = %err, "the CSV export failed midway");
                Some((Err(std::io::Error::other(err.to_string())), (None, pages, table)))
            }
        }
    });
    Ok((total, stream))
}

/// The XLSX export, written to `path` row by row (rust_xlsxwriter's constant-memory mode).
pub async fn export_xlsx(
    store: &DynStore,
    scope: OrgUnitScope,
    query: OrgUnitQuery,
    path: &Path,
    progress: &dyn ProgressReporter,
) -> Result<u64, ExportError> {
    use rust_xlsxwriter::Workbook;
    let xlsx =
        |e: rust_xlsxwriter::XlsxError| FormatError::Io { file: "XLSX".into(), source: std::io::Error::other(e) };
    let table = UnitTable::new(store, scope.account, &query).await?;
    let mut pages = UnitPages::new(store, scope, query, false).await?;
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet_with_constant_memory().map_err(xlsx)?;
    sheet.set_name("Org units").map_err(xlsx)?;
    for (c, title) in table.header().iter().enumerate() {
        sheet.write_string(0, c as u16, title).map_err(xlsx)?;
    }
    let mut row = 0u32;
    while let Some(page) = pages.next().await? {
        for unit in &page.units {
            row += 1;
            for (c, value) in table.row(&page, unit).iter().enumerate() {
                // Ids and counts as numbers, so that spreadsheets sum and sort them.
                let numeric = c == 0 || c >= 13 + 2 * PARENT_COLUMNS;
                match value.parse::<f64>() {
                    Ok(n) if numeric => sheet.write_number(row, c as u16, n).map_err(xlsx)?,
                    _ if value.is_empty() => sheet,
                    _ => sheet.write_string(row, c as u16, value).map_err(xlsx)?,
                };
            }
        }
        progress.step(row as i64, pages.total as i64, "writing the spreadsheet").await?;
    }
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || workbook.save(&path))
        .await
        .map_err(|e| FormatError::Io { file: "XLSX".into(), source: std::io::Error::other(e) })?
        .map_err(xlsx)?;
    Ok(row as u64)
}

/// The export formats, by the name the API, the tasks and the CLI use.
pub const FORMATS: &[&str] = &["csv", "xlsx", "gpkg", "geojson"];

/// Writes the matching units to a new file at `path` in `format` (one of [`FORMATS`]); returns
/// how many. A failed export removes what it wrote.
pub async fn export_to_file(
    store: &DynStore,
    scope: OrgUnitScope,
    query: OrgUnitQuery,
    format: &str,
    path: &Path,
    progress: &dyn ProgressReporter,
) -> Result<u64, ExportError> {
    let io = |source| FormatError::Io { file: path.display().to_string(), source };
    let written = match format {
        "gpkg" => export_gpkg(store, scope, query, path, progress).await,
        "xlsx" => export_xlsx(store, scope, query, path, progress).await,
        "csv" => write_csv(store, scope, query, path, progress).await,
        "geojson" => match std::fs::File::create(path) {
            Ok(file) => export_geojson(store, scope, query, std::io::BufWriter::new(file), progress).await,
            Err(err) => Err(io(err).into()),
        },
        other => {
            Err(FormatError::mapping("format", format!("\"{other}\" is not one of {}.", FORMATS.join(", "))).into())
        }
    };
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

async fn write_csv(
    store: &DynStore,
    scope: OrgUnitScope,
    query: OrgUnitQuery,
    path: &Path,
    progress: &dyn ProgressReporter,
) -> Result<u64, ExportError> {
    use futures_util::StreamExt;
    use std::io::Write;
    let io = |source| FormatError::Io { file: path.display().to_string(), source };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let (total, chunks) = csv_stream(store, scope, query).await?;
    let mut chunks = std::pin::pin!(chunks);
    // The header, then one chunk per page of units.
    let mut chunks_written = 0u64;
    while let Some(chunk) = chunks.next().await {
        out.write_all(&chunk.map_err(io)?).map_err(io)?;
        let units = (chunks_written * PAGE).min(total);
        chunks_written += 1;
        progress.step(units as i64, total as i64, "writing the CSV").await?;
    }
    out.flush().map_err(io)?;
    Ok(total)
}

/// A file read in 64 KiB chunks, for a response body.
pub fn file_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut buffer = vec![0u8; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(bytes::Bytes::from(buffer)), Some(file)))
            }
            Err(err) => Some((Err(err), None)),
        }
    })
}
