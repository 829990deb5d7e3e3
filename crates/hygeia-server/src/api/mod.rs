//! The JSON API under `/api/`, in Iaso's paths, parameters and shapes. One module per resource.

pub mod accounts;
pub mod bulkupdate;
pub mod catalog;
pub mod exports;
pub mod formattachments;
pub mod forms;
pub mod formversions;
pub mod group_sets;
pub mod groups;
pub mod health;
pub mod imports;
pub mod instances;
pub mod logs;
pub mod mobile;
pub mod orgunit_json;
pub mod orgunits;
pub mod orgunittypes;
pub mod pagination;
pub mod profiles;
pub mod projects;
pub mod sources;
pub mod tasks;
pub mod token;
pub mod tree;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::SharedState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Hygeia API", description = "Georegistry and data collection. Compatible with Iaso's API where Iaso's clients rely on it."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Tokens and the current user"),
        (name = "accounts", description = "Accounts (tenants)"),
        (name = "projects", description = "Data-collection projects"),
        (name = "orgunits", description = "The georegistry: org units, their types, audit history"),
        (name = "sources", description = "Data sources and their versions"),
        (name = "tasks", description = "Background tasks: imports, exports, bulk changes"),
        (name = "forms", description = "Forms, their versions (XLSForm converted to XForm) and attachments"),
        (name = "instances", description = "Submissions: Iaso's phone upload, lists, details, edits"),
        (name = "mobile", description = "Iaso's phone sync: app settings, the offline tree, units created on phones"),
        (name = "health", description = "Liveness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// Every API route, with its OpenAPI description.
pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(token::obtain))
        .routes(routes!(token::refresh))
        .routes(routes!(profiles::me))
        .routes(routes!(accounts::list))
        .routes(routes!(projects::list))
        .routes(routes!(projects::detail))
        .routes(routes!(projects::app_tokens, projects::create_app_token))
        .routes(routes!(projects::revoke_app_token))
        .routes(routes!(orgunits::list))
        .routes(routes!(orgunits::geojson))
        .routes(routes!(tree::level))
        .routes(routes!(tree::search))
        .routes(routes!(orgunits::detail, orgunits::update))
        .routes(routes!(orgunits::create))
        .routes(routes!(bulkupdate::bulk_update))
        .routes(routes!(bulkupdate::create_task))
        .routes(routes!(imports::dhis2_import))
        .routes(routes!(exports::create_task))
        .routes(routes!(tasks::list))
        .routes(routes!(tasks::detail, tasks::update))
        .routes(routes!(tasks::relaunch))
        .routes(routes!(tasks::logs))
        .routes(routes!(tasks::download))
        .routes(routes!(tasks::presigned_url))
        .routes(routes!(orgunittypes::list, orgunittypes::create))
        .routes(routes!(orgunittypes::detail, orgunittypes::update, orgunittypes::delete))
        .routes(routes!(sources::list_sources, sources::create_source))
        .routes(routes!(sources::source_detail, sources::update_source))
        .routes(routes!(sources::list_versions, sources::create_version))
        .routes(routes!(sources::version_detail))
        .routes(routes!(logs::list))
        .routes(routes!(groups::list, groups::create))
        .routes(routes!(groups::detail, groups::update, groups::delete))
        .routes(routes!(group_sets::list, group_sets::create))
        .routes(routes!(group_sets::detail, group_sets::update, group_sets::delete))
        .routes(routes!(forms::list, forms::create))
        .routes(routes!(forms::detail, forms::update, forms::replace, forms::delete))
        .routes(routes!(forms::manifest))
        .routes(routes!(forms::mobile_list))
        .routes(routes!(forms::mobile_manifest))
        .routes(routes!(instances::list, instances::create))
        .routes(routes!(instances::detail, instances::update, instances::delete))
        .routes(routes!(instances::xml))
        .routes(routes!(instances::bulk_delete))
        .routes(routes!(mobile::app))
        .routes(routes!(mobile::org_units, mobile::create_org_units))
        .routes(routes!(instances::file))
        .routes(routes!(formversions::list))
        .routes(routes!(formversions::detail))
        .routes(routes!(formversions::xform_file))
        .routes(routes!(formversions::xls_file))
        .routes(routes!(formattachments::list))
        .routes(routes!(formattachments::delete))
        .routes(routes!(formattachments::file))
}

/// Iaso serialises most timestamps as Unix epoch seconds with a fractional part.
pub fn epoch(at: chrono::DateTime<chrono::Utc>) -> f64 {
    at.timestamp_micros() as f64 / 1e6
}

/// ... and a few as ISO 8601 with a `Z`.
pub fn iso(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
