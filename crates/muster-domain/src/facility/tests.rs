use proptest::prelude::*;

use super::campaign::{CampaignTarget, forecast};
use super::patrol::{CheckIn, Checkpoint, RouteDraft, checkpoint_for_code, missed_checkpoints};
use super::*;

fn day(text: &str) -> CivilDate {
    CivilDate::parse(text).unwrap_or(CivilDate::from_days(0))
}

fn shelter() -> FacilityDraft {
    FacilityDraft {
        name: "人防工程 1 号".to_owned(),
        kind: FacilityKind::BasementCarPark,
        latitude: 31.82,
        longitude: 117.22,
        capacity_persons: 1200,
        area_m2: 3500.0,
        peacetime: PeacetimeUse {
            parking_spaces: 120,
            charging_points: 12,
            services: vec!["快递柜".to_owned()],
            since: Some(day("2026-03-01")),
        },
        sign_status: SignStatus::Missing,
        equipment: vec![EquipmentItem {
            name: "防护密闭门".to_owned(),
            count: 2,
            parts: vec!["密封条".to_owned()],
        }],
        conversion: vec![
            ConversionStep {
                label: "清空车辆".to_owned(),
                minutes: 600,
            },
            ConversionStep {
                label: "关闭防护门".to_owned(),
                minutes: 120,
            },
        ],
    }
}

#[test]
fn a_good_facility_passes_and_every_bad_field_is_named() {
    assert_eq!(shelter().validate(), Ok(()));
    let mut bad = shelter();
    bad.name = "  ".to_owned();
    bad.latitude = 91.0;
    bad.longitude = f64::NAN;
    bad.capacity_persons = MAX_CAPACITY_PERSONS + 1;
    bad.area_m2 = -1.0;
    bad.equipment[0].parts[0] = String::new();
    bad.conversion[1].minutes = 60 * 24 * 31;
    let fields: Vec<String> = bad
        .validate()
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.field)
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "latitude",
            "longitude",
            "capacity_persons",
            "area_m2",
            "equipment[0].parts[0]",
            "conversion[1].minutes"
        ]
    );
}

#[test]
fn readiness_is_cumulative_by_horizon() {
    let mut ready = ReadyCapacity::default();
    ready.add(100, 0);
    ready.add(200, 1440);
    ready.add(400, 1441);
    ready.add(800, 10_080);
    ready.add(1600, 10_081);
    assert_eq!(
        ready,
        ReadyCapacity {
            within_24_hours: 300,
            within_72_hours: 700,
            within_week: 1500,
            total: 3100
        }
    );
    assert_eq!(shelter().conversion_minutes(), 720);
}

#[test]
fn every_default_checklist_is_valid_and_bad_edits_are_named() {
    for kind in FacilityKind::ALL {
        assert_eq!(default_checklist(*kind).validate(), Ok(()), "{kind}");
    }
    let mut edited = default_checklist(FacilityKind::Shelter);
    edited.items[1].code = "door_seal".to_owned();
    edited.items[2].code = "Door Cushions".to_owned();
    edited.items[3].label_en = String::new();
    edited.items[4].deadline_days = 0;
    let fields: Vec<String> = edited
        .validate()
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.field)
        .collect();
    assert_eq!(
        fields,
        [
            "items[1].code",
            "items[2].code",
            "items[3].label_en",
            "items[4].deadline_days"
        ]
    );
    let empty = Checklist {
        kind: FacilityKind::Siren,
        items: vec![],
    };
    assert!(empty.validate().is_err());
}

#[test]
fn the_deepest_schedule_wins_and_never_inspected_is_due_at_once() {
    assert_eq!(interval_days(FacilityKind::Siren, &[]), 90);
    let schedules = [
        Schedule {
            region_depth: 1,
            every_days: 60,
        },
        Schedule {
            region_depth: 3,
            every_days: 14,
        },
    ];
    assert_eq!(interval_days(FacilityKind::Shelter, &schedules), 14);
    let registered = day("2026-01-10").start();
    assert_eq!(next_due(None, registered, 30), day("2026-01-10"));
    assert_eq!(
        next_due(
            Some(day("2026-11-01").start().plus_millis(5)),
            registered,
            30
        ),
        day("2026-12-01")
    );
}

