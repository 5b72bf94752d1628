//! `muster bench facilities`: the grid's reads and a phone's inspection upload, on SQLite and
//! PostgreSQL, each against an anchor measured in the same run.
//!
//! The issue: "With 100,000 facilities and 1,000,000 inspections on SQLite and on
//! PostgreSQL, printed as a table: 'my rounds today' for a grid member (target p99 under
//! 20 ms), a township dashboard (p99 under 50 ms), and accepting an inspection with two 2 MB
//! photos (throughput and p99 at 16 concurrent uploads)."
//!
//! Every database is fresh and gets the demo province's regions, then facilities, grids and
//! about ten visits a facility from the demo's planner at a larger size, through the bulk
//! loaders (not timed). Grid members are made in a few hundred villages.
//!
//! * Rounds: `Database::rounds_due` for a random grid member (up to 100 facilities).
//! * Dashboard: `Database::facility_dashboard` for a random township (three aggregate
//!   queries: facilities by kind, inspections of the last 30 days, open orders).
//! * Both reads' anchor is the cheapest read the API makes: one facility by id through the
//!   same reach filter (`Database::facility`), timed on the same pool in the same pass. The
//!   ratio says how many such round trips the read costs.
//! * Upload: sixteen grid members at once, each through a server started in-process
//!   (`App::build`, port 0) and its real HTTP routes: `POST /api/v1/uploads`, one `PATCH`
//!   with the 2 MB photo, `POST …/finish` (checksum, type sniffing, full decode, thumbnail),
//!   twice, then the inspection. The inspection itself is recorded through
//!   `Database::record_inspection` with the attachments claimed by upload id
//!   (`BlobStore::finished_upload`), because the inspection route is not built yet. Its
//!   anchor is the same inspection without photos, at the same concurrency.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use muster_domain::demo::facilities::{DemoFacilities, FacilityPlanSize, plan_demo_facilities};
use muster_domain::demo::{DemoScale, demo_regions};
use muster_domain::facility::{InspectionDraft, ItemAnswer, ItemResult, default_checklist};
use muster_domain::organization::Roles;
use muster_domain::region_import::{ColumnLayout, ParsedRegionCsv, RegionRow};
use muster_domain::{Actor, OrganizationKind, RegionLevel, Side, Timestamp};
use muster_storage::{
    AttachmentInput, BlobStore, BulkFacility, BulkGrid, BulkInspection, ContentHash, Database,
    DatabaseUrl, FacilityLoad, NewOrganization, NewUser, UploadId,
};
use muster_web::password::{HashCost, hash_password_blocking};
use muster_web::{App, AppConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::regions::remove_sqlite_files;
use super::support::{PostgresServer, percentiles};
use crate::commands::{CommandResult, command_line_actor, group_digits};
use crate::progress::Progress;
use crate::table::Table;

const SEED: u64 = 2026;
const FACILITIES: usize = 100_000;
/// Days of visits: at the kinds' intervals (30 or 90 days, a little early or late) this
/// gives about ten visits a facility, a million in all.
const SEASON_DAYS: u32 = 400;
/// Villages whose grids get a member; the reads pick among their members.
const GRID_MEMBERS: usize = 300;
const QUERIES: usize = 2_000;
/// Inspections uploaded with photos, and without (the anchor).
const UPLOADS: usize = 320;
const CONCURRENCY: usize = 16;
const PHOTO_BYTES: usize = 2_000_000;
const HISTORY_BATCH: usize = 100_000;

const MAX_ROUNDS_P99_MS: f64 = 20.0;
const MAX_DASHBOARD_P99_MS: f64 = 50.0;
const PASSWORD: &str = "bench-password";

#[derive(Debug, Serialize)]
struct Report {
    bench: &'static str,
    quick: bool,
    seed: u64,
    facilities: usize,
    queries: usize,
    uploads: usize,
    concurrency: usize,
    photo_bytes: usize,
    upload_path: &'static str,
    measurements: Vec<Measurement>,
}

#[derive(Debug, Serialize)]
struct Measurement {
    /// A stable key for scripts, e.g. `rounds.sqlite`.
    key: String,
    name: String,
    backend: &'static str,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum Outcome {
    Latency {
        queries: usize,
        p50_ms: f64,
        p99_ms: f64,
        anchor: &'static str,
        anchor_p50_ms: f64,
        anchor_p99_ms: f64,
        /// Muster p99 / anchor p99.
        ratio_p99: f64,
        target: String,
        target_met: bool,
        /// Size of the data the reads ran over.
        inspections: usize,
        /// Average rows in an answer (facilities due, or facilities in the township).
        mean_answer_rows: f64,
    },
    Upload {
        inspections: usize,
        concurrency: usize,
        seconds: f64,
        inspections_per_second: f64,
        megabytes_per_second: f64,
        p50_ms: f64,
        p99_ms: f64,
        anchor: &'static str,
        anchor_inspections_per_second: f64,
        anchor_p50_ms: f64,
        anchor_p99_ms: f64,
        ratio_p99: f64,
        target: String,
        target_met: bool,
    },
    Skipped {
        reason: String,
    },
}

pub async fn run(quick: bool, json: bool) -> CommandResult {
    let scale = if quick { 10 } else { 1 };
    let facilities = FACILITIES / scale;
    let queries = QUERIES / scale.min(4);
    let uploads = UPLOADS / scale.min(4);
    let members = GRID_MEMBERS / scale.min(3);

    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let progress = Progress::spinner("planning the facilities and their visits");
    let today = muster_storage::now().date();
    let (regions, plan) = tokio::task::spawn_blocking(move || {
        let regions = demo_regions(DemoScale::Province, SEED);
        let plan = plan_demo_facilities(
            &regions,
            FacilityPlanSize {
                facilities,
                season_days: SEASON_DAYS,
            },
            today,
            SEED,
        );
        (regions, plan)
    })
    .await
    .context("the planner stopped")?;
    let fixture = Arc::new(Fixture::new(regions, plan, members));
    progress.phase("encoding the photos");
    let photo = tokio::task::spawn_blocking(|| photo_jpeg(PHOTO_BYTES))
        .await
        .context("the photo encoder stopped")??;

    let mut measurements = Vec::new();
    let postgres = PostgresServer::connect().await;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = backend.name();
        let files = dir.path().join(format!("files-{name}"));
        let measured = match backend {
            Backend::Sqlite => {
                let path = dir.path().join("facilities.db");
                remove_sqlite_files(&path);
                let result = async {
                    let db = Database::open(&DatabaseUrl::Sqlite(path.clone()))
                        .await
                        .context("cannot open a fresh SQLite database")?;
                    let outcome = measure(
                        &db, &fixture, &photo, &files, queries, uploads, &progress, name,
                    )
                    .await;
                    db.close().await;
                    outcome
                }
                .await;
                remove_sqlite_files(&path);
                result
            }
            Backend::Postgres => match &postgres {
                Ok(server) => {
                    server
                        .with_fresh_database(|db| {
                            let (fixture, photo, files, progress) =
                                (&fixture, &photo, &files, &progress);
                            async move {
                                measure(
                                    &db, fixture, photo, files, queries, uploads, progress, name,
                                )
                                .await
                            }
                        })
                        .await
                }
                Err(reason) => Err(anyhow::anyhow!("{reason}")),
            },
        };
        let _ = std::fs::remove_dir_all(&files);
        match measured {
            Ok(three) => measurements.extend(three),
            Err(e) => {
                for (key, title) in [
                    ("rounds", "my rounds today"),
                    ("dashboard", "township dashboard"),
                    ("upload", "inspection with two 2 MB photos"),
                ] {
                    measurements.push(Measurement {
                        key: format!("{key}.{name}"),
                        name: title.to_owned(),
                        backend: name,
                        outcome: Outcome::Skipped {
                            reason: format!("{e:#}"),
                        },
                    });
                }
            }
        }
    }
    progress.finish();

    let report = Report {
        bench: "facilities",
        quick,
        seed: SEED,
        facilities,
        queries,
        uploads,
        concurrency: CONCURRENCY,
        photo_bytes: PHOTO_BYTES,
        upload_path: "HTTP uploads (POST /api/v1/uploads, PATCH, finish) to an in-process server, \
                      then Database::record_inspection claiming them by upload id",
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

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    const fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The planned data and who walks which grid.
struct Fixture {
    regions: Vec<RegionRow>,
    plan: DemoFacilities,
    /// Villages that get a grid member, by code.
    member_villages: Vec<String>,
    townships: Vec<String>,
}

impl Fixture {
    fn new(regions: Vec<RegionRow>, plan: DemoFacilities, members: usize) -> Self {
        let mut villages: Vec<String> = plan
            .grids
            .iter()
            .map(|g| g.village.as_str().to_owned())
            .collect();
        villages.dedup();
        let mut rng = ChaCha8Rng::seed_from_u64(SEED + 3);
        let mut member_villages = Vec::with_capacity(members);
        while member_villages.len() < members.min(villages.len()) {
            let village = villages.swap_remove(rng.random_range(0..villages.len()));
            member_villages.push(village);
        }
        let townships = regions
            .iter()
            .filter(|r| r.code.implied_level() == RegionLevel::Township)
            .map(|r| r.code.as_str().to_owned())
            .collect();
        Self {
            regions,
            plan,
            member_villages,
            townships,
        }
    }
}

/// A grid member as the benchmark uses it.
struct Member {
    username: String,
    actor: Actor,
    /// Facilities of their grids.
    facilities: Vec<i64>,
}

/// Loads the data (not timed), then times the two reads and the upload.
#[allow(clippy::too_many_arguments)]
async fn measure(
    db: &Database,
    fixture: &Fixture,
    photo: &[u8],
    files: &Path,
    queries: usize,
    uploads: usize,
    progress: &Progress,
    backend: &'static str,
) -> anyhow::Result<Vec<Measurement>> {
    let (members, inspections) = load(db, fixture, progress, backend).await?;
    let now = muster_storage::now();
    let today = now.date();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 11);

    progress.phase(format!("{backend}: timing my rounds today"));
    let mut rounds = Vec::with_capacity(queries);
    let mut anchor = Vec::with_capacity(queries);
    let mut rows = 0usize;
    for _ in 0..queries {
        let member = &members[rng.random_range(0..members.len())];
        let started = Instant::now();
        let due = db.rounds_due(&member.actor, today, 100).await?;
        rounds.push(started.elapsed());
        rows += due.len();
        let id = member.facilities[rng.random_range(0..member.facilities.len())];
        let started = Instant::now();
        db.facility(&member.actor, id).await?;
        anchor.push(started.elapsed());
    }
    let rounds = latency(
        "my rounds today (grid member)",
        format!("rounds.{backend}"),
        backend,
        (&mut rounds, &mut anchor),
        MAX_ROUNDS_P99_MS,
        inspections,
        rows as f64 / queries as f64,
    );

    progress.phase(format!("{backend}: timing township dashboards"));
    let office = command_line_actor();
    let mut dashboards = Vec::with_capacity(queries);
    let mut anchor = Vec::with_capacity(queries);
    let mut rows = 0i64;
    let all_ids: Vec<i64> = members.iter().flat_map(|m| m.facilities.clone()).collect();
    for _ in 0..queries {
        let township = &fixture.townships[rng.random_range(0..fixture.townships.len())];
        let started = Instant::now();
        let dashboard = db.facility_dashboard(&office, Some(township), now).await?;
        dashboards.push(started.elapsed());
        rows += dashboard.totals.facilities;
        let id = all_ids[rng.random_range(0..all_ids.len())];
        let started = Instant::now();
        db.facility(&office, id).await?;
        anchor.push(started.elapsed());
    }
    let dashboard = latency(
        "township dashboard",
        format!("dashboard.{backend}"),
        backend,
        (&mut dashboards, &mut anchor),
        MAX_DASHBOARD_P99_MS,
        inspections,
        rows as f64 / queries as f64,
    );

    progress.phase(format!(
        "{backend}: {CONCURRENCY} grid members uploading inspections with photos"
    ));
    let upload = measure_uploads(db, &members, photo, files, uploads)
        .await
        .unwrap_or_else(|e| Outcome::Skipped {
            reason: format!("{e:#}"),
        });
    Ok(vec![
        rounds,
        dashboard,
        Measurement {
            key: format!("upload.{backend}"),
            name: "inspection with two 2 MB photos".to_owned(),
            backend,
            outcome: upload,
        },
    ])
}

/// Regions, grid members, facilities with their grids, and the history; returns the
/// members and how many inspections were loaded.
async fn load(
    db: &Database,
    fixture: &Fixture,
    progress: &Progress,
    backend: &str,
) -> anyhow::Result<(Vec<Member>, usize)> {
    let cli = command_line_actor();
    progress.phase(format!("{backend}: importing the demo province's regions"));
    db.import_regions(
        &cli,
        ParsedRegionCsv {
            rows: fixture.regions.clone(),
            layout: ColumnLayout::default(),
        },
        "bench regions",
    )
    .await
    .context("the demo regions did not import")?;

    progress.phase(format!(
        "{backend}: adding {} grid members",
        fixture.member_villages.len()
    ));
    let organizations = db
        .create_organizations(
            &cli,
            &fixture
                .member_villages
                .iter()
                .map(|code| NewOrganization {
                    name: format!("联络点 {code}"),
                    kind: OrganizationKind::VillageContactPoint,
                    side: Side::Civil,
                    region_code: Some(code.clone()),
                })
                .collect::<Vec<_>>(),
        )
        .await
        .context("cannot add the contact points")?;
    let hash = hash_password_blocking(PASSWORD.to_owned(), HashCost::Test)
        .await
        .context("cannot hash the password")?;
    let roles = Roles::parse_list("grid_member").context("roles")?;
    let mut users_by_village: HashMap<String, (String, Actor)> = HashMap::new();
    for (code, organization) in fixture.member_villages.iter().zip(&organizations) {
        let username = format!("grid-{code}");
        let user = db
            .create_user(
                &cli,
                NewUser {
                    username: username.clone(),
                    display_name: username.clone(),
                    password_hash: hash.clone(),
                    organization_id: organization.id,
                    roles: roles.clone(),
                },
            )
            .await
            .context("cannot add a grid member")?;
        users_by_village.insert(code.clone(), (username, user.actor()));
    }

    let plan = &fixture.plan;
    progress.phase(format!(
        "{backend}: loading {} facilities in {} grids",
        group_digits(plan.facilities.len() as u64),
        group_digits(plan.grids.len() as u64)
    ));
    let now = muster_storage::now();
    let load = FacilityLoad {
        grids: plan
            .grids
            .iter()
            .map(|g| BulkGrid {
                name: g.name.clone(),
                region_code: g.village.as_str().to_owned(),
                member_user_ids: users_by_village
                    .get(g.village.as_str())
                    .and_then(|(_, a)| a.user_id())
                    .into_iter()
                    .collect(),
            })
            .collect(),
        facilities: plan
            .facilities
            .iter()
            .map(|f| BulkFacility {
                draft: f.draft.clone(),
                region_code: f.village.as_str().to_owned(),
                grid: Some(f.grid),
                manager_organization_id: None,
                registered_at: now.plus_days(-i64::from(f.registered_days_ago)),
                sign_installed: f
                    .sign_installed_days_ago
                    .map(|d| now.date().plus_days(-i64::from(d))),
            })
            .collect(),
    };
    let loaded = db
        .bulk_load_facilities(&cli, load, "bench facilities")
        .await
        .context("the facilities did not load")?;

    // Visits by the village's grid member where there is one, else by a province inspector.
    let province = fixture
        .regions
        .first()
        .map(|r| r.code.as_str().to_owned())
        .context("no regions")?;
    let office = db
        .create_organization(
            &cli,
            NewOrganization {
                name: "省人防检查组".into(),
                kind: OrganizationKind::MobilizationOffice,
                side: Side::Civil,
                region_code: Some(province),
            },
        )
        .await?;
    let inspector = db
        .create_user(
            &cli,
            NewUser {
                username: "inspector".into(),
                display_name: "inspector".into(),
                password_hash: hash.clone(),
                organization_id: office.id,
                roles: Roles::parse_list("office_staff").context("roles")?,
            },
        )
        .await?
        .id;
    let inspector_of = |facility: usize| -> i64 {
        users_by_village
            .get(plan.facilities[facility].village.as_str())
            .and_then(|(_, a)| a.user_id())
            .unwrap_or(inspector)
    };
    let total = plan.visits.len();
    for (batch_index, batch) in plan.visits.chunks(HISTORY_BATCH).enumerate() {
        progress.phase(format!(
            "{backend}: loading inspections, {} of {}",
            group_digits((batch_index * HISTORY_BATCH) as u64),
            group_digits(total as u64)
        ));
        let rows: Vec<BulkInspection> = batch
            .iter()
            .enumerate()
            .map(|(i, visit)| {
                let facility = &plan.facilities[visit.facility];
                let at = now
                    .date()
                    .plus_days(-i64::from(visit.days_ago))
                    .start()
                    .plus_millis(i64::from(visit.minute_of_day) * 60_000)
                    .min(now);
                BulkInspection {
                    facility_id: loaded.facility_ids[visit.facility],
                    inspector_user_id: inspector_of(visit.facility),
                    idempotency_key: format!("h{}", batch_index * HISTORY_BATCH + i),
                    draft: draft(facility.draft.kind, &visit.failing, at, None),
                    received_at: at,
                    attachments: Vec::new(),
                }
            })
            .collect();
        db.bulk_load_inspection_history(&cli, rows, "bench history")
            .await
            .context("the inspection history did not load")?;
    }

    let mut members: Vec<Member> = Vec::new();
    let mut by_user: HashMap<String, usize> = HashMap::new();
    for (index, facility) in plan.facilities.iter().enumerate() {
        if let Some((username, actor)) = users_by_village.get(facility.village.as_str()) {
            let slot = *by_user.entry(username.clone()).or_insert_with(|| {
                members.push(Member {
                    username: username.clone(),
                    actor: actor.clone(),
                    facilities: Vec::new(),
                });
                members.len() - 1
            });
            members[slot].facilities.push(loaded.facility_ids[index]);
        }
    }
    if members.len() < CONCURRENCY {
        bail!("too few grid members for {CONCURRENCY} concurrent uploads");
    }
    Ok((members, total))
}

/// A visit answering every item of the kind's checklist.
fn draft(
    kind: muster_domain::facility::FacilityKind,
    failing: &[String],
    at: Timestamp,
    position: Option<(f64, f64)>,
) -> InspectionDraft {
    InspectionDraft {
        answers: default_checklist(kind)
            .items
            .into_iter()
            .map(|item| ItemAnswer {
                result: if failing.contains(&item.code) {
                    ItemResult::Fail
                } else {
                    ItemResult::Pass
                },
                code: item.code,
                note: String::new(),
            })
            .collect(),
        notes: String::new(),
        latitude: position.map(|p| p.0),
        longitude: position.map(|p| p.1),
        inspected_at: at,
    }
}

#[allow(clippy::too_many_arguments)]
fn latency(
    name: &str,
    key: String,
    backend: &'static str,
    (muster, anchor): (&mut [Duration], &mut [Duration]),
    target_ms: f64,
    inspections: usize,
    mean_answer_rows: f64,
) -> Measurement {
    let (p50, p99) = percentiles(muster);
    let (anchor_p50, anchor_p99) = percentiles(anchor);
    Measurement {
        key,
        name: name.to_owned(),
        backend,
        outcome: Outcome::Latency {
            queries: muster.len(),
            p50_ms: p50,
            p99_ms: p99,
            anchor: "one facility by id through the same reach filter",
            anchor_p50_ms: anchor_p50,
            anchor_p99_ms: anchor_p99,
            ratio_p99: if anchor_p99 > 0.0 {
                p99 / anchor_p99
            } else {
                0.0
            },
            target: format!("p99 < {target_ms} ms"),
            target_met: p99 < target_ms,
            inspections,
            mean_answer_rows,
        },
    }
}

/// One uploader: a grid member with an API token.
struct Uploader {
    token: String,
    user_id: i64,
    actor: Actor,
    facilities: Vec<i64>,
}

/// Starts a server over `db`, gets a token for each of sixteen grid members, and runs the
/// anchor (inspections without photos) and then the inspections with two photos each.
async fn measure_uploads(
    db: &Database,
    members: &[Member],
    photo: &[u8],
    files: &Path,
    uploads: usize,
) -> anyhow::Result<Outcome> {
    let config = AppConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        hash_cost: HashCost::Test,
        sign_in_attempts_per_minute: 1_000,
        files_dir: files.to_path_buf(),
        ..AppConfig::default()
    };
    let running = App::build(config, db.clone())
        .await
        .context("cannot start the server")?;
    let base = running.url();
    let outcome = async {
        let client = reqwest::Client::new();
        let mut uploaders = Vec::with_capacity(CONCURRENCY);
        for member in members.iter().take(CONCURRENCY) {
            let response = client
                .post(format!("{base}/api/v1/auth/token"))
                .json(&serde_json::json!({
                    "username": member.username,
                    "password": PASSWORD,
                    "name": "bench phone",
                }))
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("the token request answered {}", response.status());
            }
            let body: serde_json::Value = response.json().await?;
            uploaders.push(Uploader {
                token: body["token"].as_str().unwrap_or_default().to_owned(),
                user_id: member.actor.user_id().context("a member without an id")?,
                actor: member.actor.clone(),
                facilities: member.facilities.clone(),
            });
        }
        let uploaders = Arc::new(uploaders);
        let store = BlobStore::new(files.to_path_buf(), muster_storage::BlobLimits::default());
        let photo: Arc<Vec<u8>> = Arc::new(photo.to_vec());
        let (anchor_seconds, mut anchor) = run_uploads(
            db, &client, &base, &store, &uploaders, &photo, uploads, 0, "a",
        )
        .await?;
        let (seconds, mut latencies) = run_uploads(
            db, &client, &base, &store, &uploaders, &photo, uploads, 2, "p",
        )
        .await?;
        let (p50, p99) = percentiles(&mut latencies);
        let (anchor_p50, anchor_p99) = percentiles(&mut anchor);
        let per_second = uploads as f64 / seconds.max(1e-9);
        Ok(Outcome::Upload {
            inspections: uploads,
            concurrency: CONCURRENCY,
            seconds,
            inspections_per_second: per_second,
            megabytes_per_second: per_second * 2.0 * PHOTO_BYTES as f64 / 1e6,
            p50_ms: p50,
            p99_ms: p99,
            anchor: "the same inspection without photos, 16 at once",
            anchor_inspections_per_second: uploads as f64 / anchor_seconds.max(1e-9),
            anchor_p50_ms: anchor_p50,
            anchor_p99_ms: anchor_p99,
            ratio_p99: if anchor_p99 > 0.0 {
                p99 / anchor_p99
            } else {
                0.0
            },
            target: "none set: throughput and p99 reported".to_owned(),
            target_met: true,
        })
    }
    .await;
    running
        .shutdown()
        .await
        .context("the server did not stop")?;
    outcome
}

