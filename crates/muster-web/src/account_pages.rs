//! The account page, where a signed-in user keeps their own API tokens (issue one after
//! giving their password again, see the secret once, revoke) and changes their password;
//! and what an administrator does to other users: disable or enable them (the users page's
//! buttons), add one to an organization, reset a forgotten password, see and revoke their
//! API tokens (someone left, or a script's token leaked). Plain forms, no
//! JavaScript; storage checks the roles again and audits every change.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use muster_domain::sheet::Table;
use muster_storage::{ApiToken, StorageError, User};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::ClientAddress;
use crate::error::WebError;
use crate::page_parts::{Exports, download, form_field, page_err, refused_status};
use crate::pages::{Layout, PageContext, PageResult, format_utc, role_keys};
use crate::potential_view::{ExportFormat, file_part, text};
use crate::session::{DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS};

/// A form that carries only its CSRF token: revoke, disable, enable, close a round.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfForm {
    pub(crate) fn check(&self, current: &crate::auth::CurrentUser) -> Result<(), WebError> {
        current.check_csrf(Some(&self.csrf))
    }
}

/// The issue-a-token form as typed (the password is never echoed back).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    password: String,
}

impl TokenForm {
    /// The form as the page first shows it: the default number of days.
    fn blank() -> Self {
        Self {
            days: DEFAULT_TOKEN_DAYS.to_string(),
            ..Self::default()
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct AccountQuery {
    revoked: Option<i64>,
    changed: Option<String>,
    /// Downloads the tokens table instead of showing the page.
    format: Option<String>,
}

/// A problem with one field of the token form: a message key, or storage's own words.
#[derive(Debug)]
struct FieldProblem {
    field: &'static str,
    message: Message,
}

#[derive(Debug)]
enum Message {
    Key(&'static str),
    Text(String),
}

#[derive(Debug)]
struct TokenLine {
    id: i64,
    name: String,
    created_at: String,
    expires_at: String,
    /// `account.token_live`, `account.token_expired` or `account.token_revoked`.
    state_key: &'static str,
    live: bool,
}

impl TokenLine {
    fn of(token: &ApiToken, now: i64) -> Self {
        let (state_key, live) = match token.revoked_at {
            Some(_) => ("account.token_revoked", false),
            None if token.expires_at <= now => ("account.token_expired", false),
            None => ("account.token_live", true),
        };
        Self {
            id: token.id,
            name: token.name.clone(),
            created_at: format_utc(token.created_at),
            expires_at: format_utc(token.expires_at),
            state_key,
            live,
        }
    }
}

/// The tokens table (`token_table.html`), column for column but for the revoke buttons; a
/// token's secret is never stored, let alone downloaded.
fn token_table(tr: &crate::i18n::Tr, title: String, tokens: &[TokenLine]) -> Table {
    Table {
        title,
        headers: [
            "account.token_name",
            "account.created_at",
            "account.expires_at",
            "account.state",
        ]
        .iter()
        .map(|k| tr.t(k))
        .collect(),
        rows: tokens
            .iter()
            .map(|token| {
                vec![
                    text(token.name.clone()),
                    text(token.created_at.clone()),
                    text(token.expires_at.clone()),
                    text(tr.t(token.state_key)),
                ]
            })
            .collect(),
    }
}

/// `user`'s tokens as their table downloads, read as `page`'s reader may (storage decides).
async fn download_tokens(
    state: &AppState,
    page: &PageContext,
    user: &User,
    format: ExportFormat,
    title_key: &str,
) -> PageResult {
    let current = page.require_user()?;
    let tokens = state
        .db
        .api_tokens(&current.actor, user)
        .await
        .map_err(page_err(page))?;
    let now = muster_storage::now().as_millis();
    let lines: Vec<TokenLine> = tokens.iter().map(|t| TokenLine::of(t, now)).collect();
    let stem = format!("api-tokens-{}", file_part(&user.username));
    let table = token_table(&page.tr, page.tr.t(title_key), &lines);
    download(page, format, &stem, &[table])
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    /// Where a token's revoke button posts (`token_table.html`).
    revoke_prefix: String,
    username: String,
    display_name: String,
    organization_name: String,
    role_keys: Vec<String>,
    tokens: Vec<TokenLine>,
    /// The download links of `tokens`.
    exports: Exports,
    /// The secret of a token just issued: shown this once.
    issued: Option<String>,
    notice: Option<Notice>,
    name: String,
    days: String,
    problems: Vec<FieldProblem>,
    /// "From 1 to 365 days.", in the reader's language.
    days_help: String,
}

/// The problems of `field`, in the reader's language where they are ours.
fn problems_of(problems: &[FieldProblem], tr: &crate::i18n::Tr, field: &str) -> String {
    problems
        .iter()
        .filter(|p| p.field == field)
        .map(|p| match &p.message {
            Message::Key(key) => tr.t(key),
            Message::Text(text) => text.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl AccountPage {
    fn problem(&self, field: &str) -> String {
        problems_of(&self.problems, &self.layout.tr, field)
    }
}

pub(crate) async fn account(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<AccountQuery>,
) -> PageResult {
    if let Some(format) =
        ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?
    {
        let current = page.require_user()?;
        return download_tokens(&state, &page, &current.user, format, "account.tokens_title").await;
    }
    let form = TokenForm::blank();
    let notice = match (query.revoked, query.changed) {
        (Some(_), _) => Some(REVOKED),
        (None, Some(_)) => Some(PASSWORD_CHANGED),
        (None, None) => None,
    };
    render(&state, &page, form, Vec::new(), None, notice).await
}

/// A line at the top of the account page: its element id and message key.
type Notice = (&'static str, &'static str);
const REVOKED: Notice = ("token-revoked", "account.revoked");
const PASSWORD_CHANGED: Notice = ("password-changed", "account.password_changed");

async fn render(
    state: &AppState,
    page: &PageContext,
    form: TokenForm,
    problems: Vec<FieldProblem>,
    issued: Option<String>,
    notice: Option<Notice>,
) -> PageResult {
    let current = page.require_user()?;
    let user = &current.user;
    let tokens = state
        .db
        .api_tokens(&current.actor, user)
        .await
        .map_err(page_err(page))?;
    let now = muster_storage::now().as_millis();
    let refused = !problems.is_empty();
    let response = AccountPage {
        revoke_prefix: "/account/tokens".to_owned(),
        layout: page.layout("account"),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        organization_name: user.organization_name.clone(),
        role_keys: role_keys(user),
        tokens: tokens.iter().map(|t| TokenLine::of(t, now)).collect(),
        exports: Exports::of("/account"),
        issued,
        notice,
        name: form.name,
        days: form.days,
        problems,
        days_help: page
            .tr
            .t("account.days_help")
            .replace("%{max}", &MAX_TOKEN_DAYS.to_string()),
    }
    .into_response();
    Ok(refused_status(response, refused))
}

/// Issues a token to the signed-in user once they have given their password again: a
/// session alone (a browser left open) must not be enough to mint a credential that outlives
/// it.
pub(crate) async fn issue_token(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    page: PageContext,
    Form(form): Form<TokenForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let mut problems = Vec::new();
    let days = match form.days.trim().parse::<i64>() {
        Ok(days) if (1..=MAX_TOKEN_DAYS).contains(&days) => Some(days),
        _ => {
            problems.push(FieldProblem {
                field: "days",
                message: Message::Key("account.days_expected"),
            });
            None
        }
    };
    if form.name.trim().is_empty() {
        problems.push(FieldProblem {
            field: "name",
            message: Message::Key("account.name_expected"),
        });
    }
    if let (Some(days), true) = (days, problems.is_empty()) {
        let checked =
            crate::session::check_password(&state, &current.user.username, &form.password, client)
                .await;
        let outcome = match checked {
            Ok(user) => crate::session::issue_api_token(&state, &user, &form.name, days)
                .await
                .map(|(_, secret)| secret),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(secret) => {
                let form = TokenForm::blank();
                // The secret must not come back from a cache or the back button.
                let mut response =
                    render(&state, &page, form, Vec::new(), Some(secret), None).await?;
                response.headers_mut().insert(
                    axum::http::header::CACHE_CONTROL,
                    axum::http::HeaderValue::from_static("no-store"),
                );
                return Ok(response);
            }
            Err(WebError::BadCredentials) => problems.push(FieldProblem {
                field: "password",
                message: Message::Key("account.wrong_password"),
            }),
            Err(WebError::RateLimited) => problems.push(FieldProblem {
                field: "password",
                message: Message::Key("account.rate_limited"),
            }),
            Err(WebError::Storage(StorageError::Refused {
                field,
                message,
                message_zh,
            })) => problems.push(FieldProblem {
                field: if field == "name" { "name" } else { "days" },
                message: Message::Text(if page.tr.locale.starts_with("zh") {
                    message_zh
                } else {
                    message
                }),
            }),
            Err(other) => return Err(page.error(other)),
        }
    }
    render(&state, &page, form, problems, None, None).await
}

/// The change-your-password form (the passwords are never echoed back).
#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    repeat_password: String,
}

pub(crate) async fn change_password(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    page: PageContext,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    let problem = if form.new_password != form.repeat_password {
        Some(FieldProblem {
            field: "repeat_password",
            message: Message::Key("account.passwords_differ"),
        })
    } else {
        use crate::session::PasswordChangeError as E;
        match crate::session::change_password(
            &state,
            current,
            current.user.id,
            Some(&form.current_password),
            form.new_password,
            client,
        )
        .await
        {
            Ok(()) => None,
            Err(E::Current(WebError::BadCredentials)) => Some(FieldProblem {
                field: "current_password",
                message: Message::Key("account.wrong_password"),
            }),
            Err(E::Current(WebError::RateLimited)) => Some(FieldProblem {
                field: "current_password",
                message: Message::Key("account.rate_limited"),
            }),
            Err(E::New(_)) => Some(FieldProblem {
                field: "new_password",
                message: Message::Key("users.password_rule"),
            }),
            Err(E::Current(other) | E::Other(other)) => return Err(page.error(other)),
        }
    };
    match problem {
        // Redirected, so that reloading the page does not post the old password again.
        None => Ok(Redirect::to("/account?changed=1").into_response()),
        Some(problem) => render(&state, &page, TokenForm::blank(), vec![problem], None, None).await,
    }
}

pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let current = page.require_user()?;
    form.check(current).map_err(|e| page.error(e))?;
    state
        .db
        .revoke_api_token(&current.actor, &current.user, id)
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to(&format!("/account?revoked={id}")).into_response())
}

/// The users page's disable and enable buttons.
pub(crate) async fn disable_user(
    state: State<AppState>,
    page: PageContext,
    id: Path<i64>,
    form: Form<CsrfForm>,
) -> PageResult {
    set_disabled(state, page, id, form, true).await
}

pub(crate) async fn enable_user(
    state: State<AppState>,
    page: PageContext,
    id: Path<i64>,
    form: Form<CsrfForm>,
) -> PageResult {
    set_disabled(state, page, id, form, false).await
}

async fn set_disabled(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
    disabled: bool,
) -> PageResult {
    let current = page.require_user()?;
    form.check(current).map_err(|e| page.error(e))?;
    state
        .db
        .set_user_disabled(&current.actor, id, disabled)
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to(&format!("/users#user-{id}")).into_response())
}

// ---------------------------------------------------------------- new users

#[derive(Debug, Deserialize)]
pub(crate) struct NewUserQuery {
    organization: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "user_new.html")]
struct NewUserPage {
    layout: Layout,
    organization_id: i64,
    organization_name: String,
    username: String,
    display_name: String,
    /// Every role with its message key and whether it is ticked.
    roles: Vec<(&'static str, String, bool)>,
    problems: Vec<FieldProblem>,
}

impl NewUserPage {
    fn problem(&self, field: &str) -> String {
        problems_of(&self.problems, &self.layout.tr, field)
    }
}

/// The form an administrator adds a user with, to one organization of their region (reached
/// from the organizations page: a region can hold thousands, so it is chosen there).
pub(crate) async fn new_user(
    State(state): State<AppState>,
    page: PageContext,
    Query(query): Query<NewUserQuery>,
) -> PageResult {
    render_new_user(
        &state,
        &page,
        query.organization,
        NewUserForm::default(),
        Vec::new(),
    )
    .await
}

/// The new-user form as typed (never the password).
#[derive(Debug, Default)]
struct NewUserForm {
    username: String,
    display_name: String,
    roles: Vec<String>,
}

async fn render_new_user(
    state: &AppState,
    page: &PageContext,
    organization_id: i64,
    form: NewUserForm,
    problems: Vec<FieldProblem>,
) -> PageResult {
    let current = page.require_user()?;
    if !current.actor.administers() {
        return Err(page.error(WebError::Storage(StorageError::forbidden(
            "only an administrator may add users",
            "只有系统管理员才能添加用户",
        ))));
    }
    let organization = state
        .db
        .organization(current.actor.scope(), organization_id)
        .await
        .map_err(page_err(page))?;
    let refused = !problems.is_empty();
    let response = NewUserPage {
        layout: page.layout("users"),
        organization_id,
        organization_name: organization.name,
        username: form.username,
        display_name: form.display_name,
        roles: muster_domain::Role::ALL
            .iter()
            .map(|role| {
                let code = role.as_str();
                (
                    code,
                    format!("role.{code}"),
                    form.roles.iter().any(|r| r == code),
                )
            })
            .collect(),
        problems,
    }
    .into_response();
    Ok(refused_status(response, refused))
}

/// Adds the user: `organization_id`, `username`, `display_name`, `password` and any number
/// of `role` fields. Refused fields come back marked, with what was typed (but the password).
pub(crate) async fn create_user(
    State(state): State<AppState>,
    page: PageContext,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let current = page.require_user()?;
    let field = |name: &str| form_field(&fields, name);
    current
        .check_csrf(Some(&field("csrf")))
        .map_err(|e| page.error(e))?;
    let organization_id: i64 = field("organization_id").trim().parse().map_err(|_| {
        page.error(WebError::refused(
            "organization_id",
            "expected an organization's id",
            "应为单位编号",
        ))
    })?;
    let form = NewUserForm {
        username: field("username"),
        display_name: field("display_name"),
        roles: fields
            .iter()
            .filter(|(k, _)| k == "role")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    // Exactly as typed: sign-in does not trim a password either.
    let password = fields
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut problems = Vec::new();
    if crate::password::check_password_rules(&password).is_err() {
        problems.push(FieldProblem {
            field: "password",
            message: Message::Key("users.password_rule"),
        });
    }
    let roles = match muster_domain::organization::Roles::parse_list(&form.roles.join(",")) {
        Ok(roles) => Some(roles),
        Err(_) => {
            problems.push(FieldProblem {
                field: "roles",
                message: Message::Key("users.roles_required"),
            });
            None
        }
    };
    if let (Some(roles), true) = (roles, problems.is_empty()) {
        let hashed =
            crate::password::hash_password_blocking(password, state.config.hash_cost).await;
        let outcome = match hashed {
            Ok(password_hash) => state
                .db
                .create_user(
                    &current.actor,
                    muster_storage::NewUser {
                        username: form.username.clone(),
                        display_name: form.display_name.clone(),
                        password_hash,
                        organization_id,
                        roles,
                    },
                )
                .await
                .map_err(WebError::from),
            Err(e) => Err(WebError::refused("password", e.to_string(), e.zh())),
        };
        match outcome {
            Ok(user) => {
                return Ok(Redirect::to(&format!("/users#user-{}", user.id)).into_response());
            }
            Err(WebError::Storage(StorageError::Refused {
                field,
                message,
                message_zh,
            })) => problems.push(FieldProblem {
                field: match field {
                    "username" => "username",
                    "display_name" => "display_name",
                    _ => "roles",
                },
                message: Message::Text(if page.tr.locale.starts_with("zh") {
                    message_zh
                } else {
                    message
                }),
            }),
            Err(WebError::Storage(StorageError::Conflict {
                field,
                message,
                message_zh,
            })) => problems.push(FieldProblem {
                field: match field {
                    "username" => "username",
                    "display_name" => "display_name",
                    _ => "roles",
                },
                message: Message::Text(match message_zh {
                    Some(zh) if page.tr.locale.starts_with("zh") => zh,
                    _ => message,
                }),
            }),
            Err(other) => return Err(page.error(other)),
        }
    }
    render_new_user(&state, &page, organization_id, form, problems).await
}

// ---------------------------------------------------------------- password resets

#[derive(Template, WebTemplate)]
#[template(path = "user_password.html")]
struct ResetPasswordPage {
    layout: Layout,
    user_id: i64,
    username: String,
    display_name: String,
    problems: Vec<FieldProblem>,
}

impl ResetPasswordPage {
    fn problem(&self, field: &str) -> String {
        problems_of(&self.problems, &self.layout.tr, field)
    }
}

/// The form an administrator resets someone's password with (a user forgot theirs).
pub(crate) async fn reset_password_page(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
) -> PageResult {
    render_reset(&state, &page, id, Vec::new()).await
}

async fn render_reset(
    state: &AppState,
    page: &PageContext,
    id: i64,
    problems: Vec<FieldProblem>,
) -> PageResult {
    let current = page.require_user()?;
    if !current.actor.administers() || current.user.id == id {
        return Err(page.error(WebError::Storage(StorageError::forbidden(
            "an administrator resets other users' passwords; change your own on your account page",
            "他人的密码由系统管理员重置；您自己的密码请在“我的账户”页面修改",
        ))));
    }
    let user = state
        .db
        .user(current.actor.scope(), id)
        .await
        .map_err(page_err(page))?;
    let refused = !problems.is_empty();
    let response = ResetPasswordPage {
        layout: page.layout("users"),
        user_id: id,
        username: user.username,
        display_name: user.display_name,
        problems,
    }
    .into_response();
    Ok(refused_status(response, refused))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    new_password: String,
}

pub(crate) async fn reset_password(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    page: PageContext,
    Path(id): Path<i64>,
    Form(form): Form<ResetForm>,
) -> PageResult {
    let current = page.require_user()?;
    current
        .check_csrf(Some(&form.csrf))
        .map_err(|e| page.error(e))?;
    if !current.actor.administers() || current.user.id == id {
        return render_reset(&state, &page, id, Vec::new()).await;
    }
    use crate::session::PasswordChangeError as E;
    match crate::session::change_password(&state, current, id, None, form.new_password, client)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/users#user-{id}")).into_response()),
        Err(E::New(_)) => {
            let problem = FieldProblem {
                field: "new_password",
                message: Message::Key("users.password_rule"),
            };
            render_reset(&state, &page, id, vec![problem]).await
        }
        Err(E::Current(e) | E::Other(e)) => Err(page.error(e)),
    }
}

// ---------------------------------------------------------------- another user's tokens

#[derive(Template, WebTemplate)]
#[template(path = "user_tokens.html")]
struct UserTokensPage {
    layout: Layout,
    /// Where a token's revoke button posts (`token_table.html`).
    revoke_prefix: String,
    user_id: i64,
    username: String,
    display_name: String,
    tokens: Vec<TokenLine>,
    /// The download links of `tokens`.
    exports: Exports,
    /// The id of a token just revoked, for the notice.
    revoked: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct UserTokensQuery {
    revoked: Option<i64>,
    /// Downloads the tokens table instead of showing the page.
    format: Option<String>,
}

/// An administrator's view of another user's API tokens. Storage decides who may
/// (`refuse_unless_token_keeper`: the user themselves or an administrator over them).
pub(crate) async fn user_tokens(
    State(state): State<AppState>,
    page: PageContext,
    Path(id): Path<i64>,
    Query(query): Query<UserTokensQuery>,
) -> PageResult {
    let current = page.require_user()?;
    let format = ExportFormat::from_query(query.format.as_deref()).map_err(|e| page.error(e))?;
    let user = state
        .db
        .user(current.actor.scope(), id)
        .await
        .map_err(page_err(&page))?;
    if let Some(format) = format {
        return download_tokens(&state, &page, &user, format, "users.tokens_title").await;
    }
    let tokens = state
        .db
        .api_tokens(&current.actor, &user)
        .await
        .map_err(page_err(&page))?;
    let now = muster_storage::now().as_millis();
    Ok(UserTokensPage {
        layout: page.layout("users"),
        revoke_prefix: format!("/users/{}/tokens", user.id),
        user_id: user.id,
        username: user.username,
        display_name: user.display_name,
        tokens: tokens.iter().map(|t| TokenLine::of(t, now)).collect(),
        exports: Exports::of(&format!("/users/{}/tokens", user.id)),
        revoked: query.revoked,
    }
    .into_response())
}

/// Revokes another user's token from [`user_tokens`]' page.
pub(crate) async fn revoke_user_token(
    State(state): State<AppState>,
    page: PageContext,
    Path((id, token_id)): Path<(i64, i64)>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let current = page.require_user()?;
    form.check(current).map_err(|e| page.error(e))?;
    let user = state
        .db
        .user(current.actor.scope(), id)
        .await
        .map_err(page_err(&page))?;
    state
        .db
        .revoke_api_token(&current.actor, &user, token_id)
        .await
        .map_err(page_err(&page))?;
    Ok(Redirect::to(&format!("/users/{id}/tokens?revoked={token_id}")).into_response())
}
