//! Turns the flows and potentials of each type into assignments, line outcomes and their
//! explanations.

use std::collections::HashMap;

use super::model::{self, Arc, TypeGroup};
use super::restricted::SolvedType;
use super::{
    Allocation, AllocationProblem, Alternative, AlternativeReason, Assignment,
    AssignmentExplanation, DemandLineId, EscalationSource, LineOutcome,
};

/// Cheapest unused on-time holdings shown per assignment.
const ALTERNATIVES_SHOWN: usize = 3;
/// Nearer-but-late holdings shown per assignment.
const LATE_ALTERNATIVES_SHOWN: usize = 2;
/// Escalation sources listed per short line.
const ESCALATION_SOURCES_SHOWN: usize = 5;

/// The allocation being assembled, type by type.
#[derive(Debug)]
pub(super) struct AllocationParts {
    /// Per problem line: its assignments.
    assignments: Vec<Vec<Assignment>>,
    /// Per problem line: its escalation sources (only when short).
    escalation: Vec<Vec<EscalationSource>>,
    /// Per problem line: in-scope holdings too far to arrive in time (only when short).
    too_late: Vec<Vec<Alternative>>,
    pricing_rounds: usize,
}

impl AllocationParts {
    pub(super) fn new(problem: &AllocationProblem) -> Self {
        Self {
            assignments: vec![Vec::new(); problem.lines().len()],
            escalation: vec![Vec::new(); problem.lines().len()],
            too_late: vec![Vec::new(); problem.lines().len()],
            pricing_rounds: 0,
        }
    }

    pub(super) fn add_type(
        &mut self,
        problem: &AllocationProblem,
        group: &TypeGroup<'_>,
        solved: &SolvedType,
    ) {
        self.pricing_rounds += solved.pricing_rounds;
        let usage = HoldingUsage::of(solved);
        for (slot, &line) in group.lines.iter().enumerate() {
            let context = LineContext {
                problem,
                solved,
                usage: &usage,
                line,
                line_potential: solved.line_potentials.get(slot).copied().unwrap_or(0),
                too_late: solved
                    .too_late
                    .get(slot)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            };
            self.assignments[line] = context.assignments();
            let served: i64 = self.assignments[line]
                .iter()
                .map(|assignment| assignment.quantity)
                .sum();
            let shortfall = problem.lines()[line].quantity() - served;
            if shortfall > 0 {
                self.escalation[line] = escalation_sources(problem, solved, line, shortfall);
                self.too_late[line] = context
                    .too_late
                    .iter()
                    .map(|late| alternative(problem, late, AlternativeReason::TooLate))
                    .collect();
            }
        }
    }

    pub(super) fn finish(self, problem: &AllocationProblem) -> Allocation {
        let lines = problem
            .lines()
            .iter()
            .zip(&self.assignments)
            .zip(self.escalation)
            .zip(self.too_late)
            .map(|(((line, assignments), escalation_sources), too_late)| {
                let served: i64 = assignments
                    .iter()
                    .map(|assignment| assignment.quantity)
                    .sum();
                LineOutcome {
                    line: line.id(),
                    requested: line.quantity(),
                    served,
                    shortfall: line.quantity() - served,
                    escalation_sources,
                    too_late,
                }
            })
            .collect();
        let line_index: HashMap<DemandLineId, usize> = problem
            .lines()
            .iter()
            .enumerate()
            .map(|(index, line)| (line.id(), index))
            .collect();
        let assignments: Vec<Assignment> = self.assignments.into_iter().flatten().collect();
        let objective = model::objective(
            problem,
            assignments.iter().map(|assignment| {
                let line = line_index
                    .get(&assignment.line)
                    .copied()
                    .unwrap_or_default();
                (line, assignment.unit_cost_cents, assignment.quantity)
            }),
        );
        Allocation {
            assignments,
            lines,
            objective,
            pricing_rounds: self.pricing_rounds,
        }
    }
}

/// Which lines took stock from each holding, and how much is left.
#[derive(Debug)]
struct HoldingUsage {
    takers: HashMap<usize, Vec<usize>>,
    shipped: HashMap<usize, i64>,
}

impl HoldingUsage {
    fn of(solved: &SolvedType) -> Self {
        let mut takers: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut shipped: HashMap<usize, i64> = HashMap::new();
        for (arc, &flow) in solved.arcs.iter().zip(&solved.flows) {
            if flow > 0 {
                takers.entry(arc.holding).or_default().push(arc.line);
                *shipped.entry(arc.holding).or_default() += flow;
            }
        }
        Self { takers, shipped }
    }

    fn remaining(&self, problem: &AllocationProblem, holding: usize) -> i64 {
        problem.holdings()[holding].available() - self.shipped.get(&holding).copied().unwrap_or(0)
    }
}

/// What explaining one line needs.
#[derive(Debug)]
struct LineContext<'a> {
    problem: &'a AllocationProblem,
    solved: &'a SolvedType,
    usage: &'a HoldingUsage,
    line: usize,
    line_potential: i64,
    too_late: &'a [Arc],
}

