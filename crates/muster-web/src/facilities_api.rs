//! Facilities and the grid in the JSON API: the registry, grids, checklists and schedules,
//! "my rounds today", inspections with their attachments, rectification orders (with the
//! link a property manager without an account answers through), the dashboard and its map
//! points, patrols, campaigns and notifications.
//!
//! Every read goes through storage's facility reach (a grid member sees their grids, a
//! property manager their orders, staff their subtree); writes by a browser session need the
//! CSRF header. Attachments are named by the phone's finished upload ids, never by a hash the
//! client claims, so nobody can attach (and then read) a file they did not upload.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_domain::facility::campaign::CampaignTarget;
use muster_domain::facility::patrol::RouteDraft;
use muster_domain::facility::{
    Checklist, FacilityDraft, FacilityKind, InspectionDraft, OrderAction, SignStatus,
};
use muster_domain::time::CivilDate;
use muster_domain::{Actor, Timestamp};
use muster_storage::{
    AttachmentInput, BlobKind, ContentHash, Facility, Inspection, NewCampaign, NewFacility,
    OrderFilter, RectificationOrder, UploadId,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{Problem, WebError};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_facilities, create_facility))
        .routes(routes!(get_facility))
        .routes(routes!(set_sign))
        .routes(routes!(list_grids, create_grid))
        .routes(routes!(add_grid_member))
        .routes(routes!(remove_grid_member))
        .routes(routes!(rounds_today))
        .routes(routes!(get_checklist, put_checklist))
        .routes(routes!(put_schedule, delete_schedule))
        .routes(routes!(list_inspections, submit_inspection))
        .routes(routes!(get_inspection))
        .routes(routes!(get_attachment))
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(act_on_order))
        .routes(routes!(create_order_link))
        .routes(routes!(get_linked_order))
        .routes(routes!(act_by_link))
        .routes(routes!(dashboard))
        .routes(routes!(map_points))
        .routes(routes!(list_routes, create_route))
        .routes(routes!(get_route, update_route, retire_route))
        .routes(routes!(check_in))
        .routes(routes!(list_campaigns, create_campaign))
        .routes(routes!(campaign_progress, update_campaign, remove_campaign))
        .routes(routes!(notifications))
}

fn csrf(current: &CurrentUser, headers: &HeaderMap) -> Result<(), WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
}

pub(crate) fn parse_kind(text: &str) -> Result<FacilityKind, WebError> {
    FacilityKind::parse(text).ok_or_else(|| {
        WebError::refused(
            "kind",
            "expected shelter, basement_car_park, command_post, siren, reserve_warehouse or emergency_kit",
            "应为 shelter（人员掩蔽工程）、basement_car_park（人防地下车库）、command_post（指挥所）、siren（防空警报器）、reserve_warehouse（储备仓库）或 emergency_kit（应急物资箱）",
        )
    })
}

fn parse_date(field: &str, text: &str) -> Result<CivilDate, WebError> {
    CivilDate::parse(text).ok_or_else(|| {
        WebError::refused(
            field,
            "expected a date as YYYY-MM-DD",
            "应为 YYYY-MM-DD 格式的日期",
        )
    })
}

/// A facility as the API shows it, with its JSON columns as values.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FacilityDto {
    id: i64,
    name: String,
    /// shelter, basement_car_park, command_post, siren, reserve_warehouse or emergency_kit.
    kind: String,
    region_code: String,
    region_path: String,
    grid_id: Option<i64>,
    lat: f64,
    lon: f64,
    capacity_persons: i64,
    area_m2: f64,
    parking_spaces: i64,
    charging_points: i64,
    services: Vec<String>,
    /// The day the peacetime use began, YYYY-MM-DD.
    peacetime_since: Option<String>,
    /// missing, installed or damaged.
    sign_status: String,
    #[schema(value_type = Object)]
    equipment: serde_json::Value,
    #[schema(value_type = Object)]
    conversion: serde_json::Value,
    conversion_minutes: i64,
    manager_organization_id: Option<i64>,
    last_inspected_at: Option<i64>,
    /// The day the next inspection is due, YYYY-MM-DD.
    next_due: String,
}

