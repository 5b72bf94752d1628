//! The allocation solver: which holdings should serve which demand lines.
//!
//! # The model
//!
//! Resource types never substitute for one another, so the problem splits into one
//! independent transportation problem per type. For one type the network has
//!
//! * a **holding node** per in-scope holding with stock, supplying its available quantity;
//! * a **line node** per demand line, demanding its quantity;
//! * a **slack node** `R` that balances the two: an arc holding → `R` (cost 0) carries
//!   stock left unused, an arc `R` → line (cost = the line's *shortage penalty*) carries the
//!   part of the line nobody serves;
//! * a **transport arc** holding → line for every pair where the holding can reach the
//!   delivery point in time (road km = great-circle km × road factor, hours = road km ÷
//!   speed, feasible iff hours ≤ hours left until needed-by), costing road km × the type's
//!   cost per unit-km, in hundredths (integer, so the simplex is exact).
//!
//! No arc needs a capacity: a holding's only inflow is its supply, so it never ships more
//! than it has, and a line's only outflow is its demand, so it never receives more than it
//! asks. A min-cost flow in this network is an allocation that minimises transport cost
//! plus shortage penalties.
//!
//! # Priorities are lexicographic
//!
//! Let the distinct priorities of the type's lines be ranked 1 (lowest) … m (highest),
//! let `C` bound the unit cost of every feasible arc (the type's cost for the longest road
//! any line could wait for) and `L` be the number of lines. Rank `r` gets the penalty
//! `P_r = r · G` with `G = L·C + 1`. Then the optimum serves as much as possible at the
//! highest priority, then at the next, and so on, and among those allocations it has the
//! least transport cost. Proof: equivalently give each rank a node `T_r` between `R` and
//! its lines (arc `R → T_r` costs `P_r`, `T_r → line` costs 0; same flows, same costs).
//! Suppose an allocation `y` beats the optimum `x` lexicographically, first at rank `k`.
//! The difference `y − x` decomposes into simple cycles of `x`'s residual network, each
//! moving flow in the same direction as `y − x` on every arc it uses (a conformal
//! decomposition), and each of non-negative cost because `x` is optimal. Some cycle uses
//! `R → T_k` backwards (less shortage at rank `k`). It leaves `R` again either along
//! `R → T_b` forwards, where `y` has more shortage than `x`, so `b < k` (ranks above `k` have
//! equal shortage in `x` and `y`, so no conformal cycle touches their arcs), or along some
//! `holding → R` backwards at cost 0. Elsewhere the cycle runs through holdings and lines;
//! each forward transport arc enters a different line, so that stretch costs at most `L·C`.
//! The cycle thus costs at most `−P_k + P_{k−1} + L·C = −G + L·C < 0` (or `−P_k + L·C <
//! 0`): a contradiction. Among allocations with the same service at every rank the
//! penalties are equal, so the optimum minimises transport cost. The penalties grow only
//! additively with `m`, so they fit in `i64` for any realistic instance; when they would
//! not, the solver refuses with [`AllocationError::CostRangeTooLarge`] rather than wrap.
//!
//! # Candidates, pricing and exactness
//!
//! Building every feasible arc would cost lines × holdings distance computations. Instead a
//! kiddo k-d tree over the type's holdings (as unit-sphere 3-D points; chord distance is
//! monotone in great-circle distance) gives each line its nearest on-time holdings, doubling
//! the count until they hold [`SolverTuning::coverage_factor`] times the line's quantity or
//! the next holding would be late. The network simplex ([`simplex`]) solves that restricted
//! network and returns node potentials `π` (with `π_R = 0`) such that every arc's reduced
//! cost `c + π_from − π_to` is non-negative.
//!
//! The restricted optimum is optimal for the **full** arc set exactly when no omitted
//! feasible arc has a negative reduced cost, so the solver prices them out: every holding
//! has `π_h ≥ 0` (its arc to `R` costs 0 and has non-negative reduced cost, and a holding
//! absent from the restricted network would sit on that arc with `π_h = 0`), hence an arc
//! `h → l` can have a negative reduced cost `c_hl + π_h − π_l` only if `c_hl < π_l`. Lines
//! with `π_l ≤ 0` need no search, and for the others only holdings whose road cost is below
//! `π_l` — a radius of `π_l ÷ (road factor × cost per km)` — intersected with the on-time
//! radius. Those arcs with negative reduced cost are added and the network re-solved
//! (column generation) until none remain; the arc set only grows, so this ends.
//!
//! [`baseline`] solves the same model by successive shortest paths over every feasible arc,
//! without the spatial index, as the benchmark's reference.
//!
//! # Explanations
//!
//! Each assignment says what it costs, when it arrives against when it is needed, and the
//! next-best holdings the line did not use with the reason: costlier (with the reduced cost,
//! the extra total cost per unit of forcing it in), used up by other lines (and whether one
//! of them outranks this one), or too late. A line left short lists the nearest holdings of
//! its type outside the requester's scope, so the shortfall can be escalated upward.

