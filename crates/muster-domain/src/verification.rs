//! On-site verification of a survey round: drawing the sample, dealing it to verifiers,
//! judging what they found, and the figures an office watches afterwards (accuracy per
//! region, credibility per reporting unit, freshness per region).
//!
//! Two ways to draw a sample:
//! - [`draw_stratified`]: a simple random sample without replacement in every county
//!   (stratum), of a fixed count or a percentage;
//! - [`draw_risk_based`]: one weighted sample without replacement (Efraimidis–Spirakis) where
//!   a record's weight is its [`risk_scores`] score: how far its quantity strays from its
//!   peers and from last year, how long since it was verified, and how unreliable its
//!   reporting unit has proved.
//!
//! Both are functions of their inputs and a `u64` seed only. The candidates are sorted by
//! record id before anything is drawn, so the order a database returns rows in does not
//! matter, and the random stream is derived from the seed with SHA-256 and consumed by code in
//! this module (not by `rand`'s sampling helpers, whose algorithms may change between
//! versions), so a stored seed re-derives the same sample for an auditor years later.
//!
//! Nothing here panics on any input: NaN or negative quantities, empty slices and huge counts
//! are all answered, and parameters that cannot mean anything (a percentage of 140, a negative
//! weight) are refused with a typed error that says what to fix.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::region::RegionPath;
use crate::time::Timestamp;

/// One potential record that may be drawn for on-site verification, with what risk-based
/// sampling needs to know about it.
///
/// A province draws from millions of candidates, and they share some tens of thousands of
/// region paths and a few hundred types: the text is shared (`Arc<str>`, interned by the caller), so a
/// candidate is about a hundred bytes whatever the lengths of its codes.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleCandidate {
    pub record_id: i64,
    /// The stratum the record is sampled in: its county's code.
    pub stratum: Arc<str>,
    /// The materialised path of the record's region, for the caller's roll-ups.
    pub region_path: Arc<str>,
    /// The resource type's code; peers are records of the same type in the same stratum.
    pub type_code: Arc<str>,
    pub quantity: f64,
    /// Last year's figure for the same holding, if there was one.
    pub previous_quantity: Option<f64>,
    pub last_verified: Option<Timestamp>,
    /// The organization that reported the record.
    pub reporting_unit: i64,
}

/// How many records to draw in each stratum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleSize {
    /// This many records per stratum, or the whole stratum when it is smaller.
    Count(u32),
    /// This percentage (0 to 100) of each stratum, rounded up, so that a percentage above
    /// zero draws at least one record from every non-empty stratum.
    Percent(f64),
}

/// Why a sample could not be drawn or assigned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleError {
    #[error("a sample percentage is a number from 0 to 100, found {0}")]
    BadPercent(f64),
    #[error("the risk weight for {name} is a number from 0 to {max}, found {value}", max = MAX_RISK_WEIGHT)]
    BadWeight { name: &'static str, value: f64 },
    #[error(
        "record {0} is listed more than once among the candidates; each record can be drawn only once"
    )]
    DuplicateCandidate(i64),
    #[error("record {0} is listed more than once in the sample; each record is verified once")]
    DuplicateInSample(i64),
    #[error("record {0} is in the sample but its county (stratum) is not known")]
    MissingStratum(i64),
    #[error("there are no verifiers to assign the sample to; add at least one verifier")]
    NoVerifiers,
}

impl SampleError {
    /// The message in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        match self {
            SampleError::BadPercent(found) => {
                format!("抽样比例应为 0 到 100 之间的数，现为 {found}")
            }
            SampleError::BadWeight { name, value } => {
                format!("风险权重 {name} 应为 0 到 {MAX_RISK_WEIGHT} 之间的数，现为 {value}")
            }
            SampleError::DuplicateCandidate(record) => {
                format!("记录 {record} 在候选记录中出现了不止一次；每条记录只能抽取一次")
            }
            SampleError::DuplicateInSample(record) => {
                format!("记录 {record} 在样本中出现了不止一次；每条记录只核查一次")
            }
            SampleError::MissingStratum(record) => {
                format!("记录 {record} 在样本中，但不知道它所在的县（分层）")
            }
            SampleError::NoVerifiers => "没有可分派的核查人员；请至少指定一名核查人员".into(),
        }
    }
}

/// How much each risk signal counts in a record's score. Relative: doubling every weight
/// changes nothing but the score's scale. Built with [`RiskWeights::new`], so every weight is
/// a finite number from 0 to [`MAX_RISK_WEIGHT`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskWeights {
    peer_deviation: f64,
    year_change: f64,
    staleness: f64,
    unit_unreliability: f64,
}

/// The largest weight a risk signal may have. Far beyond any useful setting, it keeps every
/// score finite.
pub const MAX_RISK_WEIGHT: f64 = 1000.0;

/// What risk scoring needs to know beyond the records themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskContext {
    pub now: Timestamp,
    /// A record not verified for longer than this many days is stale (see [`freshness`]).
    pub stale_after_days: u32,
    /// Each reporting unit's [`credibility`], 0 to 1. A unit not in the map counts as 0.5,
    /// neither trusted nor distrusted; values outside 0..=1 are clamped and NaN counts as 0.5.
    pub unit_credibility: HashMap<i64, f64>,
}

/// One record's risk score and what it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskScore {
    pub record_id: i64,
    /// The weighted sum of the signals plus [`RISK_SCORE_FLOOR`]: always finite and positive.
    pub score: f64,
    /// The signals before weighting.
    pub signals: RiskSignals,
    /// The notable contributions, largest first, for the UI. May be empty for a typical record.
    pub reasons: Vec<RiskReason>,
}

