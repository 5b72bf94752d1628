//! Facility stories, each run against SQLite and PostgreSQL: grids and who reaches what,
//! inspections (idempotent, checked against the checklist, issuing orders, moving the due
//! day), rectification orders with their links, reminders and escalation, patrols,
//! campaigns and the dashboard — with the audit chain intact at the end of each.

use muster_domain::facility::campaign::CampaignTarget;
use muster_domain::facility::patrol::{Checkpoint, RouteDraft};
use muster_domain::facility::{
    ConversionStep, FacilityDraft, FacilityKind, InspectionDraft, ItemAnswer, ItemResult,
    OrderAction, PeacetimeUse, SignStatus, default_checklist,
};
use muster_domain::organization::Roles;
use muster_domain::time::CivilDate;
use muster_domain::{Actor, OrganizationKind, Scope, Side, Timestamp};
use muster_storage::{
    AttachmentInput, AuditVerification, CampaignChanges, Database, NewCampaign, NewFacility,
    NewOrganization, NewUser, OrderFilter, StorageError as E, on_both_databases,
};

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
            side: Side::Civil,
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

/// A township of the tiny demo with two villages, each with a grid, a grid member and
/// facilities; the township's workstation, the county office above it, a property manager
/// with an account, and a second township's workstation that must see nothing of the first.
struct World {
    county_code: String,
    township_code: String,
    village_a: String,
    village_b: String,
    county_office: Actor,
    workstation: Actor,
    other_workstation: Actor,
    member_a: Actor,
    member_b: Actor,
    manager: Actor,
    manager_org: i64,
    grid_a: i64,
    grid_b: i64,
    car_park: i64,
    siren: i64,
    shelter_b: i64,
}

fn draft(name: &str, kind: FacilityKind, at: (f64, f64)) -> FacilityDraft {
    FacilityDraft {
        name: name.into(),
        kind,
        latitude: at.0,
        longitude: at.1,
        capacity_persons: 800,
        area_m2: 2400.0,
        peacetime: PeacetimeUse {
            parking_spaces: 90,
            charging_points: 6,
            services: vec!["快递柜".into()],
            since: Some(CivilDate::from_days(20_400)),
        },
        sign_status: SignStatus::Missing,
        equipment: vec![],
        conversion: vec![ConversionStep {
            label: "清车".into(),
            minutes: 2000,
        }],
    }
}

async fn world(db: &Database) -> World {
    muster_storage::testing::import_tiny_demo_regions(db).await;
    let everything = Scope::everything();
    let city = db
        .region_view(&everything, Some("3401"))
        .await
        .expect("city");
    let county = city.children[0].clone();
    let county_view = db
        .region_view(&everything, Some(&county.code))
        .await
        .expect("county");
    let township = county_view.children[0].clone();
    let other_township = county_view.children[1].clone();
    let township_view = db
        .region_view(&everything, Some(&township.code))
        .await
        .expect("township");
    let (village_a, village_b) = (
        township_view.children[0].clone(),
        township_view.children[1].clone(),
    );
    let at = |v: &muster_storage::Region| (v.lat.unwrap_or(31.8), v.lon.unwrap_or(117.2));

    let county_org = organization(
        db,
        "County office",
        OrganizationKind::MobilizationOffice,
        &county.code,
    )
    .await;
    let station = organization(
        db,
        "Workstation",
        OrganizationKind::TownshipWorkstation,
        &township.code,
    )
    .await;
    let other_station = organization(
        db,
        "Other workstation",
        OrganizationKind::TownshipWorkstation,
        &other_township.code,
    )
    .await;
    let point_a = organization(
        db,
        "Contact point A",
        OrganizationKind::VillageContactPoint,
        &village_a.code,
    )
    .await;
    let point_b = organization(
        db,
        "Contact point B",
        OrganizationKind::VillageContactPoint,
        &village_b.code,
    )
    .await;
    let manager_org = organization(
        db,
        "Property manager",
        OrganizationKind::PropertyManager,
        &village_a.code,
    )
    .await;
    let county_office = user(db, "county", county_org, "office_staff").await;
    let workstation = user(db, "station", station, "workstation_staff").await;
    let member_a = user(db, "member-a", point_a, "grid_member").await;
    let member_b = user(db, "member-b", point_b, "grid_member").await;

    let grid_a = db
        .create_grid(&workstation, "第一网格", &village_a.code)
        .await
        .expect("grid a")
        .id;
    let grid_b = db
        .create_grid(&workstation, "第二网格", &village_b.code)
        .await
        .expect("grid b")
        .id;
    db.add_grid_member(&workstation, grid_a, member_a.user_id().expect("id"))
        .await
        .expect("member a");
    db.add_grid_member(&workstation, grid_b, member_b.user_id().expect("id"))
        .await
        .expect("member b");

    let facility =
        |name: &str, kind, village: &muster_storage::Region, grid, manager| NewFacility {
            draft: draft(name, kind, at(village)),
            region_code: village.code.clone(),
            grid_id: Some(grid),
            manager_organization_id: manager,
        };
    let car_park = db
        .create_facility(
            &workstation,
            facility(
                "地下车库",
                FacilityKind::BasementCarPark,
                &village_a,
                grid_a,
                Some(manager_org),
            ),
        )
        .await
        .expect("car park")
        .id;
    let siren = db
        .create_facility(
            &workstation,
            facility("警报器", FacilityKind::Siren, &village_a, grid_a, None),
        )
        .await
        .expect("siren")
        .id;
    let shelter_b = db
        .create_facility(
            &county_office,
            facility("掩蔽所", FacilityKind::Shelter, &village_b, grid_b, None),
        )
        .await
        .expect("shelter")
        .id;
    World {
        county_code: county.code.clone(),
        township_code: township.code.clone(),
        village_a: village_a.code.clone(),
        village_b: village_b.code.clone(),
        county_office,
        workstation,
        other_workstation: user(db, "other-station", other_station, "workstation_staff").await,
        member_a,
        member_b,
        manager: user(db, "manager", manager_org, "property_manager").await,
        manager_org,
        grid_a,
        grid_b,
        car_park,
        siren,
        shelter_b,
    }
}

