//! The facility registry's forms for office and workstation staff: registering a facility
//! (`/facilities/new`) and the grids page (`/grids`) with its forms to add a grid and to
//! make a grid member of one. The grids table downloads as CSV or XLSX with
//! `format=csv|xlsx`.
//!
//! Each form is a plain post that works without JavaScript and calls the same storage
//! function as `facilities_api.rs` (`create_facility`, `create_grid`, `add_grid_member`);
//! storage decides who may (`may_manage_facilities`) and where (the reader's scope). The
//! pages only hide the forms and links storage would refuse. A refused form comes back
//! (422) with what was typed and each problem beside its field, in the reader's language;
//! a write that succeeds redirects (303), so a reload never posts twice.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use muster_domain::facility::{
    ConversionStep, EquipmentItem, FacilityDraft, FacilityKind, PeacetimeUse, SignStatus,
};
use muster_domain::sheet::{Table, TableCell};
use muster_domain::time::CivilDate;
use muster_domain::{Actor, RegionPath, Role};
use muster_storage::{NewFacility, StorageError, may_manage_facilities};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::page_parts::{Exports, download, page_err, refused_status};
use crate::pages::{Layout, PageContext, PageResult};
use crate::potential_view::{ExportFormat, file_part, query_string, text};

/// Pages of users or organizations read for a select, at most: a thousand a page.
const MAX_CHOICE_PAGES: usize = 10;

/// The organization kinds that hold facilities (DOMAIN.md: a holder is an enterprise or a
/// property manager), offered as a facility's managing organization.
const MANAGING_KINDS: [&str; 2] = ["property_manager", "enterprise"];

/// A problem beside one field of a form (`field` is the input's name; `form` is the top).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldError {
    pub(crate) field: &'static str,
    pub(crate) message: String,
}

/// One option of a select.
#[derive(Debug)]
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

/// The messages about `field`, joined in the reader's language.
pub(crate) fn joined(errors: &[FieldError], field: &str, tr: Tr) -> String {
    let separator = if tr.locale.starts_with("zh") {
        "；"
    } else {
        "; "
    };
    errors
        .iter()
        .filter(|e| e.field == field)
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join(separator)
}

/// A refusal's own text in `locale`, without the field name in front (the page puts it
/// beside its field); anything else as the error pages say it.
pub(crate) fn said(error: StorageError, locale: &str) -> String {
    let chinese = locale.starts_with("zh");
    match error {
        StorageError::Refused {
            message_zh,
            message,
            ..
        } => {
            if chinese {
                message_zh
            } else {
                message
            }
        }
        StorageError::Conflict {
            message_zh: Some(zh),
            ..
        } if chinese => zh,
        StorageError::Conflict { message, .. } if !chinese => message,
        other => WebError::from(other).said_in(locale),
    }
}

// ---------------------------------------------------------------- registering a facility

/// The registration form as typed, kept to show again with a refusal.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct FacilityForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    latitude: String,
    #[serde(default)]
    longitude: String,
    #[serde(default)]
    capacity_persons: String,
    #[serde(default)]
    area_m2: String,
    #[serde(default)]
    parking_spaces: String,
    #[serde(default)]
    charging_points: String,
    /// One service a line.
    #[serde(default)]
    services: String,
    /// `YYYY-MM-DD`, or empty.
    #[serde(default)]
    peacetime_since: String,
    #[serde(default)]
    sign_status: String,
    /// One item a line: `name, count, part、part`.
    #[serde(default)]
    equipment: String,
    /// One step a line: `label, minutes`.
    #[serde(default)]
    conversion: String,
    #[serde(default)]
    grid_id: String,
    #[serde(default)]
    manager_organization_id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewFacilityQuery {
    region: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "facility_new.html")]
struct NewFacilityPage {
    layout: Layout,
    form: FacilityForm,
    errors: Vec<FieldError>,
    kinds: Vec<Choice>,
    signs: Vec<Choice>,
    grids: Vec<Choice>,
    managers: Vec<Choice>,
}

