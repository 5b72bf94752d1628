//! Roll-up deltas: how a change to records moves the per-subtree, per-type totals.
//!
//! Storage keeps one totals row per (region path, type) for the national root `/` and every
//! region on a record's path down to the township ([`ROLLUP_MAX_DEPTH`]), and applies these
//! deltas in the same transaction as the record write. A subtree's totals are then a read of
//! its own rows, never a scan of its records. Villages are left out on purpose: there are
//! twenty thousand of them in a province, each holding a few hundred records at most, so
//! their rows would double the writes of every import while a village's totals are a quick
//! `GROUP BY` over its own records. Deltas are accumulated per key, so a bulk import of a
//! million records touches each totals row once.

use foldhash::{HashMap, HashMapExt};
use serde::Serialize;

use crate::region::RegionPath;

/// What one record contributes to the totals of every subtree that contains it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFigures<'a> {
    pub region_path: &'a RegionPath,
    pub type_code: &'a str,
    pub quantity: f64,
    pub available: bool,
    pub verified: bool,
}

/// Totals of a subtree for one type, or a change to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    pub record_count: i64,
    pub quantity: f64,
    pub available_quantity: f64,
    pub verified_count: i64,
    pub verified_quantity: f64,
}

impl Totals {
    fn of(figures: &RecordFigures<'_>, sign: f64) -> Self {
        let count = if sign < 0.0 { -1 } else { 1 };
        Totals {
            record_count: count,
            quantity: sign * figures.quantity,
            available_quantity: if figures.available {
                sign * figures.quantity
            } else {
                0.0
            },
            verified_count: if figures.verified { count } else { 0 },
            verified_quantity: if figures.verified {
                sign * figures.quantity
            } else {
                0.0
            },
        }
    }

    pub fn add(&mut self, other: &Totals) {
        self.record_count += other.record_count;
        self.quantity += other.quantity;
        self.available_quantity += other.available_quantity;
        self.verified_count += other.verified_count;
        self.verified_quantity += other.verified_quantity;
    }

    pub fn is_zero(&self) -> bool {
        self.record_count == 0
            && self.verified_count == 0
            && self.quantity == 0.0
            && self.available_quantity == 0.0
            && self.verified_quantity == 0.0
    }
}

/// The deepest level that has totals rows: the township (root `/` is depth 0).
pub const ROLLUP_MAX_DEPTH: usize = 4;

/// Whether a subtree's totals are kept as rows (true down to townships) or read from its
/// records (villages).
pub fn has_totals_rows(path: &RegionPath) -> bool {
    path.depth() <= ROLLUP_MAX_DEPTH
}

/// Every path whose subtree contains `path`: the root `/`, each ancestor, and `path` itself.
pub fn enclosing_paths(path: &RegionPath) -> Vec<RegionPath> {
    let mut paths = vec![RegionPath::root()];
    let mut current = RegionPath::root();
    for code in path.codes() {
        current = current.child(&code);
        paths.push(current.clone());
    }
    paths
}

/// The path of the deepest region on `path` that keeps totals rows: `path` itself down to a
/// township, a village's township below.
fn deepest_totals_prefix(path: &str) -> &str {
    memchr::memchr_iter(b'/', path.as_bytes())
        .nth(ROLLUP_MAX_DEPTH)
        .and_then(|i| path.get(..=i))
        .unwrap_or(path)
}

/// Accumulates the changes of any number of record writes. Changes are gathered by the
/// deepest region on each record's path that keeps totals rows (its own, or its township's
/// for a village record) and its type: two hash look-ups per record, no allocation after the
/// first of a key. They are spread to the enclosing subtrees only once, in
/// [`Self::into_changes`]. Gathering by township rather than village makes a province-wide
/// import's groups a tenth as many.
#[derive(Debug, Clone, Default)]
pub struct RollupDeltas {
    /// By the deepest region keeping totals rows: where its changes are in `by_type`. (An
    /// index rather than the map itself, so a region seen before costs one look-up, not a
    /// check and a second look-up to borrow it.)
    regions: HashMap<String, usize>,
    by_type: Vec<HashMap<String, Totals>>,
}

impl RollupDeltas {
    pub fn new() -> Self {
        Self::default()
    }

    /// A record was added.
    pub fn insert(&mut self, figures: &RecordFigures<'_>) {
        self.apply(figures, 1.0);
    }

    /// A record was removed.
    pub fn remove(&mut self, figures: &RecordFigures<'_>) {
        self.apply(figures, -1.0);
    }

    /// A record changed: its old figures leave, its new ones arrive (paths and types may
    /// differ, as when a verification corrects the location).
    pub fn update(&mut self, before: &RecordFigures<'_>, after: &RecordFigures<'_>) {
        self.remove(before);
        self.insert(after);
    }

    fn apply(&mut self, figures: &RecordFigures<'_>, sign: f64) {
        let change = Totals::of(figures, sign);
        let region = deepest_totals_prefix(figures.region_path.as_str());
        let index = match self.regions.get(region) {
            Some(&index) => index,
            None => {
                self.regions.insert(region.to_owned(), self.by_type.len());
                self.by_type.push(HashMap::new());
                self.by_type.len() - 1
            }
        };
        let Some(by_type) = self.by_type.get_mut(index) else {
            return;
        };
        match by_type.get_mut(figures.type_code) {
            Some(totals) => totals.add(&change),
            None => {
                by_type.insert(figures.type_code.to_owned(), change);
            }
        }
    }

    /// The non-zero deltas of every enclosing subtree that keeps totals rows (down to
    /// [`ROLLUP_MAX_DEPTH`]), sorted by (path, type), for storage to apply.
    pub fn into_changes(self) -> Vec<(String, String, Totals)> {
        // Every enclosing path is a prefix of the region's own path, so the keys borrow
        // slices of it and spreading allocates nothing per record group.
        let mut spread: HashMap<(&str, &str), Totals> = HashMap::new();
        for (text, &index) in &self.regions {
            let Some(by_type) = self.by_type.get(index) else {
                continue;
            };
            let prefixes = text
                .match_indices('/')
                .map(|(i, _)| &text[..=i])
                .take(ROLLUP_MAX_DEPTH + 1);
            for prefix in prefixes {
                for (type_code, totals) in by_type {
                    spread
                        .entry((prefix, type_code.as_str()))
                        .or_default()
                        .add(totals);
                }
            }
        }
        // Sorted while the keys are still borrowed (small to move), and unstably: each
        // (path, type) comes once.
        let mut changes: Vec<((&str, &str), Totals)> =
            spread.into_iter().filter(|(_, t)| !t.is_zero()).collect();
        changes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        changes
            .into_iter()
            .map(|((path, type_code), totals)| (path.to_owned(), type_code.to_owned(), totals))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }
}
