//! The demand pages: the demands a reader may see, and a demand with its lines, what has
//! been allocated, and — while it can still be allocated — Muster's proposal with why each
//! holding was chosen, the alternatives, the shortfall with the nearest sources beyond the
//! office's reach, and the buttons to accept it or pass the shortfall up a level.
//!
//! Stating a demand, task meetings, inspections and handovers are in the API
//! (`demands_api.rs`); these pages show them.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use muster_domain::demand::DemandStatus;
use muster_storage::{AllocationProposal, DemandFilter, DemandSummary, StorageError};
use serde::Deserialize;

use crate::app::AppState;
use crate::page_parts::date_time;
use crate::pages::{Layout, PageContext, PageResult};

#[derive(Debug)]
struct DemandLine {
    id: i64,
    title: String,
    origin: String,
    classification: String,
    region: String,
    status_key: String,
    lines: i64,
}

impl DemandLine {
    fn of(d: &DemandSummary) -> Self {
        Self {
            id: d.id,
            title: d.title.clone(),
            origin: d.origin.clone(),
            classification: d.classification.clone(),
            region: format!("{} {}", d.region_name, d.region_code),
            status_key: format!("demand.status.{}", d.status),
            lines: d.line_count,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "demands.html")]
struct DemandsPage {
    layout: Layout,
    demands: Vec<DemandLine>,
}

pub(crate) async fn list(State(state): State<AppState>, page: PageContext) -> PageResult {
    let user = page.require_user()?;
    let filter = DemandFilter {
        status: None,
        limit: 200,
        after_id: 0,
    };
    let demands = state
        .db
        .demands(user.actor.scope(), &filter)
        .await
        .map_err(|e| page.error(e.into()))?;
    Ok(DemandsPage {
        layout: page.layout("demands"),
        demands: demands.iter().map(DemandLine::of).collect(),
    }
    .into_response())
}

#[derive(Debug)]
struct LineRow {
    no: i64,
    type_code: String,
    quantity: i64,
    priority: i64,
    needed_by: String,
    allocated: i64,
    inspected: i64,
    handed_over: i64,
}

#[derive(Debug)]
struct AssignmentRow {
    line_no: i64,
    holding: String,
    quantity: i64,
    km: String,
    hours: String,
    slack: String,
    cost: String,
    alternatives: Vec<String>,
}

#[derive(Debug)]
struct ShortfallRow {
    line_no: i64,
    type_code: String,
    shortfall: i64,
    sources: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "demand.html")]
struct DemandPage {
    layout: Layout,
    demand: DemandLine,
    lines: Vec<LineRow>,
    allocated: Vec<AssignmentRow>,
    proposal: Option<Vec<AssignmentRow>>,
    shortfalls: Vec<ShortfallRow>,
    total_cost: String,
    may_accept: bool,
    message: Option<String>,
}

fn yuan(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}

/// The proposal as table rows: each assignment with its reasons and up to three alternatives.
fn proposal_rows(proposal: &AllocationProposal) -> (Vec<AssignmentRow>, Vec<ShortfallRow>) {
    let assignments = proposal
        .assignments
        .iter()
        .map(|a| AssignmentRow {
            line_no: a.line_no,
            holding: format!(
                "#{} {} · {}",
                a.holding.record_id, a.holding.holder_name, a.holding.region_name
            ),
            quantity: a.quantity,
            km: format!("{:.0}", a.road_km),
            hours: format!("{:.1}", a.travel_hours),
            slack: format!("{:.1}", a.slack_hours),
            cost: yuan(a.cost_cents),
            alternatives: a
                .alternatives
                .iter()
                .take(3)
                .map(|alt| {
                    format!(
                        "#{} {} {:.0} km: {}",
                        alt.record_id, alt.region_name, alt.great_circle_km, alt.reason
                    )
                })
                .collect(),
        })
        .collect();
    let shortfalls = proposal
        .lines
        .iter()
        .filter(|l| l.shortfall > 0)
        .map(|l| ShortfallRow {
            line_no: l.line_no,
            type_code: l.type_code.clone(),
            shortfall: l.shortfall,
            sources: l
                .escalation_sources
                .iter()
                .map(|s| {
                    format!(
                        "{} {} · {:.0} km · {}",
                        s.region_name,
                        s.available,
                        s.great_circle_km,
                        if s.arrives_in_time { "✓" } else { "✗" }
                    )
                })
                .collect(),
        })
        .collect();
    (assignments, shortfalls)
}

