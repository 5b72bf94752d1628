//! Bulk loading of facilities, their grids and their inspection history: for the demo, the
//! benchmark, and migrating the registry of a previous system. Everything a load holds is
//! checked first (the same domain checks as a form: [`FacilityDraft::validate`],
//! [`InspectionDraft::check`]), then written in one transaction with one audit entry, or
//! nothing is written.
//!
//! The dialects differ only in how rows travel: multi-row `INSERT … VALUES` on SQLite (under
//! its 32,766 bound parameters a statement), `COPY … FROM STDIN` on PostgreSQL. Ids are
//! reserved before the rows are written (SQLite: after the table's AUTOINCREMENT high-water
//! mark, under the single writer; PostgreSQL: `nextval` on the table's sequence), so the
//! caller learns every new row's id in input order without a `RETURNING` that COPY lacks.
//!
//! What a history load does not do: it issues no rectification orders and sends no
//! reminders. History is what happened; failures found years ago were dealt with (or not)
//! in the old system, and open orders are migrated as orders, not replayed as visits. A visit
//! made now goes through [`Database::record_inspection`]. Complexity: O(n) rows plus one
//! look-up per distinct facility, inspector, grid member and organization.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use muster_domain::facility::{
    FacilityDraft, FacilityKind, FieldProblem, InspectionDraft, Schedule, SignStatus, interval_days,
};
use muster_domain::time::{CivilDate, MILLIS_PER_DAY};
use muster_domain::{Actor, RegionPath, Timestamp};
use sqlx::QueryBuilder;

use crate::audit::AuditEvent;
use crate::copy::{COPY_CHUNK_BYTES, CopyRow};
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::facilities::may_manage_facilities;
use crate::inspections::{AttachmentInput, MAX_ATTACHMENTS};

/// A grid to create in a bulk load, with the users who walk it.
#[derive(Debug, Clone)]
pub struct BulkGrid {
    pub name: String,
    /// A region of the actor's scope (a village or community).
    pub region_code: String,
    pub member_user_ids: Vec<i64>,
}

/// A facility to register in a bulk load.
#[derive(Debug, Clone)]
pub struct BulkFacility {
    pub draft: FacilityDraft,
    pub region_code: String,
    /// An index into the load's [`FacilityLoad::grids`]; the grid must cover the region.
    pub grid: Option<usize>,
    pub manager_organization_id: Option<i64>,
    /// When the old system registered it: its due day until its first inspection.
    pub registered_at: Timestamp,
    /// The day an installed sign went up (the registration day if not given).
    pub sign_installed: Option<CivilDate>,
}

/// Grids and facilities loaded together, so facilities can name grids of the same load.
#[derive(Debug, Clone, Default)]
pub struct FacilityLoad {
    pub grids: Vec<BulkGrid>,
    pub facilities: Vec<BulkFacility>,
}

/// What a facility load stored: ids in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacilityLoadSummary {
    pub grid_ids: Vec<i64>,
    pub facility_ids: Vec<i64>,
    pub grid_members: usize,
    pub audit_seq: i64,
}

/// One past inspection to load.
#[derive(Debug, Clone)]
pub struct BulkInspection {
    pub facility_id: i64,
    pub inspector_user_id: i64,
    /// Unique per inspector, like a phone's key; a migration can use the old system's id.
    pub idempotency_key: String,
    pub draft: InspectionDraft,
    /// When the old system received it (often the visit time).
    pub received_at: Timestamp,
    pub attachments: Vec<AttachmentInput>,
}

/// What a history load stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionHistorySummary {
    /// The new inspections' ids, in input order.
    pub inspection_ids: Vec<i64>,
    pub attachments: usize,
    /// Facilities whose last inspection (and so next due day) the load moved.
    pub facilities_updated: usize,
    pub audit_seq: i64,
}

/// Facilities per multi-row insert on SQLite: 21 bound parameters a row.
const SQLITE_FACILITIES_PER_INSERT: usize = 1_400;
/// Inspections per multi-row insert on SQLite: 14 bound parameters a row.
const SQLITE_INSPECTIONS_PER_INSERT: usize = 2_200;
/// Rows of small tables (grids, members, attachments, due-day updates) per statement, on
/// both databases: at most 6 parameters a row.
const SMALL_ROWS_PER_STATEMENT: usize = 5_000;
/// The longest idempotency key, as for a phone's submission.
const MAX_IDEMPOTENCY_KEY: usize = 100;

