//! The potential registry: the taxonomy, potential records with their roll-up totals, and
//! baselines with the gaps they leave.
//!
//! Every write to `potential_records` applies its [`RollupDeltas`] to `potential_totals` in
//! the same transaction, so totals for any subtree are a read of that subtree's own rows.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use muster_domain::potential::import::{
    ImportRules, PendingRows, RecordPlacer, RegionInfo, RowProblem, SheetProblems, read_records,
    read_records_in_batches,
};
use muster_domain::potential::rollup::{RecordFigures, RollupDeltas, Totals, has_totals_rows};
use muster_domain::potential::{
    Holder, HolderKind, RecordDraft, RecordStatus, matched_across_levels, repeated_across_levels,
    same_holding, split_holding_key,
};
use muster_domain::taxonomy::{ResourceType, Taxonomy};
use muster_domain::{Actor, DataClass, RegionLevel, RegionPath, Role, Scope, Timestamp};
use serde::Serialize;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, QueryBuilder};
use tokio::sync::mpsc::{Receiver, Sender};

use crate::audit::AuditEvent;
use crate::copy::{BinaryCopy, COPY_CHUNK_BYTES};
use crate::db::{Backend, Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::regions::{IndexAction, set_indexes};
use crate::sites::{SiteLinks, link_sites_not_seen};

/// A stored potential record, as a reader in scope sees it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PotentialRecord {
    pub id: i64,
    pub holding_key: String,
    pub type_code: String,
    pub quantity: f64,
    pub attributes: String,
    pub quality_grade: String,
    pub holder_kind: String,
    pub holder_organization_id: Option<i64>,
    pub holder_name: String,
    pub holder_id_number: Option<String>,
    pub holder_phone: Option<String>,
    pub site_id: Option<i64>,
    pub site_name: Option<String>,
    pub region_code: String,
    pub region_path: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub status: String,
    pub round_id: Option<i64>,
    pub submission_id: Option<i64>,
    pub reporting_organization_id: Option<i64>,
    pub first_reported_quantity: f64,
    pub previous_quantity: Option<f64>,
    pub verified_quantity: Option<f64>,
    pub last_verified_at: Option<i64>,
    pub reopened: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PotentialRecord {
    pub fn holder(&self) -> Holder {
        match HolderKind::parse(&self.holder_kind) {
            Some(HolderKind::Person) => Holder::Person {
                name: self.holder_name.clone(),
                id_number: self.holder_id_number.clone(),
                phone: self.holder_phone.clone(),
            },
            _ => Holder::Organization {
                id: self.holder_organization_id,
                name: self.holder_name.clone(),
            },
        }
    }

    pub fn status(&self) -> RecordStatus {
        RecordStatus::parse(&self.status).unwrap_or(RecordStatus::Unavailable)
    }

    pub fn region_path(&self) -> RegionPath {
        RegionPath::parse(&self.region_path).unwrap_or_else(RegionPath::root)
    }

    /// Blanks a person's personal data for a reader whose roles do not allow it. Applied by
    /// every read below, so no handler can forget it.
    pub(crate) fn masked_for(mut self, scope: &Scope) -> Self {
        if self.holder_kind == HolderKind::Person.as_str() && !scope.allows(DataClass::PersonalData)
        {
            if let Holder::Person {
                name,
                id_number,
                phone,
            } = self.holder().masked()
            {
                self.holder_name = name;
                self.holder_id_number = id_number;
                self.holder_phone = phone;
            }
            // The key names the person too (by identity number): hide it as well.
            self.holding_key = String::new();
        }
        self
    }
}

/// Where records came from: a survey round's submission, or a bulk load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordProvenance {
    pub round_id: Option<i64>,
    pub submission_id: Option<i64>,
    pub reporting_organization_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordImportSummary {
    pub inserted: usize,
    pub totals_rows: usize,
    pub audit_seq: i64,
}

#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    /// Only this region's subtree (narrowed within the reader's scope).
    pub region_code: Option<String>,
    pub type_code: Option<String>,
    pub status: Option<RecordStatus>,
    pub limit: i64,
    pub after_id: i64,
}

/// One type's totals in a subtree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeTotals {
    pub type_code: String,
    pub totals: Totals,
}

/// Totals of one subtree, by type, and of each child subtree, for the drill-down.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubtreeTotals {
    pub path: RegionPath,
    pub by_type: Vec<TypeTotals>,
}

/// A required quantity of one type for one region's subtree.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct BaselineRow {
    pub region_code: String,
    pub type_code: String,
    pub required_quantity: f64,
}

/// Requirement against verified potential for one type in a subtree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub type_code: String,
    pub required: f64,
    pub verified: f64,
    pub reported: f64,
    /// required − verified, never below zero.
    pub shortfall: f64,
    /// shortfall / required: 1.0 when nothing verified, 0.0 when covered.
    pub shortfall_share: f64,
}

/// code, path, level, lat, lon.
type RegionInfoRow = (String, String, i64, Option<f64>, Option<f64>);

/// Roles that report potential: the offices, workstations and member units, and the
/// administrator. Liaisons, grid members and viewers read.
fn refuse_unless_reporter(actor: &Actor) -> Result<(), StorageError> {
    if may_report(actor) {
        Ok(())
    } else {
        Err(StorageError::forbidden(
            "only office, workstation and member-unit staff report potential",
            "只有动员办、工作站和成员单位的工作人员才能填报动员潜力",
        ))
    }
}

pub(crate) fn may_report(actor: &Actor) -> bool {
    actor.administers()
        || [
            Role::OfficeStaff,
            Role::WorkstationStaff,
            Role::MemberUnitOfficer,
        ]
        .iter()
        .any(|r| actor.has_role(*r))
}

/// The values SQLite's multi-row insert binds for each record (the rest are literals).
const SQLITE_BOUND_COLUMNS: usize = 18;

/// Records a multi-row insert: SQLite allows 32,766 bound parameters a statement.
const SQLITE_RECORDS_PER_INSERT: usize = 1_800;
const _: () = assert!(SQLITE_RECORDS_PER_INSERT * SQLITE_BOUND_COLUMNS <= 32_766);

/// The columns SQLite's multi-row insert names: bound ones, then the per-batch literals.
const SQLITE_RECORD_COLUMNS: &str = "holding_key, type_code, quantity, attributes, quality_grade, holder_kind, \
     holder_organization_id, holder_name, holder_id_number, holder_phone, site_name, \
     region_code, region_path, lat, lon, status, first_reported_quantity, site_id, \
     round_id, submission_id, reporting_organization_id, created_at, updated_at";

/// An optional id as a SQL literal.
fn sql_number(value: Option<i64>) -> String {
    value.map_or_else(|| "NULL".to_owned(), |v| v.to_string())
}
/// Spreadsheet files read at once in this process; the others wait their turn
/// ([`file_read_turn`]).
pub const FILE_READS_AT_ONCE: usize = 2;

/// Requests that may wait for a turn at once; one more is refused as busy, so that a burst
/// of uploads cannot pile up their bodies in memory while they wait.
pub const FILE_READS_WAITING: usize = 8;

/// The process's turns to read a spreadsheet ([`file_read_turn`]). Process-wide rather than
/// per database: what they guard is the process's memory.
static FILE_READS: FileReadTurns = FileReadTurns::new(FILE_READS_AT_ONCE, FILE_READS_WAITING);

/// Turns to read a file, and how many requests may wait for one.
struct FileReadTurns {
    turns: tokio::sync::Semaphore,
    /// Requests waiting for a turn now.
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
}

/// One request counted in [`FileReadTurns::waiting`] until it stops waiting (or is dropped
/// while it waits).
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl FileReadTurns {
    const fn new(at_once: usize, max_waiting: usize) -> Self {
        Self {
            turns: tokio::sync::Semaphore::const_new(at_once),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// A turn at once if one is free; else a wait for one, unless `max_waiting` requests
    /// wait already.
    async fn take(&self) -> Result<tokio::sync::SemaphorePermit<'_>, StorageError> {
        use std::sync::atomic::Ordering::SeqCst;
        if let Ok(turn) = self.turns.try_acquire() {
            return Ok(turn);
        }
        if self.waiting.fetch_add(1, SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, SeqCst);
            return Err(self.busy());
        }
        let _waiting = Waiting(&self.waiting);
        self.turns.acquire().await.map_err(|_| self.busy())
    }

    fn busy(&self) -> StorageError {
        let waiting = self.max_waiting;
        StorageError::Conflict {
            field: "file",
            message: format!(
                "the server is reading other files and {waiting} more are waiting; send this \
                 one again in a minute"
            ),
            message_zh: Some(format!(
                "服务器正在读取其他文件，另有 {waiting} 个在等待；请一分钟后重新上传"
            )),
        }
    }
}

/// A turn to read and check a spreadsheet file, held until the returned permit is dropped:
/// move it into the blocking task that reads, so that a request dropped meanwhile (a client
/// gone) does not free the turn while the read goes on. A workbook within the reading limits
/// can still take 2–3 GB while it is read (calamine's XML, the owned cells, the drafts), so a
/// dozen uploaded at once could exhaust the server's memory. While all turns are taken, up
/// to [`FILE_READS_WAITING`] requests wait, each holding only its upload; one more is refused
/// as busy, to be sent again in a minute.
pub async fn file_read_turn() -> Result<tokio::sync::SemaphorePermit<'static>, StorageError> {
    FILE_READS.take().await
}

/// Every turn at once, for a test that must see readers wait (taken together, so that two
/// such tests cannot each hold a part and wait for the rest).
#[cfg(feature = "testing")]
pub async fn every_file_read_turn() -> Option<tokio::sync::SemaphorePermit<'static>> {
    let all = u32::try_from(FILE_READS_AT_ONCE).ok()?;
    FILE_READS.turns.acquire_many(all).await.ok()
}

/// From this many records an import gets the bulk-load page cache.
const BULK_RECORDS: usize = 50_000;

/// A bulk load into a table holding fewer records than this drops the unique holding index
/// of `potential_records` and builds it again before the commit: one sort instead of a
/// million scattered B-tree inserts, which were most of PostgreSQL's COPY time. A table this
/// small costs little to index again, and on PostgreSQL the `DROP INDEX` locks
/// `potential_records` until the commit, which only a first load can afford.
const REINDEX_BELOW_RECORDS: i64 = 100_000;

/// The index a first bulk load drops and builds again on SQLite, exactly as migration 0002
/// creates it on both backends (`a_file_stored_in_batches_is_all_or_nothing` checks the
/// indexes stay equal). Built again, it refuses a holding stored before just as inserting
/// into it would. SQLite keeps its other secondary indexes (round, site, type): their keys
/// repeat, so rows land at a few hundred places in key order, and with the type's dropped
/// too a million-record load took longer (the rebuild waited for the end; kept, its cost is
/// spread over the storing, while the file is read and prepared on the other core).
/// PostgreSQL drops the type's too: [`POSTGRES_BULK_LOAD_INDEXES`].
const BULK_LOAD_INDEXES: [(&str, &str); 1] = [HOLDING_INDEX];

const HOLDING_INDEX: (&str, &str) = (
    "potential_records_holding",
    "CREATE UNIQUE INDEX potential_records_holding ON potential_records (holding_key)",
);

/// Whether storing `stored` records into a table that held `stored_before` leaves the
/// planner's statistics of it out of date: a tenth or more added, as PostgreSQL's autovacuum
/// judges by default (`autovacuum_analyze_scale_factor`), and a first load always.
fn outdates_statistics(stored: usize, stored_before: i64) -> bool {
    let stored = i64::try_from(stored).unwrap_or(i64::MAX);
    stored.saturating_mul(10) >= stored_before
}

/// PostgreSQL's first bulk load drops the type index as well, as 0018 creates it. Its keys
/// repeat (a few hundred types), and PostgreSQL adds each repeat at the end of its key's
/// run, where the leaf fills, is deduplicated, fills again and splits, over and over: in the
/// statement log of a million-record import the COPY statements took 6.1–6.5 s without the
/// index (then `type_code, status`) against 9.2–10.3 s with it, and building it took 2.0–2.7 s
/// (a parallel build, on the core the client leaves idle once the file is read). Migration
/// 0018 made that build cheaper still.
const POSTGRES_BULK_LOAD_INDEXES: [(&str, &str); 2] = [
    HOLDING_INDEX,
    (
        "potential_records_type",
        "CREATE INDEX potential_records_type ON potential_records (type_code)",
    ),
];

/// The indexes a first bulk load drops and builds again on `tx`'s backend.
fn bulk_load_indexes(tx: &WriteTx) -> &'static [(&'static str, &'static str)] {
    match tx {
        WriteTx::Sqlite(_) => &BULK_LOAD_INDEXES,
        WriteTx::Postgres(_) => &POSTGRES_BULK_LOAD_INDEXES,
    }
}

