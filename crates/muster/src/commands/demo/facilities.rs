//! The demo's civil air defense facilities (issue 4), after the regions, organizations and
//! users are in: the planner's facilities and grids through the bulk loader (the demo grid
//! member walks the grids of their village; each county's property manager answers for its
//! county's facilities), a season of inspections as history with photos stored through the
//! attachment store, the recent failing visits recorded as a phone records them so that they
//! issue rectification orders, a sweep that escalates the overdue ones, a patrol route
//! walked yesterday with a missed checkpoint, and a car-park sign campaign half done.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::Context;
use muster_domain::demo::facilities::{DemoFacilities, FacilityPlanSize, plan_demo_facilities};
use muster_domain::demo::{DemoScale, demo_regions};
use muster_domain::facility::campaign::CampaignTarget;
use muster_domain::facility::patrol::RouteDraft;
use muster_domain::facility::{InspectionDraft, ItemAnswer, ItemResult, default_checklist};
use muster_domain::{Actor, OrganizationKind, RegionPath, Scope, Timestamp};
use muster_storage::{
    AttachmentInput, BlobLimits, BlobStore, BulkFacility, BulkGrid, BulkInspection, ContentHash,
    Database, FacilityLoad, NewCampaign, OrderFilter, StoredBlob,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::commands::{command_line_actor, group_digits};
use crate::progress::Progress;

/// Distinct photos in the demo: visits share them (the store keeps each once).
const PHOTOS: usize = 24;
/// The notifier channel the demo's sweeps record.
const CHANNEL: &str = "log";

/// What the facility demo came to.
#[derive(Debug, Clone, PartialEq)]
pub struct FacilitySummary {
    pub facilities: usize,
    pub grids: usize,
    pub inspections: usize,
    pub photos: usize,
    pub open_orders: usize,
    pub overdue_orders: usize,
    pub escalations: usize,
    pub rounds_due_for_grid_user: usize,
    pub missed_checkpoint_alerts: usize,
    pub campaign_percent: f64,
}

impl FacilitySummary {
    pub fn summary_line(&self) -> String {
        format!(
            "Facilities: {} in {} grids, {} inspections ({} photos), {} open rectification orders ({} overdue, {} escalations), {} facilities in the grid user's rounds today, {} missed-checkpoint alert(s), sign campaign {:.0} % done.",
            group_digits(self.facilities as u64),
            group_digits(self.grids as u64),
            group_digits(self.inspections as u64),
            self.photos,
            self.open_orders,
            self.overdue_orders,
            self.escalations,
            self.rounds_due_for_grid_user,
            self.missed_checkpoint_alerts,
            self.campaign_percent,
        )
    }
}

/// Adds the facilities to a database that holds the demo (`demo::load` with the same scale
/// and seed); photos go to `files_dir`, the server's attachment store.
pub async fn load(
    db: &Database,
    files_dir: &Path,
    scale: DemoScale,
    seed: u64,
) -> anyhow::Result<FacilitySummary> {
    let cli = command_line_actor();
    let progress = Progress::spinner("planning the demo facilities");
    let now = muster_storage::now();
    let today = now.date();
    let size = match scale {
        DemoScale::Tiny => FacilityPlanSize {
            facilities: 120,
            season_days: 90,
        },
        _ => FacilityPlanSize::DEMO,
    };
    let plan = tokio::task::spawn_blocking(move || {
        plan_demo_facilities(&demo_regions(scale, seed), size, today, seed)
    })
    .await
    .context("the facility planner stopped")?;

    let grid_user = demo_user(db, "grid").await?;
    let admin = demo_user(db, "admin").await?;
    let grid_user_id = grid_user.user_id().context("the grid user has no id")?;

    // Each county's property manager answers for its county's facilities.
    let counties: BTreeSet<&str> = plan.facilities.iter().map(|f| f.county.as_str()).collect();
    let mut managers: HashMap<String, i64> = HashMap::new();
    for county in counties {
        let path = RegionPath::of_code(
            &muster_domain::RegionCode::parse(county).context("a planned county code")?,
        );
        let organizations = db.organizations_at(&Scope::everything(), &path).await?;
        if let Some(manager) = organizations
            .iter()
            .find(|o| o.kind == OrganizationKind::PropertyManager.as_str())
        {
            managers.insert(county.to_owned(), manager.id);
        }
    }

    progress.phase(format!(
        "registering {} facilities in {} grids",
        group_digits(plan.facilities.len() as u64),
        group_digits(plan.grids.len() as u64)
    ));
    let home_grids = plan.home_grids();
    let load = FacilityLoad {
        grids: plan
            .grids
            .iter()
            .enumerate()
            .map(|(i, g)| BulkGrid {
                name: g.name.clone(),
                region_code: g.village.as_str().to_owned(),
                member_user_ids: if home_grids.contains(&i) {
                    vec![grid_user_id]
                } else {
                    Vec::new()
                },
            })
            .collect(),
        facilities: plan
            .facilities
            .iter()
            .map(|f| BulkFacility {
                draft: f.draft.clone(),
                region_code: f.village.as_str().to_owned(),
                grid: Some(f.grid),
                manager_organization_id: managers.get(f.county.as_str()).copied(),
                registered_at: now.plus_days(-i64::from(f.registered_days_ago)),
                sign_installed: f
                    .sign_installed_days_ago
                    .map(|d| today.plus_days(-i64::from(d))),
            })
            .collect(),
    };
    let source = format!("demo data ({scale:?} scale, seed {seed})");
    let loaded = db
        .bulk_load_facilities(&cli, load, &source)
        .await
        .context("cannot store the demo facilities")?;

    progress.phase("taking the inspection photos");
    let store = BlobStore::new(files_dir.to_path_buf(), BlobLimits::default());
    let mut photos = Vec::with_capacity(PHOTOS);
    for index in 0..PHOTOS {
        let bytes = tokio::task::spawn_blocking(move || photo(seed, index))
            .await
            .context("the photo generator stopped")??;
        photos.push(store_photo(&store, grid_user_id, bytes, index).await?);
    }

    progress.phase("loading a season of inspections");
    let home = |facility: usize| plan.facilities[facility].village == plan.home_village;
    let inspector = |facility: usize| if home(facility) { &grid_user } else { &admin };
    let history: Vec<BulkInspection> = plan
        .visits
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.live)
        .map(|(i, visit)| BulkInspection {
            facility_id: loaded.facility_ids[visit.facility],
            inspector_user_id: inspector(visit.facility).user_id().unwrap_or(grid_user_id),
            idempotency_key: format!("demo-{seed}-{i}"),
            draft: visit_draft(&plan, i, now),
            received_at: visit_time(now, visit.days_ago, visit.minute_of_day),
            attachments: attachments(&photos, i, visit.photos),
        })
        .collect();
    let history_count = history.len();
    db.bulk_load_inspection_history(&cli, history, &source)
        .await
        .context("cannot store the demo inspections")?;

    progress.phase("recording the recent failures as a phone does");
    let mut live = 0;
    for (i, visit) in plan.visits.iter().enumerate().filter(|(_, v)| v.live) {
        let facility_id = loaded.facility_ids[visit.facility];
        db.record_inspection(
            inspector(visit.facility),
            facility_id,
            &format!("demo-{seed}-{i}"),
            &visit_draft(&plan, i, now),
            &attachments(&photos, i, visit.photos),
            now,
        )
        .await
        .with_context(|| format!("cannot record the demo inspection of facility {facility_id}"))?;
        live += 1;
    }
    let swept = db
        .sweep_orders(now, CHANNEL)
        .await
        .context("cannot sweep the demo orders")?;
    let escalations = swept.iter().filter(|n| n.kind.contains("escalat")).count();

    progress.phase("walking the patrol route and starting the sign campaign");
    let home_grid = home_grids
        .first()
        .and_then(|&g| loaded.grid_ids.get(g).copied());
    let route = db
        .create_route(
            &cli,
            plan.patrol.village.as_str(),
            home_grid,
            &RouteDraft {
                name: plan.patrol.name.clone(),
                window_minutes: plan.patrol.window_minutes,
                checkpoints: plan.patrol.checkpoints.clone(),
            },
        )
        .await
        .context("cannot create the demo patrol route")?;
    let walk_start = today.plus_days(-1).start().plus_millis(20 * 3_600_000);
    for (checkpoint, minutes) in &plan.patrol.checked {
        let point = &plan.patrol.checkpoints[*checkpoint];
        db.check_in(
            &grid_user,
            route.id,
            &point.code,
            Some((point.latitude, point.longitude)),
            walk_start.plus_millis(i64::from(*minutes) * 60_000),
        )
        .await
        .context("cannot check in on the demo patrol")?;
    }
    let alerts = db
        .sweep_patrols(now, CHANNEL)
        .await
        .context("cannot sweep the demo patrols")?;
    let campaign = db
        .create_campaign(
            &cli,
            NewCampaign {
                name: plan.campaign.name.clone(),
                region_code: plan.campaign.region.as_str().to_owned(),
                facility_kind: Some(plan.campaign.kind),
                target: CampaignTarget::SignInstalled,
                start: today.plus_days(-i64::from(plan.campaign.started_days_ago)),
                target_date: today.plus_days(i64::from(plan.campaign.target_in_days)),
            },
        )
        .await
        .context("cannot start the demo sign campaign")?;
    let progress_of_campaign = db.campaign_progress(&cli, campaign.id, now).await?;

    let rounds = db.rounds_due(&grid_user, today, 1000).await?;
    let open = db.orders(&cli, None, OrderFilter::Open, now, 1000).await?;
    let overdue = db
        .orders(&cli, None, OrderFilter::Overdue, now, 1000)
        .await?;
    progress.finish();
    Ok(FacilitySummary {
        facilities: loaded.facility_ids.len(),
        grids: loaded.grid_ids.len(),
        inspections: history_count + live,
        photos: photos.len(),
        open_orders: open.len(),
        overdue_orders: overdue.len(),
        escalations,
        rounds_due_for_grid_user: rounds.len(),
        missed_checkpoint_alerts: alerts.len(),
        campaign_percent: progress_of_campaign.forecast.percent(),
    })
}

