//! Settings from an optional `hygeia.toml` and `HYGEIA_*` environment variables, over defaults.
//!
//! Nested keys use `__` in variable names (`HYGEIA_AUTH__SECURE_COOKIES=true` sets
//! `auth.secure_cookies`); `HYGEIA_DATABASE_URL` is accepted as the short form of
//! `HYGEIA_DATABASE__URL`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use config::{Config, Environment, File, FileFormat};
use hygeia_server::Settings;

pub const DEFAULT_FILE: &str = "hygeia.toml";

/// Variables under the `HYGEIA_` prefix that are not settings.
const NOT_SETTINGS: &[&str] = &["HYGEIA_LOG", "HYGEIA_LOG_FORMAT", "HYGEIA_CONFIG"];

/// Loads settings: `file` if given (it must exist), else `./hygeia.toml` if present; then the
/// environment.
pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Settings> {
    let mut builder = Config::builder();
    match file {
        Some(path) => {
            let path_str = path.to_str().context("the configuration path is not valid UTF-8")?;
            builder = builder.add_source(File::new(path_str, FileFormat::Toml).required(true));
        }
        None if Path::new(DEFAULT_FILE).exists() => {
            builder = builder.add_source(File::new(DEFAULT_FILE, FileFormat::Toml));
        }
        None => {}
    }
    builder = builder.add_source(
        Environment::with_prefix("HYGEIA")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .source(Some(setting_variables(env))),
    );
    let settings: Settings =
        builder.build().context("reading the configuration")?.try_deserialize().context("invalid configuration")?;
    settings.validate().map_err(|problems| anyhow::anyhow!("invalid configuration: {problems}"))?;
    if settings.database.backend().is_none() {
        anyhow::bail!(
            "database.url {:?} is not supported: use sqlite://path/to/file.db or postgres://user@host/database",
            settings.database.redacted_url()
        );
    }
    Ok(settings)
}

/// The `HYGEIA_*` variables that are settings, with the short database form normalised.
fn setting_variables(env: impl IntoIterator<Item = (String, String)>) -> HashMap<String, String> {
    env.into_iter()
        .filter(|(name, _)| {
            name.starts_with("HYGEIA_") && !name.starts_with("HYGEIA_TEST_") && !NOT_SETTINGS.contains(&name.as_str())
        })
        .map(|(name, value)| match name.as_str() {
            "HYGEIA_DATABASE_URL" => ("HYGEIA_DATABASE__URL".to_owned(), value),
            _ => (name, value),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_give_an_embedded_installation() {
        let settings = load(None, env(&[])).unwrap();
        assert_eq!(settings.bind, "127.0.0.1:8080");
        assert_eq!(settings.database.url, "sqlite://./data/hygeia.db");
        assert_eq!(settings.storage.path, "./data/files");
    }

    #[test]
    fn environment_overrides_and_short_database_form() {
        let settings = load(
            None,
            env(&[
                ("HYGEIA_DATABASE_URL", "postgres://postgres@127.0.0.1/test"),
                ("HYGEIA_BIND", "0.0.0.0:9000"),
                ("HYGEIA_AUTH__SECURE_COOKIES", "true"),
                ("HYGEIA_AUTH__LOGIN_FAILURES_PER_MINUTE", "3"),
                ("HYGEIA_TEST_POSTGRES_URL", "ignored"),
                ("HYGEIA_TEST_SHARED_DATA", "ignored"),
                ("HYGEIA_STORAGE__S3__BUCKET", "hygeia-files"),
                ("HYGEIA_STORAGE__S3__SECRET_ACCESS_KEY", "not-shown"),
                ("HYGEIA_LOG", "debug"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.database.url, "postgres://postgres@127.0.0.1/test");
        assert_eq!(settings.bind, "0.0.0.0:9000");
        assert!(settings.auth.secure_cookies);
        assert_eq!(settings.auth.login_failures_per_minute, 3);
        let s3 = settings.storage.s3.as_ref().expect("S3 storage from the environment");
        assert_eq!((s3.bucket.as_str(), s3.secret_access_key.as_str()), ("hygeia-files", "not-shown"));
        assert!(!format!("{settings:?}").contains("not-shown"), "the secret is hidden from check-config");
    }

    #[test]
    fn file_settings_and_errors_name_the_problem() {
        let dir = std::env::temp_dir().join(format!("hygeia-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hygeia.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:9999\"\n[http]\nrequest_timeout_secs = 5\n").unwrap();
        let settings = load(Some(&file), env(&[("HYGEIA_BIND", "127.0.0.1:7777")])).unwrap();
        assert_eq!(settings.bind, "127.0.0.1:7777", "the environment wins over the file");
        assert_eq!(settings.http.request_timeout_secs, 5);

        std::fs::write(&file, "[http]\nrequest_timout_secs = 5\n").unwrap();
        let err = format!("{:#}", load(Some(&file), env(&[])).unwrap_err());
        assert!(err.contains("request_timout_secs"), "{err}");

        let err = format!("{:#}", load(None, env(&[("HYGEIA_DATABASE_URL", "mysql://x")])).unwrap_err());
        assert!(err.contains("not supported"), "{err}");
        let err = format!("{:#}", load(Some(&dir.join("missing.toml")), env(&[])).unwrap_err());
        assert!(err.contains("missing.toml"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
