//! On-site inspection, signed handover and cancellation: the steps after an allocation is
//! accepted, each moving both the demand and the reserved records.
//!
//! * An **inspection** of one allocation is final for it: the units accepted on site are
//!   inspected (the `inspect` event), the rest of the allocation is released (`release`) and
//!   leaves the record's reservation, so the record can serve another line.
//! * A **handover** takes inspected units out of the records: `quantity` and
//!   `reserved_quantity` both fall by the units handed over, so they leave the available
//!   stock and the roll-ups; a record with nothing left is `handed_over`, one with nothing
//!   reserved is `available` again.
//! * **Cancelling** releases every unit still reserved.

use std::collections::{BTreeMap, HashMap};

use muster_domain::demand::{DemandEvent, LineQuantity, MAX_REASON_CHARS};
use muster_domain::potential::RecordStatus;
use muster_domain::potential::rollup::RollupDeltas;
use muster_domain::{Actor, Timestamp};
use serde::{Deserialize, Serialize};

use super::allocation::lock_records;
use super::{LockedDemand, apply_event, lock_demand, may_fulfil, may_take_part, store_progress};
use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_tx};
use crate::error::StorageError;
use crate::potential::{PotentialRecord, apply_totals, figures};

/// What the inspector found the resources in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectionCondition {
    /// Fit for the task as they are.
    Good,
    /// Usable with minor defects, noted.
    Fair,
    /// Not fit: nothing of this allocation can be accepted.
    Unfit,
}

impl InspectionCondition {
    pub const ALL: [InspectionCondition; 3] = [Self::Good, Self::Fair, Self::Unfit];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Fair => "fair",
            Self::Unfit => "unfit",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text.trim())
    }
}

/// Photos per inspection, at most.
pub const MAX_PHOTOS: usize = 12;

/// An inspection of one allocation as the form sends it.
#[derive(Debug, Clone)]
pub struct InspectionInput {
    pub allocation_id: i64,
    pub condition: InspectionCondition,
    pub quantity_seen: i64,
    pub quantity_accepted: i64,
    /// SHA-256 (hex) of each photo, as the attachment store named it.
    pub photos: Vec<String>,
    pub notes: String,
}

/// Units of one allocation in a handover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverItemInput {
    pub allocation_id: i64,
    pub quantity: i64,
}

/// A handover record: what was handed over, and both sides' sign-off.
#[derive(Debug, Clone)]
pub struct HandoverInput {
    pub items: Vec<HandoverItemInput>,
    pub handed_at: Timestamp,
    /// Who signs for the side that hands over (the office or the holder).
    pub supplier_signatory: String,
    pub supplier_signed_at: Timestamp,
    /// Who signs for the side that receives (the unit that asked).
    pub receiver_signatory: String,
    pub receiver_signed_at: Timestamp,
    pub notes: String,
}

/// The longest signatory name.
const MAX_SIGNATORY_CHARS: usize = 100;

/// An allocation row as the write paths need it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct AllocationRow {
    id: i64,
    line_id: i64,
    record_id: i64,
    quantity: i64,
    inspected: i64,
    released: i64,
    handed_over: i64,
}