impl NewFacilityPage {
    fn error(&self, field: &str) -> String {
        joined(&self.errors, field, self.layout.tr)
    }
}

/// Reads the form's text into values, collecting every problem rather than stopping at
/// the first.
struct FormReader {
    tr: Tr,
    errors: Vec<FieldError>,
}

impl FormReader {
    fn refuse(&mut self, field: &'static str, key: &str, text: &str) {
        let message = self
            .tr
            .t(key)
            .replace("%{text}", &format!("{:?}", text.trim()));
        self.errors.push(FieldError { field, message });
    }

    /// A required decimal number.
    fn number(&mut self, field: &'static str, text: &str) -> f64 {
        match muster_domain::number::read_decimal(text) {
            Some(value) => value,
            None => {
                self.refuse(field, "facilities.new.not_a_number", text);
                0.0
            }
        }
    }

    /// A decimal number, 0 when left empty.
    fn number_or_zero(&mut self, field: &'static str, text: &str) -> f64 {
        if text.trim().is_empty() {
            0.0
        } else {
            self.number(field, text)
        }
    }

    /// A whole number of zero or more, 0 when left empty.
    fn count(&mut self, field: &'static str, text: &str) -> u32 {
        let text_trimmed = text.trim();
        if text_trimmed.is_empty() {
            return 0;
        }
        text_trimmed.parse().unwrap_or_else(|_| {
            self.refuse(field, "facilities.new.not_a_count", text);
            0
        })
    }

    /// An id chosen in a select, or None for the empty choice.
    fn choice(&mut self, field: &'static str, text: &str) -> Option<i64> {
        let text_trimmed = text.trim();
        if text_trimmed.is_empty() {
            return None;
        }
        match text_trimmed.parse() {
            Ok(id) => Some(id),
            Err(_) => {
                self.refuse(field, "facilities.new.not_a_choice", text);
                None
            }
        }
    }

    /// `line` as the reader counts it, in front of a problem of a list field.
    fn line_problem(&mut self, field: &'static str, key: &str, line: usize, text: &str) {
        let message = self
            .tr
            .t(key)
            .replace("%{line}", &line.to_string())
            .replace("%{text}", &format!("{:?}", text.trim()));
        self.errors.push(FieldError { field, message });
    }
}

/// The non-blank lines of a text area, trimmed, with their number as the reader counts
/// them (blank lines included, so the number matches what they see).
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty())
}

/// The separators between a line's columns: ASCII or Chinese commas, or a tab.
const COLUMN_SEPARATORS: [char; 3] = [',', '，', '\t'];

