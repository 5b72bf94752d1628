//! Validating potential records from a spreadsheet (a survey report or a bulk load), all or
//! nothing: every problem is named by sheet, row and column, and a file with any problem
//! yields no records.
//!
//! Validation runs in two steps because the rows name regions that storage must look up:
//! [`RecordImporter::push_row`] checks everything a row says about itself (type in scope,
//! unit, quantity within the type's bounds, attributes, holder) and collects the region
//! codes; [`RecordImporter::finish`] gets those regions from the caller and checks what
//! depends on them (region known and in scope, coordinates inside it, no holding twice).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use serde::Serialize;

use super::{
    Holder, HolderKind, HoldingRegister, QualityGrade, RecordDraft, RecordStatus, holding_key,
};
use crate::region::{RegionLevel, RegionPath};
use crate::sheet::{Sheet, Workbook, column_name};
use crate::taxonomy::{AttributeSpec, Taxonomy};
pub use crate::text::Said;
use crate::text::trim_cell;

/// The columns of a potential spreadsheet: a stable key (what the template's header says in
/// brackets), and English and Chinese labels that are accepted as headers too.
pub const STANDARD_COLUMNS: [StandardColumn; 12] = [
    StandardColumn::new("type_code", "Resource type code", "资源类型代码", true),
    StandardColumn::new("quantity", "Quantity", "数量", true),
    StandardColumn::new("unit", "Unit", "计量单位", false),
    StandardColumn::new("quality", "Quality grade", "质量等级", false),
    StandardColumn::new("holder_kind", "Holder kind", "持有者类型", false),
    StandardColumn::new("holder_name", "Holder", "持有者名称", true),
    StandardColumn::new("holder_id_number", "Holder ID number", "证件号码", false),
    StandardColumn::new("holder_phone", "Holder phone", "联系电话", false),
    StandardColumn::new("site", "Storage site", "存放地点", false),
    StandardColumn::new("region_code", "Region code", "行政区划代码", true),
    StandardColumn::new("lat", "Latitude", "纬度", false),
    StandardColumn::new("lon", "Longitude", "经度", false),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardColumn {
    pub key: &'static str,
    pub name_en: &'static str,
    pub name_zh: &'static str,
    pub required: bool,
}

impl StandardColumn {
    const fn new(
        key: &'static str,
        name_en: &'static str,
        name_zh: &'static str,
        required: bool,
    ) -> Self {
        Self {
            key,
            name_en,
            name_zh,
            required,
        }
    }

    /// The header a generated template carries: the label in the reader's language with the
    /// key in brackets, so that either half is enough to recognise the column.
    pub fn template_header(&self, locale: &str) -> String {
        let label = if locale.starts_with("zh") {
            self.name_zh
        } else {
            self.name_en
        };
        format!("{label} ({})", self.key)
    }
}

/// How far a record's coordinates may lie from its region's own point before they are
/// called outside it. Muster keeps one point per region, not its boundary, so "inside" is a
/// generous radius per level (a province spans hundreds of kilometres, a village a few).
pub fn region_radius_km(level: RegionLevel) -> f64 {
    match level {
        RegionLevel::Province => 900.0,
        RegionLevel::City => 250.0,
        RegionLevel::County => 100.0,
        RegionLevel::Township => 40.0,
        RegionLevel::Village => 15.0,
    }
}

/// Great-circle distance on a sphere of the Earth's mean radius (haversine).
pub fn great_circle_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0088;
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// What the importer needs to know of a region named in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionInfo {
    pub path: RegionPath,
    pub level: RegionLevel,
    pub coordinates: Option<(f64, f64)>,
}

/// The rules of the import: the taxonomy, and the types a survey round asks for (None: all).
#[derive(Debug, Clone, Copy)]
pub struct ImportRules<'a> {
    pub taxonomy: &'a Taxonomy,
    pub allowed_types: Option<&'a HashSet<String>>,
}

/// One problem, located as the user sees the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowProblem {
    pub sheet: String,
    /// The 1-based row; None for a problem with the file as a whole.
    pub row: Option<u32>,
    /// The column letters, e.g. `C`.
    pub column: Option<String>,
    /// The column's header as the file has it.
    pub field: Option<String>,
    /// In English: the API's, the logs' and the English pages' words.
    pub message: String,
    /// The same in Chinese, for the Chinese pages and downloads; None where only the English
    /// was written (they fall back to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_zh: Option<String>,
}

