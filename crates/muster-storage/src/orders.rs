//! Rectification orders: what a property manager must repair by a date, and the office that
//! checks it. The state machine is the domain's ([`OrderStatus::apply`]); here it runs with a
//! compare-and-set on the stored status, a history row and an audit entry per action.
//!
//! A property manager acts with an account of their own (the property-manager role, in an
//! organization the facility names as its manager) or through a link: a random secret whose
//! SHA-256 is stored with an expiry, that opens exactly one order.
//!
//! [`Database::sweep_orders`] is the scheduler's work: reminders before the deadline and
//! escalation to the level above once it has passed, recorded as notifications in the same
//! transaction as their audit entry; the web layer hands them to the configured notifier.

use muster_domain::facility::{
    OrderAction, OrderParty, OrderStatus, Reminder, is_overdue, reminder_due,
};
use muster_domain::time::CivilDate;
use muster_domain::{Actor, RegionPath, Timestamp};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::QueryBuilder;

use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::facilities::{FacilityReach, bind_reach, may_inspect};

/// A rectification order as its readers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RectificationOrder {
    pub id: i64,
    pub facility_id: i64,
    pub facility_name: String,
    pub inspection_id: Option<i64>,
    pub region_path: String,
    pub manager_organization_id: Option<i64>,
    pub manager_name: Option<String>,
    pub item_code: String,
    pub item_label: String,
    pub status: String,
    pub deadline_day: i64,
    pub issued_at: i64,
    pub updated_at: i64,
    pub last_reminder: Option<String>,
    pub escalated_at: Option<i64>,
    pub escalated_to_path: Option<String>,
    pub repair_note: Option<String>,
    pub evidence: String,
    pub send_back_reason: Option<String>,
}

impl RectificationOrder {
    pub fn status(&self) -> OrderStatus {
        OrderStatus::parse(&self.status).unwrap_or(OrderStatus::Issued)
    }

    pub fn deadline(&self) -> CivilDate {
        CivilDate::from_days(self.deadline_day)
    }

    pub fn is_overdue(&self, now: Timestamp) -> bool {
        is_overdue(self.status(), self.deadline(), now)
    }

    /// The checksums of the repair's photos.
    pub fn evidence(&self) -> Vec<String> {
        serde_json::from_str(&self.evidence).unwrap_or_default()
    }

    fn region_path(&self) -> RegionPath {
        RegionPath::parse(&self.region_path).unwrap_or_else(RegionPath::root)
    }
}

/// One step in an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OrderEvent {
    pub id: i64,
    pub action: String,
    pub actor: String,
    pub at: i64,
    pub status_after: String,
    pub detail: String,
}

/// An order as its page shows it: the order, its history, and the photos of repair reports
/// sent back before the latest, which stay on record beside it.
#[derive(Debug, Clone)]
pub struct OrderHistory {
    pub order: RectificationOrder,
    pub events: Vec<OrderEvent>,
    /// Hashes of the evidence of earlier repair reports that the latest does not repeat.
    pub earlier_evidence: Vec<String>,
}

/// Which orders to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderFilter {
    /// Not yet verified or closed.
    #[default]
    Open,
    /// Open and past the deadline.
    Overdue,
    All,
}

/// A notification recorded for someone: shown in the app, and handed to the notifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub region_path: String,
    pub organization_id: Option<i64>,
    pub kind: String,
    pub subject_id: Option<i64>,
    pub message: String,
    pub channel: String,
    pub created_at: i64,
}

const ORDER_COLUMNS: &str = "o.id, o.facility_id, f.name AS facility_name, o.inspection_id, o.region_path, \
     o.manager_organization_id, m.name AS manager_name, o.item_code, o.item_label, o.status, o.deadline_day, \
     o.issued_at, o.updated_at, o.last_reminder, o.escalated_at, o.escalated_to_path, o.repair_note, \
     o.evidence, o.send_back_reason";