/// The four risk signals of one record, each capped so that one absurd figure cannot make a
/// score infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskSignals {
    /// Robust z-score of ln(1 + quantity) among the record's peers, 0 to [`PEER_DEVIATION_CAP`].
    pub peer_deviation: f64,
    /// |ln((1 + quantity) / (1 + last year's quantity))|, 0 to [`YEAR_CHANGE_CAP`].
    pub year_change: f64,
    /// Days since verification over the stale period, 0 to [`STALENESS_CAP`]; the cap when
    /// never verified.
    pub staleness: f64,
    /// 1 − the reporting unit's credibility, 0 to 1.
    pub unit_unreliability: f64,
}

/// Why a record scored high, in words an office can check.
#[derive(Debug, Clone, PartialEq)]
pub enum RiskReason {
    /// The quantity is far from the median of records of the same type in the same county.
    PeerDeviation {
        quantity: f64,
        peer_median: f64,
        peers: u32,
        robust_z: f64,
    },
    /// The quantity is not a number a holding can have (NaN, infinite or negative).
    InvalidQuantity {
        quantity: f64,
    },
    /// The quantity at least doubled or halved since last year (compared as 1 + quantity).
    YearChange {
        quantity: f64,
        previous_quantity: f64,
    },
    NeverVerified,
    Stale {
        days_since_verification: u64,
        stale_after_days: u32,
    },
    /// The reporting unit's credibility is below neutral (0.5).
    UnreliableUnit {
        unit: i64,
        credibility: f64,
    },
}

/// The record that was sampled, dealt to one verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Assignment {
    pub record_id: i64,
    pub verifier_id: i64,
}

/// What a verifier found on site for one record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finding {
    pub record_id: i64,
    pub reported_quantity: f64,
    pub quantity_seen: f64,
    pub location_right: bool,
    pub type_right: bool,
}

/// How far a seen quantity may stray from the reported one. Built with [`Tolerance::new`], so
/// `0 ≤ relative ≤ reopen_above ≤ 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    relative: f64,
    reopen_above: f64,
}

/// Why a tolerance was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToleranceError {
    #[error("the accuracy tolerance is a fraction from 0 to 1 (0.05 means 5 %), found {0}")]
    BadRelative(f64),
    #[error(
        "the reopening threshold is a fraction from the accuracy tolerance ({relative}) to 1, found {reopen_above}"
    )]
    BadReopen { relative: f64, reopen_above: f64 },
}

impl ToleranceError {
    /// The message in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        match self {
            ToleranceError::BadRelative(found) => {
                format!("准确容差应为 0 到 1 之间的比例（0.05 即 5%），现为 {found}")
            }
            ToleranceError::BadReopen {
                relative,
                reopen_above,
            } => {
                format!("退回阈值应为从准确容差（{relative}）到 1 之间的比例，现为 {reopen_above}")
            }
        }
    }
}

/// The verdict on one finding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assessment {
    /// Location right, type right and quantity within the tolerance.
    pub accurate: bool,
    /// |seen − reported| / max(seen, reported), 0 to 1 (see [`relative_difference`]); 1 when
    /// either quantity is not a valid number.
    pub relative_error: f64,
    /// The record goes back to its reporting unit: wrong location, wrong type, an invalid
    /// quantity, or a quantity error beyond the reopening threshold.
    pub reopen: bool,
    /// The quantity seen, when it differs from the one reported and is a valid quantity.
    pub correction: Option<f64>,
}

/// Accuracy of the checked records in one region's subtree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accuracy {
    pub checked: u32,
    pub accurate: u32,
    /// `accurate / checked`, 0 to 1.
    pub rate: f64,
}

/// How current a record's verification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Freshness {
    Fresh,
    Stale,
    NeverVerified,
}

/// Freshness of the records in one region's subtree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FreshnessCounts {
    pub fresh: u32,
    pub stale: u32,
    pub never_verified: u32,
    /// `fresh / (fresh + stale + never_verified)`, 0 to 1.
    pub share_fresh: f64,
}

/// Added to every risk score so that a perfectly typical record keeps a chance of being
/// drawn: a risk-based sample must still be able to catch what the signals miss.
pub const RISK_SCORE_FLOOR: f64 = 0.1;
/// Robust z-scores beyond this are all "wildly off"; capping keeps scores finite.
pub const PEER_DEVIATION_CAP: f64 = 10.0;
/// ln(1 + q) changes beyond this (about 22 000×) are all "wildly off".
pub const YEAR_CHANGE_CAP: f64 = 10.0;
/// Three stale periods, or never verified.
pub const STALENESS_CAP: f64 = 3.0;

/// Fewer peers than this give no meaningful median, so no peer deviation.
const MIN_PEERS: usize = 3;
/// The MAD of a normal distribution times this is its standard deviation.
const MAD_TO_SIGMA: f64 = 1.4826;
/// The smallest spread, in ln(1 + q), that a robust z-score divides by. When every peer
/// reports the same figure the MAD is 0; differences under about 10 % are still not
/// suspicious, while a record twelve times its identical peers still scores the cap.
const MIN_LOG_SCALE: f64 = 0.1;
/// Iglewicz and Hoaglin's threshold for an outlier's modified z-score.
const PEER_REASON_Z: f64 = 3.5;
/// A year change is worth mentioning when the quantity doubled or halved.
const YEAR_REASON_CHANGE: f64 = std::f64::consts::LN_2;
const NEUTRAL_CREDIBILITY: f64 = 0.5;
const MILLIS_PER_DAY: i64 = 86_400_000;
/// Slack for comparing a relative error with a tolerance, so that 95 seen for 100 reported
/// is within 5 % however the division rounds.
const TOLERANCE_SLACK: f64 = 1e-12;

