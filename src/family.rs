//! The one interface between the sweep engine and a problem family (convex problems, toys,
//! networks). The engine plans, schedules and writes run folders; a family knows its
//! numerics: which runs share an instance, what a run costs, how to build the instance,
//! how to run one run into its folder, and what the summary and the printed table show.
//! Adding a family is one implementation of [`Family`] and one line in [`of`].

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::Serialize;

use crate::config::{ProblemSpec, RunSpec};
use crate::nets::Parallelism;
use crate::output::csv::{write_file, CsvSink};
use crate::output::summary::{Group, RunRecord};

/// What runs with the same [`Family::instance_key`] share, built once per sweep
/// invocation: a convex data set with its optimum, a loaded image set.
pub type Instance = Arc<dyn Any + Send + Sync>;

/// A run's estimated cost, known before anything runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Peak memory of the run's own buffers, in bytes.
    pub run_bytes: u64,
    /// Memory of its shared instance (counted once per instance), in bytes.
    pub instance_bytes: u64,
    /// Work in multiply-adds (order of magnitude): balances shards, estimates time.
    pub work: f64,
    /// Rows of metrics.csv it will write.
    pub rows: u64,
}

/// The temporary folder a run writes its files into; the engine adds config.toml and
/// status.toml and renames the folder into place when the run is over.
pub struct RunFiles {
    dir: PathBuf,
}

impl RunFiles {
    pub fn new(dir: PathBuf) -> RunFiles {
        RunFiles { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A CSV file written row by row (call `finish` on it: that flushes it).
    pub fn csv<R: Serialize>(&self, name: &str, header: &[&str]) -> std::io::Result<CsvSink<R>> {
        CsvSink::create(&self.path(name), header)
    }

    /// A whole file at once.
    pub fn write(&self, name: &str, text: &str) -> std::io::Result<()> {
        write_file(&self.path(name), text.as_bytes())
    }
}

/// What a run may use besides its spec and instance.
pub struct RunContext<'a> {
    pub files: &'a RunFiles,
    /// Thread use inside the run (networks' GEMMs); other families run on one thread.
    pub par: Parallelism,
    /// Set when the sweep is interrupted: a run checks it now and then and returns
    /// [`Outcome::Abandoned`] (its folder is then discarded).
    pub abandon: &'a AtomicBool,
}

/// How a run ended. An `Err` from [`Family::run`] is different: its output could not be
/// written (disk full), which stops the whole sweep.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Finished,
    /// Diverged, or could not start; the reason goes to runs.csv.
    Failed(String),
    /// Stopped because the sweep was interrupted: not a result, nothing is kept.
    Abandoned,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunEnd {
    pub outcome: Outcome,
    /// The last step at which a deployed weight changed (where R stalled); `None` where
    /// the family does not track it (networks, toys).
    pub last_change_step: Option<u64>,
    /// The run's final number in words, for `-v` ("gap 3.1e-3", "test error 5.6 %").
    pub headline: String,
}

impl RunEnd {
    pub fn of(failure: Option<String>) -> RunEnd {
        let outcome = failure.map_or(Outcome::Finished, Outcome::Failed);
        RunEnd { outcome, last_change_step: None, headline: String::new() }
    }

    pub fn abandoned() -> RunEnd {
        RunEnd { outcome: Outcome::Abandoned, last_change_step: None, headline: String::new() }
    }

    pub fn with_headline(self, headline: String) -> RunEnd {
        RunEnd { headline, ..self }
    }
}

/// A per-run number that summary.csv aggregates over the seeds of a configuration
/// (columns `<name>_mean`, `<name>_std`, `<name>_ci95`).
#[derive(Clone, Copy)]
pub struct Measure {
    pub name: &'static str,
    pub of: fn(&RunRecord) -> Option<f64>,
}

/// A per-run cell of runs.csv after the status columns.
#[derive(Clone, Copy)]
pub struct RunColumn {
    pub name: &'static str,
    pub of: fn(&RunRecord) -> String,
}

/// Cells of summary.csv after the measures, computed per configuration (the convex
/// theory: constants, floors, the bound and whether it is violated).
pub struct GroupColumns {
    pub names: &'static [&'static str],
    pub cells: fn(runs: &[&RunRecord], group: &Group) -> Vec<String>,
}

/// One column of the table printed after a sweep.
pub struct TableColumn {
    pub header: &'static str,
    pub cell: fn(&Group) -> String,
}

/// The table printed after a sweep for this family's configurations.
pub struct Table {
    /// What the numbers are (one line above the table).
    pub caption: &'static str,
    pub columns: &'static [TableColumn],
}

/// A problem family, as the sweep engine and the summary see it.
pub trait Family: Sync {
    /// Name for messages ("convex", "toy", "network").
    fn name(&self) -> &'static str;

    /// Runs with the same key share one instance (`None`: nothing to share or build).
    fn instance_key(&self, run: &RunSpec) -> Option<String>;

    /// Checks that need no computation (files present, sizes sane) and the run's
    /// estimated cost. An error is bad input: the sweep stops before writing anything.
    fn preflight(&self, run: &RunSpec) -> Result<Cost, String>;

    /// Build the shared instance of `run` (called once per distinct key).
    fn build(&self, run: &RunSpec) -> Result<Instance, String>;

    /// Run one run, writing its files (metrics.csv first of all) into `ctx.files`.
    fn run(&self, run: &RunSpec, instance: Option<&Instance>, ctx: &RunContext) -> std::io::Result<RunEnd>;

    /// Whether a finished run's metrics reached their end (the last step, the last epoch):
    /// a truncated metrics.csv is not a finished run.
    fn complete(&self, run: &RunSpec, last_step: u64, rows: usize) -> bool;

    /// Whether a run alone in a pool of several threads uses them (and keeps them spinning).
    fn threads_inside(&self) -> bool {
        false
    }

    /// A file of per-run facts the summary reads with the run (convex: theory.toml).
    fn record_file(&self) -> Option<&'static str> {
        None
    }

    fn measures(&self) -> &'static [Measure];

    fn run_columns(&self) -> &'static [RunColumn] {
        &[]
    }

    fn group_columns(&self) -> Option<&'static GroupColumns> {
        None
    }

    fn table(&self) -> &'static Table;
}

/// The family of a run's problem: the one place that names them all.
pub fn of(problem: &ProblemSpec) -> &'static dyn Family {
    match problem {
        ProblemSpec::Convex(_) => &crate::convex::ConvexFamily,
        ProblemSpec::Toy(_) => &crate::toy::ToyFamily,
        ProblemSpec::Net(_) => &crate::nets::NetFamily,
    }
}

/// Every family, in the order their columns appear in the CSV files.
pub fn all() -> [&'static dyn Family; 3] {
    [&crate::convex::ConvexFamily, &crate::toy::ToyFamily, &crate::nets::NetFamily]
}

/// The union of the families' names from `f`, first appearance first (the CSV columns
/// every sweep folder has, whichever families it holds, so files of different sweeps line
/// up).
pub fn union<T: 'static>(
    f: impl Fn(&'static dyn Family) -> &'static [T],
    name: impl Fn(&T) -> &'static str,
) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for fam in all() {
        for x in f(fam) {
            let n = name(x);
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}
