//! Appending to and verifying the hash-chained audit log.

use muster_domain::audit::{
    AuditRecord, ChainBreak, ChainVerifier, StoredAuditEntry, redact_details,
};
use muster_domain::{Actor, RegionPath, Scope, Timestamp};
use serde::Serialize;

use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::demands::clearance_rank;
use crate::error::StorageError;
use crate::facilities::FacilityReach;

/// One write, described for the log. `before`/`after` are serialised to JSON here.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    pub entity: &'static str,
    pub entity_id: String,
    pub action: &'static str,
    pub region_path: &'a RegionPath,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// An entry as shown to a reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub actor_user_id: Option<i64>,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub region_path: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    /// Whether details this reader may not see were taken out of `before` or `after`, so
    /// that what is shown no longer matches `hash`.
    #[sqlx(skip)]
    pub redacted: bool,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerification {
    Intact { entries: i64 },
    Broken(ChainBreak),
}

impl WriteTx {
    /// Appends one entry, chained to the head, inside this transaction. The `UPDATE … RETURNING`
    /// on the single head row takes its row lock on PostgreSQL, so concurrent writers queue
    /// here instead of forking the chain; SQLite has one writer already.
    pub(crate) async fn audit(
        &mut self,
        actor: &Actor,
        at: Timestamp,
        event: AuditEvent<'_>,
    ) -> Result<i64, StorageError> {
        let (seq, prev_hash): (i64, String) = on_tx!(self, |conn| {
            sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *conn)
                .await
        })?;
        let record = AuditRecord {
            seq,
            at,
            actor: actor.name().to_owned(),
            actor_user_id: actor.user_id(),
            entity: event.entity.to_owned(),
            entity_id: event.entity_id,
            action: event.action.to_owned(),
            region_path: event.region_path.as_str().to_owned(),
            before: event.before.map(|v| v.to_string()),
            after: event.after.map(|v| v.to_string()),
        };
        let hash = record.chain_hash(&prev_hash);
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO audit_log (seq, at, actor, actor_user_id, entity, entity_id, action, region_path, before, after, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(record.seq)
            .bind(record.at.as_millis())
            .bind(&record.actor)
            .bind(record.actor_user_id)
            .bind(&record.entity)
            .bind(&record.entity_id)
            .bind(&record.action)
            .bind(&record.region_path)
            .bind(&record.before)
            .bind(&record.after)
            .bind(&prev_hash)
            .bind(&hash)
            .execute(&mut *conn)
            .await?;
            sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
                .bind(&hash)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        Ok(seq)
    }
}

const VERIFY_PAGE: i64 = 5_000;

