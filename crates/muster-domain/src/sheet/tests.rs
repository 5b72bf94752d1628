use super::*;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_xlsxwriter::{ExcelDateTime as XlsxDateTime, Format, Formula};

/// A sheet's rows as (row number, cells), for compact expectations.
fn rows_of(sheet: &Sheet) -> Vec<(u32, Vec<&str>)> {
    sheet
        .rows
        .iter()
        .map(|row| (row.number, row.cells.iter().map(String::as_str).collect()))
        .collect()
}

fn only_sheet(bytes: &[u8]) -> Sheet {
    let mut workbook = read_workbook(bytes).expect("readable");
    assert_eq!(workbook.sheets.len(), 1, "expected one sheet");
    workbook.sheets.remove(0)
}

fn xlsx_bytes(build: impl FnOnce(&mut rust_xlsxwriter::Workbook)) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    build(&mut workbook);
    workbook.save_to_buffer().expect("in-memory xlsx")
}

/// A survey report as offices make them: a title merged across the top, data starting at
/// C3, a county merged down over its districts, blank rows, a formula, a date, Chinese.
fn survey_report_xlsx() -> Vec<u8> {
    xlsx_bytes(|workbook| {
        let plain = Format::new();
        let date = Format::new().set_num_format("yyyy-mm-dd");
        let date_time = Format::new().set_num_format("yyyy-mm-dd hh:mm");

        let sheet = workbook.add_worksheet();
        sheet.set_name("调查表").expect("name");
        // A title merged over C1:Z1, wider than the data (which ends at column H).
        sheet
            .merge_range(0, 2, 0, 25, "潜力调查", &plain)
            .expect("merge");
        for (column, header) in ["代码", "名称", "数量", "比例", "日期", "合计"]
            .iter()
            .enumerate()
        {
            sheet
                .write_string(2, 2 + column as u16, *header)
                .expect("header");
        }
        sheet.write_string(3, 2, "340104").expect("code");
        sheet.write_string(3, 3, "蜀山区").expect("name");
        sheet.write_number(3, 4, 3.0).expect("integer-valued float");
        sheet.write_number(3, 5, 2.5).expect("fraction");
        let may_day = XlsxDateTime::from_ymd(2024, 5, 1).expect("date");
        sheet
            .write_datetime_with_format(3, 6, &may_day, &date)
            .expect("date cell");
        sheet
            .write_formula(3, 7, Formula::new("=E4*2").set_result("6"))
            .expect("formula");
        // Rows 5 and 6 stay blank; C7:C8 is one merged county cell.
        sheet
            .merge_range(6, 2, 7, 2, "合肥市", &plain)
            .expect("merge");
        sheet.write_string(6, 3, "  padded  ").expect("padded");
        sheet.write_boolean(6, 4, true).expect("bool");
        sheet.write_number(6, 5, 0.1 + 0.2).expect("noisy float");
        let morning = may_day.and_hms(8, 30, 0).expect("time");
        sheet
            .write_datetime_with_format(6, 6, &morning, &date_time)
            .expect("datetime cell");
        sheet.write_string(7, 3, "包河区").expect("name");
        // A cell with only spaces is blank, so row 10 is skipped.
        sheet.write_string(9, 4, "   ").expect("spaces");
        // Merged down far past the last row of data: clipped to the used rows.
        sheet
            .merge_range(10, 1, 500, 1, "竖排", &plain)
            .expect("merge");

        let second = workbook.add_worksheet();
        second.set_name("Second").expect("name");
        second.write_string(0, 0, "x").expect("cell");
        second.write_number(1, 0, -4.0).expect("negative");

        let hidden = workbook.add_worksheet();
        hidden.set_name("lists").expect("name");
        hidden.write_string(0, 0, "下拉").expect("cell");
        hidden.set_hidden(true);
    })
}

#[test]
fn xlsx_rows_keep_excel_numbering_and_display_text() {
    let workbook = read_workbook(&survey_report_xlsx()).expect("readable");
    let names: Vec<(&str, bool)> = workbook
        .sheets
        .iter()
        .map(|sheet| (sheet.name.as_str(), sheet.hidden))
        .collect();
    assert_eq!(
        names,
        vec![("调查表", false), ("Second", false), ("lists", true)]
    );

    let title = "潜力调查";
    assert_eq!(
        rows_of(&workbook.sheets[0]),
        vec![
            // The merged title is copied over C1:H1 only, the columns the data uses.
            (1, vec!["", "", title, title, title, title, title, title]),
            (
                3,
                vec!["", "", "代码", "名称", "数量", "比例", "日期", "合计"]
            ),
            (
                4,
                vec!["", "", "340104", "蜀山区", "3", "2.5", "2024-05-01", "6"]
            ),
            (
                7,
                vec![
                    "",
                    "",
                    "合肥市",
                    "padded",
                    "true",
                    "0.3",
                    "2024-05-01 08:30:00"
                ]
            ),
            (8, vec!["", "", "合肥市", "包河区"]),
            (11, vec!["", "竖排"]),
        ]
    );
    assert_eq!(
        rows_of(&workbook.sheets[1]),
        vec![(1, vec!["x"]), (2, vec!["-4"])]
    );
    assert_eq!(rows_of(&workbook.sheets[2]), vec![(1, vec!["下拉"])]);

    let report = &workbook.sheets[0];
    assert_eq!(report.row(4).map(|row| row.cell(3)), Some("蜀山区"));
    assert_eq!(report.row(4).map(|row| row.cell(99)), Some(""));
    assert_eq!(report.row(5), None, "blank rows are not kept");
}

