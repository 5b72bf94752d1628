//! Patrols: a route of checkpoints that a grid member walks, checking in at each by
//! scanning or typing its code, and the alert for the checkpoints nobody reached.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::FieldProblem;
use crate::time::Timestamp;

/// A point on a route. The code is printed on a plate at the spot: reaching the spot is the
/// only way to read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub code: String,
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// A route as an office defines it: its checkpoints in walking order and how long one
/// patrol may take from its first check-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteDraft {
    pub name: String,
    pub window_minutes: u32,
    pub checkpoints: Vec<Checkpoint>,
}

impl RouteDraft {
    pub fn validate(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(FieldProblem::new("name", "a non-empty text", "不能为空"));
        }
        if !(5..=24 * 60).contains(&self.window_minutes) {
            problems.push(FieldProblem::new(
                "window_minutes",
                "between 5 minutes and 24 hours",
                "一次巡查的时限应在 5 分钟至 24 小时之间",
            ));
        }
        if self.checkpoints.is_empty() || self.checkpoints.len() > 100 {
            problems.push(FieldProblem::new(
                "checkpoints",
                "between 1 and 100 checkpoints",
                "路线应有 1 至 100 个点位",
            ));
        }
        let mut codes = BTreeSet::new();
        for (index, checkpoint) in self.checkpoints.iter().enumerate() {
            let code = checkpoint.code.trim();
            if code.is_empty()
                || code.len() > 32
                || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                problems.push(FieldProblem::new(
                    format!("checkpoints[{index}].code"),
                    "1 to 32 letters, digits or -",
                    "应为 1 至 32 个字母、数字或 -",
                ));
            } else if !codes.insert(code.to_ascii_uppercase()) {
                problems.push(FieldProblem::new(
                    format!("checkpoints[{index}].code"),
                    format!("a code no other checkpoint of the route has; {code:?} is repeated"),
                    format!("同一路线上各点位的编码不能重复，{code:?} 重复了"),
                ));
            }
            let name = checkpoint.name.trim();
            if name.is_empty() {
                problems.push(FieldProblem::new(
                    format!("checkpoints[{index}].name"),
                    "a non-empty text",
                    "不能为空",
                ));
            } else if name.contains(['|', '｜']) || name.chars().any(char::is_control) {
                // The route form lists checkpoints a line each, their fields split by `|`:
                // such a name would not read back from it.
                problems.push(FieldProblem::new(
                    format!("checkpoints[{index}].name"),
                    "a name on one line, without |",
                    "应为一行文字，且不含 |",
                ));
            }
            if !(-90.0..=90.0).contains(&checkpoint.latitude)
                || !(-180.0..=180.0).contains(&checkpoint.longitude)
            {
                problems.push(FieldProblem::new(
                    format!("checkpoints[{index}].position"),
                    "a valid latitude and longitude",
                    "应为有效的纬度和经度",
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// The checkpoint a scanned or typed code names, case and spaces forgiven.
pub fn checkpoint_for_code<'a>(
    checkpoints: &'a [Checkpoint],
    code: &str,
) -> Option<&'a Checkpoint> {
    let code = code.trim();
    checkpoints
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code))
}

/// One check-in of a patrol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckIn {
    pub code: String,
    pub at: Timestamp,
}

/// The checkpoints a patrol missed, once its window has passed: nothing is missed while the
/// patrol may still be walking. A patrol starts at its first check-in.
pub fn missed_checkpoints(
    route: &RouteDraft,
    check_ins: &[CheckIn],
    now: Timestamp,
) -> Option<Vec<String>> {
    let started = check_ins.iter().map(|c| c.at).min()?;
    let window_ends = started.plus_millis(i64::from(route.window_minutes) * 60_000);
    if now <= window_ends {
        return None;
    }
    let reached: BTreeSet<String> = check_ins
        .iter()
        .filter(|c| c.at <= window_ends)
        .map(|c| c.code.to_ascii_uppercase())
        .collect();
    Some(
        route
            .checkpoints
            .iter()
            .filter(|c| !reached.contains(&c.code.to_ascii_uppercase()))
            .map(|c| c.code.clone())
            .collect(),
    )
}
