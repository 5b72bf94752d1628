//! Deterministic synthetic demo data: a province (or a nation) of regions with coordinates,
//! the offices, liaisons, workstations and contact points that work in it, and one user per
//! role. Everything follows from the seed; the same seed gives the same data.

pub mod facilities;
pub mod potential;
pub mod requisition;
pub mod survey;
pub mod sustainment;
pub mod verification;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::organization::{OrganizationKind, Role, Side};
use crate::region::{RegionCode, RegionLevel};
use crate::region_import::{Coordinates, RegionRow};

/// The member units every county has (by the suffix of their name) and the subcategories of
/// potential each reports for its county in a survey round: a sector's department knows its
/// sector's holdings better than a township does.
pub const COUNTY_MEMBER_UNITS: [(&str, &[&str]); 3] = [
    ("交通运输局", &["TRN."]),
    ("卫生健康委员会", &["ECO.MED"]),
    ("工业和信息化局", &["ECO.IND", "ECO.TEL", "ECO.SCI"]),
];

/// How big a demo to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoScale {
    /// One province: 16 cities, 100 counties, 1,500 townships, 20,000 villages.
    Province,
    /// A nation of a million regions: 31 provinces, 340 cities, 3,000 counties, 41,000
    /// townships and the rest villages.
    Nation,
    /// A small province for tests: 2 cities, 4 counties, 12 townships, 60 villages.
    Tiny,
}