#[test]
fn error_cells_beyond_those_listed_are_counted_in_the_message() {
    let bytes = xlsx_bytes(|workbook| {
        let sheet = workbook.add_worksheet();
        sheet.write_string(0, 0, "ratio").expect("header");
        for row in 1..=1_005 {
            sheet
                .write_formula(row, 0, Formula::new("=1/0").set_result("#DIV/0!"))
                .expect("formula");
        }
    });
    let sheet = only_sheet(&bytes);
    assert_eq!(
        sheet.cell_errors.len(),
        1_000,
        "the first thousand are kept"
    );
    assert_eq!(sheet.unlisted_cell_errors, 5, "the rest are counted");
    let error = sheet.refuse_cell_errors().expect_err("refused");
    let message = error.to_string();
    assert!(
        message.starts_with("1005 cell(s) hold an Excel error"),
        "{message}"
    );
    assert!(message.ends_with("; and 995 more"), "{message}");
    assert!(error.zh().starts_with("1005 个单元格"), "{}", error.zh());
}

#[test]
fn cells_holding_excel_errors_are_all_reported_with_their_place() {
    let bytes = xlsx_bytes(|workbook| {
        let sheet = workbook.add_worksheet();
        sheet.set_name("错误").expect("name");
        sheet.write_string(0, 0, "ratio").expect("header");
        sheet
            .write_formula(1, 1, Formula::new("=1/0").set_result("#DIV/0!"))
            .expect("formula");
        sheet
            .write_formula(4, 27, Formula::new("=NA()").set_result("#N/A"))
            .expect("formula");
    });
    // The sheet reads; its error cells are kept apart, for the importer of that sheet to
    // refuse.
    let sheet = only_sheet(&bytes);
    let cells = sheet.cell_errors.clone();
    assert_eq!(
        sheet.refuse_cell_errors(),
        Err(SheetError::CellErrors {
            cells: cells.clone(),
            unlisted: 0
        })
    );
    let found: Vec<(&str, u32, usize, &str)> = cells
        .iter()
        .map(|c| (c.sheet.as_str(), c.row, c.column, c.error.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![("错误", 2, 1, "#DIV/0!"), ("错误", 5, 27, "#N/A")]
    );
    assert_eq!(
        cells[0].to_string(),
        "sheet \"错误\", row 2, column B: the cell holds #DIV/0!"
    );
    let message = SheetError::CellErrors { cells, unlisted: 0 }.to_string();
    assert!(
        message.starts_with("2 cell(s) hold an Excel error"),
        "{message}"
    );
    assert!(
        message.contains("row 5, column AB: the cell holds #N/A"),
        "{message}"
    );
}

#[test]
fn a_stray_cell_at_the_last_excel_cell_does_not_allocate_the_whole_sheet() {
    let bytes = xlsx_bytes(|workbook| {
        let sheet = workbook.add_worksheet();
        sheet.write_string(0, 0, "first").expect("cell");
        sheet.write_string(1_048_575, 16_383, "last").expect("cell");
    });
    let sheet = only_sheet(&bytes);
    assert_eq!(sheet.rows.len(), 2);
    assert_eq!(sheet.rows[1].number, 1_048_576);
    assert_eq!(sheet.rows[1].cells.len(), 16_384);
    assert_eq!(sheet.rows[1].cell(16_383), "last");

    let narrow = ReadLimits {
        max_columns: 100,
        ..ReadLimits::default()
    };
    assert_eq!(
        read_workbook_with_limits(&bytes, &narrow),
        Err(SheetError::TooLarge {
            sheet: "Sheet1".to_owned(),
            limit: SizeLimit::Columns(100),
        })
    );
}

#[test]
fn xlsx_limits_refuse_oversized_workbooks() {
    let bytes = xlsx_bytes(|workbook| {
        let sheet = workbook.add_worksheet();
        for row in 0..10 {
            sheet.write_number(row, 0, f64::from(row)).expect("cell");
            sheet.write_string(row, 1, "x".repeat(200)).expect("cell");
        }
        sheet
            .merge_range(20, 0, 20, 1, "merged", &Format::new())
            .expect("merge");
    });
    let cases = [
        (
            ReadLimits {
                max_rows_per_sheet: 5,
                ..ReadLimits::default()
            },
            SheetError::TooLarge {
                sheet: "Sheet1".to_owned(),
                limit: SizeLimit::Rows(5),
            },
        ),
        (
            ReadLimits {
                max_cells: 12,
                ..ReadLimits::default()
            },
            SheetError::WorkbookTooLarge {
                limit: SizeLimit::Cells(12),
            },
        ),
        (
            ReadLimits {
                max_uncompressed_bytes: 1000,
                ..ReadLimits::default()
            },
            SheetError::WorkbookTooLarge {
                limit: SizeLimit::UncompressedBytes(1000),
            },
        ),
    ];
    for (limits, expected) in cases {
        assert_eq!(read_workbook_with_limits(&bytes, &limits), Err(expected));
    }
    // The merged pair fills two cells; 22 cells fit exactly, 21 do not.
    let exact = ReadLimits {
        max_cells: 22,
        ..ReadLimits::default()
    };
    assert!(read_workbook_with_limits(&bytes, &exact).is_ok());
    let one_short = ReadLimits {
        max_cells: 21,
        ..ReadLimits::default()
    };
    assert!(read_workbook_with_limits(&bytes, &one_short).is_err());
}

#[test]
fn an_xlsx_with_no_data_is_empty() {
    let bytes = xlsx_bytes(|workbook| {
        workbook
            .add_worksheet()
            .write_string(3, 3, "  ")
            .expect("cell");
    });
    assert_eq!(read_workbook(&bytes), Err(SheetError::EmptyFile));
}

#[test]
fn csv_in_every_encoding_offices_save() {
    let text = "代码,名称,数量\n340104,蜀山区,3\n";
    let expected = vec![
        (1, vec!["代码", "名称", "数量"]),
        (2, vec!["340104", "蜀山区", "3"]),
    ];
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
    let (gb18030, _, unmappable) = encoding_rs::GB18030.encode(text);
    assert!(!unmappable);
    let crlf = text.replace('\n', "\r\n");
    for bytes in [text.as_bytes(), &with_bom, &gb18030, crlf.as_bytes()] {
        let sheet = only_sheet(bytes);
        assert_eq!(sheet.name, CSV_SHEET_NAME);
        assert_eq!(rows_of(&sheet), expected);
    }
}

#[test]
fn csv_rows_are_numbered_by_the_line_where_the_record_starts() {
    let text = "name,note,\n\
                \"two\nlines\",x\n\
                \n\
                \x20 , ,\n\
                \x20 padded ,\"quoted, comma\",,\n\
                short";
    let expected = vec![
        (1, vec!["name", "note"]),
        (2, vec!["two\nlines", "x"]),
        (6, vec!["padded", "quoted, comma"]),
        (7, vec!["short"]),
    ];
    // Excel on Windows ends lines with CRLF, old Mac files with CR alone.
    for line_end in ["\n", "\r\n", "\r"] {
        let bytes = text.replace('\n', line_end);
        assert_eq!(
            rows_of(&only_sheet(bytes.as_bytes())),
            expected,
            "{line_end:?}"
        );
    }
}

#[test]
fn broken_or_empty_csv_is_refused_with_a_reason() {
    let runaway = format!("a,b\n\"{}\n", "x".repeat(MAX_CELL_CHARS + 1));
    let cases: Vec<(&[u8], SheetError)> = vec![
        (b"", SheetError::EmptyFile),
        (b" \n\r\n", SheetError::EmptyFile),
        (b"\n , ,\n,,\n", SheetError::EmptyFile),
        (b"\xEF\xBB\xBF", SheetError::EmptyFile),
        (
            b"a,b\nc,\xFF\xFF",
            SheetError::Encoding { line: 2, offset: 6 },
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(read_workbook(bytes), Err(expected), "{bytes:?}");
    }
    match read_workbook(runaway.as_bytes()) {
        Err(SheetError::BrokenCsv { line: 2, reason }) => {
            assert!(reason.contains("never closed"), "{reason}");
        }
        other => panic!("expected a broken CSV at line 2, got {other:?}"),
    }
}

#[test]
fn csv_limits_refuse_oversized_files() {
    let text = "a,b,c\nd,e,f\ng,h,i\n";
    let too_large = |limit| SheetError::TooLarge {
        sheet: CSV_SHEET_NAME.to_owned(),
        limit,
    };
    let cases = [
        (
            ReadLimits {
                max_rows_per_sheet: 2,
                ..ReadLimits::default()
            },
            too_large(SizeLimit::Rows(2)),
        ),
        (
            ReadLimits {
                max_columns: 2,
                ..ReadLimits::default()
            },
            too_large(SizeLimit::Columns(2)),
        ),
        (
            ReadLimits {
                max_cells: 8,
                ..ReadLimits::default()
            },
            SheetError::WorkbookTooLarge {
                limit: SizeLimit::Cells(8),
            },
        ),
    ];
    for (limits, expected) in cases {
        assert_eq!(
            read_workbook_with_limits(text.as_bytes(), &limits),
            Err(expected)
        );
    }
    let exact = ReadLimits {
        max_rows_per_sheet: 3,
        max_columns: 3,
        max_cells: 9,
        ..ReadLimits::default()
    };
    assert!(read_workbook_with_limits(text.as_bytes(), &exact).is_ok());
}

#[test]
fn format_is_detected_from_content_not_name() {
    let xlsx = survey_report_xlsx();
    let mut legacy_xls = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
    legacy_xls.extend_from_slice(&[0; 64]);
    legacy_xls.extend_from_slice(&utf16le("Workbook"));
    let mut encrypted = legacy_xls.clone();
    encrypted.extend_from_slice(&utf16le("EncryptionInfo"));
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(utf16le("a\tb\r\n"))
        .collect();

    type Case<'a> = (&'a [u8], Option<&'a str>, Result<SheetFormat, SheetError>);
    let cases: Vec<Case> = vec![
        (&xlsx, Some("report.xlsx"), Ok(SheetFormat::Xlsx)),
        (&xlsx, Some("report.csv"), Ok(SheetFormat::Xlsx)),
        (&xlsx, None, Ok(SheetFormat::Xlsx)),
        (&legacy_xls, Some("report.xls"), Err(SheetError::LegacyXls)),
        (&legacy_xls, Some("report.xlsx"), Err(SheetError::LegacyXls)),
        (&encrypted, Some("report.xlsx"), Err(SheetError::PasswordProtected)),
        (b"code,name\n34,Anhui\n", None, Ok(SheetFormat::Csv)),
        // Some systems export CSV under an .xls name; the content decides.
        (b"code,name\n34,Anhui\n", Some("export.XLS"), Ok(SheetFormat::Csv)),
        (&utf16, Some("report.txt"), Err(SheetError::Utf16Text)),
        (
            b"\xEF\xBB\xBF  <html><table><tr><td>1</td></tr></table></html>",
            Some("export.xls"),
            Err(SheetError::MarkupNotSpreadsheet),
        ),
        (
            b"<?xml version=\"1.0\"?>\n<Workbook xmlns=\"urn:schemas-microsoft-com:office:spreadsheet\">",
            Some("export.xls"),
            Err(SheetError::MarkupNotSpreadsheet),
        ),
        (b"", Some("report.csv"), Err(SheetError::EmptyFile)),
        (b" \r\n\t", None, Err(SheetError::EmptyFile)),
    ];
    for (bytes, name, expected) in cases {
        assert_eq!(
            SheetFormat::detect(bytes, name),
            expected,
            "{name:?} {:?}",
            &bytes[..bytes.len().min(16)]
        );
    }

    let refused_as_not_a_spreadsheet: Vec<(&[u8], Option<&str>)> = vec![
        (b"%PDF-1.7\n%\xE2\xE3\xCF\xD3", Some("report.xlsx")),
        (b"\x89PNG\r\n\x1A\n\0\0\0\rIHDR", None),
        (b"code\0name", None),
        (b"code,name\n34,Anhui\n", Some("report.xlsx")),
    ];
    for (bytes, name) in refused_as_not_a_spreadsheet {
        assert!(
            matches!(
                SheetFormat::detect(bytes, name),
                Err(SheetError::NotASpreadsheet { .. })
            ),
            "{name:?} {bytes:?}"
        );
    }
}

#[test]
fn broken_xlsx_is_refused_with_the_library_reason() {
    match read_workbook(b"PK\x03\x04 not really a zip") {
        Err(SheetError::BrokenXlsx { reason }) => assert!(!reason.is_empty()),
        other => panic!("expected a broken xlsx, got {other:?}"),
    }
}

#[test]
fn column_names_as_excel_shows_them() {
    let cases = [
        (0, "A"),
        (1, "B"),
        (25, "Z"),
        (26, "AA"),
        (27, "AB"),
        (51, "AZ"),
        (52, "BA"),
        (701, "ZZ"),
        (702, "AAA"),
        (16_383, "XFD"),
    ];
    for (index, name) in cases {
        assert_eq!(column_name(index), name, "{index}");
    }
}

#[test]
fn numbers_display_as_excel_general_format_shows_them() {
    let cases = [
        (1.0, "1"),
        (3.0, "3"),
        (2.5, "2.5"),
        (-4.0, "-4"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.3"),
        (1.0 / 3.0, "0.333333333333333"),
        (340_104_001_001.0, "340104001001"),
        (1e20, "100000000000000000000"),
        (0.000_125, "0.000125"),
        (f64::NAN, ""),
        (f64::INFINITY, ""),
    ];
    for (value, expected) in cases {
        assert_eq!(number_text(value), expected, "{value}");
    }
}

#[test]
fn dates_times_and_durations_display_as_iso() {
    use calamine::{ExcelDateTime, ExcelDateTimeType};
    let cases = [
        (45_413.0, ExcelDateTimeType::DateTime, "2024-05-01"),
        (
            45_943.541,
            ExcelDateTimeType::DateTime,
            "2025-10-13 12:59:02.400",
        ),
        (
            45_413.75,
            ExcelDateTimeType::DateTime,
            "2024-05-01 18:00:00",
        ),
        (0.5, ExcelDateTimeType::DateTime, "12:00:00"),
        (1.5, ExcelDateTimeType::TimeDelta, "36:00:00"),
        (-0.25, ExcelDateTimeType::TimeDelta, "-6:00:00"),
    ];
    for (serial, kind, expected) in cases {
        let datetime = ExcelDateTime::new(serial, kind, false);
        assert_eq!(datetime_text(&datetime), expected, "{serial}");
    }
    assert_eq!(iso_datetime_text("2024-05-01T00:00:00"), "2024-05-01");
    assert_eq!(
        iso_datetime_text("2024-05-01T08:30:00"),
        "2024-05-01 08:30:00"
    );
}

fn export_table() -> Table {
    Table {
        title: "人口/资源: 统计[2024]*?".to_owned(),
        headers: vec!["名称".into(), "数量".into(), "比例".into(), "备注".into()],
        rows: vec![
            vec![
                "蜀山区".into(),
                3_i64.into(),
                2.5.into(),
                "=HYPERLINK(\"x\")".into(),
            ],
            vec![
                "say \"hi\", twice".into(),
                TableCell::Number(3.0),
                TableCell::Empty,
                "-5".into(),
            ],
            vec![
                "line\nbreak".into(),
                TableCell::Integer(123_456_789_012_345_678),
                TableCell::Number(f64::NAN),
                "@SUM(A1)".into(),
            ],
            vec![
                " padded ".into(),
                TableCell::Number(-0.0),
                None::<i64>.into(),
                "+86 551".into(),
            ],
        ],
    }
}

#[test]
fn csv_export_has_a_bom_quotes_fields_and_defuses_formulas() {
    let bytes = write_csv(&export_table());
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "Excel needs the BOM");
    let text = std::str::from_utf8(&bytes).expect("utf-8");
    assert!(text.ends_with("\r\n"));

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|record| {
            record
                .expect("valid csv")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    assert_eq!(
        records,
        vec![
            vec!["名称", "数量", "比例", "备注"],
            vec!["蜀山区", "3", "2.5", "'=HYPERLINK(\"x\")"],
            vec!["say \"hi\", twice", "3", "", "'-5"],
            vec!["line\nbreak", "123456789012345678", "", "'@SUM(A1)"],
            vec![" padded ", "0", "", "'+86 551"],
        ]
    );
}

#[test]
fn csv_export_reads_back_through_the_importer() {
    let sheet = only_sheet(&write_csv(&export_table()));
    assert_eq!(
        sheet.rows.iter().map(|row| row.number).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 6],
        "the quoted line break makes record 4 span lines 4 and 5"
    );
    assert_eq!(
        sheet.rows[1].cells,
        vec!["蜀山区", "3", "2.5", "'=HYPERLINK(\"x\")"]
    );
}

#[test]
fn xlsx_export_round_trips_through_the_importer() {
    let template = Table {
        title: "人口/资源: 统计[2024]*?".to_owned(),
        headers: vec!["代码".into(), "名称".into()],
        rows: Vec::new(),
    };
    let history = Table {
        title: "history".to_owned(),
        headers: vec!["a".into()],
        rows: vec![vec![1_i64.into()]],
    };
    let bytes = write_xlsx(&[export_table(), template, history]).expect("written");
    assert_eq!(SheetFormat::detect(&bytes, None), Ok(SheetFormat::Xlsx));
    let workbook = read_workbook(&bytes).expect("readable");
    let names: Vec<&str> = workbook.sheets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "人口_资源_ 统计_2024___",
            "人口_资源_ 统计_2024___ (2)",
            "history_"
        ]
    );
    assert_eq!(
        rows_of(&workbook.sheets[0]),
        vec![
            (1, vec!["名称", "数量", "比例", "备注"]),
            // Text is stored as text in XLSX, so nothing needs defusing there.
            (2, vec!["蜀山区", "3", "2.5", "=HYPERLINK(\"x\")"]),
            (3, vec!["say \"hi\", twice", "3", "", "-5"]),
            // Beyond 15 digits an integer is kept as text so Excel cannot round it.
            (4, vec!["line\nbreak", "123456789012345678", "", "@SUM(A1)"]),
            (5, vec!["padded", "0", "", "+86 551"]),
        ]
    );
    assert_eq!(
        rows_of(&workbook.sheets[1]),
        vec![(1, vec!["代码", "名称"])]
    );
    assert_eq!(
        rows_of(&workbook.sheets[2]),
        vec![(1, vec!["a"]), (2, vec!["1"])]
    );
}

