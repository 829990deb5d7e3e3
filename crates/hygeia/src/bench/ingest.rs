//! `hygeia bench ingest`: many phones sending submissions to a running server at once, as fast
//! as it answers, over OpenRosa (ODK Collect) or Iaso's two-call upload. Prints submissions per
//! second, latency percentiles, errors, and how many submissions the server lists before and
//! after, so that a lost submission shows.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

#[derive(Args)]
pub struct BenchIngest {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The project's app id.
    #[arg(long)]
    app_id: String,
    #[arg(long)]
    username: String,
    #[arg(long, env = "BENCH_PASSWORD")]
    password: String,
    /// A submission's XML, with `{uuid}` where each submission's own instance id goes.
    #[arg(long)]
    template: PathBuf,
    #[arg(long, value_enum, default_value = "openrosa")]
    protocol: Protocol,
    /// Concurrent clients, each sending one submission after another.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// The form's id (Iaso's metadata names it).
    #[arg(long)]
    form: Option<i64>,
    /// The org unit Iaso's metadata names.
    #[arg(long)]
    org_unit: Option<i64>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Protocol {
    /// `POST /openrosa/{app_id}/submission` with Basic credentials: one call per submission.
    Openrosa,
    /// `POST /api/instances/` then `POST /sync/form_upload/` with a JWT: two calls per submission.
    Iaso,
}

/// What one client did.
#[derive(Default)]
struct Tally {
    micros: Vec<u64>,
    errors: u64,
    first_errors: Vec<String>,
}

pub async fn run(args: BenchIngest) -> Result<()> {
    let template = std::fs::read_to_string(&args.template)
        .with_context(|| format!("reading the template {}", args.template.display()))?;
    if !template.contains("{uuid}") {
        bail!("{}: the template has no {{uuid}} placeholder", args.template.display());
    }
    let base = args.url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build()?;
    let token = login(&http, &base, &args.username, &args.password).await?;
    let before = submission_count(&http, &base, &token).await?;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", args.username, args.password))
    );
    // Instance ids unique to this run and client.
    let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as u32;
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..args.clients {
        let sender = Sender {
            http: http.clone(),
            base: base.clone(),
            app_id: args.app_id.clone(),
            auth: match args.protocol {
                Protocol::Openrosa => basic.clone(),
                Protocol::Iaso => format!("Bearer {token}"),
            },
            protocol: args.protocol,
            template: template.clone(),
            form: args.form,
            org_unit: args.org_unit,
        };
        clients.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut n: u64 = 0;
            while Instant::now() < deadline {
                let uuid = format!("{run_id:08x}-{client:04x}-4000-8000-{n:012x}");
                n += 1;
                let at = Instant::now();
                match sender.send(&uuid).await {
                    Ok(()) => tally.micros.push(at.elapsed().as_micros() as u64),
                    Err(error) => {
                        tally.errors += 1;
                        if tally.first_errors.len() < 3 {
                            tally.first_errors.push(format!("{uuid}: {error:#}"));
                        }
                    }
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for client in clients {
        let tally = client.await?;
        all.micros.extend(tally.micros);
        all.errors += tally.errors;
        all.first_errors.extend(tally.first_errors);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.micros.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if all.micros.is_empty() {
            return 0.0;
        }
        let index = ((all.micros.len() as f64 - 1.0) * p).round() as usize;
        all.micros[index] as f64 / 1000.0
    };
    let accepted = all.micros.len() as u64;
    println!(
        "{} clients, {:.1} s: {accepted} submissions accepted, {:.0} submissions/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} errors",
        args.clients,
        elapsed,
        accepted as f64 / elapsed,
        percentile(0.5),
        percentile(0.99),
        percentile(1.0),
        all.errors
    );
    for error in all.first_errors.iter().take(5) {
        println!("  error: {error}");
    }
    let after = submission_count(&http, &base, &token).await?;
    let lost = (before + accepted).saturating_sub(after);
    println!("submissions listed: {before} before, {after} after ({} new, {lost} lost)", after - before.min(after));
    if lost > 0 || all.errors > 0 {
        bail!("{lost} submissions lost, {} errors", all.errors);
    }
    Ok(())
}

struct Sender {
    http: reqwest::Client,
    base: String,
    app_id: String,
    auth: String,
    protocol: Protocol,
    template: String,
    form: Option<i64>,
    org_unit: Option<i64>,
}

const BOUNDARY: &str = "hygeia-bench-7d1f";

impl Sender {
    async fn send(&self, uuid: &str) -> Result<()> {
        let xml = self.template.replace("{uuid}", uuid);
        let file_name = format!("{uuid}.xml");
        let body = multipart(&file_name, &xml);
        let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
        match self.protocol {
            Protocol::Openrosa => {
                let reply = self
                    .http
                    .post(format!("{}/openrosa/{}/submission", self.base, self.app_id))
                    .header("authorization", &self.auth)
                    .header("x-openrosa-version", "1.0")
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await?;
                expect(reply, 201).await
            }
            Protocol::Iaso => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
                let metadata = json!([{
                    "id": uuid,
                    "file": format!("/storage/emulated/0/odk/instances/{uuid}/{file_name}"),
                    "name": "bench",
                    "formId": self.form,
                    "orgUnitId": self.org_unit,
                    "created_at": now,
                    "updated_at": now,
                }]);
                let reply = self
                    .http
                    .post(format!("{}/api/instances/?app_id={}", self.base, self.app_id))
                    .header("authorization", &self.auth)
                    .header("content-type", "application/json")
                    .body(metadata.to_string())
                    .send()
                    .await?;
                expect(reply, 200).await?;
                let reply = self
                    .http
                    .post(format!("{}/sync/form_upload/?app_id={}", self.base, self.app_id))
                    .header("authorization", &self.auth)
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await?;
                expect(reply, 201).await
            }
        }
    }
}

fn multipart(file_name: &str, xml: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(xml.len() + 256);
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"xml_submission_file\"; filename=\"{file_name}\"\r\nContent-Type: text/xml\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(xml.as_bytes());
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn expect(reply: reqwest::Response, status: u16) -> Result<()> {
    let got = reply.status().as_u16();
    let text = reply.text().await?;
    if got != status {
        bail!("HTTP {got} (expected {status}): {}", text.chars().take(200).collect::<String>());
    }
    Ok(())
}

async fn login(http: &reqwest::Client, base: &str, username: &str, password: &str) -> Result<String> {
    let reply = http
        .post(format!("{base}/api/token/"))
        .header("content-type", "application/json")
        .body(json!({"username": username, "password": password}).to_string())
        .send()
        .await
        .with_context(|| format!("no server at {base}"))?;
    let body: Value = serde_json::from_str(&reply.text().await?)?;
    body["access"].as_str().map(str::to_owned).with_context(|| format!("login refused: {body}"))
}

/// The submissions the server lists (not deleted).
async fn submission_count(http: &reqwest::Client, base: &str, token: &str) -> Result<u64> {
    let reply = http
        .get(format!("{base}/api/instances/?limit=1"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await?;
    let body: Value = serde_json::from_str(&reply.text().await?)?;
    body["count"].as_u64().with_context(|| format!("no count in the submissions list: {body}"))
}
