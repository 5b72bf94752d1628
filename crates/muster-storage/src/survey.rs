//! Survey rounds: opening a round with its decomposition, versioned submissions, the
//! review chain, and the round's dashboard. The rules are the domain's
//! ([`muster_domain::survey`]); this module reads and writes them.
//!
//! Where records come from: a submission's rows live in `submission_rows` until its
//! assignment is approved. Approval inserts the current version's rows into
//! `potential_records` (through the same insert and roll-ups as a bulk import), with the
//! round, submission and reporting organization as provenance, in the approval's own
//! transaction. So totals show approved figures only, and a holding that another unit has
//! already registered refuses the approval, naming the row — it is never counted twice.
//! Sending an approved report back removes its records again (refused once any of them has
//! been verified or put to use).
//!
//! Decomposition goes down to townships ([`LOWEST_ASSIGNED_LEVEL`]): villages and
//! communities do not get assignments of their own. A nation has about 620,000 of them, and
//! their contact points inspect facilities rather than keep statistics; the township
//! workstation reports for its villages (the rows may name any village below it).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use muster_domain::potential::import::{ImportRules, RecordImporter, RowProblem, SheetProblems};
use muster_domain::potential::rollup::{RecordFigures, RollupDeltas, enclosing_paths};
use muster_domain::potential::{
    RecordDraft, RecordStatus, holding_keys_above, repeated_across_levels, same_holding,
    split_holding_key,
};
use muster_domain::survey::{
    self, AssignmentFacts, AssignmentStatus, Completeness, FigureMovement, NewRound, RegionNode,
    RoundStatus, SubmissionDiff, SubmissionStatus, Timeliness, UnitNode,
};
use muster_domain::taxonomy::QuantityProblem;
use muster_domain::{Actor, RegionLevel, RegionPath, Role, Scope, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::QueryBuilder;

use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::potential::{
    RecordProvenance, across_levels_problems, apply_totals, check_record_regions, in_holding_order,
    insert_record_rows, is_unique_violation, stored_across_levels,
};

/// The deepest level that gets assignments of its own (see the module comment).
pub const LOWEST_ASSIGNED_LEVEL: RegionLevel = RegionLevel::Township;

/// 5 columns a row; well under SQLite's 32,766 bound parameters.
const ASSIGNMENTS_PER_INSERT: usize = 1_000;
/// 6 columns a row.
const ROWS_PER_INSERT: usize = 1_000;

/// A survey round as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurveyRound {
    pub id: i64,
    pub title: String,
    /// `None` for a national round.
    pub region_code: Option<String>,
    pub region_path: RegionPath,
    pub type_codes: Vec<String>,
    pub opened_at: Timestamp,
    pub deadline: Timestamp,
    pub status: RoundStatus,
    pub created_by: Option<i64>,
}

/// What an office asks for when it opens a round; checked by [`NewRound::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRound {
    pub title: String,
    /// The region whose subtree the round covers; `None` for the whole nation.
    pub region_code: Option<String>,
    pub type_codes: BTreeSet<String>,
    pub deadline: Timestamp,
}

/// One line of a round's decomposition, with the names a page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Assignment {
    pub id: i64,
    pub round_id: i64,
    pub parent_id: Option<i64>,
    pub region_code: Option<String>,
    pub region_path: String,
    pub organization_id: Option<i64>,
    pub status: String,
    pub current_submission_id: Option<i64>,
    pub first_submitted_at: Option<i64>,
    pub submitted_at: Option<i64>,
    pub approved_at: Option<i64>,
    /// More time given to this assignment alone; None: the round's deadline.
    pub deadline: Option<i64>,
    pub region_name: Option<String>,
    pub organization_name: Option<String>,
}

impl Assignment {
    pub fn status(&self) -> AssignmentStatus {
        AssignmentStatus::parse(&self.status).unwrap_or(AssignmentStatus::Pending)
    }

    pub fn region_path(&self) -> RegionPath {
        RegionPath::parse(&self.region_path).unwrap_or_else(RegionPath::root)
    }

    /// The deadline this assignment is held to: the later of its own, when it was given more
    /// time, and the round's (which may have been extended past it since).
    pub fn deadline_within(&self, round_deadline: Timestamp) -> Timestamp {
        self.deadline.map_or(round_deadline, |own| {
            Timestamp::from_millis(own).max(round_deadline)
        })
    }

    pub fn timeliness(&self, round_deadline: Timestamp, now: Timestamp) -> Timeliness {
        survey::timeliness(
            self.first_submitted_at.map(Timestamp::from_millis),
            self.deadline_within(round_deadline),
            now,
        )
    }

    fn facts(&self, round_deadline: Timestamp) -> AssignmentFacts {
        AssignmentFacts {
            region_path: self.region_path(),
            status: self.status(),
            first_submitted_at: self.first_submitted_at.map(Timestamp::from_millis),
            deadline: self.deadline_within(round_deadline),
        }
    }
}

/// One version of an assignment's report.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Submission {
    pub id: i64,
    pub assignment_id: i64,
    pub round_id: i64,
    pub version: i64,
    /// `upload` or `form`.
    pub source: String,
    pub file_name: Option<String>,
    pub content_sha256: Option<String>,
    pub row_count: i64,
    pub total_quantity: f64,
    pub status: String,
    pub review_comment: Option<String>,
    pub submitted_by: Option<i64>,
    pub submitted_at: i64,
    pub reviewed_by: Option<i64>,
    pub reviewed_at: Option<i64>,
}

impl Submission {
    pub fn status(&self) -> SubmissionStatus {
        SubmissionStatus::parse(&self.status).unwrap_or(SubmissionStatus::Submitted)
    }
}

/// An assignment with its round, its place in the review chain and its versions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssignmentView {
    pub round: SurveyRound,
    pub assignment: Assignment,
    pub parent: Option<Assignment>,
    pub children: Vec<Assignment>,
    /// Newest first.
    pub versions: Vec<Submission>,
}

/// How a submission was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionSource {
    /// A spreadsheet, recognised by the SHA-256 of its bytes.
    Upload {
        file_name: String,
        content_sha256: String,
    },
    /// The web form (or the API's JSON rows).
    Form,
}

/// What a submission came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SubmitOutcome {
    /// A new version was stored.
    Stored { submission: Box<Submission> },
    /// The content is the same as the current version's (the same file, or the same
    /// records in another order or file): nothing was stored, no version added.
    Unchanged { version: i64, submission_id: i64 },
}

/// A correction of one row of an assignment's current version, made on the web form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FormRowEdit {
    /// Takes the row out (the last row out leaves a report of nothing held).
    Remove,
    /// Sets the row's quantity, checked against its type's bounds as in an import.
    Quantity(f64),
}

/// A row whose holding another assignment of the round reports too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateHolding {
    pub row_number: u32,
    /// The other report, when it is in the reader's scope. One of a region above theirs
    /// (a county reading that the city's own report names the holding) is not: the
    /// reader learns the holding is reported above, not by whom nor how far it got.
    pub other: Option<OtherReport>,
}

/// The report a [`DuplicateHolding`] shares its holding with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtherReport {
    pub assignment_id: i64,
    /// The other unit's or region's name.
    pub name: String,
    pub status: AssignmentStatus,
}

/// Two versions of one assignment and what changed between them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionDiff {
    pub from_version: i64,
    pub to_version: i64,
    pub diff: SubmissionDiff,
}

/// A round's dashboard for one subtree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundDashboard {
    pub round: SurveyRound,
    /// The subtree the figures are for.
    pub path: RegionPath,
    pub completeness: Completeness,
    /// The completeness of each child region's subtree that holds assignments.
    pub children: Vec<(String, Completeness)>,
    /// Per type: first reported → latest reported → approved → verified.
    pub movement: BTreeMap<String, FigureMovement>,
}

const ASSIGNMENT_SELECT: &str = "SELECT a.id, a.round_id, a.parent_id, a.region_code, a.region_path, \
     a.organization_id, a.status, a.current_submission_id, a.first_submitted_at, a.submitted_at, \
     a.approved_at, a.deadline, r.name AS region_name, o.name AS organization_name \
     FROM round_assignments a LEFT JOIN regions r ON r.code = a.region_code \
     LEFT JOIN organizations o ON o.id = a.organization_id";

type RoundRow = (
    i64,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
    String,
    Option<i64>,
);

fn round_from_row(row: RoundRow) -> SurveyRound {
    let (id, title, region_code, region_path, type_codes, opened_at, deadline, status, created_by) =
        row;
    SurveyRound {
        id,
        title,
        region_code,
        region_path: RegionPath::parse(&region_path).unwrap_or_else(RegionPath::root),
        type_codes: serde_json::from_str(&type_codes).unwrap_or_default(),
        opened_at: Timestamp::from_millis(opened_at),
        deadline: Timestamp::from_millis(deadline),
        status: RoundStatus::parse(&status).unwrap_or(RoundStatus::Closed),
        created_by,
    }
}

/// Their holding key, their assignment, its status, its unit's name, its region's name.
/// Holding key, assignment id, status, unit name, region name, region path.
type DuplicateRow = (String, i64, String, Option<String>, Option<String>, String);

/// One type's line of [`MOVEMENT_BY_TYPE`], the fields of [`FigureMovement`].
#[derive(sqlx::FromRow)]
struct MovementRow {
    type_code: String,
    first_reported: f64,
    latest_reported: f64,
    record_count: i64,
    approved: f64,
    approved_count: i64,
    verified: f64,
    verified_count: i64,
    verified_first_reported: f64,
}

/// A round's figures per type in one subtree, as [`FigureMovement`] has them: `$1` the round,
/// `$2`/`$3` the subtree's range of holding keys (a key starts with its region's path), `$4`
/// the approved status.
///
/// `holdings` is one line per holding an assignment reported, in its first or its current
/// version (the key names the type, so a holding has one): `first_reported` is its quantity
/// in version 1 and `latest_reported` in the current version, each 0 where that version does
/// not list it; `approved_submission` is the current version when the holding is in it and the
/// assignment is approved, whichever region the assignment reports for (a county's unit's
/// approved row counts as approved in a township's dashboard too). Then only the registry
/// record that very version put there counts as approved (and verified, when
/// `last_verified_at` is set): the same holding registered by another report is that
/// report's. The approved figure is the version's, as it was approved: a finding that
/// corrected the record since shows as the step from approved to verified, not as a
/// different approval. A record a later round has renewed since counts with the figures this round gave
/// it, as `superseded_records` keeps them. A sum over nothing is NULL, hence the COALESCEs, and SQLite sums integers to an
/// integer, hence the CASTs.
///
/// Only the assignments of the subtree and of the regions above it are read (a region above
/// is one whose path begins the subtree's): a row lies inside its assignment's region, which
/// `store_version` checks, so no other assignment has rows in the subtree.
///
/// A row without figures is left out: Muster writes them with every row, so only a row stored
/// before migration 0014 whose JSON did not read as a draft has none. It can never be
/// approved (approval reads every row and refuses the version), and leaving it out shows the
/// rest of the round where the dashboard used to fail whole; it is left out of every stage
/// alike, on both databases.
const MOVEMENT_BY_TYPE: &str = "WITH holdings AS ( \
     SELECT a.id AS assignment_id, r.holding_key, r.type_code, \
     SUM(CASE WHEN s.version = 1 THEN r.quantity ELSE 0 END) AS first_reported, \
     SUM(CASE WHEN s.id = a.current_submission_id THEN r.quantity ELSE 0 END) AS latest_reported, \
     MAX(CASE WHEN s.id = a.current_submission_id AND a.status = $4 THEN s.id END) AS approved_submission \
     FROM round_assignments a \
     JOIN submissions s ON s.assignment_id = a.id \
     JOIN submission_rows r ON r.submission_id = s.id \
     WHERE a.round_id = $1 AND (s.version = 1 OR s.id = a.current_submission_id) \
     AND ((a.region_path >= $2 AND a.region_path < $3) OR a.region_path = substr($2, 1, length(a.region_path))) \
     AND r.holding_key >= $2 AND r.holding_key < $3 \
     AND r.type_code IS NOT NULL AND r.quantity IS NOT NULL \
     GROUP BY a.id, r.holding_key, r.type_code) \
     SELECT h.type_code, \
     CAST(COALESCE(SUM(h.first_reported), 0) AS DOUBLE PRECISION) AS first_reported, \
     CAST(COALESCE(SUM(h.latest_reported), 0) AS DOUBLE PRECISION) AS latest_reported, \
     COUNT(*) AS record_count, \
     CAST(COALESCE(SUM(CASE WHEN p.holding_key IS NOT NULL THEN h.latest_reported END), 0) \
     AS DOUBLE PRECISION) AS approved, \
     COUNT(p.holding_key) AS approved_count, \
     CAST(COALESCE(SUM(CASE WHEN p.last_verified_at IS NOT NULL THEN p.verified_quantity END), 0) \
     AS DOUBLE PRECISION) AS verified, \
     COUNT(CASE WHEN p.last_verified_at IS NOT NULL THEN p.verified_quantity END) AS verified_count, \
     CAST(COALESCE(SUM(CASE WHEN p.last_verified_at IS NOT NULL AND p.verified_quantity IS NOT NULL \
     THEN h.first_reported END), 0) AS DOUBLE PRECISION) AS verified_first_reported \
     FROM holdings h LEFT JOIN ( \
     SELECT p.holding_key, p.quantity, p.verified_quantity, p.last_verified_at, \
     p.submission_id FROM potential_records p WHERE p.round_id = $1 \
     AND p.holding_key >= $2 AND p.holding_key < $3 \
     UNION ALL \
     SELECT k.holding_key, o.quantity, o.verified_quantity, o.last_verified_at, \
     o.record_submission_id FROM superseded_records o JOIN potential_records k ON k.id = o.record_id \
     WHERE o.record_round_id = $1 AND k.holding_key >= $2 AND k.holding_key < $3 \
     ) p ON p.holding_key = h.holding_key AND p.submission_id = h.approved_submission \
     GROUP BY h.type_code";

