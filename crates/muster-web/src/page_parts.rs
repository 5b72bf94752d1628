//! Pieces every registry page shares: the region breadcrumb (the spine of each screen), the
//! download links beside a table, and the small conversions from storage to page errors.

use muster_domain::potential::import::{RowProblem, SheetProblems};
use muster_domain::sheet::{Table, TableCell};
use muster_domain::taxonomy::Taxonomy;
use muster_storage::{RegionView, StorageError};

use crate::app::AppState;
use crate::error::WebError;
use crate::pages::{PageContext, PageError, PageResult};
use crate::potential_view::{ExportFormat, ProblemKind, sheet_download, text, with_format};

/// The region breadcrumb above a page, linking each region to the same page.
#[derive(Debug)]
pub(crate) struct Spine {
    /// Only for a national scope: a regional user has nothing above their own region.
    pub(crate) top_href: Option<String>,
    pub(crate) crumbs: Vec<Link>,
    pub(crate) current: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) text: String,
    pub(crate) href: String,
}

/// Download links for one table.
#[derive(Debug)]
pub(crate) struct Exports {
    pub(crate) csv: String,
    pub(crate) xlsx: String,
}

impl Exports {
    pub(crate) fn of(url: &str) -> Exports {
        Exports {
            csv: with_format(url, "csv"),
            xlsx: with_format(url, "xlsx"),
        }
    }

    /// Download links for the table `?table=` names on a page with more than one.
    pub(crate) fn of_table(url: &str, table: &str) -> Exports {
        let separator = if url.contains('?') { '&' } else { '?' };
        Exports::of(&format!("{url}{separator}table={table}"))
    }
}

/// Which of a page's tables `?table=` downloads: `default` when the query names none, a 400
/// listing the choices for a name the page does not have (rather than some other table).
pub(crate) fn chosen_table<T: Copy>(
    table: Option<&str>,
    default: T,
    choices: &[(&str, T)],
) -> Result<T, WebError> {
    match table.map(str::trim) {
        None | Some("") => Ok(default),
        Some(name) => choices
            .iter()
            .find(|(choice, _)| *choice == name)
            .map(|&(_, table)| table)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(choice, _)| *choice).collect();
                WebError::refused(
                    "table",
                    format!("expected one of: {}", names.join(", ")),
                    format!("表格应为以下之一：{}", names.join("、")),
                )
            }),
    }
}

/// The spine of a drill-down view; `href` gives the same page for a region (None: the top).
pub(crate) fn spine(
    view: &RegionView,
    href: impl Fn(Option<&str>) -> String,
    scope_is_nation: bool,
) -> Spine {
    Spine {
        top_href: scope_is_nation.then(|| href(None)),
        crumbs: view
            .breadcrumb
            .iter()
            .map(|r| Link {
                text: r.name.clone(),
                href: href(Some(&r.code)),
            })
            .collect(),
        current: view.region.as_ref().map(|r| r.name.clone()),
    }
}

pub(crate) fn page_err(page: &PageContext) -> impl Fn(StorageError) -> PageError + '_ {
    move |e| page.error(e.into())
}

pub(crate) fn download(
    page: &PageContext,
    format: ExportFormat,
    stem: &str,
    tables: &[Table],
) -> PageResult {
    sheet_download(format, stem, tables).map_err(|e| page.error(e))
}

/// A resource type's name in the reader's language, or its code when the taxonomy lacks it.
pub(crate) fn type_name(taxonomy: &Taxonomy, code: &str, locale: &str) -> String {
    taxonomy
        .resource_type(code)
        .map_or_else(|| code.to_owned(), |t| t.name(locale).to_owned())
}

/// The line index and column of a domain problem's field path into a list typed one item a
/// line, as `items[3].code` is `Some((3, "code"))` for the list `items`; `None` for any other
/// path (the whole list, or another field).
pub(crate) fn list_item_field<'a>(field: &'a str, list: &str) -> Option<(usize, &'a str)> {
    let rest = field.strip_prefix(list)?.strip_prefix('[')?;
    let (index, column) = rest.split_once("].")?;
    Some((index.parse().ok()?, column))
}

