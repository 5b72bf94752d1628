//! The test harness: a real server on a random port over a fresh database, seeded with the
//! tiny demo (regions, organizations and one user per role).

#![allow(dead_code)]

use muster_domain::Actor;
use muster_domain::demo::{DEMO_PASSWORD, DemoScale, demo_data};
use muster_domain::organization::Roles;
use muster_domain::region_import::{ColumnLayout, ParsedRegionCsv};
use muster_storage::testing::TestDatabase;
use muster_storage::{Database, NewOrganization, NewUser};
use muster_web::password::{HashCost, hash_password};
use muster_web::{App, AppConfig, RunningApp};

pub struct TestApp {
    pub running: Option<RunningApp>,
    pub base: String,
    pub db: Database,
    _test_db: TestDatabase,
    /// The attachment store's directory, removed with the app.
    _files: tempfile::TempDir,
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn config() -> AppConfig {
    AppConfig {
        bind: "127.0.0.1:0".parse().expect("address"),
        hash_cost: HashCost::Test,
        ..AppConfig::default()
    }
}

/// A server over an empty database, or None when PostgreSQL is wanted but not available.
pub async fn spawn_empty(backend: Backend) -> Option<TestApp> {
    spawn(backend, false).await
}

/// A server with the tiny demo loaded; users are created before the server starts, so no
/// setup token is issued.
pub async fn spawn_demo(backend: Backend) -> Option<TestApp> {
    spawn(backend, true).await
}

async fn spawn(backend: Backend, with_demo: bool) -> Option<TestApp> {
    let test_db = match backend {
        Backend::Sqlite => TestDatabase::sqlite().await,
        Backend::Postgres => TestDatabase::postgres().await?,
    };
    let db = test_db.db.clone();
    if with_demo {
        seed_demo(&db).await;
    }
    let files = tempfile::tempdir().expect("a directory for attachments");
    let config = AppConfig {
        files_dir: files.path().to_path_buf(),
        ..config()
    };
    let running = App::build(config, db.clone()).await.expect("server starts");
    Some(TestApp {
        base: running.url(),
        running: Some(running),
        db,
        _test_db: test_db,
        _files: files,
    })
}

pub async fn seed_demo(db: &Database) {
    let demo = demo_data(DemoScale::Tiny, 11);
    let actor = Actor::command_line("test");
    db.import_regions(
        &actor,
        ParsedRegionCsv {
            rows: demo.regions,
            layout: ColumnLayout::default(),
        },
        "demo",
    )
    .await
    .expect("regions");
    let new: Vec<NewOrganization> = demo
        .organizations
        .iter()
        .map(|o| NewOrganization {
            name: o.name.clone(),
            kind: o.kind,
            side: o.side,
            region_code: Some(o.region_code.to_string()),
        })
        .collect();
    let orgs = db
        .create_organizations(&actor, &new)
        .await
        .expect("organizations");
    let hash = hash_password(DEMO_PASSWORD, HashCost::Test).expect("hash");
    for user in demo.users {
        db.create_user(
            &actor,
            NewUser {
                username: user.username,
                display_name: user.display_name,
                password_hash: hash.clone(),
                organization_id: orgs[user.organization].id,
                roles: Roles::new(user.roles).expect("roles"),
            },
        )
        .await
        .expect("user");
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client that keeps cookies and does not follow redirects.
    pub fn browser() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// An API token for a demo user.
    pub async fn token_for(&self, username: &str) -> String {
        let response = reqwest::Client::new()
            .post(self.url("/api/v1/auth/token"))
            .json(&serde_json::json!({ "username": username, "password": DEMO_PASSWORD, "name": "test" }))
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 201, "token for {username}");
        let body: serde_json::Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
    }
}

/// Declares an async test body `async fn(TestApp)` as two tests, on SQLite and PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $spawn:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::common::$spawn($crate::common::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                super::$body(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::common::$spawn($crate::common::Backend::Postgres).await
                else {
                    return;
                };
                super::$body(app).await;
            }
        }
    };
}

/// The types the seeded records use: no required attributes, three categories, three units.
pub const SEED_TYPES: [&str; 3] = [
    "CAD.MAT.TENT_12",
    "ECO.COM.BOTTLED_WATER",
    "ECO.MED.DEFIBRILLATOR",
];

