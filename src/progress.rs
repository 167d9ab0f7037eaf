//! Progress bars for long steps (restarts of a fit, the ks of a sweep), drawn on stderr only when the job
//! asks for them (`OutputSpec::progress`), stderr is a terminal and the step has run for a couple of
//! seconds: short fits and logs (cron, CI, pipes) see nothing but the log lines.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A step runs this long before its bar appears.
const DELAY: Duration = Duration::from_secs(2);

/// A bar of known length; cloning shares it.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    visible: bool,
}

impl Progress {
    /// A bar that never draws.
    pub fn hidden() -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
            start: Instant::now(),
            visible: false,
        }
    }

    /// A bar of `len` steps labelled `what`, drawn when `shown` and stderr is a terminal.
    pub fn new(len: u64, what: &str, shown: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_string());
        Progress {
            bar,
            start: Instant::now(),
            visible: shown && std::io::stderr().is_terminal(),
        }
    }

    /// What the current step is doing ("restart 3/10 · iteration 17").
    pub fn message(&self, msg: String) {
        self.reveal();
        self.bar.set_message(msg);
    }

    /// One step done.
    pub fn inc(&self) {
        self.reveal();
        self.bar.inc(1);
    }

    /// Runs `f` (which prints) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the bar (the log and the summary follow).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn reveal(&self) {
        if self.visible && self.bar.is_hidden() && self.start.elapsed() >= DELAY {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }
}
