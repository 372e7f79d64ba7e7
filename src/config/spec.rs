//! One run, fully resolved: the typed settings, the parameters it actually uses (for
//! ids, CSV columns and its own config.toml), and its seeds.

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::parse::Val;
use super::schema::{self, Default, KeySpec};
use crate::data::synthetic::{SyntheticSpec, Target};
use crate::method::{Method, Rounding};
use crate::optim::{OptimKind, Schedule};
use crate::problems::Loss;
use crate::quant::{Grid, GridKind};
use crate::rng::{derive, hash_str};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Zero,
    Normal { std: f64 },
}

/// The initial step size, possibly relative to the problem instance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lr {
    Value(f64),
    /// 1/mu, mu the strong-convexity constant of the problem instance.
    InvMu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    Replacement,
    Shuffle,
}

/// A convex problem: synthetic data, loss, regularisation, optional box.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvexSpec {
    pub loss: Loss,
    pub data: SyntheticSpec,
    pub lambda: f64,
    pub radius: Option<f64>,
    pub init: Init,
}

/// A non-convex toy landscape with Gaussian gradient noise on a box grid.
#[derive(Clone, Debug, PartialEq)]
pub struct ToySpec {
    pub landscape: LandscapeSpec,
    /// Standard deviation of the gradient noise per coordinate at batch 1.
    pub sigma: f64,
    /// The box [-radius, radius] per coordinate; the grid is k * delta inside it.
    pub radius: f64,
    /// Steps discarded before the visit histogram and time averages start.
    pub burn_in: u64,
    /// Solve SR's exact Markov chain instead of simulating.
    pub exact: bool,
}

/// A ReLU network trained on a real image data set.
#[derive(Clone, Debug, PartialEq)]
pub struct NetSpec {
    pub dataset: crate::data::dataset::DatasetName,
    pub data_dir: std::path::PathBuf,
    pub width: usize,
    pub depth: usize,
    pub batch_norm: bool,
    pub train_size: Option<usize>,
    pub test_size: Option<usize>,
    pub epochs: u64,
    /// Grid scales per layer from the layer's fan-in and fan-out (see quant.layer_scale).
    pub glorot: bool,
    /// The grid's name (binary, ternary, bits, fixed) for quantized methods.
    pub grid_kind: Option<String>,
    pub fp_first_last: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LandscapeSpec {
    /// F(w) = a w^2 + sin(b w), 1-D.
    Wave { a: f64, b: f64 },
    /// F(x, y) = x^2 + y^2 + c (sin^2 x + sin^2 y), 2-D.
    EggCrate { c: f64 },
    /// F(w) = sum_i w_i^2 - a cos(2 pi w_i) + a, 1-D or 2-D.
    Rastrigin { a: f64, dim: usize },
}

#[derive(Clone, Debug, PartialEq)]
pub enum ProblemSpec {
    Convex(ConvexSpec),
    Toy(ToySpec),
    Mlp(NetSpec),
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
    pub grid: Option<Grid>,
    pub optim: OptimKind,
    pub lr: Lr,
    pub schedule: Schedule,
    pub batch: usize,
    pub sampling: Sampling,
    pub steps: u64,
    pub log_every: u64,
    pub tail: f64,
    pub seeds: Seeds,
    /// Identifies the problem instance (data set and optimum): runs that share it share
    /// one build.
    pub problem_key: String,
}

/// Independent streams, each a pure function of the master seed and the parameters that
/// should drive it: every method of a sweep sees the same data, initial point and
/// minibatch order for a given seed index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    pub data: u64,
    pub init: u64,
    pub batches: u64,
    pub rounding: u64,
}

