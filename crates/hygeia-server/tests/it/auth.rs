//! Tokens, the current user, and every way credentials can be wrong.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hygeia_core::{ProfileUpdate, UserRoleInput};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{JWT_SECRET, PASSWORD, TestApp, test_settings};

on_both_backends!(
    token_then_profile_me,
    token_for_an_app_id_follows_project_membership,
    wrong_credentials_are_401_and_indistinguishable,
    repeated_failures_are_throttled,
    refresh_rotates_the_pair,
    bad_and_expired_tokens_are_refused,
    deactivated_or_deleted_users_lose_access,
    token_endpoint_accepts_form_posts,
    a_password_change_voids_earlier_tokens,
    parallel_guesses_cannot_pass_the_limit,
    behind_a_proxy_the_proxys_hop_is_the_address,
    oversized_usernames_are_refused_cheaply,
);

async fn token_then_profile_me(app: &TestApp) {
    let account = app.account("BFA Demo").await;
    let project = app.project(account, "BFA Demo Project", "bfa.demo").await;
    let role = app
        .store
        .user_roles()
        .create(account, UserRoleInput { name: "Data manager".into(), permissions: vec!["iaso_sources".into()] })
        .await
        .unwrap();
    let user = app
        .user(account, "aminata", |u| {
            u.first_name = "Aminata".into();
            u.last_name = "Ouédraogo".into();
            u.email = "aminata@example.org".into();
            u.language = Some("fr".into());
            u.phone_number = Some("+22670000000".into());
            u.permissions = vec!["iaso_org_units".into(), "iaso_forms".into()];
            u.user_roles = vec![role.id];
            u.projects = vec![project];
            u.org_units = vec![12];
        })
        .await;

    let reply = app.post_json("/api/token/", &format!(r#"{{"username":"aminata","password":"{PASSWORD}"}}"#)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let pair = reply.json();
    let keys: Vec<&String> = pair.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["refresh", "access"], "simplejwt's key order");
    for token in [&pair["access"], &pair["refresh"]] {
        assert_eq!(token.as_str().unwrap().split('.').count(), 3);
    }

    let me = app.get("/api/profiles/me/", pair["access"].as_str()).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    let me = me.json();
    assert_eq!(me["id"], user.profile_id.0);
    assert_eq!(me["user_id"], user.user_id.0);
    assert_eq!(me["user_name"], "aminata");
    assert_eq!(me["first_name"], "Aminata");
    assert_eq!(me["last_name"], "Ouédraogo");
    assert_eq!(me["language"], "fr");
    assert_eq!(me["country_code"], "bf");
    assert_eq!(me["permissions"], json!(["iaso_forms", "iaso_org_units", "iaso_sources"]));
    assert_eq!(me["user_permissions"], json!(["iaso_forms", "iaso_org_units"]));
    assert_eq!(me["user_roles"], json!([role.id.0]));
    assert_eq!(me["user_roles_permissions"][0]["permissions"], json!(["iaso_sources"]));
    assert_eq!(me["is_superuser"], false);
    assert_eq!(me["projects"][0]["app_id"], "bfa.demo");
    assert_eq!(me["org_units"], json!([{"id": 12}]));
    assert_eq!(me["account"]["name"], "BFA Demo");
    assert_eq!(me["account"]["id"], account.0);
    assert!(me["account"]["created_at"].is_f64(), "Iaso's epoch-seconds timestamps");
    assert!(me["date_joined"].as_str().unwrap().ends_with('Z'));
    // Every key Iaso's clients read is present.
    for key in [
        "email",
        "is_staff",
        "organization",
        "dhis2_id",
        "home_page",
        "phone_number",
        "other_accounts",
        "editable_org_unit_types",
        "user_roles_editable_org_unit_type_ids",
        "color",
    ] {
        assert!(me.get(key).is_some(), "missing {key}");
    }
    let login = app.store.users().get(account, user.profile_id).await.unwrap().unwrap().last_login;
    assert!(login.is_some(), "a token login is recorded");
}

async fn token_for_an_app_id_follows_project_membership(app: &TestApp) {
    let a = app.account("A").await;
    let b = app.account("B").await;
    let a_field = app.project(a, "Field", "a.field").await;
    app.project(a, "Office", "a.office").await;
    app.project(b, "Other", "b.other").await;
    app.user(a, "free", |_| {}).await;
    app.user(a, "limited", |u| u.projects = vec![a_field]).await;
    let login = |user: &str| format!(r#"{{"username":"{user}","password":"{PASSWORD}"}}"#);

    assert_eq!(app.post_json("/api/token/?app_id=a.field", &login("free")).await.status, StatusCode::OK);
    assert_eq!(app.post_json("/api/token/?app_id=a.office", &login("free")).await.status, StatusCode::OK);
    assert_eq!(app.post_json("/api/token/?app_id=a.field", &login("limited")).await.status, StatusCode::OK);
    let body = app
        .post_json("/api/token/?app_id=a.office", &login("limited"))
        .await
        .error(StatusCode::FORBIDDEN, "permission_denied");
    assert_eq!(body["message"], "You don't have access to this project.");
    app.post_json("/api/token/?app_id=b.other", &login("free")).await.error(StatusCode::FORBIDDEN, "permission_denied");
    let body =
        app.post_json("/api/token/?app_id=no.such.app", &login("free")).await.error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(body["message"], "Unknown project.");
}

async fn wrong_credentials_are_401_and_indistinguishable(app: &TestApp) {
    let account = app.account("A").await;
    app.user(account, "moussa", |_| {}).await;
    let wrong_password = app.post_json("/api/token/", r#"{"username":"moussa","password":"not the password"}"#).await;
    let unknown_user = app.post_json("/api/token/", r#"{"username":"nobody","password":"not the password"}"#).await;
    for reply in [&wrong_password, &unknown_user] {
        let body = reply.error(StatusCode::UNAUTHORIZED, "not_authenticated");
        assert_eq!(body["detail"], "No active account found with the given credentials");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer realm=\"api\""));
    }
    assert_eq!(wrong_password.bytes, unknown_user.bytes);
}

async fn repeated_failures_are_throttled(app: &TestApp) {
    // test_settings() allows 3 failures a minute.
    let account = app.account("A").await;
    app.user(account, "target", |_| {}).await;
    app.user(account, "bystander", |_| {}).await;
    for _ in 0..3 {
        let reply = app.post_json("/api/token/", r#"{"username":"target","password":"guess"}"#).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = app.post_json("/api/token/", &format!(r#"{{"username":"target","password":"{PASSWORD}"}}"#)).await;
    blocked.error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    let retry_after: u64 = blocked.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    // The same client address is blocked for other usernames too (oneshot requests share one).
    let other = app.post_json("/api/token/", &format!(r#"{{"username":"bystander","password":"{PASSWORD}"}}"#)).await;
    assert_eq!(other.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn refresh_rotates_the_pair(app: &TestApp) {
    let account = app.account("A").await;
    app.user(account, "u", |_| {}).await;
    let pair = app.post_json("/api/token/", &format!(r#"{{"username":"u","password":"{PASSWORD}"}}"#)).await.json();
    let refresh = pair["refresh"].as_str().unwrap();

    let reply = app.post_json("/api/token/refresh/", &json!({"refresh": refresh}).to_string()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let renewed = reply.json();
    let keys: Vec<&String> = renewed.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["access", "refresh"]);
    assert_eq!(app.get("/api/profiles/me/", renewed["access"].as_str()).await.status, StatusCode::OK);

    let access_as_refresh = app.post_json("/api/token/refresh/", &json!({"refresh": pair["access"]}).to_string()).await;
    let body = access_as_refresh.error(StatusCode::UNAUTHORIZED, "token_not_valid");
    assert_eq!(body["code"], "token_not_valid");
    app.post_json("/api/token/refresh/", r#"{"refresh":"not-a-jwt"}"#)
        .await
        .error(StatusCode::UNAUTHORIZED, "token_not_valid");
    let body = app.post_json("/api/token/refresh/", "{}").await.error(StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(body["fields"]["refresh"], json!(["This field is required."]));
}

fn forged(user_id: i64, token_type: &str, exp: i64, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"token_type": token_type, "exp": exp, "iat": now - 10, "jti": "0123", "user_id": user_id});
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn bad_and_expired_tokens_are_refused(app: &TestApp) {
    let account = app.account("A").await;
    let user = app.user(account, "u", |_| {}).await;
    let now = chrono::Utc::now().timestamp();
    let valid = forged(user.user_id.0, "access", now + 60, JWT_SECRET);
    assert_eq!(app.get("/api/profiles/me/", Some(&valid)).await.status, StatusCode::OK, "the forging helper is right");

    let cases = [
        ("malformed", "not.a.validtoken".to_owned()),
        ("expired", forged(user.user_id.0, "access", now - 5, JWT_SECRET)),
        ("wrong key", forged(user.user_id.0, "access", now + 60, "another-key")),
        ("refresh used as access", forged(user.user_id.0, "refresh", now + 60, JWT_SECRET)),
        ("unknown user", forged(999_999, "access", now + 60, JWT_SECRET)),
        ("empty", String::new()),
    ];
    for (case, token) in cases {
        let reply = app.get("/api/profiles/me/", Some(&token)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case}");
        let body = reply.error(StatusCode::UNAUTHORIZED, "token_not_valid");
        assert_eq!(body["detail"], "Given token not valid for any token type", "{case}");
    }

    let none = app.get("/api/profiles/me/", None).await;
    let body = none.error(StatusCode::UNAUTHORIZED, "not_authenticated");
    assert_eq!(body["detail"], "Authentication credentials were not provided.");
    assert_eq!(none.header("www-authenticate"), Some("Bearer realm=\"api\""));

    let basic = app
        .send(
            Request::get("/api/profiles/me/").header(header::AUTHORIZATION, "Basic dTpw").body(Body::empty()).unwrap(),
        )
        .await;
    basic.error(StatusCode::UNAUTHORIZED, "not_authenticated");
    let binary = app
        .send(
            Request::get("/api/profiles/me/")
                .header(header::AUTHORIZATION, &b"Bearer \xff\xfe"[..])
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    binary.error(StatusCode::UNAUTHORIZED, "token_not_valid");
}

async fn deactivated_or_deleted_users_lose_access(app: &TestApp) {
    let account = app.account("A").await;
    let leaving = app.user(account, "leaving", |_| {}).await;
    let deleted = app.user(account, "deleted", |_| {}).await;
    let leaving_token = app.token("leaving").await;
    let deleted_token = app.token("deleted").await;

    app.store
        .users()
        .update(account, leaving.profile_id, ProfileUpdate { is_active: Some(false), ..Default::default() })
        .await
        .unwrap();
    app.store.users().delete(account, deleted.profile_id).await.unwrap();

    app.get("/api/profiles/me/", Some(&leaving_token)).await.error(StatusCode::UNAUTHORIZED, "token_not_valid");
    app.get("/api/profiles/me/", Some(&deleted_token)).await.error(StatusCode::UNAUTHORIZED, "token_not_valid");
    let login = app.post_json("/api/token/", &format!(r#"{{"username":"leaving","password":"{PASSWORD}"}}"#)).await;
    login.error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

async fn token_endpoint_accepts_form_posts(app: &TestApp) {
    let account = app.account("A").await;
    app.user(account, "form-user", |_| {}).await;
    let body = format!("username=form-user&password={}", PASSWORD.replace(' ', "+"));
    let reply = app
        .send(
            Request::post("/api/token/")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(reply.json()["access"].is_string());
}

async fn a_password_change_voids_earlier_tokens(app: &TestApp) {
    let account = app.account("A").await;
    let user = app.user(account, "u", |_| {}).await;
    let pair = app.post_json("/api/token/", &format!(r#"{{"username":"u","password":"{PASSWORD}"}}"#)).await.json();
    let old_access = pair["access"].as_str().unwrap().to_owned();
    // Tokens carry whole seconds: make sure the change happens in a later second than the login.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let hash = hygeia_server::auth::password::hash_password("a brand new password".into()).await.unwrap();
    app.store.users().set_password(account, user.profile_id, &hash).await.unwrap();

    app.get("/api/profiles/me/", Some(&old_access)).await.error(StatusCode::UNAUTHORIZED, "token_not_valid");
    app.post_json("/api/token/refresh/", &json!({"refresh": pair["refresh"]}).to_string())
        .await
        .error(StatusCode::UNAUTHORIZED, "token_not_valid");
    let fresh = app.post_json("/api/token/", r#"{"username":"u","password":"a brand new password"}"#).await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(app.get("/api/profiles/me/", fresh.json()["access"].as_str()).await.status, StatusCode::OK);
}

/// Attempts are counted when they start: ten guesses sent at once against a limit of three get
/// three 401s and seven 429s, not ten Argon2 checks.
async fn parallel_guesses_cannot_pass_the_limit(app: &TestApp) {
    let account = app.account("A").await;
    app.user(account, "target", |_| {}).await;
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..10 {
        let router = app.app.clone();
        let request = Request::post("/api/token/")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!(r#"{{"username":"target","password":"guess {i}"}}"#)))
            .unwrap();
        guesses.spawn(async move { tower::ServiceExt::oneshot(router, request).await.unwrap().status() });
    }
    let statuses = guesses.join_all().await;
    let unauthorized = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let throttled = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((unauthorized, throttled), (3, 7));
}

async fn behind_a_proxy_the_proxys_hop_is_the_address(app: &TestApp) {
    let account = app.account("A").await;
    app.user(account, "first", |_| {}).await;
    app.user(account, "second", |_| {}).await;
    let mut settings = test_settings();
    settings.http.trust_forwarded_for = true;
    let proxied = hygeia_server::app(hygeia_server::AppState::new(app.store.clone(), settings).await.unwrap());
    let post = |username: &str, password: &str, forwarded: &str| {
        Request::post("/api/token/")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-forwarded-for", forwarded)
            .body(Body::from(format!(r#"{{"username":"{username}","password":"{password}"}}"#)))
            .unwrap()
    };
    use tower::ServiceExt;
    for i in 0..3 {
        // The client varies the hops it controls; the proxy's hop (last) stays 10.0.0.7.
        let reply = proxied.clone().oneshot(post("first", "guess", &format!("192.0.2.{i}, 10.0.0.7"))).await.unwrap();
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    }
    let blocked = proxied.clone().oneshot(post("second", PASSWORD, "198.51.100.1, 10.0.0.7")).await.unwrap();
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS, "spoofed first hops do not dodge the limit");
    let elsewhere = proxied.oneshot(post("second", PASSWORD, "10.0.0.8")).await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::OK, "another address is not blocked");
}

async fn oversized_usernames_are_refused_cheaply(app: &TestApp) {
    let long = "x".repeat(151);
    for _ in 0..5 {
        let reply = app.post_json("/api/token/", &format!(r#"{{"username":"{long}","password":"p"}}"#)).await;
        reply.error(StatusCode::UNAUTHORIZED, "not_authenticated");
    }
}
