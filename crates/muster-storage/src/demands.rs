//! Demands (issue 5, workflow 3): what the military side or an emergency office asks for,
//! the task meeting that analyses it, the allocation that reserves potential records for it,
//! the on-site inspection and the signed handover.
//!
//! The lifecycle and its refusals are `muster_domain::demand`; this module stores what
//! [`transition`](muster_domain::demand::transition) returns. Every write loads the demand
//! inside its transaction (on PostgreSQL with `FOR UPDATE`, so two writers of one demand
//! queue), checks the actor's scope, clearance and role, applies the domain event, writes the
//! lines' progress and the derived status with `version = version + 1`, and appends one
//! audit entry, all in one transaction.
//!
//! **Who sees a demand.** A reader whose scope contains the demand's region and whose
//! clearance ([`ClassificationLevel::clearance_for`] of the scope's data classes) reaches the
//! demand's classification. Both are in the SQL of every read
//! (`region_path` range and `classification_rank <= $clearance`), so no handler can forget
//! either; a demand the reader may not see is `NotFound`, like one that does not exist.
//!
//! The allocation, reservation, inspection and handover are in [`allocation`] and
//! [`fulfilment`].

mod allocation;
mod fulfilment;
mod views;

use muster_domain::demand::{
    Attendee, ClassificationLevel, DeliveryPoint, Demand, DemandDraft, DemandEvent, DemandLine,
    DemandOrigin, DemandProblem, DemandRefusal, DemandStatus, EscalationLink, LineProgress,
    MeetingProblem, NewDemand, NewDemandLine, NewTaskMeeting, Priority, transition,
};
use muster_domain::{Actor, RegionPath, Role, Scope, Timestamp};
use serde::Serialize;
use sqlx::QueryBuilder;

use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::error::refused_all;

pub use allocation::{
    AcceptOutcome, AcceptedAssignment, AllocationProposal, EscalationSourceView, HoldingSummary,
    ProposalTimings, ProposedAlternative, ProposedAssignment, ProposedLine,
};
pub use fulfilment::{
    HandoverInput, HandoverItemInput, InspectionCondition, InspectionInput,
    MAX_PHOTOS as MAX_INSPECTION_PHOTOS,
};

/// A demand as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DemandSummary {
    pub id: i64,
    pub title: String,
    pub origin: String,
    pub classification: String,
    pub region_code: String,
    pub region_name: String,
    pub region_path: String,
    pub status: String,
    /// How the demand ended (JSON of `muster_domain::demand::DemandEnding`), once it has.
    pub ending: Option<String>,
    pub escalated_from_demand_id: Option<i64>,
    pub escalated_from_region: Option<String>,
    pub received_at: i64,
    pub created_by_name: String,
    pub version: i64,
    pub updated_at: i64,
    pub line_count: i64,
}

impl DemandSummary {
    pub fn status(&self) -> DemandStatus {
        DemandStatus::parse(&self.status).unwrap_or(DemandStatus::Received)
    }

    pub fn region_path(&self) -> RegionPath {
        RegionPath::parse(&self.region_path).unwrap_or_else(RegionPath::root)
    }
}

/// One stored line with its progress.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StoredDemandLine {
    pub id: i64,
    pub demand_id: i64,
    /// 0-based, the line's index in the domain's `Demand`.
    pub line_no: i64,
    pub type_code: String,
    pub quantity: i64,
    pub lat: f64,
    pub lon: f64,
    pub needed_by: i64,
    pub priority: i64,
    pub origin_line: Option<i64>,
    pub allocated: i64,
    pub inspected: i64,
    pub handed_over: i64,
}

/// A task meeting's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMeeting {
    pub id: i64,
    pub held_at: i64,
    pub attendees: Vec<Attendee>,
    pub decisions: Vec<String>,
    pub recorded_by_name: String,
    pub recorded_at: i64,
}

/// An accepted assignment: units of a record reserved for a line, and what became of them.
/// The holder's personal data is masked as in every record read.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StoredAllocation {
    pub id: i64,
    pub line_id: i64,
    pub line_no: i64,
    pub record_id: i64,
    pub type_code: String,
    pub quantity: i64,
    pub inspected: i64,
    pub released: i64,
    pub handed_over: i64,
    pub great_circle_km: f64,
    pub travel_hours: f64,
    pub unit_cost_cents: i64,
    pub accepted_at: i64,
    pub accepted_by_name: String,
    pub region_code: String,
    pub region_name: String,
    pub holder_kind: String,
    pub holder_name: String,
    pub site_name: Option<String>,
}