impl RunSpec {
    /// The convex problem of a convex run. Only called on runs the sweep routed to the
    /// convex trainer, so a toy here is a bug.
    pub fn convex(&self) -> &ConvexSpec {
        match &self.problem {
            ProblemSpec::Convex(c) => c,
            _ => panic!("run {} is not a convex run", self.id),
        }
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
            t.as_table_mut().unwrap().insert(leaf.into(), v.to_toml());
        }
        // A single-seed sweep whose only seed index is this run's.
        let run = root.entry("run").or_insert_with(|| toml::Value::Table(toml::Table::new()));
        run.as_table_mut().unwrap().insert("seed_index".into(), toml::Value::Integer(self.seed_index as i64));
        toml::to_string(&root).expect("plain values serialize")
    }
}

fn canon<'a>(it: impl Iterator<Item = &'a (&'static str, Val)>) -> String {
    it.map(|(p, v)| format!("{p}={}", v.canon())).collect::<Vec<_>>().join(";")
}

/// One point of the Cartesian product, with the keys the resolver reads recorded.
pub struct Point<'a> {
    values: Vec<(&'static KeySpec, &'a Val)>,
    used: RefCell<BTreeSet<&'static str>>,
    errors: RefCell<Vec<String>>,
    /// Defaults that depend on other keys, as resolved for this point.
    computed: RefCell<Vec<(&'static str, Val)>>,
}

impl<'a> Point<'a> {
    pub fn new(values: Vec<(&'static KeySpec, &'a Val)>) -> Self {
        Point {
            values,
            used: RefCell::new(BTreeSet::new()),
            errors: RefCell::new(Vec::new()),
            computed: RefCell::new(Vec::new()),
        }
    }

    pub fn used(&self) -> BTreeSet<&'static str> {
        self.used.borrow().clone()
    }

    fn err(&self, msg: String) {
        self.errors.borrow_mut().push(msg);
    }

    /// The value (given or default) of a key, marking it used. `None` when the key has
    /// no default and was not given.
    fn get(&self, path: &'static str) -> Option<Val> {
        self.used.borrow_mut().insert(path);
        if let Some((_, v)) = self.values.iter().find(|(k, _)| k.path == path) {
            return Some((*v).clone());
        }
        let spec = schema::key(path).expect("known key");
        match spec.default {
            Default::Int(i) => Some(Val::Int(i)),
            Default::Float(x) => Some(Val::Float(x)),
            Default::Str(s) => Some(Val::Str(s.into())),
            Default::Bool(b) => Some(Val::Bool(b)),
            Default::None | Default::Computed => None,
        }
    }

    fn required(&self, path: &'static str, when: &str) -> Option<Val> {
        let v = self.get(path);
        if v.is_none() {
            let when = if when.is_empty() { String::new() } else { format!(" {when}") };
            self.err(format!("{path}: missing (required{when})"));
        }
        v
    }

    fn f64(&self, path: &'static str) -> f64 {
        as_f64(&self.required(path, "").unwrap_or(Val::Float(f64::NAN)))
    }

    fn f64_when(&self, path: &'static str, when: &str) -> f64 {
        as_f64(&self.required(path, when).unwrap_or(Val::Float(f64::NAN)))
    }

    fn int(&self, path: &'static str) -> i64 {
        match self.required(path, "") {
            Some(Val::Int(i)) => i,
            _ => 0,
        }
    }

    fn str(&self, path: &'static str) -> String {
        match self.required(path, "") {
            Some(Val::Str(s)) => s,
            _ => String::new(),
        }
    }

    fn bool(&self, path: &'static str) -> bool {
        matches!(self.get(path), Some(Val::Bool(true)))
    }

    /// The value of a key whose default depends on other keys; the default is recorded
    /// so that it shows in the run's params and config.toml.
    fn computed(&self, path: &'static str, default: Val) -> Val {
        self.get(path).unwrap_or_else(|| {
            self.computed.borrow_mut().push((path, default.clone()));
            default
        })
    }
}

fn as_f64(v: &Val) -> f64 {
    match v {
        Val::Int(i) => *i as f64,
        Val::Float(x) => *x,
        _ => f64::NAN,
    }
}