/// The ids of the `entity`s whose creation `log` holds, in order.
fn created(log: &[muster_storage::AuditEntry], entity: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = log
        .iter()
        .filter(|e| e.entity == entity && e.action == "create")
        .filter_map(|e| e.entity_id.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

fn ids(facilities: &[muster_storage::Facility]) -> Vec<i64> {
    facilities.iter().map(|f| f.id).collect()
}

fn inspection(kind: FacilityKind, failing: &[&str], at: Timestamp) -> InspectionDraft {
    InspectionDraft {
        answers: default_checklist(kind)
            .items
            .iter()
            .map(|item| ItemAnswer {
                code: item.code.clone(),
                result: if failing.contains(&item.code.as_str()) {
                    ItemResult::Fail
                } else {
                    ItemResult::Pass
                },
                note: String::new(),
            })
            .collect(),
        notes: String::new(),
        latitude: None,
        longitude: None,
        inspected_at: at,
    }
}

on_both_databases!(grid_members_see_only_their_grid, reach_follows_the_grid);
async fn reach_follows_the_grid(db: Database) {
    let w = world(&db).await;
    let all = vec![w.car_park, w.siren, w.shelter_b];
    let list = |actor: Actor| {
        let db = db.clone();
        async move {
            ids(&db
                .facilities(&actor, None, None, 100, 0)
                .await
                .expect("list"))
        }
    };
    assert_eq!(list(w.county_office.clone()).await, all);
    assert_eq!(list(w.workstation.clone()).await, all);
    assert_eq!(list(w.member_a.clone()).await, vec![w.car_park, w.siren]);
    assert_eq!(list(w.member_b.clone()).await, vec![w.shelter_b]);
    assert_eq!(list(w.manager.clone()).await, vec![w.car_park]);
    assert_eq!(list(w.other_workstation.clone()).await, Vec::<i64>::new());
    // The audit log reaches the facilities the list does, and no others, though a reader's
    // region may hold more: the manager's village holds the siren's entries too. So with the
    // grids: a grid member reads only their own grids' entries, as `grids` lists only those,
    // though another grid of their village is in their region's log.
    let neighbour = db
        .create_grid(&w.workstation, "第三网格", &w.village_a)
        .await
        .expect("another grid in village A")
        .id;
    for actor in [
        &w.county_office,
        &w.workstation,
        &w.member_a,
        &w.member_b,
        &w.manager,
        &w.other_workstation,
    ] {
        let log = db.audit_entries_read_by(actor, 1000).await.expect("audit");
        assert_eq!(
            created(&log, "facility"),
            list(actor.clone()).await,
            "{}",
            actor.name()
        );
        let mut grids: Vec<i64> = db
            .grids(actor, None)
            .await
            .expect("grids")
            .into_iter()
            .map(|g| g.id)
            .collect();
        grids.sort_unstable();
        assert_eq!(created(&log, "grid"), grids, "{}", actor.name());
    }
    let in_village_a = db
        .audit_entries(w.member_a.scope(), 1000)
        .await
        .expect("audit");
    assert!(
        created(&in_village_a, "grid").contains(&neighbour),
        "the other grid is in member A's region"
    );
    let in_region = db
        .audit_entries(w.manager.scope(), 1000)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.entity == "facility" && e.action == "create")
        .count();
    assert_eq!(
        in_region, 2,
        "the manager's village holds the car park and the siren"
    );
    assert!(matches!(
        db.facility(&w.member_a, w.shelter_b).await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.facility(&w.other_workstation, w.car_park).await,
        Err(E::NotFound { .. })
    ));
    let grids: Vec<i64> = db
        .grids(&w.member_b, None)
        .await
        .expect("grids")
        .iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(grids, vec![w.grid_b]);
    let narrowed = db
        .facilities(&w.county_office, Some(&w.village_b), None, 100, 0)
        .await
        .expect("narrowed");
    assert_eq!(ids(&narrowed), vec![w.shelter_b]);
    let sirens = db
        .facilities(&w.county_office, None, Some(FacilityKind::Siren), 100, 0)
        .await
        .expect("kind");
    assert_eq!(ids(&sirens), vec![w.siren]);

    // Refusals: a grid member registers nothing; a grid in someone else's township is out of
    // scope; a facility that does not validate names its field.
    let refused = db
        .create_facility(
            &w.member_a,
            NewFacility {
                draft: draft("x", FacilityKind::Shelter, (31.8, 117.2)),
                region_code: w.village_a.clone(),
                grid_id: None,
                manager_organization_id: None,
            },
        )
        .await;
    assert!(matches!(refused, Err(E::Forbidden(_))));
    assert!(matches!(
        db.create_grid(&w.other_workstation, "越界", &w.village_a)
            .await,
        Err(E::OutOfScope { .. } | E::NotFound { .. })
    ));
    let mut bad = draft("", FacilityKind::Shelter, (91.0, 117.2));
    bad.area_m2 = -5.0;
    let invalid = db
        .create_facility(
            &w.workstation,
            NewFacility {
                draft: bad,
                region_code: w.village_a.clone(),
                grid_id: None,
                manager_organization_id: None,
            },
        )
        .await;
    match invalid {
        Err(E::Refused {
            message,
            message_zh,
            ..
        }) => {
            assert!(
                message.contains("name")
                    && message.contains("latitude")
                    && message.contains("area_m2"),
                "{message}"
            );
            // The same problems in Chinese, each under its field.
            assert!(
                message_zh.contains("name：不能为空")
                    && message_zh.contains("latitude：纬度应在 -90 至 90 之间")
                    && message_zh.contains("area_m2：面积应在"),
                "{message_zh}"
            );
        }
        other => panic!("expected a named refusal, got {other:?}"),
    }
    assert!(intact(&db).await > 0);
}

on_both_databases!(
    inspections_are_idempotent_and_issue_orders,
    inspections_issue_orders
);
async fn inspections_issue_orders(db: Database) {
    let w = world(&db).await;
    let now = muster_storage::now();
    let today = now.date();
    // Everything is due the day it is registered.
    let due = db.rounds_due(&w.member_a, today, 50).await.expect("rounds");
    assert_eq!(ids(&due), vec![w.car_park, w.siren]);

    let photo = AttachmentInput {
        sha256: "ab".repeat(32),
        content_type: "image/jpeg".into(),
        media_kind: "image".into(),
        size_bytes: 2_000_000,
        thumbnail_sha256: Some("ab".repeat(32)),
    };
    let submission = inspection(
        FacilityKind::BasementCarPark,
        &["door_seal", "lighting"],
        now,
    );
    let first = db
        .record_inspection(
            &w.member_a,
            w.car_park,
            "phone-key-1",
            &submission,
            std::slice::from_ref(&photo),
            now,
        )
        .await
        .expect("recorded");
    assert!(first.created);
    assert_eq!(first.orders_issued.len(), 2);
    assert_eq!(first.inspection.failed_count, 2);
    // The retry after a lost response: the same inspection, nothing new.
    let retry = db
        .record_inspection(
            &w.member_a,
            w.car_park,
            "phone-key-1",
            &submission,
            std::slice::from_ref(&photo),
            now,
        )
        .await
        .expect("replayed");
    assert!(!retry.created);
    assert_eq!(retry.inspection.id, first.inspection.id);
    assert!(retry.orders_issued.is_empty());
    let history = db
        .facility_inspections(&w.county_office, w.car_park, 10)
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    let attachments = db
        .inspection_attachments(&w.workstation, first.inspection.id)
        .await
        .expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert!(
        db.may_see_blob(&w.member_a, &photo.sha256)
            .await
            .expect("check")
    );
    assert!(
        !db.may_see_blob(&w.member_b, &photo.sha256)
            .await
            .expect("check")
    );
    assert!(
        !db.may_see_blob(&w.member_a, "%")
            .await
            .expect("a wildcard names nothing")
    );
    assert!(matches!(
        db.inspection(&w.member_b, first.inspection.id).await,
        Err(E::NotFound { .. })
    ));

    // A second visit finding the same seal still failing does not issue a second order.
    let again = db
        .record_inspection(
            &w.member_a,
            w.car_park,
            "phone-key-2",
            &inspection(FacilityKind::BasementCarPark, &["door_seal"], now),
            &[],
            now,
        )
        .await
        .expect("second visit");
    assert!(again.created && again.orders_issued.is_empty());

    // The car park is no longer due; the siren still is. The car park's next due day is the
    // kind's interval after the visit; a township schedule moves it.
    let due = db.rounds_due(&w.member_a, today, 50).await.expect("rounds");
    assert_eq!(ids(&due), vec![w.siren]);
    let car_park = db
        .facility(&w.workstation, w.car_park)
        .await
        .expect("car park");
    assert_eq!(car_park.next_due(), today.plus_days(30));
    let moved = db
        .set_schedule(
            &w.workstation,
            &w.township_code,
            FacilityKind::BasementCarPark,
            7,
        )
        .await
        .expect("schedule");
    assert_eq!(moved, 1);
    let car_park = db
        .facility(&w.workstation, w.car_park)
        .await
        .expect("car park");
    assert_eq!(car_park.next_due(), today.plus_days(7));
    assert_eq!(
        ids(&db
            .rounds_due(&w.member_a, today.plus_days(7), 50)
            .await
            .expect("rounds")),
        vec![w.siren, w.car_park],
        "the most overdue first"
    );
    // Removed, the township's schedule gives way to the kind's default again: not by a
    // grid member, and not twice.
    assert!(matches!(
        db.remove_schedule(&w.member_a, &w.township_code, FacilityKind::BasementCarPark)
            .await,
        Err(E::Forbidden(_))
    ));
    let entries = intact(&db).await;
    let moved = db
        .remove_schedule(
            &w.workstation,
            &w.township_code,
            FacilityKind::BasementCarPark,
        )
        .await
        .expect("removed");
    assert_eq!(moved, 1);
    assert_eq!(intact(&db).await, entries + 1);
    let car_park = db
        .facility(&w.workstation, w.car_park)
        .await
        .expect("car park");
    assert_eq!(car_park.next_due(), today.plus_days(30));
    assert!(matches!(
        db.remove_schedule(
            &w.workstation,
            &w.township_code,
            FacilityKind::BasementCarPark
        )
        .await,
        Err(E::NotFound { .. })
    ));
    db.set_schedule(
        &w.workstation,
        &w.township_code,
        FacilityKind::BasementCarPark,
        7,
    )
    .await
    .expect("set again, for what follows");

    // Refusals: an incomplete checklist names the missing items; a grid member cannot
    // inspect outside their grid; a viewer-like manager cannot inspect at all.
    let mut incomplete = inspection(FacilityKind::Siren, &[], now);
    incomplete.answers.remove(0);
    match db
        .record_inspection(&w.member_a, w.siren, "phone-key-3", &incomplete, &[], now)
        .await
    {
        Err(E::Refused { message, .. }) => {
            assert!(message.contains("answers.siren_test"), "{message}")
        }
        other => panic!("expected a named refusal, got {other:?}"),
    }
    let outside = inspection(FacilityKind::Shelter, &[], now);
    assert!(matches!(
        db.record_inspection(&w.member_a, w.shelter_b, "phone-key-4", &outside, &[], now)
            .await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.record_inspection(&w.manager, w.car_park, "phone-key-5", &submission, &[], now)
            .await,
        Err(E::Forbidden(_))
    ));

    // An administrator's checklist edit leaves past inspections as they were made.
    let mut edited = default_checklist(FacilityKind::BasementCarPark);
    edited.items.truncate(2);
    db.set_checklist(&cli(), edited.clone())
        .await
        .expect("edited");
    assert_eq!(
        db.checklist(FacilityKind::BasementCarPark)
            .await
            .expect("read"),
        edited
    );
    let past = db
        .inspection(&w.workstation, first.inspection.id)
        .await
        .expect("past");
    assert_eq!(
        past.checklist().map(|c| c.items.len()),
        Some(default_checklist(FacilityKind::BasementCarPark).items.len())
    );
    assert!(intact(&db).await > 0);
}

on_both_databases!(concurrent_retries_make_one_inspection, concurrent_retries);
async fn concurrent_retries(db: Database) {
    let w = world(&db).await;
    let now = muster_storage::now();
    let submission = inspection(FacilityKind::Siren, &["power"], now);
    let attempts = (0..6).map(|_| {
        let (db, actor, submission) = (db.clone(), w.member_a.clone(), submission.clone());
        tokio::spawn(async move {
            db.record_inspection(&actor, w.siren, "same-key", &submission, &[], now)
                .await
        })
    });
    let outcomes: Vec<_> = futures::future::join_all(attempts).await;
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for outcome in outcomes {
        let outcome = outcome.expect("joined").expect("each attempt succeeds");
        created += usize::from(outcome.created);
        ids.insert(outcome.inspection.id);
    }
    assert_eq!((created, ids.len()), (1, 1));
    let orders = db
        .orders(&w.workstation, None, OrderFilter::All, now, 50)
        .await
        .expect("orders");
    assert_eq!(orders.len(), 1);
}

on_both_databases!(
    orders_run_from_issue_to_close_and_escalate,
    orders_lifecycle
);
async fn orders_lifecycle(db: Database) {
    let w = world(&db).await;
    let now = muster_storage::now();
    let outcome = db
        .record_inspection(
            &w.member_a,
            w.car_park,
            "k1",
            &inspection(
                FacilityKind::BasementCarPark,
                &["door_seal", "clear_access"],
                now,
            ),
            &[],
            now,
        )
        .await
        .expect("inspection");
    let (seal, access) = (outcome.orders_issued[0], outcome.orders_issued[1]);

    // The manager's account sees its orders and only those.
    let mine = db
        .orders(&w.manager, None, OrderFilter::Open, now, 50)
        .await
        .expect("orders");
    assert_eq!(
        mine.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![access, seal]
    );
    let acknowledged = db
        .act_on_order(&w.manager, seal, &OrderAction::Acknowledge, now)
        .await
        .expect("ack");
    assert_eq!(acknowledged.status, "acknowledged");
    assert!(matches!(
        db.act_on_order(&w.manager, seal, &OrderAction::Verify, now)
            .await,
        Err(E::Conflict { .. })
    ));
    let repair = OrderAction::ReportRepair {
        note: "更换密封条".into(),
        evidence: vec!["cd".repeat(32)],
    };
    db.act_on_order(&w.manager, seal, &repair, now)
        .await
        .expect("repaired");
    assert!(
        db.may_see_blob(&w.workstation, &"cd".repeat(32))
            .await
            .expect("evidence visible")
    );
    let sent_back = OrderAction::SendBack {
        reason: "照片不清楚".into(),
    };
    let back = db
        .act_on_order(&w.member_a, seal, &sent_back, now)
        .await
        .expect("sent back");
    assert_eq!(
        (back.status.as_str(), back.send_back_reason.as_deref()),
        ("sent_back", Some("照片不清楚"))
    );
    db.act_on_order(&w.manager, seal, &repair, now)
        .await
        .expect("repaired again");
    db.act_on_order(&w.workstation, seal, &OrderAction::Verify, now)
        .await
        .expect("verified");
    let closed = db
        .act_on_order(&w.county_office, seal, &OrderAction::Close, now)
        .await
        .expect("closed");
    assert_eq!(closed.status, "closed");
    let events = db
        .order(&w.workstation, seal)
        .await
        .expect("history")
        .events;
    assert_eq!(
        events.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        [
            "issue",
            "acknowledge",
            "report_repair",
            "send_back",
            "report_repair",
            "verify",
            "close"
        ]
    );
    assert!(matches!(
        db.order(&w.other_workstation, seal).await,
        Err(E::NotFound { .. })
    ));

    // A link opens one order for a manager without an account, until it expires.
    let (token, _) = db
        .create_order_link(&w.workstation, access, 7, now)
        .await
        .expect("link");
    let by_link = db.order_by_link(&token, now).await.expect("opens").order;
    assert_eq!(by_link.id, access);
    db.act_on_order_by_link(&token, &OrderAction::Acknowledge, now)
        .await
        .expect("acknowledged by link");
    assert!(matches!(
        db.act_on_order_by_link(&token, &OrderAction::Verify, now)
            .await,
        Err(E::Conflict { .. })
    ));
    assert!(matches!(
        db.order_by_link(&token, now.plus_days(8)).await,
        Err(E::LinkExpired)
    ));
    assert!(matches!(
        db.order_by_link(&"0".repeat(64), now).await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.order_by_link("../../etc", now).await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.create_order_link(&w.manager, access, 7, now).await,
        Err(E::Forbidden(_))
    ));

    // The clear-access order has three days. Two days on, the one-day reminder goes to the
    // manager; after the deadline the order escalates to the county, once.
    let reminders = db
        .sweep_orders(now.plus_days(2), "log")
        .await
        .expect("sweep");
    assert_eq!(
        reminders
            .iter()
            .map(|n| n.kind.as_str())
            .collect::<Vec<_>>(),
        ["one_day_before"]
    );
    assert_eq!(reminders[0].organization_id, Some(w.manager_org));
    assert!(
        db.sweep_orders(now.plus_days(2), "log")
            .await
            .expect("sweep")
            .is_empty()
    );
    let later = now.plus_days(5);
    let escalated = db.sweep_orders(later, "log").await.expect("sweep");
    let kinds: Vec<&str> = escalated.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["overdue", "escalation"]);
    let county_path = db
        .region(&Scope::everything(), &w.county_code)
        .await
        .expect("county")
        .path;
    assert_eq!(escalated[1].region_path, county_path);
    assert!(
        db.sweep_orders(later, "log")
            .await
            .expect("sweep")
            .is_empty()
    );
    let overdue = db
        .orders(&w.county_office, None, OrderFilter::Overdue, later, 50)
        .await
        .expect("overdue");
    assert_eq!(
        overdue
            .iter()
            .map(|o| (o.id, o.escalated_to_path.clone()))
            .collect::<Vec<_>>(),
        vec![(access, Some(county_path))]
    );
    let dashboard = db
        .facility_dashboard(&w.county_office, None, later)
        .await
        .expect("dashboard");
    assert_eq!(
        (
            dashboard.open_orders,
            dashboard.overdue_orders,
            dashboard.escalated_orders
        ),
        (1, 1, 1)
    );
    let manager_sees: Vec<String> = db
        .notifications(&w.manager, 20)
        .await
        .expect("notes")
        .into_iter()
        .map(|n| n.kind)
        .collect();
    assert_eq!(manager_sees, ["overdue", "one_day_before"]);
    assert!(
        db.notifications(&w.county_office, 20)
            .await
            .expect("notes")
            .iter()
            .any(|n| n.kind == "escalation")
    );
    assert!(
        db.notifications(&w.other_workstation, 20)
            .await
            .expect("notes")
            .is_empty()
    );
    // A grid member reads the reminders of their grid's facilities, and once off the grid,
    // none, though the village still holds them.
    let kinds = |notes: Vec<muster_storage::Notification>| -> Vec<String> {
        notes.into_iter().map(|n| n.kind).collect()
    };
    assert_eq!(
        kinds(db.notifications(&w.member_a, 20).await.expect("notes")),
        ["overdue", "one_day_before"]
    );
    let member_a = w.member_a.user_id().expect("id");
    db.remove_grid_member(&w.workstation, w.grid_a, member_a)
        .await
        .expect("removed");
    assert_eq!(
        kinds(db.notifications(&w.member_a, 20).await.expect("notes")),
        Vec::<String>::new()
    );
    assert!(intact(&db).await > 0);
}

