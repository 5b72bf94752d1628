//! Survey rounds: an office asks its subtree to report its potential, the reports are
//! reviewed up the hierarchy, and the round's dashboard shows how complete, how timely and
//! how the figures moved.
//!
//! Everything here is the logic storage calls, with no storage in it:
//!
//! * [`NewRound::validate`] checks what an office asks for before a round is opened.
//! * [`plan_assignments`] decomposes a round into one assignment per region below the
//!   round's region and one per member unit in the subtree, plus a root assignment for the
//!   opening office, ordered so that storage can insert parents before children.
//! * [`submit`], [`approve`] and [`send_back`] are the review state machine: each takes the
//!   current state and returns the new one or a [`TransitionError`] that tells the user what
//!   to do. [`reviewer_region`] and [`may_review`] say who reviews.
//! * [`diff_versions`] and [`same_content`] compare two versions of one submission by
//!   holding key, so that a correction is shown as what changed, never as a second copy.
//! * [`timeliness`], [`completeness_by_region`] and [`FigureMovement`] are the dashboard;
//!   [`movement_by_type`] defines its figures, which storage sums in SQL.
//!
//! The review chain, in one picture, for a province round:
//!
//! ```text
//! province (root, the opening office)          reviews itself last
//! ├── province-level member unit               reviewed by the province
//! └── city                                     reviewed by the province
//!     ├── city-level member unit               reviewed by the city
//!     └── county                               reviewed by the city
//!         └── county-level member unit         reviewed by the county
//! ```
//!
//! A level is approved only when every assignment directly below it is, and approval is
//! only ever given bottom-up, so an approved root means the whole round is approved.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::organization::{Role, string_enum};
use crate::potential::rollup::enclosing_paths;
use crate::potential::{Holder, RecordDraft};
use crate::region::{RegionLevel, RegionPath};
use crate::scope::Actor;
use crate::taxonomy::AttributeValue;
use crate::time::Timestamp;

/// The longest round title, in characters: a title is a line on a dashboard, not a notice.
pub const MAX_TITLE_CHARS: usize = 200;

/// The longest review comment, in characters: room for a list of corrections, not a report.
pub const MAX_COMMENT_CHARS: usize = 2000;

string_enum! {
    /// Whether a round still takes submissions and reviews. A closed round is a record of
    /// what was reported; nothing in it changes any more.
    RoundStatus {
        Open => "open",
        Closed => "closed",
    }
}

string_enum! {
    /// Where one assignment of a round stands in the review chain.
    ///
    /// `pending` → `submitted` → `approved`, with `returned` when a reviewer sends a
    /// submission (or an approval not yet built upon) back for correction.
    AssignmentStatus {
        Pending => "pending",
        Submitted => "submitted",
        Returned => "returned",
        Approved => "approved",
    }
}

string_enum! {
    /// What became of one version of a submission. Only the assignment's current version
    /// is `submitted`, `returned` or `approved`; a version replaced by a newer one before
    /// anyone reviewed it is `superseded`, so that every version stays, and the history
    /// says which one the reviewer actually saw.
    SubmissionStatus {
        Submitted => "submitted",
        Superseded => "superseded",
        Returned => "returned",
        Approved => "approved",
    }
}

string_enum! {
    /// Whether an assignment reported in time. Judged on its *first* submission: a unit
    /// that reported on time and was then asked to correct its report did report on time;
    /// the correction is the reviewers' business, not a lateness.
    ///
    /// An assignment that has not reported is `pending` until the deadline has passed and
    /// `missing` after, so that a dashboard opened the day a round starts does not show
    /// every unit as missing.
    Timeliness {
        OnTime => "on_time",
        Late => "late",
        Pending => "pending",
        Missing => "missing",
    }
}

impl RoundStatus {
    /// Whether submissions and reviews are still accepted.
    pub const fn is_open(self) -> bool {
        matches!(self, RoundStatus::Open)
    }
}

