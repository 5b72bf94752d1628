use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::organization::Roles;
use crate::potential::{Holder, QualityGrade, RecordStatus, holding_key};

fn path(text: &str) -> RegionPath {
    RegionPath::parse(text).expect("a valid path")
}

fn at(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis)
}

fn region(code: &str, text: &str) -> RegionNode {
    let path = path(text);
    let level =
        RegionLevel::from_depth(u8::try_from(path.depth()).expect("shallow")).expect("a level");
    RegionNode {
        code: code.to_owned(),
        path,
        level,
    }
}

fn unit(organization_id: i64, text: &str) -> UnitNode {
    UnitNode {
        organization_id,
        region_path: path(text),
    }
}

/// A plan as (key, parent key) pairs, keys written `path` or `path#org`.
fn outline(plan: &[PlannedAssignment]) -> Vec<(String, Option<String>)> {
    let show = |key: &AssignmentKey| match key.organization_id {
        Some(id) => format!("{}#{id}", key.region_path),
        None => key.region_path.to_string(),
    };
    plan.iter()
        .map(|a| (show(&a.key), a.parent.as_ref().map(show)))
        .collect()
}

fn owned(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    pairs
        .iter()
        .map(|(key, parent)| ((*key).to_owned(), parent.map(str::to_owned)))
        .collect()
}

/// Parents come before children and keys are unique: what storage relies on to insert the
/// plan in one pass, mapping keys to ids as it goes.
fn assert_insertable(plan: &[PlannedAssignment]) {
    let mut seen = BTreeSet::new();
    for assignment in plan {
        if let Some(parent) = &assignment.parent {
            assert!(
                seen.contains(parent),
                "{:?} comes before its parent {parent:?}",
                assignment.key
            );
        }
        assert!(
            seen.insert(assignment.key.clone()),
            "{:?} twice",
            assignment.key
        );
    }
    assert_eq!(plan.iter().filter(|a| a.is_root()).count(), 1, "one root");
}

fn province_tree() -> (Vec<RegionNode>, Vec<UnitNode>) {
    // Deliberately unsorted, with the round's own region, a repeat and another province.
    let regions = vec![
        region("340201", "/34/3402/340201/"),
        region("3401", "/34/3401/"),
        region("34", "/34/"),
        region("340105", "/34/3401/340105/"),
        region("3402", "/34/3402/"),
        region("340104", "/34/3401/340104/"),
        region("3401", "/34/3401/"),
        region("35", "/35/"),
        region("3501", "/35/3501/"),
    ];
    let units = vec![
        unit(12, "/34/3401/340104/"),
        unit(10, "/34/"),
        unit(11, "/34/3401/"),
        unit(9, "/34/3401/"),
        unit(13, "/35/"),
        // A township unit whose township the round does not reach: it reports to its county.
        unit(14, "/34/3401/340104/340104001/"),
        unit(11, "/34/3401/"),
    ];
    (regions, units)
}

#[test]
fn a_province_round_decomposes_to_cities_counties_and_member_units() {
    let (regions, units) = province_tree();
    let plan = plan_assignments(&path("/34/"), &regions, &units);
    assert_eq!(
        outline(&plan),
        owned(&[
            ("/34/", None),
            ("/34/#10", Some("/34/")),
            ("/34/3401/", Some("/34/")),
            ("/34/3401/#9", Some("/34/3401/")),
            ("/34/3401/#11", Some("/34/3401/")),
            ("/34/3401/340104/", Some("/34/3401/")),
            ("/34/3401/340104/#12", Some("/34/3401/340104/")),
            ("/34/3401/340104/340104001/#14", Some("/34/3401/340104/")),
            ("/34/3401/340105/", Some("/34/3401/")),
            ("/34/3402/", Some("/34/")),
            ("/34/3402/340201/", Some("/34/3402/")),
        ])
    );
    assert_insertable(&plan);

    let root = &plan[0];
    assert_eq!(root.region_code.as_deref(), Some("34"));
    assert!(!root.is_member_unit());
    let township_unit = &plan[7];
    assert_eq!(township_unit.organization_id, Some(14));
    assert_eq!(township_unit.region_code.as_deref(), Some("340104001"));
    assert_eq!(plan[5].region_code.as_deref(), Some("340104"));
}

