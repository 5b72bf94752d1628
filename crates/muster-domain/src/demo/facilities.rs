//! The demo's civil air defense facilities (issue 4): facilities of every kind across the
//! villages, grids in the villages that have them, a season of inspections (some failing, a
//! few recent failures left open as rectification orders, some past their deadline), a
//! patrol route with a missed checkpoint, and a car-park sign campaign about half done.
//!
//! Pure and deterministic in the seed: times are whole days before "today" (and a minute of
//! the day), which the caller turns into timestamps. The benchmark uses the same planner at a
//! larger size.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::facility::patrol::Checkpoint;
use crate::facility::{
    ConversionStep, EquipmentItem, FacilityDraft, FacilityKind, PeacetimeUse, SignStatus,
    default_checklist,
};
use crate::region::{RegionCode, RegionLevel};
use crate::region_import::RegionRow;
use crate::time::CivilDate;

/// How much to plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FacilityPlanSize {
    /// Facilities in all, spread over the villages (the home village gets a few for sure).
    pub facilities: usize,
    /// How many days of inspections before today.
    pub season_days: u32,
}

impl FacilityPlanSize {
    /// The demo province: a few thousand facilities and a season (90 days) of visits.
    pub const DEMO: FacilityPlanSize = FacilityPlanSize {
        facilities: 4_000,
        season_days: 90,
    };
}

/// A grid to create: in a village, named after it.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoGrid {
    pub village: RegionCode,
    pub name: String,
}

/// A facility to register.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoFacility {
    pub draft: FacilityDraft,
    pub village: RegionCode,
    /// Its county: the county's property manager answers for it.
    pub county: RegionCode,
    /// Index into [`DemoFacilities::grids`].
    pub grid: usize,
    pub registered_days_ago: u32,
    /// For an installed sign: how many days ago it went up.
    pub sign_installed_days_ago: Option<u32>,
}

/// One visit to a facility.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoVisit {
    /// Index into [`DemoFacilities::facilities`].
    pub facility: usize,
    pub days_ago: u32,
    /// Minutes after midnight, in working hours.
    pub minute_of_day: u32,
    /// The checklist codes that failed.
    pub failing: Vec<String>,
    /// Photos taken (0 to 2).
    pub photos: u8,
    /// A recent visit whose failures are still being repaired: recorded the way a phone
    /// records one, so that it issues rectification orders. The rest are history.
    pub live: bool,
}

/// The patrol route of the home village and yesterday's walk of it.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoPatrol {
    pub village: RegionCode,
    pub name: String,
    pub window_minutes: u32,
    pub checkpoints: Vec<Checkpoint>,
    /// The checkpoints checked in at yesterday, by index, with minutes after the start;
    /// the one left out is the missed checkpoint.
    pub checked: Vec<(usize, u32)>,
}

/// The car-park sign campaign over the province.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCampaign {
    pub region: RegionCode,
    pub name: String,
    pub kind: FacilityKind,
    pub started_days_ago: u32,
    pub target_in_days: u32,
}

/// Everything the demo adds for facilities.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoFacilities {
    /// The first village: the demo grid member's.
    pub home_village: RegionCode,
    pub grids: Vec<DemoGrid>,
    pub facilities: Vec<DemoFacility>,
    /// In time order, oldest first.
    pub visits: Vec<DemoVisit>,
    pub patrol: DemoPatrol,
    pub campaign: DemoCampaign,
}

impl DemoFacilities {
    /// The grids of the home village, by index: the demo grid member walks them.
    pub fn home_grids(&self) -> Vec<usize> {
        (0..self.grids.len())
            .filter(|&i| self.grids[i].village == self.home_village)
            .collect()
    }
}

/// Kinds by how common they are: car parks and shelters most, command posts few.
const KIND_WEIGHTS: [(FacilityKind, u32); 6] = [
    (FacilityKind::Shelter, 30),
    (FacilityKind::BasementCarPark, 30),
    (FacilityKind::CommandPost, 4),
    (FacilityKind::Siren, 16),
    (FacilityKind::ReserveWarehouse, 5),
    (FacilityKind::EmergencyKit, 15),
];

