//! Regions: scoped reads, drill-down, and the all-or-nothing bulk import.

use std::collections::HashMap;
use std::sync::Arc;

use muster_domain::region_import::{
    Coordinates, CountIncrement, ExistingRegion, ImportProblems, ParsedRegionCsv, PlacedRow,
    RegionRow, check_region_tree, codes_to_look_up, place_by_code,
};
use muster_domain::{Actor, RegionCode, RegionLevel, RegionPath, Scope};
use serde::Serialize;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, QueryBuilder, Sqlite};

use crate::audit::AuditEvent;
use crate::copy::{COPY_CHUNK_BYTES, CopyRow};
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;

/// A stored region.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Region {
    pub code: String,
    pub parent_code: Option<String>,
    pub name: String,
    pub level: i64,
    pub path: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub child_count: i64,
    pub descendant_count: i64,
}

impl Region {
    pub fn level(&self) -> RegionLevel {
        u8::try_from(self.level)
            .ok()
            .and_then(RegionLevel::from_depth)
            .unwrap_or(RegionLevel::Village)
    }

    pub fn region_path(&self) -> RegionPath {
        RegionPath::parse(&self.path).unwrap_or_else(RegionPath::root)
    }
}

/// A drill-down page: where we are, how we got here, and what is below.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionView {
    /// None at the top of the reader's scope when that is the whole nation.
    pub region: Option<Region>,
    /// The ancestors inside the reader's scope, top first, excluding `region`.
    pub breadcrumb: Vec<Region>,
    pub children: Vec<Region>,
}

#[derive(Debug, Clone, Default)]
pub struct RegionListFilter {
    pub parent_code: Option<String>,
    pub level: Option<RegionLevel>,
    pub name_contains: Option<String>,
    pub limit: i64,
    pub after_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub inserted: usize,
    pub audit_seq: i64,
}

const COLUMNS: &str =
    "code, parent_code, name, level, path, lat, lon, child_count, descendant_count";

