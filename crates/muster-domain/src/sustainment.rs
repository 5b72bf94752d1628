//! Sustainment: given a scenario of daily consumption, a surge and the production that
//! enterprises can add, how many days the stock of a region lasts, which type runs out
//! first, and how sure we are.
//!
//! * [`Scenario::new`] checks a scenario: per resource type a daily consumption, a
//!   [`SurgeSegment`] profile, [`ProductionSource`]s with a ramp-up, and the
//!   [`StockFigures`] of the subtree's verified potential.
//! * [`apply_adjustments`] applies what-ifs ([`Adjustment`]: add stock of a type, convert an
//!   enterprise to produce a type) and returns a new scenario.
//! * [`compute`] runs the scenario day by day and returns a [`SustainmentReport`]: for each
//!   type the day it runs out, the overall days of sustainment, the bottleneck, and the
//!   daily stock series for a chart, each as a [`Band`] of low / expected / high.
//! * [`demo_scenario`] generates a deterministic scenario with a clear bottleneck.
//!
//! # The model, one type, day `d` from 0
//!
//! ```text
//! need(d)        = daily consumption × surge multiplier(d)
//! production(d)  = Σ sources: full rate × min(1, (d − start + 1) / (ramp days + 1)), 0 before start
//! available(d)   = stock at the end of day d−1 + production(d)
//! stock(d)       = max(0, available(d) − need(d))
//! ```
//!
//! The type **runs out** on the first day whose need cannot be met in full from what is
//! available (within a relative tolerance of 10⁻⁹, so that a stock of exactly ten days
//! does not "run out" on day 9 by a rounding error); it **lasts** that many days, or the
//! whole horizon. Production keeps flowing after a type runs out, so its stock can recover;
//! the day it first ran out is what counts. The surge multiplier is 1 before the first
//! segment and each segment's multiplier from its start day to the next segment's.
//!
//! A ramp of `r` days reaches full rate on day `start + r`: with `r = 3` a converted line
//! makes ¼, ½, ¾ of its rate on its first three days.
//!
//! # The band
//!
//! Stock figures are uncertain in two ways the survey knows about: part of them was never
//! verified on site, and all of them age. The band makes that visible:
//!
//! ```text
//! high     = verified + unverified + added
//! low      = (verified + unverified × unverified share) × (1 − decay per 30 days)^(age days / 30) + added
//! expected = (low + high) / 2
//! ```
//!
//! with the [`DiscountPolicy`] defaults of an unverified share of 0.5 (verification in one
//! city found first listings off by a factor of two either way) and a decay of 5 % per 30
//! days (stock is consumed, moved and spoiled while nobody looks). Stock `added` by a what-if
//! is in hand, so it counts in full everywhere. With no better knowledge of which end is
//! nearer, the expected figure is the middle of the band. The band is zero-width for fresh,
//! fully verified figures and widens as they go stale or unverified.
//!
//! Each day's stock is non-decreasing in the starting stock (`max(0, x + p − n)` is, and
//! IEEE rounding is monotone), so low ≤ expected ≤ high holds for every day and every
//! count of days, and adding stock never shortens anything.
//!
//! # Cost
//!
//! O((types + production sources + surge segments) × days): one pass per type over the
//! days, the three estimates side by side. The only allocations are the report's series
//! and two scratch buffers of one horizon each, reused across types. A province of 50 types
//! over 365 days is about 55,000 steps.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The longest horizon a scenario may run: a year.
pub const MAX_HORIZON_DAYS: u16 = 365;

/// The most resource types one scenario may have.
pub const MAX_TYPES: usize = 5_000;

/// The most surge segments or production sources one type may have.
pub const MAX_ENTRIES_PER_TYPE: usize = 1_000;

/// The largest quantity or rate accepted. Far beyond any stock, it keeps every sum of a
/// year's figures finite.
pub const MAX_QUANTITY: f64 = 1e15;

/// The largest surge multiplier accepted.
pub const MAX_MULTIPLIER: f64 = 1_000.0;

