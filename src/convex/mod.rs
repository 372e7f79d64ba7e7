//! The convex family: least squares and logistic regression on synthetic data with the
//! optimum known to ~1e-12, the trainer, and the theory (constants, floors, bounds) next
//! to every run.

mod least_squares;
mod logistic;
mod problem;
pub mod theory;
pub mod trainer;

use std::sync::Arc;

pub use problem::{build, ConvexProblem, Loss};
pub use trainer::{train, Outcome, Trainer};

use crate::config::{ConvexLr, ProblemSpec, RunSpec};
use crate::family::{Cost, Family, GroupColumns, Instance, Measure, RunColumn, RunContext, RunEnd, Table, TableColumn};
use crate::metrics::{self, Row};
use crate::output::stats::Summary;
use crate::output::summary::{Group, RunRecord, METRICS_FILE};
use crate::output::table::{sci, seeds};
use crate::output::{fmt_f64, fmt_opt};
use theory::{BoundKind, RunTheory};

/// Why `optim.lr = "1/mu"` cannot run on this instance: its mu is not clearly above the
/// eigensolver's roundoff (a numerically singular Hessian gives a mu of either sign near
/// zero, and 1/mu a huge step of that sign).
fn inv_mu_refusal(run: &RunSpec, p: &ConvexProblem) -> Option<String> {
    let tiny = 1e-12 * p.smoothness;
    (run.convex().lr == ConvexLr::InvMu && (p.mu.is_nan() || p.mu <= tiny)).then(|| {
        format!(
            "optim.lr = \"1/mu\" needs mu > 0, but this instance's mu = {:.3e} is not above roundoff (1e-12 L = {tiny:.3e}): \
             its Hessian is numerically singular; lower problem.cond, raise problem.lambda, or give optim.lr a number",
            p.mu
        )
    })
}

/// The per-run theory file.
pub const THEORY_FILE: &str = "theory.toml";

pub struct ConvexFamily;

fn problem_of(instance: Option<&Instance>) -> &ConvexProblem {
    instance.and_then(|i| i.downcast_ref()).expect("the engine passes a convex run its problem")
}

