//! HTTP conventions: error shapes for bad input, layers' errors as JSON, health, OpenAPI.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use hygeia_server::HttpSettings;
use serde_json::json;
use tower::ServiceExt;

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(
    malformed_and_mistyped_bodies_name_the_problem,
    oversize_and_wrong_content_type_bodies_are_refused,
    unknown_routes_and_methods_answer_json,
    health_reports_backend_and_version,
    responses_carry_a_request_id_and_compress,
    openapi_describes_every_route,
    cross_site_posts_are_refused,
    a_database_outage_is_503_not_401,
);

async fn malformed_and_mistyped_bodies_name_the_problem(app: &TestApp) {
    let body = app.post_json("/api/token/", r#"{"username":"#).await.error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(body["message"].as_str().unwrap().starts_with("JSON parse error - "), "{body}");

    let body = app
        .post_json("/api/token/", r#"{"username":"admin"}"#)
        .await
        .error(StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(body["fields"], json!({"password": ["This field is required."]}));

    let body = app
        .post_json("/api/token/", r#"{"username":42,"password":"x"}"#)
        .await
        .error(StatusCode::BAD_REQUEST, "validation_error");
    let message = body["fields"]["username"][0].as_str().unwrap();
    assert!(message.starts_with("Invalid type: integer `42`, expected a string"), "{message}");

    let body = app
        .post_json("/api/token/", r#"{"username":"a","password":"b","is_superuser":true}"#)
        .await
        .error(StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(body["fields"], json!({"is_superuser": ["Unknown field."]}));

    let body = app.post_json("/api/token/", "[1, 2]").await.error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(body["fields"]["non_field_errors"].is_array(), "{body}");
    app.post_json("/api/token/", "").await.error(StatusCode::BAD_REQUEST, "bad_request");
    app.post_json("/api/token/", r#"{"username":"a","password":"b"} trailing"#)
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");
    app.post_json("/api/token/", "\u{feff}{}").await.error(StatusCode::BAD_REQUEST, "bad_request");

    let body = app.get("/api/projects/?limit=ten", None).await;
    // Credentials are checked before parameters.
    body.error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

async fn oversize_and_wrong_content_type_bodies_are_refused(app: &TestApp) {
    // test_settings() caps bodies at 16 KiB.
    let huge = format!(r#"{{"username":"{}","password":"x"}}"#, "a".repeat(20 * 1024));
    app.post_json("/api/token/", &huge).await.error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    let reply = app
        .send(Request::post("/api/token/").header(header::CONTENT_TYPE, "text/plain").body(Body::from("x")).unwrap())
        .await;
    reply.error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let reply = app.send(Request::post("/api/token/").body(Body::from("{}")).unwrap()).await;
    reply.error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
}

async fn unknown_routes_and_methods_answer_json(app: &TestApp) {
    app.get("/api/no-such-endpoint/", None).await.error(StatusCode::NOT_FOUND, "not_found");
    let reply = app.get("/api/token/", None).await;
    reply.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(reply.header("allow").is_some_and(|allow| allow.contains("POST")), "{:?}", reply.headers);
    let reply = app.send(Request::delete("/health/").body(Body::empty()).unwrap()).await;
    reply.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

async fn health_reports_backend_and_version(app: &TestApp) {
    app.account("One").await;
    let reply = app.get("/health/", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["up"], "ok");
    assert_eq!(body["backend"], app.store.backend());
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["account_count"], 1);
}

async fn responses_carry_a_request_id_and_compress(app: &TestApp) {
    let reply = app.get("/health/", None).await;
    let id = reply.header("x-request-id").expect("x-request-id");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let reply =
        app.send(Request::get("/health/").header("x-request-id", "from-the-client").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.header("x-request-id"), Some("from-the-client"));

    let reply = app
        .send(Request::get("/api/openapi.json").header(header::ACCEPT_ENCODING, "gzip").body(Body::empty()).unwrap())
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    // A few hundred bytes are not worth a compressor's set-up.
    let reply =
        app.send(Request::get("/health/").header(header::ACCEPT_ENCODING, "gzip").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-encoding"), None, "a small reply goes out as it is");
    assert!(reply.bytes.len() < 1024, "{} bytes", reply.bytes.len());
}

async fn openapi_describes_every_route(app: &TestApp) {
    let spec = app.get("/api/openapi.json", None).await.json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for (path, method) in [
        ("/health/", "get"),
        ("/api/token/", "post"),
        ("/api/token/refresh/", "post"),
        ("/api/profiles/me/", "get"),
        ("/api/accounts/", "get"),
        ("/api/projects/", "get"),
        ("/api/projects/{id}/", "get"),
        ("/api/orgunits/", "get"),
        ("/api/orgunits/{id}/", "patch"),
        ("/api/orgunits/create_org_unit/", "post"),
        ("/api/orgunittypes/{id}/", "delete"),
        ("/api/datasources/", "post"),
        ("/api/sourceversions/", "post"),
        ("/api/logs/", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not documented");
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    let docs = app.get("/api/docs/", None).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.text().contains("swagger"), "Swagger UI page");
}

async fn cross_site_posts_are_refused(app: &TestApp) {
    let reply = app
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site")
                .header(header::ORIGIN, "https://evil.example")
                .body(Body::from("username=a&password=b"))
                .unwrap(),
        )
        .await;
    reply.error(StatusCode::FORBIDDEN, "permission_denied");
    let same_origin = app
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "same-origin")
                .body(Body::from("username=a&password=bbbbbbbb"))
                .unwrap(),
        )
        .await;
    assert_eq!(same_origin.status, StatusCode::UNAUTHORIZED, "a same-origin post reaches the login check");
}

async fn boom() -> &'static str {
    panic!("kaboom")
}

async fn a_database_outage_is_503_not_401(app: &TestApp) {
    let account = app.account("A").await;
    app.user(account, "u", |_| {}).await;
    let token = app.token("u").await;
    app.store.close().await;
    app.get("/api/profiles/me/", Some(&token)).await.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let health = app.get("/health/", None).await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json()["status"], "error");
}

#[tokio::test]
async fn invalid_settings_stop_the_start() {
    let store = crate::support::sqlite().await.unwrap();
    let mut settings = crate::support::test_settings();
    settings.auth.jwt_secret = Some("too short".into());
    let err = hygeia_server::AppState::new(store.store.clone(), settings).await.err().expect("refused");
    assert!(err.to_string().contains("auth.jwt_secret"), "{err}");
}

/// Panics and timeouts below the API still answer in its JSON shape, and the server keeps serving.
#[tokio::test]
async fn panics_and_timeouts_become_json_errors() {
    let routes = Router::new()
        .route("/boom", get(boom))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "done"
            }),
        )
        .route("/fine", get(|| async { "fine" }));
    let http = HttpSettings { request_timeout_secs: 1, ..Default::default() };
    let app = hygeia_server::with_middleware(routes, &http);

    for (path, status, code) in [
        ("/boom", StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        ("/slow", StatusCode::REQUEST_TIMEOUT, "request_timeout"),
    ] {
        let response = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], code, "{path}: {body}");
        assert!(!body.to_string().contains("kaboom"), "internals are not leaked: {body}");
    }
    let fine =
        app.oneshot(Request::builder().method(Method::GET).uri("/fine").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(fine.status(), StatusCode::OK);
}
