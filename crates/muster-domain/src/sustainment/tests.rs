use proptest::prelude::*;

use super::*;

fn stock(verified: f64) -> StockFigures {
    StockFigures {
        verified,
        ..StockFigures::default()
    }
}

fn flat(type_code: &str, daily_consumption: f64, figures: StockFigures) -> TypeScenario {
    TypeScenario {
        type_code: type_code.into(),
        daily_consumption,
        surge: Vec::new(),
        production: Vec::new(),
        stock: figures,
    }
}

fn scenario(horizon: u16, types: Vec<TypeScenario>) -> Scenario {
    Scenario::new(horizon, types).expect("valid scenario")
}

fn report(horizon: u16, types: Vec<TypeScenario>) -> SustainmentReport {
    compute(&scenario(horizon, types), &DiscountPolicy::default())
}

fn same(value: f64) -> Band<f64> {
    Band {
        low: value,
        expected: value,
        high: value,
    }
}

fn days(value: u16) -> Band<u16> {
    Band {
        low: value,
        expected: value,
        high: value,
    }
}

#[test]
fn days_lasted_by_case() {
    // (consumption, verified stock, surge, production, horizon, days lasted)
    let triple = vec![
        SurgeSegment {
            from_day: 0,
            multiplier: 3.0,
        },
        SurgeSegment {
            from_day: 7,
            multiplier: 1.5,
        },
    ];
    let line = |rate, start, ramp| ProductionSource {
        source: "Plant".into(),
        full_rate_per_day: rate,
        start_day: start,
        ramp_days: ramp,
    };
    type Case = (f64, f64, Vec<SurgeSegment>, Vec<ProductionSource>, u16, u16);
    let cases: Vec<Case> = vec![
        // Exactly ten days of stock lasts ten days, not nine by rounding.
        (10.0, 100.0, vec![], vec![], 30, 10),
        (0.1, 1.0, vec![], vec![], 30, 10),
        (10.0, 99.0, vec![], vec![], 30, 9),
        (10.0, 0.0, vec![], vec![], 30, 0),
        // Zero consumption lasts the horizon, with or without stock.
        (0.0, 0.0, vec![], vec![], 365, 365),
        // Lasting exactly the horizon is lasting it.
        (10.0, 300.0, vec![], vec![], 30, 30),
        // The surge: 3 × 10 for 7 days (210), then 15 a day: 300 lasts 7 + 6 = 13 days.
        (10.0, 300.0, triple.clone(), vec![], 60, 13),
        // A segment that starts later leaves the days before it at ×1.
        (
            10.0,
            100.0,
            vec![SurgeSegment {
                from_day: 5,
                multiplier: 2.0,
            }],
            vec![],
            30,
            7,
        ),
        // Production at the full consumption rate from day 0: never runs out.
        (10.0, 0.0, vec![], vec![line(10.0, 0, 0)], 365, 365),
        // Production from day 5 with no ramp, with 50 in stock: lasts.
        (10.0, 50.0, vec![], vec![line(10.0, 5, 0)], 365, 365),
        // Ramp of 3 days from day 5: days 5, 6, 7 make 2.5, 5, 7.5, a 15 deficit.
        (10.0, 50.0, vec![], vec![line(10.0, 5, 3)], 365, 5),
        (10.0, 65.0, vec![], vec![line(10.0, 5, 3)], 365, 365),
        // Production beyond the horizon does not count.
        (10.0, 50.0, vec![], vec![line(10.0, 400, 0)], 365, 5),
    ];
    for (consumption, verified, surge, production, horizon, expected) in cases {
        let result = report(
            horizon,
            vec![TypeScenario {
                surge: surge.clone(),
                production: production.clone(),
                ..flat("T", consumption, stock(verified))
            }],
        );
        let t = &result.types[0];
        assert_eq!(
            t.days_lasted,
            days(expected),
            "{consumption}/day, {verified} in stock, {surge:?}, {production:?}"
        );
        assert_eq!(t.series.len(), usize::from(horizon));
        let runs_out = (expected < horizon).then_some(expected);
        assert_eq!(t.runs_out_day.expected, runs_out);
    }
}