impl From<Facility> for FacilityDto {
    fn from(f: Facility) -> Self {
        Self {
            services: f.services(),
            equipment: serde_json::to_value(f.equipment()).unwrap_or_default(),
            conversion: serde_json::to_value(f.conversion()).unwrap_or_default(),
            next_due: f.next_due().to_string(),
            peacetime_since: f
                .peacetime_since_day
                .map(|d| CivilDate::from_days(d).to_string()),
            id: f.id,
            name: f.name,
            kind: f.kind,
            region_code: f.region_code,
            region_path: f.region_path,
            grid_id: f.grid_id,
            lat: f.lat,
            lon: f.lon,
            capacity_persons: f.capacity_persons,
            area_m2: f.area_m2,
            parking_spaces: f.parking_spaces,
            charging_points: f.charging_points,
            sign_status: f.sign_status,
            conversion_minutes: f.conversion_minutes,
            manager_organization_id: f.manager_organization_id,
            last_inspected_at: f.last_inspected_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct FacilityQuery {
    /// Only facilities in this region's subtree.
    region: Option<String>,
    /// Only this kind.
    kind: Option<String>,
    after: Option<i64>,
    /// At most 1000; default 100.
    limit: Option<i64>,
}

fn region_of(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|r| !r.is_empty())
}

/// The facilities the caller reaches, by id.
#[utoipa::path(get, path = "/facilities", tag = "facilities", params(FacilityQuery),
    responses((status = 200, body = Vec<FacilityDto>), (status = 404, body = Problem)))]
