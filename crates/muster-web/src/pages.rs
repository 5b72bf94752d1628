//! The HTML UI: server-rendered pages over the same storage calls as the API. No JavaScript
//! is needed; every form carries a CSRF token.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{REFERER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use muster_domain::organization::Roles;
use muster_domain::sheet::{Table, TableCell};
use muster_domain::{OrganizationKind, RegionLevel, Scope};
use muster_storage::{AuditEntry, NewUser, Organization, Region, StorageError, User};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::{
    ClientAddress, CurrentUser, MaybeUser, PRE_SESSION_COOKIE, SESSION_COOKIE, cookie_value,
    random_secret, secrets_equal, set_cookie, sha256_hex,
};
use crate::error::WebError;
use crate::i18n::{LANGUAGE_COOKIE, Tr, negotiate, supported};
use crate::page_parts::{Exports, chosen_table, download};
use crate::potential_view::{ExportFormat, FormatQuery, file_part, query_string, text};

/// What every page's layout needs.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) tr: Tr,
    pub(crate) user: Option<UserBadge>,
    pub(crate) csrf: String,
    pub(crate) active: &'static str,
}

#[derive(Debug)]
pub(crate) struct UserBadge {
    pub(crate) display_name: String,
}

/// The request's language and user, for pages. Never fails: visitors get a layout too.
#[derive(Debug)]
pub(crate) struct PageContext {
    pub(crate) tr: Tr,
    pub(crate) user: Option<CurrentUser>,
}

impl FromRequestParts<AppState> for PageContext {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let MaybeUser(user) = MaybeUser::from_request_parts(parts, state).await?;
        let preference = user.as_ref().and_then(|u| u.user.locale.clone());
        let locale = negotiate(
            preference.as_deref(),
            cookie_value(&parts.headers, LANGUAGE_COOKIE),
            &parts.headers,
        );
        Ok(Self {
            tr: Tr { locale },
            user,
        })
    }
}

impl PageContext {
    pub(crate) fn layout(&self, active: &'static str) -> Layout {
        Layout {
            tr: self.tr,
            user: self.user.as_ref().map(|u| UserBadge {
                display_name: u.user.display_name.clone(),
            }),
            csrf: self
                .user
                .as_ref()
                .map(|u| u.csrf_token().to_owned())
                .unwrap_or_default(),
            active,
        }
    }

    /// The signed-in user, or a redirect to the sign-in page.
    pub(crate) fn require_user(&self) -> Result<&CurrentUser, PageError> {
        self.user
            .as_ref()
            .ok_or_else(|| self.error(WebError::Unauthenticated))
    }

    /// The same reader as a visitor: a page opened by a link (a manager's order, a holder's
    /// notice) shows neither the signed-in navigation nor, on an error, the account that
    /// happens to be signed in on the device.
    pub(crate) fn as_visitor(&self) -> PageContext {
        PageContext {
            tr: self.tr,
            user: None,
        }
    }

    pub(crate) fn error(&self, error: WebError) -> PageError {
        PageError {
            layout: Box::new(self.layout("")),
            error,
        }
    }
}

/// An error on a page: a redirect to sign in, or an error page in the reader's language,
/// with the signed-in reader's navigation, so the way on is one click away.
#[derive(Debug)]
pub(crate) struct PageError {
    /// Boxed: every page handler returns this as its error, which clippy keeps small.
    layout: Box<Layout>,
    error: WebError,
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    title: String,
    detail: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if matches!(self.error, WebError::Unauthenticated) {
            return Redirect::to("/signin").into_response();
        }
        let mut problem = self.error.problem();
        let tr = self.layout.tr;
        if let Some(detail) = self.error.localized_detail(tr.locale) {
            problem.detail = detail;
        }
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (_, slug, _) = self.error.classify();
        (
            status,
            ErrorPage {
                title: tr.t(&format!("error.kinds.{}", slug.replace('-', "_"))),
                detail: problem.detail,
                layout: *self.layout,
            },
        )
            .into_response()
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

pub(crate) async fn home() -> Redirect {
    Redirect::to("/regions")
}

// ---------------------------------------------------------------- sign-in

#[derive(Template, WebTemplate)]
#[template(path = "signin.html")]
struct SignInPage {
    layout: Layout,
    message: Option<String>,
    username: String,
    next: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInQuery {
    next: Option<String>,
    lang: Option<String>,
}

/// Only same-site paths: never an open redirect. Browsers drop tabs and line breaks from a
/// URL before reading it (`/<TAB>/evil.example` becomes `//evil.example`, another site), so
/// a path with any control character is refused, as are `//` and `\`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/regions".to_owned(),
    }
}