impl FacilityForm {
    /// The facility as storage takes it, or every problem the form itself shows. Storage
    /// checks the draft again (names, ranges) and the place (scope, grid, manager).
    fn new_facility(&self, tr: Tr) -> Result<NewFacility, Vec<FieldError>> {
        let mut read = FormReader {
            tr,
            errors: Vec::new(),
        };
        let kind = FacilityKind::parse(self.kind.trim()).unwrap_or_else(|| {
            read.refuse("kind", "facilities.new.unknown_kind", &self.kind);
            FacilityKind::Shelter
        });
        let sign_status = SignStatus::parse(self.sign_status.trim()).unwrap_or_else(|| {
            read.refuse(
                "sign_status",
                "facilities.new.unknown_sign",
                &self.sign_status,
            );
            SignStatus::Missing
        });
        let latitude = read.number("latitude", &self.latitude);
        let longitude = read.number("longitude", &self.longitude);
        let capacity_persons = read.count("capacity_persons", &self.capacity_persons);
        let area_m2 = read.number_or_zero("area_m2", &self.area_m2);
        let parking_spaces = read.count("parking_spaces", &self.parking_spaces);
        let charging_points = read.count("charging_points", &self.charging_points);
        let since = match self.peacetime_since.trim() {
            "" => None,
            text => CivilDate::parse(text).or_else(|| {
                read.refuse(
                    "peacetime_since",
                    "facilities.new.not_a_date",
                    &self.peacetime_since,
                );
                None
            }),
        };
        let services = lines(&self.services)
            .map(|(_, line)| line.to_owned())
            .collect();
        let mut equipment = Vec::new();
        for (line, text) in lines(&self.equipment) {
            let mut columns = text.splitn(3, COLUMN_SEPARATORS).map(str::trim);
            let name = columns.next().unwrap_or_default().to_owned();
            let count = match columns.next() {
                None | Some("") => Some(1),
                Some(count) => count.parse::<u32>().ok(),
            };
            let Some(count) = count else {
                read.line_problem("equipment", "facilities.new.equipment_line", line, text);
                continue;
            };
            let parts = columns
                .next()
                .unwrap_or_default()
                .split(['、', ';', '；'])
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .map(str::to_owned)
                .collect();
            equipment.push(EquipmentItem { name, count, parts });
        }
        let mut conversion = Vec::new();
        for (line, text) in lines(&self.conversion) {
            let step = text
                .split_once(COLUMN_SEPARATORS)
                .and_then(|(label, minutes)| Some((label.trim(), minutes.trim().parse().ok()?)));
            match step {
                Some((label, minutes)) => conversion.push(ConversionStep {
                    label: label.to_owned(),
                    minutes,
                }),
                None => {
                    read.line_problem("conversion", "facilities.new.conversion_line", line, text)
                }
            }
        }
        let grid_id = read.choice("grid_id", &self.grid_id);
        let manager_organization_id =
            read.choice("manager_organization_id", &self.manager_organization_id);
        if !read.errors.is_empty() {
            return Err(read.errors);
        }
        Ok(NewFacility {
            draft: FacilityDraft {
                name: self.name.trim().to_owned(),
                kind,
                latitude,
                longitude,
                capacity_persons,
                area_m2,
                peacetime: PeacetimeUse {
                    parking_spaces,
                    charging_points,
                    services,
                    since,
                },
                sign_status,
                equipment,
                conversion,
            },
            region_code: self.region_code.trim().to_owned(),
            grid_id,
            manager_organization_id,
        })
    }
}

/// The form's input a problem's field path (`name`, `services[2]`,
/// `equipment[0].parts[1]`, `grid_id`) is about, with the line of a list field as the
/// reader counts it; None when the text is not a field path at all.
fn form_field_of(path: &str) -> Option<(&'static str, Option<usize>)> {
    let (head, rest) = match path.find(['[', '.']) {
        Some(at) => (&path[..at], &path[at..]),
        None => (path, ""),
    };
    let field = match head {
        "name" => "name",
        "kind" => "kind",
        "region_code" => "region_code",
        "latitude" => "latitude",
        "longitude" => "longitude",
        "capacity_persons" => "capacity_persons",
        "area_m2" => "area_m2",
        "parking_spaces" => "parking_spaces",
        "charging_points" => "charging_points",
        "services" => "services",
        "peacetime_since" | "since" => "peacetime_since",
        "sign_status" => "sign_status",
        "equipment" => "equipment",
        "conversion" => "conversion",
        "grid_id" => "grid_id",
        "manager_organization_id" => "manager_organization_id",
        _ => return None,
    };
    let line = rest
        .strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|n| n.parse::<usize>().ok())
        .map(|index| index + 1);
    Some((field, line))
}

/// One problem of a refusal, beside the field its path names (storage's form refusals put
/// the path in front of each problem: `services[0]: …`, in Chinese `services[0]：…`), or
/// beside `field` when it names none.
fn place(field: &str, problem: &str, tr: Tr) -> FieldError {
    let problem = problem.trim();
    if let Some((path, text)) = problem.split_once([':', '：'])
        && let Some((form_field, line)) = form_field_of(path.trim())
    {
        let message = match line {
            Some(line) => format!(
                "{}{}",
                tr.t("facilities.new.line")
                    .replace("%{line}", &line.to_string()),
                text.trim()
            ),
            None => text.trim().to_owned(),
        };
        return FieldError {
            field: form_field,
            message,
        };
    }
    FieldError {
        field: form_field_of(field).map_or("form", |(f, _)| f),
        message: problem.to_owned(),
    }
}

