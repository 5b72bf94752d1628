//! Survey rounds as pages: the rounds list with the form that opens one, a round's
//! assignment tree with completeness by region, an assignment with its versions, upload,
//! form, diff and review buttons, and the round's dashboard with CSV/XLSX export.
//! Server-rendered, no JavaScript.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use muster_domain::potential::RecordDraft;
use muster_domain::sheet::{Table, TableCell};
use muster_domain::survey::{
    AssignmentStatus, Completeness, FigureMovement, SubmissionDiff, Timeliness, may_review,
    reviewer_region,
};
use muster_domain::taxonomy::{AttributeKind, Category, ResourceType, Taxonomy};
use muster_domain::{RegionPath, Role, Timestamp};
use muster_storage::{
    Assignment, AssignmentView, FormRowEdit, OpenRound, StorageError, SubmitOutcome, SurveyRound,
};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::page_parts::{Exports, UploadOutcome, chosen_table, form_field, page_err, type_name};
use crate::pages::{Layout, PageContext, PageError, PageResult, format_utc};
use crate::potential_view::{
    ExportFormat, FormatQuery, MAX_UPLOAD_BYTES, format_quantity, format_share, sheet_download,
    text,
};

/// Rows of a version shown on the assignment page; the rest are in the file itself.
const ROWS_SHOWN: usize = 500;

fn unit_of(taxonomy: &Taxonomy, code: &str, locale: &str) -> String {
    taxonomy
        .resource_type(code)
        .map(|t| {
            taxonomy
                .unit(&t.unit)
                .map_or_else(|| t.unit.clone(), |u| u.name(locale).to_owned())
        })
        .unwrap_or_default()
}

/// `YYYY-MM-DD` as the last millisecond of that day in UTC: a deadline is a whole day.
pub(crate) fn parse_deadline(text: &str) -> Option<Timestamp> {
    muster_domain::time::CivilDate::parse(text).map(muster_domain::time::CivilDate::end)
}

fn status_key(status: &str) -> String {
    format!("survey.status.{status}")
}

fn timeliness_key(timeliness: Timeliness) -> String {
    format!("survey.timeliness.{}", timeliness.as_str())
}

/// An assignment as a line in a table.
#[derive(Debug)]
struct AssignmentLine {
    id: i64,
    name: String,
    is_unit: bool,
    status: String,
    status_label: String,
    timeliness: String,
    timeliness_label: String,
    submitted: String,
    /// The deadline it is held to, when it was given more time than the round.
    own_deadline: Option<String>,
}

impl AssignmentLine {
    fn of(assignment: &Assignment, round: &SurveyRound, tr: &Tr, now: Timestamp) -> Self {
        let timeliness = assignment.timeliness(round.deadline, now);
        AssignmentLine {
            id: assignment.id,
            name: assignment_name(assignment, round),
            is_unit: assignment.organization_id.is_some(),
            status: assignment.status.clone(),
            status_label: tr.t(&status_key(&assignment.status)),
            timeliness: timeliness.as_str().to_owned(),
            timeliness_label: tr.t(&timeliness_key(timeliness)),
            submitted: assignment.submitted_at.map(format_utc).unwrap_or_default(),
            own_deadline: Some(assignment.deadline_within(round.deadline))
                .filter(|own| *own > round.deadline)
                .map(|own| format_utc(own.as_millis())),
        }
    }
}

fn assignment_name(assignment: &Assignment, round: &SurveyRound) -> String {
    match (&assignment.organization_name, &assignment.region_name) {
        (Some(unit), _) => unit.clone(),
        (None, Some(region)) => region.clone(),
        (None, None) if assignment.parent_id.is_none() => round.title.clone(),
        _ => assignment.region_path.clone(),
    }
}

// ---------------------------------------------------------------- rounds

#[derive(Debug)]
struct RoundLine {
    id: i64,
    title: String,
    region: String,
    deadline: String,
    status_label: String,
    types: usize,
}

#[derive(Debug)]
struct TypeChoice {
    code: String,
    name: String,
}

#[derive(Debug)]
struct SubcategoryChoice {
    code: String,
    name: String,
    types: Vec<TypeChoice>,
}

#[derive(Debug)]
struct CategoryChoice {
    name: String,
    subcategories: Vec<SubcategoryChoice>,
}

#[derive(Template, WebTemplate)]
#[template(path = "survey_rounds.html")]
struct RoundsPage {
    layout: Layout,
    exports: Exports,
    rounds: Vec<RoundLine>,
    can_open: bool,
    categories: Vec<CategoryChoice>,
    region: String,
    error: Option<String>,
}

fn type_choices(taxonomy: &Taxonomy, locale: &str) -> Vec<CategoryChoice> {
    Category::ALL
        .iter()
        .map(|category| CategoryChoice {
            name: category.name(locale).to_owned(),
            subcategories: taxonomy
                .subcategories_in(*category)
                .map(|sub| SubcategoryChoice {
                    code: sub.code.clone(),
                    name: sub.name(locale).to_owned(),
                    types: taxonomy
                        .resource_types()
                        .iter()
                        .filter(|t| t.subcategory == sub.code)
                        .map(|t| TypeChoice {
                            code: t.code.clone(),
                            name: t.name(locale).to_owned(),
                        })
                        .collect(),
                })
                .filter(|sub| !sub.types.is_empty())
                .collect(),
        })
        .filter(|c| !c.subcategories.is_empty())
        .collect()
}

async fn render_rounds(
    state: &AppState,
    page: &PageContext,
    error: Option<String>,
    status: StatusCode,
    format: Option<ExportFormat>,
) -> PageResult {
    let current = page.require_user()?;
    let scope = current.actor.scope();
    let rounds = state
        .db
        .survey_rounds(scope)
        .await
        .map_err(page_err(page))?;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(page))?;
    let can_open = current.actor.administers() || current.actor.has_role(Role::OfficeStaff);
    let lines = rounds
        .iter()
        .map(|r| RoundLine {
            id: r.id,
            title: r.title.clone(),
            region: r.region_code.clone().unwrap_or_else(|| "/".into()),
            deadline: format_utc(r.deadline.as_millis()),
            status_label: page.tr.t(&status_key(r.status.as_str())),
            types: r.type_codes.len(),
        })
        .collect::<Vec<RoundLine>>();
    if let Some(format) = format {
        let table = rounds_table(&page.tr, &lines);
        return sheet_download(format, "survey-rounds", &[table]).map_err(|e| page.error(e));
    }
    Ok((
        status,
        RoundsPage {
            layout: page.layout("surveys"),
            exports: Exports::of("/surveys"),
            rounds: lines,
            can_open,
            categories: if can_open {
                type_choices(&taxonomy, page.tr.locale)
            } else {
                Vec::new()
            },
            region: scope
                .subtree()
                .codes()
                .last()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            error,
        },
    )
        .into_response())
}

