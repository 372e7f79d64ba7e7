//! The sbatch scripts of `qnet-exp slurm`: text only (no files, no processes).
//!
//! A sweep goes onto Slurm as two jobs:
//!
//! 1. an **array job** of N tasks (`#SBATCH --array=0-(N-1)`); task k runs
//!    `qnet-exp run CONFIG... --out OUT --shard (k+1)/N --jobs $SLURM_CPUS_PER_TASK -q`,
//!    so the N tasks split the expanded sweep between them and write into one shared OUT;
//! 2. a **summarize job** that waits for every task of the array
//!    (`--dependency=afterany:<array id>`, whatever their exit codes: a shard with failed
//!    runs still leaves the finished ones to summarize) and runs
//!    `qnet-exp summarize OUT/<sweep>` for each sweep.
//!
//! [`render_array`] and [`render_summarize`] return the two scripts; the caller writes them,
//! submits the first with `sbatch --parsable`, reads the job id with [`parse_job_id`], then
//! renders and submits the second with that id. Every path must be absolute (a job does not
//! necessarily start in the folder it was submitted from) and valid UTF-8.
//!
//! # What a user edits
//!
//! The scripts are meant to be read and, if need be, edited before `sbatch`:
//! - the `#SBATCH` lines: `--partition`, `--time`, `--mem`, `--cpus-per-task` (each task runs
//!   that many runs at once), `--array` (keep `0-(N-1)` with N the `/N` of `--shard`, or
//!   list a subset such as `--array=2,5` to redo some shards), or site-specific ones such
//!   as `--account` or `--qos`;
//! - the `qnet-exp` line: `--set KEY=VALUE` overrides, or the binary's path.
//!
//! Nothing else needs touching: `--output` puts one log per task in the log folder
//! (`<job name>-<array job id>_<task>.out`, the summarize job's `<job name>-summarize-<job id>.out`).
//!
//! # Signals before the time limit (Slurm 22.05, checked on a real 22.05.8)
//!
//! With a time limit, the array script asks for `#SBATCH --signal=B:TERM@<secs>`: Slurm sends
//! SIGTERM to the batch shell `secs` seconds before the limit, and the script `exec`s
//! qnet-exp so that qnet-exp *is* the batch shell and gets it (and can stop cleanly before the
//! hard kill). Measured on Slurm 22.05.8:
//! - without `B:` ("all job steps but not the batch shell"), a program run in the batch
//!   script itself gets **no** early signal at all, exec'ed or not (only `srun` steps would);
//! - with `B:` and no `exec`, only the shell gets it (bash runs its trap after the program
//!   ends), the program does not;
//! - the signal is not punctual: asked for 50 s before a 60 s limit, it came 42 s before
//!   (the man page: "may be sent up to 60 seconds earlier than specified"), hence the default
//!   of 120 s; slurmstepd also writes "*** JOB n CANCELLED ***" into the log when it sends it,
//!   although the job goes on and ends COMPLETED;
//! - at the limit itself Slurm sends SIGTERM to everything, then SIGKILL after `KillWait`.
//!
//! # Quoting
//!
//! Arguments on the script's command lines are quoted for the shell by [`shell_quote`];
//! values of `#SBATCH` lines by [`sbatch_quote`] (sbatch's own parser: double quotes with
//! `\"` and `\\`, an unquoted `#` starts a comment; no newlines). In `--output`, `%` is
//! doubled (Slurm's file name patterns) and a backslash is refused (it turns the patterns off).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub mod command;

