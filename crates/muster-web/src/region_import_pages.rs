//! The regions CSV upload, `/regions/import`: the same all-or-nothing import as `muster
//! import regions`, for administrators, with every problem of a refused file listed by line
//! and column in the reader's language.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use muster_domain::region_import::{ImportProblem, ImportProblems, parse_region_csv};
use muster_storage::StorageError;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::pages::{Layout, PageContext, PageError, PageResult};
use crate::potential_pages::read_upload;
use crate::potential_view::MAX_UPLOAD_BYTES;

#[derive(Template, WebTemplate)]
#[template(path = "region_import.html")]
struct RegionImportPage {
    layout: Layout,
    max_mib: usize,
    /// Why the file was refused, above the problems.
    error: Option<String>,
    problems: Vec<RegionProblemLine>,
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
    fn of(problem: &ImportProblem, tr: Tr) -> Self {
        Self {
            line: problem.line,
            column: problem.column.as_ref().map_or_else(String::new, |c| {
                tr.t("regions.import.column_at")
                    .replace("%{position}", &c.position.to_string())
                    .replace("%{name}", c.name)
            }),
            message: problem.message_in(tr.locale).to_owned(),
        }
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
) -> PageResult {
    Ok((
        status,
        RegionImportPage {
            layout: page.layout("regions"),
            max_mib: MAX_UPLOAD_BYTES / (1024 * 1024),
            error,
            problems,
        },
    )
        .into_response())
}

pub(crate) async fn import_page(page: PageContext) -> PageResult {
    require_administrator(&page)?;
    render(&page, StatusCode::OK, None, Vec::new())
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
        return render(&page, StatusCode::UNPROCESSABLE_ENTITY, error, Vec::new());
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
    let refused = |problems: ImportProblems| {
        let lines = problems
            .0
            .iter()
            .map(|p| RegionProblemLine::of(p, tr))
            .collect();
        let error = Some(tr.t("regions.import.refused"));
        render(&page, StatusCode::UNPROCESSABLE_ENTITY, error, lines)
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
            render(&page, status, Some(error.said_in(tr.locale)), Vec::new())
        }
    }
}
