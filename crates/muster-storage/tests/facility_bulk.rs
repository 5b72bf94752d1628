//! Bulk loading stories, each run against SQLite and PostgreSQL: grids, members and
//! facilities in one audited transaction (or nothing), and inspection history that keeps
//! every facility's last inspection and next due day what the history says.

use muster_domain::facility::{
    ConversionStep, FacilityDraft, FacilityKind, InspectionDraft, ItemAnswer, ItemResult,
    PeacetimeUse, SignStatus, default_checklist,
};
use muster_domain::organization::Roles;
use muster_domain::time::CivilDate;
use muster_domain::{Actor, OrganizationKind, Scope, Side, Timestamp};
use muster_storage::{
    AttachmentInput, AuditVerification, BulkFacility, BulkGrid, BulkInspection, Database,
    FacilityLoad, NewOrganization, NewUser, StorageError as E, on_both_databases,
};

fn cli() -> Actor {
    Actor::command_line("test")
}

async fn audit_entries(db: &Database) -> i64 {
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

/// A township of the tiny demo with two villages, its workstation, a grid member in the
/// first village, a property manager, and the workstation of another township.
struct World {
    village_a: String,
    village_b: String,
    other_village: String,
    workstation: Actor,
    other_workstation: Actor,
    member: Actor,
    manager_org: i64,
}

async fn world(db: &Database) -> World {
    muster_storage::testing::import_tiny_demo_regions(db).await;
    let everything = Scope::everything();
    let city = db
        .region_view(&everything, Some("3401"))
        .await
        .expect("city");
    let county = db
        .region_view(&everything, Some(&city.children[0].code))
        .await
        .expect("county");
    let township_code = county.children[0].code.clone();
    let other_township_code = county.children[1].code.clone();
    let township = db
        .region_view(&everything, Some(&township_code))
        .await
        .expect("township");
    let other_township = db
        .region_view(&everything, Some(&other_township_code))
        .await
        .expect("other township");
    let station = organization(
        db,
        "Workstation",
        OrganizationKind::TownshipWorkstation,
        &township_code,
    )
    .await;
    let other_station = organization(
        db,
        "Other workstation",
        OrganizationKind::TownshipWorkstation,
        &other_township_code,
    )
    .await;
    let village_a = township.children[0].code.clone();
    let point = organization(
        db,
        "Contact point",
        OrganizationKind::VillageContactPoint,
        &village_a,
    )
    .await;
    let manager_org = organization(
        db,
        "Property manager",
        OrganizationKind::PropertyManager,
        &township_code,
    )
    .await;
    World {
        village_b: township.children[1].code.clone(),
        other_village: other_township.children[0].code.clone(),
        village_a,
        workstation: user(db, "station", station, "workstation_staff").await,
        other_workstation: user(db, "other", other_station, "workstation_staff").await,
        member: user(db, "member", point, "grid_member").await,
        manager_org,
    }
}

fn draft(name: &str, kind: FacilityKind, sign: SignStatus) -> FacilityDraft {
    FacilityDraft {
        name: name.into(),
        kind,
        latitude: 31.8,
        longitude: 117.2,
        capacity_persons: 500,
        area_m2: 1200.0,
        peacetime: PeacetimeUse {
            parking_spaces: 40,
            charging_points: 2,
            services: vec!["快递柜".into()],
            since: Some(CivilDate::from_days(20_000)),
        },
        sign_status: sign,
        equipment: vec![],
        conversion: vec![ConversionStep {
            label: "清车".into(),
            minutes: 600,
        }],
    }
}

fn facility(
    name: &str,
    kind: FacilityKind,
    village: &str,
    grid: Option<usize>,
    registered_at: Timestamp,
) -> BulkFacility {
    BulkFacility {
        draft: draft(name, kind, SignStatus::Missing),
        region_code: village.to_owned(),
        grid,
        manager_organization_id: None,
        registered_at,
        sign_installed: None,
    }
}

fn visit(kind: FacilityKind, failing: &[&str], at: Timestamp) -> InspectionDraft {
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
        notes: "历史记录".into(),
        latitude: Some(31.8001),
        longitude: Some(117.2001),
        inspected_at: at,
    }
}

async fn facility_count(db: &Database, actor: &Actor) -> usize {
    db.facilities(actor, None, None, 1000, 0)
        .await
        .expect("facilities")
        .len()
}