#[test]
fn the_series_is_the_stock_at_the_end_of_each_day() {
    let result = report(
        5,
        vec![TypeScenario {
            production: vec![ProductionSource {
                source: "Plant".into(),
                full_rate_per_day: 4.0,
                start_day: 1,
                ramp_days: 1,
            }],
            ..flat("T", 10.0, stock(25.0))
        }],
    );
    // Day 0: 25 − 10 = 15; day 1: +2 → 7; day 2: +4 → 1; day 3: +4 → 0 (short 5); day 4: 0.
    let expected: Vec<Band<f64>> = [15.0, 7.0, 1.0, 0.0, 0.0].into_iter().map(same).collect();
    assert_eq!(result.types[0].series, expected);
    assert_eq!(result.types[0].runs_out_day.expected, Some(3));
}

#[test]
fn production_restores_stock_after_running_out_but_the_first_day_counts() {
    let result = report(
        10,
        vec![TypeScenario {
            production: vec![ProductionSource {
                source: "Plant".into(),
                full_rate_per_day: 20.0,
                start_day: 3,
                ramp_days: 0,
            }],
            ..flat("T", 10.0, stock(10.0))
        }],
    );
    let t = &result.types[0];
    assert_eq!(t.runs_out_day.expected, Some(1));
    assert_eq!(t.series[9].expected, 70.0);
}

#[test]
fn the_bottleneck_and_overall_days() {
    let result = report(
        100,
        vec![
            flat("WATER", 100.0, stock(5_000.0)),
            flat("TENT", 10.0, stock(200.0)),
            flat("FUEL", 10.0, stock(200.0)),
            flat("SAND", 0.0, stock(0.0)),
        ],
    );
    let codes: Vec<&str> = result.types.iter().map(|t| t.type_code.as_str()).collect();
    assert_eq!(
        codes,
        vec!["FUEL", "SAND", "TENT", "WATER"],
        "sorted by code"
    );
    // FUEL and TENT tie at 20 days: the lower code wins.
    assert_eq!(
        result.bottleneck,
        Some(Bottleneck {
            type_code: "FUEL".into(),
            runs_out_day: 20
        })
    );
    assert_eq!(result.days_of_sustainment, days(20));
    // What would fix it: 80 more days of 10.
    assert_eq!(result.types[0].extra_stock_to_last_horizon, same(800.0));
    assert_eq!(result.types[1].extra_stock_to_last_horizon, same(0.0));
}

#[test]
fn an_empty_scenario_sustains_the_horizon() {
    let result = report(365, vec![]);
    assert_eq!(result.days_of_sustainment, days(365));
    assert_eq!(result.bottleneck, None);
    assert!(result.types.is_empty());
}

#[test]
fn everything_lasting_has_no_bottleneck() {
    let result = report(30, vec![flat("A", 1.0, stock(100.0))]);
    assert_eq!(result.bottleneck, None);
    assert_eq!(result.days_of_sustainment, days(30));
}

#[test]
fn the_band_widens_with_unverified_and_stale_figures() {
    let policy = DiscountPolicy::default();
    // (figures, low, high)
    let cases = [
        (stock(1_000.0), 1_000.0, 1_000.0),
        (
            StockFigures {
                verified: 600.0,
                unverified: 400.0,
                age_days: 0,
                added: 0.0,
            },
            800.0,
            1_000.0,
        ),
        (
            StockFigures {
                verified: 1_000.0,
                unverified: 0.0,
                age_days: 60,
                added: 0.0,
            },
            902.5,
            1_000.0,
        ),
        (
            StockFigures {
                verified: 0.0,
                unverified: 0.0,
                age_days: 300,
                added: 50.0,
            },
            50.0,
            50.0,
        ),
    ];
    for (figures, low, high) in cases {
        let band = policy.initial_stock(&figures);
        assert!(
            (band.low - low).abs() < 1e-9,
            "{figures:?}: low {}",
            band.low
        );
        assert_eq!(band.high, high, "{figures:?}");
        assert_eq!(band.expected, (band.low + band.high) / 2.0);
    }

    let result = compute(
        &scenario(
            60,
            vec![flat(
                "T",
                10.0,
                StockFigures {
                    verified: 200.0,
                    unverified: 200.0,
                    age_days: 90,
                    added: 0.0,
                },
            )],
        ),
        &policy,
    );
    let t = &result.types[0];
    // high: 400 → 40 days; low: 300 × 0.95³ ≈ 257.2 → 25 days; expected ≈ 328.6 → 32.
    assert_eq!(
        t.days_lasted,
        Band {
            low: 25,
            expected: 32,
            high: 40
        }
    );
    assert_eq!(result.days_of_sustainment, t.days_lasted);
}

