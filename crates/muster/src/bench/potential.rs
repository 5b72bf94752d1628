//! `muster bench potential`: the potential registry's import and totals, each against the
//! anchor the issue names, measured in the same run.
//!
//! The issue: "import of a generated 1,000,000-row potential CSV with full validation:
//! target at least 250,000 rows/s on SQLite, and within 3× of the sqlite3 shell's bare
//! `.import` of the same file (on PostgreSQL, against `psql \copy` of the same file);
//! import of a 100,000-row XLSX: under 3 s; totals for a random subtree over 10,000,000
//! records: p50 and p99 latency (target p99 under 20 ms), against the same answer computed
//! by a plain `GROUP BY` over the records table in the same run (report the ratio)."
//!
//! Every database is fresh and gets the demo province's regions first (not timed). Muster's
//! import figure is the whole of `Database::import_potential_file` plus reading the file:
//! decode, check every row against the taxonomy and the stored regions, roll up, store, and
//! audit. The totals are loaded through `insert_records` in batches (not timed); then the
//! same random subtrees — a level drawn uniformly, then a region of that level — are asked
//! of the roll-ups and of a `GROUP BY` over the records, and the answers compared.

use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use muster_domain::demo::{DemoScale, demo_regions};
use muster_domain::potential::{Holder, QualityGrade, RecordDraft, RecordStatus, holding_key};
use muster_domain::region_import::{ColumnLayout, ParsedRegionCsv, RegionRow};
use muster_domain::sheet::{Table as SheetTable, TableCell, write_xlsx};
use muster_domain::taxonomy::{AttributeKind, ResourceType, Taxonomy};
use muster_domain::{RegionLevel, RegionPath, Scope};
use muster_storage::{Database, DatabaseUrl, RecordProvenance, TypeTotals};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::BenchPart;
use super::regions::{median, remove_sqlite_files, replace_database, run_sqlite3, write_csv_field};
use super::support::{PostgresServer, path_of, percentiles};
use crate::commands::{CommandResult, command_line_actor, group_digits};
use crate::progress::Progress;
use crate::table::Table;

const SEED: u64 = 2026;
const IMPORT_ROWS: usize = 1_000_000;
const XLSX_ROWS: usize = 100_000;
const TOTALS_RECORDS: usize = 10_000_000;
/// Subtrees asked of the roll-ups; the slow `GROUP BY` anchor is asked the first
/// [`ANCHOR_QUERIES`] of them (each can scan millions of rows).
const QUERIES: usize = 2_000;
const ANCHOR_QUERIES: usize = 60;
/// Import runs per backend; the median is reported.
const RUNS: usize = 3;
/// How many resource types the generated records use (the allocation issue's "50 types").
const TYPES_USED: usize = 50;
const LOAD_BATCH: usize = 250_000;

const MIN_ROWS_PER_SECOND: f64 = 250_000.0;
const MAX_IMPORT_RATIO: f64 = 3.0;
const MAX_XLSX_SECONDS: f64 = 3.0;
const MAX_TOTALS_P99_MS: f64 = 20.0;

#[derive(Debug, Serialize)]
struct Report {
    bench: &'static str,
    quick: bool,
    seed: u64,
    import_rows: usize,
    xlsx_rows: usize,
    totals_records: usize,
    queries: usize,
    anchor_queries: usize,
    measurements: Vec<Measurement>,
}

/// One line of the table: a figure of Muster's, the anchor's, and the target.
#[derive(Debug, Serialize)]
struct Measurement {
    /// A stable key for scripts, e.g. `import_csv.sqlite`.
    key: String,
    name: String,
    backend: &'static str,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum Outcome {
    Import {
        rows: usize,
        /// The median run.
        seconds: f64,
        rows_per_second: f64,
        samples: Vec<f64>,
        anchor: Option<Anchor>,
        ratio: Option<f64>,
        target: String,
        target_met: bool,
        /// Reading and checking the file alone (no writes), timed once. The import reads
        /// and checks while it stores, so this overlaps `seconds` rather than adding to it.
        #[serde(skip_serializing_if = "Option::is_none")]
        validate_seconds: Option<f64>,
    },
    Latency {
        queries: usize,
        p50_ms: f64,
        p99_ms: f64,
        anchor_queries: usize,
        anchor_p50_ms: f64,
        anchor_p99_ms: f64,
        /// Anchor p50 / Muster p50: how many times faster the roll-ups answer.
        speedup_p50: f64,
        speedup_p99: f64,
        answers_agree: bool,
        target: String,
        target_met: bool,
    },
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize)]
struct Anchor {
    name: &'static str,
    seconds: f64,
    samples: Vec<f64>,
}