async fn list_facilities(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<FacilityQuery>,
) -> Result<Json<Vec<FacilityDto>>, WebError> {
    let kind = query
        .kind
        .as_deref()
        .filter(|k| !k.trim().is_empty())
        .map(parse_kind)
        .transpose()?;
    let facilities = state
        .db
        .facilities(
            &current.actor,
            region_of(query.region.as_deref()),
            kind,
            query.limit.unwrap_or(100),
            query.after.unwrap_or(0),
        )
        .await?;
    Ok(Json(
        facilities.into_iter().map(FacilityDto::from).collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewFacilityRequest {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    draft: FacilityDraft,
    region_code: String,
    grid_id: Option<i64>,
    manager_organization_id: Option<i64>,
}

/// Registers a facility (office and workstation staff), due for inspection at once.
#[utoipa::path(post, path = "/facilities", tag = "facilities", request_body = NewFacilityRequest,
    responses((status = 201, body = FacilityDto), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_facility(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<NewFacilityRequest>,
) -> Result<(StatusCode, Json<FacilityDto>), WebError> {
    csrf(&current, &headers)?;
    let created = state
        .db
        .create_facility(
            &current.actor,
            NewFacility {
                draft: request.draft,
                region_code: request.region_code,
                grid_id: request.grid_id,
                manager_organization_id: request.manager_organization_id,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(get, path = "/facilities/{id}", tag = "facilities", params(("id" = i64, Path)),
    responses((status = 200, body = FacilityDto), (status = 404, body = Problem)))]
async fn get_facility(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<FacilityDto>, WebError> {
    Ok(Json(state.db.facility(&current.actor, id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SignRequest {
    /// missing, installed or damaged.
    sign_status: String,
}

/// Records the facility's sign status; an installed sign counts for sign campaigns.
#[utoipa::path(post, path = "/facilities/{id}/sign", tag = "facilities", params(("id" = i64, Path)),
    request_body = SignRequest, responses((status = 200, body = FacilityDto), (status = 404, body = Problem)))]
async fn set_sign(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<SignRequest>,
) -> Result<Json<FacilityDto>, WebError> {
    csrf(&current, &headers)?;
    let status = SignStatus::parse(&request.sign_status).ok_or_else(|| {
        WebError::refused(
            "sign_status",
            "expected missing, installed or damaged",
            "应为 missing（未设置）、installed（已设置）或 damaged（已损坏）",
        )
    })?;
    Ok(Json(
        state
            .db
            .set_sign_status(&current.actor, id, status)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct RegionQuery {
    region: Option<String>,
}

/// The grids in the caller's subtree (a grid member: their own).
#[utoipa::path(get, path = "/grids", tag = "facilities", params(RegionQuery),
    responses((status = 200, body = serde_json::Value)))]
async fn list_grids(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<RegionQuery>,
) -> Result<Json<Vec<muster_storage::Grid>>, WebError> {
    Ok(Json(
        state
            .db
            .grids(&current.actor, region_of(query.region.as_deref()))
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewGridRequest {
    name: String,
    /// A village or community of the caller's subtree.
    region_code: String,
}

#[utoipa::path(post, path = "/grids", tag = "facilities", request_body = NewGridRequest,
    responses((status = 201, body = serde_json::Value), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn create_grid(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<NewGridRequest>,
) -> Result<(StatusCode, Json<muster_storage::Grid>), WebError> {
    csrf(&current, &headers)?;
    let grid = state
        .db
        .create_grid(&current.actor, &request.name, &request.region_code)
        .await?;
    Ok((StatusCode::CREATED, Json(grid)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct GridMemberRequest {
    user_id: i64,
}

#[utoipa::path(post, path = "/grids/{id}/members", tag = "facilities", params(("id" = i64, Path)),
    request_body = GridMemberRequest, responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn add_grid_member(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<GridMemberRequest>,
) -> Result<StatusCode, WebError> {
    csrf(&current, &headers)?;
    state
        .db
        .add_grid_member(&current.actor, id, request.user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a user off a grid: its facilities leave their rounds.
#[utoipa::path(delete, path = "/grids/{id}/members/{user_id}", tag = "facilities",
    params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn remove_grid_member(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path((id, user_id)): Path<(i64, i64)>,
) -> Result<StatusCode, WebError> {
    csrf(&current, &headers)?;
    state
        .db
        .remove_grid_member(&current.actor, id, user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// "My rounds today": the facilities of the caller's grids due today or overdue, most
/// overdue first (staff: those of their subtree).
#[utoipa::path(get, path = "/rounds/today", tag = "facilities",
    responses((status = 200, body = Vec<FacilityDto>)))]
async fn rounds_today(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Vec<FacilityDto>>, WebError> {
    let today = muster_storage::now().date();
    let due = state.db.rounds_due(&current.actor, today, 200).await?;
    Ok(Json(due.into_iter().map(FacilityDto::from).collect()))
}

/// The checklist a kind is inspected against.
#[utoipa::path(get, path = "/checklists/{kind}", tag = "facilities", params(("kind" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 400, body = Problem)))]
async fn get_checklist(
    State(state): State<AppState>,
    _current: CurrentUser,
    Path(kind): Path<String>,
) -> Result<Json<Checklist>, WebError> {
    Ok(Json(state.db.checklist(parse_kind(&kind)?).await?))
}

/// Replaces a kind's checklist (administrators); past inspections keep theirs.
#[utoipa::path(put, path = "/checklists/{kind}", tag = "facilities", params(("kind" = String, Path)),
    request_body = serde_json::Value, responses((status = 204), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_checklist(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Json(checklist): Json<Checklist>,
) -> Result<StatusCode, WebError> {
    csrf(&current, &headers)?;
    if checklist.kind != parse_kind(&kind)? {
        return Err(WebError::refused(
            "kind",
            format!("expected the checklist of {kind}"),
            format!("应为 {kind} 的检查清单"),
        ));
    }
    state.db.set_checklist(&current.actor, checklist).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ScheduleRequest {
    region_code: String,
    kind: String,
    every_days: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScheduleOutcome {
    /// Facilities whose next due day moved.
    facilities_moved: u64,
}

/// Sets how often a kind is inspected in a region's subtree (the deepest schedule wins).
#[utoipa::path(put, path = "/schedules", tag = "facilities", request_body = ScheduleRequest,
    responses((status = 200, body = ScheduleOutcome), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_schedule(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<ScheduleRequest>,
) -> Result<Json<ScheduleOutcome>, WebError> {
    csrf(&current, &headers)?;
    let kind = parse_kind(&request.kind)?;
    let facilities_moved = state
        .db
        .set_schedule(
            &current.actor,
            &request.region_code,
            kind,
            request.every_days,
        )
        .await?;
    Ok(Json(ScheduleOutcome { facilities_moved }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct ScheduleQuery {
    /// The region that set the schedule.
    region_code: String,
    /// The kind of facility it was set for.
    kind: String,
}

/// Removes the schedule a region set for a kind: its facilities fall back to the schedule
/// above or the kind's default.
#[utoipa::path(delete, path = "/schedules", tag = "facilities", params(ScheduleQuery),
    responses((status = 200, body = ScheduleOutcome), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_schedule(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Query(query): Query<ScheduleQuery>,
) -> Result<Json<ScheduleOutcome>, WebError> {
    csrf(&current, &headers)?;
    let kind = parse_kind(&query.kind)?;
    let facilities_moved = state
        .db
        .remove_schedule(&current.actor, query.region_code.trim(), kind)
        .await?;
    Ok(Json(ScheduleOutcome { facilities_moved }))
}

/// An inspection as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InspectionDto {
    id: i64,
    facility_id: i64,
    facility_name: String,
    inspector: String,
    idempotency_key: String,
    inspected_at: i64,
    received_at: i64,
    lat: Option<f64>,
    lon: Option<f64>,
    distance_m: Option<f64>,
    far_from_facility: bool,
    #[schema(value_type = Object)]
    answers: serde_json::Value,
    notes: String,
    failed_count: i64,
    #[schema(value_type = Object)]
    attachments: serde_json::Value,
}

impl InspectionDto {
    fn of(inspection: Inspection, attachments: Vec<muster_storage::Attachment>) -> Self {
        Self {
            answers: serde_json::to_value(inspection.answers()).unwrap_or_default(),
            attachments: serde_json::to_value(attachments).unwrap_or_default(),
            id: inspection.id,
            facility_id: inspection.facility_id,
            facility_name: inspection.facility_name,
            inspector: inspection.inspector,
            idempotency_key: inspection.idempotency_key,
            inspected_at: inspection.inspected_at,
            received_at: inspection.received_at,
            lat: inspection.lat,
            lon: inspection.lon,
            distance_m: inspection.distance_m,
            far_from_facility: inspection.far_from_facility != 0,
            notes: inspection.notes,
            failed_count: inspection.failed_count,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct InspectionRequest {
    /// The phone's key for this submission: a retry with the same key returns the first
    /// attempt's inspection instead of making a second.
    idempotency_key: String,
    #[schema(value_type = Object)]
    #[serde(flatten)]
    draft: InspectionDraft,
    /// The ids of the caller's finished uploads (photos, short videos).
    #[serde(default)]
    attachments: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InspectionReceipt {
    inspection: InspectionDto,
    /// False when this key had been used: the inspection is the first attempt's.
    created: bool,
    orders_issued: Vec<i64>,
}

/// Submits an inspection of a facility the caller reaches. 201 the first time; 200 with the
/// same inspection when the idempotency key was already used.
#[utoipa::path(post, path = "/facilities/{id}/inspections", tag = "facilities", params(("id" = i64, Path)),
    request_body = InspectionRequest,
    responses((status = 201, body = InspectionReceipt), (status = 200, body = InspectionReceipt),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn submit_inspection(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<InspectionRequest>,
) -> Result<(StatusCode, Json<InspectionReceipt>), WebError> {
    csrf(&current, &headers)?;
    let attachments =
        attachments_of(&state, &current.actor, &request.attachments, "attachments").await?;
    let outcome = state
        .db
        .record_inspection(
            &current.actor,
            id,
            &request.idempotency_key,
            &request.draft,
            &attachments,
            muster_storage::now(),
        )
        .await?;
    let stored = state
        .db
        .inspection_attachments(&current.actor, outcome.inspection.id)
        .await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(InspectionReceipt {
            inspection: InspectionDto::of(outcome.inspection, stored),
            created: outcome.created,
            orders_issued: outcome.orders_issued,
        }),
    ))
}

/// The attachment records for a caller's finished uploads, named in the request's `field`.
pub(crate) async fn attachments_of(
    state: &AppState,
    actor: &Actor,
    upload_ids: &[String],
    field: &str,
) -> Result<Vec<AttachmentInput>, WebError> {
    let Some(owner) = actor.user_id() else {
        return Ok(Vec::new());
    };
    if upload_ids.len() > muster_storage::MAX_ATTACHMENTS {
        return Err(WebError::refused(
            field,
            format!("at most {} attachments", muster_storage::MAX_ATTACHMENTS),
            format!("最多 {} 个附件", muster_storage::MAX_ATTACHMENTS),
        ));
    }
    let mut inputs = Vec::with_capacity(upload_ids.len());
    for (index, id) in upload_ids.iter().enumerate() {
        let field = format!("{field}[{index}]");
        let upload = UploadId::parse(id)
            .map_err(|_| WebError::refused(&field, "expected an upload id", "应为上传编号"))?;
        let blob = state
            .blobs
            .finished_upload(owner, &upload)
            .await
            .map_err(|e| {
                WebError::refused(
                    &field,
                    format!("expected one of your finished uploads: {e}"),
                    format!("应为您本人已完成的上传（{e}）"),
                )
            })?;
        inputs.push(AttachmentInput {
            sha256: blob.sha256.as_str().to_owned(),
            content_type: blob.content_type,
            media_kind: blob.kind.as_str().to_owned(),
            size_bytes: i64::try_from(blob.size).unwrap_or(i64::MAX),
            thumbnail_sha256: blob.thumbnail.map(|_| blob.sha256.as_str().to_owned()),
        });
    }
    Ok(inputs)
}

#[utoipa::path(get, path = "/facilities/{id}/inspections", tag = "facilities", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<InspectionDto>), (status = 404, body = Problem)))]
async fn list_inspections(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Vec<InspectionDto>>, WebError> {
    let inspections = state
        .db
        .facility_inspections(&current.actor, id, 100)
        .await?;
    Ok(Json(
        inspections
            .into_iter()
            .map(|i| InspectionDto::of(i, Vec::new()))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/inspections/{id}", tag = "facilities", params(("id" = i64, Path)),
    responses((status = 200, body = InspectionDto), (status = 404, body = Problem)))]
async fn get_inspection(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<InspectionDto>, WebError> {
    let inspection = state.db.inspection(&current.actor, id).await?;
    let attachments = state.db.inspection_attachments(&current.actor, id).await?;
    Ok(Json(InspectionDto::of(inspection, attachments)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct AttachmentQuery {
    /// The image's thumbnail instead of the file.
    thumbnail: Option<bool>,
}

/// A file attached to an inspection, or repair evidence of an order, that the caller may
/// see: served only after the scope check.
#[utoipa::path(get, path = "/files/{sha256}", tag = "facilities",
    params(("sha256" = String, Path), AttachmentQuery),
    responses((status = 200, content_type = "application/octet-stream"), (status = 404, body = Problem)))]
async fn get_attachment(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(sha256): Path<String>,
    Query(query): Query<AttachmentQuery>,
) -> Result<Response, WebError> {
    serve_blob(
        &state,
        &current.actor,
        &sha256,
        query.thumbnail.unwrap_or(false),
    )
    .await
}

pub(crate) async fn serve_blob(
    state: &AppState,
    actor: &Actor,
    sha256: &str,
    thumbnail: bool,
) -> Result<Response, WebError> {
    let not_found = || {
        WebError::Storage(muster_storage::StorageError::NotFound {
            entity: "file",
            key: sha256.to_owned(),
        })
    };
    let hash = ContentHash::parse(sha256).map_err(|_| not_found())?;
    if !state.db.may_see_blob(actor, hash.as_str()).await? {
        return Err(not_found());
    }
    let private = [(header::CACHE_CONTROL, "private, max-age=86400")];
    if thumbnail {
        let bytes = state
            .blobs
            .thumbnail(&hash)
            .await
            .map_err(|_| not_found())?
            .ok_or_else(not_found)?;
        return Ok((private, [(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response());
    }
    let file = state
        .blobs
        .open_blob(&hash)
        .await
        .map_err(|_| not_found())?;
    let disposition = match file.kind {
        BlobKind::Image | BlobKind::Video => "inline",
    };
    Ok((
        private,
        [
            (header::CONTENT_TYPE, file.content_type.clone()),
            (header::CONTENT_LENGTH, file.size.to_string()),
            (header::CONTENT_DISPOSITION, disposition.to_owned()),
        ],
        Body::from_stream(tokio_util_stream(file.file)),
    )
        .into_response())
}

/// A file as a stream of chunks, so a video is never read whole into memory.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0u8; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(buffer), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// A rectification order as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderDto {
    id: i64,
    facility_id: i64,
    facility_name: String,
    inspection_id: Option<i64>,
    manager_organization_id: Option<i64>,
    manager_name: Option<String>,
    item_code: String,
    item_label: String,
    /// issued, acknowledged, repaired, sent_back, verified or closed.
    status: String,
    /// YYYY-MM-DD.
    deadline: String,
    overdue: bool,
    escalated_to_path: Option<String>,
    repair_note: Option<String>,
    evidence: Vec<String>,
    send_back_reason: Option<String>,
}

impl OrderDto {
    pub(crate) fn of(order: RectificationOrder, now: Timestamp) -> Self {
        Self {
            deadline: order.deadline().to_string(),
            overdue: order.is_overdue(now),
            evidence: order.evidence(),
            id: order.id,
            facility_id: order.facility_id,
            facility_name: order.facility_name,
            inspection_id: order.inspection_id,
            manager_organization_id: order.manager_organization_id,
            manager_name: order.manager_name,
            item_code: order.item_code,
            item_label: order.item_label,
            status: order.status,
            escalated_to_path: order.escalated_to_path,
            repair_note: order.repair_note,
            send_back_reason: order.send_back_reason,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct OrderQuery {
    region: Option<String>,
    /// open (default), overdue or all.
    filter: Option<String>,
}

pub(crate) fn parse_order_filter(text: Option<&str>) -> Result<OrderFilter, WebError> {
    match text.map(str::trim).unwrap_or("open") {
        "" | "open" => Ok(OrderFilter::Open),
        "overdue" => Ok(OrderFilter::Overdue),
        "all" => Ok(OrderFilter::All),
        _ => Err(WebError::refused(
            "filter",
            "expected open, overdue or all",
            "应为 open（未结）、overdue（逾期）或 all（全部）",
        )),
    }
}

/// The orders the caller reaches, most urgent first.
#[utoipa::path(get, path = "/orders", tag = "facilities", params(OrderQuery),
    responses((status = 200, body = Vec<OrderDto>)))]
async fn list_orders(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<OrderQuery>,
) -> Result<Json<Vec<OrderDto>>, WebError> {
    let filter = parse_order_filter(query.filter.as_deref())?;
    let now = muster_storage::now();
    let orders = state
        .db
        .orders(
            &current.actor,
            region_of(query.region.as_deref()),
            filter,
            now,
            500,
        )
        .await?;
    Ok(Json(
        orders.into_iter().map(|o| OrderDto::of(o, now)).collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderDetail {
    order: OrderDto,
    #[schema(value_type = Object)]
    history: serde_json::Value,
    /// Photos of repair reports sent back before the latest one, by hash.
    earlier_evidence: Vec<String>,
}

#[utoipa::path(get, path = "/orders/{id}", tag = "facilities", params(("id" = i64, Path)),
    responses((status = 200, body = OrderDetail), (status = 404, body = Problem)))]
async fn get_order(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<OrderDetail>, WebError> {
    let found = state.db.order(&current.actor, id).await?;
    Ok(Json(OrderDetail {
        order: OrderDto::of(found.order, muster_storage::now()),
        history: serde_json::to_value(found.events).unwrap_or_default(),
        earlier_evidence: found.earlier_evidence,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct OrderActionRequest {
    /// acknowledge | report_repair {note, evidence: [upload ids]} | verify | send_back {reason} | close.
    action: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    reason: String,
    /// Upload ids of the repair's photos.
    #[serde(default)]
    evidence: Vec<String>,
}

async fn order_action(
    state: &AppState,
    actor: &Actor,
    request: OrderActionRequest,
) -> Result<OrderAction, WebError> {
    Ok(match request.action.trim() {
        "acknowledge" => OrderAction::Acknowledge,
        "report_repair" => {
            let evidence = attachments_of(state, actor, &request.evidence, "evidence").await?;
            OrderAction::ReportRepair {
                note: request.note,
                evidence: evidence.into_iter().map(|a| a.sha256).collect(),
            }
        }
        "verify" => OrderAction::Verify,
        "send_back" => OrderAction::SendBack {
            reason: request.reason,
        },
        "close" => OrderAction::Close,
        _ => {
            return Err(WebError::refused(
                "action",
                "expected acknowledge, report_repair, verify, send_back or close",
                "应为 acknowledge（签收）、report_repair（报告整改完成）、verify（验收）、send_back（退回）或 close（关闭）",
            ));
        }
    })
}

/// Acts on an order: the property manager acknowledges and reports the repair; staff
/// verify, send back and close.
#[utoipa::path(post, path = "/orders/{id}/actions", tag = "facilities", params(("id" = i64, Path)),
    request_body = OrderActionRequest,
    responses((status = 200, body = OrderDto), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn act_on_order(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<OrderActionRequest>,
) -> Result<Json<OrderDto>, WebError> {
    csrf(&current, &headers)?;
    let action = order_action(&state, &current.actor, request).await?;
    let now = muster_storage::now();
    let order = state
        .db
        .act_on_order(&current.actor, id, &action, now)
        .await?;
    Ok(Json(OrderDto::of(order, now)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LinkRequest {
    /// Days the link works; default 30, at most 90.
    valid_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LinkReceipt {
    /// The page the property manager opens; shown once, only its hash is kept.
    path: String,
    expires_at: i64,
}

/// Issues a link through which a property manager without an account answers one order.
#[utoipa::path(post, path = "/orders/{id}/links", tag = "facilities", params(("id" = i64, Path)),
    request_body = LinkRequest, responses((status = 201, body = LinkReceipt), (status = 403, body = Problem)))]
async fn create_order_link(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<LinkRequest>,
) -> Result<(StatusCode, Json<LinkReceipt>), WebError> {
    csrf(&current, &headers)?;
    let days = request
        .valid_days
        .unwrap_or(muster_storage::DEFAULT_LINK_DAYS);
    let (token, expires) = state
        .db
        .create_order_link(&current.actor, id, days, muster_storage::now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkReceipt {
            path: format!("/orders/link/{token}"),
            expires_at: expires.as_millis(),
        }),
    ))
}

/// The order a link opens (no account needed; the link is the credential).
#[utoipa::path(get, path = "/order-links/{token}", tag = "facilities", params(("token" = String, Path)),
    responses((status = 200, body = OrderDetail), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_linked_order(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<OrderDetail>, WebError> {
    let now = muster_storage::now();
    let found = state.db.order_by_link(&token, now).await?;
    Ok(Json(OrderDetail {
        order: OrderDto::of(found.order, now),
        history: serde_json::to_value(found.events).unwrap_or_default(),
        earlier_evidence: found.earlier_evidence,
    }))
}

/// Acts on the order a link opens, as its property manager (acknowledge, report_repair with
/// a note; photos are sent through the link's page).
#[utoipa::path(post, path = "/order-links/{token}/actions", tag = "facilities", params(("token" = String, Path)),
    request_body = OrderActionRequest,
    responses((status = 200, body = OrderDto), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn act_by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(request): Json<OrderActionRequest>,
) -> Result<Json<OrderDto>, WebError> {
    let action = match request.action.trim() {
        "acknowledge" => OrderAction::Acknowledge,
        "report_repair" => OrderAction::ReportRepair {
            note: request.note,
            evidence: Vec::new(),
        },
        _ => {
            return Err(WebError::refused(
                "action",
                "expected acknowledge or report_repair",
                "应为 acknowledge（签收）或 report_repair（报告整改完成）",
            ));
        }
    };
    let now = muster_storage::now();
    let order = state.db.act_on_order_by_link(&token, &action, now).await?;
    Ok(Json(OrderDto::of(order, now)))
}

/// The dashboard of a subtree the caller reaches.
#[utoipa::path(get, path = "/facility-dashboard", tag = "facilities", params(RegionQuery),
    responses((status = 200, body = serde_json::Value), (status = 404, body = Problem)))]
async fn dashboard(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<RegionQuery>,
) -> Result<Json<muster_storage::FacilityDashboard>, WebError> {
    let region = region_of(query.region.as_deref());
    Ok(Json(
        state
            .db
            .facility_dashboard(&current.actor, region, muster_storage::now())
            .await?,
    ))
}

/// The facilities of a subtree with their status colour, for a map.
#[utoipa::path(get, path = "/facility-map", tag = "facilities", params(RegionQuery),
    responses((status = 200, body = serde_json::Value)))]
async fn map_points(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<RegionQuery>,
) -> Result<Json<Vec<muster_storage::MapPoint>>, WebError> {
    let region = region_of(query.region.as_deref());
    Ok(Json(
        state
            .db
            .facility_map_points(&current.actor, region, muster_storage::now(), 20_000)
            .await?,
    ))
}

#[utoipa::path(get, path = "/patrol-routes", tag = "facilities", responses((status = 200, body = serde_json::Value)))]
async fn list_routes(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Vec<muster_storage::PatrolRoute>>, WebError> {
    Ok(Json(state.db.routes(&current.actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewRouteRequest {
    region_code: String,
    grid_id: Option<i64>,
    #[schema(value_type = Object)]
    #[serde(flatten)]
    route: RouteDraft,
}

#[utoipa::path(post, path = "/patrol-routes", tag = "facilities", request_body = NewRouteRequest,
    responses((status = 201, body = serde_json::Value), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_route(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<NewRouteRequest>,
) -> Result<(StatusCode, Json<muster_storage::PatrolRoute>), WebError> {
    csrf(&current, &headers)?;
    let route = state
        .db
        .create_route(
            &current.actor,
            &request.region_code,
            request.grid_id,
            &request.route,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(route)))
}

/// One route of the caller's subtree, retired or not; its checkpoints' codes only for
/// those who set routes up.
#[utoipa::path(get, path = "/patrol-routes/{id}", tag = "facilities", params(("id" = i64, Path)),
    responses((status = 200, body = serde_json::Value), (status = 404, body = Problem)))]
async fn get_route(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<muster_storage::PatrolRoute>, WebError> {
    Ok(Json(state.db.route(&current.actor, id).await?))
}

/// Changes a route's name, window and checkpoints (its region and grid stay). Refused with
/// 409 while a run of it is under way or not checked yet, and once it is retired.
#[utoipa::path(patch, path = "/patrol-routes/{id}", tag = "facilities", params(("id" = i64, Path)),
    request_body = Object,
    responses((status = 200, body = serde_json::Value), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_route(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(route): Json<RouteDraft>,
) -> Result<Json<muster_storage::PatrolRoute>, WebError> {
    csrf(&current, &headers)?;
    Ok(Json(
        state.db.update_route(&current.actor, id, &route).await?,
    ))
}

/// Retires a route: no longer listed or walked; its runs stay on record, and one under way is
/// still checked when its window ends. Refused with 409 once retired.
#[utoipa::path(delete, path = "/patrol-routes/{id}", tag = "facilities", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn retire_route(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    csrf(&current, &headers)?;
    state.db.retire_route(&current.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CheckInRequest {
    /// The code on the checkpoint's plate, scanned or typed.
    code: String,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[utoipa::path(post, path = "/patrol-routes/{id}/check-ins", tag = "facilities", params(("id" = i64, Path)),
    request_body = CheckInRequest,
    responses((status = 201, body = serde_json::Value), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn check_in(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<CheckInRequest>,
) -> Result<(StatusCode, Json<muster_storage::CheckInOutcome>), WebError> {
    csrf(&current, &headers)?;
    let position = request.latitude.zip(request.longitude);
    let outcome = state
        .db
        .check_in(
            &current.actor,
            id,
            &request.code,
            position,
            muster_storage::now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

#[utoipa::path(get, path = "/campaigns", tag = "facilities", responses((status = 200, body = serde_json::Value)))]
async fn list_campaigns(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Vec<muster_storage::Campaign>>, WebError> {
    Ok(Json(state.db.campaigns(&current.actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewCampaignRequest {
    name: String,
    region_code: String,
    /// Only facilities of this kind; all kinds if absent.
    facility_kind: Option<String>,
    /// sign_installed or inspected.
    target: String,
    /// YYYY-MM-DD.
    start: String,
    /// YYYY-MM-DD.
    target_date: String,
}

#[utoipa::path(post, path = "/campaigns", tag = "facilities", request_body = NewCampaignRequest,
    responses((status = 201, body = serde_json::Value), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_campaign(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<NewCampaignRequest>,
) -> Result<(StatusCode, Json<muster_storage::Campaign>), WebError> {
    csrf(&current, &headers)?;
    let facility_kind = request
        .facility_kind
        .as_deref()
        .filter(|k| !k.trim().is_empty())
        .map(parse_kind)
        .transpose()?;
    let target = CampaignTarget::parse(&request.target).ok_or_else(|| {
        WebError::refused(
            "target",
            "expected sign_installed or inspected",
            "应为 sign_installed（设置标识）或 inspected（完成巡检）",
        )
    })?;
    let campaign = state
        .db
        .create_campaign(
            &current.actor,
            NewCampaign {
                name: request.name,
                region_code: request.region_code,
                facility_kind,
                target,
                start: parse_date("start", &request.start)?,
                target_date: parse_date("target_date", &request.target_date)?,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(campaign)))
}

/// A campaign's progress by region and its forecast completion date.
#[utoipa::path(get, path = "/campaigns/{id}", tag = "facilities", params(("id" = i64, Path)),
    responses((status = 200, body = serde_json::Value), (status = 404, body = Problem)))]
async fn campaign_progress(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<muster_storage::CampaignProgress>, WebError> {
    Ok(Json(
        state
            .db
            .campaign_progress(&current.actor, id, muster_storage::now())
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CampaignChangesRequest {
    name: String,
    /// YYYY-MM-DD, on or after the start.
    target_date: String,
}

/// Renames a campaign or moves its target date (office and workstation staff, for a campaign
/// of their own subtree). Its region, kind, target and start stay: another of those is
/// another campaign.
#[utoipa::path(patch, path = "/campaigns/{id}", tag = "facilities", params(("id" = i64, Path)),
    request_body = CampaignChangesRequest,
    responses((status = 200, body = serde_json::Value), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_campaign(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<CampaignChangesRequest>,
) -> Result<Json<muster_storage::Campaign>, WebError> {
    csrf(&current, &headers)?;
    let changes = muster_storage::CampaignChanges {
        name: request.name,
        target_date: parse_date("target_date", &request.target_date)?,
    };
    Ok(Json(
        state
            .db
            .update_campaign(&current.actor, id, changes)
            .await?,
    ))
}

/// Removes a campaign started by mistake (office and workstation staff, of their own
/// subtree); the facilities it followed are untouched.
#[utoipa::path(delete, path = "/campaigns/{id}", tag = "facilities", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn remove_campaign(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    csrf(&current, &headers)?;
    state.db.remove_campaign(&current.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reminders, escalations and patrol alerts for the caller.
#[utoipa::path(get, path = "/notifications", tag = "facilities", responses((status = 200, body = serde_json::Value)))]
async fn notifications(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Vec<muster_storage::Notification>>, WebError> {
    Ok(Json(state.db.notifications(&current.actor, 100).await?))
}