/// Everything the two scripts depend on.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmJob {
    /// The qnet-exp binary the jobs run (absolute).
    pub qnet: PathBuf,
    /// The config files, as given to `qnet-exp run` (absolute).
    pub configs: Vec<PathBuf>,
    /// `--set KEY=VALUE` overrides, each as `KEY=VALUE` (`--seeds N` is `run.seeds=N`).
    pub sets: Vec<String>,
    /// `--unset KEY`: keys of the config files left out (applied before the `--set`s).
    pub unsets: Vec<String>,
    /// The shared output folder, `--out` (absolute).
    pub out: PathBuf,
    /// The sweep names the configs define: the summarize job rebuilds `out/<name>` of each.
    pub sweeps: Vec<String>,
    /// N: the array's task count and the N of `--shard I/N`.
    pub array_size: u32,
    /// `--partition`; None: the cluster's default partition.
    pub partition: Option<String>,
    /// `--time` of each array task, in Slurm's syntax (`30`, `2:00:00`, `1-12`, ...);
    /// None: the partition's default.
    pub time: Option<String>,
    /// `--cpus-per-task`, and so the `--jobs` of each task (runs in parallel).
    pub cpus_per_task: u32,
    /// `--mem` per task (`4G`, `500M`, ...); None: the cluster's default.
    pub mem: Option<String>,
    /// `--job-name` of the array (the summarize job gets `<job_name>-summarize`).
    pub job_name: String,
    /// Folder of the job logs (absolute; must exist when the jobs start: Slurm does not create it).
    pub log_dir: PathBuf,
    /// Seconds before the time limit at which each array task gets SIGTERM
    /// (`--signal=B:TERM@secs`); None: no early signal. Without `time`, Slurm counts from the
    /// partition's limit.
    pub term_before_end_s: Option<u32>,
}

/// The default of [`SlurmJob::term_before_end_s`]: Slurm's timing is coarse (up to a minute).
pub const DEFAULT_TERM_BEFORE_END_S: u32 = 120;

/// `qnet-exp run`'s default `--grace` (seconds).
const RUN_DEFAULT_GRACE_S: u32 = 30;

impl SlurmJob {
    /// A job with the defaults: 1 CPU per task, no partition, time or memory given, SIGTERM
    /// 120 s before the time limit, job name "qnet-" followed by the first sweep's name.
    pub fn new(
        qnet: PathBuf,
        configs: Vec<PathBuf>,
        out: PathBuf,
        sweeps: Vec<String>,
        array_size: u32,
        log_dir: PathBuf,
    ) -> Self {
        let job_name = format!("qnet-{}", sweeps.first().map(String::as_str).unwrap_or("sweep"));
        SlurmJob {
            qnet,
            configs,
            sets: Vec::new(),
            unsets: Vec::new(),
            out,
            sweeps,
            array_size,
            partition: None,
            time: None,
            cpus_per_task: 1,
            mem: None,
            job_name,
            log_dir,
            term_before_end_s: Some(DEFAULT_TERM_BEFORE_END_S),
        }
    }
}

/// The array job's script. Errors: every problem of the job, one line each.
pub fn render_array(job: &SlurmJob) -> Result<String, Vec<String>> {
    let mut errors = Vec::new();
    let p = Paths::check(job, &mut errors);
    let mut s = String::from("#!/bin/bash\n");
    let n = job.array_size;
    directive(&mut s, "job-name", &job.job_name, &mut errors);
    let _ = writeln!(s, "#SBATCH --array=0-{}", n.saturating_sub(1));
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", job.cpus_per_task);
    common_directives(&mut s, job, &mut errors);
    if let Some(t) = job.term_before_end_s {
        // B: the batch shell, which exec makes qnet-exp itself (see the module doc).
        let _ = writeln!(s, "#SBATCH --signal=B:TERM@{t}");
    }
    if let Some(dir) = &p.log_dir {
        directive(&mut s, "output", &format!("{dir}/%x-%A_%a.out"), &mut errors);
    }
    if n == 0 {
        errors.push("array size must be at least 1".into());
    }
    if job.cpus_per_task == 0 || job.cpus_per_task > u16::MAX as u32 {
        errors.push(format!("cpus per task must be 1..{}, not {}", u16::MAX, job.cpus_per_task));
    }
    if job.configs.is_empty() {
        errors.push("no config file: the array would run the built-in quickstart sweep".into());
    }
    for kv in &job.sets {
        if !kv.contains('=') {
            errors.push(format!("--set {kv:?}: expected KEY=VALUE"));
        }
    }
    for k in &job.unsets {
        if k.is_empty() || k.contains('=') {
            errors.push(format!("--unset {k:?}: expected a KEY"));
        }
    }
    s.push_str("set -euo pipefail\n");
    let _ = writeln!(s, "shard=$((SLURM_ARRAY_TASK_ID + 1))/{n}");
    s.push_str("jobs=${SLURM_CPUS_PER_TASK:-1}\n");
    s.push_str("echo \"qnet-exp shard $shard: job ${SLURM_JOB_ID:-?} on $(hostname) at $(date '+%F %T')\"\n");
    // exec: qnet-exp replaces the shell, so it is what --signal=B: reaches.
    let mut cmd = vec![p.qnet.clone().unwrap_or_default(), "run".into()];
    cmd.extend(p.configs.iter().cloned());
    for k in &job.unsets {
        cmd.push("--unset".into());
        cmd.push(k.clone());
    }
    for kv in &job.sets {
        cmd.push("--set".into());
        cmd.push(kv.clone());
    }
    cmd.push("--out".into());
    cmd.push(p.out.clone().unwrap_or_default());
    let mut line = String::from("exec");
    for a in &cmd {
        line.push(' ');
        line.push_str(&shell_quote(a));
    }
    line.push_str(" --shard \"$shard\" --jobs \"$jobs\"");
    // A signal less than twice `run`'s default grace (30 s) before the limit: the running
    // runs get half the lead instead, and the other half is left to write the summary and
    // exit before Slurm kills the task at the limit.
    if let Some(t) = job.term_before_end_s.filter(|&t| t < 2 * RUN_DEFAULT_GRACE_S) {
        let _ = write!(line, " --grace {}", (t / 2).max(1));
    }
    line.push_str(" -q\n");
    s.push_str(&line);
    if errors.is_empty() {
        Ok(s)
    } else {
        Err(errors)
    }
}

