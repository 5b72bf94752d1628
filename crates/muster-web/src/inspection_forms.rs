//! The inspection checklists and schedules as pages: `/checklists` (the kinds),
//! `/checklists/{kind}` (a kind's checklist, edited as one item a line) and `/schedules`
//! (how often a kind is inspected in a region's subtree). Each table downloads as CSV or
//! XLSX with `format=csv|xlsx` (the schedules page's two named by `table=`).
//!
//! Each form is a plain post calling the same storage function as `facilities_api.rs`
//! (`set_checklist`, `set_schedule`); storage decides who may (an administrator of the
//! whole installation for checklists, `may_manage_facilities` for schedules) and where.
//! The pages only hide the forms storage would refuse. A refused form comes back (422)
//! with what was typed and each problem beside its field, in the reader's language; a
//! write that succeeds redirects (303), so a reload never posts twice.
//!
//! A checklist line is `code | 中文名称 | English label | deadline days` (ASCII `|` or
//! full-width `｜`), the checklist item's four fields in the domain's order.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use muster_domain::facility::{Checklist, ChecklistItem, FacilityKind};
use muster_domain::sheet::{Table, TableCell};
use muster_storage::{StorageError, may_manage_facilities};
use serde::Deserialize;

use crate::app::AppState;
use crate::facilities_api::parse_kind;
use crate::facility_forms::{Choice, FieldError, joined, lines, said};
use crate::i18n::Tr;
use crate::page_parts::{
    Exports, chosen_table, download, list_item_field, page_err, refused_status,
};
use crate::pages::Layout;
use crate::pages::{PageContext, PageResult};
use crate::potential_view::{ExportFormat, FormatQuery, text};

/// The separators between a checklist line's columns.
const CHECKLIST_SEPARATORS: [char; 2] = ['|', '｜'];

// ---------------------------------------------------------------- the kinds' checklists

/// One kind on the list page.
#[derive(Debug)]
struct KindLine {
    kind: &'static str,
    label: String,
    items: usize,
    default_days: u32,
}

#[derive(Template, WebTemplate)]
#[template(path = "checklists.html")]
struct ChecklistsPage {
    layout: Layout,
    kinds: Vec<KindLine>,
    exports: Exports,
}

/// Every facility kind, with how many items its checklist has and its default interval;
/// or, with `format=csv|xlsx`, that table as a download.
pub(crate) async fn checklists(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    page.require_user()?;
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let mut kinds = Vec::new();
    for kind in FacilityKind::ALL.iter().copied() {
        let checklist = state.db.checklist(kind).await.map_err(page_err(&page))?;
        kinds.push(KindLine {
            kind: kind.as_str(),
            label: page.tr.t(&format!("facilities.kind.{}", kind.as_str())),
            items: checklist.items.len(),
            default_days: kind.default_interval_days(),
        });
    }
    if let Some(format) = format {
        return download(&page, format, "checklists", &[kinds_table(page.tr, &kinds)]);
    }
    Ok(ChecklistsPage {
        layout: page.layout("checklists"),
        kinds,
        exports: Exports::of("/checklists"),
    }
    .into_response())
}

/// The kinds as the checklists page's table shows them.
fn kinds_table(tr: Tr, kinds: &[KindLine]) -> Table {
    Table {
        title: tr.t("checklists.title"),
        headers: [
            "checklists.kind",
            "checklists.items",
            "schedules.default_days",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: kinds
            .iter()
            .map(|k| {
                vec![
                    text(k.label.clone()),
                    TableCell::Integer(i64::try_from(k.items).unwrap_or(i64::MAX)),
                    TableCell::Integer(i64::from(k.default_days)),
                ]
            })
            .collect(),
    }
}

/// The checklist form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ChecklistForm {
    #[serde(default)]
    csrf: String,
    /// One item a line: `code | 中文名称 | English label | deadline days`.
    #[serde(default)]
    items: String,
}

