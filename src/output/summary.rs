//! Run folders -> runs.csv and summary.csv. Both are always rebuilt from what is on disk,
//! so `qnet-exp summarize DIR` reproduces them byte for byte, and a folder that several
//! invocations filled is summarized as one.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use super::stats::{summarize, Summary};
use super::{fmt_f64, fmt_opt, write_atomic};
use crate::config::schema::KEYS;
use crate::config::{RunSpec, Val};
use crate::theory::{BoundKind, RunTheory};

pub const STATUS_FILE: &str = "status.toml";
pub const METRICS_FILE: &str = "metrics.csv";
pub const CONFIG_FILE: &str = "config.toml";
pub const THEORY_FILE: &str = "theory.toml";

/// The keys that become parameter columns (everything but the structural and location ones).
pub fn param_keys() -> impl Iterator<Item = &'static crate::config::schema::KeySpec> {
    KEYS.iter().filter(|k| !matches!(k.path, "name" | "run.seeds" | "run.seed_index") && !k.is_location())
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunStatus {
    pub finished: bool,
    pub reason: String,
    pub wall_s: f64,
    pub last_change_step: u64,
}

impl RunStatus {
    pub fn to_toml(&self) -> String {
        let mut t = toml::Table::new();
        t.insert("status".into(), toml::Value::String(if self.finished { "finished" } else { "failed" }.into()));
        t.insert("reason".into(), toml::Value::String(self.reason.clone()));
        t.insert("wall_s".into(), toml::Value::Float(self.wall_s));
        t.insert("last_change_step".into(), toml::Value::Integer(self.last_change_step as i64));
        toml::to_string(&t).expect("plain values")
    }

    pub fn read(run_dir: &Path) -> Option<RunStatus> {
        let text = std::fs::read_to_string(run_dir.join(STATUS_FILE)).ok()?;
        let t: toml::Table = text.parse().ok()?;
        Some(RunStatus {
            finished: t.get("status")?.as_str()? == "finished",
            reason: t.get("reason")?.as_str()?.to_string(),
            wall_s: t.get("wall_s")?.as_float()?,
            last_change_step: t.get("last_change_step")?.as_integer()? as u64,
        })
    }
}

/// The columns of metrics.csv that the summary needs.
#[derive(Clone, Debug)]
pub struct Point {
    pub step: u64,
    /// Absent for networks (no gap columns).
    pub gap: Option<f64>,
    pub gap_latent: Option<f64>,
    pub gap_avg: Option<f64>,
    pub gap_avg_latent: Option<f64>,
    pub mean_f: Option<f64>,
    pub p_min: Option<f64>,
    pub train_error: Option<f64>,
    pub test_error: Option<f64>,
    pub test_error_latent: Option<f64>,
}

pub struct RunRecord {
    pub spec: RunSpec,
    pub status: RunStatus,
    pub points: Vec<Point>,
    pub theory: Option<RunTheory>,
}

impl RunRecord {
    /// Mean over the last `tail` fraction of the logged points after step 0.
    fn tail_mean(&self, f: impl Fn(&Point) -> Option<f64>) -> Option<f64> {
        let pts: Vec<&Point> = self.points.iter().filter(|p| p.step > 0).collect();
        if pts.is_empty() {
            return None;
        }
        // The epsilon keeps 0.07 * 100 from rounding up to 8.
        let k = ((self.spec.tail * pts.len() as f64 - 1e-9).ceil() as usize).clamp(1, pts.len());
        let vals: Option<Vec<f64>> = pts[pts.len() - k..].iter().map(|p| f(p)).collect();
        vals.map(|v| v.iter().sum::<f64>() / k as f64)
    }
}

