//! On-site verification stories, each run against SQLite and PostgreSQL: drawing samples,
//! dealing them to verifiers, findings moving the records and their roll-ups, and the
//! accuracy, credibility and freshness figures.

use std::collections::BTreeMap;

use muster_domain::organization::Roles;
use muster_domain::potential::{Holder, QualityGrade, RecordDraft, RecordStatus, holding_key};
use muster_domain::verification::{RiskWeights, SampleSize, Tolerance, freshness_by_region};
use muster_domain::{Actor, OrganizationKind, RegionPath, Scope, Side, Timestamp};
use muster_storage::testing::raw_execute;
use muster_storage::{
    AuditVerification, ContentHash, Database, FindingInput, NewOrganization, NewUser, RecordFilter,
    RecordProvenance, SampleMethod, SampleRequest, StorageError as E, on_both_databases,
};

const TRUCK: &str = "TRN.ROAD.TRUCK_HEAVY";
const TENT: &str = "CAD.MAT.TENT_12";

fn cli() -> Actor {
    Actor::command_line("test")
}

fn path(text: &str) -> RegionPath {
    RegionPath::parse(text).expect("path")
}

async fn import_tiny(db: &Database) {
    muster_storage::testing::import_tiny_demo_regions(db).await;
}

async fn intact(db: &Database) -> i64 {
    match db.verify_audit_chain(|_, _| {}).await.expect("verify runs") {
        AuditVerification::Intact { entries } => entries,
        AuditVerification::Broken(b) => panic!("chain broken: {b}"),
    }
}

