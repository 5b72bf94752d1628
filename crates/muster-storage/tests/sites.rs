//! Site stories, each run against SQLite and PostgreSQL: registering sites in scope, the
//! refusals, records linked to their site as they are stored, and the audit chain intact.

use muster_domain::organization::Roles;
use muster_domain::potential::{
    Holder, QualityGrade, RecordDraft, RecordStatus, SiteKind, holding_key,
};
use muster_domain::{Actor, OrganizationKind, RegionPath, Scope, Side, Timestamp};
use muster_storage::{
    AuditVerification, Database, NewOrganization, NewSite, NewUser, OpenRound, RecordFilter,
    RecordProvenance, StorageError as E, on_both_databases, testing,
};

const TRUCK: &str = "TRN.ROAD.TRUCK_HEAVY";
/// A type without required attributes, for reports that go through the importer.
const TENT: &str = "CAD.MAT.TENT_12";

fn cli() -> Actor {
    Actor::command_line("test")
}

async fn intact(db: &Database) -> i64 {
    match db.verify_audit_chain(|_, _| {}).await.expect("verify runs") {
        AuditVerification::Intact { entries } => entries,
        AuditVerification::Broken(b) => panic!("chain broken: {b}"),
    }
}

/// A county of the tiny demo: its code, path and own point.
#[derive(Clone)]
struct County {
    code: String,
    path: String,
    at: (f64, f64),
}

