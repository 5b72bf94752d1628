//! Requisition and sustainment over HTTP, on both databases: the exemption refusal named,
//! the lifecycle in order and out of it, the compensation as the domain assesses it, an
//! enterprise reading only its own orders, a citizen's notice link and its expiry; a
//! sustainment scenario whose report is the domain's on the stock the API reports, a
//! what-if, the scope of a county; and the pages in both languages.

mod common;

use std::collections::BTreeMap;

use common::{TestApp, assert_same_table, page_table, same_cell, unescape};
use muster_domain::demo::DEMO_PASSWORD;
use muster_domain::organization::Roles;
use muster_domain::potential::{Holder, QualityGrade, RecordDraft, RecordStatus, holding_key};
use muster_domain::requisition::{
    CompensationPolicy, ItemCompensationInput, ReturnCondition, assess_compensation, use_days,
};
use muster_domain::sustainment::{DiscountPolicy, StockFigures, compute};
use muster_domain::taxonomy::AttributeValue;
use muster_domain::{Actor, RegionPath, Scope, Timestamp};
use muster_storage::testing::raw_execute;
use muster_storage::{
    NewUser, Organization, RecordProvenance, ScenarioDocument, ScenarioTypeDocument, SurgeStep,
};
use muster_web::password::{HashCost, hash_password};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TRUCK: &str = "TRN.ROAD.TRUCK_HEAVY";
const BUS: &str = "TRN.ROAD.BUS_MEDIUM";
const CAR: &str = "TRN.ROAD.OFF_ROAD";
const TENT: &str = "CAD.MAT.TENT_12";
const DAY: i64 = 86_400_000;
/// 2027-01-01, and days after it.
fn at_day(day: i64) -> i64 {
    1_798_761_600_000 + day * DAY
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    token: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    send(app, reqwest::Method::GET, token, path, None).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    send(app, reqwest::Method::POST, Some(token), path, Some(body)).await
}

fn cli() -> Actor {
    Actor::command_line("test")
}

fn record(
    organization: &Organization,
    type_code: &str,
    holder: Holder,
    quantity: f64,
    attributes: &[(&str, AttributeValue)],
) -> (u32, RecordDraft) {
    let path = RegionPath::parse(&organization.region_path).expect("path");
    let key = holding_key(&path, type_code, &holder, None);
    (
        1,
        RecordDraft {
            type_code: type_code.into(),
            quantity,
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            quality: QualityGrade::Good,
            holder,
            site: None,
            region_code: organization.region_code.clone().expect("a region"),
            region_path: path,
            coordinates: None,
            status: RecordStatus::Available,
            holding_key: key,
        },
    )
}

/// Two enterprises of the demo in the office's city (one per county), an account for each,
/// an office user of the second county, and records: the first enterprise's trucks and an
/// adapted bus, a citizen's car, and tents in both counties.
struct World {
    office: String,
    enterprise_1: String,
    enterprise_2: String,
    county_b_office: String,
    county_a: Organization,
    truck: i64,
    bus: i64,
    car: i64,
}

