//! Run folders -> runs.csv, summary.csv and fits.csv. All are always rebuilt from what is
//! on disk, so `qnet-exp summarize DIR` reproduces them byte for byte, and a folder that
//! several invocations filled is summarized as one. Reading (read.rs), grouping over seeds
//! (group.rs) and writing (write.rs) are separate; what a family contributes comes from
//! its [`crate::family::Family`] declarations.

mod group;
mod read;
mod write;

use std::path::Path;

pub use group::{cmp_params, group, param_keys, Group};
pub use read::{
    collect, digest, read_run, MetricsDigest, RunRecord, RunStatus, CONFIG_FILE, METRICS_FILE, SCRIPTS_DIR, STATUS_FILE,
};
pub use write::{runs_csv, summary_csv, summary_header, summary_row};

use super::write_atomic;

/// Rebuild runs.csv, summary.csv and fits.csv of a sweep folder from its run folders.
/// A folder without any run folder is an error (and nothing is written into it).
pub fn rebuild(dir: &Path) -> Result<(Vec<Group>, Vec<String>), String> {
    let (records, skipped) = collect(dir)?;
    if records.is_empty() {
        let why = skipped.first().map(|s| format!(" ({s})")).unwrap_or_default();
        return Err(format!("{}: no run folders found; is this a sweep folder (results/<name>)?{why}", dir.display()));
    }
    let groups = group(&records);
    let write = |name: &str, text: String| {
        write_atomic(&dir.join(name), text.as_bytes())
            .map_err(|e| format!("{}: cannot write: {e}", dir.join(name).display()))
    };
    write("runs.csv", runs_csv(&records))?;
    write("summary.csv", summary_csv(&groups))?;
    write("fits.csv", super::fits::fits_csv(&groups))?;
    Ok((groups, skipped))
}
