//! Thin binary: parse the CLI, start tracing, dispatch, map errors to exit codes
//! (0 success, 1 some runs failed, 2 bad input).

use std::process::ExitCode;

use clap::Parser;
use qnet_exp::cli::{Cli, Command, SweepArgs};
use qnet_exp::config::{self, Sweep};
use qnet_exp::error::Error;
use qnet_exp::output::progress::ProgressMode;
use qnet_exp::output::summary;
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
    let mut overrides = args.set.clone();
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
    let mut sweeps = Vec::new();
    let mut errors = Vec::new();
    for path in &args.configs {
        match config::load_sweep(path, &overrides) {
            Ok(s) => sweeps.push(s),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(sweeps)
    } else {
        Err(Error::Input(errors))
    }
}

fn dispatch(cli: &Cli) -> Result<(), Error> {
    match &cli.command {
        Command::Plan(args) => {
            for s in load(args, true)? {
                println!("# {} ({}): {} runs", s.def.name, s.def.source, s.runs.len());
                if s.collapsed > 0 {
                    println!(
                        "# {} combinations collapsed: keys that do not apply to a run (e.g. quant.delta for fp) do not multiply it",
                        s.collapsed
                    );
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
                        .map(|(k, v)| format!("{}={}", k.rsplit('.').next().unwrap(), v.canon()))
                        .collect();
                    println!("{}  {}", r.id, params.join(" "));
                }
            }
            Ok(())
        }
        Command::Run(args) => {
            let mut sweeps = load(&args.sweep, true)?;
            if let Some((i, n)) = args.shard {
                // Position in the expanded sweep, so every shard sees the same split.
                for s in sweeps.iter_mut() {
                    s.runs = std::mem::take(&mut s.runs)
                        .into_iter()
                        .enumerate()
                        .filter(|(k, _)| k % n == i - 1)
                        .map(|(_, r)| r)
                        .collect();
                }
            }
            let jobs = args
                .jobs
                .map(|j| j as usize)
                .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
            let progress = if cli.quiet { ProgressMode::None } else { args.progress };
            let opts = sweep::Options { out: args.out.clone(), jobs, progress, quiet: cli.quiet };
            let reports = sweep::run(&sweeps, &opts)?;
            let failed: usize = reports.iter().map(|r| r.failed + r.summary_error.is_some() as usize).sum();
            if !cli.quiet {
                for r in &reports {
                    sweep::print_report(r);
                }
            }
            if failed > 0 {
                return Err(Error::RunsFailed(failed));
            }
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
                println!("{}: {} configurations; wrote runs.csv and summary.csv", dir.display(), groups.len());
                print!("{}", qnet_exp::output::table::floor_table(&groups));
            }
            Ok(())
        }
    }
}
