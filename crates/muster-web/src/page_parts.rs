//! Pieces every registry page shares: the region breadcrumb (the spine of each screen), the
//! download links beside a table, and the small conversions from storage to page errors.

use muster_domain::sheet::Table;
use muster_domain::taxonomy::Taxonomy;
use muster_storage::{RegionView, StorageError};

use crate::pages::{PageContext, PageError, PageResult};
use crate::potential_view::{ExportFormat, sheet_download, with_format};

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
