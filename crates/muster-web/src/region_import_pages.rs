//! The regions CSV upload, `/regions/import`: the same all-or-nothing import as `muster
//! import regions`, for administrators, with every problem of a refused file listed by line
//! and column in the reader's language, and kept for its uploader to download for a while
//! (`/regions/import?problems={id}&format=csv|xlsx`), as a refused potential file's are.
//!
//! The page's other table, the file's columns and what each means, is help text written in
//! the template, not data: it has no download.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use muster_domain::potential::import::RowProblem;
use muster_domain::region_import::{ImportProblem, ImportProblems, parse_region_csv};
use muster_domain::sheet::{Table, TableCell};
use muster_storage::StorageError;
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::page_parts::{Exports, download};
use crate::pages::{Layout, PageContext, PageError, PageResult};
use crate::potential_pages::read_upload;
use crate::potential_view::{ExportFormat, MAX_UPLOAD_BYTES, ProblemKind, text};

#[derive(Template, WebTemplate)]
#[template(path = "region_import.html")]
struct RegionImportPage {
    layout: Layout,
    max_mib: usize,
    /// Why the file was refused, above the problems.
    error: Option<String>,
    problems: Vec<RegionProblemLine>,
    /// The download links of `problems`, while they are kept.
    problems_export: Option<Exports>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RegionImportQuery {
    /// The id of a refused file's problems, kept for their uploader: with `format`, they
    /// download.
    problems: Option<String>,
    format: Option<String>,
}

/// One problem of a refused file, as the page lists it.
#[derive(Debug)]
struct RegionProblemLine {
    line: u64,
    /// The column's 1-based position and header name, or empty for the row as a whole.
    column: String,
    message: String,
}

impl RegionProblemLine {
    /// A problem as kept (see [`kept_problem`]), in the reader's language.
    fn of(problem: &RowProblem, tr: Tr) -> Self {
        Self {
            line: problem.row.map_or(0, u64::from),
            column: match (&problem.column, &problem.field) {
                (Some(position), Some(name)) => tr
                    .t("regions.import.column_at")
                    .replace("%{position}", position)
                    .replace("%{name}", name),
                _ => String::new(),
            },
            message: problem.message_in(tr.locale).to_owned(),
        }
    }
}

/// A region file's problem in the shape the kept problem lists hold: the line as the row,
/// the column's 1-based position as the column and its header as the field. Both the page
/// and the download read it back, so they cannot differ. (A file under the upload limit has
/// far fewer lines than a `u32` counts.)
fn kept_problem(problem: &ImportProblem) -> RowProblem {
    RowProblem {
        sheet: String::new(),
        row: Some(u32::try_from(problem.line).unwrap_or(u32::MAX)),
        column: problem.column.as_ref().map(|c| c.position.to_string()),
        field: problem.column.as_ref().map(|c| c.name.to_owned()),
        message: problem.message.clone(),
        message_zh: Some(problem.message_zh.clone()),
    }
}

/// The problems table, column for column.
fn problems_table(tr: &Tr, problems: &[RegionProblemLine]) -> Table {
    Table {
        title: tr.t("regions.import.problems"),
        headers: [
            "regions.import.line",
            "regions.import.column",
            "regions.import.message",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: problems
            .iter()
            .map(|p| {
                vec![
                    TableCell::Integer(i64::try_from(p.line).unwrap_or(i64::MAX)),
                    text(p.column.clone()),
                    text(p.message.clone()),
                ]
            })
            .collect(),
    }
}

/// Only an administrator may add regions (inside their own area, which storage checks).
fn require_administrator(page: &PageContext) -> Result<&CurrentUser, PageError> {
    let current = page.require_user()?;
    if !current.actor.administers() {
        return Err(page.error(WebError::Storage(StorageError::forbidden(
            "only an administrator may add regions",
            "只有系统管理员才能添加行政区划",
        ))));
    }
    Ok(current)
}

fn render(
    page: &PageContext,
    status: StatusCode,
    error: Option<String>,
    problems: Vec<RegionProblemLine>,
    problems_export: Option<Exports>,
) -> PageResult {
    Ok((
        status,
        RegionImportPage {
            layout: page.layout("regions"),
            max_mib: MAX_UPLOAD_BYTES / (1024 * 1024),
            error,
            problems,
            problems_export,
        },
    )
        .into_response())
}

/// The upload form; with `problems` and `format`, a refused file's problems as CSV or XLSX,
/// for the administrator who uploaded it, while they are kept.
pub(crate) async fn import_page(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<RegionImportQuery>,
) -> PageResult {
    let current = require_administrator(&page)?;
    let Some(format) =
        ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?
    else {
        return render(&page, StatusCode::OK, None, Vec::new(), None);
    };
    let id = query
        .problems
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            page.error(WebError::refused(
                "problems",
                "expected the id of a refused file's problems: only they download here",
                "应为被拒收文件的问题清单编号：此处只能下载问题清单",
            ))
        })?;
    let problems = state
        .problem_lists
        .get(current.user.id, ProblemKind::Regions, id)
        .ok_or_else(|| {
            page.error(WebError::Storage(StorageError::NotFound {
                entity: "problem list",
                key: id.to_owned(),
            }))
        })?;
    let lines: Vec<RegionProblemLine> = problems
        .iter()
        .map(|p| RegionProblemLine::of(p, page.tr))
        .collect();
    download(
        &page,
        format,
        "region-import-problems",
        &[problems_table(&page.tr, &lines)],
    )
}

