//! One run, fully resolved: the family's settings, the method with its quantization, the
//! optimizer, the parameters the run actually uses (for its id, its CSV columns and its own
//! config.toml), and its seeds.

use super::choice::{GridName, LayerScale, MethodName, OptimName, ProblemKind, RoundingName, ScheduleName};
use super::convex::ConvexSpec;
use super::net::NetSpec;
use super::parse::Val;
use super::point::Point;
use super::schema;
use super::toy::ToySpec;
use crate::method::{Method, Rounding};
use crate::optim::{OptimKind, Schedule};
use crate::quant::{Grid, GridKind, GridRule, LayerGrid, QuantPolicy};
use crate::rng::{derive, hash_str};

/// What the run's problem family needs beyond the shared method and optimizer settings.
#[derive(Clone, Debug, PartialEq)]
pub enum ProblemSpec {
    Convex(ConvexSpec),
    Toy(ToySpec),
    Net(NetSpec),
}

#[derive(Clone, Debug)]
pub struct RunSpec {
    /// `<method>-<12 hex digits>`, a hash of every used parameter.
    pub id: String,
    pub sweep: String,
    /// (key path, canonical value) of every key this run uses, in schema order,
    /// followed by ("seed", index).
    pub params: Vec<(&'static str, Val)>,
    pub seed_index: u64,
    pub problem: ProblemSpec,
    pub method: Method,
    /// The grids of a quantized method (`None` for FP).
    pub quant: Option<QuantPolicy>,
    pub optim: OptimKind,
    pub schedule: Schedule,
    pub batch: usize,
    /// Optimizer steps (0 for runs measured in epochs or without a trajectory).
    pub steps: u64,
    pub log_every: u64,
    pub tail: f64,
    pub seeds: Seeds,
}

/// Independent streams, each a pure function of the master seed and the parameters that
/// should drive it: every method of a sweep sees the same data, initial point and
/// minibatch order for a given seed index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    pub data: u64,
    /// The split of a network's training images into training and validation ones: the
    /// same for every method and architecture of a sweep, for a given seed index.
    pub split: u64,
    pub init: u64,
    pub batches: u64,
    pub rounding: u64,
}

impl RunSpec {
    /// The convex problem of a convex run. Only called on runs the convex family owns, so
    /// anything else here is a bug.
    pub fn convex(&self) -> &ConvexSpec {
        match &self.problem {
            ProblemSpec::Convex(c) => c,
            _ => panic!("run {} is not a convex run", self.id),
        }
    }

    /// The one grid shared by every quantized weight (convex problems and toys).
    pub fn grid(&self) -> Option<Grid> {
        self.quant.and_then(|q| q.grid())
    }

    pub fn param(&self, path: &str) -> Option<&Val> {
        self.params.iter().find(|(p, _)| *p == path).map(|(_, v)| v)
    }

    /// The run's own config file: loading it gives back exactly this run.
    pub fn to_toml(&self) -> String {
        let mut root = toml::Table::new();
        root.insert("name".into(), toml::Value::String(self.sweep.clone()));
        for (path, v) in &self.params {
            if *path == "seed" {
                continue;
            }
            let (sec, leaf) = path.split_once('.').expect("sectioned key");
            let t = root.entry(sec).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t.as_table_mut().expect("sections are tables").insert(leaf.into(), v.to_toml());
        }
        // A single-seed sweep whose only seed index is this run's.
        let run = root.entry("run").or_insert_with(|| toml::Value::Table(toml::Table::new()));
        run.as_table_mut()
            .expect("sections are tables")
            .insert("seed_index".into(), toml::Value::Integer(self.seed_index as i64));
        toml::to_string(&root).expect("plain values serialize")
    }
}

fn canon<'a>(it: impl Iterator<Item = &'a (&'static str, Val)>) -> String {
    it.map(|(p, v)| format!("{p}={}", v.canon())).collect::<Vec<_>>().join(";")
}