/// The summarize job's script: after every task of array job `array_job_id` (afterany),
/// `qnet-exp summarize OUT/<sweep>` for each sweep. Errors as [`render_array`].
///
/// Without an id (the array is not submitted yet) the script has no `--dependency` line
/// but a comment saying how to submit it: `sbatch --dependency=afterany:<id> ...`.
pub fn render_summarize(job: &SlurmJob, array_job_id: Option<u64>) -> Result<String, Vec<String>> {
    let mut errors = Vec::new();
    let p = Paths::check(job, &mut errors);
    let mut s = String::from("#!/bin/bash\n");
    directive(&mut s, "job-name", &format!("{}-summarize", job.job_name), &mut errors);
    match array_job_id {
        Some(id) => {
            let _ = writeln!(s, "#SBATCH --dependency=afterany:{id}");
            // If the array job is unknown (e.g. already purged), fail now rather than wait forever.
            s.push_str("#SBATCH --kill-on-invalid-dep=yes\n");
        }
        None => s.push_str(
            "# Submit after the array job, e.g.:\n\
             #   sbatch --dependency=afterany:ARRAY_JOB_ID --kill-on-invalid-dep=yes THIS_FILE\n",
        ),
    }
    s.push_str("#SBATCH --cpus-per-task=1\n");
    common_directives(&mut s, job, &mut errors);
    if let Some(dir) = &p.log_dir {
        directive(&mut s, "output", &format!("{dir}/%x-%j.out"), &mut errors);
    }
    if job.sweeps.is_empty() {
        errors.push("no sweep name: nothing to summarize".into());
    }
    s.push_str("set -euo pipefail\n");
    s.push_str("echo \"qnet-exp summarize: job ${SLURM_JOB_ID:-?} on $(hostname) at $(date '+%F %T')\"\n");
    let (qnet, out) = (p.qnet.unwrap_or_default(), p.out.unwrap_or_default());
    for name in &job.sweeps {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            errors.push(format!("sweep name {name:?} is not a folder name"));
        }
        let _ = writeln!(s, "{} summarize {}", shell_quote(&qnet), shell_quote(&format!("{out}/{name}")));
    }
    if errors.is_empty() {
        Ok(s)
    } else {
        Err(errors)
    }
}

/// The job id in what `sbatch --parsable` prints: `12345` or `12345;cluster`.
pub fn parse_job_id(sbatch_stdout: &str) -> Option<u64> {
    let line = sbatch_stdout.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    line.split(';').next()?.trim().parse().ok()
}

/// `s` as one word for sh/bash: unchanged when it is made only of characters that the
/// shell never treats specially (`A-Z a-z 0-9 _ - . / : = @ % + ,`), else in single quotes,
/// each `'` written `'\''`. Spaces, `$`, backquotes, `*`, newlines and so on stay literal.
pub fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `s` as the value of an `#SBATCH` line, for sbatch's parser (not the shell's): unchanged
/// when plain, else in double quotes with `\` and `"` escaped by a backslash. A newline (or
/// other control character) cannot be written there: an error.
pub fn sbatch_quote(s: &str) -> Result<String, String> {
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!("{s:?}: a {c:?} cannot go into an #SBATCH line"));
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return Ok(s.to_string());
    }
    Ok(format!("\"{}\"", s.replace('\\', r"\\").replace('"', "\\\"")))
}

