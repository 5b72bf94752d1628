//! The transport, compensation and stale period settings over HTTP, on both databases: read
//! by anyone signed in, replaced by an administrator only, refused by field (API and form,
//! the form keeping what was typed), and the page in both languages.

mod common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn settings_api_story(app: TestApp) {
    let admin = app.token_for("admin").await;
    let office = app.token_for("office").await;
    let get = reqwest::Method::GET;
    let put = reqwest::Method::PUT;

    // The defaults, read by anyone signed in.
    let (status, transport) = send(
        &app,
        get.clone(),
        &office,
        "/api/v1/settings/transport",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(transport["road_factor"], json!(1.3));
    assert_eq!(transport["speed_km_per_hour"], json!(60.0));
    let (status, compensation) = send(
        &app,
        get.clone(),
        &office,
        "/api/v1/settings/compensation",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(compensation["wear_basis_points_per_day"], json!(20));
    assert_eq!(compensation["daily_rates_fen"], json!({}));

    // Only an administrator replaces them.
    let wanted = json!({
        "road_factor": 1.6,
        "speed_km_per_hour": 45.0,
        "default_cost_per_unit_km": 2.5,
        "cost_per_unit_km_by_type": { "TRN.ROAD.TRUCK_HEAVY": 4.0 }
    });
    let (status, _) = send(
        &app,
        put.clone(),
        &office,
        "/api/v1/settings/transport",
        Some(wanted.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Refused by field.
    let mut bad = wanted.clone();
    bad["speed_km_per_hour"] = json!(0);
    let (status, problem) = send(
        &app,
        put.clone(),
        &admin,
        "/api/v1/settings/transport",
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "speed_km_per_hour", "{problem}");
    assert!(
        problem["detail"].as_str().unwrap_or("").contains("km/h"),
        "{problem}"
    );
    let mut bad = wanted.clone();
    bad["cost_per_unit_km_by_type"] = json!({ "NO.SUCH": 1.0 });
    let (status, problem) = send(
        &app,
        put.clone(),
        &admin,
        "/api/v1/settings/transport",
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "cost_per_unit_km_by_type", "{problem}");

    let (status, saved) = send(
        &app,
        put.clone(),
        &admin,
        "/api/v1/settings/transport",
        Some(wanted.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, read) = send(
        &app,
        get.clone(),
        &office,
        "/api/v1/settings/transport",
        None,
    )
    .await;
    assert_eq!(read, wanted);

    let (status, problem) = send(
        &app,
        put.clone(),
        &admin,
        "/api/v1/settings/compensation",
        Some(json!({
            "wear_basis_points_per_day": 30,
            "wear_cap_basis_points": 2500,
            "worn_basis_points": 900,
            "damaged_basis_points": 800,
            "daily_rates_fen": {}
        })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "damaged_basis_points", "{problem}");
    let compensation = json!({
        "wear_basis_points_per_day": 30,
        "wear_cap_basis_points": 2500,
        "worn_basis_points": 600,
        "damaged_basis_points": 3500,
        "daily_rates_fen": { "TRN.ROAD": 60000, "transportation": 40000 }
    });
    let (status, saved) = send(
        &app,
        put.clone(),
        &admin,
        "/api/v1/settings/compensation",
        Some(compensation.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, read) = send(&app, get, &office, "/api/v1/settings/compensation", None).await;
    assert_eq!(read, compensation);

    // Both changes are in the audit log (installation-wide, at the root of the regions).
    let audit = app
        .db
        .audit_entries(&muster_domain::Scope::everything(), 5)
        .await
        .expect("audit");
    let settings: Vec<&str> = audit
        .iter()
        .filter(|e| e.entity == "setting")
        .map(|e| e.entity_id.as_str())
        .collect();
    assert_eq!(
        settings,
        vec!["requisition.compensation", "allocation.transport"]
    );
    app.stop().await;
}

on_both!(settings_over_http, spawn_demo, settings_api_story);

async fn settings_page_story(app: TestApp) {
    let (admin, csrf) = app.signed_in("admin", "en").await;
    let page = admin.get(app.url("/settings")).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("text");
    assert!(
        html.contains("id=\"save-transport\""),
        "an administrator edits"
    );
    assert!(
        html.contains("value=\"1.3\""),
        "the default road factor is shown"
    );

    // Not a number: refused naming the field, what was typed kept.
    let form = |road_factor: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("road_factor", road_factor.to_owned()),
            ("speed_km_per_hour", "50".to_owned()),
            ("default_cost_per_unit_km", "3".to_owned()),
            (
                "cost_per_unit_km_by_type",
                "TRN.ROAD.TRUCK_HEAVY, 4.5".to_owned(),
            ),
        ]
    };
    let refused = admin
        .post(app.url("/settings/transport"))
        .form(&form("one point five"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("data-field=\"road_factor\""), "{html}");
    assert!(html.contains("expected a number"), "{html}");
    assert!(html.contains("value=\"one point five\""), "input kept");
    assert!(html.contains("TRN.ROAD.TRUCK_HEAVY, 4.5"), "input kept");
    // Out of range: the domain's refusal, on its field.
    let refused = admin
        .post(app.url("/settings/transport"))
        .form(&form("20"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("data-field=\"road_factor\""), "{html}");
    assert!(html.contains("from 1 to 10"), "{html}");
    assert!(html.contains("value=\"20\""), "input kept");

    let saved = admin
        .post(app.url("/settings/transport"))
        .form(&form("1.5"))
        .send()
        .await
        .expect("post");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let html = common::page_text(&admin, &app, "/settings?saved=transport").await;
    assert!(html.contains("value=\"1.5\""), "{html}");
    assert!(html.contains("TRN.ROAD.TRUCK_HEAVY, 4.5"), "{html}");

    // The compensation form: percentages and yuan.
    let compensation = |damaged: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("wear_percent_per_day", "0.3".to_owned()),
            ("wear_cap_percent", "25".to_owned()),
            ("worn_percent", "6".to_owned()),
            ("damaged_percent", damaged.to_owned()),
            (
                "daily_rates",
                "TRN.ROAD, 600\ntransportation, 400.50".to_owned(),
            ),
        ]
    };
    let refused = admin
        .post(app.url("/settings/compensation"))
        .form(&compensation("5"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("data-field=\"damaged_percent\""), "{html}");
    assert!(html.contains("value=\"5\""), "input kept");
    let saved = admin
        .post(app.url("/settings/compensation"))
        .form(&compensation("35"))
        .send()
        .await
        .expect("post");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let token = app.token_for("office").await;
    let read: Value = reqwest::Client::new()
        .get(app.url("/api/v1/settings/compensation"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(read["wear_basis_points_per_day"], json!(30));
    assert_eq!(read["damaged_basis_points"], json!(3500));
    assert_eq!(read["daily_rates_fen"]["transportation"], json!(40050));

    // Office staff read the page without the forms' buttons, and may not post.
    for language in ["en", "zh-CN"] {
        let (office, _) = app.signed_in("office", language).await;
        let page = office.get(app.url("/settings")).send().await.expect("get");
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("text");
        assert!(!html.contains("id=\"save-transport\""), "{html}");
        assert!(html.contains("value=\"1.5\""));
        if language == "zh-CN" {
            assert!(html.contains("道路系数"), "{html}");
        }
    }
    let (office, office_csrf) = app.signed_in("office", "en").await;
    let mut forbidden = form("1.2");
    forbidden[0].1 = office_csrf;
    let refused = office
        .post(app.url("/settings/transport"))
        .form(&forbidden)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

on_both!(settings_pages, spawn_demo, settings_page_story);

/// The settings forms on the Chinese page say their refusals in Chinese, each beside its
/// field: the form's own (not a number, a line it cannot read) and storage's (a road factor
/// out of range, damage below wear).
async fn settings_chinese_story(app: TestApp) {
    let (admin, csrf) = app.signed_in("admin", "zh-CN").await;
    let transport = |road_factor: &str, by_type: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("road_factor", road_factor.to_owned()),
            ("speed_km_per_hour", "50".to_owned()),
            ("default_cost_per_unit_km", "3".to_owned()),
            ("cost_per_unit_km_by_type", by_type.to_owned()),
        ]
    };
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let admin = admin.clone();
        let url = app.url(path);
        async move {
            let response = admin.post(url).form(&form).send().await.expect("post");
            let status = response.status();
            (status, response.text().await.expect("text"))
        }
    };

    // The form's own refusals.
    let (status, html) = post(
        "/settings/transport",
        transport("一点五", "TRN.ROAD.TRUCK_HEAVY 4.5"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("data-field=\"road_factor\""), "{html}");
    assert!(html.contains("：应为数字"), "{html}");
    assert!(html.contains("第 1 行："), "{html}");
    assert!(!html.contains("expected a number"), "{html}");

    // Storage's refusal: out of range, in Chinese, on its field.
    let (status, html) = post(
        "/settings/transport",
        transport("20", "TRN.ROAD.TRUCK_HEAVY, 4.5"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("data-field=\"road_factor\""), "{html}");
    assert!(
        html.contains("道路系数（道路公里/大圆公里）应为 1 至 10，实为 20"),
        "{html}"
    );
    assert!(!html.contains("from 1 to 10"), "{html}");

    // Damage below wear: the compensation form, in Chinese.
    let compensation = vec![
        ("csrf", csrf.clone()),
        ("wear_percent_per_day", "0.3".to_owned()),
        ("wear_cap_percent", "25".to_owned()),
        ("worn_percent", "6".to_owned()),
        ("damaged_percent", "5".to_owned()),
        ("daily_rates", "TRN.ROAD, 600".to_owned()),
    ];
    let (status, html) = post("/settings/compensation", compensation).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("data-field=\"damaged_percent\""), "{html}");
    assert!(
        html.contains("损坏比例（500）不得低于磨损比例（600）"),
        "{html}"
    );
    app.stop().await;
}

on_both!(
    settings_refusals_in_chinese,
    spawn_demo,
    settings_chinese_story
);

/// The stale period on the settings page: an administrator of the whole installation sets
/// it (audited, then in force on the freshness page and in the API); a period out of range
/// or not a number is refused beside its field in the reader's language; office staff read
/// it without a button and may not post it.
async fn stale_period_story(app: TestApp) {
    let (admin, csrf) = app.signed_in("admin", "en").await;
    let html = common::page_text(&admin, &app, "/settings").await;
    assert!(html.contains("id=\"save-verification\""), "{html}");
    assert!(
        html.contains("name=\"stale_after_days\" value=\"365\""),
        "the default: {html}"
    );
    let post = |client: &reqwest::Client, csrf: &str, days: &str| {
        client
            .post(app.url("/settings/verification"))
            .form(&[("csrf", csrf), ("stale_after_days", days)])
            .send()
    };

    // Out of range: storage's refusal on its field, what was typed kept.
    let refused = post(&admin, &csrf, "0").await.expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("data-field=\"stale_after_days\""), "{html}");
    assert!(html.contains("a stale period is 1 to 3650 days"), "{html}");
    assert!(html.contains("value=\"0\""), "input kept");
    // Not a whole number: the form's own refusal.
    let refused = post(&admin, &csrf, "ninety").await.expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("expected a whole number of days"), "{html}");

    let saved = post(&admin, &csrf, " 90 ").await.expect("post");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(saved.headers()["location"], "/settings?saved=verification");
    let html = common::page_text(&admin, &app, "/settings?saved=verification").await;
    assert!(html.contains("The stale period is saved"), "{html}");
    assert!(
        html.contains("name=\"stale_after_days\" value=\"90\""),
        "{html}"
    );
    // In force: the freshness page counts by it, and the API reads it.
    let html = common::page_text(&admin, &app, "/verification/freshness").await;
    assert!(
        html.contains("name=\"stale_after_days\" value=\"90\""),
        "{html}"
    );
    let office_token = app.token_for("office").await;
    let (status, settings) = send(
        &app,
        reqwest::Method::GET,
        &office_token,
        "/api/v1/verification/settings",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["stale_after_days"], json!(90));
    let audit = app
        .db
        .audit_entries(&muster_domain::Scope::everything(), 5)
        .await
        .expect("audit");
    let entry = audit
        .iter()
        .find(|e| e.entity == "setting" && e.entity_id == muster_storage::STALE_AFTER_SETTING)
        .expect("audited");
    assert_eq!(entry.actor, "admin");
    assert_eq!(entry.before.as_deref(), Some("365"));
    assert_eq!(entry.after.as_deref(), Some("90"));

    // The refusal on a Chinese page, in Chinese.
    let (chinese, chinese_csrf) = app.signed_in("admin", "zh-CN").await;
    let refused = post(&chinese, &chinese_csrf, "4000").await.expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("过期天数应为 1 至 3650 天"), "{html}");
    assert!(!html.contains("a stale period is"), "{html}");

    // Office staff see the period without a button, and may not post it.
    let (office, office_csrf) = app.signed_in("office", "en").await;
    let html = common::page_text(&office, &app, "/settings").await;
    assert!(!html.contains("id=\"save-verification\""), "{html}");
    assert!(
        html.contains("name=\"stale_after_days\" value=\"90\""),
        "{html}"
    );
    let forbidden = post(&office, &office_csrf, "30").await.expect("post");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let (_, settings) = send(
        &app,
        reqwest::Method::GET,
        &office_token,
        "/api/v1/verification/settings",
        None,
    )
    .await;
    assert_eq!(
        settings["stale_after_days"],
        json!(90),
        "nothing refused was stored"
    );
    app.stop().await;
}

on_both!(
    stale_period_on_the_settings_page,
    spawn_demo,
    stale_period_story
);
