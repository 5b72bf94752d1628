//! Fresh databases for tests, on SQLite and on PostgreSQL.
//!
//! Each [`TestDatabase`] is its own: a SQLite file in a temporary directory, or a PostgreSQL
//! database created for it on the local server and dropped when it goes out of scope (even
//! when the test panics). The PostgreSQL server is `MUSTER_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it cannot be reached, PostgreSQL
//! tests are skipped with a message — unless `CI=true`, where they fail.

use rand::Rng;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::{Database, DatabaseUrl};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug)]
pub struct TestDatabase {
    pub db: Database,
    pub url: DatabaseUrl,
    postgres_cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn admin_url() -> String {
    std::env::var("MUSTER_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// Whether a missing PostgreSQL must fail the run rather than skip.
pub fn postgres_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl TestDatabase {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = DatabaseUrl::Sqlite(dir.path().join("muster.db"));
        let db = Database::open(&url)
            .await
            .expect("a migrated SQLite database");
        Self {
            db,
            url,
            postgres_cleanup: None,
            _dir: Some(dir),
        }
    }

    /// A fresh, migrated PostgreSQL database, or None (with a message) when no server runs
    /// and CI does not require one.
    pub async fn postgres() -> Option<Self> {
        let admin = admin_url();
        let mut conn = match PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(e) if !postgres_required() => {
                eprintln!("skipping the PostgreSQL half of this test: cannot reach {admin}: {e}");
                return None;
            }
            Err(e) => panic!("CI=true requires PostgreSQL at {admin}: {e}"),
        };
        let name = format!("muster_test_{:016x}", rand::rng().random::<u64>());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE on the test server");
        conn.close().await.ok();
        let db_url = replace_database(&admin, &name);
        let url = DatabaseUrl::Postgres(db_url);
        let db = Database::open(&url)
            .await
            .expect("a migrated PostgreSQL database");
        Some(Self {
            db,
            url,
            postgres_cleanup: Some((admin, name)),
            _dir: None,
        })
    }
}

/// The same server URL with another database name.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres_cleanup.take() else {
            return;
        };
        let db = self.db.clone();
        // Drop runs outside async; a short-lived runtime on its own thread does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                db.close().await;
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Declares one storage story as two tests, `sqlite` and `postgres`, in a module of its name.
/// The body is an `async fn(Database)`.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident, $story:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let test_db = $crate::testing::TestDatabase::sqlite().await;
                super::$story(test_db.db.clone()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(test_db) = $crate::testing::TestDatabase::postgres().await else {
                    return;
                };
                super::$story(test_db.db.clone()).await;
            }
        }
    };
}

/// The advisory lock PostgreSQL approvals queue on, for tests that hold it on purpose.
pub use crate::survey::APPROVAL_LOCK;

/// PostgreSQL: looks, every 50 ms for up to ten seconds, for a session of the database at
/// `url` waiting for a lock, and says whether one did; `gave_up` (asked between looks) ends
/// the wait early, when the write expected to wait has already finished. For tests that hold
/// a lock on purpose and check that a concurrent write waits for it.
pub async fn a_session_waits_for_a_lock(url: &str, gave_up: impl FnMut() -> bool) -> bool {
    sessions_wait_for_locks(url, 1, gave_up).await
}

/// [`a_session_waits_for_a_lock`], for `count` sessions waiting at once.
pub async fn sessions_wait_for_locks(
    url: &str,
    count: i64,
    mut gave_up: impl FnMut() -> bool,
) -> bool {
    let mut watcher = PgConnection::connect(url)
        .await
        .expect("a session to watch the others");
    for _ in 0..200 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .expect("pg_stat_activity");
        if waiting >= count {
            return true;
        }
        if gave_up() {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Runs raw SQL on the database, bypassing every guard: for tests that play an attacker with
/// direct database access.
pub async fn raw_execute(db: &Database, sql: &str) -> Result<u64, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db {
        Database::Sqlite(pools) => sqlx::raw_sql(sql)
            .execute(&pools.write)
            .await
            .map(|r| r.rows_affected()),
        Database::Postgres(pool) => sqlx::raw_sql(sql)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
    }
}

/// The definitions of a table's indexes as the database reports them, sorted by index name:
/// for tests that check a bulk path leaves the schema as the migrations made it.
pub async fn index_definitions(db: &Database, table: &str) -> Result<Vec<String>, sqlx::Error> {
    match db {
        Database::Sqlite(pools) => {
            sqlx::query_scalar(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
                 AND sql IS NOT NULL ORDER BY name",
            )
            .bind(table)
            .fetch_all(&pools.read)
            .await
        }
        Database::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname",
            )
            .bind(table)
            .fetch_all(pool)
            .await
        }
    }
}