/// A refusal's problems, joined by `separator`: a piece that does not begin with a field
/// path of the form is not a problem of its own but the rest of the one before (a typed
/// value holding the separator, such as a service named "a; b").
fn split_problems(field: &str, text: &str, separator: &str, tr: Tr) -> Vec<FieldError> {
    let mut problems: Vec<FieldError> = Vec::new();
    for piece in text.split(separator) {
        let starts_a_problem = piece
            .trim()
            .split_once([':', '：'])
            .is_some_and(|(path, _)| form_field_of(path.trim()).is_some());
        match problems.last_mut() {
            Some(last) if !starts_a_problem => {
                last.message.push_str(separator);
                last.message.push_str(piece);
            }
            _ => problems.push(place(field, piece, tr)),
        }
    }
    problems
}

/// Storage's refusal of a facility as problems beside the form's fields, in the reader's
/// language. A region or grid that is not found (or not in scope) is the problem of the
/// field that named it; anything else (a role's refusal, a failure) is an error page.
fn facility_problems(error: StorageError, tr: Tr) -> Result<Vec<FieldError>, StorageError> {
    let chinese = tr.locale.starts_with("zh");
    Ok(match error {
        StorageError::Refused {
            field,
            message,
            message_zh,
        } => {
            let (text, separator) = if chinese {
                (message_zh, "；")
            } else {
                (message, "; ")
            };
            split_problems(field, &text, separator, tr)
        }
        error @ (StorageError::NotFound { entity, .. }
        | StorageError::OutOfScope { entity, .. })
            if matches!(entity, "region" | "grid" | "organization") =>
        {
            let field = match entity {
                "region" => "region_code",
                "grid" => "grid_id",
                _ => "manager_organization_id",
            };
            vec![FieldError {
                field,
                message: said(error, tr.locale),
            }]
        }
        error @ StorageError::Conflict { .. } => vec![FieldError {
            field: "form",
            message: said(error, tr.locale),
        }],
        other => return Err(other),
    })
}

/// Every page of a scoped list, up to [`MAX_CHOICE_PAGES`] of a thousand.
async fn organizations_for_choice(
    state: &AppState,
    actor: &Actor,
) -> Result<Vec<muster_storage::Organization>, StorageError> {
    let mut all = Vec::new();
    let mut after = 0;
    for _ in 0..MAX_CHOICE_PAGES {
        let page = state
            .db
            .organizations(actor.scope(), None, 1000, after)
            .await?;
        let full = page.len() == 1000;
        after = page.last().map_or(after, |o| o.id);
        all.extend(
            page.into_iter()
                .filter(|o| MANAGING_KINDS.contains(&o.kind.as_str())),
        );
        if !full {
            break;
        }
    }
    Ok(all)
}

async fn render_new(
    state: &AppState,
    page: &PageContext,
    form: FacilityForm,
    errors: Vec<FieldError>,
) -> PageResult {
    let current = page.require_user()?;
    let actor = &current.actor;
    let tr = page.tr;
    let kinds = FacilityKind::ALL
        .iter()
        .map(|k| Choice {
            value: k.as_str().to_owned(),
            label: tr.t(&format!("facilities.kind.{}", k.as_str())),
            selected: form.kind == k.as_str(),
        })
        .collect();
    let signs = SignStatus::ALL
        .iter()
        .map(|s| Choice {
            value: s.as_str().to_owned(),
            label: tr.t(&format!("facilities.sign_status.{}", s.as_str())),
            selected: form.sign_status == s.as_str(),
        })
        .collect();
    let grids = state
        .db
        .grids(actor, None)
        .await
        .map_err(page_err(page))?
        .into_iter()
        .map(|g| Choice {
            selected: form.grid_id.trim() == g.id.to_string(),
            value: g.id.to_string(),
            label: format!("{}（{}）", g.name, g.region_code),
        })
        .collect();
    let managers = organizations_for_choice(state, actor)
        .await
        .map_err(page_err(page))?
        .into_iter()
        .map(|o| Choice {
            selected: form.manager_organization_id.trim() == o.id.to_string(),
            value: o.id.to_string(),
            label: format!("{}（{}）", o.name, o.region_code.unwrap_or_default()),
        })
        .collect();
    let refused = !errors.is_empty();
    let response = NewFacilityPage {
        layout: page.layout("facilities"),
        form,
        errors,
        kinds,
        signs,
        grids,
        managers,
    }
    .into_response();
    Ok(refused_status(response, refused))
}