/// A `LIKE` pattern (with `ESCAPE '\'`) matching any text that contains `text` literally.
fn contains_pattern(text: &str) -> String {
    format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

impl Database {
    /// One region, if it is inside the reader's scope.
    pub async fn region(&self, scope: &Scope, code: &str) -> Result<Region, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let found: Option<Region> = on_read_pool!(self, |pool| {
            sqlx::query_as("SELECT * FROM regions WHERE code = $1 AND path >= $2 AND path < $3")
                .bind(code)
                .bind(&low)
                .bind(&high)
                .fetch_optional(pool)
                .await
        })?;
        found.ok_or_else(|| StorageError::not_found("region", code))
    }

    /// The regions at the top of the reader's scope: the provinces for a national scope, or
    /// the scope's own region.
    pub async fn scope_roots(&self, scope: &Scope) -> Result<Vec<Region>, StorageError> {
        let subtree = scope.subtree();
        if subtree.is_root() {
            return Ok(on_read_pool!(self, |pool| {
                sqlx::query_as("SELECT * FROM regions WHERE parent_code IS NULL ORDER BY code")
                    .fetch_all(pool)
                    .await
            })?);
        }
        let path = subtree.as_str().to_owned();
        Ok(on_read_pool!(self, |pool| sqlx::query_as(
            "SELECT * FROM regions WHERE path = $1"
        )
        .bind(&path)
        .fetch_all(pool)
        .await)?)
    }

    /// The drill-down view of `code` (or of the scope's top when None).
    pub async fn region_view(
        &self,
        scope: &Scope,
        code: Option<&str>,
    ) -> Result<RegionView, StorageError> {
        let Some(code) = code else {
            return Ok(RegionView {
                region: None,
                breadcrumb: Vec::new(),
                children: self.scope_roots(scope).await?,
            });
        };
        let region = self.region(scope, code).await?;
        let ancestors: Vec<String> = region
            .region_path()
            .codes()
            .map(|c| c.as_str().to_owned())
            .filter(|c| c != &region.code)
            .collect();
        let mut breadcrumb = Vec::with_capacity(ancestors.len());
        for ancestor in ancestors {
            // Ancestors above the reader's scope are simply not found, so they are left out.
            if let Ok(found) = self.region(scope, &ancestor).await {
                breadcrumb.push(found);
            }
        }
        let children = on_read_pool!(self, |pool| {
            sqlx::query_as("SELECT * FROM regions WHERE parent_code = $1 ORDER BY code")
                .bind(code)
                .fetch_all(pool)
                .await
        })?;
        Ok(RegionView {
            region: Some(region),
            breadcrumb,
            children,
        })
    }

    /// A page of regions in the reader's scope, keyset-paginated by code.
    pub async fn regions(
        &self,
        scope: &Scope,
        filter: &RegionListFilter,
    ) -> Result<Vec<Region>, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let limit = filter.limit.clamp(1, 1000);
        let level = filter.level.map(|l| i64::from(l.depth()));
        let name = filter.name_contains.as_deref().map(contains_pattern);
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM regions WHERE path >= $1 AND path < $2 \
                 AND ($3 IS NULL OR parent_code = $3) AND ($4 IS NULL OR level = $4) \
                 AND ($5 IS NULL OR name LIKE $5 ESCAPE '\\') AND ($6 IS NULL OR code > $6) \
                 ORDER BY code LIMIT $7",
            )
            .bind(&low)
            .bind(&high)
            .bind(&filter.parent_code)
            .bind(level)
            .bind(&name)
            .bind(&filter.after_code)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?)
    }

    /// At most `limit` regions in the reader's scope whose name contains `name`: the higher
    /// levels first (a county before the villages that share its name), then by code, which
    /// is what someone looking for a place by name expects. The region pages' search.
    pub async fn search_regions(
        &self,
        scope: &Scope,
        name: &str,
        limit: i64,
    ) -> Result<Vec<Region>, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let pattern = contains_pattern(name);
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM regions WHERE path >= $1 AND path < $2 \
                 AND name LIKE $3 ESCAPE '\\' ORDER BY level, code LIMIT $4",
            )
            .bind(&low)
            .bind(&high)
            .bind(&pattern)
            .bind(limit.clamp(1, 1000))
            .fetch_all(pool)
            .await
        })?)
    }

    pub async fn region_count(&self) -> Result<i64, StorageError> {
        Ok(on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM regions"
        )
        .fetch_one(pool)
        .await)?)
    }

    /// Looks up the stored regions the file refers to, checks the file, and stores it all in
    /// one transaction with one audit entry — or stores nothing and lists every problem.
    ///
    /// The check and the insert overlap: the rows are placed from their codes alone
    /// ([`place_by_code`]), which is exact for any file the check accepts, and inserted while
    /// [`check_region_tree`] runs on a blocking thread. Nothing is committed until the check
    /// has passed; when it fails, the transaction is rolled back (dropped) and the problems
    /// are returned, whatever the insert ran into meanwhile (a duplicate code in the file
    /// also breaks the primary key, but the caller is owed the problem list, not that).
    pub async fn import_regions(
        &self,
        actor: &Actor,
        parsed: ParsedRegionCsv,
        source: &str,
    ) -> Result<ImportSummary, StorageError> {
        let existing = self.existing_regions(&parsed.rows).await?;
        let parsed = Arc::new(parsed);
        let mut check = TreeCheck::start(Arc::clone(&parsed), existing);
        let placed = {
            let parsed = Arc::clone(&parsed);
            tokio::task::spawn_blocking(move || place_by_code(&parsed.rows))
                .await
                .map_err(|e| stopped("placing the regions", &e))?
        };
        let stored = self
            .store_placement(actor, &parsed.rows, &placed, source, &mut check)
            .await;
        match stored {
            Ok(summary) => Ok(summary),
            // Problems in the file explain any failure that came after them.
            Err(error) => match check.outcome().await? {
                Err(problems) => Err(StorageError::ImportRejected(problems)),
                Ok(_) => Err(error),
            },
        }
    }

    /// The stored regions among [`codes_to_look_up`] of the rows. A first import into an
    /// empty table skips collecting (and sorting) those codes at all.
    async fn existing_regions(
        &self,
        rows: &[RegionRow],
    ) -> Result<HashMap<RegionCode, ExistingRegion>, StorageError> {
        let mut existing = HashMap::new();
        let any_stored: bool = on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM regions)"
        )
        .fetch_one(pool)
        .await)?;
        if !any_stored {
            return Ok(existing);
        }
        for chunk in codes_to_look_up(rows).chunks(500) {
            let found: Vec<Region> = on_read_pool!(self, |pool| {
                let mut query = QueryBuilder::new("SELECT * FROM regions WHERE code IN (");
                let mut separated = query.separated(", ");
                for code in chunk {
                    separated.push_bind(code.as_str());
                }
                query.push(")");
                query.build_query_as().fetch_all(pool).await
            })?;
            for region in found {
                if let Ok(code) = RegionCode::parse(&region.code) {
                    existing.insert(
                        code,
                        ExistingRegion {
                            level: region.level(),
                            path: region.region_path(),
                        },
                    );
                }
            }
        }
        Ok(existing)
    }

    /// Stores the placed rows; commits only once `check` has passed. Any error returned
    /// here is reported by the caller only if the check passed.
    async fn store_placement(
        &self,
        actor: &Actor,
        rows: &[RegionRow],
        placed: &[PlacedRow],
        source: &str,
        check: &mut TreeCheck,
    ) -> Result<ImportSummary, StorageError> {
        let records = Records { rows, placed };
        let (first, last) = (records.first(), records.last());
        // The records are in path order and a scope is a range of paths, so when the first
        // and the last are inside, so is every one between.
        let in_scope =
            |r: &Option<RegionRecord>| r.as_ref().is_none_or(|r| actor.scope().contains(&r.path));
        if !(in_scope(&first) && in_scope(&last))
            && let Some(outside) = records.iter().find(|r| !actor.scope().contains(&r.path))
        {
            return Err(StorageError::out_of_scope("region", outside.code));
        }
        if !actor.administers() {
            return Err(StorageError::forbidden(
                "only an administrator may add regions",
                "只有系统管理员才能添加行政区划",
            ));
        }
        let top_path = common_ancestor(first, last);
        let mut tx = self.begin_write().await?;
        let bulk = placed.len() >= BULK_LOAD_MIN_ROWS && regions_table_is_empty(&mut tx).await?;
        if bulk {
            prepare_bulk_load(&mut tx).await?;
        }
        let stored = store_records(tx, bulk, actor, records, &top_path, source, check).await;
        // Put the connection's settings back whether or not the import went through (the
        // failed transaction is rolled back as it is dropped, before this runs).
        if bulk {
            self.finish_bulk_load().await?;
        }
        stored
    }
}