async fn world(app: &TestApp) -> World {
    let office = app.token_for("office").await;
    let visible: Vec<String> = app
        .regions_for(&office)
        .await
        .into_iter()
        .map(|(_, path)| path)
        .collect();
    let organizations = app
        .db
        .organizations(&Scope::everything(), None, 1000, 0)
        .await
        .expect("organizations");
    let enterprises: Vec<Organization> = organizations
        .iter()
        .filter(|o| o.kind == "enterprise" && visible.contains(&o.region_path))
        .cloned()
        .collect();
    assert!(
        enterprises.len() >= 2,
        "two enterprises in the office's city"
    );
    let (e1, e2) = (enterprises[0].clone(), enterprises[1].clone());
    let county_b_office_org = organizations
        .iter()
        .find(|o| o.kind == "mobilization_office" && o.region_path == e2.region_path)
        .expect("county B's office")
        .clone();
    let hash = hash_password(DEMO_PASSWORD, HashCost::Test).expect("hash");
    for (username, organization_id, roles) in [
        ("haulage", e1.id, "viewer"),
        ("freight", e2.id, "viewer"),
        ("county_b", county_b_office_org.id, "office_staff"),
    ] {
        app.db
            .create_user(
                &cli(),
                NewUser {
                    username: username.into(),
                    display_name: username.into(),
                    password_hash: hash.clone(),
                    organization_id,
                    roles: Roles::parse_list(roles).expect("roles"),
                },
            )
            .await
            .expect("user");
    }
    let holder = |o: &Organization| Holder::Organization {
        id: Some(o.id),
        name: o.name.clone(),
    };
    let depot = |name: &str| Holder::Organization {
        id: None,
        name: name.into(),
    };
    app.db
        .insert_records(
            &cli(),
            vec![
                record(&e1, TRUCK, holder(&e1), 5.0, &[]),
                record(
                    &e1,
                    BUS,
                    holder(&e1),
                    1.0,
                    &[("adapted_for_disabled", AttributeValue::Boolean(true))],
                ),
                record(
                    &e1,
                    CAR,
                    Holder::Person {
                        name: "王建国".into(),
                        id_number: Some("340104196501011234".into()),
                        phone: None,
                    },
                    1.0,
                    &[],
                ),
                record(&e1, TENT, depot("County A depot"), 300.0, &[]),
                record(&e2, TENT, depot("County B depot"), 9_000.0, &[]),
            ],
            RecordProvenance::default(),
            "requisition test",
        )
        .await
        .expect("records");
    let records = app
        .db
        .potential_records(
            &Scope::everything(),
            &muster_storage::RecordFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("records");
    let id_of = |type_code: &str| {
        records
            .iter()
            .find(|r| r.type_code == type_code)
            .expect("record")
            .id
    };
    World {
        enterprise_1: app.token_for("haulage").await,
        enterprise_2: app.token_for("freight").await,
        county_b_office: app.token_for("county_b").await,
        office,
        county_a: e1,
        truck: id_of(TRUCK),
        bus: id_of(BUS),
        car: id_of(CAR),
    }
}

/// What the stories' requisition of two trucks, used from day 1 to day 6 and returned
/// damaged, should pay, as the domain assesses it.
fn truck_compensation(w: &World) -> muster_domain::requisition::CompensationAssessment {
    assess_compensation(
        &[ItemCompensationInput {
            item_id: w.truck,
            quantity: 2,
            declared_value_fen: 40_000_000,
            daily_rate_fen: 150_000,
            use_days: use_days(
                Timestamp::from_millis(at_day(1)),
                Timestamp::from_millis(at_day(6)),
            )
            .expect("days"),
            condition: ReturnCondition::Damaged,
        }],
        &CompensationPolicy::default(),
    )
    .expect("assessed")
}

fn line(record_id: i64, quantity: i64) -> Value {
    json!({ "record_id": record_id, "quantity": quantity, "declared_value_fen": 40_000_000, "daily_rate_fen": 150_000 })
}

fn order(lines: Vec<Value>) -> Value {
    json!({ "legal_basis": "国防动员法第五十四条", "items": lines })
}

on_both!(requisitions_over_http, spawn_demo, requisition_story);
async fn requisition_story(app: TestApp) {
    let w = world(&app).await;

    // The exemption rules first: the adapted bus is refused, naming the rule.
    let (status, problem) = post(
        &app,
        &w.office,
        "/api/v1/requisitions",
        order(vec![line(w.truck, 1), line(w.bus, 1)]),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let detail = problem["detail"].as_str().expect("detail");
    assert!(detail.contains("disabled_adapted_vehicle"), "{detail}");

    let (status, drafted) = post(
        &app,
        &w.office,
        "/api/v1/requisitions",
        order(vec![line(w.truck, 2)]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{drafted}");
    assert_eq!(drafted["status"], "drafted");
    let id = drafted["id"].as_i64().expect("id");
    let events = format!("/api/v1/requisitions/{id}/events");

    // Out of order: refused, naming what comes first.
    let (status, problem) = post(&app, &w.office, &events, json!({ "kind": "hand_over" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("notify the holder first"),
        "{problem}"
    );
    // The holder does not act on it.
    let (status, _) = post(&app, &w.enterprise_1, &events, json!({ "kind": "notify" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    for body in [
        json!({ "kind": "notify", "at": at_day(0) }),
        json!({ "kind": "hand_over", "at": at_day(1) }),
        json!({ "kind": "record_use", "at": at_day(2), "hours": 9, "kilometres": 300, "note": "运送物资" }),
        json!({ "kind": "return", "at": at_day(6), "conditions": ["damaged"] }),
        json!({ "kind": "assess" }),
        json!({ "kind": "approve", "at": at_day(8) }),
        json!({ "kind": "mark_paid", "at": at_day(9), "reference": "国库 2027-17" }),
    ] {
        let kind = body["kind"].as_str().unwrap_or("").to_owned();
        let (status, body) = post(&app, &w.office, &events, body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // The record follows the order: requisitioned from the handover, and back damaged,
        // unavailable until someone says it is repaired.
        let expected_status = match kind.as_str() {
            "notify" => "available",
            "return" | "assess" | "approve" | "mark_paid" => "unavailable",
            _ => "requisitioned",
        };
        let (status, record) = get(
            &app,
            Some(&w.office),
            &format!("/api/v1/potential/records/{}", w.truck),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{record}");
        assert_eq!(record["status"], expected_status, "after {kind}: {record}");
    }
    let (status, paid) = get(&app, Some(&w.office), &format!("/api/v1/requisitions/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["payment_reference"], "国库 2027-17");
    assert_eq!(paid["use_log"].as_array().map(Vec::len), Some(1));
    let expected = truck_compensation(&w);
    assert_eq!(paid["total_fen"], expected.total_fen);
    let item = &paid["compensation"]["items"][0];
    let term = &expected.items[0];
    assert_eq!(item["use_fen"], term.use_fen);
    assert_eq!(item["wear_fen"], term.wear_fen);
    assert_eq!(item["damage_fen"], term.damage_fen);
    assert_eq!(item["use_days"], 5);
    assert_eq!(paid["compensation"]["total_fen"], expected.total_fen);

    // The holder reads its own order and compensation; the other enterprise nothing.
    let (_, own) = get(&app, Some(&w.enterprise_1), "/api/v1/requisitions").await;
    assert_eq!(own.as_array().map(Vec::len), Some(1), "{own}");
    let (status, seen) = get(
        &app,
        Some(&w.enterprise_1),
        &format!("/api/v1/requisitions/{id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["total_fen"], expected.total_fen);
    let (status, _) = get(
        &app,
        Some(&w.enterprise_2),
        &format!("/api/v1/requisitions/{id}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, none) = get(&app, Some(&w.enterprise_2), "/api/v1/requisitions").await;
    assert_eq!(none, json!([]));
    // Nor does the audit log show the other enterprise the order; it shows the holder, and
    // says of every entry whether anything was taken out of it.
    let orders_logged = |entries: &serde_json::Value| -> Vec<String> {
        entries
            .as_array()
            .into_iter()
            .flatten()
            .inspect(|e| assert!(e["redacted"].is_boolean(), "{e}"))
            .filter(|e| e["entity"] == "requisition_order")
            .filter_map(|e| e["entity_id"].as_str().map(str::to_owned))
            .collect()
    };
    let (status, log) = get(&app, Some(&w.enterprise_1), "/api/v1/audit?limit=1000").await;
    assert_eq!(status, StatusCode::OK);
    assert!(orders_logged(&log).contains(&id.to_string()), "{log}");
    let (_, log) = get(&app, Some(&w.enterprise_2), "/api/v1/audit?limit=1000").await;
    assert_eq!(orders_logged(&log), Vec::<String>::new());
    let (_, log) = get(&app, Some(&w.office), "/api/v1/audit?limit=1000").await;
    assert!(orders_logged(&log).contains(&id.to_string()), "{log}");

    // A citizen's car: a notice link that works without signing in, until it expires.
    let (status, citizen) = post(
        &app,
        &w.office,
        "/api/v1/requisitions",
        order(vec![line(w.car, 1)]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{citizen}");
    assert_eq!(citizen["holder_category"], "citizen");
    let citizen_id = citizen["id"].as_i64().expect("id");
    let (status, link) = post(
        &app,
        &w.office,
        &format!("/api/v1/requisitions/{citizen_id}/links"),
        json!({ "valid_days": 3 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let token = link["token"].as_str().expect("token").to_owned();
    let (status, by_link) = get(&app, None, &format!("/api/v1/requisitions/notice/{token}")).await;
    assert_eq!(status, StatusCode::OK, "{by_link}");
    assert_eq!(by_link["id"], citizen_id);
    let page = reqwest::get(app.url(link["path"].as_str().expect("path")))
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("王建国"), "the notice names its holder");
    raw_execute(&app.db, "UPDATE requisition_links SET expires_at = 1")
        .await
        .expect("the link made old");
    let (status, problem) = get(&app, None, &format!("/api/v1/requisitions/notice/{token}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/link-expired")),
        "{problem}"
    );
    // The notice page says the link has expired, as a link and not as a role refusal, in the
    // default language.
    let expired = reqwest::get(app.url(link["path"].as_str().expect("path")))
        .await
        .expect("page");
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    let html = expired.text().await.expect("html");
    assert!(
        html.contains("<h1>链接已过期</h1>")
            && html.contains("此链接已过期")
            && !html.contains("id=\"sign-out\""),
        "{html}"
    );
    let (status, _) = get(
        &app,
        None,
        &format!("/api/v1/requisitions/notice/{}", "0".repeat(64)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The pages, in both languages.
    for (language, words) in [
        ("zh-CN", ["征用令", "补偿"]),
        ("en", ["Requisition order", "Compensation"]),
    ] {
        let (client, _) = app.signed_in("office", language).await;
        let list = client
            .get(app.url("/requisitions"))
            .send()
            .await
            .expect("list");
        assert_eq!(list.status(), StatusCode::OK);
        let list = list.text().await.expect("html");
        assert!(list.contains(&format!("/requisitions/{id}")), "{language}");
        let detail = common::page_text(&client, &app, &format!("/requisitions/{id}")).await;
        for word in words {
            assert!(detail.contains(word), "{language}: {word}");
        }
        let total = format!(
            "id=\"compensation-total\">{}",
            muster_domain::requisition::format_yuan(expected.total_fen)
        );
        assert!(detail.contains(&total), "{language}: the total is shown");
        let notice = client
            .get(app.url(&format!("/requisitions/{id}/notice")))
            .send()
            .await
            .expect("notice");
        assert_eq!(notice.status(), StatusCode::OK);
    }
    // The drafting form refuses an exempt item on the page, naming the rule.
    let (client, csrf) = app.signed_in("office", "en").await;
    let refused = client
        .post(app.url("/requisitions"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("legal_basis", "Mobilization Law art. 54"),
            ("holder_category", ""),
            ("items", &format!("{}, 1, 300000, 800", w.bus)),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .expect("html")
            .contains("disabled_adapted_vehicle")
    );

    let (_, openapi) = get(&app, None, "/api/v1/openapi.json").await;
    for path in [
        "/requisitions",
        "/requisitions/{id}/events",
        "/sustainment/scenarios/{id}/report",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path} documented");
    }
    let _ = &w.county_b_office;
    app.stop().await;
}

fn document() -> Value {
    json!({
        "horizon_days": 60,
        "surge": [{ "from_day": 0, "multiplier": 2.0 }, { "from_day": 5, "multiplier": 1.0 }],
        "types": [
            { "type_code": TENT, "daily_consumption": 20.0 },
            { "type_code": TRUCK, "daily_consumption": 0.5,
              "production": [{ "source": "Hefei Works", "full_rate_per_day": 0.1, "start_day": 10, "ramp_days": 5 }] }
        ]
    })
}

on_both!(sustainment_over_http, spawn_demo, sustainment_story);
async fn sustainment_story(app: TestApp) {
    let w = world(&app).await;
    let county_code = w.county_a.region_code.clone().expect("code");
    let (status, scenario) = post(
        &app,
        &w.office,
        "/api/v1/sustainment/scenarios",
        json!({ "name": "抗洪保障", "region_code": county_code, "document": document() }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{scenario}");
    let id = scenario["id"].as_i64().expect("id");

    let (status, run) = get(
        &app,
        Some(&w.office),
        &format!("/api/v1/sustainment/scenarios/{id}/report"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    // The report is the domain's compute on the figures the stock endpoint reports.
    let (_, stock) = get(
        &app,
        Some(&w.office),
        &format!("/api/v1/sustainment/stock?region={county_code}&types={TENT},{TRUCK}"),
    )
    .await;
    let figures: BTreeMap<String, StockFigures> = stock
        .as_array()
        .expect("stock")
        .iter()
        .map(|s| {
            (
                s["type_code"].as_str().expect("code").to_owned(),
                StockFigures {
                    verified: s["verified"].as_f64().expect("verified"),
                    unverified: s["unverified"].as_f64().expect("unverified"),
                    age_days: u32::try_from(s["age_days"].as_u64().expect("age")).expect("age"),
                    added: 0.0,
                },
            )
        })
        .collect();
    assert_eq!(figures[TENT].unverified, 300.0, "county A's tents only");
    let document = ScenarioDocument {
        horizon_days: 60,
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
        types: vec![
            ScenarioTypeDocument {
                type_code: TENT.into(),
                daily_consumption: 20.0,
                production: vec![],
            },
            ScenarioTypeDocument {
                type_code: TRUCK.into(),
                daily_consumption: 0.5,
                production: vec![muster_storage::ProductionLine {
                    source: "Hefei Works".into(),
                    full_rate_per_day: 0.1,
                    start_day: 10,
                    ramp_days: 5,
                }],
            },
        ],
    };
    let report = compute(
        &document.scenario(&figures).expect("valid"),
        &DiscountPolicy::default(),
    );
    assert_eq!(
        run["report"]["days_of_sustainment"],
        json!({ "low": report.days_of_sustainment.low, "expected": report.days_of_sustainment.expected, "high": report.days_of_sustainment.high })
    );
    let bottleneck = report.bottleneck.expect("a bottleneck");
    assert_eq!(
        run["report"]["bottleneck"]["type_code"],
        bottleneck.type_code
    );
    assert_eq!(
        run["report"]["bottleneck"]["runs_out_day"],
        bottleneck.runs_out_day
    );
    assert_eq!(
        run["report"]["types"][0]["series"].as_array().map(Vec::len),
        Some(60)
    );

    // A what-if beside the base run.
    let (status, what_if) = post(
        &app,
        &w.office,
        &format!("/api/v1/sustainment/scenarios/{id}/report"),
        json!({ "adjustments": [{ "kind": "add_stock", "type_code": bottleneck.type_code, "quantity": 5000.0 }] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{what_if}");
    assert!(
        what_if["adjusted"]["days_of_sustainment"]["expected"].as_u64()
            > what_if["report"]["days_of_sustainment"]["expected"].as_u64()
    );

    // The other county's office does not see it, and counts only its own tents.
    let (status, _) = get(
        &app,
        Some(&w.county_b_office),
        &format!("/api/v1/sustainment/scenarios/{id}/report"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, b_stock) = get(
        &app,
        Some(&w.county_b_office),
        &format!("/api/v1/sustainment/stock?types={TENT}"),
    )
    .await;
    assert_eq!(b_stock[0]["unverified"], 9_000.0, "{b_stock}");
    let (status, _) = get(
        &app,
        Some(&w.county_b_office),
        &format!("/api/v1/sustainment/stock?region={county_code}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A bad document is refused naming the field.
    let (status, problem) = post(
        &app,
        &w.office,
        "/api/v1/sustainment/scenarios",
        json!({ "name": "x", "document": { "horizon_days": 0, "types": [] } }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("horizon_days")
    );

    // The page: the chart as SVG with the band, the table, in both languages.
    for (language, word) in [("zh-CN", "持续保障天数"), ("en", "Days of sustainment")] {
        let (client, _) = app.signed_in("office", language).await;
        let page = client
            .get(app.url(&format!(
                "/sustainment/{id}?add_type={}&add_quantity=5000",
                bottleneck.type_code
            )))
            .send()
            .await
            .expect("page");
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("html");
        assert!(html.contains(word), "{language}");
        assert!(html.contains("id=\"sustainment-chart\""));
        assert!(html.contains("<polygon class=\"band\""));
        assert!(html.contains("class=\"adjusted\""), "the what-if is drawn");
        assert!(html.contains("id=\"adjusted-days\""));
        let list = common::page_text(&client, &app, "/sustainment").await;
        assert!(list.contains("抗洪保障"));
    }

    // Deleting from the report page needs the box ticked; then the list no longer has it.
    let (client, csrf) = app.signed_in("office", "zh-CN").await;
    let report = common::page_text(&client, &app, &format!("/sustainment/{id}")).await;
    assert!(report.contains("id=\"delete-scenario\""), "{report}");
    let unconfirmed = client
        .post(app.url(&format!("/sustainment/{id}/delete")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(unconfirmed.status(), StatusCode::BAD_REQUEST);
    assert!(
        unconfirmed
            .text()
            .await
            .expect("html")
            .contains("请勾选确认框")
    );
    let deleted = client
        .post(app.url(&format!("/sustainment/{id}/delete")))
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .expect("post");
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    let list = common::page_text(&client, &app, "/sustainment").await;
    assert!(!list.contains("抗洪保障"), "{list}");
    let (status, _) = get(
        &app,
        Some(&w.office),
        &format!("/api/v1/sustainment/scenarios/{id}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // And through the API.
    let (status, scenario) = post(
        &app,
        &w.office,
        "/api/v1/sustainment/scenarios",
        json!({ "name": "第二个情景", "region_code": county_code, "document": self::document() }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{scenario}");
    let second = scenario["id"].as_i64().expect("id");
    let deleted = reqwest::Client::new()
        .delete(app.url(&format!("/api/v1/sustainment/scenarios/{second}")))
        .bearer_auth(&w.office)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, _) = get(
        &app,
        Some(&w.office),
        &format!("/api/v1/sustainment/scenarios/{second}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

on_both!(
    requisition_refusals_in_chinese,
    spawn_demo,
    chinese_refusals_story
);
/// The requisition pages say their refusals in Chinese on the Chinese pages: an exempt item
/// and an unreadable item line on the drafting form, a step out of order, a time the form
/// cannot read and a link valid too long on an order's page; the English page keeps the
/// English.
async fn chinese_refusals_story(app: TestApp) {
    let w = world(&app).await;
    let (client, csrf) = app.signed_in("office", "zh-CN").await;
    let draft = |items: String| {
        vec![
            ("csrf", csrf.clone()),
            ("legal_basis", "国防动员法第五十四条".to_owned()),
            ("holder_category", String::new()),
            ("items", items),
        ]
    };

    // The exempt bus: storage's refusal, in Chinese, still naming the rule.
    let refused = client
        .post(app.url("/requisitions"))
        .form(&draft(format!("{}, 1, 300000, 800", w.bus)))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("html");
    assert!(
        html.contains(&format!("物项 {} 依规免予征用", w.bus))
            && html.contains("disabled_adapted_vehicle"),
        "{html}"
    );
    assert!(!html.contains("is exempt"), "{html}");

    // An item line the form cannot read: the form's own refusal, in Chinese.
    let refused = client
        .post(app.url("/requisitions"))
        .form(&draft("卡车, 1, 300000".to_owned()))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("html");
    assert!(html.contains("记录编号：应为整数"), "{html}");

    // A drafted order: a handover before the notice is refused on its page, in Chinese.
    let (status, drafted) = post(
        &app,
        &w.office,
        "/api/v1/requisitions",
        order(vec![line(w.truck, 1)]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{drafted}");
    let id = drafted["id"].as_i64().expect("id");
    let act = |kind: &str, at: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("kind", kind.to_owned()),
            ("at", at.to_owned()),
        ]
    };
    let refused = client
        .post(app.url(&format!("/requisitions/{id}/events")))
        .form(&act("hand_over", ""))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("html");
    assert!(
        html.contains("不能对已拟定的征用令执行“交付”：请先通知持有人"),
        "{html}"
    );
    assert!(!html.contains("notify the holder first"), "{html}");
    // A time the form cannot read.
    let refused = client
        .post(app.url(&format!("/requisitions/{id}/events")))
        .form(&act("notify", "明天上午"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("html");
    assert!(html.contains("应为 YYYY-MM-DD HH:MM（UTC）"), "{html}");
    // A notice link valid for longer than a year.
    let refused = client
        .post(app.url(&format!("/requisitions/{id}/link")))
        .form(&[("csrf", csrf.as_str()), ("valid_days", "400")])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("html");
    assert!(html.contains("有效天数应为 1 至 365 天"), "{html}");

    // The English page says the same refusal in English.
    let (english, english_csrf) = app.signed_in("office", "en").await;
    let refused = english
        .post(app.url(&format!("/requisitions/{id}/events")))
        .form(&[
            ("csrf", english_csrf.as_str()),
            ("kind", "hand_over"),
            ("at", ""),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("html");
    assert!(html.contains("notify the holder first"), "{html}");
    app.stop().await;
}

/// The CSV link the page shows (after `after`, e.g. `id="use-log-exports"`, or the first),
/// without its `format=csv`: the path to download.
fn export_path(html: &str, after: &str) -> String {
    let html = &html[html
        .find(after)
        .unwrap_or_else(|| panic!("{after} in {html}"))..];
    let marker = "class=\"export-csv\" href=\"";
    let start = html.find(marker).expect("a CSV link") + marker.len();
    let href = unescape(html[start..].split('"').next().expect("an href"));
    href.strip_suffix("&format=csv")
        .or_else(|| href.strip_suffix("?format=csv"))
        .unwrap_or_else(|| panic!("a CSV link: {href}"))
        .to_owned()
}

async fn page(client: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let response = client.get(app.url(path)).send().await.expect("page");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.expect("html")
}

on_both!(
    requisition_tables_download_as_shown,
    spawn_demo,
    requisition_downloads_story
);
/// The list of orders and an order's items, use log and compensation download as CSV and
/// XLSX with the page's headers (in Chinese for a Chinese reader) and rows, the amounts as
/// numbers equal to the domain's assessment; the list's status filter and its scope hold
/// (an enterprise downloads only its own orders); a table the page lacks is refused.
async fn requisition_downloads_story(app: TestApp) {
    let w = world(&app).await;
    let (status, drafted) = post(
        &app,
        &w.office,
        "/api/v1/requisitions",
        order(vec![line(w.truck, 2)]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{drafted}");
    let id = drafted["id"].as_i64().expect("id");
    let events = format!("/api/v1/requisitions/{id}/events");
    for body in [
        json!({ "kind": "notify", "at": at_day(0) }),
        json!({ "kind": "hand_over", "at": at_day(1) }),
        json!({ "kind": "record_use", "at": at_day(2), "hours": 9, "kilometres": 300, "note": "运送物资" }),
        json!({ "kind": "record_use", "at": at_day(3), "note": "待命" }),
        json!({ "kind": "return", "at": at_day(6), "conditions": ["damaged"] }),
        json!({ "kind": "assess" }),
    ] {
        let (status, body) = post(&app, &w.office, &events, body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // A second order, of a citizen's car, still drafted.
    let (status, second) = post(
        &app,
        &w.office,
        "/api/v1/requisitions",
        order(vec![line(w.car, 1)]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second = second["id"].as_i64().expect("id");
    let expected = truck_compensation(&w);
    let yuan = |fen: i64| (fen as f64 / 100.0).to_string();

    let (office, _) = app.signed_in("office", "zh-CN").await;
    // The list: both orders, the assessed one with its total.
    let list = page(&office, &app, "/requisitions").await;
    assert_eq!(export_path(&list, "class=\"exports\""), "/requisitions");
    let sheets = common::download_both(&office, &app, "/requisitions").await;
    let orders = &sheets[0];
    assert_same_table("orders", &page_table(&list, "requisitions"), orders);
    assert_eq!(orders[0][..2], ["编号", "持有人"], "{orders:?}");
    let assessed = orders
        .iter()
        .find(|row| row[0] == id.to_string())
        .expect("the order is listed");
    assert_eq!(assessed[3], "补偿已核定", "{assessed:?}");
    assert_eq!(assessed[4], yuan(expected.total_fen), "{assessed:?}");
    let drafted_row = orders
        .iter()
        .find(|row| row[0] == second.to_string())
        .expect("the draft is listed");
    assert_eq!(drafted_row[4], "", "no compensation yet: {drafted_row:?}");
    // Filtered by status: the link keeps the filter, the download only the drafts.
    let list = page(&office, &app, "/requisitions?status=drafted").await;
    let filtered = export_path(&list, "class=\"exports\"");
    assert_eq!(filtered, "/requisitions?status=drafted");
    let sheets = common::download_both(&office, &app, &filtered).await;
    assert_same_table("drafts", &page_table(&list, "requisitions"), &sheets[0]);
    let ids: Vec<&str> = sheets[0][1..].iter().map(|row| row[0].as_str()).collect();
    assert!(ids.contains(&second.to_string().as_str()), "{ids:?}");
    assert!(!ids.contains(&id.to_string().as_str()), "{ids:?}");

    // The order's tables.
    let path = format!("/requisitions/{id}");
    let detail = page(&office, &app, &path).await;
    let items_path = export_path(&detail, "id=\"items-exports\"");
    assert_eq!(items_path, format!("{path}?table=items"));
    let sheets = common::download_both(&office, &app, &items_path).await;
    let items = &sheets[0];
    assert_same_table("items", &page_table(&detail, "requisition-items"), items);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(
        items[1],
        [
            w.truck.to_string().as_str(),
            TRUCK,
            "2",
            "400000",
            "1500",
            "损坏"
        ],
        "{items:?}"
    );

    let use_path = export_path(&detail, "id=\"use-log-exports\"");
    assert_eq!(use_path, format!("{path}?table=use-log"));
    let sheets = common::download_both(&office, &app, &use_path).await;
    let use_log = &sheets[0];
    assert_same_table("use log", &page_table(&detail, "use-log"), use_log);
    assert_eq!(use_log[0], ["日期", "小时", "公里", "说明"]);
    assert_eq!(use_log.len(), 3, "{use_log:?}");
    assert_eq!(use_log[1][1..], ["9", "300", "运送物资"], "{use_log:?}");
    assert_eq!(use_log[2][1..], ["", "", "待命"], "{use_log:?}");

    let compensation_path = export_path(&detail, "id=\"compensation-exports\"");
    let sheets = common::download_both(&office, &app, &compensation_path).await;
    let compensation = &sheets[0];
    assert_eq!(
        compensation[0],
        [
            "记录",
            "数量",
            "天数",
            "日费率（元）",
            "使用费",
            "价值",
            "损耗",
            "损耗 %",
            "受价值限制",
            "损坏",
            "归还状况",
            "损坏 %",
            "小计"
        ]
    );
    let term = &expected.items[0];
    let row = &compensation[1];
    assert_eq!(compensation.len(), 2, "{compensation:?}");
    assert_eq!(
        row[..3],
        [w.truck.to_string().as_str(), "2", "5"],
        "{row:?}"
    );
    assert_eq!(row[4], yuan(term.use_fen), "{row:?}");
    assert_eq!(row[6], yuan(term.wear_fen), "{row:?}");
    assert_eq!(row[9], yuan(term.damage_fen), "{row:?}");
    assert_eq!(row[10], "损坏", "{row:?}");
    assert_eq!(row[12], yuan(term.total_fen), "{row:?}");
    // The page's row says the same, with the percentages in brackets.
    let page_compensation = page_table(&detail, "compensation");
    assert_eq!(page_compensation.len(), 2, "{page_compensation:?}");
    let shown = &page_compensation[1];
    for (page_column, sheet_column) in [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (8, 12)] {
        assert!(
            same_cell(&shown[page_column], &row[sheet_column]),
            "{shown:?}\n{row:?}"
        );
    }
    let (wear, wear_note) = shown[6].split_once(" (").expect("wear and its note");
    assert!(same_cell(wear, &row[6]), "{shown:?}\n{row:?}");
    let wear_percent = wear_note.split(" %").next().expect("a percentage");
    assert!(same_cell(wear_percent, &row[7]), "{shown:?}\n{row:?}");
    assert_eq!(wear_note.contains("受价值限制"), !row[8].is_empty());
    let (damage, damage_note) = shown[7].split_once(" (").expect("damage and its note");
    assert!(same_cell(damage, &row[9]), "{shown:?}\n{row:?}");
    let (condition, damage_percent) = damage_note.split_once(", ").expect("a condition");
    assert_eq!(condition, row[10]);
    assert!(
        same_cell(damage_percent.trim_end_matches(" %)"), &row[11]),
        "{shown:?}\n{row:?}"
    );

    // The printable notice has no download links; the notice its holder opens through a
    // link has them, and they download the same tables without signing in.
    let printable = page(&office, &app, &format!("{path}/notice")).await;
    assert!(!printable.contains("class=\"exports\""), "{printable}");
    let (status, link) = post(
        &app,
        &w.office,
        &format!("/api/v1/requisitions/{id}/links"),
        json!({ "valid_days": 3 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let link = link["path"].as_str().expect("path").to_owned();
    let visitor = reqwest::Client::new();
    let notice = page(&visitor, &app, &link).await;
    let by_link = export_path(&notice, "id=\"compensation-exports\"");
    assert_eq!(by_link, format!("{link}?table=compensation"));
    let sheets = common::download_both(&visitor, &app, &by_link).await;
    assert_eq!(&sheets[0], compensation);
    let sheets = common::download_both(
        &visitor,
        &app,
        &export_path(&notice, "id=\"items-exports\""),
    )
    .await;
    assert_eq!(&sheets[0], items);

    // A table the page does not have is refused.
    let response = office
        .get(app.url(&format!("{path}?table=history&format=xlsx")))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // The holder's account downloads its own order (not the citizen's); the other
    // enterprise none.
    let (haulage, _) = app.signed_in("haulage", "en").await;
    let sheets = common::download_both(&haulage, &app, "/requisitions").await;
    let own: Vec<&str> = sheets[0][1..].iter().map(|row| row[0].as_str()).collect();
    assert_eq!(own, [id.to_string().as_str()]);
    assert_eq!(sheets[0][0][..2], ["No.", "Holder"]);
    let (freight, _) = app.signed_in("freight", "en").await;
    let sheets = common::download_both(&freight, &app, "/requisitions").await;
    assert_eq!(sheets[0].len(), 1, "only the headers: {:?}", sheets[0]);
    let response = freight
        .get(app.url(&format!("{path}?table=items&format=csv")))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

on_both!(
    sustainment_tables_download_as_shown,
    spawn_demo,
    sustainment_downloads_story
);
/// The scenarios and a run's table of types (with a what-if's column) download as CSV and
/// XLSX with the page's headers and rows; another county's office does not get the
/// scenario in its download.
async fn sustainment_downloads_story(app: TestApp) {
    let w = world(&app).await;
    let county_code = w.county_a.region_code.clone().expect("code");
    let (status, scenario) = post(
        &app,
        &w.office,
        "/api/v1/sustainment/scenarios",
        json!({ "name": "抗洪保障", "region_code": county_code, "document": document() }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{scenario}");
    let id = scenario["id"].as_i64().expect("id");

    let (office, _) = app.signed_in("office", "zh-CN").await;
    let list = page(&office, &app, "/sustainment").await;
    assert_eq!(export_path(&list, "class=\"exports\""), "/sustainment");
    let sheets = common::download_both(&office, &app, "/sustainment").await;
    let scenarios = &sheets[0];
    assert_same_table("scenarios", &page_table(&list, "scenarios"), scenarios);
    assert_eq!(
        scenarios[0],
        ["情景", "地区", "资源类型", "测算天数", "更新时间"]
    );
    let row = scenarios
        .iter()
        .find(|row| row[0] == "抗洪保障")
        .expect("the scenario is listed");
    assert_eq!(row[1], w.county_a.region_path);
    assert_eq!(row[2..4], ["2", "60"], "{row:?}");

    // The run with a what-if: the link carries it, and the download has its column.
    let what_if = format!("/sustainment/{id}?add_type={TENT}&add_quantity=5000");
    let report = page(&office, &app, &what_if).await;
    let export = export_path(&report, "class=\"exports\"");
    assert_eq!(export, what_if);
    let sheets = common::download_both(&office, &app, &export).await;
    let types = &sheets[0];
    // The page's type column (the name, then the code) is two in the download.
    let joined: Vec<Vec<String>> = types
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let type_cell = if index == 0 {
                row[0].clone()
            } else {
                format!("{} {}", row[0], row[1])
            };
            std::iter::once(type_cell)
                .chain(row[2..].iter().cloned())
                .collect()
        })
        .collect();
    assert_same_table("types", &page_table(&report, "sustainment-types"), &joined);
    assert_eq!(types[0][..3], ["类型", "代码", "已核实"], "{types:?}");
    assert_eq!(types[0].last().map(String::as_str), Some("假设情况下"));
    let codes: Vec<&str> = types[1..].iter().map(|row| row[1].as_str()).collect();
    assert_eq!(codes, [TENT, TRUCK]);
    let tent = &types[1];
    assert_eq!(tent[3], "300", "county A's unverified tents: {tent:?}");
    assert_eq!(tent[5], "20", "{tent:?}");
    // Without the what-if, no such column.
    let plain = common::download_both(&office, &app, &format!("/sustainment/{id}")).await;
    assert_eq!(plain[0][0].len(), types[0].len() - 1, "{:?}", plain[0][0]);

    // County B's office: its list's download lacks the scenario; the run is not found.
    let (county_b, _) = app.signed_in("county_b", "zh-CN").await;
    let sheets = common::download_both(&county_b, &app, "/sustainment").await;
    assert!(
        sheets[0].iter().all(|row| row[0] != "抗洪保障"),
        "{:?}",
        sheets[0]
    );
    let response = county_b
        .get(app.url(&format!("/sustainment/{id}?format=csv")))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