/// PostgreSQL only: the other foreign keys of `potential_records` (0007 dropped the region's),
/// exactly as 0002 declares them. Each fires a trigger for every row COPY stores, even a NULL
/// one (the row is fetched again to see that), so a load that drops the indexes drops these
/// too and adds them back before the commit (`add_record_foreign_keys`). Adding one back
/// checks the stored records whose column is not NULL, in one join; each column leads a
/// partial index of exactly those records (0003, 0017), read instead of the whole table for a
/// key the load's records leave NULL. Meanwhile `organizations` and `sites` are locked, for
/// reads too (so the import reads the sites before its writer begins). SQLite checks a key
/// with one index probe a row and skips NULLs, so there they stay.
const RECORD_FOREIGN_KEYS: [(&str, &str); 3] = [
    (
        "potential_records_holder_organization_id_fkey",
        "FOREIGN KEY (holder_organization_id) REFERENCES organizations (id)",
    ),
    (
        "potential_records_site_id_fkey",
        "FOREIGN KEY (site_id) REFERENCES sites (id)",
    ),
    (
        "potential_records_reporting_organization_id_fkey",
        "FOREIGN KEY (reporting_organization_id) REFERENCES organizations (id)",
    ),
];

/// Drops [`RECORD_FOREIGN_KEYS`] on PostgreSQL; nothing on SQLite.
async fn drop_record_foreign_keys(tx: &mut WriteTx) -> Result<(), sqlx::Error> {
    let WriteTx::Postgres(conn) = tx else {
        return Ok(());
    };
    for (name, _) in RECORD_FOREIGN_KEYS {
        // Constants of this module, never user input.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE potential_records DROP CONSTRAINT {name}"
        )))
        .execute(&mut **conn)
        .await?;
    }
    Ok(())
}

/// Adds [`RECORD_FOREIGN_KEYS`] back on PostgreSQL (nothing on SQLite); adding one checks
/// every stored record whose column is not NULL. The keys whose column no record of this load
/// fills are checked with sequential scans disabled: a load into a table of fewer than
/// [`REINDEX_BELOW_RECORDS`] records leaves their partial index that small, but the planner,
/// with no statistics yet for the million rows just stored, takes most of them to be filled
/// and reads the whole table instead (0.2–0.7 s a key, against a millisecond).
async fn add_record_foreign_keys(tx: &mut WriteTx, named: KeysNamed) -> Result<(), sqlx::Error> {
    let WriteTx::Postgres(conn) = tx else {
        return Ok(());
    };
    for (name, definition) in RECORD_FOREIGN_KEYS {
        let from_index = !named.fills(name);
        if from_index {
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut **conn)
                .await?;
        }
        // Constants of this module, never user input.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE potential_records ADD CONSTRAINT {name} {definition}"
        )))
        .execute(&mut **conn)
        .await?;
        if from_index {
            sqlx::query("SET LOCAL enable_seqscan TO DEFAULT")
                .execute(&mut **conn)
                .await?;
        }
    }
    Ok(())
}

/// Which columns of [`RECORD_FOREIGN_KEYS`] the records a writer stored fill anywhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KeysNamed {
    holder_organization: bool,
    site: bool,
    reporting_organization: bool,
}

impl KeysNamed {
    /// The keys `drafts` name, linked to `sites` and stored with `provenance`.
    fn of(drafts: &[&(u32, RecordDraft)], sites: &SiteLinks, provenance: RecordProvenance) -> Self {
        let mut named = Self {
            reporting_organization: provenance.reporting_organization_id.is_some(),
            ..Self::default()
        };
        for (_, draft) in drafts.iter().copied() {
            named.holder_organization |= HolderColumns::of(&draft.holder).organization_id.is_some();
            // A look-up only for records that name a site, and none once one was linked.
            named.site = named.site || (draft.site.is_some() && sites.site_of(draft).is_some());
        }
        named
    }

    fn and(self, other: Self) -> Self {
        Self {
            holder_organization: self.holder_organization || other.holder_organization,
            site: self.site || other.site,
            reporting_organization: self.reporting_organization || other.reporting_organization,
        }
    }

    /// Whether the records fill the column of the key `name` of [`RECORD_FOREIGN_KEYS`].
    fn fills(self, name: &str) -> bool {
        match name {
            "potential_records_holder_organization_id_fkey" => self.holder_organization,
            "potential_records_site_id_fkey" => self.site,
            "potential_records_reporting_organization_id_fkey" => self.reporting_organization,
            // A key this list does not know: the planner decides.
            _ => true,
        }
    }
}

/// Rows the reading thread of a file import hands over at a time: enough for a batch's
/// statements (or COPY) to pay off, few enough that reading runs ahead while the batch
/// before is stored. A file that fills its first batch is loaded as a bulk load.
const IMPORT_BATCH_ROWS: usize = 25_000;

/// 7 columns a row.
const SQLITE_TOTALS_PER_UPSERT: usize = 4_000;

/// The columns PostgreSQL's binary COPY of records fills, in order; those that start empty
/// are left to their defaults.
const COPY_RECORD_COLUMNS: &str = "holding_key, type_code, quantity, attributes, quality_grade, holder_kind, \
     holder_organization_id, holder_name, holder_id_number, holder_phone, site_id, site_name, \
     region_code, region_path, lat, lon, status, round_id, submission_id, reporting_organization_id, \
     first_reported_quantity, created_at, updated_at";

/// How many columns [`COPY_RECORD_COLUMNS`] names.
const COPY_RECORD_FIELDS: i16 = 23;

impl Database {
    /// PostgreSQL: gathers the planner's statistics of the records and their roll-ups again,
    /// in the background, once a bulk write has outdated them ([`outdates_statistics`]).
    ///
    /// Without statistics (a first load, and for good on a server whose autovacuum is off or
    /// has not come round yet) the planner took a village's `GROUP BY` over 500 records for
    /// 50,000, and that estimate's cost passed `jit_above_cost`: each such query spent about
    /// 20 ms compiling itself, and `muster bench potential`'s totals over 10,000,000 records
    /// had a p99 of 20–24 ms; with statistics, about 2 ms. `ANALYZE` reads a sample of
    /// 30,000 rows whatever the table's size (0.8 s at ten million records), so it runs after
    /// the commit rather than inside the import the office waits for. SQLite's planner uses
    /// no such estimates for these queries and is left alone.
    fn refresh_record_statistics(&self) {
        let Database::Postgres(pool) = self else {
            return;
        };
        let pool = pool.clone();
        tokio::spawn(async move {
            match sqlx::raw_sql("ANALYZE potential_records, potential_totals")
                .execute(&pool)
                .await
            {
                Ok(_) => {}
                // The database was closed first: its next start plans as before.
                Err(sqlx::Error::PoolClosed) => {}
                Err(e) => tracing::warn!(
                    error = %e,
                    "could not gather the records' statistics after a bulk load"
                ),
            }
        });
    }

