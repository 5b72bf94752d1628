use std::collections::HashSet;

use rand::Rng;

use super::*;

const DAY: i64 = MILLIS_PER_DAY;
/// "Now" in every test: 2025-01-01T00:00:00Z.
const NOW: Timestamp = Timestamp::from_millis(1_735_689_600_000);

fn days_ago(days: i64) -> Option<Timestamp> {
    Some(NOW.plus_millis(-days * DAY))
}

/// A typical record: 100 units of `TYPE.A`, last year 100, verified 30 days ago, unit 1.
fn candidate(record_id: i64, stratum: &str) -> SampleCandidate {
    SampleCandidate {
        record_id,
        stratum: stratum.into(),
        region_path: format!("/34/3401/{stratum}/").into(),
        type_code: "TYPE.A".into(),
        quantity: 100.0,
        previous_quantity: Some(100.0),
        last_verified: days_ago(30),
        reporting_unit: 1,
    }
}

/// `count` typical records in `stratum`, ids from `first`, with quantities 95..=105.
fn stratum_of(stratum: &str, first: i64, count: i64) -> Vec<SampleCandidate> {
    (first..first + count)
        .map(|id| SampleCandidate {
            quantity: 95.0 + (id % 11) as f64,
            ..candidate(id, stratum)
        })
        .collect()
}

fn context() -> RiskContext {
    RiskContext {
        now: NOW,
        stale_after_days: 365,
        unit_credibility: HashMap::new(),
    }
}

fn path(text: &str) -> RegionPath {
    RegionPath::parse(text).expect("a valid path")
}

fn score_of(scores: &[RiskScore], record_id: i64) -> &RiskScore {
    scores
        .iter()
        .find(|s| s.record_id == record_id)
        .expect("every candidate is scored")
}

// ---------------------------------------------------------------------------------------
// Stratified sampling

#[test]
fn stratified_takes_each_strata_count_or_percent_capped_at_its_size() {
    let mut candidates = stratum_of("340104", 1, 40);
    candidates.extend(stratum_of("340105", 101, 7));
    candidates.extend(stratum_of("340106", 201, 1));
    // (size, expected per stratum in code order)
    let cases: &[(SampleSize, [usize; 3])] = &[
        (SampleSize::Count(5), [5, 5, 1]),
        (SampleSize::Count(0), [0, 0, 0]),
        (SampleSize::Count(u32::MAX), [40, 7, 1]),
        (SampleSize::Percent(10.0), [4, 1, 1]),
        (SampleSize::Percent(12.5), [5, 1, 1]),
        (SampleSize::Percent(0.001), [1, 1, 1]),
        (SampleSize::Percent(0.0), [0, 0, 0]),
        (SampleSize::Percent(100.0), [40, 7, 1]),
    ];
    for &(size, expected) in cases {
        let sample = draw_stratified(&candidates, size, 7).expect("a valid size");
        let per_stratum = [
            sample.iter().filter(|id| (1..=40).contains(*id)).count(),
            sample.iter().filter(|id| (101..=107).contains(*id)).count(),
            sample.iter().filter(|id| **id == 201).count(),
        ];
        assert_eq!(per_stratum, expected, "{size:?}");
        let unique: HashSet<i64> = sample.iter().copied().collect();
        assert_eq!(unique.len(), sample.len(), "no duplicates for {size:?}");
        assert!(sample.is_sorted(), "sorted for {size:?}");
    }
}

#[test]
fn percent_rounds_up_exactly_at_whole_numbers() {
    // 10 % of 30 and 7 % of 100 are whole: no spurious extra record from float rounding.
    assert_eq!(stratum_quota(30, SampleSize::Percent(10.0)), 3);
    assert_eq!(stratum_quota(100, SampleSize::Percent(7.0)), 7);
    assert_eq!(stratum_quota(100, SampleSize::Percent(7.01)), 8);
    assert_eq!(stratum_quota(3, SampleSize::Percent(33.3)), 1);
    assert_eq!(stratum_quota(0, SampleSize::Percent(50.0)), 0);
}

#[test]
fn bad_percentages_are_refused() {
    let candidates = stratum_of("340104", 1, 5);
    for bad in [-1.0, 100.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let result = draw_stratified(&candidates, SampleSize::Percent(bad), 1);
        assert!(
            matches!(result, Err(SampleError::BadPercent(p)) if p.to_bits() == bad.to_bits()),
            "{bad}: {result:?}"
        );
    }
}

#[test]
fn duplicate_candidates_are_refused() {
    let mut candidates = stratum_of("340104", 1, 5);
    candidates.push(candidate(3, "340105"));
    assert_eq!(
        draw_stratified(&candidates, SampleSize::Count(2), 1),
        Err(SampleError::DuplicateCandidate(3))
    );
    assert_eq!(
        draw_risk_based(&candidates, 2, &RiskWeights::default(), &context(), 1),
        Err(SampleError::DuplicateCandidate(3))
    );
}