/// The tiny demo's first city and two of its counties, with a city office, a county office
/// in each county, and readers who may not register sites.
struct World {
    county_a: County,
    county_b: County,
    city_office: Actor,
    office_a: Actor,
    office_b: Actor,
    unit_a_organization: i64,
    unit_officer_a: Actor,
    viewer: Actor,
    grid_member: Actor,
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

async fn world(db: &Database) -> World {
    muster_storage::testing::import_tiny_demo_regions(db).await;
    let city = db
        .region_view(&Scope::everything(), Some("3401"))
        .await
        .expect("city");
    let county = |i: usize| {
        let region = &city.children[i];
        County {
            code: region.code.clone(),
            path: region.path.clone(),
            at: (
                region.lat.expect("demo regions have points"),
                region.lon.expect("demo regions have points"),
            ),
        }
    };
    let (county_a, county_b) = (county(0), county(1));
    let city_org = organization(
        db,
        "City office",
        OrganizationKind::MobilizationOffice,
        "3401",
    )
    .await;
    let org_a = organization(
        db,
        "County office A",
        OrganizationKind::MobilizationOffice,
        &county_a.code,
    )
    .await;
    let org_b = organization(
        db,
        "County office B",
        OrganizationKind::MobilizationOffice,
        &county_b.code,
    )
    .await;
    let unit_a_organization = organization(
        db,
        "Grain bureau A",
        OrganizationKind::MemberUnit,
        &county_a.code,
    )
    .await;
    World {
        city_office: user(db, "city", city_org, "office_staff").await,
        office_a: user(db, "office-a", org_a, "office_staff").await,
        office_b: user(db, "office-b", org_b, "office_staff").await,
        unit_officer_a: user(db, "officer-a", unit_a_organization, "member_unit_officer").await,
        viewer: user(db, "viewer", city_org, "viewer").await,
        grid_member: user(db, "grid", org_a, "grid_member").await,
        unit_a_organization,
        county_a,
        county_b,
    }
}

fn new_site(name: &str, county: &County) -> NewSite {
    NewSite {
        name: name.into(),
        kind: SiteKind::ReserveDepot,
        region_code: county.code.clone(),
        lat: county.at.0 + 0.01,
        lon: county.at.1 - 0.01,
        organization_id: None,
    }
}

fn draft(county: &County, holder: &str, site: Option<&str>) -> (u32, RecordDraft) {
    let region_path = RegionPath::parse(&county.path).expect("path");
    let holder = Holder::Organization {
        id: None,
        name: holder.to_owned(),
    };
    let key = holding_key(&region_path, TRUCK, &holder, site);
    (
        1,
        RecordDraft {
            type_code: TRUCK.to_owned(),
            quantity: 4.0,
            attributes: Default::default(),
            quality: QualityGrade::Good,
            holder,
            site: site.map(str::to_owned),
            region_code: county.code.clone(),
            region_path,
            coordinates: None,
            status: RecordStatus::Available,
            holding_key: key,
        },
    )
}

on_both_databases!(
    sites_are_registered_and_read_in_scope,
    registered_and_read_in_scope
);
async fn registered_and_read_in_scope(db: Database) {
    let w = world(&db).await;
    let mut depot = new_site("North Grain Depot", &w.county_a);
    depot.organization_id = Some(w.unit_a_organization);
    let depot = db.create_site(&w.office_a, depot).await.expect("created");
    assert_eq!(depot.name, "North Grain Depot");
    assert_eq!(depot.kind(), SiteKind::ReserveDepot);
    assert_eq!(depot.region_code, w.county_a.code);
    assert_eq!(depot.region_path, w.county_a.path);
    assert_eq!(depot.organization_id, Some(w.unit_a_organization));
    assert_eq!(depot.record_count, 0);
    let yard = db
        .create_site(
            &w.city_office,
            NewSite {
                kind: SiteKind::Yard,
                ..new_site("Truck yard", &w.county_b)
            },
        )
        .await
        .expect("the city office registers in any of its counties");

    let city_scope = w.city_office.scope();
    let all = db.sites(city_scope, None, 50, 0).await.expect("list");
    assert_eq!(
        all.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![depot.id, yard.id]
    );
    let in_a = db
        .sites(city_scope, Some(&w.county_a.code), 50, 0)
        .await
        .expect("narrowed");
    assert_eq!(
        in_a.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![depot.id]
    );
    let page = db.sites(city_scope, None, 1, depot.id).await.expect("page");
    assert_eq!(page.iter().map(|s| s.id).collect::<Vec<_>>(), vec![yard.id]);

    // County B sees its own site only; county A's is absent to it, as if it did not exist.
    let b_scope = w.office_b.scope();
    let seen_by_b = db.sites(b_scope, None, 50, 0).await.expect("list");
    assert_eq!(
        seen_by_b.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![yard.id]
    );
    assert!(matches!(
        db.site(b_scope, depot.id).await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.sites(b_scope, Some(&w.county_a.code), 50, 0).await,
        Err(E::NotFound { .. })
    ));
    assert_eq!(db.site(city_scope, depot.id).await.expect("read"), depot);

    let entries = db
        .audit_entries(&Scope::everything(), 100)
        .await
        .expect("audit");
    let created: Vec<_> = entries.iter().filter(|e| e.entity == "site").collect();
    assert_eq!(created.len(), 2);
    assert!(created.iter().all(|e| e.action == "create"));
    assert!(created.iter().any(|e| {
        e.entity_id == depot.id.to_string()
            && e.region_path == w.county_a.path
            && e.after
                .as_deref()
                .is_some_and(|a| a.contains("North Grain Depot"))
    }));
    intact(&db).await;
}

on_both_databases!(sites_refused_write_nothing, refused_write_nothing);
async fn refused_write_nothing(db: Database) {
    let w = world(&db).await;
    db.create_site(&w.office_a, new_site("Ｎｏｒｔｈ  Depot", &w.county_a))
        .await
        .expect("the first");
    let entries = intact(&db).await;

    let refused = |result: Result<_, E>| result.expect_err("refused");
    for reader in [&w.viewer, &w.grid_member] {
        assert!(matches!(
            refused(
                db.create_site(reader, new_site("Depot 2", &w.county_a))
                    .await
            ),
            E::Forbidden(_)
        ));
    }
    assert!(matches!(
        refused(
            db.create_site(&w.office_b, new_site("Depot 3", &w.county_a))
                .await
        ),
        E::OutOfScope { .. }
    ));
    let mut wild = new_site("Depot 4", &w.county_a);
    wild.lat = 95.0;
    assert!(matches!(
        refused(db.create_site(&w.office_a, wild).await),
        E::Refused { field: "lat", .. }
    ));
    let mut nan = new_site("Depot 4", &w.county_a);
    nan.lon = f64::NAN;
    assert!(matches!(
        refused(db.create_site(&w.office_a, nan).await),
        E::Refused { field: "lon", .. }
    ));
    let mut far = new_site("Depot 5", &w.county_a);
    far.lat += 5.0;
    assert!(matches!(
        refused(db.create_site(&w.office_a, far).await),
        E::Refused { field: "lat", .. }
    ));
    assert!(matches!(
        refused(
            db.create_site(&w.office_a, new_site("  ", &w.county_a))
                .await
        ),
        E::Refused { field: "name", .. }
    ));
    let mut nowhere = new_site("Depot 6", &w.county_a);
    nowhere.region_code = "349999".into();
    assert!(matches!(
        refused(db.create_site(&w.office_a, nowhere).await),
        E::Refused {
            field: "region_code",
            ..
        }
    ));
    let mut foreign_unit = new_site("Depot 7", &w.county_b);
    foreign_unit.organization_id = Some(w.unit_a_organization);
    assert!(matches!(
        refused(db.create_site(&w.office_b, foreign_unit).await),
        E::Refused {
            field: "organization_id",
            ..
        }
    ));
    // Each is said in Chinese too, for the Chinese pages.
    let mut far = new_site("Depot 8", &w.county_a);
    far.lat += 5.0;
    match refused(db.create_site(&w.office_a, far).await) {
        E::Refused { message_zh, .. } => assert!(message_zh.contains("公里"), "{message_zh}"),
        other => panic!("coordinates outside the region: {other:?}"),
    }
    // The same name after case, width and spacing are folded.
    assert!(matches!(
        refused(
            db.create_site(&w.city_office, new_site(" north depot ", &w.county_a))
                .await
        ),
        E::Conflict { field: "name", .. }
    ));
    assert_eq!(intact(&db).await, entries, "a refusal writes nothing");
    assert_eq!(
        db.sites(&Scope::everything(), None, 50, 0)
            .await
            .expect("list")
            .len(),
        1
    );

    // Another county may have a site of that name.
    db.create_site(&w.office_b, new_site("North Depot", &w.county_b))
        .await
        .expect("a name is unique per region only");
}

on_both_databases!(records_are_linked_to_their_site, records_linked);
async fn records_linked(db: Database) {
    let w = world(&db).await;
    let depot_a = db
        .create_site(&w.office_a, new_site("North Depot", &w.county_a))
        .await
        .expect("site");
    let depot_b = db
        .create_site(&w.office_b, new_site("Harbour Yard", &w.county_b))
        .await
        .expect("site");
    db.insert_records(
        &w.city_office,
        vec![
            draft(&w.county_a, "Haulier 1", Some(" ｎｏｒｔｈ   DEPOT")),
            draft(&w.county_a, "Haulier 2", Some("North Depot")),
            draft(&w.county_a, "Haulier 3", Some("South Depot")),
            draft(&w.county_a, "Haulier 4", None),
            // County B's record names county A's site: not its own region, so not linked.
            draft(&w.county_b, "Haulier 5", Some("North Depot")),
            draft(&w.county_b, "Haulier 6", Some("harbour yard")),
        ],
        RecordProvenance::default(),
        "test",
    )
    .await
    .expect("stored");

    let records = db
        .potential_records(
            &Scope::everything(),
            &RecordFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("records");
    let site_of = |holder: &str| {
        records
            .iter()
            .find(|r| r.holder_name == holder)
            .expect("the record")
            .site_id
    };
    assert_eq!(site_of("Haulier 1"), Some(depot_a.id));
    assert_eq!(site_of("Haulier 2"), Some(depot_a.id));
    assert_eq!(site_of("Haulier 3"), None);
    assert_eq!(site_of("Haulier 4"), None);
    assert_eq!(site_of("Haulier 5"), None);
    assert_eq!(site_of("Haulier 6"), Some(depot_b.id));
    // The record keeps the name it was reported under.
    assert_eq!(
        records
            .iter()
            .find(|r| r.holder_name == "Haulier 1")
            .and_then(|r| r.site_name.as_deref()),
        Some(" ｎｏｒｔｈ   DEPOT")
    );

    let scope = Scope::everything();
    assert_eq!(
        db.site(&scope, depot_a.id)
            .await
            .expect("site")
            .record_count,
        2
    );
    assert_eq!(
        db.site(&scope, depot_b.id)
            .await
            .expect("site")
            .record_count,
        1
    );

    // A site registered after the records that name it takes them in: those of its own
    // region without a site yet, and no others.
    let south = db
        .create_site(&w.office_a, new_site(" south DEPOT ", &w.county_a))
        .await
        .expect("site");
    assert_eq!(south.record_count, 1);
    let haulier_3 = records
        .iter()
        .find(|r| r.holder_name == "Haulier 3")
        .expect("the record");
    let linked = db
        .potential_record(&scope, haulier_3.id)
        .await
        .expect("record");
    assert_eq!(linked.site_id, Some(south.id));
    let depot_a_now = db.site(&scope, depot_a.id).await.expect("site");
    assert_eq!(depot_a_now.record_count, 2);
    let entry = db.audit_entries(&scope, 1).await.expect("audit").remove(0);
    assert_eq!(
        (entry.entity.as_str(), entry.action.as_str()),
        ("site", "create")
    );
    assert!(
        entry
            .after
            .as_deref()
            .is_some_and(|a| a.contains("\"linked_records\":1")),
        "{:?}",
        entry.after
    );
    intact(&db).await;
}

on_both_databases!(imported_files_link_their_sites, imported_files_link);
/// A file import looks up the sites while the writer stores the batch before, outside its
/// transaction; a site registered meanwhile is linked before the commit.
async fn imported_files_link(db: Database) {
    let w = world(&db).await;
    let north = db
        .create_site(&w.office_a, new_site("North Depot", &w.county_a))
        .await
        .expect("site");
    let csv = format!(
        "type_code,quantity,holder_name,site,region_code\n\
         {TENT},40,Grain store,NORTH  depot,{a}\n\
         {TENT},10,Field store,South Depot,{a}\n\
         {TENT},10,Shed,North Depot,{b}\n",
        a = w.county_a.code,
        b = w.county_b.code,
    );
    db.import_potential_file(
        &w.city_office,
        csv.into_bytes(),
        "sites.csv",
        None,
        RecordProvenance::default(),
    )
    .await
    .expect("imported");
    let scope = Scope::everything();
    let site_of = |records: &[muster_storage::PotentialRecord], holder: &str| {
        records
            .iter()
            .find(|r| r.holder_name == holder)
            .expect("the record")
            .site_id
    };
    let all = RecordFilter {
        limit: 10,
        ..Default::default()
    };
    let records = db.potential_records(&scope, &all).await.expect("records");
    assert_eq!(site_of(&records, "Grain store"), Some(north.id));
    assert_eq!(site_of(&records, "Field store"), None);
    assert_eq!(site_of(&records, "Shed"), None, "another region's site");

    // The south depot registered after the import read the sites, and its own linking ran
    // before the import's records were visible to it: the import's last step links them.
    let root = RegionPath::root();
    let seen = testing::sites_seen_by_import(&db, &root)
        .await
        .expect("site ids");
    let south = db
        .create_site(&w.office_a, new_site("south depot", &w.county_a))
        .await
        .expect("site");
    let field_store = records
        .iter()
        .find(|r| r.holder_name == "Field store")
        .expect("the record")
        .id;
    testing::raw_execute(
        &db,
        &format!("UPDATE potential_records SET site_id = NULL WHERE id = {field_store}"),
    )
    .await
    .expect("unlinked, as if stored after the site's own linking");
    let all_seen = testing::sites_seen_by_import(&db, &root)
        .await
        .expect("site ids");
    assert_eq!(
        testing::link_sites_not_seen(&db, &root, &all_seen)
            .await
            .expect("links"),
        0,
        "every site was seen"
    );
    assert_eq!(
        testing::link_sites_not_seen(&db, &root, &seen)
            .await
            .expect("links"),
        1
    );
    let records = db.potential_records(&scope, &all).await.expect("records");
    assert_eq!(site_of(&records, "Field store"), Some(south.id));
    assert_eq!(site_of(&records, "Grain store"), Some(north.id));
    assert_eq!(site_of(&records, "Shed"), None);
    intact(&db).await;
}

on_both_databases!(
    a_first_bulk_load_links_sites_named_late_in_the_file,
    bulk_load_links_late_sites
);
/// A first bulk load drops the records' foreign keys on PostgreSQL, which locks `sites` until
/// the commit: the sites a batch after the first names must still be linked, without the
/// import waiting on its own lock.
async fn bulk_load_links_late_sites(db: Database) {
    let w = world(&db).await;
    let depot = db
        .create_site(&w.office_a, new_site("North Depot", &w.county_a))
        .await
        .expect("site");
    let mut csv = String::from("type_code,quantity,holder_name,site,region_code\n");
    for row in 0..30_000 {
        let site = if row == 29_000 { "north depot" } else { "" };
        csv.push_str(&format!(
            "{TENT},1,Holder {row},{site},{}\n",
            w.county_a.code
        ));
    }
    let import = db.import_potential_file(
        &w.city_office,
        csv.into_bytes(),
        "big.csv",
        None,
        RecordProvenance::default(),
    );
    let summary = tokio::time::timeout(std::time::Duration::from_secs(120), import)
        .await
        .expect("the import ends, not waiting on its own lock")
        .expect("imported");
    assert_eq!(summary.inserted, 30_000);
    assert_eq!(
        db.site(&Scope::everything(), depot.id)
            .await
            .expect("site")
            .record_count,
        1
    );
    intact(&db).await;
}

on_both_databases!(
    approved_survey_rows_are_linked_to_their_site,
    survey_rows_linked
);
/// Records that arrive through a survey round's approval are linked like imported ones.
async fn survey_rows_linked(db: Database) {
    let w = world(&db).await;
    let depot = db
        .create_site(&w.office_a, new_site("North Depot", &w.county_a))
        .await
        .expect("site");
    let (round, _) = db
        .open_round(
            &w.office_a,
            OpenRound {
                title: "2026 annual survey".into(),
                region_code: Some(w.county_a.code.clone()),
                type_codes: [TENT.to_owned()].into_iter().collect(),
                deadline: Timestamp::from_millis(muster_storage::now().as_millis() + 86_400_000),
            },
        )
        .await
        .expect("the county opens a round");
    let unit_assignment = db
        .round_assignments(&Scope::everything(), round.id, None)
        .await
        .expect("assignments")
        .into_iter()
        .find(|a| a.organization_id == Some(w.unit_a_organization))
        .expect("the unit's assignment")
        .id;
    let csv = format!(
        "type_code,quantity,holder_name,site,region_code\n\
         {TENT},40,Grain store,NORTH  depot,{county}\n\
         {TENT},10,Field store,,{county}\n",
        county = w.county_a.code
    );
    db.submit_survey_file(
        &w.unit_officer_a,
        unit_assignment,
        csv.into_bytes(),
        "unit.csv",
    )
    .await
    .expect("the unit reports");
    assert_eq!(
        db.site(&Scope::everything(), depot.id)
            .await
            .expect("site")
            .record_count,
        0,
        "a report is not a record until approved"
    );
    db.approve_assignment(&w.office_a, unit_assignment)
        .await
        .expect("the county approves");
    let records = db
        .potential_records(
            &Scope::everything(),
            &RecordFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("records");
    let site_of = |holder: &str| {
        records
            .iter()
            .find(|r| r.holder_name == holder)
            .expect("the record")
            .site_id
    };
    assert_eq!(site_of("Grain store"), Some(depot.id));
    assert_eq!(site_of("Field store"), None);
    intact(&db).await;
}
