//! What the potential API and pages share: totals grouped by a level of the taxonomy, the
//! spreadsheets they export (tables, the import template), baselines read from a sheet, bar
//! charts laid out for an SVG template, and the short-lived store of refused uploads'
//! problem lists.
//!
//! Nothing here renders HTML: charts are numbers that `templates/bar_chart.html` draws.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_domain::potential::import::{RowProblem, STANDARD_COLUMNS, Said, SheetProblems};
use muster_domain::potential::rollup::Totals;
use muster_domain::sheet::{Table, TableCell, column_name, read_workbook, write_csv, write_xlsx};
use muster_domain::taxonomy::{AttributeKind, Category, ResourceType, Subcategory, Taxonomy};
use muster_storage::{BaselineRow, TypeTotals};

use crate::error::WebError;

/// Uploads (record files, baselines) may be this large; every other request body is
/// limited to [`crate::routes::MAX_BODY_BYTES`]. A county's 100,000-row XLSX is about 6 MiB,
/// its CSV about 12 MiB, so this leaves room for a city's file in one piece.
pub(crate) const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

/// How long a refused upload's problem list stays downloadable.
pub(crate) const PROBLEM_LIST_TTL: Duration = Duration::from_secs(10 * 60);
/// At most this many problem lists are kept; the oldest goes first.
const PROBLEM_LISTS_KEPT: usize = 500;

// ---------------------------------------------------------------- taxonomy levels

/// How totals are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Category,
    Subcategory,
    Type,
}

impl Level {
    pub(crate) fn parse(text: &str) -> Option<Level> {
        match text {
            "category" => Some(Level::Category),
            "subcategory" => Some(Level::Subcategory),
            "type" => Some(Level::Type),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Category => "category",
            Level::Subcategory => "subcategory",
            Level::Type => "type",
        }
    }
}

/// Which part of the taxonomy is looked at: everything, one category, one subcategory or one
/// type. A narrower focus implies the wider ones, which [`Focus::parse`] fills in.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Focus {
    pub category: Option<Category>,
    pub subcategory: Option<String>,
    pub type_code: Option<String>,
}

impl Focus {
    /// Parses the query's codes against the taxonomy; an unknown code is a bad request, and
    /// a subcategory that is not in the given category too.
    pub(crate) fn parse(
        taxonomy: &Taxonomy,
        category: Option<&str>,
        subcategory: Option<&str>,
        type_code: Option<&str>,
    ) -> Result<Focus, WebError> {
        fn given(value: Option<&str>) -> Option<&str> {
            value.map(str::trim).filter(|v| !v.is_empty())
        }
        let mut focus = Focus::default();
        if let Some(code) = given(category) {
            focus.category = Some(Category::parse(code).ok_or_else(|| {
                WebError::refused(
                    "category",
                    format!("unknown category {code}"),
                    format!("没有类别 {code}"),
                )
            })?);
        }
        if let Some(code) = given(subcategory) {
            let found = taxonomy.subcategory(code).ok_or_else(|| {
                WebError::refused(
                    "subcategory",
                    format!("unknown subcategory {code}"),
                    format!("没有子类 {code}"),
                )
            })?;
            if focus.category.is_some_and(|c| c != found.category) {
                return Err(WebError::refused(
                    "subcategory",
                    format!("{code} is not in that category"),
                    format!("{code} 不属于所选类别"),
                ));
            }
            focus.category = Some(found.category);
            focus.subcategory = Some(found.code.clone());
        }
        if let Some(code) = given(type_code) {
            let found = taxonomy.resource_type(code).ok_or_else(|| {
                WebError::refused(
                    "type",
                    format!("unknown resource type {code}"),
                    format!("没有资源类型 {code}"),
                )
            })?;
            if focus.category.is_some_and(|c| c != found.category)
                || focus
                    .subcategory
                    .as_ref()
                    .is_some_and(|s| s != &found.subcategory)
            {
                return Err(WebError::refused(
                    "type",
                    format!("{code} is not in that category or subcategory"),
                    format!("{code} 不属于所选类别或子类"),
                ));
            }
            focus.category = Some(found.category);
            focus.subcategory = Some(found.subcategory.clone());
            focus.type_code = Some(found.code.clone());
        }
        Ok(focus)
    }