impl RiskWeights {
    /// Each weight must be a finite number from 0 to [`MAX_RISK_WEIGHT`]. All zero is allowed:
    /// every record then scores the floor and the draw is a simple random sample.
    pub fn new(
        peer_deviation: f64,
        year_change: f64,
        staleness: f64,
        unit_unreliability: f64,
    ) -> Result<Self, SampleError> {
        for (name, value) in [
            ("peer deviation", peer_deviation),
            ("year change", year_change),
            ("staleness", staleness),
            ("unit unreliability", unit_unreliability),
        ] {
            if !(0.0..=MAX_RISK_WEIGHT).contains(&value) {
                return Err(SampleError::BadWeight { name, value });
            }
        }
        Ok(Self {
            peer_deviation,
            year_change,
            staleness,
            unit_unreliability,
        })
    }

    pub fn peer_deviation(&self) -> f64 {
        self.peer_deviation
    }

    pub fn year_change(&self) -> f64 {
        self.year_change
    }

    pub fn staleness(&self) -> f64 {
        self.staleness
    }

    pub fn unit_unreliability(&self) -> f64 {
        self.unit_unreliability
    }
}

impl Default for RiskWeights {
    /// Every signal counts the same: each is on a comparable scale (a few units for a
    /// suspicious record, under one for a typical one).
    fn default() -> Self {
        Self {
            peer_deviation: 1.0,
            year_change: 1.0,
            staleness: 1.0,
            unit_unreliability: 1.0,
        }
    }
}

impl Tolerance {
    /// `relative`: the largest relative error still counted accurate; `reopen_above`: the
    /// relative error beyond which the record is reopened. `0 ≤ relative ≤ reopen_above ≤ 1`,
    /// because a relative error (see [`relative_difference`]) lies in 0..=1.
    pub fn new(relative: f64, reopen_above: f64) -> Result<Self, ToleranceError> {
        if !(0.0..=1.0).contains(&relative) {
            return Err(ToleranceError::BadRelative(relative));
        }
        if !(relative..=1.0).contains(&reopen_above) {
            return Err(ToleranceError::BadReopen {
                relative,
                reopen_above,
            });
        }
        Ok(Self {
            relative,
            reopen_above,
        })
    }

    pub fn relative(&self) -> f64 {
        self.relative
    }

    pub fn reopen_above(&self) -> f64 {
        self.reopen_above
    }
}

impl Default for Tolerance {
    /// 5 % counts as accurate; beyond 20 % the record is reopened.
    fn default() -> Self {
        Self {
            relative: 0.05,
            reopen_above: 0.20,
        }
    }
}

impl Freshness {
    pub const fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::Stale => "stale",
            Freshness::NeverVerified => "never_verified",
        }
    }
}

impl fmt::Display for Freshness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RiskReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RiskReason::PeerDeviation {
                quantity,
                peer_median,
                peers,
                ..
            } => {
                let q = Figure(quantity);
                let m = Figure(peer_median);
                if quantity > 0.0 && peer_median > 0.0 {
                    let factor = quantity / peer_median;
                    if factor >= 1.0 {
                        write!(
                            f,
                            "quantity {q} is {} the median ({m}) of {peers} peers",
                            Factor(factor)
                        )
                    } else {
                        write!(
                            f,
                            "quantity {q} is 1/{} of the median ({m}) of {peers} peers",
                            Figure(round_factor(1.0 / factor))
                        )
                    }
                } else {
                    write!(f, "quantity {q} where the median of {peers} peers is {m}")
                }
            }
            RiskReason::InvalidQuantity { quantity } => {
                write!(
                    f,
                    "the reported quantity ({quantity}) is not a valid quantity"
                )
            }
            RiskReason::YearChange {
                quantity,
                previous_quantity,
            } => write!(
                f,
                "quantity {} against {} last year",
                Figure(quantity),
                Figure(previous_quantity)
            ),
            RiskReason::NeverVerified => f.write_str("never verified"),
            RiskReason::Stale {
                days_since_verification,
                stale_after_days,
            } => write!(
                f,
                "last verified {days_since_verification} days ago (stale after {stale_after_days})"
            ),
            RiskReason::UnreliableUnit { credibility, .. } => {
                write!(f, "reporting unit credibility {credibility:.2}")
            }
        }
    }
}

impl RiskReason {
    /// The reason in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        match *self {
            RiskReason::PeerDeviation {
                quantity,
                peer_median,
                peers,
                ..
            } => {
                let q = Figure(quantity);
                let m = Figure(peer_median);
                if quantity > 0.0 && peer_median > 0.0 {
                    let factor = quantity / peer_median;
                    if factor >= 1.0 {
                        format!(
                            "数量 {q} 是同类 {peers} 条记录中位数（{m}）的 {} 倍",
                            Figure(round_factor(factor))
                        )
                    } else {
                        format!(
                            "数量 {q} 只有同类 {peers} 条记录中位数（{m}）的 1/{}",
                            Figure(round_factor(1.0 / factor))
                        )
                    }
                } else {
                    format!("数量 {q}，而同类 {peers} 条记录的中位数是 {m}")
                }
            }
            RiskReason::InvalidQuantity { quantity } => {
                format!("填报的数量（{quantity}）不是有效数量")
            }
            RiskReason::YearChange {
                quantity,
                previous_quantity,
            } => format!(
                "数量 {}，去年为 {}",
                Figure(quantity),
                Figure(previous_quantity)
            ),
            RiskReason::NeverVerified => "从未核查".into(),
            RiskReason::Stale {
                days_since_verification,
                stale_after_days,
            } => format!(
                "上次核查在 {days_since_verification} 天前（超过 {stale_after_days} 天即为过期）"
            ),
            RiskReason::UnreliableUnit { credibility, .. } => {
                format!("报送单位可信度 {credibility:.2}")
            }
        }
    }
}

