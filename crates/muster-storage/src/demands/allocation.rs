//! Proposing an allocation for demands and accepting it: candidate holdings loaded from the
//! registry, `muster_domain::allocation::solve`, explanations mapped back to records, and
//! the atomic reservation.
//!
//! **Candidates.** A record is a candidate holding for a line of its type when its status is
//! `available` or `allocated` (partly reserved) and `quantity − reserved_quantity ≥ 1`; that
//! difference, rounded down, is what it offers. Its place is its own coordinates or, without
//! them, its region's point; a record with neither is left out. Records in the subtree of
//! the region the demand is addressed to may be allocated; those elsewhere in the subtree of
//! the level above are loaded only as escalation sources, and a proposal shows of them the
//! type, quantity, distance and region, never the holder.
//!
//! **Reservation.** Accepting locks the demand and the records (on PostgreSQL in id order,
//! so two accepts never deadlock), then reserves each record with
//! `UPDATE … SET reserved_quantity = reserved_quantity + q WHERE id = $id AND
//! quantity − reserved_quantity >= q` and checks that one row changed. Any miss drops the
//! transaction — nothing of the accept stays — and names the holding, so of two accepts
//! racing for the same units exactly one wins.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use muster_domain::allocation::{
    self, AllocationProblem, AlternativeReason, DemandLineId, GeoPoint, Holding, HoldingId,
    TransportParameters,
};
use muster_domain::demand::{DemandEvent, EscalationError, LineQuantity, LineShortfall, escalate};
use muster_domain::potential::RecordStatus;
use muster_domain::potential::import::great_circle_km;
use muster_domain::potential::rollup::RollupDeltas;
use muster_domain::{Actor, RegionPath, Scope, Timestamp};
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;

use super::{
    LockedDemand, StoredDemandLine, apply_event, clearance_rank, insert_demand, lock_demand,
    may_fulfil, store_progress,
};
use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::potential::{PotentialRecord, apply_totals, figures};

/// A holding as a proposal shows it (in scope: the holder as the reader may see it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldingSummary {
    pub record_id: i64,
    pub type_code: String,
    pub available: i64,
    pub region_code: String,
    pub region_name: String,
    pub holder_name: String,
    pub site_name: Option<String>,
}

/// One proposed assignment with why it was chosen and what else there was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposedAssignment {
    pub demand_id: i64,
    pub line_id: i64,
    pub line_no: i64,
    pub holding: HoldingSummary,
    pub quantity: i64,
    pub great_circle_km: f64,
    pub road_km: f64,
    pub travel_hours: f64,
    pub unit_cost_cents: i64,
    pub cost_cents: i64,
    pub needed_within_hours: f64,
    pub slack_hours: f64,
    pub alternatives: Vec<ProposedAlternative>,
}

/// A holding the line did not use, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposedAlternative {
    pub record_id: i64,
    pub region_name: String,
    pub great_circle_km: f64,
    pub travel_hours: f64,
    pub unit_cost_cents: i64,
    /// `costlier`, `used_up` or `too_late`.
    pub reason: String,
    pub extra_cost_per_unit_cents: Option<i64>,
    pub reduced_cost_cents: Option<i64>,
    /// For `used_up`: the line numbers of the demands' lines that took its stock.
    pub taken_by_lines: Vec<i64>,
    pub by_higher_priority: bool,
}

/// A source outside the requester's scope: no holder, no record id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EscalationSourceView {
    pub type_code: String,
    pub available: i64,
    pub great_circle_km: f64,
    pub travel_hours: f64,
    pub arrives_in_time: bool,
    pub region_code: String,
    pub region_name: String,
}

/// What the proposal does for one open line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposedLine {
    pub demand_id: i64,
    pub line_id: i64,
    pub line_no: i64,
    pub type_code: String,
    pub priority: i64,
    /// The line's quantity not yet allocated: what was asked of the solver.
    pub open: i64,
    pub served: i64,
    pub shortfall: i64,
    pub escalation_sources: Vec<EscalationSourceView>,
    /// In-scope holdings with stock that cannot arrive in time.
    pub too_late: Vec<ProposedAlternative>,
}

/// Where a proposal's time went, for the benchmark and the logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProposalTimings {
    pub load_seconds: f64,
    pub solve_seconds: f64,
    pub explain_seconds: f64,
}

/// A proposed allocation for one or more demands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllocationProposal {
    pub demand_ids: Vec<i64>,
    pub assignments: Vec<ProposedAssignment>,
    pub lines: Vec<ProposedLine>,
    pub transport_cost_cents: i64,
    pub holdings_considered: usize,
    pub pricing_rounds: usize,
    pub timings: ProposalTimings,
}

impl AllocationProposal {
    /// The assignments as an accept would send them back, for one demand.
    pub fn accepted(&self, demand_id: i64) -> Vec<AcceptedAssignment> {
        self.assignments
            .iter()
            .filter(|a| a.demand_id == demand_id)
            .map(|a| AcceptedAssignment {
                line_id: a.line_id,
                record_id: a.holding.record_id,
                quantity: a.quantity,
            })
            .collect()
    }