    /// The level one step below the focus: categories at the top, a category's
    /// subcategories, a subcategory's types; a type is shown as itself.
    pub(crate) fn natural_level(&self) -> Level {
        if self.subcategory.is_some() {
            Level::Type
        } else if self.category.is_some() {
            Level::Subcategory
        } else {
            Level::Category
        }
    }

    pub(crate) fn includes(&self, resource_type: &ResourceType) -> bool {
        self.category.is_none_or(|c| c == resource_type.category)
            && self
                .subcategory
                .as_ref()
                .is_none_or(|s| s == &resource_type.subcategory)
            && self
                .type_code
                .as_ref()
                .is_none_or(|t| t == &resource_type.code)
    }

    fn includes_subcategory(&self, subcategory: &Subcategory) -> bool {
        self.category.is_none_or(|c| c == subcategory.category)
            && self
                .subcategory
                .as_ref()
                .is_none_or(|s| s == &subcategory.code)
    }
}

/// One row of grouped totals.
#[derive(Debug, Clone)]
pub(crate) enum GroupKey<'a> {
    Category(Category),
    Subcategory(&'a Subcategory),
    Type(&'a ResourceType),
}

impl GroupKey<'_> {
    pub(crate) fn code(&self) -> &str {
        match self {
            GroupKey::Category(c) => c.code(),
            GroupKey::Subcategory(s) => &s.code,
            GroupKey::Type(t) => &t.code,
        }
    }

    pub(crate) fn name(&self, locale: &str) -> String {
        match self {
            GroupKey::Category(c) => c.name(locale).to_owned(),
            GroupKey::Subcategory(s) => s.name(locale).to_owned(),
            GroupKey::Type(t) => t.name(locale).to_owned(),
        }
    }

    pub(crate) fn name_en(&self) -> String {
        self.name("en")
    }

    pub(crate) fn name_zh(&self) -> String {
        self.name("zh-CN")
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Group<'a> {
    pub key: GroupKey<'a>,
    pub totals: Totals,
}

/// Totals grouped at `level`, limited to the types `focus` includes, in taxonomy order.
/// With `include_empty`, groups without records are listed too (a page shows what is
/// missing); without, only groups with records (the API stays small).
///
/// O(t + g) for t totals rows and g groups: one pass adds each type's totals to its group.
pub(crate) fn group_totals<'a>(
    taxonomy: &'a Taxonomy,
    level: Level,
    focus: &Focus,
    by_type: &[TypeTotals],
    include_empty: bool,
) -> Vec<Group<'a>> {
    let mut sums: HashMap<&str, Totals> = HashMap::new();
    for row in by_type {
        let Some(resource_type) = taxonomy.resource_type(&row.type_code) else {
            continue;
        };
        if !focus.includes(resource_type) {
            continue;
        }
        let key = match level {
            Level::Category => resource_type.category.code(),
            Level::Subcategory => resource_type.subcategory.as_str(),
            Level::Type => resource_type.code.as_str(),
        };
        sums.entry(key).or_default().add(&row.totals);
    }
    let keys: Vec<GroupKey<'a>> = match level {
        Level::Category => Category::ALL
            .iter()
            .filter(|c| focus.category.is_none_or(|f| f == **c))
            .map(|c| GroupKey::Category(*c))
            .collect(),
        Level::Subcategory => taxonomy
            .subcategories()
            .iter()
            .filter(|s| focus.includes_subcategory(s))
            .map(GroupKey::Subcategory)
            .collect(),
        Level::Type => taxonomy
            .resource_types()
            .iter()
            .filter(|t| focus.includes(t))
            .map(GroupKey::Type)
            .collect(),
    };
    keys.into_iter()
        .filter_map(|key| {
            let totals = sums.get(key.code()).copied().unwrap_or_default();
            (include_empty || totals.record_count != 0).then_some(Group { key, totals })
        })
        .collect()
}

/// The sum of the totals of every type the focus includes.
pub(crate) fn focus_total(taxonomy: &Taxonomy, focus: &Focus, by_type: &[TypeTotals]) -> Totals {
    let mut sum = Totals::default();
    for row in by_type {
        if taxonomy
            .resource_type(&row.type_code)
            .is_some_and(|t| focus.includes(t))
        {
            sum.add(&row.totals);
        }
    }
    sum
}

// ---------------------------------------------------------------- numbers

