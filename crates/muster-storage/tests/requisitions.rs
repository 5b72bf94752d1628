//! Requisition and sustainment stories, each run against SQLite and PostgreSQL: drafting
//! with the exemption rules applied first, the lifecycle in order and out of it, the
//! compensation as the domain assesses it, who reads which orders (staff by subtree, an
//! enterprise only its own, a citizen through an expiring link), never twice on open
//! orders; and sustainment scenarios run on the stock of their subtree.

use std::collections::{BTreeMap, BTreeSet};

use muster_domain::demand::{ClassificationLevel, DemandOrigin, NewDemandLine};
use muster_domain::organization::Roles;
use muster_domain::potential::{Holder, QualityGrade, RecordDraft, RecordStatus, holding_key};
use muster_domain::requisition::{
    CompensationPolicy, CompensationSetting, ExemptionRules, HolderCategory, ItemCompensationInput,
    RequisitionEvent, RequisitionStatus, ReturnCondition, UseLogEntry, assess_compensation,
    use_days,
};
use muster_domain::sustainment::{
    Adjustment, DiscountPolicy, StockFigures, apply_adjustments, compute,
};
use muster_domain::taxonomy::AttributeValue;
use muster_domain::{Actor, OrganizationKind, RegionPath, Scope, Side, Timestamp};
use muster_storage::testing::raw_execute;
use muster_storage::{
    AcceptedAssignment, AuditVerification, COMPENSATION_SETTING, Database, DemandInput,
    NewOrganization, NewRequisition, NewRequisitionLine, NewScenario, NewUser, ProductionLine,
    RecordFilter, RecordProvenance, ScenarioDocument, ScenarioTypeDocument, StorageError as E,
    SurgeStep, on_both_databases,
};

const TRUCK: &str = "TRN.ROAD.TRUCK_HEAVY";
const BUS: &str = "TRN.ROAD.BUS_MEDIUM";
const CAR: &str = "TRN.ROAD.OFF_ROAD";
const TENT: &str = "CAD.MAT.TENT_12";
const WATER: &str = "CAD.MAT.WATER_PURIFIER";
const DAY: i64 = 86_400_000;

fn cli() -> Actor {
    Actor::command_line("test")
}

