//! PostgreSQL's COPY formats, for the bulk paths. The text format: tab-separated fields,
//! `\N` for NULL, and backslash, tab, newline and carriage return escaped. The binary format
//! (for potential records, the biggest load): each field its length and its bytes, numbers
//! in network byte order, so neither side formats or parses a number.

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

/// Builds binary COPY data (`COPY … FROM STDIN WITH (FORMAT binary)`) into a buffer. Each
/// value's Rust type must be the column's: `text` for TEXT, `bigint` for BIGINT, `double` for
/// DOUBLE PRECISION; the server reads the bytes as the column's type and would refuse, or
/// misread, any other.
pub(crate) struct BinaryCopy;

impl BinaryCopy {
    /// The signature, flags and header extension that open the data.
    pub(crate) fn header(buffer: &mut Vec<u8>) {
        buffer.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buffer.extend_from_slice(&0i32.to_be_bytes());
        buffer.extend_from_slice(&0i32.to_be_bytes());
    }

    /// Starts a row of `fields` values.
    pub(crate) fn row(buffer: &mut Vec<u8>, fields: i16) {
        buffer.extend_from_slice(&fields.to_be_bytes());
    }

    /// A text field holding `value` as JSON, written straight into the buffer (a million
    /// records' attributes each serialised to a string first was a tenth of encoding them);
    /// `{}` should it not serialise.
    pub(crate) fn json(buffer: &mut Vec<u8>, value: &impl serde::Serialize) {
        let start = buffer.len();
        buffer.extend_from_slice(&0i32.to_be_bytes());
        if serde_json::to_writer(&mut *buffer, value).is_err() {
            buffer.truncate(start + 4);
            buffer.extend_from_slice(b"{}");
        }
        let length = i32::try_from(buffer.len() - start - 4).unwrap_or(i32::MAX);
        if let Some(prefix) = buffer.get_mut(start..start + 4) {
            prefix.copy_from_slice(&length.to_be_bytes());
        }
    }

    pub(crate) fn text(buffer: &mut Vec<u8>, value: Option<&str>) {
        match value {
            None => Self::null(buffer),
            Some(value) => {
                // A field longer than 2 GiB is refused by the server anyway; saturate rather
                // than wrap so it is refused, not misread.
                let length = i32::try_from(value.len()).unwrap_or(i32::MAX);
                buffer.extend_from_slice(&length.to_be_bytes());
                buffer.extend_from_slice(value.as_bytes());
            }
        }
    }

    pub(crate) fn bigint(buffer: &mut Vec<u8>, value: Option<i64>) {
        match value {
            None => Self::null(buffer),
            Some(value) => {
                buffer.extend_from_slice(&8i32.to_be_bytes());
                buffer.extend_from_slice(&value.to_be_bytes());
            }
        }
    }

    pub(crate) fn double(buffer: &mut Vec<u8>, value: Option<f64>) {
        match value {
            None => Self::null(buffer),
            Some(value) => {
                buffer.extend_from_slice(&8i32.to_be_bytes());
                buffer.extend_from_slice(&value.to_bits().to_be_bytes());
            }
        }
    }

    fn null(buffer: &mut Vec<u8>) {
        buffer.extend_from_slice(&(-1i32).to_be_bytes());
    }

    /// The trailer that ends the data.
    pub(crate) fn trailer(buffer: &mut Vec<u8>) {
        buffer.extend_from_slice(&(-1i16).to_be_bytes());
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

    #[test]
    fn binary_fields_are_lengths_and_network_order_bytes() {
        let mut buffer = Vec::new();
        BinaryCopy::header(&mut buffer);
        BinaryCopy::row(&mut buffer, 4);
        BinaryCopy::text(&mut buffer, Some("安"));
        BinaryCopy::text(&mut buffer, None);
        BinaryCopy::bigint(&mut buffer, Some(-2));
        BinaryCopy::double(&mut buffer, Some(1.5));
        BinaryCopy::trailer(&mut buffer);
        let mut expected: Vec<u8> = b"PGCOPY\n\xff\r\n\0".to_vec();
        expected.extend([0, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend([0, 4]);
        expected.extend([0, 0, 0, 3, 0xe5, 0xae, 0x89]);
        expected.extend([0xff, 0xff, 0xff, 0xff]);
        expected.extend([0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        expected.extend([0, 0, 0, 8, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
        expected.extend([0xff, 0xff]);
        assert_eq!(buffer, expected);
    }

    #[test]
    fn a_json_field_is_the_text_field_of_its_serialisation() {
        let value: std::collections::BTreeMap<&str, serde_json::Value> = [
            ("beds", serde_json::json!(120)),
            ("名称", serde_json::json!("第一 \"医院\"")),
        ]
        .into_iter()
        .collect();
        let mut written = vec![7];
        BinaryCopy::json(&mut written, &value);
        let mut expected = vec![7];
        let text = serde_json::to_string(&value).expect("a map serialises");
        BinaryCopy::text(&mut expected, Some(&text));
        assert_eq!(written, expected);
    }
}
