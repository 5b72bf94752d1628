//! On-site verification in the JSON API: drawing samples (or previewing a draw), dealing them
//! to verifiers, a verifier's list and findings, and the accuracy, credibility, freshness and
//! stale-record figures. Reads are scoped by storage; writes check the CSRF header for
//! browser sessions.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use muster_domain::Actor;
use muster_domain::verification::{Accuracy, FreshnessCounts, RiskWeights, SampleSize, Tolerance};
use muster_storage::{
    BlobKind, FindingInput, FindingOutcome, RegionFigure, SampleMethod, SampleRequest,
    UnitCredibility, VerificationItem, VerificationSample,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{Problem, WebError};
use crate::facilities_api::attachments_of;
use crate::potential_api::RecordDto;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_samples, draw_sample))
        .routes(routes!(preview_sample))
        .routes(routes!(get_sample))
        .routes(routes!(assign_sample))
        .routes(routes!(my_items))
        .routes(routes!(record_finding))
        .routes(routes!(get_accuracy))
        .routes(routes!(get_credibility))
        .routes(routes!(get_freshness))
        .routes(routes!(get_stale_records))
        .routes(routes!(get_settings, put_settings))
}

fn check_write(current: &CurrentUser, headers: &HeaderMap) -> Result<(), WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
}

// ------------------------------------------------------------------ wire types

/// How to draw a sample. `method` is `stratified` (give `count` per county or `percent` of
/// each county) or `risk` (give `total`, and optionally the four weights).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub(crate) struct SampleRequestDto {
    /// The region whose subtree is sampled; the caller's own region when absent.
    pub(crate) region: Option<String>,
    pub(crate) round_id: Option<i64>,
    pub(crate) method: String,
    pub(crate) count: Option<u32>,
    pub(crate) percent: Option<f64>,
    pub(crate) total: Option<u32>,
    pub(crate) weight_peer_deviation: Option<f64>,
    pub(crate) weight_year_change: Option<f64>,
    pub(crate) weight_staleness: Option<f64>,
    pub(crate) weight_unit_unreliability: Option<f64>,
    /// A seed from 0 to 2^63 − 1; a fresh one when absent. The same seed over the same
    /// records draws the same sample.
    pub(crate) seed: Option<u64>,
    /// The relative error still counted accurate (default 0.05).
    pub(crate) tolerance: Option<f64>,
    /// The relative error beyond which the record is reopened (default 0.20).
    pub(crate) reopen_above: Option<f64>,
}