/// The write transaction of an import: inserts, checks, audits and commits, or drops it
/// (rolling everything back) on the first error.
async fn store_records(
    mut tx: WriteTx,
    bulk: bool,
    actor: &Actor,
    records: Records<'_>,
    top_path: &RegionPath,
    source: &str,
    check: &mut TreeCheck,
) -> Result<ImportSummary, StorageError> {
    if bulk {
        set_secondary_indexes(&mut tx, IndexAction::Drop).await?;
    }
    let inserted = insert_regions(&mut tx, records, check).await.map_err(|e| {
        StorageError::unique_said(e, "code", || {
            (
                "a region in the file was stored by someone else meanwhile; import again".into(),
                "文件中的一个行政区划已被他人同时保存，请重新导入".into(),
            )
        })
    })?;
    let inserted = match inserted {
        Inserted::All(count) => count,
        Inserted::StoppedEarly => {
            return Err(match check.outcome().await? {
                Err(problems) => StorageError::ImportRejected(problems),
                Ok(_) => StorageError::refused(
                    "file",
                    "the check of the regions file stopped unexpectedly",
                    "行政区划文件的检查意外中止",
                ),
            });
        }
    };
    if bulk {
        set_secondary_indexes(&mut tx, IndexAction::Create).await?;
    }
    // Nothing above is visible to anyone until the commit below, which needs the check.
    let existing_increments = check
        .outcome()
        .await?
        .map_err(StorageError::ImportRejected)?;
    apply_increments(&mut tx, &existing_increments).await?;
    let sample: Vec<&str> = records.iter().take(5).map(|r| r.code).collect();
    let audit_seq = tx
        .audit(
            actor,
            crate::now(),
            AuditEvent {
                entity: "region",
                entity_id: if inserted == 1 { sample[0].to_owned() } else { format!("{inserted} regions") },
                action: "import",
                region_path: top_path,
                before: None,
                after: Some(serde_json::json!({ "source": source, "inserted": inserted, "first_codes": sample })),
            },
        )
        .await?;
    tx.commit().await?;
    Ok(ImportSummary {
        inserted,
        audit_seq,
    })
}

/// The outcome of [`check_region_tree`]: the stored ancestors' count increments, or the
/// problems in the file.
type CheckOutcome = Result<Vec<CountIncrement>, ImportProblems>;