on_both_databases!(
    order_evidence_is_served_in_reach_by_hash,
    order_evidence_in_reach
);
/// A photo of a repair report is served to the readers who reach the order and to no one
/// else, by an indexed look-up of its hash; a report after a send-back, through a link,
/// becomes the order's evidence, and the photos sent back stay served as earlier evidence.
async fn order_evidence_in_reach(db: Database) {
    let w = world(&db).await;
    let now = muster_storage::now();
    let outcome = db
        .record_inspection(
            &w.member_a,
            w.car_park,
            "k1",
            &inspection(FacilityKind::BasementCarPark, &["door_seal"], now),
            &[],
            now,
        )
        .await
        .expect("inspection");
    let seal = outcome.orders_issued[0];
    let (first_photo, second_photo, never_attached) =
        ("e1".repeat(32), "e2".repeat(32), "e3".repeat(32));
    let in_reach = [&w.manager, &w.member_a, &w.workstation, &w.county_office];
    let out_of_reach = [&w.member_b, &w.other_workstation];
    let seen_by =
        async |reader: &Actor, hash: &str| db.may_see_blob(reader, hash).await.expect("may see");

    // The same photo sent twice is one photo.
    let repair = OrderAction::ReportRepair {
        note: "更换密封条".into(),
        evidence: vec![first_photo.clone(), first_photo.clone()],
    };
    db.act_on_order(&w.manager, seal, &repair, now)
        .await
        .expect("repaired");
    for reader in in_reach {
        assert!(seen_by(reader, &first_photo).await, "{}", reader.name());
        assert!(!seen_by(reader, &never_attached).await, "{}", reader.name());
    }
    for reader in out_of_reach {
        assert!(!seen_by(reader, &first_photo).await, "{}", reader.name());
    }

    // Sent back, the repair is reported again through a link with another photo: the order's
    // evidence is now that photo alone, and the first stays on record as earlier evidence.
    db.act_on_order(
        &w.workstation,
        seal,
        &OrderAction::SendBack {
            reason: "照片不清楚".into(),
        },
        now,
    )
    .await
    .expect("sent back");
    let (token, _) = db
        .create_order_link(&w.workstation, seal, 7, now)
        .await
        .expect("link");
    let reported = db
        .act_on_order_by_link(
            &token,
            &OrderAction::ReportRepair {
                note: "重新更换".into(),
                evidence: vec![second_photo.clone()],
            },
            now,
        )
        .await
        .expect("repaired again by link");
    assert_eq!(reported.evidence(), vec![second_photo.clone()]);
    for reader in in_reach {
        assert!(seen_by(reader, &second_photo).await, "{}", reader.name());
        assert!(seen_by(reader, &first_photo).await, "{}", reader.name());
        assert!(!seen_by(reader, &never_attached).await, "{}", reader.name());
    }
    for reader in out_of_reach {
        assert!(!seen_by(reader, &second_photo).await, "{}", reader.name());
        assert!(!seen_by(reader, &first_photo).await, "{}", reader.name());
    }
    let history = db.order(&w.workstation, seal).await.expect("order");
    assert_eq!(history.order.evidence(), vec![second_photo.clone()]);
    assert_eq!(history.earlier_evidence, vec![first_photo.clone()]);

    // Sent back once more, the first photo is reported again beside a third: it is the
    // latest evidence again, stored once, and only the second is earlier evidence now.
    db.act_on_order(
        &w.workstation,
        seal,
        &OrderAction::SendBack {
            reason: "还需要整体照片".into(),
        },
        now,
    )
    .await
    .expect("sent back again");
    let third_photo = "e4".repeat(32);
    db.act_on_order(
        &w.manager,
        seal,
        &OrderAction::ReportRepair {
            note: "补充照片".into(),
            evidence: vec![first_photo.clone(), third_photo.clone()],
        },
        now,
    )
    .await
    .expect("repaired a third time");
    let history = db.order(&w.manager, seal).await.expect("order");
    assert_eq!(
        history.order.evidence(),
        vec![first_photo.clone(), third_photo.clone()]
    );
    assert_eq!(history.earlier_evidence, vec![second_photo.clone()]);
    for hash in [&first_photo, &second_photo, &third_photo] {
        assert!(seen_by(&w.county_office, hash).await);
        assert!(!seen_by(&w.other_workstation, hash).await);
    }
    assert!(intact(&db).await > 0);
}