    /// The taxonomy in force. A database that has none yet gets the default.
    pub async fn taxonomy(&self) -> Result<Taxonomy, StorageError> {
        let stored: Option<String> = on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT document FROM taxonomy WHERE id = 1"
        )
        .fetch_optional(pool)
        .await)?;
        taxonomy_of(stored)
    }

    /// Adds a resource type or edits one. An edit that would change the meaning of records
    /// already stored (unit, category, attribute kinds and ranges …, see
    /// [`ResourceType::changes_meaning`]) is refused once the type is used: add a new type.
    pub async fn save_resource_type(
        &self,
        actor: &Actor,
        resource_type: ResourceType,
    ) -> Result<Taxonomy, StorageError> {
        let administrator = self
            .refuse_unless_installation_administrator(actor, "the taxonomy", "资源分类")
            .await?;
        let mut tx = self.begin_write().await?;
        // Read under a lock: two edits at once each change the document they saw, so an
        // unlocked read would lose the other's type. SQLite has one writer; PostgreSQL locks
        // the row, which is first made to exist (the default, as `taxonomy` reads it).
        let lock = match tx.backend() {
            crate::Backend::Postgres => {
                let now = crate::now();
                on_tx!(&mut tx, |conn| {
                    sqlx::query(
                    "INSERT INTO taxonomy (id, revision, document, updated_at) VALUES (1, 0, $1, $2) \
                     ON CONFLICT (id) DO NOTHING"
                )
                .bind(Taxonomy::default_taxonomy().to_json())
                .bind(now.as_millis())
                .execute(&mut *conn)
                .await
                .map(|_| ())
                })?;
                " FOR UPDATE"
            }
            crate::Backend::Sqlite => "",
        };
        let stored: Option<String> = on_tx!(&mut tx, |conn| sqlx::query_scalar(
            sqlx::AssertSqlSafe(format!("SELECT document FROM taxonomy WHERE id = 1{lock}"))
        )
        .fetch_optional(&mut *conn)
        .await)?;
        let current = taxonomy_of(stored)?;
        let before = current.resource_type(&resource_type.code).cloned();
        if let Some(before) = &before
            && before.changes_meaning(&resource_type)
        {
            // Used: stored as records, or in any report's rows (awaiting review, or a first
            // version the round's dashboard still sums), or in a baseline.
            let used: bool = on_tx!(&mut tx, |conn| sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM potential_records WHERE type_code = $1) \
                 OR EXISTS (SELECT 1 FROM submission_rows WHERE type_code = $1) \
                 OR EXISTS (SELECT 1 FROM baselines WHERE type_code = $1)"
            )
            .bind(&resource_type.code)
            .fetch_one(&mut *conn)
            .await)?;
            if used {
                return Err(StorageError::Conflict {
                    field: "code",
                    message: format!(
                        "records, reports or baselines of {} are stored; this change would alter what they mean. Rename or widen only, or add a new type",
                        resource_type.code
                    ),
                    message_zh: Some(format!(
                        "已有 {} 类型的记录、报送或基准；此修改会改变其含义。只能改名或放宽限制，或新增一个类型",
                        resource_type.code
                    )),
                });
            }
        }
        let code = resource_type.code.clone();
        let after_json = serde_json::to_value(&resource_type).ok();
        let updated = current
            .with_resource_type(resource_type)
            .map_err(|e| StorageError::refused("resource_type", e.to_string(), e.zh()))?;
        let now = crate::now();
        on_tx!(&mut tx, |conn| {
            sqlx::query(
            "INSERT INTO taxonomy (id, revision, document, updated_at) VALUES (1, 1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET revision = taxonomy.revision + 1, document = excluded.document, updated_at = excluded.updated_at"
        )
        .bind(updated.to_json())
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await
        .map(|_| ())
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "resource_type",
                entity_id: code,
                action: if before.is_some() { "update" } else { "create" },
                region_path: &administrator.region,
                before: before.and_then(|b| serde_json::to_value(b).ok()),
                after: after_json,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// What the importer needs to know of the regions a file names.
    pub async fn region_infos(
        &self,
        codes: impl IntoIterator<Item = String>,
    ) -> Result<HashMap<String, RegionInfo>, StorageError> {
        let codes: Vec<String> = codes.into_iter().collect();
        let mut found = HashMap::with_capacity(codes.len());
        let rows: Vec<RegionInfoRow> = match self {
            // One statement with an array: a file's first batch names some 15,000 regions,
            // and a statement per 500 of them was 0.3 s before the first record was stored.
            Database::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT code, path, level, lat, lon FROM regions WHERE code = ANY($1)",
                )
                .bind(&codes)
                .fetch_all(pool)
                .await?
            }
            Database::Sqlite(pools) => {
                let mut rows = Vec::with_capacity(codes.len());
                for chunk in codes.chunks(500) {
                    let mut query = QueryBuilder::new(
                        "SELECT code, path, level, lat, lon FROM regions WHERE code IN (",
                    );
                    let mut separated = query.separated(", ");
                    for code in chunk {
                        separated.push_bind(code.as_str());
                    }
                    query.push(")");
                    rows.extend(
                        query
                            .build_query_as::<RegionInfoRow>()
                            .fetch_all(&pools.read)
                            .await?,
                    );
                }
                rows
            }
        };
        for (code, path, level, lat, lon) in rows {
            let (Some(path), Some(level)) = (
                RegionPath::parse(&path),
                u8::try_from(level).ok().and_then(RegionLevel::from_depth),
            ) else {
                continue;
            };
            found.insert(
                code,
                RegionInfo {
                    path,
                    level,
                    coordinates: lat.zip(lon),
                },
            );
        }
        Ok(found)
    }

    /// Stores validated records and their roll-ups in one transaction with one audit entry,
    /// or nothing. A holding already registered (by anyone: another unit's report counts) is
    /// refused with the row that repeats it, so no holding is ever counted twice.
    pub async fn insert_records(
        &self,
        actor: &Actor,
        drafts: Vec<(u32, RecordDraft)>,
        provenance: RecordProvenance,
        source: &str,
    ) -> Result<RecordImportSummary, StorageError> {
        refuse_unless_reporter(actor)?;
        if let Some((_, outside)) = drafts
            .iter()
            .find(|(_, d)| !actor.scope().contains(&d.region_path))
        {
            return Err(StorageError::out_of_scope("region", &outside.region_code));
        }
        if drafts.is_empty() {
            return Err(nothing_to_store());
        }
        let repeats = repeats_in_list(&drafts, source);
        if !repeats.is_empty() {
            return Err(StorageError::SheetRejected(SheetProblems(repeats)));
        }
        let now = crate::now();
        let mut writer = RecordWriter::begin(self, drafts.len() >= BULK_RECORDS, now).await?;
        if let Err(e) = check_record_regions(writer.tx(), &drafts).await {
            writer.abandon(self).await?;
            return Err(e);
        }
        let stored = match writer.store(&drafts, provenance).await {
            Ok(()) => writer.finish_storing().await,
            Err(e) => Err(e),
        };
        match stored {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => {
                writer.abandon(self).await?;
                let holdings = drafts.iter().map(|(row, d)| (*row, d.holding_key.as_str()));
                return Err(self.holding_conflicts(holdings, source).await);
            }
            Err(e) => {
                writer.abandon(self).await?;
                return Err(StorageError::from_inserting_references(e));
            }
        }
        // Checked once stored, with the index back, as a file import is: the drafts are the
        // writer's own rows by now, not holdings stored before.
        let holdings: Vec<(u32, &str)> = drafts
            .iter()
            .map(|(row, d)| (*row, d.holding_key.as_str()))
            .collect();
        if let Err(e) = writer
            .refuse_stored_at_other_levels(&holdings, source)
            .await
        {
            writer.abandon(self).await?;
            return Err(e);
        }
        let mut tally = RecordTally::default();
        tally.add(&drafts);
        writer
            .commit(self, actor, provenance, source, tally.into_changes())
            .await
    }

    /// Reads, validates and stores an uploaded spreadsheet of records, all or nothing:
    /// the path a web upload, `muster import records` and the benchmark share.
    /// `allowed_types` limits the types (a survey round's scope).
    ///
    /// Reading and checking run on a blocking thread that hands over the rows in batches;
    /// a preparing task places each batch (regions, scope, holdings twice) and encodes it
    /// while the writer stores the batch before in the one write transaction, so on two cores
    /// the file is checked while it is stored. Once any row fails, storing stops and the rest
    /// is only checked; the transaction is then rolled back and every problem of the file
    /// returned.
    pub async fn import_potential_file(
        &self,
        actor: &Actor,
        bytes: Vec<u8>,
        file_name: &str,
        allowed_types: Option<HashSet<String>>,
        provenance: RecordProvenance,
    ) -> Result<RecordImportSummary, StorageError> {
        refuse_unless_reporter(actor)?;
        let taxonomy = self.taxonomy().await?;
        let turn = file_read_turn().await?;
        let (sender, batches) = tokio::sync::mpsc::channel::<PendingRows>(2);
        let name = file_name.to_owned();
        let reader = tokio::task::spawn_blocking(move || {
            // Held while the file is read, even should the request be dropped meanwhile.
            let _turn = turn;
            let rules = ImportRules {
                taxonomy: &taxonomy,
                allowed_types: allowed_types.as_ref(),
            };
            read_records_in_batches(&bytes, &name, rules, IMPORT_BATCH_ROWS, |batch| {
                sender.blocking_send(batch).is_ok()
            })
        });
        let now = crate::now();
        let (prepared_sender, mut prepared) = tokio::sync::mpsc::channel::<Prepared>(2);
        let mut preparer = AbortOnDrop(tokio::spawn(prepare_batches(
            self.clone(),
            batches,
            actor.scope().subtree().clone(),
            provenance,
            now,
            prepared_sender,
        )));
        let mut writer: Option<RecordWriter> = None;
        let stored = self.store_prepared(&mut prepared, now, &mut writer).await;
        if stored.is_err() {
            // Nothing more will be stored: stop placing (and so reading) at once.
            preparer.0.abort();
        }
        drop(prepared);
        let preparation = (&mut preparer.0)
            .await
            .map_err(task_stopped)
            .and_then(|prepared| prepared);
        let read = reader
            .await
            .map_err(task_stopped)
            .and_then(|read| read.map_err(StorageError::SheetRejected));
        let (stored, preparation, reader_problems) = match (stored, preparation, read) {
            (Ok(stored), Ok(preparation), Ok(problems)) => {
                if !stored.stored_all {
                    self.abandon(&mut writer).await?;
                }
                (stored, preparation, problems)
            }
            // A failed query, or a file that breaks after some batches were stored (a quote
            // never closed): nothing of it is kept, and the connection gets its usual
            // settings back.
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                self.abandon(&mut writer).await?;
                return Err(e);
            }
        };
        let Some(placer) = preparation.placer else {
            return Err(StorageError::Refused {
                field: "file",
                message: "the file could not be read to its end".into(),
                message_zh: "文件未能读到结尾".into(),
            });
        };
        // Every holding of the file, kept past `finish` where a stored record may repeat one.
        let holdings: Vec<(u32, String)> =
            if stored.conflict || writer.as_ref().is_some_and(|w| w.stored_before > 0) {
                placer.holdings().collect()
            } else {
                Vec::new()
            };
        if stored.conflict {
            // Problems of the file itself come first; a holding stored before is only news
            // for a file that is right in itself.
            placer
                .finish(reader_problems)
                .map_err(StorageError::SheetRejected)?;
            let holdings = holdings.iter().map(|(row, key)| (*row, key.as_str()));
            return Err(self.holding_conflicts(holdings, file_name).await);
        }
        if let Err(problems) = placer.finish(reader_problems) {
            self.abandon(&mut writer).await?;
            return Err(StorageError::SheetRejected(problems));
        }
        let Some(mut writer) = writer else {
            return Err(nothing_to_store());
        };
        // The file's rows are stored by now: they are its own, not a holding stored before.
        let keys: Vec<(u32, &str)> = holdings.iter().map(|(r, k)| (*r, k.as_str())).collect();
        if let Err(e) = writer.refuse_stored_at_other_levels(&keys, file_name).await {
            writer.abandon(self).await?;
            return Err(e);
        }
        let seen = &preparation.sites_seen;
        if let Err(e) = link_sites_not_seen(writer.tx(), actor.scope().subtree(), seen).await {
            writer.abandon(self).await?;
            return Err(e);
        }
        writer
            .commit(self, actor, provenance, file_name, preparation.tally)
            .await
    }

    /// The storing half of [`Self::import_potential_file`]: stores each prepared batch
    /// through `writer` (begun with the first) until a row fails or a holding was stored
    /// before; from then on the writer is abandoned, at once, so the write lock is not held
    /// while the rest is only checked.
    async fn store_prepared(
        &self,
        prepared: &mut Receiver<Prepared>,
        now: Timestamp,
        writer: &mut Option<RecordWriter>,
    ) -> Result<Stored, StorageError> {
        let mut storing = true;
        let mut conflict = false;
        // A channel closed before `Done` is a preparing task that failed: its error comes
        // back from the task, and nothing is to be built again for a writer to be abandoned.
        let mut done = false;
        while let Some(message) = prepared.recv().await {
            let (full, records, keys) = match message {
                Prepared::Batch {
                    full,
                    records,
                    keys,
                } => (full, records, keys),
                Prepared::Done => {
                    done = true;
                    break;
                }
                Prepared::Refused => {
                    storing = false;
                    self.abandon(writer).await?;
                    break;
                }
            };
            let open = match writer {
                Some(open) => open,
                None => writer.insert(RecordWriter::begin(self, full, now).await?),
            };
            match store_encoded(open.tx(), records).await {
                Ok(()) => open.keys_named = open.keys_named.and(keys),
                Err(e) if is_unique_violation(&e) => {
                    conflict = true;
                    storing = false;
                    self.abandon(writer).await?;
                    break;
                }
                Err(e) => return Err(StorageError::from_inserting_references(e)),
            }
        }
        storing &= done;
        if storing && let Some(open) = writer {
            match open.finish_storing().await {
                Ok(()) => {}
                Err(e) if is_unique_violation(&e) => {
                    conflict = true;
                    storing = false;
                }
                Err(e) => return Err(StorageError::from_inserting_references(e)),
            }
        }
        Ok(Stored {
            conflict,
            stored_all: storing,
        })
    }

    /// Rolls back an import's writer, if one was begun.
    async fn abandon(&self, writer: &mut Option<RecordWriter>) -> Result<(), StorageError> {
        match writer.take() {
            Some(writer) => writer.abandon(self).await,
            None => Ok(()),
        }
    }

    /// The checking half of [`Self::import_potential_file`]: every row validated against
    /// the taxonomy and the stored regions, nothing written.
    pub async fn validate_potential_file(
        &self,
        actor: &Actor,
        bytes: Vec<u8>,
        file_name: &str,
        allowed_types: Option<HashSet<String>>,
    ) -> Result<Vec<(u32, RecordDraft)>, StorageError> {
        let within = actor.scope().subtree().clone();
        self.validate_file_within(bytes, file_name, allowed_types, &within)
            .await
    }

    /// [`Self::validate_potential_file`] for rows that must lie in `within` (a survey
    /// assignment's region, inside the actor's scope): every row outside it is a problem at
    /// its region cell, as one outside the scope is.
    pub(crate) async fn validate_file_within(
        &self,
        bytes: Vec<u8>,
        file_name: &str,
        allowed_types: Option<HashSet<String>>,
        within: &RegionPath,
    ) -> Result<Vec<(u32, RecordDraft)>, StorageError> {
        let taxonomy = self.taxonomy().await?;
        let turn = file_read_turn().await?;
        let name = file_name.to_owned();
        let pending = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let rules = ImportRules {
                taxonomy: &taxonomy,
                allowed_types: allowed_types.as_ref(),
            };
            read_records(&bytes, &name, rules).map(|importer| importer.into_pending())
        })
        .await
        .map_err(|e| {
            StorageError::refused(
                "file",
                format!("the file could not be read: {e}"),
                format!("文件无法读取（{e}）"),
            )
        })?
        .map_err(StorageError::SheetRejected)?;
        let regions = self.region_infos(pending.region_codes()).await?;
        pending
            .finish(&regions, within)
            .map_err(StorageError::SheetRejected)
    }

    /// After a refused insert: which rows name a holding that is already registered.
    pub(crate) async fn holding_conflicts<'k>(
        &self,
        holdings: impl Iterator<Item = (u32, &'k str)>,
        source: &str,
    ) -> StorageError {
        let holdings: Vec<(u32, &str)> = holdings.collect();
        let mut problems = Vec::new();
        for chunk in holdings.chunks(500) {
            let found: Result<Vec<(String, i64, Option<i64>)>, sqlx::Error> = on_read_pool!(
                self,
                |pool| {
                    let mut query = QueryBuilder::new(
                        "SELECT holding_key, id, reporting_organization_id FROM potential_records WHERE holding_key IN (",
                    );
                    let mut separated = query.separated(", ");
                    for (_, key) in chunk {
                        separated.push_bind(*key);
                    }
                    query.push(")");
                    query.build_query_as().fetch_all(pool).await
                }
            );
            let Ok(found) = found else {
                continue;
            };
            let by_key: HashMap<&str, (i64, Option<i64>)> = found
                .iter()
                .map(|(k, id, org)| (k.as_str(), (*id, *org)))
                .collect();
            for (row, key) in chunk {
                if let Some((id, org)) = by_key.get(key) {
                    let by =
                        org.map_or_else(String::new, |o| format!(", reported by organization {o}"));
                    let by_zh = org.map_or_else(String::new, |o| format!("（由单位 {o} 填报）"));
                    problems.push(RowProblem {
                        sheet: source.to_owned(),
                        row: Some(*row),
                        column: None,
                        field: Some("holder_name".into()),
                        message: format!(
                            "this holding (same holder, type and site) is already registered as record {id}{by}; it is not counted twice"
                        ),
                        message_zh: Some(format!(
                            "同一持有者、类型和地点的潜力已登记为记录 {id}{by_zh}，不重复计数"
                        )),
                    });
                }
            }
        }
        problems.sort_by_key(|p| p.row);
        if problems.is_empty() {
            return StorageError::Conflict {
                field: "holding_key",
                message:
                    "a holding in the file was registered by someone else meanwhile; import again"
                        .into(),
                message_zh: Some("文件中的某项潜力刚被他人登记，请重新导入".into()),
            };
        }
        problems.sort_by_key(|p| p.row);
        StorageError::SheetRejected(SheetProblems(problems))
    }

    /// Totals by type for a subtree: the reader's scope, or one region inside it.
    pub async fn subtree_totals(
        &self,
        scope: &Scope,
        region_code: Option<&str>,
    ) -> Result<SubtreeTotals, StorageError> {
        let path = match region_code {
            None => scope.subtree().clone(),
            Some(code) => self.region(scope, code).await?.region_path(),
        };
        let mut by_path = self.totals_at(std::slice::from_ref(&path)).await?;
        Ok(SubtreeTotals {
            by_type: by_path.remove(path.as_str()).unwrap_or_default(),
            path,
        })
    }

    /// Totals by type for several subtrees at once (a region's children, for the
    /// drill-down). Paths outside the reader's scope are left out.
    pub async fn totals_of_subtrees(
        &self,
        scope: &Scope,
        paths: &[RegionPath],
    ) -> Result<BTreeMap<String, Vec<TypeTotals>>, StorageError> {
        let inside: Vec<RegionPath> = paths
            .iter()
            .filter(|p| scope.contains(p))
            .cloned()
            .collect();
        self.totals_at(&inside).await
    }

    /// Totals rows where the roll-ups keep them; for villages, which have none (see
    /// [`muster_domain::potential::rollup::ROLLUP_MAX_DEPTH`]), a `GROUP BY` over the few
    /// records of each.
    async fn totals_at(
        &self,
        paths: &[RegionPath],
    ) -> Result<BTreeMap<String, Vec<TypeTotals>>, StorageError> {
        let mut result: BTreeMap<String, Vec<TypeTotals>> = BTreeMap::new();
        let (kept, villages): (Vec<&RegionPath>, Vec<&RegionPath>) =
            paths.iter().partition(|p| has_totals_rows(p));
        for village in villages {
            let counted = self.grouped_totals(village).await?;
            if !counted.is_empty() {
                result.insert(village.as_str().to_owned(), counted);
            }
        }
        for chunk in kept.chunks(500) {
            let rows: Vec<(String, String, i64, f64, f64, i64, f64)> = on_read_pool!(
                self,
                |pool| {
                    let mut query = QueryBuilder::new(
                        "SELECT region_path, type_code, record_count, quantity, available_quantity, verified_count, verified_quantity \
                     FROM potential_totals WHERE region_path IN (",
                    );
                    let mut separated = query.separated(", ");
                    for path in chunk {
                        separated.push_bind(path.as_str());
                    }
                    query.push(") AND record_count <> 0 ORDER BY region_path, type_code");
                    query.build_query_as().fetch_all(pool).await
                }
            )?;
            for (
                path,
                type_code,
                record_count,
                quantity,
                available_quantity,
                verified_count,
                verified_quantity,
            ) in rows
            {
                result.entry(path).or_default().push(TypeTotals {
                    type_code,
                    totals: Totals {
                        record_count,
                        quantity,
                        available_quantity,
                        verified_count,
                        verified_quantity,
                    },
                });
            }
        }
        Ok(result)
    }

    /// The same figures as [`Self::subtree_totals`], computed the slow way from the records
    /// themselves: for checking the roll-ups, and as the benchmark's anchor.
    pub async fn totals_from_records(
        &self,
        scope: &Scope,
        path: &RegionPath,
    ) -> Result<Vec<TypeTotals>, StorageError> {
        if !scope.contains(path) {
            return Err(StorageError::out_of_scope("region", path.as_str()));
        }
        self.grouped_totals(path).await
    }

    async fn grouped_totals(&self, path: &RegionPath) -> Result<Vec<TypeTotals>, StorageError> {
        let (low, high) = path.subtree_range();
        let rows: Vec<(String, i64, f64, f64, i64, f64)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT type_code, COUNT(*), CAST(SUM(quantity) AS DOUBLE PRECISION), \
                 CAST(SUM(CASE WHEN status = 'available' THEN quantity ELSE 0 END) AS DOUBLE PRECISION), \
                 COUNT(last_verified_at), \
                 CAST(SUM(CASE WHEN last_verified_at IS NOT NULL THEN quantity ELSE 0 END) AS DOUBLE PRECISION) \
                 FROM potential_records WHERE holding_key >= $1 AND holding_key < $2 \
                 GROUP BY type_code ORDER BY type_code",
            )
            .bind(&low)
            .bind(&high)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    type_code,
                    record_count,
                    quantity,
                    available_quantity,
                    verified_count,
                    verified_quantity,
                )| TypeTotals {
                    type_code,
                    totals: Totals {
                        record_count,
                        quantity,
                        available_quantity,
                        verified_count,
                        verified_quantity,
                    },
                },
            )
            .collect())
    }

    /// A page of records in the reader's scope, by id.
    pub async fn potential_records(
        &self,
        scope: &Scope,
        filter: &RecordFilter,
    ) -> Result<Vec<PotentialRecord>, StorageError> {
        let path = match &filter.region_code {
            None => scope.subtree().clone(),
            Some(code) => self.region(scope, code).await?.region_path(),
        };
        let (low, high) = path.subtree_range();
        let status = filter.status.map(|s| s.as_str());
        let records: Vec<PotentialRecord> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM potential_records WHERE region_path >= $1 AND region_path < $2 \
                 AND ($3 IS NULL OR type_code = $3) AND ($4 IS NULL OR status = $4) AND id > $5 \
                 ORDER BY id LIMIT $6",
            )
            .bind(&low)
            .bind(&high)
            .bind(&filter.type_code)
            .bind(status)
            .bind(filter.after_id)
            .bind(filter.limit.clamp(1, 1000))
            .fetch_all(pool)
            .await
        })?;
        Ok(records.into_iter().map(|r| r.masked_for(scope)).collect())
    }

    pub async fn potential_record(
        &self,
        scope: &Scope,
        id: i64,
    ) -> Result<PotentialRecord, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let found: Option<PotentialRecord> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM potential_records WHERE id = $1 AND region_path >= $2 AND region_path < $3",
            )
            .bind(id)
            .bind(&low)
            .bind(&high)
            .fetch_optional(pool)
            .await
        })?;
        found
            .map(|r| r.masked_for(scope))
            .ok_or_else(|| StorageError::not_found("potential record", id))
    }

    /// Changes a record's status by hand (reserving, releasing, marking unavailable or
    /// repaired), keeping the totals in step. Only between the statuses people set
    /// ([`RecordStatus::is_set_by_hand`]), and not while stock of the record is reserved for
    /// a demand's allocation.
    pub async fn set_record_status(
        &self,
        actor: &Actor,
        id: i64,
        status: RecordStatus,
    ) -> Result<PotentialRecord, StorageError> {
        if !may_report(actor) {
            return Err(StorageError::forbidden(
                "only office, workstation and member-unit staff change records",
                "只有动员办、工作站和成员单位的工作人员才能修改潜力记录",
            ));
        }
        if !status.is_set_by_hand() {
            return Err(StorageError::refused(
                "status",
                format!(
                    "a record is set {} by a demand or a requisition order, not by hand; expected available, reserved or unavailable",
                    status.as_str()
                ),
                format!(
                    "记录的“{}”状态由需求或征用令设定，不能手工设定；应为 可用、已预留 或 不可用",
                    status.zh()
                ),
            ));
        }
        let mut tx = self.begin_write().await?;
        let before = record_for_update(&mut tx, actor.scope(), id).await?;
        let reserved: f64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
                "SELECT CAST(reserved_quantity AS DOUBLE PRECISION) FROM potential_records WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&mut *conn)
            .await
        })?;
        if !before.status().is_set_by_hand() || reserved > 0.0 {
            return Err(StorageError::Conflict {
                field: "status",
                message: format!(
                    "record {id} is {} for a demand or a requisition order; its status changes with them",
                    before.status
                ),
                message_zh: Some(format!(
                    "记录 {id} 因需求或征用令处于“{}”状态，其状态随需求或征用令变化",
                    before.status().zh()
                )),
            });
        }
        let now = crate::now();
        let after: PotentialRecord = on_tx!(&mut tx, |conn| {
            sqlx::query_as(
            "UPDATE potential_records SET status = $1, updated_at = $2 WHERE id = $3 RETURNING *"
        )
        .bind(status.as_str())
        .bind(now.as_millis())
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        })?;
        let mut deltas = RollupDeltas::new();
        let (before_path, after_path) = (before.region_path(), after.region_path());
        deltas.update(
            &figures(&before, &before_path),
            &figures(&after, &after_path),
        );
        apply_totals(&mut tx, &deltas.into_changes()).await?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "potential_record",
                entity_id: id.to_string(),
                action: "set_status",
                region_path: &after_path,
                before: Some(serde_json::json!({ "status": before.status })),
                after: Some(serde_json::json!({ "status": after.status })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(after.masked_for(actor.scope()))
    }

    /// Sets required quantities, all or nothing: every region must be in the writer's scope
    /// and every type known.
    pub async fn set_baselines(
        &self,
        actor: &Actor,
        rows: Vec<BaselineRow>,
    ) -> Result<usize, StorageError> {
        if !(actor.administers() || actor.has_role(Role::OfficeStaff)) {
            return Err(StorageError::forbidden(
                "only office staff set baselines",
                "只有动员办工作人员才能设定需求基线",
            ));
        }
        let taxonomy = self.taxonomy().await?;
        let regions = self
            .region_infos(rows.iter().map(|r| r.region_code.clone()))
            .await?;
        let mut problems = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let mut refuse = |field: &str, message: String, message_zh: String| {
                problems.push(RowProblem {
                    sheet: "baselines".into(),
                    row: Some(line),
                    column: None,
                    field: Some(field.to_owned()),
                    message,
                    message_zh: Some(message_zh),
                });
            };
            let code = &row.region_code;
            match regions.get(code) {
                None => refuse(
                    "region_code",
                    format!("unknown region {code}"),
                    format!("没有行政区划 {code}"),
                ),
                Some(info) if !actor.scope().contains(&info.path) => refuse(
                    "region_code",
                    format!("region {code} is outside your region"),
                    format!("行政区划 {code} 不在您的辖区内"),
                ),
                Some(_) => {}
            }
            match taxonomy.resource_type(&row.type_code) {
                None => refuse(
                    "type_code",
                    format!("unknown resource type {}", row.type_code),
                    format!("没有资源类型 {}", row.type_code),
                ),
                Some(t) => {
                    if let Err(problem) = t.check_quantity(row.required_quantity) {
                        refuse("required_quantity", problem.to_string(), problem.zh());
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(StorageError::SheetRejected(SheetProblems(problems)));
        }
        let now = crate::now();
        let top = RegionPath::deepest_enclosing(
            rows.iter()
                .filter_map(|r| regions.get(&r.region_code).map(|i| &i.path)),
        );
        let mut tx = self.begin_write().await?;
        for row in &rows {
            let Some(info) = regions.get(&row.region_code) else {
                continue;
            };
            on_tx!(&mut tx, |conn| {
                sqlx::query(
                "INSERT INTO baselines (region_code, region_path, type_code, required_quantity, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (region_path, type_code) \
                 DO UPDATE SET required_quantity = excluded.required_quantity, updated_at = excluded.updated_at"
            )
            .bind(&row.region_code)
            .bind(info.path.as_str())
            .bind(&row.type_code)
            .bind(row.required_quantity)
            .bind(now.as_millis())
            .execute(&mut *conn)
            .await
            .map(|_| ())
            })?;
        }
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "baseline",
                // One baseline is named by what it is; a sheet's by how many.
                entity_id: match rows.as_slice() {
                    [one] => format!("{}|{}", one.region_code, one.type_code),
                    _ => format!("{} baselines", rows.len()),
                },
                action: "set",
                region_path: &top,
                before: None,
                after: serde_json::to_value(rows.iter().take(20).collect::<Vec<_>>()).ok(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Requirement against verified potential for a subtree, worst first. A region's own
    /// baseline for a type is the requirement of its whole subtree; where it has none, the
    /// requirements of the regions below it add up — so a province that sets its own figure
    /// is not double-counted with its counties'.
    pub async fn gaps(
        &self,
        scope: &Scope,
        region_code: Option<&str>,
    ) -> Result<Vec<Gap>, StorageError> {
        let path = match region_code {
            None => scope.subtree().clone(),
            Some(code) => self.region(scope, code).await?.region_path(),
        };
        let (low, high) = path.subtree_range();
        let rows: Vec<(String, String, f64)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT region_path, type_code, required_quantity FROM baselines \
                 WHERE region_path >= $1 AND region_path < $2",
            )
            .bind(&low)
            .bind(&high)
            .fetch_all(pool)
            .await
        })?;
        let required = requirement_by_type(&path, &rows);
        let totals = self.totals_at(std::slice::from_ref(&path)).await?;
        let by_type: HashMap<&str, &Totals> = totals
            .get(path.as_str())
            .map(|t| {
                t.iter()
                    .map(|t| (t.type_code.as_str(), &t.totals))
                    .collect()
            })
            .unwrap_or_default();
        let mut gaps: Vec<Gap> = required
            .into_iter()
            .map(|(type_code, required)| {
                let totals = by_type.get(type_code.as_str());
                let verified = totals.map_or(0.0, |t| t.verified_quantity);
                let reported = totals.map_or(0.0, |t| t.quantity);
                let shortfall = (required - verified).max(0.0);
                Gap {
                    type_code,
                    required,
                    verified,
                    reported,
                    shortfall,
                    shortfall_share: if required > 0.0 {
                        shortfall / required
                    } else {
                        0.0
                    },
                }
            })
            .collect();
        gaps.sort_by(|a, b| {
            b.shortfall_share
                .total_cmp(&a.shortfall_share)
                .then(b.shortfall.total_cmp(&a.shortfall))
                .then(a.type_code.cmp(&b.type_code))
        });
        Ok(gaps)
    }
}

