//! `muster bench regions`: the region import against the sqlite3 shell's `.import`.
//!
//! The issue: "times `muster import regions` on SQLite and on PostgreSQL, and in the same
//! run times the `sqlite3` shell's `.import` of the same file into a plain table as the
//! anchor, printing rows per second and the ratio. Target: the whole validated import
//! within 3× of the bare `.import`, and under 10 s" (for a million rows; the time limit
//! scales with the size, so `--quick` must stay under 1 s).
//!
//! Muster's figure is the whole path of `muster import regions` in-process — read the file,
//! parse and check rows, look up stored parents, place the tree, store with the audit
//! entry — into a freshly migrated database; migrating is not timed, as the anchor's table
//! is created before its clock starts too. To show where the time goes, the placement and
//! the tree check are then timed once more on their own. The import runs the check beside
//! the insert, so the check is not part of the sum: storing is the rest of `import_regions`
//! after the placement.
//!
//! A one-second measurement on a shared two-core machine swings by a third from run to
//! run, so every figure is the median of [`RUNS`] runs, each into a fresh database; the
//! JSON keeps every run's seconds.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use muster_domain::demo::{DemoScale, demo_regions};
use muster_domain::region_import::{RegionRow, check_region_tree, parse_region_csv, place_by_code};
use muster_storage::{Database, DatabaseUrl};
use rand::Rng;
use serde::Serialize;
use sqlx::Connection;

use crate::commands::import::{RegionFileImport, import_region_file, rows_per_second};
use crate::commands::{CommandResult, command_line_actor, group_digits};
use crate::progress::Progress;
use crate::table::Table;

const FULL_ROWS: usize = 1_000_000;
/// Runs per measurement; the median is reported.
const RUNS: usize = 3;
const SEED: u64 = 2026;
const MAX_RATIO: f64 = 3.0;
/// Seconds allowed for a million rows; scaled to the size actually run.
const MAX_SECONDS_PER_MILLION: f64 = 10.0;
pub(super) const POSTGRES_URL_VARIABLE: &str = "MUSTER_BENCH_POSTGRES_URL";
pub(super) const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Everything the run measured, as printed in the table and as the JSON object.
#[derive(Debug, Serialize)]
struct Report {
    bench: &'static str,
    quick: bool,
    rows: usize,
    seed: u64,
    runs: usize,
    csv_bytes: u64,
    target: Target,
    anchor: Measurement,
    backends: Vec<Measurement>,
}

#[derive(Debug, Serialize)]
struct Target {
    max_ratio: f64,
    max_seconds: f64,
}

#[derive(Debug, Serialize)]
struct Measurement {
    /// A stable key for scripts: `sqlite3_import`, `sqlite` or `postgres`.
    backend: &'static str,
    /// The row's label in the table.
    name: &'static str,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum Outcome {
    Measured {
        rows: usize,
        /// The median run.
        seconds: f64,
        rows_per_second: f64,
        /// Every run's seconds, in the order they ran.
        samples: Vec<f64>,
        /// Seconds divided by the anchor's; absent when the anchor was skipped.
        #[serde(skip_serializing_if = "Option::is_none")]
        ratio: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        target_met: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        phases: Option<Phases>,
    },
    Skipped {
        reason: String,
    },
}

/// Seconds per phase of Muster's import. `place` and `check` are timed separately; `store`
/// is the rest of `import_regions` (stored-parent look-up, insert, index rebuild, counts,
/// audit entry, commit), during which the check runs beside the insert.
#[derive(Debug, Clone, Copy, Serialize)]
struct Phases {
    read: f64,
    parse: f64,
    place: f64,
    check: f64,
    store: f64,
}