#[test]
fn the_plan_does_not_depend_on_input_order() {
    let (mut regions, mut units) = province_tree();
    let forward = plan_assignments(&path("/34/"), &regions, &units);
    regions.reverse();
    units.reverse();
    assert_eq!(plan_assignments(&path("/34/"), &regions, &units), forward);
}

#[test]
fn a_national_round_has_a_root_without_a_code() {
    let plan = plan_assignments(
        &RegionPath::root(),
        &[region("34", "/34/"), region("3401", "/34/3401/")],
        &[unit(1, "/")],
    );
    assert_eq!(
        outline(&plan),
        owned(&[
            ("/", None),
            ("/#1", Some("/")),
            ("/34/", Some("/")),
            ("/34/3401/", Some("/34/")),
        ])
    );
    assert_eq!(plan[0].region_code, None);
    assert_insertable(&plan);
}

#[test]
fn a_gap_in_the_regions_hangs_assignments_from_the_nearest_planned_region() {
    // The city is missing from the list: its county reports straight to the province.
    let plan = plan_assignments(
        &path("/34/"),
        &[region("340104", "/34/3401/340104/")],
        &[unit(5, "/34/3401/")],
    );
    assert_eq!(
        outline(&plan),
        owned(&[
            ("/34/", None),
            ("/34/3401/#5", Some("/34/")),
            ("/34/3401/340104/", Some("/34/")),
        ])
    );
    assert_insertable(&plan);
}

#[test]
fn a_round_for_a_leaf_region_has_only_its_root_and_units() {
    let plan = plan_assignments(
        &path("/34/3401/340104/"),
        &[
            region("3401", "/34/3401/"),
            region("340105", "/34/3401/340105/"),
        ],
        &[unit(3, "/34/3401/340104/"), unit(4, "/34/3401/")],
    );
    assert_eq!(
        outline(&plan),
        owned(&[
            ("/34/3401/340104/", None),
            ("/34/3401/340104/#3", Some("/34/3401/340104/")),
        ])
    );
}

// ---------------------------------------------------------------------------------------
// Opening a round
// ---------------------------------------------------------------------------------------

fn new_round(title: &str, types: &[&str], deadline: i64) -> NewRound {
    NewRound {
        title: title.to_owned(),
        region_path: path("/34/"),
        type_codes: types.iter().map(|t| (*t).to_owned()).collect(),
        deadline: at(deadline),
    }
}

#[test]
fn a_new_round_is_checked_field_by_field() {
    let known = |code: &str| code.starts_with("TRN.");
    let long_title = "x".repeat(MAX_TITLE_CHARS + 1);
    let longest_title = "省".repeat(MAX_TITLE_CHARS);
    let cases: Vec<(NewRound, Vec<RoundProblem>)> = vec![
        (new_round("2025 survey", &["TRN.TRUCK"], 1001), vec![]),
        (new_round(&longest_title, &["TRN.TRUCK"], 1001), vec![]),
        (
            new_round("  ", &["TRN.TRUCK"], 1001),
            vec![RoundProblem::TitleMissing],
        ),
        (
            new_round(&long_title, &["TRN.TRUCK"], 1001),
            vec![RoundProblem::TitleTooLong { length: 201 }],
        ),
        (new_round("t", &[], 1001), vec![RoundProblem::NoTypes]),
        (
            new_round("t", &["TRN.TRUCK", "MED.BED", "X"], 1001),
            vec![
                RoundProblem::UnknownType {
                    code: "MED.BED".into(),
                },
                RoundProblem::UnknownType { code: "X".into() },
            ],
        ),
        (
            new_round("t", &["TRN.TRUCK"], 1000),
            vec![RoundProblem::DeadlineNotInFuture],
        ),
        (
            new_round("", &[], 999),
            vec![
                RoundProblem::TitleMissing,
                RoundProblem::NoTypes,
                RoundProblem::DeadlineNotInFuture,
            ],
        ),
    ];
    for (round, expected) in cases {
        let got = round.validate(at(1000), known).err().unwrap_or_default();
        assert_eq!(got, expected, "title {:?}", round.title);
    }
}

// ---------------------------------------------------------------------------------------
// The state machine
// ---------------------------------------------------------------------------------------