/// Parses the file as the command line does, then stores it in one transaction: either
/// every region goes in (and the reader is sent to `/regions` with how many) or none does
/// and the page lists every problem.
pub(crate) async fn import_upload(
    State(state): State<AppState>,
    page: PageContext,
    multipart: Multipart,
) -> PageResult {
    let current = require_administrator(&page)?;
    let tr = page.tr;
    let upload = read_upload(multipart).await.map_err(|e| page.error(e))?;
    current
        .check_csrf(Some(&upload.csrf))
        .map_err(|e| page.error(e))?;
    if upload.bytes.is_empty() {
        let error = Some(tr.t("regions.import.no_file"));
        return render(
            &page,
            StatusCode::UNPROCESSABLE_ENTITY,
            error,
            Vec::new(),
            None,
        );
    }
    let bytes = upload.bytes;
    let parsed = tokio::task::spawn_blocking(move || parse_region_csv(&bytes))
        .await
        .map_err(|e| {
            page.error(WebError::refused(
                "file",
                format!("reading the regions CSV stopped unexpectedly: {e}"),
                format!("读取行政区划 CSV 时意外中止（{e}）"),
            ))
        })?;
    // The problems are kept for the uploader to download; the page lists them as kept.
    let refused = |problems: ImportProblems| {
        let kept: Vec<RowProblem> = problems.0.iter().map(kept_problem).collect();
        let lines = kept.iter().map(|p| RegionProblemLine::of(p, tr)).collect();
        let id = state
            .problem_lists
            .keep(current.user.id, ProblemKind::Regions, kept);
        let exports = Exports::of(&format!("/regions/import?problems={id}"));
        let error = Some(tr.t("regions.import.refused"));
        render(
            &page,
            StatusCode::UNPROCESSABLE_ENTITY,
            error,
            lines,
            Some(exports),
        )
    };
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(problems) => return refused(problems),
    };
    match state
        .db
        .import_regions(&current.actor, parsed, &upload.file_name)
        .await
    {
        Ok(summary) => {
            Ok(Redirect::to(&format!("/regions?imported={}", summary.inserted)).into_response())
        }
        Err(StorageError::ImportRejected(problems)) => refused(problems),
        Err(other) => {
            let error = WebError::from(other);
            let status = error.classify().0;
            render(
                &page,
                status,
                Some(error.said_in(tr.locale)),
                Vec::new(),
                None,
            )
        }
    }
}
