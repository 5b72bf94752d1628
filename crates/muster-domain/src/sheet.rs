//! Reading and writing spreadsheets in memory: the CSV and XLSX files offices upload and
//! download.
//!
//! Reading turns any upload into one shape, a [`Workbook`] of [`Sheet`]s of [`SheetRow`]s
//! of trimmed display text, so that importers deal with rows and columns and never with
//! file formats. Row numbers are the ones the user sees (Excel's row, or the CSV line where
//! the record starts), so every problem an importer reports can be found in the file.
//! Columns keep their place in the sheet: `cells[0]` is column A even when the data starts
//! at C3, so [`column_name`] names the column the user sees.
//!
//! Writing turns a [`Table`] (whatever is on screen) into CSV for any tool, or into XLSX
//! with one worksheet per table.
//!
//! Nothing here touches a file: input is `&[u8]`, output is `Vec<u8>`. Uploads are
//! untrusted, so reading never panics and refuses, with a message the user can act on,
//! files that are not spreadsheets, old `.xls` workbooks, broken ones, and ones whose size
//! would exhaust memory ([`ReadLimits`]).
//!
//! Complexity: reading is linear in the file's uncompressed size plus O(c log c) for the c
//! non-empty cells when an XLSX stores them out of order (Excel never does) or has merged
//! areas; writing is linear in the number of cells.

use std::borrow::Cow;
use std::fmt;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use calamine::{DataRef, Reader, SheetType, SheetVisible, Xlsx, XlsxError};

use crate::text::{decode_text, trim_cell};

/// The name given to the single sheet of a CSV file, which has no sheet names.
pub const CSV_SHEET_NAME: &str = "CSV";

/// Excel's limit on the text in one cell. A longer CSV field is almost always a quote that
/// was opened and never closed, swallowing the rest of the file.
pub const MAX_CELL_CHARS: usize = 32_767;

/// How many cells holding an Excel error one sheet lists.
const MAX_LISTED_CELL_ERRORS: usize = 1_000;

/// A sheet name as an error repeats it (Excel's own limit is 31).
const MAX_SHEET_NAME_CHARS: usize = 100;

/// Excel's own limit on the rows of one worksheet.
pub const EXCEL_MAX_ROWS: u32 = 1_048_576;
/// Excel's own limit on the columns of one worksheet (A to XFD).
pub const EXCEL_MAX_COLUMNS: u32 = 16_384;

/// The two formats Muster reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetFormat {
    Csv,
    Xlsx,
}

/// An uploaded file, read into rows of display text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workbook {
    /// Every worksheet, in the workbook's order (chart sheets left out); a CSV file gives one.
    pub sheets: Vec<Sheet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    pub name: String,
    /// Hidden sheets are read too (templates keep their drop-down lists in them); an
    /// importer that takes "the first sheet" should take the first one not hidden.
    pub hidden: bool,
    /// The non-blank rows, in order. Blank rows are left out but never renumber the rest.
    pub rows: Vec<SheetRow>,
    /// The cells holding an Excel error (`#DIV/0!`, `#N/A`, …) instead of a value, left out
    /// of `rows`. They are not data: an importer refuses the sheet it reads while it has
    /// any ([`Sheet::refuse_cell_errors`]), and passes over them in a sheet it does not
    /// read (a list sheet whose lookups show `#N/A`). At most the first thousand are
    /// kept; `unlisted_cell_errors` counts the rest.
    pub cell_errors: Vec<CellErrorAt>,
    pub unlisted_cell_errors: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetRow {
    /// The 1-based row number the user sees: Excel's row number, or the line of a CSV file
    /// where the record starts (a quoted field may span lines).
    pub number: u32,
    /// Trimmed display text by column position (`cells[0]` is column A), without trailing
    /// empty cells. Never empty: rows with no text are not kept.
    pub cells: Vec<String>,
}

/// Caps that keep a hostile or mistaken upload from exhausting memory. The defaults are
/// Excel's own sheet limits, 20 million cells and 1 GiB of uncompressed XML: far beyond
/// any survey report, and small enough that a few concurrent uploads fit in a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Non-blank rows per sheet.
    pub max_rows_per_sheet: u32,
    /// Columns per row (the position of the last non-empty cell).
    pub max_columns: u32,
    /// Cells in the whole workbook, counting the empty cells before the last one of a row.
    pub max_cells: u64,
    /// Total uncompressed size of the files inside an XLSX (its zip container).
    pub max_uncompressed_bytes: u64,
    /// Bytes of cell text in the whole workbook, each cell counted (a long shared string
    /// shown in many cells, or merged over many, counts each time, as it is held each time).
    pub max_text_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_rows_per_sheet: EXCEL_MAX_ROWS,
            max_columns: EXCEL_MAX_COLUMNS,
            max_cells: 20_000_000,
            max_uncompressed_bytes: 1 << 30,
            max_text_bytes: 1 << 30,
        }
    }
}

/// A table to export: what a screen shows, as CSV or as one worksheet of an XLSX.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Names the worksheet in XLSX (sanitised to Excel's rules); not written to CSV, where
    /// a title line would break re-import of the file.
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<TableCell>>,
}

/// One exported value. Numbers stay numbers so that Excel can sum them.
#[derive(Debug, Clone, PartialEq)]
pub enum TableCell {
    Text(String),
    Number(f64),
    Integer(i64),
    Empty,
}

/// A cell whose value is an Excel error such as `#DIV/0!`: a broken formula in the user's
/// file, which no importer should read as data or as blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellErrorAt {
    pub sheet: String,
    /// 1-based, as Excel shows it.
    pub row: u32,
    /// 0-based position; [`column_name`] gives the letters.
    pub column: usize,
    /// The error as Excel shows it, e.g. `#DIV/0!`.
    pub error: String,
}

/// Which limit a file broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimit {
    Rows(u32),
    Columns(u32),
    Cells(u64),
    UncompressedBytes(u64),
    TextBytes(u64),
    /// Strings in the workbook's shared-strings table.
    SharedStrings(u64),
    Sheets(u64),
}

