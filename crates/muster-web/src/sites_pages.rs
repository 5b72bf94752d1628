//! The "Sites" tab of the potential pages: the sites in the reader's scope with their kind,
//! region, coordinates and records, a form to register one for reporting roles, and the
//! table as CSV or XLSX with `format=csv|xlsx`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use muster_domain::Role;
use muster_domain::potential::SiteKind;
use muster_domain::sheet::{Table, TableCell};
use muster_storage::{NewSite, Site, StorageError};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::page_parts::Exports;
use crate::pages::{Layout, PageContext, PageResult};
use crate::potential_view::{
    ExportFormat, file_part, query_string, sheet_download, text, with_format,
};
use crate::sites_api::parse_site_kind;

/// Sites per page; an export takes up to [`SITE_EXPORT_LIMIT`].
const SITES_PAGE_SIZE: i64 = 100;
const SITE_EXPORT_LIMIT: usize = 100_000;

#[derive(Debug, Deserialize)]
pub(crate) struct SitesQuery {
    region: Option<String>,
    after: Option<i64>,
    format: Option<String>,
    created: Option<String>,
}

/// The registration form as typed, kept to show again with a refusal.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct SiteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    lon: String,
    #[serde(default)]
    organization_id: String,
}

#[derive(Debug)]
struct SiteLine {
    id: i64,
    name: String,
    kind_key: String,
    region_name: String,
    region_code: String,
    coordinates: String,
    records: i64,
}

impl SiteLine {
    fn of(site: &Site) -> SiteLine {
        SiteLine {
            id: site.id,
            name: site.name.clone(),
            kind_key: format!("sites.kind.{}", site.kind().as_str()),
            region_name: site.region_name.clone(),
            region_code: site.region_code.clone(),
            coordinates: match (site.lat, site.lon) {
                (Some(lat), Some(lon)) => format!("{lat:.5}, {lon:.5}"),
                _ => String::new(),
            },
            records: site.record_count,
        }
    }
}

#[derive(Debug)]
struct KindChoice {
    value: &'static str,
    label: String,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "sites.html")]
struct SitesPage {
    layout: Layout,
    tab: &'static str,
    region: String,
    sites: Vec<SiteLine>,
    next_href: Option<String>,
    first_href: Option<String>,
    exports: Exports,
    can_create: bool,
    kinds: Vec<KindChoice>,
    form: SiteForm,
    message: Option<String>,
    created: bool,
}

/// Office, workstation and member-unit staff and administrators register sites, as they
/// report potential.
fn may_register(page: &PageContext) -> bool {
    page.user.as_ref().is_some_and(|u| {
        u.actor.administers()
            || [
                Role::OfficeStaff,
                Role::WorkstationStaff,
                Role::MemberUnitOfficer,
            ]
            .iter()
            .any(|r| u.actor.has_role(*r))
    })
}

fn sites_url(region: Option<&str>, after: Option<&str>) -> String {
    format!(
        "/potential/sites{}",
        query_string(&[("region", region), ("after", after)])
    )
}

pub(crate) async fn sites(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<SitesQuery>,
) -> PageResult {
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let form = SiteForm {
        region_code: query.region.clone().unwrap_or_default(),
        ..SiteForm::default()
    };
    if let Some(format) = format {
        return export(&state, &page, query.region.as_deref(), format).await;
    }
    render(
        &state,
        &page,
        &query,
        form,
        None,
        query.created.is_some(),
        StatusCode::OK,
    )
    .await
}

async fn render(
    state: &AppState,
    page: &PageContext,
    query: &SitesQuery,
    form: SiteForm,
    message: Option<String>,
    created: bool,
    status: StatusCode,
) -> PageResult {
    let current = page.require_user()?;
    let region = query
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let after = query.after.unwrap_or(0);
    let list = state
        .db
        .sites(current.actor.scope(), region, SITES_PAGE_SIZE, after)
        .await
        .map_err(|e| page.error(e.into()))?;
    let next_href = (list.len() as i64 == SITES_PAGE_SIZE)
        .then(|| {
            list.last()
                .map(|s| sites_url(region, Some(&s.id.to_string())))
        })
        .flatten();
    let first_href = (after > 0).then(|| sites_url(region, None));
    let here = sites_url(region, None);
    let tr = page.tr;
    let kinds = SiteKind::ALL
        .iter()
        .map(|k| KindChoice {
            value: k.as_str(),
            label: tr.t(&format!("sites.kind.{}", k.as_str())),
            selected: form.kind == k.as_str(),
        })
        .collect();
    let mut response = SitesPage {
        layout: page.layout("potential"),
        tab: "sites",
        region: region.unwrap_or_default().to_owned(),
        sites: list.iter().map(SiteLine::of).collect(),
        next_href,
        first_href,
        exports: Exports {
            csv: with_format(&here, "csv"),
            xlsx: with_format(&here, "xlsx"),
        },
        can_create: may_register(page),
        kinds,
        form,
        message,
        created,
    }
    .into_response();
    *response.status_mut() = status;
    Ok(response)
}