pub async fn run(quick: bool, json: bool) -> CommandResult {
    let rows = if quick { FULL_ROWS / 10 } else { FULL_ROWS };
    let target = Target {
        max_ratio: MAX_RATIO,
        max_seconds: MAX_SECONDS_PER_MILLION * rows as f64 / 1_000_000.0,
    };
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let csv = dir.path().join("regions.csv");

    let progress = Progress::spinner(format!(
        "generating {} regions (seed {SEED})",
        group_digits(rows as u64)
    ));
    let csv_bytes = {
        let csv = csv.clone();
        tokio::task::spawn_blocking(move || {
            let regions = demo_regions(DemoScale::Nation, SEED);
            if regions.len() < rows {
                bail!(
                    "the demo nation has {} regions, fewer than the {rows} asked for",
                    regions.len()
                );
            }
            write_region_csv(&csv, &regions[..rows])
        })
        .await
        .context("the CSV generator stopped unexpectedly")??
    };

    progress.phase("timing the sqlite3 shell's .import (the anchor)");
    let anchor = {
        let (dir, csv) = (dir.path().to_path_buf(), csv.clone());
        let timed = tokio::task::spawn_blocking(move || {
            (0..RUNS)
                .map(|run| time_sqlite3_import(&dir, &csv, rows, run))
                .collect::<anyhow::Result<Vec<Duration>>>()
        })
        .await;
        match timed {
            Ok(Ok(samples)) => anchor_outcome(rows, &samples),
            Ok(Err(e)) => Outcome::Skipped {
                reason: format!("{e:#}"),
            },
            Err(e) => Outcome::Skipped {
                reason: e.to_string(),
            },
        }
    };
    let anchor_seconds = match &anchor {
        Outcome::Measured { seconds, .. } => Some(*seconds),
        Outcome::Skipped { .. } => None,
    };

    progress.phase("timing the placement and the check on their own, for the phase split");
    let mut validation_samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        validation_samples.push(time_validation(&csv).await?);
    }
    let validation = ValidationSeconds {
        place: median(
            &validation_samples
                .iter()
                .map(|v| v.place)
                .collect::<Vec<_>>(),
        ),
        check: median(
            &validation_samples
                .iter()
                .map(|v| v.check)
                .collect::<Vec<_>>(),
        ),
    };

    let mut sqlite_runs = Vec::with_capacity(RUNS);
    let mut sqlite_failure = None;
    for run in 0..RUNS {
        progress.phase(format!("importing into SQLite (run {} of {RUNS})", run + 1));
        let database = dir.path().join(format!("muster-{run}.db"));
        let measured =
            time_muster_import(&DatabaseUrl::Sqlite(database.clone()), &csv, &progress).await;
        remove_sqlite_files(&database);
        match measured {
            Ok(measured) => sqlite_runs.push(measured),
            Err(e) => {
                sqlite_failure = Some(format!("failed: {e:#}"));
                break;
            }
        }
    }
    let sqlite = match sqlite_failure {
        Some(reason) => Outcome::Skipped { reason },
        None => muster_outcome(sqlite_runs, anchor_seconds, validation, &target),
    };

    let mut postgres_runs = Vec::with_capacity(RUNS);
    let mut postgres_failure = None;
    for run in 0..RUNS {
        progress.phase(format!(
            "importing into PostgreSQL (run {} of {RUNS})",
            run + 1
        ));
        match time_postgres_import(&csv, &progress).await {
            Ok(measured) => postgres_runs.push(measured),
            Err(reason) => {
                postgres_failure = Some(reason);
                break;
            }
        }
    }
    let postgres = match postgres_failure {
        Some(reason) => Outcome::Skipped { reason },
        None => muster_outcome(postgres_runs, anchor_seconds, validation, &target),
    };
    progress.finish();

    let report = Report {
        bench: "regions",
        quick,
        rows,
        seed: SEED,
        runs: RUNS,
        csv_bytes,
        target,
        anchor: Measurement {
            backend: "sqlite3_import",
            name: "sqlite3 .import",
            outcome: anchor,
        },
        backends: vec![
            Measurement {
                backend: "sqlite",
                name: "muster → SQLite",
                outcome: sqlite,
            },
            Measurement {
                backend: "postgres",
                name: "muster → PostgreSQL",
                outcome: postgres,
            },
        ],
    };
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).context("cannot write the report as JSON")?
        );
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes regions as `code,name,parent_code,level,lat,lon`. The demo generator emits
/// whole levels top-down, so the first N regions of a demo are always a valid tree.
fn write_region_csv(path: &Path, regions: &[RegionRow]) -> anyhow::Result<u64> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    writeln!(out, "code,name,parent_code,level,lat,lon")?;
    for region in regions {
        write!(out, "{},", region.code)?;
        write_csv_field(&mut out, &region.name)?;
        let parent = region.parent_code.as_ref().map_or("", |p| p.as_str());
        write!(out, ",{parent},{},", region.code.implied_level().depth())?;
        match region.coordinates {
            Some(at) => writeln!(out, "{:.6},{:.6}", at.lat, at.lon)?,
            None => writeln!(out, ",")?,
        }
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// A CSV field, quoted only when it must be.
pub(super) fn write_csv_field(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    if text.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", text.replace('"', "\"\""))
    } else {
        out.write_all(text.as_bytes())
    }
}

