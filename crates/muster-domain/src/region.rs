//! The five-level region hierarchy: province → city → county → township → village.
//!
//! A region is identified by a hierarchical numeric code (`34` → `3401` → `340104` →
//! `340104001` → `340104001001`) and located in the tree by a materialised path
//! (`/34/3401/340104/`). "Everything in this subtree" is the half-open string range
//! `[path, path with its final '/' replaced by '0')`, which both SQLite and PostgreSQL
//! (with the C collation) answer as one range scan on a plain B-tree index.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The five levels of DOMAIN.md, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    Province,
    City,
    County,
    Township,
    Village,
}

impl RegionLevel {
    pub const ALL: [RegionLevel; 5] = [
        RegionLevel::Province,
        RegionLevel::City,
        RegionLevel::County,
        RegionLevel::Township,
        RegionLevel::Village,
    ];

    /// 1 for a province … 5 for a village.
    pub const fn depth(self) -> u8 {
        match self {
            RegionLevel::Province => 1,
            RegionLevel::City => 2,
            RegionLevel::County => 3,
            RegionLevel::Township => 4,
            RegionLevel::Village => 5,
        }
    }

    pub fn from_depth(depth: u8) -> Option<Self> {
        Self::ALL.get(usize::from(depth).checked_sub(1)?).copied()
    }

    /// The number of digits a code at this level has (2, 4, 6, 9, 12).
    pub const fn code_length(self) -> usize {
        match self {
            RegionLevel::Province => 2,
            RegionLevel::City => 4,
            RegionLevel::County => 6,
            RegionLevel::Township => 9,
            RegionLevel::Village => 12,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            RegionLevel::Province => "province",
            RegionLevel::City => "city",
            RegionLevel::County => "county",
            RegionLevel::Township => "township",
            RegionLevel::Village => "village",
        }
    }

    /// The level's Chinese name, as the pages say it.
    pub const fn name_zh(self) -> &'static str {
        match self {
            RegionLevel::Province => "省级",
            RegionLevel::City => "市级",
            RegionLevel::County => "县级",
            RegionLevel::Township => "乡镇级",
            RegionLevel::Village => "村级",
        }
    }

    /// Accepts the English name (`county`), the depth (`3`) or the Chinese name (`县`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(depth) = text.parse::<u8>() {
            return Self::from_depth(depth);
        }
        match text.to_ascii_lowercase().as_str() {
            "province" | "省" => Some(RegionLevel::Province),
            "city" | "市" => Some(RegionLevel::City),
            "county" | "district" | "县" | "区" => Some(RegionLevel::County),
            "township" | "street" | "乡" | "镇" | "街道" => Some(RegionLevel::Township),
            "village" | "community" | "村" | "社区" => Some(RegionLevel::Village),
            _ => None,
        }
    }

    pub fn child(self) -> Option<Self> {
        Self::from_depth(self.depth() + 1)
    }
}

impl fmt::Display for RegionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A region's code: 2 to 12 ASCII digits. The level is checked against the code's length
/// where the level is known ([`RegionCode::fits_level`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionCodeError {
    #[error("a region code must not be empty")]
    Empty,
    #[error("a region code has only the digits 0-9, found {0:?}")]
    NotDigits(String),
    #[error("a region code has 2, 4, 6, 9 or 12 digits, found {0}")]
    BadLength(usize),
}

impl RegionCodeError {
    /// The error in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        match self {
            RegionCodeError::Empty => "行政区划代码不能为空".into(),
            RegionCodeError::NotDigits(found) => {
                format!("行政区划代码只能由数字 0-9 组成，实为 {found:?}")
            }
            RegionCodeError::BadLength(found) => {
                format!("行政区划代码应为 2、4、6、9 或 12 位数字，实为 {found} 位")
            }
        }
    }
}

impl RegionCode {
    pub fn parse(text: &str) -> Result<Self, RegionCodeError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(RegionCodeError::Empty);
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RegionCodeError::NotDigits(text.to_owned()));
        }
        if !RegionLevel::ALL
            .iter()
            .any(|l| l.code_length() == text.len())
        {
            return Err(RegionCodeError::BadLength(text.len()));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The level a code of this length belongs to.
    pub fn implied_level(&self) -> RegionLevel {
        RegionLevel::ALL
            .into_iter()
            .find(|l| l.code_length() == self.0.len())
            .unwrap_or(RegionLevel::Village)
    }

    pub fn fits_level(&self, level: RegionLevel) -> bool {
        self.0.len() == level.code_length()
    }

    /// Whether `self` extends `parent` (a child's code starts with its parent's).
    pub fn extends(&self, parent: &RegionCode) -> bool {
        self.0.len() > parent.0.len() && self.0.starts_with(&parent.0)
    }
}