/// Draws a simple random sample without replacement in every stratum.
///
/// Each stratum's records are drawn from a random stream derived from the seed and the
/// stratum's code alone, so a county's sample depends only on the seed and that county's
/// records: adding another county to the round does not change it. Returns record ids sorted.
///
/// Complexity: O(n log n) for the sort plus O(k) random draws.
pub fn draw_stratified(
    candidates: &[SampleCandidate],
    size: SampleSize,
    seed: u64,
) -> Result<Vec<i64>, SampleError> {
    if let SampleSize::Percent(percent) = size
        && !(0.0..=100.0).contains(&percent)
    {
        return Err(SampleError::BadPercent(percent));
    }
    let mut by_stratum: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for candidate in sorted_unique(candidates)? {
        by_stratum
            .entry(&*candidate.stratum)
            .or_default()
            .push(candidate.record_id);
    }
    let mut sample = Vec::new();
    for (stratum, mut ids) in by_stratum {
        let take = stratum_quota(ids.len(), size);
        let mut rng = seeded_stream(seed, b"stratified", stratum.as_bytes());
        partial_shuffle(&mut ids, take, &mut rng);
        sample.extend(ids.into_iter().take(take));
    }
    sample.sort_unstable();
    Ok(sample)
}

/// Scores every candidate's risk; the result is sorted by record id.
///
/// - Peer deviation: the robust z-score |x − median| / (1.4826 · MAD) of x = ln(1 + quantity)
///   against the *other* records of the same type in the same stratum. Logarithms because
///   holdings span orders of magnitude and typing errors multiply (an extra zero); median and
///   MAD because the outliers being hunted must not hide themselves by inflating a mean and a
///   standard deviation. 0 with fewer than 3 peers; the spread is at least 0.1 so identical
///   peers (MAD = 0) do not turn a 1 % difference into an alarm. An invalid quantity (NaN,
///   infinite, negative) scores the cap: such a record needs checking most of all.
/// - Year change: |ln((1 + q) / (1 + previous))|, 0 without a previous figure.
/// - Staleness: days since verification / stale period, at most 3; 3 when never verified.
/// - Unit unreliability: 1 − the reporting unit's credibility.
///
/// The score is the weighted sum plus [`RISK_SCORE_FLOOR`].
///
/// Complexity: O(n log n): each (stratum, type) group is sorted a handful of times.
pub fn risk_scores(
    candidates: &[SampleCandidate],
    weights: &RiskWeights,
    context: &RiskContext,
) -> Vec<RiskScore> {
    let mut ordered: Vec<&SampleCandidate> = candidates.iter().collect();
    ordered.sort_by_key(|c| c.record_id);

    let standings = peer_standings_of(&ordered);
    ordered
        .iter()
        .zip(standings)
        .map(|(candidate, standing)| score_one(candidate, standing, weights, context))
        .collect()
}

/// Draws `total` records without replacement with probabilities proportional to their
/// [`risk_scores`] (Efraimidis–Spirakis: each record gets the key u^(1/score) for a uniform u,
/// and the largest keys win; compared as ln(u)/score, which is the same order and never
/// underflows). Returns record ids sorted.
///
/// Complexity: O(n log n), the scoring; see [`draw_risk_scored`].
pub fn draw_risk_based(
    candidates: &[SampleCandidate],
    total: u32,
    weights: &RiskWeights,
    context: &RiskContext,
    seed: u64,
) -> Result<Vec<i64>, SampleError> {
    Ok(draw_risk_scored(candidates, total, weights, context, seed)?
        .into_iter()
        .map(|score| score.record_id)
        .collect())
}

/// [`draw_risk_based`], returning each drawn record's score and reasons (sorted by record
/// id), so a caller keeping them does not score millions of candidates a second time.
///
/// Complexity: O(n log n) for the scoring; the winners are then selected in O(n) and only
/// they are sorted, so the draw adds no second sort of every candidate.
pub fn draw_risk_scored(
    candidates: &[SampleCandidate],
    total: u32,
    weights: &RiskWeights,
    context: &RiskContext,
    seed: u64,
) -> Result<Vec<RiskScore>, SampleError> {
    // Sorted by record id: a duplicate stands beside its twin.
    let scores = risk_scores(candidates, weights, context);
    if let Some(pair) = scores
        .windows(2)
        .find(|pair| pair[0].record_id == pair[1].record_id)
    {
        return Err(SampleError::DuplicateCandidate(pair[0].record_id));
    }
    let mut rng = seeded_stream(seed, b"risk", b"");
    // (key, index into `scores`): the scores are sorted by record id, so the index breaks
    // ties exactly as the record id would.
    let mut keyed: Vec<(f64, usize)> = scores
        .iter()
        .enumerate()
        .map(|(index, s)| (open_unit_interval(rng.next_u64()).ln() / s.score, index))
        .collect();
    let largest_first =
        |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    let take = usize::try_from(total).unwrap_or(usize::MAX);
    if take < keyed.len() {
        keyed.select_nth_unstable_by(take, largest_first);
        keyed.truncate(take);
    }
    let mut chosen: Vec<usize> = keyed.into_iter().map(|(_, index)| index).collect();
    chosen.sort_unstable();
    let mut chosen = chosen.into_iter().peekable();
    Ok(scores
        .into_iter()
        .enumerate()
        .filter_map(|(index, score)| chosen.next_if_eq(&index).map(|_| score))
        .collect())
}