#[test]
fn xlsx_export_stores_numbers_as_numbers() {
    use calamine::{Data, Reader, Xlsx};
    let bytes = write_xlsx(&[export_table()]).expect("written");
    let mut xlsx = Xlsx::new(Cursor::new(bytes.as_slice())).expect("readable");
    let range = xlsx
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("a range");
    assert_eq!(range.get_value((1, 1)), Some(&Data::Float(3.0)));
    assert_eq!(range.get_value((1, 2)), Some(&Data::Float(2.5)));
    assert_eq!(
        range.get_value((3, 1)),
        Some(&Data::String("123456789012345678".to_owned()))
    );
}

#[test]
fn sheet_names_follow_excel_rules() {
    let long = "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三";
    let cases = [
        ("Summary", "Summary"),
        ("  'quoted'  ", "quoted"),
        ("a/b\\c[d]e:f*g?h", "a_b_c_d_e_f_g_h"),
        ("", "Sheet"),
        ("''", "Sheet"),
        ("tab\there", "tab here"),
        ("HISTORY", "HISTORY_"),
        (
            long,
            "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一",
        ),
        // An emoji takes two UTF-16 units, as Excel counts.
        (
            "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
            "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
        ),
    ];
    for (title, expected) in cases {
        assert_eq!(sanitise_sheet_name(title), expected, "{title:?}");
        assert!(rust_xlsxwriter::utility::check_sheet_name(expected).is_ok());
    }
    let long_names = unique_sheet_names([long, long, "Summary", "summary", "SUMMARY"].into_iter());
    assert_eq!(
        long_names,
        vec![
            "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一",
            "一二三四五六七八九十一二三四五六七八九十一二三四五六七 (2)",
            "Summary",
            "summary (2)",
            "SUMMARY (3)",
        ]
    );
}