on_both_databases!(
    a_load_stores_grids_members_and_facilities_with_one_entry,
    load_facilities
);
async fn load_facilities(db: Database) {
    let w = world(&db).await;
    let member_id = w.member.user_id().expect("member id");
    let now = muster_storage::now();
    let registered = now.plus_days(-3);
    let before = audit_entries(&db).await;
    let mut signed = facility(
        "已挂牌掩蔽所",
        FacilityKind::Shelter,
        &w.village_a,
        Some(0),
        registered,
    );
    signed.draft.sign_status = SignStatus::Installed;
    signed.sign_installed = Some(CivilDate::from_days(20_100));
    signed.manager_organization_id = Some(w.manager_org);
    let summary = db
        .bulk_load_facilities(
            &w.workstation,
            FacilityLoad {
                grids: vec![
                    BulkGrid {
                        name: "一网格".into(),
                        region_code: w.village_a.clone(),
                        member_user_ids: vec![member_id],
                    },
                    BulkGrid {
                        name: "二网格".into(),
                        region_code: w.village_b.clone(),
                        member_user_ids: vec![],
                    },
                ],
                facilities: vec![
                    signed,
                    facility(
                        "警报器",
                        FacilityKind::Siren,
                        &w.village_a,
                        Some(0),
                        registered,
                    ),
                    facility(
                        "应急箱",
                        FacilityKind::EmergencyKit,
                        &w.village_a,
                        None,
                        registered,
                    ),
                    facility(
                        "车库",
                        FacilityKind::BasementCarPark,
                        &w.village_b,
                        Some(1),
                        registered,
                    ),
                ],
            },
            "old registry",
        )
        .await
        .expect("the load is stored");
    assert_eq!(summary.grid_ids.len(), 2);
    assert_eq!(summary.facility_ids.len(), 4);
    assert_eq!(summary.grid_members, 1);
    assert_eq!(audit_entries(&db).await, before + 1, "one entry per load");

    // Ids come back in input order and read back as loaded.
    let first = db
        .facility(&w.workstation, summary.facility_ids[0])
        .await
        .expect("first facility");
    assert_eq!(first.name, "已挂牌掩蔽所");
    assert_eq!(first.grid_id, Some(summary.grid_ids[0]));
    assert_eq!(first.manager_organization_id, Some(w.manager_org));
    assert_eq!(first.sign_installed_day, Some(20_100));
    assert_eq!(first.next_due_day, registered.date().days_since_epoch());
    assert_eq!(first.created_at, registered.as_millis());
    assert_eq!(first.last_inspected_at, None);
    let car_park = db
        .facility(&w.workstation, summary.facility_ids[3])
        .await
        .expect("car park");
    assert_eq!(car_park.kind, "basement_car_park");
    assert_eq!(car_park.grid_id, Some(summary.grid_ids[1]));

    // The member walks the first grid: its two facilities are in their rounds, overdue.
    let rounds = db
        .rounds_due(&w.member, now.date(), 100)
        .await
        .expect("rounds");
    let mut names: Vec<&str> = rounds.iter().map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["已挂牌掩蔽所", "警报器"]);
    let grid = db
        .grid(&w.workstation, summary.grid_ids[0])
        .await
        .expect("grid");
    assert_eq!((grid.member_count, grid.facility_count), (1, 2));

    // Ids keep counting after a load: a facility registered one at a time gets a new one.
    let single = db
        .create_facility(
            &w.workstation,
            muster_storage::NewFacility {
                draft: draft("单独登记", FacilityKind::Shelter, SignStatus::Missing),
                region_code: w.village_b.clone(),
                grid_id: None,
                manager_organization_id: None,
            },
        )
        .await
        .expect("a facility after the load");
    assert!(single.id > *summary.facility_ids.iter().max().expect("ids"));
    let second = db
        .bulk_load_facilities(
            &w.workstation,
            FacilityLoad {
                grids: vec![],
                facilities: vec![facility(
                    "第二批",
                    FacilityKind::Shelter,
                    &w.village_b,
                    None,
                    registered,
                )],
            },
            "second batch",
        )
        .await
        .expect("a second load");
    assert!(second.facility_ids[0] > single.id);
    assert_eq!(facility_count(&db, &w.workstation).await, 6);
    assert_eq!(audit_entries(&db).await, before + 3);
}

