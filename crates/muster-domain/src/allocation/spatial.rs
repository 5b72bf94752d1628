//! The spatial index: holdings of one resource type as points on the unit sphere in a
//! kiddo k-d tree.
//!
//! Latitude and longitude are not a Euclidean space (a degree of longitude shrinks toward
//! the poles), so points are mapped to 3-D unit vectors, where straight-line (chord)
//! distance is a monotone function of great-circle distance: nearest by chord is nearest on
//! the globe, and a great-circle radius is an exact chord radius. Real distances are then
//! measured with Haversine ([`great_circle_km`]).

use std::num::NonZeroUsize;

use kiddo::{ImmutableKdTree, SquaredEuclidean};

use super::GeoPoint;
use crate::potential::import::great_circle_km;

/// The mean Earth radius that [`great_circle_km`] uses.
pub(super) const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Half the circumference: no two points on Earth are further apart.
pub(super) const MAX_GREAT_CIRCLE_KM: f64 = std::f64::consts::PI * EARTH_RADIUS_KM;

/// Holdings (by their index in the problem) of one type, searchable by distance.
#[derive(Debug)]
pub(super) struct HoldingIndex {
    tree: Option<ImmutableKdTree<f64, 3>>,
    members: Vec<usize>,
}

impl HoldingIndex {
    /// Builds the index over `members` (indices into `locations`).
    pub(super) fn build(members: Vec<usize>, locations: impl Fn(usize) -> GeoPoint) -> Self {
        let points: Vec<[f64; 3]> = members
            .iter()
            .map(|&member| unit_vector(locations(member)))
            .collect();
        // Construction fails only when the item index overflows u32 (over four billion
        // holdings of one type); an index that finds nothing is then the honest fallback.
        let tree = if points.is_empty() {
            None
        } else {
            ImmutableKdTree::new_from_slice(&points).ok()
        };
        Self { tree, members }
    }

    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// The `count` members nearest to `point`, nearest first.
    pub(super) fn nearest(&self, point: GeoPoint, count: usize) -> Vec<usize> {
        let (Some(tree), Some(count)) = (&self.tree, NonZeroUsize::new(count)) else {
            return Vec::new();
        };
        tree.query(&unit_vector(point))
            .nearest_n::<SquaredEuclidean<f64>>(count)
            .execute()
            .into_iter()
            .filter_map(|found| self.members.get(found.item as usize).copied())
            .collect()
    }

    /// Every member within `radius_km` of `point` along the great circle, in no order.
    /// The chord radius is widened by a hair so that rounding never drops a member on the
    /// boundary; callers measure the real distance anyway.
    pub(super) fn within_km(&self, point: GeoPoint, radius_km: f64) -> Vec<usize> {
        let Some(tree) = &self.tree else {
            return Vec::new();
        };
        let chord_squared = chord_squared_for_km(radius_km) * (1.0 + 1e-9) + 1e-12;
        tree.query(&unit_vector(point))
            .within::<SquaredEuclidean<f64>>(chord_squared)
            .unsorted()
            .execute()
            .into_iter()
            .filter_map(|found| self.members.get(found.item as usize).copied())
            .collect()
    }
}

/// Great-circle kilometres between two points (Haversine).
pub(super) fn distance_km(a: GeoPoint, b: GeoPoint) -> f64 {
    great_circle_km((a.latitude(), a.longitude()), (b.latitude(), b.longitude()))
}

fn unit_vector(point: GeoPoint) -> [f64; 3] {
    let (lat, lon) = (
        point.latitude().to_radians(),
        point.longitude().to_radians(),
    );
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// The squared chord on the unit sphere that subtends `km` of great circle.
fn chord_squared_for_km(km: f64) -> f64 {
    if km.is_nan() || km <= 0.0 {
        return 0.0;
    }
    let angle = (km / EARTH_RADIUS_KM).min(std::f64::consts::PI);
    let chord = 2.0 * (angle / 2.0).sin();
    chord * chord
}