impl RowProblem {
    /// The message in `locale` (`zh…` for Chinese), or the English where that is all there is.
    pub fn message_in(&self, locale: &str) -> &str {
        match &self.message_zh {
            Some(zh) if locale.starts_with("zh") => zh,
            _ => &self.message,
        }
    }
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sheet \"{}\"", self.sheet)?;
        if let Some(row) = self.row {
            write!(f, ", row {row}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        if let Some(field) = &self.field {
            write!(f, " ({field})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem of a refused file, in sheet order, row order. Never empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SheetProblems(pub Vec<RowProblem>);

impl fmt::Display for SheetProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} problem(s); nothing was imported:", self.0.len())?;
        for problem in &self.0 {
            writeln!(f, "  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SheetProblems {}

impl SheetProblems {
    fn file(sheet: &str, message: Said) -> Self {
        Self(vec![RowProblem {
            sheet: sheet.to_owned(),
            row: None,
            column: None,
            field: None,
            message: message.en,
            message_zh: Some(message.zh),
        }])
    }
}

/// Where each column is in this file.
#[derive(Debug, Clone, Default)]
struct Columns {
    standard: [Option<usize>; STANDARD_COLUMNS.len()],
    /// Every other non-blank header: an attribute, named by key or label — the whole
    /// header, or the bracketed part of `载重(吨) (payload_t)`.
    attributes: Vec<(usize, String, Option<String>)>,
}

impl Columns {
    fn at(&self, key: &str) -> Option<usize> {
        STANDARD_COLUMNS
            .iter()
            .position(|c| c.key == key)
            .and_then(|i| self.standard[i])
    }
}

/// The key a header names: the bracketed key of a template header, or a key, English or
/// Chinese label given on its own. Case, spaces and a trailing `*` (required) do not matter.
fn standard_column_of(header: &str) -> Option<usize> {
    let header = header.trim().trim_end_matches('*').trim();
    let bracketed = header
        .rsplit_once(['(', '（'])
        .map(|(_, rest)| rest.trim_end_matches([')', '）']).trim());
    let candidates = bracketed.into_iter().chain(std::iter::once(header));
    for candidate in candidates {
        if let Some(i) = STANDARD_COLUMNS.iter().position(|c| {
            c.key.eq_ignore_ascii_case(candidate)
                || c.name_en.eq_ignore_ascii_case(candidate)
                || c.name_zh == candidate
        }) {
            return Some(i);
        }
    }
    None
}

/// An attribute header as written, and its bracketed last part if any: a label may hold
/// brackets of its own (`载重(吨)`), so both are tried.
fn attribute_labels(header: &str) -> (String, Option<String>) {
    let header = header.trim().trim_end_matches('*').trim();
    let bracketed = header
        .rsplit_once(['(', '（'])
        .map(|(_, rest)| rest.trim_end_matches([')', '）']).trim())
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    (header.to_owned(), bracketed)
}

/// The trimmed text of a cell, or "" past the end of the row.
/// A resident identity number as the holding key and the masks expect it: 18 characters,
/// digits but for a last `X` or `x` (kept as given, as the keys stored before were), or the
/// 15 digits of the first-generation cards. Anything else, such as the `3.40102E+17` Excel makes of a number
/// typed into a number column, would make two people one holding or hide a duplicate.
fn resident_id_number(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
    match bytes {
        [body @ .., last] if bytes.len() == 18 && digits(body) => {
            if last.is_ascii_digit() || last.eq_ignore_ascii_case(&b'X') {
                Some(text.to_owned())
            } else {
                None
            }
        }
        _ if bytes.len() == 15 && digits(bytes) => Some(text.to_owned()),
        _ => None,
    }
}

/// The attribute of `resource_type` an attribute column holds: by its whole header, or by
/// the part in brackets (`载重(吨) (payload_t)`).
fn attribute_of_column<'t>(
    resource_type: &'t crate::taxonomy::ResourceType,
    label: &str,
    bracketed: Option<&str>,
) -> Option<&'t crate::taxonomy::AttributeSpec> {
    resource_type
        .attribute_by_label(label)
        .or_else(|| bracketed.and_then(|b| resource_type.attribute_by_label(b)))
}

fn cell_at<'c>(cells: &[&'c str], column: Option<usize>) -> &'c str {
    column
        .and_then(|c| cells.get(c))
        .map_or("", |text| trim_cell(text))
}

/// How many problems one list keeps: enough for a person to work through, few enough that a
/// file of a million bad rows cannot fill the server's memory with them.
pub const MAX_LISTED_PROBLEMS: usize = 1_000;

/// A header or sheet name as a problem repeats it: real ones are short, and each problem
/// holds its own copy.
const MAX_NAME_CHARS: usize = 100;

fn shortened(text: &str) -> String {
    match text.char_indices().nth(MAX_NAME_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Problems as they are found, the first [`MAX_LISTED_PROBLEMS`] kept and the rest counted.
#[derive(Debug, Default)]
struct ProblemList {
    listed: Vec<RowProblem>,
    unlisted: usize,
}

impl ProblemList {
    fn push(&mut self, problem: RowProblem) {
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed.push(problem);
        } else {
            self.unlisted += 1;
        }
    }

    /// Every problem found, kept or counted.
    fn count(&self) -> usize {
        self.listed.len() + self.unlisted
    }

    fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The problems kept, and one for `sheet` saying how many more were found, if any.
    fn into_vec(self, sheet: &str) -> Vec<RowProblem> {
        let mut problems = self.listed;
        if self.unlisted > 0 {
            let more = self.unlisted;
            problems.push(RowProblem {
                sheet: shortened(sheet),
                row: None,
                column: None,
                field: None,
                message: format!(
                    "{more} more problems of this kind are not listed; fix those listed and upload the file again"
                ),
                message_zh: Some(format!(
                    "另有 {more} 个同类问题未列出；请先修正已列出的问题，再重新上传文件"
                )),
            });
        }
        problems
    }
}

/// A row that passed every check it can make on its own.
#[derive(Debug, Clone)]
struct PendingRow {
    row: u32,
    type_code: String,
    quantity: f64,
    attributes: std::collections::BTreeMap<String, crate::taxonomy::AttributeValue>,
    quality: QualityGrade,
    holder: Holder,
    site: Option<String>,
    region_code: String,
    coordinates: Option<(f64, f64)>,
}

/// Validates the rows of one sheet.
#[derive(Debug)]
pub struct RecordImporter<'a> {
    rules: ImportRules<'a>,
    sheet: String,
    headers: Vec<String>,
    columns: Columns,
    pending: Vec<PendingRow>,
    /// Rows that failed their own checks but name a region: the region is still checked
    /// (known, in scope), so that one pass lists every problem of the row.
    unplaced: Vec<(u32, String)>,
    problems: ProblemList,
    /// The sheet, headers and columns as handed on with each batch of pending rows, made
    /// once.
    layout: Option<Arc<SheetLayout>>,
    /// For each resource type met so far, the attribute each attribute column names (by
    /// key, English or Chinese name), in the order of `columns.attributes`: worked out once
    /// a type, not once a row.
    attribute_specs: foldhash::HashMap<&'a str, Vec<Option<&'a AttributeSpec>>>,
    /// How many data rows the sheet holds, as far as known before reading them (see
    /// [`SheetLayout::rows_expected`]).
    rows_expected: usize,
}