impl Database {
    /// Creates grids (with their members) and registers facilities, all or nothing, with
    /// one audit entry. Office and workstation staff only; every region, grid member and
    /// property manager must be in the actor's scope. Facilities are due for their first
    /// inspection on the day they were registered.
    pub async fn bulk_load_facilities(
        &self,
        actor: &Actor,
        load: FacilityLoad,
        source: &str,
    ) -> Result<FacilityLoadSummary, StorageError> {
        if !may_manage_facilities(actor) {
            return Err(StorageError::forbidden(
                "only office and workstation staff load facilities",
                "只有动员办和工作站的工作人员才能批量导入设施",
            ));
        }
        if load.facilities.is_empty() && load.grids.is_empty() {
            return Err(StorageError::refused(
                "facilities",
                "nothing to load",
                "没有要导入的网格或设施",
            ));
        }
        let codes: BTreeSet<String> = load
            .grids
            .iter()
            .map(|g| g.region_code.trim().to_owned())
            .chain(
                load.facilities
                    .iter()
                    .map(|f| f.region_code.trim().to_owned()),
            )
            .collect();
        let regions = self.region_infos(codes).await?;
        let path_of = |code: &str| -> Result<RegionPath, StorageError> {
            let info = regions
                .get(code.trim())
                .ok_or_else(|| StorageError::not_found("region", code.trim()))?;
            if !actor.scope().contains(&info.path) {
                return Err(StorageError::out_of_scope("region", code.trim()));
            }
            Ok(info.path.clone())
        };
        let mut grid_paths = Vec::with_capacity(load.grids.len());
        let mut grid_names = BTreeSet::new();
        for (index, grid) in load.grids.iter().enumerate() {
            let name = grid.name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(StorageError::refused(
                    "grids",
                    format!("grid {index}: a name of 1 to 100 characters"),
                    format!("网格 {index}：名称应为 1 至 100 个字符"),
                ));
            }
            if !grid_names.insert((grid.region_code.trim(), name)) {
                return Err(StorageError::Conflict {
                    message_zh: Some(format!(
                        "网格 {index}：本次导入中行政区划 {} 有两个名为 {name} 的网格",
                        grid.region_code.trim()
                    )),
                    field: "name",
                    message: format!(
                        "grid {index}: region {} has two grids named {name} in this load",
                        grid.region_code.trim()
                    ),
                });
            }
            grid_paths.push(path_of(&grid.region_code)?);
        }
        let mut facility_paths = Vec::with_capacity(load.facilities.len());
        for (index, facility) in load.facilities.iter().enumerate() {
            facility.draft.validate().map_err(|problems| {
                let message = problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                let message_zh = problems
                    .iter()
                    .map(FieldProblem::zh)
                    .collect::<Vec<_>>()
                    .join("；");
                StorageError::refused(
                    "facilities",
                    format!("facility {index}: {message}"),
                    format!("设施 {index}：{message_zh}"),
                )
            })?;
            let path = path_of(&facility.region_code)?;
            if let Some(grid) = facility.grid {
                let grid_path = grid_paths.get(grid).ok_or_else(|| {
                    StorageError::refused(
                        "grid",
                        format!("facility {index}: there is no grid {grid} in this load"),
                        format!("设施 {index}：本次导入中没有网格 {grid}"),
                    )
                })?;
                if !grid_path.contains(&path) {
                    return Err(StorageError::refused(
                        "grid",
                        format!(
                            "facility {index}: grid {} does not cover region {}",
                            load.grids[grid].name, facility.region_code
                        ),
                        format!(
                            "设施 {index}：网格“{}”不覆盖行政区划 {}",
                            load.grids[grid].name, facility.region_code
                        ),
                    ));
                }
            }
            facility_paths.push(path);
        }
        // Members and managers are few and repeat; each distinct one is looked up once, in
        // the actor's scope, as the single-row calls do.
        let members: BTreeSet<i64> = load
            .grids
            .iter()
            .flat_map(|g| g.member_user_ids.iter().copied())
            .collect();
        let mut member_paths = HashMap::new();
        for user_id in members {
            let user = self.user(actor.scope(), user_id).await?;
            member_paths.insert(user_id, user.region_path());
        }
        for (grid, path) in load.grids.iter().zip(&grid_paths) {
            for user_id in &grid.member_user_ids {
                let user_path = &member_paths[user_id];
                if !(user_path.contains(path) || path.contains(user_path)) {
                    return Err(StorageError::refused(
                        "member_user_ids",
                        format!(
                            "user {user_id} works outside the region of grid {}",
                            grid.name
                        ),
                        format!(
                            "用户 {user_id} 的工作区域不在网格“{}”的行政区划内",
                            grid.name
                        ),
                    ));
                }
            }
        }
        let managers: BTreeSet<i64> = load
            .facilities
            .iter()
            .filter_map(|f| f.manager_organization_id)
            .collect();
        for organization_id in managers {
            self.organization(actor.scope(), organization_id)
                .await
                .map_err(|e| match e {
                    StorageError::NotFound { .. } => StorageError::refused(
                        "manager_organization_id",
                        format!("organization {organization_id} is not in your region"),
                        format!("单位 {organization_id} 不在您的辖区范围内"),
                    ),
                    other => other,
                })?;
        }