fn at_day(day: i64) -> Timestamp {
    // 2027-01-01 plus `day` days.
    Timestamp::from_millis(1_798_761_600_000 + day * DAY)
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

fn draft(
    code: &str,
    region_path: &str,
    type_code: &str,
    holder: Holder,
    quantity: f64,
    attributes: &[(&str, AttributeValue)],
) -> (u32, RecordDraft) {
    let region_path = RegionPath::parse(region_path).expect("path");
    let key = holding_key(&region_path, type_code, &holder, None);
    (
        1,
        RecordDraft {
            type_code: type_code.to_owned(),
            quantity,
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            quality: QualityGrade::Good,
            holder,
            site: None,
            region_code: code.to_owned(),
            region_path,
            coordinates: None,
            status: RecordStatus::Available,
            holding_key: key,
        },
    )
}

fn organization_holder(id: i64, name: &str) -> Holder {
    Holder::Organization {
        id: Some(id),
        name: name.into(),
    }
}

/// The tiny demo's first city with two counties: an office in each, two enterprises and a
/// member unit in county A, a citizen, and their records.
struct World {
    city_code: String,
    county_a: (String, String),
    county_b: (String, String),
    office_a: Actor,
    office_b: Actor,
    city_office: Actor,
    viewer_a: Actor,
    enterprise_user_1: Actor,
    enterprise_user_2: Actor,
    enterprise_1: i64,
    truck_1: i64,
    adapted_bus_1: i64,
    truck_2: i64,
    citizen_car: i64,
    unit_truck: i64,
}

async fn record_id(db: &Database, holder: &str, type_code: &str) -> i64 {
    db.potential_records(
        &Scope::everything(),
        &RecordFilter {
            type_code: Some(type_code.into()),
            limit: 1000,
            ..RecordFilter::default()
        },
    )
    .await
    .expect("records")
    .into_iter()
    .find(|r| r.holder_name == holder)
    .unwrap_or_else(|| panic!("a {type_code} record of {holder}"))
    .id
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

    let city_office_org = organization(
        db,
        "City office",
        OrganizationKind::MobilizationOffice,
        "3401",
    )
    .await;
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
    let enterprise_1 = organization(
        db,
        "Hefei Haulage Co.",
        OrganizationKind::Enterprise,
        &a.code,
    )
    .await;
    let enterprise_2 = organization(
        db,
        "Feixi Freight Co.",
        OrganizationKind::Enterprise,
        &a.code,
    )
    .await;
    let unit = organization(
        db,
        "Transport bureau A",
        OrganizationKind::MemberUnit,
        &a.code,
    )
    .await;

    let drafts = vec![
        draft(
            &a.code,
            &a.path,
            TRUCK,
            organization_holder(enterprise_1, "Hefei Haulage Co."),
            5.0,
            &[],
        ),
        draft(
            &a.code,
            &a.path,
            BUS,
            organization_holder(enterprise_1, "Hefei Haulage Co."),
            2.0,
            &[("adapted_for_disabled", AttributeValue::Boolean(true))],
        ),
        draft(
            &a.code,
            &a.path,
            TRUCK,
            organization_holder(enterprise_2, "Feixi Freight Co."),
            3.0,
            &[],
        ),
        draft(
            &a.code,
            &a.path,
            CAR,
            Holder::Person {
                name: "王建国".into(),
                id_number: Some("340104196501011234".into()),
                phone: Some("13800000000".into()),
            },
            1.0,
            &[],
        ),
        draft(
            &a.code,
            &a.path,
            TRUCK,
            organization_holder(unit, "Transport bureau A"),
            4.0,
            &[],
        ),
    ];
    db.insert_records(
        &cli(),
        drafts,
        RecordProvenance::default(),
        "requisition story",
    )
    .await
    .expect("records stored");

    World {
        city_code: city.region.as_ref().expect("city").code.clone(),
        county_a: (a.code.clone(), a.path.clone()),
        county_b: (b.code.clone(), b.path.clone()),
        office_a: user(db, "office_a", office_a_org, "office_staff").await,
        office_b: user(db, "office_b", office_b_org, "office_staff").await,
        city_office: user(db, "city_office", city_office_org, "office_staff").await,
        viewer_a: user(db, "viewer_a", office_a_org, "viewer").await,
        enterprise_user_1: user(db, "haulage", enterprise_1, "viewer").await,
        enterprise_user_2: user(db, "freight", enterprise_2, "property_manager").await,
        enterprise_1,
        truck_1: record_id(db, "Hefei Haulage Co.", TRUCK).await,
        adapted_bus_1: record_id(db, "Hefei Haulage Co.", BUS).await,
        truck_2: record_id(db, "Feixi Freight Co.", TRUCK).await,
        citizen_car: record_id(db, "王建国", CAR).await,
        unit_truck: record_id(db, "Transport bureau A", TRUCK).await,
    }
}

fn line(record_id: i64, quantity: i64) -> NewRequisitionLine {
    NewRequisitionLine {
        record_id,
        quantity,
        declared_value_fen: 45_000_000,
        daily_rate_fen: Some(120_000),
        in_service: false,
    }
}

fn order(lines: Vec<NewRequisitionLine>) -> NewRequisition {
    NewRequisition {
        legal_basis: "国防动员法第五十四条；县征用令2027-3号".into(),
        holder_category: None,
        items: lines,
    }
}

fn invalid_message(result: Result<impl std::fmt::Debug, E>) -> String {
    match result {
        Err(E::Refused { message, .. }) => message,
        other => panic!("expected a named refusal, got {other:?}"),
    }
}

/// A refusal said in both languages: its English and its Chinese.
fn refused_both(result: Result<impl std::fmt::Debug, E>) -> (String, String) {
    match result {
        Err(E::Refused {
            message,
            message_zh,
            ..
        }) => (message, message_zh),
        other => panic!("expected a refusal said in both languages, got {other:?}"),
    }
}

async fn requisition_story(db: Database) {
    let w = world(&db).await;
    let entries_before = intact(&db).await;

    // Exemptions first: the adapted bus is refused, naming the rule.
    let refused = db
        .create_requisition(
            &w.office_a,
            order(vec![line(w.truck_1, 1), line(w.adapted_bus_1, 1)]),
            at_day(0),
        )
        .await;
    let (message, message_zh) = refused_both(refused);
    assert!(message.contains("disabled_adapted_vehicle"), "{message}");
    assert!(
        message.contains(&format!("item {} is exempt", w.adapted_bus_1)),
        "{message}"
    );
    assert!(
        message_zh.contains(&format!("物项 {} 依规免予征用", w.adapted_bus_1))
            && message_zh.contains("disabled_adapted_vehicle"),
        "{message_zh}"
    );
    // A holder that is neither an enterprise nor a citizen, two holders in one order, more
    // than the record holds, a viewer drafting: each refused by name.
    let message = invalid_message(
        db.create_requisition(&w.office_a, order(vec![line(w.unit_truck, 1)]), at_day(0))
            .await,
    );
    assert!(
        message.contains("not a registered enterprise or a citizen"),
        "{message}"
    );
    let message = invalid_message(
        db.create_requisition(
            &w.office_a,
            order(vec![line(w.truck_1, 1), line(w.truck_2, 1)]),
            at_day(0),
        )
        .await,
    );
    assert!(message.contains("one order is for one holder"), "{message}");
    let message = invalid_message(
        db.create_requisition(&w.office_a, order(vec![line(w.truck_1, 6)]), at_day(0))
            .await,
    );
    assert!(message.contains("holds 5"), "{message}");
    let message = invalid_message(
        db.create_requisition(
            &w.office_a,
            NewRequisition {
                legal_basis: " ".into(),
                ..order(vec![line(w.truck_1, 1)])
            },
            at_day(0),
        )
        .await,
    );
    assert!(message.contains("legal_basis"), "{message}");
    assert!(matches!(
        db.create_requisition(&w.viewer_a, order(vec![line(w.truck_1, 1)]), at_day(0))
            .await,
        Err(E::Forbidden(_))
    ));
    // Another county's office does not reach the records at all.
    assert!(matches!(
        db.create_requisition(&w.office_b, order(vec![line(w.truck_1, 1)]), at_day(0))
            .await,
        Err(E::NotFound { .. })
    ));
    assert_eq!(intact(&db).await, entries_before, "refusals write nothing");

    // Drafted, and never twice.
    let drafted = db
        .create_requisition(&w.office_a, order(vec![line(w.truck_1, 2)]), at_day(0))
        .await
        .expect("drafted");
    let id = drafted.summary.id;
    assert_eq!(drafted.status(), RequisitionStatus::Drafted);
    assert_eq!(drafted.summary.region_path, w.county_a.1);
    assert_eq!(drafted.summary.holder_organization_id, Some(w.enterprise_1));
    assert_eq!(drafted.summary.holder_category, "enterprise");
    assert_eq!(drafted.items.len(), 1);
    assert!(matches!(
        db.create_requisition(&w.office_a, order(vec![line(w.truck_1, 1)]), at_day(0))
            .await,
        Err(E::Conflict { field: "items", .. })
    ));

    // Out of order: refused, naming the step, and nothing stored.
    let act = |event: RequisitionEvent| {
        let db = db.clone();
        let actor = w.office_a.clone();
        async move { db.act_on_requisition(&actor, id, &event, at_day(9)).await }
    };
    match act(RequisitionEvent::HandOver { at: at_day(1) }).await {
        Err(E::Conflict {
            field: "status",
            message,
            message_zh: Some(zh),
        }) => {
            assert!(message.contains("notify the holder first"), "{message}");
            assert!(zh.contains("请先通知持有人"), "{zh}");
        }
        other => panic!("a handover before the notice must be refused, got {other:?}"),
    }
    assert!(matches!(
        act(RequisitionEvent::Assess {
            policy: CompensationPolicy::default()
        })
        .await,
        Err(E::Conflict {
            field: "status",
            ..
        })
    ));
    // The holder does not act on the office's order.
    assert!(matches!(
        db.act_on_requisition(
            &w.enterprise_user_1,
            id,
            &RequisitionEvent::Notify { at: at_day(0) },
            at_day(0)
        )
        .await,
        Err(E::Forbidden(_))
    ));

    // The whole lifecycle.
    let handed_over = at_day(1);
    let returned = at_day(4).plus_millis(3 * 3_600_000);
    act(RequisitionEvent::Notify { at: at_day(0) })
        .await
        .expect("notified");
    act(RequisitionEvent::HandOver { at: handed_over })
        .await
        .expect("handed over");
    act(RequisitionEvent::RecordUse {
        entry: UseLogEntry {
            on: at_day(2),
            hours: Some(10),
            kilometres: Some(420),
            note: "运送帐篷".into(),
        },
    })
    .await
    .expect("use logged");
    // A return dated before the handover is refused.
    assert!(matches!(
        act(RequisitionEvent::Return {
            at: at_day(0),
            conditions: vec![ReturnCondition::Good]
        })
        .await,
        Err(E::Refused { field: "at", .. })
    ));
    act(RequisitionEvent::Return {
        at: returned,
        conditions: vec![ReturnCondition::Worn],
    })
    .await
    .expect("returned");
    let policy = CompensationPolicy::default();
    let assessed = act(RequisitionEvent::Assess { policy })
        .await
        .expect("assessed");
    let expected = assess_compensation(
        &[ItemCompensationInput {
            item_id: w.truck_1,
            quantity: 2,
            declared_value_fen: 45_000_000,
            daily_rate_fen: 120_000,
            use_days: use_days(handed_over, returned).expect("days"),
            condition: ReturnCondition::Worn,
        }],
        &policy,
    )
    .expect("the domain assesses");
    assert_eq!(assessed.order.assessment(), Some(&expected));
    assert_eq!(assessed.summary.total_fen, Some(expected.total_fen));
    assert_eq!(expected.items[0].use_days, 4);
    act(RequisitionEvent::Approve { at: at_day(10) })
        .await
        .expect("approved");
    let paid = act(RequisitionEvent::MarkPaid {
        at: at_day(12),
        reference: "国库支付 2027-0042".into(),
    })
    .await
    .expect("paid");
    assert_eq!(paid.status(), RequisitionStatus::Paid);
    assert_eq!(paid.summary.status, "paid");
    assert_eq!(paid.events.len(), 7);
    assert_eq!(paid.order.use_log().len(), 1);
    assert!(matches!(
        act(RequisitionEvent::Cancel {
            at: at_day(13),
            reason: "x".into()
        })
        .await,
        Err(E::Conflict { .. })
    ));
    // Read again from storage, the replay gives the same order.
    let reread = db.requisition(&w.office_a, id).await.expect("reads");
    assert_eq!(reread.order, paid.order);

    // Returned, the truck may be requisitioned again.
    let again = db
        .create_requisition(&w.office_a, order(vec![line(w.truck_1, 5)]), at_day(20))
        .await
        .expect("a returned record is free again");
    let cancelled = db
        .act_on_requisition(
            &w.office_a,
            again.summary.id,
            &RequisitionEvent::Cancel {
                at: at_day(20),
                reason: "需求撤销".into(),
            },
            at_day(20),
        )
        .await
        .expect("cancelled");
    assert_eq!(cancelled.status(), RequisitionStatus::Cancelled);

    // Who reads what. The enterprise sees its own orders and their compensation…
    let own = db
        .requisitions(&w.enterprise_user_1, None, 100, None)
        .await
        .expect("lists");
    assert_eq!(
        own.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![again.summary.id, id]
    );
    let seen = db
        .requisition(&w.enterprise_user_1, id)
        .await
        .expect("its own order");
    assert_eq!(
        seen.order.assessment().map(|a| a.total_fen),
        Some(expected.total_fen)
    );
    // …another enterprise in the same county sees none of them…
    assert!(
        db.requisitions(&w.enterprise_user_2, None, 100, None)
            .await
            .expect("lists")
            .is_empty()
    );
    assert!(matches!(
        db.requisition(&w.enterprise_user_2, id).await,
        Err(E::NotFound { .. })
    ));
    // The audit log keeps the same reach: each enterprise reads the entries of its own
    // orders only, and none of the records' hand-overs, though its region's log holds them.
    let requisition_entries = |entries: &[muster_storage::AuditEntry]| {
        let orders: Vec<String> = entries
            .iter()
            .filter(|e| e.entity == "requisition_order")
            .map(|e| e.entity_id.clone())
            .collect();
        let records = entries
            .iter()
            .filter(|e| e.entity == "potential_record" && e.action.starts_with("requisition_"))
            .count();
        (orders, records)
    };
    for reader in [&w.enterprise_user_1, &w.enterprise_user_2] {
        let (orders, records) =
            requisition_entries(&db.audit_entries(reader.scope(), 1000).await.expect("audit"));
        assert!(orders.contains(&id.to_string()), "{orders:?}");
        assert!(records > 0);
    }
    let (orders, records) = requisition_entries(
        &db.audit_entries_read_by(&w.enterprise_user_1, 1000)
            .await
            .expect("audit"),
    );
    assert!(orders.contains(&id.to_string()), "{orders:?}");
    assert!(orders.contains(&again.summary.id.to_string()), "{orders:?}");
    assert_eq!(records, 0);
    let (orders, records) = requisition_entries(
        &db.audit_entries_read_by(&w.enterprise_user_2, 1000)
            .await
            .expect("audit"),
    );
    assert_eq!((orders.len(), records), (0, 0), "{orders:?}");
    // …the other county's office neither, the city office and county A's office do.
    assert!(matches!(
        db.requisition(&w.office_b, id).await,
        Err(E::NotFound { .. })
    ));
    assert!(
        db.requisitions(&w.office_b, None, 100, None)
            .await
            .expect("lists")
            .is_empty()
    );
    assert_eq!(
        db.requisitions(&w.city_office, None, 100, None)
            .await
            .expect("lists")
            .len(),
        2
    );
    let paid_only = db
        .requisitions(&w.office_a, Some(RequisitionStatus::Paid), 100, None)
        .await
        .expect("lists");
    assert_eq!(paid_only.iter().map(|o| o.id).collect::<Vec<_>>(), vec![id]);

    // A citizen: drafted, the name masked for a viewer, the notice link expiring.
    let citizen = db
        .create_requisition(&w.office_a, order(vec![line(w.citizen_car, 1)]), at_day(30))
        .await
        .expect("a citizen's car is drafted");
    assert_eq!(citizen.summary.holder_category, "citizen");
    assert_eq!(citizen.summary.holder_name, "王建国");
    let masked = db
        .requisition(&w.viewer_a, citizen.summary.id)
        .await
        .expect("viewer reads");
    assert_ne!(masked.summary.holder_name, "王建国");
    // So is it in the audit log of the order's drafting, for the viewer, who is told so.
    let drafting = |entries: Vec<muster_storage::AuditEntry>| {
        entries
            .into_iter()
            .find(|e| {
                e.entity == "requisition_order"
                    && e.entity_id == citizen.summary.id.to_string()
                    && e.action == "create"
            })
            .expect("the drafting is logged")
    };
    let seen = drafting(
        db.audit_entries_read_by(&w.viewer_a, 1000)
            .await
            .expect("audit"),
    );
    let after = seen.after.as_deref().expect("details");
    assert!(seen.redacted);
    assert!(
        !after.contains("王建国") && after.contains("王**"),
        "{after}"
    );
    let seen = drafting(
        db.audit_entries_read_by(&w.office_a, 1000)
            .await
            .expect("audit"),
    );
    assert!(!seen.redacted);
    assert!(seen.after.as_deref().expect("details").contains("王建国"));
    assert!(matches!(
        db.create_requisition(
            &w.office_a,
            NewRequisition {
                holder_category: Some(HolderCategory::Hospital),
                ..order(vec![line(w.citizen_car, 1)])
            },
            at_day(30),
        )
        .await,
        Err(E::Refused {
            field: "holder_category",
            ..
        })
    ));
    let (token, expires) = db
        .create_requisition_link(&w.office_a, citizen.summary.id, 7, at_day(30))
        .await
        .expect("link");
    assert_eq!(expires, at_day(37));
    let by_link = db
        .requisition_by_link(&token, at_day(31))
        .await
        .expect("the link opens the order");
    assert_eq!(by_link.summary.id, citizen.summary.id);
    assert_eq!(by_link.summary.holder_name, "王建国");
    assert!(matches!(
        db.requisition_by_link(&token, at_day(37)).await,
        Err(E::LinkExpired)
    ));
    assert!(matches!(
        db.requisition_by_link(&"0".repeat(64), at_day(31)).await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.requisition_by_link("not a token", at_day(31)).await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.create_requisition_link(&w.enterprise_user_1, id, 7, at_day(30))
            .await,
        Err(E::Forbidden(_))
    ));

    // The exemption rules are an administrator's setting.
    assert!(matches!(
        db.set_exemption_rules(&w.office_a, vec![]).await,
        Err(E::Forbidden(_))
    ));
    let mut duplicate = ExemptionRules::default_rules().rules().to_vec();
    duplicate.push(duplicate[0].clone());
    let message = invalid_message(db.set_exemption_rules(&cli(), duplicate).await);
    assert!(message.contains("is used by an earlier rule"), "{message}");
    let without_vehicles: Vec<_> = ExemptionRules::default_rules()
        .rules()
        .iter()
        .filter(|r| r.code != "disabled_adapted_vehicle")
        .cloned()
        .collect();
    db.set_exemption_rules(&cli(), without_vehicles.clone())
        .await
        .expect("set");
    assert_eq!(
        db.exemption_rules().await.expect("reads").rules(),
        without_vehicles.as_slice()
    );
    db.create_requisition(
        &w.office_a,
        order(vec![line(w.adapted_bus_1, 1)]),
        at_day(40),
    )
    .await
    .expect("without the rule the adapted bus may be requisitioned");

    // Every write audited: a draft + 7 events, a draft + a cancel, a draft + a link,
    // the setting and a last draft; and the truck's move out at the handover and back at
    // the return.
    assert_eq!(intact(&db).await, entries_before + 16);
    let _ = (&w.city_code, &w.county_b);
}

on_both_databases!(requisitions, requisition_story);

/// The status and available total of one record and its type in county A.
async fn record_state(db: &Database, id: i64) -> (String, f64) {
    let record = db
        .potential_record(&Scope::everything(), id)
        .await
        .expect("record");
    (record.status, record.quantity)
}

async fn available_in(db: &Database, county: &str, type_code: &str) -> f64 {
    db.subtree_totals(&Scope::everything(), Some(county))
        .await
        .expect("totals")
        .by_type
        .iter()
        .find(|t| t.type_code == type_code)
        .map_or(0.0, |t| t.totals.available_quantity)
}

async fn audit_actions(db: &Database, entity_id: i64) -> Vec<String> {
    let mut actions: Vec<String> = db
        .audit_entries(&Scope::everything(), 1000)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.entity == "potential_record" && e.entity_id == entity_id.to_string())
        .map(|e| e.action)
        .collect();
    actions.reverse();
    actions
}