use AssignmentStatus::{Approved, Pending, Returned, Submitted};

#[test]
fn submit_from_every_status() {
    let cases = [
        (Pending, Ok(Submitted)),
        (Returned, Ok(Submitted)),
        (Submitted, Ok(Submitted)),
        (Approved, Err(TransitionError::AlreadyApproved)),
    ];
    for (from, expected) in cases {
        assert_eq!(submit(from), expected, "submit from {from}");
    }
    assert!(
        TransitionError::AlreadyApproved
            .to_string()
            .contains("ask the reviewer to send it back")
    );
}

#[test]
fn approve_from_every_status_without_children() {
    let cases = [
        (Submitted, Ok(Approved)),
        (Pending, Err(TransitionError::NothingSubmitted)),
        (Returned, Err(TransitionError::AwaitingCorrection)),
        (Approved, Err(TransitionError::ApprovedAlready)),
    ];
    for (from, expected) in cases {
        assert_eq!(approve(from, &[]), expected, "approve from {from}");
    }
}

#[test]
fn a_level_is_approved_only_when_every_level_below_is() {
    let cases: &[(
        &[AssignmentStatus],
        Result<AssignmentStatus, TransitionError>,
    )] = &[
        (&[Approved, Approved], Ok(Approved)),
        (
            &[Approved, Submitted, Pending],
            Err(TransitionError::ChildrenNotApproved {
                not_approved: 2,
                below: 3,
            }),
        ),
        (
            &[Returned],
            Err(TransitionError::ChildrenNotApproved {
                not_approved: 1,
                below: 1,
            }),
        ),
    ];
    for (children, expected) in cases {
        assert_eq!(&approve(Submitted, children), expected, "{children:?}");
    }
    let message = TransitionError::ChildrenNotApproved {
        not_approved: 2,
        below: 3,
    }
    .to_string();
    assert!(message.starts_with("2 of the 3 reports below"), "{message}");
    // The assignment's own state is judged first: there is nothing to approve yet.
    assert_eq!(
        approve(Pending, &[Pending]),
        Err(TransitionError::NothingSubmitted)
    );
}

#[test]
fn send_back_from_every_status() {
    let cases = [
        (Submitted, None, Ok(Returned)),
        (Submitted, Some(Submitted), Ok(Returned)),
        (Approved, Some(Pending), Ok(Returned)),
        (Approved, Some(Submitted), Ok(Returned)),
        (Approved, Some(Returned), Ok(Returned)),
        (Approved, None, Ok(Returned)),
        (
            Approved,
            Some(Approved),
            Err(TransitionError::ParentApproved),
        ),
        (
            Pending,
            Some(Pending),
            Err(TransitionError::NothingSubmitted),
        ),
        (
            Returned,
            Some(Submitted),
            Err(TransitionError::AwaitingCorrection),
        ),
    ];
    for (from, parent, expected) in cases {
        let got = send_back(from, parent, "quantities look doubled").map(|(status, _)| status);
        assert_eq!(got, expected, "send back from {from} under {parent:?}");
    }
}

#[test]
fn sending_back_needs_a_comment_of_reasonable_length() {
    let cases = [
        ("", Err(TransitionError::CommentMissing)),
        (" \n\t ", Err(TransitionError::CommentMissing)),
        (
            "  row 12: wrong unit  ",
            Ok("row 12: wrong unit".to_owned()),
        ),
    ];
    for (comment, expected) in cases {
        let got = send_back(Submitted, None, comment).map(|(_, c)| c.as_str().to_owned());
        assert_eq!(got, expected, "{comment:?}");
    }
    let longest = "改".repeat(MAX_COMMENT_CHARS);
    assert!(send_back(Submitted, None, &longest).is_ok());
    assert_eq!(
        send_back(Submitted, None, &format!("{longest}x")),
        Err(TransitionError::CommentTooLong { length: 2001 })
    );
}

#[test]
fn a_closed_round_takes_no_transitions() {
    assert_eq!(ensure_round_open(RoundStatus::Open), Ok(()));
    assert_eq!(
        ensure_round_open(RoundStatus::Closed),
        Err(TransitionError::RoundClosed)
    );
}

