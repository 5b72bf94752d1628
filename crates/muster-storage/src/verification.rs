//! On-site verification: a sample of potential records drawn for a subtree, dealt to
//! verifiers, what they found applied to the records, and the figures an office watches
//! afterwards (accuracy per region, credibility per reporting unit, freshness per region).
//!
//! The judging is [`muster_domain::verification`]; this module reads its inputs, stores its
//! outputs and keeps the roll-ups and the audit chain in step:
//!
//! - A draw stores the sample with its seed, method, tolerance, the time it was drawn and (for
//!   a risk-based draw) every drawn record's score and reasons, so an auditor can see why a
//!   record was drawn and re-derive the draw from the same candidates.
//! - Records already in a sample that is still open (an item without a finding) are not
//!   candidates, so no record is sent out twice at once.
//! - A finding is recorded and applied in one transaction: the record's verified state and,
//!   when the difference is beyond the tolerance, its quantity change, the totals move by the
//!   roll-up deltas, and both the item and the record get an audit entry (the record's with
//!   its before and after).
//! - A record reopened by a finding no longer counts as verified: its `last_verified_at` and
//!   `verified_quantity` are cleared and `reopened` is set until a later finding within the
//!   threshold. The finding itself, with its date, stays in `verification_items`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures::TryStreamExt;
use muster_domain::organization::Roles;
use muster_domain::potential::Holder;
use muster_domain::potential::rollup::RollupDeltas;
use muster_domain::verification::{
    self, Accuracy, Assessment, Finding, FreshnessCounts, RiskContext, RiskWeights, SampleSize,
    Tolerance,
};
use muster_domain::{Actor, DataClass, RegionPath, Role, Scope, Timestamp};
use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Row};

use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::potential::{PotentialRecord, apply_totals, figures};

/// How a sample is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleMethod {
    /// A simple random sample in every county.
    Stratified(SampleSize),
    /// `total` records weighted by risk.
    RiskBased { total: u32, weights: RiskWeights },
}

/// What an office asks for when it draws a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRequest {
    /// The subtree to sample: a region inside the drawer's scope, or the whole scope.
    pub region_code: Option<String>,
    /// Only records of this survey round.
    pub round_id: Option<i64>,
    pub method: SampleMethod,
    /// The seed; a fresh one (53 bits, so it survives JSON and spreadsheets) when None.
    pub seed: Option<u64>,
    /// How far a seen quantity may stray before the record is corrected or reopened.
    pub tolerance: Tolerance,
}

/// A stored sample.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct VerificationSample {
    pub id: i64,
    pub round_id: Option<i64>,
    pub region_code: Option<String>,
    pub region_path: String,
    pub method: String,
    /// [`SampleParameters`] as JSON.
    pub parameters: String,
    pub seed: i64,
    pub created_by: Option<i64>,
    pub created_at: i64,
    /// Items in the sample, and how many have a finding.
    pub item_count: i64,
    pub found_count: i64,
}

/// Everything a draw depended on besides the records, stored with the sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleParameters {
    pub method: String,
    pub count: Option<u32>,
    pub percent: Option<f64>,
    pub total: Option<u32>,
    /// Peer deviation, year change, staleness, unit unreliability.
    pub weights: Option<[f64; 4]>,
    pub tolerance: f64,
    pub reopen_above: f64,
    pub stale_after_days: u32,
    /// The "now" risk scoring used (staleness is measured up to it).
    pub drawn_at: i64,
    pub candidates: usize,
    /// Each drawn record's risk score and reasons (risk-based draws only).
    #[serde(default)]
    pub risk: BTreeMap<i64, StoredRisk>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRisk {
    pub score: f64,
    /// In English, as the API gives them.
    pub reasons: Vec<String>,
    /// The same in Chinese, for the Chinese pages (absent in samples drawn before it was
    /// kept: the pages fall back to the English).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons_zh: Vec<String>,
}

impl StoredRisk {
    /// The reasons in `locale` where they were kept in it, else in English.
    pub fn reasons_in(&self, locale: &str) -> &[String] {
        if locale.starts_with("zh") && !self.reasons_zh.is_empty() {
            &self.reasons_zh
        } else {
            &self.reasons
        }
    }
}

/// What a draw would give, without storing anything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SamplePreview {
    pub seed: u64,
    pub candidates: usize,
    pub record_ids: Vec<i64>,
    pub region_path: String,
}

/// One record in a sample, with what a verifier needs to find it and what they found.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct VerificationItem {
    pub sample_id: i64,
    pub record_id: i64,
    pub region_path: String,
    pub region_code: String,
    pub region_name: Option<String>,
    pub type_code: String,
    pub holder_kind: String,
    pub holder_name: String,
    pub site_name: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// The record's quantity now (after any correction).
    pub current_quantity: f64,
    pub reopened: i64,
    pub reporting_organization_id: Option<i64>,
    pub verifier_user_id: Option<i64>,
    pub verifier_username: Option<String>,
    /// `drawn`, `assigned` or `found`.
    pub status: String,
    /// The quantity the record stated when it was drawn, or when the finding was judged.
    pub reported_quantity: f64,
    pub quantity_seen: Option<f64>,
    pub location_right: Option<i64>,
    pub type_right: Option<i64>,
    pub notes: Option<String>,
    /// A JSON array of the SHA-256 of the finding's photos in the attachment store (findings
    /// recorded before photos were stored there hold file names or URLs instead).
    pub photos: Option<String>,
    pub accurate: Option<i64>,
    pub relative_error: Option<f64>,
    pub found_at: Option<i64>,
}

impl VerificationItem {
    pub fn photo_list(&self) -> Vec<String> {
        self.photos
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default()
    }

    fn masked_for(mut self, scope: &Scope) -> Self {
        if self.holder_kind == "person" && !scope.allows(DataClass::PersonalData) {
            let person = Holder::Person {
                name: std::mem::take(&mut self.holder_name),
                id_number: None,
                phone: None,
            };
            self.holder_name = person.masked().name().to_owned();
            // Photos of a person's holding are personal data too (a yard, a number plate).
            self.photos = None;
        }
        self
    }
}

/// What a verifier reports for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingInput {
    pub quantity_seen: f64,
    pub location_right: bool,
    pub type_right: bool,
    pub notes: String,
    /// The SHA-256 of each photo, already in the attachment store: the web layer stores a
    /// form's photos, or resolves the verifier's own finished uploads, before it calls.
    pub photos: Vec<String>,
}

/// What applying a finding did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingOutcome {
    pub accurate: bool,
    pub relative_error: f64,
    pub reopened: bool,
    /// The record's quantity before and after, when the finding corrected it.
    pub corrected: Option<(f64, f64)>,
}

/// A figure for one region of a drill-down: the region itself (its whole subtree) or a child.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionFigure<T> {
    /// None for the national root.
    pub region_code: Option<String>,
    pub region_name: Option<String>,
    pub region_path: String,
    pub figure: T,
}

/// Accuracy of a subtree and each child subtree.
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracyView {
    pub total: RegionFigure<Accuracy>,
    pub children: Vec<RegionFigure<Accuracy>>,
}

