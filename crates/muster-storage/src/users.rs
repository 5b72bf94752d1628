//! Users: scoped reads, creation by administrators, credentials for sign-in, preferences.

use muster_domain::organization::Roles;
use muster_domain::{Actor, RegionPath, Scope};
use serde::Serialize;

use crate::audit::AuditEvent;
use crate::db::{Database, WriteTx, on_read_pool, on_tx};
use crate::error::StorageError;
use crate::organizations::Organization;

/// A user as others see them: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub organization_id: i64,
    pub organization_name: String,
    pub region_code: Option<String>,
    pub region_path: String,
    pub roles: String,
    pub locale: Option<String>,
    pub disabled: i64,
    pub created_at: i64,
}

impl User {
    pub fn roles(&self) -> Roles {
        Roles::parse_list(&self.roles)
            .unwrap_or_else(|_| Roles::parse_list("viewer").unwrap_or_else(|_| unreachable_roles()))
    }

    pub fn region_path(&self) -> RegionPath {
        RegionPath::parse(&self.region_path).unwrap_or_else(RegionPath::root)
    }

    /// The actor this user acts as: their organization's subtree, their roles' data classes.
    pub fn actor(&self) -> Actor {
        Actor::user(
            self.id,
            self.username.clone(),
            &self.roles(),
            self.region_path(),
        )
    }
}

#[cold]
fn unreachable_roles() -> Roles {
    Roles::new(vec![muster_domain::Role::Viewer])
        .unwrap_or_else(|_| panic!("a one-role list is never empty"))
}

/// What sign-in needs: the hash to check and the user it belongs to.
#[derive(Debug, Clone)]
pub struct SignInCredentials {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    /// An argon2id PHC string; hashing is the caller's job (it is slow, and off the runtime).
    pub password_hash: String,
    pub organization_id: i64,
    pub roles: Roles,
}

const USER_SELECT: &str = "SELECT u.id, u.username, u.display_name, u.organization_id, o.name AS organization_name, \
     o.region_code, o.region_path, u.roles, u.locale, u.disabled, u.created_at \
     FROM users u JOIN organizations o ON o.id = u.organization_id";

fn valid_username(username: &str) -> bool {
    (2..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// A new user's sign-in and display names, trimmed, or what is wrong with them.
pub(crate) fn checked_user_names(new: &NewUser) -> Result<(String, String), StorageError> {
    let username = new.username.trim().to_owned();
    if !valid_username(&username) {
        return Err(StorageError::Refused {
            field: "username",
            message: "expected 2 to 64 characters: letters, digits, '.', '_', '-' or '@'".into(),
            message_zh: "应为 2 至 64 个字符：字母、数字、“.”、“_”、“-”或“@”".into(),
        });
    }
    let display_name = new.display_name.trim().to_owned();
    if display_name.is_empty() || display_name.chars().count() > 100 {
        return Err(StorageError::Refused {
            field: "display_name",
            message: "expected 1 to 100 characters".into(),
            message_zh: "应为 1 至 100 个字符".into(),
        });
    }
    Ok((username, display_name))
}

/// Stores a user whose names [`checked_user_names`] passed, in `organization`, with its audit
/// entry, in the caller's transaction.
pub(crate) async fn insert_user(
    tx: &mut WriteTx,
    actor: &Actor,
    username: String,
    display_name: String,
    new: &NewUser,
    organization: Organization,
) -> Result<User, StorageError> {
    let path = organization.region_path();
    let now = crate::now();
    let id: i64 = on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "INSERT INTO users (username, display_name, password_hash, organization_id, roles, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&username)
        .bind(&display_name)
        .bind(&new.password_hash)
        .bind(organization.id)
        .bind(new.roles.to_list())
        .bind(now.as_millis())
        .fetch_one(&mut *conn)
        .await
    })
    .map_err(|e| {
        StorageError::unique_said(e, "username", || {
            (
                format!("the username {username} is taken"),
                format!("用户名 {username} 已被使用"),
            )
        })
    })?;
    let user = User {
        id,
        username,
        display_name,
        organization_id: organization.id,
        organization_name: organization.name,
        region_code: organization.region_code,
        region_path: organization.region_path,
        roles: new.roles.to_list(),
        locale: None,
        disabled: 0,
        created_at: now.as_millis(),
    };
    tx.audit(
        actor,
        now,
        AuditEvent {
            entity: "user",
            entity_id: id.to_string(),
            action: "create",
            region_path: &path,
            before: None,
            after: serde_json::to_value(&user).ok(),
        },
    )
    .await?;
    Ok(user)
}

