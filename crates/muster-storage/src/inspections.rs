//! Inspections: a grid member's visit to a facility, checked against the kind's checklist,
//! stored with its attachments, turning each failed item into a rectification order, and
//! moving the facility's next due day — all in one transaction with one audit entry.
//!
//! A submission carries the phone's idempotency key: a retry after a lost response finds
//! the inspection the first attempt made and returns it, never a second one. On SQLite the
//! single writer serialises the look-up and the insert; on PostgreSQL two racing retries
//! collide on the unique index and the loser reads the winner's row.

use std::collections::HashSet;

use muster_domain::facility::{InspectionDraft, ItemAnswer, order_deadline};
use muster_domain::time::MILLIS_PER_DAY;
use muster_domain::{Actor, DataClass, Timestamp};
use serde::Serialize;

use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::facilities::{bind_reach, interval_at, may_inspect};

/// An uploaded file the inspection refers to, as the attachment store described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentInput {
    pub sha256: String,
    pub content_type: String,
    /// `image` or `video`.
    pub media_kind: String,
    pub size_bytes: i64,
    pub thumbnail_sha256: Option<String>,
}

/// Attachments per inspection, at most: a visit's photos, not an album.
pub const MAX_ATTACHMENTS: usize = 12;

/// The longest idempotency key: a phone sends a UUID.
const MAX_IDEMPOTENCY_KEY: usize = 100;

/// What became of a submission.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InspectionOutcome {
    pub inspection: Inspection,
    /// False when the key had already been used: this is the first attempt's inspection.
    pub created: bool,
    /// The orders this inspection issued (empty on a replay).
    pub orders_issued: Vec<i64>,
}

/// A stored inspection.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Inspection {
    pub id: i64,
    pub facility_id: i64,
    pub facility_name: String,
    pub region_path: String,
    pub inspector_user_id: i64,
    pub inspector: String,
    pub idempotency_key: String,
    pub inspected_at: i64,
    pub received_at: i64,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub distance_m: Option<f64>,
    pub far_from_facility: i64,
    pub answers: String,
    pub checklist: String,
    pub notes: String,
    pub failed_count: i64,
}

impl Inspection {
    pub fn answers(&self) -> Vec<ItemAnswer> {
        serde_json::from_str(&self.answers).unwrap_or_default()
    }

    pub fn checklist(&self) -> Option<muster_domain::facility::Checklist> {
        serde_json::from_str(&self.checklist).ok()
    }
}

/// A stored attachment of an inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Attachment {
    pub inspection_id: i64,
    pub sha256: String,
    pub content_type: String,
    pub media_kind: String,
    pub size_bytes: i64,
    pub thumbnail_sha256: Option<String>,
}

const INSPECTION_COLUMNS: &str = "i.id, i.facility_id, f.name AS facility_name, i.region_path, \
     i.inspector_user_id, u.username AS inspector, i.idempotency_key, i.inspected_at, i.received_at, \
     i.lat, i.lon, i.distance_m, i.far_from_facility, i.answers, i.checklist, i.notes, i.failed_count";

impl Database {
    /// Records an inspection of a facility the actor reaches (see the module docs).
    pub async fn record_inspection(
        &self,
        actor: &Actor,
        facility_id: i64,
        idempotency_key: &str,
        draft: &InspectionDraft,
        attachments: &[AttachmentInput],
        now: Timestamp,
    ) -> Result<InspectionOutcome, StorageError> {
        let Some(user_id) = actor.user_id() else {
            return Err(StorageError::forbidden(
                "an inspection is made by a signed-in user",
                "巡检须由已登录的用户进行",
            ));
        };
        if !may_inspect(actor) {
            return Err(StorageError::forbidden(
                "only grid members and staff record inspections",
                "只有网格员和工作人员才能记录巡检",
            ));
        }
        let key = idempotency_key.trim();
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
            return Err(StorageError::refused(
                "idempotency_key",
                format!("1 to {MAX_IDEMPOTENCY_KEY} characters, one per submission"),
                format!("提交标识应为 1 至 {MAX_IDEMPOTENCY_KEY} 个字符，每次提交各用一个"),
            ));
        }
        if let Some(existing) = self.inspection_by_key(user_id, key).await? {
            return Ok(InspectionOutcome {
                inspection: existing,
                created: false,
                orders_issued: Vec::new(),
            });
        }
        if attachments.len() > MAX_ATTACHMENTS {
            return Err(StorageError::refused(
                "attachments",
                format!("at most {MAX_ATTACHMENTS} attachments an inspection"),
                format!("每次巡检最多 {MAX_ATTACHMENTS} 个附件"),
            ));
        }
        let facility = self.facility(actor, facility_id).await?;
        let kind = facility.kind();
        let checklist = self.checklist(kind).await?;
        let checked = draft
            .check(&checklist, (facility.lat, facility.lon), now)
            .map_err(|problems| crate::error::refused_all("inspection", &problems, |p| p.zh()))?;
        let path = facility.region_path();
        let checklist_json = serde_json::to_string(&checklist).unwrap_or_default();
        let answers_json = serde_json::to_string(&draft.answers).unwrap_or_default();