fn resolve_convex(p: &Point, kind: &str) -> ConvexSpec {
    let loss = if kind == "logistic" { Loss::Logistic } else { Loss::Squared };
    let dim = p.int("problem.dim") as usize;
    let samples = p.int("problem.samples") as usize;
    let noise = p.f64("problem.noise");
    let cond = p.f64("problem.cond");
    let lambda = as_f64(&p.computed("problem.lambda", Val::Float(if loss == Loss::Logistic { 1e-3 } else { 0.0 })));
    if loss == Loss::Logistic && noise > 0.5 {
        p.err(format!("problem.noise = {noise}: for logistic it is a label-flip probability, allowed 0..=0.5"));
    }
    if loss == Loss::Logistic && lambda <= 0.0 {
        p.err("problem.lambda = 0: logistic regression needs lambda > 0 (strong convexity)".into());
    }
    if loss == Loss::Squared && lambda == 0.0 && samples < dim {
        p.err(format!(
            "problem.samples = {samples} < problem.dim = {dim} with lambda = 0: the minimiser is not unique (set lambda > 0)"
        ));
    }
    if (dim as u64) * (samples as u64) > 1 << 28 {
        p.err(format!(
            "problem.dim x problem.samples = {}: too large (limit 2^28 values, 2 GiB)",
            dim as u64 * samples as u64
        ));
    }
    let radius = p.get("problem.radius").map(|v| as_f64(&v));
    let init = match p.str("problem.init").as_str() {
        "normal" => Init::Normal { std: p.f64("problem.init_std") },
        _ => Init::Zero,
    };
    let target = if loss == Loss::Logistic { Target::Classification } else { Target::Regression };
    ConvexSpec { loss, data: SyntheticSpec { dim, samples, noise, cond, target }, lambda, radius, init }
}

fn resolve_mlp(p: &Point) -> NetSpec {
    use crate::data::dataset::{data_dir, DatasetName};
    let dataset = match p.str("problem.dataset").as_str() {
        "fashion_mnist" => DatasetName::FashionMnist,
        "cifar10" => DatasetName::Cifar10,
        _ => DatasetName::Mnist,
    };
    let given = p.get("problem.data_dir").map(|v| std::path::PathBuf::from(v.canon()));
    let dir = data_dir(given.as_deref());
    // Record the folder actually used, so the run's config.toml says where its data was.
    if given.is_none() {
        p.computed("problem.data_dir", Val::Str(dir.display().to_string()));
    }
    let opt = |k: &'static str| p.get(k).map(|v| as_f64(&v) as usize);
    NetSpec {
        dataset,
        data_dir: dir,
        width: p.int("problem.width") as usize,
        depth: p.int("problem.depth") as usize,
        batch_norm: p.bool("problem.batch_norm"),
        train_size: opt("problem.train_size"),
        test_size: opt("problem.test_size"),
        epochs: p.int("run.epochs") as u64,
        glorot: false,
        grid_kind: None,
        fp_first_last: false,
    }
}

fn resolve_toy(p: &Point) -> ToySpec {
    let landscape = match p.str("problem.landscape").as_str() {
        "egg_crate" => LandscapeSpec::EggCrate { c: p.f64("problem.c") },
        "rastrigin" => {
            let dim = p.int("problem.dim") as usize;
            if !(1..=2).contains(&dim) {
                p.err(format!("problem.dim = {dim}: the rastrigin toy is 1-D or 2-D"));
            }
            LandscapeSpec::Rastrigin { a: as_f64(&p.computed("problem.a", Val::Float(10.0))), dim }
        }
        _ => LandscapeSpec::Wave { a: as_f64(&p.computed("problem.a", Val::Float(0.05))), b: p.f64("problem.b") },
    };
    let sigma = p.f64("problem.sigma");
    let radius = as_f64(&p.computed("problem.radius", Val::Float(5.0)));
    ToySpec { landscape, sigma, radius, burn_in: 0, exact: false }
}

