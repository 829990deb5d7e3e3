//! Picks the storage backend from the database URL.

use std::path::Path;
use std::sync::Arc;

use hygeia_store::{DynStore, StoreError};
use hygeia_store_postgres::PostgresStore;
use hygeia_store_sqlite::SqliteStore;

use crate::settings::backend_of;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("unsupported database URL {0:?}: use sqlite://path/to/file.db or postgres://user@host/database")]
    UnsupportedUrl(String),
    #[error("cannot create the directory {path} for the SQLite database: {source}")]
    Directory { path: String, source: std::io::Error },
    #[error("cannot open the database: {0}")]
    Open(#[source] StoreError),
}

/// Connects to the database named by `url` (without migrating). For a SQLite file, its directory
/// is created first, so the embedded defaults work on a fresh machine.
pub async fn connect(url: &str) -> Result<DynStore, BackendError> {
    match backend_of(url) {
        Some("sqlite") => {
            if let Some(dir) = sqlite_directory(url) {
                std::fs::create_dir_all(&dir)
                    .map_err(|source| BackendError::Directory { path: dir.display().to_string(), source })?;
            }
            Ok(Arc::new(SqliteStore::connect(url).await.map_err(BackendError::Open)?))
        }
        Some("postgres") => Ok(Arc::new(PostgresStore::connect(url).await.map_err(BackendError::Open)?)),
        _ => Err(BackendError::UnsupportedUrl(url.to_owned())),
    }
}

/// The directory holding a SQLite database file, if the URL names a file.
fn sqlite_directory(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_directories() {
        assert_eq!(sqlite_directory("sqlite://./data/hygeia.db"), Some("./data".into()));
        assert_eq!(sqlite_directory("sqlite:///var/lib/hygeia/db.sqlite?mode=rwc"), Some("/var/lib/hygeia".into()));
        assert_eq!(sqlite_directory("sqlite::memory:"), None);
        assert_eq!(sqlite_directory("sqlite://hygeia.db"), None);
    }
}
