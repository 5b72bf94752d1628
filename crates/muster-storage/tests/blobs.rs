//! The attachment store on a real directory: chunked uploads that resume, the refusals
//! (offset, size, checksum, type, corrupt image, someone else's upload), deduplication,
//! thumbnails, the sweep, and a restart in the middle of an upload.

use std::path::Path;

use muster_storage::blobs::samples::{Format, image_bytes};
use muster_storage::{BlobError, BlobKind, BlobLimits, BlobStore, ContentHash, UploadId};

const OWNER: i64 = 7;
const STRANGER: i64 = 8;

fn store(dir: &Path) -> BlobStore {
    BlobStore::new(dir, BlobLimits::default())
}

/// Begins an upload of `bytes` with their real checksum.
async fn begin(store: &BlobStore, bytes: &[u8], name: &str) -> UploadId {
    store
        .begin_upload(OWNER, bytes.len() as u64, &ContentHash::of(bytes), name)
        .await
        .expect("upload begins")
}

/// Sends `bytes` in chunks of `chunk` bytes from the start.
async fn send(store: &BlobStore, id: &UploadId, bytes: &[u8], chunk: usize) {
    let mut offset = 0u64;
    for piece in bytes.chunks(chunk) {
        offset = store
            .append(OWNER, id, offset, piece.to_vec())
            .await
            .expect("chunk accepted");
    }
    assert_eq!(offset, bytes.len() as u64);
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// A minimal MP4: an `ftyp` box with the isom brand, then filler a real file would hold as
/// `moov`/`mdat`. The store sniffs videos and does not decode them.
fn mp4_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![
        0, 0, 0, 0x20, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0, 0, 2, 0, b'i', b's',
        b'o', b'm', b'i', b's', b'o', b'2', b'a', b'v', b'c', b'1', b'm', b'p', b'4', b'1',
    ];
    bytes.resize(len, 0x11);
    bytes
}

#[tokio::test]
async fn a_jpeg_in_chunks_is_stored_by_its_hash_with_a_thumbnail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let jpeg = image_bytes(1200, 800, Format::Jpeg);
    let id = begin(&store, &jpeg, "door.jpg").await;
    send(&store, &id, &jpeg, 16 * 1024).await;

    let blob = store.finish(OWNER, &id).await.expect("finished");
    assert_eq!(blob.sha256, ContentHash::of(&jpeg));
    assert_eq!(blob.size, jpeg.len() as u64);
    assert_eq!(blob.content_type, "image/jpeg");
    assert_eq!(blob.kind, BlobKind::Image);
    let thumbnail = blob.thumbnail.clone().expect("a thumbnail");
    assert_eq!((thumbnail.width, thumbnail.height), (320, 213));

    let sha = blob.sha256.as_str();
    let object = dir.path().join("objects").join(&sha[..2]).join(&sha[2..]);
    assert_eq!(std::fs::read(&object).expect("object file"), jpeg);
    assert_eq!(store.read_blob(&blob.sha256).await.expect("read"), jpeg);
    let opened = store.open_blob(&blob.sha256).await.expect("open");
    assert_eq!(
        (opened.size, opened.content_type.as_str(), opened.kind),
        (jpeg.len() as u64, "image/jpeg", BlobKind::Image)
    );
    assert!(store.contains(&blob.sha256).await.expect("contains"));

    let thumb = store
        .thumbnail(&blob.sha256)
        .await
        .expect("read thumbnail")
        .expect("stored thumbnail");
    let decoded = image::load_from_memory(&thumb).expect("the thumbnail is an image");
    assert!(decoded.width() <= 320 && decoded.height() <= 320);
    assert_eq!((decoded.width(), decoded.height()), (320, 213));

    // No partial or temporary file is left behind.
    assert!(files_under(&dir.path().join("tmp")).is_empty());
    let uploads = files_under(&dir.path().join("uploads"));
    assert_eq!(uploads.len(), 1, "only the finished receipt: {uploads:?}");

    // Finishing again (a lost response) gives the same blob; the receipt resolves too.
    assert_eq!(store.finish(OWNER, &id).await.expect("again"), blob);
    assert_eq!(
        store.finished_upload(OWNER, &id).await.expect("receipt"),
        blob
    );
    assert!(matches!(
        store.finished_upload(STRANGER, &id).await,
        Err(BlobError::UploadNotFound)
    ));
    assert!(matches!(
        store.append(OWNER, &id, blob.size, vec![1u8]).await,
        Err(BlobError::AlreadyFinished | BlobError::ChunkPastEnd { .. })
    ));
}