#[test]
fn tables_beyond_excel_limits_are_refused() {
    let too_wide = Table {
        title: "wide".to_owned(),
        headers: vec![String::new(); EXCEL_MAX_COLUMNS as usize + 1],
        rows: Vec::new(),
    };
    assert_eq!(
        write_xlsx(&[too_wide]),
        Err(SheetError::TooLarge {
            sheet: "wide".to_owned(),
            limit: SizeLimit::Columns(EXCEL_MAX_COLUMNS),
        })
    );
}

/// Garbage of every kind must come back as a refusal, never as a panic, and never through
/// the panic guard (which would hide a bug in this module or in calamine).
#[test]
fn garbage_and_damaged_files_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5EED_5EE7);
    let valid = survey_report_xlsx();
    let check = |bytes: &[u8]| {
        if let Err(SheetError::BrokenXlsx { reason }) = read_workbook(bytes) {
            assert_ne!(
                reason,
                PANIC_REASON,
                "a panic was caught on {} bytes starting {:?}",
                bytes.len(),
                &bytes[..bytes.len().min(16)]
            );
        }
    };

    for round in 0..400 {
        let length = rng.random_range(0..600);
        let prefix: &[u8] = match round % 4 {
            0 => b"PK\x03\x04",
            1 => b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
            2 => b"a,\"b\n",
            _ => b"",
        };
        let mut bytes = prefix.to_vec();
        bytes.extend((0..length).map(|_| rng.random::<u8>()));
        check(&bytes);
    }

    // Every cut of a valid workbook, at a stride that hits the central directory, the
    // local headers and the compressed streams.
    for cut in (0..valid.len()).step_by(37) {
        check(&valid[..cut]);
    }

    // Bytes flipped inside a valid workbook: most land in compressed data (caught by the
    // CRC), some in headers and in the central directory near the end.
    for _ in 0..300 {
        let mut damaged = valid.clone();
        for _ in 0..rng.random_range(1..4) {
            let at = if rng.random_bool(0.5) {
                rng.random_range(0..damaged.len())
            } else {
                rng.random_range(damaged.len().saturating_sub(400)..damaged.len())
            };
            damaged[at] = rng.random();
        }
        check(&damaged);
    }
}