const ROUND_COLUMNS: &str =
    "id, title, region_code, region_path, type_codes, opened_at, deadline, status, created_by";

fn invalid(
    field: &'static str,
    message: impl Into<String>,
    message_zh: impl Into<String>,
) -> StorageError {
    StorageError::refused(field, message, message_zh)
}

fn transition(error: survey::TransitionError) -> StorageError {
    StorageError::Transition(error)
}

/// Sum of quantities, for the version's summary line.
fn total_quantity(drafts: &[(u32, RecordDraft)]) -> f64 {
    drafts.iter().map(|(_, d)| d.quantity).sum()
}

impl Database {
    /// Opens a round for a subtree and decomposes it, in one transaction with one audit
    /// entry: the round, and one assignment per region below it down to
    /// [`LOWEST_ASSIGNED_LEVEL`] and per member unit in it. Office staff and administrators
    /// only, for a region inside their scope.
    ///
    /// The assignments are inserted a level at a time, a multi-row `INSERT … RETURNING` per
    /// thousand, so a national round (≈ 45,000 assignments) takes about fifty statements.
    pub async fn open_round(
        &self,
        actor: &Actor,
        round: OpenRound,
    ) -> Result<(SurveyRound, usize), StorageError> {
        if !(actor.administers() || actor.has_role(Role::OfficeStaff)) {
            return Err(StorageError::forbidden(
                "only office staff open survey rounds",
                "只有动员办工作人员才能发起潜力调查",
            ));
        }
        let region_path = match &round.region_code {
            None => RegionPath::root(),
            Some(code) => match self.region(actor.scope(), code).await {
                Ok(region) => region.region_path(),
                Err(StorageError::NotFound { .. }) if self.region_exists(code).await? => {
                    return Err(StorageError::out_of_scope("region", code));
                }
                Err(e) => return Err(e),
            },
        };
        if !actor.scope().contains(&region_path) {
            return Err(StorageError::out_of_scope("region", region_path.as_str()));
        }
        let taxonomy = self.taxonomy().await?;
        let now = crate::now();
        let new_round = NewRound {
            title: round.title.trim().to_owned(),
            region_path: region_path.clone(),
            type_codes: round.type_codes.clone(),
            deadline: round.deadline,
        };
        if let Err(problems) =
            new_round.validate(now, |code| taxonomy.resource_type(code).is_some())
        {
            let field = problems
                .first()
                .map_or("type_codes", survey::RoundProblem::field);
            let said = |say: fn(&survey::RoundProblem) -> String| {
                problems.iter().map(say).collect::<Vec<_>>().join("; ")
            };
            return Err(StorageError::Refused {
                field,
                message: said(|p| p.to_string()),
                message_zh: said(survey::RoundProblem::zh).replace("; ", "；"),
            });
        }

        let (regions, units) = self.decomposition_inputs(&region_path).await?;
        let plan = survey::plan_assignments(&region_path, &regions, &units);
        let type_codes_json =
            serde_json::to_string(&new_round.type_codes).unwrap_or_else(|_| "[]".into());

        let mut tx = self.begin_write().await?;
        let row: RoundRow = on_tx!(&mut tx, |conn| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "INSERT INTO survey_rounds (title, region_code, region_path, type_codes, opened_at, deadline, status, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $5) RETURNING {ROUND_COLUMNS}"
            )))
            .bind(&new_round.title)
            .bind(&round.region_code)
            .bind(region_path.as_str())
            .bind(&type_codes_json)
            .bind(now.as_millis())
            .bind(round.deadline.as_millis())
            .bind(RoundStatus::Open.as_str())
            .bind(actor.user_id())
            .fetch_one(&mut *conn)
            .await
        })?;
        let stored = round_from_row(row);
        insert_plan(&mut tx, stored.id, &plan).await?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "survey_round",
                entity_id: stored.id.to_string(),
                action: "open",
                region_path: &region_path,
                before: None,
                after: Some(serde_json::json!({
                    "title": stored.title,
                    "type_codes": stored.type_codes,
                    "deadline": stored.deadline.as_millis(),
                    "assignments": plan.len(),
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((stored, plan.len()))
    }

    /// Closes a round: nothing in it is submitted or reviewed any more. Office staff and
    /// administrators of the round's region or above.
    pub async fn close_round(
        &self,
        actor: &Actor,
        round_id: i64,
    ) -> Result<SurveyRound, StorageError> {
        let round = self.round_to_manage(actor, round_id).await?;
        let closed = survey::close_round(round.status).map_err(transition)?;
        self.set_round(actor, &round, closed, round.deadline, "close")
            .await
    }

    /// Gives one assignment more time than the round: its timeliness is then judged against
    /// `deadline`, which must be later than the one it is held to and still to come. The
    /// office that reviews it, while the round is open; audited.
    pub async fn extend_assignment_deadline(
        &self,
        actor: &Actor,
        assignment_id: i64,
        deadline: Timestamp,
    ) -> Result<Assignment, StorageError> {
        let (assignment, round, _) = self.for_review(actor, assignment_id).await?;
        // Its timeliness was settled by its first report: more time now would only turn a
        // late report into an on-time one.
        if assignment.first_submitted_at.is_some() {
            return Err(transition(survey::TransitionError::AlreadyReported));
        }
        let current = assignment.deadline_within(round.deadline);
        survey::extend_deadline(round.status, current, deadline, crate::now())
            .map_err(transition)?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        hold_round_open(&mut tx, round.id).await?;
        let changed = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE round_assignments SET deadline = $1 \
                 WHERE id = $2 AND COALESCE(deadline, 0) = $3 AND first_submitted_at IS NULL",
            )
            .bind(deadline.as_millis())
            .bind(assignment.id)
            .bind(assignment.deadline.unwrap_or(0))
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        if changed != 1 {
            return Err(changed_meanwhile());
        }
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "round_assignment",
                entity_id: assignment.id.to_string(),
                action: "extend_deadline",
                region_path: &assignment.region_path(),
                before: Some(serde_json::json!({ "deadline": current.as_millis() })),
                after: Some(serde_json::json!({ "deadline": deadline.as_millis() })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Assignment {
            deadline: Some(deadline.as_millis()),
            ..assignment
        })
    }

    /// Reopens a closed round until `deadline` (see [`survey::reopen_round`]). Office staff
    /// and administrators of the round's region or above.
    pub async fn reopen_round(
        &self,
        actor: &Actor,
        round_id: i64,
        deadline: Timestamp,
    ) -> Result<SurveyRound, StorageError> {
        let round = self.round_to_manage(actor, round_id).await?;
        let open =
            survey::reopen_round(round.status, deadline, crate::now()).map_err(transition)?;
        self.set_round(actor, &round, open, deadline, "reopen")
            .await
    }

    /// Moves a round's deadline later (see [`survey::extend_deadline`]). Office staff and
    /// administrators of the round's region or above.
    pub async fn extend_round_deadline(
        &self,
        actor: &Actor,
        round_id: i64,
        deadline: Timestamp,
    ) -> Result<SurveyRound, StorageError> {
        let round = self.round_to_manage(actor, round_id).await?;
        survey::extend_deadline(round.status, round.deadline, deadline, crate::now())
            .map_err(transition)?;
        self.set_round(actor, &round, round.status, deadline, "extend_deadline")
            .await
    }

    /// A round the actor may close or give more time: theirs to open (office staff or an
    /// administrator) at its region or above. Units below see the round but do not run it.
    async fn round_to_manage(
        &self,
        actor: &Actor,
        round_id: i64,
    ) -> Result<SurveyRound, StorageError> {
        let round = self.survey_round(actor.scope(), round_id).await?;
        if !survey::may_run_round(actor, &round.region_path) {
            return Err(StorageError::forbidden(
                "only the office that runs the round (or one above it) closes it or moves its deadline",
                "只有发起本轮调查的动员办（或其上级）才能结束本轮调查或调整其截止日期",
            ));
        }
        Ok(round)
    }

    /// Stores a round's new status and deadline, if the round is still as it was read (a
    /// concurrent close or extension wins, and this one is refused), with its audit entry.
    async fn set_round(
        &self,
        actor: &Actor,
        round: &SurveyRound,
        status: RoundStatus,
        deadline: Timestamp,
        action: &'static str,
    ) -> Result<SurveyRound, StorageError> {
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let row: Option<RoundRow> = on_tx!(&mut tx, |conn| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE survey_rounds SET status = $1, deadline = $2 \
                 WHERE id = $3 AND status = $4 AND deadline = $5 RETURNING {ROUND_COLUMNS}"
            )))
            .bind(status.as_str())
            .bind(deadline.as_millis())
            .bind(round.id)
            .bind(round.status.as_str())
            .bind(round.deadline.as_millis())
            .fetch_optional(&mut *conn)
            .await
        })?;
        let Some(row) = row else {
            return Err(StorageError::Conflict {
                field: "status",
                message: "the round was changed meanwhile; reload it and try again".into(),
                message_zh: Some("本轮调查已被他人更改，请刷新页面后重试".into()),
            });
        };
        let stored = round_from_row(row);
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "survey_round",
                entity_id: round.id.to_string(),
                action,
                region_path: &round.region_path,
                before: Some(serde_json::json!({
                    "status": round.status.as_str(),
                    "deadline": round.deadline.as_millis(),
                })),
                after: Some(serde_json::json!({
                    "status": stored.status.as_str(),
                    "deadline": stored.deadline.as_millis(),
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn region_exists(&self, code: &str) -> Result<bool, StorageError> {
        Ok(on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM regions WHERE code = $1)"
        )
        .bind(code)
        .fetch_one(pool)
        .await)?)
    }

    /// The regions down to [`LOWEST_ASSIGNED_LEVEL`] and the member units in a subtree.
    async fn decomposition_inputs(
        &self,
        path: &RegionPath,
    ) -> Result<(Vec<RegionNode>, Vec<UnitNode>), StorageError> {
        let (low, high) = path.subtree_range();
        let regions: Vec<(String, String, i64)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT code, path, level FROM regions WHERE path >= $1 AND path < $2 AND level <= $3",
            )
            .bind(&low)
            .bind(&high)
            .bind(i64::from(LOWEST_ASSIGNED_LEVEL.depth()))
            .fetch_all(pool)
            .await
        })?;
        let units: Vec<(i64, String)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, region_path FROM organizations WHERE region_path >= $1 AND region_path < $2 AND kind = 'member_unit'",
            )
            .bind(&low)
            .bind(&high)
            .fetch_all(pool)
            .await
        })?;
        let regions = regions
            .into_iter()
            .filter_map(|(code, path, level)| {
                Some(RegionNode {
                    code,
                    path: RegionPath::parse(&path)?,
                    level: u8::try_from(level).ok().and_then(RegionLevel::from_depth)?,
                })
            })
            .collect();
        let units = units
            .into_iter()
            .filter_map(|(organization_id, path)| {
                Some(UnitNode {
                    organization_id,
                    region_path: RegionPath::parse(&path)?,
                })
            })
            .collect();
        Ok((regions, units))
    }

    /// The rounds a reader takes part in: those opened inside their scope, and those opened
    /// above it, which cover it. Newest first.
    pub async fn survey_rounds(&self, scope: &Scope) -> Result<Vec<SurveyRound>, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let above: Vec<String> = enclosing_paths(scope.subtree())
            .into_iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        let rows: Vec<RoundRow> = on_read_pool!(self, |pool| {
            let mut query = QueryBuilder::new(format!(
                "SELECT {ROUND_COLUMNS} FROM survey_rounds WHERE (region_path >= "
            ));
            query.push_bind(&low);
            query.push(" AND region_path < ");
            query.push_bind(&high);
            query.push(") OR region_path IN (");
            let mut separated = query.separated(", ");
            for path in &above {
                separated.push_bind(path.as_str());
            }
            query.push(") ORDER BY id DESC LIMIT 500");
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(round_from_row).collect())
    }

    /// One round, if the reader takes part in it (see [`Self::survey_rounds`]).
    pub async fn survey_round(&self, scope: &Scope, id: i64) -> Result<SurveyRound, StorageError> {
        let row: Option<RoundRow> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ROUND_COLUMNS} FROM survey_rounds WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        let round = row
            .map(round_from_row)
            .ok_or_else(|| StorageError::not_found("survey round", id))?;
        if round.region_path.contains(scope.subtree()) || scope.contains(&round.region_path) {
            Ok(round)
        } else {
            Err(StorageError::not_found("survey round", id))
        }
    }

    /// A round's assignments in a subtree (the reader's scope, narrowed to `within`), by
    /// region path, each region's own assignment before its member units.
    pub async fn round_assignments(
        &self,
        scope: &Scope,
        round_id: i64,
        within: Option<&RegionPath>,
    ) -> Result<Vec<Assignment>, StorageError> {
        self.survey_round(scope, round_id).await?;
        let path = within
            .filter(|w| scope.contains(w))
            .unwrap_or(scope.subtree());
        let (low, high) = path.subtree_range();
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{ASSIGNMENT_SELECT} WHERE a.round_id = $1 AND a.region_path >= $2 AND a.region_path < $3 \
                 ORDER BY a.region_path, a.organization_id IS NOT NULL, a.organization_id"
            )))
            .bind(round_id)
            .bind(&low)
            .bind(&high)
            .fetch_all(pool)
            .await
        })?)
    }

    /// One assignment with its round, parent, children and versions. A parent outside the
    /// reader's scope is left out (a county sees that the city reviews it, not the city's
    /// report).
    pub async fn assignment_view(
        &self,
        scope: &Scope,
        id: i64,
    ) -> Result<AssignmentView, StorageError> {
        let assignment = self.assignment_in_scope(scope, id).await?;
        let round = self.survey_round(scope, assignment.round_id).await?;
        let parent = match assignment.parent_id {
            Some(parent_id) => self.assignment_in_scope(scope, parent_id).await.ok(),
            None => None,
        };
        let children: Vec<Assignment> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{ASSIGNMENT_SELECT} WHERE a.parent_id = $1 \
                 ORDER BY a.region_path, a.organization_id IS NOT NULL, a.organization_id"
            )))
            .bind(id)
            .fetch_all(pool)
            .await
        })?;
        let versions: Vec<Submission> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM submissions WHERE assignment_id = $1 ORDER BY version DESC",
            )
            .bind(id)
            .fetch_all(pool)
            .await
        })?;
        Ok(AssignmentView {
            round,
            assignment,
            parent,
            children,
            versions,
        })
    }

    async fn assignment_in_scope(
        &self,
        scope: &Scope,
        id: i64,
    ) -> Result<Assignment, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let found: Option<Assignment> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{ASSIGNMENT_SELECT} WHERE a.id = $1 AND a.region_path >= $2 AND a.region_path < $3"
            )))
            .bind(id)
            .bind(&low)
            .bind(&high)
            .fetch_optional(pool)
            .await
        })?;
        found.ok_or_else(|| StorageError::not_found("assignment", id))
    }

    /// The records of one version, with their row numbers, as submitted. Personal data is
    /// part of a report; a reader whose roles do not allow it sees it masked.
    pub async fn submission_records(
        &self,
        scope: &Scope,
        submission_id: i64,
    ) -> Result<Vec<(u32, RecordDraft)>, StorageError> {
        let assignment_id: Option<i64> = on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT assignment_id FROM submissions WHERE id = $1"
        )
        .bind(submission_id)
        .fetch_optional(pool)
        .await)?;
        let assignment_id =
            assignment_id.ok_or_else(|| StorageError::not_found("submission", submission_id))?;
        self.assignment_in_scope(scope, assignment_id)
            .await
            .map_err(|_| StorageError::not_found("submission", submission_id))?;
        let mut rows = self.rows_of(submission_id).await?;
        if !scope.allows(muster_domain::DataClass::PersonalData) {
            for (_, draft) in &mut rows {
                mask_draft(draft);
            }
        }
        Ok(rows)
    }

    async fn rows_of(&self, submission_id: i64) -> Result<Vec<(u32, RecordDraft)>, StorageError> {
        let rows: Vec<(i64, String)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT row_number, record FROM submission_rows WHERE submission_id = $1 ORDER BY row_number",
            )
            .bind(submission_id)
            .fetch_all(pool)
            .await
        })?;
        decode_rows(rows)
    }

    /// Rows of the assignment's current version whose holding (same holder, type and site)
    /// is also in the current version of another assignment of the round, at the same region
    /// or at one above or below it ([`same_holding`]): the same stock reported twice, shown
    /// to submitter and reviewer before approval refuses it. Only the assignments that can
    /// share a holding are read (those of the regions above this one and of its subtree),
    /// and of their rows only those at the keys this version's holdings would have at its
    /// own regions and above, or in the key range below one of its regions, of its types.
    pub async fn duplicate_holdings(
        &self,
        scope: &Scope,
        assignment_id: i64,
    ) -> Result<Vec<DuplicateHolding>, StorageError> {
        let assignment = self.assignment_in_scope(scope, assignment_id).await?;
        let Some(current) = assignment.current_submission_id else {
            return Ok(Vec::new());
        };
        let mine: Vec<(i64, String, Option<String>)> = on_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT row_number, holding_key, type_code FROM submission_rows WHERE submission_id = $1",
            )
            .bind(current)
            .fetch_all(pool)
            .await
        })?;
        let mut keys: BTreeSet<String> = BTreeSet::new();
        // Region path → the version's types there, for the rows below it.
        let mut below: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (_, key, type_code) in &mine {
            keys.insert(key.clone());
            keys.extend(holding_keys_above(key));
            let path = split_holding_key(key).0;
            let village = RegionPath::parse(path)
                .is_none_or(|p| p.depth() >= usize::from(RegionLevel::Village.depth()));
            if !village {
                let types = below.entry(path).or_default();
                // A row whose JSON did not read has no typed type (migration 0014); its
                // key's second part is the type all the same.
                types.insert(type_code.as_deref().unwrap_or_else(|| {
                    split_holding_key(key)
                        .1
                        .split('|')
                        .next()
                        .unwrap_or_default()
                }));
            }
        }
        let region = assignment.region_path();
        let (low, high) = region.subtree_range();
        let above: Vec<String> = enclosing_paths(&region)
            .into_iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        // The round's other reports that can share a holding: above this one, or in its
        // subtree (the same region too). The ids are the stored assignment's own.
        let mut params: Vec<String> = Vec::new();
        let mut param = |value: String| {
            params.push(value);
            format!("${}", params.len())
        };
        let mut related = format!(
            "SELECT theirs.holding_key, a.id, a.status, o.name, g.name, a.region_path \
             FROM round_assignments a \
             JOIN submission_rows theirs ON theirs.submission_id = a.current_submission_id \
             LEFT JOIN organizations o ON o.id = a.organization_id \
             LEFT JOIN regions g ON g.code = a.region_code \
             WHERE a.round_id = {} AND a.id <> {} AND ((a.region_path >= {} AND a.region_path < {})",
            assignment.round_id,
            assignment.id,
            param(low),
            param(high),
        );
        for path in above {
            related.push_str(&format!(" OR a.region_path = {}", param(path)));
        }
        related.push(')');
        let fixed = params.len();
        let mut theirs: Vec<DuplicateRow> = Vec::new();
        let keys: Vec<String> = keys.into_iter().collect();
        let mut queries: Vec<(String, Vec<String>)> = Vec::new();
        for chunk in keys.chunks(500) {
            let mut values = params.clone();
            let list = placeholders(&mut values, chunk.iter().cloned());
            queries.push((
                format!("{related} AND theirs.holding_key IN ({list})"),
                values,
            ));
        }
        for (path, types) in &below {
            let mut values = params.clone();
            values.push((*path).to_owned());
            values.push(format!("{path}|"));
            let list = placeholders(&mut values, types.iter().map(|t| (*t).to_owned()));
            let sql = format!(
                "{related} AND theirs.holding_key >= ${} AND theirs.holding_key < ${} \
                 AND (theirs.type_code IS NULL OR theirs.type_code IN ({list}))",
                fixed + 1,
                fixed + 2
            );
            queries.push((sql, values));
        }
        for (sql, values) in &queries {
            let found: Vec<DuplicateRow> = on_read_pool!(self, |pool| {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
                for value in values {
                    query = query.bind(value.as_str());
                }
                query.fetch_all(pool).await
            })?;
            theirs.extend(found);
        }
        let mut by_holding: HashMap<&str, Vec<(&str, i64)>> = HashMap::new();
        for (row, key, _) in &mine {
            by_holding
                .entry(split_holding_key(key).1)
                .or_default()
                .push((key.as_str(), *row));
        }
        let mut found: Vec<DuplicateHolding> = Vec::new();
        for (key, other, status, unit, region, path) in &theirs {
            let in_scope = RegionPath::parse(path).is_some_and(|path| scope.contains(&path));
            let Some(rows) = by_holding.get(split_holding_key(key).1) else {
                continue;
            };
            for (mine_key, row) in rows {
                if same_holding(mine_key, key) {
                    found.push(DuplicateHolding {
                        row_number: u32::try_from(*row).unwrap_or(u32::MAX),
                        other: in_scope.then(|| OtherReport {
                            assignment_id: *other,
                            name: unit.clone().or_else(|| region.clone()).unwrap_or_default(),
                            status: AssignmentStatus::parse(status)
                                .unwrap_or(AssignmentStatus::Pending),
                        }),
                    });
                }
            }
        }
        // One line per row and other report, however many of its rows name the holding.
        let key = |d: &DuplicateHolding| (d.row_number, d.other.as_ref().map(|o| o.assignment_id));
        found.sort_by_key(key);
        found.dedup_by_key(|d| key(d));
        Ok(found)
    }

    /// What a version changed against the one before it (`version` defaults to the
    /// current one); `None` for a first version.
    pub async fn submission_diff(
        &self,
        scope: &Scope,
        assignment_id: i64,
        version: Option<i64>,
    ) -> Result<Option<VersionDiff>, StorageError> {
        let view = self.assignment_view(scope, assignment_id).await?;
        let Some(to) = (match version {
            Some(v) => view.versions.iter().find(|s| s.version == v),
            None => view.versions.first(),
        }) else {
            return match version {
                Some(v) => Err(StorageError::not_found("version", v)),
                None => Ok(None),
            };
        };
        let Some(from) = view.versions.iter().find(|s| s.version == to.version - 1) else {
            return Ok(None);
        };
        // Compared as stored (a masked holder has no key to match by), masked after.
        let old = self.rows_of(from.id).await?;
        let new = self.rows_of(to.id).await?;
        let mut diff = survey::diff_versions(&old, &new);
        if !scope.allows(muster_domain::DataClass::PersonalData) {
            for row in diff.added.iter_mut().chain(diff.removed.iter_mut()) {
                mask_draft(&mut row.record);
            }
            for change in &mut diff.changed {
                mask_draft(&mut change.before);
                mask_draft(&mut change.after);
                if change.before.holder.kind() == muster_domain::potential::HolderKind::Person {
                    change.holding_key = String::new();
                }
            }
        }
        Ok(Some(VersionDiff {
            from_version: from.version,
            to_version: to.version,
            diff,
        }))
    }

    /// Validates a spreadsheet against the round's types and stores it as a new version of
    /// the assignment — unless it is the file (by SHA-256) or the content (by
    /// [`survey::same_content`]) of the current version, which is recognised and not
    /// stored twice. A file with any error is refused whole ([`StorageError::SheetRejected`]).
    pub async fn submit_survey_file(
        &self,
        actor: &Actor,
        assignment_id: i64,
        bytes: Vec<u8>,
        file_name: &str,
    ) -> Result<SubmitOutcome, StorageError> {
        let assignment = self
            .assignment_in_scope(actor.scope(), assignment_id)
            .await?;
        let round = self
            .survey_round(actor.scope(), assignment.round_id)
            .await?;
        self.check_submitter(actor, &assignment).await?;
        let content_sha256 = hex::encode(Sha256::digest(&bytes));
        if let Some(current) = self.current_submission(&assignment).await?
            && current.content_sha256.as_deref() == Some(content_sha256.as_str())
        {
            return Ok(SubmitOutcome::Unchanged {
                version: current.version,
                submission_id: current.id,
            });
        }
        let allowed: HashSet<String> = round.type_codes.iter().cloned().collect();
        // Checked against the assignment's region, so every row outside it is named at its
        // cell (an administrator may report for an assignment of any region in scope).
        let drafts = self
            .validate_file_within(bytes, file_name, Some(allowed), &assignment.region_path())
            .await?;
        self.submit_survey_rows(
            actor,
            assignment_id,
            drafts,
            SubmissionSource::Upload {
                file_name: file_name.to_owned(),
                content_sha256,
            },
        )
        .await
    }

    /// Checks one row entered in the web form, as the spreadsheet's row would be checked:
    /// `fields` are (standard column key, text) pairs. Problems name the form's fields.
    pub async fn validate_form_row(
        &self,
        actor: &Actor,
        round: &SurveyRound,
        row_number: u32,
        fields: &[(&str, &str)],
    ) -> Result<(u32, RecordDraft), StorageError> {
        let taxonomy = self.taxonomy().await?;
        let allowed: HashSet<String> = round.type_codes.iter().cloned().collect();
        let rules = ImportRules {
            taxonomy: &taxonomy,
            allowed_types: Some(&allowed),
        };
        let header: Vec<&str> = fields.iter().map(|(key, _)| *key).collect();
        let cells: Vec<&str> = fields.iter().map(|(_, value)| *value).collect();
        let mut importer =
            RecordImporter::new(rules, "form", 1, &header).map_err(StorageError::SheetRejected)?;
        importer.push_row(row_number, &cells);
        let pending = importer.into_pending();
        let regions = self.region_infos(pending.region_codes()).await?;
        let mut drafts = pending
            .finish(&regions, actor.scope().subtree())
            .map_err(StorageError::SheetRejected)?;
        drafts
            .pop()
            .ok_or_else(|| invalid("records", "the form row was empty", "表单中的这一行是空的"))
    }

    /// Adds one row entered in the web form to the assignment's current version, as a new
    /// version (`fields` as in [`Self::validate_form_row`]). With no fields at all, stores
    /// an empty version: a report that nothing is held.
    pub async fn submit_survey_form_row(
        &self,
        actor: &Actor,
        assignment_id: i64,
        fields: &[(&str, &str)],
    ) -> Result<SubmitOutcome, StorageError> {
        let assignment = self
            .assignment_in_scope(actor.scope(), assignment_id)
            .await?;
        let round = self
            .survey_round(actor.scope(), assignment.round_id)
            .await?;
        self.check_submitter(actor, &assignment).await?;
        let mut rows = match self.current_submission(&assignment).await? {
            Some(current) if !fields.is_empty() => self.rows_of(current.id).await?,
            _ => Vec::new(),
        };
        if !fields.is_empty() {
            let next = rows.iter().map(|(row, _)| *row).max().unwrap_or(1) + 1;
            let (row, draft) = self.validate_form_row(actor, &round, next, fields).await?;
            if let Some((existing, _)) = rows
                .iter()
                .find(|(_, d)| same_holding(&d.holding_key, &draft.holding_key))
            {
                return Err(StorageError::SheetRejected(SheetProblems(vec![
                    RowProblem {
                        sheet: "form".into(),
                        row: Some(row),
                        column: None,
                        field: Some("holder_name".into()),
                        message: format!(
                            "the same holding (holder, type and site) is already on row {existing}; report it once"
                        ),
                        message_zh: Some(format!(
                            "同一持有者、类型和地点的潜力已在第 {existing} 行填报，请只报一次"
                        )),
                    },
                ])));
            }
            rows.push((row, draft));
        }
        let based_on = Some(assignment.current_submission_id);
        self.store_version(actor, assignment_id, rows, SubmissionSource::Form, based_on)
            .await
    }

    /// Corrects one row of the current version from the web form, as a new version (a
    /// report sent back for a wrong count is corrected without a spreadsheet). `based_on` is
    /// the version the form showed: once another came in, the correction is refused. The same
    /// submitter rules as [`Self::submit_survey_rows`]; a correction that changes nothing
    /// stores nothing.
    pub async fn edit_survey_form_row(
        &self,
        actor: &Actor,
        assignment_id: i64,
        based_on: i64,
        row: u32,
        edit: FormRowEdit,
    ) -> Result<SubmitOutcome, StorageError> {
        let assignment = self
            .assignment_in_scope(actor.scope(), assignment_id)
            .await?;
        self.check_submitter(actor, &assignment).await?;
        // Row numbers belong to a version: a correction of one shown before another version
        // came in would land on another holding.
        if assignment.current_submission_id != Some(based_on) {
            return Err(changed_meanwhile());
        }
        let mut rows = self.rows_of(based_on).await?;
        let Some(index) = rows.iter().position(|(number, _)| *number == row) else {
            return Err(StorageError::Refused {
                field: "row",
                message: format!("row {row} is not in the current version"),
                message_zh: format!("当前版本中没有第 {row} 行"),
            });
        };
        match edit {
            FormRowEdit::Remove => {
                rows.remove(index);
            }
            FormRowEdit::Quantity(quantity) => {
                let taxonomy = self.taxonomy().await?;
                let draft = &mut rows[index].1;
                // Types are never removed from the taxonomy; were one gone, the quantity would
                // still have to be a number, 0 or more.
                let checked = match taxonomy.resource_type(&draft.type_code) {
                    Some(resource_type) => resource_type.check_quantity(quantity),
                    None if !quantity.is_finite() => Err(QuantityProblem::NotFinite),
                    None if quantity < 0.0 => Err(QuantityProblem::Negative { quantity }),
                    None => Ok(()),
                };
                if let Err(problem) = checked {
                    return Err(StorageError::SheetRejected(SheetProblems(vec![
                        RowProblem {
                            sheet: "form".into(),
                            row: Some(row),
                            column: None,
                            field: Some("quantity".into()),
                            message: problem.to_string(),
                            message_zh: Some(problem.zh()),
                        },
                    ])));
                }
                draft.quantity = quantity;
            }
        }
        let based_on = Some(Some(based_on));
        self.store_version(actor, assignment_id, rows, SubmissionSource::Form, based_on)
            .await
    }

    /// Stores validated records as a new version of an assignment's report. The submitter
    /// must be the assignment's own: staff of its region, or the officer of its member
    /// unit (or an administrator in scope). An empty list is a report of nothing held.
    pub async fn submit_survey_rows(
        &self,
        actor: &Actor,
        assignment_id: i64,
        drafts: Vec<(u32, RecordDraft)>,
        source: SubmissionSource,
    ) -> Result<SubmitOutcome, StorageError> {
        self.store_version(actor, assignment_id, drafts, source, None)
            .await
    }

    /// [`Self::submit_survey_rows`], for a version made from another: `based_on` is the
    /// current version the rows were read from (None: there was none), and a report whose
    /// current version has moved on since is refused rather than overwritten. Every version
    /// also checks, inside its write, that the current version is still the one it read.
    async fn store_version(
        &self,
        actor: &Actor,
        assignment_id: i64,
        drafts: Vec<(u32, RecordDraft)>,
        source: SubmissionSource,
        based_on: Option<Option<i64>>,
    ) -> Result<SubmitOutcome, StorageError> {
        let assignment = self
            .assignment_in_scope(actor.scope(), assignment_id)
            .await?;
        if based_on.is_some_and(|read| read != assignment.current_submission_id) {
            return Err(changed_meanwhile());
        }
        let round = self
            .survey_round(actor.scope(), assignment.round_id)
            .await?;
        self.check_submitter(actor, &assignment).await?;
        let region = assignment.region_path();
        if let Some((row, outside)) = drafts
            .iter()
            .find(|(_, d)| !region.contains(&d.region_path))
        {
            return Err(StorageError::SheetRejected(SheetProblems(vec![
                RowProblem {
                    sheet: "records".into(),
                    row: Some(*row),
                    column: None,
                    field: Some("region_code".into()),
                    message: format!(
                        "region {} is outside the area this assignment reports for",
                        outside.region_code
                    ),
                    message_zh: Some(format!(
                        "行政区划 {} 不在本任务的填报范围内",
                        outside.region_code
                    )),
                },
            ])));
        }
        if let Some((row, wrong)) = drafts
            .iter()
            .find(|(_, d)| !round.type_codes.contains(&d.type_code))
        {
            return Err(StorageError::SheetRejected(SheetProblems(vec![
                RowProblem {
                    sheet: "records".into(),
                    row: Some(*row),
                    column: None,
                    field: Some("type_code".into()),
                    message: format!("{} is not one of this round's types", wrong.type_code),
                    message_zh: Some(format!("{} 不在本轮调查的资源类型之内", wrong.type_code)),
                },
            ])));
        }
        let repeats = repeats_across_levels(&drafts);
        if !repeats.is_empty() {
            return Err(StorageError::SheetRejected(SheetProblems(repeats)));
        }
        survey::ensure_round_open(round.status).map_err(transition)?;
        let new_status = survey::submit(assignment.status()).map_err(transition)?;
        if let Some(current) = self.current_submission(&assignment).await? {
            let stored = self.rows_of(current.id).await?;
            let old: Vec<RecordDraft> = stored.into_iter().map(|(_, d)| d).collect();
            let new: Vec<RecordDraft> = drafts.iter().map(|(_, d)| d.clone()).collect();
            if survey::same_content(&old, &new) {
                return Ok(SubmitOutcome::Unchanged {
                    version: current.version,
                    submission_id: current.id,
                });
            }
        }

        let now = crate::now();
        let (source_name, file_name, content_sha256) = match &source {
            SubmissionSource::Upload {
                file_name,
                content_sha256,
            } => (
                "upload",
                Some(file_name.as_str()),
                Some(content_sha256.as_str()),
            ),
            SubmissionSource::Form => ("form", None, None),
        };
        let mut tx = self.begin_write().await?;
        // A close of the round meanwhile refuses this (checked again inside the write, not
        // only when the round was read), and no close commits before this does.
        hold_round_open(&mut tx, assignment.round_id).await?;
        // Compare-and-set on the assignment: a concurrent submission or review makes this
        // one refuse rather than interleave.
        let previous: Option<(Option<i64>,)> = on_tx!(&mut tx, |conn| {
            sqlx::query_as(
                "UPDATE round_assignments SET status = $1, submitted_at = $2, \
                 first_submitted_at = COALESCE(first_submitted_at, $2) \
                 WHERE id = $3 AND status = $4 AND COALESCE(current_submission_id, 0) = $5 \
                 RETURNING current_submission_id",
            )
            .bind(new_status.as_str())
            .bind(now.as_millis())
            .bind(assignment.id)
            .bind(&assignment.status)
            .bind(assignment.current_submission_id.unwrap_or(0))
            .fetch_optional(&mut *conn)
            .await
        })?;
        let Some((previous_id,)) = previous else {
            return Err(changed_meanwhile());
        };
        if let Some(previous_id) = previous_id {
            // A version nobody reviewed is superseded; a returned one keeps its status and
            // comment, which is what the reviewer said about it.
            on_tx!(&mut tx, |conn| sqlx::query(
                "UPDATE submissions SET status = $1 WHERE id = $2 AND status = $3"
            )
            .bind(SubmissionStatus::Superseded.as_str())
            .bind(previous_id)
            .bind(SubmissionStatus::Submitted.as_str())
            .execute(&mut *conn)
            .await
            .map(|_| ()))?;
        }
        let version: i64 = on_tx!(&mut tx, |conn| sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM submissions WHERE assignment_id = $1"
        )
        .bind(assignment.id)
        .fetch_one(&mut *conn)
        .await)?;
        let submission: Submission = on_tx!(&mut tx, |conn| {
            sqlx::query_as(
                "INSERT INTO submissions (assignment_id, round_id, version, source, file_name, content_sha256, \
                 row_count, total_quantity, status, submitted_by, submitted_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
            )
            .bind(assignment.id)
            .bind(round.id)
            .bind(version)
            .bind(source_name)
            .bind(file_name)
            .bind(content_sha256)
            .bind(i64::try_from(drafts.len()).unwrap_or(i64::MAX))
            .bind(total_quantity(&drafts))
            .bind(SubmissionStatus::Submitted.as_str())
            .bind(actor.user_id())
            .bind(now.as_millis())
            .fetch_one(&mut *conn)
            .await
        })
        .map_err(|e| StorageError::unique_said(e, "version", || {
                (
                    "another version was submitted meanwhile; reload".into(),
                    "其间已有另一个版本报送，请刷新".into(),
                )
            }))?;
        insert_submission_rows(&mut tx, submission.id, &drafts).await?;
        on_tx!(&mut tx, |conn| sqlx::query(
            "UPDATE round_assignments SET current_submission_id = $1 WHERE id = $2"
        )
        .bind(submission.id)
        .bind(assignment.id)
        .execute(&mut *conn)
        .await
        .map(|_| ()))?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "submission",
                entity_id: submission.id.to_string(),
                action: "submit",
                region_path: &region,
                before: Some(serde_json::json!({ "status": assignment.status })),
                after: Some(serde_json::json!({
                    "round_id": round.id,
                    "assignment_id": assignment.id,
                    "version": version,
                    "source": source_name,
                    "file_name": file_name,
                    "content_sha256": content_sha256,
                    "rows": drafts.len(),
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(SubmitOutcome::Stored {
            submission: Box::new(submission),
        })
    }

    async fn current_submission(
        &self,
        assignment: &Assignment,
    ) -> Result<Option<Submission>, StorageError> {
        let Some(id) = assignment.current_submission_id else {
            return Ok(None);
        };
        Ok(on_read_pool!(self, |pool| sqlx::query_as(
            "SELECT * FROM submissions WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Who reports for an assignment: an administrator in scope; for a member unit, its
    /// officer; for a region, office or workstation staff of exactly that region (an office
    /// above reviews the report, it does not write it).
    async fn check_submitter(
        &self,
        actor: &Actor,
        assignment: &Assignment,
    ) -> Result<(), StorageError> {
        let region = assignment.region_path();
        if !actor.scope().contains(&region) {
            return Err(StorageError::out_of_scope("assignment", assignment.id));
        }
        if actor.administers() {
            return Ok(());
        }
        match assignment.organization_id {
            Some(unit) => {
                let organization = match actor.user_id() {
                    Some(user) => on_read_pool!(self, |pool| sqlx::query_scalar::<_, i64>(
                        "SELECT organization_id FROM users WHERE id = $1"
                    )
                    .bind(user)
                    .fetch_optional(pool)
                    .await)?,
                    None => None,
                };
                if actor.has_role(Role::MemberUnitOfficer) && organization == Some(unit) {
                    Ok(())
                } else {
                    Err(StorageError::forbidden(
                        "only the member unit's own officer reports for it",
                        "只有该成员单位自己的专干才能为其报送",
                    ))
                }
            }
            None => {
                let staff =
                    actor.has_role(Role::OfficeStaff) || actor.has_role(Role::WorkstationStaff);
                if staff && *actor.scope().subtree() == region {
                    Ok(())
                } else {
                    Err(StorageError::forbidden(
                        "only the staff of the assignment's own region report for it",
                        "只有报送任务所在行政区划的工作人员才能为其报送",
                    ))
                }
            }
        }
    }

    /// The civil office located exactly at a region: its workstation or mobilization office.
    async fn office_of_region(&self, region_path: &str) -> Result<Option<i64>, StorageError> {
        Ok(on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM organizations WHERE region_path = $1 \
             AND kind IN ('mobilization_office', 'township_workstation') ORDER BY id LIMIT 1"
        )
        .bind(region_path)
        .fetch_optional(pool)
        .await)?)
    }

    /// The reviewer approves an assignment's current version. Allowed only when every
    /// assignment directly below it is approved. The version's rows become potential records
    /// in the same transaction. A holding another unit of the same round has registered
    /// refuses the approval with [`StorageError::SheetRejected`], naming the rows, so nothing
    /// is counted twice: send the report back for correction instead. So does a holding
    /// registered at a region above or below the row's, by any round or load
    /// ([`registered_across_levels`]). A holding an earlier round (or a bulk load) registered
    /// at the row's own region is renewed in place with this round's figures
    /// ([`renew_records`]): the annual survey brings the registry up to date without a
    /// second record.
    pub async fn approve_assignment(
        &self,
        actor: &Actor,
        assignment_id: i64,
    ) -> Result<Assignment, StorageError> {
        let (assignment, round, _parent) = self.for_review(actor, assignment_id).await?;
        let children: Vec<String> = on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT status FROM round_assignments WHERE parent_id = $1"
        )
        .bind(assignment.id)
        .fetch_all(pool)
        .await)?;
        let children: Vec<AssignmentStatus> = children
            .iter()
            .map(|s| AssignmentStatus::parse(s).unwrap_or(AssignmentStatus::Pending))
            .collect();
        let new_status = survey::approve(assignment.status(), &children).map_err(transition)?;
        let current = self
            .current_submission(&assignment)
            .await?
            .ok_or_else(|| transition(survey::TransitionError::NothingSubmitted))?;
        let drafts = self.rows_of(current.id).await?;
        let first_version = self.first_version_quantities(&assignment, &current).await?;
        // A member unit reports for itself; a region's own report is its office's (the
        // workstation of a township, the mobilization office above), whoever typed it in —
        // credibility is earned by the reporting unit, not by the person at the keyboard.
        let reporting_organization_id = match assignment.organization_id {
            Some(unit) => Some(unit),
            None => match self.office_of_region(&assignment.region_path).await? {
                Some(office) => Some(office),
                None => self.organization_of_user(current.submitted_by).await?,
            },
        };

        let now = crate::now();
        let mut tx = self.begin_write().await?;
        cas_status(&mut tx, &assignment, new_status, now, true).await?;
        // Re-read the children under the write: a child sent back meanwhile touched this
        // row first (see `send_back_assignment`), so either it waits for us or we see it.
        let children_now: Vec<String> = on_tx!(&mut tx, |conn| sqlx::query_scalar(
            "SELECT status FROM round_assignments WHERE parent_id = $1"
        )
        .bind(assignment.id)
        .fetch_all(&mut *conn)
        .await)?;
        if children_now
            .iter()
            .any(|s| s != AssignmentStatus::Approved.as_str())
        {
            return Err(changed_meanwhile());
        }
        let mut renewed_count = 0;
        let mut renewed_before: Vec<serde_json::Value> = Vec::new();
        if !drafts.is_empty() {
            let ordered = in_holding_order(&drafts);
            let provenance = RecordProvenance {
                round_id: Some(round.id),
                submission_id: Some(current.id),
                reporting_organization_id,
            };
            check_record_regions(&mut tx, &drafts).await?;
            serialize_approvals(&mut tx).await?;
            let registered = registered_holdings(&mut tx, &drafts).await?;
            let across = registered_across_levels(&mut tx, &drafts, &registered).await?;
            if !across.is_empty() {
                return Err(StorageError::SheetRejected(SheetProblems(across)));
            }
            let mut fresh = Vec::with_capacity(drafts.len());
            let mut renewed = Vec::new();
            let mut this_round = Vec::new();
            for entry in ordered {
                match registered.get(entry.1.holding_key.as_str()) {
                    None => fresh.push(entry),
                    // Two units of one round reporting one holding: counted once, refused.
                    Some(record) if record.round_id == Some(round.id) => {
                        this_round.push((entry.0, entry.1.holding_key.as_str()));
                    }
                    Some(record) => renewed.push((entry, record)),
                }
            }
            if !this_round.is_empty() {
                drop(tx);
                return Err(self
                    .holding_conflicts(this_round.into_iter(), "records")
                    .await);
            }
            refuse_renewing_a_later_round(&mut tx, &round, &renewed).await?;
            let mut deltas = RollupDeltas::new();
            let paths: Vec<RegionPath> = renewed.iter().map(|(_, r)| r.region_path()).collect();
            for ((_, record), path) in renewed.iter().zip(&paths) {
                deltas.remove(&crate::potential::figures(record, path));
            }
            renew_records(&mut tx, current.id, &renewed, provenance, now).await?;
            renewed_count = renewed.len();
            // The audit keeps what the renewal replaced (the snapshot goes with a send-back).
            renewed_before = renewed
                .iter()
                .take(RENEWALS_AUDITED)
                .map(|(_, r)| {
                    serde_json::json!({
                        "record_id": r.id,
                        "quantity": r.quantity,
                        "status": r.status,
                        "round_id": r.round_id,
                        "submission_id": r.submission_id,
                    })
                })
                .collect();
            match insert_record_rows(&mut tx, &fresh, provenance, now.as_millis()).await {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    drop(tx);
                    let holdings = drafts.iter().map(|(row, d)| (*row, d.holding_key.as_str()));
                    return Err(self.holding_conflicts(holdings, "records").await);
                }
                Err(e) => return Err(e.into()),
            }
            // A renewed record keeps its status; its new figure is unverified, as a new
            // record's is.
            let figures = fresh.iter().map(|(_, draft)| (draft, draft.status)).chain(
                renewed
                    .iter()
                    .map(|((_, draft), record)| (draft, status_after_renewal(record.status()))),
            );
            for (draft, status) in figures {
                deltas.insert(&RecordFigures {
                    region_path: &draft.region_path,
                    type_code: &draft.type_code,
                    quantity: draft.quantity,
                    available: status.is_available(),
                    verified: false,
                });
            }
            apply_totals(&mut tx, &deltas.into_changes()).await?;
            // A round's "first reported" figure is what version 1 said; a holding first
            // listed in a later version was not in the first report at all.
            for (_, draft) in &drafts {
                let first = first_version
                    .get(&draft.holding_key)
                    .copied()
                    .unwrap_or(0.0);
                if first != draft.quantity {
                    on_tx!(&mut tx, |conn| {
                        sqlx::query(
                        "UPDATE potential_records SET first_reported_quantity = $1 WHERE holding_key = $2"
                    )
                    .bind(first)
                    .bind(&draft.holding_key)
                    .execute(&mut *conn)
                    .await
                    .map(|_| ())
                    })?;
                }
            }
        }
        on_tx!(&mut tx, |conn| sqlx::query(
            "UPDATE submissions SET status = $1, reviewed_by = $2, reviewed_at = $3 WHERE id = $4"
        )
        .bind(SubmissionStatus::Approved.as_str())
        .bind(actor.user_id())
        .bind(now.as_millis())
        .bind(current.id)
        .execute(&mut *conn)
        .await
        .map(|_| ()))?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "round_assignment",
                entity_id: assignment.id.to_string(),
                action: "approve",
                region_path: &assignment.region_path(),
                before: Some(serde_json::json!({ "status": assignment.status })),
                after: Some(serde_json::json!({
                    "status": new_status.as_str(),
                    "round_id": round.id,
                    "submission_id": current.id,
                    "version": current.version,
                    "records": drafts.len(),
                    "records_renewed": renewed_count,
                    "renewed_before": renewed_before,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.assignment_in_scope(actor.scope(), assignment_id).await
    }

    /// The reviewer sends a report back for correction with a comment. An approved report
    /// can be sent back only while the level above has not approved it, and only while
    /// none of its records has been verified or put to use; its records leave the registry
    /// again until the corrected version is approved, and those it renewed from an earlier
    /// round get that round's figures back.
    pub async fn send_back_assignment(
        &self,
        actor: &Actor,
        assignment_id: i64,
        comment: &str,
    ) -> Result<Assignment, StorageError> {
        let (assignment, round, parent) = self.for_review(actor, assignment_id).await?;
        let (new_status, comment) = survey::send_back(
            assignment.status(),
            parent.as_ref().map(Assignment::status),
            comment,
        )
        .map_err(transition)?;
        let current = self
            .current_submission(&assignment)
            .await?
            .ok_or_else(|| transition(survey::TransitionError::NothingSubmitted))?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        if let Some(parent_id) = assignment.parent_id {
            // Touch the parent row: an approval of it in flight waits for us, or has
            // committed and we refuse.
            let touched = on_tx!(&mut tx, |conn| sqlx::query(
                "UPDATE round_assignments SET status = status WHERE id = $1 AND status <> $2"
            )
            .bind(parent_id)
            .bind(AssignmentStatus::Approved.as_str())
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected()))?;
            if touched != 1 {
                return Err(transition(survey::TransitionError::ParentApproved));
            }
        }
        cas_status(&mut tx, &assignment, new_status, now, false).await?;
        let mut withdrawn = WithdrawnRecords::default();
        if assignment.status() == AssignmentStatus::Approved {
            // Without a review time (never so for an approved version), anything counts.
            let approved_at = current.reviewed_at.unwrap_or(0);
            withdrawn = remove_round_records(&mut tx, round.id, current.id, approved_at).await?;
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
            "UPDATE submissions SET status = $1, review_comment = $2, reviewed_by = $3, reviewed_at = $4 WHERE id = $5"
        )
        .bind(SubmissionStatus::Returned.as_str())
        .bind(comment.as_str())
        .bind(actor.user_id())
        .bind(now.as_millis())
        .bind(current.id)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "round_assignment",
                entity_id: assignment.id.to_string(),
                action: "send_back",
                region_path: &assignment.region_path(),
                before: Some(serde_json::json!({ "status": assignment.status })),
                after: Some(serde_json::json!({
                    "status": new_status.as_str(),
                    "round_id": round.id,
                    "submission_id": current.id,
                    "version": current.version,
                    "comment": comment.as_str(),
                    "records_withdrawn": withdrawn.deleted,
                    "records_restored": withdrawn.restored,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.assignment_in_scope(actor.scope(), assignment_id).await
    }

    /// The assignment, its round (open) and its parent, once the actor is known to be its
    /// reviewer: office staff or an administrator whose scope holds the parent's region
    /// (the round's own for the root).
    async fn for_review(
        &self,
        actor: &Actor,
        assignment_id: i64,
    ) -> Result<(Assignment, SurveyRound, Option<Assignment>), StorageError> {
        let assignment = self
            .assignment_in_scope(actor.scope(), assignment_id)
            .await?;
        let round = self
            .survey_round(actor.scope(), assignment.round_id)
            .await?;
        let parent: Option<Assignment> = match assignment.parent_id {
            Some(parent_id) => on_read_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
                format!("{ASSIGNMENT_SELECT} WHERE a.id = $1")
            ))
            .bind(parent_id)
            .fetch_optional(pool)
            .await)?,
            None => None,
        };
        let parent_region = parent.as_ref().map(Assignment::region_path);
        let reviewer_region = survey::reviewer_region(parent_region.as_ref(), &round.region_path);
        if !survey::may_review(actor, reviewer_region) {
            return Err(StorageError::forbidden(
                format!(
                    "this report is reviewed by the office of {}",
                    reviewer_region.as_str()
                ),
                format!("此报送由 {} 的动员办审核", reviewer_region.as_str()),
            ));
        }
        survey::ensure_round_open(round.status).map_err(transition)?;
        Ok((assignment, round, parent))
    }

    async fn first_version_quantities(
        &self,
        assignment: &Assignment,
        current: &Submission,
    ) -> Result<HashMap<String, f64>, StorageError> {
        let first_id: Option<i64> = if current.version == 1 {
            Some(current.id)
        } else {
            on_read_pool!(self, |pool| sqlx::query_scalar(
                "SELECT id FROM submissions WHERE assignment_id = $1 AND version = 1"
            )
            .bind(assignment.id)
            .fetch_optional(pool)
            .await)?
        };
        let Some(first_id) = first_id else {
            return Ok(HashMap::new());
        };
        Ok(self
            .rows_of(first_id)
            .await?
            .into_iter()
            .map(|(_, d)| (d.holding_key, d.quantity))
            .collect())
    }

    async fn organization_of_user(
        &self,
        user_id: Option<i64>,
    ) -> Result<Option<i64>, StorageError> {
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        Ok(on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT organization_id FROM users WHERE id = $1"
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await)?)
    }

    /// A round's dashboard for a subtree (the reader's scope, or a region inside it):
    /// completeness and timeliness of the assignments there, and per type how the figures
    /// moved from first report to latest report, approval and verification.
    ///
    /// Reads every assignment in the subtree for the completeness, and has the database sum
    /// the figures of the rows of first and current versions in it ([`Self::round_movement`]):
    /// O(assignments + types) to Rust, O(rows in the subtree) in the database, no roll-up
    /// table. A national round's dashboard at the top still sums every row of the round on
    /// each view; figures kept per version would spare that.
    pub async fn round_dashboard(
        &self,
        scope: &Scope,
        round_id: i64,
        region_code: Option<&str>,
    ) -> Result<RoundDashboard, StorageError> {
        let round = self.survey_round(scope, round_id).await?;
        let path = match region_code {
            Some(code) => self.region(scope, code).await?.region_path(),
            // A reader inside the round sees their own subtree; one above it, the round's.
            None if round.region_path.contains(scope.subtree()) => scope.subtree().clone(),
            None => round.region_path.clone(),
        };
        let assignments = self.round_assignments(scope, round_id, Some(&path)).await?;
        let now = crate::now();
        let facts: Vec<AssignmentFacts> = assignments
            .iter()
            .map(|a| a.facts(round.deadline))
            .collect();
        let by_region = survey::completeness_by_region(&facts, now);
        let completeness = by_region.get(path.as_str()).copied().unwrap_or_default();
        let depth = path.depth();
        let children = by_region
            .iter()
            .filter(|(p, _)| {
                RegionPath::parse(p).is_some_and(|p| p.depth() == depth + 1 && path.contains(&p))
            })
            .map(|(p, c)| (p.clone(), *c))
            .collect();
        let movement = self.round_movement(&round, &path).await?;
        Ok(RoundDashboard {
            round,
            path,
            completeness,
            children,
            movement,
        })
    }

    /// Per type, how the round's figures for the holdings in `path`'s subtree moved, summed
    /// by the database ([`MOVEMENT_BY_TYPE`]): no row is sent to Rust or parsed.
    ///
    /// Reads an index range of `submission_rows_holding` (that version's rows in the
    /// subtree, with their figures) per first and current version of each assignment that
    /// can report in the subtree, and one `potential_records` row by holding key per holding
    /// of an approved version: O(rows in the subtree) in the database, O(types) in memory.
    async fn round_movement(
        &self,
        round: &SurveyRound,
        path: &RegionPath,
    ) -> Result<BTreeMap<String, FigureMovement>, StorageError> {
        let (low, high) = path.subtree_range();
        let rows: Vec<MovementRow> = on_read_pool!(self, |pool| {
            sqlx::query_as(MOVEMENT_BY_TYPE)
                .bind(round.id)
                .bind(&low)
                .bind(&high)
                .bind(AssignmentStatus::Approved.as_str())
                .fetch_all(pool)
                .await
        })?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(rows
            .into_iter()
            .map(|row| {
                let movement = FigureMovement {
                    first_reported: row.first_reported,
                    latest_reported: row.latest_reported,
                    approved: row.approved,
                    verified: row.verified,
                    record_count: count(row.record_count),
                    approved_count: count(row.approved_count),
                    verified_count: count(row.verified_count),
                    verified_first_reported: row.verified_first_reported,
                };
                (row.type_code, movement)
            })
            .collect())
    }
}

/// Blanks a person's personal data, and the key that names them by identity number.
fn mask_draft(draft: &mut RecordDraft) {
    if draft.holder.kind() == muster_domain::potential::HolderKind::Person {
        draft.holder = draft.holder.masked();
        draft.holding_key = String::new();
    }
}

fn changed_meanwhile() -> StorageError {
    StorageError::Conflict {
        field: "status",
        message: "the report changed meanwhile; reload and try again".into(),
        message_zh: Some("该报告已被他人更新，请刷新页面后重试".into()),
    }
}

fn decode_rows(rows: Vec<(i64, String)>) -> Result<Vec<(u32, RecordDraft)>, StorageError> {
    rows.into_iter()
        .map(|(row, record)| {
            let draft: RecordDraft = serde_json::from_str(&record).map_err(|e| {
                invalid(
                    "submission_rows",
                    format!("a stored row does not read: {e}"),
                    format!("已保存的一行报送数据无法读取（{e}）"),
                )
            })?;
            Ok((u32::try_from(row).unwrap_or(u32::MAX), draft))
        })
        .collect()
}

/// Refuses unless the round is still open, and keeps it open until the transaction ends
/// ([`WriteTx::hold_row`]): reports and reviews of one round go on side by side, while a
/// close (an update of the row) waits for them to commit, and one that committed first is
/// seen here, so no report lands in a round after its close.
async fn hold_round_open(tx: &mut WriteTx, round_id: i64) -> Result<(), StorageError> {
    let select = "SELECT id FROM survey_rounds WHERE id = $1 AND status = 'open'";
    if tx.hold_row(select, round_id).await? {
        Ok(())
    } else {
        Err(transition(survey::TransitionError::RoundClosed))
    }
}

/// Sets an assignment's status if it (and its current version) are still what was read;
/// refuses otherwise.
async fn cas_status(
    tx: &mut WriteTx,
    assignment: &Assignment,
    status: AssignmentStatus,
    now: Timestamp,
    approving: bool,
) -> Result<(), StorageError> {
    let approved_at = approving.then_some(now.as_millis());
    hold_round_open(tx, assignment.round_id).await?;
    // The version too: a correction submitted while the reviewer was reading keeps its
    // status `submitted`, and must not be approved unseen in place of the one read.
    let changed = on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE round_assignments SET status = $1, approved_at = $2 \
         WHERE id = $3 AND status = $4 AND current_submission_id = $5",
        )
        .bind(status.as_str())
        .bind(approved_at)
        .bind(assignment.id)
        .bind(&assignment.status)
        .bind(assignment.current_submission_id)
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected())
    })?;
    if changed == 1 {
        Ok(())
    } else {
        Err(changed_meanwhile())
    }
}