        let now = crate::now();
        let top = RegionPath::deepest_enclosing(grid_paths.iter().chain(&facility_paths));
        let mut tx = self.begin_write().await?;
        let grid_ids = reserve_ids(&mut tx, IdTable::Grids, load.grids.len()).await?;
        insert_grids(&mut tx, &load.grids, &grid_paths, &grid_ids, now)
            .await
            .map_err(|e| {
                StorageError::unique_said(e, "name", || {
                    (
                        "a grid of this load has the name of a stored grid of its region".into(),
                        "本次导入的一个网格与其行政区划内已有网格同名".into(),
                    )
                })
            })?;
        let grid_members = insert_grid_members(&mut tx, &load.grids, &grid_ids).await?;
        let facility_ids = reserve_ids(&mut tx, IdTable::Facilities, load.facilities.len()).await?;
        let rows: Vec<FacilityRow<'_>> = load
            .facilities
            .iter()
            .zip(&facility_paths)
            .zip(&facility_ids)
            .map(|((facility, path), id)| FacilityRow::new(*id, facility, path, &grid_ids, now))
            .collect();
        insert_facilities(&mut tx, &rows).await?;
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for facility in &load.facilities {
            *kinds.entry(facility.draft.kind.as_str()).or_default() += 1;
        }
        let audit_seq = tx
            .audit(
                actor,
                now,
                AuditEvent {
                    entity: "facility",
                    entity_id: format!("{} facilities", load.facilities.len()),
                    action: "bulk_load",
                    region_path: &top,
                    before: None,
                    after: Some(serde_json::json!({
                        "source": source,
                        "facilities": load.facilities.len(),
                        "by_kind": kinds,
                        "grids": load.grids.len(),
                        "grid_members": grid_members,
                        "first_facility_id": facility_ids.first(),
                        "first_grid_id": grid_ids.first(),
                    })),
                },
            )
            .await?;
        tx.commit().await?;
        Ok(FacilityLoadSummary {
            grid_ids,
            facility_ids,
            grid_members,
            audit_seq,
        })
    }

    /// Loads past inspections of stored facilities, all or nothing, with one audit entry,
    /// and moves each facility's last inspection and next due day to what the history says
    /// (the latest visit wins, as with [`Database::record_inspection`]; the interval is the
    /// schedule in force). Each inspection is checked against its kind's current checklist
    /// and keeps a copy of it. Office and workstation staff only, facilities and inspectors
    /// in the actor's scope. Issues no orders (see the module docs).
    pub async fn bulk_load_inspection_history(
        &self,
        actor: &Actor,
        rows: Vec<BulkInspection>,
        source: &str,
    ) -> Result<InspectionHistorySummary, StorageError> {
        if !may_manage_facilities(actor) {
            return Err(StorageError::forbidden(
                "only office and workstation staff load inspection history",
                "只有动员办和工作站的工作人员才能导入巡检历史",
            ));
        }
        if rows.is_empty() {
            return Err(StorageError::refused(
                "inspections",
                "nothing to load",
                "没有要导入的巡检记录",
            ));
        }
        let facility_ids: BTreeSet<i64> = rows.iter().map(|r| r.facility_id).collect();
        let facilities = self.facility_facts(&facility_ids).await?;
        for id in &facility_ids {
            let facts = facilities
                .get(id)
                .ok_or_else(|| StorageError::not_found("facility", id))?;
            if !actor.scope().contains(&facts.path) {
                return Err(StorageError::not_found("facility", id));
            }
        }
        let inspectors: BTreeSet<i64> = rows.iter().map(|r| r.inspector_user_id).collect();
        for user_id in inspectors {
            self.user(actor.scope(), user_id).await?;
        }
        let mut checklists = HashMap::new();
        for kind in FacilityKind::ALL {
            checklists.insert(*kind, self.checklist(*kind).await?);
        }
        let checklist_json: HashMap<FacilityKind, String> = checklists
            .iter()
            .map(|(kind, c)| (*kind, serde_json::to_string(c).unwrap_or_default()))
            .collect();
        let now = crate::now();
        let mut checked_rows = Vec::with_capacity(rows.len());
        let mut keys = BTreeSet::new();
        for (index, row) in rows.iter().enumerate() {
            let facts = &facilities[&row.facility_id];
            let key = row.idempotency_key.trim();
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
                return Err(StorageError::refused(
                    "idempotency_key",
                    format!("inspection {index}: 1 to {MAX_IDEMPOTENCY_KEY} characters"),
                    format!("巡检记录 {index}：提交标识应为 1 至 {MAX_IDEMPOTENCY_KEY} 个字符"),
                ));
            }
            if !keys.insert((row.inspector_user_id, key)) {
                return Err(StorageError::Conflict {
                    message_zh: Some(format!(
                        "巡检记录 {index}：本次导入中用户 {} 两次使用提交标识 {key}",
                        row.inspector_user_id
                    )),
                    field: "idempotency_key",
                    message: format!(
                        "inspection {index}: user {} uses the key {key} twice in this load",
                        row.inspector_user_id
                    ),
                });
            }
            if row.attachments.len() > MAX_ATTACHMENTS {
                return Err(StorageError::refused(
                    "attachments",
                    format!(
                        "inspection {index}: at most {MAX_ATTACHMENTS} attachments an inspection"
                    ),
                    format!("巡检记录 {index}：每次巡检最多 {MAX_ATTACHMENTS} 个附件"),
                ));
            }
            let checked = row
                .draft
                .check(&checklists[&facts.kind], (facts.lat, facts.lon), now)
                .map_err(|problems| {
                    StorageError::refused(
                        "inspections",
                        format!(
                            "inspection {index}: {}",
                            problems
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                        format!(
                            "巡检记录 {index}：{}",
                            problems
                                .iter()
                                .map(FieldProblem::zh)
                                .collect::<Vec<_>>()
                                .join("；")
                        ),
                    )
                })?;
            checked_rows.push(InspectionRow {
                row,
                key,
                path: facts.path.as_str(),
                checklist: checklist_json[&facts.kind].as_str(),
                answers: serde_json::to_string(&row.draft.answers).unwrap_or_default(),
                distance_m: checked.distance_m,
                far: i64::from(checked.far_from_facility),
                failed: i64::try_from(checked.failed.len()).unwrap_or(i64::MAX),
                id: 0,
            });
        }
        // The latest loaded visit of each facility, and the interval its schedules give.
        let mut latest: BTreeMap<i64, i64> = BTreeMap::new();
        for row in &rows {
            let at = row.draft.inspected_at.as_millis();
            let entry = latest.entry(row.facility_id).or_insert(at);
            *entry = (*entry).max(at);
        }
        let schedules = self.all_schedules().await?;
        let mut interval_cache: HashMap<(String, FacilityKind), i64> = HashMap::new();
        let due_updates: Vec<(i64, i64, i64)> = latest
            .iter()
            .map(|(id, at)| {
                let facts = &facilities[id];
                let interval = *interval_cache
                    .entry((facts.path.as_str().to_owned(), facts.kind))
                    .or_insert_with(|| {
                        let on_path: Vec<Schedule> = schedules
                            .iter()
                            .filter(|(p, kind, _)| *kind == facts.kind && p.contains(&facts.path))
                            .map(|(_, _, s)| s.clone())
                            .collect();
                        i64::from(interval_days(facts.kind, &on_path))
                    });
                (*id, *at, interval)
            })
            .collect();
        let top = RegionPath::deepest_enclosing(facilities.values().map(|f| &f.path));

        let mut tx = self.begin_write().await?;
        let bulk = rows.len() >= BULK_INSPECTIONS;
        if bulk {
            crate::regions::prepare_bulk_load(&mut tx).await?;
        }
        let written = write_history(&mut tx, &mut checked_rows, &due_updates, now).await;
        let (inspection_ids, attachments) = match written {
            Ok(done) => done,
            Err(e) => {
                drop(tx);
                if bulk {
                    self.finish_bulk_load().await?;
                }
                return Err(e);
            }
        };
        let audit_seq = tx
            .audit(
                actor,
                now,
                AuditEvent {
                    entity: "inspection",
                    entity_id: format!("{} inspections", rows.len()),
                    action: "bulk_load",
                    region_path: &top,
                    before: None,
                    after: Some(serde_json::json!({
                        "source": source,
                        "inspections": rows.len(),
                        "attachments": attachments,
                        "facilities": due_updates.len(),
                        "first_inspection_id": inspection_ids.first(),
                    })),
                },
            )
            .await?;
        tx.commit().await?;
        if bulk {
            self.finish_bulk_load().await?;
        }
        Ok(InspectionHistorySummary {
            inspection_ids,
            attachments,
            facilities_updated: due_updates.len(),
            audit_seq,
        })
    }

    /// What a history load needs to know of each facility it names.
    async fn facility_facts(
        &self,
        ids: &BTreeSet<i64>,
    ) -> Result<HashMap<i64, FacilityFacts>, StorageError> {
        let ids: Vec<i64> = ids.iter().copied().collect();
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(SMALL_ROWS_PER_STATEMENT) {
            let rows: Vec<(i64, String, String, f64, f64)> = on_read_pool!(self, |pool| {
                let mut query = QueryBuilder::new(
                    "SELECT id, kind, region_path, lat, lon FROM facilities WHERE id IN (",
                );
                let mut separated = query.separated(", ");
                for id in chunk {
                    separated.push_bind(*id);
                }
                query.push(")");
                query.build_query_as().fetch_all(pool).await
            })?;
            for (id, kind, path, lat, lon) in rows {
                found.insert(
                    id,
                    FacilityFacts {
                        kind: FacilityKind::parse(&kind).unwrap_or(FacilityKind::Shelter),
                        path: RegionPath::parse(&path).unwrap_or_else(RegionPath::root),
                        lat,
                        lon,
                    },
                );
            }
        }
        Ok(found)
    }

    /// Every inspection schedule, with the path that set it.
    async fn all_schedules(
        &self,
    ) -> Result<Vec<(RegionPath, FacilityKind, Schedule)>, StorageError> {
        let rows: Vec<(String, String, i64)> = on_read_pool!(self, |pool| {
            sqlx::query_as("SELECT region_path, kind, every_days FROM inspection_schedules")
                .fetch_all(pool)
                .await
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(path, kind, days)| {
                let path = RegionPath::parse(&path)?;
                Some((
                    path.clone(),
                    FacilityKind::parse(&kind)?,
                    Schedule {
                        region_depth: path.depth(),
                        every_days: u32::try_from(days).ok()?,
                    },
                ))
            })
            .collect())
    }
}

