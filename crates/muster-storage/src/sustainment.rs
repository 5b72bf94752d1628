//! Sustainment scenarios: an office's assumptions (daily consumption per type, a surge
//! profile, production enterprises can add after a ramp-up) stored as one JSON document per
//! scenario, and run against the potential of the scenario's subtree as it stands when it
//! is run. The model is the domain's ([`muster_domain::sustainment`]); here is where the
//! stock comes from.
//!
//! # The stock of one type in a subtree
//!
//! From the subtree's `potential_records` of that type whose status is `available` (records
//! reserved, allocated, requisitioned or unavailable are not there to be consumed):
//!
//! ```text
//! verified   = Σ quantity of records verified on site (last_verified_at set)
//! unverified = Σ quantity of the others
//! age_days   = Σ quantity × (now − (last_verified_at or updated_at)) / Σ quantity, in days
//! ```
//!
//! `verified` is the roll-ups' `verified_quantity` restricted to available records. The age
//! is weighted by quantity, so a large stale holding ages the type more than a small one;
//! it is rounded to the nearest day. One `GROUP BY` over the subtree's holding-key range.

use std::collections::{BTreeMap, BTreeSet};

use muster_domain::sustainment::{
    Adjustment, DiscountPolicy, ProductionSource, Scenario, ScenarioProblem, StockFigures,
    SurgeSegment, SustainmentReport, TypeScenario, apply_adjustments, compute,
};
use muster_domain::time::MILLIS_PER_DAY;
use muster_domain::{Actor, RegionPath, Role, Scope, Timestamp};
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::db::{Database, on_read_pool, on_tx};
use crate::error::StorageError;

/// What an office assumes, stored as JSON in `sustainment_scenarios.document`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioDocument {
    /// 1 to 365 days.
    pub horizon_days: u16,
    /// One surge profile for every type: from each step's day on, consumption is multiplied.
    #[serde(default)]
    pub surge: Vec<SurgeStep>,
    pub types: Vec<ScenarioTypeDocument>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SurgeStep {
    pub from_day: u16,
    pub multiplier: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioTypeDocument {
    pub type_code: String,
    pub daily_consumption: f64,
    #[serde(default)]
    pub production: Vec<ProductionLine>,
}

/// Production an enterprise can add from `start_day`, ramping up over `ramp_days`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionLine {
    pub source: String,
    pub full_rate_per_day: f64,
    pub start_day: u16,
    pub ramp_days: u16,
}

impl ScenarioDocument {
    /// The domain's scenario with these assumptions and `stock` (a type missing from it has
    /// none), or every problem at once.
    pub fn scenario(
        &self,
        stock: &BTreeMap<String, StockFigures>,
    ) -> Result<Scenario, Vec<ScenarioProblem>> {
        let surge: Vec<SurgeSegment> = self
            .surge
            .iter()
            .map(|s| SurgeSegment {
                from_day: s.from_day,
                multiplier: s.multiplier,
            })
            .collect();
        let types = self
            .types
            .iter()
            .map(|t| TypeScenario {
                type_code: t.type_code.clone(),
                daily_consumption: t.daily_consumption,
                surge: surge.clone(),
                production: t
                    .production
                    .iter()
                    .map(|p| ProductionSource {
                        source: p.source.clone(),
                        full_rate_per_day: p.full_rate_per_day,
                        start_day: p.start_day,
                        ramp_days: p.ramp_days,
                    })
                    .collect(),
                stock: stock.get(t.type_code.trim()).copied().unwrap_or_default(),
            })
            .collect();
        Scenario::new(self.horizon_days, types)
    }