/// The stored records of the holdings the drafts name, by holding key, read in the write
/// transaction that is about to store or renew them. On PostgreSQL they are locked until the
/// commit (in holding-key order, so two approvals wait rather than deadlock): another
/// approval renewing the same record, or a reservation, waits, and the snapshot, the
/// roll-up change and the update all see the record as read here. SQLite has one writer.
async fn registered_holdings(
    tx: &mut WriteTx,
    drafts: &[(u32, RecordDraft)],
) -> Result<HashMap<String, crate::PotentialRecord>, StorageError> {
    let mut keys: Vec<&str> = drafts.iter().map(|(_, d)| d.holding_key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let lock = match tx.backend() {
        crate::Backend::Postgres => " ORDER BY holding_key FOR UPDATE",
        crate::Backend::Sqlite => "",
    };
    let mut found = HashMap::new();
    for chunk in keys.chunks(500) {
        let records: Vec<crate::PotentialRecord> = on_tx!(tx, |conn| {
            let mut query =
                QueryBuilder::new("SELECT * FROM potential_records WHERE holding_key IN (");
            let mut separated = query.separated(", ");
            for key in chunk {
                separated.push_bind(*key);
            }
            query.push(")");
            query.push(lock);
            query.build_query_as().fetch_all(&mut *conn).await
        })?;
        found.extend(records.into_iter().map(|r| (r.holding_key.clone(), r)));
    }
    Ok(found)
}

/// A version's rows that repeat a holding an earlier row names at a region above or below
/// (exact repeats never reach a version: the importer and the form refuse them).
fn repeats_across_levels(drafts: &[(u32, RecordDraft)]) -> Vec<RowProblem> {
    let keys = drafts.iter().map(|(row, d)| (*row, d.holding_key.as_str()));
    repeated_across_levels(keys)
        .into_iter()
        .map(|(row, first)| RowProblem {
            sheet: "records".into(),
            row: Some(row),
            column: None,
            field: Some("region_code".into()),
            message: format!(
                "the same holding (holder, type and site) is already on row {first}, under a region above or below this one; report it once, under the region where it is held"
            ),
            message_zh: Some(format!(
                "同一持有者、类型和地点的潜力已在第 {first} 行按上级或下级行政区划填报，请只在其所在区划报一次"
            )),
        })
        .collect()
}

/// Appends `items` to the values a statement binds in order and returns their `$n`
/// placeholders, comma-separated, for an `IN (…)` list.
fn placeholders(values: &mut Vec<String>, items: impl Iterator<Item = String>) -> String {
    let mut list = String::new();
    for item in items {
        values.push(item);
        if !list.is_empty() {
            list.push_str(", ");
        }
        list.push_str(&format!("${}", values.len()));
    }
    list
}

/// The advisory lock PostgreSQL approvals take (an arbitrary constant of Muster's).
pub const APPROVAL_LOCK: i64 = 0x4D55_5354_4552; // "MUSTER"

/// PostgreSQL: approvals and imports that store records wait for one another from here to
/// their commit. The unique index stops two of them registering one holding at one region,
/// but nothing in the schema stops two registering it at two levels, each checking before
/// the other commits. An approval is a reviewer's click; an import holds the lock for its
/// whole length, so approvals wait for a big one (a first load locks the records table for
/// as long anyway). SQLite's one writer already does the same.
pub(crate) async fn serialize_approvals(tx: &mut WriteTx) -> Result<(), StorageError> {
    if let WriteTx::Postgres(conn) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPROVAL_LOCK)
            .execute(&mut **conn)
            .await?;
    }
    Ok(())
}