/// Why a file could not be read or a table could not be written. Every message tells the
/// user what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    #[error("the file is empty or holds only blank rows")]
    EmptyFile,
    #[error(
        "the file is an old Excel 97-2003 workbook (.xls); open it in Excel and save it as \
         .xlsx (Excel Workbook) or as CSV"
    )]
    LegacyXls,
    #[error(
        "the workbook is protected with a password; open it in Excel, remove the password \
         (File > Info > Protect Workbook) and save it again"
    )]
    PasswordProtected,
    #[error(
        "the file is UTF-16 text (Excel's \"Unicode Text\"); save it as \"CSV UTF-8\" or as \
         .xlsx instead"
    )]
    Utf16Text,
    #[error(
        "the file is a web page or an XML export, not a real spreadsheet (some systems save \
         these with an .xls name); open it in Excel and save it as .xlsx or as CSV"
    )]
    MarkupNotSpreadsheet,
    #[error("the file is not a spreadsheet ({detail}); upload an .xlsx workbook or a CSV file")]
    NotASpreadsheet { detail: String },
    #[error(
        "the workbook could not be read ({reason}); it may be damaged or not a real .xlsx \
         file: open it in Excel and save it again as .xlsx"
    )]
    BrokenXlsx { reason: String },
    #[error("the CSV file is broken at line {line}: {reason}")]
    BrokenCsv { line: u64, reason: String },
    #[error(
        "the file is neither UTF-8 nor GB18030/GBK text (first undecodable byte on line {line}, \
         at byte offset {offset}); save it as \"CSV UTF-8\" or as .xlsx"
    )]
    Encoding { line: usize, offset: usize },
    #[error("sheet \"{sheet}\" is too large: {limit}; split it into smaller files")]
    TooLarge { sheet: String, limit: SizeLimit },
    #[error("the workbook is too large: {limit}; split it into smaller files")]
    WorkbookTooLarge { limit: SizeLimit },
    #[error("{}", CellErrorList { cells, unlisted: *unlisted })]
    CellErrors {
        /// The first error cells, at most a thousand.
        cells: Vec<CellErrorAt>,
        /// How many more the sheet holds.
        unlisted: usize,
    },
    #[error(
        "sheet \"{sheet}\", row {row}, column {column}: the cell holds {chars} characters, more \
         than Excel's limit of {MAX_CELL_CHARS}; shorten it and save the workbook again"
    )]
    CellTooLong {
        sheet: String,
        row: u32,
        column: String,
        chars: usize,
    },
    #[error("the workbook could not be written: {reason}")]
    XlsxWrite { reason: String },
}

impl SheetFormat {
    /// Tells the format from the content, never from the name alone: offices rename files,
    /// and some systems save CSV or web pages under an `.xls` name. The name only sharpens
    /// the refusal of a text file that claims to be an `.xlsx`.
    pub fn detect(bytes: &[u8], file_name: Option<&str>) -> Result<SheetFormat, SheetError> {
        const ZIP_LOCAL_FILE: &[u8] = b"PK\x03\x04";
        const ZIP_EMPTY: &[u8] = b"PK\x05\x06";
        const OLE_COMPOUND: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(SheetError::EmptyFile);
        }
        if bytes.starts_with(ZIP_LOCAL_FILE) || bytes.starts_with(ZIP_EMPTY) {
            return Ok(SheetFormat::Xlsx);
        }
        if bytes.starts_with(OLE_COMPOUND) {
            // An encrypted .xlsx is an OLE container too, holding an "EncryptionInfo" stream
            // whose name is stored in UTF-16.
            return Err(if contains(bytes, &utf16le("EncryptionInfo")) {
                SheetError::PasswordProtected
            } else {
                SheetError::LegacyXls
            });
        }
        if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
            return Err(SheetError::Utf16Text);
        }
        if let Some(kind) = known_binary(bytes) {
            return Err(SheetError::NotASpreadsheet {
                detail: format!("it is {kind}"),
            });
        }
        let head = &bytes[..bytes.len().min(8192)];
        if head.contains(&0) {
            return Err(SheetError::NotASpreadsheet {
                detail: "it holds binary data".to_owned(),
            });
        }
        if looks_like_markup(head) {
            return Err(SheetError::MarkupNotSpreadsheet);
        }
        let named_xlsx = file_name.is_some_and(|name| {
            let name = name.to_ascii_lowercase();
            name.ends_with(".xlsx") || name.ends_with(".xlsm")
        });
        if named_xlsx {
            return Err(SheetError::NotASpreadsheet {
                detail: "it is named .xlsx but holds plain text; if it is CSV, name it .csv"
                    .to_owned(),
            });
        }
        Ok(SheetFormat::Csv)
    }

    /// The file extension, without the dot, for download names.
    pub fn extension(self) -> &'static str {
        match self {
            SheetFormat::Csv => "csv",
            SheetFormat::Xlsx => "xlsx",
        }
    }

    /// The media type for a download's `Content-Type`.
    pub fn media_type(self) -> &'static str {
        match self {
            SheetFormat::Csv => "text/csv; charset=utf-8",
            SheetFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }
}

impl Sheet {
    /// Every cell of this sheet that holds an Excel error, at once, so the user can fix
    /// them in one pass.
    pub fn refuse_cell_errors(&self) -> Result<(), SheetError> {
        if self.cell_errors.is_empty() {
            Ok(())
        } else {
            Err(SheetError::CellErrors {
                cells: self.cell_errors.clone(),
                unlisted: self.unlisted_cell_errors,
            })
        }
    }

    /// The row with Excel row number (or CSV line) `number`, if it is not blank.
    pub fn row(&self, number: u32) -> Option<&SheetRow> {
        self.rows
            .binary_search_by_key(&number, |row| row.number)
            .ok()
            .and_then(|index| self.rows.get(index))
    }
}

impl SheetRow {
    /// The text of the cell at 0-based `column`; empty when the row is shorter.
    pub fn cell(&self, column: usize) -> &str {
        self.cells.get(column).map_or("", String::as_str)
    }
}

impl fmt::Display for CellErrorAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sheet \"{}\", row {}, column {}: the cell holds {}",
            self.sheet,
            self.row,
            column_name(self.column),
            self.error
        )
    }
}

impl fmt::Display for SizeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeLimit::Rows(max) => write!(f, "more than {max} rows"),
            SizeLimit::Columns(max) => write!(f, "more than {max} columns"),
            SizeLimit::Cells(max) => write!(f, "more than {max} cells in the file"),
            SizeLimit::UncompressedBytes(max) => {
                write!(f, "more than {} MiB once uncompressed", max >> 20)
            }
            SizeLimit::TextBytes(max) => {
                write!(f, "more than {} MiB of text in its cells", max >> 20)
            }
            SizeLimit::SharedStrings(max) => write!(f, "more than {max} different texts"),
            SizeLimit::Sheets(max) => write!(f, "more than {max} sheets"),
        }
    }
}

impl SizeLimit {
    /// The limit in Chinese.
    pub fn zh(&self) -> String {
        match self {
            SizeLimit::Rows(max) => format!("超过 {max} 行"),
            SizeLimit::Columns(max) => format!("超过 {max} 列"),
            SizeLimit::Cells(max) => format!("文件超过 {max} 个单元格"),
            SizeLimit::UncompressedBytes(max) => format!("解压后超过 {} MiB", max >> 20),
            SizeLimit::TextBytes(max) => format!("单元格文字超过 {} MiB", max >> 20),
            SizeLimit::SharedStrings(max) => format!("超过 {max} 个不同的文字"),
            SizeLimit::Sheets(max) => format!("超过 {max} 个工作表"),
        }
    }
}

