//! Sign-in sessions, API tokens and the one-time setup token. Only hashes of secrets are
//! stored: a leaked database does not hand out sessions or tokens.

use muster_domain::{Actor, OrganizationKind, RegionPath, Side, Timestamp};
use serde::Serialize;

use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::organizations::{checked_organization_name, insert_organization};
use crate::users::{NewUser, User, checked_user_names, insert_user};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    pub user_id: i64,
    pub csrf_token: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: i64,
    /// After this (epoch milliseconds) the token no longer authenticates.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// The columns of [`ApiToken`], for every query that returns tokens.
const API_TOKEN_COLUMNS: &str = "id, user_id, name, created_at, expires_at, revoked_at";

/// A user keeps their own tokens; an administrator those of users in their subtree.
fn refuse_unless_token_keeper(actor: &Actor, user: &User) -> Result<(), StorageError> {
    if actor.user_id() != Some(user.id) && !actor.administers() {
        return Err(StorageError::forbidden(
            "a token is kept by its user or an administrator",
            "接口令牌只能由其用户本人或系统管理员管理",
        ));
    }
    if !actor.scope().contains(&user.region_path()) {
        return Err(StorageError::out_of_scope("user", user.id));
    }
    Ok(())
}

const SETUP_TOKEN_KEY: &str = "setup_token_sha256";

/// Refuses unless the user is still enabled, and keeps them so until the transaction ends
/// ([`WriteTx::hold_row`]): a disable made meanwhile waits for this session or token to be
/// stored, then ends or revokes it with the rest, and one committed first is seen here.
async fn hold_user_enabled(tx: &mut WriteTx, user_id: i64) -> Result<(), StorageError> {
    let select = "SELECT id FROM users WHERE id = $1 AND disabled = 0";
    if tx.hold_row(select, user_id).await? {
        Ok(())
    } else {
        Err(StorageError::forbidden(
            "this user is disabled",
            "该用户已停用",
        ))
    }
}

impl Database {
    pub async fn create_session(
        &self,
        user: &User,
        id_hash: &str,
        csrf_token: &str,
        expires_at: Timestamp,
    ) -> Result<(), StorageError> {
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        hold_user_enabled(&mut tx, user.id).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(id_hash)
                .bind(user.id)
                .bind(csrf_token)
                .bind(now.as_millis())
                .bind(expires_at.as_millis())
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        let event = AuditEvent {
            entity: "session",
            entity_id: user.id.to_string(),
            action: "sign_in",
            region_path: &user.region_path(),
            before: None,
            after: Some(serde_json::json!({ "expires_at": expires_at.as_millis() })),
        };
        tx.audit(&user.actor(), now, event).await?;
        tx.commit().await
    }

