//! One module per subcommand. Each takes the resolved [`Settings`] and its own arguments,
//! calls the libraries, and reports; none holds logic the web server would also need.

pub mod audit;
pub mod backup;
pub mod demo;
pub mod import;
pub mod migrate;
pub mod serve;
pub mod user;

use std::process::ExitCode;

use anyhow::{Context, bail};
use muster_domain::Actor;
use muster_storage::{Database, DatabaseUrl};

use crate::config::Settings;

/// Exit status for input that was refused (a bad import file): nothing was changed.
pub const EXIT_REFUSED: u8 = 2;

/// What a command reports to the shell: success, or a failure status it has already
/// explained on standard error. Errors with causes travel as `anyhow::Error` instead.
pub type CommandResult = anyhow::Result<ExitCode>;

/// The person at the command line as the audit log names them: `cli:<OS user>`.
pub fn command_line_actor() -> Actor {
    let operator = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "operator".to_owned());
    Actor::command_line(&operator)
}

/// Opens the configured database and applies pending migrations.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let url = settings.database_url()?;
    Database::open(&url)
        .await
        .with_context(|| format!("cannot open the database {}", describe(&url)))
}

/// Connects to a database that must already exist, without migrating it: for commands
/// that only read (backup, audit verify), which must not create an empty SQLite file.
pub async fn connect_existing_database(settings: &Settings) -> anyhow::Result<Database> {
    let url = settings.database_url()?;
    if let DatabaseUrl::Sqlite(path) = &url
        && !path.exists()
    {
        bail!(
            "there is no database at {} (set --data-dir or --database-url, or create one with `muster migrate`)",
            path.display()
        );
    }
    Database::connect(&url)
        .await
        .with_context(|| format!("cannot connect to the database {}", describe(&url)))
}

/// Names a database for messages without revealing a PostgreSQL password.
pub fn describe(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite(path) => path.display().to_string(),
        DatabaseUrl::Postgres(_) => "on PostgreSQL".to_owned(),
    }
}

/// Thousands separators for counts people read.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_in_threes() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (21_617, "21,617"),
            (1_000_000, "1,000,000"),
        ] {
            assert_eq!(group_digits(n), text);
        }
    }
}