impl SheetError {
    /// The message in Chinese, for the Chinese pages (technical details such as a parser's
    /// reason stay as the library gave them).
    pub fn zh(&self) -> String {
        match self {
            SheetError::EmptyFile => "文件为空或只有空行".into(),
            SheetError::LegacyXls => {
                "这是旧版 Excel 97-2003 工作簿（.xls）；请在 Excel 中另存为 .xlsx（Excel 工作簿）或 CSV".into()
            }
            SheetError::PasswordProtected => {
                "工作簿设有密码；请在 Excel 中取消密码（文件 > 信息 > 保护工作簿）后重新保存".into()
            }
            SheetError::Utf16Text => {
                "这是 UTF-16 文本（Excel 的“Unicode 文本”）；请另存为“CSV UTF-8”或 .xlsx".into()
            }
            SheetError::MarkupNotSpreadsheet => {
                "这是网页或 XML 导出文件，不是真正的电子表格（有些系统用 .xls 名保存）；请在 Excel 中另存为 .xlsx 或 CSV".into()
            }
            SheetError::NotASpreadsheet { detail } => {
                format!("文件不是电子表格（{detail}）；请上传 .xlsx 工作簿或 CSV 文件")
            }
            SheetError::BrokenXlsx { reason } => format!(
                "无法读取工作簿（{reason}）；文件可能已损坏或不是真正的 .xlsx：请在 Excel 中打开并重新另存为 .xlsx"
            ),
            SheetError::BrokenCsv { line, reason } => {
                format!("CSV 文件在第 {line} 行出错：{reason}")
            }
            SheetError::Encoding { line, offset } => format!(
                "文件既不是 UTF-8 也不是 GB18030/GBK 文本（第一个无法解码的字节在第 {line} 行，偏移 {offset} 处）；请另存为“CSV UTF-8”或 .xlsx"
            ),
            SheetError::TooLarge { sheet, limit } => {
                format!("工作表“{sheet}”过大：{}；请拆分为较小的文件", limit.zh())
            }
            SheetError::WorkbookTooLarge { limit } => {
                format!("工作簿过大：{}；请拆分为较小的文件", limit.zh())
            }
            SheetError::CellErrors { cells, unlisted } => {
                format!(
                    "{} 个单元格含有公式错误；请修正公式或直接填写数值",
                    cells.len() + unlisted
                )
            }
            SheetError::CellTooLong {
                sheet,
                row,
                column,
                chars,
            } => format!(
                "工作表“{sheet}”第 {row} 行 {column} 列的单元格有 {chars} 个字符，超过 Excel 的上限 {MAX_CELL_CHARS}；请缩短后重新保存"
            ),
            SheetError::XlsxWrite { reason } => format!("无法写出工作簿：{reason}"),
        }
    }
}

/// Formats the list of error cells, naming the first few so the message stays readable.
struct CellErrorList<'a> {
    cells: &'a [CellErrorAt],
    /// Error cells beyond those listed.
    unlisted: usize,
}

impl fmt::Display for CellErrorList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 10;
        let total = self.cells.len() + self.unlisted;
        write!(
            f,
            "{total} cell(s) hold an Excel error instead of a value; fix the formulas and upload \
             again: "
        )?;
        for (index, cell) in self.cells.iter().take(SHOWN).enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{cell}")?;
        }
        if total > SHOWN {
            write!(f, "; and {} more", total - SHOWN)?;
        }
        Ok(())
    }
}

impl From<&str> for TableCell {
    fn from(text: &str) -> Self {
        TableCell::Text(text.to_owned())
    }
}

impl From<String> for TableCell {
    fn from(text: String) -> Self {
        TableCell::Text(text)
    }
}

impl From<i64> for TableCell {
    fn from(value: i64) -> Self {
        TableCell::Integer(value)
    }
}

impl From<f64> for TableCell {
    fn from(value: f64) -> Self {
        TableCell::Number(value)
    }
}

impl<T: Into<TableCell>> From<Option<T>> for TableCell {
    fn from(value: Option<T>) -> Self {
        value.map_or(TableCell::Empty, Into::into)
    }
}

/// The column letters Excel shows: 0 → `A`, 25 → `Z`, 26 → `AA`.
pub fn column_name(index: usize) -> String {
    let mut letters = Vec::new();
    let mut rest = index;
    loop {
        // `rest % 26` is below 26, so the cast cannot truncate.
        letters.push(b'A' + (rest % 26) as u8);
        match (rest / 26).checked_sub(1) {
            Some(next) => rest = next,
            None => break,
        }
    }
    letters.iter().rev().map(|&byte| char::from(byte)).collect()
}

/// Reads an upload of either format within the default [`ReadLimits`].
pub fn read_workbook(bytes: &[u8]) -> Result<Workbook, SheetError> {
    read_workbook_with_limits(bytes, &ReadLimits::default())
}

/// Reads an upload of either format, refusing it as soon as it breaks a limit.
///
/// A cell holding an Excel error (`#DIV/0!`, `#N/A`, …) is not data: every such cell is
/// reported at once in [`SheetError::CellErrors`] so the user can fix them in one pass.
pub fn read_workbook_with_limits(
    bytes: &[u8],
    limits: &ReadLimits,
) -> Result<Workbook, SheetError> {
    let workbook = match SheetFormat::detect(bytes, None)? {
        SheetFormat::Csv => read_csv(bytes, limits)?,
        SheetFormat::Xlsx => read_xlsx(bytes, limits)?,
    };
    if workbook.sheets.iter().all(|sheet| sheet.rows.is_empty()) {
        return Err(SheetError::EmptyFile);
    }
    Ok(workbook)
}

/// Writes a table as CSV the way Excel in Chinese opens it correctly: UTF-8 with a BOM
/// (without one Excel assumes GBK and garbles the text), CRLF line ends and RFC 4180
/// quoting. Text that Excel would run as a formula (starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return) gets a leading `'`, so an exported value such as
/// `=HYPERLINK(...)` typed into a form by someone can never execute in a reader's Excel
/// (CSV injection).
///
/// The fields are quoted here rather than through the csv crate's writer because that
/// writer can fail (it writes through `io::Write`) and writing into memory cannot; the
/// tests read the output back with the csv crate.
pub fn write_csv(table: &Table) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    write_csv_record(&mut out, table.headers.iter().map(|h| csv_text(h)));
    for row in &table.rows {
        write_csv_record(
            &mut out,
            row.iter().map(|cell| match cell {
                TableCell::Text(text) => csv_text(text),
                TableCell::Number(value) => exact_number_text(*value),
                TableCell::Integer(value) => value.to_string(),
                TableCell::Empty => String::new(),
            }),
        );
    }
    out.into_bytes()
}

/// Writes tables as one XLSX workbook, one worksheet per table named after its title
/// (made valid and unique under Excel's rules), with a bold, frozen header row, numbers
/// stored as numbers and columns wide enough for their content. A table with headers and
/// no rows makes an import template.
///
/// Integers beyond 15 digits are written as text: Excel keeps only 15 significant digits
/// and would silently change them.
///
/// Text longer than a cell holds (a long list joined into one cell) is cut to Excel's
/// 32,767 characters, the last one `…`, rather than refusing the whole download; a CSV of
/// the same table keeps it whole.
///
/// rust_xlsxwriter's constant-memory mode is not used: it streams through temporary files,
/// and this crate does no I/O. The tables are already in memory, so the writer at most
/// doubles what the caller holds.
pub fn write_xlsx(tables: &[Table]) -> Result<Vec<u8>, SheetError> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let header_format = rust_xlsxwriter::Format::new().set_bold();
    let names = unique_sheet_names(tables.iter().map(|table| table.title.as_str()));
    for (table, name) in tables.iter().zip(names) {
        let worksheet = workbook.add_worksheet();
        worksheet.set_name(&name).map_err(write_error)?;
        write_table(worksheet, table, &name, &header_format)?;
    }
    workbook.save_to_buffer().map_err(write_error)
}