fn read_points(path: &Path) -> Result<Vec<Point>, String> {
    let mut rdr = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = rdr.headers().map_err(|e| format!("{}: {e}", path.display()))?.clone();
    let col =
        |name: &str| headers.iter().position(|h| h == name).ok_or(format!("{}: no column {name}", path.display()));
    // Convex and toy runs have the gap columns, networks the error columns.
    let cs = col("step")?;
    let opt = |name: &str| headers.iter().position(|h| h == name);
    let (cg, cl, ca, cal) = (opt("gap"), opt("gap_latent"), opt("gap_avg"), opt("gap_avg_latent"));
    let (cmf, cpm) = (opt("mean_f"), opt("p_min"));
    let (ctr, cte, ctl) = (opt("train_error"), opt("test_error"), opt("test_error_latent"));
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{}: {e}", path.display()))?;
        let num = |i: Option<usize>| -> Result<Option<f64>, String> {
            let Some(i) = i else { return Ok(None) };
            let s = &rec[i];
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse().map(Some).map_err(|_| format!("{}: bad number {s:?}", path.display()))
            }
        };
        out.push(Point {
            step: rec[cs].parse().map_err(|_| format!("{}: bad step", path.display()))?,
            gap: num(cg)?,
            gap_latent: num(cl)?,
            gap_avg: num(ca)?,
            gap_avg_latent: num(cal)?,
            mean_f: num(cmf)?,
            p_min: num(cpm)?,
            train_error: num(ctr)?,
            test_error: num(cte)?,
            test_error_latent: num(ctl)?,
        });
    }
    Ok(out)
}

/// Read one run folder: its status, its config (which must give back the folder's name
/// as the run id, so an edited or copied folder is not mistaken for the run), its metrics
/// and theory.
pub fn read_run(d: &Path) -> Result<RunRecord, String> {
    let status =
        RunStatus::read(d).ok_or_else(|| format!("{}: no readable {STATUS_FILE}, not a run folder", d.display()))?;
    let spec = match crate::config::load_sweep(&d.join(CONFIG_FILE), &[]) {
        Ok(s) if s.runs.len() == 1 => s.runs.into_iter().next().unwrap(),
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
    let points = read_points(&d.join(METRICS_FILE))?;
    if points.is_empty() && status.finished {
        return Err(format!("{}: {METRICS_FILE} has no rows", d.display()));
    }
    let theory = std::fs::read_to_string(d.join(THEORY_FILE)).ok().and_then(|t| toml::from_str(&t).ok());
    Ok(RunRecord { spec, status, points, theory })
}

/// Read every run folder under `dir`. Folders that are not complete runs are reported in
/// the second list and left alone (`run` redoes them).
pub fn collect(dir: &Path) -> Result<(Vec<RunRecord>, Vec<String>), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read folder: {e}", dir.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
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
    records.sort_by(|a, b| cmp_params(&a.spec, &b.spec, true));
    Ok((records, skipped))
}

fn cmp_val(a: Option<&Val>, b: Option<&Val>) -> Ordering {
    let num = |v: &Val| match v {
        Val::Int(i) => Some(*i as f64),
        Val::Float(x) => Some(*x),
        _ => None,
    };
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => match (num(x), num(y)) {
            (Some(p), Some(q)) => p.total_cmp(&q),
            _ => x.canon().cmp(&y.canon()),
        },
    }
}

fn cmp_params(a: &RunSpec, b: &RunSpec, with_seed: bool) -> Ordering {
    for k in param_keys() {
        let o = cmp_val(a.param(k.path), b.param(k.path));
        if o != Ordering::Equal {
            return o;
        }
    }
    if with_seed {
        a.seed_index.cmp(&b.seed_index)
    } else {
        Ordering::Equal
    }
}

fn param_cells(spec: &RunSpec) -> Vec<String> {
    param_keys().map(|k| spec.param(k.path).map(|v| v.canon()).unwrap_or_default()).collect()
}

