//! Decoding text files the way offices produce them: UTF-8 with or without a BOM, or
//! GB18030/GBK as Excel in Chinese saves CSV.

use std::borrow::Cow;

/// A message in the two languages of the pages: English for the API, the logs and the
/// English pages; Chinese for the Chinese pages. Shared by the importers.
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    pub en: String,
    pub zh: String,
}

impl Said {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self {
            en: en.into(),
            zh: zh.into(),
        }
    }
}

/// The encoding a file was found to be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Gb18030,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the file is neither UTF-8 nor GB18030/GBK text (first undecodable byte on line {line}, at byte offset {offset})"
)]
pub struct UndecodableText {
    /// 1-based, counting line feeds before the byte.
    pub line: usize,
    pub offset: usize,
}

impl UndecodableText {
    fn at(bytes: &[u8], offset: usize) -> Self {
        let before = bytes.get(..offset).unwrap_or(bytes);
        Self {
            line: before.iter().filter(|&&b| b == b'\n').count() + 1,
            offset,
        }
    }

    /// The error in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        format!(
            "文件既不是 UTF-8 也不是 GB18030/GBK 编码的文本（第一个无法解码的字节在第 {} 行，偏移量 {}）",
            self.line, self.offset
        )
    }
}

/// `text` without leading and trailing whitespace, exactly as [`str::trim`] gives it, but
/// with the common case answered from two bytes: a cell whose first and last bytes are
/// ASCII other than whitespace is returned as it is. An import trims each of a million
/// rows' forty-odd cells, mostly empty or already trimmed, and `str::trim`'s decoding of
/// characters at both ends was a seventh of reading and checking a file.
pub fn trim_cell(text: &str) -> &str {
    // The ASCII characters Unicode counts as White_Space (what `str::trim` removes): tab,
    // line feed, vertical tab, form feed, carriage return and space.
    let kept = |byte: u8| byte.is_ascii() && byte != b' ' && !(b'\t'..=b'\r').contains(&byte);
    match text.as_bytes() {
        [] => text,
        [first, .., last] if kept(*first) && kept(*last) => text,
        [only] if kept(*only) => text,
        _ => text.trim(),
    }
}

/// Decodes `bytes` to text, stripping a UTF-8 BOM. Valid UTF-8 is taken as UTF-8 (without
/// copying); anything else is tried as GB18030, a superset of GBK and GB2312.
///
/// When neither reads, the place named is the later of the two failures: in a GBK file
/// UTF-8 fails at its first Chinese character and GB18030 at the stray byte, in a UTF-8
/// file the other way round, and the stray byte is what the user must find.
pub fn decode_text(bytes: &[u8]) -> Result<(Cow<'_, str>, TextEncoding), UndecodableText> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((Cow::Borrowed(text), TextEncoding::Utf8)),
        Err(utf8_error) => match decode_gb18030(bytes) {
            Ok(text) => Ok((Cow::Owned(text), TextEncoding::Gb18030)),
            Err(gb_offset) => Err(UndecodableText::at(
                bytes,
                gb_offset.max(utf8_error.valid_up_to()),
            )),
        },
    }
}

/// `bytes` decoded as GB18030, or the offset of the first byte that does not decode.
fn decode_gb18030(bytes: &[u8]) -> Result<String, usize> {
    let mut decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len().saturating_mul(3));
    let mut out = vec![0u8; capacity.max(4)];
    let (result, read, written) = decoder.decode_to_utf8_without_replacement(bytes, &mut out, true);
    match result {
        encoding_rs::DecoderResult::InputEmpty => {
            out.truncate(written);
            // The decoder writes UTF-8 only; were it not to, the text is not known to read.
            String::from_utf8(out).map_err(|e| e.utf8_error().valid_up_to())
        }
        encoding_rs::DecoderResult::Malformed(bad, after) => Err(read
            .saturating_sub(usize::from(after))
            .saturating_sub(usize::from(bad))),
        // The output was sized for the whole input, so it cannot fill up; were it to, the
        // rest is unread and so not known to decode.
        encoding_rs::DecoderResult::OutputFull => Err(read),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn trim_cell_trims_as_str_trim_does(text in "[ \t\n\x0b\x0c\r\x1c\u{85}\u{a0}\u{3000}a-z中,]{0,6}") {
            proptest::prop_assert_eq!(trim_cell(&text), text.trim());
        }
    }

    #[test]
    fn trim_cell_keeps_what_has_nothing_to_trim_and_trims_the_rest() {
        for (text, trimmed) in [
            ("", ""),
            ("a", "a"),
            (" a", "a"),
            ("a\x0b", "a"),
            ("\u{3000}代码\u{a0}", "代码"),
            ("中", "中"),
            ("\x1c", "\x1c"),
            ("  ", ""),
        ] {
            assert_eq!(trim_cell(text), trimmed, "{text:?}");
        }
    }

    #[test]
    fn utf8_with_and_without_bom() {
        let (text, enc) = decode_text("\u{feff}代码,名称".as_bytes()).expect("utf8");
        assert_eq!((text.as_ref(), enc), ("代码,名称", TextEncoding::Utf8));
        let (text, enc) = decode_text(b"code,name").expect("utf8");
        assert_eq!((text.as_ref(), enc), ("code,name", TextEncoding::Utf8));
    }

    #[test]
    fn gbk_is_detected() {
        let (gbk, _, _) = encoding_rs::GBK.encode("安徽省,合肥市");
        let (text, enc) = decode_text(&gbk).expect("gbk");
        assert_eq!(
            (text.as_ref(), enc),
            ("安徽省,合肥市", TextEncoding::Gb18030)
        );
    }

    #[test]
    fn garbage_is_refused() {
        // 0xFF is never valid in UTF-8 nor as a GB18030 lead byte.
        assert!(decode_text(b"abc\xFF\xFF").is_err());
    }

    #[test]
    fn a_stray_byte_is_placed_where_it_is_in_either_encoding() {
        // A GBK file, Chinese from its first line, with one stray byte on its third line:
        // UTF-8 fails at the first Chinese byte, but the stray byte is what to look for.
        let (mut gbk, _, _) = encoding_rs::GBK.encode("名称,数量\n帐篷,3\n");
        let gbk = gbk.to_mut();
        let stray = gbk.len() + 2;
        gbk.extend_from_slice(b"ab\xFFc,4\n");
        assert_eq!(
            decode_text(gbk),
            Err(UndecodableText {
                line: 3,
                offset: stray
            })
        );
        // A UTF-8 file with a stray byte: the place UTF-8 fails.
        let mut utf8 = "名称,数量\n帐篷,3\n".as_bytes().to_vec();
        let stray = utf8.len() + 2;
        utf8.extend_from_slice(b"ab\xFFc,4\n");
        assert_eq!(
            decode_text(&utf8),
            Err(UndecodableText {
                line: 3,
                offset: stray
            })
        );
    }
}
