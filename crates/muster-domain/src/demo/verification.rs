//! What the demo's verifier finds on site: most records as reported, a few with the
//! quantity well off (so they are corrected and reopened), one in the wrong place, and a
//! few not visited yet. Deterministic in the seed and the sampled records.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::verification::relative_difference;

/// Share of the sampled records the verifier has not reached yet.
const UNVISITED_SHARE: f64 = 0.1;
/// Share of the sampled records whose quantity is well off.
const WRONG_QUANTITY_SHARE: f64 = 0.1;
/// Share of the accurate findings that differ a little (within the default 5 % tolerance).
const SLIGHTLY_OFF_SHARE: f64 = 0.3;

/// A sampled record as the plan needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampledRecord {
    pub record_id: i64,
    /// The record's quantity when it is visited.
    pub quantity: f64,
    /// Whether the type counts whole units, so that what is seen is a whole number too.
    pub whole_units: bool,
    /// The most one record of the type may hold: what is seen stays within it, as a real
    /// verifier's finding must.
    pub max_quantity: f64,
}

/// What the verifier reports for one record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlannedFinding {
    /// Not visited yet: the item stays open on the verifier's list.
    NotVisited,
    /// Found as reported, or within a few per cent.
    Accurate { quantity_seen: f64 },
    /// Found 30 to 60 % off what was reported.
    WrongQuantity { quantity_seen: f64 },
    /// The quantity is right but the holding is not where the record says.
    WrongLocation { quantity_seen: f64 },
}

impl PlannedFinding {
    /// The quantity seen, for a visited record.
    pub fn quantity_seen(&self) -> Option<f64> {
        match *self {
            PlannedFinding::NotVisited => None,
            PlannedFinding::Accurate { quantity_seen }
            | PlannedFinding::WrongQuantity { quantity_seen }
            | PlannedFinding::WrongLocation { quantity_seen } => Some(quantity_seen),
        }
    }

    pub fn location_right(&self) -> bool {
        !matches!(self, PlannedFinding::WrongLocation { .. })
    }

    /// The verifier's note, in the language of the office.
    pub fn notes(&self) -> &'static str {
        match self {
            PlannedFinding::NotVisited => "",
            PlannedFinding::Accurate { .. } => "现场核查：数量、位置、类型与登记一致。",
            PlannedFinding::WrongQuantity { .. } => {
                "现场核查：实有数量与登记明显不符，已按实有数量更正，请报送单位复核。"
            }
            PlannedFinding::WrongLocation { .. } => {
                "现场核查：登记地点未见该物资，据称已转存他处，请报送单位核实储存地点。"
            }
        }
    }
}

/// A finding for every sampled record, in the order given: about a tenth not visited and a
/// tenth with the quantity well off (at least one of each from five records, two wrong
/// quantities from ten), exactly one in the wrong place from eight, the rest accurate.
pub fn plan_findings(records: &[SampledRecord], seed: u64) -> Vec<(i64, PlannedFinding)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_c4ec);
    let n = records.len();
    let share = |s: f64, at_least: usize, from: usize| {
        let count = (n as f64 * s).round() as usize;
        if n >= from {
            count.max(at_least)
        } else {
            count
        }
    };
    let unvisited = share(UNVISITED_SHARE, 1, 5);
    let wrong_quantity = share(WRONG_QUANTITY_SHARE, 2, 10);
    let wrong_location = usize::from(n >= 8);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut findings = vec![PlannedFinding::NotVisited; n];
    for (rank, &index) in order.iter().enumerate() {
        let record = &records[index];
        let quantity = record.quantity;
        findings[index] = if rank < unvisited {
            PlannedFinding::NotVisited
        } else if rank < unvisited + wrong_quantity {
            let off = rng.random_range(0.3..0.6);
            let more = rng.random_range(0..3) == 0;
            PlannedFinding::WrongQuantity {
                quantity_seen: well_off(record, off, more),
            }
        } else if rank < unvisited + wrong_quantity + wrong_location {
            PlannedFinding::WrongLocation {
                quantity_seen: quantity,
            }
        } else if rng.random_bool(SLIGHTLY_OFF_SHARE) {
            let off = rng.random_range(-0.04..0.04);
            PlannedFinding::Accurate {
                quantity_seen: slightly_off(record, off),
            }
        } else {
            PlannedFinding::Accurate {
                quantity_seen: quantity,
            }
        };
    }
    records
        .iter()
        .zip(findings)
        .map(|(r, f)| (r.record_id, f))
        .collect()
}

