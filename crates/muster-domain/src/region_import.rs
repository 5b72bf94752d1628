//! Validating a regions CSV (`code,name,parent_code[,level,lat,lon]`) into an import plan.
//!
//! The import is all-or-nothing: [`plan_region_import`] either returns every region to
//! insert, already placed in the tree (level, path, counts), or every problem found, each
//! with its line and column. Rows may come in any order; the tree is resolved by following
//! parent codes through the file and then through the regions already stored.
//!
//! The plan is two steps that need not wait for each other: [`check_region_tree`] finds
//! every problem, and [`place_by_code`] computes where each row goes if there is none. The
//! storage layer stores the placement while the check runs, in one transaction that it
//! rolls back if the check fails.
//!
//! Complexity: O(n) hash look-ups for the check, one O(n log n) sort of integer keys for the
//! placement; a million rows take a fraction of a second of CPU each.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::region::{RegionCode, RegionLevel, RegionPath};
use crate::text::{Said, decode_text};

/// One problem in an import file. `line` is the 1-based physical line of the file (the
/// header is line 1); `column` names the column by its header and 1-based position.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportProblem {
    pub line: u64,
    pub column: Option<ProblemColumn>,
    pub kind: ProblemKind,
    /// In English: the command line's, the API's, the logs' and the English pages' words.
    pub message: String,
    /// The same in Chinese, for the Chinese pages. Every problem has one.
    pub message_zh: String,
}

impl ImportProblem {
    /// The message in `locale` (`zh…` for Chinese, English otherwise).
    pub fn message_in(&self, locale: &str) -> &str {
        if locale.starts_with("zh") {
            &self.message_zh
        } else {
            &self.message
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemColumn {
    pub name: &'static str,
    pub position: usize,
}

/// A stable identifier per kind of problem, for tests and for clients that act on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    Encoding,
    BrokenCsv,
    MissingColumn,
    EmptyFile,
    BadCode,
    MissingName,
    BadLevel,
    BadCoordinate,
    DuplicateCode,
    UnknownParent,
    Cycle,
    WrongLevel,
    CodeNotUnderParent,
    TooDeep,
    /// More problems than are listed: the reading stopped there.
    TooMany,
}

impl fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(column) = &self.column {
            write!(f, ", column {} ({})", column.position, column.name)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, in file order. Never empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportProblems(pub Vec<ImportProblem>);

impl fmt::Display for ImportProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} problem(s); nothing was imported:", self.0.len())?;
        for problem in &self.0 {
            writeln!(f, "  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportProblems {}

impl Default for ColumnLayout {
    /// `code,name,parent_code,level,lat,lon`, the layout the documentation gives.
    fn default() -> Self {
        Self {
            code: 0,
            name: 1,
            parent_code: 2,
            level: Some(3),
            lat: Some(4),
            lon: Some(5),
        }
    }
}

/// The rows of a file that parsed, and where its columns are (to name them in problems).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRegionCsv {
    pub rows: Vec<RegionRow>,
    pub layout: ColumnLayout,
}

/// A syntactically valid row, not yet placed in the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionRow {
    pub line: u64,
    pub code: RegionCode,
    pub name: String,
    pub parent_code: Option<RegionCode>,
    pub level: Option<RegionLevel>,
    pub coordinates: Option<Coordinates>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Coordinates {
    pub lat: f64,
    pub lon: f64,
}

impl Coordinates {
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        let valid = lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon);
        valid.then_some(Self { lat, lon })
    }
}

/// Where each column sits in the file, found by header name (English or Chinese, any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnLayout {
    code: usize,
    name: usize,
    parent_code: usize,
    level: Option<usize>,
    lat: Option<usize>,
    lon: Option<usize>,
}

