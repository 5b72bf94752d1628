use muster_domain::potential::import::SheetProblems;
use muster_domain::region_import::ImportProblems;

/// Everything storage can refuse or fail with. The web layer maps each variant to one
/// problem type; constraint violations arrive here already named, never as raw SQL errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{entity} {key} was not found")]
    NotFound { entity: &'static str, key: String },
    #[error("{entity} {key} is outside your region")]
    OutOfScope { entity: &'static str, key: String },
    /// Refused for who the actor is (a role, a region's office, a disabled user), said in
    /// English and in Chinese ([`ForbiddenReason`]); build one with [`Self::forbidden`].
    #[error("your roles do not allow this: {0}")]
    Forbidden(ForbiddenReason),
    /// A link (a property manager's, a holder's notice) past its expiry: refused as a role
    /// would be (403), but said as what it is, since its reader has no role.
    #[error("this link has expired; ask the office for a new one")]
    LinkExpired,
    /// `message_zh`: the same in Chinese, for the Chinese pages, where there is one.
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
        message_zh: Option<String>,
    },
    /// A value refused, about `field`, said in English and, for the Chinese pages, in
    /// Chinese.
    #[error("{field}: {message}")]
    Refused {
        field: &'static str,
        message: String,
        message_zh: String,
    },
    /// A survey report or round cannot move that way from where it stands; kept whole (not
    /// flattened into a `Conflict`) so that the pages can say it in the reader's language.
    #[error(transparent)]
    Transition(#[from] muster_domain::survey::TransitionError),
    #[error("the import was rejected")]
    ImportRejected(#[source] ImportProblems),
    /// A spreadsheet of records refused whole, every problem named by sheet, row and column.
    #[error("the spreadsheet was rejected")]
    SheetRejected(#[source] SheetProblems),
    #[error("the database URL is not usable: {0}")]
    BadUrl(String),
    #[error("database error")]
    Database(sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("backup failed: {0}")]
    Backup(String),
}

/// Why a [`StorageError::Forbidden`] was refused: `message` in English (what the error
/// displays), `message_zh` the same in Chinese, for the Chinese pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForbiddenReason {
    pub message: String,
    pub message_zh: String,
}

impl std::fmt::Display for ForbiddenReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl StorageError {
    /// A [`Self::Forbidden`]: `message` in English, `message_zh` the same in Chinese. Public,
    /// since the web layer refuses some things for a role before storage is asked.
    pub fn forbidden(message: impl Into<String>, message_zh: impl Into<String>) -> Self {
        Self::Forbidden(ForbiddenReason {
            message: message.into(),
            message_zh: message_zh.into(),
        })
    }

    pub(crate) fn not_found(entity: &'static str, key: impl ToString) -> Self {
        Self::NotFound {
            entity,
            key: key.to_string(),
        }
    }

    /// A [`Self::Refused`]: `message` in English, `message_zh` the same in Chinese.
    pub(crate) fn refused(
        field: &'static str,
        message: impl Into<String>,
        message_zh: impl Into<String>,
    ) -> Self {
        Self::Refused {
            field,
            message: message.into(),
            message_zh: message_zh.into(),
        }
    }

    pub(crate) fn out_of_scope(entity: &'static str, key: impl ToString) -> Self {
        Self::OutOfScope {
            entity,
            key: key.to_string(),
        }
    }

    /// Turns a unique-constraint violation into a named conflict, said in English and in
    /// Chinese; any other error passes through.
    pub(crate) fn unique_said(
        error: sqlx::Error,
        field: &'static str,
        said: impl FnOnce() -> (String, String),
    ) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                let (message, message_zh) = said();
                Self::Conflict {
                    field,
                    message,
                    message_zh: Some(message_zh),
                }
            }
            _ => Self::Database(error),
        }
    }
}

impl From<sqlx::Error> for StorageError {
    /// A driver's error, but PostgreSQL's deadlock (40P01) and serialization failure (40001)
    /// are conflicts to try again: the server gave up one of two transactions that waited on
    /// each other, nothing of it was written, and the same request sent again goes through.
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && matches!(db.code().as_deref(), Some("40P01" | "40001"))
        {
            return Self::Conflict {
                field: "request",
                message: "another change to the same data was being stored at the same moment; nothing was changed, send it again".into(),
                message_zh: Some("同一数据正同时被另一项修改写入；本次未作任何修改，请重新提交".into()),
            };
        }
        Self::Database(error)
    }
}

impl StorageError {
    /// A driver's error from a write that inserts references it checked just before (an
    /// import's records naming sites and organizations): a foreign key the database refuses
    /// there was removed in between, so reading the data again and sending the request again
    /// is the answer, said as a conflict. Elsewhere a foreign key violation stays a database
    /// error: a delete refused for what still refers to its row would not go through again.
    pub fn from_inserting_references(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Self::Conflict {
                field: "request",
                message: "something this change refers to was removed meanwhile; nothing was changed, reload and try again".into(),
                message_zh: Some("本次修改引用的数据刚被删除；未作任何修改，请刷新后重试".into()),
            },
            _ => error.into(),
        }
    }
}

/// Every problem of a form refused at once, about `field`: the English joined by `; `, the
/// Chinese by `；`, each problem starting with its own field path in both, so that a page
/// can place each one beside its field.
pub(crate) fn refused_all<P: std::fmt::Display>(
    field: &'static str,
    problems: &[P],
    zh: impl Fn(&P) -> String,
) -> StorageError {
    StorageError::Refused {
        field,
        message: problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        message_zh: problems.iter().map(zh).collect::<Vec<_>>().join("；"),
    }
}
