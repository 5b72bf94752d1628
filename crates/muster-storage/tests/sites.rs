//! Site stories, each run against SQLite and PostgreSQL: registering sites in scope, the
//! refusals, records linked to their site as they are stored, and the audit chain intact.

use muster_domain::organization::Roles;
use muster_domain::potential::{
    Holder, QualityGrade, RecordDraft, RecordStatus, SiteKind, holding_key,
};
use muster_domain::{Actor, OrganizationKind, RegionPath, Scope, Side, Timestamp};
use muster_storage::{
    AuditVerification, Database, NewOrganization, NewSite, NewUser, OpenRound, PotentialRecord,
    RecordFilter, RecordProvenance, SiteChanges, SiteFilter, StorageError as E, on_both_databases,
    testing,
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
    let all = db
        .sites(
            city_scope,
            &SiteFilter {
                limit: 50,
                ..SiteFilter::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(
        all.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![depot.id, yard.id]
    );
    let in_a = db
        .sites(
            city_scope,
            &SiteFilter {
                region_code: Some(w.county_a.code.clone()),
                limit: 50,
                ..SiteFilter::default()
            },
        )
        .await
        .expect("narrowed");
    assert_eq!(
        in_a.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![depot.id]
    );
    let page = db
        .sites(
            city_scope,
            &SiteFilter {
                limit: 1,
                after_id: depot.id,
                ..SiteFilter::default()
            },
        )
        .await
        .expect("page");
    assert_eq!(page.iter().map(|s| s.id).collect::<Vec<_>>(), vec![yard.id]);

    // County B sees its own site only; county A's is absent to it, as if it did not exist.
    let b_scope = w.office_b.scope();
    let seen_by_b = db
        .sites(
            b_scope,
            &SiteFilter {
                limit: 50,
                ..SiteFilter::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(
        seen_by_b.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![yard.id]
    );
    assert!(matches!(
        db.site(b_scope, depot.id).await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.sites(
            b_scope,
            &SiteFilter {
                region_code: Some(w.county_a.code.clone()),
                limit: 50,
                ..SiteFilter::default()
            }
        )
        .await,
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
        db.sites(
            &Scope::everything(),
            &SiteFilter {
                limit: 50,
                ..SiteFilter::default()
            }
        )
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

/// Every record in the database, by id.
async fn all_records(db: &Database) -> Vec<PotentialRecord> {
    let mut records = db
        .potential_records(
            &Scope::everything(),
            &RecordFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("records");
    records.sort_by_key(|r| r.id);
    records
}

fn record<'a>(records: &'a [PotentialRecord], holder: &str) -> &'a PotentialRecord {
    records
        .iter()
        .find(|r| r.holder_name == holder)
        .expect("the record")
}

fn renamed(name: &str) -> SiteChanges {
    SiteChanges {
        name: Some(name.into()),
        ..SiteChanges::default()
    }
}

/// The newest audit entry.
async fn last_entry(db: &Database) -> muster_storage::AuditEntry {
    db.audit_entries(&Scope::everything(), 1)
        .await
        .expect("audit")
        .remove(0)
}

on_both_databases!(
    a_site_is_respelled_with_records_and_renamed_without,
    site_names_and_their_records
);
async fn site_names_and_their_records(db: Database) {
    let w = world(&db).await;
    let depot = db
        .create_site(&w.office_a, new_site("North Depot", &w.county_a))
        .await
        .expect("site");
    let path = RegionPath::parse(&w.county_a.path).expect("path");
    let person = Holder::Person {
        name: "Li Wei".into(),
        id_number: Some("340104199001011234".into()),
        phone: None,
    };
    let (_, mut person_draft) = draft(&w.county_a, "Li Wei", Some("north depot"));
    person_draft.holder = person.clone();
    person_draft.holding_key = holding_key(&path, TRUCK, &person, Some("north depot"));
    db.insert_records(
        &w.city_office,
        vec![
            draft(&w.county_a, "Haulier 1", Some(" ｎｏｒｔｈ   DEPOT")),
            draft(&w.county_a, "Haulier 2", Some("North Depot")),
            (1, person_draft),
            draft(&w.county_a, "Haulier 3", Some("South Depot")),
            draft(&w.county_a, "Haulier 4", Some("East Depot")),
        ],
        RecordProvenance::default(),
        "test",
    )
    .await
    .expect("stored");
    let scope = Scope::everything();
    let totals = db.subtree_totals(&scope, None).await.expect("totals");
    let before = all_records(&db).await;
    assert_eq!(
        db.site(&scope, depot.id).await.expect("site").record_count,
        3
    );

    // A site with records keeps its name (a later report under the old one would be another
    // holding, counted twice): refused, and nothing changes.
    let entries = intact(&db).await;
    match db
        .update_site(&w.office_a, depot.id, renamed("  East Depot "))
        .await
    {
        Err(E::Conflict {
            field: "name",
            message,
            message_zh: Some(message_zh),
        }) => {
            assert!(message.contains("3 potential records"), "{message}");
            assert!(message_zh.contains("关联着 3 条"), "{message_zh}");
        }
        other => panic!("a rename under records: {other:?}"),
    }
    assert_eq!(intact(&db).await, entries, "a refusal writes nothing");
    assert_eq!(all_records(&db).await, before);

    // A change of case and width only keeps the keys, and gives the records the new spelling.
    db.update_site(&w.unit_officer_a, depot.id, renamed("ＮＯＲＴＨ depot"))
        .await
        .expect("a member-unit officer of the county edits too");
    let after = all_records(&db).await;
    for holder in ["Haulier 1", "Haulier 2", "Li Wei"] {
        let r = record(&after, holder);
        assert_eq!(r.site_id, Some(depot.id), "{holder}");
        assert_eq!(r.site_name.as_deref(), Some("ＮＯＲＴＨ depot"), "{holder}");
        assert_eq!(
            r.holding_key,
            record(&before, holder).holding_key,
            "{holder}"
        );
    }
    assert_eq!(record(&after, "Haulier 3"), record(&before, "Haulier 3"));
    assert_eq!(intact(&db).await, entries + 1);
    let entry = last_entry(&db).await;
    assert_eq!(
        (entry.entity.as_str(), entry.action.as_str()),
        ("site", "update")
    );
    assert_eq!(entry.entity_id, depot.id.to_string());
    assert!(
        entry
            .before
            .as_deref()
            .is_some_and(|b| b.contains("North Depot"))
    );
    let after_json = entry.after.as_deref().expect("after");
    assert!(after_json.contains("\"records_renamed\":3"), "{after_json}");

    // A site without records is renamed freely, and takes in the record stored under its
    // new name, whose spelling and key stay.
    let spare = db
        .create_site(&w.office_a, new_site("Spare Yard", &w.county_a))
        .await
        .expect("site");
    let renamed_spare = db
        .update_site(&w.office_a, spare.id, renamed("  East Depot "))
        .await
        .expect("renamed");
    assert_eq!(renamed_spare.name, "East Depot");
    assert_eq!(renamed_spare.record_count, 1);
    let again = all_records(&db).await;
    assert_eq!(
        record(&again, "Haulier 4"),
        &PotentialRecord {
            site_id: Some(spare.id),
            ..record(&before, "Haulier 4").clone()
        }
    );
    assert_eq!(
        db.subtree_totals(&scope, None).await.expect("totals"),
        totals,
        "a rename changes no total"
    );
    let after_json = last_entry(&db).await.after.expect("after");
    assert!(after_json.contains("\"linked_records\":1"), "{after_json}");

    // Kind, coordinates and operator change without touching the records.
    let changed = db
        .update_site(
            &w.office_a,
            depot.id,
            SiteChanges {
                kind: Some(SiteKind::Warehouse),
                lat: Some(w.county_a.at.0 - 0.02),
                organization_id: Some(Some(w.unit_a_organization)),
                ..SiteChanges::default()
            },
        )
        .await
        .expect("changed");
    assert_eq!(changed.kind(), SiteKind::Warehouse);
    assert_eq!(changed.lat, Some(w.county_a.at.0 - 0.02));
    assert_eq!(changed.lon, depot.lon);
    assert_eq!(changed.organization_id, Some(w.unit_a_organization));
    assert_eq!(all_records(&db).await, again);
    let cleared = db
        .update_site(
            &w.office_a,
            depot.id,
            SiteChanges {
                organization_id: Some(None),
                ..SiteChanges::default()
            },
        )
        .await
        .expect("cleared");
    assert_eq!(cleared.organization_id, None);
    // An edit that changes nothing writes nothing.
    let entries = intact(&db).await;
    db.update_site(&w.office_a, depot.id, renamed("ＮＯＲＴＨ depot"))
        .await
        .expect("unchanged");
    assert_eq!(intact(&db).await, entries);

    // The search finds it by any spelling of a part of its name.
    let found = db
        .sites(
            &scope,
            &SiteFilter {
                name_contains: Some(" east ".into()),
                limit: 10,
                ..SiteFilter::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(
        found.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![spare.id]
    );
    let none = db
        .sites(
            &scope,
            &SiteFilter {
                name_contains: Some("spare".into()),
                limit: 10,
                ..SiteFilter::default()
            },
        )
        .await
        .expect("search");
    assert!(none.is_empty());
}

on_both_databases!(a_site_with_records_keeps_its_name, colliding_rename_refused);
async fn colliding_rename_refused(db: Database) {
    let w = world(&db).await;
    let north = db
        .create_site(&w.office_a, new_site("North Depot", &w.county_a))
        .await
        .expect("site");
    db.create_site(&w.office_a, new_site("West Yard", &w.county_a))
        .await
        .expect("site");
    db.insert_records(
        &w.city_office,
        vec![
            draft(&w.county_a, "Haulier 1", Some("North Depot")),
            draft(&w.county_a, "Haulier 2", Some("North Depot")),
            // The same holder and type under a name no site has yet.
            draft(&w.county_a, "Haulier 1", Some("South Depot")),
        ],
        RecordProvenance::default(),
        "test",
    )
    .await
    .expect("stored");
    let records = all_records(&db).await;
    let entries = intact(&db).await;
    // North keeps records: no rename at all, not even into another holding's name.
    match db
        .update_site(&w.office_a, north.id, renamed("south depot"))
        .await
    {
        Err(E::Conflict {
            field: "name",
            message_zh: Some(message_zh),
            ..
        }) => assert!(message_zh.contains("关联着 2 条"), "{message_zh}"),
        other => panic!("a rename under records: {other:?}"),
    }
    assert_eq!(intact(&db).await, entries, "a refusal writes nothing");
    // An empty site may not take another site's name of the region.
    let spare = db
        .create_site(&w.office_a, new_site("Spare Yard", &w.county_a))
        .await
        .expect("site");
    let entries = intact(&db).await;
    match db
        .update_site(&w.office_a, spare.id, renamed(" west  YARD"))
        .await
    {
        Err(E::Conflict {
            field: "name",
            message_zh: Some(message_zh),
            ..
        }) => assert!(message_zh.contains("已有名称相同的地点"), "{message_zh}"),
        other => panic!("a name another site has: {other:?}"),
    }
    assert_eq!(intact(&db).await, entries, "a refusal writes nothing");
    assert_eq!(all_records(&db).await, records);
    let site = db.site(&Scope::everything(), north.id).await.expect("site");
    assert_eq!(site.name, "North Depot");
    assert_eq!(site.record_count, 2);
}

on_both_databases!(
    a_site_moves_only_without_records,
    site_moves_without_records
);
async fn site_moves_without_records(db: Database) {
    let w = world(&db).await;
    let kept = db
        .create_site(&w.office_a, new_site("North Depot", &w.county_a))
        .await
        .expect("site");
    let spare = db
        .create_site(&w.office_a, new_site("Spare Depot", &w.county_a))
        .await
        .expect("site");
    db.insert_records(
        &w.city_office,
        vec![
            draft(&w.county_a, "Haulier 1", Some("North Depot")),
            draft(&w.county_b, "Haulier 2", Some("Spare Depot")),
        ],
        RecordProvenance::default(),
        "test",
    )
    .await
    .expect("stored");
    let to_b = SiteChanges {
        region_code: Some(w.county_b.code.clone()),
        lat: Some(w.county_b.at.0),
        lon: Some(w.county_b.at.1),
        ..SiteChanges::default()
    };
    let entries = intact(&db).await;
    match db.update_site(&w.city_office, kept.id, to_b.clone()).await {
        Err(E::Conflict {
            field: "region_code",
            message,
            message_zh: Some(message_zh),
        }) => {
            assert!(message.contains("keeps 1 potential record"), "{message}");
            assert!(message_zh.contains("1 条潜力记录"), "{message_zh}");
        }
        other => panic!("a move with records: {other:?}"),
    }
    // The coordinates must lie in the new region, and the new region in the actor's scope.
    assert!(matches!(
        db.update_site(
            &w.city_office,
            spare.id,
            SiteChanges {
                lat: Some(w.county_b.at.0 + 5.0),
                ..to_b.clone()
            }
        )
        .await,
        Err(E::Refused { field: "lat", .. })
    ));
    assert!(matches!(
        db.update_site(&w.office_a, spare.id, to_b.clone()).await,
        Err(E::OutOfScope { .. })
    ));
    assert_eq!(intact(&db).await, entries, "a refusal writes nothing");

    let moved = db
        .update_site(&w.city_office, spare.id, to_b)
        .await
        .expect("moved");
    assert_eq!(moved.region_code, w.county_b.code);
    assert_eq!(moved.region_path, w.county_b.path);
    assert_eq!(moved.lat, Some(w.county_b.at.0));
    assert_eq!(
        moved.record_count, 1,
        "it takes in its new region's record stored under its name"
    );
    let entry = last_entry(&db).await;
    assert_eq!(
        (entry.entity.as_str(), entry.action.as_str()),
        ("site", "move")
    );
    // Filed where both counties' offices see it.
    let ends = (
        RegionPath::parse(&w.county_a.path).expect("path"),
        RegionPath::parse(&w.county_b.path).expect("path"),
    );
    assert_eq!(entry.region_path, ends.0.common_ancestor(&ends.1).as_str());
    assert!(RegionPath::parse(&entry.region_path).is_some_and(|p| p.contains(&ends.1)));
    assert!(
        entry
            .before
            .as_deref()
            .is_some_and(|b| b.contains(&w.county_a.code))
    );
    assert!(
        entry
            .after
            .as_deref()
            .is_some_and(|a| a.contains(&w.county_b.code))
    );
    // County A's office no longer sees it; county B's does.
    assert!(matches!(
        db.site(w.office_a.scope(), spare.id).await,
        Err(E::NotFound { .. })
    ));
    db.site(w.office_b.scope(), spare.id)
        .await
        .expect("in county B now");
    intact(&db).await;
}

on_both_databases!(
    a_site_is_removed_only_without_records,
    site_removed_without_records
);
async fn site_removed_without_records(db: Database) {
    let w = world(&db).await;
    let kept = db
        .create_site(&w.office_a, new_site("North Depot", &w.county_a))
        .await
        .expect("site");
    let empty = db
        .create_site(&w.office_a, new_site("Empty Yard", &w.county_a))
        .await
        .expect("site");
    db.insert_records(
        &w.city_office,
        vec![
            draft(&w.county_a, "Haulier 1", Some("North Depot")),
            draft(&w.county_a, "Haulier 2", Some("North Depot")),
        ],
        RecordProvenance::default(),
        "test",
    )
    .await
    .expect("stored");
    let entries = intact(&db).await;
    match db.remove_site(&w.office_a, kept.id).await {
        Err(E::Conflict {
            message,
            message_zh: Some(message_zh),
            ..
        }) => {
            assert!(message.contains("keeps 2 potential records"), "{message}");
            assert!(message_zh.contains("2 条潜力记录"), "{message_zh}");
        }
        other => panic!("a removal with records: {other:?}"),
    }
    for reader in [&w.viewer, &w.grid_member] {
        assert!(matches!(
            db.remove_site(reader, empty.id).await,
            Err(E::Forbidden(_))
        ));
    }
    assert!(matches!(
        db.remove_site(&w.office_b, empty.id).await,
        Err(E::NotFound { .. })
    ));
    assert_eq!(intact(&db).await, entries, "a refusal writes nothing");
    assert_eq!(
        db.site(&Scope::everything(), kept.id)
            .await
            .expect("kept")
            .record_count,
        2
    );

    db.remove_site(&w.office_a, empty.id)
        .await
        .expect("removed");
    assert!(matches!(
        db.site(&Scope::everything(), empty.id).await,
        Err(E::NotFound { .. })
    ));
    let entry = last_entry(&db).await;
    assert_eq!(
        (entry.entity.as_str(), entry.action.as_str()),
        ("site", "remove")
    );
    assert_eq!(entry.entity_id, empty.id.to_string());
    assert!(
        entry
            .before
            .as_deref()
            .is_some_and(|b| b.contains("Empty Yard"))
    );
    assert_eq!(entry.after, None);
    assert!(matches!(
        db.remove_site(&w.office_a, empty.id).await,
        Err(E::NotFound { .. })
    ));
    intact(&db).await;
}

on_both_databases!(site_edits_out_of_scope_or_role_are_refused, edits_refused);
async fn edits_refused(db: Database) {
    let w = world(&db).await;
    let depot = db
        .create_site(&w.office_a, new_site("North Depot", &w.county_a))
        .await
        .expect("site");
    let entries = intact(&db).await;
    // Another county's site is absent to county B's office, as for reading it.
    assert!(matches!(
        db.update_site(&w.office_b, depot.id, renamed("Mine")).await,
        Err(E::NotFound { .. })
    ));
    for reader in [&w.viewer, &w.grid_member] {
        assert!(matches!(
            db.update_site(reader, depot.id, renamed("Theirs")).await,
            Err(E::Forbidden(_))
        ));
    }
    let mut far = SiteChanges {
        lat: Some(w.county_a.at.0 + 5.0),
        ..SiteChanges::default()
    };
    match db.update_site(&w.office_a, depot.id, far.clone()).await {
        Err(E::Refused {
            field: "lat",
            message_zh,
            ..
        }) => assert!(message_zh.contains("公里"), "{message_zh}"),
        other => panic!("coordinates outside the region: {other:?}"),
    }
    far.lat = Some(f64::NAN);
    assert!(matches!(
        db.update_site(&w.office_a, depot.id, far).await,
        Err(E::Refused { field: "lat", .. })
    ));
    assert!(matches!(
        db.update_site(&w.office_a, depot.id, renamed("  ")).await,
        Err(E::Refused { field: "name", .. })
    ));
    assert!(matches!(
        db.update_site(
            &w.office_a,
            depot.id,
            SiteChanges {
                region_code: Some("349999".into()),
                ..SiteChanges::default()
            }
        )
        .await,
        Err(E::Refused {
            field: "region_code",
            ..
        })
    ));
    assert!(matches!(
        db.update_site(
            &w.office_b,
            depot.id,
            SiteChanges {
                organization_id: Some(Some(w.unit_a_organization)),
                ..SiteChanges::default()
            }
        )
        .await,
        Err(E::NotFound { .. })
    ));
    assert_eq!(intact(&db).await, entries, "a refusal writes nothing");
    assert_eq!(
        db.site(&Scope::everything(), depot.id).await.expect("site"),
        depot
    );
}

on_both_databases!(
    an_import_prepared_before_a_rename_links_by_the_new_name,
    import_prepared_before_rename
);
/// A file import links its records by the sites it read before its writer began; a site
/// renamed meanwhile lets go of the records that name it by its old name, and takes in those
/// that name it by its new one, before the import commits.
async fn import_prepared_before_rename(db: Database) {
    let w = world(&db).await;
    let depot = db
        .create_site(&w.office_a, new_site("North Depot", &w.county_a))
        .await
        .expect("site");
    let path = RegionPath::parse(&w.county_a.path).expect("path");
    db.insert_records(
        &w.city_office,
        vec![
            draft(&w.county_a, "Haulier 1", Some("North Depot")),
            draft(&w.county_a, "Haulier 2", Some("East Depot")),
        ],
        RecordProvenance::default(),
        "test",
    )
    .await
    .expect("stored");
    let root = RegionPath::root();
    let seen = testing::sites_seen_by_import(&db, &root)
        .await
        .expect("sites");
    // The import's records are not stored yet when the rename commits: the site has none
    // (a site with records keeps its name).
    testing::raw_execute(&db, "UPDATE potential_records SET site_id = NULL")
        .await
        .expect("not yet stored");
    db.update_site(&w.office_a, depot.id, renamed("East Depot"))
        .await
        .expect("renamed");
    // As the import would have stored them: Haulier 1 linked by the old name, Haulier 2
    // unlinked, as the import read no site of that name.
    let records = all_records(&db).await;
    let (one, two) = (
        record(&records, "Haulier 1").id,
        record(&records, "Haulier 2").id,
    );
    let old_key = holding_key(
        &path,
        TRUCK,
        &Holder::Organization {
            id: None,
            name: "Haulier 1".into(),
        },
        Some("North Depot"),
    );
    testing::raw_execute(
        &db,
        &format!(
            "UPDATE potential_records SET site_id = {}, site_name = 'North Depot', holding_key = '{old_key}' WHERE id = {one}",
            depot.id
        ),
    )
    .await
    .expect("as stored by the import");
    testing::raw_execute(
        &db,
        &format!("UPDATE potential_records SET site_id = NULL WHERE id = {two}"),
    )
    .await
    .expect("as stored by the import");
    assert_eq!(
        testing::link_sites_not_seen(&db, &root, &seen)
            .await
            .expect("links"),
        1
    );
    let records = all_records(&db).await;
    assert_eq!(record(&records, "Haulier 1").site_id, None);
    assert_eq!(record(&records, "Haulier 2").site_id, Some(depot.id));
    intact(&db).await;
}

on_both_databases!(
    a_site_left_outside_its_region_still_takes_other_changes,
    site_outside_its_region_edited
);
/// A form sends the stored point back with every save. A site whose point now lies outside
/// its region's reach (the region's centre imported again, say) must still take a new kind
/// or operator; only a new point is checked.
async fn site_outside_its_region_edited(db: Database) {
    let w = world(&db).await;
    let depot = db
        .create_site(&w.office_a, new_site("North Depot", &w.county_a))
        .await
        .expect("site");
    let far = (w.county_a.at.0 + 5.0, depot.lon.expect("lon"));
    testing::raw_execute(
        &db,
        &format!("UPDATE sites SET lat = {} WHERE id = {}", far.0, depot.id),
    )
    .await
    .expect("the point left outside");
    let changed = db
        .update_site(
            &w.office_a,
            depot.id,
            SiteChanges {
                kind: Some(SiteKind::Warehouse),
                lat: Some(far.0),
                lon: Some(far.1),
                ..SiteChanges::default()
            },
        )
        .await
        .expect("the same point again is not checked");
    assert_eq!(changed.kind(), SiteKind::Warehouse);
    // A new point outside is refused.
    assert!(matches!(
        db.update_site(
            &w.office_a,
            depot.id,
            SiteChanges {
                lat: Some(far.0 + 0.5),
                ..SiteChanges::default()
            },
        )
        .await,
        Err(E::Refused { .. })
    ));
}