#[test]
fn the_current_submission_follows_its_assignment() {
    assert_eq!(Pending.current_submission_status(), None);
    assert_eq!(
        Returned.current_submission_status(),
        Some(SubmissionStatus::Returned)
    );
    for status in AssignmentStatus::ALL {
        assert_eq!(AssignmentStatus::parse(status.as_str()), Some(*status));
    }
    for status in SubmissionStatus::ALL {
        assert_eq!(SubmissionStatus::parse(status.as_str()), Some(*status));
    }
    assert_eq!(RoundStatus::parse("closed"), Some(RoundStatus::Closed));
    assert_eq!(Timeliness::parse("on_time"), Some(Timeliness::OnTime));
}

#[test]
fn the_reviewer_is_the_office_one_level_up() {
    let office = |subtree: &str, role: Role| {
        let roles = Roles::new(vec![role]).expect("a role");
        Actor::user(1, "someone".into(), &roles, path(subtree))
    };
    let county_assignment_parent = path("/34/3401/");
    let round_region = path("/34/");
    let reviewed_at = reviewer_region(Some(&county_assignment_parent), &round_region);
    assert_eq!(reviewed_at, &county_assignment_parent);
    assert_eq!(reviewer_region(None, &round_region), &round_region);

    // The city office reviews its counties; the county office cannot approve itself; the
    // province may act for the city; a member unit in the city cannot review at all.
    assert!(may_review(
        &office("/34/3401/", Role::OfficeStaff),
        reviewed_at
    ));
    assert!(!may_review(
        &office("/34/3401/340104/", Role::OfficeStaff),
        reviewed_at
    ));
    assert!(may_review(&office("/34/", Role::OfficeStaff), reviewed_at));
    assert!(!may_review(
        &office("/34/3401/", Role::MemberUnitOfficer),
        reviewed_at
    ));
    assert!(!may_review(
        &office("/34/3402/", Role::OfficeStaff),
        reviewed_at
    ));
}

/// One step of a reviewer or a unit on one assignment of a plan.
#[derive(Debug, Clone, Copy)]
enum Step {
    Submit(usize),
    Approve(usize),
    SendBack(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0usize..64).prop_map(Step::Submit),
        (0usize..64).prop_map(Step::Approve),
        (0usize..64).prop_map(Step::SendBack),
    ]
}

proptest! {
    /// Whatever anyone does, in any order, the transitions never leave an approved level
    /// above one that is not approved, and an approved root means everything is approved.
    #[test]
    fn approval_never_outruns_the_levels_below(steps in proptest::collection::vec(step(), 0..200)) {
        let (regions, units) = province_tree();
        let plan = plan_assignments(&path("/34/"), &regions, &units);
        let index: HashMap<&AssignmentKey, usize> =
            plan.iter().enumerate().map(|(i, a)| (&a.key, i)).collect();
        let parent_of: Vec<Option<usize>> = plan
            .iter()
            .map(|a| a.parent.as_ref().and_then(|p| index.get(p).copied()))
            .collect();
        let children_of = |i: usize| -> Vec<usize> {
            (0..plan.len()).filter(|c| parent_of[*c] == Some(i)).collect()
        };
        let mut statuses = vec![Pending; plan.len()];
        for step in steps {
            match step {
                Step::Submit(i) => {
                    let i = i % plan.len();
                    if let Ok(next) = submit(statuses[i]) {
                        statuses[i] = next;
                    }
                }
                Step::Approve(i) => {
                    let i = i % plan.len();
                    let children: Vec<_> = children_of(i).iter().map(|c| statuses[*c]).collect();
                    if let Ok(next) = approve(statuses[i], &children) {
                        statuses[i] = next;
                    }
                }
                Step::SendBack(i) => {
                    let i = i % plan.len();
                    let parent = parent_of[i].map(|p| statuses[p]);
                    if let Ok((next, _)) = send_back(statuses[i], parent, "fix it") {
                        statuses[i] = next;
                    }
                }
            }
            for (i, status) in statuses.iter().enumerate() {
                if *status == Approved {
                    for c in children_of(i) {
                        prop_assert_eq!(statuses[c], Approved, "{:?} under {:?}", plan[c].key, plan[i].key);
                    }
                }
            }
        }
        if statuses[0] == Approved {
            prop_assert!(statuses.iter().all(|s| *s == Approved));
        }
    }
}

