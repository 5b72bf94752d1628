//! Demand docking stories, each run against SQLite and PostgreSQL: stating a demand and who
//! may see it, the task meeting, the proposed allocation with its explanations and
//! escalation sources, the atomic reservation (two accepts racing for one holding: exactly
//! one wins), inspection, handover with the records and roll-ups following, cancellation,
//! escalation — with the audit chain intact at the end of each.

use muster_domain::demand::{
    Attendee, ClassificationLevel, DemandOrigin, NewDemandLine, NewTaskMeeting,
};
use muster_domain::organization::Roles;
use muster_domain::potential::{Holder, QualityGrade, RecordDraft, RecordStatus, holding_key};
use muster_domain::verification::{SampleSize, Tolerance};
use muster_domain::{Actor, OrganizationKind, RegionPath, Scope, Side};
use muster_storage::{
    AcceptedAssignment, AuditVerification, Database, DemandFilter, DemandInput, FindingInput,
    HandoverInput, HandoverItemInput, InspectionCondition, InspectionInput, NewOrganization,
    NewUser, RecordFilter, RecordProvenance, SampleMethod, SampleRequest, StorageError as E,
    on_both_databases,
};

const TRUCK: &str = "TRN.ROAD.TRUCK_HEAVY";
const HOUR: i64 = 3_600_000;

fn cli() -> Actor {
    Actor::command_line("test")
}

async fn intact(db: &Database) -> i64 {
    match db.verify_audit_chain(|_, _| {}).await.expect("verify runs") {
        AuditVerification::Intact { entries } => entries,
        AuditVerification::Broken(b) => panic!("chain broken: {b}"),
    }
}

async fn organization(db: &Database, name: &str, kind: OrganizationKind, code: &str) -> i64 {
    db.create_organization(
        &cli(),
        NewOrganization {
            name: name.into(),
            kind,
            side: if kind == OrganizationKind::MilitaryLiaison {
                Side::Military
            } else {
                Side::Civil
            },
            region_code: Some(code.into()),
        },
    )
    .await
    .expect("organization")
    .id
}

async fn user(db: &Database, name: &str, organization_id: i64, roles: &str) -> Actor {
    db.create_user(
        &cli(),
        NewUser {
            username: name.into(),
            display_name: name.into(),
            password_hash: "x".into(),
            organization_id,
            roles: Roles::parse_list(roles).expect("roles"),
        },
    )
    .await
    .expect("user")
    .actor()
}

/// The tiny demo's first city with two counties: an office in county A, the city's military
/// liaison, a viewer in county A, and the office of county B that must see nothing of
/// county A's demands. Trucks: two in county A (near and far from the delivery point), a
/// person's truck in county A, and three in county B (outside county A's scope).
struct World {
    county_a: (String, String),
    county_b: (String, String),
    city_code: String,
    point: (f64, f64),
    office_a: Actor,
    office_b: Actor,
    liaison: Actor,
    viewer_a: Actor,
    near: i64,
    far: i64,
}

fn truck(
    code: &str,
    region_path: &str,
    holder: &str,
    quantity: f64,
    at: (f64, f64),
) -> (u32, RecordDraft) {
    let region_path = RegionPath::parse(region_path).expect("path");
    let holder = Holder::Organization {
        id: None,
        name: holder.to_owned(),
    };
    let key = holding_key(&region_path, TRUCK, &holder, None);
    (
        1,
        RecordDraft {
            type_code: TRUCK.to_owned(),
            quantity,
            attributes: Default::default(),
            quality: QualityGrade::Good,
            holder,
            site: None,
            region_code: code.to_owned(),
            region_path,
            coordinates: Some(at),
            status: RecordStatus::Available,
            holding_key: key,
        },
    )
}