/// The anchor: the sqlite3 shell loading the same file into a plain table with no keys,
/// created before the clock starts. The clock runs around the whole shell process.
fn time_sqlite3_import(
    dir: &Path,
    csv: &Path,
    rows: usize,
    run: usize,
) -> anyhow::Result<Duration> {
    let database = dir.join(format!("anchor-{run}.db"));
    let create = run_sqlite3(
        &database,
        "CREATE TABLE raw_regions (code, name, parent_code, level, lat, lon);\n",
    );
    match create {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "the anchor needs the sqlite3 command-line shell, which is not installed: `apt-get install sqlite3`"
            )
        }
        Err(e) => return Err(e).context("cannot run sqlite3"),
        Ok(output) if !output.status.success() => bail!(
            "sqlite3 could not create the anchor table: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Ok(_) => {}
    }
    let csv_text = csv
        .to_str()
        .context("the temporary CSV path is not UTF-8")?;
    let script = format!(".mode csv\n.import --skip 1 '{csv_text}' raw_regions\n");
    let started = Instant::now();
    let output = run_sqlite3(&database, &script).context("cannot run sqlite3")?;
    let elapsed = started.elapsed();
    if !output.status.success() || !output.stderr.is_empty() {
        bail!(
            "sqlite3's .import failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let counted = run_sqlite3(&database, "SELECT count(*) FROM raw_regions;\n")
        .context("cannot run sqlite3")?;
    let imported: usize = String::from_utf8_lossy(&counted.stdout)
        .trim()
        .parse()
        .context("sqlite3 did not report a row count")?;
    remove_sqlite_files(&database);
    if imported != rows {
        bail!("sqlite3's .import loaded {imported} rows, not {rows}");
    }
    Ok(elapsed)
}

fn anchor_outcome(rows: usize, samples: &[Duration]) -> Outcome {
    let samples: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
    let seconds = median(&samples);
    Outcome::Measured {
        rows,
        seconds,
        rows_per_second: if seconds > 0.0 {
            rows as f64 / seconds
        } else {
            0.0
        },
        samples,
        ratio: Some(1.0),
        target_met: None,
        phases: None,
    }
}

/// The median of a few samples (the lower middle one for an even count).
pub(super) fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0.0)
}

