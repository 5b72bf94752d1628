//! The demand pages driven as a browser without JavaScript drives them — plain form posts
//! over HTTP, on both databases: state a demand with two lines (a bad line is named and the
//! input kept), record the task meeting, analyse, accept the proposal, inspect with a photo,
//! hand over, see the page move to handed over, close; cancel; and the refusals of a reader
//! out of scope, below the classification, or without the role.

mod common;

use common::{TestApp, assert_same_table, page_table, unescape};
use muster_storage::blobs::samples::{Format, image_bytes};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

const TENT: &str = "CAD.MAT.TENT_12";
const WATER: &str = "ECO.COM.BOTTLED_WATER";

/// A page's status and body.
async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = client.get(app.url(path)).send().await.expect("get");
    let status = response.status();
    (status, response.text().await.expect("text"))
}

/// A form post's status, redirect target and body.
async fn post(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let response = client
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .expect("post");
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location, response.text().await.expect("text"))
}

/// The value of the input named `name` in a page.
fn value_of(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("an input {name}"))
        + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

/// A handover form signed by both sides that hands over, for each allocation, the units the
/// demand page offers.
async fn handover_form(
    liaison: &reqwest::Client,
    app: &TestApp,
    path: &str,
    csrf: &str,
    allocation_ids: &[i64],
) -> Vec<(String, String)> {
    let mut handover: Vec<(String, String)> = vec![
        ("csrf".into(), csrf.to_owned()),
        ("handed_at".into(), String::new()),
        ("supplier_signatory".into(), "王芳".into()),
        ("receiver_signatory".into(), "李强".into()),
        ("notes".into(), "当面清点".into()),
    ];
    let (_, detail) = get(liaison, app, path).await;
    for allocation_id in allocation_ids {
        let name = format!("quantity_{allocation_id}");
        let quantity = value_of(&detail, &name);
        handover.push((name, quantity));
    }
    handover
}

