//! `hygeia import ...`: trees from files into a version of a data source, with a progress bar and a
//! summary. All or nothing: a refused file changes nothing.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hygeia_core::ValidationStatus;
use hygeia_formats::csv_tree::{self, DataDict};
use hygeia_jobs::TerminalProgress;
use hygeia_server::imports::{ImportTarget, import_draft};
use hygeia_store::DynStore;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// A CSV tree as Iaso's tree importer reads it: one row per leaf, parents in columns, mapped by
    /// a data dictionary (`--data-dict`).
    Csv(CsvImport),
}

#[derive(Args)]
pub struct Target {
    /// Account name or id.
    #[arg(long)]
    account: String,
    /// Data source name (created when missing).
    #[arg(long)]
    source: String,
    /// Version number: an existing empty version, or one to create (default: the next version).
    #[arg(long)]
    version: Option<i64>,
    /// Status of the created units.
    #[arg(long, default_value = "VALID")]
    validation_status: String,
}

#[derive(Args)]
pub struct CsvImport {
    file: PathBuf,
    #[command(flatten)]
    target: Target,
    /// JSON mapping of columns: {"name": ..., "parents": [...], "latitude": ..., "longitude": ..., "source_ref": ...}.
    /// Default: the columns of Hygeia's own org-unit CSV export.
    #[arg(long)]
    data_dict: Option<PathBuf>,
    /// Type name of the leaves (the rows' own units).
    #[arg(long, default_value = "Facility")]
    leaf_type: String,
}

pub async fn run(store: &DynStore, command: ImportCommand) -> Result<()> {
    match command {
        ImportCommand::Csv(args) => csv(store, args).await,
    }
}

async fn csv(store: &DynStore, args: CsvImport) -> Result<()> {
    let dict = match &args.data_dict {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            DataDict::from_json(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => DataDict::iaso_export(),
    };
    let name = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let file = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    // Parsing is CPU and file work: off the async workers.
    let leaf_type = args.leaf_type.clone();
    let draft = tokio::task::spawn_blocking(move || csv_tree::read(file, &name, &dict, &leaf_type))
        .await?
        .context("the file was refused; nothing was written")?;
    let account = crate::admin::find_account(store, &args.target.account).await?;
    let Some(validation_status) = ValidationStatus::parse(&args.target.validation_status) else {
        bail!("--validation-status must be NEW, VALID or REJECTED");
    };
    let target = ImportTarget {
        account: account.id,
        source_name: args.target.source.clone(),
        version_number: args.target.version,
        validation_status,
        actor: None,
    };
    let bar = TerminalProgress::new(std::io::stderr());
    let result = import_draft(store, &target, &draft, &bar).await;
    bar.finish();
    let summary = result.context("the import was refused; nothing was written")?;
    println!("{summary}");
    Ok(())
}