fn draft(
    code: &str,
    region_path: &str,
    type_code: &str,
    holder: &str,
    quantity: f64,
) -> (u32, RecordDraft) {
    let region_path = path(region_path);
    let holder = Holder::Organization {
        id: None,
        name: holder.to_owned(),
    };
    let key = holding_key(&region_path, type_code, &holder, None);
    (
        1,
        RecordDraft {
            type_code: type_code.to_owned(),
            quantity,
            attributes: Default::default(),
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

/// The tiny demo's first city with two of its counties, two reporting units, an office, two
/// verifiers at the city, and people who must be refused.
struct World {
    city_code: String,
    city_path: String,
    county_a: (String, String),
    county_b: (String, String),
    other_city_code: String,
    unit_a: i64,
    unit_b: i64,
    office: Actor,
    verifier_a: Actor,
    verifier_b: Actor,
    county_grid: Actor,
    viewer: Actor,
    stranger: Actor,
    /// The outlier among county A's trucks.
    outlier_id: i64,
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
    import_tiny(db).await;
    let everything = Scope::everything();
    let city = db
        .region_view(&everything, Some("3401"))
        .await
        .expect("city");
    let city_path = city.region.as_ref().expect("the city").path.clone();
    let a = &city.children[0];
    let b = &city.children[1];
    let other_city = db
        .region_view(&everything, Some("34"))
        .await
        .expect("province")
        .children[1]
        .clone();

    let city_office = organization(
        db,
        "City office",
        OrganizationKind::MobilizationOffice,
        "3401",
    )
    .await;
    let county_office = organization(
        db,
        "County office",
        OrganizationKind::MobilizationOffice,
        &a.code,
    )
    .await;
    let other_office = organization(
        db,
        "Other office",
        OrganizationKind::MobilizationOffice,
        &other_city.code,
    )
    .await;
    let unit_a = organization(
        db,
        "Transport bureau A",
        OrganizationKind::MemberUnit,
        &a.code,
    )
    .await;
    let unit_b = organization(
        db,
        "Transport bureau B",
        OrganizationKind::MemberUnit,
        &b.code,
    )
    .await;

    // County A: nine trucks near 10 and one reported as 500; some tents. County B: six.
    let mut a_drafts = Vec::new();
    for (i, quantity) in [10.0, 11.0, 9.0, 10.0, 12.0, 10.0, 11.0, 9.0, 10.0, 500.0]
        .into_iter()
        .enumerate()
    {
        a_drafts.push(draft(
            &a.code,
            &a.path,
            TRUCK,
            &format!("Haulier A{i}"),
            quantity,
        ));
    }
    for i in 0..3 {
        a_drafts.push(draft(&a.code, &a.path, TENT, &format!("Depot A{i}"), 100.0));
    }
    let mut b_drafts = Vec::new();
    for i in 0..6 {
        b_drafts.push(draft(
            &b.code,
            &b.path,
            TRUCK,
            &format!("Haulier B{i}"),
            20.0 + f64::from(i),
        ));
    }
    for (drafts, unit) in [(a_drafts, unit_a), (b_drafts, unit_b)] {
        db.insert_records(
            &cli(),
            drafts,
            RecordProvenance {
                reporting_organization_id: Some(unit),
                ..RecordProvenance::default()
            },
            "records.csv",
        )
        .await
        .expect("records store");
    }
    let outlier_id = all_records(db, &a.code)
        .await
        .into_iter()
        .find(|r| r.quantity == 500.0)
        .expect("the outlier")
        .id;

    World {
        city_code: "3401".into(),
        city_path: city_path.clone(),
        county_a: (a.code.clone(), a.path.clone()),
        county_b: (b.code.clone(), b.path.clone()),
        other_city_code: other_city.code.clone(),
        unit_a,
        unit_b,
        office: user(db, "city-staff", city_office, "office_staff").await,
        verifier_a: user(db, "verifier-a", city_office, "grid_member").await,
        verifier_b: user(db, "verifier-b", city_office, "workstation_staff").await,
        county_grid: user(db, "county-grid", county_office, "grid_member").await,
        viewer: user(db, "city-viewer", city_office, "viewer").await,
        stranger: user(db, "other-staff", other_office, "office_staff").await,
        outlier_id,
    }
}

async fn all_records(db: &Database, region_code: &str) -> Vec<muster_storage::PotentialRecord> {
    db.potential_records(
        &Scope::everything(),
        &RecordFilter {
            region_code: Some(region_code.into()),
            limit: 1000,
            ..RecordFilter::default()
        },
    )
    .await
    .expect("records")
}

fn stratified(region: &str, size: SampleSize, seed: u64) -> SampleRequest {
    SampleRequest {
        region_code: Some(region.into()),
        round_id: None,
        method: SampleMethod::Stratified(size),
        seed: Some(seed),
        tolerance: Tolerance::default(),
    }
}

/// The roll-ups agree with a GROUP BY over the records at every level of the city.
async fn totals_agree(db: &Database, w: &World) {
    let everything = Scope::everything();
    for p in ["/", "/34/", &w.city_path, &w.county_a.1, &w.county_b.1] {
        let p = path(p);
        let rolled = db
            .totals_of_subtrees(&everything, std::slice::from_ref(&p))
            .await
            .expect("totals");
        let counted = db
            .totals_from_records(&everything, &p)
            .await
            .expect("group by");
        assert_eq!(
            rolled.get(p.as_str()).cloned().unwrap_or_default(),
            counted,
            "roll-up and GROUP BY agree at {p:?}"
        );
    }
}

fn finding(quantity_seen: f64) -> FindingInput {
    FindingInput {
        quantity_seen,
        location_right: true,
        type_right: true,
        notes: String::new(),
        photos: Vec::new(),
    }
}

on_both_databases!(verification_sampling, verification_sampling_story);
/// The same seed draws the same sample; stratified draws take their count from every county;
/// a risk-based draw favours the outlier and says why; open samples are not drawn from again.
async fn verification_sampling_story(db: Database) {
    let w = world(&db).await;
    let county_of = |id: i64, a_ids: &[i64]| if a_ids.contains(&id) { "a" } else { "b" };
    let a_ids: Vec<i64> = all_records(&db, &w.county_a.0)
        .await
        .iter()
        .map(|r| r.id)
        .collect();

    // Reproducible: the same seed, the same records, twice and when stored.
    let request = stratified(&w.city_code, SampleSize::Count(3), 42);
    let first = db
        .preview_sample(&w.office, &request)
        .await
        .expect("preview");
    let second = db
        .preview_sample(&w.office, &request)
        .await
        .expect("preview");
    assert_eq!(first, second);
    assert_eq!(first.candidates, 19);
    let other_seed = db
        .preview_sample(
            &w.office,
            &stratified(&w.city_code, SampleSize::Count(3), 43),
        )
        .await
        .expect("preview");
    assert_ne!(
        first.record_ids, other_seed.record_ids,
        "another seed, another sample"
    );

    // Three from each county.
    let mut per_county: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &first.record_ids {
        *per_county.entry(county_of(*id, &a_ids)).or_default() += 1;
    }
    assert_eq!(per_county, BTreeMap::from([("a", 3), ("b", 3)]));

    // A percentage is rounded up per county: 13 × 25 % → 4, 6 × 25 % → 2.
    let percent = db
        .preview_sample(
            &w.office,
            &stratified(&w.city_code, SampleSize::Percent(25.0), 1),
        )
        .await
        .expect("preview");
    let in_a = percent
        .record_ids
        .iter()
        .filter(|id| a_ids.contains(id))
        .count();
    assert_eq!((in_a, percent.record_ids.len() - in_a), (4, 2));

    let sample = db.draw_sample(&w.office, &request).await.expect("draw");
    assert_eq!(sample.seed, 42);
    assert_eq!(sample.item_count, 6);
    assert_eq!(sample.region_path, w.city_path);
    let items = db
        .verification_items(w.office.scope(), sample.id)
        .await
        .expect("items");
    assert_eq!(
        items.iter().map(|i| i.record_id).collect::<Vec<_>>(),
        first.record_ids
    );
    assert!(
        items
            .iter()
            .all(|i| i.status == "drawn" && i.verifier_user_id.is_none())
    );
    let parameters = sample.parameters().expect("parameters read");
    assert_eq!(
        (parameters.method.as_str(), parameters.count),
        ("stratified", Some(3))
    );
    assert_eq!(parameters.tolerance, 0.05);

    // Records in an open sample are not candidates again.
    let after = db
        .preview_sample(&w.office, &request)
        .await
        .expect("preview");
    assert_eq!(after.candidates, 13);
    assert!(
        after
            .record_ids
            .iter()
            .all(|id| !first.record_ids.contains(id))
    );

    // Risk-based, weighting the peer deviation only: over forty seeds, the truck reported as
    // 500 among trucks near 10 is drawn far more often than any other record. (Seed 42's
    // stratified sample left it out, so it is still a candidate.)
    let risk = |seed: u64| SampleRequest {
        region_code: Some(w.county_a.0.clone()),
        round_id: None,
        method: SampleMethod::RiskBased {
            total: 1,
            weights: RiskWeights::new(1.0, 0.0, 0.0, 0.0).expect("weights"),
        },
        seed: Some(seed),
        tolerance: Tolerance::default(),
    };
    assert!(!first.record_ids.contains(&w.outlier_id));
    let mut drawn_count: BTreeMap<i64, u32> = BTreeMap::new();
    for seed in 0..40 {
        let drawn = db
            .preview_sample(&w.office, &risk(seed))
            .await
            .expect("risk preview");
        assert_eq!(drawn.record_ids.len(), 1);
        *drawn_count.entry(drawn.record_ids[0]).or_default() += 1;
    }
    let outlier_drawn = drawn_count.remove(&w.outlier_id).unwrap_or(0);
    let most_other = drawn_count.values().copied().max().unwrap_or(0);
    // Ten candidates: a uniform draw would give each about 4 of 40.
    assert!(
        outlier_drawn >= 12 && outlier_drawn > 2 * most_other,
        "the outlier was drawn {outlier_drawn} times in 40, another record {most_other} times"
    );
    // A total beyond what one sample holds is refused by name, not drawn smaller.
    let mut too_many = risk(3);
    too_many.method = SampleMethod::RiskBased {
        total: 50_000,
        weights: RiskWeights::new(1.0, 0.0, 0.0, 0.0).expect("weights"),
    };
    match db.preview_sample(&w.office, &too_many).await {
        Err(E::Refused {
            field: "total",
            message,
            ..
        }) => assert!(message.contains("50000"), "{message}"),
        other => panic!("expected the total refused, got {other:?}"),
    }
    let stored = db
        .draw_sample(&w.office, &risk(3))
        .await
        .expect("risk draw");
    let parameters = stored.parameters().expect("parameters");
    assert_eq!(parameters.method, "risk");
    assert_eq!(parameters.weights, Some([1.0, 0.0, 0.0, 0.0]));
    for (record_id, risk) in &parameters.risk {
        if *record_id == w.outlier_id {
            assert!(
                risk.reasons.iter().any(|r| r.contains("median")),
                "the reason names the peers' median: {:?}",
                risk.reasons
            );
            assert!(
                risk.reasons_in("zh-CN")
                    .iter()
                    .any(|r| r.contains("中位数")),
                "and says so in Chinese for the Chinese pages: {:?}",
                risk.reasons_zh
            );
            assert_eq!(risk.reasons_in("en"), risk.reasons.as_slice());
        }
        assert!(risk.score > 0.0);
    }
    assert_eq!(parameters.risk.len(), 1);

    // Refusals: roles and scope.
    assert!(matches!(
        db.draw_sample(&w.verifier_a, &request).await,
        Err(E::Forbidden(_))
    ));
    assert!(matches!(
        db.draw_sample(&w.stranger, &request).await,
        Err(E::OutOfScope { .. })
    ));
    assert!(matches!(
        db.verification_sample(w.stranger.scope(), sample.id).await,
        Err(E::NotFound { .. })
    ));
    assert!(
        db.verification_samples(w.stranger.scope(), 100)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(matches!(
        db.preview_sample(
            &w.office,
            &stratified(&w.city_code, SampleSize::Percent(140.0), 1)
        )
        .await,
        Err(E::Refused {
            field: "sample",
            ..
        })
    ));
    intact(&db).await;
}

on_both_databases!(verification_findings, verification_findings_story);
/// Findings applied: balanced assignment, corrections moving the totals, reopening beyond the
/// threshold, accuracy, credibility, freshness and the stale list, refusals, the audit chain.
async fn verification_findings_story(db: Database) {
    let w = world(&db).await;
    let everything = Scope::everything();
    let sample = db
        .draw_sample(
            &w.office,
            &stratified(&w.city_code, SampleSize::Count(3), 7),
        )
        .await
        .expect("draw");

    // Only verifiers whose region covers the sample's, inside the assigner's scope.
    let id = |a: &Actor| a.user_id().expect("a user");
    for (verifiers, refused_as_invalid) in [
        (vec![id(&w.county_grid)], true),
        (vec![id(&w.viewer)], true),
        (vec![id(&w.stranger)], false),
    ] {
        match db.assign_sample(&w.office, sample.id, &verifiers).await {
            Err(E::Refused {
                field: "verifiers",
                message_zh,
                ..
            }) if refused_as_invalid => assert!(message_zh.contains("用户"), "{message_zh}"),
            Err(E::OutOfScope { .. }) if !refused_as_invalid => {}
            other => panic!("expected a refusal for {verifiers:?}, got {other:?}"),
        }
    }
    assert!(matches!(
        db.assign_sample(&w.verifier_a, sample.id, &[id(&w.verifier_a)])
            .await,
        Err(E::Forbidden(_))
    ));
    let dealt = db
        .assign_sample(
            &w.office,
            sample.id,
            &[id(&w.verifier_a), id(&w.verifier_b)],
        )
        .await
        .expect("assign");
    assert_eq!(dealt, 6);
    let mine_a = db
        .my_verification_items(&w.verifier_a, false)
        .await
        .expect("a's list");
    let mine_b = db
        .my_verification_items(&w.verifier_b, false)
        .await
        .expect("b's list");
    assert_eq!((mine_a.len(), mine_b.len()), (3, 3), "balanced");
    assert!(
        mine_a
            .iter()
            .all(|i| i.verifier_user_id == Some(id(&w.verifier_a)) && i.status == "assigned")
    );
    assert!(
        db.my_verification_items(&w.office, true)
            .await
            .expect("none")
            .is_empty()
    );

    // Someone else's item: refused; out of scope: not found.
    let a0 = &mine_a[0];
    assert!(matches!(
        db.record_finding(&w.verifier_b, sample.id, a0.record_id, finding(1.0))
            .await,
        Err(E::Forbidden(_))
    ));
    assert!(matches!(
        db.record_finding(&w.stranger, sample.id, a0.record_id, finding(1.0))
            .await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.record_finding(&w.verifier_a, sample.id, a0.record_id, finding(-3.0))
            .await,
        Err(E::Refused {
            field: "quantity_seen",
            ..
        })
    ));
    // Photos are named by the SHA-256 of what the attachment store holds, not by file names.
    match db
        .record_finding(
            &w.verifier_a,
            sample.id,
            a0.record_id,
            FindingInput {
                photos: vec!["IMG_0001.jpg".into()],
                ..finding(1.0)
            },
        )
        .await
    {
        Err(E::Refused {
            field: "photos",
            message,
            message_zh,
        }) => {
            assert!(
                message.contains("photos[0]") && message.contains("SHA-256"),
                "{message}"
            );
            assert!(message_zh.contains("SHA-256"), "{message_zh}");
        }
        other => panic!("a file name as a photo: {other:?}"),
    }
    // What may become the record's quantity must be one its type allows, as in an import.
    let taxonomy = db.taxonomy().await.expect("taxonomy");
    let record = db
        .potential_record(&Scope::everything(), a0.record_id)
        .await
        .expect("record");
    let limit = taxonomy
        .resource_type(&record.type_code)
        .expect("type")
        .max_quantity;
    match db
        .record_finding(&w.verifier_a, sample.id, a0.record_id, finding(limit * 2.0))
        .await
    {
        Err(E::Refused {
            field: "quantity_seen",
            message,
            message_zh,
        }) => {
            assert!(message.contains("at most"), "{message}");
            assert!(message_zh.contains("最多"), "{message_zh}");
        }
        other => panic!("beyond the type's bounds: {other:?}"),
    }

    // Exactly as reported: accurate, verified, nothing corrected.
    let photos: Vec<String> = [b"door".as_slice(), b"yard".as_slice()]
        .iter()
        .map(|bytes| ContentHash::of(bytes).as_str().to_owned())
        .collect();
    let exact = db
        .record_finding(
            &w.verifier_a,
            sample.id,
            a0.record_id,
            FindingInput {
                photos: photos.clone(),
                notes: "all there".into(),
                ..finding(a0.reported_quantity)
            },
        )
        .await
        .expect("exact");
    assert!(exact.accurate && !exact.reopened && exact.corrected.is_none());
    let items = db
        .verification_items(w.verifier_a.scope(), sample.id)
        .await
        .expect("items");
    let checked = items
        .iter()
        .find(|i| i.record_id == a0.record_id)
        .expect("the checked item");
    assert_eq!(checked.photo_list(), photos);
    // Its photos are for those who may read the sample: not for another city's staff, nor
    // for a county's grid member below the city's sample.
    for photo in &photos {
        for reader in [&w.verifier_a, &w.office, &w.viewer] {
            assert!(db.may_see_blob(reader, photo).await.expect("may see"));
        }
        for outsider in [&w.stranger, &w.county_grid] {
            assert!(!db.may_see_blob(outsider, photo).await.expect("may see"));
        }
    }
    // Held by a person, the photos are personal data: not for the viewer, who reads the
    // sample but not that class, on the page, in the API or as files.
    let kind = db
        .potential_record(&everything, a0.record_id)
        .await
        .expect("record")
        .holder_kind;
    let set_kind = |kind: &str| {
        format!(
            "UPDATE potential_records SET holder_kind = '{kind}' WHERE id = {}",
            a0.record_id
        )
    };
    raw_execute(&db, &set_kind("person"))
        .await
        .expect("a person holds it");
    for photo in &photos {
        assert!(db.may_see_blob(&w.office, photo).await.expect("may see"));
        assert!(!db.may_see_blob(&w.viewer, photo).await.expect("may see"));
    }
    let photos_seen = |scope: Scope| {
        let db = db.clone();
        async move {
            db.verification_items(&scope, sample.id)
                .await
                .expect("items")
                .into_iter()
                .find(|i| i.record_id == a0.record_id)
                .expect("the item")
                .photo_list()
        }
    };
    assert!(photos_seen(w.viewer.scope().clone()).await.is_empty());
    assert_eq!(photos_seen(w.office.scope().clone()).await, photos);
    raw_execute(&db, &set_kind(&kind)).await.expect("as it was");
    let unknown = ContentHash::of(b"never attached");
    assert!(
        !db.may_see_blob(&w.office, unknown.as_str())
            .await
            .expect("may see")
    );
    let record = db
        .potential_record(&everything, a0.record_id)
        .await
        .expect("record");
    assert!(record.last_verified_at.is_some());
    assert_eq!(record.verified_quantity, Some(a0.reported_quantity));
    assert!(matches!(
        db.record_finding(&w.verifier_a, sample.id, a0.record_id, finding(1.0))
            .await,
        Err(E::Conflict { .. })
    ));
    let stored = db
        .verification_item(&everything, sample.id, a0.record_id)
        .await
        .expect("item");
    assert_eq!(stored.photo_list().len(), 2);
    assert_eq!(stored.status, "found");
    totals_agree(&db, &w).await;

    // Within the 5 % tolerance: accurate, the record keeps its figure.
    let a1 = &mine_a[1];
    let within = db
        .record_finding(
            &w.verifier_a,
            sample.id,
            a1.record_id,
            finding(a1.reported_quantity * 0.97),
        )
        .await
        .expect("within");
    assert!(within.accurate && within.corrected.is_none());
    assert_eq!(
        db.potential_record(&everything, a1.record_id)
            .await
            .expect("r")
            .quantity,
        a1.reported_quantity
    );

    // 10 % off: inaccurate, corrected, still verified; the totals move by the difference.
    let b0 = &mine_b[0];
    let before_totals = db
        .subtree_totals(&everything, Some(&w.city_code))
        .await
        .expect("totals");
    let seen = b0.reported_quantity * 0.9;
    let corrected = db
        .record_finding(&w.verifier_b, sample.id, b0.record_id, finding(seen))
        .await
        .expect("corrected");
    assert!(!corrected.accurate && !corrected.reopened);
    assert_eq!(corrected.corrected, Some((b0.reported_quantity, seen)));
    let after_totals = db
        .subtree_totals(&everything, Some(&w.city_code))
        .await
        .expect("totals");
    let quantity = |t: &muster_storage::SubtreeTotals, code: &str| {
        t.by_type
            .iter()
            .find(|t| t.type_code == code)
            .map_or(0.0, |t| t.totals.quantity)
    };
    let b0_type = db
        .potential_record(&everything, b0.record_id)
        .await
        .expect("r")
        .type_code;
    assert!(
        (quantity(&before_totals, &b0_type)
            - quantity(&after_totals, &b0_type)
            - (b0.reported_quantity - seen))
            .abs()
            < 1e-9
    );
    totals_agree(&db, &w).await;

    // Half of what was reported (whole vehicles: a verifier counts no half truck): beyond
    // the 20 % threshold, the record is reopened and no longer counts as verified.
    let b1 = &mine_b[1];
    let half = (b1.reported_quantity / 2.0).floor();
    let reopened = db
        .record_finding(&w.verifier_b, sample.id, b1.record_id, finding(half))
        .await
        .expect("reopened");
    assert!(reopened.reopened && !reopened.accurate);
    let record = db
        .potential_record(&everything, b1.record_id)
        .await
        .expect("r");
    assert_eq!(record.reopened, 1);
    assert_eq!(record.last_verified_at, None);
    assert_eq!(record.quantity, half);
    // Wrong place: reopened whatever the quantity.
    let b2 = &mine_b[2];
    let misplaced = db
        .record_finding(
            &w.verifier_b,
            sample.id,
            b2.record_id,
            FindingInput {
                location_right: false,
                ..finding(b2.reported_quantity)
            },
        )
        .await
        .expect("misplaced");
    assert!(misplaced.reopened && misplaced.corrected.is_none());
    totals_agree(&db, &w).await;

    // Accuracy of the sample: 2 of 5 checked are accurate, by child region too.
    let accuracy = db
        .verification_accuracy(&everything, Some(&w.city_code), Some(sample.id))
        .await
        .expect("accuracy");
    assert_eq!(
        (
            accuracy.total.figure.checked,
            accuracy.total.figure.accurate
        ),
        (5, 2)
    );
    let children_checked: u32 = accuracy.children.iter().map(|c| c.figure.checked).sum();
    assert_eq!(children_checked, 5);
    assert!((accuracy.total.figure.rate - 0.4).abs() < 1e-9);

    // Credibility: each unit's checks. Who reported what depends on the county.
    let units = db
        .unit_credibility(&everything, Some(&w.city_code))
        .await
        .expect("units");
    assert_eq!(units.iter().map(|u| u.checked).sum::<u32>(), 5);
    assert!(
        units
            .windows(2)
            .all(|p| p[0].credibility <= p[1].credibility),
        "least credible first"
    );
    for unit in &units {
        assert!(unit.organization_id == Some(w.unit_a) || unit.organization_id == Some(w.unit_b));
        assert!(unit.organization_name.is_some());
        assert!((0.0..=1.0).contains(&unit.credibility));
    }

    // Freshness: the stale period is an administrator's setting.
    assert!(matches!(
        db.set_stale_after_days(&w.office, 30).await,
        Err(E::Forbidden(_))
    ));
    assert!(matches!(
        db.set_stale_after_days(&cli(), 0).await,
        Err(E::Refused { .. })
    ));
    assert_eq!(db.stale_after_days().await.expect("default"), 365);
    db.set_stale_after_days(&cli(), 30).await.expect("set");
    assert_eq!(db.stale_after_days().await.expect("set"), 30);
    // One verified record was verified 100 days ago.
    raw_execute(
        &db,
        &format!(
            "UPDATE potential_records SET last_verified_at = last_verified_at - 8640000000 WHERE id = {}",
            a1.record_id
        ),
    )
    .await
    .expect("backdate");
    let freshness = db
        .verification_freshness(&everything, Some(&w.city_code), None)
        .await
        .expect("freshness");
    assert_eq!(freshness.stale_after_days, 30);
    let t = freshness.total.figure;
    // Of 19 records: a0 and b0 fresh, a1 stale, the rest (with the two reopened) never.
    assert_eq!((t.fresh, t.stale, t.never_verified), (2, 1, 16));
    // The same figures as the domain's, record by record.
    let mut records = all_records(&db, &w.county_a.0).await;
    records.extend(all_records(&db, &w.county_b.0).await);
    let domain = freshness_by_region(
        &records
            .iter()
            .map(|r| {
                (
                    path(&r.region_path),
                    r.last_verified_at.map(Timestamp::from_millis),
                )
            })
            .collect::<Vec<_>>(),
        muster_storage::now(),
        30,
    );
    let domain_city = domain.get(w.city_path.as_str()).expect("the city");
    assert_eq!(
        (
            domain_city.fresh,
            domain_city.stale,
            domain_city.never_verified
        ),
        (t.fresh, t.stale, t.never_verified)
    );
    for child in &freshness.children {
        let expected = domain.get(child.region_path.as_str());
        assert_eq!(
            expected.map_or((0, 0, 0), |c| (c.fresh, c.stale, c.never_verified)),
            (
                child.figure.fresh,
                child.figure.stale,
                child.figure.never_verified
            ),
            "at {}",
            child.region_path
        );
    }
    let longer = db
        .verification_freshness(&everything, Some(&w.city_code), Some(365))
        .await
        .expect("freshness");
    assert_eq!(longer.total.figure.fresh, 3);

    // The stale list: never verified first, then the oldest, a page at a time.
    let stale = db
        .stale_records(&everything, Some(&w.city_code), None, None, 100)
        .await
        .expect("stale");
    assert_eq!(stale.len(), 17);
    assert_eq!(stale.last().map(|r| r.id), Some(a1.record_id));
    let first_page = db
        .stale_records(&everything, Some(&w.city_code), None, None, 10)
        .await
        .expect("page");
    let cursor = first_page
        .last()
        .map(|r| (r.last_verified_at.unwrap_or(-1), r.id));
    let second_page = db
        .stale_records(&everything, Some(&w.city_code), None, cursor, 10)
        .await
        .expect("page");
    assert_eq!(first_page.len() + second_page.len(), 17);

    // Scope: another city sees none of it.
    assert!(matches!(
        db.verification_freshness(w.stranger.scope(), Some(&w.city_code), None)
            .await,
        Err(E::NotFound { .. })
    ));
    assert!(matches!(
        db.verification_items(w.stranger.scope(), sample.id).await,
        Err(E::NotFound { .. })
    ));
    let theirs = db
        .verification_accuracy(w.stranger.scope(), Some(&w.other_city_code), None)
        .await
        .expect("their accuracy");
    assert_eq!(theirs.total.figure.checked, 0);

    // The audit: every finding, and every record change with its before and after.
    let entries = db.audit_entries(&everything, 1000).await.expect("entries");
    let correction = entries
        .iter()
        .find(|e| e.entity == "potential_record" && e.entity_id == b0.record_id.to_string())
        .expect("the correction is audited");
    assert_eq!(correction.action, "verify_and_correct");
    assert!(
        correction
            .before
            .as_deref()
            .is_some_and(|b| b.contains("\"quantity\""))
    );
    assert!(
        entries
            .iter()
            .any(|e| e.entity == "verification_item" && e.action == "record_finding")
    );
    assert!(entries.iter().any(|e| e.entity == "setting"));
    let _ = w.county_b;
    intact(&db).await;
}

on_both_databases!(
    racing_draws_never_send_one_record_out_twice,
    racing_draws_story
);
/// Two draws of every record of a county at the same moment, in each county: one sample
/// gets them and the other draw is refused (as drawn meanwhile, when it read its candidates
/// before the first stored its own), and no record is ever in two open samples.
async fn racing_draws_story(db: Database) {
    let w = world(&db).await;
    let mut stored = Vec::new();
    for county in [&w.county_a.0, &w.county_b.0] {
        let everything = stratified(county, SampleSize::Count(100), 7);
        let (one, other) = tokio::join!(
            db.draw_sample(&w.office, &everything),
            db.draw_sample(&w.office, &everything)
        );
        let mut drawn = 0;
        for result in [one, other] {
            match result {
                Ok(sample) => {
                    drawn += 1;
                    stored.push(sample.id);
                }
                Err(E::Conflict { field, message, .. }) => {
                    assert_eq!(field, "sample");
                    assert!(message.contains("another sample"), "{message}");
                }
                Err(E::Refused { field, .. }) => assert_eq!(field, "sample"),
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(drawn, 1, "one of two racing draws gets the records");
    }
    let mut records = Vec::new();
    for id in &stored {
        let items = db
            .verification_items(w.office.scope(), *id)
            .await
            .expect("items");
        records.extend(items.into_iter().map(|i| i.record_id));
    }
    let count = records.len();
    records.sort_unstable();
    records.dedup();
    assert_eq!(records.len(), count, "a record out in two open samples");
    assert_eq!(count, 19, "every record of both counties, once");
    intact(&db).await;
}