/// [`check_region_tree`] running on a blocking thread beside the insert.
struct TreeCheck {
    running: Option<tokio::task::JoinHandle<CheckOutcome>>,
    outcome: Option<CheckOutcome>,
}

impl TreeCheck {
    fn start(parsed: Arc<ParsedRegionCsv>, existing: HashMap<RegionCode, ExistingRegion>) -> Self {
        Self {
            running: Some(tokio::task::spawn_blocking(move || {
                check_region_tree(&parsed, &existing)
            })),
            outcome: None,
        }
    }

    /// Waits for the check (at once if it has finished).
    async fn outcome(&mut self) -> Result<CheckOutcome, StorageError> {
        if let Some(running) = self.running.take() {
            self.outcome = Some(
                running
                    .await
                    .map_err(|e| stopped("checking the regions", &e))?,
            );
        }
        self.outcome.clone().ok_or_else(|| {
            StorageError::refused(
                "file",
                "the check of the regions file was lost",
                "行政区划文件的检查结果丢失",
            )
        })
    }

    /// Whether the check has already found problems, without waiting for it: the insert
    /// asks between batches and stops early, as nothing it does could be kept.
    async fn has_failed(&mut self) -> bool {
        if self.running.as_ref().is_some_and(|r| r.is_finished()) {
            // Finished, so this does not wait; a lost check counts as failed.
            return !matches!(self.outcome().await, Ok(Ok(_)));
        }
        matches!(self.outcome, Some(Err(_)))
    }
}

fn stopped(what: &str, error: &tokio::task::JoinError) -> StorageError {
    StorageError::refused(
        "file",
        format!("{what} stopped unexpectedly: {error}"),
        format!("{}意外中止（{error}）", stopped_zh(what)),
    )
}

/// What [`stopped`] names ("placing the regions"), in Chinese; a name not listed here is
/// shown as it is.
fn stopped_zh(what: &str) -> &str {
    match what {
        "placing the regions" => "行政区划的层级定位",
        "checking the regions" => "行政区划的检查",
        other => other,
    }
}

/// The placed rows of a file, in code order, as records to insert.
#[derive(Clone, Copy)]
struct Records<'a> {
    rows: &'a [RegionRow],
    placed: &'a [PlacedRow],
}

impl<'a> Records<'a> {
    fn iter(self) -> impl Iterator<Item = RegionRecord<'a>> + Send + 'a {
        self.placed
            .iter()
            .map(move |p| RegionRecord::new(&self.rows[p.row], p))
    }

    fn first(self) -> Option<RegionRecord<'a>> {
        self.placed
            .first()
            .map(|p| RegionRecord::new(&self.rows[p.row], p))
    }

    fn last(self) -> Option<RegionRecord<'a>> {
        self.placed
            .last()
            .map(|p| RegionRecord::new(&self.rows[p.row], p))
    }
}

/// One row of `regions` as the insert writes it: a file row where its placement puts it.
struct RegionRecord<'a> {
    code: &'a str,
    parent_code: Option<&'a str>,
    name: &'a str,
    level: i64,
    path: RegionPath,
    coordinates: Option<Coordinates>,
    child_count: i64,
    descendant_count: i64,
}

impl<'a> RegionRecord<'a> {
    fn new(row: &'a RegionRow, placed: &PlacedRow) -> Self {
        Self {
            code: row.code.as_str(),
            parent_code: row.parent_code.as_ref().map(RegionCode::as_str),
            name: &row.name,
            level: i64::from(row.code.implied_level().depth()),
            path: RegionPath::of_code(&row.code),
            coordinates: row.coordinates,
            child_count: placed.child_count,
            descendant_count: placed.descendant_count,
        }
    }
}

/// The deepest path that contains every region of the import, for the audit entry, from
/// the first and last of the records in path order.
fn common_ancestor(first: Option<RegionRecord>, last: Option<RegionRecord>) -> RegionPath {
    let (first, last) = match (first, last) {
        (Some(first), Some(last)) if first.code != last.code => (first, last),
        (Some(only), _) => return only.path,
        _ => return RegionPath::root(),
    };
    let mut common = RegionPath::root();
    for (a, b) in first.path.codes().zip(last.path.codes()) {
        if a != b {
            break;
        }
        common = common.child(&a);
    }
    common
}

