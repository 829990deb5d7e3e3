//! SQL shared by both backends; see README.md for how it is compiled into each.

mod accounts;
mod count_cache;
mod forms;
mod group_sets;
mod groups;
mod org_unit_bulk;
mod org_unit_types;
mod org_units;
mod profile_cache;
mod projects;
mod secrets;
mod sessions;
mod sources;
pub(crate) mod submissions;
mod tasks;
mod user_roles;
mod users;
pub(crate) mod write_batches;

use chrono::{DateTime, SubsecRound, Utc};
use hygeia_store::StoreError;
use sqlx::QueryBuilder;

use super::{BACKEND, Db, MIGRATOR, SqlStore};

pub(crate) use count_cache::CountCache;
pub(crate) use profile_cache::ProfileCache;
pub(crate) use write_batches::WriteBatches;

use async_trait::async_trait;
use hygeia_store::{
    AccountStore, FormStore, GroupSetStore, GroupStore, OrgUnitStore, OrgUnitTypeStore, ProjectStore, SecretStore,
    SessionStore, SourceStore, Store, StoreResult, SubmissionStore, TaskStore, UserRoleStore, UserStore,
};

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(StoreError::backend)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(StoreError::backend)?;
        Ok(())
    }

    async fn optimize(&self) -> StoreResult<()> {
        for statement in super::OPTIMIZE {
            sqlx::query(*statement).execute(&self.pool).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    fn accounts(&self) -> &dyn AccountStore {
        self
    }
    fn users(&self) -> &dyn UserStore {
        self
    }
    fn projects(&self) -> &dyn ProjectStore {
        self
    }
    fn user_roles(&self) -> &dyn UserRoleStore {
        self
    }
    fn sessions(&self) -> &dyn SessionStore {
        self
    }
    fn secrets(&self) -> &dyn SecretStore {
        self
    }
    fn sources(&self) -> &dyn SourceStore {
        self
    }
    fn org_unit_types(&self) -> &dyn OrgUnitTypeStore {
        self
    }
    fn org_units(&self) -> &dyn OrgUnitStore {
        self
    }
    fn groups(&self) -> &dyn GroupStore {
        self
    }
    fn group_sets(&self) -> &dyn GroupSetStore {
        self
    }
    fn forms(&self) -> &dyn FormStore {
        self
    }
    fn submissions(&self) -> &dyn SubmissionStore {
        self
    }
    fn tasks(&self) -> &dyn TaskStore {
        self
    }
}

/// Timestamps are kept to the microsecond, PostgreSQL's precision, so that what is written reads
/// back equal on both backends.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A driver error as a store error; a unique violation becomes a conflict on `field`.
///
/// Each statement that can hit a unique constraint has exactly one, so the caller names it.
pub(crate) fn on_unique(field: &'static str, message: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| match err.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict { field, message: message.into() },
        _ => db_err(err),
    }
}

/// A driver error as a store error: an unreachable or exhausted database is `Unavailable`; a
/// foreign key that no longer resolves (a row deleted concurrently) is invalid input.
pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(Box::new(err))
        }
        // SQLite reports an ON DELETE RESTRICT refusal as a trigger constraint (code 1811), not as
        // the foreign-key kind sqlx recognises; its message is the same.
        sqlx::Error::Database(db)
            if db.is_foreign_key_violation() || db.message().contains("FOREIGN KEY constraint failed") =>
        {
            StoreError::invalid("non_field_errors", "A referenced record does not exist.")
        }
        _ => StoreError::backend(err),
    }
}