mod explain;
mod model;
mod restricted;
mod simplex;
mod spatial;

pub mod baseline;
pub mod instance;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::time::Timestamp;

/// The largest quantity a line may ask for or a holding may hold. Far above any real
/// stock, and low enough that quantities times costs stay exact in `i64`.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// The largest cost per unit and km accepted, in currency units.
pub const MAX_COST_PER_UNIT_KM: f64 = 1_000_000.0;

/// The largest road factor accepted: roads are longer than the great circle, not tenfold.
pub const MAX_ROAD_FACTOR: f64 = 10.0;

/// A point on Earth in decimal degrees, checked to be one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    latitude: f64,
    longitude: f64,
}

impl GeoPoint {
    /// Refuses NaN, infinities and values outside ±90° latitude or ±180° longitude, so no
    /// distance computed later can be NaN.
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, AllocationError> {
        let valid = latitude.is_finite()
            && longitude.is_finite()
            && (-90.0..=90.0).contains(&latitude)
            && (-180.0..=180.0).contains(&longitude);
        if valid {
            Ok(Self {
                latitude,
                longitude,
            })
        } else {
            Err(AllocationError::InvalidCoordinates {
                latitude,
                longitude,
            })
        }
    }

    pub fn latitude(self) -> f64 {
        self.latitude
    }

    pub fn longitude(self) -> f64 {
        self.longitude
    }
}

/// Identifies a demand line (the caller's id, e.g. the stored line's row id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DemandLineId(i64);

