use proptest::prelude::*;

use super::*;

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const DAY: i64 = MILLIS_PER_DAY;
const HOUR: i64 = 3_600_000;

fn at_day(days: i64) -> Timestamp {
    T0.plus_millis(days * DAY)
}

fn holder(category: HolderCategory) -> RequisitionHolder {
    RequisitionHolder {
        holder_id: 7,
        name: " Hefei Logistics Co. ".into(),
        category,
    }
}

fn item(item_id: i64, type_code: &str) -> NewRequisitionItem {
    NewRequisitionItem {
        item_id,
        type_code: type_code.into(),
        attributes: BTreeMap::new(),
        in_service: false,
        quantity: 1,
        declared_value_fen: 30_000_000, // 300,000 yuan
        daily_rate_fen: 80_000,         // 800 yuan a day
    }
}

fn with_attribute(
    mut item: NewRequisitionItem,
    key: &str,
    value: AttributeValue,
) -> NewRequisitionItem {
    item.attributes.insert(key.into(), value);
    item
}

fn order_of(items: Vec<NewRequisitionItem>) -> NewRequisitionOrder {
    NewRequisitionOrder {
        legal_basis: " National Defense Mobilization Law, art. 54; county order 2027-3 ".into(),
        holder: holder(HolderCategory::Enterprise),
        items,
    }
}

fn drafted() -> RequisitionOrder {
    let mut truck = item(1, "TRN.ROAD.TRUCK_HEAVY");
    truck.quantity = 2;
    order_of(vec![truck, item(2, "TRN.ROAD.BUS_LARGE")])
        .validate(&ExemptionRules::default_rules())
        .expect("valid")
}

fn use_entry(day: i64, hours: Option<u32>, kilometres: Option<u32>, note: &str) -> UseLogEntry {
    UseLogEntry {
        on: at_day(day),
        hours,
        kilometres,
        note: note.into(),
    }
}

fn run(events: &[RequisitionEvent]) -> RequisitionOrder {
    events.iter().fold(drafted(), |order, event| {
        transition(&order, event).unwrap_or_else(|e| panic!("{event:?} refused: {e}"))
    })
}

fn lifecycle() -> Vec<RequisitionEvent> {
    vec![
        RequisitionEvent::Notify { at: at_day(0) },
        RequisitionEvent::HandOver { at: at_day(1) },
        RequisitionEvent::RecordUse {
            entry: use_entry(1, Some(10), Some(320), "flood line supply runs"),
        },
        RequisitionEvent::Return {
            at: at_day(11),
            conditions: vec![ReturnCondition::Worn, ReturnCondition::Good],
        },
        RequisitionEvent::Assess {
            policy: CompensationPolicy::default(),
        },
        RequisitionEvent::Approve { at: at_day(12) },
        RequisitionEvent::MarkPaid {
            at: at_day(20),
            reference: "TREASURY-2027-0042".into(),
        },
    ]
}

// ---------------------------------------------------------------------------------------
// Exemptions
// ---------------------------------------------------------------------------------------

fn candidate(item: NewRequisitionItem, holder: RequisitionHolder) -> CandidateItem {
    CandidateItem {
        item_id: item.item_id,
        type_code: item.type_code,
        attributes: item.attributes,
        in_service: item.in_service,
        holder,
    }
}

