use proptest::prelude::*;

use super::*;

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const DAY: i64 = 86_400_000;

fn path(text: &str) -> RegionPath {
    RegionPath::parse(text).expect("a valid path")
}

fn raw_line(type_code: &str, quantity: i64) -> NewDemandLine {
    NewDemandLine {
        type_code: type_code.to_owned(),
        quantity,
        lat: 31.82,
        lon: 117.22,
        needed_by: NOW.plus_millis(3 * DAY),
        priority: 2,
    }
}

fn new_demand(lines: Vec<NewDemandLine>) -> NewDemand {
    NewDemand {
        title: "  Tents and trucks for the flood line ".to_owned(),
        origin: DemandOrigin::Military,
        classification: ClassificationLevel::Confidential,
        region: path("/34/3401/340104/"),
        lines,
    }
}

fn known(code: &str) -> bool {
    matches!(code, "TENT.12" | "TRUCK.10T" | "SURGEON")
}

/// A received demand of two lines: 10 tents and 4 trucks.
fn received() -> Demand {
    let draft = new_demand(vec![raw_line("TENT.12", 10), raw_line("TRUCK.10T", 4)])
        .validate(NOW, known)
        .expect("valid");
    Demand::receive(draft, NOW)
}

fn q(pairs: &[(usize, u64)]) -> Vec<LineQuantity> {
    pairs
        .iter()
        .map(|&(line, quantity)| LineQuantity { line, quantity })
        .collect()
}

fn allocate(pairs: &[(usize, u64)]) -> DemandEvent {
    DemandEvent::Allocate {
        quantities: q(pairs),
    }
}
fn release(pairs: &[(usize, u64)]) -> DemandEvent {
    DemandEvent::Release {
        quantities: q(pairs),
    }
}
fn inspect(pairs: &[(usize, u64)]) -> DemandEvent {
    DemandEvent::Inspect {
        quantities: q(pairs),
    }
}
fn hand_over(pairs: &[(usize, u64)]) -> DemandEvent {
    DemandEvent::HandOver {
        quantities: q(pairs),
    }
}
fn short(reason: &str) -> DemandEvent {
    DemandEvent::CloseWithShortfall {
        reason: reason.to_owned(),
    }
}
fn cancel(reason: &str) -> DemandEvent {
    DemandEvent::Cancel {
        reason: reason.to_owned(),
    }
}

/// Applies events in order, panicking (in a test) on a refusal.
fn run(events: &[DemandEvent]) -> Demand {
    events.iter().fold(received(), |demand, event| {
        transition(&demand, event).unwrap_or_else(|e| panic!("{event:?} refused: {e}"))
    })
}