const ORDER_FROM: &str = "rectification_orders o JOIN facilities f ON f.id = o.facility_id \
     LEFT JOIN organizations m ON m.id = o.manager_organization_id";

/// How long an order link works unless the office says otherwise.
pub const DEFAULT_LINK_DAYS: u32 = 30;

/// Orders the sweep looks at per pass; the next pass takes the rest.
const SWEEP_BATCH: i64 = 5_000;

/// Two columns an evidence photo; far under SQLite's bound-parameter limit. The web layer
/// sends at most `MAX_ATTACHMENTS`, but the domain sets no bound.
const EVIDENCE_PHOTOS_PER_INSERT: usize = 1_000;

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Database {
    /// The orders the actor reaches, in a region of their scope, most urgent first.
    pub async fn orders(
        &self,
        actor: &Actor,
        region_code: Option<&str>,
        filter: OrderFilter,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<RectificationOrder>, StorageError> {
        let reach = self.narrowed_reach(actor, region_code).await?;
        let (reach_sql, binds) = reach.filter(1);
        let condition = match filter {
            OrderFilter::Open => "o.status IN ('issued', 'acknowledged', 'repaired', 'sent_back')",
            OrderFilter::Overdue => {
                "o.status IN ('issued', 'acknowledged', 'sent_back') AND o.deadline_day < $5"
            }
            OrderFilter::All => "$5 = $5",
        };
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.region_path >= $1 AND o.region_path < $2 \
             AND {reach_sql} AND {condition} ORDER BY o.deadline_day, o.id LIMIT $6"
        );
        Ok(on_read_pool!(self, |pool| {
            bind_reach!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), binds)
                .bind(now.date().days_since_epoch())
                .bind(limit.clamp(1, 1000))
                .fetch_all(pool)
                .await
        })?)
    }

    /// The orders of one facility the actor reaches, newest first.
    pub async fn facility_orders(
        &self,
        actor: &Actor,
        facility_id: i64,
        limit: i64,
    ) -> Result<Vec<RectificationOrder>, StorageError> {
        let reach = self.facility_reach(actor).await?;
        let (filter, binds) = reach.filter(1);
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.facility_id = $5 AND {filter} \
             ORDER BY o.id DESC LIMIT $6"
        );
        Ok(on_read_pool!(self, |pool| {
            bind_reach!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), binds)
                .bind(facility_id)
                .bind(limit.clamp(1, 1000))
                .fetch_all(pool)
                .await
        })?)
    }

    /// One order the actor reaches, with its history.
    pub async fn order(&self, actor: &Actor, id: i64) -> Result<OrderHistory, StorageError> {
        let reach = self.facility_reach(actor).await?;
        let order = self.order_in_reach(&reach, id).await?;
        self.history_of(order).await
    }

    /// The order with its events and the evidence of its earlier repair reports.
    async fn history_of(&self, order: RectificationOrder) -> Result<OrderHistory, StorageError> {
        let events = self.order_events(order.id).await?;
        let latest = order.evidence();
        let reported: Vec<String> = on_read_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT sha256 FROM order_evidence_photos WHERE order_id = $1 ORDER BY sha256",
            )
            .bind(order.id)
            .fetch_all(pool)
            .await
        })?;
        let earlier_evidence = reported
            .into_iter()
            .filter(|hash| !latest.contains(hash))
            .collect();
        Ok(OrderHistory {
            order,
            events,
            earlier_evidence,
        })
    }

    async fn order_in_reach(
        &self,
        reach: &FacilityReach,
        id: i64,
    ) -> Result<RectificationOrder, StorageError> {
        let (filter, binds) = reach.filter(2);
        let sql = format!("SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.id = $1 AND {filter}");
        let found: Option<RectificationOrder> = on_read_pool!(self, |pool| {
            bind_reach!(
                sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id),
                binds
            )
            .fetch_optional(pool)
            .await
        })?;
        found.ok_or_else(|| StorageError::not_found("order", id))
    }

    async fn order_events(&self, id: i64) -> Result<Vec<OrderEvent>, StorageError> {
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, action, actor, at, status_after, detail FROM order_events WHERE order_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Acts on an order as a signed-in user: a property manager's account acts for the
    /// manager, staff in scope act for the office.
    pub async fn act_on_order(
        &self,
        actor: &Actor,
        id: i64,
        action: &OrderAction,
        now: Timestamp,
    ) -> Result<RectificationOrder, StorageError> {
        let reach = self.facility_reach(actor).await?;
        let order = self.order_in_reach(&reach, id).await?;
        let party = match reach {
            FacilityReach::Manager { .. } => OrderParty::PropertyManager,
            _ if may_inspect(actor) => OrderParty::Office,
            _ => {
                return Err(StorageError::forbidden(
                    "viewers cannot act on orders",
                    "查看者不能办理整改通知",
                ));
            }
        };
        self.apply_order_action(actor, &reach, order, action, party, now)
            .await
    }

    /// Issues a link a property manager without an account can answer one order through.
    /// Returns the secret: it is shown once and only its hash is kept.
    pub async fn create_order_link(
        &self,
        actor: &Actor,
        id: i64,
        valid_days: u32,
        now: Timestamp,
    ) -> Result<(String, Timestamp), StorageError> {
        let reach = self.facility_reach(actor).await?;
        if matches!(reach, FacilityReach::Manager { .. }) || !may_inspect(actor) {
            return Err(StorageError::forbidden(
                "only staff send order links",
                "只有工作人员才能生成整改通知的物业处理链接",
            ));
        }
        let order = self.order_in_reach(&reach, id).await?;
        if !(1..=90).contains(&valid_days) {
            return Err(StorageError::refused(
                "valid_days",
                "between 1 and 90 days",
                "链接有效期应为 1 至 90 天",
            ));
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = hex::encode(secret);
        let expires = now.plus_days(i64::from(valid_days));
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("INSERT INTO order_links (token_hash, order_id, expires_at, created_at) VALUES ($1, $2, $3, $4)")
                .bind(hash_token(&token))
                .bind(id)
                .bind(expires.as_millis())
                .bind(now.as_millis())
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "rectification_order",
                entity_id: id.to_string(),
                action: "create_link",
                region_path: &order.region_path(),
                before: None,
                after: Some(serde_json::json!({ "expires_at": expires.as_millis() })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((token, expires))
    }

    /// The order a link opens, if the link is known and has not expired.
    pub async fn order_by_link(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<OrderHistory, StorageError> {
        let id = self.link_order_id(token, now).await?;
        let order = self
            .order_in_reach(&FacilityReach::Subtree(RegionPath::root()), id)
            .await?;
        self.history_of(order).await
    }

    /// Acts on the order a link opens, as its property manager.
    pub async fn act_on_order_by_link(
        &self,
        token: &str,
        action: &OrderAction,
        now: Timestamp,
    ) -> Result<RectificationOrder, StorageError> {
        let id = self.link_order_id(token, now).await?;
        let reach = FacilityReach::Subtree(RegionPath::root());
        let order = self.order_in_reach(&reach, id).await?;
        let actor = Actor::link_holder(&format!("order-{id}"), order.region_path());
        self.apply_order_action(
            &actor,
            &reach,
            order,
            action,
            OrderParty::PropertyManager,
            now,
        )
        .await
    }

    async fn link_order_id(&self, token: &str, now: Timestamp) -> Result<i64, StorageError> {
        let token = token.trim();
        let well_formed = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
        let found: Option<(i64, i64)> = if well_formed {
            on_read_pool!(self, |pool| {
                sqlx::query_as("SELECT order_id, expires_at FROM order_links WHERE token_hash = $1")
                    .bind(hash_token(token))
                    .fetch_optional(pool)
                    .await
            })?
        } else {
            None
        };
        match found {
            Some((id, expires)) if expires > now.as_millis() => Ok(id),
            Some(_) => Err(StorageError::LinkExpired),
            None => Err(StorageError::not_found("order link", "given")),
        }
    }

    async fn apply_order_action(
        &self,
        actor: &Actor,
        reach: &FacilityReach,
        order: RectificationOrder,
        action: &OrderAction,
        party: OrderParty,
        now: Timestamp,
    ) -> Result<RectificationOrder, StorageError> {
        let from = order.status();
        let to = from
            .apply(action, party)
            .map_err(|refusal| StorageError::Conflict {
                message_zh: Some(refusal.zh()),
                field: "status",
                message: refusal.to_string(),
            })?;
        let (note, evidence, reason, detail) = match action {
            OrderAction::ReportRepair { note, evidence } => (
                Some(note.trim().to_owned()),
                Some(serde_json::to_string(evidence).unwrap_or_else(|_| "[]".into())),
                None,
                note.trim().to_owned(),
            ),
            OrderAction::SendBack { reason } => (
                None,
                None,
                Some(reason.trim().to_owned()),
                reason.trim().to_owned(),
            ),
            _ => (None, None, None, String::new()),
        };
        let mut tx = self.begin_write().await?;
        // Compare-and-set: an action taken on a status someone else has just changed fails.
        let changed = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE rectification_orders SET status = $1, updated_at = $2, \
                 repair_note = COALESCE($3, repair_note), evidence = COALESCE($4, evidence), \
                 send_back_reason = COALESCE($5, send_back_reason) \
                 WHERE id = $6 AND status = $7",
            )
            .bind(to.as_str())
            .bind(now.as_millis())
            .bind(&note)
            .bind(&evidence)
            .bind(&reason)
            .bind(order.id)
            .bind(from.as_str())
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        if changed != 1 {
            return Err(StorageError::Conflict {
                message_zh: Some(format!(
                    "整改通知 {} 在您查看期间已被更改，请刷新后重试",
                    order.id
                )),
                field: "status",
                message: format!(
                    "order {} changed while you were looking at it; reload it",
                    order.id
                ),
            });
        }
        if let OrderAction::ReportRepair { evidence, .. } = action {
            record_evidence_photos(&mut tx, order.id, evidence).await?;
        }
        insert_event(&mut tx, order.id, action.name(), actor, now, to, &detail).await?;
        tx.audit(actor, now, AuditEvent {
            entity: "rectification_order",
            entity_id: order.id.to_string(),
            action: action.name(),
            region_path: &order.region_path(),
            before: Some(serde_json::json!({ "status": from.as_str() })),
            after: Some(serde_json::json!({ "status": to.as_str(), "detail": detail, "evidence": evidence })),
        })
        .await?;
        tx.commit().await?;
        self.order_in_reach(reach, order.id).await
    }

    /// Sends the reminders that have fallen due and escalates the orders past their
    /// deadline to the level above, recording a notification for each (with `channel`, the
    /// notifier's name) and one audit entry for the pass. Returns the new notifications.
    pub async fn sweep_orders(
        &self,
        now: Timestamp,
        channel: &str,
    ) -> Result<Vec<Notification>, StorageError> {
        let soon = now.date().plus_days(3).days_since_epoch();
        let candidates: Vec<RectificationOrder> = on_read_pool!(self, |pool| {
            let sql = format!(
                "SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} \
                 WHERE o.status IN ('issued', 'acknowledged', 'sent_back') AND o.deadline_day <= $1 \
                 ORDER BY o.deadline_day, o.id LIMIT $2"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(soon)
                .bind(SWEEP_BATCH)
                .fetch_all(pool)
                .await
        })?;
        let mut work = Vec::new();
        for order in candidates {
            let last = order.last_reminder.as_deref().and_then(Reminder::parse);
            let reminder = reminder_due(order.status(), order.deadline(), now, last);
            let escalate = order.is_overdue(now) && order.escalated_at.is_none();
            if reminder.is_some() || escalate {
                work.push((order, reminder, escalate));
            }
        }
        if work.is_empty() {
            return Ok(Vec::new());
        }
        let actor = Actor::system("order-sweep");
        let mut tx = self.begin_write().await?;
        let mut created = Vec::new();
        let mut summary = Vec::new();
        for (order, reminder, escalate) in &work {
            if let Some(reminder) = reminder {
                on_tx!(&mut tx, |conn| {
                    sqlx::query("UPDATE rectification_orders SET last_reminder = $1 WHERE id = $2")
                        .bind(reminder.as_str())
                        .bind(order.id)
                        .execute(&mut *conn)
                        .await
                        .map(|_| ())
                })?;
                let message = format!(
                    "{}：{}「{}」整改期限 {}（{}）",
                    order.facility_name,
                    order.item_label,
                    order.item_code,
                    order.deadline(),
                    reminder.as_str()
                );
                created.push(
                    insert_notification(
                        &mut tx,
                        &order.region_path,
                        order.manager_organization_id,
                        reminder.as_str(),
                        order.id,
                        &message,
                        channel,
                        now,
                    )
                    .await?,
                );
            }
            if *escalate {
                let above = escalation_target(&order.region_path());
                on_tx!(&mut tx, |conn| {
                    sqlx::query("UPDATE rectification_orders SET escalated_at = $1, escalated_to_path = $2 WHERE id = $3")
                        .bind(now.as_millis())
                        .bind(above.as_str())
                        .bind(order.id)
                        .execute(&mut *conn)
                        .await
                        .map(|_| ())
                })?;
                insert_event(
                    &mut tx,
                    order.id,
                    "escalate",
                    &actor,
                    now,
                    order.status(),
                    above.as_str(),
                )
                .await?;
                let message = format!(
                    "逾期整改上报：{}「{}」期限 {} 已过",
                    order.facility_name,
                    order.item_label,
                    order.deadline()
                );
                created.push(
                    insert_notification(
                        &mut tx,
                        above.as_str(),
                        None,
                        "escalation",
                        order.id,
                        &message,
                        channel,
                        now,
                    )
                    .await?,
                );
            }
            summary.push(serde_json::json!({
                "order_id": order.id,
                "reminder": reminder.map(Reminder::as_str),
                "escalated": escalate,
            }));
        }
        tx.audit(
            &actor,
            now,
            AuditEvent {
                entity: "rectification_order",
                entity_id: "sweep".to_owned(),
                action: "sweep",
                region_path: &RegionPath::root(),
                before: None,
                after: Some(serde_json::json!({ "orders": summary })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// The latest notifications for the actor: those of their organization (a property
    /// manager), of their grids' facilities and routes (a grid member: an order's reminders
    /// by its facility's grid, a missed checkpoint by its route's, a route of no grid being
    /// everyone's in the subtree, as `routes_reached` reads them), or of their subtree
    /// (staff).
    pub async fn notifications(
        &self,
        actor: &Actor,
        limit: i64,
    ) -> Result<Vec<Notification>, StorageError> {
        let reach = self.facility_reach(actor).await?;
        let (low, high) = reach.subtree().subtree_range();
        let (organization, grid_member) = match reach {
            FacilityReach::Manager {
                organization_id, ..
            } => (organization_id, 0),
            FacilityReach::Grids { user_id, .. } => (0, user_id),
            FacilityReach::Subtree(_) => (0, 0),
        };
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, region_path, organization_id, kind, subject_id, message, channel, created_at \
                 FROM notifications WHERE region_path >= $1 AND region_path < $2 \
                 AND ($3 = 0 OR organization_id = $3) \
                 AND ($4 = 0 \
                 OR (kind = 'missed_checkpoint' AND subject_id IN (SELECT n.id FROM patrol_runs n \
                     JOIN patrol_routes r ON r.id = n.route_id WHERE r.grid_id IS NULL \
                     OR r.grid_id IN (SELECT gm.grid_id FROM grid_members gm WHERE gm.user_id = $4))) \
                 OR (kind <> 'missed_checkpoint' AND subject_id IN (SELECT o.id FROM rectification_orders o \
                     JOIN facilities f ON f.id = o.facility_id \
                     WHERE f.grid_id IN (SELECT gm.grid_id FROM grid_members gm WHERE gm.user_id = $4)))) \
                 ORDER BY id DESC LIMIT $5",
            )
            .bind(&low)
            .bind(&high)
            .bind(organization)
            .bind(grid_member)
            .bind(limit.clamp(1, 500))
            .fetch_all(pool)
            .await
        })?)
    }
}

/// The region an overdue order escalates to: the level above the township workstation that
/// answers for the facility (its county), or the parent of a facility registered higher up.
pub fn escalation_target(path: &RegionPath) -> RegionPath {
    const TOWNSHIP_DEPTH: usize = 4;
    let depth = path.depth().min(TOWNSHIP_DEPTH).saturating_sub(1).max(1);
    let mut above = RegionPath::root();
    for code in path.codes().take(depth) {
        above = above.child(&code);
    }
    above
}

/// Adds the photos of a repair report to `order_evidence_photos`, the index `may_see_blob`
/// asks. A report after a send-back replaces the order's `evidence` (the latest report), but
/// the photos of the reports before it stay here, so they are still served and shown as the
/// order's earlier evidence: what was sent back is part of the order's record. Only entries
/// that are hashes (64 lowercase hex digits) name a file of the attachment store; the web
/// layer sends nothing else, and the domain does not check it, so anything else is left out
/// here as migration 0013 left it out.
async fn record_evidence_photos(
    tx: &mut WriteTx,
    order_id: i64,
    evidence: &[String],
) -> Result<(), StorageError> {
    // The same photo sent twice, in one report or in two, is one row.
    let mut hashes: Vec<&str> = evidence
        .iter()
        .map(String::as_str)
        .filter(|hash| crate::ContentHash::is_canonical(hash))
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    for chunk in hashes.chunks(EVIDENCE_PHOTOS_PER_INSERT) {
        on_tx!(tx, |conn| {
            let mut query =
                QueryBuilder::new("INSERT INTO order_evidence_photos (order_id, sha256) ");
            query.push_values(chunk, |mut row, sha256| {
                row.push_bind(order_id).push_bind(*sha256);
            });
            query.push(" ON CONFLICT DO NOTHING");
            query.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

async fn insert_event(
    tx: &mut WriteTx,
    order_id: i64,
    action: &str,
    actor: &Actor,
    now: Timestamp,
    status_after: OrderStatus,
    detail: &str,
) -> Result<(), StorageError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO order_events (order_id, action, actor, at, status_after, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(order_id)
        .bind(action)
        .bind(actor.name())
        .bind(now.as_millis())
        .bind(status_after.as_str())
        .bind(detail)
        .execute(&mut *conn)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_notification(
    tx: &mut WriteTx,
    region_path: &str,
    organization_id: Option<i64>,
    kind: &str,
    subject_id: i64,
    message: &str,
    channel: &str,
    now: Timestamp,
) -> Result<Notification, StorageError> {
    let notification: Notification = on_tx!(tx, |conn| {
        sqlx::query_as(
            "INSERT INTO notifications (region_path, organization_id, kind, subject_id, message, channel, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING id, region_path, organization_id, kind, subject_id, message, channel, created_at",
        )
        .bind(region_path)
        .bind(organization_id)
        .bind(kind)
        .bind(subject_id)
        .bind(message)
        .bind(channel)
        .bind(now.as_millis())
        .fetch_one(&mut *conn)
        .await
    })?;
    Ok(notification)
}