/// The drafts' holdings registered at another level: a record with the same holder, type
/// and site at a region above or below a draft's, whichever round or load registered it.
/// Such a holding is refused rather than added, so that no total counts it twice (moving a
/// record between levels is a correction for the office, not for a report). A draft whose
/// holding is `registered` at its own region renews that record and adds nothing, so it is
/// not refused for a record at another level (a pair an earlier bulk load made would
/// otherwise block the renewal for good). A version holding one holding at two levels
/// (stored before versions were checked for it) is refused the same way. Problems name the
/// row and the record.
async fn registered_across_levels(
    tx: &mut WriteTx,
    drafts: &[(u32, RecordDraft)],
    registered: &HashMap<String, crate::PotentialRecord>,
) -> Result<Vec<RowProblem>, StorageError> {
    let mut problems = repeats_across_levels(drafts);
    let holdings: Vec<(u32, &str)> = drafts
        .iter()
        .filter(|(_, d)| !registered.contains_key(&d.holding_key))
        .map(|(row, d)| (*row, d.holding_key.as_str()))
        .collect();
    let found = stored_across_levels(tx, &holdings, |_| false).await?;
    problems.extend(across_levels_problems(found, "records"));
    problems.sort_by_key(|p| p.row);
    Ok(problems)
}

/// How many renewed records an approval's audit entry describes one by one (what they held
/// before); the count covers the rest. A county's report can renew thousands.
const RENEWALS_AUDITED: usize = 200;

