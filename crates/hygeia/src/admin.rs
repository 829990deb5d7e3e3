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
