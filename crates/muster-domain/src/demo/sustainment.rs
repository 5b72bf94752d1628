//! The demo's sustainment scenario on the stock the demo really has: [`demo_scenario`]'s
//! design (which type is the bottleneck, the surge, the converted production) scaled type by
//! type to the stored figures, so the bottleneck is as clear on the demo's potential as on
//! the generated one.

use std::collections::BTreeMap;

use crate::sustainment::{DiscountPolicy, Scenario, StockFigures, demo_scenario};

/// A scenario over the types of `stock` that have any (at most `max_types`, by code): each
/// type's consumption and production are those of [`demo_scenario`] times the ratio of the
/// stored stock to the generated one (both by the expected estimate of `policy`), so each
/// type lasts about as many days as it was designed to. The stock itself is not part of
/// the result: a stored scenario reads it afresh when run.
pub fn demo_scenario_on_stock(
    seed: u64,
    stock: &BTreeMap<String, StockFigures>,
    max_types: usize,
    policy: &DiscountPolicy,
) -> Scenario {
    let codes: Vec<String> = stock
        .iter()
        .filter(|(_, s)| s.verified + s.unverified > 0.0)
        .map(|(code, _)| code.clone())
        .take(max_types)
        .collect();
    let designed = demo_scenario(seed, &codes);
    let types = designed
        .types()
        .iter()
        .map(|t| {
            let generated = policy.initial_stock(&t.stock).expected;
            let stored = stock
                .get(&t.type_code)
                .map_or(0.0, |s| policy.initial_stock(s).expected);
            let scale = if generated > 0.0 {
                stored / generated
            } else {
                0.0
            };
            let mut scaled = t.clone();
            scaled.daily_consumption = (t.daily_consumption * scale).max(f64::MIN_POSITIVE);
            for source in &mut scaled.production {
                source.full_rate_per_day *= scale;
            }
            scaled.stock = StockFigures::default();
            scaled
        })
        .collect();
    Scenario::new(designed.horizon_days(), types).unwrap_or(designed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sustainment::compute;

    #[test]
    fn the_bottleneck_stays_clear_on_other_stock() {
        let stock: BTreeMap<String, StockFigures> = (0..12)
            .map(|i| {
                (
                    format!("T.{i:02}"),
                    StockFigures {
                        verified: 1_000.0 * f64::from(i + 1),
                        unverified: 200.0,
                        age_days: 30,
                        added: 0.0,
                    },
                )
            })
            .collect();
        let policy = DiscountPolicy::default();
        let scenario = demo_scenario_on_stock(5, &stock, 10, &policy);
        assert_eq!(scenario.types().len(), 10);
        let with_stock = Scenario::new(
            scenario.horizon_days(),
            scenario
                .types()
                .iter()
                .map(|t| {
                    let mut t = t.clone();
                    t.stock = stock[&t.type_code];
                    t
                })
                .collect(),
        )
        .expect("valid");
        let report = compute(&with_stock, &policy);
        let bottleneck = report.bottleneck.expect("a bottleneck");
        assert!(bottleneck.runs_out_day < 30, "{bottleneck:?}");
        let others = report
            .types
            .iter()
            .filter(|t| t.type_code != bottleneck.type_code)
            .map(|t| t.days_lasted.expected)
            .min()
            .expect("others");
        assert!(others >= 60, "every other type lasts much longer: {others}");
    }
}
