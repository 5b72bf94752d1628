//! Sites over HTTP, on both databases: registering and reading in scope through the API,
//! the refusals as problem details, records linked on import, and the Sites tab with its
//! form and exports in both languages.

mod common;

use common::TestApp;
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

async fn post_site(app: &TestApp, token: &str, body: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/sites"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("post");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A county the token's user sees, and one of the province's counties that they do not, each
/// with its own point.
async fn counties(app: &TestApp, office: &str, admin: &str) -> (Value, Value) {
    let (_, mine) = get_json(app, office, "/api/v1/regions?level=county&limit=1000").await;
    let (_, all) = get_json(app, admin, "/api/v1/regions?level=county&limit=1000").await;
    let mine = mine.as_array().expect("regions").clone();
    let inside = mine.first().expect("the office sees a county").clone();
    let outside = all
        .as_array()
        .expect("regions")
        .iter()
        .find(|r| !mine.iter().any(|m| m["code"] == r["code"]))
        .expect("a county outside the office's city")
        .clone();
    (inside, outside)
}

fn site_body(name: &str, county: &Value) -> Value {
    json!({
        "name": name,
        "kind": "reserve_depot",
        "region_code": county["code"],
        "lat": county["lat"].as_f64().expect("lat"),
        "lon": county["lon"].as_f64().expect("lon"),
    })
}

on_both!(sites_through_the_api, spawn_demo, api_story);
async fn api_story(app: TestApp) {
    let office = app.token_for("office").await;
    let admin = app.token_for("admin").await;
    let viewer = app.token_for("viewer").await;
    let (inside, outside) = counties(&app, &office, &admin).await;

    let (status, depot) = post_site(&app, &office, &site_body("North Depot", &inside)).await;
    assert_eq!(status, StatusCode::CREATED, "{depot}");
    assert_eq!(depot["name"], "North Depot");
    assert_eq!(depot["kind"], "reserve_depot");
    assert_eq!(depot["region_code"], inside["code"]);
    assert_eq!(depot["record_count"], 0);
    let id = depot["id"].as_i64().expect("id");
    let (status, far) = post_site(&app, &admin, &site_body("Far Yard", &outside)).await;
    assert_eq!(status, StatusCode::CREATED, "{far}");
    let far_id = far["id"].as_i64().expect("id");

    let (status, listed) = get_json(&app, &office, "/api/v1/sites").await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<i64> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![id], "the other city's site is not listed");
    let (status, one) = get_json(&app, &office, &format!("/api/v1/sites/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one, depot);
    let (status, _) = get_json(&app, &office, &format!("/api/v1/sites/{far_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "outside the scope is absent");
    let (_, everything) = get_json(&app, &admin, "/api/v1/sites").await;
    assert_eq!(everything.as_array().expect("list").len(), 2);

    // Refusals, each a problem naming what to fix.
    let (status, problem) = post_site(&app, &office, &site_body(" north   DEPOT", &inside)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["field"], "name");
    let (status, problem) = post_site(&app, &office, &site_body("Other", &outside)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, _) = post_site(&app, &viewer, &site_body("Viewer's", &inside)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut far_away = site_body("Far away", &inside);
    far_away["lat"] = json!(inside["lat"].as_f64().expect("lat") + 10.0);
    let (status, problem) = post_site(&app, &office, &far_away).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "lat");
    let mut odd_kind = site_body("Odd", &inside);
    odd_kind["kind"] = json!("castle");
    let (status, problem) = post_site(&app, &office, &odd_kind).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "kind");

    // A record naming the site in its region is linked to it when imported.
    let csv = format!(
        "type_code,quantity,holder_kind,holder_name,site,region_code\n\
         CAD.MAT.TENT_12,5,organization,Red Cross,NORTH depot,{code}\n\
         CAD.MAT.TENT_12,3,organization,Blue Cross,Elsewhere,{code}\n",
        code = inside["code"].as_str().expect("code")
    );
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/potential/imports?file_name=sites.csv"))
        .bearer_auth(&office)
        .body(csv)
        .send()
        .await
        .expect("import");
    assert_eq!(response.status(), StatusCode::CREATED);
    let (_, one) = get_json(&app, &office, &format!("/api/v1/sites/{id}")).await;
    assert_eq!(one["record_count"], 1);
    let (_, records) = get_json(
        &app,
        &office,
        &format!(
            "/api/v1/potential/records?region={}",
            inside["code"].as_str().expect("code")
        ),
    )
    .await;
    let site_of = |holder: &str| {
        records
            .as_array()
            .expect("records")
            .iter()
            .find(|r| r["holder"]["name"] == holder)
            .map(|r| r["site_id"].clone())
    };
    assert_eq!(site_of("Red Cross"), Some(json!(id)));
    assert_eq!(site_of("Blue Cross"), Some(Value::Null));

    let (_, openapi) = get_json(&app, &office, "/api/v1/openapi.json").await;
    assert!(openapi["paths"]["/sites"]["post"].is_object());
    assert!(openapi["paths"]["/sites/{id}"]["get"].is_object());
    app.stop().await;
}

on_both!(the_sites_tab, spawn_demo, pages_story);
async fn pages_story(app: TestApp) {
    let office = app.token_for("office").await;
    let admin = app.token_for("admin").await;
    let (inside, _) = counties(&app, &office, &admin).await;
    let code = inside["code"].as_str().expect("code").to_owned();
    let (client, csrf) = app.signed_in("office", "en").await;

    let page = common::page_text(&client, &app, "/potential/sites").await;
    assert!(page.contains("href=\"/potential/sites\" aria-current=\"page\""));
    assert!(
        page.contains("Register a site"),
        "office staff get the form"
    );

    let lat = inside["lat"].as_f64().expect("lat").to_string();
    let lon = inside["lon"].as_f64().expect("lon").to_string();
    let form = |name: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", name.to_owned()),
            ("kind", "hospital".to_owned()),
            ("region_code", code.clone()),
            ("lat", lat.clone()),
            ("lon", lon.clone()),
            ("organization_id", String::new()),
        ]
    };
    let created = client
        .post(app.url("/potential/sites"))
        .form(&form("City Hospital <No. 1>"))
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let location = created.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let page = common::page_text(&client, &app, &location).await;
    assert!(page.contains("The site is registered."));
    assert!(
        page.contains("City Hospital &#60;No. 1&#62;")
            || page.contains("City Hospital &lt;No. 1&gt;")
    );
    assert!(page.contains("Hospital"));

    let refused = client
        .post(app.url("/potential/sites"))
        .form(&form("city hospital <no. 1>"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.expect("text");
    assert!(page.contains("role=\"alert\""), "the refusal is shown");
    // In Chinese on the Chinese page: a latitude off the globe, then a kind there is not.
    let (chinese, chinese_csrf) = app.signed_in("office", "zh-CN").await;
    for (field, value, said) in [
        ("lat", "95", "纬度应在 -90 到 90 之间"),
        ("kind", "castle", "地点类型应为"),
        ("name", "city hospital <no. 1>", "已有名称相同的地点"),
    ] {
        let mut fields = form("北区仓库");
        fields[0].1 = chinese_csrf.clone();
        for (name, current) in &mut fields {
            if *name == field {
                *current = value.to_owned();
            }
        }
        let refused = chinese
            .post(app.url("/potential/sites"))
            .form(&fields)
            .send()
            .await
            .expect("post");
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = refused.text().await.expect("text");
        assert!(page.contains(said), "{field}={value}: {page}");
    }
    assert_eq!(
        client
            .post(app.url("/potential/sites"))
            .form(&[("csrf", "wrong"), ("name", "x")])
            .send()
            .await
            .expect("post")
            .status(),
        StatusCode::FORBIDDEN
    );

    let csv = client
        .get(app.url("/potential/sites?format=csv"))
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.expect("text");
    assert!(csv.contains("Records"), "{csv}");
    assert!(csv.contains("City Hospital <No. 1>"), "{csv}");
    let xlsx = client
        .get(app.url("/potential/sites?format=xlsx"))
        .send()
        .await
        .expect("xlsx");
    assert_eq!(xlsx.status(), StatusCode::OK);
    assert!(xlsx.bytes().await.expect("bytes").starts_with(b"PK"));

    let (viewer, viewer_csrf) = app.signed_in("viewer", "zh-CN").await;
    let page = common::page_text(&viewer, &app, "/potential/sites").await;
    assert!(page.contains("存放地点"));
    assert!(!page.contains("create-site"), "a viewer gets no form");
    // A viewer who posts the form anyway is refused for their role, in Chinese on the
    // Chinese page: the reason too, not only a Chinese lead before the English.
    let mut fields = form("北区仓库");
    fields[0].1 = viewer_csrf;
    let refused = viewer
        .post(app.url("/potential/sites"))
        .form(&fields)
        .send()
        .await
        .expect("post");
    assert!(refused.status().is_client_error(), "{}", refused.status());
    let page = refused.text().await.expect("text");
    assert!(
        page.contains(
            "您无权执行此操作：只有动员办工作人员、工作站人员和成员单位专干才能登记存放地点"
        ),
        "{page}"
    );
    assert!(!page.contains("register sites"), "English left in: {page}");
    app.stop().await;
}

async fn send_json(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Imports one tent record held by `holder` at `site` in `code`, through the API.
async fn import_record(app: &TestApp, token: &str, code: &str, holder: &str, site: &str) {
    let csv = format!(
        "type_code,quantity,holder_kind,holder_name,site,region_code\n\
         CAD.MAT.TENT_12,5,organization,{holder},{site},{code}\n"
    );
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/potential/imports?file_name=record.csv"))
        .bearer_auth(token)
        .body(csv)
        .send()
        .await
        .expect("import");
    assert_eq!(response.status(), StatusCode::CREATED);
}

on_both!(site_changes_through_the_api, spawn_demo, api_changes_story);
async fn api_changes_story(app: TestApp) {
    let office = app.token_for("office").await;
    let admin = app.token_for("admin").await;
    let viewer = app.token_for("viewer").await;
    let (inside, outside) = counties(&app, &office, &admin).await;
    let code = inside["code"].as_str().expect("code").to_owned();
    let (status, depot) = post_site(&app, &office, &site_body("North Depot", &inside)).await;
    assert_eq!(status, StatusCode::CREATED, "{depot}");
    let id = depot["id"].as_i64().expect("id");
    import_record(&app, &office, &code, "Red Cross", "north DEPOT").await;
    let path = format!("/api/v1/sites/{id}");

    // A site with a record keeps its name (a later report under it would be counted twice);
    // its spelling may change.
    let (status, problem) = send_json(
        &app,
        &office,
        reqwest::Method::PATCH,
        &path,
        Some(&json!({ "name": "East Depot", "kind": "warehouse" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["field"], "name");
    let (status, renamed) = send_json(
        &app,
        &office,
        reqwest::Method::PATCH,
        &path,
        Some(&json!({ "name": "NORTH depot", "kind": "warehouse" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "NORTH depot");
    assert_eq!(renamed["kind"], "warehouse");
    assert_eq!(renamed["lat"], depot["lat"], "what is left out stays");
    assert_eq!(renamed["record_count"], 1);
    let (_, records) = get_json(
        &app,
        &office,
        &format!("/api/v1/potential/records?region={code}"),
    )
    .await;
    let red_cross = records
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["holder"]["name"] == "Red Cross")
        .expect("the record")
        .clone();
    assert_eq!(red_cross["site_id"], json!(id));
    assert_eq!(red_cross["site_name"], "NORTH depot");

    // Refusals: a move with a record kept there, a kind there is not, a reader's role, a
    // region outside the caller's subtree.
    let mut to_outside = site_body("East Depot", &outside);
    to_outside.as_object_mut().expect("object").remove("name");
    let (status, problem) = send_json(
        &app,
        &admin,
        reqwest::Method::PATCH,
        &path,
        Some(&to_outside),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["field"], "region_code");
    let (status, problem) = send_json(
        &app,
        &office,
        reqwest::Method::PATCH,
        &path,
        Some(&json!({ "kind": "castle" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (status, _) = send_json(
        &app,
        &viewer,
        reqwest::Method::PATCH,
        &path,
        Some(&json!({ "name": "Viewer's" })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, empty) = post_site(&app, &office, &site_body("Empty Yard", &inside)).await;
    assert_eq!(status, StatusCode::CREATED, "{empty}");
    let empty_path = format!("/api/v1/sites/{}", empty["id"]);
    let (status, problem) = send_json(
        &app,
        &office,
        reqwest::Method::PATCH,
        &empty_path,
        Some(&to_outside),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");

    // The search by name, in any case or width.
    let (status, found) = get_json(&app, &office, "/api/v1/sites?q=ｎｏｒｔｈ").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        found
            .as_array()
            .expect("list")
            .iter()
            .map(|s| s["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(id)]
    );

    // A site with a record kept there stays; an empty one goes.
    let (status, problem) = send_json(&app, &office, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, _) = send_json(&app, &viewer, reqwest::Method::DELETE, &empty_path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send_json(&app, &office, reqwest::Method::DELETE, &empty_path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = get_json(&app, &office, &empty_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, openapi) = get_json(&app, &office, "/api/v1/openapi.json").await;
    assert!(openapi["paths"]["/sites/{id}"]["patch"].is_object());
    assert!(openapi["paths"]["/sites/{id}"]["delete"].is_object());
    app.stop().await;
}

on_both!(a_sites_own_page, spawn_demo, site_page_story);
async fn site_page_story(app: TestApp) {
    let office = app.token_for("office").await;
    let admin = app.token_for("admin").await;
    let (inside, _) = counties(&app, &office, &admin).await;
    let code = inside["code"].as_str().expect("code").to_owned();
    let (_, depot) = post_site(&app, &office, &site_body("North Depot", &inside)).await;
    let id = depot["id"].as_i64().expect("id");
    let (_, empty) = post_site(&app, &office, &site_body("Empty Yard", &inside)).await;
    let empty_id = empty["id"].as_i64().expect("id");
    import_record(&app, &office, &code, "Red Cross", "North Depot").await;
    let (client, csrf) = app.signed_in("office", "zh-CN").await;

    let list = common::page_text(&client, &app, "/potential/sites?q=north").await;
    assert!(
        list.contains(&format!("href=\"/potential/sites/{id}\"")),
        "{list}"
    );
    assert!(!list.contains("Empty Yard"), "the search leaves it out");
    let page = common::page_text(&client, &app, &format!("/potential/sites/{id}")).await;
    assert!(page.contains("修改存放地点"), "{page}");
    assert!(page.contains("remove-site"));

    let lat = inside["lat"].as_f64().expect("lat").to_string();
    let lon = inside["lon"].as_f64().expect("lon").to_string();
    let form = |name: &str, lat: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", name.to_owned()),
            ("kind", "warehouse".to_owned()),
            ("region_code", code.clone()),
            ("lat", lat.to_owned()),
            ("lon", lon.clone()),
            ("organization_id", String::new()),
        ]
    };
    let saved = client
        .post(app.url(&format!("/potential/sites/{id}")))
        .form(&form("NORTH  depot", &lat))
        .send()
        .await
        .expect("post");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let location = saved.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let page = common::page_text(&client, &app, &location).await;
    assert!(page.contains("存放地点已保存。"), "{page}");
    assert!(page.contains("NORTH  depot"));

    // Refusals in Chinese on the Chinese page, the form kept as typed.
    let refused = client
        .post(app.url(&format!("/potential/sites/{id}")))
        .form(&form("西区仓库", "95"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.expect("text");
    assert!(page.contains("纬度应在 -90 到 90 之间"), "{page}");
    assert!(page.contains("西区仓库"), "the form comes back as typed");
    // With a record kept there, the site keeps its name.
    let refused = client
        .post(app.url(&format!("/potential/sites/{id}")))
        .form(&form("东区仓库", &lat))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let page = refused.text().await.expect("text");
    assert!(page.contains("只能修改名称的写法"), "{page}");
    // An empty site may not take the name of another site of its region.
    let refused = client
        .post(app.url(&format!("/potential/sites/{empty_id}")))
        .form(&form("north depot", &lat))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let page = refused.text().await.expect("text");
    assert!(page.contains("已有名称相同的地点"), "{page}");
    let refused = client
        .post(app.url(&format!("/potential/sites/{id}/remove")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let page = refused.text().await.expect("text");
    assert!(page.contains("关联着 1 条潜力记录"), "{page}");
    assert!(
        !page.contains("potential records"),
        "English left in: {page}"
    );

    let removed = client
        .post(app.url(&format!("/potential/sites/{empty_id}/remove")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    let location = removed.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let page = common::page_text(&client, &app, &location).await;
    assert!(page.contains("存放地点已删除。"), "{page}");
    assert!(!page.contains("Empty Yard"));
    assert_eq!(
        client
            .post(app.url(&format!("/potential/sites/{id}/remove")))
            .form(&[("csrf", "wrong")])
            .send()
            .await
            .expect("post")
            .status(),
        StatusCode::FORBIDDEN
    );

    // A viewer gets no edit link, and the site's page refuses them in Chinese.
    let (viewer, _) = app.signed_in("viewer", "zh-CN").await;
    let list = common::page_text(&viewer, &app, "/potential/sites").await;
    assert!(!list.contains("edit-site"), "a viewer gets no edit link");
    let refused = viewer
        .get(app.url(&format!("/potential/sites/{id}")))
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.expect("text");
    assert!(page.contains("您无权执行此操作"), "{page}");
    app.stop().await;
}