/// Deals the sample to verifiers: balance first, then locality.
///
/// Every verifier gets ⌊n/v⌋ or ⌈n/v⌉ records (the first n mod v verifiers by id get the extra
/// one). Within that, strata are dealt largest first, each whole to the verifier whose
/// remaining room fits it most tightly; a stratum larger than anyone's room fills the roomiest
/// verifier and the rest is dealt again. So a county's records go to as few verifiers as the
/// balance allows, and a verifier's day stays in as few counties as possible.
///
/// Duplicate verifier ids are merged. Returns one assignment per sampled record, sorted by
/// record id.
///
/// Complexity: O(n log n + s · v) for n records, s strata and v verifiers.
pub fn assign_to_verifiers(
    sample: &[i64],
    strata: &HashMap<i64, String>,
    verifiers: &[i64],
) -> Result<Vec<Assignment>, SampleError> {
    let mut verifiers = verifiers.to_vec();
    verifiers.sort_unstable();
    verifiers.dedup();
    if verifiers.is_empty() {
        return Err(SampleError::NoVerifiers);
    }
    let mut records = sample.to_vec();
    records.sort_unstable();
    if let Some(pair) = records.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(SampleError::DuplicateInSample(pair[0]));
    }
    let mut by_stratum: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for &record_id in &records {
        let stratum = strata
            .get(&record_id)
            .ok_or(SampleError::MissingStratum(record_id))?;
        by_stratum.entry(stratum).or_default().push(record_id);
    }
    let mut strata_by_size: Vec<Vec<i64>> = by_stratum.into_values().collect();
    // Stable, so strata of equal size keep the order of their codes.
    strata_by_size.sort_by_key(|ids| std::cmp::Reverse(ids.len()));

    let base = records.len() / verifiers.len();
    let extra = records.len() % verifiers.len();
    let mut room: Vec<usize> = (0..verifiers.len())
        .map(|i| base + usize::from(i < extra))
        .collect();

    let mut assignments = Vec::with_capacity(records.len());
    for ids in strata_by_size {
        let mut rest: &[i64] = &ids;
        while !rest.is_empty() {
            let chosen = tightest_fit(&room, rest.len()).or_else(|| roomiest(&room));
            let (index, take) = match chosen {
                Some(index) if room[index] > 0 => (index, room[index].min(rest.len())),
                // Unreachable while the rooms add up to the sample size; if they ever did not,
                // the rest goes to the first verifier rather than being lost.
                _ => (0, rest.len()),
            };
            let (dealt, remaining) = rest.split_at(take);
            room[index] = room[index].saturating_sub(take);
            assignments.extend(dealt.iter().map(|&record_id| Assignment {
                record_id,
                verifier_id: verifiers[index],
            }));
            rest = remaining;
        }
    }
    assignments.sort_unstable();
    Ok(assignments)
}

/// Judges one finding against the tolerance. Total: any input gives an answer without NaN.
pub fn assess(finding: &Finding, tolerance: &Tolerance) -> Assessment {
    let reported = finding.reported_quantity;
    let seen = finding.quantity_seen;
    let quantities_valid = is_valid_quantity(reported) && is_valid_quantity(seen);
    let relative_error = if quantities_valid {
        relative_difference(reported, seen)
    } else {
        1.0
    };
    let place_and_type_right = finding.location_right && finding.type_right;
    Assessment {
        accurate: place_and_type_right
            && quantities_valid
            && relative_error <= tolerance.relative + TOLERANCE_SLACK,
        relative_error,
        reopen: !place_and_type_right
            || !quantities_valid
            || relative_error > tolerance.reopen_above + TOLERANCE_SLACK,
        correction: (is_valid_quantity(seen) && seen != reported).then_some(seen),
    }
}

/// The quantity a finding writes into its record: the one seen, where the type was right and
/// the quantity is off by more than the tolerance. A finding judged accurate never corrects
/// (the same slack as [`assess`]), and one of the wrong type saw some other stock.
pub fn applied_correction(
    finding: &Finding,
    assessment: &Assessment,
    tolerance: &Tolerance,
) -> Option<f64> {
    assessment.correction.filter(|_| {
        finding.type_right && assessment.relative_error > tolerance.relative + TOLERANCE_SLACK
    })
}

/// |a − b| / max(a, b) for two valid (finite, non-negative) quantities, 0 when both are 0.
///
/// Relative to the larger figure so that it lies in 0..=1 and is symmetric: a record that
/// halves or doubles the truth is 50 % off either way, and a holding reported as 0 but found on
/// site is 100 % off rather than infinitely. Invalid quantities give 1.
pub fn relative_difference(a: f64, b: f64) -> f64 {
    if !(is_valid_quantity(a) && is_valid_quantity(b)) {
        return 1.0;
    }
    let larger = a.max(b);
    if larger == 0.0 {
        return 0.0;
    }
    ((a - b).abs() / larger).clamp(0.0, 1.0)
}

