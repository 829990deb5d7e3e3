//! Administration commands: accounts, users and projects from the command line.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, bail};
use clap::Args;
use hygeia_core::user::validate_password;
use hygeia_core::{Account, AccountId, NewAccount, NewProject, NewUser};
use hygeia_store::DynStore;

#[derive(Args)]
pub struct CreateUser {
    /// Account name or id.
    #[arg(long)]
    account: String,
    #[arg(long)]
    username: String,
    /// Installation-wide administrator: holds every permission.
    #[arg(long)]
    superuser: bool,
    /// A permission codename such as iaso_org_units (repeatable).
    #[arg(long = "permission", value_name = "CODENAME")]
    permissions: Vec<String>,
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    password_stdin: bool,
    #[arg(long, default_value = "")]
    first_name: String,
    #[arg(long, default_value = "")]
    last_name: String,
    #[arg(long, default_value = "")]
    email: String,
    /// Interface language: en or fr.
    #[arg(long)]
    language: Option<String>,
}

#[derive(Args)]
pub struct CreateProject {
    /// Account name or id.
    #[arg(long)]
    account: String,
    #[arg(long)]
    name: String,
    /// The id phones use to find the project, e.g. org.moh.vaccination.
    #[arg(long)]
    app_id: String,
    /// Let phones download forms and org units without logging in.
    #[arg(long)]
    no_authentication: bool,
}

pub async fn create_account(store: &DynStore, name: &str) -> Result<()> {
    let account = store.accounts().create(NewAccount::named(name)).await.context("creating the account")?;
    println!("created account {} ({})", account.id, account.name);
    Ok(())
}

pub async fn create_user(store: &DynStore, args: CreateUser) -> Result<()> {
    let account = find_account(store, &args.account).await?;
    let password = read_password(args.password_stdin)?;
    validate_password(&password)?;
    let password_hash = hygeia_server::auth::password::hash_password(password).await?;
    let user = NewUser {
        username: args.username,
        password_hash,
        first_name: args.first_name,
        last_name: args.last_name,
        email: args.email,
        is_superuser: args.superuser,
        is_staff: args.superuser,
        language: args.language,
        permissions: args.permissions,
        ..Default::default()
    };
    let created = store.users().create(account.id, user).await.context("creating the user")?;
    println!(
        "created user {} (profile {}) in account {}{}",
        created.username,
        created.profile_id,
        account.name,
        if created.is_superuser { " as superuser" } else { "" }
    );
    Ok(())
}

pub async fn create_project(store: &DynStore, args: CreateProject) -> Result<()> {
    let account = find_account(store, &args.account).await?;
    let mut project = NewProject::new(args.name, args.app_id);
    project.needs_authentication = !args.no_authentication;
    let created = store.projects().create(account.id, project).await.context("creating the project")?;
    println!(
        "created project {} ({}, app_id {}) in account {}",
        created.id, created.name, created.app_id, account.name
    );
    Ok(())
}

/// An account by exact name, or by id when the argument is a number no account is named.
pub async fn find_account(store: &DynStore, name_or_id: &str) -> Result<Account> {
    if let Some(account) = store.accounts().find_by_name(name_or_id).await? {
        return Ok(account);
    }
    if let Ok(id) = name_or_id.parse::<i64>()
        && let Some(account) = store.accounts().get(AccountId(id)).await?
    {
        return Ok(account);
    }
    bail!("no account named {name_or_id:?} (create it with `hygeia create-account`)")
}

fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to prompt for the password: pass --password-stdin and pipe it in");
    }
    let password = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Password (again): ")?;
    if password != again {
        bail!("the two passwords differ");
    }
    Ok(password)
}

#[derive(clap::Args)]
pub struct SeedDemo {
    /// Name of the demo account.
    #[arg(long, default_value = "Demo")]
    account: String,
    /// A GeoPackage in Iaso's format to load (default: the Burkina Faso pyramid of the shared
    /// data directory, 136 units with boundaries, if found).
    #[arg(long)]
    gpkg: Option<std::path::PathBuf>,
}

/// The shared data directory's Burkina Faso pyramid (an Iaso export), wherever it is found.
fn demo_tree() -> Option<std::path::PathBuf> {
    let relative = "openhexa/iaso_bfa_org_units.gpkg";
    let roots =
        [std::env::var("HYGEIA_SHARED_DATA").ok(), Some("../shared/data".into()), Some("/work/shared/data".into())];
    roots.into_iter().flatten().map(|root| std::path::Path::new(&root).join(relative)).find(|p| p.exists())
}

/// An account, a project, an administrator (password printed once) and a real tree, so that a
/// new installation has something to show.
pub async fn seed_demo(store: &DynStore, args: SeedDemo) -> Result<()> {
    let Some(tree) = args.gpkg.clone().or_else(demo_tree) else {
        bail!(
            "no tree to load: pass --gpkg FILE (a GeoPackage in Iaso's format), or set HYGEIA_SHARED_DATA to the shared data directory"
        );
    };
    if store.accounts().find_by_name(&args.account).await?.is_some() {
        bail!("an account named {:?} already exists: choose another with --account", args.account);
    }
    let file = tree.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let draft = hygeia_formats::gpkg::read(&tree, &file).await.context("reading the demo tree")?;
    let account = store.accounts().create(hygeia_core::NewAccount::named(&args.account)).await?;
    let slug: String = args.account.to_lowercase().chars().filter(char::is_ascii_alphanumeric).collect();
    let app_id = format!("{}.hygeia", if slug.is_empty() { "demo" } else { &slug });
    let project =
        store.projects().create(account.id, NewProject::new(format!("{} project", args.account), app_id)).await?;
    let password = hygeia_server::auth::jwt::random_hex(9);
    let user = NewUser {
        username: format!("{slug}-admin"),
        password_hash: hygeia_server::auth::password::hash_password(password.clone()).await?,
        is_superuser: true,
        is_staff: true,
        ..Default::default()
    };
    let admin = store.users().create(account.id, user).await.context("creating the administrator")?;
    let target = hygeia_server::imports::ImportTarget {
        account: account.id,
        source_name: "Demo pyramid".into(),
        version_number: None,
        validation_status: hygeia_core::ValidationStatus::Valid,
        actor: Some(admin.user_id),
        audit_source: "seed_demo".into(),
    };
    let summary = hygeia_server::imports::import_draft(store, &target, &draft, &hygeia_jobs::NoProgress).await?;
    // Phones of the project download units of the project's types: all of the demo tree's.
    for kind in store.org_unit_types().list(account.id).await? {
        let input = hygeia_core::OrgUnitTypeInput {
            name: kind.name,
            short_name: kind.short_name,
            depth: kind.depth,
            category: kind.category,
            projects: vec![project.id],
            sub_unit_types: kind.sub_unit_types,
            allow_creating_sub_unit_types: kind.allow_creating_sub_unit_types,
        };
        store.org_unit_types().update(account.id, Some(admin.user_id), kind.id, input).await?;
    }
    println!("account {:?}, project {:?} (app id {})", account.name, project.name, project.app_id);
    println!("tree from {}: {summary}", tree.display());
    println!("log in as {} with password {password}  (shown once: change it after logging in)", admin.username);
    Ok(())
}