#[test]
fn discount_policies_are_checked() {
    assert!(DiscountPolicy::new(0.0, 0.0).is_ok());
    assert!(DiscountPolicy::new(1.0, 1.0).is_ok());
    assert_eq!(
        DiscountPolicy::new(1.5, 0.0),
        Err(DiscountPolicyError::BadUnverifiedShare(1.5))
    );
    assert!(matches!(
        DiscountPolicy::new(0.5, f64::NAN),
        Err(DiscountPolicyError::BadDecay(_))
    ));
    let default = DiscountPolicy::default();
    assert_eq!(
        (default.unverified_share(), default.decay_per_30_days()),
        (0.5, 0.05)
    );
}

#[test]
fn every_problem_of_a_scenario_is_named() {
    let bad_number = |type_code: &str, field: &str, expected, found| ScenarioProblem::BadNumber {
        type_code: type_code.into(),
        field: field.into(),
        expected,
        found,
    };
    let mut messy = flat(
        "B",
        -1.0,
        StockFigures {
            verified: f64::INFINITY,
            unverified: 1e16,
            age_days: 0,
            added: -2.0,
        },
    );
    messy.surge = vec![
        SurgeSegment {
            from_day: 3,
            multiplier: 1_001.0,
        },
        SurgeSegment {
            from_day: 3,
            multiplier: 1.0,
        },
    ];
    messy.production = vec![ProductionSource {
        source: "P".into(),
        full_rate_per_day: -5.0,
        start_day: 0,
        ramp_days: 0,
    }];
    let cases: Vec<(u16, Vec<TypeScenario>, Vec<ScenarioProblem>)> = vec![
        (0, vec![], vec![ScenarioProblem::BadHorizon { found: 0 }]),
        (
            366,
            vec![],
            vec![ScenarioProblem::BadHorizon { found: 366 }],
        ),
        (
            10,
            vec![
                flat(" ", 1.0, stock(1.0)),
                flat("A", 1.0, stock(1.0)),
                flat(" A", 1.0, stock(1.0)),
            ],
            vec![
                ScenarioProblem::TypeCodeMissing { index: 0 },
                ScenarioProblem::DuplicateType {
                    index: 2,
                    type_code: "A".into(),
                },
            ],
        ),
        (
            10,
            vec![messy],
            vec![
                bad_number("B", "daily_consumption", NON_NEGATIVE, -1.0),
                bad_number("B", "stock.verified", NON_NEGATIVE, f64::INFINITY),
                bad_number("B", "stock.unverified", NON_NEGATIVE, 1e16),
                bad_number("B", "stock.added", NON_NEGATIVE, -2.0),
                bad_number("B", "surge[0].multiplier", MULTIPLIER, 1_001.0),
                bad_number("B", "production[0].full_rate_per_day", NON_NEGATIVE, -5.0),
                ScenarioProblem::SurgeOutOfOrder {
                    type_code: "B".into(),
                    index: 1,
                },
            ],
        ),
        (
            10,
            vec![TypeScenario {
                surge: vec![
                    SurgeSegment {
                        from_day: 0,
                        multiplier: 1.0
                    };
                    MAX_ENTRIES_PER_TYPE + 1
                ],
                ..flat("C", 1.0, stock(1.0))
            }],
            {
                let mut expected = vec![ScenarioProblem::TooManyEntries {
                    type_code: "C".into(),
                    field: "surge",
                    found: MAX_ENTRIES_PER_TYPE + 1,
                }];
                expected.extend((1..=MAX_ENTRIES_PER_TYPE).map(|index| {
                    ScenarioProblem::SurgeOutOfOrder {
                        type_code: "C".into(),
                        index,
                    }
                }));
                expected
            },
        ),
    ];
    for (horizon, types, expected) in cases {
        assert_eq!(Scenario::new(horizon, types), Err(expected));
    }
    let text = bad_number("B", "stock.verified", NON_NEGATIVE, -1.0).to_string();
    assert_eq!(
        text,
        "B.stock.verified: expected a finite number from 0 to 10^15, found -1"
    );
}