/// The registration form, empty (its region from `?region=` when given).
pub(crate) async fn new_facility_page(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<NewFacilityQuery>,
) -> PageResult {
    let form = FacilityForm {
        region_code: query.region.unwrap_or_default().trim().to_owned(),
        kind: FacilityKind::Shelter.as_str().to_owned(),
        sign_status: SignStatus::Missing.as_str().to_owned(),
        ..FacilityForm::default()
    };
    render_new(&state, &page, form, Vec::new()).await
}

/// Registers the facility and opens its page, or shows the form again with its problems.
pub(crate) async fn create_facility(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<FacilityForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let errors = match form.new_facility(page.tr) {
        Err(errors) => errors,
        Ok(new) => match state.db.create_facility(&current.actor, new).await {
            Ok(facility) => {
                return Ok(Redirect::to(&format!("/facilities/{}", facility.id)).into_response());
            }
            Err(e) => facility_problems(e, page.tr).map_err(page_err(&page))?,
        },
    };
    render_new(&state, &page, form, errors).await
}

// ---------------------------------------------------------------- grids

#[derive(Debug, Default, Deserialize)]
pub(crate) struct GridsQuery {
    region: Option<String>,
    done: Option<String>,
    /// `csv` or `xlsx`: the grids table as a download instead of the page.
    format: Option<String>,
}

/// The new-grid form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct GridForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    region_code: String,
}

/// The add-member form of one grid.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct MemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_id: String,
}

/// A refused add-member form: which grid, the message, the user chosen.
#[derive(Debug)]
struct MemberRefusal {
    grid_id: i64,
    message: String,
    user_id: String,
}

#[derive(Debug)]
struct GridLine {
    id: i64,
    name: String,
    region_code: String,
    members: i64,
    facilities: i64,
    candidates: Vec<Choice>,
    message: Option<String>,
    /// Who walks the grid: (user id, display name).
    member_names: Vec<(i64, String)>,
}

/// A user with the grid-member role, offered for the grids of their region.
#[derive(Debug)]
struct Candidate {
    id: i64,
    label: String,
    path: RegionPath,
}

#[derive(Template, WebTemplate)]
#[template(path = "grids.html")]
struct GridsPage {
    layout: Layout,
    region: String,
    grids: Vec<GridLine>,
    can_manage: bool,
    form: GridForm,
    errors: Vec<FieldError>,
    done: Option<&'static str>,
    exports: Exports,
}

impl GridsPage {
    fn error(&self, field: &str) -> String {
        joined(&self.errors, field, self.layout.tr)
    }
}

/// The enabled users of the reader's scope with the grid-member role, read a thousand at a
/// time up to [`MAX_CHOICE_PAGES`].
async fn grid_member_candidates(
    state: &AppState,
    actor: &Actor,
) -> Result<Vec<Candidate>, StorageError> {
    let mut all = Vec::new();
    let mut after = 0;
    for _ in 0..MAX_CHOICE_PAGES {
        let page = state.db.users(actor.scope(), 1000, after).await?;
        let full = page.len() == 1000;
        after = page.last().map_or(after, |u| u.id);
        all.extend(
            page.into_iter()
                .filter(|u| u.disabled == 0 && u.roles().contains(Role::GridMember))
                .map(|u| Candidate {
                    id: u.id,
                    label: format!(
                        "{}（{}）· {}",
                        u.display_name, u.username, u.organization_name
                    ),
                    path: u.region_path(),
                }),
        );
        if !full {
            break;
        }
    }
    Ok(all)
}