impl Database {
    /// The baselines set in a subtree (the reader's scope, or one region inside it), by
    /// region path and type, a page at a time: `after` is the last (region path, type code)
    /// of the previous page. Read-only; added for `GET /api/v1/potential/baselines`.
    pub async fn baselines(
        &self,
        scope: &Scope,
        region_code: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<StoredBaseline>, StorageError> {
        let path = match region_code {
            None => scope.subtree().clone(),
            Some(code) => self.region(scope, code).await?.region_path(),
        };
        let (low, high) = path.subtree_range();
        let (after_path, after_type) = after.unwrap_or(("", ""));
        let rows: Vec<StoredBaseline> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT region_code, region_path, type_code, required_quantity, updated_at FROM baselines \
                 WHERE region_path >= $1 AND region_path < $2 \
                 AND (region_path > $3 OR (region_path = $3 AND type_code > $4)) \
                 ORDER BY region_path, type_code LIMIT $5",
            )
            .bind(&low)
            .bind(&high)
            .bind(after_path)
            .bind(after_type)
            .bind(limit.clamp(1, 10_000))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}

/// A stored baseline row, as [`Database::baselines`] reads it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StoredBaseline {
    pub region_code: String,
    pub region_path: String,
    pub type_code: String,
    pub required_quantity: f64,
    pub updated_at: i64,
}