/// Migration 0013 fills `order_evidence_photos` from the evidence stored before it. The story
/// takes a database back to before 0013 (the table dropped, the migration forgotten), gives
/// orders evidence as it could have been stored, and opens the database again, which runs
/// 0013 once more: only the entries that are hashes are served, and a value that does not
/// parse stops nothing.
mod order_evidence_is_filled_in_by_migration_0013 {
    use muster_storage::testing::TestDatabase;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::order_evidence_backfill(TestDatabase::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(test_db) = TestDatabase::postgres().await else {
            return;
        };
        super::order_evidence_backfill(test_db).await;
    }
}

async fn order_evidence_backfill(test_db: muster_storage::testing::TestDatabase) {
    use muster_storage::testing::raw_execute;
    let db = test_db.db.clone();
    let w = world(&db).await;
    let now = muster_storage::now();
    let outcome = db
        .record_inspection(
            &w.member_a,
            w.car_park,
            "k1",
            &inspection(
                FacilityKind::BasementCarPark,
                &["door_seal", "lighting", "water", "clear_access"],
                now,
            ),
            &[],
            now,
        )
        .await
        .expect("inspection");
    let orders = &outcome.orders_issued;
    assert_eq!(orders.len(), 4);
    let hash = |n: u8| format!("{n:02x}").repeat(32);
    let evidence = [
        // As Muster writes it, a photo sent twice, beside an entry that names no file.
        format!(r#"["{}","{}","{}","photo.jpg"]"#, hash(1), hash(1), hash(2)),
        // Not JSON: nothing, and the migration goes on.
        format!(r#"["{}", "unterminated"#, hash(3)),
        // Not an array: nothing.
        format!(r#"{{"photo":"{}"}}"#, hash(4)),
        // Entries that are no string, or a hash in capitals, which names no file: nothing.
        format!(
            r#"[["{}"], 5, null, "{}"]"#,
            hash(5),
            hash(0xa6).to_uppercase()
        ),
    ];
    for (order, evidence) in orders.iter().zip(&evidence) {
        raw_execute(
            &db,
            &format!("UPDATE rectification_orders SET evidence = '{evidence}' WHERE id = {order}"),
        )
        .await
        .expect("evidence as stored before 0013");
    }
    raw_execute(
        &db,
        "DROP TABLE order_evidence_photos; DELETE FROM _sqlx_migrations WHERE version = 13",
    )
    .await
    .expect("back to before 0013");

    let migrated = Database::open(&test_db.url).await.expect("0013 runs again");
    for n in 1..=2 {
        assert!(
            migrated
                .may_see_blob(&w.workstation, &hash(n))
                .await
                .expect("may see"),
            "photo {n}"
        );
        assert!(
            !migrated
                .may_see_blob(&w.member_b, &hash(n))
                .await
                .expect("may see"),
            "photo {n} out of reach"
        );
    }
    for n in [3, 4, 5, 0xa6] {
        assert!(
            !migrated
                .may_see_blob(&w.workstation, &hash(n))
                .await
                .expect("may see"),
            "entry {n} is no photo"
        );
    }
    // Two rows, the two photos once each (an UPDATE that changes nothing counts them).
    assert_eq!(
        raw_execute(
            &migrated,
            "UPDATE order_evidence_photos SET sha256 = sha256"
        )
        .await
        .expect("count"),
        2
    );
    migrated.close().await;
}

on_both_databases!(dashboard_patrols_and_campaigns, dashboard_patrols_campaigns);
async fn dashboard_patrols_campaigns(db: Database) {
    let w = world(&db).await;
    let now = muster_storage::now();
    let dashboard = db
        .facility_dashboard(&w.workstation, Some(&w.township_code), now)
        .await
        .expect("dashboard");
    assert_eq!(dashboard.totals.facilities, 3);
    assert_eq!(dashboard.totals.parking, 270);
    assert_eq!(dashboard.totals.charging, 18);
    assert_eq!(dashboard.totals.due, 3);
    // 2000 minutes to convert: within 72 hours, not within 24.
    assert_eq!(
        (
            dashboard.ready.within_24_hours,
            dashboard.ready.within_72_hours
        ),
        (0, 2400)
    );
    let member_view = db
        .facility_dashboard(&w.member_b, None, now)
        .await
        .expect("member's");
    assert_eq!(member_view.totals.facilities, 1);
    let points = db
        .facility_map_points(&w.county_office, None, now, 100)
        .await
        .expect("map");
    assert_eq!(points.len(), 3);

    // A sign campaign: the car park's sign goes up; one of three done.
    let campaign = db
        .create_campaign(
            &w.county_office,
            NewCampaign {
                name: "标识全覆盖".into(),
                region_code: w.county_code.clone(),
                facility_kind: None,
                target: CampaignTarget::SignInstalled,
                start: now.date().plus_days(-10),
                target_date: now.date().plus_days(20),
            },
        )
        .await
        .expect("campaign");
    db.set_sign_status(&w.member_a, w.car_park, SignStatus::Installed)
        .await
        .expect("sign up");
    let progress = db
        .campaign_progress(&w.workstation, campaign.id, now)
        .await
        .expect("progress");
    assert_eq!((progress.forecast.total, progress.forecast.done), (3, 1));
    assert!(progress.forecast.completion.is_some());
    assert_eq!(
        progress
            .regions
            .iter()
            .map(|r| (r.total, r.done))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        (3, 1)
    );
    let for_member = db
        .campaign_progress(&w.member_b, campaign.id, now)
        .await
        .expect("member's progress");
    assert_eq!(
        (for_member.forecast.total, for_member.forecast.done),
        (1, 0)
    );
    assert!(matches!(
        db.campaign(&w.other_workstation, campaign.id + 1000).await,
        Err(E::NotFound { .. })
    ));

    // The county renames it and gives it more time; the township below follows it but does
    // not change it, a member unit may not, and the start stays where it was.
    let changes = |name: &str, days: i64| CampaignChanges {
        name: name.into(),
        target_date: now.date().plus_days(days),
    };
    assert!(matches!(
        db.update_campaign(&w.workstation, campaign.id, changes("改名", 30))
            .await,
        Err(E::OutOfScope { .. })
    ));
    assert!(matches!(
        db.update_campaign(&w.member_b, campaign.id, changes("改名", 30))
            .await,
        Err(E::Forbidden(_))
    ));
    assert!(matches!(
        db.update_campaign(&w.county_office, campaign.id, changes("改名", -11))
            .await,
        Err(E::Refused {
            field: "target_date",
            ..
        })
    ));
    let changed = db
        .update_campaign(
            &w.county_office,
            campaign.id,
            changes(" 标识全覆盖（延期） ", 40),
        )
        .await
        .expect("changed");
    assert_eq!(changed.name, "标识全覆盖（延期）");
    assert_eq!(
        changed.target_day,
        now.date().plus_days(40).days_since_epoch()
    );
    assert_eq!(
        (changed.start_day, changed.target.as_str()),
        (campaign.start_day, campaign.target.as_str())
    );
    // One started by mistake is removed, by the county only.
    let mistaken = db
        .create_campaign(
            &w.county_office,
            NewCampaign {
                name: "重复".into(),
                region_code: w.county_code.clone(),
                facility_kind: None,
                target: CampaignTarget::Inspected,
                start: now.date(),
                target_date: now.date().plus_days(5),
            },
        )
        .await
        .expect("campaign");
    assert!(matches!(
        db.remove_campaign(&w.workstation, mistaken.id).await,
        Err(E::OutOfScope { .. })
    ));
    db.remove_campaign(&w.county_office, mistaken.id)
        .await
        .expect("removed");
    assert!(matches!(
        db.campaign(&w.county_office, mistaken.id).await,
        Err(E::NotFound { .. })
    ));
    let actions: Vec<String> = db
        .audit_entries(w.county_office.scope(), 20)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.entity == "campaign")
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["remove", "create", "update", "create"]);

    // A patrol: two of three checkpoints, then the sweep records the one missed.
    let point = |code: &str| Checkpoint {
        code: code.into(),
        name: format!("点位{code}"),
        latitude: 31.8,
        longitude: 117.2,
    };
    // A grid answers only inside its region: village B's grid cannot walk village A.
    let walk = RouteDraft {
        name: "夜巡".into(),
        window_minutes: 30,
        checkpoints: vec![point("P1")],
    };
    assert!(matches!(
        db.create_route(&w.workstation, &w.village_a, Some(w.grid_b), &walk)
            .await,
        Err(E::Refused {
            field: "grid_id",
            ..
        })
    ));
    let route = db
        .create_route(
            &w.workstation,
            &w.village_a,
            Some(w.grid_a),
            &RouteDraft {
                name: "夜巡".into(),
                window_minutes: 30,
                checkpoints: vec![point("P1"), point("P2"), point("P3")],
            },
        )
        .await
        .expect("route");
    let first = db
        .check_in(&w.member_a, route.id, "p1", None, now)
        .await
        .expect("check in");
    // What is left is named, not coded: the code is read on the plate at the checkpoint.
    assert_eq!(first.remaining, ["点位P2", "点位P3"]);
    let second = db
        .check_in(
            &w.member_a,
            route.id,
            "P3",
            Some((31.8, 117.2)),
            now.plus_millis(60_000),
        )
        .await
        .expect("check in");
    assert_eq!(
        (second.run_id, second.remaining.clone()),
        (first.run_id, vec!["点位P2".to_owned()])
    );
    assert!(matches!(
        db.check_in(&w.member_a, route.id, "P9", None, now).await,
        Err(E::Refused { .. })
    ));
    assert!(
        db.sweep_patrols(now.plus_millis(10 * 60_000), "log")
            .await
            .expect("early sweep")
            .is_empty()
    );
    let alerts = db
        .sweep_patrols(now.plus_millis(31 * 60_000), "log")
        .await
        .expect("sweep");
    assert_eq!(alerts.len(), 1);
    // The missed checkpoint is named, not coded, in the alert and on the run.
    assert!(
        alerts[0].message.contains("点位P2") && !alerts[0].message.contains("：P2"),
        "{}",
        alerts[0].message
    );
    let runs = db.route_runs(&w.workstation, route.id).await.expect("runs");
    assert_eq!(runs[0].missed.as_deref(), Some("[\"点位P2\"]"));
    // Nor does the audit log, which those who walk the route read too, hold any code.
    let audit = db
        .audit_entries(w.member_a.scope(), 1000)
        .await
        .expect("audit");
    let logged = serde_json::to_string(&audit).expect("json");
    assert!(
        logged.contains("点位P1"),
        "the route and its check-ins are audited"
    );
    // The entries' before and after are JSON texts, so a code would show escaped in `logged`.
    for code in ["P1", "P2", "P3", "p1"] {
        let quoted = format!("\\\"{code}\\\"");
        assert!(!logged.contains(&quoted), "{code} in {logged}");
    }
    assert_eq!(db.routes(&w.member_b).await.expect("routes").len(), 0);

    // The grid member reads the route's checkpoints by name and position, never by code
    // (listed or one by one); the workstation that set it up reads the codes back.
    let codes = |route: &muster_storage::PatrolRoute| -> Vec<String> {
        route
            .draft()
            .checkpoints
            .into_iter()
            .map(|c| c.code)
            .collect()
    };
    let listed = db.routes(&w.member_a).await.expect("member's routes");
    assert_eq!(listed.len(), 1);
    assert_eq!(codes(&listed[0]), ["", "", ""]);
    assert_eq!(
        listed[0]
            .draft()
            .checkpoints
            .iter()
            .map(|c| (c.name.as_str(), c.latitude))
            .collect::<Vec<_>>(),
        [("点位P1", 31.8), ("点位P2", 31.8), ("点位P3", 31.8)]
    );
    let one = db
        .route(&w.member_a, route.id)
        .await
        .expect("member's route");
    assert_eq!(codes(&one), ["", "", ""]);
    for manager_view in [
        db.routes(&w.workstation).await.expect("routes").remove(0),
        db.route(&w.workstation, route.id).await.expect("route"),
    ] {
        assert_eq!(codes(&manager_view), ["P1", "P2", "P3"]);
    }
    assert!(intact(&db).await > 0);
    let _ = (w.village_b, w.shelter_b, w.siren);
}

on_both_databases!(a_patrol_route_is_changed_and_retired, route_changes);
/// Staff who set routes up change a route's name, window and checkpoints, never while a run
/// of it waits to be checked, since a run is judged against the checkpoints it was walked
/// by; or retire it, at any time. A retired route is no longer listed or walked, its runs stay
/// on record (one under way is still checked), and each change is audited without the
/// checkpoints' codes. A property manager reads no route.
async fn route_changes(db: Database) {
    let w = world(&db).await;
    let now = muster_storage::now();
    let point = |code: &str| Checkpoint {
        code: code.into(),
        name: format!("点位{code}"),
        latitude: 31.8,
        longitude: 117.2,
    };
    let draft = |name: &str, codes: &[&str]| RouteDraft {
        name: name.into(),
        window_minutes: 30,
        checkpoints: codes.iter().map(|c| point(c)).collect(),
    };
    let route = db
        .create_route(
            &w.workstation,
            &w.village_a,
            Some(w.grid_a),
            &draft("夜巡", &["P1", "P2"]),
        )
        .await
        .expect("route");
    db.check_in(&w.member_a, route.id, "P1", None, now)
        .await
        .expect("check in");

    // Under way: not changed.
    let refused = db
        .update_route(&w.workstation, route.id, &draft("夜巡二", &["P1", "P3"]))
        .await;
    assert!(
        matches!(&refused, Err(E::Conflict { field: "route", .. })),
        "{refused:?}"
    );
    // A property manager reads no route, not even one passing their premises.
    assert!(db.routes(&w.manager).await.expect("routes").is_empty());
    assert!(matches!(
        db.route(&w.manager, route.id).await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.route_runs(&w.manager, route.id).await,
        Err(E::NotFound { .. })
    ));
    assert_eq!(db.routes(&w.workstation).await.expect("routes").len(), 1);
    // Only those who set routes up change them; a bad draft names its field.
    assert!(matches!(
        db.update_route(&w.member_a, route.id, &draft("夜巡二", &["P1"]))
            .await,
        Err(E::Forbidden { .. })
    ));
    assert!(matches!(
        db.update_route(&w.member_b, route.id, &draft("夜巡二", &["P1"]))
            .await,
        Err(E::Forbidden { .. } | E::NotFound { .. })
    ));

    // Checked, the run is judged by the checkpoints it was walked by: P2 missed.
    db.sweep_patrols(now.plus_millis(31 * 60_000), "log")
        .await
        .expect("sweep");
    assert!(matches!(
        db.update_route(&w.workstation, route.id, &draft("", &["P1"]))
            .await,
        Err(E::Refused { .. })
    ));
    let changed = db
        .update_route(&w.workstation, route.id, &draft("夜巡二", &["P1", "P3"]))
        .await
        .expect("changed");
    assert_eq!(changed.name, "夜巡二");
    assert_eq!(
        changed
            .draft()
            .checkpoints
            .iter()
            .map(|c| c.code.as_str())
            .collect::<Vec<_>>(),
        ["P1", "P3"]
    );
    let runs = db.route_runs(&w.workstation, route.id).await.expect("runs");
    assert_eq!(runs[0].missed.as_deref(), Some("[\"点位P2\"]"));
    // The new checkpoints are walked; the old one is no longer a checkpoint.
    let later = now.plus_millis(60 * 60_000);
    assert!(matches!(
        db.check_in(&w.member_a, route.id, "P2", None, later).await,
        Err(E::Refused { .. })
    ));
    db.check_in(&w.member_a, route.id, "P3", None, later)
        .await
        .expect("the new checkpoint");
    db.sweep_patrols(later.plus_millis(31 * 60_000), "log")
        .await
        .expect("sweep");

    // Retired while a run is under way: not listed, not walked, not changed; its runs stay,
    // and the one under way is checked by the checkpoints it was walked by.
    db.check_in(
        &w.member_a,
        route.id,
        "P1",
        None,
        later.plus_millis(40 * 60_000),
    )
    .await
    .expect("a run under way");
    db.retire_route(&w.workstation, route.id)
        .await
        .expect("retired");
    assert!(matches!(
        db.retire_route(&w.workstation, route.id).await,
        Err(E::Conflict { field: "route", .. })
    ));
    assert!(db.routes(&w.workstation).await.expect("routes").is_empty());
    assert!(db.routes(&w.member_a).await.expect("routes").is_empty());
    assert!(matches!(
        db.check_in(
            &w.member_a,
            route.id,
            "P1",
            None,
            later.plus_millis(3_600_000)
        )
        .await,
        Err(E::Conflict { field: "route", .. })
    ));
    assert!(matches!(
        db.update_route(&w.workstation, route.id, &draft("夜巡三", &["P1"]))
            .await,
        Err(E::Conflict { field: "route", .. })
    ));
    let kept = db.route(&w.workstation, route.id).await.expect("kept");
    assert!(kept.retired_at.is_some());
    // Its walker could not check in any more: what it missed is recorded, nobody alerted.
    let alerts = db
        .sweep_patrols(later.plus_millis(80 * 60_000), "log")
        .await
        .expect("sweep");
    assert!(alerts.is_empty(), "{alerts:?}");
    let runs = db.route_runs(&w.workstation, route.id).await.expect("runs");
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|run| run.checked_at.is_some()), "{runs:?}");
    assert_eq!(runs[0].missed.as_deref(), Some("[\"点位P3\"]"));

    let audit = db
        .audit_entries(w.workstation.scope(), 100)
        .await
        .expect("audit");
    let actions: Vec<&str> = audit
        .iter()
        .filter(|e| e.entity == "patrol_route")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(actions, ["retire", "update", "create"]);
    // The digest key was made once, with the first route, and that is audited, not the key.
    let made: Vec<(String, String)> = db
        .audit_entries(&Scope::everything(), 1000)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.entity == "setting")
        .map(|e| (e.action, e.entity_id))
        .collect();
    assert_eq!(
        made,
        [("create".to_owned(), "checkpoint_digest_key".to_owned())]
    );
    // A property manager's region holds the route's entries, which they do not read.
    let patrol_entries = |entries: Vec<muster_storage::AuditEntry>| {
        entries
            .into_iter()
            .filter(|e| e.entity == "patrol_route" || e.entity == "patrol_run")
            .count()
    };
    let in_region = db
        .audit_entries(w.manager.scope(), 1000)
        .await
        .expect("audit");
    assert!(
        patrol_entries(in_region) > 0,
        "the route is in the manager's region"
    );
    let read = db
        .audit_entries_read_by(&w.manager, 1000)
        .await
        .expect("audit");
    assert!(
        !read.is_empty(),
        "the manager reads the rest of their region's log"
    );
    assert_eq!(patrol_entries(read), 0);
    let read = db
        .audit_entries_read_by(&w.workstation, 1000)
        .await
        .expect("audit");
    assert!(patrol_entries(read) >= 3);
    let logged = serde_json::to_string(&audit).expect("json");
    // The entries' before and after are JSON texts, so a code would show escaped in `logged`.
    for code in ["P1", "P2", "P3"] {
        let quoted = format!("\\\"{code}\\\"");
        assert!(!logged.contains(&quoted), "{code} in {logged}");
    }
    // Nor a plain SHA-256 of a code, which a reader could match by hashing guesses: the
    // digests are keyed, with one key, so P1 has one digest in every entry.
    use sha2::Digest;
    for code in ["P1", "P2", "P3"] {
        let plain = hex::encode(sha2::Sha256::digest(code.as_bytes()));
        assert!(
            !logged.contains(&plain),
            "{code}'s plain SHA-256 in {logged}"
        );
    }
    let digests_of_p1: std::collections::BTreeSet<String> = audit
        .iter()
        .filter(|e| e.entity == "patrol_route")
        .flat_map(|e| [e.before.clone(), e.after.clone()])
        .flatten()
        .filter_map(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .filter_map(|route| {
            route["checkpoints"]
                .as_array()?
                .iter()
                .find(|c| c["name"] == "点位P1")
                .map(|c| {
                    c["code_hmac_sha256"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
        })
        .collect();
    assert_eq!(digests_of_p1.len(), 1, "{digests_of_p1:?}");
    assert!(
        digests_of_p1.iter().all(|d| d.len() == 64),
        "{digests_of_p1:?}"
    );

    // A route of another grid of the member's own village is not theirs to read or walk,
    // one by one as in the list.
    let other_grid = db
        .create_grid(&w.workstation, "第三网格", &w.village_a)
        .await
        .expect("grid")
        .id;
    let theirs = db
        .create_route(
            &w.workstation,
            &w.village_a,
            Some(other_grid),
            &draft("早巡", &["Q1"]),
        )
        .await
        .expect("route");
    assert!(db.routes(&w.member_a).await.expect("routes").is_empty());
    assert!(matches!(
        db.route(&w.member_a, theirs.id).await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.check_in(
            &w.member_a,
            theirs.id,
            "Q1",
            None,
            later.plus_millis(7_200_000)
        )
        .await,
        Err(E::NotFound { .. })
    ));
    db.add_grid_member(
        &w.workstation,
        other_grid,
        w.member_a.user_id().expect("id"),
    )
    .await
    .expect("member");
    db.check_in(
        &w.member_a,
        theirs.id,
        "Q1",
        None,
        later.plus_millis(7_200_000),
    )
    .await
    .expect("a member of that grid now");
    assert!(intact(&db).await > 0);
}

on_both_databases!(a_grid_member_is_taken_off_their_grid, grid_member_removed);
/// A member taken off a grid no longer sees its facilities; the removal is audited, and only
/// staff of the grid's subtree may make it.
async fn grid_member_removed(db: Database) {
    let w = world(&db).await;
    let member_a = w.member_a.user_id().expect("id");
    let members = db.grid_members(&w.county_office).await.expect("members");
    assert_eq!(
        members
            .iter()
            .map(|m| (m.grid_id, m.user_id))
            .collect::<Vec<_>>(),
        vec![
            (w.grid_a, member_a),
            (w.grid_b, w.member_b.user_id().expect("id"))
        ]
    );
    assert!(
        db.grid_members(&w.other_workstation)
            .await
            .expect("members")
            .is_empty(),
        "another township's grids are not listed"
    );
    assert!(matches!(
        db.remove_grid_member(&w.member_b, w.grid_a, member_a).await,
        Err(E::Forbidden(_))
    ));
    assert!(matches!(
        db.remove_grid_member(&w.other_workstation, w.grid_a, member_a)
            .await,
        Err(E::NotFound { .. })
    ));
    let entries = intact(&db).await;
    db.remove_grid_member(&w.workstation, w.grid_a, member_a)
        .await
        .expect("removed");
    assert_eq!(intact(&db).await, entries + 1);
    assert!(
        db.facilities(&w.member_a, None, None, 100, 0)
            .await
            .expect("list")
            .is_empty(),
        "no grid, no facilities"
    );
    assert!(matches!(
        db.remove_grid_member(&w.workstation, w.grid_a, member_a)
            .await,
        Err(E::NotFound { .. })
    ));
}