impl TryFrom<String> for RegionCode {
    type Error = RegionCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RegionCode> for String {
    fn from(code: RegionCode) -> Self {
        code.0
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The materialised path of a region, `/34/3401/340104/`, or `/` for the national root
/// that contains every region. Always starts and ends with `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegionPath(String);

impl RegionPath {
    /// The national root: every region is inside it.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The path of a code, from its prefixes at the code lengths of the levels above it.
    /// Valid because an import refuses a code that does not start with its parent's
    /// (`CodeNotUnderParent`), so a stored code always names its own ancestors.
    pub fn of_code(code: &RegionCode) -> Self {
        let text = code.as_str();
        let mut path = String::with_capacity(text.len() * 3);
        path.push('/');
        for level in RegionLevel::ALL {
            let length = level.code_length();
            if length > text.len() {
                break;
            }
            path.push_str(&text[..length]);
            path.push('/');
        }
        Self(path)
    }

    /// The path of a child `code` under this path.
    pub fn child(&self, code: &RegionCode) -> Self {
        let mut path = String::with_capacity(self.0.len() + code.as_str().len() + 1);
        path.push_str(&self.0);
        path.push_str(code.as_str());
        path.push('/');
        Self(path)
    }

    /// Rebuilds a path read back from storage. Refuses anything that is not `/`-delimited
    /// digit segments, so a corrupted row cannot widen a scope.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "/" {
            return Some(Self::root());
        }
        let inner = text.strip_prefix('/')?.strip_suffix('/')?;
        if !inner
            .split('/')
            .all(|seg| seg == seg.trim() && RegionCode::parse(seg).is_ok())
        {
            return None;
        }
        Some(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The codes along the path, top first.
    pub fn codes(&self) -> impl Iterator<Item = RegionCode> + '_ {
        self.0
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| RegionCode(s.to_owned()))
    }

    pub fn depth(&self) -> usize {
        self.codes().count()
    }

    /// Whether `other` lies in the subtree rooted at `self` (a path contains itself).
    pub fn contains(&self, other: &RegionPath) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The deepest path that contains both: where something that moved from one to the
    /// other is seen by everyone who saw either end.
    pub fn common_ancestor(&self, other: &RegionPath) -> RegionPath {
        let mut shared = RegionPath::root();
        for (mine, theirs) in self.codes().zip(other.codes()) {
            if mine != theirs {
                break;
            }
            shared = shared.child(&mine);
        }
        shared
    }

    /// The deepest path enclosing all of `paths` (the root when there are none), for the
    /// audit entry of a load. Narrowed as a prefix of the first path, byte by byte: a load
    /// runs it over every record, so it allocates nothing until the answer.
    pub fn deepest_enclosing<'a>(paths: impl IntoIterator<Item = &'a RegionPath>) -> RegionPath {
        let mut paths = paths.into_iter();
        let Some(first) = paths.next() else {
            return RegionPath::root();
        };
        let mut common = first.0.as_str();
        for path in paths {
            let same = common
                .bytes()
                .zip(path.0.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            // Back to the end of the last whole region code the two share.
            let whole = common
                .get(..same)
                .and_then(|shared| shared.rfind('/'))
                .map_or(0, |slash| slash + 1);
            common = common.get(..whole).unwrap_or_default();
        }
        RegionPath::parse(common).unwrap_or_else(RegionPath::root)
    }

    /// The half-open range `[low, high)` of paths in this subtree. `/` sorts before `0`, so
    /// replacing the trailing `/` by `0` gives the first string past every descendant.
    pub fn subtree_range(&self) -> (String, String) {
        let mut high = self.0.clone();
        high.pop();
        high.push('0');
        (self.0.clone(), high)
    }
}

impl fmt::Display for RegionPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deepest_enclosing_path_is_the_longest_run_of_whole_codes_shared() {
        let p = |text: &str| RegionPath::parse(text).expect("a path");
        let (a, b, c) = (p("/34/3401/340104/"), p("/34/3401/340105/"), p("/34/3402/"));
        assert_eq!(RegionPath::deepest_enclosing([&a, &b]), p("/34/3401/"));
        assert_eq!(RegionPath::deepest_enclosing([&a, &b, &c]), p("/34/"));
        assert_eq!(RegionPath::deepest_enclosing([&a, &a]), a);
        assert_eq!(RegionPath::deepest_enclosing([&a]), a);
        assert_eq!(RegionPath::deepest_enclosing([]), RegionPath::root());
        // Codes that share their first digits share nothing.
        assert_eq!(
            RegionPath::deepest_enclosing([&p("/34/3401/"), &p("/34/3411/")]),
            p("/34/")
        );
        assert_eq!(
            RegionPath::deepest_enclosing([&p("/34/"), &p("/35/")]),
            RegionPath::root()
        );
        assert_eq!(
            RegionPath::deepest_enclosing([&p("/34/3401/"), &p("/34/")]),
            p("/34/")
        );
        assert_eq!(
            RegionPath::deepest_enclosing([&a, &RegionPath::root()]),
            RegionPath::root()
        );
    }

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).expect("valid code")
    }

    #[test]
    fn codes_parse_by_length_and_digits() {
        let cases: &[(&str, Result<RegionLevel, RegionCodeError>)] = &[
            ("34", Ok(RegionLevel::Province)),
            ("3401", Ok(RegionLevel::City)),
            ("340104", Ok(RegionLevel::County)),
            ("340104001", Ok(RegionLevel::Township)),
            ("340104001001", Ok(RegionLevel::Village)),
            (" 3401 ", Ok(RegionLevel::City)),
            ("", Err(RegionCodeError::Empty)),
            ("34a1", Err(RegionCodeError::NotDigits("34a1".into()))),
            ("340", Err(RegionCodeError::BadLength(3))),
            ("3401040010011", Err(RegionCodeError::BadLength(13))),
        ];
        for (input, expected) in cases {
            let got = RegionCode::parse(input).map(|c| c.implied_level());
            assert_eq!(&got, expected, "input {input:?}");
        }
    }

    #[test]
    fn subtree_range_covers_descendants_only() {
        let county = RegionPath::root()
            .child(&code("34"))
            .child(&code("3401"))
            .child(&code("340104"));
        let (low, high) = county.subtree_range();
        let inside = county.child(&code("340104001"));
        let sibling = RegionPath::root()
            .child(&code("34"))
            .child(&code("3401"))
            .child(&code("340105"));
        let longer_sibling = RegionPath::parse("/34/3401/3401049/");
        assert!(low.as_str() <= inside.as_str() && inside.as_str() < high.as_str());
        assert!(low.as_str() <= county.as_str() && county.as_str() < high.as_str());
        assert!(!(low.as_str() <= sibling.as_str() && sibling.as_str() < high.as_str()));
        assert!(longer_sibling.is_none(), "7-digit codes are not codes");
        assert!(county.contains(&inside) && !county.contains(&sibling));
    }

    #[test]
    fn the_common_ancestor_is_the_deepest_shared_path() {
        let path = |text: &str| RegionPath::parse(text).expect("path");
        let cases = [
            ("/34/3401/340104/", "/34/3401/340105/", "/34/3401/"),
            ("/34/3401/340104/", "/34/3402/", "/34/"),
            ("/34/3401/", "/34/3401/340104/", "/34/3401/"),
            ("/34/3401/", "/34/3401/", "/34/3401/"),
            ("/34/", "/65/", "/"),
        ];
        for (a, b, shared) in cases {
            assert_eq!(path(a).common_ancestor(&path(b)), path(shared), "{a} {b}");
            assert_eq!(path(b).common_ancestor(&path(a)), path(shared), "{b} {a}");
        }
    }

    #[test]
    fn root_contains_everything() {
        let root = RegionPath::root();
        let (low, high) = root.subtree_range();
        assert_eq!((low.as_str(), high.as_str()), ("/", "0"));
        assert!(root.contains(&root.child(&code("65"))));
    }

    #[test]
    fn paths_from_storage_are_checked() {
        assert!(RegionPath::parse("/34/3401/").is_some());
        assert!(RegionPath::parse("/").is_some());
        for bad in ["", "34/", "/34", "/3x/", "//", "/34//3401/"] {
            assert!(RegionPath::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn levels_parse_in_both_languages() {
        assert_eq!(RegionLevel::parse("3"), Some(RegionLevel::County));
        assert_eq!(RegionLevel::parse("Township"), Some(RegionLevel::Township));
        assert_eq!(RegionLevel::parse("社区"), Some(RegionLevel::Village));
        assert_eq!(RegionLevel::parse("6"), None);
        assert_eq!(RegionLevel::parse("0"), None);
    }
}