/// Disabled-adapted vehicles imported from a file are exempt; an ordinary car of the same
/// type is not.
async fn adapted_vehicles_are_exempt_story(db: Database) {
    let w = world(&db).await;
    let county = &w.county_a.0;
    let file = format!(
        "type_code,quantity,holder_kind,holder_name,holder_id_number,region_code,adapted_for_disabled,seats\n\
         {CAR},1,person,李残联,340104197001011111,{county},是,5\n\
         {CAR},1,person,赵普通,340104197001012222,{county},否,5\n\
         {BUS},1,person,钱无填,340104197001013333,{county},,15\n"
    );
    let summary = db
        .import_potential_file(
            &cli(),
            file.into_bytes(),
            "cars.csv",
            None,
            RecordProvenance::default(),
        )
        .await
        .expect("the attribute is in the taxonomy and imports");
    assert_eq!(summary.inserted, 3);
    // A value that is no boolean is refused by the import, naming the column.
    let bad = format!(
        "type_code,quantity,holder_kind,holder_name,holder_id_number,region_code,adapted_for_disabled\n\
         {CAR},1,person,孙错误,340104197001014444,{county},maybe\n"
    );
    match db
        .import_potential_file(
            &cli(),
            bad.into_bytes(),
            "bad.csv",
            None,
            RecordProvenance::default(),
        )
        .await
    {
        Err(E::SheetRejected(problems)) => {
            assert_eq!(problems.0.len(), 1, "{problems}");
            assert_eq!(problems.0[0].column.as_deref(), Some("G"), "{problems}");
        }
        other => panic!("a bad boolean must be refused, got {other:?}"),
    }

    let adapted = record_id(&db, "李残联", CAR).await;
    let ordinary = record_id(&db, "赵普通", CAR).await;
    let unstated = record_id(&db, "钱无填", BUS).await;
    let stored = db
        .potential_record(&Scope::everything(), adapted)
        .await
        .expect("record");
    assert!(
        stored.attributes.contains("adapted_for_disabled"),
        "{}",
        stored.attributes
    );

    let message = invalid_message(
        db.create_requisition(&w.office_a, order(vec![line(adapted, 1)]), at_day(0))
            .await,
    );
    assert!(message.contains("disabled_adapted_vehicle"), "{message}");
    assert!(
        message.contains(&format!("item {adapted} is exempt")),
        "{message}"
    );
    let drafted = db
        .create_requisition(&w.office_a, order(vec![line(ordinary, 1)]), at_day(0))
        .await
        .expect("an ordinary car is requisitioned");
    assert_eq!(drafted.summary.holder_category, "citizen");
    db.create_requisition(&w.office_a, order(vec![line(unstated, 1)]), at_day(0))
        .await
        .expect("a bus without the attribute is not exempt");
}