/// One seeded record, as the CSV gave it.
#[derive(Debug, Clone)]
pub struct SeededRecord {
    pub region_code: String,
    pub region_path: String,
    pub type_code: String,
    pub quantity: f64,
    pub person: bool,
}

/// The CSV of one record per region below the province: types in turn, every fifth held
/// by a person (with an identity number and a phone, which readers without personal data
/// see masked).
pub fn seed_csv(regions: &[(String, String)]) -> (String, Vec<SeededRecord>) {
    let mut csv = String::from(
        "type_code,quantity,holder_kind,holder_name,holder_id_number,holder_phone,region_code\n",
    );
    let mut seeded = Vec::new();
    for (i, (code, path)) in regions.iter().filter(|(c, _)| c.len() > 2).enumerate() {
        let type_code = SEED_TYPES[i % SEED_TYPES.len()];
        let quantity = (i % 7 + 1) as f64;
        let person = i % 5 == 0;
        if person {
            csv.push_str(&format!(
                "{type_code},{quantity},person,张{i},3401041990010{i:05},1380000{i:04},{code}\n"
            ));
        } else {
            csv.push_str(&format!(
                "{type_code},{quantity},organization,Depot {i},,,{code}\n"
            ));
        }
        seeded.push(SeededRecord {
            region_code: code.clone(),
            region_path: path.clone(),
            type_code: type_code.to_owned(),
            quantity,
            person,
        });
    }
    (csv, seeded)
}

impl TestApp {
    /// Every region the token's user sees, as (code, path).
    pub async fn regions_for(&self, token: &str) -> Vec<(String, String)> {
        let regions: Vec<serde_json::Value> = reqwest::Client::new()
            .get(self.url("/api/v1/regions?limit=1000"))
            .bearer_auth(token)
            .send()
            .await
            .expect("regions")
            .json()
            .await
            .expect("json");
        regions
            .iter()
            .map(|r| {
                (
                    r["code"].as_str().expect("code").to_owned(),
                    r["path"].as_str().expect("path").to_owned(),
                )
            })
            .collect()
    }

    /// Imports one record per demo region below the province through the API, as the
    /// administrator; returns what was sent.
    pub async fn seed_records(&self) -> Vec<SeededRecord> {
        let token = self.token_for("admin").await;
        let (csv, seeded) = seed_csv(&self.regions_for(&token).await);
        let response = reqwest::Client::new()
            .post(self.url("/api/v1/potential/imports?file_name=seed.csv"))
            .bearer_auth(&token)
            .body(csv)
            .send()
            .await
            .expect("import");
        assert_eq!(
            response.status(),
            201,
            "{}",
            response.text().await.unwrap_or_default()
        );
        seeded
    }