/// The rounds in the reader's scope (`?format=csv|xlsx` downloads the table).
pub(crate) async fn rounds(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    render_rounds(&state, &page, None, StatusCode::OK, format).await
}

/// The rounds list as a sheet: the columns the page shows.
fn rounds_table(tr: &Tr, lines: &[RoundLine]) -> Table {
    Table {
        title: tr.t("survey.title"),
        headers: vec![
            tr.t("survey.round_title"),
            tr.t("survey.region"),
            tr.t("survey.deadline"),
            tr.t("survey.types"),
            tr.t("potential.status_label"),
        ],
        rows: lines
            .iter()
            .map(|line| {
                vec![
                    TableCell::Text(line.title.clone()),
                    TableCell::Text(line.region.clone()),
                    TableCell::Text(line.deadline.clone()),
                    TableCell::Integer(i64::try_from(line.types).unwrap_or(i64::MAX)),
                    TableCell::Text(line.status_label.clone()),
                ]
            })
            .collect(),
    }
}

/// The open-round form: `title`, `region`, `deadline` (a date), and any number of `type`
/// and `subcategory` fields (a subcategory stands for all its types).
pub(crate) async fn open_round(
    State(state): State<AppState>,
    page: PageContext,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let current = page.require_user()?;
    let field = |name: &str| form_field(&fields, name);
    current
        .check_csrf(Some(&field("csrf")))
        .map_err(|e| page.error(e))?;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let mut type_codes: BTreeSet<String> = BTreeSet::new();
    for (key, value) in &fields {
        match key.as_str() {
            "type" => {
                type_codes.insert(value.clone());
            }
            "subcategory" => type_codes.extend(
                taxonomy
                    .resource_types()
                    .iter()
                    .filter(|t| &t.subcategory == value)
                    .map(|t| t.code.clone()),
            ),
            _ => {}
        }
    }
    let Some(deadline) = parse_deadline(&field("deadline")) else {
        return render_rounds(
            &state,
            &page,
            Some(page.tr.t("survey.bad_deadline")),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        )
        .await;
    };
    // An empty region is the opener's own (the nation only for a national scope).
    let region = Some(field("region"))
        .filter(|r| !r.is_empty())
        .or_else(|| code_of_scope(current.actor.scope()));
    let request = OpenRound {
        title: field("title"),
        region_code: region,
        type_codes,
        deadline,
    };
    match state.db.open_round(&current.actor, request).await {
        Ok((round, _)) => Ok(Redirect::to(&format!("/surveys/{}", round.id)).into_response()),
        Err(e @ StorageError::Refused { .. }) => {
            render_rounds(
                &state,
                &page,
                Some(WebError::from(e).said_in(page.tr.locale)),
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
            )
            .await
        }
        Err(other) => Err(page.error(other.into())),
    }
}

// ---------------------------------------------------------------- a round

#[derive(Debug, Deserialize)]
pub(crate) struct RoundQuery {
    region: Option<String>,
    format: Option<String>,
    table: Option<String>,
}

/// One child region's line: its own assignment and the completeness of its subtree.
#[derive(Debug)]
struct RegionLine {
    name: String,
    code: String,
    assignment: Option<AssignmentLine>,
    reported: u64,
    assigned: u64,
    share: String,
    approved: u64,
    on_time: u64,
    late: u64,
    missing: u64,
}

#[derive(Debug)]
struct CompletenessView {
    assigned: u64,
    reported: u64,
    share: String,
    approved: u64,
    awaiting_review: u64,
    returned: u64,
    on_time: u64,
    late: u64,
    missing: u64,
    pending: u64,
}

impl From<&Completeness> for CompletenessView {
    fn from(c: &Completeness) -> Self {
        CompletenessView {
            assigned: c.assigned,
            reported: c.reported,
            share: format_share(c.reported as f64, c.assigned as f64),
            approved: c.approved,
            awaiting_review: c.awaiting_review,
            returned: c.returned,
            on_time: c.on_time,
            late: c.late,
            missing: c.missing,
            pending: c.pending,
        }
    }
}

#[derive(Debug)]
struct RoundSummary {
    id: i64,
    title: String,
    deadline: String,
    status_label: String,
    types: Vec<String>,
}