/// The record's quantity a fraction `off` short (or over, when `more`), rounded as the type
/// counts; where rounding leaves it too close, or over goes beyond what a record of the type
/// may hold, half as much again, or half as much; nothing at all as the last resort.
fn well_off(record: &SampledRecord, off: f64, more: bool) -> f64 {
    let quantity = record.quantity;
    let round = |q: f64| round_as(q, record.whole_units);
    let factor = if more { 1.0 + off } else { 1.0 - off };
    let candidates = [
        round(quantity * factor),
        round(quantity * 1.5).max(quantity + 1.0),
        round(quantity * 0.5),
    ];
    candidates
        .into_iter()
        .find(|&seen| {
            seen > 0.0 && seen <= record.max_quantity && relative_difference(quantity, seen) > 0.25
        })
        .unwrap_or(0.0)
}

/// Within a few per cent, and within what the type allows; exact where the quantity is too
/// small to differ by less.
fn slightly_off(record: &SampledRecord, off: f64) -> f64 {
    let quantity = record.quantity;
    let seen = round_as(quantity * (1.0 + off), record.whole_units);
    if seen > 0.0 && seen <= record.max_quantity && relative_difference(quantity, seen) <= 0.045 {
        seen
    } else {
        quantity
    }
}

fn round_as(quantity: f64, whole_units: bool) -> f64 {
    if whole_units {
        quantity.round()
    } else {
        (quantity * 10.0).round() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<SampledRecord> {
        (0..n)
            .map(|i| SampledRecord {
                record_id: i as i64 * 7 + 3,
                // Small whole counts, large ones and amounts, where rounding bites most.
                quantity: [1.0, 2.0, 3.0, 40.0, 412.5, 0.7][i % 6],
                whole_units: i % 6 < 4,
                // Some records at their type's limit, where "more" must not be seen.
                max_quantity: if i % 4 == 0 {
                    [1.0, 2.0, 3.0, 40.0, 412.5, 0.7][i % 6]
                } else {
                    1e6
                },
            })
            .collect()
    }

    #[test]
    fn findings_have_the_promised_mix_at_every_size() {
        // (records, not visited, wrong quantities, wrong locations)
        let cases = [
            (0, 0, 0, 0),
            (1, 0, 0, 0),
            (4, 0, 0, 0),
            (5, 1, 1, 0),
            (8, 1, 1, 1),
            (10, 1, 2, 1),
            (24, 2, 2, 1),
            (200, 20, 20, 1),
        ];
        for (n, unvisited, wrong, misplaced) in cases {
            let findings = plan_findings(&sample(n), 9);
            let count =
                |p: fn(&PlannedFinding) -> bool| findings.iter().filter(|(_, f)| p(f)).count();
            assert_eq!(findings.len(), n);
            assert_eq!(
                count(|f| *f == PlannedFinding::NotVisited),
                unvisited,
                "{n}"
            );
            assert_eq!(
                count(|f| matches!(f, PlannedFinding::WrongQuantity { .. })),
                wrong,
                "{n}"
            );
            assert_eq!(
                count(|f| matches!(f, PlannedFinding::WrongLocation { .. })),
                misplaced,
                "{n}"
            );
        }
    }

    #[test]
    fn wrong_quantities_are_beyond_the_reopening_threshold_and_accurate_ones_within_tolerance() {
        for seed in 0..40 {
            let records = sample(60);
            for ((id, finding), record) in plan_findings(&records, seed).iter().zip(&records) {
                assert_eq!(*id, record.record_id);
                let Some(seen) = finding.quantity_seen() else {
                    continue;
                };
                // Nothing found is a wrong quantity's last resort (a single item at its
                // type's limit can be neither more nor fewer); anything else saw something.
                let half = round_as(record.quantity * 0.5, record.whole_units);
                let nothing_allowed = matches!(finding, PlannedFinding::WrongQuantity { .. })
                    && record.quantity * 1.5 > record.max_quantity
                    && (half <= 0.0 || relative_difference(record.quantity, half) <= 0.25);
                assert!(seen > 0.0 || nothing_allowed, "{record:?} {finding:?}");
                assert!(seen <= record.max_quantity, "{record:?} {finding:?}");
                if record.whole_units {
                    assert_eq!(seen.fract(), 0.0, "{finding:?}");
                }
                let error = relative_difference(record.quantity, seen);
                match finding {
                    PlannedFinding::WrongQuantity { .. } => {
                        assert!(error > 0.2, "{record:?} {finding:?}")
                    }
                    _ => assert!(error <= 0.05, "{record:?} {finding:?}"),
                }
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_findings() {
        let records = sample(50);
        assert_eq!(plan_findings(&records, 3), plan_findings(&records, 3));
        assert_ne!(plan_findings(&records, 3), plan_findings(&records, 4));
    }
}