/// Freshness of a subtree and each child subtree.
#[derive(Debug, Clone, PartialEq)]
pub struct FreshnessView {
    pub stale_after_days: u32,
    pub total: RegionFigure<FreshnessCounts>,
    pub children: Vec<RegionFigure<FreshnessCounts>>,
}

/// A reporting unit's credibility from the checks of its records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitCredibility {
    pub organization_id: Option<i64>,
    pub organization_name: Option<String>,
    pub checked: u32,
    pub accurate: u32,
    pub mean_relative_error: f64,
    pub credibility: f64,
}

/// The `settings` key of the stale period.
pub const STALE_AFTER_SETTING: &str = "verification.stale_after_days";
/// A record not verified for a year is stale unless an administrator sets otherwise.
pub const DEFAULT_STALE_AFTER_DAYS: u32 = 365;
/// The longest stale period that can be set: ten years.
pub const MAX_STALE_AFTER_DAYS: u32 = 3650;
/// The most photos a finding may carry.
pub const MAX_PHOTOS: usize = 20;
pub const MAX_NOTES_CHARS: usize = 2000;
/// The largest sample one draw may produce.
pub const MAX_SAMPLE_SIZE: usize = 10_000;

/// Item statuses.
pub const ITEM_DRAWN: &str = "drawn";
pub const ITEM_ASSIGNED: &str = "assigned";
pub const ITEM_FOUND: &str = "found";

const ITEM_SELECT: &str = "SELECT i.sample_id, i.record_id, i.region_path, r.region_code, g.name AS region_name, \
     r.type_code, r.holder_kind, r.holder_name, r.site_name, r.lat, r.lon, r.quantity AS current_quantity, \
     r.reopened, i.reporting_organization_id, i.verifier_user_id, u.username AS verifier_username, i.status, \
     i.reported_quantity, i.quantity_seen, i.location_right, i.type_right, i.notes, i.photos, i.accurate, \
     i.relative_error, i.found_at \
     FROM verification_items i JOIN potential_records r ON r.id = i.record_id \
     LEFT JOIN regions g ON g.code = r.region_code LEFT JOIN users u ON u.id = i.verifier_user_id";

const SAMPLE_SELECT: &str = "SELECT s.id, s.round_id, s.region_code, s.region_path, s.method, s.parameters, s.seed, \
     s.created_by, s.created_at, \
     (SELECT COUNT(*) FROM verification_items i WHERE i.sample_id = s.id) AS item_count, \
     (SELECT COUNT(*) FROM verification_items i WHERE i.sample_id = s.id AND i.status = 'found') AS found_count \
     FROM verification_samples s";

/// Six columns an item; far under SQLite's bound-parameter limit.
const ITEMS_PER_INSERT: usize = 1_000;

/// Keeps `verification_photos` equal to a finding's photos (hashes, checked before), the
/// index that serving a thumbnail asks.
async fn record_finding_photos(
    tx: &mut WriteTx,
    sample_id: i64,
    record_id: i64,
    photos: &[String],
) -> Result<(), StorageError> {
    on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM verification_photos WHERE sample_id = $1 AND record_id = $2")
            .bind(sample_id)
            .bind(record_id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })?;
    if photos.is_empty() {
        return Ok(());
    }
    // At most MAX_PHOTOS rows, and duplicates sent twice are one photo.
    let mut distinct: Vec<&str> = photos.iter().map(String::as_str).collect();
    distinct.sort_unstable();
    distinct.dedup();
    on_tx!(tx, |conn| {
        let mut query =
            QueryBuilder::new("INSERT INTO verification_photos (sample_id, record_id, sha256) ");
        query.push_values(&distinct, |mut row, sha256| {
            row.push_bind(sample_id)
                .push_bind(record_id)
                .push_bind(*sha256);
        });
        query.build().execute(&mut *conn).await.map(|_| ())
    })?;
    Ok(())
}

/// The reporting unit of a candidate reported by no organization (an office's own import):
/// ids start at 1, so 0 is no organization's.
const NO_REPORTING_UNIT: i64 = 0;

/// The text of a draw's candidates, each distinct path, stratum and type held once and
/// shared (the maps' keys are the same allocations).
#[derive(Default)]
struct CandidateText {
    /// Region path → its stratum.
    regions: HashMap<Arc<str>, Arc<str>>,
    strata: HashSet<Arc<str>>,
    types: HashSet<Arc<str>>,
}

impl CandidateText {
    /// The shared (path, stratum) of a region path.
    fn region(&mut self, path: &str) -> (Arc<str>, Arc<str>) {
        if let Some((path, stratum)) = self.regions.get_key_value(path) {
            return (Arc::clone(path), Arc::clone(stratum));
        }
        let stratum = shared(&mut self.strata, &county_of(&parse_path(path)));
        let path: Arc<str> = Arc::from(path);
        self.regions.insert(Arc::clone(&path), Arc::clone(&stratum));
        (path, stratum)
    }

    fn type_code(&mut self, code: &str) -> Arc<str> {
        shared(&mut self.types, code)
    }
}

/// The one shared copy of `text` in `set`, added if it is new.
fn shared(set: &mut HashSet<Arc<str>>, text: &str) -> Arc<str> {
    if let Some(known) = set.get(text) {
        return Arc::clone(known);
    }
    let new: Arc<str> = Arc::from(text);
    set.insert(Arc::clone(&new));
    new
}

/// Office staff and administrators run verification.
fn may_run_verification(actor: &Actor) -> bool {
    actor.administers() || actor.has_role(Role::OfficeStaff)
}

/// The stratum of a record: its county's code, or its deepest code above the county level.
fn county_of(path: &RegionPath) -> String {
    path.codes()
        .take(3)
        .last()
        .map_or_else(|| "/".to_owned(), |c| c.as_str().to_owned())
}

fn parse_path(text: &str) -> RegionPath {
    RegionPath::parse(text).unwrap_or_else(RegionPath::root)
}

impl SampleParameters {
    pub fn tolerance(&self) -> Tolerance {
        Tolerance::new(self.tolerance, self.reopen_above).unwrap_or_default()
    }
}

impl VerificationSample {
    /// The stored parameters; a row that does not read gives the defaults rather than an
    /// error, so a page still shows the sample.
    pub fn parameters(&self) -> Option<SampleParameters> {
        serde_json::from_str(&self.parameters).ok()
    }
}

/// The most stale records one read returns: a download's whole list, read in one query
/// (each page of the list sorts the subtree's stale records again, so a download paged a
/// thousand at a time would sort them a hundred times).
pub const STALE_RECORDS_MAX: i64 = 100_000;