/// From this many inspections a history load gets SQLite's bulk-load page cache.
const BULK_INSPECTIONS: usize = 50_000;

struct FacilityFacts {
    kind: FacilityKind,
    path: RegionPath,
    lat: f64,
    lon: f64,
}

/// The tables whose ids a load reserves. A closed set, so table names spliced into SQL are
/// ours.
#[derive(Clone, Copy)]
enum IdTable {
    Grids,
    Facilities,
    Inspections,
}

impl IdTable {
    const fn name(self) -> &'static str {
        match self {
            IdTable::Grids => "grids",
            IdTable::Facilities => "facilities",
            IdTable::Inspections => "inspections",
        }
    }
}

/// `count` fresh ids for `table`. On SQLite the single writer holds the transaction, so the
/// ids after the AUTOINCREMENT high-water mark are ours, and inserting them moves the mark.
/// On PostgreSQL the sequence hands them out (not necessarily consecutive).
async fn reserve_ids(
    tx: &mut WriteTx,
    table: IdTable,
    count: usize,
) -> Result<Vec<i64>, StorageError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let name = table.name();
    let count_i64 = i64::try_from(count).unwrap_or(i64::MAX);
    match tx {
        WriteTx::Sqlite(conn) => {
            let mark: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{name}'), 0), \
                 COALESCE((SELECT MAX(id) FROM {name}), 0))"
            )))
            .fetch_one(&mut **conn)
            .await?;
            Ok((mark + 1..=mark + count_i64).collect())
        }
        WriteTx::Postgres(conn) => {
            let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT nextval(pg_get_serial_sequence('{name}', 'id')) FROM generate_series(1, $1)"
            )))
            .bind(count_i64)
            .fetch_all(&mut **conn)
            .await?;
            Ok(ids)
        }
    }
}