/// Where a sheet's columns are: what placing rows needs to name a problem's column.
#[derive(Debug)]
pub struct SheetLayout {
    sheet: String,
    headers: Vec<String>,
    columns: Columns,
    /// How many data rows the sheet holds, as far as known before reading them: a
    /// workbook's count, or a CSV's lines. Only a size for what grows with the rows (the
    /// placer's register of holdings, which otherwise rehashed all it held each time it
    /// doubled: for a million-row file the last time 917,504 holdings, half a second while
    /// storing waited), never trusted as a count.
    rows_expected: usize,
}

impl SheetLayout {
    fn problem(&self, row: u32, column: Option<usize>, message: Said) -> RowProblem {
        RowProblem {
            sheet: self.sheet.clone(),
            row: Some(row),
            column: column.map(column_name),
            field: column.and_then(|c| self.headers.get(c).cloned()),
            message: message.en,
            message_zh: Some(message.zh),
        }
    }
}

impl<'a> RecordImporter<'a> {
    /// Reads the header row; refuses a sheet that lacks a required column or names one twice.
    pub fn new(
        rules: ImportRules<'a>,
        sheet: &str,
        header_row: u32,
        header: &[&str],
    ) -> Result<Self, SheetProblems> {
        let mut columns = Columns::default();
        let mut problems = Vec::new();
        for (position, text) in header.iter().enumerate() {
            if text.trim().is_empty() {
                continue;
            }
            match standard_column_of(text) {
                Some(i) if columns.standard[i].is_some() => problems.push(RowProblem {
                    sheet: sheet.to_owned(),
                    row: Some(header_row),
                    column: Some(column_name(position)),
                    field: Some((*text).to_owned()),
                    message: format!("column {} appears twice; keep one", STANDARD_COLUMNS[i].key),
                    message_zh: Some(format!(
                        "列 {} 出现了两次，请只保留一列",
                        STANDARD_COLUMNS[i].key
                    )),
                }),
                Some(i) => columns.standard[i] = Some(position),
                None => {
                    let (whole, bracketed) = attribute_labels(text);
                    columns.attributes.push((position, whole, bracketed));
                }
            }
        }
        for (i, column) in STANDARD_COLUMNS.iter().enumerate() {
            if column.required && columns.standard[i].is_none() {
                problems.push(RowProblem {
                    sheet: sheet.to_owned(),
                    row: Some(header_row),
                    column: None,
                    field: Some(column.key.to_owned()),
                    message: format!(
                        "the header row has no column {} ({} / {}); start from the round's template",
                        column.key, column.name_en, column.name_zh
                    ),
                    message_zh: Some(format!(
                        "表头缺少列 {}（{}），请使用本轮调查生成的模板",
                        column.key, column.name_zh
                    )),
                });
            }
        }
        if !problems.is_empty() {
            return Err(SheetProblems(problems));
        }
        Ok(Self {
            rules,
            sheet: shortened(sheet),
            headers: header.iter().map(|h| shortened(h)).collect(),
            columns,
            pending: Vec::new(),
            unplaced: Vec::new(),
            problems: ProblemList::default(),
            layout: None,
            attribute_specs: foldhash::HashMap::default(),
            rows_expected: 0,
        })
    }

    /// Tells the importer how many data rows the sheet is expected to hold, for sizing what
    /// grows with them; capped at Excel's row limit, which no sheet read passes.
    pub fn expect_rows(&mut self, rows: usize) {
        self.rows_expected = rows.min(crate::sheet::EXCEL_MAX_ROWS as usize);
    }

    fn problem(&mut self, row: u32, column: Option<usize>, message: Said) {
        self.problems.push(RowProblem {
            sheet: self.sheet.clone(),
            row: Some(row),
            column: column.map(column_name),
            field: column.and_then(|c| self.headers.get(c).cloned()),
            message: message.en,
            message_zh: Some(message.zh),
        });
    }