impl Database {
    /// The stale period in days: the `verification.stale_after_days` setting, or a year.
    pub async fn stale_after_days(&self) -> Result<u32, StorageError> {
        let stored: Option<String> = on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT value FROM settings WHERE key = $1"
        )
        .bind(STALE_AFTER_SETTING)
        .fetch_optional(pool)
        .await)?;
        Ok(stored
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|d| (1..=MAX_STALE_AFTER_DAYS).contains(d))
            .unwrap_or(DEFAULT_STALE_AFTER_DAYS))
    }

    /// Sets the stale period for the whole installation (administrators only).
    pub async fn set_stale_after_days(&self, actor: &Actor, days: u32) -> Result<(), StorageError> {
        let administrator = self
            .refuse_unless_installation_administrator(actor, "the stale period", "核查过期天数")
            .await?;
        check_stale_after(days)?;
        let before = self.stale_after_days().await?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
        .bind(STALE_AFTER_SETTING)
        .bind(days.to_string())
        .execute(&mut *conn)
        .await
        .map(|_| ()))?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "setting",
                entity_id: STALE_AFTER_SETTING.to_owned(),
                action: "set",
                region_path: &administrator.region,
                before: Some(serde_json::json!(before)),
                after: Some(serde_json::json!(days)),
            },
        )
        .await?;
        tx.commit().await
    }

    /// What [`Self::draw_sample`] would draw now, storing nothing. The same seed over the
    /// same candidates gives the same records.
    pub async fn preview_sample(
        &self,
        actor: &Actor,
        request: &SampleRequest,
    ) -> Result<SamplePreview, StorageError> {
        let planned = self.plan_sample(actor, request, crate::now()).await?;
        Ok(SamplePreview {
            seed: planned.seed,
            candidates: planned.parameters.candidates,
            record_ids: planned.record_ids,
            region_path: planned.path.as_str().to_owned(),
        })
    }

    /// Draws a sample and stores it with its seed and parameters; its items start `drawn`.
    pub async fn draw_sample(
        &self,
        actor: &Actor,
        request: &SampleRequest,
    ) -> Result<VerificationSample, StorageError> {
        let now = crate::now();
        let planned = self.plan_sample(actor, request, now).await?;
        if planned.record_ids.is_empty() {
            return Err(StorageError::refused(
                "sample",
                "no records to draw: the subtree has none that are not already in an open sample",
                "没有可抽取的记录：该辖区的记录都已在未结束的核查样本中",
            ));
        }
        let parameters_json = serde_json::to_string(&planned.parameters).map_err(|e| {
            StorageError::refused(
                "parameters",
                e.to_string(),
                format!("抽样参数无法保存（{e}）"),
            )
        })?;
        let seed = i64::try_from(planned.seed).map_err(|_| seed_too_large())?;
        let mut tx = self.begin_write().await?;
        refuse_records_drawn_meanwhile(&mut tx, &planned.record_ids).await?;
        let sample_id: i64 = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar(
            "INSERT INTO verification_samples (round_id, region_code, region_path, method, parameters, seed, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"
        )
        .bind(request.round_id)
        .bind(planned.region_code.as_deref())
        .bind(planned.path.as_str())
        .bind(&planned.parameters.method)
        .bind(&parameters_json)
        .bind(seed)
        .bind(actor.user_id())
        .bind(now.as_millis())
        .fetch_one(&mut *conn)
        .await
        })?;
        for chunk in planned.drawn.chunks(ITEMS_PER_INSERT) {
            on_tx!(&mut tx, |conn| {
                let mut query = QueryBuilder::new(
                    "INSERT INTO verification_items (sample_id, record_id, region_path, reporting_organization_id, status, reported_quantity) ",
                );
                query.push_values(chunk, |mut row, candidate| {
                    row.push_bind(sample_id)
                        .push_bind(candidate.record_id)
                        .push_bind(&*candidate.region_path)
                        .push_bind(
                            (candidate.reporting_unit != NO_REPORTING_UNIT)
                                .then_some(candidate.reporting_unit),
                        )
                        .push_bind(ITEM_DRAWN)
                        .push_bind(candidate.quantity);
                });
                query.build().execute(&mut *conn).await.map(|_| ())
            })?;
        }
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "verification_sample",
                entity_id: sample_id.to_string(),
                action: "draw",
                region_path: &planned.path,
                before: None,
                after: Some(serde_json::json!({
                    "method": planned.parameters.method,
                    "seed": seed,
                    "round_id": request.round_id,
                    "candidates": planned.parameters.candidates,
                    "drawn": planned.record_ids.len(),
                    "first_records": planned.record_ids.iter().take(20).collect::<Vec<_>>(),
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.verification_sample(actor.scope(), sample_id).await
    }

    /// Deals the items that have no finding yet to the verifiers, balanced (see
    /// [`verification::assign_to_verifiers`]). A verifier must be an enabled user, not only a
    /// viewer, whose region contains the sample's region and lies inside the assigner's scope,
    /// so that every record dealt to them is in their own scope. Running it again re-deals
    /// the open items (a verifier fell ill); findings already recorded stay where they are.
    pub async fn assign_sample(
        &self,
        actor: &Actor,
        sample_id: i64,
        verifier_ids: &[i64],
    ) -> Result<usize, StorageError> {
        if !may_run_verification(actor) {
            return Err(StorageError::forbidden(
                "only office staff assign verification",
                "只有动员办工作人员才能分配核查任务",
            ));
        }
        let sample = self.verification_sample(actor.scope(), sample_id).await?;
        let sample_path = parse_path(&sample.region_path);
        let mut ids = verifier_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Err(StorageError::Refused {
                field: "verifiers",
                message: "choose at least one verifier".into(),
                message_zh: "请至少选择一名核查人员".into(),
            });
        }
        for &id in &ids {
            let found: Option<(String, String, i64)> = on_read_pool!(self, |pool| {
                sqlx::query_as(
                "SELECT o.region_path, u.roles, u.disabled FROM users u JOIN organizations o ON o.id = u.organization_id WHERE u.id = $1"
            )
            .bind(id)
            .fetch_optional(pool)
            .await
            })?;
            let Some((path, roles, disabled)) = found else {
                return Err(StorageError::not_found("user", id));
            };
            let path = parse_path(&path);
            if !actor.scope().contains(&path) {
                return Err(StorageError::out_of_scope("user", id));
            }
            let roles = Roles::parse_list(&roles).map_err(|_| StorageError::Refused {
                field: "verifiers",
                message: format!("user {id} has no usable roles"),
                message_zh: format!("用户 {id} 没有可用的角色"),
            })?;
            if disabled != 0 || !roles.as_slice().iter().any(|r| r.is_staff()) {
                return Err(StorageError::Refused {
                    field: "verifiers",
                    message: format!("user {id} is disabled or may only read"),
                    message_zh: format!("用户 {id} 已停用或只有查看权限"),
                });
            }
            if !path.contains(&sample_path) {
                return Err(StorageError::Refused {
                    field: "verifiers",
                    message: format!(
                        "user {id} works in a region that does not contain the sample's region; choose someone whose region covers it"
                    ),
                    message_zh: format!(
                        "用户 {id} 所在的行政区划不包含样本所在区划；请选择辖区覆盖样本的人员"
                    ),
                });
            }
        }
        let open: Vec<(i64, String)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT record_id, region_path FROM verification_items WHERE sample_id = $1 AND status <> 'found' ORDER BY record_id"
        )
        .bind(sample_id)
        .fetch_all(pool)
        .await
        })?;
        if open.is_empty() {
            return Ok(0);
        }
        let strata: HashMap<i64, String> = open
            .iter()
            .map(|(id, path)| (*id, county_of(&parse_path(path))))
            .collect();
        let record_ids: Vec<i64> = open.iter().map(|(id, _)| *id).collect();
        let assignments =
            verification::assign_to_verifiers(&record_ids, &strata, &ids).map_err(|e| {
                StorageError::Refused {
                    field: "verifiers",
                    message: e.to_string(),
                    message_zh: e.zh(),
                }
            })?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        for assignment in &assignments {
            on_tx!(&mut tx, |conn| sqlx::query(
                "UPDATE verification_items SET verifier_user_id = $1, status = $2 \
                 WHERE sample_id = $3 AND record_id = $4 AND status <> 'found'"
            )
            .bind(assignment.verifier_id)
            .bind(ITEM_ASSIGNED)
            .bind(sample_id)
            .bind(assignment.record_id)
            .execute(&mut *conn)
            .await
            .map(|_| ()))?;
        }
        let mut per_verifier: BTreeMap<i64, usize> = BTreeMap::new();
        for a in &assignments {
            *per_verifier.entry(a.verifier_id).or_default() += 1;
        }
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "verification_sample",
                entity_id: sample_id.to_string(),
                action: "assign",
                region_path: &sample_path,
                before: None,
                after: Some(serde_json::json!({ "items_per_verifier": per_verifier })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(assignments.len())
    }

    /// The samples whose region is in the reader's scope, newest first.
    pub async fn verification_samples(
        &self,
        scope: &Scope,
        limit: i64,
    ) -> Result<Vec<VerificationSample>, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let sql = format!(
            "{SAMPLE_SELECT} WHERE s.region_path >= $1 AND s.region_path < $2 ORDER BY s.id DESC LIMIT $3"
        );
        Ok(on_read_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .bind(&low)
        .bind(&high)
        .bind(limit.clamp(1, 1000))
        .fetch_all(pool)
        .await)?)
    }

    pub async fn verification_sample(
        &self,
        scope: &Scope,
        id: i64,
    ) -> Result<VerificationSample, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let sql = format!(
            "{SAMPLE_SELECT} WHERE s.id = $1 AND s.region_path >= $2 AND s.region_path < $3"
        );
        let found: Option<VerificationSample> = on_read_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .bind(id)
        .bind(&low)
        .bind(&high)
        .fetch_optional(pool)
        .await)?;
        found.ok_or_else(|| StorageError::not_found("verification sample", id))
    }

    /// A sample's items in the reader's scope, by record id.
    pub async fn verification_items(
        &self,
        scope: &Scope,
        sample_id: i64,
    ) -> Result<Vec<VerificationItem>, StorageError> {
        self.verification_sample(scope, sample_id).await?;
        let (low, high) = scope.subtree().subtree_range();
        let sql = format!(
            "{ITEM_SELECT} WHERE i.sample_id = $1 AND i.region_path >= $2 AND i.region_path < $3 ORDER BY i.record_id"
        );
        let items: Vec<VerificationItem> = on_read_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .bind(sample_id)
        .bind(&low)
        .bind(&high)
        .fetch_all(pool)
        .await)?;
        Ok(items.into_iter().map(|i| i.masked_for(scope)).collect())
    }

    /// The items dealt to the actor, open ones first (by sample and record), then the done
    /// ones when `include_found`.
    pub async fn my_verification_items(
        &self,
        actor: &Actor,
        include_found: bool,
    ) -> Result<Vec<VerificationItem>, StorageError> {
        let Some(user_id) = actor.user_id() else {
            return Ok(Vec::new());
        };
        let (low, high) = actor.scope().subtree().subtree_range();
        let sql = format!(
            "{ITEM_SELECT} WHERE i.verifier_user_id = $1 AND i.region_path >= $2 AND i.region_path < $3 \
             AND ($4 = 1 OR i.status <> 'found') \
             ORDER BY CASE WHEN i.status = 'found' THEN 1 ELSE 0 END, i.sample_id, i.record_id LIMIT 2000"
        );
        let items: Vec<VerificationItem> = on_read_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .bind(user_id)
        .bind(&low)
        .bind(&high)
        .bind(i64::from(include_found))
        .fetch_all(pool)
        .await)?;
        Ok(items
            .into_iter()
            .map(|i| i.masked_for(actor.scope()))
            .collect())
    }

    /// One item, for the finding form.
    pub async fn verification_item(
        &self,
        scope: &Scope,
        sample_id: i64,
        record_id: i64,
    ) -> Result<VerificationItem, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let sql = format!(
            "{ITEM_SELECT} WHERE i.sample_id = $1 AND i.record_id = $2 AND i.region_path >= $3 AND i.region_path < $4"
        );
        let found: Option<VerificationItem> = on_read_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .bind(sample_id)
        .bind(record_id)
        .bind(&low)
        .bind(&high)
        .fetch_optional(pool)
        .await)?;
        found
            .map(|i| i.masked_for(scope))
            .ok_or_else(|| StorageError::not_found("verification item", record_id))
    }

    /// Records what the assigned verifier found and applies it to the record, in one
    /// transaction: the finding is judged against the record's quantity now with the
    /// sample's tolerance; the record is marked verified (or reopened, see the module
    /// comment); a quantity beyond the tolerance is corrected to the one seen — unless the
    /// type was wrong, when what was seen is not a figure of this type; the totals move by the
    /// roll-up deltas; the item and the record are audited.
    pub async fn record_finding(
        &self,
        actor: &Actor,
        sample_id: i64,
        record_id: i64,
        input: FindingInput,
    ) -> Result<FindingOutcome, StorageError> {
        check_finding(&input)?;
        let Some(user_id) = actor.user_id() else {
            return Err(StorageError::forbidden(
                "findings are recorded by the verifier in person",
                "核查结果须由核查人员本人记录",
            ));
        };
        let sample = self.verification_sample(actor.scope(), sample_id).await?;
        let tolerance = sample
            .parameters()
            .map(|p| p.tolerance())
            .unwrap_or_default();
        // Read before the write transaction: a read inside it would hold a second connection.
        let taxonomy = self.taxonomy().await?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        // A no-op UPDATE reads the item and takes its row lock on PostgreSQL, so two
        // submissions of the same finding cannot both pass the status check.
        let item: Option<(Option<i64>, String, String)> = on_tx!(&mut tx, |conn| {
            sqlx::query_as(
            "UPDATE verification_items SET status = status WHERE sample_id = $1 AND record_id = $2 \
             RETURNING verifier_user_id, status, region_path"
        )
        .bind(sample_id)
        .bind(record_id)
        .fetch_optional(&mut *conn)
        .await
        })?;
        let Some((verifier, status, item_path)) = item else {
            return Err(StorageError::not_found("verification item", record_id));
        };
        let item_path = parse_path(&item_path);
        if !actor.scope().contains(&item_path) {
            return Err(StorageError::not_found("verification item", record_id));
        }
        if verifier != Some(user_id) {
            return Err(StorageError::forbidden(
                "only the verifier this record was assigned to records its finding",
                "只有被分配核查此记录的核查人员才能记录核查结果",
            ));
        }
        if status == ITEM_FOUND {
            return Err(StorageError::Conflict {
                field: "finding",
                message: "a finding is already recorded for this record in this sample".into(),
                message_zh: Some("本样本中该记录的核查结果已经录入".into()),
            });
        }
        let before: Option<PotentialRecord> = on_tx!(&mut tx, |conn| sqlx::query_as(
            "UPDATE potential_records SET updated_at = updated_at WHERE id = $1 RETURNING *"
        )
        .bind(record_id)
        .fetch_optional(&mut *conn)
        .await)?;
        let before =
            before.ok_or_else(|| StorageError::not_found("potential record", record_id))?;
        if input.type_right {
            // What was seen of the right type may become the record's quantity: it must be
            // one the type allows (whole trucks, within the type's bounds), as in an import.
            if let Some(resource_type) = taxonomy.resource_type(&before.type_code)
                && let Err(problem) = resource_type.check_quantity(input.quantity_seen)
            {
                return Err(StorageError::Refused {
                    field: "quantity_seen",
                    message: problem.to_string(),
                    message_zh: problem.zh(),
                });
            }
        }
        let finding = Finding {
            record_id,
            reported_quantity: before.quantity,
            quantity_seen: input.quantity_seen,
            location_right: input.location_right,
            type_right: input.type_right,
        };
        let assessment = verification::assess(&finding, &tolerance);
        let corrected_quantity =
            verification::applied_correction(&finding, &assessment, &tolerance);
        let new_quantity = corrected_quantity.unwrap_or(before.quantity);
        let (last_verified_at, verified_quantity) = if assessment.reopen {
            (None, None)
        } else {
            (Some(now.as_millis()), Some(input.quantity_seen))
        };
        let after: PotentialRecord = on_tx!(&mut tx, |conn| {
            sqlx::query_as(
            "UPDATE potential_records SET quantity = $1, verified_quantity = $2, last_verified_at = $3, \
             reopened = $4, updated_at = $5 WHERE id = $6 RETURNING *"
        )
        .bind(new_quantity)
        .bind(verified_quantity)
        .bind(last_verified_at)
        .bind(i64::from(assessment.reopen))
        .bind(now.as_millis())
        .bind(record_id)
        .fetch_one(&mut *conn)
        .await
        })?;
        let mut deltas = RollupDeltas::new();
        let (before_path, after_path) = (before.region_path(), after.region_path());
        deltas.update(
            &figures(&before, &before_path),
            &figures(&after, &after_path),
        );
        apply_totals(&mut tx, &deltas.into_changes()).await?;
        let photos_json = serde_json::to_string(&input.photos).unwrap_or_else(|_| "[]".into());
        on_tx!(&mut tx, |conn| {
            sqlx::query(
            "UPDATE verification_items SET status = $1, reported_quantity = $2, quantity_seen = $3, \
             location_right = $4, type_right = $5, notes = $6, photos = $7, accurate = $8, \
             relative_error = $9, found_at = $10 WHERE sample_id = $11 AND record_id = $12"
        )
        .bind(ITEM_FOUND)
        .bind(before.quantity)
        .bind(input.quantity_seen)
        .bind(i64::from(input.location_right))
        .bind(i64::from(input.type_right))
        .bind(Some(input.notes.trim()).filter(|n| !n.is_empty()))
        .bind(&photos_json)
        .bind(i64::from(assessment.accurate))
        .bind(assessment.relative_error)
        .bind(now.as_millis())
        .bind(sample_id)
        .bind(record_id)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        })?;
        record_finding_photos(&mut tx, sample_id, record_id, &input.photos).await?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "verification_item",
                entity_id: format!("{sample_id}/{record_id}"),
                action: "record_finding",
                region_path: &item_path,
                before: None,
                after: Some(serde_json::json!({
                    "reported_quantity": before.quantity,
                    "quantity_seen": input.quantity_seen,
                    "location_right": input.location_right,
                    "type_right": input.type_right,
                    "photos": input.photos,
                    "accurate": assessment.accurate,
                    "relative_error": assessment.relative_error,
                    "reopen": assessment.reopen,
                })),
            },
        )
        .await?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "potential_record",
                entity_id: record_id.to_string(),
                action: if assessment.reopen {
                    "reopen"
                } else if corrected_quantity.is_some() {
                    "verify_and_correct"
                } else {
                    "verify"
                },
                region_path: &after_path,
                before: Some(verified_state(&before)),
                after: Some(verified_state(&after)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(FindingOutcome {
            accurate: assessment.accurate,
            relative_error: assessment.relative_error,
            reopened: assessment.reopen,
            corrected: corrected_quantity.map(|q| (before.quantity, q)),
        })
    }

    /// Accuracy of the checked records in a subtree (the reader's scope, or a region in it)
    /// and in each of its child regions; of one sample only when `sample_id` is given.
    pub async fn verification_accuracy(
        &self,
        scope: &Scope,
        region_code: Option<&str>,
        sample_id: Option<i64>,
    ) -> Result<AccuracyView, StorageError> {
        let drill = self.drill_down(scope, region_code).await?;
        let (low, high) = drill.path.subtree_range();
        let rows: Vec<(String, i64, f64)> = on_read_pool!(self, |pool| sqlx::query_as(
            "SELECT region_path, accurate, relative_error FROM verification_items \
             WHERE region_path >= $1 AND region_path < $2 AND status = 'found' \
             AND ($3 IS NULL OR sample_id = $3)"
        )
        .bind(&low)
        .bind(&high)
        .bind(sample_id)
        .fetch_all(pool)
        .await)?;
        let findings: Vec<(RegionPath, Assessment)> = rows
            .into_iter()
            .map(|(path, accurate, relative_error)| {
                (
                    parse_path(&path),
                    stored_assessment(accurate, relative_error),
                )
            })
            .collect();
        let by_region = verification::accuracy_by_region(&findings);
        let none = Accuracy {
            checked: 0,
            accurate: 0,
            rate: 0.0,
        };
        Ok(AccuracyView {
            total: drill.own(by_region.get(drill.path.as_str()).copied().unwrap_or(none)),
            children: drill.each_child(|path| by_region.get(path).copied().unwrap_or(none)),
        })
    }

    /// Each reporting unit's credibility from every check of its records in a subtree,
    /// least credible first.
    pub async fn unit_credibility(
        &self,
        scope: &Scope,
        region_code: Option<&str>,
    ) -> Result<Vec<UnitCredibility>, StorageError> {
        let drill = self.drill_down(scope, region_code).await?;
        let histories = self.unit_histories(&drill.path).await?;
        let names: HashMap<i64, String> = {
            let ids: Vec<i64> = histories.keys().filter_map(|k| *k).collect();
            let mut names = HashMap::new();
            for chunk in ids.chunks(500) {
                let rows: Vec<(i64, String)> = on_read_pool!(self, |pool| {
                    let mut query =
                        QueryBuilder::new("SELECT id, name FROM organizations WHERE id IN (");
                    let mut separated = query.separated(", ");
                    for id in chunk {
                        separated.push_bind(*id);
                    }
                    query.push(")");
                    query.build_query_as().fetch_all(pool).await
                })?;
                names.extend(rows);
            }
            names
        };
        let mut units: Vec<UnitCredibility> = histories
            .into_iter()
            .map(|(unit, history)| {
                let checked = u32::try_from(history.len()).unwrap_or(u32::MAX);
                let accurate =
                    u32::try_from(history.iter().filter(|a| a.accurate).count()).unwrap_or(0);
                let mean_relative_error = if history.is_empty() {
                    0.0
                } else {
                    history.iter().map(|a| a.relative_error).sum::<f64>() / history.len() as f64
                };
                UnitCredibility {
                    organization_id: unit,
                    organization_name: unit.and_then(|u| names.get(&u).cloned()),
                    checked,
                    accurate,
                    mean_relative_error,
                    credibility: verification::credibility(&history),
                }
            })
            .collect();
        units.sort_by(|a, b| {
            a.credibility
                .total_cmp(&b.credibility)
                .then(a.organization_id.cmp(&b.organization_id))
        });
        Ok(units)
    }

    /// Fresh, stale and never-verified records in a subtree and each child region, with the
    /// stale period given or the setting's. One `GROUP BY` over the subtree's records, by the
    /// prefix of their path that names the child region: O(records in the subtree).
    pub async fn verification_freshness(
        &self,
        scope: &Scope,
        region_code: Option<&str>,
        stale_after_days: Option<u32>,
    ) -> Result<FreshnessView, StorageError> {
        let stale_after_days = match stale_after_days {
            Some(days) => check_stale_after(days).map(|()| days)?,
            None => self.stale_after_days().await?,
        };
        let drill = self.drill_down(scope, region_code).await?;
        let cutoff = stale_cutoff(crate::now(), stale_after_days);
        let (low, high) = drill.path.subtree_range();
        let prefix_length = drill
            .children
            .first()
            .map_or(drill.path.as_str().len(), |(path, _, _)| path.len());
        let rows: Vec<(String, i64, i64, i64)> = on_read_pool!(self, |pool| sqlx::query_as(
            "SELECT substr(region_path, 1, CAST($3 AS INTEGER)) AS prefix, \
             COUNT(CASE WHEN last_verified_at >= $4 THEN 1 END), \
             COUNT(CASE WHEN last_verified_at < $4 THEN 1 END), \
             COUNT(CASE WHEN last_verified_at IS NULL THEN 1 END) \
             FROM potential_records WHERE holding_key >= $1 AND holding_key < $2 \
             AND region_path >= $1 AND region_path < $2 \
             GROUP BY substr(region_path, 1, CAST($3 AS INTEGER))"
        )
        .bind(&low)
        .bind(&high)
        .bind(i64::try_from(prefix_length).unwrap_or(i64::MAX))
        .bind(cutoff)
        .fetch_all(pool)
        .await)?;
        let mut by_prefix: HashMap<String, [u32; 3]> = HashMap::new();
        let mut total = [0u32; 3];
        for (prefix, fresh, stale, never) in rows {
            let counts = [fresh, stale, never].map(|c| u32::try_from(c).unwrap_or(u32::MAX));
            for (sum, add) in total.iter_mut().zip(counts) {
                *sum = sum.saturating_add(add);
            }
            by_prefix.insert(prefix, counts);
        }
        Ok(FreshnessView {
            stale_after_days,
            total: drill.own(freshness_counts(total)),
            children: drill.each_child(|path| {
                freshness_counts(by_prefix.get(path).copied().unwrap_or_default())
            }),
        })
    }

    /// Records in a subtree not verified within the stale period (never verified first, then
    /// the oldest), a page at a time: `after` is the (last verified or -1, id) of the last
    /// record of the previous page. A page holds at most [`STALE_RECORDS_MAX`].
    pub async fn stale_records(
        &self,
        scope: &Scope,
        region_code: Option<&str>,
        stale_after_days: Option<u32>,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<PotentialRecord>, StorageError> {
        let stale_after_days = match stale_after_days {
            Some(days) => check_stale_after(days).map(|()| days)?,
            None => self.stale_after_days().await?,
        };
        let path = match region_code {
            None => scope.subtree().clone(),
            Some(code) => self.region(scope, code).await?.region_path(),
        };
        let (low, high) = path.subtree_range();
        let cutoff = stale_cutoff(crate::now(), stale_after_days);
        let (after_verified, after_id) = after.unwrap_or((-2, 0));
        let records: Vec<PotentialRecord> = on_read_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT * FROM potential_records WHERE holding_key >= $1 AND holding_key < $2 \
             AND region_path >= $1 AND region_path < $2 \
             AND (last_verified_at IS NULL OR last_verified_at < $3) \
             AND (COALESCE(last_verified_at, -1) > $4 OR (COALESCE(last_verified_at, -1) = $4 AND id > $5)) \
             ORDER BY COALESCE(last_verified_at, -1), id LIMIT $6"
        )
        .bind(&low)
        .bind(&high)
        .bind(cutoff)
        .bind(after_verified)
        .bind(after_id)
        .bind(limit.clamp(1, STALE_RECORDS_MAX))
        .fetch_all(pool)
        .await
        })?;
        Ok(records.into_iter().map(|r| r.masked_for(scope)).collect())
    }

    /// Each reporting unit's checks in a subtree (None: records without a reporting unit).
    async fn unit_histories(
        &self,
        path: &RegionPath,
    ) -> Result<BTreeMap<Option<i64>, Vec<Assessment>>, StorageError> {
        let (low, high) = path.subtree_range();
        let rows: Vec<(Option<i64>, i64, f64)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT reporting_organization_id, accurate, relative_error FROM verification_items \
             WHERE region_path >= $1 AND region_path < $2 AND status = 'found'"
        )
        .bind(&low)
        .bind(&high)
        .fetch_all(pool)
        .await
        })?;
        let mut histories: BTreeMap<Option<i64>, Vec<Assessment>> = BTreeMap::new();
        for (unit, accurate, relative_error) in rows {
            histories
                .entry(unit)
                .or_default()
                .push(stored_assessment(accurate, relative_error));
        }
        Ok(histories)
    }

    /// Candidates, the draw, and the parameters to store with it.
    async fn plan_sample(
        &self,
        actor: &Actor,
        request: &SampleRequest,
        now: Timestamp,
    ) -> Result<PlannedSample, StorageError> {
        if !may_run_verification(actor) {
            return Err(StorageError::forbidden(
                "only office staff draw verification samples",
                "只有动员办工作人员才能抽取核查样本",
            ));
        }
        let scope = actor.scope();
        let (path, region_code) = match &request.region_code {
            None => (
                scope.subtree().clone(),
                scope
                    .subtree()
                    .codes()
                    .last()
                    .map(|c| c.as_str().to_owned()),
            ),
            Some(code) => match self.region(scope, code).await {
                Ok(region) => (region.region_path(), Some(region.code)),
                Err(StorageError::NotFound { .. }) => {
                    // Tell a writer apart from a reader: a region that exists outside the
                    // scope is a 403, not a 404.
                    return Err(match self.region(&Scope::everything(), code).await {
                        Ok(_) => StorageError::out_of_scope("region", code),
                        Err(e) => e,
                    });
                }
                Err(e) => return Err(e),
            },
        };
        let seed = request.seed.unwrap_or_else(|| rand::random::<u64>() >> 11);
        if i64::try_from(seed).is_err() {
            return Err(seed_too_large());
        }
        let stale_after_days = self.stale_after_days().await?;
        let (low, high) = path.subtree_range();
        // Streamed, each row's text interned as it arrives: a province's millions of
        // candidates are held once, about a hundred bytes each.
        let candidates: Vec<verification::SampleCandidate> = on_read_pool!(self, |pool| {
            let mut rows = sqlx::query(
                "SELECT r.id, r.region_path, r.type_code, r.quantity, r.previous_quantity, r.last_verified_at, \
                 r.reporting_organization_id FROM potential_records r \
                 WHERE r.holding_key >= $1 AND r.holding_key < $2 AND r.region_path >= $1 AND r.region_path < $2 \
                 AND ($3 IS NULL OR r.round_id = $3) \
                 AND NOT EXISTS (SELECT 1 FROM verification_items i WHERE i.record_id = r.id AND i.status <> 'found')",
            )
            .bind(&low)
            .bind(&high)
            .bind(request.round_id)
            .fetch(pool);
            let mut interned = CandidateText::default();
            let mut candidates = Vec::new();
            while let Some(row) = rows.try_next().await? {
                let (region_path, stratum) = interned.region(row.try_get(1)?);
                candidates.push(verification::SampleCandidate {
                    record_id: row.try_get(0)?,
                    stratum,
                    region_path,
                    type_code: interned.type_code(row.try_get(2)?),
                    quantity: row.try_get(3)?,
                    previous_quantity: row.try_get(4)?,
                    last_verified: row
                        .try_get::<Option<i64>, _>(5)?
                        .map(Timestamp::from_millis),
                    reporting_unit: row
                        .try_get::<Option<i64>, _>(6)?
                        .unwrap_or(NO_REPORTING_UNIT),
                });
            }
            Ok::<_, sqlx::Error>(candidates)
        })?;
        let tolerance = request.tolerance;
        let mut parameters = SampleParameters {
            method: String::new(),
            count: None,
            percent: None,
            total: None,
            weights: None,
            tolerance: tolerance.relative(),
            reopen_above: tolerance.reopen_above(),
            stale_after_days,
            drawn_at: now.as_millis(),
            candidates: candidates.len(),
            risk: BTreeMap::new(),
        };
        let invalid = |e: verification::SampleError| StorageError::Refused {
            field: "sample",
            message: e.to_string(),
            message_zh: e.zh(),
        };
        let record_ids = match request.method {
            SampleMethod::Stratified(size) => {
                parameters.method = "stratified".into();
                match size {
                    SampleSize::Count(count) => parameters.count = Some(count),
                    SampleSize::Percent(percent) => parameters.percent = Some(percent),
                }
                verification::draw_stratified(&candidates, size, seed).map_err(invalid)?
            }
            SampleMethod::RiskBased { total, weights } => {
                if usize::try_from(total).map_or(true, |total| total > MAX_SAMPLE_SIZE) {
                    return Err(StorageError::refused(
                        "total",
                        format!(
                            "a sample is at most {MAX_SAMPLE_SIZE} records, found a total of {total}"
                        ),
                        format!("一个核查样本最多 {MAX_SAMPLE_SIZE} 条记录，实为 {total} 条"),
                    ));
                }
                parameters.method = "risk".into();
                parameters.total = Some(total);
                parameters.weights = Some([
                    weights.peer_deviation(),
                    weights.year_change(),
                    weights.staleness(),
                    weights.unit_unreliability(),
                ]);
                let unit_credibility: HashMap<i64, f64> = self
                    .unit_histories(&path)
                    .await?
                    .into_iter()
                    .map(|(unit, history)| {
                        (
                            unit.unwrap_or(NO_REPORTING_UNIT),
                            verification::credibility(&history),
                        )
                    })
                    .collect();
                let context = RiskContext {
                    now,
                    stale_after_days,
                    unit_credibility,
                };
                let drawn =
                    verification::draw_risk_scored(&candidates, total, &weights, &context, seed)
                        .map_err(invalid)?;
                let mut record_ids = Vec::with_capacity(drawn.len());
                for score in drawn {
                    record_ids.push(score.record_id);
                    parameters.risk.insert(
                        score.record_id,
                        StoredRisk {
                            score: score.score,
                            reasons: score.reasons.iter().map(|r| r.to_string()).collect(),
                            reasons_zh: score.reasons.iter().map(|r| r.zh()).collect(),
                        },
                    );
                }
                record_ids
            }
        };
        if record_ids.len() > MAX_SAMPLE_SIZE {
            return Err(StorageError::refused(
                "sample",
                format!(
                    "this draw would give {} records; a sample is at most {MAX_SAMPLE_SIZE}. Use a smaller count or percentage, or a smaller region",
                    record_ids.len()
                ),
                format!(
                    "按此抽取将得到 {} 条记录，一个核查样本最多 {MAX_SAMPLE_SIZE} 条。请减少数量或比例，或选择更小的行政区划",
                    record_ids.len()
                ),
            ));
        }
        // Both are in record id order for the binary search; the candidates are not.
        let drawn = candidates
            .into_iter()
            .filter(|c| record_ids.binary_search(&c.record_id).is_ok())
            .collect();
        Ok(PlannedSample {
            path,
            region_code,
            seed,
            parameters,
            record_ids,
            drawn,
        })
    }

    /// A region and its children, for the per-region figures.
    async fn drill_down(
        &self,
        scope: &Scope,
        region_code: Option<&str>,
    ) -> Result<DrillDown, StorageError> {
        let code = region_code.map(str::to_owned).or_else(|| {
            scope
                .subtree()
                .codes()
                .last()
                .map(|c| c.as_str().to_owned())
        });
        let view = self.region_view(scope, code.as_deref()).await?;
        let (path, own_code, own_name) = match &view.region {
            Some(region) => (
                region.region_path(),
                Some(region.code.clone()),
                Some(region.name.clone()),
            ),
            None => (RegionPath::root(), None, None),
        };
        Ok(DrillDown {
            path,
            code: own_code,
            name: own_name,
            children: view
                .children
                .into_iter()
                .map(|c| (c.path, c.code, c.name))
                .collect(),
        })
    }
}

