//! Requisition orders: resources of an enterprise or a citizen taken by lawful order, their
//! use, their return and the compensation owed. The rules are the domain's
//! ([`muster_domain::requisition`]); here an order is stored as its draft (the order's row
//! and its items) and its events, and every read replays the events through
//! [`transition`], so the state shown is always the one the history gives.
//!
//! Who reads what:
//! * staff read the orders of their subtree (the order's region is the deepest region that
//!   contains all its items' records); a person holder's name is masked for readers whose
//!   roles do not allow personal data;
//! * a user of an organization of kind `enterprise` (any role) reads only the orders whose
//!   holder is that organization, wherever they are;
//! * a citizen without an account reads one order through a link: a random secret whose
//!   SHA-256 is stored with an expiry (`requisition_links`).
//!
//! Only office staff and administrators draft orders and move them on. An item stays
//! *active* from drafting until its return or the order's cancellation, and a partial
//! unique index on the active items' records means no record is ever on two open orders.

use std::collections::BTreeMap;

use muster_domain::potential::rollup::RollupDeltas;
use muster_domain::potential::{Holder, HolderKind, RecordStatus};
use muster_domain::requisition::{
    CompensationSetting, CompensationSettingProblem, ExemptionRule, ExemptionRuleProblem,
    ExemptionRules, HolderCategory, NewRequisitionItem, NewRequisitionOrder, RequisitionEvent,
    RequisitionHolder, RequisitionOrder, RequisitionProblem, RequisitionRefusal, RequisitionStatus,
    ReturnCondition, transition,
};
use muster_domain::taxonomy::{AttributeValue, Category, Taxonomy};
use muster_domain::{Actor, DataClass, OrganizationKind, RegionPath, Role, Scope, Timestamp};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::QueryBuilder;

use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::potential::{PotentialRecord, apply_totals, figures};

/// The `settings` key of the exemption rules (a JSON array of
/// [`ExemptionRule`]s); absent means [`ExemptionRules::default_rules`].
pub const EXEMPTION_RULES_SETTING: &str = "requisition.exemption_rules";

/// The `settings` key of the compensation setting (a JSON [`CompensationSetting`]); absent
/// means [`CompensationSetting::default`].
pub const COMPENSATION_SETTING: &str = "requisition.compensation";

/// How long a notice link works unless the office says otherwise.
pub const DEFAULT_REQUISITION_LINK_DAYS: u32 = 30;

/// An order's row, as lists show it. `status`, `event_count` and `total_fen` are kept in
/// step with the events by every write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RequisitionSummary {
    pub id: i64,
    pub region_path: String,
    /// `organization` (an enterprise) or `person` (a citizen).
    pub holder_kind: String,
    pub holder_organization_id: Option<i64>,
    pub holder_name: String,
    pub holder_category: String,
    pub legal_basis: String,
    pub status: String,
    pub event_count: i64,
    pub total_fen: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One item of a stored order: a potential record and what is owed for it per unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RequisitionItemRow {
    pub position: i64,
    pub record_id: i64,
    pub type_code: String,
    pub quantity: i64,
    pub declared_value_fen: i64,
    pub daily_rate_fen: i64,
    /// 1 until the items come back or the order is cancelled.
    pub active: i64,
}

/// One stored event, as its history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RequisitionEventRow {
    pub seq: i64,
    pub action: String,
    /// The [`RequisitionEvent`] as JSON.
    pub event: String,
    pub actor: String,
    pub at: i64,
    pub status_after: String,
}

/// An order with its items, its history and the state the history gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Requisition {
    pub summary: RequisitionSummary,
    pub items: Vec<RequisitionItemRow>,
    pub events: Vec<RequisitionEventRow>,
    /// The draft with every event replayed: status, use log, conditions, the compensation
    /// with its breakdown, the payment.
    pub order: RequisitionOrder,
}

impl Requisition {
    pub fn status(&self) -> RequisitionStatus {
        self.order.status()
    }
}

/// An order to draft.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequisition {
    pub legal_basis: String,
    /// What the holder is, as the exemption rules see it. A citizen is always `citizen`; an
    /// enterprise is `enterprise` unless the office says it is (also) a hospital, a school,
    /// an emergency service or a public institution.
    pub holder_category: Option<HolderCategory>,
    pub items: Vec<NewRequisitionLine>,
}

/// One line of an order to draft: a potential record in the drafter's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequisitionLine {
    pub record_id: i64,
    pub quantity: i64,
    pub declared_value_fen: i64,
    /// Fen per unit and day of use; `None` takes the compensation setting's rate for the
    /// record's type (or its subcategory, or its category), and is refused without one.
    pub daily_rate_fen: Option<i64>,
    /// Whether the item is in use in the holder's own service (a hospital's working
    /// ventilator), for the exemption rules.
    pub in_service: bool,
}

/// How far a reader's view of orders goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RequisitionReach {
    /// Staff: the orders of a subtree.
    Subtree(RegionPath),
    /// An enterprise's account: that enterprise's orders only.
    Holder { organization_id: i64 },
}

impl RequisitionReach {
    /// The bounds of `o.region_path >= $a AND o.region_path < $b AND ($c = 0 OR
    /// o.holder_organization_id = $c)`.
    fn bounds(&self) -> (String, String, i64) {
        match self {
            RequisitionReach::Subtree(path) => {
                let (low, high) = path.subtree_range();
                (low, high, 0)
            }
            RequisitionReach::Holder { organization_id } => {
                let (low, high) = RegionPath::root().subtree_range();
                (low, high, *organization_id)
            }
        }
    }
}

const SUMMARY_COLUMNS: &str = "o.id, o.region_path, o.holder_kind, o.holder_organization_id, o.holder_name, \
     o.holder_category, o.legal_basis, o.status, o.event_count, o.total_fen, o.created_at, o.updated_at";

const REACH_FILTER: &str =
    "o.region_path >= $1 AND o.region_path < $2 AND ($3 = 0 OR o.holder_organization_id = $3)";

/// The most orders one list returns.
const MAX_LIST: i64 = 1000;