fn answers(checklist: &Checklist, failing: &[&str]) -> Vec<ItemAnswer> {
    checklist
        .items
        .iter()
        .map(|item| ItemAnswer {
            code: item.code.clone(),
            result: if failing.contains(&item.code.as_str()) {
                ItemResult::Fail
            } else {
                ItemResult::Pass
            },
            note: String::new(),
        })
        .collect()
}

#[test]
fn an_inspection_names_failures_and_flags_a_far_phone() {
    let checklist = default_checklist(FacilityKind::Shelter);
    let now = day("2026-11-25").start().plus_millis(3_600_000);
    let draft = InspectionDraft {
        answers: answers(&checklist, &["door_seal", "lighting"]),
        notes: String::new(),
        latitude: Some(31.83),
        longitude: Some(117.22),
        inspected_at: now,
    };
    let checked = draft
        .check(&checklist, (31.82, 117.22), now)
        .map_err(|p| format!("{p:?}"));
    let checked = checked
        .as_ref()
        .map(|c| (c.failed.clone(), c.far_from_facility));
    assert_eq!(
        checked,
        Ok((vec!["door_seal".to_owned(), "lighting".to_owned()], true))
    );
    let near = InspectionDraft {
        latitude: Some(31.8201),
        ..draft.clone()
    };
    assert_eq!(
        near.check(&checklist, (31.82, 117.22), now)
            .map(|c| c.far_from_facility),
        Ok(false)
    );
}

#[test]
fn an_incomplete_or_doubled_inspection_is_refused_item_by_item() {
    let checklist = default_checklist(FacilityKind::Siren);
    let now = Timestamp::from_millis(1_000_000_000_000);
    let mut list = answers(&checklist, &[]);
    list.remove(0);
    list.push(list[0].clone());
    list.push(ItemAnswer {
        code: "teleporter".to_owned(),
        result: ItemResult::Pass,
        note: String::new(),
    });
    let draft = InspectionDraft {
        answers: list,
        notes: String::new(),
        latitude: Some(31.0),
        longitude: None,
        inspected_at: now.plus_millis(CLOCK_SKEW_MILLIS + 1),
    };
    let fields: Vec<String> = draft
        .check(&checklist, (0.0, 0.0), now)
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.field)
        .collect();
    assert_eq!(
        fields,
        [
            "answers[4].code",
            "answers.siren_test",
            "answers.power",
            "position",
            "inspected_at"
        ]
    );
}

#[test]
fn orders_follow_their_state_machine() {
    use OrderParty::{Office, PropertyManager};
    let repair = OrderAction::ReportRepair {
        note: "换了密封条".to_owned(),
        evidence: vec![],
    };
    let back = OrderAction::SendBack {
        reason: "照片看不清".to_owned(),
    };
    let status = OrderStatus::Issued;
    let status = status.apply(&OrderAction::Acknowledge, PropertyManager);
    assert_eq!(status, Ok(OrderStatus::Acknowledged));
    let status = OrderStatus::Acknowledged.apply(&repair, PropertyManager);
    assert_eq!(status, Ok(OrderStatus::Repaired));
    assert_eq!(
        OrderStatus::Repaired.apply(&back, Office),
        Ok(OrderStatus::SentBack)
    );
    assert_eq!(
        OrderStatus::SentBack.apply(&repair, PropertyManager),
        Ok(OrderStatus::Repaired)
    );
    assert_eq!(
        OrderStatus::Repaired.apply(&OrderAction::Verify, Office),
        Ok(OrderStatus::Verified)
    );
    assert_eq!(
        OrderStatus::Verified.apply(&OrderAction::Close, Office),
        Ok(OrderStatus::Closed)
    );

    assert!(matches!(
        OrderStatus::Issued.apply(&OrderAction::Verify, Office),
        Err(OrderRefusal::WrongState { .. })
    ));
    assert!(matches!(
        OrderStatus::Repaired.apply(&OrderAction::Verify, PropertyManager),
        Err(OrderRefusal::WrongParty { .. })
    ));
    assert!(matches!(
        OrderStatus::Closed.apply(&OrderAction::Acknowledge, PropertyManager),
        Err(OrderRefusal::WrongState { .. })
    ));
    let empty_repair = OrderAction::ReportRepair {
        note: " ".to_owned(),
        evidence: vec![],
    };
    assert!(matches!(
        OrderStatus::Issued.apply(&empty_repair, PropertyManager),
        Err(OrderRefusal::Invalid {
            field: "evidence",
            ..
        })
    ));
    let empty_reason = OrderAction::SendBack {
        reason: String::new(),
    };
    assert!(matches!(
        OrderStatus::Repaired.apply(&empty_reason, Office),
        Err(OrderRefusal::Invalid {
            field: "reason",
            ..
        })
    ));
}

