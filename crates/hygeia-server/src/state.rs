use std::sync::Arc;

use futures_util::StreamExt;
use hygeia_core::AccountId;
use hygeia_files::{FileError, FileResult, FileStore, FileStream};
use hygeia_store::{DynStore, INLINE_KEY_PREFIX};

use crate::api::catalog::{AncestorCache, CatalogCache};
use crate::auth::jwt::{TokenKeys, random_hex};
use crate::auth::throttle::LoginThrottle;
use crate::openrosa::BasicAuthCache;
use crate::recent::Recent;
use crate::settings::Settings;
use crate::submissions::SchemaCache;

/// What every handler can reach.
pub struct AppState {
    pub store: DynStore,
    pub settings: Settings,
    pub tokens: TokenKeys,
    pub login_throttle: LoginThrottle,
    /// Types, sources and versions per account, for org-unit responses.
    pub catalogs: CatalogCache,
    /// Ancestors of shown units, per account.
    pub ancestors: AncestorCache,
    /// Uploaded and generated files.
    pub files: FileStore,
    /// Form versions' schemas, for reading submissions.
    pub schemas: SchemaCache,
    /// Basic credentials of OpenRosa clients, verified recently.
    pub openrosa_logins: BasicAuthCache,
    /// Projects by app id, and forms with their version by (account, form id, version), as
    /// submissions look them up (see `recent`).
    pub recent_projects: Recent<String, hygeia_core::Project>,
    /// (Shared, not cloned: a version carries its whole descriptor.)
    pub recent_forms:
        Recent<(hygeia_core::AccountId, String, Option<String>), Arc<(hygeia_core::Form, hygeia_core::FormVersion)>>,
}

impl AppState {
    /// Forms, versions or projects changed: what submissions remember of them goes.
    pub fn forget_recent(&self) {
        self.recent_projects.clear();
        self.recent_forms.clear();
    }

    /// The project phones name by `app_id` (remembered a few seconds: every upload asks).
    pub async fn project_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Option<hygeia_core::Project>, hygeia_store::StoreError> {
        if let Some(project) = self.recent_projects.get(&app_id.to_owned()) {
            return Ok(Some(project));
        }
        let found = self.store.projects().find_by_app_id(app_id).await?;
        if let Some(project) = &found {
            self.recent_projects.put(app_id.to_owned(), project.clone());
        }
        Ok(found)
    }

    /// A file of `account`, wherever it is kept: in the database (a key that begins with
    /// [`INLINE_KEY_PREFIX`], a payload's small part) or in file storage.
    pub async fn open_file(&self, account: AccountId, key: &str) -> FileResult<FileStream> {
        if !key.starts_with(INLINE_KEY_PREFIX) {
            return self.files.open(account, key).await;
        }
        let bytes = self.store.submissions().inline_file(account, key).await.map_err(|err| match err {
            hygeia_store::StoreError::NotFound => FileError::NotFound,
            other => FileError::Read(other.to_string()),
        })?;
        let bytes = bytes.ok_or(FileError::NotFound)?;
        Ok(FileStream { size: bytes.len() as u64, chunks: futures_util::stream::iter([Ok(bytes.into())]).boxed() })
    }
}

pub type SharedState = Arc<AppState>;

const JWT_SECRET_NAME: &str = "jwt_signing_key";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid configuration: {0}")]
    Settings(String),
    #[error(transparent)]
    Store(#[from] hygeia_store::StoreError),
    #[error("file storage: {0}")]
    Files(#[from] hygeia_files::FileError),
}

impl AppState {
    /// Builds the state over a migrated store. The token key comes from the settings, or else from
    /// the database (generated on first start), so all servers on one database agree on it.
    pub async fn new(store: DynStore, settings: Settings) -> Result<SharedState, StartupError> {
        settings.validate().map_err(StartupError::Settings)?;
        // Computed now, off the async workers, rather than on the first failed login.
        let _ = tokio::task::spawn_blocking(crate::auth::password::decoy_hash).await;
        let secret = match &settings.auth.jwt_secret {
            Some(secret) if !secret.is_empty() => secret.clone(),
            _ => store.secrets().get_or_insert(JWT_SECRET_NAME, &random_hex(32)).await?,
        };
        let tokens = TokenKeys::new(
            secret.as_bytes(),
            settings.auth.access_token_ttl_secs,
            settings.auth.refresh_token_ttl_secs,
        );
        let login_throttle = LoginThrottle::new(settings.auth.login_failures_per_minute);
        let files = match &settings.storage.s3 {
            Some(s3) => FileStore::s3(s3)?,
            None => FileStore::local(std::path::Path::new(&settings.storage.path))?,
        };
        Ok(Arc::new(AppState {
            store,
            settings,
            tokens,
            login_throttle,
            catalogs: CatalogCache::default(),
            ancestors: AncestorCache::default(),
            files,
            schemas: SchemaCache::default(),
            openrosa_logins: BasicAuthCache::default(),
            recent_projects: Recent::default(),
            recent_forms: Recent::default(),
        }))
    }
}
