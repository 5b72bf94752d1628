//! The demand forms, all plain HTML posts that work without JavaScript: stating a demand,
//! recording a task meeting, analyse, on-site inspection (with photos), handover, cancel and
//! close. Each handler reads the form into the same storage input the JSON API builds and
//! calls the same storage function (`demands_api.rs`); storage checks scope, clearance, role
//! and state. A refusal shows the form again with what was typed and the problem beside it.
//!
//! **Lines of a demand without JavaScript.** The form has a fixed number of line rows
//! ([`BLANK_ROWS`] to begin with); rows left blank are ignored, and the "add lines" button
//! posts the form back with everything kept and [`BLANK_ROWS`] more rows. A problem is shown
//! under its row, named by line number and field.
//!
//! **Photos.** The inspection form is `multipart/form-data` with `<input type=file
//! multiple>`, read by `photo_forms.rs`: each photo is stored in the attachment store as an
//! upload of the signed-in user and the inspection names them by SHA-256.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use muster_domain::demand::{
    Attendee, ClassificationLevel, DemandOrigin, MAX_LINES, NewDemandLine, NewTaskMeeting,
};
use muster_domain::time::CivilDate;
use muster_domain::{Side, Timestamp};
use muster_storage::{
    DemandInput, HandoverInput, HandoverItemInput, InspectionInput, StorageError,
};

use crate::app::AppState;
use crate::demands_api::{
    check_photos, parse_classification, parse_condition, parse_origin, shortfall_reason,
};
use crate::demands_pages::{
    Choice, Feedback, HandoverText, InspectionText, MeetingText, Spot, refusal, render,
};
use crate::error::WebError;
use crate::i18n::Tr;
use crate::pages::{Layout, PageContext, PageResult};
use crate::photo_forms::read_photo_form;

/// Line rows the demand form starts with, and how many "add lines" adds.
pub(crate) const BLANK_ROWS: usize = 5;

// ---------------------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------------------

/// `YYYY-MM-DD HH:MM[:SS]`, or the `T`-separated form a `datetime-local` input sends, as an
/// instant in UTC (every time in Muster is kept in UTC). None if it is not one.
pub(crate) fn parse_utc(text: &str) -> Option<Timestamp> {
    let (date, time) = text.trim().split_once(['T', ' '])?;
    let day = CivilDate::parse(date)?;
    let mut parts = time.trim().split(':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next()?.parse().ok()?;
    let seconds: i64 = match parts.next() {
        None => 0,
        Some(s) => s.split('.').next()?.parse().ok()?,
    };
    let valid = parts.next().is_none()
        && (0..24).contains(&hours)
        && (0..60).contains(&minutes)
        && (0..60).contains(&seconds);
    valid.then(|| {
        day.start()
            .plus_millis(((hours * 60 + minutes) * 60 + seconds) * 1000)
    })
}

/// An optional time field: blank is now.
fn time_or_now(text: &str, now: Timestamp) -> Option<Timestamp> {
    if text.trim().is_empty() {
        Some(now)
    } else {
        parse_utc(text)
    }
}

/// A form field a `HashMap` form may lack.
fn field<'a>(fields: &'a HashMap<String, String>, name: &str) -> &'a str {
    fields.get(name).map_or("", String::as_str)
}

// ---------------------------------------------------------------------------------------
// Stating a demand
// ---------------------------------------------------------------------------------------

/// One line row as typed.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineText {
    type_code: String,
    quantity: String,
    lat: String,
    lon: String,
    needed_by: String,
    priority: String,
}

impl LineText {
    /// A row with nothing typed in it; the priority has a default, so it does not count.
    fn is_blank(&self) -> bool {
        [
            &self.type_code,
            &self.quantity,
            &self.lat,
            &self.lon,
            &self.needed_by,
        ]
        .iter()
        .all(|t| t.trim().is_empty())
    }
}

/// The demand form as typed.
#[derive(Debug, Clone, Default)]
pub(crate) struct DemandText {
    title: String,
    origin: String,
    classification: String,
    region_code: String,
    lines: Vec<LineText>,
}