/// Every refusal of the order state machine, said in Chinese, has no English left in it:
/// no ASCII letter but the field path an `Invalid` starts with (a code, the same as the
/// English's), and none of the English's own words.
#[test]
fn every_order_refusal_is_said_in_chinese() {
    let actions = [
        OrderAction::Acknowledge,
        OrderAction::ReportRepair {
            note: "换了密封条".to_owned(),
            evidence: vec![],
        },
        OrderAction::ReportRepair {
            note: " ".to_owned(),
            evidence: vec![],
        },
        OrderAction::ReportRepair {
            note: "长".repeat(MAX_NOTE_CHARS + 1),
            evidence: vec![],
        },
        OrderAction::Verify,
        OrderAction::SendBack {
            reason: "照片看不清".to_owned(),
        },
        OrderAction::SendBack {
            reason: String::new(),
        },
        OrderAction::Close,
    ];
    let mut refusals = Vec::new();
    for &status in OrderStatus::ALL {
        for action in &actions {
            for &party in OrderParty::ALL {
                if let Err(refusal) = status.apply(action, party) {
                    refusals.push(refusal);
                }
            }
        }
    }
    let kinds = |pick: fn(&OrderRefusal) -> bool| refusals.iter().filter(|r| pick(r)).count();
    assert!(kinds(|r| matches!(r, OrderRefusal::WrongState { .. })) > 0);
    assert!(kinds(|r| matches!(r, OrderRefusal::WrongParty { .. })) > 0);
    let fields: std::collections::BTreeSet<&str> = refusals
        .iter()
        .filter_map(|r| match r {
            OrderRefusal::Invalid { field, .. } => Some(*field),
            _ => None,
        })
        .collect();
    assert_eq!(
        fields.into_iter().collect::<Vec<_>>(),
        ["evidence", "note", "reason"]
    );
    for refusal in &refusals {
        let zh = refusal.zh();
        let said = match refusal {
            OrderRefusal::Invalid { field, .. } => zh
                .strip_prefix(&format!("{field}："))
                .unwrap_or_else(|| panic!("not under its field: {zh}")),
            _ => zh.as_str(),
        };
        assert!(has_cjk(said), "{zh}");
        assert!(
            !said.chars().any(|c| c.is_ascii_alphabetic()),
            "English left in: {zh} (for {refusal})"
        );
    }
    let verify_too_soon = OrderStatus::Issued
        .apply(&OrderAction::Verify, OrderParty::Office)
        .expect_err("refused");
    assert_eq!(
        verify_too_soon.zh(),
        "不能对已下发的整改通知执行“验收”：须先由物业管理人报告整改完成"
    );
    let wrong_party = OrderStatus::Repaired
        .apply(&OrderAction::Verify, OrderParty::PropertyManager)
        .expect_err("refused");
    assert_eq!(wrong_party.zh(), "只有动员办公室才能对整改通知执行“验收”");
}

#[test]
fn reminders_come_once_each_and_overdue_means_after_the_deadline_day() {
    let deadline = day("2026-12-10");
    let at = |text: &str| day(text).start().plus_millis(3_600_000);
    assert_eq!(
        reminder_due(OrderStatus::Issued, deadline, at("2026-12-06"), None),
        None
    );
    assert_eq!(
        reminder_due(OrderStatus::Issued, deadline, at("2026-12-07"), None),
        Some(Reminder::ThreeDaysBefore)
    );
    assert_eq!(
        reminder_due(
            OrderStatus::Issued,
            deadline,
            at("2026-12-08"),
            Some(Reminder::ThreeDaysBefore)
        ),
        None
    );
    assert_eq!(
        reminder_due(
            OrderStatus::Acknowledged,
            deadline,
            at("2026-12-09"),
            Some(Reminder::ThreeDaysBefore)
        ),
        Some(Reminder::OneDayBefore)
    );
    assert_eq!(
        reminder_due(OrderStatus::Issued, deadline, at("2026-12-11"), None),
        Some(Reminder::Overdue)
    );
    assert_eq!(
        reminder_due(
            OrderStatus::Issued,
            deadline,
            at("2026-12-11"),
            Some(Reminder::Overdue)
        ),
        None
    );
    assert_eq!(
        reminder_due(OrderStatus::Verified, deadline, at("2026-12-11"), None),
        None
    );
    assert!(!is_overdue(OrderStatus::Issued, deadline, deadline.end()));
    assert!(is_overdue(
        OrderStatus::Issued,
        deadline,
        deadline.end().plus_millis(1)
    ));
    assert!(!is_overdue(OrderStatus::Closed, deadline, at("2027-01-01")));
    let item = &default_checklist(FacilityKind::Shelter).items[0];
    assert_eq!(order_deadline(item, at("2026-11-25")), day("2026-12-02"));
}

