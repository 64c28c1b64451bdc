//! Progress on stderr while waiting: a live bar on a terminal, one line per poll otherwise.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use wks_waiter::{
    events::EventKind,
    model::Subtask,
    outcome::{Counts, DesktopFailure},
    time::{Clock, SystemClock},
    Event,
};

use crate::duration::format_duration;
use crate::text::{cell, eprint_line, escape_controls, plural};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing (`--quiet`). Poll lines are logged at info level.
    Quiet,
    /// Retries only, one line each (JSON output to a non-terminal stderr, where a script
    /// is reading). Poll lines are logged at info level.
    Retries,
    /// One line per poll, per failed desktop and per retry, for logs.
    Lines,
    /// A live progress bar, for people.
    Bar,
}

impl Mode {
    /// The mode for the flags and where stderr goes.
    ///
    /// With `--output json` or `ndjson` a script is reading; its stderr gets progress only
    /// when a person is watching it.
    pub fn choose(machine: bool, quiet: bool, stderr_is_terminal: bool) -> Self {
        match (quiet, stderr_is_terminal, machine) {
            (true, _, _) => Self::Quiet,
            (false, true, _) => Self::Bar,
            (false, false, false) => Self::Lines,
            (false, false, true) => Self::Retries,
        }
    }

    /// Whether this display reports retries itself (so the waiter's own retry warning
    /// would repeat it).
    pub fn reports_retries(self) -> bool {
        self != Self::Quiet
    }
}

/// The progress bar being drawn, if any, shared with the log writer so log lines do not
/// tear through it.
#[derive(Debug, Clone, Default)]
pub struct BarSlot(Arc<Mutex<Option<ProgressBar>>>);

impl BarSlot {
    fn set(&self, bar: Option<ProgressBar>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = bar;
    }

    fn get(&self) -> Option<ProgressBar> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Prints `line` on stderr, above the bar when one is drawn. Never panics.
    pub fn print_line(&self, line: &str) {
        match self.get() {
            Some(bar) => bar.println(line),
            None => eprint_line(line),
        }
    }
}

