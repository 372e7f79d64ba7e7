//! Errors that reach the user, and the exit code each maps to.

use std::fmt;

/// Exit code of a sweep stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug)]
pub enum Error {
    /// Bad config, bad flag, missing or damaged data, unusable output folder (also a write
    /// that fails mid-sweep: disk full, file too large): exit 2.
    Input(Vec<String>),
    /// Some runs failed (diverged, panicked), or `--keep-going` left some out (they failed
    /// the checks before running); the rest finished and are summarized: exit 1.
    RunsFailed { failed: usize, left_out: usize },
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
            Error::RunsFailed { .. } => 1,
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
            Error::RunsFailed { failed, left_out } => {
                let mut parts = Vec::new();
                if *failed > 0 {
                    parts.push(format!("{failed} run(s) failed; see the status column of runs.csv"));
                }
                if *left_out > 0 {
                    parts.push(format!("{left_out} run(s) left out by --keep-going (see the errors above)"));
                }
                write!(f, "error: {}", parts.join("; "))
            }
            Error::Interrupted { finished, total } => {
                write!(f, "interrupted: {finished} of {total} runs finished; rerun the same command to resume")
            }
        }
    }
}