async fn render(
    state: &AppState,
    page: &PageContext,
    id: i64,
    message: Option<String>,
) -> PageResult {
    let user = page.require_user()?;
    let scope = user.actor.scope();
    let view = state
        .db
        .demand(scope, id)
        .await
        .map_err(|e| page.error(e.into()))?;
    let status = view.demand.status();
    let may_allocate = matches!(status, DemandStatus::Analysed | DemandStatus::Allocated)
        && view.lines.iter().any(|l| l.allocated < l.quantity);
    let (proposal, shortfalls, total_cost) = if may_allocate {
        let proposal = state
            .db
            .propose_allocation(scope, id)
            .await
            .map_err(|e| page.error(e.into()))?;
        let (rows, shortfalls) = proposal_rows(&proposal);
        (Some(rows), shortfalls, yuan(proposal.transport_cost_cents))
    } else {
        (None, Vec::new(), String::new())
    };
    let may_accept =
        user.actor.administers() || user.actor.has_role(muster_domain::Role::OfficeStaff);
    Ok(DemandPage {
        layout: page.layout("demands"),
        demand: DemandLine::of(&view.demand),
        lines: view
            .lines
            .iter()
            .map(|l| LineRow {
                no: l.line_no,
                type_code: l.type_code.clone(),
                quantity: l.quantity,
                priority: l.priority,
                needed_by: date_time(l.needed_by),
                allocated: l.allocated,
                inspected: l.inspected,
                handed_over: l.handed_over,
            })
            .collect(),
        allocated: view
            .allocations
            .iter()
            .map(|a| AssignmentRow {
                line_no: a.line_no,
                holding: format!("#{} {} · {}", a.record_id, a.holder_name, a.region_name),
                quantity: a.quantity,
                km: format!("{:.0}", a.great_circle_km),
                hours: format!("{:.1}", a.travel_hours),
                slack: String::new(),
                cost: yuan(a.unit_cost_cents.saturating_mul(a.quantity)),
                alternatives: Vec::new(),
            })
            .collect(),
        proposal,
        shortfalls,
        total_cost,
        may_accept,
        message,
    }
    .into_response())
}

pub(crate) async fn detail(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
) -> PageResult {
    render(&state, &page, id, None).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Accepts the proposal as shown: storage proposes again inside the accept and reserves
/// atomically, so a holding taken meanwhile by another demand is refused by name.
pub(crate) async fn accept(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    match state.db.accept_allocation(&user.actor, id, None).await {
        Ok(_) => Ok(Redirect::to(&format!("/demands/{id}")).into_response()),
        Err(e @ (StorageError::Conflict { .. } | StorageError::Invalid { .. })) => {
            render(&state, &page, id, Some(e.to_string())).await
        }
        Err(e) => Err(page.error(e.into())),
    }
}

/// Passes the shortfall up a level as a demand of its own.
pub(crate) async fn escalate(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    match state.db.escalate_shortfall(&user.actor, id).await {
        Ok(new_id) => render(&state, &page, id, Some(format!("→ #{new_id}"))).await,
        Err(e @ (StorageError::Conflict { .. } | StorageError::Invalid { .. })) => {
            render(&state, &page, id, Some(e.to_string())).await
        }
        Err(e) => Err(page.error(e.into())),
    }
}
