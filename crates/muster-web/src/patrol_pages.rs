//! Patrol routes and inspection campaigns as pages: `/patrols` (the routes the reader
//! walks, each with its checkpoints and a box for the code on a checkpoint's plate, and for
//! office and workstation staff the form to set up a route and, under each route, the forms
//! to change or retire it), `/campaigns` (the campaigns
//! covering the reader's region and the form to start one) and `/campaigns/{id}` (a
//! campaign's progress by region, with its forecast). The campaigns list and a campaign's
//! progress by region download as CSV or XLSX with `format=csv|xlsx`.
//!
//! Each form is a plain post calling the same storage function as `facilities_api.rs`
//! (`create_route`, `update_route`, `retire_route`, `check_in`, `create_campaign`); storage decides who may
//! (`may_manage_facilities` sets up routes and campaigns) and where (the reader's scope).
//! The pages only hide the forms storage would refuse. A refused form comes back (422)
//! with what was typed and each problem beside its field, in the reader's language; a
//! write that succeeds redirects (303), so a reload never posts twice.
//!
//! A checkpoint line is `code | name | latitude | longitude` (ASCII `|` or full-width
//! `｜`), the checkpoint's four fields in the domain's order. The route list names every
//! checkpoint, but shows codes and positions only to those who may set up routes: the code
//! is printed on a plate at the spot, and reading it there is what a check-in proves.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use muster_domain::RegionPath;
use muster_domain::facility::FacilityKind;
use muster_domain::facility::campaign::CampaignTarget;
use muster_domain::facility::patrol::{Checkpoint, RouteDraft};
use muster_domain::sheet::{Table, TableCell};
use muster_domain::time::CivilDate;
use muster_storage::{Campaign, CampaignChanges, NewCampaign, StorageError, may_manage_facilities};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::WebError;
use crate::facilities_pages::{percent_cell, percent_header};
use crate::facility_forms::{Choice, FieldError, joined, lines, said};
use crate::i18n::Tr;
use crate::page_parts::{Exports, download, list_item_field, page_err, refused_status};
use crate::pages::{Layout, PageContext, PageError, PageResult};
use crate::potential_view::{ExportFormat, text};

/// The separators between a checkpoint line's columns.
const CHECKPOINT_SEPARATORS: [char; 2] = ['|', '｜'];

/// What the route form offers as one patrol's time limit before anything is typed.
const DEFAULT_WINDOW_MINUTES: u32 = 60;

/// A query saying what the redirect after a write did (`?done=…`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// A campaign page's query: what the redirect after a write did (`?done=…`), or
/// `format=csv|xlsx` to download its table instead.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CampaignQuery {
    done: Option<String>,
    format: Option<String>,
}

// ---------------------------------------------------------------- patrol routes

/// One checkpoint of a listed route; `code` and `position` are shown only to those who may
/// set up routes.
#[derive(Debug)]
struct CheckpointLine {
    code: String,
    name: String,
    position: String,
}

#[derive(Debug)]
struct RouteLine {
    id: i64,
    name: String,
    region_code: String,
    /// The grid's name, where the route has one the reader's grid list holds.
    grid: Option<String>,
    window_minutes: i64,
    checkpoints: Vec<CheckpointLine>,
    /// The change form: the route as stored, or as typed when a change was refused.
    change: RouteForm,
    /// The change refused, said in the reader's language: the form is shown open.
    change_refused: Option<String>,
}

/// The route form as typed, kept to show again with a refusal.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RouteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    grid_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    window_minutes: String,
    /// One checkpoint a line: `code | name | latitude | longitude`.
    #[serde(default)]
    checkpoints: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "facility_patrols.html")]
struct PatrolsPage {
    layout: Layout,
    routes: Vec<RouteLine>,
    /// A refused check-in, said in the reader's language.
    message: Option<String>,
    /// What a check-in did: the checkpoint reached and those still to visit.
    remaining: Option<String>,
    /// Whether to show the route form and the checkpoints' codes (`may_manage_facilities`).
    can_manage: bool,
    grids: Vec<Choice>,
    form: RouteForm,
    errors: Vec<FieldError>,
    /// What the write before the redirect did, as a translation key.
    notice: Option<&'static str>,
}

