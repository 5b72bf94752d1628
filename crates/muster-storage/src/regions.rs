//! Regions: scoped reads, drill-down, and the all-or-nothing bulk import.

use std::collections::HashMap;

use muster_domain::region_import::{
    CountIncrement, ExistingRegion, NewRegion, ParsedRegionCsv, RegionImportPlan, codes_to_look_up,
    plan_region_import,
};
use muster_domain::{Actor, RegionCode, RegionLevel, RegionPath, Scope};
use serde::Serialize;
use sqlx::QueryBuilder;

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
        let name = filter.name_contains.as_ref().map(|n| {
            format!(
                "%{}%",
                n.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
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

    pub async fn region_count(&self) -> Result<i64, StorageError> {
        Ok(on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM regions"
        )
        .fetch_one(pool)
        .await)?)
    }

    /// Looks up the stored regions the file refers to, plans the import, and stores it all
    /// in one transaction with one audit entry — or stores nothing and lists every problem.
    pub async fn import_regions(
        &self,
        actor: &Actor,
        parsed: ParsedRegionCsv,
        source: &str,
    ) -> Result<ImportSummary, StorageError> {
        let existing = self
            .existing_regions(&codes_to_look_up(&parsed.rows))
            .await?;
        let plan = plan_region_import(parsed, &existing).map_err(StorageError::ImportRejected)?;
        self.store_region_plan(actor, plan, source).await
    }

    async fn existing_regions(
        &self,
        codes: &[RegionCode],
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
        for chunk in codes.chunks(500) {
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

    async fn store_region_plan(
        &self,
        actor: &Actor,
        plan: RegionImportPlan,
        source: &str,
    ) -> Result<ImportSummary, StorageError> {
        let outside: Vec<&NewRegion> = plan
            .regions
            .iter()
            .filter(|r| !actor.scope().contains(&r.path))
            .collect();
        if let Some(first) = outside.first() {
            return Err(StorageError::out_of_scope("region", &first.code));
        }
        if !actor.administers() {
            return Err(StorageError::Forbidden(
                "only an administrator may add regions".into(),
            ));
        }
        let inserted = plan.regions.len();
        let top_path = common_ancestor(&plan.regions);
        let mut tx = self.begin_write().await?;
        let bulk =
            plan.regions.len() >= BULK_LOAD_MIN_ROWS && regions_table_is_empty(&mut tx).await?;
        if bulk {
            prepare_bulk_load(&mut tx).await?;
            set_secondary_indexes(&mut tx, IndexAction::Drop).await?;
        }
        insert_regions(&mut tx, &plan.regions).await.map_err(|e| {
            StorageError::unique(e, "code", || {
                "a region in the file was stored by someone else meanwhile; import again".into()
            })
        })?;
        if bulk {
            set_secondary_indexes(&mut tx, IndexAction::Create).await?;
        }
        apply_increments(&mut tx, &plan.existing_increments).await?;
        let sample: Vec<&str> = plan
            .regions
            .iter()
            .take(5)
            .map(|r| r.code.as_str())
            .collect();
        let audit_seq = tx
            .audit(
                actor,
                crate::now(),
                AuditEvent {
                    entity: "region",
                    entity_id: if inserted == 1 { sample[0].to_owned() } else { format!("{inserted} regions") },
                    action: "import",
                    region_path: &top_path,
                    before: None,
                    after: Some(serde_json::json!({ "source": source, "inserted": inserted, "first_codes": sample })),
                },
            )
            .await?;
        tx.commit().await?;
        if bulk {
            self.finish_bulk_load().await?;
        }
        Ok(ImportSummary {
            inserted,
            audit_seq,
        })
    }
}

/// The deepest path that contains every region of the import, for the audit entry.
fn common_ancestor(regions: &[NewRegion]) -> RegionPath {
    let (Some(first), Some(last)) = (regions.first(), regions.last()) else {
        return RegionPath::root();
    };
    // Regions are sorted by path, so the common prefix of the first and last covers all.
    let mut common = RegionPath::root();
    for (a, b) in first.path.codes().zip(last.path.codes()) {
        if a != b {
            break;
        }
        common = common.child(&a);
    }
    if regions.len() == 1 {
        first.path.clone()
    } else {
        common
    }
}

/// From this many rows into an empty table, the import drops the secondary indexes and builds
/// them again afterwards: one sort per index instead of a million scattered B-tree inserts.
/// (The primary key stays: the plan is sorted by path, which is also code order, so its
/// inserts are appends.)
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
enum IndexAction {
    Drop,
    Create,
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
    for (name, create) in SECONDARY_INDEXES {
        let statement = match action {
            IndexAction::Drop => format!("DROP INDEX {name}"),
            IndexAction::Create => create.to_owned(),
        };
        // Both statements are constants of this module, never user input.
        on_tx!(tx, |conn| sqlx::query(sqlx::AssertSqlSafe(
            statement.clone()
        ))
        .execute(&mut *conn)
        .await
        .map(|_| ()))
        .map_err(|e| {
            StorageError::unique(e, "path", || {
                "two regions in the file have the same path".into()
            })
        })?;
    }
    Ok(())
}

/// SQLite allows 32,766 bound parameters per statement; nine columns a row.
const SQLITE_ROWS_PER_INSERT: usize = 3_600;

async fn insert_regions(tx: &mut WriteTx, regions: &[NewRegion]) -> Result<(), sqlx::Error> {
    match tx {
        WriteTx::Sqlite(conn) => {
            for chunk in regions.chunks(SQLITE_ROWS_PER_INSERT) {
                let mut query = QueryBuilder::new(format!("INSERT INTO regions ({COLUMNS}) "));
                query.push_values(chunk, |mut row, region| {
                    row.push_bind(region.code.as_str())
                        .push_bind(region.parent_code.as_ref().map(|c| c.as_str()))
                        .push_bind(region.name.as_str())
                        .push_bind(i64::from(region.level.depth()))
                        .push_bind(region.path.as_str())
                        .push_bind(region.coordinates.map(|c| c.lat))
                        .push_bind(region.coordinates.map(|c| c.lon))
                        .push_bind(region.child_count)
                        .push_bind(region.descendant_count);
                });
                query.build().persistent(true).execute(&mut **conn).await?;
            }
            Ok(())
        }
        WriteTx::Postgres(conn) => {
            // COPY is the one bulk path PostgreSQL offers that keeps up with a million rows.
            let mut copy = conn
                .copy_in_raw(format!("COPY regions ({COLUMNS}) FROM STDIN").as_str())
                .await?;
            let mut buffer = String::with_capacity(COPY_CHUNK_BYTES);
            for region in regions {
                copy_text_row(&mut buffer, region);
                if buffer.len() > COPY_CHUNK_BYTES - 512 {
                    copy.send(buffer.as_bytes()).await?;
                    buffer.clear();
                }
            }
            if !buffer.is_empty() {
                copy.send(buffer.as_bytes()).await?;
            }
            copy.finish().await?;
            Ok(())
        }
    }
}

/// One region as a COPY text row.
fn copy_text_row(buffer: &mut String, region: &NewRegion) {
    CopyRow::new(buffer)
        .text(Some(region.code.as_str()))
        .text(region.parent_code.as_ref().map(|p| p.as_str()))
        .text(Some(&region.name))
        .number(Some(region.level.depth()))
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
