//! The transport setting, run against SQLite and PostgreSQL: an administrator's, refused by
//! field, audited, and read by every proposal and accept from then on.

use muster_domain::demand::Attendee;
use muster_domain::demand::{ClassificationLevel, DemandOrigin, NewDemandLine, NewTaskMeeting};
use muster_domain::organization::Roles;
use muster_domain::potential::{Holder, QualityGrade, RecordDraft, RecordStatus, holding_key};
use muster_domain::transport::TransportSetting;
use muster_domain::{Actor, OrganizationKind, RegionPath, Scope, Side};
use muster_storage::{
    AuditVerification, Database, DemandInput, NewOrganization, NewUser, RecordProvenance,
    StorageError as E, TRANSPORT_SETTING, on_both_databases,
};

const TRUCK: &str = "TRN.ROAD.TRUCK_HEAVY";
const TENT: &str = "CAD.MAT.TENT_12";
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

async fn user(db: &Database, name: &str, kind: OrganizationKind, code: &str, roles: &str) -> Actor {
    let organization_id = db
        .create_organization(
            &cli(),
            NewOrganization {
                name: format!("{name} organization"),
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
        .id;
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

/// A county with one holding of 10 heavy trucks a little north of its point, an office, a
/// liaison and a demand for 4 trucks at the point, analysed.
async fn demand_with_one_holding(db: &Database) -> (Actor, i64) {
    muster_storage::testing::import_tiny_demo_regions(db).await;
    let city = db
        .region_view(&Scope::everything(), Some("3401"))
        .await
        .expect("city");
    let a = city.children[0].clone();
    let point = (a.lat.unwrap_or(31.8), a.lon.unwrap_or(117.2));
    let office = user(
        db,
        "office",
        OrganizationKind::MobilizationOffice,
        &a.code,
        "office_staff",
    )
    .await;
    let liaison = user(
        db,
        "liaison",
        OrganizationKind::MilitaryLiaison,
        "3401",
        "military_liaison",
    )
    .await;
    let region_path = RegionPath::parse(&a.path).expect("path");
    let holder = Holder::Organization {
        id: None,
        name: "Haulage".into(),
    };
    db.insert_records(
        &cli(),
        vec![(
            1,
            RecordDraft {
                type_code: TRUCK.into(),
                quantity: 10.0,
                attributes: Default::default(),
                quality: QualityGrade::Good,
                holding_key: holding_key(&region_path, TRUCK, &holder, None),
                holder,
                site: None,
                region_code: a.code.clone(),
                region_path,
                coordinates: Some((point.0 + 0.2, point.1)),
                status: RecordStatus::Available,
            },
        )],
        RecordProvenance::default(),
        "test",
    )
    .await
    .expect("records");
    let demand = db
        .create_demand(
            &liaison,
            DemandInput {
                title: "抢险车辆".into(),
                origin: DemandOrigin::Military,
                classification: ClassificationLevel::Internal,
                region_code: a.code.clone(),
                lines: vec![NewDemandLine {
                    type_code: TRUCK.into(),
                    quantity: 4,
                    lat: point.0,
                    lon: point.1,
                    needed_by: muster_storage::now().plus_millis(48 * HOUR),
                    priority: 1,
                }],
            },
        )
        .await
        .expect("demand")
        .demand
        .id;
    db.record_task_meeting(
        &liaison,
        demand,
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
            decisions: vec!["就近调配".into()],
        },
    )
    .await
    .expect("analysed");
    (office, demand)
}

/// A refusal by field: the field, the English and the Chinese.
fn refused_field(result: Result<TransportSetting, E>) -> (&'static str, String, String) {
    match result {
        Err(E::Refused {
            field,
            message,
            message_zh,
        }) => (field, message, message_zh),
        other => panic!("expected a refusal by field, got {other:?}"),
    }
}

async fn transport_setting_story(db: Database) {
    let (office, demand) = demand_with_one_holding(&db).await;
    assert_eq!(
        db.transport_setting().await.expect("reads"),
        TransportSetting::default()
    );
    let before = db
        .propose_allocation(office.scope(), demand)
        .await
        .expect("proposal");
    let first = &before.assignments[0];
    assert!((first.road_km / first.great_circle_km - 1.3).abs() < 1e-9);
    assert!((first.travel_hours - first.road_km / 60.0).abs() < 1e-9);
    assert_eq!(
        first.unit_cost_cents,
        (first.road_km * 2.0 * 100.0).round() as i64
    );

    // Refused by field, nothing written.
    let wanted = TransportSetting {
        road_factor: 2.0,
        speed_km_per_hour: 30.0,
        default_cost_per_unit_km: 1.0,
        cost_per_unit_km_by_type: [(TRUCK.to_owned(), 5.0), (TENT.to_owned(), 0.5)]
            .into_iter()
            .collect(),
    };
    assert!(matches!(
        db.set_transport_setting(&office, wanted.clone()).await,
        Err(E::Forbidden(_))
    ));
    let entries = intact(&db).await;
    let (field, message, message_zh) = refused_field(
        db.set_transport_setting(
            &cli(),
            TransportSetting {
                road_factor: 0.5,
                ..wanted.clone()
            },
        )
        .await,
    );
    assert_eq!(field, "road_factor");
    assert!(message.contains("found 0.5"), "{message}");
    assert!(
        message_zh.starts_with("road_factor：道路系数") && message_zh.contains("实为 0.5"),
        "{message_zh}"
    );
    let (field, message, message_zh) = refused_field(
        db.set_transport_setting(
            &cli(),
            TransportSetting {
                cost_per_unit_km_by_type: [("NO.SUCH".to_owned(), 1.0)].into_iter().collect(),
                ..wanted.clone()
            },
        )
        .await,
    );
    assert_eq!(field, "cost_per_unit_km_by_type");
    assert!(message.contains("NO.SUCH"), "{message}");
    assert!(
        message_zh.contains("cost_per_unit_km_by_type.NO.SUCH：分类目录中没有这种资源类型"),
        "{message_zh}"
    );
    assert_eq!(intact(&db).await, entries, "refusals write nothing");

    // Set, audited, and read by the next proposal.
    db.set_transport_setting(&cli(), wanted.clone())
        .await
        .expect("set");
    assert_eq!(db.transport_setting().await.expect("reads"), wanted);
    assert_eq!(intact(&db).await, entries + 1);
    let audited = db
        .audit_entries(&Scope::everything(), 1)
        .await
        .expect("audit");
    assert_eq!(audited[0].entity_id, TRANSPORT_SETTING);
    assert!(
        audited[0].before.as_deref().unwrap_or("").contains("1.3"),
        "{:?}",
        audited[0].before
    );
    let after = db
        .propose_allocation(office.scope(), demand)
        .await
        .expect("proposal");
    let first = &after.assignments[0];
    assert!((first.road_km / first.great_circle_km - 2.0).abs() < 1e-9);
    assert!((first.travel_hours - first.road_km / 30.0).abs() < 1e-9);
    assert_eq!(
        first.unit_cost_cents,
        (first.road_km * 5.0 * 100.0).round() as i64
    );

    // The accept reads it too: what it stores is costed by the setting.
    let accepted = db
        .accept_allocation(&office, demand, None)
        .await
        .expect("accepted");
    let view = db.demand(office.scope(), demand).await.expect("demand");
    let stored = &view.allocations[0];
    assert_eq!(stored.unit_cost_cents, first.unit_cost_cents);
    assert!((stored.travel_hours - first.travel_hours).abs() < 1e-9);
    let _ = accepted;
}

on_both_databases!(transport_setting, transport_setting_story);

on_both_databases!(
    installation_rules_are_for_an_administrator_over_every_region,
    installation_rules_story
);
/// Settings, the taxonomy, the checklists and the stale period apply to every region, so a
/// county's administrator may not change them; the province's may (the demo province is
/// the whole installation here), and the change is audited where that administrator sees it.
async fn installation_rules_story(db: Database) {
    use muster_domain::facility::FacilityKind;
    muster_storage::testing::import_tiny_demo_regions(&db).await;
    let kind = OrganizationKind::MobilizationOffice;
    let county_admin = user(&db, "county-admin", kind, "340101", "administrator").await;
    let province_admin = user(&db, "province-admin", kind, "34", "administrator").await;
    let entries = intact(&db).await;

    let setting = TransportSetting {
        road_factor: 1.5,
        ..TransportSetting::default()
    };
    assert!(matches!(
        db.set_transport_setting(&county_admin, setting.clone())
            .await,
        Err(E::Forbidden(_))
    ));
    let compensation = db.compensation_setting().await.expect("reads");
    assert!(matches!(
        db.set_compensation_setting(&county_admin, compensation.clone())
            .await,
        Err(E::Forbidden(_))
    ));
    assert!(matches!(
        db.set_exemption_rules(&county_admin, Vec::new()).await,
        Err(E::Forbidden(_))
    ));
    assert!(matches!(
        db.set_stale_after_days(&county_admin, 200).await,
        Err(E::Forbidden(_))
    ));
    let taxonomy = db.taxonomy().await.expect("taxonomy");
    let tent = taxonomy.resource_type(TENT).expect("tent").clone();
    assert!(matches!(
        db.save_resource_type(&county_admin, tent.clone()).await,
        Err(E::Forbidden(_))
    ));
    let checklist = db
        .checklist(FacilityKind::Shelter)
        .await
        .expect("checklist");
    assert!(matches!(
        db.set_checklist(&county_admin, checklist.clone()).await,
        Err(E::Forbidden(_))
    ));
    assert_eq!(intact(&db).await, entries, "refusals write nothing");

    db.set_transport_setting(&province_admin, setting.clone())
        .await
        .expect("the province's administrator sets it");
    db.set_stale_after_days(&province_admin, 200)
        .await
        .expect("and the stale period");
    db.save_resource_type(&province_admin, tent)
        .await
        .expect("and the taxonomy");
    db.set_checklist(&province_admin, checklist)
        .await
        .expect("and the checklists");
    assert_eq!(db.transport_setting().await.expect("reads"), setting);
    let seen = db
        .audit_entries(province_admin.scope(), 10)
        .await
        .expect("audit");
    for entity in ["setting", "resource_type", "checklist"] {
        assert!(
            seen.iter().any(|e| e.entity == entity),
            "the province's administrator sees their {entity} change: {seen:?}"
        );
    }
    assert_eq!(intact(&db).await, entries + 4);
}