    /// A live session by the hash of its cookie value.
    pub async fn session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StorageError> {
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as("SELECT user_id, csrf_token, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2")
                .bind(id_hash)
                .bind(now.as_millis())
                .fetch_optional(pool)
                .await
        })?)
    }

    pub async fn end_session(&self, user: &User, id_hash: &str) -> Result<(), StorageError> {
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            // Expired sessions of anyone go too: sign-out is a fine moment to sweep.
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1 OR expires_at <= $2")
                .bind(id_hash)
                .bind(now.as_millis())
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        let event = AuditEvent {
            entity: "session",
            entity_id: user.id.to_string(),
            action: "sign_out",
            region_path: &user.region_path(),
            before: None,
            after: None,
        };
        tx.audit(&user.actor(), now, event).await?;
        tx.commit().await
    }

    /// Stores a token for `user` that authenticates until `expires_at`.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        user: &User,
        name: &str,
        token_hash: &str,
        expires_at: Timestamp,
    ) -> Result<ApiToken, StorageError> {
        refuse_unless_token_keeper(actor, user)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(StorageError::refused(
                "name",
                "expected 1 to 100 characters",
                "令牌名称应为 1 至 100 个字符",
            ));
        }
        let now = crate::now();
        if expires_at <= now {
            return Err(StorageError::refused(
                "expires_at",
                "expected a time in the future",
                "到期时间应晚于当前时间",
            ));
        }
        let mut tx = self.begin_write().await?;
        hold_user_enabled(&mut tx, user.id).await?;
        let token: ApiToken = on_tx!(&mut tx, |conn| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING {API_TOKEN_COLUMNS}"
            )))
            .bind(user.id)
            .bind(name)
            .bind(token_hash)
            .bind(now.as_millis())
            .bind(expires_at.as_millis())
            .fetch_one(&mut *conn)
            .await
        })?;
        let event = AuditEvent {
            entity: "api_token",
            entity_id: token.id.to_string(),
            action: "create",
            region_path: &user.region_path(),
            before: None,
            after: serde_json::to_value(&token).ok(),
        };
        tx.audit(actor, now, event).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The user a live token (not revoked, not expired at `now`) belongs to.
    pub async fn user_id_for_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, StorageError> {
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT user_id FROM api_tokens \
                 WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now.as_millis())
            .fetch_optional(pool)
            .await
        })?)
    }

    /// The tokens of `user`, newest first, revoked and expired ones too (never their hashes).
    pub async fn api_tokens(
        &self,
        actor: &Actor,
        user: &User,
    ) -> Result<Vec<ApiToken>, StorageError> {
        refuse_unless_token_keeper(actor, user)?;
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id DESC"
            )))
            .bind(user.id)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Revokes a token of `user` at once; revoking one already revoked changes nothing.
    pub async fn revoke_api_token(
        &self,
        actor: &Actor,
        user: &User,
        token_id: i64,
    ) -> Result<ApiToken, StorageError> {
        refuse_unless_token_keeper(actor, user)?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let before: Option<ApiToken> = on_tx!(&mut tx, |conn| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE id = $1 AND user_id = $2"
            )))
            .bind(token_id)
            .bind(user.id)
            .fetch_optional(&mut *conn)
            .await
        })?;
        let before = before.ok_or_else(|| StorageError::not_found("api_token", token_id))?;
        if before.revoked_at.is_some() {
            return Ok(before);
        }
        let after: ApiToken = on_tx!(&mut tx, |conn| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 RETURNING {API_TOKEN_COLUMNS}"
            )))
            .bind(now.as_millis())
            .bind(token_id)
            .fetch_one(&mut *conn)
            .await
        })?;
        let event = AuditEvent {
            entity: "api_token",
            entity_id: token_id.to_string(),
            action: "revoke",
            region_path: &user.region_path(),
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        };
        tx.audit(actor, now, event).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Stores the hash of a fresh setup token, replacing any earlier one. Only meaningful
    /// while there are no users.
    pub async fn set_setup_token(&self, token_hash: &str) -> Result<(), StorageError> {
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(SETUP_TOKEN_KEY)
                .bind(token_hash)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        let event = AuditEvent {
            entity: "setup_token",
            entity_id: "1".into(),
            action: "issue",
            region_path: &RegionPath::root(),
            before: None,
            after: None,
        };
        tx.audit(&Actor::command_line("server-start"), now, event)
            .await?;
        tx.commit().await
    }

    /// Creates the first administrator in a national mobilization office and uses up the
    /// setup token, all in one transaction: a name refused leaves the token valid, so the
    /// form can simply be sent again. Consuming is one conditional DELETE, so of two racing
    /// requests only one gets past it.
    pub async fn bootstrap_administrator(
        &self,
        token_hash: &str,
        office_name: &str,
        admin: NewUser,
    ) -> Result<User, StorageError> {
        if self.user_count().await? > 0 {
            return Err(StorageError::forbidden(
                "the setup token is wrong or already used",
                "初始化令牌错误或已被使用",
            ));
        }
        let office_name = checked_organization_name(office_name)?;
        let (username, display_name) = checked_user_names(&admin)?;
        let actor = Actor::command_line("setup");
        let mut tx = self.begin_write().await?;
        let consumed = on_tx!(&mut tx, |conn| {
            sqlx::query("DELETE FROM settings WHERE key = $1 AND value = $2")
                .bind(SETUP_TOKEN_KEY)
                .bind(token_hash)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        if consumed != 1 {
            return Err(StorageError::forbidden(
                "the setup token is wrong or already used",
                "初始化令牌错误或已被使用",
            ));
        }
        let root = RegionPath::root();
        let event = AuditEvent {
            entity: "setup_token",
            entity_id: "1".into(),
            action: "consume",
            region_path: &root,
            before: None,
            after: None,
        };
        tx.audit(&actor, crate::now(), event).await?;
        let office = insert_organization(
            &mut tx,
            &actor,
            &office_name,
            OrganizationKind::MobilizationOffice,
            Side::Civil,
            None,
            &root,
        )
        .await?;
        let user = insert_user(&mut tx, &actor, username, display_name, &admin, office).await?;
        tx.commit().await?;
        Ok(user)
    }
}