/// The relative tolerance with which a day's need counts as met: see the module docs.
const MET_TOLERANCE: f64 = 1e-9;

/// From `from_day` on (until the next segment), consumption is multiplied by `multiplier`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SurgeSegment {
    pub from_day: u16,
    pub multiplier: f64,
}

/// Production an enterprise can add from `start_day`, ramping up linearly over `ramp_days`
/// to `full_rate_per_day`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductionSource {
    /// Who produces: an enterprise's name or id, for the table.
    pub source: String,
    pub full_rate_per_day: f64,
    pub start_day: u16,
    pub ramp_days: u16,
}

/// What the subtree holds of one type, from its potential records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StockFigures {
    /// Quantity confirmed by on-site verification.
    pub verified: f64,
    /// Quantity reported but never verified on site.
    pub unverified: f64,
    /// How old the figures are, in days (since the last verification or report).
    pub age_days: u32,
    /// Stock added by a what-if ([`Adjustment::AddStock`]): in hand, counted in full.
    pub added: f64,
}

/// One resource type of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeScenario {
    pub type_code: String,
    pub daily_consumption: f64,
    /// Segments in strictly increasing `from_day` order; empty means no surge.
    pub surge: Vec<SurgeSegment>,
    pub production: Vec<ProductionSource>,
    pub stock: StockFigures,
}

/// A checked scenario: types sorted by code and unique, every number finite and in range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    horizon_days: u16,
    types: Vec<TypeScenario>,
}

/// One thing wrong with a scenario; all are reported at once.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScenarioProblem {
    #[error("horizon_days: expected 1 to {MAX_HORIZON_DAYS}, found {found}")]
    BadHorizon { found: u16 },
    #[error("types: {count} types, more than the {MAX_TYPES} a scenario may have")]
    TooManyTypes { count: usize },
    #[error("types[{index}].type_code: choose a resource type")]
    TypeCodeMissing { index: usize },
    #[error("types[{index}].type_code: {type_code:?} appears twice: give each type once")]
    DuplicateType { index: usize, type_code: String },
    #[error("{type_code}.{field}: expected {expected}, found {found}")]
    BadNumber {
        type_code: String,
        field: String,
        expected: &'static str,
        found: f64,
    },
    #[error("{type_code}.{field}: at most {MAX_ENTRIES_PER_TYPE} entries, found {found}")]
    TooManyEntries {
        type_code: String,
        field: &'static str,
        found: usize,
    },
    #[error("{type_code}.surge[{index}].from_day: segments must start on strictly increasing days")]
    SurgeOutOfOrder { type_code: String, index: usize },
}

const NON_NEGATIVE: &str = "a finite number from 0 to 10^15";
const MULTIPLIER: &str = "a finite multiplier from 0 to 1000";

/// What a number was expected to be ([`NON_NEGATIVE`], [`MULTIPLIER`], [`POSITIVE`]), in
/// Chinese; a text not listed here stays as it is.
fn expected_zh(expected: &str) -> &str {
    match expected {
        NON_NEGATIVE => "介于 0 至 10^15 之间的有限数",
        MULTIPLIER => "介于 0 至 1000 之间的有限倍数",
        POSITIVE => "大于 0、至多 10^15 的有限数",
        other => other,
    }
}