#[test]
fn samples_are_reproducible_and_independent_of_candidate_order() {
    let mut candidates = stratum_of("340104", 1, 30);
    candidates.extend(stratum_of("340105", 101, 30));
    candidates[4].quantity = 5000.0;
    candidates[40].last_verified = None;
    let mut reversed = candidates.clone();
    reversed.reverse();
    let mut interleaved = candidates.clone();
    interleaved.sort_by_key(|c| (c.record_id % 7, -c.record_id));

    for seed in [0, 1, 42, u64::MAX] {
        let stratified = draw_stratified(&candidates, SampleSize::Count(4), seed);
        let risk = draw_risk_based(&candidates, 6, &RiskWeights::default(), &context(), seed);
        for shuffled in [&reversed, &interleaved] {
            assert_eq!(
                draw_stratified(shuffled, SampleSize::Count(4), seed),
                stratified
            );
            assert_eq!(
                draw_risk_based(shuffled, 6, &RiskWeights::default(), &context(), seed),
                risk
            );
        }
    }
}

#[test]
fn a_seed_draws_the_same_sample_forever() {
    // A stored seed must re-derive the stored sample after any upgrade; if this fails, the
    // drawing algorithm changed and old rounds can no longer be re-derived.
    let candidates = stratum_of("340104", 1, 50);
    assert_eq!(
        draw_stratified(&candidates, SampleSize::Count(5), 20250101),
        Ok(PINNED_STRATIFIED.to_vec())
    );
    assert_eq!(
        draw_risk_based(
            &candidates,
            5,
            &RiskWeights::default(),
            &context(),
            20250101
        ),
        Ok(PINNED_RISK.to_vec())
    );
}

const PINNED_STRATIFIED: [i64; 5] = [9, 11, 24, 28, 37];
const PINNED_RISK: [i64; 5] = [8, 19, 32, 38, 47];

#[test]
fn the_scored_draw_keeps_the_scores_of_exactly_the_records_drawn() {
    let mut candidates = stratum_of("340104", 1, 40);
    candidates.extend(stratum_of("340105", 101, 40));
    candidates[3].quantity = 9000.0;
    candidates[50].last_verified = None;
    let weights = RiskWeights::default();
    let all = risk_scores(&candidates, &weights, &context());
    for (seed, total) in [(0, 0), (1, 7), (42, 79), (7, 80), (9, 500)] {
        let ids = draw_risk_based(&candidates, total, &weights, &context(), seed).expect("valid");
        let scored =
            draw_risk_scored(&candidates, total, &weights, &context(), seed).expect("valid");
        assert_eq!(
            ids.len(),
            usize::try_from(total).unwrap_or(usize::MAX).min(80)
        );
        assert_eq!(
            scored.iter().map(|s| s.record_id).collect::<Vec<_>>(),
            ids,
            "seed {seed}"
        );
        for score in &scored {
            let expected = all.iter().find(|s| s.record_id == score.record_id);
            assert_eq!(Some(score), expected, "seed {seed}");
        }
    }
}

#[test]
fn different_seeds_draw_different_samples() {
    let candidates = stratum_of("340104", 1, 50);
    let stratified: HashSet<Vec<i64>> = (0..20)
        .map(|seed| draw_stratified(&candidates, SampleSize::Count(5), seed).expect("valid"))
        .collect();
    let risk: HashSet<Vec<i64>> = (0..20)
        .map(|seed| {
            draw_risk_based(&candidates, 5, &RiskWeights::default(), &context(), seed)
                .expect("valid")
        })
        .collect();
    // 20 draws of 5 out of 50 (2.1 million possible samples) essentially never repeat.
    assert!(stratified.len() >= 19, "{} distinct", stratified.len());
    assert!(risk.len() >= 19, "{} distinct", risk.len());
}

#[test]
fn a_stratum_sample_does_not_change_when_another_stratum_joins() {
    let county = stratum_of("340104", 1, 30);
    let mut round = county.clone();
    round.extend(stratum_of("340105", 101, 30));
    for seed in 0..10 {
        let alone = draw_stratified(&county, SampleSize::Count(3), seed).expect("valid");
        let within: Vec<i64> = draw_stratified(&round, SampleSize::Count(3), seed)
            .expect("valid")
            .into_iter()
            .filter(|id| *id <= 30)
            .collect();
        assert_eq!(alone, within, "seed {seed}");
    }
}