        let mut tx = self.begin_write().await?;
        let inserted: Result<i64, sqlx::Error> = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO inspections (facility_id, region_path, inspector_user_id, idempotency_key, \
                 inspected_at, received_at, lat, lon, distance_m, far_from_facility, answers, checklist, notes, failed_count) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
            )
            .bind(facility_id)
            .bind(path.as_str())
            .bind(user_id)
            .bind(key)
            .bind(draft.inspected_at.as_millis())
            .bind(now.as_millis())
            .bind(draft.latitude)
            .bind(draft.longitude)
            .bind(checked.distance_m)
            .bind(i64::from(checked.far_from_facility))
            .bind(&answers_json)
            .bind(&checklist_json)
            .bind(draft.notes.trim())
            .bind(i64::try_from(checked.failed.len()).unwrap_or(i64::MAX))
            .fetch_one(&mut *conn)
            .await
        });
        let inspection_id = match inserted {
            Ok(id) => id,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                // A concurrent retry with the same key won the race: return its inspection.
                drop(tx);
                let existing = self.inspection_by_key(user_id, key).await?;
                return existing
                    .map(|inspection| InspectionOutcome {
                        inspection,
                        created: false,
                        orders_issued: Vec::new(),
                    })
                    .ok_or_else(|| StorageError::not_found("inspection", key));
            }
            Err(e) => return Err(e.into()),
        };
        for attachment in attachments {
            insert_attachment(&mut tx, inspection_id, attachment).await?;
        }
        let mut orders_issued = Vec::new();
        for code in &checked.failed {
            let Some(item) = checklist.item(code) else {
                continue;
            };
            if let Some(order_id) = issue_order(
                &mut tx,
                IssuedOrder {
                    facility_id,
                    inspection_id,
                    region_path: path.as_str(),
                    manager_organization_id: facility.manager_organization_id,
                    item_code: &item.code,
                    item_label: &item.label_zh,
                    deadline_day: order_deadline(item, draft.inspected_at).days_since_epoch(),
                },
                actor,
                now,
            )
            .await?
            {
                orders_issued.push(order_id);
            }
        }
        // The latest visit wins, whichever order the phones' submissions arrive in; computed in
        // the statement so that two inspections committing one after the other cannot lose one.
        let interval = interval_at(&mut tx, &path, kind).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE facilities SET \
                 last_inspected_at = CASE WHEN last_inspected_at IS NULL OR last_inspected_at < $1 THEN $1 ELSE last_inspected_at END, \
                 next_due_day = (CASE WHEN last_inspected_at IS NULL OR last_inspected_at < $1 THEN $1 ELSE last_inspected_at END) / $2 + $3, \
                 updated_at = $4 WHERE id = $5",
            )
            .bind(draft.inspected_at.as_millis())
            .bind(MILLIS_PER_DAY)
            .bind(i64::from(interval))
            .bind(now.as_millis())
            .bind(facility_id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "inspection",
                entity_id: inspection_id.to_string(),
                action: "record",
                region_path: &path,
                before: None,
                after: Some(serde_json::json!({
                    "facility_id": facility_id,
                    "idempotency_key": key,
                    "inspected_at": draft.inspected_at.as_millis(),
                    "failed": checked.failed,
                    "far_from_facility": checked.far_from_facility,
                    "attachments": attachments.iter().map(|a| a.sha256.as_str()).collect::<Vec<_>>(),
                    "orders_issued": orders_issued,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        let inspection = self.inspection(actor, inspection_id).await?;
        Ok(InspectionOutcome {
            inspection,
            created: true,
            orders_issued,
        })
    }

    async fn inspection_by_key(
        &self,
        user_id: i64,
        key: &str,
    ) -> Result<Option<Inspection>, StorageError> {
        let sql = format!(
            "SELECT {INSPECTION_COLUMNS} FROM inspections i JOIN facilities f ON f.id = i.facility_id \
             JOIN users u ON u.id = i.inspector_user_id WHERE i.inspector_user_id = $1 AND i.idempotency_key = $2"
        );
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(user_id)
                .bind(key)
                .fetch_optional(pool)
                .await
        })?)
    }

    /// One inspection of a facility the actor reaches.
    pub async fn inspection(&self, actor: &Actor, id: i64) -> Result<Inspection, StorageError> {
        let reach = self.facility_reach(actor).await?;
        let (filter, binds) = reach.filter(2);
        let sql = format!(
            "SELECT {INSPECTION_COLUMNS} FROM inspections i JOIN facilities f ON f.id = i.facility_id \
             JOIN users u ON u.id = i.inspector_user_id WHERE i.id = $1 AND {filter}"
        );
        let found: Option<Inspection> = on_read_pool!(self, |pool| {
            bind_reach!(
                sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id),
                binds
            )
            .fetch_optional(pool)
            .await
        })?;
        found.ok_or_else(|| StorageError::not_found("inspection", id))
    }

    /// The latest inspections of a facility the actor reaches, newest first.
    pub async fn facility_inspections(
        &self,
        actor: &Actor,
        facility_id: i64,
        limit: i64,
    ) -> Result<Vec<Inspection>, StorageError> {
        let reach = self.facility_reach(actor).await?;
        let (filter, binds) = reach.filter(2);
        let sql = format!(
            "SELECT {INSPECTION_COLUMNS} FROM inspections i JOIN facilities f ON f.id = i.facility_id \
             JOIN users u ON u.id = i.inspector_user_id WHERE i.facility_id = $1 AND {filter} \
             ORDER BY i.inspected_at DESC, i.id DESC LIMIT $6"
        );
        Ok(on_read_pool!(self, |pool| {
            bind_reach!(
                sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(facility_id),
                binds
            )
            .bind(limit.clamp(1, 500))
            .fetch_all(pool)
            .await
        })?)
    }

    /// The attachments of an inspection the actor reaches.
    pub async fn inspection_attachments(
        &self,
        actor: &Actor,
        inspection_id: i64,
    ) -> Result<Vec<Attachment>, StorageError> {
        self.inspection(actor, inspection_id).await?;
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT inspection_id, sha256, content_type, media_kind, size_bytes, thumbnail_sha256 \
                 FROM inspection_attachments WHERE inspection_id = $1 ORDER BY sha256",
            )
            .bind(inspection_id)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Whether the actor may see the file with this hash: it is attached to an inspection
    /// of a facility they reach, is evidence on an order they reach, or is a photo of an
    /// on-site verification finding they may read (the sample and the record in their
    /// subtree, as `verification_items` reads them, and a person's holding only with the
    /// personal-data class). The web layer asks before it serves a blob.
    pub async fn may_see_blob(&self, actor: &Actor, sha256: &str) -> Result<bool, StorageError> {
        // Only a hash can name a file: anything else sees nothing, without a query.
        if !crate::ContentHash::is_canonical(sha256) {
            return Ok(false);
        }
        let reach = self.facility_reach(actor).await?;
        let (filter, binds) = reach.filter(2);
        // Each kind of reference is an index look-up by hash: `inspection_attachments_sha`,
        // `order_evidence_photos_sha256` (migration 0013), `verification_photos_sha256` (0011).
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM inspection_attachments a JOIN inspections i ON i.id = a.inspection_id \
               JOIN facilities f ON f.id = i.facility_id WHERE a.sha256 = $1 AND {filter}) \
             OR EXISTS (SELECT 1 FROM order_evidence_photos e \
               JOIN rectification_orders o ON o.id = e.order_id \
               JOIN facilities f ON f.id = o.facility_id WHERE e.sha256 = $1 AND {filter}) \
             OR EXISTS (SELECT 1 FROM verification_photos p \
               JOIN verification_items v ON v.sample_id = p.sample_id AND v.record_id = p.record_id \
               JOIN verification_samples s ON s.id = v.sample_id \
               JOIN potential_records r ON r.id = v.record_id \
               WHERE p.sha256 = $1 AND v.region_path >= $6 AND v.region_path < $7 \
               AND s.region_path >= $6 AND s.region_path < $7 \
               AND (r.holder_kind <> 'person' OR $8 = 1))"
        );
        let personal_data = i64::from(actor.scope().allows(DataClass::PersonalData));
        let (low, high) = actor.scope().subtree().subtree_range();
        let visible: bool = on_read_pool!(self, |pool| {
            bind_reach!(
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str())).bind(sha256),
                binds
            )
            .bind(&low)
            .bind(&high)
            .bind(personal_data)
            .fetch_one(pool)
            .await
        })?;
        Ok(visible)
    }
}

