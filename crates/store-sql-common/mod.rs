//! SQL shared by both backends; see README.md for how it is compiled into each.

mod accounts;
mod projects;
mod secrets;
mod sessions;
mod user_roles;
mod users;

use chrono::{DateTime, SubsecRound, Utc};
use hygeia_store::StoreError;
use sqlx::QueryBuilder;

use super::Db;

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
        _ => StoreError::backend(err),
    }
}

pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    StoreError::backend(err)
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

fn sorted_dedup<T: Ord>(mut values: Vec<T>) -> Vec<T> {
    values.sort();
    values.dedup();
    values
}