/// From this many rows into an empty table, the import drops the secondary indexes and builds
/// them again afterwards: one sort per index instead of a million scattered B-tree inserts.
/// (The primary key stays: the records come in code order, so its inserts are appends.)
const BULK_LOAD_MIN_ROWS: usize = 10_000;

/// The secondary indexes of `regions`, exactly as `0001_foundation.sql` creates them on both
/// backends; `bulk_load_restores_the_schema` in the storage tests checks they stay equal.
const SECONDARY_INDEXES: [(&str, &str); 2] = [
    (
        "regions_path",
        "CREATE UNIQUE INDEX regions_path ON regions (path)",
    ),
    (
        "regions_parent",
        "CREATE INDEX regions_parent ON regions (parent_code, code)",
    ),
];

#[derive(Clone, Copy)]
pub(crate) enum IndexAction {
    Drop,
    Create,
}

/// Drops or builds again the given indexes (name, `CREATE INDEX` statement) in the
/// transaction: the bulk loads of regions and of potential records share it.
pub(crate) async fn set_indexes(
    tx: &mut WriteTx,
    indexes: &[(&str, &str)],
    action: IndexAction,
) -> Result<(), sqlx::Error> {
    for (name, create) in indexes {
        let statement = match action {
            IndexAction::Drop => format!("DROP INDEX {name}"),
            IndexAction::Create => (*create).to_owned(),
        };
        // The statements are constants of the storage modules, never user input.
        on_tx!(tx, |conn| sqlx::query(sqlx::AssertSqlSafe(
            statement.clone()
        ))
        .execute(&mut *conn)
        .await
        .map(|_| ()))?;
    }
    Ok(())
}

/// Checked inside the write transaction, so no other import can slip in between. On
/// PostgreSQL the `DROP INDEX` that follows locks `regions` until commit, which readers of an
/// empty table can afford.
async fn regions_table_is_empty(tx: &mut WriteTx) -> Result<bool, StorageError> {
    let any: bool = on_tx!(tx, |conn| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM regions)"
    )
    .fetch_one(&mut *conn)
    .await)?;
    Ok(!any)
}

/// SQLite: a page cache big enough to hold the whole load, so no page is spilled and
/// written twice before commit, and two threads for sorting the rebuilt indexes. Put back by
/// `finish_bulk_load`.
pub(crate) async fn prepare_bulk_load(tx: &mut WriteTx) -> Result<(), StorageError> {
    if let WriteTx::Sqlite(conn) = tx {
        sqlx::query("PRAGMA cache_size = -524288") // 512 MiB
            .execute(&mut **conn)
            .await?;
        sqlx::query("PRAGMA threads = 2")
            .execute(&mut **conn)
            .await?;
    }
    Ok(())
}

