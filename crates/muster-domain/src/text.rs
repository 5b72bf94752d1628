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
    "the file is neither UTF-8 nor GB18030/GBK text (first undecodable byte at offset {offset})"
)]
pub struct UndecodableText {
    pub offset: usize,
}

impl UndecodableText {
    /// The error in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        format!(
            "文件既不是 UTF-8 也不是 GB18030/GBK 编码的文本（第一个无法解码的字节位于偏移量 {}）",
            self.offset
        )
    }
}

/// Decodes `bytes` to text, stripping a UTF-8 BOM. Valid UTF-8 is taken as UTF-8 (without
/// copying); anything else is tried as GB18030, a superset of GBK and GB2312.
pub fn decode_text(bytes: &[u8]) -> Result<(Cow<'_, str>, TextEncoding), UndecodableText> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((Cow::Borrowed(text), TextEncoding::Utf8)),
        Err(utf8_error) => {
            let (text, had_errors) = encoding_rs::GB18030
                .decode_without_bom_handling_and_without_replacement(bytes)
                .map_or((Cow::Borrowed(""), true), |t| (t, false));
            if had_errors {
                Err(UndecodableText {
                    offset: utf8_error.valid_up_to(),
                })
            } else {
                Ok((Cow::Owned(text.into_owned()), TextEncoding::Gb18030))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