impl StoredAllocation {
    /// Reserved units not yet inspected or released: what an inspection may still accept.
    pub fn awaiting_inspection(&self) -> i64 {
        self.quantity - self.inspected - self.released
    }

    /// Inspected units not yet handed over.
    pub fn awaiting_handover(&self) -> i64 {
        self.inspected - self.handed_over
    }
}

/// An on-site inspection of one allocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredInspection {
    pub id: i64,
    pub allocation_id: i64,
    pub condition: String,
    pub quantity_seen: i64,
    pub quantity_accepted: i64,
    /// SHA-256 of each photo in the attachment store.
    pub photos: Vec<String>,
    pub notes: String,
    pub inspector_name: String,
    pub inspected_at: i64,
}

/// A signed handover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredHandover {
    pub id: i64,
    pub handed_at: i64,
    pub supplier_signatory: String,
    pub supplier_signed_at: i64,
    pub receiver_signatory: String,
    pub receiver_signed_at: i64,
    pub notes: String,
    pub recorded_by_name: String,
    pub recorded_at: i64,
    /// (allocation id, quantity).
    pub items: Vec<(i64, i64)>,
}

/// Everything about one demand a reader may see.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemandView {
    pub demand: DemandSummary,
    pub lines: Vec<StoredDemandLine>,
    pub meetings: Vec<StoredMeeting>,
    pub allocations: Vec<StoredAllocation>,
    pub inspections: Vec<StoredInspection>,
    pub handovers: Vec<StoredHandover>,
}

/// A demand as a form or the API states it; the region is a code, looked up in scope.
#[derive(Debug, Clone)]
pub struct DemandInput {
    pub title: String,
    pub origin: DemandOrigin,
    pub classification: ClassificationLevel,
    pub region_code: String,
    pub lines: Vec<NewDemandLine>,
}

/// The demand filter of the list.
#[derive(Debug, Clone, Default)]
pub struct DemandFilter {
    pub status: Option<DemandStatus>,
    pub limit: i64,
    pub after_id: i64,
}

/// `public` 0 … `secret` 3: the order the clearance check compares in SQL.
pub(crate) fn classification_rank(level: ClassificationLevel) -> i64 {
    ClassificationLevel::ALL
        .iter()
        .position(|l| *l == level)
        .map_or(i64::MAX, |p| p as i64)
}

/// The highest classification rank a scope may read.
pub(crate) fn clearance_rank(scope: &Scope) -> i64 {
    classification_rank(ClassificationLevel::clearance_for(scope.data_classes()))
}

/// Who states demands: the liaisons of the military side, the offices, administrators.
fn may_state(actor: &Actor) -> bool {
    actor.administers()
        || actor.has_role(Role::MilitaryLiaison)
        || actor.has_role(Role::OfficeStaff)
}

/// Who works a demand through (allocation, inspection, cancellation): the offices.
pub(crate) fn may_fulfil(actor: &Actor) -> bool {
    actor.administers() || actor.has_role(Role::OfficeStaff)
}

/// Who records a meeting or a handover: both sides sit at the table and sign.
pub(crate) fn may_take_part(actor: &Actor) -> bool {
    may_fulfil(actor) || actor.has_role(Role::MilitaryLiaison)
}

const SUMMARY_COLUMNS: &str = "d.id, d.title, d.origin, d.classification, d.region_code, \
     g.name AS region_name, d.region_path, d.status, d.ending, d.escalated_from_demand_id, \
     d.escalated_from_region, d.received_at, d.created_by_name, d.version, d.updated_at, \
     (SELECT COUNT(*) FROM demand_lines l WHERE l.demand_id = d.id) AS line_count";

/// A demand loaded inside a write transaction, with its lines and its domain value.
pub(crate) struct LockedDemand {
    pub(crate) id: i64,
    pub(crate) region_path: RegionPath,
    pub(crate) version: i64,
    pub(crate) lines: Vec<StoredDemandLine>,
    pub(crate) demand: Demand,
}