    /// A browser-like client signed in as a demo user, with `accept-language` set.
    pub async fn signed_in(&self, username: &str, language: &str) -> (reqwest::Client, String) {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "accept-language",
            reqwest::header::HeaderValue::from_str(language).expect("header"),
        );
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .expect("client");
        let page = client
            .get(self.url("/signin"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        let signed_in = client
            .post(self.url("/signin"))
            .form(&[
                ("csrf", csrf_in(&page).as_str()),
                ("username", username),
                ("password", DEMO_PASSWORD),
            ])
            .send()
            .await
            .expect("sign in");
        assert_eq!(signed_in.status(), 303, "{username} signs in");
        let page = client
            .get(self.url("/potential/import"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        let csrf = csrf_in(&page);
        (client, csrf)
    }
}

/// A JSON request with a bearer token; the status and the body (Null if not JSON).
pub async fn call(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// A grid with the demo grid member in their village and one car park there, managed by the
/// demo manager's organization, set up through the API; returns the facility's id.
pub async fn grid_and_car_park(app: &TestApp) -> i64 {
    use reqwest::Method;
    use serde_json::json;
    let office = app.token_for("office").await;
    let workstation = app.token_for("workstation").await;
    let grid = app.token_for("grid").await;
    let (_, villages) = call(
        app,
        &grid,
        Method::GET,
        "/api/v1/regions?level=village&limit=5",
        None,
    )
    .await;
    let village = villages[0]["code"].as_str().expect("village").to_owned();
    let (_, users) = call(app, &office, Method::GET, "/api/v1/users?limit=1000", None).await;
    let grid_user = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["username"] == "grid"))
        .map(|u| u["id"].clone())
        .expect("grid user");
    let (_, organizations) = call(
        app,
        &office,
        Method::GET,
        "/api/v1/organizations?limit=1000",
        None,
    )
    .await;
    let manager_org = organizations
        .as_array()
        .and_then(|o| o.iter().find(|o| o["kind"] == "property_manager"))
        .map(|o| o["id"].clone())
        .expect("manager");
    let (_, created) = call(
        app,
        &workstation,
        Method::POST,
        "/api/v1/grids",
        Some(json!({ "name": "网格", "region_code": village })),
    )
    .await;
    let grid_id = created["id"].as_i64().expect("grid");
    call(
        app,
        &workstation,
        Method::POST,
        &format!("/api/v1/grids/{grid_id}/members"),
        Some(json!({ "user_id": grid_user })),
    )
    .await;
    let (status, car_park) = call(
        app,
        &office,
        Method::POST,
        "/api/v1/facilities",
        Some(json!({
            "name": "和平里地下车库", "kind": "basement_car_park",
            "latitude": villages[0]["lat"].as_f64().unwrap_or(31.8), "longitude": villages[0]["lon"].as_f64().unwrap_or(117.2),
            "capacity_persons": 900, "area_m2": 3000.0,
            "peacetime": { "parking_spaces": 80, "charging_points": 4, "services": [], "since": null },
            "sign_status": "missing", "equipment": [], "conversion": [],
            "region_code": village, "grid_id": grid_id, "manager_organization_id": manager_org,
        })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{car_park}");
    car_park["id"].as_i64().expect("id")
}

/// The hidden CSRF field's value in a page.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

/// A `multipart/form-data` body with text fields and one file, and its content type.
pub fn multipart(fields: &[(&str, &str)], file_name: &str, file: &[u8]) -> (String, Vec<u8>) {
    multipart_body(
        fields,
        &[("file", file_name, "application/octet-stream", file)],
    )
}

/// A `multipart/form-data` body: text fields, then files under `photos`.
pub fn multipart_with_photos(
    fields: &[(&str, &str)],
    photos: &[(&str, Vec<u8>)],
) -> (String, Vec<u8>) {
    let files: Vec<(&str, &str, &str, &[u8])> = photos
        .iter()
        .map(|(file_name, bytes)| ("photos", *file_name, "image/jpeg", bytes.as_slice()))
        .collect();
    multipart_body(fields, &files)
}

/// A `multipart/form-data` body: text fields, then files (field name, file name, content
/// type, bytes); and its content type.
fn multipart_body(
    fields: &[(&str, &str)],
    files: &[(&str, &str, &str, &[u8])],
) -> (String, Vec<u8>) {
    let boundary = "----muster-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, file_name, content_type, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads a file through `/api/v1/uploads` in two chunks, the way a phone on a poor
/// connection does; returns the finished upload's id.
pub async fn upload(app: &TestApp, token: &str, bytes: &[u8]) -> String {
    use reqwest::{Method, StatusCode};
    use sha2::{Digest, Sha256};
    let sha = hex::encode(Sha256::digest(bytes));
    let (status, begun) = call(
        app,
        token,
        Method::POST,
        "/api/v1/uploads",
        Some(serde_json::json!({ "size": bytes.len(), "sha256": sha, "file_name": "door.jpg" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{begun}");
    let id = begun["id"].as_str().expect("id").to_owned();
    let half = bytes.len() / 2;
    for (offset, chunk) in [(0, &bytes[..half]), (half, &bytes[half..])] {
        let response = reqwest::Client::new()
            .patch(app.url(&format!("/api/v1/uploads/{id}")))
            .bearer_auth(token)
            .header("Upload-Offset", offset.to_string())
            .body(chunk.to_vec())
            .send()
            .await
            .expect("chunk");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let (status, finished) = call(
        app,
        token,
        Method::POST,
        &format!("/api/v1/uploads/{id}/finish"),
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{finished}");
    id
}

/// A page's text, fetched with `client` (a signed-in browser); panics when it cannot be read.
pub async fn page_text(client: &reqwest::Client, app: &TestApp, path: &str) -> String {
    client
        .get(app.url(path))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text")
}

/// A page's table downloaded both ways (`path` must not name a `format` yet): checks the
/// CSV and the XLSX are attachments of their type and hold the same text, and returns the
/// XLSX's sheets read back, each as its rows of cell texts (headers first), so a test can
/// compare them with the page.
pub async fn download_both(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
) -> Vec<Vec<Vec<String>>> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut read = Vec::new();
    for (format, media_type) in [
        ("csv", "text/csv"),
        (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ] {
        let url = format!("{path}{separator}format={format}");
        let response = client.get(app.url(&url)).send().await.expect("get");
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{url}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("content type")
            .to_owned();
        assert!(
            content_type.starts_with(media_type),
            "{url}: {content_type}"
        );
        let disposition = response.headers()["content-disposition"]
            .to_str()
            .expect("disposition")
            .to_owned();
        assert!(
            disposition.starts_with("attachment; filename=\"")
                && disposition.ends_with(&format!(".{format}\"")),
            "{url}: {disposition}"
        );
        let bytes = response.bytes().await.expect("bytes");
        let workbook = muster_domain::sheet::read_workbook(&bytes).expect("reads back");
        let sheets: Vec<Vec<Vec<String>>> = workbook
            .sheets
            .into_iter()
            .map(|sheet| sheet.rows.into_iter().map(|row| row.cells).collect())
            .collect();
        read.push(sheets);
    }
    let xlsx = read.pop().expect("xlsx");
    let csv = read.pop().expect("csv");
    assert_eq!(
        csv[0], xlsx[0],
        "{path}: the CSV holds the first table, as the XLSX"
    );
    xlsx
}

// ------------------------------------------------ a page's tables, read back

/// Text as a page escapes it, unescaped.
pub fn unescape(html: &str) -> String {
    html.replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// An element's text without its markup, list items apart by `; ` (as a download joins
/// them), spaces collapsed.
pub fn cell_text(inner: &str) -> String {
    let inner = inner.replace("</li><li>", "; ");
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
    unescape(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The cells of the elements `tag` (`td` or `th`) in a piece of a page.
pub fn cells(html: &str, tag: &str) -> Vec<String> {
    html.split(&format!("<{tag}"))
        .skip(1)
        .filter(|cell| cell.starts_with(['>', ' ']))
        .map(|cell| {
            let inner = &cell[cell.find('>').expect("a cell") + 1..];
            cell_text(&inner[..inner.find(&format!("</{tag}>")).unwrap_or(inner.len())])
        })
        .collect()
}

/// The page's table of `class`: its header, then its body rows, each cell's text.
pub fn page_table(html: &str, class: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table class=\"{class}\""))
        .unwrap_or_else(|| panic!("no {class} table: {html}"));
    let table = &html[start..];
    let table = &table[..table.find("</table>").expect("the table ends")];
    let body_at = table.find("<tbody>").expect("a body");
    let body = &table[body_at..];
    let body = &body[..body.find("</tbody>").unwrap_or(body.len())];
    std::iter::once(cells(&table[..body_at], "th"))
        .chain(body.split("<tr").skip(1).map(|row| cells(row, "td")))
        .collect()
}

/// Whether a downloaded cell is what the page shows: the same text, or the same number
/// (the page shows `12.50` yuan, the sheet the number 12.5).
pub fn same_cell(page: &str, sheet: &str) -> bool {
    page == sheet
        || matches!(
            (page.parse::<f64>(), sheet.parse::<f64>()),
            (Ok(a), Ok(b)) if (a - b).abs() < 1e-9
        )
}

/// Asserts a downloaded sheet is the page's table: the same headers and rows, cell by cell.
pub fn assert_same_table(what: &str, page: &[Vec<String>], sheet: &[Vec<String>]) {
    assert_eq!(page.len(), sheet.len(), "{what}: rows\n{page:?}\n{sheet:?}");
    for (page_row, sheet_row) in page.iter().zip(sheet) {
        assert_eq!(
            page_row.len(),
            sheet_row.len(),
            "{what}: columns\n{page_row:?}\n{sheet_row:?}"
        );
        for (page_cell, sheet_cell) in page_row.iter().zip(sheet_row) {
            assert!(
                same_cell(page_cell, sheet_cell),
                "{what}: {page_cell:?} on the page, {sheet_cell:?} in the download\n{page_row:?}\n{sheet_row:?}"
            );
        }
    }
}
