//! Signing in with a password, shared by the sign-in page and the token endpoint.

use std::net::IpAddr;
use std::sync::OnceLock;

use muster_storage::{ApiToken, User};

use crate::app::AppState;
use crate::auth::{API_TOKEN_PREFIX, SESSION_COOKIE, random_secret, set_cookie, sha256_hex};
use crate::error::WebError;
use crate::password::{hash_password, verify_password_blocking};

/// A hash to verify against when the username does not exist, so that a wrong username
/// costs as long as a wrong password and does not reveal which accounts exist.
fn decoy_hash(state: &AppState) -> String {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY
        .get_or_init(|| {
            hash_password("decoy password never used", state.config.hash_cost).unwrap_or_default()
        })
        .clone()
}

/// Checks a username and password under the rate limits.
pub(crate) async fn check_password(
    state: &AppState,
    username: &str,
    password: &str,
    client: IpAddr,
) -> Result<User, WebError> {
    let username = username.trim();
    if !state.limiter.attempt(username, client) {
        tracing::warn!(%client, username, "sign-in rate limit reached");
        return Err(WebError::RateLimited);
    }
    let credentials = state.db.sign_in_credentials(username).await?;
    let stored = credentials
        .as_ref()
        .map_or_else(|| decoy_hash(state), |c| c.password_hash.clone());
    let matches = verify_password_blocking(password.to_owned(), stored).await;
    match credentials {
        Some(credentials) if matches => Ok(credentials.user),
        _ => Err(WebError::BadCredentials),
    }
}

/// Creates a session and returns its `Set-Cookie` value.
pub(crate) async fn start_session(state: &AppState, user: &User) -> Result<String, WebError> {
    let session_id = random_secret();
    let csrf = random_secret();
    let ttl = state.config.session_ttl;
    let expires =
        muster_storage::now().plus_millis(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    state
        .db
        .create_session(user, &sha256_hex(&session_id), &csrf, expires)
        .await?;
    Ok(set_cookie(
        SESSION_COOKIE,
        &session_id,
        ttl.as_secs(),
        state.config.behind_tls,
    ))
}

/// How long a token works when the request names no number of days.
pub(crate) const DEFAULT_TOKEN_DAYS: i64 = 90;
/// The longest a token may work: a leaked one stops within a year at most.
pub(crate) const MAX_TOKEN_DAYS: i64 = 365;

/// The days a new token is to work: `requested`, or the default when none is named.
pub(crate) fn token_days(requested: Option<i64>) -> Result<i64, WebError> {
    let days = requested.unwrap_or(DEFAULT_TOKEN_DAYS);
    if (1..=MAX_TOKEN_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(WebError::refused(
            "days",
            format!("expected 1 to {MAX_TOKEN_DAYS} days, got {days}"),
            format!("有效天数应为 1 至 {MAX_TOKEN_DAYS} 天，实为 {days}"),
        ))
    }
}

/// Mints an API token for `user` (who has just proved their password) working for `days`:
/// the stored token and the secret, which is shown once and never stored.
pub(crate) async fn issue_api_token(
    state: &AppState,
    user: &User,
    name: &str,
    days: i64,
) -> Result<(ApiToken, String), WebError> {
    let secret = format!("{API_TOKEN_PREFIX}{}", random_secret());
    let expires_at = muster_storage::now().plus_days(days);
    let stored = state
        .db
        .create_api_token(&user.actor(), user, name, &sha256_hex(&secret), expires_at)
        .await?;
    Ok((stored, secret))
}

/// Why a new password was refused.
#[derive(Debug)]
pub(crate) enum PasswordChangeError {
    /// The current password is wrong (or the attempts of this minute are used up).
    Current(WebError),
    /// The new one breaks the rules (or could not be hashed).
    New(crate::password::PasswordError),
    Other(WebError),
}

/// Sets `user_id`'s password to `new_password`, hashed off the runtime. `current_password`
/// is checked (under the sign-in limits) when the users change their own; an administrator's
/// reset gives `None`. The session making the change stays signed in; the others end.
pub(crate) async fn change_password(
    state: &AppState,
    current: &crate::auth::CurrentUser,
    user_id: i64,
    current_password: Option<&str>,
    new_password: String,
    client: IpAddr,
) -> Result<(), PasswordChangeError> {
    if let Some(given) = current_password {
        check_password(state, &current.user.username, given, client)
            .await
            .map_err(PasswordChangeError::Current)?;
    }
    crate::password::check_password_rules(&new_password).map_err(PasswordChangeError::New)?;
    let hash = crate::password::hash_password_blocking(new_password, state.config.hash_cost)
        .await
        .map_err(PasswordChangeError::New)?;
    let keep = match &current.credential {
        crate::auth::Credential::Session { id_hash, .. } => Some(id_hash.as_str()),
        crate::auth::Credential::ApiToken => None,
    };
    state
        .db
        .set_password(&current.actor, user_id, &hash, keep)
        .await
        .map_err(|e| PasswordChangeError::Other(e.into()))
}