    /// The assumptions of a domain scenario (its stock is left behind: storage reads it
    /// fresh each run). The surge profile is the first type's.
    pub fn from_scenario(scenario: &Scenario) -> Self {
        Self {
            horizon_days: scenario.horizon_days(),
            surge: scenario
                .types()
                .first()
                .map(|t| {
                    t.surge
                        .iter()
                        .map(|s| SurgeStep {
                            from_day: s.from_day,
                            multiplier: s.multiplier,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            types: scenario
                .types()
                .iter()
                .map(|t| ScenarioTypeDocument {
                    type_code: t.type_code.clone(),
                    daily_consumption: t.daily_consumption,
                    production: t
                        .production
                        .iter()
                        .map(|p| ProductionLine {
                            source: p.source.clone(),
                            full_rate_per_day: p.full_rate_per_day,
                            start_day: p.start_day,
                            ramp_days: p.ramp_days,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A stored scenario as its readers see it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StoredScenario {
    pub id: i64,
    pub name: String,
    pub region_code: Option<String>,
    pub region_path: String,
    /// The [`ScenarioDocument`] as JSON.
    pub document: String,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl StoredScenario {
    pub fn document(&self) -> Result<ScenarioDocument, StorageError> {
        serde_json::from_str(&self.document).map_err(|e| {
            StorageError::Database(sqlx::Error::Decode(
                format!("sustainment scenario {} does not read: {e}", self.id).into(),
            ))
        })
    }

    pub fn region_path(&self) -> RegionPath {
        RegionPath::parse(&self.region_path).unwrap_or_else(RegionPath::root)
    }
}

/// A scenario to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewScenario {
    pub name: String,
    /// The subtree whose potential it runs on; the author's own region when absent.
    pub region_code: Option<String>,
    pub document: ScenarioDocument,
}

/// One run of a stored scenario: the stock it found, the scenario with that stock, the
/// report, and, with what-ifs, the adjusted scenario's report beside it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SustainmentRun {
    pub scenario: StoredScenario,
    pub stock: BTreeMap<String, StockFigures>,
    pub base: Scenario,
    pub report: SustainmentReport,
    pub adjusted: Option<SustainmentReport>,
    pub policy: DiscountPolicy,
}

/// The longest scenario name, in characters.
const MAX_NAME_CHARS: usize = 200;

const SCENARIO_COLUMNS: &str =
    "id, name, region_code, region_path, document, created_by, created_at, updated_at";

/// Whether the actor writes scenarios: office staff, military liaisons, administrators.
fn may_plan(actor: &Actor) -> bool {
    actor.administers()
        || actor.has_role(Role::OfficeStaff)
        || actor.has_role(Role::MilitaryLiaison)
}

fn invalid_scenario(problems: &[ScenarioProblem]) -> StorageError {
    crate::error::refused_all("document", problems, ScenarioProblem::zh)
}

impl Database {
    /// Stores a new scenario (`id` none) or replaces one the actor reads, in a region of
    /// the actor's scope; the assumptions are checked by the domain and every type must be
    /// in the taxonomy. Audited.
    pub async fn save_sustainment_scenario(
        &self,
        actor: &Actor,
        id: Option<i64>,
        new: NewScenario,
    ) -> Result<StoredScenario, StorageError> {
        if !may_plan(actor) {
            return Err(StorageError::forbidden(
                "only office staff and military liaisons write sustainment scenarios",
                "只有动员办工作人员和军事联络员才能编制持续保障情景",
            ));
        }
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(StorageError::refused(
                "name",
                format!("a scenario needs a name of 1 to {MAX_NAME_CHARS} characters"),
                format!("情景名称应为 1 至 {MAX_NAME_CHARS} 个字符"),
            ));
        }
        let (region_code, path) = match new.region_code.as_deref().map(str::trim) {
            Some(code) if !code.is_empty() => {
                let region = self
                    .region(actor.scope(), code)
                    .await
                    .map_err(|e| match e {
                        StorageError::NotFound { .. } => StorageError::out_of_scope("region", code),
                        other => other,
                    })?;
                (Some(region.code.clone()), region.region_path())
            }
            _ => {
                let path = actor.scope().subtree().clone();
                (path.codes().last().map(|c| c.as_str().to_owned()), path)
            }
        };
        new.document
            .scenario(&BTreeMap::new())
            .map_err(|p| invalid_scenario(&p))?;
        let taxonomy = self.taxonomy().await?;
        if let Some(unknown) = new
            .document
            .types
            .iter()
            .find(|t| taxonomy.resource_type(t.type_code.trim()).is_none())
        {
            return Err(StorageError::refused(
                "document",
                format!("{}: not a resource type of the taxonomy", unknown.type_code),
                format!("{}：不是资源分类中的资源类型", unknown.type_code),
            ));
        }
        let document = serde_json::to_string(&new.document).map_err(|e| {
            StorageError::refused(
                "document",
                e.to_string(),
                format!("情景内容无法保存（{e}）"),
            )
        })?;
        let before = match id {
            Some(id) => Some(self.sustainment_scenario(actor.scope(), id).await?),
            None => None,
        };
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let stored: StoredScenario = on_tx!(&mut tx, |conn| {
            match id {
                None => {
                    let sql = format!(
                        "INSERT INTO sustainment_scenarios (name, region_code, region_path, document, created_by, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {SCENARIO_COLUMNS}"
                    );
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(&name)
                        .bind(&region_code)
                        .bind(path.as_str())
                        .bind(&document)
                        .bind(actor.user_id())
                        .bind(now.as_millis())
                        .fetch_one(&mut *conn)
                        .await
                }
                Some(id) => {
                    let sql = format!(
                        "UPDATE sustainment_scenarios SET name = $1, region_code = $2, region_path = $3, document = $4, \
                         updated_at = $5 WHERE id = $6 RETURNING {SCENARIO_COLUMNS}"
                    );
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(&name)
                        .bind(&region_code)
                        .bind(path.as_str())
                        .bind(&document)
                        .bind(now.as_millis())
                        .bind(id)
                        .fetch_one(&mut *conn)
                        .await
                }
            }
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "sustainment_scenario",
                entity_id: stored.id.to_string(),
                action: if before.is_some() { "update" } else { "create" },
                region_path: &path,
                before: before.map(|b| serde_json::json!({ "name": b.name, "region_path": b.region_path, "document": b.document })),
                after: Some(serde_json::json!({ "name": name, "region_path": path.as_str(), "document": document })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Deletes a scenario the actor reads (a plan that no longer applies; nothing refers to
    /// a scenario, its reports are computed on demand). Audited with what it held, so the
    /// audit log can tell what was planned.
    pub async fn delete_sustainment_scenario(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(), StorageError> {
        if !may_plan(actor) {
            return Err(StorageError::forbidden(
                "only office staff and military liaisons delete sustainment scenarios",
                "只有动员办工作人员和军事联络员才能删除持续保障情景",
            ));
        }
        let before = self.sustainment_scenario(actor.scope(), id).await?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        // Only the scenario as read, still in the actor's subtree: the audit entry then says
        // exactly what went.
        let (low, high) = actor.scope().subtree().subtree_range();
        let deleted = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "DELETE FROM sustainment_scenarios WHERE id = $1 AND updated_at = $2 \
                 AND region_path >= $3 AND region_path < $4",
            )
            .bind(id)
            .bind(before.updated_at)
            .bind(&low)
            .bind(&high)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        if deleted != 1 {
            return Err(StorageError::Conflict {
                field: "id",
                message: format!(
                    "sustainment scenario {id} was changed or deleted meanwhile; reload it"
                ),
                message_zh: Some(format!(
                    "持续保障情景 {id} 已被他人修改或删除，请刷新后再试"
                )),
            });
        }
        let path = RegionPath::parse(&before.region_path).unwrap_or_else(RegionPath::root);
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "sustainment_scenario",
                entity_id: id.to_string(),
                action: "delete",
                region_path: &path,
                before: Some(serde_json::json!({ "name": before.name, "region_path": before.region_path, "document": before.document })),
                after: None,
            },
        )
        .await?;
        tx.commit().await
    }

    /// The scenarios of the reader's subtree, newest first.
    pub async fn sustainment_scenarios(
        &self,
        scope: &Scope,
    ) -> Result<Vec<StoredScenario>, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let sql = format!(
            "SELECT {SCENARIO_COLUMNS} FROM sustainment_scenarios \
             WHERE region_path >= $1 AND region_path < $2 ORDER BY id DESC LIMIT 500"
        );
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&low)
                .bind(&high)
                .fetch_all(pool)
                .await
        })?)
    }

    /// One scenario, if it is in the reader's subtree.
    pub async fn sustainment_scenario(
        &self,
        scope: &Scope,
        id: i64,
    ) -> Result<StoredScenario, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let sql = format!(
            "SELECT {SCENARIO_COLUMNS} FROM sustainment_scenarios \
             WHERE id = $1 AND region_path >= $2 AND region_path < $3"
        );
        let found: Option<StoredScenario> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .bind(&low)
                .bind(&high)
                .fetch_optional(pool)
                .await
        })?;
        found.ok_or_else(|| StorageError::not_found("sustainment scenario", id))
    }

    /// The stock of each of `type_codes` (all types when empty) in the subtree of `path`,
    /// which must be in the reader's scope: see the module docs.
    pub async fn sustainment_stock(
        &self,
        scope: &Scope,
        path: &RegionPath,
        type_codes: &BTreeSet<String>,
        now: Timestamp,
    ) -> Result<BTreeMap<String, StockFigures>, StorageError> {
        if !scope.contains(path) {
            return Err(StorageError::out_of_scope("region", path.as_str()));
        }
        let (low, high) = path.subtree_range();
        let rows: Vec<(String, f64, f64, f64)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT type_code, \
                 CAST(SUM(CASE WHEN last_verified_at IS NOT NULL THEN quantity ELSE 0 END) AS DOUBLE PRECISION), \
                 CAST(SUM(CASE WHEN last_verified_at IS NULL THEN quantity ELSE 0 END) AS DOUBLE PRECISION), \
                 CAST(SUM(quantity * CAST($3 - COALESCE(last_verified_at, updated_at) AS DOUBLE PRECISION)) AS DOUBLE PRECISION) \
                 FROM potential_records WHERE holding_key >= $1 AND holding_key < $2 AND status = 'available' \
                 GROUP BY type_code ORDER BY type_code",
            )
            .bind(&low)
            .bind(&high)
            .bind(now.as_millis())
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .filter(|(code, ..)| type_codes.is_empty() || type_codes.contains(code))
            .map(|(code, verified, unverified, weighted_age_millis)| {
                let total = verified + unverified;
                let age_days = if total > 0.0 {
                    (weighted_age_millis / total / MILLIS_PER_DAY as f64)
                        .round()
                        .clamp(0.0, f64::from(u32::MAX)) as u32
                } else {
                    0
                };
                (
                    code,
                    StockFigures {
                        verified,
                        unverified,
                        age_days,
                        added: 0.0,
                    },
                )
            })
            .collect())
    }

    /// Runs a stored scenario on its subtree's stock as of `now`, and, when `adjustments`
    /// are given, the adjusted scenario beside it.
    pub async fn run_sustainment(
        &self,
        scope: &Scope,
        id: i64,
        adjustments: &[Adjustment],
        now: Timestamp,
    ) -> Result<SustainmentRun, StorageError> {
        let scenario = self.sustainment_scenario(scope, id).await?;
        let document = scenario.document()?;
        let codes: BTreeSet<String> = document
            .types
            .iter()
            .map(|t| t.type_code.trim().to_owned())
            .collect();
        let stock = self
            .sustainment_stock(scope, &scenario.region_path(), &codes, now)
            .await?;
        let base = document
            .scenario(&stock)
            .map_err(|p| invalid_scenario(&p))?;
        let policy = DiscountPolicy::default();
        let report = compute(&base, &policy);
        let adjusted = if adjustments.is_empty() {
            None
        } else {
            let changed = apply_adjustments(&base, adjustments)
                .map_err(|e| StorageError::refused("adjustments", e.to_string(), e.zh()))?;
            Some(compute(&changed, &policy))
        };
        Ok(SustainmentRun {
            scenario,
            stock,
            base,
            report,
            adjusted,
            policy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_scenario_says_each_problem_in_chinese_by_its_field() {
        let problems = [
            ScenarioProblem::BadHorizon { found: 0 },
            ScenarioProblem::DuplicateType {
                index: 1,
                type_code: "WATER".into(),
            },
        ];
        let StorageError::Refused {
            field,
            message,
            message_zh,
        } = invalid_scenario(&problems)
        else {
            panic!("expected a refusal said in both languages");
        };
        assert_eq!(field, "document");
        assert_eq!(
            message,
            "horizon_days: expected 1 to 365, found 0; \
             types[1].type_code: \"WATER\" appears twice: give each type once"
        );
        assert_eq!(
            message_zh,
            "horizon_days：应为 1 至 365 天，实为 0；\
             types[1].type_code：\"WATER\" 出现了两次，每个类型只列一次"
        );
    }
}