#[test]
fn stratified_draws_every_record_about_equally_often() {
    // One of four, 4000 times: each record about 1000 times. The bound is ±20 % (over six
    // standard deviations), so only a biased draw fails it.
    let candidates = stratum_of("340104", 1, 4);
    let mut counts = [0u32; 4];
    for seed in 0..4000 {
        let sample = draw_stratified(&candidates, SampleSize::Count(1), seed).expect("valid");
        assert_eq!(sample.len(), 1);
        counts[usize::try_from(sample[0] - 1).expect("ids are 1..=4")] += 1;
    }
    for count in counts {
        assert!((800..=1200).contains(&count), "{counts:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Risk scores and risk-based sampling

#[test]
fn a_wild_never_verified_record_is_drawn_far_more_often_than_a_typical_fresh_one() {
    let mut candidates = stratum_of("340104", 1, 30);
    candidates.push(SampleCandidate {
        quantity: 5000.0,
        last_verified: None,
        ..candidate(99, "340104")
    });
    let typical = 7;
    let (mut wild_drawn, mut typical_drawn) = (0, 0);
    for seed in 0..500 {
        let sample = draw_risk_based(&candidates, 3, &RiskWeights::default(), &context(), seed)
            .expect("valid");
        assert_eq!(sample.len(), 3);
        wild_drawn += u32::from(sample.contains(&99));
        typical_drawn += u32::from(sample.contains(&typical));
    }
    // With uniform sampling each would be drawn about 3/31 of the time (≈ 48 times).
    // The wild record scores about 17.5 against about 1 for each typical one, so it is
    // drawn in about 80 % of seeds and a typical record in about 5 %; the bounds leave room
    // on both sides while failing any draw that ignores the scores.
    assert!(wild_drawn >= 325, "wild record drawn {wild_drawn} of 500");
    assert!(
        typical_drawn <= 75,
        "typical record drawn {typical_drawn} of 500"
    );
    assert!(
        wild_drawn >= 5 * typical_drawn,
        "wild {wild_drawn}, typical {typical_drawn}"
    );
}

#[test]
fn risk_signals_follow_their_definitions() {
    let mut candidates = stratum_of("340104", 1, 9);
    for c in &mut candidates {
        c.quantity = 8.0;
        c.previous_quantity = Some(8.0);
    }
    candidates.push(SampleCandidate {
        quantity: 96.0,
        previous_quantity: Some(8.0),
        last_verified: None,
        reporting_unit: 7,
        ..candidate(50, "340104")
    });
    // Same stratum, other type: no peers of its own type.
    candidates.push(SampleCandidate {
        type_code: "TYPE.B".into(),
        quantity: 1000.0,
        previous_quantity: None,
        last_verified: days_ago(730),
        ..candidate(60, "340104")
    });
    let mut ctx = context();
    ctx.unit_credibility.insert(7, 0.42);
    let scores = risk_scores(&candidates, &RiskWeights::default(), &ctx);
    assert!(scores.is_sorted_by_key(|s| s.record_id));

    let wild = score_of(&scores, 50);
    assert_eq!(wild.signals.peer_deviation, PEER_DEVIATION_CAP);
    assert!((wild.signals.year_change - (97.0f64 / 9.0).ln()).abs() < 1e-12);
    assert_eq!(wild.signals.staleness, STALENESS_CAP);
    assert!((wild.signals.unit_unreliability - 0.58).abs() < 1e-12);
    let texts: Vec<String> = wild.reasons.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "quantity 96 is 12× the median (8) of 9 peers",
            "never verified",
            "quantity 96 against 8 last year",
            "reporting unit credibility 0.42",
        ]
    );

    let typical = score_of(&scores, 3);
    assert_eq!(typical.signals.peer_deviation, 0.0, "identical peers");
    assert_eq!(typical.signals.year_change, 0.0);
    assert!((typical.signals.staleness - 30.0 / 365.0).abs() < 1e-12);
    assert_eq!(
        typical.signals.unit_unreliability, 0.5,
        "unknown unit is neutral"
    );
    assert!(typical.reasons.is_empty(), "{:?}", typical.reasons);

    let lonely = score_of(&scores, 60);
    assert_eq!(lonely.signals.peer_deviation, 0.0, "fewer than 3 peers");
    assert_eq!(lonely.signals.year_change, 0.0, "no previous figure");
    assert!((lonely.signals.staleness - 2.0).abs() < 1e-12);
    assert_eq!(
        lonely.reasons,
        [RiskReason::Stale {
            days_since_verification: 730,
            stale_after_days: 365
        }]
    );
    assert!(wild.score > 5.0 * typical.score);
}

#[test]
fn peer_deviation_leaves_the_record_out_of_its_own_peers() {
    // The record at 1000 is judged against {10, 10, 10}, not against a group it inflates.
    let candidates: Vec<SampleCandidate> = [10.0, 10.0, 10.0, 1000.0]
        .into_iter()
        .enumerate()
        .map(|(i, quantity)| SampleCandidate {
            quantity,
            ..candidate(i64::try_from(i).expect("small"), "340104")
        })
        .collect();
    let scores = risk_scores(&candidates, &RiskWeights::default(), &context());
    assert_eq!(
        score_of(&scores, 3).signals.peer_deviation,
        PEER_DEVIATION_CAP
    );
    // Each 10 has peers {10, 10, 1000}: median 10, MAD 0, so it sits on the median.
    assert_eq!(score_of(&scores, 0).signals.peer_deviation, 0.0);
}

#[test]
fn peer_deviation_matches_a_brute_force_leave_one_out() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for group_size in [4usize, 5, 6, 7, 12, 31] {
        let values: Vec<f64> = (0..group_size)
            .map(|_| f64::from(rng.random_range(0..6u32)) * 0.7)
            .collect();
        let fast = group_standings(&values);
        for (i, &value) in values.iter().enumerate() {
            let mut others: Vec<f64> = values
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, v)| *v)
                .collect();
            let centre = plain_median(&mut others);
            let mut deviations: Vec<f64> = others.iter().map(|v| (v - centre).abs()).collect();
            let mad = plain_median(&mut deviations);
            let expected =
                ((value - centre).abs() / (MAD_TO_SIGMA * mad).max(MIN_LOG_SCALE)).min(10.0);
            let got = fast[i].expect("enough peers");
            assert!(
                (got.robust_z - expected).abs() < 1e-9 && (got.median_log - centre).abs() < 1e-12,
                "values {values:?}, index {i}: {} vs {expected}",
                got.robust_z
            );
        }
    }
}

