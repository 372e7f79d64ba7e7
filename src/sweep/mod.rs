//! The sweep engine: skip finished runs, build each problem instance once, run the rest
//! on a rayon pool of `--jobs` threads, write each run folder atomically, then rebuild
//! runs.csv and summary.csv from disk.
//!
//! Results never depend on the thread count: every run's randomness comes from its own
//! seeds (see `config::Seeds`), and each run is computed by one thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

mod warm;
pub use warm::with_spinning_pool;

use crate::config::{ProblemSpec, RunSpec, Sweep};
use crate::error::Error;
use crate::nets::train::NetData;
use crate::nets::Parallelism;
use crate::output::progress::{Progress, ProgressMode};
use crate::output::summary::{self, RunStatus, CONFIG_FILE, METRICS_FILE, STATUS_FILE, THEORY_FILE};
use crate::output::{metrics_csv, write_atomic};
use crate::problems::ConvexProblem;
use crate::theory::RunTheory;
use crate::train::train;

pub struct Options {
    pub out: PathBuf,
    pub jobs: usize,
    pub progress: ProgressMode,
    /// Print nothing but errors.
    pub quiet: bool,
}

/// What happened to one sweep.
pub struct SweepReport {
    pub name: String,
    pub dir: PathBuf,
    pub total: usize,
    pub skipped: usize,
    pub ran: usize,
    pub failed: usize,
    pub groups: Vec<summary::Group>,
    pub warnings: Vec<String>,
    /// The summary files could not be rebuilt (e.g. disk full); the runs are on disk.
    pub summary_error: Option<String>,
}

/// A folder for the sweep that we can write to; leftovers of interrupted runs removed.
fn prepare_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create output folder: {e}", dir.display()))?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| format!("{}: output folder is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    // Temporary run folders are named .tmp-<pid>-<run id>; remove those whose process is
    // gone (an interrupted sweep), never those of a sweep still writing here.
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read output folder: {e}", dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix(".tmp-").and_then(|r| r.split_once('-')).and_then(|(p, _)| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !process_alive(pid) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(())
}

/// Whether a process exists (Linux /proc; elsewhere assume it does, and leave its files).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// A run folder counts as finished when the summary can read it and its status says so:
/// `run` and `summarize` agree on what is done, and a damaged folder is redone.
pub fn is_finished(run_dir: &Path) -> bool {
    run_dir.is_dir() && summary::read_run(run_dir).is_ok_and(|r| r.status.finished)
}

