//! Requisition orders in the JSON API: drafting (the exemption rules applied first), the
//! lifecycle one event at a time, notice links for holders without an account, the
//! compensation with its breakdown, and the exemption rules an administrator sets. Money is
//! integer fen. Reads are the storage's: staff see their subtree, an enterprise's account
//! only its own orders.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use muster_domain::Timestamp;
use muster_domain::requisition::{
    CompensationPolicy, ExemptionRule, HolderCategory, ItemCompensation, RequisitionEvent,
    RequisitionStatus, ReturnCondition, UseLogEntry,
};
use muster_storage::{
    DEFAULT_REQUISITION_LINK_DAYS, NewRequisition, NewRequisitionLine, Requisition,
    RequisitionSummary,
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
        .routes(routes!(list_requisitions, create_requisition))
        .routes(routes!(get_requisition))
        .routes(routes!(requisition_event))
        .routes(routes!(create_link))
        .routes(routes!(requisition_by_link))
        .routes(routes!(get_exemption_rules, put_exemption_rules))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequisitionSummaryDto {
    id: i64,
    region_path: String,
    /// `organization` (an enterprise) or `person` (a citizen).
    holder_kind: String,
    holder_organization_id: Option<i64>,
    /// A citizen's name is masked for readers whose roles do not allow personal data.
    holder_name: String,
    /// enterprise, citizen, hospital, school, emergency_service or public_institution.
    holder_category: String,
    legal_basis: String,
    /// drafted, notified, handed_over, in_use, returned, compensation_assessed, approved,
    /// paid or cancelled.
    status: String,
    /// The compensation assessed, in fen, once assessed.
    total_fen: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl From<RequisitionSummary> for RequisitionSummaryDto {
    fn from(s: RequisitionSummary) -> Self {
        Self {
            id: s.id,
            region_path: s.region_path,
            holder_kind: s.holder_kind,
            holder_organization_id: s.holder_organization_id,
            holder_name: s.holder_name,
            holder_category: s.holder_category,
            legal_basis: s.legal_basis,
            status: s.status,
            total_fen: s.total_fen,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequisitionItemDto {
    /// The potential record requisitioned.
    record_id: i64,
    type_code: String,
    quantity: i64,
    /// The declared value of one unit, in fen.
    declared_value_fen: i64,
    /// The rate for one unit and one day of use, in fen.
    daily_rate_fen: i64,
    /// Whether the item is still out with the office (drafted to returned).
    active: bool,
    /// The condition it came back in, once returned: good, worn, damaged or lost.
    condition: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UseLogEntryDto {
    on: i64,
    hours: Option<u32>,
    kilometres: Option<u32>,
    note: String,
}

/// One item's compensation, term by term: use = use_days × daily_rate_fen × quantity;
/// wear = total_value_fen × wear_basis_points / 10,000 (at most the value left after
/// damage); damage = total_value_fen × damage_basis_points / 10,000.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ItemCompensationDto {
    record_id: i64,
    quantity: u32,
    use_days: u32,
    daily_rate_fen: i64,
    use_fen: i64,
    declared_value_fen: i64,
    total_value_fen: i64,
    wear_basis_points_per_day: u32,
    wear_cap_basis_points: u32,
    wear_basis_points: u32,
    wear_fen: i64,
    wear_limited_by_value: bool,
    condition: String,
    damage_basis_points: u32,
    damage_fen: i64,
    total_fen: i64,
}

impl From<&ItemCompensation> for ItemCompensationDto {
    fn from(c: &ItemCompensation) -> Self {
        Self {
            record_id: c.item_id,
            quantity: c.quantity,
            use_days: c.use_days,
            daily_rate_fen: c.daily_rate_fen,
            use_fen: c.use_fen,
            declared_value_fen: c.declared_value_fen,
            total_value_fen: c.total_value_fen,
            wear_basis_points_per_day: c.wear_basis_points_per_day,
            wear_cap_basis_points: c.wear_cap_basis_points,
            wear_basis_points: c.wear_basis_points,
            wear_fen: c.wear_fen,
            wear_limited_by_value: c.wear_limited_by_value,
            condition: c.condition.as_str().to_owned(),
            damage_basis_points: c.damage_basis_points,
            damage_fen: c.damage_fen,
            total_fen: c.total_fen,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CompensationDto {
    items: Vec<ItemCompensationDto>,
    total_fen: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequisitionEventDto {
    seq: i64,
    /// notify, hand_over, record_use, return, assess, approve, mark_paid or cancel.
    action: String,
    actor: String,
    at: i64,
    status_after: String,
    /// The event as stored.
    #[schema(value_type = Object)]
    event: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequisitionDto {
    #[serde(flatten)]
    summary: RequisitionSummaryDto,
    items: Vec<RequisitionItemDto>,
    notified_at: Option<i64>,
    handed_over_at: Option<i64>,
    returned_at: Option<i64>,
    use_log: Vec<UseLogEntryDto>,
    compensation: Option<CompensationDto>,
    approved_at: Option<i64>,
    paid_at: Option<i64>,
    payment_reference: Option<String>,
    cancelled_at: Option<i64>,
    cancellation_reason: Option<String>,
    events: Vec<RequisitionEventDto>,
}

impl From<Requisition> for RequisitionDto {
    fn from(r: Requisition) -> Self {
        let order = &r.order;
        let conditions = order.conditions();
        Self {
            items: r
                .items
                .iter()
                .enumerate()
                .map(|(index, item)| RequisitionItemDto {
                    record_id: item.record_id,
                    type_code: item.type_code.clone(),
                    quantity: item.quantity,
                    declared_value_fen: item.declared_value_fen,
                    daily_rate_fen: item.daily_rate_fen,
                    active: item.active == 1,
                    condition: conditions.get(index).map(|c| c.as_str().to_owned()),
                })
                .collect(),
            notified_at: order.notified_at().map(Timestamp::as_millis),
            handed_over_at: order.handed_over_at().map(Timestamp::as_millis),
            returned_at: order.returned_at().map(Timestamp::as_millis),
            use_log: order
                .use_log()
                .iter()
                .map(|e| UseLogEntryDto {
                    on: e.on.as_millis(),
                    hours: e.hours,
                    kilometres: e.kilometres,
                    note: e.note.clone(),
                })
                .collect(),
            compensation: order.assessment().map(|a| CompensationDto {
                items: a.items.iter().map(ItemCompensationDto::from).collect(),
                total_fen: a.total_fen,
            }),
            approved_at: order.approved_at().map(Timestamp::as_millis),
            paid_at: order.payment().map(|p| p.paid_at.as_millis()),
            payment_reference: order.payment().map(|p| p.reference.clone()),
            cancelled_at: order.cancellation().map(|c| c.at.as_millis()),
            cancellation_reason: order.cancellation().map(|c| c.reason.clone()),
            events: r
                .events
                .iter()
                .map(|e| RequisitionEventDto {
                    seq: e.seq,
                    action: e.action.clone(),
                    actor: e.actor.clone(),
                    at: e.at,
                    status_after: e.status_after.clone(),
                    event: serde_json::from_str(&e.event).unwrap_or(serde_json::Value::Null),
                })
                .collect(),
            summary: r.summary.into(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct RequisitionQuery {
    /// Only orders of this status.
    status: Option<String>,
    /// Keyset pagination, newest first: the last id of the previous page.
    before: Option<i64>,
    /// At most 1000; default 100.
    limit: Option<i64>,
}

pub(crate) fn parse_status(text: Option<&str>) -> Result<Option<RequisitionStatus>, WebError> {
    match text.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => RequisitionStatus::parse(text).map(Some).ok_or_else(|| {
            WebError::refused(
                "status",
                "expected drafted, notified, handed_over, in_use, returned, compensation_assessed, approved, paid or cancelled",
                "应为 drafted（已拟定）、notified（已通知）、handed_over（已交付）、in_use（使用中）、returned（已归还）、compensation_assessed（补偿已核定）、approved（已审批）、paid（已支付）或 cancelled（已撤销）",
            )
        }),
    }
}

/// The orders the caller reads, newest first: staff their subtree's, an enterprise's
/// account only its own.
#[utoipa::path(get, path = "/requisitions", tag = "requisitions", params(RequisitionQuery),
    responses((status = 200, body = Vec<RequisitionSummaryDto>), (status = 400, body = Problem)))]
async fn list_requisitions(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<RequisitionQuery>,
) -> Result<Json<Vec<RequisitionSummaryDto>>, WebError> {
    let status = parse_status(query.status.as_deref())?;
    let rows = state
        .db
        .requisitions(
            &current.actor,
            status,
            query.limit.unwrap_or(100),
            query.before,
        )
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/requisitions/{id}", tag = "requisitions", params(("id" = i64, Path)),
    responses((status = 200, body = RequisitionDto), (status = 404, body = Problem)))]
async fn get_requisition(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<RequisitionDto>, WebError> {
    Ok(Json(state.db.requisition(&current.actor, id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewRequisitionLineRequest {
    /// A potential record in the caller's subtree, held by an enterprise or a citizen.
    record_id: i64,
    quantity: i64,
    declared_value_fen: i64,
    /// Fen per unit and day of use; when absent, the compensation setting's rate for the
    /// record's type, subcategory or category (refused when it has none).
    daily_rate_fen: Option<i64>,
    /// Whether the item is in use in the holder's own service (for the exemption rules).
    #[serde(default)]
    in_service: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewRequisitionRequest {
    /// The law, decision or command the order rests on.
    legal_basis: String,
    /// For an enterprise: enterprise (default), hospital, school, emergency_service or
    /// public_institution. A citizen is always citizen.
    holder_category: Option<String>,
    items: Vec<NewRequisitionLineRequest>,
}

pub(crate) fn parse_category(text: Option<&str>) -> Result<Option<HolderCategory>, WebError> {
    match text.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => HolderCategory::parse(text).map(Some).ok_or_else(|| {
            WebError::refused(
                "holder_category",
                "expected enterprise, citizen, hospital, school, emergency_service or public_institution",
                "应为 enterprise（企业）、citizen（公民）、hospital（医院）、school（学校）、emergency_service（应急救援单位）或 public_institution（事业单位）",
            )
        }),
    }
}

/// Drafts an order (office staff). The exemption rules in force are applied first: an
/// exempt item refuses the draft with 422, naming the rule. A record already on an open
/// order is 409.
#[utoipa::path(post, path = "/requisitions", tag = "requisitions", request_body = NewRequisitionRequest,
    responses((status = 201, body = RequisitionDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_requisition(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<NewRequisitionRequest>,
) -> Result<(StatusCode, Json<RequisitionDto>), WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    let new = NewRequisition {
        legal_basis: request.legal_basis,
        holder_category: parse_category(request.holder_category.as_deref())?,
        items: request
            .items
            .into_iter()
            .map(|l| NewRequisitionLine {
                record_id: l.record_id,
                quantity: l.quantity,
                declared_value_fen: l.declared_value_fen,
                daily_rate_fen: l.daily_rate_fen,
                in_service: l.in_service,
            })
            .collect(),
    };
    let created = state
        .db
        .create_requisition(&current.actor, new, muster_storage::now())
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// One step of an order's lifecycle.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct RequisitionEventRequest {
    /// notify, hand_over, record_use, return, assess, approve, mark_paid or cancel.
    pub(crate) kind: String,
    /// When it happened, epoch milliseconds; now when absent. Times never go back.
    pub(crate) at: Option<i64>,
    /// record_use: hours of use that day.
    pub(crate) hours: Option<u32>,
    /// record_use: kilometres driven that day.
    pub(crate) kilometres: Option<u32>,
    /// record_use: what the items were used for.
    pub(crate) note: Option<String>,
    /// return: one of good, worn, damaged, lost per item, in item order.
    pub(crate) conditions: Option<Vec<String>>,
    /// mark_paid: the bank's or treasury's reference.
    pub(crate) reference: Option<String>,
    /// cancel: why.
    pub(crate) reason: Option<String>,
}

impl RequisitionEventRequest {
    /// The domain event; an assessment uses the compensation setting in force.
    pub(crate) fn event(&self, now: Timestamp) -> Result<RequisitionEvent, WebError> {
        let at = self.at.map_or(now, Timestamp::from_millis);
        let text = |t: &Option<String>| t.clone().unwrap_or_default();
        Ok(match self.kind.trim() {
            "notify" => RequisitionEvent::Notify { at },
            "hand_over" => RequisitionEvent::HandOver { at },
            "record_use" => RequisitionEvent::RecordUse {
                entry: UseLogEntry {
                    on: at,
                    hours: self.hours,
                    kilometres: self.kilometres,
                    note: text(&self.note),
                },
            },
            "return" => RequisitionEvent::Return {
                at,
                conditions: self
                    .conditions
                    .iter()
                    .flatten()
                    .map(|c| {
                        ReturnCondition::parse(c).ok_or_else(|| {
                            WebError::refused(
                                "conditions",
                                format!("{c:?}: expected good, worn, damaged or lost"),
                                format!(
                                    "{c:?}：应为 good（完好）、worn（磨损）、damaged（损坏）或 lost（灭失）"
                                ),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            },
            // Storage assesses under the compensation setting in force, whatever policy
            // the event carries.
            "assess" => RequisitionEvent::Assess {
                policy: CompensationPolicy::default(),
            },
            "approve" => RequisitionEvent::Approve { at },
            "mark_paid" => RequisitionEvent::MarkPaid {
                at,
                reference: text(&self.reference),
            },
            "cancel" => RequisitionEvent::Cancel {
                at,
                reason: text(&self.reason),
            },
            _ => {
                return Err(WebError::refused(
                    "kind",
                    "expected notify, hand_over, record_use, return, assess, approve, mark_paid or cancel",
                    "应为 notify、hand_over、record_use、return、assess、approve、mark_paid 或 cancel 之一",
                ));
            }
        })
    }
}

/// Moves an order on by one event (office staff). A step out of order is 409 naming what
/// must come first; a time before the previous event is 422.
#[utoipa::path(post, path = "/requisitions/{id}/events", tag = "requisitions", params(("id" = i64, Path)),
    request_body = RequisitionEventRequest,
    responses((status = 200, body = RequisitionDto), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn requisition_event(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<RequisitionEventRequest>,
) -> Result<Json<RequisitionDto>, WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    let now = muster_storage::now();
    let event = request.event(now)?;
    Ok(Json(
        state
            .db
            .act_on_requisition(&current.actor, id, &event, now)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LinkRequest {
    /// 1 to 365; default 30.
    valid_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LinkDto {
    /// The secret, shown once: only its hash is kept.
    token: String,
    expires_at: i64,
    /// The notice page the holder opens, relative to the server.
    path: String,
}

/// Issues a notice link for a holder without an account (office staff).
#[utoipa::path(post, path = "/requisitions/{id}/links", tag = "requisitions", params(("id" = i64, Path)),
    request_body = LinkRequest,
    responses((status = 201, body = LinkDto), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn create_link(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<LinkRequest>,
) -> Result<(StatusCode, Json<LinkDto>), WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    let (token, expires) = state
        .db
        .create_requisition_link(
            &current.actor,
            id,
            request.valid_days.unwrap_or(DEFAULT_REQUISITION_LINK_DAYS),
            muster_storage::now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkDto {
            path: format!("/requisitions/notice/{token}"),
            token,
            expires_at: expires.as_millis(),
        }),
    ))
}

/// The order a notice link opens, with its compensation; no sign-in. An expired link is
/// 403, an unknown one 404.
#[utoipa::path(get, path = "/requisitions/notice/{token}", tag = "requisitions", params(("token" = String, Path)),
    responses((status = 200, body = RequisitionDto), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn requisition_by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<RequisitionDto>, WebError> {
    Ok(Json(
        state
            .db
            .requisition_by_link(&token, muster_storage::now())
            .await?
            .into(),
    ))
}

/// The exemption rules in force (any signed-in user may read them).
#[utoipa::path(get, path = "/requisitions/exemption-rules", tag = "requisitions",
    responses((status = 200, body = Vec<Object>)))]
async fn get_exemption_rules(
    State(state): State<AppState>,
    _current: CurrentUser,
) -> Result<Json<Vec<ExemptionRule>>, WebError> {
    Ok(Json(state.db.exemption_rules().await?.rules().to_vec()))
}

/// Replaces the exemption rules (administrators): every problem of the set is named at
/// once (422).
#[utoipa::path(put, path = "/requisitions/exemption-rules", tag = "requisitions",
    request_body = Vec<Object>,
    responses((status = 200, body = Vec<Object>), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_exemption_rules(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(rules): Json<Vec<ExemptionRule>>,
) -> Result<Json<Vec<ExemptionRule>>, WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    Ok(Json(
        state
            .db
            .set_exemption_rules(&current.actor, rules)
            .await?
            .rules()
            .to_vec(),
    ))
}
