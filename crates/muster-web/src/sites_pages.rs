//! The "Sites" tab of the potential pages: the sites in the reader's scope with their kind,
//! region, coordinates and records, searched by name with `q=`, a form to register one for
//! reporting roles, and the table as CSV or XLSX with `format=csv|xlsx`; for the same roles,
//! each site's page `/potential/sites/{id}` to change, move or remove it.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use muster_domain::Role;
use muster_domain::potential::SiteKind;
use muster_domain::sheet::{Table, TableCell};
use muster_storage::{NewSite, Site, SiteChanges, SiteFilter, StorageError};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::page_parts::Exports;
use crate::page_parts::page_err;
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
    /// Only sites whose name contains this.
    q: Option<String>,
    after: Option<i64>,
    format: Option<String>,
    created: Option<String>,
    updated: Option<String>,
    removed: Option<String>,
}

impl SitesQuery {
    fn of_region(region: Option<String>) -> Self {
        Self {
            region,
            q: None,
            after: None,
            format: None,
            created: None,
            updated: None,
            removed: None,
        }
    }

    /// What the page says first, after a registration, a change or a removal.
    fn notice_key(&self) -> Option<&'static str> {
        if self.created.is_some() {
            Some("sites.created")
        } else if self.updated.is_some() {
            Some("sites.updated")
        } else if self.removed.is_some() {
            Some("sites.removed")
        } else {
            None
        }
    }
}

/// The registration form, or a site's form, as typed, kept to show again with a refusal.
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
    q: String,
    sites: Vec<SiteLine>,
    next_href: Option<String>,
    first_href: Option<String>,
    exports: Exports,
    can_create: bool,
    kinds: Vec<KindChoice>,
    form: SiteForm,
    message: Option<String>,
    notice: Option<String>,
}