/// The status a record takes when a later round renews it: stock handed over in full comes
/// back as available (the survey found it held again); any other keeps its status. The
/// renewing `UPDATE` in [`renew_records`] says the same in SQL.
fn status_after_renewal(status: RecordStatus) -> RecordStatus {
    match status {
        RecordStatus::HandedOver => RecordStatus::Available,
        other => other,
    }
}

/// Rounds can overlap, or be reopened: an approval of an older round must not overwrite the
/// figures a newer one registered. Refused, naming the row, when a record to renew comes from
/// a round opened after this one (a bulk load's record, from no round, is always older).
async fn refuse_renewing_a_later_round(
    tx: &mut WriteTx,
    round: &SurveyRound,
    renewed: &[(&(u32, RecordDraft), &crate::PotentialRecord)],
) -> Result<(), StorageError> {
    let rounds: BTreeSet<i64> = renewed.iter().filter_map(|(_, r)| r.round_id).collect();
    if rounds.is_empty() {
        return Ok(());
    }
    let opened: Vec<(i64, i64)> = on_tx!(tx, |conn| {
        let mut query = QueryBuilder::new("SELECT id, opened_at FROM survey_rounds WHERE id IN (");
        let mut separated = query.separated(", ");
        for id in &rounds {
            separated.push_bind(*id);
        }
        query.push(")");
        query.build_query_as().fetch_all(&mut *conn).await
    })?;
    let opened: HashMap<i64, i64> = opened.into_iter().collect();
    let this = (round.opened_at.as_millis(), round.id);
    let later = renewed.iter().find(|(_, record)| {
        record
            .round_id
            .and_then(|id| opened.get(&id).map(|at| (*at, id)))
            .is_some_and(|other| other > this)
    });
    match later {
        None => Ok(()),
        Some(((row, _), record)) => Err(StorageError::Conflict {
            field: "round",
            message: format!(
                "row {row}: record {} holds the figures of a round opened after this one; an older round does not overwrite them",
                record.id
            ),
            message_zh: Some(format!(
                "第 {row} 行：记录 {} 已是更晚开启的调查轮次的数据，较早的轮次不能覆盖",
                record.id
            )),
        }),
    }
}

