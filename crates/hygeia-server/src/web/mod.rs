//! Server-rendered pages. For now: the browser login, logout and a home page.

mod login;

use axum::Router;
use axum::routing::{get, post};

use crate::state::SharedState;

pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/", get(login::home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
}
