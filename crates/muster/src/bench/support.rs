//! What the benchmarks share: nearest-rank percentiles, the region path of a generated code,
//! and the PostgreSQL server on which they create and drop their fresh databases.

use std::time::Duration;

use anyhow::Context;
use muster_domain::RegionPath;
use muster_storage::{Database, DatabaseUrl};
use rand::Rng;
use sqlx::Connection;

use super::regions::{
    DEFAULT_POSTGRES_URL, POSTGRES_URL_VARIABLE, redact_password, replace_database,
};

/// p50 and p99 in milliseconds (nearest rank).
pub(super) fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0);
    }
    samples.sort();
    let rank = |p: f64| {
        let index = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1000.0
    };
    (rank(0.50), rank(0.99))
}

/// The path of a region code: its prefixes at the code lengths of the levels above it.
pub(super) fn path_of(code: &str) -> RegionPath {
    let mut path = String::from("/");
    for length in [2, 4, 6, 9, 12] {
        if length > code.len() {
            break;
        }
        path.push_str(&code[..length]);
        path.push('/');
    }
    RegionPath::parse(&path).unwrap_or_else(RegionPath::root)
}

/// The benchmark's PostgreSQL server: fresh databases created and dropped on it.
pub(super) struct PostgresServer {
    pub(super) admin_url: String,
}

impl PostgresServer {
    pub(super) async fn connect() -> Result<Self, String> {
        let admin_url = std::env::var(POSTGRES_URL_VARIABLE)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());
        let shown = redact_password(&admin_url);
        match tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::PgConnection::connect(&admin_url),
        )
        .await
        {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                Ok(Self { admin_url })
            }
            Ok(Err(e)) => Err(format!(
                "cannot reach PostgreSQL at {shown} ({e}); set {POSTGRES_URL_VARIABLE}"
            )),
            Err(_) => Err(format!(
                "PostgreSQL at {shown} did not answer within 10 s; set {POSTGRES_URL_VARIABLE}"
            )),
        }
    }

    pub(super) async fn create_database(&self) -> anyhow::Result<String> {
        let name = format!("muster_bench_{:016x}", rand::rng().random::<u64>());
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await?;
        // The name is ours, made of hex digits only, so it is safe to splice into DDL.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        let _ = admin.close().await;
        Ok(name)
    }

    pub(super) async fn drop_database(&self, name: &str) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await;
            if let Err(e) = dropped {
                tracing::warn!(database = %name, error = %e, "could not drop the benchmark database");
            }
            let _ = admin.close().await;
        }
    }

    /// Runs `work` on a fresh, migrated database and drops it whatever happened.
    pub(super) async fn with_fresh_database<T, F, Fut>(&self, work: F) -> anyhow::Result<T>
    where
        F: FnOnce(Database) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<T>>,
    {
        let name = self.create_database().await?;
        let url = DatabaseUrl::Postgres(replace_database(&self.admin_url, &name));
        let result = async {
            let db = Database::open(&url)
                .await
                .context("cannot open the benchmark database")?;
            let outcome = work(db.clone()).await;
            db.close().await;
            outcome
        }
        .await;
        self.drop_database(&name).await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_gives_its_path_through_every_level() {
        assert_eq!(path_of("34").as_str(), "/34/");
        assert_eq!(path_of("340104001").as_str(), "/34/3401/340104/340104001/");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentiles(&mut samples), (50.0, 99.0));
        assert_eq!(percentiles(&mut []), (0.0, 0.0));
    }
}