/// A benchmark database and its WAL files, which together take hundreds of megabytes.
pub(super) fn remove_sqlite_files(database: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

pub(super) fn run_sqlite3(database: &Path, script: &str) -> std::io::Result<std::process::Output> {
    let mut child = Command::new("sqlite3")
        .arg("-batch")
        .arg(database)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    child.wait_with_output()
}

/// Seconds the two halves of the validation take on their own.
#[derive(Debug, Clone, Copy)]
struct ValidationSeconds {
    /// [`place_by_code`]: where each row goes, from the codes.
    place: f64,
    /// [`check_region_tree`]: every tree-level problem, against an empty store as in the
    /// timed imports.
    check: f64,
}

/// Parses the file once more and times its placement and its check, each on its own.
async fn time_validation(csv: &Path) -> anyhow::Result<ValidationSeconds> {
    let bytes = tokio::fs::read(csv)
        .await
        .with_context(|| format!("cannot read {}", csv.display()))?;
    tokio::task::spawn_blocking(move || {
        let parsed = parse_region_csv(&bytes).map_err(|p| anyhow::anyhow!("{p}"))?;
        let started = Instant::now();
        let placed = place_by_code(&parsed.rows);
        let place = started.elapsed().as_secs_f64();
        drop(placed);
        let started = Instant::now();
        check_region_tree(&parsed, &HashMap::new()).map_err(|p| anyhow::anyhow!("{p}"))?;
        let check = started.elapsed().as_secs_f64();
        Ok(ValidationSeconds { place, check })
    })
    .await
    .context("the validation stopped unexpectedly")?
}

/// One timed run of the import path, with its phase timings.
#[derive(Debug)]
struct MusterRun {
    rows: usize,
    read: Duration,
    parse: Duration,
    validate_and_store: Duration,
}

impl MusterRun {
    fn total(&self) -> Duration {
        self.read + self.parse + self.validate_and_store
    }
}

/// The median run's figures (and phases), with every run's seconds kept as samples.
fn muster_outcome(
    mut runs: Vec<MusterRun>,
    anchor_seconds: Option<f64>,
    validation: ValidationSeconds,
    target: &Target,
) -> Outcome {
    let samples: Vec<f64> = runs.iter().map(|r| r.total().as_secs_f64()).collect();
    runs.sort_by_key(MusterRun::total);
    let Some(middle) = runs.get(runs.len().saturating_sub(1) / 2) else {
        return Outcome::Skipped {
            reason: "no run finished".to_owned(),
        };
    };
    let total = middle.total();
    let seconds = total.as_secs_f64();
    let ratio = anchor_seconds.filter(|a| *a > 0.0).map(|a| seconds / a);
    Outcome::Measured {
        rows: middle.rows,
        seconds,
        rows_per_second: rows_per_second(middle.rows, total),
        samples,
        ratio,
        target_met: ratio.map(|r| r <= target.max_ratio && seconds < target.max_seconds),
        phases: Some(Phases {
            read: middle.read.as_secs_f64(),
            parse: middle.parse.as_secs_f64(),
            place: validation.place,
            check: validation.check,
            store: (middle.validate_and_store.as_secs_f64() - validation.place).max(0.0),
        }),
    }
}

/// Migrates a fresh database (untimed), then runs the import path (timed).
async fn time_muster_import(
    url: &DatabaseUrl,
    csv: &Path,
    progress: &Progress,
) -> anyhow::Result<MusterRun> {
    let db = Database::open(url)
        .await
        .context("cannot open a fresh database")?;
    let outcome = import_region_file(&db, &command_line_actor(), csv, progress).await;
    db.close().await;
    match outcome? {
        RegionFileImport::Imported { summary, timings } => Ok(MusterRun {
            rows: summary.inserted,
            read: timings.read,
            parse: timings.parse,
            validate_and_store: timings.validate_and_store,
        }),
        RegionFileImport::Refused(problems) => {
            bail!("the generated file was refused (a bug): {problems}")
        }
    }
}

/// Creates a fresh database on the benchmark's PostgreSQL server, imports into it, and drops
/// it whatever happened. An unreachable server is a reason to skip, not a failure.
async fn time_postgres_import(csv: &Path, progress: &Progress) -> Result<MusterRun, String> {
    let admin_url = std::env::var(POSTGRES_URL_VARIABLE)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());
    let shown = redact_password(&admin_url);
    let connect = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::PgConnection::connect(&admin_url),
    );
    let mut admin = match connect.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            return Err(format!(
                "cannot reach PostgreSQL at {shown} ({e}); set {POSTGRES_URL_VARIABLE}"
            ));
        }
        Err(_) => {
            return Err(format!(
                "PostgreSQL at {shown} did not answer within 10 s; set {POSTGRES_URL_VARIABLE}"
            ));
        }
    };
    let name = format!("muster_bench_{:016x}", rand::rng().random::<u64>());
    // The name is ours, made of hex digits only, so it is safe to splice into DDL.
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
    {
        return Err(format!("cannot create a database on {shown}: {e}"));
    }
    let url = DatabaseUrl::Postgres(replace_database(&admin_url, &name));
    let measured = time_muster_import(&url, csv, progress).await;
    let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    let _ = admin.close().await;
    if let Err(e) = dropped {
        tracing::warn!(database = %name, error = %e, "could not drop the benchmark database");
    }
    measured.map_err(|e| format!("failed: {e:#}"))
}

/// The same server URL naming another database.
pub(super) fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages.
pub(super) fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

