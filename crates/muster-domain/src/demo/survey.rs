//! The demo's survey round, as it goes in real life: who reports which of the demo's
//! records, who reports on time, late or not at all, which reports are corrected, sent back
//! or still waiting for a reviewer, and which are approved, bottom-up, so that their records
//! reach the registry. Everything follows from the seed.
//!
//! The round's assignments are [`survey::plan_assignments`]'s, over the demo's regions down
//! to the township and its member units (with the demo's organization indices standing for
//! organization ids), so the plan's keys match the stored assignments once the indices are
//! mapped to the stored ids.
//!
//! Who reports what: a county's member units report their sectors
//! ([`COUNTY_MEMBER_UNITS`]), the county office reports its political and armed-forces
//! potential, and each township reports everything else held in it and its villages. The
//! city and province offices hold nothing of their own here; they submit empty reports (a
//! report that nothing is held beyond what the regions below report) and review.
//!
//! Trouble is concentrated, as it is in life: about one county in ten is behind, and holds
//! every missing report, the report sent back and the one still awaiting review. Late
//! reports are spread everywhere; they are approved once they come in. A county with any
//! report that is not approved cannot be approved, nor can anything above it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::demo::{COUNTY_MEMBER_UNITS, DemoOrganization};
use crate::organization::OrganizationKind;
use crate::potential::RecordDraft;
use crate::region::{RegionLevel, RegionPath};
use crate::region_import::RegionRow;
use crate::survey::{self, AssignmentKey, RegionNode, UnitNode};
use crate::taxonomy::{Category, Taxonomy};

/// Share of the counties that are behind.
const TROUBLED_COUNTY_SHARE: f64 = 0.1;
/// Share of a troubled county's township and unit reports that never come.
const MISSING_SHARE_IN_TROUBLED_COUNTY: f64 = 0.4;
/// Share of the other township and unit reports that come after the deadline.
const LATE_SHARE: f64 = 0.08;
/// How many reports are corrected by a second version before approval.
const CORRECTED_REPORTS: usize = 2;

/// The comment the reviewer sends a report back with.
pub const SEND_BACK_COMMENT: &str = "第1行数量与单位台账不符，请核实后重新上报。";

/// When a report's first version comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timing {
    OnTime,
    Late,
}

/// When an approval happens: while the round waits for its deadline (the report and
/// everything below it came on time), or after the late reports came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApprovalPass {
    BeforeDeadline,
    AfterLateReports,
}

/// What the reviewer does with a submitted report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    Approved(ApprovalPass),
    /// Submitted, not reviewed yet: the reviewer is waiting, or something below it is not
    /// approved.
    AwaitingReview,
    /// Sent back with [`SEND_BACK_COMMENT`]; no correction has come yet.
    SentBack,
}

/// What becomes of one assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportPlan {
    /// Nothing was ever submitted.
    Missing,
    Submitted {
        timing: Timing,
        /// A first version with a mistake, then a corrected second one.
        corrected: bool,
        review: Review,
    },
}

/// One assignment of the demo round and what becomes of it.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReport {
    /// The assignment, with the demo's organization index as its organization id.
    pub key: AssignmentKey,
    pub parent: Option<AssignmentKey>,
    /// Distance from the round's root in the review chain (a member unit is one below its
    /// county, although its region path is the county's).
    pub tree_depth: usize,
    /// Indices of the records this assignment reports, into the demo's records.
    pub records: Vec<usize>,
    pub plan: ReportPlan,
}

/// The whole round.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoRoundPlan {
    pub round_region: RegionPath,
    /// Every assignment, parents before children (the order of [`AssignmentKey`]).
    pub reports: Vec<DemoReport>,
    /// Records outside the round's region (the other provinces of a nation), which the demo
    /// loads as the registry of earlier years.
    pub outside_round: Vec<usize>,
}

/// Counts of a plan, to print and to test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoRoundCounts {
    pub assignments: usize,
    pub on_time: usize,
    pub late: usize,
    pub missing: usize,
    pub approved: usize,
    pub awaiting_review: usize,
    pub sent_back: usize,
    pub corrected: usize,
    /// Records in approved reports: what reaches the registry.
    pub approved_records: usize,
}