fn column_of(header: &str) -> Option<&'static str> {
    match header
        .trim()
        .trim_start_matches('\u{feff}')
        .to_ascii_lowercase()
        .as_str()
    {
        "code" | "编码" | "代码" | "区划代码" => Some("code"),
        "name" | "名称" => Some("name"),
        "parent_code" | "parent" | "上级编码" | "上级代码" => Some("parent_code"),
        "level" | "级别" | "层级" => Some("level"),
        "lat" | "latitude" | "纬度" => Some("lat"),
        "lon" | "lng" | "longitude" | "经度" => Some("lon"),
        _ => None,
    }
}

fn problem(
    line: u64,
    column: Option<(&'static str, usize)>,
    kind: ProblemKind,
    message: Said,
) -> ImportProblem {
    ImportProblem {
        line,
        column: column.map(|(name, index)| ProblemColumn {
            name,
            position: index + 1,
        }),
        kind,
        message: message.en,
        message_zh: message.zh,
    }
}

/// From this size on, [`parse_region_csv`] reads the two halves of the file on two threads.
const PARALLEL_PARSE_MIN_BYTES: usize = 1 << 20;

/// Decodes and parses a regions CSV into rows, checking each row on its own: codes, names,
/// levels and coordinates. Tree-level checks happen in [`check_region_tree`].
///
/// A large file is read in two halves at once, split at a line break before its middle with
/// no quote character anywhere before it: with no quote before it, the break cannot be
/// inside a quoted field, so each half holds whole records and the rows and problems come
/// out exactly as one pass would give them, in file order. A file with a quote early on is
/// simply read in one pass.
pub fn parse_region_csv(bytes: &[u8]) -> Result<ParsedRegionCsv, ImportProblems> {
    let (text, _encoding) = decode_text(bytes).map_err(|e| {
        ImportProblems(vec![problem(
            1,
            None,
            ProblemKind::Encoding,
            Said::new(e.to_string(), e.zh()),
        )])
    })?;
    let split = parallel_split(&text);
    let (first_part, second_part) = text.split_at(split.unwrap_or(text.len()));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(first_part.as_bytes());

    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(e) => {
            return Err(ImportProblems(vec![problem(
                1,
                None,
                ProblemKind::BrokenCsv,
                Said::new(e.to_string(), format!("无法读取表头：{e}（CSV 格式有误）")),
            )]));
        }
    };
    let mut found: HashMap<&'static str, usize> = HashMap::new();
    for (index, header) in headers.iter().enumerate() {
        if let Some(name) = column_of(header) {
            found.entry(name).or_insert(index);
        }
    }
    let mut problems = Vec::new();
    for required in ["code", "name", "parent_code"] {
        if !found.contains_key(required) {
            problems.push(problem(
                1,
                None,
                ProblemKind::MissingColumn,
                Said::new(
                    format!("the header has no '{required}' column (expected code,name,parent_code[,level,lat,lon])"),
                    format!("表头缺少“{required}”列（应为 code,name,parent_code[,level,lat,lon]，也可用中文列名 编码、名称、上级编码、级别、纬度、经度）"),
                ),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(ImportProblems(problems));
    }
    let columns = ColumnLayout {
        code: found["code"],
        name: found["name"],
        parent_code: found["parent_code"],
        level: found.get("level").copied(),
        lat: found.get("lat").copied(),
        lon: found.get("lon").copied(),
    };

    let read_first = move |mut reader: csv::Reader<&[u8]>| {
        parse_records(&mut reader, columns, RecordLength::CheckedByReader, 0)
    };
    let (rows, mut problems) = if second_part.is_empty() {
        let (rows, problems, _) = read_first(reader);
        (rows, problems)
    } else {
        // The second half's reader starts counting lines at 1 again and has no header to
        // measure records against: it is told both.
        let lines_before = first_part.bytes().filter(|&b| b == b'\n').count() as u64;
        let length = RecordLength::Expected(headers.len());
        let read_second = move || {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(second_part.as_bytes());
            parse_records(&mut reader, columns, length, lines_before)
        };
        let (first, second) = std::thread::scope(|scope| {
            let second = std::thread::Builder::new().spawn_scoped(scope, read_second);
            let first = read_first(reader);
            let second = match second {
                Ok(running) => running
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: read the second half here.
                Err(_) => read_second(),
            };
            (first, second)
        });
        let (mut rows, mut problems, stopped_early) = first;
        // A reader that stopped early hides everything after it, as one pass would.
        if !stopped_early {
            rows.extend(second.0);
            problems.extend(second.1);
        }
        (rows, problems)
    };
    if rows.is_empty() && problems.is_empty() {
        problems.push(problem(
            1,
            None,
            ProblemKind::EmptyFile,
            Said::new(
                "the file has a header but no rows",
                "文件只有表头，没有数据行",
            ),
        ));
    }
    if problems.is_empty() {
        Ok(ParsedRegionCsv {
            rows,
            layout: columns,
        })
    } else {
        Err(ImportProblems(problems))
    }
}

/// Where [`parse_region_csv`] may cut `text` in two: right after a line break near the
/// middle with no `"` before it. None for a small file or one that starts with quotes.
fn parallel_split(text: &str) -> Option<usize> {
    if text.len() < PARALLEL_PARSE_MIN_BYTES {
        return None;
    }
    let middle = text.len() / 2;
    let before = &text.as_bytes()[..middle];
    let unquoted = before.iter().position(|&b| b == b'"').unwrap_or(middle);
    let split = before[..unquoted].iter().rposition(|&b| b == b'\n')? + 1;
    // Not worth a thread unless the first half holds more than the header.
    (split >= middle / 2).then_some(split)
}

/// How a reader's records are held to the header's field count.
#[derive(Clone, Copy)]
enum RecordLength {
    /// The reader read the header and refuses records of another length itself.
    CheckedByReader,
    /// The reader is flexible; records must have this many fields.
    Expected(usize),
}

/// Rows, problems, and whether the reader stopped before the end (the `bool`).
type ParsedRecords = (Vec<RegionRow>, Vec<ImportProblem>, bool);

/// How many problems one reading of a region file lists before it stops: a file of a
/// million broken lines must not fill the server's memory with their problems.
const MAX_LISTED_PROBLEMS: usize = 1_000;

/// Parses every record a reader gives, numbering lines from `lines_before` on.
fn parse_records(
    reader: &mut csv::Reader<&[u8]>,
    columns: ColumnLayout,
    length: RecordLength,
    lines_before: u64,
) -> ParsedRecords {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        // One problem past the limit shows there are more: a file of exactly the limit's
        // problems is listed whole.
        if problems.len() > MAX_LISTED_PROBLEMS {
            let line = problems
                .last()
                .map_or(lines_before, |p: &ImportProblem| p.line);
            problems.truncate(MAX_LISTED_PROBLEMS);
            problems.push(problem(
                line,
                None,
                ProblemKind::TooMany,
                Said::new(
                    format!(
                        "reading stopped after {MAX_LISTED_PROBLEMS} problems; fix these and import the file again"
                    ),
                    format!("发现 {MAX_LISTED_PROBLEMS} 个问题后停止读取；请修正后重新导入"),
                ),
            ));
            return (rows, problems, true);
        }
        match reader.read_record(&mut record) {
            Ok(false) => return (rows, problems, false),
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line()) + lines_before;
                if let RecordLength::Expected(expected) = length
                    && record.len() != expected
                {
                    problems.push(problem(
                        line,
                        None,
                        ProblemKind::BrokenCsv,
                        Said::new(
                            format!(
                                "expected {expected} fields like the header, found {}",
                                record.len()
                            ),
                            format!("应与表头一样有 {expected} 个字段，实有 {} 个", record.len()),
                        ),
                    ));
                    continue;
                }
                if record.iter().all(|field| field.trim().is_empty()) {
                    continue; // Excel leaves blank rows behind; they carry nothing.
                }
                match parse_row(line, &record, columns) {
                    Ok(row) => rows.push(row),
                    Err(mut row_problems) => problems.append(&mut row_problems),
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line()) + lines_before;
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => Said::new(
                        format!("expected {expected_len} fields like the header, found {len}"),
                        format!("应与表头一样有 {expected_len} 个字段，实有 {len} 个"),
                    ),
                    csv::ErrorKind::Utf8 { .. } => {
                        Said::new(e.to_string(), "这一行含有无效的 UTF-8 文本")
                    }
                    _ => Said::new(e.to_string(), format!("CSV 格式有误，无法继续读取：{e}")),
                };
                problems.push(problem(line, None, ProblemKind::BrokenCsv, message));
                if !matches!(
                    e.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                ) {
                    // An I/O-level error leaves the reader in no state to go on.
                    return (rows, problems, true);
                }
            }
        }
    }
}