/// Runs a statement on one row of the account (`$1` account, `$2` id); no row touched is `NotFound`.
async fn on_owned_row(pool: &sqlx::Pool<Db>, sql: &'static str, account: i64, id: i64) -> Result<(), StoreError> {
    let done = sqlx::query(sql).bind(account).bind(id).execute(pool).await.map_err(db_err)?;
    if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Replaces the rows of a link table `table(owner_column, value_column)` for one owner.
async fn replace_links<T>(
    conn: &mut <Db as sqlx::Database>::Connection,
    table: &'static str,
    owner_column: &'static str,
    value_column: &'static str,
    owner: i64,
    values: &[T],
) -> Result<(), StoreError>
where
    T: for<'q> sqlx::Encode<'q, Db> + sqlx::Type<Db> + Clone + Send + Sync + 'static,
{
    let mut delete = QueryBuilder::<Db>::new(format!("DELETE FROM {table} WHERE {owner_column} = "));
    delete.push_bind(owner);
    delete.build().execute(&mut *conn).await.map_err(db_err)?;
    if values.is_empty() {
        return Ok(());
    }
    let mut insert = QueryBuilder::<Db>::new(format!("INSERT INTO {table} ({owner_column}, {value_column}) "));
    insert.push_values(values, |mut row, value| {
        row.push_bind(owner).push_bind(value.clone());
    });
    insert.build().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

/// How many of `ids` exist in `table` within `account`.
async fn count_owned(
    conn: &mut <Db as sqlx::Database>::Connection,
    table: &'static str,
    account: i64,
    ids: &[i64],
) -> Result<i64, StoreError> {
    let mut query = QueryBuilder::<Db>::new(format!("SELECT COUNT(*) FROM {table} WHERE account_id = "));
    query.push_bind(account).push(" AND id IN (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
    query.build_query_scalar::<i64>().fetch_one(&mut *conn).await.map_err(db_err)
}

/// Refuses references (projects, roles) that are not all owned by `account`: whether a foreign id
/// exists elsewhere is not the caller's business, so the message does not say.
async fn check_owned(
    conn: &mut <Db as sqlx::Database>::Connection,
    table: &'static str,
    field: &'static str,
    account: i64,
    ids: &[i64],
) -> Result<(), StoreError> {
    let mut distinct = ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.is_empty() {
        return Ok(());
    }
    let owned = count_owned(conn, table, account, &distinct).await?;
    if owned as usize != distinct.len() {
        return Err(StoreError::invalid(field, "Unknown id: it does not exist in this account."));
    }
    Ok(())
}

/// Refuses permissions whose module is not enabled on the account.
async fn check_grantable(
    conn: &mut <Db as sqlx::Database>::Connection,
    account: i64,
    permissions: &[String],
) -> Result<(), StoreError> {
    if permissions.is_empty() {
        return Ok(());
    }
    let modules: Option<sqlx::types::Json<Vec<String>>> =
        sqlx::query_scalar("SELECT modules FROM accounts WHERE id = $1")
            .bind(account)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    let Some(modules) = modules else { return Err(StoreError::NotFound) };
    let refused = hygeia_core::permission::not_grantable(permissions.iter().map(String::as_str), &modules.0);
    if let Some(first) = refused.first() {
        return Err(StoreError::invalid(
            "permissions",
            format!("\"{first}\" belongs to a module that is not enabled on this account."),
        ));
    }
    Ok(())
}

fn sorted_dedup<T: Ord>(mut values: Vec<T>) -> Vec<T> {
    values.sort();
    values.dedup();
    values
}

/// Serialises the writers of one account's tree until the transaction ends, and marks the account's
/// georegistry changed (units, groups' members, types, sources, versions) for the caches keyed by
/// `tree_version`. A move reads paths that another move could rewrite, and READ
/// COMMITTED alone would let two moves make a cycle: the account row's lock prevents it (on SQLite,
/// `BEGIN IMMEDIATE` already serialises writers).
pub(crate) async fn lock_tree(
    conn: &mut <Db as sqlx::Database>::Connection,
    account: hygeia_core::AccountId,
) -> StoreResult<()> {
    sqlx::query("UPDATE accounts SET tree_version = tree_version + 1 WHERE id = $1")
        .bind(account.0)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// [`lock_tree`] for a change to the account's types, sources or versions, which also moves its
/// `catalog_version` (what the catalog of org-unit responses is cached under).
pub(crate) async fn lock_tree_and_catalog(
    conn: &mut <Db as sqlx::Database>::Connection,
    account: hygeia_core::AccountId,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE accounts SET tree_version = tree_version + 1, catalog_version = catalog_version + 1 WHERE id = $1",
    )
    .bind(account.0)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}