/// A later round's approved version renews the holdings an earlier round (or a bulk load)
/// registered: each record takes the new report's figures in place, its old quantity
/// becomes `previous_quantity` (last year's figure, which risk-based sampling weighs), and
/// its verification is cleared, since nobody has seen the new figure yet. What is
/// overwritten is kept in `superseded_records` for [`remove_round_records`] to put back.
/// Only stock at rest is renewed: a record reserved, allocated or requisitioned (holding a
/// reservation, or on an active requisition item, even a draft one) refuses the approval,
/// naming it, until that use is over. Stock handed over to a demand in full comes back as
/// available: the survey has found it held again.
async fn renew_records(
    tx: &mut WriteTx,
    submission_id: i64,
    renewed: &[(&(u32, RecordDraft), &crate::PotentialRecord)],
    provenance: RecordProvenance,
    now: Timestamp,
) -> Result<(), StorageError> {
    if renewed.is_empty() {
        return Ok(());
    }
    let drafts: Vec<&(u32, RecordDraft)> = renewed.iter().map(|(entry, _)| *entry).collect();
    let sites = crate::sites::site_links(tx, &drafts).await?;
    // What each record held before, in one statement a chunk (the ids are bound, 500 at a
    // time, well under either backend's limit).
    let ids: Vec<i64> = renewed.iter().map(|(_, record)| record.id).collect();
    for chunk in ids.chunks(500) {
        on_tx!(tx, |conn| {
            let mut query = QueryBuilder::new(
                "INSERT INTO superseded_records (submission_id, record_id, quantity, status, attributes, \
                 quality_grade, holder_organization_id, holder_name, holder_id_number, holder_phone, \
                 site_id, site_name, lat, lon, record_round_id, record_submission_id, \
                 reporting_organization_id, first_reported_quantity, previous_quantity, \
                 verified_quantity, last_verified_at, updated_at) SELECT ",
            );
            query.push_bind(submission_id);
            query.push(
                ", id, quantity, status, attributes, quality_grade, holder_organization_id, \
                 holder_name, holder_id_number, holder_phone, site_id, site_name, lat, lon, round_id, \
                 submission_id, reporting_organization_id, first_reported_quantity, \
                 previous_quantity, verified_quantity, last_verified_at, updated_at \
                 FROM potential_records WHERE id IN (",
            );
            let mut separated = query.separated(", ");
            for id in chunk {
                separated.push_bind(*id);
            }
            query.push(")");
            query.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    for (entry, record) in renewed {
        let (row, draft) = &**entry;
        let holder = crate::potential::HolderColumns::of(&draft.holder);
        let updated = on_tx!(tx, |conn| sqlx::query(
            "UPDATE potential_records SET previous_quantity = quantity, quantity = $1, \
             attributes = $2, quality_grade = $3, holder_organization_id = $4, holder_name = $5, \
             holder_id_number = $6, holder_phone = $7, site_id = $8, site_name = $9, lat = $10, \
             lon = $11, round_id = $12, submission_id = $13, reporting_organization_id = $14, \
             first_reported_quantity = $1, verified_quantity = NULL, last_verified_at = NULL, \
             status = CASE WHEN status = 'handed_over' THEN 'available' ELSE status END, \
             updated_at = $15 \
             WHERE id = $16 AND reserved_quantity = 0 \
             AND status IN ('available', 'unavailable', 'handed_over') \
             AND NOT EXISTS (SELECT 1 FROM requisition_items q \
             WHERE q.record_id = potential_records.id AND q.active = 1)"
        )
        .bind(draft.quantity)
        .bind(crate::potential::attributes_json(draft))
        .bind(draft.quality.as_str())
        .bind(holder.organization_id)
        .bind(draft.holder.name())
        .bind(holder.id_number)
        .bind(holder.phone)
        .bind(sites.site_of(draft))
        .bind(draft.site.as_deref())
        .bind(draft.coordinates.map(|c| c.0))
        .bind(draft.coordinates.map(|c| c.1))
        .bind(provenance.round_id)
        .bind(provenance.submission_id)
        .bind(provenance.reporting_organization_id)
        .bind(now.as_millis())
        .bind(record.id)
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected()))?;
        if updated != 1 {
            return Err(StorageError::Conflict {
                field: "status",
                message: format!(
                    "row {row} renews record {}, which is reserved, allocated or requisitioned now; approve once it is back in stock",
                    record.id
                ),
                message_zh: Some(format!(
                    "第 {row} 行更新的记录 {} 正被预留、调配或征用，待其归还后再审核通过",
                    record.id
                )),
            });
        }
    }
    Ok(())
}

/// Takes an approved version's records out of the registry again, keeping the roll-ups in
/// step: those it added are deleted, those it renewed (see [`renew_records`]) get back what
/// they were. Refused when any of them was verified on site, put in a verification sample,
/// allocated or requisitioned, or has left the stock at rest: those have a life of their
/// own now. For a renewed record only what happened since the approval (`approved_at`)
/// counts: last year's sample or demand is last year's record's history, which it keeps. Refused too when a later round has renewed
/// any of them since: that round's figures stand on these.
async fn remove_round_records(
    tx: &mut WriteTx,
    round_id: i64,
    submission_id: i64,
    approved_at: i64,
) -> Result<WithdrawnRecords, StorageError> {
    if tx.backend() == crate::Backend::Postgres {
        // Lock the version's records first: a later round's approval renewing one of them
        // meanwhile either waits for us or has committed, and its snapshot is seen below.
        on_tx!(tx, |conn| sqlx::query(
            "SELECT id FROM potential_records WHERE round_id = $1 AND submission_id = $2 \
             ORDER BY id FOR UPDATE"
        )
        .bind(round_id)
        .bind(submission_id)
        .fetch_all(&mut *conn)
        .await
        .map(|_| ()))?;
    }
    // A renewed record written to since the approval (a finding, a requisition's return, a
    // status change) has figures of its own now, which restoring would lose. The renewal
    // itself wrote `updated_at` = the approval time.
    let changed_since: bool = on_tx!(tx, |conn| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM potential_records p JOIN superseded_records s \
         ON s.record_id = p.id WHERE s.submission_id = $1 AND p.updated_at > $2)"
    )
    .bind(submission_id)
    .bind(approved_at)
    .fetch_one(&mut *conn)
    .await)?;
    if changed_since {
        return Err(StorageError::Conflict {
            field: "status",
            message: "records this report renewed have changed since its approval; it can no longer be sent back".into(),
            message_zh: Some("本报告更新的记录在审核通过后又有变动，不能再退回".into()),
        });
    }
    let renewed_later: bool = on_tx!(tx, |conn| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM superseded_records \
         WHERE record_round_id = $1 AND record_submission_id = $2)"
    )
    .bind(round_id)
    .bind(submission_id)
    .fetch_one(&mut *conn)
    .await)?;
    if renewed_later {
        return Err(StorageError::Conflict {
            field: "status",
            message: "a later round's report has renewed records of this report; it can no longer be sent back".into(),
            message_zh: Some("本报告的记录已被后续调查轮次更新，不能再退回".into()),
        });
    }
    let records: Vec<crate::PotentialRecord> = on_tx!(tx, |conn| sqlx::query_as(
        "SELECT * FROM potential_records WHERE round_id = $1 AND submission_id = $2"
    )
    .bind(round_id)
    .bind(submission_id)
    .fetch_all(&mut *conn)
    .await)?;
    if let Some(busy) = records.iter().find(|r| {
        let status = r.status();
        r.last_verified_at.is_some()
            || !(status.is_available()
                || status == muster_domain::potential::RecordStatus::Unavailable)
    }) {
        return Err(StorageError::Conflict {
            field: "status",
            message: format!(
                "record {} of this report has been verified or put to use; the report can no longer be sent back",
                busy.id
            ),
            message_zh: Some(format!(
                "本报告的记录 {} 已经核查或已被使用，不能再退回",
                busy.id
            )),
        });
    }
    let in_verification: bool = on_tx!(tx, |conn| {
        sqlx::query_scalar(
        "WITH renewed AS (SELECT record_id FROM superseded_records WHERE submission_id = $2) \
         SELECT EXISTS (SELECT 1 FROM verification_items v JOIN potential_records p ON p.id = v.record_id \
         JOIN verification_samples s ON s.id = v.sample_id \
         WHERE p.round_id = $1 AND p.submission_id = $2 \
         AND (s.created_at >= $3 OR p.id NOT IN (SELECT record_id FROM renewed)))"
    )
    .bind(round_id)
    .bind(submission_id)
    .bind(approved_at)
    .fetch_one(&mut *conn)
    .await
    })?;
    if in_verification {
        return Err(StorageError::Conflict {
            field: "status",
            message: "records of this report are in an on-site verification sample; the report can no longer be sent back".into(),
            message_zh: Some("本报告的记录已列入实地核查样本，不能再退回".into()),
        });
    }
    // A record given back to the stock after a demand or a requisition is `available` again,
    // but its allocation or requisition still names it: deleting it would break that history
    // (and the foreign key would refuse, as a server error).
    let put_to_use: bool = on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "WITH renewed AS (SELECT record_id FROM superseded_records WHERE submission_id = $2) \
             SELECT EXISTS (SELECT 1 FROM potential_records p WHERE p.round_id = $1 AND p.submission_id = $2 \
             AND (EXISTS (SELECT 1 FROM demand_allocations d WHERE d.record_id = p.id \
             AND (d.accepted_at >= $3 OR p.id NOT IN (SELECT record_id FROM renewed))) \
             OR EXISTS (SELECT 1 FROM requisition_items q JOIN requisition_orders o ON o.id = q.order_id \
             WHERE q.record_id = p.id AND (o.created_at >= $3 OR p.id NOT IN (SELECT record_id FROM renewed)))))",
        )
        .bind(round_id)
        .bind(submission_id)
        .bind(approved_at)
        .fetch_one(&mut *conn)
        .await
    })?;
    if put_to_use {
        return Err(StorageError::Conflict {
            field: "status",
            message: "records of this report have been allocated to a demand or requisitioned; the report can no longer be sent back".into(),
            message_zh: Some("本报告的记录已被调配或征用过，不能再退回".into()),
        });
    }
    let mut deltas = RollupDeltas::new();
    let paths: Vec<RegionPath> = records.iter().map(|r| r.region_path()).collect();
    for (record, path) in records.iter().zip(&paths) {
        deltas.remove(&crate::potential::figures(record, path));
    }
    let deleted = on_tx!(tx, |conn| sqlx::query(
        "DELETE FROM potential_records WHERE round_id = $1 AND submission_id = $2 \
         AND id NOT IN (SELECT record_id FROM superseded_records WHERE submission_id = $2)"
    )
    .bind(round_id)
    .bind(submission_id)
    .execute(&mut *conn)
    .await
    .map(|r| r.rows_affected()))?;
    on_tx!(tx, |conn| {
        sqlx::query(
        "UPDATE potential_records SET quantity = s.quantity, status = s.status, attributes = s.attributes, \
         quality_grade = s.quality_grade, holder_organization_id = s.holder_organization_id, \
         holder_name = s.holder_name, holder_id_number = s.holder_id_number, \
         holder_phone = s.holder_phone, site_id = s.site_id, site_name = s.site_name, \
         lat = s.lat, lon = s.lon, round_id = s.record_round_id, \
         submission_id = s.record_submission_id, \
         reporting_organization_id = s.reporting_organization_id, \
         first_reported_quantity = s.first_reported_quantity, \
         previous_quantity = s.previous_quantity, verified_quantity = s.verified_quantity, \
         last_verified_at = s.last_verified_at, updated_at = s.updated_at \
         FROM superseded_records s WHERE s.record_id = potential_records.id AND s.submission_id = $1"
    )
    .bind(submission_id)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    })?;
    let restored: Vec<crate::PotentialRecord> = on_tx!(tx, |conn| sqlx::query_as(
        "SELECT p.* FROM potential_records p JOIN superseded_records s ON s.record_id = p.id \
         WHERE s.submission_id = $1"
    )
    .bind(submission_id)
    .fetch_all(&mut *conn)
    .await)?;
    let restored_paths: Vec<RegionPath> = restored.iter().map(|r| r.region_path()).collect();
    for (record, path) in restored.iter().zip(&restored_paths) {
        deltas.insert(&crate::potential::figures(record, path));
    }
    on_tx!(tx, |conn| sqlx::query(
        "DELETE FROM superseded_records WHERE submission_id = $1"
    )
    .bind(submission_id)
    .execute(&mut *conn)
    .await
    .map(|_| ()))?;
    apply_totals(tx, &deltas.into_changes()).await?;
    Ok(WithdrawnRecords {
        deleted: usize::try_from(deleted).unwrap_or(usize::MAX),
        restored: restored.len(),
    })
}

