//! `muster backup FILE`: a consistent copy of a SQLite database, safe while it runs.

use std::process::ExitCode;

use anyhow::Context;
use muster_storage::{Backend, StorageError};

use super::{CommandResult, connect_existing_database, group_digits};
use crate::cli::BackupArgs;
use crate::config::Settings;

pub async fn run(settings: &Settings, args: &BackupArgs) -> CommandResult {
    let db = connect_existing_database(settings).await?;
    let result = db.backup_to(&args.file).await;
    let backend = db.backend();
    db.close().await;
    match result {
        Ok(()) => {
            let bytes = std::fs::metadata(&args.file).map_or(0, |m| m.len());
            println!(
                "Backed up the database to {} ({} bytes).",
                args.file.display(),
                group_digits(bytes)
            );
            Ok(ExitCode::SUCCESS)
        }
        // Not a failure of Muster's: PostgreSQL has its own tools, and this says which.
        Err(StorageError::Backup(advice)) if backend == Backend::Postgres => {
            eprintln!("{advice}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).with_context(|| format!("cannot back up to {}", args.file.display())),
    }
}
