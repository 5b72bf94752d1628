//! Deterministic synthetic instances for the benchmark (`muster bench allocation`) and the
//! tests: holdings and demand lines spread over a province-sized area, from a seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    AllocationError, AllocationProblem, DemandLine, DemandLineId, GeoPoint, Holding, HoldingId,
    TransportParameters,
};
use crate::time::Timestamp;

/// The area the instance covers: about the size of a province (≈ 590 × 450 km).
pub const LATITUDE_RANGE: (f64, f64) = (29.4, 34.7);
pub const LONGITUDE_RANGE: (f64, f64) = (114.9, 119.7);

/// The "now" of every generated instance (2026-01-01T00:00:00Z).
pub const INSTANCE_NOW: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// The size of a generated instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceSize {
    pub demand_lines: usize,
    pub holdings: usize,
    pub resource_types: usize,
}

impl InstanceSize {
    /// The benchmark's instance: 1,000 lines against 100,000 holdings of 50 types.
    pub const BENCHMARK: Self = Self {
        demand_lines: 1_000,
        holdings: 100_000,
        resource_types: 50,
    };
}

/// The code of the `index`-th synthetic resource type.
pub fn resource_type_code(index: usize) -> String {
    format!("BENCH.TYPE_{index:03}")
}

/// Generates an instance from `seed`: holdings of 1–60 units at uniform random places, one
/// in ten outside the requester's scope; lines of 20–600 units (one in ten a surge of
/// 1,000–3,000, which nearby stock may not cover in time) needed within 1–48 hours at
/// priorities 1–3; trucks at 60 km/h on roads 1.3 times the great circle, with type costs
/// of 0.5–5.0 per unit-km. The same seed always gives the same instance.
pub fn generate(seed: u64, size: InstanceSize) -> Result<AllocationProblem, AllocationError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let type_count = size.resource_types.max(1);
    let mut parameters = TransportParameters::new(2.0, 1.3, 60.0)?;
    for index in 0..type_count {
        let cost = f64::from(rng.random_range(5u32..=50)) / 10.0;
        parameters = parameters.with_type_cost(resource_type_code(index), cost)?;
    }
    let holdings = (0..size.holdings)
        .map(|index| {
            Holding::new(
                HoldingId::new(index as i64 + 1),
                resource_type_code(rng.random_range(0..type_count)),
                rng.random_range(1..=60),
                random_point(&mut rng)?,
                rng.random_bool(0.9),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let lines = (0..size.demand_lines)
        .map(|index| {
            let hours: i64 = rng.random_range(1..=48);
            let quantity = if rng.random_bool(0.1) {
                rng.random_range(1_000..=3_000)
            } else {
                rng.random_range(20..=600)
            };
            DemandLine::new(
                DemandLineId::new(index as i64 + 1),
                resource_type_code(rng.random_range(0..type_count)),
                quantity,
                random_point(&mut rng)?,
                INSTANCE_NOW.plus_millis(hours * 3_600_000),
                rng.random_range(1..=3),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    AllocationProblem::new(INSTANCE_NOW, lines, holdings, parameters)
}

fn random_point(rng: &mut ChaCha8Rng) -> Result<GeoPoint, AllocationError> {
    GeoPoint::new(
        rng.random_range(LATITUDE_RANGE.0..=LATITUDE_RANGE.1),
        rng.random_range(LONGITUDE_RANGE.0..=LONGITUDE_RANGE.1),
    )
}