/// What sending an approved version back did to the registry.
#[derive(Debug, Default, Clone, Copy)]
struct WithdrawnRecords {
    /// Records the version had added, deleted again.
    deleted: usize,
    /// Records it had renewed, given back their earlier figures.
    restored: usize,
}

/// Inserts a round's planned assignments a level at a time (regions of a depth, then the
/// member units at that depth), so every parent has its id before its children are
/// written.
async fn insert_plan(
    tx: &mut WriteTx,
    round_id: i64,
    plan: &[survey::PlannedAssignment],
) -> Result<(), StorageError> {
    let mut ids: HashMap<survey::AssignmentKey, i64> = HashMap::with_capacity(plan.len());
    let mut batches: BTreeMap<(usize, bool), Vec<&survey::PlannedAssignment>> = BTreeMap::new();
    for planned in plan {
        batches
            .entry((planned.region_path.depth(), planned.is_member_unit()))
            .or_default()
            .push(planned);
    }
    for batch in batches.values() {
        for chunk in batch.chunks(ASSIGNMENTS_PER_INSERT) {
            let inserted: Vec<(i64, String, Option<i64>)> = on_tx!(tx, |conn| {
                let mut query = QueryBuilder::new(
                    "INSERT INTO round_assignments (round_id, parent_id, region_code, region_path, organization_id, status) ",
                );
                query.push_values(chunk, |mut row, planned| {
                    row.push_bind(round_id)
                        .push_bind(planned.parent.as_ref().and_then(|p| ids.get(p).copied()))
                        .push_bind(planned.region_code.as_deref())
                        .push_bind(planned.region_path.as_str())
                        .push_bind(planned.organization_id)
                        .push_bind(AssignmentStatus::Pending.as_str());
                });
                query.push(" RETURNING id, region_path, organization_id");
                query.build_query_as().fetch_all(&mut *conn).await
            })?;
            for (id, path, organization_id) in inserted {
                if let Some(region_path) = RegionPath::parse(&path) {
                    ids.insert(
                        survey::AssignmentKey {
                            region_path,
                            organization_id,
                        },
                        id,
                    );
                }
            }
        }
    }
    Ok(())
}