impl AssignmentStatus {
    /// The status of the assignment's current submission, or `None` while nothing has been
    /// submitted. Storage keeps the two in step with this.
    pub const fn current_submission_status(self) -> Option<SubmissionStatus> {
        match self {
            AssignmentStatus::Pending => None,
            AssignmentStatus::Submitted => Some(SubmissionStatus::Submitted),
            AssignmentStatus::Returned => Some(SubmissionStatus::Returned),
            AssignmentStatus::Approved => Some(SubmissionStatus::Approved),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Opening a round
// ---------------------------------------------------------------------------------------

/// What an office asks for when it opens a round for its subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRound {
    pub title: String,
    /// The opening office's region: the round covers its whole subtree.
    pub region_path: RegionPath,
    /// The resource types the round asks about; reports of other types are refused.
    pub type_codes: BTreeSet<String>,
    pub deadline: Timestamp,
}

/// One thing wrong with a [`NewRound`]. All of them are reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoundProblem {
    #[error("give the round a title")]
    TitleMissing,
    #[error("the title has {length} characters, more than the {MAX_TITLE_CHARS} allowed")]
    TitleTooLong { length: usize },
    #[error("choose at least one resource type for the round")]
    NoTypes,
    #[error("{code:?} is not a resource type in the taxonomy")]
    UnknownType { code: String },
    #[error("the deadline has to be in the future")]
    DeadlineNotInFuture,
}

impl RoundProblem {
    /// The message in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        match self {
            RoundProblem::TitleMissing => "请填写本轮调查的标题".into(),
            RoundProblem::TitleTooLong { length } => {
                format!("标题共 {length} 个字符，请控制在 {MAX_TITLE_CHARS} 个以内")
            }
            RoundProblem::NoTypes => "请至少选择一种资源类型".into(),
            RoundProblem::UnknownType { code } => format!("{code} 不是分类目录中的资源类型"),
            RoundProblem::DeadlineNotInFuture => "截止期限须晚于现在".into(),
        }
    }

    /// The form field the problem is about.
    pub fn field(&self) -> &'static str {
        match self {
            RoundProblem::TitleMissing | RoundProblem::TitleTooLong { .. } => "title",
            RoundProblem::NoTypes | RoundProblem::UnknownType { .. } => "type_codes",
            RoundProblem::DeadlineNotInFuture => "deadline",
        }
    }
}

impl NewRound {
    /// Checks the round against the taxonomy (`known_type`) and the current time. Every
    /// problem is returned, in the order of the form's fields, so that the office fixes
    /// them in one go.
    pub fn validate(
        &self,
        now: Timestamp,
        known_type: impl Fn(&str) -> bool,
    ) -> Result<(), Vec<RoundProblem>> {
        let mut problems = Vec::new();
        let title_length = self.title.trim().chars().count();
        if title_length == 0 {
            problems.push(RoundProblem::TitleMissing);
        } else if title_length > MAX_TITLE_CHARS {
            problems.push(RoundProblem::TitleTooLong {
                length: title_length,
            });
        }
        if self.type_codes.is_empty() {
            problems.push(RoundProblem::NoTypes);
        }
        problems.extend(
            self.type_codes
                .iter()
                .filter(|code| !known_type(code))
                .map(|code| RoundProblem::UnknownType { code: code.clone() }),
        );
        if self.deadline <= now {
            problems.push(RoundProblem::DeadlineNotInFuture);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Decomposition
// ---------------------------------------------------------------------------------------

/// A region as the decomposition needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionNode {
    pub code: String,
    pub path: RegionPath,
    /// Not used by the plan, which goes by paths; the caller chooses how deep a round goes
    /// (say, down to counties) by which regions it passes, and may filter on this.
    pub level: RegionLevel,
}

/// A member unit (a department that reports its sector's potential) and its region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitNode {
    pub organization_id: i64,
    pub region_path: RegionPath,
}

/// Identifies an assignment within one plan before storage gives it an id: a region's
/// assignment is its path with no organization, a member unit's is its region's path and
/// its organization id.
///
/// The derived order (path, then `None` before any organization) is the plan's order, and
/// it puts every parent before its children: a region's parent path is a proper prefix of
/// its path, and a unit's parent is its region's own assignment, which sorts first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AssignmentKey {
    pub region_path: RegionPath,
    pub organization_id: Option<i64>,
}

/// One assignment of a planned round: a line of `round_assignments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedAssignment {
    pub key: AssignmentKey,
    /// The assignment that reviews this one; `None` only for the root.
    pub parent: Option<AssignmentKey>,
    pub region_path: RegionPath,
    /// The code of the assignment's region; `None` for the root of a national round.
    pub region_code: Option<String>,
    /// Set for a member unit's assignment.
    pub organization_id: Option<i64>,
}

impl PlannedAssignment {
    pub fn is_root(&self) -> bool {
        self.parent.is_none()
    }

    pub fn is_member_unit(&self) -> bool {
        self.organization_id.is_some()
    }
}

