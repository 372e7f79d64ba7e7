//! Command-line definitions (clap derive) only; `main.rs` dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::progress::ProgressMode;

#[derive(Parser, Debug)]
#[command(
    name = "qnet-exp",
    version,
    about = "Sweeps of quantized training: FP, R, SR and BC on convex problems, with CSV logs of the error floors"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print only errors (no progress, no tables).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More diagnostics on stderr (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run every sweep in these config files (finished runs in the output folder are skipped).
    Run(RunArgs),
    /// Print the expanded runs of these configs and their count; run nothing.
    Plan(SweepArgs),
    /// Rebuild runs.csv and summary.csv of a sweep folder from its finished runs.
    Summarize {
        /// A sweep folder, e.g. results/quickstart
        dir: PathBuf,
    },
    /// Choose, per group, the configuration with the lowest mean of a measure over seeds
    /// (e.g. the step size with the best validation error per method) and write best.csv.
    Select {
        /// A sweep folder, e.g. results/table1-cnn
        dir: PathBuf,
        /// The measure to minimise (a summary.csv stem: val_error, best_val_error, tail_gap, ...).
        #[arg(long, default_value = "val_error")]
        by: String,
        /// Parameter columns that define the groups, comma-separated (e.g. method,batch);
        /// every other swept parameter is a candidate's choice.
        #[arg(long, value_delimiter = ',')]
        within: Vec<String>,
    },
    /// Print the table of every config key (markdown, as in the README).
    Keys,
    /// Write the sbatch scripts that run these sweeps on Slurm as a job array of shards
    /// plus a summarize job (and submit them with --submit).
    #[command(mut_arg("configs", |a| a.help("Config files (TOML); at least one")))]
    Slurm(SlurmArgs),
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Config files (TOML). `run` without any uses the built-in quickstart sweep.
    pub configs: Vec<PathBuf>,
    /// Override a config key, e.g. --set optim.lr=0.01 or --set 'quant.delta=[0.1,0.05]' (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Leave out a key the config file sets, e.g. --unset quant.grid when --set
    /// quant.method=fp makes it apply to no run (repeatable; applied before --set).
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
    /// Seeds per configuration (same as --set run.seeds=N).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub seeds: Option<u64>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub sweep: SweepArgs,
    /// Output folder; each sweep writes to OUT/NAME/ (NAME is the config's name key).
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Runs in parallel (default: all cores).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Progress display on stderr.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// Run only shard I of N (1-based), for cluster job arrays writing to one shared --out:
    /// the N shards split the sweep by estimated cost. Each shard's summary covers what is
    /// finished.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Run past the preflight cost limits (memory, metrics rows, disk space).
    #[arg(long)]
    pub force: bool,
    /// Run the runs that pass the preflight checks (e.g. those whose data is present) and
    /// report the others, instead of refusing the whole invocation.
    #[arg(long)]
    pub keep_going: bool,
    /// Seconds the running runs get to finish after SIGINT/SIGTERM before they are
    /// abandoned (a second signal abandons them at once).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub grace: u64,
}

/// `qnet-exp slurm`: the sweep arguments of `run`, and the job's resources.
#[derive(Args, Debug)]
pub struct SlurmArgs {
    #[command(flatten)]
    pub sweep: SweepArgs,
    /// Output folder shared by every task (must be on a file system the compute nodes
    /// see); the scripts and job logs go to OUT/SWEEP/slurm/ (SWEEP: the first
    /// config's sweep name).
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Array tasks, i.e. shards (default: the number of runs, at most 64; never more than
    /// the runs of the largest sweep).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub array_size: Option<u32>,
    /// Slurm partition (default: the cluster's default partition).
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,
    /// Time limit of each array task, in Slurm's syntax (30, 2:00:00, 1-12, ...); the task
    /// then gets SIGTERM 120 s before it (half of a shorter limit) and stops cleanly.
    #[arg(long, value_name = "T")]
    pub time: Option<String>,
    /// CPUs of each array task: the runs it computes at once (its --jobs).
    #[arg(long, value_name = "C", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub cpus_per_task: u32,
    /// Memory of each task (4G, 500M, ...; default: the cluster's default).
    #[arg(long, value_name = "M")]
    pub mem: Option<String>,
    /// Submit the scripts with sbatch and print the two job ids.
    #[arg(long, conflicts_with = "dry_run")]
    pub submit: bool,
    /// Print the scripts; write and submit nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let err = || format!("expected I/N with 1 <= I <= N, got {s:?}");
    let (i, n) = s.split_once('/').ok_or_else(err)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| err())?, n.trim().parse().map_err(|_| err())?);
    if n == 0 || i == 0 || i > n {
        return Err(err());
    }
    Ok((i, n))
}
