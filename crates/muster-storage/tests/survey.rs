//! Survey round stories, each run against SQLite and PostgreSQL: decomposition, versions
//! and their differences, the review chain, duplicates across units, the dashboard.

use std::collections::{BTreeMap, BTreeSet};

use muster_domain::organization::Roles;
use muster_domain::survey::{
    AssignmentStatus, FigureMovement, RecordStages, Timeliness, TransitionError, movement_by_type,
};
use muster_domain::verification::{SampleSize, Tolerance};
use muster_domain::{Actor, OrganizationKind, RegionPath, Scope, Side, Timestamp};
use muster_storage::{
    Assignment, AuditVerification, Database, DatabaseUrl, FindingInput, FormRowEdit,
    NewOrganization, NewUser, OpenRound, RecordFilter, RecordProvenance, SampleMethod,
    SampleRequest, StorageError, SubmissionSource, SubmitOutcome, SurveyRound, on_both_databases,
};

const TENT: &str = "CAD.MAT.TENT_12";
const WATER: &str = "ECO.COM.BOTTLED_WATER";
const DEFIBRILLATOR: &str = "ECO.MED.DEFIBRILLATOR";

fn cli() -> Actor {
    Actor::command_line("test")
}

async fn intact(db: &Database) -> i64 {
    match db.verify_audit_chain(|_, _| {}).await.expect("verify runs") {
        AuditVerification::Intact { entries } => entries,
        AuditVerification::Broken(b) => panic!("chain broken: {b}"),
    }
}

/// A city with two counties (A and B), two member units in A and one in B, and a user for
/// each desk that takes part in a round.
struct World {
    city_code: String,
    county_a: (String, String),
    county_b: (String, String),
    other_city: String,
    unit_a1: i64,
    unit_a2: i64,
    unit_b1: i64,
    city_staff: Actor,
    county_a_staff: Actor,
    county_b_staff: Actor,
    other_city_staff: Actor,
    officer_a1: Actor,
    officer_a2: Actor,
}

async fn world(db: &Database) -> World {
    muster_storage::testing::import_tiny_demo_regions(db).await;
    let everything = Scope::everything();
    let province = db
        .region_view(&everything, Some("34"))
        .await
        .expect("province");
    let city = province.children[0].clone();
    let other_city = province.children[1].code.clone();
    let counties = db
        .region_view(&everything, Some(&city.code))
        .await
        .expect("city")
        .children;
    let county_a = (counties[0].code.clone(), counties[0].path.clone());
    let county_b = (counties[1].code.clone(), counties[1].path.clone());

    let organization = |name: &str, kind: OrganizationKind, code: &str| NewOrganization {
        name: name.into(),
        kind,
        side: Side::Civil,
        region_code: Some(code.into()),
    };
    let mut ids = Vec::new();
    for (name, kind, code) in [
        (
            "City office",
            OrganizationKind::MobilizationOffice,
            city.code.as_str(),
        ),
        (
            "County A office",
            OrganizationKind::MobilizationOffice,
            &county_a.0,
        ),
        (
            "County B office",
            OrganizationKind::MobilizationOffice,
            &county_b.0,
        ),
        (
            "Other city office",
            OrganizationKind::MobilizationOffice,
            &other_city,
        ),
        ("Transport A", OrganizationKind::MemberUnit, &county_a.0),
        ("Health A", OrganizationKind::MemberUnit, &county_a.0),
        ("Transport B", OrganizationKind::MemberUnit, &county_b.0),
    ] {
        ids.push(
            db.create_organization(&cli(), organization(name, kind, code))
                .await
                .expect("organization")
                .id,
        );
    }
    let user = |username: &str, organization_id: i64, roles: &str| NewUser {
        username: username.into(),
        display_name: username.into(),
        password_hash: "x".into(),
        organization_id,
        roles: Roles::parse_list(roles).expect("roles"),
    };
    let mut actors = Vec::new();
    for (name, org, roles) in [
        ("city", ids[0], "office_staff"),
        ("county-a", ids[1], "office_staff"),
        ("county-b", ids[2], "office_staff"),
        ("other-city", ids[3], "office_staff"),
        ("officer-a1", ids[4], "member_unit_officer"),
        ("officer-a2", ids[5], "member_unit_officer"),
    ] {
        actors.push(
            db.create_user(&cli(), user(name, org, roles))
                .await
                .expect("user")
                .actor(),
        );
    }
    let mut actors = actors.into_iter();
    let mut next = || actors.next().expect("actor");
    World {
        city_code: city.code.clone(),
        county_a,
        county_b,
        other_city,
        unit_a1: ids[4],
        unit_a2: ids[5],
        unit_b1: ids[6],
        city_staff: next(),
        county_a_staff: next(),
        county_b_staff: next(),
        other_city_staff: next(),
        officer_a1: next(),
        officer_a2: next(),
    }
}

fn tomorrow() -> Timestamp {
    Timestamp::from_millis(muster_storage::now().as_millis() + 86_400_000)
}

fn open(region_code: &str, types: &[&str]) -> OpenRound {
    OpenRound {
        title: "2026 annual survey".into(),
        region_code: Some(region_code.into()),
        type_codes: types.iter().map(|t| (*t).to_owned()).collect(),
        deadline: tomorrow(),
    }
}

async fn open_city_round(db: &Database, w: &World) -> (SurveyRound, Vec<Assignment>) {
    let (round, count) = db
        .open_round(&w.city_staff, open(&w.city_code, &[TENT, WATER]))
        .await
        .expect("the city opens a round");
    let assignments = db
        .round_assignments(&Scope::everything(), round.id, None)
        .await
        .expect("assignments");
    assert_eq!(assignments.len(), count);
    (round, assignments)
}

fn find<'a>(assignments: &'a [Assignment], path: &str, unit: Option<i64>) -> &'a Assignment {
    assignments
        .iter()
        .find(|a| a.region_path == path && a.organization_id == unit)
        .unwrap_or_else(|| panic!("an assignment for {path} {unit:?}"))
}

fn stored(outcome: SubmitOutcome) -> i64 {
    match outcome {
        SubmitOutcome::Stored { submission } => submission.version,
        other => panic!("expected a new version, got {other:?}"),
    }
}