/// Resolve a point into a run. Errors are one line each, without the file prefix.
pub fn resolve(sweep: &str, p: &Point, seed_index: u64) -> Result<RunSpec, Vec<String>> {
    let kind = p.str("problem.kind");
    let mut problem = match kind.as_str() {
        "toy" => ProblemSpec::Toy(resolve_toy(p)),
        "mlp" => ProblemSpec::Mlp(resolve_mlp(p)),
        _ => ProblemSpec::Convex(resolve_convex(p, &kind)),
    };
    let toy = matches!(problem, ProblemSpec::Toy(_));
    let net = matches!(problem, ProblemSpec::Mlp(_));

    let method_name = p.str("quant.method");
    let mut grid = None;
    let method = match method_name.as_str() {
        "fp" => {
            // On a toy the grid is also the histogram's bins: FP iterates are binned to it.
            if let ProblemSpec::Toy(t) = &problem {
                let delta = p.f64_when("quant.delta", "on a toy (the histogram's grid)");
                grid = Grid::fixed(delta, Some(t.radius)).map_err(|e| p.err(format!("quant: {e}"))).ok();
            }
            Method::Fp
        }
        m => {
            let grid_name = p.str("quant.grid");
            let glorot = net && grid_name != "fixed" && p.str("quant.layer_scale") == "glorot";
            if let ProblemSpec::Mlp(n) = &mut problem {
                n.glorot = glorot;
                n.grid_kind = Some(grid_name.clone());
                n.fp_first_last = p.bool("quant.fp_first_last");
            }
            if toy && grid_name != "fixed" {
                p.err(format!("quant.grid = {grid_name:?}: toy landscapes use a fixed grid (quant.delta) over the box problem.radius"));
            }
            let g = match grid_name.as_str() {
                // Per-layer (Glorot) scales are set from each layer's fan-in and fan-out
                // when the net is built; 1.0 stands for them here.
                "binary" => GridKind::Binary { scale: if glorot { 1.0 } else { p.f64("quant.scale") } },
                "ternary" => GridKind::Ternary { scale: if glorot { 1.0 } else { p.f64("quant.scale") } },
                "bits" => GridKind::Bits {
                    bits: p.int("quant.bits").clamp(1, 16) as u32,
                    range: if glorot { 1.0 } else { p.f64_when("quant.range", "when quant.grid = \"bits\"") },
                },
                _ => GridKind::Fixed {
                    delta: p.f64_when("quant.delta", "when quant.grid = \"fixed\""),
                    range: match &problem {
                        ProblemSpec::Toy(t) => Some(t.radius),
                        ProblemSpec::Convex(_) | ProblemSpec::Mlp(_) => p.get("quant.range").map(|v| as_f64(&v)),
                    },
                },
            };
            match Grid::new(g) {
                Ok(g) => grid = Some(g),
                Err(e) if p.errors.borrow().is_empty() => p.err(format!("quant: {e}")),
                Err(_) => {}
            }
            match m {
                "r" => Method::R,
                "sr" => Method::Sr,
                _ => {
                    let rounding =
                        if p.str("quant.rounding") == "stochastic" { Rounding::Stochastic } else { Rounding::Nearest };
                    let clip = p.bool("quant.clip");
                    if clip && grid.is_some_and(|g| !g.is_bounded()) {
                        p.err("quant.clip = true: the grid is unbounded (set quant.range or use a binary/ternary/bits grid)".into());
                    }
                    Method::Bc { rounding, clip }
                }
            }
        }
    };

    let optim = match p.str("optim.kind").as_str() {
        "momentum" => OptimKind::Momentum { beta: p.f64("optim.momentum") },
        "adam" => OptimKind::Adam { beta1: p.f64("optim.beta1"), beta2: p.f64("optim.beta2"), eps: p.f64("optim.eps") },
        _ => OptimKind::Sgd,
    };
    let lr = match p.required("optim.lr", "") {
        Some(Val::Str(_)) => Lr::InvMu,
        v => Lr::Value(as_f64(&v.unwrap_or(Val::Float(f64::NAN)))),
    };
    let schedule = match p.str("optim.schedule").as_str() {
        "inv_t" => Schedule::InvT { tau: p.f64("optim.tau") },
        "inv_sqrt_t" => Schedule::InvSqrtT { tau: p.f64("optim.tau") },
        "step" => Schedule::Step { every: p.int("optim.every") as u64, gamma: p.f64("optim.gamma") },
        "exp" => Schedule::Exp { every: p.int("optim.every") as u64, gamma: p.f64("optim.gamma") },
        _ => Schedule::Const,
    };
    let batch = p.int("optim.batch") as usize;
    let exact = toy && method == Method::Sr && p.str("run.mode") == "exact";
    let sampling = match &problem {
        ProblemSpec::Convex(c) => {
            if batch > c.data.samples {
                p.err(format!("optim.batch = {batch}: larger than problem.samples = {}", c.data.samples));
            }
            if p.str("optim.sampling") == "shuffle" {
                Sampling::Shuffle
            } else {
                Sampling::Replacement
            }
        }
        // Toy gradients are the exact gradient plus noise of variance sigma^2 / batch.
        ProblemSpec::Toy(_) => Sampling::Replacement,
        // Networks train in epochs: a new permutation of the training set each epoch.
        ProblemSpec::Mlp(n) => {
            if n.train_size.is_some_and(|m| batch > m) {
                p.err(format!("optim.batch = {batch}: larger than problem.train_size = {}", n.train_size.unwrap_or(0)));
            }
            if n.batch_norm && batch < 2 {
                p.err("optim.batch = 1: batch normalisation needs at least 2 samples per batch".into());
            }
            Sampling::Shuffle
        }
    };
    if net && lr == Lr::InvMu {
        p.err("optim.lr = \"1/mu\": networks are not strongly convex; give a number".into());
    }
    if exact {
        // The chain is time-homogeneous plain SGD + SR: no state, no decay.
        if optim != OptimKind::Sgd {
            p.err("run.mode = \"exact\": the exact chain is for optim.kind = \"sgd\"".into());
        }
        if schedule != Schedule::Const {
            p.err("run.mode = \"exact\": the exact chain needs optim.schedule = \"const\"".into());
        }
        if lr == Lr::InvMu {
            p.err("run.mode = \"exact\": optim.lr = \"1/mu\" has no meaning on a toy landscape".into());
        }
    } else if toy && lr == Lr::InvMu {
        p.err("optim.lr = \"1/mu\": toy landscapes are not strongly convex; give a number".into());
    }
    if toy && schedule != Schedule::Const {
        p.err("optim.schedule: toy runs use a constant step (sweep optim.lr instead)".into());
    }
    if let ProblemSpec::Toy(t) = &problem {
        if exact && t.sigma == 0.0 {
            p.err("run.mode = \"exact\" needs problem.sigma > 0 (without noise the chain is not irreducible)".into());
        }
    }
    // The exact chain has no trajectory: no steps, no logging, no seeds.
    let (steps, log_every) = if net {
        // Epochs, not steps: the step count follows from the training set's size.
        (0, 1)
    } else if exact {
        // Not part of an exact run, but a sweep mixing modes legitimately sets them.
        let _ = (p.get("run.steps"), p.get("run.log_every"), p.get("run.burn_in"));
        (0, 1)
    } else {
        (p.int("run.steps") as u64, p.int("run.log_every") as u64)
    };
    if let ProblemSpec::Toy(t) = &mut problem {
        t.exact = exact;
        if !exact {
            t.burn_in = match p.computed("run.burn_in", Val::Int((steps / 10) as i64)) {
                Val::Int(b) => b as u64,
                _ => 0,
            };
            if t.burn_in >= steps {
                p.err(format!("run.burn_in = {}: must be smaller than run.steps = {steps}", t.burn_in));
            }
        }
    }
    let tail = p.f64("run.tail");
    let master = p.int("run.seed") as u64;

    let errors = p.errors.borrow().clone();
    if !errors.is_empty() {
        return Err(errors);
    }

    let used = p.used();
    let mut params: Vec<(&'static str, Val)> = schema::KEYS
        .iter()
        .filter(|k| used.contains(k.path))
        .filter_map(|k| p.get_silent(k.path).map(|v| (k.path, v)))
        .collect();
    if exact {
        params.retain(|(k, _)| !matches!(*k, "run.steps" | "run.log_every" | "run.burn_in"));
    }
    let seed_index = if exact { 0 } else { seed_index };
    if !exact {
        params.push(("seed", Val::Int(seed_index as i64)));
    }
    // Location keys (the data folder) are not part of what a run computes.
    let identity: Vec<(&'static str, Val)> =
        params.iter().filter(|(k, _)| !schema::key(k).is_some_and(|s| s.is_location())).cloned().collect();
    let full = canon(identity.iter());
    // What the trajectory depends on: not how long it runs, how it is logged or
    // summarized, so a longer run extends a shorter one and logging never changes it.
    let trajectory = canon(
        identity.iter().filter(|(k, _)| !matches!(*k, "run.steps" | "run.log_every" | "run.tail" | "run.burn_in")),
    );
    let id = format!("{}-{:012x}", method.name(), hash_str(&full) >> 16);
    let problem_part = canon(identity.iter().filter(|(k, _)| k.starts_with("problem.") || *k == "seed"));
    let data_part = canon(identity.iter().filter(|(k, _)| {
        matches!(*k, "problem.kind" | "problem.dim" | "problem.samples" | "problem.noise" | "problem.cond" | "seed")
    }));
    let batch_part = format!("{problem_part};batch={batch};sampling={sampling:?}");
    let seeds = Seeds {
        data: derive(master, &format!("data|{data_part}")),
        init: derive(master, &format!("init|{problem_part}")),
        batches: derive(master, &format!("batches|{batch_part}")),
        rounding: derive(master, &format!("rounding|{trajectory}")),
    };
    // Convex runs share a problem instance (data + optimum); toys have nothing to build.
    let problem_key = match &problem {
        ProblemSpec::Convex(c) => {
            format!("{:016x}|{data_part}|lambda={}", seeds.data, crate::output::fmt_f64(c.lambda))
        }
        ProblemSpec::Toy(_) => String::new(),
        // Networks share their loaded data set.
        ProblemSpec::Mlp(n) => format!("{:?}|{}|{:?}|{:?}", n.dataset, n.data_dir.display(), n.train_size, n.test_size),
    };
    Ok(RunSpec {
        problem_key,
        id,
        sweep: sweep.to_string(),
        params,
        seed_index,
        problem,
        method,
        grid,
        optim,
        lr,
        schedule,
        batch,
        sampling,
        steps,
        log_every,
        tail,
        seeds,
    })
}

impl Point<'_> {
    /// Like `get` but without marking (for reading back values already used), and with
    /// computed defaults filled in.
    fn get_silent(&self, path: &'static str) -> Option<Val> {
        if let Some((_, v)) = self.values.iter().find(|(k, _)| k.path == path) {
            return Some((*v).clone());
        }
        match schema::key(path)?.default {
            Default::Int(i) => Some(Val::Int(i)),
            Default::Float(x) => Some(Val::Float(x)),
            Default::Str(s) => Some(Val::Str(s.into())),
            Default::Bool(b) => Some(Val::Bool(b)),
            Default::Computed => self.computed.borrow().iter().find(|(k, _)| *k == path).map(|(_, v)| v.clone()),
            Default::None => None,
        }
    }
}