/// runs.csv: one row per run folder. `wall_s` is the only column that differs between
/// reruns.
pub fn runs_csv(records: &[RunRecord]) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    let mut header = vec!["id".to_string(), "sweep".into()];
    header.extend(param_keys().map(|k| k.column.to_string()));
    header.extend(
        [
            "seed",
            "status",
            "reason",
            "wall_s",
            "last_change_step",
            "final_gap",
            "bound_final",
            "stall_ratio",
            "stall_gap_bound",
        ]
        .map(String::from),
    );
    w.write_record(&header).unwrap();
    for r in records {
        let mut row = vec![r.spec.id.clone(), r.spec.sweep.clone()];
        row.extend(param_cells(&r.spec));
        row.push(r.spec.seed_index.to_string());
        row.push(if r.status.finished { "finished" } else { "failed" }.into());
        row.push(r.status.reason.clone());
        row.push(format!("{:.3}", r.status.wall_s));
        row.push(r.status.last_change_step.to_string());
        row.push(fmt_opt(r.points.last().and_then(|p| p.gap)));
        let th = r.theory.as_ref();
        row.push(fmt_opt(th.and_then(|t| t.bound_final)));
        row.push(fmt_opt(th.and_then(|t| t.stall_ratio)));
        row.push(fmt_opt(th.and_then(|t| t.stall_gap_bound)));
        w.write_record(&row).unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

/// One configuration (all parameters but the seed) aggregated over its seeds.
pub struct Group {
    pub spec: RunSpec,
    pub n: usize,
    pub n_failed: usize,
    pub final_gap: Option<Summary>,
    pub tail_gap: Option<Summary>,
    pub tail_gap_latent: Option<Summary>,
    pub tail_gap_avg: Option<Summary>,
    pub tail_gap_avg_latent: Option<Summary>,
    /// The gap each run's bound is about (final averaged iterate; BC: averaged latent).
    pub bounded_gap: Option<Summary>,
    /// Toys: time-averaged F since burn-in (exact runs: E_pi[F]) at the end.
    pub mean_f: Option<Summary>,
    /// Toys: fraction of time at a global grid minimiser (exact runs: P_pi).
    pub p_min: Option<Summary>,
    /// Networks: final training error (over the last epoch), test error at the deployed
    /// weights and (BC) at the latent weights.
    pub train_error: Option<Summary>,
    pub test_error: Option<Summary>,
    pub test_error_latent: Option<Summary>,
    /// Theory over the seeds (constants and bounds averaged over the seeds' data sets).
    pub theory: Option<GroupTheory>,
}

#[derive(Clone, Debug)]
pub struct GroupTheory {
    pub mu: f64,
    pub smoothness: f64,
    pub l2: f64,
    pub diameter: f64,
    pub g_meas: f64,
    pub g_box: Option<f64>,
    pub floor_sr: Option<f64>,
    pub floor_bc: Option<f64>,
    pub floor_bc_safe: Option<f64>,
    pub kind: BoundKind,
    pub covered: bool,
    pub bound_final: Option<f64>,
}

impl GroupTheory {
    fn of(ts: &[&RunTheory]) -> Option<GroupTheory> {
        let first = ts.first()?;
        let mean = |f: &dyn Fn(&RunTheory) -> f64| ts.iter().map(|t| f(t)).sum::<f64>() / ts.len() as f64;
        let mean_opt = |f: &dyn Fn(&RunTheory) -> Option<f64>| -> Option<f64> {
            let v: Option<Vec<f64>> = ts.iter().map(|t| f(t)).collect();
            v.map(|v| v.iter().sum::<f64>() / v.len() as f64)
        };
        Some(GroupTheory {
            mu: mean(&|t| t.mu),
            smoothness: mean(&|t| t.smoothness),
            l2: mean(&|t| t.l2),
            diameter: mean(&|t| t.diameter),
            g_meas: mean(&|t| t.g_meas),
            g_box: mean_opt(&|t| t.g_box),
            floor_sr: mean_opt(&|t| t.floor_sr),
            floor_bc: mean_opt(&|t| t.floor_bc),
            floor_bc_safe: mean_opt(&|t| t.floor_bc_safe),
            kind: first.kind,
            covered: first.covered,
            bound_final: mean_opt(&|t| t.bound_final),
        })
    }

    /// A bound is violated when the measured mean minus its 95% CI half-width (0 for a
    /// single seed) still lies above it.
    pub fn violated(&self, measured: Option<Summary>) -> Option<bool> {
        let (b, m) = (self.bound_final?, measured?);
        Some(m.mean - m.ci95.unwrap_or(0.0) > b)
    }
}

pub const THEORY_COLUMNS: &[&str] = &[
    "mu",
    "L",
    "L2",
    "D",
    "G",
    "G_box",
    "floor_sr",
    "floor_bc",
    "floor_bc_safe",
    "bound_kind",
    "bound_covered",
    "bound_final",
    "bound_violated",
];

fn theory_cells(g: &Group) -> Vec<String> {
    let Some(t) = &g.theory else { return vec![String::new(); THEORY_COLUMNS.len()] };
    let kind = match t.kind {
        BoundKind::StronglyConvex => "strongly_convex",
        BoundKind::ConstStep => "const_step",
        BoundKind::None => "none",
    };
    vec![
        fmt_f64(t.mu),
        fmt_f64(t.smoothness),
        fmt_f64(t.l2),
        fmt_f64(t.diameter),
        fmt_f64(t.g_meas),
        fmt_opt(t.g_box),
        fmt_opt(t.floor_sr),
        fmt_opt(t.floor_bc),
        fmt_opt(t.floor_bc_safe),
        kind.into(),
        t.covered.to_string(),
        fmt_opt(t.bound_final),
        t.violated(g.bounded_gap).map(|v| v.to_string()).unwrap_or_default(),
    ]
}

pub const STAT_NAMES: &[&str] = &[
    "final_gap",
    "tail_gap",
    "tail_gap_latent",
    "tail_gap_avg",
    "tail_gap_avg_latent",
    "bounded_gap",
    "mean_f",
    "p_min",
    "train_error",
    "test_error",
    "test_error_latent",
];

pub fn group(records: &[RunRecord]) -> Vec<Group> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < records.len() {
        let mut j = i + 1;
        while j < records.len() && cmp_params(&records[i].spec, &records[j].spec, false) == Ordering::Equal {
            j += 1;
        }
        let runs: Vec<&RunRecord> = records[i..j].iter().filter(|r| r.status.finished).collect();
        let stat = |f: &dyn Fn(&RunRecord) -> Option<f64>| -> Option<Summary> {
            let v: Option<Vec<f64>> = runs.iter().map(|r| f(r)).collect();
            v.and_then(|v| summarize(&v))
        };
        out.push(Group {
            spec: records[i].spec.clone(),
            n: runs.len(),
            n_failed: (j - i) - runs.len(),
            final_gap: stat(&|r| r.points.last().and_then(|p| p.gap)),
            tail_gap: stat(&|r| r.tail_mean(|p| p.gap)),
            tail_gap_latent: stat(&|r| r.tail_mean(|p| p.gap_latent)),
            tail_gap_avg: stat(&|r| r.tail_mean(|p| p.gap_avg)),
            tail_gap_avg_latent: stat(&|r| r.tail_mean(|p| p.gap_avg_latent)),
            bounded_gap: stat(&|r| r.theory.as_ref().map(|t| t.measured_final)),
            mean_f: stat(&|r| r.points.last().and_then(|p| p.mean_f)),
            p_min: stat(&|r| r.points.last().and_then(|p| p.p_min)),
            train_error: stat(&|r| r.points.last().and_then(|p| p.train_error)),
            test_error: stat(&|r| r.points.last().and_then(|p| p.test_error)),
            test_error_latent: stat(&|r| r.points.last().and_then(|p| p.test_error_latent)),
            theory: GroupTheory::of(&runs.iter().filter_map(|r| r.theory.as_ref()).collect::<Vec<_>>()),
        });
        i = j;
    }
    out
}