/// A demo user as an actor.
async fn demo_user(db: &Database, username: &str) -> anyhow::Result<Actor> {
    Ok(db
        .sign_in_credentials(username)
        .await?
        .with_context(|| format!("the demo has no user {username} (load the demo first)"))?
        .user
        .actor())
}

fn visit_time(now: Timestamp, days_ago: u32, minute_of_day: u32) -> Timestamp {
    now.date()
        .plus_days(-i64::from(days_ago))
        .start()
        .plus_millis(i64::from(minute_of_day) * 60_000)
        .min(now)
}

/// The visit as the phone submits it: every item answered, the failures with a note, the
/// phone a few metres from the facility.
fn visit_draft(plan: &DemoFacilities, index: usize, now: Timestamp) -> InspectionDraft {
    let visit = &plan.visits[index];
    let facility = &plan.facilities[visit.facility].draft;
    InspectionDraft {
        answers: default_checklist(facility.kind)
            .items
            .into_iter()
            .map(|item| {
                let failed = visit.failing.contains(&item.code);
                ItemAnswer {
                    result: if failed {
                        ItemResult::Fail
                    } else {
                        ItemResult::Pass
                    },
                    note: if failed {
                        format!("{}不合格，已拍照", item.label_zh)
                    } else {
                        String::new()
                    },
                    code: item.code,
                }
            })
            .collect(),
        notes: if visit.failing.is_empty() {
            String::new()
        } else {
            "发现问题，已通知物业整改".to_owned()
        },
        latitude: Some(facility.latitude + 0.0001),
        longitude: Some(facility.longitude - 0.0001),
        inspected_at: visit_time(now, visit.days_ago, visit.minute_of_day),
    }
}

