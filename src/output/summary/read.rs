//! Run folders back from disk: status, config, and what the summary needs of metrics.csv
//! (its last row and the mean of its tail), read in two streaming passes so that a long
//! run's metrics never sit in memory.

use std::path::{Path, PathBuf};

use crate::config::RunSpec;
use crate::family;

pub const STATUS_FILE: &str = "status.toml";
pub const METRICS_FILE: &str = "metrics.csv";
pub const CONFIG_FILE: &str = "config.toml";
/// The folder `qnet-exp slurm` writes its scripts and job logs to inside a sweep folder:
/// not a run folder.
pub const SCRIPTS_DIR: &str = "slurm";

#[derive(Clone, Debug, PartialEq)]
pub struct RunStatus {
    pub finished: bool,
    pub reason: String,
    pub wall_s: f64,
    /// Empty in runs.csv where the family does not track it.
    pub last_change_step: Option<u64>,
}

impl RunStatus {
    pub fn to_toml(&self) -> String {
        let mut t = toml::Table::new();
        t.insert("status".into(), toml::Value::String(if self.finished { "finished" } else { "failed" }.into()));
        t.insert("reason".into(), toml::Value::String(self.reason.clone()));
        t.insert("wall_s".into(), toml::Value::Float(self.wall_s));
        if let Some(s) = self.last_change_step {
            t.insert("last_change_step".into(), toml::Value::Integer(s as i64));
        }
        toml::to_string(&t).expect("plain values")
    }

    pub fn read(run_dir: &Path) -> Option<RunStatus> {
        let text = std::fs::read_to_string(run_dir.join(STATUS_FILE)).ok()?;
        let t: toml::Table = text.parse().ok()?;
        Some(RunStatus {
            finished: t.get("status")?.as_str()? == "finished",
            reason: t.get("reason")?.as_str()?.to_string(),
            wall_s: t.get("wall_s")?.as_float()?,
            last_change_step: match t.get("last_change_step") {
                Some(v) => Some(v.as_integer()? as u64),
                None => None,
            },
        })
    }
}

/// What the summary reads of a metrics.csv: per column, the last row's value and the mean
/// over the tail (the last `tail` fraction of the rows after step 0).
#[derive(Clone, Debug, Default)]
pub struct MetricsDigest {
    pub columns: Vec<String>,
    pub rows: usize,
    pub last_step: u64,
    last: Vec<Option<f64>>,
    tail_mean: Vec<Option<f64>>,
}

impl MetricsDigest {
    fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The last row's value of a column (`None`: no such column, empty cell, no rows).
    pub fn last(&self, name: &str) -> Option<f64> {
        self.last.get(self.col(name)?).copied().flatten()
    }

    /// The mean of a column over the tail (`None` if any cell in it is empty).
    pub fn tail_mean(&self, name: &str) -> Option<f64> {
        self.tail_mean.get(self.col(name)?).copied().flatten()
    }
}

fn parse_cell(path: &Path, s: &str) -> Result<Option<f64>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| format!("{}: bad number {s:?}", path.display()))
}

/// Read a metrics.csv in two passes: count the rows, then keep the last row and sum the tail.
pub fn digest(path: &Path, tail: f64) -> Result<MetricsDigest, String> {
    let err = |e: csv::Error| format!("{}: {e}", path.display());
    let open = || csv::Reader::from_path(path).map_err(err);
    let mut rdr = open()?;
    let columns: Vec<String> = rdr.headers().map_err(err)?.iter().map(String::from).collect();
    let step_col =
        columns.iter().position(|c| c == "step").ok_or_else(|| format!("{}: no column step", path.display()))?;
    let step = |rec: &csv::StringRecord| -> Result<u64, String> {
        rec[step_col].parse().map_err(|_| format!("{}: bad step {:?}", path.display(), &rec[step_col]))
    };
    let (mut rows, mut after_zero) = (0usize, 0usize);
    for rec in rdr.records() {
        let rec = rec.map_err(err)?;
        rows += 1;
        after_zero += (step(&rec)? > 0) as usize;
    }
    // The tail: the last k of the rows after step 0 (the epsilon keeps 0.07 * 100 from
    // rounding up to 8).
    let k = ((tail * after_zero as f64 - 1e-9).ceil() as usize).clamp(1, after_zero.max(1));
    // Start at -0.0 as `Iterator::sum` does, so the sums are bit for bit what it gives.
    let mut sums: Vec<Option<f64>> = vec![Some(-0.0); columns.len()];
    let mut last = vec![None; columns.len()];
    let mut last_step = 0;
    let mut seen = 0usize;
    for rec in open()?.records() {
        let rec = rec.map_err(err)?;
        let s = step(&rec)?;
        last_step = s;
        let in_tail = s > 0 && {
            seen += 1;
            seen > after_zero - k.min(after_zero)
        };
        for (i, cell) in rec.iter().enumerate().take(columns.len()) {
            let v = parse_cell(path, cell)?;
            if in_tail {
                sums[i] = match (sums[i], v) {
                    (Some(acc), Some(x)) => Some(acc + x),
                    _ => None,
                };
            }
            last[i] = v;
        }
    }
    let tail_mean = if after_zero == 0 {
        vec![None; columns.len()]
    } else {
        sums.into_iter().map(|s| s.map(|s| s / k as f64)).collect()
    };
    Ok(MetricsDigest { columns, rows, last_step, last, tail_mean })
}

