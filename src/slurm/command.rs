//! `qnet-exp slurm`: check the sweeps as `run` would, write the two sbatch scripts of
//! [`super::render_array`] and [`super::render_summarize`], and with `--submit` submit them.
//!
//! - **One array for all the configs.** Every task runs `qnet-exp run` on every config given
//!   (each sweep is split into the N shards separately), so several configs make one array
//!   job and one summarize job. The scripts and the job logs go to one folder,
//!   `OUT/<sweep of the first config>/slurm/` (`array.sbatch`, `summarize.sbatch`, `logs/`).
//! - **Array size.** Default: the number of runs, at most [`DEFAULT_MAX_ARRAY`]; never more
//!   than the runs of the largest sweep, since a shard beyond that would get no run of any
//!   sweep (see [`crate::sweep::shard_of`]).
//! - **Paths.** The configs, OUT and the qnet-exp binary are written as absolute paths: a job
//!   does not necessarily start in the submission folder, and OUT must be on a file system
//!   that every compute node sees.
//! - **Submission.** Without `--submit`, the scripts are written and the sbatch commands
//!   printed; `--submit` runs `sbatch --parsable` on the array script, then renders the
//!   summarize script with the array's job id (`--dependency=afterany:<id>`) and submits it.
//!   `--dry-run` prints the scripts and writes nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{render_array, render_summarize, shell_quote, time_limit_secs, SlurmJob, DEFAULT_TERM_BEFORE_END_S};
use crate::cli::SlurmArgs;
use crate::config::Sweep;
use crate::error::Error;
use crate::output::say;

/// The folder, inside the first sweep's folder, that holds the scripts and the logs (the
/// summary knows it is no run folder).
pub const SCRIPTS_DIR: &str = crate::output::summary::SCRIPTS_DIR;
pub const ARRAY_FILE: &str = "array.sbatch";
pub const SUMMARIZE_FILE: &str = "summarize.sbatch";
pub const LOGS_DIR: &str = "logs";
/// The default array size is the number of runs, at most this: each task pays for its
/// scheduling and builds the shared problem instances of its runs again, most clusters limit
/// the jobs a user may have queued (and `MaxArraySize`, 1001 by default), and beyond a few
/// dozen tasks a sweep is limited by the cluster's free CPUs rather than by the shards.
pub const DEFAULT_MAX_ARRAY: u32 = 64;

/// Where `qnet-exp slurm` puts the scripts of these sweeps under `out`.
pub fn scripts_dir(out: &Path, sweeps: &[Sweep]) -> PathBuf {
    out.join(sweeps.first().map(|s| s.def.name.as_str()).unwrap_or("sweep")).join(SCRIPTS_DIR)
}

/// The array size for these sweeps: `asked` (or the default), never more than the runs of
/// the largest sweep. The second value is true when `asked` was cut down.
pub fn array_size(sweeps: &[Sweep], asked: Option<u32>) -> (u32, bool) {
    let largest = sweeps.iter().map(|s| s.runs.len()).max().unwrap_or(0).clamp(1, u32::MAX as usize) as u32;
    match asked {
        Some(n) => (n.min(largest), n > largest),
        None => (largest.min(DEFAULT_MAX_ARRAY), false),
    }
}

fn absolute(what: &str, p: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(p).map_err(|e| Error::input(format!("{what} {}: cannot make it absolute: {e}", p.display())))
}

/// The job these arguments describe (scripts not rendered yet).
fn job_of(sweeps: &[Sweep], args: &SlurmArgs, size: u32) -> Result<SlurmJob, Error> {
    let qnet = std::env::current_exe()
        .map_err(|e| Error::input(format!("cannot find the path of the qnet-exp binary: {e}")))?;
    let configs = args.sweep.configs.iter().map(|c| absolute("config", c)).collect::<Result<Vec<_>, _>>()?;
    let out = absolute("output folder", &args.out)?;
    let names = sweeps.iter().map(|s| s.def.name.clone()).collect();
    let logs = scripts_dir(&out, sweeps).join(LOGS_DIR);
    let mut job = SlurmJob::new(qnet, configs, out, names, size, logs);
    job.sets = args.sweep.set.clone();
    if let Some(n) = args.sweep.seeds {
        job.sets.push(format!("run.seeds={n}"));
    }
    job.unsets = args.sweep.unset.clone();
    job.partition = args.partition.clone();
    job.time = args.time.clone();
    job.cpus_per_task = args.cpus_per_task;
    job.mem = args.mem.clone();
    // SIGTERM before the time limit, so that a task stops cleanly (runs finish or are
    // abandoned, claims released); at most half the limit. No limit given: no signal.
    job.term_before_end_s = args
        .time
        .as_deref()
        .and_then(time_limit_secs)
        .filter(|&s| s > 0)
        .map(|s| DEFAULT_TERM_BEFORE_END_S.min((s / 2) as u32).max(1));
    Ok(job)
}

