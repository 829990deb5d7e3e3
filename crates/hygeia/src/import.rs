//! `hygeia import ...` and `hygeia export ...`: trees from files into a version of a data source,
//! and back out, with a progress bar and a summary. Imports are all or nothing: a refused file
//! changes nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hygeia_core::{OrgUnitQuery, OrgUnitScope, ValidationStatus};
use hygeia_formats::TreeDraft;
use hygeia_formats::csv_tree::{self, DataDict};
use hygeia_formats::features::FeatureMapping;
use hygeia_formats::{dhis2, geojson, gpkg, shapefile};
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
    /// A GeoJSON FeatureCollection, one unit per feature, properties mapped by the options.
    Geojson(FeatureImport),
    /// An ESRI Shapefile (`.shp` with its `.dbf`, or a `.zip` of them), mapped like GeoJSON.
    Shp(FeatureImport),
    /// A DHIS2 server's organisation units, levels, groups and group sets (its Web API).
    Dhis2(Dhis2Import),
}

#[derive(Args)]
pub struct Dhis2Import {
    /// The server's base URL (without `/api`).
    url: String,
    #[command(flatten)]
    target: Target,
    #[arg(long)]
    username: String,
    /// The password (default: asked for, or `HYGEIA_DHIS2_PASSWORD`).
    #[arg(long, env = "HYGEIA_DHIS2_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

#[derive(Args)]
pub struct FeatureImport {
    file: PathBuf,
    #[command(flatten)]
    target: Target,
    /// Property holding the unit's reference (default: `id`, else the feature's own id).
    #[arg(long, default_value = "id")]
    id_property: String,
    /// Property holding the parent's reference.
    #[arg(long, default_value = "parent_id")]
    parent_property: String,
    #[arg(long, default_value = "name")]
    name_property: String,
    /// Property holding the type's name.
    #[arg(long, default_value = "type")]
    type_property: String,
    /// Property holding the depth (a whole number).
    #[arg(long, default_value = "level")]
    level_property: String,
}

impl FeatureImport {
    fn mapping(&self) -> FeatureMapping {
        FeatureMapping {
            id: self.id_property.clone(),
            parent: self.parent_property.clone(),
            name: self.name_property.clone(),
            type_name: self.type_property.clone(),
            level: self.level_property.clone(),
            ..Default::default()
        }
    }
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
        ImportCommand::Geojson(args) => {
            let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
            let (name, mapping) = (file_name(&args.file), args.mapping());
            let draft = tokio::task::spawn_blocking(move || geojson::read(&bytes, &name, &mapping))
                .await?
                .context("the file was refused; nothing was written")?;
            (draft, args.target, "geojson_import")
        }
        ImportCommand::Shp(args) => {
            let (path, name, mapping) = (args.file.clone(), file_name(&args.file), args.mapping());
            let zipped = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"));
            let draft = tokio::task::spawn_blocking(move || match zipped {
                true => shapefile::read_zip(&path, &name, &mapping),
                false => shapefile::read(&path, &name, &mapping),
            })
            .await?
            .context("the file was refused; nothing was written")?;
            (draft, args.target, "shapefile_import")
        }
        ImportCommand::Dhis2(args) => {
            let password = match args.password.clone() {
                Some(password) => password,
                None => rpassword::prompt_password(format!("DHIS2 password of {}: ", args.username))?,
            };
            let connection =
                dhis2::Dhis2Connection { base_url: args.url.clone(), username: args.username.clone(), password };
            let draft = dhis2::read(&connection).await.context("DHIS2 could not be read; nothing was written")?;
            (draft, args.target, "dhis2_import")
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
    /// A GeoJSON FeatureCollection (re-importable with `hygeia import geojson --id-property ref
    /// --parent-property parent_ref`).
    Geojson(ExportArgs),
    /// Iaso's org-unit table as CSV (its columns and French titles).
    Csv(ExportArgs),
    /// Iaso's org-unit table as an XLSX workbook.
    Xlsx(ExportArgs),
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
    let (format, args) = match command {
        ExportCommand::Gpkg(args) => ("gpkg", args),
        ExportCommand::Geojson(args) => ("geojson", args),
        ExportCommand::Csv(args) => ("csv", args),
        ExportCommand::Xlsx(args) => ("xlsx", args),
    };
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
    let result = exports::export_to_file(store, scope, query, format, &args.output, &bar).await;
    bar.finish();
    let written = result.context("the export failed")?;
    println!("exported {written} org units of version {} to {}", version.number, args.output.display());
    Ok(())
}