    /// Whether some line is left short.
    pub fn has_shortfall(&self) -> bool {
        self.lines.iter().any(|l| l.shortfall > 0)
    }
}

/// One assignment to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedAssignment {
    pub line_id: i64,
    pub record_id: i64,
    pub quantity: i64,
}

/// What an accept reserved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcceptOutcome {
    pub demand_id: i64,
    pub allocation_ids: Vec<i64>,
    pub reserved_units: i64,
    pub status: String,
}

/// A candidate record as loaded.
#[derive(Debug, Clone, sqlx::FromRow)]
struct CandidateRow {
    id: i64,
    type_code: String,
    available: f64,
    lat: Option<f64>,
    lon: Option<f64>,
    region_lat: Option<f64>,
    region_lon: Option<f64>,
    region_path: String,
    region_code: String,
    region_name: String,
    holder_kind: String,
    holder_name: String,
    site_name: Option<String>,
}

/// Records reserved per statement (2 bound values each) and allocations inserted per
/// statement (9 each): under SQLite's 32,766 bound parameters.
const RECORDS_PER_RESERVE: usize = 5_000;
const ALLOCATIONS_PER_INSERT: usize = 3_000;

/// Types per candidate query: far below SQLite's bound-parameter limit.
const TYPES_PER_QUERY: usize = 400;

impl Database {
    /// Proposes an allocation for one demand the reader may see, with the transport setting
    /// in force (`settings.rs`).
    pub async fn propose_allocation(
        &self,
        scope: &Scope,
        demand_id: i64,
    ) -> Result<AllocationProposal, StorageError> {
        let transport = self.transport_parameters().await?;
        self.propose_allocation_for(scope, &[demand_id], &transport)
            .await
    }