/// A checklist page's query: after a save, `done`; `format=csv|xlsx` downloads its items.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChecklistQuery {
    done: Option<String>,
    format: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "checklist.html")]
struct ChecklistPage {
    layout: Layout,
    kind: &'static str,
    kind_label: String,
    /// The stored checklist, shown as a table.
    items: Vec<ChecklistItem>,
    /// The form's text: the stored items, or what was typed when refused.
    text: String,
    can_edit: bool,
    errors: Vec<FieldError>,
    saved: bool,
    exports: Exports,
}

impl ChecklistPage {
    fn error(&self, field: &str) -> String {
        joined(&self.errors, field, self.layout.tr)
    }
}

/// The checklist's items as the form shows them, one a line.
fn checklist_text(checklist: &Checklist) -> String {
    checklist
        .items
        .iter()
        .map(|item| {
            format!(
                "{} | {} | {} | {}",
                item.code, item.label_zh, item.label_en, item.deadline_days
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The column a checklist problem's field path (`items[2].label_en`) names, in the
/// reader's language.
fn column_label(column: &str, tr: Tr) -> String {
    match column {
        "code" | "label_zh" | "label_en" | "deadline_days" => {
            tr.t(&format!("checklists.column.{column}"))
        }
        other => other.to_owned(),
    }
}

/// The form's text as a checklist of `kind`, or every problem beside the `items` field:
/// a line that is not four columns with a whole number of days, and what the domain's
/// checks say of the items (their line as the reader counts it, blank lines included).
fn read_checklist(kind: FacilityKind, text: &str, tr: Tr) -> Result<Checklist, Vec<FieldError>> {
    let chinese = tr.locale.starts_with("zh");
    let mut errors = Vec::new();
    let mut items = Vec::new();
    let mut line_of = Vec::new();
    for (line, content) in lines(text) {
        let columns: Vec<&str> = content.split(CHECKLIST_SEPARATORS).map(str::trim).collect();
        let days = columns.get(3).and_then(|d| d.parse::<u32>().ok());
        match (columns.len(), days) {
            (4, Some(deadline_days)) => {
                items.push(ChecklistItem {
                    code: columns[0].to_owned(),
                    label_zh: columns[1].to_owned(),
                    label_en: columns[2].to_owned(),
                    deadline_days,
                });
                line_of.push(line);
            }
            _ => errors.push(FieldError {
                field: "items",
                message: tr
                    .t("checklists.line_shape")
                    .replace("%{line}", &line.to_string())
                    .replace("%{text}", &format!("{content:?}")),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let checklist = Checklist { kind, items };
    if let Err(problems) = checklist.validate() {
        for problem in problems {
            let expected = if chinese {
                problem.expected_zh.clone()
            } else {
                problem.expected.clone()
            };
            // `items[3].code`: the item's line and its column; `items`: the whole list.
            let at = list_item_field(&problem.field, "items");
            let message = match at {
                Some((index, column)) => tr
                    .t("checklists.problem")
                    .replace(
                        "%{line}",
                        &line_of.get(index).copied().unwrap_or(index + 1).to_string(),
                    )
                    .replace("%{column}", &column_label(column, tr))
                    .replace("%{problem}", &expected),
                None => expected,
            };
            errors.push(FieldError {
                field: "items",
                message,
            });
        }
        return Err(errors);
    }
    Ok(checklist)
}

async fn render_checklist(
    state: &AppState,
    page: &PageContext,
    kind: FacilityKind,
    text: Option<String>,
    errors: Vec<FieldError>,
    saved: bool,
) -> PageResult {
    let current = page.require_user()?;
    let checklist = state.db.checklist(kind).await.map_err(page_err(page))?;
    let can_edit = state
        .db
        .administers_installation(&current.actor)
        .await
        .map_err(page_err(page))?;
    let refused = !errors.is_empty();
    let response = ChecklistPage {
        layout: page.layout("checklists"),
        kind: kind.as_str(),
        kind_label: page.tr.t(&format!("facilities.kind.{}", kind.as_str())),
        text: text.unwrap_or_else(|| checklist_text(&checklist)),
        items: checklist.items,
        can_edit,
        errors,
        saved,
        exports: Exports::of(&format!("/checklists/{}", kind.as_str())),
    }
    .into_response();
    Ok(refused_status(response, refused))
}

/// The checklist's items as its page's table shows them.
fn items_table(tr: Tr, kind_label: &str, items: &[ChecklistItem]) -> Table {
    Table {
        title: format!("{kind_label} · {}", tr.t("checklists.title")),
        headers: [
            "checklists.column.code",
            "checklists.column.label_zh",
            "checklists.column.label_en",
            "checklists.column.deadline_days",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: items
            .iter()
            .map(|item| {
                vec![
                    text(item.code.clone()),
                    text(item.label_zh.clone()),
                    text(item.label_en.clone()),
                    TableCell::Integer(i64::from(item.deadline_days)),
                ]
            })
            .collect(),
    }
}

/// A kind's checklist, with the form to edit it for an administrator of the installation;
/// or, with `format=csv|xlsx`, its items as a download.
pub(crate) async fn checklist(
    State(state): State<AppState>,
    page: PageContext,
    Path(kind): Path<String>,
    Query(query): Query<ChecklistQuery>,
) -> PageResult {
    page.require_user()?;
    let kind = parse_kind(&kind).map_err(|e| page.error(e))?;
    if let Some(format) =
        ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?
    {
        let checklist = state.db.checklist(kind).await.map_err(page_err(&page))?;
        let kind_label = page.tr.t(&format!("facilities.kind.{}", kind.as_str()));
        let table = items_table(page.tr, &kind_label, &checklist.items);
        let stem = format!("checklist-{}", kind.as_str());
        return download(&page, format, &stem, &[table]);
    }
    render_checklist(&state, &page, kind, None, Vec::new(), query.done.is_some()).await
}

/// Replaces the kind's checklist and shows it again, or shows the form with its problems.
pub(crate) async fn save_checklist(
    State(state): State<AppState>,
    page: PageContext,
    Path(kind): Path<String>,
    Form(form): Form<ChecklistForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let kind = parse_kind(&kind).map_err(|e| page.error(e))?;
    let errors = match read_checklist(kind, &form.items, page.tr) {
        Err(errors) => errors,
        Ok(checklist) => match state.db.set_checklist(&current.actor, checklist).await {
            Ok(()) => {
                return Ok(
                    Redirect::to(&format!("/checklists/{}?done=saved", kind.as_str()))
                        .into_response(),
                );
            }
            Err(error @ StorageError::Refused { .. }) => vec![FieldError {
                field: "items",
                message: said(error, page.tr.locale),
            }],
            Err(error) => return Err(page.error(error.into())),
        },
    };
    render_checklist(&state, &page, kind, Some(form.items), errors, false).await
}

// ---------------------------------------------------------------- schedules

/// The schedule form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ScheduleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    every_days: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SchedulesQuery {
    /// Set after a schedule was saved: how many facilities' due days moved.
    moved: Option<u64>,
    /// `csv` or `xlsx`: the table `table=` names as a download instead of the page.
    format: Option<String>,
    table: Option<String>,
}

/// The schedules page's two tables, as `?table=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchedulesTable {
    Schedules,
    Defaults,
}

/// One schedule set in the reader's scope.
#[derive(Debug)]
struct ScheduleLine {
    region_code: String,
    region_name: String,
    kind: String,
    /// The kind's code, for the remove button.
    kind_code: String,
    every_days: i64,
}

/// One kind's default interval.
#[derive(Debug)]
struct DefaultLine {
    label: String,
    days: u32,
}

#[derive(Template, WebTemplate)]
#[template(path = "schedules.html")]
struct SchedulesPage {
    layout: Layout,
    schedules: Vec<ScheduleLine>,
    defaults: Vec<DefaultLine>,
    kinds: Vec<Choice>,
    can_manage: bool,
    form: ScheduleForm,
    errors: Vec<FieldError>,
    saved: Option<String>,
    schedules_exports: Exports,
    defaults_exports: Exports,
}

impl SchedulesPage {
    fn error(&self, field: &str) -> String {
        joined(&self.errors, field, self.layout.tr)
    }
}

/// The schedules set in the reader's scope and each kind's default, as the page's two
/// tables show them.
async fn schedule_lines(
    state: &AppState,
    page: &PageContext,
) -> Result<(Vec<ScheduleLine>, Vec<DefaultLine>), crate::pages::PageError> {
    let current = page.require_user()?;
    let tr = page.tr;
    let kind_label = |kind: &str| tr.t(&format!("facilities.kind.{kind}"));
    let schedules = state
        .db
        .schedules(&current.actor)
        .await
        .map_err(page_err(page))?
        .into_iter()
        .map(|s| ScheduleLine {
            region_code: s.region_code,
            region_name: s.region_name,
            kind: kind_label(&s.kind),
            kind_code: s.kind,
            every_days: s.every_days,
        })
        .collect();
    let defaults = FacilityKind::ALL
        .iter()
        .map(|k| DefaultLine {
            label: kind_label(k.as_str()),
            days: k.default_interval_days(),
        })
        .collect();
    Ok((schedules, defaults))
}

/// The schedules set, as the page's first table (without its remove buttons).
fn schedules_table(tr: Tr, schedules: &[ScheduleLine]) -> Table {
    Table {
        title: tr.t("schedules.set_here"),
        headers: [
            "schedules.region",
            "regions.code",
            "checklists.kind",
            "schedules.every_days",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: schedules
            .iter()
            .map(|s| {
                vec![
                    text(s.region_name.clone()),
                    text(s.region_code.clone()),
                    text(s.kind.clone()),
                    TableCell::Integer(s.every_days),
                ]
            })
            .collect(),
    }
}

/// Each kind's default interval, as the page's second table.
fn defaults_table(tr: Tr, defaults: &[DefaultLine]) -> Table {
    Table {
        title: tr.t("schedules.defaults"),
        headers: ["checklists.kind", "schedules.default_days"]
            .iter()
            .map(|k| tr.t(k))
            .collect(),
        rows: defaults
            .iter()
            .map(|d| vec![text(d.label.clone()), TableCell::Integer(i64::from(d.days))])
            .collect(),
    }
}

async fn render_schedules(
    state: &AppState,
    page: &PageContext,
    form: ScheduleForm,
    errors: Vec<FieldError>,
    saved: Option<String>,
) -> PageResult {
    let current = page.require_user()?;
    let tr = page.tr;
    let kind_label = |kind: &str| tr.t(&format!("facilities.kind.{kind}"));
    let (schedules, defaults) = schedule_lines(state, page).await?;
    let kinds = FacilityKind::ALL
        .iter()
        .map(|k| Choice {
            value: k.as_str().to_owned(),
            label: kind_label(k.as_str()),
            selected: form.kind.trim() == k.as_str(),
        })
        .collect();
    let refused = !errors.is_empty();
    let response = SchedulesPage {
        layout: page.layout("schedules"),
        schedules,
        defaults,
        kinds,
        can_manage: may_manage_facilities(&current.actor),
        form,
        errors,
        saved,
        schedules_exports: Exports::of_table("/schedules", "schedules"),
        defaults_exports: Exports::of_table("/schedules", "schedule-defaults"),
    }
    .into_response();
    Ok(refused_status(response, refused))
}

/// The schedules set in the reader's scope, the defaults, and the form to set one; or, with
/// `format=csv|xlsx`, the table `table=` names (the schedules set when it names none) as
/// a download.
pub(crate) async fn schedules(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<SchedulesQuery>,
) -> PageResult {
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let table = chosen_table(
        query.table.as_deref(),
        SchedulesTable::Schedules,
        &[
            ("schedules", SchedulesTable::Schedules),
            ("schedule-defaults", SchedulesTable::Defaults),
        ],
    )
    .map_err(|e| page.error(e))?;
    if let Some(format) = format {
        let (schedules, defaults) = schedule_lines(&state, &page).await?;
        let (sheet, stem) = match table {
            SchedulesTable::Schedules => (schedules_table(page.tr, &schedules), "schedules"),
            SchedulesTable::Defaults => (defaults_table(page.tr, &defaults), "schedule-defaults"),
        };
        return download(&page, format, stem, &[sheet]);
    }
    let saved = query.moved.map(|moved| {
        page.tr
            .t("schedules.saved")
            .replace("%{count}", &moved.to_string())
    });
    let form = ScheduleForm {
        kind: FacilityKind::Shelter.as_str().to_owned(),
        ..ScheduleForm::default()
    };
    render_schedules(&state, &page, form, Vec::new(), saved).await
}

/// A schedule's remove button: the region and the kind it was set for.
#[derive(Debug, Deserialize)]
pub(crate) struct RemoveScheduleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    kind: String,
}

/// Removes a schedule; the page comes back saying how many due days moved.
pub(crate) async fn remove_schedule(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<RemoveScheduleForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let kind = parse_kind(&form.kind).map_err(|e| page.error(e))?;
    let moved = state
        .db
        .remove_schedule(&current.actor, form.region_code.trim(), kind)
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to(&format!("/schedules?moved={moved}")).into_response())
}

/// Sets the schedule and shows the page again with how many due days moved, or the form
/// with the problem beside its field.
pub(crate) async fn set_schedule(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<ScheduleForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let tr = page.tr;
    let mut errors = Vec::new();
    let kind = FacilityKind::parse(form.kind.trim());
    if kind.is_none() {
        errors.push(FieldError {
            field: "kind",
            message: tr
                .t("facilities.new.unknown_kind")
                .replace("%{text}", &format!("{:?}", form.kind.trim())),
        });
    }
    let every_days = form.every_days.trim().parse::<u32>().ok();
    if every_days.is_none() {
        errors.push(FieldError {
            field: "every_days",
            message: tr.t("schedules.not_days"),
        });
    }
    if let (Some(kind), Some(every_days)) = (kind, every_days) {
        match state
            .db
            .set_schedule(&current.actor, form.region_code.trim(), kind, every_days)
            .await
        {
            Ok(moved) => {
                return Ok(Redirect::to(&format!("/schedules?moved={moved}")).into_response());
            }
            Err(error) => {
                let field = match &error {
                    StorageError::Refused { field, .. } if *field == "every_days" => "every_days",
                    StorageError::Refused { field, .. } if *field == "kind" => "kind",
                    StorageError::Refused { .. }
                    | StorageError::NotFound {
                        entity: "region", ..
                    }
                    | StorageError::OutOfScope {
                        entity: "region", ..
                    } => "region_code",
                    _ => return Err(page.error(error.into())),
                };
                errors.push(FieldError {
                    field,
                    message: said(error, tr.locale),
                });
            }
        }
    }
    render_schedules(&state, &page, form, errors, None).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_domain::facility::default_checklist;

    #[test]
    fn a_checklist_reads_back_as_its_text_and_a_bad_line_is_named_by_its_number() {
        let tr = Tr { locale: "zh-CN" };
        let shelter = default_checklist(FacilityKind::Shelter);
        let text = checklist_text(&shelter);
        assert_eq!(
            read_checklist(FacilityKind::Shelter, &text, tr),
            Ok(shelter)
        );
        let errors = read_checklist(
            FacilityKind::Siren,
            "siren_test | 鸣响试验 | Siren test | 7\n\nsiren_test | 重复 | Again | 0",
            tr,
        )
        .expect_err("a repeated code and a zero deadline");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors.iter().all(|e| e.message.contains("第 3 行")),
            "{errors:?}"
        );
        let errors = read_checklist(FacilityKind::Siren, "only | three | columns", tr)
            .expect_err("three columns");
        assert!(errors[0].message.contains("第 1 行"), "{errors:?}");
    }
}