/// `text` as an XLSX cell can hold it: whole, or its first [`MAX_CELL_CHARS`] characters
/// with the last replaced by `…`.
fn within_excel_cell(text: &str) -> std::borrow::Cow<'_, str> {
    // No more bytes than the limit, no more characters.
    if text.len() <= MAX_CELL_CHARS {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut starts = text.char_indices().map(|(at, _)| at);
    match starts.nth(MAX_CELL_CHARS - 1) {
        Some(cut) if starts.next().is_some() => {
            std::borrow::Cow::Owned(format!("{}…", &text[..cut]))
        }
        _ => std::borrow::Cow::Borrowed(text),
    }
}

// ---------------------------------------------------------------------------------------
// Detection helpers

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Common non-spreadsheet uploads, named so the user sees what they sent.
fn known_binary(bytes: &[u8]) -> Option<&'static str> {
    const MAGICS: &[(&[u8], &str)] = &[
        (b"%PDF", "a PDF document"),
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"Rar!", "a RAR archive"),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
        (b"\x1F\x8B", "a gzip archive"),
    ];
    MAGICS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, kind)| *kind)
}

/// An HTML table or an "XML Spreadsheet 2003" saved as `.xls`: text that starts with a tag.
fn looks_like_markup(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|byte| !byte.is_ascii_whitespace());
    let Some(start) = start else { return false };
    let text = head.get(start..).unwrap_or_default();
    if !text.starts_with(b"<") {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    ["<html", "<table", "<!doctype html", "<?xml", "<workbook"]
        .iter()
        .any(|tag| contains(&lower, tag.as_bytes()))
}

// ---------------------------------------------------------------------------------------
// CSV

fn read_csv(bytes: &[u8], limits: &ReadLimits) -> Result<Workbook, SheetError> {
    let mut rows = Vec::new();
    let mut cells_used: u64 = 0;
    let mut over_cells = false;
    for_each_csv_row(bytes, limits, |number, cells| {
        cells_used += cells.len() as u64;
        if cells_used > limits.max_cells {
            over_cells = true;
            return false;
        }
        rows.push(SheetRow {
            number,
            cells: cells.iter().map(|c| (*c).to_owned()).collect(),
        });
        true
    })?;
    if over_cells {
        return Err(SheetError::WorkbookTooLarge {
            limit: SizeLimit::Cells(limits.max_cells),
        });
    }
    Ok(Workbook {
        sheets: vec![Sheet {
            name: CSV_SHEET_NAME.to_owned(),
            hidden: false,
            rows,
            cell_errors: Vec::new(),
            unlisted_cell_errors: 0,
        }],
    })
}

/// Streams a CSV file (UTF-8 or GB18030, detected) row by row without building a
/// [`Workbook`]: `row` gets each non-blank row's line number and trimmed cells (trailing
/// empty cells dropped) and returns whether to go on. For imports of a million rows, where
/// a workbook of owned cells would cost gigabytes. The row and column limits apply; the
/// cell limit, which exists to bound a workbook's memory, does not.
pub fn for_each_csv_row(
    bytes: &[u8],
    limits: &ReadLimits,
    mut row: impl FnMut(u32, &[&str]) -> bool,
) -> Result<(), SheetError> {
    let too_large = |limit| SheetError::TooLarge {
        sheet: CSV_SHEET_NAME.to_owned(),
        limit,
    };
    let (text, _encoding) = decode_text(bytes).map_err(|e| SheetError::Encoding {
        line: e.line,
        offset: e.offset,
    })?;
    // The csv crate dates a record from before the `\n` of a preceding `\r\n`, so with
    // Windows line ends every row would carry the previous line's number. Line ends become
    // `\n` (inside quoted cells too, as in Excel's cells).
    let text = if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        text
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut rows: u64 = 0;
    // One row's cells, its allocation kept from row to row (a million rows each collected
    // into a fresh vector were a seventh of reading the file).
    let mut spare_cells: Vec<&str> = Vec::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                return Err(SheetError::BrokenCsv {
                    line: error.position().map_or(0, csv::Position::line),
                    reason: error.to_string(),
                });
            }
        }
        // The csv crate dates a record from the start of any blank lines it skipped before
        // it; step over them so the number is the line the record is on.
        let line = record.position().map_or(0, |position| {
            let start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
            let blank = text
                .as_bytes()
                .get(start..)
                .map_or(0, |rest| rest.iter().take_while(|&&b| b == b'\n').count());
            position.line() + blank as u64
        });
        let mut cells = reused(std::mem::take(&mut spare_cells));
        for field in &record {
            // A field's byte length bounds its characters, so most fields skip the count.
            if field.len() > MAX_CELL_CHARS && field.chars().count() > MAX_CELL_CHARS {
                return Err(SheetError::BrokenCsv {
                    line,
                    reason: format!(
                        "a cell holds {} characters, more than Excel's limit of {MAX_CELL_CHARS}; \
                         a quote (\") was probably opened and never closed",
                        field.chars().count()
                    ),
                });
            }
            cells.push(trim_cell(field));
        }
        while cells.last().is_some_and(|c| c.is_empty()) {
            cells.pop();
        }
        if cells.is_empty() {
            spare_cells = reused(cells);
            continue;
        }
        if cells.len() > limits.max_columns as usize {
            return Err(too_large(SizeLimit::Columns(limits.max_columns)));
        }
        if rows >= u64::from(limits.max_rows_per_sheet) {
            return Err(too_large(SizeLimit::Rows(limits.max_rows_per_sheet)));
        }
        rows += 1;
        let number = u32::try_from(line).map_err(|_| too_large(SizeLimit::Rows(u32::MAX)))?;
        if !row(number, &cells) {
            break;
        }
        spare_cells = reused(cells);
    }
    Ok(())
}

/// An empty vector of borrowed cells in the allocation of `cells`, whatever they borrowed:
/// collecting an emptied vector into one of a type of the same size reuses its buffer (the
/// closure never runs: there is nothing left to map).
fn reused<'a>(mut cells: Vec<&str>) -> Vec<&'a str> {
    cells.clear();
    cells.into_iter().map(|_| "").collect()
}

fn csv_text(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn write_csv_record(out: &mut String, fields: impl Iterator<Item = String>) {
    for (index, field) in fields.enumerate() {
        if index > 0 {
            out.push(',');
        }
        // Leading or trailing spaces are quoted too: some readers trim unquoted fields.
        let needs_quotes = field.contains([',', '"', '\r', '\n'])
            || field.starts_with(' ')
            || field.ends_with(' ');
        if needs_quotes {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&field);
        }
    }
    out.push_str("\r\n");
}

// ---------------------------------------------------------------------------------------
// XLSX reading

/// A non-empty cell at its absolute 0-based position.
struct PlacedCell {
    row: u32,
    column: u32,
    text: String,
}

