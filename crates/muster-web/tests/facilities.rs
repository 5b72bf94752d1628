//! Facilities over HTTP, on both databases: a grid set up by the workstation, a facility
//! registered by the office with its property manager, the grid member's round, an
//! inspection with a photo uploaded in chunks (and its retry), the photo served only after
//! the scope check, the order answered by the manager's account and through a link, and
//! the dashboard and its pages; the registry's own pages, where office staff register a
//! facility, add a grid and its member, and a viewer is refused; and the patrol and campaign
//! pages, where the workstation sets up a route and starts a campaign, and a grid member and
//! a viewer are refused.

mod common;

use common::{TestApp, unescape};
use muster_storage::blobs::samples::{Format, image_bytes};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn send(
    app: &TestApp,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    send(app, Some(token), reqwest::Method::GET, path, None).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    send(app, Some(token), reqwest::Method::POST, path, Some(&body)).await
}

fn inspection_body(key: &str, checklist: &Value, failing: &str, attachments: &[String]) -> Value {
    let answers: Vec<Value> = checklist["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            let result = if item["code"] == failing {
                "fail"
            } else {
                "pass"
            };
            json!({ "code": item["code"], "result": result, "note": "" })
        })
        .collect();
    json!({
        "idempotency_key": key,
        "answers": answers,
        "notes": "门密封条老化",
        "latitude": null,
        "longitude": null,
        "inspected_at": muster_storage::now().as_millis(),
        "attachments": attachments,
    })
}