#[test]
fn exemption_rules_say_which_items_are_exempt_and_why() {
    let mut rules = ExemptionRules::default_rules().rules().to_vec();
    rules.push(ExemptionRule {
        code: "county_decision_12".into(),
        description: "Exempted by the county's decision 12.".into(),
        condition: ExemptionCondition::Holder { holder_id: 99 },
    });
    rules.push(ExemptionRule {
        code: "school_buses".into(),
        description: "School buses in term time.".into(),
        condition: ExemptionCondition::TypeWithAttribute {
            type_codes: ["TRN.ROAD.BUS_LARGE".to_owned()].into(),
            attribute: "use".into(),
            expected: AttributeExpectation::Text("school".into()),
        },
    });
    rules.push(ExemptionRule {
        code: "big_engines".into(),
        description: "Seats exactly 50.".into(),
        condition: ExemptionCondition::TypeWithAttribute {
            type_codes: ["TRN.ROAD.BUS_LARGE".to_owned()].into(),
            attribute: "seats".into(),
            expected: AttributeExpectation::Number(50.0),
        },
    });
    let rules = ExemptionRules::new(rules).expect("valid rules");
    let enterprise = holder(HolderCategory::Enterprise);
    let hospital = RequisitionHolder {
        holder_id: 3,
        name: "County People's Hospital".into(),
        category: HolderCategory::Hospital,
    };
    let exempt_holder = RequisitionHolder {
        holder_id: 99,
        ..holder(HolderCategory::Citizen)
    };
    let in_service = |mut i: NewRequisitionItem| {
        i.in_service = true;
        i
    };
    let candidates = vec![
        // 1: an adapted car: exempt.
        candidate(
            with_attribute(
                item(1, "TRN.ROAD.OFF_ROAD"),
                "adapted_for_disabled",
                AttributeValue::Boolean(true),
            ),
            enterprise.clone(),
        ),
        // 2: an ordinary car: requisitionable.
        candidate(
            with_attribute(
                item(2, "TRN.ROAD.OFF_ROAD"),
                "adapted_for_disabled",
                AttributeValue::Boolean(false),
            ),
            enterprise.clone(),
        ),
        // 3: a truck with the attribute, but not a listed type: requisitionable.
        candidate(
            with_attribute(
                item(3, "TRN.ROAD.TRUCK_HEAVY"),
                "adapted_for_disabled",
                AttributeValue::Boolean(true),
            ),
            enterprise.clone(),
        ),
        // 4: a hospital's ventilator in service: exempt.
        candidate(in_service(item(4, "ECO.MED.VENTILATOR")), hospital.clone()),
        // 5: a hospital's ventilator in store: requisitionable.
        candidate(item(5, "ECO.MED.VENTILATOR"), hospital),
        // 6: anything of an exempted holder.
        candidate(item(6, "TRN.ROAD.TRUCK_HEAVY"), exempt_holder),
        // 7: a school bus (text matches a choice) seating 50 (integer matches a number):
        // two rules.
        candidate(
            with_attribute(
                with_attribute(
                    item(7, "TRN.ROAD.BUS_LARGE"),
                    "use",
                    AttributeValue::Choice("school".into()),
                ),
                "seats",
                AttributeValue::Integer(50),
            ),
            enterprise.clone(),
        ),
        // 8: the attribute missing altogether: requisitionable.
        candidate(item(8, "TRN.ROAD.OFF_ROAD"), enterprise),
    ];
    let outcome = apply_exemptions(&rules, &candidates);
    assert_eq!(outcome.requisitionable, vec![2, 3, 5, 8]);
    let exempt: Vec<(i64, Vec<&str>)> = outcome
        .exempt
        .iter()
        .map(|e| {
            (
                e.item_id,
                e.reasons.iter().map(|r| r.rule_code.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        exempt,
        vec![
            (1, vec!["disabled_adapted_vehicle"]),
            (4, vec!["hospital_in_service"]),
            (6, vec!["county_decision_12"]),
            (7, vec!["school_buses", "big_engines"]),
        ]
    );
    assert_eq!(
        outcome.exempt[0].reasons[0].explanation,
        "type TRN.ROAD.OFF_ROAD with adapted_for_disabled = true"
    );
    assert_eq!(
        outcome.exempt[1].reasons[0].explanation,
        "held by a hospital (County People's Hospital) and in service"
    );
}

#[test]
fn a_rule_set_is_checked() {
    let rule = |code: &str, description: &str, condition| ExemptionRule {
        code: code.into(),
        description: description.into(),
        condition,
    };
    let rules = vec![
        rule("", "x", ExemptionCondition::Holder { holder_id: 1 }),
        rule("a", " ", ExemptionCondition::Holder { holder_id: 1 }),
        rule(" a ", "x", ExemptionCondition::Holder { holder_id: 2 }),
        rule(
            "b",
            "x",
            ExemptionCondition::TypeWithAttribute {
                type_codes: BTreeSet::new(),
                attribute: " ".into(),
                expected: AttributeExpectation::Number(f64::NAN),
            },
        ),
    ];
    assert_eq!(
        ExemptionRules::new(rules),
        Err(vec![
            ExemptionRuleProblem::CodeMissing { index: 0 },
            ExemptionRuleProblem::DescriptionMissing { index: 1 },
            ExemptionRuleProblem::DuplicateCode {
                index: 2,
                code: "a".into()
            },
            ExemptionRuleProblem::NoTypes { index: 3 },
            ExemptionRuleProblem::AttributeMissing { index: 3 },
            ExemptionRuleProblem::BadNumber { index: 3 },
        ])
    );
    assert!(ExemptionRules::new(ExemptionRules::default_rules().rules().to_vec()).is_ok());
}

#[test]
fn rules_travel_as_json() {
    let rules = ExemptionRules::default_rules();
    let json = serde_json::to_string(rules.rules()).expect("serializes");
    let back: Vec<ExemptionRule> = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(ExemptionRules::new(back).expect("valid"), rules);
}

// ---------------------------------------------------------------------------------------
// Drafting
// ---------------------------------------------------------------------------------------

#[test]
fn a_valid_order_is_drafted_trimmed() {
    let order = drafted();
    assert_eq!(order.status(), RequisitionStatus::Drafted);
    assert_eq!(
        order.legal_basis(),
        "National Defense Mobilization Law, art. 54; county order 2027-3"
    );
    assert_eq!(order.holder().name, "Hefei Logistics Co.");
    assert_eq!(order.items().len(), 2);
    assert_eq!(order.items()[0].quantity(), 2);
    assert_eq!(order.items()[1].type_code(), "TRN.ROAD.BUS_LARGE");
    assert_eq!(order.items()[1].declared_value_fen(), 30_000_000);
    assert_eq!(order.items()[1].daily_rate_fen(), 80_000);
}

#[test]
fn exemptions_are_applied_before_an_order_is_drafted() {
    let adapted = with_attribute(
        item(5, "TRN.ROAD.OFF_ROAD"),
        "adapted_for_disabled",
        AttributeValue::Boolean(true),
    );
    let result = order_of(vec![item(1, "TRN.ROAD.TRUCK_HEAVY"), adapted])
        .validate(&ExemptionRules::default_rules());
    let Err(problems) = result else {
        panic!("an exempt item must be refused");
    };
    assert_eq!(problems.len(), 1);
    let RequisitionProblem::Exempt { index, exemption } = &problems[0] else {
        panic!("expected an exemption, got {problems:?}");
    };
    assert_eq!((*index, exemption.item_id), (1, 5));
    assert_eq!(
        problems[0].to_string(),
        "items[1]: item 5 is exempt (disabled_adapted_vehicle)"
    );
    // With the rules of an office that removed the exemption, the same order drafts.
    let no_rules = ExemptionRules::new(vec![]).expect("valid");
    let adapted = with_attribute(
        item(5, "TRN.ROAD.OFF_ROAD"),
        "adapted_for_disabled",
        AttributeValue::Boolean(true),
    );
    assert!(order_of(vec![adapted]).validate(&no_rules).is_ok());
}

#[test]
fn every_problem_of_a_draft_is_named() {
    let rules = ExemptionRules::default_rules();
    let mut bad = item(1, " ");
    bad.quantity = 0;
    bad.declared_value_fen = -1;
    bad.daily_rate_fen = -2;
    let mut huge = item(2, "X");
    huge.quantity = MAX_ITEM_QUANTITY + 1;
    let cases: Vec<(NewRequisitionOrder, Vec<RequisitionProblem>)> = vec![
        (
            NewRequisitionOrder {
                legal_basis: "  ".into(),
                holder: RequisitionHolder {
                    name: " ".into(),
                    ..holder(HolderCategory::Citizen)
                },
                items: vec![],
            },
            vec![
                RequisitionProblem::LegalBasisMissing,
                RequisitionProblem::HolderNameMissing,
                RequisitionProblem::NoItems,
            ],
        ),
        (
            NewRequisitionOrder {
                legal_basis: "l".repeat(MAX_TEXT_CHARS + 1),
                ..order_of(vec![item(1, "X")])
            },
            vec![RequisitionProblem::LegalBasisTooLong {
                length: MAX_TEXT_CHARS + 1,
            }],
        ),
        (
            order_of(vec![item(1, "X"); MAX_ITEMS + 1]),
            vec![RequisitionProblem::TooManyItems {
                count: MAX_ITEMS + 1,
            }],
        ),
        (
            order_of(vec![bad, huge, item(2, "X")]),
            vec![
                RequisitionProblem::TypeMissing { index: 0 },
                RequisitionProblem::BadQuantity { index: 0, found: 0 },
                RequisitionProblem::NegativeValue {
                    index: 0,
                    found: -1,
                },
                RequisitionProblem::NegativeRate {
                    index: 0,
                    found: -2,
                },
                RequisitionProblem::BadQuantity {
                    index: 1,
                    found: MAX_ITEM_QUANTITY + 1,
                },
                RequisitionProblem::DuplicateItem {
                    index: 2,
                    item_id: 2,
                },
            ],
        ),
    ];
    for (order, expected) in cases {
        assert_eq!(
            order.validate(&rules),
            Err(expected),
            "{:?}",
            order.legal_basis
        );
    }
}

// ---------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------

#[test]
fn the_whole_lifecycle_runs_and_keeps_its_record() {
    let order = run(&lifecycle());
    assert_eq!(order.status(), RequisitionStatus::Paid);
    assert_eq!(order.notified_at(), Some(at_day(0)));
    assert_eq!(order.handed_over_at(), Some(at_day(1)));
    assert_eq!(order.returned_at(), Some(at_day(11)));
    assert_eq!(order.approved_at(), Some(at_day(12)));
    assert_eq!(order.use_totals(), (10, 320));
    assert_eq!(
        order.conditions(),
        &[ReturnCondition::Worn, ReturnCondition::Good]
    );
    assert_eq!(
        order.payment(),
        Some(&Payment {
            paid_at: at_day(20),
            reference: "TREASURY-2027-0042".into()
        })
    );
    let assessment = order.assessment().expect("assessed");
    // 10 days; trucks: 2 × (800 × 10 = 8,000 use) + wear 2% of 600,000 = 12,000 + worn 5% =
    // 30,000. Bus: 8,000 use + 2% of 300,000 = 6,000 wear.
    assert_eq!(assessment.items[0].use_days, 10);
    assert_eq!(assessment.items[0].use_fen, 1_600_000);
    assert_eq!(assessment.items[0].wear_fen, 1_200_000);
    assert_eq!(assessment.items[0].damage_fen, 3_000_000);
    assert_eq!(assessment.items[1].total_fen, 800_000 + 600_000);
    assert_eq!(assessment.total_fen, 5_800_000 + 1_400_000);
    assert_eq!(format_yuan(assessment.total_fen), "72000.00");
}

#[test]
fn every_allowed_transition_lands_where_it_should() {
    let all = lifecycle();
    let cases: Vec<(usize, RequisitionEvent, RequisitionStatus)> = vec![
        (0, all[0].clone(), RequisitionStatus::Notified),
        (1, all[1].clone(), RequisitionStatus::HandedOver),
        (2, all[2].clone(), RequisitionStatus::InUse),
        (3, all[2].clone(), RequisitionStatus::InUse),
        (3, all[3].clone(), RequisitionStatus::Returned),
        // Returned unused, straight from handover.
        (2, all[3].clone(), RequisitionStatus::Returned),
        (4, all[4].clone(), RequisitionStatus::CompensationAssessed),
        // Reassessed before approval.
        (5, all[4].clone(), RequisitionStatus::CompensationAssessed),
        (5, all[5].clone(), RequisitionStatus::Approved),
        (6, all[6].clone(), RequisitionStatus::Paid),
        (
            0,
            RequisitionEvent::Cancel {
                at: at_day(0),
                reason: "found elsewhere".into(),
            },
            RequisitionStatus::Cancelled,
        ),
        (
            1,
            RequisitionEvent::Cancel {
                at: at_day(0),
                reason: "found elsewhere".into(),
            },
            RequisitionStatus::Cancelled,
        ),
    ];
    for (prefix, event, expected) in cases {
        let order = run(&all[..prefix]);
        let next = transition(&order, &event)
            .unwrap_or_else(|e| panic!("{event:?} after {prefix} events refused: {e}"));
        assert_eq!(next.status(), expected, "{event:?} after {prefix} events");
    }
    let cancelled = run(&[
        all[0].clone(),
        RequisitionEvent::Cancel {
            at: at_day(0),
            reason: " found elsewhere ".into(),
        },
    ]);
    assert_eq!(
        cancelled.cancellation(),
        Some(&Cancellation {
            at: at_day(0),
            reason: "found elsewhere".into(),
            from: RequisitionStatus::Notified
        })
    );
}

#[test]
fn every_refusal_is_typed() {
    let all = lifecycle();
    let wrong = |action, status, hint| RequisitionRefusal::WrongStatus {
        action,
        status,
        hint,
    };
    let cancel = RequisitionEvent::Cancel {
        at: at_day(30),
        reason: "no".into(),
    };
    let cases: Vec<(usize, RequisitionEvent, RequisitionRefusal)> = vec![
        (
            1,
            all[0].clone(),
            wrong(
                "notify",
                RequisitionStatus::Notified,
                "the holder has been notified already",
            ),
        ),
        (
            0,
            all[1].clone(),
            wrong(
                "hand_over",
                RequisitionStatus::Drafted,
                "notify the holder first",
            ),
        ),
        (
            2,
            RequisitionEvent::HandOver { at: at_day(2) },
            wrong(
                "hand_over",
                RequisitionStatus::HandedOver,
                "the items have been handed over already",
            ),
        ),
        (
            1,
            all[2].clone(),
            wrong(
                "record_use",
                RequisitionStatus::Notified,
                "use is logged between handover and return",
            ),
        ),
        (
            4,
            RequisitionEvent::RecordUse {
                entry: use_entry(12, Some(1), None, ""),
            },
            wrong(
                "record_use",
                RequisitionStatus::Returned,
                "use is logged between handover and return",
            ),
        ),
        (
            1,
            all[3].clone(),
            wrong(
                "return",
                RequisitionStatus::Notified,
                "only items handed over can be returned",
            ),
        ),
        (
            3,
            all[4].clone(),
            wrong(
                "assess",
                RequisitionStatus::InUse,
                "compensation is assessed after the return and before approval",
            ),
        ),
        (
            6,
            all[4].clone(),
            wrong(
                "assess",
                RequisitionStatus::Approved,
                "compensation is assessed after the return and before approval",
            ),
        ),
        (
            4,
            all[5].clone(),
            wrong(
                "approve",
                RequisitionStatus::Returned,
                "assess the compensation first",
            ),
        ),
        (
            5,
            all[6].clone(),
            wrong(
                "mark_paid",
                RequisitionStatus::CompensationAssessed,
                "the compensation must be approved before it is paid",
            ),
        ),
        (
            2,
            cancel.clone(),
            wrong(
                "cancel",
                RequisitionStatus::HandedOver,
                "the items are with the office; return them and assess the compensation",
            ),
        ),
        (
            7,
            cancel.clone(),
            RequisitionRefusal::Finished {
                status: RequisitionStatus::Paid,
            },
        ),
        (
            0,
            RequisitionEvent::Cancel {
                at: at_day(0),
                reason: " ".into(),
            },
            RequisitionRefusal::TextMissing {
                field: "cancel.reason",
            },
        ),
        (
            6,
            RequisitionEvent::MarkPaid {
                at: at_day(20),
                reference: "".into(),
            },
            RequisitionRefusal::TextMissing {
                field: "mark_paid.reference",
            },
        ),
        (
            1,
            RequisitionEvent::HandOver { at: at_day(-1) },
            RequisitionRefusal::BeforePreviousEvent {
                action: "hand_over",
            },
        ),
        (
            2,
            RequisitionEvent::RecordUse {
                entry: use_entry(0, Some(1), None, ""),
            },
            RequisitionRefusal::BeforePreviousEvent {
                action: "record_use",
            },
        ),
        (
            3,
            RequisitionEvent::Return {
                at: at_day(11),
                conditions: vec![ReturnCondition::Good],
            },
            RequisitionRefusal::ConditionsMismatch {
                expected: 2,
                found: 1,
            },
        ),
        (
            2,
            RequisitionEvent::RecordUse {
                entry: use_entry(2, Some(25), None, ""),
            },
            RequisitionRefusal::TooManyHours { found: 25 },
        ),
        (
            2,
            RequisitionEvent::RecordUse {
                entry: use_entry(2, None, Some(5_001), ""),
            },
            RequisitionRefusal::TooManyKilometres { found: 5_001 },
        ),
        (
            2,
            RequisitionEvent::RecordUse {
                entry: use_entry(2, None, None, "  "),
            },
            RequisitionRefusal::EmptyUseEntry,
        ),
        (
            2,
            RequisitionEvent::RecordUse {
                entry: use_entry(2, None, None, &"n".repeat(MAX_TEXT_CHARS + 1)),
            },
            RequisitionRefusal::TextTooLong {
                field: "record_use.note",
                length: MAX_TEXT_CHARS + 1,
            },
        ),
    ];
    for (prefix, event, expected) in cases {
        let order = run(&all[..prefix]);
        assert_eq!(
            transition(&order, &event),
            Err(expected),
            "{event:?} after {prefix} events"
        );
    }
}

#[test]
fn use_may_be_logged_late_but_the_return_comes_after_it() {
    let all = lifecycle();
    let order = run(&[
        all[0].clone(),
        all[1].clone(),
        RequisitionEvent::RecordUse {
            entry: use_entry(5, Some(8), None, ""),
        },
        // Logged after the day-5 entry, for day 3: accepted.
        RequisitionEvent::RecordUse {
            entry: use_entry(3, None, Some(40), ""),
        },
    ]);
    assert_eq!(order.use_log().len(), 2);
    assert_eq!(
        transition(
            &order,
            &RequisitionEvent::Return {
                at: at_day(4),
                conditions: vec![ReturnCondition::Good; 2]
            }
        ),
        Err(RequisitionRefusal::BeforePreviousEvent { action: "return" })
    );
}

// ---------------------------------------------------------------------------------------
// Compensation
// ---------------------------------------------------------------------------------------

fn input(use_days: u32, condition: ReturnCondition) -> ItemCompensationInput {
    ItemCompensationInput {
        item_id: 1,
        quantity: 1,
        declared_value_fen: 1_000_000, // 10,000 yuan
        daily_rate_fen: 5_000,         // 50 yuan
        use_days,
        condition,
    }
}

#[test]
fn the_formula_term_by_term() {
    let policy = CompensationPolicy::default(); // 0.2 %/day to 20 %, worn 5 %, damaged 30 %
    // (use days, condition, use, wear, damage, wear limited by value)
    let cases = [
        (1, ReturnCondition::Good, 5_000, 2_000, 0, false),
        (10, ReturnCondition::Good, 50_000, 20_000, 0, false),
        (100, ReturnCondition::Good, 500_000, 200_000, 0, false),
        (365, ReturnCondition::Good, 1_825_000, 200_000, 0, false),
        (10, ReturnCondition::Worn, 50_000, 20_000, 50_000, false),
        (10, ReturnCondition::Damaged, 50_000, 20_000, 300_000, false),
        // Lost: the value once, no wear on top.
        (10, ReturnCondition::Lost, 50_000, 0, 1_000_000, true),
    ];
    for (days, condition, use_fen, wear_fen, damage_fen, limited) in cases {
        let item = assess_item(&input(days, condition), &policy).expect("computes");
        assert_eq!(
            (
                item.use_fen,
                item.wear_fen,
                item.damage_fen,
                item.wear_limited_by_value
            ),
            (use_fen, wear_fen, damage_fen, limited),
            "{days} days, {condition}"
        );
        assert_eq!(item.total_fen, use_fen + wear_fen + damage_fen);
    }
    let capped = assess_item(&input(365, ReturnCondition::Good), &policy).expect("computes");
    assert_eq!(capped.wear_basis_points, 2_000, "wear stops at the cap");
}

#[test]
fn percentages_round_half_up_in_the_holders_favour() {
    let policy = CompensationPolicy::new(1, 10_000, 0, 1).expect("valid");
    let mut odd = input(1, ReturnCondition::Damaged);
    odd.declared_value_fen = 5_000; // 1 bp of 5,000 fen is 0.5 fen
    let item = assess_item(&odd, &policy).expect("computes");
    assert_eq!(item.wear_fen, 1);
    assert_eq!(item.damage_fen, 1);
    odd.declared_value_fen = 4_999; // 0.4999 fen
    let item = assess_item(&odd, &policy).expect("computes");
    assert_eq!((item.wear_fen, item.damage_fen), (0, 0));
}

#[test]
fn use_days_count_every_started_day() {
    let cases = [
        (0, 0, Ok(1)),
        (0, 1, Ok(1)),
        (0, DAY, Ok(1)),
        (0, DAY + 1, Ok(2)),
        (0, 10 * DAY - HOUR, Ok(10)),
        (DAY, 0, Err(CompensationError::ReturnBeforeHandover)),
        (i64::MIN, i64::MAX, Err(CompensationError::PeriodTooLong)),
    ];
    for (from, to, expected) in cases {
        assert_eq!(
            use_days(Timestamp::from_millis(from), Timestamp::from_millis(to)),
            expected,
            "{from}..{to}"
        );
    }
}

#[test]
fn money_that_does_not_fit_is_refused() {
    let policy = CompensationPolicy::default();
    let mut rate = input(2, ReturnCondition::Good);
    rate.daily_rate_fen = i64::MAX;
    assert_eq!(
        assess_item(&rate, &policy),
        Err(CompensationError::Overflow {
            item_id: 1,
            term: "use"
        })
    );
    let mut value = input(1, ReturnCondition::Good);
    value.declared_value_fen = i64::MAX;
    value.quantity = 2;
    assert_eq!(
        assess_item(&value, &policy),
        Err(CompensationError::Overflow {
            item_id: 1,
            term: "value"
        })
    );
    // Each term fits; their sum does not.
    let mut sum = input(1, ReturnCondition::Lost);
    sum.declared_value_fen = i64::MAX;
    sum.daily_rate_fen = i64::MAX;
    assert_eq!(
        assess_item(&sum, &policy),
        Err(CompensationError::Overflow {
            item_id: 1,
            term: "total"
        })
    );
    // Each item fits; the order's total does not.
    let mut big = input(1, ReturnCondition::Good);
    big.daily_rate_fen = i64::MAX / 2 + 1;
    assert_eq!(
        assess_compensation(&[big, big], &policy),
        Err(CompensationError::TotalOverflow)
    );
    // Huge but representable: exact.
    let mut fits = input(u32::MAX, ReturnCondition::Good);
    fits.daily_rate_fen = 2_000_000;
    let item = assess_item(&fits, &policy).expect("fits");
    assert_eq!(item.use_fen, i64::from(u32::MAX) * 2_000_000);
}

#[test]
fn bad_policies_and_negative_money_are_refused() {
    assert_eq!(
        CompensationPolicy::new(10_001, 0, 0, 0),
        Err(CompensationError::BadPercentage {
            field: "wear_basis_points_per_day",
            found: 10_001
        })
    );
    assert_eq!(
        CompensationPolicy::new(0, 0, 0, 20_000),
        Err(CompensationError::BadPercentage {
            field: "damaged_basis_points",
            found: 20_000
        })
    );
    assert_eq!(
        CompensationPolicy::new(0, 0, 600, 500),
        Err(CompensationError::DamageBelowWear {
            worn: 600,
            damaged: 500
        })
    );
    let mut negative = input(1, ReturnCondition::Good);
    negative.daily_rate_fen = -1;
    assert_eq!(
        assess_item(&negative, &CompensationPolicy::default()),
        Err(CompensationError::Negative {
            item_id: 1,
            field: "daily_rate_fen",
            found: -1
        })
    );
}

#[test]
fn yuan_are_formatted_with_two_decimals() {
    for (fen, text) in [
        (0, "0.00"),
        (5, "0.05"),
        (123_456, "1234.56"),
        (-101, "-1.01"),
        (i64::MIN, "-92233720368547758.08"),
    ] {
        assert_eq!(format_yuan(fen), text);
    }
}

#[test]
fn enums_round_trip_through_their_text() {
    for status in RequisitionStatus::ALL {
        assert_eq!(RequisitionStatus::parse(status.as_str()), Some(*status));
    }
    for condition in ReturnCondition::ALL {
        assert_eq!(ReturnCondition::parse(condition.as_str()), Some(*condition));
    }
    for category in HolderCategory::ALL {
        assert_eq!(HolderCategory::parse(category.as_str()), Some(*category));
    }
}

fn any_condition() -> impl Strategy<Value = ReturnCondition> {
    prop::sample::select(ReturnCondition::ALL.to_vec())
}

fn any_policy() -> impl Strategy<Value = CompensationPolicy> {
    (0u32..=10_000, 0u32..=10_000, 0u32..=10_000, 0u32..=10_000).prop_map(|(a, b, c, d)| {
        CompensationPolicy::new(a, b, c.min(d), c.max(d)).expect("in range")
    })
}

proptest! {
    #[test]
    fn compensation_is_never_negative_and_grows_with_use_days(
        quantity in 1u32..=1_000_000,
        declared_value_fen in 0i64..=10_000_000_000,
        daily_rate_fen in 0i64..=100_000_000,
        days in 0u32..=3_650,
        more in 0u32..=3_650,
        condition in any_condition(),
        policy in any_policy(),
    ) {
        let shorter = ItemCompensationInput { item_id: 1, quantity, declared_value_fen, daily_rate_fen, use_days: days, condition };
        let longer = ItemCompensationInput { use_days: days + more, ..shorter };
        let a = assess_item(&shorter, &policy).expect("fits");
        let b = assess_item(&longer, &policy).expect("fits");
        prop_assert!(a.use_fen >= 0 && a.wear_fen >= 0 && a.damage_fen >= 0);
        prop_assert!(a.total_fen >= 0);
        prop_assert!(b.total_fen >= a.total_fen);
        prop_assert!(b.wear_fen >= a.wear_fen);
        // Wear and damage together never exceed the declared value.
        prop_assert!(a.wear_fen + a.damage_fen <= a.total_value_fen);
        prop_assert_eq!(a.total_fen, a.use_fen + a.wear_fen + a.damage_fen);
    }

    /// Whatever the figures, the formula answers or refuses; it never panics.
    #[test]
    fn compensation_never_panics(
        quantity in any::<u32>(),
        declared_value_fen in any::<i64>(),
        daily_rate_fen in any::<i64>(),
        days in any::<u32>(),
        condition in any_condition(),
        policy in any_policy(),
    ) {
        let item = ItemCompensationInput { item_id: 1, quantity, declared_value_fen, daily_rate_fen, use_days: days, condition };
        if let Ok(done) = assess_item(&item, &policy) {
            prop_assert!(done.total_fen >= 0);
        }
    }
}

#[test]
fn the_default_rules_name_types_of_the_default_taxonomy() {
    let taxonomy = crate::taxonomy::Taxonomy::default_taxonomy();
    for rule in ExemptionRules::default_rules().rules() {
        let codes = match &rule.condition {
            ExemptionCondition::TypeWithAttribute { type_codes, .. }
            | ExemptionCondition::HolderCategoryInService { type_codes, .. } => type_codes,
            ExemptionCondition::Holder { .. } => continue,
        };
        for code in codes {
            assert!(
                taxonomy.resource_type(code).is_some(),
                "rule {} names {code}, which the default taxonomy does not have",
                rule.code
            );
        }
    }
}

#[test]
fn the_attribute_the_default_rules_look_for_is_in_the_default_taxonomy() {
    // Without it the disabled-vehicle exemption could never fire: no record could carry the
    // attribute through an import.
    let taxonomy = crate::taxonomy::Taxonomy::default_taxonomy();
    for rule in ExemptionRules::default_rules().rules() {
        let ExemptionCondition::TypeWithAttribute {
            type_codes,
            attribute,
            expected,
        } = &rule.condition
        else {
            continue;
        };
        for code in type_codes {
            let resource_type = taxonomy.resource_type(code).expect("a default type");
            let spec = resource_type
                .attributes
                .iter()
                .find(|a| &a.key == attribute)
                .unwrap_or_else(|| panic!("{code} has no attribute {attribute}"));
            assert!(!spec.required, "{code}.{attribute} must stay optional");
            let kind_matches = matches!(
                (&spec.kind, expected),
                (
                    crate::taxonomy::AttributeKind::Boolean,
                    AttributeExpectation::Boolean(_)
                )
            );
            assert!(kind_matches, "{code}.{attribute} is {:?}", spec.kind);
        }
    }
}

fn setting_with_rates(rates: &[(&str, i64)]) -> CompensationSetting {
    CompensationSetting {
        daily_rates_fen: rates.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        ..CompensationSetting::default()
    }
}

fn known_code(code: &str) -> bool {
    matches!(
        code,
        "TRN.ROAD.TRUCK_HEAVY" | "TRN.ROAD" | "transportation" | "CAD.MAT.TENT_12"
    )
}

#[test]
fn the_default_compensation_setting_is_the_default_policy() {
    let setting = CompensationSetting::default()
        .check(known_code)
        .expect("valid");
    assert_eq!(setting.policy(), Ok(CompensationPolicy::default()));
    assert!(setting.daily_rates_fen.is_empty());
}

#[test]
fn the_most_specific_daily_rate_applies() {
    let setting = setting_with_rates(&[
        ("TRN.ROAD.TRUCK_HEAVY", 150_000),
        ("TRN.ROAD", 60_000),
        ("transportation", 40_000),
    ]);
    let rate = |t: &str, s: &str, c: &str| setting.daily_rate_for(t, s, c).map(|r| (r.fen, r.key));
    assert_eq!(
        rate("TRN.ROAD.TRUCK_HEAVY", "TRN.ROAD", "transportation"),
        Some((150_000, "TRN.ROAD.TRUCK_HEAVY".to_owned()))
    );
    assert_eq!(
        rate("TRN.ROAD.BUS_LARGE", "TRN.ROAD", "transportation"),
        Some((60_000, "TRN.ROAD".to_owned()))
    );
    assert_eq!(
        rate("TRN.RAIL.BOXCAR", "TRN.RAIL", "transportation"),
        Some((40_000, "transportation".to_owned()))
    );
    assert_eq!(
        rate("CAD.MAT.TENT_12", "CAD.MAT", "civil_air_defense"),
        None
    );
}

#[test]
fn every_problem_of_a_compensation_setting_is_named_by_its_field() {
    let cases: Vec<(CompensationSetting, Vec<&str>)> = vec![
        (
            CompensationSetting {
                wear_cap_basis_points: 10_001,
                worn_basis_points: 20_000,
                ..CompensationSetting::default()
            },
            vec!["wear_cap_basis_points", "worn_basis_points"],
        ),
        (
            CompensationSetting {
                worn_basis_points: 4_000,
                damaged_basis_points: 3_000,
                ..CompensationSetting::default()
            },
            vec!["damaged_basis_points"],
        ),
        (
            setting_with_rates(&[("NO.SUCH", 1), ("TRN.ROAD", -5), (" ", 1)]),
            vec!["daily_rates_fen", "daily_rates_fen", "daily_rates_fen"],
        ),
        (
            setting_with_rates(&[("TRN.ROAD", MAX_DAILY_RATE_FEN + 1)]),
            vec!["daily_rates_fen"],
        ),
    ];
    for (setting, fields) in cases {
        let problems = setting.check(known_code).expect_err("refused");
        let found: Vec<&str> = problems
            .iter()
            .map(CompensationSettingProblem::field)
            .collect();
        assert_eq!(found, fields, "{setting:?}");
        for problem in &problems {
            assert!(
                problem.to_string().starts_with(problem.field()),
                "{problem}"
            );
        }
    }
    let trimmed = setting_with_rates(&[(" TRN.ROAD ", 5)])
        .check(known_code)
        .expect("valid");
    assert_eq!(trimmed.daily_rates_fen.get("TRN.ROAD"), Some(&5));
}