#[test]
fn what_ifs_fix_the_bottleneck() {
    let base = scenario(
        100,
        vec![
            flat("FUEL", 10.0, stock(200.0)),
            flat("WATER", 10.0, stock(2_000.0)),
        ],
    );
    let policy = DiscountPolicy::default();
    assert_eq!(compute(&base, &policy).days_of_sustainment, days(20));

    let more_fuel = apply_adjustments(
        &base,
        &[Adjustment::AddStock {
            type_code: "FUEL".into(),
            quantity: 300.0,
        }],
    )
    .expect("applies");
    assert_eq!(more_fuel.types()[0].stock.added, 300.0);
    assert_eq!(compute(&more_fuel, &policy).days_of_sustainment, days(50));

    let converted = apply_adjustments(
        &base,
        &[
            Adjustment::AddStock {
                type_code: "FUEL".into(),
                quantity: 300.0,
            },
            Adjustment::ConvertEnterprise {
                enterprise: " Anhui Refinery ".into(),
                type_code: "FUEL".into(),
                full_rate_per_day: 10.0,
                start_day: 30,
                ramp_days: 0,
            },
        ],
    )
    .expect("applies");
    assert_eq!(converted.types()[0].production[0].source, "Anhui Refinery");
    let result = compute(&converted, &policy);
    assert_eq!(result.days_of_sustainment, days(100));
    assert_eq!(result.bottleneck, None);
    // The original is untouched, for side-by-side display.
    assert_eq!(compute(&base, &policy).days_of_sustainment, days(20));
}

#[test]
fn what_if_refusals() {
    let base = scenario(10, vec![flat("FUEL", 1.0, stock(1.0))]);
    let add = |code: &str, quantity| Adjustment::AddStock {
        type_code: code.into(),
        quantity,
    };
    let convert = |enterprise: &str, rate| Adjustment::ConvertEnterprise {
        enterprise: enterprise.into(),
        type_code: "FUEL".into(),
        full_rate_per_day: rate,
        start_day: 0,
        ramp_days: 0,
    };
    let cases = vec![
        (
            vec![add("FUEL", 1.0), add("WATER", 1.0)],
            AdjustmentError::UnknownType {
                index: 1,
                type_code: "WATER".into(),
            },
        ),
        (
            vec![add("FUEL", 0.0)],
            AdjustmentError::BadNumber {
                index: 0,
                field: "quantity",
                expected: POSITIVE,
                found: 0.0,
            },
        ),
        (
            vec![add("FUEL", -5.0)],
            AdjustmentError::BadNumber {
                index: 0,
                field: "quantity",
                expected: POSITIVE,
                found: -5.0,
            },
        ),
        (
            vec![convert("Plant", 2e15)],
            AdjustmentError::BadNumber {
                index: 0,
                field: "full_rate_per_day",
                expected: POSITIVE,
                found: 2e15,
            },
        ),
        (
            vec![convert(" ", 1.0)],
            AdjustmentError::EnterpriseMissing { index: 0 },
        ),
        (
            // Each addition fits; together they pass the limit.
            vec![add("FUEL", 1e15), add("FUEL", 1e15)],
            AdjustmentError::Scenario(vec![ScenarioProblem::BadNumber {
                type_code: "FUEL".into(),
                field: "stock.added".into(),
                expected: NON_NEGATIVE,
                found: 2e15,
            }]),
        ),
    ];
    for (adjustments, expected) in cases {
        assert_eq!(
            apply_adjustments(&base, &adjustments),
            Err(expected),
            "{adjustments:?}"
        );
    }
}

fn codes(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("DEMO.T{i:02}")).collect()
}