/// Writes a version's rows: each draft as JSON, and beside it the two figures the round's
/// dashboard sums ([`MOVEMENT_BY_TYPE`]), from the same draft.
async fn insert_submission_rows(
    tx: &mut WriteTx,
    submission_id: i64,
    drafts: &[(u32, RecordDraft)],
) -> Result<(), StorageError> {
    for chunk in drafts.chunks(ROWS_PER_INSERT) {
        let encoded: Vec<(i64, &RecordDraft, String)> = chunk
            .iter()
            .map(|(row, draft)| {
                (
                    i64::from(*row),
                    draft,
                    serde_json::to_string(draft).unwrap_or_else(|_| "{}".into()),
                )
            })
            .collect();
        on_tx!(tx, |conn| {
            let mut query = QueryBuilder::new(
                "INSERT INTO submission_rows (submission_id, row_number, holding_key, record, type_code, quantity) ",
            );
            query.push_values(&encoded, |mut row, (number, draft, record)| {
                row.push_bind(submission_id)
                    .push_bind(*number)
                    .push_bind(draft.holding_key.as_str())
                    .push_bind(record.as_str())
                    .push_bind(draft.type_code.as_str())
                    .push_bind(draft.quantity);
            });
            query.build().execute(&mut *conn).await.map(|_| ())
        })?;
    }
    Ok(())
}