/// The ids that follow `prefix` in a page, e.g. the allocation ids of `id="inspect-`.
fn ids_after(html: &str, prefix: &str) -> Vec<i64> {
    html.match_indices(prefix)
        .filter_map(|(at, _)| {
            let rest = &html[at + prefix.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// The markup inside the element with this id (up to the first closing tag of its name).
fn element(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("an element #{id} in {html}"));
    let tag_start = html[..at].rfind('<').expect("tag start") + 1;
    let tag: String = html[tag_start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let open_end = html[at..].find('>').expect("tag end") + at + 1;
    let close = html[open_end..]
        .find(&format!("</{tag}>"))
        .expect("closing tag")
        + open_end;
    html[open_end..close].to_owned()
}

/// `hours` from now as a `datetime-local` value (UTC).
fn hours_from_now(hours: i64) -> String {
    let millis = muster_storage::now().as_millis() + hours * 3_600_000;
    let minutes = millis.rem_euclid(86_400_000) / 60_000;
    format!(
        "{}T{:02}:{:02}",
        muster_domain::Timestamp::from_millis(millis).date(),
        minutes / 60,
        minutes % 60
    )
}

/// The office's city code and its point, as text for the form.
async fn city(app: &TestApp) -> (String, String, String) {
    let token = app.token_for("office").await;
    let (_, regions) = common::call(
        app,
        &token,
        reqwest::Method::GET,
        "/api/v1/regions?level=city&limit=10",
        None,
    )
    .await;
    let city = regions
        .as_array()
        .and_then(|r| r.first())
        .expect("the office sees its city")
        .clone();
    (
        city["code"].as_str().expect("code").to_owned(),
        city["lat"].as_f64().unwrap_or(31.8).to_string(),
        city["lon"].as_f64().unwrap_or(117.2).to_string(),
    )
}

/// The demand form's fields: two lines in rows 1 and 2 of five, with `second_quantity` in
/// the second line.
fn demand_form<'a>(
    csrf: &'a str,
    title: &'a str,
    classification: &'a str,
    region: &'a str,
    point: &'a (String, String, String),
    needed_by: &'a str,
    second_quantity: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("rows", "5"),
        ("title", title),
        ("origin", "military"),
        ("classification", classification),
        ("region_code", region),
        ("type_code_0", TENT),
        ("quantity_0", "3"),
        ("lat_0", &point.1),
        ("lon_0", &point.2),
        ("needed_by_0", needed_by),
        ("priority_0", "1"),
        ("type_code_1", WATER),
        ("quantity_1", second_quantity),
        ("lat_1", &point.1),
        ("lon_1", &point.2),
        ("needed_by_1", needed_by),
        ("priority_1", "2"),
        ("priority_2", "3"),
        ("priority_3", "3"),
        ("priority_4", "3"),
    ]
}

fn id_from(location: &str) -> i64 {
    location
        .strip_prefix("/demands/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a demand's page: {location:?}"))
}

/// A demand of two lines (tents and water, as `demand_form` fills it) stated by the liaison
/// at the demo city, due in 72 hours: its id.
async fn state_demand(
    app: &TestApp,
    liaison: &reqwest::Client,
    liaison_csrf: &str,
    title: &str,
) -> i64 {
    let point = city(app).await;
    let needed_by = hours_from_now(72);
    let fields = demand_form(
        liaison_csrf,
        title,
        "internal",
        &point.0,
        &point,
        &needed_by,
        "2",
    );
    let (status, location, _) = post(liaison, app, "/demands", &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    id_from(&location)
}

async fn api_demand(app: &TestApp, id: i64) -> Value {
    let token = app.token_for("admin").await;
    let (status, demand) = common::call(
        app,
        &token,
        reqwest::Method::GET,
        &format!("/api/v1/demands/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{demand}");
    demand
}

fn allocation_count_of(demand: &Value) -> usize {
    demand["allocations"].as_array().map_or(0, Vec::len)
}

on_both!(a_demand_goes_through_by_forms, spawn_demo, forms_story);
async fn forms_story(app: TestApp) {
    app.seed_records().await;
    let point = city(&app).await;
    let needed_by = hours_from_now(72);
    let (liaison, liaison_csrf) = app.signed_in("liaison", "zh-CN").await;
    let (office, office_csrf) = app.signed_in("office", "zh-CN").await;

    // The list links to the form; the form has five blank rows and the liaison's region.
    let (status, list) = get(&liaison, &app, "/demands").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("href=\"/demands/new\""), "{list}");
    let (status, form) = get(&liaison, &app, "/demands/new").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids_after(&form, "id=\"line-").len(), 5, "five rows");
    assert_eq!(value_of(&form, "region_code"), point.0);
    assert!(form.contains("登记需求"), "in Chinese: {form}");

    // "Add lines" keeps what was typed and gives five more rows.
    let fields = demand_form(
        &liaison_csrf,
        "城区帐篷与饮水",
        "internal",
        &point.0,
        &point,
        &needed_by,
        "2",
    );
    let mut more = fields.clone();
    more.push(("more", "1"));
    let (status, _, form) = post(&liaison, &app, "/demands", &more).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids_after(&form, "id=\"line-").len(), 10, "ten rows");
    assert_eq!(value_of(&form, "title"), "城区帐篷与饮水");
    assert_eq!(value_of(&form, "type_code_1"), WATER);

    // A quantity that is not a number is named by line and field, and the input stays.
    let mut bad = fields.clone();
    bad[13] = ("quantity_1", "两箱");
    let (status, _, form) = post(&liaison, &app, "/demands", &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
    let problem = element(&form, "line-2-problems");
    assert!(
        problem.contains("明细 2") && problem.contains("数量"),
        "{problem}"
    );
    assert_eq!(value_of(&form, "quantity_1"), "两箱");
    assert_eq!(value_of(&form, "type_code_0"), TENT);
    assert_eq!(value_of(&form, "title"), "城区帐篷与饮水");
    assert!(!form.contains("id=\"line-1-problems\""), "line 1 is fine");

    // A quantity the domain refuses (0) comes back from storage, placed on its line too,
    // said in Chinese on the Chinese form.
    let mut zero = fields.clone();
    zero[13] = ("quantity_1", "0");
    let (status, _, form) = post(&liaison, &app, "/demands", &zero).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
    let problem = element(&form, "line-2-problems");
    assert!(
        problem.contains("明细 2") && problem.contains("实为 0"),
        "{problem}"
    );
    assert!(!problem.contains("found 0"), "{problem}");
    assert_eq!(value_of(&form, "quantity_1"), "0");

    // Stated: the demand's page, received, both lines numbered from 1.
    let (status, location, _) = post(&liaison, &app, "/demands", &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = id_from(&location);
    let path = format!("/demands/{id}");
    let (_, detail) = get(&office, &app, &path).await;
    assert_eq!(element(&detail, "demand-status"), "已接收");
    assert!(detail.contains("id=\"analyse\""), "the office may analyse");
    assert_eq!(detail.matches("class=\"demand-line\"").count(), 2);
    assert!(detail.contains("<tr class=\"demand-line\"><td>1</td>"));

    // A meeting record with an attendee line the form cannot read is refused, kept.
    let meeting = |military: &'static str| {
        vec![
            ("csrf", office_csrf.as_str()),
            ("held_at", ""),
            ("military", military),
            ("civil", "王芳，市动员办"),
            ("decisions", "就近调配帐篷\n饮水由县仓库补足"),
        ]
    };
    let (status, _, page) =
        post(&office, &app, &format!("{path}/meetings"), &meeting("李强")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(element(&page, "meeting-problem").contains("姓名，单位"));
    assert!(page.contains("饮水由县仓库补足"), "the decisions are kept");
    // Recorded: listed on the page, and the demand is analysed by it.
    let (status, _, _) = post(
        &office,
        &app,
        &format!("{path}/meetings"),
        &meeting("李强，军分区"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, detail) = get(&office, &app, &path).await;
    assert_eq!(element(&detail, "demand-status"), "已分析");
    assert!(
        detail.contains("李强（军分区，军）") && detail.contains("<li>就近调配帐篷</li>"),
        "{detail}"
    );
    assert!(!detail.contains("id=\"analyse\""), "analysed already");

    // Accept the proposal: every unit is reserved.
    assert!(detail.contains("id=\"accept-allocation\""), "{detail}");
    let (status, _, _) = post(
        &office,
        &app,
        &format!("{path}/accept"),
        &[("csrf", &office_csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let stored = api_demand(&app, id).await;
    for line in stored["lines"].as_array().expect("lines") {
        assert_eq!(line["allocated"], line["quantity"], "{stored}");
    }
    let (_, detail) = get(&office, &app, &path).await;
    assert_eq!(element(&detail, "demand-status"), "已分配");
    // The records are allocated in the registry, their units reserved.
    assert_eq!(
        detail
            .matches("<td class=\"record-status\">已调配</td>")
            .count(),
        allocation_count_of(&stored),
        "{detail}"
    );
    let allocations = ids_after(&detail, "id=\"inspect-");
    let allocation_count = allocation_count_of(&stored);
    assert!(allocation_count > 0);
    assert_eq!(
        allocations.len(),
        allocation_count,
        "one inspection form per allocation: {allocations:?}"
    );

    // A "photo" that is not one is refused beside its form, with the input kept.
    let first = stored["allocations"][0]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    let (content_type, body) = common::multipart_with_photos(
        &[
            ("csrf", office_csrf.as_str()),
            ("allocation_id", first.as_str()),
            ("condition", "fair"),
            ("quantity_seen", "1"),
            ("quantity_accepted", "1"),
            ("notes", "箱体有划痕"),
        ],
        &[("list.txt", b"not a picture at all".to_vec())],
    );
    let response = office
        .post(app.url(&format!("{path}/inspections")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("inspect");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.expect("text");
    assert!(
        element(&page, &format!("inspect-{first}-problem")).contains("list.txt"),
        "{page}"
    );
    assert!(page.contains("箱体有划痕"), "the notes are kept");
    assert_eq!(
        api_demand(&app, id).await["inspections"],
        serde_json::json!([])
    );

    // Inspect each allocation; the first with a photo, through the attachment store.
    let photo = image_bytes(320, 240, Format::Jpeg);
    let allocation_ids: Vec<i64> = stored["allocations"]
        .as_array()
        .expect("allocations")
        .iter()
        .map(|a| a["id"].as_i64().expect("id"))
        .collect();
    for (index, allocation_id) in allocation_ids.iter().enumerate() {
        let (_, detail) = get(&office, &app, &path).await;
        let form_start = detail
            .find(&format!("id=\"inspect-{allocation_id}\""))
            .expect("the allocation's inspection form");
        let seen = value_of(&detail[form_start..], "quantity_seen");
        let allocation_id = allocation_id.to_string();
        let fields = [
            ("csrf", office_csrf.as_str()),
            ("allocation_id", allocation_id.as_str()),
            ("condition", "good"),
            ("quantity_seen", seen.as_str()),
            ("quantity_accepted", seen.as_str()),
            ("notes", "外观完好"),
        ];
        let photos = if index == 0 {
            vec![("tent.jpg", photo.clone())]
        } else {
            Vec::new()
        };
        let (content_type, body) = common::multipart_with_photos(&fields, &photos);
        let response = office
            .post(app.url(&format!("{path}/inspections")))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("inspect");
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }
    // Inspecting an allocation again is refused; its form is gone, so the refusal is shown
    // at the top of the page, in Chinese. The liaison, who does not inspect, is refused the
    // same way, in Chinese too.
    let again = allocation_ids[0].to_string();
    for (client, csrf, code, expected) in [
        (&office, &office_csrf, StatusCode::CONFLICT, "已经查验过"),
        (
            &liaison,
            &liaison_csrf,
            StatusCode::FORBIDDEN,
            "只有动员办工作人员和系统管理员才能记录现场查验",
        ),
    ] {
        let (content_type, body) = common::multipart_with_photos(
            &[
                ("csrf", csrf.as_str()),
                ("allocation_id", again.as_str()),
                ("condition", "good"),
                ("quantity_seen", "1"),
                ("quantity_accepted", "1"),
            ],
            &[],
        );
        let response = client
            .post(app.url(&format!("{path}/inspections")))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("inspect again");
        assert_eq!(response.status(), code);
        let page = response.text().await.expect("text");
        assert!(
            element(&page, "demand-problem").contains(expected),
            "{page}"
        );
    }

    let stored = api_demand(&app, id).await;
    let sha = stored["inspections"][0]["photos"][0]
        .as_str()
        .expect("the photo is named")
        .to_owned();
    let (_, detail) = get(&office, &app, &path).await;
    assert_eq!(element(&detail, "demand-status"), "已查验");
    assert_eq!(
        detail.matches("class=\"inspection\"").count(),
        allocation_ids.len()
    );
    let thumbnail = format!("/demands/{id}/photos/{sha}?thumbnail=1");
    assert!(detail.contains(&thumbnail), "{detail}");
    let response = office
        .get(app.url(&thumbnail))
        .send()
        .await
        .expect("thumbnail");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap_or(""),
        "image/jpeg"
    );
    // Only the demand's own photos are served through it.
    let (status, _) = get(
        &office,
        &app,
        &format!("/demands/{id}/photos/{}", "ab".repeat(32)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Hand over everything inspected, signed by both sides.
    let handover = handover_form(&liaison, &app, &path, &liaison_csrf, &allocation_ids).await;
    // Without the receiving side's signature it is refused, and the input is kept.
    let unsigned: Vec<(&str, &str)> = handover
        .iter()
        .map(|(k, v)| {
            (
                k.as_str(),
                if k == "receiver_signatory" {
                    ""
                } else {
                    v.as_str()
                },
            )
        })
        .collect();
    let (status, _, page) = post(&liaison, &app, &format!("{path}/handovers"), &unsigned).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        element(&page, "handover-problem").contains("接收方须签字"),
        "{page}"
    );
    assert_eq!(value_of(&page, "supplier_signatory"), "王芳");
    let signed: Vec<(&str, &str)> = handover
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _, page) = post(&liaison, &app, &format!("{path}/handovers"), &signed).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let (_, detail) = get(&office, &app, &path).await;
    assert_eq!(element(&detail, "demand-status"), "已交接");
    assert_eq!(detail.matches("class=\"handover\"").count(), 1);
    assert!(detail.contains("<td>王芳</td><td>李强</td>"), "{detail}");
    assert_eq!(
        detail.matches("<td class=\"stage\">已交接</td>").count(),
        allocation_ids.len(),
        "every allocation handed over"
    );
    assert!(
        !detail.contains("id=\"handover-form\""),
        "nothing left to hand over"
    );
    // The units left the records: nothing reserved, none of them allocated any more.
    assert!(
        !detail.contains("<td class=\"record-status\">已调配</td>"),
        "{detail}"
    );
    assert_eq!(
        detail.matches(" / 0</td>").count(),
        allocation_ids.len(),
        "{detail}"
    );
    let stored = api_demand(&app, id).await;
    for line in stored["lines"].as_array().expect("lines") {
        assert_eq!(line["handed_over"], line["quantity"], "{stored}");
    }

    // Close: handed over in full, so no reason is asked.
    assert!(!detail.contains("name=\"reason\" rows"), "no reason needed");
    let (status, _, _) = post(
        &office,
        &app,
        &format!("{path}/close"),
        &[("csrf", &office_csrf), ("reason", "")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, detail) = get(&office, &app, &path).await;
    assert_eq!(element(&detail, "demand-status"), "已关闭");
    assert!(element(&detail, "demand-ending").contains("已全部交付"));
    assert!(
        !detail.contains("id=\"cancel-demand\""),
        "nothing more to do"
    );

    // A second demand, analysed by the button alone: closing it needs a reason, since
    // nothing is handed over; a blank one is refused beside the form.
    let (status, location, _) = post(&liaison, &app, "/demands", &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let second = format!("/demands/{}", id_from(&location));
    let (status, _, _) = post(
        &office,
        &app,
        &format!("{second}/analyse"),
        &[("csrf", &office_csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, detail) = get(&office, &app, &second).await;
    assert_eq!(element(&detail, "demand-status"), "已分析");
    assert!(detail.contains("id=\"close-form\""), "{detail}");
    let (status, _, page) = post(
        &office,
        &app,
        &format!("{second}/close"),
        &[("csrf", &office_csrf), ("reason", "")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        element(&page, "close-problem").contains("不能对已分析的需求执行“关闭”"),
        "{page}"
    );
    let (status, _, _) = post(
        &office,
        &app,
        &format!("{second}/close"),
        &[("csrf", &office_csrf), ("reason", "上级另行调配")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, detail) = get(&office, &app, &second).await;
    assert_eq!(element(&detail, "demand-status"), "已关闭");
    assert!(element(&detail, "demand-ending").contains("上级另行调配"));

    // A third, cancelled by the liaison with a reason (a blank one is refused).
    let (status, location, _) = post(&liaison, &app, "/demands", &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let third = format!("/demands/{}", id_from(&location));
    let (status, _, page) = post(
        &liaison,
        &app,
        &format!("{third}/cancel"),
        &[("csrf", &liaison_csrf), ("reason", " ")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        element(&page, "cancel-problem").contains("取消：须填写原因"),
        "{page}"
    );
    let (status, _, _) = post(
        &liaison,
        &app,
        &format!("{third}/cancel"),
        &[("csrf", &liaison_csrf), ("reason", "任务取消")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, detail) = get(&office, &app, &third).await;
    assert_eq!(element(&detail, "demand-status"), "已取消");
    assert!(element(&detail, "demand-ending").contains("任务取消"));
    app.stop().await;
}

on_both!(
    a_shortfall_found_by_verification_is_marked,
    spawn_demo,
    shortfall_story
);
/// A verification that finds fewer units at an allocated holding than are reserved of it:
/// the record says what was seen, and the demand page marks the shortfall beside its stock.
async fn shortfall_story(app: TestApp) {
    app.seed_records().await;
    let (liaison, liaison_csrf) = app.signed_in("liaison", "zh-CN").await;
    let (office, office_csrf) = app.signed_in("office", "zh-CN").await;
    let id = state_demand(&app, &liaison, &liaison_csrf, "城区帐篷").await;
    let path = format!("/demands/{id}");
    let meeting = [
        ("csrf", office_csrf.as_str()),
        ("held_at", ""),
        ("military", "李强，军分区"),
        ("civil", "王芳，市动员办"),
        ("decisions", "就近调配帐篷"),
    ];
    let (status, _, _) = post(&office, &app, &format!("{path}/meetings"), &meeting).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = post(
        &office,
        &app,
        &format!("{path}/accept"),
        &[("csrf", &office_csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let stored = api_demand(&app, id).await;
    let (_, detail) = get(&office, &app, &path).await;
    assert!(!detail.contains("缺 "), "nothing short yet: {detail}");

    // A verification then finds fewer units at one allocated holding than are reserved of
    // it: the record says what was seen, and the page marks the shortfall beside its stock.
    let record_id = stored["allocations"][0]["record_id"]
        .as_i64()
        .expect("a record");
    let reserved: i64 = stored["allocations"]
        .as_array()
        .expect("allocations")
        .iter()
        .filter(|a| a["record_id"].as_i64() == Some(record_id))
        .map(|a| a["quantity"].as_i64().expect("a quantity"))
        .sum();
    let office_actor = {
        let user_id = app
            .db
            .user_id_by_username("office")
            .await
            .expect("lookup")
            .expect("the office");
        app.db
            .user_for_authentication(user_id)
            .await
            .expect("read")
            .expect("a user")
            .actor()
    };
    let record = app
        .db
        .potential_record(&muster_domain::Scope::everything(), record_id)
        .await
        .expect("the record");
    let sample = app
        .db
        .draw_sample(
            &office_actor,
            &muster_storage::SampleRequest {
                region_code: Some(record.region_code.clone()),
                round_id: None,
                method: muster_storage::SampleMethod::Stratified(
                    muster_domain::verification::SampleSize::Percent(100.0),
                ),
                seed: Some(3),
                tolerance: muster_domain::verification::Tolerance::default(),
            },
        )
        .await
        .expect("draw");
    let office_id = office_actor.user_id().expect("a user");
    app.db
        .assign_sample(&office_actor, sample.id, &[office_id])
        .await
        .expect("assign");
    let seen = reserved / 2;
    app.db
        .record_finding(
            &office_actor,
            sample.id,
            record_id,
            muster_storage::FindingInput {
                quantity_seen: seen as f64,
                location_right: true,
                type_right: true,
                notes: String::new(),
                photos: Vec::new(),
            },
        )
        .await
        .expect("finding");
    let (_, detail) = get(&office, &app, &path).await;
    let short = format!("{seen} / {reserved}，缺 {}", reserved - seen);
    assert!(detail.contains(&short), "{short}: {detail}");
}

on_both!(the_pages_refuse_clearly, spawn_demo, refusals_story);
async fn refusals_story(app: TestApp) {
    let point = city(&app).await;
    let needed_by = hours_from_now(48);
    let (liaison, liaison_csrf) = app.signed_in("liaison", "en").await;

    // Addressed outside the liaison's city: refused beside the region field, input kept.
    let outside = demand_form(
        &liaison_csrf,
        "Tents",
        "internal",
        "34",
        &point,
        &needed_by,
        "2",
    );
    let (status, _, form) = post(&liaison, &app, "/demands", &outside).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
    assert!(
        element(&form, "problem-region_code").contains("not in your region"),
        "{form}"
    );
    assert_eq!(value_of(&form, "region_code"), "34");

    // A confidential demand: the liaison reads it; the office, below that clearance, gets
    // "not found" on the page and on every form, never a server error.
    let secret = demand_form(
        &liaison_csrf,
        "Classified",
        "confidential",
        &point.0,
        &point,
        &needed_by,
        "2",
    );
    let (status, location, _) = post(&liaison, &app, "/demands", &secret).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = id_from(&location);
    let (status, _) = get(&liaison, &app, &format!("/demands/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (office, office_csrf) = app.signed_in("office", "en").await;
    let (status, page) = get(&office, &app, &format!("/demands/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    assert!(page.contains("Not found"), "{page}");
    let (_, list) = get(&office, &app, "/demands").await;
    assert!(!list.contains("Classified"), "{list}");
    let (form_status, form) = get(&office, &app, "/demands/new").await;
    assert_eq!(form_status, StatusCode::OK);
    assert!(
        !form.contains("value=\"confidential\""),
        "not offered: {form}"
    );
    for action in ["analyse", "cancel", "close"] {
        let (status, _, page) = post(
            &office,
            &app,
            &format!("/demands/{id}/{action}"),
            &[("csrf", &office_csrf), ("reason", "x")],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}: {page}");
    }

    // A viewer may read but not state: the refusal is on the form, with the input kept.
    let (viewer, viewer_csrf) = app.signed_in("viewer", "en").await;
    let (_, list) = get(&viewer, &app, "/demands").await;
    assert!(!list.contains("href=\"/demands/new\""), "{list}");
    let attempt = demand_form(
        &viewer_csrf,
        "Viewer's",
        "internal",
        &point.0,
        &point,
        &needed_by,
        "2",
    );
    let (status, _, form) = post(&viewer, &app, "/demands", &attempt).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{form}");
    assert!(
        element(&form, "form-problem").contains("state demands"),
        "{form}"
    );
    assert_eq!(value_of(&form, "title"), "Viewer&#39;s");

    // A form without the session's CSRF token is refused before anything is read.
    let (status, _, _) = post(&liaison, &app, "/demands", &outside[1..]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

on_both!(
    demand_refusals_are_said_in_chinese,
    spawn_demo,
    chinese_refusals_story
);
/// The refusals of the demand forms on the Chinese pages are said in Chinese (and the same
/// refusals on the English pages stay in English): a region outside the liaison's, a demand
/// with no title and a past needed-by time, an origin the form does not offer, and a task
/// meeting of a military demand without the military side.
async fn chinese_refusals_story(app: TestApp) {
    let point = city(&app).await;
    let needed_by = hours_from_now(48);
    let (liaison, liaison_csrf) = app.signed_in("liaison", "zh-CN").await;

    // Addressed outside the liaison's city: said in Chinese beside the region field.
    let outside = demand_form(
        &liaison_csrf,
        "帐篷",
        "internal",
        "34",
        &point,
        &needed_by,
        "2",
    );
    let (status, _, form) = post(&liaison, &app, "/demands", &outside).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
    let problem = element(&form, "problem-region_code");
    assert!(problem.contains("地区 34 不在您的辖区内"), "{problem}");
    assert!(!problem.contains("not in your region"), "{problem}");

    // No title and a needed-by time already past: each problem in Chinese, in its place.
    let past = hours_from_now(-48);
    let untitled = demand_form(&liaison_csrf, "", "internal", &point.0, &point, &past, "2");
    let (status, _, form) = post(&liaison, &app, "/demands", &untitled).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
    assert!(form.contains("请填写需求标题"), "{form}");
    let problem = element(&form, "line-1-problems");
    assert!(problem.contains("需要时间已经过去"), "{problem}");
    assert!(!form.contains("give the demand a title"), "{form}");

    // An origin the form does not offer: the form's own refusal, in Chinese.
    let mut odd = demand_form(
        &liaison_csrf,
        "帐篷",
        "internal",
        &point.0,
        &point,
        &needed_by,
        "2",
    );
    odd[3] = ("origin", "navy");
    let (status, _, form) = post(&liaison, &app, "/demands", &odd).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
    assert!(form.contains("应为军事需求（military）"), "{form}");

    // A military demand's task meeting without the military side: refused in Chinese.
    let fields = demand_form(
        &liaison_csrf,
        "帐篷",
        "internal",
        &point.0,
        &point,
        &needed_by,
        "2",
    );
    let (status, location, _) = post(&liaison, &app, "/demands", &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let path = format!("/demands/{}", id_from(&location));
    let (office, office_csrf) = app.signed_in("office", "zh-CN").await;
    let civil_only = [
        ("csrf", office_csrf.as_str()),
        ("held_at", ""),
        ("military", ""),
        ("civil", "王芳，市动员办"),
        ("decisions", "就近调配帐篷"),
    ];
    let (status, _, page) = post(&office, &app, &format!("{path}/meetings"), &civil_only).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let problem = element(&page, "meeting-problem");
    assert!(problem.contains("请至少列出一名军方参会人员"), "{problem}");

    // The same meeting on the English page: the English refusal, as before.
    let (english, english_csrf) = app.signed_in("office", "en").await;
    let civil_only = [
        ("csrf", english_csrf.as_str()),
        ("held_at", ""),
        ("military", ""),
        ("civil", "Wang Fang, city office"),
        ("decisions", "tents from the nearest depot"),
    ];
    let (status, _, page) = post(&english, &app, &format!("{path}/meetings"), &civil_only).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let problem = element(&page, "meeting-problem");
    assert!(problem.contains("military side"), "{problem}");
    app.stop().await;
}

/// The CSV link the page shows in the paragraph `id`, without its `format=csv`: the path
/// to download.
fn export_path(html: &str, id: &str) -> String {
    let links = element(html, id);
    let marker = "class=\"export-csv\" href=\"";
    let start = links.find(marker).expect("a CSV link") + marker.len();
    let href = unescape(links[start..].split('"').next().expect("an href"));
    href.strip_suffix("&format=csv")
        .or_else(|| href.strip_suffix("?format=csv"))
        .unwrap_or_else(|| panic!("a CSV link: {href}"))
        .to_owned()
}

on_both!(
    the_demand_tables_download_as_shown,
    spawn_demo,
    downloads_story
);
/// Each table of the demand pages downloads as CSV and XLSX with the page's headers, in the
/// reader's language, and the page's rows: the list (without a demand the reader may not
/// see), and a demand's lines, proposal, allocations, inspections and handovers as the
/// demand goes through; a table the page does not have is refused.
async fn downloads_story(app: TestApp) {
    app.seed_records().await;
    let (liaison, liaison_csrf) = app.signed_in("liaison", "zh-CN").await;
    let (office, office_csrf) = app.signed_in("office", "zh-CN").await;
    let id = state_demand(&app, &liaison, &liaison_csrf, "城区帐篷与饮水").await;
    let point = city(&app).await;
    let needed_by = hours_from_now(72);
    let path = format!("/demands/{id}");
    let (status, _, _) = post(
        &office,
        &app,
        &format!("{path}/analyse"),
        &[("csrf", &office_csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // Analysed: the lines, in Chinese, as stated; and the proposal as the page shows it.
    let (_, detail) = get(&office, &app, &path).await;
    assert_eq!(
        export_path(&detail, "lines-exports"),
        format!("{path}?table=lines")
    );
    let sheets = common::download_both(&office, &app, &format!("{path}?table=lines")).await;
    let lines = &sheets[0];
    assert_same_table("lines", &page_table(&detail, "demand-lines"), lines);
    assert_eq!(lines[0][1], "资源类型", "{lines:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[1][..4], ["1", TENT, "3", "1"], "{lines:?}");
    assert_eq!(lines[2][..4], ["2", WATER, "2", "2"], "{lines:?}");
    // With no `table=`, the lines too.
    let unnamed = common::download_both(&office, &app, &path).await;
    assert_eq!(&unnamed[0], lines);

    let proposal_path = export_path(&detail, "proposal-exports");
    assert_eq!(proposal_path, format!("{path}?table=proposal"));
    let sheets = common::download_both(&office, &app, &proposal_path).await;
    let page_proposal = page_table(&detail, "proposal");
    assert!(page_proposal.len() > 1, "something is proposed: {detail}");
    assert_same_table("proposal", &page_proposal, &sheets[0]);

    // A table the page does not have is refused, naming the ones it has.
    let response = office
        .get(app.url(&format!("{path}?table=meetings&format=csv")))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.expect("text");
    assert!(page.contains("allocations"), "{page}");

    // Accepted: the allocations.
    let (status, _, _) = post(
        &office,
        &app,
        &format!("{path}/accept"),
        &[("csrf", &office_csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, detail) = get(&office, &app, &path).await;
    let allocations_path = export_path(&detail, "allocations-exports");
    let sheets = common::download_both(&office, &app, &allocations_path).await;
    let allocations = &sheets[0];
    assert_same_table(
        "allocations",
        &page_table(&detail, "allocations"),
        allocations,
    );
    let stored = api_demand(&app, id).await;
    assert_eq!(allocations.len() - 1, allocation_count_of(&stored));
    for row in &allocations[1..] {
        assert_eq!(row[6], "待查验", "{row:?}");
        assert_eq!(row[7], "已调配", "{row:?}");
    }

    // Inspected, each allocation with its notes.
    let allocation_ids: Vec<i64> = stored["allocations"]
        .as_array()
        .expect("allocations")
        .iter()
        .map(|a| a["id"].as_i64().expect("id"))
        .collect();
    for (index, allocation_id) in allocation_ids.iter().enumerate() {
        let (_, detail) = get(&office, &app, &path).await;
        let form_start = detail
            .find(&format!("id=\"inspect-{allocation_id}\""))
            .expect("the allocation's inspection form");
        let seen = value_of(&detail[form_start..], "quantity_seen");
        let allocation_id = allocation_id.to_string();
        let notes = format!("外观完好 {index}");
        let (content_type, body) = common::multipart_with_photos(
            &[
                ("csrf", office_csrf.as_str()),
                ("allocation_id", allocation_id.as_str()),
                ("condition", "good"),
                ("quantity_seen", seen.as_str()),
                ("quantity_accepted", seen.as_str()),
                ("notes", notes.as_str()),
            ],
            &[],
        );
        let response = office
            .post(app.url(&format!("{path}/inspections")))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("inspect");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let (_, detail) = get(&office, &app, &path).await;
    let sheets =
        common::download_both(&office, &app, &export_path(&detail, "inspections-exports")).await;
    let inspections = &sheets[0];
    let mut page_inspections = page_table(&detail, "inspections");
    // The page shows the photos as thumbnails; the download says how many (none here).
    for row in page_inspections.iter_mut().skip(1) {
        assert_eq!(row[5], "", "{row:?}");
        row[5] = "0".into();
    }
    assert_same_table("inspections", &page_inspections, inspections);
    assert_eq!(inspections.len() - 1, allocation_ids.len());
    assert_eq!(inspections[0][5], "照片");
    for (index, row) in inspections[1..].iter().enumerate() {
        assert_eq!(row[1], "良好", "{row:?}");
        assert_eq!(row[4], format!("外观完好 {index}"), "{row:?}");
    }

    // Handed over: the handover, signed by both sides, with every allocation's units.
    let handover = handover_form(&liaison, &app, &path, &liaison_csrf, &allocation_ids).await;
    let signed: Vec<(&str, &str)> = handover
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _, page) = post(&liaison, &app, &format!("{path}/handovers"), &signed).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let (_, detail) = get(&liaison, &app, &path).await;
    let sheets =
        common::download_both(&liaison, &app, &export_path(&detail, "handovers-exports")).await;
    let handovers = &sheets[0];
    assert_same_table("handovers", &page_table(&detail, "handovers"), handovers);
    assert_eq!(handovers.len(), 2, "{handovers:?}");
    assert_eq!(
        handovers[1][2..5],
        ["王芳", "李强", "当面清点"],
        "{handovers:?}"
    );
    assert_eq!(
        handovers[1][1].split("; ").count(),
        allocation_ids.len(),
        "{handovers:?}"
    );
    // The allocations now say so too.
    let sheets = common::download_both(&liaison, &app, &format!("{path}?table=allocations")).await;
    for row in &sheets[0][1..] {
        assert_eq!(row[6], "已交接", "{row:?}");
    }

    // The list, in English: the page's rows; a confidential demand only for the liaison,
    // who has the clearance, not for the office.
    let secret = demand_form(
        &liaison_csrf,
        "Classified",
        "confidential",
        &point.0,
        &point,
        &needed_by,
        "2",
    );
    let (status, location, _) = post(&liaison, &app, "/demands", &secret).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let secret_id = id_from(&location).to_string();
    let (english, _) = app.signed_in("office", "en").await;
    let (_, list) = get(&english, &app, "/demands").await;
    let sheets = common::download_both(&english, &app, "/demands").await;
    let demands = &sheets[0];
    assert_same_table("demands", &page_table(&list, "demands"), demands);
    assert_eq!(
        demands[0],
        [
            "#",
            "Demand",
            "From",
            "Classification",
            "Region",
            "Status",
            "Lines"
        ]
    );
    let row = demands
        .iter()
        .find(|row| row[0] == id.to_string())
        .expect("the demand is listed");
    assert_eq!(row[1], "城区帐篷与饮水");
    assert_eq!(row[6], "2");
    assert!(demands.iter().all(|row| row[0] != secret_id), "{demands:?}");
    // Nor can the office download the confidential demand's tables by its id.
    for table in ["lines", "allocations"] {
        let path = format!("/demands/{secret_id}?table={table}&format=csv");
        let response = english.get(app.url(&path)).send().await.expect("get");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (_, list) = get(&liaison, &app, "/demands").await;
    let sheets = common::download_both(&liaison, &app, "/demands").await;
    assert_same_table("demands", &page_table(&list, "demands"), &sheets[0]);
    assert!(
        sheets[0]
            .iter()
            .any(|row| row[0] == secret_id && row[1] == "Classified"),
        "{:?}",
        sheets[0]
    );
    assert_eq!(sheets[0][0][1], "需求");
    app.stop().await;
}