/// Decomposes a round opened for `round_region` into its assignments:
///
/// * the root, for the round's own region: the opening office, which approves last;
/// * one per region strictly below the round's region, whose parent is the assignment of
///   its parent region (the root for the top ones);
/// * one per member unit in the subtree (its own region included), whose parent is the
///   assignment of the unit's region.
///
/// Regions and units outside the subtree are ignored, as are repeats (the first by path
/// wins for a unit listed twice). Where a region between an assignment and the root was
/// not passed in, the assignment hangs from its nearest enclosing planned region, so that a
/// gap in the region list never leaves an assignment without a reviewer.
///
/// The result is sorted by [`AssignmentKey`], which puts parents before children; keys are
/// unique. O((r + u) log(r + u)) for r regions and u units, with at most five ancestor
/// look-ups per entry.
pub fn plan_assignments(
    round_region: &RegionPath,
    regions: &[RegionNode],
    member_units: &[UnitNode],
) -> Vec<PlannedAssignment> {
    // Region path → code of every region that gets an assignment, the root included.
    let mut region_codes: BTreeMap<RegionPath, Option<String>> = BTreeMap::new();
    region_codes.insert(round_region.clone(), last_code(round_region));
    for region in regions {
        if region.path != *round_region && round_region.contains(&region.path) {
            region_codes
                .entry(region.path.clone())
                .or_insert_with(|| Some(region.code.clone()));
        }
    }

    let region_key = |path: &RegionPath| AssignmentKey {
        region_path: path.clone(),
        organization_id: None,
    };
    // The nearest proper ancestor of `path` (or `path` itself when `include_self`) that has
    // a region assignment. The root always qualifies, so this only falls back for a path
    // outside the round, which the callers below never pass.
    let nearest_planned = |path: &RegionPath, include_self: bool| -> AssignmentKey {
        enclosing_paths(path)
            .into_iter()
            .rev()
            .filter(|candidate| include_self || candidate != path)
            .find(|candidate| {
                round_region.contains(candidate) && region_codes.contains_key(candidate)
            })
            .map_or_else(|| region_key(round_region), |found| region_key(&found))
    };

    let mut plan = Vec::with_capacity(region_codes.len() + member_units.len());
    for (path, code) in &region_codes {
        let parent = (path != round_region).then(|| nearest_planned(path, false));
        plan.push(PlannedAssignment {
            key: region_key(path),
            parent,
            region_path: path.clone(),
            region_code: code.clone(),
            organization_id: None,
        });
    }

    let mut units: Vec<&UnitNode> = member_units
        .iter()
        .filter(|unit| round_region.contains(&unit.region_path))
        .collect();
    units.sort_by(|a, b| {
        (&a.region_path, a.organization_id).cmp(&(&b.region_path, b.organization_id))
    });
    let mut seen_units = BTreeSet::new();
    for unit in units {
        if !seen_units.insert(unit.organization_id) {
            continue;
        }
        let region_code = region_codes
            .get(&unit.region_path)
            .cloned()
            .unwrap_or_else(|| last_code(&unit.region_path));
        plan.push(PlannedAssignment {
            key: AssignmentKey {
                region_path: unit.region_path.clone(),
                organization_id: Some(unit.organization_id),
            },
            parent: Some(nearest_planned(&unit.region_path, true)),
            region_path: unit.region_path.clone(),
            region_code,
            organization_id: Some(unit.organization_id),
        });
    }
    plan.sort_by(|a, b| a.key.cmp(&b.key));
    plan
}

/// The code of the region a path ends in; `None` for the national root.
fn last_code(path: &RegionPath) -> Option<String> {
    path.codes().last().map(|code| code.as_str().to_owned())
}

// ---------------------------------------------------------------------------------------
// Review: who, and the state machine
// ---------------------------------------------------------------------------------------

/// The region whose office reviews an assignment: the region of its parent assignment, or
/// the round's own region for the root, which the opening office approves last.
///
/// Storage checks the reviewer's scope against *this* region, not the assignment's own:
/// every office's scope contains its own region, so checking the assignment's region would
/// let an office approve its own report.
pub fn reviewer_region<'a>(
    parent_region: Option<&'a RegionPath>,
    round_region: &'a RegionPath,
) -> &'a RegionPath {
    parent_region.unwrap_or(round_region)
}

/// Whether `actor` may approve or send back an assignment whose [`reviewer_region`] is
/// `reviewer_region`: office staff (or an administrator) whose scope contains it. A member
/// unit's officer shares its county office's region, so the role is what keeps units from
/// approving their own reports.
pub fn may_review(actor: &Actor, reviewer_region: &RegionPath) -> bool {
    (actor.has_role(Role::OfficeStaff) || actor.administers())
        && actor.scope().contains(reviewer_region)
}

/// Whether `actor` runs a round over `round_region` (closes it, gives more time): the same
/// people who review at that region, office staff or an administrator at it or above.
pub fn may_run_round(actor: &Actor, round_region: &RegionPath) -> bool {
    may_review(actor, round_region)
}