impl Database {
    /// Records the on-site inspection of one allocation (see the module docs).
    pub async fn inspect_allocation(
        &self,
        actor: &Actor,
        demand_id: i64,
        input: InspectionInput,
    ) -> Result<super::DemandView, StorageError> {
        if !may_fulfil(actor) {
            return Err(StorageError::forbidden(
                "only office staff and administrators record inspections",
                "只有动员办工作人员和系统管理员才能记录现场查验",
            ));
        }
        if input.photos.len() > MAX_PHOTOS {
            return Err(StorageError::Refused {
                field: "photos",
                message: format!("at most {MAX_PHOTOS} photos per inspection"),
                message_zh: format!("每次查验最多 {MAX_PHOTOS} 张照片"),
            });
        }
        for (index, photo) in input.photos.iter().enumerate() {
            if !crate::ContentHash::is_canonical(photo) {
                return Err(StorageError::Refused {
                    field: "photos",
                    message: format!(
                        "photos[{index}]: expected the SHA-256 of an uploaded photo, 64 lowercase hex digits"
                    ),
                    message_zh: format!(
                        "photos[{index}]：应为已上传照片的 SHA-256，即 64 位小写十六进制数字"
                    ),
                });
            }
        }
        if input.quantity_seen < 0 {
            return Err(StorageError::Refused {
                field: "quantity_seen",
                message: "the quantity seen cannot be negative".into(),
                message_zh: "现场清点数量不能为负".into(),
            });
        }
        if input.quantity_accepted < 0 || input.quantity_accepted > input.quantity_seen {
            return Err(StorageError::Refused {
                field: "quantity_accepted",
                message: format!("accept from 0 to the {} seen on site", input.quantity_seen),
                message_zh: format!("验收数量应为 0 至现场清点的 {}", input.quantity_seen),
            });
        }
        if input.condition == InspectionCondition::Unfit && input.quantity_accepted > 0 {
            return Err(StorageError::Refused {
                field: "quantity_accepted",
                message: "resources found unfit cannot be accepted; accept 0".into(),
                message_zh: "查验为不可用的资源不能验收；验收数量请填 0".into(),
            });
        }
        let notes = check_text("notes", &input.notes, MAX_REASON_CHARS)?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let locked = lock_demand(&mut tx, actor.scope(), demand_id).await?;
        let allocation = allocation_row(&mut tx, demand_id, input.allocation_id).await?;
        let open = allocation.quantity - allocation.inspected - allocation.released;
        if open <= 0 {
            return Err(StorageError::Conflict {
                message_zh: Some(format!("分配 {} 已经查验过", input.allocation_id)),
                field: "allocation_id",
                message: format!(
                    "allocation {} has been inspected already",
                    input.allocation_id
                ),
            });
        }
        let accepted = input.quantity_accepted.min(open);
        let released = open - accepted;
        let line_no = line_no_of(&locked, allocation.line_id)?;
        let mut next = locked.demand.clone();
        if released > 0 {
            next = apply_on(
                &locked,
                &next,
                &DemandEvent::Release {
                    quantities: vec![LineQuantity {
                        line: line_no,
                        quantity: released as u64,
                    }],
                },
            )?;
        }
        if accepted > 0 {
            next = apply_on(
                &locked,
                &next,
                &DemandEvent::Inspect {
                    quantities: vec![LineQuantity {
                        line: line_no,
                        quantity: accepted as u64,
                    }],
                },
            )?;
        }
        let photos = serde_json::to_string(&input.photos).unwrap_or_else(|_| "[]".into());
        let inspection_id: i64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO demand_inspections (demand_id, allocation_id, condition, quantity_seen, \
                 quantity_accepted, photos, notes, inspector_name, inspected_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(demand_id)
            .bind(allocation.id)
            .bind(input.condition.as_str())
            .bind(input.quantity_seen)
            .bind(accepted)
            .bind(&photos)
            .bind(&notes)
            .bind(actor.name())
            .bind(now.as_millis())
            .fetch_one(&mut *conn)
            .await
        })
        .map_err(|e| {
            StorageError::unique_said(e, "allocation_id", || {
                (
                    format!("allocation {} has been inspected already", allocation.id),
                    format!("分配 {} 已经查验过", allocation.id),
                )
            })
        })?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE demand_allocations SET inspected = inspected + $1, released = released + $2 WHERE id = $3",
            )
            .bind(accepted)
            .bind(released)
            .bind(allocation.id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        if released > 0 {
            let mut changes = BTreeMap::new();
            changes.insert(allocation.record_id, (-(released as f64), 0.0));
            adjust_records(&mut tx, &changes, now).await?;
        }
        store_progress(&mut tx, &locked, &next, now).await?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "demand",
                entity_id: demand_id.to_string(),
                action: "inspect",
                region_path: &locked.region_path,
                before: Some(serde_json::json!({ "status": locked.demand.status() })),
                after: Some(serde_json::json!({
                    "status": next.status(),
                    "inspection_id": inspection_id,
                    "allocation_id": allocation.id,
                    "record_id": allocation.record_id,
                    "condition": input.condition,
                    "quantity_seen": input.quantity_seen,
                    "accepted": accepted,
                    "released": released,
                    "photos": input.photos,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.demand(actor.scope(), demand_id).await
    }

    /// Records a handover signed by both sides (see the module docs).
    pub async fn record_handover(
        &self,
        actor: &Actor,
        demand_id: i64,
        input: HandoverInput,
    ) -> Result<super::DemandView, StorageError> {
        if !may_take_part(actor) {
            return Err(StorageError::forbidden(
                "only office staff, military liaisons and administrators record handovers",
                "只有动员办工作人员、军事联络员和系统管理员才能记录交接",
            ));
        }
        if input.items.is_empty() {
            return Err(StorageError::Refused {
                field: "items",
                message: "list at least one allocation and quantity handed over".into(),
                message_zh: "请至少列出一项分配及其交接数量".into(),
            });
        }
        let supplier = check_text(
            "supplier_signatory",
            &input.supplier_signatory,
            MAX_SIGNATORY_CHARS,
        )?;
        let receiver = check_text(
            "receiver_signatory",
            &input.receiver_signatory,
            MAX_SIGNATORY_CHARS,
        )?;
        if supplier.is_empty() {
            return Err(StorageError::Refused {
                field: "supplier_signatory",
                message: "the handing side must sign: give the signatory's name".into(),
                message_zh: "移交方须签字：请填写签字人姓名".into(),
            });
        }
        if receiver.is_empty() {
            return Err(StorageError::Refused {
                field: "receiver_signatory",
                message: "the receiving side must sign: give the signatory's name".into(),
                message_zh: "接收方须签字：请填写签字人姓名".into(),
            });
        }
        let notes = check_text("notes", &input.notes, MAX_REASON_CHARS)?;
        let now = crate::now();
        for (field, at) in [
            ("handed_at", input.handed_at),
            ("supplier_signed_at", input.supplier_signed_at),
            ("receiver_signed_at", input.receiver_signed_at),
        ] {
            if at > now.plus_millis(5 * 60_000) {
                return Err(StorageError::Refused {
                    field,
                    message: "a handover is recorded after it happens; the time is in the future"
                        .into(),
                    message_zh: "交接完成后才能记录；所填时间尚未到来".into(),
                });
            }
        }
        let mut tx = self.begin_write().await?;
        let locked = lock_demand(&mut tx, actor.scope(), demand_id).await?;
        let mut per_line: BTreeMap<usize, u64> = BTreeMap::new();
        let mut changes: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        let mut rows = Vec::with_capacity(input.items.len());
        for (index, item) in input.items.iter().enumerate() {
            let allocation = allocation_row(&mut tx, demand_id, item.allocation_id).await?;
            let room = allocation.inspected - allocation.handed_over;
            if item.quantity <= 0 || item.quantity > room {
                return Err(StorageError::Refused {
                    field: "items",
                    message: format!(
                        "items[{index}]: allocation {} has {room} inspected and not yet handed over; hand over 1 to {room}",
                        item.allocation_id
                    ),
                    message_zh: format!(
                        "items[{index}]：分配 {} 已查验未交接的数量为 {room}；交接数量应为 1 至 {room}",
                        item.allocation_id
                    ),
                });
            }
            if rows.iter().any(|r: &AllocationRow| r.id == allocation.id) {
                return Err(StorageError::Refused {
                    field: "items",
                    message: format!(
                        "items[{index}]: allocation {} is listed twice",
                        item.allocation_id
                    ),
                    message_zh: format!("items[{index}]：分配 {} 列出了两次", item.allocation_id),
                });
            }
            *per_line
                .entry(line_no_of(&locked, allocation.line_id)?)
                .or_default() += item.quantity as u64;
            let entry = changes.entry(allocation.record_id).or_insert((0.0, 0.0));
            entry.0 -= item.quantity as f64;
            entry.1 -= item.quantity as f64;
            rows.push(allocation);
        }
        let next = apply_event(
            &locked,
            &DemandEvent::HandOver {
                quantities: per_line
                    .iter()
                    .map(|(&line, &quantity)| LineQuantity { line, quantity })
                    .collect(),
            },
        )?;
        let handover_id: i64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO demand_handovers (demand_id, handed_at, supplier_signatory, supplier_signed_at, \
                 receiver_signatory, receiver_signed_at, notes, recorded_by_name, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(demand_id)
            .bind(input.handed_at.as_millis())
            .bind(&supplier)
            .bind(input.supplier_signed_at.as_millis())
            .bind(&receiver)
            .bind(input.receiver_signed_at.as_millis())
            .bind(&notes)
            .bind(actor.name())
            .bind(now.as_millis())
            .fetch_one(&mut *conn)
            .await
        })?;
        for item in &input.items {
            on_tx!(&mut tx, |conn| {
                sqlx::query(
                    "INSERT INTO demand_handover_items (handover_id, allocation_id, quantity) VALUES ($1, $2, $3)",
                )
                .bind(handover_id)
                .bind(item.allocation_id)
                .bind(item.quantity)
                .execute(&mut *conn)
                .await
                .map(|_| ())
            })?;
            on_tx!(&mut tx, |conn| {
                sqlx::query(
                    "UPDATE demand_allocations SET handed_over = handed_over + $1 WHERE id = $2",
                )
                .bind(item.quantity)
                .bind(item.allocation_id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
            })?;
        }
        adjust_records(&mut tx, &changes, now).await?;
        store_progress(&mut tx, &locked, &next, now).await?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "demand",
                entity_id: demand_id.to_string(),
                action: "hand_over",
                region_path: &locked.region_path,
                before: Some(serde_json::json!({ "status": locked.demand.status() })),
                after: Some(serde_json::json!({
                    "status": next.status(),
                    "handover_id": handover_id,
                    "items": input.items,
                    "handed_at": input.handed_at.as_millis(),
                    "supplier_signatory": supplier,
                    "supplier_signed_at": input.supplier_signed_at.as_millis(),
                    "receiver_signatory": receiver,
                    "receiver_signed_at": input.receiver_signed_at.as_millis(),
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.demand(actor.scope(), demand_id).await
    }
}

/// Cancels the demand and releases every unit its allocations still reserve.
pub(super) async fn cancel(
    db: &Database,
    actor: &Actor,
    demand_id: i64,
    reason: &str,
) -> Result<(), StorageError> {
    let now = crate::now();
    let mut tx = db.begin_write().await?;
    let locked = lock_demand(&mut tx, actor.scope(), demand_id).await?;
    let event = DemandEvent::Cancel {
        reason: reason.to_owned(),
    };
    let next = apply_event(&locked, &event)?;
    let allocations: Vec<AllocationRow> = on_tx!(&mut tx, |conn| {
        sqlx::query_as(
            "SELECT id, line_id, record_id, quantity, inspected, released, handed_over \
             FROM demand_allocations WHERE demand_id = $1 ORDER BY id",
        )
        .bind(demand_id)
        .fetch_all(&mut *conn)
        .await
    })?;
    let mut changes: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    let mut released_units = 0;
    for allocation in &allocations {
        // Reserved and not handed over: neither released nor gone.
        let held = allocation.quantity - allocation.released - allocation.handed_over;
        if held <= 0 {
            continue;
        }
        released_units += held;
        changes.entry(allocation.record_id).or_insert((0.0, 0.0)).0 -= held as f64;
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE demand_allocations SET released = released + $1 WHERE id = $2")
                .bind(held)
                .bind(allocation.id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
    }
    adjust_records(&mut tx, &changes, now).await?;
    // The lines keep their progress as it stood: the demand's history says what was done.
    store_progress(&mut tx, &locked, &next, now).await?;
    tx.audit(
        actor,
        now,
        AuditEvent {
            entity: "demand",
            entity_id: demand_id.to_string(),
            action: "cancel",
            region_path: &locked.region_path,
            before: Some(serde_json::json!({ "status": locked.demand.status() })),
            after: Some(serde_json::json!({
                "status": next.status(),
                "ending": next.ending(),
                "released_units": released_units,
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn apply_on(
    locked: &LockedDemand,
    current: &muster_domain::demand::Demand,
    event: &DemandEvent,
) -> Result<muster_domain::demand::Demand, StorageError> {
    let _ = locked;
    muster_domain::demand::transition(current, event).map_err(super::refused_transition)
}

fn line_no_of(locked: &LockedDemand, line_id: i64) -> Result<usize, StorageError> {
    locked
        .lines
        .iter()
        .find(|l| l.id == line_id)
        .map(|l| l.line_no as usize)
        .ok_or_else(|| StorageError::not_found("demand line", line_id))
}

async fn allocation_row(
    tx: &mut WriteTx,
    demand_id: i64,
    allocation_id: i64,
) -> Result<AllocationRow, StorageError> {
    let found: Option<AllocationRow> = on_tx!(&mut *tx, |conn| {
        sqlx::query_as(
            "SELECT id, line_id, record_id, quantity, inspected, released, handed_over \
             FROM demand_allocations WHERE id = $1 AND demand_id = $2",
        )
        .bind(allocation_id)
        .bind(demand_id)
        .fetch_optional(&mut *conn)
        .await
    })?;
    found.ok_or_else(|| StorageError::not_found("allocation", allocation_id))
}

fn check_text(field: &'static str, text: &str, max: usize) -> Result<String, StorageError> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(StorageError::Refused {
            field,
            message: format!("keep it to {max} characters"),
            message_zh: format!("最多 {max} 个字符"),
        });
    }
    Ok(text.to_owned())
}

/// The status a record managed by demands has after its reservation or quantity changed:
/// `allocated` while anything is reserved, `handed_over` once nothing is left, else
/// `available`.
fn status_after(quantity: f64, reserved: f64) -> RecordStatus {
    if reserved > 0.0 {
        RecordStatus::Allocated
    } else if quantity <= 0.0 {
        RecordStatus::HandedOver
    } else {
        RecordStatus::Available
    }
}

/// How far below zero a handover may take a record's quantity before it is refused: float
/// noise only, as units are whole.
const HANDOVER_SLACK: f64 = 1e-9;

/// Applies (reserved delta, quantity delta) to each record, moves its status, and keeps the
/// roll-ups in step, in the caller's transaction.
async fn adjust_records(
    tx: &mut WriteTx,
    changes: &BTreeMap<i64, (f64, f64)>,
    now: Timestamp,
) -> Result<(), StorageError> {
    if changes.is_empty() {
        return Ok(());
    }
    let records: HashMap<i64, PotentialRecord> = lock_records(tx, changes.keys().copied()).await?;
    let mut deltas = RollupDeltas::new();
    for (&record_id, &(reserved_delta, quantity_delta)) in changes {
        let Some(before) = records.get(&record_id) else {
            return Err(StorageError::not_found("potential record", record_id));
        };
        let reserved_before: f64 = on_tx!(&mut *tx, |conn| {
            sqlx::query_scalar("SELECT reserved_quantity FROM potential_records WHERE id = $1")
                .bind(record_id)
                .fetch_one(&mut *conn)
                .await
        })?;
        let reserved = (reserved_before + reserved_delta).max(0.0);
        // A verification may have found fewer units than were reserved (it records what was
        // seen; `verification.rs`). Units the record no longer holds cannot leave it: the
        // handover is refused by name rather than emptying the record silently.
        let taken = -quantity_delta;
        if taken > before.quantity + HANDOVER_SLACK {
            return Err(StorageError::Refused {
                field: "items",
                message: format!(
                    "record {record_id} now holds {} units, fewer than the {taken} to be handed over \
                     (a verification corrected it after it was reserved); hand over at most {} of it, \
                     and close the rest of the line short or allocate elsewhere",
                    before.quantity,
                    before.quantity.floor()
                ),
                message_zh: format!(
                    "记录 {record_id} 现有 {} 个单位，少于本次交接的 {taken} 个（预留后经核查更正）；\
                     该记录至多交接 {} 个，其余请缺额结案或另行分配",
                    before.quantity,
                    before.quantity.floor()
                ),
            });
        }
        let quantity = (before.quantity + quantity_delta).max(0.0);
        let status = status_after(quantity, reserved);
        let after: PotentialRecord = on_tx!(&mut *tx, |conn| {
            sqlx::query_as(
                "UPDATE potential_records SET reserved_quantity = $1, quantity = $2, status = $3, \
                 updated_at = $4 WHERE id = $5 RETURNING *",
            )
            .bind(reserved)
            .bind(quantity)
            .bind(status.as_str())
            .bind(now.as_millis())
            .bind(record_id)
            .fetch_one(&mut *conn)
            .await
        })?;
        let (before_path, after_path) = (before.region_path(), after.region_path());
        deltas.update(
            &figures(before, &before_path),
            &figures(&after, &after_path),
        );
    }
    apply_totals(tx, &deltas.into_changes()).await
}
