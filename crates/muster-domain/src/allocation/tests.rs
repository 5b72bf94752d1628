use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::instance::{self, InstanceSize};
use super::*;

const HOUR_MS: i64 = 3_600_000;
const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// Roughly one km of latitude, in degrees.
const KM: f64 = 1.0 / 111.2;

fn point(latitude: f64, longitude: f64) -> GeoPoint {
    GeoPoint::new(latitude, longitude).expect("a point on Earth")
}

/// A line at `km_north` km north of (31, 117), needed within `hours`.
fn line(
    id: i64,
    resource_type: &str,
    quantity: i64,
    km_north: f64,
    hours: f64,
    priority: u32,
) -> DemandLine {
    DemandLine::new(
        DemandLineId::new(id),
        resource_type,
        quantity,
        point(31.0 + km_north * KM, 117.0),
        NOW.plus_millis((hours * HOUR_MS as f64) as i64),
        priority,
    )
    .expect("a valid line")
}

fn holding(id: i64, resource_type: &str, available: i64, km_north: f64, in_scope: bool) -> Holding {
    Holding::new(
        HoldingId::new(id),
        resource_type,
        available,
        point(31.0 + km_north * KM, 117.0),
        in_scope,
    )
    .expect("a valid holding")
}

/// Trucks at 60 km/h on roads 1.3 × the great circle, 1.00 per unit-km.
fn parameters() -> TransportParameters {
    TransportParameters::new(1.0, 1.3, 60.0).expect("valid parameters")
}

fn problem(lines: Vec<DemandLine>, holdings: Vec<Holding>) -> AllocationProblem {
    AllocationProblem::new(NOW, lines, holdings, parameters()).expect("a valid problem")
}

/// Tuning that starts each line with a single candidate, so that pricing must do the work.
const STINGY: SolverTuning = SolverTuning {
    initial_candidates: 1,
    coverage_factor: 1.0,
    columns_per_line: 1,
};

fn outcome(allocation: &Allocation, id: i64) -> &LineOutcome {
    allocation
        .lines()
        .iter()
        .find(|outcome| outcome.line == DemandLineId::new(id))
        .expect("an outcome per line")
}

fn served_from(allocation: &Allocation, line: i64, holding: i64) -> i64 {
    allocation
        .assignments()
        .iter()
        .filter(|a| a.line == DemandLineId::new(line) && a.holding == HoldingId::new(holding))
        .map(|a| a.quantity)
        .sum()
}

/// The invariants every allocation must keep, whatever the instance.
fn check_invariants(problem: &AllocationProblem, allocation: &Allocation) {
    let lines: HashMap<DemandLineId, &DemandLine> =
        problem.lines().iter().map(|l| (l.id(), l)).collect();
    let holdings: HashMap<HoldingId, &Holding> =
        problem.holdings().iter().map(|h| (h.id(), h)).collect();
    let mut taken: HashMap<HoldingId, i64> = HashMap::new();
    let mut served: HashMap<DemandLineId, i64> = HashMap::new();
    for assignment in allocation.assignments() {
        let line = lines[&assignment.line];
        let holding = holdings[&assignment.holding];
        assert!(assignment.quantity > 0, "{assignment:?}");
        assert!(
            holding.in_scope(),
            "out-of-scope holding allocated: {assignment:?}"
        );
        assert_eq!(
            line.resource_type(),
            holding.resource_type(),
            "{assignment:?}"
        );
        assert!(
            assignment.travel_hours <= problem.hours_available(line),
            "late arc used: {assignment:?}"
        );
        assert_eq!(
            assignment.cost_cents,
            assignment.quantity * assignment.unit_cost_cents
        );
        *taken.entry(assignment.holding).or_default() += assignment.quantity;
        *served.entry(assignment.line).or_default() += assignment.quantity;
    }
    for (id, quantity) in &taken {
        assert!(
            *quantity <= holdings[id].available(),
            "holding {id} over-allocated"
        );
    }
    assert_eq!(allocation.lines().len(), problem.lines().len());
    for (outcome, line) in allocation.lines().iter().zip(problem.lines()) {
        assert_eq!(outcome.line, line.id());
        assert_eq!(outcome.served, served.get(&line.id()).copied().unwrap_or(0));
        assert!(outcome.served <= line.quantity());
        assert_eq!(outcome.shortfall, line.quantity() - outcome.served);
    }
}