/// A transition refused, with what the user can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransitionError {
    #[error("the round is closed; it no longer takes submissions or reviews")]
    RoundClosed,
    #[error(
        "this report is already approved; ask the reviewer to send it back before submitting a correction"
    )]
    AlreadyApproved,
    #[error("nothing has been submitted yet, so there is nothing to review")]
    NothingSubmitted,
    #[error(
        "this report was sent back for correction; review it again once the corrected version is submitted"
    )]
    AwaitingCorrection,
    #[error("this report is already approved")]
    ApprovedAlready,
    #[error(
        "{not_approved} of the {below} reports below this one are not approved yet; approve them first"
    )]
    ChildrenNotApproved { not_approved: usize, below: usize },
    #[error(
        "the level above has already approved this report; ask its reviewer to send that back first"
    )]
    ParentApproved,
    #[error("say what needs correcting: a comment is required to send a report back")]
    CommentMissing,
    #[error("the comment has {length} characters, more than the {MAX_COMMENT_CHARS} allowed")]
    CommentTooLong { length: usize },
    #[error(
        "a deadline is only extended: the new one has to be later than the current one and still to come"
    )]
    DeadlineNotExtended,
    #[error("the round is open; only a closed round is reopened")]
    RoundOpen,
    #[error("this unit has already reported; more time would only rewrite its timeliness")]
    AlreadyReported,
    #[error("a round is reopened until a deadline still to come")]
    ReopenDeadlinePassed,
}

impl TransitionError {
    /// The input the refusal is about, when it is one the user typed (a comment, a deadline)
    /// rather than where the report or round stands.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            TransitionError::CommentMissing | TransitionError::CommentTooLong { .. } => {
                Some("comment")
            }
            TransitionError::DeadlineNotExtended | TransitionError::ReopenDeadlinePassed => {
                Some("deadline")
            }
            _ => None,
        }
    }

    /// The message in Chinese, for the Chinese pages.
    pub fn zh(&self) -> String {
        match self {
            TransitionError::RoundClosed => "本轮调查已结束，不再接受填报和审核".into(),
            TransitionError::AlreadyApproved => {
                "该报告已审核通过；如需更正，请先请审核人退回".into()
            }
            TransitionError::NothingSubmitted => "尚未报送，没有可审核的内容".into(),
            TransitionError::AwaitingCorrection => {
                "该报告已退回更正；请在更正版本报送后再审核".into()
            }
            TransitionError::ApprovedAlready => "该报告已审核通过".into(),
            TransitionError::ChildrenNotApproved {
                not_approved,
                below,
            } => format!("下级 {below} 份报告中还有 {not_approved} 份未审核通过；请先审核下级"),
            TransitionError::ParentApproved => "上级已审核通过本报告；请先请上级审核人退回".into(),
            TransitionError::CommentMissing => "退回时须说明需要更正的内容".into(),
            TransitionError::CommentTooLong { length } => {
                format!("意见共 {length} 个字符，请控制在 {MAX_COMMENT_CHARS} 个以内")
            }
            TransitionError::DeadlineNotExtended => {
                "截止期限只能延后：新期限须晚于原期限且尚未到来".into()
            }
            TransitionError::RoundOpen => "本轮调查仍在进行，只有已结束的调查才能重新开放".into(),
            TransitionError::AlreadyReported => "该单位已经报送；此时延期只会改写其是否按时".into(),
            TransitionError::ReopenDeadlinePassed => "重新开放须给出尚未到来的截止期限".into(),
        }
    }
}

/// A reviewer's reason for sending a report back: trimmed, non-empty and at most
/// [`MAX_COMMENT_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ReviewComment(String);

