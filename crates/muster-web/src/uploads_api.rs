//! Attachment uploads in the JSON API: photos and short videos sent from phones in chunks
//! that resume after a dropped connection (a simpler cousin of tus).
//!
//! ```text
//! POST   /api/v1/uploads               {size, sha256, file_name} → 201 {id, offset: 0, …}
//! PATCH  /api/v1/uploads/{id}          Upload-Offset: N, body = the chunk → {offset, size}
//! GET    /api/v1/uploads/{id}          (and HEAD) → {offset, size, finished}, Upload-Offset
//! POST   /api/v1/uploads/{id}/finish   → {sha256, size, content_type, kind, thumbnail}
//! DELETE /api/v1/uploads/{id}          → 204
//! ```
//!
//! A chunk is accepted only at the upload's current offset; anything else is a 409 whose
//! `expected_offset` (and `Upload-Offset` header) says where to resume. There is
//! deliberately no route that reads a blob by its hash: a photo is served by whatever
//! references it (an inspection), after that code's own scope check.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_storage::{
    BlobError, BlobStore, ContentHash, Database, StoredBlob, UploadId, UploadStatus,
};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{Problem, WebError};

/// The largest chunk a PATCH may carry. Small enough that sixteen phones uploading at once
/// hold little memory, large enough that a 2 MB photo goes in one request on a good network.
pub(crate) const CHUNK_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// How often idle uploads are swept.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");

pub(crate) fn router() -> OpenApiRouter<AppState> {
    // Chunks get their own body limit, above the global 2 MiB; the innermost limit wins.
    let chunks = OpenApiRouter::new()
        .routes(routes!(upload_status, append_chunk, cancel_upload))
        .layer(DefaultBodyLimit::max(CHUNK_LIMIT_BYTES));
    OpenApiRouter::new()
        .routes(routes!(begin_upload))
        .routes(routes!(finish_upload))
        .merge(chunks)
}

/// Sweeps idle uploads at start-up and every hour after, and the blobs nothing refers to
/// once a day, until aborted.
pub(crate) fn spawn_sweeper(store: BlobStore, db: Database) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for tick in 0_u64.. {
            every.tick().await;
            if let Err(e) = store.sweep_stale_uploads(muster_storage::now()).await {
                tracing::warn!(error = %e, "sweeping stale uploads failed");
            }
            if tick % UNREFERENCED_SWEEP_EVERY_TICKS == 0 {
                sweep_unreferenced(&store, &db).await;
            }
        }
    })
}

/// The blobs nothing refers to are looked for every this many upload sweeps: once a day.
const UNREFERENCED_SWEEP_EVERY_TICKS: u64 = 24;

/// Removes the blobs no record names (see [`BlobStore::sweep_unreferenced`]); the
/// references are read first, so a blob attached meanwhile is one stored too recently to go.
async fn sweep_unreferenced(store: &BlobStore, db: &Database) {
    let referenced = match db.referenced_blob_hashes().await {
        Ok(referenced) => referenced,
        Err(e) => {
            tracing::warn!(error = %e, "reading what refers to blobs failed");
            return;
        }
    };
    if let Err(e) = store
        .sweep_unreferenced(referenced, muster_storage::now())
        .await
    {
        tracing::warn!(error = %e, "sweeping unreferenced blobs failed");
    }
}

