//! The HTTP surface against a real server and database: sign-in, CSRF, rate limits, tokens,
//! problem details, OpenAPI, the setup token, and scope as a property (the potential
//! registry's endpoints included).

mod common;

use common::{TestApp, csrf_in};
use muster_domain::demo::DEMO_PASSWORD;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both!(sign_in_drill_down_and_sign_out, spawn_demo, sign_in_story);
async fn sign_in_story(app: TestApp) {
    let browser = TestApp::browser();
    // Unauthenticated pages send the visitor to sign in.
    let response = browser.get(app.url("/regions")).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/signin");

    let page = browser
        .get(app.url("/signin"))
        .header("accept-language", "en")
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(page.contains("Sign in"), "English by Accept-Language");
    let csrf = csrf_in(&page);

    // A forged form without the pre-session token is refused.
    let forged = TestApp::browser()
        .post(app.url("/signin"))
        .form(&[
            ("csrf", "forged"),
            ("username", "admin"),
            ("password", "muster-demo"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let wrong = browser
        .post(app.url("/signin"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "admin"),
            ("password", "nope-nope"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let csrf = csrf_in(&wrong.text().await.expect("text"));

    let ok = browser
        .post(app.url("/signin"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "admin"),
            ("password", "muster-demo"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let cookie = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("muster_session="))
        .expect("session cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let top = common::page_text(&browser, &app, "/regions").await;
    assert!(top.contains("演示省"), "the province is listed");
    let province = common::page_text(&browser, &app, "/regions/34").await;
    assert!(province.contains("breadcrumb") && province.contains("3401"));

    // Writes from the page need the session's CSRF token.
    let no_token = browser
        .post(app.url("/preferences/language"))
        .form(&[("locale", "en"), ("csrf", "")])
        .send()
        .await
        .expect("post");
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let csrf = csrf_in(&province);
    let switched = browser
        .post(app.url("/preferences/language"))
        .form(&[("locale", "en"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(switched.status(), StatusCode::SEE_OTHER);
    let english = common::page_text(&browser, &app, "/regions/34").await;
    assert!(
        english.contains("Below this region"),
        "the preference sticks"
    );

    let out = browser
        .post(app.url("/signout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        browser
            .get(app.url("/regions"))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

on_both!(
    sign_in_attempts_are_rate_limited,
    spawn_demo,
    rate_limit_story
);
async fn rate_limit_story(app: TestApp) {
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let response = client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({ "username": "office", "password": "wrong-password", "name": "x" }))
            .send()
            .await
            .expect("post");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert_eq!(statuses[6], 429, "{statuses:?}");
    // Even the right password waits out the limit for that account.
    let right = client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "username": "office", "password": "muster-demo", "name": "x" }))
        .send()
        .await
        .expect("post");
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    let problem: Value = right.json().await.expect("json");
    assert_eq!(
        problem["type"],
        "https://muster.invalid/problems/rate-limited"
    );
    app.stop().await;
}

/// Behind the office's reverse proxy every connection comes from the proxy: the limiter's
/// per-address budget must then be each client's, named by the proxy in X-Forwarded-For,
/// or one guesser would lock the whole office out. From anyone else the header is ignored.
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget() {
    let test_db = muster_storage::testing::TestDatabase::sqlite().await;
    let files = tempfile::tempdir().expect("a directory for attachments");
    let start = |trusted_proxy| {
        muster_web::App::build(
            muster_web::AppConfig {
                trusted_proxy,
                files_dir: files.path().to_path_buf(),
                ..common::config()
            },
            test_db.db.clone(),
        )
    };
    let client = reqwest::Client::new();
    // Each attempt names another unknown account, so only the address's budget runs out.
    let attempt = |url: String, forwarded: &'static str, n: usize| {
        let client = client.clone();
        async move {
            client
                .post(format!("{url}/api/v1/auth/token"))
                .header("x-forwarded-for", forwarded)
                .json(&json!({ "username": format!("guess{n}"), "password": "wrong-password", "name": "x" }))
                .send()
                .await
                .expect("post")
                .status()
        }
    };
    for (trusted_proxy, other_client_is_limited) in [
        (Some("127.0.0.1".parse().expect("address")), false),
        (None, true),
    ] {
        let running = start(trusted_proxy).await.expect("server starts");
        let url = running.url();
        let mut statuses = Vec::new();
        for n in 0..21 {
            // A client may claim any address: only the entry the proxy appended counts.
            statuses.push(attempt(url.clone(), "203.0.113.9, 10.0.0.1", n).await);
        }
        assert!(
            statuses[..20]
                .iter()
                .all(|s| *s == StatusCode::UNAUTHORIZED),
            "{statuses:?}"
        );
        assert_eq!(statuses[20], StatusCode::TOO_MANY_REQUESTS);
        let other = attempt(url.clone(), "10.0.0.2", 99).await;
        assert_eq!(
            other == StatusCode::TOO_MANY_REQUESTS,
            other_client_is_limited,
            "trusted proxy {trusted_proxy:?}: {other}"
        );
        running.shutdown().await.expect("stop");
    }
}

on_both!(
    an_administrator_disables_a_user_and_revokes_their_tokens,
    spawn_demo,
    an_administrator_disables_a_user_story
);
/// An administrator sees and revokes a user's tokens and disables the user, over the API
/// and from the users page; the user keeps their own tokens on the account page. Whatever
/// is revoked or disabled stops working at once.
async fn an_administrator_disables_a_user_story(app: TestApp) {
    use common::call;
    use reqwest::Method;
    let admin = app.token_for("admin").await;
    let office = app.token_for("office").await;
    let (_, me) = call(&app, &office, Method::GET, "/api/v1/me", None).await;
    let office_id = me["user"]["id"].as_i64().expect("id");
    let (_, me) = call(&app, &admin, Method::GET, "/api/v1/me", None).await;
    let admin_id = me["user"]["id"].as_i64().expect("id");

    // Tokens: the administrator lists and revokes office's; to office, the administrator
    // (above their region) does not exist.
    let (status, listed) = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/users/{office_id}/tokens"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token_id = listed[0]["id"].as_i64().expect("office's token");
    let (status, _) = call(
        &app,
        &office,
        Method::GET,
        &format!("/api/v1/users/{admin_id}/tokens"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, revoked) = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/api/v1/users/{office_id}/tokens/{token_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["revoked_at"].as_i64().is_some());
    let (status, _) = call(&app, &office, Method::GET, "/api/v1/me", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "revoked by the administrator"
    );

    // Disabling: not oneself, not by a non-administrator; then every way in is closed.
    let office = app.token_for("office").await;
    let (status, _) = call(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/users/{admin_id}/disable"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(
        &app,
        &office,
        Method::POST,
        &format!("/api/v1/users/{admin_id}/disable"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (browser, _) = app.signed_in("office", "en").await;
    let (status, user) = call(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/users/{office_id}/disable"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["disabled"], json!(true));
    let (status, _) = call(&app, &office, Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the token stopped");
    let page = browser.get(app.url("/account")).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "the session ended");
    let refused = reqwest::Client::new()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "username": "office", "password": DEMO_PASSWORD, "name": "again" }))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "no new sign-in");

    // The users page shows it and enables office again.
    let (admin_browser, csrf) = app.signed_in("admin", "en").await;
    let users = common::page_text(&admin_browser, &app, "/users").await;
    let row = users
        .split(&format!("id=\"user-{office_id}\""))
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("office's row");
    assert!(row.contains("Disabled"), "{row}");
    assert!(row.contains(&format!("/users/{office_id}/enable")), "{row}");
    let own_row = users
        .split(&format!("id=\"user-{admin_id}\""))
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("admin's row");
    assert!(
        !own_row.contains("<form"),
        "no button for oneself: {own_row}"
    );
    let stale = admin_browser
        .post(app.url(&format!("/users/{office_id}/enable")))
        .form(&[("csrf", "stale")])
        .send()
        .await
        .expect("post");
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    let enabled = admin_browser
        .post(app.url(&format!("/users/{office_id}/enable")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(enabled.status(), StatusCode::SEE_OTHER);
    let (status, user) = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/users/{office_id}"),
        None,
    )
    .await;
    assert_eq!(
        (status, user["disabled"].clone()),
        (StatusCode::OK, json!(false))
    );

    // Everyone keeps their own tokens on the account page: the password again, then the
    // secret once; a bad form names its fields. (The administrator's session, as office has
    // used up their sign-in attempts of this minute.)
    let browser = admin_browser;
    let issue = |fields: Vec<(&'static str, String)>| {
        let mut form = vec![("csrf", csrf.clone())];
        form.extend(fields);
        browser.post(app.url("/account/tokens")).form(&form).send()
    };
    let refused = issue(vec![
        ("name", "nightly".into()),
        ("days", "400".into()),
        ("password", DEMO_PASSWORD.into()),
    ])
    .await
    .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = refused.text().await.expect("text");
    assert!(text.contains("data-field=\"days\""), "{text}");
    assert!(text.contains("value=\"nightly\""), "kept as typed");
    let refused = issue(vec![
        ("name", "nightly".into()),
        ("days", "30".into()),
        ("password", "not the password".into()),
    ])
    .await
    .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .expect("text")
            .contains("data-field=\"password\"")
    );
    let issued = issue(vec![
        ("name", "nightly".into()),
        ("days", "30".into()),
        ("password", DEMO_PASSWORD.into()),
    ])
    .await
    .expect("post");
    assert_eq!(issued.status(), StatusCode::OK);
    let text = issued.text().await.expect("text");
    let secret = text
        .split("id=\"token-secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret, shown once")
        .to_owned();
    let (status, me) = call(&app, &secret, Method::GET, "/api/v1/me", None).await;
    assert_eq!(
        (status, me["user"]["id"].as_i64()),
        (StatusCode::OK, Some(admin_id))
    );
    let (_, tokens) = call(&app, &secret, Method::GET, "/api/v1/auth/tokens", None).await;
    let nightly = tokens
        .as_array()
        .and_then(|list| list.iter().find(|t| t["name"] == "nightly"))
        .and_then(|t| t["id"].as_i64())
        .expect("listed");
    let account = common::page_text(&browser, &app, "/account").await;
    assert!(!account.contains(&secret), "never shown again");
    assert!(account.contains(&format!("/account/tokens/{nightly}/revoke")));
    let revoked = browser
        .post(app.url(&format!("/account/tokens/{nightly}/revoke")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let (status, _) = call(&app, &secret, Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

on_both!(
    an_administrator_revokes_another_users_token_on_the_pages,
    spawn_demo,
    user_tokens_story
);
/// Someone left, or a script's token leaked: an administrator sees the user's tokens from the
/// users page and revokes one, which then no longer authenticates. A non-administrator may
/// not look at another user's tokens.
async fn user_tokens_story(app: TestApp) {
    use common::call;
    use reqwest::Method;
    let office_token = app.token_for("office").await;
    let admin = app.token_for("admin").await;
    let (_, users) = call(&app, &admin, Method::GET, "/api/v1/users?limit=1000", None).await;
    let id_of = |username: &str| {
        users
            .as_array()
            .and_then(|list| list.iter().find(|u| u["username"] == username))
            .and_then(|u| u["id"].as_i64())
            .expect("a demo user")
    };
    let (office_id, workstation_id) = (id_of("office"), id_of("workstation"));
    let (_, office_tokens) = call(
        &app,
        &office_token,
        Method::GET,
        "/api/v1/auth/tokens",
        None,
    )
    .await;
    let token_id = office_tokens[0]["id"].as_i64().expect("the office's token");

    let (browser, csrf) = app.signed_in("admin", "zh-CN").await;
    let users_page = common::page_text(&browser, &app, "/users").await;
    assert!(
        users_page.contains(&format!("/users/{office_id}/tokens")),
        "{users_page}"
    );
    let tokens_page =
        common::page_text(&browser, &app, &format!("/users/{office_id}/tokens")).await;
    let revoke = format!("/users/{office_id}/tokens/{token_id}/revoke");
    assert!(
        tokens_page.contains("接口令牌") && tokens_page.contains(&revoke),
        "{tokens_page}"
    );
    let stale = browser
        .post(app.url(&revoke))
        .form(&[("csrf", "stale")])
        .send()
        .await
        .expect("post");
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    let (status, _) = call(&app, &office_token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::OK, "a refused post revokes nothing");
    let revoked = browser
        .post(app.url(&revoke))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let (status, _) = call(&app, &office_token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let after = common::page_text(
        &browser,
        &app,
        &format!("/users/{office_id}/tokens?revoked={token_id}"),
    )
    .await;
    assert!(
        after.contains("已吊销") && !after.contains(&revoke),
        "{after}"
    );

    // The office staff member is not an administrator: another user's tokens stay closed.
    let (office, _) = app.signed_in("office", "zh-CN").await;
    let refused = office
        .get(app.url(&format!("/users/{workstation_id}/tokens")))
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
    app.stop().await;
}

on_both!(
    an_administrator_adds_a_user_through_the_form,
    spawn_demo,
    new_user_form_story
);
/// An administrator adds a user from the organizations page: a refused form names its
/// fields and keeps what was typed (never the password); the new user then signs in.
async fn new_user_form_story(app: TestApp) {
    let (admin, csrf) = app.signed_in("admin", "en").await;
    let page = common::page_text(&admin, &app, "/organizations").await;
    let marker = "href=\"/users/new?organization=";
    let start = page.find(marker).expect("an add-user link") + marker.len();
    let organization: String = page[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let form_page = admin
        .get(app.url(&format!("/users/new?organization={organization}")))
        .send()
        .await
        .expect("get");
    assert_eq!(form_page.status(), StatusCode::OK);
    assert!(
        form_page
            .text()
            .await
            .expect("text")
            .contains("id=\"new-user\"")
    );

    let post = |fields: Vec<(&'static str, &'static str)>| {
        let mut form: Vec<(&str, String)> = vec![
            ("csrf", csrf.clone()),
            ("organization_id", organization.clone()),
        ];
        form.extend(fields.into_iter().map(|(k, v)| (k, v.to_owned())));
        admin.post(app.url("/users/new")).form(&form).send()
    };
    let refused = post(vec![
        ("username", "clerk.li"),
        ("display_name", "李文书"),
        ("password", "Zq7shrt"),
    ])
    .await
    .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = refused.text().await.expect("text");
    for field in ["password", "roles"] {
        assert!(
            text.contains(&format!("data-field=\"{field}\"")),
            "{field}: {text}"
        );
    }
    assert!(text.contains("value=\"clerk.li\""), "kept as typed");
    assert!(!text.contains("Zq7shrt"), "never the password");
    let bad_name = post(vec![
        ("username", "x"),
        ("display_name", "太短"),
        ("password", "a long enough one"),
        ("role", "viewer"),
    ])
    .await
    .expect("post");
    assert_eq!(bad_name.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = bad_name.text().await.expect("text");
    assert!(text.contains("data-field=\"username\""), "{text}");
    assert!(text.contains("2 to 64 characters"), "{text}");
    let taken = post(vec![
        ("username", "office"),
        ("display_name", "重名"),
        ("password", "a long enough one"),
        ("role", "office_staff"),
    ])
    .await
    .expect("post");
    assert_eq!(taken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        taken
            .text()
            .await
            .expect("text")
            .contains("data-field=\"username\"")
    );
    let added = post(vec![
        ("username", "clerk.li"),
        ("display_name", "李文书"),
        ("password", "a long enough one"),
        ("role", "office_staff"),
        ("role", "viewer"),
    ])
    .await
    .expect("post");
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert!(
        added.headers()["location"]
            .to_str()
            .expect("location")
            .starts_with("/users#user-")
    );
    let token = reqwest::Client::new()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "username": "clerk.li", "password": "a long enough one", "name": "first" }))
        .send()
        .await
        .expect("post");
    assert_eq!(token.status(), StatusCode::CREATED, "the new user signs in");
    let token: Value = token.json().await.expect("json");
    let (_, me) = common::call(
        &app,
        token["token"].as_str().expect("token"),
        reqwest::Method::GET,
        "/api/v1/me",
        None,
    )
    .await;
    assert_eq!(me["user"]["roles"], json!(["office_staff", "viewer"]));

    // Not for office staff.
    let (office, _) = app.signed_in("office", "en").await;
    let forbidden = office
        .get(app.url(&format!("/users/new?organization={organization}")))
        .send()
        .await
        .expect("get");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

on_both!(
    passwords_are_changed_by_their_users_and_reset_by_administrators,
    spawn_demo,
    password_story
);
/// A user changes their own password given the current one (API and account page); an
/// administrator resets someone else's (API and users page), never their own that way.
async fn password_story(app: TestApp) {
    use common::call;
    use reqwest::Method;
    let token_with = |username: &'static str, password: &'static str| {
        reqwest::Client::new()
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({ "username": username, "password": password, "name": "check" }))
            .send()
    };
    // Member, over the API: the current password first.
    let member = app.token_for("member").await;
    let (status, problem) = call(
        &app,
        &member,
        Method::POST,
        "/api/v1/auth/password",
        Some(json!({ "current_password": "wrong", "new_password": "member new pass" })),
    )
    .await;
    assert_eq!(
        (status, problem["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("current_password"))
    );
    let (status, _) = call(
        &app,
        &member,
        Method::POST,
        "/api/v1/auth/password",
        Some(json!({ "current_password": DEMO_PASSWORD, "new_password": "member new pass" })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        token_with("member", DEMO_PASSWORD)
            .await
            .expect("post")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let fresh = token_with("member", "member new pass").await.expect("post");
    assert_eq!(fresh.status(), StatusCode::CREATED, "the new one works");
    let fresh: Value = fresh.json().await.expect("json");
    let member = fresh["token"].as_str().expect("token").to_owned();

    // The administrator resets the liaison's; not their own that way; members reset nothing.
    let admin = app.token_for("admin").await;
    let (_, users) = call(&app, &admin, Method::GET, "/api/v1/users", None).await;
    let id_of = |name: &str| {
        users
            .as_array()
            .and_then(|list| list.iter().find(|u| u["username"] == name))
            .and_then(|u| u["id"].as_i64())
            .expect("a demo user")
    };
    let (liaison, viewer, admin_id) = (id_of("liaison"), id_of("viewer"), id_of("admin"));
    let reset = |token: String, id: i64, password: &'static str| {
        let app = &app;
        async move {
            call(
                app,
                &token,
                Method::POST,
                &format!("/api/v1/users/{id}/password"),
                Some(json!({ "new_password": password })),
            )
            .await
            .0
        }
    };
    assert_eq!(
        reset(admin.clone(), liaison, "liaison new pass").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        token_with("liaison", "liaison new pass")
            .await
            .expect("post")
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        reset(admin.clone(), admin_id, "admin new pass").await,
        StatusCode::BAD_REQUEST
    );

    assert_eq!(
        reset(member, viewer, "viewer new pass").await,
        StatusCode::FORBIDDEN
    );

    // Office, on the account page: the two new ones must match; the session stays, the
    // other one (another browser) ends.
    let (office, csrf) = app.signed_in("office", "en").await;
    let (elsewhere, _) = app.signed_in("office", "en").await;
    let change = |current: &'static str, new: &'static str, repeat: &'static str| {
        office
            .post(app.url("/account/password"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("current_password", current),
                ("new_password", new),
                ("repeat_password", repeat),
            ])
            .send()
    };
    let refused = change(DEMO_PASSWORD, "office new pass", "office new pas")
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .expect("text")
            .contains("data-field=\"repeat_password\"")
    );
    let refused = change("wrong", "office new pass", "office new pass")
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .expect("text")
            .contains("data-field=\"current_password\"")
    );
    let changed = change(DEMO_PASSWORD, "office new pass", "office new pass")
        .await
        .expect("post");
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    let after = changed.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        office
            .get(app.url(&after))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text")
            .contains("id=\"password-changed\"")
    );
    assert_eq!(
        office
            .get(app.url("/account"))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::OK,
        "still signed in"
    );
    assert_eq!(
        elsewhere
            .get(app.url("/account"))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::SEE_OTHER,
        "the other session ended"
    );

    // The administrator resets the viewer's on the users page.
    let (admin_browser, admin_csrf) = app.signed_in("admin", "en").await;
    let users_page = common::page_text(&admin_browser, &app, "/users").await;
    assert!(users_page.contains(&format!("/users/{viewer}/password")));
    assert_eq!(
        admin_browser
            .get(app.url(&format!("/users/{viewer}/password")))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::OK
    );
    let post = |password: &'static str| {
        admin_browser
            .post(app.url(&format!("/users/{viewer}/password")))
            .form(&[("csrf", admin_csrf.as_str()), ("new_password", password)])
            .send()
    };
    let short = post("short").await.expect("post");
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        short
            .text()
            .await
            .expect("text")
            .contains("data-field=\"new_password\"")
    );
    assert_eq!(
        post("viewer new pass").await.expect("post").status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        token_with("viewer", "viewer new pass")
            .await
            .expect("post")
            .status(),
        StatusCode::CREATED
    );
    app.stop().await;
}

on_both!(
    tokens_expire_and_can_be_revoked,
    spawn_demo,
    tokens_expire_and_can_be_revoked_story
);
/// A token works for the days asked (90 by default, at most 365); its user lists and revokes
/// it, and no one else can.
async fn tokens_expire_and_can_be_revoked_story(app: TestApp) {
    let client = reqwest::Client::new();
    let issue = |days: Value| {
        let mut body = json!({ "username": "office", "password": DEMO_PASSWORD, "name": "export" });
        if !days.is_null() {
            body["days"] = days;
        }
        client
            .post(app.url("/api/v1/auth/token"))
            .json(&body)
            .send()
    };
    let day_ms = muster_domain::time::MILLIS_PER_DAY;
    let before = muster_storage::now().as_millis();
    let default: Value = issue(Value::Null)
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let after = muster_storage::now().as_millis();
    let expires = default["expires_at"].as_i64().expect("expires_at");
    assert!(
        (before + 90 * day_ms..=after + 90 * day_ms).contains(&expires),
        "90 days by default: {expires}"
    );
    let weekly = issue(json!(7)).await.expect("post");
    assert_eq!(weekly.status(), StatusCode::CREATED);
    let weekly: Value = weekly.json().await.expect("json");
    let expires = weekly["expires_at"].as_i64().expect("expires_at");
    assert!(
        (before + 7 * day_ms..=muster_storage::now().as_millis() + 7 * day_ms).contains(&expires)
    );
    for wrong in [json!(0), json!(366)] {
        let refused = issue(wrong.clone()).await.expect("post");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{wrong}");
        let problem: Value = refused.json().await.expect("json");
        assert_eq!(problem["field"], "days");
    }

    let token = weekly["token"].as_str().expect("token").to_owned();
    let listed: Value = client
        .get(app.url("/api/v1/auth/tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 2, "both tokens of office: {listed:?}");
    assert_eq!(listed[0]["id"], weekly["id"], "newest first");
    assert!(
        listed
            .iter()
            .all(|t| t.get("token").is_none() && t.get("token_hash").is_none())
    );

    // Another user cannot revoke office's token: it is not among theirs.
    let admin = app.token_for("admin").await;
    let foreign = client
        .delete(app.url(&format!("/api/v1/auth/tokens/{}", weekly["id"])))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    let me = |token: String| client.get(app.url("/api/v1/me")).bearer_auth(token).send();
    assert_eq!(
        me(token.clone()).await.expect("get").status(),
        StatusCode::OK
    );

    let revoked = client
        .delete(app.url(&format!("/api/v1/auth/tokens/{}", weekly["id"])))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(revoked.status(), StatusCode::OK);
    let revoked: Value = revoked.json().await.expect("json");
    assert!(revoked["revoked_at"].as_i64().is_some());
    assert_eq!(
        me(token).await.expect("get").status(),
        StatusCode::UNAUTHORIZED,
        "a revoked token stops at once"
    );
    let other = default["token"].as_str().expect("token").to_owned();
    assert_eq!(me(other).await.expect("get").status(), StatusCode::OK);
    app.stop().await;
}

on_both!(
    tokens_problems_and_openapi,
    spawn_demo,
    tokens_problems_and_openapi_story
);
async fn tokens_problems_and_openapi_story(app: TestApp) {
    let client = reqwest::Client::new();
    let token = app.token_for("admin").await;
    let me: Value = client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"]["username"], "admin");
    assert_eq!(me["scope"], "/34/");

    let bad = client
        .get(app.url("/api/v1/me"))
        .bearer_auth("mst_nope")
        .send()
        .await
        .expect("get");
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    let problem: Value = bad.json().await.expect("json");
    assert_eq!(
        problem["type"],
        "https://muster.invalid/problems/unauthenticated"
    );

    let missing = client
        .get(app.url("/api/v1/regions/3499"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // A region added by the API goes through the import's validation.
    let orphan = client
        .post(app.url("/api/v1/regions"))
        .bearer_auth(&token)
        .json(&json!({ "code": "349901", "name": "Orphan", "parent_code": "3499" }))
        .send()
        .await
        .expect("post");
    assert_eq!(orphan.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = orphan.json().await.expect("json");
    assert_eq!(
        problem["type"],
        "https://muster.invalid/problems/import-rejected"
    );
    assert_eq!(problem["errors"][0]["kind"], "unknown_parent");
    let created = client.post(app.url("/api/v1/regions")).bearer_auth(&token).json(&json!({ "code": "3409", "name": "New city", "parent_code": "34", "lat": 31.0, "lon": 117.0 })).send().await.expect("post");
    assert_eq!(created.status(), StatusCode::CREATED);

    // A regions CSV through the API: all or nothing, each problem by line and column.
    let import = |token: String, csv: &'static str| {
        client
            .post(app.url("/api/v1/regions/imports?file_name=counties.csv"))
            .bearer_auth(token)
            .body(csv)
            .send()
    };
    let stored_before = app.db.region_count().await.expect("count");
    let refused = import(
        token.clone(),
        "code,name,parent_code\n340901,Good county,3409\n349801,Orphan county,3498\n",
    )
    .await
    .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.expect("json");
    assert_eq!(
        problem["type"],
        "https://muster.invalid/problems/import-rejected"
    );
    assert_eq!(
        problem["errors"].as_array().map(Vec::len),
        Some(1),
        "{problem}"
    );
    assert_eq!(problem["errors"][0]["line"], 3, "{problem}");
    assert_eq!(problem["errors"][0]["kind"], "unknown_parent");
    assert_eq!(app.db.region_count().await.expect("count"), stored_before);
    let member = app.token_for("member").await;
    let forbidden = import(member, "code,name,parent_code\n340901,Good county,3409\n")
        .await
        .expect("post");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let imported = import(
        token.clone(),
        "code,name,parent_code,level,lat,lon\n340902,Second county,3409,county,31.1,117.1\n340901,Good county,3409,county,31.0,117.0\n",
    )
    .await
    .expect("post");
    assert_eq!(imported.status(), StatusCode::CREATED);
    let summary: Value = imported.json().await.expect("json");
    assert_eq!(summary["inserted"], 2);
    assert_eq!(
        app.db.region_count().await.expect("count"),
        stored_before + 2
    );
    let audit = app
        .db
        .audit_entries(&muster_domain::Scope::everything(), 1)
        .await
        .expect("audit");
    assert_eq!(audit[0].seq, summary["audit_seq"].as_i64().expect("seq"));
    assert!(
        audit[0]
            .after
            .as_deref()
            .is_some_and(|a| a.contains("counties.csv")),
        "{audit:?}"
    );

    let duplicate_user = client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({ "username": "office", "display_name": "Again", "password": "long enough", "organization_id": 1, "roles": ["viewer"] }))
        .send()
        .await
        .expect("post");
    assert_eq!(duplicate_user.status(), StatusCode::CONFLICT);
    let problem: Value = duplicate_user.json().await.expect("json");
    assert_eq!(problem["field"], "username");

    let openapi: Value = client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    for path in [
        "/me",
        "/regions",
        "/regions/{code}",
        "/regions/imports",
        "/organizations",
        "/users",
        "/audit",
        "/auth/token",
        "/auth/tokens",
        "/auth/tokens/{id}",
        "/taxonomy",
        "/taxonomy/types/{code}",
        "/potential/totals",
        "/potential/records",
        "/potential/records/{id}",
        "/potential/imports",
        "/potential/imports/check",
        "/potential/baselines",
        "/potential/gaps",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "openapi documents {path}"
        );
    }
    assert_eq!(
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::OK
    );

    // Every write so far is in the chain, and the chain is intact.
    let verdict = app.db.verify_audit_chain(|_, _| {}).await.expect("verify");
    assert!(
        matches!(verdict, muster_storage::AuditVerification::Intact { .. }),
        "{verdict:?}"
    );
    app.stop().await;
}

on_both!(
    a_region_is_found_by_name_below_the_region_shown,
    spawn_demo,
    region_search_story
);
async fn region_search_story(app: TestApp) {
    let (browser, _) = app.signed_in("admin", "zh-CN").await;
    let admin = app.token_for("admin").await;
    let county: Value = reqwest::Client::new()
        .get(app.url("/api/v1/regions?parent=3401&limit=1"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let county = &county[0];
    let (code, name) = (
        county["code"].as_str().expect("code"),
        county["name"].as_str().expect("name"),
    );
    let link = format!(r#"href="/regions/{code}""#);
    let query: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    for (below, found) in [
        ("/regions", true),
        ("/regions/34", true),
        ("/regions/3401", true),
        ("/regions/3402", false),
    ] {
        let page = common::page_text(&browser, &app, &format!("{below}?q={query}")).await;
        assert!(page.contains("名称匹配的行政区划"), "{below}: {page}");
        assert_eq!(page.contains(&link), found, "{name} searched below {below}");
        assert!(
            page.contains(&format!(r#"value="{name}""#)),
            "the query stays in its box"
        );
    }
    // Higher levels come first: a county before the villages that share a character with it.
    let first: String = name.chars().take(1).collect();
    let found = app
        .db
        .search_regions(&muster_domain::Scope::everything(), &first, 1000)
        .await
        .expect("search");
    assert!(found.iter().any(|r| r.code == code), "{first}: {found:?}");
    assert!(
        found
            .windows(2)
            .all(|w| (w[0].level, &w[0].code) <= (w[1].level, &w[1].code)),
        "{found:?}"
    );
    let none = common::page_text(
        &browser,
        &app,
        "/regions/34?q=%E6%B2%A1%E6%9C%89%E8%BF%99%E4%B8%AA",
    )
    .await;
    assert!(none.contains("没有名称包含该内容的行政区划"), "{none}");
    // Without a query the page lists no results.
    let plain = common::page_text(&browser, &app, "/regions/34?q=").await;
    assert!(!plain.contains("名称匹配的行政区划"), "{plain}");
    app.stop().await;
}

on_both!(
    an_administrator_imports_regions_from_a_csv_page,
    spawn_demo,
    region_import_page_story
);
async fn region_import_page_story(app: TestApp) {
    let (admin, csrf) = app.signed_in("admin", "zh-CN").await;
    let upload = |csv: &'static str| {
        let (content_type, body) =
            common::multipart(&[("csrf", &csrf)], "regions.csv", csv.as_bytes());
        admin
            .post(app.url("/regions/import"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let top = common::page_text(&admin, &app, "/regions").await;
    assert!(top.contains(r#"href="/regions/import""#), "{top}");
    let form = admin
        .get(app.url("/regions/import"))
        .send()
        .await
        .expect("get");
    assert_eq!(form.status(), StatusCode::OK);
    let form = form.text().await.expect("text");
    assert!(form.contains(r#"type="file" name="file""#), "{form}");
    assert!(
        form.contains("parent_code"),
        "the columns are explained: {form}"
    );

    // Two bad lines, under a good one: refused whole, each named by its line, in Chinese.
    let stored_before = app.db.region_count().await.expect("count");
    let refused = upload("code,name,parent_code\n3491,坏市,34\n349201,孤县,3492\n3401,重复市,34\n")
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("text");
    assert!(html.contains("文件被拒收"), "{html}");
    assert!(html.contains(r#"<td class="num line">3</td>"#), "{html}");
    assert!(html.contains(r#"<td class="num line">4</td>"#), "{html}");
    assert!(!html.contains(r#"<td class="num line">2</td>"#), "{html}");
    assert!(html.contains("第 3 列（parent_code）"), "{html}");
    assert!(
        html.contains("上级编码 3492 既不在文件中，也不在已有的行政区划中"),
        "{html}"
    );
    assert!(html.contains("行政区划 3401 已存在"), "{html}");
    assert!(!html.contains("neither in the file nor stored"), "{html}");
    assert_eq!(
        app.db.region_count().await.expect("count"),
        stored_before,
        "nothing of a refused file is stored, not even its good line"
    );
    assert!(
        app.db
            .region(&muster_domain::Scope::everything(), "3491")
            .await
            .is_err()
    );

    // No file at all is asked for again.
    let empty = upload("").await.expect("post");
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty
            .text()
            .await
            .expect("text")
            .contains("请选择要导入的 CSV 文件"),
        "an empty upload"
    );

    // A valid file, a child before its parent, extends the demo province.
    let imported = upload(
        "code,name,parent_code,level,lat,lon\n349001,新建区,3490,county,31.80,117.20\n3490,新建市,34,city,31.90,117.30\n",
    )
    .await
    .expect("post");
    assert_eq!(imported.status(), StatusCode::SEE_OTHER);
    assert_eq!(imported.headers()["location"], "/regions?imported=2");
    let notice = common::page_text(&admin, &app, "/regions?imported=2").await;
    assert!(notice.contains("已导入 2 个行政区划。"), "{notice}");
    // A hand-edited count shows the page, without a notice.
    let edited = admin
        .get(app.url("/regions?imported=-1"))
        .send()
        .await
        .expect("page");
    assert_eq!(edited.status(), StatusCode::OK);
    assert!(!edited.text().await.expect("text").contains("已导入"));
    let province = common::page_text(&admin, &app, "/regions/34").await;
    assert!(province.contains(r#"href="/regions/3490""#), "{province}");
    assert!(province.contains("新建市"), "{province}");
    let city = common::page_text(&admin, &app, "/regions/3490").await;
    assert!(city.contains(r#"href="/regions/349001""#), "{city}");
    assert!(city.contains("新建区"), "{city}");
    assert_eq!(
        app.db.region_count().await.expect("count"),
        stored_before + 2
    );

    // Someone who is not an administrator sees no link and is refused the page and the upload.
    let (office, office_csrf) = app.signed_in("office", "zh-CN").await;
    let top = common::page_text(&office, &app, "/regions").await;
    assert!(!top.contains(r#"href="/regions/import""#), "{top}");
    let page = office
        .get(app.url("/regions/import"))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    let (content_type, body) = common::multipart(
        &[("csrf", &office_csrf)],
        "regions.csv",
        "code,name,parent_code\n3492,另一市,34\n".as_bytes(),
    );
    let post = office
        .post(app.url("/regions/import"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), StatusCode::FORBIDDEN);
    assert!(
        app.db
            .region(&muster_domain::Scope::everything(), "3492")
            .await
            .is_err()
    );
    app.stop().await;
}

on_both!(
    the_first_administrator_comes_from_the_setup_token,
    spawn_empty,
    setup_story
);
async fn setup_story(mut app: TestApp) {
    let token = app
        .running
        .as_ref()
        .and_then(|r| r.setup_token.clone())
        .expect("a setup token at first start");
    let browser = TestApp::browser();
    let page = common::page_text(&browser, &app, &format!("/setup?token={token}")).await;
    assert!(page.contains(r#"value="国家国防动员办公室""#), "{page}");
    let csrf = csrf_in(&page);
    let form = |token: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("token", token.to_owned()),
            ("office", "National office".to_owned()),
            ("username", "chief".to_owned()),
            ("display_name", "Chief".to_owned()),
            ("password", "a long password".to_owned()),
        ]
    };
    let wrong = browser
        .post(app.url("/setup"))
        .form(&form("not-the-token"))
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let csrf = csrf_in(&wrong.text().await.expect("text"));
    // A name refused does not use the token up: the form comes back with what was typed,
    // the refusal in the page's language (Chinese by default), and can be sent again.
    let mut fields = form(&token);
    fields[0].1 = csrf;
    fields[3].1 = "x".to_owned();
    let bad_name = browser
        .post(app.url("/setup"))
        .form(&fields)
        .send()
        .await
        .expect("post");
    assert_eq!(bad_name.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad_name = bad_name.text().await.expect("text");
    assert!(bad_name.contains("应为 2 至 64 个字符"), "{bad_name}");
    assert!(
        bad_name.contains(r#"value="National office""#),
        "{bad_name}"
    );
    let mut fields = form(&token);
    fields[0].1 = csrf_in(&bad_name);
    let ok = browser
        .post(app.url("/setup"))
        .form(&fields)
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let me: Value = reqwest::Client::new()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "username": "chief", "password": "a long password", "name": "t" }))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert!(me["token"].as_str().is_some_and(|t| t.starts_with("mst_")));
    // Setup is over: its page sends a visitor to sign in.
    let over = browser.get(app.url("/setup")).send().await.expect("get");
    assert_eq!(over.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        over.headers().get("location").and_then(|l| l.to_str().ok()),
        Some("/signin")
    );
    // The token is single-use: a restart does not issue another while a user exists.
    let running = app.running.take().expect("running");
    running.shutdown().await.expect("stop");
    let again = muster_web::App::build(common::config(), app.db.clone())
        .await
        .expect("restart");
    assert!(again.setup_token.is_none());
    again.shutdown().await.expect("stop");
}

/// Regions, organizations and users returned by every list and read endpoint for `token`.
async fn everything_visible(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        let token = token.to_owned();
        let url = app.url(&path);
        async move {
            let response = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("get");
            (
                response.status(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let mut seen = Vec::new();
    let (_, regions) = get("/api/v1/regions?limit=1000".into()).await;
    for region in regions.as_array().into_iter().flatten() {
        seen.push((
            "region".into(),
            region["path"].as_str().unwrap_or("").to_owned(),
        ));
        let (status, view) = get(format!(
            "/api/v1/regions/{}",
            region["code"].as_str().unwrap_or("")
        ))
        .await;
        assert_eq!(status, StatusCode::OK);
        for part in ["breadcrumb", "children"] {
            for r in view[part].as_array().into_iter().flatten() {
                seen.push(("region".into(), r["path"].as_str().unwrap_or("").to_owned()));
            }
        }
    }
    let (_, orgs) = get("/api/v1/organizations?limit=1000".into()).await;
    for org in orgs.as_array().into_iter().flatten() {
        seen.push((
            "organization".into(),
            org["region_path"].as_str().unwrap_or("").to_owned(),
        ));
        let (_, one) = get(format!("/api/v1/organizations/{}", org["id"])).await;
        seen.push((
            "organization".into(),
            one["region_path"].as_str().unwrap_or("").to_owned(),
        ));
    }
    let (_, users) = get("/api/v1/users?limit=1000".into()).await;
    for user in users.as_array().into_iter().flatten() {
        seen.push((
            "user".into(),
            user["region_path"].as_str().unwrap_or("").to_owned(),
        ));
    }
    let (_, records) = get("/api/v1/potential/records?limit=1000".into()).await;
    for (index, record) in records.as_array().into_iter().flatten().enumerate() {
        seen.push((
            "potential record".into(),
            record["region_path"].as_str().unwrap_or("").to_owned(),
        ));
        if index < 5 {
            let (status, one) = get(format!("/api/v1/potential/records/{}", record["id"])).await;
            assert_eq!(status, StatusCode::OK);
            seen.push((
                "potential record".into(),
                one["region_path"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    let (status, totals) = get("/api/v1/potential/totals?level=type".into()).await;
    assert_eq!(status, StatusCode::OK);
    seen.push((
        "totals".into(),
        totals["path"].as_str().unwrap_or("").to_owned(),
    ));
    for child in totals["children"].as_array().into_iter().flatten() {
        seen.push((
            "totals".into(),
            child["region"]["path"].as_str().unwrap_or("").to_owned(),
        ));
    }
    let (_, baselines) = get("/api/v1/potential/baselines".into()).await;
    for baseline in baselines.as_array().into_iter().flatten() {
        seen.push((
            "baseline".into(),
            baseline["region_path"].as_str().unwrap_or("").to_owned(),
        ));
    }
    let (status, _) = get("/api/v1/potential/gaps".into()).await;
    assert_eq!(status, StatusCode::OK);
    let (_, sites) = get("/api/v1/sites?limit=1000".into()).await;
    for site in sites.as_array().into_iter().flatten() {
        seen.push((
            "site".into(),
            site["region_path"].as_str().unwrap_or("").to_owned(),
        ));
        let (status, one) = get(format!("/api/v1/sites/{}", site["id"])).await;
        assert_eq!(status, StatusCode::OK);
        seen.push((
            "site by id".into(),
            one["region_path"].as_str().unwrap_or("").to_owned(),
        ));
    }
    let (_, audit) = get("/api/v1/audit?limit=1000".into()).await;
    for entry in audit.as_array().into_iter().flatten() {
        seen.push((
            "audit".into(),
            entry["region_path"].as_str().unwrap_or("").to_owned(),
        ));
    }
    seen
}

on_both!(
    scope_holds_for_random_users_on_every_endpoint,
    spawn_demo,
    scope_property_story
);
async fn scope_property_story(app: TestApp) {
    let seed = std::env::var("MUSTER_PROPERTY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261123u64);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let admin_token = app.token_for("admin").await;
    let client = reqwest::Client::new();
    // Potential records in every region, and a baseline per city, so that the potential
    // endpoints have something to leak.
    app.seed_records().await;
    let all_records: Vec<Value> = client
        .get(app.url("/api/v1/potential/records?limit=1000"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let baselines = client
        .put(app.url("/api/v1/potential/baselines"))
        .bearer_auth(&admin_token)
        .json(&json!([
            { "region_code": "3401", "type_code": common::SEED_TYPES[0], "required_quantity": 10.0 },
            { "region_code": "3402", "type_code": common::SEED_TYPES[0], "required_quantity": 10.0 }
        ]))
        .send()
        .await
        .expect("put");
    assert_eq!(baselines.status(), StatusCode::OK);
    // A site in a county of each of two cities, so that the sites endpoints have something
    // to leak.
    for city in ["3401", "3402"] {
        let counties: Value = client
            .get(app.url(&format!("/api/v1/regions?parent={city}&limit=1")))
            .bearer_auth(&admin_token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let county = &counties[0];
        let site = client
            .post(app.url("/api/v1/sites"))
            .bearer_auth(&admin_token)
            .json(&json!({
                "name": format!("Depot {city}"),
                "kind": "warehouse",
                "region_code": county["code"],
                "lat": county["lat"],
                "lon": county["lon"],
            }))
            .send()
            .await
            .expect("post");
        let status = site.status();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            site.text().await.unwrap_or_default()
        );
    }
    let regions: Vec<Value> = client
        .get(app.url("/api/v1/regions?limit=1000"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let roles = [
        "administrator",
        "office_staff",
        "military_liaison",
        "member_unit_officer",
        "workstation_staff",
        "grid_member",
        "viewer",
    ];
    for case in 0..12 {
        // A random user at a random region with a random role.
        let region = &regions[rng.random_range(0..regions.len())];
        let code = region["code"].as_str().expect("code");
        let path = region["path"].as_str().expect("path").to_owned();
        let org: Value = client
            .post(app.url("/api/v1/organizations"))
            .bearer_auth(&admin_token)
            .json(&json!({ "name": format!("Case {case}"), "kind": "mobilization_office", "region_code": code }))
            .send()
            .await
            .expect("post")
            .json()
            .await
            .expect("json");
        let role = roles[rng.random_range(0..roles.len())];
        let username = format!("case{case}");
        let created = client
            .post(app.url("/api/v1/users"))
            .bearer_auth(&admin_token)
            .json(&json!({ "username": username, "display_name": username, "password": "muster-demo", "organization_id": org["id"], "roles": [role] }))
            .send()
            .await
            .expect("post");
        assert_eq!(created.status(), StatusCode::CREATED);
        let token = app.token_for(&username).await;

        let seen = everything_visible(&app, &token).await;
        assert!(
            !seen.is_empty(),
            "case {case}: a user sees at least their own region"
        );
        for (kind, seen_path) in &seen {
            assert!(
                seen_path.starts_with(&path),
                "case {case} ({role} at {path}) saw a {kind} at {seen_path}"
            );
        }

        // Writes outside the subtree are refused with 403, whatever the role.
        let outside = regions
            .iter()
            .find(|r| !r["path"].as_str().unwrap_or("").starts_with(&path));
        if let Some(outside) = outside {
            let attempt = client
                .post(app.url("/api/v1/organizations"))
                .bearer_auth(&token)
                .json(&json!({ "name": "Intruder", "kind": "member_unit", "region_code": outside["code"] }))
                .send()
                .await
                .expect("post");
            assert_eq!(
                attempt.status(),
                StatusCode::FORBIDDEN,
                "case {case}: {role} at {path} wrote outside"
            );
            let read = client
                .get(app.url(&format!(
                    "/api/v1/regions/{}",
                    outside["code"].as_str().unwrap_or("")
                )))
                .bearer_auth(&token)
                .send()
                .await
                .expect("get");
            assert_eq!(
                read.status(),
                StatusCode::NOT_FOUND,
                "case {case}: a region outside is not there for them"
            );
            let totals = client
                .get(app.url(&format!(
                    "/api/v1/potential/totals?region={}",
                    outside["code"].as_str().unwrap_or("")
                )))
                .bearer_auth(&token)
                .send()
                .await
                .expect("get");
            assert_eq!(
                totals.status(),
                StatusCode::NOT_FOUND,
                "case {case}: totals outside"
            );
        }
        if let Some(record) = all_records
            .iter()
            .find(|r| !r["region_path"].as_str().unwrap_or("").starts_with(&path))
        {
            let read = client
                .get(app.url(&format!("/api/v1/potential/records/{}", record["id"])))
                .bearer_auth(&token)
                .send()
                .await
                .expect("get");
            assert_eq!(
                read.status(),
                StatusCode::NOT_FOUND,
                "case {case}: a record outside"
            );
            let write = client
                .patch(app.url(&format!("/api/v1/potential/records/{}", record["id"])))
                .bearer_auth(&token)
                .json(&json!({ "status": "unavailable" }))
                .send()
                .await
                .expect("patch");
            assert_eq!(
                write.status(),
                StatusCode::FORBIDDEN,
                "case {case}: {role} at {path} changed a record outside"
            );
        }
    }
    app.stop().await;
}
