//! The account's org-unit types, data sources and versions: what every org-unit response names
//! besides the units. Loaded once per change of the account's georegistry (its `tree_version`)
//! and shared by the requests in between, so that reading a unit costs one version check instead
//! of four queries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hygeia_core::{AccountId, DataSource, DataSourceId, OrgUnitType, OrgUnitTypeId, SourceVersion, SourceVersionId};

use crate::error::ApiResult;
use crate::state::AppState;

pub struct Catalog {
    pub types: HashMap<OrgUnitTypeId, OrgUnitType>,
    pub versions: HashMap<SourceVersionId, SourceVersion>,
    pub sources: HashMap<DataSourceId, DataSource>,
}

#[derive(Default)]
pub struct CatalogCache {
    entries: Mutex<HashMap<AccountId, (i64, Arc<Catalog>)>>,
}

impl CatalogCache {
    fn get(&self, account: AccountId, version: i64) -> Option<Arc<Catalog>> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(&account).filter(|(v, _)| *v == version).map(|(_, catalog)| catalog.clone())
    }

    fn put(&self, account: AccountId, version: i64, catalog: Arc<Catalog>) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(account, (version, catalog));
    }
}

/// The account's catalog as of now.
pub async fn catalog(state: &AppState, account: AccountId) -> ApiResult<Arc<Catalog>> {
    let store = &state.store;
    // Read before loading: a change in between makes the next request load again.
    let version = store.accounts().tree_version(account).await?;
    if let Some(catalog) = state.catalogs.get(account, version) {
        return Ok(catalog);
    }
    let catalog = Arc::new(Catalog {
        types: store.org_unit_types().list(account).await?.into_iter().map(|t| (t.id, t)).collect(),
        versions: store.sources().versions(account, None).await?.into_iter().map(|v| (v.id, v)).collect(),
        sources: store.sources().sources(account).await?.into_iter().map(|s| (s.id, s)).collect(),
    });
    state.catalogs.put(account, version, catalog.clone());
    Ok(catalog)
}