fn full_delivery() -> Vec<DemandEvent> {
    vec![
        DemandEvent::Analyse,
        allocate(&[(0, 10), (1, 4)]),
        inspect(&[(0, 10), (1, 4)]),
        hand_over(&[(0, 10), (1, 4)]),
    ]
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

#[test]
fn a_valid_demand_is_trimmed_and_kept() {
    let demand = received();
    let draft = demand.draft();
    assert_eq!(draft.title(), "Tents and trucks for the flood line");
    assert_eq!(draft.lines().len(), 2);
    let line = &draft.lines()[1];
    assert_eq!(line.type_code(), "TRUCK.10T");
    assert_eq!(line.quantity(), 4);
    assert_eq!(line.priority().get(), 2);
    assert_eq!(line.delivery_point().lat(), 31.82);
    assert_eq!(line.origin_line(), None);
    assert_eq!(demand.status(), DemandStatus::Received);
    assert_eq!(demand.progress(), &[LineProgress::default(); 2]);
    assert_eq!(draft.escalated_from(), None);
}

#[test]
fn every_problem_of_a_demand_is_named() {
    let mut bad = raw_line("NOPE", 0);
    bad.lat = f64::NAN;
    bad.needed_by = NOW;
    bad.priority = 6;
    let mut negative = raw_line(" ", -3);
    negative.lon = 181.0;
    negative.priority = 0;
    let mut huge = raw_line("SURGEON", i64::MAX);
    huge.priority = -1;
    let cases: Vec<(NewDemand, Vec<DemandProblem>)> = vec![
        (
            NewDemand {
                title: " ".into(),
                ..new_demand(vec![])
            },
            vec![DemandProblem::TitleMissing, DemandProblem::NoLines],
        ),
        (
            NewDemand {
                title: "x".repeat(MAX_TITLE_CHARS + 1),
                ..new_demand(vec![raw_line("TENT.12", 1)])
            },
            vec![DemandProblem::TitleTooLong {
                length: MAX_TITLE_CHARS + 1,
            }],
        ),
        (
            new_demand(vec![raw_line("TENT.12", 1); MAX_LINES + 1]),
            vec![DemandProblem::TooManyLines {
                count: MAX_LINES + 1,
            }],
        ),
        (
            new_demand(vec![raw_line("TENT.12", 1), bad, negative, huge]),
            vec![
                DemandProblem::UnknownType {
                    line: 1,
                    code: "NOPE".into(),
                },
                DemandProblem::BadQuantity { line: 1, found: 0 },
                DemandProblem::BadDeliveryPoint { line: 1 },
                DemandProblem::NeededByPassed { line: 1 },
                DemandProblem::BadPriority { line: 1, found: 6 },
                DemandProblem::TypeMissing { line: 2 },
                DemandProblem::BadQuantity { line: 2, found: -3 },
                DemandProblem::BadDeliveryPoint { line: 2 },
                DemandProblem::BadPriority { line: 2, found: 0 },
                DemandProblem::BadQuantity {
                    line: 3,
                    found: i64::MAX,
                },
                DemandProblem::BadPriority { line: 3, found: -1 },
            ],
        ),
    ];
    for (demand, expected) in cases {
        assert_eq!(
            demand.validate(NOW, known),
            Err(expected),
            "{:?}",
            demand.title
        );
    }
}

#[test]
fn problems_name_the_field() {
    let text = DemandProblem::BadQuantity { line: 2, found: -3 }.to_string();
    assert!(text.starts_with("lines[2].quantity:"), "{text}");
    assert!(text.contains("found -3"), "{text}");
}

#[test]
fn clearance_sees_its_level_and_below() {
    use ClassificationLevel::*;
    let cases = [
        (Public, Public, true),
        (Internal, Public, true),
        (Internal, Internal, true),
        (Internal, Confidential, false),
        (Confidential, Secret, false),
        (Secret, Secret, true),
        (Secret, Public, true),
        (Public, Internal, false),
    ];
    for (clearance, level, expected) in cases {
        assert_eq!(
            may_see(clearance, level),
            expected,
            "{clearance} sees {level}"
        );
    }
    assert_eq!(ClassificationLevel::clearance_for(&[]), Internal);
    assert_eq!(
        ClassificationLevel::clearance_for(&[DataClass::PersonalData]),
        Internal
    );
    assert_eq!(
        ClassificationLevel::clearance_for(&[DataClass::ClassifiedMilitary]),
        Secret
    );
}

#[test]
fn enums_round_trip_through_their_text() {
    for level in ClassificationLevel::ALL {
        assert_eq!(ClassificationLevel::parse(level.as_str()), Some(*level));
    }
    for status in DemandStatus::ALL {
        assert_eq!(DemandStatus::parse(status.as_str()), Some(*status));
    }
    for origin in DemandOrigin::ALL {
        assert_eq!(DemandOrigin::parse(origin.as_str()), Some(*origin));
    }
    assert_eq!(DemandOrigin::Military.side(), Side::Military);
    assert_eq!(DemandOrigin::CivilEmergency.side(), Side::Civil);
}

#[test]
fn priorities_run_from_one_most_urgent_to_five() {
    assert_eq!(Priority::new(1), Some(Priority::MOST_URGENT));
    assert_eq!(Priority::new(5), Some(Priority::LEAST_URGENT));
    for bad in [0, 6, -1, 256, i64::MIN] {
        assert_eq!(Priority::new(bad), None, "{bad}");
    }
    assert!(Priority::MOST_URGENT.is_more_urgent_than(Priority::LEAST_URGENT));
    assert_eq!(Priority::MOST_URGENT.urgency(), 5);
    assert_eq!(Priority::LEAST_URGENT.urgency(), 1);
    assert!(
        Priority::MOST_URGENT < Priority::LEAST_URGENT,
        "most urgent sorts first"
    );
}

// ---------------------------------------------------------------------------------------
// Transitions
// ---------------------------------------------------------------------------------------

#[test]
fn every_allowed_transition_lands_where_it_should() {
    // (events before, event, expected status)
    let cases: Vec<(Vec<DemandEvent>, DemandEvent, DemandStatus)> = vec![
        (vec![], DemandEvent::Analyse, DemandStatus::Analysed),
        (
            vec![DemandEvent::Analyse],
            allocate(&[(0, 10)]),
            DemandStatus::Allocated,
        ),
        (
            vec![DemandEvent::Analyse, allocate(&[(0, 10)])],
            inspect(&[(0, 4)]),
            DemandStatus::Allocated,
        ),
        (
            vec![DemandEvent::Analyse, allocate(&[(0, 10)])],
            inspect(&[(0, 10)]),
            DemandStatus::Inspected,
        ),
        (
            vec![DemandEvent::Analyse, allocate(&[(0, 10)])],
            release(&[(0, 10)]),
            DemandStatus::Analysed,
        ),
        (
            vec![
                DemandEvent::Analyse,
                allocate(&[(0, 10)]),
                inspect(&[(0, 6)]),
            ],
            release(&[(0, 4)]),
            DemandStatus::Inspected,
        ),
        (
            vec![
                DemandEvent::Analyse,
                allocate(&[(0, 10)]),
                inspect(&[(0, 10)]),
            ],
            hand_over(&[(0, 3)]),
            DemandStatus::Inspected,
        ),
        (
            vec![
                DemandEvent::Analyse,
                allocate(&[(0, 10)]),
                inspect(&[(0, 10)]),
            ],
            hand_over(&[(0, 10)]),
            DemandStatus::HandedOver,
        ),
        (
            vec![
                DemandEvent::Analyse,
                allocate(&[(0, 10)]),
                inspect(&[(0, 10)]),
                hand_over(&[(0, 10)]),
            ],
            allocate(&[(1, 2)]),
            DemandStatus::Allocated,
        ),
        (full_delivery(), DemandEvent::Close, DemandStatus::Closed),
        (
            vec![DemandEvent::Analyse],
            short("nothing in the province"),
            DemandStatus::Closed,
        ),
        (
            vec![
                DemandEvent::Analyse,
                allocate(&[(0, 10)]),
                inspect(&[(0, 10)]),
                hand_over(&[(0, 10)]),
            ],
            short("trucks found elsewhere"),
            DemandStatus::Closed,
        ),
        (vec![], cancel("withdrawn"), DemandStatus::Cancelled),
        (
            vec![DemandEvent::Analyse],
            cancel("withdrawn"),
            DemandStatus::Cancelled,
        ),
        (
            vec![DemandEvent::Analyse, allocate(&[(0, 1)])],
            cancel("withdrawn"),
            DemandStatus::Cancelled,
        ),
        (
            vec![
                DemandEvent::Analyse,
                allocate(&[(0, 1)]),
                inspect(&[(0, 1)]),
            ],
            cancel("withdrawn"),
            DemandStatus::Cancelled,
        ),
        (
            full_delivery(),
            cancel("withdrawn"),
            DemandStatus::Cancelled,
        ),
    ];
    for (before, event, expected) in cases {
        let demand = run(&before);
        let next = transition(&demand, &event)
            .unwrap_or_else(|e| panic!("{event:?} after {before:?} refused: {e}"));
        assert_eq!(next.status(), expected, "{event:?} after {before:?}");
        assert_eq!(demand, run(&before), "the demand given is not changed");
    }
}

#[test]
fn every_refusal_is_typed() {
    let refused: Vec<(Vec<DemandEvent>, DemandEvent, DemandRefusal)> = vec![
        (
            vec![DemandEvent::Analyse],
            DemandEvent::Analyse,
            DemandRefusal::WrongStatus {
                action: "analyse",
                status: DemandStatus::Analysed,
                hint: "it has been analysed already",
            },
        ),
        (
            vec![],
            allocate(&[(0, 1)]),
            DemandRefusal::WrongStatus {
                action: "allocate",
                status: DemandStatus::Received,
                hint: "analyse it first",
            },
        ),
        (
            vec![DemandEvent::Analyse],
            allocate(&[]),
            DemandRefusal::NoQuantities { action: "allocate" },
        ),
        (
            vec![DemandEvent::Analyse],
            allocate(&[(2, 1)]),
            DemandRefusal::UnknownLine {
                action: "allocate",
                line: 2,
                lines: 2,
            },
        ),
        (
            vec![DemandEvent::Analyse],
            allocate(&[(0, 1), (0, 2)]),
            DemandRefusal::DuplicateLine {
                action: "allocate",
                line: 0,
            },
        ),
        (
            vec![DemandEvent::Analyse],
            allocate(&[(1, 0)]),
            DemandRefusal::ZeroQuantity {
                action: "allocate",
                line: 1,
            },
        ),
        (
            vec![DemandEvent::Analyse, allocate(&[(1, 3)])],
            allocate(&[(1, 2)]),
            DemandRefusal::TooMuch {
                action: "allocate",
                line: 1,
                quantity: 2,
                room: 1,
            },
        ),
        (
            vec![DemandEvent::Analyse],
            inspect(&[(0, 1)]),
            DemandRefusal::TooMuch {
                action: "inspect",
                line: 0,
                quantity: 1,
                room: 0,
            },
        ),
        (
            vec![DemandEvent::Analyse, allocate(&[(0, 5)])],
            hand_over(&[(0, 1)]),
            DemandRefusal::TooMuch {
                action: "hand_over",
                line: 0,
                quantity: 1,
                room: 0,
            },
        ),
        (
            vec![
                DemandEvent::Analyse,
                allocate(&[(0, 5)]),
                inspect(&[(0, 3)]),
            ],
            release(&[(0, 3)]),
            DemandRefusal::TooMuch {
                action: "release",
                line: 0,
                quantity: 3,
                room: 2,
            },
        ),
        (
            vec![
                DemandEvent::Analyse,
                allocate(&[(0, 10)]),
                inspect(&[(0, 10)]),
            ],
            DemandEvent::Close,
            DemandRefusal::WrongStatus {
                action: "close",
                status: DemandStatus::Inspected,
                hint: "a demand closes once everything allocated is handed over",
            },
        ),
        (
            vec![
                DemandEvent::Analyse,
                allocate(&[(0, 10), (1, 1)]),
                inspect(&[(0, 10), (1, 1)]),
                hand_over(&[(0, 10), (1, 1)]),
            ],
            DemandEvent::Close,
            DemandRefusal::Shortfall {
                shortfall: vec![LineShortfall {
                    line: 1,
                    missing: 3,
                }],
            },
        ),
        (
            vec![],
            short("none"),
            DemandRefusal::WrongStatus {
                action: "close_with_shortfall",
                status: DemandStatus::Received,
                hint: "analyse it first",
            },
        ),
        (
            vec![DemandEvent::Analyse, allocate(&[(0, 1)])],
            short("none"),
            DemandRefusal::WorkOutstanding,
        ),
        (
            vec![
                DemandEvent::Analyse,
                allocate(&[(0, 1)]),
                inspect(&[(0, 1)]),
            ],
            short("none"),
            DemandRefusal::WorkOutstanding,
        ),
        (full_delivery(), short("none"), DemandRefusal::NoShortfall),
        (
            vec![DemandEvent::Analyse],
            short("   "),
            DemandRefusal::ReasonMissing {
                action: "close_with_shortfall",
            },
        ),
        (
            vec![],
            cancel(""),
            DemandRefusal::ReasonMissing { action: "cancel" },
        ),
        (
            vec![],
            cancel(&"y".repeat(MAX_REASON_CHARS + 1)),
            DemandRefusal::ReasonTooLong {
                action: "cancel",
                length: MAX_REASON_CHARS + 1,
            },
        ),
        (
            vec![cancel("withdrawn")],
            DemandEvent::Analyse,
            DemandRefusal::Finished {
                status: DemandStatus::Cancelled,
            },
        ),
        (
            vec![cancel("withdrawn")],
            cancel("again"),
            DemandRefusal::Finished {
                status: DemandStatus::Cancelled,
            },
        ),
        (
            {
                let mut events = full_delivery();
                events.push(DemandEvent::Close);
                events
            },
            allocate(&[(0, 1)]),
            DemandRefusal::Finished {
                status: DemandStatus::Closed,
            },
        ),
    ];
    for (before, event, expected) in refused {
        let demand = run(&before);
        assert_eq!(
            transition(&demand, &event),
            Err(expected),
            "{event:?} after {before:?}"
        );
    }
}

#[test]
fn a_refused_batch_changes_nothing() {
    // The first entry fits, the second does not: the whole event is refused.
    let demand = run(&[DemandEvent::Analyse]);
    assert!(transition(&demand, &allocate(&[(0, 5), (1, 5)])).is_err());
    assert_eq!(demand.progress(), &[LineProgress::default(); 2]);
}

#[test]
fn endings_record_why_and_what_is_short() {
    let closed = run(&[
        DemandEvent::Analyse,
        allocate(&[(0, 10)]),
        inspect(&[(0, 10)]),
        hand_over(&[(0, 10)]),
        short("trucks came from the garrison"),
    ]);
    assert_eq!(
        closed.ending(),
        Some(&DemandEnding::ClosedWithShortfall {
            reason: "trucks came from the garrison".into(),
            shortfall: vec![LineShortfall {
                line: 1,
                missing: 4
            }],
        })
    );
    let cancelled = run(&[
        DemandEvent::Analyse,
        allocate(&[(1, 2)]),
        cancel(" stood down "),
    ]);
    assert_eq!(
        cancelled.ending(),
        Some(&DemandEnding::Cancelled {
            reason: "stood down".into(),
            from: DemandStatus::Allocated,
        })
    );
    // Kept so that storage knows which reservations to release.
    assert_eq!(cancelled.progress()[1].allocated(), 2);
    let mut events = full_delivery();
    events.push(DemandEvent::Close);
    assert_eq!(run(&events).ending(), Some(&DemandEnding::Fulfilled));
}

#[test]
fn partial_fulfilment_is_tracked_per_line() {
    let demand = run(&[
        DemandEvent::Analyse,
        allocate(&[(0, 7), (1, 4)]),
        inspect(&[(0, 7), (1, 2)]),
        release(&[(1, 2)]),
        hand_over(&[(0, 5)]),
    ]);
    assert_eq!(demand.status(), DemandStatus::Inspected);
    assert_eq!(
        demand.progress(),
        &[
            LineProgress::new(10, 7, 7, 5).expect("ordered"),
            LineProgress::new(4, 2, 2, 0).expect("ordered"),
        ]
    );
    assert_eq!(
        demand.allocation_shortfall(),
        vec![
            LineShortfall {
                line: 0,
                missing: 3
            },
            LineShortfall {
                line: 1,
                missing: 2
            }
        ]
    );
    assert_eq!(
        demand.delivery_shortfall(),
        vec![
            LineShortfall {
                line: 0,
                missing: 5
            },
            LineShortfall {
                line: 1,
                missing: 4
            }
        ]
    );
}

#[test]
fn restore_refuses_progress_that_breaks_the_invariant() {
    let demand = received();
    let draft = demand.draft().clone();
    let ok = Demand::restore(
        draft.clone(),
        NOW,
        DemandStatus::Inspected,
        vec![
            LineProgress::new(10, 3, 3, 1).expect("ordered"),
            LineProgress::default(),
        ],
        None,
    );
    assert!(ok.is_ok());
    assert_eq!(
        Demand::restore(draft.clone(), NOW, DemandStatus::Received, vec![], None),
        Err(DemandRefusal::CorruptProgress { line: 0 })
    );
    assert_eq!(LineProgress::new(4, 5, 0, 0), None);
    assert_eq!(LineProgress::new(4, 2, 3, 0), None);
    assert_eq!(LineProgress::new(4, 2, 2, 3), None);
    // Line 1 asks for 4; progress of 5 allocated is refused.
    let serialized_like = LineProgress::new(10, 5, 0, 0).expect("ordered");
    assert_eq!(
        Demand::restore(
            draft,
            NOW,
            DemandStatus::Allocated,
            vec![LineProgress::default(), serialized_like],
            None
        ),
        Err(DemandRefusal::CorruptProgress { line: 1 })
    );
}

// ---------------------------------------------------------------------------------------
// Meetings
// ---------------------------------------------------------------------------------------

fn attendee(name: &str, side: Side) -> Attendee {
    Attendee {
        name: name.into(),
        organization: if side == Side::Military {
            "County PAFD".into()
        } else {
            "County mobilization office".into()
        },
        side,
    }
}

#[test]
fn a_meeting_record_is_checked() {
    let demand = received();
    let good = NewTaskMeeting {
        held_at: NOW.plus_millis(3_600_000),
        attendees: vec![
            attendee(" Wang ", Side::Civil),
            attendee("Li", Side::Military),
        ],
        decisions: vec![" Allocate tents from the county reserve ".into()],
    };
    let meeting = good.validate(&demand, NOW.plus_millis(DAY)).expect("valid");
    assert_eq!(meeting.attendees()[0].name, "Wang");
    assert_eq!(
        meeting.decisions(),
        &["Allocate tents from the county reserve"]
    );
    assert_eq!(meeting.held_at(), NOW.plus_millis(3_600_000));

    let cases: Vec<(NewTaskMeeting, Vec<MeetingProblem>)> = vec![
        (
            NewTaskMeeting {
                held_at: NOW.plus_millis(-1),
                attendees: vec![],
                decisions: vec![],
            },
            vec![
                MeetingProblem::HeldBeforeReceived,
                MeetingProblem::NoAttendees,
                MeetingProblem::NoDecisions,
            ],
        ),
        (
            NewTaskMeeting {
                held_at: NOW.plus_millis(2 * DAY),
                ..good.clone()
            },
            vec![MeetingProblem::HeldInFuture],
        ),
        (
            NewTaskMeeting {
                attendees: vec![
                    attendee("Wang", Side::Civil),
                    attendee(" ", Side::Civil),
                    attendee("Wang ", Side::Civil),
                    Attendee {
                        organization: String::new(),
                        ..attendee("Zhao", Side::Civil)
                    },
                ],
                decisions: vec!["ok".into(), " ".into()],
                ..good.clone()
            },
            vec![
                MeetingProblem::BadAttendeeName { index: 1 },
                MeetingProblem::DuplicateAttendee {
                    index: 2,
                    name: "Wang".into(),
                    organization: "County mobilization office".into(),
                },
                MeetingProblem::BadAttendeeOrganization { index: 3 },
                MeetingProblem::NoMilitaryAttendee,
                MeetingProblem::BadDecision { index: 1 },
            ],
        ),
        (
            NewTaskMeeting {
                attendees: vec![attendee("Wang", Side::Civil); MAX_MEETING_ENTRIES + 1],
                decisions: vec!["ok".into(); MAX_MEETING_ENTRIES + 1],
                ..good.clone()
            },
            {
                let mut expected = vec![MeetingProblem::TooManyAttendees];
                expected.extend((1..MAX_MEETING_ENTRIES).map(|index| {
                    MeetingProblem::DuplicateAttendee {
                        index,
                        name: "Wang".into(),
                        organization: "County mobilization office".into(),
                    }
                }));
                expected.push(MeetingProblem::NoMilitaryAttendee);
                expected.push(MeetingProblem::TooManyDecisions);
                expected
            },
        ),
    ];
    for (meeting, expected) in cases {
        assert_eq!(
            meeting.validate(&demand, NOW.plus_millis(DAY)),
            Err(expected),
            "{meeting:?}"
        );
    }
}

#[test]
fn a_civil_emergency_meeting_needs_no_military_attendee() {
    let draft = NewDemand {
        origin: DemandOrigin::CivilEmergency,
        ..new_demand(vec![raw_line("TENT.12", 1)])
    }
    .validate(NOW, known)
    .expect("valid");
    let demand = Demand::receive(draft, NOW);
    let meeting = NewTaskMeeting {
        held_at: NOW,
        attendees: vec![attendee("Wang", Side::Civil)],
        decisions: vec!["Call up the county rescue team".into()],
    };
    assert!(meeting.validate(&demand, NOW).is_ok());
}

// ---------------------------------------------------------------------------------------
// Escalation
// ---------------------------------------------------------------------------------------

#[test]
fn a_shortfall_becomes_a_demand_for_the_level_above() {
    let demand = run(&[DemandEvent::Analyse, allocate(&[(0, 6)])]);
    let escalated = escalate(&demand, 42, &demand.allocation_shortfall()).expect("escalates");
    assert_eq!(escalated.region(), &path("/34/3401/"));
    assert_eq!(
        escalated.escalated_from(),
        Some(&EscalationLink {
            demand_id: 42,
            from_region: path("/34/3401/340104/"),
        })
    );
    assert_eq!(escalated.origin(), DemandOrigin::Military);
    assert_eq!(
        escalated.classification(),
        ClassificationLevel::Confidential
    );
    let lines: Vec<(&str, u64, Option<usize>)> = escalated
        .lines()
        .iter()
        .map(|l| (l.type_code(), l.quantity(), l.origin_line()))
        .collect();
    assert_eq!(
        lines,
        vec![("TENT.12", 4, Some(0)), ("TRUCK.10T", 4, Some(1))]
    );
    let origin = &demand.draft().lines()[0];
    let line = &escalated.lines()[0];
    assert_eq!(line.needed_by(), origin.needed_by());
    assert_eq!(line.priority(), origin.priority());
    assert_eq!(line.delivery_point(), origin.delivery_point());

    // The escalated demand starts its own lifecycle at the level above.
    let upstairs = Demand::receive(escalated, NOW);
    assert_eq!(upstairs.status(), DemandStatus::Received);
}

#[test]
fn escalation_refusals() {
    let analysed = run(&[DemandEvent::Analyse, allocate(&[(0, 6)])]);
    let one = |line, missing| vec![LineShortfall { line, missing }];
    let cases: Vec<(Demand, Vec<LineShortfall>, EscalationError)> = vec![
        (
            received(),
            one(0, 1),
            EscalationError::WrongStatus {
                status: DemandStatus::Received,
            },
        ),
        (
            run(&[cancel("stood down")]),
            one(0, 1),
            EscalationError::WrongStatus {
                status: DemandStatus::Cancelled,
            },
        ),
        (analysed.clone(), vec![], EscalationError::NothingMissing),
        (
            analysed.clone(),
            one(5, 1),
            EscalationError::UnknownLine { index: 0, line: 5 },
        ),
        (
            analysed.clone(),
            vec![
                LineShortfall {
                    line: 1,
                    missing: 1,
                },
                LineShortfall {
                    line: 1,
                    missing: 1,
                },
            ],
            EscalationError::DuplicateLine { index: 1, line: 1 },
        ),
        (
            analysed.clone(),
            one(0, 5),
            EscalationError::BadMissing {
                index: 0,
                line: 0,
                missing: 5,
                open: 4,
            },
        ),
        (
            analysed.clone(),
            one(1, 0),
            EscalationError::BadMissing {
                index: 0,
                line: 1,
                missing: 0,
                open: 4,
            },
        ),
    ];
    for (demand, shortfall, expected) in cases {
        assert_eq!(
            escalate(&demand, 1, &shortfall),
            Err(expected),
            "{shortfall:?}"
        );
    }

    let national = Demand::receive(
        NewDemand {
            region: RegionPath::root(),
            ..new_demand(vec![raw_line("TENT.12", 1)])
        }
        .validate(NOW, known)
        .expect("valid"),
        NOW,
    );
    let national = transition(&national, &DemandEvent::Analyse).expect("analyses");
    assert_eq!(
        escalate(&national, 1, &national.allocation_shortfall()),
        Err(EscalationError::NoLevelAbove)
    );
}

#[test]
fn a_province_escalates_to_the_nation() {
    assert_eq!(parent_path(&path("/34/")), Some(RegionPath::root()));
    assert_eq!(parent_path(&path("/34/3401/")), Some(path("/34/")));
    assert_eq!(parent_path(&RegionPath::root()), None);
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

fn any_event() -> impl Strategy<Value = DemandEvent> {
    let quantities = prop::collection::vec((0usize..3, 0u64..12), 0..3).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(line, quantity)| LineQuantity { line, quantity })
            .collect::<Vec<_>>()
    });
    prop_oneof![
        Just(DemandEvent::Analyse),
        quantities
            .clone()
            .prop_map(|quantities| DemandEvent::Allocate { quantities }),
        quantities
            .clone()
            .prop_map(|quantities| DemandEvent::Release { quantities }),
        quantities
            .clone()
            .prop_map(|quantities| DemandEvent::Inspect { quantities }),
        quantities.prop_map(|quantities| DemandEvent::HandOver { quantities }),
        Just(DemandEvent::Close),
        Just(short("why")),
        Just(cancel("why")),
    ]
}

proptest! {
    /// Whatever sequence of events arrives, accepted or refused, the progress invariant
    /// holds, the status matches the quantities, and terminal states stay terminal.
    #[test]
    fn any_event_sequence_keeps_the_invariants(events in prop::collection::vec(any_event(), 0..40)) {
        let mut demand = received();
        for event in &events {
            let before = demand.clone();
            match transition(&demand, event) {
                Ok(next) => demand = next,
                Err(_) => prop_assert_eq!(&demand, &before),
            }
            prop_assert!(!(before.status().is_terminal() && demand != before));
            for (progress, line) in demand.progress().iter().zip(demand.draft().lines()) {
                prop_assert!(LineProgress::new(
                    line.quantity(),
                    progress.allocated(),
                    progress.inspected(),
                    progress.handed_over()
                ).is_some());
            }
            if demand.status() == DemandStatus::Closed
                && demand.ending() == Some(&DemandEnding::Fulfilled)
            {
                prop_assert!(demand.delivery_shortfall().is_empty());
            }
            if matches!(demand.status(), DemandStatus::Allocated | DemandStatus::Inspected | DemandStatus::HandedOver) {
                prop_assert_eq!(demand.status(), Demand::derived_status(demand.progress()));
            }
        }
    }
}