impl ReviewComment {
    pub fn parse(text: &str) -> Result<Self, TransitionError> {
        let text = text.trim();
        let length = text.chars().count();
        if length == 0 {
            Err(TransitionError::CommentMissing)
        } else if length > MAX_COMMENT_CHARS {
            Err(TransitionError::CommentTooLong { length })
        } else {
            Ok(Self(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Refuses any transition in a closed round. Storage calls it before the transitions
/// below, which judge only the assignment itself.
pub fn ensure_round_open(round: RoundStatus) -> Result<(), TransitionError> {
    if round.is_open() {
        Ok(())
    } else {
        Err(TransitionError::RoundClosed)
    }
}

/// An office closes its round: from then on the round is a record of what was reported, and
/// nothing in it is submitted or reviewed any more. Only an open round closes.
pub fn close_round(round: RoundStatus) -> Result<RoundStatus, TransitionError> {
    ensure_round_open(round)?;
    Ok(RoundStatus::Closed)
}

/// An office reopens a round it closed (too early, or to take in a late report), until a
/// deadline still to come; timeliness is then judged against that deadline, as after an
/// extension. What was reported and approved before stays as it was.
pub fn reopen_round(
    round: RoundStatus,
    deadline: Timestamp,
    now: Timestamp,
) -> Result<RoundStatus, TransitionError> {
    if round.is_open() {
        return Err(TransitionError::RoundOpen);
    }
    if deadline <= now {
        return Err(TransitionError::ReopenDeadlinePassed);
    }
    Ok(RoundStatus::Open)
}

/// An office gives its units more time. A deadline only moves later, to a time still to come,
/// and only while the round is open; timeliness is then judged against the new one (a unit
/// that reported between the two deadlines reported in time: it had been given that time).
pub fn extend_deadline(
    round: RoundStatus,
    current: Timestamp,
    new: Timestamp,
    now: Timestamp,
) -> Result<(), TransitionError> {
    ensure_round_open(round)?;
    if new > current && new > now {
        Ok(())
    } else {
        Err(TransitionError::DeadlineNotExtended)
    }
}

/// A unit submits (a form or a spreadsheet). Every submission is a new version of the same
/// assignment: the first one, a correction of a returned one, or a replacement of one not
/// yet reviewed. An approved report is closed to changes until its reviewer sends it back,
/// because the level above may already be building on it.
pub fn submit(status: AssignmentStatus) -> Result<AssignmentStatus, TransitionError> {
    match status {
        AssignmentStatus::Pending | AssignmentStatus::Returned | AssignmentStatus::Submitted => {
            Ok(AssignmentStatus::Submitted)
        }
        AssignmentStatus::Approved => Err(TransitionError::AlreadyApproved),
    }
}

/// The reviewer approves a submitted report. A level is approved only when every
/// assignment directly below it is (`children`, empty for a unit or the lowest regions);
/// since they in turn were approved only when theirs were, the whole subtree is.
pub fn approve(
    status: AssignmentStatus,
    children: &[AssignmentStatus],
) -> Result<AssignmentStatus, TransitionError> {
    match status {
        AssignmentStatus::Submitted => {}
        AssignmentStatus::Pending => return Err(TransitionError::NothingSubmitted),
        AssignmentStatus::Returned => return Err(TransitionError::AwaitingCorrection),
        AssignmentStatus::Approved => return Err(TransitionError::ApprovedAlready),
    }
    let not_approved = children
        .iter()
        .filter(|child| **child != AssignmentStatus::Approved)
        .count();
    if not_approved > 0 {
        return Err(TransitionError::ChildrenNotApproved {
            not_approved,
            below: children.len(),
        });
    }
    Ok(AssignmentStatus::Approved)
}

/// The reviewer sends a report back for correction, saying why. A submitted report can
/// always be sent back; an approved one only while the level above (`parent`, `None` for
/// the root) has not been approved, because that approval vouched for this report's
/// figures: the upper reviewer has to reopen their level first, top-down.
///
/// Returns the new status and the cleaned comment to store with the submission.
pub fn send_back(
    status: AssignmentStatus,
    parent: Option<AssignmentStatus>,
    comment: &str,
) -> Result<(AssignmentStatus, ReviewComment), TransitionError> {
    match status {
        AssignmentStatus::Submitted | AssignmentStatus::Approved => {}
        AssignmentStatus::Pending => return Err(TransitionError::NothingSubmitted),
        AssignmentStatus::Returned => return Err(TransitionError::AwaitingCorrection),
    }
    if parent == Some(AssignmentStatus::Approved) {
        return Err(TransitionError::ParentApproved);
    }
    let comment = ReviewComment::parse(comment)?;
    Ok((AssignmentStatus::Returned, comment))
}

// ---------------------------------------------------------------------------------------
// Versions and their differences
// ---------------------------------------------------------------------------------------

/// A record of one version, with its row number in that version's file or form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffRow {
    pub row_number: u32,
    pub record: RecordDraft,
}

/// A holding present in both versions whose figures differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub holding_key: String,
    pub before_row: u32,
    pub after_row: u32,
    pub before: RecordDraft,
    pub after: RecordDraft,
    /// What differs: `quantity`, `quality`, `status`, `attributes.<key>`, `holder.name`,
    /// `holder.id`, `holder.id_number`, `holder.phone`, `site`, `coordinates`, and, should
    /// two records share a key without sharing them, `type_code`, `region_code`,
    /// `region_path`, `holder.kind`.
    pub fields: Vec<String>,
}

/// What a new version of a submission changes, holding by holding. Each list is sorted by
/// holding key.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SubmissionDiff {
    pub added: Vec<DiffRow>,
    pub removed: Vec<DiffRow>,
    pub changed: Vec<Change>,
    pub unchanged: usize,
}

impl SubmissionDiff {
    /// Whether the new version differs from the old at all.
    pub fn has_changes(&self) -> bool {
        !(self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty())
    }
}

/// Compares two versions of a submission, matching records by holding key, so that the
/// order of rows and their numbers do not matter.
///
/// The importer refuses a holding twice in one file, but stored versions are compared
/// too, and must never make this panic or lose a row: records sharing a key are matched
/// identical ones first, then the rest in row order, and any left over are added or
/// removed. O(n log n).
pub fn diff_versions(old: &[(u32, RecordDraft)], new: &[(u32, RecordDraft)]) -> SubmissionDiff {
    let old_by_key = group_by_key(old.iter().map(|(row, record)| (*row, record)));
    let new_by_key = group_by_key(new.iter().map(|(row, record)| (*row, record)));
    let keys: BTreeSet<&str> = old_by_key
        .keys()
        .chain(new_by_key.keys())
        .copied()
        .collect();

    let mut diff = SubmissionDiff::default();
    for key in keys {
        let mut befores = old_by_key.get(key).cloned().unwrap_or_default();
        let mut afters = new_by_key.get(key).cloned().unwrap_or_default();
        befores.sort_by_key(|(row, _)| *row);
        afters.sort_by_key(|(row, _)| *row);

        // Identical records first, so that a repeated key does not turn into spurious
        // changes when rows were merely reordered.
        let mut unmatched_befores = Vec::with_capacity(befores.len());
        for before in befores {
            match afters
                .iter()
                .position(|(_, after)| changed_fields(before.1, after).is_empty())
            {
                Some(index) => {
                    afters.remove(index);
                    diff.unchanged += 1;
                }
                None => unmatched_befores.push(before),
            }
        }
        let mut afters = afters.into_iter();
        for (before_row, before) in unmatched_befores {
            match afters.next() {
                Some((after_row, after)) => diff.changed.push(Change {
                    holding_key: key.to_owned(),
                    before_row,
                    after_row,
                    before: before.clone(),
                    after: after.clone(),
                    fields: changed_fields(before, after),
                }),
                None => diff.removed.push(DiffRow {
                    row_number: before_row,
                    record: before.clone(),
                }),
            }
        }
        diff.added
            .extend(afters.map(|(row_number, record)| DiffRow {
                row_number,
                record: record.clone(),
            }));
    }
    diff
}

/// Whether two versions hold the same records, whatever their order: a re-upload of the
/// same data under another file name or with its rows sorted differently. Compared as
/// [`diff_versions`] compares, so that the two never disagree.
pub fn same_content(old: &[RecordDraft], new: &[RecordDraft]) -> bool {
    if old.len() != new.len() {
        return false;
    }
    let old_by_key = group_by_key(old.iter().map(|record| (0, record)));
    let mut new_by_key = group_by_key(new.iter().map(|record| (0, record)));
    for (key, befores) in old_by_key {
        let Some(afters) = new_by_key.get_mut(key) else {
            return false;
        };
        for (_, before) in befores {
            match afters
                .iter()
                .position(|(_, after)| changed_fields(before, after).is_empty())
            {
                Some(index) => {
                    afters.swap_remove(index);
                }
                None => return false,
            }
        }
    }
    new_by_key.values().all(Vec::is_empty)
}

type Grouped<'a> = BTreeMap<&'a str, Vec<(u32, &'a RecordDraft)>>;

fn group_by_key<'a>(records: impl Iterator<Item = (u32, &'a RecordDraft)>) -> Grouped<'a> {
    let mut grouped: Grouped<'a> = BTreeMap::new();
    for (row, record) in records {
        grouped
            .entry(record.holding_key.as_str())
            .or_default()
            .push((row, record));
    }
    grouped
}