impl DemoReport {
    /// The versions this report submits, in order, as numbered rows. A corrected report's
    /// first version misstates its first record's quantity and leaves out its last record;
    /// the second is the true one. A missing report submits nothing.
    pub fn versions(&self, records: &[RecordDraft]) -> Vec<Vec<(u32, RecordDraft)>> {
        let rows: Vec<(u32, RecordDraft)> = self
            .records
            .iter()
            .filter_map(|&i| records.get(i).cloned())
            .enumerate()
            .map(|(row, draft)| (u32::try_from(row + 1).unwrap_or(u32::MAX), draft))
            .collect();
        match self.plan {
            ReportPlan::Missing => Vec::new(),
            ReportPlan::Submitted {
                corrected: false, ..
            } => vec![rows],
            ReportPlan::Submitted {
                corrected: true, ..
            } => {
                let mut first = rows.clone();
                if first.len() > 1 {
                    first.pop();
                }
                if let Some((_, draft)) = first.first_mut() {
                    draft.quantity = misstated(draft.quantity);
                }
                vec![first, rows]
            }
        }
    }

    pub fn timing(&self) -> Option<Timing> {
        match self.plan {
            ReportPlan::Missing => None,
            ReportPlan::Submitted { timing, .. } => Some(timing),
        }
    }

    pub fn approval(&self) -> Option<ApprovalPass> {
        match self.plan {
            ReportPlan::Submitted {
                review: Review::Approved(pass),
                ..
            } => Some(pass),
            _ => None,
        }
    }
}

impl DemoRoundPlan {
    /// The reports approved in `pass`, deepest in the review chain first, so that every
    /// report's children are approved before it.
    pub fn approvals(&self, pass: ApprovalPass) -> Vec<&DemoReport> {
        let mut approved: Vec<&DemoReport> = self
            .reports
            .iter()
            .filter(|r| r.approval() == Some(pass))
            .collect();
        approved.sort_by(|a, b| b.tree_depth.cmp(&a.tree_depth).then(a.key.cmp(&b.key)));
        approved
    }

    pub fn counts(&self) -> DemoRoundCounts {
        let mut counts = DemoRoundCounts {
            assignments: self.reports.len(),
            ..DemoRoundCounts::default()
        };
        for report in &self.reports {
            match report.plan {
                ReportPlan::Missing => counts.missing += 1,
                ReportPlan::Submitted {
                    timing,
                    corrected,
                    review,
                } => {
                    match timing {
                        Timing::OnTime => counts.on_time += 1,
                        Timing::Late => counts.late += 1,
                    }
                    counts.corrected += usize::from(corrected);
                    match review {
                        Review::Approved(_) => {
                            counts.approved += 1;
                            counts.approved_records += report.records.len();
                        }
                        Review::AwaitingReview => counts.awaiting_review += 1,
                        Review::SentBack => counts.sent_back += 1,
                    }
                }
            }
        }
        counts
    }
}