fn plain_median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[test]
fn invalid_quantities_score_the_cap_and_say_so() {
    let mut candidates = stratum_of("340104", 1, 5);
    candidates[0].quantity = f64::NAN;
    candidates[1].quantity = -3.0;
    candidates[2].previous_quantity = Some(f64::INFINITY);
    let scores = risk_scores(&candidates, &RiskWeights::default(), &context());
    for id in [1, 2] {
        let score = score_of(&scores, id);
        assert_eq!(score.signals.peer_deviation, PEER_DEVIATION_CAP);
        assert!(matches!(
            score.reasons.first(),
            Some(RiskReason::InvalidQuantity { .. })
        ));
    }
    assert_eq!(score_of(&scores, 3).signals.year_change, 0.0);
    // The two valid peers left for record 4 are fewer than three.
    assert_eq!(score_of(&scores, 4).signals.peer_deviation, 0.0);
}

#[test]
fn zero_weights_silence_their_signals_and_reasons() {
    let mut candidates = stratum_of("340104", 1, 5);
    candidates[0].last_verified = None;
    let weights = RiskWeights::new(1.0, 1.0, 0.0, 1.0).expect("valid");
    let scores = risk_scores(&candidates, &weights, &context());
    let never = score_of(&scores, 1);
    assert_eq!(never.signals.staleness, STALENESS_CAP);
    assert!(never.reasons.is_empty(), "{:?}", never.reasons);
    let zero = RiskWeights::new(0.0, 0.0, 0.0, 0.0).expect("valid");
    for score in risk_scores(&candidates, &zero, &context()) {
        assert_eq!(score.score, RISK_SCORE_FLOOR);
    }
}

#[test]
fn bad_weights_are_refused() {
    for bad in [-0.1, f64::NAN, f64::INFINITY, MAX_RISK_WEIGHT * 2.0] {
        assert!(
            matches!(
                RiskWeights::new(1.0, bad, 1.0, 1.0),
                Err(SampleError::BadWeight {
                    name: "year change",
                    ..
                })
            ),
            "{bad}"
        );
    }
    assert_eq!(RiskWeights::default().staleness(), 1.0);
}

#[test]
fn staleness_and_freshness_agree_at_the_boundary() {
    let cases: &[(Option<Timestamp>, u32, Freshness)] = &[
        (None, 365, Freshness::NeverVerified),
        (days_ago(0), 365, Freshness::Fresh),
        (days_ago(365), 365, Freshness::Fresh),
        (Some(NOW.plus_millis(-365 * DAY - 1)), 365, Freshness::Stale),
        (days_ago(-10), 365, Freshness::Fresh),
        (days_ago(0), 0, Freshness::Fresh),
        (Some(NOW.plus_millis(-1)), 0, Freshness::Stale),
        (
            Some(Timestamp::from_millis(i64::MIN)),
            u32::MAX,
            Freshness::Stale,
        ),
        (Some(Timestamp::from_millis(i64::MAX)), 0, Freshness::Fresh),
    ];
    for &(last_verified, stale_after_days, expected) in cases {
        assert_eq!(
            freshness(last_verified, NOW, stale_after_days),
            expected,
            "{last_verified:?} after {stale_after_days}"
        );
        let ctx = RiskContext {
            stale_after_days,
            ..context()
        };
        let record = SampleCandidate {
            last_verified,
            ..candidate(1, "340104")
        };
        let score = &risk_scores(&[record], &RiskWeights::default(), &ctx)[0];
        let flagged = score
            .reasons
            .iter()
            .any(|r| matches!(r, RiskReason::Stale { .. } | RiskReason::NeverVerified));
        assert_eq!(flagged, expected != Freshness::Fresh, "{last_verified:?}");
        assert!((0.0..=STALENESS_CAP).contains(&score.signals.staleness));
    }
}

