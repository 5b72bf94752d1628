//! The demo's requisition and sustainment (issue 5), after the survey round has filled the
//! registry: a county enterprise's heavy trucks requisitioned, used, returned (one damaged),
//! the compensation assessed, approved and paid; and a sustainment scenario for that county
//! with a clear bottleneck, scaled to the county's stored stock.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use muster_domain::demo::requisition::{DEMO_ITEM, DEMO_LEGAL_BASIS, demo_requisition_events};
use muster_domain::demo::sustainment::demo_scenario_on_stock;
use muster_domain::potential::{Holder, QualityGrade, RecordDraft, RecordStatus, holding_key};
use muster_domain::sustainment::DiscountPolicy;
use muster_domain::taxonomy::AttributeValue;
use muster_domain::{OrganizationKind, Scope};
use muster_storage::{
    Database, NewRequisition, NewRequisitionLine, NewScenario, RecordFilter, RecordProvenance,
    ScenarioDocument,
};

use crate::commands::command_line_actor;

/// The type the demo requisitions.
const TRUCK: &str = "TRN.ROAD.TRUCK_HEAVY";
/// The most types the demo scenario follows.
const SCENARIO_TYPES: usize = 30;

/// What the demo's requisition and scenario came to.
#[derive(Debug, Clone, PartialEq)]
pub struct RequisitionSummary {
    pub order_id: i64,
    pub compensation_fen: i64,
    pub scenario_id: i64,
    pub bottleneck: Option<(String, u16)>,
}

impl RequisitionSummary {
    pub fn summary_line(&self) -> String {
        let bottleneck = self.bottleneck.as_ref().map_or_else(
            || "no bottleneck".to_owned(),
            |(code, day)| format!("{code} runs out first, on day {day}"),
        );
        format!(
            "Requisition order {} paid {} yuan in compensation; sustainment scenario {}: {bottleneck}.",
            self.order_id,
            muster_domain::requisition::format_yuan(self.compensation_fen),
            self.scenario_id
        )
    }
}

/// Loads both into a database the demo has just filled; nothing when it has no enterprise.
pub async fn load(db: &Database, seed: u64) -> anyhow::Result<Option<RequisitionSummary>> {
    let actor = command_line_actor();
    let everything = Scope::everything();
    let organizations = db
        .organizations(&everything, None, 1000, 0)
        .await
        .context("cannot read the demo organizations")?;
    let Some(enterprise) = organizations
        .into_iter()
        .find(|o| o.kind == OrganizationKind::Enterprise.as_str() && o.region_code.is_some())
    else {
        return Ok(None);
    };
    let region_code = enterprise.region_code.clone().unwrap_or_default();
    let path = enterprise.region_path();

    // The enterprise's trucks, registered in its name so that its account sees the order.
    let holder = Holder::Organization {
        id: Some(enterprise.id),
        name: enterprise.name.clone(),
    };
    let site = format!("{}车队", enterprise.name);
    let draft = RecordDraft {
        type_code: TRUCK.into(),
        quantity: 6.0,
        attributes: BTreeMap::from([
            ("payload_t".to_owned(), AttributeValue::Decimal(25.0)),
            ("fuel".to_owned(), AttributeValue::Choice("diesel".into())),
        ]),
        quality: QualityGrade::Good,
        holding_key: holding_key(&path, TRUCK, &holder, Some(&site)),
        holder,
        site: Some(site),
        region_code: region_code.clone(),
        region_path: path.clone(),
        coordinates: None,
        status: RecordStatus::Available,
    };
    db.insert_records(
        &actor,
        vec![(1, draft)],
        RecordProvenance::default(),
        "demo requisition",
    )
    .await
    .context("cannot store the demo enterprise's trucks")?;
    let record = db
        .potential_records(
            &everything,
            &RecordFilter {
                region_code: Some(region_code.clone()),
                type_code: Some(TRUCK.into()),
                limit: 1000,
                ..RecordFilter::default()
            },
        )
        .await?
        .into_iter()
        .find(|r| r.holder_organization_id == Some(enterprise.id))
        .context("the demo trucks were not stored (a bug)")?;

    let now = muster_storage::now();
    let (quantity, declared_value_fen, daily_rate_fen) = DEMO_ITEM;
    let drafted = db
        .create_requisition(
            &actor,
            NewRequisition {
                legal_basis: DEMO_LEGAL_BASIS.into(),
                holder_category: None,
                items: vec![NewRequisitionLine {
                    record_id: record.id,
                    quantity,
                    declared_value_fen,
                    daily_rate_fen: Some(daily_rate_fen),
                    in_service: false,
                }],
            },
            now,
        )
        .await
        .context("cannot draft the demo requisition")?;
    let order_id = drafted.summary.id;
    let mut compensation_fen = 0;
    for event in demo_requisition_events(now, drafted.items.len()) {
        let moved = db
            .act_on_requisition(&actor, order_id, &event, now)
            .await
            .with_context(|| format!("the demo requisition's {} was refused", event.action()))?;
        compensation_fen = moved.summary.total_fen.unwrap_or(compensation_fen);
    }

    // The county's sustainment, with a bottleneck by design.
    let stock = db
        .sustainment_stock(&everything, &path, &BTreeSet::new(), now)
        .await
        .context("cannot read the demo county's stock")?;
    let scenario = demo_scenario_on_stock(seed, &stock, SCENARIO_TYPES, &DiscountPolicy::default());
    let stored = db
        .save_sustainment_scenario(
            &actor,
            None,
            NewScenario {
                name: "持续保障演示：洪涝灾害".into(),
                region_code: Some(region_code),
                document: ScenarioDocument::from_scenario(&scenario),
            },
        )
        .await
        .context("cannot store the demo sustainment scenario")?;
    let run = db
        .run_sustainment(&everything, stored.id, &[], now)
        .await
        .context("cannot run the demo sustainment scenario")?;
    Ok(Some(RequisitionSummary {
        order_id,
        compensation_fen,
        scenario_id: stored.id,
        bottleneck: run.report.bottleneck.map(|b| (b.type_code, b.runs_out_day)),
    }))
}