impl Database {
    /// States a demand: by a liaison, an office or an administrator, addressed to a region
    /// in the actor's scope, at a classification the actor is cleared for, with every line's
    /// type in the taxonomy. Every problem of the form is named at once.
    pub async fn create_demand(
        &self,
        actor: &Actor,
        input: DemandInput,
    ) -> Result<DemandView, StorageError> {
        if !may_state(actor) {
            return Err(StorageError::forbidden(
                "only military liaisons, office staff and administrators state demands",
                "只有军事联络员、动员办工作人员和系统管理员才能登记需求",
            ));
        }
        if classification_rank(input.classification) > clearance_rank(actor.scope()) {
            return Err(StorageError::Refused {
                field: "classification",
                message: format!(
                    "you are not cleared for {} demands; choose a lower classification",
                    input.classification
                ),
                message_zh: format!(
                    "您的密级权限不足以处理“{}”级需求；请选择较低的密级",
                    input.classification.zh()
                ),
            });
        }
        let region = self
            .region(actor.scope(), input.region_code.trim())
            .await
            .map_err(|e| match e {
                StorageError::NotFound { .. } => StorageError::Refused {
                    field: "region_code",
                    message: format!("region {} is not in your region", input.region_code.trim()),
                    message_zh: format!("地区 {} 不在您的辖区内", input.region_code.trim()),
                },
                other => other,
            })?;
        let taxonomy = self.taxonomy().await?;
        let now = crate::now();
        let new_demand = NewDemand {
            title: input.title,
            origin: input.origin,
            classification: input.classification,
            region: region.region_path(),
            lines: input.lines,
        };
        let draft = new_demand
            .validate(now, |code| taxonomy.resource_type(code).is_some())
            .map_err(|problems| refused_all("demand", &problems, DemandProblem::zh))?;
        let mut tx = self.begin_write().await?;
        let id = insert_demand(&mut tx, actor, &draft, &region.code, now).await?;
        tx.commit().await?;
        self.demand(actor.scope(), id).await
    }