/// The lexicographic objective by brute force: every integer allocation of every line over
/// its on-time in-scope holdings of its type, keeping the best (service per priority from
/// the highest down, then the least cost). Only for tiny instances.
fn brute_force(problem: &AllocationProblem) -> AllocationObjective {
    let arcs: Vec<Vec<(usize, i64)>> = (0..problem.lines().len())
        .map(|line| {
            problem
                .holdings()
                .iter()
                .enumerate()
                .filter(|(_, h)| {
                    h.in_scope() && h.resource_type() == problem.lines()[line].resource_type()
                })
                .map(|(index, _)| model::measure(problem, line, index))
                .filter(|arc| arc.on_time)
                .map(|arc| (arc.holding, arc.unit_cost))
                .collect()
        })
        .collect();
    let mut search = BruteForce {
        problem,
        arcs,
        remaining: problem.holdings().iter().map(Holding::available).collect(),
        flows: Vec::new(),
        best: None,
    };
    search.explore(0, 0, 0);
    search.best.expect("the empty allocation at least").1
}

struct BruteForce<'a> {
    problem: &'a AllocationProblem,
    arcs: Vec<Vec<(usize, i64)>>,
    remaining: Vec<i64>,
    flows: Vec<(usize, i64, i64)>,
    best: Option<((Vec<i64>, i64), AllocationObjective)>,
}

impl BruteForce<'_> {
    fn explore(&mut self, line: usize, arc: usize, served: i64) {
        if line == self.arcs.len() {
            let objective = model::objective(self.problem, self.flows.iter().copied());
            let key = (
                objective
                    .service
                    .iter()
                    .map(|s| s.served)
                    .collect::<Vec<_>>(),
                -objective.transport_cost_cents,
            );
            if self.best.as_ref().is_none_or(|(best, _)| key > *best) {
                self.best = Some((key, objective));
            }
            return;
        }
        if arc == self.arcs[line].len() {
            self.explore(line + 1, 0, 0);
            return;
        }
        let (holding, unit_cost) = self.arcs[line][arc];
        let most = self.remaining[holding].min(self.problem.lines()[line].quantity() - served);
        for quantity in 0..=most {
            self.remaining[holding] -= quantity;
            self.flows.push((line, unit_cost, quantity));
            self.explore(line, arc + 1, served + quantity);
            self.flows.pop();
            self.remaining[holding] += quantity;
        }
    }
}

fn tiny_problem() -> impl Strategy<Value = AllocationProblem> {
    let line_spec = (
        0..2usize,
        1..=3i64,
        0.0..1.0f64,
        0.0..1.0f64,
        0..=8i64,
        1..=3u32,
    );
    let holding_spec = (
        0..2usize,
        0..=3i64,
        0.0..1.0f64,
        0.0..1.0f64,
        prop::bool::weighted(0.8),
    );
    (
        prop::collection::vec(line_spec, 1..=3),
        prop::collection::vec(holding_spec, 1..=5),
    )
        .prop_map(|(line_specs, holding_specs)| {
            let types = ["A", "B"];
            let lines = line_specs
                .into_iter()
                .enumerate()
                .map(
                    |(index, (kind, quantity, lat, lon, half_hours, priority))| {
                        DemandLine::new(
                            DemandLineId::new(index as i64),
                            types[kind],
                            quantity,
                            point(30.0 + lat, 116.0 + lon),
                            NOW.plus_millis(half_hours * HOUR_MS / 2),
                            priority,
                        )
                        .expect("a valid line")
                    },
                )
                .collect();
            let holdings = holding_specs
                .into_iter()
                .enumerate()
                .map(|(index, (kind, available, lat, lon, in_scope))| {
                    Holding::new(
                        HoldingId::new(index as i64),
                        types[kind],
                        available,
                        point(30.0 + lat, 116.0 + lon),
                        in_scope,
                    )
                    .expect("a valid holding")
                })
                .collect();
            let parameters = parameters().with_type_cost("B", 3.5).expect("a valid cost");
            AllocationProblem::new(NOW, lines, holdings, parameters).expect("a valid problem")
        })
}

