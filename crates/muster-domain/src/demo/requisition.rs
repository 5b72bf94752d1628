//! The demo's requisition: an enterprise's trucks requisitioned by the county office a
//! month and a half ago, used for a week, returned with one damaged, the compensation
//! assessed, approved and paid. Pure: the events are planned from the time handed in.

use crate::requisition::{CompensationPolicy, RequisitionEvent, ReturnCondition, UseLogEntry};
use crate::time::Timestamp;

/// The legal basis the demo order cites.
pub const DEMO_LEGAL_BASIS: &str =
    "《中华人民共和国国防动员法》第五十四条；县国防动员委员会征用决定（2027）第3号";

/// Quantity, declared value per unit and daily rate per unit (fen) of the demo's trucks.
pub const DEMO_ITEM: (i64, i64, i64) = (3, 45_000_000, 120_000);

/// The order's events from notice to payment, `now` being when the demo is loaded: one
/// condition per item of an order of `items` items (the first damaged, the others worn).
pub fn demo_requisition_events(now: Timestamp, items: usize) -> Vec<RequisitionEvent> {
    let day = |d: i64| now.plus_days(-d);
    let mut events = vec![
        RequisitionEvent::Notify { at: day(45) },
        RequisitionEvent::HandOver { at: day(44) },
    ];
    for (offset, (hours, kilometres, note)) in [
        (10, 380, "运送救灾帐篷至安置点"),
        (12, 460, "往返物资储备库"),
        (8, 210, "转运伤员家属"),
    ]
    .into_iter()
    .enumerate()
    {
        events.push(RequisitionEvent::RecordUse {
            entry: UseLogEntry {
                on: day(43 - offset as i64),
                hours: Some(hours),
                kilometres: Some(kilometres),
                note: note.to_owned(),
            },
        });
    }
    events.extend([
        RequisitionEvent::Return {
            at: day(37).plus_millis(5 * 3_600_000),
            conditions: (0..items)
                .map(|i| {
                    if i == 0 {
                        ReturnCondition::Damaged
                    } else {
                        ReturnCondition::Worn
                    }
                })
                .collect(),
        },
        RequisitionEvent::Assess {
            policy: CompensationPolicy::default(),
        },
        RequisitionEvent::Approve { at: day(30) },
        RequisitionEvent::MarkPaid {
            at: day(25),
            reference: "国库集中支付 2027-000317".to_owned(),
        },
    ]);
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requisition::{
        ExemptionRules, HolderCategory, NewRequisitionItem, NewRequisitionOrder, RequisitionHolder,
        RequisitionStatus, transition,
    };

    #[test]
    fn the_demo_order_runs_to_paid() {
        let (quantity, value, rate) = DEMO_ITEM;
        let mut order = NewRequisitionOrder {
            legal_basis: DEMO_LEGAL_BASIS.into(),
            holder: RequisitionHolder {
                holder_id: 1,
                name: "运输有限公司".into(),
                category: HolderCategory::Enterprise,
            },
            items: vec![NewRequisitionItem {
                item_id: 7,
                type_code: "TRN.ROAD.TRUCK_HEAVY".into(),
                attributes: Default::default(),
                in_service: false,
                quantity,
                declared_value_fen: value,
                daily_rate_fen: rate,
            }],
        }
        .validate(&ExemptionRules::default_rules())
        .expect("drafts");
        for event in demo_requisition_events(Timestamp::from_millis(1_800_000_000_000), 1) {
            order = transition(&order, &event).expect("each step in order");
        }
        assert_eq!(order.status(), RequisitionStatus::Paid);
        let assessment = order.assessment().expect("assessed");
        assert_eq!(assessment.items[0].use_days, 8);
        assert!(assessment.total_fen > 0);
    }
}
