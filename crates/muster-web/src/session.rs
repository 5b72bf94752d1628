//! Signing in with a password, shared by the sign-in page and the token endpoint.

use std::net::IpAddr;
use std::sync::OnceLock;

use muster_storage::User;

use crate::app::AppState;
use crate::auth::{SESSION_COOKIE, random_secret, set_cookie, sha256_hex};
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