/// Plans the demo round for `round_region` (the demo province, or one province of a
/// nation). `organizations` are the demo's; member units among them get assignments, under
/// their index. Deterministic in `seed`.
pub fn plan_demo_round(
    round_region: &RegionPath,
    regions: &[RegionRow],
    organizations: &[DemoOrganization],
    records: &[RecordDraft],
    taxonomy: &Taxonomy,
    seed: u64,
) -> DemoRoundPlan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5a7e);
    let region_nodes: Vec<RegionNode> = regions
        .iter()
        .filter(|r| r.code.implied_level().depth() <= RegionLevel::Township.depth())
        .map(|r| RegionNode {
            code: r.code.as_str().to_owned(),
            path: RegionPath::of_code(&r.code),
            level: r.code.implied_level(),
        })
        .filter(|node| round_region.contains(&node.path))
        .collect();
    let units: Vec<UnitNode> = organizations
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == OrganizationKind::MemberUnit)
        .map(|(i, o)| UnitNode {
            organization_id: i64::try_from(i).unwrap_or(i64::MAX),
            region_path: RegionPath::of_code(&o.region_code),
        })
        .collect();
    let planned = survey::plan_assignments(round_region, &region_nodes, &units);

    // Which member unit of a county reports which subcategories.
    let mut unit_for: HashMap<(RegionPath, &str), i64> = HashMap::new();
    for unit in &units {
        let Some(organization) = usize::try_from(unit.organization_id)
            .ok()
            .and_then(|i| organizations.get(i))
        else {
            continue;
        };
        if let Some((_, sectors)) = COUNTY_MEMBER_UNITS
            .iter()
            .find(|(suffix, _)| organization.name.ends_with(suffix))
        {
            for sector in *sectors {
                unit_for
                    .entry((unit.region_path.clone(), sector))
                    .or_insert(unit.organization_id);
            }
        }
    }
    let planned_keys: BTreeSet<&AssignmentKey> = planned.iter().map(|p| &p.key).collect();
    let mut records_of: BTreeMap<AssignmentKey, Vec<usize>> = BTreeMap::new();
    let mut outside_round = Vec::new();
    for (index, record) in records.iter().enumerate() {
        if !round_region.contains(&record.region_path) {
            outside_round.push(index);
            continue;
        }
        let key = reporter(record, taxonomy, &unit_for)
            .filter(|key| planned_keys.contains(key))
            .unwrap_or_else(|| nearest_region_assignment(&record.region_path, &planned_keys));
        records_of.entry(key).or_default().push(index);
    }

    let mut children: HashMap<&AssignmentKey, Vec<&AssignmentKey>> = HashMap::new();
    let mut tree_depth: HashMap<&AssignmentKey, usize> = HashMap::new();
    for assignment in &planned {
        let depth = match &assignment.parent {
            Some(parent) => {
                children.entry(parent).or_default().push(&assignment.key);
                tree_depth.get(parent).copied().unwrap_or(0) + 1
            }
            None => 0,
        };
        tree_depth.insert(&assignment.key, depth);
    }
    let is_leaf = |key: &AssignmentKey| !children.contains_key(key);

    // Trouble: a tenth of the counties hold every missing, sent-back and waiting leaf.
    let mut counties: Vec<&AssignmentKey> = planned
        .iter()
        .filter(|p| {
            p.organization_id.is_none()
                && p.region_path.depth() == RegionLevel::County.depth() as usize
        })
        .map(|p| &p.key)
        .collect();
    counties.shuffle(&mut rng);
    let troubled_count = ((counties.len() as f64 * TROUBLED_COUNTY_SHARE).ceil() as usize)
        .clamp(usize::from(!counties.is_empty()), counties.len());
    let mut leaf_plan: HashMap<&AssignmentKey, ReportPlan> = HashMap::new();
    for (n, county) in counties.iter().take(troubled_count).enumerate() {
        let mut leaves: Vec<&AssignmentKey> = planned
            .iter()
            .map(|p| &p.key)
            .filter(|key| {
                *key != *county && county.region_path.contains(&key.region_path) && is_leaf(key)
            })
            .collect();
        leaves.shuffle(&mut rng);
        let mut leaves = leaves.into_iter();
        let submitted = |review| ReportPlan::Submitted {
            timing: Timing::OnTime,
            corrected: false,
            review,
        };
        if n == 0
            && let Some(leaf) = leaves.next()
        {
            leaf_plan.insert(leaf, submitted(Review::SentBack));
        }
        if (n == 1 || troubled_count == 1)
            && let Some(leaf) = leaves.next()
        {
            leaf_plan.insert(leaf, submitted(Review::AwaitingReview));
        }
        let rest: Vec<&AssignmentKey> = leaves.collect();
        let missing = ((rest.len() as f64 * MISSING_SHARE_IN_TROUBLED_COUNTY).round() as usize)
            .clamp(usize::from(!rest.is_empty()), rest.len());
        for leaf in rest.into_iter().take(missing) {
            leaf_plan.insert(leaf, ReportPlan::Missing);
        }
    }
    // Late reports anywhere else, at least one; then the corrections, among leaves that
    // came on time with a couple of records to get wrong.
    let mut open_leaves: Vec<&AssignmentKey> = planned
        .iter()
        .map(|p| &p.key)
        .filter(|key| is_leaf(key) && !leaf_plan.contains_key(key))
        .collect();
    open_leaves.shuffle(&mut rng);
    let late = ((open_leaves.len() as f64 * LATE_SHARE).round() as usize)
        .clamp(usize::from(open_leaves.len() > 1), open_leaves.len());
    let mut late_leaves: BTreeSet<&AssignmentKey> = BTreeSet::new();
    let mut corrected: BTreeSet<&AssignmentKey> = BTreeSet::new();
    for (n, leaf) in open_leaves.iter().enumerate() {
        if n < late {
            late_leaves.insert(leaf);
        } else if corrected.len() < CORRECTED_REPORTS
            && records_of.get(*leaf).is_some_and(|r| r.len() >= 2)
        {
            corrected.insert(leaf);
        }
    }
    // Bottom-up: a report is approved when it was submitted, its reviewer has nothing
    // against it, and everything below it is approved; in the second pass if it or
    // anything below it came late.
    let mut plans: HashMap<&AssignmentKey, ReportPlan> = HashMap::new();
    let mut by_depth: Vec<&survey::PlannedAssignment> = planned.iter().collect();
    by_depth.sort_by_key(|p| std::cmp::Reverse(tree_depth.get(&p.key).copied().unwrap_or(0)));
    for assignment in by_depth {
        let key = &assignment.key;
        let plan = if let Some(plan) = leaf_plan.get(key) {
            *plan
        } else {
            let timing = if late_leaves.contains(key) {
                Timing::Late
            } else {
                Timing::OnTime
            };
            let below: Vec<Option<ApprovalPass>> = children
                .get(key)
                .map(|c| {
                    c.iter()
                        .map(|child| match plans.get(child) {
                            Some(ReportPlan::Submitted {
                                review: Review::Approved(pass),
                                ..
                            }) => Some(*pass),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let review = if below.iter().all(Option::is_some) {
                let all_early = timing == Timing::OnTime
                    && below
                        .iter()
                        .all(|p| *p == Some(ApprovalPass::BeforeDeadline));
                Review::Approved(if all_early {
                    ApprovalPass::BeforeDeadline
                } else {
                    ApprovalPass::AfterLateReports
                })
            } else {
                Review::AwaitingReview
            };
            ReportPlan::Submitted {
                timing,
                corrected: corrected.contains(key),
                review,
            }
        };
        plans.insert(key, plan);
    }

    let reports = planned
        .iter()
        .map(|p| DemoReport {
            key: p.key.clone(),
            parent: p.parent.clone(),
            tree_depth: tree_depth.get(&p.key).copied().unwrap_or(0),
            records: records_of.get(&p.key).cloned().unwrap_or_default(),
            plan: plans.get(&p.key).copied().unwrap_or(ReportPlan::Missing),
        })
        .collect();
    DemoRoundPlan {
        round_region: round_region.clone(),
        reports,
        outside_round,
    }
}

/// Who reports a record by its type: the county's member unit for its sector, the county
/// office for political and armed-forces potential, else the township it lies in.
fn reporter(
    record: &RecordDraft,
    taxonomy: &Taxonomy,
    unit_for: &HashMap<(RegionPath, &str), i64>,
) -> Option<AssignmentKey> {
    let resource_type = taxonomy.resource_type(&record.type_code)?;
    let county = truncated(&record.region_path, RegionLevel::County)?;
    if let Some((_, sectors)) = COUNTY_MEMBER_UNITS.iter().find(|(_, sectors)| {
        sectors
            .iter()
            .any(|s| resource_type.subcategory.starts_with(s))
    }) {
        let unit = sectors
            .iter()
            .find_map(|s| unit_for.get(&(county.clone(), *s)))?;
        return Some(AssignmentKey {
            region_path: county,
            organization_id: Some(*unit),
        });
    }
    let region_path = match resource_type.category {
        Category::Political | Category::ArmedForces => county,
        _ => truncated(&record.region_path, RegionLevel::Township).unwrap_or(county),
    };
    Some(AssignmentKey {
        region_path,
        organization_id: None,
    })
}

/// The path cut down to `level`, if it reaches that deep.
fn truncated(path: &RegionPath, level: RegionLevel) -> Option<RegionPath> {
    let depth = usize::from(level.depth());
    if path.depth() < depth {
        return None;
    }
    Some(
        path.codes()
            .take(depth)
            .fold(RegionPath::root(), |p, code| p.child(&code)),
    )
}

/// The deepest region assignment whose region holds `path` (the root always does).
fn nearest_region_assignment(
    path: &RegionPath,
    planned: &BTreeSet<&AssignmentKey>,
) -> AssignmentKey {
    crate::potential::rollup::enclosing_paths(path)
        .into_iter()
        .rev()
        .map(|region_path| AssignmentKey {
            region_path,
            organization_id: None,
        })
        .find(|key| planned.contains(key))
        .unwrap_or_else(|| AssignmentKey {
            region_path: RegionPath::root(),
            organization_id: None,
        })
}

/// A first version's wrong quantity: a quarter short, or one more where that rounds away.
fn misstated(quantity: f64) -> f64 {
    let short = if quantity.fract() == 0.0 {
        (quantity * 0.75).round()
    } else {
        (quantity * 7.5).round() / 10.0
    };
    if short > 0.0 && short < quantity {
        short
    } else {
        quantity + 1.0
    }
}

#[cfg(test)]
mod tests;