fn parse_row(
    line: u64,
    record: &csv::StringRecord,
    columns: ColumnLayout,
) -> Result<RegionRow, Vec<ImportProblem>> {
    let field = |index: usize| record.get(index).unwrap_or("").trim();
    let mut problems = Vec::new();

    let code = RegionCode::parse(field(columns.code))
        .map_err(|e| {
            problems.push(problem(
                line,
                Some(("code", columns.code)),
                ProblemKind::BadCode,
                Said::new(e.to_string(), e.zh()),
            ))
        })
        .ok();
    let name = field(columns.name).to_owned();
    if name.is_empty() {
        problems.push(problem(
            line,
            Some(("name", columns.name)),
            ProblemKind::MissingName,
            Said::new("the name is empty", "名称为空"),
        ));
    }
    let parent_text = field(columns.parent_code);
    let parent_code = if parent_text.is_empty() {
        None
    } else {
        RegionCode::parse(parent_text)
            .map_err(|e| {
                problems.push(problem(
                    line,
                    Some(("parent_code", columns.parent_code)),
                    ProblemKind::BadCode,
                    Said::new(e.to_string(), e.zh()),
                ))
            })
            .ok()
    };
    let level = match columns.level.map(field).filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => match RegionLevel::parse(text) {
            Some(level) => Some(level),
            None => {
                problems.push(problem(
                    line,
                    columns.level.map(|i| ("level", i)),
                    ProblemKind::BadLevel,
                    Said::new(
                        format!("expected a level 1-5 or province/city/county/township/village, found {text:?}"),
                        format!("级别应为 1-5、province/city/county/township/village 或 省/市/县/乡/村，实为 {text:?}"),
                    ),
                ));
                None
            }
        },
    };
    let coordinates = parse_coordinates(line, record, columns, &mut problems);
    match (problems.is_empty(), code) {
        (true, Some(code)) => Ok(RegionRow {
            line,
            code,
            name,
            parent_code,
            level,
            coordinates,
        }),
        _ => Err(problems),
    }
}