// ------------------------------------------------------------------ wire types

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct BeginUploadRequest {
    /// The file's size in bytes: at most the video limit (default 100 MiB); photos at most
    /// the image limit (default 15 MiB).
    size: u64,
    /// The file's SHA-256, 64 hex digits; checked when the upload is finished.
    sha256: String,
    /// For the record only: the type is read from the bytes, never from the name.
    #[serde(default)]
    file_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UploadCreatedDto {
    /// The upload's id (32 hex digits): a secret of its owner.
    id: String,
    offset: u64,
    size: u64,
    /// The most bytes one PATCH may carry.
    chunk_limit: u64,
    image_limit: u64,
    video_limit: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UploadOffsetDto {
    /// Bytes received; the next chunk starts here.
    offset: u64,
    size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UploadStatusDto {
    offset: u64,
    size: u64,
    /// The blob it became, once finished.
    blob: Option<BlobDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ThumbnailDto {
    /// At most 320.
    width: u32,
    height: u32,
    content_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BlobDto {
    /// The blob's name in the content-addressed store.
    sha256: String,
    size: u64,
    /// Sniffed from the bytes: image/jpeg, image/png, image/webp, image/heif, video/mp4,
    /// video/x-m4v, video/quicktime or video/webm.
    content_type: String,
    /// image or video.
    kind: String,
    /// For JPEG, PNG and WebP photos.
    thumbnail: Option<ThumbnailDto>,
}

impl From<StoredBlob> for BlobDto {
    fn from(blob: StoredBlob) -> Self {
        Self {
            sha256: blob.sha256.to_string(),
            size: blob.size,
            content_type: blob.content_type,
            kind: blob.kind.as_str().to_owned(),
            thumbnail: blob.thumbnail.map(|t| ThumbnailDto {
                width: t.width,
                height: t.height,
                content_type: t.content_type,
            }),
        }
    }
}

/// A problem detail for the upload routes: the usual fields plus, for an offset conflict or
/// an early finish, the offset to resume from.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UploadProblem {
    #[serde(flatten)]
    problem: Problem,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_offset: Option<u64>,
}

// ------------------------------------------------------------------ errors

/// The upload routes' error: the layer's own [`WebError`], or a refusal of the attachment
/// store, which `error.rs` does not know (the store is not a database error, and that
/// module's match is shared by every handler); mapped here to the same problem documents.
#[derive(Debug)]
pub(crate) enum UploadError {
    Web(WebError),
    Blob(BlobError),
}

impl From<WebError> for UploadError {
    fn from(e: WebError) -> Self {
        Self::Web(e)
    }
}

impl From<BlobError> for UploadError {
    fn from(e: BlobError) -> Self {
        Self::Blob(e)
    }
}

/// Status, stable type slug and title for each of the store's refusals.
fn classify(error: &BlobError) -> (StatusCode, &'static str, &'static str) {
    match error {
        BlobError::UploadNotFound | BlobError::BlobNotFound => {
            (StatusCode::NOT_FOUND, "not-found", "Not found")
        }
        BlobError::InvalidChecksum { .. } | BlobError::EmptyUpload => {
            (StatusCode::BAD_REQUEST, "invalid-input", "Invalid input")
        }
        BlobError::TooLarge { .. } | BlobError::ChunkPastEnd { .. } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "upload-too-large",
            "Upload too large",
        ),
        BlobError::TooManyOpenUploads { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-open-uploads",
            "Too many unfinished uploads",
        ),
        BlobError::OffsetMismatch { .. } => (
            StatusCode::CONFLICT,
            "upload-offset-mismatch",
            "Chunk at the wrong offset",
        ),
        BlobError::Incomplete { .. } => (
            StatusCode::CONFLICT,
            "upload-incomplete",
            "Upload incomplete",
        ),
        BlobError::AlreadyFinished => (
            StatusCode::CONFLICT,
            "upload-finished",
            "Upload already finished",
        ),
        BlobError::ChecksumMismatch { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "checksum-mismatch",
            "Checksum mismatch",
        ),
        BlobError::UnsupportedType { .. } => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-content-type",
            "Unsupported content type",
        ),
        BlobError::CorruptImage { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "corrupt-image",
            "Corrupt image",
        ),
        BlobError::Io { .. } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        ),
    }
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        let error = match self {
            UploadError::Web(e) => return e.into_response(),
            UploadError::Blob(e) => e,
        };
        let (status, slug, title) = classify(&error);
        let detail = if status.is_server_error() {
            let mut causes = Vec::new();
            let mut source: Option<&dyn std::error::Error> = Some(&error);
            while let Some(e) = source {
                causes.push(e.to_string());
                source = e.source();
            }
            tracing::error!(causes = ?causes, "upload failed");
            "Something went wrong on the server; it has been logged.".to_owned()
        } else {
            error.to_string()
        };
        let field = match &error {
            BlobError::InvalidChecksum { .. } => Some("sha256".to_owned()),
            BlobError::EmptyUpload => Some("size".to_owned()),
            _ => None,
        };
        let expected_offset = match &error {
            BlobError::OffsetMismatch { expected, .. } => Some(*expected),
            BlobError::Incomplete { received, .. } => Some(*received),
            _ => None,
        };
        let body = UploadProblem {
            problem: Problem {
                problem_type: format!("https://muster.invalid/problems/{slug}"),
                title: title.to_owned(),
                status: status.as_u16(),
                detail,
                field,
                errors: Vec::new(),
                row_errors: Vec::new(),
            },
            expected_offset,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(offset) = expected_offset {
            headers.insert(UPLOAD_OFFSET.clone(), HeaderValue::from(offset));
        }
        response
    }
}

// ------------------------------------------------------------------ handlers

fn check_write(current: &CurrentUser, headers: &HeaderMap) -> Result<(), WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
}