/// Accuracy per region, each finding counted in its own region and every ancestor up to the
/// root `/`, so a county's checks appear in its city, its province and the nation.
///
/// Complexity: O(n · depth · log m) for n findings and m regions in the result.
pub fn accuracy_by_region(findings: &[(RegionPath, Assessment)]) -> BTreeMap<String, Accuracy> {
    // Keyed by slices of the input paths, so counting allocates nothing per finding.
    let mut tally: HashMap<&str, (u32, u32)> = HashMap::new();
    for (path, assessment) in findings {
        for prefix in path_and_ancestors(path) {
            let counts = tally.entry(prefix).or_default();
            counts.0 = counts.0.saturating_add(1);
            counts.1 = counts.1.saturating_add(u32::from(assessment.accurate));
        }
    }
    tally
        .into_iter()
        .map(|(path, (checked, accurate))| {
            (
                path.to_owned(),
                Accuracy {
                    checked,
                    accurate,
                    rate: share(accurate, checked),
                },
            )
        })
        .collect()
}

/// A reporting unit's credibility, 0 to 1, from the assessments of its verified records.
///
/// ```text
///                1 + Σ over accurate checks of (1 − relative error)
/// credibility = ────────────────────────────────────────────────────
///                              2 + number of checks
/// ```
///
/// This is Laplace's rule of succession, the mean of a Beta(1, 1) prior updated with the
/// checks, where an accurate check is a success discounted by its (small, within tolerance)
/// relative error and an inaccurate check is a failure. So a unit never checked is 0.5, a unit
/// with two checks is still between 0.25 and 0.75, and a unit with many exact checks
/// approaches 1. Discounting per check rather than by the mean error over all checks keeps it
/// monotone: an inaccurate check always lowers credibility, an exact accurate one always raises
/// it. Relative errors outside 0..=1 are clamped and NaN counts as 1.
pub fn credibility(unit_history: &[Assessment]) -> f64 {
    let checks = unit_history.len() as f64;
    let successes: f64 = unit_history
        .iter()
        .filter(|a| a.accurate)
        .map(|a| 1.0 - error_in_unit_interval(a.relative_error))
        .sum();
    ((1.0 + successes) / (2.0 + checks)).clamp(0.0, 1.0)
}

/// A record is fresh while its last verification is at most `stale_after_days` days old
/// (a verification "in the future", from a skewed clock, counts as fresh), stale after that.
pub fn freshness(
    last_verified: Option<Timestamp>,
    now: Timestamp,
    stale_after_days: u32,
) -> Freshness {
    match last_verified {
        None => Freshness::NeverVerified,
        Some(verified) => {
            if age_millis(verified, now) > stale_period_millis(stale_after_days) {
                Freshness::Stale
            } else {
                Freshness::Fresh
            }
        }
    }
}

/// Freshness counts per region, each record counted in its own region and every ancestor up
/// to the root `/`.
///
/// Complexity: O(n · depth · log m) for n records and m regions in the result.
pub fn freshness_by_region(
    records: &[(RegionPath, Option<Timestamp>)],
    now: Timestamp,
    stale_after_days: u32,
) -> BTreeMap<String, FreshnessCounts> {
    let mut tally: HashMap<&str, [u32; 3]> = HashMap::new();
    for (path, last_verified) in records {
        let slot = match freshness(*last_verified, now, stale_after_days) {
            Freshness::Fresh => 0,
            Freshness::Stale => 1,
            Freshness::NeverVerified => 2,
        };
        for prefix in path_and_ancestors(path) {
            let counts = tally.entry(prefix).or_default();
            counts[slot] = counts[slot].saturating_add(1);
        }
    }
    tally
        .into_iter()
        .map(|(path, [fresh, stale, never_verified])| {
            let total = fresh.saturating_add(stale).saturating_add(never_verified);
            (
                path.to_owned(),
                FreshnessCounts {
                    fresh,
                    stale,
                    never_verified,
                    share_fresh: share(fresh, total),
                },
            )
        })
        .collect()
}

/// Where a record stands among its peers, when it has enough of them.
#[derive(Debug, Clone, Copy)]
struct PeerStanding {
    robust_z: f64,
    /// The median of the peers' ln(1 + quantity).
    median_log: f64,
    peers: u32,
}

/// The candidates sorted by record id, or the first duplicate id.
fn sorted_unique(candidates: &[SampleCandidate]) -> Result<Vec<&SampleCandidate>, SampleError> {
    let mut ordered: Vec<&SampleCandidate> = candidates.iter().collect();
    ordered.sort_by_key(|c| c.record_id);
    if let Some(pair) = ordered
        .windows(2)
        .find(|pair| pair[0].record_id == pair[1].record_id)
    {
        return Err(SampleError::DuplicateCandidate(pair[0].record_id));
    }
    Ok(ordered)
}

/// How many of a stratum's `len` records to draw. Percentages are rounded up, with a little
/// slack so that 10 % of 30 is 3 even if the product rounds to 3.0000000000000004.
fn stratum_quota(len: usize, size: SampleSize) -> usize {
    match size {
        SampleSize::Count(count) => usize::try_from(count).unwrap_or(usize::MAX).min(len),
        SampleSize::Percent(percent) => {
            if percent <= 0.0 || len == 0 {
                return 0;
            }
            let exact = len as f64 * percent / 100.0;
            let rounded_up = (exact - 1e-9 * exact.max(1.0)).ceil().max(1.0);
            // A float-to-int `as` saturates; the min keeps it within the stratum.
            (rounded_up as usize).min(len)
        }
    }
}

/// Moves a uniform random choice of `take` elements, without replacement, to the front
/// (the first `take` steps of a Fisher–Yates shuffle).
fn partial_shuffle(ids: &mut [i64], take: usize, rng: &mut ChaCha8Rng) {
    let len = ids.len();
    for i in 0..take.min(len) {
        let remaining = (len - i) as u64;
        let offset = usize::try_from(uniform_below(rng, remaining)).unwrap_or(0);
        ids.swap(i, i + offset);
    }
}