/// Renders a visitor form with a fresh pre-session CSRF token in a cookie and the form.
fn visitor_form(
    state: &AppState,
    status: StatusCode,
    language_cookie: Option<&str>,
    render: impl FnOnce(String) -> Response,
) -> Response {
    let token = random_secret();
    let mut response = render(token.clone());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&set_cookie(
        PRE_SESSION_COOKIE,
        &token,
        3600,
        state.config.behind_tls,
    )) {
        headers.append(SET_COOKIE, value);
    }
    if let Some(locale) = language_cookie
        && let Ok(value) = HeaderValue::from_str(&set_cookie(
            LANGUAGE_COOKIE,
            locale,
            365 * 86400,
            state.config.behind_tls,
        ))
    {
        headers.append(SET_COOKIE, value);
    }
    response
}

pub(crate) async fn sign_in_page(
    State(state): State<AppState>,
    mut page: PageContext,
    Query(query): Query<SignInQuery>,
) -> Response {
    if page.user.is_some() {
        return Redirect::to(&safe_next(query.next.as_deref())).into_response();
    }
    let chosen = query.lang.as_deref().and_then(supported);
    if let Some(locale) = chosen {
        page.tr = Tr { locale };
    }
    visitor_form(&state, StatusCode::OK, chosen, |csrf| {
        let mut layout = page.layout("");
        layout.csrf = csrf;
        SignInPage {
            layout,
            message: None,
            username: String::new(),
            next: safe_next(query.next.as_deref()),
        }
        .into_response()
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    csrf: String,
    username: String,
    password: String,
    next: Option<String>,
}

pub(crate) async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    page: PageContext,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let refuse = |message_key: &str, status: StatusCode| {
        let message = page.tr.t(message_key);
        visitor_form(&state, status, None, |csrf| {
            let mut layout = page.layout("");
            layout.csrf = csrf;
            SignInPage {
                layout,
                message: Some(message),
                username: form.username.clone(),
                next: safe_next(form.next.as_deref()),
            }
            .into_response()
        })
    };
    let pre_session = cookie_value(&headers, PRE_SESSION_COOKIE);
    if !pre_session.is_some_and(|cookie| secrets_equal(cookie, &form.csrf)) {
        return refuse("signin.stale", StatusCode::FORBIDDEN);
    }
    let signed_in = match crate::session::check_password(
        &state,
        &form.username,
        &form.password,
        client,
    )
    .await
    {
        Ok(user) => crate::session::start_session(&state, &user).await,
        Err(e) => Err(e),
    };
    match signed_in {
        Ok(session_cookie) => {
            let mut response = Redirect::to(&safe_next(form.next.as_deref())).into_response();
            if let Ok(value) = HeaderValue::from_str(&session_cookie) {
                response.headers_mut().append(SET_COOKIE, value);
            }
            if let Ok(value) = HeaderValue::from_str(&set_cookie(
                PRE_SESSION_COOKIE,
                "",
                0,
                state.config.behind_tls,
            )) {
                response.headers_mut().append(SET_COOKIE, value);
            }
            response
        }
        Err(WebError::RateLimited) => refuse("signin.limited", StatusCode::TOO_MANY_REQUESTS),
        Err(WebError::BadCredentials) => refuse("signin.failed", StatusCode::UNAUTHORIZED),
        Err(other) => page.error(other).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

pub(crate) async fn sign_out(
    State(state): State<AppState>,
    page: PageContext,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    if let crate::auth::Credential::Session { id_hash, .. } = &current.credential {
        state
            .db
            .end_session(&current.user, id_hash)
            .await
            .map_err(|e| page.error(e.into()))?;
    }
    let mut response = Redirect::to("/signin").into_response();
    if let Ok(value) =
        HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", 0, state.config.behind_tls))
    {
        response.headers_mut().append(SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LanguageForm {
    csrf: String,
    locale: String,
}

pub(crate) async fn set_language(
    State(state): State<AppState>,
    page: PageContext,
    headers: HeaderMap,
    Form(form): Form<LanguageForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let locale = supported(&form.locale).ok_or_else(|| {
        page.error(WebError::refused(
            "locale",
            "expected zh-CN or en",
            "语言应为 zh-CN 或 en",
        ))
    })?;
    state
        .db
        .set_user_locale(&current.actor, &current.user, locale)
        .await
        .map_err(|e| page.error(e.into()))?;
    // Back to the page the switch was pressed on, if it was one of ours.
    let back = headers
        .get(REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()));
    let mut response = Redirect::to(&safe_next(back.as_deref())).into_response();
    if let Ok(value) = HeaderValue::from_str(&set_cookie(
        LANGUAGE_COOKIE,
        locale,
        365 * 86400,
        state.config.behind_tls,
    )) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    Ok(response)
}

// ---------------------------------------------------------------- first administrator

#[derive(Template, WebTemplate)]
#[template(path = "setup.html")]
struct SetupPage {
    layout: Layout,
    message: Option<String>,
    /// What the form shows: empty at first (the office name then defaults to the locale's),
    /// what was sent after a refusal, so only the password needs typing again.
    form: SetupFields,
}

#[derive(Debug, Default, Clone)]
struct SetupFields {
    token: String,
    office: String,
    username: String,
    display_name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SetupQuery {
    token: Option<String>,
}

/// Whether the first administrator exists: then setup is over, and its page sends the
/// visitor to sign in instead.
async fn setup_is_done(state: &AppState) -> Result<bool, WebError> {
    Ok(state.db.user_count().await? > 0)
}

pub(crate) async fn setup_page(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<SetupQuery>,
) -> Result<Response, PageError> {
    if setup_is_done(&state).await.map_err(|e| page.error(e))? {
        return Ok(Redirect::to("/signin").into_response());
    }
    Ok(visitor_form(&state, StatusCode::OK, None, |csrf| {
        let mut layout = page.layout("");
        layout.csrf = csrf;
        SetupPage {
            layout,
            message: None,
            form: SetupFields {
                token: query.token.unwrap_or_default(),
                ..SetupFields::default()
            },
        }
        .into_response()
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SetupForm {
    csrf: String,
    token: String,
    office: String,
    username: String,
    display_name: String,
    password: String,
}

pub(crate) async fn setup(
    State(state): State<AppState>,
    page: PageContext,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Result<Response, PageError> {
    if setup_is_done(&state).await.map_err(|e| page.error(e))? {
        return Ok(Redirect::to("/signin").into_response());
    }
    let locale = page.tr.locale;
    let pre_session = cookie_value(&headers, PRE_SESSION_COOKIE);
    let sent = SetupFields {
        token: form.token.clone(),
        office: form.office.clone(),
        username: form.username.clone(),
        display_name: form.display_name.clone(),
    };
    let refuse = |message: String, status: StatusCode| {
        Ok(visitor_form(&state, status, None, |csrf| {
            let mut layout = page.layout("");
            layout.csrf = csrf;
            SetupPage {
                layout,
                message: Some(message),
                form: sent.clone(),
            }
            .into_response()
        }))
    };
    if !pre_session.is_some_and(|cookie| secrets_equal(cookie, &form.csrf)) {
        return refuse(page.tr.t("signin.stale"), StatusCode::FORBIDDEN);
    }
    let hash = match crate::password::hash_password_blocking(
        form.password.clone(),
        state.config.hash_cost,
    )
    .await
    {
        Ok(hash) => hash,
        Err(e) => {
            let refusal = WebError::refused("password", e.to_string(), e.zh());
            return refuse(refusal.said_in(locale), StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let admin = NewUser {
        username: form.username.clone(),
        display_name: form.display_name.clone(),
        password_hash: hash,
        organization_id: 0,
        roles: Roles::new(vec![muster_domain::Role::Administrator])
            .unwrap_or_else(|_| unreachable!("one role")),
    };
    match state
        .db
        .bootstrap_administrator(&sha256_hex(form.token.trim()), &form.office, admin)
        .await
    {
        Ok(_) => Ok(Redirect::to("/signin").into_response()),
        Err(muster_storage::StorageError::Forbidden(_)) => {
            refuse(page.tr.t("setup.refused"), StatusCode::FORBIDDEN)
        }
        Err(e) => {
            let error = WebError::from(e);
            let (status, _, _) = error.classify();
            refuse(error.said_in(locale), status)
        }
    }
}

// ---------------------------------------------------------------- regions

/// A region as a page shows it.
#[derive(Debug)]
struct RegionLine {
    code: String,
    name: String,
    level_key: &'static str,
    child_count: i64,
    descendant_count: i64,
    coordinates: Option<String>,
}

pub(crate) fn level_key(level: RegionLevel) -> &'static str {
    match level {
        RegionLevel::Province => "level.province",
        RegionLevel::City => "level.city",
        RegionLevel::County => "level.county",
        RegionLevel::Township => "level.township",
        RegionLevel::Village => "level.village",
    }
}

impl From<&Region> for RegionLine {
    fn from(region: &Region) -> Self {
        Self {
            code: region.code.clone(),
            name: region.name.clone(),
            level_key: level_key(region.level()),
            child_count: region.child_count,
            descendant_count: region.descendant_count,
            coordinates: region
                .lat
                .zip(region.lon)
                .map(|(lat, lon)| format!("{lat:.4}, {lon:.4}")),
        }
    }
}

#[derive(Debug)]
struct OrganizationLine {
    id: i64,
    name: String,
    kind_key: String,
    side_key: String,
    side: String,
    region_code: Option<String>,
}

impl From<&Organization> for OrganizationLine {
    fn from(org: &Organization) -> Self {
        let kind = OrganizationKind::parse(&org.kind).map_or("member_unit", |k| k.as_str());
        Self {
            id: org.id,
            name: org.name.clone(),
            kind_key: format!("kind.{kind}"),
            side_key: format!("side.{}", org.side),
            side: org.side.clone(),
            region_code: org.region_code.clone(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "regions.html")]
struct RegionsPage {
    layout: Layout,
    heading: String,
    region: Option<RegionLine>,
    breadcrumb: Vec<RegionLine>,
    children: Vec<RegionLine>,
    /// The download links of `children` (`?table=children`).
    children_exports: Exports,
    organizations: Vec<OrganizationLine>,
    /// The name searched for below this region (or the reader's whole area), and what
    /// matched: at most [`REGION_SEARCH_LIMIT`], the higher levels first.
    search: Option<RegionSearchResults>,
    /// Whether the reader may import regions (`/regions/import`).
    can_import: bool,
    /// How many regions an import just added, said after its redirect.
    notice: Option<String>,
}

#[derive(Debug)]
struct RegionSearchResults {
    query: String,
    found: Vec<RegionLine>,
    /// Whether more matched than are shown.
    more: bool,
    /// The download links of `found` (`?q=…&table=found`).
    exports: Exports,
}

/// Regions a name search lists; a name that matches more asks for a longer one.
const REGION_SEARCH_LIMIT: i64 = 100;

#[derive(Debug, Deserialize)]
pub(crate) struct RegionSearchQuery {
    q: Option<String>,
    /// Set by the redirect after `/regions/import`: how many regions it added. Read as text,
    /// so that a hand-edited value shows the page without the notice, not a bare 400.
    imported: Option<String>,
    /// Which table `format` downloads: `children` (the default) or `found`.
    table: Option<String>,
    format: Option<String>,
}

/// The tables of a region page that download.
#[derive(Debug, Clone, Copy)]
enum RegionTable {
    Children,
    Found,
}

pub(crate) async fn regions_top(
    state: State<AppState>,
    page: PageContext,
    Query(query): Query<RegionSearchQuery>,
) -> PageResult {
    region_page(state, page, None, query).await
}

pub(crate) async fn region(
    state: State<AppState>,
    page: PageContext,
    Path(code): Path<String>,
    Query(query): Query<RegionSearchQuery>,
) -> PageResult {
    region_page(state, page, Some(code), query).await
}

async fn region_page(
    State(state): State<AppState>,
    page: PageContext,
    code: Option<String>,
    query: RegionSearchQuery,
) -> PageResult {
    let current = page.require_user()?;
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let table = chosen_table(
        query.table.as_deref(),
        RegionTable::Children,
        &[
            ("children", RegionTable::Children),
            ("found", RegionTable::Found),
        ],
    )
    .map_err(|e| page.error(e))?;
    let scope = current.actor.scope();
    let view = state
        .db
        .region_view(scope, code.as_deref())
        .await
        .map_err(|e| page.error(e.into()))?;
    let here = view
        .region
        .as_ref()
        .map_or_else(|| "/regions".to_owned(), |r| format!("/regions/{}", r.code));
    let search = match query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        None => None,
        Some(name) => {
            // Below the region shown (which the view found inside the reader's scope), with
            // the reader's data classes.
            let below = match &view.region {
                Some(region) => Scope::new(region.region_path(), scope.data_classes().to_vec()),
                None => scope.clone(),
            };
            let mut found = state
                .db
                .search_regions(&below, name, REGION_SEARCH_LIMIT + 1)
                .await
                .map_err(|e| page.error(e.into()))?;
            let more = found.len() as i64 > REGION_SEARCH_LIMIT;
            found.truncate(REGION_SEARCH_LIMIT as usize);
            Some(RegionSearchResults {
                query: name.to_owned(),
                found: found.iter().map(RegionLine::from).collect(),
                more,
                exports: Exports::of_table(
                    &format!("{here}{}", query_string(&[("q", Some(name))])),
                    "found",
                ),
            })
        }
    };
    let children: Vec<RegionLine> = view.children.iter().map(RegionLine::from).collect();
    if let Some(format) = format {
        // The table as the page shows it: a download of `found` without a search is empty.
        let place = file_part(view.region.as_ref().map_or("top", |r| r.code.as_str()));
        let (name, table) = match table {
            RegionTable::Children => ("children", children_table(&page.tr, &children)),
            RegionTable::Found => (
                "found",
                found_table(&page.tr, search.as_ref().map_or(&[], |s| &s.found)),
            ),
        };
        return download(&page, format, &format!("regions-{place}-{name}"), &[table]);
    }
    let organizations = match &view.region {
        Some(region) => state
            .db
            .organizations_at(scope, &region.region_path())
            .await
            .map_err(|e| page.error(e.into()))?,
        None => Vec::new(),
    };
    let heading = view
        .region
        .as_ref()
        .map_or_else(|| page.tr.t("regions.top"), |r| r.name.clone());
    Ok(RegionsPage {
        layout: page.layout("regions"),
        heading,
        region: view.region.as_ref().map(RegionLine::from),
        breadcrumb: view.breadcrumb.iter().map(RegionLine::from).collect(),
        children,
        children_exports: Exports::of_table(&here, "children"),
        organizations: organizations.iter().map(OrganizationLine::from).collect(),
        search,
        can_import: current.actor.administers(),
        notice: query
            .imported
            .as_deref()
            .and_then(|n| n.parse::<usize>().ok())
            .map(|count| {
                page.tr
                    .t("regions.imported")
                    .replace("%{count}", &count.to_string())
            }),
    }
    .into_response())
}

/// The sub-regions table of a region page, column for column.
fn children_table(tr: &Tr, children: &[RegionLine]) -> Table {
    Table {
        title: tr.t("regions.children"),
        headers: [
            "regions.name",
            "regions.code",
            "regions.level",
            "regions.sub_regions",
            "regions.all_below",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: children
            .iter()
            .map(|child| {
                vec![
                    text(child.name.clone()),
                    text(child.code.clone()),
                    text(tr.t(child.level_key)),
                    TableCell::Integer(child.child_count),
                    TableCell::Integer(child.descendant_count),
                ]
            })
            .collect(),
    }
}

/// The search results table of a region page, column for column.
fn found_table(tr: &Tr, found: &[RegionLine]) -> Table {
    Table {
        title: tr.t("regions.search_results"),
        headers: [
            "regions.name",
            "regions.code",
            "regions.level",
            "regions.all_below",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: found
            .iter()
            .map(|region| {
                vec![
                    text(region.name.clone()),
                    text(region.code.clone()),
                    text(tr.t(region.level_key)),
                    TableCell::Integer(region.descendant_count),
                ]
            })
            .collect(),
    }
}

// ---------------------------------------------------------------- lists

const PAGE_SIZE: i64 = 100;
/// Rows a list page downloads: every row in the reader's scope from the first, up to this
/// many, not only the page shown.
const LIST_EXPORT_LIMIT: usize = 100_000;
/// Rows read at a time for a download: storage's largest page.
const EXPORT_BATCH: i64 = 1000;

#[derive(Debug, Deserialize)]
pub(crate) struct AfterQuery {
    after: Option<i64>,
    format: Option<String>,
}

/// Every row `read` gives, page after page (each read after the id of the last row so far),
/// up to [`LIST_EXPORT_LIMIT`]: what a list page downloads.
async fn every_page<T, Read>(
    mut read: impl FnMut(i64) -> Read,
    id: impl Fn(&T) -> i64,
) -> Result<Vec<T>, StorageError>
where
    Read: Future<Output = Result<Vec<T>, StorageError>>,
{
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let batch = read(after).await?;
        let full = batch.len() as i64 == EXPORT_BATCH;
        after = batch.last().map_or(after, &id);
        all.extend(batch);
        if !full || all.len() >= LIST_EXPORT_LIMIT {
            break;
        }
    }
    all.truncate(LIST_EXPORT_LIMIT);
    Ok(all)
}

#[derive(Template, WebTemplate)]
#[template(path = "organizations.html")]
struct OrganizationsPage {
    layout: Layout,
    organizations: Vec<OrganizationLine>,
    /// Whether the reader may add users (to the organizations listed, all in their region).
    administers: bool,
    next_after: Option<i64>,
    exports: Exports,
}

pub(crate) async fn organizations(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<AfterQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let scope = current.actor.scope();
    if let Some(format) =
        ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?
    {
        let all = every_page(
            |after| state.db.organizations(scope, None, EXPORT_BATCH, after),
            |o| o.id,
        )
        .await
        .map_err(|e| page.error(e.into()))?;
        let lines: Vec<OrganizationLine> = all.iter().map(OrganizationLine::from).collect();
        return download(
            &page,
            format,
            "organizations",
            &[organization_table(&page.tr, &lines)],
        );
    }
    let list = state
        .db
        .organizations(scope, None, PAGE_SIZE, query.after.unwrap_or(0))
        .await
        .map_err(|e| page.error(e.into()))?;
    let next_after = (list.len() as i64 == PAGE_SIZE).then(|| list.last().map_or(0, |o| o.id));
    Ok(OrganizationsPage {
        layout: page.layout("organizations"),
        organizations: list.iter().map(OrganizationLine::from).collect(),
        administers: current.actor.administers(),
        next_after,
        exports: Exports::of("/organizations"),
    }
    .into_response())
}

/// The organizations table, column for column but for the add-a-user links.
fn organization_table(tr: &Tr, organizations: &[OrganizationLine]) -> Table {
    Table {
        title: tr.t("orgs.title"),
        headers: ["orgs.name", "orgs.kind", "orgs.side", "orgs.region"]
            .iter()
            .map(|k| tr.t(k))
            .collect(),
        rows: organizations
            .iter()
            .map(|org| {
                vec![
                    text(org.name.clone()),
                    text(tr.t(&org.kind_key)),
                    text(tr.t(&org.side_key)),
                    text(
                        org.region_code
                            .clone()
                            .unwrap_or_else(|| tr.t("common.nation")),
                    ),
                ]
            })
            .collect(),
    }
}

#[derive(Debug)]
struct UserLine {
    id: i64,
    username: String,
    display_name: String,
    organization_name: String,
    role_keys: Vec<String>,
    disabled: bool,
    /// Whether the reader may disable or enable this user: an administrator, not themselves.
    can_toggle: bool,
}

/// The message keys of a user's roles, for tags.
pub(crate) fn role_keys(user: &User) -> Vec<String> {
    user.roles()
        .as_slice()
        .iter()
        .map(|r| format!("role.{r}"))
        .collect()
}

impl UserLine {
    fn of(user: &User, reader: &muster_domain::Actor) -> Self {
        Self {
            id: user.id,
            disabled: user.disabled != 0,
            can_toggle: reader.administers() && reader.user_id() != Some(user.id),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            organization_name: user.organization_name.clone(),
            role_keys: role_keys(user),
        }
    }

    /// The key of the state column: active or disabled.
    fn state_key(&self) -> &'static str {
        if self.disabled {
            "users.disabled"
        } else {
            "users.active"
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserLine>,
    administers: bool,
    next_after: Option<i64>,
    exports: Exports,
}

pub(crate) async fn users(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<AfterQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let scope = current.actor.scope();
    if let Some(format) =
        ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?
    {
        let all = every_page(|after| state.db.users(scope, EXPORT_BATCH, after), |u| u.id)
            .await
            .map_err(|e| page.error(e.into()))?;
        let lines: Vec<UserLine> = all
            .iter()
            .map(|u| UserLine::of(u, &current.actor))
            .collect();
        return download(&page, format, "users", &[user_table(&page.tr, &lines)]);
    }
    let list = state
        .db
        .users(scope, PAGE_SIZE, query.after.unwrap_or(0))
        .await
        .map_err(|e| page.error(e.into()))?;
    let next_after = (list.len() as i64 == PAGE_SIZE).then(|| list.last().map_or(0, |u| u.id));
    Ok(UsersPage {
        layout: page.layout("users"),
        users: list
            .iter()
            .map(|u| UserLine::of(u, &current.actor))
            .collect(),
        administers: current.actor.administers(),
        next_after,
        exports: Exports::of("/users"),
    }
    .into_response())
}

/// The users table, column for column but for the administrator's buttons; a user's roles
/// in one cell, as the page's tags in a list.
fn user_table(tr: &Tr, users: &[UserLine]) -> Table {
    let separator = if tr.locale.starts_with("zh") {
        "、"
    } else {
        ", "
    };
    Table {
        title: tr.t("users.title"),
        headers: [
            "users.username",
            "users.display_name",
            "users.organization",
            "users.roles",
            "users.state",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: users
            .iter()
            .map(|user| {
                let roles: Vec<String> = user.role_keys.iter().map(|k| tr.t(k)).collect();
                vec![
                    text(user.username.clone()),
                    text(user.display_name.clone()),
                    text(user.organization_name.clone()),
                    text(roles.join(separator)),
                    text(tr.t(user.state_key())),
                ]
            })
            .collect(),
    }
}

/// Audit entries the page shows: the newest.
const AUDIT_PAGE_SIZE: i64 = 200;
/// Audit entries a download holds at most: the newest, read back a thousand at a time (the
/// command line's `muster audit` reads the whole chain).
const AUDIT_EXPORT_LIMIT: usize = 100_000;
/// Entries one read of the log returns at most.
const AUDIT_READ_BATCH: i64 = 1000;

#[derive(Debug)]
struct AuditLine {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    entity: String,
    entity_id: String,
}

impl From<&AuditEntry> for AuditLine {
    fn from(entry: &AuditEntry) -> Self {
        Self {
            seq: entry.seq,
            at: format_utc(entry.at),
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            entity: entry.entity.clone(),
            entity_id: entry.entity_id.clone(),
        }
    }
}

impl AuditLine {
    /// What the entry is about, as one cell: the entity and its id.
    fn subject(&self) -> String {
        format!("{} {}", self.entity, self.entity_id)
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC from epoch milliseconds (civil-from-days, no time crate).
pub(crate) fn format_utc(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let (days, rem) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<AuditLine>,
    exports: Exports,
}

/// The newest audit entries the reader may read, or (`format=csv|xlsx`) up to
/// [`AUDIT_EXPORT_LIMIT`] of them, read back in batches: both through the same reach rules
/// and redaction.
pub(crate) async fn audit(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<FormatQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let fail = |e: muster_storage::StorageError| page.error(e.into());
    if let Some(format) = format {
        let mut lines: Vec<AuditLine> = Vec::new();
        let mut before = None;
        loop {
            let batch = state
                .db
                .audit_entries_read_by_before(&current.actor, before, AUDIT_READ_BATCH)
                .await
                .map_err(fail)?;
            let full = batch.len() as i64 == AUDIT_READ_BATCH;
            before = batch.last().map(|e| e.seq);
            lines.extend(batch.iter().map(AuditLine::from));
            if !full || lines.len() >= AUDIT_EXPORT_LIMIT {
                break;
            }
        }
        lines.truncate(AUDIT_EXPORT_LIMIT);
        return download(&page, format, "audit", &[audit_table(&page.tr, &lines)]);
    }
    let entries = state
        .db
        .audit_entries_read_by(&current.actor, AUDIT_PAGE_SIZE)
        .await
        .map_err(fail)?;
    let lines: Vec<AuditLine> = entries.iter().map(AuditLine::from).collect();
    Ok(AuditPage {
        layout: page.layout("audit"),
        entries: lines,
        exports: Exports::of("/audit"),
    }
    .into_response())
}

/// The audit table, column for column.
fn audit_table(tr: &Tr, entries: &[AuditLine]) -> Table {
    Table {
        title: tr.t("audit.title"),
        headers: [
            "audit.seq",
            "audit.at",
            "audit.actor",
            "audit.action",
            "audit.entity",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: entries
            .iter()
            .map(|entry| {
                vec![
                    TableCell::Integer(entry.seq),
                    text(entry.at.clone()),
                    text(entry.actor.clone()),
                    text(entry.action.clone()),
                    text(entry.subject()),
                ]
            })
            .collect(),
    }
}

/// Every page's region fields: a region found by name fills in its code.
pub(crate) async fn region_picker_script() -> impl IntoResponse {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/region-picker.js"),
    )
}

/// The phone inspection form's script: drafts, resumable uploads, idempotent submission.
pub(crate) async fn inspect_script() -> impl IntoResponse {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/inspect.js"),
    )
}

pub(crate) async fn stylesheet() -> impl IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/app.css"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting_matches_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_795_392_000_000), "2026-11-23 00:00:00");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn next_is_never_an_open_redirect() {
        assert_eq!(safe_next(Some("/regions/34")), "/regions/34");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/\u{7f}/evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/regions", "{bad}");
        }
    }
}
