//! What both solvers share: grouping by type, arcs with their distance, time and cost, the
//! shortage penalties, and the objective of a finished allocation.

use std::collections::BTreeMap;

use super::spatial::{MAX_GREAT_CIRCLE_KM, distance_km};
use super::{AllocationError, AllocationObjective, AllocationProblem, PriorityService};

/// The lines and holdings (indices into the problem) of one resource type.
#[derive(Debug)]
pub(crate) struct TypeGroup<'a> {
    pub resource_type: &'a str,
    pub lines: Vec<usize>,
    /// In-scope holdings with stock: the only ones that may be allocated.
    pub in_scope: Vec<usize>,
    /// Out-of-scope holdings with stock: escalation sources only.
    pub out_of_scope: Vec<usize>,
}

/// Groups by type in the order of the type codes, so results never depend on hashing.
/// Types with holdings but no lines are left out: there is nothing to allocate.
pub(crate) fn group_by_type(problem: &AllocationProblem) -> Vec<TypeGroup<'_>> {
    let mut groups: BTreeMap<&str, TypeGroup<'_>> = BTreeMap::new();
    for (index, line) in problem.lines().iter().enumerate() {
        let resource_type = line.resource_type();
        groups
            .entry(resource_type)
            .or_insert_with(|| TypeGroup {
                resource_type,
                lines: Vec::new(),
                in_scope: Vec::new(),
                out_of_scope: Vec::new(),
            })
            .lines
            .push(index);
    }
    for (index, holding) in problem.holdings().iter().enumerate() {
        let Some(group) = groups.get_mut(holding.resource_type()) else {
            continue;
        };
        if holding.available() == 0 {
            continue;
        }
        if holding.in_scope() {
            group.in_scope.push(index);
        } else {
            group.out_of_scope.push(index);
        }
    }
    groups.into_values().collect()
}

/// A holding → line pair with its geometry and cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Arc {
    pub line: usize,
    pub holding: usize,
    pub great_circle_km: f64,
    pub travel_hours: f64,
    pub unit_cost: i64,
    pub on_time: bool,
}

impl Arc {
    pub fn road_km(&self, problem: &AllocationProblem) -> f64 {
        self.great_circle_km * problem.parameters().road_factor()
    }
}

/// Measures the pair; every solver and test uses this one function so that "on time" and
/// "cost" mean the same everywhere.
pub(crate) fn measure(problem: &AllocationProblem, line: usize, holding: usize) -> Arc {
    let demand = &problem.lines()[line];
    let stock = &problem.holdings()[holding];
    let great_circle_km = distance_km(demand.delivery_point(), stock.location());
    let parameters = problem.parameters();
    let road_km = great_circle_km * parameters.road_factor();
    let travel_hours = road_km / parameters.speed_km_per_hour();
    Arc {
        line,
        holding,
        great_circle_km,
        travel_hours,
        unit_cost: unit_cost(road_km, parameters.cost_per_unit_km(demand.resource_type())),
        on_time: travel_hours <= problem.hours_available(demand),
    }
}

/// Cost of one unit over `road_km`, in hundredths, rounded to the nearest.
pub(crate) fn unit_cost(road_km: f64, cost_per_unit_km: f64) -> i64 {
    (road_km * cost_per_unit_km * 100.0).round() as i64
}

/// The great-circle radius within which a holding can still reach the line in time.
pub(crate) fn on_time_radius_km(problem: &AllocationProblem, line: usize) -> f64 {
    let parameters = problem.parameters();
    let hours = problem.hours_available(&problem.lines()[line]);
    (hours * parameters.speed_km_per_hour() / parameters.road_factor())
        .clamp(0.0, MAX_GREAT_CIRCLE_KM)
}

/// Shortage penalty per priority for one type (see the module doc for why these values
/// make the objective lexicographic), and the bound on any feasible arc's unit cost.
#[derive(Debug, Clone)]
pub(crate) struct Penalties {
    by_priority: BTreeMap<u32, i64>,
}

impl Penalties {
    pub fn of(&self, priority: u32) -> i64 {
        self.by_priority.get(&priority).copied().unwrap_or(0)
    }
}

/// Keeps potentials and totals far from `i64` overflow: reduced costs add three of them.
const SAFE_MAGNITUDE: i128 = (i64::MAX / 8) as i128;

pub(crate) fn penalties(
    problem: &AllocationProblem,
    group: &TypeGroup<'_>,
) -> Result<Penalties, AllocationError> {
    let too_large = || AllocationError::CostRangeTooLarge {
        resource_type: group.resource_type.to_owned(),
    };
    let cost_per_unit_km = problem.parameters().cost_per_unit_km(group.resource_type);
    let road_factor = problem.parameters().road_factor();
    let max_unit_cost = group
        .lines
        .iter()
        .map(|&line| {
            unit_cost(
                on_time_radius_km(problem, line) * road_factor,
                cost_per_unit_km,
            )
        })
        .max()
        .unwrap_or(0) as i128;
    let line_count = group.lines.len() as i128;
    let gap = line_count * max_unit_cost + 1;
    let mut priorities: Vec<u32> = group
        .lines
        .iter()
        .map(|&line| problem.lines()[line].priority())
        .collect();
    priorities.sort_unstable();
    priorities.dedup();
    let top_penalty = gap * priorities.len() as i128;
    let node_count = line_count + group.in_scope.len() as i128;
    let potential_bound = 2 * top_penalty + node_count * max_unit_cost;
    let quantity: i128 = group
        .lines
        .iter()
        .map(|&line| problem.lines()[line].quantity() as i128)
        .sum();
    let total_bound = quantity * (max_unit_cost + top_penalty);
    if potential_bound > SAFE_MAGNITUDE || total_bound > SAFE_MAGNITUDE {
        return Err(too_large());
    }
    let by_priority = priorities
        .into_iter()
        .zip(1i128..)
        .map(|(priority, rank)| (priority, (rank * gap) as i64))
        .collect();
    Ok(Penalties { by_priority })
}

/// Service per priority and transport cost of a set of (line, unit cost, quantity) flows.
pub(crate) fn objective(
    problem: &AllocationProblem,
    flows: impl IntoIterator<Item = (usize, i64, i64)>,
) -> AllocationObjective {
    let mut service: BTreeMap<u32, PriorityService> = BTreeMap::new();
    for line in problem.lines() {
        let entry = service.entry(line.priority()).or_insert(PriorityService {
            priority: line.priority(),
            requested: 0,
            served: 0,
        });
        entry.requested += line.quantity();
    }
    let mut transport_cost_cents = 0i64;
    for (line, unit_cost, quantity) in flows {
        if let Some(entry) = service.get_mut(&problem.lines()[line].priority()) {
            entry.served += quantity;
        }
        transport_cost_cents =
            transport_cost_cents.saturating_add(unit_cost.saturating_mul(quantity));
    }
    AllocationObjective {
        service: service.into_values().rev().collect(),
        transport_cost_cents,
    }
}
