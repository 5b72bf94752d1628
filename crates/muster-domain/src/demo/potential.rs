//! The demo province's potential: records of every category held by enterprises, units and
//! people across its counties, and baselines that leave some types short.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::demo::COUNTY_MEMBER_UNITS;
use crate::potential::{Holder, QualityGrade, RecordDraft, RecordStatus, holding_key};
use crate::region::{RegionLevel, RegionPath};
use crate::region_import::RegionRow;
use crate::taxonomy::{AttributeKind, AttributeValue, Category, ResourceType, Taxonomy};

/// Types per category that every county holds some of.
const TYPES_PER_CATEGORY: usize = 5;

/// What the demo's province holds: the records its offices and units report in the demo's
/// survey round ([`crate::demo::survey`]), and the baselines.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoPotential {
    pub records: Vec<RecordDraft>,
    /// (region code, type code, required quantity), set at county level.
    pub baselines: Vec<(String, String, f64)>,
}

const ENTERPRISE_SUFFIXES: [&str; 8] = [
    "运输有限公司",
    "机械厂",
    "医药公司",
    "物资储备库",
    "建筑工程公司",
    "通信分公司",
    "粮油公司",
    "应急救援队",
];
const FAMILY_NAMES: [&str; 12] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙",
];
const GIVEN_NAMES: [&str; 10] = ["伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇"];

/// Records for the demo regions, deterministic in `seed`. Each county holds every chosen
/// type (several categories' worth) at a few sites in its townships and villages; about one
/// record in eight is held by a person, whose data the masking then hides from viewers.
pub fn demo_potential(regions: &[RegionRow], taxonomy: &Taxonomy, seed: u64) -> DemoPotential {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_9077);
    let types = chosen_types(taxonomy);
    let counties: Vec<&RegionRow> = regions
        .iter()
        .filter(|r| r.code.implied_level() == RegionLevel::County)
        .collect();
    // Townships and villages by their county: one pass, not one scan per county.
    let county_length = RegionLevel::County.code_length();
    let mut below: std::collections::HashMap<&str, Vec<&RegionRow>> = Default::default();
    for region in regions {
        if region.code.implied_level().depth() > RegionLevel::County.depth()
            && let Some(county) = region.code.as_str().get(..county_length)
        {
            below.entry(county).or_default().push(region);
        }
    }
    let mut records = Vec::new();
    let mut baselines = Vec::new();
    for county in &counties {
        let places: Vec<&RegionRow> = match below.get(county.code.as_str()) {
            Some(places) if !places.is_empty() => places.clone(),
            _ => vec![county],
        };
        for resource_type in &types {
            let holdings = rng.random_range(1..=3);
            let mut county_total = 0.0;
            for holding in 0..holdings {
                let place = places[rng.random_range(0..places.len())];
                let path = RegionPath::of_code(&place.code);
                let person = resource_type.whole_units
                    && resource_type.category != Category::Political
                    && rng.random_range(0..8) == 0;
                let holder = if person {
                    let family = FAMILY_NAMES[rng.random_range(0..FAMILY_NAMES.len())];
                    let given = GIVEN_NAMES[rng.random_range(0..GIVEN_NAMES.len())];
                    Holder::Person {
                        name: format!("{family}{given}"),
                        id_number: Some(format!(
                            "{}19{:02}{:02}{:02}{:04}",
                            &county.code.as_str()[..6],
                            rng.random_range(60..99),
                            rng.random_range(1..13),
                            rng.random_range(1..29),
                            rng.random_range(0..10_000)
                        )),
                        phone: Some(format!("13{:09}", rng.random_range(0..1_000_000_000u32))),
                    }
                } else {
                    let suffix =
                        ENTERPRISE_SUFFIXES[rng.random_range(0..ENTERPRISE_SUFFIXES.len())];
                    Holder::Organization {
                        id: None,
                        name: format!("{}{}{suffix}", place.name, holding + 1),
                    }
                };
                let quantity = quantity(resource_type, person, &mut rng);
                county_total += quantity;
                let site = Some(format!("{}{}号库", place.name, holding + 1));
                let coordinates = place.coordinates.map(|c| {
                    (
                        c.lat + rng.random_range(-0.005..0.005),
                        c.lon + rng.random_range(-0.005..0.005),
                    )
                });
                let key = holding_key(&path, &resource_type.code, &holder, site.as_deref());
                records.push(RecordDraft {
                    type_code: resource_type.code.clone(),
                    quantity,
                    attributes: attributes(resource_type, &mut rng),
                    quality: [
                        QualityGrade::Excellent,
                        QualityGrade::Good,
                        QualityGrade::Good,
                        QualityGrade::Fair,
                        QualityGrade::Poor,
                    ][rng.random_range(0..5)],
                    holder,
                    site,
                    region_code: place.code.as_str().to_owned(),
                    region_path: path,
                    coordinates,
                    status: RecordStatus::Available,
                    holding_key: key,
                });
            }
            // Requirements between half and one and a half times what is held: some types
            // are covered, others fall short.
            let factor = rng.random_range(0.5..1.5);
            let required = if resource_type.whole_units {
                (county_total * factor).round().max(1.0)
            } else {
                (county_total * factor * 10.0).round() / 10.0
            };
            baselines.push((
                county.code.as_str().to_owned(),
                resource_type.code.clone(),
                required.min(resource_type.max_quantity),
            ));
        }
    }
    DemoPotential { records, baselines }
}