/// The grids of the reader's scope (`region` narrows it) as the page's table shows them,
/// with their members; with the members each grid's form may add (only for those who
/// manage facilities, and not for a download), and a refused add-member form beside its
/// grid.
async fn grid_lines(
    state: &AppState,
    actor: &Actor,
    region: Option<&str>,
    with_candidates: bool,
    member: Option<&MemberRefusal>,
) -> Result<Vec<GridLine>, StorageError> {
    let grids = state.db.grids(actor, region).await?;
    let mut members_of: std::collections::HashMap<i64, Vec<(i64, String)>> =
        std::collections::HashMap::new();
    for member in state.db.grid_members(actor).await? {
        members_of
            .entry(member.grid_id)
            .or_default()
            .push((member.user_id, member.display_name));
    }
    let candidates = if with_candidates {
        grid_member_candidates(state, actor).await?
    } else {
        Vec::new()
    };
    Ok(grids
        .into_iter()
        .map(|grid| {
            let grid_path = RegionPath::parse(&grid.region_path).unwrap_or_else(RegionPath::root);
            let refusal = member.filter(|m| m.grid_id == grid.id);
            // Only the grid members working in the grid's region or around it: a city's
            // every grid member in every grid's select would be thousands of options.
            // Storage checks the same on the write.
            let candidates = candidates
                .iter()
                .filter(|c| c.path.contains(&grid_path) || grid_path.contains(&c.path))
                .map(|c| Choice {
                    value: c.id.to_string(),
                    label: c.label.clone(),
                    selected: refusal.is_some_and(|m| m.user_id.trim() == c.id.to_string()),
                })
                .collect();
            GridLine {
                id: grid.id,
                name: grid.name,
                region_code: grid.region_code,
                members: grid.member_count,
                facilities: grid.facility_count,
                candidates,
                message: refusal.map(|m| m.message.clone()),
                member_names: members_of.remove(&grid.id).unwrap_or_default(),
            }
        })
        .collect())
}

async fn render_grids(
    state: &AppState,
    page: &PageContext,
    region: Option<&str>,
    form: GridForm,
    errors: Vec<FieldError>,
    member: Option<MemberRefusal>,
    done: Option<&'static str>,
) -> PageResult {
    let current = page.require_user()?;
    let actor = &current.actor;
    let region = region.map(str::trim).filter(|r| !r.is_empty());
    let can_manage = may_manage_facilities(actor);
    let lines = grid_lines(state, actor, region, can_manage, member.as_ref())
        .await
        .map_err(page_err(page))?;
    let refused = !errors.is_empty() || member.is_some();
    let here = format!("/grids{}", query_string(&[("region", region)]));
    let response = GridsPage {
        layout: page.layout("grids"),
        region: region.unwrap_or_default().to_owned(),
        grids: lines,
        can_manage,
        form,
        errors,
        done,
        exports: Exports::of(&here),
    }
    .into_response();
    Ok(refused_status(response, refused))
}