#[test]
fn a_row_after_blank_lines_keeps_its_own_line_number() {
    for text in ["a,b\n\nc,d\n", "a,b\r\n\r\nc,d\r\n", "a,b\n\n\n\nc,d"] {
        let book = read_workbook(text.as_bytes()).expect("reads");
        let numbers: Vec<u32> = book.sheets[0].rows.iter().map(|r| r.number).collect();
        let expected = if text.contains("\n\n\n") {
            vec![1, 5]
        } else {
            vec![1, 3]
        };
        assert_eq!(numbers, expected, "{text:?}");
    }
}

/// The workbook with one part's text changed, as someone forging a file would: every part
/// is stored again uncompressed.
fn with_part_edited(bytes: &[u8], part: &str, edit: impl Fn(&str) -> String) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).expect("entry");
        let name = entry.name().expect("name").into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("read");
        if name == part {
            content = edit(std::str::from_utf8(&content).expect("utf-8")).into_bytes();
        }
        out.start_file(name, options).expect("start");
        out.write_all(&content).expect("write");
    }
    out.finish().expect("finish").into_inner()
}

#[test]
fn a_forged_shared_string_count_is_refused_before_anything_is_reserved() {
    let bytes = xlsx_bytes(|workbook| {
        let sheet = workbook.add_worksheet();
        sheet.write_string(0, 0, "type_code").expect("cell");
    });
    let count_set_to = |count: &str| {
        with_part_edited(&bytes, "xl/sharedStrings.xml", |xml| {
            let key = "uniqueCount=\"";
            let at = xml.find(key).expect("a count") + key.len();
            let end = at + xml[at..].find('"').expect("its closing quote");
            format!("{}{count}{}", &xml[..at], &xml[end..])
        })
    };
    // A kilobyte that claims ten trillion texts: calamine would reserve hundreds of
    // terabytes for them, and the failed allocation would abort the whole server.
    match read_workbook(&count_set_to("10000000000000")) {
        Err(SheetError::WorkbookTooLarge {
            limit: SizeLimit::SharedStrings(most),
        }) => assert_eq!(most, ReadLimits::default().max_cells),
        other => panic!("expected the count refused, got {other:?}"),
    }
    // The count it really has reads as before, and so does a count of references that
    // some writers put there, larger than the table.
    for count in ["1", "5000"] {
        let sheet = only_sheet(&count_set_to(count));
        assert_eq!(rows_of(&sheet), vec![(1, vec!["type_code"])]);
    }
}