fn parse_coordinates(
    line: u64,
    record: &csv::StringRecord,
    columns: ColumnLayout,
    problems: &mut Vec<ImportProblem>,
) -> Option<Coordinates> {
    let text_of = |index: Option<usize>| {
        index
            .and_then(|i| record.get(i))
            .map(str::trim)
            .unwrap_or("")
    };
    let (lat_text, lon_text) = (text_of(columns.lat), text_of(columns.lon));
    if lat_text.is_empty() && lon_text.is_empty() {
        return None;
    }
    let mut parse_one =
        |text: &str, name: &'static str, index: Option<usize>, limit: f64| -> Option<f64> {
            let column = index.map(|i| (name, i));
            match text.parse::<f64>() {
                Ok(value) if value.is_finite() && value.abs() <= limit => Some(value),
                _ if text.is_empty() => {
                    problems.push(problem(
                        line,
                        column,
                        ProblemKind::BadCoordinate,
                        Said::new(
                            format!("{name} is missing while the other coordinate is given"),
                            format!("已填写另一个坐标，但{}为空", coordinate_zh(name)),
                        ),
                    ));
                    None
                }
                _ => {
                    problems.push(problem(
                    line,
                    column,
                    ProblemKind::BadCoordinate,
                    Said::new(
                        format!(
                            "expected a {name} between -{limit} and {limit} degrees, found {text:?}"
                        ),
                        format!(
                            "{}应在 -{limit} 到 {limit} 度之间，实为 {text:?}",
                            coordinate_zh(name)
                        ),
                    ),
                ));
                    None
                }
            }
        };
    let lat = parse_one(lat_text, "lat", columns.lat, 90.0);
    let lon = parse_one(lon_text, "lon", columns.lon, 180.0);
    Coordinates::new(lat?, lon?)
}

