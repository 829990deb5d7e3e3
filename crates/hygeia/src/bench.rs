//! `hygeia bench ...`: data and helpers for benchmarks (never needed to run Hygeia itself).

use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hygeia_core::{
    BoundingBox, DataSourceInput, Location, NewOrgUnit, OrgUnitId, OrgUnitScope, OrgUnitTypeId, OrgUnitTypeInput,
    ShapeData, SourceVersionId, ValidationStatus,
};
use hygeia_store::DynStore;

pub mod ingest;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Create a synthetic tree: 10 regions > 100 districts > 1,000 areas > facilities with points,
    /// in a new source whose version becomes the account's live tree.
    SeedTree(SeedTree),
    /// Queue tasks that do nothing but report one step, and time workers claiming, reporting and
    /// completing them: the task system's own cost.
    Tasks(BenchTasks),
    /// Send submissions to a running server from many clients at once (no database needed).
    Ingest(ingest::BenchIngest),
    /// Write many submissions of a form straight through the store (a table to export).
    SeedSubmissions(SeedSubmissions),
}

#[derive(Args)]
pub struct BenchTasks {
    /// Account name or id.
    #[arg(long)]
    account: String,
    #[arg(long, default_value_t = 2_000)]
    tasks: usize,
    /// Concurrent workers.
    #[arg(long, default_value_t = 4)]
    workers: usize,
}

#[derive(Args)]
pub struct SeedSubmissions {
    /// Account name or id.
    #[arg(long)]
    account: String,
    /// The form (with a version) the submissions answer.
    #[arg(long)]
    form: i64,
    #[arg(long, default_value_t = 1_000_000)]
    count: usize,
}

/// Submissions written straight through the store (no HTTP, no XML parsing): a large table to
/// export. Each has two households in a repeat, an org unit of the tree and a period; all share
/// one stored XML (exports do not read it).
async fn seed_submissions(store: &DynStore, args: SeedSubmissions) -> Result<()> {
    use hygeia_core::{FormId, OrgUnitQuery, ReceivedXml};
    let account = crate::admin::find_account(store, &args.account).await?.id;
    let form = store.forms().get(account, FormId(args.form)).await?.context("no such form")?;
    let version = store.forms().latest_versions(account, &[form.id]).await?.remove(&form.id);
    let version = version.context("the form has no version")?;
    let scope = OrgUnitScope::whole_account(account);
    let units: Vec<OrgUnitId> =
        store.org_units().list(&scope, &OrgUnitQuery::default()).await?.items.iter().map(|u| u.id).collect();
    anyhow::ensure!(!units.is_empty(), "the account has no org units");
    let started = Instant::now();
    for k in 0..args.count {
        let household = |n: usize| {
            serde_json::json!({"name": format!("household {n}"), "gender": if n.is_multiple_of(2) { "Female" } else { "Male" },
                "age": 20 + (k + n) % 50, "households_address": {"street": "Rue 12", "number": (k % 90).to_string(), "city": "Boromo"}})
        };
        let answers = serde_json::json!({
            "is_existing": k % 2, "MMD_PER_NAM": format!("Person {k}"), "last_name": "Ouedraogo", "gender": "Female",
            "households": {"households_note": "", "hh_repeat": [household(1), household(2)]},
            "meta": {"instanceID": format!("uuid:bench-{k}")},
        });
        let xml = ReceivedXml {
            uuid: format!("bench-{k}"),
            replaces: None,
            file_name: format!("bench-{k}.xml"),
            form_id: form.id,
            form_version_id: Some(version.id),
            project_id: form.input.project_ids.first().copied(),
            file_key: format!("accounts/{}/bench/submission.xml", account.0),
            xml_md5: format!("{k:032x}"),
            json: serde_json::json!({"MMD_PER_NAM": format!("Person {k}")}),
            answers,
            name: None,
            latitude: Some(point(k).latitude),
            longitude: Some(point(k).longitude),
            altitude: Some(300.0),
            accuracy: Some(5.0),
            device_id: None,
            org_unit_id: Some(units[k % units.len()]),
            period: Some(format!("2026{:02}", k % 12 + 1)),
            created_by: None,
            payload_id: None,
        };
        store.submissions().record_xml(account, xml).await?;
        if (k + 1) % 100_000 == 0 {
            println!("{} submissions, {:.0} s", k + 1, started.elapsed().as_secs_f64());
        }
    }
    println!("{} submissions written in {:.1} s", args.count, started.elapsed().as_secs_f64());
    Ok(())
}

#[derive(Args)]
pub struct SeedTree {
    /// Account name or id.
    #[arg(long)]
    account: String,
    /// Org units in all (at least 1,111: the three upper levels).
    #[arg(long, default_value_t = 100_000)]
    units: usize,
    /// Also load a us-atlas TopoJSON (`counties-10m.json`): nation > states > counties, with boundaries.
    #[arg(long)]
    counties: Option<std::path::PathBuf>,
}

