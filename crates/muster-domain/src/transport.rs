//! The transport setting: what an administrator says about moving resources, from which an
//! allocation's [`TransportParameters`] are built. It is a document (stored as JSON by
//! storage, edited through a form), so it is plain data here, checked by
//! [`TransportSetting::parameters`], which names every problem at once by its field.
//!
//! An arc's cost is `great-circle km × road_factor × cost per unit-km of the type × units`;
//! its time is `road km / speed_km_per_hour`. A type without a cost of its own costs
//! `default_cost_per_unit_km`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::allocation::{MAX_COST_PER_UNIT_KM, MAX_ROAD_FACTOR, TransportParameters};

/// The fastest speed accepted: road convoys, not aircraft.
pub const MAX_SPEED_KM_PER_HOUR: f64 = 300.0;

/// The most per-type costs one setting may hold: far more than a taxonomy's road types.
pub const MAX_TYPE_COSTS: usize = 1_000;

/// The transport setting as stored and as the API and the form send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransportSetting {
    /// Road km per great-circle km, 1 to [`MAX_ROAD_FACTOR`].
    pub road_factor: f64,
    /// Average convoy speed, more than 0 up to [`MAX_SPEED_KM_PER_HOUR`].
    pub speed_km_per_hour: f64,
    /// The cost of one unit over one road km (yuan), 0 to [`MAX_COST_PER_UNIT_KM`].
    pub default_cost_per_unit_km: f64,
    /// Types that cost otherwise, by resource type code.
    #[serde(default)]
    pub cost_per_unit_km_by_type: BTreeMap<String, f64>,
}

/// One thing wrong with a [`TransportSetting`], naming its field.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransportSettingProblem {
    #[error(
        "road_factor: expected road km per great-circle km from 1 to {MAX_ROAD_FACTOR}, found {found}"
    )]
    RoadFactor { found: f64 },
    #[error(
        "speed_km_per_hour: expected more than 0 and at most {MAX_SPEED_KM_PER_HOUR} km/h, found {found}"
    )]
    Speed { found: f64 },
    #[error(
        "default_cost_per_unit_km: expected 0 to {MAX_COST_PER_UNIT_KM} per unit and road km, found {found}"
    )]
    DefaultCost { found: f64 },
    #[error("cost_per_unit_km_by_type: a cost is given without a resource type code")]
    TypeCodeMissing,
    #[error("cost_per_unit_km_by_type.{type_code}: no such resource type in the taxonomy")]
    UnknownType { type_code: String },
    #[error(
        "cost_per_unit_km_by_type.{type_code}: expected 0 to {MAX_COST_PER_UNIT_KM} per unit and road km, found {found}"
    )]
    TypeCost { type_code: String, found: f64 },
    #[error("cost_per_unit_km_by_type: {count} types, more than the {MAX_TYPE_COSTS} allowed")]
    TooManyTypes { count: usize },
}

impl TransportSettingProblem {
    /// The problem in Chinese, for the Chinese pages: the same field as the English
    /// (`road_factor`, `cost_per_unit_km_by_type.TRN.ROAD`), then `：` and the message.
    pub fn zh(&self) -> String {
        match self {
            TransportSettingProblem::RoadFactor { found } => format!(
                "road_factor：道路系数（道路公里/大圆公里）应为 1 至 {MAX_ROAD_FACTOR}，实为 {found}"
            ),
            TransportSettingProblem::Speed { found } => format!(
                "speed_km_per_hour：速度应大于 0 且不超过 {MAX_SPEED_KM_PER_HOUR} 公里/小时，实为 {found}"
            ),
            TransportSettingProblem::DefaultCost { found } => format!(
                "default_cost_per_unit_km：每单位每道路公里费用应为 0 至 {MAX_COST_PER_UNIT_KM}，实为 {found}"
            ),
            TransportSettingProblem::TypeCodeMissing => {
                "cost_per_unit_km_by_type：有一项费用没有写资源类型代码".into()
            }
            TransportSettingProblem::UnknownType { type_code } => {
                format!("cost_per_unit_km_by_type.{type_code}：分类目录中没有这种资源类型")
            }
            TransportSettingProblem::TypeCost { type_code, found } => format!(
                "cost_per_unit_km_by_type.{type_code}：每单位每道路公里费用应为 0 至 {MAX_COST_PER_UNIT_KM}，实为 {found}"
            ),
            TransportSettingProblem::TooManyTypes { count } => {
                format!("cost_per_unit_km_by_type：共 {count} 种类型，最多 {MAX_TYPE_COSTS} 种")
            }
        }
    }