#[test]
fn a_whole_round_can_be_approved_bottom_up() {
    let (regions, units) = province_tree();
    let plan = plan_assignments(&path("/34/"), &regions, &units);
    let mut statuses: BTreeMap<AssignmentKey, AssignmentStatus> = plan
        .iter()
        .map(|a| (a.key.clone(), submit(Pending).expect("first submission")))
        .collect();
    // Children after parents in the plan, so reviewing it backwards is bottom-up.
    for assignment in plan.iter().rev() {
        let children: Vec<AssignmentStatus> = plan
            .iter()
            .filter(|c| c.parent.as_ref() == Some(&assignment.key))
            .map(|c| statuses[&c.key])
            .collect();
        let approved = approve(statuses[&assignment.key], &children).expect("approvable");
        statuses.insert(assignment.key.clone(), approved);
    }
    assert!(statuses.values().all(|s| *s == Approved));
}

// ---------------------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------------------

fn draft(type_code: &str, holder: &str, site: Option<&str>, quantity: f64) -> RecordDraft {
    let region_path = path("/34/3401/");
    let holder = Holder::Organization {
        id: None,
        name: holder.to_owned(),
    };
    RecordDraft {
        holding_key: holding_key(&region_path, type_code, &holder, site),
        type_code: type_code.to_owned(),
        quantity,
        attributes: BTreeMap::new(),
        quality: QualityGrade::Good,
        holder,
        site: site.map(str::to_owned),
        region_code: "3401".to_owned(),
        region_path,
        coordinates: None,
        status: RecordStatus::Available,
    }
}

fn with_attribute(mut record: RecordDraft, key: &str, value: AttributeValue) -> RecordDraft {
    record.attributes.insert(key.to_owned(), value);
    record
}

/// (holding key, fields) of every change, for compact expectations.
fn changes(diff: &SubmissionDiff) -> Vec<(String, Vec<String>)> {
    diff.changed
        .iter()
        .map(|c| (c.holding_key.clone(), c.fields.clone()))
        .collect()
}

#[test]
fn a_new_version_shows_what_was_added_removed_and_changed_by_holding() {
    let trucks = with_attribute(
        draft("TRN.TRUCK", "ABC Logistics", Some("North Yard"), 12.0),
        "payload_t",
        AttributeValue::Decimal(10.0),
    );
    let buses = draft("TRN.BUS", "City Bus Co", None, 40.0);
    let tents = draft("CAD.TENT", "Red Cross", Some("Depot 3"), 300.0);
    let beds = draft("MED.BED", "First Hospital", None, 520.0);

    let mut trucks_corrected =
        with_attribute(trucks.clone(), "payload_t", AttributeValue::Decimal(15.0));
    trucks_corrected.quantity = 14.0;
    trucks_corrected.quality = QualityGrade::Excellent;
    trucks_corrected.coordinates = Some((31.8, 117.2));

    let old = vec![(1, trucks.clone()), (2, buses.clone()), (3, tents.clone())];
    let new = vec![(1, beds.clone()), (2, buses.clone()), (3, trucks_corrected)];
    let diff = diff_versions(&old, &new);

    assert_eq!(diff.unchanged, 1, "the buses did not change");
    assert_eq!(
        changes(&diff),
        vec![(
            trucks.holding_key.clone(),
            vec![
                "quantity".to_owned(),
                "quality".to_owned(),
                "coordinates".to_owned(),
                "attributes.payload_t".to_owned(),
            ]
        )]
    );
    assert_eq!(
        (diff.changed[0].before_row, diff.changed[0].after_row),
        (1, 3)
    );
    assert_eq!(diff.added.len(), 1);
    assert_eq!(diff.added[0].record, beds);
    assert_eq!(diff.added[0].row_number, 1);
    assert_eq!(diff.removed.len(), 1);
    assert_eq!(diff.removed[0].record, tents);
    assert!(diff.has_changes());

    // Row order and numbering do not matter.
    let mut shuffled = new.clone();
    shuffled.reverse();
    assert_eq!(diff_versions(&old, &shuffled), diff);
    let unchanged = diff_versions(&old, &[(9, tents), (7, buses), (8, trucks)]);
    assert!(!unchanged.has_changes());
    assert_eq!(unchanged.unchanged, 3);
}