impl Family for ConvexFamily {
    fn name(&self) -> &'static str {
        "convex"
    }

    fn instance_key(&self, run: &RunSpec) -> Option<String> {
        let c = run.convex();
        Some(format!("{:016x}|{:?}|{:?}|{}", run.seeds.data, c.loss, c.data, fmt_f64(c.lambda)))
    }

    fn preflight(&self, run: &RunSpec) -> Result<Cost, String> {
        let c = run.convex();
        let (m, d) = (c.data.samples as f64, c.data.dim as f64);
        let rows = (run.steps / run.log_every + 2) as f64;
        // A row evaluates F about five times: a quadratic form (d^2) or a pass over the data.
        let row_cost = match c.loss {
            Loss::Squared => d * d,
            Loss::Logistic => m * d,
        };
        Ok(Cost {
            // w, latent, averages, previous row, gradient, optimizer state.
            run_bytes: (8.0 * d * 10.0 + 8.0 * run.batch as f64) as u64,
            // X, its Gram matrix or Hessian, and Newton's scaled copy of X.
            instance_bytes: (8.0 * (2.0 * m * d + 2.0 * d * d)) as u64,
            work: run.steps as f64 * run.batch as f64 * d * 2.0 + rows * 5.0 * row_cost + m * d * d + d * d * d,
            rows: rows as u64,
        })
    }

    fn build(&self, run: &RunSpec) -> Result<Instance, String> {
        build(run.convex(), run.seeds.data).map(|p| Arc::new(p) as Instance)
    }

    fn run(&self, run: &RunSpec, instance: Option<&Instance>, ctx: &RunContext) -> std::io::Result<RunEnd> {
        let p = problem_of(instance);
        if let Some(why) = inv_mu_refusal(run, p) {
            return Ok(RunEnd::of(Some(why)));
        }
        let mut sink = ctx.files.csv::<Row>(METRICS_FILE, metrics::COLUMNS)?;
        let out = train(run, p, &mut sink, ctx.abandon)?;
        sink.finish()?;
        if out.abandoned {
            return Ok(RunEnd::abandoned());
        }
        if out.failure.is_none() {
            // The bound uses G measured over the whole run: fill its column in afterwards.
            let th = RunTheory::analyse(run, p, &out.first, &out.last, &out.weights.deployed, &out.measured);
            fill_bounds(&ctx.files.path(METRICS_FILE), &th)?;
            ctx.files.write(THEORY_FILE, &th.to_toml())?;
        }
        let headline = format!("gap {:.3e}", out.last.gap);
        Ok(RunEnd { last_change_step: Some(out.last_change), ..RunEnd::of(out.failure) }.with_headline(headline))
    }

    fn complete(&self, run: &RunSpec, last_step: u64, rows: usize) -> bool {
        rows > 0 && last_step == run.steps
    }

    fn record_file(&self) -> Option<&'static str> {
        Some(THEORY_FILE)
    }

    fn measures(&self) -> &'static [Measure] {
        const M: &[Measure] = &[
            metrics::GAP_MEASURES[0],
            metrics::GAP_MEASURES[1],
            metrics::GAP_MEASURES[2],
            metrics::GAP_MEASURES[3],
            metrics::GAP_MEASURES[4],
            // The gap the bound is about: the final averaged iterate (BC: averaged latent).
            Measure { name: "bounded_gap", of: |r| theory_value(r, "measured_final") },
        ];
        M
    }

    fn run_columns(&self) -> &'static [RunColumn] {
        const C: &[RunColumn] = &[
            metrics::FINAL_GAP_COLUMN,
            RunColumn { name: "bound_final", of: |r| fmt_opt(theory_value(r, "bound_final")) },
            RunColumn { name: "stall_ratio", of: |r| fmt_opt(theory_value(r, "stall_ratio")) },
            RunColumn { name: "stall_gap_bound", of: |r| fmt_opt(theory_value(r, "stall_gap_bound")) },
        ];
        C
    }

    fn group_columns(&self) -> Option<&'static GroupColumns> {
        const G: GroupColumns = GroupColumns { names: THEORY_COLUMNS, cells: theory_cells };
        Some(&G)
    }

    fn table(&self) -> &'static Table {
        const T: Table = Table {
            caption: "per configuration, mean ± 95% CI over seeds: tail-mean gap F - F* at the deployed, BC's \
                      latent and the averaged weights, and the theory's bound on the averaged iterate's gap",
            columns: &[
                TableColumn { header: "n", cell: seeds },
                TableColumn { header: "tail gap", cell: |g| sci(g.measure("tail_gap")) },
                TableColumn { header: "latent (bc)", cell: |g| sci(g.measure("tail_gap_latent")) },
                TableColumn { header: "averaged", cell: |g| sci(g.measure("tail_gap_avg")) },
                TableColumn { header: "bound (avg)", cell: bound_cell },
            ],
        };
        &T
    }
}

/// A number of a run's theory.toml.
fn theory_value(r: &RunRecord, key: &str) -> Option<f64> {
    r.extra.as_ref()?.get(key)?.as_float()
}

fn theory_of(r: &RunRecord) -> Option<RunTheory> {
    toml::Value::Table(r.extra.clone()?).try_into().ok()
}

/// summary.csv's theory columns.
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

