//! Validating a regions CSV (`code,name,parent_code[,level,lat,lon]`) into an import plan.
//!
//! The import is all-or-nothing: [`plan_region_import`] either returns every region to
//! insert, already placed in the tree (level, path, counts), or every problem found, each
//! with its line and column. Rows may come in any order; the tree is resolved by following
//! parent codes through the file and then through the regions already stored.
//!
//! Complexity: O(n) hash look-ups plus one O(n log n) sort by path, so a million rows take
//! well under a second of CPU.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::region::{RegionCode, RegionLevel, RegionPath};
use crate::text::decode_text;

/// One problem in an import file. `line` is the 1-based physical line of the file (the
/// header is line 1); `column` names the column by its header and 1-based position.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportProblem {
    pub line: u64,
    pub column: Option<ProblemColumn>,
    pub kind: ProblemKind,
    pub message: String,
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
    message: String,
) -> ImportProblem {
    ImportProblem {
        line,
        column: column.map(|(name, index)| ProblemColumn {
            name,
            position: index + 1,
        }),
        kind,
        message,
    }
}

/// Decodes and parses a regions CSV into rows, checking each row on its own: codes, names,
/// levels and coordinates. Tree-level checks happen in [`plan_region_import`].
pub fn parse_region_csv(bytes: &[u8]) -> Result<ParsedRegionCsv, ImportProblems> {
    let (text, _encoding) = decode_text(bytes).map_err(|e| {
        ImportProblems(vec![problem(1, None, ProblemKind::Encoding, e.to_string())])
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());

    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(e) => {
            return Err(ImportProblems(vec![problem(
                1,
                None,
                ProblemKind::BrokenCsv,
                e.to_string(),
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
                format!("the header has no '{required}' column (expected code,name,parent_code[,level,lat,lon])"),
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

    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                if record.iter().all(|field| field.trim().is_empty()) {
                    continue; // Excel leaves blank rows behind; they carry nothing.
                }
                match parse_row(line, &record, columns) {
                    Ok(row) => rows.push(row),
                    Err(mut row_problems) => problems.append(&mut row_problems),
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("expected {expected_len} fields like the header, found {len}")
                    }
                    _ => e.to_string(),
                };
                problems.push(problem(line, None, ProblemKind::BrokenCsv, message));
                if !matches!(
                    e.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                ) {
                    break; // An I/O-level error leaves the reader in no state to go on.
                }
            }
        }
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push(problem(
            1,
            None,
            ProblemKind::EmptyFile,
            "the file has a header but no rows".into(),
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
                e.to_string(),
            ))
        })
        .ok();
    let name = field(columns.name).to_owned();
    if name.is_empty() {
        problems.push(problem(
            line,
            Some(("name", columns.name)),
            ProblemKind::MissingName,
            "the name is empty".into(),
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
                    e.to_string(),
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
                    format!("expected a level 1-5 or province/city/county/township/village, found {text:?}"),
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
                        format!("{name} is missing while the other coordinate is given"),
                    ));
                    None
                }
                _ => {
                    problems.push(problem(
                        line,
                        column,
                        ProblemKind::BadCoordinate,
                        format!(
                            "expected a {name} between -{limit} and {limit} degrees, found {text:?}"
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
pub fn plan_region_import(
    parsed: ParsedRegionCsv,
    existing: &HashMap<RegionCode, ExistingRegion>,
) -> Result<RegionImportPlan, ImportProblems> {
    let ParsedRegionCsv { rows, layout } = parsed;
    let mut problems = Vec::new();
    let mut index_of: HashMap<&RegionCode, usize> = HashMap::with_capacity(rows.len());
    let mut duplicate = vec![false; rows.len()];
    for (index, row) in rows.iter().enumerate() {
        if existing.contains_key(&row.code) {
            problems.push(problem(
                row.line,
                Some(("code", layout.code)),
                ProblemKind::DuplicateCode,
                format!("region {} already exists", row.code),
            ));
            duplicate[index] = true;
        } else if let Some(&first) = index_of.get(&row.code) {
            problems.push(problem(
                row.line,
                Some(("code", layout.code)),
                ProblemKind::DuplicateCode,
                format!(
                    "code {} already appears on line {}",
                    row.code, rows[first].line
                ),
            ));
            duplicate[index] = true;
        } else {
            index_of.insert(&row.code, index);
        }
    }

    // Resolve every row's level by walking up its parent chain, iteratively so that a deep
    // or cyclic file cannot overflow the stack.
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
                        let lines: Vec<String> = chain[cycle_start..]
                            .iter()
                            .map(|&i| rows[i].line.to_string())
                            .collect();
                        for &i in &chain[cycle_start..] {
                            problems.push(problem(
                                rows[i].line,
                                Some(("parent_code", layout.parent_code)),
                                ProblemKind::Cycle,
                                format!(
                                    "region {} is its own ancestor (cycle through lines {})",
                                    rows[i].code,
                                    lines.join(", ")
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
                    format!("parent {parent} is neither in the file nor stored"),
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
    let parent_index: Vec<Option<usize>> = rows
        .iter()
        .map(|row| {
            row.parent_code
                .as_ref()
                .and_then(|p| index_of.get(p).copied())
        })
        .collect();
    drop(index_of);
    Ok(build_plan(rows, parent_index, existing, &placement))
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
            "a village cannot have children: there are only five levels".into(),
        ));
    };
    if let Some(given) = row.level
        && given != level
    {
        return Err(problem(
            row.line,
            layout.level.map(|i| ("level", i)),
            ProblemKind::WrongLevel,
            format!(
                "the level is given as {given} but the region sits at {level} under its parent"
            ),
        ));
    }
    if !row.code.fits_level(level) {
        return Err(problem(
            row.line,
            Some(("code", layout.code)),
            ProblemKind::WrongLevel,
            format!(
                "a {level} code has {} digits, {} has {}",
                level.code_length(),
                row.code,
                row.code.as_str().len()
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
            format!(
                "code {} does not start with its parent's code {parent}",
                row.code
            ),
        ));
    }
    Ok(level)
}

fn build_plan(
    rows: Vec<RegionRow>,
    parent_index: Vec<Option<usize>>,
    existing: &HashMap<RegionCode, ExistingRegion>,
    placement: &[Placement],
) -> RegionImportPlan {
    // Paths top-down: process rows in order of level so that a parent's path is known.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| match placement[i] {
        Placement::Placed(level) => level.depth(),
        _ => u8::MAX,
    });
    let mut paths: Vec<Option<RegionPath>> = vec![None; rows.len()];
    for &i in &order {
        let row = &rows[i];
        let parent_path = match (&row.parent_code, parent_index[i]) {
            (None, _) => RegionPath::root(),
            (Some(_), Some(p)) => paths[p].clone().unwrap_or_else(RegionPath::root),
            (Some(parent), None) => existing
                .get(parent)
                .map_or_else(RegionPath::root, |e| e.path.clone()),
        };
        paths[i] = Some(parent_path.child(&row.code));
    }

    let mut child_count = vec![0i64; rows.len()];
    let mut descendant_count = vec![0i64; rows.len()];
    let mut increments: HashMap<RegionCode, CountIncrement> = HashMap::new();
    for i in 0..rows.len() {
        if let Some(p) = parent_index[i] {
            child_count[p] += 1;
        } else if let Some(parent) = &rows[i].parent_code {
            increments
                .entry(parent.clone())
                .or_insert_with(|| CountIncrement {
                    code: parent.clone(),
                    children: 0,
                    descendants: 0,
                })
                .children += 1;
        }
        // Every ancestor gains one descendant: walk up through the file, then the store.
        let mut above = parent_index[i];
        let mut last = i;
        while let Some(a) = above {
            descendant_count[a] += 1;
            last = a;
            above = parent_index[a];
        }
        if let Some(stored_parent) = rows[last]
            .parent_code
            .as_ref()
            .filter(|_| parent_index[last].is_none())
            && let Some(stored) = existing.get(stored_parent)
        {
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

    let mut regions: Vec<NewRegion> = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| NewRegion {
            level: match placement[i] {
                Placement::Placed(level) => level,
                _ => row.code.implied_level(),
            },
            path: paths[i].take().unwrap_or_else(RegionPath::root),
            code: row.code,
            name: row.name,
            parent_code: row.parent_code,
            coordinates: row.coordinates,
            child_count: child_count[i],
            descendant_count: descendant_count[i],
        })
        .collect();
    regions.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let mut existing_increments: Vec<CountIncrement> = increments.into_values().collect();
    existing_increments.sort_by(|a, b| a.code.cmp(&b.code));
    RegionImportPlan {
        regions,
        existing_increments,
    }
}

#[cfg(test)]
mod tests;