#[test]
fn cell_text_is_counted_each_time_a_cell_holds_it() {
    let text = "长".repeat(100);
    let limits = |max_text_bytes| ReadLimits {
        max_text_bytes,
        ..ReadLimits::default()
    };
    // One shared string shown in ten cells is held ten times: 3,000 bytes.
    let shared = xlsx_bytes(|workbook| {
        let sheet = workbook.add_worksheet();
        for row in 0..10 {
            sheet.write_string(row, 0, &text).expect("cell");
        }
    });
    assert!(read_workbook_with_limits(&shared, &limits(3000)).is_ok());
    assert_eq!(
        read_workbook_with_limits(&shared, &limits(2999)),
        Err(SheetError::WorkbookTooLarge {
            limit: SizeLimit::TextBytes(2999)
        })
    );
    // A merged area holds its text in every cell it covers: ten times, and the 3 of "end".
    let merged = xlsx_bytes(|workbook| {
        let sheet = workbook.add_worksheet();
        sheet
            .merge_range(0, 0, 9, 0, &text, &Format::new())
            .expect("merge");
        sheet.write_string(9, 1, "end").expect("cell");
    });
    assert!(read_workbook_with_limits(&merged, &limits(3003)).is_ok());
    assert!(read_workbook_with_limits(&merged, &limits(3002)).is_err());
}