    /// The field the problem is about, as the API and the form name it.
    pub const fn field(&self) -> &'static str {
        match self {
            TransportSettingProblem::RoadFactor { .. } => "road_factor",
            TransportSettingProblem::Speed { .. } => "speed_km_per_hour",
            TransportSettingProblem::DefaultCost { .. } => "default_cost_per_unit_km",
            TransportSettingProblem::TypeCodeMissing
            | TransportSettingProblem::UnknownType { .. }
            | TransportSettingProblem::TypeCost { .. }
            | TransportSettingProblem::TooManyTypes { .. } => "cost_per_unit_km_by_type",
        }
    }
}

impl Default for TransportSetting {
    /// Trucks at 60 km/h on roads 1.3 times the great circle, 2.00 per unit and road km,
    /// the same for every type: what allocations used before the setting existed.
    fn default() -> Self {
        Self {
            road_factor: 1.3,
            speed_km_per_hour: 60.0,
            default_cost_per_unit_km: 2.0,
            cost_per_unit_km_by_type: BTreeMap::new(),
        }
    }
}

impl TransportSetting {
    /// The setting with its type codes trimmed, checked, as the solver's parameters.
    /// `is_known_type` says whether a type code is in the taxonomy in force. Every problem
    /// is reported at once.
    pub fn parameters(
        &self,
        is_known_type: impl Fn(&str) -> bool,
    ) -> Result<TransportParameters, Vec<TransportSettingProblem>> {
        let mut problems = Vec::new();
        let in_range = |v: f64, low: f64, high: f64| v.is_finite() && (low..=high).contains(&v);
        if !in_range(self.road_factor, 1.0, MAX_ROAD_FACTOR) {
            problems.push(TransportSettingProblem::RoadFactor {
                found: self.road_factor,
            });
        }
        if !(in_range(self.speed_km_per_hour, 0.0, MAX_SPEED_KM_PER_HOUR)
            && self.speed_km_per_hour > 0.0)
        {
            problems.push(TransportSettingProblem::Speed {
                found: self.speed_km_per_hour,
            });
        }
        if !in_range(self.default_cost_per_unit_km, 0.0, MAX_COST_PER_UNIT_KM) {
            problems.push(TransportSettingProblem::DefaultCost {
                found: self.default_cost_per_unit_km,
            });
        }
        if self.cost_per_unit_km_by_type.len() > MAX_TYPE_COSTS {
            problems.push(TransportSettingProblem::TooManyTypes {
                count: self.cost_per_unit_km_by_type.len(),
            });
        }
        for (code, cost) in &self.cost_per_unit_km_by_type {
            let code = code.trim();
            if code.is_empty() {
                problems.push(TransportSettingProblem::TypeCodeMissing);
            } else if !is_known_type(code) {
                problems.push(TransportSettingProblem::UnknownType {
                    type_code: code.to_owned(),
                });
            } else if !in_range(*cost, 0.0, MAX_COST_PER_UNIT_KM) {
                problems.push(TransportSettingProblem::TypeCost {
                    type_code: code.to_owned(),
                    found: *cost,
                });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut parameters = TransportParameters::new(
            self.default_cost_per_unit_km,
            self.road_factor,
            self.speed_km_per_hour,
        )
        .map_err(|_| {
            vec![TransportSettingProblem::RoadFactor {
                found: self.road_factor,
            }]
        })?;
        for (code, cost) in &self.cost_per_unit_km_by_type {
            let code = code.trim();
            parameters = parameters.with_type_cost(code, *cost).map_err(|_| {
                vec![TransportSettingProblem::TypeCost {
                    type_code: code.to_owned(),
                    found: *cost,
                }]
            })?;
        }
        Ok(parameters)
    }

    /// The setting as it will be stored: type codes trimmed.
    pub fn normalized(&self) -> Self {
        Self {
            cost_per_unit_km_by_type: self
                .cost_per_unit_km_by_type
                .iter()
                .map(|(code, cost)| (code.trim().to_owned(), *cost))
                .collect(),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(code: &str) -> bool {
        matches!(code, "TRN.ROAD.TRUCK_HEAVY" | "CAD.MAT.TENT_12")
    }

    fn with_types(types: &[(&str, f64)]) -> TransportSetting {
        TransportSetting {
            cost_per_unit_km_by_type: types.iter().map(|(c, v)| ((*c).to_owned(), *v)).collect(),
            ..TransportSetting::default()
        }
    }

    #[test]
    fn the_default_gives_the_parameters_allocation_always_used() {
        let parameters = TransportSetting::default()
            .parameters(known)
            .expect("valid");
        assert_eq!(parameters.road_factor(), 1.3);
        assert_eq!(parameters.speed_km_per_hour(), 60.0);
        assert_eq!(parameters.cost_per_unit_km("anything"), 2.0);
    }

    #[test]
    fn a_type_cost_overrides_the_default_for_that_type_only() {
        let parameters = with_types(&[(" TRN.ROAD.TRUCK_HEAVY ", 5.5)])
            .parameters(known)
            .expect("valid");
        assert_eq!(parameters.cost_per_unit_km("TRN.ROAD.TRUCK_HEAVY"), 5.5);
        assert_eq!(parameters.cost_per_unit_km("CAD.MAT.TENT_12"), 2.0);
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let cases: Vec<(TransportSetting, Vec<&str>)> = vec![
            (
                TransportSetting {
                    road_factor: 0.9,
                    ..TransportSetting::default()
                },
                vec!["road_factor"],
            ),
            (
                TransportSetting {
                    road_factor: f64::NAN,
                    speed_km_per_hour: 0.0,
                    default_cost_per_unit_km: -1.0,
                    ..TransportSetting::default()
                },
                vec![
                    "road_factor",
                    "speed_km_per_hour",
                    "default_cost_per_unit_km",
                ],
            ),
            (
                TransportSetting {
                    speed_km_per_hour: f64::INFINITY,
                    ..TransportSetting::default()
                },
                vec!["speed_km_per_hour"],
            ),
            (
                with_types(&[("NO.SUCH", 1.0), ("TRN.ROAD.TRUCK_HEAVY", 2e9), (" ", 1.0)]),
                vec![
                    "cost_per_unit_km_by_type",
                    "cost_per_unit_km_by_type",
                    "cost_per_unit_km_by_type",
                ],
            ),
        ];
        for (setting, fields) in cases {
            let problems = setting.parameters(known).expect_err("refused");
            let found: Vec<&str> = problems
                .iter()
                .map(TransportSettingProblem::field)
                .collect();
            assert_eq!(found, fields, "{setting:?}");
            for problem in &problems {
                assert!(
                    problem.to_string().starts_with(problem.field()),
                    "{problem}"
                );
            }
        }
    }

    #[test]
    fn the_setting_reads_back_from_its_json() {
        let setting = with_types(&[("CAD.MAT.TENT_12", 0.5)]);
        let json = serde_json::to_string(&setting).expect("json");
        let back: TransportSetting = serde_json::from_str(&json).expect("reads");
        assert_eq!(back, setting);
        let without_types: TransportSetting = serde_json::from_str(
            r#"{"road_factor":1.5,"speed_km_per_hour":50,"default_cost_per_unit_km":3}"#,
        )
        .expect("types are optional");
        assert!(without_types.cost_per_unit_km_by_type.is_empty());
    }
}
