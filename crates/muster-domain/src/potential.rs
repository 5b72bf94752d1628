//! Potential records: what a region holds of each resource type, who holds it and where,
//! how good it is, and the roll-up deltas that keep subtree totals current.
//!
//! A record is one *holding*: a holder's stock of one resource type at one place. The
//! [`holding_key`] identifies it, so that the same holding reported twice — twice in one
//! file, or by two units — is caught instead of being counted twice in a total.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::organization::string_enum;
use crate::region::RegionPath;
use crate::taxonomy::AttributeValue;

pub mod import;
pub mod rollup;

string_enum! {
    /// Where a record stands in the mobilization workflow. Only `available` stock can be
    /// allocated; the others are held back or already spoken for.
    RecordStatus {
        Available => "available",
        Reserved => "reserved",
        Allocated => "allocated",
        Requisitioned => "requisitioned",
        Unavailable => "unavailable",
        HandedOver => "handed_over",
    }
}

string_enum! {
    /// The usual four-step grading of surveyed stock (优/良/中/差).
    QualityGrade {
        Excellent => "excellent",
        Good => "good",
        Fair => "fair",
        Poor => "poor",
    }
}

string_enum! {
    /// Places where potential is kept.
    SiteKind {
        Warehouse => "warehouse",
        ReserveDepot => "reserve_depot",
        Hospital => "hospital",
        Plant => "plant",
        Yard => "yard",
        Port => "port",
        Airfield => "airfield",
        Station => "station",
        Other => "other",
    }
}

string_enum! {
    HolderKind {
        Organization => "organization",
        Person => "person",
    }
}

impl RecordStatus {
    /// Whether a person may set this status by hand, and take a record out of it: the
    /// office's own holds (available, reserved, unavailable). Allocated, requisitioned and
    /// handed over follow a demand or a requisition order, which set and clear them with
    /// their reservations and compensation; set or cleared by hand they would disagree with
    /// the demand or the order.
    pub const fn is_set_by_hand(self) -> bool {
        matches!(
            self,
            RecordStatus::Available | RecordStatus::Reserved | RecordStatus::Unavailable
        )
    }

    /// Whether the record's quantity counts as available potential in the totals.
    pub const fn is_available(self) -> bool {
        matches!(self, RecordStatus::Available)
    }

    /// The status in Chinese, as the Chinese pages name it, for refusals said in Chinese.
    pub const fn zh(self) -> &'static str {
        match self {
            RecordStatus::Available => "可用",
            RecordStatus::Reserved => "已预留",
            RecordStatus::Allocated => "已调配",
            RecordStatus::Requisitioned => "已征用",
            RecordStatus::Unavailable => "不可用",
            RecordStatus::HandedOver => "已交接",
        }
    }
}

impl QualityGrade {
    /// Accepts the code, the English word in any case, or the Chinese grade.
    pub fn parse_label(text: &str) -> Option<Self> {
        let text = text.trim();
        Self::parse_any_case(text).or(match text {
            "优" | "优秀" => Some(Self::Excellent),
            "良" | "良好" => Some(Self::Good),
            "中" | "一般" => Some(Self::Fair),
            "差" | "较差" => Some(Self::Poor),
            _ => None,
        })
    }
}

impl HolderKind {
    pub fn parse_label(text: &str) -> Option<Self> {
        let text = text.trim();
        Self::parse_any_case(text).or(match text {
            "单位" | "企业" | "组织" | "org" => Some(Self::Organization),
            "个人" | "公民" => Some(Self::Person),
            _ => None,
        })
    }
}

/// Who holds a record. A person's identity number and phone are personal data: readers
/// whose roles do not allow that class see [`Holder::masked`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    Organization {
        /// Set when the holder is an organization registered in Muster.
        id: Option<i64>,
        name: String,
    },
    Person {
        name: String,
        id_number: Option<String>,
        phone: Option<String>,
    },
}

impl Holder {
    pub fn kind(&self) -> HolderKind {
        match self {
            Holder::Organization { .. } => HolderKind::Organization,
            Holder::Person { .. } => HolderKind::Person,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Holder::Organization { name, .. } | Holder::Person { name, .. } => name,
        }
    }

    /// A person with the personal data blanked out: the family name, then `*`; the first
    /// and last digits of the identity number; the first three and last four of the phone.
    /// Organizations are not personal data and come back unchanged.
    pub fn masked(&self) -> Holder {
        match self {
            Holder::Organization { .. } => self.clone(),
            Holder::Person {
                name,
                id_number,
                phone,
            } => Holder::Person {
                name: mask_keep(name, 1, 0),
                id_number: id_number.as_deref().map(|n| mask_keep(n, 4, 4)),
                phone: phone.as_deref().map(|p| mask_keep(p, 3, 4)),
            },
        }
    }