/// Write a run folder under a temporary name and rename it into place; on failure the
/// temporary folder is removed.
fn write_run(
    dir: &Path,
    spec: &RunSpec,
    metrics: &str,
    files: &[(&str, String)],
    status: &RunStatus,
) -> std::io::Result<()> {
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), spec.id));
    let result = (|| {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir(&tmp)?;
        std::fs::write(tmp.join(CONFIG_FILE), spec.to_toml())?;
        std::fs::write(tmp.join(METRICS_FILE), metrics)?;
        for (name, text) in files {
            std::fs::write(tmp.join(name), text)?;
        }
        // The status goes last and atomically: it is what marks the folder complete.
        write_atomic(&tmp.join(STATUS_FILE), status.to_toml().as_bytes())?;
        let fin = dir.join(&spec.id);
        if fin.exists() {
            std::fs::remove_dir_all(&fin)?;
        }
        match std::fs::rename(&tmp, &fin) {
            // Another process finished the same run in between: its result is as good.
            Err(_) if is_finished(&fin) => std::fs::remove_dir_all(&tmp),
            r => r,
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// What runs share: a convex problem instance, or a loaded data set.
enum Instance {
    Convex(ConvexProblem),
    Data(NetData),
}

type Instances = HashMap<String, Result<Arc<Instance>, String>>;

fn instance_key(r: &RunSpec) -> String {
    match &r.problem {
        ProblemSpec::Convex(c) => format!("{:016x}|{:?}|{:?}|{}", r.seeds.data, c.loss, c.data, c.lambda),
        ProblemSpec::Toy(_) => String::new(),
        ProblemSpec::Net(n) => format!("{:?}|{}|{:?}|{:?}", n.dataset, n.data_dir.display(), n.train_size, n.test_size),
    }
}

/// One run: its metrics.csv text, the other files of its folder, and its status.
fn execute(spec: &RunSpec, problems: &Instances, par: Parallelism) -> (String, Vec<(&'static str, String)>, RunStatus) {
    let failed = |reason: String| RunStatus { finished: false, reason, wall_s: 0.0, last_change_step: 0 };
    match &spec.problem {
        ProblemSpec::Toy(t) => {
            let out = crate::toy::run::execute(spec, t);
            let finite = out.rows.iter().all(|r| r.loss.is_finite());
            let status = if finite {
                RunStatus { finished: true, reason: String::new(), wall_s: 0.0, last_change_step: 0 }
            } else {
                failed("non-finite F on the toy".into())
            };
            (metrics_csv(&out.rows), out.files, status)
        }
        ProblemSpec::Net(n) => match problems[instance_key(spec).as_str()].as_deref() {
            Ok(Instance::Data(d)) => {
                let out = crate::nets::train::train(spec, n, d, par);
                let status = RunStatus {
                    finished: out.failure.is_none(),
                    reason: out.failure.unwrap_or_default(),
                    wall_s: 0.0,
                    last_change_step: 0,
                };
                (out.metrics, vec![(crate::nets::train::LAYERS_FILE, out.layers)], status)
            }
            Ok(Instance::Convex(_)) => unreachable!("keys of networks and convex problems differ"),
            Err(e) => (String::new(), Vec::new(), failed(format!("data: {e}"))),
        },
        ProblemSpec::Convex(_) => match problems[instance_key(spec).as_str()].as_deref() {
            Ok(Instance::Data(_)) => unreachable!("keys of networks and convex problems differ"),
            Ok(Instance::Convex(p)) => {
                let mut out = train(spec, p);
                let mut files = Vec::new();
                if out.failure.is_none() {
                    let th = RunTheory::analyse(spec, p, &out.rows, &out.weights.deployed, &out.measured);
                    for r in out.rows.iter_mut() {
                        r.bound = th.bound_at(r.step);
                    }
                    files.push((THEORY_FILE, th.to_toml()));
                }
                let status = RunStatus {
                    finished: out.failure.is_none(),
                    reason: out.failure.unwrap_or_default(),
                    wall_s: 0.0,
                    last_change_step: out.last_change,
                };
                (metrics_csv(&out.rows), files, status)
            }
            Err(e) => (metrics_csv(&[]), Vec::new(), failed(format!("problem: {e}"))),
        },
    }
}

/// Run every sweep; all runs of all sweeps share one pool. Failed runs are counted in
/// the reports, not returned as an error: the sweep goes on around them.
pub fn run(sweeps: &[Sweep], opts: &Options) -> Result<Vec<SweepReport>, Error> {
    let mut names = HashMap::new();
    for s in sweeps {
        if let Some(other) = names.insert(s.def.name.clone(), s.def.source.clone()) {
            return Err(Error::input(format!(
                "{} and {other} both name the sweep {:?}; results would mix (rename one)",
                s.def.source, s.def.name
            )));
        }
    }
    let dirs: Vec<PathBuf> = sweeps.iter().map(|s| opts.out.join(&s.def.name)).collect();
    let mut errs = Vec::new();
    // Networks need their data on disk: say which file is missing before anything runs.
    for s in sweeps {
        for r in &s.runs {
            if let ProblemSpec::Net(n) = &r.problem {
                for split in [crate::data::dataset::Split::Train, crate::data::dataset::Split::Test] {
                    for f in n.dataset.files(&n.data_dir, split) {
                        if let Err(e) = crate::data::idx::locate(&f) {
                            let msg = format!("{}: problem.dataset = {:?}: {e}", s.def.source, n.dataset.as_str());
                            if !errs.contains(&msg) {
                                errs.push(msg);
                            }
                        }
                    }
                }
            }
        }
    }
    if !errs.is_empty() {
        return Err(Error::Input(errs));
    }
    for d in &dirs {
        if let Err(e) = prepare_dir(d) {
            errs.push(e);
        }
    }
    if !errs.is_empty() {
        return Err(Error::Input(errs));
    }

    // (sweep index, run) for every run not already finished on disk.
    let mut todo: Vec<(usize, &RunSpec)> = Vec::new();
    let mut skipped = vec![0usize; sweeps.len()];
    for (i, s) in sweeps.iter().enumerate() {
        for r in &s.runs {
            if is_finished(&dirs[i].join(&r.id)) {
                skipped[i] += 1;
            } else {
                todo.push((i, r));
            }
        }
        if opts.quiet {
            continue;
        }
        println!(
            "{}: {} runs -> {}{}",
            s.def.name,
            s.runs.len(),
            dirs[i].display(),
            if skipped[i] > 0 { format!(" ({} already finished, skipped)", skipped[i]) } else { String::new() }
        );
    }

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs)
        .build()
        .map_err(|e| Error::input(format!("--jobs {}: cannot start the thread pool: {e}", opts.jobs)))?;

    // Each problem instance (data set + optimum) is built once and shared.
    let mut keys: Vec<&RunSpec> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (_, r) in todo.iter().filter(|(_, r)| !matches!(r.problem, ProblemSpec::Toy(_))) {
        if seen.insert(instance_key(r)) {
            keys.push(r);
        }
    }
    tracing::debug!(instances = keys.len(), runs = todo.len(), "building problem instances");
    // The exact solve and eigenvalues are O(d^3): say so before a silent wait.
    if !opts.quiet && keys.iter().any(|r| matches!(&r.problem, ProblemSpec::Convex(c) if c.data.dim >= 500)) {
        eprintln!("building {} problem instance(s) (exact optimum and Hessian eigenvalues)...", keys.len());
    }
    let problems: Instances = pool.install(|| {
        keys.par_iter()
            .map(|r| {
                let inst = match &r.problem {
                    ProblemSpec::Net(n) => crate::nets::train::load(n).map(Instance::Data),
                    _ => crate::problems::build(r.convex(), r.seeds.data).map(Instance::Convex),
                };
                (instance_key(r), inst.map(Arc::new))
            })
            .collect()
    });

    let progress = Progress::new(opts.progress, todo.len() as u64);
    // Fewer runs than threads: let each network's GEMMs use the pool (they nest in it);
    // otherwise one run per thread, single-threaded GEMMs.
    let par = if todo.len() < opts.jobs { Parallelism::Rayon(0) } else { Parallelism::None };
    // A network run alone in a pool of several threads keeps the other workers spinning
    // between its fork-joins (see warm.rs); other runs leave them free to sleep.
    let spin = |spec: &RunSpec| todo.len() == 1 && opts.jobs > 1 && matches!(spec.problem, ProblemSpec::Net(_));
    let results: Vec<(usize, bool)> = pool.install(|| {
        todo.par_iter()
            .with_max_len(1)
            .map(|&(i, spec)| {
                let start = Instant::now();
                let (metrics, files, mut status) = if spin(spec) {
                    warm::with_spinning_pool(|| execute(spec, &problems, par))
                } else {
                    execute(spec, &problems, par)
                };
                status.wall_s = start.elapsed().as_secs_f64();
                let mut ok = status.finished;
                if !ok {
                    tracing::warn!(run = %spec.id, reason = %status.reason, "run failed");
                }
                if let Err(e) = write_run(&dirs[i], spec, &metrics, &files, &status) {
                    tracing::error!(run = %spec.id, "cannot write run folder: {e}");
                    ok = false;
                }
                progress.inc(!ok);
                (i, ok)
            })
            .collect()
    });
    progress.finish();

    let mut reports = Vec::new();
    for (i, s) in sweeps.iter().enumerate() {
        let (ran, failed) =
            results.iter().filter(|(j, _)| *j == i).fold((0, 0), |(r, f), (_, ok)| (r + 1, f + !ok as usize));
        let (groups, warnings, summary_error) = match summary::rebuild(&dirs[i]) {
            Ok((g, w)) => (g, w, None),
            Err(e) => (Vec::new(), Vec::new(), Some(e)),
        };
        reports.push(SweepReport {
            name: s.def.name.clone(),
            dir: dirs[i].clone(),
            total: s.runs.len(),
            skipped: skipped[i],
            ran,
            failed,
            groups,
            warnings,
            summary_error,
        });
    }
    Ok(reports)
}

/// The closing lines of a sweep: where the results are and the floor table.
pub fn print_report(r: &SweepReport) {
    for w in &r.warnings {
        tracing::warn!("{w}");
    }
    println!(
        "\n{}: {} runs ({} ran, {} skipped, {} failed); results in {}",
        r.name,
        r.total,
        r.ran,
        r.skipped,
        r.failed,
        r.dir.display()
    );
    if let Some(e) = &r.summary_error {
        eprintln!("error: {e}");
        return;
    }
    println!("per configuration, mean ± 95% CI over seeds (convex: tail-mean gap F - F*):");
    print!("{}", crate::output::table::floor_table(&r.groups));
}
