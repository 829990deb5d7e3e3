//! Imports of whole trees: a file read into a draft (`hygeia-formats`), then written in one
//! transaction into a version of a data source, with one org-unit type per level. The CLI
//! (`hygeia import ...`) and, later, the import tasks share this code and its summary.

use hygeia_core::{
    AccountId, DataSourceInput, NewOrgUnit, OrgUnitQuery, OrgUnitScope, OrgUnitTypeId, OrgUnitTypeInput,
    SourceVersionId, UserId, ValidationStatus,
};
use hygeia_formats::{FormatError, TreeDraft};
use hygeia_jobs::{ProgressReporter, Stop};
use hygeia_store::{DynStore, StoreError};

/// Where an import goes.
#[derive(Debug, Clone)]
pub struct ImportTarget {
    pub account: AccountId,
    /// Found by name, or created.
    pub source_name: String,
    /// An existing empty version of the source, or one to create; `None`: the source's next version.
    pub version_number: Option<i64>,
    pub validation_status: ValidationStatus,
    pub actor: Option<UserId>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "version {0} of this source already has org units; importing into it (updating) is not supported yet: import into a new version"
    )]
    VersionNotEmpty(i64),
    #[error("stopped: {0}")]
    Stopped(#[from] Stop),
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    pub version_id: SourceVersionId,
    pub version_number: i64,
    pub created: usize,
    /// Units created per level, top first: (type name, count).
    pub by_level: Vec<(String, usize)>,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let levels: Vec<String> = self.by_level.iter().map(|(name, n)| format!("{n} {name}")).collect();
        write!(
            f,
            "created {} org units in version {} ({}); updated 0, unchanged 0, refused 0",
            self.created,
            self.version_number,
            levels.join(", ")
        )
    }
}

/// Writes `draft` into the target. Every unit is checked before anything is written, and the
/// units are created in one transaction: a refused draft leaves the tree as it was.
pub async fn import_draft(
    store: &DynStore,
    target: &ImportTarget,
    draft: &TreeDraft,
    progress: &dyn ProgressReporter,
) -> Result<ImportSummary, ImportError> {
    let total = draft.nodes.len() as i64;
    progress.step(0, total, "checking the units").await?;
    let mut units: Vec<NewOrgUnit> = draft
        .nodes
        .iter()
        .map(|node| {
            let mut unit = NewOrgUnit::new(SourceVersionId(0), node.name.clone());
            unit.validation_status = target.validation_status;
            unit.location = node.location;
            unit.source_ref = node.source_ref.clone();
            unit
        })
        .collect();
    for (unit, node) in units.iter().zip(&draft.nodes) {
        unit.validate().map_err(|err| {
            let at =
                hygeia_formats::Located { file: draft.file.clone(), part: None, row: Some(node.row), column: None };
            FormatError::invalid(at, err.to_string())
        })?;
    }

    let account = target.account;
    let sources = store.sources().sources(account).await?;
    let source = match sources.into_iter().find(|s| s.name == target.source_name) {
        Some(source) => source,
        None => {
            let input = DataSourceInput { name: target.source_name.clone(), ..Default::default() };
            store.sources().create_source(account, input).await?
        }
    };
    let versions = store.sources().versions(account, Some(source.id)).await?;
    let version = match target.version_number.and_then(|n| versions.iter().find(|v| v.number == n)) {
        Some(existing) => {
            let query = OrgUnitQuery { version_ids: vec![existing.id], page: Some((1, 0)), ..Default::default() };
            if store.org_units().list(&OrgUnitScope::whole_account(account), &query).await?.count > 0 {
                return Err(ImportError::VersionNotEmpty(existing.number));
            }
            existing.clone()
        }
        None => store.sources().create_version(account, source.id, "imported").await?,
    };
    if source.default_version_id.is_none() {
        store.sources().set_source_default_version(account, version.id).await?;
    }

    // One type per level, found by name or created; each level's type lists the next one below it.
    let existing_types = store.org_unit_types().list(account).await?;
    let mut level_types: Vec<OrgUnitTypeId> = Vec::new();
    for (depth, name) in draft.levels.iter().enumerate().rev() {
        let below: Vec<OrgUnitTypeId> = level_types.last().copied().into_iter().collect();
        let id = match existing_types.iter().find(|t| &t.name == name) {
            Some(found) => found.id,
            None => {
                let input = OrgUnitTypeInput {
                    name: name.clone(),
                    short_name: name.chars().take(4).collect(),
                    depth: Some(depth as i64 + 1),
                    sub_unit_types: below,
                    ..Default::default()
                };
                store.org_unit_types().create(account, target.actor, input).await?.id
            }
        };
        level_types.push(id);
    }
    level_types.reverse();

    for (unit, node) in units.iter_mut().zip(&draft.nodes) {
        unit.version_id = version.id;
        unit.org_unit_type_id = level_types.get(node.level).copied();
    }
    let parents: Vec<Option<usize>> = draft.nodes.iter().map(|n| n.parent).collect();
    progress.step(0, total, "creating the units").await?;
    let scope = OrgUnitScope::whole_account(account);
    let ids = store.org_units().create_tree(&scope, target.actor, &units, &parents).await?;
    progress.step(total, total, &format!("{} org units created", ids.len())).await?;
    store.optimize().await?;
    let by_level = draft.levels.iter().cloned().zip(draft.counts_by_level()).collect();
    Ok(ImportSummary { version_id: version.id, version_number: version.number, created: ids.len(), by_level })
}