impl RoundSummary {
    fn of(round: &SurveyRound, taxonomy: &Taxonomy, tr: &Tr) -> Self {
        RoundSummary {
            id: round.id,
            title: round.title.clone(),
            deadline: format_utc(round.deadline.as_millis()),
            status_label: tr.t(&status_key(round.status.as_str())),
            types: round
                .type_codes
                .iter()
                .map(|code| type_name(taxonomy, code, tr.locale))
                .collect(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "survey_round.html")]
struct RoundPage {
    layout: Layout,
    round: RoundSummary,
    heading: String,
    up_href: Option<String>,
    region: String,
    completeness: CompletenessView,
    here: Vec<AssignmentLine>,
    children: Vec<RegionLine>,
    here_exports: Exports,
    children_exports: Exports,
    /// Whether the reader runs this open round (office staff or an administrator at its
    /// region or above) and so may give more time or close it; storage checks again.
    can_manage: bool,
    /// The office that runs the round may reopen it, closed.
    can_reopen: bool,
}

fn code_of_scope(scope: &muster_domain::Scope) -> Option<String> {
    scope
        .subtree()
        .codes()
        .last()
        .map(|c| c.as_str().to_owned())
}

/// The code of the region a path ends in, or empty for the nation.
fn code_of(path: &RegionPath) -> String {
    path.codes()
        .last()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default()
}

pub(crate) async fn round(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Query(query): Query<RoundQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let scope = current.actor.scope();
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let region = query.region.as_deref().filter(|r| !r.is_empty());
    let dashboard = state
        .db
        .round_dashboard(scope, id, region)
        .await
        .map_err(page_err(&page))?;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let round = &dashboard.round;
    let runs_it = muster_domain::survey::may_run_round(&current.actor, &round.region_path);
    let assignments = state
        .db
        .round_assignments(scope, id, Some(&dashboard.path))
        .await
        .map_err(page_err(&page))?;
    let now = muster_storage::now();
    let depth = dashboard.path.depth();
    let here: Vec<AssignmentLine> = assignments
        .iter()
        .filter(|a| a.region_path == dashboard.path.as_str())
        .map(|a| AssignmentLine::of(a, round, &page.tr, now))
        .collect();
    let own_of: HashMap<&str, &Assignment> = assignments
        .iter()
        .filter(|a| a.organization_id.is_none() && a.region_path().depth() == depth + 1)
        .map(|a| (a.region_path.as_str(), a))
        .collect();
    let children: Vec<RegionLine> = dashboard
        .children
        .iter()
        .map(|(path, counts)| {
            let own = own_of.get(path.as_str());
            let code = RegionPath::parse(path)
                .map(|p| code_of(&p))
                .unwrap_or_default();
            RegionLine {
                name: own
                    .and_then(|a| a.region_name.clone())
                    .unwrap_or_else(|| code.clone()),
                code,
                assignment: own.map(|a| AssignmentLine::of(a, round, &page.tr, now)),
                reported: counts.reported,
                assigned: counts.assigned,
                share: format_share(counts.reported as f64, counts.assigned as f64),
                approved: counts.approved,
                on_time: counts.on_time,
                late: counts.late,
                missing: counts.missing,
            }
        })
        .collect();
    let region_code = code_of(&dashboard.path);
    if let Some(format) = format {
        let here_table = chosen_table(
            query.table.as_deref(),
            false,
            &[("here", true), ("children", false)],
        )
        .map_err(|e| page.error(e))?;
        let table = if here_table {
            assignments_table(&page.tr, "survey.at_this_level", &here)
        } else {
            completeness_table(&page.tr, &children, true)
        };
        let stem = format!("round-{id}-{region_code}");
        return sheet_download(format, &stem, &[table]).map_err(|e| page.error(e));
    }
    let base = format!("/surveys/{id}?region={region_code}&table=");
    let heading = here
        .iter()
        .find(|a| !a.is_unit)
        .map_or_else(|| dashboard.path.as_str().to_owned(), |a| a.name.clone());
    // Up one level, while still inside both the round and the reader's scope.
    let up_href =
        (dashboard.path != round.region_path && dashboard.path != *scope.subtree()).then(|| {
            let codes: Vec<String> = dashboard
                .path
                .codes()
                .map(|c| c.as_str().to_owned())
                .collect();
            let parent = codes.len().checked_sub(2).map(|i| codes[i].clone());
            match parent {
                Some(code) => format!("/surveys/{id}?region={code}"),
                None => format!("/surveys/{id}"),
            }
        });
    Ok(RoundPage {
        layout: page.layout("surveys"),
        round: RoundSummary::of(round, &taxonomy, &page.tr),
        heading,
        up_href,
        region: region_code,
        completeness: CompletenessView::from(&dashboard.completeness),
        here,
        children,
        here_exports: Exports::of(&format!("{base}here")),
        children_exports: Exports::of(&format!("{base}children")),
        can_manage: runs_it && round.status.is_open(),
        can_reopen: runs_it && !round.status.is_open(),
    }
    .into_response())
}

/// The round page's extend-the-deadline form: a date, as when the round was opened.
#[derive(Debug, Deserialize)]
pub(crate) struct DeadlineForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    deadline: String,
}

impl DeadlineForm {
    /// The day sent, after the form's CSRF check; the refusal page otherwise.
    fn deadline(&self, page: &PageContext) -> Result<Timestamp, PageError> {
        let current = page.require_user()?;
        current
            .check_csrf(Some(&self.csrf))
            .map_err(|e| page.error(e))?;
        parse_deadline(&self.deadline).ok_or_else(|| {
            page.error(WebError::refused(
                "deadline",
                Tr { locale: "en" }.t("survey.bad_deadline"),
                Tr { locale: "zh-CN" }.t("survey.bad_deadline"),
            ))
        })
    }
}

pub(crate) async fn extend_deadline(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<DeadlineForm>,
) -> PageResult {
    let current = page.require_user()?;
    let deadline = form.deadline(&page)?;
    state
        .db
        .extend_round_deadline(&current.actor, id, deadline)
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to(&format!("/surveys/{id}")).into_response())
}

/// Gives one assignment more time, from its page (its reviewer).
pub(crate) async fn extend_assignment_deadline(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<DeadlineForm>,
) -> PageResult {
    let current = page.require_user()?;
    let deadline = form.deadline(&page)?;
    state
        .db
        .extend_assignment_deadline(&current.actor, id, deadline)
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to(&format!("/surveys/assignments/{id}")).into_response())
}

/// Reopens a closed round until the day given, from the round page.
pub(crate) async fn reopen(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<DeadlineForm>,
) -> PageResult {
    let current = page.require_user()?;
    let deadline = form.deadline(&page)?;
    state
        .db
        .reopen_round(&current.actor, id, deadline)
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to(&format!("/surveys/{id}")).into_response())
}

pub(crate) async fn close(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<crate::account_pages::CsrfForm>,
) -> PageResult {
    let current = page.require_user()?;
    form.check(current).map_err(|e| page.error(e))?;
    state
        .db
        .close_round(&current.actor, id)
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to(&format!("/surveys/{id}")).into_response())
}

// ---------------------------------------------------------------- dashboard

#[derive(Debug)]
struct MovementLine {
    name: String,
    code: String,
    unit: String,
    first_reported: String,
    latest_reported: String,
    approved: String,
    approved_count: u64,
    verified: String,
    verified_count: u64,
    record_count: u64,
    change: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "survey_dashboard.html")]
struct DashboardPage {
    layout: Layout,
    round: RoundSummary,
    region: String,
    completeness: CompletenessView,
    children: Vec<RegionLine>,
    movement: Vec<MovementLine>,
    movement_exports: Exports,
    completeness_exports: Exports,
}

fn change_text(movement: &FigureMovement) -> String {
    movement
        .relative_change_first_to_verified()
        .map(|c| format!("{:+.1}%", c * 100.0))
        .unwrap_or_default()
}

fn movement_table(
    tr: &Tr,
    taxonomy: &Taxonomy,
    movement: &std::collections::BTreeMap<String, FigureMovement>,
) -> Table {
    Table {
        title: tr.t("survey.movement"),
        headers: vec![
            tr.t("taxonomy.type"),
            tr.t("potential.code"),
            tr.t("potential.unit"),
            tr.t("survey.first_reported"),
            tr.t("survey.latest_reported"),
            tr.t("survey.approved"),
            tr.t("survey.verified"),
            tr.t("potential.records"),
            tr.t("survey.approved_records"),
            tr.t("survey.verified_records"),
            tr.t("survey.change"),
        ],
        rows: movement
            .iter()
            .map(|(code, m)| {
                vec![
                    text(type_name(taxonomy, code, tr.locale)),
                    text(code.clone()),
                    text(unit_of(taxonomy, code, tr.locale)),
                    TableCell::Number(m.first_reported),
                    TableCell::Number(m.latest_reported),
                    TableCell::Number(m.approved),
                    TableCell::Number(m.verified),
                    TableCell::Integer(i64::try_from(m.record_count).unwrap_or(i64::MAX)),
                    TableCell::Integer(i64::try_from(m.approved_count).unwrap_or(i64::MAX)),
                    TableCell::Integer(i64::try_from(m.verified_count).unwrap_or(i64::MAX)),
                    // As a fraction (0.25 for +25 %), blank where nothing verified moved.
                    m.relative_change_first_to_verified()
                        .map_or(TableCell::Empty, TableCell::Number),
                ]
            })
            .collect(),
    }
}