/// `sbatch` on PATH, if any.
fn find_sbatch() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("sbatch"))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Submit a script with `sbatch --parsable`: its job id.
fn sbatch(sbatch: &Path, script: &Path) -> Result<u64, Error> {
    let o = Command::new(sbatch)
        .arg("--parsable")
        .arg(script)
        .output()
        .map_err(|e| Error::input(format!("{}: cannot run it: {e}", sbatch.display())))?;
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    if !o.status.success() {
        let mut lines = vec![format!(
            "sbatch {} failed ({}){}",
            script.display(),
            o.status,
            if stderr.trim().is_empty() { "" } else { ":" }
        )];
        lines.extend(stderr.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("  {l}")));
        return Err(Error::Input(lines));
    }
    super::parse_job_id(&stdout).ok_or_else(|| {
        Error::input(format!(
            "sbatch {}: no job id in its output {:?} (stderr: {:?})",
            script.display(),
            stdout.trim(),
            stderr.trim()
        ))
    })
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    crate::output::write_atomic(path, text.as_bytes())
        .map_err(|e| Error::input(format!("{}: cannot write: {e}", path.display())))
}

/// `qnet-exp slurm`: the sweeps are loaded and validated already (as for `run`).
pub fn run(sweeps: &[Sweep], args: &SlurmArgs, quiet: bool) -> Result<(), Error> {
    // The checks `run` makes before it writes anything, with the same messages.
    let (_, errors) = crate::sweep::preflight(sweeps)?;
    if !errors.is_empty() {
        return Err(Error::Input(errors));
    }
    let (size, cut) = array_size(sweeps, args.array_size);
    let job = job_of(sweeps, args, size)?;
    let array = render_array(&job).map_err(Error::Input)?;
    let summarize = render_summarize(&job, None).map_err(Error::Input)?;
    let dir = scripts_dir(&job.out, sweeps);
    let (array_path, summarize_path) = (dir.join(ARRAY_FILE), dir.join(SUMMARIZE_FILE));
    let runs: usize = sweeps.iter().map(|s| s.runs.len()).sum();
    let names: Vec<&str> = sweeps.iter().map(|s| s.def.name.as_str()).collect();
    let note = |line: std::fmt::Arguments| {
        if !quiet {
            say(line);
        }
    };

    if args.dry_run {
        say(format_args!("# ==> {} (dry run: not written) <==\n{array}", array_path.display()));
        say(format_args!("# ==> {} (dry run: not written) <==\n{summarize}", summarize_path.display()));
        return Ok(());
    }
    let sbatch_bin = if args.submit {
        Some(find_sbatch().ok_or_else(|| {
            Error::Input(vec![
                "sbatch: not found on PATH (is this a Slurm login node?)".into(),
                "without --submit, qnet-exp slurm only writes the scripts, for you to submit where sbatch is".into(),
            ])
        })?)
    } else {
        None
    };

    std::fs::create_dir_all(&job.log_dir)
        .map_err(|e| Error::input(format!("{}: cannot create the log folder: {e}", job.log_dir.display())))?;
    write(&array_path, &array)?;
    let per_task = if args.cpus_per_task == 1 { "1 CPU".to_string() } else { format!("{} CPUs", args.cpus_per_task) };
    if cut {
        note(format_args!(
            "--array-size {} is more than the largest sweep's {size} runs: {size} tasks",
            args.array_size.unwrap_or(size)
        ));
    }
    note(format_args!(
        "{}: {runs} runs in {size} array tasks of {per_task} -> {}",
        names.join(", "),
        job.out.display()
    ));
    let Some(sbatch_bin) = sbatch_bin else {
        write(&summarize_path, &summarize)?;
        note(format_args!("wrote {}", array_path.display()));
        note(format_args!("wrote {} (runs once every array task has ended)", summarize_path.display()));
        note(format_args!("submit both (or rerun this command with --submit):"));
        note(format_args!(
            "  jid=$(sbatch --parsable {}) && sbatch --dependency=afterany:${{jid%%;*}} --kill-on-invalid-dep=yes {}",
            shell_quote(&array_path.display().to_string()),
            shell_quote(&summarize_path.display().to_string())
        ));
        return Ok(());
    };

    let array_id = sbatch(&sbatch_bin, &array_path)?;
    note(format_args!("submitted array job {array_id} ({size} tasks): {}", array_path.display()));
    let summarize = render_summarize(&job, Some(array_id)).map_err(Error::Input)?;
    let submitted = write(&summarize_path, &summarize).and_then(|_| sbatch(&sbatch_bin, &summarize_path));
    let summarize_id = submitted.map_err(|e| {
        let Error::Input(mut lines) = e else { return e };
        lines.push(format!(
            "array job {array_id} is submitted; summarize when it is over with `{} summarize OUT/<sweep>`, \
             or cancel it with `scancel {array_id}`",
            job.qnet.display()
        ));
        Error::Input(lines)
    })?;
    note(format_args!(
        "submitted summarize job {summarize_id} (after every task of {array_id}): {}",
        summarize_path.display()
    ));
    note(format_args!("logs in {}; follow with: squeue -j {array_id},{summarize_id}", job.log_dir.display()));
    Ok(())
}