/// Per type: the subtree root's own baseline if it has one, else, recursively, the sum over
/// its children of theirs.
fn requirement_by_type(root: &RegionPath, rows: &[(String, String, f64)]) -> BTreeMap<String, f64> {
    let mut by_type: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
    for (path, type_code, quantity) in rows {
        by_type
            .entry(type_code)
            .or_default()
            .push((path, *quantity));
    }
    let mut result = BTreeMap::new();
    for (type_code, mut entries) in by_type {
        // Sorted by path, an ancestor comes before its descendants; a baseline counts only
        // when no counted baseline encloses it.
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut total = 0.0;
        let mut counted: Option<&str> = None;
        for (path, quantity) in entries {
            if counted.is_some_and(|c| path.starts_with(c)) {
                continue;
            }
            if !path.starts_with(root.as_str()) {
                continue;
            }
            total += quantity;
            counted = Some(path);
        }
        result.insert(type_code.to_owned(), total);
    }
    result
}

/// The stored taxonomy document read, or the default where none is stored yet.
fn taxonomy_of(stored: Option<String>) -> Result<Taxonomy, StorageError> {
    match stored {
        None => Ok(Taxonomy::default_taxonomy()),
        Some(document) => Taxonomy::from_json(&document).map_err(|e| {
            StorageError::refused(
                "taxonomy",
                format!("the stored taxonomy does not read: {e}"),
                format!("已保存的资源分类无法读取：{}", e.zh()),
            )
        }),
    }
}

pub(crate) fn figures<'a>(record: &'a PotentialRecord, path: &'a RegionPath) -> RecordFigures<'a> {
    RecordFigures {
        region_path: path,
        type_code: &record.type_code,
        quantity: record.quantity,
        available: record.status().is_available(),
        verified: record.last_verified_at.is_some(),
    }
}

