//! Plain-text tables for the terminal, aligned even when cells hold Chinese text.

/// Rows of cells under a header, printed with two spaces between columns.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as lines of text; a row with fewer cells than the header is padded, and
    /// its last cell may run past the columns (for notes such as "skipped: …").
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| display_width(h)).collect();
        for row in &self.rows {
            // A short row's last cell is free text and does not widen its column.
            let measured = if row.len() < columns {
                row.len().saturating_sub(1)
            } else {
                row.len()
            };
            for (i, cell) in row.iter().take(measured.min(columns)).enumerate() {
                widths[i] = widths[i].max(display_width(cell));
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                let last = i + 1 == cells.len();
                if !last && i < widths.len() {
                    let pad = widths[i].saturating_sub(display_width(cell));
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.header);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule);
        for row in &self.rows {
            line(row);
        }
        out
    }
}

/// Columns a string takes in a terminal: East Asian wide characters take two.
pub fn display_width(text: &str) -> usize {
    text.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_with_wide_characters() {
        let mut table = Table::new(["user", "organization", "password"]);
        table.row(["admin", "演示省国防动员办公室", "muster-demo"]);
        table.row(["grid", "x", "muster-demo"]);
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        let column_of = |line: &str| {
            let at = line.find("muster-demo").expect("cell");
            display_width(&line[..at])
        };
        assert_eq!(column_of(lines[2]), column_of(lines[3]));
        assert_eq!(display_width("演示"), 4);
    }

    #[test]
    fn a_short_rows_last_cell_is_free_text() {
        let mut table = Table::new(["backend", "rows", "seconds"]);
        table.row(["sqlite", "10", "1.0"]);
        table.row(["postgres", "skipped: no server at 127.0.0.1:5432"]);
        let text = table.render();
        assert!(text.contains("postgres  skipped: no server"), "{text}");
        assert!(text.starts_with("backend   rows  seconds\n"), "{text}");
    }
}
