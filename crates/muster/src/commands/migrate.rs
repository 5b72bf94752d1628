//! `muster migrate`: bring the database schema up to date.

use std::process::ExitCode;

use anyhow::Context;
use muster_storage::{Database, DatabaseUrl};
use sqlx::Connection;

use super::{CommandResult, describe};
use crate::config::Settings;

pub async fn run(settings: &Settings) -> CommandResult {
    let url = settings.database_url()?;
    let before = applied_migrations(&url).await;
    let db = Database::connect(&url)
        .await
        .with_context(|| format!("cannot connect to the database {}", describe(&url)))?;
    db.migrate()
        .await
        .with_context(|| format!("cannot migrate the database {}", describe(&url)))?;
    db.close().await;
    let after = applied_migrations(&url).await;
    let new: Vec<&AppliedMigration> = after.iter().filter(|m| !before.contains(m)).collect();
    if new.is_empty() {
        println!(
            "The database {} is up to date ({} migration(s) applied earlier).",
            describe(&url),
            after.len()
        );
    } else {
        println!(
            "Applied {} migration(s) to the database {}:",
            new.len(),
            describe(&url)
        );
        for migration in new {
            println!("  {:04} {}", migration.version, migration.description);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, PartialEq, Eq, sqlx::FromRow)]
struct AppliedMigration {
    version: i64,
    description: String,
}

/// The migrations sqlx has recorded as applied, read from its own bookkeeping table. Any
/// failure (no file yet, no table yet) reads as "none", which is what it means here.
async fn applied_migrations(url: &DatabaseUrl) -> Vec<AppliedMigration> {
    const SQL: &str =
        "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version";
    match url {
        DatabaseUrl::Sqlite(path) => {
            if !path.exists() {
                return Vec::new();
            }
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .read_only(true);
            let Ok(mut conn) = sqlx::SqliteConnection::connect_with(&options).await else {
                return Vec::new();
            };
            let found = sqlx::query_as(SQL).fetch_all(&mut conn).await;
            let _ = conn.close().await;
            found.unwrap_or_default()
        }
        DatabaseUrl::Postgres(text) => {
            let Ok(mut conn) = sqlx::PgConnection::connect(text).await else {
                return Vec::new();
            };
            let found = sqlx::query_as(SQL).fetch_all(&mut conn).await;
            let _ = conn.close().await;
            found.unwrap_or_default()
        }
    }
}
