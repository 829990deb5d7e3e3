//! Throw-away PostgreSQL stores for tests: each gets its own schema in the database named by
//! `HYGEIA_TEST_POSTGRES_URL`, so tests run in parallel without seeing each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use hygeia_store::Store;
use hygeia_store::testing::TestStore;
use sqlx::Connection;

use crate::PostgresStore;

pub const URL_VARIABLE: &str = "HYGEIA_TEST_POSTGRES_URL";

/// A fresh migrated store in a new schema, or `None` when `HYGEIA_TEST_POSTGRES_URL` is unset.
/// Panics when the variable is set but the database is unreachable: a configured backend that
/// cannot be reached must fail the run, not skip it.
pub async fn isolated() -> Option<TestStore> {
    let url = std::env::var(URL_VARIABLE).ok().filter(|u| !u.is_empty())?;
    Some(isolated_at(&url).await)
}

pub async fn isolated_at(url: &str) -> TestStore {
    let (scoped_url, teardown) = scratch_schema(url).await;
    let store = PostgresStore::connect(&scoped_url).await.expect("connect to the test schema");
    store.migrate().await.expect("migrate the test schema");
    TestStore::new(Arc::new(store), Some(teardown))
}

/// Creates an empty schema and returns a URL whose connections use it, plus the future that drops
/// it. For tests that hand a database URL to something else (e.g. the `hygeia` binary).
pub async fn scratch_schema(url: &str) -> (String, Teardown) {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "hygeia_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros()
    );
    let mut admin = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{URL_VARIABLE}={url} is set but PostgreSQL is unreachable: {e}"));
    // Extensions are per database: created once here, not by each schema's migrations racing.
    static EXTENSIONS: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    EXTENSIONS
        .get_or_init(|| async {
            let create = "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public";
            if let Ok(mut conn) = sqlx::PgConnection::connect(url).await {
                let _ = sqlx::query(create).execute(&mut conn).await;
                let _ = conn.close().await;
            }
        })
        .await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await.unwrap();
    admin.close().await.ok();

    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let url = url.to_owned();
    let teardown: Teardown = Box::pin(async move {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await;
            let _ = admin.close().await;
        }
    });
    (scoped_url, teardown)
}

pub type Teardown = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