/// Whether the actor drafts orders and moves them on: office staff and administrators.
pub(crate) fn may_requisition(actor: &Actor) -> bool {
    actor.administers() || actor.has_role(Role::OfficeStaff)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A stored row that does not replay is corruption, not the caller's mistake: it becomes a
/// server error with its cause logged.
fn corrupt(id: i64, cause: impl std::fmt::Display) -> StorageError {
    StorageError::Database(sqlx::Error::Decode(
        format!("requisition order {id} does not replay: {cause}").into(),
    ))
}

/// A refused event as the caller should see it: a status that does not allow the step is a
/// conflict with the order's state; anything else is a bad field.
fn refusal_error(refusal: RequisitionRefusal) -> StorageError {
    let message = refusal.to_string();
    let message_zh = refusal.zh();
    let field = match refusal {
        RequisitionRefusal::Finished { .. } | RequisitionRefusal::WrongStatus { .. } => {
            return StorageError::Conflict {
                message_zh: Some(message_zh),
                field: "status",
                message,
            };
        }
        RequisitionRefusal::BeforePreviousEvent { .. } => "at",
        RequisitionRefusal::ConditionsMismatch { .. } => "conditions",
        _ => "event",
    };
    StorageError::Refused {
        field,
        message,
        message_zh,
    }
}

/// The deepest region that contains every path: where an order over them belongs.
fn common_path(paths: &[RegionPath]) -> RegionPath {
    let Some(first) = paths.first() else {
        return RegionPath::root();
    };
    let mut common = RegionPath::root();
    for code in first.codes() {
        let next = common.child(&code);
        if paths.iter().all(|p| next.contains(p)) {
            common = next;
        } else {
            break;
        }
    }
    common
}

impl Database {
    /// The exemption rules in force: the administrator's, or the defaults.
    pub async fn exemption_rules(&self) -> Result<ExemptionRules, StorageError> {
        let Some(rules) = self
            .setting_document::<Vec<ExemptionRule>>(EXEMPTION_RULES_SETTING)
            .await?
        else {
            return Ok(ExemptionRules::default_rules());
        };
        ExemptionRules::new(rules).map_err(|problems| {
            corrupt(
                0,
                format!("the exemption rules setting: {}", join_problems(&problems)),
            )
        })
    }

    /// Replaces the exemption rules for the whole installation (administrators only),
    /// every problem of the set named at once. Orders already drafted keep the rules they
    /// were drafted under.
    pub async fn set_exemption_rules(
        &self,
        actor: &Actor,
        rules: Vec<ExemptionRule>,
    ) -> Result<ExemptionRules, StorageError> {
        // Refused before the setting is checked: whether it would be valid is no business of
        // someone who may not set it.
        let administrator = self
            .refuse_unless_installation_administrator(actor, "the exemption rules", "免征规则")
            .await?;
        let checked = ExemptionRules::new(rules).map_err(|problems| StorageError::Refused {
            field: "rules",
            message: join_problems(&problems),
            message_zh: join_problems_zh(&problems, ExemptionRuleProblem::zh),
        })?;
        let before = self.exemption_rules().await?;
        self.store_setting(
            actor,
            &administrator,
            EXEMPTION_RULES_SETTING,
            &before.rules(),
            &checked.rules(),
        )
        .await?;
        Ok(checked)
    }

    /// The compensation setting in force: the administrator's, or the default.
    pub async fn compensation_setting(&self) -> Result<CompensationSetting, StorageError> {
        Ok(self
            .setting_document(COMPENSATION_SETTING)
            .await?
            .unwrap_or_default())
    }

    /// Replaces the compensation setting (administrators), refused with every problem named
    /// by its field; daily rates must be keyed by a type, subcategory or category of the
    /// taxonomy in force. Assessments made from then on use its percentages and drafts its
    /// rates; assessments already made keep the policy they were made under.
    pub async fn set_compensation_setting(
        &self,
        actor: &Actor,
        setting: CompensationSetting,
    ) -> Result<CompensationSetting, StorageError> {
        // Refused before the setting is checked: whether it would be valid is no business of
        // someone who may not set it.
        let administrator = self
            .refuse_unless_installation_administrator(
                actor,
                "the compensation policy",
                "征用补偿标准",
            )
            .await?;
        let taxonomy = self.taxonomy().await?;
        let checked = setting
            .check(|code| is_taxonomy_code(&taxonomy, code))
            .map_err(|problems| {
                crate::settings::refused(&problems, |p| p.field(), CompensationSettingProblem::zh)
            })?;
        let before = self.compensation_setting().await?;
        self.store_setting(
            actor,
            &administrator,
            COMPENSATION_SETTING,
            &before,
            &checked,
        )
        .await?;
        Ok(checked)
    }

    /// Drafts an order: every item a potential record in the drafter's scope, all of one
    /// holder, who is a citizen or a registered enterprise; the exemption rules in force
    /// applied first (an exempt item refuses the draft, naming the rule); no record already
    /// on an open order. The draft, its items and one audit entry are stored together.
    pub async fn create_requisition(
        &self,
        actor: &Actor,
        new: NewRequisition,
        now: Timestamp,
    ) -> Result<Requisition, StorageError> {
        if !may_requisition(actor) {
            return Err(StorageError::forbidden(
                "only office staff draft requisition orders",
                "只有动员办工作人员才能拟定征用令",
            ));
        }
        if new.items.is_empty() {
            return Err(StorageError::Refused {
                field: "items",
                message: "an order needs at least one item".into(),
                message_zh: "征用令至少要有一个物项".into(),
            });
        }
        if new.items.len() > muster_domain::requisition::MAX_ITEMS {
            return Err(StorageError::Refused {
                field: "items",
                message: format!(
                    "{} items, more than the {} an order may have: split it",
                    new.items.len(),
                    muster_domain::requisition::MAX_ITEMS
                ),
                message_zh: format!(
                    "共 {} 个物项，超过 {} 个的请分为几份征用令",
                    new.items.len(),
                    muster_domain::requisition::MAX_ITEMS
                ),
            });
        }
        let records = self.records_for_order(actor.scope(), &new.items).await?;
        let first = &records[0];
        let holder_kind = HolderKind::parse(&first.holder_kind).unwrap_or(HolderKind::Organization);
        for (index, record) in records.iter().enumerate().skip(1) {
            let same = record.holder_kind == first.holder_kind
                && match holder_kind {
                    HolderKind::Organization => {
                        record.holder_organization_id == first.holder_organization_id
                    }
                    HolderKind::Person => {
                        record.holder_name.trim() == first.holder_name.trim()
                            && record.holder_id_number == first.holder_id_number
                    }
                };
            if !same {
                return Err(StorageError::Refused {
                    field: "items",
                    message: format!(
                        "items[{index}]: record {} is held by {}, not by {}; one order is for one holder",
                        record.id, record.holder_name, first.holder_name
                    ),
                    message_zh: format!(
                        "items[{index}]：记录 {} 的持有人是 {}，不是 {}；一份征用令只针对一个持有人",
                        record.id, record.holder_name, first.holder_name
                    ),
                });
            }
        }
        let (category, holder_id) = match holder_kind {
            HolderKind::Person => {
                if new
                    .holder_category
                    .is_some_and(|c| c != HolderCategory::Citizen)
                {
                    return Err(StorageError::Refused {
                        field: "holder_category",
                        message: "the holder is a person: a citizen".into(),
                        message_zh: "持有人是个人，类别只能是公民".into(),
                    });
                }
                (HolderCategory::Citizen, 0)
            }
            HolderKind::Organization => {
                let organization_id = self.enterprise_of(first).await?;
                let category = new.holder_category.unwrap_or(HolderCategory::Enterprise);
                if category == HolderCategory::Citizen {
                    return Err(StorageError::Refused {
                        field: "holder_category",
                        message: "the holder is an enterprise, not a citizen".into(),
                        message_zh: "持有人是企业，不是公民".into(),
                    });
                }
                (category, organization_id)
            }
        };
        for (index, (line, record)) in new.items.iter().zip(&records).enumerate() {
            if record.status == "unavailable" {
                return Err(StorageError::Refused {
                    field: "items",
                    message: format!("items[{index}]: record {} is marked unavailable", record.id),
                    message_zh: format!("items[{index}]：记录 {} 已标为不可用", record.id),
                });
            }
            if line.quantity as f64 > record.quantity {
                return Err(StorageError::Refused {
                    field: "items",
                    message: format!(
                        "items[{index}].quantity: record {} holds {} ; the order asks for {}",
                        record.id, record.quantity, line.quantity
                    ),
                    message_zh: format!(
                        "items[{index}].quantity：记录 {} 现有 {}，征用令要征用 {}",
                        record.id, record.quantity, line.quantity
                    ),
                });
            }
        }

        let rates = self.daily_rates(&new.items, &records).await?;
        let rules = self.exemption_rules().await?;
        let draft = NewRequisitionOrder {
            legal_basis: new.legal_basis.clone(),
            holder: RequisitionHolder {
                holder_id,
                name: first.holder_name.clone(),
                category,
            },
            items: new
                .items
                .iter()
                .zip(&records)
                .zip(&rates)
                .map(|((line, record), daily_rate_fen)| NewRequisitionItem {
                    item_id: record.id,
                    type_code: record.type_code.clone(),
                    attributes: serde_json::from_str::<BTreeMap<String, AttributeValue>>(
                        &record.attributes,
                    )
                    .unwrap_or_default(),
                    in_service: line.in_service,
                    quantity: line.quantity,
                    declared_value_fen: line.declared_value_fen,
                    daily_rate_fen: *daily_rate_fen,
                })
                .collect(),
        };
        let order = draft.validate(&rules).map_err(|problems| {
            let field = if problems.iter().any(|p| {
                matches!(
                    p,
                    muster_domain::requisition::RequisitionProblem::LegalBasisMissing
                        | muster_domain::requisition::RequisitionProblem::LegalBasisTooLong { .. }
                )
            }) {
                "legal_basis"
            } else {
                "items"
            };
            StorageError::Refused {
                field,
                message: join_problems(&problems),
                message_zh: join_problems_zh(&problems, RequisitionProblem::zh),
            }
        })?;
        let paths: Vec<RegionPath> = records.iter().map(PotentialRecord::region_path).collect();
        let region = common_path(&paths);

        let mut tx = self.begin_write().await?;
        let busy: Option<(i64, i64)> = on_tx!(&mut tx, |conn| {
            let mut query = QueryBuilder::new(
                "SELECT record_id, order_id FROM requisition_items WHERE active = 1 AND record_id IN (",
            );
            let mut separated = query.separated(", ");
            for record in &records {
                separated.push_bind(record.id);
            }
            query.push(") ORDER BY record_id LIMIT 1");
            query.build_query_as().fetch_optional(&mut *conn).await
        })?;
        if let Some((record_id, order_id)) = busy {
            return Err(already_requisitioned(record_id, order_id));
        }
        let id: i64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "INSERT INTO requisition_orders (region_path, holder_kind, holder_organization_id, holder_name, \
                 holder_category, legal_basis, status, event_count, total_fen, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL, $8, $9, $9) RETURNING id",
            )
            .bind(region.as_str())
            .bind(holder_kind.as_str())
            .bind((holder_id != 0).then_some(holder_id))
            .bind(order.holder().name.as_str())
            .bind(category.as_str())
            .bind(order.legal_basis())
            .bind(RequisitionStatus::Drafted.as_str())
            .bind(actor.user_id())
            .bind(now.as_millis())
            .fetch_one(&mut *conn)
            .await
        })?;
        for (position, item) in order.items().iter().enumerate() {
            let inserted = on_tx!(&mut tx, |conn| {
                sqlx::query(
                    "INSERT INTO requisition_items (order_id, position, record_id, type_code, quantity, \
                     declared_value_fen, daily_rate_fen, active) VALUES ($1, $2, $3, $4, $5, $6, $7, 1)",
                )
                .bind(id)
                .bind(position as i64)
                .bind(item.item_id())
                .bind(item.type_code())
                .bind(i64::from(item.quantity()))
                .bind(item.declared_value_fen())
                .bind(item.daily_rate_fen())
                .execute(&mut *conn)
                .await
                .map(|_| ())
            });
            inserted.map_err(|e| {
                StorageError::unique_said(e, "items", || {
                    (
                        format!(
                            "record {} is already on an open requisition order",
                            item.item_id()
                        ),
                        format!("记录 {} 已在一份未结束的征用令上", item.item_id()),
                    )
                })
            })?;
        }
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "requisition_order",
                entity_id: id.to_string(),
                action: "create",
                region_path: &region,
                before: None,
                after: Some(serde_json::json!({
                    "legal_basis": order.legal_basis(),
                    "holder": order.holder(),
                    "items": order.items(),
                    "exemption_rules": rules.rules().iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.requisition(actor, id).await
    }

    /// The orders the actor reads (see the module docs), newest first, optionally of one
    /// status.
    pub async fn requisitions(
        &self,
        actor: &Actor,
        status: Option<RequisitionStatus>,
        limit: i64,
        before_id: Option<i64>,
    ) -> Result<Vec<RequisitionSummary>, StorageError> {
        let reach = self.requisition_reach(actor).await?;
        let (low, high, holder) = reach.bounds();
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM requisition_orders o WHERE {REACH_FILTER} \
             AND ($4 = '' OR o.status = $4) AND o.id < $5 ORDER BY o.id DESC LIMIT $6"
        );
        let rows: Vec<RequisitionSummary> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&low)
                .bind(&high)
                .bind(holder)
                .bind(status.map_or("", |s| s.as_str()))
                .bind(before_id.unwrap_or(i64::MAX))
                .bind(limit.clamp(1, MAX_LIST))
                .fetch_all(pool)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(|row| masked(row, actor.scope()))
            .collect())
    }

    /// One order the actor reads, replayed; another holder's order, or one outside the
    /// scope, is not found.
    pub async fn requisition(&self, actor: &Actor, id: i64) -> Result<Requisition, StorageError> {
        let reach = self.requisition_reach(actor).await?;
        self.requisition_in_reach(&reach, actor.scope(), id).await
    }

    /// Moves an order on by one event (office staff): the domain decides whether the event
    /// may happen now; the stored status is compared and set, the event appended and the
    /// write audited in one transaction. A return or a cancellation frees the items.
    pub async fn act_on_requisition(
        &self,
        actor: &Actor,
        id: i64,
        event: &RequisitionEvent,
        now: Timestamp,
    ) -> Result<Requisition, StorageError> {
        let reach = self.requisition_reach(actor).await?;
        if matches!(reach, RequisitionReach::Holder { .. }) || !may_requisition(actor) {
            return Err(StorageError::forbidden(
                "only office staff act on requisition orders",
                "只有动员办工作人员才能办理征用令",
            ));
        }
        // Read unmasked: the replay must see what was drafted, whoever acts.
        let current = self
            .requisition_in_reach(&reach, &Scope::everything(), id)
            .await?;
        // An assessment is made under the compensation setting in force, whatever policy the
        // caller's event carries: the office acting does not pick its own percentages. The
        // event stored carries the policy used, so the replay gives the same figures.
        let event = &match event {
            RequisitionEvent::Assess { .. } => RequisitionEvent::Assess {
                policy: self
                    .compensation_setting()
                    .await?
                    .policy()
                    .map_err(|e| corrupt(id, format!("the compensation setting: {e}")))?,
            },
            other => other.clone(),
        };
        let next = transition(&current.order, event).map_err(refusal_error)?;
        let from = current.order.status();
        let to = next.status();
        let event_json = serde_json::to_string(event)
            .map_err(|e| corrupt(id, format!("the event does not serialize: {e}")))?;
        let total_fen = next.assessment().map(|a| a.total_fen);
        let at = event_time(event).unwrap_or(now);
        let frees_items = matches!(
            event,
            RequisitionEvent::Return { .. } | RequisitionEvent::Cancel { .. }
        );
        let region =
            RegionPath::parse(&current.summary.region_path).unwrap_or_else(RegionPath::root);

        let mut tx = self.begin_write().await?;
        // Compare-and-set on the number of events: two people acting on what they both
        // saw as the same state cannot both succeed.
        let changed = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE requisition_orders SET status = $1, event_count = event_count + 1, \
                 total_fen = $2, updated_at = $3 WHERE id = $4 AND event_count = $5",
            )
            .bind(to.as_str())
            .bind(total_fen)
            .bind(now.as_millis())
            .bind(id)
            .bind(current.summary.event_count)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        if changed != 1 {
            return Err(StorageError::Conflict {
                message_zh: Some(format!("征用令 {id} 在您查看期间已被修改；请重新加载")),
                field: "status",
                message: format!("order {id} changed while you were looking at it; reload it"),
            });
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO requisition_events (order_id, seq, action, event, actor, at, status_after) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(current.summary.event_count + 1)
            .bind(event.action())
            .bind(&event_json)
            .bind(actor.name())
            .bind(at.as_millis())
            .bind(to.as_str())
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        match event {
            RequisitionEvent::HandOver { .. } => {
                records_out(&mut tx, actor, id, &current.items, now).await?;
            }
            RequisitionEvent::Return { conditions, .. } => {
                records_back(&mut tx, actor, id, &current.items, conditions, now).await?;
            }
            _ => {}
        }
        if frees_items {
            on_tx!(&mut tx, |conn| {
                sqlx::query("UPDATE requisition_items SET active = 0 WHERE order_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map(|_| ())
            })?;
        }
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "requisition_order",
                entity_id: id.to_string(),
                action: event.action(),
                region_path: &region,
                before: Some(serde_json::json!({ "status": from.as_str() })),
                after: Some(serde_json::json!({
                    "status": to.as_str(),
                    "event": event,
                    "total_fen": total_fen,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.requisition(actor, id).await
    }

    /// Issues a link through which a holder without an account sees one order and its
    /// compensation (office staff). Returns the secret, shown once; only its hash is kept.
    pub async fn create_requisition_link(
        &self,
        actor: &Actor,
        id: i64,
        valid_days: u32,
        now: Timestamp,
    ) -> Result<(String, Timestamp), StorageError> {
        let reach = self.requisition_reach(actor).await?;
        if matches!(reach, RequisitionReach::Holder { .. }) || !may_requisition(actor) {
            return Err(StorageError::forbidden(
                "only office staff send requisition notices",
                "只有动员办工作人员才能发送征用通知",
            ));
        }
        let order = self.requisition_in_reach(&reach, actor.scope(), id).await?;
        if !(1..=365).contains(&valid_days) {
            return Err(StorageError::Refused {
                field: "valid_days",
                message: "between 1 and 365 days".into(),
                message_zh: "有效天数应为 1 至 365 天".into(),
            });
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = hex::encode(secret);
        let expires = now.plus_days(i64::from(valid_days));
        let region = RegionPath::parse(&order.summary.region_path).unwrap_or_else(RegionPath::root);
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO requisition_links (token_hash, order_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
            )
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
                entity: "requisition_order",
                entity_id: id.to_string(),
                action: "create_link",
                region_path: &region,
                before: None,
                after: Some(serde_json::json!({ "expires_at": expires.as_millis() })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((token, expires))
    }

    /// The order a notice link opens, as its holder sees it (their own name unmasked), if
    /// the link is known and has not expired. An expired link is refused as such, so the
    /// holder knows to ask for a new one.
    pub async fn requisition_by_link(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Requisition, StorageError> {
        let token = token.trim();
        let well_formed = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
        let found: Option<(i64, i64)> = if well_formed {
            on_read_pool!(self, |pool| {
                sqlx::query_as(
                    "SELECT order_id, expires_at FROM requisition_links WHERE token_hash = $1",
                )
                .bind(hash_token(token))
                .fetch_optional(pool)
                .await
            })?
        } else {
            None
        };
        match found {
            Some((id, expires)) if expires > now.as_millis() => {
                self.requisition_in_reach(
                    &RequisitionReach::Subtree(RegionPath::root()),
                    &Scope::everything(),
                    id,
                )
                .await
            }
            Some(_) => Err(StorageError::LinkExpired),
            None => Err(StorageError::not_found("requisition link", "given")),
        }
    }

    async fn requisition_reach(&self, actor: &Actor) -> Result<RequisitionReach, StorageError> {
        let subtree = actor.scope().subtree().clone();
        let Some(user_id) = actor.user_id() else {
            return Ok(RequisitionReach::Subtree(subtree));
        };
        Ok(match self.enterprise_account_of(user_id).await? {
            Some(organization_id) => RequisitionReach::Holder { organization_id },
            None => RequisitionReach::Subtree(subtree),
        })
    }

    /// The user's organization when it is an enterprise: whose account reads only that
    /// enterprise's orders.
    pub(crate) async fn enterprise_account_of(
        &self,
        user_id: i64,
    ) -> Result<Option<i64>, StorageError> {
        let found: Option<(i64, String)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT o.id, o.kind FROM users u JOIN organizations o ON o.id = u.organization_id WHERE u.id = $1",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(found
            .filter(|(_, kind)| kind == OrganizationKind::Enterprise.as_str())
            .map(|(id, _)| id))
    }

    async fn requisition_in_reach(
        &self,
        reach: &RequisitionReach,
        scope: &Scope,
        id: i64,
    ) -> Result<Requisition, StorageError> {
        let (low, high, holder) = reach.bounds();
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM requisition_orders o WHERE {REACH_FILTER} AND o.id = $4"
        );
        let found: Option<RequisitionSummary> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&low)
                .bind(&high)
                .bind(holder)
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        let summary = masked(
            found.ok_or_else(|| StorageError::not_found("requisition order", id))?,
            scope,
        );
        let (items, events): (Vec<RequisitionItemRow>, Vec<RequisitionEventRow>) = on_read_pool!(
            self,
            |pool| {
                let items = sqlx::query_as(
                    "SELECT position, record_id, type_code, quantity, declared_value_fen, daily_rate_fen, active \
                     FROM requisition_items WHERE order_id = $1 ORDER BY position",
                )
                .bind(id)
                .fetch_all(pool)
                .await?;
                let events = sqlx::query_as(
                    "SELECT seq, action, event, actor, at, status_after FROM requisition_events \
                     WHERE order_id = $1 ORDER BY seq",
                )
                .bind(id)
                .fetch_all(pool)
                .await?;
                Ok::<_, sqlx::Error>((items, events))
            }
        )?;
        let order = replay(&summary, &items, &events)?;
        Ok(Requisition {
            summary,
            items,
            events,
            order,
        })
    }

    /// The records an order names, in its order, each in the scope (else not found).
    async fn records_for_order(
        &self,
        scope: &Scope,
        lines: &[NewRequisitionLine],
    ) -> Result<Vec<PotentialRecord>, StorageError> {
        let rows: Vec<PotentialRecord> = on_read_pool!(self, |pool| {
            let mut query = QueryBuilder::new("SELECT * FROM potential_records WHERE id IN (");
            let mut separated = query.separated(", ");
            for line in lines {
                separated.push_bind(line.record_id);
            }
            query.push(")");
            query.build_query_as().fetch_all(pool).await
        })?;
        let by_id: BTreeMap<i64, PotentialRecord> = rows
            .into_iter()
            .filter(|r| scope.contains(&r.region_path()))
            .map(|r| (r.id, r))
            .collect();
        lines
            .iter()
            .map(|line| {
                by_id
                    .get(&line.record_id)
                    .cloned()
                    .ok_or_else(|| StorageError::not_found("potential record", line.record_id))
            })
            .collect()
    }

    /// Each line's daily rate: the one the office gave, else the compensation setting's for
    /// the record's type, subcategory or category; a line with neither is refused by name.
    async fn daily_rates(
        &self,
        lines: &[NewRequisitionLine],
        records: &[PotentialRecord],
    ) -> Result<Vec<i64>, StorageError> {
        if lines.iter().all(|line| line.daily_rate_fen.is_some()) {
            return Ok(lines.iter().filter_map(|l| l.daily_rate_fen).collect());
        }
        let setting = self.compensation_setting().await?;
        let taxonomy = self.taxonomy().await?;
        lines
            .iter()
            .zip(records)
            .enumerate()
            .map(|(index, (line, record))| {
                if let Some(given) = line.daily_rate_fen {
                    return Ok(given);
                }
                let found = taxonomy.resource_type(&record.type_code).and_then(|t| {
                    setting.daily_rate_for(&t.code, &t.subcategory, t.category.code())
                });
                found.map(|rate| rate.fen).ok_or_else(|| StorageError::Refused {
                    field: "items",
                    message: format!(
                        "items[{index}].daily_rate_fen: none given, and the compensation setting has no daily rate for {} (nor its subcategory or category); give one",
                        record.type_code
                    ),
                    message_zh: format!(
                        "items[{index}].daily_rate_fen：未填写，补偿标准中也没有 {} 及其子类、大类的日租金；请填写",
                        record.type_code
                    ),
                })
            })
            .collect()
    }

    /// The organization that holds `record`, which must be a registered enterprise.
    async fn enterprise_of(&self, record: &PotentialRecord) -> Result<i64, StorageError> {
        let not_enterprise = || StorageError::Refused {
            field: "items",
            message: format!(
                "record {} is held by {}, which is not a registered enterprise or a citizen; \
                 only their resources are requisitioned",
                record.id, record.holder_name
            ),
            message_zh: format!(
                "记录 {} 的持有人 {} 既不是已登记的企业，也不是公民；只能征用企业和公民的资源",
                record.id, record.holder_name
            ),
        };
        let organization_id = record.holder_organization_id.ok_or_else(not_enterprise)?;
        let kind: Option<String> = on_read_pool!(self, |pool| {
            sqlx::query_scalar("SELECT kind FROM organizations WHERE id = $1")
                .bind(organization_id)
                .fetch_optional(pool)
                .await
        })?;
        if kind.as_deref() == Some(OrganizationKind::Enterprise.as_str()) {
            Ok(organization_id)
        } else {
            Err(not_enterprise())
        }
    }
}

/// A person holder's name, masked for a reader whose roles do not allow personal data.
fn masked(mut summary: RequisitionSummary, scope: &Scope) -> RequisitionSummary {
    if summary.holder_kind == HolderKind::Person.as_str() && !scope.allows(DataClass::PersonalData)
    {
        let person = Holder::Person {
            name: summary.holder_name.clone(),
            id_number: None,
            phone: None,
        };
        summary.holder_name = person.masked().name().to_owned();
    }
    summary
}

/// Rebuilds the order from its draft and events. The draft is checked against no rules:
/// the exemptions were applied when it was drafted, and a later edit of the rules must not
/// make a stored order unreadable.
fn replay(
    summary: &RequisitionSummary,
    items: &[RequisitionItemRow],
    events: &[RequisitionEventRow],
) -> Result<RequisitionOrder, StorageError> {
    let id = summary.id;
    let category = HolderCategory::parse(&summary.holder_category)
        .ok_or_else(|| corrupt(id, "unknown holder category"))?;
    let draft = NewRequisitionOrder {
        legal_basis: summary.legal_basis.clone(),
        holder: RequisitionHolder {
            holder_id: summary.holder_organization_id.unwrap_or(0),
            name: summary.holder_name.clone(),
            category,
        },
        items: items
            .iter()
            .map(|item| NewRequisitionItem {
                item_id: item.record_id,
                type_code: item.type_code.clone(),
                attributes: BTreeMap::new(),
                in_service: false,
                quantity: item.quantity,
                declared_value_fen: item.declared_value_fen,
                daily_rate_fen: item.daily_rate_fen,
            })
            .collect(),
    };
    let no_rules = ExemptionRules::new(Vec::new()).map_err(|_| corrupt(id, "empty rules"))?;
    let mut order = draft
        .validate(&no_rules)
        .map_err(|problems| corrupt(id, join_problems(&problems)))?;
    for row in events {
        let event: RequisitionEvent =
            serde_json::from_str(&row.event).map_err(|e| corrupt(id, e))?;
        order = transition(&order, &event).map_err(|e| corrupt(id, e))?;
    }
    Ok(order)
}

/// The order's records, locked (PostgreSQL: `FOR UPDATE` in id order, so a requisition
/// and a demand's accept never wait on each other crosswise; SQLite has one writer), with
/// their reserved quantities.
async fn lock_order_records(
    tx: &mut WriteTx,
    items: &[RequisitionItemRow],
) -> Result<BTreeMap<i64, (PotentialRecord, f64)>, StorageError> {
    let mut ids: Vec<i64> = items.iter().map(|i| i.record_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let lock = if matches!(tx, WriteTx::Postgres(_)) {
        " FOR UPDATE"
    } else {
        ""
    };
    let (records, reserved): (Vec<PotentialRecord>, Vec<(i64, f64)>) = on_tx!(&mut *tx, |conn| {
        let mut query = QueryBuilder::new("SELECT * FROM potential_records WHERE id IN (");
        let mut separated = query.separated(", ");
        for id in &ids {
            separated.push_bind(*id);
        }
        query.push(") ORDER BY id");
        query.push(lock);
        let records = query.build_query_as().fetch_all(&mut *conn).await?;
        let mut query =
            QueryBuilder::new("SELECT id, reserved_quantity FROM potential_records WHERE id IN (");
        let mut separated = query.separated(", ");
        for id in &ids {
            separated.push_bind(*id);
        }
        query.push(")");
        let reserved = query.build_query_as().fetch_all(&mut *conn).await?;
        Ok::<_, sqlx::Error>((records, reserved))
    })?;
    let reserved: BTreeMap<i64, f64> = reserved.into_iter().collect();
    Ok(records
        .into_iter()
        .map(|r| {
            let held = reserved.get(&r.id).copied().unwrap_or(0.0);
            (r.id, (r, held))
        })
        .collect())
}

/// Sets one record's status and quantity, with its roll-ups and an audit entry naming the
/// order, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
async fn move_record(
    tx: &mut WriteTx,
    actor: &Actor,
    order_id: i64,
    before: &PotentialRecord,
    status: RecordStatus,
    quantity: f64,
    action: &'static str,
    condition: Option<ReturnCondition>,
    now: Timestamp,
) -> Result<(), StorageError> {
    let after: PotentialRecord = on_tx!(&mut *tx, |conn| {
        sqlx::query_as(
            "UPDATE potential_records SET status = $1, quantity = $2, updated_at = $3 \
             WHERE id = $4 RETURNING *",
        )
        .bind(status.as_str())
        .bind(quantity)
        .bind(now.as_millis())
        .bind(before.id)
        .fetch_one(&mut *conn)
        .await
    })?;
    let (before_path, after_path) = (before.region_path(), after.region_path());
    let mut deltas = RollupDeltas::new();
    deltas.update(
        &figures(before, &before_path),
        &figures(&after, &after_path),
    );
    apply_totals(tx, &deltas.into_changes()).await?;
    tx.audit(
        actor,
        now,
        AuditEvent {
            entity: "potential_record",
            entity_id: before.id.to_string(),
            action,
            region_path: &after_path,
            before: Some(serde_json::json!({
                "status": before.status,
                "quantity": before.quantity,
            })),
            after: Some(serde_json::json!({
                "status": after.status,
                "quantity": after.quantity,
                "requisition_order": order_id,
                "condition": condition.map(ReturnCondition::as_str),
            })),
        },
    )
    .await?;
    Ok(())
}

/// At the handover the order's records become `requisitioned` (out of the available
/// potential, and out of any allocation's reach, which takes only available or allocated
/// records). Each must still be available and hold the order's units: a record allocated to
/// a demand since the drafting, marked unavailable or handed over is refused by name, and
/// nothing of the handover stays.
async fn records_out(
    tx: &mut WriteTx,
    actor: &Actor,
    order_id: i64,
    items: &[RequisitionItemRow],
    now: Timestamp,
) -> Result<(), StorageError> {
    let records = lock_order_records(tx, items).await?;
    for (index, item) in items.iter().enumerate() {
        let Some((record, reserved)) = records.get(&item.record_id) else {
            return Err(StorageError::Conflict {
                message_zh: Some(format!(
                    "items[{index}]：记录 {} 已不存在；请撤销该征用令",
                    item.record_id
                )),
                field: "items",
                message: format!(
                    "items[{index}]: record {} no longer exists; cancel the order",
                    item.record_id
                ),
            });
        };
        let refuse = |why: String, why_zh: String| StorageError::Conflict {
            message_zh: Some(format!("items[{index}]：记录 {} {why_zh}", record.id)),
            field: "items",
            message: format!("items[{index}]: record {} {why}", record.id),
        };
        match record.status() {
            RecordStatus::Available => {}
            RecordStatus::Allocated => {
                return Err(refuse(
                    "is allocated to a demand; hand over or release that allocation first, or cancel this order".into(),
                    "已调配给一项需求；请先交接或释放该分配，或撤销本征用令".into(),
                ));
            }
            other => {
                return Err(refuse(
                    format!(
                        "is {other}; only an available record is handed over on a requisition order"
                    ),
                    format!("为“{}”；只有可用的记录才能按征用令交付", other.zh()),
                ));
            }
        }
        if *reserved > 0.0 {
            return Err(refuse(
                "has units reserved for a demand; hand over or release them first".into(),
                "有为需求预留的数量；请先交接或释放".into(),
            ));
        }
        if record.quantity < item.quantity as f64 {
            return Err(refuse(
                format!(
                    "holds {} now; the order takes {}",
                    record.quantity, item.quantity
                ),
                format!("现有 {}，征用令要征用 {}", record.quantity, item.quantity),
            ));
        }
        move_record(
            tx,
            actor,
            order_id,
            record,
            RecordStatus::Requisitioned,
            record.quantity,
            "requisition_hand_over",
            None,
            now,
        )
        .await?;
    }
    Ok(())
}

/// At the return each record still `requisitioned` comes back by its condition: good or
/// worn, `available` again; damaged, `unavailable` until the holder or the office says it is
/// repaired (`set_record_status`), since a damaged holding must not be counted or allocated
/// as if it worked; lost, its quantity less the units lost (they no longer exist, and the
/// compensation pays their value), the rest `available`, or `unavailable` when nothing is
/// left. A record someone moved meanwhile is left as it is.
async fn records_back(
    tx: &mut WriteTx,
    actor: &Actor,
    order_id: i64,
    items: &[RequisitionItemRow],
    conditions: &[ReturnCondition],
    now: Timestamp,
) -> Result<(), StorageError> {
    let records = lock_order_records(tx, items).await?;
    for (item, condition) in items.iter().zip(conditions) {
        let Some((record, _)) = records.get(&item.record_id) else {
            continue;
        };
        if record.status() != RecordStatus::Requisitioned {
            continue;
        }
        let (status, quantity) = match condition {
            ReturnCondition::Good | ReturnCondition::Worn => {
                (RecordStatus::Available, record.quantity)
            }
            ReturnCondition::Damaged => (RecordStatus::Unavailable, record.quantity),
            ReturnCondition::Lost => {
                let left = (record.quantity - item.quantity as f64).max(0.0);
                let status = if left > 0.0 {
                    RecordStatus::Available
                } else {
                    RecordStatus::Unavailable
                };
                (status, left)
            }
        };
        move_record(
            tx,
            actor,
            order_id,
            record,
            status,
            quantity,
            "requisition_return",
            Some(*condition),
            now,
        )
        .await?;
    }
    Ok(())
}

/// When an event happened, for the history's `at` column; an assessment has no time of its
/// own and is stamped with the time it was made.
fn event_time(event: &RequisitionEvent) -> Option<Timestamp> {
    match event {
        RequisitionEvent::Notify { at }
        | RequisitionEvent::HandOver { at }
        | RequisitionEvent::Return { at, .. }
        | RequisitionEvent::Approve { at }
        | RequisitionEvent::MarkPaid { at, .. }
        | RequisitionEvent::Cancel { at, .. } => Some(*at),
        RequisitionEvent::RecordUse { entry } => Some(entry.on),
        RequisitionEvent::Assess { .. } => None,
    }
}

fn already_requisitioned(record_id: i64, order_id: i64) -> StorageError {
    StorageError::Conflict {
        message_zh: Some(format!(
            "记录 {record_id} 已在未结束的征用令 {order_id} 上；不能重复征用"
        )),
        field: "items",
        message: format!(
            "record {record_id} is already on open requisition order {order_id}; it cannot be requisitioned twice"
        ),
    }
}

fn join_problems<T: std::fmt::Display>(problems: &[T]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// [`join_problems`] in Chinese: each problem's `zh`, joined by `；`.
fn join_problems_zh<T>(problems: &[T], zh: impl Fn(&T) -> String) -> String {
    problems.iter().map(zh).collect::<Vec<_>>().join("；")
}

/// Whether `code` is a resource type, a subcategory or a category of `taxonomy`: what a
/// daily rate may be keyed by.
fn is_taxonomy_code(taxonomy: &Taxonomy, code: &str) -> bool {
    taxonomy.resource_type(code).is_some()
        || taxonomy.subcategory(code).is_some()
        || Category::parse(code).is_some()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use muster_domain::requisition::{
        CompensationError, Exemption, ExemptionReason, RequisitionStatus,
    };

    use super::*;

    fn is_chinese(text: &str) -> bool {
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    /// Every hint `transition` gives with a refusal of the status.
    const HINTS: [&str; 10] = [
        "the holder has been notified already",
        "notify the holder first",
        "the items have been handed over already",
        "use is logged between handover and return",
        "only items handed over can be returned",
        "compensation is assessed after the return and before approval",
        "the handover and return times are missing",
        "assess the compensation first",
        "the compensation must be approved before it is paid",
        "the items are with the office; return them and assess the compensation",
    ];

    #[test]
    fn a_step_out_of_order_is_a_conflict_said_in_chinese_with_every_hint() {
        let mut said = HashSet::new();
        for (hint, action) in HINTS.into_iter().zip([
            "notify",
            "hand_over",
            "hand_over",
            "record_use",
            "return",
            "assess",
            "assess",
            "approve",
            "mark_paid",
            "cancel",
        ]) {
            let refusal = RequisitionRefusal::WrongStatus {
                action,
                status: RequisitionStatus::Drafted,
                hint,
            };
            let english = refusal.to_string();
            let StorageError::Conflict {
                field: "status",
                message,
                message_zh: Some(zh),
            } = refusal_error(refusal)
            else {
                panic!("{hint}: expected a conflict about the status");
            };
            assert_eq!(message, english);
            assert!(is_chinese(&zh), "{zh}");
            assert!(
                !zh.chars().any(|c| c.is_ascii_alphabetic()),
                "left in English: {zh}"
            );
            assert!(said.insert(zh.clone()), "said twice: {zh}");
        }
        let StorageError::Conflict {
            message_zh: Some(zh),
            ..
        } = refusal_error(RequisitionRefusal::Finished {
            status: RequisitionStatus::Paid,
        })
        else {
            panic!("a finished order is a conflict");
        };
        assert!(zh.contains("已支付"), "{zh}");
    }

    #[test]
    fn other_refusals_of_an_event_keep_their_field_and_are_said_in_chinese() {
        for (refusal, field) in [
            (
                RequisitionRefusal::BeforePreviousEvent { action: "return" },
                "at",
            ),
            (
                RequisitionRefusal::ConditionsMismatch {
                    expected: 2,
                    found: 1,
                },
                "conditions",
            ),
            (RequisitionRefusal::TooManyHours { found: 25 }, "event"),
            (
                RequisitionRefusal::TooManyKilometres { found: 5_001 },
                "event",
            ),
            (RequisitionRefusal::EmptyUseEntry, "event"),
            (
                RequisitionRefusal::TextTooLong {
                    field: "cancel.reason",
                    length: 2_001,
                },
                "event",
            ),
            (
                RequisitionRefusal::TextMissing {
                    field: "mark_paid.reference",
                },
                "event",
            ),
            (
                RequisitionRefusal::Compensation(CompensationError::ReturnBeforeHandover),
                "event",
            ),
        ] {
            let english = refusal.to_string();
            match refusal_error(refusal) {
                StorageError::Refused {
                    field: refused,
                    message,
                    message_zh,
                } => {
                    assert_eq!(refused, field, "{english}");
                    assert_eq!(message, english);
                    assert!(is_chinese(&message_zh), "{message_zh}");
                }
                other => panic!("expected a refusal of {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn every_problem_of_a_draft_is_said_in_chinese_by_the_same_path() {
        let exemption = Exemption {
            item_id: 42,
            reasons: vec![ExemptionReason {
                rule_code: "disabled_adapted_vehicle".into(),
                rule_description: String::new(),
                explanation: String::new(),
            }],
        };
        let problems = [
            RequisitionProblem::LegalBasisMissing,
            RequisitionProblem::LegalBasisTooLong { length: 2_001 },
            RequisitionProblem::HolderNameMissing,
            RequisitionProblem::NoItems,
            RequisitionProblem::TooManyItems { count: 501 },
            RequisitionProblem::DuplicateItem {
                index: 1,
                item_id: 7,
            },
            RequisitionProblem::TypeMissing { index: 2 },
            RequisitionProblem::BadQuantity { index: 3, found: 0 },
            RequisitionProblem::NegativeValue {
                index: 4,
                found: -1,
            },
            RequisitionProblem::NegativeRate {
                index: 5,
                found: -2,
            },
            RequisitionProblem::Exempt {
                index: 6,
                exemption,
            },
        ];
        let english: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let chinese = join_problems_zh(&problems, RequisitionProblem::zh);
        let chinese: Vec<&str> = chinese.split('；').collect();
        assert_eq!(chinese.len(), problems.len());
        for (en, zh) in english.iter().zip(&chinese) {
            let path = en.split_once(": ").map_or("", |(p, _)| p);
            assert!(zh.starts_with(&format!("{path}：")), "{en} / {zh}");
            assert!(is_chinese(zh), "{zh}");
        }
        assert!(chinese[10].contains("disabled_adapted_vehicle") && chinese[10].contains("42"));

        let rules = [
            ExemptionRuleProblem::CodeMissing { index: 0 },
            ExemptionRuleProblem::DuplicateCode {
                index: 1,
                code: "hospital".into(),
            },
            ExemptionRuleProblem::DescriptionMissing { index: 2 },
            ExemptionRuleProblem::NoTypes { index: 3 },
            ExemptionRuleProblem::AttributeMissing { index: 4 },
            ExemptionRuleProblem::BadNumber { index: 5 },
        ];
        for rule in &rules {
            let en = rule.to_string();
            let path = en.split_once(": ").map_or("", |(p, _)| p);
            let zh = rule.zh();
            assert!(zh.starts_with(&format!("{path}：")), "{en} / {zh}");
            assert!(!zh.contains('；'), "one problem, one piece: {zh}");
        }
    }

    #[test]
    fn a_compensation_setting_is_refused_in_both_languages_by_field() {
        let problems = [
            CompensationSettingProblem::Policy(CompensationError::BadPercentage {
                field: "worn_basis_points",
                found: 20_000,
            }),
            CompensationSettingProblem::Policy(CompensationError::DamageBelowWear {
                worn: 600,
                damaged: 500,
            }),
            CompensationSettingProblem::CodeMissing,
            CompensationSettingProblem::UnknownCode {
                code: "NO.SUCH".into(),
            },
            CompensationSettingProblem::BadRate {
                code: "TRN.ROAD".into(),
                found: -5,
            },
            CompensationSettingProblem::TooManyRates { count: 1_001 },
        ];
        let StorageError::Refused {
            field,
            message,
            message_zh,
        } = crate::settings::refused(&problems, |p| p.field(), CompensationSettingProblem::zh)
        else {
            panic!("expected a refusal");
        };
        assert_eq!(field, "worn_basis_points");
        assert_eq!(message, join_problems(&problems), "the English as before");
        let chinese: Vec<&str> = message_zh.split('；').collect();
        assert_eq!(chinese.len(), problems.len(), "{message_zh}");
        for (problem, zh) in problems.iter().zip(&chinese) {
            let en = problem.to_string();
            let path = en.split_once(": ").map_or("", |(p, _)| p);
            assert!(zh.starts_with(&format!("{path}：")), "{en} / {zh}");
            assert!(is_chinese(zh), "{zh}");
        }
    }
}
