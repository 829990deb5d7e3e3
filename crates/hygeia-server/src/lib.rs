//! Hygeia's HTTP server and composition root: settings, backend choice, middleware, routes.

pub mod api;
pub mod auth;
pub mod backend;
pub mod bulk_upload;
pub mod error;
pub mod exports;
pub mod extract;
pub mod imports;
pub mod openrosa;
pub mod recent;
pub mod settings;
pub mod state;
pub mod submission_exports;
pub mod submissions;
pub mod tasks;
pub mod web;

use std::any::Any;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

pub use settings::{HttpSettings, Settings};
pub use state::{AppState, SharedState, StartupError};

use error::ApiError;

/// The whole HTTP application over `state`.
pub fn app(state: SharedState) -> Router {
    let http = state.settings.http.clone();
    // Uploads of whole trees may be far larger than other requests.
    let uploads = utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(api::imports::import_gpkg))
        .routes(utoipa_axum::routes!(api::imports::import_file))
        .routes(utoipa_axum::routes!(api::formversions::create))
        .routes(utoipa_axum::routes!(api::formattachments::create))
        .routes(utoipa_axum::routes!(api::instances::form_upload))
        .routes(utoipa_axum::routes!(api::mobile::bulk_upload))
        .layer(DefaultBodyLimit::max(http.upload_limit_bytes));
    let (api, openapi) = api::router().merge(uploads).split_for_parts();
    let routes = Router::new()
        .merge(api)
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .merge(web::router(http.upload_limit_bytes))
        .merge(openrosa::router())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state);
    with_middleware(routes, &http)
}

/// The middleware every route runs under, outermost first: panics become 500 JSON; each request
/// gets an id, a tracing span and compression; error responses made by the layers get the API's
/// JSON shape; slow requests time out; cross-site form posts are refused; bodies are capped.
pub fn with_middleware(routes: Router, http: &HttpSettings) -> Router {
    let middleware = ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), uri = %request.uri(), request_id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CompressionLayer::new().compress_when(compressible()))
        .layer(axum::middleware::map_response(error::json_error_bodies))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(http.request_timeout_secs),
        ))
        // Browsers must not be tricked into posting with their session cookie from another site;
        // API clients and phones send neither Origin nor Sec-Fetch-Site and pass.
        .layer(CsrfLayer::new())
        .layer(DefaultBodyLimit::max(http.body_limit_bytes));
    routes.layer(middleware)
}

/// Replies smaller than this go out as they are.
const COMPRESS_FROM_BYTES: u64 = 1024;

/// Which replies are compressed: tower-http's defaults (no gRPC, images or event streams), but
/// only from [`COMPRESS_FROM_BYTES`] (streamed bodies, of unknown size, always). Phones ask for gzip
/// on every request and most replies to them are a few hundred bytes, where gzip saves a packet at
/// best while each compressor sets up its tables. (No gain was measurable under the phones' load
/// test, BENCHMARKS.md; the rule is kept as the usual minimum size.)
fn compressible() -> impl tower_http::compression::Predicate {
    use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
    SizeAbove::new(COMPRESS_FROM_BYTES)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(format!("handler panicked: {message}")).into_response()
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: SharedState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(sweep_sessions(state.clone()));
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    sweeper.abort();
    result
}

/// Once an hour: deletes expired browser sessions and refreshes the planner's statistics.
async fn sweep_sessions(state: SharedState) {
    let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        if let Err(err) = state.store.optimize().await {
            tracing::warn!(%err, "refreshing database statistics failed");
        }
        match state.store.sessions().purge_expired(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired sessions deleted"),
            Err(err) => tracing::warn!(%err, "deleting expired sessions failed"),
        }
    }
}