on_both_databases!(
    adapted_vehicles_are_exempt,
    adapted_vehicles_are_exempt_story
);

/// Records become `requisitioned` at the handover and come back by their condition, with
/// the roll-ups and an audit entry each; a record that is no longer available refuses the
/// handover.
async fn requisitioned_records_change_status_story(db: Database) {
    let w = world(&db).await;
    let county = w.county_a.0.clone();
    let act = |id: i64, event: RequisitionEvent| {
        let db = db.clone();
        let actor = w.office_a.clone();
        async move { db.act_on_requisition(&actor, id, &event, at_day(9)).await }
    };

    // Two of enterprise 1's five trucks: the whole holding leaves the available potential
    // at the handover, as an allocated one does.
    assert_eq!(available_in(&db, &county, TRUCK).await, 12.0);
    let trucks = db
        .create_requisition(&w.office_a, order(vec![line(w.truck_1, 2)]), at_day(0))
        .await
        .expect("drafted")
        .summary
        .id;
    act(trucks, RequisitionEvent::Notify { at: at_day(0) })
        .await
        .expect("notified");
    assert_eq!(
        record_state(&db, w.truck_1).await,
        ("available".into(), 5.0)
    );
    // Still available, but spoken for by the order: a demand is never offered it, and an
    // accept that names it by hand is refused, naming the order.
    let demand = db
        .create_demand(
            &w.office_a,
            DemandInput {
                title: "抢险运输".into(),
                origin: DemandOrigin::CivilEmergency,
                classification: ClassificationLevel::Internal,
                region_code: county.clone(),
                lines: vec![NewDemandLine {
                    type_code: TRUCK.into(),
                    quantity: 12,
                    lat: 31.8,
                    lon: 117.2,
                    needed_by: muster_storage::now().plus_millis(30 * DAY),
                    priority: 1,
                }],
            },
        )
        .await
        .expect("stated")
        .demand
        .id;
    db.analyse_demand(&w.office_a, demand)
        .await
        .expect("analysed");
    let proposal = db
        .propose_allocation(w.office_a.scope(), demand)
        .await
        .expect("proposed");
    assert!(!proposal.assignments.is_empty(), "the other trucks serve");
    assert!(
        proposal
            .assignments
            .iter()
            .all(|a| a.holding.record_id != w.truck_1),
        "{proposal:?}"
    );
    assert_eq!(
        proposal.lines[0].served, 7,
        "all trucks but the requisitioned five"
    );
    let line_id = proposal.lines[0].line_id;
    let refused = db
        .accept_allocation(
            &w.office_a,
            demand,
            Some(vec![AcceptedAssignment {
                line_id,
                record_id: w.truck_1,
                quantity: 1,
            }]),
        )
        .await;
    match refused {
        Err(E::Conflict { message, .. }) => {
            assert!(
                message.contains(&format!("requisition order {trucks}")),
                "{message}"
            )
        }
        other => panic!("expected a conflict naming the order, got {other:?}"),
    }
    assert_eq!(
        record_state(&db, w.truck_1).await,
        ("available".into(), 5.0),
        "nothing reserved"
    );
    let entries = intact(&db).await;
    act(trucks, RequisitionEvent::HandOver { at: at_day(1) })
        .await
        .expect("handed over");
    assert_eq!(
        record_state(&db, w.truck_1).await,
        ("requisitioned".into(), 5.0)
    );
    assert_eq!(available_in(&db, &county, TRUCK).await, 7.0);
    assert_eq!(intact(&db).await, entries + 2, "the event and the record");
    // Requisitioned stock changes with its order, not by hand: neither released nor
    // marked otherwise, nor another record set requisitioned without an order.
    for status in [RecordStatus::Available, RecordStatus::Unavailable] {
        match db.set_record_status(&w.office_a, w.truck_1, status).await {
            Err(E::Conflict { field, message, .. }) => {
                assert_eq!(field, "status");
                assert!(message.contains("requisitioned"), "{message}");
            }
            other => panic!("expected the order's record kept, got {other:?}"),
        }
    }
    for status in [
        RecordStatus::Requisitioned,
        RecordStatus::Allocated,
        RecordStatus::HandedOver,
    ] {
        assert!(matches!(
            db.set_record_status(&w.office_a, w.truck_2, status).await,
            Err(E::Refused {
                field: "status",
                ..
            })
        ));
    }
    assert_eq!(
        record_state(&db, w.truck_1).await,
        ("requisitioned".into(), 5.0)
    );
    assert_eq!(intact(&db).await, entries + 2, "nothing more written");
    // Two trucks lost: the holding keeps the other three, available again.
    act(
        trucks,
        RequisitionEvent::Return {
            at: at_day(3),
            conditions: vec![ReturnCondition::Lost],
        },
    )
    .await
    .expect("returned");
    assert_eq!(
        record_state(&db, w.truck_1).await,
        ("available".into(), 3.0)
    );
    assert_eq!(available_in(&db, &county, TRUCK).await, 10.0);
    assert_eq!(
        audit_actions(&db, w.truck_1).await,
        vec!["requisition_hand_over", "requisition_return"]
    );

    // The citizen's car comes back damaged: unavailable until someone says it is repaired.
    let car = db
        .create_requisition(&w.office_a, order(vec![line(w.citizen_car, 1)]), at_day(0))
        .await
        .expect("drafted")
        .summary
        .id;
    act(car, RequisitionEvent::Notify { at: at_day(0) })
        .await
        .expect("notified");
    act(car, RequisitionEvent::HandOver { at: at_day(1) })
        .await
        .expect("handed over");
    assert_eq!(available_in(&db, &county, CAR).await, 0.0);
    act(
        car,
        RequisitionEvent::Return {
            at: at_day(2),
            conditions: vec![ReturnCondition::Damaged],
        },
    )
    .await
    .expect("returned");
    assert_eq!(
        record_state(&db, w.citizen_car).await,
        ("unavailable".into(), 1.0)
    );
    assert_eq!(available_in(&db, &county, CAR).await, 0.0);

    // A record marked unavailable after the drafting refuses the handover by name, and
    // nothing of the handover stays.
    let freight = db
        .create_requisition(&w.office_a, order(vec![line(w.truck_2, 1)]), at_day(0))
        .await
        .expect("drafted")
        .summary
        .id;
    act(freight, RequisitionEvent::Notify { at: at_day(0) })
        .await
        .expect("notified");
    db.set_record_status(&cli(), w.truck_2, RecordStatus::Unavailable)
        .await
        .expect("marked unavailable");
    let entries = intact(&db).await;
    match act(freight, RequisitionEvent::HandOver { at: at_day(1) }).await {
        Err(E::Conflict {
            field: "items",
            message,
            ..
        }) => {
            assert!(
                message.contains(&format!("record {}", w.truck_2)),
                "{message}"
            );
            assert!(message.contains("unavailable"), "{message}");
        }
        other => panic!("the handover must be refused, got {other:?}"),
    }
    assert_eq!(intact(&db).await, entries);
    assert_eq!(
        db.requisition(&w.office_a, freight)
            .await
            .expect("reads")
            .status(),
        RequisitionStatus::Notified
    );
    assert_eq!(
        record_state(&db, w.truck_2).await,
        ("unavailable".into(), 3.0)
    );
}