fn directive(s: &mut String, key: &str, value: &str, errors: &mut Vec<String>) {
    match sbatch_quote(value) {
        Ok(v) => {
            let _ = writeln!(s, "#SBATCH --{key}={v}");
        }
        Err(e) => errors.push(format!("--{key}: {e}")),
    }
}

/// Partition, time, memory: the same for both jobs.
fn common_directives(s: &mut String, job: &SlurmJob, errors: &mut Vec<String>) {
    if let Some(p) = &job.partition {
        if p.is_empty() || p.chars().any(char::is_whitespace) {
            errors.push(format!("partition {p:?}: expected a name (or a comma-separated list)"));
        }
        directive(s, "partition", p, errors);
    }
    if let Some(t) = &job.time {
        if valid_time(t) {
            let _ = writeln!(s, "#SBATCH --time={t}");
        } else {
            errors.push(format!(
                "time limit {t:?}: expected minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED"
            ));
        }
    }
    if let Some(m) = &job.mem {
        if valid_mem(m) {
            let _ = writeln!(s, "#SBATCH --mem={m}");
        } else {
            errors.push(format!("memory {m:?}: expected a number with an optional unit K, M, G or T (e.g. 4G)"));
        }
    }
}

/// The paths as UTF-8 strings, each checked to be absolute (None where it is not).
struct Paths {
    qnet: Option<String>,
    configs: Vec<String>,
    out: Option<String>,
    /// Ready for `--output`: `%` doubled.
    log_dir: Option<String>,
}

impl Paths {
    fn check(job: &SlurmJob, errors: &mut Vec<String>) -> Paths {
        let mut abs = |what: &str, p: &Path| -> Option<String> {
            let Some(s) = p.to_str() else {
                errors.push(format!("{what} {}: not valid UTF-8", p.display()));
                return None;
            };
            if !p.is_absolute() {
                errors.push(format!("{what} {s}: must be an absolute path (a job may start in another folder)"));
                return None;
            }
            let t = s.trim_end_matches('/');
            Some(if t.is_empty() { "/".into() } else { t.to_string() })
        };
        let qnet = abs("qnet-exp binary", &job.qnet);
        let configs = job.configs.iter().filter_map(|c| abs("config", c)).collect();
        let out = abs("output folder", &job.out);
        let mut log_dir = abs("log folder", &job.log_dir);
        if let Some(d) = &log_dir {
            if d.contains('\\') {
                errors.push(format!("log folder {d}: a backslash turns off Slurm's %A/%a file name patterns"));
                log_dir = None;
            }
        }
        Paths { qnet, configs, out, log_dir: log_dir.map(|d| d.replace('%', "%%")) }
    }
}

/// Slurm's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S, or UNLIMITED/INFINITE.
fn valid_time(t: &str) -> bool {
    let t = t.trim();
    if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinite") {
        return true;
    }
    let digits = |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    if !parts.iter().all(|p| digits(p)) || days.is_some_and(|d| !digits(d)) {
        return false;
    }
    parts.len() <= 3
}

/// A valid `--time` in seconds; `None` for UNLIMITED/INFINITE (and for an invalid one).
/// Slurm reads one number as minutes, two as minutes:seconds, three as hours:minutes:seconds,
/// and with days `D-H`, `D-H:M`, `D-H:M:S`.
pub fn time_limit_secs(t: &str) -> Option<u64> {
    let t = t.trim();
    if !valid_time(t) || t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinite") {
        return None;
    }
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d.parse::<u64>().ok()?), r),
        None => (None, t),
    };
    let n: Vec<u64> = rest.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (h, m, s) = match (days.is_some(), n.as_slice()) {
        (false, [m]) => (0, *m, 0),
        (false, [m, s]) => (0, *m, *s),
        (_, [h, m, s]) => (*h, *m, *s),
        (true, [h]) => (*h, 0, 0),
        (true, [h, m]) => (*h, *m, 0),
        _ => return None,
    };
    Some(((days.unwrap_or(0) * 24 + h) * 60 + m) * 60 + s)
}