/// The grids as the page's table shows them, without its column of forms: the members'
/// names, listed in the page's name cell, are a column of their own.
fn grid_table(tr: Tr, grids: &[GridLine]) -> Table {
    let separator = if tr.locale.starts_with("zh") {
        "、"
    } else {
        ", "
    };
    Table {
        title: tr.t("facilities.grids.title"),
        headers: [
            "facilities.grids.name",
            "facilities.grids.member_names",
            "regions.code",
            "facilities.grids.members",
            "facilities.count",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: grids
            .iter()
            .map(|g| {
                let names: Vec<&str> = g.member_names.iter().map(|(_, n)| n.as_str()).collect();
                vec![
                    text(g.name.clone()),
                    text(names.join(separator)),
                    text(g.region_code.clone()),
                    TableCell::Integer(g.members),
                    TableCell::Integer(g.facilities),
                ]
            })
            .collect(),
    }
}

/// The grids of the reader's scope (`?region=` narrows it), with the forms; or, with
/// `format=csv|xlsx`, its table as a download.
pub(crate) async fn grids(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<GridsQuery>,
) -> PageResult {
    if let Some(format) =
        ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?
    {
        let current = page.require_user()?;
        let region = query
            .region
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let lines = grid_lines(&state, &current.actor, region, false, None)
            .await
            .map_err(page_err(&page))?;
        let stem = match region {
            Some(region) => format!("grids-{}", file_part(region)),
            None => "grids".to_owned(),
        };
        return download(&page, format, &stem, &[grid_table(page.tr, &lines)]);
    }
    let done = match query.done.as_deref() {
        Some("grid") => Some("facilities.grids.created"),
        Some("member") => Some("facilities.grids.member_added"),
        Some("removed") => Some("facilities.grids.member_removed"),
        _ => None,
    };
    let form = GridForm {
        region_code: query.region.clone().unwrap_or_default().trim().to_owned(),
        ..GridForm::default()
    };
    render_grids(
        &state,
        &page,
        query.region.as_deref(),
        form,
        Vec::new(),
        None,
        done,
    )
    .await
}

/// Adds a grid, or shows the page again with the problem beside its field.
pub(crate) async fn create_grid(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<GridForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let error = match state
        .db
        .create_grid(&current.actor, &form.name, form.region_code.trim())
        .await
    {
        Ok(_) => return Ok(Redirect::to("/grids?done=grid").into_response()),
        Err(error) => error,
    };
    let field = match &error {
        StorageError::Refused { field, .. } | StorageError::Conflict { field, .. }
            if *field == "region_code" =>
        {
            "region_code"
        }
        StorageError::Refused { .. } | StorageError::Conflict { .. } => "name",
        StorageError::NotFound {
            entity: "region", ..
        }
        | StorageError::OutOfScope {
            entity: "region", ..
        } => "region_code",
        _ => return Err(page.error(error.into())),
    };
    let errors = vec![FieldError {
        field,
        message: said(error, page.tr.locale),
    }];
    render_grids(&state, &page, None, form, errors, None, None).await
}

/// Makes the chosen user a member of the grid, or shows the page again with the problem
/// beside that grid's form. A grid not found is an error page.
pub(crate) async fn add_member(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<MemberForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let message = match form.user_id.trim().parse::<i64>() {
        Err(_) => page.tr.t("facilities.grids.choose_member_first"),
        Ok(user_id) => match state.db.add_grid_member(&current.actor, id, user_id).await {
            Ok(()) => return Ok(Redirect::to("/grids?done=member").into_response()),
            Err(
                error @ (StorageError::Refused { .. }
                | StorageError::Conflict { .. }
                | StorageError::NotFound { entity: "user", .. }
                | StorageError::OutOfScope { entity: "user", .. }),
            ) => said(error, page.tr.locale),
            Err(error) => return Err(page.error(error.into())),
        },
    };
    let refusal = MemberRefusal {
        grid_id: id,
        message,
        user_id: form.user_id,
    };
    render_grids(
        &state,
        &page,
        None,
        GridForm::default(),
        Vec::new(),
        Some(refusal),
        None,
    )
    .await
}

/// Takes a member off a grid, from the grids page.
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    page: PageContext,
    Path((id, user_id)): Path<(i64, i64)>,
    Form(form): Form<crate::account_pages::CsrfForm>,
) -> PageResult {
    let current = page.require_user()?;
    form.check(current).map_err(|e| page.error(e))?;
    state
        .db
        .remove_grid_member(&current.actor, id, user_id)
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to("/grids?done=removed").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_separator_inside_a_typed_value_does_not_split_its_problem() {
        let tr = Tr { locale: "en" };
        let problems = split_problems(
            "facility",
            "name: must not be empty; services[1]: \"a; b\" is not a service; area_m2: too large",
            "; ",
            tr,
        );
        let placed: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.field, p.message.as_str()))
            .collect();
        assert_eq!(placed.len(), 3, "{placed:?}");
        assert_eq!(placed[0], ("name", "must not be empty"));
        assert_eq!(placed[1].0, "services");
        assert!(
            placed[1].1.ends_with("\"a; b\" is not a service"),
            "{placed:?}"
        );
        assert_eq!(placed[2], ("area_m2", "too large"));
    }
}