    /// Proposes one allocation for several demands at once (their lines compete by
    /// priority), all addressed to regions in one subtree: the first demand's. Each open line
    /// asks for its quantity not yet allocated.
    pub async fn propose_allocation_for(
        &self,
        scope: &Scope,
        demand_ids: &[i64],
        transport: &TransportParameters,
    ) -> Result<AllocationProposal, StorageError> {
        let started = Instant::now();
        let now = crate::now();
        let mut lines: Vec<StoredDemandLine> = Vec::new();
        let mut requester: Option<RegionPath> = None;
        for &id in demand_ids {
            let summary = self.demand_header(scope, id).await?;
            let path = summary.region_path();
            let status = summary.status();
            if status.is_terminal() {
                return Err(StorageError::Conflict {
                    message_zh: Some(format!("需求 {id} {}，无可再分配", status.zh())),
                    field: "status",
                    message: format!("demand {id} is {status}; there is nothing to allocate"),
                });
            }
            match &requester {
                None => requester = Some(path),
                Some(first) if first.contains(&path) => {}
                Some(_) => {
                    return Err(StorageError::Refused {
                        field: "demand_ids",
                        message: "demands allocated together must be addressed inside the first one's region".into(),
                        message_zh: "一并分配的各项需求，其对接地区须在第一项需求的地区之内".into(),
                    });
                }
            }
            let rows: Vec<StoredDemandLine> = on_read_pool!(self, |pool| {
                sqlx::query_as(
                    "SELECT * FROM demand_lines WHERE demand_id = $1 AND allocated < quantity ORDER BY line_no",
                )
                .bind(id)
                .fetch_all(pool)
                .await
            })?;
            lines.extend(rows);
        }
        let requester = requester.ok_or_else(|| StorageError::Refused {
            field: "demand_ids",
            message: "name at least one demand".into(),
            message_zh: "请至少指定一项需求".into(),
        })?;
        let level_above = parent_path(&requester);
        let mut types: Vec<&str> = lines.iter().map(|l| l.type_code.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        let candidates = self.candidate_holdings(&types, &level_above).await?;
        let mut holdings = Vec::with_capacity(candidates.len());
        for row in &candidates {
            let Some((lat, lon)) = row.lat.zip(row.lon).or(row.region_lat.zip(row.region_lon))
            else {
                continue;
            };
            let Ok(location) = GeoPoint::new(lat, lon) else {
                continue;
            };
            let in_scope =
                RegionPath::parse(&row.region_path).is_some_and(|path| requester.contains(&path));
            let available = (row.available.floor() as i64).clamp(0, allocation::MAX_QUANTITY);
            holdings.push(
                Holding::new(
                    HoldingId::new(row.id),
                    row.type_code.clone(),
                    available,
                    location,
                    in_scope,
                )
                .map_err(solver_error)?,
            );
        }
        let problem_lines = lines
            .iter()
            .map(|line| {
                let priority =
                    muster_domain::demand::Priority::new(line.priority).map_or(1, |p| p.urgency());
                allocation::DemandLine::new(
                    DemandLineId::new(line.id),
                    line.type_code.clone(),
                    line.quantity - line.allocated,
                    GeoPoint::new(line.lat, line.lon)?,
                    Timestamp::from_millis(line.needed_by),
                    priority,
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(solver_error)?;
        let problem = AllocationProblem::new(now, problem_lines, holdings, transport.clone())
            .map_err(solver_error)?;
        let loaded = started.elapsed().as_secs_f64();
        let solve_started = Instant::now();
        // The solver is CPU-bound for up to a second on large instances: keep it off the
        // async workers.
        let (problem, solved) = tokio::task::spawn_blocking(move || {
            let solved = allocation::solve(&problem);
            (problem, solved)
        })
        .await
        .map_err(|e| StorageError::Refused {
            field: "allocation",
            message: format!("the solver stopped: {e}"),
            message_zh: format!("求解器中途停止：{e}"),
        })?;
        let solved = solved.map_err(solver_error)?;
        let solve_seconds = solve_started.elapsed().as_secs_f64();
        let explain_started = Instant::now();
        let mut proposal = explain(
            &problem,
            &solved,
            &lines,
            &candidates,
            scope,
            demand_ids.to_vec(),
        );
        proposal.timings = ProposalTimings {
            load_seconds: loaded,
            solve_seconds,
            explain_seconds: explain_started.elapsed().as_secs_f64(),
        };
        Ok(proposal)
    }

    /// The demand's summary row, if the reader may see it.
    async fn demand_header(
        &self,
        scope: &Scope,
        id: i64,
    ) -> Result<super::DemandSummary, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let sql = format!(
            "SELECT {} FROM demands d JOIN regions g ON g.code = d.region_code \
             WHERE d.id = $1 AND d.region_path >= $2 AND d.region_path < $3 AND d.classification_rank <= $4",
            super::SUMMARY_COLUMNS
        );
        let found: Option<super::DemandSummary> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .bind(&low)
                .bind(&high)
                .bind(clearance_rank(scope))
                .fetch_optional(pool)
                .await
        })?;
        found.ok_or_else(|| StorageError::not_found("demand", id))
    }

    /// Records of the given types with stock to offer in `subtree`.
    async fn candidate_holdings(
        &self,
        types: &[&str],
        subtree: &RegionPath,
    ) -> Result<Vec<CandidateRow>, StorageError> {
        let (low, high) = subtree.subtree_range();
        let mut rows = Vec::new();
        for chunk in types.chunks(TYPES_PER_QUERY) {
            let found: Vec<CandidateRow> = on_read_pool!(self, |pool| {
                let mut query = QueryBuilder::new(
                    "SELECT r.id, r.type_code, r.quantity - r.reserved_quantity AS available, r.lat, r.lon, \
                     g.lat AS region_lat, g.lon AS region_lon, r.region_path, r.region_code, \
                     g.name AS region_name, r.holder_kind, r.holder_name, r.site_name \
                     FROM potential_records r JOIN regions g ON g.code = r.region_code \
                     WHERE r.status IN ('available', 'allocated') \
                     AND r.quantity - r.reserved_quantity >= 1 \
                     AND NOT EXISTS (SELECT 1 FROM requisition_items i \
                     WHERE i.record_id = r.id AND i.active = 1) AND r.region_path >= ",
                );
                query.push_bind(&low);
                query.push(" AND r.region_path < ");
                query.push_bind(&high);
                query.push(" AND r.type_code IN (");
                let mut separated = query.separated(", ");
                for code in chunk {
                    separated.push_bind(*code);
                }
                query.push(")");
                query.build_query_as().fetch_all(pool).await
            })?;
            rows.extend(found);
        }
        Ok(rows)
    }

    /// Accepts an allocation for a demand: the assignments given, or — when `None` — the
    /// proposal made now. Reserves every record atomically (see the module docs), records the
    /// allocations, moves the demand on, moves the records to `allocated` with their
    /// roll-ups, and audits, in one transaction.
    pub async fn accept_allocation(
        &self,
        actor: &Actor,
        demand_id: i64,
        assignments: Option<Vec<AcceptedAssignment>>,
    ) -> Result<AcceptOutcome, StorageError> {
        if !may_fulfil(actor) {
            return Err(StorageError::forbidden(
                "only office staff and administrators accept allocations",
                "只有动员办工作人员和系统管理员才能确认分配方案",
            ));
        }
        let transport = self.transport_parameters().await?;
        let assignments = match assignments {
            Some(given) => given,
            None => self
                .propose_allocation_for(actor.scope(), &[demand_id], &transport)
                .await?
                .accepted(demand_id),
        };
        if assignments.is_empty() {
            return Err(StorageError::Refused {
                field: "assignments",
                message: "nothing to accept: no holding in your region can serve the demand; escalate the shortfall".into(),
                message_zh: "没有可确认的分配：本辖区内没有潜力记录能满足该需求；请将缺口报上一级".into(),
            });
        }
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let locked = lock_demand(&mut tx, actor.scope(), demand_id).await?;
        let line_index: HashMap<i64, &StoredDemandLine> =
            locked.lines.iter().map(|l| (l.id, l)).collect();
        let mut per_line: BTreeMap<usize, u64> = BTreeMap::new();
        let mut per_record: BTreeMap<i64, i64> = BTreeMap::new();
        for (index, assignment) in assignments.iter().enumerate() {
            let Some(line) = line_index.get(&assignment.line_id) else {
                return Err(StorageError::Refused {
                    field: "assignments",
                    message: format!(
                        "assignments[{index}]: line {} is not a line of demand {demand_id}",
                        assignment.line_id
                    ),
                    message_zh: format!(
                        "assignments[{index}]：明细 {} 不是需求 {demand_id} 的明细",
                        assignment.line_id
                    ),
                });
            };
            if assignment.quantity <= 0 {
                return Err(StorageError::Refused {
                    field: "assignments",
                    message: format!("assignments[{index}]: the quantity must be at least 1"),
                    message_zh: format!("assignments[{index}]：数量至少为 1"),
                });
            }
            *per_line.entry(line.line_no as usize).or_default() += assignment.quantity as u64;
            *per_record.entry(assignment.record_id).or_default() += assignment.quantity;
        }
        let event = DemandEvent::Allocate {
            quantities: per_line
                .iter()
                .map(|(&line, &quantity)| LineQuantity { line, quantity })
                .collect(),
        };
        let next = apply_event(&locked, &event)?;

        // Lock the records in id order, check them, then reserve them conditionally.
        let records = lock_records(&mut tx, per_record.keys().copied()).await?;
        for &record_id in per_record.keys() {
            let Some(before) = records.get(&record_id) else {
                return Err(StorageError::Conflict {
                    message_zh: Some(format!("潜力记录 {record_id} 不存在")),
                    field: "holding",
                    message: format!("holding {record_id} does not exist"),
                });
            };
            let path = before.region_path();
            if !locked.region_path.contains(&path) || !actor.scope().contains(&path) {
                return Err(StorageError::Conflict {
                    message_zh: Some(format!(
                        "潜力记录 {record_id} 不在该需求对接的地区内；请改为报上一级"
                    )),
                    field: "holding",
                    message: format!(
                        "holding {record_id} lies outside the region the demand is addressed to; escalate instead"
                    ),
                });
            }
        }
        for (index, assignment) in assignments.iter().enumerate() {
            let line = line_index[&assignment.line_id];
            let record = &records[&assignment.record_id];
            if line.type_code != record.type_code {
                return Err(StorageError::Refused {
                    field: "assignments",
                    message: format!(
                        "assignments[{index}]: holding {} holds {}, not {} as line {} asks",
                        record.id,
                        record.type_code,
                        line.type_code,
                        line.line_no + 1
                    ),
                    message_zh: format!(
                        "assignments[{index}]：潜力记录 {} 是 {}，而明细 {} 需要的是 {}",
                        record.id,
                        record.type_code,
                        line.line_no + 1,
                        line.type_code
                    ),
                });
            }
        }
        refuse_requisitioned(&mut tx, &records).await?;
        let reserve: Vec<(i64, i64)> = per_record.iter().map(|(&id, &q)| (id, q)).collect();
        let mut reserved_rows: HashSet<i64> = HashSet::with_capacity(reserve.len());
        for chunk in reserve.chunks(RECORDS_PER_RESERVE) {
            let rows = reserve_chunk(&mut tx, chunk, now).await?;
            reserved_rows.extend(rows);
            if let Some((missed, quantity)) =
                chunk.iter().find(|(id, _)| !reserved_rows.contains(id))
            {
                let before = &records[missed];
                // Dropping `tx` rolls back every reservation made so far.
                return Err(StorageError::Conflict {
                    message_zh: Some(format!(
                        "潜力记录 {missed}（{}，{}）已没有 {quantity} 可用：已被另一项分配先行占用；请重新生成方案",
                        before.type_code, before.region_code
                    )),
                    field: "holding",
                    message: format!(
                        "holding {missed} ({}, {}) no longer has {quantity} available: another allocation took it first; propose again",
                        before.type_code, before.region_code
                    ),
                });
            }
        }
        let mut deltas = RollupDeltas::new();
        for id in &reserved_rows {
            // The row as the UPDATE left it: only the reservation and the status moved.
            let before = &records[id];
            let mut after = before.clone();
            after.status = RecordStatus::Allocated.as_str().to_owned();
            let path = before.region_path();
            deltas.update(&figures(before, &path), &figures(&after, &path));
        }
        let mut allocation_ids = Vec::with_capacity(assignments.len());
        let mut rows: Vec<AllocationRow<'_>> = Vec::with_capacity(assignments.len());
        for assignment in &assignments {
            let line = line_index[&assignment.line_id];
            let record = &records[&assignment.record_id];
            let km = match record.lat.zip(record.lon) {
                Some(point) => great_circle_km(point, (line.lat, line.lon)),
                None => region_distance(&mut tx, &record.region_code, (line.lat, line.lon)).await?,
            };
            let road_km = km * transport.road_factor();
            let hours = road_km / transport.speed_km_per_hour();
            let unit_cost =
                (road_km * transport.cost_per_unit_km(&line.type_code) * 100.0).round() as i64;
            rows.push(AllocationRow {
                assignment,
                km,
                hours,
                unit_cost,
            });
        }
        for chunk in rows.chunks(ALLOCATIONS_PER_INSERT) {
            let ids = insert_allocations(&mut tx, demand_id, chunk, now, actor.name()).await?;
            allocation_ids.extend(ids);
        }
        apply_totals(&mut tx, &deltas.into_changes()).await?;
        store_progress(&mut tx, &locked, &next, now).await?;
        let reserved_units: i64 = per_record.values().sum();
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "demand",
                entity_id: demand_id.to_string(),
                action: "allocate",
                region_path: &locked.region_path,
                before: Some(serde_json::json!({ "status": locked.demand.status() })),
                after: Some(serde_json::json!({
                    "status": next.status(),
                    "allocations": assignments,
                    "allocation_ids": allocation_ids,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(AcceptOutcome {
            demand_id,
            allocation_ids,
            reserved_units,
            status: next.status().as_str().to_owned(),
        })
    }

    /// Passes what the proposal cannot cover up to the level above as a demand of its own,
    /// linked line by line to this one. Returns the new demand's id (which the escalating
    /// office, below it, will not see).
    pub async fn escalate_shortfall(
        &self,
        actor: &Actor,
        demand_id: i64,
    ) -> Result<i64, StorageError> {
        if !may_fulfil(actor) {
            return Err(StorageError::forbidden(
                "only office staff and administrators escalate demands",
                "只有动员办工作人员和系统管理员才能将需求缺口报上一级",
            ));
        }
        let proposal = self.propose_allocation(actor.scope(), demand_id).await?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let locked: LockedDemand = lock_demand(&mut tx, actor.scope(), demand_id).await?;
        let shortfall: Vec<LineShortfall> = proposal
            .lines
            .iter()
            .filter(|l| l.shortfall > 0)
            .map(|l| LineShortfall {
                line: l.line_no as usize,
                missing: l.shortfall as u64,
            })
            .collect();
        let draft = escalate(&locked.demand, demand_id, &shortfall).map_err(|e| {
            StorageError::Conflict {
                message_zh: Some(e.zh()),
                field: "shortfall",
                message: e.to_string(),
            }
        })?;
        let parent_code = draft
            .region()
            .codes()
            .last()
            .map(|c| c.as_str().to_owned())
            .ok_or_else(|| StorageError::Conflict {
                message_zh: Some(EscalationError::NoLevelAbove.zh()),
                field: "shortfall",
                message: EscalationError::NoLevelAbove.to_string(),
            })?;
        let id = insert_demand(&mut tx, actor, &draft, &parent_code, now).await?;
        tx.commit().await?;
        Ok(id)
    }
}

fn solver_error(error: allocation::AllocationError) -> StorageError {
    StorageError::Refused {
        field: "allocation",
        message: error.to_string(),
        message_zh: error.zh(),
    }
}

/// The region one level up (the root stays the root).
fn parent_path(path: &RegionPath) -> RegionPath {
    let inner = path.as_str().trim_end_matches('/');
    match inner.rfind('/') {
        Some(cut) if cut > 0 => RegionPath::parse(&inner[..=cut]).unwrap_or_else(RegionPath::root),
        _ => RegionPath::root(),
    }
}

/// Locks the records (PostgreSQL: `FOR UPDATE`, in id order, so two writers never wait on
/// each other crosswise) and reads them as they are.
pub(super) async fn lock_records(
    tx: &mut WriteTx,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, PotentialRecord>, StorageError> {
    let mut ids: Vec<i64> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    let mut records = HashMap::with_capacity(ids.len());
    if let WriteTx::Postgres(tx) = tx {
        // One statement with the ids as an array (see `reserve_chunk`), locking in id order.
        let found: Vec<PotentialRecord> = sqlx::query_as(
            "SELECT * FROM potential_records WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?;
        records.extend(found.into_iter().map(|r| (r.id, r)));
        return Ok(records);
    }
    for chunk in ids.chunks(RECORDS_PER_RESERVE) {
        let found: Vec<PotentialRecord> = on_tx!(&mut *tx, |conn| {
            let mut query = QueryBuilder::new("SELECT * FROM potential_records WHERE id IN (");
            let mut separated = query.separated(", ");
            for id in chunk {
                separated.push_bind(*id);
            }
            query.push(") ORDER BY id");
            query.build_query_as().fetch_all(&mut *conn).await
        })?;
        for record in found {
            records.insert(record.id, record);
        }
    }
    Ok(records)
}

/// One accepted assignment as it is stored, with its distance, time and cost.
struct AllocationRow<'a> {
    assignment: &'a AcceptedAssignment,
    km: f64,
    hours: f64,
    unit_cost: i64,
}

/// Reserves `chunk` (record id, quantity) conditionally and returns the ids it could reserve.
///
/// PostgreSQL gets the chunk as two array parameters through `UNNEST`: one statement of fixed
/// text, prepared once and planned cheaply, where a `VALUES` list of thousands of bound values
/// is a new statement to parse and plan each time (that was a third of an accept's time).
/// SQLite has no arrays and binds a `VALUES` list, which costs it little.
async fn reserve_chunk(
    tx: &mut WriteTx,
    chunk: &[(i64, i64)],
    now: Timestamp,
) -> Result<Vec<i64>, StorageError> {
    const SET: &str = ") UPDATE potential_records SET \
        reserved_quantity = potential_records.reserved_quantity + wanted.q, \
        status = 'allocated', updated_at = ";
    const GUARD: &str = " FROM wanted WHERE potential_records.id = wanted.id \
        AND potential_records.status IN ('available', 'allocated') \
        AND potential_records.quantity - potential_records.reserved_quantity >= wanted.q \
        RETURNING potential_records.id";
    let rows = match tx {
        WriteTx::Postgres(tx) => {
            let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
            let quantities: Vec<f64> = chunk.iter().map(|(_, q)| *q as f64).collect();
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "WITH wanted (id, q) AS (SELECT * FROM UNNEST($1::BIGINT[], $2::DOUBLE PRECISION[]){SET}$3{GUARD}"
            )))
            .bind(ids)
            .bind(quantities)
            .bind(now.as_millis())
            .fetch_all(&mut **tx)
            .await?
        }
        WriteTx::Sqlite(tx) => {
            let mut query = QueryBuilder::new("WITH wanted (id, q) AS (");
            query.push_values(chunk, |mut row, (id, quantity)| {
                row.push_bind(*id).push_bind(*quantity as f64);
            });
            query.push(SET);
            query.push_bind(now.as_millis());
            query.push(GUARD);
            query.build_query_scalar().fetch_all(&mut **tx).await?
        }
    };
    Ok(rows)
}

/// Stores accepted assignments and returns their ids, in the order given. PostgreSQL binds
/// them as arrays through `UNNEST`, for the reason given at [`reserve_chunk`].
async fn insert_allocations(
    tx: &mut WriteTx,
    demand_id: i64,
    chunk: &[AllocationRow<'_>],
    now: Timestamp,
    accepted_by: &str,
) -> Result<Vec<i64>, StorageError> {
    const COLUMNS: &str = "INSERT INTO demand_allocations (demand_id, line_id, record_id, quantity, \
        great_circle_km, travel_hours, unit_cost_cents, accepted_at, accepted_by_name) ";
    let ids = match tx {
        WriteTx::Postgres(tx) => {
            let column = |f: fn(&AllocationRow<'_>) -> i64| chunk.iter().map(f).collect::<Vec<_>>();
            let figure = |f: fn(&AllocationRow<'_>) -> f64| chunk.iter().map(f).collect::<Vec<_>>();
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "{COLUMNS}SELECT $1, a.line_id, a.record_id, a.quantity, a.km, a.hours, a.cost, $2, $3 \
                 FROM UNNEST($4::BIGINT[], $5::BIGINT[], $6::BIGINT[], $7::DOUBLE PRECISION[], \
                 $8::DOUBLE PRECISION[], $9::BIGINT[]) WITH ORDINALITY \
                 AS a (line_id, record_id, quantity, km, hours, cost, n) ORDER BY a.n RETURNING id"
            )))
            .bind(demand_id)
            .bind(now.as_millis())
            .bind(accepted_by)
            .bind(column(|r| r.assignment.line_id))
            .bind(column(|r| r.assignment.record_id))
            .bind(column(|r| r.assignment.quantity))
            .bind(figure(|r| r.km))
            .bind(figure(|r| r.hours))
            .bind(column(|r| r.unit_cost))
            .fetch_all(&mut **tx)
            .await?
        }
        WriteTx::Sqlite(tx) => {
            let mut query = QueryBuilder::new(COLUMNS);
            query.push_values(chunk, |mut row, r| {
                row.push_bind(demand_id)
                    .push_bind(r.assignment.line_id)
                    .push_bind(r.assignment.record_id)
                    .push_bind(r.assignment.quantity)
                    .push_bind(r.km)
                    .push_bind(r.hours)
                    .push_bind(r.unit_cost)
                    .push_bind(now.as_millis())
                    .push_bind(accepted_by);
            });
            query.push(" RETURNING id");
            query.build_query_scalar().fetch_all(&mut **tx).await?
        }
    };
    Ok(ids)
}

/// Refuses, naming it, a holding that is on an open requisition order (drafted, notified or
/// handed over and not yet back): it is spoken for by the order, which would refuse its own
/// handover once the holding is reserved. Proposals never offer such holdings; this catches
/// assignments given by hand and orders drafted since the proposal.
async fn refuse_requisitioned(
    tx: &mut WriteTx,
    records: &HashMap<i64, PotentialRecord>,
) -> Result<(), StorageError> {
    let ids: Vec<i64> = records.keys().copied().collect();
    for chunk in ids.chunks(RECORDS_PER_RESERVE) {
        let found: Option<(i64, i64)> = on_tx!(&mut *tx, |conn| {
            let mut query = QueryBuilder::new(
                "SELECT record_id, order_id FROM requisition_items WHERE active = 1 AND record_id IN (",
            );
            let mut separated = query.separated(", ");
            for id in chunk {
                separated.push_bind(*id);
            }
            query.push(") ORDER BY record_id LIMIT 1");
            query.build_query_as().fetch_optional(&mut *conn).await
        })?;
        if let Some((record_id, order_id)) = found {
            return Err(StorageError::Conflict {
                message_zh: Some(format!(
                    "潜力记录 {record_id} 已在征用令 {order_id} 上；请重新生成方案"
                )),
                field: "holding",
                message: format!(
                    "holding {record_id} is on requisition order {order_id}; propose again"
                ),
            });
        }
    }
    Ok(())
}

async fn region_distance(
    tx: &mut WriteTx,
    region_code: &str,
    point: (f64, f64),
) -> Result<f64, StorageError> {
    let found: Option<(Option<f64>, Option<f64>)> = on_tx!(&mut *tx, |conn| {
        sqlx::query_as("SELECT lat, lon FROM regions WHERE code = $1")
            .bind(region_code)
            .fetch_optional(&mut *conn)
            .await
    })?;
    Ok(found
        .and_then(|(lat, lon)| lat.zip(lon))
        .map_or(0.0, |at| great_circle_km(at, point)))
}

/// Maps the solver's answer back to records and lines, hiding what the reader may not see.
fn explain(
    problem: &AllocationProblem,
    solved: &allocation::Allocation,
    lines: &[StoredDemandLine],
    candidates: &[CandidateRow],
    scope: &Scope,
    demand_ids: Vec<i64>,
) -> AllocationProposal {
    let by_line: HashMap<i64, &StoredDemandLine> = lines.iter().map(|l| (l.id, l)).collect();
    let by_record: HashMap<i64, &CandidateRow> = candidates.iter().map(|c| (c.id, c)).collect();
    let priority_of: HashMap<i64, i64> = lines.iter().map(|l| (l.id, l.priority)).collect();
    let available_of: HashMap<HoldingId, i64> = problem
        .holdings()
        .iter()
        .map(|h| (h.id(), h.available()))
        .collect();
    let holding = |id: HoldingId| -> HoldingSummary {
        let row = by_record.get(&id.get());
        HoldingSummary {
            record_id: id.get(),
            type_code: row.map(|r| r.type_code.clone()).unwrap_or_default(),
            available: available_of.get(&id).copied().unwrap_or(0),
            region_code: row.map(|r| r.region_code.clone()).unwrap_or_default(),
            region_name: row.map(|r| r.region_name.clone()).unwrap_or_default(),
            holder_name: row.map(|r| holder_for(r, scope)).unwrap_or_default(),
            site_name: row.and_then(|r| r.site_name.clone()),
        }
    };
    let alternative = |alt: &allocation::Alternative| -> ProposedAlternative {
        let (reason, extra, reduced, taken, higher) = match &alt.reason {
            AlternativeReason::Costlier {
                extra_cost_per_unit_cents,
                reduced_cost_cents,
            } => (
                "costlier",
                Some(*extra_cost_per_unit_cents),
                Some(*reduced_cost_cents),
                Vec::new(),
                false,
            ),
            AlternativeReason::UsedUp {
                taken_by,
                by_higher_priority,
            } => (
                "used_up",
                None,
                None,
                taken_by
                    .iter()
                    .filter_map(|l| by_line.get(&l.get()).map(|l| l.line_no + 1))
                    .collect(),
                *by_higher_priority,
            ),
            AlternativeReason::TooLate => ("too_late", None, None, Vec::new(), false),
        };
        ProposedAlternative {
            record_id: alt.holding.get(),
            region_name: by_record
                .get(&alt.holding.get())
                .map(|r| r.region_name.clone())
                .unwrap_or_default(),
            great_circle_km: alt.great_circle_km,
            travel_hours: alt.travel_hours,
            unit_cost_cents: alt.unit_cost_cents,
            reason: reason.to_owned(),
            extra_cost_per_unit_cents: extra,
            reduced_cost_cents: reduced,
            taken_by_lines: taken,
            by_higher_priority: higher,
        }
    };
    let assignments = solved
        .assignments()
        .iter()
        .filter_map(|a| {
            let line = by_line.get(&a.line.get())?;
            Some(ProposedAssignment {
                demand_id: line.demand_id,
                line_id: line.id,
                line_no: line.line_no,
                holding: holding(a.holding),
                quantity: a.quantity,
                great_circle_km: a.great_circle_km,
                road_km: a.road_km,
                travel_hours: a.travel_hours,
                unit_cost_cents: a.unit_cost_cents,
                cost_cents: a.cost_cents,
                needed_within_hours: a.explanation.needed_within_hours,
                slack_hours: a.explanation.slack_hours,
                alternatives: a.explanation.alternatives.iter().map(alternative).collect(),
            })
        })
        .collect();
    let outcome_lines = solved
        .lines()
        .iter()
        .filter_map(|outcome| {
            let line = by_line.get(&outcome.line.get())?;
            Some(ProposedLine {
                demand_id: line.demand_id,
                line_id: line.id,
                line_no: line.line_no,
                type_code: line.type_code.clone(),
                priority: priority_of.get(&line.id).copied().unwrap_or(0),
                open: outcome.requested,
                served: outcome.served,
                shortfall: outcome.shortfall,
                escalation_sources: outcome
                    .escalation_sources
                    .iter()
                    .map(|source| {
                        let row = by_record.get(&source.holding.get());
                        EscalationSourceView {
                            type_code: line.type_code.clone(),
                            available: source.available,
                            great_circle_km: source.great_circle_km,
                            travel_hours: source.travel_hours,
                            arrives_in_time: source.arrives_in_time,
                            region_code: row.map(|r| r.region_code.clone()).unwrap_or_default(),
                            region_name: row.map(|r| r.region_name.clone()).unwrap_or_default(),
                        }
                    })
                    .collect(),
                too_late: outcome.too_late.iter().map(alternative).collect(),
            })
        })
        .collect();
    AllocationProposal {
        demand_ids,
        assignments,
        lines: outcome_lines,
        transport_cost_cents: solved.objective().transport_cost_cents,
        holdings_considered: problem.holdings().len(),
        pricing_rounds: solved.pricing_rounds(),
        timings: ProposalTimings::default(),
    }
}

/// The holder's name as the reader may see it.
fn holder_for(row: &CandidateRow, scope: &Scope) -> String {
    use muster_domain::potential::{Holder, HolderKind};
    if row.holder_kind == HolderKind::Person.as_str()
        && !scope.allows(muster_domain::DataClass::PersonalData)
    {
        match (Holder::Person {
            name: row.holder_name.clone(),
            id_number: None,
            phone: None,
        })
        .masked()
        {
            Holder::Person { name, .. } => name,
            Holder::Organization { name, .. } => name,
        }
    } else {
        row.holder_name.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use muster_domain::allocation::AllocationError;
    use muster_domain::demand::{DemandStatus, EscalationError};

    use super::*;

    fn is_chinese(text: &str) -> bool {
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    #[test]
    fn a_solver_refusal_is_said_in_both_languages() {
        let errors = [
            AllocationError::InvalidCoordinates {
                latitude: 91.0,
                longitude: 0.0,
            },
            AllocationError::MissingResourceType,
            AllocationError::NonPositiveQuantity {
                line: DemandLineId::new(11),
                quantity: 0,
            },
            AllocationError::QuantityTooLarge {
                line: DemandLineId::new(12),
                quantity: i64::MAX,
            },
            AllocationError::NegativeAvailable {
                holding: HoldingId::new(13),
                available: -1,
            },
            AllocationError::AvailableTooLarge {
                holding: HoldingId::new(14),
                available: i64::MAX,
            },
            AllocationError::DuplicateDemandLine {
                line: DemandLineId::new(15),
            },
            AllocationError::DuplicateHolding {
                holding: HoldingId::new(16),
            },
            AllocationError::InvalidRoadFactor { road_factor: 0.5 },
            AllocationError::InvalidSpeed {
                speed_km_per_hour: -1.0,
            },
            AllocationError::InvalidCostPerUnitKm {
                resource_type: Some("TRN.ROAD.TRUCK_HEAVY".into()),
                cost: -2.0,
            },
            AllocationError::InvalidCostPerUnitKm {
                resource_type: None,
                cost: -3.0,
            },
            AllocationError::CostRangeTooLarge {
                resource_type: "TRN.ROAD.TRUCK_HEAVY".into(),
            },
            AllocationError::SolverFailed {
                resource_type: "CAD.MAT.TENT_12".into(),
            },
        ];
        let mut said = HashSet::new();
        for error in errors {
            let english = error.to_string();
            let StorageError::Refused {
                field: "allocation",
                message,
                message_zh,
            } = solver_error(error.clone())
            else {
                panic!("{error:?}: expected a refusal");
            };
            assert_eq!(message, english);
            assert!(is_chinese(&message_zh), "{error:?}: {message_zh}");
            assert!(said.insert(message_zh.clone()), "said twice: {message_zh}");
        }
    }

    #[test]
    fn every_escalation_refusal_is_said_in_chinese() {
        let errors = [
            EscalationError::WrongStatus {
                status: DemandStatus::Received,
            },
            EscalationError::NoLevelAbove,
            EscalationError::NothingMissing,
            EscalationError::UnknownLine { index: 0, line: 8 },
            EscalationError::DuplicateLine { index: 1, line: 2 },
            EscalationError::BadMissing {
                index: 2,
                line: 3,
                missing: 40,
                open: 30,
            },
        ];
        let mut said = HashSet::new();
        for error in errors {
            let zh = error.zh();
            assert!(is_chinese(&zh), "{error:?}: {zh}");
            assert!(!zh.contains("received"), "the status is translated: {zh}");
            assert!(said.insert(zh.clone()), "said twice: {zh}");
        }
        let bad = EscalationError::BadMissing {
            index: 2,
            line: 3,
            missing: 40,
            open: 30,
        }
        .zh();
        assert!(bad.contains("40") && bad.contains("30"), "{bad}");
    }
}
