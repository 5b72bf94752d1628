//! The demo's demands (issue 5), after the registry is filled: in the county of the first
//! available holding, one demand analysed at a task meeting and waiting for its allocation,
//! and one allocated, inspected on site and handed over under both sides' signatures.

use anyhow::Context;
use muster_domain::demand::{
    Attendee, ClassificationLevel, DemandOrigin, NewDemandLine, NewTaskMeeting,
};
use muster_domain::potential::RecordStatus;
use muster_domain::{Scope, Side};
use muster_storage::{
    Database, DemandInput, HandoverInput, HandoverItemInput, InspectionCondition, InspectionInput,
    RecordFilter,
};

use crate::commands::command_line_actor;

const HOUR: i64 = 3_600_000;

/// The two demands the demo leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemandsSummary {
    pub analysed_id: i64,
    pub handed_over_id: i64,
    pub handed_over_units: i64,
}

impl DemandsSummary {
    pub fn summary_line(&self) -> String {
        format!(
            "Demand {} analysed and awaiting allocation; demand {} handed over ({} units).",
            self.analysed_id, self.handed_over_id, self.handed_over_units
        )
    }
}

/// Loads both; nothing when the registry holds no available record.
pub async fn load(db: &Database) -> anyhow::Result<Option<DemandsSummary>> {
    let actor = command_line_actor();
    let everything = Scope::everything();
    let records = db
        .potential_records(
            &everything,
            &RecordFilter {
                status: Some(RecordStatus::Available),
                limit: 200,
                ..RecordFilter::default()
            },
        )
        .await
        .context("cannot read the demo records")?;
    let Some(record) = records.into_iter().find(|r| r.quantity >= 2.0) else {
        return Ok(None);
    };
    let county_code: String = record
        .region_path()
        .codes()
        .nth(2)
        .map(|c| c.as_str().to_owned())
        .unwrap_or_else(|| record.region_code.clone());
    let county = db.region(&everything, &county_code).await?;
    let point = (
        county.lat.or(record.lat).unwrap_or(31.8),
        county.lon.or(record.lon).unwrap_or(117.2),
    );
    let quantity = (record.quantity.floor() as i64).clamp(1, 5);
    let now = muster_storage::now();
    let demand = |title: &str| DemandInput {
        title: title.to_owned(),
        origin: DemandOrigin::Military,
        classification: ClassificationLevel::Internal,
        region_code: county_code.clone(),
        lines: vec![NewDemandLine {
            type_code: record.type_code.clone(),
            quantity,
            lat: point.0,
            lon: point.1,
            needed_by: now.plus_millis(72 * HOUR),
            priority: 2,
        }],
    };
    let meeting = |held_at| NewTaskMeeting {
        held_at,
        attendees: vec![
            Attendee {
                name: "李强".into(),
                organization: "军分区".into(),
                side: Side::Military,
            },
            Attendee {
                name: "王芳".into(),
                organization: "县国防动员办".into(),
                side: Side::Civil,
            },
        ],
        decisions: vec!["就近调配，72 小时内交接".into()],
    };

    let analysed = db
        .create_demand(&actor, demand("演练保障需求（待调配）"))
        .await
        .context("the demo demand was refused")?;
    db.record_task_meeting(
        &actor,
        analysed.demand.id,
        meeting(muster_domain::Timestamp::from_millis(
            analysed.demand.received_at,
        )),
    )
    .await?;

    let delivered = db
        .create_demand(&actor, demand("抢险保障需求（已交接）"))
        .await
        .context("the demo demand was refused")?;
    let id = delivered.demand.id;
    db.record_task_meeting(
        &actor,
        id,
        meeting(muster_domain::Timestamp::from_millis(
            delivered.demand.received_at,
        )),
    )
    .await?;
    db.accept_allocation(&actor, id, None)
        .await
        .context("the demo allocation was refused")?;
    let view = db.demand(&everything, id).await?;
    for allocation in &view.allocations {
        db.inspect_allocation(
            &actor,
            id,
            InspectionInput {
                allocation_id: allocation.id,
                condition: InspectionCondition::Good,
                quantity_seen: allocation.quantity,
                quantity_accepted: allocation.quantity,
                photos: vec![],
                notes: "现场清点无误".into(),
            },
        )
        .await?;
    }
    let handed_at = muster_storage::now();
    let items: Vec<HandoverItemInput> = view
        .allocations
        .iter()
        .map(|a| HandoverItemInput {
            allocation_id: a.id,
            quantity: a.quantity,
        })
        .collect();
    let handed_over_units = items.iter().map(|i| i.quantity).sum();
    db.record_handover(
        &actor,
        id,
        HandoverInput {
            items,
            handed_at,
            supplier_signatory: "王芳".into(),
            supplier_signed_at: handed_at,
            receiver_signatory: "李强".into(),
            receiver_signed_at: handed_at,
            notes: String::new(),
        },
    )
    .await?;
    Ok(Some(DemandsSummary {
        analysed_id: analysed.demand.id,
        handed_over_id: id,
        handed_over_units,
    }))
}
