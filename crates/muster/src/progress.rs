//! Progress on standard error that shows up only when an operation takes longer than a
//! second, so quick commands print nothing but their result. When standard error is not a
//! terminal (scripts, CI, tests), indicatif draws nothing at all.

use std::borrow::Cow;
use std::sync::mpsc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long an operation runs before its progress appears.
const REVEAL_AFTER: Duration = Duration::from_secs(1);

/// A spinner or bar, hidden until [`REVEAL_AFTER`] has passed. Cheap to clone into
/// progress callbacks through [`Progress::bar`].
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    finished: Option<mpsc::Sender<()>>,
}

impl Progress {
    /// A spinner with a message that names the current phase.
    pub fn spinner(message: impl Into<Cow<'static, str>>) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
            .with_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            )
            .with_message(message);
        Self::reveal_later(bar)
    }

    /// A bar counting up to `total`.
    pub fn counter(total: u64, message: impl Into<Cow<'static, str>>) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
            .with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:40}] {human_pos}/{human_len} ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            )
            .with_message(message);
        Self::reveal_later(bar)
    }

    fn reveal_later(bar: ProgressBar) -> Self {
        bar.enable_steady_tick(Duration::from_millis(120));
        let (finished, wait) = mpsc::channel::<()>();
        let revealed = bar.clone();
        // A channel rather than a sleep: the thread ends as soon as the work does.
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(REVEAL_AFTER) {
                revealed.set_draw_target(ProgressDrawTarget::stderr());
            }
        });
        Self {
            bar,
            finished: Some(finished),
        }
    }

    /// Names the phase now under way.
    pub fn phase(&self, message: impl Into<Cow<'static, str>>) {
        self.bar.set_message(message);
    }

    /// The underlying bar, for callbacks that report counts.
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }

    /// Removes the progress line; what the command prints next stands alone.
    pub fn finish(mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        if let Some(finished) = self.finished.take() {
            let _ = finished.send(());
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}