on_both_databases!(
    requisitioned_records_change_status,
    requisitioned_records_change_status_story
);

/// The compensation setting: an administrator's, checked by field, audited; drafts take its
/// daily rates and assessments its percentages.
async fn compensation_setting_story(db: Database) {
    let w = world(&db).await;
    assert_eq!(
        db.compensation_setting().await.expect("reads"),
        CompensationSetting::default()
    );
    let wanted = CompensationSetting {
        wear_basis_points_per_day: 50,
        wear_cap_basis_points: 3_000,
        worn_basis_points: 800,
        damaged_basis_points: 4_000,
        daily_rates_fen: [("TRN.ROAD".to_owned(), 70_000), (CAR.to_owned(), 30_000)]
            .into_iter()
            .collect(),
    };
    assert!(matches!(
        db.set_compensation_setting(&w.office_a, wanted.clone())
            .await,
        Err(E::Forbidden(_))
    ));
    let entries = intact(&db).await;
    match db
        .set_compensation_setting(
            &cli(),
            CompensationSetting {
                worn_basis_points: 20_000,
                ..wanted.clone()
            },
        )
        .await
    {
        Err(E::Refused {
            field,
            message,
            message_zh,
        }) => {
            assert_eq!(field, "worn_basis_points");
            assert!(message.contains("found 20000"), "{message}");
            assert!(
                message_zh.starts_with("worn_basis_points：") && message_zh.contains("实为 20000"),
                "{message_zh}"
            );
        }
        other => panic!("refused by field, got {other:?}"),
    }
    match db
        .set_compensation_setting(
            &cli(),
            CompensationSetting {
                daily_rates_fen: [("NO.SUCH.TYPE".to_owned(), 1)].into_iter().collect(),
                ..wanted.clone()
            },
        )
        .await
    {
        Err(E::Refused { field, message, .. }) => {
            assert_eq!(field, "daily_rates_fen");
            assert!(message.contains("NO.SUCH.TYPE"), "{message}");
        }
        other => panic!("refused by field, got {other:?}"),
    }
    assert_eq!(intact(&db).await, entries, "refusals write nothing");
    db.set_compensation_setting(&cli(), wanted.clone())
        .await
        .expect("set");
    assert_eq!(db.compensation_setting().await.expect("reads"), wanted);
    let audited = db
        .audit_entries(&Scope::everything(), 1)
        .await
        .expect("audit");
    assert_eq!(audited[0].entity_id, COMPENSATION_SETTING);
    assert!(
        audited[0].after.as_deref().unwrap_or("").contains("70000"),
        "{:?}",
        audited[0].after
    );

    // A line without a rate takes the most specific one of the setting.
    let without_rate = |record_id, quantity| NewRequisitionLine {
        daily_rate_fen: None,
        ..line(record_id, quantity)
    };
    let trucks = db
        .create_requisition(
            &w.office_a,
            order(vec![without_rate(w.truck_1, 2)]),
            at_day(0),
        )
        .await
        .expect("drafted with the setting's rate");
    assert_eq!(trucks.items[0].daily_rate_fen, 70_000);
    let car = db
        .create_requisition(
            &w.office_a,
            order(vec![without_rate(w.citizen_car, 1)]),
            at_day(0),
        )
        .await
        .expect("drafted");
    assert_eq!(car.items[0].daily_rate_fen, 30_000);

    // The assessment uses the setting's percentages, whatever the event carried.
    let id = trucks.summary.id;
    for event in [
        RequisitionEvent::Notify { at: at_day(0) },
        RequisitionEvent::HandOver { at: at_day(1) },
        RequisitionEvent::Return {
            at: at_day(3),
            conditions: vec![ReturnCondition::Worn],
        },
        RequisitionEvent::Assess {
            policy: CompensationPolicy::default(),
        },
    ] {
        db.act_on_requisition(&w.office_a, id, &event, at_day(9))
            .await
            .expect("acted");
    }
    let assessed = db.requisition(&w.office_a, id).await.expect("reads");
    let assessment = assessed.order.assessment().expect("assessed");
    assert_eq!(assessment.policy, wanted.policy().expect("policy"));
    assert_eq!(assessment.items[0].wear_basis_points, 100);
    assert_eq!(assessment.items[0].damage_basis_points, 800);
    assert_eq!(assessment.items[0].use_fen, 2 * 70_000 * 2);

    // Without a rate of its own or in the setting, a line is refused by name.
    db.set_compensation_setting(&cli(), CompensationSetting::default())
        .await
        .expect("back to the default");
    let message = invalid_message(
        db.create_requisition(
            &w.office_a,
            order(vec![without_rate(w.truck_2, 1)]),
            at_day(0),
        )
        .await,
    );
    assert!(message.contains("items[0].daily_rate_fen"), "{message}");
    assert!(message.contains(TRUCK), "{message}");
}