// ---------------------------------------------------------------------------------------
// Assignment

fn strata_of(assignments: &[(i64, &str)]) -> HashMap<i64, String> {
    assignments
        .iter()
        .map(|(id, stratum)| (*id, (*stratum).to_owned()))
        .collect()
}

fn loads(assignments: &[Assignment], verifiers: &[i64]) -> Vec<usize> {
    verifiers
        .iter()
        .map(|v| assignments.iter().filter(|a| a.verifier_id == *v).count())
        .collect()
}

fn verifiers_per_stratum(
    assignments: &[Assignment],
    strata: &HashMap<i64, String>,
) -> BTreeMap<String, HashSet<i64>> {
    let mut map: BTreeMap<String, HashSet<i64>> = BTreeMap::new();
    for a in assignments {
        map.entry(strata[&a.record_id].clone())
            .or_default()
            .insert(a.verifier_id);
    }
    map
}

#[test]
fn whole_counties_go_to_one_verifier_when_they_fit() {
    let pairs: Vec<(i64, &str)> = (1..=12)
        .map(|id| {
            (
                id,
                ["340104", "340105", "340106"][usize::try_from(id % 3).expect("small")],
            )
        })
        .collect();
    let strata = strata_of(&pairs);
    let sample: Vec<i64> = (1..=12).rev().collect();
    let assignments = assign_to_verifiers(&sample, &strata, &[30, 10, 20]).expect("valid");
    assert_eq!(
        assignments.iter().map(|a| a.record_id).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    assert_eq!(loads(&assignments, &[10, 20, 30]), [4, 4, 4]);
    for (stratum, verifiers) in verifiers_per_stratum(&assignments, &strata) {
        assert_eq!(verifiers.len(), 1, "{stratum}");
    }
}

#[test]
fn a_big_county_is_split_only_as_balance_requires() {
    let mut pairs: Vec<(i64, &str)> = (1..=10).map(|id| (id, "340104")).collect();
    pairs.extend((11..=12).map(|id| (id, "340105")));
    let strata = strata_of(&pairs);
    let sample: Vec<i64> = (1..=12).collect();
    let verifiers = [1, 2, 3, 4];
    let assignments = assign_to_verifiers(&sample, &strata, &verifiers).expect("valid");
    assert_eq!(assignments.len(), 12);
    assert_eq!(loads(&assignments, &verifiers), [3, 3, 3, 3]);
    let per_stratum = verifiers_per_stratum(&assignments, &strata);
    assert_eq!(per_stratum["340104"].len(), 4, "10 records need all four");
    assert_eq!(per_stratum["340105"].len(), 1, "2 records fit one verifier");
}

#[test]
fn assignments_are_balanced_and_split_few_counties() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..200 {
        let records = rng.random_range(0..60i64);
        let counties = rng.random_range(1..6u32);
        let pairs: Vec<(i64, String)> = (0..records)
            .map(|id| (id, format!("34010{}", rng.random_range(0..counties))))
            .collect();
        let strata: HashMap<i64, String> = pairs.iter().cloned().collect();
        let verifiers: Vec<i64> = (0..rng.random_range(1..8i64)).collect();
        let sample: Vec<i64> = (0..records).collect();
        let assignments = assign_to_verifiers(&sample, &strata, &verifiers).expect("valid");
        assert_eq!(
            assignments.iter().map(|a| a.record_id).collect::<Vec<_>>(),
            sample
        );
        let loads = loads(&assignments, &verifiers);
        let (min, max) = (loads.iter().min(), loads.iter().max());
        assert!(
            max.zip(min).is_some_and(|(max, min)| max - min <= 1),
            "{loads:?}"
        );
        // A county is split only when it fills a verifier, and that happens at most once per
        // verifier but the last; so county-verifier pairs ≤ counties + verifiers − 1.
        let pairs: usize = verifiers_per_stratum(&assignments, &strata)
            .values()
            .map(HashSet::len)
            .sum();
        let counties_present = strata.values().collect::<HashSet<_>>().len();
        assert!(
            pairs < counties_present + verifiers.len() || records == 0,
            "{pairs} pairs for {counties_present} counties and {} verifiers",
            verifiers.len()
        );
    }
}

#[test]
fn assignment_refuses_what_it_cannot_deal() {
    let strata = strata_of(&[(1, "340104"), (2, "340104")]);
    assert_eq!(
        assign_to_verifiers(&[1, 2], &strata, &[]),
        Err(SampleError::NoVerifiers)
    );
    assert_eq!(
        assign_to_verifiers(&[1, 2, 1], &strata, &[5]),
        Err(SampleError::DuplicateInSample(1))
    );
    assert_eq!(
        assign_to_verifiers(&[1, 3], &strata, &[5]),
        Err(SampleError::MissingStratum(3))
    );
    assert_eq!(assign_to_verifiers(&[], &strata, &[5]), Ok(vec![]));
    // Duplicate verifiers are one verifier.
    let assignments = assign_to_verifiers(&[1, 2], &strata, &[5, 5]).expect("valid");
    assert!(assignments.iter().all(|a| a.verifier_id == 5));
}