/// The columns that name stored blobs: by hash alone, or within a JSON text.
const BLOB_REFERENCES: [&str; 4] = [
    "SELECT sha256 FROM inspection_attachments",
    "SELECT evidence FROM rectification_orders",
    "SELECT photos FROM demand_inspections",
    "SELECT photos FROM verification_items WHERE photos IS NOT NULL",
];

impl Database {
    /// Every blob hash a record names: the attachments of inspections, the evidence of
    /// rectification orders, the photos of demand inspections and of verification findings.
    /// What the attachment store's sweep of unreferenced blobs must keep.
    pub async fn referenced_blob_hashes(&self) -> Result<HashSet<String>, StorageError> {
        let mut hashes = HashSet::new();
        for sql in BLOB_REFERENCES {
            let texts: Vec<String> =
                on_read_pool!(self, |pool| sqlx::query_scalar(sql).fetch_all(pool).await)?;
            for text in &texts {
                hashes.extend(hashes_in(text).map(str::to_owned));
            }
        }
        Ok(hashes)
    }
}

/// The blob names (64 lowercase hex digits, standing alone) in a text: a bare hash, or a JSON
/// list or object that holds some.
fn hashes_in(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|token| crate::ContentHash::is_canonical(token))
}

async fn insert_attachment(
    tx: &mut WriteTx,
    inspection_id: i64,
    attachment: &AttachmentInput,
) -> Result<(), StorageError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO inspection_attachments (inspection_id, sha256, content_type, media_kind, size_bytes, thumbnail_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(inspection_id)
        .bind(&attachment.sha256)
        .bind(&attachment.content_type)
        .bind(&attachment.media_kind)
        .bind(attachment.size_bytes)
        .bind(&attachment.thumbnail_sha256)
        .execute(&mut *conn)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// An order to issue for one failed item.
pub(crate) struct IssuedOrder<'a> {
    pub facility_id: i64,
    pub inspection_id: i64,
    pub region_path: &'a str,
    pub manager_organization_id: Option<i64>,
    pub item_code: &'a str,
    pub item_label: &'a str,
    pub deadline_day: i64,
}