    /// A page of the demands the reader may see, newest first.
    pub async fn demands(
        &self,
        scope: &Scope,
        filter: &DemandFilter,
    ) -> Result<Vec<DemandSummary>, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let after = if filter.after_id > 0 {
            filter.after_id
        } else {
            i64::MAX
        };
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM demands d JOIN regions g ON g.code = d.region_code \
             WHERE d.region_path >= $1 AND d.region_path < $2 AND d.classification_rank <= $3 \
             AND ($4 IS NULL OR d.status = $4) AND d.id < $5 ORDER BY d.id DESC LIMIT $6"
        );
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&low)
                .bind(&high)
                .bind(clearance_rank(scope))
                .bind(filter.status.map(|s| s.as_str()))
                .bind(after)
                .bind(filter.limit.clamp(1, 500))
                .fetch_all(pool)
                .await
        })?)
    }

    /// One demand with its lines, meetings, allocations, inspections and handovers, if the
    /// reader may see it.
    pub async fn demand(&self, scope: &Scope, id: i64) -> Result<DemandView, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM demands d JOIN regions g ON g.code = d.region_code \
             WHERE d.id = $1 AND d.region_path >= $2 AND d.region_path < $3 \
             AND d.classification_rank <= $4"
        );
        let found: Option<DemandSummary> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .bind(&low)
                .bind(&high)
                .bind(clearance_rank(scope))
                .fetch_optional(pool)
                .await
        })?;
        let demand = found.ok_or_else(|| StorageError::not_found("demand", id))?;
        let lines: Vec<StoredDemandLine> = on_read_pool!(self, |pool| {
            sqlx::query_as("SELECT * FROM demand_lines WHERE demand_id = $1 ORDER BY line_no")
                .bind(id)
                .fetch_all(pool)
                .await
        })?;
        let meeting_rows: Vec<(i64, i64, String, String, String, i64)> =
            on_read_pool!(self, |pool| {
                sqlx::query_as(
                    "SELECT id, held_at, attendees, decisions, recorded_by_name, recorded_at \
                 FROM demand_meetings WHERE demand_id = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(pool)
                .await
            })?;
        let meetings = meeting_rows
            .into_iter()
            .map(
                |(id, held_at, attendees, decisions, recorded_by_name, recorded_at)| {
                    StoredMeeting {
                        id,
                        held_at,
                        attendees: parse_attendees(&attendees),
                        decisions: serde_json::from_str(&decisions).unwrap_or_default(),
                        recorded_by_name,
                        recorded_at,
                    }
                },
            )
            .collect();
        let allocations = self.demand_allocations(scope, id).await?;
        let inspection_rows: Vec<InspectionRow> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, allocation_id, condition, quantity_seen, quantity_accepted, photos, \
                 notes, inspector_name, inspected_at FROM demand_inspections \
                 WHERE demand_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(pool)
            .await
        })?;
        let inspections = inspection_rows
            .into_iter()
            .map(|row| StoredInspection {
                id: row.0,
                allocation_id: row.1,
                condition: row.2,
                quantity_seen: row.3,
                quantity_accepted: row.4,
                photos: serde_json::from_str(&row.5).unwrap_or_default(),
                notes: row.6,
                inspector_name: row.7,
                inspected_at: row.8,
            })
            .collect();
        let handover_rows: Vec<HandoverRow> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, handed_at, supplier_signatory, supplier_signed_at, receiver_signatory, \
                 receiver_signed_at, notes, recorded_by_name, recorded_at FROM demand_handovers \
                 WHERE demand_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(pool)
            .await
        })?;
        let items: Vec<(i64, i64, i64)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT i.handover_id, i.allocation_id, i.quantity FROM demand_handover_items i \
                 JOIN demand_handovers h ON h.id = i.handover_id WHERE h.demand_id = $1 \
                 ORDER BY i.handover_id, i.allocation_id",
            )
            .bind(id)
            .fetch_all(pool)
            .await
        })?;
        let handovers = handover_rows
            .into_iter()
            .map(|row| StoredHandover {
                id: row.0,
                handed_at: row.1,
                supplier_signatory: row.2,
                supplier_signed_at: row.3,
                receiver_signatory: row.4,
                receiver_signed_at: row.5,
                notes: row.6,
                recorded_by_name: row.7,
                recorded_at: row.8,
                items: items
                    .iter()
                    .filter(|(h, _, _)| *h == row.0)
                    .map(|(_, a, q)| (*a, *q))
                    .collect(),
            })
            .collect();
        Ok(DemandView {
            demand,
            lines,
            meetings,
            allocations,
            inspections,
            handovers,
        })
    }

    /// The accepted allocations of a demand the caller has already found in scope.
    async fn demand_allocations(
        &self,
        scope: &Scope,
        demand_id: i64,
    ) -> Result<Vec<StoredAllocation>, StorageError> {
        let rows: Vec<StoredAllocation> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT a.id, a.line_id, l.line_no, a.record_id, r.type_code, a.quantity, a.inspected, \
                 a.released, a.handed_over, a.great_circle_km, a.travel_hours, a.unit_cost_cents, \
                 a.accepted_at, a.accepted_by_name, r.region_code, g.name AS region_name, \
                 r.holder_kind, r.holder_name, r.site_name \
                 FROM demand_allocations a JOIN demand_lines l ON l.id = a.line_id \
                 JOIN potential_records r ON r.id = a.record_id JOIN regions g ON g.code = r.region_code \
                 WHERE a.demand_id = $1 ORDER BY l.line_no, a.id",
            )
            .bind(demand_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|row| mask_allocation(row, scope))
            .collect())
    }

    /// Records a task meeting about a demand (who, when, what was decided). A demand still
    /// `received` is analysed by it, in the same transaction.
    pub async fn record_task_meeting(
        &self,
        actor: &Actor,
        demand_id: i64,
        meeting: NewTaskMeeting,
    ) -> Result<DemandView, StorageError> {
        if !may_take_part(actor) {
            return Err(StorageError::forbidden(
                "only office staff, military liaisons and administrators record task meetings",
                "只有动员办工作人员、军事联络员和系统管理员才能记录任务会商",
            ));
        }
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let locked = lock_demand(&mut tx, actor.scope(), demand_id).await?;
        let checked = meeting
            .validate(&locked.demand, now)
            .map_err(|problems| refused_all("meeting", &problems, MeetingProblem::zh))?;
        let attendees = serde_json::to_string(checked.attendees()).unwrap_or_default();
        let decisions = serde_json::to_string(checked.decisions()).unwrap_or_default();
        let meeting_id: i64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO demand_meetings (demand_id, held_at, attendees, decisions, recorded_by_name, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(demand_id)
            .bind(checked.held_at().as_millis())
            .bind(&attendees)
            .bind(&decisions)
            .bind(actor.name())
            .bind(now.as_millis())
            .fetch_one(&mut *conn)
            .await
        })?;
        let analysed = locked.demand.status() == DemandStatus::Received;
        if analysed {
            let next = apply_event(&locked, &DemandEvent::Analyse)?;
            store_progress(&mut tx, &locked, &next, now).await?;
        }
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "demand",
                entity_id: demand_id.to_string(),
                action: "record_meeting",
                region_path: &locked.region_path,
                before: None,
                after: Some(serde_json::json!({
                    "meeting_id": meeting_id,
                    "held_at": checked.held_at().as_millis(),
                    "attendees": checked.attendees(),
                    "decisions": checked.decisions(),
                    "analysed": analysed,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.demand(actor.scope(), demand_id).await
    }

    /// Marks a demand analysed without a meeting record (an urgent demand analysed by phone).
    pub async fn analyse_demand(
        &self,
        actor: &Actor,
        demand_id: i64,
    ) -> Result<DemandView, StorageError> {
        if !may_fulfil(actor) {
            return Err(StorageError::forbidden(
                "only office staff and administrators analyse demands",
                "只有动员办工作人员和系统管理员才能分析需求",
            ));
        }
        self.simple_event(actor, demand_id, DemandEvent::Analyse)
            .await
    }

    /// Cancels a demand, with a reason, releasing every reservation it still holds.
    pub async fn cancel_demand(
        &self,
        actor: &Actor,
        demand_id: i64,
        reason: &str,
    ) -> Result<DemandView, StorageError> {
        if !may_take_part(actor) {
            return Err(StorageError::forbidden(
                "only office staff, military liaisons and administrators cancel demands",
                "只有动员办工作人员、军事联络员和系统管理员才能取消需求",
            ));
        }
        fulfilment::cancel(self, actor, demand_id, reason).await?;
        self.demand(actor.scope(), demand_id).await
    }

    /// Closes a demand: normally once everything is handed over, or — with a reason — short
    /// of that.
    pub async fn close_demand(
        &self,
        actor: &Actor,
        demand_id: i64,
        shortfall_reason: Option<&str>,
    ) -> Result<DemandView, StorageError> {
        if !may_fulfil(actor) {
            return Err(StorageError::forbidden(
                "only office staff and administrators close demands",
                "只有动员办工作人员和系统管理员才能关闭需求",
            ));
        }
        let event = match shortfall_reason {
            Some(reason) => DemandEvent::CloseWithShortfall {
                reason: reason.to_owned(),
            },
            None => DemandEvent::Close,
        };
        self.simple_event(actor, demand_id, event).await
    }

    async fn simple_event(
        &self,
        actor: &Actor,
        demand_id: i64,
        event: DemandEvent,
    ) -> Result<DemandView, StorageError> {
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let locked = lock_demand(&mut tx, actor.scope(), demand_id).await?;
        let next = apply_event(&locked, &event)?;
        store_progress(&mut tx, &locked, &next, now).await?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "demand",
                entity_id: demand_id.to_string(),
                action: event.action(),
                region_path: &locked.region_path,
                before: Some(serde_json::json!({ "status": locked.demand.status() })),
                after: Some(serde_json::json!({ "status": next.status(), "event": event })),
            },
        )
        .await?;
        tx.commit().await?;
        self.demand(actor.scope(), demand_id).await
    }
}