impl DemandLineId {
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for DemandLineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifies a holding (the caller's id, e.g. the potential record's row id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HoldingId(i64);

impl HoldingId {
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for HoldingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One line of a demand: so many units of a type, at a place, by a time.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandLine {
    id: DemandLineId,
    resource_type: String,
    quantity: i64,
    delivery_point: GeoPoint,
    needed_by: Timestamp,
    priority: u32,
}

impl DemandLine {
    /// A line asks for at least one unit and at most [`MAX_QUANTITY`]; higher `priority`
    /// is served first.
    pub fn new(
        id: DemandLineId,
        resource_type: impl Into<String>,
        quantity: i64,
        delivery_point: GeoPoint,
        needed_by: Timestamp,
        priority: u32,
    ) -> Result<Self, AllocationError> {
        let resource_type = resource_type.into();
        if resource_type.trim().is_empty() {
            return Err(AllocationError::MissingResourceType);
        }
        if quantity <= 0 {
            return Err(AllocationError::NonPositiveQuantity { line: id, quantity });
        }
        if quantity > MAX_QUANTITY {
            return Err(AllocationError::QuantityTooLarge { line: id, quantity });
        }
        Ok(Self {
            id,
            resource_type,
            quantity,
            delivery_point,
            needed_by,
            priority,
        })
    }

    pub fn id(&self) -> DemandLineId {
        self.id
    }

    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    pub fn quantity(&self) -> i64 {
        self.quantity
    }

    pub fn delivery_point(&self) -> GeoPoint {
        self.delivery_point
    }

    pub fn needed_by(&self) -> Timestamp {
        self.needed_by
    }

    pub fn priority(&self) -> u32 {
        self.priority
    }
}

/// Stock of one type at one place. Only holdings inside the requester's scope may be
/// allocated; the others are shown as sources to escalate a shortfall to.
#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    id: HoldingId,
    resource_type: String,
    available: i64,
    location: GeoPoint,
    in_scope: bool,
}

impl Holding {
    /// `available` may be zero (a holding fully reserved elsewhere) but not negative, and at
    /// most [`MAX_QUANTITY`].
    pub fn new(
        id: HoldingId,
        resource_type: impl Into<String>,
        available: i64,
        location: GeoPoint,
        in_scope: bool,
    ) -> Result<Self, AllocationError> {
        let resource_type = resource_type.into();
        if resource_type.trim().is_empty() {
            return Err(AllocationError::MissingResourceType);
        }
        if available < 0 {
            return Err(AllocationError::NegativeAvailable {
                holding: id,
                available,
            });
        }
        if available > MAX_QUANTITY {
            return Err(AllocationError::AvailableTooLarge {
                holding: id,
                available,
            });
        }
        Ok(Self {
            id,
            resource_type,
            available,
            location,
            in_scope,
        })
    }

    pub fn id(&self) -> HoldingId {
        self.id
    }

    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    pub fn available(&self) -> i64 {
        self.available
    }

    pub fn location(&self) -> GeoPoint {
        self.location
    }

    pub fn in_scope(&self) -> bool {
        self.in_scope
    }
}

/// How distance becomes cost and time.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportParameters {
    default_cost_per_unit_km: f64,
    cost_per_unit_km_by_type: BTreeMap<String, f64>,
    road_factor: f64,
    speed_km_per_hour: f64,
}

impl TransportParameters {
    /// `road_factor` (road km per great-circle km) must lie in 1..=[`MAX_ROAD_FACTOR`],
    /// `speed_km_per_hour` be positive and finite, and the cost per unit and km in
    /// 0..=[`MAX_COST_PER_UNIT_KM`].
    pub fn new(
        default_cost_per_unit_km: f64,
        road_factor: f64,
        speed_km_per_hour: f64,
    ) -> Result<Self, AllocationError> {
        check_cost(None, default_cost_per_unit_km)?;
        if !(road_factor.is_finite() && (1.0..=MAX_ROAD_FACTOR).contains(&road_factor)) {
            return Err(AllocationError::InvalidRoadFactor { road_factor });
        }
        if !(speed_km_per_hour.is_finite() && speed_km_per_hour > 0.0) {
            return Err(AllocationError::InvalidSpeed { speed_km_per_hour });
        }
        Ok(Self {
            default_cost_per_unit_km,
            cost_per_unit_km_by_type: BTreeMap::new(),
            road_factor,
            speed_km_per_hour,
        })
    }

    /// The same parameters with a cost of its own for one resource type.
    pub fn with_type_cost(
        mut self,
        resource_type: impl Into<String>,
        cost_per_unit_km: f64,
    ) -> Result<Self, AllocationError> {
        let resource_type = resource_type.into();
        check_cost(Some(&resource_type), cost_per_unit_km)?;
        self.cost_per_unit_km_by_type
            .insert(resource_type, cost_per_unit_km);
        Ok(self)
    }

    /// The cost of moving one unit of `resource_type` one road km.
    pub fn cost_per_unit_km(&self, resource_type: &str) -> f64 {
        self.cost_per_unit_km_by_type
            .get(resource_type)
            .copied()
            .unwrap_or(self.default_cost_per_unit_km)
    }

    pub fn road_factor(&self) -> f64 {
        self.road_factor
    }