/// A uniform integer in `0..bound` (`bound ≥ 1`), by Lemire's multiply-and-reject method, so
/// the result has no modulo bias and depends only on the ChaCha8 stream.
fn uniform_below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    if bound <= 1 {
        return 0;
    }
    // 2^64 mod bound: the low products below it would make some results more likely.
    let threshold = bound.wrapping_neg() % bound;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(bound);
        if (product as u64) >= threshold {
            return (product >> 64) as u64;
        }
    }
}

/// A double strictly between 0 and 1 from 53 random bits, so its logarithm is finite.
fn open_unit_interval(bits: u64) -> f64 {
    ((bits >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A random stream for one purpose and key, derived from the seed by SHA-256 so that streams
/// for different strata are independent and stable across versions of `rand`.
fn seeded_stream(seed: u64, purpose: &[u8], key: &[u8]) -> ChaCha8Rng {
    let mut hasher = Sha256::new();
    hasher.update(b"muster/verification/");
    hasher.update(purpose);
    hasher.update([0u8]);
    hasher.update(seed.to_le_bytes());
    hasher.update((key.len() as u64).to_le_bytes());
    hasher.update(key);
    ChaCha8Rng::from_seed(hasher.finalize().into())
}

fn is_valid_quantity(quantity: f64) -> bool {
    quantity.is_finite() && quantity >= 0.0
}

fn log_quantity(quantity: f64) -> Option<f64> {
    is_valid_quantity(quantity).then(|| quantity.ln_1p())
}

/// Peer standings for candidates already sorted by record id, in the same order.
fn peer_standings_of(ordered: &[&SampleCandidate]) -> Vec<Option<PeerStanding>> {
    let mut groups: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (index, candidate) in ordered.iter().enumerate() {
        if is_valid_quantity(candidate.quantity) {
            groups
                .entry((&*candidate.stratum, &*candidate.type_code))
                .or_default()
                .push(index);
        }
    }
    let mut standings = vec![None; ordered.len()];
    for members in groups.values() {
        let values: Vec<f64> = members
            .iter()
            .filter_map(|&i| ordered.get(i).and_then(|c| log_quantity(c.quantity)))
            .collect();
        for (&index, standing) in members.iter().zip(group_standings(&values)) {
            if let Some(slot) = standings.get_mut(index) {
                *slot = standing;
            }
        }
    }
    standings
}

/// Each value's robust z-score against the other values of its group (leave-one-out median
/// and MAD), in O(n log n): removing one value from a sorted list moves the median to one of
/// at most three places, so there are at most three centres, and for each the sorted absolute
/// deviations give every leave-one-out MAD by skipping the value's own deviation.
fn group_standings(values: &[f64]) -> Vec<Option<PeerStanding>> {
    let peers = values.len().saturating_sub(1);
    if peers < MIN_PEERS {
        return vec![None; values.len()];
    }
    let peer_count = u32::try_from(peers).unwrap_or(u32::MAX);
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut deviations_by_centre: Vec<(u64, Vec<f64>)> = Vec::new();
    values
        .iter()
        .map(|&value| {
            let own_position = sorted.partition_point(|v| v.total_cmp(&value).is_lt());
            let centre = median_without(&sorted, own_position)?;
            let known = deviations_by_centre
                .iter()
                .position(|(bits, _)| *bits == centre.to_bits());
            let slot = match known {
                Some(slot) => slot,
                None => {
                    let mut deviations: Vec<f64> =
                        sorted.iter().map(|v| (v - centre).abs()).collect();
                    deviations.sort_by(f64::total_cmp);
                    deviations_by_centre.push((centre.to_bits(), deviations));
                    deviations_by_centre.len() - 1
                }
            };
            let deviations = &deviations_by_centre.get(slot)?.1;
            let own_deviation = (value - centre).abs();
            let own_rank = deviations.partition_point(|d| d.total_cmp(&own_deviation).is_lt());
            let mad = median_without(deviations, own_rank)?;
            let scale = (MAD_TO_SIGMA * mad).max(MIN_LOG_SCALE);
            Some(PeerStanding {
                robust_z: (own_deviation / scale).min(PEER_DEVIATION_CAP),
                median_log: centre,
                peers: peer_count,
            })
        })
        .collect()
}

/// The median of `sorted` with the element at `skip` left out; `None` if nothing is left.
fn median_without(sorted: &[f64], skip: usize) -> Option<f64> {
    let len = sorted.len().checked_sub(1).filter(|&len| len > 0)?;
    let at = |rank: usize| {
        sorted
            .get(if rank < skip { rank } else { rank + 1 })
            .copied()
    };
    if len % 2 == 1 {
        at(len / 2)
    } else {
        let low = at(len / 2 - 1)?;
        let high = at(len / 2)?;
        Some(low + (high - low) / 2.0)
    }
}

fn score_one(
    candidate: &SampleCandidate,
    standing: Option<PeerStanding>,
    weights: &RiskWeights,
    context: &RiskContext,
) -> RiskScore {
    // Each reason is paired with its weighted contribution, for ordering.
    let mut reasons: Vec<(f64, RiskReason)> = Vec::new();

    let quantity_valid = is_valid_quantity(candidate.quantity);
    let peer_deviation = match standing {
        _ if !quantity_valid => {
            reasons.push((
                weights.peer_deviation * PEER_DEVIATION_CAP,
                RiskReason::InvalidQuantity {
                    quantity: candidate.quantity,
                },
            ));
            PEER_DEVIATION_CAP
        }
        Some(standing) => {
            if standing.robust_z >= PEER_REASON_Z {
                reasons.push((
                    weights.peer_deviation * standing.robust_z,
                    RiskReason::PeerDeviation {
                        quantity: candidate.quantity,
                        peer_median: standing.median_log.exp_m1(),
                        peers: standing.peers,
                        robust_z: standing.robust_z,
                    },
                ));
            }
            standing.robust_z
        }
        None => 0.0,
    };

    let year_change = match (
        log_quantity(candidate.quantity),
        candidate.previous_quantity,
    ) {
        (Some(now_log), Some(previous)) => match log_quantity(previous) {
            Some(previous_log) => {
                let change = (now_log - previous_log).abs().min(YEAR_CHANGE_CAP);
                if change >= YEAR_REASON_CHANGE {
                    reasons.push((
                        weights.year_change * change,
                        RiskReason::YearChange {
                            quantity: candidate.quantity,
                            previous_quantity: previous,
                        },
                    ));
                }
                change
            }
            None => 0.0,
        },
        _ => 0.0,
    };

    let staleness = match candidate.last_verified {
        None => {
            reasons.push((weights.staleness * STALENESS_CAP, RiskReason::NeverVerified));
            STALENESS_CAP
        }
        Some(verified) => {
            let age = age_millis(verified, context.now);
            let period = stale_period_millis(context.stale_after_days);
            let ratio = if period == 0 {
                if age > 0 { STALENESS_CAP } else { 0.0 }
            } else {
                (age as f64 / period as f64).min(STALENESS_CAP)
            };
            if age > period {
                reasons.push((
                    weights.staleness * ratio,
                    RiskReason::Stale {
                        days_since_verification: u64::try_from(age / MILLIS_PER_DAY).unwrap_or(0),
                        stale_after_days: context.stale_after_days,
                    },
                ));
            }
            ratio
        }
    };

    let credibility = context
        .unit_credibility
        .get(&candidate.reporting_unit)
        .copied()
        .filter(|c| !c.is_nan())
        .map_or(NEUTRAL_CREDIBILITY, |c| c.clamp(0.0, 1.0));
    let unit_unreliability = 1.0 - credibility;
    if credibility < NEUTRAL_CREDIBILITY {
        reasons.push((
            weights.unit_unreliability * unit_unreliability,
            RiskReason::UnreliableUnit {
                unit: candidate.reporting_unit,
                credibility,
            },
        ));
    }

    let signals = RiskSignals {
        peer_deviation,
        year_change,
        staleness,
        unit_unreliability,
    };
    let score = RISK_SCORE_FLOOR
        + weights.peer_deviation * signals.peer_deviation
        + weights.year_change * signals.year_change
        + weights.staleness * signals.staleness
        + weights.unit_unreliability * signals.unit_unreliability;

    // A reason whose signal has weight 0 did not raise the score, so it is not a reason.
    reasons.retain(|(contribution, _)| *contribution > 0.0);
    reasons.sort_by(|a, b| b.0.total_cmp(&a.0));
    RiskScore {
        record_id: candidate.record_id,
        score,
        signals,
        reasons: reasons.into_iter().map(|(_, reason)| reason).collect(),
    }
}

/// Milliseconds from `verified` to `now`, 0 when `verified` lies in the future.
fn age_millis(verified: Timestamp, now: Timestamp) -> i64 {
    now.as_millis().saturating_sub(verified.as_millis()).max(0)
}

fn stale_period_millis(stale_after_days: u32) -> i64 {
    i64::from(stale_after_days).saturating_mul(MILLIS_PER_DAY)
}

/// The index of the verifier with the least room that still fits `len` records.
fn tightest_fit(room: &[usize], len: usize) -> Option<usize> {
    room.iter()
        .enumerate()
        .filter(|(_, r)| **r >= len)
        .min_by_key(|(i, r)| (**r, *i))
        .map(|(i, _)| i)
}

/// The index of the verifier with the most room (the first such).
fn roomiest(room: &[usize]) -> Option<usize> {
    room.iter()
        .enumerate()
        .max_by_key(|(i, r)| (**r, std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
}

/// `/`, `/34/`, `/34/3401/`, … down to the path itself.
fn path_and_ancestors(path: &RegionPath) -> impl Iterator<Item = &str> {
    let text = path.as_str();
    text.match_indices('/')
        .filter_map(move |(end, _)| text.get(..=end))
}

fn share(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

fn error_in_unit_interval(error: f64) -> f64 {
    if error.is_nan() {
        1.0
    } else {
        error.clamp(0.0, 1.0)
    }
}

fn round_factor(factor: f64) -> f64 {
    if factor >= 10.0 {
        factor.round()
    } else {
        (factor * 10.0).round() / 10.0
    }
}

/// A quantity for a sentence: whole numbers without decimals, others with two.
struct Figure(f64);

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Within a rounding error of a whole number (8 comes back from exp(ln 9) − 1 as
        // 8.000000000000002) counts as whole.
        let whole = self.0.round();
        if self.0.abs() < 1e15 && (self.0 - whole).abs() <= 1e-9 * whole.abs().max(1.0) {
            write!(f, "{whole:.0}")
        } else {
            write!(f, "{:.2}", self.0)
        }
    }
}

/// A ratio for a sentence: `12×`, `2.5×`.
struct Factor(f64);

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×", Figure(round_factor(self.0)))
    }
}

#[cfg(test)]
mod tests;
