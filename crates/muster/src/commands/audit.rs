//! `muster audit verify`: walk the hash chain of the audit log.

use std::process::ExitCode;

use anyhow::Context;
use muster_storage::AuditVerification;

use super::{CommandResult, connect_existing_database, group_digits};
use crate::cli::AuditCommand;
use crate::config::Settings;
use crate::progress::Progress;

pub async fn run(settings: &Settings, command: &AuditCommand) -> CommandResult {
    match command {
        AuditCommand::Verify => verify(settings).await,
    }
}

async fn verify(settings: &Settings) -> CommandResult {
    let db = connect_existing_database(settings).await?;
    let progress = Progress::counter(0, "audit entries");
    let bar = progress.bar().clone();
    let verification = db
        .verify_audit_chain(move |done, total| {
            bar.set_length(total.unsigned_abs());
            bar.set_position(done.unsigned_abs());
        })
        .await;
    progress.finish();
    db.close().await;
    match verification.context("cannot read the audit log")? {
        AuditVerification::Intact { entries } => {
            println!(
                "audit chain intact: {} entries",
                group_digits(entries.unsigned_abs())
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditVerification::Broken(chain_break) => {
            println!("audit chain BROKEN: {chain_break}");
            Ok(ExitCode::FAILURE)
        }
    }
}
