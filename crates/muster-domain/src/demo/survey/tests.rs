use std::collections::{HashMap, HashSet};

use super::*;
use crate::demo::potential::demo_potential;
use crate::demo::{DemoData, DemoScale, demo_data};
use crate::survey::{diff_versions, same_content};

struct Demo {
    data: DemoData,
    records: Vec<RecordDraft>,
    taxonomy: Taxonomy,
}

fn demo(scale: DemoScale, seed: u64) -> Demo {
    let data = demo_data(scale, seed);
    let taxonomy = Taxonomy::default_taxonomy();
    let records = demo_potential(&data.regions, &taxonomy, seed).records;
    Demo {
        data,
        records,
        taxonomy,
    }
}

fn province() -> RegionPath {
    RegionPath::parse("/34/").expect("a path")
}

fn plan(demo: &Demo, seed: u64) -> DemoRoundPlan {
    plan_demo_round(
        &province(),
        &demo.data.regions,
        &demo.data.organizations,
        &demo.records,
        &demo.taxonomy,
        seed,
    )
}

/// The invariants any plan keeps, whatever its size.
fn check(demo: &Demo, plan: &DemoRoundPlan) {
    // Every record is reported exactly once, by an assignment whose region holds it.
    let mut reported: Vec<usize> = plan
        .reports
        .iter()
        .flat_map(|r| r.records.iter().copied())
        .chain(plan.outside_round.iter().copied())
        .collect();
    reported.sort_unstable();
    assert_eq!(reported, (0..demo.records.len()).collect::<Vec<_>>());
    for report in &plan.reports {
        for &i in &report.records {
            assert!(
                report
                    .key
                    .region_path
                    .contains(&demo.records[i].region_path)
            );
        }
    }
    // The keys are the storage's decomposition, parents first.
    let keys: Vec<&AssignmentKey> = plan.reports.iter().map(|r| &r.key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // An approved report has everything below it approved, no later than itself, and a
    // report approved before the deadline came on time.
    let by_key: HashMap<&AssignmentKey, &DemoReport> =
        plan.reports.iter().map(|r| (&r.key, r)).collect();
    for report in &plan.reports {
        let Some(parent) = report.parent.as_ref().and_then(|p| by_key.get(p)) else {
            continue;
        };
        assert_eq!(parent.tree_depth + 1, report.tree_depth);
        if let Some(parent_pass) = parent.approval() {
            let pass = report
                .approval()
                .expect("a child of an approved report is approved");
            assert!(
                pass <= parent_pass,
                "{:?} under {:?}",
                report.key,
                parent.key
            );
        }
        if report.approval() == Some(ApprovalPass::BeforeDeadline) {
            assert_eq!(report.timing(), Some(Timing::OnTime));
        }
    }
    // Approval order: children before parents.
    let mut approved: HashSet<&AssignmentKey> = HashSet::new();
    for pass in [ApprovalPass::BeforeDeadline, ApprovalPass::AfterLateReports] {
        for report in plan.approvals(pass) {
            for child in plan
                .reports
                .iter()
                .filter(|r| r.parent.as_ref() == Some(&report.key))
            {
                assert!(
                    approved.contains(&child.key),
                    "{:?} before {:?}",
                    child.key,
                    report.key
                );
            }
            approved.insert(&report.key);
        }
    }
}

#[test]
fn the_province_round_has_realistic_proportions_and_every_state() {
    let demo = demo(DemoScale::Province, 2026);
    let plan = plan(&demo, 2026);
    check(&demo, &plan);
    let counts = plan.counts();
    // 1 province, 16 cities, 100 counties, 1,500 townships, 300 member units.
    assert_eq!(counts.assignments, 1_917);
    let share = |n: usize| n as f64 / counts.assignments as f64;
    assert!((0.82..0.92).contains(&share(counts.on_time)), "{counts:?}");
    assert!((0.05..0.10).contains(&share(counts.late)), "{counts:?}");
    assert!((0.02..0.08).contains(&share(counts.missing)), "{counts:?}");
    assert_eq!(counts.sent_back, 1);
    assert_eq!(counts.corrected, 2);
    assert!(counts.awaiting_review >= 1);
    let approved_share = counts.approved_records as f64 / demo.records.len() as f64;
    assert!(approved_share > 0.75, "{approved_share} {counts:?}");
    assert!(plan.outside_round.is_empty());
    // Some cities are approved, the province is not: it waits for the troubled counties.
    let root = &plan.reports[0];
    assert_eq!(root.parent, None);
    assert!(matches!(
        root.plan,
        ReportPlan::Submitted {
            review: Review::AwaitingReview,
            ..
        }
    ));
    assert!(
        plan.reports
            .iter()
            .any(|r| r.tree_depth == 1 && r.approval().is_some())
    );
    assert!(!plan.approvals(ApprovalPass::BeforeDeadline).is_empty());
    assert!(!plan.approvals(ApprovalPass::AfterLateReports).is_empty());
}

#[test]
fn the_tiny_round_shows_every_state_too() {
    for seed in [1, 7, 11, 2026] {
        let demo = demo(DemoScale::Tiny, seed);
        let plan = plan(&demo, seed);
        check(&demo, &plan);
        let counts = plan.counts();
        // 1 + 2 + 4 + 12 regions and 3 units in each county.
        assert_eq!(counts.assignments, 31, "{seed}");
        assert!(
            counts.late >= 1 && counts.missing >= 1,
            "{seed}: {counts:?}"
        );
        assert_eq!(
            (
                counts.sent_back,
                counts.awaiting_review > 0,
                counts.corrected
            ),
            (1, true, 2),
            "{seed}: {counts:?}"
        );
        assert!(counts.approved_records > 0, "{seed}: {counts:?}");
    }
}

#[test]
fn the_same_seed_gives_the_same_round_and_another_seed_another() {
    let demo = demo(DemoScale::Tiny, 3);
    assert_eq!(plan(&demo, 3), plan(&demo, 3));
    assert_ne!(plan(&demo, 3), plan(&demo, 4));
}

#[test]
fn sectors_go_to_their_member_units_and_the_rest_to_county_and_township() {
    let demo = demo(DemoScale::Tiny, 5);
    let plan = plan(&demo, 5);
    for report in &plan.reports {
        for &i in &report.records {
            let record = &demo.records[i];
            let resource_type = demo
                .taxonomy
                .resource_type(&record.type_code)
                .expect("type");
            let expected_depth = match (resource_type.category, &report.key.organization_id) {
                (_, Some(unit)) => {
                    let organization = &demo.data.organizations[*unit as usize];
                    let (_, sectors) = COUNTY_MEMBER_UNITS
                        .iter()
                        .find(|(suffix, _)| organization.name.ends_with(suffix))
                        .expect("a county member unit");
                    assert!(
                        sectors
                            .iter()
                            .any(|s| resource_type.subcategory.starts_with(s)),
                        "{} reported by {}",
                        record.type_code,
                        organization.name
                    );
                    3
                }
                (Category::Political | Category::ArmedForces, None) => 3,
                (_, None) => 4,
            };
            assert_eq!(
                report.key.region_path.depth(),
                expected_depth,
                "{}",
                record.type_code
            );
        }
    }
    // Every unit has something of its sector to report somewhere.
    for (suffix, _) in COUNTY_MEMBER_UNITS {
        assert!(
            plan.reports.iter().any(|r| !r.records.is_empty()
                && r.key
                    .organization_id
                    .is_some_and(|u| demo.data.organizations[u as usize].name.ends_with(suffix))),
            "{suffix}"
        );
    }
}

#[test]
fn a_corrected_report_submits_a_first_version_that_differs_and_then_the_true_one() {
    let demo = demo(DemoScale::Tiny, 2026);
    let plan = plan(&demo, 2026);
    let corrected: Vec<&DemoReport> = plan
        .reports
        .iter()
        .filter(|r| {
            matches!(
                r.plan,
                ReportPlan::Submitted {
                    corrected: true,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(corrected.len(), 2);
    for report in corrected {
        let versions = report.versions(&demo.records);
        assert_eq!(versions.len(), 2);
        let (first, last) = (&versions[0], &versions[1]);
        assert_eq!(last.len(), report.records.len());
        assert_eq!(first.len() + 1, last.len());
        let diff = diff_versions(first, last);
        assert_eq!((diff.added.len(), diff.changed.len()), (1, 1), "{diff:?}");
        let drafts =
            |v: &[(u32, RecordDraft)]| v.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>();
        assert!(!same_content(&drafts(first), &drafts(last)));
    }
    let missing = plan
        .reports
        .iter()
        .find(|r| r.plan == ReportPlan::Missing)
        .expect("a missing report");
    assert!(missing.versions(&demo.records).is_empty());
}

#[test]
fn a_nation_round_for_one_province_leaves_the_others_outside() {
    // Tiny stands in for a nation's province: the records of a region the round does not
    // cover are left for the caller.
    let demo = demo(DemoScale::Tiny, 4);
    let city = RegionPath::parse("/34/3401/").expect("a path");
    let plan = plan_demo_round(
        &city,
        &demo.data.regions,
        &demo.data.organizations,
        &demo.records,
        &demo.taxonomy,
        4,
    );
    check(&demo, &plan);
    assert!(!plan.outside_round.is_empty());
    assert!(
        plan.outside_round
            .iter()
            .all(|&i| !city.contains(&demo.records[i].region_path))
    );
}

#[test]
fn misstated_quantities_differ_and_stay_positive() {
    for (quantity, expected) in [
        (1.0, 2.0),
        (2.0, 3.0),
        (4.0, 3.0),
        (40.0, 30.0),
        (0.3, 0.2),
        (0.1, 1.1),
        (412.5, 309.4),
    ] {
        assert_eq!(misstated(quantity), expected, "{quantity}");
    }
}
