//! The browser login: session cookies, logout, and the safety of the redirect.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::on_both_backends;
use crate::support::{PASSWORD, Reply, TestApp};

on_both_backends!(
    login_page_sets_a_session_usable_by_the_api,
    login_page_reports_failures_in_html,
    logout_ends_the_session
);

async fn post_login(app: &TestApp, body: String) -> Reply {
    app.send(
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

fn session_cookie(reply: &Reply) -> String {
    let set_cookie = reply.header("set-cookie").expect("a session cookie is set");
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn with_cookie(app: &TestApp, path: &str, cookie: &str) -> Reply {
    app.send(Request::get(path).header(header::COOKIE, cookie).body(Body::empty()).unwrap()).await
}

async fn login_page_sets_a_session_usable_by_the_api(app: &TestApp) {
    let account = app.account("A").await;
    app.user(account, "fatou", |_| {}).await;

    let page = app.get("/login", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("name=\"password\""));

    let reply =
        post_login(app, format!("username=fatou&password={}&next=/api/profiles/me/", PASSWORD.replace(' ', "+"))).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(reply.header("location"), Some("/api/profiles/me/"));
    let set_cookie = reply.header("set-cookie").unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(set_cookie.contains(attribute), "{attribute} missing from {set_cookie}");
    }
    let cookie = session_cookie(&reply);

    let me = with_cookie(app, "/api/profiles/me/", &cookie).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["user_name"], "fatou");
    let home = with_cookie(app, "/", &cookie).await;
    assert!(home.text().contains("fatou"));
    assert_eq!(with_cookie(app, "/api/profiles/me/", "hygeia_session=forged").await.status, StatusCode::UNAUTHORIZED);

    // Only local paths are followed after login.
    for next in
        ["https://evil.example/", "//evil.example/", "/\\evil.example", "/%09/evil.example", "/%0d%0aSet-Cookie:x=1"]
    {
        let reply =
            post_login(app, format!("username=fatou&password={}&next={next}", PASSWORD.replace(' ', "+"))).await;
        assert_eq!(reply.header("location"), Some("/"), "next={next}");
    }
}

async fn login_page_reports_failures_in_html(app: &TestApp) {
    let account = app.account("A").await;
    app.user(account, "fatou", |_| {}).await;
    let reply = post_login(app, "username=fatou&password=wrong+password".into()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.header("content-type").unwrap().starts_with("text/html"));
    assert!(reply.text().contains("Wrong username or password."));
    assert!(reply.text().contains("value=\"fatou\""), "the username is kept");
    assert!(reply.header("set-cookie").is_none());
    let escaped = post_login(app, "username=%3Cscript%3E&password=x".into()).await;
    assert!(!escaped.text().contains("<script>") && escaped.text().contains("&#60;script&#62;"), "{}", escaped.text());
    let missing = post_login(app, "username=fatou".into()).await;
    let body = missing.error(StatusCode::UNPROCESSABLE_ENTITY, "bad_request");
    assert!(body["message"].as_str().unwrap().contains("password"), "the rejection's own message is kept: {body}");
    assert_eq!(app.get("/", None).await.header("location"), Some("/login"));
}

async fn logout_ends_the_session(app: &TestApp) {
    let account = app.account("A").await;
    app.user(account, "fatou", |_| {}).await;
    let reply = post_login(app, format!("username=fatou&password={}", PASSWORD.replace(' ', "+"))).await;
    let cookie = session_cookie(&reply);
    let out = app.send(Request::post("/logout").header(header::COOKIE, &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.header("location"), Some("/login"));
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"), "the cookie is cleared");
    assert_eq!(
        with_cookie(app, "/api/profiles/me/", &cookie).await.status,
        StatusCode::UNAUTHORIZED,
        "the session is gone server-side"
    );
}
