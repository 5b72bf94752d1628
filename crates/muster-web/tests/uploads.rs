//! Attachment uploads over HTTP against a real server: a photo sent in chunks with a resume
//! after a "dropped" chunk, the refusals as problem details (offset, size, checksum, type,
//! corrupt image, someone else's upload, CSRF, chunk size), deduplication and the OpenAPI
//! paths.
//!
//! SQLite only: the attachment store is a directory, not the database, which these routes
//! touch only to authenticate (covered on both databases by `tests/api.rs`).

mod common;

use muster_domain::demo::DEMO_PASSWORD;
use muster_storage::ContentHash;
use muster_storage::blobs::samples::{Format, image_bytes};
use muster_storage::testing::TestDatabase;
use muster_web::{App, AppConfig, RunningApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A server over the tiny demo with its attachment store in a temp dir. `common::TestApp`
/// cannot be given a configuration, so this is its twin with a `files` directory.
struct TestApp {
    running: Option<RunningApp>,
    base: String,
    files: tempfile::TempDir,
    _test_db: TestDatabase,
}

async fn spawn() -> TestApp {
    let files = tempfile::tempdir().expect("temp dir");
    let test_db = TestDatabase::sqlite().await;
    common::seed_demo(&test_db.db).await;
    let running = App::build(
        AppConfig {
            files_dir: files.path().to_path_buf(),
            ..common::config()
        },
        test_db.db.clone(),
    )
    .await
    .expect("server starts");
    TestApp {
        base: running.url(),
        running: Some(running),
        files,
        _test_db: test_db,
    }
}

impl TestApp {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn token_for(&self, username: &str) -> String {
        let response = reqwest::Client::new()
            .post(self.url("/api/v1/auth/token"))
            .json(&json!({ "username": username, "password": DEMO_PASSWORD, "name": "phone" }))
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 201, "token for {username}");
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// A browser signed in with a session cookie, and the session's CSRF token.
    async fn signed_in(&self, username: &str) -> (reqwest::Client, String) {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let page = client.get(self.url("/signin")).send().await.expect("get");
        let page = page.text().await.expect("text");
        let signed_in = client
            .post(self.url("/signin"))
            .form(&[
                ("csrf", common::csrf_in(&page).as_str()),
                ("username", username),
                ("password", DEMO_PASSWORD),
            ])
            .send()
            .await
            .expect("sign in");
        assert_eq!(signed_in.status(), 303, "{username} signs in");
        let page = client.get(self.url("/regions")).send().await.expect("get");
        let csrf = common::csrf_in(&page.text().await.expect("text"));
        (client, csrf)
    }

    async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
    }
}

/// An API client for one demo user.
struct Phone<'a> {
    app: &'a TestApp,
    token: String,
    client: reqwest::Client,
}

impl<'a> Phone<'a> {
    async fn of(app: &'a TestApp, username: &str) -> Self {
        Self {
            token: app.token_for(username).await,
            app,
            client: reqwest::Client::new(),
        }
    }

