//! Refusing a sweep that would exhaust the machine, before it starts: memory (the runs
//! that run at once, plus their shared instances) against the memory available, metrics
//! rows per run, and the metrics files against the free space of the output folder. Each
//! refusal says the estimate, the limit and how to go past it (`--force`, or a larger
//! `run.log_every`).

use std::path::Path;

use crate::config::RunSpec;
use crate::error::Error;
use crate::family::{self, Cost};

/// Metrics rows one run may write (about 2 GB of CSV).
pub const MAX_ROWS: u64 = 10_000_000;
/// Share of the available memory a sweep may plan to use.
pub const MEMORY_SHARE: f64 = 0.8;
/// Bytes per metrics row, a generous average (16 columns of up to 24 characters).
const ROW_BYTES: u64 = 250;

/// A size for messages, in the unit that shows it (an empty sum is -0.0: shown as 0).
fn gib(b: f64) -> String {
    let b = b.max(0.0);
    let (unit, div) = [("GiB", 30), ("MiB", 20), ("KiB", 10)]
        .into_iter()
        .map(|(u, s)| (u, (1u64 << s) as f64))
        .find(|&(_, d)| b >= 0.1 * d)
        .unwrap_or(("KiB", 1024.0));
    format!("{:.1} {unit}", b / div)
}

/// MemAvailable of /proc/meminfo, in bytes.
fn available_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// Free bytes of the file system holding `dir` (or its nearest existing parent).
fn free_disk(dir: &Path) -> Option<f64> {
    let mut p = dir;
    while !p.exists() {
        p = p.parent()?;
    }
    let p = if p.as_os_str().is_empty() { Path::new(".") } else { p };
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as f64 * st.f_frsize as f64)
}

/// Check this invocation's runs against the limits (skipped with `--force`).
pub fn check(planned: &[Vec<(&RunSpec, Cost)>], opts: &super::Options) -> Result<(), Error> {
    if opts.force {
        return Ok(());
    }
    let mut errors = Vec::new();
    for (r, c) in planned.iter().flatten() {
        if c.rows > MAX_ROWS {
            errors.push(format!(
                "run {} would write {} metrics rows (limit {MAX_ROWS}): set a larger run.log_every, or pass --force",
                r.id, c.rows
            ));
            break;
        }
    }
    // Memory: the largest runs that can run at once, plus every shared instance once.
    let mut run_bytes: Vec<f64> = planned.iter().flatten().map(|(_, c)| c.run_bytes as f64).collect();
    run_bytes.sort_by(|a, b| b.total_cmp(a));
    let at_once: f64 = run_bytes.iter().take(opts.jobs.max(1)).sum();
    let mut keys = std::collections::HashSet::new();
    let instances: f64 = planned
        .iter()
        .flatten()
        .filter(|(r, _)| family::of(&r.problem).instance_key(r).is_some_and(|k| keys.insert(k)))
        .map(|(_, c)| c.instance_bytes as f64)
        .sum();
    if let Some(avail) = available_memory() {
        let need = at_once + instances;
        if need > MEMORY_SHARE * avail {
            errors.push(format!(
                "the sweep needs about {} of memory ({} for {} runs at once, {} for shared data), more than \
                 {:.0} % of the {} available: use fewer --jobs or smaller problems, or pass --force",
                gib(need),
                gib(at_once),
                opts.jobs.min(run_bytes.len()),
                gib(instances),
                100.0 * MEMORY_SHARE,
                gib(avail)
            ));
        }
    }
    let disk: f64 = planned.iter().flatten().map(|(_, c)| (c.rows * ROW_BYTES) as f64).sum();
    if let Some(free) = free_disk(&opts.out) {
        if disk > 0.9 * free {
            errors.push(format!(
                "the metrics files need about {} but {} has {} free: set a larger run.log_every, or pass --force",
                gib(disk),
                opts.out.display(),
                gib(free)
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Input(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::gib;

    /// An empty sum (-0.0) and a 300 KB disk read as numbers, not "-0.0 GiB" or "0.0 GiB".
    #[test]
    fn sizes_are_shown_in_a_unit_that_shows_them() {
        assert_eq!(gib(-0.0), "0.0 KiB");
        assert_eq!(gib(30.0 * 1024.0), "30.0 KiB");
        assert_eq!(gib(300.0 * 1024.0), "0.3 MiB");
        assert_eq!(gib(5.0 * 1048576.0), "5.0 MiB");
        assert_eq!(gib(18.6 * 1073741824.0), "18.6 GiB");
    }
}
