//! `muster serve`: run the web server until Ctrl-C or SIGTERM, then stop gracefully.

use std::process::ExitCode;

use anyhow::Context;
use muster_domain::demo::DemoScale;
use muster_storage::Database;
use muster_web::password::HashCost;
use muster_web::{App, AppConfig};

use super::{CommandResult, demo, group_digits, open_database};
use crate::cli::ServeArgs;
use crate::config::Settings;

pub async fn run(settings: &Settings, args: &ServeArgs) -> CommandResult {
    let db = open_database(settings).await?;
    let mut show_demo_sign_in = false;
    if args.demo {
        if db.region_count().await? == 0 {
            let loaded = demo::load(
                &db,
                &settings.files_dir,
                DemoScale::Province,
                demo::DEFAULT_SEED,
            )
            .await?;
            println!(
                "Loaded the demo province: {} regions, {} organizations, {} users, {} potential records.",
                group_digits(loaded.regions as u64),
                group_digits(loaded.organizations as u64),
                loaded.users.len(),
                group_digits(loaded.records as u64)
            );
            println!("{}", loaded.survey.summary_line());
            let facilities = demo::facilities::load(
                &db,
                &settings.files_dir,
                DemoScale::Province,
                demo::DEFAULT_SEED,
            )
            .await?;
            println!("{}", facilities.summary_line());
            show_demo_sign_in = true;
        } else if has_demo_admin(&db).await? {
            println!("The database already has regions; the demo data was not loaded again.");
            show_demo_sign_in = true;
        } else {
            println!(
                "The database already has regions but no demo users; the demo data was not loaded."
            );
        }
    }
    serve(settings, db, show_demo_sign_in).await
}

/// Whether the demo's administrator exists, so that its password can be promised.
async fn has_demo_admin(db: &Database) -> anyhow::Result<bool> {
    Ok(db.sign_in_credentials("admin").await?.is_some())
}

/// Serves `db` until a shutdown signal, then lets requests in flight finish.
pub async fn serve(settings: &Settings, db: Database, show_demo_sign_in: bool) -> CommandResult {
    let config = AppConfig {
        bind: settings.bind,
        behind_tls: settings.behind_tls,
        trusted_proxy: settings.trusted_proxy,
        session_ttl: settings.session_ttl(),
        hash_cost: HashCost::Production,
        files_dir: settings.files_dir.clone(),
        map_tile_url: settings.map_tile_url.clone(),
        ..AppConfig::default()
    };
    tracing::info!(
        data_dir = %settings.data_dir.display(),
        files_dir = %settings.files_dir.display(),
        database = %super::describe(&settings.database_url()?),
        bind = %settings.bind,
        behind_tls = settings.behind_tls,
        trusted_proxy = ?settings.trusted_proxy,
        "starting the server"
    );
    let running = App::build(config, db.clone())
        .await
        .with_context(|| format!("cannot start the server on {}", settings.bind))?;
    let url = running.url();
    println!("Muster is running at {url}");
    if show_demo_sign_in {
        println!("{}", demo::sign_in_hint());
    }
    if let Some(token) = &running.setup_token {
        println!(
            "No user exists yet. Create the first administrator at {url}/setup?token={token} (the link works once)."
        );
    }
    let stop = shutdown_signal();
    println!("Press Ctrl-C to stop.");
    tracing::info!(%url, "serving");

    stop.await;
    println!("Stopping: finishing the requests in flight…");
    let stopped = running.shutdown().await;
    db.close().await;
    stopped.context("the server stopped with an error")?;
    println!("Muster stopped.");
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C anywhere; SIGTERM too on Unix, which is how service managers stop a process.
///
/// On Unix the handlers are installed when this is called, not when the future is first
/// polled: the server calls it before it prints "Press Ctrl-C", so a signal sent as soon as
/// that line appears finds our handler rather than the default one, which would end the
/// process without a graceful stop.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        let wait_for = |stream: Option<tokio::signal::unix::Signal>| async move {
            match stream {
                Some(mut stream) => {
                    stream.recv().await;
                }
                // Without a handler there is no such signal to wait for; the other still works.
                None => std::future::pending::<()>().await,
            }
        };
        async move {
            tokio::select! {
                () = wait_for(interrupt) => {}
                () = wait_for(terminate) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
