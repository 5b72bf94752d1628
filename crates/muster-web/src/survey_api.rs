//! Survey rounds in the JSON API: open and list rounds, read a round's assignments and
//! dashboard, submit a spreadsheet as a new version of an assignment, read the diff, and
//! approve or send back. Storage scopes every read and checks every write.

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use muster_domain::Timestamp;
use muster_storage::{Assignment, OpenRound, Submission, SubmitOutcome, SurveyRound};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{Problem, WebError};
use crate::potential_view::MAX_UPLOAD_BYTES;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(submit_file))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    OpenApiRouter::new()
        .routes(routes!(list_rounds, open_round))
        .routes(routes!(get_round))
        .routes(routes!(close_round))
        .routes(routes!(extend_deadline))
        .routes(routes!(reopen_round))
        .routes(routes!(extend_assignment_deadline))
        .routes(routes!(round_dashboard))
        .routes(routes!(get_assignment))
        .routes(routes!(assignment_diff))
        .routes(routes!(approve_assignment))
        .routes(routes!(send_back_assignment))
        .merge(uploads)
}

fn check_write(current: &CurrentUser, headers: &HeaderMap) -> Result<(), WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
}

// ------------------------------------------------------------------ wire types

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoundDto {
    id: i64,
    title: String,
    /// Absent for a national round.
    region_code: Option<String>,
    region_path: String,
    type_codes: Vec<String>,
    /// Epoch milliseconds.
    opened_at: i64,
    /// Epoch milliseconds; a first submission at or before it is on time.
    deadline: i64,
    /// open or closed.
    status: String,
}

