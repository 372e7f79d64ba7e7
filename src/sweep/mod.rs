//! The sweep engine: check every run before anything runs (preflight, costs, limits), pick
//! this invocation's shard, skip finished runs, claim the rest one by one, build each
//! shared instance once, run on a rayon pool of `--jobs` threads, write each run folder
//! atomically, then rebuild runs.csv and summary.csv from disk. It knows problem families
//! only through [`crate::family::Family`].
//!
//! Results never depend on the thread count: every run's randomness comes from its own
//! seeds (see `config::Seeds`), and a run's threaded passes give the bits of its serial ones.

mod folder;
mod limits;
pub mod provenance;
pub mod signals;
mod warm;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

pub use folder::{is_finished, Claims, Owner, STALE_AFTER};
pub use signals::Stop;
pub use warm::with_spinning_pool;

use crate::config::{RunSpec, Sweep};
use crate::error::Error;
use crate::family::{self, Cost, Family, Instance, Outcome, RunContext, RunFiles};
use crate::nets::Parallelism;
use crate::output::progress::{Progress, ProgressMode};
use crate::output::summary::{self, RunStatus};
use folder::{Claim, SweepFolder};

pub struct Options {
    pub out: PathBuf,
    pub jobs: usize,
    pub progress: ProgressMode,
    /// Print nothing but errors.
    pub quiet: bool,
    /// Run only shard I of N (1-based).
    pub shard: Option<(usize, usize)>,
    /// Run past the cost limits.
    pub force: bool,
    /// Run the runs that pass the preflight checks; report the rest.
    pub keep_going: bool,
}

impl Options {
    pub fn new(out: PathBuf, jobs: usize) -> Options {
        Options { out, jobs, progress: ProgressMode::None, quiet: true, shard: None, force: false, keep_going: false }
    }
}

/// What happened to one sweep.
pub struct SweepReport {
    pub name: String,
    pub dir: PathBuf,
    /// Runs of this invocation's share of the sweep.
    pub total: usize,
    /// Finished before this invocation got to them.
    pub skipped: usize,
    pub ran: usize,
    pub failed: usize,
    /// Being computed by another invocation, or finished by one since this invocation
    /// looked: the "left to other invocations" of the report.
    pub held: usize,
    /// Not run: interrupted before they started, or abandoned while running.
    pub not_run: usize,
    pub groups: Vec<summary::Group>,
    pub warnings: Vec<String>,
    /// The summary files could not be rebuilt (e.g. disk full); the runs are on disk.
    pub summary_error: Option<String>,
}

/// A run this invocation may compute, with its place.
struct Todo<'a> {
    sweep: usize,
    spec: &'a RunSpec,
    family: &'static dyn Family,
}

/// The runs of a sweep that shard `i` of `n` takes: the runs sorted by estimated work,
/// each given to the shard with the least work so far (ties: the lowest shard, then plan
/// order). Every shard computes the same assignment from the same plan.
pub fn shard_of(costs: &[f64], i: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    let mut load = vec![0.0f64; n];
    let mut mine = Vec::new();
    for k in order {
        let s = (0..n).min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b))).expect("n >= 1");
        load[s] += costs[k].max(1.0);
        if s == i - 1 {
            mine.push(k);
        }
    }
    mine.sort_unstable();
    mine
}

/// What a `run` did: a report per sweep that ran, and how many runs `--keep-going` left
/// out because they failed the preflight checks.
pub struct RunOutcome {
    pub reports: Vec<SweepReport>,
    pub left_out: usize,
}

/// Per sweep, the runs that passed the preflight and their cost.
pub type Planned<'a> = Vec<Vec<(&'a RunSpec, Cost)>>;

/// The checks made before anything is written, shared by `run` and `slurm`: distinct sweep
/// names (else an error), then every run's preflight. Returns the runs that pass, with
/// their cost, per sweep, and one message per problem (a problem that several configs
/// share, such as missing data, is said once, naming them all).
pub fn preflight(sweeps: &[Sweep]) -> Result<(Planned<'_>, Vec<String>), Error> {
    let mut names = HashMap::new();
    for s in sweeps {
        if let Some(other) = names.insert(s.def.name.clone(), s.def.source.clone()) {
            return Err(Error::input(format!(
                "{} and {other} both name the sweep {:?}; results would mix (rename one)",
                s.def.source, s.def.name
            )));
        }
    }
    let mut problems: Vec<(String, Vec<&str>)> = Vec::new();
    let mut planned: Planned = Vec::new();
    for s in sweeps {
        let mut ok = Vec::new();
        for r in &s.runs {
            match family::of(&r.problem).preflight(r) {
                Ok(c) => ok.push((r, c)),
                Err(e) => match problems.iter_mut().find(|(m, _)| *m == e) {
                    Some((_, srcs)) if !srcs.contains(&s.def.source.as_str()) => srcs.push(&s.def.source),
                    Some(_) => {}
                    None => problems.push((e, vec![&s.def.source])),
                },
            }
        }
        planned.push(ok);
    }
    let errors = problems.iter().map(|(m, srcs)| format!("{}: {m}", srcs.join(", "))).collect();
    Ok((planned, errors))
}

