//! Demands in the JSON API (`/api/v1/demands…`): stating a demand, its task meetings, the
//! proposed allocation with its explanations, accepting it (which reserves the holdings
//! atomically; a holding taken first by another accept is 409), escalation of a shortfall,
//! on-site inspections, signed handovers, cancellation and closing. Reads are scoped and
//! clearance-checked in storage; writes take the CSRF header for browser sessions.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use muster_domain::Side;
use muster_domain::demand::{
    Attendee, ClassificationLevel, DemandOrigin, DemandStatus, NewDemandLine, NewTaskMeeting,
};
use muster_domain::time::Timestamp;
use muster_storage::{
    AcceptedAssignment, AllocationProposal, ContentHash, DemandFilter, DemandInput, DemandSummary,
    DemandView, HandoverInput, HandoverItemInput, InspectionCondition, InspectionInput,
    ProposedAlternative,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{Problem, WebError};
use crate::verification_api::photos_of;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_demands, create_demand))
        .routes(routes!(get_demand))
        .routes(routes!(record_meeting))
        .routes(routes!(analyse_demand))
        .routes(routes!(get_proposal))
        .routes(routes!(accept_allocation))
        .routes(routes!(escalate_shortfall))
        .routes(routes!(record_inspection))
        .routes(routes!(record_handover))
        .routes(routes!(cancel_demand))
        .routes(routes!(close_demand))
}

fn check_write(current: &CurrentUser, headers: &HeaderMap) -> Result<(), WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
}

pub(crate) fn parse_origin(text: &str) -> Result<DemandOrigin, WebError> {
    DemandOrigin::parse(text).ok_or_else(|| {
        WebError::refused(
            "origin",
            "expected military or civil_emergency",
            "应为军事需求（military）或应急需求（civil_emergency）",
        )
    })
}

pub(crate) fn parse_classification(text: &str) -> Result<ClassificationLevel, WebError> {
    ClassificationLevel::parse(text).ok_or_else(|| {
        WebError::refused(
            "classification",
            "expected public, internal, confidential or secret",
            "应为公开（public）、内部（internal）、秘密（confidential）或机密（secret）",
        )
    })
}

pub(crate) fn parse_condition(text: &str) -> Result<InspectionCondition, WebError> {
    InspectionCondition::parse(text).ok_or_else(|| {
        WebError::refused(
            "condition",
            "expected good, fair or unfit",
            "应为良好（good）、基本可用（fair）或不可用（unfit）",
        )
    })
}

/// The reason for closing a demand short, if one was given: blank means a normal close.
pub(crate) fn shortfall_reason(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|r| !r.is_empty())
}

