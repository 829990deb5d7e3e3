//! Server settings. The binary fills them from `hygeia.toml` and `HYGEIA_*` variables; every
//! field has a default, so an empty configuration runs an embedded installation under `./data`.

use std::fmt;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub bind: String,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub web: WebSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSettings {
    /// Background tiles for the dashboard's maps, as a URL template
    /// (`https://tile.openstreetmap.org/{z}/{x}/{y}.png`). None by default: maps draw the
    /// account's own boundaries and points, and browsers fetch nothing from elsewhere.
    pub map_tiles: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (embedded) or `postgres://user:pass@host/db` (scale-out).
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Directory for uploaded and generated files (forms, attachments, exports), unless `s3` is set.
    pub path: String,
    /// S3-compatible object storage instead of the directory (`HYGEIA_STORAGE__S3__BUCKET=...`).
    pub s3: Option<hygeia_files::S3Config>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest accepted request body, in bytes (upload routes set their own).
    pub body_limit_bytes: usize,
    /// Largest accepted upload of a file to import, in bytes.
    pub upload_limit_bytes: usize,
    /// Requests running longer are answered 408.
    pub request_timeout_secs: u64,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub trust_forwarded_for: bool,
}

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// HS256 key for API tokens. When unset, a random key is generated on first start and kept in
    /// the database, so every server sharing the database accepts the same tokens.
    pub jwt_secret: Option<String>,
    /// Lifetime of access tokens. Iaso issues 10-year tokens; a shorter default limits the damage of
    /// a leaked token while still letting phones work offline for weeks.
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub session_ttl_secs: u64,
    /// Mark session cookies `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Failed logins allowed per username and per client address in one minute; more are answered 429.
    pub login_failures_per_minute: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            database: DatabaseSettings::default(),
            storage: StorageSettings::default(),
            http: HttpSettings::default(),
            auth: AuthSettings::default(),
            web: WebSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings { url: "sqlite://./data/hygeia.db".into() }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings { path: "./data/files".into(), s3: None }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            body_limit_bytes: 2 * 1024 * 1024,
            upload_limit_bytes: 1024 * 1024 * 1024,
            request_timeout_secs: 60,
            trust_forwarded_for: false,
        }
    }
}

const DAY: u64 = 24 * 60 * 60;

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            jwt_secret: None,
            access_token_ttl_secs: 30 * DAY,
            refresh_token_ttl_secs: 365 * DAY,
            session_ttl_secs: 14 * DAY,
            secure_cookies: false,
            login_failures_per_minute: 10,
        }
    }
}

const MAX_TTL_SECS: u64 = 3650 * DAY;

impl Settings {
    /// Checks values a type cannot: every problem, named by its key.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if let Some(secret) = self.auth.jwt_secret.as_deref().filter(|s| !s.is_empty())
            && secret.len() < 32
        {
            problems.push("auth.jwt_secret must be at least 32 bytes long".to_owned());
        }
        for (key, value) in [
            ("auth.access_token_ttl_secs", self.auth.access_token_ttl_secs),
            ("auth.refresh_token_ttl_secs", self.auth.refresh_token_ttl_secs),
            ("auth.session_ttl_secs", self.auth.session_ttl_secs),
        ] {
            if !(60..=MAX_TTL_SECS).contains(&value) {
                problems.push(format!("{key} must be between 60 and {MAX_TTL_SECS} (10 years)"));
            }
        }
        if self.http.body_limit_bytes < 1024 {
            problems.push("http.body_limit_bytes must be at least 1024".to_owned());
        }
        if self.http.request_timeout_secs == 0 {
            problems.push("http.request_timeout_secs must be at least 1".to_owned());
        }
        if self.auth.login_failures_per_minute == 0 {
            problems.push("auth.login_failures_per_minute must be at least 1".to_owned());
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }
}

impl DatabaseSettings {
    pub fn backend(&self) -> Option<&'static str> {
        backend_of(&self.url)
    }

    /// The URL with any password replaced, for logs and `check-config`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// Which backend a database URL selects.
pub fn backend_of(url: &str) -> Option<&'static str> {
    if url.starts_with("sqlite:") {
        Some("sqlite")
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some("postgres")
    } else {
        None
    }
}

fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_once('/').map_or((rest, None), |(a, t)| (a, Some(t)));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    match tail {
        Some(tail) => format!("{scheme}://{authority}/{tail}"),
        None => format!("{scheme}://{authority}"),
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings").field("url", &self.redacted_url()).finish()
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("secure_cookies", &self.secure_cookies)
            .field("login_failures_per_minute", &self.login_failures_per_minute)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_classified() {
        assert_eq!(redact_url("postgres://hygeia:s3cret@db:5432/prod"), "postgres://hygeia:***@db:5432/prod");
        assert_eq!(redact_url("postgres://postgres@127.0.0.1/test"), "postgres://postgres@127.0.0.1/test");
        assert_eq!(redact_url("sqlite://./data/hygeia.db"), "sqlite://./data/hygeia.db");
        assert_eq!(backend_of("sqlite::memory:"), Some("sqlite"));
        assert_eq!(backend_of("postgresql://x/y"), Some("postgres"));
        assert_eq!(backend_of("mysql://x/y"), None);
        let debug = format!("{:?}", AuthSettings { jwt_secret: Some("k".into()), ..Default::default() });
        assert!(debug.contains("***") && !debug.contains("\"k\""));
    }

    #[test]
    fn validation_names_each_bad_key() {
        assert_eq!(Settings::default().validate(), Ok(()));
        let mut settings = Settings::default();
        settings.auth.jwt_secret = Some("short".into());
        settings.auth.session_ttl_secs = u64::MAX;
        let problems = settings.validate().unwrap_err();
        assert!(problems.contains("auth.jwt_secret") && problems.contains("auth.session_ttl_secs"), "{problems}");
    }
}