/// Stderr for the logger: while a bar is drawn, it is lifted for each log line.
#[derive(Debug)]
pub struct LogSink(pub BarSlot);

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.get() {
            Some(bar) => bar.suspend(|| io::stderr().write_all(buf))?,
            None => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// When the next poll is due, read by the bar's countdown.
type NextPoll = Arc<Mutex<Option<Instant>>>;

/// Shows the waiter's progress from its events.
#[derive(Debug)]
pub struct Display {
    mode: Mode,
    slot: BarSlot,
    bar: Option<ProgressBar>,
    next_poll: NextPoll,
    /// The line of the last poll, printed once the next delay is known.
    pending_line: Option<String>,
    /// What finished badly in the poll under way (failed and vanished desktops, jobs that
    /// ended), shown with its line.
    news: Vec<String>,
    /// Several jobs: lines name the job.
    several: bool,
}

impl Display {
    /// Starts showing progress in `mode`; a bar is registered in `slot`. With `several`
    /// jobs, lines name the job and each job's end is shown.
    pub fn start(mode: Mode, slot: BarSlot, several: bool) -> Self {
        let next_poll = NextPoll::default();
        let bar = (mode == Mode::Bar).then(|| {
            // No length yet: a spinner until a poll says how many subtasks there are,
            // rather than a bar drawn full at 0/0.
            let bar = ProgressBar::no_length();
            bar.set_style(spinner_style(next_poll.clone()));
            bar.set_message("listing subtasks");
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        slot.set(bar.clone());
        Self {
            mode,
            slot,
            bar,
            next_poll,
            pending_line: None,
            news: Vec::new(),
            several,
        }
    }

    /// Clears the bar and prints any line still held back.
    pub fn finish(&mut self) {
        self.flush_line(None);
        // What happened after the last poll: jobs ended by the deadline or a signal.
        for line in std::mem::take(&mut self.news) {
            match (self.mode, &self.bar) {
                (Mode::Lines, _) => eprint_line(&format!("wks-wait: {line}")),
                (Mode::Bar, Some(bar)) => bar.println(line),
                _ => {}
            }
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.slot.set(None);
    }

    fn set_next_poll(&self, delay: Option<Duration>) {
        *self
            .next_poll
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            delay.and_then(|d| SystemClock.now().checked_add(d));
    }

    fn flush_line(&mut self, next: Option<Duration>) {
        if let Some(mut line) = self.pending_line.take() {
            if let Some(delay) = next {
                let _ = write!(line, "; next poll in {}", format_duration(delay));
            }
            eprint_line(&line);
        }
    }

    fn stamp(elapsed: Duration) -> String {
        format!("[{}]", format_duration(elapsed))
    }
}

/// Before the first poll lists a subtask: what is being done, no bar.
fn spinner_style(next_poll: NextPoll) -> ProgressStyle {
    style("{spinner:.cyan} {elapsed:>4} {msg}{next}", next_poll)
}

/// Once subtasks are listed: how many of them finished.
fn bar_style(next_poll: NextPoll) -> ProgressStyle {
    style(
        "{spinner:.cyan} {elapsed:>4} [{bar:30.cyan/blue}] {pos}/{len} finished · {msg}{next}",
        next_poll,
    )
}

fn style(template: &str, next_poll: NextPoll) -> ProgressStyle {
    ProgressStyle::with_template(template)
        // The templates are constants; they parse.
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
        .with_key(
            "next",
            move |_: &ProgressState, out: &mut dyn std::fmt::Write| {
                let due = *next_poll.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = match due.map(|at| at.saturating_duration_since(SystemClock.now())) {
                    None => Ok(()),
                    Some(left) if left.is_zero() => write!(out, " · polling"),
                    Some(left) => write!(out, " · next poll in {}", countdown(left)),
                };
            },
        )
}

/// Whole seconds, rounded up so the countdown never shows 0 before the poll: `5s`,
/// `4m12s`.
fn countdown(left: Duration) -> String {
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    format_duration(Duration::from_secs(secs))
}

/// `3 succeeded, 1 failed, 10 running, 36 waiting`.
fn describe(counts: &Counts) -> String {
    format!(
        "{} succeeded, {} failed, {} running, {} waiting",
        counts.succeeded, counts.failed, counts.running, counts.waiting
    )
}

/// Shows `counts` on `bar`: a spinner while no subtask is listed, then a bar of finished
/// subtasks out of those listed.
fn show_counts(bar: &ProgressBar, counts: &Counts, next_poll: &NextPoll) {
    if counts.total == 0 {
        bar.set_message("no subtasks listed yet");
        return;
    }
    let first = bar.length().is_none();
    // Counts before the style, so the bar's first frame already shows them.
    bar.set_message(describe(counts));
    bar.set_length(counts.total as u64);
    bar.set_position((counts.succeeded + counts.failed) as u64);
    if first {
        bar.set_style(bar_style(next_poll.clone()));
    }
}

/// `failed: desktop-0003 (6f1c…): WKS.0209 user user-0003 already has a desktop`, with
/// the server's strings escaped.
fn failure_line(failed: &DesktopFailure) -> String {
    format!(
        "failed: {} ({}): {} {}",
        cell(failed.desktop_name.as_deref()),
        cell(failed.desktop_id.as_deref()),
        cell(failed.error_code.as_deref()),
        cell(failed.fail_reason.as_deref()),
    )
}

/// `vanished: desktop-0003 (6f1c…): no longer listed, last seen RUNNING`.
fn vanished_line(subtask: &Subtask) -> String {
    format!(
        "vanished: {} ({}): no longer listed before it was seen finished (last seen {})",
        cell(subtask.desktop_name()),
        cell(subtask.desktop_id()),
        cell(subtask.status.as_ref().map(|s| s.as_str())),
    )
}

impl Display {
    /// Shows one event of the wait.
    pub fn on_event(&mut self, event: &Event) {
        match &event.kind {
            EventKind::Polled {
                poll,
                requests,
                counts,
                ..
            } => self.on_poll(*poll, event.elapsed, *requests, counts),
            EventKind::SubtaskFailed { job_id, failure } => {
                let line = failure_line(failure);
                self.news.push(self.whose(job_id, line));
            }
            EventKind::SubtaskVanished { job_id, subtask } => {
                let line = vanished_line(subtask);
                self.news.push(self.whose(job_id, line));
            }
            EventKind::JobFinished {
                job_id,
                result,
                counts,
                ..
            } if self.several => {
                let line = format!("finished: {result}, {}", describe(counts));
                self.news.push(self.whose(job_id, line));
            }
            EventKind::Sleeping { delay } => self.on_sleep(*delay),
            EventKind::Retrying { delay, error, .. } => {
                self.on_retry(event.elapsed, &error.message, *delay);
            }
            EventKind::BudgetWait { delay } => self.on_budget_wait(event.elapsed, *delay),
            _ => {}
        }
    }

    /// `line`, naming the job when there are several.
    fn whose(&self, job_id: &str, line: String) -> String {
        if self.several {
            format!("job {}: {line}", escape_controls(job_id))
        } else {
            line
        }
    }

    fn on_poll(&mut self, poll: u32, elapsed: Duration, requests: u32, counts: &Counts) {
        let news = std::mem::take(&mut self.news);
        let found = match counts.total {
            0 => "no subtasks listed yet".to_owned(),
            total => format!("{} of {total}", describe(counts)),
        };
        let line = format!(
            "{} poll {poll}: {found} ({} so far)",
            Self::stamp(elapsed),
            plural(requests, "request"),
        );
        match self.mode {
            Mode::Quiet | Mode::Retries => log::info!("{line}"),
            Mode::Lines => {
                self.flush_line(None);
                for line in &news {
                    eprint_line(&format!("wks-wait: {line}"));
                }
                self.pending_line = Some(format!("wks-wait: {line}"));
            }
            Mode::Bar => {
                if let Some(bar) = &self.bar {
                    show_counts(bar, counts, &self.next_poll);
                    for line in news {
                        bar.println(line);
                    }
                }
                self.set_next_poll(None);
            }
        }
    }

    fn on_sleep(&mut self, delay: Duration) {
        match self.mode {
            Mode::Quiet | Mode::Retries => {}
            Mode::Lines => self.flush_line(Some(delay)),
            Mode::Bar => self.set_next_poll(Some(delay)),
        }
    }

    /// The shared request budget holds the next request back: said once it is a wait a
    /// person notices.
    fn on_budget_wait(&mut self, elapsed: Duration, delay: Duration) {
        if delay < Duration::from_secs(1) {
            return;
        }
        let line = format!(
            "wks-wait: {} the request budget (--max-rate) holds the next request back {}",
            Self::stamp(elapsed),
            format_duration(delay)
        );
        self.print_pause(line, delay);
    }

    fn on_retry(&mut self, elapsed: Duration, message: &str, delay: Duration) {
        let line = format!(
            "wks-wait: {} retry in {} after: {}",
            Self::stamp(elapsed),
            format_duration(delay),
            escape_controls(message)
        );
        self.print_pause(line, delay);
    }

    /// Prints `line` about a pause of `delay` before the next request (a retry, the
    /// budget): a line of its own, above the bar when there is one.
    fn print_pause(&mut self, line: String, delay: Duration) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Retries | Mode::Lines => {
                self.flush_line(None);
                eprint_line(&line);
            }
            Mode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.println(line);
                }
                self.set_next_poll(Some(delay));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_follows_flags_and_terminal() {
        assert_eq!(Mode::choose(false, false, true), Mode::Bar);
        assert_eq!(Mode::choose(false, false, false), Mode::Lines);
        assert_eq!(Mode::choose(true, false, true), Mode::Bar);
        assert_eq!(Mode::choose(true, false, false), Mode::Retries);
        assert_eq!(Mode::choose(false, true, true), Mode::Quiet);
        assert_eq!(Mode::choose(false, true, false), Mode::Quiet);
    }

    #[test]
    fn the_bar_appears_only_once_subtasks_are_listed() {
        let bar = ProgressBar::hidden();
        let next_poll = NextPoll::default();
        let mut counts = Counts::default();
        show_counts(&bar, &counts, &next_poll);
        assert_eq!(bar.length(), None, "no bar at 0/0");
        assert_eq!(bar.message(), "no subtasks listed yet");
        counts.total = 4;
        counts.running = 3;
        counts.failed = 1;
        show_counts(&bar, &counts, &next_poll);
        assert_eq!((bar.position(), bar.length()), (1, Some(4)));
        assert_eq!(bar.message(), "0 succeeded, 1 failed, 3 running, 0 waiting");
    }

    #[test]
    fn the_countdown_is_whole_seconds_rounded_up() {
        assert_eq!(countdown(Duration::from_millis(1)), "1s");
        assert_eq!(countdown(Duration::from_millis(4_200)), "5s");
        assert_eq!(countdown(Duration::from_secs(252)), "4m12s");
    }
}