pub fn summary_csv(groups: &[Group]) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    let mut header = vec!["sweep".to_string()];
    header.extend(param_keys().map(|k| k.column.to_string()));
    header.extend(["n", "n_failed"].map(String::from));
    for s in STAT_NAMES {
        header.extend(["mean", "std", "ci95"].map(|x| format!("{s}_{x}")));
    }
    header.extend(THEORY_COLUMNS.iter().map(|c| c.to_string()));
    w.write_record(&header).unwrap();
    for g in groups {
        let mut row = vec![g.spec.sweep.clone()];
        row.extend(param_cells(&g.spec));
        row.push(g.n.to_string());
        row.push(g.n_failed.to_string());
        for s in [
            g.final_gap,
            g.tail_gap,
            g.tail_gap_latent,
            g.tail_gap_avg,
            g.tail_gap_avg_latent,
            g.bounded_gap,
            g.mean_f,
            g.p_min,
            g.train_error,
            g.test_error,
            g.test_error_latent,
        ] {
            row.push(s.map(|s| fmt_f64(s.mean)).unwrap_or_default());
            row.push(fmt_opt(s.and_then(|s| s.std)));
            row.push(fmt_opt(s.and_then(|s| s.ci95)));
        }
        row.extend(theory_cells(g));
        w.write_record(&row).unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

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