impl ScenarioProblem {
    /// The problem in Chinese, for the Chinese pages: the same field path as the English
    /// (`WATER.daily_consumption`), then `：` and the message, with no `；` inside, so that a
    /// list of them joins with `；`.
    pub fn zh(&self) -> String {
        match self {
            ScenarioProblem::BadHorizon { found } => {
                format!("horizon_days：应为 1 至 {MAX_HORIZON_DAYS} 天，实为 {found}")
            }
            ScenarioProblem::TooManyTypes { count } => {
                format!("types：共 {count} 个类型，一个情景最多 {MAX_TYPES} 个")
            }
            ScenarioProblem::TypeCodeMissing { index } => {
                format!("types[{index}].type_code：请选择资源类型")
            }
            ScenarioProblem::DuplicateType { index, type_code } => {
                format!("types[{index}].type_code：{type_code:?} 出现了两次，每个类型只列一次")
            }
            ScenarioProblem::BadNumber {
                type_code,
                field,
                expected,
                found,
            } => format!(
                "{type_code}.{field}：应为{}，实为 {found}",
                expected_zh(expected)
            ),
            ScenarioProblem::TooManyEntries {
                type_code,
                field,
                found,
            } => format!("{type_code}.{field}：最多 {MAX_ENTRIES_PER_TYPE} 项，实为 {found} 项"),
            ScenarioProblem::SurgeOutOfOrder { type_code, index } => {
                format!("{type_code}.surge[{index}].from_day：各激增时段的起始日须严格递增")
            }
        }
    }
}

impl Scenario {
    /// Checks a scenario of `horizon_days` (1 to 365). Types are sorted by code, so the
    /// report's order never depends on the order they were listed in.
    pub fn new(
        horizon_days: u16,
        mut types: Vec<TypeScenario>,
    ) -> Result<Scenario, Vec<ScenarioProblem>> {
        let mut problems = Vec::new();
        if !(1..=MAX_HORIZON_DAYS).contains(&horizon_days) {
            problems.push(ScenarioProblem::BadHorizon {
                found: horizon_days,
            });
        }
        if types.len() > MAX_TYPES {
            problems.push(ScenarioProblem::TooManyTypes { count: types.len() });
            return Err(problems);
        }
        let mut codes = BTreeSet::new();
        for (index, scenario) in types.iter_mut().enumerate() {
            scenario.type_code = scenario.type_code.trim().to_owned();
            if scenario.type_code.is_empty() {
                problems.push(ScenarioProblem::TypeCodeMissing { index });
            } else if !codes.insert(scenario.type_code.clone()) {
                problems.push(ScenarioProblem::DuplicateType {
                    index,
                    type_code: scenario.type_code.clone(),
                });
            }
            check_type(scenario, &mut problems);
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        types.sort_by(|a, b| a.type_code.cmp(&b.type_code));
        Ok(Scenario {
            horizon_days,
            types,
        })
    }

    pub const fn horizon_days(&self) -> u16 {
        self.horizon_days
    }

    pub fn types(&self) -> &[TypeScenario] {
        &self.types
    }
}

fn check_type(scenario: &TypeScenario, problems: &mut Vec<ScenarioProblem>) {
    let code = &scenario.type_code;
    let mut number = |field: String, value: f64, max: f64, expected: &'static str| {
        if !(value.is_finite() && (0.0..=max).contains(&value)) {
            problems.push(ScenarioProblem::BadNumber {
                type_code: code.clone(),
                field,
                expected,
                found: value,
            });
        }
    };
    number(
        "daily_consumption".into(),
        scenario.daily_consumption,
        MAX_QUANTITY,
        NON_NEGATIVE,
    );
    number(
        "stock.verified".into(),
        scenario.stock.verified,
        MAX_QUANTITY,
        NON_NEGATIVE,
    );
    number(
        "stock.unverified".into(),
        scenario.stock.unverified,
        MAX_QUANTITY,
        NON_NEGATIVE,
    );
    number(
        "stock.added".into(),
        scenario.stock.added,
        MAX_QUANTITY,
        NON_NEGATIVE,
    );
    for (index, segment) in scenario.surge.iter().enumerate() {
        number(
            format!("surge[{index}].multiplier"),
            segment.multiplier,
            MAX_MULTIPLIER,
            MULTIPLIER,
        );
    }
    for (index, source) in scenario.production.iter().enumerate() {
        number(
            format!("production[{index}].full_rate_per_day"),
            source.full_rate_per_day,
            MAX_QUANTITY,
            NON_NEGATIVE,
        );
    }
    for (field, found) in [
        ("surge", scenario.surge.len()),
        ("production", scenario.production.len()),
    ] {
        if found > MAX_ENTRIES_PER_TYPE {
            problems.push(ScenarioProblem::TooManyEntries {
                type_code: code.clone(),
                field,
                found,
            });
        }
    }
    for (index, pair) in scenario.surge.windows(2).enumerate() {
        if pair[1].from_day <= pair[0].from_day {
            problems.push(ScenarioProblem::SurgeOutOfOrder {
                type_code: code.clone(),
                index: index + 1,
            });
        }
    }
}