    /// Checks one data row. `cells` are the row's cells by column position.
    pub fn push_row(&mut self, row: u32, cells: &[&str]) {
        let cell = |column: Option<usize>| cell_at(cells, column);
        let problems_before = self.problems.count();
        let taxonomy = self.rules.taxonomy;

        let type_column = self.columns.at("type_code");
        let type_code = cell(type_column);
        let resource_type = if type_code.is_empty() {
            self.problem(
                row,
                type_column,
                Said::new("required: a resource type code", "必填：资源类型代码"),
            );
            None
        } else {
            match taxonomy.resource_type(type_code) {
                None => {
                    self.problem(
                        row,
                        type_column,
                        Said::new(
                            format!("unknown resource type {type_code}"),
                            format!("没有资源类型 {type_code}"),
                        ),
                    );
                    None
                }
                Some(_)
                    if self
                        .rules
                        .allowed_types
                        .is_some_and(|allowed| !allowed.contains(type_code)) =>
                {
                    self.problem(
                        row,
                        type_column,
                        Said::new(
                            format!("resource type {type_code} is not asked for in this round"),
                            format!("本轮调查不含资源类型 {type_code}"),
                        ),
                    );
                    None
                }
                Some(found) => Some(found),
            }
        };

        let mut quantity = None;
        let mut attributes = Default::default();
        if let Some(resource_type) = resource_type {
            let unit_column = self.columns.at("unit");
            let unit = cell(unit_column);
            if !unit.is_empty() {
                let matches = unit.eq_ignore_ascii_case(&resource_type.unit)
                    || taxonomy
                        .unit(&resource_type.unit)
                        .is_some_and(|u| u.name_en.eq_ignore_ascii_case(unit) || u.name_zh == unit);
                if !matches {
                    let expected = taxonomy
                        .unit(&resource_type.unit)
                        .map_or(resource_type.unit.clone(), |u| {
                            format!("{} ({} / {})", u.code, u.name_en, u.name_zh)
                        });
                    self.problem(
                        row,
                        unit_column,
                        Said::new(
                            format!("{type_code} is counted in {expected}, not \"{unit}\""),
                            format!("{type_code} 的计量单位是 {expected}，不是“{unit}”"),
                        ),
                    );
                }
            }
            let quantity_column = self.columns.at("quantity");
            match resource_type.parse_quantity(cell(quantity_column)) {
                Ok(q) => quantity = Some(q),
                Err(problem) => self.problem(
                    row,
                    quantity_column,
                    Said::new(problem.to_string(), problem.zh()),
                ),
            }
            let mut raw: Vec<(&str, &str)> = Vec::new();
            let mut attribute_columns: Vec<(&str, usize)> = Vec::new();
            let columns = &self.columns;
            let specs = self
                .attribute_specs
                .entry(resource_type.code.as_str())
                .or_insert_with(|| {
                    columns
                        .attributes
                        .iter()
                        .map(|(_, label, bracketed)| {
                            attribute_of_column(resource_type, label, bracketed.as_deref())
                        })
                        .collect()
                });
            for ((position, label, _), spec) in columns.attributes.iter().zip(specs.iter()) {
                let value = cells.get(*position).map_or("", |t| trim_cell(t));
                if value.is_empty() {
                    continue;
                }
                match spec {
                    Some(spec) => {
                        raw.push((spec.key.as_str(), value));
                        attribute_columns.push((spec.key.as_str(), *position));
                    }
                    None => self.problems.push(RowProblem {
                        sheet: self.sheet.clone(),
                        row: Some(row),
                        column: Some(column_name(*position)),
                        field: self.headers.get(*position).cloned(),
                        message: format!("{type_code} has no attribute \"{label}\""),
                        message_zh: Some(format!("{type_code} 没有属性“{label}”")),
                    }),
                }
            }
            match resource_type.parse_attributes(&raw) {
                Ok(parsed) => attributes = parsed,
                Err(problems) => {
                    for problem in problems {
                        // A required attribute left blank is named at its column too, when
                        // the sheet has one.
                        let column = attribute_columns
                            .iter()
                            .find(|(key, _)| *key == problem.key())
                            .map(|(_, c)| *c)
                            .or_else(|| {
                                self.columns.attributes.iter().find_map(
                                    |(position, label, bracketed)| {
                                        attribute_of_column(
                                            resource_type,
                                            label,
                                            bracketed.as_deref(),
                                        )
                                        .filter(|spec| spec.key == problem.key())
                                        .map(|_| *position)
                                    },
                                )
                            });
                        self.problem(row, column, Said::new(problem.to_string(), problem.zh()));
                    }
                }
            }
        }

        let quality_column = self.columns.at("quality");
        let quality_text = cell(quality_column);
        let quality = if quality_text.is_empty() {
            QualityGrade::Good
        } else {
            QualityGrade::parse_label(quality_text).unwrap_or_else(|| {
                self.problem(
                    row,
                    quality_column,
                    Said::new(
                        format!(
                            "expected one of excellent, good, fair, poor (优, 良, 中, 差), found \"{quality_text}\""
                        ),
                        format!("应为 优、良、中、差 之一，实为“{quality_text}”"),
                    ),
                );
                QualityGrade::Good
            })
        };

        let holder = self.holder(row, cells);
        let site = Some(cell(self.columns.at("site")))
            .filter(|s| !s.is_empty())
            .map(str::to_owned);

        let region_column = self.columns.at("region_code");
        let region_code = cell(region_column);
        if region_code.is_empty() {
            self.problem(
                row,
                region_column,
                Said::new("required: the region's code", "必填：行政区划代码"),
            );
        }
        let coordinates = self.coordinates(row, cells);

        if self.problems.count() > problems_before {
            if !region_code.is_empty() {
                self.unplaced.push((row, region_code.to_owned()));
            }
            return;
        }
        if let (Some(quantity), Some(holder), Some(resource_type)) =
            (quantity, holder, resource_type)
        {
            self.pending.push(PendingRow {
                row,
                type_code: resource_type.code.clone(),
                quantity,
                attributes,
                quality,
                holder,
                site,
                region_code: region_code.to_owned(),
                coordinates,
            });
        }
    }