fn render(report: &Report) -> String {
    let mut out = format!(
        "muster bench regions{}: {} generated regions ({} MB CSV, seed {}), median of {} runs\n\
         target: the whole validated import within {}× of sqlite3's bare .import and under {} s\n\n",
        if report.quick { " --quick" } else { "" },
        group_digits(report.rows as u64),
        report.csv_bytes / 1_000_000,
        report.seed,
        report.runs,
        report.target.max_ratio,
        report.target.max_seconds,
    );
    let mut table = Table::new([
        "backend",
        "rows",
        "seconds",
        "rows/s",
        "ratio vs sqlite3 .import",
        "target met",
        "read",
        "parse",
        "place",
        "check*",
        "store*",
    ]);
    for measurement in std::iter::once(&report.anchor).chain(&report.backends) {
        match &measurement.outcome {
            Outcome::Measured {
                rows,
                seconds,
                rows_per_second,
                ratio,
                target_met,
                phases,
                ..
            } => {
                let mut cells = vec![
                    measurement.name.to_owned(),
                    group_digits(*rows as u64),
                    format!("{seconds:.2}"),
                    group_digits(rows_per_second.round() as u64),
                    ratio.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}×")),
                    match target_met {
                        None if std::ptr::eq(measurement, &report.anchor) => "(anchor)".to_owned(),
                        None => "n/a".to_owned(),
                        Some(true) => "yes".to_owned(),
                        Some(false) => "NO".to_owned(),
                    },
                ];
                if let Some(p) = phases {
                    cells.extend(
                        [p.read, p.parse, p.place, p.check, p.store].map(|s| format!("{s:.2}")),
                    );
                }
                table.row(cells);
            }
            Outcome::Skipped { reason } => {
                table.row([measurement.name.to_owned(), format!("skipped: {reason}")]);
            }
        }
    }
    out.push_str(&table.render());
    out.push_str(
        "\nPhases in seconds; place and check are timed on their own. *check runs beside the \
         insert, so it is not part of the sum; store = import_regions minus place: stored-parent \
         look-up, inserts, index rebuild, counts, audit entry and commit.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_domain::region_import::plan_region_import;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/b",
            ),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/b?sslmode=disable",
            ),
            ("postgres://h:5432", "postgres://h:5432/b"),
        ] {
            assert_eq!(replace_database(url, "b"), expected);
        }
    }

    #[test]
    fn passwords_are_hidden_in_messages() {
        for (url, expected) in [
            (
                "postgres://u:secret@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://h/db", "postgres://h/db"),
        ] {
            assert_eq!(redact_password(url), expected);
        }
    }

    #[test]
    fn any_prefix_of_the_generated_file_is_a_valid_import() {
        let dir = tempfile::tempdir().expect("temp dir");
        let csv = dir.path().join("regions.csv");
        // The province demo comes out of the same generator, level by level, as the nation.
        let regions = demo_regions(DemoScale::Province, 3);
        write_region_csv(&csv, &regions[..5_000]).expect("written");
        let bytes = std::fs::read(&csv).expect("read");
        let parsed = parse_region_csv(&bytes).expect("parses");
        assert_eq!(parsed.rows.len(), 5_000);
        let plan = plan_region_import(parsed, &HashMap::new()).expect("a valid tree");
        assert_eq!(plan.regions.len(), 5_000);
    }

    #[test]
    fn the_median_run_is_reported_and_every_run_kept() {
        let run = |millis: u64| MusterRun {
            rows: 10,
            read: Duration::from_millis(100),
            parse: Duration::from_millis(100),
            validate_and_store: Duration::from_millis(millis),
        };
        let target = Target {
            max_ratio: 3.0,
            max_seconds: 1.0,
        };
        let Outcome::Measured {
            seconds,
            samples,
            ratio,
            target_met,
            phases,
            ..
        } = muster_outcome(
            vec![run(900), run(300), run(500)],
            Some(0.35),
            ValidationSeconds {
                place: 0.1,
                check: 0.2,
            },
            &target,
        )
        else {
            panic!("measured");
        };
        assert!((seconds - 0.7).abs() < 1e-9, "{seconds}");
        assert_eq!(samples.len(), 3);
        assert!((ratio.expect("ratio") - 2.0).abs() < 1e-9);
        assert_eq!(target_met, Some(true));
        let phases = phases.expect("phases");
        assert!((phases.store - 0.4).abs() < 1e-9);
    }

    #[test]
    fn a_skipped_anchor_leaves_the_ratio_out() {
        let run = MusterRun {
            rows: 10,
            read: Duration::from_millis(100),
            parse: Duration::from_millis(100),
            validate_and_store: Duration::from_millis(300),
        };
        let target = Target {
            max_ratio: 3.0,
            max_seconds: 1.0,
        };
        let Outcome::Measured {
            ratio, target_met, ..
        } = muster_outcome(
            vec![run],
            None,
            ValidationSeconds {
                place: 0.1,
                check: 0.2,
            },
            &target,
        )
        else {
            panic!("measured");
        };
        assert_eq!((ratio, target_met), (None, None));
    }

    #[test]
    fn the_median_of_an_odd_count_is_the_middle() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 1.0);
        assert_eq!(median(&[]), 0.0);
    }
}