async fn insert_grids(
    tx: &mut WriteTx,
    grids: &[BulkGrid],
    paths: &[RegionPath],
    ids: &[i64],
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let rows: Vec<(i64, &BulkGrid, &RegionPath)> = ids
        .iter()
        .zip(grids)
        .zip(paths)
        .map(|((id, g), p)| (*id, g, p))
        .collect();
    for chunk in rows.chunks(SMALL_ROWS_PER_STATEMENT) {
        on_tx!(tx, |conn| {
            let mut query = QueryBuilder::new(
                "INSERT INTO grids (id, name, region_code, region_path, created_at) ",
            );
            query.push_values(chunk, |mut row, (id, grid, path)| {
                row.push_bind(*id)
                    .push_bind(grid.name.trim())
                    .push_bind(grid.region_code.trim())
                    .push_bind(path.as_str())
                    .push_bind(now.as_millis());
            });
            query.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

async fn insert_grid_members(
    tx: &mut WriteTx,
    grids: &[BulkGrid],
    ids: &[i64],
) -> Result<usize, StorageError> {
    let pairs: BTreeSet<(i64, i64)> = ids
        .iter()
        .zip(grids)
        .flat_map(|(id, g)| g.member_user_ids.iter().map(move |u| (*id, *u)))
        .collect();
    let pairs: Vec<(i64, i64)> = pairs.into_iter().collect();
    for chunk in pairs.chunks(SMALL_ROWS_PER_STATEMENT) {
        on_tx!(tx, |conn| {
            let mut query = QueryBuilder::new("INSERT INTO grid_members (grid_id, user_id) ");
            query.push_values(chunk, |mut row, (grid, user)| {
                row.push_bind(*grid).push_bind(*user);
            });
            query.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(pairs.len())
}

/// One facility row as stored.
struct FacilityRow<'a> {
    id: i64,
    facility: &'a BulkFacility,
    path: &'a RegionPath,
    grid_id: Option<i64>,
    services: String,
    equipment: String,
    conversion: String,
    installed_day: Option<i64>,
    due_day: i64,
    registered: i64,
    updated: i64,
}

impl<'a> FacilityRow<'a> {
    fn new(
        id: i64,
        facility: &'a BulkFacility,
        path: &'a RegionPath,
        grid_ids: &[i64],
        now: Timestamp,
    ) -> Self {
        let draft = &facility.draft;
        let registered = facility.registered_at;
        Self {
            id,
            facility,
            path,
            grid_id: facility.grid.and_then(|g| grid_ids.get(g).copied()),
            services: serde_json::to_string(&draft.peacetime.services)
                .unwrap_or_else(|_| "[]".into()),
            equipment: serde_json::to_string(&draft.equipment).unwrap_or_else(|_| "[]".into()),
            conversion: serde_json::to_string(&draft.conversion).unwrap_or_else(|_| "[]".into()),
            installed_day: (draft.sign_status == SignStatus::Installed).then(|| {
                facility
                    .sign_installed
                    .unwrap_or_else(|| registered.date())
                    .days_since_epoch()
            }),
            // Never inspected: due from the day it was registered (`next_due(None, …)`).
            due_day: registered.date().days_since_epoch(),
            registered: registered.as_millis(),
            updated: now.as_millis(),
        }
    }
}

const FACILITY_INSERT_COLUMNS: &str = "id, name, kind, region_code, region_path, grid_id, lat, lon, \
     capacity_persons, area_m2, parking_spaces, charging_points, services, peacetime_since_day, \
     sign_status, sign_installed_day, equipment, conversion, conversion_minutes, \
     manager_organization_id, last_inspected_at, next_due_day, created_at, updated_at";

async fn insert_facilities(tx: &mut WriteTx, rows: &[FacilityRow<'_>]) -> Result<(), StorageError> {
    match tx {
        WriteTx::Sqlite(conn) => {
            for chunk in rows.chunks(SQLITE_FACILITIES_PER_INSERT) {
                let mut query = QueryBuilder::new(format!(
                    "INSERT INTO facilities ({FACILITY_INSERT_COLUMNS}) "
                ));
                query.push_values(chunk, |mut row, f| {
                    let draft = &f.facility.draft;
                    row.push_bind(f.id)
                        .push_bind(draft.name.trim())
                        .push_bind(draft.kind.as_str())
                        .push_bind(f.facility.region_code.trim())
                        .push_bind(f.path.as_str())
                        .push_bind(f.grid_id)
                        .push_bind(draft.latitude)
                        .push_bind(draft.longitude)
                        .push_bind(i64::from(draft.capacity_persons))
                        .push_bind(draft.area_m2)
                        .push_bind(i64::from(draft.peacetime.parking_spaces))
                        .push_bind(i64::from(draft.peacetime.charging_points))
                        .push_bind(f.services.as_str())
                        .push_bind(draft.peacetime.since.map(CivilDate::days_since_epoch))
                        .push_bind(draft.sign_status.as_str())
                        .push_bind(f.installed_day)
                        .push_bind(f.equipment.as_str())
                        .push_bind(f.conversion.as_str())
                        .push_bind(i64::from(draft.conversion_minutes()))
                        .push_bind(f.facility.manager_organization_id)
                        // Numbers formatted by Rust, spliced in: fewer bound parameters.
                        .push(format!(
                            "NULL, {}, {}, {}",
                            f.due_day, f.registered, f.updated
                        ));
                });
                query.build().execute(&mut **conn).await?;
            }
        }
        WriteTx::Postgres(conn) => {
            let mut copy = conn
                .copy_in_raw(
                    format!("COPY facilities ({FACILITY_INSERT_COLUMNS}) FROM STDIN").as_str(),
                )
                .await?;
            let mut buffer = String::with_capacity(COPY_CHUNK_BYTES);
            for f in rows {
                let draft = &f.facility.draft;
                CopyRow::new(&mut buffer)
                    .number(Some(f.id))
                    .text(Some(draft.name.trim()))
                    .text(Some(draft.kind.as_str()))
                    .text(Some(f.facility.region_code.trim()))
                    .text(Some(f.path.as_str()))
                    .number(f.grid_id)
                    .number(Some(draft.latitude))
                    .number(Some(draft.longitude))
                    .number(Some(draft.capacity_persons))
                    .number(Some(draft.area_m2))
                    .number(Some(draft.peacetime.parking_spaces))
                    .number(Some(draft.peacetime.charging_points))
                    .text(Some(&f.services))
                    .number(draft.peacetime.since.map(CivilDate::days_since_epoch))
                    .text(Some(draft.sign_status.as_str()))
                    .number(f.installed_day)
                    .text(Some(&f.equipment))
                    .text(Some(&f.conversion))
                    .number(Some(draft.conversion_minutes()))
                    .number(f.facility.manager_organization_id)
                    .number(None::<i64>)
                    .number(Some(f.due_day))
                    .number(Some(f.registered))
                    .number(Some(f.updated))
                    .end();
                if buffer.len() > COPY_CHUNK_BYTES - 4096 {
                    copy.send(buffer.as_bytes()).await?;
                    buffer.clear();
                }
            }
            if !buffer.is_empty() {
                copy.send(buffer.as_bytes()).await?;
            }
            copy.finish().await?;
        }
    }
    Ok(())
}

/// One inspection row as stored.
struct InspectionRow<'a> {
    row: &'a BulkInspection,
    key: &'a str,
    path: &'a str,
    checklist: &'a str,
    answers: String,
    distance_m: Option<f64>,
    far: i64,
    failed: i64,
    id: i64,
}

const INSPECTION_INSERT_COLUMNS: &str = "id, facility_id, region_path, inspector_user_id, \
     idempotency_key, inspected_at, received_at, lat, lon, distance_m, far_from_facility, answers, \
     checklist, notes, failed_count";

/// Inspections, their attachments and the facilities' due days.
async fn write_history(
    tx: &mut WriteTx,
    rows: &mut [InspectionRow<'_>],
    due_updates: &[(i64, i64, i64)],
    now: Timestamp,
) -> Result<(Vec<i64>, usize), StorageError> {
    let ids = reserve_ids(tx, IdTable::Inspections, rows.len()).await?;
    for (row, id) in rows.iter_mut().zip(&ids) {
        row.id = *id;
    }
    insert_inspections(tx, rows).await.map_err(|e| {
        StorageError::unique_said(e, "idempotency_key", || {
            (
                "an inspection of this load repeats a stored inspector's idempotency key".into(),
                "本次导入的一条巡检记录重复了该巡检员已保存的提交标识".into(),
            )
        })
    })?;
    let attachments = insert_attachments(tx, rows).await?;
    update_due_days(tx, due_updates, now).await?;
    Ok((ids, attachments))
}

async fn insert_inspections(
    tx: &mut WriteTx,
    rows: &[InspectionRow<'_>],
) -> Result<(), sqlx::Error> {
    match tx {
        WriteTx::Sqlite(conn) => {
            for chunk in rows.chunks(SQLITE_INSPECTIONS_PER_INSERT) {
                let mut query = QueryBuilder::new(format!(
                    "INSERT INTO inspections ({INSPECTION_INSERT_COLUMNS}) "
                ));
                query.push_values(chunk, |mut row, r| {
                    row.push(r.id.to_string())
                        .push(r.row.facility_id.to_string())
                        .push_bind(r.path)
                        .push(r.row.inspector_user_id.to_string())
                        .push_bind(r.key)
                        .push(r.row.draft.inspected_at.as_millis().to_string())
                        .push(r.row.received_at.as_millis().to_string())
                        .push_bind(r.row.draft.latitude)
                        .push_bind(r.row.draft.longitude)
                        .push_bind(r.distance_m)
                        .push(r.far.to_string())
                        .push_bind(r.answers.as_str())
                        .push_bind(r.checklist)
                        .push_bind(r.row.draft.notes.trim())
                        .push(r.failed.to_string());
                });
                query.build().execute(&mut **conn).await?;
            }
        }
        WriteTx::Postgres(conn) => {
            let mut copy = conn
                .copy_in_raw(
                    format!("COPY inspections ({INSPECTION_INSERT_COLUMNS}) FROM STDIN").as_str(),
                )
                .await?;
            let mut buffer = String::with_capacity(COPY_CHUNK_BYTES);
            for r in rows.iter() {
                CopyRow::new(&mut buffer)
                    .number(Some(r.id))
                    .number(Some(r.row.facility_id))
                    .text(Some(r.path))
                    .number(Some(r.row.inspector_user_id))
                    .text(Some(r.key))
                    .number(Some(r.row.draft.inspected_at.as_millis()))
                    .number(Some(r.row.received_at.as_millis()))
                    .number(r.row.draft.latitude)
                    .number(r.row.draft.longitude)
                    .number(r.distance_m)
                    .number(Some(r.far))
                    .text(Some(&r.answers))
                    .text(Some(r.checklist))
                    .text(Some(r.row.draft.notes.trim()))
                    .number(Some(r.failed))
                    .end();
                if buffer.len() > COPY_CHUNK_BYTES - 4096 {
                    copy.send(buffer.as_bytes()).await?;
                    buffer.clear();
                }
            }
            if !buffer.is_empty() {
                copy.send(buffer.as_bytes()).await?;
            }
            copy.finish().await?;
        }
    }
    Ok(())
}

async fn insert_attachments(
    tx: &mut WriteTx,
    rows: &[InspectionRow<'_>],
) -> Result<usize, StorageError> {
    let attachments: Vec<(i64, &AttachmentInput)> = rows
        .iter()
        .flat_map(|r| r.row.attachments.iter().map(move |a| (r.id, a)))
        .collect();
    for chunk in attachments.chunks(SMALL_ROWS_PER_STATEMENT) {
        on_tx!(tx, |conn| {
            let mut query = QueryBuilder::new(
                "INSERT INTO inspection_attachments (inspection_id, sha256, content_type, media_kind, size_bytes, thumbnail_sha256) ",
            );
            query.push_values(chunk, |mut row, (id, a)| {
                row.push_bind(*id)
                    .push_bind(a.sha256.as_str())
                    .push_bind(a.content_type.as_str())
                    .push_bind(a.media_kind.as_str())
                    .push_bind(a.size_bytes)
                    .push_bind(a.thumbnail_sha256.as_deref());
            });
            query.push(" ON CONFLICT DO NOTHING");
            query.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(attachments.len())
}

async fn update_due_days(
    tx: &mut WriteTx,
    due_updates: &[(i64, i64, i64)],
    now: Timestamp,
) -> Result<(), StorageError> {
    // The latest visit wins, whether it is loaded or already stored; computed in the
    // statement, as `record_inspection` does, so a visit recorded meanwhile is not lost.
    for chunk in due_updates.chunks(SMALL_ROWS_PER_STATEMENT) {
        on_tx!(tx, |conn| {
            let mut query = QueryBuilder::new("UPDATE facilities SET last_inspected_at = ");
            query
                .push(LATEST)
                .push(", next_due_day = (")
                .push(LATEST)
                .push(format!(") / {MILLIS_PER_DAY} + v.column3, updated_at = "))
                .push_bind(now.as_millis())
                .push(" FROM (");
            query.push_values(chunk, |mut row, (id, at, interval)| {
                row.push_bind(*id).push_bind(*at).push_bind(*interval);
            });
            query.push(") AS v WHERE facilities.id = v.column1");
            query.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// The later of the stored last inspection and the loaded one (`v.column2`).
const LATEST: &str = "CASE WHEN facilities.last_inspected_at IS NULL \
     OR facilities.last_inspected_at < v.column2 THEN v.column2 ELSE facilities.last_inspected_at END";