/// A village's code, path and point.
type Village = (String, RegionPath, Option<(f64, f64)>);

/// What the generated data is made of: the province's regions and the types in use.
struct Fixture {
    regions: Vec<RegionRow>,
    /// Villages with their paths and coordinates: where generated records sit.
    villages: Vec<Village>,
    /// Regions by level (1-based), for drawing subtrees.
    by_level: Vec<Vec<String>>,
    types: Vec<ResourceType>,
    attribute_keys: Vec<String>,
}

pub async fn run(quick: bool, json: bool, only: &[BenchPart]) -> CommandResult {
    let wanted = |part| only.is_empty() || only.contains(&part);
    let scale = if quick { 10 } else { 1 };
    let import_rows = IMPORT_ROWS / scale;
    let xlsx_rows = XLSX_ROWS / scale;
    let totals_records = TOTALS_RECORDS / scale;
    let queries = QUERIES / scale.min(4);
    let anchor_queries = ANCHOR_QUERIES / scale.min(2);

    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let progress = Progress::spinner("generating the demo province and the records");
    let fixture = fixture();
    let csv = dir.path().join("potential.csv");
    let csv_bytes = if wanted(BenchPart::Csv) {
        let rows = generate_rows(&fixture, import_rows, 0..fixture.villages.len(), "h", SEED);
        write_potential_csv(&csv, &fixture, &rows)?
    } else {
        0
    };
    let xlsx = if wanted(BenchPart::Xlsx) {
        let rows = generate_rows(
            &fixture,
            xlsx_rows,
            0..fixture.villages.len(),
            "x",
            SEED + 1,
        );
        tokio::task::spawn_blocking({
            let table = sheet_table(&fixture, &rows);
            move || write_xlsx(&[table])
        })
        .await
        .context("the XLSX writer stopped")?
        .context("cannot write the XLSX file")?
    } else {
        Vec::new()
    };

    let mut measurements = Vec::new();

    let postgres = PostgresServer::connect().await;

    if wanted(BenchPart::Csv) {
        // CSV import on SQLite, against sqlite3's .import.
        progress.phase("timing the sqlite3 shell's .import of the CSV (the anchor)");
        let sqlite_anchor = time_runs(|run| time_sqlite3_import(dir.path(), &csv, run));
        let mut sqlite_samples = Vec::new();
        let mut failure = None;
        for run in 0..RUNS {
            progress.phase(format!(
                "importing {} records into SQLite (run {} of {RUNS})",
                group_digits(import_rows as u64),
                run + 1
            ));
            let database = dir.path().join(format!("import-{run}.db"));
            let measured = async {
                let db = fresh_sqlite(&database, &fixture).await?;
                let seconds = time_import_file(&db, &csv).await;
                db.close().await;
                seconds
            }
            .await;
            remove_sqlite_files(&database);
            match measured {
                Ok(seconds) => sqlite_samples.push(seconds),
                Err(e) => {
                    failure = Some(format!("{e:#}"));
                    break;
                }
            }
        }
        progress.phase("timing the validation on its own, for the phase split");
        let validate_seconds = {
            let database = dir.path().join("validate.db");
            let measured = async {
                let db = fresh_sqlite(&database, &fixture).await?;
                let started = Instant::now();
                let bytes = tokio::fs::read(&csv).await?;
                db.validate_potential_file(&command_line_actor(), bytes, "potential.csv", None)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let seconds = started.elapsed().as_secs_f64();
                db.close().await;
                anyhow::Ok(seconds)
            }
            .await;
            remove_sqlite_files(&database);
            measured.ok()
        };
        measurements.push(import_measurement(
            "import_csv.sqlite",
            format!("import {} MB CSV, full validation", csv_bytes / 1_000_000),
            "sqlite",
            import_rows,
            sqlite_samples,
            failure,
            sqlite_anchor.map(|samples| anchor("sqlite3 .import", samples)),
            ImportTarget::RateAndRatio,
        ));
        if let (
            Some(validate),
            Some(Measurement {
                outcome:
                    Outcome::Import {
                        validate_seconds: slot,
                        ..
                    },
                ..
            }),
        ) = (validate_seconds, measurements.last_mut())
        {
            *slot = Some(validate);
        }

        // CSV import on PostgreSQL, against psql's \copy.
        match &postgres {
            Ok(server) => {
                progress.phase("timing psql's \\copy of the CSV (the anchor)");
                let mut anchor_samples = Vec::new();
                let mut anchor_failure = None;
                for _ in 0..RUNS {
                    match time_psql_copy(server, &csv, &fixture).await {
                        Ok(seconds) => anchor_samples.push(seconds),
                        Err(e) => {
                            anchor_failure = Some(e);
                            break;
                        }
                    }
                }
                let mut samples = Vec::new();
                let mut failure = None;
                for run in 0..RUNS {
                    progress.phase(format!(
                        "importing {} records into PostgreSQL (run {} of {RUNS})",
                        group_digits(import_rows as u64),
                        run + 1
                    ));
                    let measured = with_regions(server, &fixture, |db| {
                        let csv = csv.clone();
                        async move { time_import_file(&db, &csv).await }
                    })
                    .await;
                    match measured {
                        Ok(seconds) => samples.push(seconds),
                        Err(e) => {
                            failure = Some(format!("{e:#}"));
                            break;
                        }
                    }
                }
                measurements.push(import_measurement(
                    "import_csv.postgres",
                    format!("import {} MB CSV, full validation", csv_bytes / 1_000_000),
                    "postgres",
                    import_rows,
                    samples,
                    failure,
                    match anchor_failure {
                        None => Some(anchor("psql \\copy", anchor_samples)),
                        Some(_) => None,
                    },
                    ImportTarget::Ratio,
                ));
            }
            Err(reason) => measurements.push(Measurement {
                key: "import_csv.postgres".into(),
                name: "import CSV, full validation".into(),
                backend: "postgres",
                outcome: Outcome::Skipped {
                    reason: reason.clone(),
                },
            }),
        }
    }

    if wanted(BenchPart::Xlsx) {
        // XLSX import on both.
        for backend in ["sqlite", "postgres"] {
            progress.phase(format!(
                "importing a {}-row XLSX into {backend}",
                group_digits(xlsx_rows as u64)
            ));
            let mut samples = Vec::new();
            let mut failure = None;
            for run in 0..RUNS {
                let measured = match backend {
                    "sqlite" => {
                        let database = dir.path().join(format!("xlsx-{run}.db"));
                        let result = async {
                            let db = fresh_sqlite(&database, &fixture).await?;
                            let seconds = time_import_bytes(&db, xlsx.clone(), "report.xlsx").await;
                            db.close().await;
                            seconds
                        }
                        .await;
                        remove_sqlite_files(&database);
                        result
                    }
                    _ => {
                        match &postgres {
                            Ok(server) => with_regions(server, &fixture, |db| {
                                let bytes = xlsx.clone();
                                async move { time_import_bytes(&db, bytes, "report.xlsx").await }
                            })
                            .await,
                            Err(reason) => Err(anyhow::anyhow!("{reason}")),
                        }
                    }
                };
                match measured {
                    Ok(seconds) => samples.push(seconds),
                    Err(e) => {
                        failure = Some(format!("{e:#}"));
                        break;
                    }
                }
            }
            measurements.push(import_measurement(
                &format!("import_xlsx.{backend}"),
                format!("import {}-row XLSX", group_digits(xlsx_rows as u64)),
                if backend == "sqlite" {
                    "sqlite"
                } else {
                    "postgres"
                },
                xlsx_rows,
                samples,
                failure,
                None,
                ImportTarget::Seconds(MAX_XLSX_SECONDS),
            ));
        }
    }

    if wanted(BenchPart::Totals) {
        // Totals over many records.
        let subtrees = draw_subtrees(&fixture, queries);
        for backend in ["sqlite", "postgres"] {
            progress.phase(format!(
                "loading {} records into {backend} for the totals",
                group_digits(totals_records as u64)
            ));
            let measured = match backend {
                "sqlite" => {
                    let database = dir.path().join("totals.db");
                    let result = async {
                        let db = fresh_sqlite(&database, &fixture).await?;
                        let outcome = measure_totals(
                            &db,
                            &fixture,
                            totals_records,
                            &subtrees,
                            anchor_queries,
                            &progress,
                        )
                        .await;
                        db.close().await;
                        outcome
                    }
                    .await;
                    remove_sqlite_files(&database);
                    result
                }
                _ => match &postgres {
                    Ok(server) => {
                        with_regions(server, &fixture, |db| {
                            let (fixture, subtrees, progress) = (&fixture, &subtrees, &progress);
                            async move {
                                measure_totals(
                                    &db,
                                    fixture,
                                    totals_records,
                                    subtrees,
                                    anchor_queries,
                                    progress,
                                )
                                .await
                            }
                        })
                        .await
                    }
                    Err(reason) => Err(anyhow::anyhow!("{reason}")),
                },
            };
            measurements.push(Measurement {
                key: format!("totals.{backend}"),
                name: format!(
                    "subtree totals over {} records",
                    group_digits(totals_records as u64)
                ),
                backend: if backend == "sqlite" {
                    "sqlite"
                } else {
                    "postgres"
                },
                outcome: measured.unwrap_or_else(|e| Outcome::Skipped {
                    reason: format!("{e:#}"),
                }),
            });
        }
    }
    progress.finish();

    let report = Report {
        bench: "potential",
        quick,
        seed: SEED,
        import_rows,
        xlsx_rows,
        totals_records,
        queries,
        anchor_queries,
        measurements,
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

fn fixture() -> Fixture {
    let regions = demo_regions(DemoScale::Province, SEED);
    let mut by_level: Vec<Vec<String>> = vec![Vec::new(); 6];
    let mut villages = Vec::new();
    for region in &regions {
        let code = region.code.as_str().to_owned();
        let level = region.code.implied_level();
        by_level[usize::from(level.depth())].push(code.clone());
        if level == RegionLevel::Village {
            villages.push((
                code.clone(),
                path_of(&code),
                region.coordinates.map(|c| (c.lat, c.lon)),
            ));
        }
    }
    // In path order, so that a range of them is a run of holding keys (see `measure_totals`).
    villages.sort_by(|a, b| a.1.as_str().cmp(b.1.as_str()));
    let taxonomy = Taxonomy::default_taxonomy();
    let all = taxonomy.resource_types();
    let step = (all.len() / TYPES_USED).max(1);
    let types: Vec<ResourceType> = all.iter().step_by(step).take(TYPES_USED).cloned().collect();
    let mut attribute_keys: Vec<String> = types
        .iter()
        .flat_map(|t| {
            t.attributes
                .iter()
                .filter(|a| a.required)
                .map(|a| a.key.clone())
        })
        .collect();
    attribute_keys.sort();
    attribute_keys.dedup();
    Fixture {
        regions,
        villages,
        by_level,
        types,
        attribute_keys,
    }
}

/// A generated record: its type, village, holder and values.
struct GeneratedRow {
    type_index: usize,
    village: usize,
    holder: String,
    quantity: f64,
    coordinates: Option<(f64, f64)>,
}

/// `count` records of random types, each at a random village of `villages` (indexes into
/// the fixture's villages, which are in path order).
fn generate_rows(
    fixture: &Fixture,
    count: usize,
    villages: Range<usize>,
    holder_prefix: &str,
    seed: u64,
) -> Vec<GeneratedRow> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|i| {
            let type_index = rng.random_range(0..fixture.types.len());
            let village = rng.random_range(villages.clone());
            let resource_type = &fixture.types[type_index];
            let max = resource_type.max_quantity.clamp(1.0, 500.0);
            let quantity = if resource_type.whole_units {
                f64::from(rng.random_range(1..=max as u32))
            } else {
                (rng.random_range(1.0..max) * 10.0).round() / 10.0
            };
            let coordinates = fixture.villages[village].2.map(|(lat, lon)| {
                (
                    lat + rng.random_range(-0.01..0.01),
                    lon + rng.random_range(-0.01..0.01),
                )
            });
            GeneratedRow {
                type_index,
                village,
                holder: format!("{holder_prefix}{i}"),
                quantity,
                coordinates,
            }
        })
        .collect()
}