impl LineContext<'_> {
    fn assignments(&self) -> Vec<Assignment> {
        let mut used: Vec<(Arc, i64)> = Vec::new();
        let mut unused: Vec<Arc> = Vec::new();
        for (arc, &flow) in self.solved.arcs.iter().zip(&self.solved.flows) {
            if arc.line != self.line {
                continue;
            }
            if flow > 0 {
                used.push((*arc, flow));
            } else {
                unused.push(*arc);
            }
        }
        used.sort_by(|a, b| by_cost(&a.0, &b.0));
        unused.sort_by(by_cost);
        used.iter()
            .map(|&(arc, quantity)| self.assignment(&arc, quantity, &unused))
            .collect()
    }

    fn assignment(&self, arc: &Arc, quantity: i64, unused: &[Arc]) -> Assignment {
        let problem = self.problem;
        let needed_within_hours = problem.hours_available(&problem.lines()[self.line]);
        let mut alternatives: Vec<Alternative> = unused
            .iter()
            .take(ALTERNATIVES_SHOWN)
            .map(|other| self.alternative(other, arc))
            .collect();
        // Late holdings are always further than on-time ones (travel time grows with
        // distance); they show why the line looked no further.
        alternatives.extend(
            self.too_late
                .iter()
                .take(LATE_ALTERNATIVES_SHOWN)
                .map(|late| alternative(problem, late, AlternativeReason::TooLate)),
        );
        Assignment {
            line: problem.lines()[self.line].id(),
            holding: problem.holdings()[arc.holding].id(),
            quantity,
            great_circle_km: arc.great_circle_km,
            road_km: arc.road_km(problem),
            travel_hours: arc.travel_hours,
            unit_cost_cents: arc.unit_cost,
            cost_cents: arc.unit_cost.saturating_mul(quantity),
            explanation: AssignmentExplanation {
                needed_within_hours,
                slack_hours: needed_within_hours - arc.travel_hours,
                alternatives,
            },
        }
    }

    fn alternative(&self, other: &Arc, chosen: &Arc) -> Alternative {
        let reason = if self.usage.remaining(self.problem, other.holding) > 0 {
            let holding_potential = self
                .solved
                .holding_potentials
                .get(&other.holding)
                .copied()
                .unwrap_or(0);
            AlternativeReason::Costlier {
                extra_cost_per_unit_cents: other.unit_cost - chosen.unit_cost,
                reduced_cost_cents: other.unit_cost + holding_potential - self.line_potential,
            }
        } else {
            self.used_up(other.holding)
        };
        alternative(self.problem, other, reason)
    }

    fn used_up(&self, holding: usize) -> AlternativeReason {
        let lines = self.problem.lines();
        let priority = lines[self.line].priority();
        let takers = self
            .usage
            .takers
            .get(&holding)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut taken_by: Vec<DemandLineId> =
            takers.iter().map(|&taker| lines[taker].id()).collect();
        taken_by.sort();
        taken_by.dedup();
        AlternativeReason::UsedUp {
            by_higher_priority: takers
                .iter()
                .any(|&taker| lines[taker].priority() > priority),
            taken_by,
        }
    }
}

fn alternative(problem: &AllocationProblem, arc: &Arc, reason: AlternativeReason) -> Alternative {
    Alternative {
        holding: problem.holdings()[arc.holding].id(),
        great_circle_km: arc.great_circle_km,
        travel_hours: arc.travel_hours,
        unit_cost_cents: arc.unit_cost,
        reason,
    }
}

/// Cheapest first, then nearest, then by holding for a stable order.
fn by_cost(a: &Arc, b: &Arc) -> std::cmp::Ordering {
    a.unit_cost
        .cmp(&b.unit_cost)
        .then(a.great_circle_km.total_cmp(&b.great_circle_km))
        .then(a.holding.cmp(&b.holding))
}

/// The nearest out-of-scope holdings of the line's type until their stock covers the
/// shortfall, at most [`ESCALATION_SOURCES_SHOWN`].
fn escalation_sources(
    problem: &AllocationProblem,
    solved: &SolvedType,
    line: usize,
    shortfall: i64,
) -> Vec<EscalationSource> {
    let point = problem.lines()[line].delivery_point();
    let mut sources = Vec::new();
    let mut covered = 0i64;
    for holding in solved
        .out_of_scope_index
        .nearest(point, ESCALATION_SOURCES_SHOWN)
    {
        if covered >= shortfall {
            break;
        }
        let arc = model::measure(problem, line, holding);
        let available = problem.holdings()[holding].available();
        covered += available;
        sources.push(EscalationSource {
            holding: problem.holdings()[holding].id(),
            available,
            great_circle_km: arc.great_circle_km,
            travel_hours: arc.travel_hours,
            arrives_in_time: arc.on_time,
        });
    }
    sources
}