on_both!(facilities_through_the_api, spawn_demo, api_story);
async fn api_story(app: TestApp) {
    let office = app.token_for("office").await;
    let workstation = app.token_for("workstation").await;
    let grid = app.token_for("grid").await;
    let manager = app.token_for("manager").await;

    // The grid member's village, and the users and organizations the office sees.
    let (_, villages) = get(&app, &grid, "/api/v1/regions?level=village&limit=5").await;
    let village = villages[0]["code"]
        .as_str()
        .expect("the grid member's village")
        .to_owned();
    let (lat, lon) = (
        villages[0]["lat"].as_f64().unwrap_or(31.8),
        villages[0]["lon"].as_f64().unwrap_or(117.2),
    );
    let (_, users) = get(&app, &office, "/api/v1/users?limit=1000").await;
    let user_id = |name: &str| {
        users
            .as_array()
            .and_then(|u| u.iter().find(|u| u["username"] == name))
            .map(|u| u["id"].clone())
            .expect("user")
    };
    let (_, organizations) = get(&app, &office, "/api/v1/organizations?limit=1000").await;
    let manager_org = organizations
        .as_array()
        .and_then(|o| o.iter().find(|o| o["kind"] == "property_manager"))
        .map(|o| o["id"].clone())
        .expect("a property manager in the office's city");

    let (status, created_grid) = post(
        &app,
        &workstation,
        "/api/v1/grids",
        json!({ "name": "一网格", "region_code": village }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created_grid}");
    let grid_id = created_grid["id"].as_i64().expect("grid id");
    let (status, _) = post(
        &app,
        &workstation,
        &format!("/api/v1/grids/{grid_id}/members"),
        json!({ "user_id": user_id("grid") }),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let facility = json!({
        "name": "幸福小区地下车库", "kind": "basement_car_park", "latitude": lat, "longitude": lon,
        "capacity_persons": 1500, "area_m2": 4200.0,
        "peacetime": { "parking_spaces": 160, "charging_points": 20, "services": ["快递柜"], "since": null },
        "sign_status": "missing",
        "equipment": [{ "name": "防护密闭门", "count": 2, "parts": ["密封条", "铰链"] }],
        "conversion": [{ "label": "清空车辆", "minutes": 720 }],
        "region_code": village, "grid_id": grid_id, "manager_organization_id": manager_org,
    });
    let (status, car_park) = post(&app, &office, "/api/v1/facilities", facility.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{car_park}");
    let id = car_park["id"].as_i64().expect("facility id");
    let (status, refused) = post(&app, &grid, "/api/v1/facilities", facility).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");

    let (status, round) = get(&app, &grid, "/api/v1/rounds/today").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        round
            .as_array()
            .map(|r| r.iter().map(|f| f["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(id)])
    );

    // An inspection with a photo; the retry after a lost response is the same inspection.
    let (_, checklist) = get(&app, &grid, "/api/v1/checklists/basement_car_park").await;
    let photo = image_bytes(800, 600, Format::Jpeg);
    let upload_id = common::upload(&app, &grid, &photo).await;
    let body = inspection_body(
        "2f9c-phone-1",
        &checklist,
        "door_seal",
        std::slice::from_ref(&upload_id),
    );
    let (status, first) = post(
        &app,
        &grid,
        &format!("/api/v1/facilities/{id}/inspections"),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["orders_issued"].as_array().map(Vec::len), Some(1));
    let (status, again) = post(
        &app,
        &grid,
        &format!("/api/v1/facilities/{id}/inspections"),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["inspection"]["id"], first["inspection"]["id"]);
    assert_eq!(again["created"], false);
    // Someone else's upload id cannot be attached.
    let stolen = inspection_body("office-1", &checklist, "", std::slice::from_ref(&upload_id));
    let (status, problem) = post(
        &app,
        &office,
        &format!("/api/v1/facilities/{id}/inspections"),
        stolen,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("attachments[0]"),
        "{problem}"
    );
    // A missing answer is named.
    let mut incomplete = inspection_body("2f9c-phone-2", &checklist, "", &[]);
    incomplete["answers"].as_array_mut().map(|a| a.remove(0));
    let (status, problem) = post(
        &app,
        &grid,
        &format!("/api/v1/facilities/{id}/inspections"),
        incomplete,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("answers.door_seal"),
        "{problem}"
    );

    // The photo: served to who reaches the facility, not to a forged hash.
    let sha = first["inspection"]["attachments"][0]["sha256"]
        .as_str()
        .expect("attachment")
        .to_owned();
    let response = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/files/{sha}?thumbnail=true")))
        .bearer_auth(&office)
        .send()
        .await
        .expect("thumbnail");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let response = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/files/{sha}")))
        .bearer_auth(&grid)
        .send()
        .await
        .expect("file");
    assert_eq!(
        response.bytes().await.expect("bytes").as_ref(),
        photo.as_slice()
    );
    let (status, _) = get(&app, &grid, &format!("/api/v1/files/{}", "e".repeat(64))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&app, &grid, "/api/v1/files/..%2F..%2Fetc%2Fpasswd").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The order: the manager's account sees and acknowledges it; verifying is not theirs.
    let order_id = first["orders_issued"][0].as_i64().expect("order");
    let (status, orders) = get(&app, &manager, "/api/v1/orders").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        orders
            .as_array()
            .map(|o| o.iter().map(|o| o["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(order_id)])
    );
    let (status, acknowledged) = post(
        &app,
        &manager,
        &format!("/api/v1/orders/{order_id}/actions"),
        json!({ "action": "acknowledge" }),
    )
    .await;
    assert_eq!(
        (status, acknowledged["status"].clone()),
        (StatusCode::OK, json!("acknowledged"))
    );
    let (status, _) = post(
        &app,
        &manager,
        &format!("/api/v1/orders/{order_id}/actions"),
        json!({ "action": "verify" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A link for a manager without an account: no sign-in needed, one order, repaired.
    let (status, link) = post(
        &app,
        &office,
        &format!("/api/v1/orders/{order_id}/links"),
        json!({ "valid_days": 7 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let token = link["path"]
        .as_str()
        .and_then(|p| p.rsplit('/').next())
        .expect("token")
        .to_owned();
    let (status, opened) = send(
        &app,
        None,
        reqwest::Method::GET,
        &format!("/api/v1/order-links/{token}"),
        None,
    )
    .await;
    assert_eq!(
        (status, opened["order"]["id"].clone()),
        (StatusCode::OK, json!(order_id))
    );
    let repair = json!({ "action": "report_repair", "note": "已更换密封条" });
    let (status, repaired) = send(
        &app,
        None,
        reqwest::Method::POST,
        &format!("/api/v1/order-links/{token}/actions"),
        Some(&repair),
    )
    .await;
    assert_eq!(
        (status, repaired["status"].clone()),
        (StatusCode::OK, json!("repaired")),
        "{repaired}"
    );
    let (status, _) = send(
        &app,
        None,
        reqwest::Method::GET,
        &format!("/api/v1/order-links/{}", "0".repeat(64)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, dashboard) = get(&app, &workstation, "/api/v1/facility-dashboard").await;
    assert_eq!(status, StatusCode::OK, "{dashboard}");
    assert_eq!(dashboard["totals"]["facilities"], 1);
    assert_eq!(dashboard["totals"]["parking"], 160);
    assert_eq!(dashboard["open_orders"], 1);
    assert_eq!(dashboard["ready"]["within_24_hours"], 1500);
    let (_, openapi) = send(
        &app,
        None,
        reqwest::Method::GET,
        "/api/v1/openapi.json",
        None,
    )
    .await;
    assert!(openapi["paths"]["/facilities/{id}/inspections"].is_object());
    app.stop().await;
}

async fn page(client: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = client.get(app.url(path)).send().await.expect("page");
    let status = response.status();
    (status, response.text().await.expect("text"))
}

/// The page's table of `class`: its header texts and its body rows' cell texts.
fn page_table(html: &str, class: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rows = common::page_table(html, class);
    let headers = rows.remove(0);
    (headers, rows)
}

/// The path of the download link a page shows for its table `table` (None: for its one
/// table), without its `format`, as `common::download_both` takes it.
fn export_path(html: &str, table: Option<&str>) -> String {
    let links: Vec<String> = html
        .split("class=\"export-csv\" href=\"")
        .skip(1)
        .map(|rest| unescape(rest.split('"').next().expect("an href")))
        .collect();
    let link = match table {
        Some(table) => links
            .iter()
            .find(|link| link.contains(&format!("table={table}&")))
            .unwrap_or_else(|| panic!("no download of {table}: {links:?}")),
        None => {
            assert_eq!(links.len(), 1, "one download link: {links:?}");
            &links[0]
        }
    };
    link.strip_suffix("?format=csv")
        .or_else(|| link.strip_suffix("&format=csv"))
        .unwrap_or_else(|| panic!("the format comes last: {link}"))
        .to_owned()
}

/// The first sheet of a page's download (`common::download_both` checks the CSV and the
/// XLSX agree), each row padded to the headers' width: a reader drops a row's trailing
/// empty cells.
async fn first_sheet(client: &reqwest::Client, app: &TestApp, path: &str) -> Vec<Vec<String>> {
    let mut sheet = common::download_both(client, app, path).await.remove(0);
    let width = sheet.first().map_or(0, Vec::len);
    for row in &mut sheet {
        assert!(
            row.len() <= width,
            "{path}: a row wider than the headers: {row:?}"
        );
        row.resize(width, String::new());
    }
    sheet
}

/// The first sheet of a page's download, checked against the page's table of `class`: the
/// same headers and the same rows, the same texts.
async fn download_matches_page(
    client: &reqwest::Client,
    app: &TestApp,
    html: &str,
    table: Option<&str>,
    class: &str,
) -> Vec<Vec<String>> {
    let path = export_path(html, table);
    let sheet = first_sheet(client, app, &path).await;
    let (headers, rows) = page_table(html, class);
    assert_eq!(sheet[0], headers, "{path}: the page's headers");
    assert_eq!(sheet[1..], rows[..], "{path}: the page's rows");
    sheet
}

/// An order row of a download as its page shows it: the "escalated" column back beside
/// the deadline (the column after `deadline`).
fn order_as_shown(row: &[String], deadline: usize) -> Vec<String> {
    let mut shown = row.to_vec();
    let escalated = shown.remove(deadline + 1);
    shown[deadline] = format!("{} {escalated}", shown[deadline]).trim().to_owned();
    shown
}

on_both!(facility_pages_in_both_languages, spawn_demo, pages_story);
async fn pages_story(app: TestApp) {
    let id = common::grid_and_car_park(&app).await;
    let (grid, csrf) = app.signed_in("grid", "zh-CN").await;
    let (status, rounds) = page(&grid, &app, "/rounds").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        rounds.contains("和平里地下车库") && rounds.contains("今日巡检"),
        "{rounds}"
    );
    let (status, form) = page(&grid, &app, &format!("/rounds/{id}/inspect")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        form.contains("防护门密封条") && form.contains("/assets/inspect.js"),
        "{form}"
    );
    let key = form
        .split("name=\"idempotency_key\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("key")
        .to_owned();

    // The form without JavaScript: a plain post, answered item by item.
    let checklist: Vec<String> = form
        .split("name=\"result_")
        .skip(1)
        .map(|r| r.split('"').next().unwrap_or_default().to_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut fields: Vec<(String, String)> = vec![
        ("csrf".into(), csrf.clone()),
        ("idempotency_key".into(), key.clone()),
        ("notes".into(), "出入口堆放杂物".into()),
    ];
    for code in &checklist {
        let result = if code == "clear_access" {
            "fail"
        } else {
            "pass"
        };
        fields.push((format!("result_{code}"), result.into()));
    }
    let posted = grid
        .post(app.url(&format!("/rounds/{id}/inspect")))
        .form(&fields)
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    // Posting the same form again (a double tap) records nothing new.
    let again = grid
        .post(app.url(&format!("/rounds/{id}/inspect")))
        .form(&fields)
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let (_, rounds) = page(&grid, &app, "/rounds?done=1").await;
    assert!(
        rounds.contains("巡检已记录") && !rounds.contains("和平里地下车库"),
        "{rounds}"
    );
    let (status, facility) = page(&grid, &app, &format!("/facilities/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        facility.matches("class=\"inspection-line\"").count(),
        1,
        "{facility}"
    );

    // A facility that does not exist: the error page says so in the reader's language and
    // keeps the signed-in reader's navigation.
    let (status, missing) = page(&grid, &app, "/facilities/987654321").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert!(
        missing.contains("<h1>未找到</h1>")
            && missing.contains("找不到设施 987654321")
            && missing.contains("id=\"sign-out\"")
            && missing.contains(&format!("value=\"{csrf}\"")),
        "{missing}"
    );

    // The office's dashboard, in English: the figures, the map, the order.
    let (office, office_csrf) = app.signed_in("office", "en").await;
    let (status, missing) = page(&office, &app, "/facilities/987654321").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert!(
        missing.contains("<h1>Not found</h1>")
            && missing.contains("facility 987654321 was not found")
            && missing.contains("id=\"sign-out\""),
        "{missing}"
    );
    let (status, dashboard) = page(&office, &app, "/facilities").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        dashboard.contains("id=\"facility-map\"") && dashboard.contains("map-order"),
        "{dashboard}"
    );
    assert!(
        dashboard.contains("Protected capacity ready"),
        "{dashboard}"
    );
    let (status, orders) = page(&office, &app, "/orders").await;
    assert_eq!(status, StatusCode::OK);
    let order_id: i64 = orders
        .split("href=\"/orders/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("an order in the list");

    // Five days on, the sweep finds the three-day order overdue and escalates it: the office's
    // dashboard and order list show it in the app, as the notifier sent it.
    let sent = app
        .db
        .sweep_orders(muster_storage::now().plus_days(5), "log")
        .await
        .expect("sweep");
    assert_eq!(sent.len(), 2, "{sent:?}");
    let (_, dashboard) = page(&office, &app, "/facilities").await;
    assert!(
        dashboard.contains("id=\"notes-heading\"") && dashboard.contains("Escalated"),
        "{dashboard}"
    );
    let (_, orders_page) = page(&office, &app, "/orders").await;
    assert!(orders_page.contains("class=\"note\""), "{orders_page}");

    // A link for the manager; the link page works without signing in, in the reader's language.
    let made = office
        .post(app.url(&format!("/orders/{order_id}/link")))
        .form(&[("csrf", office_csrf.as_str())])
        .send()
        .await
        .expect("link");
    let made = made.text().await.expect("text");
    let link = made
        .split("id=\"order-link\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the link is shown")
        .to_owned();
    let stranger = TestApp::browser();
    let (status, link_page) = page(&stranger, &app, &link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(link_page.contains("action-report_repair"), "{link_page}");
    let answer_with_photo = async |note: &str, jpeg: &[u8]| {
        let (content_type, body) = common::multipart(
            &[("action", "report_repair"), ("note", note)],
            "fixed.jpg",
            jpeg,
        );
        // The harness names its file field `file`; the link form's is `photo`.
        let mut body = body;
        let at = body
            .windows(11)
            .position(|w| w == b"name=\"file\"")
            .expect("the file field");
        body.splice(at..at + 11, b"name=\"photo\"".iter().copied());
        stranger
            .post(app.url(&link))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("answer")
            .status()
    };
    let answered = answer_with_photo("杂物已清理", &image_bytes(320, 240, Format::Jpeg)).await;
    assert_eq!(answered, StatusCode::SEE_OTHER);
    let (_, detail) = page(&office, &app, &format!("/orders/{order_id}")).await;
    assert!(
        detail.contains("杂物已清理")
            && detail.contains("action-verify")
            && detail.contains("/files/")
            && !detail.contains("id=\"earlier-evidence\""),
        "{detail}"
    );
    let photo_of = |page: &str| -> String {
        page.split("href=\"/files/")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a photo on the page")
            .to_owned()
    };
    let first_photo = photo_of(&detail);

    // Sent back from the order page and answered again through the link with another photo:
    // the latest photo is the order's evidence, and the one sent back stays on the page.
    let sent_back = office
        .post(app.url(&format!("/orders/{order_id}/actions")))
        .form(&[
            ("csrf", office_csrf.as_str()),
            ("action", "send_back"),
            ("reason", "照片看不清"),
        ])
        .send()
        .await
        .expect("send back");
    assert_eq!(sent_back.status(), StatusCode::SEE_OTHER);
    let answered = answer_with_photo("重新清理", &image_bytes(200, 150, Format::Jpeg)).await;
    assert_eq!(answered, StatusCode::SEE_OTHER);
    let (_, detail) = page(&office, &app, &format!("/orders/{order_id}")).await;
    let (latest, earlier) = detail
        .split_once("id=\"earlier-evidence\"")
        .expect("earlier evidence shown");
    assert!(latest.contains("重新清理"), "{detail}");
    assert_ne!(photo_of(latest), first_photo, "{detail}");
    assert_eq!(photo_of(earlier), first_photo, "{detail}");
    let served = office
        .get(app.url(&format!("/files/{first_photo}")))
        .send()
        .await
        .expect("photo");
    assert_eq!(served.status(), StatusCode::OK);
    let (status, _) = page(&stranger, &app, &format!("/orders/link/{}", "1".repeat(64))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A patrol route, and the grid member checking in on the patrols page by typing a code.
    let grid_token = app.token_for("grid").await;
    let workstation = app.token_for("workstation").await;
    let (_, villages) = get(&app, &grid_token, "/api/v1/regions?level=village&limit=1").await;
    let point =
        |code: &str| json!({ "code": code, "name": code, "latitude": 31.8, "longitude": 117.2 });
    let (status, route) = post(
        &app,
        &workstation,
        "/api/v1/patrol-routes",
        json!({ "region_code": villages[0]["code"], "grid_id": null, "name": "夜巡", "window_minutes": 60,
                "checkpoints": [point("A1"), point("B2")] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let (status, patrols) = page(&grid, &app, "/patrols").await;
    assert_eq!(status, StatusCode::OK);
    assert!(patrols.contains("夜巡"), "{patrols}");
    let route_id = route["id"].as_i64().expect("route id");
    let checked = grid
        .post(app.url(&format!("/patrols/{route_id}/check-ins")))
        .form(&[("csrf", csrf.as_str()), ("code", "a1")])
        .send()
        .await
        .expect("check in")
        .text()
        .await
        .expect("text");
    assert!(
        checked.contains("A1 ✓") && checked.contains("B2"),
        "{checked}"
    );
    let wrong = grid
        .post(app.url(&format!("/patrols/{route_id}/check-ins")))
        .form(&[("csrf", csrf.as_str()), ("code", "Z9")])
        .send()
        .await
        .expect("check in")
        .text()
        .await
        .expect("text");
    assert!(
        wrong.contains("role=\"alert\"") && wrong.contains("Z9"),
        "{wrong}"
    );

    // A shelter outside the grid, inspected long ago with a failure: its order is overdue.
    // It is in the office's tables and downloads, and not in the grid member's.
    let office_token = app.token_for("office").await;
    let village = villages[0]["code"].clone();
    let (status, shelter) = post(
        &app,
        &office_token,
        "/api/v1/facilities",
        json!({
            "name": "城南人防工程", "kind": "shelter", "latitude": 31.8, "longitude": 117.2,
            "capacity_persons": 500, "area_m2": 800.0,
            "peacetime": { "parking_spaces": 0, "charging_points": 0, "services": [], "since": null },
            "sign_status": "installed", "equipment": [], "conversion": [],
            "region_code": village, "grid_id": null, "manager_organization_id": null,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{shelter}");
    let shelter_id = shelter["id"].as_i64().expect("the shelter's id");
    let (_, shelter_checklist) = get(&app, &office_token, "/api/v1/checklists/shelter").await;
    let failing = shelter_checklist["items"][0]["code"]
        .as_str()
        .expect("a checklist item")
        .to_owned();
    let mut inspection = inspection_body("shelter-long-ago", &shelter_checklist, &failing, &[]);
    inspection["inspected_at"] = json!(
        muster_storage::now()
            .plus_millis(-400 * 86_400_000)
            .as_millis()
    );
    let (status, inspected) = post(
        &app,
        &office_token,
        &format!("/api/v1/facilities/{shelter_id}/inspections"),
        inspection,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{inspected}");

    // Each table of the office's dashboard downloads as the page shows it, in English.
    let (_, dashboard) = page(&office, &app, "/facilities").await;
    let readiness =
        download_matches_page(&office, &app, &dashboard, Some("readiness"), "readiness").await;
    assert_eq!(
        readiness[0],
        [
            "Within 24 hours",
            "Within 72 hours",
            "Within a week",
            "Protected capacity"
        ]
    );
    assert_eq!(readiness[1][3], "1400", "the two facilities' capacity");
    let counted = |sheet: &[Vec<String>]| -> Vec<String> {
        sheet[1..]
            .iter()
            .filter(|row| row[1] != "0")
            .map(|row| row[0].clone())
            .collect()
    };
    let kinds = download_matches_page(&office, &app, &dashboard, Some("kinds"), "kinds").await;
    assert_eq!(kinds[0][..2], ["Kind", "Facilities"]);
    let mut office_kinds = counted(&kinds);
    office_kinds.sort();
    assert_eq!(office_kinds, ["Basement car park", "Shelter"]);
    let overdue = first_sheet(&office, &app, &export_path(&dashboard, Some("orders"))).await;
    let (headers, rows) = page_table(&dashboard, "orders");
    let mut without_escalated = overdue[0].clone();
    assert_eq!(without_escalated.remove(4), "escalated");
    assert_eq!(without_escalated, headers);
    let shown: Vec<Vec<String>> = overdue[1..].iter().map(|r| order_as_shown(r, 3)).collect();
    assert_eq!(shown, rows);
    assert_eq!(
        overdue[1..]
            .iter()
            .map(|r| r[1].as_str())
            .collect::<Vec<_>>(),
        ["城南人防工程"]
    );
    let unknown = office
        .get(app.url("/facilities?table=map&format=csv"))
        .send()
        .await
        .expect("get");
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);

    // The orders page downloads every order its filter lists, in its order.
    let (_, all_orders) = page(&office, &app, "/orders?filter=all").await;
    let path = export_path(&all_orders, None);
    assert_eq!(path, "/orders?filter=all");
    let orders = first_sheet(&office, &app, &path).await;
    let (headers, rows) = page_table(&all_orders, "orders");
    let mut without_escalated = orders[0].clone();
    assert_eq!(without_escalated.remove(5), "escalated");
    assert_eq!(without_escalated, headers);
    let shown: Vec<Vec<String>> = orders[1..].iter().map(|r| order_as_shown(r, 4)).collect();
    assert_eq!(shown, rows);
    assert_eq!(
        orders[1..]
            .iter()
            .map(|r| (r[1].as_str(), r[3].as_str(), r[5].as_str()))
            .collect::<Vec<_>>(),
        [
            ("城南人防工程", "issued", ""),
            ("和平里地下车库", "repaired", "escalated")
        ]
    );
    assert_eq!(orders[2][0], order_id.to_string());
    // The facility's own page downloads its orders with the orders page's columns.
    let (_, car_park) = page(&office, &app, &format!("/facilities/{id}")).await;
    let path = export_path(&car_park, None);
    assert_eq!(path, format!("/facilities/{id}"));
    let its_orders = first_sheet(&office, &app, &path).await;
    assert_eq!(its_orders[0], orders[0], "the orders page's columns");
    let (_, rows) = page_table(&car_park, "orders");
    let shown: Vec<Vec<String>> = its_orders[1..]
        .iter()
        .map(|r| order_as_shown(r, 4))
        .collect();
    assert_eq!(shown, rows);
    assert_eq!(
        its_orders[1..]
            .iter()
            .map(|r| r[0].as_str())
            .collect::<Vec<_>>(),
        [order_id.to_string()]
    );

    // The grid member's downloads leave out the shelter, as their pages do, in Chinese.
    let (_, grid_dashboard) = page(&grid, &app, "/facilities").await;
    let kinds = download_matches_page(&grid, &app, &grid_dashboard, Some("kinds"), "kinds").await;
    assert_eq!(kinds[0][..2], ["类型", "设施数"]);
    assert_eq!(counted(&kinds), ["人防地下车库"]);
    assert!(!grid_dashboard.contains("城南人防工程"));
    let overdue = first_sheet(&grid, &app, "/facilities?table=orders").await;
    assert_eq!(overdue.len(), 1, "no overdue order of theirs: {overdue:?}");
    // Nor can the grid member download the shelter's orders by its id.
    let path = format!("/facilities/{shelter_id}?format=csv");
    let response = grid.get(app.url(&path)).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    let (_, grid_orders) = page(&grid, &app, "/orders?filter=all").await;
    let orders = first_sheet(&grid, &app, &export_path(&grid_orders, None)).await;
    let (headers, rows) = page_table(&grid_orders, "orders");
    assert_eq!(orders[0][..2], ["#", "设施"]);
    assert_eq!(orders[0].len(), headers.len() + 1);
    let shown: Vec<Vec<String>> = orders[1..].iter().map(|r| order_as_shown(r, 4)).collect();
    assert_eq!(shown, rows);
    assert_eq!(
        orders[1..]
            .iter()
            .map(|r| r[1].as_str())
            .collect::<Vec<_>>(),
        ["和平里地下车库"]
    );

    // The grids: the office's download holds both grids of the village with their members,
    // the grid member's only their own.
    let (status, south) = post(
        &app,
        &office_token,
        "/api/v1/grids",
        json!({ "name": "南区网格", "region_code": village }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{south}");
    let (_, office_grids) = page(&office, &app, "/grids").await;
    let grids = first_sheet(&office, &app, &export_path(&office_grids, None)).await;
    let (headers, rows) = page_table(&office_grids, "grids");
    assert_eq!(
        grids[0],
        [
            "Grid name",
            "Names of the grid members",
            headers[1].as_str(),
            "Grid members",
            "Facilities"
        ]
    );
    assert_eq!([&grids[0][..1], &grids[0][2..]].concat(), headers[..4]);
    assert_eq!(grids.len() - 1, rows.len());
    for (row, shown) in grids[1..].iter().zip(&rows) {
        // The page lists the members' names in the name cell.
        assert!(
            shown[0].starts_with(&row[0]) && shown[0].contains(&row[1]),
            "{row:?} {shown:?}"
        );
        assert_eq!(row[2..], shown[1..4]);
    }
    let mut by_name: Vec<(&str, bool, &str, &str, &str)> = grids[1..]
        .iter()
        .map(|r| {
            (
                r[0].as_str(),
                r[1].is_empty(),
                r[2].as_str(),
                r[3].as_str(),
                r[4].as_str(),
            )
        })
        .collect();
    by_name.sort();
    let village = village.as_str().expect("the village's code");
    assert_eq!(
        by_name,
        [
            ("南区网格", true, village, "0", "0"),
            ("网格", false, village, "1", "1")
        ]
    );
    let (_, member_grids) = page(&grid, &app, "/grids").await;
    let grids = first_sheet(&grid, &app, &export_path(&member_grids, None)).await;
    let (headers, rows) = page_table(&member_grids, "grids");
    assert_eq!([&grids[0][..1], &grids[0][2..]].concat(), headers);
    assert_eq!(
        grids[1..].iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["网格"]
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    app.stop().await;
}

/// The registration form's fields for a valid car park in `region`, as a browser posts them.
fn facility_fields(
    csrf: &str,
    name: &str,
    region: &str,
    (lat, lon): (&str, &str),
    grid_id: &str,
    manager_org: &str,
) -> Vec<(&'static str, String)> {
    [
        ("csrf", csrf),
        ("name", name),
        ("kind", "basement_car_park"),
        ("region_code", region),
        ("latitude", lat),
        ("longitude", lon),
        ("capacity_persons", "1500"),
        ("area_m2", "4200"),
        ("parking_spaces", "160"),
        ("charging_points", "20"),
        ("services", "快递柜\n健身房"),
        ("peacetime_since", "2024-05-01"),
        ("sign_status", "installed"),
        ("equipment", "防护密闭门, 2, 密封条、铰链"),
        ("conversion", "清空车辆, 720\n封堵出入口, 240"),
        ("grid_id", grid_id),
        ("manager_organization_id", manager_org),
    ]
    .into_iter()
    .map(|(field, value)| (field, value.to_owned()))
    .collect()
}

/// The text of the field problem shown beside `field` on a form page, if any.
fn problem_beside(page: &str, field: &str) -> Option<String> {
    let marker = format!("data-field=\"{field}\">");
    let rest = &page[page.find(&marker)? + marker.len()..];
    rest.split("</p>").next().map(str::to_owned)
}

on_both!(registering_on_the_pages, spawn_demo, registry_pages_story);
async fn registry_pages_story(app: TestApp) {
    // What the form will choose: the grid member's village, the grid member, the county's
    // property manager; and the province, which is outside the city office's region.
    let office_token = app.token_for("office").await;
    let grid_token = app.token_for("grid").await;
    let (_, villages) = get(&app, &grid_token, "/api/v1/regions?level=village&limit=5").await;
    let village = villages[0]["code"]
        .as_str()
        .expect("the grid member's village")
        .to_owned();
    let lat = villages[0]["lat"].as_f64().unwrap_or(31.8).to_string();
    let lon = villages[0]["lon"].as_f64().unwrap_or(117.2).to_string();
    let province = village[..2].to_owned();
    let (_, users) = get(&app, &office_token, "/api/v1/users?limit=1000").await;
    let grid_user = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["username"] == "grid"))
        .and_then(|u| u["id"].as_i64())
        .expect("the grid member");
    let (_, organizations) = get(&app, &office_token, "/api/v1/organizations?limit=1000").await;
    let manager_org = organizations
        .as_array()
        .and_then(|o| o.iter().find(|o| o["kind"] == "property_manager"))
        .and_then(|o| o["id"].as_i64())
        .expect("a property manager in the office's city");

    // The office staff's dashboard links to the form and the grids page.
    let (office, csrf) = app.signed_in("office", "zh-CN").await;
    let (status, dashboard) = page(&office, &app, "/facilities").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        dashboard.contains("href=\"/facilities/new\"") && dashboard.contains("href=\"/grids\""),
        "{dashboard}"
    );

    // A grid, added on the grids page (post, redirect, get).
    let (status, grids) = page(&office, &app, "/grids").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        grids.contains("id=\"grid-form\"") && grids.contains("辖区内尚未划分网格"),
        "{grids}"
    );
    let added = office
        .post(app.url("/grids"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "和平里网格"),
            ("region_code", village.as_str()),
        ])
        .send()
        .await
        .expect("add a grid");
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert_eq!(added.headers()["location"], "/grids?done=grid");
    let (_, grids) = page(&office, &app, "/grids?done=grid").await;
    assert!(
        grids.contains("网格已建立") && grids.contains("和平里网格"),
        "{grids}"
    );
    let grid_id: i64 = grids
        .split("action=\"/grids/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|id| id.parse().ok())
        .expect("the grid's member form");
    assert!(
        grids.contains(&format!("<option value=\"{grid_user}\">")),
        "the grid member of the village is offered: {grids}"
    );

    // A grid without a name is refused beside the name, in Chinese, the region kept.
    let refused = office
        .post(app.url("/grids"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "  "),
            ("region_code", village.as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = refused.text().await.expect("text");
    assert_eq!(
        problem_beside(&refused, "name").as_deref(),
        Some("网格名称应为 1 至 100 个字符"),
        "{refused}"
    );
    assert!(
        refused.contains(&format!("value=\"{village}\"")),
        "{refused}"
    );

    // The grid member, added to the grid; a post without a choice is refused beside it.
    let no_choice = office
        .post(app.url(&format!("/grids/{grid_id}/members")))
        .form(&[("csrf", csrf.as_str()), ("user_id", "")])
        .send()
        .await
        .expect("post");
    assert_eq!(no_choice.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let no_choice = no_choice.text().await.expect("text");
    assert!(no_choice.contains("请先从列表中选择网格员"), "{no_choice}");
    let member = office
        .post(app.url(&format!("/grids/{grid_id}/members")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_id", grid_user.to_string().as_str()),
        ])
        .send()
        .await
        .expect("add a member");
    assert_eq!(member.status(), StatusCode::SEE_OTHER);
    assert_eq!(member.headers()["location"], "/grids?done=member");
    let (_, grids) = page(&office, &app, "/grids?done=member").await;
    assert!(
        grids.contains("网格员已添加") && grids.contains("class=\"num member-count\">1</td>"),
        "{grids}"
    );

    // The registration form offers the grid and the property manager.
    let (status, form) = page(&office, &app, "/facilities/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        form.contains(&format!(
            "<option value=\"{grid_id}\">和平里网格（{village}）</option>"
        )) && form.contains(&format!("<option value=\"{manager_org}\">")),
        "{form}"
    );

    // A valid facility: registered, and its page opens.
    let coordinates = (lat.as_str(), lon.as_str());
    let (grid_text, manager_text) = (grid_id.to_string(), manager_org.to_string());
    let valid = facility_fields(
        &csrf,
        "幸福小区地下车库",
        &village,
        coordinates,
        &grid_text,
        &manager_text,
    );
    let created = office
        .post(app.url("/facilities/new"))
        .form(&valid)
        .send()
        .await
        .expect("register");
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let location = created.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let id: i64 = location
        .strip_prefix("/facilities/")
        .and_then(|id| id.parse().ok())
        .expect("the facility's page");
    let (status, facility) = page(&office, &app, &location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        facility.contains("幸福小区地下车库")
            && facility.contains("人防地下车库")
            && facility.contains("快递柜、健身房"),
        "{facility}"
    );
    let (status, stored) = get(&app, &office_token, &format!("/api/v1/facilities/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["grid_id"], json!(grid_id), "{stored}");
    assert_eq!(
        stored["manager_organization_id"],
        json!(manager_org),
        "{stored}"
    );
    assert_eq!(stored["parking_spaces"], json!(160), "{stored}");
    assert_eq!(stored["conversion_minutes"], json!(960), "{stored}");
    assert_eq!(stored["sign_status"], "installed", "{stored}");
    assert_eq!(stored["peacetime_since"], "2024-05-01", "{stored}");
    assert_eq!(
        stored["equipment"],
        json!([{ "name": "防护密闭门", "count": 2, "parts": ["密封条", "铰链"] }]),
        "{stored}"
    );

    // An empty name: refused beside the name, in Chinese, with what was typed kept.
    let unnamed = facility_fields(&csrf, "", &village, coordinates, &grid_text, &manager_text);
    let refused = office
        .post(app.url("/facilities/new"))
        .form(&unnamed)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = refused.text().await.expect("text");
    assert_eq!(
        problem_beside(&refused, "name").as_deref(),
        Some("不能为空"),
        "{refused}"
    );
    assert!(
        refused.contains("role=\"alert\"")
            && refused.contains("value=\"1500\"")
            && refused.contains("防护密闭门, 2, 密封条、铰链")
            && refused.contains(&format!("<option value=\"{grid_id}\" selected>")),
        "{refused}"
    );

    // A region outside the office's city: refused beside the region code, in Chinese.
    let elsewhere = facility_fields(
        &csrf,
        "幸福小区二号库",
        &province,
        coordinates,
        &grid_text,
        &manager_text,
    );
    let refused = office
        .post(app.url("/facilities/new"))
        .form(&elsewhere)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = refused.text().await.expect("text");
    assert_eq!(
        problem_beside(&refused, "region_code").as_deref(),
        Some(format!("找不到行政区划 {province}。").as_str()),
        "{refused}"
    );
    assert!(
        refused.contains("value=\"幸福小区二号库\"")
            && refused.contains(&format!("value=\"{province}\"")),
        "{refused}"
    );

    // Without the CSRF field, neither form is taken.
    let forged: Vec<_> = valid
        .iter()
        .filter(|(field, _)| *field != "csrf")
        .cloned()
        .collect();
    let forged = office
        .post(app.url("/facilities/new"))
        .form(&forged)
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let forged = office
        .post(app.url("/grids"))
        .form(&[("name", "伪造网格"), ("region_code", village.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // A viewer sees no link to register, only the grids tab to read, and storage refuses
    // their posts.
    let (viewer, viewer_csrf) = app.signed_in("viewer", "zh-CN").await;
    let (status, dashboard) = page(&viewer, &app, "/facilities").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !dashboard.contains("href=\"/facilities/new\"") && dashboard.contains("href=\"/grids\""),
        "{dashboard}"
    );
    let by_viewer = facility_fields(&viewer_csrf, "观察员的设施", &village, coordinates, "", "");
    let refused = viewer
        .post(app.url("/facilities/new"))
        .form(&by_viewer)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .expect("text")
            .contains("您无权执行此操作"),
        "the refusal is said in Chinese"
    );
    let refused = viewer
        .post(app.url("/grids"))
        .form(&[
            ("csrf", viewer_csrf.as_str()),
            ("name", "观察员的网格"),
            ("region_code", village.as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let (status, grids) = page(&viewer, &app, "/grids").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        grids.contains("和平里网格") && !grids.contains("id=\"grid-form\""),
        "{grids}"
    );
    let remove = format!("/grids/{grid_id}/members/{grid_user}/remove");
    assert!(!grids.contains(&remove), "a viewer takes no one off");

    // The office takes the member off the grid again: not with a stale form, then for good.
    let (_, grids) = page(&office, &app, "/grids").await;
    assert!(grids.contains(&remove), "{grids}");
    let stale = office
        .post(app.url(&remove))
        .form(&[("csrf", "stale")])
        .send()
        .await
        .expect("post");
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    let removed = office
        .post(app.url(&remove))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert_eq!(removed.headers()["location"], "/grids?done=removed");
    let (_, grids) = page(&office, &app, "/grids?done=removed").await;
    assert!(
        grids.contains("已将该网格员移出网格") && !grids.contains(&remove),
        "{grids}"
    );
    let office_token = app.token_for("office").await;
    let again = reqwest::Client::new()
        .delete(app.url(&format!("/api/v1/grids/{grid_id}/members/{grid_user}")))
        .bearer_auth(&office_token)
        .send()
        .await
        .expect("delete");
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "already taken off");
    app.stop().await;
}

on_both!(
    checklists_and_schedules_on_the_pages,
    spawn_demo,
    inspection_pages_story
);
async fn inspection_pages_story(app: TestApp) {
    // The administrator edits the sirens' checklist on its page (post, redirect, get) and
    // the API reads the edit back.
    let (admin, csrf) = app.signed_in("admin", "zh-CN").await;
    let (status, list) = page(&admin, &app, "/checklists").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("href=\"/checklists/siren\"") && list.contains("防空警报器"),
        "{list}"
    );
    let (status, siren) = page(&admin, &app, "/checklists/siren").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        siren.contains("id=\"checklist-form\"")
            && siren.contains("siren_test | 鸣响试验 | Siren test sounds | 7"),
        "{siren}"
    );
    let edited =
        "siren_test | 鸣响试验 | Siren test sounds | 7\n\nbattery | 蓄电池 | Backup battery | 10";
    let saved = admin
        .post(app.url("/checklists/siren"))
        .form(&[("csrf", csrf.as_str()), ("items", edited)])
        .send()
        .await
        .expect("save the checklist");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(saved.headers()["location"], "/checklists/siren?done=saved");
    let (status, siren) = page(&admin, &app, "/checklists/siren?done=saved").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        siren.contains("检查清单已保存") && siren.contains("蓄电池"),
        "{siren}"
    );
    let admin_token = app.token_for("admin").await;
    let (status, checklist) = get(&app, &admin_token, "/api/v1/checklists/siren").await;
    assert_eq!(status, StatusCode::OK);
    let items = checklist["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{checklist}");
    assert_eq!(items[1]["code"], "battery");
    assert_eq!(items[1]["label_zh"], "蓄电池");
    assert_eq!(items[1]["label_en"], "Backup battery");
    assert_eq!(items[1]["deadline_days"], 10);

    // The kinds and a kind's checklist download as their pages show them, in Chinese.
    let (_, list) = page(&admin, &app, "/checklists").await;
    let kinds = download_matches_page(&admin, &app, &list, None, "checklists").await;
    assert_eq!(kinds[0][..2], ["设施类型", "检查项"]);
    let sirens = kinds
        .iter()
        .find(|row| row[0] == "防空警报器")
        .expect("the sirens' row");
    assert_eq!(sirens[1], "2", "{kinds:?}");
    let (_, siren) = page(&admin, &app, "/checklists/siren").await;
    let listed = download_matches_page(&admin, &app, &siren, None, "checklist-items").await;
    assert_eq!(
        listed[1..],
        [
            vec!["siren_test", "鸣响试验", "Siren test sounds", "7"],
            vec!["battery", "蓄电池", "Backup battery", "10"]
        ]
    );

    // A line with no deadline is refused beside the field, in Chinese, naming its line
    // (blank lines counted); what was typed stays in the form; nothing is saved.
    let invalid =
        "siren_test | 鸣响试验 | Siren test sounds | 7\n\nbattery | 蓄电池 | Backup battery | 0";
    let refused = admin
        .post(app.url("/checklists/siren"))
        .form(&[("csrf", csrf.as_str()), ("items", invalid)])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = refused.text().await.expect("text");
    assert!(
        body.contains("id=\"problem-items\"")
            && body.contains("第 3 行")
            && body.contains("整改期限应为 1 至 365 天")
            && body.contains("Backup battery | 0"),
        "{body}"
    );
    let (_, checklist) = get(&app, &admin_token, "/api/v1/checklists/siren").await;
    assert_eq!(checklist["items"][1]["deadline_days"], 10, "{checklist}");

    // A viewer reads the checklist without a form; storage refuses their post.
    let (viewer, viewer_csrf) = app.signed_in("viewer", "zh-CN").await;
    let (status, siren) = page(&viewer, &app, "/checklists/siren").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        siren.contains("蓄电池") && !siren.contains("id=\"checklist-form\""),
        "{siren}"
    );
    let forbidden = viewer
        .post(app.url("/checklists/siren"))
        .form(&[
            ("csrf", viewer_csrf.as_str()),
            ("items", "siren_test | 鸣响试验 | Siren test sounds | 7"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert!(
        forbidden
            .text()
            .await
            .expect("text")
            .contains("您无权执行此操作"),
        "the refusal is said in Chinese"
    );
    let (_, checklist) = get(&app, &admin_token, "/api/v1/checklists/siren").await;
    assert_eq!(
        checklist["items"].as_array().map(Vec::len),
        Some(2),
        "{checklist}"
    );

    // The office sets how often sirens are inspected in the grid member's village.
    let grid_token = app.token_for("grid").await;
    let (_, villages) = get(&app, &grid_token, "/api/v1/regions?level=village&limit=1").await;
    let village = villages[0]["code"]
        .as_str()
        .expect("the grid member's village")
        .to_owned();
    let (office, office_csrf) = app.signed_in("office", "zh-CN").await;
    let (status, schedules) = page(&office, &app, "/schedules").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        schedules.contains("id=\"schedule-form\"") && schedules.contains("本辖区尚未设定巡检周期"),
        "{schedules}"
    );
    let set = office
        .post(app.url("/schedules"))
        .form(&[
            ("csrf", office_csrf.as_str()),
            ("region_code", village.as_str()),
            ("kind", "siren"),
            ("every_days", "45"),
        ])
        .send()
        .await
        .expect("set a schedule");
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    let location = set.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with("/schedules?moved="), "{location}");
    let (_, schedules) = page(&office, &app, &location).await;
    assert!(
        schedules.contains("巡检周期已设定")
            && schedules.contains(&format!("<td class=\"code\">{village}</td>"))
            && schedules.contains("<td class=\"num every-days\">45</td>"),
        "{schedules}"
    );
    // Both tables download as the page shows them, the schedules without their remove
    // buttons; a table the page does not have is a 400.
    let set = first_sheet(&office, &app, &export_path(&schedules, Some("schedules"))).await;
    let (headers, rows) = page_table(&schedules, "schedules");
    assert_eq!(set[0], headers[..4]);
    let shown: Vec<Vec<String>> = rows.iter().map(|row| row[..4].to_vec()).collect();
    assert_eq!(set[1..], shown[..]);
    assert_eq!(set[1][1..], [village.as_str(), "防空警报器", "45"]);
    let defaults = download_matches_page(
        &office,
        &app,
        &schedules,
        Some("schedule-defaults"),
        "schedule-defaults",
    )
    .await;
    assert!(
        defaults.iter().any(|row| row[0] == "防空警报器"),
        "{defaults:?}"
    );
    let unknown = office
        .get(app.url("/schedules?table=calendar&format=xlsx"))
        .send()
        .await
        .expect("get");
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let refused = office
        .post(app.url("/schedules"))
        .form(&[
            ("csrf", office_csrf.as_str()),
            ("region_code", village.as_str()),
            ("kind", "siren"),
            ("every_days", "0"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = refused.text().await.expect("text");
    assert!(
        body.contains("id=\"problem-every_days\"") && body.contains("巡检间隔应为 1 至 366 天"),
        "{body}"
    );

    // A viewer reads the schedules without a form; storage refuses their post.
    let (status, schedules) = page(&viewer, &app, "/schedules").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!schedules.contains("id=\"schedule-form\""), "{schedules}");
    let forbidden = viewer
        .post(app.url("/schedules"))
        .form(&[
            ("csrf", viewer_csrf.as_str()),
            ("region_code", village.as_str()),
            ("kind", "siren"),
            ("every_days", "10"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert!(
        !schedules.contains("class=\"inline remove-schedule\""),
        "a viewer removes nothing"
    );

    // The office removes the village's schedule: the sirens fall back to their default.
    let (_, schedules) = page(&office, &app, "/schedules").await;
    assert!(
        schedules.contains("class=\"inline remove-schedule\""),
        "{schedules}"
    );
    let remove = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("region_code", village.clone()),
            ("kind", "siren".to_owned()),
        ]
    };
    let stale = office
        .post(app.url("/schedules/remove"))
        .form(&remove("stale"))
        .send()
        .await
        .expect("post");
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    let removed = office
        .post(app.url("/schedules/remove"))
        .form(&remove(&office_csrf))
        .send()
        .await
        .expect("post");
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    let (_, schedules) = page(&office, &app, "/schedules").await;
    assert!(schedules.contains("本辖区尚未设定巡检周期"), "{schedules}");
    let again = office
        .post(app.url("/schedules/remove"))
        .form(&remove(&office_csrf))
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "already removed");

    // The same through the API: set, then removed, saying how many due days moved.
    let office_token = app.token_for("office").await;
    let api = reqwest::Client::new();
    let set = api
        .put(app.url("/api/v1/schedules"))
        .bearer_auth(&office_token)
        .json(&serde_json::json!({ "region_code": village, "kind": "siren", "every_days": 45 }))
        .send()
        .await
        .expect("put");
    assert_eq!(set.status(), StatusCode::OK);
    let removed = api
        .delete(app.url(&format!(
            "/api/v1/schedules?region_code={village}&kind=siren"
        )))
        .bearer_auth(&office_token)
        .send()
        .await
        .expect("delete");
    assert_eq!(removed.status(), StatusCode::OK);
    let outcome: serde_json::Value = removed.json().await.expect("json");
    assert!(outcome["facilities_moved"].is_u64(), "{outcome}");
    let again = api
        .delete(app.url(&format!(
            "/api/v1/schedules?region_code={village}&kind=siren"
        )))
        .bearer_auth(&office_token)
        .send()
        .await
        .expect("delete");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

/// The patrol routes the API lists for `token`.
async fn stored_routes(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, routes) = get(app, token, "/api/v1/patrol-routes").await;
    assert_eq!(status, StatusCode::OK, "{routes}");
    routes.as_array().cloned().expect("a list of routes")
}

/// The campaigns the API lists for `token`.
async fn stored_campaigns(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, campaigns) = get(app, token, "/api/v1/campaigns").await;
    assert_eq!(status, StatusCode::OK, "{campaigns}");
    campaigns.as_array().cloned().expect("a list of campaigns")
}

on_both!(
    patrol_routes_and_campaigns_on_the_pages,
    spawn_demo,
    patrol_pages_story
);
async fn patrol_pages_story(app: TestApp) {
    // A grid with the grid member and a car park whose sign is missing, in the grid
    // member's village; the workstation's township holds it.
    let car_park = common::grid_and_car_park(&app).await;
    let grid_token = app.token_for("grid").await;
    let (_, villages) = get(&app, &grid_token, "/api/v1/regions?level=village&limit=1").await;
    let village = villages[0]["code"]
        .as_str()
        .expect("the grid member's village")
        .to_owned();
    let village_name = villages[0]["name"]
        .as_str()
        .expect("the village's name")
        .to_owned();
    let township = village[..9].to_owned();
    let workstation_token = app.token_for("workstation").await;
    let (_, grids) = get(&app, &workstation_token, "/api/v1/grids").await;
    let grid_id = grids[0]["id"].as_i64().expect("the grid");

    // The workstation's patrols page has the route form and the campaigns tab.
    let (workstation, csrf) = app.signed_in("workstation", "zh-CN").await;
    let (status, patrols) = page(&workstation, &app, "/patrols").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        patrols.contains("id=\"route-form\"")
            && patrols.contains("href=\"/campaigns\"")
            && patrols.contains("暂无巡查路线")
            && patrols.contains(&format!("<option value=\"{grid_id}\">")),
        "{patrols}"
    );
    let route_fields = |csrf: &str, checkpoints: &str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", csrf.to_owned()),
            ("region_code", village.clone()),
            ("grid_id", grid_id.to_string()),
            ("name", "夜间巡查".to_owned()),
            ("window_minutes", "90".to_owned()),
            ("checkpoints", checkpoints.to_owned()),
        ]
    };

    // A checkpoint line without its longitude: refused beside the checkpoints, naming the
    // line as the reader counts it (the blank line too), with what was typed kept; nothing
    // is stored.
    let short_line = "EAST-01 | 东门 | 31.82 | 117.23\n\nNORTH-02 | 北门 | 31.83";
    let refused = workstation
        .post(app.url("/patrols"))
        .form(&route_fields(&csrf, short_line))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = refused.text().await.expect("text");
    let problem =
        problem_beside(&refused, "checkpoints").expect("a problem beside the checkpoints");
    assert!(
        problem.contains("第 3 行") && problem.contains("NORTH-02"),
        "{problem}"
    );
    assert!(
        refused.contains("role=\"alert\"")
            && refused.contains("value=\"夜间巡查\"")
            && refused.contains("NORTH-02 | 北门 | 31.83</textarea>")
            && refused.contains(&format!("<option value=\"{grid_id}\" selected>")),
        "{refused}"
    );
    assert!(stored_routes(&app, &workstation_token).await.is_empty());

    // Without the CSRF field's value, nothing is taken either.
    let stale = workstation
        .post(app.url("/patrols"))
        .form(&route_fields(
            "stale",
            "EAST-01 | 东门 | 31.82 | 117.23\nNORTH-02 | 北门 | 31.83 | 117.24",
        ))
        .send()
        .await
        .expect("post");
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    assert!(stored_routes(&app, &workstation_token).await.is_empty());

    // The route, set up (post, redirect, get), with full-width separators on one line.
    let checkpoints = "EAST-01 | 东门 | 31.82 | 117.23\n\nNORTH-02 ｜ 北门 ｜ 31.83 ｜ 117.24";
    let created = workstation
        .post(app.url("/patrols"))
        .form(&route_fields(&csrf, checkpoints))
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let location = created.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with("/patrols?done=route#route-"),
        "{location}"
    );
    let (status, patrols) = page(&workstation, &app, "/patrols?done=route").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        patrols.contains("巡查路线已设定")
            && patrols.contains("夜间巡查")
            && patrols.contains("东门")
            && patrols.contains("<code class=\"checkpoint-code\">NORTH-02</code>"),
        "{patrols}"
    );
    let routes = stored_routes(&app, &workstation_token).await;
    assert_eq!(routes.len(), 1, "{routes:?}");
    let route_id = routes[0]["id"].as_i64().expect("route id");
    assert!(
        location.ends_with(&format!("#route-{route_id}")),
        "{location}"
    );
    assert_eq!(routes[0]["name"], "夜间巡查");
    assert_eq!(routes[0]["region_code"], json!(village));
    assert_eq!(routes[0]["grid_id"], json!(grid_id));
    assert_eq!(routes[0]["window_minutes"], 90);
    let stored: Value = serde_json::from_str(
        routes[0]["checkpoints"]
            .as_str()
            .expect("the checkpoints as JSON text"),
    )
    .expect("JSON");
    assert_eq!(
        stored,
        json!([
            { "code": "EAST-01", "name": "东门", "latitude": 31.82, "longitude": 117.23 },
            { "code": "NORTH-02", "name": "北门", "latitude": 31.83, "longitude": 117.24 },
        ])
    );

    // The grid member walks it: the route and its checkpoints' names, no codes and no
    // form; storage refuses their post; checking in still works.
    let (grid, grid_csrf) = app.signed_in("grid", "zh-CN").await;
    let (status, patrols) = page(&grid, &app, "/patrols").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        patrols.contains("夜间巡查")
            && patrols.contains("北门")
            && !patrols.contains("checkpoint-code")
            && !patrols.contains("id=\"route-form\""),
        "{patrols}"
    );
    let refused = grid
        .post(app.url("/patrols"))
        .form(&route_fields(&grid_csrf, checkpoints))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .expect("text")
            .contains("您无权执行此操作"),
        "the refusal is said in Chinese"
    );
    assert_eq!(stored_routes(&app, &workstation_token).await.len(), 1);
    let checked = grid
        .post(app.url(&format!("/patrols/{route_id}/check-ins")))
        .form(&[("csrf", grid_csrf.as_str()), ("code", "east-01")])
        .send()
        .await
        .expect("check in")
        .text()
        .await
        .expect("text");
    // What is left is said by name: the code is read on the plate at the checkpoint.
    assert!(
        checked.contains("EAST-01 ✓") && checked.contains("北门") && !checked.contains("NORTH-02"),
        "{checked}"
    );
    // Nor does the API give the grid member the codes.
    let grid_token = app.token_for("grid").await;
    let (status, listed) = get(&app, &grid_token, "/api/v1/patrol-routes").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let listed = listed.to_string();
    assert!(
        listed.contains("北门") && !listed.contains("EAST-01") && !listed.contains("NORTH-02"),
        "{listed}"
    );

    // The workstation changes the route. Its change form holds the route as stored; while
    // the grid member's patrol is under way, a change is refused (422 on the page, the form
    // open with what was typed; 409 from the API) and so is retiring it.
    let (_, patrols) = page(&workstation, &app, "/patrols").await;
    assert!(
        patrols.contains(&format!("action=\"/patrols/{route_id}\""))
            && patrols.contains(
                "EAST-01 | 东门 | 31.82 | 117.23\nNORTH-02 | 北门 | 31.83 | 117.24</textarea>"
            ),
        "{patrols}"
    );
    let change_fields =
        |csrf: &str, name: &str, checkpoints: &str| -> Vec<(&'static str, String)> {
            vec![
                ("csrf", csrf.to_owned()),
                ("name", name.to_owned()),
                ("window_minutes", "45".to_owned()),
                ("checkpoints", checkpoints.to_owned()),
            ]
        };
    let under_way = workstation
        .post(app.url(&format!("/patrols/{route_id}")))
        .form(&change_fields(
            &csrf,
            "东线夜巡",
            "EAST-01 | 东门 | 31.82 | 117.23",
        ))
        .send()
        .await
        .expect("post");
    assert_eq!(under_way.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let under_way = under_way.text().await.expect("text");
    assert!(
        under_way.contains("巡查路线“夜间巡查”未能修改")
            && under_way.contains("尚在进行")
            && under_way.contains("<details class=\"route-change\" open>")
            && under_way.contains("value=\"东线夜巡\""),
        "{under_way}"
    );
    let path = format!("/api/v1/patrol-routes/{route_id}");
    let (status, body) = send(
        &app,
        Some(&workstation_token),
        reqwest::Method::PATCH,
        &path,
        Some(&json!({ "name": "东线夜巡", "window_minutes": 45,
            "checkpoints": [{ "code": "EAST-01", "name": "东门", "latitude": 31.82, "longitude": 117.23 }] })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Once the patrol is checked, the change goes through (post, redirect, get); a bad one
    // names its line; the API reads the route back changed.
    app.db
        .sweep_patrols(muster_storage::now().plus_millis(91 * 60_000), "log")
        .await
        .expect("sweep");
    let bad = workstation
        .post(app.url(&format!("/patrols/{route_id}")))
        .form(&change_fields(&csrf, "东线夜巡", "EAST-01 | 东门 | 31.82"))
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.expect("text").contains("第 1 行"));
    let changed = workstation
        .post(app.url(&format!("/patrols/{route_id}")))
        .form(&change_fields(
            &csrf,
            "东线夜巡",
            "EAST-01 | 东门 | 31.82 | 117.23",
        ))
        .send()
        .await
        .expect("post");
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        changed.headers()["location"],
        format!("/patrols?done=changed#route-{route_id}").as_str()
    );
    let (_, patrols) = page(&workstation, &app, "/patrols?done=changed").await;
    assert!(
        patrols.contains("巡查路线已修改") && patrols.contains("东线夜巡"),
        "{patrols}"
    );
    let (status, route) = get(&app, &workstation_token, &path).await;
    assert_eq!(status, StatusCode::OK, "{route}");
    assert_eq!(
        (route["name"].clone(), route["window_minutes"].clone()),
        (json!("东线夜巡"), json!(45))
    );
    // The grid member may not change it, by page or by API.
    let (status, _) = send(
        &app,
        Some(&grid_token),
        reqwest::Method::PATCH,
        &path,
        Some(&json!({ "name": "x", "window_minutes": 45,
            "checkpoints": [{ "code": "EAST-01", "name": "东门", "latitude": 31.82, "longitude": 117.23 }] })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Retired on the page: gone from the list, read back retired, not retired twice.
    let retired = workstation
        .post(app.url(&format!("/patrols/{route_id}/retire")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(retired.status(), StatusCode::SEE_OTHER);
    let (_, patrols) = page(&workstation, &app, "/patrols?done=retired").await;
    assert!(
        patrols.contains("巡查路线已停用") && !patrols.contains("东线夜巡"),
        "{patrols}"
    );
    assert!(stored_routes(&app, &workstation_token).await.is_empty());
    let (_, route) = get(&app, &workstation_token, &path).await;
    assert!(route["retired_at"].is_i64(), "{route}");
    let (status, _) = send(
        &app,
        Some(&workstation_token),
        reqwest::Method::DELETE,
        &path,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Campaigns: none yet, and the form for the workstation.
    let (status, campaigns) = page(&workstation, &app, "/campaigns").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        campaigns.contains("id=\"campaign-form\"")
            && campaigns.contains("本辖区尚无专项行动")
            && campaigns.contains("href=\"/campaigns\" aria-current=\"page\""),
        "{campaigns}"
    );
    let today = muster_storage::now().date();
    let campaign_fields = |csrf: &str, target_date: String| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", csrf.to_owned()),
            ("name", "车库标识专项".to_owned()),
            ("region_code", township.clone()),
            ("facility_kind", "basement_car_park".to_owned()),
            ("target", "sign_installed".to_owned()),
            ("start", today.to_string()),
            ("target_date", target_date),
        ]
    };

    // A target date before the start: storage's refusal beside the target date, in
    // Chinese, with the name kept; nothing is stored.
    let refused = workstation
        .post(app.url("/campaigns"))
        .form(&campaign_fields(&csrf, today.plus_days(-1).to_string()))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = refused.text().await.expect("text");
    assert_eq!(
        problem_beside(&refused, "target_date").as_deref(),
        Some("目标日期不能早于开始日期"),
        "{refused}"
    );
    assert!(refused.contains("value=\"车库标识专项\""), "{refused}");
    assert!(stored_campaigns(&app, &workstation_token).await.is_empty());

    // The campaign, started (post, redirect to its progress page): the village's one car
    // park, its sign not yet up.
    let created = workstation
        .post(app.url("/campaigns"))
        .form(&campaign_fields(&csrf, today.plus_days(365).to_string()))
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let location = created.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let campaign_path = location
        .strip_suffix("?done=created")
        .expect("the progress page, saying the campaign was started")
        .to_owned();
    let stored = stored_campaigns(&app, &workstation_token).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        campaign_path,
        format!("/campaigns/{}", stored[0]["id"].as_i64().expect("id"))
    );
    assert_eq!(stored[0]["region_code"], json!(township));
    assert_eq!(stored[0]["facility_kind"], "basement_car_park");
    assert_eq!(stored[0]["target"], "sign_installed");
    let (status, progress) = page(&workstation, &app, &location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        progress.contains("专项行动已发起")
            && progress.contains("车库标识专项")
            && progress.contains("人防地下车库")
            && progress.contains("设置标识")
            && progress.contains(&village_name)
            && progress.contains(&format!("<td class=\"code\">{village}</td>"))
            && progress.contains("<td class=\"num region-total\">1</td>")
            && progress.contains("<td class=\"num region-done\">0</td>")
            && progress.contains("尚无进展"),
        "{progress}"
    );
    let (_, campaigns) = page(&workstation, &app, "/campaigns").await;
    assert!(
        campaigns.contains(&format!("href=\"{campaign_path}\""))
            && campaigns.contains(&format!("<td class=\"code\">{township}</td>")),
        "{campaigns}"
    );

    // The list and the progress by region download as their pages show them, in Chinese;
    // the progress's percentages as numbers, and its total row last.
    let listed = download_matches_page(&workstation, &app, &campaigns, None, "campaigns").await;
    assert_eq!(
        listed[1..],
        [vec![
            "车库标识专项".to_owned(),
            township.clone(),
            "人防地下车库".to_owned(),
            "设置标识".to_owned(),
            today.to_string(),
            today.plus_days(365).to_string()
        ]]
    );
    let by_region = |sheet: &[Vec<String>], html: &str| {
        let (headers, rows) = page_table(html, "campaign-regions");
        assert_eq!(sheet[0][..4], headers[..4]);
        assert_eq!(sheet[0][4], format!("{} (%)", headers[4]));
        let shown: Vec<Vec<String>> = sheet[1..sheet.len() - 1]
            .iter()
            .map(|row| {
                let mut row = row.clone();
                row[4].push('%');
                row
            })
            .collect();
        assert_eq!(shown, rows);
    };
    let regions = first_sheet(&workstation, &app, &export_path(&progress, None)).await;
    by_region(&regions, &progress);
    assert_eq!(
        regions[1..],
        [
            vec![village_name.as_str(), village.as_str(), "1", "0", "0"],
            vec!["合计", "", "1", "0", "0"]
        ]
    );

    // The sign goes up: the campaign is done, on time; the office reads it in English and
    // finds it linked from the dashboard.
    let office_token = app.token_for("office").await;
    let (status, signed) = post(
        &app,
        &office_token,
        &format!("/api/v1/facilities/{car_park}/sign"),
        json!({ "sign_status": "installed" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    let (office, _) = app.signed_in("office", "en").await;
    let (status, progress) = page(&office, &app, &campaign_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        progress.contains("Progress by region")
            && progress.contains("Sign installed")
            && progress.contains("Basement car park")
            && progress.contains("<td class=\"num region-done\">1</td>")
            && progress.contains("<td class=\"num region-percent\">100%</td>")
            && progress.contains("on track"),
        "{progress}"
    );
    let (_, dashboard) = page(&office, &app, "/facilities").await;
    assert!(
        dashboard.contains(&format!("href=\"{campaign_path}\"")),
        "{dashboard}"
    );
    let regions = first_sheet(&office, &app, &export_path(&progress, None)).await;
    by_region(&regions, &progress);
    assert_eq!(
        regions.last().map(Vec::as_slice),
        Some(&["Total", "", "1", "1", "100"].map(str::to_owned)[..])
    );
    // The dashboard's campaigns: its "done / total (percent)" as three numbers.
    let listed = first_sheet(&office, &app, &export_path(&dashboard, Some("campaigns"))).await;
    let (headers, rows) = page_table(&dashboard, "campaigns");
    assert_eq!(
        listed[0],
        [
            "Campaign",
            "Done",
            "Facilities",
            "Progress (%)",
            "Target date",
            "Forecast completion"
        ]
    );
    assert_eq!(
        headers,
        ["Campaign", "Progress", "Target date", "Forecast completion"]
    );
    let shown: Vec<Vec<String>> = listed[1..]
        .iter()
        .map(|r| {
            vec![
                r[0].clone(),
                format!("{} / {} ({}%)", r[1], r[2], r[3]),
                r[4].clone(),
                r[5].clone(),
            ]
        })
        .collect();
    assert_eq!(shown, rows);
    assert_eq!(listed[1][..4], ["车库标识专项", "1", "1", "100"]);

    // A viewer reads the campaign without a form; storage refuses their post.
    let (viewer, viewer_csrf) = app.signed_in("viewer", "zh-CN").await;
    let (status, campaigns) = page(&viewer, &app, "/campaigns").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        campaigns.contains("车库标识专项") && !campaigns.contains("id=\"campaign-form\""),
        "{campaigns}"
    );
    let (status, _) = page(&viewer, &app, &campaign_path).await;
    assert_eq!(status, StatusCode::OK);
    let refused = viewer
        .post(app.url("/campaigns"))
        .form(&campaign_fields(
            &viewer_csrf,
            today.plus_days(365).to_string(),
        ))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .expect("text")
            .contains("您无权执行此操作"),
        "the refusal is said in Chinese"
    );
    assert_eq!(stored_campaigns(&app, &workstation_token).await.len(), 1);
    let (status, _) = page(&workstation, &app, "/campaigns/987654321").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The viewer's page has no edit form and their post is refused; the workstation renames
    // the campaign and gives it more time, through the page and through the API.
    let (_, viewed) = page(&viewer, &app, &campaign_path).await;
    assert!(!viewed.contains("id=\"campaign-edit\""), "{viewed}");
    let edit = |client: &reqwest::Client, csrf: &str, name: &str, date: String| {
        client
            .post(app.url(&campaign_path))
            .form(&[
                ("csrf", csrf.to_owned()),
                ("name", name.to_owned()),
                ("target_date", date),
            ])
            .send()
    };
    let refused = edit(
        &viewer,
        &viewer_csrf,
        "改名",
        today.plus_days(400).to_string(),
    )
    .await
    .expect("post");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let (_, shown) = page(&workstation, &app, &campaign_path).await;
    assert!(
        shown.contains("id=\"campaign-edit\"")
            && shown.contains(&format!("value=\"{}\"", today.plus_days(365))),
        "{shown}"
    );
    let saved = edit(
        &workstation,
        &csrf,
        "车库标识专项（延期）",
        today.plus_days(400).to_string(),
    )
    .await
    .expect("post");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        saved.headers()["location"],
        format!("{campaign_path}?done=updated").as_str()
    );
    let (_, shown) = page(&workstation, &app, &format!("{campaign_path}?done=updated")).await;
    assert!(
        shown.contains("专项行动已修改") && shown.contains("车库标识专项（延期）"),
        "{shown}"
    );
    let id = stored[0]["id"].as_i64().expect("id");
    let patched = reqwest::Client::new()
        .patch(app.url(&format!("/api/v1/campaigns/{id}")))
        .bearer_auth(&workstation_token)
        .json(&json!({ "name": "车库标识专项", "target_date": today.plus_days(-1).to_string() }))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let stored = stored_campaigns(&app, &workstation_token).await;
    assert_eq!(
        stored[0]["name"], "车库标识专项（延期）",
        "nothing refused is stored"
    );

    // Removed through the page, back to the list with a notice; the API then finds nothing.
    let removed = workstation
        .post(app.url(&format!("{campaign_path}/remove")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    let (_, campaigns) = page(&workstation, &app, "/campaigns?done=removed").await;
    assert!(campaigns.contains("专项行动已删除"), "{campaigns}");
    assert!(stored_campaigns(&app, &workstation_token).await.is_empty());
    let gone = reqwest::Client::new()
        .delete(app.url(&format!("/api/v1/campaigns/{id}")))
        .bearer_auth(&workstation_token)
        .send()
        .await
        .expect("delete");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
