//! PostgreSQL's COPY text format, for the bulk paths: tab-separated fields, `\N` for NULL,
//! and backslash, tab, newline and carriage return escaped.

use std::fmt::Write;

/// Builds COPY rows into a buffer that the caller sends in chunks.
pub(crate) struct CopyRow<'a> {
    buffer: &'a mut String,
    first: bool,
}

impl<'a> CopyRow<'a> {
    pub(crate) fn new(buffer: &'a mut String) -> Self {
        Self {
            buffer,
            first: true,
        }
    }

    fn separator(&mut self) {
        if !self.first {
            self.buffer.push('\t');
        }
        self.first = false;
    }

    pub(crate) fn text(&mut self, value: Option<&str>) -> &mut Self {
        self.separator();
        match value {
            None => self.buffer.push_str("\\N"),
            // Most text has nothing to escape: copy it whole rather than char by char.
            Some(value)
                if !value
                    .bytes()
                    .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) =>
            {
                self.buffer.push_str(value);
            }
            Some(value) => {
                for ch in value.chars() {
                    match ch {
                        '\\' => self.buffer.push_str("\\\\"),
                        '\t' => self.buffer.push_str("\\t"),
                        '\n' => self.buffer.push_str("\\n"),
                        '\r' => self.buffer.push_str("\\r"),
                        _ => self.buffer.push(ch),
                    }
                }
            }
        }
        self
    }

    pub(crate) fn number(&mut self, value: Option<impl std::fmt::Display>) -> &mut Self {
        self.separator();
        match value {
            None => self.buffer.push_str("\\N"),
            Some(value) => {
                let _ = write!(self.buffer, "{value}");
            }
        }
        self
    }

    pub(crate) fn end(&mut self) {
        self.buffer.push('\n');
    }
}

/// Send the buffer to the server once it holds about this much.
pub(crate) const COPY_CHUNK_BYTES: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_only_where_it_must_be() {
        let mut buffer = String::new();
        CopyRow::new(&mut buffer)
            .text(Some("plain 安徽"))
            .text(None)
            .text(Some("tab\there\\ and\nnew\rline"))
            .number(Some(1.5))
            .number(None::<i64>)
            .end();
        assert_eq!(
            buffer,
            "plain 安徽\t\\N\ttab\\there\\\\ and\\nnew\\rline\t1.5\t\\N\n"
        );
    }
}