impl Database {
    pub async fn user(&self, scope: &Scope, id: i64) -> Result<User, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let sql =
            format!("{USER_SELECT} WHERE u.id = $1 AND o.region_path >= $2 AND o.region_path < $3");
        let found: Option<User> = on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(&low)
                .bind(&high)
                .fetch_optional(pool)
                .await
        })?;
        found.ok_or_else(|| StorageError::not_found("user", id))
    }

    pub async fn users(
        &self,
        scope: &Scope,
        limit: i64,
        after_id: i64,
    ) -> Result<Vec<User>, StorageError> {
        let (low, high) = scope.subtree().subtree_range();
        let sql = format!(
            "{USER_SELECT} WHERE o.region_path >= $1 AND o.region_path < $2 AND u.id > $3 ORDER BY u.id LIMIT $4"
        );
        Ok(on_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&low)
                .bind(&high)
                .bind(after_id)
                .bind(limit.clamp(1, 1000))
                .fetch_all(pool)
                .await
        })?)
    }

    /// The user behind a session or token, unscoped: authentication comes before scope.
    pub async fn user_for_authentication(&self, id: i64) -> Result<Option<User>, StorageError> {
        let sql = format!("{USER_SELECT} WHERE u.id = $1 AND u.disabled = 0");
        Ok(on_read_pool!(self, |pool| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    pub async fn sign_in_credentials(
        &self,
        username: &str,
    ) -> Result<Option<SignInCredentials>, StorageError> {
        let sql = format!("{USER_SELECT} WHERE u.username = $1 AND u.disabled = 0");
        let user: Option<User> = on_read_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(username)
        .fetch_optional(pool)
        .await)?;
        let Some(user) = user else { return Ok(None) };
        let password_hash: String = on_read_pool!(self, |pool| {
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user.id)
                .fetch_one(pool)
                .await
        })?;
        Ok(Some(SignInCredentials {
            user,
            password_hash,
        }))
    }

    /// The id of the user with this sign-in name, disabled or not (for the command line,
    /// which is unscoped).
    pub async fn user_id_by_username(&self, username: &str) -> Result<Option<i64>, StorageError> {
        Ok(on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM users WHERE username = $1"
        )
        .bind(username.trim())
        .fetch_optional(pool)
        .await)?)
    }

    pub async fn user_count(&self) -> Result<i64, StorageError> {
        Ok(on_read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users"
        )
        .fetch_one(pool)
        .await)?)
    }

    /// Creates a user in an organization inside the actor's scope.
    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User, StorageError> {
        if !actor.administers() {
            return Err(StorageError::forbidden(
                "only an administrator may add users",
                "只有系统管理员才能添加用户",
            ));
        }
        let (username, display_name) = checked_user_names(&new)?;
        let organization = match self
            .organization(&Scope::everything(), new.organization_id)
            .await
        {
            Ok(org) => org,
            Err(StorageError::NotFound { .. }) => {
                return Err(StorageError::refused(
                    "organization_id",
                    format!("no organization has the id {}", new.organization_id),
                    format!("没有编号为 {} 的单位", new.organization_id),
                ));
            }
            Err(e) => return Err(e),
        };
        let path = organization.region_path();
        if !actor.scope().contains(&path) {
            return Err(StorageError::out_of_scope("organization", organization.id));
        }
        let mut tx = self.begin_write().await?;
        let user = insert_user(&mut tx, actor, username, display_name, &new, organization).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Disables a user (they can no longer sign in, their sessions end and their live API
    /// tokens are revoked, all in one audited transaction) or enables them again (the old
    /// sessions and tokens stay gone: they sign in afresh). Administrators only, for users in
    /// their subtree, and never themselves, so an office cannot lock its last administrator
    /// out by mistake.
    pub async fn set_user_disabled(
        &self,
        actor: &Actor,
        user_id: i64,
        disabled: bool,
    ) -> Result<User, StorageError> {
        if !actor.administers() {
            return Err(StorageError::forbidden(
                "only an administrator may disable or enable users",
                "只有系统管理员才能停用或启用用户",
            ));
        }
        if actor.user_id() == Some(user_id) {
            return Err(StorageError::Conflict {
                message_zh: Some("不能停用或启用自己的账户，请另一位管理员操作".into()),
                field: "user_id",
                message: "you cannot disable or enable yourself; ask another administrator".into(),
            });
        }
        let before = self.user(actor.scope(), user_id).await?;
        let flag = i64::from(disabled);
        if before.disabled == flag {
            return Ok(before);
        }
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let (sessions_ended, tokens_revoked) = on_tx!(&mut tx, |conn| async {
            sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                .bind(flag)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
            if !disabled {
                return Ok::<_, sqlx::Error>((0, 0));
            }
            let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            let tokens = sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now.as_millis())
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Ok((sessions, tokens))
        }
        .await)?;
        let after = User {
            disabled: flag,
            ..before.clone()
        };
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "user",
                entity_id: user_id.to_string(),
                action: if disabled { "disable" } else { "enable" },
                region_path: &before.region_path(),
                before: Some(serde_json::json!({ "disabled": before.disabled != 0 })),
                after: Some(serde_json::json!({
                    "disabled": disabled,
                    "sessions_ended": sessions_ended,
                    "tokens_revoked": tokens_revoked,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Replaces a user's password: their own (the caller has checked the current one), or,
    /// by an administrator over their region, a reset. The user's sessions end, all but
    /// `keep_session` (the one changing it, by its id hash). A user's own change keeps their
    /// API tokens (separate credentials, revoked on the account page); a reset revokes them
    /// too, since an account is reset when its password is lost or may be known to someone
    /// else, and a token taken with it would outlive the reset. Audited without the hash.
    pub async fn set_password(
        &self,
        actor: &Actor,
        user_id: i64,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<(), StorageError> {
        let own = actor.user_id() == Some(user_id);
        if !own && !actor.administers() {
            return Err(StorageError::forbidden(
                "a password is changed by its user or reset by an administrator",
                "密码只能由用户本人修改，或由系统管理员重置",
            ));
        }
        let user = self.user(actor.scope(), user_id).await?;
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let (sessions_ended, tokens_revoked) = on_tx!(&mut tx, |conn| {
            async {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
            let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(user_id)
                .bind(keep_session.unwrap_or(""))
                .execute(&mut *conn)
                .await?
                .rows_affected();
            let revoked = if own {
                0
            } else {
                sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(now.as_millis())
                .bind(user_id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
            };
            Ok::<_, sqlx::Error>((ended, revoked))
        }
        .await
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "user",
                entity_id: user_id.to_string(),
                action: if own {
                    "change_password"
                } else {
                    "reset_password"
                },
                region_path: &user.region_path(),
                before: None,
                after: Some(serde_json::json!({
                    "sessions_ended": sessions_ended,
                    "tokens_revoked": tokens_revoked,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's own language preference.
    pub async fn set_user_locale(
        &self,
        actor: &Actor,
        user: &User,
        locale: &str,
    ) -> Result<(), StorageError> {
        if actor.user_id() != Some(user.id) {
            return Err(StorageError::forbidden(
                "only the user may change their language",
                "只有用户本人才能更改自己的语言",
            ));
        }
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE users SET locale = $1 WHERE id = $2")
                .bind(locale)
                .bind(user.id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        tx.audit(
            actor,
            now,
            AuditEvent {
                entity: "user",
                entity_id: user.id.to_string(),
                action: "set_locale",
                region_path: &user.region_path(),
                before: Some(serde_json::json!({ "locale": user.locale })),
                after: Some(serde_json::json!({ "locale": locale })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