async fn world(db: &Database) -> World {
    muster_storage::testing::import_tiny_demo_regions(db).await;
    let everything = Scope::everything();
    let city = db
        .region_view(&everything, Some("3401"))
        .await
        .expect("city");
    let a = city.children[0].clone();
    let b = city.children[1].clone();
    let point = (a.lat.unwrap_or(31.8), a.lon.unwrap_or(117.2));
    let office_a_org = organization(
        db,
        "County A office",
        OrganizationKind::MobilizationOffice,
        &a.code,
    )
    .await;
    let office_b_org = organization(
        db,
        "County B office",
        OrganizationKind::MobilizationOffice,
        &b.code,
    )
    .await;
    let liaison_org = organization(
        db,
        "City liaison",
        OrganizationKind::MilitaryLiaison,
        "3401",
    )
    .await;
    let office_a = user(db, "office-a", office_a_org, "office_staff").await;
    let office_b = user(db, "office-b", office_b_org, "office_staff").await;
    let liaison = user(db, "liaison", liaison_org, "military_liaison").await;
    let viewer_a = user(db, "viewer-a", office_a_org, "viewer").await;
    let b_point = (b.lat.unwrap_or(31.5), b.lon.unwrap_or(117.5));
    db.insert_records(
        &cli(),
        vec![
            truck(
                &a.code,
                &a.path,
                "Near haulage",
                30.0,
                (point.0 + 0.01, point.1),
            ),
            truck(
                &a.code,
                &a.path,
                "Far haulage",
                50.0,
                (point.0 + 0.3, point.1),
            ),
            truck(&b.code, &b.path, "County B haulage", 40.0, b_point),
        ],
        RecordProvenance::default(),
        "test",
    )
    .await
    .expect("records");
    let records = db
        .potential_records(
            &everything,
            &RecordFilter {
                limit: 100,
                ..RecordFilter::default()
            },
        )
        .await
        .expect("records read");
    let id_of = |holder: &str| {
        records
            .iter()
            .find(|r| r.holder_name == holder)
            .expect("record")
            .id
    };
    World {
        county_a: (a.code.clone(), a.path.clone()),
        county_b: (b.code.clone(), b.path.clone()),
        city_code: "3401".into(),
        point,
        office_a,
        office_b,
        liaison,
        viewer_a,
        near: id_of("Near haulage"),
        far: id_of("Far haulage"),
    }
}

fn line(quantity: i64, at: (f64, f64), hours: i64, priority: i64) -> NewDemandLine {
    NewDemandLine {
        type_code: TRUCK.into(),
        quantity,
        lat: at.0,
        lon: at.1,
        needed_by: muster_storage::now().plus_millis(hours * HOUR),
        priority,
    }
}

fn demand(
    title: &str,
    county: &str,
    classification: ClassificationLevel,
    lines: Vec<NewDemandLine>,
) -> DemandInput {
    DemandInput {
        title: title.into(),
        origin: DemandOrigin::Military,
        classification,
        region_code: county.into(),
        lines,
    }
}

fn meeting() -> NewTaskMeeting {
    NewTaskMeeting {
        held_at: muster_storage::now(),
        attendees: vec![
            Attendee {
                name: "王参谋".into(),
                organization: "军分区".into(),
                side: Side::Military,
            },
            Attendee {
                name: "李主任".into(),
                organization: "县国动办".into(),
                side: Side::Civil,
            },
        ],
        decisions: vec!["就近调配重型卡车".into()],
    }
}

async fn record(db: &Database, id: i64) -> (f64, String) {
    let r = db
        .potential_record(&Scope::everything(), id)
        .await
        .expect("record");
    (r.quantity, r.status)
}

/// The roll-ups must equal the totals recomputed from the records, for the city.
async fn rollups_agree(db: &Database, city: &str) {
    let everything = Scope::everything();
    let path = RegionPath::parse(&format!("/34/{city}/")).expect("path");
    let kept = db
        .subtree_totals(&everything, Some(city))
        .await
        .expect("totals");
    let recomputed = db
        .totals_from_records(&everything, &path)
        .await
        .expect("recomputed");
    for computed in &recomputed {
        let kept_type = kept
            .by_type
            .iter()
            .find(|t| t.type_code == computed.type_code)
            .expect("type kept");
        assert_eq!(kept_type.totals, computed.totals, "{}", computed.type_code);
    }
}