    fn holder(&mut self, row: u32, cells: &[&str]) -> Option<Holder> {
        let cell = |column: Option<usize>| cell_at(cells, column);
        let kind_column = self.columns.at("holder_kind");
        let name_column = self.columns.at("holder_name");
        let kind_text = cell(kind_column);
        let name = cell(name_column);
        let id_column = self.columns.at("holder_id_number");
        let id_text = cell(id_column);
        let id_number = if id_text.is_empty() {
            None
        } else if let Some(number) = resident_id_number(id_text) {
            Some(number)
        } else {
            self.problem(
                row,
                id_column,
                Said::new(
                    format!(
                        "expected a 15- or 18-digit identity number (the last may be X), found \"{id_text}\"; \
                         where Excel shows it as 3.40102E+17, format the column as text and type the number again"
                    ),
                    format!(
                        "应为 15 位或 18 位身份证号码（最后一位可为 X），实为“{id_text}”；若 Excel 显示为 3.40102E+17，请将该列设为文本格式后重新填写"
                    ),
                ),
            );
            return None;
        };
        let phone = Some(cell(self.columns.at("holder_phone")))
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let kind = if kind_text.is_empty() {
            // A holder with an identity number is a person; otherwise an organization.
            if id_number.is_some() {
                HolderKind::Person
            } else {
                HolderKind::Organization
            }
        } else if let Some(kind) = HolderKind::parse_label(kind_text) {
            kind
        } else {
            self.problem(
                row,
                kind_column,
                Said::new(
                    format!(
                        "expected organization or person (单位 or 个人), found \"{kind_text}\""
                    ),
                    format!("应为 单位 或 个人，实为“{kind_text}”"),
                ),
            );
            return None;
        };
        if name.is_empty() {
            self.problem(
                row,
                name_column,
                Said::new("required: who holds this", "必填：持有者名称"),
            );
            return None;
        }
        Some(match kind {
            HolderKind::Organization => Holder::Organization {
                id: None,
                name: name.to_owned(),
            },
            HolderKind::Person => Holder::Person {
                name: name.to_owned(),
                id_number,
                phone,
            },
        })
    }

    fn coordinates(&mut self, row: u32, cells: &[&str]) -> Option<(f64, f64)> {
        let cell = |column: Option<usize>| cell_at(cells, column);
        let lat_column = self.columns.at("lat");
        let lon_column = self.columns.at("lon");
        let (lat_text, lon_text) = (cell(lat_column), cell(lon_column));
        if lat_text.is_empty() && lon_text.is_empty() {
            return None;
        }
        let mut parse =
            |text: &str, column, low: f64, high: f64, what: &str, what_zh: &str| match text
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
            {
                Some(v) if (low..=high).contains(&v) => Some(v),
                _ => {
                    let message = if text.is_empty() {
                        Said::new(
                            format!("a {what} is needed when the other coordinate is given"),
                            format!("已填另一坐标时，{what_zh}也须填写"),
                        )
                    } else {
                        Said::new(
                            format!("expected a {what} from {low} to {high}, found \"{text}\""),
                            format!("{what_zh}应在 {low} 至 {high} 之间，实为“{text}”"),
                        )
                    };
                    self.problem(row, column, message);
                    None
                }
            };
        let lat = parse(lat_text, lat_column, -90.0, 90.0, "latitude", "纬度");
        let lon = parse(lon_text, lon_column, -180.0, 180.0, "longitude", "经度");
        lat.zip(lon)
    }

    /// The distinct region codes of the rows so far, for storage to look up.
    pub fn region_codes(&self) -> BTreeSet<String> {
        self.pending.iter().map(|p| p.region_code.clone()).collect()
    }

    /// How many rows passed their own checks and wait to be taken.
    pub fn pending_rows(&self) -> usize {
        self.pending.len()
    }

    /// Hands over the rows that passed their own checks so far, without the borrowed rules:
    /// what crosses from the thread that parses the file to the one that places and stores
    /// the rows, a batch at a time.
    pub fn take_pending(&mut self) -> PendingRows {
        // The next batch gets room for as many rows as this one, not a vector that grows.
        self.hand_over(self.pending.len())
    }

    /// [`Self::take_pending`], leaving room for `room` more rows.
    fn hand_over(&mut self, room: usize) -> PendingRows {
        let layout = self
            .layout
            .get_or_insert_with(|| {
                Arc::new(SheetLayout {
                    sheet: self.sheet.clone(),
                    headers: self.headers.clone(),
                    columns: self.columns.clone(),
                    rows_expected: self.rows_expected,
                })
            })
            .clone();
        PendingRows {
            layout,
            rows: std::mem::replace(&mut self.pending, Vec::with_capacity(room)),
            unplaced: std::mem::take(&mut self.unplaced),
            after_problems: !self.problems.is_empty(),
        }
    }

    /// The problems of rows that failed their own checks, in row order.
    pub fn into_problems(self) -> Vec<RowProblem> {
        self.problems.into_vec(&self.sheet)
    }

    /// Every row checked so far, and the problems of those that failed.
    pub fn into_pending(mut self) -> PendingImport {
        let rows = self.hand_over(0);
        PendingImport {
            rows,
            problems: self.problems.into_vec(&self.sheet),
        }
    }

    /// See [`PendingImport::finish`].
    pub fn finish(
        self,
        regions: &HashMap<String, RegionInfo>,
        scope: &RegionPath,
    ) -> Result<Vec<(u32, RecordDraft)>, SheetProblems> {
        self.into_pending().finish(regions, scope)
    }
}

/// A batch of rows that passed their own checks, waiting for the regions they name.
#[derive(Debug)]
pub struct PendingRows {
    layout: Arc<SheetLayout>,
    rows: Vec<PendingRow>,
    /// Rows refused for their own problems, by the region they name (see
    /// [`RecordImporter`]'s `unplaced`).
    unplaced: Vec<(u32, String)>,
    /// Whether some row before the end of this batch failed its own checks: the file will be
    /// refused, so nothing of it need be stored.
    after_problems: bool,
}

impl PendingRows {
    /// How many data rows the sheet the batch comes from is expected to hold, as far as
    /// known before reading them: a size for what grows with them, not a count.
    pub fn rows_expected(&self) -> usize {
        self.layout.rows_expected
    }

