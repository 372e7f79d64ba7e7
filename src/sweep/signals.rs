//! Stopping a sweep cleanly on SIGINT (Ctrl-C) or SIGTERM (Slurm's time limit, a
//! preemption): the first signal stops new runs from starting and gives the running ones
//! the grace time given to [`install`] to finish; after that, or at a second signal, the running ones are
//! abandoned (their temporary folders and claims removed). runs.csv and the summary are
//! then written for what finished, and the exit code is [`crate::error::EXIT_INTERRUPTED`].
//!
//! SIGXFSZ (a file-size limit, `ulimit -f`) is caught too, so that the write fails with
//! EFBIG and the sweep stops with a message instead of dying silently.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the signal thread tells the sweep.
#[derive(Debug, Default)]
pub struct Stop {
    /// No new run may start.
    pub draining: AtomicBool,
    /// Running runs must stop at their next check.
    pub abandon: AtomicBool,
    /// The signal that started it (0: none).
    pub signal: AtomicU8,
}

impl Stop {
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub fn abandoning(&self) -> bool {
        self.abandon.load(Ordering::Acquire)
    }

    /// The signal's name, for the closing message.
    pub fn signal_name(&self) -> Option<&'static str> {
        match self.signal.load(Ordering::Acquire) as i32 {
            0 => None,
            signal_hook::consts::SIGINT => Some("SIGINT"),
            signal_hook::consts::SIGTERM => Some("SIGTERM"),
            _ => Some("a signal"),
        }
    }

    /// Ask the sweep to stop as a signal would (tests, and a fatal write error).
    pub fn request(&self, abandon: bool) {
        self.draining.store(true, Ordering::Release);
        if abandon {
            self.abandon.store(true, Ordering::Release);
        }
    }
}

/// Install the handlers: returns the shared stop state. `grace` is how long running runs
/// may go on after the first signal.
pub fn install(grace: Duration, quiet: bool) -> std::io::Result<Arc<Stop>> {
    use signal_hook::consts::{SIGINT, SIGTERM, SIGXFSZ};
    let stop = Arc::new(Stop::default());
    // A no-op handler: the write that crossed the limit fails with EFBIG instead.
    signal_hook::flag::register(SIGXFSZ, Arc::new(AtomicBool::new(false)))?;
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let s = stop.clone();
    std::thread::spawn(move || {
        for (count, sig) in signals.forever().enumerate() {
            match count {
                0 => {
                    s.signal.store(sig as u8, Ordering::Release);
                    s.draining.store(true, Ordering::Release);
                    if !quiet {
                        eprintln!(
                            "\ninterrupted ({}): no new runs; running ones get {} s to finish (signal again to stop them now)",
                            s.signal_name().unwrap_or("signal"),
                            grace.as_secs()
                        );
                    }
                    let t = s.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(grace);
                        t.abandon.store(true, Ordering::Release);
                    });
                }
                1 => s.abandon.store(true, Ordering::Release),
                // A third signal: the user means it.
                _ => std::process::exit(crate::error::EXIT_INTERRUPTED),
            }
        }
    });
    Ok(stop)
}
