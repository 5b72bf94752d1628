//! Authentication: session cookies for people, bearer tokens for machines, CSRF tokens for
//! forms, sign-in rate limits, and the one-time setup token.
//!
//! Secrets (session ids, API tokens, the setup token) are 32 random bytes, shown once, and
//! stored only as SHA-256 hashes: they carry full entropy, so a slow hash adds nothing.

use std::net::IpAddr;
use std::num::NonZeroU32;

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use muster_domain::Actor;
use muster_storage::{Database, StorageError, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::WebError;

pub(crate) const SESSION_COOKIE: &str = "muster_session";
pub(crate) const PRE_SESSION_COOKIE: &str = "muster_presession";
pub(crate) const API_TOKEN_PREFIX: &str = "mst_";

/// 32 random bytes, hex-encoded.
pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub(crate) fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time comparison for secrets sent back by the client.
pub(crate) fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Prints nothing itself: returns a new setup token when no user exists yet.
pub(crate) async fn issue_setup_token_if_needed(
    db: &Database,
) -> Result<Option<String>, StorageError> {
    if db.user_count().await? > 0 {
        return Ok(None);
    }
    let token = random_secret();
    db.set_setup_token(&sha256_hex(&token)).await?;
    Ok(Some(token))
}

/// Failed sign-ins per account and per client address, each limited separately so that
/// neither guessing one account from many addresses nor many accounts from one works.
#[derive(Debug)]
pub(crate) struct SignInLimiter {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl SignInLimiter {
    pub(crate) fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute);
        // An address may try a few accounts; a whole office behind one NAT signs in at 8:00.
        let address_quota = Quota::per_minute(
            per_minute.saturating_mul(NonZeroU32::new(4).unwrap_or(NonZeroU32::MIN)),
        );
        Self {
            per_account: RateLimiter::keyed(quota),
            per_address: RateLimiter::keyed(address_quota),
        }
    }

    /// Whether another attempt is allowed now; counts the attempt.
    pub(crate) fn attempt(&self, username: &str, address: IpAddr) -> bool {
        // Keys whose limits have fully recovered carry no information: drop them now and
        // then, so that guessing many usernames cannot grow memory without bound.
        if self.per_account.len() + self.per_address.len() > 50_000 {
            self.per_account.retain_recent();
            self.per_address.retain_recent();
        }
        let account_ok = self.per_account.check_key(&username.to_lowercase()).is_ok();
        let address_ok = self.per_address.check_key(&address).is_ok();
        account_ok && address_ok
    }
}

/// The address a request comes from, as the sign-in limiter counts it: the TCP peer, or,
/// when the peer is the configured reverse proxy, the address that proxy appended last to
/// `X-Forwarded-For` (earlier entries are whatever the client sent, so they are not
/// believed). Without a trusted proxy the header is ignored: anyone could forge it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddress(pub IpAddr);

/// The client a trusted proxy names: the last `X-Forwarded-For` entry it appended.
fn forwarded_client(headers: &axum::http::HeaderMap) -> Option<IpAddr> {
    let last = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()?;
    last.trim().parse().ok()
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // `App::build` serves with connect info, so the peer is always known; were it not,
        // every such request would share the unspecified address's budget.
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        // Canonical, so that an IPv4 proxy seen as `::ffff:a.b.c.d` on a dual-stack listener
        // is still recognised, and a client counts alike in either spelling.
        let peer = peer.to_canonical();
        if state.config.trusted_proxy.map(|p| p.to_canonical()) == Some(peer) {
            match forwarded_client(&parts.headers) {
                Some(client) => return Ok(ClientAddress(client.to_canonical())),
                None => tracing::warn!(
                    proxy = %peer,
                    "a request from the trusted proxy names no client in X-Forwarded-For; counted against the proxy"
                ),
            }
        }
        Ok(ClientAddress(peer))
    }
}

/// Reads one cookie from the request headers.
pub(crate) fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the flags every Muster cookie carries.
pub(crate) fn set_cookie(name: &str, value: &str, max_age_seconds: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}")
}

/// How the request was authenticated.
#[derive(Debug, Clone)]
pub(crate) enum Credential {
    /// A browser session; state-changing requests must echo its CSRF token.
    Session { id_hash: String, csrf_token: String },
    /// A bearer token: not sent by browsers on their own, so no CSRF token is needed.
    ApiToken,
}

/// The signed-in user, their actor (scope and roles), and how they signed in. Extracting it
/// is the only way a handler gets a scope, so no handler can skip authentication.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser {
    pub user: User,
    pub actor: Actor,
    pub credential: Credential,
}

impl CurrentUser {
    pub(crate) fn csrf_token(&self) -> &str {
        match &self.credential {
            Credential::Session { csrf_token, .. } => csrf_token,
            Credential::ApiToken => "",
        }
    }

    /// Checks a form's or header's CSRF token against the session's.
    pub(crate) fn check_csrf(&self, sent: Option<&str>) -> Result<(), WebError> {
        match &self.credential {
            Credential::ApiToken => Ok(()),
            Credential::Session { csrf_token, .. } => match sent {
                Some(sent) if secrets_equal(sent, csrf_token) => Ok(()),
                _ => Err(WebError::Csrf),
            },
        }
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<CurrentUser>, WebError> {
    if let Some(header) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    {
        let Some(token) = header.strip_prefix("Bearer ").map(str::trim) else {
            return Err(WebError::Unauthenticated);
        };
        let Some(user_id) = state
            .db
            .user_id_for_token(&sha256_hex(token), muster_storage::now())
            .await?
        else {
            return Err(WebError::Unauthenticated);
        };
        return Ok(state
            .db
            .user_for_authentication(user_id)
            .await?
            .map(|user| CurrentUser {
                actor: user.actor(),
                user,
                credential: Credential::ApiToken,
            }));
    }
    let Some(session_id) = cookie_value(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let id_hash = sha256_hex(session_id);
    let Some(session) = state.db.session(&id_hash, muster_storage::now()).await? else {
        return Ok(None);
    };
    Ok(state
        .db
        .user_for_authentication(session.user_id)
        .await?
        .map(|user| CurrentUser {
            actor: user.actor(),
            user,
            credential: Credential::Session {
                id_hash,
                csrf_token: session.csrf_token,
            },
        }))
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(cached) = parts.extensions.get::<CurrentUser>() {
            return Ok(cached.clone());
        }
        let current = authenticate(parts, state)
            .await?
            .ok_or(WebError::Unauthenticated)?;
        parts.extensions.insert(current.clone());
        Ok(current)
    }
}

/// The signed-in user if there is one, for pages that also serve visitors.
#[derive(Debug, Clone)]
pub(crate) struct MaybeUser(pub Option<CurrentUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match CurrentUser::from_request_parts(parts, state).await {
            Ok(user) => Ok(MaybeUser(Some(user))),
            Err(WebError::Unauthenticated) => Ok(MaybeUser(None)),
            Err(other) => Err(other),
        }
    }
}
