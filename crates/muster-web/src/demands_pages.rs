//! The demand pages: the demands a reader may see, and a demand with everything about it —
//! its lines, task meetings, allocations, inspections and handovers — with, while it can
//! still be allocated, Muster's proposal (why each holding was chosen, the alternatives, the
//! shortfall with the nearest sources beyond the office's reach) and the buttons to accept
//! it or pass the shortfall up a level.
//!
//! The forms that change a demand (stating one, meetings, analyse, inspections, handovers,
//! cancel, close) are in [`crate::demands_forms`]; a refused form comes back here as
//! [`Feedback`] and is shown beside the form it came from, with what the reader typed.
//!
//! Every table downloads with `?format=csv|xlsx`: the list's demands, and on a demand's page
//! the table `?table=` names (`lines`, `allocations`, `proposal`, `inspections`,
//! `handovers`), built from the rows the page shows.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use muster_domain::Role;
use muster_domain::demand::DemandStatus;
use muster_domain::sheet::{Table, TableCell};
use muster_storage::{
    AllocationProposal, ContentHash, DemandFilter, DemandSummary, DemandView, InspectionCondition,
    ProposedAlternative, StorageError, StoredAllocation,
};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::page_parts::{Exports, chosen_table, date_time, download, shown_number};
use crate::pages::{Layout, PageContext, PageResult};
use crate::potential_view::{ExportFormat, FormatQuery, text};

#[derive(Debug)]
pub(crate) struct DemandLine {
    id: i64,
    title: String,
    origin_key: String,
    classification_key: String,
    region: String,
    status_key: String,
    lines: i64,
}