/// A site's own page, for the roles that register sites: its form to change or move it, and
/// the button that removes it.
#[derive(Template, WebTemplate)]
#[template(path = "site_edit.html")]
struct SiteEditPage {
    layout: Layout,
    tab: &'static str,
    site: SiteLine,
    kinds: Vec<KindChoice>,
    form: SiteForm,
    message: Option<String>,
    back_href: String,
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

fn sites_url(region: Option<&str>, q: Option<&str>, after: Option<&str>) -> String {
    format!(
        "/potential/sites{}",
        query_string(&[("region", region), ("q", q), ("after", after)])
    )
}

fn kind_choices(tr: &Tr, selected: &str) -> Vec<KindChoice> {
    SiteKind::ALL
        .iter()
        .map(|k| KindChoice {
            value: k.as_str(),
            label: tr.t(&format!("sites.kind.{}", k.as_str())),
            selected: selected == k.as_str(),
        })
        .collect()
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
        return export(&state, &page, &query, format).await;
    }
    render(&state, &page, &query, form, None, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    page: &PageContext,
    query: &SitesQuery,
    form: SiteForm,
    message: Option<String>,
    status: StatusCode,
) -> PageResult {
    let current = page.require_user()?;
    let region = query
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let after = query.after.unwrap_or(0);
    let list = state
        .db
        .sites(
            current.actor.scope(),
            &SiteFilter {
                region_code: region.map(str::to_owned),
                name_contains: q.map(str::to_owned),
                limit: SITES_PAGE_SIZE,
                after_id: after,
            },
        )
        .await
        .map_err(|e| page.error(e.into()))?;
    let next_href = (list.len() as i64 == SITES_PAGE_SIZE)
        .then(|| {
            list.last()
                .map(|s| sites_url(region, q, Some(&s.id.to_string())))
        })
        .flatten();
    let first_href = (after > 0).then(|| sites_url(region, q, None));
    let here = sites_url(region, q, None);
    let tr = page.tr;
    let kinds = kind_choices(&tr, &form.kind);
    let mut response = SitesPage {
        layout: page.layout("potential"),
        tab: "sites",
        region: region.unwrap_or_default().to_owned(),
        q: q.unwrap_or_default().to_owned(),
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
        notice: query.notice_key().map(|key| tr.t(key)),
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
    query: &SitesQuery,
    format: ExportFormat,
) -> PageResult {
    let current = page.require_user()?;
    let region = query
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let mut all: Vec<Site> = Vec::new();
    let mut after = 0;
    loop {
        let batch = state
            .db
            .sites(
                current.actor.scope(),
                &SiteFilter {
                    region_code: region.map(str::to_owned),
                    name_contains: query.q.clone(),
                    limit: 1000,
                    after_id: after,
                },
            )
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

    /// The form of a stored site, as its page shows it first.
    fn of_site(site: &Site) -> Self {
        Self {
            csrf: String::new(),
            name: site.name.clone(),
            kind: site.kind.clone(),
            region_code: site.region_code.clone(),
            lat: site.lat.map(|v| v.to_string()).unwrap_or_default(),
            lon: site.lon.map(|v| v.to_string()).unwrap_or_default(),
            organization_id: site
                .organization_id
                .map(|v| v.to_string())
                .unwrap_or_default(),
        }
    }

    /// A site's form as changes: every field is sent, so every field is a change (storage
    /// writes nothing when none differs); an empty coordinate (a site stored without one)
    /// stays as it is, and an empty organization clears it.
    fn changes(&self) -> Result<SiteChanges, WebError> {
        let optional_coordinate = |text: &str, field: &str| match text.trim() {
            "" => Ok(None),
            value => parse_coordinate(value, field).map(Some),
        };
        let organization_id =
            match self.organization_id.trim() {
                "" => None,
                id => Some(id.parse().map_err(|_| {
                    WebError::refused("organization_id", "not a number", "应为数字")
                })?),
            };
        Ok(SiteChanges {
            name: Some(self.name.clone()),
            kind: Some(parse_site_kind(&self.kind)?),
            region_code: Some(self.region_code.trim().to_owned()),
            lat: optional_coordinate(&self.lat, "lat")?,
            lon: optional_coordinate(&self.lon, "lon")?,
            organization_id: Some(organization_id),
        })
    }
}

/// Only the roles that register sites open a site's page: others are refused as storage
/// would refuse their change.
fn refuse_unless_may_register(page: &PageContext) -> Result<(), WebError> {
    if may_register(page) {
        Ok(())
    } else {
        Err(WebError::Storage(StorageError::forbidden(
            "only office staff, workstation staff and member-unit officers change sites",
            "只有动员办工作人员、工作站人员和成员单位专干才能修改存放地点",
        )))
    }
}

/// A refusal storage said for the reader to act on, shown on the form; any other error is
/// an error page.
fn form_refusal(e: StorageError) -> Result<WebError, StorageError> {
    match e {
        e @ (StorageError::Refused { .. }
        | StorageError::Conflict { .. }
        | StorageError::Forbidden(_)
        | StorageError::OutOfScope { .. }) => Ok(WebError::from(e)),
        other => Err(other),
    }
}

fn site_page(
    page: &PageContext,
    site: &Site,
    form: SiteForm,
    message: Option<String>,
    status: StatusCode,
) -> PageResult {
    let mut response = SiteEditPage {
        layout: page.layout("potential"),
        tab: "sites",
        site: SiteLine::of(site),
        kinds: kind_choices(&page.tr, &form.kind),
        form,
        message,
        back_href: sites_url(Some(&site.region_code), None, None),
    }
    .into_response();
    *response.status_mut() = status;
    Ok(response)
}

/// `GET /potential/sites/{id}`: the site's form and its remove button.
pub(crate) async fn edit(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
) -> PageResult {
    let current = page.require_user()?;
    refuse_unless_may_register(&page).map_err(|e| page.error(e))?;
    let site = state
        .db
        .site(current.actor.scope(), id)
        .await
        .map_err(page_err(&page))?;
    site_page(&page, &site, SiteForm::of_site(&site), None, StatusCode::OK)
}

/// `POST /potential/sites/{id}`: saves the form; a refusal comes back on the form as typed,
/// in the reader's language.
pub(crate) async fn update(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<SiteForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let locale = page.tr.locale;
    let (refused, status) = match form.changes() {
        Err(e) => (e.said_in(locale), StatusCode::UNPROCESSABLE_ENTITY),
        Ok(changes) => match state.db.update_site(&current.actor, id, changes).await {
            Ok(site) => {
                let url = format!(
                    "/potential/sites{}",
                    query_string(&[("region", Some(&site.region_code)), ("updated", Some("1"))])
                );
                return Ok(Redirect::to(&url).into_response());
            }
            Err(e) => {
                let refusal = form_refusal(e).map_err(page_err(&page))?;
                (refusal.said_in(locale), refusal.classify().0)
            }
        },
    };
    let site = state
        .db
        .site(current.actor.scope(), id)
        .await
        .map_err(page_err(&page))?;
    site_page(&page, &site, form, Some(refused), status)
}

/// Only the CSRF field: the remove button's form.
#[derive(Debug, Deserialize)]
pub(crate) struct RemoveForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /potential/sites/{id}/remove`: removes a site no record is kept at; a refusal is
/// shown on the site's page.
pub(crate) async fn remove(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<RemoveForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let site = state
        .db
        .site(current.actor.scope(), id)
        .await
        .map_err(page_err(&page))?;
    match state.db.remove_site(&current.actor, id).await {
        Ok(()) => {
            let url = format!(
                "/potential/sites{}",
                query_string(&[("region", Some(&site.region_code)), ("removed", Some("1"))])
            );
            Ok(Redirect::to(&url).into_response())
        }
        Err(e) => {
            let refusal = form_refusal(e).map_err(page_err(&page))?;
            let said = refusal.said_in(page.tr.locale);
            site_page(
                &page,
                &site,
                SiteForm::of_site(&site),
                Some(said),
                refusal.classify().0,
            )
        }
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
    let query = SitesQuery::of_region(Some(form.region_code.clone()));
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
        Err(_) => SitesQuery::of_region(None),
    };
    render(&state, &page, &query, form, Some(refused), status).await
}