struct PlannedSample {
    path: RegionPath,
    region_code: Option<String>,
    seed: u64,
    parameters: SampleParameters,
    /// Record ids, sorted.
    record_ids: Vec<i64>,
    /// The candidates drawn, in no particular order.
    drawn: Vec<verification::SampleCandidate>,
}

/// A region (or the root) and its children as (path, code, name).
struct DrillDown {
    path: RegionPath,
    code: Option<String>,
    name: Option<String>,
    children: Vec<(String, String, String)>,
}

impl DrillDown {
    fn own<T>(&self, figure: T) -> RegionFigure<T> {
        RegionFigure {
            region_code: self.code.clone(),
            region_name: self.name.clone(),
            region_path: self.path.as_str().to_owned(),
            figure,
        }
    }

    fn each_child<T>(&self, mut figure: impl FnMut(&str) -> T) -> Vec<RegionFigure<T>> {
        self.children
            .iter()
            .map(|(path, code, name)| RegionFigure {
                region_code: Some(code.clone()),
                region_name: Some(name.clone()),
                region_path: path.clone(),
                figure: figure(path),
            })
            .collect()
    }
}

/// The advisory lock PostgreSQL draws take (an arbitrary constant of Muster's).
const SAMPLE_DRAW_LOCK: i64 = 0x4D55_5354_5631; // "MUSTV1"