pub async fn run(store: &DynStore, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::SeedTree(args) => seed_tree(store, args).await,
        BenchCommand::Tasks(args) => tasks(store, args).await,
        BenchCommand::SeedSubmissions(args) => seed_submissions(store, args).await,
        BenchCommand::Ingest(_) => anyhow::bail!("`bench ingest` talks to a server, not to the database"),
    }
}

/// A spread of points over a Burkina Faso-sized box, deterministic (low-discrepancy sequence).
fn point(k: usize) -> Location {
    let fraction = |x: f64| x - x.floor();
    Location {
        longitude: -5.5 + 7.9 * fraction(k as f64 * 0.618_033_988_75),
        latitude: 9.4 + 5.7 * fraction(k as f64 * 0.754_877_666_25),
        altitude: 0.0,
    }
}

async fn seed_tree(store: &DynStore, args: SeedTree) -> Result<()> {
    let account = crate::admin::find_account(store, &args.account).await?.id;
    let upper = 10 + 100 + 1_000;
    anyhow::ensure!(args.units > upper, "--units must be more than {upper}");
    let started = Instant::now();
    let name = format!("bench-{}", chrono_like_now());
    let source = store.sources().create_source(account, DataSourceInput { name, ..Default::default() }).await?;
    let version = store.sources().create_version(account, source.id, "synthetic tree").await?;
    store.sources().set_source_default_version(account, version.id).await?;
    store.sources().set_account_default_version(account, version.id).await?;
    let mut types: Vec<OrgUnitTypeId> = Vec::new();
    for (depth, (name, short)) in
        [("Region", "REG"), ("District", "DIST"), ("Health area", "AREA"), ("Health facility", "HF")]
            .into_iter()
            .enumerate()
    {
        let input = OrgUnitTypeInput {
            name: name.into(),
            short_name: short.into(),
            depth: Some(depth as i64 + 1),
            ..Default::default()
        };
        types.push(store.org_unit_types().create(account, None, input).await?.id);
    }
    let scope = OrgUnitScope::whole_account(account);
    let mut progress = Progress { started, created: 0 };
    let unit = |name: String, parent: Option<OrgUnitId>, level: usize, location: Option<Location>| {
        let mut unit = NewOrgUnit::new(version.id, name);
        unit.parent_id = parent;
        unit.org_unit_type_id = Some(types[level]);
        unit.validation_status = ValidationStatus::Valid;
        unit.location = location;
        unit
    };
    // One batch per upper level; facilities in batches of about 5,000.
    let regions: Vec<NewOrgUnit> = (0..10).map(|r| unit(format!("Region {r}"), None, 0, None)).collect();
    let regions = progress.create(store, &scope, regions).await?;
    let districts: Vec<NewOrgUnit> =
        (0..100).map(|i| unit(format!("District {}-{}", i / 10, i % 10), Some(regions[i / 10]), 1, None)).collect();
    let districts = progress.create(store, &scope, districts).await?;
    let areas: Vec<NewOrgUnit> = (0..1_000)
        .map(|i| unit(format!("Area {}-{}-{}", i / 100, i / 10 % 10, i % 10), Some(districts[i / 10]), 2, None))
        .collect();
    let areas = progress.create(store, &scope, areas).await?;
    let facilities = args.units - upper;
    let mut batch = Vec::new();
    for (a, area) in areas.iter().enumerate() {
        let here = facilities / 1_000 + usize::from(a < facilities % 1_000);
        for f in 0..here {
            let name = format!("Facility {}-{}-{}-{f}", a / 100, a / 10 % 10, a % 10);
            batch.push(unit(name, Some(*area), 3, Some(point(a * 1_000 + f))));
        }
        if batch.len() >= 5_000 {
            progress.create(store, &scope, std::mem::take(&mut batch)).await?;
        }
    }
    progress.create(store, &scope, batch).await?;
    if let Some(counties) = &args.counties {
        seed_counties(store, &scope, version.id, counties, &mut progress).await?;
    }
    store.optimize().await?;
    println!(
        "created {} org units in version {} in {:.1} s",
        progress.created,
        version.id,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Counts what was created and reports the rate every 10,000 units.
struct Progress {
    started: Instant,
    created: usize,
}

impl Progress {
    async fn create(
        &mut self,
        store: &DynStore,
        scope: &OrgUnitScope,
        units: Vec<NewOrgUnit>,
    ) -> Result<Vec<OrgUnitId>> {
        let ids = store.org_units().create_many(scope, None, &units).await.context("creating a batch of units")?;
        let before = self.created / 10_000;
        self.created += ids.len();
        // Fresh statistics as the table grows, or PostgreSQL keeps plans made for an empty table.
        if self.created < 10_000 || self.created / 10_000 > before {
            store.optimize().await?;
        }
        if self.created / 10_000 > before {
            let rate = self.created as f64 / self.started.elapsed().as_secs_f64();
            eprintln!("{} units ({rate:.0} per second)", self.created);
        }
        Ok(ids)
    }
}

/// The nation > states > counties hierarchy of a us-atlas TopoJSON file (`counties-10m.json`), with
/// their boundaries: counties belong to the state named by the first two digits of their FIPS id.
async fn seed_counties(
    store: &DynStore,
    scope: &OrgUnitScope,
    version: SourceVersionId,
    file: &std::path::Path,
    progress: &mut Progress,
) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let document: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    let unit = |feature: &serde_json::Value, parent: Option<OrgUnitId>| -> Result<NewOrgUnit> {
        let id = feature["id"].as_str().unwrap_or_default();
        // The nation has neither name nor id in us-atlas.
        let name = feature["properties"]["name"].as_str().filter(|n| !n.is_empty()).unwrap_or(if id.is_empty() {
            "United States"
        } else {
            id
        });
        let mut unit = NewOrgUnit::new(version, name);
        unit.parent_id = parent;
        unit.validation_status = ValidationStatus::Valid;
        unit.source_ref = Some(format!("fips-{id}"));
        // Published boundaries, once quantized, often have touching rings: kept, as a GIS would.
        let polygons = hygeia_geo::geojson::parse_multipolygon(feature);
        let (shape, _problem) =
            polygons.and_then(hygeia_geo::Shape::lenient).with_context(|| format!("the shape of {name} ({id})"))?;
        let bbox = BoundingBox {
            min_x: shape.bbox.min_x,
            min_y: shape.bbox.min_y,
            max_x: shape.bbox.max_x,
            max_y: shape.bbox.max_y,
        };
        unit.shape = Some(ShapeData { full_wkb: shape.full_wkb(), simplified_wkb: shape.simplified_wkb(), bbox });
        Ok(unit)
    };
    let nation = hygeia_geo::topojson::features(&document, "nation")?;
    let nation = progress.create(store, scope, vec![unit(&nation[0], None)?]).await?[0];
    let states = hygeia_geo::topojson::features(&document, "states")?;
    let state_units = states.iter().map(|s| unit(s, Some(nation))).collect::<Result<Vec<_>>>()?;
    let state_ids = progress.create(store, scope, state_units).await?;
    let by_fips: std::collections::HashMap<&str, OrgUnitId> =
        states.iter().zip(&state_ids).filter_map(|(s, id)| Some((s["id"].as_str()?, *id))).collect();
    let (mut counties, mut refused) = (Vec::new(), 0);
    for county in hygeia_geo::topojson::features(&document, "counties")? {
        let fips = county["id"].as_str().unwrap_or_default();
        let parent = fips.get(..2).and_then(|state| by_fips.get(state)).copied();
        match unit(&county, parent.or(Some(nation))) {
            Ok(unit) => counties.push(unit),
            Err(err) => {
                refused += 1;
                eprintln!("skipped: {err:#}");
            }
        }
    }
    let created = progress.create(store, scope, counties).await?.len();
    println!("US boundaries: 1 nation, {} states, {created} counties ({refused} refused)", state_ids.len());
    Ok(())
}

/// Seconds since the epoch, to keep seeded source names unique.
fn chrono_like_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// One step reported, then done: claim, progress and finish are the whole cost.
struct NoopTask;

#[async_trait::async_trait]
impl hygeia_jobs::TaskHandler for NoopTask {
    async fn run(
        &self,
        _task: &hygeia_core::Task,
        progress: &dyn hygeia_jobs::ProgressReporter,
    ) -> Result<hygeia_jobs::TaskSuccess, hygeia_jobs::TaskError> {
        progress.step(1, 1, "done").await?;
        Ok(hygeia_jobs::TaskSuccess::message("done"))
    }
}

async fn tasks(store: &DynStore, args: BenchTasks) -> Result<()> {
    use hygeia_core::{NewTask, TaskQuery, TaskStatus};
    const NAME: &str = "bench_noop";
    let account = crate::admin::find_account(store, &args.account).await?.id;
    let done_before = TaskQuery {
        statuses: vec![TaskStatus::Success],
        names: vec![NAME.into()],
        page: Some((1, 0)),
        ..Default::default()
    };
    let already = store.tasks().list(account, &done_before).await?.count;
    let queueing = Instant::now();
    for n in 0..args.tasks {
        store.tasks().enqueue(account, NewTask::new(NAME, serde_json::json!({ "n": n }), None)).await?;
    }
    let queued_in = queueing.elapsed();
    let mut registry = hygeia_jobs::Registry::new();
    registry.register(NAME, NoopTask);
    let config = hygeia_jobs::WorkerConfig { workers: args.workers, ..Default::default() };
    let started = Instant::now();
    let pool = hygeia_jobs::WorkerPool::start(store.clone(), registry, config);
    let target = already + args.tasks as u64;
    while store.tasks().list(account, &done_before).await?.count < target {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let ran_in = started.elapsed();
    pool.shutdown().await;
    println!(
        "backend={} tasks={} workers={}: queued in {:.2} s ({:.0} tasks/s), claimed+reported+completed in {:.2} s ({:.0} tasks/s)",
        store.backend(),
        args.tasks,
        args.workers,
        queued_in.as_secs_f64(),
        args.tasks as f64 / queued_in.as_secs_f64(),
        ran_in.as_secs_f64(),
        args.tasks as f64 / ran_in.as_secs_f64(),
    );
    Ok(())
}