impl From<&SurveyRound> for RoundDto {
    fn from(r: &SurveyRound) -> Self {
        RoundDto {
            id: r.id,
            title: r.title.clone(),
            region_code: r.region_code.clone(),
            region_path: r.region_path.as_str().to_owned(),
            type_codes: r.type_codes.clone(),
            opened_at: r.opened_at.as_millis(),
            deadline: r.deadline.as_millis(),
            status: r.status.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AssignmentDto {
    id: i64,
    round_id: i64,
    /// The assignment that reviews this one; absent for the round's root.
    parent_id: Option<i64>,
    region_code: Option<String>,
    region_path: String,
    region_name: Option<String>,
    /// Set for a member unit's assignment.
    organization_id: Option<i64>,
    organization_name: Option<String>,
    /// pending, submitted, returned or approved.
    status: String,
    /// on_time, late, pending or missing.
    timeliness: String,
    current_submission_id: Option<i64>,
    first_submitted_at: Option<i64>,
    approved_at: Option<i64>,
    /// Epoch milliseconds: the deadline this assignment is held to (its own when it was given
    /// more time, else the round's).
    deadline: i64,
}

impl AssignmentDto {
    fn of(a: &Assignment, deadline: Timestamp, now: Timestamp) -> Self {
        AssignmentDto {
            id: a.id,
            round_id: a.round_id,
            parent_id: a.parent_id,
            region_code: a.region_code.clone(),
            region_path: a.region_path.clone(),
            region_name: a.region_name.clone(),
            organization_id: a.organization_id,
            organization_name: a.organization_name.clone(),
            status: a.status.clone(),
            timeliness: a.timeliness(deadline, now).as_str().to_owned(),
            current_submission_id: a.current_submission_id,
            first_submitted_at: a.first_submitted_at,
            approved_at: a.approved_at,
            deadline: a.deadline_within(deadline).as_millis(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubmissionDto {
    id: i64,
    version: i64,
    /// upload or form.
    source: String,
    file_name: Option<String>,
    content_sha256: Option<String>,
    row_count: i64,
    total_quantity: f64,
    /// submitted, superseded, returned or approved.
    status: String,
    review_comment: Option<String>,
    submitted_at: i64,
    reviewed_at: Option<i64>,
}

impl From<&Submission> for SubmissionDto {
    fn from(s: &Submission) -> Self {
        SubmissionDto {
            id: s.id,
            version: s.version,
            source: s.source.clone(),
            file_name: s.file_name.clone(),
            content_sha256: s.content_sha256.clone(),
            row_count: s.row_count,
            total_quantity: s.total_quantity,
            status: s.status.clone(),
            review_comment: s.review_comment.clone(),
            submitted_at: s.submitted_at,
            reviewed_at: s.reviewed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoundDetailDto {
    round: RoundDto,
    /// The assignments in the reader's scope, parents before children.
    assignments: Vec<AssignmentDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AssignmentDetailDto {
    round: RoundDto,
    assignment: AssignmentDto,
    parent: Option<AssignmentDto>,
    children: Vec<AssignmentDto>,
    /// Newest first.
    versions: Vec<SubmissionDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubmitDto {
    /// stored (a new version) or unchanged (the same content as the current version:
    /// recognised, not stored again).
    outcome: String,
    version: i64,
    submission_id: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct OpenRoundDto {
    title: String,
    /// The region whose subtree the round covers; absent for a national round.
    region_code: Option<String>,
    type_codes: BTreeSet<String>,
    /// Epoch milliseconds, in the future.
    deadline: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OpenedDto {
    round: RoundDto,
    assignments: usize,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct DeadlineDto {
    /// Epoch milliseconds: later than the current deadline, and in the future.
    deadline: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SendBackDto {
    /// What needs correcting; required.
    comment: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct RegionQuery {
    /// A region inside the reader's scope; defaults to the reader's own (or the round's).
    region: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct FileQuery {
    file_name: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct VersionQuery {
    /// The version to compare with the one before it; defaults to the current one.
    version: Option<i64>,
}

// ------------------------------------------------------------------ handlers

/// The rounds the caller takes part in: opened in their scope or above it.
#[utoipa::path(get, path = "/surveys/rounds", tag = "surveys",
    responses((status = 200, body = Vec<RoundDto>)))]
async fn list_rounds(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Vec<RoundDto>>, WebError> {
    let rounds = state.db.survey_rounds(current.actor.scope()).await?;
    Ok(Json(rounds.iter().map(RoundDto::from).collect()))
}

/// Closes a round: nothing in it is submitted or reviewed any more. The office that runs it
/// (office staff or an administrator at its region or above).
#[utoipa::path(post, path = "/surveys/rounds/{id}/close", tag = "surveys", params(("id" = i64, Path)),
    responses((status = 200, body = RoundDto), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn close_round(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<RoundDto>, WebError> {
    check_write(&current, &headers)?;
    let round = state.db.close_round(&current.actor, id).await?;
    Ok(Json(RoundDto::from(&round)))
}

/// Moves a round's deadline later, while it is open. The office that runs it.
#[utoipa::path(post, path = "/surveys/rounds/{id}/deadline", tag = "surveys",
    params(("id" = i64, Path)), request_body = DeadlineDto,
    responses((status = 200, body = RoundDto), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn extend_deadline(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(body): Json<DeadlineDto>,
) -> Result<Json<RoundDto>, WebError> {
    check_write(&current, &headers)?;
    let round = state
        .db
        .extend_round_deadline(&current.actor, id, Timestamp::from_millis(body.deadline))
        .await?;
    Ok(Json(RoundDto::from(&round)))
}

/// Gives one assignment more time than the round (its reviewer, while the round is open):
/// its timeliness is then judged against this deadline.
#[utoipa::path(post, path = "/surveys/assignments/{id}/deadline", tag = "surveys",
    params(("id" = i64, Path)), request_body = DeadlineDto,
    responses((status = 200, body = AssignmentDto), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn extend_assignment_deadline(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(body): Json<DeadlineDto>,
) -> Result<Json<AssignmentDto>, WebError> {
    check_write(&current, &headers)?;
    let assignment = state
        .db
        .extend_assignment_deadline(&current.actor, id, Timestamp::from_millis(body.deadline))
        .await?;
    let round = state
        .db
        .survey_round(current.actor.scope(), assignment.round_id)
        .await?;
    Ok(Json(AssignmentDto::of(
        &assignment,
        round.deadline,
        muster_storage::now(),
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ReopenDto {
    /// Epoch milliseconds, in the future: the reopened round's deadline.
    deadline: i64,
}

/// Reopens a closed round until a new deadline: it takes submissions and reviews again.
/// The office that runs it.
#[utoipa::path(post, path = "/surveys/rounds/{id}/reopen", tag = "surveys",
    params(("id" = i64, Path)), request_body = ReopenDto,
    responses((status = 200, body = RoundDto), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn reopen_round(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(body): Json<ReopenDto>,
) -> Result<Json<RoundDto>, WebError> {
    check_write(&current, &headers)?;
    let round = state
        .db
        .reopen_round(&current.actor, id, Timestamp::from_millis(body.deadline))
        .await?;
    Ok(Json(RoundDto::from(&round)))
}

/// Opens a round for a subtree and decomposes it down to townships and member units.
/// Office staff and administrators only.
#[utoipa::path(post, path = "/surveys/rounds", tag = "surveys", request_body = OpenRoundDto,
    responses((status = 201, body = OpenedDto), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn open_round(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(body): Json<OpenRoundDto>,
) -> Result<(StatusCode, Json<OpenedDto>), WebError> {
    check_write(&current, &headers)?;
    let (round, assignments) = state
        .db
        .open_round(
            &current.actor,
            OpenRound {
                title: body.title,
                region_code: body.region_code.filter(|c| !c.trim().is_empty()),
                type_codes: body.type_codes,
                deadline: Timestamp::from_millis(body.deadline),
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(OpenedDto {
            round: RoundDto::from(&round),
            assignments,
        }),
    ))
}

/// A round and its assignments in the caller's scope.
#[utoipa::path(get, path = "/surveys/rounds/{id}", tag = "surveys",
    responses((status = 200, body = RoundDetailDto), (status = 404, body = Problem)))]
async fn get_round(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<RoundDetailDto>, WebError> {
    let scope = current.actor.scope();
    let round = state.db.survey_round(scope, id).await?;
    let assignments = state.db.round_assignments(scope, id, None).await?;
    let now = muster_storage::now();
    Ok(Json(RoundDetailDto {
        round: RoundDto::from(&round),
        assignments: assignments
            .iter()
            .map(|a| AssignmentDto::of(a, round.deadline, now))
            .collect(),
    }))
}

/// Completeness and timeliness of a subtree's assignments, and per type how the figures
/// moved: first reported → latest reported → approved → verified. `children` holds each
/// child region's completeness, by path.
#[utoipa::path(get, path = "/surveys/rounds/{id}/dashboard", tag = "surveys", params(RegionQuery),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
async fn round_dashboard(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
    Query(query): Query<RegionQuery>,
) -> Result<Json<serde_json::Value>, WebError> {
    let dashboard = state
        .db
        .round_dashboard(current.actor.scope(), id, query.region.as_deref())
        .await?;
    let movement: serde_json::Map<String, serde_json::Value> = dashboard
        .movement
        .iter()
        .map(|(code, m)| {
            let mut value = serde_json::to_value(m).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert(
                    "relative_change_first_to_verified".into(),
                    serde_json::json!(m.relative_change_first_to_verified()),
                );
            }
            (code.clone(), value)
        })
        .collect();
    Ok(Json(serde_json::json!({
        "round": RoundDto::from(&dashboard.round),
        "path": dashboard.path.as_str(),
        "completeness": dashboard.completeness,
        "children": dashboard.children.iter().map(|(path, c)| serde_json::json!({"path": path, "completeness": c})).collect::<Vec<_>>(),
        "movement": movement,
    })))
}

/// One assignment with its parent, children and versions.
#[utoipa::path(get, path = "/surveys/assignments/{id}", tag = "surveys",
    responses((status = 200, body = AssignmentDetailDto), (status = 404, body = Problem)))]
async fn get_assignment(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<AssignmentDetailDto>, WebError> {
    let view = state.db.assignment_view(current.actor.scope(), id).await?;
    let now = muster_storage::now();
    let deadline = view.round.deadline;
    Ok(Json(AssignmentDetailDto {
        round: RoundDto::from(&view.round),
        assignment: AssignmentDto::of(&view.assignment, deadline, now),
        parent: view
            .parent
            .as_ref()
            .map(|p| AssignmentDto::of(p, deadline, now)),
        children: view
            .children
            .iter()
            .map(|c| AssignmentDto::of(c, deadline, now))
            .collect(),
        versions: view.versions.iter().map(SubmissionDto::from).collect(),
    }))
}

/// Submits a spreadsheet (the file as the body, its name in `?file_name=`) as a new
/// version of the assignment. 201 when stored; 200 with `outcome: unchanged` when it is
/// the current version's file or content again (not stored twice); 422 with every problem
/// when any row is wrong (nothing stored).
#[utoipa::path(post, path = "/surveys/assignments/{id}/submissions", tag = "surveys", params(FileQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The CSV or XLSX file"),
    responses((status = 201, body = SubmitDto), (status = 200, body = SubmitDto), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn submit_file(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(query): Query<FileQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<SubmitDto>), WebError> {
    check_write(&current, &headers)?;
    let file_name = query
        .file_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("upload")
        .to_owned();
    let outcome = state
        .db
        .submit_survey_file(&current.actor, id, body.to_vec(), &file_name)
        .await?;
    Ok(match outcome {
        SubmitOutcome::Stored { submission } => (
            StatusCode::CREATED,
            Json(SubmitDto {
                outcome: "stored".into(),
                version: submission.version,
                submission_id: submission.id,
            }),
        ),
        SubmitOutcome::Unchanged {
            version,
            submission_id,
        } => (
            StatusCode::OK,
            Json(SubmitDto {
                outcome: "unchanged".into(),
                version,
                submission_id,
            }),
        ),
    })
}

/// What a version changed against the one before it: `added`, `removed` and `changed`
/// records (by holding), and the count `unchanged`. 204 for a first version.
#[utoipa::path(get, path = "/surveys/assignments/{id}/diff", tag = "surveys", params(VersionQuery),
    responses((status = 200, body = Object), (status = 204, description = "A first version has nothing to compare with"), (status = 404, body = Problem)))]
async fn assignment_diff(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
    Query(query): Query<VersionQuery>,
) -> Result<axum::response::Response, WebError> {
    use axum::response::IntoResponse;
    let diff = state
        .db
        .submission_diff(current.actor.scope(), id, query.version)
        .await?;
    Ok(match diff {
        Some(diff) => Json(serde_json::json!({
            "from_version": diff.from_version,
            "to_version": diff.to_version,
            "added": diff.diff.added,
            "removed": diff.diff.removed,
            "changed": diff.diff.changed,
            "unchanged": diff.diff.unchanged,
        }))
        .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Approves the assignment's current version (its reviewer only, once every assignment
/// below it is approved). Its rows become potential records; a holding already registered
/// by someone else refuses the approval with 422, naming the row.
#[utoipa::path(post, path = "/surveys/assignments/{id}/approve", tag = "surveys",
    responses((status = 200, body = AssignmentDto), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn approve_assignment(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<AssignmentDto>, WebError> {
    check_write(&current, &headers)?;
    let assignment = state.db.approve_assignment(&current.actor, id).await?;
    let round = state
        .db
        .survey_round(current.actor.scope(), assignment.round_id)
        .await?;
    Ok(Json(AssignmentDto::of(
        &assignment,
        round.deadline,
        muster_storage::now(),
    )))
}

/// Sends the assignment's report back for correction, with a comment.
#[utoipa::path(post, path = "/surveys/assignments/{id}/send-back", tag = "surveys", request_body = SendBackDto,
    responses((status = 200, body = AssignmentDto), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn send_back_assignment(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(body): Json<SendBackDto>,
) -> Result<Json<AssignmentDto>, WebError> {
    check_write(&current, &headers)?;
    let assignment = state
        .db
        .send_back_assignment(&current.actor, id, &body.comment)
        .await?;
    let round = state
        .db
        .survey_round(current.actor.scope(), assignment.round_id)
        .await?;
    Ok(Json(AssignmentDto::of(
        &assignment,
        round.deadline,
        muster_storage::now(),
    )))
}