// ---------------------------------------------------------------------------------------
// Assessment, accuracy, credibility

fn finding(reported: f64, seen: f64, location_right: bool, type_right: bool) -> Finding {
    Finding {
        record_id: 1,
        reported_quantity: reported,
        quantity_seen: seen,
        location_right,
        type_right,
    }
}

#[test]
fn assessments_judge_quantity_location_and_type() {
    let tolerance = Tolerance::default();
    // (finding, accurate, relative error, reopen, correction)
    let cases: &[(Finding, bool, f64, bool, Option<f64>)] = &[
        (finding(0.0, 0.0, true, true), true, 0.0, false, None),
        (finding(0.0, 5.0, true, true), false, 1.0, true, Some(5.0)),
        (finding(5.0, 0.0, true, true), false, 1.0, true, Some(0.0)),
        (finding(100.0, 100.0, true, true), true, 0.0, false, None),
        (
            finding(100.0, 95.0, true, true),
            true,
            0.05,
            false,
            Some(95.0),
        ),
        (
            finding(100.0, 94.0, true, true),
            false,
            0.06,
            false,
            Some(94.0),
        ),
        (
            finding(100.0, 80.0, true, true),
            false,
            0.2,
            false,
            Some(80.0),
        ),
        (
            finding(100.0, 79.0, true, true),
            false,
            0.21,
            true,
            Some(79.0),
        ),
        (
            finding(100.0, 200.0, true, true),
            false,
            0.5,
            true,
            Some(200.0),
        ),
        (finding(100.0, 100.0, false, true), false, 0.0, true, None),
        (finding(100.0, 100.0, true, false), false, 0.0, true, None),
        (
            finding(f64::NAN, 10.0, true, true),
            false,
            1.0,
            true,
            Some(10.0),
        ),
        (finding(10.0, f64::NAN, true, true), false, 1.0, true, None),
        (finding(10.0, -1.0, true, true), false, 1.0, true, None),
        (
            finding(f64::INFINITY, f64::INFINITY, true, true),
            false,
            1.0,
            true,
            None,
        ),
    ];
    for (f, accurate, error, reopen, correction) in cases {
        let a = assess(f, &tolerance);
        assert_eq!(a.accurate, *accurate, "{f:?}");
        assert!((a.relative_error - error).abs() < 1e-12, "{f:?}: {a:?}");
        assert_eq!(a.reopen, *reopen, "{f:?}");
        assert_eq!(a.correction, *correction, "{f:?}");
    }
}

#[test]
fn only_a_finding_beyond_the_tolerance_corrects_its_record() {
    let tolerance = Tolerance::default();
    // 1.9 reported, 2 seen: 5 % off, give or take the last bit of the division, and so
    // accurate; an accurate finding leaves the record as reported.
    let edge = finding(1.9, 2.0, true, true);
    let judged = assess(&edge, &tolerance);
    assert!(judged.accurate, "{judged:?}");
    assert_eq!(judged.correction, Some(2.0));
    assert_eq!(applied_correction(&edge, &judged, &tolerance), None);
    let short = finding(100.0, 90.0, true, true);
    let judged = assess(&short, &tolerance);
    assert_eq!(applied_correction(&short, &judged, &tolerance), Some(90.0));
    // Another type was seen: its count says nothing of this record's stock.
    let other_type = finding(100.0, 90.0, true, false);
    let judged = assess(&other_type, &tolerance);
    assert_eq!(applied_correction(&other_type, &judged, &tolerance), None);
}

#[test]
fn tolerances_must_be_ordered_fractions() {
    assert!(Tolerance::new(0.05, 0.2).is_ok());
    assert!(Tolerance::new(0.0, 0.0).is_ok());
    assert_eq!(
        Tolerance::new(-0.1, 0.2),
        Err(ToleranceError::BadRelative(-0.1))
    );
    assert!(matches!(
        Tolerance::new(f64::NAN, 0.2),
        Err(ToleranceError::BadRelative(_))
    ));
    assert!(matches!(
        Tolerance::new(0.3, 0.2),
        Err(ToleranceError::BadReopen { .. })
    ));
    assert!(matches!(
        Tolerance::new(0.05, 1.5),
        Err(ToleranceError::BadReopen { .. })
    ));
}

fn accurate() -> Assessment {
    assess(&finding(10.0, 10.0, true, true), &Tolerance::default())
}

fn inaccurate() -> Assessment {
    assess(&finding(10.0, 5.0, true, true), &Tolerance::default())
}

