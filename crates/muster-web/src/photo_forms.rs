//! Photos sent with a plain HTML form (`multipart/form-data`, `<input type=file multiple>`):
//! the demand inspection and the on-site verification finding. Each photo goes through the
//! attachment store's checks (`BlobStore`: size limit, type sniffed from the bytes, the
//! picture decoded, a thumbnail made) as an upload owned by the signed-in user, and the form's
//! record names it by SHA-256, exactly as an API client's record does after
//! `/api/v1/uploads`.

use axum::extract::Multipart;
use muster_storage::{BlobError, BlobKind, ContentHash};

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::WebError;

/// The body limit of a form with photos: a dozen phone photos.
pub(crate) const PHOTO_FORM_BYTES: usize = 64 * 1024 * 1024;

/// Reads a multipart form whose file fields are named `photos`: stores each photo as it
/// arrives (one in memory at a time) and hands every other field to `text_field` by name.
/// The CSRF token must come before the first photo and is checked there, so a forged post
/// cannot fill the attachment store; a photo beyond `max_photos` is refused before it is
/// stored. Returns the photos' SHA-256 in the order sent.
pub(crate) async fn read_photo_form(
    state: &AppState,
    user: &CurrentUser,
    mut multipart: Multipart,
    max_photos: usize,
    mut text_field: impl FnMut(&str, String),
) -> Result<Vec<String>, WebError> {
    let mut photos = Vec::new();
    let mut csrf_checked = false;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(unreadable("form", e.body_text())),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "photos" {
            if !csrf_checked {
                return Err(WebError::Csrf);
            }
            let file_name = field.file_name().unwrap_or("photo").to_owned();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| unreadable("photos", e.body_text()))?;
            if bytes.is_empty() {
                // The empty part a browser sends when no file was chosen.
                continue;
            }
            if photos.len() == max_photos {
                return Err(WebError::refused(
                    "photos",
                    format!("at most {max_photos} photos"),
                    format!("最多 {max_photos} 张照片"),
                ));
            }
            let sha = store_photo(state, user.user.id, &file_name, bytes.to_vec())
                .await
                .map_err(|(message, zh)| {
                    WebError::refused(&format!("photos[{}]", photos.len()), message, zh)
                })?;
            photos.push(sha);
            continue;
        }
        let value = field
            .text()
            .await
            .map_err(|e| unreadable(&name, e.body_text()))?;
        if name == "csrf" {
            user.check_csrf(Some(&value))?;
            csrf_checked = true;
        } else {
            text_field(&name, value);
        }
    }
    if !csrf_checked {
        return Err(WebError::Csrf);
    }
    Ok(photos)
}

/// Stores one photo through the attachment store's checks, as an upload of `owner`; a file
/// that turns out to be a video is refused (the form asks for photos, which get thumbnails).
async fn store_photo(
    state: &AppState,
    owner: i64,
    file_name: &str,
    bytes: Vec<u8>,
) -> Result<String, (String, String)> {
    let not_kept = |e: BlobError| {
        (
            format!("{file_name}: {e}"),
            format!("{file_name}：无法作为照片保存（{e}）"),
        )
    };
    let hash = ContentHash::of(&bytes);
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    let upload = state
        .blobs
        .begin_upload(owner, size, &hash, file_name)
        .await
        .map_err(not_kept)?;
    state
        .blobs
        .append(owner, &upload, 0, bytes)
        .await
        .map_err(not_kept)?;
    let blob = state.blobs.finish(owner, &upload).await.map_err(not_kept)?;
    match blob.kind {
        BlobKind::Image => Ok(blob.sha256.as_str().to_owned()),
        BlobKind::Video => Err((
            format!("{file_name}: expected a photo, not a video"),
            format!("{file_name}：应为照片，不能是视频"),
        )),
    }
}

/// A form part the server could not read (a dropped connection, a broken encoding).
fn unreadable(field: &str, reason: String) -> WebError {
    let zh = format!("表单未能读取（{reason}）");
    WebError::refused(field, reason, zh)
}