    async fn begin(&self, size: usize, sha256: &str, name: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.app.url("/api/v1/uploads"))
            .bearer_auth(&self.token)
            .json(&json!({ "size": size, "sha256": sha256, "file_name": name }))
            .send()
            .await
            .expect("post");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Begins an upload of `bytes` with their real checksum; returns the id.
    async fn begin_file(&self, bytes: &[u8], name: &str) -> String {
        let (status, body) = self
            .begin(bytes.len(), ContentHash::of(bytes).as_str(), name)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["offset"], 0);
        body["id"].as_str().expect("id").to_owned()
    }

    async fn patch(&self, id: &str, offset: usize, chunk: &[u8]) -> reqwest::Response {
        self.client
            .patch(self.app.url(&format!("/api/v1/uploads/{id}")))
            .bearer_auth(&self.token)
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(chunk.to_vec())
            .send()
            .await
            .expect("patch")
    }

    async fn status(&self, id: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.app.url(&format!("/api/v1/uploads/{id}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("get");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn finish(&self, id: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.app.url(&format!("/api/v1/uploads/{id}/finish")))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("finish");
        let status = response.status();
        if status != StatusCode::OK {
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
        }
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Uploads `bytes` whole in chunks of `chunk` bytes and finishes.
    async fn upload(&self, bytes: &[u8], name: &str, chunk: usize) -> (StatusCode, Value) {
        let id = self.begin_file(bytes, name).await;
        let mut offset = 0;
        for piece in bytes.chunks(chunk) {
            let response = self.patch(&id, offset, piece).await;
            assert_eq!(response.status(), StatusCode::OK);
            offset += piece.len();
        }
        self.finish(&id).await
    }
}

fn problem_type(body: &Value) -> &str {
    body["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("https://muster.invalid/problems/"))
        .unwrap_or("")
}

fn objects_in(dir: &std::path::Path) -> usize {
    let Ok(fans) = std::fs::read_dir(dir.join("objects")) else {
        return 0;
    };
    fans.flatten()
        .map(|fan| std::fs::read_dir(fan.path()).map_or(0, |files| files.count()))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_resumes_after_a_dropped_chunk_and_is_stored_with_a_thumbnail() {
    let app = spawn().await;
    let phone = Phone::of(&app, "grid").await;
    let png = image_bytes(900, 600, Format::Png);
    let sha = ContentHash::of(&png);
    let id = phone.begin_file(&png, "door.png").await;

    let half = png.len() / 2;
    let first = phone.patch(&id, 0, &png[..half]).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["upload-offset"], half.to_string().as_str());
    // The connection drops before the client hears back: it asks where it stands.
    let (status, body) = phone.status(&id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["offset"].as_u64(), body["size"].as_u64()),
        (Some(half as u64), Some(png.len() as u64))
    );
    assert!(body["blob"].is_null());
    let head = phone
        .client
        .head(app.url(&format!("/api/v1/uploads/{id}")))
        .bearer_auth(&phone.token)
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["upload-offset"], half.to_string().as_str());
    assert_eq!(
        head.headers()["upload-length"],
        png.len().to_string().as_str()
    );

    // Sending the first half again is refused, naming where to resume.
    let again = phone.patch(&id, 0, &png[..half]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(again.headers()["upload-offset"], half.to_string().as_str());
    assert_eq!(again.headers()["content-type"], "application/problem+json");
    let problem: Value = again.json().await.expect("json");
    assert_eq!(problem_type(&problem), "upload-offset-mismatch");
    assert_eq!(problem["expected_offset"].as_u64(), Some(half as u64));
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains(&half.to_string())
    );

    // Finishing early names the offset too.
    let (status, problem) = phone.finish(&id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem_type(&problem), "upload-incomplete");
    assert_eq!(problem["expected_offset"].as_u64(), Some(half as u64));

    let rest = phone.patch(&id, half, &png[half..]).await;
    assert_eq!(rest.status(), StatusCode::OK);
    let rest: Value = rest.json().await.expect("json");
    assert_eq!(rest["offset"].as_u64(), Some(png.len() as u64));

    let (status, blob) = phone.finish(&id).await;
    assert_eq!(status, StatusCode::OK, "{blob}");
    assert_eq!(blob["sha256"], sha.as_str());
    assert_eq!(blob["size"].as_u64(), Some(png.len() as u64));
    assert_eq!(blob["content_type"], "image/png");
    assert_eq!(blob["kind"], "image");
    assert_eq!(blob["thumbnail"]["width"], 320);
    assert_eq!(blob["thumbnail"]["height"], 213);
    assert_eq!(blob["thumbnail"]["content_type"], "image/jpeg");

    // A lost response to finish: retrying gives the same answer.
    let (status, again) = phone.finish(&id).await;
    assert_eq!((status, &again), (StatusCode::OK, &blob));
    let (_, body) = phone.status(&id).await;
    assert_eq!(body["blob"], blob);

    // The same bytes again are stored once.
    let (status, second) = phone.upload(&png, "door-again.png", 300_000).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["sha256"], sha.as_str());
    assert_eq!(objects_in(app.files.path()), 1);
    let sha = sha.as_str();
    assert_eq!(
        std::fs::read(
            app.files
                .path()
                .join("objects")
                .join(&sha[..2])
                .join(&sha[2..])
        )
        .expect("object"),
        png
    );
    // And there is no route that serves a blob by its hash.
    let by_hash = phone
        .client
        .get(app.url(&format!("/api/v1/blobs/{sha}")))
        .bearer_auth(&phone.token)
        .send()
        .await
        .expect("get");
    assert_eq!(by_hash.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_problem_details_that_name_what_was_expected() {
    let app = spawn().await;
    let phone = Phone::of(&app, "grid").await;

    // Over the largest limit: refused before any byte.
    let (status, problem) = phone
        .begin(
            200 * 1024 * 1024,
            ContentHash::of(b"x").as_str(),
            "huge.mp4",
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem_type(&problem), "upload-too-large");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("104857600"),
        "{problem}"
    );

    // A malformed checksum.
    let (status, problem) = phone.begin(10, "abc", "x.jpg").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["field"], "sha256");

    // A photo declared over the photo limit is refused at its first chunk.
    let jpeg = image_bytes(400, 300, Format::Jpeg);
    let (status, body) = phone
        .begin(20 * 1024 * 1024, ContentHash::of(&jpeg).as_str(), "big.jpg")
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["id"].as_str().expect("id");
    let refused = phone.patch(id, 0, &jpeg).await;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let problem: Value = refused.json().await.expect("json");
    assert!(
        problem["detail"].as_str().unwrap_or("").contains("a photo"),
        "{problem}"
    );

    // A chunk past the declared size.
    let id = phone.begin_file(&jpeg[..1000], "short.jpg").await;
    let past = phone.patch(&id, 0, &jpeg[..1001]).await;
    assert_eq!(past.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // No Upload-Offset header.
    let no_offset = phone
        .client
        .patch(app.url(&format!("/api/v1/uploads/{id}")))
        .bearer_auth(&phone.token)
        .body(jpeg[..10].to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(no_offset.status(), StatusCode::BAD_REQUEST);
    let problem: Value = no_offset.json().await.expect("json");
    assert_eq!(problem["field"], "Upload-Offset");

    // A chunk over the 4 MiB limit.
    let big = vec![0u8; 5 * 1024 * 1024];
    let id = phone.begin_file(&big, "big.bin").await;
    // On a connection of its own: the server answers 413 without reading the rest of the
    // body and closes the connection, which a pooled client would otherwise reuse.
    let too_big = reqwest::Client::new()
        .patch(app.url(&format!("/api/v1/uploads/{id}")))
        .bearer_auth(&phone.token)
        .header("Upload-Offset", "0")
        .body(big.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        too_big.headers()["content-type"],
        "application/problem+json"
    );

    // The wrong checksum.
    let (status, body) = phone
        .begin(
            jpeg.len(),
            ContentHash::of(b"another file").as_str(),
            "x.jpg",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["id"].as_str().expect("id");
    assert_eq!(phone.patch(id, 0, &jpeg).await.status(), StatusCode::OK);
    let (status, problem) = phone.finish(id).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_type(&problem), "checksum-mismatch");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains(ContentHash::of(&jpeg).as_str())
    );
    // Discarded: the upload is gone.
    assert_eq!(phone.status(id).await.0, StatusCode::NOT_FOUND);

    // A text file called .jpg, in chunks too small to sniff early: refused at the finish.
    let text = b"Checked the door seal. All fine, no photo needed.\n".repeat(200);
    let (status, problem) = phone.upload(&text, "photo.jpg", 1000).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(problem_type(&problem), "unsupported-content-type");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("found text"),
        "{problem}"
    );

    // A truncated JPEG.
    let cut = &jpeg[..jpeg.len() / 2];
    let (status, problem) = phone.upload(cut, "cut.jpg", 100_000).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_type(&problem), "corrupt-image");

    // A malformed or unknown id.
    assert_eq!(
        phone.status("../../etc/passwd").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        phone.status("0123456789abcdef0123456789abcdef").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(objects_in(app.files.path()), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_may_touch_an_upload_and_browsers_need_the_csrf_token() {
    let app = spawn().await;
    let mine = Phone::of(&app, "grid").await;
    let theirs = Phone::of(&app, "admin").await;
    let jpeg = image_bytes(640, 480, Format::Jpeg);
    let id = mine.begin_file(&jpeg, "mine.jpg").await;
    let half = jpeg.len() / 2;
    assert_eq!(
        mine.patch(&id, 0, &jpeg[..half]).await.status(),
        StatusCode::OK
    );

    // Not even an administrator can see, append to, finish or cancel it.
    assert_eq!(theirs.status(&id).await.0, StatusCode::NOT_FOUND);
    let appended = theirs.patch(&id, half, &jpeg[half..]).await;
    assert_eq!(appended.status(), StatusCode::NOT_FOUND);
    assert_eq!(theirs.finish(&id).await.0, StatusCode::NOT_FOUND);
    let cancelled = theirs
        .client
        .delete(app.url(&format!("/api/v1/uploads/{id}")))
        .bearer_auth(&theirs.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(cancelled.status(), StatusCode::NOT_FOUND);
    // Mine is untouched.
    assert_eq!(
        mine.status(&id).await.1["offset"].as_u64(),
        Some(half as u64)
    );
    assert_eq!(
        mine.patch(&id, half, &jpeg[half..]).await.status(),
        StatusCode::OK
    );
    let (status, blob) = mine.finish(&id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(blob["content_type"], "image/jpeg");
    assert_eq!(blob["thumbnail"]["width"], 320);
    assert_eq!(blob["thumbnail"]["height"], 240);

    // No credentials at all.
    let anonymous = reqwest::Client::new()
        .post(app.url("/api/v1/uploads"))
        .json(&json!({ "size": 10, "sha256": ContentHash::of(b"x").as_str() }))
        .send()
        .await
        .expect("post");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // A browser session must echo its CSRF token on writes.
    let (browser, csrf) = app.signed_in("grid").await;
    let body = json!({ "size": jpeg.len(), "sha256": ContentHash::of(&jpeg).as_str(), "file_name": "b.jpg" });
    let forged = browser
        .post(app.url("/api/v1/uploads"))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let created = browser
        .post(app.url("/api/v1/uploads"))
        .header("X-CSRF-Token", &csrf)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["chunk_limit"].as_u64(), Some(4 * 1024 * 1024));
    let forged = browser
        .patch(app.url(&format!("/api/v1/uploads/{id}")))
        .header("Upload-Offset", "0")
        .body(jpeg.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let sent = browser
        .patch(app.url(&format!("/api/v1/uploads/{id}")))
        .header("Upload-Offset", "0")
        .header("X-CSRF-Token", &csrf)
        .body(jpeg.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(sent.status(), StatusCode::OK);
    let finished = browser
        .post(app.url(&format!("/api/v1/uploads/{id}/finish")))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .expect("finish");
    assert_eq!(finished.status(), StatusCode::OK);

    // The routes are in the OpenAPI document.
    let openapi: Value = reqwest::Client::new()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    for (path, method) in [
        ("/uploads", "post"),
        ("/uploads/{id}", "get"),
        ("/uploads/{id}", "patch"),
        ("/uploads/{id}", "delete"),
        ("/uploads/{id}/finish", "post"),
    ] {
        assert!(
            openapi["paths"][path][method].is_object(),
            "{method} {path}"
        );
    }
    // The users' own paths are still there after the merge.
    assert!(openapi["paths"]["/me"].is_object());
    app.stop().await;
}
