//! The potential registry over HTTP, on both databases: imports and totals that agree at
//! every level, refusals that store nothing, exports, baselines and gaps, taxonomy edits,
//! and the pages in both languages.

mod common;

use std::collections::BTreeMap;

use common::{SEED_TYPES, SeededRecord, TestApp, multipart};
use muster_domain::potential::import::STANDARD_COLUMNS;
use muster_domain::sheet::read_workbook;
use reqwest::StatusCode;
use serde_json::{Value, json};

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

/// Records and quantities per type that the seed put in the subtree of `path`.
fn expected_in(seeded: &[SeededRecord], path: &str) -> BTreeMap<String, (i64, f64)> {
    let mut expected = BTreeMap::new();
    for record in seeded.iter().filter(|r| r.region_path.starts_with(path)) {
        let entry = expected
            .entry(record.type_code.clone())
            .or_insert((0_i64, 0.0_f64));
        entry.0 += 1;
        entry.1 += record.quantity;
    }
    expected
}

fn by_type(groups: &Value) -> BTreeMap<String, (i64, f64)> {
    groups
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["code"].as_str().expect("code").to_owned(),
                (
                    g["record_count"].as_i64().expect("count"),
                    g["quantity"].as_f64().expect("a type has a quantity"),
                ),
            )
        })
        .collect()
}