    pub fn speed_km_per_hour(&self) -> f64 {
        self.speed_km_per_hour
    }
}

fn check_cost(resource_type: Option<&str>, cost: f64) -> Result<(), AllocationError> {
    if cost.is_finite() && (0.0..=MAX_COST_PER_UNIT_KM).contains(&cost) {
        Ok(())
    } else {
        Err(AllocationError::InvalidCostPerUnitKm {
            resource_type: resource_type.map(str::to_owned),
            cost,
        })
    }
}

/// Everything the solver needs: the time now, the lines, the holdings and the parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocationProblem {
    now: Timestamp,
    lines: Vec<DemandLine>,
    holdings: Vec<Holding>,
    parameters: TransportParameters,
}

impl AllocationProblem {
    /// Refuses two lines or two holdings with the same id: the result names them by id,
    /// and a holding listed twice could be allocated twice.
    pub fn new(
        now: Timestamp,
        lines: Vec<DemandLine>,
        holdings: Vec<Holding>,
        parameters: TransportParameters,
    ) -> Result<Self, AllocationError> {
        let mut line_ids = HashSet::with_capacity(lines.len());
        if let Some(line) = lines.iter().find(|line| !line_ids.insert(line.id)) {
            return Err(AllocationError::DuplicateDemandLine { line: line.id });
        }
        let mut holding_ids = HashSet::with_capacity(holdings.len());
        if let Some(holding) = holdings
            .iter()
            .find(|holding| !holding_ids.insert(holding.id))
        {
            return Err(AllocationError::DuplicateHolding {
                holding: holding.id,
            });
        }
        Ok(Self {
            now,
            lines,
            holdings,
            parameters,
        })
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    pub fn lines(&self) -> &[DemandLine] {
        &self.lines
    }

    pub fn holdings(&self) -> &[Holding] {
        &self.holdings
    }

    pub fn parameters(&self) -> &TransportParameters {
        &self.parameters
    }

    /// Hours from now until the line is needed (negative when already overdue).
    pub fn hours_available(&self, line: &DemandLine) -> f64 {
        let millis = line
            .needed_by
            .as_millis()
            .saturating_sub(self.now.as_millis());
        millis as f64 / 3_600_000.0
    }
}

/// Knobs that change how fast the solver gets to the optimum, never the optimum itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverTuning {
    /// The fewest on-time nearest holdings a line starts with (when that many exist).
    pub initial_candidates: usize,
    /// A line's candidates grow until their stock is this multiple of its quantity.
    pub coverage_factor: f64,
    /// At most this many priced-out arcs are added per line and round (the most negative).
    pub columns_per_line: usize,
}

impl Default for SolverTuning {
    fn default() -> Self {
        Self {
            initial_candidates: 4,
            coverage_factor: 2.0,
            columns_per_line: 16,
        }
    }
}

/// The proposed allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    assignments: Vec<Assignment>,
    lines: Vec<LineOutcome>,
    objective: AllocationObjective,
    pricing_rounds: usize,
}

impl Allocation {
    /// Every (line, holding, quantity) with a positive quantity, in line order, cheapest
    /// first within a line.
    pub fn assignments(&self) -> &[Assignment] {
        &self.assignments
    }

    /// One outcome per demand line, in the order the lines were given.
    pub fn lines(&self) -> &[LineOutcome] {
        &self.lines
    }

    pub fn objective(&self) -> &AllocationObjective {
        &self.objective
    }

    /// How many times column generation re-solved a type after pricing found missing arcs
    /// (summed over types); 0 when the spatial candidates were already enough.
    pub fn pricing_rounds(&self) -> usize {
        self.pricing_rounds
    }
}

/// Units of one holding sent to one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub line: DemandLineId,
    pub holding: HoldingId,
    pub quantity: i64,
    pub great_circle_km: f64,
    pub road_km: f64,
    pub travel_hours: f64,
    /// Transport cost of one unit, in hundredths of the currency unit.
    pub unit_cost_cents: i64,
    /// `quantity × unit_cost_cents`.
    pub cost_cents: i64,
    pub explanation: AssignmentExplanation,
}