/// A problem with the demand form: `row` is the 0-based line row, None for the demand's own
/// fields (`field` then names it, or is empty for the form as a whole).
#[derive(Debug, Clone)]
struct Placed {
    row: Option<usize>,
    field: String,
    message: String,
}

impl DemandText {
    /// The form's fields: `title`, `origin`, `classification`, `region_code`, `rows` and per
    /// row `type_code_N`, `quantity_N`, `lat_N`, `lon_N`, `needed_by_N`, `priority_N`.
    fn read(fields: &HashMap<String, String>) -> Self {
        let rows = field(fields, "rows")
            .trim()
            .parse::<usize>()
            .unwrap_or(BLANK_ROWS)
            .clamp(1, MAX_LINES);
        let lines = (0..rows)
            .map(|i| LineText {
                type_code: field(fields, &format!("type_code_{i}")).to_owned(),
                quantity: field(fields, &format!("quantity_{i}")).to_owned(),
                lat: field(fields, &format!("lat_{i}")).to_owned(),
                lon: field(fields, &format!("lon_{i}")).to_owned(),
                needed_by: field(fields, &format!("needed_by_{i}")).to_owned(),
                priority: field(fields, &format!("priority_{i}")).to_owned(),
            })
            .collect();
        Self {
            title: field(fields, "title").to_owned(),
            origin: field(fields, "origin").to_owned(),
            classification: field(fields, "classification").to_owned(),
            region_code: field(fields, "region_code").to_owned(),
            lines,
        }
    }

    /// [`BLANK_ROWS`] more blank rows, up to [`MAX_LINES`].
    fn add_rows(&mut self) {
        let rows = (self.lines.len() + BLANK_ROWS).min(MAX_LINES);
        self.lines.resize_with(rows, LineText::default);
    }

    /// The storage input, with the form row of each line sent (blank rows are left out), or
    /// every problem reading the form found.
    fn parse(&self, tr: Tr) -> Result<(DemandInput, Vec<usize>), Vec<Placed>> {
        let mut problems = Vec::new();
        let mut top = |field: &str, error: WebError| {
            problems.push(Placed {
                row: None,
                field: field.to_owned(),
                message: bare_message(&error, tr.locale),
            });
        };
        let origin = parse_origin(&self.origin)
            .map_err(|e| top("origin", e))
            .ok();
        let classification = parse_classification(&self.classification)
            .map_err(|e| top("classification", e))
            .ok();
        let mut lines = Vec::new();
        let mut rows = Vec::new();
        for (row, text) in self.lines.iter().enumerate() {
            if text.is_blank() {
                continue;
            }
            let mut wrong = |field: &str, key: &str| {
                problems.push(Placed {
                    row: Some(row),
                    field: field.to_owned(),
                    message: tr.t(key),
                });
            };
            let whole = |text: &str| text.trim().parse::<i64>().ok();
            let degrees = |text: &str| text.trim().parse::<f64>().ok().filter(|d| d.is_finite());
            let quantity = whole(&text.quantity);
            let lat = degrees(&text.lat);
            let lon = degrees(&text.lon);
            let needed_by = parse_utc(&text.needed_by);
            let priority = whole(&text.priority);
            let missing_or = |text: &str, key: &'static str| {
                if text.trim().is_empty() {
                    "demand.form.missing"
                } else {
                    key
                }
            };
            if quantity.is_none() {
                wrong(
                    "quantity",
                    missing_or(&text.quantity, "demand.form.not_whole"),
                );
            }
            if lat.is_none() {
                wrong("lat", missing_or(&text.lat, "demand.form.not_degrees"));
            }
            if lon.is_none() {
                wrong("lon", missing_or(&text.lon, "demand.form.not_degrees"));
            }
            if needed_by.is_none() {
                wrong(
                    "needed_by",
                    missing_or(&text.needed_by, "demand.form.not_time"),
                );
            }
            if priority.is_none() {
                wrong(
                    "priority",
                    missing_or(&text.priority, "demand.form.not_whole"),
                );
            }
            if let (Some(quantity), Some(lat), Some(lon), Some(needed_by), Some(priority)) =
                (quantity, lat, lon, needed_by, priority)
            {
                lines.push(NewDemandLine {
                    type_code: text.type_code.trim().to_owned(),
                    quantity,
                    lat,
                    lon,
                    needed_by,
                    priority,
                });
                rows.push(row);
            }
        }
        match (origin, classification) {
            (Some(origin), Some(classification)) if problems.is_empty() => Ok((
                DemandInput {
                    title: self.title.clone(),
                    origin,
                    classification,
                    region_code: self.region_code.trim().to_owned(),
                    lines,
                },
                rows,
            )),
            _ => Err(problems),
        }
    }
}