/// Assignments as the round page (at one level) and the assignment page (those below) list
/// them; `title_key` names the table.
fn assignments_table(tr: &Tr, title_key: &str, lines: &[AssignmentLine]) -> Table {
    Table {
        title: tr.t(title_key),
        headers: vec![
            tr.t("survey.assignment"),
            tr.t("potential.status_label"),
            tr.t("survey.timeliness_label"),
            tr.t("survey.submitted_at"),
        ],
        rows: lines
            .iter()
            .map(|l| {
                vec![
                    text(l.name.clone()),
                    text(l.status_label.clone()),
                    text(l.timeliness_label.clone()),
                    text(l.submitted.clone()),
                ]
            })
            .collect(),
    }
}

/// The completeness of each region below, as the round page (`with_status`: each region's
/// own report's status and timeliness too) or the dashboard shows it.
fn completeness_table(tr: &Tr, lines: &[RegionLine], with_status: bool) -> Table {
    let count = |n: u64| TableCell::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    let mut headers = vec![tr.t("survey.region"), tr.t("potential.code")];
    if with_status {
        headers.extend([
            tr.t("potential.status_label"),
            tr.t("survey.timeliness_label"),
        ]);
    }
    headers.extend([
        tr.t("survey.assigned"),
        tr.t("survey.reported"),
        tr.t("survey.approved"),
        tr.t("survey.timeliness.on_time"),
        tr.t("survey.timeliness.late"),
        tr.t("survey.timeliness.missing"),
    ]);
    Table {
        title: tr.t("survey.completeness"),
        headers,
        rows: lines
            .iter()
            .map(|l| {
                let mut row = vec![text(l.name.clone()), text(l.code.clone())];
                if with_status {
                    let (status, timeliness) =
                        l.assignment
                            .as_ref()
                            .map_or((TableCell::Empty, TableCell::Empty), |a| {
                                (
                                    text(a.status_label.clone()),
                                    text(a.timeliness_label.clone()),
                                )
                            });
                    row.extend([status, timeliness]);
                }
                row.extend([
                    count(l.assigned),
                    count(l.reported),
                    count(l.approved),
                    count(l.on_time),
                    count(l.late),
                    count(l.missing),
                ]);
                row
            })
            .collect(),
    }
}

pub(crate) async fn dashboard(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Query(query): Query<RoundQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let scope = current.actor.scope();
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let region = query.region.as_deref().filter(|r| !r.is_empty());
    let dashboard = state
        .db
        .round_dashboard(scope, id, region)
        .await
        .map_err(page_err(&page))?;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let locale = page.tr.locale;
    // Region names from the regions' own assignments one level down.
    let assignments = state
        .db
        .round_assignments(scope, id, Some(&dashboard.path))
        .await
        .map_err(page_err(&page))?;
    let names: HashMap<&str, &str> = assignments
        .iter()
        .filter(|a| a.organization_id.is_none())
        .filter_map(|a| Some((a.region_path.as_str(), a.region_name.as_deref()?)))
        .collect();
    let children: Vec<RegionLine> = dashboard
        .children
        .iter()
        .map(|(path, c)| {
            let code = RegionPath::parse(path)
                .map(|p| code_of(&p))
                .unwrap_or_default();
            RegionLine {
                name: names
                    .get(path.as_str())
                    .map_or_else(|| code.clone(), |n| (*n).to_owned()),
                code,
                assignment: None,
                reported: c.reported,
                assigned: c.assigned,
                share: format_share(c.reported as f64, c.assigned as f64),
                approved: c.approved,
                on_time: c.on_time,
                late: c.late,
                missing: c.missing,
            }
        })
        .collect();
    if let Some(format) = format {
        #[derive(Clone, Copy)]
        enum Dashboard {
            Movement,
            Completeness,
        }
        let chosen = chosen_table(
            query.table.as_deref(),
            Dashboard::Movement,
            &[
                ("movement", Dashboard::Movement),
                ("completeness", Dashboard::Completeness),
            ],
        )
        .map_err(|e| page.error(e))?;
        let table = match chosen {
            Dashboard::Completeness => completeness_table(&page.tr, &children, false),
            Dashboard::Movement => movement_table(&page.tr, &taxonomy, &dashboard.movement),
        };
        return sheet_download(format, &format!("round-{id}"), &[table]).map_err(|e| page.error(e));
    }
    let region_code = code_of(&dashboard.path);
    let base = format!("/surveys/{id}/dashboard?region={region_code}&table=");
    let movement = dashboard
        .movement
        .iter()
        .map(|(code, m)| {
            let unit = unit_of(&taxonomy, code, locale);
            MovementLine {
                name: type_name(&taxonomy, code, locale),
                code: code.clone(),
                unit,
                first_reported: format_quantity(m.first_reported),
                latest_reported: format_quantity(m.latest_reported),
                approved: format_quantity(m.approved),
                approved_count: m.approved_count,
                verified: format_quantity(m.verified),
                verified_count: m.verified_count,
                record_count: m.record_count,
                change: change_text(m),
            }
        })
        .collect();
    Ok(DashboardPage {
        layout: page.layout("surveys"),
        round: RoundSummary::of(&dashboard.round, &taxonomy, &page.tr),
        region: region_code,
        completeness: CompletenessView::from(&dashboard.completeness),
        children,
        movement,
        movement_exports: Exports::of(&format!("{base}movement")),
        completeness_exports: Exports::of(&format!("{base}completeness")),
    }
    .into_response())
}

/// The round's template: the standard columns, and only the round's types on the list sheet.
pub(crate) async fn round_template(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Query(query): Query<RoundQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let round = state
        .db
        .survey_round(current.actor.scope(), id)
        .await
        .map_err(page_err(&page))?;
    let format = ExportFormat::from_query(query.format.as_deref())
        .map_err(|e| page.error(e))?
        .unwrap_or(ExportFormat::Xlsx);
    let taxonomy = state.db.taxonomy().await.map_err(page_err(&page))?;
    let wanted: BTreeSet<&str> = round.type_codes.iter().map(String::as_str).collect();
    let tables =
        crate::potential_view::import_template(&taxonomy, Some(&wanted), page.tr.locale, &page.tr);
    sheet_download(format, &format!("round-{id}-template"), &tables).map_err(|e| page.error(e))
}