/// A size for `--mem`: digits and an optional K/M/G/T unit.
fn valid_mem(m: &str) -> bool {
    let num = m.strip_suffix(|c: char| "KMGTkmgt".contains(c)).unwrap_or(m);
    !num.is_empty() && num.len() <= 12 && num.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A POSIX shell's word splitting and quote removal, for what our scripts contain:
    /// single quotes, double quotes with `\` escapes and `$name` expansion, backslashes
    /// outside quotes. Variables come from `vars` (an unknown one is an error).
    fn sh_words(line: &str, vars: &HashMap<&str, &str>) -> Result<Vec<String>, String> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        let mut it = line.chars().peekable();
        let expand = |it: &mut std::iter::Peekable<std::str::Chars>, cur: &mut String| -> Result<(), String> {
            let mut name = String::new();
            while let Some(&c) = it.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    it.next();
                } else {
                    break;
                }
            }
            cur.push_str(vars.get(name.as_str()).ok_or(format!("unknown variable ${name}"))?);
            Ok(())
        };
        while let Some(c) = it.next() {
            match c {
                ' ' | '\t' | '\n' => {
                    if in_word {
                        words.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                }
                '\'' => {
                    in_word = true;
                    loop {
                        match it.next() {
                            Some('\'') => break,
                            Some(c) => cur.push(c),
                            None => return Err("unterminated '".into()),
                        }
                    }
                }
                '"' => {
                    in_word = true;
                    loop {
                        match it.next() {
                            Some('"') => break,
                            Some('\\') => match it.next() {
                                Some(c @ ('$' | '`' | '"' | '\\')) => cur.push(c),
                                Some('\n') => {}
                                Some(c) => {
                                    cur.push('\\');
                                    cur.push(c);
                                }
                                None => return Err("unterminated \"".into()),
                            },
                            Some('$') => expand(&mut it, &mut cur)?,
                            Some('`') => return Err("command substitution".into()),
                            Some(c) => cur.push(c),
                            None => return Err("unterminated \"".into()),
                        }
                    }
                }
                '\\' => {
                    in_word = true;
                    match it.next() {
                        Some('\n') => {}
                        Some(c) => cur.push(c),
                        None => return Err("trailing \\".into()),
                    }
                }
                '$' | '`' | '*' | '?' | '[' | '~' | '#' | ';' | '&' | '|' | '<' | '>' | '(' | ')' | '{' | '}' => {
                    return Err(format!("unquoted special character {c:?} in {line:?}"))
                }
                c => {
                    in_word = true;
                    cur.push(c);
                }
            }
        }
        if in_word {
            words.push(cur);
        }
        Ok(words)
    }

    const TRICKY: &[&str] = &[
        "",
        "plain",
        "a b",
        "  leading and trailing  ",
        "it's",
        "'",
        "''",
        "\"double\"",
        "$HOME",
        "${x:-y}",
        "$(rm -rf /)",
        "`date`",
        "a\nb",
        "line\n",
        "tab\there",
        "back\\slash",
        "\\",
        "*?[a-z]",
        "~user",
        "#comment",
        "a;b&c|d",
        "<in >out",
        "(sub)",
        "{a,b}",
        "!bang",
        "-dash-first",
        "quant.delta=[0.1, 0.05]",
        "run.name='x'",
        "é ü 漢字",
        "%A_%a",
    ];

    #[test]
    fn shell_quote_leaves_plain_words_alone() {
        assert_eq!(shell_quote("/usr/bin/qnet-exp"), "/usr/bin/qnet-exp");
        assert_eq!(shell_quote("optim.lr=0.01"), "optim.lr=0.01");
        assert_eq!(shell_quote("a,b:c@d%e+f"), "a,b:c@d%e+f");
    }

    #[test]
    fn shell_quote_quotes_everything_else() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("a\nb"), "'a\nb'");
        assert_eq!(shell_quote("quant.delta=[0.1,0.05]"), "'quant.delta=[0.1,0.05]'");
        assert_eq!(shell_quote("~"), "'~'");
    }

    #[test]
    fn shell_quote_round_trips_through_word_splitting() {
        let vars = HashMap::new();
        for s in TRICKY {
            let q = shell_quote(s);
            assert_eq!(sh_words(&q, &vars).unwrap(), vec![s.to_string()], "{s:?} quoted as {q}");
        }
        // Several quoted words on one line stay several words.
        let line: Vec<String> = TRICKY.iter().map(|s| shell_quote(s)).collect();
        let words = sh_words(&line.join(" "), &vars).unwrap();
        assert_eq!(words, TRICKY.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }

    /// sbatch's directive parser (src/sbatch/opt.c, _get_argument): `\` escapes the next
    /// character anywhere, `"` and `'` quote, an unquoted `#` ends the line, a blank ends
    /// the argument.
    fn sbatch_arg(v: &str) -> String {
        let mut out = String::new();
        let mut quote: Option<char> = None;
        let mut it = v.chars();
        while let Some(c) = it.next() {
            match (c, quote) {
                ('\\', _) => out.extend(it.next()),
                (q, Some(open)) if q == open => quote = None,
                ('"' | '\'', None) => quote = Some(c),
                ('#', None) => break,
                (c, None) if c.is_whitespace() => break,
                (c, _) => out.push(c),
            }
        }
        out
    }

    #[test]
    fn sbatch_quote_round_trips_through_sbatchs_parser() {
        for s in TRICKY.iter().filter(|s| !s.contains('\n') && !s.contains('\t')) {
            let q = sbatch_quote(s).unwrap();
            assert_eq!(sbatch_arg(&q), *s, "{s:?} quoted as {q}");
        }
        assert_eq!(sbatch_quote("qnet-e2e").unwrap(), "qnet-e2e");
        assert_eq!(sbatch_quote(r#"a "q" \e"#).unwrap(), r#""a \"q\" \\e""#);
        assert!(sbatch_quote("a\nb").unwrap_err().contains("#SBATCH"));
    }

    fn job() -> SlurmJob {
        let mut j = SlurmJob::new(
            "/opt/qnet/bin/qnet-exp".into(),
            vec!["/home/me/cfg/sweep.toml".into()],
            "/scratch/me/results".into(),
            vec!["sr-floor".into()],
            4,
            "/scratch/me/results/logs".into(),
        );
        j.sets = vec!["optim.lr=0.01".into(), "quant.delta=[0.1, 0.05]".into()];
        j
    }

    fn directives(script: &str) -> Vec<&str> {
        script.lines().filter_map(|l| l.strip_prefix("#SBATCH ")).collect()
    }

    #[test]
    fn array_script_for_the_defaults() {
        let s = render_array(&job()).unwrap();
        assert_eq!(
            s,
            r#"#!/bin/bash
#SBATCH --job-name=qnet-sr-floor
#SBATCH --array=0-3
#SBATCH --cpus-per-task=1
#SBATCH --signal=B:TERM@120
#SBATCH --output=/scratch/me/results/logs/%x-%A_%a.out
set -euo pipefail
shard=$((SLURM_ARRAY_TASK_ID + 1))/4
jobs=${SLURM_CPUS_PER_TASK:-1}
echo "qnet-exp shard $shard: job ${SLURM_JOB_ID:-?} on $(hostname) at $(date '+%F %T')"
exec /opt/qnet/bin/qnet-exp run /home/me/cfg/sweep.toml --set optim.lr=0.01 --set 'quant.delta=[0.1, 0.05]' --out /scratch/me/results --shard "$shard" --jobs "$jobs" -q
"#
        );
    }

    #[test]
    fn array_script_with_every_option() {
        let mut j = job();
        j.array_size = 16;
        j.partition = Some("short".into());
        j.time = Some("1-02:30:00".into());
        j.cpus_per_task = 8;
        j.mem = Some("16G".into());
        j.job_name = "my sweep".into();
        j.term_before_end_s = Some(300);
        let s = render_array(&j).unwrap();
        assert_eq!(
            directives(&s),
            [
                r#"--job-name="my sweep""#,
                "--array=0-15",
                "--cpus-per-task=8",
                "--partition=short",
                "--time=1-02:30:00",
                "--mem=16G",
                "--signal=B:TERM@300",
                "--output=/scratch/me/results/logs/%x-%A_%a.out",
            ]
        );
        assert!(s.contains("shard=$((SLURM_ARRAY_TASK_ID + 1))/16\n"));
        // Every #SBATCH line comes before the first command (sbatch stops reading there).
        let first_cmd = s.lines().position(|l| !l.starts_with('#')).unwrap();
        assert!(s.lines().skip(first_cmd).all(|l| !l.starts_with("#SBATCH")));
    }

    /// A short limit's signal comes less than 60 s before it: the task's runs get half of
    /// that as grace, so it exits before the limit; the default 120 s leaves the default.
    #[test]
    fn a_short_lead_shortens_the_grace() {
        let mut j = job();
        for (lead, grace) in [(15, Some("--grace 7")), (30, Some("--grace 15")), (1, Some("--grace 1")), (60, None)] {
            j.term_before_end_s = Some(lead);
            let s = render_array(&j).unwrap();
            match grace {
                Some(g) => assert!(s.contains(&format!("--jobs \"$jobs\" {g} -q\n")), "{s}"),
                None => assert!(!s.contains("--grace"), "{s}"),
            }
        }
        assert!(!render_array(&job()).unwrap().contains("--grace"));
    }

    #[test]
    fn no_signal_line_when_asked_for_none() {
        let mut j = job();
        j.term_before_end_s = None;
        assert!(!render_array(&j).unwrap().contains("--signal"));
    }

    #[test]
    fn the_exec_line_splits_into_the_intended_arguments() {
        let mut j = job();
        j.qnet = "/opt/my tools/qnet-exp".into();
        j.configs = vec!["/home/me/it's here/a b.toml".into(), "/home/me/$HOME.toml".into()];
        j.out = "/scratch/me/out dir".into();
        j.sets = TRICKY.iter().map(|s| format!("name={s}")).collect();
        let s = render_array(&j).unwrap();
        // The exec line is the script's last command; a quoted newline continues it.
        let exec = &s[s.find("\nexec ").unwrap() + 1..];
        let vars = HashMap::from([("shard", "3/4"), ("jobs", "2")]);
        let got = sh_words(exec, &vars).unwrap();
        let mut want: Vec<String> =
            ["exec", "/opt/my tools/qnet-exp", "run", "/home/me/it's here/a b.toml", "/home/me/$HOME.toml"]
                .map(String::from)
                .to_vec();
        for kv in &j.sets {
            want.push("--set".into());
            want.push(kv.clone());
        }
        want.extend(["--out", "/scratch/me/out dir", "--shard", "3/4", "--jobs", "2", "-q"].map(String::from));
        assert_eq!(got, want);
    }

    #[test]
    fn summarize_script_waits_for_the_array() {
        let mut j = job();
        j.partition = Some("short".into());
        j.time = Some("30".into());
        let s = render_summarize(&j, Some(4242)).unwrap();
        assert_eq!(
            s,
            r#"#!/bin/bash
#SBATCH --job-name=qnet-sr-floor-summarize
#SBATCH --dependency=afterany:4242
#SBATCH --kill-on-invalid-dep=yes
#SBATCH --cpus-per-task=1
#SBATCH --partition=short
#SBATCH --time=30
#SBATCH --output=/scratch/me/results/logs/%x-%j.out
set -euo pipefail
echo "qnet-exp summarize: job ${SLURM_JOB_ID:-?} on $(hostname) at $(date '+%F %T')"
/opt/qnet/bin/qnet-exp summarize /scratch/me/results/sr-floor
"#
        );
    }

    #[test]
    fn summarize_covers_every_sweep_with_quoted_paths() {
        let mut j = job();
        j.out = "/data/my results".into();
        j.sweeps = vec!["a".into(), "b c".into()];
        let s = render_summarize(&j, Some(7)).unwrap();
        let vars = HashMap::new();
        let cmds: Vec<Vec<String>> = s
            .lines()
            .filter(|l| l.contains(" summarize /") || l.contains(" summarize '"))
            .map(|l| sh_words(l, &vars).unwrap())
            .collect();
        assert_eq!(
            cmds,
            vec![
                vec!["/opt/qnet/bin/qnet-exp".to_string(), "summarize".into(), "/data/my results/a".into()],
                vec!["/opt/qnet/bin/qnet-exp".to_string(), "summarize".into(), "/data/my results/b c".into()],
            ]
        );
    }

    #[test]
    fn log_folder_is_quoted_for_sbatch_and_percent_is_doubled() {
        let mut j = job();
        j.log_dir = "/scratch/my logs/100%".into();
        let s = render_array(&j).unwrap();
        let out = directives(&s).into_iter().find(|d| d.starts_with("--output=")).unwrap();
        assert_eq!(out, r#"--output="/scratch/my logs/100%%/%x-%A_%a.out""#);
        assert_eq!(sbatch_arg(out.strip_prefix("--output=").unwrap()), "/scratch/my logs/100%%/%x-%A_%a.out");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut j = job();
        j.qnet = "qnet-exp".into();
        j.out = "results".into();
        j.log_dir = "/a\\b".into();
        j.array_size = 0;
        j.cpus_per_task = 0;
        j.time = Some("2h".into());
        j.mem = Some("lots".into());
        j.job_name = "two\nlines".into();
        j.sets = vec!["novalue".into()];
        let errs = render_array(&j).unwrap_err();
        for want in [
            "qnet-exp binary qnet-exp",
            "output folder results",
            "backslash",
            "array size",
            "cpus per task",
            "time limit",
            "memory",
            "--job-name",
            "novalue",
        ] {
            assert!(errs.iter().any(|e| e.contains(want)), "no error about {want:?} in {errs:#?}");
        }
        assert_eq!(errs.len(), 9, "{errs:#?}");
    }

    #[test]
    fn summarize_rejects_bad_sweep_names() {
        let mut j = job();
        j.sweeps = vec!["../x".into()];
        assert!(render_summarize(&j, Some(1)).unwrap_err()[0].contains("not a folder name"));
        j.sweeps = vec![];
        assert!(render_summarize(&j, Some(1)).unwrap_err()[0].contains("nothing to summarize"));
    }

    #[test]
    fn time_and_memory_formats() {
        for t in ["30", "0", "30:00", "2:00:00", "1-0", "1-12", "1-12:30", "7-00:00:00", "UNLIMITED", "infinite"] {
            assert!(valid_time(t), "{t}");
        }
        for t in ["", "2h", "1:2:3:4", "-5", "1-", "a-1", "1--2", ":30", "1-2:3:4:5"] {
            assert!(!valid_time(t), "{t}");
        }
        for m in ["0", "500", "500M", "4G", "1T", "64k"] {
            assert!(valid_mem(m), "{m}");
        }
        for m in ["", "G", "4GB", "1.5G", "-1", "4 G"] {
            assert!(!valid_mem(m), "{m}");
        }
    }

    #[test]
    fn time_limits_in_seconds() {
        for (t, s) in [
            ("30", 1800),
            ("0", 0),
            ("30:15", 1815),
            ("2:00:00", 7200),
            ("1-0", 86_400),
            ("1-12", 129_600),
            ("1-12:30", 131_400),
            ("7-00:00:01", 604_801),
        ] {
            assert_eq!(time_limit_secs(t), Some(s), "{t}");
        }
        for t in ["UNLIMITED", "infinite", "2h", "", "1:2:3:4"] {
            assert_eq!(time_limit_secs(t), None, "{t}");
        }
    }

    #[test]
    fn unsets_go_before_the_sets_and_summarize_without_an_id_says_how_to_submit() {
        let mut j = job();
        j.unsets = vec!["quant.grid".into()];
        let s = render_array(&j).unwrap();
        assert!(s.contains("/sweep.toml --unset quant.grid --set optim.lr=0.01 "), "{s}");
        j.unsets = vec!["a=b".into()];
        assert!(render_array(&j).unwrap_err()[0].contains("--unset"));
        let s = render_summarize(&job(), None).unwrap();
        assert!(!s.contains("#SBATCH --dependency") && s.contains("# Submit after the array job"), "{s}");
        // The comment does not end the #SBATCH block: the directives after it still count.
        let first_cmd = s.lines().position(|l| !l.starts_with('#')).unwrap();
        assert!(s.lines().take(first_cmd).any(|l| l.starts_with("#SBATCH --output=")));
    }

    #[test]
    fn job_ids_from_sbatch_parsable() {
        assert_eq!(parse_job_id("12345\n"), Some(12345));
        assert_eq!(parse_job_id("12345;cluster\n"), Some(12345));
        assert_eq!(parse_job_id("warning: something\n678\n"), Some(678));
        assert_eq!(parse_job_id(""), None);
        assert_eq!(parse_job_id("Submitted batch job 5\n"), None);
    }
}