/// Why an assignment was made, for the people who must sign it off.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentExplanation {
    /// Hours from now until the line is needed.
    pub needed_within_hours: f64,
    /// How much earlier than needed the units arrive.
    pub slack_hours: f64,
    /// Holdings the line does not use, cheapest first, and why not.
    pub alternatives: Vec<Alternative>,
}

/// A holding that could have served the line but did not.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    pub holding: HoldingId,
    pub great_circle_km: f64,
    pub travel_hours: f64,
    pub unit_cost_cents: i64,
    pub reason: AlternativeReason,
}

/// Why an alternative was passed over.
#[derive(Debug, Clone, PartialEq)]
pub enum AlternativeReason {
    /// It has stock left but costs more: `extra_cost_per_unit_cents` more per unit than the
    /// assignment (zero on a tie), and forcing one unit of it into the allocation would
    /// raise the total by `reduced_cost_cents`.
    Costlier {
        extra_cost_per_unit_cents: i64,
        reduced_cost_cents: i64,
    },
    /// All its stock went to other lines; `by_higher_priority` when one of them outranks
    /// this line.
    UsedUp {
        taken_by: Vec<DemandLineId>,
        by_higher_priority: bool,
    },
    /// It could not arrive by the needed-by time.
    TooLate,
}

/// What became of one demand line.
#[derive(Debug, Clone, PartialEq)]
pub struct LineOutcome {
    pub line: DemandLineId,
    pub requested: i64,
    pub served: i64,
    pub shortfall: i64,
    /// For a shortfall: the nearest holdings of the type outside the requester's scope,
    /// nearest first, until their stock covers the shortfall (at most a handful).
    pub escalation_sources: Vec<EscalationSource>,
    /// For a shortfall: the nearest in-scope holdings that have stock but cannot arrive by
    /// the needed-by time (a later needed-by would let them serve).
    pub too_late: Vec<Alternative>,
}

/// A holding outside the requester's scope that the level above could allocate.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationSource {
    pub holding: HoldingId,
    pub available: i64,
    pub great_circle_km: f64,
    pub travel_hours: f64,
    pub arrives_in_time: bool,
}

/// The quantity the solver optimises: service per priority (compared from the highest
/// priority down), then transport cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationObjective {
    /// One entry per priority present in the lines, highest priority first.
    pub service: Vec<PriorityService>,
    /// Total transport cost in hundredths of the currency unit.
    pub transport_cost_cents: i64,
}

/// Requested and served quantity of all lines of one priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityService {
    pub priority: u32,
    pub requested: i64,
    pub served: i64,
}

/// Why the solver refused. Every variant names what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AllocationError {
    #[error(
        "({latitude}, {longitude}) is not a point on Earth (latitude −90…90, longitude −180…180)"
    )]
    InvalidCoordinates { latitude: f64, longitude: f64 },
    #[error("a demand line or holding has no resource type")]
    MissingResourceType,
    #[error("demand line {line} asks for {quantity}; ask for at least 1")]
    NonPositiveQuantity { line: DemandLineId, quantity: i64 },
    #[error(
        "demand line {line} asks for {quantity}; the most one line may ask for is {MAX_QUANTITY}"
    )]
    QuantityTooLarge { line: DemandLineId, quantity: i64 },
    #[error("holding {holding} has {available} available; stock cannot be negative")]
    NegativeAvailable { holding: HoldingId, available: i64 },
    #[error("holding {holding} has {available} available; the most accepted is {MAX_QUANTITY}")]
    AvailableTooLarge { holding: HoldingId, available: i64 },
    #[error("demand line {line} appears twice")]
    DuplicateDemandLine { line: DemandLineId },
    #[error("holding {holding} appears twice")]
    DuplicateHolding { holding: HoldingId },
    #[error("road factor {road_factor} is outside 1…{MAX_ROAD_FACTOR}")]
    InvalidRoadFactor { road_factor: f64 },
    #[error("speed {speed_km_per_hour} km/h must be positive")]
    InvalidSpeed { speed_km_per_hour: f64 },
    #[error("cost per unit-km {cost} (type {resource_type:?}) is outside 0…{MAX_COST_PER_UNIT_KM}")]
    InvalidCostPerUnitKm {
        resource_type: Option<String>,
        cost: f64,
    },
    #[error(
        "the costs and quantities of type {resource_type} are too large to solve exactly; \
         lower the cost per unit-km or split the demand"
    )]
    CostRangeTooLarge { resource_type: String },
    #[error(
        "the solver did not converge for type {resource_type}; this is a defect, please report it"
    )]
    SolverFailed { resource_type: String },
}