impl SampleRequestDto {
    /// Parses into the storage request, naming the field that does not fit.
    pub(crate) fn parse(&self) -> Result<SampleRequest, WebError> {
        let defaults = Tolerance::default();
        let tolerance = Tolerance::new(
            self.tolerance.unwrap_or(defaults.relative()),
            self.reopen_above.unwrap_or(defaults.reopen_above()),
        )
        .map_err(|e| WebError::refused("tolerance", e.to_string(), e.zh()))?;
        let method = match self.method.trim() {
            "stratified" | "" => SampleMethod::Stratified(match (self.count, self.percent) {
                (Some(count), None) => SampleSize::Count(count),
                (None, Some(percent)) => {
                    if !(0.0..=100.0).contains(&percent) {
                        return Err(WebError::refused(
                            "percent",
                            "a percentage is a number from 0 to 100",
                            "比例应为 0 到 100 之间的数",
                        ));
                    }
                    SampleSize::Percent(percent)
                }
                _ => {
                    return Err(WebError::refused(
                        "count",
                        "give either a count per county or a percentage",
                        "请填写每县抽取的条数或抽样比例，二者选一",
                    ));
                }
            }),
            "risk" => {
                let defaults = RiskWeights::default();
                let weights = RiskWeights::new(
                    self.weight_peer_deviation
                        .unwrap_or(defaults.peer_deviation()),
                    self.weight_year_change.unwrap_or(defaults.year_change()),
                    self.weight_staleness.unwrap_or(defaults.staleness()),
                    self.weight_unit_unreliability
                        .unwrap_or(defaults.unit_unreliability()),
                )
                .map_err(|e| WebError::refused("weights", e.to_string(), e.zh()))?;
                let total = self.total.filter(|t| *t > 0).ok_or_else(|| {
                    WebError::refused(
                        "total",
                        "give how many records to draw",
                        "请填写要抽取的记录条数",
                    )
                })?;
                SampleMethod::RiskBased { total, weights }
            }
            _ => {
                return Err(WebError::refused(
                    "method",
                    "expected stratified or risk",
                    "抽样方法应为分层随机抽样或按风险抽样",
                ));
            }
        };
        if self.seed.is_some_and(|s| i64::try_from(s).is_err()) {
            return Err(WebError::refused(
                "seed",
                "a seed is at most 9223372036854775807",
                "随机种子最大为 9223372036854775807",
            ));
        }
        Ok(SampleRequest {
            region_code: self
                .region
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            round_id: self.round_id,
            method,
            seed: self.seed,
            tolerance,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SampleDto {
    id: i64,
    round_id: Option<i64>,
    region_code: Option<String>,
    region_path: String,
    /// stratified or risk.
    method: String,
    seed: i64,
    /// Everything else the draw depended on: count/percent/total, weights, tolerance,
    /// reopen_above, stale_after_days, drawn_at, candidates, and each drawn record's risk
    /// score and reasons.
    #[schema(value_type = Object)]
    parameters: serde_json::Value,
    created_by: Option<i64>,
    created_at: i64,
    item_count: i64,
    found_count: i64,
}

impl From<VerificationSample> for SampleDto {
    fn from(s: VerificationSample) -> Self {
        Self {
            parameters: serde_json::from_str(&s.parameters).unwrap_or(serde_json::Value::Null),
            id: s.id,
            round_id: s.round_id,
            region_code: s.region_code,
            region_path: s.region_path,
            method: s.method,
            seed: s.seed,
            created_by: s.created_by,
            created_at: s.created_at,
            item_count: s.item_count,
            found_count: s.found_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ItemDto {
    sample_id: i64,
    record_id: i64,
    region_code: String,
    region_name: Option<String>,
    region_path: String,
    type_code: String,
    holder_name: String,
    site_name: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    reporting_organization_id: Option<i64>,
    verifier_user_id: Option<i64>,
    verifier_username: Option<String>,
    /// drawn, assigned or found.
    status: String,
    reported_quantity: f64,
    current_quantity: f64,
    record_reopened: bool,
    quantity_seen: Option<f64>,
    location_right: Option<bool>,
    type_right: Option<bool>,
    notes: Option<String>,
    /// The SHA-256 of each photo, fetched with `GET /api/v1/files/{sha256}` (findings
    /// recorded before photos were stored hold file names or URLs).
    photos: Vec<String>,
    accurate: Option<bool>,
    relative_error: Option<f64>,
    found_at: Option<i64>,
}

impl From<VerificationItem> for ItemDto {
    fn from(i: VerificationItem) -> Self {
        Self {
            photos: i.photo_list(),
            sample_id: i.sample_id,
            record_id: i.record_id,
            region_code: i.region_code,
            region_name: i.region_name,
            region_path: i.region_path,
            type_code: i.type_code,
            holder_name: i.holder_name,
            site_name: i.site_name,
            lat: i.lat,
            lon: i.lon,
            reporting_organization_id: i.reporting_organization_id,
            verifier_user_id: i.verifier_user_id,
            verifier_username: i.verifier_username,
            status: i.status,
            reported_quantity: i.reported_quantity,
            current_quantity: i.current_quantity,
            record_reopened: i.reopened != 0,
            quantity_seen: i.quantity_seen,
            location_right: i.location_right.map(|v| v != 0),
            type_right: i.type_right.map(|v| v != 0),
            notes: i.notes,
            accurate: i.accurate.map(|v| v != 0),
            relative_error: i.relative_error,
            found_at: i.found_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SampleDetailDto {
    sample: SampleDto,
    items: Vec<ItemDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PreviewDto {
    seed: u64,
    candidates: usize,
    region_path: String,
    record_ids: Vec<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AssignDto {
    /// User ids of the verifiers; each must work in a region that contains the sample's.
    verifiers: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AssignedDto {
    assigned: usize,
}

/// Unknown fields are refused, so a client still sending the old `photos` (file names) hears
/// of it instead of losing them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindingDto {
    quantity_seen: f64,
    location_right: bool,
    type_right: bool,
    #[serde(default)]
    notes: String,
    /// The ids of the verifier's own finished uploads (`/api/v1/uploads`), photos only.
    #[serde(default)]
    photo_uploads: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FindingOutcomeDto {
    accurate: bool,
    relative_error: f64,
    reopened: bool,
    corrected_from: Option<f64>,
    corrected_to: Option<f64>,
}

impl From<FindingOutcome> for FindingOutcomeDto {
    fn from(o: FindingOutcome) -> Self {
        Self {
            accurate: o.accurate,
            relative_error: o.relative_error,
            reopened: o.reopened,
            corrected_from: o.corrected.map(|c| c.0),
            corrected_to: o.corrected.map(|c| c.1),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccuracyDto {
    region_code: Option<String>,
    region_name: Option<String>,
    region_path: String,
    checked: u32,
    accurate: u32,
    /// accurate / checked, 0 to 1 (0 when nothing was checked).
    rate: f64,
}

impl From<&RegionFigure<Accuracy>> for AccuracyDto {
    fn from(f: &RegionFigure<Accuracy>) -> Self {
        Self {
            region_code: f.region_code.clone(),
            region_name: f.region_name.clone(),
            region_path: f.region_path.clone(),
            checked: f.figure.checked,
            accurate: f.figure.accurate,
            rate: f.figure.rate,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccuracyViewDto {
    total: AccuracyDto,
    children: Vec<AccuracyDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CredibilityDto {
    organization_id: Option<i64>,
    organization_name: Option<String>,
    checked: u32,
    accurate: u32,
    mean_relative_error: f64,
    /// 0 to 1; 0.5 for a unit never checked (Laplace's rule of succession).
    credibility: f64,
}

impl From<UnitCredibility> for CredibilityDto {
    fn from(u: UnitCredibility) -> Self {
        Self {
            organization_id: u.organization_id,
            organization_name: u.organization_name,
            checked: u.checked,
            accurate: u.accurate,
            mean_relative_error: u.mean_relative_error,
            credibility: u.credibility,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FreshnessDto {
    region_code: Option<String>,
    region_name: Option<String>,
    region_path: String,
    fresh: u32,
    stale: u32,
    never_verified: u32,
    /// fresh / all records, 0 to 1.
    share_fresh: f64,
}

impl From<&RegionFigure<FreshnessCounts>> for FreshnessDto {
    fn from(f: &RegionFigure<FreshnessCounts>) -> Self {
        Self {
            region_code: f.region_code.clone(),
            region_name: f.region_name.clone(),
            region_path: f.region_path.clone(),
            fresh: f.figure.fresh,
            stale: f.figure.stale,
            never_verified: f.figure.never_verified,
            share_fresh: f.figure.share_fresh,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FreshnessViewDto {
    stale_after_days: u32,
    total: FreshnessDto,
    children: Vec<FreshnessDto>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SettingsDto {
    /// A record not verified for longer than this is stale (1 to 3650 days).
    stale_after_days: u32,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct RegionQuery {
    /// A region in the caller's scope; the caller's own region when absent.
    region: Option<String>,
    /// Only this sample's findings (accuracy).
    sample: Option<i64>,
    /// The stale period for this read, instead of the setting (freshness, stale records).
    stale_after_days: Option<u32>,
    /// Stale records: the `last_verified_at` (or -1 for never) and id of the last record of
    /// the previous page.
    after_verified: Option<i64>,
    after_id: Option<i64>,
    limit: Option<i64>,
}

fn region_of(query: &RegionQuery) -> Option<&str> {
    query
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
}

// ------------------------------------------------------------------ handlers

/// The samples drawn in the caller's subtree, newest first.
#[utoipa::path(get, path = "/verification/samples", tag = "verification",
    responses((status = 200, body = Vec<SampleDto>)))]
async fn list_samples(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Vec<SampleDto>>, WebError> {
    let samples = state
        .db
        .verification_samples(current.actor.scope(), 200)
        .await?;
    Ok(Json(samples.into_iter().map(SampleDto::from).collect()))
}

/// Draws a sample and stores it with its seed (office staff and administrators).
#[utoipa::path(post, path = "/verification/samples", tag = "verification",
    request_body = SampleRequestDto,
    responses((status = 201, body = SampleDto), (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn draw_sample(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<SampleRequestDto>,
) -> Result<(StatusCode, Json<SampleDto>), WebError> {
    check_write(&current, &headers)?;
    let request = request.parse()?;
    let sample = state.db.draw_sample(&current.actor, &request).await?;
    Ok((StatusCode::CREATED, Json(sample.into())))
}

/// What a draw would give now, storing nothing.
#[utoipa::path(post, path = "/verification/samples/preview", tag = "verification",
    request_body = SampleRequestDto,
    responses((status = 200, body = PreviewDto), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn preview_sample(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<SampleRequestDto>,
) -> Result<Json<PreviewDto>, WebError> {
    check_write(&current, &headers)?;
    let request = request.parse()?;
    let preview = state.db.preview_sample(&current.actor, &request).await?;
    Ok(Json(PreviewDto {
        seed: preview.seed,
        candidates: preview.candidates,
        region_path: preview.region_path,
        record_ids: preview.record_ids,
    }))
}

#[utoipa::path(get, path = "/verification/samples/{id}", tag = "verification", params(("id" = i64, Path)),
    responses((status = 200, body = SampleDetailDto), (status = 404, body = Problem)))]
async fn get_sample(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<SampleDetailDto>, WebError> {
    let scope = current.actor.scope();
    let sample = state.db.verification_sample(scope, id).await?;
    let items = state.db.verification_items(scope, id).await?;
    Ok(Json(SampleDetailDto {
        sample: sample.into(),
        items: items.into_iter().map(ItemDto::from).collect(),
    }))
}

/// Deals the sample's open items to the verifiers, balanced.
#[utoipa::path(post, path = "/verification/samples/{id}/assign", tag = "verification", params(("id" = i64, Path)),
    request_body = AssignDto,
    responses((status = 200, body = AssignedDto), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn assign_sample(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(assign): Json<AssignDto>,
) -> Result<Json<AssignedDto>, WebError> {
    check_write(&current, &headers)?;
    let assigned = state
        .db
        .assign_sample(&current.actor, id, &assign.verifiers)
        .await?;
    Ok(Json(AssignedDto { assigned }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct MineQuery {
    /// Also the items already found.
    all: Option<bool>,
}

/// The items dealt to the caller, open ones first.
#[utoipa::path(get, path = "/verification/mine", tag = "verification", params(MineQuery),
    responses((status = 200, body = Vec<ItemDto>)))]
async fn my_items(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<MineQuery>,
) -> Result<Json<Vec<ItemDto>>, WebError> {
    let items = state
        .db
        .my_verification_items(&current.actor, query.all.unwrap_or(false))
        .await?;
    Ok(Json(items.into_iter().map(ItemDto::from).collect()))
}

/// Records what the assigned verifier found and applies it to the record: verified,
/// corrected beyond the tolerance, reopened beyond the threshold; totals and audit follow.
#[utoipa::path(post, path = "/verification/samples/{id}/items/{record_id}/finding", tag = "verification",
    params(("id" = i64, Path), ("record_id" = i64, Path)),
    request_body = FindingDto,
    responses((status = 200, body = FindingOutcomeDto), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn record_finding(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path((id, record_id)): Path<(i64, i64)>,
    Json(finding): Json<FindingDto>,
) -> Result<Json<FindingOutcomeDto>, WebError> {
    check_write(&current, &headers)?;
    let photos = photos_of(&state, &current.actor, &finding.photo_uploads).await?;
    let outcome = state
        .db
        .record_finding(
            &current.actor,
            id,
            record_id,
            FindingInput {
                quantity_seen: finding.quantity_seen,
                location_right: finding.location_right,
                type_right: finding.type_right,
                notes: finding.notes,
                photos,
            },
        )
        .await?;
    Ok(Json(outcome.into()))
}

/// The SHA-256 of the caller's finished uploads, each a photo.
pub(crate) async fn photos_of(
    state: &AppState,
    actor: &Actor,
    upload_ids: &[String],
) -> Result<Vec<String>, WebError> {
    let attachments = attachments_of(state, actor, upload_ids, "photo_uploads").await?;
    attachments
        .into_iter()
        .enumerate()
        .map(|(index, a)| {
            if a.media_kind == BlobKind::Image.as_str() {
                Ok(a.sha256)
            } else {
                Err(WebError::refused(
                    &format!("photo_uploads[{index}]"),
                    "expected a photo, not a video",
                    "应为照片，不能是视频",
                ))
            }
        })
        .collect()
}

/// Accuracy of the checked records in a subtree and each child region (of one sample with
/// `sample`).
#[utoipa::path(get, path = "/verification/accuracy", tag = "verification", params(RegionQuery),
    responses((status = 200, body = AccuracyViewDto), (status = 404, body = Problem)))]
async fn get_accuracy(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<RegionQuery>,
) -> Result<Json<AccuracyViewDto>, WebError> {
    let view = state
        .db
        .verification_accuracy(current.actor.scope(), region_of(&query), query.sample)
        .await?;
    Ok(Json(AccuracyViewDto {
        total: (&view.total).into(),
        children: view.children.iter().map(AccuracyDto::from).collect(),
    }))
}

/// Each reporting unit's credibility from the checks of its records, least credible first.
#[utoipa::path(get, path = "/verification/credibility", tag = "verification", params(RegionQuery),
    responses((status = 200, body = Vec<CredibilityDto>), (status = 404, body = Problem)))]
async fn get_credibility(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<RegionQuery>,
) -> Result<Json<Vec<CredibilityDto>>, WebError> {
    let units = state
        .db
        .unit_credibility(current.actor.scope(), region_of(&query))
        .await?;
    Ok(Json(units.into_iter().map(CredibilityDto::from).collect()))
}

/// Fresh, stale and never-verified records in a subtree and each child region.
#[utoipa::path(get, path = "/verification/freshness", tag = "verification", params(RegionQuery),
    responses((status = 200, body = FreshnessViewDto), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn get_freshness(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<RegionQuery>,
) -> Result<Json<FreshnessViewDto>, WebError> {
    let view = state
        .db
        .verification_freshness(
            current.actor.scope(),
            region_of(&query),
            query.stale_after_days,
        )
        .await?;
    Ok(Json(FreshnessViewDto {
        stale_after_days: view.stale_after_days,
        total: (&view.total).into(),
        children: view.children.iter().map(FreshnessDto::from).collect(),
    }))
}

/// Records not verified within the stale period, never verified first, then the oldest.
#[utoipa::path(get, path = "/verification/stale", tag = "verification", params(RegionQuery),
    responses((status = 200, body = Vec<RecordDto>), (status = 404, body = Problem)))]
async fn get_stale_records(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<RegionQuery>,
) -> Result<Json<Vec<RecordDto>>, WebError> {
    let after = query.after_verified.zip(query.after_id);
    let records = state
        .db
        .stale_records(
            current.actor.scope(),
            region_of(&query),
            query.stale_after_days,
            after,
            query.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    Ok(Json(records.into_iter().map(RecordDto::from).collect()))
}

#[utoipa::path(get, path = "/verification/settings", tag = "verification",
    responses((status = 200, body = SettingsDto)))]
async fn get_settings(
    State(state): State<AppState>,
    _current: CurrentUser,
) -> Result<Json<SettingsDto>, WebError> {
    Ok(Json(SettingsDto {
        stale_after_days: state.db.stale_after_days().await?,
    }))
}

/// Sets the stale period (administrators).
#[utoipa::path(put, path = "/verification/settings", tag = "verification",
    request_body = SettingsDto,
    responses((status = 200, body = SettingsDto), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_settings(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(settings): Json<SettingsDto>,
) -> Result<Json<SettingsDto>, WebError> {
    check_write(&current, &headers)?;
    state
        .db
        .set_stale_after_days(&current.actor, settings.stale_after_days)
        .await?;
    Ok(Json(settings))
}
