//! The JSON API under `/api/v1`, described by the OpenAPI document it serves. Handlers only
//! parse, call storage with the caller's actor, and convert to wire types.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use muster_domain::organization::Roles;
use muster_domain::region_import::{
    ColumnLayout, Coordinates, ParsedRegionCsv, RegionRow, parse_region_csv,
};
use muster_domain::{OrganizationKind, RegionCode, RegionLevel, Side};
use muster_storage::{
    AuditEntry, NewOrganization, NewUser, Organization, Region, RegionListFilter, RegionView,
    StorageError, User,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::{ClientAddress, CurrentUser};
use crate::error::{Problem, WebError};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Muster API",
        description = "Defense and emergency mobilization: regions, organizations, users, audit, and the potential registry \
        (taxonomy, totals, records, imports, baselines, gaps). \
        Authenticate with `Authorization: Bearer <token>` (POST /api/v1/auth/token) or a browser session \
        (then send the session's CSRF token as `X-CSRF-Token` on writes). Errors are RFC 9457 problem details."
    ),
    components(schemas(Problem))
)]
struct ApiDoc;

pub(crate) fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(me))
        .routes(routes!(issue_token))
        .routes(routes!(list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(list_regions, create_region))
        .routes(routes!(get_region))
        .merge(
            // A province's regions file is tens of megabytes: uploads get the larger limit.
            OpenApiRouter::new().routes(routes!(import_regions)).layer(
                axum::extract::DefaultBodyLimit::max(crate::potential_view::MAX_UPLOAD_BYTES),
            ),
        )
        .routes(routes!(list_organizations, create_organization))
        .routes(routes!(get_organization))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user))
        .routes(routes!(change_own_password))
        .routes(routes!(reset_password))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(list_user_tokens))
        .routes(routes!(revoke_user_token))
        .routes(routes!(list_audit))
        .merge(crate::potential_api::router())
        .merge(crate::sites_api::router())
        .merge(crate::facilities_api::router())
        .merge(crate::survey_api::router())
        .merge(crate::verification_api::router())
        .merge(crate::demands_api::router())
        .merge(crate::requisition_api::router())
        .merge(crate::settings_api::router())
        .merge(crate::sustainment_api::router())
        .split_for_parts()
}

/// Checks the CSRF header when a browser session (not a token) makes a write.
fn check_write(current: &CurrentUser, headers: &HeaderMap) -> Result<(), WebError> {
    current.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
}

// ------------------------------------------------------------------ wire types

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegionDto {
    code: String,
    parent_code: Option<String>,
    name: String,
    /// province, city, county, township or village.
    level: String,
    path: String,
    lat: Option<f64>,
    lon: Option<f64>,
    child_count: i64,
    descendant_count: i64,
}

