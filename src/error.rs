//! Errors that reach the user, and the exit code each maps to.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// Bad config, bad flag, missing file, unusable output folder: exit 2.
    Input(Vec<String>),
    /// Some runs failed (diverged, could not be written); the rest finished: exit 1.
    RunsFailed(usize),
}

impl Error {
    pub fn input(msg: impl Into<String>) -> Self {
        Error::Input(vec![msg.into()])
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::RunsFailed(_) => 1,
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
        }
    }
}