/// A page shown again with a refused form: 422 when `refused`, so that clients and tests
/// can tell a refusal from the page itself.
pub(crate) fn refused_status(
    mut response: axum::response::Response,
    refused: bool,
) -> axum::response::Response {
    if refused {
        *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

/// The first value of a form field, trimmed, from a form read as pairs (for forms that
/// repeat a field, like checkboxes); empty when absent.
pub(crate) fn form_field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// One problem of a refused upload, as the page lists it.
#[derive(Debug)]
pub(crate) struct ProblemLine {
    pub(crate) sheet: String,
    pub(crate) row: String,
    pub(crate) column: String,
    pub(crate) field: String,
    message: String,
    message_zh: Option<String>,
}

impl ProblemLine {
    /// The message in the reader's language where it was written in it.
    pub(crate) fn message_in(&self, locale: &str) -> &str {
        match &self.message_zh {
            Some(zh) if locale.starts_with("zh") => zh,
            _ => &self.message,
        }
    }
}

impl From<&RowProblem> for ProblemLine {
    fn from(p: &RowProblem) -> Self {
        Self {
            sheet: p.sheet.clone(),
            row: p.row.map(|r| r.to_string()).unwrap_or_default(),
            column: p.column.clone().unwrap_or_default(),
            field: p.field.clone().unwrap_or_default(),
            message: p.message.clone(),
            message_zh: p.message_zh.clone(),
        }
    }
}

/// What an upload, a submission or a review came to; the field names are those
/// `upload_outcome.html` reads.
#[derive(Debug, Default)]
pub(crate) struct UploadOutcome {
    pub(crate) notice: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) problems: Vec<ProblemLine>,
    pub(crate) problems_export: Option<Exports>,
}

impl UploadOutcome {
    /// A refused file: `error` heads the page, every problem is listed, and the list is
    /// kept for its uploader to download.
    pub(crate) fn refused(
        state: &AppState,
        user_id: i64,
        error: String,
        problems: SheetProblems,
    ) -> Self {
        let lines = problems.0.iter().map(ProblemLine::from).collect();
        let id = state
            .problem_lists
            .keep(user_id, ProblemKind::Sheet, problems.0);
        Self {
            error: Some(error),
            problems: lines,
            problems_export: Some(Exports::of(&format!("/potential/import/problems/{id}"))),
            notice: None,
        }
    }

    pub(crate) fn failed(error: &WebError, tr: &crate::i18n::Tr) -> Self {
        Self {
            error: Some(error.said_in(tr.locale)),
            ..Self::default()
        }
    }
}

/// An instant as `YYYY-MM-DD HH:MM` in UTC, the zone every deadline in Muster is kept in.
pub(crate) fn date_time(millis: i64) -> String {
    let minutes = millis.rem_euclid(86_400_000) / 60_000;
    format!(
        "{} {:02}:{:02}",
        muster_domain::Timestamp::from_millis(millis).date(),
        minutes / 60,
        minutes % 60
    )
}

/// A figure as the page shows it (a count, kilometres, hours, an amount in yuan), as a
/// number a spreadsheet can sum; empty when the page shows nothing.
pub(crate) fn shown_number(shown: &str) -> TableCell {
    match shown.trim() {
        "" => TableCell::Empty,
        figure => figure
            .parse()
            .map_or_else(|_| text(figure), TableCell::Number),
    }
}

#[cfg(test)]
mod tests {
    use super::list_item_field;

    #[test]
    fn a_list_items_field_path_gives_its_index_and_column() {
        assert_eq!(list_item_field("items[3].code", "items"), Some((3, "code")));
        assert_eq!(
            list_item_field("checkpoints[0].position", "checkpoints"),
            Some((0, "position"))
        );
        assert_eq!(list_item_field("items", "items"), None);
        assert_eq!(list_item_field("items[x].code", "items"), None);
        assert_eq!(list_item_field("items[3].code", "checkpoints"), None);
        assert_eq!(list_item_field("itemsx[3].code", "items"), None);
    }
}