/// A run folder as the summary sees it.
pub struct RunRecord {
    pub spec: RunSpec,
    pub status: RunStatus,
    pub metrics: MetricsDigest,
    /// The family's own file of per-run facts (the convex theory.toml), if it has one.
    pub extra: Option<toml::Table>,
}

/// Read one run folder: its status, its config (which must give back the folder's name
/// as the run id, so an edited or copied folder is not mistaken for the run), its metrics.
/// A finished run must have complete metrics (its last step or epoch reached).
pub fn read_run(d: &Path) -> Result<RunRecord, String> {
    let status =
        RunStatus::read(d).ok_or_else(|| format!("{}: no readable {STATUS_FILE}, not a run folder", d.display()))?;
    let spec = match crate::config::load_sweep(&d.join(CONFIG_FILE), &[]) {
        Ok(s) if s.runs.len() == 1 => s.runs.into_iter().next().expect("one run"),
        Ok(_) => return Err(format!("{}: {CONFIG_FILE} is not a single run", d.display())),
        Err(e) => return Err(e.join("; ")),
    };
    let folder = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if spec.id != folder {
        return Err(format!(
            "{}: its {CONFIG_FILE} describes run {}, not {folder} (edited or copied folder; ignored)",
            d.display(),
            spec.id
        ));
    }
    let fam = family::of(&spec.problem);
    let metrics_path = d.join(METRICS_FILE);
    // A run that failed before it started has no metrics.
    let metrics = if !status.finished && !metrics_path.exists() {
        MetricsDigest::default()
    } else {
        digest(&metrics_path, spec.tail)?
    };
    if status.finished && !fam.complete(&spec, metrics.last_step, metrics.rows) {
        return Err(format!(
            "{}: {METRICS_FILE} is incomplete ({} rows, last step {}); the run will be redone",
            d.display(),
            metrics.rows,
            metrics.last_step
        ));
    }
    let extra = fam
        .record_file()
        .and_then(|f| std::fs::read_to_string(d.join(f)).ok())
        .and_then(|t| t.parse::<toml::Table>().ok());
    Ok(RunRecord { spec, status, metrics, extra })
}

/// Read every run folder under `dir`. Folders that are not complete runs are reported in
/// the second list and left alone (`run` redoes them).
pub fn collect(dir: &Path) -> Result<(Vec<RunRecord>, Vec<String>), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read folder: {e}", dir.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.') || n == SCRIPTS_DIR)
        })
        .collect();
    dirs.sort();
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    for d in dirs {
        match read_run(&d) {
            Ok(r) => records.push(r),
            Err(e) => skipped.push(e),
        }
    }
    records.sort_by(|a, b| super::group::cmp_params(&a.spec, &b.spec, true));
    Ok((records, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_keeps_the_last_row_and_the_tail_mean() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        std::fs::write(&p, "step,gap,mean_f\n0,9,\n10,4,\n20,2,1\n30,1,1\n40,3,\n").unwrap();
        let d = digest(&p, 0.5).unwrap();
        assert_eq!((d.rows, d.last_step), (5, 40));
        // Tail of the 4 rows after step 0: the last 2.
        assert_eq!(d.tail_mean("gap"), Some(2.0));
        assert_eq!((d.last("gap"), d.last("mean_f"), d.tail_mean("mean_f")), (Some(3.0), None, None));
        assert_eq!(d.last("nope"), None);
        // 0.07 x 100 rows is 7 rows, not 8.
        let mut text = String::from("step,gap\n0,0\n");
        for i in 1..=100 {
            text.push_str(&format!("{i},{}\n", if i > 93 { 1 } else { 1000 }));
        }
        std::fs::write(&p, text).unwrap();
        assert_eq!(digest(&p, 0.07).unwrap().tail_mean("gap"), Some(1.0));
        std::fs::write(&p, "step,gap\n0,x\n").unwrap();
        assert!(digest(&p, 0.1).unwrap_err().contains("bad number \"x\""));
    }
}
