//! `muster user add`, `password`, `disable` and `enable`: create a user, set a password, or
//! disable or enable a user, from the command line.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, bail};
use muster_storage::NewUser;
use muster_web::password::{HashCost, check_password_rules, hash_password_blocking};

use super::{CommandResult, command_line_actor, open_database};
use crate::cli::{UserAddArgs, UserCommand, UserNameArgs, UserPasswordArgs};
use crate::config::Settings;

pub async fn run(settings: &Settings, command: &UserCommand) -> CommandResult {
    match command {
        UserCommand::Add(args) => add(settings, args).await,
        UserCommand::Password(args) => set_password(settings, args).await,
        UserCommand::Disable(args) => set_disabled(settings, args, true).await,
        UserCommand::Enable(args) => set_disabled(settings, args, false).await,
    }
}

async fn set_disabled(settings: &Settings, args: &UserNameArgs, disabled: bool) -> CommandResult {
    let db = open_database(settings).await?;
    let verb = if disabled { "disable" } else { "enable" };
    let outcome = async {
        let Some(id) = db.user_id_by_username(&args.username).await? else {
            bail!("there is no user {}", args.username);
        };
        db.set_user_disabled(&command_line_actor(), id, disabled)
            .await
            .with_context(|| format!("cannot {verb} {}", args.username))
    }
    .await;
    db.close().await;
    outcome?;
    if disabled {
        eprintln!(
            "{} is disabled: their sessions have ended and their API tokens are revoked.",
            args.username
        );
    } else {
        eprintln!("{} is enabled and may sign in again.", args.username);
    }
    Ok(ExitCode::SUCCESS)
}

/// The password from standard input or the terminal, checked against the rules and hashed.
async fn new_password_hash(username: &str, from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        tokio::task::spawn_blocking(read_password_line)
            .await
            .context("reading standard input stopped unexpectedly")??
    } else {
        let username = username.to_owned();
        tokio::task::spawn_blocking(move || prompt_password(&username))
            .await
            .context("the password prompt stopped unexpectedly")??
    };
    check_password_rules(&password).context("the password was refused")?;
    hash_password_blocking(password, HashCost::Production)
        .await
        .context("cannot hash the password")
}

async fn set_password(settings: &Settings, args: &UserPasswordArgs) -> CommandResult {
    let password_hash = new_password_hash(&args.username, args.password_stdin).await?;
    let db = open_database(settings).await?;
    let outcome = async {
        let Some(id) = db.user_id_by_username(&args.username).await? else {
            bail!("there is no user {}", args.username);
        };
        db.set_password(&command_line_actor(), id, &password_hash, None)
            .await
            .with_context(|| format!("cannot set the password of {}", args.username))
    }
    .await;
    db.close().await;
    outcome?;
    eprintln!(
        "The password of {} is set; their sessions have ended and their API tokens are revoked.",
        args.username
    );
    Ok(ExitCode::SUCCESS)
}

async fn add(settings: &Settings, args: &UserAddArgs) -> CommandResult {
    let password_hash = new_password_hash(&args.username, args.password_stdin).await?;

    let db = open_database(settings).await?;
    let created = db
        .create_user(
            &command_line_actor(),
            NewUser {
                username: args.username.clone(),
                display_name: args.display_name.clone(),
                password_hash,
                organization_id: args.organization_id,
                roles: args.roles.clone(),
            },
        )
        .await;
    db.close().await;
    let user = created.with_context(|| format!("cannot add the user {}", args.username))?;
    eprintln!(
        "Added {} ({}) to {} with the role(s) {}.",
        user.username, user.display_name, user.organization_name, user.roles
    );
    println!("{}", user.id);
    Ok(ExitCode::SUCCESS)
}

/// The first line of standard input, without its line ending.
fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("--password-stdin was given but standard input held no password");
    }
    Ok(password)
}

/// Asks twice on the terminal without echoing.
fn prompt_password(username: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("there is no terminal to ask for the password on; pass it with --password-stdin");
    }
    let password = rpassword::prompt_password(format!("Password for {username}: "))
        .context("cannot read the password from the terminal")?;
    let again = rpassword::prompt_password("Same password again: ")
        .context("cannot read the password from the terminal")?;
    if password != again {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(password)
}
