//! `hygeia bench ...`: data and helpers for benchmarks (never needed to run Hygeia itself).

use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hygeia_core::{
    DataSourceInput, Location, NewOrgUnit, OrgUnitId, OrgUnitScope, OrgUnitTypeId, OrgUnitTypeInput, ValidationStatus,
};
use hygeia_store::DynStore;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Create a synthetic tree: 10 regions > 100 districts > 1,000 areas > facilities with points,
    /// in a new source whose version becomes the account's live tree.
    SeedTree(SeedTree),
}

#[derive(Args)]
pub struct SeedTree {
    /// Account name or id.
    #[arg(long)]
    account: String,
    /// Org units in all (at least 1,111: the three upper levels).
    #[arg(long, default_value_t = 100_000)]
    units: usize,
}

pub async fn run(store: &DynStore, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::SeedTree(args) => seed_tree(store, args).await,
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
    let facilities = args.units - upper;
    let mut created = 0usize;
    let mut create = |name: String, parent: Option<OrgUnitId>, level: usize, location: Option<Location>| {
        let mut unit = NewOrgUnit::new(version.id, name);
        unit.parent_id = parent;
        unit.org_unit_type_id = Some(types[level]);
        unit.validation_status = ValidationStatus::Valid;
        unit.location = location;
        unit.source_ref = Some(format!("bench-{level}-{created}"));
        created += 1;
        if created % 10_000 == 0 {
            eprintln!("{created} units ({:.0} per second)", created as f64 / started.elapsed().as_secs_f64());
        }
        let store = store.clone();
        let scope = scope.clone();
        async move { store.org_units().create(&scope, None, unit).await.context("creating a unit") }
    };
    let mut area_index = 0usize;
    for r in 0..10 {
        let region = create(format!("Region {r}"), None, 0, None).await?.id;
        for d in 0..10 {
            let district = create(format!("District {r}-{d}"), Some(region), 1, None).await?.id;
            for a in 0..10 {
                let area = create(format!("Area {r}-{d}-{a}"), Some(district), 2, None).await?.id;
                let here = facilities / 1_000 + usize::from(area_index < facilities % 1_000);
                for f in 0..here {
                    let k = area_index * 1_000 + f;
                    create(format!("Facility {r}-{d}-{a}-{f}"), Some(area), 3, Some(point(k))).await?;
                }
                area_index += 1;
            }
        }
    }
    store.optimize().await?;
    println!("created {} org units in version {} in {:.1} s", args.units, version.id, started.elapsed().as_secs_f64());
    Ok(())
}

/// Seconds since the epoch, to keep seeded source names unique.
fn chrono_like_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}