on_both_databases!(compensation_setting, compensation_setting_story);

fn document(types: &[(&str, f64)]) -> ScenarioDocument {
    ScenarioDocument {
        horizon_days: 120,
        surge: vec![
            SurgeStep {
                from_day: 0,
                multiplier: 2.0,
            },
            SurgeStep {
                from_day: 5,
                multiplier: 1.0,
            },
        ],
        types: types
            .iter()
            .map(|(code, consumption)| ScenarioTypeDocument {
                type_code: (*code).into(),
                daily_consumption: *consumption,
                production: vec![ProductionLine {
                    source: "Hefei Tent Works".into(),
                    full_rate_per_day: consumption / 4.0,
                    start_day: 10,
                    ramp_days: 5,
                }],
            })
            .collect(),
    }
}

async fn sustainment_story(db: Database) {
    let w = world(&db).await;
    let (a_code, a_path) = w.county_a.clone();
    let (b_code, b_path) = w.county_b.clone();
    let holder = |name: &str| Holder::Organization {
        id: None,
        name: name.into(),
    };
    db.insert_records(
        &cli(),
        vec![
            draft(&a_code, &a_path, TENT, holder("Depot A1"), 600.0, &[]),
            draft(&a_code, &a_path, TENT, holder("Depot A2"), 200.0, &[]),
            draft(&a_code, &a_path, TENT, holder("Depot A3"), 50.0, &[]),
            draft(&a_code, &a_path, WATER, holder("Depot A1"), 90.0, &[]),
            draft(&b_code, &b_path, TENT, holder("Depot B1"), 10_000.0, &[]),
        ],
        RecordProvenance::default(),
        "sustainment story",
    )
    .await
    .expect("records");
    let now = at_day(400);
    let a1 = record_id(&db, "Depot A1", TENT).await;
    let a2 = record_id(&db, "Depot A2", TENT).await;
    let a3 = record_id(&db, "Depot A3", TENT).await;
    let water = record_id(&db, "Depot A1", WATER).await;
    // A1 verified 60 days ago, A2 reported 30 days ago and never verified, A3 reserved (not
    // stock), the water purifiers reported 120 days ago.
    for sql in [
        format!(
            "UPDATE potential_records SET last_verified_at = {}, verified_quantity = quantity, updated_at = {} WHERE id = {a1}",
            at_day(340).as_millis(),
            at_day(100).as_millis()
        ),
        format!(
            "UPDATE potential_records SET updated_at = {} WHERE id = {a2}",
            at_day(370).as_millis()
        ),
        format!("UPDATE potential_records SET status = 'reserved' WHERE id = {a3}"),
        format!(
            "UPDATE potential_records SET updated_at = {} WHERE id = {water}",
            at_day(280).as_millis()
        ),
    ] {
        raw_execute(&db, &sql).await.expect("figures set");
    }

    // The stock of county A: A1 verified, A2 not, A3 left out; the age weighted by quantity.
    let codes: BTreeSet<String> = [TENT.to_owned(), WATER.to_owned()].into();
    let a_region = RegionPath::parse(&a_path).expect("path");
    let stock = db
        .sustainment_stock(w.office_a.scope(), &a_region, &codes, now)
        .await
        .expect("stock");
    let expected: BTreeMap<String, StockFigures> = [
        (
            TENT.to_owned(),
            StockFigures {
                verified: 600.0,
                unverified: 200.0,
                age_days: 53,
                added: 0.0,
            },
        ),
        (
            WATER.to_owned(),
            StockFigures {
                verified: 0.0,
                unverified: 90.0,
                age_days: 120,
                added: 0.0,
            },
        ),
    ]
    .into();
    assert_eq!(
        stock, expected,
        "(600 × 60 + 200 × 30) / 800 = 52.5 → 53 days"
    );
    // A county reads no stock above it.
    let city_region = RegionPath::parse(&format!("/34/{}/", w.city_code)).expect("path");
    assert!(matches!(
        db.sustainment_stock(w.office_a.scope(), &city_region, &codes, now)
            .await,
        Err(E::OutOfScope { .. })
    ));

    // A scenario of county A's office runs on county A's stock only.
    let new = NewScenario {
        name: "持续保障：抗洪".into(),
        region_code: None,
        document: document(&[(TENT, 40.0), (WATER, 12.0)]),
    };
    let stored = db
        .save_sustainment_scenario(&w.office_a, None, new.clone())
        .await
        .expect("stored");
    assert_eq!(stored.region_path, a_path);
    let run = db
        .run_sustainment(w.office_a.scope(), stored.id, &[], now)
        .await
        .expect("runs");
    let scenario = new.document.scenario(&expected).expect("valid");
    let report = compute(&scenario, &DiscountPolicy::default());
    assert_eq!(
        run.report, report,
        "storage's run is the domain's compute on the same figures"
    );
    assert_eq!(run.stock, expected);
    let bottleneck = report
        .bottleneck
        .clone()
        .expect("the water purifiers run out");
    assert_eq!(bottleneck.type_code, WATER);
    assert!(
        report.days_of_sustainment.low < report.days_of_sustainment.high,
        "stale, unverified figures widen the band"
    );

    // A what-if: more purifiers last longer, as the domain says.
    let what_if = [Adjustment::AddStock {
        type_code: WATER.into(),
        quantity: 500.0,
    }];
    let adjusted = db
        .run_sustainment(w.office_a.scope(), stored.id, &what_if, now)
        .await
        .expect("runs")
        .adjusted
        .expect("the adjusted report");
    assert_eq!(
        adjusted,
        compute(
            &apply_adjustments(&scenario, &what_if).expect("applies"),
            &DiscountPolicy::default()
        )
    );
    assert!(adjusted.types[1].days_lasted.expected > report.types[1].days_lasted.expected);
    assert!(matches!(
        db.run_sustainment(
            w.office_a.scope(),
            stored.id,
            &[Adjustment::AddStock {
                type_code: "NOPE".into(),
                quantity: 1.0
            }],
            now
        )
        .await,
        Err(E::Refused {
            field: "adjustments",
            ..
        })
    ));

    // The city's scenario counts both counties; county B does not see county A's.
    let city = db
        .save_sustainment_scenario(
            &w.city_office,
            None,
            NewScenario {
                region_code: Some(w.city_code.clone()),
                ..new.clone()
            },
        )
        .await
        .expect("stored");
    let city_run = db
        .run_sustainment(w.city_office.scope(), city.id, &[], now)
        .await
        .expect("runs");
    assert_eq!(
        city_run.stock[TENT].verified + city_run.stock[TENT].unverified,
        10_800.0
    );
    assert!(matches!(
        db.sustainment_scenario(w.office_b.scope(), stored.id).await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.run_sustainment(w.office_a.scope(), city.id, &[], now)
            .await,
        Err(E::NotFound { .. })
    ));
    assert_eq!(
        db.sustainment_scenarios(w.office_a.scope())
            .await
            .expect("lists")
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        vec![stored.id]
    );
    assert_eq!(
        db.sustainment_scenarios(w.city_office.scope())
            .await
            .expect("lists")
            .len(),
        2
    );

    // Refusals: a viewer, a region above the author, a bad document, an unknown type.
    assert!(matches!(
        db.save_sustainment_scenario(&w.viewer_a, None, new.clone())
            .await,
        Err(E::Forbidden(_))
    ));
    assert!(matches!(
        db.save_sustainment_scenario(
            &w.office_a,
            None,
            NewScenario {
                region_code: Some(w.city_code.clone()),
                ..new.clone()
            }
        )
        .await,
        Err(E::OutOfScope { .. })
    ));
    let mut bad = new.clone();
    bad.document.horizon_days = 0;
    assert!(
        invalid_message(db.save_sustainment_scenario(&w.office_a, None, bad).await)
            .contains("horizon_days")
    );
    let mut unknown = new.clone();
    unknown.document.types[0].type_code = "NOT.A.TYPE".into();
    assert!(
        invalid_message(
            db.save_sustainment_scenario(&w.office_a, None, unknown)
                .await
        )
        .contains("NOT.A.TYPE")
    );

    // An edit replaces the assumptions, audited.
    let edited = db
        .save_sustainment_scenario(
            &w.office_a,
            Some(stored.id),
            NewScenario {
                name: "改".into(),
                ..new
            },
        )
        .await
        .expect("edited");
    assert_eq!((edited.id, edited.name.as_str()), (stored.id, "改"));
    assert!(matches!(
        db.save_sustainment_scenario(
            &w.office_b,
            Some(stored.id),
            NewScenario {
                name: "x".into(),
                region_code: None,
                document: document(&[(TENT, 1.0)])
            }
        )
        .await,
        Err(E::NotFound { .. })
    ));

    // Deleting: not by a viewer nor by an office that does not read it; by its office,
    // audited with what it held; then it is gone.
    assert!(matches!(
        db.delete_sustainment_scenario(&w.viewer_a, stored.id).await,
        Err(E::Forbidden(_))
    ));
    assert!(matches!(
        db.delete_sustainment_scenario(&w.office_b, stored.id).await,
        Err(E::NotFound { .. })
    ));
    db.delete_sustainment_scenario(&w.office_a, stored.id)
        .await
        .expect("deleted");
    assert!(matches!(
        db.sustainment_scenario(w.office_a.scope(), stored.id).await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.delete_sustainment_scenario(&w.office_a, stored.id).await,
        Err(E::NotFound { .. })
    ));
    let audit = db
        .audit_entries(&muster_domain::Scope::everything(), 5)
        .await
        .expect("audit");
    let deletion = audit
        .iter()
        .find(|e| e.entity == "sustainment_scenario" && e.action == "delete")
        .expect("the deletion is audited");
    assert_eq!(deletion.entity_id, stored.id.to_string());
    assert!(
        deletion.before.as_deref().unwrap_or("").contains("改"),
        "{deletion:?}"
    );
    intact(&db).await;
}

on_both_databases!(sustainment, sustainment_story);