fn offset_headers(offset: u64, size: u64) -> [(HeaderName, HeaderValue); 3] {
    [
        (UPLOAD_OFFSET.clone(), HeaderValue::from(offset)),
        (UPLOAD_LENGTH.clone(), HeaderValue::from(size)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// Starts an upload. A size over the largest limit is refused before any byte is sent.
#[utoipa::path(post, path = "/uploads", tag = "uploads", request_body = BeginUploadRequest,
    responses((status = 201, body = UploadCreatedDto, description = "Started; `Location` names the upload"),
        (status = 400, body = UploadProblem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 413, body = UploadProblem)))]
async fn begin_upload(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<BeginUploadRequest>,
) -> Result<Response, UploadError> {
    check_write(&current, &headers)?;
    let sha256 = ContentHash::parse(&request.sha256)?;
    let id = state
        .blobs
        .begin_upload(
            current.user.id,
            request.size,
            &sha256,
            request.file_name.as_deref().unwrap_or(""),
        )
        .await?;
    let limits = state.blobs.limits();
    let location = HeaderValue::try_from(format!("/api/v1/uploads/{id}"))
        .map_err(|_| WebError::refused("id", "unrepresentable", "上传编号无法写入响应头"))?;
    let body = UploadCreatedDto {
        id: id.to_string(),
        offset: 0,
        size: request.size,
        chunk_limit: CHUNK_LIMIT_BYTES as u64,
        image_limit: limits.image_bytes,
        video_limit: limits.video_bytes,
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        offset_headers(0, request.size),
        Json(body),
    )
        .into_response())
}

/// Where an upload stands: the offset to send the next chunk from (also in the
/// `Upload-Offset` header, so `HEAD` is enough), or the blob it became.
#[utoipa::path(get, path = "/uploads/{id}", tag = "uploads", params(("id" = String, Path)),
    responses((status = 200, body = UploadStatusDto), (status = 401, body = Problem),
        (status = 404, body = UploadProblem)))]
async fn upload_status(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, UploadError> {
    let id = UploadId::parse(&id)?;
    let UploadStatus {
        offset,
        size,
        finished,
    } = state.blobs.status(current.user.id, &id).await?;
    let body = UploadStatusDto {
        offset,
        size,
        blob: finished.map(BlobDto::from),
    };
    Ok((offset_headers(offset, size), Json(body)).into_response())
}

/// Appends a chunk (the raw request body, at most 4 MiB) at `Upload-Offset`, which must be
/// the upload's current offset. The first chunk is sniffed at once: a file of a refused type
/// or a photo over the photo limit is refused (and discarded) before the rest is sent.
#[utoipa::path(patch, path = "/uploads/{id}", tag = "uploads",
    params(("id" = String, Path), ("Upload-Offset" = u64, Header, description = "Where this chunk starts")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "The chunk"),
    responses((status = 200, body = UploadOffsetDto), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = UploadProblem),
        (status = 409, body = UploadProblem, description = "Wrong offset: resume from `expected_offset`"),
        (status = 413, body = UploadProblem), (status = 415, body = UploadProblem)))]
async fn append_chunk(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, UploadError> {
    check_write(&current, &headers)?;
    let id = UploadId::parse(&id)?;
    let offset = headers
        .get(&UPLOAD_OFFSET)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            WebError::refused(
                "Upload-Offset",
                "send the chunk's starting offset as a whole number of bytes",
                "请以整数字节数给出该数据块的起始偏移量",
            )
        })?;
    let chunk = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            WebError::TooLarge {
                limit_mib: CHUNK_LIMIT_BYTES / (1024 * 1024),
            }
        } else {
            let reason = rejection.body_text();
            let zh = format!("请求内容未能读取（{reason}）");
            WebError::refused("body", reason, zh)
        }
    })?;
    let offset = state
        .blobs
        .append(current.user.id, &id, offset, chunk)
        .await?;
    let size = state.blobs.status(current.user.id, &id).await?.size;
    Ok((
        offset_headers(offset, size),
        Json(UploadOffsetDto { offset, size }),
    )
        .into_response())
}

/// Abandons an upload.
#[utoipa::path(delete, path = "/uploads/{id}", tag = "uploads", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = UploadProblem)))]
async fn cancel_upload(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, UploadError> {
    check_write(&current, &headers)?;
    let id = UploadId::parse(&id)?;
    state.blobs.cancel(current.user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks and stores a complete upload: size, SHA-256, the type read from the bytes, the
/// kind's size limit, and for photos that the picture decodes (it then gets a thumbnail of
/// at most 320 px). Refusals other than an incomplete upload discard it. Finishing again
/// returns the same blob, so a lost response can be retried.
#[utoipa::path(post, path = "/uploads/{id}/finish", tag = "uploads", params(("id" = String, Path)),
    responses((status = 200, body = BlobDto), (status = 403, body = Problem),
        (status = 404, body = UploadProblem),
        (status = 409, body = UploadProblem, description = "Incomplete: resume from `expected_offset`"),
        (status = 413, body = UploadProblem), (status = 415, body = UploadProblem),
        (status = 422, body = UploadProblem, description = "Checksum mismatch or corrupt image")))]
async fn finish_upload(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<BlobDto>, UploadError> {
    check_write(&current, &headers)?;
    let id = UploadId::parse(&id)?;
    let blob = state.blobs.finish(current.user.id, &id).await?;
    Ok(Json(blob.into()))
}
