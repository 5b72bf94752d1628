//! The reference solver: successive shortest paths over every feasible arc.
//!
//! It solves the same model as [`super::solve`] — the same arcs, unit costs and shortage
//! penalties — but by the textbook method and without the spatial index: every on-time
//! (holding, line) pair of a type is an arc, and flow is pushed along shortest paths from a
//! super source (feeding the holdings) to a super sink (fed by the lines through arcs
//! costing minus the line's penalty). Dijkstra runs on reduced costs with Johnson
//! potentials; the initial potentials come from the acyclic first residual network. Path
//! costs never decrease, so stopping at the first path that costs zero or more gives the
//! minimum over every flow value, which is the minimum of transport cost plus penalties.
//!
//! It exists so that the benchmark can show what the network simplex and the spatial
//! candidates buy, and as a second exact method for the tests. Cost: building the arcs is
//! O(lines × holdings) per type; each augmentation is a Dijkstra, O(E log V).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::model::{self, Penalties, TypeGroup};
use super::{AllocationError, AllocationObjective, AllocationProblem, DemandLineId, HoldingId};

/// The baseline's answer: flows and the objective, without explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineSolution {
    pub flows: Vec<BaselineFlow>,
    pub objective: AllocationObjective,
    /// How many feasible (on-time) arcs the full networks had, over all types.
    pub arcs_considered: usize,
}

/// Units of one holding sent to one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineFlow {
    pub line: DemandLineId,
    pub holding: HoldingId,
    pub quantity: i64,
    pub unit_cost_cents: i64,
}

/// Solves the problem by successive shortest paths on the full feasible arc set.
pub fn solve(problem: &AllocationProblem) -> Result<BaselineSolution, AllocationError> {
    let mut flows = Vec::new();
    let mut objective_flows = Vec::new();
    let mut arcs_considered = 0;
    for group in model::group_by_type(problem) {
        let penalties = model::penalties(problem, &group)?;
        let mut network = FullNetwork::build(problem, &group, &penalties);
        arcs_considered += network.transport_arcs.len();
        network.run();
        for (line, holding, quantity, unit_cost) in network.transport_flows(&group) {
            objective_flows.push((line, unit_cost, quantity));
            flows.push(BaselineFlow {
                line: problem.lines()[line].id(),
                holding: problem.holdings()[holding].id(),
                quantity,
                unit_cost_cents: unit_cost,
            });
        }
    }
    Ok(BaselineSolution {
        flows,
        objective: model::objective(problem, objective_flows),
        arcs_considered,
    })
}

/// How a shortest path reached a node: (previous node, index of the edge in its list).
type PathStep = Option<(usize, usize)>;

const UNBOUNDED_CAPACITY: i64 = i64::MAX / 4;
const UNREACHED: i64 = i64::MAX;

/// A residual edge; `reverse` is the index of its twin in `to`'s list.
#[derive(Debug, Clone, Copy)]
struct Edge {
    to: usize,
    capacity: i64,
    cost: i64,
    reverse: usize,
}

/// Source 0, holdings `1..=H`, lines `H+1..=H+L`, sink `H+L+1`.
#[derive(Debug)]
struct FullNetwork {
    edges: Vec<Vec<Edge>>,
    potentials: Vec<i64>,
    /// (holding node, index in its edge list, line slot, holding problem index, unit cost).
    transport_arcs: Vec<(usize, usize, usize, usize, i64)>,
    sink: usize,
}

impl FullNetwork {
    fn build(problem: &AllocationProblem, group: &TypeGroup<'_>, penalties: &Penalties) -> Self {
        let holding_count = group.in_scope.len();
        let sink = holding_count + group.lines.len() + 1;
        let mut network = Self {
            edges: vec![Vec::new(); sink + 1],
            potentials: vec![UNREACHED; sink + 1],
            transport_arcs: Vec::new(),
            sink,
        };
        for (slot, &holding) in group.in_scope.iter().enumerate() {
            network.add_edge(0, slot + 1, problem.holdings()[holding].available(), 0);
        }
        for (slot, &line) in group.lines.iter().enumerate() {
            let demand = &problem.lines()[line];
            network.add_edge(
                holding_count + 1 + slot,
                sink,
                demand.quantity(),
                -penalties.of(demand.priority()),
            );
            for (holding_slot, &holding) in group.in_scope.iter().enumerate() {
                let arc = model::measure(problem, line, holding);
                if arc.on_time {
                    let from = holding_slot + 1;
                    let position = network.edges[from].len();
                    network.add_edge(
                        from,
                        holding_count + 1 + slot,
                        UNBOUNDED_CAPACITY,
                        arc.unit_cost,
                    );
                    network
                        .transport_arcs
                        .push((from, position, slot, holding, arc.unit_cost));
                }
            }
        }
        network.initial_potentials();
        network
    }