on_both_databases!(a_refused_load_stores_nothing, refused_loads);
async fn refused_loads(db: Database) {
    let w = world(&db).await;
    let now = muster_storage::now();
    let before = audit_entries(&db).await;
    let one = |village: &str, grid| FacilityLoad {
        grids: vec![BulkGrid {
            name: "网格".into(),
            region_code: village.to_owned(),
            member_user_ids: vec![],
        }],
        facilities: vec![
            facility("甲", FacilityKind::Shelter, village, None, now),
            facility("乙", FacilityKind::Siren, village, grid, now),
        ],
    };

    // Another township's workstation reaches neither village.
    let refused = db
        .bulk_load_facilities(&w.other_workstation, one(&w.village_a, Some(0)), "x")
        .await;
    assert!(matches!(refused, Err(E::OutOfScope { .. })), "{refused:?}");
    // A grid member does not register facilities.
    let refused = db
        .bulk_load_facilities(&w.member, one(&w.village_a, Some(0)), "x")
        .await;
    assert!(matches!(refused, Err(E::Forbidden(_))), "{refused:?}");
    // A facility of village B cannot be in a grid of village A.
    let mut load = one(&w.village_a, Some(0));
    load.facilities[1].region_code = w.village_b.clone();
    let refused = db.bulk_load_facilities(&w.workstation, load, "x").await;
    assert!(
        matches!(&refused, Err(E::Refused { field: "grid", message, .. }) if message.contains("facility 1")),
        "{refused:?}"
    );
    // A bad draft is named by its row.
    let mut load = one(&w.village_a, None);
    load.facilities[1].draft.capacity_persons = 10_000_000;
    let refused = db.bulk_load_facilities(&w.workstation, load, "x").await;
    assert!(
        matches!(&refused, Err(E::Refused { message, .. }) if message.contains("facility 1") && message.contains("capacity_persons")),
        "{refused:?}"
    );
    // A grid member from outside the grid's region.
    let mut load = one(&w.village_b, None);
    load.grids[0].member_user_ids = vec![w.member.user_id().expect("id")];
    let refused = db.bulk_load_facilities(&w.workstation, load, "x").await;
    assert!(
        matches!(
            &refused,
            Err(E::Refused {
                field: "member_user_ids",
                ..
            })
        ),
        "{refused:?}"
    );
    // A grid named like a stored one: the database refuses midway, and the transaction
    // takes back what it had written.
    db.create_grid(&w.workstation, "网格", &w.village_a)
        .await
        .expect("a stored grid");
    let after_grid = audit_entries(&db).await;
    let refused = db
        .bulk_load_facilities(&w.workstation, one(&w.village_a, Some(0)), "x")
        .await;
    assert!(
        matches!(
            &refused,
            Err(E::Conflict { field: "name", message_zh: Some(zh), .. }) if zh.contains("同名")
        ),
        "{refused:?}"
    );
    assert_eq!(facility_count(&db, &w.workstation).await, 0);
    assert_eq!(audit_entries(&db).await, after_grid);
    assert_eq!(after_grid, before + 1);
    let _ = w.other_village;
}