impl PatrolsPage {
    fn error(&self, field: &str) -> String {
        joined(&self.errors, field, self.layout.tr)
    }
}

/// What the patrols page shows besides the routes: a check-in's outcome, or the route form
/// as typed with its problems, or the notice of a route set up.
#[derive(Debug, Default)]
struct PatrolsShown {
    message: Option<String>,
    remaining: Option<String>,
    form: Option<RouteForm>,
    errors: Vec<FieldError>,
    notice: Option<&'static str>,
    /// A refused change of a route: its id, the form as typed and the problems said.
    change: Option<(i64, RouteForm, String)>,
}

async fn render_patrols(state: &AppState, page: &PageContext, shown: PatrolsShown) -> PageResult {
    let current = page.require_user()?;
    let actor = &current.actor;
    let can_manage = may_manage_facilities(actor);
    let routes = state.db.routes(actor).await.map_err(page_err(page))?;
    // Only the form needs the grids (a grid member's patrols page does not).
    let grids = if can_manage {
        state.db.grids(actor, None).await.map_err(page_err(page))?
    } else {
        Vec::new()
    };
    let form = shown.form.unwrap_or_else(|| RouteForm {
        window_minutes: DEFAULT_WINDOW_MINUTES.to_string(),
        ..RouteForm::default()
    });
    let mut change = shown.change;
    let routes: Vec<RouteLine> = routes
        .iter()
        .map(|route| {
            let (change, change_refused) = match change.take() {
                Some((id, typed, said)) if id == route.id => (typed, Some(said)),
                other => {
                    change = other;
                    (RouteForm::of(route), None)
                }
            };
            RouteLine {
                id: route.id,
                name: route.name.clone(),
                region_code: route.region_code.clone(),
                grid: route
                    .grid_id
                    .and_then(|id| grids.iter().find(|g| g.id == id))
                    .map(|g| g.name.clone()),
                window_minutes: route.window_minutes,
                checkpoints: route
                    .draft()
                    .checkpoints
                    .into_iter()
                    .map(|c| CheckpointLine {
                        position: format!("{}, {}", degrees(c.latitude), degrees(c.longitude)),
                        code: c.code,
                        name: c.name,
                    })
                    .collect(),
                change,
                change_refused,
            }
        })
        .collect();
    let grids = grids
        .into_iter()
        .map(|g| Choice {
            selected: form.grid_id.trim() == g.id.to_string(),
            value: g.id.to_string(),
            label: format!("{}（{}）", g.name, g.region_code),
        })
        .collect();
    // A refused change of a route no longer listed (retired meanwhile) is said at the top.
    let unlisted = change.map(|(_, _, said)| said);
    let refused = !shown.errors.is_empty()
        || unlisted.is_some()
        || routes
            .iter()
            .any(|r: &RouteLine| r.change_refused.is_some());
    let response = PatrolsPage {
        layout: page.layout("patrols"),
        routes,
        message: unlisted.or(shown.message),
        remaining: shown.remaining,
        can_manage,
        grids,
        form,
        errors: shown.errors,
        notice: shown.notice,
    }
    .into_response();
    Ok(refused_status(response, refused))
}

/// The patrol routes the reader walks, each with a box for the code on a checkpoint's
/// plate, and the form to set up a route for those who may.
pub(crate) async fn patrols(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    let notice = match query.done.as_deref() {
        Some("route") => Some("patrols.created"),
        Some("changed") => Some("patrols.changed"),
        Some("retired") => Some("patrols.retired"),
        _ => None,
    };
    let shown = PatrolsShown {
        notice,
        ..PatrolsShown::default()
    };
    render_patrols(&state, &page, shown).await
}