/// Inside a draw's write: refuses the draw when another sample took one of its records
/// between the reading of the candidates and this write, so that no record is out in two
/// open samples at once. On PostgreSQL draws wait for one another here until they commit;
/// SQLite's one writer does the same.
async fn refuse_records_drawn_meanwhile(
    tx: &mut WriteTx,
    record_ids: &[i64],
) -> Result<(), StorageError> {
    if let WriteTx::Postgres(conn) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SAMPLE_DRAW_LOCK)
            .execute(&mut **conn)
            .await?;
    }
    let mut taken = 0_i64;
    for chunk in record_ids.chunks(ITEMS_PER_INSERT) {
        let found: i64 = on_tx!(&mut *tx, |conn| {
            let mut query = QueryBuilder::new(
                "SELECT COUNT(*) FROM verification_items WHERE status <> 'found' AND record_id IN (",
            );
            let mut ids = query.separated(", ");
            for id in chunk {
                ids.push_bind(*id);
            }
            query.push(")");
            query.build_query_scalar().fetch_one(&mut *conn).await
        })?;
        taken += found;
    }
    if taken > 0 {
        return Err(StorageError::Conflict {
            field: "sample",
            message: format!(
                "{taken} of the records drawn went into another sample meanwhile; draw again"
            ),
            message_zh: Some(format!(
                "抽中的记录中有 {taken} 条刚被另一个样本抽走，请重新抽取"
            )),
        });
    }
    Ok(())
}

