//! One resource type solved exactly: spatial candidates, the network simplex on the
//! restricted network, then pricing of the omitted arcs until none would improve it.

use std::collections::{HashMap, HashSet};

use super::model::{self, Arc, Penalties, TypeGroup};
use super::simplex::{self, SimplexSolution};
use super::spatial::HoldingIndex;
use super::{AllocationError, AllocationProblem, SolverTuning};

/// How many late holdings nearer than the time radius are kept per line, for explanations.
const LATE_KEPT_PER_LINE: usize = 3;

/// The optimum of one type with what the explanations need.
#[derive(Debug)]
pub(super) struct SolvedType {
    /// Every arc the final network had (candidates and priced-in columns).
    pub arcs: Vec<Arc>,
    /// Flow on each arc of `arcs`.
    pub flows: Vec<i64>,
    /// Potential of each line of the group, in the group's line order.
    pub line_potentials: Vec<i64>,
    /// Potential of each holding in the network (others have 0).
    pub holding_potentials: HashMap<usize, i64>,
    /// Per group line: the nearest holdings that could not arrive in time.
    pub too_late: Vec<Vec<Arc>>,
    /// Out-of-scope holdings of the type, for escalation.
    pub out_of_scope_index: HoldingIndex,
    /// Re-solves caused by priced-in arcs.
    pub pricing_rounds: usize,
}

pub(super) fn solve_type(
    problem: &AllocationProblem,
    group: &TypeGroup<'_>,
    tuning: &SolverTuning,
) -> Result<SolvedType, AllocationError> {
    let penalties = model::penalties(problem, group)?;
    let holdings = problem.holdings();
    let index = HoldingIndex::build(group.in_scope.clone(), |member| holdings[member].location());
    let (mut arcs, too_late) = initial_candidates(problem, group, &index, tuning);
    let mut present: HashSet<(usize, usize)> =
        arcs.iter().map(|arc| (arc.line, arc.holding)).collect();
    let mut pricing_rounds = 0;
    loop {
        let network = RestrictedNetwork::build(problem, group, &arcs, &penalties);
        let solution = network.solve(group)?;
        let duals = network.duals(&solution);
        let columns = price_out(problem, group, &index, &present, &duals, tuning);
        if columns.is_empty() {
            return Ok(SolvedType {
                flows: solution.flows,
                arcs,
                line_potentials: duals.line_potentials,
                holding_potentials: duals.holding_potentials,
                too_late,
                out_of_scope_index: HoldingIndex::build(group.out_of_scope.clone(), |member| {
                    holdings[member].location()
                }),
                pricing_rounds,
            });
        }
        pricing_rounds += 1;
        present.extend(columns.iter().map(|arc| (arc.line, arc.holding)));
        arcs.extend(columns);
    }
}

/// Per line, its nearest on-time holdings until they hold `coverage_factor` times its
/// quantity (or no more are on time), and the first few late ones. Travel time grows with
/// distance, so the first late holding in distance order ends the on-time ones.
fn initial_candidates(
    problem: &AllocationProblem,
    group: &TypeGroup<'_>,
    index: &HoldingIndex,
    tuning: &SolverTuning,
) -> (Vec<Arc>, Vec<Vec<Arc>>) {
    let mut arcs = Vec::new();
    let mut too_late = Vec::with_capacity(group.lines.len());
    for &line in &group.lines {
        let (on_time, late) = line_candidates(problem, line, index, tuning);
        arcs.extend(on_time);
        too_late.push(late);
    }
    (arcs, too_late)
}

fn line_candidates(
    problem: &AllocationProblem,
    line: usize,
    index: &HoldingIndex,
    tuning: &SolverTuning,
) -> (Vec<Arc>, Vec<Arc>) {
    let demand = &problem.lines()[line];
    let wanted_stock = demand.quantity() as f64 * tuning.coverage_factor.max(1.0);
    let mut count = tuning.initial_candidates.max(1);
    loop {
        let nearest = index.nearest(demand.delivery_point(), count);
        let exhausted = nearest.len() < count || count >= index.len();
        let mut on_time = Vec::new();
        let mut late = Vec::new();
        let mut stock = 0i64;
        for holding in nearest {
            let arc = model::measure(problem, line, holding);
            if !arc.on_time {
                late.push(arc);
                if late.len() == LATE_KEPT_PER_LINE {
                    break;
                }
            } else if late.is_empty() {
                stock += problem.holdings()[holding].available();
                on_time.push(arc);
            }
        }
        let covered = stock as f64 >= wanted_stock && on_time.len() >= tuning.initial_candidates;
        if covered || exhausted || !late.is_empty() {
            return (on_time, late);
        }
        count = count.saturating_mul(2);
    }
}