fn route() -> RouteDraft {
    let point = |code: &str| Checkpoint {
        code: code.to_owned(),
        name: format!("点 {code}"),
        latitude: 31.8,
        longitude: 117.2,
    };
    RouteDraft {
        name: "夜间巡查".to_owned(),
        window_minutes: 60,
        checkpoints: vec![point("A-1"), point("B-2"), point("C-3")],
    }
}

#[test]
fn a_patrol_misses_only_what_it_did_not_reach_within_its_window() {
    assert_eq!(route().validate(), Ok(()));
    let start = Timestamp::from_millis(1_800_000_000_000);
    let check_ins = [
        CheckIn {
            code: "a-1".to_owned(),
            at: start,
        },
        CheckIn {
            code: "C-3".to_owned(),
            at: start.plus_millis(61 * 60_000),
        },
    ];
    assert_eq!(
        missed_checkpoints(&route(), &check_ins, start.plus_millis(30 * 60_000)),
        None
    );
    assert_eq!(
        missed_checkpoints(&route(), &[], start.plus_millis(120 * 60_000)),
        None
    );
    assert_eq!(
        missed_checkpoints(&route(), &check_ins, start.plus_millis(62 * 60_000)),
        Some(vec!["B-2".to_owned(), "C-3".to_owned()])
    );
    assert_eq!(
        checkpoint_for_code(&route().checkpoints, " b-2 ").map(|c| c.code.as_str()),
        Some("B-2")
    );
    let mut bad = route();
    bad.checkpoints[1].code = "a-1".to_owned();
    bad.checkpoints[2].code = "C 3".to_owned();
    bad.checkpoints[0].name = "东门｜北侧".to_owned();
    bad.checkpoints[2].name = "东门\n北侧".to_owned();
    bad.window_minutes = 0;
    let fields: Vec<String> = bad
        .validate()
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.field)
        .collect();
    assert_eq!(
        fields,
        [
            "window_minutes",
            "checkpoints[0].name",
            "checkpoints[1].code",
            "checkpoints[2].code",
            "checkpoints[2].name"
        ]
    );
}

#[test]
fn a_campaign_forecast_projects_the_pace_so_far() {
    let start = day("2026-01-01");
    let target = day("2027-06-30");
    let today = start.plus_days(99);
    let done: Vec<CivilDate> = (0..100).step_by(2).map(|d| start.plus_days(d)).collect();
    let f = forecast(start, target, today, 1000, &done);
    assert_eq!(f.done, 50);
    assert!((f.pace_per_day - 0.5).abs() < 1e-9);
    assert_eq!(f.completion, Some(today.plus_days(1900)));
    assert!(!f.on_track);
    let stalled = forecast(start, target, today, 10, &[]);
    assert_eq!((stalled.completion, stalled.on_track), (None, false));
    let finished = forecast(start, target, today, 1, &[day("2026-02-01")]);
    assert_eq!(
        (finished.completion, finished.on_track),
        (Some(day("2026-02-01")), true)
    );
    assert_eq!(
        CampaignTarget::parse("sign_installed"),
        Some(CampaignTarget::SignInstalled)
    );
}