/// An assessment as far as the stored item keeps it (accuracy and the relative error are
/// what accuracy and credibility use).
fn stored_assessment(accurate: i64, relative_error: f64) -> Assessment {
    Assessment {
        accurate: accurate != 0,
        relative_error,
        reopen: false,
        correction: None,
    }
}

fn freshness_counts([fresh, stale, never_verified]: [u32; 3]) -> FreshnessCounts {
    let total = fresh.saturating_add(stale).saturating_add(never_verified);
    FreshnessCounts {
        fresh,
        stale,
        never_verified,
        share_fresh: if total == 0 {
            0.0
        } else {
            f64::from(fresh) / f64::from(total)
        },
    }
}

/// The earliest verification time that is still fresh: the domain calls a record stale when
/// now − verified > the period, that is when verified < now − period.
fn stale_cutoff(now: Timestamp, stale_after_days: u32) -> i64 {
    now.as_millis()
        .saturating_sub(i64::from(stale_after_days).saturating_mul(86_400_000))
}

fn check_stale_after(days: u32) -> Result<(), StorageError> {
    if (1..=MAX_STALE_AFTER_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(StorageError::refused(
            "stale_after_days",
            format!("a stale period is 1 to {MAX_STALE_AFTER_DAYS} days"),
            format!("过期天数应为 1 至 {MAX_STALE_AFTER_DAYS} 天"),
        ))
    }
}