impl DemandLine {
    fn of(d: &DemandSummary) -> Self {
        Self {
            id: d.id,
            title: d.title.clone(),
            origin_key: format!("demand.origins.{}", d.origin),
            classification_key: format!("demand.classifications.{}", d.classification),
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
    may_state: bool,
    exports: Exports,
}

/// Who states demands: military liaisons, offices and administrators. Storage checks again;
/// the page only hides a link that would be refused.
fn may_state(actor: &muster_domain::Actor) -> bool {
    may_fulfil(actor) || actor.has_role(Role::MilitaryLiaison)
}

/// Who works a demand through (analyse, inspect, close): offices and administrators.
fn may_fulfil(actor: &muster_domain::Actor) -> bool {
    actor.administers() || actor.has_role(Role::OfficeStaff)
}

/// Who records meetings and handovers, and may cancel: both sides.
fn may_take_part(actor: &muster_domain::Actor) -> bool {
    may_state(actor)
}

/// The demands the list shows (the latest first), and so its download.
const DEMANDS_SHOWN: i64 = 200;

/// The list of demands, or with `?format=csv|xlsx` its table as a download.
pub(crate) async fn list(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let user = page.require_user()?;
    let filter = DemandFilter {
        status: None,
        limit: DEMANDS_SHOWN,
        after_id: 0,
    };
    let demands = state
        .db
        .demands(user.actor.scope(), &filter)
        .await
        .map_err(|e| page.error(e.into()))?;
    let demands: Vec<DemandLine> = demands.iter().map(DemandLine::of).collect();
    if let Some(format) = format {
        return download(
            &page,
            format,
            "demands",
            &[demands_table(&page.tr, &demands)],
        );
    }
    Ok(DemandsPage {
        layout: page.layout("demands"),
        demands,
        may_state: may_state(&user.actor),
        exports: Exports::of("/demands"),
    }
    .into_response())
}

/// The list's table as a sheet: its columns, with the labels translated as the page shows
/// them.
fn demands_table(tr: &Tr, demands: &[DemandLine]) -> Table {
    Table {
        title: tr.t("demand.title"),
        headers: vec![
            "#".to_owned(),
            tr.t("demand.name"),
            tr.t("demand.origin"),
            tr.t("demand.classification"),
            tr.t("demand.region"),
            tr.t("demand.status_label"),
            tr.t("demand.lines"),
        ],
        rows: demands
            .iter()
            .map(|d| {
                vec![
                    TableCell::Integer(d.id),
                    text(d.title.clone()),
                    text(tr.t(&d.origin_key)),
                    text(tr.t(&d.classification_key)),
                    text(d.region.clone()),
                    text(tr.t(&d.status_key)),
                    TableCell::Integer(d.lines),
                ]
            })
            .collect(),
    }
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

/// An accepted allocation and how far its units have got.
#[derive(Debug)]
struct AllocationRow {
    id: i64,
    line_no: i64,
    holding: String,
    quantity: i64,
    inspected: i64,
    released: i64,
    handed_over: i64,
    km: String,
    hours: String,
    cost: String,
    stage_key: String,
    /// The record's status in the registry now, and what it holds and has reserved.
    record_status_key: String,
    stock: String,
}

#[derive(Debug)]
struct ShortfallRow {
    line_no: i64,
    type_code: String,
    shortfall: i64,
    sources: Vec<String>,
}

#[derive(Debug)]
struct MeetingRow {
    held_at: String,
    attendees: Vec<String>,
    decisions: Vec<String>,
    recorded_by: String,
}

#[derive(Debug)]
struct InspectionRow {
    allocation: String,
    condition_key: String,
    seen: i64,
    accepted: i64,
    notes: String,
    photos: Vec<String>,
    inspector: String,
    at: String,
}

#[derive(Debug)]
struct HandoverRow {
    at: String,
    items: Vec<String>,
    supplier: String,
    receiver: String,
    notes: String,
    recorded_by: String,
}

#[derive(Debug)]
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

/// An allocation still to be inspected, with its form's values.
#[derive(Debug)]
struct InspectTarget {
    allocation_id: i64,
    label: String,
    open: i64,
    conditions: Vec<Choice>,
    seen: String,
    accepted: String,
    notes: String,
    problem: Option<String>,
}

/// An allocation with inspected units not yet handed over, with the quantity to hand over.
#[derive(Debug)]
struct HandoverTarget {
    allocation_id: i64,
    label: String,
    awaiting: i64,
    quantity: String,
}

/// Which form a refusal belongs to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spot {
    /// Above everything: accept, escalate, analyse.
    #[default]
    Top,
    Meeting,
    Inspection(i64),
    Handover,
    Cancel,
    Close,
}

/// The meeting form as typed.
#[derive(Debug, Default, Clone)]
pub(crate) struct MeetingText {
    pub(crate) held_at: String,
    pub(crate) military: String,
    pub(crate) civil: String,
    pub(crate) decisions: String,
}

/// One inspection form as typed.
#[derive(Debug, Default, Clone)]
pub(crate) struct InspectionText {
    pub(crate) allocation_id: i64,
    pub(crate) condition: String,
    pub(crate) quantity_seen: String,
    pub(crate) quantity_accepted: String,
    pub(crate) notes: String,
}

/// The handover form as typed: quantities by allocation id.
#[derive(Debug, Default, Clone)]
pub(crate) struct HandoverText {
    pub(crate) quantities: HashMap<i64, String>,
    pub(crate) handed_at: String,
    pub(crate) supplier_signatory: String,
    pub(crate) receiver_signatory: String,
    pub(crate) notes: String,
}

/// What a form post leaves for the demand page to show: the refusal, where it goes, and the
/// reader's input to show again.
#[derive(Debug, Default)]
pub(crate) struct Feedback {
    pub(crate) spot: Spot,
    pub(crate) message: Option<String>,
    pub(crate) meeting: MeetingText,
    pub(crate) inspection: Option<InspectionText>,
    pub(crate) handover: HandoverText,
    pub(crate) cancel_reason: String,
    pub(crate) close_reason: String,
}

impl Feedback {
    pub(crate) fn at(spot: Spot, message: String) -> Self {
        Self {
            spot,
            message: Some(message),
            ..Self::default()
        }
    }

    fn problem_at(&self, spot: Spot) -> Option<String> {
        (self.spot == spot).then(|| self.message.clone()).flatten()
    }
}

/// What the reader may do with the demand now; storage checks each again.
#[derive(Debug, Default)]
struct Actions {
    analyse: bool,
    meeting: bool,
    cancel: bool,
    close: bool,
    /// Some line is not handed over in full: closing needs a reason.
    close_needs_reason: bool,
    inspect: bool,
    hand_over: bool,
}

/// A demand page's tables, as `?table=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DemandTable {
    Lines,
    Allocations,
    Proposal,
    Inspections,
    Handovers,
}

impl DemandTable {
    const ALL: [DemandTable; 5] = [
        DemandTable::Lines,
        DemandTable::Allocations,
        DemandTable::Proposal,
        DemandTable::Inspections,
        DemandTable::Handovers,
    ];

