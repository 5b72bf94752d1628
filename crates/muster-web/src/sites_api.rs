//! Sites in the JSON API: the warehouses, depots, hospitals, plants and yards where potential
//! is kept. Reads are scoped by the caller; registering, changing, moving or removing one
//! takes a reporting role and the CSRF header for browser sessions.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use muster_domain::potential::SiteKind;
use muster_storage::{NewSite, Site, SiteChanges, SiteFilter};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{Problem, WebError};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sites, create_site))
        .routes(routes!(get_site, update_site, remove_site))
}

/// The kinds a site may be, as the API and the form spell them.
pub(crate) const SITE_KINDS: &str =
    "warehouse, reserve_depot, hospital, plant, yard, port, airfield, station or other";

pub(crate) fn parse_site_kind(text: &str) -> Result<SiteKind, WebError> {
    SiteKind::parse(text.trim()).ok_or_else(|| {
        WebError::refused(
            "kind",
            format!("expected {SITE_KINDS}"),
            format!("地点类型应为以下之一：{SITE_KINDS}"),
        )
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SiteDto {
    id: i64,
    name: String,
    /// warehouse, reserve_depot, hospital, plant, yard, port, airfield, station or other.
    kind: String,
    region_code: String,
    region_name: String,
    region_path: String,
    lat: Option<f64>,
    lon: Option<f64>,
    /// The organization that runs the site, when it is registered in Muster.
    organization_id: Option<i64>,
    /// Potential records kept at the site (linked by name when they were stored).
    record_count: i64,
    created_at: i64,
}

impl From<Site> for SiteDto {
    fn from(s: Site) -> Self {
        Self {
            id: s.id,
            name: s.name,
            kind: s.kind,
            region_code: s.region_code,
            region_name: s.region_name,
            region_path: s.region_path,
            lat: s.lat,
            lon: s.lon,
            organization_id: s.organization_id,
            record_count: s.record_count,
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct SiteQuery {
    /// Only sites in this region's subtree.
    region: Option<String>,
    /// Only sites whose name contains this text (case, width and spacing do not matter).
    q: Option<String>,
    /// Keyset pagination: the last id of the previous page.
    after: Option<i64>,
    /// At most 1000; default 100.
    limit: Option<i64>,
}

/// Sites in the caller's subtree, by id, with the number of records kept at each.
#[utoipa::path(get, path = "/sites", tag = "sites", params(SiteQuery),
    responses((status = 200, body = Vec<SiteDto>), (status = 404, body = Problem)))]
async fn list_sites(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<SiteQuery>,
) -> Result<Json<Vec<SiteDto>>, WebError> {
    let sites = state
        .db
        .sites(
            current.actor.scope(),
            &SiteFilter {
                region_code: query.region,
                name_contains: query.q,
                limit: query.limit.unwrap_or(100),
                after_id: query.after.unwrap_or(0),
            },
        )
        .await?;
    Ok(Json(sites.into_iter().map(SiteDto::from).collect()))
}

#[utoipa::path(get, path = "/sites/{id}", tag = "sites", params(("id" = i64, Path)),
    responses((status = 200, body = SiteDto), (status = 404, body = Problem)))]
async fn get_site(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<SiteDto>, WebError> {
    Ok(Json(state.db.site(current.actor.scope(), id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewSiteRequest {
    /// Unique in the region after case, width and spacing are folded.
    name: String,
    /// warehouse, reserve_depot, hospital, plant, yard, port, airfield, station or other.
    kind: String,
    region_code: String,
    /// Within the region's reach of its own point.
    lat: f64,
    lon: f64,
    /// The organization that runs the site, if registered, in the caller's subtree.
    organization_id: Option<i64>,
}

/// Registers a site in a region of the caller's subtree (office, workstation and member-unit
/// staff). Records whose site names it, in its region, are linked to it when stored.
#[utoipa::path(post, path = "/sites", tag = "sites", request_body = NewSiteRequest,
    responses((status = 201, body = SiteDto), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_site(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<NewSiteRequest>,
) -> Result<(StatusCode, Json<SiteDto>), WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    let kind = parse_site_kind(&request.kind)?;
    let created = state
        .db
        .create_site(
            &current.actor,
            NewSite {
                name: request.name,
                kind,
                region_code: request.region_code,
                lat: request.lat,
                lon: request.lon,
                organization_id: request.organization_id,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SiteChangesRequest {
    /// A new name, unique in the region after case, width and spacing are folded. While
    /// records are kept at the site only its spelling may change (the same folded name), and
    /// the records take it; another name is refused (409): register it as a new site.
    name: Option<String>,
    /// warehouse, reserve_depot, hospital, plant, yard, port, airfield, station or other.
    kind: Option<String>,
    /// Another region of the caller's subtree: a move, refused while records are kept at the
    /// site.
    region_code: Option<String>,
    /// Within the reach of the point of the region the site ends up in.
    lat: Option<f64>,
    lon: Option<f64>,
    /// A number sets the organization that runs the site, `null` clears it; left out, it
    /// stays.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    organization_id: Option<Option<i64>>,
}

/// A field that is present, `null` or not: `Some(None)` for `null`, so that a field left out
/// (`None`, by `default`) differs from one cleared.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(deserializer).map(Some)
}

/// Changes a site in the caller's subtree (office, workstation and member-unit staff): what
/// is left out stays. While records are kept there, the name only changes spelling (the
/// records take it) and the site does not move: both are refused with 409.
#[utoipa::path(patch, path = "/sites/{id}", tag = "sites", params(("id" = i64, Path)),
    request_body = SiteChangesRequest,
    responses((status = 200, body = SiteDto), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_site(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<SiteChangesRequest>,
) -> Result<Json<SiteDto>, WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    let kind = request.kind.as_deref().map(parse_site_kind).transpose()?;
    let updated = state
        .db
        .update_site(
            &current.actor,
            id,
            SiteChanges {
                name: request.name,
                kind,
                region_code: request.region_code,
                lat: request.lat,
                lon: request.lon,
                organization_id: request.organization_id,
            },
        )
        .await?;
    Ok(Json(updated.into()))
}

/// Removes a site in the caller's subtree at which no record is kept (office, workstation and
/// member-unit staff).
#[utoipa::path(delete, path = "/sites/{id}", tag = "sites", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn remove_site(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    state.db.remove_site(&current.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