/// The fields in which two records of the same holding differ, most telling first.
fn changed_fields(before: &RecordDraft, after: &RecordDraft) -> Vec<String> {
    let mut fields = Vec::new();
    let mut note = |differs: bool, name: &str| {
        if differs {
            fields.push(name.to_owned());
        }
    };
    note(!same_number(before.quantity, after.quantity), "quantity");
    note(before.quality != after.quality, "quality");
    note(before.status != after.status, "status");
    note(before.type_code != after.type_code, "type_code");
    note(before.region_code != after.region_code, "region_code");
    note(before.region_path != after.region_path, "region_path");
    note(before.holder.kind() != after.holder.kind(), "holder.kind");
    for name in holder_differences(&before.holder, &after.holder) {
        note(true, name);
    }
    note(before.site != after.site, "site");
    note(
        !same_coordinates(before.coordinates, after.coordinates),
        "coordinates",
    );
    let attribute_keys: BTreeSet<&String> = before
        .attributes
        .keys()
        .chain(after.attributes.keys())
        .collect();
    for key in attribute_keys {
        let same = match (before.attributes.get(key), after.attributes.get(key)) {
            (Some(a), Some(b)) => same_attribute(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            fields.push(format!("attributes.{key}"));
        }
    }
    fields
}

/// The holder fields that differ, other than the kind (which `changed_fields` names).
fn holder_differences(before: &Holder, after: &Holder) -> Vec<&'static str> {
    let (before_id, before_number, before_phone) = holder_details(before);
    let (after_id, after_number, after_phone) = holder_details(after);
    [
        (before.name() != after.name(), "holder.name"),
        (before_id != after_id, "holder.id"),
        (before_number != after_number, "holder.id_number"),
        (before_phone != after_phone, "holder.phone"),
    ]
    .into_iter()
    .filter_map(|(differs, name)| differs.then_some(name))
    .collect()
}