/// Run every sweep; all runs of all sweeps share one pool. Failed runs are counted in
/// the reports, not returned as an error: the sweep goes on around them.
pub fn run(sweeps: &[Sweep], opts: &Options, stop: &Stop) -> Result<RunOutcome, Error> {
    let (planned, mut errors) = preflight(sweeps)?;
    if !errors.is_empty() {
        if !opts.keep_going {
            let passing: usize = planned.iter().map(Vec::len).sum();
            if passing > 0 {
                errors.push(format!(
                    "{passing} other runs pass these checks: --keep-going runs them and reports the rest"
                ));
            }
            return Err(Error::Input(errors));
        }
        for e in &errors {
            tracing::warn!("skipped: {e}");
        }
    }
    let left_out: usize =
        sweeps.iter().map(|s| s.runs.len()).sum::<usize>() - planned.iter().map(Vec::len).sum::<usize>();
    // Sweeps none of whose runs passed the checks (with --keep-going) are left out.
    let (sweeps, mut planned): (Vec<&Sweep>, Vec<_>) =
        sweeps.iter().zip(planned).filter(|(s, p)| !p.is_empty() || s.runs.is_empty() || errors.is_empty()).unzip();

    // This invocation's share.
    for p in planned.iter_mut() {
        if let Some((i, n)) = opts.shard {
            let costs: Vec<f64> = p.iter().map(|(_, c)| c.work).collect();
            let mine = shard_of(&costs, i, n);
            *p = mine.into_iter().map(|k| p[k]).collect();
        }
    }
    limits::check(&planned, opts)?;

    let owner = Owner::new();
    let claims = Claims::new(&owner);
    let mut folders = Vec::new();
    for s in &sweeps {
        folders.push(SweepFolder::prepare(opts.out.join(&s.def.name), &owner, &claims).map_err(Error::input)?);
    }
    let dirs: Vec<(PathBuf, usize)> = folders.iter().zip(&sweeps).map(|(f, s)| (f.dir.clone(), s.runs.len())).collect();
    provenance::record(&dirs, &owner, opts);

    // Runs not finished on disk yet.
    let mut todo: Vec<Todo> = Vec::new();
    let mut skipped = vec![0usize; sweeps.len()];
    for (i, p) in planned.iter().enumerate() {
        for (r, _) in p {
            let dir = folders[i].dir.join(&r.id);
            let done = summary::read_run(&dir).ok().filter(|rec| rec.status.finished);
            if let Some(rec) = done {
                // Post-processing settings (the tail) may have changed: the summary will
                // read the run's own config.toml, so it gets this sweep's.
                if rec.spec.tail != r.tail {
                    let path = dir.join(summary::CONFIG_FILE);
                    crate::output::write_atomic(&path, r.to_toml().as_bytes())
                        .map_err(|e| Error::input(format!("{}: cannot update: {e}", path.display())))?;
                }
                skipped[i] += 1;
            } else {
                todo.push(Todo { sweep: i, spec: r, family: family::of(&r.problem) });
            }
        }
        if !opts.quiet {
            let s = &sweeps[i];
            let share = opts.shard.map(|(a, b)| format!(" (shard {a}/{b}: {} of them)", p.len())).unwrap_or_default();
            let done =
                if skipped[i] > 0 { format!(" ({} already finished, skipped)", skipped[i]) } else { String::new() };
            crate::output::say(format_args!(
                "{}: {} runs{share} -> {}{done}",
                s.def.name,
                s.runs.len(),
                folders[i].dir.display()
            ));
        }
    }

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if opts.jobs > cores && !opts.quiet {
        tracing::warn!("--jobs {} is more than the {cores} cores here: runs will compete for them", opts.jobs);
    }
    // More threads than runs buy nothing, except for a run that threads inside.
    let jobs = opts.jobs.min(todo.len().max(cores)).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| Error::input(format!("--jobs {jobs}: cannot start the thread pool: {e}")))?;

    // Each shared instance (a data set and its optimum, a loaded image set) is built once.
    let mut keys: Vec<(String, &Todo)> = Vec::new();
    for t in &todo {
        if let Some(k) = t.family.instance_key(t.spec) {
            if !keys.iter().any(|(q, _)| *q == k) {
                keys.push((k, t));
            }
        }
    }
    if !opts.quiet && !keys.is_empty() {
        tracing::debug!(instances = keys.len(), runs = todo.len(), "building shared instances");
    }
    let instances: HashMap<String, Result<Instance, String>> = pool.install(|| {
        keys.par_iter()
            .map(|(k, t)| (k.clone(), t.family.build(t.spec).map_err(|e| format!("{}: {e}", t.family.name()))))
            .collect()
    });

    let progress = Progress::new(opts.progress, todo.len() as u64);
    // Fewer runs than threads: let each network's GEMMs use the pool (they nest in it);
    // otherwise one run per thread, single-threaded GEMMs.
    let par = if todo.len() < jobs { Parallelism::Rayon(0) } else { Parallelism::None };
    // A run alone in a pool of several threads that threads inside keeps the other workers
    // spinning between its fork-joins (see warm.rs); other runs leave them free to sleep.
    let spin = |t: &Todo| todo.len() == 1 && jobs > 1 && t.family.threads_inside();
    let fatal: Mutex<Option<String>> = Mutex::new(None);
    let (ran, failed, held, not_run) =
        (counters(sweeps.len()), counters(sweeps.len()), counters(sweeps.len()), counters(sweeps.len()));
    pool.install(|| {
        todo.par_iter().with_max_len(1).for_each(|t| {
            let i = t.sweep;
            if stop.draining() {
                not_run[i].fetch_add(1, Ordering::Relaxed);
                return;
            }
            let folder = &folders[i];
            let claim = match folder.claim(&t.spec.id) {
                Ok(Claim::Acquired(c)) => c,
                Ok(Claim::Finished) => {
                    // Another invocation finished it since this one looked.
                    held[i].fetch_add(1, Ordering::Relaxed);
                    progress.inc(false);
                    return;
                }
                Ok(Claim::Held(who)) => {
                    tracing::debug!(run = %t.spec.id, "claimed by {who}; left to it");
                    held[i].fetch_add(1, Ordering::Relaxed);
                    progress.inc(false);
                    return;
                }
                Err(e) => {
                    stop_fatal(&fatal, stop, format!("{}: cannot claim run {}: {e}", folder.dir.display(), t.spec.id));
                    return;
                }
            };
            let instance = match t.family.instance_key(t.spec).map(|k| &instances[&k]) {
                Some(Err(e)) => Err(e.as_str()),
                Some(Ok(inst)) => Ok(Some(inst)),
                None => Ok(None),
            };
            let result = run_one(folder, t, instance, par, stop, spin(t));
            match result {
                Ok(RunDone::Written(ok)) => {
                    ran[i].fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        failed[i].fetch_add(1, Ordering::Relaxed);
                    }
                    progress.inc(!ok);
                }
                Ok(RunDone::Abandoned) => {
                    not_run[i].fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => stop_fatal(&fatal, stop, e),
            }
            folder.release(&claim);
        })
    });
    progress.finish();

    if let Some(e) = fatal.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(Error::Input(vec![
            e,
            "the sweep stopped; the runs finished so far are on disk (rerun to resume)".into(),
        ]));
    }
    let mut reports = Vec::new();
    for (i, s) in sweeps.iter().enumerate() {
        let ran_i = ran[i].load(Ordering::Relaxed);
        let (groups, warnings, summary_error) = match summary::rebuild(&folders[i].dir) {
            Ok((g, w)) => (g, w, None),
            // A shard with nothing to do in a folder nobody has written to yet.
            Err(_) if ran_i == 0 && skipped[i] == 0 => {
                (Vec::new(), vec![format!("{}: no finished runs yet; no summary written", s.def.name)], None)
            }
            Err(e) => (Vec::new(), Vec::new(), Some(e)),
        };
        let cut_short = not_run[i].load(Ordering::Relaxed) > 0;
        provenance::finish(&folders[i].dir, &owner.token, ran_i, failed[i].load(Ordering::Relaxed), cut_short);
        reports.push(SweepReport {
            name: s.def.name.clone(),
            dir: folders[i].dir.clone(),
            total: planned[i].len(),
            skipped: skipped[i],
            ran: ran_i,
            failed: failed[i].load(Ordering::Relaxed),
            held: held[i].load(Ordering::Relaxed),
            not_run: not_run[i].load(Ordering::Relaxed),
            groups,
            warnings,
            summary_error,
        });
    }
    Ok(RunOutcome { reports, left_out })
}