    /// Appends the part of the holding key that names the holder: `o:` and the
    /// organization's name, or `p:` and the person's identity number where they give one
    /// (names repeat), else their name; normalised.
    fn push_identity(&self, key: &mut String) {
        match self {
            Holder::Organization { name, .. } => {
                key.push_str("o:");
                push_normalized(key, name);
            }
            Holder::Person {
                name, id_number, ..
            } => {
                key.push_str("p:");
                match id_number
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                {
                    Some(number) => push_normalized(key, number),
                    None => push_normalized(key, name),
                }
            }
        }
    }
}

/// Keeps the first `head` and last `tail` characters and stars the rest; a value too short
/// to keep both is starred after its first character.
fn mask_keep(text: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= head + tail {
        let mut masked: String = chars.iter().take(1).collect();
        masked.extend(std::iter::repeat_n(
            '*',
            chars.len().saturating_sub(1).max(1),
        ));
        return masked;
    }
    let mut masked: String = chars[..head].iter().collect();
    masked.extend(std::iter::repeat_n('*', chars.len() - head - tail));
    masked.extend(&chars[chars.len() - tail..]);
    masked
}

/// Case, width and spacing do not make a different holding: `ＡＢＣ  Co.` and `abc co.` are
/// the same. `|` is the key's separator, so it is replaced.
fn normalize_key_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_normalized(&mut out, text);
    out
}

/// [`normalize_key_part`] appended to `out`, as a holding key is built in one buffer.
fn push_normalized(out: &mut String, text: &str) {
    let start = out.len();
    let mut pending_space = false;
    for ch in text.trim().chars() {
        let ch = match ch {
            // Full-width ASCII variants to ASCII.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(ch as u32 - 0xFEE0).unwrap_or(ch),
            '\u{3000}' => ' ',
            _ => ch,
        };
        if ch.is_whitespace() {
            pending_space = out.len() > start;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        match ch {
            '|' => out.push('/'),
            _ if ch.is_ascii() => out.push(ch.to_ascii_lowercase()),
            _ => out.extend(ch.to_lowercase()),
        }
    }
}

/// A name as the holding key compares it, with case, width and spacing folded: two sites
/// of one region whose names normalise alike are one site, and a record's site names a
/// stored site when both normalise alike.
pub fn normalize_name(text: &str) -> String {
    normalize_key_part(text)
}

/// The identity of a holding: `region path|type code|holder|site`. It begins with the
/// region path so that, in storage, its unique index is also the subtree range index.
pub fn holding_key(
    region_path: &RegionPath,
    type_code: &str,
    holder: &Holder,
    site: Option<&str>,
) -> String {
    let site = site.unwrap_or_default();
    // Room for nearly every key, not a bound: the holder part may be an 18-digit identity
    // number rather than the name, and normalising can lengthen a part.
    let holder_room = holder.name().len().max(18) + 2;
    let mut key = String::with_capacity(
        region_path.as_str().len() + type_code.len() + holder_room + site.len() + 3,
    );
    key.push_str(region_path.as_str());
    key.push('|');
    key.push_str(type_code);
    key.push('|');
    holder.push_identity(&mut key);
    key.push('|');
    push_normalized(&mut key, site);
    key
}

/// A holding key split into its region path and the holding itself (`type|holder|site`).
/// The path holds no `|` (it is region codes and `/`), so the first `|` ends it.
pub fn split_holding_key(key: &str) -> (&str, &str) {
    key.split_once('|').unwrap_or((key, ""))
}

/// Whether a holding is known well enough to be matched at another level than its own: an
/// organization's, or a person's given by an identity number. A person known only by name is
/// matched at their own region alone: names repeat, and the 张伟 a county reports is not the
/// 张伟 of each of its villages. (The key's holder part is `p:` and the normalised number or
/// name; a number is digits, with a final `x`, 15 or 18 long.)
pub fn matched_across_levels(holding: &str) -> bool {
    let holder = holding.split('|').nth(1).unwrap_or_default();
    match holder.strip_prefix("p:") {
        None => true,
        Some(rest) => {
            (rest.len() == 15 || rest.len() == 18)
                && rest
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| b.is_ascii_digit() || (b == b'x' && i + 1 == rest.len()))
        }
    }
}