/// The theory of a configuration: every constant and bound averaged over its seeds' data
/// sets, and whether the measured gap (mean minus its 95% CI half-width, 0 for a single
/// seed) still lies above the bound.
fn theory_cells(runs: &[&RunRecord], g: &Group) -> Vec<String> {
    let ts: Vec<RunTheory> = runs.iter().filter_map(|r| theory_of(r)).collect();
    let Some(first) = ts.first() else { return vec![String::new(); THEORY_COLUMNS.len()] };
    let mean = |f: &dyn Fn(&RunTheory) -> f64| ts.iter().map(f).sum::<f64>() / ts.len() as f64;
    let mean_opt = |f: &dyn Fn(&RunTheory) -> Option<f64>| -> Option<f64> {
        let v: Option<Vec<f64>> = ts.iter().map(f).collect();
        v.map(|v| v.iter().sum::<f64>() / v.len() as f64)
    };
    let bound = mean_opt(&|t| t.bound_final);
    let violated = match (bound, g.measure("bounded_gap")) {
        (Some(b), Some(Summary { mean, ci95, .. })) => (mean - ci95.unwrap_or(0.0) > b).to_string(),
        _ => String::new(),
    };
    let kind = match first.kind {
        BoundKind::StronglyConvex => "strongly_convex",
        BoundKind::ConstStep => "const_step",
        BoundKind::None => "none",
    };
    vec![
        fmt_f64(mean(&|t| t.mu)),
        fmt_f64(mean(&|t| t.smoothness)),
        fmt_f64(mean(&|t| t.l2)),
        fmt_f64(mean(&|t| t.diameter)),
        fmt_f64(mean(&|t| t.g_meas)),
        fmt_opt(mean_opt(&|t| t.g_box)),
        fmt_opt(mean_opt(&|t| t.floor_sr)),
        fmt_opt(mean_opt(&|t| t.floor_bc)),
        fmt_opt(mean_opt(&|t| t.floor_bc_safe)),
        kind.into(),
        first.covered.to_string(),
        fmt_opt(bound),
        violated,
    ]
}

fn bound_cell(g: &Group) -> String {
    let Some(b) = g.cell("bound_final").and_then(|b| b.parse::<f64>().ok()) else { return "-".into() };
    let exceeded = g.cell("bound_violated") == Some("true");
    if g.cell("bound_covered") == Some("false") {
        // Not a theorem for this run: a gap above it refutes nothing.
        format!("{b:.2e} {}", if exceeded { "(not proven; exceeded)" } else { "(not proven)" })
    } else if exceeded {
        format!("{b:.2e} VIOLATED")
    } else {
        format!("{b:.2e}")
    }
}

/// Fill metrics.csv's `bound` column from the run's theory (rewritten through a
/// temporary file, row by row; every other cell is copied as it is).
fn fill_bounds(path: &std::path::Path, th: &RunTheory) -> std::io::Result<()> {
    use crate::output::csv::into_io;
    let col = |name: &str| metrics::COLUMNS.iter().position(|c| *c == name).expect("known column");
    let (step, bound) = (col("step"), col("bound"));
    let tmp = path.with_extension("csv.bound");
    {
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_path(path).map_err(into_io)?;
        let file = std::fs::File::create(&tmp)?;
        let mut w = csv::WriterBuilder::new().from_writer(std::io::BufWriter::new(file));
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(into_io)?;
            if i == 0 {
                w.write_record(&rec).map_err(into_io)?;
                continue;
            }
            let t: u64 = rec[step].parse().map_err(|_| std::io::Error::other("metrics.csv: bad step"))?;
            let cell = fmt_opt(th.bound_at(t));
            let out: Vec<&str> =
                rec.iter().enumerate().map(|(j, c)| if j == bound { cell.as_str() } else { c }).collect();
            w.write_record(&out).map_err(into_io)?;
        }
        w.into_inner().map_err(|e| e.into_error())?.into_inner().map_err(|e| e.into_error())?;
    }
    std::fs::rename(&tmp, path)
}

/// For tests and benchmarks: the convex problem of a run.
pub fn problem_for(run: &RunSpec) -> Result<ConvexProblem, String> {
    match &run.problem {
        ProblemSpec::Convex(c) => build(c, run.seeds.data),
        _ => Err(format!("run {} is not a convex run", run.id)),
    }
}