// ---------------------------------------------------------------------------------------
// What-ifs
// ---------------------------------------------------------------------------------------

/// A change to try on a scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Adjustment {
    /// Add `quantity` of a type, in hand from day 0 (a delivery from the level above, a
    /// purchase).
    AddStock { type_code: String, quantity: f64 },
    /// Convert an enterprise to produce a type: production from `start_day`, ramping up
    /// over `ramp_days` to `full_rate_per_day`.
    ConvertEnterprise {
        enterprise: String,
        type_code: String,
        full_rate_per_day: f64,
        start_day: u16,
        ramp_days: u16,
    },
}

/// Why a what-if could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AdjustmentError {
    #[error("adjustments[{index}].type_code: {type_code:?} is not in the scenario")]
    UnknownType { index: usize, type_code: String },
    #[error("adjustments[{index}].{field}: expected {expected}, found {found}")]
    BadNumber {
        index: usize,
        field: &'static str,
        expected: &'static str,
        found: f64,
    },
    #[error("adjustments[{index}].enterprise: name the enterprise")]
    EnterpriseMissing { index: usize },
    #[error("the adjusted scenario is not valid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Scenario(Vec<ScenarioProblem>),
}

const POSITIVE: &str = "a finite number greater than 0, at most 10^15";

impl AdjustmentError {
    /// The refusal in Chinese, for the Chinese pages: the same field path as the English
    /// (`adjustments[0].quantity`), then `：` and the message.
    pub fn zh(&self) -> String {
        match self {
            AdjustmentError::UnknownType { index, type_code } => {
                format!("adjustments[{index}].type_code：{type_code:?} 不在该情景中")
            }
            AdjustmentError::BadNumber {
                index,
                field,
                expected,
                found,
            } => format!(
                "adjustments[{index}].{field}：应为{}，实为 {found}",
                expected_zh(expected)
            ),
            AdjustmentError::EnterpriseMissing { index } => {
                format!("adjustments[{index}].enterprise：请填写企业名称")
            }
            AdjustmentError::Scenario(problems) => format!(
                "调整后的情景无效：{}",
                problems
                    .iter()
                    .map(ScenarioProblem::zh)
                    .collect::<Vec<_>>()
                    .join("；")
            ),
        }
    }
}

/// The scenario with `adjustments` applied in order. The scenario given is not changed, so
/// a page can compare the two.
pub fn apply_adjustments(
    scenario: &Scenario,
    adjustments: &[Adjustment],
) -> Result<Scenario, AdjustmentError> {
    let mut types = scenario.types.clone();
    for (index, adjustment) in adjustments.iter().enumerate() {
        let (type_code, field, value) = match adjustment {
            Adjustment::AddStock {
                type_code,
                quantity,
            } => (type_code, "quantity", *quantity),
            Adjustment::ConvertEnterprise {
                type_code,
                full_rate_per_day,
                ..
            } => (type_code, "full_rate_per_day", *full_rate_per_day),
        };
        if !(value.is_finite() && value > 0.0 && value <= MAX_QUANTITY) {
            return Err(AdjustmentError::BadNumber {
                index,
                field,
                expected: POSITIVE,
                found: value,
            });
        }
        // Types are sorted by code in a checked scenario.
        let position = types
            .binary_search_by(|t| t.type_code.as_str().cmp(type_code.trim()))
            .map_err(|_| AdjustmentError::UnknownType {
                index,
                type_code: type_code.clone(),
            })?;
        let target = &mut types[position];
        match adjustment {
            Adjustment::AddStock { quantity, .. } => target.stock.added += quantity,
            Adjustment::ConvertEnterprise {
                enterprise,
                full_rate_per_day,
                start_day,
                ramp_days,
                ..
            } => {
                let enterprise = enterprise.trim();
                if enterprise.is_empty() {
                    return Err(AdjustmentError::EnterpriseMissing { index });
                }
                target.production.push(ProductionSource {
                    source: enterprise.to_owned(),
                    full_rate_per_day: *full_rate_per_day,
                    start_day: *start_day,
                    ramp_days: *ramp_days,
                });
            }
        }
    }
    Scenario::new(scenario.horizon_days, types).map_err(AdjustmentError::Scenario)
}