/// A quantity as people write it: whole numbers without decimals, others with up to two.
pub(crate) fn format_quantity(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.2}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// `part / whole` as a percentage with one decimal, or an en dash when `whole` is zero.
pub(crate) fn format_share(part: f64, whole: f64) -> String {
    if whole <= 0.0 {
        "–".to_owned()
    } else {
        format!("{:.1}%", 100.0 * part / whole)
    }
}

/// `part / whole` between 0 and 1 (0 when `whole` is zero), for exports and charts.
pub(crate) fn share(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 {
        0.0
    } else {
        (part / whole).clamp(0.0, 1.0)
    }
}

/// A query string from the pairs that have a value, percent-encoded: `?a=1&b=x`, or empty.
pub(crate) fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

/// `url` with `format=…` appended, for the export links next to a table.
pub(crate) fn with_format(url: &str, format: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}format={format}")
}

// ---------------------------------------------------------------- exports

/// A page's `?format=csv|xlsx`, which downloads its table instead of showing the page.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct FormatQuery {
    pub(crate) format: Option<String>,
}

/// The two download formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExportFormat {
    Csv,
    Xlsx,
}

impl ExportFormat {
    /// None for no `format` (render the page); an error for an unknown one.
    pub(crate) fn from_query(format: Option<&str>) -> Result<Option<ExportFormat>, WebError> {
        match format.map(str::trim) {
            None | Some("") => Ok(None),
            Some("csv") => Ok(Some(ExportFormat::Csv)),
            Some("xlsx") => Ok(Some(ExportFormat::Xlsx)),
            Some(_) => Err(WebError::refused(
                "format",
                "expected csv or xlsx",
                "格式应为 csv 或 xlsx",
            )),
        }
    }
}