/// A holder's organization id, identity number and phone, whichever its kind has.
fn holder_details(holder: &Holder) -> (Option<i64>, Option<&str>, Option<&str>) {
    match holder {
        Holder::Organization { id, .. } => (*id, None, None),
        Holder::Person {
            id_number, phone, ..
        } => (None, id_number.as_deref(), phone.as_deref()),
    }
}

/// Numbers as stored: NaN never comes out of the importer, but if one did it must still
/// equal itself, or a re-upload of the same data would never be recognised.
fn same_number(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn same_coordinates(a: Option<(f64, f64)>, b: Option<(f64, f64)>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_number(a.0, b.0) && same_number(a.1, b.1),
        (None, None) => true,
        _ => false,
    }
}

/// Attribute values compared by what they say, not how they were read: a version read
/// back from storage has lost the distinction between a choice and text, and between
/// `12` and `12.0`, which a freshly imported version still has.
fn same_attribute(a: &AttributeValue, b: &AttributeValue) -> bool {
    use AttributeValue::{Boolean, Choice, Decimal, Integer, Text};
    match (a, b) {
        (Integer(x), Integer(y)) => x == y,
        (Decimal(x), Decimal(y)) => same_number(*x, *y),
        // i64 → f64 may round for magnitudes beyond 2^53, far past any attribute.
        (Integer(x), Decimal(y)) | (Decimal(y), Integer(x)) => same_number(*x as f64, *y),
        (Text(x) | Choice(x), Text(y) | Choice(y)) => x == y,
        (Boolean(x), Boolean(y)) => x == y,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Dashboard
// ---------------------------------------------------------------------------------------

/// How an assignment stands against its deadline at `now`. The deadline is inclusive: a
/// first submission at the deadline's very millisecond is on time, and so an assignment
/// with no submission is still `pending` at that millisecond and `missing` only after it.
pub fn timeliness(
    first_submitted_at: Option<Timestamp>,
    deadline: Timestamp,
    now: Timestamp,
) -> Timeliness {
    match first_submitted_at {
        Some(at) if at <= deadline => Timeliness::OnTime,
        Some(_) => Timeliness::Late,
        None if now <= deadline => Timeliness::Pending,
        None => Timeliness::Missing,
    }
}

/// What the dashboard needs of one assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentFacts {
    pub region_path: RegionPath,
    pub status: AssignmentStatus,
    pub first_submitted_at: Option<Timestamp>,
    /// The round's deadline, or this assignment's own where it was extended.
    pub deadline: Timestamp,
}

/// Counts of a subtree's assignments. `reported` is `on_time + late` (those that submitted
/// at least once, whatever became of it since); `on_time + late + pending + missing` is
/// `assigned`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Completeness {
    pub assigned: u64,
    pub reported: u64,
    pub approved: u64,
    /// Submitted and waiting for a reviewer.
    pub awaiting_review: u64,
    /// Sent back and waiting for a correction.
    pub returned: u64,
    pub on_time: u64,
    pub late: u64,
    pub missing: u64,
    pub pending: u64,
}

impl Completeness {
    /// Reported out of assigned, from 0 to 1; `None` for a subtree with no assignments.
    pub fn reported_share(&self) -> Option<f64> {
        (self.assigned > 0).then(|| self.reported as f64 / self.assigned as f64)
    }

    fn add(&mut self, other: &Completeness) {
        self.assigned += other.assigned;
        self.reported += other.reported;
        self.approved += other.approved;
        self.awaiting_review += other.awaiting_review;
        self.returned += other.returned;
        self.on_time += other.on_time;
        self.late += other.late;
        self.missing += other.missing;
        self.pending += other.pending;
    }