/// Issues an order unless the facility already has an open one for the same item: a door
/// seal found failing on two visits is one repair, not two. Returns the new order's id.
pub(crate) async fn issue_order(
    tx: &mut WriteTx,
    order: IssuedOrder<'_>,
    actor: &Actor,
    now: Timestamp,
) -> Result<Option<i64>, StorageError> {
    let open: Option<i64> = on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "SELECT id FROM rectification_orders WHERE facility_id = $1 AND item_code = $2 \
             AND status IN ('issued', 'acknowledged', 'repaired', 'sent_back')",
        )
        .bind(order.facility_id)
        .bind(order.item_code)
        .fetch_optional(&mut *conn)
        .await
    })?;
    if open.is_some() {
        return Ok(None);
    }
    let id: i64 = on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "INSERT INTO rectification_orders (facility_id, inspection_id, region_path, manager_organization_id, \
             item_code, item_label, status, deadline_day, issued_at, updated_at, evidence) \
             VALUES ($1, $2, $3, $4, $5, $6, 'issued', $7, $8, $8, '[]') RETURNING id",
        )
        .bind(order.facility_id)
        .bind(order.inspection_id)
        .bind(order.region_path)
        .bind(order.manager_organization_id)
        .bind(order.item_code)
        .bind(order.item_label)
        .bind(order.deadline_day)
        .bind(now.as_millis())
        .fetch_one(&mut *conn)
        .await
    })?;
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO order_events (order_id, action, actor, at, status_after, detail) VALUES ($1, 'issue', $2, $3, 'issued', $4)",
        )
        .bind(id)
        .bind(actor.name())
        .bind(now.as_millis())
        .bind(format!("inspection {}", order.inspection_id))
        .execute(&mut *conn)
        .await
        .map(|_| ())
    })?;
    Ok(Some(id))
}