impl DemoScale {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "province" => Some(DemoScale::Province),
            "nation" => Some(DemoScale::Nation),
            "tiny" => Some(DemoScale::Tiny),
            _ => None,
        }
    }

    /// Regions per level, top to bottom.
    pub const fn counts(self) -> [usize; 5] {
        match self {
            DemoScale::Province => [1, 16, 100, 1_500, 20_000],
            DemoScale::Nation => [31, 340, 3_000, 41_000, 955_629],
            DemoScale::Tiny => [1, 2, 4, 12, 60],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoOrganization {
    pub name: String,
    pub kind: OrganizationKind,
    pub side: Side,
    pub region_code: RegionCode,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoUser {
    pub username: String,
    pub display_name: String,
    /// Index into [`DemoData::organizations`].
    pub organization: usize,
    pub roles: Vec<Role>,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoData {
    pub regions: Vec<RegionRow>,
    pub organizations: Vec<DemoOrganization>,
    pub users: Vec<DemoUser>,
}

/// Province codes as the national standard numbers them.
const PROVINCE_CODES: [&str; 31] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
];

const SYLLABLES: [&str; 40] = [
    "安", "宁", "平", "和", "东", "西", "南", "北", "江", "河", "山", "阳", "长", "新", "兴", "丰",
    "庆", "福", "德", "华", "泰", "清", "永", "明", "春", "光", "金", "石", "林", "桥", "湖", "溪",
    "岭", "云", "龙", "凤", "嘉", "海", "合", "济",
];

/// A sequence-numbered code under `parent`, with as many digits as the child level takes.
fn child_code(parent: &str, level: RegionLevel, index: usize) -> RegionCode {
    let width = level.code_length() - parent.len();
    let text = format!("{parent}{:0width$}", index + 1);
    RegionCode::parse(&text)
        .unwrap_or_else(|_| RegionCode::parse("99").unwrap_or_else(|_| unreachable_code()))
}

/// Only reached if the tables above were edited into nonsense; kept out of the hot path.
#[cold]
fn unreachable_code() -> RegionCode {
    RegionCode::try_from("11".to_owned()).unwrap_or_else(|_| panic!("the literal code 11 is valid"))
}

fn place_name(rng: &mut ChaCha8Rng, suffix: &str) -> String {
    let a = SYLLABLES[rng.random_range(0..SYLLABLES.len())];
    let b = SYLLABLES[rng.random_range(0..SYLLABLES.len())];
    format!("{a}{b}{suffix}")
}

fn suffix_for(level: RegionLevel, rng: &mut ChaCha8Rng) -> &'static str {
    match level {
        RegionLevel::Province => "省",
        RegionLevel::City => "市",
        RegionLevel::County => ["县", "区"][rng.random_range(0..2)],
        RegionLevel::Township => ["镇", "乡", "街道"][rng.random_range(0..3)],
        RegionLevel::Village => ["村", "社区"][rng.random_range(0..2)],
    }
}

/// Splits `total` children over `parents` parents: everyone gets the floor of the average
/// and the remainder goes to parents chosen by the seeded generator.
fn spread(total: usize, parents: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    if parents == 0 {
        return Vec::new();
    }
    let mut shares = vec![total / parents; parents];
    for _ in 0..total % parents {
        let i = rng.random_range(0..parents);
        shares[i] += 1;
    }
    shares
}

/// How far (in degrees) a level's regions scatter around their parent's centre.
const fn scatter(level: RegionLevel) -> f64 {
    match level {
        RegionLevel::Province => 8.0,
        RegionLevel::City => 1.6,
        RegionLevel::County => 0.35,
        RegionLevel::Township => 0.08,
        RegionLevel::Village => 0.02,
    }
}

/// The regions of a demo at `scale`, parents before children.
pub fn demo_regions(scale: DemoScale, seed: u64) -> Vec<RegionRow> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let counts = scale.counts();
    let mut rows: Vec<RegionRow> = Vec::with_capacity(counts.iter().sum());
    let mut line = 1u64;
    let mut push = |rows: &mut Vec<RegionRow>,
                    code: RegionCode,
                    name: String,
                    parent: Option<RegionCode>,
                    at: Coordinates| {
        line += 1;
        rows.push(RegionRow {
            line,
            code,
            name,
            parent_code: parent,
            level: None,
            coordinates: Some(at),
        });
    };

    let provinces: Vec<&str> = if counts[0] == 1 {
        vec!["34"]
    } else {
        PROVINCE_CODES[..counts[0]].to_vec()
    };
    let mut level_start = 0;
    for (i, code) in provinces.iter().enumerate() {
        let name = if counts[0] == 1 {
            "演示省".to_owned()
        } else {
            place_name(&mut rng, "省")
        };
        let at = if counts[0] == 1 {
            Coordinates {
                lat: 31.86,
                lon: 117.28,
            }
        } else {
            Coordinates {
                lat: 24.0 + (i % 6) as f64 * 4.0,
                lon: 88.0 + (i / 6) as f64 * 7.0,
            }
        };
        let code = RegionCode::parse(code).unwrap_or_else(|_| unreachable_code());
        push(&mut rows, code, name, None, at);
    }
    for level in [
        RegionLevel::City,
        RegionLevel::County,
        RegionLevel::Township,
        RegionLevel::Village,
    ] {
        let level_end = rows.len();
        let shares = spread(
            counts[level.depth() as usize - 1],
            level_end - level_start,
            &mut rng,
        );
        for (parent_index, share) in (level_start..level_end).zip(shares) {
            let (parent_code, centre) = {
                let parent = &rows[parent_index];
                (
                    parent.code.clone(),
                    parent.coordinates.unwrap_or(Coordinates {
                        lat: 31.86,
                        lon: 117.28,
                    }),
                )
            };
            for child in 0..share {
                let spread_deg = scatter(level);
                let lat =
                    (centre.lat + rng.random_range(-spread_deg..spread_deg)).clamp(-89.0, 89.0);
                let lon =
                    (centre.lon + rng.random_range(-spread_deg..spread_deg)).clamp(-179.0, 179.0);
                let suffix = suffix_for(level, &mut rng);
                let name = place_name(&mut rng, suffix);
                let code = child_code(parent_code.as_str(), level, child);
                push(
                    &mut rows,
                    code,
                    name,
                    Some(parent_code.clone()),
                    Coordinates { lat, lon },
                );
            }
        }
        level_start = level_end;
    }
    rows
}

/// The demo's password for every demo user: printed at the end of `muster demo`.
pub const DEMO_PASSWORD: &str = "muster-demo";

/// Regions, organizations and users for a demo.
pub fn demo_data(scale: DemoScale, seed: u64) -> DemoData {
    let regions = demo_regions(scale, seed);
    let mut organizations = Vec::new();
    let mut org = |name: String, kind: OrganizationKind, region: &RegionCode| {
        organizations.push(DemoOrganization {
            name,
            kind,
            side: kind.default_side(),
            region_code: region.clone(),
        });
        organizations.len() - 1
    };
    let mut first_at = [None::<usize>; 5];
    let mut first_of_kind = std::collections::HashMap::new();
    for row in &regions {
        let level = row.code.implied_level();
        let name = &row.name;
        let mut add =
            |suffix: &str,
             kind: OrganizationKind,
             org: &mut dyn FnMut(String, OrganizationKind, &RegionCode) -> usize| {
                let index = org(format!("{name}{suffix}"), kind, &row.code);
                first_of_kind.entry((level, kind)).or_insert(index);
                index
            };
        let index = match level {
            RegionLevel::Province | RegionLevel::City | RegionLevel::County => {
                let office = add(
                    "国防动员办公室",
                    OrganizationKind::MobilizationOffice,
                    &mut org,
                );
                let liaison = match level {
                    RegionLevel::Province => "军区",
                    RegionLevel::City => "军分区",
                    _ => "人民武装部",
                };
                add(liaison, OrganizationKind::MilitaryLiaison, &mut org);
                if level == RegionLevel::County {
                    for (suffix, _) in COUNTY_MEMBER_UNITS {
                        add(suffix, OrganizationKind::MemberUnit, &mut org);
                    }
                    add("物业服务中心", OrganizationKind::PropertyManager, &mut org);
                    add("运输有限公司", OrganizationKind::Enterprise, &mut org);
                }
                office
            }
            RegionLevel::Township => add(
                "国防动员工作站",
                OrganizationKind::TownshipWorkstation,
                &mut org,
            ),
            RegionLevel::Village => add(
                "国防动员联络点",
                OrganizationKind::VillageContactPoint,
                &mut org,
            ),
        };
        first_at[level.depth() as usize - 1].get_or_insert(index);
    }
    let at = |level: RegionLevel, kind: OrganizationKind| {
        first_of_kind.get(&(level, kind)).copied().unwrap_or(0)
    };
    let user =
        |username: &str, display_name: &str, organization: usize, roles: Vec<Role>| DemoUser {
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            organization,
            roles,
            password: DEMO_PASSWORD.to_owned(),
        };
    let users = vec![
        user(
            "admin",
            "系统管理员",
            at(RegionLevel::Province, OrganizationKind::MobilizationOffice),
            vec![Role::Administrator],
        ),
        user(
            "office",
            "市动员办 王芳",
            at(RegionLevel::City, OrganizationKind::MobilizationOffice),
            vec![Role::OfficeStaff],
        ),
        user(
            "liaison",
            "军分区 李强",
            at(RegionLevel::City, OrganizationKind::MilitaryLiaison),
            vec![Role::MilitaryLiaison],
        ),
        user(
            "member",
            "交通运输局 赵敏",
            at(RegionLevel::County, OrganizationKind::MemberUnit),
            vec![Role::MemberUnitOfficer],
        ),
        user(
            "workstation",
            "工作站 陈刚",
            at(RegionLevel::Township, OrganizationKind::TownshipWorkstation),
            vec![Role::WorkstationStaff],
        ),
        user(
            "grid",
            "网格员 刘洋",
            at(RegionLevel::Village, OrganizationKind::VillageContactPoint),
            vec![Role::GridMember],
        ),
        user(
            "manager",
            "物业服务中心 周静",
            at(RegionLevel::County, OrganizationKind::PropertyManager),
            vec![Role::PropertyManager],
        ),
        user(
            "viewer",
            "县动员办 观察员",
            at(RegionLevel::County, OrganizationKind::MobilizationOffice),
            vec![Role::Viewer],
        ),
    ];
    DemoData {
        regions,
        organizations,
        users,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::region_import::{ColumnLayout, ParsedRegionCsv, plan_region_import};

    #[test]
    fn the_demo_province_has_the_promised_shape_and_is_a_valid_import() {
        let rows = demo_regions(DemoScale::Province, 7);
        let mut per_level = [0usize; 5];
        for row in &rows {
            per_level[row.code.implied_level().depth() as usize - 1] += 1;
        }
        assert_eq!(per_level, DemoScale::Province.counts());
        let plan = plan_region_import(
            ParsedRegionCsv {
                rows,
                layout: ColumnLayout::default(),
            },
            &HashMap::new(),
        )
        .expect("demo regions form a valid tree");
        assert_eq!(plan.regions[0].descendant_count, 21_616);
    }

    #[test]
    fn the_same_seed_gives_the_same_demo_and_another_seed_another() {
        assert_eq!(demo_data(DemoScale::Tiny, 1), demo_data(DemoScale::Tiny, 1));
        assert_ne!(
            demo_regions(DemoScale::Tiny, 1),
            demo_regions(DemoScale::Tiny, 2)
        );
    }

    #[test]
    fn there_is_a_user_for_every_role_in_an_organization_of_the_right_kind() {
        let demo = demo_data(DemoScale::Tiny, 1);
        for role in Role::ALL {
            assert!(demo.users.iter().any(|u| u.roles.contains(role)), "{role}");
        }
        let liaison = demo
            .users
            .iter()
            .find(|u| u.username == "liaison")
            .expect("liaison user");
        assert_eq!(
            demo.organizations[liaison.organization].side,
            Side::Military
        );
        let grid = demo
            .users
            .iter()
            .find(|u| u.username == "grid")
            .expect("grid user");
        assert_eq!(
            demo.organizations[grid.organization]
                .region_code
                .implied_level(),
            RegionLevel::Village
        );
    }
}
