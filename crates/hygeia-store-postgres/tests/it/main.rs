//! The conformance suite on PostgreSQL, each check in its own schema. Skipped (with a note) when
//! `HYGEIA_TEST_POSTGRES_URL` is unset; `.ci/run` always sets it.

use hygeia_store_postgres::testing::isolated;

hygeia_store::conformance_suite!(isolated());

#[test]
fn postgres_url_is_announced() {
    if std::env::var(hygeia_store_postgres::testing::URL_VARIABLE).is_err() {
        eprintln!("HYGEIA_TEST_POSTGRES_URL is unset: PostgreSQL conformance checks were skipped");
    }
}