// ---------------------------------------------------------------------------------------
// Computing
// ---------------------------------------------------------------------------------------

/// How the low estimate discounts uncertain figures. Built with [`DiscountPolicy::new`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DiscountPolicy {
    unverified_share: f64,
    decay_per_30_days: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DiscountPolicyError {
    #[error("unverified_share: expected a fraction from 0 to 1, found {0}")]
    BadUnverifiedShare(f64),
    #[error("decay_per_30_days: expected a fraction from 0 to 1 (0.05 is 5 %), found {0}")]
    BadDecay(f64),
}

impl DiscountPolicy {
    pub fn new(unverified_share: f64, decay_per_30_days: f64) -> Result<Self, DiscountPolicyError> {
        if !(0.0..=1.0).contains(&unverified_share) {
            return Err(DiscountPolicyError::BadUnverifiedShare(unverified_share));
        }
        if !(0.0..=1.0).contains(&decay_per_30_days) {
            return Err(DiscountPolicyError::BadDecay(decay_per_30_days));
        }
        Ok(Self {
            unverified_share,
            decay_per_30_days,
        })
    }

    pub const fn unverified_share(&self) -> f64 {
        self.unverified_share
    }

    pub const fn decay_per_30_days(&self) -> f64 {
        self.decay_per_30_days
    }

    /// The starting stock of one type as low / expected / high (see the module docs).
    pub fn initial_stock(&self, stock: &StockFigures) -> Band<f64> {
        let freshness = (1.0 - self.decay_per_30_days).powf(f64::from(stock.age_days) / 30.0);
        // Written so that each figure is non-decreasing in every input under IEEE
        // rounding (halving is exact), which is what makes "adding stock never shortens
        // the days" hold exactly, not just nearly.
        let high = stock.verified + stock.unverified + stock.added;
        let low = ((stock.verified + stock.unverified * self.unverified_share) * freshness
            + stock.added)
            .min(high);
        Band {
            low,
            expected: (0.5 * low + 0.5 * high).max(low).min(high),
            high,
        }
    }
}

impl Default for DiscountPolicy {
    /// Unverified figures counted at 50 %; 5 % decay per 30 days of age.
    fn default() -> Self {
        Self {
            unverified_share: 0.5,
            decay_per_30_days: 0.05,
        }
    }
}

/// A figure as low / expected / high; always `low ≤ expected ≤ high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Band<T> {
    pub low: T,
    pub expected: T,
    pub high: T,
}

/// One type's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeSustainment {
    pub type_code: String,
    pub initial_stock: Band<f64>,
    /// The first day (from 0) whose need cannot be met in full; `None` if it lasts the
    /// horizon.
    pub runs_out_day: Band<Option<u16>>,
    /// The days the type lasts: `runs_out_day`, or the horizon.
    pub days_lasted: Band<u16>,
    /// The stock that would have to be added on day 0 for the type to last the horizon:
    /// the largest amount by which need outruns production up to any day, less the
    /// starting stock. Zero when it lasts already: the answer to "what would fix that".
    pub extra_stock_to_last_horizon: Band<f64>,
    /// Stock at the end of each day, one entry per day of the horizon.
    pub series: Vec<Band<f64>>,
}

/// The type that runs out first, by the expected estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bottleneck {
    pub type_code: String,
    pub runs_out_day: u16,
}