on_both_databases!(
    history_moves_each_facilitys_due_day_to_its_latest_visit,
    load_history
);
async fn load_history(db: Database) {
    let w = world(&db).await;
    let member_id = w.member.user_id().expect("member id");
    let now = muster_storage::now();
    let registered = now.plus_days(-200);
    let loaded = db
        .bulk_load_facilities(
            &w.workstation,
            FacilityLoad {
                grids: vec![BulkGrid {
                    name: "一网格".into(),
                    region_code: w.village_a.clone(),
                    member_user_ids: vec![member_id],
                }],
                facilities: vec![
                    facility(
                        "甲",
                        FacilityKind::Shelter,
                        &w.village_a,
                        Some(0),
                        registered,
                    ),
                    facility(
                        "乙",
                        FacilityKind::Shelter,
                        &w.village_a,
                        Some(0),
                        registered,
                    ),
                    facility("丙", FacilityKind::Siren, &w.village_a, Some(0), registered),
                ],
            },
            "old registry",
        )
        .await
        .expect("facilities");
    let [a, b, c] = loaded.facility_ids[..] else {
        panic!("three facilities");
    };
    // A visit recorded live, five days ago, is later than anything the history holds for A.
    db.record_inspection(
        &w.member,
        a,
        "live-1",
        &visit(FacilityKind::Shelter, &[], now.plus_days(-5)),
        &[],
        now,
    )
    .await
    .expect("a live visit");
    // B's village inspects shelters every ten days.
    db.set_schedule(&w.workstation, &w.village_a, FacilityKind::Shelter, 10)
        .await
        .expect("schedule");
    let before = audit_entries(&db).await;
    let photo = AttachmentInput {
        sha256: "ab".repeat(32),
        content_type: "image/jpeg".into(),
        media_kind: "image".into(),
        size_bytes: 2_000_000,
        thumbnail_sha256: None,
    };
    let row = |facility_id, key: &str, kind, failing: &[&str], days_ago: i64| BulkInspection {
        facility_id,
        inspector_user_id: member_id,
        idempotency_key: key.into(),
        draft: visit(kind, failing, now.plus_days(-days_ago)),
        received_at: now.plus_days(-days_ago),
        attachments: vec![],
    };
    let mut with_photo = row(b, "old-3", FacilityKind::Shelter, &["door_seal"], 12);
    with_photo.attachments = vec![photo.clone()];
    let rows = vec![
        row(a, "old-1", FacilityKind::Shelter, &[], 60),
        row(a, "old-2", FacilityKind::Shelter, &[], 30),
        with_photo,
        row(b, "old-4", FacilityKind::Shelter, &[], 40),
    ];

    // Refusals first: nothing of a refused load is stored.
    let mut twice = rows.clone();
    twice[1].idempotency_key = "old-1".into();
    let refused = db
        .bulk_load_inspection_history(&w.workstation, twice, "x")
        .await;
    assert!(
        matches!(
            refused,
            Err(E::Conflict {
                field: "idempotency_key",
                ..
            })
        ),
        "{refused:?}"
    );
    let mut stored_key = rows.clone();
    stored_key[3].idempotency_key = "live-1".into();
    let refused = db
        .bulk_load_inspection_history(&w.workstation, stored_key, "x")
        .await;
    assert!(
        matches!(
            &refused,
            Err(E::Conflict {
                field: "idempotency_key",
                message_zh: Some(zh),
                ..
            }) if zh.contains("提交标识")
        ),
        "{refused:?}"
    );
    let mut unanswered = rows.clone();
    unanswered[2].draft.answers.pop();
    let refused = db
        .bulk_load_inspection_history(&w.workstation, unanswered, "x")
        .await;
    assert!(
        matches!(&refused, Err(E::Refused { message, .. }) if message.contains("inspection 2")),
        "{refused:?}"
    );
    let refused = db
        .bulk_load_inspection_history(&w.other_workstation, rows.clone(), "x")
        .await;
    assert!(matches!(refused, Err(E::NotFound { .. })), "{refused:?}");
    let refused = db
        .bulk_load_inspection_history(&w.member, rows.clone(), "x")
        .await;
    assert!(matches!(refused, Err(E::Forbidden(_))), "{refused:?}");
    assert_eq!(audit_entries(&db).await, before);

    let summary = db
        .bulk_load_inspection_history(&w.workstation, rows, "old inspections")
        .await
        .expect("the history is stored");
    assert_eq!(summary.inspection_ids.len(), 4);
    assert_eq!(summary.attachments, 1);
    assert_eq!(summary.facilities_updated, 2);
    assert_eq!(audit_entries(&db).await, before + 1);

    // A keeps its live visit; its due day follows the schedule now in force.
    let stored_a = db.facility(&w.workstation, a).await.expect("a");
    assert_eq!(
        stored_a.last_inspected_at,
        Some(now.plus_days(-5).as_millis())
    );
    assert_eq!(
        db.facility_inspections(&w.workstation, a, 10)
            .await
            .expect("a's visits")
            .len(),
        3
    );
    // B's latest loaded visit, twelve days ago, plus ten days: due two days ago.
    let stored_b = db.facility(&w.workstation, b).await.expect("b");
    assert_eq!(
        stored_b.last_inspected_at,
        Some(now.plus_days(-12).as_millis())
    );
    assert_eq!(stored_b.next_due(), now.plus_days(-12).date().plus_days(10));
    // C was never visited: due since it was registered.
    let stored_c = db.facility(&w.workstation, c).await.expect("c");
    assert_eq!(stored_c.next_due_day, registered.date().days_since_epoch());
    let rounds = db
        .rounds_due(&w.member, now.date(), 10)
        .await
        .expect("rounds");
    assert_eq!(
        rounds.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![c, b],
        "most overdue first"
    );

    // The loaded inspection keeps its photo, its failure count and its checklist; history
    // issues no orders.
    let with_photo = db
        .inspection(&w.workstation, summary.inspection_ids[2])
        .await
        .expect("the visit with a photo");
    assert_eq!(with_photo.failed_count, 1);
    assert_eq!(with_photo.idempotency_key, "old-3");
    assert!(with_photo.distance_m.is_some_and(|d| d < 100.0));
    assert_eq!(
        with_photo.checklist().expect("checklist"),
        default_checklist(FacilityKind::Shelter)
    );
    let attachments = db
        .inspection_attachments(&w.workstation, with_photo.id)
        .await
        .expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].sha256, photo.sha256);
    assert!(
        db.may_see_blob(&w.member, &photo.sha256)
            .await
            .expect("may see")
    );
    let dashboard = db
        .facility_dashboard(&w.workstation, None, now)
        .await
        .expect("dashboard");
    assert_eq!(dashboard.open_orders, 0);

    // A retry of the live key through the phone path still finds the live visit.
    let replay = db
        .record_inspection(
            &w.member,
            a,
            "live-1",
            &visit(FacilityKind::Shelter, &[], now.plus_days(-5)),
            &[],
            now,
        )
        .await
        .expect("replay");
    assert!(!replay.created);
}
