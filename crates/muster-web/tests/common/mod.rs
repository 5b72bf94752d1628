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
    let running = App::build(config(), db.clone())
        .await
        .expect("server starts");
    Some(TestApp {
        base: running.url(),
        running: Some(running),
        db,
        _test_db: test_db,
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