/// Counts cells against [`ReadLimits::max_cells`] and their text against
/// [`ReadLimits::max_text_bytes`] across all sheets.
struct CellBudget {
    used: u64,
    max: u64,
    text_used: u64,
    max_text: u64,
}

impl CellBudget {
    fn take_text(&mut self, bytes: usize) -> Result<(), SheetError> {
        self.text_used = self.text_used.saturating_add(bytes as u64);
        if self.text_used > self.max_text {
            Err(SheetError::WorkbookTooLarge {
                limit: SizeLimit::TextBytes(self.max_text),
            })
        } else {
            Ok(())
        }
    }

    fn take(&mut self, cells: u64) -> Result<(), SheetError> {
        self.used = self.used.saturating_add(cells);
        if self.used > self.max {
            Err(self.exceeded())
        } else {
            Ok(())
        }
    }

    /// Whether `pending` more cells, not yet taken, would break the limit.
    fn check_pending(&self, pending: usize) -> Result<(), SheetError> {
        if self.used.saturating_add(pending as u64) > self.max {
            Err(self.exceeded())
        } else {
            Ok(())
        }
    }

    fn exceeded(&self) -> SheetError {
        SheetError::WorkbookTooLarge {
            limit: SizeLimit::Cells(self.max),
        }
    }
}

fn broken_xlsx(error: impl fmt::Display) -> SheetError {
    SheetError::BrokenXlsx {
        reason: error.to_string(),
    }
}

fn read_xlsx(bytes: &[u8], limits: &ReadLimits) -> Result<Workbook, SheetError> {
    check_uncompressed_size(bytes, limits)?;
    // calamine parses untrusted XML; a panic on some crafted file is a bug there, but must
    // not take the server's worker down with it. Nothing is shared across the boundary:
    // the closure owns its reader and only borrows the input bytes.
    catch_unwind(AssertUnwindSafe(|| read_xlsx_unguarded(bytes, limits))).unwrap_or_else(|_| {
        Err(SheetError::BrokenXlsx {
            reason: PANIC_REASON.to_owned(),
        })
    })
}

/// The reason given when reading an XLSX panicked; the tests look for it to prove the
/// guard was never needed.
const PANIC_REASON: &str = "its structure is invalid";

/// Refuses zip bombs before decompressing anything. The zip reader stops any entry at the
/// uncompressed size its central directory declares, so the declared total bounds the work.
fn check_uncompressed_size(bytes: &[u8], limits: &ReadLimits) -> Result<(), SheetError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(broken_xlsx)?;
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_data(index).map_err(broken_xlsx)?;
        total = total.saturating_add(entry.size());
    }
    if total > limits.max_uncompressed_bytes {
        return Err(SheetError::WorkbookTooLarge {
            limit: SizeLimit::UncompressedBytes(limits.max_uncompressed_bytes),
        });
    }
    check_shared_string_counts(&mut archive, limits)?;
    check_sheet_count(&mut archive)
}

/// The most sheets a workbook may list. calamine finds each sheet of the list by name in
/// the list (quadratic in their number) and parses each sheet's part anew, so a workbook
/// listing a million sheets that all point at one part would keep a thread busy for hours.
const MAX_SHEETS: u64 = 255;

/// Counts the `<sheet>` entries of the workbook's part before calamine reads them.
fn check_sheet_count(archive: &mut zip::ZipArchive<Cursor<&[u8]>>) -> Result<(), SheetError> {
    let mut sheets = 0u64;
    visit_elements(archive, "workbook.xml", "sheet", |_, _| {
        sheets += 1;
        if sheets > MAX_SHEETS {
            return Err(SheetError::WorkbookTooLarge {
                limit: SizeLimit::Sheets(MAX_SHEETS),
            });
        }
        Ok(true)
    })
}

/// Reads, with the XML reader calamine uses, every part of the archive whose name ends with
/// `part` (in any case), and hands each `element` in it to `visit` with the part's
/// uncompressed size; `visit` says whether to read on in that part.
fn visit_elements(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    part: &str,
    element: &str,
    mut visit: impl FnMut(&quick_xml::events::BytesStart<'_>, u64) -> Result<bool, SheetError>,
) -> Result<(), SheetError> {
    use quick_xml::events::Event;
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(broken_xlsx)?;
        let name = entry.name().map_err(broken_xlsx)?;
        if !name.to_ascii_lowercase().ends_with(part) {
            continue;
        }
        let size = entry.size();
        let mut xml = quick_xml::Reader::from_reader(std::io::BufReader::new(entry));
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match xml.read_event_into(&mut buffer) {
                Ok(Event::Start(tag) | Event::Empty(tag))
                    if tag.local_name().as_ref() == element =>
                {
                    if !visit(&tag, size)? {
                        break;
                    }
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(error) => return Err(broken_xlsx(error)),
            }
        }
    }
    Ok(())
}

/// The fewest bytes one entry of a shared-strings table takes (`<si/>`).
const SHARED_STRING_MIN_BYTES: u64 = 5;

/// calamine reserves room for as many shared strings as the table's `<sst uniqueCount="…">`
/// says before it reads one: a forged count in a file of a kilobyte asks for terabytes, and
/// a failed allocation aborts the process (it is not a panic `catch_unwind` could stop). So
/// the count is read first, with the XML reader calamine uses, and must be one the table's
/// own size could hold and the cell limit could use.
fn check_shared_string_counts(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    limits: &ReadLimits,
) -> Result<(), SheetError> {
    visit_elements(archive, "sharedstrings.xml", "sst", |tag, size| {
        // Some writers put the count of references there, which a small honest table can
        // exceed; the cell limit bounds what is reserved all the same (20 million strings
        // reserve about 480 MB of address space, not touched until filled).
        let most = (size / SHARED_STRING_MIN_BYTES).max(limits.max_cells);
        let count = tag
            .try_get_attribute("uniqueCount")
            .map_err(broken_xlsx)?
            .and_then(|count| count.value.trim().parse::<u64>().ok());
        if count.is_some_and(|count| count > most) {
            return Err(SheetError::WorkbookTooLarge {
                limit: SizeLimit::SharedStrings(most),
            });
        }
        Ok(false)
    })
}

fn read_xlsx_unguarded(bytes: &[u8], limits: &ReadLimits) -> Result<Workbook, SheetError> {
    let mut xlsx = Xlsx::new(Cursor::new(bytes)).map_err(|error| match error {
        XlsxError::Password => SheetError::PasswordProtected,
        other => broken_xlsx(other),
    })?;
    let worksheets: Vec<(String, bool)> = xlsx
        .sheets_metadata()
        .iter()
        .filter(|sheet| sheet.typ == SheetType::WorkSheet)
        .map(|sheet| (sheet.name.clone(), sheet.visible != SheetVisible::Visible))
        .collect();
    let mut budget = CellBudget {
        used: 0,
        max: limits.max_cells,
        text_used: 0,
        max_text: limits.max_text_bytes,
    };
    let merges = may_merge_cells(bytes)?;
    let mut sheets = Vec::with_capacity(worksheets.len());
    for (name, hidden) in worksheets {
        let mut cell_errors = CellErrorsFound::default();
        let sheet = SheetToRead {
            name: &name,
            may_merge_cells: merges,
        };
        let rows = read_xlsx_sheet(&mut xlsx, sheet, limits, &mut budget, &mut cell_errors)?;
        sheets.push(Sheet {
            name,
            hidden,
            rows,
            cell_errors: cell_errors.listed,
            unlisted_cell_errors: cell_errors.unlisted,
        });
    }
    Ok(Workbook { sheets })
}