/// The result of [`compute`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SustainmentReport {
    pub horizon_days: u16,
    /// In type code order.
    pub types: Vec<TypeSustainment>,
    /// The minimum of the types' days lasted, per estimate: the horizon when every type
    /// lasts it (or there are no types).
    pub days_of_sustainment: Band<u16>,
    /// `None` when every type lasts the horizon. Ties go to the type that runs out first
    /// in the low estimate, then to the lowest code.
    pub bottleneck: Option<Bottleneck>,
}

/// Runs the scenario; see the module docs for the model and the band. Never fails: a
/// checked scenario has nothing left that could.
pub fn compute(scenario: &Scenario, policy: &DiscountPolicy) -> SustainmentReport {
    let horizon = usize::from(scenario.horizon_days);
    // Scratch buffers, reused by every type.
    let mut need = vec![0.0f64; horizon];
    let mut production = vec![0.0f64; horizon];
    let mut types = Vec::with_capacity(scenario.types.len());
    for type_scenario in &scenario.types {
        fill_need(type_scenario, &mut need);
        fill_production(type_scenario, &mut production);
        types.push(run_type(type_scenario, policy, &need, &production));
    }

    let horizon_days = scenario.horizon_days;
    let min_days = |pick: fn(&Band<u16>) -> u16| {
        types
            .iter()
            .map(|t| pick(&t.days_lasted))
            .min()
            .unwrap_or(horizon_days)
    };
    let days_of_sustainment = Band {
        low: min_days(|b| b.low),
        expected: min_days(|b| b.expected),
        high: min_days(|b| b.high),
    };
    let bottleneck = types
        .iter()
        .filter_map(|t| {
            t.runs_out_day
                .expected
                .map(|day| (day, t.days_lasted.low, t))
        })
        .min_by(|a, b| (a.0, a.1, &a.2.type_code).cmp(&(b.0, b.1, &b.2.type_code)))
        .map(|(day, _, t)| Bottleneck {
            type_code: t.type_code.clone(),
            runs_out_day: day,
        });
    SustainmentReport {
        horizon_days,
        types,
        days_of_sustainment,
        bottleneck,
    }
}

/// Consumption times the surge multiplier for each day. O(days + segments).
fn fill_need(scenario: &TypeScenario, need: &mut [f64]) {
    let mut segments = scenario.surge.iter().peekable();
    let mut multiplier = 1.0;
    for (day, slot) in need.iter_mut().enumerate() {
        while let Some(segment) = segments.next_if(|s| usize::from(s.from_day) <= day) {
            multiplier = segment.multiplier;
        }
        *slot = scenario.daily_consumption * multiplier;
    }
}

/// The sum of every source's production for each day. O(sources × days).
fn fill_production(scenario: &TypeScenario, production: &mut [f64]) {
    production.fill(0.0);
    for source in &scenario.production {
        let start = usize::from(source.start_day);
        let ramp = f64::from(source.ramp_days) + 1.0;
        for (offset, slot) in production.iter_mut().skip(start).enumerate() {
            let share = ((offset as f64 + 1.0) / ramp).min(1.0);
            *slot += source.full_rate_per_day * share;
        }
    }
}

