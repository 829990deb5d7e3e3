use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use hygeia_core::{AccountId, NewAccount, NewProject, NewUser, ProjectId, UserProfile};
use hygeia_server::{AppState, Settings, SharedState};
use hygeia_store::DynStore;
use hygeia_store::testing::TestStore;
use serde_json::Value;
use tower::ServiceExt;

pub const JWT_SECRET: &str = "test-signing-key-of-at-least-32-bytes";
pub const PASSWORD: &str = "correct horse battery";

/// The application over a fresh store, with settings suited to tests.
pub struct TestApp {
    pub app: Router,
    pub store: DynStore,
    pub state: SharedState,
    test_store: TestStore,
}

pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    // A directory per application: tests on both backends run at once and count their files.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let files = std::env::temp_dir().join(format!("hygeia-server-test-files-{}-{n}", std::process::id()));
    settings.storage.path = files.display().to_string();
    settings.auth.jwt_secret = Some(JWT_SECRET.into());
    settings.auth.login_failures_per_minute = 3;
    settings.http.body_limit_bytes = 16 * 1024;
    settings
}

impl TestApp {
    pub async fn new(test_store: TestStore, settings: Settings) -> TestApp {
        let store = test_store.store.clone();
        let state = AppState::new(store.clone(), settings).await.expect("state");
        TestApp { app: hygeia_server::app(state.clone()), store, state, test_store }
    }

    pub async fn finish(self) {
        self.test_store.finish().await;
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.expect("the router never fails");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes().to_vec();
        Reply { status, headers, bytes }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = Request::get(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn post_json(&self, path: &str, body: &str) -> Reply {
        self.send(
            Request::builder()
                .method(Method::POST)
                .uri(path)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_owned()))
                .unwrap(),
        )
        .await
    }

    /// Logs in through `POST /api/token/`; returns the access token.
    pub async fn token(&self, username: &str) -> String {
        let reply =
            self.post_json("/api/token/", &format!(r#"{{"username":"{username}","password":"{PASSWORD}"}}"#)).await;
        assert_eq!(reply.status, StatusCode::OK, "login of {username}: {}", reply.text());
        reply.json()["access"].as_str().expect("access token").to_owned()
    }

    pub async fn account(&self, name: &str) -> AccountId {
        self.store.accounts().create(NewAccount::named(name)).await.unwrap().id
    }

    pub async fn project(&self, account: AccountId, name: &str, app_id: &str) -> ProjectId {
        self.store.projects().create(account, NewProject::new(name, app_id)).await.unwrap().id
    }

    /// A user whose password is [`PASSWORD`], shaped by `customise`.
    pub async fn user(&self, account: AccountId, username: &str, customise: impl FnOnce(&mut NewUser)) -> UserProfile {
        let mut user = NewUser {
            username: username.into(),
            password_hash: hygeia_server::auth::password::hash_password(PASSWORD.into()).await.unwrap(),
            ..Default::default()
        };
        customise(&mut user);
        self.store.users().create(account, user).await.unwrap()
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the API's error shape and returns the body.
    pub fn error(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert!(self.header("content-type").is_some_and(|ct| ct.starts_with("application/json")), "{:?}", self.headers);
        let body = self.json();
        assert_eq!(body["error"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert_eq!(body["detail"], body["message"]);
        body
    }
}

pub async fn sqlite() -> Option<TestStore> {
    let store = hygeia_store_sqlite::SqliteStore::in_memory().await.expect("in-memory SQLite");
    Some(TestStore::new(Arc::new(store), None))
}

pub async fn postgres() -> Option<TestStore> {
    hygeia_store_postgres::testing::isolated().await
}

/// Runs each listed `async fn(&TestApp)` on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(store) = $crate::support::sqlite().await else { return };
                    let app = $crate::support::TestApp::new(store, $crate::support::test_settings()).await;
                    super::$test(&app).await;
                    app.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(store) = $crate::support::postgres().await else { return };
                    let app = $crate::support::TestApp::new(store, $crate::support::test_settings()).await;
                    super::$test(&app).await;
                    app.finish().await;
                }
            )*
        }
    };
}

/// A file of `../shared/data` (or `HYGEIA_TEST_SHARED_DATA`); `None`, said on stderr, when absent.
pub fn shared(relative: &str) -> Option<std::path::PathBuf> {
    let root = std::env::var("HYGEIA_TEST_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")));
    let path = root.join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("{} is missing: test skipped (set HYGEIA_TEST_SHARED_DATA)", path.display());
        None
    }
}

/// A multipart body: text fields, then the file as the `file` field.
pub fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    multipart_as(fields, "file", file)
}

/// A multipart body: text fields, then the file as the `file_field` field.
pub fn multipart_as(fields: &[(&str, &str)], file_field: &str, file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "hygeia-test-boundary-7d3f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub async fn post_multipart(app: &TestApp, path: &str, token: &str, body: (String, Vec<u8>)) -> Reply {
    let request = Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, body.0)
        .body(Body::from(body.1))
        .unwrap();
    app.send(request).await
}

/// Sends `method` with a JSON body and a bearer token.
pub async fn send_json(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    app.send(request).await
}

/// Polls `/api/tasks/{id}/` until the task has ended; returns it.
pub async fn wait_until_ended(app: &TestApp, token: &str, id: i64) -> Value {
    for _ in 0..1000 {
        let task = app.get(&format!("/api/tasks/{id}/"), Some(token)).await.json();
        if !matches!(task["status"].as_str(), Some("QUEUED" | "RUNNING")) {
            return task;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("task {id} did not end");
}
