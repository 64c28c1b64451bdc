//! SIGINT, SIGTERM and SIGHUP: the first ends the wait with a report, a second exits at once.
//!
//! Pipelines stop `wks-wait` with SIGTERM (`timeout`, CI cancellation, systemd, Kubernetes)
//! or SIGHUP (a closed terminal or SSH session) as often as a person does with Ctrl-C; each
//! gets the partial report the README promises, and the shell's exit code for that signal.

use std::io;
use std::sync::{mpsc, Arc, OnceLock};
use std::thread;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use wks_waiter::Cancellation;

/// A signal that ends the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: `kill`, `timeout`, CI cancellation, a service manager stopping us.
    Terminate,
    /// SIGHUP: the terminal or session went away.
    Hangup,
}

impl Signal {
    /// The signals handled.
    const ALL: [Self; 3] = [Self::Interrupt, Self::Terminate, Self::Hangup];

    fn number(self) -> i32 {
        match self {
            Self::Interrupt => SIGINT,
            Self::Terminate => SIGTERM,
            Self::Hangup => SIGHUP,
        }
    }

    fn of(number: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.number() == number)
    }

    /// `SIGINT`, `SIGTERM`, `SIGHUP`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
            Self::Hangup => "SIGHUP",
        }
    }

    /// The shell's convention for a process ended by this signal: 128 + its number (130,
    /// 143, 129 on Linux and macOS).
    pub fn exit_code(self) -> u8 {
        // Signal numbers of these three are below 16 on every Unix.
        128 + u8::try_from(self.number()).unwrap_or(0)
    }
}

/// Watches for the signals that end the wait, from the start of the process on.
#[derive(Debug, Clone, Default)]
pub struct Interrupts {
    cancel: Cancellation,
    first: Arc<OnceLock<Signal>>,
}

impl Interrupts {
    /// Starts a thread that, on the first of SIGINT, SIGTERM or SIGHUP, records it, calls
    /// `notify` with it and cancels [`cancellation`](Self::cancellation); on any second one,
    /// exits the process at once with that signal's code, for a request stuck in flight.
    ///
    /// When the handlers cannot be installed, the signals keep their default action (the
    /// process ends without a report) and a warning says so.
    pub fn install(notify: impl Fn(Signal) + Send + 'static) -> Self {
        let interrupts = Self::default();
        let watcher = interrupts.clone();
        let (installed_tx, installed_rx) = mpsc::channel();
        // Registered on the thread that reads them, so that if the thread cannot start,
        // nothing was registered and the default actions still end the process.
        let spawned = thread::Builder::new()
            .name("signals".to_owned())
            .spawn(move || {
                let mut signals = match Signals::new(Signal::ALL.map(Signal::number)) {
                    Ok(signals) => signals,
                    Err(error) => {
                        let _ = installed_tx.send(Err(error));
                        return;
                    }
                };
                let _ = installed_tx.send(Ok(()));
                for signal in signals.forever().filter_map(Signal::of) {
                    if watcher.first.set(signal).is_err() {
                        std::process::exit(signal.exit_code().into());
                    }
                    notify(signal);
                    watcher.cancel.cancel();
                }
            });
        let installed = match spawned {
            Err(error) => Err(error),
            Ok(_) => installed_rx
                .recv()
                .unwrap_or_else(|_| Err(io::Error::other("the signal thread ended"))),
        };
        if let Err(error) = installed {
            log::warn!("signals will end wks-wait without a report: {error}");
        }
        interrupts
    }

    /// Cancelled by the first signal; give it to the waiter.
    pub fn cancellation(&self) -> Cancellation {
        self.cancel.clone()
    }

    /// The first signal received, if any.
    pub fn received(&self) -> Option<Signal> {
        self.first.get().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(Signal::Hangup.exit_code(), 129);
        for signal in Signal::ALL {
            assert_eq!(Signal::of(signal.number()), Some(signal));
        }
        assert_eq!(Signal::of(signal_hook::consts::SIGUSR1), None);
    }
}