#[tokio::test]
async fn a_dropped_upload_resumes_from_the_offset_the_store_reports_even_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let png = image_bytes(640, 960, Format::Png);
    let half = png.len() / 2;
    let id = {
        let store = store(dir.path());
        let id = begin(&store, &png, "shelter.png").await;
        let offset = store
            .append(OWNER, &id, 0, png[..half].to_vec())
            .await
            .expect("first half");
        assert_eq!(offset, half as u64);
        id
    };
    // The server restarts: a new store over the same directory knows the upload.
    let store = store(dir.path());
    let status = store.status(OWNER, &id).await.expect("status");
    assert_eq!(
        (status.offset, status.size),
        (half as u64, png.len() as u64)
    );
    assert!(status.finished.is_none());

    // A client that lost the response resends the first half: refused, naming the offset.
    match store.append(OWNER, &id, 0, png[..half].to_vec()).await {
        Err(BlobError::OffsetMismatch { expected, sent }) => {
            assert_eq!((expected, sent), (half as u64, 0));
        }
        other => panic!("expected an offset mismatch, got {other:?}"),
    }
    // Finishing early says how much is missing, and keeps the upload.
    assert!(matches!(
        store.finish(OWNER, &id).await,
        Err(BlobError::Incomplete { received, .. }) if received == half as u64
    ));
    let offset = store
        .append(OWNER, &id, half as u64, png[half..].to_vec())
        .await
        .expect("second half");
    assert_eq!(offset, png.len() as u64);
    let blob = store.finish(OWNER, &id).await.expect("finished");
    assert_eq!(blob.content_type, "image/png");
    let thumbnail = blob.thumbnail.expect("thumbnail");
    assert_eq!((thumbnail.width, thumbnail.height), (213, 320));
    let status = store
        .status(OWNER, &id)
        .await
        .expect("status when finished");
    assert_eq!(status.offset, png.len() as u64);
    assert!(status.finished.is_some());
}

#[tokio::test]
async fn the_same_bytes_uploaded_twice_are_stored_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let webp = image_bytes(500, 500, Format::WebP);
    let mut blobs = Vec::new();
    for name in ["a.webp", "b.webp"] {
        let id = begin(&store, &webp, name).await;
        send(&store, &id, &webp, 4096).await;
        blobs.push(store.finish(OWNER, &id).await.expect("finished"));
    }
    assert_eq!(blobs[0], blobs[1]);
    assert_eq!(blobs[0].content_type, "image/webp");
    assert_eq!(files_under(&dir.path().join("objects")).len(), 1);
    assert_eq!(files_under(&dir.path().join("thumbs")).len(), 1);
}

#[tokio::test]
async fn a_wrong_checksum_is_refused_and_the_upload_discarded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let png = image_bytes(64, 64, Format::Png);
    let claimed = ContentHash::of(b"something else");
    let id = store
        .begin_upload(OWNER, png.len() as u64, &claimed, "x.png")
        .await
        .expect("begins");
    send(&store, &id, &png, 1000).await;
    match store.finish(OWNER, &id).await {
        Err(BlobError::ChecksumMismatch { declared, actual }) => {
            assert_eq!(declared, claimed);
            assert_eq!(actual, ContentHash::of(&png));
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    assert!(matches!(
        store.status(OWNER, &id).await,
        Err(BlobError::UploadNotFound)
    ));
    assert!(files_under(&dir.path().join("objects")).is_empty());
    assert!(files_under(&dir.path().join("uploads")).is_empty());
}

#[tokio::test]
async fn sizes_over_the_limits_are_refused_before_the_bytes_are_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let limits = BlobLimits {
        image_bytes: 2_000,
        video_bytes: 50_000,
    };
    let store = BlobStore::new(dir.path(), limits);
    let any = ContentHash::of(b"x");

    // Over every limit: refused up front.
    assert!(matches!(
        store.begin_upload(OWNER, 50_001, &any, "big.mp4").await,
        Err(BlobError::TooLarge {
            size: 50_001,
            limit: 50_000,
            ..
        })
    ));
    assert!(matches!(
        store.begin_upload(OWNER, 0, &any, "empty.jpg").await,
        Err(BlobError::EmptyUpload)
    ));

    // A photo declared larger than photos may be: refused at its first chunk, discarded.
    let png = image_bytes(200, 200, Format::Png);
    assert!(png.len() > 2_000 && png.len() < 50_000, "{}", png.len());
    let id = begin(&store, &png, "photo.png").await;
    assert!(matches!(
        store.append(OWNER, &id, 0, png.clone()).await,
        Err(BlobError::TooLarge {
            what: "a photo",
            limit: 2_000,
            ..
        })
    ));
    assert!(matches!(
        store.status(OWNER, &id).await,
        Err(BlobError::UploadNotFound)
    ));

    // The same photo in chunks too small to sniff is refused at the finish.
    let id = begin(&store, &png, "photo.png").await;
    send(&store, &id, &png, 1_000).await;
    assert!(matches!(
        store.finish(OWNER, &id).await,
        Err(BlobError::TooLarge {
            what: "a photo",
            ..
        })
    ));

    // A video of that size is fine; it has no thumbnail.
    let mp4 = mp4_bytes(20_000);
    let id = begin(&store, &mp4, "round.mp4").await;
    send(&store, &id, &mp4, 9_000).await;
    let blob = store.finish(OWNER, &id).await.expect("video stored");
    assert_eq!(
        (blob.kind, blob.content_type.as_str()),
        (BlobKind::Video, "video/mp4")
    );
    assert!(blob.thumbnail.is_none());
    assert_eq!(store.thumbnail(&blob.sha256).await.expect("read"), None);

    // A chunk that would run past the declared size is refused.
    let id = begin(&store, &mp4, "round.mp4").await;
    let mut longer = mp4.clone();
    longer.push(0);
    assert!(matches!(
        store.append(OWNER, &id, 0, longer).await,
        Err(BlobError::ChunkPastEnd {
            end: 20_001,
            size: 20_000
        })
    ));
}