#[test]
fn a_cell_longer_than_excel_allows_is_refused_at_its_place() {
    let bytes = xlsx_bytes(|workbook| {
        let sheet = workbook.add_worksheet();
        sheet.set_name("记录").expect("name");
        sheet.write_string(0, 0, "type_code").expect("cell");
        sheet.write_string(2, 3, "LONGMARK").expect("cell");
    });
    let with_text = |chars: usize| {
        with_part_edited(&bytes, "xl/sharedStrings.xml", |xml| {
            xml.replace("LONGMARK", &"长".repeat(chars))
        })
    };
    let error = read_workbook(&with_text(MAX_CELL_CHARS + 1)).expect_err("refused");
    assert_eq!(
        error,
        SheetError::CellTooLong {
            sheet: "记录".into(),
            row: 3,
            column: "D".into(),
            chars: MAX_CELL_CHARS + 1,
        }
    );
    assert!(error.to_string().contains("row 3, column D"), "{error}");
    assert!(error.zh().contains("第 3 行 D 列"), "{}", error.zh());
    let sheet = only_sheet(&with_text(MAX_CELL_CHARS));
    assert_eq!(sheet.rows[1].cell(3).chars().count(), MAX_CELL_CHARS);
}

#[test]
fn a_workbook_listing_too_many_sheets_is_refused_before_they_are_read() {
    let bytes = xlsx_bytes(|workbook| {
        let sheet = workbook.add_worksheet();
        sheet.write_string(0, 0, "type_code").expect("cell");
    });
    let listing = |extra: usize| {
        with_part_edited(&bytes, "xl/workbook.xml", |xml| {
            let more: String = (0..extra)
                .map(|i| format!("<sheet name=\"S{i}\" sheetId=\"{}\" r:id=\"rId1\"/>", i + 2))
                .collect();
            xml.replace("</sheets>", &format!("{more}</sheets>"))
        })
    };
    assert_eq!(
        read_workbook(&listing(300)),
        Err(SheetError::WorkbookTooLarge {
            limit: SizeLimit::Sheets(MAX_SHEETS)
        })
    );
    // Within the limit, every listed sheet is read (here all the same part).
    let workbook = read_workbook(&listing(3)).expect("reads");
    assert_eq!(workbook.sheets.len(), 4);
}