/// Whether one of two region paths contains the other. A path ends in `/`, so one begins
/// the other exactly when its region contains the other's.
fn on_one_line(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Whether two holding keys name one holding: the same holder, type and site, at one region
/// or, where the holder is identified (see [`holding_keys_above`]), at two regions of which
/// one contains the other. A township's report of a company's trucks at a depot and the
/// village's report of the same trucks are one holding, counted once in the township's
/// total; namesakes in two sibling villages are two.
pub fn same_holding(a: &str, b: &str) -> bool {
    let (path_a, holding_a) = split_holding_key(a);
    let (path_b, holding_b) = split_holding_key(b);
    holding_a == holding_b
        && (path_a == path_b || (matched_across_levels(holding_a) && on_one_line(path_a, path_b)))
}

/// The keys the holding of `key` would have at each region above its own (not the root):
/// where a report of the same holding at a higher level would be registered. None for a
/// person known only by name, who is matched at their own region alone.
pub fn holding_keys_above(key: &str) -> Vec<String> {
    let (path, holding) = split_holding_key(key);
    if !matched_across_levels(holding) {
        return Vec::new();
    }
    path.char_indices()
        .filter(|&(i, c)| c == '/' && i > 0 && i + 1 < path.len())
        .map(|(i, _)| format!("{}|{holding}", &path[..=i]))
        .collect()
}

/// Rows of one report that name a holding an earlier row already names (as
/// [`same_holding`] compares them): each such row with the first earlier row it repeats, in
/// the order given.
pub fn repeated_across_levels<'k>(
    rows: impl IntoIterator<Item = (u32, &'k str)>,
) -> Vec<(u32, u32)> {
    let mut register = HoldingRegister::default();
    rows.into_iter()
        .filter_map(|(row, key)| {
            let repeat = register.register(row, key).err()?;
            Some((row, repeat.first_row))
        })
        .collect()
}

/// The holdings of one file or report seen so far, answering for each new one in a few hash
/// lookups whether it repeats an earlier one as [`same_holding`] compares them: at the same
/// region or, for a holder matched across levels, at a region above or below.
///
/// Written here rather than as pairwise comparisons because one holding can recur at many
/// regions (an organization's trucks with no site, in every village it serves): comparing
/// each new place with every earlier one would be quadratic in a million-row import.
#[derive(Debug, Default)]
pub struct HoldingRegister {
    /// By the holding part of the key (`type|holder|site`): where it was registered. The
    /// map's key is the first key registered, so a holding at one region (nearly every
    /// one) costs one allocation, as a set of its keys would.
    by_holding: foldhash::HashMap<ByHolding, Places>,
    /// How many keys are registered.
    len: usize,
}

/// A holding key, hashed and compared by its holding part (`type|holder|site`) alone, so
/// that the register finds it from that part.
#[derive(Debug)]
struct ByHolding(Box<str>);

impl ByHolding {
    fn path(&self) -> &str {
        split_holding_key(&self.0).0
    }
}

impl Borrow<str> for ByHolding {
    fn borrow(&self) -> &str {
        split_holding_key(&self.0).1
    }
}

impl Hash for ByHolding {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Borrow::<str>::borrow(self).hash(state);
    }
}

impl PartialEq for ByHolding {
    fn eq(&self, other: &Self) -> bool {
        Borrow::<str>::borrow(self) == Borrow::<str>::borrow(other)
    }
}

impl Eq for ByHolding {}

/// Where one holding was registered, with the first row at each region.
#[derive(Debug)]
enum Places {
    /// At the region of the map's key only.
    One(u32),
    /// At a few regions: compared one by one.
    Few(Vec<(Box<str>, u32)>),
    /// At many regions: looked up.
    Many(Box<ManyPlaces>),
}

/// A holding registered at many regions.
#[derive(Debug, Default)]
struct ManyPlaces {
    /// The first row at each region.
    first_at: foldhash::HashMap<Box<str>, u32>,
    /// For every region above a registered one (its path a strict prefix), the first row
    /// registered below it.
    first_below: foldhash::HashMap<Box<str>, u32>,
}

/// What [`HoldingRegister::register`] found a new holding repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    /// The first earlier row naming the same holding.
    pub first_row: u32,
    /// Whether that row names it at the same region (else at one above or below).
    pub at_same_region: bool,
}

/// From this many regions a holding's places are looked up by path rather than compared.
const FEW_PLACES: usize = 8;

/// The strict ancestors of a region path, the root included: every prefix ending in `/`.
fn paths_above(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices()
        .filter(move |&(i, c)| c == '/' && i + 1 < path.len())
        .map(move |(i, _)| &path[..=i])
}

impl ManyPlaces {
    /// Adds a region unless it is known: whether it was added.
    fn add(&mut self, path: &str, row: u32, across: bool) -> bool {
        if self.first_at.contains_key(path) {
            return false;
        }
        self.first_at.insert(path.into(), row);
        if across {
            for above in paths_above(path) {
                // Looked up before inserting: a holding recurring in many villages finds
                // its townships and counties there already.
                match self.first_below.get_mut(above) {
                    Some(first) => *first = (*first).min(row),
                    None => {
                        self.first_below.insert(above.into(), row);
                    }
                }
            }
        }
        true
    }
}

