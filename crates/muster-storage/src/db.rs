//! The two backends and the seam between them.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::error::StorageError;

/// Where the data lives: a SQLite file or a PostgreSQL server.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    /// Never prints a PostgreSQL URL: it may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            DatabaseUrl::Postgres(_) => f.write_str("Postgres(<redacted>)"),
        }
    }
}

impl DatabaseUrl {
    /// `postgres://…`/`postgresql://…`, `sqlite://PATH`, `sqlite:PATH`, or a bare file path.
    pub fn parse(text: &str) -> Result<Self, StorageError> {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            PgConnectOptions::from_str(text).map_err(|e| StorageError::BadUrl(e.to_string()))?;
            return Ok(Self::Postgres(text.to_owned()));
        }
        let path = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
            .unwrap_or(text);
        if path.is_empty() {
            return Err(StorageError::BadUrl(
                "expected postgres://… or a SQLite file path".into(),
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// The default: `muster.db` in the data directory.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::Sqlite(data_dir.join("muster.db"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The page cache of each SQLite connection: 64 MiB, in SQLite's negative-means-KiB form.
const SQLITE_CACHE_KIB: &str = "-65536";
/// The same, as a statement that puts it back after a bulk load widened it.
pub(crate) const SQLITE_CACHE_SIZE: &str = "PRAGMA cache_size = -65536";

/// SQLite gets one writer connection and a pool of readers: writes are serialised (which
/// the audit chain needs anyway) and never meet `SQLITE_BUSY`, while WAL lets reads go on.
#[derive(Debug, Clone)]
pub struct SqlitePools {
    pub(crate) read: SqlitePool,
    pub(crate) write: SqlitePool,
    /// Held only to be dropped: the checkpointer stops when the last clone of the pools is
    /// gone (see [`spawn_checkpointer`]).
    _checkpointer: tokio::sync::mpsc::Sender<()>,
}

/// How long the WAL may collect commits before [`spawn_checkpointer`] copies them into the
/// database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The WAL is cut back to this size (64 MiB) once checkpointed: a bulk load that wrote half
/// a gigabyte into it leaves no half-gigabyte file behind.
const SQLITE_WAL_SIZE_LIMIT: &str = "67108864";

/// Checkpoints SQLite's WAL in the background, once a [`CHECKPOINT_EVERY`], on a reading
/// connection.
///
/// SQLite's own automatic checkpoint runs inside the commit that pushes the WAL past a
/// thousand pages, so that commit waits while the WAL is copied into the database file and
/// both are synced: two seconds of a million-record import's commit went to it. Here the
/// commit returns once its pages are in the WAL (what every reader then sees, kept as any
/// commit under `synchronous=NORMAL` is), and the copy follows, as PostgreSQL's checkpointer
/// does it. `PASSIVE` waits for no
/// reader or writer: it copies what no reader still needs and leaves the rest for the next
/// pass. The task stops when the last clone of the pools is dropped, or they are closed.
fn spawn_checkpointer(read: SqlitePool) -> tokio::sync::mpsc::Sender<()> {
    let (keep_alive, mut stopped) = tokio::sync::mpsc::channel::<()>(1);
    tokio::spawn(async move {
        loop {
            // Nothing is ever sent: the channel only closes, when the pools are dropped.
            if let Ok(None) = tokio::time::timeout(CHECKPOINT_EVERY, stopped.recv()).await {
                break;
            }
            if read.is_closed() {
                break;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&read)
                .await
            {
                tracing::warn!(error = %e, "the background WAL checkpoint failed; retrying");
            }
        }
    });
    keep_alive
}

/// An open database of either kind. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePools),
    Postgres(PgPool),
}

/// A write transaction on either backend.
#[derive(Debug)]
pub(crate) enum WriteTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$pool` bound to the read pool of whichever backend `$db` is; the body is
/// compiled once per backend, so the same query text serves both.
macro_rules! on_read_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Database::Sqlite(pools) => {
                let $pool = &pools.read;
                $body
            }
            $crate::db::Database::Postgres(pg) => {
                let $pool = pg;
                $body
            }
        }
    };
}

/// Runs `$body` with `$conn` bound to the connection of a write transaction.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::db::WriteTx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::db::WriteTx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

pub(crate) use {on_read_pool, on_tx};

impl WriteTx {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            WriteTx::Sqlite(_) => Backend::Sqlite,
            WriteTx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs `select`, a query for one row by the id in `$1`, and holds the row it finds until
    /// the commit: a concurrent update of it waits, and one committed first is seen. On
    /// PostgreSQL with `FOR SHARE` (readers holding the same row go on side by side); SQLite
    /// runs one writer at a time, so there a read inside the write already holds. Whether a
    /// row was found.
    pub(crate) async fn hold_row(&mut self, select: &str, id: i64) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = match self {
            WriteTx::Sqlite(tx) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(select))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
            }
            WriteTx::Postgres(tx) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("{select} FOR SHARE")))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
            }
        };
        Ok(found.is_some())
    }

    pub(crate) async fn commit(self) -> Result<(), StorageError> {
        match self {
            WriteTx::Sqlite(tx) => tx.commit().await?,
            WriteTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

impl Database {
    /// Opens (creating a SQLite file if needed) and migrates.
    pub async fn open(url: &DatabaseUrl) -> Result<Self, StorageError> {
        let db = Self::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Opens without migrating.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, StorageError> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StorageError::BadUrl(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    .pragma("cache_size", SQLITE_CACHE_KIB)
                    .pragma("temp_store", "memory")
                    // Checkpoints run in the background instead (see `spawn_checkpointer`).
                    .pragma("wal_autocheckpoint", "0")
                    .pragma("journal_size_limit", SQLITE_WAL_SIZE_LIMIT);
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(60))
                    .connect_with(options.clone())
                    .await?;
                let read = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options.read_only(false))
                    .await?;
                let checkpointer = spawn_checkpointer(read.clone());
                Ok(Database::Sqlite(SqlitePools {
                    read,
                    write,
                    _checkpointer: checkpointer,
                }))
            }
            DatabaseUrl::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| StorageError::BadUrl(e.to_string()))?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                Ok(Database::Postgres(pool))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self {
            Database::Sqlite(pools) => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&pools.write)
                    .await?
            }
            Database::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StorageError> {
        Ok(match self {
            Database::Sqlite(pools) => WriteTx::Sqlite(pools.write.begin().await?),
            Database::Postgres(pool) => WriteTx::Postgres(pool.begin().await?),
        })
    }

    /// A liveness check for `/healthz`.
    pub async fn ping(&self) -> Result<(), StorageError> {
        on_read_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// A consistent copy of a running SQLite database (`VACUUM INTO`). PostgreSQL is backed up
    /// with its own tools (`pg_dump`), which this refuses with that advice.
    pub async fn backup_to(&self, target: &Path) -> Result<(), StorageError> {
        match self {
            Database::Sqlite(pools) => {
                if target.exists() {
                    return Err(StorageError::Backup(format!("{} already exists; choose a new file", target.display())));
                }
                let target = target.to_str().ok_or_else(|| StorageError::Backup("the target path is not UTF-8".into()))?;
                sqlx::query("VACUUM INTO $1").bind(target).execute(&pools.read).await?;
                Ok(())
            }
            Database::Postgres(_) => Err(StorageError::Backup(
                "PostgreSQL is backed up with its own tools: `pg_dump --format=custom --file=muster.dump DATABASE_URL` \
                 (consistent while Muster runs), restored with `pg_restore`"
                    .into(),
            )),
        }
    }

    pub async fn close(&self) {
        match self {
            Database::Sqlite(pools) => {
                pools.read.close().await;
                pools.write.close().await;
            }
            Database::Postgres(pool) => pool.close().await,
        }
    }
}