on_both!(
    imported_records_total_up_at_every_level,
    spawn_demo,
    totals_story
);
async fn totals_story(app: TestApp) {
    let seeded = app.seed_records().await;
    let token = app.token_for("admin").await;
    assert!(
        seeded.len() > 50,
        "one record per region below the province"
    );

    // The province's categories count every record; its cities' add up to it.
    let (status, province) = get_json(&app, &token, "/api/v1/potential/totals?region=34").await;
    assert_eq!(status, StatusCode::OK, "{province}");
    assert_eq!(province["level"], "category");
    let count = |groups: &Value| -> i64 {
        groups
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g["record_count"].as_i64().expect("count"))
            .sum()
    };
    assert_eq!(count(&province["groups"]), seeded.len() as i64);
    assert!(
        province["groups"][0]["quantity"].is_null(),
        "no quantities across units"
    );
    let cities = province["children"].as_array().expect("children");
    assert_eq!(cities.len(), 2);
    assert_eq!(
        cities.iter().map(|c| count(&c["groups"])).sum::<i64>(),
        seeded.len() as i64
    );

    // By type, at the province, a city and a county: exactly what the file held there.
    let city = cities[0]["region"]["code"]
        .as_str()
        .expect("city")
        .to_owned();
    let (_, city_view) = get_json(&app, &token, &format!("/api/v1/regions/{city}")).await;
    let county = city_view["children"][0]["code"]
        .as_str()
        .expect("county")
        .to_owned();
    for code in ["34", city.as_str(), county.as_str()] {
        let (status, totals) = get_json(
            &app,
            &token,
            &format!("/api/v1/potential/totals?region={code}&level=type"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let path = totals["path"].as_str().expect("path");
        assert_eq!(
            by_type(&totals["groups"]),
            expected_in(&seeded, path),
            "{code}"
        );
        for child in totals["children"].as_array().expect("children") {
            let child_path = child["region"]["path"].as_str().expect("path");
            assert_eq!(
                by_type(&child["groups"]),
                expected_in(&seeded, child_path),
                "{child_path}"
            );
        }
    }

    // Filters narrow the groups; a subcategory implies its category.
    let (_, tents) = get_json(
        &app,
        &token,
        "/api/v1/potential/totals?region=34&subcategory=CAD.MAT",
    )
    .await;
    assert_eq!(tents["level"], "type");
    assert_eq!(
        tents["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g["code"].as_str().expect("code"))
            .collect::<Vec<_>>(),
        ["CAD.MAT.TENT_12"]
    );
    assert_eq!(tents["groups"][0]["unit"], "tent");
    let (status, _) = get_json(
        &app,
        &token,
        "/api/v1/potential/totals?category=transportation&subcategory=CAD.MAT",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Records page through by id, filtered by region, type and status.
    let (_, first) = get_json(&app, &token, "/api/v1/potential/records?limit=10").await;
    let first = first.as_array().expect("records").clone();
    assert_eq!(first.len(), 10);
    let last = first[9]["id"].as_i64().expect("id");
    let (_, next) = get_json(
        &app,
        &token,
        &format!("/api/v1/potential/records?limit=10&after={last}"),
    )
    .await;
    assert!(next[0]["id"].as_i64().expect("id") > last);
    let (_, in_county) = get_json(
        &app,
        &token,
        &format!(
            "/api/v1/potential/records?region={county}&type={}&limit=1000",
            SEED_TYPES[0]
        ),
    )
    .await;
    let county_path = city_view["children"][0]["path"].as_str().expect("path");
    assert_eq!(
        in_county.as_array().expect("records").len() as i64,
        expected_in(&seeded, county_path)
            .get(SEED_TYPES[0])
            .map_or(0, |e| e.0)
    );
    let (status, _) = get_json(&app, &token, "/api/v1/potential/records?status=lost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A status change moves the available quantity, not the total.
    let id = first[0]["id"].as_i64().expect("id");
    let patched = reqwest::Client::new()
        .patch(app.url(&format!("/api/v1/potential/records/{id}")))
        .bearer_auth(&token)
        .json(&json!({ "status": "reserved" }))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), StatusCode::OK);
    let (_, one) = get_json(&app, &token, &format!("/api/v1/potential/records/{id}")).await;
    assert_eq!(one["status"], "reserved");

    // A viewer sees people's data masked; the administrator's role does not allow it either
    // unless it carries personal data, so compare with what storage masks: never the number.
    let viewer = app.token_for("viewer").await;
    let (_, seen) = get_json(&app, &viewer, "/api/v1/potential/records?limit=1000").await;
    for record in seen.as_array().expect("records") {
        if record["holder"]["kind"] == "person"
            && let Some(number) = record["holder"]["id_number"].as_str()
        {
            assert!(number.contains('*'), "masked for a viewer: {record}");
        }
    }
    app.stop().await;
}

on_both!(
    a_refused_upload_names_rows_and_stores_nothing,
    spawn_demo,
    refusal_story
);
async fn refusal_story(app: TestApp) {
    let token = app.token_for("admin").await;
    let regions = app.regions_for(&token).await;
    let county = regions
        .iter()
        .find(|(c, _)| c.len() == 6)
        .expect("a county")
        .0
        .clone();
    let bad = format!(
        "type_code,quantity,holder_name,region_code\n\
         CAD.MAT.TENT_12,5,Depot,{county}\n\
         CAD.MAT.TENT_12,-5,Depot 2,{county}\n\
         NO.SUCH.TYPE,1,Depot 3,{county}\n"
    );
    let client = reqwest::Client::new();
    for path in [
        "/api/v1/potential/imports",
        "/api/v1/potential/imports/check",
    ] {
        let refused = client
            .post(app.url(&format!("{path}?file_name=bad.csv")))
            .bearer_auth(&token)
            .body(bad.clone())
            .send()
            .await
            .expect("post");
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            refused.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = refused.json().await.expect("json");
        assert_eq!(
            problem["type"],
            "https://muster.invalid/problems/sheet-rejected"
        );
        let errors = problem["row_errors"].as_array().expect("row errors");
        assert!(errors.len() >= 2, "{problem}");
        assert_eq!(errors[0]["row"], 3);
        assert_eq!(errors[0]["column"], "B");
        assert_eq!(errors[1]["row"], 4);
    }
    let (_, totals) = get_json(&app, &token, "/api/v1/potential/totals?region=34").await;
    assert!(
        totals["groups"].as_array().expect("groups").is_empty(),
        "nothing stored: {totals}"
    );

    // The good rows alone check out, and checking stores nothing either.
    let good =
        format!("type_code,quantity,holder_name,region_code\nCAD.MAT.TENT_12,5,Depot,{county}\n");
    let checked: Value = client
        .post(app.url("/api/v1/potential/imports/check?file_name=good.csv"))
        .bearer_auth(&token)
        .body(good.clone())
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(checked["valid_rows"], 1);
    let (_, records) = get_json(&app, &token, "/api/v1/potential/records").await;
    assert_eq!(records.as_array().map(Vec::len), Some(0));

    // A role that does not report potential is refused outright.
    let liaison = app.token_for("liaison").await;
    let refused = client
        .post(app.url("/api/v1/potential/imports?file_name=good.csv"))
        .bearer_auth(&liaison)
        .body(good)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Uploads may be larger than the 2 MiB every other body is held to.
    let large = vec![b'x'; 3 * 1024 * 1024];
    let too_large_elsewhere = reqwest::Client::new()
        .put(app.url("/api/v1/potential/baselines"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(large.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(too_large_elsewhere.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A fresh connection: the server closes the one whose body it refused unread.
    let large_upload = reqwest::Client::new()
        .post(app.url("/api/v1/potential/imports/check?file_name=large.csv"))
        .bearer_auth(&token)
        .body(large)
        .send()
        .await
        .expect("post");
    assert_eq!(
        large_upload.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "read, then refused as a sheet"
    );

    // The page lists every problem and offers them as a download.
    let (browser, csrf) = app.signed_in("admin", "en").await;
    let (content_type, body) = multipart(
        &[("csrf", &csrf), ("action", "import")],
        "bad.csv",
        bad.as_bytes(),
    );
    let page = browser
        .post(app.url("/potential/import"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text().await.expect("text");
    assert!(html.contains("nothing was stored"), "{html}");
    assert!(
        html.contains("NO.SUCH.TYPE") || html.contains("unknown"),
        "{html}"
    );
    let marker = "href=\"/potential/import/problems/";
    let start = html.find(marker).expect("a download link") + "href=\"".len();
    let link = html[start..]
        .split('"')
        .next()
        .expect("link")
        .replace("&#38;", "&");
    let download = browser.get(app.url(&link)).send().await.expect("get");
    assert_eq!(download.status(), StatusCode::OK);
    let csv = download.bytes().await.expect("bytes");
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "CSV with a BOM");
    let workbook = read_workbook(&csv).expect("readable");
    assert_eq!(workbook.sheets[0].rows.len(), 3, "header and two problems");
    // Someone else cannot fetch it.
    let (other, _) = app.signed_in("office", "en").await;
    assert_eq!(
        other
            .get(app.url(&link))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::NOT_FOUND
    );

    // On the Chinese page, and in its download, the problems are in Chinese.
    let (chinese, chinese_csrf) = app.signed_in("admin", "zh-CN").await;
    let (content_type, body) = multipart(
        &[("csrf", &chinese_csrf), ("action", "import")],
        "bad.csv",
        bad.as_bytes(),
    );
    let html = chinese
        .post(app.url("/potential/import"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    assert!(html.contains("没有资源类型 NO.SUCH.TYPE"), "{html}");
    assert!(html.contains("应为零或正数，实为 -5"), "{html}");
    assert!(!html.contains("unknown resource type"), "{html}");
    let start = html.find(marker).expect("a download link") + "href=\"".len();
    let link = html[start..]
        .split('"')
        .next()
        .expect("link")
        .replace("&#38;", "&");
    let csv = chinese
        .get(app.url(&link))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    let text = String::from_utf8_lossy(&csv);
    assert!(text.contains("没有资源类型 NO.SUCH.TYPE"), "{text}");

    // Without CSRF the upload is refused before anything is read.
    let (content_type, body) = multipart(
        &[("csrf", "forged"), ("action", "import")],
        "bad.csv",
        bad.as_bytes(),
    );
    let forged = browser
        .post(app.url("/potential/import"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

on_both!(tables_download_as_csv_and_xlsx, spawn_demo, exports_story);
async fn exports_story(app: TestApp) {
    let seeded = app.seed_records().await;
    let (browser, _) = app.signed_in("admin", "zh-CN").await;
    for (path, rows) in [
        // Six categories and the Total line, as on the page.
        ("/potential?region=34&format=csv", 7),
        ("/potential?region=34&table=children&format=csv", 2),
        ("/potential?region=34&subcategory=CAD.MAT&format=csv", 0),
        ("/potential/records?format=csv", seeded.len()),
        ("/potential/gaps?format=csv", 0),
        ("/taxonomy?format=csv", 0),
    ] {
        let response = browser.get(app.url(path)).send().await.expect("get");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with("text/csv"),
            "{path}"
        );
        let disposition = response.headers()["content-disposition"]
            .to_str()
            .expect("disposition")
            .to_owned();
        assert!(
            disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".csv\""),
            "{disposition}"
        );
        let bytes = response.bytes().await.expect("bytes");
        assert!(
            bytes.starts_with(b"\xEF\xBB\xBF"),
            "{path}: a BOM for Excel"
        );
        if rows > 0 {
            let workbook = read_workbook(&bytes).expect("reads back");
            assert_eq!(workbook.sheets[0].rows.len(), rows + 1, "{path}");
        }
    }
    let xlsx = browser
        .get(app.url("/potential?region=34&format=xlsx"))
        .send()
        .await
        .expect("get");
    assert_eq!(xlsx.status(), StatusCode::OK);
    let workbook = read_workbook(&xlsx.bytes().await.expect("bytes")).expect("readable xlsx");
    let sheet = &workbook.sheets[0];
    assert_eq!(
        sheet.rows[0].cells[0], "类别",
        "headers in the reader's language"
    );
    let (total_line, groups) = sheet.rows[1..].split_last().expect("rows");
    let total: i64 = groups
        .iter()
        .map(|r| r.cells[2].parse::<i64>().expect("a count"))
        .sum();
    assert_eq!(total, seeded.len() as i64);
    assert_eq!(total_line.cells[0], "合计", "{:?}", total_line.cells);
    assert_eq!(total_line.cells[2], seeded.len().to_string());

    // The template: standard headers in the reader's language, and the types on a second
    // sheet (XLSX); the CSV holds the headers alone.
    let template = browser
        .get(app.url("/potential/template?format=xlsx"))
        .send()
        .await
        .expect("get");
    let workbook = read_workbook(&template.bytes().await.expect("bytes")).expect("template");
    assert_eq!(workbook.sheets.len(), 2);
    let expected: Vec<String> = STANDARD_COLUMNS
        .iter()
        .map(|c| c.template_header("zh-CN"))
        .collect();
    // Then a column for each attribute, so that a type that requires one can be reported
    // from the template as it stands.
    let header = &workbook.sheets[0].rows[0].cells;
    assert_eq!(header[..expected.len()], expected[..]);
    assert!(
        header.contains(&"棉帐篷 (winterized)".to_owned()),
        "{header:?}"
    );
    assert!(
        header.contains(&"产水量(吨/小时) (output_t_per_h)".to_owned()),
        "{header:?}"
    );
    assert!(
        workbook.sheets[1]
            .rows
            .iter()
            .any(|r| r.cells[0] == "CAD.MAT.TENT_12")
    );
    let csv = browser
        .get(app.url("/potential/template?format=csv"))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert!(String::from_utf8_lossy(&csv).contains("资源类型代码 (type_code)"));
    // A filled-in template imports.
    let token = app.token_for("admin").await;
    let county = app
        .regions_for(&token)
        .await
        .into_iter()
        .find(|(c, _)| c.len() == 6)
        .expect("county")
        .0;
    let mut filled = String::from_utf8_lossy(&csv).trim_end().to_owned();
    filled.push_str(&format!(
        "\r\nCAD.MAT.TENT_12,3,,,,Template depot,,,,{county},,\r\n"
    ));
    // A water purifier, whose output is required, in the template's own column for it.
    let columns = filled.lines().next().expect("header").split(',').count();
    let output = filled
        .lines()
        .next()
        .expect("header")
        .split(',')
        .position(|h| h.contains("(output_t_per_h)"))
        .expect("the output column");
    let mut purifier = vec![String::new(); columns];
    purifier[0] = "CAD.MAT.WATER_PURIFIER".into();
    purifier[1] = "2".into();
    purifier[5] = "Template depot".into();
    purifier[9] = county.clone();
    purifier[output] = "5".into();
    filled.push_str(&purifier.join(","));
    filled.push_str("\r\n");
    let imported = reqwest::Client::new()
        .post(app.url("/api/v1/potential/imports?file_name=template.csv"))
        .bearer_auth(&token)
        .body(filled)
        .send()
        .await
        .expect("post");
    assert_eq!(
        imported.status(),
        StatusCode::CREATED,
        "{}",
        imported.text().await.unwrap_or_default()
    );
    let bad_format = browser
        .get(app.url("/potential?format=pdf"))
        .send()
        .await
        .expect("get");
    assert_eq!(bad_format.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

on_both!(gaps_follow_baselines, spawn_demo, gaps_story);
async fn gaps_story(app: TestApp) {
    app.seed_records().await;
    let token = app.token_for("admin").await;
    let client = reqwest::Client::new();
    let (_, province) = get_json(
        &app,
        &token,
        "/api/v1/potential/totals?region=34&level=type",
    )
    .await;
    let tents = by_type(&province["groups"])[SEED_TYPES[0]];

    // Through the API: a requirement twice the tents reported, none verified yet.
    let put = client
        .put(app.url("/api/v1/potential/baselines"))
        .bearer_auth(&token)
        .json(&json!([
            { "region_code": "34", "type_code": SEED_TYPES[0], "required_quantity": tents.1 * 2.0 },
            { "region_code": "34", "type_code": SEED_TYPES[1], "required_quantity": 10.0 }
        ]))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), StatusCode::OK);
    let (_, gaps) = get_json(&app, &token, "/api/v1/potential/gaps?region=34").await;
    let gaps = gaps.as_array().expect("gaps");
    assert_eq!(gaps.len(), 2);
    let tent_gap = gaps
        .iter()
        .find(|g| g["type_code"] == SEED_TYPES[0])
        .expect("tent gap");
    assert_eq!(tent_gap["required"], tents.1 * 2.0);
    assert_eq!(tent_gap["reported"], tents.1);
    assert_eq!(tent_gap["shortfall_share"], 1.0, "nothing verified yet");
    let (_, stored) = get_json(&app, &token, "/api/v1/potential/baselines").await;
    assert_eq!(stored.as_array().map(Vec::len), Some(2));

    // Refused: an unknown type, named by its position; a viewer may not set any.
    let refused = client
        .put(app.url("/api/v1/potential/baselines"))
        .bearer_auth(&token)
        .json(&json!([{ "region_code": "34", "type_code": "NOPE", "required_quantity": 1.0 }]))
        .send()
        .await
        .expect("put");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.expect("json");
    assert_eq!(problem["row_errors"][0]["row"], 1);
    let viewer = app.token_for("viewer").await;
    let forbidden = client
        .put(app.url("/api/v1/potential/baselines"))
        .bearer_auth(&viewer)
        .json(&json!([]))
        .send()
        .await
        .expect("put");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    // Through the page, as a city's office staff: a sheet of baselines for their city.
    let office = app.token_for("office").await;
    let (_, me) = get_json(&app, &office, "/api/v1/me").await;
    let city = me["user"]["region_code"].as_str().expect("city").to_owned();
    let (browser, csrf) = app.signed_in("office", "en").await;
    let sheet = format!(
        "region_code,type_code,required_quantity\n{city},{},1000\n{city},ECO.MED.DEFIBRILLATOR,5\n",
        SEED_TYPES[0]
    );
    let (content_type, body) = multipart(
        &[("csrf", &csrf), ("region", &city)],
        "baselines.csv",
        sheet.as_bytes(),
    );
    let page = browser
        .post(app.url("/potential/baselines"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("text");
    assert!(html.contains("2 baselines stored"), "{html}");
    assert!(
        html.contains("Rescue tent") || html.contains("CAD.MAT.TENT_12"),
        "{html}"
    );
    assert!(html.contains("<svg"), "a chart of the gaps");
    let (_, city_gaps) = get_json(
        &app,
        &office,
        &format!("/api/v1/potential/gaps?region={city}"),
    )
    .await;
    assert_eq!(city_gaps.as_array().map(Vec::len), Some(2));
    assert_eq!(
        city_gaps[0]["required"].as_f64().map(|r| r >= 5.0),
        Some(true)
    );

    // A bad sheet: every problem at its sheet row and column, nothing stored.
    let bad = format!(
        "region_code,type_code,required_quantity\n{city},{},lots\n{city},NOPE,3\n",
        SEED_TYPES[0]
    );
    let (content_type, body) = multipart(
        &[("csrf", &csrf), ("region", &city)],
        "bad.csv",
        bad.as_bytes(),
    );
    let refused = browser
        .post(app.url("/potential/baselines"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("lots"), "{html}");
    let gaps_csv = browser
        .get(app.url(&format!("/potential/gaps?region={city}&format=xlsx")))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    let workbook = read_workbook(&gaps_csv).expect("xlsx");
    assert_eq!(workbook.sheets[0].rows.len(), 3, "header and two gaps");
    app.stop().await;
}

on_both!(
    one_baseline_is_entered_on_the_gaps_page,
    spawn_demo,
    baseline_entry_story
);
/// The gaps page's one-baseline form, as a city's office staff: stored, audited and shown
/// as a gap; refused beside its field in the reader's language (an unknown region, a
/// region outside the city, a negative quantity), storing nothing; and neither shown to nor
/// usable by a viewer.
async fn baseline_entry_story(app: TestApp) {
    app.seed_records().await;
    let office = app.token_for("office").await;
    let (_, me) = get_json(&app, &office, "/api/v1/me").await;
    let city = me["user"]["region_code"].as_str().expect("city").to_owned();
    let tent = SEED_TYPES[0];
    let (browser, csrf) = app.signed_in("office", "en").await;
    let gaps_page = format!("/potential/gaps?region={city}");
    let html = common::page_text(&browser, &app, &gaps_page).await;
    assert!(html.contains("id=\"baseline-entry\""), "{html}");
    assert!(
        html.contains(&format!("<option value=\"{tent}\">")),
        "types offered"
    );
    assert!(
        html.contains(&format!("name=\"region_code\" value=\"{city}\"")),
        "the region shown is the default"
    );
    let entry = |csrf: &str, region_code: &str, quantity: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("region", city.clone()),
            ("region_code", region_code.to_owned()),
            ("type_code", tent.to_owned()),
            ("required_quantity", quantity.to_owned()),
        ]
    };

    // Stored: back to the gaps page with a notice and the new gap.
    let stored = browser
        .post(app.url("/potential/baselines/entry"))
        .form(&entry(&csrf, &city, "1234"))
        .send()
        .await
        .expect("post");
    assert_eq!(stored.status(), StatusCode::SEE_OTHER);
    let location = stored.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert_eq!(
        location,
        format!("/potential/gaps?region={city}&baseline={tent}")
    );
    let html = common::page_text(&browser, &app, &location).await;
    assert!(html.contains("The baseline for"), "{html}");
    assert!(
        html.contains("<td class=\"num\">1234 "),
        "the requirement: {html}"
    );
    let (_, gaps) = get_json(
        &app,
        &office,
        &format!("/api/v1/potential/gaps?region={city}"),
    )
    .await;
    let gaps = gaps.as_array().expect("gaps");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["type_code"], tent);
    assert_eq!(gaps[0]["required"], 1234.0);
    assert!(
        gaps[0]["reported"].as_f64().is_some_and(|r| r > 0.0),
        "{gaps:?}"
    );
    let audit = app
        .db
        .audit_entries(&muster_domain::Scope::everything(), 5)
        .await
        .expect("audit");
    assert!(
        audit.iter().any(|e| e.entity == "baseline"
            && e.action == "set"
            && e.actor == "office"
            && e.entity_id == format!("{city}|{tent}")
            && e.after.as_deref().is_some_and(|a| a.contains("1234"))),
        "{audit:?}"
    );

    // Refused, in English: an unknown region, beside its field, what was typed kept.
    let refused = browser
        .post(app.url("/potential/baselines/entry"))
        .form(&entry(&csrf, "999999", "5"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("data-field=\"region_code\""), "{html}");
    assert!(html.contains("unknown region 999999"), "{html}");
    assert!(html.contains("value=\"999999\""), "input kept");
    // Refused, in Chinese: the province is outside the city; a negative quantity.
    let (chinese, chinese_csrf) = app.signed_in("office", "zh-CN").await;
    let refused_in_chinese = |region_code: String, quantity: &'static str| {
        let (chinese, form) = (&chinese, entry(&chinese_csrf, &region_code, quantity));
        let app = &app;
        async move {
            let refused = chinese
                .post(app.url("/potential/baselines/entry"))
                .form(&form)
                .send()
                .await
                .expect("post");
            assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
            refused.text().await.expect("text")
        }
    };
    let html = refused_in_chinese("34".into(), "5").await;
    assert!(html.contains("行政区划 34 不在您的辖区内"), "{html}");
    let html = refused_in_chinese(city.clone(), "-5").await;
    assert!(html.contains("data-field=\"required_quantity\""), "{html}");
    assert!(html.contains("应为零或正数，实为 -5"), "{html}");
    assert!(!html.contains("expected zero or more"), "{html}");
    // A decimal comma is refused rather than read as 15.
    let html = refused_in_chinese(city.clone(), "1,5").await;
    assert!(html.contains("data-field=\"required_quantity\""), "{html}");
    let (_, gaps) = get_json(
        &app,
        &office,
        &format!("/api/v1/potential/gaps?region={city}"),
    )
    .await;
    assert_eq!(gaps[0]["required"], 1234.0, "nothing refused was stored");

    // A viewer is not offered the form and may not post it.
    let (viewer, viewer_csrf) = app.signed_in("viewer", "en").await;
    let html = common::page_text(&viewer, &app, "/potential/gaps").await;
    assert!(!html.contains("id=\"baseline-entry\""), "{html}");
    assert!(!html.contains("baseline-types"), "{html}");
    let forbidden = viewer
        .post(app.url("/potential/baselines/entry"))
        .form(&entry(&viewer_csrf, &city, "1"))
        .send()
        .await
        .expect("post");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

on_both!(
    taxonomy_edits_are_for_administrators_and_keep_meaning,
    spawn_demo,
    taxonomy_story
);
async fn taxonomy_story(app: TestApp) {
    app.seed_records().await;
    let admin = app.token_for("admin").await;
    let viewer = app.token_for("viewer").await;
    let (status, taxonomy) = get_json(&app, &viewer, "/api/v1/taxonomy").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(taxonomy["categories"].as_array().map(Vec::len), Some(6));
    assert!(taxonomy["units"].as_array().is_some_and(|u| !u.is_empty()));
    let tent = taxonomy["types"]
        .as_array()
        .expect("types")
        .iter()
        .find(|t| t["code"] == SEED_TYPES[0])
        .expect("tent")
        .clone();
    let path = format!("/api/v1/taxonomy/types/{}", SEED_TYPES[0]);
    let mut renamed = tent.clone();
    renamed["name_en"] = json!("Rescue tent (12 m², renamed)");
    let client = reqwest::Client::new();
    let put = |token: &str, body: &Value| {
        client
            .put(app.url(&path))
            .bearer_auth(token)
            .json(body)
            .send()
    };
    assert_eq!(
        put(&viewer, &renamed).await.expect("put").status(),
        StatusCode::FORBIDDEN
    );
    let ok = put(&admin, &renamed).await.expect("put");
    assert_eq!(ok.status(), StatusCode::OK);
    let saved: Value = ok.json().await.expect("json");
    assert_eq!(saved["name_en"], "Rescue tent (12 m², renamed)");
    let mut narrowed = renamed.clone();
    narrowed["max_quantity"] = json!(1.0);
    let conflict = put(&admin, &narrowed).await.expect("put");
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let problem: Value = conflict.json().await.expect("json");
    assert_eq!(problem["type"], "https://muster.invalid/problems/conflict");

    // The page: the administrator sees the refusal in the form, a viewer may not open it.
    let (browser, csrf) = app.signed_in("admin", "en").await;
    let form_path = format!("/taxonomy/types/{}", SEED_TYPES[0]);
    let form = browser.get(app.url(&form_path)).send().await.expect("get");
    assert_eq!(form.status(), StatusCode::OK);
    let refused = browser
        .post(app.url(&form_path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name_en", "Tent"),
            ("name_zh", "帐篷"),
            ("max_quantity", "1"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let html = refused.text().await.expect("text");
    assert!(
        html.contains("type-refused") && html.contains("would alter what they mean"),
        "{html}"
    );
    let saved = browser
        .post(app.url(&form_path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name_en", "Tent, 12 m²"),
            ("name_zh", "救灾帐篷"),
            ("max_quantity", "2000000"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (viewer_browser, _) = app.signed_in("viewer", "en").await;
    assert_eq!(
        viewer_browser
            .get(app.url(&form_path))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::FORBIDDEN
    );
    app.stop().await;
}

on_both!(
    potential_pages_render_in_both_languages,
    spawn_demo,
    pages_story
);
async fn pages_story(app: TestApp) {
    app.seed_records().await;
    let pages = [
        "/potential",
        "/potential?region=34",
        "/potential?region=34&category=civil_air_defense",
        "/potential?region=34&subcategory=CAD.MAT",
        "/potential?region=34&type=CAD.MAT.TENT_12",
        "/potential/records",
        "/potential/records?type=CAD.MAT.TENT_12&status=available",
        "/potential/import",
        "/potential/gaps",
        "/taxonomy",
        "/taxonomy/types/CAD.MAT.TENT_12",
    ];
    for (language, marker) in [("en", "Statistics"), ("zh-CN", "统计")] {
        for user in ["admin", "office"] {
            let (browser, _) = app.signed_in(user, language).await;
            for path in pages {
                // The office user works for a city: the province is outside their subtree.
                if user != "admin"
                    && (path.starts_with("/taxonomy/types") || path.contains("region=34"))
                {
                    continue;
                }
                let response = browser.get(app.url(path)).send().await.expect("get");
                assert_eq!(
                    response.status(),
                    StatusCode::OK,
                    "{user} {language} {path}"
                );
                let html = response.text().await.expect("text");
                assert!(html.contains(marker), "{language} {path}");
                for prefix in ["potential.", "taxonomy.", "regions.", "common.", "nav."] {
                    assert!(
                        !html.contains(prefix),
                        "a missing translation ({prefix}…) on {path} in {language}"
                    );
                }
            }
        }
    }
    // The statistics page: drill-down links keep the other dimension, and a chart is drawn.
    let (browser, _) = app.signed_in("admin", "en").await;
    let html = common::page_text(
        &browser,
        &app,
        "/potential?region=34&category=civil_air_defense",
    )
    .await;
    assert!(html.contains("<svg id=\"potential-chart\""));
    assert!(html.contains(
        "href=\"/potential?region=34&#38;category=civil_air_defense&#38;subcategory=CAD.MAT\""
    ));
    assert!(html.contains("href=\"/potential?region=3401&#38;category=civil_air_defense\""));
    // Outside the user's subtree there is nothing.
    let (office, _) = app.signed_in("office", "en").await;
    let outside = office
        .get(app.url("/potential?region=3402"))
        .send()
        .await
        .expect("get");
    assert_eq!(outside.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