impl Database {
    pub(crate) async fn finish_bulk_load(&self) -> Result<(), StorageError> {
        if let Database::Sqlite(pools) = self {
            let mut conn = pools.write.acquire().await?;
            sqlx::query(crate::db::SQLITE_CACHE_SIZE)
                .execute(&mut *conn)
                .await?;
            sqlx::query("PRAGMA threads = 0")
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

async fn set_secondary_indexes(tx: &mut WriteTx, action: IndexAction) -> Result<(), StorageError> {
    set_indexes(tx, &SECONDARY_INDEXES, action)
        .await
        .map_err(|e| {
            StorageError::unique_said(e, "path", || {
                (
                    "two regions in the file have the same path".into(),
                    "文件中有两个行政区划的路径相同".into(),
                )
            })
        })
}

/// SQLite allows 32,766 bound parameters per statement; nine columns a row.
const SQLITE_ROWS_PER_INSERT: usize = 3_600;

/// How far an insert got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inserted {
    /// Every record, this many.
    All(usize),
    /// The tree check failed meanwhile, so the rest was not worth sending.
    StoppedEarly,
}

/// Inserts the records in batches, asking `check` between batches whether to go on.
async fn insert_regions(
    tx: &mut WriteTx,
    records: Records<'_>,
    check: &mut TreeCheck,
) -> Result<Inserted, sqlx::Error> {
    let mut records = records.iter().peekable();
    let mut count = 0;
    match tx {
        WriteTx::Sqlite(conn) => {
            // Every batch but the last has the same shape, so SQLite prepares its statement
            // once; sqlx keeps it cached under its text.
            let full_batch: Arc<str> = sqlite_insert_statement(SQLITE_ROWS_PER_INSERT).into();
            let mut batch = sqlite_batch(&mut records)?;
            while let Some((rows, arguments)) = batch {
                if check.has_failed().await {
                    return Ok(Inserted::StoppedEarly);
                }
                let statement = if rows == SQLITE_ROWS_PER_INSERT {
                    Arc::clone(&full_batch)
                } else {
                    sqlite_insert_statement(rows).into()
                };
                let insert = sqlx::query_with(sqlx::AssertSqlSafe(statement), arguments)
                    .persistent(true)
                    .execute(&mut **conn);
                // SQLite stores this batch on its own thread while this one binds the next:
                // binding is a third of the insert's CPU time.
                let (stored, next) = tokio::join!(insert, async { sqlite_batch(&mut records) });
                stored?;
                count += rows;
                batch = next?;
            }
            Ok(Inserted::All(count))
        }
        WriteTx::Postgres(conn) => {
            // COPY is the one bulk path PostgreSQL offers that keeps up with a million rows.
            let mut copy = conn
                .copy_in_raw(format!("COPY regions ({COLUMNS}) FROM STDIN").as_str())
                .await?;
            let mut buffer = String::with_capacity(COPY_CHUNK_BYTES);
            for region in records {
                count += 1;
                copy_text_row(&mut buffer, &region);
                if buffer.len() > COPY_CHUNK_BYTES - 512 {
                    if check.has_failed().await {
                        copy.abort("the file has problems").await?;
                        return Ok(Inserted::StoppedEarly);
                    }
                    copy.send(buffer.as_bytes()).await?;
                    buffer.clear();
                }
            }
            if !buffer.is_empty() {
                copy.send(buffer.as_bytes()).await?;
            }
            copy.finish().await?;
            Ok(Inserted::All(count))
        }
    }
}

/// `INSERT INTO regions (…) VALUES (?, …), …` for this many rows. The text is built from
/// constants only.
fn sqlite_insert_statement(rows: usize) -> String {
    let row = format!("({})", vec!["?"; COLUMNS.split(',').count()].join(", "));
    format!(
        "INSERT INTO regions ({COLUMNS}) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// The next batch of records bound as arguments, with its row count, or None at the end.
/// Text is bound as `Arc<str>`, which sqlx passes on without another copy.
fn sqlite_batch<'a>(
    records: &mut impl Iterator<Item = RegionRecord<'a>>,
) -> Result<Option<(usize, SqliteArguments)>, sqlx::Error> {
    let mut arguments = SqliteArguments::default();
    let mut rows = 0;
    for region in records.take(SQLITE_ROWS_PER_INSERT) {
        rows += 1;
        let text = |t: &str| Arc::<str>::from(t);
        bind(&mut arguments, text(region.code))?;
        bind(&mut arguments, region.parent_code.map(text))?;
        bind(&mut arguments, text(region.name))?;
        bind(&mut arguments, region.level)?;
        bind(&mut arguments, text(region.path.as_str()))?;
        bind(&mut arguments, region.coordinates.map(|c| c.lat))?;
        bind(&mut arguments, region.coordinates.map(|c| c.lon))?;
        bind(&mut arguments, region.child_count)?;
        bind(&mut arguments, region.descendant_count)?;
    }
    Ok((rows > 0).then_some((rows, arguments)))
}

fn bind<'q>(
    arguments: &mut SqliteArguments,
    value: impl sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
) -> Result<(), sqlx::Error> {
    arguments.add(value).map_err(sqlx::Error::Encode)
}

/// One region as a COPY text row.
fn copy_text_row(buffer: &mut String, region: &RegionRecord) {
    CopyRow::new(buffer)
        .text(Some(region.code))
        .text(region.parent_code)
        .text(Some(region.name))
        .number(Some(region.level))
        .text(Some(region.path.as_str()))
        .number(region.coordinates.map(|c| c.lat))
        .number(region.coordinates.map(|c| c.lon))
        .number(Some(region.child_count))
        .number(Some(region.descendant_count))
        .end();
}

async fn apply_increments(
    tx: &mut WriteTx,
    increments: &[CountIncrement],
) -> Result<(), StorageError> {
    for increment in increments {
        on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE regions SET child_count = child_count + $1, descendant_count = descendant_count + $2 WHERE code = $3",
            )
            .bind(increment.children)
            .bind(increment.descendants)
            .bind(increment.code.as_str())
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
    }
    Ok(())
}