impl Database {
    /// Walks the whole chain in pages and names the first entry that does not fit.
    pub async fn verify_audit_chain(
        &self,
        mut progress: impl FnMut(i64, i64),
    ) -> Result<AuditVerification, StorageError> {
        let (head_seq, head_hash): (i64, String) = on_read_pool!(self, |pool| sqlx::query_as(
            "SELECT seq, hash FROM audit_head WHERE id = 1"
        )
        .fetch_one(pool)
        .await)?;
        let mut verifier = ChainVerifier::default();
        let mut after = 0i64;
        loop {
            let page: Vec<AuditEntry> = on_read_pool!(self, |pool| {
                sqlx::query_as("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
                    .bind(after)
                    .bind(VERIFY_PAGE)
                    .fetch_all(pool)
                    .await
            })?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for entry in page {
                let stored = StoredAuditEntry {
                    record: AuditRecord {
                        seq: entry.seq,
                        at: Timestamp::from_millis(entry.at),
                        actor: entry.actor,
                        actor_user_id: entry.actor_user_id,
                        entity: entry.entity,
                        entity_id: entry.entity_id,
                        action: entry.action,
                        region_path: entry.region_path,
                        before: entry.before,
                        after: entry.after,
                    },
                    prev_hash: entry.prev_hash,
                    hash: entry.hash,
                };
                if let Err(chain_break) = verifier.check(&stored) {
                    return Ok(AuditVerification::Broken(chain_break));
                }
            }
            progress(after, head_seq);
        }
        Ok(match verifier.finish(head_seq, &head_hash) {
            Ok(entries) => AuditVerification::Intact { entries },
            Err(chain_break) => AuditVerification::Broken(chain_break),
        })
    }

    /// The newest entries about `scope`'s subtree that its data classes allow, newest first
    /// (for the command line and tests, which act for no user; a user reads through
    /// [`Database::audit_entries_read_by`]).
    pub async fn audit_entries(
        &self,
        scope: &Scope,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        self.audit_entries_reached(scope, &AuditReach::of_scope(scope), None, limit)
            .await
    }

    /// The newest entries `actor` may read, newest first: those about their subtree, less
    /// the entries about what their roles and organization keep from them elsewhere, and
    /// with the details their data classes do not allow taken out (see [`AuditReach`] and
    /// [`redact_details`]). Read in the one query, so the limit counts what is shown.
    pub async fn audit_entries_read_by(
        &self,
        actor: &Actor,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        self.audit_entries_read_by_before(actor, None, limit).await
    }

    /// [`Self::audit_entries_read_by`] from the entry before `before_seq` back (None: from the
    /// newest), so that a reader can go further back than one read's limit.
    pub async fn audit_entries_read_by_before(
        &self,
        actor: &Actor,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let scope = actor.scope();
        let mut reach = AuditReach::of_scope(scope);
        match self.facility_reach(actor).await? {
            FacilityReach::Subtree(_) => {}
            FacilityReach::Grids { user_id, .. } => reach.grid_member = user_id,
            FacilityReach::Manager {
                organization_id, ..
            } => reach.manager = organization_id,
        }
        if let Some(user_id) = actor.user_id() {
            reach.requisition_holder = self.enterprise_account_of(user_id).await?.unwrap_or(0);
            if !actor.administers() {
                reach.own_only = user_id;
            }
        }
        self.audit_entries_reached(scope, &reach, before_seq, limit)
            .await
    }

    async fn audit_entries_reached(
        &self,
        scope: &Scope,
        reach: &AuditReach,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let mut entries: Vec<AuditEntry> = on_read_pool!(self, |pool| {
            sqlx::query_as(READ_REACHED)
                .bind(&low)
                .bind(&high)
                .bind(reach.clearance)
                .bind(reach.grid_member)
                .bind(reach.manager)
                .bind(reach.requisition_holder)
                .bind(reach.own_only)
                .bind(limit.clamp(1, 1000))
                .bind(before_seq.unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await
        })?;
        for entry in &mut entries {
            entry.redacted =
                redact_details(&entry.entity, &mut entry.before, &mut entry.after, scope);
        }
        Ok(entries)
    }
}

/// What of the audit log about their subtree a reader may not read, by what the entries
/// are about: each rule is the one that reader meets where that entity itself is read, so
/// the log tells no one what the entity's own pages would not. A `0` sets no limit.
#[derive(Debug, Clone, Copy)]
struct AuditReach {
    /// Demands classified above this rank are left out, as `demands` reads them.
    clearance: i64,
    /// A grid member's user id: grids only their own (as `grids` lists them), facilities,
    /// inspections and rectification orders only of their grids' facilities, and patrols
    /// only of their grids' routes and of routes with no grid (`FacilityReach::Grids`,
    /// `routes_reached`).
    grid_member: i64,
    /// A property manager's organization: facilities, inspections and orders only of the
    /// facilities it manages, and no patrols (`FacilityReach::Manager`).
    manager: i64,
    /// An enterprise's account: requisition orders only of its own, and none of the
    /// records' requisition hand-overs and returns (`RequisitionReach::Holder`).
    requisition_holder: i64,
    /// API tokens and sign-ins only of this user (anyone but an administrator: tokens and
    /// sessions are their owner's, and no page shows a colleague's).
    own_only: i64,
}

impl AuditReach {
    fn of_scope(scope: &Scope) -> Self {
        Self {
            clearance: clearance_rank(scope),
            grid_member: 0,
            manager: 0,
            requisition_holder: 0,
            own_only: 0,
        }
    }
}

/// [`AuditReach`] as SQL, in the order of its fields (`$3` … `$7`), then the limit (`$8`)
/// and the sequence number to read back from (`$9`, `i64::MAX` for the newest). Entries are compared
/// with the entities' ids as text: `entity_id` is text, and not every entity's is a number.
/// A batch's entry ("12 facilities", a sweep) names no one entity and is left out wherever
/// the entity's reach is limited.
const READ_REACHED: &str = "SELECT * FROM audit_log a \
    WHERE a.region_path >= $1 AND a.region_path < $2 \
    AND NOT (a.entity = 'demand' AND a.entity_id IN \
        (SELECT CAST(d.id AS TEXT) FROM demands d WHERE d.classification_rank > $3)) \
    AND (($4 = 0 AND $5 = 0) \
        OR a.entity NOT IN ('facility', 'inspection', 'rectification_order', 'patrol_route', 'patrol_run', 'grid') \
        OR (a.entity = 'grid' AND ($4 = 0 OR a.entity_id IN \
            (SELECT CAST(gm.grid_id AS TEXT) FROM grid_members gm WHERE gm.user_id = $4))) \
        OR (a.entity = 'facility' AND a.entity_id IN (SELECT CAST(f.id AS TEXT) FROM facilities f \
            WHERE ($4 = 0 OR f.grid_id IN (SELECT gm.grid_id FROM grid_members gm WHERE gm.user_id = $4)) \
            AND ($5 = 0 OR f.manager_organization_id = $5))) \
        OR (a.entity = 'inspection' AND a.entity_id IN (SELECT CAST(i.id AS TEXT) FROM inspections i \
            JOIN facilities f ON f.id = i.facility_id \
            WHERE ($4 = 0 OR f.grid_id IN (SELECT gm.grid_id FROM grid_members gm WHERE gm.user_id = $4)) \
            AND ($5 = 0 OR f.manager_organization_id = $5))) \
        OR (a.entity = 'rectification_order' AND a.entity_id IN (SELECT CAST(o.id AS TEXT) FROM rectification_orders o \
            JOIN facilities f ON f.id = o.facility_id \
            WHERE ($4 = 0 OR f.grid_id IN (SELECT gm.grid_id FROM grid_members gm WHERE gm.user_id = $4)) \
            AND ($5 = 0 OR f.manager_organization_id = $5))) \
        OR ($5 = 0 AND a.entity = 'patrol_route' AND a.entity_id IN (SELECT CAST(r.id AS TEXT) FROM patrol_routes r \
            WHERE r.grid_id IS NULL OR r.grid_id IN (SELECT gm.grid_id FROM grid_members gm WHERE gm.user_id = $4))) \
        OR ($5 = 0 AND a.entity = 'patrol_run' AND a.entity_id IN (SELECT CAST(n.id AS TEXT) FROM patrol_runs n \
            JOIN patrol_routes r ON r.id = n.route_id \
            WHERE r.grid_id IS NULL OR r.grid_id IN (SELECT gm.grid_id FROM grid_members gm WHERE gm.user_id = $4)))) \
    AND ($6 = 0 \
        OR (a.entity = 'requisition_order' AND a.entity_id IN \
            (SELECT CAST(o.id AS TEXT) FROM requisition_orders o WHERE o.holder_organization_id = $6)) \
        OR (a.entity <> 'requisition_order' AND NOT (a.entity = 'potential_record' \
            AND a.action IN ('requisition_hand_over', 'requisition_return')))) \
    AND ($7 = 0 OR a.entity <> 'api_token' OR a.entity_id IN \
        (SELECT CAST(t.id AS TEXT) FROM api_tokens t WHERE t.user_id = $7)) \
    AND ($7 = 0 OR a.entity <> 'session' OR a.entity_id = CAST($7 AS TEXT)) \
    AND a.seq < $9 \
    ORDER BY a.seq DESC LIMIT $8";