// ---------------------------------------------------------------- an assignment

#[derive(Debug)]
struct VersionLine {
    version: i64,
    source: String,
    file_name: String,
    rows: i64,
    total: String,
    status_label: String,
    submitted_at: String,
    comment: String,
}

#[derive(Debug)]
struct RecordLine {
    row: u32,
    type_name: String,
    quantity: String,
    /// The quantity as typed into the correction form (no digit grouping).
    quantity_value: String,
    unit: String,
    holder: String,
    site: String,
    region: String,
}

impl RecordLine {
    fn of(row: u32, draft: &RecordDraft, taxonomy: &Taxonomy, locale: &str) -> Self {
        RecordLine {
            row,
            type_name: type_name(taxonomy, &draft.type_code, locale),
            quantity: format_quantity(draft.quantity),
            quantity_value: draft.quantity.to_string(),
            unit: unit_of(taxonomy, &draft.type_code, locale),
            holder: draft.holder.name().to_owned(),
            site: draft.site.clone().unwrap_or_default(),
            region: draft.region_code.clone(),
        }
    }
}

#[derive(Debug)]
struct ChangeLine {
    before: RecordLine,
    after: RecordLine,
    fields: String,
}

#[derive(Debug)]
struct DiffView {
    from_version: i64,
    to_version: i64,
    added: Vec<RecordLine>,
    removed: Vec<RecordLine>,
    changed: Vec<ChangeLine>,
    unchanged: usize,
}

impl DiffView {
    fn of(
        from_version: i64,
        to_version: i64,
        diff: &SubmissionDiff,
        taxonomy: &Taxonomy,
        locale: &str,
    ) -> Self {
        DiffView {
            from_version,
            to_version,
            added: diff
                .added
                .iter()
                .map(|r| RecordLine::of(r.row_number, &r.record, taxonomy, locale))
                .collect(),
            removed: diff
                .removed
                .iter()
                .map(|r| RecordLine::of(r.row_number, &r.record, taxonomy, locale))
                .collect(),
            changed: diff
                .changed
                .iter()
                .map(|c| ChangeLine {
                    before: RecordLine::of(c.before_row, &c.before, taxonomy, locale),
                    after: RecordLine::of(c.after_row, &c.after, taxonomy, locale),
                    fields: c.fields.join(", "),
                })
                .collect(),
            unchanged: diff.unchanged,
        }
    }
}

#[derive(Debug)]
struct Choice {
    code: String,
    name: String,
}

#[derive(Debug)]
struct DuplicateLine {
    row: u32,
    /// The other report's id, name and status; none for a report outside the reader's
    /// scope (one above their region).
    other: Option<(i64, String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "survey_assignment.html")]
struct AssignmentPage {
    layout: Layout,
    duplicates: Vec<DuplicateLine>,
    round: RoundSummary,
    assignment: AssignmentLine,
    parent: Option<AssignmentLine>,
    children: Vec<AssignmentLine>,
    versions: Vec<VersionLine>,
    rows: Vec<RecordLine>,
    more_rows: usize,
    diff: Option<DiffView>,
    outcome: UploadOutcome,
    may_submit: bool,
    /// The rows shown are the current version's and may be corrected one by one.
    may_edit_rows: bool,
    /// The current version's submission id, which a row correction names.
    current_submission: i64,
    /// The reviewer may give this assignment more time, the round being open.
    may_extend: bool,
    may_review: bool,
    types: Vec<Choice>,
    table_exports: AssignmentExports,
    /// The add-row form, for the type chosen (the round's first by default).
    add_form: Option<AddRowForm>,
    region: String,
    max_mib: usize,
}

/// The download links of the assignment page's tables, for the version shown.
#[derive(Debug)]
struct AssignmentExports {
    below: Exports,
    versions: Exports,
    diff: Exports,
    rows: Exports,
}

impl AssignmentExports {
    fn of(id: i64, version: Option<i64>) -> Self {
        let version = version.map_or_else(String::new, |v| format!("version={v}&"));
        let url =
            |table: &str| Exports::of(&format!("/surveys/assignments/{id}?{version}table={table}"));
        AssignmentExports {
            below: url("below"),
            versions: url("versions"),
            diff: url("diff"),
            rows: url("rows"),
        }
    }
}

/// The add-row form for one type: every column the importer takes, the type's own attributes
/// among them, so that any type of the round can be reported on the form. (Most types of the
/// default taxonomy require an attribute, which a form of the common fields alone could
/// never give.)
#[derive(Debug)]
struct AddRowForm {
    code: String,
    name: String,
    unit: String,
    attributes: Vec<AttributeInput>,
}

/// One attribute's input, posted as `attr.KEY` (the importer reads the column by its key).
#[derive(Debug)]
struct AttributeInput {
    key: String,
    label: String,
    required: bool,
    /// `number`, `decimal`, `text`, `select`.
    input: &'static str,
    /// The bounds a number takes, or a text's length, as the reader sees them.
    hint: String,
    min: String,
    max: String,
    /// For a choice or a yes/no: the values offered after an empty one.
    options: Vec<Choice>,
}