type InspectionRow = (i64, i64, String, i64, i64, String, String, String, i64);
type HandoverRow = (i64, i64, String, i64, String, i64, String, String, i64);

fn parse_attendees(text: &str) -> Vec<Attendee> {
    // Attendee is Serialize only; read the stored JSON back field by field.
    let values: Vec<serde_json::Value> = serde_json::from_str(text).unwrap_or_default();
    values
        .into_iter()
        .filter_map(|v| {
            Some(Attendee {
                name: v.get("name")?.as_str()?.to_owned(),
                organization: v.get("organization")?.as_str()?.to_owned(),
                side: muster_domain::Side::parse(v.get("side")?.as_str()?)?,
            })
        })
        .collect()
}

/// Blanks a person holder's name for a reader without the personal-data class.
fn mask_allocation(mut row: StoredAllocation, scope: &Scope) -> StoredAllocation {
    use muster_domain::potential::{Holder, HolderKind};
    if row.holder_kind == HolderKind::Person.as_str()
        && !scope.allows(muster_domain::DataClass::PersonalData)
        && let Holder::Person { name, .. } = (Holder::Person {
            name: row.holder_name.clone(),
            id_number: None,
            phone: None,
        })
        .masked()
    {
        row.holder_name = name;
    }
    row
}

/// Inserts a checked demand and its lines, audited. Used by `create_demand` and by
/// escalation, which addresses the level above.
pub(crate) async fn insert_demand(
    tx: &mut WriteTx,
    actor: &Actor,
    draft: &DemandDraft,
    region_code: &str,
    now: Timestamp,
) -> Result<i64, StorageError> {
    let escalated = draft.escalated_from();
    let id: i64 = on_tx!(&mut *tx, |conn| {
        sqlx::query_scalar(
            "INSERT INTO demands (title, origin, classification, classification_rank, region_code, \
             region_path, status, escalated_from_demand_id, escalated_from_region, received_at, \
             created_by, created_by_name, version, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $10) RETURNING id",
        )
        .bind(draft.title())
        .bind(draft.origin().as_str())
        .bind(draft.classification().as_str())
        .bind(classification_rank(draft.classification()))
        .bind(region_code)
        .bind(draft.region().as_str())
        .bind(DemandStatus::Received.as_str())
        .bind(escalated.map(|e| e.demand_id))
        .bind(escalated.map(|e| e.from_region.as_str().to_owned()))
        .bind(now.as_millis())
        .bind(actor.user_id())
        .bind(actor.name())
        .fetch_one(&mut *conn)
        .await
    })?;
    for (line_no, line) in draft.lines().iter().enumerate() {
        on_tx!(&mut *tx, |conn| {
            sqlx::query(
                "INSERT INTO demand_lines (demand_id, line_no, type_code, quantity, lat, lon, \
                 needed_by, priority, origin_line) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id)
            .bind(line_no as i64)
            .bind(line.type_code())
            .bind(line.quantity() as i64)
            .bind(line.delivery_point().lat())
            .bind(line.delivery_point().lon())
            .bind(line.needed_by().as_millis())
            .bind(i64::from(line.priority().get()))
            .bind(line.origin_line().map(|l| l as i64))
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
    }
    tx.audit(
        actor,
        now,
        AuditEvent {
            entity: "demand",
            entity_id: id.to_string(),
            action: if escalated.is_some() {
                "escalate"
            } else {
                "create"
            },
            region_path: draft.region(),
            before: None,
            after: serde_json::to_value(draft).ok(),
        },
    )
    .await?;
    Ok(id)
}

/// Loads a demand for a write: locked on PostgreSQL, checked against the actor's scope and
/// clearance (`NotFound` when it may not see it), restored into the domain's `Demand`.
pub(crate) async fn lock_demand(
    tx: &mut WriteTx,
    scope: &Scope,
    demand_id: i64,
) -> Result<LockedDemand, StorageError> {
    type Row = (
        i64,
        String,
        String,
        String,
        String,
        String,
        i64,
        Option<i64>,
        Option<String>,
        i64,
        i64,
    );
    let sql = "SELECT id, title, origin, classification, region_path, status, received_at, \
               escalated_from_demand_id, escalated_from_region, version, classification_rank \
               FROM demands WHERE id = $1";
    let found: Option<Row> = match tx {
        WriteTx::Sqlite(conn) => {
            sqlx::query_as(sql)
                .bind(demand_id)
                .fetch_optional(&mut **conn)
                .await?
        }
        WriteTx::Postgres(conn) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{sql} FOR UPDATE")))
                .bind(demand_id)
                .fetch_optional(&mut **conn)
                .await?
        }
    };
    let Some(row) = found else {
        return Err(StorageError::not_found("demand", demand_id));
    };
    let region_path = RegionPath::parse(&row.4).unwrap_or_else(RegionPath::root);
    if !scope.contains(&region_path) || row.10 > clearance_rank(scope) {
        return Err(StorageError::not_found("demand", demand_id));
    }
    let lines: Vec<StoredDemandLine> = on_tx!(&mut *tx, |conn| {
        sqlx::query_as("SELECT * FROM demand_lines WHERE demand_id = $1 ORDER BY line_no")
            .bind(demand_id)
            .fetch_all(&mut *conn)
            .await
    })?;
    let corrupt = || StorageError::Refused {
        field: "demand",
        message: format!("stored demand {demand_id} does not read back; this is a defect"),
        message_zh: format!("存储的需求 {demand_id} 无法读回；这是程序缺陷"),
    };
    let mut domain_lines = Vec::with_capacity(lines.len());
    let mut progress = Vec::with_capacity(lines.len());
    for line in &lines {
        let quantity = u64::try_from(line.quantity).map_err(|_| corrupt())?;
        let domain_line = DemandLine::restore(
            line.type_code.clone(),
            quantity,
            DeliveryPoint::new(line.lat, line.lon).ok_or_else(corrupt)?,
            Timestamp::from_millis(line.needed_by),
            Priority::new(line.priority).ok_or_else(corrupt)?,
            line.origin_line.and_then(|l| usize::try_from(l).ok()),
        )
        .ok_or_else(corrupt)?;
        domain_lines.push(domain_line);
        progress.push(
            LineProgress::new(
                quantity,
                line.allocated as u64,
                line.inspected as u64,
                line.handed_over as u64,
            )
            .ok_or_else(corrupt)?,
        );
    }
    let escalated_from = match (row.7, row.8.as_deref().and_then(RegionPath::parse)) {
        (Some(demand_id), Some(from_region)) => Some(EscalationLink {
            demand_id,
            from_region,
        }),
        _ => None,
    };
    let draft = DemandDraft::restore(
        row.1,
        DemandOrigin::parse(&row.2).ok_or_else(corrupt)?,
        ClassificationLevel::parse(&row.3).ok_or_else(corrupt)?,
        region_path.clone(),
        domain_lines,
        escalated_from,
    )
    .ok_or_else(corrupt)?;
    let status = DemandStatus::parse(&row.5).ok_or_else(corrupt)?;
    // The ending is kept as JSON for readers; a finished demand refuses every event anyway.
    let demand = Demand::restore(draft, Timestamp::from_millis(row.6), status, progress, None)
        .map_err(|_| corrupt())?;
    Ok(LockedDemand {
        id: demand_id,
        region_path,
        version: row.9,
        lines,
        demand,
    })
}

/// The domain's transition, its refusal as a conflict the user can act on.
pub(crate) fn apply_event(
    locked: &LockedDemand,
    event: &DemandEvent,
) -> Result<Demand, StorageError> {
    transition(&locked.demand, event).map_err(refused_transition)
}

/// A refused transition as a conflict the user can act on, said in both languages.
pub(crate) fn refused_transition(refusal: DemandRefusal) -> StorageError {
    StorageError::Conflict {
        message_zh: Some(refusal.zh()),
        field: "status",
        message: refusal.to_string(),
    }
}

/// Line-progress rows per UPDATE: four bound values each, far below either database's limit.
const LINES_PER_PROGRESS_UPDATE: usize = 2_000;

/// Writes the new progress of every line and the new status, guarded by the version read
/// under the lock.
pub(crate) async fn store_progress(
    tx: &mut WriteTx,
    locked: &LockedDemand,
    next: &Demand,
    now: Timestamp,
) -> Result<(), StorageError> {
    // Only the lines whose figures moved, written in batches of one statement each: a
    // 1,000-line allocation is a handful of statements, not a thousand round trips.
    let moved: Vec<(i64, i64, i64, i64)> = locked
        .lines
        .iter()
        .zip(next.progress())
        .zip(locked.demand.progress())
        .filter(|((_, after), before)| after != before)
        .map(|((stored, after), _)| {
            (
                stored.id,
                after.allocated() as i64,
                after.inspected() as i64,
                after.handed_over() as i64,
            )
        })
        .collect();
    for chunk in moved.chunks(LINES_PER_PROGRESS_UPDATE) {
        on_tx!(&mut *tx, |conn| {
            let mut query =
                QueryBuilder::new("WITH moved (id, allocated, inspected, handed_over) AS (");
            query.push_values(chunk, |mut row, (id, allocated, inspected, handed_over)| {
                row.push_bind(*id)
                    .push_bind(*allocated)
                    .push_bind(*inspected)
                    .push_bind(*handed_over);
            });
            query.push(
                ") UPDATE demand_lines SET allocated = moved.allocated, inspected = moved.inspected, \
                 handed_over = moved.handed_over FROM moved WHERE demand_lines.id = moved.id",
            );
            query.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    let ending = next.ending().and_then(|e| serde_json::to_string(e).ok());
    let updated = on_tx!(&mut *tx, |conn| {
        sqlx::query(
            "UPDATE demands SET status = $1, ending = COALESCE($2, ending), version = version + 1, \
             updated_at = $3 WHERE id = $4 AND version = $5",
        )
        .bind(next.status().as_str())
        .bind(ending)
        .bind(now.as_millis())
        .bind(locked.id)
        .bind(locked.version)
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected())
    })?;
    if updated != 1 {
        return Err(StorageError::Conflict {
            message_zh: Some(format!(
                "需求 {} 在保存期间已被他人修改；请重新加载后再试",
                locked.id
            )),
            field: "version",
            message: format!(
                "demand {} changed while this was being saved; reload it and try again",
                locked.id
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use muster_domain::demand::LineShortfall;

    use super::*;

    /// Chinese text: at least one CJK ideograph.
    fn is_chinese(text: &str) -> bool {
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    /// The field path a problem starts with: `lines[0].quantity` of `lines[0].quantity: …`
    /// in English, of `lines[0].quantity：…` in Chinese.
    fn path_of<'a>(problem: &'a str, colon: &str) -> &'a str {
        problem.split_once(colon).map_or("", |(path, _)| path)
    }

    #[test]
    fn a_refused_transition_is_a_conflict_said_in_both_languages() {
        let refusals = [
            DemandRefusal::Finished {
                status: DemandStatus::Closed,
            },
            DemandRefusal::WrongStatus {
                action: "analyse",
                status: DemandStatus::Analysed,
                hint: "it has been analysed already",
            },
            DemandRefusal::WrongStatus {
                action: "allocate",
                status: DemandStatus::Received,
                hint: "analyse it first",
            },
            DemandRefusal::WrongStatus {
                action: "close",
                status: DemandStatus::Analysed,
                hint: "a demand closes once everything allocated is handed over",
            },
            DemandRefusal::NoQuantities { action: "allocate" },
            DemandRefusal::UnknownLine {
                action: "inspect",
                line: 7,
                lines: 2,
            },
            DemandRefusal::DuplicateLine {
                action: "release",
                line: 1,
            },
            DemandRefusal::ZeroQuantity {
                action: "hand_over",
                line: 0,
            },
            DemandRefusal::TooMuch {
                action: "allocate",
                line: 0,
                quantity: 9,
                room: 4,
            },
            DemandRefusal::Shortfall {
                shortfall: vec![LineShortfall {
                    line: 0,
                    missing: 3,
                }],
            },
            DemandRefusal::NoShortfall,
            DemandRefusal::WorkOutstanding,
            DemandRefusal::ReasonMissing { action: "cancel" },
            DemandRefusal::ReasonTooLong {
                action: "close_with_shortfall",
                length: 2001,
            },
            DemandRefusal::CorruptProgress { line: 3 },
        ];
        let mut said = HashSet::new();
        for refusal in refusals {
            let english = refusal.to_string();
            let StorageError::Conflict {
                field: "status",
                message,
                message_zh: Some(zh),
            } = refused_transition(refusal.clone())
            else {
                panic!("{refusal:?}: expected a conflict about the status said in Chinese");
            };
            assert_eq!(message, english, "the English stays as it was");
            assert!(is_chinese(&zh), "{refusal:?}: {zh}");
            // No English word left over: every status, action and hint is translated.
            assert!(
                !zh.chars().any(|c| c.is_ascii_alphabetic()),
                "{refusal:?}: {zh}"
            );
            assert!(said.insert(zh.clone()), "said twice: {zh}");
            for figure in ["7", "9", "4", "2001"] {
                if english.contains(figure) {
                    assert!(zh.contains(figure), "{refusal:?} loses {figure}: {zh}");
                }
            }
        }
    }

    #[test]
    fn every_problem_of_a_form_is_refused_in_both_languages_by_the_same_path() {
        let problems = [
            DemandProblem::TitleMissing,
            DemandProblem::TitleTooLong { length: 201 },
            DemandProblem::NoLines,
            DemandProblem::TooManyLines { count: 501 },
            DemandProblem::TypeMissing { line: 0 },
            DemandProblem::UnknownType {
                line: 1,
                code: "NO.SUCH".into(),
            },
            DemandProblem::BadQuantity { line: 2, found: 0 },
            DemandProblem::BadDeliveryPoint { line: 3 },
            DemandProblem::NeededByPassed { line: 4 },
            DemandProblem::BadPriority { line: 5, found: 9 },
        ];
        let StorageError::Refused {
            field: "demand",
            message,
            message_zh,
        } = refused_all("demand", &problems, DemandProblem::zh)
        else {
            panic!("expected a refusal of the demand");
        };
        let english: Vec<&str> = message.split("; ").collect();
        let chinese: Vec<&str> = message_zh.split('；').collect();
        assert_eq!(english.len(), problems.len(), "{message}");
        assert_eq!(chinese.len(), problems.len(), "{message_zh}");
        for (en, zh) in english.iter().zip(&chinese) {
            assert_eq!(path_of(en, ": "), path_of(zh, "："), "{en} / {zh}");
            assert!(!path_of(zh, "：").is_empty(), "{zh}");
            assert!(is_chinese(zh), "{zh}");
        }
        assert!(message_zh.contains("NO.SUCH") && message_zh.contains("实为 9"));

        let meeting = [
            MeetingProblem::HeldBeforeReceived,
            MeetingProblem::HeldInFuture,
            MeetingProblem::NoAttendees,
            MeetingProblem::TooManyAttendees,
            MeetingProblem::BadAttendeeName { index: 0 },
            MeetingProblem::BadAttendeeOrganization { index: 1 },
            MeetingProblem::DuplicateAttendee {
                index: 2,
                name: "李强".into(),
                organization: "军分区".into(),
            },
            MeetingProblem::NoMilitaryAttendee,
            MeetingProblem::NoDecisions,
            MeetingProblem::TooManyDecisions,
            MeetingProblem::BadDecision { index: 3 },
        ];
        let StorageError::Refused { message_zh, .. } =
            refused_all("meeting", &meeting, MeetingProblem::zh)
        else {
            panic!("expected a refusal of the meeting");
        };
        let chinese: Vec<&str> = message_zh.split('；').collect();
        assert_eq!(chinese.len(), meeting.len(), "{message_zh}");
        for (problem, zh) in meeting.iter().zip(&chinese) {
            assert_eq!(
                path_of(&problem.to_string(), ": "),
                path_of(zh, "："),
                "{zh}"
            );
            assert!(is_chinese(zh), "{zh}");
        }
    }
}
