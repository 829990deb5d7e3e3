//! HTTP tests of the whole application (routes, middleware, auth) through `tower::oneshot`, on
//! SQLite and, when `HYGEIA_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod support;

mod auth;
mod browser;
mod conventions;
mod dhis2;
mod forms;
mod georegistry;
mod imports;
mod mobile;
mod resources;
mod sessions;
mod submissions;
mod tasks;
mod web;