#[test]
fn the_demo_scenario_has_a_clear_bottleneck() {
    for seed in 0..20 {
        let scenario = demo_scenario(seed, &codes(50));
        assert_eq!(scenario, demo_scenario(seed, &codes(50)), "deterministic");
        assert_eq!(scenario.types().len(), 50);
        assert_eq!(scenario.horizon_days(), 365);
        let result = compute(&scenario, &DiscountPolicy::default());
        let bottleneck = result.bottleneck.clone().expect("a bottleneck");
        assert!(bottleneck.runs_out_day <= 20, "seed {seed}: {bottleneck:?}");
        let runner_up = result
            .types
            .iter()
            .filter(|t| t.type_code != bottleneck.type_code)
            .map(|t| t.days_lasted.low)
            .min()
            .expect("other types");
        assert!(
            runner_up >= 90,
            "seed {seed}: the runner-up lasts {runner_up} days"
        );
        let b = result
            .types
            .iter()
            .find(|t| t.type_code == bottleneck.type_code)
            .expect("listed");
        assert!(b.days_lasted.low < b.days_lasted.high, "a visible band");
    }
    assert_ne!(demo_scenario(1, &codes(50)), demo_scenario(2, &codes(50)));
    assert!(demo_scenario(1, &[]).types().is_empty());
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

fn any_type(code: String) -> impl Strategy<Value = TypeScenario> {
    let surge = prop::collection::btree_map(0u16..400, 0.0f64..10.0, 0..4).prop_map(|m| {
        m.into_iter()
            .map(|(from_day, multiplier)| SurgeSegment {
                from_day,
                multiplier,
            })
            .collect::<Vec<_>>()
    });
    let production = prop::collection::vec(
        (0.0f64..500.0, 0u16..400, 0u16..60).prop_map(|(rate, start, ramp)| ProductionSource {
            source: "P".into(),
            full_rate_per_day: rate,
            start_day: start,
            ramp_days: ramp,
        }),
        0..3,
    );
    let figures = (0.0f64..1e6, 0.0f64..1e6, 0u32..1_000).prop_map(|(v, u, age)| StockFigures {
        verified: v,
        unverified: u,
        age_days: age,
        added: 0.0,
    });
    (0.0f64..1_000.0, surge, production, figures).prop_map(move |(c, surge, production, stock)| {
        TypeScenario {
            type_code: code.clone(),
            daily_consumption: c,
            surge,
            production,
            stock,
        }
    })
}

fn any_scenario() -> impl Strategy<Value = Scenario> {
    (1u16..=365, 0usize..5).prop_flat_map(|(horizon, count)| {
        let types: Vec<_> = (0..count).map(|i| any_type(format!("T{i}"))).collect();
        types.prop_map(move |types| Scenario::new(horizon, types).expect("valid by construction"))
    })
}

fn any_policy() -> impl Strategy<Value = DiscountPolicy> {
    (0.0f64..=1.0, 0.0f64..=1.0)
        .prop_map(|(share, decay)| DiscountPolicy::new(share, decay).expect("in range"))
}

fn ordered<T: PartialOrd + Copy>(band: &Band<T>) -> bool {
    band.low <= band.expected && band.expected <= band.high
}

proptest! {
    #[test]
    fn series_are_never_negative_and_bands_are_ordered(scenario in any_scenario(), policy in any_policy()) {
        let result = compute(&scenario, &policy);
        prop_assert_eq!(result.types.len(), scenario.types().len());
        prop_assert!(ordered(&result.days_of_sustainment));
        for t in &result.types {
            prop_assert!(ordered(&t.initial_stock));
            prop_assert!(ordered(&t.days_lasted));
            prop_assert!(t.days_lasted.high <= scenario.horizon_days());
            // More stock needs less added: the order reverses.
            let extra = &t.extra_stock_to_last_horizon;
            prop_assert!(extra.high <= extra.expected && extra.expected <= extra.low);
            prop_assert_eq!(t.series.len(), usize::from(scenario.horizon_days()));
            for day in &t.series {
                prop_assert!(day.low >= 0.0 && day.low.is_finite());
                prop_assert!(ordered(day), "{:?}", day);
            }
            prop_assert!(result.days_of_sustainment.expected <= t.days_lasted.expected);
        }
    }

    #[test]
    fn adding_stock_never_shortens_the_days(
        scenario in any_scenario(),
        policy in any_policy(),
        which in any::<prop::sample::Index>(),
        quantity in 0.001f64..1e6,
    ) {
        prop_assume!(!scenario.types().is_empty());
        let code = scenario.types()[which.index(scenario.types().len())].type_code.clone();
        let before = compute(&scenario, &policy);
        let more = apply_adjustments(&scenario, &[Adjustment::AddStock { type_code: code, quantity }])
            .expect("applies");
        let after = compute(&more, &policy);
        for (b, a) in before.types.iter().zip(&after.types) {
            prop_assert!(a.days_lasted.low >= b.days_lasted.low);
            prop_assert!(a.days_lasted.expected >= b.days_lasted.expected);
            prop_assert!(a.days_lasted.high >= b.days_lasted.high);
        }
        prop_assert!(after.days_of_sustainment.low >= before.days_of_sustainment.low);
        prop_assert!(after.days_of_sustainment.expected >= before.days_of_sustainment.expected);
        prop_assert!(after.days_of_sustainment.high >= before.days_of_sustainment.high);
    }

    /// Stock enough for the peak net need lasts the horizon: the "what would fix it"
    /// figure is enough (with a millionth to spare, as the figure is a sum of a year of
    /// days and the run a sequence of them, rounded differently).
    #[test]
    fn the_extra_stock_figure_is_enough(scenario in any_scenario()) {
        let policy = DiscountPolicy::default();
        let result = compute(&scenario, &policy);
        let adjustments: Vec<Adjustment> = result
            .types
            .iter()
            .filter(|t| t.extra_stock_to_last_horizon.low > 0.0)
            .map(|t| Adjustment::AddStock {
                type_code: t.type_code.clone(),
                quantity: t.extra_stock_to_last_horizon.low * (1.0 + 1e-9) + 1e-6,
            })
            .collect();
        let fixed = compute(&apply_adjustments(&scenario, &adjustments).expect("applies"), &policy);
        prop_assert_eq!(fixed.days_of_sustainment.low, scenario.horizon_days());
    }
}

fn has_cjk(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

#[test]
fn every_scenario_and_adjustment_problem_is_said_in_chinese_about_its_field() {
    let problems = [
        ScenarioProblem::BadHorizon { found: 400 },
        ScenarioProblem::TooManyTypes { count: 5_001 },
        ScenarioProblem::TypeCodeMissing { index: 2 },
        ScenarioProblem::DuplicateType {
            index: 3,
            type_code: "WATER".into(),
        },
        ScenarioProblem::BadNumber {
            type_code: "WATER".into(),
            field: "daily_consumption".into(),
            expected: NON_NEGATIVE,
            found: -1.0,
        },
        ScenarioProblem::BadNumber {
            type_code: "WATER".into(),
            field: "surge[0].multiplier".into(),
            expected: MULTIPLIER,
            found: 2000.0,
        },
        ScenarioProblem::TooManyEntries {
            type_code: "WATER".into(),
            field: "surge",
            found: 1_001,
        },
        ScenarioProblem::SurgeOutOfOrder {
            type_code: "WATER".into(),
            index: 1,
        },
    ];
    let mut said = BTreeSet::new();
    for problem in &problems {
        let english = problem.to_string();
        let zh = problem.zh();
        let path = english.split(": ").next().expect("a field path");
        assert!(zh.starts_with(&format!("{path}：")), "{english} / {zh}");
        assert!(has_cjk(&zh), "{zh}");
        assert!(!zh.contains('；'), "{zh}");
        assert!(!zh.contains("finite"), "English left in: {zh}");
        assert!(said.insert(zh.clone()), "said twice: {zh}");
    }
    assert!(problems[0].zh().contains("400"));
    assert!(
        problems[4].zh().contains("0 至 10^15"),
        "{}",
        problems[4].zh()
    );

    let adjustments = [
        AdjustmentError::UnknownType {
            index: 0,
            type_code: "NOPE".into(),
        },
        AdjustmentError::BadNumber {
            index: 1,
            field: "quantity",
            expected: POSITIVE,
            found: 0.0,
        },
        AdjustmentError::EnterpriseMissing { index: 2 },
    ];
    for error in &adjustments {
        let english = error.to_string();
        let zh = error.zh();
        let path = english.split(": ").next().expect("a field path");
        assert!(zh.starts_with(&format!("{path}：")), "{english} / {zh}");
        assert!(has_cjk(&zh) && !zh.contains("finite"), "{zh}");
    }
    let whole = AdjustmentError::Scenario(problems[..2].to_vec()).zh();
    assert_eq!(
        whole,
        format!(
            "调整后的情景无效：{}；{}",
            problems[0].zh(),
            problems[1].zh()
        )
    );
}