fn counters(n: usize) -> Vec<AtomicUsize> {
    (0..n).map(|_| AtomicUsize::new(0)).collect()
}

/// Stop the sweep on an error that ends it (a write that failed); the error itself is the
/// invocation's closing message, so only the stop is said now.
fn stop_fatal(fatal: &Mutex<Option<String>>, stop: &Stop, msg: String) {
    let mut f = fatal.lock().unwrap_or_else(|e| e.into_inner());
    if f.is_none() {
        tracing::warn!("stopping after an error (said at the end); no new runs start");
        *f = Some(msg);
    }
    stop.request(true);
}

enum RunDone {
    /// The run folder is in place; `true` if the run finished (not failed).
    Written(bool),
    Abandoned,
}

/// Compute one claimed run into a temporary folder and commit it. An `Err` is a write
/// failure that must stop the sweep.
fn run_one(
    folder: &SweepFolder,
    t: &Todo,
    instance: Result<Option<&Instance>, &str>,
    par: Parallelism,
    stop: &Stop,
    spin: bool,
) -> Result<RunDone, String> {
    let spec = t.spec;
    let where_ = |e: std::io::Error| format!("{}: cannot write run {}: {e}", folder.dir.display(), spec.id);
    let tmp = folder.temp_dir(&spec.id).map_err(where_)?;
    let files = RunFiles::new(tmp.clone());
    let start = Instant::now();
    tracing::debug!(run = %spec.id, "started");
    let ctx = RunContext { files: &files, par, abandon: &stop.abandon };
    let go =
        || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.family.run(spec, instance.ok().flatten(), &ctx)));
    let result = match instance {
        // Its data set or problem could not be built: the run fails with that reason.
        Err(e) => Ok(Ok(family::RunEnd::of(Some(e.to_string())))),
        Ok(_) if spin => warm::with_spinning_pool(go),
        Ok(_) => go(),
    };
    let end = match result {
        Ok(Ok(end)) => end,
        Ok(Err(e)) => {
            folder.abandon(&tmp);
            return Err(where_(e));
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            family::RunEnd::of(Some(format!("panicked: {msg} (a bug: please report it with this run's config.toml)")))
        }
    };
    let (finished, reason) = match end.outcome {
        Outcome::Finished => (true, String::new()),
        Outcome::Failed(r) => (false, r),
        Outcome::Abandoned => {
            folder.abandon(&tmp);
            tracing::debug!(run = %spec.id, "abandoned (interrupted)");
            return Ok(RunDone::Abandoned);
        }
    };
    let status =
        RunStatus { finished, reason, wall_s: start.elapsed().as_secs_f64(), last_change_step: end.last_change_step };
    if finished {
        tracing::debug!(run = %spec.id, "finished in {:.2} s: {}", status.wall_s, end.headline);
    } else {
        tracing::warn!(run = %spec.id, reason = %status.reason, "run failed");
    }
    folder.commit(&tmp, spec, &status).map_err(where_)?;
    Ok(RunDone::Written(finished))
}