/// Facilities the home village always has, so the demo grid member has rounds.
const HOME_FACILITIES: usize = 8;
/// The chance that a checklist item fails on a visit (door seals fail twice as often).
const ITEM_FAILURE: f64 = 0.01;
/// Failures found this recently on a facility's last visit are still open orders.
const OPEN_ORDER_DAYS: u32 = 42;
/// The sign campaign: started this long ago, due this long from now.
const CAMPAIGN_STARTED_DAYS_AGO: u32 = 120;
const CAMPAIGN_TARGET_IN_DAYS: u32 = 120;

/// Plans the demo's facilities over `regions` (a demo's regions, parents first).
/// `today` dates the peacetime uses (some car parks opened this year).
pub fn plan_demo_facilities(
    regions: &[RegionRow],
    size: FacilityPlanSize,
    today: CivilDate,
    seed: u64,
) -> DemoFacilities {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xFAC1_1171);
    let villages: Vec<&RegionRow> = regions
        .iter()
        .filter(|r| r.code.implied_level() == RegionLevel::Village)
        .collect();
    let home_village = villages
        .first()
        .map(|v| v.code.clone())
        .or_else(|| regions.first().map(|r| r.code.clone()))
        .unwrap_or_else(|| RegionCode::parse("34").unwrap_or_else(|_| fallback_code()));
    let province = regions
        .first()
        .map(|r| r.code.clone())
        .unwrap_or_else(|| home_village.clone());

    // Which village each facility is in: the home village's first, then at random.
    let mut placements: Vec<usize> = vec![0; HOME_FACILITIES.min(size.facilities)];
    while placements.len() < size.facilities && !villages.is_empty() {
        placements.push(rng.random_range(0..villages.len()));
    }
    placements.sort_unstable();

    let mut grids: Vec<DemoGrid> = Vec::new();
    let mut facilities = Vec::with_capacity(placements.len());
    let mut last_village = usize::MAX;
    let mut village_grids = (0, 1);
    let mut number_in_village = 0;
    for village_index in placements {
        let Some(village) = villages.get(village_index) else {
            continue;
        };
        if village_index != last_village {
            last_village = village_index;
            number_in_village = 0;
            // Villages with facilities get a grid; the home village and one in five others
            // get two, so a grid member walks more than one.
            let two = village_index == 0 || rng.random_bool(0.2);
            let first = grids.len();
            grids.push(DemoGrid {
                village: village.code.clone(),
                name: format!("{}第一网格", village.name),
            });
            if two {
                grids.push(DemoGrid {
                    village: village.code.clone(),
                    name: format!("{}第二网格", village.name),
                });
            }
            village_grids = (first, grids.len() - first);
        }
        number_in_village += 1;
        let kind = if village_index == 0 {
            // The home village has one of each kind and then shelters and car parks.
            FacilityKind::ALL[(number_in_village - 1) % FacilityKind::ALL.len()]
        } else {
            pick_kind(&mut rng)
        };
        let grid = village_grids.0 + rng.random_range(0..village_grids.1);
        let centre = village
            .coordinates
            .map_or((31.86, 117.28), |c| (c.lat, c.lon));
        let draft = facility_draft(
            &mut rng,
            kind,
            (&village.name, number_in_village),
            centre,
            today,
        );
        let sign_installed_days_ago = match draft.sign_status {
            SignStatus::Installed if kind == FacilityKind::BasementCarPark => {
                Some(rng.random_range(1..CAMPAIGN_STARTED_DAYS_AGO))
            }
            SignStatus::Installed => Some(rng.random_range(200..1500)),
            _ => None,
        };
        facilities.push(DemoFacility {
            draft,
            village: village.code.clone(),
            county: county_of(&village.code),
            grid,
            registered_days_ago: size.season_days + rng.random_range(30..700),
            sign_installed_days_ago,
        });
    }

    let mut visits = Vec::new();
    for (index, facility) in facilities.iter().enumerate() {
        plan_visits(
            &mut rng,
            index,
            facility,
            size.season_days,
            facility.village == home_village,
            &mut visits,
        );
    }
    visits.sort_by_key(|v| (std::cmp::Reverse(v.days_ago), v.minute_of_day, v.facility));

    let home_centre = villages
        .first()
        .and_then(|v| v.coordinates)
        .map_or((31.86, 117.28), |c| (c.lat, c.lon));
    let home_name = villages.first().map_or("演示村", |v| v.name.as_str());
    let checkpoints: Vec<Checkpoint> = ["村委会", "人防工程入口", "警报器", "物资仓库"]
        .iter()
        .enumerate()
        .map(|(i, name)| Checkpoint {
            code: format!("CP-{:02}", i + 1),
            name: (*name).to_owned(),
            latitude: home_centre.0 + 0.001 * i as f64,
            longitude: home_centre.1 + 0.0008 * i as f64,
        })
        .collect();
    let missed = rng.random_range(1..checkpoints.len());
    let checked = (0..checkpoints.len())
        .filter(|&i| i != missed)
        .map(|i| (i, u32::try_from(i).unwrap_or(0) * 12))
        .collect();
    DemoFacilities {
        patrol: DemoPatrol {
            village: home_village.clone(),
            name: format!("{home_name}夜间巡查路线"),
            window_minutes: 90,
            checkpoints,
            checked,
        },
        campaign: DemoCampaign {
            region: province,
            name: "地下车库人防标识全覆盖".to_owned(),
            kind: FacilityKind::BasementCarPark,
            started_days_ago: CAMPAIGN_STARTED_DAYS_AGO,
            target_in_days: CAMPAIGN_TARGET_IN_DAYS,
        },
        home_village,
        grids,
        facilities,
        visits,
    }
}

