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

// ---------------------------------------------------------------- table downloads

/// The text of an HTML fragment: tags taken out, the escapes askama writes undone, spaces
/// trimmed.
fn html_text(fragment: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in fragment.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// The first table of `html` whose opening tag starts with `opening` (e.g. `<table
/// class="children"`), as rows of cell texts, headers first, without the columns whose
/// header is empty (a page's buttons and links, which no download holds).
fn html_table(html: &str, opening: &str) -> Vec<Vec<String>> {
    let start = html.find(opening).expect("the table is on the page");
    let table = &html[start..];
    let table = &table[..table.find("</table>").expect("the table ends")];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for row in table.split("<tr").skip(1) {
        let mut cells = Vec::new();
        let mut rest = row;
        loop {
            let next = [rest.find("<td"), rest.find("<th")]
                .into_iter()
                .flatten()
                .min();
            let Some(at) = next else { break };
            let after = &rest[at..];
            let open_end = after.find('>').expect("a cell's tag closes") + 1;
            let body = &after[open_end..];
            let close = [body.find("</td>"), body.find("</th>")]
                .into_iter()
                .flatten()
                .min()
                .expect("the cell closes");
            cells.push(html_text(&body[..close]));
            rest = &body[close + 5..];
        }
        rows.push(cells);
    }
    let kept: Vec<usize> = rows
        .first()
        .expect("a header row")
        .iter()
        .enumerate()
        .filter(|(_, header)| !header.is_empty())
        .map(|(index, _)| index)
        .collect();
    rows.into_iter()
        .map(|row| kept.iter().map(|&i| row[i].clone()).collect())
        .collect()
}

/// A page's HTML, with its translation checked: no message key left in it.
async fn translated_page(client: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let html = common::page_text(client, app, path).await;
    for prefix in ["potential.", "taxonomy.", "regions.", "common.", "nav."] {
        assert!(
            !html.contains(prefix),
            "{path} shows a key {prefix}…: {html}"
        );
    }
    html
}

/// A page's table (the first whose opening tag starts with `opening`) and the first sheet of
/// its download, for the test to compare; the page must link the download with `link`.
async fn page_and_download(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    opening: &str,
    link: &str,
) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let html = translated_page(client, app, path).await;
    assert!(
        html.contains(link),
        "{path} links its download {link}: {html}"
    );
    let shown = html_table(&html, opening);
    let download = common::download_both(client, app, path).await;
    let sheet = download.into_iter().next().expect("a sheet");
    (shown, sheet)
}

/// A column of a sheet (headers left out).
fn column(sheet: &[Vec<String>], index: usize) -> Vec<String> {
    sheet.iter().skip(1).map(|row| row[index].clone()).collect()
}