/// The closing lines of a sweep: where the results are and the table.
pub fn print_report(r: &SweepReport) {
    for w in &r.warnings {
        tracing::warn!("{w}");
    }
    let mut extra = String::new();
    if r.held > 0 {
        extra.push_str(&format!(", {} left to other invocations", r.held));
    }
    if r.not_run > 0 {
        extra.push_str(&format!(", {} not run (interrupted)", r.not_run));
    }
    crate::output::say(format_args!(
        "\n{}: {} runs ({} ran, {} skipped, {} failed{extra}); results in {}",
        r.name,
        r.total,
        r.ran,
        r.skipped,
        r.failed,
        r.dir.display()
    ));
    if let Some(e) = &r.summary_error {
        eprintln!("error: {e}");
        return;
    }
    if !r.groups.is_empty() {
        crate::output::say(format_args!("{}", crate::output::table::floor_table(&r.groups).trim_end()));
    }
}

/// Whether a sweep was interrupted, for the exit status: a signal came and some of this
/// invocation's runs were not run because of it. A signal after which every run still
/// finished (the last ones ended within the grace period) leaves nothing to resume: the
/// invocation ends with its normal exit code.
pub fn interrupted(reports: &[SweepReport], stop: &Stop) -> Option<Error> {
    if !stop.draining() || reports.iter().all(|r| r.not_run == 0) {
        return None;
    }
    let total = reports.iter().map(|r| r.total).sum();
    let finished = reports.iter().map(|r| r.skipped + r.ran - r.failed).sum();
    Some(Error::Interrupted { finished, total })
}