#[cold]
fn fallback_code() -> RegionCode {
    RegionCode::try_from("11".to_owned()).unwrap_or_else(|_| panic!("the literal code 11 is valid"))
}

fn county_of(village: &RegionCode) -> RegionCode {
    let text = village.as_str();
    RegionCode::parse(&text[..text.len().min(6)]).unwrap_or_else(|_| village.clone())
}

fn pick_kind(rng: &mut ChaCha8Rng) -> FacilityKind {
    let total: u32 = KIND_WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut draw = rng.random_range(0..total);
    for (kind, weight) in KIND_WEIGHTS {
        if draw < weight {
            return kind;
        }
        draw -= weight;
    }
    FacilityKind::Shelter
}

fn door() -> EquipmentItem {
    EquipmentItem {
        name: "防护密闭门".to_owned(),
        count: 2,
        parts: vec!["密封条".to_owned(), "铰页".to_owned(), "闭锁".to_owned()],
    }
}

fn step(label: &str, minutes: u32) -> ConversionStep {
    ConversionStep {
        label: label.to_owned(),
        minutes,
    }
}

fn facility_draft(
    rng: &mut ChaCha8Rng,
    kind: FacilityKind,
    (village_name, number): (&str, usize),
    centre: (f64, f64),
    today: CivilDate,
) -> FacilityDraft {
    let (label, capacity, area) = match kind {
        FacilityKind::Shelter => ("人员掩蔽工程", rng.random_range(200..2000), 800.0),
        FacilityKind::BasementCarPark => ("地下车库人防工程", rng.random_range(500..3000), 4000.0),
        FacilityKind::CommandPost => ("指挥所", rng.random_range(40..200), 600.0),
        FacilityKind::Siren => ("防空警报器", 0, 4.0),
        FacilityKind::ReserveWarehouse => ("物资储备库", 0, 900.0),
        FacilityKind::EmergencyKit => ("应急包存放点", 0, 1.0),
    };
    let area_m2 = (area * rng.random_range(0.6..2.5f64)).round();
    let mut peacetime = PeacetimeUse::default();
    let mut conversion = Vec::new();
    let mut equipment = Vec::new();
    match kind {
        FacilityKind::BasementCarPark => {
            peacetime.parking_spaces = rng.random_range(60..400);
            peacetime.charging_points = if rng.random_bool(0.6) {
                rng.random_range(2..40)
            } else {
                0
            };
            if rng.random_bool(0.4) {
                peacetime.services.push("快递柜".to_owned());
            }
            if rng.random_bool(0.15) {
                peacetime.services.push("健身房".to_owned());
            }
            // Some car parks opened this year, so "added this year" has something to count.
            let opened_days_ago: i64 = rng.random_range(30..2000);
            peacetime.since = Some(today.plus_days(-opened_days_ago));
            conversion = vec![
                step("清空车辆", rng.random_range(240..3600)),
                step("封堵临战出入口", rng.random_range(120..1440)),
                step("启用通风滤毒", 120),
            ];
            equipment.push(door());
        }
        FacilityKind::Shelter => {
            if rng.random_bool(0.3) {
                peacetime
                    .services
                    .push(["超市", "健身房", "仓储"][rng.random_range(0..3)].to_owned());
                peacetime.since = Some(today.plus_days(-rng.random_range(100..3000i64)));
                conversion.push(step("清理平时物品", rng.random_range(240..6000)));
            }
            conversion.push(step("检查防护门", 60));
            equipment.push(door());
        }
        FacilityKind::CommandPost => {
            conversion.push(step("通信设备开通", 60));
            equipment.push(door());
        }
        _ => {}
    }
    let sign_status = match kind {
        // Half of the car parks have their sign: the campaign's work so far.
        FacilityKind::BasementCarPark if rng.random_bool(0.5) => SignStatus::Installed,
        FacilityKind::BasementCarPark => SignStatus::Missing,
        _ if rng.random_bool(0.85) => SignStatus::Installed,
        _ if rng.random_bool(0.5) => SignStatus::Damaged,
        _ => SignStatus::Missing,
    };
    FacilityDraft {
        name: format!("{village_name}{number}号{label}"),
        kind,
        latitude: centre.0 + rng.random_range(-0.01..0.01),
        longitude: centre.1 + rng.random_range(-0.01..0.01),
        capacity_persons: capacity,
        area_m2,
        peacetime,
        sign_status,
        equipment,
        conversion,
    }
}