impl From<Region> for RegionDto {
    fn from(r: Region) -> Self {
        Self {
            level: r.level().as_str().to_owned(),
            code: r.code,
            parent_code: r.parent_code,
            name: r.name,
            path: r.path,
            lat: r.lat,
            lon: r.lon,
            child_count: r.child_count,
            descendant_count: r.descendant_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegionViewDto {
    region: RegionDto,
    /// Ancestors inside the caller's scope, top first.
    breadcrumb: Vec<RegionDto>,
    children: Vec<RegionDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrganizationDto {
    id: i64,
    name: String,
    kind: String,
    side: String,
    region_code: Option<String>,
    region_path: String,
}

impl From<Organization> for OrganizationDto {
    fn from(o: Organization) -> Self {
        Self {
            id: o.id,
            name: o.name,
            kind: o.kind,
            side: o.side,
            region_code: o.region_code,
            region_path: o.region_path,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserDto {
    id: i64,
    username: String,
    display_name: String,
    organization_id: i64,
    organization_name: String,
    region_code: Option<String>,
    region_path: String,
    roles: Vec<String>,
    locale: Option<String>,
    /// A disabled user cannot sign in and has no live sessions or tokens.
    disabled: bool,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            roles: u
                .roles()
                .as_slice()
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            organization_id: u.organization_id,
            organization_name: u.organization_name,
            region_code: u.region_code,
            region_path: u.region_path,
            locale: u.locale,
            disabled: u.disabled != 0,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeDto {
    user: UserDto,
    /// The root of the caller's region subtree (`/` for the whole nation).
    scope: String,
    data_classes: Vec<String>,
    /// Echo as `X-CSRF-Token` on writes made with the session cookie; empty for tokens.
    csrf_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEntryDto {
    seq: i64,
    at: i64,
    actor: String,
    entity: String,
    entity_id: String,
    action: String,
    region_path: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    hash: String,
    /// Whether details the caller may not see were taken out of `before` or `after`: what
    /// is shown then no longer matches `hash`.
    redacted: bool,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(e: AuditEntry) -> Self {
        let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        Self {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            entity: e.entity,
            entity_id: e.entity_id,
            action: e.action,
            region_path: e.region_path,
            before: json(e.before),
            after: json(e.after),
            hash: e.hash,
            redacted: e.redacted,
        }
    }
}

// ------------------------------------------------------------------ me and tokens

/// The caller, their scope and data classes.
#[utoipa::path(get, path = "/me", tag = "auth", responses((status = 200, body = MeDto), (status = 401, body = Problem)))]
async fn me(current: CurrentUser) -> Json<MeDto> {
    let scope = current.actor.scope();
    Json(MeDto {
        scope: scope.subtree().as_str().to_owned(),
        data_classes: scope
            .data_classes()
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        csrf_token: current.csrf_token().to_owned(),
        user: current.user.into(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct TokenRequest {
    username: String,
    password: String,
    /// What the token is for, e.g. "nightly export".
    name: String,
    /// How many days the token works: 1 to 365, 90 when left out.
    days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    id: i64,
    /// Shown once; only its hash is stored.
    token: String,
    /// Epoch milliseconds after which the token no longer authenticates.
    expires_at: i64,
}

/// A token as listed: never the secret nor its hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenDto {
    id: i64,
    name: String,
    /// Epoch milliseconds.
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl From<muster_storage::ApiToken> for TokenDto {
    fn from(t: muster_storage::ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// Exchanges a username and password for an API token (rate-limited like sign-in).
#[utoipa::path(post, path = "/auth/token", tag = "auth", request_body = TokenRequest,
    responses((status = 201, body = TokenResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn issue_token(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Json(request): Json<TokenRequest>,
) -> Result<
    (
        StatusCode,
        [(axum::http::HeaderName, &'static str); 1],
        Json<TokenResponse>,
    ),
    WebError,
> {
    // Checked before the password, so a malformed request costs no sign-in attempt.
    let days = crate::session::token_days(request.days)?;
    let user = crate::session::check_password(&state, &request.username, &request.password, client)
        .await?;
    let (stored, token) =
        crate::session::issue_api_token(&state, &user, &request.name, days).await?;
    Ok((
        StatusCode::CREATED,
        // The secret is shown once: no cache keeps it.
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(TokenResponse {
            id: stored.id,
            token,
            expires_at: stored.expires_at,
        }),
    ))
}

/// The caller's API tokens, newest first, revoked and expired ones included.
#[utoipa::path(get, path = "/auth/tokens", tag = "auth",
    responses((status = 200, body = Vec<TokenDto>), (status = 401, body = Problem)))]
async fn list_tokens(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Vec<TokenDto>>, WebError> {
    let tokens = state.db.api_tokens(&current.actor, &current.user).await?;
    Ok(Json(tokens.into_iter().map(TokenDto::from).collect()))
}

/// Revokes one of the caller's API tokens; it stops authenticating at once.
#[utoipa::path(delete, path = "/auth/tokens/{id}", tag = "auth", params(("id" = i64, Path)),
    responses((status = 200, body = TokenDto), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_token(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<TokenDto>, WebError> {
    check_write(&current, &headers)?;
    let token = state
        .db
        .revoke_api_token(&current.actor, &current.user, id)
        .await?;
    Ok(Json(token.into()))
}

// ------------------------------------------------------------------ regions

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct RegionQuery {
    /// Only the direct children of this region.
    parent: Option<String>,
    /// province, city, county, township or village (or 1-5).
    level: Option<String>,
    /// A part of the name.
    q: Option<String>,
    /// Keyset pagination: the last code of the previous page.
    after: Option<String>,
    /// At most 1000; default 100.
    limit: Option<i64>,
}

/// Regions in the caller's subtree, by code.
#[utoipa::path(get, path = "/regions", tag = "regions", params(RegionQuery),
    responses((status = 200, body = Vec<RegionDto>), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_regions(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<RegionQuery>,
) -> Result<Json<Vec<RegionDto>>, WebError> {
    let level = match query.level.as_deref() {
        None | Some("") => None,
        Some(text) => Some(RegionLevel::parse(text).ok_or_else(|| {
            WebError::refused(
                "level",
                "expected province, city, county, township, village or 1-5",
                "应为 province（省）、city（市）、county（县）、township（乡镇）、village（村）或 1-5",
            )
        })?),
    };
    let filter = RegionListFilter {
        parent_code: query.parent,
        level,
        name_contains: query.q.filter(|q| !q.trim().is_empty()),
        limit: query.limit.unwrap_or(100),
        after_code: query.after,
    };
    let regions = state.db.regions(current.actor.scope(), &filter).await?;
    Ok(Json(regions.into_iter().map(RegionDto::from).collect()))
}

/// One region with its breadcrumb and children.
#[utoipa::path(get, path = "/regions/{code}", tag = "regions", params(("code" = String, Path, description = "Region code")),
    responses((status = 200, body = RegionViewDto), (status = 404, body = Problem)))]
async fn get_region(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(code): Path<String>,
) -> Result<Json<RegionViewDto>, WebError> {
    let RegionView {
        region,
        breadcrumb,
        children,
    } = state
        .db
        .region_view(current.actor.scope(), Some(&code))
        .await?;
    let region = region.ok_or_else(|| {
        WebError::Storage(muster_storage::StorageError::NotFound {
            entity: "region",
            key: code,
        })
    })?;
    Ok(Json(RegionViewDto {
        region: region.into(),
        breadcrumb: breadcrumb.into_iter().map(Into::into).collect(),
        children: children.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewRegionRequest {
    code: String,
    name: String,
    /// Absent for a province.
    parent_code: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

/// Adds one region under a parent in the caller's subtree (administrators). The same
/// validation as the CSV import applies.
#[utoipa::path(post, path = "/regions", tag = "regions", request_body = NewRegionRequest,
    responses((status = 201, body = RegionDto), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_region(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<NewRegionRequest>,
) -> Result<(StatusCode, Json<RegionDto>), WebError> {
    check_write(&current, &headers)?;
    let code = RegionCode::parse(&request.code)
        .map_err(|e| WebError::refused("code", e.to_string(), e.zh()))?;
    let parent_code = match request
        .parent_code
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => Some(
            RegionCode::parse(p)
                .map_err(|e| WebError::refused("parent_code", e.to_string(), e.zh()))?,
        ),
    };
    let coordinates = match (request.lat, request.lon) {
        (None, None) => None,
        (Some(lat), Some(lon)) => Some(Coordinates::new(lat, lon).ok_or_else(|| {
            WebError::refused(
                "lat",
                "expected lat in [-90, 90] and lon in [-180, 180]",
                "纬度（lat）应在 [-90, 90] 之间，经度（lon）应在 [-180, 180] 之间",
            )
        })?),
        _ => {
            return Err(WebError::refused(
                "lat",
                "give both lat and lon, or neither",
                "纬度（lat）和经度（lon）须同时给出，或都不给",
            ));
        }
    };
    let name = request.name.trim().to_owned();
    if name.is_empty() {
        return Err(WebError::refused(
            "name",
            "the name is empty",
            "名称不能为空",
        ));
    }
    let row = RegionRow {
        line: 1,
        code: code.clone(),
        name,
        parent_code,
        level: None,
        coordinates,
    };
    state
        .db
        .import_regions(
            &current.actor,
            ParsedRegionCsv {
                rows: vec![row],
                layout: ColumnLayout::default(),
            },
            "api",
        )
        .await?;
    let region = state
        .db
        .region(current.actor.scope(), code.as_str())
        .await?;
    Ok((StatusCode::CREATED, Json(region.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct RegionImportQuery {
    /// The file's name, which names the import in the audit log.
    file_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegionImportDto {
    inserted: usize,
    audit_seq: i64,
}

/// Imports a regions CSV (administrators, inside their own area), all or nothing, as
/// `muster import regions` and the `/regions/import` page do: columns `code`, `name`,
/// `parent_code`, and optionally `level`, `lat`, `lon` (English or Chinese headers; UTF-8 or
/// GB18030). Send the file itself as the body, with its name in `?file_name=`. A refused file
/// stores nothing and comes back as 422 with every problem in `errors` (line, column, kind,
/// message).
#[utoipa::path(post, path = "/regions/imports", tag = "regions", params(RegionImportQuery),
    request_body(content = Vec<u8>, content_type = "text/csv", description = "The regions CSV"),
    responses((status = 201, body = RegionImportDto), (status = 403, body = Problem), (status = 413, description = "The file is larger than 64 MiB"), (status = 422, body = Problem)))]
async fn import_regions(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Query(query): Query<RegionImportQuery>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<RegionImportDto>), WebError> {
    check_write(&current, &headers)?;
    if !current.actor.administers() {
        return Err(WebError::Storage(StorageError::forbidden(
            "only an administrator may add regions",
            "只有系统管理员才能添加行政区划",
        )));
    }
    let parsed = tokio::task::spawn_blocking(move || parse_region_csv(&body))
        .await
        .map_err(|e| {
            WebError::refused(
                "file",
                format!("reading the regions CSV stopped unexpectedly: {e}"),
                format!("读取行政区划 CSV 时意外中止（{e}）"),
            )
        })?
        .map_err(|problems| WebError::Storage(StorageError::ImportRejected(problems)))?;
    let source = query
        .file_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("api");
    let summary = state
        .db
        .import_regions(&current.actor, parsed, source)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegionImportDto {
            inserted: summary.inserted,
            audit_seq: summary.audit_seq,
        }),
    ))
}

// ------------------------------------------------------------------ organizations

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct OrganizationQuery {
    /// Only organizations in this region's subtree.
    region: Option<String>,
    /// Keyset pagination: the last id of the previous page.
    after: Option<i64>,
    limit: Option<i64>,
}

/// Organizations in the caller's subtree.
#[utoipa::path(get, path = "/organizations", tag = "organizations", params(OrganizationQuery),
    responses((status = 200, body = Vec<OrganizationDto>)))]
async fn list_organizations(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<OrganizationQuery>,
) -> Result<Json<Vec<OrganizationDto>>, WebError> {
    let scope = current.actor.scope();
    let within = match &query.region {
        Some(code) => Some(state.db.region(scope, code).await?.region_path()),
        None => None,
    };
    let list = state
        .db
        .organizations(
            scope,
            within.as_ref(),
            query.limit.unwrap_or(100),
            query.after.unwrap_or(0),
        )
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/organizations/{id}", tag = "organizations", params(("id" = i64, Path)),
    responses((status = 200, body = OrganizationDto), (status = 404, body = Problem)))]
async fn get_organization(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<OrganizationDto>, WebError> {
    Ok(Json(
        state
            .db
            .organization(current.actor.scope(), id)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewOrganizationRequest {
    name: String,
    /// mobilization_office, military_liaison, member_unit, township_workstation,
    /// village_contact_point, enterprise or property_manager.
    kind: String,
    /// civil or military; defaults by kind.
    side: Option<String>,
    /// Absent for a national organization.
    region_code: Option<String>,
}

/// Adds an organization in the caller's subtree (administrators).
#[utoipa::path(post, path = "/organizations", tag = "organizations", request_body = NewOrganizationRequest,
    responses((status = 201, body = OrganizationDto), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_organization(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<NewOrganizationRequest>,
) -> Result<(StatusCode, Json<OrganizationDto>), WebError> {
    check_write(&current, &headers)?;
    let kind = OrganizationKind::parse(&request.kind).ok_or_else(|| {
        WebError::refused(
            "kind",
            "expected one of mobilization_office, military_liaison, member_unit, township_workstation, village_contact_point, enterprise, property_manager",
            "应为 mobilization_office、military_liaison、member_unit、township_workstation、village_contact_point、enterprise、property_manager 之一",
        )
    })?;
    let side = match request.side.as_deref() {
        None => kind.default_side(),
        Some(text) => Side::parse(text).ok_or_else(|| {
            WebError::refused(
                "side",
                "expected civil or military",
                "应为 civil（地方）或 military（军队）",
            )
        })?,
    };
    let created = state
        .db
        .create_organization(
            &current.actor,
            NewOrganization {
                name: request.name,
                kind,
                side,
                region_code: request.region_code,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

// ------------------------------------------------------------------ users

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct PageQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

/// Users of organizations in the caller's subtree.
#[utoipa::path(get, path = "/users", tag = "users", params(PageQuery), responses((status = 200, body = Vec<UserDto>)))]
async fn list_users(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<PageQuery>,
) -> Result<Json<Vec<UserDto>>, WebError> {
    let list = state
        .db
        .users(
            current.actor.scope(),
            query.limit.unwrap_or(100),
            query.after.unwrap_or(0),
        )
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserDto), (status = 404, body = Problem)))]
async fn get_user(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<UserDto>, WebError> {
    Ok(Json(state.db.user(current.actor.scope(), id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewUserRequest {
    username: String,
    display_name: String,
    /// At least 8 characters.
    password: String,
    organization_id: i64,
    /// administrator, office_staff, military_liaison, member_unit_officer,
    /// workstation_staff, grid_member, property_manager, viewer.
    roles: Vec<String>,
}

/// Adds a user to an organization in the caller's subtree (administrators).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUserRequest,
    responses((status = 201, body = UserDto), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<NewUserRequest>,
) -> Result<(StatusCode, Json<UserDto>), WebError> {
    check_write(&current, &headers)?;
    let roles = Roles::parse_list(&request.roles.join(","))
        .map_err(|e| WebError::refused("roles", e.to_string(), e.zh()))?;
    crate::password::check_password_rules(&request.password)
        .map_err(|e| WebError::refused("password", e.to_string(), e.zh()))?;
    let password_hash =
        crate::password::hash_password_blocking(request.password, state.config.hash_cost)
            .await
            .map_err(|e| WebError::refused("password", e.to_string(), e.zh()))?;
    let new = NewUser {
        username: request.username,
        display_name: request.display_name,
        password_hash,
        organization_id: request.organization_id,
        roles,
    };
    Ok((
        StatusCode::CREATED,
        Json(state.db.create_user(&current.actor, new).await?.into()),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PasswordChangeRequest {
    current_password: String,
    /// At least 8 characters.
    new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PasswordResetRequest {
    /// At least 8 characters; tell it to the user in person.
    new_password: String,
}

fn password_refusal(error: crate::session::PasswordChangeError) -> WebError {
    match error {
        crate::session::PasswordChangeError::Current(e) => match e {
            WebError::BadCredentials => WebError::refused(
                "current_password",
                "the current password is wrong",
                "当前密码不正确",
            ),
            other => other,
        },
        crate::session::PasswordChangeError::New(e) => {
            WebError::refused("new_password", e.to_string(), e.zh())
        }
        crate::session::PasswordChangeError::Other(e) => e,
    }
}

/// Changes the caller's own password, given the current one (rate-limited like sign-in).
/// Their other sessions end.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = PasswordChangeRequest,
    responses((status = 204), (status = 400, body = Problem), (status = 429, body = Problem)))]
async fn change_own_password(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    current: CurrentUser,
    headers: HeaderMap,
    Json(request): Json<PasswordChangeRequest>,
) -> Result<StatusCode, WebError> {
    check_write(&current, &headers)?;
    crate::session::change_password(
        &state,
        &current,
        current.user.id,
        Some(&request.current_password),
        request.new_password,
        client,
    )
    .await
    .map_err(password_refusal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resets a user's password (administrators, users in their subtree); the user's sessions
/// end and their API tokens are revoked.
#[utoipa::path(post, path = "/users/{id}/password", tag = "users", params(("id" = i64, Path)),
    request_body = PasswordResetRequest,
    responses((status = 204), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn reset_password(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(request): Json<PasswordResetRequest>,
) -> Result<StatusCode, WebError> {
    check_write(&current, &headers)?;
    if !current.actor.administers() {
        return Err(muster_storage::StorageError::forbidden(
            "only an administrator resets a password",
            "只有系统管理员才能重置密码",
        )
        .into());
    }
    if id == current.user.id {
        // Their own goes through the current password, like anyone's.
        return Err(WebError::refused(
            "id",
            "change your own password with /auth/password",
            "修改自己的密码请使用 /auth/password",
        ));
    }
    crate::session::change_password(&state, &current, id, None, request.new_password, client)
        .await
        .map_err(password_refusal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disables a user in the caller's subtree (administrators, never themselves): they can no
/// longer sign in, and their sessions and API tokens stop working at once.
#[utoipa::path(post, path = "/users/{id}/disable", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserDto), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn disable_user(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<UserDto>, WebError> {
    check_write(&current, &headers)?;
    let user = state.db.set_user_disabled(&current.actor, id, true).await?;
    Ok(Json(user.into()))
}

/// Enables a disabled user again; they sign in afresh (revoked tokens stay revoked).
#[utoipa::path(post, path = "/users/{id}/enable", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserDto), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn enable_user(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<UserDto>, WebError> {
    check_write(&current, &headers)?;
    let user = state
        .db
        .set_user_disabled(&current.actor, id, false)
        .await?;
    Ok(Json(user.into()))
}

/// A user's API tokens (the user themselves, or an administrator over their region).
#[utoipa::path(get, path = "/users/{id}/tokens", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<TokenDto>), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_user_tokens(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Vec<TokenDto>>, WebError> {
    let user = state.db.user(current.actor.scope(), id).await?;
    let tokens = state.db.api_tokens(&current.actor, &user).await?;
    Ok(Json(tokens.into_iter().map(TokenDto::from).collect()))
}

/// Revokes a user's API token (the user themselves, or an administrator over their region).
#[utoipa::path(delete, path = "/users/{id}/tokens/{token_id}", tag = "users",
    params(("id" = i64, Path), ("token_id" = i64, Path)),
    responses((status = 200, body = TokenDto), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_user_token(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path((id, token_id)): Path<(i64, i64)>,
) -> Result<Json<TokenDto>, WebError> {
    check_write(&current, &headers)?;
    let user = state.db.user(current.actor.scope(), id).await?;
    let token = state
        .db
        .revoke_api_token(&current.actor, &user, token_id)
        .await?;
    Ok(Json(token.into()))
}

// ------------------------------------------------------------------ audit

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct AuditQuery {
    /// At most 1000; default 100.
    limit: Option<i64>,
}

/// The newest audit entries about the caller's subtree.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery), responses((status = 200, body = Vec<AuditEntryDto>)))]
async fn list_audit(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntryDto>>, WebError> {
    let entries = state
        .db
        .audit_entries_read_by(&current.actor, query.limit.unwrap_or(100))
        .await?;
    Ok(Json(entries.into_iter().map(Into::into).collect()))
}