/// A coordinate to five decimals (about a metre: enough to find a plate by), without
/// trailing zeros.
fn degrees(value: f64) -> String {
    let text = format!("{value:.5}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The column a checkpoint problem's field path (`checkpoints[2].code`) names, in the
/// reader's language.
fn column_label(column: &str, tr: Tr) -> String {
    match column {
        "code" | "name" | "position" => tr.t(&format!("patrols.column.{column}")),
        other => other.to_owned(),
    }
}

impl RouteForm {
    /// A stored route as the change form shows it (coordinates as stored, so saving it
    /// unchanged moves nothing).
    fn of(route: &muster_storage::PatrolRoute) -> Self {
        let draft = route.draft();
        let checkpoints = draft
            .checkpoints
            .iter()
            .map(|c| format!("{} | {} | {} | {}", c.code, c.name, c.latitude, c.longitude))
            .collect::<Vec<_>>()
            .join("\n");
        Self {
            name: draft.name,
            window_minutes: draft.window_minutes.to_string(),
            checkpoints,
            ..Self::default()
        }
    }

    /// The grid and the route as storage takes them, or every problem the form shows: a
    /// checkpoint line that is not four columns ending in two numbers, and what the
    /// domain's checks say of the route (a checkpoint's problem on its line as the reader
    /// counts it, blank lines included). Storage checks the route again, and the place
    /// (scope, grid).
    fn route(&self, tr: Tr) -> Result<(Option<i64>, RouteDraft), Vec<FieldError>> {
        let chinese = tr.locale.starts_with("zh");
        let mut errors = Vec::new();
        let grid_id = match self.grid_id.trim() {
            "" => None,
            text => text.parse::<i64>().map(Some).unwrap_or_else(|_| {
                errors.push(FieldError {
                    field: "grid_id",
                    message: tr
                        .t("facilities.new.not_a_choice")
                        .replace("%{text}", &format!("{text:?}")),
                });
                None
            }),
        };
        let window_minutes = self.window_minutes.trim().parse::<u32>().ok();
        if window_minutes.is_none() {
            errors.push(FieldError {
                field: "window_minutes",
                message: tr
                    .t("patrols.not_minutes")
                    .replace("%{text}", &format!("{:?}", self.window_minutes.trim())),
            });
        }
        let mut checkpoints = Vec::new();
        let mut line_of = Vec::new();
        let mut misshapen = false;
        for (line, content) in lines(&self.checkpoints) {
            let columns: Vec<&str> = content
                .split(CHECKPOINT_SEPARATORS)
                .map(str::trim)
                .collect();
            let position = match columns.as_slice() {
                [_, _, latitude, longitude] => latitude
                    .parse::<f64>()
                    .ok()
                    .zip(longitude.parse::<f64>().ok()),
                _ => None,
            };
            match position {
                Some((latitude, longitude)) => {
                    checkpoints.push(Checkpoint {
                        code: columns[0].to_owned(),
                        name: columns[1].to_owned(),
                        latitude,
                        longitude,
                    });
                    line_of.push(line);
                }
                None => {
                    misshapen = true;
                    errors.push(FieldError {
                        field: "checkpoints",
                        message: tr
                            .t("patrols.line_shape")
                            .replace("%{line}", &line.to_string())
                            .replace("%{text}", &format!("{content:?}")),
                    });
                }
            }
        }
        let draft = RouteDraft {
            name: self.name.trim().to_owned(),
            // An unreadable limit is already named above; any valid one stands in for it
            // so that the domain's checks say only what else is wrong.
            window_minutes: window_minutes.unwrap_or(DEFAULT_WINDOW_MINUTES),
            checkpoints,
        };
        if let Err(problems) = draft.validate() {
            for problem in problems {
                let expected = if chinese {
                    problem.expected_zh.clone()
                } else {
                    problem.expected.clone()
                };
                // `checkpoints[3].code`: the checkpoint's line and its column.
                let at = list_item_field(&problem.field, "checkpoints");
                let (field, message) = match (problem.field.as_str(), at) {
                    (_, Some((index, column))) => (
                        "checkpoints",
                        tr.t("patrols.problem")
                            .replace(
                                "%{line}",
                                &line_of.get(index).copied().unwrap_or(index + 1).to_string(),
                            )
                            .replace("%{column}", &column_label(column, tr))
                            .replace("%{problem}", &expected),
                    ),
                    ("name", None) => ("name", expected),
                    ("window_minutes", None) => ("window_minutes", expected),
                    // Too few checkpoints because some lines could not be read: those
                    // lines are named already.
                    ("checkpoints", None) if misshapen => continue,
                    ("checkpoints", None) => ("checkpoints", expected),
                    (_, None) => ("form", expected),
                };
                errors.push(FieldError { field, message });
            }
        }
        if errors.is_empty() {
            Ok((grid_id, draft))
        } else {
            Err(errors)
        }
    }
}

/// Storage's refusal of a route beside the field it is about: a region or grid not found
/// (or outside the scope) beside the field that named it, a refusal of the route itself at
/// the top. Anything else (a role's refusal, a failure) is an error page.
fn route_problem(error: StorageError, tr: Tr) -> Result<FieldError, StorageError> {
    let field = match &error {
        StorageError::NotFound {
            entity: "region", ..
        }
        | StorageError::OutOfScope {
            entity: "region", ..
        } => "region_code",
        StorageError::NotFound { entity: "grid", .. }
        | StorageError::OutOfScope { entity: "grid", .. } => "grid_id",
        StorageError::Refused { .. } | StorageError::Conflict { .. } => "form",
        _ => return Err(error),
    };
    Ok(FieldError {
        field,
        message: said(error, tr.locale),
    })
}

/// Sets up the route and shows the patrols page with it, or shows the form again with its
/// problems.
pub(crate) async fn create_route(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<RouteForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let errors = match form.route(page.tr) {
        Err(errors) => errors,
        Ok((grid_id, draft)) => match state
            .db
            .create_route(&current.actor, form.region_code.trim(), grid_id, &draft)
            .await
        {
            Ok(route) => {
                return Ok(
                    Redirect::to(&format!("/patrols?done=route#route-{}", route.id))
                        .into_response(),
                );
            }
            Err(error) => vec![route_problem(error, page.tr).map_err(page_err(&page))?],
        },
    };
    let shown = PatrolsShown {
        form: Some(form),
        errors,
        ..PatrolsShown::default()
    };
    render_patrols(&state, &page, shown).await
}

/// Changes a route's name, time limit and checkpoints and shows the patrols page, or shows
/// the route's change form again, open, with what was typed and why it was refused.
pub(crate) async fn update_route(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<RouteForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let errors = match form.route(page.tr) {
        Err(errors) => errors,
        Ok((_, draft)) => match state.db.update_route(&current.actor, id, &draft).await {
            Ok(_) => {
                return Ok(
                    Redirect::to(&format!("/patrols?done=changed#route-{id}")).into_response()
                );
            }
            Err(error) => vec![route_problem(error, page.tr).map_err(page_err(&page))?],
        },
    };
    let route = state
        .db
        .route(&current.actor, id)
        .await
        .map_err(page_err(&page))?;
    let problems: Vec<String> = errors.into_iter().map(|e| e.message).collect();
    let said = format!(
        "{} {}",
        page.tr
            .t("patrols.change_refused")
            .replace("%{name}", &route.name),
        problems.join("; ")
    );
    let shown = PatrolsShown {
        change: Some((id, form, said)),
        ..PatrolsShown::default()
    };
    render_patrols(&state, &page, shown).await
}

/// Retires a route and shows the patrols page without it; a refusal (retired meanwhile) is
/// said at the top of the page.
pub(crate) async fn retire_route(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    match state.db.retire_route(&current.actor, id).await {
        Ok(()) => Ok(Redirect::to("/patrols?done=retired").into_response()),
        Err(error) => {
            let problem = route_problem(error, page.tr).map_err(page_err(&page))?;
            let shown = PatrolsShown {
                message: Some(problem.message),
                ..PatrolsShown::default()
            };
            let response = render_patrols(&state, &page, shown).await?;
            Ok(refused_status(response, true))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CheckInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// Checks in at the checkpoint whose code was typed, and says what is left of the patrol.
pub(crate) async fn check_in(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<CheckInForm>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    match state
        .db
        .check_in(&user.actor, id, &form.code, None, muster_storage::now())
        .await
    {
        Ok(outcome) => {
            let remaining = if outcome.remaining.is_empty() {
                page.tr.t("facilities.patrol_complete")
            } else {
                format!(
                    "{} {}",
                    page.tr.t("facilities.patrol_remaining"),
                    outcome.remaining.join(", ")
                )
            };
            let shown = PatrolsShown {
                remaining: Some(format!("{} ✓ {remaining}", outcome.checkpoint)),
                ..PatrolsShown::default()
            };
            render_patrols(&state, &page, shown).await
        }
        Err(e @ StorageError::Refused { .. }) => {
            let shown = PatrolsShown {
                message: Some(WebError::from(e).said_in(page.tr.locale)),
                ..PatrolsShown::default()
            };
            render_patrols(&state, &page, shown).await
        }
        Err(e) => Err(page.error(e.into())),
    }
}

// ---------------------------------------------------------------- campaigns

/// A campaign as the list and its page show it.
#[derive(Debug)]
struct CampaignLine {
    id: i64,
    name: String,
    region_code: String,
    kind: String,
    target: String,
    start: String,
    target_date: String,
}

impl CampaignLine {
    fn of(campaign: &Campaign, tr: Tr) -> Self {
        let kind = match campaign.facility_kind.as_deref() {
            None | Some("") => tr.t("campaigns.all_kinds"),
            Some(kind) => FacilityKind::parse(kind)
                .map(|k| tr.t(&format!("facilities.kind.{}", k.as_str())))
                .unwrap_or_else(|| kind.to_owned()),
        };
        let target = CampaignTarget::parse(&campaign.target)
            .map(|t| tr.t(&format!("campaigns.target.{}", t.as_str())))
            .unwrap_or_else(|| campaign.target.clone());
        Self {
            id: campaign.id,
            name: campaign.name.clone(),
            region_code: campaign.region_code.clone(),
            kind,
            target,
            start: CivilDate::from_days(campaign.start_day).to_string(),
            target_date: CivilDate::from_days(campaign.target_day).to_string(),
        }
    }
}

/// The campaign form as typed, kept to show again with a refusal: the fields of the API's
/// `NewCampaignRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CampaignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    region_code: String,
    /// Empty for every kind.
    #[serde(default)]
    facility_kind: String,
    #[serde(default)]
    target: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    start: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    target_date: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "campaigns.html")]
struct CampaignsPage {
    layout: Layout,
    campaigns: Vec<CampaignLine>,
    can_manage: bool,
    kinds: Vec<Choice>,
    targets: Vec<Choice>,
    form: CampaignForm,
    errors: Vec<FieldError>,
    /// After a campaign was removed.
    removed: bool,
    exports: Exports,
}

impl CampaignsPage {
    fn error(&self, field: &str) -> String {
        joined(&self.errors, field, self.layout.tr)
    }
}

impl CampaignForm {
    /// The campaign as storage takes it, or every problem the form itself shows. Storage
    /// checks the name, the dates' order and the region.
    fn new_campaign(&self, tr: Tr) -> Result<NewCampaign, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut refuse = |field: &'static str, key: &str, text: &str| {
            errors.push(FieldError {
                field,
                message: tr.t(key).replace("%{text}", &format!("{:?}", text.trim())),
            });
        };
        let facility_kind = match self.facility_kind.trim() {
            "" => None,
            text => {
                let kind = FacilityKind::parse(text);
                if kind.is_none() {
                    refuse("facility_kind", "facilities.new.unknown_kind", text);
                }
                kind
            }
        };
        let target = CampaignTarget::parse(self.target.trim());
        if target.is_none() {
            refuse("target", "campaigns.unknown_target", &self.target);
        }
        let start = CivilDate::parse(self.start.trim());
        if start.is_none() {
            refuse("start", "facilities.new.not_a_date", &self.start);
        }
        let target_date = CivilDate::parse(self.target_date.trim());
        if target_date.is_none() {
            refuse(
                "target_date",
                "facilities.new.not_a_date",
                &self.target_date,
            );
        }
        match (target, start, target_date) {
            (Some(target), Some(start), Some(target_date)) if errors.is_empty() => {
                Ok(NewCampaign {
                    name: self.name.trim().to_owned(),
                    region_code: self.region_code.trim().to_owned(),
                    facility_kind,
                    target,
                    start,
                    target_date,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Storage's refusal of a campaign beside its field: the name, the target date, a region
/// not found or outside the scope. Anything else (a role's refusal, a failure) is an error
/// page.
fn campaign_problem(error: StorageError, tr: Tr) -> Result<FieldError, StorageError> {
    let field = match &error {
        StorageError::Refused { field, .. } if *field == "target_date" => "target_date",
        StorageError::Refused { field, .. } if *field == "name" => "name",
        StorageError::NotFound {
            entity: "region", ..
        }
        | StorageError::OutOfScope {
            entity: "region", ..
        } => "region_code",
        StorageError::Refused { .. } | StorageError::Conflict { .. } => "form",
        _ => return Err(error),
    };
    Ok(FieldError {
        field,
        message: said(error, tr.locale),
    })
}

/// The campaigns that cover the reader's region, as the list shows them.
async fn campaign_lines(
    state: &AppState,
    page: &PageContext,
) -> Result<Vec<CampaignLine>, PageError> {
    let current = page.require_user()?;
    Ok(state
        .db
        .campaigns(&current.actor)
        .await
        .map_err(page_err(page))?
        .iter()
        .map(|c| CampaignLine::of(c, page.tr))
        .collect())
}

/// The campaigns as the list's table shows them.
fn campaigns_table(tr: Tr, campaigns: &[CampaignLine]) -> Table {
    Table {
        title: tr.t("facilities.campaigns"),
        headers: [
            "campaigns.name",
            "regions.code",
            "campaigns.kind",
            "campaigns.target_label",
            "campaigns.start",
            "campaigns.target_date",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: campaigns
            .iter()
            .map(|c| {
                vec![
                    text(c.name.clone()),
                    text(c.region_code.clone()),
                    text(c.kind.clone()),
                    text(c.target.clone()),
                    text(c.start.clone()),
                    text(c.target_date.clone()),
                ]
            })
            .collect(),
    }
}

async fn render_campaigns(
    state: &AppState,
    page: &PageContext,
    form: CampaignForm,
    errors: Vec<FieldError>,
    removed: bool,
) -> PageResult {
    let current = page.require_user()?;
    let actor = &current.actor;
    let tr = page.tr;
    let campaigns = campaign_lines(state, page).await?;
    let kinds = FacilityKind::ALL
        .iter()
        .map(|k| Choice {
            value: k.as_str().to_owned(),
            label: tr.t(&format!("facilities.kind.{}", k.as_str())),
            selected: form.facility_kind.trim() == k.as_str(),
        })
        .collect();
    let targets = CampaignTarget::ALL
        .iter()
        .map(|t| Choice {
            value: t.as_str().to_owned(),
            label: tr.t(&format!("campaigns.target.{}", t.as_str())),
            selected: form.target.trim() == t.as_str(),
        })
        .collect();
    let refused = !errors.is_empty();
    let response = CampaignsPage {
        layout: page.layout("campaigns"),
        campaigns,
        can_manage: may_manage_facilities(actor),
        kinds,
        targets,
        form,
        errors,
        removed,
        exports: Exports::of("/campaigns"),
    }
    .into_response();
    Ok(refused_status(response, refused))
}

/// The campaigns that cover the reader's region, and the form to start one for those who
/// may (it starts today, with a target a year on); or, with `format=csv|xlsx`, the list as
/// a download.
pub(crate) async fn campaigns(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<CampaignQuery>,
) -> PageResult {
    if let Some(format) =
        ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?
    {
        let campaigns = campaign_lines(&state, &page).await?;
        let table = campaigns_table(page.tr, &campaigns);
        return download(&page, format, "campaigns", &[table]);
    }
    let today = muster_storage::now().date();
    let form = CampaignForm {
        target: CampaignTarget::SignInstalled.as_str().to_owned(),
        start: today.to_string(),
        target_date: today.plus_days(365).to_string(),
        ..CampaignForm::default()
    };
    let removed = query.done.as_deref() == Some("removed");
    render_campaigns(&state, &page, form, Vec::new(), removed).await
}

/// Starts the campaign and opens its progress page, or shows the form again with its
/// problems.
pub(crate) async fn create_campaign(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<CampaignForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let errors = match form.new_campaign(page.tr) {
        Err(errors) => errors,
        Ok(new) => match state.db.create_campaign(&current.actor, new).await {
            Ok(campaign) => {
                return Ok(
                    Redirect::to(&format!("/campaigns/{}?done=created", campaign.id))
                        .into_response(),
                );
            }
            Err(error) => vec![campaign_problem(error, page.tr).map_err(page_err(&page))?],
        },
    };
    render_campaigns(&state, &page, form, errors, false).await
}

/// One region's row of a campaign's progress.
#[derive(Debug)]
struct RegionLine {
    name: String,
    code: String,
    total: u64,
    done: u64,
    percent: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign.html")]
struct CampaignPage {
    layout: Layout,
    campaign: CampaignLine,
    total: u64,
    done: u64,
    percent: String,
    pace: String,
    /// The forecast completion date; None when the campaign has not moved.
    completion: Option<String>,
    on_track: bool,
    regions: Vec<RegionLine>,
    created: bool,
    updated: bool,
    exports: Exports,
    /// Whether the reader may rename it, move its target date or remove it: staff who
    /// manage facilities, for a campaign of their own subtree.
    can_change: bool,
    /// The target date as the edit form takes it (YYYY-MM-DD).
    target_date_value: String,
}

fn percent(done: u64, total: u64) -> String {
    if total == 0 {
        "100".to_owned()
    } else {
        format!("{:.0}", done as f64 * 100.0 / total as f64)
    }
}

/// The progress by region as the campaign page's table shows it, its total row last.
fn regions_table(
    tr: Tr,
    regions: &[RegionLine],
    (total, done, percent): (u64, u64, &str),
) -> Table {
    let count = |value: u64| TableCell::Integer(i64::try_from(value).unwrap_or(i64::MAX));
    let mut rows: Vec<Vec<TableCell>> = regions
        .iter()
        .map(|r| {
            vec![
                text(r.name.clone()),
                text(r.code.clone()),
                count(r.total),
                count(r.done),
                percent_cell(&r.percent),
            ]
        })
        .collect();
    if !rows.is_empty() {
        rows.push(vec![
            text(tr.t("campaigns.all_regions")),
            text(""),
            count(total),
            count(done),
            percent_cell(percent),
        ]);
    }
    Table {
        title: tr.t("campaigns.by_region"),
        headers: vec![
            tr.t("campaigns.region"),
            tr.t("regions.code"),
            tr.t("campaigns.total"),
            tr.t("campaigns.done"),
            percent_header(tr, "facilities.progress"),
        ],
        rows,
    }
}

/// A campaign's progress by child region, within the reader's reach, with the forecast; or,
/// with `format=csv|xlsx`, the table by region as a download.
pub(crate) async fn campaign(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Query(query): Query<CampaignQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let progress = state
        .db
        .campaign_progress(&current.actor, id, muster_storage::now())
        .await
        .map_err(page_err(&page))?;
    let forecast = &progress.forecast;
    let regions = progress
        .regions
        .iter()
        .map(|r| RegionLine {
            name: r.region_name.clone(),
            // The path's last code: `/34/3401/340104/` is 340104.
            code: r
                .region_path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned(),
            total: r.total,
            done: r.done,
            percent: percent(r.done, r.total),
        })
        .collect::<Vec<RegionLine>>();
    let overall = format!("{:.0}", forecast.percent());
    if let Some(format) = format {
        let table = regions_table(
            page.tr,
            &regions,
            (forecast.total, forecast.done, overall.as_str()),
        );
        return download(&page, format, &format!("campaign-{id}"), &[table]);
    }
    Ok(CampaignPage {
        layout: page.layout("campaigns"),
        campaign: CampaignLine::of(&progress.campaign, page.tr),
        total: forecast.total,
        done: forecast.done,
        percent: overall,
        pace: format!("{:.2}", forecast.pace_per_day),
        completion: forecast.completion.map(|d| d.to_string()),
        on_track: forecast.on_track,
        regions,
        created: query.done.as_deref() == Some("created"),
        updated: query.done.as_deref() == Some("updated"),
        exports: Exports::of(&format!("/campaigns/{id}")),
        can_change: may_manage_facilities(&current.actor)
            && RegionPath::parse(&progress.campaign.region_path)
                .is_some_and(|p| current.actor.scope().subtree().contains(&p)),
        target_date_value: CivilDate::from_days(progress.campaign.target_day).to_string(),
    }
    .into_response())
}

/// The campaign page's edit form: a new name and target date.
#[derive(Debug, Deserialize)]
pub(crate) struct CampaignEditForm {
    csrf: String,
    name: String,
    target_date: String,
}

/// Renames a campaign or moves its target date, then shows it again with a notice.
pub(crate) async fn update_campaign(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<CampaignEditForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let target_date = CivilDate::parse(form.target_date.trim()).ok_or_else(|| {
        page.error(WebError::refused(
            "target_date",
            "expected a date as YYYY-MM-DD",
            "日期应为 YYYY-MM-DD 格式",
        ))
    })?;
    state
        .db
        .update_campaign(
            &current.actor,
            id,
            CampaignChanges {
                name: form.name,
                target_date,
            },
        )
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to(&format!("/campaigns/{id}?done=updated")).into_response())
}

/// The campaign page's remove button.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

/// Removes a campaign started by mistake and goes back to the list.
pub(crate) async fn remove_campaign(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    state
        .db
        .remove_campaign(&current.actor, id)
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to("/campaigns?done=removed").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_form(name: &str, window: &str, checkpoints: &str) -> RouteForm {
        RouteForm {
            name: name.to_owned(),
            window_minutes: window.to_owned(),
            checkpoints: checkpoints.to_owned(),
            ..RouteForm::default()
        }
    }

    #[test]
    fn a_position_is_shown_to_five_decimals_without_trailing_zeros() {
        assert_eq!(degrees(32.03339347660166), "32.03339");
        assert_eq!(degrees(117.23), "117.23");
        assert_eq!(degrees(-31.0), "-31");
        assert_eq!(degrees(0.000_001), "0");
    }

    #[test]
    fn a_route_reads_from_its_lines_and_a_bad_line_is_named_by_its_number() {
        let tr = Tr { locale: "zh-CN" };
        let (grid, draft) = route_form(
            "夜巡",
            "90",
            "EAST-01 | 东门 | 31.82 | 117.23\n\nNORTH-02 ｜ 北门 ｜ 31.83 ｜ 117.24",
        )
        .route(tr)
        .expect("two checkpoints");
        assert_eq!(grid, None);
        assert_eq!(draft.window_minutes, 90);
        assert_eq!(
            draft
                .checkpoints
                .iter()
                .map(|c| (c.code.as_str(), c.name.as_str()))
                .collect::<Vec<_>>(),
            [("EAST-01", "东门"), ("NORTH-02", "北门")]
        );

        // A line of three columns, and a code repeated on the line after a blank one.
        let errors = route_form(
            "夜巡",
            "90",
            "EAST-01 | 东门 | 31.82 | 117.23\nNORTH-02 | 北门 | 31.83\n\neast-01 | 又一个东门 | 31.84 | 117.25",
        )
        .route(tr)
        .expect_err("a short line and a repeated code");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors.iter().all(|e| e.field == "checkpoints"),
            "{errors:?}"
        );
        assert!(errors[0].message.contains("第 2 行"), "{errors:?}");
        assert!(
            errors[1].message.contains("第 4 行") && errors[1].message.contains("编码"),
            "{errors:?}"
        );

        // Every problem at once, each beside its own field; an unreadable line does not
        // also count as a missing checkpoint.
        let errors = route_form("", "an hour", "A1 | 东门 | north | east")
            .route(Tr { locale: "en" })
            .expect_err("no name, no limit, no readable checkpoint");
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["window_minutes", "checkpoints", "name"],
            "{errors:?}"
        );
        assert!(errors[1].message.starts_with("line 1:"), "{errors:?}");
    }

    #[test]
    fn a_campaign_form_names_every_field_it_cannot_read() {
        let form = CampaignForm {
            name: "标识专项".to_owned(),
            region_code: "340104".to_owned(),
            facility_kind: "car_park".to_owned(),
            target: "painted".to_owned(),
            start: "2026-13-01".to_owned(),
            target_date: "2027-06-30".to_owned(),
            ..CampaignForm::default()
        };
        let errors = form
            .new_campaign(Tr { locale: "en" })
            .expect_err("three unreadable fields");
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["facility_kind", "target", "start"], "{errors:?}");
        let form = CampaignForm {
            facility_kind: String::new(),
            target: "sign_installed".to_owned(),
            start: "2026-01-01".to_owned(),
            ..form
        };
        let new = form.new_campaign(Tr { locale: "en" }).expect("readable");
        assert_eq!(new.facility_kind, None);
        assert_eq!(new.target, CampaignTarget::SignInstalled);
        assert_eq!(new.target_date.to_string(), "2027-06-30");
    }
}