/// The method and, for a quantized one, its grids.
fn resolve_method(p: &Point, problem: &ProblemSpec) -> (Method, Option<QuantPolicy>) {
    let Some(name) = p.choice::<MethodName>("quant.method") else { return (Method::Fp, None) };
    if name == MethodName::Fp {
        return (Method::Fp, None);
    }
    let Some(grid_name) = p.choice::<GridName>("quant.grid") else { return (Method::Fp, None) };
    let net = matches!(problem, ProblemSpec::Net(_));
    let per_layer =
        net && grid_name != GridName::Fixed && p.choice::<LayerScale>("quant.layer_scale") == Some(LayerScale::Glorot);
    let fp_first_last = net && p.bool("quant.fp_first_last");
    if matches!(problem, ProblemSpec::Toy(_)) && grid_name != GridName::Fixed {
        p.err(format!(
            "quant.grid = {:?}: toy landscapes use a fixed grid (quant.delta) over the box problem.radius",
            grid_name.as_str()
        ));
    }
    let rule = match grid_name {
        GridName::Binary if per_layer => Ok(GridRule::PerLayer(LayerGrid::Binary)),
        GridName::Ternary if per_layer => Ok(GridRule::PerLayer(LayerGrid::Ternary)),
        GridName::Bits if per_layer => Ok(GridRule::PerLayer(LayerGrid::Bits(p.int("quant.bits").clamp(1, 16) as u32))),
        GridName::Binary => Grid::new(GridKind::Binary { scale: p.f64("quant.scale") }).map(GridRule::Same),
        GridName::Ternary => Grid::new(GridKind::Ternary { scale: p.f64("quant.scale") }).map(GridRule::Same),
        GridName::Bits => Grid::new(GridKind::Bits {
            bits: p.int("quant.bits").clamp(1, 16) as u32,
            range: p.f64_when("quant.range", "when quant.grid = \"bits\""),
        })
        .map(GridRule::Same),
        GridName::Fixed => {
            let delta = p.f64_when("quant.delta", "when quant.grid = \"fixed\"");
            let range = match problem {
                ProblemSpec::Toy(t) => Some(t.radius),
                ProblemSpec::Convex(_) | ProblemSpec::Net(_) => p.opt_f64("quant.range"),
            };
            Grid::new(GridKind::Fixed { delta, range }).map(GridRule::Same)
        }
    };
    let rule = match rule {
        Ok(r) => Some(r),
        Err(e) => {
            // A missing or invalid value was reported already; only a valid-looking
            // combination that makes no grid is news.
            if !p.has_errors() {
                p.err(format!("quant: {e}"));
            }
            None
        }
    };
    let method = match name {
        MethodName::R => Method::R,
        MethodName::Sr => Method::Sr,
        MethodName::Fp | MethodName::Bc => {
            let rounding = match p.choice::<RoundingName>("quant.rounding") {
                Some(RoundingName::Stochastic) => Rounding::Stochastic,
                _ => Rounding::Nearest,
            };
            let clip = p.bool("quant.clip");
            let unbounded = matches!(rule, Some(GridRule::Same(g)) if !g.is_bounded());
            if clip && unbounded {
                p.err(
                    "quant.clip = true: the grid is unbounded (set quant.range or use a binary/ternary/bits grid)"
                        .into(),
                );
            }
            Method::Bc { rounding, clip }
        }
    };
    (method, rule.map(|rule| QuantPolicy { rule, fp_first_last }))
}

fn resolve_optim(p: &Point) -> (OptimKind, Schedule, usize) {
    let optim = match p.choice::<OptimName>("optim.kind") {
        Some(OptimName::Momentum) => OptimKind::Momentum { beta: p.f64("optim.momentum") },
        Some(OptimName::Adam) => {
            OptimKind::Adam { beta1: p.f64("optim.beta1"), beta2: p.f64("optim.beta2"), eps: p.f64("optim.eps") }
        }
        Some(OptimName::Sgd) | None => OptimKind::Sgd,
    };
    let schedule = match p.choice::<ScheduleName>("optim.schedule") {
        Some(ScheduleName::InvT) => Schedule::InvT { tau: p.f64("optim.tau") },
        Some(ScheduleName::InvSqrtT) => Schedule::InvSqrtT { tau: p.f64("optim.tau") },
        Some(ScheduleName::Step) => Schedule::Step { every: p.int("optim.every") as u64, gamma: p.f64("optim.gamma") },
        Some(ScheduleName::Exp) => Schedule::Exp { every: p.int("optim.every") as u64, gamma: p.f64("optim.gamma") },
        Some(ScheduleName::Const) | None => Schedule::Const,
    };
    (optim, schedule, p.int("optim.batch") as usize)
}