/// A download of `tables`: CSV holds the first, XLSX one sheet per table. `stem` is an
/// ASCII file name without extension.
pub(crate) fn sheet_download(
    format: ExportFormat,
    stem: &str,
    tables: &[Table],
) -> Result<Response, WebError> {
    let (bytes, media_type, extension) = match format {
        ExportFormat::Csv => (
            tables.first().map(write_csv).unwrap_or_default(),
            "text/csv; charset=utf-8",
            "csv",
        ),
        ExportFormat::Xlsx => (
            write_xlsx(tables).map_err(|e| WebError::refused("format", e.to_string(), e.zh()))?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    let disposition = format!("attachment; filename=\"{stem}.{extension}\"");
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

pub(crate) fn text(value: impl Into<String>) -> TableCell {
    TableCell::Text(value.into())
}

/// A file-name part from a region code or taxonomy code: letters, digits, `-` and `_`.
pub(crate) fn file_part(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The empty import template in the reader's language: the standard columns, then one
/// column for each attribute of the types it is for (`only`, or every type), so that any of
/// them can be reported as the template stands; and (XLSX only, as its second sheet) those
/// types with their units and attributes, so the person filling it in can look codes up and
/// see which attributes a type requires.
pub(crate) fn import_template(
    taxonomy: &Taxonomy,
    only: Option<&BTreeSet<&str>>,
    locale: &str,
    tr: &crate::i18n::Tr,
) -> [Table; 2] {
    let in_template: Vec<&ResourceType> = taxonomy
        .resource_types()
        .iter()
        .filter(|t| only.is_none_or(|codes| codes.contains(t.code.as_str())))
        .collect();
    let mut headers: Vec<String> = STANDARD_COLUMNS
        .iter()
        .map(|c| c.template_header(locale))
        .collect();
    headers.extend(attribute_columns(&in_template, locale));
    let records = Table {
        title: tr.t("potential.template.records_sheet"),
        headers,
        rows: Vec::new(),
    };
    let types = Table {
        title: tr.t("potential.template.types_sheet"),
        headers: vec![
            tr.t("taxonomy.code"),
            tr.t("taxonomy.name"),
            tr.t("taxonomy.category"),
            tr.t("taxonomy.subcategory"),
            tr.t("taxonomy.unit"),
            tr.t("taxonomy.max_quantity"),
            tr.t("taxonomy.attributes"),
        ],
        rows: in_template
            .iter()
            .map(|t| {
                vec![
                    text(t.code.clone()),
                    text(t.name(locale)),
                    text(t.category.name(locale)),
                    text(
                        taxonomy
                            .subcategory(&t.subcategory)
                            .map_or(t.subcategory.clone(), |s| s.name(locale).to_owned()),
                    ),
                    text(
                        taxonomy
                            .unit(&t.unit)
                            .map_or(t.unit.clone(), |u| u.name(locale).to_owned()),
                    ),
                    TableCell::Number(t.max_quantity),
                    text(
                        t.attributes
                            .iter()
                            .map(|a| attribute_summary(a, locale))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                ]
            })
            .collect(),
    };
    [records, types]
}

/// One header for each attribute key of `types`, in the taxonomy's order: `name (key)`, as
/// the importer reads a column by the key in brackets, or the key alone where the types
/// sharing it name it differently (a team's "capacity" in persons, a bus's in passengers).
fn attribute_columns(types: &[&ResourceType], locale: &str) -> Vec<String> {
    let mut names: Vec<(&str, Option<&str>)> = Vec::new();
    for attribute in types.iter().flat_map(|t| &t.attributes) {
        let name = attribute.name(locale);
        match names.iter_mut().find(|(key, _)| *key == attribute.key) {
            None => names.push((attribute.key.as_str(), Some(name))),
            Some((_, shared)) => {
                if *shared != Some(name) {
                    *shared = None;
                }
            }
        }
    }
    names
        .into_iter()
        .map(|(key, name)| match name {
            Some(name) => format!("{name} ({key})"),
            None => key.to_owned(),
        })
        .collect()
}

/// `name (key, required): what it takes`, one attribute in one line of plain text.
pub(crate) fn attribute_summary(
    attribute: &muster_domain::taxonomy::AttributeSpec,
    locale: &str,
) -> String {
    let required = if attribute.required { ", *" } else { "" };
    format!(
        "{} ({}{required}): {}",
        attribute.name(locale),
        attribute.key,
        attribute_kind_text(&attribute.kind, locale)
    )
}

/// What values an attribute takes, in plain words.
pub(crate) fn attribute_kind_text(kind: &AttributeKind, locale: &str) -> String {
    match kind {
        AttributeKind::Integer { min, max } => format!("{min}–{max}"),
        AttributeKind::Decimal { min, max } => {
            format!("{}–{}", format_quantity(*min), format_quantity(*max))
        }
        AttributeKind::Text { max_len } => format!("≤ {max_len}"),
        AttributeKind::Choice { options } => options
            .iter()
            .map(|o| o.name(locale).to_owned())
            .collect::<Vec<_>>()
            .join(" / "),
        AttributeKind::Boolean => {
            if locale.starts_with("zh") {
                "是 / 否".to_owned()
            } else {
                "yes / no".to_owned()
            }
        }
    }
}

/// A refused file's problems as a table.
pub(crate) fn problems_table(problems: &[RowProblem], tr: &crate::i18n::Tr) -> Table {
    Table {
        title: tr.t("potential.import.problems"),
        headers: vec![
            tr.t("potential.import.sheet"),
            tr.t("potential.import.row"),
            tr.t("potential.import.column"),
            tr.t("potential.import.field"),
            tr.t("potential.import.message"),
        ],
        rows: problems
            .iter()
            .map(|p| {
                vec![
                    text(p.sheet.clone()),
                    p.row.map(i64::from).into(),
                    p.column.clone().into(),
                    p.field.clone().into(),
                    text(p.message_in(tr.locale).to_owned()),
                ]
            })
            .collect(),
    }
}

// ---------------------------------------------------------------- baselines

/// The columns of a baseline sheet.
pub(crate) const BASELINE_COLUMNS: [&str; 3] = ["region_code", "type_code", "required_quantity"];

/// Baselines read from an uploaded sheet: the rows, the sheet row each came from, and the
/// sheet's name, so that storage's problems can be put back where the user sees them.
#[derive(Debug)]
pub(crate) struct BaselineSheet {
    pub rows: Vec<BaselineRow>,
    pub sheet_rows: Vec<u32>,
    pub sheet: String,
}

/// Reads the first sheet with a header naming the three baseline columns (in its first
/// ten rows; a header may also be `label (key)` as in the templates). Every unreadable
/// quantity and missing code is reported, all at once.
/// [`read_baseline_sheet`] on a blocking thread: unpacking and reading a workbook is
/// seconds of CPU that must not hold up a request worker.
/// It waits its turn among the files read at once ([`muster_storage::file_read_turn`]).
pub(crate) async fn read_baseline_upload(
    bytes: Vec<u8>,
) -> Result<BaselineSheet, muster_storage::StorageError> {
    use muster_storage::StorageError;
    let turn = muster_storage::file_read_turn().await?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        read_baseline_sheet(&bytes)
    })
    .await
    .unwrap_or_else(|stopped| {
        Err(SheetProblems(vec![RowProblem {
            sheet: String::new(),
            row: None,
            column: None,
            field: None,
            message: format!("the file could not be read ({stopped})"),
            message_zh: Some(format!("无法读取文件（{stopped}）")),
        }]))
    })
    .map_err(StorageError::SheetRejected)
}

pub(crate) fn read_baseline_sheet(bytes: &[u8]) -> Result<BaselineSheet, SheetProblems> {
    let file_problem = |message: Said| {
        SheetProblems(vec![RowProblem {
            sheet: String::new(),
            row: None,
            column: None,
            field: None,
            message: message.en,
            message_zh: Some(message.zh),
        }])
    };
    let workbook =
        read_workbook(bytes).map_err(|e| file_problem(Said::new(e.to_string(), e.zh())))?;
    let column_of = |cell: &str| {
        let cell = cell.trim();
        let key = cell
            .rsplit_once('(')
            .map_or(cell, |(_, rest)| rest.trim_end_matches(')').trim());
        BASELINE_COLUMNS
            .iter()
            .position(|c| c.eq_ignore_ascii_case(key) || c.eq_ignore_ascii_case(cell))
    };
    for sheet in workbook.sheets.iter().filter(|s| !s.hidden) {
        let Some(header_at) = sheet.rows.iter().take(10).position(|row| {
            let found: Vec<usize> = row.cells.iter().filter_map(|c| column_of(c)).collect();
            (0..BASELINE_COLUMNS.len()).all(|i| found.contains(&i))
        }) else {
            continue;
        };
        // Excel errors count only in the sheet read, not in a list sheet beside it.
        sheet
            .refuse_cell_errors()
            .map_err(|e| file_problem(Said::new(e.to_string(), e.zh())))?;
        let mut positions = [0usize; 3];
        for (index, cell) in sheet.rows[header_at].cells.iter().enumerate() {
            if let Some(column) = column_of(cell) {
                positions[column] = index;
            }
        }
        let mut result = BaselineSheet {
            rows: Vec::new(),
            sheet_rows: Vec::new(),
            sheet: sheet.name.clone(),
        };
        let mut problems = Vec::new();
        for row in &sheet.rows[header_at + 1..] {
            let cell = |i: usize| row.cell(positions[i]).trim().to_owned();
            let mut problem = |i: usize, message: Said| {
                problems.push(RowProblem {
                    sheet: sheet.name.clone(),
                    row: Some(row.number),
                    column: Some(column_name(positions[i])),
                    field: Some(BASELINE_COLUMNS[i].to_owned()),
                    message: message.en,
                    message_zh: Some(message.zh),
                });
            };
            let (region_code, type_code, quantity_text) = (cell(0), cell(1), cell(2));
            if region_code.is_empty() {
                problem(0, Said::new("the region code is empty", "行政区划代码为空"));
            }
            if type_code.is_empty() {
                problem(
                    1,
                    Said::new("the resource type code is empty", "资源类型代码为空"),
                );
            }
            match muster_domain::number::read_decimal(&quantity_text) {
                Some(q) if q >= 0.0 => {
                    result.rows.push(BaselineRow {
                        region_code,
                        type_code,
                        required_quantity: q,
                    });
                    result.sheet_rows.push(row.number);
                }
                _ => problem(
                    2,
                    Said::new(
                        format!("expected a number of zero or more, found \"{quantity_text}\""),
                        format!("应为零或正数，实为“{quantity_text}”"),
                    ),
                ),
            }
        }
        if !problems.is_empty() {
            return Err(SheetProblems(problems));
        }
        if result.rows.is_empty() {
            return Err(file_problem(Said::new(
                "the sheet has no baseline rows",
                "工作表没有基准数据行",
            )));
        }
        return Ok(result);
    }
    Err(file_problem(Said::new(
        format!(
            "no sheet has a header row with the columns {} in its first ten rows",
            BASELINE_COLUMNS.join(", ")
        ),
        format!(
            "没有工作表在前十行内含有带 {} 列的表头",
            BASELINE_COLUMNS.join("、")
        ),
    )))
}

/// Storage numbers baseline problems by position in the list (1 = first row) under the
/// sheet name `baselines`; this puts them at the sheet's own rows and names the column.
pub(crate) fn relocate_baseline_problems(
    problems: SheetProblems,
    sheet: &BaselineSheet,
) -> SheetProblems {
    SheetProblems(
        problems
            .0
            .into_iter()
            .map(|mut p| {
                if let Some(index) = p.row.and_then(|r| usize::try_from(r).ok())
                    && let Some(number) = index.checked_sub(1).and_then(|i| sheet.sheet_rows.get(i))
                {
                    p.row = Some(*number);
                }
                p.sheet = sheet.sheet.clone();
                if p.column.is_none()
                    && let Some(i) = p
                        .field
                        .as_deref()
                        .and_then(|f| BASELINE_COLUMNS.iter().position(|c| *c == f))
                {
                    p.column = Some(column_name(i));
                }
                p
            })
            .collect(),
    )
}

/// The baseline template: the three columns, nothing else.
pub(crate) fn baseline_template() -> Table {
    Table {
        title: "baselines".into(),
        headers: BASELINE_COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
        rows: Vec::new(),
    }
}

// ---------------------------------------------------------------- charts

/// A horizontal bar chart, laid out here and drawn by `templates/bar_chart.html`. Each row
/// has its label above its bar, so the chart stays readable at a phone's width.
#[derive(Debug, Clone)]
pub(crate) struct BarChart {
    pub label: String,
    pub width: u32,
    pub height: u32,
    pub bar_height: u32,
    pub bars: Vec<Bar>,
    /// What the full and the inner bar mean, for the legend (an empty part: no inner bar).
    pub legend_whole: String,
    pub legend_part: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub label: String,
    pub value_text: String,
    pub label_y: u32,
    pub bar_y: u32,
    /// Widths in the chart's units (0..=BAR_AREA).
    pub whole_width: u32,
    pub part_width: u32,
    /// Where the value is written: just after the bar, on its middle line.
    pub value_x: u32,
    pub value_y: u32,
}

// Narrow on purpose: the SVG scales to the page's width, and on a phone its 13-unit text
// should stay readable. The stylesheet caps its width on wide screens.
const CHART_WIDTH: u32 = 400;
const BAR_AREA: u32 = 300;
const ROW_HEIGHT: u32 = 38;
const BAR_HEIGHT: u32 = 14;

/// One row of a chart: a label, a whole (the bar's length) and a part of it (drawn inside).
#[derive(Debug, Clone)]
pub(crate) struct ChartRow {
    pub label: String,
    pub whole: f64,
    pub part: f64,
    pub value_text: String,
}

impl BarChart {
    /// Bars scaled to the largest whole; `max` forces a scale (1.0 for shares).
    pub(crate) fn new(
        label: String,
        rows: Vec<ChartRow>,
        max: Option<f64>,
        legend_whole: String,
        legend_part: String,
    ) -> BarChart {
        let largest = max.unwrap_or_else(|| rows.iter().map(|r| r.whole).fold(0.0, f64::max));
        let scale = |v: f64| -> u32 {
            if largest <= 0.0 || !v.is_finite() {
                0
            } else {
                // Bounded to 0..=BAR_AREA before the cast, so it cannot truncate.
                (v / largest * f64::from(BAR_AREA))
                    .round()
                    .clamp(0.0, f64::from(BAR_AREA)) as u32
            }
        };
        let bars: Vec<Bar> = rows
            .into_iter()
            .zip(0u32..)
            .map(|(row, index)| {
                let top = index * ROW_HEIGHT;
                let whole_width = scale(row.whole).max(u32::from(row.whole > 0.0));
                Bar {
                    label: row.label,
                    value_text: row.value_text,
                    label_y: top + 14,
                    bar_y: top + 20,
                    whole_width,
                    part_width: scale(row.part).min(whole_width),
                    value_x: whole_width + 6,
                    value_y: top + 20 + BAR_HEIGHT - 2,
                }
            })
            .collect();
        let height = u32::try_from(bars.len()).unwrap_or(0) * ROW_HEIGHT + 4;
        BarChart {
            label,
            width: CHART_WIDTH,
            height,
            bar_height: BAR_HEIGHT,
            bars,
            legend_whole,
            legend_part,
        }
    }
}

// ---------------------------------------------------------------- refused uploads

/// The problem lists of refused uploads, kept in memory for [`PROBLEM_LIST_TTL`] under a
/// random id so that the page can offer them as CSV or XLSX without the file being sent
/// again. Only the user who uploaded may fetch a list. Lost on restart, which is fine: the
/// page shows the same list.
#[derive(Debug, Default)]
pub(crate) struct ProblemLists {
    lists: Mutex<BTreeMap<String, StoredProblems>>,
}

/// What a kept list is the problems of: each page fetches only its own kind, as each lays
/// its problems out in its own columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProblemKind {
    /// A spreadsheet of records, baselines or a survey report: sheet, row, column, field.
    Sheet,
    /// A regions file: line, column position and header.
    Regions,
}

#[derive(Debug, Clone)]
struct StoredProblems {
    user_id: i64,
    kind: ProblemKind,
    stored_at: Instant,
    problems: Vec<RowProblem>,
}

impl ProblemLists {
    /// Keeps `problems` of `kind` for `user_id`; returns the id to fetch them with.
    pub(crate) fn keep(
        &self,
        user_id: i64,
        kind: ProblemKind,
        problems: Vec<RowProblem>,
    ) -> String {
        let id = crate::auth::random_secret();
        let now = Instant::now();
        let mut lists = self
            .lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lists.retain(|_, stored| now.duration_since(stored.stored_at) < PROBLEM_LIST_TTL);
        while lists.len() >= PROBLEM_LISTS_KEPT {
            let oldest = lists
                .iter()
                .min_by_key(|(_, stored)| stored.stored_at)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(oldest) => lists.remove(&oldest),
                None => break,
            };
        }
        lists.insert(
            id.clone(),
            StoredProblems {
                user_id,
                kind,
                stored_at: now,
                problems,
            },
        );
        id
    }

    /// The list, if it exists, has not expired, is of `kind` and belongs to `user_id`.
    pub(crate) fn get(&self, user_id: i64, kind: ProblemKind, id: &str) -> Option<Vec<RowProblem>> {
        let lists = self
            .lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lists
            .get(id)
            .filter(|s| {
                s.user_id == user_id && s.kind == kind && s.stored_at.elapsed() < PROBLEM_LIST_TTL
            })
            .map(|s| s.problems.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taxonomy() -> Taxonomy {
        Taxonomy::default_taxonomy()
    }

    fn totals(count: i64, quantity: f64) -> Totals {
        Totals {
            record_count: count,
            quantity,
            available_quantity: quantity,
            verified_count: 0,
            verified_quantity: 0.0,
        }
    }

    #[test]
    fn totals_group_by_the_level_below_the_focus() {
        let taxonomy = taxonomy();
        let rows = vec![
            TypeTotals {
                type_code: "TRN.ROAD.TRUCK_HEAVY".into(),
                totals: totals(2, 30.0),
            },
            TypeTotals {
                type_code: "CAD.MAT.TENT_12".into(),
                totals: totals(1, 300.0),
            },
            TypeTotals {
                type_code: "CAD.MAT.TENT_36".into(),
                totals: totals(3, 5.0),
            },
        ];
        let top = Focus::default();
        assert_eq!(top.natural_level(), Level::Category);
        let categories = group_totals(&taxonomy, Level::Category, &top, &rows, true);
        assert_eq!(categories.len(), 6);
        let civil = categories
            .iter()
            .find(|g| g.key.code() == "civil_air_defense")
            .expect("civil air defense");
        assert_eq!(civil.totals.record_count, 4);
        assert_eq!(
            group_totals(&taxonomy, Level::Category, &top, &rows, false).len(),
            2
        );

        let focus = Focus::parse(&taxonomy, None, Some("CAD.MAT"), None).expect("focus");
        assert_eq!(focus.category, Some(Category::CivilAirDefense));
        assert_eq!(focus.natural_level(), Level::Type);
        let types = group_totals(&taxonomy, Level::Type, &focus, &rows, false);
        assert_eq!(
            types.iter().map(|g| g.key.code()).collect::<Vec<_>>(),
            ["CAD.MAT.TENT_12", "CAD.MAT.TENT_36"]
        );
        assert_eq!(focus_total(&taxonomy, &focus, &rows).record_count, 4);

        assert!(Focus::parse(&taxonomy, Some("transportation"), Some("CAD.MAT"), None).is_err());
        assert!(Focus::parse(&taxonomy, Some("nope"), None, None).is_err());
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(format_quantity(12.0), "12");
        assert_eq!(format_quantity(12.5), "12.5");
        assert_eq!(format_quantity(0.126), "0.13");
        assert_eq!(format_share(1.0, 4.0), "25.0%");
        assert_eq!(format_share(1.0, 0.0), "–");
        assert_eq!(
            query_string(&[
                ("region", Some("3401")),
                ("type", None),
                ("q", Some("a b&"))
            ]),
            "?region=3401&q=a%20b%26"
        );
        assert_eq!(with_format("/potential", "csv"), "/potential?format=csv");
        assert_eq!(
            with_format("/potential?a=1", "csv"),
            "/potential?a=1&format=csv"
        );
    }

    #[test]
    fn baselines_read_from_a_sheet_and_problems_name_the_sheet_row() {
        let ok = read_baseline_sheet(
            b"note\nregion_code,type_code,required_quantity\n3401,CAD.MAT.TENT_12,100\n,,\n3402,CAD.MAT.TENT_12,5\n",
        )
        .expect("reads");
        assert_eq!(ok.rows.len(), 2);
        assert_eq!(ok.sheet_rows, [3, 5]);
        let relocated = relocate_baseline_problems(
            SheetProblems(vec![RowProblem {
                sheet: "baselines".into(),
                row: Some(2),
                column: None,
                field: Some("type_code".into()),
                message: "unknown".into(),
                message_zh: None,
            }]),
            &ok,
        );
        assert_eq!(relocated.0[0].row, Some(5));
        assert_eq!(relocated.0[0].column.as_deref(), Some("B"));

        let bad = read_baseline_sheet(b"region_code,type_code,required_quantity\n3401,X,lots\n")
            .expect_err("refused");
        assert_eq!(bad.0[0].row, Some(2));
        assert_eq!(bad.0[0].column.as_deref(), Some("C"));
        assert!(read_baseline_sheet(b"a,b\n1,2\n").is_err());

        // Thousands separators group in threes; a decimal comma is refused, not read as 15.
        let grouped =
            read_baseline_sheet(b"region_code,type_code,required_quantity\n3401,X,\"1,200\"\n")
                .expect("reads");
        assert_eq!(grouped.rows[0].required_quantity, 1200.0);
        let comma =
            read_baseline_sheet(b"region_code,type_code,required_quantity\n3401,X,\"1,5\"\n")
                .expect_err("refused");
        assert_eq!(comma.0[0].column.as_deref(), Some("C"));
    }

    #[test]
    fn charts_scale_to_the_largest_bar() {
        let chart = BarChart::new(
            "x".into(),
            vec![
                ChartRow {
                    label: "a".into(),
                    whole: 10.0,
                    part: 5.0,
                    value_text: "10".into(),
                },
                ChartRow {
                    label: "b".into(),
                    whole: 0.0,
                    part: 0.0,
                    value_text: "0".into(),
                },
            ],
            None,
            String::new(),
            String::new(),
        );
        assert_eq!(chart.bars[0].whole_width, BAR_AREA);
        assert_eq!(chart.bars[0].part_width, BAR_AREA / 2);
        assert_eq!(chart.bars[1].whole_width, 0);
        assert_eq!(chart.bars[1].bar_y, ROW_HEIGHT + 20);
    }

    #[test]
    fn problem_lists_belong_to_their_user() {
        let lists = ProblemLists::default();
        let id = lists.keep(
            7,
            ProblemKind::Sheet,
            vec![RowProblem {
                sheet: "s".into(),
                row: Some(2),
                column: None,
                field: None,
                message: "m".into(),
                message_zh: None,
            }],
        );
        assert_eq!(
            lists.get(7, ProblemKind::Sheet, &id).map(|p| p.len()),
            Some(1)
        );
        assert!(lists.get(8, ProblemKind::Sheet, &id).is_none());
        assert!(lists.get(7, ProblemKind::Sheet, "nope").is_none());
        assert!(
            lists.get(7, ProblemKind::Regions, &id).is_none(),
            "a regions page does not serve a sheet's problems"
        );
    }
}