impl Places {
    /// The first row, of those registered, that names the same holding as one at `path`;
    /// `first_path` is the region of the map's key.
    fn first_repeated(&self, first_path: &str, path: &str, across: bool) -> Option<Repeat> {
        let at = |first_row, at_same_region| Repeat {
            first_row,
            at_same_region,
        };
        let matches = |other: &str| other == path || (across && on_one_line(path, other));
        match self {
            Places::One(row) => matches(first_path).then(|| at(*row, first_path == path)),
            Places::Few(places) => places
                .iter()
                .filter(|(other, _)| matches(other))
                .map(|(other, row)| at(*row, &**other == path))
                .min_by_key(|repeat| repeat.first_row),
            Places::Many(many) => {
                let here = many.first_at.get(path).map(|&row| at(row, true));
                if !across {
                    return here;
                }
                let above =
                    paths_above(path).filter_map(|p| many.first_at.get(p).map(|&r| at(r, false)));
                let below = many.first_below.get(path).map(|&row| at(row, false));
                here.into_iter()
                    .chain(above)
                    .chain(below)
                    .min_by_key(|repeat| repeat.first_row)
            }
        }
    }

    /// Adds a region unless it is known (whether it was added), turning many places into
    /// lookups.
    fn add(&mut self, first_path: &str, path: &str, row: u32, across: bool) -> bool {
        match self {
            Places::One(first) => {
                if first_path == path {
                    return false;
                }
                *self = Places::Few(vec![(first_path.into(), *first), (path.into(), row)]);
                true
            }
            Places::Few(places) => {
                if places.iter().any(|(other, _)| &**other == path) {
                    return false;
                }
                places.push((path.into(), row));
                if places.len() > FEW_PLACES {
                    let mut many = ManyPlaces::default();
                    for (path, row) in std::mem::take(places) {
                        many.add(&path, row, across);
                    }
                    *self = Places::Many(Box::new(many));
                }
                true
            }
            Places::Many(many) => many.add(path, row, across),
        }
    }
}

impl HoldingRegister {
    /// Registers the holding of `key`, named on `row`; when it repeats an earlier one,
    /// returns the first earlier row it repeats. A holding repeated at another region is
    /// registered there all the same, so that a later row repeating only it is named.
    pub fn register(&mut self, row: u32, key: &str) -> Result<(), Repeat> {
        let (path, holding) = split_holding_key(key);
        let Some((first, places)) = self.by_holding.get_key_value(holding) else {
            self.by_holding
                .insert(ByHolding(key.into()), Places::One(row));
            self.len += 1;
            return Ok(());
        };
        // Only a holding met before needs to know how it is matched (nearly every row of a
        // file names a new one).
        let across = matched_across_levels(holding);
        let first_path: Box<str> = first.path().into();
        let repeated = places.first_repeated(&first_path, path, across);
        if let Some(places) = self.by_holding.get_mut(holding)
            && places.add(&first_path, path, row, across)
        {
            self.len += 1;
        }
        repeated.map_or(Ok(()), Err)
    }

    /// Room for `more` holdings without growing the map on the way.
    pub fn reserve(&mut self, more: usize) {
        self.by_holding.reserve(more);
    }

    /// How many distinct keys are registered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every registered key with the first row that named it.
    pub fn keys(&self) -> impl Iterator<Item = (u32, String)> + '_ {
        self.by_holding.iter().flat_map(|(first, places)| {
            let holding: &str = first.borrow();
            let at: Vec<(u32, String)> = match places {
                Places::One(row) => vec![(*row, first.0.to_string())],
                Places::Few(places) => places
                    .iter()
                    .map(|(path, row)| (*row, format!("{path}|{holding}")))
                    .collect(),
                Places::Many(many) => many
                    .first_at
                    .iter()
                    .map(|(path, row)| (*row, format!("{path}|{holding}")))
                    .collect(),
            };
            at
        })
    }
}

/// A validated record, ready to be stored: what a form or one spreadsheet row becomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordDraft {
    pub type_code: String,
    pub quantity: f64,
    pub attributes: BTreeMap<String, AttributeValue>,
    pub quality: QualityGrade,
    pub holder: Holder,
    pub site: Option<String>,
    pub region_code: String,
    pub region_path: RegionPath,
    pub coordinates: Option<(f64, f64)>,
    pub status: RecordStatus,
    pub holding_key: String,
}

impl<'de> Deserialize<'de> for AttributeValue {
    /// Stored attribute values read back without their type: integers stay integers,
    /// other numbers are decimals, booleans booleans, and text is text. Choice codes come
    /// back as text; [`crate::taxonomy::ResourceType::attributes_from_json`] restores them
    /// where the type is at hand.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(match value {
            serde_json::Value::Bool(b) => AttributeValue::Boolean(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => AttributeValue::Integer(i),
                None => AttributeValue::Decimal(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => AttributeValue::Text(s),
            other => AttributeValue::Text(other.to_string()),
        })
    }
}

#[cfg(test)]
mod tests;