/// Checks that every photo names a blob the attachment store holds.
pub(crate) async fn check_photos(state: &AppState, photos: &[String]) -> Result<(), WebError> {
    for (index, photo) in photos.iter().enumerate() {
        let field = format!("photos[{index}]");
        let hash = ContentHash::parse(photo.trim()).map_err(|_| {
            WebError::refused(
                &field,
                "expected the SHA-256 of an uploaded photo",
                "应为已上传照片的 SHA-256",
            )
        })?;
        let stored = state.blobs.contains(&hash).await.unwrap_or(false);
        if !stored {
            return Err(WebError::refused(
                &field,
                "no uploaded file has this SHA-256; upload the photo first (POST /api/v1/uploads)",
                "没有已上传的文件具有此 SHA-256；请先上传照片（POST /api/v1/uploads）",
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DemandSummaryDto {
    id: i64,
    title: String,
    /// military or civil_emergency.
    origin: String,
    /// public, internal, confidential or secret.
    classification: String,
    region_code: String,
    region_name: String,
    /// received, analysed, allocated, inspected, handed_over, closed or cancelled.
    status: String,
    /// How it ended, once it has (fulfilled, closed_with_shortfall, cancelled).
    #[schema(value_type = Option<Object>)]
    ending: Option<serde_json::Value>,
    /// The demand whose shortfall this one carries up, if escalated.
    escalated_from_demand_id: Option<i64>,
    received_at: i64,
    created_by: String,
    line_count: i64,
    updated_at: i64,
}

impl From<DemandSummary> for DemandSummaryDto {
    fn from(d: DemandSummary) -> Self {
        Self {
            id: d.id,
            title: d.title,
            origin: d.origin,
            classification: d.classification,
            region_code: d.region_code,
            region_name: d.region_name,
            status: d.status,
            ending: d.ending.and_then(|e| serde_json::from_str(&e).ok()),
            escalated_from_demand_id: d.escalated_from_demand_id,
            received_at: d.received_at,
            created_by: d.created_by_name,
            line_count: d.line_count,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DemandLineDto {
    id: i64,
    /// 1-based, as people number lines.
    line: i64,
    type_code: String,
    quantity: i64,
    lat: f64,
    lon: f64,
    needed_by: i64,
    /// 1 (most urgent) to 5.
    priority: i64,
    allocated: i64,
    inspected: i64,
    handed_over: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttendeeDto {
    name: String,
    organization: String,
    /// civil or military.
    side: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeetingDto {
    id: i64,
    held_at: i64,
    attendees: Vec<AttendeeDto>,
    decisions: Vec<String>,
    recorded_by: String,
    recorded_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AllocationDto {
    id: i64,
    line_id: i64,
    line: i64,
    record_id: i64,
    type_code: String,
    quantity: i64,
    inspected: i64,
    released: i64,
    handed_over: i64,
    great_circle_km: f64,
    travel_hours: f64,
    unit_cost_cents: i64,
    region_code: String,
    region_name: String,
    /// Masked for a person unless the caller may read personal data.
    holder_name: String,
    site_name: Option<String>,
    accepted_at: i64,
    accepted_by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InspectionDto {
    id: i64,
    allocation_id: i64,
    /// good, fair or unfit.
    condition: String,
    quantity_seen: i64,
    quantity_accepted: i64,
    /// SHA-256 of each photo in the attachment store.
    photos: Vec<String>,
    notes: String,
    inspector: String,
    inspected_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HandoverItemDto {
    allocation_id: i64,
    quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HandoverDto {
    id: i64,
    handed_at: i64,
    supplier_signatory: String,
    supplier_signed_at: i64,
    receiver_signatory: String,
    receiver_signed_at: i64,
    notes: String,
    recorded_by: String,
    items: Vec<HandoverItemDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DemandDto {
    #[serde(flatten)]
    demand: DemandSummaryDto,
    lines: Vec<DemandLineDto>,
    meetings: Vec<MeetingDto>,
    allocations: Vec<AllocationDto>,
    inspections: Vec<InspectionDto>,
    handovers: Vec<HandoverDto>,
}

impl From<DemandView> for DemandDto {
    fn from(v: DemandView) -> Self {
        Self {
            demand: v.demand.into(),
            lines: v
                .lines
                .into_iter()
                .map(|l| DemandLineDto {
                    id: l.id,
                    line: l.line_no + 1,
                    type_code: l.type_code,
                    quantity: l.quantity,
                    lat: l.lat,
                    lon: l.lon,
                    needed_by: l.needed_by,
                    priority: l.priority,
                    allocated: l.allocated,
                    inspected: l.inspected,
                    handed_over: l.handed_over,
                })
                .collect(),
            meetings: v
                .meetings
                .into_iter()
                .map(|m| MeetingDto {
                    id: m.id,
                    held_at: m.held_at,
                    attendees: m
                        .attendees
                        .into_iter()
                        .map(|a| AttendeeDto {
                            name: a.name,
                            organization: a.organization,
                            side: a.side.as_str().to_owned(),
                        })
                        .collect(),
                    decisions: m.decisions,
                    recorded_by: m.recorded_by_name,
                    recorded_at: m.recorded_at,
                })
                .collect(),
            allocations: v
                .allocations
                .into_iter()
                .map(|a| AllocationDto {
                    id: a.id,
                    line_id: a.line_id,
                    line: a.line_no + 1,
                    record_id: a.record_id,
                    type_code: a.type_code,
                    quantity: a.quantity,
                    inspected: a.inspected,
                    released: a.released,
                    handed_over: a.handed_over,
                    great_circle_km: a.great_circle_km,
                    travel_hours: a.travel_hours,
                    unit_cost_cents: a.unit_cost_cents,
                    region_code: a.region_code,
                    region_name: a.region_name,
                    holder_name: a.holder_name,
                    site_name: a.site_name,
                    accepted_at: a.accepted_at,
                    accepted_by: a.accepted_by_name,
                })
                .collect(),
            inspections: v
                .inspections
                .into_iter()
                .map(|i| InspectionDto {
                    id: i.id,
                    allocation_id: i.allocation_id,
                    condition: i.condition,
                    quantity_seen: i.quantity_seen,
                    quantity_accepted: i.quantity_accepted,
                    photos: i.photos,
                    notes: i.notes,
                    inspector: i.inspector_name,
                    inspected_at: i.inspected_at,
                })
                .collect(),
            handovers: v
                .handovers
                .into_iter()
                .map(|h| HandoverDto {
                    id: h.id,
                    handed_at: h.handed_at,
                    supplier_signatory: h.supplier_signatory,
                    supplier_signed_at: h.supplier_signed_at,
                    receiver_signatory: h.receiver_signatory,
                    receiver_signed_at: h.receiver_signed_at,
                    notes: h.notes,
                    recorded_by: h.recorded_by_name,
                    items: h
                        .items
                        .into_iter()
                        .map(|(allocation_id, quantity)| HandoverItemDto {
                            allocation_id,
                            quantity,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlternativeDto {
    record_id: i64,
    region_name: String,
    great_circle_km: f64,
    travel_hours: f64,
    unit_cost_cents: i64,
    /// costlier (stock left, but dearer), used_up (taken by other lines) or too_late.
    reason: String,
    extra_cost_per_unit_cents: Option<i64>,
    /// What forcing one unit of it in would add to the total.
    reduced_cost_cents: Option<i64>,
    /// For used_up: the lines (1-based) that took its stock.
    taken_by_lines: Vec<i64>,
    by_higher_priority: bool,
}

impl From<ProposedAlternative> for AlternativeDto {
    fn from(a: ProposedAlternative) -> Self {
        Self {
            record_id: a.record_id,
            region_name: a.region_name,
            great_circle_km: a.great_circle_km,
            travel_hours: a.travel_hours,
            unit_cost_cents: a.unit_cost_cents,
            reason: a.reason,
            extra_cost_per_unit_cents: a.extra_cost_per_unit_cents,
            reduced_cost_cents: a.reduced_cost_cents,
            taken_by_lines: a.taken_by_lines,
            by_higher_priority: a.by_higher_priority,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProposedAssignmentDto {
    line_id: i64,
    line: i64,
    record_id: i64,
    quantity: i64,
    /// What the holding offers (quantity − reserved).
    available: i64,
    region_code: String,
    region_name: String,
    holder_name: String,
    site_name: Option<String>,
    great_circle_km: f64,
    road_km: f64,
    travel_hours: f64,
    unit_cost_cents: i64,
    cost_cents: i64,
    needed_within_hours: f64,
    /// How much earlier than needed the units arrive.
    slack_hours: f64,
    alternatives: Vec<AlternativeDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EscalationSourceDto {
    type_code: String,
    available: i64,
    great_circle_km: f64,
    travel_hours: f64,
    arrives_in_time: bool,
    region_code: String,
    region_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProposedLineDto {
    line_id: i64,
    line: i64,
    type_code: String,
    priority: i64,
    /// Not yet allocated: what the proposal tried to serve.
    open: i64,
    served: i64,
    shortfall: i64,
    /// Nearest sources outside the region, by region only (no holder).
    escalation_sources: Vec<EscalationSourceDto>,
    too_late: Vec<AlternativeDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProposalDto {
    demand_id: i64,
    assignments: Vec<ProposedAssignmentDto>,
    lines: Vec<ProposedLineDto>,
    transport_cost_cents: i64,
    holdings_considered: usize,
    solve_seconds: f64,
}

impl ProposalDto {
    fn new(demand_id: i64, p: AllocationProposal) -> Self {
        Self {
            demand_id,
            transport_cost_cents: p.transport_cost_cents,
            holdings_considered: p.holdings_considered,
            solve_seconds: p.timings.solve_seconds,
            assignments: p
                .assignments
                .into_iter()
                .map(|a| ProposedAssignmentDto {
                    line_id: a.line_id,
                    line: a.line_no + 1,
                    record_id: a.holding.record_id,
                    quantity: a.quantity,
                    available: a.holding.available,
                    region_code: a.holding.region_code,
                    region_name: a.holding.region_name,
                    holder_name: a.holding.holder_name,
                    site_name: a.holding.site_name,
                    great_circle_km: a.great_circle_km,
                    road_km: a.road_km,
                    travel_hours: a.travel_hours,
                    unit_cost_cents: a.unit_cost_cents,
                    cost_cents: a.cost_cents,
                    needed_within_hours: a.needed_within_hours,
                    slack_hours: a.slack_hours,
                    alternatives: a.alternatives.into_iter().map(Into::into).collect(),
                })
                .collect(),
            lines: p
                .lines
                .into_iter()
                .map(|l| ProposedLineDto {
                    line_id: l.line_id,
                    line: l.line_no + 1,
                    type_code: l.type_code,
                    priority: l.priority,
                    open: l.open,
                    served: l.served,
                    shortfall: l.shortfall,
                    escalation_sources: l
                        .escalation_sources
                        .into_iter()
                        .map(|s| EscalationSourceDto {
                            type_code: s.type_code,
                            available: s.available,
                            great_circle_km: s.great_circle_km,
                            travel_hours: s.travel_hours,
                            arrives_in_time: s.arrives_in_time,
                            region_code: s.region_code,
                            region_name: s.region_name,
                        })
                        .collect(),
                    too_late: l.too_late.into_iter().map(Into::into).collect(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct DemandQuery {
    /// Only demands in this status.
    status: Option<String>,
    /// Keyset pagination, newest first: the last id of the previous page.
    after: Option<i64>,
    /// At most 500; default 100.
    limit: Option<i64>,
}

/// The demands the caller may see (its subtree, up to its clearance), newest first.
#[utoipa::path(get, path = "/demands", tag = "demands", params(DemandQuery),
    responses((status = 200, body = Vec<DemandSummaryDto>), (status = 400, body = Problem)))]
async fn list_demands(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<DemandQuery>,
) -> Result<Json<Vec<DemandSummaryDto>>, WebError> {
    let status = match query.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(DemandStatus::parse(text).ok_or_else(|| {
            WebError::refused(
                "status",
                "expected a demand status such as analysed",
                "应为需求状态，如 analysed（已分析）",
            )
        })?),
    };
    let demands = state
        .db
        .demands(
            current.actor.scope(),
            &DemandFilter {
                status,
                limit: query.limit.unwrap_or(100),
                after_id: query.after.unwrap_or(0),
            },
        )
        .await?;
    Ok(Json(demands.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct DemandLineRequest {
    type_code: String,
    quantity: i64,
    lat: f64,
    lon: f64,
    /// Epoch milliseconds; must lie in the future.
    needed_by: i64,
    /// 1 (most urgent) to 5.
    priority: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewDemandRequest {
    title: String,
    /// military or civil_emergency.
    origin: String,
    /// public, internal, confidential or secret; at most the caller's clearance.
    classification: String,
    /// The region of the office the demand is addressed to, in the caller's subtree.
    region_code: String,
    lines: Vec<DemandLineRequest>,
}

/// States a demand (military liaisons, office staff, administrators).
#[utoipa::path(post, path = "/demands", tag = "demands", request_body = NewDemandRequest,
    responses((status = 201, body = DemandDto), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
async fn create_demand(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<NewDemandRequest>,
) -> Result<(StatusCode, Json<DemandDto>), WebError> {
    check_write(&current, &headers)?;
    let input = DemandInput {
        title: request.title,
        origin: parse_origin(&request.origin)?,
        classification: parse_classification(&request.classification)?,
        region_code: request.region_code,
        lines: request
            .lines
            .into_iter()
            .map(|l| NewDemandLine {
                type_code: l.type_code,
                quantity: l.quantity,
                lat: l.lat,
                lon: l.lon,
                needed_by: Timestamp::from_millis(l.needed_by),
                priority: l.priority,
            })
            .collect(),
    };
    let view = state.db.create_demand(&current.actor, input).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// One demand with its lines, meetings, allocations, inspections and handovers.
#[utoipa::path(get, path = "/demands/{id}", tag = "demands", params(("id" = i64, Path)),
    responses((status = 200, body = DemandDto), (status = 404, body = Problem)))]
async fn get_demand(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<DemandDto>, WebError> {
    Ok(Json(
        state.db.demand(current.actor.scope(), id).await?.into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AttendeeRequest {
    name: String,
    organization: String,
    /// civil or military.
    side: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct MeetingRequest {
    /// Epoch milliseconds, between the demand's arrival and now.
    held_at: i64,
    attendees: Vec<AttendeeRequest>,
    decisions: Vec<String>,
}

/// Records the task meeting about a demand; a demand still `received` is analysed by it.
#[utoipa::path(post, path = "/demands/{id}/meetings", tag = "demands", params(("id" = i64, Path)),
    request_body = MeetingRequest,
    responses((status = 201, body = DemandDto), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn record_meeting(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<MeetingRequest>,
) -> Result<(StatusCode, Json<DemandDto>), WebError> {
    check_write(&current, &headers)?;
    let attendees = request
        .attendees
        .into_iter()
        .enumerate()
        .map(|(index, a)| {
            Ok(Attendee {
                name: a.name,
                organization: a.organization,
                side: Side::parse(&a.side).ok_or_else(|| {
                    WebError::refused(
                        &format!("attendees[{index}].side"),
                        "expected civil or military",
                        "应为地方（civil）或军方（military）",
                    )
                })?,
            })
        })
        .collect::<Result<Vec<_>, WebError>>()?;
    let view = state
        .db
        .record_task_meeting(
            &current.actor,
            id,
            NewTaskMeeting {
                held_at: Timestamp::from_millis(request.held_at),
                attendees,
                decisions: request.decisions,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// Marks a demand analysed without a meeting record.
#[utoipa::path(post, path = "/demands/{id}/analyse", tag = "demands", params(("id" = i64, Path)),
    responses((status = 200, body = DemandDto), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn analyse_demand(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<DemandDto>, WebError> {
    check_write(&current, &headers)?;
    Ok(Json(
        state.db.analyse_demand(&current.actor, id).await?.into(),
    ))
}

/// The proposed allocation of the demand's open quantities: for each assignment why it was
/// chosen and the alternatives, per line the shortfall with the nearest sources outside the
/// region (region and quantity only).
#[utoipa::path(get, path = "/demands/{id}/proposal", tag = "demands", params(("id" = i64, Path)),
    responses((status = 200, body = ProposalDto), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn get_proposal(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<ProposalDto>, WebError> {
    let proposal = state
        .db
        .propose_allocation(current.actor.scope(), id)
        .await?;
    Ok(Json(ProposalDto::new(id, proposal)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AssignmentRequest {
    line_id: i64,
    record_id: i64,
    quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AcceptRequest {
    /// The assignments to accept, as the proposal listed them; omitted: the proposal made now.
    assignments: Option<Vec<AssignmentRequest>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AcceptDto {
    demand_id: i64,
    allocation_ids: Vec<i64>,
    reserved_units: i64,
    status: String,
}

/// Accepts an allocation, reserving every holding atomically: if any holding no longer has
/// the units (another accept took them first), nothing is reserved and the answer is 409
/// naming the holding.
#[utoipa::path(post, path = "/demands/{id}/allocation", tag = "demands", params(("id" = i64, Path)),
    request_body = AcceptRequest,
    responses((status = 201, body = AcceptDto), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn accept_allocation(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<AcceptRequest>,
) -> Result<(StatusCode, Json<AcceptDto>), WebError> {
    check_write(&current, &headers)?;
    let assignments = request.assignments.map(|list| {
        list.into_iter()
            .map(|a| AcceptedAssignment {
                line_id: a.line_id,
                record_id: a.record_id,
                quantity: a.quantity,
            })
            .collect()
    });
    let outcome = state
        .db
        .accept_allocation(&current.actor, id, assignments)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AcceptDto {
            demand_id: outcome.demand_id,
            allocation_ids: outcome.allocation_ids,
            reserved_units: outcome.reserved_units,
            status: outcome.status,
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EscalatedDto {
    /// The new demand, addressed to the level above (the caller may not see it).
    demand_id: i64,
}

/// Passes the proposal's shortfall up to the level above as a demand of its own.
#[utoipa::path(post, path = "/demands/{id}/escalation", tag = "demands", params(("id" = i64, Path)),
    responses((status = 201, body = EscalatedDto), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn escalate_shortfall(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<EscalatedDto>), WebError> {
    check_write(&current, &headers)?;
    let demand_id = state.db.escalate_shortfall(&current.actor, id).await?;
    Ok((StatusCode::CREATED, Json(EscalatedDto { demand_id })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InspectionRequest {
    allocation_id: i64,
    /// good, fair or unfit.
    condition: String,
    quantity_seen: i64,
    /// Units accepted, at most those seen; the rest of the allocation is released.
    quantity_accepted: i64,
    /// The ids of the inspector's own finished uploads (`/api/v1/uploads`), photos only:
    /// a photo is claimed by an upload only its uploader knows, never by a hash anyone
    /// might know.
    #[serde(default)]
    photo_uploads: Vec<String>,
    #[serde(default)]
    notes: String,
}

/// Records the on-site inspection of one allocation.
#[utoipa::path(post, path = "/demands/{id}/inspections", tag = "demands", params(("id" = i64, Path)),
    request_body = InspectionRequest,
    responses((status = 201, body = DemandDto), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn record_inspection(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<InspectionRequest>,
) -> Result<(StatusCode, Json<DemandDto>), WebError> {
    check_write(&current, &headers)?;
    let condition = parse_condition(&request.condition)?;
    let photos = photos_of(&state, &current.actor, &request.photo_uploads).await?;
    let view = state
        .db
        .inspect_allocation(
            &current.actor,
            id,
            InspectionInput {
                allocation_id: request.allocation_id,
                condition,
                quantity_seen: request.quantity_seen,
                quantity_accepted: request.quantity_accepted,
                photos,
                notes: request.notes,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct HandoverItemRequest {
    allocation_id: i64,
    quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct HandoverRequest {
    items: Vec<HandoverItemRequest>,
    /// Epoch milliseconds.
    handed_at: i64,
    supplier_signatory: String,
    supplier_signed_at: i64,
    receiver_signatory: String,
    receiver_signed_at: i64,
    #[serde(default)]
    notes: String,
}

/// Records a handover signed by both sides; the units leave the records' stock.
#[utoipa::path(post, path = "/demands/{id}/handovers", tag = "demands", params(("id" = i64, Path)),
    request_body = HandoverRequest,
    responses((status = 201, body = DemandDto), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn record_handover(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<HandoverRequest>,
) -> Result<(StatusCode, Json<DemandDto>), WebError> {
    check_write(&current, &headers)?;
    let view = state
        .db
        .record_handover(
            &current.actor,
            id,
            HandoverInput {
                items: request
                    .items
                    .into_iter()
                    .map(|i| HandoverItemInput {
                        allocation_id: i.allocation_id,
                        quantity: i.quantity,
                    })
                    .collect(),
                handed_at: Timestamp::from_millis(request.handed_at),
                supplier_signatory: request.supplier_signatory,
                supplier_signed_at: Timestamp::from_millis(request.supplier_signed_at),
                receiver_signatory: request.receiver_signatory,
                receiver_signed_at: Timestamp::from_millis(request.receiver_signed_at),
                notes: request.notes,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CancelRequest {
    reason: String,
}

/// Cancels a demand with a reason, releasing every reservation it holds.
#[utoipa::path(post, path = "/demands/{id}/cancel", tag = "demands", params(("id" = i64, Path)),
    request_body = CancelRequest,
    responses((status = 200, body = DemandDto), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn cancel_demand(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<CancelRequest>,
) -> Result<Json<DemandDto>, WebError> {
    check_write(&current, &headers)?;
    Ok(Json(
        state
            .db
            .cancel_demand(&current.actor, id, &request.reason)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CloseRequest {
    /// Required to close a demand that is not handed over in full.
    shortfall_reason: Option<String>,
}

/// Closes a demand: once handed over in full, or short of that with a reason.
#[utoipa::path(post, path = "/demands/{id}/close", tag = "demands", params(("id" = i64, Path)),
    request_body = CloseRequest,
    responses((status = 200, body = DemandDto), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn close_demand(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<CloseRequest>,
) -> Result<Json<DemandDto>, WebError> {
    check_write(&current, &headers)?;
    let reason = shortfall_reason(request.shortfall_reason.as_deref());
    Ok(Json(
        state
            .db
            .close_demand(&current.actor, id, reason)
            .await?
            .into(),
    ))
}
