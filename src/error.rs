//! Errors that reach the user, and the exit code each maps to.

use std::fmt;

/// Exit code of a sweep stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug)]
pub enum Error {
    /// Bad config, bad flag, missing or damaged data, unusable output folder (also a write
    /// that fails mid-sweep: disk full, file too large): exit 2.
    Input(Vec<String>),
    /// Some runs failed (diverged, panicked); the rest finished and are summarized: exit 1.
    RunsFailed(usize),
    /// Stopped by a signal: what finished is on disk and summarized: exit 130.
    Interrupted { finished: usize, total: usize },
}

impl Error {
    pub fn input(msg: impl Into<String>) -> Self {
        Error::Input(vec![msg.into()])
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::RunsFailed(_) => 1,
            Error::Interrupted { .. } => EXIT_INTERRUPTED,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(lines) => {
                for (i, l) in lines.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "error: {l}")?;
                }
                Ok(())
            }
            Error::RunsFailed(n) => write!(f, "error: {n} run(s) failed; see the status column of runs.csv"),
            Error::Interrupted { finished, total } => {
                write!(f, "interrupted: {finished} of {total} runs finished; rerun the same command to resume")
            }
        }
    }
}