impl AddRowForm {
    fn of(resource_type: &ResourceType, taxonomy: &Taxonomy, tr: &Tr) -> Self {
        let locale = tr.locale;
        let zh = locale.starts_with("zh");
        let unit = taxonomy.unit(&resource_type.unit).map_or_else(
            || resource_type.unit.clone(),
            |u| {
                if zh {
                    u.name_zh.clone()
                } else {
                    u.name_en.clone()
                }
            },
        );
        let attributes = resource_type
            .attributes
            .iter()
            .map(|spec| {
                let label = if zh { &spec.name_zh } else { &spec.name_en }.clone();
                let (input, hint, min, max, options) = match &spec.kind {
                    AttributeKind::Integer { min, max } => (
                        "number",
                        format!("{min}–{max}"),
                        min.to_string(),
                        max.to_string(),
                        Vec::new(),
                    ),
                    AttributeKind::Decimal { min, max } => (
                        "decimal",
                        format!("{min}–{max}"),
                        String::new(),
                        String::new(),
                        Vec::new(),
                    ),
                    AttributeKind::Text { max_len } => (
                        "text",
                        String::new(),
                        String::new(),
                        max_len.to_string(),
                        Vec::new(),
                    ),
                    AttributeKind::Choice { options } => (
                        "select",
                        String::new(),
                        String::new(),
                        String::new(),
                        options
                            .iter()
                            .map(|o| Choice {
                                code: o.code.clone(),
                                name: if zh { &o.name_zh } else { &o.name_en }.clone(),
                            })
                            .collect(),
                    ),
                    AttributeKind::Boolean => (
                        "select",
                        String::new(),
                        String::new(),
                        String::new(),
                        [("yes", "survey.yes"), ("no", "survey.no")]
                            .into_iter()
                            .map(|(code, key)| Choice {
                                code: code.to_owned(),
                                name: tr.t(key),
                            })
                            .collect(),
                    ),
                };
                AttributeInput {
                    key: spec.key.clone(),
                    label,
                    required: spec.required,
                    input,
                    hint,
                    min,
                    max,
                    options,
                }
            })
            .collect();
        Self {
            code: resource_type.code.clone(),
            name: resource_type.name(locale).to_owned(),
            unit,
            attributes,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct AssignmentQuery {
    done: Option<String>,
    version: Option<i64>,
    /// The type the add-row form shows the fields of.
    add_type: Option<String>,
    /// A download of one table: `below`, `versions`, `diff`, or the rows (the default).
    table: Option<String>,
    format: Option<String>,
}

/// One of the assignment page's tables as a download, for the version shown: every row of
/// it, where the page shows the first [`ROWS_SHOWN`]. Read through the same scoped, masked
/// reads as the page.
async fn assignment_download(
    state: &AppState,
    page: &PageContext,
    id: i64,
    query: &AssignmentQuery,
    format: ExportFormat,
) -> PageResult {
    let current = page.require_user()?;
    let scope = current.actor.scope();
    let view = state
        .db
        .assignment_view(scope, id)
        .await
        .map_err(page_err(page))?;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(page))?;
    let tr = &page.tr;
    let locale = tr.locale;
    let now = muster_storage::now();
    let chosen = chosen_table(
        query.table.as_deref(),
        "rows",
        &[
            ("below", "below"),
            ("versions", "versions"),
            ("diff", "diff"),
            ("rows", "rows"),
        ],
    )
    .map_err(|e| page.error(e))?;
    let table = match chosen {
        "below" => {
            let lines: Vec<AssignmentLine> = view
                .children
                .iter()
                .map(|c| AssignmentLine::of(c, &view.round, tr, now))
                .collect();
            assignments_table(tr, "survey.below", &lines)
        }
        "versions" => versions_table(tr, &view.versions),
        "diff" => {
            let diff = state
                .db
                .submission_diff(scope, id, query.version)
                .await
                .map_err(page_err(page))?
                .map(|d| DiffView::of(d.from_version, d.to_version, &d.diff, &taxonomy, locale));
            diff_table(tr, diff.as_ref())
        }
        _ => {
            let shown = match query.version {
                Some(v) => view.versions.iter().find(|s| s.version == v),
                None => view.versions.first(),
            };
            let rows = match shown {
                Some(submission) => state
                    .db
                    .submission_records(scope, submission.id)
                    .await
                    .map_err(page_err(page))?,
                None => Vec::new(),
            };
            let lines: Vec<RecordLine> = rows
                .iter()
                .map(|(row, draft)| RecordLine::of(*row, draft, &taxonomy, locale))
                .collect();
            let quantities: Vec<f64> = rows.iter().map(|(_, d)| d.quantity).collect();
            rows_table(tr, &lines, &quantities)
        }
    };
    sheet_download(format, &format!("assignment-{id}"), &[table]).map_err(|e| page.error(e))
}

fn versions_table(tr: &Tr, versions: &[muster_storage::Submission]) -> Table {
    Table {
        title: tr.t("survey.versions"),
        headers: vec![
            tr.t("survey.version"),
            tr.t("survey.source_label"),
            tr.t("potential.records"),
            tr.t("potential.quantity"),
            tr.t("potential.status_label"),
            tr.t("survey.submitted_at"),
            tr.t("survey.comment"),
        ],
        rows: versions
            .iter()
            .map(|s| {
                let source = tr.t(&format!("survey.source.{}", s.source));
                vec![
                    TableCell::Integer(s.version),
                    text(match &s.file_name {
                        Some(file) => format!("{source} {file}"),
                        None => source,
                    }),
                    TableCell::Integer(s.row_count),
                    TableCell::Number(s.total_quantity),
                    text(tr.t(&status_key(&s.status))),
                    text(format_utc(s.submitted_at)),
                    text(s.review_comment.clone().unwrap_or_default()),
                ]
            })
            .collect(),
    }
}

/// The rows of a version; `quantities` are the rows' own figures, as numbers.
fn rows_table(tr: &Tr, lines: &[RecordLine], quantities: &[f64]) -> Table {
    Table {
        title: tr.t("survey.rows"),
        headers: vec![
            tr.t("potential.import.row"),
            tr.t("taxonomy.type"),
            tr.t("potential.quantity"),
            tr.t("survey.unit_of"),
            tr.t("potential.holder"),
            tr.t("potential.site"),
            tr.t("survey.region"),
        ],
        rows: lines
            .iter()
            .zip(quantities)
            .map(|(l, quantity)| {
                vec![
                    TableCell::Integer(i64::from(l.row)),
                    text(l.type_name.clone()),
                    TableCell::Number(*quantity),
                    text(l.unit.clone()),
                    text(l.holder.clone()),
                    text(l.site.clone()),
                    text(l.region.clone()),
                ]
            })
            .collect(),
    }
}

/// What a version changed, a line each as on screen, the screen's `+`, `−` and `~` said in
/// words (a cell starting with `+` would be escaped against formulas in the CSV).
fn diff_table(tr: &Tr, diff: Option<&DiffView>) -> Table {
    let line = |mark: &str, row: String, l: &RecordLine, quantity: String, last: String| {
        vec![
            text(tr.t(mark)),
            text(row),
            text(l.type_name.clone()),
            text(format!("{quantity} {}", l.unit)),
            text(l.holder.clone()),
            text(l.site.clone()),
            text(last),
        ]
    };
    let mut rows = Vec::new();
    if let Some(d) = diff {
        let added = d.added.iter().map(|l| ("survey.diff_added", l));
        let removed = d.removed.iter().map(|l| ("survey.diff_removed", l));
        for (mark, l) in added.chain(removed) {
            rows.push(line(
                mark,
                l.row.to_string(),
                l,
                l.quantity.clone(),
                l.region.clone(),
            ));
        }
        for c in &d.changed {
            rows.push(line(
                "survey.diff_changed",
                format!("{} → {}", c.before.row, c.after.row),
                &c.after,
                format!("{} → {}", c.before.quantity, c.after.quantity),
                c.fields.clone(),
            ));
        }
    }
    Table {
        title: tr.t("survey.diff"),
        headers: vec![
            String::new(),
            tr.t("potential.import.row"),
            tr.t("taxonomy.type"),
            tr.t("potential.quantity"),
            tr.t("potential.holder"),
            tr.t("potential.site"),
            tr.t("survey.region"),
        ],
        rows,
    }
}

async fn render_assignment(
    state: &AppState,
    page: &PageContext,
    id: i64,
    shown: Shown<'_>,
    outcome: UploadOutcome,
    http_status: StatusCode,
) -> PageResult {
    let Shown { version, add_type } = shown;
    let current = page.require_user()?;
    let actor = &current.actor;
    let scope = actor.scope();
    let view: AssignmentView = state
        .db
        .assignment_view(scope, id)
        .await
        .map_err(page_err(page))?;
    let taxonomy = state.db.taxonomy().await.map_err(page_err(page))?;
    let locale = page.tr.locale;
    let now = muster_storage::now();
    let round = &view.round;
    let shown = match version {
        Some(v) => view.versions.iter().find(|s| s.version == v),
        None => view.versions.first(),
    };
    let (rows, more_rows) = match shown {
        Some(submission) => {
            let rows = state
                .db
                .submission_records(scope, submission.id)
                .await
                .map_err(page_err(page))?;
            let more = rows.len().saturating_sub(ROWS_SHOWN);
            (
                rows.iter()
                    .take(ROWS_SHOWN)
                    .map(|(row, draft)| RecordLine::of(*row, draft, &taxonomy, locale))
                    .collect(),
                more,
            )
        }
        None => (Vec::new(), 0),
    };
    let diff = state
        .db
        .submission_diff(scope, id, shown.map(|s| s.version))
        .await
        .map_err(page_err(page))?
        .map(|d| DiffView::of(d.from_version, d.to_version, &d.diff, &taxonomy, locale));
    let duplicates = state
        .db
        .duplicate_holdings(scope, id)
        .await
        .map_err(page_err(page))?
        .into_iter()
        .map(|d| DuplicateLine {
            row: d.row_number,
            other: d.other.map(|o| {
                let status = page.tr.t(&status_key(o.status.as_str()));
                (o.assignment_id, o.name, status)
            }),
        })
        .collect();
    let parent_region = view.parent.as_ref().map(Assignment::region_path);
    let reviewer = match (view.assignment.parent_id, &parent_region) {
        (Some(_), None) => false,
        _ => may_review(
            actor,
            reviewer_region(parent_region.as_ref(), &round.region_path),
        ),
    };
    let status = view.assignment.status();
    let open = round.status.is_open();
    let may_submit = open
        && status != AssignmentStatus::Approved
        && (actor.administers()
            || match view.assignment.organization_id {
                Some(_) => actor.has_role(Role::MemberUnitOfficer),
                None => {
                    (actor.has_role(Role::OfficeStaff) || actor.has_role(Role::WorkstationStaff))
                        && actor.scope().subtree().as_str() == view.assignment.region_path
                }
            });
    let may_review_now = open
        && reviewer
        && matches!(
            status,
            AssignmentStatus::Submitted | AssignmentStatus::Approved
        );
    let latest_version = view.versions.first().map(|s| s.version);
    let versions = view
        .versions
        .iter()
        .map(|s| VersionLine {
            version: s.version,
            source: page.tr.t(&format!("survey.source.{}", s.source)),
            file_name: s.file_name.clone().unwrap_or_default(),
            rows: s.row_count,
            total: format_quantity(s.total_quantity),
            status_label: page.tr.t(&status_key(&s.status)),
            submitted_at: format_utc(s.submitted_at),
            comment: s.review_comment.clone().unwrap_or_default(),
        })
        .collect();
    Ok((
        http_status,
        AssignmentPage {
            layout: page.layout("surveys"),
            duplicates,
            round: RoundSummary::of(round, &taxonomy, &page.tr),
            assignment: AssignmentLine::of(&view.assignment, round, &page.tr, now),
            parent: view
                .parent
                .as_ref()
                .map(|p| AssignmentLine::of(p, round, &page.tr, now)),
            children: view
                .children
                .iter()
                .map(|c| AssignmentLine::of(c, round, &page.tr, now))
                .collect(),
            versions,
            rows,
            more_rows,
            diff,
            outcome,
            may_submit,
            may_edit_rows: may_submit && version.is_none_or(|v| Some(v) == latest_version),
            current_submission: view.versions.first().map_or(0, |s| s.id),
            may_extend: open && reviewer && view.assignment.first_submitted_at.is_none(),
            may_review: may_review_now,
            types: round
                .type_codes
                .iter()
                .map(|code| Choice {
                    code: code.clone(),
                    name: type_name(&taxonomy, code, locale),
                })
                .collect(),
            table_exports: AssignmentExports::of(id, version),
            add_form: add_type
                .filter(|code| round.type_codes.iter().any(|t| t == code))
                .or_else(|| round.type_codes.first().map(String::as_str))
                .and_then(|code| taxonomy.resource_type(code))
                .map(|t| AddRowForm::of(t, &taxonomy, &page.tr)),
            region: view.assignment.region_code.clone().unwrap_or_default(),
            max_mib: MAX_UPLOAD_BYTES / (1024 * 1024),
        },
    )
        .into_response())
}

pub(crate) async fn assignment(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Query(query): Query<AssignmentQuery>,
) -> PageResult {
    let notice = query
        .done
        .as_deref()
        .filter(|d| ["stored", "unchanged", "approved", "returned"].contains(d))
        .map(|d| page.tr.t(&format!("survey.done.{d}")));
    let outcome = UploadOutcome {
        notice,
        ..UploadOutcome::default()
    };
    if let Some(format) =
        ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?
    {
        return assignment_download(&state, &page, id, &query, format).await;
    }
    let shown = Shown {
        version: query.version,
        add_type: query.add_type.as_deref(),
    };
    render_assignment(&state, &page, id, shown, outcome, StatusCode::OK).await
}

/// After a write: back to the assignment page with a notice, or the page again with what
/// was refused.
/// What an assignment page shows: a version (the latest by default), and the type whose
/// fields the add-row form offers (the round's first by default; a type outside the round
/// is passed over for it).
#[derive(Debug, Clone, Copy, Default)]
struct Shown<'a> {
    version: Option<i64>,
    add_type: Option<&'a str>,
}

async fn after_write(
    state: &AppState,
    page: &PageContext,
    id: i64,
    add_type: Option<&str>,
    result: Result<&'static str, StorageError>,
) -> PageResult {
    // A refused row comes back with the form of the type it was for.
    let shown = Shown {
        version: None,
        add_type,
    };
    let current = page.require_user()?;
    match result {
        Ok(done) => {
            Ok(Redirect::to(&format!("/surveys/assignments/{id}?done={done}")).into_response())
        }
        Err(StorageError::SheetRejected(problems)) => {
            let outcome = UploadOutcome::refused(
                state,
                current.user.id,
                page.tr.t("survey.refused"),
                problems,
            );
            render_assignment(
                state,
                page,
                id,
                shown,
                outcome,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(
            error @ (StorageError::Conflict { .. }
            | StorageError::Transition(_)
            | StorageError::Refused { .. }
            | StorageError::Forbidden(_)),
        ) => {
            let error = WebError::from(error);
            let status = error.classify().0;
            render_assignment(
                state,
                page,
                id,
                shown,
                UploadOutcome::failed(&error, &page.tr),
                status,
            )
            .await
        }
        Err(other) => Err(page.error(other.into())),
    }
}

fn submitted(outcome: SubmitOutcome) -> &'static str {
    match outcome {
        SubmitOutcome::Stored { .. } => "stored",
        SubmitOutcome::Unchanged { .. } => "unchanged",
    }
}

/// A spreadsheet for an assignment (multipart: `csrf`, `file`).
pub(crate) async fn upload(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    mut multipart: Multipart,
) -> PageResult {
    let current = page.require_user()?;
    let refuse = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            WebError::TooLarge {
                limit_mib: MAX_UPLOAD_BYTES / (1024 * 1024),
            }
        } else {
            let reason = e.body_text();
            let zh = format!("上传的文件未能读取（{reason}）");
            WebError::refused("file", reason, zh)
        }
    };
    let (mut csrf, mut file_name, mut bytes) = (String::new(), String::new(), Vec::new());
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(page.error(refuse(e))),
        };
        match field.name().unwrap_or("") {
            "csrf" => csrf = field.text().await.map_err(|e| page.error(refuse(e)))?,
            "file" => {
                file_name = field.file_name().unwrap_or("upload").to_owned();
                bytes = field
                    .bytes()
                    .await
                    .map_err(|e| page.error(refuse(e)))?
                    .to_vec();
            }
            _ => {}
        }
    }
    current.check_csrf(Some(&csrf)).map_err(|e| page.error(e))?;
    if bytes.is_empty() {
        let outcome = UploadOutcome {
            error: Some(page.tr.t("potential.import.no_file")),
            ..UploadOutcome::default()
        };
        return render_assignment(
            &state,
            &page,
            id,
            Shown::default(),
            outcome,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let result = state
        .db
        .submit_survey_file(&current.actor, id, bytes, &file_name)
        .await
        .map(submitted);
    after_write(&state, &page, id, None, result).await
}

/// The form's fields, in the columns the importer knows; `nothing=1` reports that nothing
/// is held (an empty version).
pub(crate) async fn add_row(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let current = page.require_user()?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    current
        .check_csrf(Some(get("csrf")))
        .map_err(|e| page.error(e))?;
    let columns: Vec<(&str, &str)> = if get("nothing") == "1" {
        Vec::new()
    } else {
        let standard = [
            "type_code",
            "quantity",
            "quality",
            "holder_kind",
            "holder_name",
            "holder_id_number",
            "holder_phone",
            "site",
            "region_code",
            "lat",
            "lon",
        ]
        .into_iter()
        .map(|key| (key, get(key).trim()));
        // The type's attributes, by key; an empty one is left out, as an empty cell is.
        let attributes = fields.iter().filter_map(|(name, value)| {
            let key = name.strip_prefix("attr.")?;
            Some((key, value.trim())).filter(|(_, v)| !v.is_empty())
        });
        standard.chain(attributes).collect()
    };
    let add_type = Some(get("type_code").trim()).filter(|t| !t.is_empty());
    let result = state
        .db
        .submit_survey_form_row(&current.actor, id, &columns)
        .await
        .map(submitted);
    after_write(&state, &page, id, add_type, result).await
}

/// A row correction's form: the version the rows table showed, and for a quantity the new one.
#[derive(Debug, Deserialize)]
pub(crate) struct RowEditForm {
    csrf: String,
    submission: i64,
    #[serde(default)]
    quantity: String,
}

/// Corrects one row's quantity of the current version, from the rows table. What does not
/// read as a number goes to storage as NaN, which refuses it as a quantity like an import.
pub(crate) async fn correct_row_quantity(
    State(state): State<AppState>,
    page: PageContext,
    Path((id, row)): Path<(i64, u32)>,
    Form(form): Form<RowEditForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    // Text that is no number reaches the check as NaN, which refuses it with the field named.
    let quantity = muster_domain::number::read_decimal(&form.quantity).unwrap_or(f64::NAN);
    let result = state
        .db
        .edit_survey_form_row(
            &current.actor,
            id,
            form.submission,
            row,
            FormRowEdit::Quantity(quantity),
        )
        .await
        .map(submitted);
    after_write(&state, &page, id, None, result).await
}

/// Takes one row out of the current version, from the rows table.
pub(crate) async fn remove_row(
    State(state): State<AppState>,
    page: PageContext,
    Path((id, row)): Path<(i64, u32)>,
    Form(form): Form<RowEditForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let result = state
        .db
        .edit_survey_form_row(
            &current.actor,
            id,
            form.submission,
            row,
            FormRowEdit::Remove,
        )
        .await
        .map(submitted);
    after_write(&state, &page, id, None, result).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReviewForm {
    csrf: String,
    #[serde(default)]
    comment: String,
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<ReviewForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let result = state
        .db
        .approve_assignment(&current.actor, id)
        .await
        .map(|_| "approved");
    after_write(&state, &page, id, None, result).await
}

pub(crate) async fn send_back(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<ReviewForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let result = state
        .db
        .send_back_assignment(&current.actor, id, &form.comment)
        .await
        .map(|_| "returned");
    after_write(&state, &page, id, None, result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_date_is_the_last_millisecond_of_that_day_in_utc() {
        let cases = [
            ("1970-01-01", Some(86_399_999)),
            ("2026-11-25", Some(1_795_651_199_999)),
            ("2024-02-29", Some(1_709_251_199_999)),
            ("2026-13-01", None),
            ("yesterday", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_deadline(text).map(|t| t.as_millis()),
                expected,
                "{text}"
            );
        }
    }
}