    fn add_edge(&mut self, from: usize, to: usize, capacity: i64, cost: i64) {
        let forward_reverse = self.edges[to].len() + usize::from(from == to);
        let backward_reverse = self.edges[from].len();
        self.edges[from].push(Edge {
            to,
            capacity,
            cost,
            reverse: forward_reverse,
        });
        self.edges[to].push(Edge {
            to: from,
            capacity: 0,
            cost: -cost,
            reverse: backward_reverse,
        });
    }

    /// Shortest distances in the first residual network, which is acyclic (source →
    /// holdings → lines → sink), so one pass in that order suffices.
    fn initial_potentials(&mut self) {
        self.potentials[0] = 0;
        for node in 0..self.sink {
            let base = self.potentials[node];
            if base == UNREACHED {
                continue;
            }
            for edge in &self.edges[node] {
                if edge.capacity > 0 && edge.to > node {
                    let candidate = base + edge.cost;
                    if candidate < self.potentials[edge.to] {
                        self.potentials[edge.to] = candidate;
                    }
                }
            }
        }
    }

    /// Augments along shortest paths while they lower the total.
    fn run(&mut self) {
        while let Some((distance, parent)) = self.shortest_paths() {
            let path_cost = distance[self.sink] + self.potentials[self.sink] - self.potentials[0];
            if path_cost >= 0 {
                return;
            }
            // Raising every potential by min(distance, distance to the sink) keeps all
            // residual reduced costs non-negative, reached or not.
            let sink_distance = distance[self.sink];
            for (potential, &extra) in self.potentials.iter_mut().zip(&distance) {
                if *potential != UNREACHED {
                    *potential += extra.min(sink_distance);
                }
            }
            self.augment(&parent);
        }
    }

    /// Dijkstra on reduced costs from the source; None when the sink is unreachable.
    fn shortest_paths(&self) -> Option<(Vec<i64>, Vec<PathStep>)> {
        let node_count = self.edges.len();
        let mut distance = vec![UNREACHED; node_count];
        let mut parent: Vec<PathStep> = vec![None; node_count];
        let mut queue = BinaryHeap::new();
        distance[0] = 0;
        queue.push(Reverse((0i64, 0usize)));
        while let Some(Reverse((found, node))) = queue.pop() {
            if found > distance[node] {
                continue;
            }
            for (position, edge) in self.edges[node].iter().enumerate() {
                if edge.capacity <= 0 || self.potentials[edge.to] == UNREACHED {
                    continue;
                }
                let reduced = edge.cost + self.potentials[node] - self.potentials[edge.to];
                let candidate = found + reduced;
                if candidate < distance[edge.to] {
                    distance[edge.to] = candidate;
                    parent[edge.to] = Some((node, position));
                    queue.push(Reverse((candidate, edge.to)));
                }
            }
        }
        (distance[self.sink] != UNREACHED).then_some((distance, parent))
    }

    fn augment(&mut self, parent: &[PathStep]) {
        let mut bottleneck = UNBOUNDED_CAPACITY;
        let mut node = self.sink;
        while let Some((from, position)) = parent[node] {
            bottleneck = bottleneck.min(self.edges[from][position].capacity);
            node = from;
        }
        let mut node = self.sink;
        while let Some((from, position)) = parent[node] {
            let edge = self.edges[from][position];
            self.edges[from][position].capacity -= bottleneck;
            self.edges[node][edge.reverse].capacity += bottleneck;
            node = from;
        }
    }

    /// (problem line, problem holding, quantity, unit cost) for every transport arc in use.
    fn transport_flows(&self, group: &TypeGroup<'_>) -> Vec<(usize, usize, i64, i64)> {
        self.transport_arcs
            .iter()
            .filter_map(|&(from, position, slot, holding, unit_cost)| {
                let quantity = UNBOUNDED_CAPACITY - self.edges[from][position].capacity;
                (quantity > 0).then(|| (group.lines[slot], holding, quantity, unit_cost))
            })
            .collect()
    }
}