async fn record_for_update(
    tx: &mut WriteTx,
    scope: &Scope,
    id: i64,
) -> Result<PotentialRecord, StorageError> {
    // PostgreSQL: lock the row, so two writers of one record apply their roll-up deltas
    // one after the other from what the other left. SQLite has a single writer already.
    let found: Option<PotentialRecord> = match tx {
        WriteTx::Sqlite(conn) => {
            sqlx::query_as("SELECT * FROM potential_records WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **conn)
                .await?
        }
        WriteTx::Postgres(conn) => {
            sqlx::query_as("SELECT * FROM potential_records WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut **conn)
                .await?
        }
    };
    let record = found.ok_or_else(|| StorageError::not_found("potential record", id))?;
    if !scope.contains(&record.region_path()) {
        return Err(StorageError::out_of_scope("potential record", id));
    }
    Ok(record)
}

/// A file or list with no record in it.
fn nothing_to_store() -> StorageError {
    StorageError::Refused {
        field: "records",
        message: "nothing to store".into(),
        message_zh: "没有可保存的记录".into(),
    }
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// How the storing of a file import ended.
struct Stored {
    /// A holding in the file was stored before.
    conflict: bool,
    /// Every batch was stored and the indexes are back: the writer may commit.
    stored_all: bool,
}

/// What the preparing task of a file import hands the writer.
enum Prepared {
    /// A batch to store; `full` (a whole batch) only matters for the first: a bulk load.
    /// `keys` says which foreign keys its records name.
    Batch {
        full: bool,
        records: EncodedRecords,
        keys: KeysNamed,
    },
    /// A row failed: nothing of the file is to be stored.
    Refused,
    /// Every batch was sent, and every row passed.
    Done,
}

/// A task aborted when its handle is dropped: the file import's preparing task stops with
/// the import, even when the import's future is dropped (a client gone).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the preparing task found once the file was read.
struct Preparation {
    /// None when no batch came (the reader failed before the header).
    placer: Option<RecordPlacer>,
    /// The roll-up changes and audit figures of every record placed while storing went on.
    tally: TalliedChanges,
    /// The sites the records were linked against, read before the writer began.
    sites_seen: crate::sites::SitesSeen,
}

/// The placing state the preparing task moves to a blocking thread and back, batch by batch.
struct Placing {
    placer: Option<RecordPlacer>,
    /// Looked up for every row: foldhash, not SipHash.
    regions: foldhash::HashMap<String, RegionInfo>,
    tally: RecordTally,
    storing: bool,
}

impl Placing {
    /// Places a batch and, while every row so far passes, encodes its records for the
    /// backend.
    fn place_and_encode(
        &mut self,
        batch: PendingRows,
        scope: &RegionPath,
        sites: &SiteLinks,
        encoding: RecordEncoding,
    ) -> Result<Option<(EncodedRecords, KeysNamed)>, sqlx::Error> {
        let placer = self.placer.get_or_insert_with(|| RecordPlacer::new(&batch));
        let after_problems = batch.after_problems();
        // The regions come from the stored ones (never deleted, codes never changed), so
        // placing them here is the region check `check_record_regions` makes elsewhere.
        let drafts = placer.place(batch, &self.regions, scope);
        self.storing &= !after_problems && !placer.has_problems();
        if !self.storing || drafts.is_empty() {
            return Ok(None);
        }
        self.tally.add(&drafts);
        let ordered = in_holding_order(&drafts);
        let keys = KeysNamed::of(&ordered, sites, encoding.provenance);
        encoding
            .encode(&ordered, sites)
            .map(|records| Some((records, keys)))
    }
}

/// The preparing half of [`Database::import_potential_file`], a task of its own: looks up
/// the regions and sites each batch names, then places, tallies and encodes it on a blocking
/// thread, so that the writer only sends. On two cores the file is read and prepared while
/// the batch before is stored. Once a row fails it only places, for the problems.
async fn prepare_batches(
    db: Database,
    mut batches: Receiver<PendingRows>,
    scope: RegionPath,
    provenance: RecordProvenance,
    now: Timestamp,
    prepared: Sender<Prepared>,
) -> Result<Preparation, StorageError> {
    let encoding = RecordEncoding {
        backend: db.backend(),
        provenance,
        now: now.as_millis(),
    };
    let sites = db.site_snapshot(&scope).await?;
    let sites_seen = sites.seen;
    let sites = Arc::new(sites.links);
    let mut state = Placing {
        placer: None,
        regions: foldhash::HashMap::default(),
        tally: RecordTally::default(),
        storing: true,
    };
    while let Some(batch) = batches.recv().await {
        let unknown: Vec<String> = batch
            .region_codes()
            .into_iter()
            .filter(|code| !state.regions.contains_key(*code))
            .map(str::to_owned)
            .collect();
        if !unknown.is_empty() {
            state.regions.extend(db.region_infos(unknown).await?);
        }
        let sites = Arc::clone(&sites);
        let full = batch.len() >= IMPORT_BATCH_ROWS;
        let was_storing = state.storing;
        let scope = scope.clone();
        let (placed, records) = tokio::task::spawn_blocking(move || {
            let records = state.place_and_encode(batch, &scope, &sites, encoding);
            (state, records)
        })
        .await
        .map_err(task_stopped)?;
        state = placed;
        let message = match records? {
            Some((records, keys)) => Prepared::Batch {
                full,
                records,
                keys,
            },
            None if was_storing && !state.storing => Prepared::Refused,
            None => continue,
        };
        if prepared.send(message).await.is_err() {
            // The writer stopped: a holding was stored before. Place on, for the problems.
            state.storing = false;
        }
    }
    if state.storing {
        // Unanswered when the writer stopped: it needs no news then.
        let _ = prepared.send(Prepared::Done).await;
    }
    // The writer builds the index again meanwhile.
    drop(prepared);
    let tally = state.tally;
    let tally = tokio::task::spawn_blocking(move || tally.into_changes())
        .await
        .map_err(task_stopped)?;
    Ok(Preparation {
        placer: state.placer,
        tally,
        sites_seen,
    })
}

fn task_stopped(error: tokio::task::JoinError) -> StorageError {
    StorageError::refused(
        "file",
        format!("the import stopped: {error}"),
        format!("导入意外中止（{error}）"),
    )
}

/// What an import stored, for its roll-ups and its audit entry.
#[derive(Debug, Default)]
struct RecordTally {
    deltas: RollupDeltas,
    stored: usize,
    /// The deepest region all stored records share: where the audit entry is filed.
    top: Option<RegionPath>,
    first_types: Vec<String>,
}

impl RecordTally {
    fn add(&mut self, drafts: &[(u32, RecordDraft)]) {
        for (_, draft) in drafts {
            self.deltas.insert(&RecordFigures {
                region_path: &draft.region_path,
                type_code: &draft.type_code,
                quantity: draft.quantity,
                available: draft.status.is_available(),
                verified: false,
            });
        }
        let batch_top = RegionPath::deepest_enclosing(drafts.iter().map(|(_, d)| &d.region_path));
        self.top = Some(match self.top.take() {
            None => batch_top,
            Some(top) => RegionPath::deepest_enclosing([&top, &batch_top]),
        });
        let room = 3usize.saturating_sub(self.first_types.len());
        self.first_types
            .extend(drafts.iter().take(room).map(|(_, d)| d.type_code.clone()));
        self.stored += drafts.len();
    }

    /// The roll-up changes to apply (spread to every enclosing subtree), with the rest.
    fn into_changes(self) -> TalliedChanges {
        TalliedChanges {
            changes: self.deltas.into_changes(),
            stored: self.stored,
            top: self.top,
            first_types: self.first_types,
        }
    }
}

/// A [`RecordTally`] with its roll-up changes spread, ready for the commit.
#[derive(Debug)]
struct TalliedChanges {
    changes: Vec<(String, String, Totals)>,
    stored: usize,
    top: Option<RegionPath>,
    first_types: Vec<String>,
}

/// One import's write transaction: records stored a batch at a time, then their roll-ups,
/// one audit entry and the commit.
struct RecordWriter {
    tx: WriteTx,
    /// Whether the bulk-load pragmas are set (undone by commit or abandon).
    bulk: bool,
    /// Whether the backend's [`bulk_load_indexes`] (and on PostgreSQL the foreign keys) were
    /// dropped, to be built again by [`Self::finish_storing`].
    reindex: bool,
    /// Whether this is a first bulk load, which dropped the indexes (kept after they are
    /// built again): its roll-ups go through [`apply_first_load_totals`].
    first_load: bool,
    /// How many records the table held when the writer began: with none, nothing stored can
    /// hold a file's holding at another level.
    stored_before: i64,
    /// Which foreign keys the records stored so far name.
    keys_named: KeysNamed,
    now: Timestamp,
}

impl RecordWriter {
    async fn begin(db: &Database, bulk: bool, now: Timestamp) -> Result<Self, StorageError> {
        let mut tx = db.begin_write().await?;
        match Self::prepare(&mut tx, bulk).await {
            Ok((reindex, stored_before)) => Ok(Self {
                tx,
                bulk,
                reindex,
                first_load: reindex,
                stored_before,
                keys_named: KeysNamed::default(),
                now,
            }),
            Err(e) => {
                // The connection gets its usual settings back, as after an abandon.
                drop(tx);
                if bulk {
                    db.finish_bulk_load().await?;
                }
                Err(e)
            }
        }
    }

    /// Queues behind approvals (PostgreSQL) and sets a bulk load up: returns whether the
    /// holding index (and on PostgreSQL the foreign keys) were dropped, and how many records
    /// were stored before.
    async fn prepare(tx: &mut WriteTx, bulk: bool) -> Result<(bool, i64), StorageError> {
        // Before anything touches `potential_records`, as approvals take it: an import and an
        // approval checking one holding at two levels must not each miss the other's.
        crate::survey::serialize_approvals(tx).await?;
        // Counted inside the write transaction, so no other import slips in between.
        let stored_before = stored_record_count(tx).await?;
        if !bulk {
            return Ok((false, stored_before));
        }
        // A big import outgrows SQLite's page cache: spilled pages are written to the WAL
        // mid-transaction and again at commit, and the load slowed down more than linearly.
        crate::regions::prepare_bulk_load(tx).await?;
        let reindex = stored_before < REINDEX_BELOW_RECORDS;
        if reindex {
            set_indexes(tx, bulk_load_indexes(tx), IndexAction::Drop).await?;
            drop_record_foreign_keys(tx).await?;
        }
        Ok((reindex, stored_before))
    }

    /// Once `holdings` are stored by this writer: refuses them, as problems of `source`,
    /// where a record stored before holds one at another level.
    async fn refuse_stored_at_other_levels(
        &mut self,
        holdings: &[(u32, &str)],
        source: &str,
    ) -> Result<(), StorageError> {
        let own: HashSet<&str> = holdings.iter().map(|(_, key)| *key).collect();
        let found = self
            .stored_across_levels(holdings, |key| own.contains(key))
            .await?;
        if found.is_empty() {
            return Ok(());
        }
        Err(StorageError::SheetRejected(SheetProblems(
            across_levels_problems(found, source),
        )))
    }

    /// The stored records holding one of `holdings` at another level (none when nothing was
    /// stored before), leaving out the keys `own` claims.
    async fn stored_across_levels(
        &mut self,
        holdings: &[(u32, &str)],
        own: impl Fn(&str) -> bool,
    ) -> Result<Vec<(u32, i64, String)>, sqlx::Error> {
        if self.stored_before == 0 {
            return Ok(Vec::new());
        }
        stored_across_levels(&mut self.tx, holdings, own).await
    }

    /// Ends the storing: builds the dropped index again. A holding stored before comes back
    /// here, as the driver's unique violation, when the index was dropped.
    async fn finish_storing(&mut self) -> Result<(), sqlx::Error> {
        if self.reindex {
            let indexes = bulk_load_indexes(&self.tx);
            set_indexes(&mut self.tx, indexes, IndexAction::Create).await?;
            add_record_foreign_keys(&mut self.tx, self.keys_named).await?;
            self.reindex = false;
        }
        Ok(())
    }

    fn tx(&mut self) -> &mut WriteTx {
        &mut self.tx
    }

    /// Stores a batch. A unique violation (a holding stored before) comes back as the
    /// driver's error, for the caller to name the rows.
    async fn store(
        &mut self,
        drafts: &[(u32, RecordDraft)],
        provenance: RecordProvenance,
    ) -> Result<(), sqlx::Error> {
        let ordered = in_holding_order(drafts);
        let keys =
            insert_record_rows(&mut self.tx, &ordered, provenance, self.now.as_millis()).await?;
        self.keys_named = self.keys_named.and(keys);
        Ok(())
    }

    /// Rolls back (by dropping the transaction) and undoes the bulk-load pragmas.
    async fn abandon(self, db: &Database) -> Result<(), StorageError> {
        let bulk = self.bulk;
        drop(self.tx);
        if bulk {
            db.finish_bulk_load().await?;
        }
        Ok(())
    }

    /// Builds the index again, applies the roll-ups, writes the audit entry and commits; the
    /// bulk-load settings are undone whether or not that succeeds.
    async fn commit(
        self,
        db: &Database,
        actor: &Actor,
        provenance: RecordProvenance,
        source: &str,
        tally: TalliedChanges,
    ) -> Result<RecordImportSummary, StorageError> {
        let bulk = self.bulk;
        let refresh_statistics = bulk && outdates_statistics(tally.stored, self.stored_before);
        let committed = self.commit_tx(actor, provenance, source, tally).await;
        if bulk {
            db.finish_bulk_load().await?;
        }
        if committed.is_ok() && refresh_statistics {
            db.refresh_record_statistics();
        }
        committed
    }

    async fn commit_tx(
        mut self,
        actor: &Actor,
        provenance: RecordProvenance,
        source: &str,
        tally: TalliedChanges,
    ) -> Result<RecordImportSummary, StorageError> {
        self.finish_storing().await?;
        let changes = tally.changes;
        if self.first_load {
            apply_first_load_totals(&mut self.tx, &changes).await?;
        } else {
            apply_totals(&mut self.tx, &changes).await?;
        }
        let top = tally.top.unwrap_or_else(RegionPath::root);
        let audit_seq = self
            .tx
            .audit(
                actor,
                self.now,
                AuditEvent {
                    entity: "potential_record",
                    entity_id: format!("{} records", tally.stored),
                    action: "import",
                    region_path: &top,
                    before: None,
                    after: Some(serde_json::json!({
                        "source": source,
                        "inserted": tally.stored,
                        "round_id": provenance.round_id,
                        "submission_id": provenance.submission_id,
                        "first_types": tally.first_types,
                    })),
                },
            )
            .await?;
        self.tx.commit().await?;
        Ok(RecordImportSummary {
            inserted: tally.stored,
            totals_rows: changes.len(),
            audit_seq,
        })
    }
}

/// Stored records holding what `holdings` (row and holding key) name, at a region above or
/// below the key's own (as [`same_holding`] compares them): each as the row, the record's id
/// and its region code, in row order. Records whose key `own` claims (an import's own rows,
/// already stored in the same transaction) are left out.
///
/// Above: the records of the holdings' types held at each region above their own. Below: per
/// region of the holdings (a village has nothing below it), the records of its types under
/// it, whose keys lie in `[path, path + "|")`; for a
/// file already stored, that reads back its own rows below a high-level row too (left out
/// by `own`), which a file mixing a province's row with its villages' pays for.
pub(crate) async fn stored_across_levels(
    tx: &mut WriteTx,
    holdings: &[(u32, &str)],
    own: impl Fn(&str) -> bool,
) -> Result<Vec<(u32, i64, String)>, sqlx::Error> {
    let mut found: Vec<(u32, i64, String)> = Vec::new();
    // Above: the records of the holdings' types held at each region above their own (the
    // root aside, as `holding_keys_above`), read by key range (`}` follows `|`), a few
    // queries for a province's worth of regions and types, matched in memory by the holding
    // part. Probing the four keys above every row instead made an incremental
    // 100,000-row import into a million records 65-70 % slower; this costs SQLite nothing
    // measurable and PostgreSQL about 0.3 s on 1.6 s.
    let mut across_by_holding: HashMap<&str, Vec<(u32, &str)>> = HashMap::new();
    // Each region above with each type held below it: a report of a few rows reads only
    // what those types hold at its few regions above, not everything held there.
    let mut above_by_type: BTreeSet<(&str, &str)> = BTreeSet::new();
    for &(row, key) in holdings {
        let (path, holding) = split_holding_key(key);
        if !matched_across_levels(holding) {
            continue;
        }
        across_by_holding
            .entry(holding)
            .or_default()
            .push((row, key));
        let type_code = holding.split('|').next().unwrap_or_default();
        above_by_type.extend(
            path.char_indices()
                .filter(|&(i, c)| c == '/' && i > 0 && i + 1 < path.len())
                .map(|(i, _)| (&path[..=i], type_code)),
        );
    }
    // `[A|T|, A|T})`: the keys of type T held at region A (a type code holds no `|`). A big
    // file names so many regions and types that reading each region whole, `[A|, A})`, costs
    // less than a range for every pair.
    let ranges: Vec<(String, String)> = if above_by_type.len() <= TYPED_RANGES_MAX {
        above_by_type
            .into_iter()
            .map(|(above, type_code)| {
                (
                    format!("{above}|{type_code}|"),
                    format!("{above}|{type_code}}}"),
                )
            })
            .collect()
    } else {
        let regions: BTreeSet<&str> = above_by_type.into_iter().map(|(above, _)| above).collect();
        regions
            .into_iter()
            .map(|above| (format!("{above}|"), format!("{above}}}")))
            .collect()
    };
    for chunk in ranges.chunks(REGIONS_PER_RANGE_QUERY) {
        let records: Vec<(i64, String, String)> = match &mut *tx {
            // One round trip for many ranges: each pair becomes an index range scan.
            WriteTx::Postgres(conn) => {
                let (low, high): (Vec<&str>, Vec<&str>) = chunk
                    .iter()
                    .map(|(low, high)| (low.as_str(), high.as_str()))
                    .unzip();
                sqlx::query_as(
                    "SELECT r.id, r.holding_key, r.region_code \
                     FROM unnest($1::text[], $2::text[]) AS a(low, high) \
                     JOIN potential_records r ON r.holding_key >= a.low AND r.holding_key < a.high",
                )
                .bind(&low)
                .bind(&high)
                .fetch_all(&mut **conn)
                .await?
            }
            // In process, a query a range costs next to nothing.
            WriteTx::Sqlite(conn) => {
                let mut records = Vec::new();
                for (low, high) in chunk {
                    let found: Vec<(i64, String, String)> = sqlx::query_as(
                        "SELECT id, holding_key, region_code FROM potential_records \
                         WHERE holding_key >= $1 AND holding_key < $2",
                    )
                    .bind(low)
                    .bind(high)
                    .fetch_all(&mut **conn)
                    .await?;
                    records.extend(found);
                }
                records
            }
        };
        for (id, key, region_code) in records {
            if own(&key) {
                continue;
            }
            let candidates = across_by_holding.get(split_holding_key(&key).1);
            for (row, mine) in candidates.into_iter().flatten() {
                if same_holding(mine, &key) {
                    found.push((*row, id, region_code.clone()));
                }
            }
        }
    }
    let village = usize::from(RegionLevel::Village.depth());
    let mut by_path: BTreeMap<&str, Vec<(u32, &str)>> = BTreeMap::new();
    for &(row, key) in holdings {
        let path = split_holding_key(key).0;
        if RegionPath::parse(path).is_none_or(|p| p.depth() >= village) {
            continue;
        }
        by_path.entry(path).or_default().push((row, key));
    }
    for (path, here) in by_path {
        let mut types: Vec<&str> = here
            .iter()
            .map(|(_, key)| {
                split_holding_key(key)
                    .1
                    .split('|')
                    .next()
                    .unwrap_or_default()
            })
            .collect();
        types.sort_unstable();
        types.dedup();
        let records: Vec<(i64, String, String)> = on_tx!(tx, |conn| {
            let mut query = QueryBuilder::new(
                "SELECT id, holding_key, region_code FROM potential_records WHERE holding_key >= ",
            );
            query.push_bind(path);
            query.push(" AND holding_key < ");
            query.push_bind(format!("{path}|"));
            // `|| ''` keeps the planners on the key's range, not on every record of the type.
            query.push(" AND type_code || '' IN (");
            let mut separated = query.separated(", ");
            for type_code in &types {
                separated.push_bind(*type_code);
            }
            query.push(")");
            query.build_query_as().fetch_all(&mut *conn).await
        })?;
        // The rows of this region by holding part, so each record found is one lookup.
        let mut by_holding: HashMap<&str, Vec<(u32, &str)>> = HashMap::new();
        for &(row, key) in &here {
            by_holding
                .entry(split_holding_key(key).1)
                .or_default()
                .push((row, key));
        }
        for (id, key, region_code) in records {
            if own(&key) {
                continue;
            }
            let candidates = by_holding.get(split_holding_key(&key).1);
            for (row, draft_key) in candidates.into_iter().flatten() {
                if same_holding(draft_key, &key) {
                    found.push((*row, id, region_code.clone()));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// Up to this many pairs of a region above and a type, [`stored_across_levels`] reads one
/// key range a pair; beyond, one a region.
const TYPED_RANGES_MAX: usize = 10_000;

/// How many key ranges (a region and a type) one PostgreSQL query of [`stored_across_levels`]
/// reads.
const REGIONS_PER_RANGE_QUERY: usize = 1_000;

/// The problems of rows whose holding [`stored_across_levels`] found registered at another
/// level, on `sheet`.
pub(crate) fn across_levels_problems(
    found: Vec<(u32, i64, String)>,
    sheet: &str,
) -> Vec<RowProblem> {
    found
        .into_iter()
        .map(|(row, id, region_code)| RowProblem {
            sheet: sheet.to_owned(),
            row: Some(row),
            column: None,
            field: Some("region_code".into()),
            message: format!(
                "this holding (same holder, type and site) is already registered under region {region_code}, above or below this row's, as record {id}; it is not counted twice"
            ),
            message_zh: Some(format!(
                "同一持有者、类型和地点的潜力已按上级或下级行政区划 {region_code} 登记为记录 {id}，不重复计数"
            )),
        })
        .collect()
}

/// The drafts of one list that name a holding an earlier draft names, at one level or at two.
fn repeats_in_list(drafts: &[(u32, RecordDraft)], source: &str) -> Vec<RowProblem> {
    let holdings = drafts.iter().map(|(row, d)| (*row, d.holding_key.as_str()));
    repeated_across_levels(holdings)
        .into_iter()
        .map(|(row, first)| RowProblem {
            sheet: source.to_owned(),
            row: Some(row),
            column: None,
            field: Some("region_code".into()),
            message: format!(
                "the same holding (holder, type and site) is already on row {first}; report it once, under the region where it is held"
            ),
            message_zh: Some(format!(
                "同一持有者、类型和地点的潜力已在第 {first} 行填报，请只在其所在区划报一次"
            )),
        })
        .collect()
}

/// How many records are stored, from the roll-up of the root (one row a type).
async fn stored_record_count(tx: &mut WriteTx) -> Result<i64, sqlx::Error> {
    on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(record_count), 0) AS BIGINT) FROM potential_totals WHERE region_path = '/'",
        )
        .fetch_one(&mut *conn)
        .await
    })
}

/// Checks that every record names a stored region and carries that region's path: the one
/// check standing for a foreign key on `region_code` (PostgreSQL's fired a trigger a row,
/// most of a big import's time, and SQLite's probe a row was a fifth of its insert; see
/// migrations 0007 and, on SQLite, 0017), made once per distinct region in the
/// writing transaction. Regions are never deleted and their codes never change, so what
/// holds here holds for as long as the record does.
pub(crate) async fn check_record_regions(
    tx: &mut WriteTx,
    drafts: &[(u32, RecordDraft)],
) -> Result<(), StorageError> {
    let mut path_of: HashMap<&str, (&str, u32)> = HashMap::new();
    for (row, draft) in drafts {
        let path = draft.region_path.as_str();
        match path_of.entry(draft.region_code.as_str()) {
            Entry::Vacant(slot) => {
                slot.insert((path, *row));
            }
            Entry::Occupied(known) if known.get().0 != path => {
                return Err(region_mismatch(&draft.region_code, *row));
            }
            Entry::Occupied(_) => {}
        }
    }
    let codes: Vec<&str> = path_of.keys().copied().collect();
    let mut stored: HashMap<String, String> = HashMap::with_capacity(codes.len());
    match tx {
        WriteTx::Postgres(conn) => {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT code, path FROM regions WHERE code = ANY($1)")
                    .bind(&codes)
                    .fetch_all(&mut **conn)
                    .await?;
            stored.extend(rows);
        }
        WriteTx::Sqlite(conn) => {
            for chunk in codes.chunks(5_000) {
                let mut query = QueryBuilder::new("SELECT code, path FROM regions WHERE code IN (");
                let mut separated = query.separated(", ");
                for code in chunk {
                    separated.push_bind(*code);
                }
                query.push(")");
                let rows: Vec<(String, String)> =
                    query.build_query_as().fetch_all(&mut **conn).await?;
                stored.extend(rows);
            }
        }
    }
    for (code, (path, row)) in path_of {
        if stored.get(code).map(String::as_str) != Some(path) {
            return Err(region_mismatch(code, row));
        }
    }
    Ok(())
}

fn region_mismatch(code: &str, row: u32) -> StorageError {
    StorageError::refused(
        "region_code",
        format!("row {row}: region {code} is not stored, or not at the path the record names"),
        format!("第 {row} 行：行政区划 {code} 不存在，或不在记录所写的层级路径上"),
    )
}

/// The drafts in holding-key order, the order records are stored in. The unique index
/// (which starts with the region path) then grows by appends or, dropped for a first load, is
/// built again from sorted runs: SQLite's load took a tenth longer unsorted. References are
/// sorted, not the drafts: moving the drafts cost more.
pub(crate) fn in_holding_order(drafts: &[(u32, RecordDraft)]) -> Vec<&(u32, RecordDraft)> {
    let mut ordered: Vec<&(u32, RecordDraft)> = drafts.iter().collect();
    ordered.sort_unstable_by(|a, b| a.1.holding_key.cmp(&b.1.holding_key));
    ordered
}

/// Stores `drafts` through the backend's bulk path, linked to the stored sites they name;
/// returns which foreign keys they name.
pub(crate) async fn insert_record_rows(
    tx: &mut WriteTx,
    drafts: &[&(u32, RecordDraft)],
    provenance: RecordProvenance,
    now: i64,
) -> Result<KeysNamed, sqlx::Error> {
    // Records that name a stored site of their region are linked to it.
    let sites = crate::sites::site_links(tx, drafts).await?;
    let encoding = RecordEncoding {
        backend: tx.backend(),
        provenance,
        now,
    };
    store_encoded(tx, encoding.encode(drafts, &sites)?).await?;
    Ok(KeysNamed::of(drafts, &sites, provenance))
}

/// How records are encoded for the backend's bulk path: what is the same for every row.
#[derive(Debug, Clone, Copy)]
struct RecordEncoding {
    backend: Backend,
    provenance: RecordProvenance,
    now: i64,
}

/// Records encoded for the backend's bulk path, ready to send. The file import encodes on
/// another thread than the one that sends, so the writer's connection is kept busy.
pub(crate) enum EncodedRecords {
    /// A multi-row `INSERT` a chunk: its text (shared by every full chunk) and arguments.
    Sqlite(Vec<(Arc<str>, SqliteArguments)>),
    /// Binary COPY data, in chunks of about [`COPY_CHUNK_BYTES`].
    Postgres(Vec<Vec<u8>>),
}

impl RecordEncoding {
    fn encode(
        &self,
        drafts: &[&(u32, RecordDraft)],
        sites: &SiteLinks,
    ) -> Result<EncodedRecords, sqlx::Error> {
        Ok(match self.backend {
            Backend::Sqlite => EncodedRecords::Sqlite(self.sqlite_statements(drafts, sites)?),
            Backend::Postgres => EncodedRecords::Postgres(self.binary_copy(drafts, sites)),
        })
    }

    fn sqlite_statements(
        &self,
        drafts: &[&(u32, RecordDraft)],
        sites: &SiteLinks,
    ) -> Result<Vec<(Arc<str>, SqliteArguments)>, sqlx::Error> {
        // Values the same for every row are spliced in as numeric literals (numbers
        // formatted by Rust, never text from outside), and columns that start empty are left
        // to their defaults: a third fewer bound parameters a row.
        let provenance = self.provenance;
        let now = self.now;
        let row = format!(
            "({}, {}, {}, {}, {now}, {now})",
            ["?"; SQLITE_BOUND_COLUMNS].join(", "),
            sql_number(provenance.round_id),
            sql_number(provenance.submission_id),
            sql_number(provenance.reporting_organization_id),
        );
        let statement = |rows: usize| -> Arc<str> {
            format!(
                "INSERT INTO potential_records ({SQLITE_RECORD_COLUMNS}) VALUES {}",
                vec![row.as_str(); rows].join(", ")
            )
            .into()
        };
        let full = statement(SQLITE_RECORDS_PER_INSERT.min(drafts.len()));
        let mut statements = Vec::with_capacity(drafts.len() / SQLITE_RECORDS_PER_INSERT + 1);
        let mut repeated = RepeatedText::default();
        for chunk in drafts.chunks(SQLITE_RECORDS_PER_INSERT) {
            let mut args = SqliteArguments::default();
            args.reserve(chunk.len() * SQLITE_BOUND_COLUMNS, 0);
            for (_, draft) in chunk.iter().copied() {
                let holder = HolderColumns::of(&draft.holder);
                let (region_code, region_path) = repeated.region(draft);
                let bound: [Result<(), sqlx::error::BoxDynError>; SQLITE_BOUND_COLUMNS] = [
                    args.add(draft.holding_key.as_str()),
                    args.add(repeated.of(&draft.type_code)),
                    args.add(draft.quantity),
                    args.add(attributes_json(draft)),
                    args.add(repeated.of_name(draft.quality.as_str())),
                    args.add(repeated.of_name(draft.holder.kind().as_str())),
                    args.add(holder.organization_id),
                    args.add(draft.holder.name()),
                    args.add(holder.id_number),
                    args.add(holder.phone),
                    args.add(draft.site.as_deref()),
                    args.add(region_code),
                    args.add(region_path),
                    args.add(draft.coordinates.map(|c| c.0)),
                    args.add(draft.coordinates.map(|c| c.1)),
                    args.add(repeated.of_name(draft.status.as_str())),
                    args.add(draft.quantity),
                    args.add(sites.site_of(draft)),
                ];
                for result in bound {
                    result.map_err(sqlx::Error::Encode)?;
                }
            }
            let sql = if chunk.len() == SQLITE_RECORDS_PER_INSERT || statements.is_empty() {
                full.clone()
            } else {
                statement(chunk.len())
            };
            statements.push((sql, args));
        }
        Ok(statements)
    }

    fn binary_copy(&self, drafts: &[&(u32, RecordDraft)], sites: &SiteLinks) -> Vec<Vec<u8>> {
        let provenance = self.provenance;
        let mut chunks = Vec::new();
        let mut buffer = Vec::with_capacity(COPY_CHUNK_BYTES);
        BinaryCopy::header(&mut buffer);
        for (_, draft) in drafts.iter().copied() {
            let holder = HolderColumns::of(&draft.holder);
            let b = &mut buffer;
            BinaryCopy::row(b, COPY_RECORD_FIELDS);
            BinaryCopy::text(b, Some(&draft.holding_key));
            BinaryCopy::text(b, Some(&draft.type_code));
            BinaryCopy::double(b, Some(draft.quantity));
            BinaryCopy::json(b, &draft.attributes);
            BinaryCopy::text(b, Some(draft.quality.as_str()));
            BinaryCopy::text(b, Some(draft.holder.kind().as_str()));
            BinaryCopy::bigint(b, holder.organization_id);
            BinaryCopy::text(b, Some(draft.holder.name()));
            BinaryCopy::text(b, holder.id_number);
            BinaryCopy::text(b, holder.phone);
            BinaryCopy::bigint(b, sites.site_of(draft));
            BinaryCopy::text(b, draft.site.as_deref());
            BinaryCopy::text(b, Some(&draft.region_code));
            BinaryCopy::text(b, Some(draft.region_path.as_str()));
            BinaryCopy::double(b, draft.coordinates.map(|c| c.0));
            BinaryCopy::double(b, draft.coordinates.map(|c| c.1));
            BinaryCopy::text(b, Some(draft.status.as_str()));
            BinaryCopy::bigint(b, provenance.round_id);
            BinaryCopy::bigint(b, provenance.submission_id);
            BinaryCopy::bigint(b, provenance.reporting_organization_id);
            BinaryCopy::double(b, Some(draft.quantity));
            BinaryCopy::bigint(b, Some(self.now));
            BinaryCopy::bigint(b, Some(self.now));
            if buffer.len() > COPY_CHUNK_BYTES - 4096 {
                chunks.push(std::mem::replace(
                    &mut buffer,
                    Vec::with_capacity(COPY_CHUNK_BYTES),
                ));
            }
        }
        BinaryCopy::trailer(&mut buffer);
        chunks.push(buffer);
        chunks
    }
}

/// The text values that many records of a batch repeat (type, grade, holder kind, region,
/// status), bound as clones of one shared string each: sqlx copies a `&str` argument into a
/// fresh `String` in a fresh `Arc`, and at six such columns a row that was a tenth of a
/// million-record import's allocations, all freed again on the SQLite worker's thread.
#[derive(Default)]
struct RepeatedText<'d> {
    hashed: foldhash::HashMap<&'d str, Arc<str>>,
    /// A region's code and path, found by its code alone (one look-up, not two).
    regions: foldhash::HashMap<&'d str, (Arc<str>, Arc<str>)>,
    /// The few names of an enumeration (grade, holder kind, status): found by comparing a
    /// handful of short strings, cheaper than hashing one.
    named: Vec<(&'static str, Arc<str>)>,
}

impl<'d> RepeatedText<'d> {
    fn of(&mut self, text: &'d str) -> Arc<str> {
        Arc::clone(self.hashed.entry(text).or_insert_with(|| Arc::from(text)))
    }

    fn region(&mut self, draft: &'d RecordDraft) -> (Arc<str>, Arc<str>) {
        let (code, path) = self
            .regions
            .entry(draft.region_code.as_str())
            .or_insert_with(|| {
                (
                    Arc::from(draft.region_code.as_str()),
                    Arc::from(draft.region_path.as_str()),
                )
            });
        (Arc::clone(code), Arc::clone(path))
    }

    fn of_name(&mut self, name: &'static str) -> Arc<str> {
        if let Some((_, shared)) = self.named.iter().find(|(known, _)| *known == name) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = Arc::from(name);
        self.named.push((name, Arc::clone(&shared)));
        shared
    }
}

/// Sends encoded records on the transaction's connection.
async fn store_encoded(tx: &mut WriteTx, records: EncodedRecords) -> Result<(), sqlx::Error> {
    match (tx, records) {
        (WriteTx::Sqlite(conn), EncodedRecords::Sqlite(statements)) => {
            for (sql, args) in statements {
                sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
                    .persistent(true)
                    .execute(&mut **conn)
                    .await?;
            }
            Ok(())
        }
        (WriteTx::Postgres(conn), EncodedRecords::Postgres(chunks)) => {
            let mut copy = conn
                .copy_in_raw(
                    format!(
                        "COPY potential_records ({COPY_RECORD_COLUMNS}) FROM STDIN WITH (FORMAT binary)"
                    )
                    .as_str(),
                )
                .await?;
            for chunk in chunks {
                copy.send(chunk).await?;
            }
            copy.finish().await?;
            Ok(())
        }
        _ => Err(sqlx::Error::Protocol(
            "records encoded for the other database".into(),
        )),
    }
}

pub(crate) struct HolderColumns<'a> {
    pub(crate) organization_id: Option<i64>,
    pub(crate) id_number: Option<&'a str>,
    pub(crate) phone: Option<&'a str>,
}

impl<'a> HolderColumns<'a> {
    pub(crate) fn of(holder: &'a Holder) -> Self {
        match holder {
            Holder::Organization { id, .. } => Self {
                organization_id: *id,
                id_number: None,
                phone: None,
            },
            Holder::Person {
                id_number, phone, ..
            } => Self {
                organization_id: None,
                id_number: id_number.as_deref(),
                phone: phone.as_deref(),
            },
        }
    }
}

pub(crate) fn attributes_json(draft: &RecordDraft) -> String {
    serde_json::to_string(&draft.attributes).unwrap_or_else(|_| "{}".to_owned())
}

/// The roll-ups of a first bulk load ([`REINDEX_BELOW_RECORDS`]): on PostgreSQL the totals
/// rows it creates, nearly all of them, are copied in, and only the changes to rows that
/// exist already go through [`apply_totals`]. An upsert of the 80,900 rows of a
/// million-record load took 0.65–0.85 s, most of it probing the key before each insert,
/// speculative insertion and the array parameters unpacked into a tuplestore. No other
/// writer can add a totals row meanwhile: the load holds `potential_records` exclusively
/// since it dropped its indexes, every writer of totals writes records first, and the lock
/// taken here (readers still read) makes sure of it.
async fn apply_first_load_totals(
    tx: &mut WriteTx,
    changes: &[(String, String, Totals)],
) -> Result<(), StorageError> {
    let existing = match tx {
        WriteTx::Postgres(conn) => copy_new_totals(conn, changes).await?,
        WriteTx::Sqlite(_) => changes.to_vec(),
    };
    apply_totals(tx, &existing).await
}

/// The columns [`copy_new_totals`] fills: every column of `potential_totals`.
const TOTALS_COPY_FIELDS: i16 = 7;

/// Copies in the totals rows of `changes` that do not exist yet; returns the other changes.
async fn copy_new_totals(
    conn: &mut sqlx::PgConnection,
    changes: &[(String, String, Totals)],
) -> Result<Vec<(String, String, Totals)>, sqlx::Error> {
    sqlx::query("LOCK TABLE potential_totals IN EXCLUSIVE MODE")
        .execute(&mut *conn)
        .await?;
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT region_path, type_code FROM potential_totals")
            .fetch_all(&mut *conn)
            .await?;
    let stored: HashSet<(&str, &str)> = stored
        .iter()
        .map(|(path, type_code)| (path.as_str(), type_code.as_str()))
        .collect();
    let (existing, new): (Vec<_>, Vec<_>) = changes
        .iter()
        .partition(|(path, type_code, _)| stored.contains(&(path.as_str(), type_code.as_str())));
    if !new.is_empty() {
        let mut copy = conn
            .copy_in_raw(
                "COPY potential_totals (region_path, type_code, record_count, quantity, \
                 available_quantity, verified_count, verified_quantity) FROM STDIN WITH (FORMAT binary)",
            )
            .await?;
        let mut buffer = Vec::with_capacity(COPY_CHUNK_BYTES);
        BinaryCopy::header(&mut buffer);
        for (path, type_code, totals) in new {
            let b = &mut buffer;
            BinaryCopy::row(b, TOTALS_COPY_FIELDS);
            BinaryCopy::text(b, Some(path));
            BinaryCopy::text(b, Some(type_code));
            BinaryCopy::bigint(b, Some(totals.record_count));
            BinaryCopy::double(b, Some(totals.quantity));
            BinaryCopy::double(b, Some(totals.available_quantity));
            BinaryCopy::bigint(b, Some(totals.verified_count));
            BinaryCopy::double(b, Some(totals.verified_quantity));
            if buffer.len() > COPY_CHUNK_BYTES - 4096 {
                let full = std::mem::replace(&mut buffer, Vec::with_capacity(COPY_CHUNK_BYTES));
                copy.send(full).await?;
            }
        }
        BinaryCopy::trailer(&mut buffer);
        copy.send(buffer).await?;
        copy.finish().await?;
    }
    Ok(existing.into_iter().cloned().collect())
}

/// Adds deltas to the totals rows, creating those that do not exist yet.
pub(crate) async fn apply_totals(
    tx: &mut WriteTx,
    changes: &[(String, String, Totals)],
) -> Result<(), StorageError> {
    const ADD_ON_CONFLICT: &str = " ON CONFLICT (region_path, type_code) DO UPDATE SET \
        record_count = potential_totals.record_count + excluded.record_count, \
        quantity = potential_totals.quantity + excluded.quantity, \
        available_quantity = potential_totals.available_quantity + excluded.available_quantity, \
        verified_count = potential_totals.verified_count + excluded.verified_count, \
        verified_quantity = potential_totals.verified_quantity + excluded.verified_quantity";
    const COLUMNS: &str = "INSERT INTO potential_totals (region_path, type_code, record_count, \
        quantity, available_quantity, verified_count, verified_quantity) ";
    if changes.is_empty() {
        return Ok(());
    }
    if let WriteTx::Postgres(tx) = tx {
        // All changes in one statement of fixed text with array parameters: a `VALUES` list
        // of thousands of bound values is parsed and planned anew each time. The changes are
        // one per (path, type), as `ON CONFLICT DO UPDATE` needs.
        let text =
            |f: fn(&(String, String, Totals)) -> &str| changes.iter().map(f).collect::<Vec<&str>>();
        let count = |f: fn(&Totals) -> i64| changes.iter().map(|c| f(&c.2)).collect::<Vec<_>>();
        let figure = |f: fn(&Totals) -> f64| changes.iter().map(|c| f(&c.2)).collect::<Vec<_>>();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLUMNS}SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], \
             $4::DOUBLE PRECISION[], $5::DOUBLE PRECISION[], $6::BIGINT[], \
             $7::DOUBLE PRECISION[]){ADD_ON_CONFLICT}"
        )))
        .bind(text(|c| c.0.as_str()))
        .bind(text(|c| c.1.as_str()))
        .bind(count(|t| t.record_count))
        .bind(figure(|t| t.quantity))
        .bind(figure(|t| t.available_quantity))
        .bind(count(|t| t.verified_count))
        .bind(figure(|t| t.verified_quantity))
        .execute(&mut **tx)
        .await?;
        return Ok(());
    }
    for chunk in changes.chunks(SQLITE_TOTALS_PER_UPSERT) {
        on_tx!(&mut *tx, |conn| {
            let mut query = QueryBuilder::new(COLUMNS);
            query.push_values(chunk, |mut row, (path, type_code, totals)| {
                row.push_bind(path.as_str())
                    .push_bind(type_code.as_str())
                    .push_bind(totals.record_count)
                    .push_bind(totals.quantity)
                    .push_bind(totals.available_quantity)
                    .push_bind(totals.verified_count)
                    .push_bind(totals.verified_quantity);
            });
            query.push(ADD_ON_CONFLICT);
            query.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenth_more_records_outdates_the_statistics() {
        assert!(outdates_statistics(60_000, 0), "a first load");
        assert!(outdates_statistics(250_000, 2_500_000), "exactly a tenth");
        assert!(
            !outdates_statistics(250_000, 2_500_001),
            "less than a tenth"
        );
        assert!(!outdates_statistics(0, 1), "nothing stored");
    }

    /// A draft of a holding in county 340101, named as `holder` holds it at `site`.
    fn held(holder: Holder, site: Option<&str>) -> (u32, RecordDraft) {
        let region_path = RegionPath::parse("/34/3401/340101/").expect("path");
        (
            2,
            RecordDraft {
                type_code: "CAD.MAT.TENT_12".to_owned(),
                quantity: 3.0,
                attributes: Default::default(),
                quality: muster_domain::potential::QualityGrade::Good,
                holding_key: format!(
                    "{}|CAD.MAT.TENT_12|{}|",
                    region_path.as_str(),
                    holder.name()
                ),
                holder,
                site: site.map(str::to_owned),
                region_code: "340101".to_owned(),
                region_path,
                coordinates: None,
                status: muster_domain::potential::RecordStatus::Available,
            },
        )
    }

    #[test]
    fn a_load_names_a_foreign_key_only_where_a_record_fills_its_column() {
        let person = held(
            Holder::Person {
                name: "Li Wei".into(),
                id_number: None,
                phone: None,
            },
            Some("North Depot"),
        );
        let unregistered = held(
            Holder::Organization {
                id: None,
                name: "Grain Bureau".into(),
            },
            None,
        );
        let registered = held(
            Holder::Organization {
                id: Some(7),
                name: "Grain Bureau".into(),
            },
            None,
        );
        let no_sites = SiteLinks::default();
        let north_depot = SiteLinks::of([(
            41,
            "340101".to_owned(),
            Some(muster_domain::potential::normalize_name("North Depot")),
        )]);
        let alone = RecordProvenance::default();

        let none = KeysNamed::of(&[&person, &unregistered], &no_sites, alone);
        assert_eq!(none, KeysNamed::default());
        for (name, _) in RECORD_FOREIGN_KEYS {
            assert!(
                !none.fills(name),
                "{name} is filled by records that leave it NULL"
            );
        }

        let named = KeysNamed::of(&[&unregistered, &registered], &no_sites, alone);
        assert!(named.fills("potential_records_holder_organization_id_fkey"));
        assert!(!named.fills("potential_records_site_id_fkey"));

        let linked = KeysNamed::of(&[&person], &north_depot, alone);
        assert!(linked.fills("potential_records_site_id_fkey"));
        assert!(!linked.fills("potential_records_holder_organization_id_fkey"));

        let reported = RecordProvenance {
            reporting_organization_id: Some(3),
            ..RecordProvenance::default()
        };
        let from_a_unit = KeysNamed::of(&[&person], &no_sites, reported);
        assert!(from_a_unit.fills("potential_records_reporting_organization_id_fkey"));
        assert_eq!(
            none.and(named).and(linked).and(from_a_unit),
            KeysNamed {
                holder_organization: true,
                site: true,
                reporting_organization: true,
            }
        );
    }

    #[test]
    fn a_record_of_a_region_not_stored_is_refused_in_both_languages() {
        let StorageError::Refused {
            field,
            message,
            message_zh,
        } = region_mismatch("340104", 7)
        else {
            panic!("expected a refusal said in both languages");
        };
        assert_eq!(field, "region_code");
        assert_eq!(
            message,
            "row 7: region 340104 is not stored, or not at the path the record names"
        );
        assert!(message_zh.starts_with("第 7 行："), "{message_zh}");
        assert!(message_zh.contains("行政区划 340104"), "{message_zh}");
        assert!(message_zh.contains("不存在"), "{message_zh}");
    }

    #[test]
    fn a_stopped_import_keeps_its_english_cause_after_a_chinese_lead() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let cancelled = runtime.block_on(async {
            let task = tokio::spawn(std::future::pending::<()>());
            task.abort();
            task.await.expect_err("cancelled")
        });
        let cause = cancelled.to_string();
        let StorageError::Refused {
            field,
            message,
            message_zh,
        } = task_stopped(cancelled)
        else {
            panic!("expected a refusal said in both languages");
        };
        assert_eq!(field, "file");
        assert_eq!(message, format!("the import stopped: {cause}"));
        assert_eq!(message_zh, format!("导入意外中止（{cause}）"));
    }

    #[tokio::test]
    async fn readers_beyond_those_waiting_are_refused_as_busy() {
        use super::FileReadTurns;
        let turns = FileReadTurns::new(1, 2);
        let held = turns.take().await.expect("the free turn");
        let (mut first, mut second) = (Box::pin(turns.take()), Box::pin(turns.take()));
        // Both wait (polled once, they count themselves as waiting).
        assert!(futures::poll!(first.as_mut()).is_pending());
        assert!(futures::poll!(second.as_mut()).is_pending());
        match turns.take().await {
            Err(StorageError::Conflict {
                field: "file",
                message,
                ..
            }) => assert!(message.contains("2 more are waiting"), "{message}"),
            other => panic!("expected busy, got {other:?}"),
        }
        // A waiter dropped frees its place; the turn goes to the one still waiting.
        drop(second);
        let mut third = Box::pin(turns.take());
        assert!(futures::poll!(third.as_mut()).is_pending(), "a place again");
        drop(held);
        let turn = first.await.expect("the first waiter's turn");
        drop(turn);
        drop(third.await.expect("then the next"));
    }

    fn p(text: &str) -> RegionPath {
        RegionPath::parse(text).expect("path")
    }

    #[test]
    fn a_regions_own_baseline_replaces_those_below_it() {
        let rows = vec![
            ("/34/3401/".to_owned(), "T".to_owned(), 100.0),
            ("/34/3401/340104/".to_owned(), "T".to_owned(), 30.0),
            ("/34/3402/340202/".to_owned(), "T".to_owned(), 20.0),
            ("/34/3402/340203/".to_owned(), "T".to_owned(), 5.0),
            ("/34/3402/340203/".to_owned(), "U".to_owned(), 7.0),
        ];
        let province = requirement_by_type(&p("/34/"), &rows);
        assert_eq!(province.get("T"), Some(&125.0));
        assert_eq!(province.get("U"), Some(&7.0));
        let city = requirement_by_type(&p("/34/3401/"), &rows[..2]);
        assert_eq!(city.get("T"), Some(&100.0));
    }
}