/// A web error's message without the field name in front (the page shows it by the field),
/// in Chinese on a Chinese page where it has been written in Chinese.
fn bare_message(error: &WebError, locale: &str) -> String {
    match error {
        WebError::BadRequest {
            message_zh: Some(zh),
            ..
        } if locale.starts_with("zh") => zh.clone(),
        WebError::BadRequest { message, .. } => message.clone(),
        other => other.said_in(locale),
    }
}

/// Where storage's refusal of a new demand goes on the form, in the reader's language
/// (`locale`). The domain names every problem of a demand at once, as `title: …`, `lines: …`
/// or `lines[i].field: …` joined by `; ` (`muster_domain::demand::DemandProblem`), and in
/// Chinese with the same field paths as `title：…` joined by `；`; `i` counts the lines sent,
/// which `rows` maps back to the form's rows. None for a refusal that is not about a field
/// (a role, a demand out of reach): the caller shows it above the form.
fn place_refusal(error: &StorageError, rows: &[usize], locale: &str) -> Option<Vec<Placed>> {
    let whole = |field: &str, message: String| Placed {
        row: None,
        field: field.to_owned(),
        message,
    };
    let chinese = locale.starts_with("zh");
    let (field, message, separator, colon) = match error {
        StorageError::Refused {
            field, message_zh, ..
        } if chinese => (*field, message_zh, "；", "："),
        StorageError::Refused { field, message, .. } => (*field, message, "; ", ": "),
        _ => return None,
    };
    if field != "demand" {
        return Some(vec![whole(field, message.clone())]);
    }
    let mut placed: Vec<Placed> = Vec::new();
    for piece in message.split(separator) {
        let located = piece.split_once(colon).and_then(|(name, text)| {
            if let Some(rest) = name.strip_prefix("lines[") {
                let (index, field) = rest.split_once("].")?;
                let row = *rows.get(index.parse::<usize>().ok()?)?;
                Some(Placed {
                    row: Some(row),
                    field: field.to_owned(),
                    message: text.to_owned(),
                })
            } else if name == "title" || name == "lines" {
                Some(whole(name, text.to_owned()))
            } else {
                None
            }
        });
        match located {
            Some(p) => placed.push(p),
            // Not a problem of its own (a `; ` inside a quoted value): part of the last one.
            None => match placed.last_mut() {
                Some(last) => {
                    last.message.push_str(separator);
                    last.message.push_str(piece);
                }
                None => placed.push(whole("", piece.to_owned())),
            },
        }
    }
    Some(placed)
}

/// One line row on the page.
#[derive(Debug)]
struct RowView {
    /// 0-based, for the field names.
    index: usize,
    /// 1-based, as people number lines.
    no: usize,
    text: LineText,
    priorities: Vec<Choice>,
    /// The fields of this row that are wrong.
    invalid: Vec<String>,
    /// "Line 2 · Quantity: expected …".
    problems: Vec<String>,
}

impl RowView {
    fn bad(&self, field: &str) -> bool {
        self.invalid.iter().any(|f| f == field)
            || (field == "lat" || field == "lon")
                && self.invalid.iter().any(|f| f == "delivery_point")
    }
}

#[derive(Debug)]
struct TypeOption {
    code: String,
    name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "demand_new.html")]
struct NewDemandPage {
    layout: Layout,
    title: String,
    region_code: String,
    origins: Vec<Choice>,
    classifications: Vec<Choice>,
    regions: Vec<Choice>,
    types: Vec<TypeOption>,
    rows: Vec<RowView>,
    /// Problems of the form as a whole (a refusal of the role, say).
    general: Vec<String>,
    title_problem: Option<String>,
    origin_problem: Option<String>,
    classification_problem: Option<String>,
    region_problem: Option<String>,
    lines_problem: Option<String>,
}

