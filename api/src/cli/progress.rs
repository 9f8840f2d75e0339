//! Progress of long commands on stderr: a bar on a terminal, a line every few seconds
//! otherwise (logs, CI).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a line is printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// A bar of events prefixed by `prefix`, hidden when stderr is not a terminal.
pub(super) fn progress_bar(prefix: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:40}] {pos}/{len} events ({per_sec}, {eta} left) {msg}",
    )
    .map(|style| style.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.set_prefix(prefix.to_owned());
    bar
}

/// Says when a periodic progress line is due (at most one every few seconds).
#[derive(Debug)]
pub(super) struct PeriodicLine {
    last: Mutex<Instant>,
}

impl PeriodicLine {
    /// Starts the clock now.
    pub(super) fn new() -> PeriodicLine {
        PeriodicLine {
            last: Mutex::new(Instant::now()),
        }
    }

    /// Whether a line is due now; if so, the clock restarts.
    pub(super) fn due(&self) -> bool {
        match self.last.lock() {
            Ok(mut last) if last.elapsed() >= LINE_EVERY => {
                *last = Instant::now();
                true
            }
            _ => false,
        }
    }
}