/// A seed beyond what the database's signed 64-bit column holds.
fn seed_too_large() -> StorageError {
    StorageError::refused(
        "seed",
        "a seed is at most 9223372036854775807",
        "随机种子最大为 9223372036854775807",
    )
}

fn check_finding(input: &FindingInput) -> Result<(), StorageError> {
    if !(input.quantity_seen.is_finite() && input.quantity_seen >= 0.0) {
        return Err(StorageError::Refused {
            field: "quantity_seen",
            message: "the quantity seen is a number, 0 or more".into(),
            message_zh: "实见数量应为不小于 0 的数字".into(),
        });
    }
    if input.notes.chars().count() > MAX_NOTES_CHARS {
        return Err(StorageError::Refused {
            field: "notes",
            message: format!("notes are at most {MAX_NOTES_CHARS} characters"),
            message_zh: format!("备注最多 {MAX_NOTES_CHARS} 个字符"),
        });
    }
    if input.photos.len() > MAX_PHOTOS {
        return Err(StorageError::Refused {
            field: "photos",
            message: format!("at most {MAX_PHOTOS} photos"),
            message_zh: format!("最多 {MAX_PHOTOS} 张照片"),
        });
    }
    if let Some(index) = input
        .photos
        .iter()
        .position(|p| !crate::ContentHash::is_canonical(p))
    {
        return Err(StorageError::Refused {
            field: "photos",
            message: format!(
                "photos[{index}]: expected the SHA-256 of a stored photo, 64 lowercase hex digits"
            ),
            message_zh: format!(
                "第 {} 张照片：应为已上传照片的 SHA-256（64 位小写十六进制）",
                index + 1
            ),
        });
    }
    Ok(())
}