/// Resolve a point into a run. Errors are one line each, without the file prefix.
pub fn resolve(sweep: &str, p: &Point, seed_index: u64) -> Result<RunSpec, Vec<String>> {
    let kind = p.choice::<ProblemKind>("problem.kind").unwrap_or(ProblemKind::LeastSquares);
    let (optim, schedule, batch) = resolve_optim(p);
    let mut problem = match kind {
        ProblemKind::Toy => ProblemSpec::Toy(super::toy::resolve(p)),
        ProblemKind::Mlp | ProblemKind::Cnn => ProblemSpec::Net(super::net::resolve(p, kind, batch)),
        ProblemKind::LeastSquares | ProblemKind::Logistic => {
            ProblemSpec::Convex(super::convex::resolve(p, kind, batch))
        }
    };
    if let ProblemSpec::Toy(t) = &mut problem {
        // On a toy the grid is also the histogram's bins: FP iterates are binned to it.
        t.delta = p.f64_when("quant.delta", "on a toy (the histogram's grid)");
    }
    let (method, quant) = resolve_method(p, &problem);
    let (steps, log_every) = match &mut problem {
        ProblemSpec::Toy(t) => super::toy::finish(p, t, method, optim, schedule),
        // Epochs, not steps: the step count follows from the training set's size.
        ProblemSpec::Net(_) => (0, 1),
        ProblemSpec::Convex(_) => (p.int("run.steps") as u64, p.int("run.log_every") as u64),
    };
    // Networks summarize their last epoch, not a tail mean: run.tail does not apply to
    // them (set, it is an error), and their specs carry its default.
    let tail = match &problem {
        ProblemSpec::Net(_) => match schema::key("run.tail").map(|k| k.default) {
            Some(schema::Default::Float(x)) => x,
            _ => unreachable!("run.tail has a float default"),
        },
        _ => p.f64("run.tail"),
    };
    let master = p.int("run.seed") as u64;
    if p.has_errors() {
        return Err(p.errors());
    }

    let exact = matches!(&problem, ProblemSpec::Toy(t) if t.exact);
    let used = p.used();
    let mut params: Vec<(&'static str, Val)> = schema::KEYS
        .iter()
        .filter(|k| used.contains(k.path))
        .filter_map(|k| p.get_silent(k.path).map(|v| (k.path, v)))
        .collect();
    if exact {
        // The exact chain has no trajectory: no steps, no logging, no seeds.
        params.retain(|(k, _)| !matches!(*k, "run.steps" | "run.log_every" | "run.burn_in"));
    }
    let seed_index = if exact { 0 } else { seed_index };
    if !exact {
        params.push(("seed", Val::Int(seed_index as i64)));
    }
    // Location keys (the data folder) are not part of what a run computes.
    let identity: Vec<(&'static str, Val)> =
        params.iter().filter(|(k, _)| !schema::key(k).is_some_and(|s| s.is_location())).cloned().collect();
    // `run.tail` only says how the summary averages the metrics: changing it must not
    // redo a run (the finished run's config.toml is updated instead, see `sweep`).
    let full = canon(identity.iter().filter(|(k, _)| *k != "run.tail"));
    // What the trajectory depends on: not how long a run goes (steps, epochs), how it is
    // logged or summarized, nor how many test images evaluate it, so a longer run extends
    // a shorter one and neither logging nor the test subset changes it.
    let trajectory = canon(identity.iter().filter(|(k, _)| {
        !matches!(*k, "run.steps" | "run.epochs" | "run.log_every" | "run.tail" | "run.burn_in" | "problem.test_size")
    }));
    let id = format!("{}-{:012x}", method.name(), hash_str(&full) >> 16);
    // The problem as training sees it: the test subset is evaluation only.
    let problem_part =
        canon(identity.iter().filter(|(k, _)| k.starts_with("problem.") && *k != "problem.test_size" || *k == "seed"));
    let data_part = canon(identity.iter().filter(|(k, _)| {
        matches!(*k, "problem.kind" | "problem.dim" | "problem.samples" | "problem.noise" | "problem.cond" | "seed")
    }));
    // How minibatches are drawn enters their stream's seed: toys draw noise i.i.d.,
    // networks shuffle every epoch.
    let sampling = match &problem {
        ProblemSpec::Convex(c) => c.sampling.seed_tag(),
        ProblemSpec::Toy(_) => "Replacement",
        ProblemSpec::Net(_) => "Shuffle",
    };
    let batch_part = format!("{problem_part};batch={batch};sampling={sampling}");
    let split_part = canon(
        identity
            .iter()
            .filter(|(k, _)| matches!(*k, "problem.dataset" | "problem.train_size" | "problem.val_split" | "seed")),
    );
    let seeds = Seeds {
        data: derive(master, &format!("data|{data_part}")),
        split: derive(master, &format!("split|{split_part}")),
        init: derive(master, &format!("init|{problem_part}")),
        batches: derive(master, &format!("batches|{batch_part}")),
        rounding: derive(master, &format!("rounding|{trajectory}")),
    };
    Ok(RunSpec {
        id,
        sweep: sweep.to_string(),
        params,
        seed_index,
        problem,
        method,
        quant,
        optim,
        schedule,
        batch,
        steps,
        log_every,
        tail,
        seeds,
    })
}
