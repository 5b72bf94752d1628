//! The UI's two languages. The locale is passed on every lookup; nothing process-wide is
//! ever switched, so concurrent requests in different languages never mix.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT_LANGUAGE;

/// The supported locales; the first is the default.
pub(crate) const LOCALES: [&str; 2] = ["zh-CN", "en"];
pub(crate) const LANGUAGE_COOKIE: &str = "muster_lang";

/// A supported locale name, or None.
pub(crate) fn supported(locale: &str) -> Option<&'static str> {
    LOCALES
        .iter()
        .copied()
        .find(|l| l.eq_ignore_ascii_case(locale))
}

/// The user's preference, then the language cookie, then `Accept-Language` (by quality),
/// then Chinese.
pub(crate) fn negotiate(
    preference: Option<&str>,
    cookie: Option<&str>,
    headers: &HeaderMap,
) -> &'static str {
    if let Some(locale) = preference
        .and_then(supported)
        .or_else(|| cookie.and_then(supported))
    {
        return locale;
    }
    let header = headers
        .get(ACCEPT_LANGUAGE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let mut ranges: Vec<(f32, &str)> = header
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next()?.trim();
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((quality, tag))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges
        .into_iter()
        .find_map(|(_, tag)| {
            let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            match primary.as_str() {
                "zh" => Some("zh-CN"),
                "en" => Some("en"),
                _ => None,
            }
        })
        .unwrap_or(LOCALES[0])
}

/// Translations for one locale, handed to templates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tr {
    pub locale: &'static str,
}

impl Tr {
    pub fn t(&self, key: &str) -> String {
        rust_i18n::t!(key, locale = self.locale).into_owned()
    }

    /// The other language, for the switch in the header.
    pub fn other_locale(&self) -> &'static str {
        if self.locale == "en" { "zh-CN" } else { "en" }
    }

    pub fn other_language_name(&self) -> &'static str {
        if self.locale == "en" {
            "中文"
        } else {
            "English"
        }
    }

    pub fn html_lang(&self) -> &'static str {
        self.locale
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn keys(value: &serde_yaml_ng::Value, prefix: &str, out: &mut BTreeSet<String>) {
        if let serde_yaml_ng::Value::Mapping(map) = value {
            for (k, v) in map {
                let key = format!("{prefix}{}", k.as_str().unwrap_or(""));
                if v.is_mapping() {
                    keys(v, &format!("{key}."), out);
                } else {
                    out.insert(key);
                }
            }
        }
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        let parse = |text: &str| {
            let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("valid YAML");
            let mut out = BTreeSet::new();
            keys(&value, "", &mut out);
            out
        };
        let en = parse(include_str!("../locales/en.yml"));
        let zh = parse(include_str!("../locales/zh-CN.yml"));
        assert!(!en.is_empty());
        assert_eq!(
            en.symmetric_difference(&zh).collect::<Vec<_>>(),
            Vec::<&String>::new()
        );
    }

    #[test]
    fn every_key_resolves_in_both_languages() {
        for key in [
            "nav.regions",
            "level.village",
            "kind.member_unit",
            "role.grid_member",
        ] {
            assert_ne!(Tr { locale: "en" }.t(key), key);
            assert_ne!(Tr { locale: "zh-CN" }.t(key), key);
        }
        assert_eq!(Tr { locale: "zh-CN" }.t("nav.regions"), "行政区划");
    }

    /// Every literal key a template or a page asks for (`.t("…")`, `Message::Key("…")`)
    /// exists: a missing one would show the key itself to the reader.
    #[test]
    fn every_key_the_pages_use_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["templates", "src"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("the directory reads") {
                files.push(entry.expect("an entry").path());
            }
        }
        let mut checked = 0;
        for path in files.iter().filter(|p| p.is_file()) {
            let text = std::fs::read_to_string(path).expect("the file reads");
            for opener in [".t(\"", "Message::Key(\""] {
                for (at, _) in text.match_indices(opener) {
                    let rest = &text[at + opener.len()..];
                    let Some(end) = rest.find('"') else { continue };
                    let key = &rest[..end];
                    if !key.contains('.') || key.contains(['{', ' ']) {
                        continue;
                    }
                    for locale in LOCALES {
                        assert_ne!(
                            Tr { locale }.t(key),
                            key,
                            "{} asks for {key}, missing in {locale}",
                            path.display()
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(
            checked > 500,
            "only {checked} keys found: the scan is broken"
        );
    }

    #[test]
    fn negotiation_order() {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT_LANGUAGE,
            "fr;q=1, en-GB;q=0.8, zh;q=0.5".parse().expect("header"),
        );
        assert_eq!(negotiate(None, None, &headers), "en");
        assert_eq!(negotiate(None, Some("zh-CN"), &headers), "zh-CN");
        assert_eq!(negotiate(Some("en"), Some("zh-CN"), &headers), "en");
        assert_eq!(negotiate(Some("xx"), None, &HeaderMap::new()), "zh-CN");
    }
}