/// The field's label key, for naming a problem.
fn line_field_key(field: &str) -> &'static str {
    match field {
        "type_code" => "demand.type",
        "quantity" => "demand.quantity",
        "lat" => "demand.lat",
        "lon" => "demand.lon",
        "delivery_point" => "demand.delivery_point",
        "needed_by" => "demand.needed_by",
        "priority" => "demand.priority",
        _ => "demand.line",
    }
}

async fn render_new(
    state: &AppState,
    page: &PageContext,
    text: DemandText,
    problems: Vec<Placed>,
    code: StatusCode,
) -> PageResult {
    let user = page.require_user()?;
    let tr = page.tr;
    let scope = user.actor.scope();
    let own_code = scope
        .subtree()
        .codes()
        .last()
        .map(|c| c.as_str().to_owned());
    let view = state
        .db
        .region_view(scope, own_code.as_deref())
        .await
        .map_err(|e| page.error(e.into()))?;
    let taxonomy = state
        .db
        .taxonomy()
        .await
        .map_err(|e| page.error(e.into()))?;
    let region_code = if text.region_code.is_empty() {
        own_code.clone().unwrap_or_default()
    } else {
        text.region_code.clone()
    };
    let regions = view
        .region
        .iter()
        .chain(view.children.iter())
        .map(|r| Choice {
            value: r.code.clone(),
            label: r.name.clone(),
            selected: r.code == region_code,
        })
        .collect();
    let origins = DemandOrigin::ALL
        .iter()
        .map(|o| Choice {
            value: o.as_str().to_owned(),
            label: tr.t(&format!("demand.origins.{}", o.as_str())),
            selected: text.origin == o.as_str(),
        })
        .collect();
    let clearance = ClassificationLevel::clearance_for(scope.data_classes());
    let chosen_level = if text.classification.is_empty() {
        ClassificationLevel::Internal.as_str()
    } else {
        text.classification.as_str()
    };
    let classifications = ClassificationLevel::ALL
        .iter()
        .filter(|l| muster_domain::demand::may_see(clearance, **l))
        .map(|l| Choice {
            value: l.as_str().to_owned(),
            label: tr.t(&format!("demand.classifications.{}", l.as_str())),
            selected: chosen_level == l.as_str(),
        })
        .collect();
    let mut top: HashMap<String, String> = HashMap::new();
    let mut general = Vec::new();
    let mut by_row: HashMap<usize, Vec<&Placed>> = HashMap::new();
    for p in &problems {
        match p.row {
            Some(row) => by_row.entry(row).or_default().push(p),
            None if p.field.is_empty() => general.push(p.message.clone()),
            None => {
                top.entry(p.field.clone())
                    .and_modify(|m| {
                        m.push_str("; ");
                        m.push_str(&p.message);
                    })
                    .or_insert_with(|| p.message.clone());
            }
        }
    }
    let rows = text
        .lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            let found = by_row.get(&index).map(Vec::as_slice).unwrap_or_default();
            let chosen = if line.priority.trim().is_empty() {
                "3"
            } else {
                line.priority.trim()
            };
            RowView {
                index,
                no: index + 1,
                text: line.clone(),
                priorities: (1..=5)
                    .map(|p| Choice {
                        value: p.to_string(),
                        label: p.to_string(),
                        selected: chosen == p.to_string(),
                    })
                    .collect(),
                invalid: found.iter().map(|p| p.field.clone()).collect(),
                problems: found
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {} · {}: {}",
                            tr.t("demand.line"),
                            index + 1,
                            tr.t(line_field_key(&p.field)),
                            p.message
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let locale = tr.locale;
    let mut response = NewDemandPage {
        layout: page.layout("demands"),
        title: text.title.clone(),
        region_code,
        origins,
        classifications,
        regions,
        types: taxonomy
            .resource_types()
            .iter()
            .map(|t| TypeOption {
                code: t.code.clone(),
                name: t.name(locale).to_owned(),
            })
            .collect(),
        rows,
        general,
        title_problem: top.remove("title"),
        origin_problem: top.remove("origin"),
        classification_problem: top.remove("classification"),
        region_problem: top.remove("region_code"),
        lines_problem: top.remove("lines"),
    }
    .into_response();
    *response.status_mut() = code;
    Ok(response)
}

/// The empty form: [`BLANK_ROWS`] rows, addressed to the reader's own region.
pub(crate) async fn new_page(State(state): State<AppState>, page: PageContext) -> PageResult {
    let mut text = DemandText {
        origin: DemandOrigin::Military.as_str().to_owned(),
        ..DemandText::default()
    };
    text.add_rows();
    render_new(&state, &page, text, Vec::new(), StatusCode::OK).await
}

/// States the demand, or — for the "add lines" button — shows the form again with more rows.
pub(crate) async fn create(
    State(state): State<AppState>,
    page: PageContext,
    Form(fields): Form<HashMap<String, String>>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(fields.get("csrf").map(String::as_str))
        .map_err(|e| page.error(e))?;
    let mut text = DemandText::read(&fields);
    if fields.contains_key("more") {
        text.add_rows();
        return render_new(&state, &page, text, Vec::new(), StatusCode::OK).await;
    }
    let (input, rows) = match text.parse(page.tr) {
        Ok(parsed) => parsed,
        Err(problems) => {
            return render_new(
                &state,
                &page,
                text,
                problems,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    match state.db.create_demand(&user.actor, input).await {
        Ok(view) => Ok(Redirect::to(&format!("/demands/{}", view.demand.id)).into_response()),
        Err(e) => {
            let locale = page.tr.locale;
            let placed = place_refusal(&e, &rows, locale);
            let (code, message) = refusal(e, locale).map_err(|e| page.error(e.into()))?;
            let problems = placed.unwrap_or_else(|| {
                vec![Placed {
                    row: None,
                    field: String::new(),
                    message,
                }]
            });
            render_new(&state, &page, text, problems, code).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// The demand page's forms
// ---------------------------------------------------------------------------------------

/// Shows the demand page again with `feedback` for a storage refusal, or the error page for
/// anything else (a demand the reader may not see is "not found").
async fn refused(
    state: &AppState,
    page: &PageContext,
    id: i64,
    error: StorageError,
    mut feedback: Feedback,
) -> PageResult {
    let (code, message) = refusal(error, page.tr.locale).map_err(|e| page.error(e.into()))?;
    feedback.message = Some(message);
    render(state, page, id, feedback, code).await
}

/// A form refused before storage was asked: shown beside the form with 400.
async fn unreadable(
    state: &AppState,
    page: &PageContext,
    id: i64,
    mut feedback: Feedback,
    message: String,
) -> PageResult {
    feedback.message = Some(message);
    render(state, page, id, feedback, StatusCode::BAD_REQUEST).await
}

fn done(id: i64) -> PageResult {
    Ok(Redirect::to(&format!("/demands/{id}")).into_response())
}

/// Attendees typed one per line as "name, organization" (a Chinese comma, a 、 or a tab
/// also separate them).
fn read_attendees(text: &str, side: Side, label: &str, tr: Tr) -> Result<Vec<Attendee>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(index, line)| {
            let (name, organization) = line
                .split_once([',', '，', '、', '\t', ';', '；'])
                .ok_or_else(|| {
                    format!(
                        "{label}, {} {}: {}",
                        tr.t("demand.line"),
                        index + 1,
                        tr.t("demand.form.attendee_line")
                    )
                })?;
            Ok(Attendee {
                name: name.trim().to_owned(),
                organization: organization.trim().to_owned(),
                side,
            })
        })
        .collect()
}

pub(crate) async fn record_meeting(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<HashMap<String, String>>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(fields.get("csrf").map(String::as_str))
        .map_err(|e| page.error(e))?;
    let text = MeetingText {
        held_at: field(&fields, "held_at").to_owned(),
        military: field(&fields, "military").to_owned(),
        civil: field(&fields, "civil").to_owned(),
        decisions: field(&fields, "decisions").to_owned(),
    };
    let feedback = Feedback {
        spot: Spot::Meeting,
        meeting: text.clone(),
        ..Feedback::default()
    };
    let tr = page.tr;
    let Some(held_at) = time_or_now(&text.held_at, muster_storage::now()) else {
        let message = format!(
            "{}: {}",
            tr.t("demand.held_at"),
            tr.t("demand.form.not_time")
        );
        return unreadable(&state, &page, id, feedback, message).await;
    };
    let mut attendees = match read_attendees(
        &text.military,
        Side::Military,
        &tr.t("demand.military_attendees"),
        tr,
    ) {
        Ok(a) => a,
        Err(message) => return unreadable(&state, &page, id, feedback, message).await,
    };
    match read_attendees(
        &text.civil,
        Side::Civil,
        &tr.t("demand.civil_attendees"),
        tr,
    ) {
        Ok(mut civil) => attendees.append(&mut civil),
        Err(message) => return unreadable(&state, &page, id, feedback, message).await,
    }
    let meeting = NewTaskMeeting {
        held_at,
        attendees,
        decisions: text
            .decisions
            .lines()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    match state.db.record_task_meeting(&user.actor, id, meeting).await {
        Ok(_) => done(id),
        Err(e) => refused(&state, &page, id, e, feedback).await,
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn analyse(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<ReasonForm>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    match state.db.analyse_demand(&user.actor, id).await {
        Ok(_) => done(id),
        Err(e) => refused(&state, &page, id, e, Feedback::default()).await,
    }
}

pub(crate) async fn cancel(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<ReasonForm>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    match state.db.cancel_demand(&user.actor, id, &form.reason).await {
        Ok(_) => done(id),
        Err(e) => {
            let feedback = Feedback {
                spot: Spot::Cancel,
                cancel_reason: form.reason,
                ..Feedback::default()
            };
            refused(&state, &page, id, e, feedback).await
        }
    }
}

pub(crate) async fn close(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<ReasonForm>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let reason = shortfall_reason(Some(&form.reason));
    match state.db.close_demand(&user.actor, id, reason).await {
        Ok(_) => done(id),
        Err(e) => {
            let feedback = Feedback {
                spot: Spot::Close,
                close_reason: form.reason,
                ..Feedback::default()
            };
            refused(&state, &page, id, e, feedback).await
        }
    }
}

/// The inspection form's text fields, and the photos stored so far.
struct InspectionPost {
    text: InspectionText,
    photos: Vec<String>,
}

/// Reads the multipart inspection form ([`read_photo_form`]). Err: the refusal to show,
/// with what was typed (or the CSRF error).
async fn read_inspection(
    state: &AppState,
    user: &crate::auth::CurrentUser,
    multipart: Multipart,
) -> Result<InspectionPost, (WebError, InspectionText)> {
    let mut text = InspectionText::default();
    let read = read_photo_form(
        state,
        user,
        multipart,
        muster_storage::MAX_INSPECTION_PHOTOS,
        |name, value| match name {
            "allocation_id" => text.allocation_id = value.trim().parse().unwrap_or_default(),
            "condition" => text.condition = value,
            "quantity_seen" => text.quantity_seen = value,
            "quantity_accepted" => text.quantity_accepted = value,
            "notes" => text.notes = value,
            _ => {}
        },
    )
    .await;
    match read {
        Ok(photos) => Ok(InspectionPost { text, photos }),
        Err(e) => Err((e, text)),
    }
}

pub(crate) async fn record_inspection(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> PageResult {
    let user = page.require_user()?;
    let post = match read_inspection(&state, user, multipart).await {
        Ok(post) => post,
        Err((WebError::Csrf, _)) => return Err(page.error(WebError::Csrf)),
        Err((error, text)) => {
            let feedback = Feedback {
                spot: Spot::Inspection(text.allocation_id),
                inspection: Some(text),
                ..Feedback::default()
            };
            let message = error.said_in(page.tr.locale);
            return unreadable(&state, &page, id, feedback, message).await;
        }
    };
    let text = post.text;
    let feedback = Feedback {
        spot: Spot::Inspection(text.allocation_id),
        inspection: Some(text.clone()),
        ..Feedback::default()
    };
    let tr = page.tr;
    let whole = |value: &str, label: &str| {
        value
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("{}: {}", tr.t(label), tr.t("demand.form.not_whole")))
    };
    let parsed = parse_condition(&text.condition)
        .map_err(|e| e.said_in(tr.locale))
        .and_then(|condition| {
            Ok((
                condition,
                whole(&text.quantity_seen, "demand.quantity_seen")?,
                whole(&text.quantity_accepted, "demand.quantity_accepted")?,
            ))
        });
    let (condition, quantity_seen, quantity_accepted) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => return unreadable(&state, &page, id, feedback, message).await,
    };
    if let Err(e) = check_photos(&state, &post.photos).await {
        return unreadable(&state, &page, id, feedback, e.said_in(tr.locale)).await;
    }
    let input = InspectionInput {
        allocation_id: text.allocation_id,
        condition,
        quantity_seen,
        quantity_accepted,
        photos: post.photos,
        notes: text.notes.clone(),
    };
    match state.db.inspect_allocation(&user.actor, id, input).await {
        Ok(_) => done(id),
        Err(e) => refused(&state, &page, id, e, feedback).await,
    }
}

pub(crate) async fn record_handover(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<HashMap<String, String>>,
) -> PageResult {
    let user = page.require_user()?;
    user.check_csrf(fields.get("csrf").map(String::as_str))
        .map_err(|e| page.error(e))?;
    let quantities: HashMap<i64, String> = fields
        .iter()
        .filter_map(|(name, value)| {
            let allocation_id = name.strip_prefix("quantity_")?.parse().ok()?;
            Some((allocation_id, value.clone()))
        })
        .collect();
    let text = HandoverText {
        quantities,
        handed_at: field(&fields, "handed_at").to_owned(),
        supplier_signatory: field(&fields, "supplier_signatory").to_owned(),
        receiver_signatory: field(&fields, "receiver_signatory").to_owned(),
        notes: field(&fields, "notes").to_owned(),
    };
    let feedback = Feedback {
        spot: Spot::Handover,
        handover: text.clone(),
        ..Feedback::default()
    };
    let tr = page.tr;
    let Some(handed_at) = time_or_now(&text.handed_at, muster_storage::now()) else {
        let message = format!(
            "{}: {}",
            tr.t("demand.handed_at"),
            tr.t("demand.form.not_time")
        );
        return unreadable(&state, &page, id, feedback, message).await;
    };
    let mut items = Vec::new();
    let mut ordered: Vec<(&i64, &String)> = text.quantities.iter().collect();
    ordered.sort();
    for (allocation_id, quantity) in ordered {
        let quantity = quantity.trim();
        if quantity.is_empty() || quantity == "0" {
            continue;
        }
        let Ok(quantity) = quantity.parse::<i64>() else {
            let message = format!(
                "#{allocation_id} {}: {}",
                tr.t("demand.handover_quantity"),
                tr.t("demand.form.not_whole")
            );
            return unreadable(&state, &page, id, feedback, message).await;
        };
        items.push(HandoverItemInput {
            allocation_id: *allocation_id,
            quantity,
        });
    }
    // One time for the handover and both signatures: the two sides sign as it happens.
    let input = HandoverInput {
        items,
        handed_at,
        supplier_signatory: text.supplier_signatory.clone(),
        supplier_signed_at: handed_at,
        receiver_signatory: text.receiver_signatory.clone(),
        receiver_signed_at: handed_at,
        notes: text.notes.clone(),
    };
    match state.db.record_handover(&user.actor, id, input).await {
        Ok(_) => done(id),
        Err(e) => refused(&state, &page, id, e, feedback).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_utc() {
        let day = 1_798_761_600_000; // 2027-01-01T00:00Z
        for (text, millis) in [
            ("2027-01-01T00:00", Some(day)),
            ("2027-01-01 01:30", Some(day + 5_400_000)),
            ("2027-01-01T01:30:15", Some(day + 5_415_000)),
            (" 2027-01-01T01:30:15.250 ", Some(day + 5_415_000)),
            ("2027-01-01", None),
            ("2027-13-01T00:00", None),
            ("2027-01-01T24:00", None),
            ("2027-01-01T10:60", None),
            ("tomorrow", None),
        ] {
            assert_eq!(parse_utc(text).map(Timestamp::as_millis), millis, "{text}");
        }
    }

    #[test]
    fn storage_problems_land_on_their_rows() {
        let refused = StorageError::Refused {
            field: "demand",
            message: "title: give the demand a title; lines[0].quantity: expected a whole \
                      number from 1 to 1000000000, found 0; lines[1].type_code: \"A; B\" is not \
                      a resource type in the taxonomy"
                .into(),
            message_zh: "title：请填写需求标题；lines[0].quantity：应为 1 至 1000000000 之间的\
                         整数，实为 0；lines[1].type_code：“A; B”不是分类目录中的资源类型"
                .into(),
        };
        // Rows 0 and 1 of the form were blank; the lines sent came from rows 2 and 4.
        let placed = place_refusal(&refused, &[2, 4], "en").expect("placed");
        let seen: Vec<(Option<usize>, &str)> =
            placed.iter().map(|p| (p.row, p.field.as_str())).collect();
        assert_eq!(
            seen,
            vec![
                (None, "title"),
                (Some(2), "quantity"),
                (Some(4), "type_code")
            ]
        );
        assert!(placed[2].message.contains("\"A; B\""), "{placed:?}");

        let elsewhere = StorageError::Refused {
            field: "region_code",
            message: "region 99 is not in your region".into(),
            message_zh: "行政区划 99 不在您的辖区内".into(),
        };
        let placed = place_refusal(&elsewhere, &[], "en").expect("placed");
        assert_eq!(
            (placed[0].row, placed[0].field.as_str()),
            (None, "region_code")
        );
        let forbidden = StorageError::forbidden("no", "不允许");
        assert!(place_refusal(&forbidden, &[], "en").is_none());
    }

    #[test]
    fn a_refusal_said_in_chinese_lands_on_its_rows_on_a_chinese_page() {
        let refused = StorageError::Refused {
            field: "demand",
            message: "title: give the demand a title; lines[0].quantity: expected a whole \
                      number from 1 to 1000000000, found 0"
                .into(),
            message_zh:
                "title：请填写需求标题；lines[0].quantity：应为 1 至 1000000000 之间的整数，实为 0"
                    .into(),
        };
        let placed = place_refusal(&refused, &[3], "zh-CN").expect("placed");
        let seen: Vec<(Option<usize>, &str, &str)> = placed
            .iter()
            .map(|p| (p.row, p.field.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (None, "title", "请填写需求标题"),
                (
                    Some(3),
                    "quantity",
                    "应为 1 至 1000000000 之间的整数，实为 0"
                ),
            ]
        );
        // The English page keeps the English.
        let placed = place_refusal(&refused, &[3], "en").expect("placed");
        assert_eq!(placed[0].message, "give the demand a title");
        assert!(placed[1].message.contains("found 0"), "{placed:?}");
    }

    #[test]
    fn blank_rows_are_left_out_and_bad_ones_named() {
        let tr = Tr { locale: "en" };
        let mut fields = HashMap::new();
        for (k, v) in [
            ("title", "tents"),
            ("origin", "military"),
            ("classification", "internal"),
            ("region_code", "3401"),
            ("rows", "3"),
            ("type_code_1", "CAD.MAT.TENT_12"),
            ("quantity_1", "5"),
            ("lat_1", "31.8"),
            ("lon_1", "117.2"),
            ("needed_by_1", "2030-01-01T08:00"),
            ("priority_1", "1"),
            ("priority_0", "3"),
            ("priority_2", "3"),
        ] {
            fields.insert(k.to_owned(), v.to_owned());
        }
        let (input, rows) = DemandText::read(&fields).parse(tr).expect("parses");
        assert_eq!(rows, vec![1]);
        assert_eq!(input.lines.len(), 1);
        assert_eq!(input.lines[0].quantity, 5);

        fields.insert("quantity_2".into(), "many".into());
        let problems = DemandText::read(&fields).parse(tr).expect_err("refused");
        let named: Vec<(Option<usize>, &str)> =
            problems.iter().map(|p| (p.row, p.field.as_str())).collect();
        assert_eq!(
            named,
            vec![
                (Some(2), "quantity"),
                (Some(2), "lat"),
                (Some(2), "lon"),
                (Some(2), "needed_by")
            ]
        );
    }
}