/// `count` inspections by sixteen uploaders at once, each with `photos` photos uploaded
/// over HTTP; returns the wall time and each inspection's latency.
#[allow(clippy::too_many_arguments)]
async fn run_uploads(
    db: &Database,
    client: &reqwest::Client,
    base: &str,
    store: &BlobStore,
    uploaders: &Arc<Vec<Uploader>>,
    photo: &Arc<Vec<u8>>,
    count: usize,
    photos: usize,
    key_prefix: &'static str,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(CONCURRENCY);
    for worker in 0..CONCURRENCY {
        let (db, client, base, store) =
            (db.clone(), client.clone(), base.to_owned(), store.clone());
        let (uploaders, photo) = (Arc::clone(uploaders), Arc::clone(photo));
        tasks.push(tokio::spawn(async move {
            let uploader = &uploaders[worker];
            let mut latencies = Vec::new();
            let mut n = worker;
            while n < count {
                let facility = uploader.facilities[n % uploader.facilities.len()];
                let started = Instant::now();
                let mut attachments = Vec::with_capacity(photos);
                for p in 0..photos {
                    let bytes = distinct_photo(&photo, &format!("{key_prefix}-{n}-{p}"));
                    let id = upload(&client, &base, &uploader.token, bytes).await?;
                    let blob = store
                        .finished_upload(uploader.user_id, &id)
                        .await
                        .context("the finished upload is not in the store")?;
                    attachments.push(AttachmentInput {
                        sha256: blob.sha256.as_str().to_owned(),
                        content_type: blob.content_type.clone(),
                        media_kind: blob.kind.as_str().to_owned(),
                        size_bytes: i64::try_from(blob.size).unwrap_or(i64::MAX),
                        thumbnail_sha256: blob
                            .thumbnail
                            .as_ref()
                            .map(|_| blob.sha256.as_str().to_owned()),
                    });
                }
                let stored = db.facility(&uploader.actor, facility).await?;
                let now = muster_storage::now();
                let outcome = db
                    .record_inspection(
                        &uploader.actor,
                        facility,
                        &format!("{key_prefix}-{n}"),
                        &draft(stored.kind(), &[], now, Some((stored.lat, stored.lon))),
                        &attachments,
                        now,
                    )
                    .await?;
                if !outcome.created {
                    bail!("inspection {n} was not created");
                }
                latencies.push(started.elapsed());
                n += CONCURRENCY;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for task in tasks {
        latencies.extend(task.await.context("an uploader stopped")??);
    }
    Ok((started.elapsed().as_secs_f64(), latencies))
}

/// One photo through the upload routes: begin, one PATCH, finish.
async fn upload(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<UploadId> {
    let sha256 = ContentHash::of(&bytes);
    let response = client
        .post(format!("{base}/api/v1/uploads"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "size": bytes.len(),
            "sha256": sha256.as_str(),
            "file_name": "IMG_0001.jpg",
        }))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!(
            "beginning an upload answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    let created: serde_json::Value = response.json().await?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let response = client
        .patch(format!("{base}/api/v1/uploads/{id}"))
        .bearer_auth(token)
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!(
            "a chunk answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    let response = client
        .post(format!("{base}/api/v1/uploads/{id}/finish"))
        .bearer_auth(token)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!(
            "finishing an upload answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    UploadId::parse(&id).map_err(|e| anyhow::anyhow!("the server gave a bad upload id: {e}"))
}

/// The photo with a JPEG comment segment naming it, right after the start-of-image marker:
/// the same picture, different bytes, so every upload is stored and decoded anew rather than
/// found in the content-addressed store.
fn distinct_photo(jpeg: &[u8], tag: &str) -> Vec<u8> {
    let comment = tag.as_bytes();
    let length = u16::try_from(comment.len() + 2).unwrap_or(u16::MAX);
    let mut bytes = Vec::with_capacity(jpeg.len() + comment.len() + 4);
    bytes.extend_from_slice(&jpeg[..2]);
    bytes.extend_from_slice(&[0xFF, 0xFE]);
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(comment);
    bytes.extend_from_slice(&jpeg[2..]);
    bytes
}

/// A real JPEG of about `target` bytes: a noisy picture (noise does not compress) at a
/// size found by trying.
fn photo_jpeg(target: usize) -> anyhow::Result<Vec<u8>> {
    use image::codecs::jpeg::JpegEncoder;
    use image::{Rgb, RgbImage};
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut side = 1000u32;
    for _ in 0..8 {
        let picture = RgbImage::from_fn(side, side * 3 / 4, |x, y| {
            let n: u8 = rng.random();
            Rgb([
                ((x / 8) as u8).wrapping_add(n / 4),
                ((y / 8) as u8).wrapping_add(n / 3),
                n,
            ])
        });
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 85)
            .encode_image(&picture)
            .context("cannot encode the photo")?;
        if (target * 9 / 10..=target).contains(&bytes.len()) {
            return Ok(bytes);
        }
        let ratio = (target as f64 * 0.95 / bytes.len() as f64).sqrt();
        side = ((f64::from(side) * ratio) as u32).clamp(64, 8000);
        if bytes.len() < target && ratio < 1.01 {
            return Ok(bytes);
        }
    }
    bail!("could not make a photo of about {target} bytes")
}

fn render(report: &Report) -> String {
    let mut out = format!(
        "muster bench facilities{}: seed {}, {} facilities, {} queries per read, {} inspections uploaded by {} grid members at once\n\n",
        if report.quick { " --quick" } else { "" },
        report.seed,
        group_digits(report.facilities as u64),
        group_digits(report.queries as u64),
        report.uploads,
        report.concurrency,
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
            Outcome::Latency {
                queries,
                p50_ms,
                p99_ms,
                anchor_p50_ms,
                anchor_p99_ms,
                ratio_p99,
                target,
                target_met,
                inspections,
                mean_answer_rows,
                ..
            } => table.row([
                format!(
                    "{} ({} inspections stored)",
                    m.name,
                    group_digits(*inspections as u64)
                ),
                m.backend.to_owned(),
                format!(
                    "p50 {p50_ms:.2} ms, p99 {p99_ms:.2} ms ({queries}, {mean_answer_rows:.1} rows)"
                ),
                format!("facility by id: p50 {anchor_p50_ms:.2} ms, p99 {anchor_p99_ms:.2} ms"),
                format!("{ratio_p99:.1}×"),
                target.clone(),
                if *target_met { "yes" } else { "NO" }.to_owned(),
            ]),
            Outcome::Upload {
                inspections,
                inspections_per_second,
                megabytes_per_second,
                p50_ms,
                p99_ms,
                anchor_inspections_per_second,
                anchor_p50_ms,
                anchor_p99_ms,
                ratio_p99,
                target,
                ..
            } => table.row([
                m.name.clone(),
                m.backend.to_owned(),
                format!(
                    "{inspections_per_second:.1}/s ({megabytes_per_second:.0} MB/s), p50 {p50_ms:.0} ms, p99 {p99_ms:.0} ms ({inspections})"
                ),
                format!(
                    "no photos: {anchor_inspections_per_second:.0}/s, p50 {anchor_p50_ms:.1} ms, p99 {anchor_p99_ms:.1} ms"
                ),
                format!("{ratio_p99:.1}×"),
                target.clone(),
                "—".to_owned(),
            ]),
            Outcome::Skipped { reason } => {
                table.row([m.name.clone(), m.backend.to_owned(), format!("skipped: {reason}")]);
            }
        }
    }
    out.push_str(&table.render());
    out.push_str(&format!(
        "\nReads: p50/p99 over random grid members (rounds, up to 100 due facilities) and random \
         townships (dashboard); anchor: one facility by id through the same reach filter, timed \
         in the same pass. Ratio: Muster p99 / anchor p99.\nUploads: {}; {CONCURRENCY} at once, \
         each photo a distinct {} MB JPEG, checked, decoded and thumbnailed. Anchor: the same \
         inspection without photos.\n",
        report.upload_path,
        PHOTO_BYTES / 1_000_000
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tagged_photo_is_another_file_of_the_same_picture() {
        let jpeg = muster_storage_sample_jpeg();
        let a = distinct_photo(&jpeg, "a-1");
        let b = distinct_photo(&jpeg, "a-2");
        assert_ne!(ContentHash::of(&a), ContentHash::of(&b));
        let decoded = image::load_from_memory(&a).expect("still a JPEG");
        let original = image::load_from_memory(&jpeg).expect("a JPEG");
        assert_eq!(decoded.to_rgb8(), original.to_rgb8());
    }

    fn muster_storage_sample_jpeg() -> Vec<u8> {
        let picture = image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut bytes = std::io::Cursor::new(Vec::new());
        picture
            .write_to(&mut bytes, image::ImageFormat::Jpeg)
            .expect("encodes");
        bytes.into_inner()
    }
}