/// The three estimates of one type, side by side, in one pass over the days.
fn run_type(
    scenario: &TypeScenario,
    policy: &DiscountPolicy,
    need: &[f64],
    production: &[f64],
) -> TypeSustainment {
    let initial = policy.initial_stock(&scenario.stock);
    let mut stock = [initial.low, initial.expected, initial.high];
    let mut runs_out: [Option<u16>; 3] = [None; 3];
    let mut series = Vec::with_capacity(need.len());
    // The largest cumulative need net of production: what the stock must cover.
    let mut cumulative_net = 0.0f64;
    let mut peak_net = 0.0f64;
    for (day, (&need, &produced)) in need.iter().zip(production).enumerate() {
        cumulative_net += need - produced;
        peak_net = peak_net.max(cumulative_net);
        for (estimate, ran_out) in stock.iter_mut().zip(runs_out.iter_mut()) {
            let available = *estimate + produced;
            if ran_out.is_none() && available + MET_TOLERANCE * need.max(1.0) < need {
                *ran_out = Some(u16::try_from(day).unwrap_or(u16::MAX));
            }
            *estimate = (available - need).max(0.0);
        }
        series.push(Band {
            low: stock[0],
            expected: stock[1],
            high: stock[2],
        });
    }
    let horizon = u16::try_from(need.len()).unwrap_or(u16::MAX);
    let lasted = |ran_out: Option<u16>| ran_out.unwrap_or(horizon);
    let extra = |start: f64| {
        if start + MET_TOLERANCE * peak_net.max(1.0) >= peak_net {
            0.0
        } else {
            peak_net - start
        }
    };
    TypeSustainment {
        type_code: scenario.type_code.clone(),
        initial_stock: initial,
        runs_out_day: Band {
            low: runs_out[0],
            expected: runs_out[1],
            high: runs_out[2],
        },
        days_lasted: Band {
            low: lasted(runs_out[0]),
            expected: lasted(runs_out[1]),
            high: lasted(runs_out[2]),
        },
        extra_stock_to_last_horizon: Band {
            low: extra(initial.low),
            expected: extra(initial.expected),
            high: extra(initial.high),
        },
        series,
    }
}

// ---------------------------------------------------------------------------------------
// Demo
// ---------------------------------------------------------------------------------------

/// A deterministic scenario over 365 days for `muster demo` and the benchmark: one type per
/// code given (the taxonomy's, say 50), a surge of ×3 for days 0–6 and ×1.5 after, and one
/// type — chosen by the seed — with about two weeks of stock, half of it unverified and
/// four months old, while every other type lasts at least ninety days even in the low
/// estimate. Some types get converted production from day 10 to 40. The same seed and codes
/// give the same scenario.
pub fn demo_scenario(seed: u64, type_codes: &[String]) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut codes: Vec<String> = type_codes
        .iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    codes.sort();
    codes.dedup();
    codes.truncate(MAX_TYPES);
    let bottleneck = if codes.is_empty() {
        0
    } else {
        rng.random_range(0..codes.len())
    };
    let surge = vec![
        SurgeSegment {
            from_day: 0,
            multiplier: 3.0,
        },
        SurgeSegment {
            from_day: 7,
            multiplier: 1.5,
        },
    ];
    let types = codes
        .into_iter()
        .enumerate()
        .map(|(index, type_code)| {
            let consumption = rng.random_range(10.0f64..1_000.0).round();
            let (stock, production) = if index == bottleneck {
                (
                    StockFigures {
                        verified: (consumption * 15.0).round(),
                        unverified: (consumption * 15.0).round(),
                        age_days: 120,
                        added: 0.0,
                    },
                    Vec::new(),
                )
            } else {
                let production = if rng.random_bool(0.3) {
                    vec![ProductionSource {
                        source: format!("Enterprise {}", index + 1),
                        full_rate_per_day: (consumption * rng.random_range(0.2..0.8)).round(),
                        start_day: rng.random_range(10..=40),
                        ramp_days: rng.random_range(7..=30),
                    }]
                } else {
                    Vec::new()
                };
                (
                    StockFigures {
                        verified: (consumption * rng.random_range(220.0..400.0)).round(),
                        unverified: (consumption * rng.random_range(0.0..100.0)).round(),
                        age_days: rng.random_range(0..=180),
                        added: 0.0,
                    },
                    production,
                )
            };
            TypeScenario {
                type_code,
                daily_consumption: consumption,
                surge: surge.clone(),
                production,
                stock,
            }
        })
        .collect();
    // Every figure above is finite, non-negative and in range, and the codes are unique.
    Scenario::new(MAX_HORIZON_DAYS, types).unwrap_or(Scenario {
        horizon_days: MAX_HORIZON_DAYS,
        types: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