/// A value that satisfies an attribute's rules.
fn attribute_value(kind: &AttributeKind) -> String {
    match kind {
        AttributeKind::Integer { min, max } => ((min + max) / 2).to_string(),
        AttributeKind::Decimal { min, max } => format!("{}", (min + max) / 2.0),
        AttributeKind::Text { .. } => "x".to_owned(),
        AttributeKind::Choice { options } => {
            options.first().map_or_else(String::new, |o| o.code.clone())
        }
        AttributeKind::Boolean => "yes".to_owned(),
    }
}

fn header(fixture: &Fixture) -> Vec<String> {
    let mut header: Vec<String> = [
        "type_code",
        "quantity",
        "unit",
        "quality",
        "holder_name",
        "region_code",
        "lat",
        "lon",
    ]
    .map(String::from)
    .to_vec();
    header.extend(fixture.attribute_keys.iter().cloned());
    header
}

fn row_cells(fixture: &Fixture, row: &GeneratedRow) -> Vec<String> {
    let resource_type = &fixture.types[row.type_index];
    let (code, _, _) = &fixture.villages[row.village];
    let mut cells = vec![
        resource_type.code.clone(),
        row.quantity.to_string(),
        resource_type.unit.clone(),
        "good".to_owned(),
        row.holder.clone(),
        code.clone(),
        row.coordinates
            .map_or_else(String::new, |c| format!("{:.5}", c.0)),
        row.coordinates
            .map_or_else(String::new, |c| format!("{:.5}", c.1)),
    ];
    for key in &fixture.attribute_keys {
        cells.push(
            resource_type
                .attribute(key)
                .filter(|a| a.required)
                .map_or_else(String::new, |a| attribute_value(&a.kind)),
        );
    }
    cells
}