    fn count(&mut self, facts: &AssignmentFacts, now: Timestamp) {
        self.assigned += 1;
        match facts.status {
            AssignmentStatus::Approved => self.approved += 1,
            AssignmentStatus::Submitted => self.awaiting_review += 1,
            AssignmentStatus::Returned => self.returned += 1,
            AssignmentStatus::Pending => {}
        }
        match timeliness(facts.first_submitted_at, facts.deadline, now) {
            Timeliness::OnTime => {
                self.on_time += 1;
                self.reported += 1;
            }
            Timeliness::Late => {
                self.late += 1;
                self.reported += 1;
            }
            Timeliness::Pending => self.pending += 1,
            Timeliness::Missing => self.missing += 1,
        }
    }
}

/// Completeness of every subtree that holds an assignment: each assignment counts in its
/// own region's path and in every enclosing one up to the national root `/`, so that the
/// dashboard reads any subtree's figures as one entry. O(n × depth), depth ≤ 6.
pub fn completeness_by_region(
    assignments: &[AssignmentFacts],
    now: Timestamp,
) -> BTreeMap<String, Completeness> {
    // Counted per region first, then spread: regions hold many assignments each.
    let mut by_region: HashMap<&RegionPath, Completeness> = HashMap::new();
    for facts in assignments {
        by_region
            .entry(&facts.region_path)
            .or_default()
            .count(facts, now);
    }
    let mut rolled: BTreeMap<String, Completeness> = BTreeMap::new();
    for (path, counts) in by_region {
        for enclosing in enclosing_paths(path) {
            rolled
                .entry(enclosing.as_str().to_owned())
                .or_default()
                .add(&counts);
        }
    }
    rolled
}

/// One record's figure at each stage of a round, for [`FigureMovement`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordStages<'a> {
    pub type_code: &'a str,
    /// The quantity in the record's first submission.
    pub first_reported: f64,
    /// The quantity in its latest submission.
    pub latest_reported: f64,
    /// The quantity as approved, if its assignment is approved.
    pub approved: Option<f64>,
    /// The quantity seen on site, if the record was verified.
    pub verified: Option<f64>,
}

/// How one type's total moved through a round: first report → latest report → approved →
/// verified. Each stage sums only the records that reached it, with the counts alongside,
/// so that a half-approved round is not read as a drop. Because verification checks a
/// sample, [`FigureMovement::verified_first_reported`] keeps what the verified records
/// were first reported as, and the relative change compares like with like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FigureMovement {
    pub first_reported: f64,
    pub latest_reported: f64,
    pub approved: f64,
    pub verified: f64,
    pub record_count: u64,
    pub approved_count: u64,
    pub verified_count: u64,
    /// The first-reported total of the records that were verified.
    pub verified_first_reported: f64,
}

impl FigureMovement {
    pub fn add_record(&mut self, record: &RecordStages<'_>) {
        self.first_reported += record.first_reported;
        self.latest_reported += record.latest_reported;
        self.record_count += 1;
        if let Some(approved) = record.approved {
            self.approved += approved;
            self.approved_count += 1;
        }
        if let Some(verified) = record.verified {
            self.verified += verified;
            self.verified_count += 1;
            self.verified_first_reported += record.first_reported;
        }
    }

    /// How far verification moved the verified records from their first report: `1.0`
    /// means verified stock was twice what was first listed, `-0.25` a quarter less.
    /// Equal to (verified − first) / first once every record is verified. `None` when
    /// nothing was verified or it was first reported as zero, where no ratio exists.
    pub fn relative_change_first_to_verified(&self) -> Option<f64> {
        let base = self.verified_first_reported;
        if base == 0.0 || !base.is_finite() {
            return None;
        }
        let change = (self.verified - base) / base;
        change.is_finite().then_some(change)
    }
}

/// The movement of each type's total over the given records (a round's, in any subtree).
///
/// This is the definition. The round dashboard does not call it: a province's round has
/// millions of rows, so storage sums the same figures in SQL (`round_dashboard` in
/// `muster-storage`), and its tests check that sum against this one over the records they
/// reported themselves.
pub fn movement_by_type<'a>(
    records: impl IntoIterator<Item = RecordStages<'a>>,
) -> BTreeMap<String, FigureMovement> {
    let mut by_type: BTreeMap<String, FigureMovement> = BTreeMap::new();
    for record in records {
        match by_type.get_mut(record.type_code) {
            Some(movement) => movement.add_record(&record),
            None => {
                let mut movement = FigureMovement::default();
                movement.add_record(&record);
                by_type.insert(record.type_code.to_owned(), movement);
            }
        }
    }
    by_type
}

#[cfg(test)]
mod tests;
