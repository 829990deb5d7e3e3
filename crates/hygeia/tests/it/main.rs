//! The `hygeia` binary end to end, as an operator uses it on a fresh machine: create an account
//! and a user, start the server, get a token, read the profile, stop with SIGTERM. On the
//! embedded defaults (SQLite under ./data) and on PostgreSQL when `HYGEIA_TEST_POSTGRES_URL` is set.

mod http;
mod imports;
mod workers;
mod xlsform;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hygeia");
const PASSWORD: &str = "correct horse battery";

/// Runs the binary in `dir` with `database_url` (or the built-in default when `None`).
fn hygeia(dir: &Path, database_url: Option<&str>) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).env("HYGEIA_LOG", "warn");
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("HYGEIA_")) {
        command.env_remove(name);
    }
    if let Some(url) = database_url {
        command.env("HYGEIA_DATABASE_URL", url);
    }
    command
}

fn run(command: &mut Command, stdin: Option<&str>) -> Output {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn hygeia");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hygeia-bin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_until_healthy(port: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, body)) = http::request(port, "GET", "/health/", &[], "") {
            return serde_json::from_str(&body).unwrap();
        }
        assert!(Instant::now() < deadline, "the server did not become healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn operator_walkthrough(dir: &Path, database_url: Option<&str>, backend: &str) {
    ok(&run(hygeia(dir, database_url).arg("migrate"), None));
    let out = ok(&run(hygeia(dir, database_url).args(["create-account", "BFA Demo"]), None));
    assert!(out.contains("created account"), "{out}");
    let out = ok(&run(
        hygeia(dir, database_url).args([
            "create-user",
            "--account",
            "BFA Demo",
            "--username",
            "aminata",
            "--permission",
            "iaso_forms",
            "--permission",
            "iaso_org_units",
            "--password-stdin",
        ]),
        Some(&format!("{PASSWORD}\n")),
    ));
    assert!(out.contains("created user aminata"), "{out}");
    ok(&run(
        hygeia(dir, database_url).args([
            "create-project",
            "--account",
            "BFA Demo",
            "--name",
            "BFA Demo Project",
            "--app-id",
            "bfa.demo",
        ]),
        None,
    ));

    // Mistakes are refused with a message that names them, and change nothing.
    let bad = run(
        hygeia(dir, database_url).args([
            "create-user",
            "--account",
            "BFA Demo",
            "--username",
            "x",
            "--permission",
            "iaso_nope",
            "--password-stdin",
        ]),
        Some("long enough password\n"),
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Unknown permission \"iaso_nope\""), "{bad:?}");
    let bad = run(
        hygeia(dir, database_url).args(["create-user", "--account", "Nowhere", "--username", "y", "--password-stdin"]),
        Some("long enough password\n"),
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no account named \"Nowhere\""), "{bad:?}");
    let bad = run(
        hygeia(dir, database_url).args(["create-user", "--account", "BFA Demo", "--username", "z", "--password-stdin"]),
        Some("short\n"),
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("too short"), "{bad:?}");
    let bad = run(hygeia(dir, database_url).args(["create-account", "BFA Demo"]), None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("already exists"), "{bad:?}");

    let config = ok(&run(hygeia(dir, database_url).arg("check-config"), None));
    assert!(config.contains("database reachable"), "{config}");
    assert!(config.contains(&format!("({backend})")), "{config}");

    let port = free_port();
    let server = Server(
        hygeia(dir, database_url)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let health = wait_until_healthy(port);
    assert_eq!(health["backend"], backend);
    assert_eq!(health["account_count"], 1);

    // The server's own workers run a queued task; the command follows it with a progress bar.
    let check = run(
        hygeia(dir, database_url).args([
            "worker-check",
            "--account",
            "BFA Demo",
            "--steps",
            "3",
            "--step-ms",
            "50",
            "--wait",
        ]),
        None,
    );
    let out = ok(&check);
    assert!(out.contains("SUCCESS after 1 attempt(s)"), "{out}");
    assert!(String::from_utf8_lossy(&check.stderr).contains("] 3/3 step 3 of 3"), "{check:?}");

    let (status, body) = http::request(
        port,
        "POST",
        "/api/token/?app_id=bfa.demo",
        &[("Content-Type", "application/json")],
        &format!(r#"{{"username":"aminata","password":"{PASSWORD}"}}"#),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let tokens: Value = serde_json::from_str(&body).unwrap();
    let access = tokens["access"].as_str().unwrap();
    let (status, body) =
        http::request(port, "GET", "/api/profiles/me/", &[("Authorization", &format!("Bearer {access}"))], "").unwrap();
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["user_name"], "aminata");
    assert_eq!(me["account"]["name"], "BFA Demo");
    assert_eq!(me["user_permissions"], serde_json::json!(["iaso_forms", "iaso_org_units"]));

    // SIGTERM: graceful shutdown, exit status 0.
    let mut server = server;
    let child = &mut server.0;
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn fresh_machine_on_embedded_defaults() {
    let dir = scratch_dir("sqlite");
    operator_walkthrough(&dir, None, "sqlite");
    assert!(dir.join("data/hygeia.db").exists(), "the default database lives in ./data");
    assert!(dir.join("data/files").is_dir(), "the default files directory is created");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `test` in a scratch directory against a throw-away PostgreSQL schema, when
/// `HYGEIA_TEST_POSTGRES_URL` is set.
pub fn on_postgres(name: &str, test: impl FnOnce(&Path, &str)) {
    let Ok(url) = std::env::var(hygeia_store_postgres::testing::URL_VARIABLE) else {
        eprintln!("HYGEIA_TEST_POSTGRES_URL is unset: PostgreSQL test {name} skipped");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (scoped_url, teardown) = runtime.block_on(hygeia_store_postgres::testing::scratch_schema(&url));
    let dir = scratch_dir(name);
    test(&dir, &scoped_url);
    runtime.block_on(teardown);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn postgres_backend_from_the_database_url() {
    on_postgres("postgres", |dir, url| {
        operator_walkthrough(dir, Some(url), "postgres");
        assert!(!dir.join("data/hygeia.db").exists(), "no SQLite file when PostgreSQL is configured");
    });
}

#[test]
fn bad_configuration_is_reported() {
    let dir = scratch_dir("config");
    let out = run(hygeia(&dir, Some("mysql://localhost/x")).arg("check-config"), None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not supported"), "{out:?}");
    std::fs::write(dir.join("hygeia.toml"), "bnid = \"x\"\n").unwrap();
    let out = run(hygeia(&dir, None).arg("check-config"), None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("bnid"), "{out:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