#[tokio::test]
async fn the_type_comes_from_the_bytes_not_the_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());

    let text = b"Door seal checked, all fine. Nothing to photograph today.\n".repeat(20);
    let id = begin(&store, &text, "photo.jpg").await;
    send(&store, &id, &text, 100).await;
    match store.finish(OWNER, &id).await {
        Err(BlobError::UnsupportedType { found }) => assert_eq!(found, "text"),
        other => panic!("expected an unsupported type, got {other:?}"),
    }
    assert!(files_under(&dir.path().join("objects")).is_empty());

    // A PDF is named as what it is; being whole, the first chunk is sniffed at once.
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n".to_vec();
    let id = begin(&store, &pdf, "photo.jpg").await;
    match store.append(OWNER, &id, 0, pdf.clone()).await {
        Err(BlobError::UnsupportedType { found }) => assert_eq!(found, "application/pdf"),
        other => panic!("expected an unsupported type, got {other:?}"),
    }

    // A PNG called .jpg is a PNG.
    let png = image_bytes(40, 30, Format::Png);
    let id = begin(&store, &png, "photo.jpg").await;
    send(&store, &id, &png, 10_000).await;
    let blob = store.finish(OWNER, &id).await.expect("stored");
    assert_eq!(blob.content_type, "image/png");
}

#[tokio::test]
async fn a_truncated_or_corrupt_image_is_refused_without_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let jpeg = image_bytes(800, 600, Format::Jpeg);
    let png = image_bytes(300, 300, Format::Png);
    let mut scrambled_png = png.clone();
    for byte in scrambled_png.iter_mut().skip(100).step_by(7) {
        *byte ^= 0x5A;
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated jpeg", jpeg[..jpeg.len() * 2 / 3].to_vec()),
        ("jpeg cut in its headers", jpeg[..300].to_vec()),
        ("truncated png", png[..png.len() / 2].to_vec()),
        ("scrambled png", scrambled_png),
        ("jpeg magic then noise", {
            let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
            bytes.extend((0..5000u32).map(|i| (i * 31 % 251) as u8));
            bytes
        }),
    ];
    for (name, bytes) in cases {
        let id = begin(&store, &bytes, "photo.jpg").await;
        send(&store, &id, &bytes, 100_000).await;
        match store.finish(OWNER, &id).await {
            Err(BlobError::CorruptImage { reason }) => assert!(!reason.is_empty(), "{name}"),
            other => panic!("{name}: expected a corrupt image, got {other:?}"),
        }
        assert!(
            matches!(
                store.status(OWNER, &id).await,
                Err(BlobError::UploadNotFound)
            ),
            "{name} is discarded"
        );
    }
    assert!(files_under(&dir.path().join("objects")).is_empty());
}

