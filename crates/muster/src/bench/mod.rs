//! `muster bench NAME`: benchmarks that generate their own data, time Muster against the
//! anchor their issue names in the same run, and print a table (or, with `--json`, one JSON
//! object with the same figures). `--quick` runs at a tenth of the size.
//!
//! Each benchmark lives in its own module beside this one and is listed in [`BenchName`].

mod allocation;
mod facilities;
mod potential;
mod regions;
mod support;

use clap::ValueEnum;

use crate::cli::BenchArgs;
use crate::commands::CommandResult;

/// The benchmarks there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchName {
    /// Import a generated 1,000,000-region CSV into SQLite and PostgreSQL, against the
    /// sqlite3 shell's bare `.import` of the same file
    Regions,
    /// Import a generated 1,000,000-row potential CSV (against sqlite3 .import and psql
    /// \copy) and a 100,000-row XLSX, and read subtree totals over 10,000,000 records
    /// (against GROUP BY), on SQLite and PostgreSQL
    Potential,
    /// "My rounds today" and a township dashboard over 100,000 facilities and 1,000,000
    /// inspections (against one facility read by id), and inspections with two 2 MB photos
    /// uploaded over HTTP by 16 grid members at once (against the same without photos), on
    /// SQLite and PostgreSQL
    Facilities,
    /// Allocate 1,000 demand lines against 100,000 holdings of 50 types over the demo
    /// province end to end through storage (SQLite and PostgreSQL), the solver against
    /// successive shortest paths on the same instance, and sustainment over 365 days
    Allocation,
}

/// The parts of `muster bench potential` that `--only` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchPart {
    /// The million-row CSV import on both databases, with its anchors
    Csv,
    /// The 100,000-row XLSX import on both databases
    Xlsx,
    /// The subtree totals over 10,000,000 records
    Totals,
}

pub async fn run(args: &BenchArgs) -> CommandResult {
    if !args.only.is_empty() && args.name != BenchName::Potential {
        anyhow::bail!("--only picks parts of `muster bench potential`; this benchmark has none");
    }
    match args.name {
        BenchName::Regions => regions::run(args.quick, args.json).await,
        BenchName::Potential => potential::run(args.quick, args.json, &args.only).await,
        BenchName::Facilities => facilities::run(args.quick, args.json).await,
        BenchName::Allocation => allocation::run(args.quick, args.json).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_potential_benchmark_has_parts() {
        let args = BenchArgs {
            name: BenchName::Regions,
            quick: true,
            json: false,
            only: vec![BenchPart::Csv],
        };
        let refused = run(&args)
            .await
            .expect_err("the regions benchmark has no parts");
        assert!(refused.to_string().contains("--only"), "{refused}");
    }
}