on_both_databases!(a_round_is_decomposed_in_scope, decomposition_story);
/// A round covers its region's subtree down to the townships and every member unit in it;
/// only office staff in scope open one; readers see the rounds that cover them.
async fn decomposition_story(db: Database) {
    let w = world(&db).await;
    let (round, assignments) = open_city_round(&db, &w).await;
    assert_eq!(round.type_codes, vec![TENT.to_owned(), WATER.to_owned()]);

    // The city itself, 2 counties, 6 townships and 3 member units; no villages.
    assert_eq!(assignments.len(), 1 + 2 + 6 + 3);
    let root = assignments.iter().filter(|a| a.parent_id.is_none()).count();
    assert_eq!(root, 1);
    assert!(
        assignments
            .iter()
            .all(|a| RegionPath::parse(&a.region_path).expect("path").depth() <= 4)
    );
    let county_a = find(&assignments, &w.county_a.1, None);
    for unit in [w.unit_a1, w.unit_a2] {
        assert_eq!(
            find(&assignments, &w.county_a.1, Some(unit)).parent_id,
            Some(county_a.id),
            "a member unit is reviewed by its county"
        );
    }
    assert_eq!(
        find(&assignments, &w.county_b.1, Some(w.unit_b1)).parent_id,
        Some(find(&assignments, &w.county_b.1, None).id)
    );
    assert!(
        assignments
            .iter()
            .all(|a| a.status() == AssignmentStatus::Pending)
    );

    // Who may open a round, and for which region.
    assert!(matches!(
        db.open_round(&w.county_a_staff, open(&w.city_code, &[TENT]))
            .await,
        Err(StorageError::OutOfScope { .. })
    ));
    assert!(matches!(
        db.open_round(&w.officer_a1, open(&w.county_a.0, &[TENT]))
            .await,
        Err(StorageError::Forbidden(_))
    ));
    let mut past = open(&w.city_code, &["NO.SUCH.TYPE"]);
    past.deadline = Timestamp::from_millis(1);
    match db.open_round(&w.city_staff, past).await {
        Err(StorageError::Refused {
            field,
            message,
            message_zh,
        }) => {
            assert_eq!(field, "type_codes", "the first problem's field");
            assert!(message.contains("NO.SUCH.TYPE"), "{message}");
            assert!(message.contains("deadline"), "{message}");
            assert!(message_zh.contains("NO.SUCH.TYPE"), "{message_zh}");
            assert!(message_zh.contains("截止期限"), "{message_zh}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // A county sees the city's round, which covers it, and only its own assignments.
    let seen = db
        .survey_rounds(w.county_b_staff.scope())
        .await
        .expect("rounds");
    assert_eq!(
        seen.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![round.id]
    );
    let county_b_view = db
        .round_assignments(w.county_b_staff.scope(), round.id, None)
        .await
        .expect("county B's assignments");
    assert!(
        county_b_view
            .iter()
            .all(|a| a.region_path.starts_with(&w.county_b.1))
    );
    assert!(matches!(
        db.assignment_view(w.county_b_staff.scope(), county_a.id)
            .await,
        Err(StorageError::NotFound { .. })
    ));
    // The other city sees nothing of it.
    assert!(
        db.survey_rounds(w.other_city_staff.scope())
            .await
            .expect("rounds")
            .is_empty()
    );
    assert!(matches!(
        db.survey_round(w.other_city_staff.scope(), round.id).await,
        Err(StorageError::NotFound { .. })
    ));
    let _ = &w.other_city;
    assert!(intact(&db).await > 0);
}

fn csv(rows: &[(&str, f64, &str, &str)]) -> Vec<u8> {
    let mut text = String::from("type_code,quantity,holder_name,region_code\n");
    for (type_code, quantity, holder, region) in rows {
        text.push_str(&format!("{type_code},{quantity},{holder},{region}\n"));
    }
    text.into_bytes()
}

on_both_databases!(submissions_are_versions, versions_story);
/// A report and its corrections are versions of one submission: an unchanged re-upload is
/// recognised and not stored, a changed one is a new version with its differences, and
/// only the assignment's own desk may submit, with the round's types only.
async fn versions_story(db: Database) {
    let w = world(&db).await;
    let (round, assignments) = open_city_round(&db, &w).await;
    let a1 = find(&assignments, &w.county_a.1, Some(w.unit_a1)).id;
    let county = w.county_a.0.as_str();

    // Someone whose scope takes in county B (here the command line) reports for county A
    // rows of county B: each is named at its region cell, as outside the assignment.
    let elsewhere = w.county_b.0.as_str();
    match db
        .submit_survey_file(
            &cli(),
            a1,
            csv(&[
                (TENT, 1.0, "Depot 1", county),
                (TENT, 2.0, "Depot 2", elsewhere),
                (WATER, 3.0, "Depot 3", elsewhere),
            ]),
            "elsewhere.csv",
        )
        .await
    {
        Err(StorageError::SheetRejected(problems)) => {
            let places: Vec<(Option<u32>, Option<&str>)> = problems
                .0
                .iter()
                .map(|p| (p.row, p.column.as_deref()))
                .collect();
            assert_eq!(
                places,
                [(Some(3), Some("D")), (Some(4), Some("D"))],
                "{problems}"
            );
            assert!(problems.0[0].message.contains(elsewhere), "{problems}");
        }
        other => panic!("expected the rows outside refused, got {other:?}"),
    }

    let first = csv(&[
        (TENT, 400.0, "Red Cross", county),
        (WATER, 12.0, "Depot 1", county),
    ]);
    assert_eq!(
        stored(
            db.submit_survey_file(&w.officer_a1, a1, first.clone(), "a1.csv")
                .await
                .expect("v1")
        ),
        1
    );
    // The same file again, and the same rows in another order under another name.
    for (bytes, name) in [
        (first.clone(), "a1.csv"),
        (
            csv(&[
                (WATER, 12.0, "Depot 1", county),
                (TENT, 400.0, "Red Cross", county),
            ]),
            "a1-sorted.csv",
        ),
    ] {
        match db
            .submit_survey_file(&w.officer_a1, a1, bytes, name)
            .await
            .expect("recognised")
        {
            SubmitOutcome::Unchanged { version, .. } => assert_eq!(version, 1),
            other => panic!("expected unchanged, got {other:?}"),
        }
    }

    // A type outside the round, a bad row: the file is refused whole.
    match db
        .submit_survey_file(
            &w.officer_a1,
            a1,
            csv(&[
                (DEFIBRILLATOR, 2.0, "Clinic", county),
                (TENT, -1.0, "Red Cross", county),
            ]),
            "bad.csv",
        )
        .await
    {
        Err(StorageError::SheetRejected(problems)) => {
            let rows: BTreeSet<Option<u32>> = problems.0.iter().map(|p| p.row).collect();
            assert_eq!(rows, BTreeSet::from([Some(2), Some(3)]), "{problems}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Only the unit's own officer, or the staff of the assignment's own region.
    assert!(matches!(
        db.submit_survey_file(&w.officer_a2, a1, first.clone(), "a1.csv")
            .await,
        Err(StorageError::Forbidden(_))
    ));
    assert!(matches!(
        db.submit_survey_file(&w.county_a_staff, a1, first.clone(), "a1.csv")
            .await,
        Err(StorageError::Forbidden(_))
    ));
    assert!(matches!(
        db.submit_survey_file(&w.county_b_staff, a1, first.clone(), "a1.csv")
            .await,
        Err(StorageError::NotFound { .. })
    ));

    // A correction: one quantity changed, one holding added.
    let second = csv(&[
        (TENT, 450.0, "Red Cross", county),
        (WATER, 12.0, "Depot 1", county),
        (WATER, 30.0, "Depot 2", county),
    ]);
    assert_eq!(
        stored(
            db.submit_survey_file(&w.officer_a1, a1, second, "a1-v2.csv")
                .await
                .expect("v2")
        ),
        2
    );
    let view = db
        .assignment_view(&Scope::everything(), a1)
        .await
        .expect("view");
    assert_eq!(view.versions.len(), 2);
    assert_eq!(view.versions[0].version, 2);
    assert_eq!(view.versions[0].row_count, 3);
    assert_eq!(view.versions[1].status, "superseded");
    assert_eq!(view.assignment.status(), AssignmentStatus::Submitted);
    let diff = db
        .submission_diff(&Scope::everything(), a1, None)
        .await
        .expect("diff")
        .expect("a second version has a diff");
    assert_eq!((diff.from_version, diff.to_version), (1, 2));
    assert_eq!(diff.diff.unchanged, 1);
    assert_eq!(diff.diff.added.len(), 1);
    assert!(diff.diff.removed.is_empty());
    assert_eq!(diff.diff.changed.len(), 1);
    assert_eq!(diff.diff.changed[0].fields, vec!["quantity".to_owned()]);
    assert!(
        db.submission_diff(&Scope::everything(), a1, Some(1))
            .await
            .expect("diff of v1")
            .is_none()
    );
    // Rows as stored read back for the page.
    let rows = db
        .submission_records(w.county_a_staff.scope(), view.versions[0].id)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 3);
    // Nothing reaches the registry before approval.
    let totals = db
        .subtree_totals(&Scope::everything(), Some(county))
        .await
        .expect("totals");
    assert!(totals.by_type.is_empty());

    // The web form adds a row to the current version, as a new version; the same holding
    // twice is refused, and so is a type outside the round.
    let row = [
        ("type_code", WATER),
        ("quantity", "8"),
        ("holder_name", "Depot 3"),
        ("region_code", county),
    ];
    assert_eq!(
        stored(
            db.submit_survey_form_row(&w.officer_a1, a1, &row)
                .await
                .expect("v3")
        ),
        3
    );
    assert!(matches!(
        db.submit_survey_form_row(&w.officer_a1, a1, &row).await,
        Err(StorageError::SheetRejected(_))
    ));
    let wrong_type = [
        ("type_code", DEFIBRILLATOR),
        ("quantity", "1"),
        ("holder_name", "Clinic"),
        ("region_code", county),
    ];
    assert!(matches!(
        db.submit_survey_form_row(&w.officer_a1, a1, &wrong_type)
            .await,
        Err(StorageError::SheetRejected(_))
    ));
    let view = db
        .assignment_view(&Scope::everything(), a1)
        .await
        .expect("view");
    assert_eq!(view.versions[0].row_count, 4);
    assert_eq!(view.versions[0].source, "form");

    // The web form corrects one row's quantity, or takes a row out, each as a new version of
    // the version it showed.
    let v3 = view.versions[0].id;
    let rows = db
        .submission_records(&Scope::everything(), v3)
        .await
        .expect("rows");
    let (depot_3, _) = rows
        .iter()
        .find(|(_, d)| d.holder.name() == "Depot 3")
        .expect("the row added on the form");
    let depot_3 = *depot_3;
    let nine = FormRowEdit::Quantity(9.0);
    assert!(
        matches!(
            db.edit_survey_form_row(&w.county_b_staff, a1, v3, depot_3, nine)
                .await,
            Err(StorageError::NotFound { .. } | StorageError::Forbidden(_))
        ),
        "only the assignment's own desk"
    );
    assert_eq!(
        stored(
            db.edit_survey_form_row(&w.officer_a1, a1, v3, depot_3, nine)
                .await
                .expect("v4")
        ),
        4
    );
    // A correction of the version shown before v4 came in would land on another holding.
    assert!(matches!(
        db.edit_survey_form_row(&w.officer_a1, a1, v3, depot_3, FormRowEdit::Remove)
            .await,
        Err(StorageError::Conflict { .. })
    ));
    let v4 = db
        .assignment_view(&Scope::everything(), a1)
        .await
        .expect("view")
        .versions[0]
        .id;
    let rows = db
        .submission_records(&Scope::everything(), v4)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 4, "one row changed, none added");
    assert_eq!(
        rows.iter()
            .find(|(row, _)| *row == depot_3)
            .map(|(_, d)| d.quantity),
        Some(9.0)
    );
    assert!(matches!(
        db.edit_survey_form_row(&w.officer_a1, a1, v4, depot_3, nine)
            .await,
        Ok(SubmitOutcome::Unchanged { version: 4, .. })
    ));
    match db
        .edit_survey_form_row(&w.officer_a1, a1, v4, depot_3, FormRowEdit::Quantity(-1.0))
        .await
    {
        Err(StorageError::SheetRejected(problems)) => {
            assert_eq!(problems.0[0].row, Some(depot_3));
            assert!(problems.0[0].message_zh.is_some(), "{problems}");
        }
        other => panic!("a negative quantity: {other:?}"),
    }
    assert!(matches!(
        db.edit_survey_form_row(&w.officer_a1, a1, v4, 999, FormRowEdit::Remove)
            .await,
        Err(StorageError::Refused { field: "row", .. })
    ));
    assert_eq!(
        stored(
            db.edit_survey_form_row(&w.officer_a1, a1, v4, depot_3, FormRowEdit::Remove)
                .await
                .expect("v5")
        ),
        5
    );
    let view = db
        .assignment_view(&Scope::everything(), a1)
        .await
        .expect("view");
    assert_eq!(view.versions[0].row_count, 3);
    let _ = round;
    intact(&db).await;
}

on_both_databases!(reviews_go_up_the_hierarchy, review_story);
/// Approval goes bottom-up; a duplicate holding across two units is caught at approval;
/// a report sent back comes back as a new version; the dashboard shows how figures moved.
async fn review_story(db: Database) {
    let w = world(&db).await;
    let (round, assignments) = open_city_round(&db, &w).await;
    let everything = Scope::everything();
    let county = w.county_a.0.as_str();
    let a1 = find(&assignments, &w.county_a.1, Some(w.unit_a1)).id;
    let a2 = find(&assignments, &w.county_a.1, Some(w.unit_a2)).id;
    let county_a = find(&assignments, &w.county_a.1, None).id;
    let root = assignments
        .iter()
        .find(|a| a.parent_id.is_none())
        .expect("root")
        .id;

    db.submit_survey_file(
        &w.officer_a1,
        a1,
        csv(&[
            (TENT, 400.0, "Red Cross", county),
            (WATER, 12.0, "Depot 1", county),
        ]),
        "a1.csv",
    )
    .await
    .expect("a1 v1");
    // Unit A2 reports the Red Cross tents too (the same holder, type and site).
    db.submit_survey_file(
        &w.officer_a2,
        a2,
        csv(&[
            (WATER, 5.0, "Clinic store", county),
            (TENT, 400.0, "red cross", county),
        ]),
        "a2.csv",
    )
    .await
    .expect("a2 v1");

    // The same holding in two reports is shown before anyone approves.
    let duplicates = db
        .duplicate_holdings(w.county_a_staff.scope(), a2)
        .await
        .expect("duplicates");
    assert_eq!(duplicates.len(), 1, "{duplicates:?}");
    assert_eq!(duplicates[0].row_number, 3);
    assert_eq!(
        duplicates[0]
            .other
            .as_ref()
            .map(|o| (o.assignment_id, o.name.as_str())),
        Some((a1, "Transport A"))
    );
    assert!(
        db.duplicate_holdings(&everything, county_a)
            .await
            .expect("none")
            .is_empty()
    );

    // Reviewers: the county reviews its units; units do not review; the county does not
    // review itself.
    assert!(matches!(
        db.approve_assignment(&w.officer_a1, a1).await,
        Err(StorageError::Forbidden(_))
    ));
    assert!(matches!(
        db.approve_assignment(&w.county_b_staff, a1).await,
        Err(StorageError::NotFound { .. })
    ));
    db.approve_assignment(&w.county_a_staff, a1)
        .await
        .expect("the county approves A1");
    let totals = db
        .subtree_totals(&everything, Some(county))
        .await
        .expect("totals");
    assert_eq!(
        totals.by_type.len(),
        2,
        "approved figures reach the registry"
    );

    // The duplicate is caught at A2's approval, naming the row; nothing is stored.
    match db.approve_assignment(&w.county_a_staff, a2).await {
        Err(StorageError::SheetRejected(problems)) => {
            assert_eq!(problems.0.len(), 1, "{problems}");
            assert_eq!(problems.0[0].row, Some(3));
            assert!(problems.0[0].message.contains("already registered"));
        }
        other => panic!("expected the duplicate to be caught, got {other:?}"),
    }
    assert_eq!(
        db.subtree_totals(&everything, Some(county))
            .await
            .expect("t"),
        totals
    );
    assert_eq!(
        db.assignment_view(&everything, a2)
            .await
            .expect("a2")
            .assignment
            .status(),
        AssignmentStatus::Submitted
    );

    // Sent back with a comment (which is required), corrected as version 2.
    assert!(matches!(
        db.send_back_assignment(&w.county_a_staff, a2, "  ").await,
        Err(StorageError::Transition(TransitionError::CommentMissing))
    ));
    db.send_back_assignment(
        &w.county_a_staff,
        a2,
        "The tents are Transport A's; drop row 3",
    )
    .await
    .expect("sent back");
    let returned = db.assignment_view(&everything, a2).await.expect("a2");
    assert_eq!(returned.assignment.status(), AssignmentStatus::Returned);
    assert_eq!(
        returned.versions[0].review_comment.as_deref(),
        Some("The tents are Transport A's; drop row 3")
    );
    assert!(matches!(
        db.approve_assignment(&w.county_a_staff, a2).await,
        Err(StorageError::Transition(
            TransitionError::AwaitingCorrection
        ))
    ));
    db.submit_survey_file(
        &w.officer_a2,
        a2,
        csv(&[(WATER, 5.0, "Clinic store", county)]),
        "a2-v2.csv",
    )
    .await
    .expect("a2 v2");
    let diff = db
        .submission_diff(&everything, a2, None)
        .await
        .expect("diff")
        .expect("v2");
    assert_eq!(diff.diff.removed.len(), 1);
    assert_eq!(diff.diff.unchanged, 1);
    assert!(
        db.duplicate_holdings(&everything, a2)
            .await
            .expect("none after the correction")
            .is_empty()
    );
    let corrected = db.assignment_view(&everything, a2).await.expect("a2");
    assert_eq!(
        corrected.versions.len(),
        2,
        "a correction is a version, not a copy"
    );
    assert_eq!(corrected.versions[1].status, "returned");
    db.approve_assignment(&w.county_a_staff, a2)
        .await
        .expect("the corrected report is approved");

    // The county reports (nothing at county level) and is approved only when every
    // level below it is: its three townships too.
    db.submit_survey_rows(
        &w.county_a_staff,
        county_a,
        Vec::new(),
        SubmissionSource::Form,
    )
    .await
    .expect("an empty county report");
    match db.approve_assignment(&w.city_staff, county_a).await {
        Err(StorageError::Transition(blocked @ TransitionError::ChildrenNotApproved { .. })) => {
            assert!(blocked.to_string().contains("3 of the 5"), "{blocked}");
            assert_eq!(
                blocked.zh(),
                "下级 5 份报告中还有 3 份未审核通过；请先审核下级"
            );
        }
        other => panic!("expected the townships to block, got {other:?}"),
    }
    let townships: Vec<i64> = assignments
        .iter()
        .filter(|a| a.parent_id == Some(county_a) && a.organization_id.is_none())
        .map(|a| a.id)
        .collect();
    assert_eq!(townships.len(), 3);
    for township in &townships {
        db.submit_survey_rows(&cli(), *township, Vec::new(), SubmissionSource::Form)
            .await
            .expect("township report");
        db.approve_assignment(&w.county_a_staff, *township)
            .await
            .expect("township approved");
    }
    db.approve_assignment(&w.city_staff, county_a)
        .await
        .expect("the county is approved once everything below it is");

    // An approved report can no longer be sent back once the level above approved it.
    assert!(matches!(
        db.send_back_assignment(&w.county_a_staff, a1, "recount")
            .await,
        Err(StorageError::Transition(TransitionError::ParentApproved))
    ));
    // The city cannot approve its own level while county B is pending.
    db.submit_survey_rows(&w.city_staff, root, Vec::new(), SubmissionSource::Form)
        .await
        .expect("city report");
    assert!(matches!(
        db.approve_assignment(&w.city_staff, root).await,
        Err(StorageError::Transition(
            TransitionError::ChildrenNotApproved { .. }
        ))
    ));

    // The dashboard: completeness, timeliness and the movement of figures.
    let dashboard = db
        .round_dashboard(&everything, round.id, Some(&w.city_code))
        .await
        .expect("dashboard");
    assert_eq!(dashboard.completeness.assigned, 12);
    // A1, A2, county A, three townships, the city.
    assert_eq!(dashboard.completeness.reported, 7);
    assert_eq!(dashboard.completeness.on_time, 7);
    assert_eq!(dashboard.completeness.approved, 6);
    assert_eq!(dashboard.completeness.pending, 5);
    assert_eq!(dashboard.children.len(), 2);
    let tents = dashboard.movement.get(TENT).expect("tents");
    // Both units first listed the tents; only A1's stand, approved.
    assert_eq!(tents.first_reported, 800.0);
    assert_eq!(tents.latest_reported, 400.0);
    assert_eq!(tents.approved, 400.0);
    assert_eq!(tents.verified_count, 0);
    let water = dashboard.movement.get(WATER).expect("water");
    assert_eq!(water.approved, 17.0);
    assert_eq!(water.approved_count, 2);
    // County B's own view holds nothing of A's.
    let county_b = db
        .round_dashboard(w.county_b_staff.scope(), round.id, None)
        .await
        .expect("county B dashboard");
    assert_eq!(county_b.completeness.assigned, 5);
    assert!(county_b.movement.is_empty());
    // County B's staff cannot read the dashboard of county A.
    assert!(matches!(
        db.round_dashboard(w.county_b_staff.scope(), round.id, Some(county))
            .await,
        Err(StorageError::NotFound { .. })
    ));

    // The approved records carry their provenance and first-reported figure.
    let records = db
        .potential_records(
            &everything,
            &muster_storage::RecordFilter {
                region_code: Some(county.into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("records");
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.round_id == Some(round.id)));
    assert!(
        records
            .iter()
            .any(|r| r.reporting_organization_id == Some(w.unit_a2))
    );
    assert!(intact(&db).await > 0);
}

on_both_databases!(
    sending_back_an_approval_withdraws_its_records,
    withdraw_story
);
/// An approved report sent back (before the level above approved it) leaves the registry
/// until its corrected version is approved; first-reported figures come from version 1.
async fn withdraw_story(db: Database) {
    let w = world(&db).await;
    let (round, assignments) = open_city_round(&db, &w).await;
    let everything = Scope::everything();
    let county = w.county_a.0.as_str();
    let a1 = find(&assignments, &w.county_a.1, Some(w.unit_a1)).id;
    db.submit_survey_file(
        &w.officer_a1,
        a1,
        csv(&[(TENT, 10.0, "Depot", county)]),
        "v1.csv",
    )
    .await
    .expect("v1");
    db.submit_survey_file(
        &w.officer_a1,
        a1,
        csv(&[(TENT, 14.0, "Depot", county)]),
        "v2.csv",
    )
    .await
    .expect("v2");
    db.approve_assignment(&w.county_a_staff, a1)
        .await
        .expect("approved");
    let quantity = |db: Database| async move {
        db.subtree_totals(&Scope::everything(), Some(county))
            .await
            .expect("totals")
            .by_type
            .first()
            .map(|t| t.totals.quantity)
    };
    assert_eq!(quantity(db.clone()).await, Some(14.0));

    // Once a demand has had one of its records, even given back and available again, the
    // report stays: the allocation names the record. (The allocation is written here as a
    // released one, which the demand workflow leaves behind.)
    use muster_storage::testing::raw_execute;
    let stmts = [
        format!(
            "INSERT INTO demands (title, origin, classification, classification_rank, region_code, region_path, \
             status, received_at, created_by_name, updated_at) \
             VALUES ('drill', 'civilian', 'internal', 1, '{county}', \
             (SELECT path FROM regions WHERE code = '{county}'), 'closed', 0, 'test', 0)"
        ),
        format!(
            "INSERT INTO demand_lines (demand_id, line_no, type_code, quantity, lat, lon, needed_by, priority) \
             SELECT MAX(id), 1, '{TENT}', 14, 31.8, 117.2, 0, 1 FROM demands"
        ),
        "INSERT INTO demand_allocations (demand_id, line_id, record_id, quantity, released, great_circle_km, \
         travel_hours, unit_cost_cents, accepted_at, accepted_by_name) \
         SELECT l.demand_id, l.id, p.id, 14, 14, 1.0, 1.0, 0, 0, 'test' \
         FROM demand_lines l, potential_records p WHERE p.round_id IS NOT NULL \
         AND l.id = (SELECT MAX(id) FROM demand_lines) AND p.id = (SELECT MAX(id) FROM potential_records)"
            .to_owned(),
    ];
    for stmt in &stmts {
        assert_eq!(raw_execute(&db, stmt).await.expect(stmt), 1, "{stmt}");
    }
    match db
        .send_back_assignment(&w.county_a_staff, a1, "the depot holds 20")
        .await
    {
        Err(StorageError::Conflict {
            field: "status",
            message_zh: Some(zh),
            ..
        }) => assert!(zh.contains("调配或征用"), "{zh}"),
        other => panic!("a report whose record was allocated: {other:?}"),
    }
    assert_eq!(quantity(db.clone()).await, Some(14.0), "nothing withdrawn");
    for table in ["demand_allocations", "demand_lines", "demands"] {
        raw_execute(&db, &format!("DELETE FROM {table}"))
            .await
            .expect("cleared");
    }

    db.send_back_assignment(&w.county_a_staff, a1, "the depot holds 20")
        .await
        .expect("sent back");
    assert_eq!(
        quantity(db.clone()).await,
        None,
        "withdrawn from the totals"
    );
    db.submit_survey_file(
        &w.officer_a1,
        a1,
        csv(&[(TENT, 20.0, "Depot", county)]),
        "v3.csv",
    )
    .await
    .expect("v3");
    db.approve_assignment(&w.county_a_staff, a1)
        .await
        .expect("approved again");
    assert_eq!(quantity(db.clone()).await, Some(20.0));
    let records = db
        .potential_records(
            &everything,
            &muster_storage::RecordFilter {
                region_code: Some(county.into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].first_reported_quantity, 10.0);
    let movement = db
        .round_dashboard(&everything, round.id, None)
        .await
        .expect("dashboard")
        .movement;
    let tents = movement.get(TENT).expect("tents");
    assert_eq!(
        (tents.first_reported, tents.latest_reported, tents.approved),
        (10.0, 20.0, 20.0)
    );
    intact(&db).await;
}

on_both_databases!(
    an_office_gives_more_time_then_closes_its_round,
    close_and_extend_story
);
/// The office that runs a round gives its units more time (only later, only while open) and
/// closes it; a county below may do neither; once closed, nothing is submitted any more.
async fn close_and_extend_story(db: Database) {
    let w = world(&db).await;
    let (round, assignments) = open_city_round(&db, &w).await;
    let a1 = find(&assignments, &w.county_a.1, Some(w.unit_a1)).id;
    let later = Timestamp::from_millis(round.deadline.as_millis() + 7 * 86_400_000);

    assert!(matches!(
        db.extend_round_deadline(&w.county_a_staff, round.id, later)
            .await,
        Err(StorageError::Forbidden(_))
    ));
    assert!(matches!(
        db.close_round(&w.officer_a1, round.id).await,
        Err(StorageError::Forbidden(_))
    ));
    assert!(matches!(
        db.close_round(&w.other_city_staff, round.id).await,
        Err(StorageError::NotFound { .. })
    ));
    let earlier = Timestamp::from_millis(round.deadline.as_millis() - 1);
    assert!(matches!(
        db.extend_round_deadline(&w.city_staff, round.id, earlier)
            .await,
        Err(StorageError::Transition(
            TransitionError::DeadlineNotExtended
        ))
    ));
    // One unit given more time by the office that reviews it (not by itself): past the
    // round's deadline it is still pending while the others are missing.
    let a2 = find(&assignments, &w.county_a.1, Some(w.unit_a2)).id;
    let its_own = Timestamp::from_millis(round.deadline.as_millis() + 14 * 86_400_000);
    assert!(matches!(
        db.extend_assignment_deadline(&w.officer_a1, a1, its_own)
            .await,
        Err(StorageError::Forbidden(_))
    ));
    assert!(matches!(
        db.extend_assignment_deadline(&w.county_a_staff, a1, round.deadline)
            .await,
        Err(StorageError::Transition(
            TransitionError::DeadlineNotExtended
        ))
    ));
    let before_more_time = intact(&db).await;
    let given = db
        .extend_assignment_deadline(&w.county_a_staff, a1, its_own)
        .await
        .expect("more time for one unit");
    assert_eq!(intact(&db).await, before_more_time + 1, "audited");
    assert_eq!(given.deadline, Some(its_own.as_millis()));
    assert_eq!(given.deadline_within(round.deadline), its_own);
    // A round extended past it since holds it to the round's.
    let further = Timestamp::from_millis(its_own.as_millis() + 1);
    assert_eq!(given.deadline_within(further), further);
    let after_the_round = Timestamp::from_millis(round.deadline.as_millis() + 86_400_000);
    let listed = db
        .round_assignments(&Scope::everything(), round.id, None)
        .await
        .expect("assignments");
    let timeliness = |id: i64| {
        listed
            .iter()
            .find(|a| a.id == id)
            .expect("assignment")
            .timeliness(round.deadline, after_the_round)
    };
    assert_eq!(timeliness(a1), Timeliness::Pending);
    assert_eq!(timeliness(a2), Timeliness::Missing);

    let entries = intact(&db).await;
    let extended = db
        .extend_round_deadline(&w.city_staff, round.id, later)
        .await
        .expect("more time");
    assert_eq!(extended.deadline, later);
    assert_eq!(
        db.survey_round(w.city_staff.scope(), round.id)
            .await
            .expect("round")
            .deadline,
        later
    );

    stored(
        db.submit_survey_file(
            &w.officer_a1,
            a1,
            csv(&[(WATER, 6.0, "Depot", w.county_a.0.as_str())]),
            "a1.csv",
        )
        .await
        .expect("reported before the close"),
    );
    let reported = db
        .assignment_view(&Scope::everything(), a1)
        .await
        .expect("view")
        .versions[0]
        .id;
    // Reported, its timeliness is settled: more time would only rewrite it.
    let later_still = Timestamp::from_millis(its_own.as_millis() + 86_400_000);
    assert!(matches!(
        db.extend_assignment_deadline(&w.county_a_staff, a1, later_still)
            .await,
        Err(StorageError::Transition(TransitionError::AlreadyReported))
    ));
    let closed = db
        .close_round(&w.city_staff, round.id)
        .await
        .expect("closed");
    assert_eq!(closed.status.as_str(), "closed");
    assert_eq!(
        intact(&db).await,
        entries + 3,
        "the extension, the report and the close audited"
    );
    assert!(matches!(
        db.close_round(&w.city_staff, round.id).await,
        Err(StorageError::Transition(TransitionError::RoundClosed))
    ));
    assert!(matches!(
        db.extend_round_deadline(
            &w.city_staff,
            round.id,
            Timestamp::from_millis(later.as_millis() + 1)
        )
        .await,
        Err(StorageError::Transition(TransitionError::RoundClosed))
    ));
    let refused = db
        .submit_survey_file(
            &w.officer_a1,
            a1,
            csv(&[(TENT, 4.0, "Depot", w.county_a.0.as_str())]),
            "late.csv",
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(StorageError::Transition(TransitionError::RoundClosed))
        ),
        "{refused:?}"
    );
    // Nor is a row corrected on the form.
    let corrected = db
        .edit_survey_form_row(&w.officer_a1, a1, reported, 2, FormRowEdit::Quantity(7.0))
        .await;
    assert!(
        matches!(
            corrected,
            Err(StorageError::Transition(TransitionError::RoundClosed))
        ),
        "{corrected:?}"
    );

    // Reopened by the office that runs it, until a deadline still to come: the late report
    // goes in; an open round is not reopened again.
    let entries = intact(&db).await;
    let next_week = Timestamp::from_millis(muster_storage::now().as_millis() + 7 * 86_400_000);
    assert!(matches!(
        db.reopen_round(&w.county_a_staff, round.id, next_week)
            .await,
        Err(StorageError::Forbidden(_))
    ));
    assert!(matches!(
        db.reopen_round(&w.city_staff, round.id, Timestamp::from_millis(1))
            .await,
        Err(StorageError::Transition(
            TransitionError::ReopenDeadlinePassed
        ))
    ));
    let reopened = db
        .reopen_round(&w.city_staff, round.id, next_week)
        .await
        .expect("reopened");
    assert_eq!(reopened.status.as_str(), "open");
    assert_eq!(reopened.deadline, next_week);
    assert_eq!(intact(&db).await, entries + 1, "audited");
    stored(
        db.submit_survey_file(
            &w.officer_a1,
            a1,
            csv(&[(TENT, 4.0, "Depot", w.county_a.0.as_str())]),
            "late.csv",
        )
        .await
        .expect("the late report goes in"),
    );
    assert!(matches!(
        db.reopen_round(&w.city_staff, round.id, next_week).await,
        Err(StorageError::Transition(TransitionError::RoundOpen))
    ));
}

/// PostgreSQL runs writers side by side: a report whose write began while a close of the
/// round was being made waits for that close, then is refused; it never lands in the round
/// after the close committed. (SQLite runs one writer at a time.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_racing_the_close_of_its_round_waits_and_is_refused() {
    use muster_storage::testing::{TestDatabase, a_session_waits_for_a_lock};
    use sqlx::{Connection, PgConnection};
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let DatabaseUrl::Postgres(url) = &test_db.url else {
        panic!("a PostgreSQL test database");
    };
    let db = test_db.db.clone();
    let w = world(&db).await;
    let (round, assignments) = open_city_round(&db, &w).await;
    let a1 = find(&assignments, &w.county_a.1, Some(w.unit_a1)).id;

    // Another session closes the round and has not committed yet.
    let mut closer = PgConnection::connect(url).await.expect("a second session");
    let mut closing = closer.begin().await.expect("begin");
    sqlx::query("UPDATE survey_rounds SET status = 'closed' WHERE id = $1")
        .bind(round.id)
        .execute(&mut *closing)
        .await
        .expect("close");

    let report = tokio::spawn({
        let db = db.clone();
        let officer = w.officer_a1.clone();
        let file = csv(&[(TENT, 4.0, "Depot", w.county_a.0.as_str())]);
        async move {
            db.submit_survey_file(&officer, a1, file, "racing.csv")
                .await
        }
    });
    // The report waits for the close's lock on the round (seen by the server, not timed).
    let waited = a_session_waits_for_a_lock(url, || report.is_finished()).await;
    assert!(waited, "the report did not wait for the close");
    closing.commit().await.expect("the close commits");
    let refused = report.await.expect("the report's task");
    assert!(
        matches!(
            refused,
            Err(StorageError::Transition(TransitionError::RoundClosed))
        ),
        "{refused:?}"
    );
    let stored = db
        .round_assignments(&Scope::everything(), round.id, None)
        .await
        .expect("assignments");
    assert_eq!(
        find(&stored, &w.county_a.1, Some(w.unit_a1)).status,
        AssignmentStatus::Pending.as_str(),
        "nothing was submitted"
    );
    test_db.db.close().await;
}

/// One row as a test submits it, with its region's path so the test itself can tell which
/// subtree it falls in.
#[derive(Debug, Clone)]
struct Line {
    type_code: &'static str,
    quantity: f64,
    holder: &'static str,
    region: (String, String),
}

fn line(
    type_code: &'static str,
    quantity: f64,
    holder: &'static str,
    region: &(String, String),
) -> Line {
    Line {
        type_code,
        quantity,
        holder,
        region: region.clone(),
    }
}

fn csv_of(lines: &[Line]) -> Vec<u8> {
    let rows: Vec<(&str, f64, &str, &str)> = lines
        .iter()
        .map(|l| (l.type_code, l.quantity, l.holder, l.region.0.as_str()))
        .collect();
    csv(&rows)
}

/// What one assignment reported, version by version, as the test sent it, and whether the
/// review left its last version approved.
struct Reported {
    versions: Vec<Vec<Line>>,
    approved: bool,
}

/// What a verifier found for one record (by type and holder, unique in the story), and what
/// the test expects that to leave on the record: its quantity, and the quantity it counts as
/// verified (None when the finding reopened it).
struct Found {
    type_code: &'static str,
    holder: &'static str,
    seen: f64,
    location_right: bool,
    quantity_after: f64,
    verified: Option<f64>,
}

/// The dashboard's figures for `subtree`, worked out from what the test sent and found, not
/// read back: each holding an assignment listed in its first or last version counts once,
/// at its quantity in version 1 and in the last version (0 where a version does not list
/// it); it is approved when the assignment ends approved and its last version lists it (at
/// the record's quantity after the findings), and verified when a finding verified it. The
/// domain's `movement_by_type` sums them per type.
fn expected_movement(
    reports: &[Reported],
    findings: &[Found],
    subtree: &str,
) -> BTreeMap<String, FigureMovement> {
    let mut stages = Vec::new();
    for report in reports {
        let first = report.versions.first().expect("a version");
        let last = report.versions.last().expect("a version");
        let holdings: BTreeSet<(&str, &str, &str)> = first
            .iter()
            .chain(last)
            .filter(|l| l.region.1.starts_with(subtree))
            .map(|l| (l.type_code, l.holder, l.region.1.as_str()))
            .collect();
        for (type_code, holder, path) in holdings {
            let quantity_in = |lines: &[Line]| {
                lines
                    .iter()
                    .find(|l| l.type_code == type_code && l.holder == holder && l.region.1 == path)
                    .map(|l| l.quantity)
            };
            let latest = quantity_in(last);
            let found = findings
                .iter()
                .find(|f| f.type_code == type_code && f.holder == holder);
            // As approved: a correction found on site since is not an approval.
            let approved = latest.filter(|_| report.approved);
            stages.push(RecordStages {
                type_code,
                first_reported: quantity_in(first).unwrap_or(0.0),
                latest_reported: latest.unwrap_or(0.0),
                approved,
                verified: approved.and(found.and_then(|f| f.verified)),
            });
        }
    }
    movement_by_type(stages)
}

on_both_databases!(
    the_dashboard_sums_reports_approvals_and_findings,
    dashboard_figures_story
);
/// The dashboard's movement of figures, per type and subtree, after a round with a report
/// sent back and corrected (a holding changed, one dropped, one added), a report corrected
/// before review, one approved and then sent back, a report that names the same holding as
/// another, and findings that verify, correct and reopen records: each subtree's figures are
/// those the test works out from what it sent (`expected_movement`).
async fn dashboard_figures_story(db: Database) {
    let w = world(&db).await;
    let (round, assignments) = open_city_round(&db, &w).await;
    let everything = Scope::everything();
    let region_of = |code: &str, path: &str| (code.to_owned(), path.to_owned());
    let county_a = region_of(&w.county_a.0, &w.county_a.1);
    let county_b = region_of(&w.county_b.0, &w.county_b.1);
    let townships = db
        .region_view(&everything, Some(&w.county_a.0))
        .await
        .expect("county A")
        .children;
    let t1 = region_of(&townships[0].code, &townships[0].path);
    let t2 = region_of(&townships[1].code, &townships[1].path);
    let a1 = find(&assignments, &w.county_a.1, Some(w.unit_a1)).id;
    let a2 = find(&assignments, &w.county_a.1, Some(w.unit_a2)).id;
    let b1 = find(&assignments, &w.county_b.1, Some(w.unit_b1)).id;
    let township_1 = find(&assignments, &t1.1, None).id;

    // Unit A1: version 1 is sent back; version 2 changes the tents, keeps the water, drops
    // the tents of Depot 2 and adds Depot 3's water in a township. Approved.
    let a1_versions = vec![
        vec![
            line(TENT, 100.0, "Depot 1", &county_a),
            line(WATER, 20.0, "Depot 1", &county_a),
            line(TENT, 50.0, "Depot 2", &t1),
        ],
        vec![
            line(TENT, 120.0, "Depot 1", &county_a),
            line(WATER, 20.0, "Depot 1", &county_a),
            line(WATER, 8.0, "Depot 3", &t1),
        ],
    ];
    stored(
        db.submit_survey_file(&w.officer_a1, a1, csv_of(&a1_versions[0]), "a1.csv")
            .await
            .expect("A1 v1"),
    );
    db.send_back_assignment(&w.county_a_staff, a1, "Depot 1 has more tents")
        .await
        .expect("A1 sent back");
    stored(
        db.submit_survey_file(&w.officer_a1, a1, csv_of(&a1_versions[1]), "a1-v2.csv")
            .await
            .expect("A1 v2"),
    );
    db.approve_assignment(&w.county_a_staff, a1)
        .await
        .expect("A1 approved");

    // Unit A2 lists Depot 1's tents too, and corrects its water before anyone reviews it.
    let a2_versions = vec![
        vec![
            line(TENT, 30.0, "Store", &t2),
            line(WATER, 5.0, "Clinic", &county_a),
            line(TENT, 100.0, "Depot 1", &county_a),
        ],
        vec![
            line(TENT, 30.0, "Store", &t2),
            line(WATER, 6.0, "Clinic", &county_a),
            line(TENT, 100.0, "Depot 1", &county_a),
        ],
    ];
    for (n, version) in a2_versions.iter().enumerate() {
        stored(
            db.submit_survey_file(&w.officer_a2, a2, csv_of(version), &format!("a2-{n}.csv"))
                .await
                .expect("A2"),
        );
    }

    // Unit B1 corrects its tents and adds water before review; approved.
    let b1_versions = vec![
        vec![line(TENT, 70.0, "Depot B", &county_b)],
        vec![
            line(TENT, 75.0, "Depot B", &county_b),
            line(WATER, 10.0, "Well B", &county_b),
        ],
    ];
    for (n, version) in b1_versions.iter().enumerate() {
        stored(
            db.submit_survey_file(&cli(), b1, csv_of(version), &format!("b1-{n}.csv"))
                .await
                .expect("B1"),
        );
    }
    db.approve_assignment(&w.county_b_staff, b1)
        .await
        .expect("B1 approved");

    // Township 1 is approved, then sent back and not corrected: its records leave the
    // registry again.
    let township_versions = vec![vec![line(WATER, 40.0, "Village well", &t1)]];
    stored(
        db.submit_survey_file(&cli(), township_1, csv_of(&township_versions[0]), "t1.csv")
            .await
            .expect("township 1"),
    );
    db.approve_assignment(&w.county_a_staff, township_1)
        .await
        .expect("township 1 approved");
    db.send_back_assignment(&w.county_a_staff, township_1, "recount the well")
        .await
        .expect("township 1 sent back");

    // Every approved record of the round is drawn and dealt to the city's staff, who finds:
    // Depot 1's tents 2.5 % short (verified, kept), its water 10 % short (verified, corrected),
    // Depot 3's water elsewhere (reopened), Depot B's tents 25 % over (reopened, corrected).
    let findings = [
        Found {
            type_code: TENT,
            holder: "Depot 1",
            seen: 117.0,
            location_right: true,
            quantity_after: 120.0,
            verified: Some(117.0),
        },
        Found {
            type_code: WATER,
            holder: "Depot 1",
            seen: 18.0,
            location_right: true,
            quantity_after: 18.0,
            verified: Some(18.0),
        },
        Found {
            type_code: WATER,
            holder: "Depot 3",
            seen: 8.0,
            location_right: false,
            quantity_after: 8.0,
            verified: None,
        },
        Found {
            type_code: TENT,
            holder: "Depot B",
            seen: 100.0,
            location_right: true,
            quantity_after: 100.0,
            verified: None,
        },
    ];
    let sample = db
        .draw_sample(
            &w.city_staff,
            &SampleRequest {
                region_code: Some(w.city_code.clone()),
                round_id: Some(round.id),
                method: SampleMethod::Stratified(SampleSize::Count(100)),
                seed: Some(7),
                tolerance: Tolerance::default(),
            },
        )
        .await
        .expect("a sample of the round's records");
    let verifier = w.city_staff.user_id().expect("a user");
    assert_eq!(
        db.assign_sample(&w.city_staff, sample.id, &[verifier])
            .await
            .expect("dealt"),
        5,
        "A1's three records and B1's two"
    );
    let items = db
        .my_verification_items(&w.city_staff, false)
        .await
        .expect("items");
    for found in &findings {
        let item = items
            .iter()
            .find(|i| i.type_code == found.type_code && i.holder_name == found.holder)
            .unwrap_or_else(|| panic!("an item for {} {}", found.holder, found.type_code));
        db.record_finding(
            &w.city_staff,
            sample.id,
            item.record_id,
            FindingInput {
                quantity_seen: found.seen,
                location_right: found.location_right,
                type_right: true,
                notes: String::new(),
                photos: Vec::new(),
            },
        )
        .await
        .expect("finding");
    }
    // The findings left the records as the test expects (its premise, not the dashboard).
    let records = db
        .potential_records(
            &everything,
            &RecordFilter {
                region_code: Some(w.city_code.clone()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("records");
    assert_eq!(records.len(), 5, "A1's and B1's; the township's left");
    for found in &findings {
        let record = records
            .iter()
            .find(|r| r.type_code == found.type_code && r.holder_name == found.holder)
            .expect("the record");
        assert_eq!(
            (
                record.quantity,
                record.last_verified_at.and(record.verified_quantity)
            ),
            (found.quantity_after, found.verified),
            "{} {}",
            found.holder,
            found.type_code
        );
    }

    let reports = [
        Reported {
            versions: a1_versions,
            approved: true,
        },
        Reported {
            versions: a2_versions,
            approved: false,
        },
        Reported {
            versions: b1_versions,
            approved: true,
        },
        Reported {
            versions: township_versions,
            approved: false,
        },
    ];
    let mut paths = Vec::new();
    for code in [&w.city_code, &w.other_city] {
        let view = db
            .region_view(&everything, Some(code))
            .await
            .expect("region");
        paths.push(view.region.expect("a region").path);
    }
    let (city_path, other_city) = (&paths[0], &paths[1]);
    for (region, path) in [
        (&w.city_code, city_path),
        (&county_a.0, &county_a.1),
        (&county_b.0, &county_b.1),
        (&t1.0, &t1.1),
        (&t2.0, &t2.1),
        (&w.other_city, other_city),
    ] {
        let dashboard = db
            .round_dashboard(&everything, round.id, Some(region))
            .await
            .expect("dashboard");
        assert_eq!(dashboard.path.as_str(), path.as_str());
        assert_eq!(
            dashboard.movement,
            expected_movement(&reports, &findings, path),
            "the dashboard of {path}"
        );
    }

    // The city's figures, spelled out.
    let city = db
        .round_dashboard(w.city_staff.scope(), round.id, None)
        .await
        .expect("the city's own dashboard")
        .movement;
    assert_eq!(
        city[TENT],
        FigureMovement {
            // A1: 100 → 120 and 50 → dropped; A2: 30 and 100; B1: 70 → 75.
            first_reported: 350.0,
            latest_reported: 325.0,
            // A1's Depot 1 and B1's Depot B, as approved (Depot B's correction to 100 on
            // site is not an approval).
            approved: 195.0,
            verified: 117.0,
            record_count: 5,
            approved_count: 2,
            verified_count: 1,
            verified_first_reported: 100.0,
        }
    );
    assert_eq!(
        city[WATER],
        FigureMovement {
            // A1: 20 and + 8; A2: 5 → 6; B1: + 10; the township: 40.
            first_reported: 65.0,
            latest_reported: 84.0,
            // A1's Depot 1 and Depot 3, B1's well, as approved (Depot 1's 18 seen is the
            // verified figure).
            approved: 38.0,
            verified: 18.0,
            record_count: 5,
            approved_count: 3,
            verified_count: 1,
            verified_first_reported: 20.0,
        }
    );
    // In the township, unit A1's record counts as approved although A1 reports for the county
    // above it: what makes a holding approved is its own assignment's review.
    let township = db
        .round_dashboard(&everything, round.id, Some(&t1.0))
        .await
        .expect("township 1")
        .movement;
    assert_eq!(
        (township[WATER].latest_reported, township[WATER].approved),
        (48.0, 8.0)
    );
    assert_eq!(
        (
            township[TENT].first_reported,
            township[TENT].latest_reported
        ),
        (50.0, 0.0)
    );
    assert!(intact(&db).await > 0);
}

/// Migration 0014 fills `submission_rows.type_code` and `.quantity` from each row's JSON. The
/// story takes a database back to before 0014 (the columns and their index dropped, the
/// migration forgotten), spoils some rows as they could have been stored, and opens the
/// database again, which runs 0014 once more: the good rows get their figures, a spoiled one
/// keeps NULL where its JSON has nothing to give, the migration goes on, and the dashboard
/// leaves those rows out.
mod submission_row_figures_are_filled_in_by_migration_0014 {
    use muster_storage::testing::TestDatabase;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::submission_row_figures_backfill(TestDatabase::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(test_db) = TestDatabase::postgres().await else {
            return;
        };
        super::submission_row_figures_backfill(test_db).await;
    }
}

async fn submission_row_figures_backfill(test_db: muster_storage::testing::TestDatabase) {
    use muster_storage::testing::raw_execute;
    let db = test_db.db.clone();
    let w = world(&db).await;
    let (round, assignments) = open_city_round(&db, &w).await;
    let everything = Scope::everything();
    let county = w.county_a.0.as_str();
    let a1 = find(&assignments, &w.county_a.1, Some(w.unit_a1)).id;
    let a2 = find(&assignments, &w.county_a.1, Some(w.unit_a2)).id;
    db.submit_survey_file(
        &w.officer_a1,
        a1,
        csv(&[
            (TENT, 100.0, "Depot 1", county),
            (WATER, 20.0, "Depot 1", county),
            (TENT, 50.0, "Depot 2", county),
        ]),
        "a1.csv",
    )
    .await
    .expect("A1");
    db.submit_survey_file(
        &w.officer_a2,
        a2,
        csv(&[
            (WATER, 5.5, "Clinic", county),
            (TENT, 30.0, "Store", county),
        ]),
        "a2.csv",
    )
    .await
    .expect("A2");

    // Where each row is: (submission, row number) by holder and type.
    let mut rows = Vec::new();
    for assignment in [a1, a2] {
        let view = db
            .assignment_view(&everything, assignment)
            .await
            .expect("view");
        let submission = view.versions[0].id;
        for (row, draft) in db
            .submission_records(&everything, submission)
            .await
            .expect("rows")
        {
            rows.push((
                submission,
                row,
                draft.holder.name().to_owned(),
                draft.type_code,
            ));
        }
    }
    assert_eq!(rows.len(), 5);
    let at = |holder: &str, type_code: &str| {
        let (submission, row, ..) = rows
            .iter()
            .find(|(_, _, h, t)| h == holder && t == type_code)
            .expect("the row");
        format!("submission_id = {submission} AND row_number = {row}")
    };
    let spoiled = [
        // A quantity that is no number: the type is kept, the quantity not.
        (
            at("Depot 1", WATER),
            format!(r#"{{"type_code":"{WATER}","quantity":"20"}}"#),
        ),
        // A type that is no string: the quantity is kept, the type not.
        (
            at("Depot 2", TENT),
            r#"{"type_code":5,"quantity":50.0}"#.to_owned(),
        ),
        // Not JSON: neither, and the migration goes on.
        (at("Store", TENT), r#"{"type_code": "CAD"#.to_owned()),
    ];
    for (row, record) in &spoiled {
        assert_eq!(
            raw_execute(
                &db,
                &format!("UPDATE submission_rows SET record = '{record}' WHERE {row}")
            )
            .await
            .expect("a row as it could have been stored"),
            1
        );
    }
    raw_execute(
        &db,
        "DROP INDEX submission_rows_holding; \
         ALTER TABLE submission_rows DROP COLUMN type_code; \
         ALTER TABLE submission_rows DROP COLUMN quantity; \
         DELETE FROM _sqlx_migrations WHERE version = 14",
    )
    .await
    .expect("back to before 0014");

    let migrated = Database::open(&test_db.url).await.expect("0014 runs again");
    // Rows counted by what 0014 gave them (an UPDATE that changes nothing counts them).
    let count = |condition: String| {
        let migrated = migrated.clone();
        async move {
            raw_execute(
                &migrated,
                &format!("UPDATE submission_rows SET quantity = quantity WHERE {condition}"),
            )
            .await
            .expect("count")
        }
    };
    for (holder, type_code, quantity) in [("Depot 1", TENT, 100.0), ("Clinic", WATER, 5.5)] {
        assert_eq!(
            count(format!(
                "{} AND type_code = '{type_code}' AND quantity = {quantity}",
                at(holder, type_code)
            ))
            .await,
            1,
            "{holder} {type_code}"
        );
    }
    let (water, tent, store) = (at("Depot 1", WATER), at("Depot 2", TENT), at("Store", TENT));
    assert_eq!(
        count(format!(
            "{water} AND type_code = '{WATER}' AND quantity IS NULL"
        ))
        .await,
        1
    );
    assert_eq!(
        count(format!("{tent} AND type_code IS NULL AND quantity = 50")).await,
        1
    );
    assert_eq!(
        count(format!(
            "{store} AND type_code IS NULL AND quantity IS NULL"
        ))
        .await,
        1
    );
    assert_eq!(
        count("type_code IS NOT NULL AND quantity IS NOT NULL".to_owned()).await,
        2
    );

    // The dashboard sums the rows that have their figures and leaves the others out.
    let movement = migrated
        .round_dashboard(&everything, round.id, None)
        .await
        .expect("the dashboard reads")
        .movement;
    // Reported in a first version that is still the current one, not yet reviewed.
    let reported = |quantity: f64, record_count: u64| FigureMovement {
        first_reported: quantity,
        latest_reported: quantity,
        record_count,
        ..FigureMovement::default()
    };
    assert_eq!(
        movement,
        BTreeMap::from([
            (TENT.to_owned(), reported(100.0, 1)),
            (WATER.to_owned(), reported(5.5, 1))
        ])
    );

    // A version stored after the migration has its figures from the start. (A1 and A2 get
    // no new version here: storing one reads their current rows, which no longer read.)
    let b1 = find(&assignments, &w.county_b.1, Some(w.unit_b1)).id;
    migrated
        .submit_survey_file(
            &cli(),
            b1,
            csv(&[(TENT, 7.0, "Depot B", w.county_b.0.as_str())]),
            "b1.csv",
        )
        .await
        .expect("B1");
    let latest = migrated
        .round_dashboard(&everything, round.id, None)
        .await
        .expect("the dashboard reads")
        .movement;
    assert_eq!(latest[TENT], reported(107.0, 2), "Depot 1's tents and B1's");
    assert_eq!(latest[WATER], reported(5.5, 1));
    migrated.close().await;
}

on_both_databases!(
    a_later_round_renews_the_holdings_of_an_earlier_one,
    renewal_story
);
/// Next year's round reports the same holdings again: its approval updates the records in
/// place (last year's quantity kept as the previous figure), never a second record; sending
/// it back puts last year's record back exactly, and the earlier round's dashboard keeps
/// the figures it approved.
async fn renewal_story(db: Database) {
    use muster_storage::testing::raw_execute;
    let w = world(&db).await;
    let everything = Scope::everything();
    let county = w.county_a.0.as_str();
    let records = |db: Database| async move {
        db.potential_records(
            &Scope::everything(),
            &RecordFilter {
                region_code: Some(county.into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("records")
    };
    let quantity = |db: Database| async move {
        db.subtree_totals(&Scope::everything(), Some(county))
            .await
            .expect("totals")
            .by_type
            .iter()
            .find(|t| t.type_code == TENT)
            .map(|t| (t.totals.quantity, t.totals.record_count))
    };
    let approved = |db: Database, round: i64| async move {
        db.round_dashboard(&Scope::everything(), round, None)
            .await
            .expect("dashboard")
            .movement
            .get(TENT)
            .map(|m| m.approved)
    };

    let (first, assignments) = open_city_round(&db, &w).await;
    let a1 = find(&assignments, &w.county_a.1, Some(w.unit_a1)).id;
    db.submit_survey_file(
        &w.officer_a1,
        a1,
        csv(&[(TENT, 10.0, "Depot", county)]),
        "2026.csv",
    )
    .await
    .expect("last year's report");
    db.approve_assignment(&w.county_a_staff, a1)
        .await
        .expect("last year's approval");
    let last_year = records(db.clone()).await;
    assert_eq!(last_year.len(), 1);
    assert_eq!(quantity(db.clone()).await, Some((10.0, 1)));

    let (second, _) = db
        .open_round(
            &w.city_staff,
            OpenRound {
                title: "2027 annual survey".into(),
                ..open(&w.city_code, &[TENT, WATER])
            },
        )
        .await
        .expect("next year's round");
    let next = db
        .round_assignments(&everything, second.id, None)
        .await
        .expect("assignments");
    let b1 = find(&next, &w.county_a.1, Some(w.unit_a1)).id;
    let report = |quantity: f64, name: &'static str| {
        db.submit_survey_file(
            &w.officer_a1,
            b1,
            csv(&[(TENT, quantity, "Depot", county)]),
            name,
        )
    };
    report(12.0, "2027.csv").await.expect("this year's report");
    db.approve_assignment(&w.county_a_staff, b1)
        .await
        .expect("a holding of last year is renewed, not refused");
    let renewed = records(db.clone()).await;
    assert_eq!(renewed.len(), 1, "still one record");
    let record = &renewed[0];
    assert_eq!(record.id, last_year[0].id);
    assert_eq!(
        (record.quantity, record.previous_quantity, record.round_id),
        (12.0, Some(10.0), Some(second.id))
    );
    assert_eq!(quantity(db.clone()).await, Some((12.0, 1)), "counted once");
    let approval = db
        .audit_entries(&everything, 20)
        .await
        .expect("audit")
        .into_iter()
        .find(|e| e.action == "approve" && e.entity_id == b1.to_string())
        .expect("the approval's entry");
    let after: serde_json::Value =
        serde_json::from_str(approval.after.as_deref().expect("after")).expect("json");
    assert_eq!(after["records_renewed"], 1);
    assert_eq!(
        (
            after["renewed_before"][0]["record_id"].as_i64(),
            after["renewed_before"][0]["quantity"].as_f64(),
            after["renewed_before"][0]["round_id"].as_i64()
        ),
        (Some(last_year[0].id), Some(10.0), Some(first.id)),
        "what the renewal replaced, in the audit: {after}"
    );
    assert_eq!(approved(db.clone(), first.id).await, Some(10.0));
    assert_eq!(approved(db.clone(), second.id).await, Some(12.0));

    // Last year's round, still open, cannot put its figures back over this year's: another
    // unit's late report of the same holding is refused at approval.
    let a2 = find(&assignments, &w.county_a.1, Some(w.unit_a2)).id;
    db.submit_survey_file(
        &w.officer_a2,
        a2,
        csv(&[(TENT, 9.0, "Depot", county)]),
        "late.csv",
    )
    .await
    .expect("a late report of last year's round");
    match db.approve_assignment(&w.county_a_staff, a2).await {
        Err(StorageError::Conflict {
            message_zh: Some(zh),
            ..
        }) => assert!(zh.contains("更晚开启"), "{zh}"),
        other => panic!("an older round overwriting a newer one: {other:?}"),
    }
    assert_eq!(quantity(db.clone()).await, Some((12.0, 1)));

    // A renewed record written to since the approval (here its time, as a finding's write
    // moves it) has figures of its own: the renewing report stays.
    let touch = |delta: i64| {
        let db = db.clone();
        let id = last_year[0].id;
        async move {
            raw_execute(
                &db,
                &format!(
                    "UPDATE potential_records SET updated_at = updated_at + {delta} WHERE id = {id}"
                ),
            )
            .await
            .expect("touched");
        }
    };
    touch(1).await;
    match db
        .send_back_assignment(&w.county_a_staff, b1, "recount")
        .await
    {
        Err(StorageError::Conflict {
            message_zh: Some(zh),
            ..
        }) => assert!(zh.contains("又有变动"), "{zh}"),
        other => panic!("a renewed record changed since: {other:?}"),
    }
    touch(-1).await;

    // Last year's report stands under this year's figures now.
    match db
        .send_back_assignment(&w.county_a_staff, a1, "recount")
        .await
    {
        Err(StorageError::Conflict {
            message_zh: Some(zh),
            ..
        }) => assert!(zh.contains("后续调查轮次"), "{zh}"),
        other => panic!("last year's report was renewed since: {other:?}"),
    }

    // A demand's allocation of the record: since this year's approval it stops the send-back
    // (the record has a life of its own now); last year's (accepted before) does not.
    let county_path = &w.county_a.1;
    let allocate = |accepted_at: i64| {
        let db = db.clone();
        let record = last_year[0].id;
        let stmts = [
            format!(
                "INSERT INTO demands (title, origin, classification, classification_rank, region_code, \
                 region_path, status, received_at, created_by_name, updated_at) \
                 VALUES ('drill', 'civilian', 'internal', 1, '{county}', '{county_path}', 'closed', 0, 'test', 0)"
            ),
            format!(
                "INSERT INTO demand_lines (demand_id, line_no, type_code, quantity, lat, lon, needed_by, priority) \
                 SELECT MAX(id), 1, '{TENT}', 5, 31.8, 117.2, 0, 1 FROM demands"
            ),
            format!(
                "INSERT INTO demand_allocations (demand_id, line_id, record_id, quantity, released, \
                 great_circle_km, travel_hours, unit_cost_cents, accepted_at, accepted_by_name) \
                 SELECT l.demand_id, l.id, {record}, 5, 5, 1.0, 1.0, 0, {accepted_at}, 'test' \
                 FROM demand_lines l WHERE l.id = (SELECT MAX(id) FROM demand_lines)"
            ),
        ];
        async move {
            for stmt in &stmts {
                assert_eq!(raw_execute(&db, stmt).await.expect(stmt), 1, "{stmt}");
            }
        }
    };
    allocate(muster_storage::now().as_millis() + 60_000).await;
    match db
        .send_back_assignment(&w.county_a_staff, b1, "recount")
        .await
    {
        Err(StorageError::Conflict {
            message_zh: Some(zh),
            ..
        }) => assert!(zh.contains("调配或征用"), "{zh}"),
        other => panic!("allocated since this year's approval: {other:?}"),
    }
    for table in ["demand_allocations", "demand_lines", "demands"] {
        raw_execute(&db, &format!("DELETE FROM {table}"))
            .await
            .expect("cleared");
    }
    allocate(0).await;

    db.send_back_assignment(&w.county_a_staff, b1, "recount")
        .await
        .expect("this year's report sent back");
    assert_eq!(
        records(db.clone()).await,
        last_year,
        "last year's record, exactly"
    );
    assert_eq!(quantity(db.clone()).await, Some((10.0, 1)));
    assert_eq!(
        raw_execute(&db, "DELETE FROM superseded_records")
            .await
            .expect("count"),
        0,
        "nothing kept once restored"
    );

    // Stock in use is not renewed until it is back.
    raw_execute(
        &db,
        &format!(
            "UPDATE potential_records SET reserved_quantity = 3 WHERE id = {}",
            last_year[0].id
        ),
    )
    .await
    .expect("reserved");
    report(11.0, "2027-v2.csv").await.expect("corrected");
    match db.approve_assignment(&w.county_a_staff, b1).await {
        Err(StorageError::Conflict {
            message_zh: Some(zh),
            ..
        }) => assert!(zh.contains("预留、调配或征用"), "{zh}"),
        other => panic!("a reserved record is not renewed: {other:?}"),
    }
    raw_execute(
        &db,
        &format!(
            "UPDATE potential_records SET reserved_quantity = 0 WHERE id = {}",
            last_year[0].id
        ),
    )
    .await
    .expect("released");
    db.approve_assignment(&w.county_a_staff, b1)
        .await
        .expect("renewed once back in stock");
    let record = &records(db.clone()).await[0];
    assert_eq!(
        (record.quantity, record.previous_quantity),
        (11.0, Some(10.0))
    );
    assert_eq!(quantity(db.clone()).await, Some((11.0, 1)));

    // Stock handed over in full and found held again next year comes back as available;
    // sending that report back hands it over again.
    db.send_back_assignment(&w.county_a_staff, b1, "recount")
        .await
        .expect("sent back once more");
    raw_execute(
        &db,
        &format!(
            "UPDATE potential_records SET status = 'handed_over' WHERE id = {}",
            last_year[0].id
        ),
    )
    .await
    .expect("handed over");
    report(13.0, "2027-v3.csv").await.expect("reported again");
    db.approve_assignment(&w.county_a_staff, b1)
        .await
        .expect("stock handed over is renewed");
    assert_eq!(records(db.clone()).await[0].status, "available");
    db.send_back_assignment(&w.county_a_staff, b1, "recount")
        .await
        .expect("and sent back");
    assert_eq!(records(db.clone()).await[0].status, "handed_over");

    // A record on an active requisition item, even a draft order's, is not renewed.
    let record = last_year[0].id;
    for stmt in [
        format!("UPDATE potential_records SET status = 'available' WHERE id = {record}"),
        format!(
            "INSERT INTO requisition_orders (region_path, holder_kind, holder_name, holder_category, \
             legal_basis, status, event_count, created_at, updated_at) \
             VALUES ('{county_path}', 'organization', 'Depot', 'enterprise', 'law', 'draft', 0, 0, 0)"
        ),
        format!(
            "INSERT INTO requisition_items (order_id, position, record_id, type_code, quantity, \
             declared_value_fen, daily_rate_fen, active) \
             SELECT MAX(id), 1, {record}, '{TENT}', 1, 100, 10, 1 FROM requisition_orders"
        ),
    ] {
        assert_eq!(raw_execute(&db, &stmt).await.expect(&stmt), 1, "{stmt}");
    }
    report(14.0, "2027-v4.csv").await.expect("reported again");
    match db.approve_assignment(&w.county_a_staff, b1).await {
        Err(StorageError::Conflict {
            message_zh: Some(zh),
            ..
        }) => assert!(zh.contains("预留、调配或征用"), "{zh}"),
        other => panic!("a record on a requisition is not renewed: {other:?}"),
    }
    for table in ["requisition_items", "requisition_orders"] {
        raw_execute(&db, &format!("DELETE FROM {table}"))
            .await
            .expect("cleared");
    }
    db.approve_assignment(&w.county_a_staff, b1)
        .await
        .expect("renewed once off the requisition");
    assert_eq!(records(db.clone()).await[0].quantity, 14.0);
    intact(&db).await;
}

on_both_databases!(one_holding_at_two_levels_is_counted_once, two_levels_story);
/// The same holding (holder, type and site) reported at a county by one unit and at a
/// township of that county by another is one holding: shown as a duplicate before review,
/// refused in one version, and refused at approval against the record the other level
/// registered, in either order. Namesakes in two sibling regions are two holdings.
async fn two_levels_story(db: Database) {
    let w = world(&db).await;
    let (_, assignments) = open_city_round(&db, &w).await;
    let everything = Scope::everything();
    let county = w.county_a.0.as_str();
    let township_view = db
        .region_view(&everything, Some(county))
        .await
        .expect("county")
        .children;
    let (township, sibling) = (
        township_view[0].code.as_str(),
        township_view[1].code.as_str(),
    );
    let a1 = find(&assignments, &w.county_a.1, Some(w.unit_a1)).id;
    let a2 = find(&assignments, &w.county_a.1, Some(w.unit_a2)).id;
    let township_report = find(&assignments, &township_view[0].path, None).id;

    // One version naming one holding at the county and at its township is refused whole.
    match db
        .submit_survey_file(
            &w.officer_a1,
            a1,
            csv(&[
                (TENT, 400.0, "Red Cross", county),
                (TENT, 400.0, "red cross", township),
            ]),
            "twice.csv",
        )
        .await
    {
        Err(StorageError::SheetRejected(problems)) => {
            assert_eq!(problems.0.len(), 1, "{problems}");
            assert_eq!(problems.0[0].row, Some(3));
            assert!(problems.0[0].message.contains("row 2"), "{problems}");
        }
        other => panic!("expected the repeat to be refused, got {other:?}"),
    }

    // Unit A1 reports the Red Cross tents at the county; unit A2 reports a depot's water
    // there; the township reports the same tents and water at its own level, and a
    // namesake's tents in a sibling township.
    db.submit_survey_file(
        &w.officer_a1,
        a1,
        csv(&[
            (TENT, 400.0, "Red Cross", county),
            (TENT, 9.0, "Scouts", sibling),
        ]),
        "a1.csv",
    )
    .await
    .expect("a1");
    db.submit_survey_file(
        &w.officer_a2,
        a2,
        csv(&[(WATER, 12.0, "Depot 1", county)]),
        "a2.csv",
    )
    .await
    .expect("a2");
    db.submit_survey_file(
        &cli(),
        township_report,
        csv(&[
            (WATER, 12.0, "depot 1", township),
            (TENT, 400.0, "RED CROSS", township),
            (TENT, 3.0, "Scouts", township),
        ]),
        "township.csv",
    )
    .await
    .expect("township");
    let duplicates = db
        .duplicate_holdings(&everything, township_report)
        .await
        .expect("duplicates");
    let pairs: Vec<(u32, Option<i64>)> = duplicates
        .iter()
        .map(|d| (d.row_number, d.other.as_ref().map(|o| o.assignment_id)))
        .collect();
    assert_eq!(pairs, [(2, Some(a2)), (3, Some(a1))], "{duplicates:?}");
    // The township's own staff learn that the county's units report those holdings, not
    // which reports they are nor how far they got: those are outside the township.
    let township_scope = Scope::new(
        RegionPath::parse(&township_view[0].path).expect("path"),
        Vec::new(),
    );
    let seen: Vec<(u32, bool)> = db
        .duplicate_holdings(&township_scope, township_report)
        .await
        .expect("duplicates")
        .iter()
        .map(|d| (d.row_number, d.other.is_some()))
        .collect();
    assert_eq!(seen, [(2, false), (3, false)]);
    let from_a1: Vec<u32> = db
        .duplicate_holdings(&everything, a1)
        .await
        .expect("duplicates")
        .iter()
        .map(|d| d.row_number)
        .collect();
    assert_eq!(
        from_a1,
        [2],
        "the sibling township's Scouts are another holding"
    );

    // A2's water is registered at the county first: the township's row is refused, naming
    // the record above it.
    db.approve_assignment(&w.county_a_staff, a2)
        .await
        .expect("a2 approved");
    let before = db
        .subtree_totals(&everything, Some(county))
        .await
        .expect("totals");
    match db
        .approve_assignment(&w.county_a_staff, township_report)
        .await
    {
        Err(StorageError::SheetRejected(problems)) => {
            assert_eq!(problems.0.len(), 1, "{problems}");
            assert_eq!(problems.0[0].row, Some(2));
            assert!(
                problems.0[0].message.contains(&format!("region {county}")),
                "{problems}"
            );
            assert!(
                problems.0[0]
                    .message_zh
                    .as_deref()
                    .is_some_and(|zh| zh.contains("不重复计数")),
                "{problems}"
            );
        }
        other => panic!("expected the water to be refused, got {other:?}"),
    }
    assert_eq!(
        db.subtree_totals(&everything, Some(county))
            .await
            .expect("totals"),
        before,
        "nothing of the refused report is stored"
    );

    // Corrected without the water, the township's tents are registered; then A1's tents at
    // the county are refused, naming the record below them, while its Scouts are not.
    db.send_back_assignment(&w.county_a_staff, township_report, "the water is A2's")
        .await
        .expect("sent back");
    db.submit_survey_file(
        &cli(),
        township_report,
        csv(&[
            (TENT, 400.0, "RED CROSS", township),
            (TENT, 3.0, "Scouts", township),
        ]),
        "township-v2.csv",
    )
    .await
    .expect("township v2");
    db.approve_assignment(&w.county_a_staff, township_report)
        .await
        .expect("township approved");
    match db.approve_assignment(&w.county_a_staff, a1).await {
        Err(StorageError::SheetRejected(problems)) => {
            assert_eq!(problems.0.len(), 1, "{problems}");
            assert_eq!(problems.0[0].row, Some(2));
            assert!(
                problems.0[0]
                    .message
                    .contains(&format!("region {township}")),
                "{problems}"
            );
        }
        other => panic!("expected the tents to be refused, got {other:?}"),
    }
    let tents = |totals: &muster_storage::SubtreeTotals| {
        totals
            .by_type
            .iter()
            .find(|t| t.type_code == TENT)
            .map_or(0.0, |t| t.totals.quantity)
    };
    assert_eq!(
        tents(
            &db.subtree_totals(&everything, Some(county))
                .await
                .expect("totals")
        ),
        403.0,
        "the tents count once"
    );
    intact(&db).await;
}

on_both_databases!(
    bulk_loads_count_one_holding_at_two_levels_once,
    bulk_two_levels_story
);
/// An office's bulk loads (a file, or records given as a list) refuse one holding at two
/// levels as a round's approval does: within the load, and against what is stored, above or
/// below, whichever came first. Namesakes in sibling regions, and a person known by name
/// only, are other holdings.
async fn bulk_two_levels_story(db: Database) {
    let w = world(&db).await;
    let everything = Scope::everything();
    let county = w.county_a.0.as_str();
    let townships = db
        .region_view(&everything, Some(county))
        .await
        .expect("county")
        .children;
    let (township, sibling) = (townships[0].code.as_str(), townships[1].code.as_str());
    let import = |bytes: Vec<u8>, name: &'static str| {
        let db = db.clone();
        async move {
            db.import_potential_file(&cli(), bytes, name, None, RecordProvenance::default())
                .await
        }
    };

    // In one file: the county and its township name the Red Cross tents (refused, naming
    // the first row), the sibling township's Red Cross tents are checked against the
    // county's as well.
    match import(
        csv(&[
            (TENT, 400.0, "Red Cross", county),
            (WATER, 5.0, "Depot 1", township),
            (TENT, 400.0, "red cross", township),
            (TENT, 2.0, "RED CROSS", sibling),
        ]),
        "twice.csv",
    )
    .await
    {
        Err(StorageError::SheetRejected(problems)) => {
            let rows: Vec<Option<u32>> = problems.0.iter().map(|p| p.row).collect();
            assert_eq!(rows, [Some(4), Some(5)], "{problems}");
            assert!(problems.0[0].message.contains("row 2"), "{problems}");
            assert!(
                problems.0[0].message.contains("above or below"),
                "{problems}"
            );
        }
        other => panic!("expected the repeats to be refused, got {other:?}"),
    }
    let nothing = db
        .subtree_totals(&everything, Some(county))
        .await
        .expect("totals");
    assert!(
        nothing.by_type.is_empty(),
        "nothing was stored: {nothing:?}"
    );

    // Stored first at the township; a later file naming it at the county is refused, naming
    // the record below, and nothing of that file is kept.
    import(
        csv(&[
            (TENT, 400.0, "Red Cross", township),
            (TENT, 9.0, "Scouts", sibling),
        ]),
        "township.csv",
    )
    .await
    .expect("township load");
    let before = db
        .subtree_totals(&everything, Some(county))
        .await
        .expect("totals");
    match import(
        csv(&[
            (WATER, 12.0, "Depot 1", county),
            (TENT, 400.0, "RED CROSS", county),
        ]),
        "county.csv",
    )
    .await
    {
        Err(StorageError::SheetRejected(problems)) => {
            assert_eq!(problems.0.len(), 1, "{problems}");
            assert_eq!(problems.0[0].row, Some(3));
            assert!(
                problems.0[0]
                    .message
                    .contains(&format!("region {township}")),
                "{problems}"
            );
        }
        other => panic!("expected the county's tents to be refused, got {other:?}"),
    }
    assert_eq!(
        db.subtree_totals(&everything, Some(county))
            .await
            .expect("totals"),
        before,
        "nothing of the refused file is stored"
    );

    // Records given as a list are held to the same: the county's water goes in, then the
    // township's water (below it) is refused, while the Scouts of the township are another
    // holding than the sibling's.
    let drafts_of = |bytes: Vec<u8>| {
        let db = db.clone();
        async move {
            db.validate_potential_file(&cli(), bytes, "list.csv", None)
                .await
                .expect("valid")
        }
    };
    db.insert_records(
        &cli(),
        drafts_of(csv(&[(WATER, 12.0, "Depot 1", county)])).await,
        RecordProvenance::default(),
        "list",
    )
    .await
    .expect("county water");
    match db
        .insert_records(
            &cli(),
            drafts_of(csv(&[
                (TENT, 3.0, "Scouts", township),
                (WATER, 12.0, "depot 1", township),
            ]))
            .await,
            RecordProvenance::default(),
            "list",
        )
        .await
    {
        Err(StorageError::SheetRejected(problems)) => {
            let rows: Vec<Option<u32>> = problems.0.iter().map(|p| p.row).collect();
            assert_eq!(rows, [Some(3)], "{problems}");
            assert!(
                problems.0[0].message.contains(&format!("region {county}")),
                "{problems}"
            );
        }
        other => panic!("expected the township's water to be refused, got {other:?}"),
    }
    db.insert_records(
        &cli(),
        drafts_of(csv(&[(TENT, 3.0, "Scouts", township)])).await,
        RecordProvenance::default(),
        "list",
    )
    .await
    .expect("the township's Scouts are not the sibling's");
    intact(&db).await;
}

/// PostgreSQL runs writers side by side, and the unique index guards one region only: two
/// approvals registering one holding at two levels queue on the approvals' lock, so the
/// second sees the first's record and is refused. The test holds that lock until both wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvals_of_one_holding_at_two_levels_at_once_register_it_once() {
    use muster_storage::testing::{APPROVAL_LOCK, TestDatabase, sessions_wait_for_locks};
    use sqlx::{Connection, PgConnection};
    let Some(test_db) = TestDatabase::postgres().await else {
        return;
    };
    let DatabaseUrl::Postgres(url) = &test_db.url else {
        panic!("a PostgreSQL test database");
    };
    let db = test_db.db.clone();
    let w = world(&db).await;
    let (_, assignments) = open_city_round(&db, &w).await;
    let everything = Scope::everything();
    let county = w.county_a.0.as_str();
    let townships = db
        .region_view(&everything, Some(county))
        .await
        .expect("county")
        .children;
    let a2 = find(&assignments, &w.county_a.1, Some(w.unit_a2)).id;
    let township_report = find(&assignments, &townships[0].path, None).id;
    db.submit_survey_file(
        &w.officer_a2,
        a2,
        csv(&[(WATER, 12.0, "Depot 1", county)]),
        "a2.csv",
    )
    .await
    .expect("a2");
    db.submit_survey_file(
        &cli(),
        township_report,
        csv(&[(WATER, 12.0, "depot 1", townships[0].code.as_str())]),
        "township.csv",
    )
    .await
    .expect("township");

    let mut holder = PgConnection::connect(url).await.expect("a second session");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(APPROVAL_LOCK)
        .execute(&mut holder)
        .await
        .expect("lock");
    let approve = |id: i64| {
        let db = db.clone();
        let reviewer = w.county_a_staff.clone();
        tokio::spawn(async move { db.approve_assignment(&reviewer, id).await })
    };
    let (first, second) = (approve(a2), approve(township_report));
    let both_waited =
        sessions_wait_for_locks(url, 2, || first.is_finished() && second.is_finished()).await;
    assert!(both_waited, "the approvals did not queue on the lock");
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(APPROVAL_LOCK)
        .execute(&mut holder)
        .await
        .expect("unlock");
    let outcomes = [
        first.await.expect("a2's task"),
        second.await.expect("the township's task"),
    ];
    let approved = outcomes.iter().filter(|o| o.is_ok()).count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Err(StorageError::SheetRejected(p)) if p.0[0].message.contains("already registered")))
        .count();
    assert_eq!((approved, refused), (1, 1), "{outcomes:?}");
    let water = db
        .subtree_totals(&everything, Some(county))
        .await
        .expect("totals")
        .by_type
        .iter()
        .find(|t| t.type_code == WATER)
        .map_or(0.0, |t| t.totals.quantity);
    assert_eq!(water, 12.0, "counted once");
    test_db.db.close().await;
}
