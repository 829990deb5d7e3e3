//! The conformance suite on SQLite: a fresh in-memory database per check.

use std::sync::Arc;

use hygeia_store::testing::TestStore;
use hygeia_store_sqlite::SqliteStore;

async fn fresh() -> Option<TestStore> {
    let store = SqliteStore::in_memory().await.expect("in-memory SQLite");
    Some(TestStore::new(Arc::new(store), None))
}

hygeia_store::conformance_suite!(fresh());

/// The on-disk path used by `hygeia serve`: WAL mode, and data that survives a reopen.
#[tokio::test]
async fn file_database_persists_across_reopen() {
    use hygeia_store::Store;
    let dir = std::env::temp_dir().join(format!("hygeia-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/reopen.db", dir.display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.expect("migrating twice is a no-op");
    let account = store.accounts().create(hygeia_core::NewAccount::named("Niger")).await.unwrap();
    store.close().await;

    let reopened = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(reopened.accounts().get(account.id).await.unwrap().map(|a| a.name).as_deref(), Some("Niger"));
    let mode: String = reopened_journal_mode(&url).await;
    assert_eq!(mode, "wal");
    reopened.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn reopened_journal_mode(url: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap()
}