fn site_table(tr: &Tr, sites: &[Site]) -> Table {
    Table {
        title: tr.t("sites.title"),
        headers: [
            "potential.id",
            "sites.name",
            "sites.kind_label",
            "sites.region",
            "sites.region_code",
            "sites.lat",
            "sites.lon",
            "sites.organization_id",
            "sites.records",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: sites
            .iter()
            .map(|site| {
                let number = |v: Option<f64>| v.map_or_else(|| text(""), TableCell::Number);
                vec![
                    TableCell::Integer(site.id),
                    text(site.name.clone()),
                    text(tr.t(&format!("sites.kind.{}", site.kind().as_str()))),
                    text(site.region_name.clone()),
                    text(site.region_code.clone()),
                    number(site.lat),
                    number(site.lon),
                    site.organization_id
                        .map_or_else(|| text(""), TableCell::Integer),
                    TableCell::Integer(site.record_count),
                ]
            })
            .collect(),
    }
}

async fn export(
    state: &AppState,
    page: &PageContext,
    region: Option<&str>,
    format: ExportFormat,
) -> PageResult {
    let current = page.require_user()?;
    let region = region.map(str::trim).filter(|r| !r.is_empty());
    let mut all: Vec<Site> = Vec::new();
    let mut after = 0;
    loop {
        let batch = state
            .db
            .sites(current.actor.scope(), region, 1000, after)
            .await
            .map_err(|e| page.error(e.into()))?;
        let full = batch.len() == 1000;
        after = batch.last().map_or(after, |s| s.id);
        all.extend(batch);
        if !full || all.len() >= SITE_EXPORT_LIMIT {
            break;
        }
    }
    all.truncate(SITE_EXPORT_LIMIT);
    let stem = format!("sites-{}", file_part(region.unwrap_or("all")));
    sheet_download(format, &stem, &[site_table(&page.tr, &all)]).map_err(|e| page.error(e))
}

fn parse_coordinate(text: &str, field: &str) -> Result<f64, WebError> {
    text.trim()
        .parse()
        .map_err(|_| WebError::refused(field, "not a number", "应为数字"))
}

impl SiteForm {
    fn new_site(&self) -> Result<NewSite, WebError> {
        let organization_id =
            match self.organization_id.trim() {
                "" => None,
                id => Some(id.parse().map_err(|_| {
                    WebError::refused("organization_id", "not a number", "应为数字")
                })?),
            };
        Ok(NewSite {
            name: self.name.clone(),
            kind: parse_site_kind(&self.kind)?,
            region_code: self.region_code.trim().to_owned(),
            lat: parse_coordinate(&self.lat, "lat")?,
            lon: parse_coordinate(&self.lon, "lon")?,
            organization_id,
        })
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<SiteForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let query = SitesQuery {
        region: Some(form.region_code.clone()),
        after: None,
        format: None,
        created: None,
    };
    let locale = page.tr.locale;
    let refused = match form.new_site() {
        Err(e) => e.said_in(locale),
        Ok(new_site) => match state.db.create_site(&current.actor, new_site).await {
            Ok(site) => {
                let url = format!(
                    "/potential/sites{}",
                    query_string(&[("region", Some(&site.region_code)), ("created", Some("1"))])
                );
                return Ok(Redirect::to(&url).into_response());
            }
            Err(
                e @ (StorageError::Refused { .. }
                | StorageError::Conflict { .. }
                | StorageError::Forbidden(_)
                | StorageError::OutOfScope { .. }),
            ) => WebError::from(e).said_in(locale),
            Err(other) => return Err(page.error(other.into())),
        },
    };
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    // The list shows the region the form named when it is in scope, else the whole scope.
    let query = match state
        .db
        .region(current.actor.scope(), form.region_code.trim())
        .await
    {
        Ok(_) => query,
        Err(_) => SitesQuery {
            region: None,
            ..query
        },
    };
    render(&state, &page, &query, form, Some(refused), false, status).await
}
