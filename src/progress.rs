//! Progress on stderr: bars and spinners that stay hidden when stderr is not a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

fn visible(show: bool) -> bool {
    show && std::io::stderr().is_terminal()
}

/// A bar counting `len` steps.
pub fn bar(show: bool, len: u64, message: impl Into<String>) -> ProgressBar {
    if !visible(show) {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
        .expect("static template")
        .progress_chars("=> ");
    ProgressBar::new(len)
        .with_style(style)
        .with_message(message.into())
}

/// A spinner for work of unknown length.
pub fn spinner(show: bool, message: impl Into<String>) -> ProgressBar {
    if !visible(show) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