/// Every table of the audit log, organization, user, region, token and region import pages
/// downloads as CSV and XLSX: the page's headers in the reader's language, its rows (all
/// pages of a paged list), nothing the reader's scope keeps from them, and no token secret.
async fn table_downloads_story(app: TestApp) {
    use common::call;
    use reqwest::Method;
    let admin_secret = app.token_for("admin").await;
    let office_secret = app.token_for("office").await;
    let id_of = async |secret: &str| {
        let (_, me) = call(&app, secret, Method::GET, "/api/v1/me", None).await;
        me["user"]["id"].as_i64().expect("id")
    };
    let token_of = async |secret: &str| {
        let (_, tokens) = call(&app, secret, Method::GET, "/api/v1/auth/tokens", None).await;
        tokens[0]["id"].as_i64().expect("a token")
    };
    let (admin_id, office_id) = (id_of(&admin_secret).await, id_of(&office_secret).await);
    let (admin_token, office_token) = (
        token_of(&admin_secret).await,
        token_of(&office_secret).await,
    );
    let (admin, admin_csrf) = app.signed_in("admin", "zh-CN").await;
    let (office, _) = app.signed_in("office", "en").await;

    // Regions: the sub-regions of the top and of the province, by default or by name.
    let (shown, sheet) = page_and_download(
        &admin,
        &app,
        "/regions?table=children",
        "<table class=\"children\"",
        "href=\"/regions?table=children&#38;format=csv\"",
    )
    .await;
    assert_eq!(sheet, shown);
    assert_eq!(sheet[0][0], "名称");
    assert_eq!(column(&sheet, 1), ["34"]);
    let (shown, sheet) = page_and_download(
        &admin,
        &app,
        "/regions/34",
        "<table class=\"children\"",
        "href=\"/regions/34?table=children&#38;format=xlsx\"",
    )
    .await;
    assert_eq!(sheet, shown);
    assert_eq!(
        sheet[0],
        ["名称", "代码", "层级", "直属下级", "全部下级"],
        "the page's headers, in Chinese"
    );
    let cities = column(&sheet, 1);
    assert!(cities.len() >= 2, "{cities:?}");
    assert!(column(&sheet, 2).iter().all(|level| level == "市"));
    // Found by name: the search's table, named by `table=found`.
    let (shown, sheet) = page_and_download(
        &admin,
        &app,
        "/regions/34?q=%E5%B8%82&table=found",
        "<table class=\"found\"",
        "href=\"/regions/34?q=%E5%B8%82&#38;table=found&#38;format=csv\"",
    )
    .await;
    assert_eq!(sheet, shown);
    assert_eq!(sheet[0], ["名称", "代码", "层级", "全部下级"]);
    assert!(sheet.len() > 1 && column(&sheet, 0).iter().all(|n| n.contains('市')));
    for unknown in [
        "/regions/34?table=nope&format=csv",
        "/regions?table=organizations&format=xlsx",
    ] {
        let refused = admin.get(app.url(unknown)).send().await.expect("get");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{unknown}");
    }
    // The office's top is its own city, in English; the province and its other cities stay
    // out of the download as out of the page.
    let (shown, sheet) = page_and_download(
        &office,
        &app,
        "/regions",
        "<table class=\"children\"",
        "href=\"/regions?table=children&#38;format=csv\"",
    )
    .await;
    assert_eq!(sheet, shown);
    assert_eq!(
        sheet[0],
        [
            "Name",
            "Code",
            "Level",
            "Direct sub-regions",
            "All regions below"
        ]
    );
    let office_city = column(&sheet, 1);
    assert_eq!(office_city.len(), 1, "{sheet:?}");
    let office_city = office_city[0].clone();
    assert!(cities.contains(&office_city) && office_city != "34");
    let refused = office
        .get(app.url("/regions/34?format=csv"))
        .send()
        .await
        .expect("get");
    assert!(
        matches!(
            refused.status(),
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        ),
        "{}",
        refused.status()
    );

    // Organizations: every page of the list, the region as the page shows it.
    let mut shown = Vec::new();
    let mut path = "/organizations".to_owned();
    loop {
        let html = translated_page(&admin, &app, &path).await;
        assert!(
            html.contains("href=\"/organizations?format=xlsx\""),
            "{html}"
        );
        let table = html_table(&html, "<table>");
        if shown.is_empty() {
            shown.push(table[0].clone());
        }
        shown.extend(table.into_iter().skip(1));
        let marker = "<a href=\"?after=";
        let Some(at) = html.find(marker) else { break };
        let after: String = html[at + marker.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        path = format!("/organizations?after={after}");
    }
    let sheet = common::download_both(&admin, &app, "/organizations").await;
    let sheet = &sheet[0];
    assert_eq!(sheet, &shown, "every page of the list, in order");
    assert_eq!(sheet[0], ["名称", "类型", "军地", "区划"]);
    let regions = column(sheet, 3);
    assert!(regions.iter().any(|r| !r.starts_with(&office_city)));
    let (shown, sheet) = page_and_download(
        &office,
        &app,
        "/organizations",
        "<table>",
        "href=\"/organizations?format=csv\"",
    )
    .await;
    assert_eq!(sheet, shown);
    assert_eq!(sheet[0], ["Name", "Kind", "Side", "Region"]);
    let regions = column(&sheet, 3);
    assert!(!regions.is_empty());
    assert!(
        regions.iter().all(|r| r.starts_with(&office_city)),
        "only the office's city: {regions:?}"
    );

    // Users: the administrator's buttons are not a column; the office sees its city's users.
    let (shown, sheet) = page_and_download(
        &admin,
        &app,
        "/users",
        "<table>",
        "href=\"/users?format=csv\"",
    )
    .await;
    assert_eq!(sheet, shown);
    assert_eq!(sheet[0], ["用户名", "姓名", "单位", "角色", "状态"]);
    let usernames = column(&sheet, 0);
    for demo_user in ["admin", "office", "workstation", "grid", "viewer"] {
        assert!(usernames.iter().any(|u| u == demo_user), "{usernames:?}");
    }
    let admin_row = &sheet[1 + usernames.iter().position(|u| u == "admin").expect("admin")];
    assert_eq!(admin_row[4], "正常");
    let (shown, sheet) = page_and_download(
        &office,
        &app,
        "/users",
        "<table>",
        "href=\"/users?format=xlsx\"",
    )
    .await;
    assert_eq!(sheet, shown);
    assert_eq!(sheet[0][0], "Username");
    let usernames = column(&sheet, 0);
    assert!(usernames.iter().any(|u| u == "office"));
    assert!(!usernames.iter().any(|u| u == "admin"), "{usernames:?}");

    // API tokens: one's own on the account page, another's for an administrator; never the
    // secret, never the revoke buttons.
    let (shown, sheet) = page_and_download(
        &admin,
        &app,
        "/account",
        "<table id=\"tokens\"",
        "href=\"/account?format=csv\"",
    )
    .await;
    assert_eq!(sheet, shown);
    assert_eq!(
        sheet[0],
        ["名称", "签发时间（UTC）", "到期时间（UTC）", "状态"]
    );
    assert_eq!(column(&sheet, 0), ["test"]);
    assert_eq!(column(&sheet, 3), ["有效"]);
    assert!(
        !sheet
            .iter()
            .flatten()
            .any(|cell| cell.contains(&admin_secret))
    );
    let office_tokens = format!("/users/{office_id}/tokens");
    let (shown, sheet) = page_and_download(
        &admin,
        &app,
        &office_tokens,
        "<table id=\"tokens\"",
        &format!("href=\"{office_tokens}?format=xlsx\""),
    )
    .await;
    assert_eq!(sheet, shown);
    assert_eq!(column(&sheet, 0), ["test"]);
    assert!(
        !sheet
            .iter()
            .flatten()
            .any(|cell| cell.contains(&office_secret))
    );
    let refused = office
        .get(app.url(&format!("/users/{admin_id}/tokens?format=csv")))
        .send()
        .await
        .expect("get");
    assert!(
        matches!(
            refused.status(),
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        ),
        "another's tokens stay closed: {}",
        refused.status()
    );
    let (shown, sheet) = page_and_download(
        &office,
        &app,
        "/account",
        "<table id=\"tokens\"",
        "href=\"/account?format=xlsx\"",
    )
    .await;
    assert_eq!(sheet, shown);
    assert_eq!(sheet[0], ["Name", "Issued (UTC)", "Expires (UTC)", "State"]);

    // The audit log: the page's newest entries lead the download, which reaches further
    // back; what the reader may not read is in neither. More organizations in the office's
    // city make the log longer than the page.
    let kind = muster_domain::OrganizationKind::MemberUnit;
    let more: Vec<muster_storage::NewOrganization> = (0..90)
        .map(|i| muster_storage::NewOrganization {
            name: format!("审计测试单位{i}"),
            kind,
            side: kind.default_side(),
            region_code: Some(office_city.clone()),
        })
        .collect();
    app.db
        .create_organizations(&muster_domain::Actor::command_line("test"), &more)
        .await
        .expect("organizations");
    let (shown, admin_log) = page_and_download(
        &admin,
        &app,
        "/audit",
        "<table>",
        "href=\"/audit?format=csv\"",
    )
    .await;
    assert_eq!(admin_log[0], shown[0]);
    assert_eq!(
        admin_log[0],
        ["序号", "时间（UTC）", "操作人", "操作", "对象"]
    );
    assert_eq!(shown.len(), 1 + 200, "the page shows the newest 200");
    assert!(admin_log.len() > shown.len(), "the download holds more");
    assert_eq!(&admin_log[..shown.len()], &shown[..]);
    let subjects = column(&admin_log, 4);
    for subject in [
        format!("api_token {admin_token}"),
        format!("api_token {office_token}"),
        format!("session {admin_id}"),
    ] {
        assert!(subjects.contains(&subject), "{subject} in {subjects:?}");
    }
    let (shown, office_log) = page_and_download(
        &office,
        &app,
        "/audit",
        "<table>",
        "href=\"/audit?format=xlsx\"",
    )
    .await;
    if shown.len() <= 200 {
        assert_eq!(
            office_log, shown,
            "a log shorter than the page downloads whole"
        );
    } else {
        assert_eq!(&office_log[..shown.len()], &shown[..]);
    }
    assert_eq!(office_log[0][0], "#");
    let office_subjects = column(&office_log, 4);
    assert!(office_subjects.contains(&format!("api_token {office_token}")));
    assert!(
        !office_subjects.contains(&format!("api_token {admin_token}"))
            && !office_subjects.contains(&format!("session {admin_id}")),
        "the province's entries stay out: {office_subjects:?}"
    );
    let admin_seqs = column(&admin_log, 0);
    assert!(
        column(&office_log, 0)
            .iter()
            .all(|seq| admin_seqs.contains(seq)),
        "the office reads a part of what the administrator reads"
    );

    // A refused regions file: its problems download as the page lists them, for its uploader.
    let (content_type, body) = common::multipart(
        &[("csrf", &admin_csrf)],
        "regions.csv",
        "code,name,parent_code\n3491,坏市,34\n349201,孤县,3492\n3401,重复市,34\n".as_bytes(),
    );
    let refused = admin
        .post(app.url("/regions/import"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    let shown = html_table(&html, "<table class=\"problems\"");
    let marker = "href=\"/regions/import?problems=";
    let at = html.find(marker).expect("a download link") + "href=\"".len();
    let link = html_text(&html[at..at + html[at..].find('"').expect("href ends")]);
    let problems = link.strip_suffix("&format=csv").expect("the CSV link");
    let sheets = common::download_both(&admin, &app, problems).await;
    assert_eq!(sheets[0], shown);
    assert_eq!(sheets[0][0], ["行", "列", "问题"]);
    assert_eq!(column(&sheets[0], 0), ["3", "4"]);
    assert!(sheets[0][1][1].contains("parent_code"), "{:?}", sheets[0]);
    for (client, path, status) in [
        (&office, problems.to_owned(), StatusCode::FORBIDDEN),
        (
            &admin,
            "/regions/import?problems=nope&format=csv".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            &admin,
            "/regions/import?format=csv".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        // Each page serves only its own kind of list, laid out in its own columns.
        (
            &admin,
            format!(
                "/potential/import/problems/{}?format=csv",
                problems.trim_start_matches("/regions/import?problems=")
            ),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let response = client.get(app.url(&path)).send().await.expect("get");
        assert_eq!(response.status(), status, "{path}");
    }
    app.stop().await;
}

on_both!(
    tables_download_as_the_pages_show_them,
    spawn_demo,
    table_downloads_story
);