/// The error cells of one worksheet: the first [`MAX_LISTED_CELL_ERRORS`], and how many more.
#[derive(Debug, Default)]
struct CellErrorsFound {
    listed: Vec<CellErrorAt>,
    unlisted: usize,
}

/// Whether any XML part of the workbook holds the bytes `mergeCell`: without them no sheet
/// has a merged area (an element's name is spelled out whatever its prefix), and reading
/// each sheet a second time for its merged areas can be skipped. calamine finds them by
/// parsing the sheet's whole XML again, event by event: for a sheet of 100,000 rows that
/// was three tenths of reading the workbook, where inflating the parts and searching their
/// bytes costs a tenth of it. The word in a cell's text only sends the reading the slow way.
fn may_merge_cells(bytes: &[u8]) -> Result<bool, SheetError> {
    let names = merge_cell_names();
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(broken_xlsx)?;
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(broken_xlsx)?;
        let name = entry.name().map_err(broken_xlsx)?.to_ascii_lowercase();
        if name.ends_with(".xml") && reads_bytes(entry, &names, 64 * 1024).map_err(broken_xlsx)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The element name `mergeCell` as a part may spell it: in UTF-8 or any encoding that keeps
/// ASCII as it is, and in UTF-16 of either byte order, which calamine's XML reader decodes too.
fn merge_cell_names() -> [memchr::memmem::Finder<'static>; 3] {
    const NAME: &str = "mergeCell";
    let utf16 =
        |bytes: fn(u16) -> [u8; 2]| -> Vec<u8> { NAME.encode_utf16().flat_map(bytes).collect() };
    [
        memchr::memmem::Finder::new(NAME.as_bytes()).into_owned(),
        memchr::memmem::Finder::new(&utf16(u16::to_le_bytes)).into_owned(),
        memchr::memmem::Finder::new(&utf16(u16::to_be_bytes)).into_owned(),
    ]
}

/// Whether `reader` yields the bytes any of `finders` looks for, read `chunk` bytes at a
/// time (at least the longest needle's length). The end of each read is searched again with
/// the next, so that a needle split between two reads is found.
fn reads_bytes(
    mut reader: impl std::io::Read,
    finders: &[memchr::memmem::Finder<'_>],
    chunk: usize,
) -> std::io::Result<bool> {
    let longest = finders.iter().map(|f| f.needle().len()).max().unwrap_or(0);
    let overlap = longest.saturating_sub(1);
    let mut buffer = vec![0u8; chunk.max(overlap + 1)];
    let mut kept = 0;
    loop {
        let read = reader.read(buffer.get_mut(kept..).unwrap_or_default())?;
        if read == 0 {
            return Ok(false);
        }
        let filled = kept + read;
        let window = buffer.get(..filled).unwrap_or_default();
        if finders.iter().any(|finder| finder.find(window).is_some()) {
            return Ok(true);
        }
        kept = overlap.min(filled);
        buffer.copy_within(filled - kept..filled, 0);
    }
}

/// A worksheet to read, and whether the workbook may hold merged areas at all.
#[derive(Clone, Copy)]
struct SheetToRead<'a> {
    name: &'a str,
    may_merge_cells: bool,
}

/// Reads one worksheet cell by cell (calamine's dense ranges would allocate the whole
/// bounding box, which one stray cell at XFD1048576 makes 17 billion cells), then fills
/// merged areas and groups the cells into rows.
fn read_xlsx_sheet(
    xlsx: &mut Xlsx<Cursor<&[u8]>>,
    sheet: SheetToRead<'_>,
    limits: &ReadLimits,
    budget: &mut CellBudget,
    cell_errors: &mut CellErrorsFound,
) -> Result<Vec<SheetRow>, SheetError> {
    let name = sheet.name;
    let too_large = |limit| SheetError::TooLarge {
        sheet: name.to_owned(),
        limit,
    };
    let mut cells: Vec<PlacedCell> = Vec::new();
    let mut in_order = true;
    {
        let mut reader = match xlsx.worksheet_cells_reader(name) {
            Ok(reader) => reader,
            // A dialog or macro sheet listed as a worksheet: nothing to read.
            Err(XlsxError::NotAWorksheet(_)) => return Ok(Vec::new()),
            Err(error) => return Err(broken_xlsx(error)),
        };
        while let Some(cell) = reader.next_cell().map_err(broken_xlsx)? {
            let (row, column) = cell.get_position();
            if column >= limits.max_columns {
                return Err(too_large(SizeLimit::Columns(limits.max_columns)));
            }
            let text = match cell.get_value() {
                DataRef::Error(error) => {
                    // The first thousand kept: enough to fix, too few to fill memory from a
                    // workbook of millions (the row's width counts them against the cells).
                    if cell_errors.listed.len() < MAX_LISTED_CELL_ERRORS {
                        cell_errors.listed.push(CellErrorAt {
                            sheet: name.chars().take(MAX_SHEET_NAME_CHARS).collect(),
                            row: row.saturating_add(1),
                            column: column as usize,
                            error: error.to_string(),
                        });
                    } else {
                        cell_errors.unlisted += 1;
                    }
                    continue;
                }
                value => display_text(value),
            };
            if text.is_empty() {
                continue;
            }
            if text.len() > MAX_CELL_CHARS {
                let chars = text.chars().count();
                if chars > MAX_CELL_CHARS {
                    return Err(SheetError::CellTooLong {
                        sheet: name.to_owned(),
                        row: row.saturating_add(1),
                        column: column_name(column as usize),
                        chars,
                    });
                }
            }
            budget.check_pending(cells.len() + 1)?;
            budget.take_text(text.len())?;
            if cells
                .last()
                .is_some_and(|last| (last.row, last.column) >= (row, column))
            {
                in_order = false;
            }
            cells.push(PlacedCell { row, column, text });
        }
    }
    let merged_areas = if sheet.may_merge_cells {
        xlsx.merge_cells_by_sheet_name(name).map_err(broken_xlsx)?
    } else {
        Vec::new()
    };
    if !in_order {
        sort_keeping_last(&mut cells);
    }
    fill_merged_areas(&mut cells, &merged_areas, budget)?;
    group_into_rows(cells, limits, budget, name)
}

/// Sorts cells by position; where a position repeats, the one read last wins, as when a
/// merged area's value is copied over the cells it hides.
fn sort_keeping_last(cells: &mut Vec<PlacedCell>) {
    cells.sort_by_key(|cell| (cell.row, cell.column));
    cells.dedup_by(|later, kept| {
        let same = (later.row, later.column) == (kept.row, kept.column);
        if same {
            std::mem::swap(&mut later.text, &mut kept.text);
        }
        same
    });
}

/// Copies the value of each merged area's top-left cell into the rest of the area, as the
/// user sees it (a county name merged down over its townships belongs to every row).
/// Areas are clipped to the sheet's used cells: a title merged across 200 empty columns,
/// or a column merged down to row 1,048,576, adds nothing but memory.
fn fill_merged_areas(
    cells: &mut Vec<PlacedCell>,
    merged_areas: &[calamine::Dimensions],
    budget: &mut CellBudget,
) -> Result<(), SheetError> {
    let Some(last_row) = cells.iter().map(|cell| cell.row).max() else {
        return Ok(());
    };
    let last_column = cells.iter().map(|cell| cell.column).max().unwrap_or(0);
    let mut filled = Vec::new();
    for area in merged_areas {
        let top = area.start.0.min(area.end.0);
        let left = area.start.1.min(area.end.1);
        let bottom = area.start.0.max(area.end.0).min(last_row);
        let right = area.start.1.max(area.end.1).min(last_column);
        let Ok(index) = cells.binary_search_by_key(&(top, left), |cell| (cell.row, cell.column))
        else {
            continue;
        };
        let Some(value) = cells.get(index).map(|cell| cell.text.clone()) else {
            continue;
        };
        for row in top..=bottom {
            for column in left..=right {
                if (row, column) == (top, left) {
                    continue;
                }
                budget.check_pending(cells.len() + filled.len() + 1)?;
                budget.take_text(value.len())?;
                filled.push(PlacedCell {
                    row,
                    column,
                    text: value.clone(),
                });
            }
        }
    }
    if !filled.is_empty() {
        cells.append(&mut filled);
        sort_keeping_last(cells);
    }
    Ok(())
}

/// Groups sorted, non-empty cells into rows, placing each cell at its column.
fn group_into_rows(
    cells: Vec<PlacedCell>,
    limits: &ReadLimits,
    budget: &mut CellBudget,
    sheet: &str,
) -> Result<Vec<SheetRow>, SheetError> {
    let mut rows: Vec<SheetRow> = Vec::new();
    let mut cells = cells.into_iter().peekable();
    while let Some(first) = cells.next() {
        let row_index = first.row;
        let mut row_cells = vec![(first.column, first.text)];
        while let Some(next) = cells.next_if(|cell| cell.row == row_index) {
            row_cells.push((next.column, next.text));
        }
        if rows.len() >= limits.max_rows_per_sheet as usize {
            return Err(SheetError::TooLarge {
                sheet: sheet.to_owned(),
                limit: SizeLimit::Rows(limits.max_rows_per_sheet),
            });
        }
        let width = row_cells
            .last()
            .map_or(0, |(column, _)| *column as usize + 1);
        budget.take(width as u64)?;
        let mut texts = vec![String::new(); width];
        for (column, text) in row_cells {
            if let Some(slot) = texts.get_mut(column as usize) {
                *slot = text;
            }
        }
        rows.push(SheetRow {
            number: row_index.saturating_add(1),
            cells: texts,
        });
    }
    Ok(rows)
}

/// A cell's value as the user reads it: trimmed text, integers without `.0`, booleans as
/// `true`/`false`, dates as ISO 8601.
fn display_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::String(text) => text.trim().to_owned(),
        DataRef::SharedString(text) => text.trim().to_owned(),
        DataRef::Float(number) => number_text(*number),
        DataRef::Int(number) => number.to_string(),
        DataRef::Bool(flag) => flag.to_string(),
        DataRef::DateTime(datetime) => datetime_text(datetime),
        DataRef::DateTimeIso(text) => iso_datetime_text(text.trim()),
        DataRef::DurationIso(text) => text.trim().to_owned(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}

/// A number as Excel's "General" format shows it: at most 15 significant digits, which
/// drops the binary noise of stored results (0.1 + 0.2 is shown as 0.3), and no `.0` on
/// whole numbers.
fn number_text(value: f64) -> String {
    if !value.is_finite() {
        return String::new();
    }
    // The shortest text that reads back as the value is already the answer when it has no
    // more than 15 significant digits: a double is within 2^-53 of it, less than half a unit
    // of the 15th digit, so rounding to 15 digits gives the same text. Most cells (counts,
    // coordinates) end here; the exact formatting below was a sixth of reading a workbook.
    let shortest = exact_number_text(value);
    if significant_digits(&shortest) <= 15 {
        return shortest;
    }
    let rounded: f64 = format!("{value:.14e}").parse().unwrap_or(value);
    exact_number_text(rounded)
}

/// The significant digits of a number written out in full (as `f64`'s `Display` writes it,
/// never with an exponent): its digits without the leading and trailing zeros.
fn significant_digits(number: &str) -> usize {
    let bytes = number.as_bytes();
    let nonzero = |b: &u8| (b'1'..=b'9').contains(b);
    match (
        bytes.iter().position(nonzero),
        bytes.iter().rposition(nonzero),
    ) {
        (Some(first), Some(last)) => bytes
            .get(first..=last)
            .map_or(0, |run| run.iter().filter(|b| b.is_ascii_digit()).count()),
        _ => 0,
    }
}

/// The shortest text that reads back as the same `f64`, without `.0`, exponent or `-0`;
/// empty for NaN and infinities, which no spreadsheet can hold.
fn exact_number_text(value: f64) -> String {
    if !value.is_finite() {
        String::new()
    } else if value == 0.0 {
        "0".to_owned()
    } else {
        value.to_string()
    }
}

/// `YYYY-MM-DD` for dates, `YYYY-MM-DD HH:MM:SS` with a time of day, `HH:MM:SS` for a bare
/// time (a serial below one day), and `H:MM:SS` with unbounded hours for durations.
fn datetime_text(datetime: &calamine::ExcelDateTime) -> String {
    let serial = datetime.as_f64();
    if datetime.is_duration() {
        return duration_text(serial);
    }
    let (year, month, day, hour, minute, second, milli) = datetime.to_ymd_hms_milli();
    let time = if milli > 0 {
        format!("{hour:02}:{minute:02}:{second:02}.{milli:03}")
    } else {
        format!("{hour:02}:{minute:02}:{second:02}")
    };
    let date = format!("{year:04}-{month:02}-{day:02}");
    if (0.0..1.0).contains(&serial) {
        time
    } else if (hour, minute, second, milli) == (0, 0, 0, 0) {
        date
    } else {
        format!("{date} {time}")
    }
}

fn duration_text(days: f64) -> String {
    if !days.is_finite() {
        return String::new();
    }
    // Saturating float-to-int cast: absurd durations clamp instead of wrapping.
    let total_seconds = (days * 86_400.0).round() as i64;
    let sign = if total_seconds < 0 { "-" } else { "" };
    let seconds = total_seconds.unsigned_abs();
    format!(
        "{sign}{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Normalises an ISO date-time stored as text in the file (`t="d"` cells) to the same
/// shape as [`datetime_text`]: a space instead of `T`, and no midnight time on a date.
fn iso_datetime_text(text: &str) -> String {
    let text = text.replacen('T', " ", 1);
    match text.strip_suffix(" 00:00:00") {
        Some(date) => date.to_owned(),
        None => text,
    }
}

// ---------------------------------------------------------------------------------------
// XLSX writing

/// Excel refuses these in sheet names.
const FORBIDDEN_IN_SHEET_NAME: [char; 7] = ['[', ']', ':', '*', '?', '/', '\\'];
const MAX_SHEET_NAME_UNITS: usize = 31;
/// Widths in Excel's character units: narrow enough to keep several columns on screen.
const MIN_COLUMN_WIDTH: f64 = 8.0;
const MAX_COLUMN_WIDTH: f64 = 60.0;
/// Column widths are measured on the first rows only; later rows rarely differ and a
/// million-row export should not be scanned twice.
const ROWS_MEASURED_FOR_WIDTH: usize = 1000;
/// The largest integer Excel shows exactly: it keeps 15 significant digits.
const MAX_EXACT_EXCEL_INTEGER: u64 = 999_999_999_999_999;

fn write_error(error: rust_xlsxwriter::XlsxError) -> SheetError {
    SheetError::XlsxWrite {
        reason: error.to_string(),
    }
}

fn write_table(
    worksheet: &mut rust_xlsxwriter::Worksheet,
    table: &Table,
    sheet_name: &str,
    header_format: &rust_xlsxwriter::Format,
) -> Result<(), SheetError> {
    let too_large = |limit| SheetError::TooLarge {
        sheet: sheet_name.to_owned(),
        limit,
    };
    let width = table
        .rows
        .iter()
        .map(Vec::len)
        .chain(std::iter::once(table.headers.len()))
        .max()
        .unwrap_or(0);
    if width > EXCEL_MAX_COLUMNS as usize {
        return Err(too_large(SizeLimit::Columns(EXCEL_MAX_COLUMNS)));
    }
    // The header takes one of Excel's rows.
    if table.rows.len() >= EXCEL_MAX_ROWS as usize {
        return Err(too_large(SizeLimit::Rows(EXCEL_MAX_ROWS - 1)));
    }
    let mut column_widths = vec![0_usize; width];
    for (column, header) in table.headers.iter().enumerate() {
        let column_number = excel_column(column)?;
        worksheet
            .write_string_with_format(0, column_number, header, header_format)
            .map_err(write_error)?;
        widen(&mut column_widths, column, header);
    }
    if !table.headers.is_empty() {
        worksheet.set_freeze_panes(1, 0).map_err(write_error)?;
    }
    for (row_index, row) in table.rows.iter().enumerate() {
        // Checked above: fewer rows than Excel's limit, which fits in u32.
        let row_number = u32::try_from(row_index + 1)
            .map_err(|_| too_large(SizeLimit::Rows(EXCEL_MAX_ROWS - 1)))?;
        for (column, cell) in row.iter().enumerate() {
            let column_number = excel_column(column)?;
            let shown = match cell {
                TableCell::Text(text) if !text.is_empty() => {
                    let text = within_excel_cell(text);
                    worksheet
                        .write_string(row_number, column_number, text.as_ref())
                        .map_err(write_error)?;
                    Some(text.into_owned())
                }
                TableCell::Number(value) if value.is_finite() => {
                    worksheet
                        .write_number(row_number, column_number, *value)
                        .map_err(write_error)?;
                    Some(number_text(*value))
                }
                TableCell::Integer(value) if value.unsigned_abs() <= MAX_EXACT_EXCEL_INTEGER => {
                    worksheet
                        .write_number(row_number, column_number, *value as f64)
                        .map_err(write_error)?;
                    Some(value.to_string())
                }
                TableCell::Integer(value) => {
                    let text = value.to_string();
                    worksheet
                        .write_string(row_number, column_number, &text)
                        .map_err(write_error)?;
                    Some(text)
                }
                TableCell::Text(_) | TableCell::Number(_) | TableCell::Empty => None,
            };
            if let Some(shown) = shown
                && row_index < ROWS_MEASURED_FOR_WIDTH
            {
                widen(&mut column_widths, column, &shown);
            }
        }
    }
    for (column, characters) in column_widths.iter().enumerate() {
        let width = (*characters as f64 + 2.0).clamp(MIN_COLUMN_WIDTH, MAX_COLUMN_WIDTH);
        worksheet
            .set_column_width(excel_column(column)?, width)
            .map_err(write_error)?;
    }
    Ok(())
}

fn excel_column(index: usize) -> Result<u16, SheetError> {
    u16::try_from(index).map_err(|_| SheetError::XlsxWrite {
        reason: format!("column {} is beyond Excel's last column", index + 1),
    })
}

/// Records the display width of `text` in `widths[column]`: the longest line, with CJK and
/// other wide characters counting twice, as they take two columns in Excel's fonts.
fn widen(widths: &mut [usize], column: usize, text: &str) {
    let width = text
        .lines()
        .map(|line| {
            line.chars()
                .map(|c| if is_wide(c) { 2 } else { 1 })
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    if let Some(slot) = widths.get_mut(column) {
        *slot = (*slot).max(width);
    }
}

fn is_wide(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD)
}

/// Valid, distinct sheet names for the titles, in order. Excel compares sheet names
/// without regard to case, so uniqueness does too.
fn unique_sheet_names<'a>(titles: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut taken: Vec<String> = Vec::new();
    let mut names = Vec::new();
    for title in titles {
        let base = sanitise_sheet_name(title);
        let mut name = base.clone();
        let mut copy = 2_usize;
        while taken.contains(&name.to_lowercase()) {
            let suffix = format!(" ({copy})");
            let room = MAX_SHEET_NAME_UNITS.saturating_sub(suffix.len());
            let stem = truncate_utf16(&base, room);
            let stem = stem.trim_end_matches([' ', '\'']);
            name = format!("{stem}{suffix}");
            copy += 1;
        }
        taken.push(name.to_lowercase());
        names.push(name);
    }
    names
}

/// Makes a title a valid Excel sheet name: no `[]:*?/\` or control characters, no
/// apostrophe at either end, at most 31 UTF-16 units (how Excel counts), not blank and not
/// `History`, which Excel reserves.
fn sanitise_sheet_name(title: &str) -> String {
    let replaced: String = title
        .chars()
        .map(|c| {
            if FORBIDDEN_IN_SHEET_NAME.contains(&c) {
                '_'
            } else if c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let trimmed = replaced.trim().trim_matches('\'').trim();
    let truncated = truncate_utf16(trimmed, MAX_SHEET_NAME_UNITS);
    let name = truncated.trim_end_matches([' ', '\'']);
    if name.is_empty() {
        "Sheet".to_owned()
    } else if name.eq_ignore_ascii_case("history") {
        format!("{name}_")
    } else {
        name.to_owned()
    }
}

/// The longest prefix of `text` that fits in `units` UTF-16 code units.
fn truncate_utf16(text: &str, units: usize) -> &str {
    let mut used = 0;
    for (offset, c) in text.char_indices() {
        used += c.len_utf16();
        if used > units {
            return text.get(..offset).unwrap_or_default();
        }
    }
    text
}

#[cfg(test)]
mod tests;
