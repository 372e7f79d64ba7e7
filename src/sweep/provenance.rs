//! provenance.toml: who wrote into a sweep folder, with what, when. One `[[invocation]]`
//! entry is appended when an invocation starts and one `[[finished]]` entry (same token)
//! when it ends, so a killed invocation still leaves its start. Appends are single writes
//! to a file opened in append mode.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::folder::Owner;
use super::Options;

pub const PROVENANCE_FILE: &str = "provenance.toml";

/// The commit this binary was built from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("QNET_GIT_COMMIT");

/// UTC time as RFC 3339 (`2026-12-01T13:46:27Z`).
pub fn utc(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn append(dir: &Path, text: &str) {
    let path = dir.join(PROVENANCE_FILE);
    let r = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = r {
        tracing::warn!("{}: cannot record provenance: {e}", path.display());
    }
}

/// The start of an invocation, in every sweep folder it writes to, with the number of
/// runs that sweep expands to (all shards together).
pub fn record(dirs: &[(PathBuf, usize)], owner: &Owner, opts: &Options) {
    let mut t = toml::Table::new();
    let s = |v: &str| toml::Value::String(v.to_string());
    t.insert("token".into(), s(&owner.token));
    t.insert("version".into(), s(env!("CARGO_PKG_VERSION")));
    t.insert("commit".into(), s(COMMIT));
    t.insert("command".into(), toml::Value::Array(std::env::args().map(|a| s(&a)).collect()));
    t.insert("cwd".into(), s(&std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default()));
    t.insert("host".into(), s(&owner.host));
    t.insert("pid".into(), toml::Value::Integer(owner.pid as i64));
    t.insert("start".into(), s(&utc(SystemTime::now())));
    t.insert("threads".into(), toml::Value::Integer(opts.jobs as i64));
    if let Some((i, n)) = opts.shard {
        t.insert("shard".into(), s(&format!("{i}/{n}")));
    }
    for var in ["SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"] {
        if let Ok(v) = std::env::var(var) {
            t.insert(var.to_lowercase(), s(&v));
        }
    }
    for (d, runs) in dirs {
        let mut t = t.clone();
        t.insert("runs".into(), toml::Value::Integer(*runs as i64));
        let mut doc = toml::Table::new();
        doc.insert("invocation".into(), toml::Value::Array(vec![toml::Value::Table(t)]));
        append(d, &format!("\n{}", toml::to_string(&doc).expect("plain values")));
    }
}

/// The number of runs the last invocation recorded in `dir` planned for the whole sweep
/// (`None` without a readable provenance.toml or from a version that did not record it).
pub fn planned_runs(dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join(PROVENANCE_FILE)).ok()?;
    let doc: toml::Table = text.parse().ok()?;
    let last = doc.get("invocation")?.as_array()?.last()?;
    usize::try_from(last.get("runs")?.as_integer()?).ok()
}

/// The end of an invocation in one sweep folder: when, and what it did there.
pub fn finish(dir: &Path, token: &str, ran: usize, failed: usize, interrupted: bool) {
    let mut t = toml::Table::new();
    t.insert("token".into(), toml::Value::String(token.to_string()));
    t.insert("end".into(), toml::Value::String(utc(SystemTime::now())));
    t.insert("ran".into(), toml::Value::Integer(ran as i64));
    t.insert("failed".into(), toml::Value::Integer(failed as i64));
    t.insert("interrupted".into(), toml::Value::Boolean(interrupted));
    let mut doc = toml::Table::new();
    doc.insert("finished".into(), toml::Value::Array(vec![toml::Value::Table(t)]));
    append(dir, &format!("\n{}", toml::to_string(&doc).expect("plain values")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        let at = |s: u64| utc(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_132_787), "2026-12-01T13:46:27Z");
    }
}
