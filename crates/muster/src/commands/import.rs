//! `muster import regions FILE.csv`: the all-or-nothing region import, and the timed
//! import path that `muster bench regions` measures.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use muster_domain::Actor;
use muster_domain::region_import::{ImportProblems, parse_region_csv};
use muster_storage::{Database, ImportSummary, StorageError};

use super::{
    CommandResult, EXIT_REFUSED, command_line_actor, describe, group_digits, open_database,
};
use crate::cli::{ImportCommand, ImportRegionsArgs};
use crate::config::Settings;
use crate::progress::Progress;

pub async fn run(settings: &Settings, command: &ImportCommand) -> CommandResult {
    match command {
        ImportCommand::Regions(args) => regions(settings, args).await,
    }
}

async fn regions(settings: &Settings, args: &ImportRegionsArgs) -> CommandResult {
    let db = open_database(settings).await?;
    let actor = command_line_actor();
    let progress = Progress::spinner("starting");
    let outcome = import_region_file(&db, &actor, &args.file, &progress).await;
    progress.finish();
    db.close().await;
    match outcome? {
        RegionFileImport::Imported { summary, timings } => {
            let seconds = timings.total().as_secs_f64();
            println!(
                "Imported {} regions from {} into {} in {seconds:.2} s ({} rows/s); audit entry #{}.",
                group_digits(summary.inserted as u64),
                args.file.display(),
                describe(&settings.database_url()?),
                group_digits(rows_per_second(summary.inserted, timings.total()) as u64),
                summary.audit_seq,
            );
            Ok(ExitCode::SUCCESS)
        }
        RegionFileImport::Refused(problems) => {
            eprint!("{}: {problems}", args.file.display());
            Ok(ExitCode::from(EXIT_REFUSED))
        }
    }
}

/// How long each phase of one import took.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportTimings {
    pub read: Duration,
    /// Decoding the text and checking each row on its own.
    pub parse: Duration,
    /// Looking up stored parents, placing the rows in the tree, and storing them with their
    /// audit entry: everything `Database::import_regions` does.
    pub validate_and_store: Duration,
}

impl ImportTimings {
    pub fn total(&self) -> Duration {
        self.read + self.parse + self.validate_and_store
    }
}

/// What became of an import file.
#[derive(Debug)]
pub enum RegionFileImport {
    Imported {
        summary: ImportSummary,
        timings: ImportTimings,
    },
    /// The file had problems; nothing was stored.
    Refused(ImportProblems),
}

/// Reads, parses, validates and stores a regions file: the whole path of `muster import
/// regions`, timed phase by phase. Problems in the file are an outcome, not an error.
pub async fn import_region_file(
    db: &Database,
    actor: &Actor,
    path: &Path,
    progress: &Progress,
) -> anyhow::Result<RegionFileImport> {
    let mut timings = ImportTimings::default();
    let source = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );

    progress.phase(format!("reading {}", path.display()));
    let started = Instant::now();
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    timings.read = started.elapsed();

    progress.phase(format!(
        "checking the rows of {} ({} MB)",
        path.display(),
        bytes.len() / 1_000_000
    ));
    let started = Instant::now();
    let parsed = tokio::task::spawn_blocking(move || parse_region_csv(&bytes))
        .await
        .context("the CSV parser stopped unexpectedly")?;
    timings.parse = started.elapsed();
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(problems) => return Ok(RegionFileImport::Refused(problems)),
    };

    progress.phase(format!(
        "placing {} regions in the tree and storing them",
        group_digits(parsed.rows.len() as u64)
    ));
    let started = Instant::now();
    let stored = db.import_regions(actor, parsed, &source).await;
    timings.validate_and_store = started.elapsed();
    match stored {
        Ok(summary) => Ok(RegionFileImport::Imported { summary, timings }),
        Err(StorageError::ImportRejected(problems)) => Ok(RegionFileImport::Refused(problems)),
        Err(e) => Err(e).context("the import failed; nothing was stored"),
    }
}

pub fn rows_per_second(rows: usize, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
    }
}
