//! `hygeia import ...` and `hygeia export ...`: trees from files into a version of a data source,
//! and back out, with a progress bar and a summary. Imports are all or nothing: a refused file
//! changes nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hygeia_core::{OrgUnitQuery, OrgUnitScope, ValidationStatus};
use hygeia_formats::TreeDraft;
use hygeia_formats::csv_tree::{self, DataDict};
use hygeia_formats::gpkg;
use hygeia_jobs::TerminalProgress;
use hygeia_server::exports;
use hygeia_server::imports::{ImportTarget, import_draft};
use hygeia_store::DynStore;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// A CSV tree as Iaso's tree importer reads it: one row per leaf, parents in columns, mapped by
    /// a data dictionary (`--data-dict`).
    Csv(CsvImport),
    /// A GeoPackage in Iaso's format: one `level-{depth}-{type}` layer per type, a `groups` table.
    Gpkg(FileImport),
}

#[derive(Args)]
pub struct Target {
    /// Account name or id.
    #[arg(long)]
    account: String,
    /// Data source name (created when missing).
    #[arg(long)]
    source: String,
    /// An existing version to update (matching units by reference, else by name under the same
    /// parent); without it, a new version.
    #[arg(long)]
    version: Option<i64>,
    /// Status of the created units.
    #[arg(long, default_value = "VALID")]
    validation_status: String,
}

#[derive(Args)]
pub struct FileImport {
    file: PathBuf,
    #[command(flatten)]
    target: Target,
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
    let (draft, target, audit_source) = match command {
        ImportCommand::Csv(args) => (read_csv(&args).await?, args.target, "csv_import"),
        ImportCommand::Gpkg(args) => {
            let name = file_name(&args.file);
            let draft = gpkg::read(&args.file, &name).await.context("the file was refused; nothing was written")?;
            (draft, args.target, "gpkg_import")
        }
    };
    import(store, &draft, &target, audit_source).await
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

async fn read_csv(args: &CsvImport) -> Result<TreeDraft> {
    let dict = match &args.data_dict {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            DataDict::from_json(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => DataDict::iaso_export(),
    };
    let name = file_name(&args.file);
    let file = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    // Parsing is CPU and file work: off the async workers.
    let leaf_type = args.leaf_type.clone();
    let draft = tokio::task::spawn_blocking(move || csv_tree::read(file, &name, &dict, &leaf_type))
        .await?
        .context("the file was refused; nothing was written")?;
    Ok(draft)
}

async fn import(store: &DynStore, draft: &TreeDraft, target: &Target, audit_source: &str) -> Result<()> {
    let account = crate::admin::find_account(store, &target.account).await?;
    let Some(validation_status) = ValidationStatus::parse(&target.validation_status) else {
        bail!("--validation-status must be NEW, VALID or REJECTED");
    };
    let target = ImportTarget {
        account: account.id,
        source_name: target.source.clone(),
        version_number: target.version,
        validation_status,
        actor: None,
        audit_source: audit_source.into(),
    };
    let bar = TerminalProgress::new(std::io::stderr());
    let result = import_draft(store, &target, draft, &bar).await;
    bar.finish();
    let summary = result.context("the import was refused; nothing was written")?;
    println!("{summary}");
    Ok(())
}

#[derive(Subcommand)]
pub enum ExportCommand {
    /// A GeoPackage in Iaso's format (re-importable with `hygeia import gpkg`).
    Gpkg(ExportArgs),
}

#[derive(Args)]
pub struct ExportArgs {
    /// Account name or id.
    #[arg(long)]
    account: String,
    /// Data source name.
    #[arg(long)]
    source: String,
    /// Version number (default: the source's default version).
    #[arg(long)]
    version: Option<i64>,
    /// The file to write (replaced if it exists).
    #[arg(short = 'o', long)]
    output: PathBuf,
}

pub async fn export(store: &DynStore, command: ExportCommand) -> Result<()> {
    let ExportCommand::Gpkg(args) = command;
    let account = crate::admin::find_account(store, &args.account).await?;
    let sources = store.sources().sources(account.id).await?;
    let Some(source) = sources.iter().find(|s| s.name == args.source) else {
        bail!("account {} has no data source named {:?}", account.name, args.source);
    };
    let versions = store.sources().versions(account.id, Some(source.id)).await?;
    let version = match args.version {
        Some(number) => versions.iter().find(|v| v.number == number),
        None => versions.iter().find(|v| Some(v.id) == source.default_version_id).or(versions.last()),
    };
    let Some(version) = version else { bail!("source {:?} has no such version", args.source) };
    let query = OrgUnitQuery { version_ids: vec![version.id], ..Default::default() };
    let scope = OrgUnitScope::whole_account(account.id);
    if args.output.exists() {
        std::fs::remove_file(&args.output).with_context(|| format!("replacing {}", args.output.display()))?;
    }
    let bar = TerminalProgress::new(std::io::stderr());
    let result = exports::export_gpkg(store, scope, query, &args.output, &bar).await;
    bar.finish();
    let written = match result {
        Ok(written) => written,
        Err(err) => {
            let _ = std::fs::remove_file(&args.output);
            return Err(err).context("the export failed");
        }
    };
    println!("exported {written} org units of version {} to {}", version.number, args.output.display());
    Ok(())
}
