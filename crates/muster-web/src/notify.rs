//! Notifications leaving Muster: reminders before an order's deadline, escalations of
//! overdue orders and missed patrol checkpoints. Storage records each one (shown in the app)
//! in the same transaction as its audit entry; a [`Notifier`] then carries it out, by SMS or
//! mail where a deployment plugs one in, or to the log by default.
//!
//! The scheduler ([`spawn_facility_sweeper`]) runs the storage sweeps every minute.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use muster_storage::{Database, Notification};
use tokio::task::JoinHandle;

/// Carries a recorded notification to people. Implementations must not block: an SMS
/// gateway or a mail relay is called from a spawned task or a queue of its own.
pub trait Notifier: Send + Sync + Debug {
    /// Recorded with each notification as its channel.
    fn name(&self) -> &'static str;
    fn send(&self, notification: &Notification);
}

/// The default: every notification goes to the log, where an operator (or a log shipper
/// feeding a gateway) sees it.
#[derive(Debug, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn name(&self) -> &'static str {
        "log"
    }

    fn send(&self, n: &Notification) {
        tracing::info!(
            kind = %n.kind,
            region = %n.region_path,
            organization = ?n.organization_id,
            subject = ?n.subject_id,
            message = %n.message,
            "notification"
        );
    }
}

/// How often reminders, escalations and patrol checks run.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Runs the order and patrol sweeps every minute and hands what they record to the notifier.
/// A failed pass is logged and retried at the next tick: nothing is lost, because the sweep
/// looks at stored state, not at events.
pub(crate) fn spawn_facility_sweeper(db: Database, notifier: Arc<dyn Notifier>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let now = muster_storage::now();
            for pass in [
                db.sweep_orders(now, notifier.name()).await,
                db.sweep_patrols(now, notifier.name()).await,
            ] {
                match pass {
                    Ok(notifications) => notifications.iter().for_each(|n| notifier.send(n)),
                    Err(e) => {
                        tracing::warn!(error = %e, "the facility sweep failed; it runs again in a minute")
                    }
                }
            }
        }
    })
}
