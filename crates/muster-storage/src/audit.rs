//! Appending to and verifying the hash-chained audit log.

use muster_domain::audit::{AuditRecord, ChainBreak, ChainVerifier, StoredAuditEntry};
use muster_domain::{Actor, RegionPath, Scope, Timestamp};
use serde::Serialize;

use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;

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

    /// The newest entries about the reader's subtree, newest first.
    pub async fn audit_entries(
        &self,
        scope: &Scope,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        self.audit_entries_leaving_out(scope, [""; 2], limit).await
    }

    /// The newest entries `actor` may read, newest first: those about their subtree, less
    /// the entities their role may not read elsewhere. A property manager reads no patrol
    /// route (see `routes_reached`), so neither the routes' entries nor the check-ins'.
    pub async fn audit_entries_read_by(
        &self,
        actor: &Actor,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let hidden = match self.facility_reach(actor).await? {
            crate::facilities::FacilityReach::Manager { .. } => ["patrol_route", "patrol_run"],
            _ => [""; 2],
        };
        self.audit_entries_leaving_out(actor.scope(), hidden, limit)
            .await
    }

    /// The entries about `scope`, but those of the `hidden` entities ('' hides none).
    async fn audit_entries_leaving_out(
        &self,
        scope: &Scope,
        hidden: [&str; 2],
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM audit_log WHERE region_path >= $1 AND region_path < $2 \
                 AND entity <> $3 AND entity <> $4 ORDER BY seq DESC LIMIT $5",
            )
            .bind(&low)
            .bind(&high)
            .bind(hidden[0])
            .bind(hidden[1])
            .bind(limit.clamp(1, 1000))
            .fetch_all(pool)
            .await
        })?)
    }
}
