//! The UI in a real headless Chromium: sign in, drill down three levels, switch language;
//! the potential statistics drill down in the taxonomy and in the regions; a phone inspection
//! with a photo; a demand stated through its form; an account's tokens; a verifier's finding
//! with a photo, seen on the sample's page.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs them). The
//! harness starts chromedriver on a free port and stops it at the end.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};

/// chromedriver, killed when dropped (also when the test panics).
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver and returns once it says it listens (its first line on stdout,
/// "ChromeDriver was started successfully on port N."), so the session is asked for once,
/// not polled for.
fn start_driver() -> Driver {
    let chromedriver =
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {chromedriver} ({e}); run scripts/test, which installs chromium and chromium-driver"));
    let stdout = child.stdout.take().expect("chromedriver's stdout");
    let (ready, started) = std::sync::mpsc::channel();
    // Reads until chromedriver says it listens, then keeps draining its output so that it
    // never blocks on a full pipe; the thread ends when chromedriver does.
    std::thread::spawn(move || {
        let mut ready = Some(ready);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("started successfully")
                && let Some(ready) = ready.take()
            {
                let _ = ready.send(());
            }
        }
    });
    let driver = Driver { child, port };
    started
        .recv_timeout(Duration::from_secs(30))
        .expect("chromedriver did not say it started within 30 s");
    driver
}

async fn connect(driver: &Driver) -> fantoccini::Client {
    let mut capabilities = serde_json::Map::new();
    let user_data = tempfile::tempdir().expect("profile dir").keep();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1200,900", format!("--user-data-dir={}", user_data.display())]
        }),
    );
    ClientBuilder::rustls()
        .expect("tls")
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap_or_else(|e| panic!("chromedriver did not accept a session: {e}"))
}

