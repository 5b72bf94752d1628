//! On-site verification over HTTP, on both databases: a reproducible draw, assignment,
//! findings that verify, correct and reopen records, the figures, refusals by role and scope,
//! and the pages (draw form, sample, the verifier's list with its finding form, accuracy,
//! freshness) in both languages, with their downloads.

mod common;

use common::TestApp;
use muster_storage::blobs::samples::{Format, image_bytes};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

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

async fn send_json(
    app: &TestApp,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_json(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    send_json(app, reqwest::Method::POST, token, path, body).await
}

async fn user_id(app: &TestApp, token: &str) -> i64 {
    let (_, me) = get_json(app, token, "/api/v1/me").await;
    me["user"]["id"].as_i64().expect("my id")
}

fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|i| i["record_id"].as_i64().expect("record id"))
        .collect()
}

on_both!(verification_api, spawn_demo, api_story);
async fn api_story(app: TestApp) {
    app.seed_records().await;
    let office = app.token_for("office").await;
    let liaison = app.token_for("liaison").await;
    let admin = app.token_for("admin").await;
    let viewer = app.token_for("viewer").await;
    let grid = app.token_for("grid").await;

    // The same seed previews the same sample, and the draw stores it.
    let request = json!({ "method": "stratified", "count": 2, "seed": 9 });
    let (status, preview) = post_json(
        &app,
        &office,
        "/api/v1/verification/samples/preview",
        request.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let (_, again) = post_json(
        &app,
        &office,
        "/api/v1/verification/samples/preview",
        request.clone(),
    )
    .await;
    assert_eq!(preview, again);
    let (status, sample) = post_json(
        &app,
        &office,
        "/api/v1/verification/samples",
        request.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sample}");
    assert_eq!(sample["seed"], 9);
    assert_eq!(sample["parameters"]["count"], 2);
    let id = sample["id"].as_i64().expect("id");
    let (status, detail) =
        get_json(&app, &office, &format!("/api/v1/verification/samples/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let drawn = ids(&detail["items"]);
    let previewed: Vec<i64> = serde_json::from_value(preview["record_ids"].clone()).expect("ids");
    assert_eq!(drawn, previewed);
    assert!(drawn.len() >= 2);

    // Bad requests and refusals.
    for bad in [
        json!({ "method": "stratified", "percent": 140.0 }),
        json!({ "method": "stratified" }),
        json!({ "method": "lottery", "count": 1 }),
        json!({ "method": "risk" }),
        json!({ "method": "stratified", "count": 1, "tolerance": 0.5, "reopen_above": 0.1 }),
    ] {
        let (status, problem) =
            post_json(&app, &office, "/api/v1/verification/samples", bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} gave {problem}");
    }
    let (status, _) = post_json(
        &app,
        &viewer,
        "/api/v1/verification/samples",
        request.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The county viewer does not see the city's sample.
    let (status, _) = get_json(&app, &viewer, &format!("/api/v1/verification/samples/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Assignment: a village grid member cannot verify a city sample; the city's two can.
    let assign = format!("/api/v1/verification/samples/{id}/assign");
    let (status, _) = post_json(
        &app,
        &office,
        &assign,
        json!({ "verifiers": [user_id(&app, &grid).await] }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let office_id = user_id(&app, &office).await;
    let liaison_id = user_id(&app, &liaison).await;
    let (status, _) = post_json(
        &app,
        &liaison,
        &assign,
        json!({ "verifiers": [liaison_id] }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, assigned) = post_json(
        &app,
        &office,
        &assign,
        json!({ "verifiers": [office_id, liaison_id] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(assigned["assigned"].as_u64(), Some(drawn.len() as u64));

    let (_, mine) = get_json(&app, &liaison, "/api/v1/verification/mine").await;
    let (_, office_mine) = get_json(&app, &office, "/api/v1/verification/mine").await;
    let (mine_n, office_n) = (ids(&mine).len(), ids(&office_mine).len());
    assert_eq!(mine_n + office_n, drawn.len());
    assert!(mine_n.abs_diff(office_n) <= 1, "balanced");

    // Findings: exact, then half of what was reported (corrected and reopened).
    let first = &mine[0];
    let record = first["record_id"].as_i64().expect("record");
    let finding = format!("/api/v1/verification/samples/{id}/items/{record}/finding");
    let reported = first["reported_quantity"].as_f64().expect("quantity");
    let exact = json!({ "quantity_seen": reported, "location_right": true, "type_right": true });
    let (status, _) = post_json(&app, &office, &finding, exact.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not the office's item");
    // Photos are the verifier's own finished uploads, named by upload id.
    let photo = image_bytes(320, 240, Format::Jpeg);
    let upload_id = common::upload(&app, &liaison, &photo).await;
    let sha = hex::encode(Sha256::digest(&photo));
    let with_photo = json!({ "quantity_seen": reported, "location_right": true, "type_right": true,
        "photo_uploads": [upload_id] });
    let (status, problem) = post_json(&app, &office, &finding, with_photo.clone()).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "another's upload: {problem}"
    );
    assert_eq!(problem["field"], "photo_uploads[0]", "{problem}");
    let (status, _) = post_json(
        &app,
        &liaison,
        &finding,
        json!({ "quantity_seen": reported, "location_right": true, "type_right": true,
            "photos": ["IMG_1.jpg"] }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "file names are no photos, and not silently dropped"
    );
    let (status, outcome) = post_json(&app, &liaison, &finding, with_photo.clone()).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["accurate"], true);
    let (status, _) = post_json(&app, &liaison, &finding, with_photo).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, items) = get_json(
        &app,
        &liaison,
        &format!("/api/v1/verification/samples/{id}"),
    )
    .await;
    let item = items["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["record_id"].as_i64() == Some(record))
        .expect("the checked item");
    assert_eq!(item["photos"], json!([sha]), "{item}");
    // The photo is served to whoever reads the sample, and to no one else.
    let served = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/files/{sha}")))
        .bearer_auth(&office)
        .send()
        .await
        .expect("photo");
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(
        served.bytes().await.expect("bytes").as_ref(),
        photo.as_slice()
    );
    let hidden = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/files/{sha}")))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("photo");
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND, "the county viewer");
    let (_, checked) = get_json(
        &app,
        &liaison,
        &format!("/api/v1/potential/records/{record}"),
    )
    .await;
    assert!(checked["last_verified_at"].is_i64(), "{checked}");

    let second = &office_mine[0];
    let record_2 = second["record_id"].as_i64().expect("record");
    let reported_2 = second["reported_quantity"].as_f64().expect("quantity");
    let (status, outcome) = post_json(
        &app,
        &office,
        &format!("/api/v1/verification/samples/{id}/items/{record_2}/finding"),
        json!({ "quantity_seen": reported_2 / 2.0, "location_right": true, "type_right": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["reopened"], true);
    assert_eq!(outcome["corrected_to"].as_f64(), Some(reported_2 / 2.0));

    // The figures.
    let (status, accuracy) = get_json(
        &app,
        &office,
        &format!("/api/v1/verification/accuracy?sample={id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{accuracy}");
    assert_eq!(
        (
            accuracy["total"]["checked"].as_u64(),
            accuracy["total"]["accurate"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let (status, units) = get_json(&app, &office, "/api/v1/verification/credibility").await;
    assert_eq!(status, StatusCode::OK);
    let checks: u64 = units
        .as_array()
        .expect("units")
        .iter()
        .map(|u| u["checked"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(checks, 2);
    let (status, freshness) = get_json(&app, &office, "/api/v1/verification/freshness").await;
    assert_eq!(status, StatusCode::OK, "{freshness}");
    assert_eq!(freshness["total"]["fresh"], 1);
    assert_eq!(freshness["stale_after_days"], 365);
    let (status, _) = get_json(
        &app,
        &office,
        "/api/v1/verification/freshness?stale_after_days=0",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, stale) = get_json(&app, &office, "/api/v1/verification/stale?limit=5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stale.as_array().map(Vec::len), Some(5));

    // The stale period is an administrator's setting.
    let (status, _) = send_json(
        &app,
        reqwest::Method::PUT,
        &office,
        "/api/v1/verification/settings",
        json!({ "stale_after_days": 30 }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send_json(
        &app,
        reqwest::Method::PUT,
        &admin,
        "/api/v1/verification/settings",
        json!({ "stale_after_days": 30 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, settings) = get_json(&app, &office, "/api/v1/verification/settings").await;
    assert_eq!(settings["stale_after_days"], 30);

    // The OpenAPI document describes the routes.
    let (_, openapi) = get_json(&app, &office, "/api/v1/openapi.json").await;
    assert!(openapi["paths"]["/verification/samples/{id}/items/{record_id}/finding"].is_object());
    app.stop().await;
}

/// Text as a page escapes it, unescaped.
fn unescape(html: &str) -> String {
    html.replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
}

/// The body rows of the page's table of `class`, each cell's text without its markup.
fn table_rows(html: &str, class: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table class=\"{class}\""))
        .unwrap_or_else(|| panic!("no {class} table: {html}"));
    let table = &html[start..];
    let table = &table[..table.find("</table>").expect("the table ends")];
    let body = &table[table.find("<tbody>").expect("a body")..];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let inner = &cell[cell.find('>').expect("a cell") + 1..];
                    let inner = &inner[..inner.find("</td>").unwrap_or(inner.len())];
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in inner.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    unescape(text.trim())
                })
                .collect()
        })
        .collect()
}

/// The CSV and XLSX links a page shows above the table `table=` names (None: the page's
/// first table, whose links name none).
fn export_links(html: &str, table: Option<&str>) -> [String; 2] {
    ["export-csv", "export-xlsx"].map(|class| {
        html.split(&format!("class=\"{class}\" href=\""))
            .skip(1)
            .map(|rest| unescape(rest.split('"').next().expect("an href")))
            .find(|href| match table {
                Some(table) => href.contains(&format!("table={table}&")),
                None => !href.contains("table="),
            })
            .unwrap_or_else(|| panic!("no {class} link for {table:?}: {html}"))
    })
}

/// Downloads both links, checks each is the format it says, and reads each back: the rows
/// of its first sheet, header first.
async fn download_both(
    client: &reqwest::Client,
    app: &TestApp,
    links: &[String; 2],
) -> [Vec<Vec<String>>; 2] {
    let mut sheets = [Vec::new(), Vec::new()];
    for (link, sheet) in links.iter().zip(&mut sheets) {
        let response = client.get(app.url(link)).send().await.expect("download");
        assert_eq!(response.status(), StatusCode::OK, "{link}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .to_owned();
        let expected = if link.ends_with("format=csv") {
            "text/csv"
        } else {
            "spreadsheetml"
        };
        assert!(content_type.contains(expected), "{link}: {content_type}");
        let workbook = muster_domain::sheet::read_workbook(&response.bytes().await.expect("bytes"))
            .expect("a readable file");
        *sheet = workbook.sheets[0]
            .rows
            .iter()
            .map(|row| row.cells.clone())
            .collect();
    }
    sheets
}

on_both!(verification_pages, spawn_demo, pages_story);
async fn pages_story(app: TestApp) {
    let seeded = app.seed_records().await;
    let (office, csrf) = app.signed_in("office", "en").await;
    let page = office
        .get(app.url("/verification"))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("Draw a sample"), "the office may draw");

    // A refused draw shows the form again with the reason.
    let refused = office
        .post(app.url("/verification/samples"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "stratified"),
            ("size_kind", "percent"),
            ("size", "140"),
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
            .contains("role=\"alert\"")
    );
    // And in Chinese on the Chinese page.
    let (chinese, chinese_csrf) = app.signed_in("office", "zh-CN").await;
    for (size_kind, size, said) in [
        ("percent", "140", "比例应为 0 到 100 之间的数"),
        ("count", "many", "应为数字"),
    ] {
        let refused = chinese
            .post(app.url("/verification/samples"))
            .form(&[
                ("csrf", chinese_csrf.as_str()),
                ("method", "stratified"),
                ("size_kind", size_kind),
                ("size", size),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = refused.text().await.expect("html");
        assert!(html.contains(said), "{size_kind} {size}: {html}");
    }

    let drawn = office
        .post(app.url("/verification/samples"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "stratified"),
            ("size_kind", "count"),
            ("size", "1"),
            ("seed", "77"),
            ("tolerance", "5"),
            ("reopen_above", "20"),
        ])
        .send()
        .await
        .expect("draw");
    assert_eq!(drawn.status(), StatusCode::SEE_OTHER);
    let location = drawn.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with("/verification/samples/"), "{location}");
    let html = common::page_text(&office, &app, &location).await;
    assert!(html.contains("id=\"sample-seed\">77<"), "the seed is shown");
    assert!(
        html.contains("name=\"verifier\""),
        "the assignment form lists verifiers"
    );

    // Downloads.
    let csv = office
        .get(app.url(&format!("{location}?format=csv")))
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv")
    );
    // The items as the page lists them: region and type by name beside their codes, the
    // site, the status in words, and why each was drawn (a stratified draw gives no reason).
    let items = muster_domain::sheet::read_workbook(&csv.bytes().await.expect("bytes"))
        .expect("reads back");
    let header = &items.sheets[0].rows[0].cells;
    assert_eq!(header.len(), 20, "{header:?}");
    assert_eq!(header[19], "Why drawn", "{header:?}");
    for row in &items.sheets[0].rows[1..] {
        assert_ne!(
            row.cell(1),
            row.cell(2),
            "a region's name beside its code: {row:?}"
        );
        assert_ne!(
            row.cell(3),
            row.cell(4),
            "a type's name beside its code: {row:?}"
        );
        assert_eq!(row.cell(10), "Drawn", "{row:?}");
    }
    let xlsx = office
        .get(app.url(&format!("{location}?format=xlsx")))
        .send()
        .await
        .expect("xlsx");
    assert!(
        xlsx.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .contains("spreadsheetml")
    );

    // The list of samples downloads as the index page shows it.
    let index = common::page_text(&office, &app, "/verification").await;
    assert!(
        index.contains("href=\"/verification?format=xlsx\""),
        "{index}"
    );
    let sample_id = location.trim_start_matches("/verification/samples/");
    let listed = office
        .get(app.url("/verification?format=csv"))
        .send()
        .await
        .expect("csv");
    assert_eq!(listed.status(), StatusCode::OK);
    let listed = listed.text().await.expect("text");
    assert!(
        listed
            .lines()
            .any(|line| line.starts_with(&format!("{sample_id},")) && line.contains(",77,")),
        "{listed}"
    );

    // Assign everything to the liaison through the form.
    let liaison_token = app.token_for("liaison").await;
    let liaison_id = {
        let (_, me) = get_json(&app, &liaison_token, "/api/v1/me").await;
        me["user"]["id"].as_i64().expect("id").to_string()
    };
    // No verifier ticked: the sample page again, saying so in the reader's language.
    let refused = chinese
        .post(app.url(&format!("{location}/assign")))
        .form(&[("csrf", chinese_csrf.as_str())])
        .send()
        .await
        .expect("assign");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("html");
    assert!(html.contains("请至少选择一名核查人员"), "{html}");
    let assigned = office
        .post(app.url(&format!("{location}/assign")))
        .form(&[("csrf", csrf.as_str()), ("verifier", liaison_id.as_str())])
        .send()
        .await
        .expect("assign");
    assert_eq!(assigned.status(), StatusCode::SEE_OTHER);

    // The liaison's list, in Chinese, with a finding form per item.
    let (liaison, liaison_csrf) = app.signed_in("liaison", "zh-CN").await;
    let html = common::page_text(&liaison, &app, "/verification/mine").await;
    assert!(html.contains("我的核查任务"));
    let marker = "action=\"/verification/samples/";
    let start = html.find(marker).expect("a finding form") + marker.len();
    let action = format!(
        "/verification/samples/{}",
        html[start..].split('"').next().expect("action")
    );
    let photo = image_bytes(640, 480, Format::Png);
    let photo_sha = hex::encode(Sha256::digest(&photo));
    let (content_type, body) = common::multipart_with_photos(
        &[
            ("csrf", liaison_csrf.as_str()),
            ("quantity_seen", "50"),
            ("location_right", "1"),
            ("type_right", "1"),
            ("notes", "far more than reported"),
        ],
        &[("IMG_1.png", photo.clone()), ("IMG_2.png", Vec::new())],
    );
    let saved = liaison
        .post(app.url(&action))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("finding");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        saved.headers()["location"],
        "/verification/mine?outcome=reopened"
    );
    let html = common::page_text(&liaison, &app, "/verification/mine?outcome=reopened").await;
    assert!(html.contains("id=\"finding-saved\""));
    assert!(
        html.contains(&format!("src=\"/files/{photo_sha}?thumbnail=1\"")),
        "the verifier sees the photo sent with the finding"
    );
    // The photo is on the sample's page, as a thumbnail linking to the picture.
    let sample_path = action.split("/items/").next().expect("the sample's path");
    let html = common::page_text(&office, &app, sample_path).await;
    assert!(
        html.contains(&format!("src=\"/files/{photo_sha}?thumbnail=1\"")),
        "the finding's photo on the sample page"
    );
    // Both of the sample page's tables download as shown: the items at the URL they always
    // had, the accuracy by region with `table=accuracy`.
    assert_eq!(
        export_links(&html, None),
        [
            format!("{sample_path}?format=csv"),
            format!("{sample_path}?format=xlsx")
        ]
    );
    let shown = table_rows(&html, "accuracy");
    assert!(
        shown.iter().any(|row| row[1] == "1"),
        "the finding is counted: {shown:?}"
    );
    for sheet in download_both(&office, &app, &export_links(&html, Some("accuracy"))).await {
        assert_eq!(sheet[0][2], "Checked", "{sheet:?}");
        // Region, checked and accurate as the page shows them; the file adds the code first.
        let rows: Vec<&[String]> = sheet[1..].iter().map(|row| &row[1..4]).collect();
        let shown: Vec<&[String]> = shown.iter().map(|row| &row[..3]).collect();
        assert_eq!(rows, shown);
    }
    let picture = office
        .get(app.url(&format!("/files/{photo_sha}")))
        .send()
        .await
        .expect("picture");
    assert_eq!(picture.status(), StatusCode::OK);
    assert_eq!(
        picture.bytes().await.expect("bytes").as_ref(),
        photo.as_slice()
    );
    // A finding without the form's token is refused, and so is a photo sent before it.
    let (content_type, body) =
        common::multipart_with_photos(&[("csrf", "nope"), ("quantity_seen", "1")], &[]);
    let forged = liaison
        .post(app.url(&action))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (content_type, body) = common::multipart_with_photos(&[], &[("a.png", photo.clone())]);
    let early = liaison
        .post(app.url(&action))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("photo first");
    assert_eq!(early.status(), StatusCode::FORBIDDEN);

    // Accuracy and freshness pages, and their downloads.
    for path in [
        "/verification/accuracy",
        "/verification/freshness",
        "/verification/freshness?stale_after_days=30",
    ] {
        let page = office.get(app.url(path)).send().await.expect("page");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        let html = page.text().await.expect("html");
        assert!(html.contains("child-region"), "{path} drills down");
    }
    let html = common::page_text(&office, &app, "/verification/freshness").await;
    assert!(html.contains("share-"), "shares are coloured");
    assert!(html.contains("Stale records"));
    for path in [
        "/verification/accuracy?format=csv",
        "/verification/accuracy?table=credibility&format=xlsx",
        "/verification/accuracy?table=accuracy&format=xlsx",
        "/verification/freshness?format=xlsx",
    ] {
        let download = office.get(app.url(path)).send().await.expect("download");
        assert_eq!(download.status(), StatusCode::OK, "{path}");
        assert!(
            download.headers()["content-disposition"]
                .to_str()
                .unwrap_or("")
                .contains("attachment")
        );
    }
    let unknown = office
        .get(app.url("/verification/accuracy?table=nope&format=csv"))
        .send()
        .await
        .expect("download");
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    // The freshness page's stale records download as listed, under `table=stale`; the
    // regions table keeps the page's plain links.
    let html = common::page_text(&office, &app, "/verification/freshness").await;
    let [regions_csv, _] = download_both(&office, &app, &export_links(&html, None)).await;
    assert_eq!(regions_csv[0][2], "Fresh", "{regions_csv:?}");
    let shown = table_rows(&html, "stale-records");
    assert!(
        shown
            .iter()
            .any(|row| row[3].starts_with('张') && !row[3].contains('*')),
        "the office sees people's names: {shown:?}"
    );
    for sheet in download_both(&office, &app, &export_links(&html, Some("stale"))).await {
        assert_eq!(sheet[0][3], "Holder", "{sheet:?}");
        assert_eq!(sheet[1..], shown[..]);
    }
    // With more stale records than the page lists, the page shows the first hundred and the
    // download holds every one.
    let first = &seeded[0];
    let extra: String = (0..120)
        .map(|i| {
            format!(
                "{},1,Extra depot {i},{}\n",
                first.type_code, first.region_code
            )
        })
        .collect();
    let imported = reqwest::Client::new()
        .post(app.url("/api/v1/potential/imports?file_name=extra.csv"))
        .bearer_auth(app.token_for("admin").await)
        .body(format!(
            "type_code,quantity,holder_name,region_code\n{extra}"
        ))
        .send()
        .await
        .expect("import");
    assert_eq!(imported.status(), StatusCode::CREATED);
    let html = common::page_text(&office, &app, "/verification/freshness").await;
    let [regions_csv, _] = download_both(&office, &app, &export_links(&html, None)).await;
    let stale_total: usize = regions_csv[1][3..5]
        .iter()
        .map(|n| n.parse::<usize>().expect("a count"))
        .sum();
    assert!(stale_total > 120, "{regions_csv:?}");
    let shown = table_rows(&html, "stale-records");
    assert_eq!(shown.len(), 100);
    assert!(
        html.contains(&format!("The first 100 of {stale_total} stale records")),
        "the page says it lists only the first: {html}"
    );
    for sheet in download_both(&office, &app, &export_links(&html, Some("stale"))).await {
        assert_eq!(
            sheet.len() - 1,
            stale_total,
            "every stale record, and no note of more"
        );
        assert_eq!(sheet[1..=100], shown[..], "in the page's order");
    }
    // A reader without personal data gets the names masked in the file as on the page.
    let (viewer, _) = app.signed_in("viewer", "en").await;
    let html = common::page_text(&viewer, &app, "/verification/freshness").await;
    let shown = table_rows(&html, "stale-records");
    assert!(
        shown
            .iter()
            .any(|row| row[3].starts_with('张') && row[3].contains('*')),
        "a person's name comes masked: {shown:?}"
    );
    for sheet in download_both(&viewer, &app, &export_links(&html, Some("stale"))).await {
        assert_eq!(sheet[1..=shown.len()], shown[..]);
        assert!(
            sheet[1..]
                .iter()
                .all(|row| !row[3].starts_with('张') || row[3].contains('*')),
            "{sheet:?}"
        );
    }
    // A table a page does not have is refused, not answered with another.
    for path in [
        "/verification/freshness?table=nope&format=csv".to_owned(),
        format!("{sample_path}?table=nope&format=xlsx"),
    ] {
        let refused = office.get(app.url(&path)).send().await.expect("refused");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{path}");
    }
    let html = common::page_text(&liaison, &app, "/verification/freshness").await;
    assert!(html.contains("时效性"));
    let bad = office
        .get(app.url("/verification/freshness?stale_after_days=x"))
        .send()
        .await
        .expect("bad");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}
