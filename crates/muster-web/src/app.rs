//! Building and running the server: configuration, shared state, the router, and a handle
//! with the bound port and a graceful shutdown.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use muster_storage::{BlobLimits, BlobStore, Database};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::SignInLimiter;
use crate::notify::{LogNotifier, Notifier};
use crate::password::HashCost;
use crate::potential_view::ProblemLists;

/// What the server needs to know; built by the binary from defaults, file, environment and
/// flags.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Where to listen; port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// Whether Muster is reached over TLS (directly or behind a proxy): cookies get `Secure`.
    pub behind_tls: bool,
    /// The reverse proxy in front of Muster, if any: a request from this address is counted
    /// against the client it names last in `X-Forwarded-For` ([`crate::auth::ClientAddress`]).
    pub trusted_proxy: Option<IpAddr>,
    /// How long a sign-in lasts.
    pub session_ttl: Duration,
    pub hash_cost: HashCost,
    /// Sign-in attempts (password checks) allowed per account per minute; an address gets
    /// four times as many, for offices behind one NAT.
    pub sign_in_attempts_per_minute: u32,
    /// The attachment store's directory (photos and videos, content-addressed). Created when
    /// the first upload arrives.
    pub files_dir: PathBuf,
    /// A `{z}/{x}/{y}` tile server for the facility map's background, where a deployment has
    /// one on its own network; without it the map draws the facilities alone. Its origin is
    /// added to the pages' content security policy.
    pub map_tile_url: Option<String>,
    /// Carries reminders, escalations and patrol alerts out of Muster; the log by default.
    pub notifier: Arc<dyn Notifier>,
    /// Size limits of photos and videos.
    pub blob_limits: BlobLimits,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            behind_tls: false,
            trusted_proxy: None,
            session_ttl: Duration::from_secs(8 * 3600),
            hash_cost: HashCost::Production,
            sign_in_attempts_per_minute: 5,
            files_dir: PathBuf::from("./data/files"),
            map_tile_url: None,
            notifier: Arc::new(LogNotifier),
            blob_limits: BlobLimits::default(),
        }
    }
}

/// Shared by every request. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub db: Database,
    pub config: Arc<AppConfig>,
    pub limiter: Arc<SignInLimiter>,
    /// Problem lists of refused uploads, downloadable for a few minutes.
    pub problem_lists: Arc<ProblemLists>,
    /// Attachments: chunked uploads and the content-addressed file store.
    pub blobs: BlobStore,
}

#[derive(Debug)]
pub struct App;

/// A started server.
#[derive(Debug)]
pub struct RunningApp {
    address: SocketAddr,
    /// Printed once at the first start, while no user exists: the way to the first
    /// administrator outside demo data.
    pub setup_token: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl App {
    /// Binds the listener and starts serving in the background.
    pub async fn build(config: AppConfig, db: Database) -> std::io::Result<RunningApp> {
        let listener = TcpListener::bind(config.bind).await?;
        let address = listener.local_addr()?;
        let setup_token = crate::auth::issue_setup_token_if_needed(&db)
            .await
            .map_err(std::io::Error::other)?;
        let blobs = BlobStore::new(config.files_dir.clone(), config.blob_limits);
        let sweeper = crate::uploads_api::spawn_sweeper(blobs.clone(), db.clone());
        let facility_sweeper =
            crate::notify::spawn_facility_sweeper(db.clone(), config.notifier.clone());
        let state = AppState {
            blobs,
            limiter: Arc::new(SignInLimiter::new(config.sign_in_attempts_per_minute)),
            config: Arc::new(config),
            problem_lists: Arc::new(ProblemLists::default()),
            db,
        };
        let router: Router = crate::routes::router(state);
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = shutdown_rx.await;
            })
            .await;
            sweeper.abort();
            facility_sweeper.abort();
            served
        });
        Ok(RunningApp {
            address,
            setup_token,
            shutdown: Some(shutdown_tx),
            task,
        })
    }
}

impl RunningApp {
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Serves until the server stops by itself (it does not, short of an error).
    pub async fn wait(mut self) -> std::io::Result<()> {
        let _keep_open = self.shutdown.take();
        (&mut self.task).await.map_err(std::io::Error::other)?
    }

    /// Stops accepting, lets requests in flight finish, and returns.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.map_err(std::io::Error::other)?
    }
}