fn write_potential_csv(
    path: &Path,
    fixture: &Fixture,
    rows: &[GeneratedRow],
) -> anyhow::Result<u64> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    writeln!(out, "{}", header(fixture).join(","))?;
    for row in rows {
        for (i, cell) in row_cells(fixture, row).iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write_csv_field(&mut out, cell)?;
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

fn sheet_table(fixture: &Fixture, rows: &[GeneratedRow]) -> SheetTable {
    SheetTable {
        title: "Report".into(),
        headers: header(fixture),
        rows: rows
            .iter()
            .map(|row| {
                row_cells(fixture, row)
                    .into_iter()
                    .enumerate()
                    .map(|(i, cell)| match (i, cell.parse::<f64>()) {
                        // Quantities and coordinates as numbers, as Excel would hold them.
                        (1 | 6 | 7, Ok(number)) => TableCell::Number(number),
                        _ if cell.is_empty() => TableCell::Empty,
                        _ => TableCell::Text(cell),
                    })
                    .collect()
            })
            .collect(),
    }
}

/// A migrated SQLite database holding the province's regions.
async fn fresh_sqlite(path: &Path, fixture: &Fixture) -> anyhow::Result<Database> {
    remove_sqlite_files(path);
    let db = Database::open(&DatabaseUrl::Sqlite(path.to_path_buf()))
        .await
        .context("cannot open a fresh SQLite database")?;
    load_regions(&db, fixture).await?;
    Ok(db)
}

async fn load_regions(db: &Database, fixture: &Fixture) -> anyhow::Result<()> {
    db.import_regions(
        &command_line_actor(),
        ParsedRegionCsv {
            rows: fixture.regions.clone(),
            layout: ColumnLayout::default(),
        },
        "bench regions",
    )
    .await
    .context("the demo regions did not import")?;
    Ok(())
}

/// Reads the file and imports it: the timed path.
async fn time_import_file(db: &Database, path: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    let rest = time_import_bytes(db, bytes, "potential.csv").await?;
    Ok(started.elapsed().as_secs_f64().max(rest))
}

async fn time_import_bytes(db: &Database, bytes: Vec<u8>, name: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    db.import_potential_file(
        &command_line_actor(),
        bytes,
        name,
        None,
        RecordProvenance::default(),
    )
    .await
    .map_err(|e| match e {
        muster_storage::StorageError::SheetRejected(problems) => {
            let first: Vec<String> = problems.0.iter().take(5).map(ToString::to_string).collect();
            anyhow::anyhow!(
                "the generated file was refused (a bug): {}",
                first.join("; ")
            )
        }
        other => anyhow::Error::new(other),
    })?;
    Ok(started.elapsed().as_secs_f64())
}

fn time_runs(mut run: impl FnMut(usize) -> anyhow::Result<f64>) -> Option<Vec<f64>> {
    (0..RUNS)
        .map(&mut run)
        .collect::<anyhow::Result<Vec<f64>>>()
        .ok()
}

/// The anchor: sqlite3 creating a plain table from the header and loading the file.
fn time_sqlite3_import(dir: &Path, csv: &Path, run: usize) -> anyhow::Result<f64> {
    let database = dir.join(format!("anchor-{run}.db"));
    remove_sqlite_files(&database);
    let csv_text = csv
        .to_str()
        .context("the temporary CSV path is not UTF-8")?;
    let started = Instant::now();
    let output = run_sqlite3(
        &database,
        &format!(".mode csv\n.import '{csv_text}' raw_records\n"),
    )
    .context("cannot run sqlite3 (apt-get install sqlite3)")?;
    let seconds = started.elapsed().as_secs_f64();
    remove_sqlite_files(&database);
    if !output.status.success() || !output.stderr.is_empty() {
        bail!(
            "sqlite3's .import failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(seconds)
}

fn anchor(name: &'static str, samples: Vec<f64>) -> Anchor {
    Anchor {
        name,
        seconds: median(&samples),
        samples,
    }
}

enum ImportTarget {
    /// At least 250,000 rows/s and within 3× of the anchor.
    RateAndRatio,
    /// Within 3× of the anchor.
    Ratio,
    Seconds(f64),
}

#[allow(clippy::too_many_arguments)]
fn import_measurement(
    key: &str,
    name: String,
    backend: &'static str,
    rows: usize,
    samples: Vec<f64>,
    failure: Option<String>,
    anchor: Option<Anchor>,
    target: ImportTarget,
) -> Measurement {
    let outcome = match failure {
        Some(reason) => Outcome::Skipped { reason },
        None if samples.is_empty() => Outcome::Skipped {
            reason: "no run finished".into(),
        },
        None => {
            let seconds = median(&samples);
            let rows_per_second = if seconds > 0.0 {
                rows as f64 / seconds
            } else {
                0.0
            };
            let ratio = anchor
                .as_ref()
                .filter(|a| a.seconds > 0.0)
                .map(|a| seconds / a.seconds);
            let ratio_met = ratio.is_some_and(|r| r <= MAX_IMPORT_RATIO);
            let (target, target_met) = match target {
                ImportTarget::RateAndRatio => (
                    format!(
                        "≥ {} rows/s and ≤ {MAX_IMPORT_RATIO}× anchor",
                        group_digits(MIN_ROWS_PER_SECOND as u64)
                    ),
                    rows_per_second >= MIN_ROWS_PER_SECOND && ratio_met,
                ),
                ImportTarget::Ratio => (format!("≤ {MAX_IMPORT_RATIO}× anchor"), ratio_met),
                ImportTarget::Seconds(max) => (format!("< {max} s"), seconds < max),
            };
            Outcome::Import {
                rows,
                seconds,
                rows_per_second,
                samples,
                anchor,
                ratio,
                target,
                target_met,
                validate_seconds: None,
            }
        }
    };
    Measurement {
        key: key.to_owned(),
        name,
        backend,
        outcome,
    }
}

/// Random subtrees: a level drawn uniformly (or the whole nation), then a region of it.
fn draw_subtrees(fixture: &Fixture, count: usize) -> Vec<Option<String>> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 7);
    (0..count)
        .map(|_| {
            let level = rng.random_range(0..=5usize);
            if level == 0 {
                return None;
            }
            let regions = &fixture.by_level[level];
            if regions.is_empty() {
                return None;
            }
            Some(regions[rng.random_range(0..regions.len())].clone())
        })
        .collect()
}

/// Loads the records (not timed), then times the roll-up read and the GROUP BY anchor on
/// the same subtrees and compares their answers.
async fn measure_totals(
    db: &Database,
    fixture: &Fixture,
    records: usize,
    subtrees: &[Option<String>],
    anchor_queries: usize,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let actor = command_line_actor();
    let mut loaded = 0;

    // Each batch holds the records of its own band of villages, in path order, so that every
    // batch's holding keys follow the last one's and the holding index grows at its end, as
    // when each county loads its own file. Drawn from all villages, each batch went into
    // every part of an index of up to ten million keys, and the load (which is not what is
    // measured) took most of the benchmark's half hour. Over all batches every village has
    // the same share of the records as before.
    let batches = records.div_ceil(LOAD_BATCH).max(1);
    let villages = fixture.villages.len();
    for band in 0..batches {
        let batch = LOAD_BATCH.min(records - loaded);
        progress.phase(format!(
            "loading records for the totals: {} of {}",
            group_digits(loaded as u64),
            group_digits(records as u64)
        ));
        let first = band * villages / batches;
        let band_villages = first..((band + 1) * villages / batches).max(first + 1);
        let seed = SEED + 100 + band as u64;
        let rows = generate_rows(fixture, batch, band_villages, &format!("t{loaded}-"), seed);
        let drafts: Vec<(u32, RecordDraft)> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| (u32::try_from(i).unwrap_or(u32::MAX), draft(fixture, row)))
            .collect();
        db.insert_records(&actor, drafts, RecordProvenance::default(), "bench load")
            .await
            .context("loading records failed")?;
        loaded += batch;
    }
    progress.phase("timing subtree totals against GROUP BY");
    let everything = Scope::everything();
    let mut muster = Vec::with_capacity(subtrees.len());
    let mut answers = Vec::with_capacity(anchor_queries);
    for (i, region) in subtrees.iter().enumerate() {
        let started = Instant::now();
        let totals = db.subtree_totals(&everything, region.as_deref()).await?;
        muster.push(started.elapsed());
        if i < anchor_queries {
            answers.push((totals.path, totals.by_type));
        }
    }
    let mut anchor = Vec::with_capacity(anchor_queries);
    let mut agree = true;
    for (path, by_type) in &answers {
        let started = Instant::now();
        let counted = db.totals_from_records(&everything, path).await?;
        anchor.push(started.elapsed());
        agree &= same_totals(by_type, &counted);
    }
    let (p50, p99) = percentiles(&mut muster);
    let (anchor_p50, anchor_p99) = percentiles(&mut anchor);
    Ok(Outcome::Latency {
        queries: muster.len(),
        p50_ms: p50,
        p99_ms: p99,
        anchor_queries: anchor.len(),
        anchor_p50_ms: anchor_p50,
        anchor_p99_ms: anchor_p99,
        speedup_p50: if p50 > 0.0 { anchor_p50 / p50 } else { 0.0 },
        speedup_p99: if p99 > 0.0 { anchor_p99 / p99 } else { 0.0 },
        answers_agree: agree,
        target: format!("p99 < {MAX_TOTALS_P99_MS} ms"),
        target_met: p99 < MAX_TOTALS_P99_MS && agree,
    })
}