#[tokio::test]
async fn nobody_else_can_touch_my_upload_or_forge_an_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let jpeg = image_bytes(100, 100, Format::Jpeg);
    let id = begin(&store, &jpeg, "mine.jpg").await;
    let half = jpeg.len() / 2;
    store
        .append(OWNER, &id, 0, jpeg[..half].to_vec())
        .await
        .expect("mine");
    assert!(matches!(
        store
            .append(STRANGER, &id, half as u64, jpeg[half..].to_vec())
            .await,
        Err(BlobError::UploadNotFound)
    ));
    assert!(matches!(
        store.status(STRANGER, &id).await,
        Err(BlobError::UploadNotFound)
    ));
    assert!(matches!(
        store.finish(STRANGER, &id).await,
        Err(BlobError::UploadNotFound)
    ));
    assert!(matches!(
        store.cancel(STRANGER, &id).await,
        Err(BlobError::UploadNotFound)
    ));
    // My upload is untouched and finishes.
    store
        .append(OWNER, &id, half as u64, jpeg[half..].to_vec())
        .await
        .expect("mine again");
    store.finish(OWNER, &id).await.expect("finished");

    for forged in [
        "../../etc/passwd",
        "0123456789abcdef0123456789abcdeg",
        "0123456789ABCDEF0123456789ABCDEF",
        "",
    ] {
        assert!(
            matches!(UploadId::parse(forged), Err(BlobError::UploadNotFound)),
            "{forged}"
        );
    }
    assert!(ContentHash::parse("../objects").is_err());
    assert!(matches!(
        store.read_blob(&ContentHash::of(b"never stored")).await,
        Err(BlobError::BlobNotFound)
    ));
}

#[tokio::test]
async fn two_chunks_racing_for_one_offset_do_not_both_land() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let png = image_bytes(120, 120, Format::Png);
    let id = begin(&store, &png, "race.png").await;
    let first = png[..1000].to_vec();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let id = id.clone();
            let chunk = first.clone();
            tokio::spawn(async move { store.append(OWNER, &id, 0, chunk).await })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(offset) => {
                assert_eq!(offset, 1000);
                accepted += 1;
            }
            Err(BlobError::OffsetMismatch { expected: 1000, .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, 1);
    send_rest(&store, &id, &png, 1000).await;
    store.finish(OWNER, &id).await.expect("whole");
}

async fn send_rest(store: &BlobStore, id: &UploadId, bytes: &[u8], from: usize) {
    store
        .append(OWNER, id, from as u64, bytes[from..].to_vec())
        .await
        .expect("rest");
}

#[tokio::test]
async fn idle_uploads_are_swept_after_a_day_and_receipts_after_a_week() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let png = image_bytes(50, 50, Format::Png);
    let idle = begin(&store, &png, "idle.png").await;
    store
        .append(OWNER, &idle, 0, png[..100].to_vec())
        .await
        .expect("some bytes");
    let done = begin(&store, &png, "done.png").await;
    send(&store, &done, &png, 10_000).await;
    let blob = store.finish(OWNER, &done).await.expect("finished");

    let now = muster_storage::now();
    assert_eq!(store.sweep_stale_uploads(now).await.expect("sweep"), 0);
    assert!(store.status(OWNER, &idle).await.is_ok());

    let tomorrow = now.plus_millis(25 * 3600 * 1000);
    assert_eq!(store.sweep_stale_uploads(tomorrow).await.expect("sweep"), 1);
    assert!(matches!(
        store.status(OWNER, &idle).await,
        Err(BlobError::UploadNotFound)
    ));
    assert!(store.finished_upload(OWNER, &done).await.is_ok());

    let next_week = now.plus_days(8);
    assert_eq!(
        store.sweep_stale_uploads(next_week).await.expect("sweep"),
        1
    );
    assert!(store.finished_upload(OWNER, &done).await.is_err());
    // The blob itself stays.
    assert!(store.contains(&blob.sha256).await.expect("contains"));
}

#[tokio::test]
async fn a_cancelled_upload_is_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let png = image_bytes(50, 50, Format::Png);
    let id = begin(&store, &png, "x.png").await;
    store.cancel(OWNER, &id).await.expect("cancelled");
    assert!(matches!(
        store.append(OWNER, &id, 0, png).await,
        Err(BlobError::UploadNotFound)
    ));
    assert!(files_under(&dir.path().join("uploads")).is_empty());
}

/// Uploads `bytes` whole and finishes; returns the upload and its hash.
async fn stored(store: &BlobStore, bytes: &[u8]) -> (UploadId, ContentHash) {
    let id = begin(store, bytes, "photo.jpg").await;
    send(store, &id, bytes, bytes.len()).await;
    let blob = store.finish(OWNER, &id).await.expect("finished");
    (id, blob.sha256)
}