proptest! {
    #[test]
    fn no_action_sequence_escapes_the_state_machine(actions in proptest::collection::vec(0u8..5, 0..20), office in proptest::collection::vec(any::<bool>(), 20)) {
        let mut status = OrderStatus::Issued;
        for (index, action) in actions.iter().enumerate() {
            let action = match action {
                0 => OrderAction::Acknowledge,
                1 => OrderAction::ReportRepair { note: "done".to_owned(), evidence: vec![] },
                2 => OrderAction::Verify,
                3 => OrderAction::SendBack { reason: "no".to_owned() },
                _ => OrderAction::Close,
            };
            let party = if office[index] { OrderParty::Office } else { OrderParty::PropertyManager };
            if let Ok(next) = status.apply(&action, party) {
                prop_assert!(status != OrderStatus::Closed);
                if next == OrderStatus::Verified { prop_assert_eq!(status, OrderStatus::Repaired); }
                status = next;
            }
        }
    }

    #[test]
    fn readiness_buckets_never_shrink_with_a_longer_horizon(facilities in proptest::collection::vec((0u32..5000, 0u32..20_000), 0..50)) {
        let mut ready = ReadyCapacity::default();
        for (capacity, minutes) in facilities { ready.add(capacity, minutes); }
        prop_assert!(ready.within_24_hours <= ready.within_72_hours);
        prop_assert!(ready.within_72_hours <= ready.within_week);
        prop_assert!(ready.within_week <= ready.total);
    }
}

fn has_cjk(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Each problem's Chinese: under the English field path, in Chinese, with no `；` inside (a
/// list of them joins with `；`).
fn assert_said_in_chinese(problems: &[FieldProblem]) {
    assert!(!problems.is_empty());
    for problem in problems {
        let zh = problem.zh();
        assert!(zh.starts_with(&format!("{}：", problem.field)), "{zh}");
        assert!(has_cjk(&problem.expected_zh), "{problem:?}");
        assert!(!zh.contains('；'), "{zh}");
        assert!(!zh.contains(&problem.expected), "English left in: {zh}");
    }
}

#[test]
fn every_facility_checklist_inspection_and_route_problem_is_said_in_chinese() {
    let mut bad = shelter();
    bad.name = "  ".to_owned();
    bad.latitude = 91.0;
    bad.longitude = f64::NAN;
    bad.capacity_persons = MAX_CAPACITY_PERSONS + 1;
    bad.area_m2 = -1.0;
    bad.equipment[0].name = "名".repeat(MAX_NAME_CHARS + 1);
    bad.conversion[1].minutes = 60 * 24 * 31;
    let problems = bad.validate().expect_err("refused");
    assert_said_in_chinese(&problems);
    assert!(problems[3].zh().contains(&MAX_CAPACITY_PERSONS.to_string()));

    let mut checklist = default_checklist(FacilityKind::Shelter);
    checklist.items[0].code = "Bad Code".to_owned();
    checklist.items[2].code = checklist.items[1].code.clone();
    checklist.items[1].deadline_days = 0;
    checklist.items[1].label_en = String::new();
    let problems = checklist.validate().expect_err("refused");
    assert_said_in_chinese(&problems);
    let empty = Checklist {
        kind: FacilityKind::Siren,
        items: Vec::new(),
    };
    assert_said_in_chinese(&empty.validate().expect_err("refused"));

    let siren = default_checklist(FacilityKind::Siren);
    let now = Timestamp::from_millis(1_000_000_000_000);
    let mut list = answers(&siren, &[]);
    list.remove(0);
    list.push(list[0].clone());
    list.push(ItemAnswer {
        code: "teleporter".to_owned(),
        result: ItemResult::Pass,
        note: "备".repeat(MAX_NOTE_CHARS + 1),
    });
    let draft = InspectionDraft {
        answers: list,
        notes: "注".repeat(MAX_NOTE_CHARS + 1),
        latitude: Some(31.0),
        longitude: None,
        inspected_at: now.plus_millis(CLOCK_SKEW_MILLIS + 1),
    };
    let problems = draft.check(&siren, (0.0, 0.0), now).expect_err("refused");
    assert_said_in_chinese(&problems);
    assert!(
        problems[0].zh().contains("防空警报器") && problems[0].zh().contains("teleporter"),
        "{}",
        problems[0].zh()
    );

    let mut route = route();
    route.name = String::new();
    route.window_minutes = 1;
    route.checkpoints[1].code = "A-1".to_owned();
    route.checkpoints[2].code = "bad code".to_owned();
    route.checkpoints[2].name = " ".to_owned();
    route.checkpoints[2].latitude = 100.0;
    assert_said_in_chinese(&route.validate().expect_err("refused"));
}
