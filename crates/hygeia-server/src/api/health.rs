use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::SharedState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the database answers, `error` otherwise.
    status: &'static str,
    /// Iaso's spelling of `status`.
    up: &'static str,
    version: &'static str,
    #[serde(rename = "VERSION")]
    version_iaso: &'static str,
    /// `sqlite` or `postgres`.
    backend: &'static str,
    account_count: Option<i64>,
}

/// Liveness and database reachability. Unauthenticated, for load balancers and monitoring.
#[utoipa::path(get, path = "/health/", tag = "health",
    responses((status = 200, body = Health), (status = 503, description = "The database is unreachable", body = Health)))]
pub async fn health(State(state): State<SharedState>) -> (StatusCode, Json<Health>) {
    let version = env!("CARGO_PKG_VERSION");
    let backend = state.store.backend();
    match state.store.accounts().count().await {
        Ok(count) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                up: "ok",
                version,
                version_iaso: version,
                backend,
                account_count: Some(count),
            }),
        ),
        Err(err) => {
            tracing::error!(%err, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "error",
                    up: "error",
                    version,
                    version_iaso: version,
                    backend,
                    account_count: None,
                }),
            )
        }
    }
}