#[test]
fn text_longer_than_a_cell_is_cut_to_excels_limit_in_xlsx() {
    let long = "交接物资".repeat(10_000);
    let exact = "x".repeat(MAX_CELL_CHARS);
    let table = Table {
        title: "t".into(),
        headers: vec!["a".into(), "b".into()],
        rows: vec![vec![
            TableCell::Text(long.clone()),
            TableCell::Text(exact.clone()),
        ]],
    };
    let bytes = write_xlsx(std::slice::from_ref(&table)).expect("written");
    let sheet = only_sheet(&bytes);
    let cut = &sheet.rows[1].cells[0];
    assert_eq!(cut.chars().count(), MAX_CELL_CHARS);
    assert!(cut.ends_with('…'), "marked as cut");
    assert!(long.starts_with(cut.trim_end_matches('…')));
    assert_eq!(
        sheet.rows[1].cells[1], exact,
        "a cell at the limit is kept whole"
    );
}

#[test]
fn a_row_of_cells_reuses_the_last_rows_allocation() {
    let mut cells: Vec<&str> = Vec::with_capacity(64);
    cells.extend(["a", "b"]);
    let reused = super::reused(cells);
    assert!(reused.is_empty());
    assert!(reused.capacity() >= 64, "capacity {}", reused.capacity());
}

#[test]
fn merged_cells_are_found_in_any_encoding_even_split_between_two_reads() {
    let names = merge_cell_names();
    let text = "<worksheet><sheetData/><mergeCells><mergeCell ref=\"A1:B2\"/></mergeCells>";
    let utf16 =
        |bytes: fn(u16) -> [u8; 2]| -> Vec<u8> { text.encode_utf16().flat_map(bytes).collect() };
    for encoded in [
        text.as_bytes().to_vec(),
        utf16(u16::to_le_bytes),
        utf16(u16::to_be_bytes),
    ] {
        // Every way of cutting the text into reads of one size, the name straddling some.
        for chunk in 1..=encoded.len() + 1 {
            assert!(
                reads_bytes(&encoded[..], &names, chunk).expect("read"),
                "chunk {chunk}"
            );
        }
    }
    let without = "<worksheet><sheetData><row r=\"1\"><c r=\"A1\"><v>1</v></c></row></sheetData>";
    for encoded in [
        without.as_bytes().to_vec(),
        without.encode_utf16().flat_map(u16::to_le_bytes).collect(),
    ] {
        for chunk in 1..=encoded.len() + 1 {
            assert!(!reads_bytes(&encoded[..], &names, chunk).expect("read"));
        }
    }
}

#[test]
fn a_workbook_names_merged_cells_only_where_it_has_some() {
    let plain = xlsx_bytes(|workbook| {
        let sheet = workbook.add_worksheet();
        sheet.write_string(0, 0, "type_code").expect("cell");
        sheet.write_number(1, 0, 3.5).expect("cell");
    });
    assert!(!may_merge_cells(&plain).expect("a readable zip"));
    assert!(may_merge_cells(&survey_report_xlsx()).expect("a readable zip"));
    // The merged areas are read where there are some, and only there.
    let merged = read_workbook(&survey_report_xlsx()).expect("reads");
    assert!(
        merged.sheets[0]
            .rows
            .iter()
            .filter(|row| row.cells.iter().any(|c| c == "合肥市"))
            .count()
            > 1,
        "the county merged down fills every row it spans"
    );
}

proptest::proptest! {
    /// The short way to Excel's "General" text (the shortest text, when it has at most 15
    /// significant digits) gives what rounding every number to 15 digits gives.
    #[test]
    fn number_text_equals_rounding_to_fifteen_digits(
        value in proptest::prop_oneof![
            proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
            proptest::strategy::Strategy::prop_map(
                (-1_000_000i64..1_000_000, 0i32..8),
                |(n, places)| n as f64 / 10f64.powi(places),
            ),
            proptest::strategy::Strategy::prop_map(0.0f64..1.0, |x| x * 1e6),
        ]
    ) {
        let rounded: f64 = format!("{value:.14e}").parse().expect("reads back");
        proptest::prop_assert_eq!(number_text(value), exact_number_text(rounded));
    }
}