#[test]
fn holder_site_and_attribute_edits_are_named() {
    let base = with_attribute(
        draft("TRN.TRUCK", "ABC Logistics", Some("North Yard"), 12.0),
        "fuel",
        AttributeValue::Choice("diesel".into()),
    );
    let mut edited = base.clone();
    edited.holder = Holder::Organization {
        id: Some(7),
        name: "abc logistics".into(),
    };
    edited.site = Some("NORTH YARD".into());
    edited.attributes.remove("fuel");
    edited
        .attributes
        .insert("axles".into(), AttributeValue::Integer(3));
    edited.status = RecordStatus::Reserved;
    let diff = diff_versions(&[(1, base.clone())], &[(1, edited)]);
    assert_eq!(
        changes(&diff),
        vec![(
            base.holding_key,
            vec![
                "status".to_owned(),
                "holder.name".to_owned(),
                "holder.id".to_owned(),
                "site".to_owned(),
                "attributes.axles".to_owned(),
                "attributes.fuel".to_owned(),
            ]
        )]
    );
}

#[test]
fn values_read_back_from_storage_equal_freshly_imported_ones() {
    // Storage reads a choice back as text and 12.0 may come back as an integer.
    let imported = with_attribute(
        with_attribute(
            draft("TRN.TRUCK", "ABC", None, 1.0),
            "fuel",
            AttributeValue::Choice("diesel".into()),
        ),
        "payload_t",
        AttributeValue::Decimal(12.0),
    );
    let stored = with_attribute(
        with_attribute(
            imported.clone(),
            "fuel",
            AttributeValue::Text("diesel".into()),
        ),
        "payload_t",
        AttributeValue::Integer(12),
    );
    assert!(same_content(
        std::slice::from_ref(&imported),
        std::slice::from_ref(&stored)
    ));
    assert_eq!(diff_versions(&[(1, stored)], &[(1, imported)]).unchanged, 1);
    let other = with_attribute(
        draft("TRN.TRUCK", "ABC", None, 1.0),
        "fuel",
        AttributeValue::Boolean(true),
    );
    let text = with_attribute(
        draft("TRN.TRUCK", "ABC", None, 1.0),
        "fuel",
        AttributeValue::Text("true".into()),
    );
    assert!(!same_content(&[other], &[text]));
}

#[test]
fn a_repeated_holding_key_never_loses_a_row() {
    let a = draft("TRN.TRUCK", "ABC", None, 1.0);
    let mut a2 = a.clone();
    a2.quantity = 2.0;
    let mut a3 = a.clone();
    a3.quantity = 3.0;
    // Old: a, a2; new: a2 (moved), a3, a3.
    let diff = diff_versions(
        &[(1, a.clone()), (2, a2.clone())],
        &[(1, a3.clone()), (2, a2.clone()), (3, a3.clone())],
    );
    assert_eq!(diff.unchanged, 1, "a2 is matched to itself, not to a3");
    assert_eq!(diff.changed.len(), 1);
    assert_eq!(diff.changed[0].before.quantity, 1.0);
    assert_eq!(diff.changed[0].after_row, 1);
    assert_eq!(diff.added.len(), 1);
    assert_eq!(diff.added[0].row_number, 3);
    assert!(diff.removed.is_empty());
    let rows_before = diff.unchanged + diff.changed.len() + diff.removed.len();
    let rows_after = diff.unchanged + diff.changed.len() + diff.added.len();
    assert_eq!((rows_before, rows_after), (2, 3));
}

