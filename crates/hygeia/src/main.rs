//! `hygeia`: the server, and the administration commands that go with it.

mod admin;
mod bench;
mod config;
mod import;
mod workers;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hygeia_server::{AppState, Settings};
use hygeia_store::DynStore;

#[derive(Parser)]
#[command(name = "hygeia", version, about = "Hygeia: an open georegistry and data-collection platform")]
struct Cli {
    /// Configuration file (default: ./hygeia.toml when it exists).
    #[arg(long, global = true, env = "HYGEIA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (migrating the database first).
    Serve {
        /// Address to listen on (default 127.0.0.1:8080, or `bind` from the configuration).
        #[arg(long)]
        bind: Option<String>,
        #[command(flatten)]
        workers: workers::WorkerOptions,
    },
    /// Run background workers only (no HTTP), for scale-out beside `serve --workers 0`.
    Worker {
        #[command(flatten)]
        workers: workers::WorkerOptions,
    },
    /// Queue a check task that counts in timed steps, to see the workers at work.
    WorkerCheck(workers::WorkerCheck),
    /// Apply pending database migrations.
    Migrate,
    /// Create an account (a tenant).
    CreateAccount { name: String },
    /// Create a user in an account.
    CreateUser(admin::CreateUser),
    /// Create a data-collection project in an account.
    CreateProject(admin::CreateProject),
    /// Create a demo account with a project, an administrator (its password printed) and a real
    /// tree, so that a new installation shows data at once.
    SeedDemo(admin::SeedDemo),
    /// Print the effective configuration (secrets hidden) and check the database is reachable.
    CheckConfig,
    /// Import a tree from a file into a version of a data source.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Export a version of a data source to a file.
    #[command(subcommand)]
    Export(import::ExportCommand),
    /// Processes again the submission payloads that failed or were never processed (after their
    /// form or version was uploaded, say); prints each outcome.
    ReplaySubmissions {
        /// At most this many payloads, oldest first.
        #[arg(long, default_value_t = 1000)]
        limit: u64,
    },
    /// Benchmark helpers (synthetic data).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Convert an XLSForm (`.xlsx`, `.xls`, `.ods`, or a `.md` of markdown tables) to an XForm,
    /// without a server; a broken form exits non-zero with the sheet, row and column at fault.
    Xlsform {
        file: PathBuf,
        /// Where to write the XForm (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Write the form's JSON descriptor (pyxform's tree, as Iaso's `fields=descriptor`) instead.
        #[arg(long)]
        descriptor: bool,
    },
}

/// glibc's allocator serialised the server's threads on its arena locks (a third of a list request's
/// CPU under load, BENCHMARKS.md); mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging();
    let settings = config::load(cli.config.as_deref(), std::env::vars())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(cli.command, settings))
}

async fn run(command: Command, mut settings: Settings) -> Result<()> {
    match command {
        Command::Serve { bind, workers } => {
            if let Some(bind) = bind {
                settings.bind = bind;
            }
            serve(settings, workers).await
        }
        Command::Worker { workers } => worker(settings, workers).await,
        Command::Xlsform { file, output, descriptor } => xlsform(&file, output.as_deref(), descriptor),
        Command::Bench(bench::BenchCommand::Ingest(args)) => bench::ingest::run(args).await,
        one_shot => {
            // Closed at the end, so that SQLite checkpoints its WAL now rather than leaving the
            // next command to recover it.
            let store = open(&settings).await?;
            let result = run_once(one_shot, &store, settings).await;
            store.close().await;
            result
        }
    }
}

/// A command that runs once against the database and ends.
async fn run_once(command: Command, store: &DynStore, settings: Settings) -> Result<()> {
    match command {
        Command::WorkerCheck(args) => {
            let state = AppState::new(store.clone(), settings).await?;
            workers::worker_check(&state, args).await
        }
        Command::Migrate => {
            println!("database migrated ({})", store.backend());
            Ok(())
        }
        Command::CreateAccount { name } => admin::create_account(store, &name).await,
        Command::CreateUser(args) => admin::create_user(store, args).await,
        Command::CreateProject(args) => admin::create_project(store, args).await,
        Command::SeedDemo(args) => admin::seed_demo(store, args).await,
        Command::Bench(command) => bench::run(store, command).await,
        Command::ReplaySubmissions { limit } => {
            let state = AppState::new(store.clone(), settings).await?;
            let (done, failed) =
                hygeia_server::submissions::replay_unprocessed(&state, limit, |payload, outcome| match outcome {
                    Ok(what) => println!("payload {payload}: {what}"),
                    Err(error) => println!("payload {payload}: still failing: {error}"),
                })
                .await?;
            println!("{done} payloads processed, {failed} still failing");
            Ok(())
        }
        Command::Import(command) => import::run(store, command).await,
        Command::Export(command) => import::export(store, command).await,
        Command::CheckConfig => {
            println!("{settings:#?}");
            store.ping().await.context("the database does not answer")?;
            println!("database reachable and migrated ({})", store.backend());
            Ok(())
        }
        Command::Serve { .. } | Command::Worker { .. } | Command::Xlsform { .. } => {
            anyhow::bail!("this command runs without a database: see `run`")
        }
    }
}

fn xlsform(file: &std::path::Path, output: Option<&std::path::Path>, descriptor: bool) -> Result<()> {
    let conversion =
        hygeia_xlsform::convert_file(file).with_context(|| format!("{} was not converted", file.display()))?;
    let text = if descriptor {
        serde_json::to_string_pretty(&conversion.descriptor).context("writing the descriptor")?
    } else {
        conversion.xform
    };
    match output {
        Some(path) => std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?,
        None => println!("{text}"),
    }
    Ok(())
}

/// Connects to the configured database and brings its schema up to date.
async fn open(settings: &Settings) -> Result<DynStore> {
    let store = hygeia_server::backend::connect(&settings.database.url)
        .await
        .with_context(|| format!("opening {}", settings.database.redacted_url()))?;
    store.migrate().await.context("migrating the database")?;
    store.optimize().await.context("refreshing the database statistics")?;
    Ok(store)
}

async fn serve(settings: Settings, worker_options: workers::WorkerOptions) -> Result<()> {
    std::fs::create_dir_all(&settings.storage.path)
        .with_context(|| format!("creating the files directory {}", settings.storage.path))?;
    let store = open(&settings).await?;
    let listener = tokio::net::TcpListener::bind(&settings.bind)
        .await
        .with_context(|| format!("listening on {}", settings.bind))?;
    let address = listener.local_addr()?;
    let backend = store.backend();
    let state = AppState::new(store.clone(), settings).await?;
    let workers = workers::start(&state, worker_options);
    tracing::info!(%address, backend, "Hygeia is listening on http://{address}/");
    hygeia_server::serve(listener, state, shutdown_signal()).await?;
    workers.shutdown().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn worker(settings: Settings, options: workers::WorkerOptions) -> Result<()> {
    let store = open(&settings).await?;
    let state = AppState::new(store.clone(), settings).await?;
    let workers = workers::start(&state, options);
    shutdown_signal().await;
    workers.shutdown().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing requests and tasks in flight");
}

/// Logs to stderr; `HYGEIA_LOG` (or `RUST_LOG`) filters, `HYGEIA_LOG_FORMAT=json` for log collectors.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("HYGEIA_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("HYGEIA_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