    /// The distinct region codes the rows name (hashed, not sorted: a batch names thousands).
    pub fn region_codes(&self) -> foldhash::HashSet<&str> {
        self.rows
            .iter()
            .map(|p| p.region_code.as_str())
            .chain(self.unplaced.iter().map(|(_, code)| code.as_str()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Whether a row up to here failed its own checks (see [`RecordImporter::push_row`]).
    pub fn after_problems(&self) -> bool {
        self.after_problems
    }
}

/// Every row of a sheet that passed its own checks, and the problems of those that did not.
#[derive(Debug)]
pub struct PendingImport {
    rows: PendingRows,
    problems: Vec<RowProblem>,
}

impl PendingImport {
    pub fn region_codes(&self) -> BTreeSet<String> {
        self.rows
            .region_codes()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Checks what depends on the regions, and returns every record with its row — or every
    /// problem of the whole sheet. `regions` holds the stored regions among
    /// [`Self::region_codes`]; `scope` is the subtree the importer may write to.
    pub fn finish(
        self,
        regions: &HashMap<String, RegionInfo>,
        scope: &RegionPath,
    ) -> Result<Vec<(u32, RecordDraft)>, SheetProblems> {
        let mut placer = RecordPlacer::new(&self.rows);
        let drafts = placer.place(self.rows, regions, scope);
        placer.finish(self.problems)?;
        Ok(drafts)
    }
}

/// The stored region a row names, if it is one and inside `scope`; else the problem at the
/// row's region cell.
fn region_in_scope<'r, S: BuildHasher>(
    layout: &SheetLayout,
    region_column: Option<usize>,
    row: u32,
    code: &str,
    regions: &'r HashMap<String, RegionInfo, S>,
    scope: &RegionPath,
) -> Result<&'r RegionInfo, Box<RowProblem>> {
    let Some(region) = regions.get(code) else {
        return Err(Box::new(layout.problem(
            row,
            region_column,
            Said::new(
                format!("unknown region {code}"),
                format!("没有行政区划 {code}"),
            ),
        )));
    };
    if !scope.contains(&region.path) {
        return Err(Box::new(layout.problem(
            row,
            region_column,
            Said::new(
                format!("region {code} is outside the area you report for"),
                format!("行政区划 {code} 不在您填报的范围内"),
            ),
        )));
    }
    Ok(region)
}

/// The second step of validation, a batch at a time: checks what depends on the regions
/// (known, in scope, coordinates inside) and that no holding comes twice in the file, and
/// makes the records. It remembers every holding placed so far, so the batches of one file
/// are checked against each other.
#[derive(Debug)]
pub struct RecordPlacer {
    layout: Arc<SheetLayout>,
    /// Every holding placed, at one level or at two (keyed with foldhash: a million holding
    /// keys were a tenth of the import's time with SipHash).
    holdings: HoldingRegister,
    /// How many rows were placed.
    placed: usize,
    problems: ProblemList,
}

impl RecordPlacer {
    /// A placer for the sheet the batch comes from.
    pub fn new(batch: &PendingRows) -> Self {
        let mut holdings = HoldingRegister::default();
        holdings.reserve(batch.layout.rows_expected);
        Self {
            layout: batch.layout.clone(),
            holdings,
            placed: 0,
            problems: ProblemList::default(),
        }
    }

    /// The records of the batch's rows that pass; the others' problems are kept for
    /// [`Self::finish`]. `regions` holds at least the batch's [`PendingRows::region_codes`]
    /// that are stored.
    pub fn place<S: BuildHasher>(
        &mut self,
        batch: PendingRows,
        regions: &HashMap<String, RegionInfo, S>,
        scope: &RegionPath,
    ) -> Vec<(u32, RecordDraft)> {
        let layout = &*self.layout;
        let region_column = layout.columns.at("region_code");
        let lat_column = layout.columns.at("lat");
        self.holdings.reserve(batch.rows.len());
        let mut drafts = Vec::with_capacity(batch.rows.len());
        for (row, code) in &batch.unplaced {
            if let Err(problem) = region_in_scope(layout, region_column, *row, code, regions, scope)
            {
                self.problems.push(*problem);
            }
        }
        for pending in batch.rows {
            let region = match region_in_scope(
                layout,
                region_column,
                pending.row,
                &pending.region_code,
                regions,
                scope,
            ) {
                Ok(region) => region,
                Err(problem) => {
                    self.problems.push(*problem);
                    continue;
                }
            };
            if let (Some(point), Some(centre)) = (pending.coordinates, region.coordinates) {
                let distance = great_circle_km(point, centre);
                let radius = region_radius_km(region.level);
                if distance > radius {
                    self.problems.push(layout.problem(
                        pending.row,
                        lat_column,
                        Said::new(
                            format!(
                                "the coordinates lie {distance:.0} km from region {}, outside it (a {} reaches about {radius:.0} km)",
                                pending.region_code, region.level
                            ),
                            format!(
                                "坐标距行政区划 {} 约 {distance:.0} 公里，超出其范围（该级区划半径约 {radius:.0} 公里）",
                                pending.region_code
                            ),
                        ),
                    ));
                    continue;
                }
            }
            let key = holding_key(
                &region.path,
                &pending.type_code,
                &pending.holder,
                pending.site.as_deref(),
            );
            if let Err(repeat) = self.holdings.register(pending.row, &key) {
                let first = repeat.first_row;
                let message = if repeat.at_same_region {
                    Said::new(
                        format!(
                            "the same holding (holder, type and site) is already on row {first}; report it once"
                        ),
                        format!("同一持有者、类型和地点的潜力已在第 {first} 行填报，请只报一次"),
                    )
                } else {
                    Said::new(
                        format!(
                            "the same holding (holder, type and site) is already on row {first}, under a region above or below this one; report it once, under the region where it is held"
                        ),
                        format!(
                            "同一持有者、类型和地点的潜力已在第 {first} 行按上级或下级行政区划填报，请只在其所在区划报一次"
                        ),
                    )
                };
                self.problems.push(layout.problem(
                    pending.row,
                    layout.columns.at("holder_name"),
                    message,
                ));
                continue;
            }
            self.placed += 1;
            drafts.push((
                pending.row,
                RecordDraft {
                    type_code: pending.type_code,
                    quantity: pending.quantity,
                    attributes: pending.attributes,
                    quality: pending.quality,
                    holder: pending.holder,
                    site: pending.site,
                    region_code: pending.region_code,
                    region_path: region.path.clone(),
                    coordinates: pending.coordinates,
                    status: RecordStatus::Available,
                    holding_key: key,
                },
            ));
        }
        drafts
    }

    /// Whether a row placed so far failed.
    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// Every holding placed, with the row that first named it (and those of rows refused for
    /// naming, at another level, a holding placed before: harmless where they are read, for
    /// a file that is refused anyway).
    pub fn holdings(&self) -> impl Iterator<Item = (u32, String)> + '_ {
        self.holdings.keys()
    }

    /// Ends the sheet: with `reader_problems` (those of rows that failed their own checks),
    /// every problem in row order, or how many records were placed.
    pub fn finish(self, reader_problems: Vec<RowProblem>) -> Result<usize, SheetProblems> {
        let mut problems = reader_problems;
        problems.extend(self.problems.into_vec(&self.layout.sheet));
        if !problems.is_empty() {
            problems.sort_by_key(|p| p.row);
            return Err(SheetProblems(problems));
        }
        if self.placed == 0 {
            return Err(SheetProblems::file(
                &self.layout.sheet,
                Said::new(
                    "the sheet has a header but no data rows",
                    "工作表只有表头，没有数据行",
                ),
            ));
        }
        Ok(self.placed)
    }
}

/// Whether a row names the resource type and quantity columns (the first two standard ones).
fn is_header_row<'c>(cells: impl Iterator<Item = &'c str>) -> bool {
    let found: Vec<usize> = cells.filter_map(standard_column_of).collect();
    found.contains(&0) && found.contains(&1)
}