async fn screenshot(client: &fantoccini::Client, name: &str) {
    if let Ok(dir) = std::env::var("MUSTER_SCREENSHOT_DIR") {
        let png = client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(format!("{dir}/{name}.png"), png).expect("write screenshot");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_drill_down_three_levels_and_switch_language() {
    let app = common::spawn_demo(common::Backend::Sqlite)
        .await
        .expect("app");
    let driver = start_driver();
    let client = connect(&driver).await;

    client
        .goto(&app.url("/signin?lang=zh-CN"))
        .await
        .expect("open sign-in");
    assert_eq!(
        client
            .find(Locator::Css("h1"))
            .await
            .expect("h1")
            .text()
            .await
            .expect("text"),
        "登录"
    );
    client
        .find(Locator::Id("username"))
        .await
        .expect("username")
        .send_keys("admin")
        .await
        .expect("type");
    client
        .find(Locator::Id("password"))
        .await
        .expect("password")
        .send_keys("muster-demo")
        .await
        .expect("type");
    client
        .find(Locator::Id("sign-in"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");

    // The admin's scope is the province: the top page lists it; drill down three levels.
    client
        .wait()
        .for_element(Locator::Id("region-heading"))
        .await
        .expect("regions page");
    let mut names = Vec::new();
    for _ in 0..3 {
        let link = client
            .find(Locator::Css("a.child"))
            .await
            .expect("a child region");
        names.push(link.text().await.expect("text"));
        let href = link
            .attr("href")
            .await
            .expect("href")
            .expect("a link has an href");
        link.click().await.expect("click");
        let target = url::Url::parse(&app.url(&href)).expect("url");
        client
            .wait()
            .for_url(&target)
            .await
            .expect("the child's page");
        let heading = client
            .find(Locator::Id("region-heading"))
            .await
            .expect("heading")
            .text()
            .await
            .expect("text");
        assert_eq!(&heading, names.last().expect("name"));
    }
    let crumbs = client
        .find_all(Locator::Css(".breadcrumb li"))
        .await
        .expect("breadcrumb");
    let mut crumb_texts = Vec::new();
    for crumb in &crumbs {
        crumb_texts.push(crumb.text().await.expect("text"));
    }
    assert_eq!(
        crumb_texts.len(),
        4,
        "all regions › province › city › county: {crumb_texts:?}"
    );
    assert_eq!(&crumb_texts[1..], &names[..]);
    let url = client.current_url().await.expect("url");
    assert!(url.path().starts_with("/regions/34"), "{url}");
    assert_eq!(
        url.path().trim_start_matches("/regions/").len(),
        6,
        "a county code: {url}"
    );
    screenshot(&client, "county-zh").await;

    // Switch to English: the same page, now in English, and it stays so.
    let h2 = client
        .find(Locator::Css("h2"))
        .await
        .expect("h2")
        .text()
        .await
        .expect("text");
    assert_eq!(h2, "下级区划");
    client
        .find(Locator::Id("switch-language"))
        .await
        .expect("switch")
        .click()
        .await
        .expect("click");
    // The page reloads in English; wait for that, then check the rest of it.
    client
        .wait()
        .for_element(Locator::XPath("//h2[text()='Below this region']"))
        .await
        .expect("English page");
    let nav = client
        .find(Locator::Css("nav.main"))
        .await
        .expect("nav")
        .text()
        .await
        .expect("text");
    assert!(
        nav.contains("Regions") && nav.contains("Audit log"),
        "{nav}"
    );
    assert_eq!(
        client.current_url().await.expect("url"),
        url,
        "the switch returns to the same page"
    );
    screenshot(&client, "county-en").await;

    client.close().await.expect("close browser");
    drop(driver);
    app.stop().await;
}

/// Statistics: drill into a category, then into a child region, which keeps the category;
/// the chart is drawn at each step, without JavaScript.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_drill_down_in_the_taxonomy_and_the_regions() {
    let app = common::spawn_demo(common::Backend::Sqlite)
        .await
        .expect("app");
    app.seed_records().await;
    let driver = start_driver();
    let client = connect(&driver).await;

    client
        .goto(&app.url("/signin?lang=en"))
        .await
        .expect("open sign-in");
    client
        .find(Locator::Id("username"))
        .await
        .expect("username")
        .send_keys("admin")
        .await
        .expect("type");
    client
        .find(Locator::Id("password"))
        .await
        .expect("password")
        .send_keys("muster-demo")
        .await
        .expect("type");
    client
        .find(Locator::Id("sign-in"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    client
        .wait()
        .for_element(Locator::Id("region-heading"))
        .await
        .expect("signed in");

    // The nav leads to the statistics of the user's own region, by category.
    client
        .find(Locator::Css("nav.main a[href='/potential']"))
        .await
        .expect("the Potential link")
        .click()
        .await
        .expect("click");
    client
        .wait()
        .for_element(Locator::Id("potential-heading"))
        .await
        .expect("statistics page");
    let bars = client
        .find_all(Locator::Css("#potential-chart rect.bar-whole"))
        .await
        .expect("bars");
    assert_eq!(bars.len(), 6, "one bar per category");

    // Into a category: its subcategories.
    let category = client
        .find(Locator::Css("a.drill[href*='category=civil_air_defense']"))
        .await
        .expect("the civil air defense category");
    let category_name = category.text().await.expect("text");
    category.click().await.expect("click");
    client
        .wait()
        .for_element(Locator::XPath(&format!(
            "//li[@id='taxonomy-current'][text()='{category_name}']"
        )))
        .await
        .expect("the category's page");
    assert!(
        !client
            .find_all(Locator::Css("#potential-chart rect.bar-whole"))
            .await
            .expect("bars")
            .is_empty()
    );

    // Into a child region: the category stays.
    let child = client
        .find(Locator::Css("a.child-region"))
        .await
        .expect("a child region");
    let child_name = child.text().await.expect("text");
    child.click().await.expect("click");
    client
        .wait()
        .for_element(Locator::XPath(&format!(
            "//h1[@id='potential-heading'][text()='{child_name}']"
        )))
        .await
        .expect("the child's statistics");
    let url = client.current_url().await.expect("url");
    let query = url.query().unwrap_or("");
    assert!(
        query.contains("category=civil_air_defense") && query.contains("region=34"),
        "{url}"
    );
    assert_eq!(
        client
            .find(Locator::Id("taxonomy-current"))
            .await
            .expect("taxonomy path")
            .text()
            .await
            .expect("text"),
        category_name
    );
    client
        .find(Locator::Css("svg#potential-chart"))
        .await
        .expect("the chart");
    screenshot(&client, "potential-statistics-en").await;

    client.close().await.expect("close browser");
    drop(driver);
    app.stop().await;
}

/// Signs a demo user in through the form.
async fn sign_in(client: &fantoccini::Client, app: &common::TestApp, username: &str) {
    client
        .goto(&app.url("/signin?lang=zh-CN"))
        .await
        .expect("open sign-in");
    client
        .find(Locator::Id("username"))
        .await
        .expect("username")
        .send_keys(username)
        .await
        .expect("type");
    client
        .find(Locator::Id("password"))
        .await
        .expect("password")
        .send_keys("muster-demo")
        .await
        .expect("type");
    client
        .find(Locator::Id("sign-in"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    client
        .wait()
        .for_element(Locator::Css("header nav.main"))
        .await
        .expect("signed in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_inspection_keeps_its_draft_uploads_a_photo_and_submits_once() {
    let app = common::spawn_demo(common::Backend::Sqlite)
        .await
        .expect("app");
    let facility = common::grid_and_car_park(&app).await;
    let driver = start_driver();
    let client = connect(&driver).await;
    sign_in(&client, &app, "grid").await;

    // The round lists the car park; its form opens.
    client.goto(&app.url("/rounds")).await.expect("rounds");
    client
        .find(Locator::Css("a.round-link"))
        .await
        .expect("the car park is due")
        .click()
        .await
        .expect("click");
    client
        .wait()
        .for_element(Locator::Id("inspection-form"))
        .await
        .expect("the form");

    // Answer two items and type a note, then reload as if the phone had dropped the page.
    client
        .find(Locator::Css("input[name=result_door_seal][value=fail]"))
        .await
        .expect("radio")
        .click()
        .await
        .expect("click");
    client
        .find(Locator::Css("input[name=result_lighting][value=pass]"))
        .await
        .expect("radio")
        .click()
        .await
        .expect("click");
    client
        .find(Locator::Css("textarea[name=notes]"))
        .await
        .expect("notes")
        .send_keys("密封条开裂")
        .await
        .expect("type");
    client.refresh().await.expect("reload");
    client
        .wait()
        .for_element(Locator::Css("#draft-note:not([hidden])"))
        .await
        .expect("the draft is restored");
    let seal_failed = client
        .find(Locator::Css("input[name=result_door_seal][value=fail]"))
        .await
        .expect("radio")
        .prop("checked")
        .await
        .expect("checked");
    assert_eq!(seal_failed.as_deref(), Some("true"));
    let notes = client
        .find(Locator::Css("textarea[name=notes]"))
        .await
        .expect("notes")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(notes.as_deref(), Some("密封条开裂"));

    // A photo, uploaded in chunks by the page's script.
    let photo = tempfile::Builder::new()
        .suffix(".jpg")
        .tempfile()
        .expect("a photo file");
    std::fs::write(
        photo.path(),
        muster_storage::blobs::samples::image_bytes(
            1600,
            1200,
            muster_storage::blobs::samples::Format::Jpeg,
        ),
    )
    .expect("write photo");
    client
        .find(Locator::Id("photos"))
        .await
        .expect("the photo input")
        .send_keys(&photo.path().display().to_string())
        .await
        .expect("choose the photo");
    client
        .wait()
        .for_element(Locator::XPath(
            "//ul[@id='photo-list']/li[contains(., '✓')]",
        ))
        .await
        .expect("the photo is uploaded");

    // Answer the rest and submit: the round is done and the inspection has the photo.
    for radio in client
        .find_all(Locator::Css("fieldset.check-item input[value=pass]"))
        .await
        .expect("radios")
    {
        let name = radio.attr("name").await.expect("name").unwrap_or_default();
        if name != "result_door_seal" {
            radio.click().await.expect("click");
        }
    }
    client
        .find(Locator::Id("submit-inspection"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("click");
    client
        .wait()
        .for_element(Locator::Css("p.notice[role=status]"))
        .await
        .expect("back on the round");
    let token = app.token_for("grid").await;
    let (_, inspections) = common::call(
        &app,
        &token,
        reqwest::Method::GET,
        &format!("/api/v1/facilities/{facility}/inspections"),
        None,
    )
    .await;
    let inspections = inspections.as_array().cloned().unwrap_or_default();
    assert_eq!(inspections.len(), 1, "{inspections:?}");
    assert_eq!(inspections[0]["failed_count"], 1);
    let id = inspections[0]["id"].as_i64().expect("id");
    let (_, inspection) = common::call(
        &app,
        &token,
        reqwest::Method::GET,
        &format!("/api/v1/inspections/{id}"),
        None,
    )
    .await;
    assert_eq!(
        inspection["attachments"].as_array().map(Vec::len),
        Some(1),
        "{inspection}"
    );
    assert_eq!(inspection["notes"], "密封条开裂");
    screenshot(&client, "facility-rounds").await;

    client.close().await.expect("close browser");
    drop(driver);
    app.stop().await;
}

/// A liaison states a demand in the browser through the plain form: more line rows keep what
/// was typed, a bad quantity is named under its line, and the fixed form lands on the
/// demand's page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demand_is_stated_through_the_form() {
    let app = common::spawn_demo(common::Backend::Sqlite)
        .await
        .expect("app");
    let driver = start_driver();
    let client = connect(&driver).await;
    sign_in(&client, &app, "liaison").await;

    client.goto(&app.url("/demands")).await.expect("demands");
    client
        .find(Locator::Id("new-demand"))
        .await
        .expect("the link to the form")
        .click()
        .await
        .expect("click");
    client
        .wait()
        .for_element(Locator::Id("demand-form"))
        .await
        .expect("the form");

    let needed_by = {
        let millis = muster_storage::now().as_millis() + 48 * 3_600_000;
        let minutes = millis.rem_euclid(86_400_000) / 60_000;
        format!(
            "{}T{:02}:{:02}",
            muster_domain::Timestamp::from_millis(millis).date(),
            minutes / 60,
            minutes % 60
        )
    };
    let type_into = |name: String, text: &'static str| {
        let client = client.clone();
        async move {
            client
                .find(Locator::Css(&format!("[name='{name}']")))
                .await
                .unwrap_or_else(|_| panic!("the field {name}"))
                .send_keys(text)
                .await
                .expect("type");
        }
    };
    type_into("title".into(), "城区帐篷").await;
    for (row, type_code, quantity) in [
        (0, "CAD.MAT.TENT_12", "4"),
        (1, "ECO.COM.BOTTLED_WATER", "两箱"),
    ] {
        type_into(format!("type_code_{row}"), type_code).await;
        type_into(format!("quantity_{row}"), quantity).await;
        type_into(format!("lat_{row}"), "31.86").await;
        type_into(format!("lon_{row}"), "117.28").await;
        // A datetime-local input's typing order follows the browser's locale; set its value.
        client
            .execute(
                "document.querySelector(`[name='needed_by_${arguments[0]}']`).value = arguments[1];",
                vec![serde_json::json!(row), serde_json::json!(needed_by)],
            )
            .await
            .expect("set the time");
    }

    // More rows: ten now, and what was typed is still there.
    client
        .find(Locator::Id("more-lines"))
        .await
        .expect("more lines")
        .click()
        .await
        .expect("click");
    client
        .wait()
        .for_element(Locator::Css("tr#line-10"))
        .await
        .expect("ten rows");
    let value = |name: &'static str| {
        let client = client.clone();
        async move {
            client
                .find(Locator::Css(&format!("[name='{name}']")))
                .await
                .expect("field")
                .prop("value")
                .await
                .expect("value")
                .unwrap_or_default()
        }
    };
    assert_eq!(value("title").await, "城区帐篷");
    assert_eq!(value("quantity_1").await, "两箱");

    // Submitting names the bad quantity under line 2 and keeps the input.
    client
        .find(Locator::Id("state-demand"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("click");
    let problem = client
        .wait()
        .for_element(Locator::Id("line-2-problems"))
        .await
        .expect("the problem under line 2")
        .text()
        .await
        .expect("text");
    assert!(
        problem.contains("明细 2") && problem.contains("数量"),
        "{problem}"
    );
    assert_eq!(
        client
            .find(Locator::Css("[name='quantity_1'][aria-invalid='true']"))
            .await
            .expect("marked invalid")
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("两箱")
    );
    screenshot(&client, "demand-form-problem").await;

    // Fixed: the demand's page, received, with both lines.
    let quantity = client
        .find(Locator::Css("[name='quantity_1']"))
        .await
        .expect("quantity");
    quantity.clear().await.expect("clear");
    quantity.send_keys("24").await.expect("type");
    client
        .find(Locator::Id("state-demand"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("click");
    let status = client
        .wait()
        .for_element(Locator::Id("demand-status"))
        .await
        .expect("the demand's page")
        .text()
        .await
        .expect("text");
    assert_eq!(status, "已接收");
    assert_eq!(
        client
            .find_all(Locator::Css("tr.demand-line"))
            .await
            .expect("lines")
            .len(),
        2
    );
    screenshot(&client, "demand-stated").await;

    client.close().await.expect("close browser");
    drop(driver);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_issues_and_revokes_a_token_from_their_account_page() {
    let app = common::spawn_demo(common::Backend::Sqlite)
        .await
        .expect("app");
    let driver = start_driver();
    let client = connect(&driver).await;
    sign_in(&client, &app, "office").await;

    // The name in the header leads to the account page.
    client
        .find(Locator::Id("account-link"))
        .await
        .expect("the account link")
        .click()
        .await
        .expect("click");
    client
        .wait()
        .for_element(Locator::Id("issue-token"))
        .await
        .expect("the token form");
    for (name, text) in [("name", "夜间导出"), ("password", "muster-demo")] {
        client
            .find(Locator::Css(&format!("#issue-token [name='{name}']")))
            .await
            .unwrap_or_else(|_| panic!("the field {name}"))
            .send_keys(text)
            .await
            .expect("type");
    }
    client
        .find(Locator::Id("issue"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("click");
    let secret = client
        .wait()
        .for_element(Locator::Id("token-secret"))
        .await
        .expect("the secret, shown once")
        .text()
        .await
        .expect("text");
    assert!(secret.starts_with("mst_"), "{secret}");
    screenshot(&client, "token-issued").await;

    // It works, then is revoked from the list and stops.
    let me = |secret: String| {
        let url = app.url("/api/v1/me");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(secret)
                .send()
                .await
                .expect("get")
                .status()
        }
    };
    assert_eq!(me(secret.clone()).await, reqwest::StatusCode::OK);
    client
        .find(Locator::Css("button.revoke-token"))
        .await
        .expect("a revoke button")
        .click()
        .await
        .expect("click");
    client
        .wait()
        .for_element(Locator::Id("token-revoked"))
        .await
        .expect("revoked");
    assert_eq!(me(secret).await, reqwest::StatusCode::UNAUTHORIZED);

    client.close().await.expect("close browser");
    drop(driver);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_records_a_finding_with_a_photo_seen_on_the_sample() {
    use reqwest::Method;
    use serde_json::json;
    let app = common::spawn_demo(common::Backend::Sqlite)
        .await
        .expect("app");
    app.seed_records().await;
    // A sample of one record per county, dealt to the office's own user.
    let token = app.token_for("office").await;
    let (status, sample) = common::call(
        &app,
        &token,
        Method::POST,
        "/api/v1/verification/samples",
        Some(json!({ "method": "stratified", "count": 1, "seed": 5 })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{sample}");
    let sample_id = sample["id"].as_i64().expect("id");
    let (_, me) = common::call(&app, &token, Method::GET, "/api/v1/me", None).await;
    let (status, assigned) = common::call(
        &app,
        &token,
        Method::POST,
        &format!("/api/v1/verification/samples/{sample_id}/assign"),
        Some(json!({ "verifiers": [me["user"]["id"]] })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{assigned}");

    let driver = start_driver();
    let client = connect(&driver).await;
    sign_in(&client, &app, "office").await;
    client
        .goto(&app.url("/verification/mine"))
        .await
        .expect("my items");
    let form = client
        .wait()
        .for_element(Locator::Css("form.finding"))
        .await
        .expect("a finding form");
    form.find(Locator::Css("[name='quantity_seen']"))
        .await
        .expect("the quantity field")
        .send_keys("3")
        .await
        .expect("type");
    let photo = tempfile::Builder::new()
        .suffix(".jpg")
        .tempfile()
        .expect("a photo file");
    std::fs::write(
        photo.path(),
        muster_storage::blobs::samples::image_bytes(
            1200,
            900,
            muster_storage::blobs::samples::Format::Jpeg,
        ),
    )
    .expect("write photo");
    form.find(Locator::Css("input[type='file'][name='photos']"))
        .await
        .expect("the photo input")
        .send_keys(&photo.path().display().to_string())
        .await
        .expect("choose the photo");
    form.find(Locator::Css("button[type='submit']"))
        .await
        .expect("the save button")
        .click()
        .await
        .expect("click");
    client
        .wait()
        .for_element(Locator::Id("finding-saved"))
        .await
        .expect("the finding saved");

    // The sample's page shows the photo's thumbnail, loaded from the attachment store.
    client
        .goto(&app.url(&format!("/verification/samples/{sample_id}")))
        .await
        .expect("the sample");
    client
        .wait()
        .for_element(Locator::Css("table.items img.thumb"))
        .await
        .expect("a thumbnail");
    // Resolved by the image's own load or error event (or at once if it has finished).
    let width = client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             const img = document.querySelector('table.items img.thumb'); \
             if (img.complete) { done(img.naturalWidth); } else { \
               img.addEventListener('load', () => done(img.naturalWidth)); \
               img.addEventListener('error', () => done(0)); }",
            vec![],
        )
        .await
        .expect("script");
    assert!(
        width.as_u64().unwrap_or(0) > 0,
        "the thumbnail never loaded"
    );
    screenshot(&client, "verification-photo").await;

    client.close().await.expect("close browser");
    drop(driver);
    app.stop().await;
}

/// A region field is filled by name: typing part of a region's name offers the regions of the
/// reader's subtree that match, by code; a field with suggestions of its own gets them back
/// when it holds digits again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_is_found_by_name_in_a_region_field() {
    let app = common::spawn_demo(common::Backend::Sqlite)
        .await
        .expect("app");
    let token = app.token_for("office").await;
    let counties: Vec<serde_json::Value> = reqwest::Client::new()
        .get(app.url("/api/v1/regions?level=county&limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("regions")
        .json()
        .await
        .expect("json");
    let county = &counties[0];
    let code = county["code"].as_str().expect("code").to_owned();
    // Part of the name: all but its last character (a county's suffix, 区 or 县).
    let full: Vec<char> = county["name"].as_str().expect("name").chars().collect();
    let name: String = full[..full.len().saturating_sub(1).max(1)].iter().collect();
    let driver = start_driver();
    let client = connect(&driver).await;
    sign_in(&client, &app, "office").await;

    // Typed as a person types (the value set, then the input event the keyboard would fire).
    let type_region = |selector: &'static str, text: String| {
        let client = client.clone();
        async move {
            client
                .execute(
                    "const field = document.querySelector(arguments[0]); \
                     field.value = arguments[1]; \
                     field.dispatchEvent(new Event('input', { bubbles: true })); \
                     return field.getAttribute('list');",
                    vec![serde_json::json!(selector), serde_json::json!(text)],
                )
                .await
                .expect("type")
                .as_str()
                .expect("the field has a list of suggestions")
                .to_owned()
        }
    };

    client
        .goto(&app.url("/potential/sites"))
        .await
        .expect("sites");
    let offered = format!("option[value='{code}']");
    assert!(
        client.find(Locator::Css(&offered)).await.is_err(),
        "nothing is offered before typing"
    );
    let list = type_region("form.create-site [name='region_code']", name.clone()).await;
    client
        .wait()
        .for_element(Locator::Css(&format!("datalist#{list} {offered}")))
        .await
        .expect("the county offered by its code");
    let label = client
        .find(Locator::Css(&format!("datalist#{list} {offered}")))
        .await
        .expect("option")
        .attr("label")
        .await
        .expect("label")
        .unwrap_or_default();
    assert!(
        label.starts_with(&name) && label.ends_with(&code),
        "{label}"
    );

    // The baseline form's own suggestions (the region shown and its children) come back
    // when the field holds a code again.
    client
        .goto(&app.url("/potential/gaps"))
        .await
        .expect("gaps");
    let own = client
        .find_all(Locator::Css("datalist#baseline-regions option"))
        .await
        .expect("options")
        .len();
    assert!(own > 0, "the form offers regions of its own");
    type_region("#baseline-entry [name='region_code']", name).await;
    client
        .wait()
        .for_element(Locator::Css(&format!(
            "datalist#baseline-regions {offered}"
        )))
        .await
        .expect("found by name");
    type_region("#baseline-entry [name='region_code']", "3".into()).await;
    let restored = client
        .find_all(Locator::Css("datalist#baseline-regions option"))
        .await
        .expect("options")
        .len();
    assert_eq!(restored, own);

    client.close().await.expect("close browser");
    drop(driver);
    app.stop().await;
}
