//! Thin binary: parse the CLI, start tracing, dispatch, map errors to exit codes
//! (0 success, 1 some runs failed, 2 bad input, 130 interrupted).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use qnet_exp::cli::{Cli, Command, SweepArgs};
use qnet_exp::config::{self, Sweep};
use qnet_exp::error::Error;
use qnet_exp::output::progress::ProgressMode;
use qnet_exp::output::{say, summary};
use qnet_exp::sweep;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .init();
    match dispatch(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn load(args: &SweepArgs, builtin_default: bool) -> Result<Vec<Sweep>, Error> {
    let mut overrides: Vec<String> = args.unset.iter().map(|k| format!("~{k}")).collect();
    overrides.extend(args.set.iter().cloned());
    if let Some(n) = args.seeds {
        overrides.push(format!("run.seeds={n}"));
    }
    if args.configs.is_empty() {
        if builtin_default {
            return config::parse_sweep(qnet_exp::QUICKSTART, "built-in quickstart", &overrides)
                .map(|s| vec![s])
                .map_err(Error::Input);
        }
        return Err(Error::input("no config files given"));
    }
    config::load_sweeps(&args.configs, &overrides).map_err(Error::Input)
}

fn dispatch(cli: &Cli) -> Result<(), Error> {
    match &cli.command {
        Command::Plan(args) => {
            for s in load(args, true)? {
                say(format_args!("# {} ({}): {} runs", s.def.name, s.def.source, s.runs.len()));
                if s.collapsed > 0 {
                    say(format_args!(
                        "# {} combinations collapsed: keys that do not apply to a run (e.g. quant.delta for fp) do not multiply it",
                        s.collapsed
                    ));
                }
                for r in &s.runs {
                    let params: Vec<String> = r
                        .params
                        .iter()
                        .filter(|(k, _)| {
                            s.def.given.iter().any(|(g, v)| g.path == *k && v.len() > 1)
                                || *k == "quant.method"
                                || *k == "seed"
                        })
                        .map(|(k, v)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), v.canon()))
                        .collect();
                    say(format_args!("{}  {}", r.id, params.join(" ")));
                }
            }
            Ok(())
        }
        Command::Run(args) => {
            let sweeps = load(&args.sweep, true)?;
            let jobs = args
                .jobs
                .map(|j| j as usize)
                .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
            let progress = if cli.quiet { ProgressMode::None } else { args.progress };
            let opts = sweep::Options {
                out: args.out.clone(),
                jobs,
                progress,
                quiet: cli.quiet,
                shard: args.shard,
                force: args.force,
                keep_going: args.keep_going,
            };
            let stop = sweep::signals::install(Duration::from_secs(args.grace), cli.quiet)
                .map_err(|e| Error::input(format!("cannot install signal handlers: {e}")))?;
            let sweep::RunOutcome { reports, left_out } = sweep::run(&sweeps, &opts, &stop)?;
            if !cli.quiet {
                for r in &reports {
                    sweep::print_report(r);
                }
            }
            if let Some(e) = sweep::interrupted(&reports, &stop) {
                return Err(e);
            }
            let failed: usize = reports.iter().map(|r| r.failed + r.summary_error.is_some() as usize).sum();
            if failed + left_out > 0 {
                return Err(Error::RunsFailed { failed, left_out });
            }
            Ok(())
        }
        Command::Select { dir, by, within } => {
            if !dir.is_dir() {
                return Err(Error::input(format!("{}: no such sweep folder", dir.display())));
            }
            let table = qnet_exp::output::select::select(dir, by, within).map_err(Error::input)?;
            if !cli.quiet {
                say(format_args!("{}", table.trim_end()));
            }
            Ok(())
        }
        Command::Slurm(args) => {
            // Validated exactly as `run` would (but a config file is required).
            let sweeps = load(&args.sweep, false)?;
            qnet_exp::slurm::command::run(&sweeps, args, cli.quiet)
        }
        Command::Keys => {
            say(format_args!("{}", qnet_exp::config::schema::markdown_table().trim_end()));
            Ok(())
        }
        Command::Summarize { dir } => {
            if !dir.is_dir() {
                return Err(Error::input(format!("{}: no such sweep folder", dir.display())));
            }
            let (groups, skipped) = summary::rebuild(dir).map_err(Error::input)?;
            for s in &skipped {
                tracing::warn!("{s}");
            }
            if !cli.quiet {
                say(format_args!(
                    "{}: {} configurations; wrote runs.csv, summary.csv and fits.csv",
                    dir.display(),
                    groups.len()
                ));
                say(format_args!("{}", qnet_exp::output::table::floor_table(&groups).trim_end()));
            }
            // Shards still running, or an interrupted sweep: say so, the summary is partial.
            let found: usize = groups.iter().map(|g| g.n + g.n_failed).sum();
            if let Some(planned) = qnet_exp::sweep::provenance::planned_runs(dir).filter(|&p| found < p) {
                tracing::warn!(
                    "{}: incomplete: {found} of the {planned} runs of the last `qnet-exp run` are here (shards still \
                     running, or an interrupted sweep: rerun the same command to complete it)",
                    dir.display()
                );
            }
            Ok(())
        }
    }
}