#[test]
fn accuracy_rolls_up_to_every_ancestor() {
    let findings = vec![
        (path("/34/3401/340104/"), accurate()),
        (path("/34/3401/340104/"), inaccurate()),
        (path("/34/3401/340104/340104001/"), accurate()),
        (path("/34/3401/340105/"), accurate()),
        (path("/35/3501/350101/"), inaccurate()),
    ];
    let by_region = accuracy_by_region(&findings);
    let expect = |p: &str, checked: u32, ok: u32| {
        let got = by_region.get(p).unwrap_or_else(|| panic!("{p} missing"));
        assert_eq!((got.checked, got.accurate), (checked, ok), "{p}");
        assert!((got.rate - f64::from(ok) / f64::from(checked)).abs() < 1e-12);
    };
    expect("/", 5, 3);
    expect("/34/", 4, 3);
    expect("/34/3401/", 4, 3);
    expect("/34/3401/340104/", 3, 2);
    expect("/34/3401/340104/340104001/", 1, 1);
    expect("/34/3401/340105/", 1, 1);
    expect("/35/3501/350101/", 1, 0);
    assert_eq!(by_region.len(), 9);
    assert!(accuracy_by_region(&[]).is_empty());
}

#[test]
fn freshness_rolls_up_to_every_ancestor() {
    let records = vec![
        (path("/34/3401/340104/"), days_ago(10)),
        (path("/34/3401/340104/"), days_ago(400)),
        (path("/34/3401/340104/"), None),
        (path("/34/3401/340105/"), days_ago(1)),
        (path("/"), None),
    ];
    let by_region = freshness_by_region(&records, NOW, 365);
    let counts = |p: &str| {
        let c = by_region[p];
        (c.fresh, c.stale, c.never_verified)
    };
    assert_eq!(counts("/"), (2, 1, 2));
    assert_eq!(counts("/34/"), (2, 1, 1));
    assert_eq!(counts("/34/3401/"), (2, 1, 1));
    assert_eq!(counts("/34/3401/340104/"), (1, 1, 1));
    assert_eq!(counts("/34/3401/340105/"), (1, 0, 0));
    assert!((by_region["/"].share_fresh - 0.4).abs() < 1e-12);
    assert!((by_region["/34/3401/340104/"].share_fresh - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(by_region.len(), 5);
}

#[test]
fn credibility_starts_neutral_and_moves_with_the_evidence() {
    assert_eq!(credibility(&[]), 0.5);
    let two = credibility(&[accurate(), accurate()]);
    assert!((0.5..=0.75).contains(&two), "{two}");
    let two_bad = credibility(&[inaccurate(), inaccurate()]);
    assert!((0.25..0.5).contains(&two_bad), "{two_bad}");
    let many = credibility(&vec![accurate(); 200]);
    assert!(many > 0.99, "{many}");
    let slightly_off = assess(&finding(100.0, 97.0, true, true), &Tolerance::default());
    assert!(slightly_off.accurate);
    assert!(
        credibility(&vec![slightly_off; 200]) < many,
        "errors discount"
    );

    // Monotone along any history: an exact accurate check raises, an inaccurate one lowers.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut history = Vec::new();
    for _ in 0..300 {
        let before = credibility(&history);
        let good = rng.random_bool(0.6);
        history.push(if good { accurate() } else { inaccurate() });
        let after = credibility(&history);
        if good {
            assert!(after > before, "{before} → {after}");
        } else {
            assert!(after < before, "{before} → {after}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Totality over random inputs

fn wild_quantity(rng: &mut ChaCha8Rng) -> f64 {
    match rng.random_range(0..10) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => -rng.random_range(0.0..100.0),
        3 => 0.0,
        4 => f64::MAX,
        5 => rng.random_range(0.0..1e12),
        _ => rng.random_range(0.0..200.0),
    }
}

fn wild_time(rng: &mut ChaCha8Rng) -> Option<Timestamp> {
    match rng.random_range(0..6) {
        0 => None,
        1 => Some(Timestamp::from_millis(i64::MIN)),
        2 => Some(Timestamp::from_millis(i64::MAX)),
        _ => days_ago(rng.random_range(-30..2000)),
    }
}

#[test]
fn nothing_panics_and_everything_stays_in_range_on_random_inputs() {
    let mut rng = ChaCha8Rng::seed_from_u64(2025);
    for round in 0..300 {
        let len = rng.random_range(0..40i64);
        let candidates: Vec<SampleCandidate> = (0..len)
            .map(|i| SampleCandidate {
                record_id: if rng.random_bool(0.5) {
                    i
                } else {
                    i64::MAX - i
                },
                stratum: format!("3401{:02}", rng.random_range(0..3)).into(),
                region_path: "/34/".into(),
                type_code: ["A", "B"][rng.random_range(0..2)].into(),
                quantity: wild_quantity(&mut rng),
                previous_quantity: rng.random_bool(0.7).then(|| wild_quantity(&mut rng)),
                last_verified: wild_time(&mut rng),
                reporting_unit: rng.random_range(0..4),
            })
            .collect();
        let ids: HashSet<i64> = candidates.iter().map(|c| c.record_id).collect();
        let mut ctx = context();
        ctx.stale_after_days = rng.random_range(0..3) * 365;
        ctx.unit_credibility = HashMap::from([
            (0, f64::NAN),
            (1, -2.0),
            (2, 7.0),
            (3, rng.random_range(0.0..1.0)),
        ]);
        let weights = RiskWeights::new(
            rng.random_range(0.0..MAX_RISK_WEIGHT),
            rng.random_range(0.0..2.0),
            rng.random_range(0.0..2.0),
            0.0,
        )
        .expect("in range");

        for score in risk_scores(&candidates, &weights, &ctx) {
            assert!(
                score.score.is_finite() && score.score >= RISK_SCORE_FLOOR,
                "round {round}: {score:?}"
            );
            let s = score.signals;
            assert!((0.0..=PEER_DEVIATION_CAP).contains(&s.peer_deviation));
            assert!((0.0..=YEAR_CHANGE_CAP).contains(&s.year_change));
            assert!((0.0..=STALENESS_CAP).contains(&s.staleness));
            assert!((0.0..=1.0).contains(&s.unit_unreliability));
            for reason in &score.reasons {
                assert!(!reason.to_string().is_empty());
                assert!(
                    reason
                        .zh()
                        .chars()
                        .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                    "{reason:?}: {}",
                    reason.zh()
                );
            }
        }

        let size = if rng.random_bool(0.5) {
            SampleSize::Count(rng.random_range(0..=u32::MAX))
        } else {
            SampleSize::Percent(rng.random_range(0.0..=100.0))
        };
        let seed = rng.random();
        let total = rng.random_range(0..=u32::MAX);
        for sample in [
            draw_stratified(&candidates, size, seed),
            draw_risk_based(&candidates, total, &weights, &ctx, seed),
        ] {
            // Ids are unique by construction (i and i64::MAX − j never meet for i, j < 40).
            let sample = sample.expect("valid sizes, unique ids");
            assert!(sample.is_sorted());
            assert!(sample.windows(2).all(|w| w[0] != w[1]));
            assert!(sample.iter().all(|id| ids.contains(id)));
        }

        let findings: Vec<(RegionPath, Assessment)> = (0..rng.random_range(0..20))
            .map(|_| {
                let f = finding(
                    wild_quantity(&mut rng),
                    wild_quantity(&mut rng),
                    rng.random_bool(0.9),
                    rng.random_bool(0.9),
                );
                let a = assess(&f, &Tolerance::default());
                assert!((0.0..=1.0).contains(&a.relative_error), "{f:?}");
                assert!(!a.accurate || !a.reopen, "{f:?}");
                let region = ["/", "/34/", "/34/3401/", "/35/3501/350101/"][rng.random_range(0..4)];
                (path(region), a)
            })
            .collect();
        let accuracy = accuracy_by_region(&findings);
        if !findings.is_empty() {
            let root = accuracy["/"];
            assert_eq!(root.checked as usize, findings.len());
        }
        for a in accuracy.values() {
            assert!((0.0..=1.0).contains(&a.rate) && a.accurate <= a.checked);
        }
        let assessments: Vec<Assessment> = findings.iter().map(|(_, a)| *a).collect();
        assert!((0.0..=1.0).contains(&credibility(&assessments)));
    }
}

/// Chinese text: at least one CJK ideograph.
fn is_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

#[test]
fn every_sample_and_tolerance_refusal_is_said_in_chinese_with_its_figures() {
    let samples = [
        SampleError::BadPercent(140.0),
        SampleError::BadWeight {
            name: "staleness",
            value: 2000.0,
        },
        SampleError::DuplicateCandidate(41),
        SampleError::DuplicateInSample(42),
        SampleError::MissingStratum(43),
        SampleError::NoVerifiers,
    ];
    let mut said = HashSet::new();
    for error in &samples {
        let zh = error.zh();
        assert!(is_chinese(&zh), "{error:?}: {zh}");
        assert!(said.insert(zh.clone()), "said twice: {zh}");
        for figure in ["140", "2000", "41", "42", "43"] {
            if error.to_string().contains(figure) {
                assert!(zh.contains(figure), "{error:?} loses {figure}: {zh}");
            }
        }
    }
    for error in [
        Tolerance::new(1.5, 2.0).expect_err("a tolerance above 1"),
        Tolerance::new(0.3, 0.1).expect_err("reopening below the tolerance"),
    ] {
        let zh = error.zh();
        assert!(is_chinese(&zh), "{error:?}: {zh}");
        assert!(said.insert(zh.clone()), "said twice: {zh}");
    }
}