/// PostgreSQL: how many of `table`'s columns the planner has statistics for (`pg_stats`),
/// which only `ANALYZE` gathers (or autovacuum's). SQLite keeps none of its own: `None`.
pub async fn planner_statistics_columns(
    db: &Database,
    table: &str,
) -> Result<Option<i64>, sqlx::Error> {
    match db {
        Database::Sqlite(_) => Ok(None),
        Database::Postgres(pool) => {
            sqlx::query_scalar("SELECT count(*) FROM pg_stats WHERE tablename = $1")
                .bind(table)
                .fetch_one(pool)
                .await
                .map(Some)
        }
    }
}

/// The columns of `table`'s single-column foreign keys, sorted.
pub async fn foreign_key_columns(db: &Database, table: &str) -> Result<Vec<String>, sqlx::Error> {
    match db {
        Database::Sqlite(pools) => {
            sqlx::query_scalar(
                "SELECT \"from\" FROM pragma_foreign_key_list($1) \
                 WHERE id IN (SELECT id FROM pragma_foreign_key_list($1) GROUP BY id HAVING count(*) = 1) \
                 ORDER BY \"from\"",
            )
            .bind(table)
            .fetch_all(&pools.read)
            .await
        }
        Database::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT a.attname::TEXT FROM pg_constraint c \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
                 WHERE c.conrelid = CAST($1 AS regclass) AND c.contype = 'f' \
                 AND cardinality(c.conkey) = 1 ORDER BY a.attname",
            )
            .bind(table)
            .fetch_all(pool)
            .await
        }
    }
}

/// A table's constraints as the database reports them: on PostgreSQL each constraint's name
/// and definition, sorted by name; on SQLite the `CREATE TABLE` statement, where they live.
pub async fn constraint_definitions(
    db: &Database,
    table: &str,
) -> Result<Vec<String>, sqlx::Error> {
    match db {
        Database::Sqlite(pools) => {
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(table)
                .fetch_all(&pools.read)
                .await
        }
        Database::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
                 WHERE conrelid = CAST($1 AS regclass) ORDER BY conname",
            )
            .bind(table)
            .fetch_all(pool)
            .await
        }
    }
}

/// The named sites of `subtree` as a file import sees them before its writer begins: id →
/// (region code, normalised name).
pub async fn sites_seen_by_import(
    db: &Database,
    subtree: &muster_domain::RegionPath,
) -> Result<std::collections::HashMap<i64, (String, String)>, sqlx::Error> {
    Ok(db.site_snapshot(subtree).await?.seen)
}

/// What a file import does just before its commit: brings the records' links up to date
/// with the sites of `subtree` registered, renamed or moved since `seen`, in a write
/// transaction of its own here. Returns how many records were linked. For tests of a site
/// registered or renamed while a file was prepared, which no test can time.
pub async fn link_sites_not_seen(
    db: &Database,
    subtree: &muster_domain::RegionPath,
    seen: &std::collections::HashMap<i64, (String, String)>,
) -> Result<usize, crate::StorageError> {
    let mut tx = db.begin_write().await?;
    let linked = crate::sites::link_sites_not_seen(&mut tx, subtree, seen).await?;
    tx.commit().await?;
    Ok(linked)
}

/// Imports the tiny demo province's regions (seed 3), as the command line would: the
/// starting point of most storage stories.
pub async fn import_tiny_demo_regions(db: &Database) {
    use muster_domain::demo::{DemoScale, demo_regions};
    use muster_domain::region_import::{ColumnLayout, ParsedRegionCsv};
    db.import_regions(
        &muster_domain::Actor::command_line("test"),
        ParsedRegionCsv {
            rows: demo_regions(DemoScale::Tiny, 3),
            layout: ColumnLayout::default(),
        },
        "tiny demo",
    )
    .await
    .unwrap_or_else(|e| panic!("the tiny demo's regions import: {e}"));
}