/// How many rows at the top of a sheet may come before its header (a title, a note).
const HEADER_SEARCH_ROWS: usize = 10;

/// Finds the sheet to import in a workbook — the first visible sheet with a header row (in
/// its first ten rows) that names the resource type and quantity columns; instructions and
/// list sheets are passed over — and checks every row of it.
pub fn import_workbook<'a>(
    workbook: &Workbook,
    rules: ImportRules<'a>,
) -> Result<RecordImporter<'a>, SheetProblems> {
    import_workbook_rows(workbook, rules, |_| true)
}

/// [`import_workbook`], calling `after_row` after each row of the sheet imported (as
/// [`read_csv_records`] does): it may take the rows checked so far, or return false to stop.
fn import_workbook_rows<'a>(
    workbook: &Workbook,
    rules: ImportRules<'a>,
    mut after_row: impl FnMut(&mut RecordImporter<'a>) -> bool,
) -> Result<RecordImporter<'a>, SheetProblems> {
    let is_header = |cells: &[String]| is_header_row(cells.iter().map(String::as_str));
    let ordered = workbook
        .sheets
        .iter()
        .filter(|s| !s.hidden)
        .chain(workbook.sheets.iter().filter(|s| s.hidden));
    for sheet in ordered {
        let Some(header_index) = sheet
            .rows
            .iter()
            .take(HEADER_SEARCH_ROWS)
            .position(|row| is_header(&row.cells))
        else {
            continue;
        };
        // Only the sheet imported: a list sheet whose lookups show `#N/A` holds no data.
        if !sheet.cell_errors.is_empty() {
            return Err(cell_error_problems(sheet));
        }
        let header_row = &sheet.rows[header_index];
        let header: Vec<&str> = header_row.cells.iter().map(String::as_str).collect();
        let mut importer = RecordImporter::new(rules, &sheet.name, header_row.number, &header)?;
        importer.expect_rows(sheet.rows.len() - header_index - 1);
        let mut cells: Vec<&str> = Vec::new();
        for row in &sheet.rows[header_index + 1..] {
            cells.clear();
            cells.extend(row.cells.iter().map(String::as_str));
            importer.push_row(row.number, &cells);
            if !after_row(&mut importer) {
                break;
            }
        }
        return Ok(importer);
    }
    let sheet = workbook
        .sheets
        .first()
        .map_or_else(|| "(none)".to_owned(), |s| s.name.clone());
    Err(SheetProblems::file(
        &sheet,
        Said::new(
            "no sheet has a header row with the columns type_code and quantity in its first ten rows; start from the round's template",
            "没有工作表在前十行内含有带 type_code 和 quantity 列的表头；请使用本轮调查生成的模板",
        ),
    ))
}

impl RecordImporter<'_> {
    /// Whether any row has failed its own checks so far.
    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }
}

/// Reads an uploaded file (CSV in UTF-8 or GB18030, or XLSX) and checks every row of the
/// sheet to import. A file that is not a readable spreadsheet comes back as one problem;
/// cells holding Excel errors (`#DIV/0!`) as one problem each.
pub fn read_records<'a>(
    bytes: &[u8],
    file_name: &str,
    rules: ImportRules<'a>,
) -> Result<RecordImporter<'a>, SheetProblems> {
    if is_csv(bytes) {
        return read_csv_records(bytes, file_name, rules, |_| true);
    }
    read_workbook_records(bytes, file_name, rules, |_| true)
}