/// A facility's visits over the season: every interval (± 2 days) back from its last
/// visit, which is uniformly up to ten days past its due day, so about a quarter of
/// monthly facilities are due on any day. The home village's first facilities are set:
/// one due today, one overdue, one with a recent failure still open.
fn plan_visits(
    rng: &mut ChaCha8Rng,
    index: usize,
    facility: &DemoFacility,
    season_days: u32,
    home: bool,
    visits: &mut Vec<DemoVisit>,
) {
    let kind = facility.draft.kind;
    let interval = kind.default_interval_days();
    let checklist = default_checklist(kind);
    // The home village's shelters are due today, its car parks five days overdue, and its
    // command post failed its door seal twenty days ago (an overdue order).
    let forced = match kind {
        _ if !home => None,
        FacilityKind::Shelter => Some((interval, Vec::new())),
        FacilityKind::BasementCarPark => Some((interval + 5, Vec::new())),
        FacilityKind::CommandPost => Some((20, vec!["door_seal".to_owned()])),
        _ => None,
    };
    let (last_ago, last_failing) = match &forced {
        Some((ago, failing)) => (*ago, Some(failing.clone())),
        None => (rng.random_range(0..interval + 10), None),
    };
    let mut days_ago = last_ago;
    let mut last = true;
    while days_ago <= season_days.min(facility.registered_days_ago) {
        let failing = match (&last_failing, last) {
            (Some(failing), true) => failing.clone(),
            _ => checklist
                .items
                .iter()
                .filter(|item| {
                    let chance = if item.code == "door_seal" {
                        ITEM_FAILURE * 2.0
                    } else {
                        ITEM_FAILURE
                    };
                    rng.random_bool(chance)
                })
                .map(|item| item.code.clone())
                .collect(),
        };
        let photos = if failing.is_empty() {
            u8::from(rng.random_bool(0.3))
        } else {
            2
        };
        visits.push(DemoVisit {
            facility: index,
            days_ago,
            minute_of_day: rng.random_range(8 * 60..18 * 60),
            live: last && !failing.is_empty() && days_ago <= OPEN_ORDER_DAYS,
            failing,
            photos,
        });
        last = false;
        days_ago += interval - 2 + rng.random_range(0..5);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{DemoScale, demo_regions};

    fn plan() -> DemoFacilities {
        plan_demo_facilities(
            &demo_regions(DemoScale::Tiny, 1),
            FacilityPlanSize {
                facilities: 300,
                season_days: 90,
            },
            CivilDate::from_days(20_600),
            1,
        )
    }

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        assert_eq!(plan(), plan());
    }

    #[test]
    fn every_kind_is_there_and_every_facility_is_valid_and_in_a_grid_of_its_village() {
        let plan = plan();
        assert_eq!(plan.facilities.len(), 300);
        for kind in FacilityKind::ALL {
            assert!(
                plan.facilities.iter().any(|f| f.draft.kind == *kind),
                "{kind}"
            );
        }
        for facility in &plan.facilities {
            assert_eq!(facility.draft.validate(), Ok(()), "{}", facility.draft.name);
            assert_eq!(plan.grids[facility.grid].village, facility.village);
            assert!(
                facility
                    .village
                    .as_str()
                    .starts_with(facility.county.as_str())
            );
            assert_eq!(facility.county.implied_level(), RegionLevel::County);
        }
    }

    #[test]
    fn visits_stay_in_the_season_and_answer_the_checklist() {
        let plan = plan();
        assert!(plan.visits.len() > 300);
        for pair in plan.visits.windows(2) {
            assert!(pair[0].days_ago >= pair[1].days_ago, "oldest first");
        }
        for visit in &plan.visits {
            assert!(visit.days_ago <= 90);
            let kind = plan.facilities[visit.facility].draft.kind;
            let checklist = default_checklist(kind);
            assert!(visit.failing.iter().all(|c| checklist.item(c).is_some()));
            assert!(!visit.live || (!visit.failing.is_empty() && visit.days_ago <= 42));
        }
        // Live visits are each facility's last, so recording them after the history keeps
        // them the latest.
        for (i, visit) in plan.visits.iter().enumerate() {
            if visit.live {
                assert!(
                    plan.visits[i + 1..]
                        .iter()
                        .all(|later| later.facility != visit.facility)
                );
            }
        }
    }

    #[test]
    fn the_home_village_has_two_grids_and_work_due_today_an_overdue_one_and_an_open_failure() {
        let plan = plan();
        assert_eq!(plan.home_grids().len(), 2);
        let home: Vec<usize> = (0..plan.facilities.len())
            .filter(|&i| plan.facilities[i].village == plan.home_village)
            .collect();
        assert!(home.len() >= HOME_FACILITIES);
        let last_visit = |i: usize| {
            plan.visits
                .iter()
                .filter(|v| v.facility == i)
                .map(|v| v.days_ago)
                .min()
        };
        let due = |i: usize| {
            let interval = plan.facilities[i].draft.kind.default_interval_days();
            last_visit(i).is_some_and(|ago| ago >= interval)
        };
        assert!(home.iter().any(|&i| due(i)));
        assert!(
            plan.visits
                .iter()
                .any(|v| v.live && home.contains(&v.facility))
        );
    }

    #[test]
    fn about_half_of_the_car_parks_have_their_sign_and_the_patrol_misses_one_checkpoint() {
        let plan = plan();
        let car_parks: Vec<&DemoFacility> = plan
            .facilities
            .iter()
            .filter(|f| f.draft.kind == FacilityKind::BasementCarPark)
            .collect();
        let signed = car_parks
            .iter()
            .filter(|f| f.draft.sign_status == SignStatus::Installed)
            .count();
        let share = signed as f64 / car_parks.len() as f64;
        assert!((0.3..0.7).contains(&share), "{share}");
        assert!(car_parks.iter().all(|f| {
            f.sign_installed_days_ago
                .is_none_or(|d| d < plan.campaign.started_days_ago)
        }));
        assert_eq!(plan.patrol.checked.len() + 1, plan.patrol.checkpoints.len());
    }
}