fn medium_problem() -> impl Strategy<Value = AllocationProblem> {
    (any::<u64>(), 5..40usize, 10..200usize, 1..4usize).prop_map(
        |(seed, lines, holdings, types)| {
            instance::generate(
                seed,
                InstanceSize {
                    demand_lines: lines,
                    holdings,
                    resource_types: types,
                },
            )
            .expect("a generated instance")
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_solver_matches_brute_force_on_tiny_instances(problem in tiny_problem()) {
        let expected = brute_force(&problem);
        for tuning in [SolverTuning::default(), STINGY] {
            let allocation = solve_with(&problem, &tuning).expect("solvable");
            check_invariants(&problem, &allocation);
            prop_assert_eq!(allocation.objective(), &expected);
        }
        let baseline = baseline::solve(&problem).expect("solvable");
        prop_assert_eq!(&baseline.objective, &expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn network_simplex_matches_successive_shortest_paths(problem in medium_problem()) {
        let reference = baseline::solve(&problem).expect("solvable");
        for tuning in [SolverTuning::default(), STINGY] {
            let allocation = solve_with(&problem, &tuning).expect("solvable");
            check_invariants(&problem, &allocation);
            prop_assert_eq!(allocation.objective(), &reference.objective);
        }
    }
}

#[test]
fn pricing_adds_the_arcs_the_candidates_missed() {
    let rounds: usize = (0..20)
        .map(|seed| {
            let problem = instance::generate(
                seed,
                InstanceSize {
                    demand_lines: 30,
                    holdings: 60,
                    resource_types: 2,
                },
            )
            .expect("a generated instance");
            solve_with(&problem, &STINGY)
                .expect("solvable")
                .pricing_rounds()
        })
        .sum();
    assert!(
        rounds > 0,
        "the stingy tuning never needed column generation"
    );
}

#[test]
fn capacity_is_never_exceeded() {
    let problem = problem(
        vec![
            line(1, "A", 8, 0.0, 10.0, 1),
            line(2, "A", 8, 1.0, 10.0, 1),
            line(3, "A", 8, 2.0, 10.0, 1),
        ],
        vec![
            holding(10, "A", 5, 0.5, true),
            holding(11, "A", 6, 30.0, true),
        ],
    );
    let allocation = solve(&problem).expect("solvable");
    check_invariants(&problem, &allocation);
    let total: i64 = allocation.lines().iter().map(|o| o.served).sum();
    assert_eq!(total, 11);
    assert_eq!(
        served_from(&allocation, 1, 10)
            + served_from(&allocation, 2, 10)
            + served_from(&allocation, 3, 10),
        5
    );
}

#[test]
fn a_holding_that_cannot_arrive_in_time_is_never_used() {
    // 100 km × 1.3 / 60 km/h ≈ 2.2 h: too late for a line needed within 2 hours.
    let problem = problem(
        vec![line(1, "A", 5, 0.0, 2.0, 1), line(2, "A", 5, 0.0, 3.0, 1)],
        vec![holding(10, "A", 100, 100.0, true)],
    );
    let allocation = solve(&problem).expect("solvable");
    check_invariants(&problem, &allocation);
    assert_eq!(outcome(&allocation, 1).served, 0);
    assert_eq!(outcome(&allocation, 2).served, 5);
    let late = &outcome(&allocation, 1).too_late;
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].holding, HoldingId::new(10));
    assert_eq!(late[0].reason, AlternativeReason::TooLate);
}

#[test]
fn higher_priority_wins_a_scarce_holding_even_when_it_costs_more() {
    // Line 1 sits on the holding; line 2 is 50 km away but outranks it, and is needed too
    // soon for the second holding, 130 km away, to reach it.
    let problem = problem(
        vec![line(1, "A", 5, 0.0, 24.0, 1), line(2, "A", 5, 50.0, 1.5, 3)],
        vec![
            holding(10, "A", 5, 0.0, true),
            holding(11, "A", 3, -80.0, true),
        ],
    );
    let allocation = solve(&problem).expect("solvable");
    check_invariants(&problem, &allocation);
    assert_eq!(served_from(&allocation, 2, 10), 5);
    assert_eq!(served_from(&allocation, 1, 11), 3);
    assert_eq!(outcome(&allocation, 1).shortfall, 2);
    let assignment = allocation
        .assignments()
        .iter()
        .find(|a| a.line == DemandLineId::new(1))
        .expect("line 1 is partly served");
    let used_up = assignment
        .explanation
        .alternatives
        .iter()
        .find(|alternative| alternative.holding == HoldingId::new(10))
        .expect("the nearer holding is named as an alternative");
    assert_eq!(
        used_up.reason,
        AlternativeReason::UsedUp {
            taken_by: vec![DemandLineId::new(2)],
            by_higher_priority: true,
        }
    );
}

#[test]
fn among_equal_service_the_cheapest_allocation_wins() {
    // Either holding can serve either line; crossing would cost more.
    let problem = problem(
        vec![
            line(1, "A", 4, 0.0, 24.0, 2),
            line(2, "A", 4, 100.0, 24.0, 2),
        ],
        vec![
            holding(10, "A", 4, 95.0, true),
            holding(11, "A", 4, 5.0, true),
        ],
    );
    let allocation = solve(&problem).expect("solvable");
    assert_eq!(served_from(&allocation, 1, 11), 4);
    assert_eq!(served_from(&allocation, 2, 10), 4);
}

#[test]
fn an_assignment_explains_its_costlier_alternative_with_the_reduced_cost() {
    let problem = problem(
        vec![line(1, "A", 5, 0.0, 24.0, 1)],
        vec![
            holding(10, "A", 50, 10.0, true),
            holding(11, "A", 50, 20.0, true),
        ],
    );
    let allocation = solve(&problem).expect("solvable");
    let [assignment] = allocation.assignments() else {
        panic!("one assignment expected: {:?}", allocation.assignments());
    };
    assert_eq!(assignment.holding, HoldingId::new(10));
    assert!(assignment.explanation.slack_hours > 0.0);
    let alternative = &assignment.explanation.alternatives[0];
    assert_eq!(alternative.holding, HoldingId::new(11));
    let extra = alternative.unit_cost_cents - assignment.unit_cost_cents;
    assert!(extra > 0);
    assert_eq!(
        alternative.reason,
        AlternativeReason::Costlier {
            extra_cost_per_unit_cents: extra,
            reduced_cost_cents: extra,
        }
    );
}

#[test]
fn a_shortfall_lists_the_nearest_sources_outside_the_scope() {
    let problem = problem(
        vec![line(1, "A", 10, 0.0, 24.0, 1)],
        vec![
            holding(10, "A", 4, 5.0, true),
            holding(20, "A", 3, 10.0, false),
            holding(21, "A", 10, -50.0, false),
            holding(22, "A", 100, 200.0, false),
            holding(23, "B", 100, 1.0, false),
        ],
    );
    let allocation = solve(&problem).expect("solvable");
    check_invariants(&problem, &allocation);
    let outcome = outcome(&allocation, 1);
    assert_eq!(outcome.shortfall, 6);
    let sources: Vec<(i64, i64)> = outcome
        .escalation_sources
        .iter()
        .map(|source| (source.holding.get(), source.available))
        .collect();
    assert_eq!(sources, vec![(20, 3), (21, 10)]);
    assert!(
        outcome
            .escalation_sources
            .iter()
            .all(|source| source.arrives_in_time)
    );
    assert!((outcome.escalation_sources[0].great_circle_km - 10.0).abs() < 0.1);
}

#[test]
fn a_served_line_lists_no_escalation_sources() {
    let problem = problem(
        vec![line(1, "A", 3, 0.0, 24.0, 1)],
        vec![
            holding(10, "A", 4, 5.0, true),
            holding(20, "A", 3, 1.0, false),
        ],
    );
    let allocation = solve(&problem).expect("solvable");
    assert!(outcome(&allocation, 1).escalation_sources.is_empty());
    assert_eq!(served_from(&allocation, 1, 10), 3);
}

#[test]
fn bad_quantities_and_coordinates_are_refused_with_typed_errors() {
    let here = point(31.0, 117.0);
    let id = DemandLineId::new(1);
    for (quantity, expected) in [
        (
            0,
            AllocationError::NonPositiveQuantity {
                line: id,
                quantity: 0,
            },
        ),
        (
            -5,
            AllocationError::NonPositiveQuantity {
                line: id,
                quantity: -5,
            },
        ),
        (
            i64::MAX,
            AllocationError::QuantityTooLarge {
                line: id,
                quantity: i64::MAX,
            },
        ),
        (
            MAX_QUANTITY + 1,
            AllocationError::QuantityTooLarge {
                line: id,
                quantity: MAX_QUANTITY + 1,
            },
        ),
    ] {
        assert_eq!(
            DemandLine::new(id, "A", quantity, here, NOW, 1),
            Err(expected)
        );
    }
    assert!(DemandLine::new(id, "A", MAX_QUANTITY, here, NOW, 1).is_ok());
    assert_eq!(
        DemandLine::new(id, " ", 1, here, NOW, 1),
        Err(AllocationError::MissingResourceType)
    );
    let holding_id = HoldingId::new(7);
    assert_eq!(
        Holding::new(holding_id, "A", -1, here, true),
        Err(AllocationError::NegativeAvailable {
            holding: holding_id,
            available: -1
        })
    );
    assert_eq!(
        Holding::new(holding_id, "A", i64::MAX, here, true),
        Err(AllocationError::AvailableTooLarge {
            holding: holding_id,
            available: i64::MAX
        })
    );
    for (latitude, longitude) in [
        (f64::NAN, 117.0),
        (31.0, f64::NAN),
        (f64::INFINITY, 117.0),
        (31.0, f64::NEG_INFINITY),
        (90.5, 117.0),
        (31.0, 180.5),
    ] {
        assert!(matches!(
            GeoPoint::new(latitude, longitude),
            Err(AllocationError::InvalidCoordinates { .. })
        ));
    }
}

#[test]
fn bad_parameters_are_refused_with_typed_errors() {
    assert!(matches!(
        TransportParameters::new(1.0, f64::NAN, 60.0),
        Err(AllocationError::InvalidRoadFactor { .. })
    ));
    assert!(matches!(
        TransportParameters::new(1.0, 0.5, 60.0),
        Err(AllocationError::InvalidRoadFactor { .. })
    ));
    assert!(matches!(
        TransportParameters::new(1.0, 1.3, 0.0),
        Err(AllocationError::InvalidSpeed { .. })
    ));
    assert!(matches!(
        TransportParameters::new(-1.0, 1.3, 60.0),
        Err(AllocationError::InvalidCostPerUnitKm {
            resource_type: None,
            ..
        })
    ));
    assert!(matches!(
        parameters().with_type_cost("A", f64::INFINITY),
        Err(AllocationError::InvalidCostPerUnitKm {
            resource_type: Some(_),
            ..
        })
    ));
}

#[test]
fn duplicate_ids_are_refused() {
    let duplicate_lines = AllocationProblem::new(
        NOW,
        vec![line(1, "A", 1, 0.0, 1.0, 1), line(1, "A", 2, 0.0, 1.0, 1)],
        Vec::new(),
        parameters(),
    );
    assert_eq!(
        duplicate_lines,
        Err(AllocationError::DuplicateDemandLine {
            line: DemandLineId::new(1)
        })
    );
    let duplicate_holdings = AllocationProblem::new(
        NOW,
        Vec::new(),
        vec![holding(3, "A", 1, 0.0, true), holding(3, "B", 1, 0.0, true)],
        parameters(),
    );
    assert_eq!(
        duplicate_holdings,
        Err(AllocationError::DuplicateHolding {
            holding: HoldingId::new(3)
        })
    );
}

#[test]
fn costs_too_large_to_solve_exactly_are_refused() {
    let parameters = TransportParameters::new(MAX_COST_PER_UNIT_KM, MAX_ROAD_FACTOR, 1_000_000.0)
        .expect("valid");
    let lines = (0..50)
        .map(|id| line(id, "A", MAX_QUANTITY, id as f64, 1_000_000.0, id as u32))
        .collect();
    let problem =
        AllocationProblem::new(NOW, lines, vec![holding(1, "A", 1, 0.0, true)], parameters)
            .expect("a valid problem");
    assert_eq!(
        solve(&problem),
        Err(AllocationError::CostRangeTooLarge {
            resource_type: "A".into()
        })
    );
}

#[test]
fn empty_inputs_give_empty_allocations() {
    let nothing = solve(&problem(Vec::new(), Vec::new())).expect("solvable");
    assert!(nothing.assignments().is_empty() && nothing.lines().is_empty());
    assert_eq!(nothing.objective().transport_cost_cents, 0);

    let no_lines =
        solve(&problem(Vec::new(), vec![holding(1, "A", 5, 0.0, true)])).expect("solvable");
    assert!(no_lines.assignments().is_empty());

    let no_holdings =
        solve(&problem(vec![line(1, "A", 5, 0.0, 5.0, 1)], Vec::new())).expect("solvable");
    assert_eq!(outcome(&no_holdings, 1).shortfall, 5);
    assert!(outcome(&no_holdings, 1).escalation_sources.is_empty());

    let empty_stock = problem(
        vec![line(1, "A", 5, 0.0, 5.0, 1)],
        vec![holding(1, "A", 0, 0.0, true)],
    );
    assert_eq!(
        outcome(&solve(&empty_stock).expect("solvable"), 1).shortfall,
        5
    );
}

#[test]
fn many_holdings_at_one_site_are_all_found() {
    // More identical points than a k-d tree bucket holds.
    let holdings = (0..200).map(|id| holding(id, "A", 1, 10.0, true)).collect();
    let problem = problem(vec![line(1, "A", 150, 0.0, 24.0, 1)], holdings);
    let allocation = solve(&problem).expect("solvable");
    check_invariants(&problem, &allocation);
    assert_eq!(outcome(&allocation, 1).served, 150);
    assert_eq!(allocation.assignments().len(), 150);
}

#[test]
fn an_overdue_line_is_short_not_an_error() {
    let problem = problem(
        vec![line(1, "A", 5, 0.0, -3.0, 1)],
        vec![holding(1, "A", 5, 0.0, true)],
    );
    let allocation = solve(&problem).expect("solvable");
    assert_eq!(outcome(&allocation, 1).shortfall, 5);
}

#[test]
fn the_benchmark_instance_is_deterministic_and_solvable_at_small_size() {
    let size = InstanceSize {
        demand_lines: 40,
        holdings: 4_000,
        resource_types: 5,
    };
    let first = instance::generate(11, size).expect("generated");
    assert_eq!(first, instance::generate(11, size).expect("generated"));
    assert_ne!(first, instance::generate(12, size).expect("generated"));
    assert_eq!(first.lines().len(), 40);
    assert_eq!(first.holdings().len(), 4_000);
    let types: BTreeMap<&str, usize> =
        first
            .holdings()
            .iter()
            .fold(BTreeMap::new(), |mut count, h| {
                *count.entry(h.resource_type()).or_default() += 1;
                count
            });
    assert_eq!(types.len(), 5);
    for holding in first.holdings() {
        let location = holding.location();
        assert!(
            (instance::LATITUDE_RANGE.0..=instance::LATITUDE_RANGE.1)
                .contains(&location.latitude())
        );
        assert!(
            (instance::LONGITUDE_RANGE.0..=instance::LONGITUDE_RANGE.1)
                .contains(&location.longitude())
        );
    }
    let allocation = solve(&first).expect("solvable");
    check_invariants(&first, &allocation);
    let reference = baseline::solve(&first).expect("solvable");
    assert_eq!(allocation.objective(), &reference.objective);
    assert!(allocation.objective().service.iter().any(|s| s.served > 0));
}

/// A random transshipment network for the simplex alone: (holding supplies, line demands
/// with their shortage penalties, arcs holding → line with costs).
type RawNetwork = (Vec<i64>, Vec<(i64, i64)>, Vec<(usize, usize, i64)>);

fn raw_network() -> impl Strategy<Value = RawNetwork> {
    (1..8usize, 1..8usize).prop_flat_map(|(holdings, lines)| {
        (
            prop::collection::vec(1..=10i64, holdings),
            prop::collection::vec((1..=10i64, 0..=1_000i64), lines),
            prop::collection::vec((0..holdings, 0..lines, 0..=500i64), 0..30),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// LP duality as the oracle: a feasible flow whose potentials give every arc a
    /// non-negative reduced cost, zero on every arc that carries flow, is optimal.
    #[test]
    fn the_simplex_returns_a_flow_certified_optimal_by_its_potentials(network in raw_network()) {
        let (supplies, demands, arcs) = network;
        let holding_count = supplies.len();
        let node_supplies: Vec<i64> = supplies.iter().copied().chain(demands.iter().map(|d| -d.0)).collect();
        let root_costs: Vec<i64> = supplies.iter().map(|_| 0).chain(demands.iter().map(|d| d.1)).collect();
        let node_arcs: Vec<(usize, usize, i64)> =
            arcs.iter().map(|&(h, l, cost)| (h, holding_count + l, cost)).collect();
        let solution = simplex::solve(&node_supplies, &root_costs, &node_arcs).expect("solvable");
        let potential = &solution.potentials;
        let mut balance: Vec<i64> = solution.root_flows.clone();
        for (&(from, to, cost), &flow) in node_arcs.iter().zip(&solution.flows) {
            prop_assert!(flow >= 0);
            let reduced = cost + potential[from] - potential[to];
            prop_assert!(reduced >= 0);
            prop_assert!(flow == 0 || reduced == 0);
            balance[from] += flow;
            balance[to] += flow;
        }
        for node in 0..node_supplies.len() {
            prop_assert!(solution.root_flows[node] >= 0);
            prop_assert_eq!(balance[node], node_supplies[node].abs());
            let reduced = if node < holding_count {
                potential[node]
            } else {
                root_costs[node] - potential[node]
            };
            prop_assert!(reduced >= 0);
            prop_assert!(solution.root_flows[node] == 0 || reduced == 0);
        }
    }
}