impl AllocationError {
    /// The refusal in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        match self {
            AllocationError::InvalidCoordinates {
                latitude,
                longitude,
            } => format!("（{latitude}, {longitude}）不是地球上的点（纬度 −90…90，经度 −180…180）"),
            AllocationError::MissingResourceType => "有需求明细或潜力记录没有资源类型".into(),
            AllocationError::NonPositiveQuantity { line, quantity } => {
                format!("需求明细 {line} 的数量为 {quantity}；至少应为 1")
            }
            AllocationError::QuantityTooLarge { line, quantity } => {
                format!("需求明细 {line} 的数量为 {quantity}；一项明细最多 {MAX_QUANTITY}")
            }
            AllocationError::NegativeAvailable { holding, available } => {
                format!("潜力记录 {holding} 的可用数量为 {available}；库存不能为负")
            }
            AllocationError::AvailableTooLarge { holding, available } => {
                format!("潜力记录 {holding} 的可用数量为 {available}；最多接受 {MAX_QUANTITY}")
            }
            AllocationError::DuplicateDemandLine { line } => {
                format!("需求明细 {line} 出现了两次")
            }
            AllocationError::DuplicateHolding { holding } => {
                format!("潜力记录 {holding} 出现了两次")
            }
            AllocationError::InvalidRoadFactor { road_factor } => {
                format!("道路系数 {road_factor} 超出 1…{MAX_ROAD_FACTOR}")
            }
            AllocationError::InvalidSpeed { speed_km_per_hour } => {
                format!("速度 {speed_km_per_hour} 公里/小时须为正数")
            }
            AllocationError::InvalidCostPerUnitKm {
                resource_type,
                cost,
            } => {
                let of = match resource_type {
                    Some(code) => format!("类型 {code}"),
                    None => "默认".to_owned(),
                };
                format!("每单位每公里费用 {cost}（{of}）超出 0…{MAX_COST_PER_UNIT_KM}")
            }
            AllocationError::CostRangeTooLarge { resource_type } => format!(
                "类型 {resource_type} 的费用与数量过大，无法精确求解；请降低每单位每公里费用或拆分需求"
            ),
            AllocationError::SolverFailed { resource_type } => {
                format!("类型 {resource_type} 的求解未能收敛；这是程序缺陷，请报告")
            }
        }
    }
}

/// The optimal allocation with the default [`SolverTuning`].
pub fn solve(problem: &AllocationProblem) -> Result<Allocation, AllocationError> {
    solve_with(problem, &SolverTuning::default())
}

/// The optimal allocation: per resource type, candidate arcs from the spatial index, the
/// network simplex, and pricing over the full arc set until the result is exact.
///
/// Cost: O(L log H) for the candidate queries and tree building per type plus the simplex
/// on (lines + candidate holdings) nodes; pricing searches a bounded radius per line.
pub fn solve_with(
    problem: &AllocationProblem,
    tuning: &SolverTuning,
) -> Result<Allocation, AllocationError> {
    let mut parts = explain::AllocationParts::new(problem);
    for group in model::group_by_type(problem) {
        let solved = restricted::solve_type(problem, &group, tuning)?;
        parts.add_type(problem, &group, &solved);
    }
    Ok(parts.finish(problem))
}