/// Makes a stored blob's file look `days` old.
fn age(dir: &Path, hash: &ContentHash, days: u64) {
    let (fan, rest) = hash.as_str().split_at(2);
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86_400);
    std::fs::File::options()
        .write(true)
        .open(dir.join("objects").join(fan).join(rest))
        .and_then(|f| f.set_modified(then))
        .expect("backdate a blob");
}

#[tokio::test]
async fn blobs_nothing_refers_to_are_swept_once_old_and_without_a_live_receipt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let now = muster_domain::Timestamp::from_millis(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis(),
        )
        .expect("millis"),
    );
    let [referenced, forgotten, receipted, young, again] =
        [(640, 480), (641, 480), (642, 480), (643, 480), (644, 480)]
            .map(|(w, h)| image_bytes(w, h, Format::Jpeg));
    let (a, referenced) = stored(&store, &referenced).await;
    let (b, forgotten) = stored(&store, &forgotten).await;
    let (_, receipted) = stored(&store, &receipted).await;
    let (d, young) = stored(&store, &young).await;
    let again_bytes = again;
    let (e, again) = stored(&store, &again_bytes).await;
    // Receipts forgotten (as after a week), but for the one a phone may still attach.
    for id in [&a, &b, &d, &e] {
        store.cancel(OWNER, id).await.expect("receipt forgotten");
    }
    for hash in [&referenced, &forgotten, &receipted, &again] {
        age(dir.path(), hash, 10);
    }
    // The same bytes uploaded again are as young as that upload.
    let (e2, _) = stored(&store, &again_bytes).await;
    store.cancel(OWNER, &e2).await.expect("receipt forgotten");

    let names = std::collections::HashSet::from([referenced.as_str().to_owned()]);
    assert_eq!(
        store
            .sweep_unreferenced(names.clone(), now)
            .await
            .expect("sweep"),
        1
    );
    assert!(!store.contains(&forgotten).await.expect("look"), "swept");
    assert!(
        store.thumbnail(&forgotten).await.expect("look").is_none(),
        "and its thumbnail"
    );
    for kept in [&referenced, &receipted, &young, &again] {
        assert!(store.contains(kept).await.expect("look"), "{kept} kept");
        assert!(store.thumbnail(kept).await.expect("look").is_some());
    }
    assert_eq!(
        store.sweep_unreferenced(names, now).await.expect("sweep"),
        0,
        "nothing more to sweep"
    );
}

#[tokio::test]
async fn one_user_holds_only_so_many_unfinished_uploads() {
    use muster_storage::blobs::{MAX_OPEN_UPLOAD_BYTES, MAX_OPEN_UPLOADS};

    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path());
    let any = ContentHash::of(b"x");
    let mut open = Vec::new();
    for n in 0..MAX_OPEN_UPLOADS {
        open.push(
            store
                .begin_upload(OWNER, 1_000, &any, &format!("{n}.jpg"))
                .await
                .expect("within the limit"),
        );
    }
    match store.begin_upload(OWNER, 1_000, &any, "one-more.jpg").await {
        Err(e @ BlobError::TooManyOpenUploads { open, bytes, size }) => {
            assert_eq!(
                (open, bytes, size),
                (MAX_OPEN_UPLOADS, 1_000 * MAX_OPEN_UPLOADS as u64, 1_000)
            );
            let said = e.to_string();
            assert!(
                said.starts_with(
                    "this upload of 1000 bytes would make 101 unfinished uploads of 101000 bytes"
                ),
                "{said}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Another user is not held up by this one's uploads.
    store
        .begin_upload(STRANGER, 1_000, &any, "theirs.jpg")
        .await
        .expect("someone else's");
    // A finished upload no longer counts, nor does a cancelled one.
    let png = image_bytes(20, 20, Format::Png);
    store.cancel(OWNER, &open[0]).await.expect("cancel");
    let done = begin(&store, &png, "done.png").await;
    send(&store, &done, &png, png.len()).await;
    store.finish(OWNER, &done).await.expect("finished");
    store
        .begin_upload(OWNER, 1_000, &any, "again.jpg")
        .await
        .expect("a place was freed");

    // The bytes declared count too: a second user's large uploads stop at the total.
    let large = MAX_OPEN_UPLOAD_BYTES / 2 - 1;
    let limits = BlobLimits {
        image_bytes: 1_000,
        video_bytes: large,
    };
    let store = BlobStore::new(dir.path(), limits);
    for name in ["a.mp4", "b.mp4"] {
        store
            .begin_upload(9, large, &any, name)
            .await
            .expect("within the bytes");
    }
    assert!(matches!(
        store.begin_upload(9, 3, &any, "c.mp4").await,
        Err(BlobError::TooManyOpenUploads { open: 2, .. })
    ));
}