fn draft(fixture: &Fixture, row: &GeneratedRow) -> RecordDraft {
    let resource_type = &fixture.types[row.type_index];
    let (code, path, _) = &fixture.villages[row.village];
    let holder = Holder::Organization {
        id: None,
        name: row.holder.clone(),
    };
    RecordDraft {
        type_code: resource_type.code.clone(),
        quantity: row.quantity,
        attributes: Default::default(),
        quality: QualityGrade::Good,
        holding_key: holding_key(path, &resource_type.code, &holder, None),
        holder,
        site: None,
        region_code: code.clone(),
        region_path: path.clone(),
        coordinates: row.coordinates,
        status: RecordStatus::Available,
    }
}

/// Sums of floating-point quantities differ in the last bits with the order of addition.
fn same_totals(a: &[TypeTotals], b: &[TypeTotals]) -> bool {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0);
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.type_code == b.type_code
                && a.totals.record_count == b.totals.record_count
                && a.totals.verified_count == b.totals.verified_count
                && close(a.totals.quantity, b.totals.quantity)
                && close(a.totals.available_quantity, b.totals.available_quantity)
                && close(a.totals.verified_quantity, b.totals.verified_quantity)
        })
}

/// Runs `work` on a fresh, migrated PostgreSQL database holding the province's regions.
async fn with_regions<T, F, Fut>(
    server: &PostgresServer,
    fixture: &Fixture,
    work: F,
) -> anyhow::Result<T>
where
    F: FnOnce(Database) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    server
        .with_fresh_database(|db| async move {
            load_regions(&db, fixture).await?;
            work(db).await
        })
        .await
}