/// The Chinese name of the coordinate column `name` (`lat` or `lon`).
fn coordinate_zh(name: &str) -> &'static str {
    if name == "lat" { "纬度" } else { "经度" }
}

/// A region already in storage that the file refers to (as a parent, or by reusing its code).
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingRegion {
    pub level: RegionLevel,
    pub path: RegionPath,
}

/// A region ready to insert: placed in the tree, with its subtree counts as of this import.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRegion {
    pub code: RegionCode,
    pub name: String,
    pub parent_code: Option<RegionCode>,
    pub level: RegionLevel,
    pub path: RegionPath,
    pub coordinates: Option<Coordinates>,
    pub child_count: i64,
    pub descendant_count: i64,
}

/// How much an existing region's counts grow because of the import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountIncrement {
    pub code: RegionCode,
    pub children: i64,
    pub descendants: i64,
}

/// The validated import: regions sorted by path (parents before children), and the count
/// increments for the stored regions they hang under.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionImportPlan {
    pub regions: Vec<NewRegion>,
    pub existing_increments: Vec<CountIncrement>,
}

/// The codes the plan needs looked up in storage: every code in the file (to catch
/// duplicates against stored regions) and every parent code.
pub fn codes_to_look_up(rows: &[RegionRow]) -> Vec<RegionCode> {
    let mut codes: Vec<RegionCode> = rows
        .iter()
        .flat_map(|r| std::iter::once(&r.code).chain(r.parent_code.as_ref()))
        .cloned()
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

#[derive(Clone, Copy, PartialEq)]
enum Placement {
    Unvisited,
    InProgress,
    Placed(RegionLevel),
    Failed,
}

/// Places every row in the tree, or lists every problem. `existing` holds the stored
/// regions among [`codes_to_look_up`].
///
/// The same as [`check_region_tree`] followed by [`place_by_code`]; the storage layer calls
/// the two separately so that it can store the placement while the check runs.
pub fn plan_region_import(
    parsed: ParsedRegionCsv,
    existing: &HashMap<RegionCode, ExistingRegion>,
) -> Result<RegionImportPlan, ImportProblems> {
    let existing_increments = check_region_tree(&parsed, existing)?;
    let placed = place_by_code(&parsed.rows);
    let mut rows: Vec<Option<RegionRow>> = parsed.rows.into_iter().map(Some).collect();
    let regions = placed
        .iter()
        .filter_map(|p| rows[p.row].take().map(|row| p.new_region(row)))
        .collect();
    Ok(RegionImportPlan {
        regions,
        existing_increments,
    })
}

/// Checks that the rows form a tree that fits under the stored regions: no duplicate code,
/// every parent in the file or stored, no cycle, every level and code consistent with its
/// parent's. Returns how the counts of the stored ancestors grow, or every problem.
///
/// Complexity: O(n) hash look-ups; the walk up each parent chain is iterative, so a deep or
/// cyclic file cannot overflow the stack.
pub fn check_region_tree(
    parsed: &ParsedRegionCsv,
    existing: &HashMap<RegionCode, ExistingRegion>,
) -> Result<Vec<CountIncrement>, ImportProblems> {
    let ParsedRegionCsv { rows, layout } = parsed;
    let layout = *layout;
    let mut problems = Vec::new();
    let mut index_of: HashMap<&RegionCode, usize> = HashMap::with_capacity(rows.len());
    let mut duplicate = vec![false; rows.len()];
    for (index, row) in rows.iter().enumerate() {
        if existing.contains_key(&row.code) {
            problems.push(problem(
                row.line,
                Some(("code", layout.code)),
                ProblemKind::DuplicateCode,
                Said::new(
                    format!("region {} already exists", row.code),
                    format!("行政区划 {} 已存在", row.code),
                ),
            ));
            duplicate[index] = true;
        } else if let Some(&first) = index_of.get(&row.code) {
            problems.push(problem(
                row.line,
                Some(("code", layout.code)),
                ProblemKind::DuplicateCode,
                Said::new(
                    format!(
                        "code {} already appears on line {}",
                        row.code, rows[first].line
                    ),
                    format!("编码 {} 已在第 {} 行出现过", row.code, rows[first].line),
                ),
            ));
            duplicate[index] = true;
        } else {
            index_of.insert(&row.code, index);
        }
    }

    // Resolve every row's level by walking up its parent chain.
    let mut placement = vec![Placement::Unvisited; rows.len()];
    let mut chain = Vec::new();
    for start in 0..rows.len() {
        if duplicate[start] || placement[start] != Placement::Unvisited {
            continue;
        }
        chain.clear();
        let mut current = start;
        // The level of the node above the chain, or None for a root, or Err for a failure.
        let top: Result<Option<RegionLevel>, ()> = loop {
            placement[current] = Placement::InProgress;
            chain.push(current);
            let row = &rows[current];
            let Some(parent) = &row.parent_code else {
                break Ok(None);
            };
            if let Some(&parent_index) = index_of.get(parent) {
                match placement[parent_index] {
                    Placement::Unvisited => current = parent_index,
                    Placement::Placed(level) => break Ok(Some(level)),
                    Placement::Failed => break Err(()),
                    Placement::InProgress => {
                        let cycle_start =
                            chain.iter().position(|&i| i == parent_index).unwrap_or(0);
                        // Named once per line of the cycle, so at most the first twenty of
                        // its lines each time: a cycle through every line of a big file
                        // would otherwise repeat the whole file in every problem.
                        const NAMED: usize = 20;
                        let cycle = &chain[cycle_start..];
                        let mut lines: Vec<String> = cycle
                            .iter()
                            .take(NAMED)
                            .map(|&i| rows[i].line.to_string())
                            .collect();
                        if cycle.len() > NAMED {
                            lines.push(format!("… ({} in all)", cycle.len()));
                        }
                        for &i in &chain[cycle_start..] {
                            problems.push(problem(
                                rows[i].line,
                                Some(("parent_code", layout.parent_code)),
                                ProblemKind::Cycle,
                                Said::new(
                                    format!(
                                        "region {} is its own ancestor (cycle through lines {})",
                                        rows[i].code,
                                        lines.join(", ")
                                    ),
                                    format!(
                                        "行政区划 {} 成了自己的上级（第 {} 行的上级编码构成循环）",
                                        rows[i].code,
                                        lines.join("、")
                                    ),
                                ),
                            ));
                        }
                        break Err(());
                    }
                }
            } else if let Some(stored) = existing.get(parent) {
                break Ok(Some(stored.level));
            } else {
                problems.push(problem(
                    row.line,
                    Some(("parent_code", layout.parent_code)),
                    ProblemKind::UnknownParent,
                    Said::new(
                        format!("parent {parent} is neither in the file nor stored"),
                        format!("上级编码 {parent} 既不在文件中，也不在已有的行政区划中"),
                    ),
                ));
                break Err(());
            }
        };
        // Unwind the chain top-down, placing each row under the one above it.
        let mut above = top;
        for &index in chain.iter().rev() {
            above = match above {
                Err(()) => {
                    placement[index] = Placement::Failed;
                    Err(())
                }
                Ok(parent_level) => match place_row(&rows[index], parent_level, layout) {
                    Ok(level) => {
                        placement[index] = Placement::Placed(level);
                        Ok(Some(level))
                    }
                    Err(p) => {
                        problems.push(p);
                        placement[index] = Placement::Failed;
                        Err(())
                    }
                },
            };
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(ImportProblems(problems));
    }
    Ok(stored_increments(rows, &index_of, existing))
}

/// How much each stored region's counts grow: one child per row hanging directly under it,
/// one descendant per row anywhere below it. Only called on a checked tree.
fn stored_increments(
    rows: &[RegionRow],
    index_of: &HashMap<&RegionCode, usize>,
    existing: &HashMap<RegionCode, ExistingRegion>,
) -> Vec<CountIncrement> {
    if existing.is_empty() {
        return Vec::new();
    }
    let mut increments: HashMap<RegionCode, CountIncrement> = HashMap::new();
    for row in rows {
        let Some(parent) = &row.parent_code else {
            continue;
        };
        if !index_of.contains_key(parent) {
            increments
                .entry(parent.clone())
                .or_insert_with(|| CountIncrement {
                    code: parent.clone(),
                    children: 0,
                    descendants: 0,
                })
                .children += 1;
        }
        // Walk up through the file to the top of the row's chain; the stored region above
        // it and all of that region's ancestors gain one descendant.
        let mut top = row;
        while let Some(&above) = top.parent_code.as_ref().and_then(|p| index_of.get(p)) {
            top = &rows[above];
        }
        if let Some(stored) = top.parent_code.as_ref().and_then(|p| existing.get(p)) {
            for code in stored.path.codes() {
                increments
                    .entry(code.clone())
                    .or_insert_with(|| CountIncrement {
                        code,
                        children: 0,
                        descendants: 0,
                    })
                    .descendants += 1;
            }
        }
    }
    let mut increments: Vec<CountIncrement> = increments.into_values().collect();
    increments.sort_by(|a, b| a.code.cmp(&b.code));
    increments
}

/// Checks one row against the level of the node above it (None for a root).
fn place_row(
    row: &RegionRow,
    parent_level: Option<RegionLevel>,
    layout: ColumnLayout,
) -> Result<RegionLevel, ImportProblem> {
    let depth = parent_level.map_or(1, |l| l.depth() + 1);
    let Some(level) = RegionLevel::from_depth(depth) else {
        return Err(problem(
            row.line,
            Some(("parent_code", layout.parent_code)),
            ProblemKind::TooDeep,
            Said::new(
                "a village cannot have children: there are only five levels",
                "村级区划不能再有下级：行政区划只有五级",
            ),
        ));
    };
    if let Some(given) = row.level
        && given != level
    {
        return Err(problem(
            row.line,
            layout.level.map(|i| ("level", i)),
            ProblemKind::WrongLevel,
            Said::new(
                format!(
                    "the level is given as {given} but the region sits at {level} under its parent"
                ),
                format!(
                    "级别填写为{}，但按其上级，该区划应为{}",
                    given.name_zh(),
                    level.name_zh()
                ),
            ),
        ));
    }
    if !row.code.fits_level(level) {
        return Err(problem(
            row.line,
            Some(("code", layout.code)),
            ProblemKind::WrongLevel,
            Said::new(
                format!(
                    "a {level} code has {} digits, {} has {}",
                    level.code_length(),
                    row.code,
                    row.code.as_str().len()
                ),
                format!(
                    "{}区划的编码应为 {} 位，{} 却有 {} 位",
                    level.name_zh(),
                    level.code_length(),
                    row.code,
                    row.code.as_str().len()
                ),
            ),
        ));
    }
    if let Some(parent) = &row.parent_code
        && !row.code.extends(parent)
    {
        return Err(problem(
            row.line,
            Some(("code", layout.code)),
            ProblemKind::CodeNotUnderParent,
            Said::new(
                format!(
                    "code {} does not start with its parent's code {parent}",
                    row.code
                ),
                format!("编码 {} 没有以上级编码 {parent} 开头", row.code),
            ),
        ));
    }
    Ok(level)
}

/// A row of the file where a checked tree puts it: see [`place_by_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedRow {
    /// The row's index in [`ParsedRegionCsv::rows`].
    pub row: usize,
    pub child_count: i64,
    pub descendant_count: i64,
}

impl PlacedRow {
    /// The region to insert for `row`, which must be the row this placement names.
    pub fn new_region(&self, row: RegionRow) -> NewRegion {
        NewRegion {
            level: row.code.implied_level(),
            path: RegionPath::of_code(&row.code),
            code: row.code,
            name: row.name,
            parent_code: row.parent_code,
            coordinates: row.coordinates,
            child_count: self.child_count,
            descendant_count: self.descendant_count,
        }
    }
}

/// Where each row goes if [`check_region_tree`] accepts the file, computed from the codes
/// alone: a checked code names its ancestors (each code extends its parent's, and every
/// level has its own code length), so its level is its length and its path its prefixes
/// ([`RegionPath::of_code`]); sorted by code, a region's descendants in the file are the
/// rows right after it that extend its code, and its children those whose parent it is.
/// Returns the rows in code order, which is also path order, so that parents come before
/// their children and a primary key on the code only ever grows at its end.
///
/// It needs no hash map and no stored region, so it is cheap enough (one sort of integer
/// keys and one linear pass) to run before the check and let the rows be stored while the
/// check runs. On a file the check refuses, the result means nothing and must be dropped.
///
/// Complexity: O(n log n) for the sort, then O(n · levels).
pub fn place_by_code(rows: &[RegionRow]) -> Vec<PlacedRow> {
    let mut order: Vec<(u64, usize)> = rows
        .iter()
        .enumerate()
        .map(|(index, row)| (code_order_key(&row.code), index))
        .collect();
    order.sort_unstable();
    let mut placed: Vec<PlacedRow> = order
        .into_iter()
        .map(|(_, row)| PlacedRow {
            row,
            child_count: 0,
            descendant_count: 0,
        })
        .collect();
    // The positions of the rows whose codes the current row's code extends: its ancestors
    // in the file, top first. Each is longer than the one before, so at most five.
    let mut open: Vec<usize> = Vec::with_capacity(RegionLevel::ALL.len());
    for position in 0..placed.len() {
        let row = &rows[placed[position].row];
        while let Some(&top) = open.last() {
            if row.code.extends(&rows[placed[top].row].code) {
                break;
            }
            open.pop();
        }
        for &ancestor in &open {
            placed[ancestor].descendant_count += 1;
        }
        if let (Some(&top), Some(parent)) = (open.last(), &row.parent_code)
            && rows[placed[top].row].code == *parent
        {
            placed[top].child_count += 1;
        }
        open.push(position);
    }
    placed
}

/// A key whose integer order is the string order of region codes: the digits padded with
/// zeros to the longest code, then the length, so that a code sorts right before the codes
/// that extend it. Twelve digits and a length below 16 fit in 44 bits.
fn code_order_key(code: &RegionCode) -> u64 {
    let digits = code.as_str().bytes().fold(0u64, |n, digit| {
        n * 10 + u64::from(digit.wrapping_sub(b'0'))
    });
    let longest = RegionLevel::Village.code_length();
    let length = code.as_str().len();
    let padded = digits * 10u64.pow(longest.saturating_sub(length) as u32);
    padded * 16 + length as u64
}

#[cfg(test)]
mod tests;