fn attachments(photos: &[StoredBlob], visit: usize, count: u8) -> Vec<AttachmentInput> {
    (0..usize::from(count))
        .map(|k| {
            let blob = &photos[(visit * 2 + k) % photos.len()];
            AttachmentInput {
                sha256: blob.sha256.as_str().to_owned(),
                content_type: blob.content_type.clone(),
                media_kind: blob.kind.as_str().to_owned(),
                size_bytes: i64::try_from(blob.size).unwrap_or(i64::MAX),
                thumbnail_sha256: blob
                    .thumbnail
                    .as_ref()
                    .map(|_| blob.sha256.as_str().to_owned()),
            }
        })
        .collect()
}

/// A small real JPEG: a seeded picture of a wall and a door, different for each index.
pub(super) fn photo(seed: u64, index: usize) -> anyhow::Result<Vec<u8>> {
    use image::{ImageFormat, Rgb, RgbImage};
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(index as u64));
    let (wall, door): ([u8; 3], [u8; 3]) = (
        [
            rng.random_range(150..220),
            rng.random_range(150..220),
            rng.random_range(140..200),
        ],
        [
            rng.random_range(40..120),
            rng.random_range(60..120),
            rng.random_range(60..140),
        ],
    );
    let door_x = rng.random_range(80..400u32);
    let picture = RgbImage::from_fn(640, 480, |x, y| {
        let noise = rng.random_range(0..24u8);
        let base = if (door_x..door_x + 160).contains(&x) && y > 120 {
            door
        } else {
            wall
        };
        Rgb(base.map(|c| c.saturating_add(noise)))
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, ImageFormat::Jpeg)
        .context("cannot encode a demo photo")?;
    Ok(bytes.into_inner())
}

/// Stores a photo as a phone would send it: begin, one chunk, finish.
pub(super) async fn store_photo(
    store: &BlobStore,
    owner: i64,
    bytes: Vec<u8>,
    index: usize,
) -> anyhow::Result<StoredBlob> {
    let sha256 = ContentHash::of(&bytes);
    let size = bytes.len() as u64;
    let id = store
        .begin_upload(owner, size, &sha256, &format!("IMG_{index:04}.jpg"))
        .await
        .context("cannot begin a demo photo upload")?;
    store
        .append(owner, &id, 0, bytes)
        .await
        .context("cannot send a demo photo")?;
    store
        .finish(owner, &id)
        .await
        .context("cannot finish a demo photo upload")
}