/// The anchor: `psql \copy` of the same file into a plain table of text columns, created
/// before the clock starts.
async fn time_psql_copy(
    server: &PostgresServer,
    csv: &Path,
    fixture: &Fixture,
) -> Result<f64, String> {
    let name = server
        .create_database()
        .await
        .map_err(|e| format!("{e:#}"))?;
    let url = replace_database(&server.admin_url, &name);
    let columns: Vec<String> = header(fixture)
        .iter()
        .map(|h| format!("\"{h}\" text"))
        .collect();
    let create = format!("CREATE TABLE raw_records ({});", columns.join(", "));
    let copy = format!(
        "\\copy raw_records FROM '{}' WITH (FORMAT csv, HEADER true)",
        csv.display()
    );
    let result = tokio::task::spawn_blocking(move || -> Result<f64, String> {
        run_psql(&url, &create)?;
        let started = Instant::now();
        run_psql(&url, &copy)?;
        Ok(started.elapsed().as_secs_f64())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    server.drop_database(&name).await;
    result
}

fn run_psql(url: &str, command: &str) -> Result<(), String> {
    let output = Command::new("psql")
        .arg("--no-psqlrc")
        .arg("--quiet")
        .arg("--set=ON_ERROR_STOP=1")
        .arg(url)
        .arg("--command")
        .arg(command)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run psql ({e}); apt-get install postgresql-client"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn render(report: &Report) -> String {
    let mut out = format!(
        "muster bench potential{}: seed {}, imports the median of {RUNS} runs each into a fresh database\n\n",
        if report.quick { " --quick" } else { "" },
        report.seed,
    );
    let mut table = Table::new([
        "measurement",
        "backend",
        "Muster",
        "anchor",
        "ratio",
        "target",
        "met",
    ]);
    for m in &report.measurements {
        match &m.outcome {
            Outcome::Import {
                rows,
                seconds,
                rows_per_second,
                anchor,
                ratio,
                target,
                target_met,
                validate_seconds,
                ..
            } => table.row([
                m.name.clone(),
                m.backend.to_owned(),
                format!(
                    "{seconds:.2} s, {} rows/s{}",
                    group_digits(rows_per_second.round() as u64),
                    validate_seconds.map_or_else(String::new, |v| format!(" (read+check {v:.2} s)"))
                ),
                anchor.as_ref().map_or_else(
                    || "—".to_owned(),
                    |a| format!("{}: {:.2} s, {} rows/s", a.name, a.seconds, group_digits((*rows as f64 / a.seconds.max(1e-9)).round() as u64)),
                ),
                ratio.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×")),
                target.clone(),
                if *target_met { "yes" } else { "NO" }.to_owned(),
            ]),
            Outcome::Latency {
                queries,
                p50_ms,
                p99_ms,
                anchor_queries,
                anchor_p50_ms,
                anchor_p99_ms,
                speedup_p50,
                answers_agree,
                target,
                target_met,
                ..
            } => table.row([
                m.name.clone(),
                m.backend.to_owned(),
                format!("p50 {p50_ms:.2} ms, p99 {p99_ms:.2} ms ({queries} subtrees)"),
                format!("GROUP BY: p50 {anchor_p50_ms:.1} ms, p99 {anchor_p99_ms:.1} ms ({anchor_queries})"),
                format!("{speedup_p50:.0}× faster{}", if *answers_agree { "" } else { ", ANSWERS DIFFER" }),
                target.clone(),
                if *target_met { "yes" } else { "NO" }.to_owned(),
            ]),
            Outcome::Skipped { reason } => {
                table.row([m.name.clone(), m.backend.to_owned(), format!("skipped: {reason}")]);
            }
        }
    }
    out.push_str(&table.render());
    out.push_str(
        "\nImports: reading the file, checking every row against the taxonomy and the stored regions, \
         roll-ups, storing and the audit entry. Totals: the roll-up read for a random subtree (a level \
         drawn uniformly, then a region), against GROUP BY over the records of the same subtree.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_row_passes_the_importer() {
        let fixture = fixture();
        let rows = generate_rows(&fixture, 500, 0..fixture.villages.len(), "t", 1);
        let dir = tempfile::tempdir().expect("dir");
        let csv = dir.path().join("p.csv");
        write_potential_csv(&csv, &fixture, &rows).expect("written");
        let bytes = std::fs::read(&csv).expect("read");
        let taxonomy = Taxonomy::default_taxonomy();
        let rules = muster_domain::potential::import::ImportRules {
            taxonomy: &taxonomy,
            allowed_types: None,
        };
        let importer = muster_domain::potential::import::read_records(&bytes, "p.csv", rules)
            .expect("the header reads");
        assert!(!importer.has_problems());
        let regions: std::collections::HashMap<_, _> = fixture
            .villages
            .iter()
            .map(|(code, path, coordinates)| {
                (
                    code.clone(),
                    muster_domain::potential::import::RegionInfo {
                        path: path.clone(),
                        level: RegionLevel::Village,
                        coordinates: *coordinates,
                    },
                )
            })
            .collect();
        let drafts = importer
            .finish(&regions, &RegionPath::root())
            .expect("every row is good");
        assert_eq!(drafts.len(), 500);
        let unique: std::collections::HashSet<&str> =
            drafts.iter().map(|(_, d)| d.holding_key.as_str()).collect();
        assert_eq!(unique.len(), 500);
    }
}
