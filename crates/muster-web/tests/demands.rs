//! Demands over HTTP, on both databases: stating a demand and who may read it, the task
//! meeting, the proposal, two accepts racing for one holding (exactly one 201, the other 409
//! naming the holding), inspection, handover, the OpenAPI document, and the pages in both
//! languages.

mod common;

use common::TestApp;
use muster_storage::blobs::samples::{Format, image_bytes};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TENT: &str = "CAD.MAT.TENT_12";

async fn get_json(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_json(app: &TestApp, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("post");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn now_millis() -> i64 {
    muster_storage::now().as_millis()
}

/// The office's city code and its point.
async fn city(app: &TestApp, office: &str) -> (String, f64, f64) {
    let (_, regions) = get_json(app, office, "/api/v1/regions?level=city&limit=10").await;
    let city = regions
        .as_array()
        .and_then(|r| r.first())
        .expect("the office sees its city")
        .clone();
    (
        city["code"].as_str().expect("code").to_owned(),
        city["lat"].as_f64().unwrap_or(31.8),
        city["lon"].as_f64().unwrap_or(117.2),
    )
}

fn demand_body(
    title: &str,
    city: &(String, f64, f64),
    classification: &str,
    quantity: i64,
) -> Value {
    json!({
        "title": title,
        "origin": "military",
        "classification": classification,
        "region_code": city.0,
        "lines": [{
            "type_code": TENT,
            "quantity": quantity,
            "lat": city.1,
            "lon": city.2,
            "needed_by": now_millis() + 72 * 3_600_000,
            "priority": 1,
        }],
    })
}

on_both!(demands_through_the_api, spawn_demo, api_story);
async fn api_story(app: TestApp) {
    app.seed_records().await;
    let office = app.token_for("office").await;
    let liaison = app.token_for("liaison").await;
    let viewer = app.token_for("viewer").await;
    let city = city(&app, &office).await;

    // The viewer may not state a demand; a bad line is named.
    let (status, problem) = post_json(
        &app,
        &viewer,
        "/api/v1/demands",
        &demand_body("x", &city, "internal", 5),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, problem) = post_json(
        &app,
        &liaison,
        "/api/v1/demands",
        &demand_body("x", &city, "internal", 0),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("quantity"),
        "{problem}"
    );

    // A confidential demand: the liaison sees it, the office (no classified data) does not.
    let (status, secret) = post_json(
        &app,
        &liaison,
        "/api/v1/demands",
        &demand_body("保密需求", &city, "confidential", 5),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{secret}");
    let secret_id = secret["id"].as_i64().expect("id");
    let path = format!("/api/v1/demands/{secret_id}");
    assert_eq!(get_json(&app, &liaison, &path).await.0, StatusCode::OK);
    assert_eq!(
        get_json(&app, &office, &path).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, listed) = get_json(&app, &office, "/api/v1/demands").await;
    assert!(
        listed
            .as_array()
            .expect("list")
            .iter()
            .all(|d| d["id"] != secret_id)
    );

    // Two internal demands for the same tents.
    let mut demands = Vec::new();
    for title in ["甲", "乙"] {
        let (status, created) = post_json(
            &app,
            &liaison,
            "/api/v1/demands",
            &demand_body(title, &city, "internal", 3),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["status"], "received");
        let id = created["id"].as_i64().expect("id");
        let (status, analysed) = post_json(
            &app,
            &liaison,
            &format!("/api/v1/demands/{id}/meetings"),
            &json!({
                "held_at": created["received_at"],
                "attendees": [
                    {"name": "李强", "organization": "军分区", "side": "military"},
                    {"name": "王芳", "organization": "市动员办", "side": "civil"},
                ],
                "decisions": ["就近调配帐篷"],
            }),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{analysed}");
        assert_eq!(analysed["status"], "analysed");
        demands.push((id, created["lines"][0]["id"].as_i64().expect("line id")));
    }

    // The proposal serves or names the shortfall of every unit.
    let (status, proposal) = get_json(
        &app,
        &office,
        &format!("/api/v1/demands/{}/proposal", demands[0].0),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{proposal}");
    let line = &proposal["lines"][0];
    assert_eq!(
        line["served"].as_i64().expect("served") + line["shortfall"].as_i64().expect("short"),
        3
    );
    let first = proposal["assignments"][0].clone();
    let record_id = first["record_id"].as_i64().expect("a holding is proposed");
    let available = first["available"].as_i64().expect("available").min(3);

    // Both demands accept that holding's whole offer at the same time: one wins.
    let accept = |(demand_id, line_id): (i64, i64)| {
        let client = reqwest::Client::new();
        let url = app.url(&format!("/api/v1/demands/{demand_id}/allocation"));
        let token = office.clone();
        async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"assignments": [
                    {"line_id": line_id, "record_id": record_id, "quantity": available}
                ]}))
                .send()
                .await
                .expect("accept");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (a, b) = tokio::join!(accept(demands[0]), accept(demands[1]));
    let statuses = [a.0, b.0];
    assert!(
        statuses.contains(&StatusCode::CREATED) && statuses.contains(&StatusCode::CONFLICT),
        "{a:?} {b:?}"
    );
    let (winner, loser_problem) = if a.0 == StatusCode::CREATED {
        (demands[0].0, b.1)
    } else {
        (demands[1].0, a.1)
    };
    assert!(
        loser_problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains(&record_id.to_string()),
        "{loser_problem}"
    );

    // Inspection: photos are the inspector's own finished uploads, named by upload id.
    // A hash (of another's photo, say) or someone else's upload is refused, and so is the
    // old field that took hashes; the office's own upload is taken.
    let (_, view) = get_json(&app, &office, &format!("/api/v1/demands/{winner}")).await;
    let allocation_id = view["allocations"][0]["id"].as_i64().expect("allocation");
    let inspection = |field: &str, photos: Value| {
        json!({
            "allocation_id": allocation_id,
            "condition": "good",
            "quantity_seen": available,
            "quantity_accepted": available,
            field: photos,
        })
    };
    let photo = image_bytes(320, 240, Format::Jpeg);
    let liaisons_upload = common::upload(&app, &liaison, &photo).await;
    let sha = hex::encode(Sha256::digest(&photo));
    for (field, photos) in [
        ("photo_uploads", json!([sha.clone()])),
        ("photo_uploads", json!([liaisons_upload])),
        ("photos", json!([sha.clone()])),
    ] {
        let (status, problem) = post_json(
            &app,
            &office,
            &format!("/api/v1/demands/{winner}/inspections"),
            &inspection(field, photos),
        )
        .await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {status} {problem}"
        );
    }
    let own_upload = common::upload(&app, &office, &photo).await;
    let (status, inspected) = post_json(
        &app,
        &office,
        &format!("/api/v1/demands/{winner}/inspections"),
        &inspection("photo_uploads", json!([own_upload])),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{inspected}");
    assert_eq!(
        inspected["inspections"][0]["photos"],
        json!([sha]),
        "{inspected}"
    );

    // Handover signed by both sides.
    let now = now_millis();
    let (status, handed) = post_json(
        &app,
        &liaison,
        &format!("/api/v1/demands/{winner}/handovers"),
        &json!({
            "items": [{"allocation_id": allocation_id, "quantity": available}],
            "handed_at": now,
            "supplier_signatory": "王芳",
            "supplier_signed_at": now,
            "receiver_signatory": "李强",
            "receiver_signed_at": now,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{handed}");
    assert_eq!(handed["lines"][0]["handed_over"], available);
    assert_eq!(handed["handovers"][0]["receiver_signatory"], "李强");

    // The API is documented.
    let (status, openapi) = get_json(&app, &office, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/demands",
        "/demands/{id}/proposal",
        "/demands/{id}/allocation",
        "/demands/{id}/handovers",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} documented");
    }
}

on_both!(
    demand_pages_show_the_proposal_and_accept_it,
    spawn_demo,
    pages_story
);
async fn pages_story(app: TestApp) {
    app.seed_records().await;
    let office = app.token_for("office").await;
    let liaison = app.token_for("liaison").await;
    let city = city(&app, &office).await;
    let (status, created) = post_json(
        &app,
        &liaison,
        "/api/v1/demands",
        &demand_body("帐篷需求", &city, "internal", 3),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().expect("id");
    let meeting = json!({
        "held_at": created["received_at"],
        "attendees": [
            {"name": "李强", "organization": "军分区", "side": "military"},
            {"name": "王芳", "organization": "市动员办", "side": "civil"},
        ],
        "decisions": ["就近调配帐篷"],
    });
    let (status, _) = post_json(
        &app,
        &liaison,
        &format!("/api/v1/demands/{id}/meetings"),
        &meeting,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (browser, csrf) = app.signed_in("office", "zh-CN").await;
    let list = common::page_text(&browser, &app, "/demands").await;
    assert!(list.contains("帐篷需求"), "{list}");
    let detail = common::page_text(&browser, &app, &format!("/demands/{id}")).await;
    assert!(
        detail.contains("id=\"proposal\"") && detail.contains("class=\"assignment\""),
        "{detail}"
    );
    assert!(detail.contains("id=\"accept-allocation\""), "{detail}");
    let accepted = browser
        .post(app.url(&format!("/demands/{id}/accept")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("accept");
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    let (_, stored) = get_json(&app, &office, &format!("/api/v1/demands/{id}")).await;
    let allocated: i64 = stored["lines"].as_array().map_or(0, |l| {
        l.iter().filter_map(|l| l["allocated"].as_i64()).sum()
    });
    assert!(allocated > 0, "{stored}");
    let detail = common::page_text(&browser, &app, &format!("/demands/{id}")).await;
    assert!(detail.contains("class=\"allocations\""), "{detail}");
    app.stop().await;
}