/// What a verification changes on a record, for its audit entry.
fn verified_state(record: &PotentialRecord) -> serde_json::Value {
    serde_json::json!({
        "quantity": record.quantity,
        "verified_quantity": record.verified_quantity,
        "last_verified_at": record.last_verified_at,
        "reopened": record.reopened,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stratum_is_the_county_or_the_deepest_code_above_it() {
        let p = |t: &str| RegionPath::parse(t).expect("path");
        assert_eq!(county_of(&p("/34/3401/340104/340104001/")), "340104");
        assert_eq!(county_of(&p("/34/3401/340104/")), "340104");
        assert_eq!(county_of(&p("/34/3401/")), "3401");
        assert_eq!(county_of(&RegionPath::root()), "/");
    }

    #[test]
    fn the_cutoff_matches_the_domain_rule() {
        let now = Timestamp::from_millis(1_000 * 86_400_000);
        let cutoff = stale_cutoff(now, 30);
        for (verified, stale) in [(cutoff, false), (cutoff - 1, true), (cutoff + 1, false)] {
            let domain = verification::freshness(Some(Timestamp::from_millis(verified)), now, 30);
            assert_eq!(
                domain == verification::Freshness::Stale,
                stale,
                "at {verified}"
            );
            assert_eq!(verified < cutoff, stale);
        }
    }

    #[test]
    fn findings_are_checked_before_anything_is_written() {
        let good = FindingInput {
            quantity_seen: 3.0,
            location_right: true,
            type_right: true,
            notes: String::new(),
            photos: vec![crate::ContentHash::of(b"photo").as_str().to_owned()],
        };
        assert!(check_finding(&good).is_ok());
        for bad in [
            FindingInput {
                quantity_seen: -1.0,
                ..good.clone()
            },
            FindingInput {
                quantity_seen: f64::NAN,
                ..good.clone()
            },
            FindingInput {
                photos: vec!["IMG_0001.jpg".into()],
                ..good.clone()
            },
            FindingInput {
                photos: vec![good.photos[0].to_uppercase()],
                ..good.clone()
            },
            FindingInput {
                photos: vec![good.photos[0].clone(); MAX_PHOTOS + 1],
                ..good.clone()
            },
        ] {
            assert!(check_finding(&bad).is_err(), "{bad:?}");
        }
    }
}
