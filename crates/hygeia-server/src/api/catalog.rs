//! The account's org-unit types, data sources and versions: what every org-unit response names
//! besides the units. Loaded once per change of those (the account's `catalog_version`) and shared
//! by the requests in between, so that reading a unit costs one version check instead of four
//! queries, and creating one (a phone's upload) does not make the next request load them again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hygeia_core::{
    AccountId, DataSource, DataSourceId, OrgUnit, OrgUnitId, OrgUnitType, OrgUnitTypeId, SourceVersion, SourceVersionId,
};
use hygeia_store::RegistryVersions;

use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Clone)]
pub struct Catalog {
    /// The account's `tree_version` when this catalog was asked for (what the units shown beside
    /// it are cached under).
    pub tree_version: i64,
    pub types: HashMap<OrgUnitTypeId, OrgUnitType>,
    pub versions: HashMap<SourceVersionId, SourceVersion>,
    pub sources: HashMap<DataSourceId, DataSource>,
}

#[derive(Default)]
pub struct CatalogCache {
    entries: Mutex<HashMap<AccountId, (i64, Arc<Catalog>)>>,
}

impl CatalogCache {
    /// The catalog loaded at `versions.catalog`, under the current tree version.
    fn get(&self, account: AccountId, versions: RegistryVersions) -> Option<Arc<Catalog>> {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (_, catalog) = entries.get_mut(&account).filter(|(v, _)| *v == versions.catalog)?;
        if catalog.tree_version != versions.tree {
            // Units changed, not the catalog: the same tables, named under the new tree version.
            *catalog = Arc::new(Catalog { tree_version: versions.tree, ..Catalog::clone(catalog) });
        }
        Some(catalog.clone())
    }

    fn put(&self, account: AccountId, versions: RegistryVersions, catalog: Arc<Catalog>) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(account, (versions.catalog, catalog));
    }
}

/// The account's catalog as of now.
pub async fn catalog(state: &AppState, account: AccountId) -> ApiResult<Arc<Catalog>> {
    let store = &state.store;
    // Read before loading: a change in between makes the next request load again.
    let versions = store.accounts().registry_versions(account).await?;
    if let Some(catalog) = state.catalogs.get(account, versions) {
        return Ok(catalog);
    }
    let catalog = Arc::new(Catalog {
        tree_version: versions.tree,
        types: store.org_unit_types().list(account).await?.into_iter().map(|t| (t.id, t)).collect(),
        versions: store.sources().versions(account, None).await?.into_iter().map(|v| (v.id, v)).collect(),
        sources: store.sources().sources(account).await?.into_iter().map(|s| (s.id, s)).collect(),
    });
    state.catalogs.put(account, versions, catalog.clone());
    Ok(catalog)
}

/// Ancestors of the units being shown, per account, valid for one `tree_version`: the few thousand
/// regions, districts and areas above the facilities that lists and details show, read once per
/// change of the tree instead of once per request.
#[derive(Default)]
pub struct AncestorCache {
    entries: Mutex<HashMap<AccountId, (i64, HashMap<OrgUnitId, OrgUnit>)>>,
}

/// Most units kept per account; past it the account's entry starts over.
const MAX_CACHED_ANCESTORS: usize = 50_000;

impl AncestorCache {
    /// The units `ids` of the account as of `version`, from the cache or else from the store.
    pub async fn load(
        &self,
        state: &AppState,
        account: AccountId,
        version: i64,
        ids: &[OrgUnitId],
    ) -> ApiResult<HashMap<OrgUnitId, OrgUnit>> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let cached = entries.get(&account).filter(|(v, _)| *v == version).map(|(_, units)| units);
            for id in ids {
                match cached.and_then(|units| units.get(id)) {
                    Some(unit) => {
                        found.insert(*id, unit.clone());
                    }
                    None => missing.push(*id),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let loaded = state.store.org_units().by_ids(account, &missing).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = entries.entry(account).or_insert_with(|| (version, HashMap::new()));
        if entry.0 != version || entry.1.len() + loaded.len() > MAX_CACHED_ANCESTORS {
            *entry = (version, HashMap::new());
        }
        for unit in loaded {
            entry.1.insert(unit.id, unit.clone());
            found.insert(unit.id, unit);
        }
        Ok(found)
    }
}
