//! Survey rounds over HTTP, on both databases: a round opened through the API and the
//! pages, a member unit's report as versions (an unchanged file recognised, a bad one
//! refused whole with every problem listed and downloadable), review up the hierarchy, and
//! the dashboard with its exports.

mod common;

use common::{TestApp, multipart};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TENT: &str = "CAD.MAT.TENT_12";
const WATER: &str = "ECO.COM.BOTTLED_WATER";

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

async fn post_file(app: &TestApp, token: &str, path: &str, file: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .body(file.to_owned())
        .send()
        .await
        .expect("post");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn in_a_week() -> i64 {
    muster_storage::now().as_millis() + 7 * 86_400_000
}

/// The city office opens a round for its city; returns the round id and the member
/// officer's assignment (the county's transport bureau).
async fn open_round(app: &TestApp) -> (i64, i64, String) {
    open_round_of(app, &[TENT, WATER]).await
}

/// [`open_round`] asking for the given types.
async fn open_round_of(app: &TestApp, types: &[&str]) -> (i64, i64, String) {
    let office = app.token_for("office").await;
    let (_, me) = get_json(app, &office, "/api/v1/me").await;
    let city = me["scope"]
        .as_str()
        .expect("scope")
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("code")
        .to_owned();
    let (status, opened) = post_json(
        app,
        &office,
        "/api/v1/surveys/rounds",
        &json!({"title": "2026 survey", "region_code": city, "type_codes": types, "deadline": in_a_week()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    assert!(opened["assignments"].as_u64().expect("count") > 3);
    let round = opened["round"]["id"].as_i64().expect("id");

    let member = app.token_for("member").await;
    let (status, detail) = get_json(app, &member, &format!("/api/v1/surveys/rounds/{round}")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let assignments = detail["assignments"].as_array().expect("assignments");
    let mine = assignments
        .iter()
        .find(|a| {
            a["organization_name"]
                .as_str()
                .is_some_and(|n| n.ends_with("交通运输局"))
        })
        .expect("the member unit's assignment");
    let county = mine["region_code"].as_str().expect("county").to_owned();
    // The member sees its county only.
    let county_path = mine["region_path"].as_str().expect("path");
    assert!(assignments.iter().all(|a| {
        a["region_path"]
            .as_str()
            .is_some_and(|p| p.starts_with(county_path))
    }));
    (round, mine["id"].as_i64().expect("id"), county)
}

on_both!(survey_over_the_api, spawn_demo, api_story);
async fn api_story(app: TestApp) {
    let (round, assignment, county) = open_round(&app).await;
    let member = app.token_for("member").await;
    let office = app.token_for("office").await;
    let submit =
        format!("/api/v1/surveys/assignments/{assignment}/submissions?file_name=report.csv");
    let v1 = format!(
        "type_code,quantity,holder_name,region_code\n{TENT},40,Red Cross,{county}\n{WATER},12,Depot,{county}\n"
    );
    let (status, body) = post_file(&app, &member, &submit, &v1).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["outcome"], "stored");
    assert_eq!(body["version"], 1);
    let (status, body) = post_file(&app, &member, &submit, &v1).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "unchanged");

    // A file with errors is refused whole, every problem named.
    let bad = format!(
        "type_code,quantity,holder_name,region_code\nECO.MED.DEFIBRILLATOR,1,Clinic,{county}\n{TENT},-3,Depot,{county}\n"
    );
    let (status, problem) = post_file(&app, &member, &submit, &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem["row_errors"].as_array().map(Vec::len),
        Some(2),
        "{problem}"
    );

    let v2 = format!(
        "type_code,quantity,holder_name,region_code\n{TENT},45,Red Cross,{county}\n{WATER},12,Depot,{county}\n"
    );
    let (status, body) = post_file(&app, &member, &submit, &v2).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 2);
    let (status, diff) = get_json(
        &app,
        &member,
        &format!("/api/v1/surveys/assignments/{assignment}/diff"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(diff["changed"].as_array().map(Vec::len), Some(1), "{diff}");
    assert_eq!(diff["unchanged"], 1);

    // The unit does not review itself; the city office (above its county) does.
    let approve = format!("/api/v1/surveys/assignments/{assignment}/approve");
    let (status, _) = post_json(&app, &member, &approve, &json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, back) = post_json(
        &app,
        &office,
        &format!("/api/v1/surveys/assignments/{assignment}/send-back"),
        &json!({"comment": ""}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{back}");
    assert_eq!(back["field"], "comment", "{back}");
    let (status, approved) = post_json(&app, &office, &approve, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "approved");

    let (status, view) = get_json(
        &app,
        &member,
        &format!("/api/v1/surveys/assignments/{assignment}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["versions"].as_array().map(Vec::len), Some(2));
    assert_eq!(view["versions"][1]["status"], "superseded");

    let (status, dashboard) = get_json(
        &app,
        &office,
        &format!("/api/v1/surveys/rounds/{round}/dashboard"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dashboard}");
    assert_eq!(dashboard["movement"][TENT]["first_reported"], 40.0);
    assert_eq!(dashboard["movement"][TENT]["approved"], 45.0);
    assert_eq!(dashboard["completeness"]["approved"], 1);

    // The approved figures are in the registry's totals.
    let (status, totals) = get_json(
        &app,
        &office,
        &format!("/api/v1/potential/totals?region={county}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{totals}");
    assert!(
        totals["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .any(|g| g["code"] == "civil_air_defense" && g["record_count"] == 1),
        "{totals}"
    );

    // Someone in another city sees neither the round nor its assignments.
    let admin = app.token_for("admin").await;
    let (status, _) = get_json(&app, &admin, &format!("/api/v1/surveys/rounds/{round}")).await;
    assert_eq!(status, StatusCode::OK, "the province sees its city's round");
    app.stop().await;
}

on_both!(survey_pages, spawn_demo, pages_story);
async fn pages_story(app: TestApp) {
    // The office opens a round through the form: a whole subcategory and one type.
    let (office, office_csrf) = app.signed_in("office", "en").await;
    let page = common::page_text(&office, &app, "/surveys").await;
    assert!(
        page.contains("name=\"subcategory\" value=\"CAD.MAT\""),
        "the type picker"
    );
    let opened = office
        .post(app.url("/surveys"))
        .form(&[
            ("csrf", office_csrf.as_str()),
            ("title", "Spring survey"),
            ("region", ""),
            ("deadline", "2999-12-31"),
            ("subcategory", "CAD.MAT"),
            ("type", WATER),
        ])
        .send()
        .await
        .expect("open");
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    let round_url = opened.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let round_page = office.get(app.url(&round_url)).send().await.expect("round");
    assert_eq!(round_page.status(), StatusCode::OK);
    let round_page = round_page.text().await.expect("text");
    assert!(round_page.contains("Spring survey"));
    assert!(
        round_page.contains("child-region"),
        "completeness by region below"
    );
    assert!(round_page.contains("tl-pending"), "timeliness in colour");
    // Both tables of the round page download as shown.
    assert!(
        round_page.contains("table=here&#38;format=csv"),
        "{round_page}"
    );
    let here = office
        .get(app.url(&format!("{round_url}?table=here&format=csv")))
        .send()
        .await
        .expect("export");
    assert_eq!(here.status(), StatusCode::OK);
    let here = here.text().await.expect("text");
    assert!(
        here.lines().count() >= 2,
        "a header and the office's own report: {here}"
    );
    let children = office
        .get(app.url(&format!("{round_url}?table=children&format=xlsx")))
        .send()
        .await
        .expect("export");
    assert_eq!(children.status(), StatusCode::OK);
    let workbook =
        muster_domain::sheet::read_workbook(&children.bytes().await.expect("bytes")).expect("xlsx");
    assert!(
        workbook.sheets[0].rows.len() > 2,
        "one row a region below, under the header"
    );
    // With each region's own report's status and timeliness, as the page shows them.
    let sheet = &workbook.sheets[0];
    assert_eq!(sheet.rows[0].cells.len(), 10, "{:?}", sheet.rows[0].cells);
    assert!(
        sheet.rows[1..]
            .iter()
            .all(|row| !row.cell(2).is_empty() && !row.cell(3).is_empty()),
        "{:?}",
        sheet.rows
    );
    let bad = office
        .get(app.url(&format!("{round_url}?table=nope&format=csv")))
        .send()
        .await
        .expect("export");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let bad = office
        .get(app.url(&format!("{round_url}?format=pdf")))
        .send()
        .await
        .expect("export");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // A bad deadline is refused on the form, not with an error page.
    let refused = office
        .post(app.url("/surveys"))
        .form(&[
            ("csrf", office_csrf.as_str()),
            ("title", "x"),
            ("deadline", "soon"),
            ("type", WATER),
        ])
        .send()
        .await
        .expect("open");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The member unit finds its assignment and reports through the page.
    let member_token = app.token_for("member").await;
    let round_id = round_url.rsplit('/').next().expect("id");
    let (_, detail) = get_json(
        &app,
        &member_token,
        &format!("/api/v1/surveys/rounds/{round_id}"),
    )
    .await;
    let mine = detail["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .find(|a| {
            a["organization_name"]
                .as_str()
                .is_some_and(|n| n.ends_with("交通运输局"))
        })
        .expect("mine")
        .clone();
    let id = mine["id"].as_i64().expect("id");
    let county = mine["region_code"].as_str().expect("county").to_owned();
    let (member, member_csrf) = app.signed_in("member", "zh-CN").await;
    let page = common::page_text(&member, &app, &format!("/surveys/assignments/{id}")).await;
    assert!(page.contains("/upload"), "the upload form");
    assert!(page.contains("name=\"holder_name\""), "the row form");

    // The round's template lists only the round's types.
    let template = member
        .get(app.url(&format!("/surveys/{round_id}/template?format=xlsx")))
        .send()
        .await
        .expect("template");
    assert_eq!(template.status(), StatusCode::OK);
    let workbook =
        muster_domain::sheet::read_workbook(&template.bytes().await.expect("bytes")).expect("xlsx");
    let listed: Vec<String> = workbook.sheets[1]
        .rows
        .iter()
        .skip(1)
        .filter_map(|r| r.cells.first().cloned())
        .collect();
    assert!(listed.iter().any(|c| c == WATER), "{listed:?}");
    assert!(listed.iter().any(|c| c == TENT), "{listed:?}");
    assert!(!listed.iter().any(|c| c.starts_with("TRN.")), "{listed:?}");
    // Its records sheet has the round's types' attribute columns, and no other type's.
    let header = &workbook.sheets[0].rows[0].cells;
    assert!(
        header.contains(&"棉帐篷 (winterized)".to_owned()),
        "{header:?}"
    );
    assert!(!header.iter().any(|h| h.contains("(dwt_t)")), "{header:?}");

    let upload = |csv: String| {
        let (content_type, body) =
            multipart(&[("csrf", &member_csrf)], "report.csv", csv.as_bytes());
        member
            .post(app.url(&format!("/surveys/assignments/{id}/upload")))
            .header("content-type", content_type)
            .body(body)
    };
    let bad = format!("type_code,quantity,holder_name,region_code\n{WATER},-1,Depot,{county}\n");
    let refused = upload(bad).send().await.expect("upload");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = refused.text().await.expect("text");
    assert!(
        refused.contains("class=\"problems\""),
        "every problem listed"
    );
    assert!(
        refused.contains("/potential/import/problems/"),
        "and downloadable"
    );

    let good = format!("type_code,quantity,holder_name,region_code\n{WATER},10,Depot,{county}\n");
    let stored = upload(good.clone()).send().await.expect("upload");
    assert_eq!(stored.status(), StatusCode::SEE_OTHER);
    assert!(
        stored.headers()["location"]
            .to_str()
            .expect("location")
            .ends_with("done=stored")
    );
    let again = upload(good).send().await.expect("upload");
    assert!(
        again.headers()["location"]
            .to_str()
            .expect("location")
            .ends_with("done=unchanged")
    );
    let added = member
        .post(app.url(&format!("/surveys/assignments/{id}/rows")))
        .form(&[
            ("csrf", member_csrf.as_str()),
            ("type_code", TENT),
            ("quantity", "5"),
            ("holder_name", "Red Cross"),
            ("holder_kind", "organization"),
            ("site", ""),
            ("region_code", county.as_str()),
        ])
        .send()
        .await
        .expect("add row");
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let page = common::page_text(&member, &app, &format!("/surveys/assignments/{id}")).await;
    assert!(
        page.contains("id=\"diff-heading\""),
        "the diff of version 2"
    );
    assert!(page.contains("class=\"added\""));
    // The page's tables download: every row of the version, its versions, its changes.
    for table in ["rows", "versions", "diff"] {
        assert!(
            page.contains(&format!("table={table}&#38;format=csv")),
            "a link for {table}"
        );
    }
    let download = |query: &str| {
        member
            .get(app.url(&format!("/surveys/assignments/{id}?{query}")))
            .send()
    };
    let rows = download("table=rows&format=csv").await.expect("rows");
    assert_eq!(rows.status(), StatusCode::OK);
    let rows = rows.text().await.expect("text");
    assert!(
        rows.contains("Red Cross") && rows.contains("Depot"),
        "{rows}"
    );
    let versions = download("table=versions&format=xlsx")
        .await
        .expect("versions");
    assert_eq!(versions.status(), StatusCode::OK);
    let versions =
        muster_domain::sheet::read_workbook(&versions.bytes().await.expect("bytes")).expect("xlsx");
    assert_eq!(
        versions.sheets[0].rows.len(),
        3,
        "a header and two versions"
    );
    let diff = download("table=diff&format=csv").await.expect("diff");
    let diff = diff.text().await.expect("text");
    assert!(
        diff.lines()
            .any(|l| l.contains("新增") && l.contains("Red Cross")),
        "{diff}"
    );
    let first = download("version=1&table=rows&format=csv")
        .await
        .expect("rows of v1")
        .text()
        .await
        .expect("text");
    assert!(
        !first.contains("Red Cross"),
        "version 1 had no tents: {first}"
    );
    for bad in ["table=rows&format=pdf", "table=nope&format=csv"] {
        assert_eq!(
            download(bad).await.expect("bad").status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    assert!(
        page.contains("<option value=\"\">按证件号码判断"),
        "the holder's kind may be left to the ID number"
    );
    assert!(
        !page.contains("id=\"approve\""),
        "no review buttons for the unit"
    );

    // The office sends it back with a comment, from the page.
    let page = common::page_text(&office, &app, &format!("/surveys/assignments/{id}")).await;
    assert!(
        page.contains("id=\"approve\""),
        "review buttons for the reviewer"
    );
    assert!(
        !page.contains("id=\"extend-assignment\""),
        "reported: its timeliness is settled, no more time to give"
    );
    let back = office
        .post(app.url(&format!("/surveys/assignments/{id}/send-back")))
        .form(&[
            ("csrf", office_csrf.as_str()),
            ("comment", "Count the tents again"),
        ])
        .send()
        .await
        .expect("send back");
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let page = common::page_text(&member, &app, &format!("/surveys/assignments/{id}")).await;
    assert!(page.contains("Count the tents again"));
    assert!(page.contains("st-returned"));

    // The unit corrects the tents on the form, row by row: no spreadsheet needed.
    let table = page
        .find("<table class=\"records\"")
        .expect("the rows table");
    let holder = table + page[table..].find("Red Cross").expect("the tents' row");
    let marker = format!("/surveys/assignments/{id}/rows/");
    let start = holder + page[holder..].find(&marker).expect("its correction form") + marker.len();
    let tent_row = page[start..].split('/').next().expect("row").to_owned();
    // The forms name the version they show.
    let shown = |page: &str| {
        let marker = "name=\"submission\" value=\"";
        let start = page.find(marker).expect("the version shown") + marker.len();
        page[start..].split('"').next().expect("id").to_owned()
    };
    let submission = shown(&page);
    let correct = |submission: String, quantity: &'static str| {
        member
            .post(app.url(&format!(
                "/surveys/assignments/{id}/rows/{tent_row}/quantity"
            )))
            .form(&[
                ("csrf", member_csrf.clone()),
                ("submission", submission),
                ("quantity", quantity.to_owned()),
            ])
            .send()
    };
    let corrected = correct(submission.clone(), "7").await.expect("correct");
    assert_eq!(corrected.status(), StatusCode::SEE_OTHER);
    assert!(
        corrected.headers()["location"]
            .to_str()
            .expect("location")
            .ends_with("done=stored")
    );
    let page = common::page_text(&member, &app, &format!("/surveys/assignments/{id}")).await;
    assert!(page.contains("class=\"changed\""), "the correction's diff");
    let table = page
        .find("<table class=\"records\"")
        .expect("the rows table");
    let tents = table + page[table..].find("Red Cross").expect("the tents' row");
    let row_start = page[..tents].rfind("<tr>").expect("the row");
    assert!(
        page[row_start..tents].contains(">7 "),
        "the tents now count 7: {}",
        &page[row_start..tents]
    );
    // The form as shown before that correction is refused: its rows may have moved.
    let stale = correct(submission, "8").await.expect("correct");
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let text = stale.text().await.expect("text");
    assert!(
        text.contains("该报告已被他人更新"),
        "said in Chinese: {text}"
    );
    let submission = shown(&page);
    let refused = correct(submission.clone(), "很多").await.expect("correct");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = refused.text().await.expect("text");
    assert!(text.contains("class=\"problems\""), "{text}");
    let missing = member
        .post(app.url(&format!("/surveys/assignments/{id}/rows/999/remove")))
        .form(&[
            ("csrf", member_csrf.as_str()),
            ("submission", submission.as_str()),
        ])
        .send()
        .await
        .expect("remove");
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing
            .text()
            .await
            .expect("text")
            .contains("当前版本中没有第 999 行")
    );
    let removed = member
        .post(app.url(&format!("/surveys/assignments/{id}/rows/{tent_row}/remove")))
        .form(&[
            ("csrf", member_csrf.as_str()),
            ("submission", submission.as_str()),
        ])
        .send()
        .await
        .expect("remove");
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    let page = common::page_text(&member, &app, &format!("/surveys/assignments/{id}")).await;
    assert!(page.contains("class=\"removed\""), "the tents taken out");

    // Another unit of the county reports the same depot: both pages say so.
    let sibling = detail["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .find(|a| {
            a["region_code"] == county.as_str()
                && a["organization_name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("卫生健康委员会"))
        })
        .expect("the health bureau's assignment")["id"]
        .as_i64()
        .expect("id");
    // Not reported yet: its reviewer may give it more time than the round, on the page or
    // through the API (later only).
    let page = common::page_text(&office, &app, &format!("/surveys/assignments/{sibling}")).await;
    assert!(
        page.contains("id=\"extend-assignment\""),
        "the more-time form"
    );
    let more_time = office
        .post(app.url(&format!("/surveys/assignments/{sibling}/deadline")))
        .form(&[("csrf", office_csrf.as_str()), ("deadline", "3000-01-31")])
        .send()
        .await
        .expect("more time");
    assert_eq!(more_time.status(), StatusCode::SEE_OTHER);
    let page = common::page_text(&office, &app, &format!("/surveys/assignments/{sibling}")).await;
    assert!(
        page.contains("id=\"own-deadline\""),
        "its own deadline shown"
    );
    let admin = app.token_for("admin").await;
    let (status, problem) = post_json(
        &app,
        &admin,
        &format!("/api/v1/surveys/assignments/{sibling}/deadline"),
        &json!({ "deadline": 1_000 }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "deadline");
    let (status, body) = post_file(
        &app,
        &admin,
        &format!("/api/v1/surveys/assignments/{sibling}/submissions?file_name=health.csv"),
        &format!("type_code,quantity,holder_name,region_code\n{WATER},10,depot,{county}\n"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let page = common::page_text(&member, &app, &format!("/surveys/assignments/{id}")).await;
    assert!(
        page.contains("class=\"alert duplicates\""),
        "the duplicate is shown"
    );
    assert!(page.contains(&format!("/surveys/assignments/{sibling}")));

    // The dashboard and its exports.
    let dashboard = office
        .get(app.url(&format!("{round_url}/dashboard")))
        .send()
        .await
        .expect("dashboard");
    assert_eq!(dashboard.status(), StatusCode::OK);
    let dashboard = dashboard.text().await.expect("text");
    assert!(dashboard.contains("class=\"movement\""), "{dashboard}");
    let csv = office
        .get(app.url(&format!("{round_url}/dashboard?table=movement&format=csv")))
        .send()
        .await
        .expect("export");
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.expect("text");
    assert!(csv.contains(WATER));
    // With the change column the page shows, and a table the page does not have refused.
    let header = csv.lines().next().expect("a header");
    assert_eq!(header.split(',').count(), 11, "{header}");
    let unknown = office
        .get(app.url(&format!("{round_url}/dashboard?table=nope&format=csv")))
        .send()
        .await
        .expect("export");
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let xlsx = office
        .get(app.url(&format!(
            "{round_url}/dashboard?table=completeness&format=xlsx"
        )))
        .send()
        .await
        .expect("export");
    assert_eq!(xlsx.status(), StatusCode::OK);

    // The list of rounds downloads as the page shows it.
    let list = common::page_text(&office, &app, "/surveys").await;
    assert!(list.contains("href=\"/surveys?format=csv\""), "{list}");
    let csv = office
        .get(app.url("/surveys?format=csv"))
        .send()
        .await
        .expect("export");
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.expect("text");
    assert!(csv.contains("Spring survey"), "{csv}");
    let bad = office
        .get(app.url("/surveys?format=pdf"))
        .send()
        .await
        .expect("export");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

on_both!(
    an_office_extends_and_closes_its_round,
    spawn_demo,
    close_story
);
/// The city office gives more time and closes its round from the round page; the member
/// unit below sees no such buttons and can no longer submit once it is closed.
async fn close_story(app: TestApp) {
    let (round, assignment, county) = open_round(&app).await;
    let member = app.token_for("member").await;
    let (member_browser, _) = app.signed_in("member", "en").await;
    let page = common::page_text(&member_browser, &app, &format!("/surveys/{round}")).await;
    assert!(
        !page.contains("id=\"close-round\""),
        "not the member's to run"
    );
    let (status, _) = post_json(
        &app,
        &member,
        &format!("/api/v1/surveys/rounds/{round}/close"),
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (office, csrf) = app.signed_in("office", "en").await;
    let page = common::page_text(&office, &app, &format!("/surveys/{round}")).await;
    assert!(page.contains("id=\"extend-deadline\""), "{page}");
    let extended = office
        .post(app.url(&format!("/surveys/{round}/deadline")))
        .form(&[("csrf", csrf.as_str()), ("deadline", "2999-12-31")])
        .send()
        .await
        .expect("post");
    assert_eq!(extended.status(), StatusCode::SEE_OTHER);
    let token = app.token_for("office").await;
    let (_, detail) = get_json(&app, &token, &format!("/api/v1/surveys/rounds/{round}")).await;
    assert!(
        detail["round"]["deadline"].as_i64().expect("deadline") > 32_000_000_000_000,
        "{detail}"
    );
    let closed = office
        .post(app.url(&format!("/surveys/{round}/close")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(closed.status(), StatusCode::SEE_OTHER);
    let page = common::page_text(&office, &app, &format!("/surveys/{round}")).await;
    assert!(
        !page.contains("id=\"close-round\""),
        "closed: nothing to run"
    );
    // Closing again is refused, in the reader's language.
    let (chinese, chinese_csrf) = app.signed_in("office", "zh-CN").await;
    let again = chinese
        .post(app.url(&format!("/surveys/{round}/close")))
        .form(&[("csrf", chinese_csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let text = again.text().await.expect("text");
    assert!(text.contains("本轮调查已结束"), "{text}");
    // A round the office cannot open is refused on the form, in Chinese.
    let refused = chinese
        .post(app.url("/surveys"))
        .form(&[
            ("csrf", chinese_csrf.as_str()),
            ("title", ""),
            ("region", ""),
            ("deadline", "2999-12-31"),
            ("type", TENT),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = refused.text().await.expect("text");
    assert!(text.contains("请填写本轮调查的标题"), "{text}");
    let (status, _) = post_json(
        &app,
        &token,
        &format!("/api/v1/surveys/rounds/{round}/close"),
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let csv = format!("type_code,quantity,holder_name,region_code\n{TENT},4,Depot,{county}\n");
    let (status, problem) = post_file(
        &app,
        &member,
        &format!("/api/v1/surveys/assignments/{assignment}/submissions?file_name=late.csv"),
        &csv,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");

    // The office reopens it from the round page; the late report then goes in.
    let page = common::page_text(&chinese, &app, &format!("/surveys/{round}")).await;
    assert!(page.contains("id=\"reopen-round\""), "the reopen form");
    let reopened = chinese
        .post(app.url(&format!("/surveys/{round}/reopen")))
        .form(&[("csrf", chinese_csrf.as_str()), ("deadline", "2999-12-31")])
        .send()
        .await
        .expect("reopen");
    assert_eq!(reopened.status(), StatusCode::SEE_OTHER);
    let page = common::page_text(&chinese, &app, &format!("/surveys/{round}")).await;
    assert!(
        page.contains("id=\"close-round\""),
        "open again: it can be closed"
    );
    let (status, problem) = post_file(
        &app,
        &member,
        &format!("/api/v1/surveys/assignments/{assignment}/submissions?file_name=late.csv"),
        &csv,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{problem}");
    let (status, _) = post_json(
        &app,
        &token,
        &format!("/api/v1/surveys/rounds/{round}/reopen"),
        &json!({ "deadline": 32_503_680_000_000_i64 }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an open round is not reopened"
    );
    app.stop().await;
}

on_both!(
    the_form_reports_a_type_with_required_attributes,
    spawn_demo,
    attribute_form_story
);
/// A type whose records need an attribute (a lecture team's size) is reported on the page's
/// form: choosing the type shows its attributes, a row without the required one is refused
/// naming it, and a row with it is stored with the attribute, the grade and the coordinates.
async fn attribute_form_story(app: TestApp) {
    const LECTURE: &str = "POL.PUB.LECTURE_TEAM";
    let (_, id, county) = open_round_of(&app, &[WATER, LECTURE]).await;
    let (member, csrf) = app.signed_in("member", "en").await;
    let page = common::page_text(&member, &app, &format!("/surveys/assignments/{id}")).await;
    assert!(
        !page.contains("name=\"attr.members\""),
        "water's form, the round's first type, has no attributes"
    );
    let page = common::page_text(
        &member,
        &app,
        &format!("/surveys/assignments/{id}?add_type={LECTURE}"),
    )
    .await;
    assert!(page.contains("name=\"attr.members\""), "the team's size");
    assert!(
        page.contains("name=\"attr.language\""),
        "its language, a choice"
    );
    assert!(page.contains("value=\"dialect\""), "with its options");
    assert!(
        page.contains("min=\"2\" max=\"100\""),
        "and the size's bounds"
    );

    let post = |extra: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&str, String)> = vec![
            ("csrf", csrf.clone()),
            ("type_code", LECTURE.to_owned()),
            ("quantity", "2".to_owned()),
            ("quality", "excellent".to_owned()),
            ("holder_kind", "organization".to_owned()),
            ("holder_name", "Culture Centre".to_owned()),
            ("region_code", county.clone()),
        ];
        form.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        member
            .post(app.url(&format!("/surveys/assignments/{id}/rows")))
            .form(&form)
            .send()
    };
    let refused = post(&[("attr.language", "dialect")]).await.expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = refused.text().await.expect("text");
    assert!(refused.contains("members"), "the missing attribute named");
    assert!(
        refused.contains("name=\"attr.members\""),
        "the form comes back with the type's fields"
    );

    let stored = post(&[
        ("attr.members", "12"),
        ("attr.language", "dialect"),
        ("lat", ""),
        ("lon", ""),
    ])
    .await
    .expect("post");
    assert_eq!(stored.status(), StatusCode::SEE_OTHER);
    let scope = muster_domain::Scope::everything();
    let assignment = app
        .db
        .assignment_view(&scope, id)
        .await
        .expect("view")
        .assignment;
    let rows = app
        .db
        .submission_records(&scope, assignment.current_submission_id.expect("a version"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    let draft = &rows[0].1;
    assert_eq!(draft.type_code, LECTURE);
    assert_eq!(draft.quality.as_str(), "excellent");
    assert_eq!(
        draft.attributes.get("members").map(ToString::to_string),
        Some("12".to_owned())
    );
    assert_eq!(
        draft.attributes.get("language").map(ToString::to_string),
        Some("dialect".to_owned())
    );
}