async fn the_demand_lifecycle(db: Database) {
    let w = world(&db).await;
    // The viewer cannot state a demand; the liaison can, but not above its region.
    let err = db
        .create_demand(
            &w.viewer_a,
            demand(
                "x",
                &w.county_a.0,
                ClassificationLevel::Internal,
                vec![line(5, w.point, 24, 1)],
            ),
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, E::Forbidden(_)), "{err:?}");
    let err = db
        .create_demand(
            &w.office_a,
            demand(
                "x",
                &w.county_a.0,
                ClassificationLevel::Secret,
                vec![line(5, w.point, 24, 1)],
            ),
        )
        .await
        .expect_err("refused");
    match &err {
        E::Refused {
            field: "classification",
            message,
            message_zh,
        } => {
            assert!(message.contains("secret"), "{message}");
            assert!(message_zh.contains("机密"), "{message_zh}");
        }
        other => panic!("{other:?}"),
    }
    let err = db
        .create_demand(
            &w.liaison,
            demand(
                "",
                &w.county_a.0,
                ClassificationLevel::Internal,
                vec![line(0, w.point, 24, 9)],
            ),
        )
        .await
        .expect_err("refused");
    let E::Refused {
        message,
        message_zh,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("title") && message.contains("priority"),
        "{message}"
    );
    // The same problems in Chinese, each with its field path, for the Chinese form.
    assert!(
        message_zh.contains("title：请填写需求标题")
            && message_zh.contains("lines[0].priority：")
            && message_zh.contains("实为 9"),
        "{message_zh}"
    );

    // A confidential demand for 60 trucks in county A: the near holding has 30, the far 50.
    let view = db
        .create_demand(
            &w.liaison,
            demand(
                "驰援演练",
                &w.county_a.0,
                ClassificationLevel::Confidential,
                vec![line(60, w.point, 48, 1)],
            ),
        )
        .await
        .expect("demand");
    let id = view.demand.id;
    assert_eq!(view.demand.status, "received");
    assert_eq!(view.lines.len(), 1);

    // Scope and clearance are in the SQL: county B and the uncleared viewer see nothing.
    for blind in [&w.office_b, &w.viewer_a] {
        let err = db.demand(blind.scope(), id).await.expect_err("refused");
        assert!(matches!(err, E::NotFound { .. }), "{err:?}");
        let listed = db
            .demands(
                blind.scope(),
                &DemandFilter {
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .expect("list");
        assert!(listed.iter().all(|d| d.id != id));
    }
    // The office in county A holds personal data only, not classified: it cannot see a
    // confidential demand either.
    assert!(db.demand(w.office_a.scope(), id).await.is_err());
    let listed = db
        .demands(
            w.liaison.scope(),
            &DemandFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(listed.iter().map(|d| d.id).collect::<Vec<_>>(), vec![id]);
    // Nor does the audit log tell them of it: its entries are in county A's part of the log,
    // which the office and the viewer read, but they are left out for the uncleared.
    let demand_entries = |entries: Vec<muster_storage::AuditEntry>| {
        entries
            .into_iter()
            .filter(|e| e.entity == "demand" && e.entity_id == id.to_string())
            .count()
    };
    let cleared = db
        .audit_entries_read_by(&w.liaison, 1000)
        .await
        .expect("audit");
    assert_eq!(demand_entries(cleared), 1, "the liaison reads its creation");
    for uncleared in [&w.office_a, &w.viewer_a] {
        let read = db
            .audit_entries_read_by(uncleared, 1000)
            .await
            .expect("audit");
        assert_eq!(demand_entries(read), 0, "{}", uncleared.name());
        let read = db
            .audit_entries(uncleared.scope(), 1000)
            .await
            .expect("audit");
        assert_eq!(demand_entries(read), 0, "{}", uncleared.name());
    }
    let confidential = id;

    // An internal demand the county office works on.
    let view = db
        .create_demand(
            &w.liaison,
            demand(
                "抢险车辆",
                &w.county_a.0,
                ClassificationLevel::Internal,
                vec![line(100, w.point, 48, 1)],
            ),
        )
        .await
        .expect("internal demand");
    let id = view.demand.id;
    assert!(db.demand(w.viewer_a.scope(), id).await.is_ok());
    let read = db
        .audit_entries_read_by(&w.viewer_a, 1000)
        .await
        .expect("audit");
    assert!(
        read.iter()
            .any(|e| e.entity == "demand" && e.entity_id == id.to_string()),
        "the viewer reads the internal demand's entries"
    );
    assert!(
        read.iter()
            .all(|e| e.entity != "demand" || e.entity_id != confidential.to_string())
    );

    // Allocation before the analysis is refused by the domain, in both languages.
    let err = db
        .accept_allocation(
            &w.office_a,
            id,
            Some(vec![AcceptedAssignment {
                line_id: view.lines[0].id,
                record_id: w.near,
                quantity: 5,
            }]),
        )
        .await
        .expect_err("refused");
    match &err {
        E::Conflict {
            field: "status",
            message_zh: Some(zh),
            ..
        } => assert!(zh.contains("请先分析该需求"), "{zh}"),
        other => panic!("{other:?}"),
    }

    // The task meeting analyses it.
    let view = db
        .record_task_meeting(&w.liaison, id, meeting())
        .await
        .expect("meeting");
    assert_eq!(view.demand.status, "analysed");
    assert_eq!(view.meetings.len(), 1);
    assert_eq!(view.meetings[0].attendees.len(), 2);

    // The proposal: near first (30), then far (50), 20 short; county B's 40 trucks are an
    // escalation source shown by region, without the holder.
    let proposal = db
        .propose_allocation(w.office_a.scope(), id)
        .await
        .expect("proposal");
    assert_eq!(proposal.assignments.len(), 2, "{proposal:#?}");
    assert_eq!(proposal.assignments[0].holding.record_id, w.near);
    assert_eq!(proposal.assignments[0].quantity, 30);
    assert_eq!(proposal.assignments[1].holding.record_id, w.far);
    assert_eq!(proposal.assignments[1].quantity, 50);
    assert_eq!(proposal.lines[0].shortfall, 20);
    let source = &proposal.lines[0].escalation_sources[0];
    assert_eq!(source.region_code, w.county_b.0);
    assert_eq!(source.available, 40);
    let json = serde_json::to_string(&proposal).expect("json");
    assert!(
        !json.contains("County B haulage"),
        "no holder of an out-of-scope source"
    );
    // Alternatives: the near assignment names the far holding as used up or costlier.
    assert!(
        proposal.assignments[0]
            .alternatives
            .iter()
            .all(|a| a.record_id != w.near)
    );

    // A holding outside the demand's region cannot be accepted.
    let county_b_record = db
        .potential_records(
            &Scope::everything(),
            &RecordFilter {
                region_code: Some(w.county_b.0.clone()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("county b")[0]
        .id;
    let err = db
        .accept_allocation(
            &w.office_a,
            id,
            Some(vec![AcceptedAssignment {
                line_id: view.lines[0].id,
                record_id: county_b_record,
                quantity: 5,
            }]),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            E::Conflict {
                field: "holding",
                ..
            }
        ),
        "{err:?}"
    );

    // Accepting the proposal reserves both holdings and moves them to allocated.
    let outcome = db
        .accept_allocation(&w.office_a, id, None)
        .await
        .expect("accept");
    assert_eq!(outcome.reserved_units, 80);
    assert_eq!(outcome.status, "allocated");
    let (_, near_status) = record(&db, w.near).await;
    assert_eq!(near_status, "allocated");
    rollups_agree(&db, &w.city_code).await;
    // Nothing more of county A can be proposed: both holdings are fully reserved.
    let again = db
        .propose_allocation(w.office_a.scope(), id)
        .await
        .expect("again");
    assert!(again.assignments.is_empty(), "{again:#?}");
    assert_eq!(again.lines[0].shortfall, 20);

    // Escalate the shortfall: a demand of 20 at the city, invisible to county A.
    let escalated = db
        .escalate_shortfall(&w.office_a, id)
        .await
        .expect("escalate");
    assert!(db.demand(w.office_a.scope(), escalated).await.is_err());
    let up = db
        .demand(w.liaison.scope(), escalated)
        .await
        .expect("the city sees it");
    assert_eq!(up.demand.region_code, w.city_code);
    assert_eq!(up.lines[0].quantity, 20);
    assert_eq!(up.demand.escalated_from_demand_id, Some(id));

    // Inspection: the near holding shows 28 fit trucks; 2 are released.
    let view = db.demand(w.office_a.scope(), id).await.expect("view");
    let near_allocation = view
        .allocations
        .iter()
        .find(|a| a.record_id == w.near)
        .expect("near allocation")
        .clone();
    let far_allocation = view
        .allocations
        .iter()
        .find(|a| a.record_id == w.far)
        .expect("far allocation")
        .clone();
    let photo = "ab".repeat(32);
    let err = db
        .inspect_allocation(
            &w.office_a,
            id,
            InspectionInput {
                allocation_id: near_allocation.id,
                condition: InspectionCondition::Good,
                quantity_seen: 30,
                quantity_accepted: 28,
                photos: vec!["not-a-hash".into()],
                notes: String::new(),
            },
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            E::Refused {
                field: "photos",
                ..
            }
        ),
        "{err:?}"
    );
    let view = db
        .inspect_allocation(
            &w.office_a,
            id,
            InspectionInput {
                allocation_id: near_allocation.id,
                condition: InspectionCondition::Fair,
                quantity_seen: 30,
                quantity_accepted: 28,
                photos: vec![photo.clone()],
                notes: "两辆轮胎磨损".into(),
            },
        )
        .await
        .expect("inspection");
    assert_eq!(view.inspections[0].photos, vec![photo]);
    assert_eq!(view.lines[0].allocated, 78);
    assert_eq!(view.lines[0].inspected, 28);
    assert_eq!(
        view.demand.status, "allocated",
        "the far holding awaits inspection"
    );
    // The released two are available again for another line.
    let again = db
        .propose_allocation(w.office_a.scope(), id)
        .await
        .expect("again");
    assert_eq!(again.assignments.len(), 1);
    assert_eq!(again.assignments[0].quantity, 2);
    // A second inspection of the same allocation is refused.
    let err = db
        .inspect_allocation(
            &w.office_a,
            id,
            InspectionInput {
                allocation_id: near_allocation.id,
                condition: InspectionCondition::Good,
                quantity_seen: 30,
                quantity_accepted: 30,
                photos: vec![],
                notes: String::new(),
            },
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, E::Conflict { .. }), "{err:?}");
    db.inspect_allocation(
        &w.office_a,
        id,
        InspectionInput {
            allocation_id: far_allocation.id,
            condition: InspectionCondition::Good,
            quantity_seen: 50,
            quantity_accepted: 50,
            photos: vec![],
            notes: String::new(),
        },
    )
    .await
    .expect("far inspection");
    rollups_agree(&db, &w.city_code).await;

    // Handover: more than inspected is refused; then 28 + 50 handed over, signed by both.
    let now = muster_storage::now();
    let handover = |items: Vec<HandoverItemInput>| HandoverInput {
        items,
        handed_at: now,
        supplier_signatory: "李主任".into(),
        supplier_signed_at: now,
        receiver_signatory: "王参谋".into(),
        receiver_signed_at: now,
        notes: String::new(),
    };
    let err = db
        .record_handover(
            &w.liaison,
            id,
            handover(vec![HandoverItemInput {
                allocation_id: near_allocation.id,
                quantity: 29,
            }]),
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, E::Refused { field: "items", .. }), "{err:?}");
    let mut unsigned = handover(vec![HandoverItemInput {
        allocation_id: near_allocation.id,
        quantity: 28,
    }]);
    unsigned.receiver_signatory = " ".into();
    let err = db
        .record_handover(&w.liaison, id, unsigned)
        .await
        .expect_err("refused");
    match &err {
        E::Refused {
            field: "receiver_signatory",
            message_zh,
            ..
        } => assert!(message_zh.contains("接收方须签字"), "{message_zh}"),
        other => panic!("{other:?}"),
    }
    let view = db
        .record_handover(
            &w.liaison,
            id,
            handover(vec![
                HandoverItemInput {
                    allocation_id: near_allocation.id,
                    quantity: 28,
                },
                HandoverItemInput {
                    allocation_id: far_allocation.id,
                    quantity: 50,
                },
            ]),
        )
        .await
        .expect("handover");
    assert_eq!(view.demand.status, "handed_over");
    assert_eq!(view.lines[0].handed_over, 78);
    assert_eq!(view.handovers[0].items.len(), 2);
    // The far holding is gone from the stock; the near one keeps the 2 released trucks.
    let (far_quantity, far_status) = record(&db, w.far).await;
    assert_eq!((far_quantity, far_status.as_str()), (0.0, "handed_over"));
    let (near_quantity, near_status) = record(&db, w.near).await;
    assert_eq!((near_quantity, near_status.as_str()), (2.0, "available"));
    rollups_agree(&db, &w.city_code).await;

    // Closing normally is refused (22 short); closing with a reason ends it.
    let err = db
        .close_demand(&w.office_a, id, None)
        .await
        .expect_err("refused");
    assert!(matches!(err, E::Conflict { .. }), "{err:?}");
    let view = db
        .close_demand(&w.office_a, id, Some("余量已上报市级"))
        .await
        .expect("close");
    assert_eq!(view.demand.status, "closed");
    assert!(
        view.demand
            .ending
            .as_deref()
            .unwrap_or("")
            .contains("closed_with_shortfall")
    );
    intact(&db).await;
}
on_both_databases!(demand_lifecycle, the_demand_lifecycle);

/// A verification that finds fewer units than a demand reserved corrects the record (it says
/// what was seen); the handover of units the record no longer holds is then refused by name
/// instead of emptying the record silently, and what it does hold can still be handed over.
async fn a_handover_beyond_what_a_verification_found(db: Database) {
    let w = world(&db).await;
    let view = db
        .create_demand(
            &w.liaison,
            demand(
                "抢险车辆",
                &w.county_a.0,
                ClassificationLevel::Internal,
                vec![line(30, w.point, 48, 1)],
            ),
        )
        .await
        .expect("demand");
    let id = view.demand.id;
    db.record_task_meeting(&w.liaison, id, meeting())
        .await
        .expect("meeting");
    let outcome = db
        .accept_allocation(&w.office_a, id, None)
        .await
        .expect("accept");
    assert_eq!(outcome.reserved_units, 30, "the near holding's 30 trucks");
    let view = db.demand(w.office_a.scope(), id).await.expect("view");
    let allocation = view.allocations[0].clone();
    assert_eq!(allocation.record_id, w.near);
    db.inspect_allocation(
        &w.office_a,
        id,
        InspectionInput {
            allocation_id: allocation.id,
            condition: InspectionCondition::Good,
            quantity_seen: 30,
            quantity_accepted: 30,
            photos: vec![],
            notes: String::new(),
        },
    )
    .await
    .expect("inspection");

    // A verification of county A then finds 20 trucks at the near holding.
    let sample = db
        .draw_sample(
            &w.office_a,
            &SampleRequest {
                region_code: Some(w.county_a.0.clone()),
                round_id: None,
                method: SampleMethod::Stratified(SampleSize::Percent(100.0)),
                seed: Some(5),
                tolerance: Tolerance::default(),
            },
        )
        .await
        .expect("draw");
    let office = w.office_a.user_id().expect("a user");
    db.assign_sample(&w.office_a, sample.id, &[office])
        .await
        .expect("assign");
    db.record_finding(
        &w.office_a,
        sample.id,
        w.near,
        FindingInput {
            quantity_seen: 20.0,
            location_right: true,
            type_right: true,
            notes: String::new(),
            photos: Vec::new(),
        },
    )
    .await
    .expect("finding");
    assert_eq!(
        record(&db, w.near).await.0,
        20.0,
        "the record says what was seen"
    );

    let now = muster_storage::now();
    let handover = |quantity: i64| HandoverInput {
        items: vec![HandoverItemInput {
            allocation_id: allocation.id,
            quantity,
        }],
        handed_at: now,
        supplier_signatory: "李主任".into(),
        supplier_signed_at: now,
        receiver_signatory: "王参谋".into(),
        receiver_signed_at: now,
        notes: String::new(),
    };
    let err = db
        .record_handover(&w.liaison, id, handover(30))
        .await
        .expect_err("refused");
    match &err {
        E::Refused {
            field: "items",
            message,
            message_zh,
        } => {
            assert!(
                message.contains(&format!("record {} now holds 20 units", w.near)),
                "{message}"
            );
            assert!(message_zh.contains("至多交接 20"), "{message_zh}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(record(&db, w.near).await.0, 20.0, "nothing moved");
    let view = db
        .record_handover(&w.liaison, id, handover(20))
        .await
        .expect("what the record holds is handed over");
    assert_eq!(view.lines[0].handed_over, 20);
    assert_eq!(record(&db, w.near).await.0, 0.0);
    rollups_agree(&db, &w.city_code).await;
    intact(&db).await;
}
on_both_databases!(
    handover_beyond_a_verified_quantity,
    a_handover_beyond_what_a_verification_found
);

async fn two_accepts_racing_for_one_holding(db: Database) {
    let w = world(&db).await;
    // Two demands, each wanting 20 of the near holding's 30.
    let mut ids = Vec::new();
    for title in ["甲", "乙"] {
        let view = db
            .create_demand(
                &w.office_a,
                demand(
                    title,
                    &w.county_a.0,
                    ClassificationLevel::Internal,
                    vec![line(20, w.point, 24, 1)],
                ),
            )
            .await
            .expect("demand");
        db.analyse_demand(&w.office_a, view.demand.id)
            .await
            .expect("analyse");
        ids.push((view.demand.id, view.lines[0].id));
    }
    for round in 0..4 {
        let accept = |(demand_id, line_id): (i64, i64)| {
            let db = db.clone();
            let actor = w.office_a.clone();
            let record_id = w.near;
            tokio::spawn(async move {
                db.accept_allocation(
                    &actor,
                    demand_id,
                    Some(vec![AcceptedAssignment {
                        line_id,
                        record_id,
                        quantity: 20,
                    }]),
                )
                .await
            })
        };
        let (first, second) = tokio::join!(accept(ids[0]), accept(ids[1]));
        let results = [first.expect("task"), second.expect("task")];
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            wins, 1,
            "round {round}: exactly one accept wins: {results:?}"
        );
        let loser = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .expect("a loser");
        let E::Conflict { field, message, .. } = loser else {
            panic!("{loser:?}")
        };
        assert_eq!(*field, "holding");
        assert!(message.contains(&w.near.to_string()), "{message}");
        // The loser kept nothing: no allocation, still analysed.
        let winner = if results[0].is_ok() {
            ids[0].0
        } else {
            ids[1].0
        };
        let losing = if results[0].is_ok() {
            ids[1].0
        } else {
            ids[0].0
        };
        let lost = db.demand(w.office_a.scope(), losing).await.expect("loser");
        assert!(lost.allocations.is_empty());
        assert_eq!(lost.demand.status, "analysed");
        assert_eq!(lost.lines[0].allocated, 0);
        // Put the holding back for the next round: cancel the winner, which releases it,
        // and state a fresh demand in its place.
        db.cancel_demand(&w.office_a, winner, "演练")
            .await
            .expect("cancel releases");
        let (_, status) = record(&db, w.near).await;
        assert_eq!(status, "available");
        let view = db
            .create_demand(
                &w.office_a,
                demand(
                    "丙",
                    &w.county_a.0,
                    ClassificationLevel::Internal,
                    vec![line(20, w.point, 24, 1)],
                ),
            )
            .await
            .expect("demand");
        db.analyse_demand(&w.office_a, view.demand.id)
            .await
            .expect("analyse");
        let fresh = (view.demand.id, view.lines[0].id);
        if results[0].is_ok() {
            ids[0] = fresh;
        } else {
            ids[1] = fresh;
        }
        rollups_agree(&db, &w.city_code).await;
    }
    // The first demand takes 20 of the near holding's 30; then an accept of 5 far and 15
    // near falls short on the near holding and must reserve nothing, not even the far 5.
    let (demand_id, line_id) = ids[0];
    db.accept_allocation(
        &w.office_a,
        demand_id,
        Some(vec![AcceptedAssignment {
            line_id,
            record_id: w.near,
            quantity: 20,
        }]),
    )
    .await
    .expect("20 of 30");
    let (other_demand, other_line) = ids[1];
    let err = db
        .accept_allocation(
            &w.office_a,
            other_demand,
            Some(vec![
                AcceptedAssignment {
                    line_id: other_line,
                    record_id: w.far,
                    quantity: 5,
                },
                AcceptedAssignment {
                    line_id: other_line,
                    record_id: w.near,
                    quantity: 15,
                },
            ]),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            E::Conflict {
                field: "holding",
                ..
            }
        ),
        "{err:?}"
    );
    let view = db
        .demand(w.office_a.scope(), other_demand)
        .await
        .expect("view");
    assert!(
        view.allocations.is_empty(),
        "the far reservation was rolled back"
    );
    // The near holding still offers 10 and the far one all 50: nothing of the failed
    // accept stayed.
    let proposal = db
        .propose_allocation(w.office_a.scope(), other_demand)
        .await
        .expect("proposal");
    let near = proposal
        .assignments
        .iter()
        .find(|a| a.holding.record_id == w.near)
        .expect("near offered");
    assert_eq!(near.holding.available, 10);
    let far = proposal
        .assignments
        .iter()
        .find(|a| a.holding.record_id == w.far)
        .expect("far offered for the other 10");
    assert_eq!(far.holding.available, 50);
    let _ = &w.county_b;
    intact(&db).await;
}
on_both_databases!(reservation_race, two_accepts_racing_for_one_holding);