    /// Its name in `?table=` and in the download's file name.
    fn name(self) -> &'static str {
        match self {
            DemandTable::Lines => "lines",
            DemandTable::Allocations => "allocations",
            DemandTable::Proposal => "proposal",
            DemandTable::Inspections => "inspections",
            DemandTable::Handovers => "handovers",
        }
    }
}

/// A demand page's `?format=csv|xlsx` and the table it downloads (the lines when none is
/// named).
#[derive(Debug, Deserialize)]
pub(crate) struct DemandQuery {
    format: Option<String>,
    table: Option<String>,
}

/// The download links of each of a demand page's tables.
#[derive(Debug)]
struct DemandExports {
    lines: Exports,
    allocations: Exports,
    proposal: Exports,
    inspections: Exports,
    handovers: Exports,
}

impl DemandExports {
    fn of(id: i64) -> Self {
        let url = format!("/demands/{id}");
        let of = |table: DemandTable| Exports::of_table(&url, table.name());
        Self {
            lines: of(DemandTable::Lines),
            allocations: of(DemandTable::Allocations),
            proposal: of(DemandTable::Proposal),
            inspections: of(DemandTable::Inspections),
            handovers: of(DemandTable::Handovers),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "demand.html")]
struct DemandPage {
    layout: Layout,
    exports: DemandExports,
    demand: DemandLine,
    ending: Option<String>,
    lines: Vec<LineRow>,
    meetings: Vec<MeetingRow>,
    allocated: Vec<AllocationRow>,
    inspections: Vec<InspectionRow>,
    handovers: Vec<HandoverRow>,
    proposal: Option<Vec<AssignmentRow>>,
    shortfalls: Vec<ShortfallRow>,
    total_cost: String,
    may_accept: bool,
    actions: Actions,
    to_inspect: Vec<InspectTarget>,
    to_hand_over: Vec<HandoverTarget>,
    message: Option<String>,
    meeting_problem: Option<String>,
    handover_problem: Option<String>,
    cancel_problem: Option<String>,
    close_problem: Option<String>,
    meeting: MeetingText,
    handover: HandoverText,
    cancel_reason: String,
    close_reason: String,
}

fn yuan(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}

/// Why an alternative was not taken, in the reader's language, with its figures: how much
/// more a unit would cost from it, which lines used it up, or that it arrives too late.
fn why_not(alt: &ProposedAlternative, tr: &Tr) -> String {
    let label = tr.t(&format!("demand.why_not.{}", alt.reason));
    match alt.reason.as_str() {
        "costlier" => match alt.extra_cost_per_unit_cents {
            Some(extra) => format!(
                "{label} {}{}",
                yuan(extra),
                tr.t("demand.why_not.costlier_unit")
            ),
            None => label,
        },
        "used_up" if !alt.taken_by_lines.is_empty() => {
            let lines: Vec<String> = alt.taken_by_lines.iter().map(|l| l.to_string()).collect();
            let mut text = format!("{label} {}", lines.join(", "));
            if alt.by_higher_priority {
                text.push_str(&tr.t("demand.why_not.higher_priority"));
            }
            text
        }
        _ => label,
    }
}

/// The proposal as table rows: each assignment with its reasons and up to three alternatives.
/// Lines are numbered from 1, as people number them.
fn proposal_rows(
    proposal: &AllocationProposal,
    tr: &Tr,
) -> (Vec<AssignmentRow>, Vec<ShortfallRow>) {
    let assignments = proposal
        .assignments
        .iter()
        .map(|a| AssignmentRow {
            line_no: a.line_no + 1,
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
                        alt.record_id,
                        alt.region_name,
                        alt.great_circle_km,
                        why_not(alt, tr)
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
            line_no: l.line_no + 1,
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

/// A stock figure: whole numbers without decimals, amounts (tonnes) with up to two.
fn figure(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// An allocation as the forms and lists name it: line, record, holder, region.
fn allocation_label(a: &StoredAllocation) -> String {
    format!(
        "{} · #{} {} · {}",
        a.line_no + 1,
        a.record_id,
        a.holder_name,
        a.region_name
    )
}

fn allocation_stage(a: &StoredAllocation) -> &'static str {
    if a.awaiting_inspection() > 0 {
        "awaiting_inspection"
    } else if a.awaiting_handover() > 0 {
        "awaiting_handover"
    } else if a.handed_over > 0 {
        "handed_over"
    } else {
        "released"
    }
}

/// How a finished demand ended, in the reader's language, with the reason given.
fn ending_text(page: &PageContext, ending: Option<&str>) -> Option<String> {
    let ending: serde_json::Value = serde_json::from_str(ending?).ok()?;
    let kind = ending["kind"].as_str()?;
    let mut text = page.tr.t(&format!("demand.ending.{kind}"));
    if let Some(reason) = ending["reason"].as_str() {
        text.push(' ');
        text.push_str(reason);
    }
    Some(text)
}

fn meeting_rows(page: &PageContext, view: &DemandView) -> Vec<MeetingRow> {
    view.meetings
        .iter()
        .map(|m| MeetingRow {
            held_at: date_time(m.held_at),
            attendees: m
                .attendees
                .iter()
                .map(|a| {
                    let side = page.tr.t(&format!("demand.side.{}", a.side.as_str()));
                    if page.tr.locale == "en" {
                        format!("{} ({}, {side})", a.name, a.organization)
                    } else {
                        format!("{}（{}，{side}）", a.name, a.organization)
                    }
                })
                .collect(),
            decisions: m.decisions.clone(),
            recorded_by: m.recorded_by_name.clone(),
        })
        .collect()
}

fn inspection_rows(view: &DemandView) -> Vec<InspectionRow> {
    let labels: HashMap<i64, String> = view
        .allocations
        .iter()
        .map(|a| (a.id, allocation_label(a)))
        .collect();
    view.inspections
        .iter()
        .map(|i| InspectionRow {
            allocation: labels
                .get(&i.allocation_id)
                .cloned()
                .unwrap_or_else(|| format!("#{}", i.allocation_id)),
            condition_key: format!("demand.conditions.{}", i.condition),
            seen: i.quantity_seen,
            accepted: i.quantity_accepted,
            notes: i.notes.clone(),
            photos: i.photos.clone(),
            inspector: i.inspector_name.clone(),
            at: date_time(i.inspected_at),
        })
        .collect()
}

fn handover_rows(view: &DemandView) -> Vec<HandoverRow> {
    let labels: HashMap<i64, String> = view
        .allocations
        .iter()
        .map(|a| (a.id, allocation_label(a)))
        .collect();
    view.handovers
        .iter()
        .map(|h| HandoverRow {
            at: date_time(h.handed_at),
            items: h
                .items
                .iter()
                .map(|(allocation_id, quantity)| {
                    let label = labels
                        .get(allocation_id)
                        .cloned()
                        .unwrap_or_else(|| format!("#{allocation_id}"));
                    format!("{label}: {quantity}")
                })
                .collect(),
            supplier: h.supplier_signatory.clone(),
            receiver: h.receiver_signatory.clone(),
            notes: h.notes.clone(),
            recorded_by: h.recorded_by_name.clone(),
        })
        .collect()
}

fn condition_choices(page: &PageContext, chosen: &str) -> Vec<Choice> {
    InspectionCondition::ALL
        .iter()
        .map(|c| Choice {
            value: c.as_str().to_owned(),
            label: page.tr.t(&format!("demand.conditions.{}", c.as_str())),
            selected: c.as_str() == chosen,
        })
        .collect()
}

/// The demand page, with `feedback` from a refused form (if any) beside that form, answered
/// with `code`.
pub(crate) async fn render(
    state: &AppState,
    page: &PageContext,
    id: i64,
    feedback: Feedback,
    code: StatusCode,
) -> PageResult {
    render_or_download(state, page, id, feedback, code, None).await
}

/// The demand page, or with `export` one of its tables as a download, built from the rows
/// the page would show.
async fn render_or_download(
    state: &AppState,
    page: &PageContext,
    id: i64,
    feedback: Feedback,
    code: StatusCode,
    export: Option<(ExportFormat, DemandTable)>,
) -> PageResult {
    let user = page.require_user()?;
    let actor = &user.actor;
    let scope = actor.scope();
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
        let (rows, shortfalls) = proposal_rows(&proposal, &page.tr);
        (Some(rows), shortfalls, yuan(proposal.transport_cost_cents))
    } else {
        (None, Vec::new(), String::new())
    };
    let stock: HashMap<i64, (String, String)> = state
        .db
        .demand_holding_stock(scope, id)
        .await
        .map_err(|e| page.error(e.into()))?
        .into_iter()
        .map(|h| {
            let mut stock = format!("{} / {}", figure(h.quantity), figure(h.reserved_quantity));
            // A verification may find fewer units than were reserved: the record says what
            // was seen, and its handover is held to that (storage's `adjust_records`).
            if h.quantity < h.reserved_quantity {
                stock = page
                    .tr
                    .t("demand.stock_short")
                    .replace("%{stock}", &stock)
                    .replace("%{short}", &figure(h.reserved_quantity - h.quantity));
            }
            (
                h.record_id,
                (format!("potential.status.{}", h.status), stock),
            )
        })
        .collect();
    let lines: Vec<LineRow> = view
        .lines
        .iter()
        .map(|l| LineRow {
            no: l.line_no + 1,
            type_code: l.type_code.clone(),
            quantity: l.quantity,
            priority: l.priority,
            needed_by: date_time(l.needed_by),
            allocated: l.allocated,
            inspected: l.inspected,
            handed_over: l.handed_over,
        })
        .collect();
    let allocated: Vec<AllocationRow> = view
        .allocations
        .iter()
        .map(|a| AllocationRow {
            id: a.id,
            line_no: a.line_no + 1,
            holding: format!("#{} {} · {}", a.record_id, a.holder_name, a.region_name),
            quantity: a.quantity,
            inspected: a.inspected,
            released: a.released,
            handed_over: a.handed_over,
            km: format!("{:.0}", a.great_circle_km),
            hours: format!("{:.1}", a.travel_hours),
            cost: yuan(a.unit_cost_cents.saturating_mul(a.quantity)),
            stage_key: format!("demand.allocation_stage.{}", allocation_stage(a)),
            record_status_key: stock
                .get(&a.record_id)
                .map(|(key, _)| key.clone())
                .unwrap_or_default(),
            stock: stock
                .get(&a.record_id)
                .map(|(_, figures)| figures.clone())
                .unwrap_or_default(),
        })
        .collect();
    let inspections = inspection_rows(&view);
    let handovers = handover_rows(&view);
    if let Some((format, table)) = export {
        let tr = &page.tr;
        let sheet = match table {
            DemandTable::Lines => lines_table(tr, &lines),
            DemandTable::Allocations => allocations_table(tr, &allocated),
            DemandTable::Proposal => proposal_table(tr, proposal.as_deref().unwrap_or_default()),
            DemandTable::Inspections => inspections_table(tr, &inspections),
            DemandTable::Handovers => handovers_table(tr, &handovers),
        };
        let stem = format!("demand-{id}-{}", table.name());
        return download(page, format, &stem, &[sheet]);
    }
    let open = !status.is_terminal();
    let short = view.lines.iter().any(|l| l.handed_over < l.quantity);
    let actions = Actions {
        analyse: status == DemandStatus::Received && may_fulfil(actor),
        meeting: open && may_take_part(actor),
        cancel: open && may_take_part(actor),
        close: matches!(status, DemandStatus::Analysed | DemandStatus::HandedOver)
            && may_fulfil(actor),
        close_needs_reason: short,
        inspect: open && may_fulfil(actor),
        hand_over: open && may_take_part(actor),
    };
    // A refusal of a form the page no longer shows (an allocation inspected meanwhile, a
    // demand closed, a role without that form) goes above everything rather than nowhere.
    let shown = match feedback.spot {
        Spot::Top => true,
        Spot::Meeting => actions.meeting,
        Spot::Inspection(allocation_id) => {
            actions.inspect
                && view
                    .allocations
                    .iter()
                    .any(|a| a.id == allocation_id && a.awaiting_inspection() > 0)
        }
        Spot::Handover => {
            actions.hand_over && view.allocations.iter().any(|a| a.awaiting_handover() > 0)
        }
        Spot::Cancel => actions.cancel,
        Spot::Close => actions.close,
    };
    let feedback = if shown {
        feedback
    } else {
        Feedback {
            spot: Spot::Top,
            ..feedback
        }
    };
    let kept_inspection = feedback.inspection.clone().unwrap_or_default();
    let to_inspect = view
        .allocations
        .iter()
        .filter(|a| a.awaiting_inspection() > 0)
        .map(|a| {
            let kept = (kept_inspection.allocation_id == a.id).then_some(&kept_inspection);
            let open = a.awaiting_inspection();
            InspectTarget {
                allocation_id: a.id,
                label: allocation_label(a),
                open,
                conditions: condition_choices(page, kept.map_or("good", |k| k.condition.as_str())),
                seen: kept.map_or_else(|| open.to_string(), |k| k.quantity_seen.clone()),
                accepted: kept.map_or_else(|| open.to_string(), |k| k.quantity_accepted.clone()),
                notes: kept.map(|k| k.notes.clone()).unwrap_or_default(),
                problem: feedback.problem_at(Spot::Inspection(a.id)),
            }
        })
        .collect();
    let to_hand_over = view
        .allocations
        .iter()
        .filter(|a| a.awaiting_handover() > 0)
        .map(|a| HandoverTarget {
            allocation_id: a.id,
            label: allocation_label(a),
            awaiting: a.awaiting_handover(),
            quantity: feedback
                .handover
                .quantities
                .get(&a.id)
                .cloned()
                .unwrap_or_else(|| a.awaiting_handover().to_string()),
        })
        .collect();
    let mut response = DemandPage {
        layout: page.layout("demands"),
        exports: DemandExports::of(view.demand.id),
        demand: DemandLine::of(&view.demand),
        ending: ending_text(page, view.demand.ending.as_deref()),
        lines,
        meetings: meeting_rows(page, &view),
        allocated,
        inspections,
        handovers,
        proposal,
        shortfalls,
        total_cost,
        may_accept: may_fulfil(actor),
        actions,
        to_inspect,
        to_hand_over,
        message: feedback.problem_at(Spot::Top),
        meeting_problem: feedback.problem_at(Spot::Meeting),
        handover_problem: feedback.problem_at(Spot::Handover),
        cancel_problem: feedback.problem_at(Spot::Cancel),
        close_problem: feedback.problem_at(Spot::Close),
        meeting: feedback.meeting,
        handover: feedback.handover,
        cancel_reason: feedback.cancel_reason,
        close_reason: feedback.close_reason,
    }
    .into_response();
    *response.status_mut() = code;
    Ok(response)
}

/// A demand's page, or with `?format=csv|xlsx` the table `?table=` names as a download.
pub(crate) async fn detail(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Query(query): Query<DemandQuery>,
) -> PageResult {
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let choices = DemandTable::ALL.map(|t| (t.name(), t));
    let table = chosen_table(query.table.as_deref(), DemandTable::Lines, &choices)
        .map_err(|e| page.error(e))?;
    let export = format.map(|format| (format, table));
    render_or_download(
        &state,
        &page,
        id,
        Feedback::default(),
        StatusCode::OK,
        export,
    )
    .await
}

/// A cell's list (alternatives, handed-over items) as one text, the items apart by `; `.
fn joined(items: &[String]) -> TableCell {
    text(items.join("; "))
}

fn lines_table(tr: &Tr, lines: &[LineRow]) -> Table {
    Table {
        title: tr.t("demand.lines"),
        headers: vec![
            "#".to_owned(),
            tr.t("demand.type"),
            tr.t("demand.quantity"),
            tr.t("demand.priority"),
            tr.t("demand.needed_by"),
            tr.t("demand.allocated"),
            tr.t("demand.inspected"),
            tr.t("demand.handed_over"),
        ],
        rows: lines
            .iter()
            .map(|l| {
                vec![
                    TableCell::Integer(l.no),
                    text(l.type_code.clone()),
                    TableCell::Integer(l.quantity),
                    TableCell::Integer(l.priority),
                    text(l.needed_by.clone()),
                    TableCell::Integer(l.allocated),
                    TableCell::Integer(l.inspected),
                    TableCell::Integer(l.handed_over),
                ]
            })
            .collect(),
    }
}

fn allocations_table(tr: &Tr, allocations: &[AllocationRow]) -> Table {
    Table {
        title: tr.t("demand.allocations"),
        headers: vec![
            tr.t("demand.line"),
            tr.t("demand.holding"),
            tr.t("demand.quantity"),
            tr.t("demand.inspected"),
            tr.t("demand.released"),
            tr.t("demand.handed_over"),
            tr.t("demand.stage"),
            tr.t("demand.record_status"),
            tr.t("demand.stock"),
            "km".to_owned(),
            "h".to_owned(),
            tr.t("demand.cost"),
        ],
        rows: allocations
            .iter()
            .map(|a| {
                vec![
                    TableCell::Integer(a.line_no),
                    text(a.holding.clone()),
                    TableCell::Integer(a.quantity),
                    TableCell::Integer(a.inspected),
                    TableCell::Integer(a.released),
                    TableCell::Integer(a.handed_over),
                    text(tr.t(&a.stage_key)),
                    if a.record_status_key.is_empty() {
                        TableCell::Empty
                    } else {
                        text(tr.t(&a.record_status_key))
                    },
                    text(a.stock.clone()),
                    shown_number(&a.km),
                    shown_number(&a.hours),
                    shown_number(&a.cost),
                ]
            })
            .collect(),
    }
}

fn proposal_table(tr: &Tr, assignments: &[AssignmentRow]) -> Table {
    Table {
        title: tr.t("demand.proposal"),
        headers: vec![
            tr.t("demand.line"),
            tr.t("demand.holding"),
            tr.t("demand.quantity"),
            tr.t("demand.road_km"),
            tr.t("demand.travel_hours"),
            tr.t("demand.slack_hours"),
            tr.t("demand.cost"),
            tr.t("demand.alternatives"),
        ],
        rows: assignments
            .iter()
            .map(|a| {
                vec![
                    TableCell::Integer(a.line_no),
                    text(a.holding.clone()),
                    TableCell::Integer(a.quantity),
                    shown_number(&a.km),
                    shown_number(&a.hours),
                    shown_number(&a.slack),
                    shown_number(&a.cost),
                    joined(&a.alternatives),
                ]
            })
            .collect(),
    }
}

/// The inspections; the photos column holds how many photos each has (the page shows them
/// as thumbnails).
fn inspections_table(tr: &Tr, inspections: &[InspectionRow]) -> Table {
    Table {
        title: tr.t("demand.inspections"),
        headers: vec![
            tr.t("demand.holding"),
            tr.t("demand.condition"),
            tr.t("demand.quantity_seen"),
            tr.t("demand.quantity_accepted"),
            tr.t("demand.notes"),
            tr.t("demand.photos"),
            tr.t("demand.inspector"),
            tr.t("demand.at"),
        ],
        rows: inspections
            .iter()
            .map(|i| {
                vec![
                    text(i.allocation.clone()),
                    text(tr.t(&i.condition_key)),
                    TableCell::Integer(i.seen),
                    TableCell::Integer(i.accepted),
                    text(i.notes.clone()),
                    TableCell::Integer(i64::try_from(i.photos.len()).unwrap_or(i64::MAX)),
                    text(i.inspector.clone()),
                    text(i.at.clone()),
                ]
            })
            .collect(),
    }
}

fn handovers_table(tr: &Tr, handovers: &[HandoverRow]) -> Table {
    Table {
        title: tr.t("demand.handovers"),
        headers: vec![
            tr.t("demand.at"),
            tr.t("demand.items"),
            tr.t("demand.supplier_signatory"),
            tr.t("demand.receiver_signatory"),
            tr.t("demand.notes"),
            tr.t("demand.recorded_by"),
        ],
        rows: handovers
            .iter()
            .map(|h| {
                vec![
                    text(h.at.clone()),
                    joined(&h.items),
                    text(h.supplier.clone()),
                    text(h.receiver.clone()),
                    text(h.notes.clone()),
                    text(h.recorded_by.clone()),
                ]
            })
            .collect(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// A storage refusal the reader can act on, with the status to answer it with and the
/// refusal said in the reader's language (`locale`) where it has been written in it; anything
/// else (a demand the reader may not see included) becomes an error page.
pub(crate) fn refusal(
    error: StorageError,
    locale: &str,
) -> Result<(StatusCode, String), StorageError> {
    let code = match &error {
        StorageError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        StorageError::Conflict { .. } => StatusCode::CONFLICT,
        StorageError::Forbidden(_) | StorageError::OutOfScope { .. } => StatusCode::FORBIDDEN,
        _ => return Err(error),
    };
    Ok((code, WebError::from(error).said_in(locale)))
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
        Err(e) => {
            let (code, message) = refusal(e, page.tr.locale).map_err(|e| page.error(e.into()))?;
            render(&state, &page, id, Feedback::at(Spot::Top, message), code).await
        }
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
        Ok(new_id) => {
            let message = format!("→ #{new_id}");
            render(
                &state,
                &page,
                id,
                Feedback::at(Spot::Top, message),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => {
            let (code, message) = refusal(e, page.tr.locale).map_err(|e| page.error(e.into()))?;
            render(&state, &page, id, Feedback::at(Spot::Top, message), code).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PhotoQuery {
    thumbnail: Option<String>,
}

/// A photo of one of the demand's inspections, to whoever may read the demand: the photo
/// must be one the demand's inspections name, so a reader cannot fetch other files by hash.
pub(crate) async fn photo(
    State(state): State<AppState>,
    page: PageContext,
    Path((id, sha)): Path<(i64, String)>,
    Query(query): Query<PhotoQuery>,
) -> PageResult {
    let user = page.require_user()?;
    let view = state
        .db
        .demand(user.actor.scope(), id)
        .await
        .map_err(|e| page.error(e.into()))?;
    let not_found = || {
        page.error(WebError::Storage(StorageError::NotFound {
            entity: "photo",
            key: sha.clone(),
        }))
    };
    let named = view.inspections.iter().any(|i| i.photos.contains(&sha));
    let hash = ContentHash::parse(&sha).map_err(|_| not_found())?;
    if !named {
        return Err(not_found());
    }
    let private = [(header::CACHE_CONTROL, "private, max-age=86400")];
    if query.thumbnail.is_some() {
        let bytes = state
            .blobs
            .thumbnail(&hash)
            .await
            .map_err(|_| not_found())?
            .ok_or_else(not_found)?;
        return Ok((private, [(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response());
    }
    let mut file = state
        .blobs
        .open_blob(&hash)
        .await
        .map_err(|_| not_found())?;
    let mut bytes = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut file.file, &mut bytes)
        .await
        .map_err(|_| not_found())?;
    Ok((
        private,
        [
            (header::CONTENT_TYPE, file.content_type),
            (header::CONTENT_DISPOSITION, "inline".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alternative(reason: &str) -> ProposedAlternative {
        ProposedAlternative {
            record_id: 7,
            region_name: "阳溪村".into(),
            great_circle_km: 6.0,
            travel_hours: 0.2,
            unit_cost_cents: 1_500,
            reason: reason.into(),
            extra_cost_per_unit_cents: None,
            reduced_cost_cents: None,
            taken_by_lines: Vec::new(),
            by_higher_priority: false,
        }
    }

    #[test]
    fn an_alternative_says_why_not_in_the_readers_language_with_its_figures() {
        let zh = Tr { locale: "zh-CN" };
        let en = Tr { locale: "en" };
        let costlier = ProposedAlternative {
            extra_cost_per_unit_cents: Some(123),
            ..alternative("costlier")
        };
        assert_eq!(why_not(&costlier, &zh), "运费更高，每单位多出 1.23 元");
        assert_eq!(why_not(&costlier, &en), "costlier by 1.23 per unit");
        let used_up = ProposedAlternative {
            taken_by_lines: vec![2, 3],
            by_higher_priority: true,
            ..alternative("used_up")
        };
        assert_eq!(why_not(&used_up, &zh), "已被明细用完： 2, 3（优先级更高）");
        assert_eq!(
            why_not(&used_up, &en),
            "used up by line(s) 2, 3 (higher priority)"
        );
        assert_eq!(why_not(&alternative("too_late"), &zh), "无法按时到达");
    }
}