fn is_csv(bytes: &[u8]) -> bool {
    matches!(
        crate::sheet::SheetFormat::detect(bytes, None),
        Ok(crate::sheet::SheetFormat::Csv)
    )
}

/// Reads an uploaded file as [`read_records`] does, handing over the rows that pass their
/// own checks as it goes, in batches of `batch_rows` (the last one may be smaller or empty;
/// there is always one once a header was found), so that storing can start before the file
/// is read to its end. `deliver` returns false to stop reading. Returns the problems of the
/// rows that failed their own checks.
pub fn read_records_in_batches(
    bytes: &[u8],
    file_name: &str,
    rules: ImportRules<'_>,
    batch_rows: usize,
    mut deliver: impl FnMut(PendingRows) -> bool,
) -> Result<Vec<RowProblem>, SheetProblems> {
    let mut stopped = false;
    let after_row = |importer: &mut RecordImporter<'_>| {
        if importer.pending_rows() >= batch_rows && !deliver(importer.take_pending()) {
            stopped = true;
        }
        !stopped
    };
    // A workbook is read whole first (its cells are in a zip), but its rows are then checked
    // and handed over in batches as a CSV's are, so storing starts while the rest is checked.
    let mut importer = if is_csv(bytes) {
        read_csv_records(bytes, file_name, rules, after_row)?
    } else {
        read_workbook_records(bytes, file_name, rules, after_row)?
    };
    if !stopped {
        deliver(importer.take_pending());
    }
    Ok(importer.into_problems())
}

fn read_workbook_records<'a>(
    bytes: &[u8],
    file_name: &str,
    rules: ImportRules<'a>,
    after_row: impl FnMut(&mut RecordImporter<'a>) -> bool,
) -> Result<RecordImporter<'a>, SheetProblems> {
    let workbook = crate::sheet::read_workbook(bytes).map_err(|error| {
        SheetProblems::file(file_name, Said::new(error.to_string(), error.zh()))
    })?;
    import_workbook_rows(&workbook, rules, after_row)
}

/// Each cell of the sheet imported that holds an Excel error, as a problem at its cell.
fn cell_error_problems(sheet: &Sheet) -> SheetProblems {
    let listed = sheet
        .cell_errors
        .iter()
        .map(|cell| RowProblem {
            sheet: cell.sheet.clone(),
            row: Some(cell.row),
            column: Some(column_name(cell.column)),
            field: None,
            message: format!(
                "the cell holds the error {}; fix the formula or type the value",
                cell.error
            ),
            message_zh: Some(format!(
                "单元格含有错误值 {}；请修正公式或直接填写数值",
                cell.error
            )),
        })
        .collect();
    let problems = ProblemList {
        listed,
        unlisted: sheet.unlisted_cell_errors,
    };
    SheetProblems(problems.into_vec(&sheet.name))
}

/// The fewest bytes a CSV row that can pass takes: its four required cells (type code,
/// quantity, holder, region code) of a byte each at least, three commas and a line break.
const MIN_CSV_ROW_BYTES: usize = 8;

/// A CSV file checked as it streams: rows go straight from the parser into the importer,
/// never into a workbook of owned cells, so a million-row county file costs its own size in
/// memory and nothing caps its cell count.
fn read_csv_records<'a>(
    bytes: &[u8],
    file_name: &str,
    rules: ImportRules<'a>,
    mut after_row: impl FnMut(&mut RecordImporter<'a>) -> bool,
) -> Result<RecordImporter<'a>, SheetProblems> {
    let sheet = crate::sheet::CSV_SHEET_NAME;
    let mut importer: Option<RecordImporter<'a>> = None;
    let mut header_problems = None;
    let mut rows_before_header = 0;
    // Counted in one pass over the bytes, before reading: a row's text may hold a line
    // break inside quotes, and blank lines count too, so this is only a size; capped by
    // MIN_CSV_ROW_BYTES, so that a small file of blank lines cannot make the placer reserve
    // room for a million holdings.
    let lines = (memchr::memchr_iter(b'\n', bytes).count() + usize::from(!bytes.ends_with(b"\n")))
        .min(bytes.len() / MIN_CSV_ROW_BYTES);
    crate::sheet::for_each_csv_row(
        bytes,
        &crate::sheet::ReadLimits::default(),
        |number, cells| {
            if let Some(importer) = importer.as_mut() {
                importer.push_row(number, cells);
                return after_row(importer);
            }
            rows_before_header += 1;
            if is_header_row(cells.iter().copied()) {
                match RecordImporter::new(rules, sheet, number, cells) {
                    Ok(mut found) => {
                        found.expect_rows(lines.saturating_sub(rows_before_header));
                        importer = Some(found);
                    }
                    Err(problems) => {
                        header_problems = Some(problems);
                        return false;
                    }
                }
                return true;
            }
            rows_before_header < HEADER_SEARCH_ROWS
        },
    )
    .map_err(|error| SheetProblems::file(file_name, Said::new(error.to_string(), error.zh())))?;
    if let Some(problems) = header_problems {
        return Err(problems);
    }
    if rows_before_header == 0 {
        let empty = crate::sheet::SheetError::EmptyFile;
        return Err(SheetProblems::file(
            file_name,
            Said::new(empty.to_string(), empty.zh()),
        ));
    }
    importer.ok_or_else(|| {
        SheetProblems::file(
            sheet,
            Said::new(
                "no header row with the columns type_code and quantity in the first ten rows; start from the round's template",
                "前十行内没有带 type_code 和 quantity 列的表头；请使用本轮调查生成的模板",
            ),
        )
    })
}