/// A few types from every category, the first of each subcategory first, so the demo shows
/// the breadth of the taxonomy. The subcategories the county member units report come
/// before the others, so that every unit has something of its sector to report.
pub fn chosen_types(taxonomy: &Taxonomy) -> Vec<ResourceType> {
    let reported_by_units = |code: &str| {
        COUNTY_MEMBER_UNITS
            .iter()
            .any(|(_, sectors)| sectors.iter().any(|s| code.starts_with(s)))
    };
    let mut chosen = Vec::new();
    for category in Category::ALL {
        let mut in_category: Vec<&ResourceType> = Vec::new();
        let (mut subcategories, others): (Vec<_>, Vec<_>) = taxonomy
            .subcategories_in(category)
            .partition(|s| reported_by_units(&s.code));
        subcategories.extend(others);
        for subcategory in subcategories {
            if let Some(first) = taxonomy
                .resource_types_in_subcategory(&subcategory.code)
                .next()
            {
                in_category.push(first);
            }
        }
        for resource_type in taxonomy.resource_types_in(category) {
            if !in_category.iter().any(|t| t.code == resource_type.code) {
                in_category.push(resource_type);
            }
        }
        chosen.extend(in_category.into_iter().take(TYPES_PER_CATEGORY).cloned());
    }
    chosen
}

/// A plausible holding: a handful of teams or sites, dozens of vehicles, hundreds of
/// tents or beds, tonnes of materials — never above the type's limit.
fn quantity(resource_type: &ResourceType, person: bool, rng: &mut ChaCha8Rng) -> f64 {
    let limit = resource_type.max_quantity.max(1.0);
    let typical = if person {
        3.0
    } else {
        match resource_type.unit.as_str() {
            "team" | "site" | "organization" | "line" | "ship" | "aircraft" | "satellite" => 4.0,
            "person" => 60.0,
            "vehicle" | "set" | "unit" => 40.0,
            _ => 300.0,
        }
    };
    let raw: f64 = typical * rng.random_range(0.3..2.0);
    let value = if resource_type.whole_units {
        raw.round().max(1.0)
    } else {
        (raw * 10.0).round() / 10.0
    };
    value.min(limit)
}

/// Values for the type's attributes: every required one, and half of the optional ones.
fn attributes(
    resource_type: &ResourceType,
    rng: &mut ChaCha8Rng,
) -> std::collections::BTreeMap<String, AttributeValue> {
    let mut values = std::collections::BTreeMap::new();
    for spec in &resource_type.attributes {
        if !spec.required && rng.random_range(0..2) == 0 {
            continue;
        }
        let value = match &spec.kind {
            AttributeKind::Integer { min, max } => {
                AttributeValue::Integer(rng.random_range(*min..=*max.max(min)))
            }
            AttributeKind::Decimal { min, max } => {
                let high = if max > min { *max } else { min + 1.0 };
                AttributeValue::Decimal((rng.random_range(*min..high) * 10.0).round() / 10.0)
            }
            AttributeKind::Text { .. } => AttributeValue::Text("演示".to_owned()),
            AttributeKind::Choice { options } => {
                match options.get(rng.random_range(0..options.len().max(1))) {
                    Some(option) => AttributeValue::Choice(option.code.clone()),
                    None => continue,
                }
            }
            AttributeKind::Boolean => AttributeValue::Boolean(rng.random_range(0..2) == 0),
        };
        values.insert(spec.key.clone(), value);
    }
    values
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::demo::{DemoScale, demo_regions};

    #[test]
    fn the_demo_potential_is_deterministic_valid_and_covers_every_category() {
        let regions = demo_regions(DemoScale::Tiny, 3);
        let taxonomy = Taxonomy::default_taxonomy();
        let demo = demo_potential(&regions, &taxonomy, 3);
        assert_eq!(demo, demo_potential(&regions, &taxonomy, 3));
        assert!(!demo.records.is_empty());
        let categories: HashSet<Category> = demo
            .records
            .iter()
            .filter_map(|r| taxonomy.resource_type(&r.type_code).map(|t| t.category))
            .collect();
        assert_eq!(categories.len(), 6);
        let keys: HashSet<&str> = demo
            .records
            .iter()
            .map(|r| r.holding_key.as_str())
            .collect();
        assert_eq!(keys.len(), demo.records.len(), "every holding once");
        for record in &demo.records {
            let resource_type = taxonomy
                .resource_type(&record.type_code)
                .expect("known type");
            resource_type
                .check_quantity(record.quantity)
                .expect("quantity within the type's rules");
            let raw: Vec<(String, String)> = record
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            resource_type
                .parse_attributes(&raw)
                .expect("attributes valid for the type");
        }
        assert!(
            demo.records
                .iter()
                .any(|r| matches!(r.holder, Holder::Person { .. }))
        );
        assert!(demo.baselines.iter().all(|(_, _, q)| *q > 0.0));
    }
}