/// Potentials of the restricted optimum, by group line and by holding.
#[derive(Debug)]
struct Duals {
    line_potentials: Vec<i64>,
    holding_potentials: HashMap<usize, i64>,
}

/// The arcs of the restricted network as simplex nodes: group lines first, then the
/// holdings that appear in some arc.
#[derive(Debug)]
struct RestrictedNetwork {
    line_count: usize,
    holding_nodes: Vec<usize>,
    supplies: Vec<i64>,
    root_costs: Vec<i64>,
    arcs: Vec<(usize, usize, i64)>,
}

impl RestrictedNetwork {
    fn build(
        problem: &AllocationProblem,
        group: &TypeGroup<'_>,
        arcs: &[Arc],
        penalties: &Penalties,
    ) -> Self {
        let line_slot: HashMap<usize, usize> = group
            .lines
            .iter()
            .enumerate()
            .map(|(slot, &line)| (line, slot))
            .collect();
        let mut supplies = Vec::with_capacity(group.lines.len() + arcs.len());
        let mut root_costs = Vec::with_capacity(supplies.capacity());
        for &line in &group.lines {
            let demand = &problem.lines()[line];
            supplies.push(-demand.quantity());
            root_costs.push(penalties.of(demand.priority()));
        }
        let mut holding_node: HashMap<usize, usize> = HashMap::new();
        let mut holding_nodes = Vec::new();
        let mut network_arcs = Vec::with_capacity(arcs.len());
        for arc in arcs {
            let node = *holding_node.entry(arc.holding).or_insert_with(|| {
                holding_nodes.push(arc.holding);
                supplies.push(problem.holdings()[arc.holding].available());
                root_costs.push(0);
                supplies.len() - 1
            });
            let line_node = line_slot.get(&arc.line).copied().unwrap_or_default();
            network_arcs.push((node, line_node, arc.unit_cost));
        }
        Self {
            line_count: group.lines.len(),
            holding_nodes,
            supplies,
            root_costs,
            arcs: network_arcs,
        }
    }

    fn solve(&self, group: &TypeGroup<'_>) -> Result<SimplexSolution, AllocationError> {
        simplex::solve(&self.supplies, &self.root_costs, &self.arcs).map_err(|_| {
            AllocationError::SolverFailed {
                resource_type: group.resource_type.to_owned(),
            }
        })
    }

    fn duals(&self, solution: &SimplexSolution) -> Duals {
        let (lines, holdings) = solution.potentials.split_at(self.line_count);
        Duals {
            line_potentials: lines.to_vec(),
            holding_potentials: self
                .holding_nodes
                .iter()
                .copied()
                .zip(holdings.iter().copied())
                .collect(),
        }
    }
}

/// The omitted on-time arcs with negative reduced cost, at most `columns_per_line` per line
/// (the most negative). Since every holding's potential is at least 0, an arc into line `l`
/// can only price negative when its unit cost is below `π_l`, so each line searches the
/// radius where road cost stays under `π_l`, cut to the radius it can be reached in time.
fn price_out(
    problem: &AllocationProblem,
    group: &TypeGroup<'_>,
    index: &HoldingIndex,
    present: &HashSet<(usize, usize)>,
    duals: &Duals,
    tuning: &SolverTuning,
) -> Vec<Arc> {
    let parameters = problem.parameters();
    let cost_per_road_km =
        parameters.cost_per_unit_km(group.resource_type) * 100.0 * parameters.road_factor();
    let mut columns = Vec::new();
    for (&line, &line_potential) in group.lines.iter().zip(&duals.line_potentials) {
        if line_potential <= 0 {
            continue;
        }
        let mut radius_km = model::on_time_radius_km(problem, line);
        if cost_per_road_km > 0.0 {
            radius_km = radius_km.min((line_potential as f64 + 1.0) / cost_per_road_km + 1e-6);
        }
        let point = problem.lines()[line].delivery_point();
        let mut priced: Vec<(i64, Arc)> = index
            .within_km(point, radius_km)
            .into_iter()
            .filter(|&holding| !present.contains(&(line, holding)))
            .map(|holding| model::measure(problem, line, holding))
            .filter(|arc| arc.on_time)
            .map(|arc| {
                let holding_potential = duals
                    .holding_potentials
                    .get(&arc.holding)
                    .copied()
                    .unwrap_or(0);
                (arc.unit_cost + holding_potential - line_potential, arc)
            })
            .filter(|&(reduced, _)| reduced < 0)
            .collect();
        priced.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.holding.cmp(&b.1.holding)));
        columns.extend(
            priced
                .into_iter()
                .take(tuning.columns_per_line.max(1))
                .map(|(_, arc)| arc),
        );
    }
    columns
}