#[test]
fn same_content_ignores_order_but_not_figures() {
    let a = draft("TRN.TRUCK", "ABC", None, 1.0);
    let b = draft("TRN.BUS", "ABC", None, 2.0);
    let mut b_more = b.clone();
    b_more.quantity = 2.5;
    let mut nan = a.clone();
    nan.quantity = f64::NAN;
    let cases: Vec<(Vec<RecordDraft>, Vec<RecordDraft>, bool)> = vec![
        (vec![a.clone(), b.clone()], vec![b.clone(), a.clone()], true),
        (vec![], vec![], true),
        (vec![a.clone(), b.clone()], vec![a.clone(), b_more], false),
        (vec![a.clone(), b.clone()], vec![a.clone()], false),
        (
            vec![a.clone(), a.clone()],
            vec![a.clone(), b.clone()],
            false,
        ),
        (
            vec![a.clone(), b.clone()],
            vec![a.clone(), a.clone()],
            false,
        ),
        (
            vec![a.clone(), nan.clone()],
            vec![nan.clone(), a.clone()],
            true,
        ),
        (vec![nan], vec![a], false),
    ];
    for (i, (old, new, expected)) in cases.iter().enumerate() {
        assert_eq!(same_content(old, new), *expected, "case {i}");
        assert_eq!(same_content(new, old), *expected, "case {i}, reversed");
        let numbered = |records: &[RecordDraft]| -> Vec<(u32, RecordDraft)> {
            (1..).zip(records.iter().cloned()).collect()
        };
        let diff = diff_versions(&numbered(old), &numbered(new));
        assert_eq!(
            !diff.has_changes(),
            *expected,
            "case {i} agrees with the diff"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Dashboard
// ---------------------------------------------------------------------------------------

#[test]
fn timeliness_on_the_deadline_boundary() {
    let deadline = 1_000;
    let cases = [
        (Some(999), 2_000, Timeliness::OnTime),
        (Some(1_000), 2_000, Timeliness::OnTime),
        (Some(1_001), 2_000, Timeliness::Late),
        (Some(1_001), 1_001, Timeliness::Late),
        (None, 999, Timeliness::Pending),
        (None, 1_000, Timeliness::Pending),
        (None, 1_001, Timeliness::Missing),
    ];
    for (first, now, expected) in cases {
        assert_eq!(
            timeliness(first.map(at), at(deadline), at(now)),
            expected,
            "first {first:?} now {now}"
        );
    }
}

#[test]
fn completeness_rolls_up_to_every_enclosing_region_and_the_root() {
    let facts = |region: &str, status, first: Option<i64>, deadline: i64| AssignmentFacts {
        region_path: path(region),
        status,
        first_submitted_at: first.map(at),
        deadline: at(deadline),
    };
    let now = at(1_500);
    let assignments = vec![
        facts("/34/", Pending, None, 1_000),
        facts("/34/3401/", Submitted, Some(900), 1_000),
        facts("/34/3401/", Approved, Some(1_200), 1_000),
        facts("/34/3401/340104/", Returned, Some(800), 1_000),
        // An extended deadline keeps this one pending rather than missing.
        facts("/34/3401/340104/", Pending, None, 2_000),
        facts("/34/3402/", Pending, None, 1_000),
    ];
    let by_region = completeness_by_region(&assignments, now);
    assert_eq!(
        by_region.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["/", "/34/", "/34/3401/", "/34/3401/340104/", "/34/3402/"]
    );
    let province = Completeness {
        assigned: 6,
        reported: 3,
        approved: 1,
        awaiting_review: 1,
        returned: 1,
        on_time: 2,
        late: 1,
        missing: 2,
        pending: 1,
    };
    assert_eq!(by_region["/"], province);
    assert_eq!(by_region["/34/"], province);
    assert_eq!(
        by_region["/34/3401/"],
        Completeness {
            assigned: 4,
            reported: 3,
            approved: 1,
            awaiting_review: 1,
            returned: 1,
            on_time: 2,
            late: 1,
            missing: 0,
            pending: 1,
        }
    );
    assert_eq!(by_region["/34/3402/"].missing, 1);
    assert_eq!(by_region["/34/3401/340104/"].reported_share(), Some(0.5));
    assert_eq!(Completeness::default().reported_share(), None);
    assert!(completeness_by_region(&[], now).is_empty());
}

#[test]
fn figures_move_from_first_report_to_verified() {
    let stages = |type_code, first, latest, approved, verified| RecordStages {
        type_code,
        first_reported: first,
        latest_reported: latest,
        approved,
        verified,
    };
    let by_type = movement_by_type([
        stages("TRN.TRUCK", 10.0, 12.0, Some(12.0), Some(20.0)),
        stages("TRN.TRUCK", 30.0, 30.0, Some(30.0), Some(60.0)),
        stages("TRN.TRUCK", 50.0, 55.0, None, None),
        stages("MED.BED", 0.0, 4.0, Some(4.0), Some(4.0)),
        stages("CAD.TENT", 8.0, 8.0, None, None),
    ]);
    let trucks = by_type["TRN.TRUCK"];
    assert_eq!(
        trucks,
        FigureMovement {
            first_reported: 90.0,
            latest_reported: 97.0,
            approved: 42.0,
            verified: 80.0,
            record_count: 3,
            approved_count: 2,
            verified_count: 2,
            verified_first_reported: 40.0,
        }
    );
    // The verified trucks came to twice what they were first listed as.
    assert_eq!(trucks.relative_change_first_to_verified(), Some(1.0));
    assert_eq!(
        by_type["MED.BED"].relative_change_first_to_verified(),
        None,
        "first reported as zero"
    );
    assert_eq!(
        by_type["CAD.TENT"].relative_change_first_to_verified(),
        None,
        "nothing verified"
    );
    let shrunk = movement_by_type([stages("X", 8.0, 8.0, Some(8.0), Some(6.0))]);
    assert_eq!(shrunk["X"].relative_change_first_to_verified(), Some(-0.25));
}

#[test]
fn a_round_closes_once_and_its_deadline_only_moves_later() {
    assert_eq!(close_round(RoundStatus::Open), Ok(RoundStatus::Closed));
    assert_eq!(
        close_round(RoundStatus::Closed),
        Err(TransitionError::RoundClosed)
    );
    let (current, now) = (at(1_000), at(500));
    assert_eq!(
        extend_deadline(RoundStatus::Open, current, at(2_000), now),
        Ok(())
    );
    for earlier in [at(1_000), at(900)] {
        assert_eq!(
            extend_deadline(RoundStatus::Open, current, earlier, now),
            Err(TransitionError::DeadlineNotExtended)
        );
    }
    // After a passed deadline, a new one must still be to come.
    assert_eq!(
        extend_deadline(RoundStatus::Open, current, at(1_500), at(1_600)),
        Err(TransitionError::DeadlineNotExtended)
    );
    assert_eq!(
        extend_deadline(RoundStatus::Closed, current, at(2_000), now),
        Err(TransitionError::RoundClosed)
    );
    // A unit that reported between the two deadlines is on time under the new one.
    assert_eq!(
        timeliness(Some(at(1_500)), at(2_000), at(2_500)),
        Timeliness::OnTime
    );
}

#[test]
fn a_closed_round_reopens_until_a_deadline_still_to_come() {
    let now = at(5_000);
    assert_eq!(
        reopen_round(RoundStatus::Closed, at(9_000), now),
        Ok(RoundStatus::Open)
    );
    for passed in [at(5_000), at(100)] {
        let refused = reopen_round(RoundStatus::Closed, passed, now);
        assert_eq!(refused, Err(TransitionError::ReopenDeadlinePassed));
        assert_eq!(refused.expect_err("refused").field(), Some("deadline"));
    }
    assert_eq!(
        reopen_round(RoundStatus::Open, at(9_000), now),
        Err(TransitionError::RoundOpen)
    );
    for error in [
        TransitionError::RoundOpen,
        TransitionError::ReopenDeadlinePassed,
    ] {
        assert!(
            error
                .zh()
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{error:?}"
        );
    }
}

#[test]
fn every_round_problem_is_said_in_chinese_about_its_field() {
    let problems = [
        (RoundProblem::TitleMissing, "title"),
        (RoundProblem::TitleTooLong { length: 201 }, "title"),
        (RoundProblem::NoTypes, "type_codes"),
        (
            RoundProblem::UnknownType {
                code: "MED.BED".into(),
            },
            "type_codes",
        ),
        (RoundProblem::DeadlineNotInFuture, "deadline"),
    ];
    let mut said = BTreeSet::new();
    for (problem, field) in &problems {
        let zh = problem.zh();
        assert!(
            zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{problem:?}: {zh}"
        );
        assert!(said.insert(zh.clone()), "said twice: {zh}");
        assert_eq!(problem.field(), *field, "{problem:?}");
    }
    assert!(problems[1].0.zh().contains("201"));
    assert!(problems[3].0.zh().contains("MED.BED"));
}
