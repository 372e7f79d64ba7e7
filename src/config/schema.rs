//! Every config key: its type, range, default, whether it can be a sweep axis, and when
//! it applies. The README's key table is written from this list.

#[derive(Clone, Copy, Debug)]
pub enum Ty {
    Int {
        min: i64,
        max: i64,
    },
    /// `min_open`: the minimum itself is excluded.
    Float {
        min: f64,
        min_open: bool,
        max: f64,
    },
    Choice(&'static [&'static str]),
    Bool,
    Text,
    /// A number > 0, or one word standing for a value that depends on the run (the step
    /// size "1/mu": the strong-convexity constant of the problem instance, for the theory's
    /// schedule 1/(mu (t+1)); the feature scale "1/sqrt(d)").
    NumberOr(&'static str),
}

#[derive(Clone, Copy, Debug)]
pub enum Default {
    /// Required where it applies.
    None,
    Int(i64),
    Float(f64),
    Str(&'static str),
    Bool(bool),
    /// Depends on other keys; the resolver supplies it (documented in `applies`).
    Computed,
}

#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub path: &'static str,
    /// Column name in runs.csv / summary.csv.
    pub column: &'static str,
    pub ty: Ty,
    pub default: Default,
    /// May be given as an array (a sweep axis).
    pub axis: bool,
    /// When the key is used, for "is set but does not apply" messages.
    pub applies: &'static str,
    pub doc: &'static str,
}

const POS: f64 = 0.0;
const INF: f64 = f64::INFINITY;

macro_rules! key {
    ($path:expr, $col:expr, $ty:expr, $def:expr, $axis:expr, $applies:expr, $doc:expr) => {
        KeySpec { path: $path, column: $col, ty: $ty, default: $def, axis: $axis, applies: $applies, doc: $doc }
    };
}

use super::choice::{
    DatasetChoice, GridName, InitName, LandscapeName, LayerScale, MethodName, Mode, OptimName, ProblemKind,
    RoundingName, Sampling, ScheduleName,
};

#[rustfmt::skip]
pub const KEYS: &[KeySpec] = &[
    key!("name", "sweep", Ty::Text, Default::None, false, "always",
         "sweep name; results go to <out>/<name>/"),
    key!("problem.kind", "problem", Ty::Choice(ProblemKind::NAMES), Default::Str("least_squares"), true, "always",
         "least_squares | logistic | toy (a 1-D/2-D non-convex landscape) | mlp (a ReLU network on real images) | cnn (a convolutional network on real images)"),
    key!("problem.dataset", "dataset", Ty::Choice(DatasetChoice::NAMES), Default::Str("mnist"), true, "networks (problem.kind = \"mlp\" or \"cnn\")",
         "mnist | fashion_mnist | cifar10 (only the 20-image sample is reachable here); fetch with scripts/fetch-data.sh"),
    key!("problem.data_dir", "data_dir", Ty::Text, Default::Computed, false, "networks (problem.kind = \"mlp\" or \"cnn\")",
         "folder with the data sets; default $QNET_DATA_DIR, else data/ (a location: recorded in the run's config.toml, but not part of its id, its seeds or the CSV columns)"),
    key!("problem.width", "width", Ty::Int { min: 1, max: 8192 }, Default::Int(256), true, "problem.kind = \"mlp\"",
         "units per hidden layer"),
    key!("problem.depth", "depth", Ty::Int { min: 1, max: 16 }, Default::Int(2), true, "problem.kind = \"mlp\"",
         "number of hidden layers"),
    key!("problem.arch", "arch", Ty::Text, Default::Str("lenet"), true, "problem.kind = \"cnn\"",
         "the CNN: lenet (conv5-32 pool conv5-64 pool fc256) | vgg (conv3-32 conv3-32 pool conv3-64 conv3-64 pool fc512) | a list of convK-C (K x K convolution to C channels), pool (2 x 2 max-pooling), fcN (dense layer of N units); the output layer follows"),
    key!("problem.batch_norm", "batch_norm", Ty::Bool, Default::Bool(true), true, "networks (problem.kind = \"mlp\" or \"cnn\")",
         "batch normalisation after each convolution and hidden affine map, before the ReLU (as BinaryConnect does)"),
    key!("problem.train_size", "train_size", Ty::Int { min: 2, max: 10_000_000 }, Default::None, true, "networks (optional)",
         "use the first N training images (unset: all)"),
    key!("problem.val_split", "val_split", Ty::Float { min: 0.0, min_open: false, max: 0.5 }, Default::Float(0.1), true, "networks (problem.kind = \"mlp\" or \"cnn\")",
         "fraction of the training images (after problem.train_size) held out for validation, drawn with the seed (0: none); step sizes are chosen on it (qnet-exp select)"),
    key!("problem.test_size", "test_size", Ty::Int { min: 1, max: 10_000_000 }, Default::None, true, "networks (optional)",
         "use the first N test images (unset: all)"),
    key!("problem.landscape", "landscape", Ty::Choice(LandscapeName::NAMES), Default::Str("wave"), true, "problem.kind = \"toy\"",
         "wave: a w^2 + sin(b w) (1-D) | egg_crate: x^2 + y^2 + c (sin^2 x + sin^2 y) | rastrigin: sum w_i^2 - a cos(2 pi w_i) + a (1-D/2-D)"),
    key!("problem.a", "a", Ty::Float { min: 0.0, min_open: false, max: INF }, Default::Computed, true, "problem.landscape = \"wave\" or \"rastrigin\"",
         "landscape coefficient a; default 0.05 (wave), 10 (rastrigin)"),
    key!("problem.b", "b", Ty::Float { min: 0.0, min_open: false, max: INF }, Default::Float(2.0), true, "problem.landscape = \"wave\"",
         "frequency b of the wave"),
    key!("problem.c", "c", Ty::Float { min: 0.0, min_open: false, max: INF }, Default::Float(10.0), true, "problem.landscape = \"egg_crate\"",
         "egg-crate amplitude c"),
    key!("problem.sigma", "sigma", Ty::Float { min: 0.0, min_open: false, max: INF }, Default::Float(4.0), true, "problem.kind = \"toy\"",
         "std of the Gaussian gradient noise per coordinate at batch 1 (variance sigma^2 / batch)"),
    key!("problem.dim", "dim", Ty::Int { min: 1, max: 5000 }, Default::Int(20), true, "convex problems, and the rastrigin toy (1 or 2)",
         "number of weights d"),
    key!("problem.samples", "samples", Ty::Int { min: 1, max: 10_000_000 }, Default::Int(1000), true, "convex problems",
         "number of training samples m"),
    key!("problem.noise", "noise", Ty::Float { min: 0.0, min_open: false, max: INF }, Default::Float(0.1), true, "convex problems",
         "least_squares: std of the label noise; logistic: label-flip probability (<= 0.5)"),
    key!("problem.cond", "cond", Ty::Float { min: 1.0, min_open: false, max: INF }, Default::Float(10.0), true, "convex problems",
         "condition number of E[X^T X / m] (column scales from 1 down to 1/sqrt(cond))"),
    key!("problem.lambda", "lambda", Ty::Float { min: 0.0, min_open: false, max: INF }, Default::Computed, true, "convex problems",
         "L2 regularisation; default 0 for least_squares, 0.001 for logistic (must be > 0 there)"),
    key!("problem.radius", "radius", Ty::Float { min: POS, min_open: true, max: INF }, Default::Computed, true, "convex problems (optional) and toys",
         "box [-radius, radius]^d; iterates are projected onto it (convex: unset means no box; toy: default 5, the grid's range)"),
    key!("problem.feature_scale", "feature_scale", Ty::NumberOr("1/sqrt(d)"), Default::None, true, "convex problems (optional)",
         "multiply every feature by this (unset: 1); \"1/sqrt(d)\" keeps E||x||^2, and so the gradient's size, the same whatever problem.dim; large values give large margins (logistic: a more curved loss)"),
    key!("problem.init", "init", Ty::Choice(InitName::NAMES), Default::Str("zero"), true, "convex problems",
         "initial weights: zero | normal (N(0, init_std^2)); toys start at 0"),
    key!("problem.init_std", "init_std", Ty::Float { min: POS, min_open: true, max: INF }, Default::Float(1.0), true, "problem.init = \"normal\"",
         "standard deviation of the normal initialisation"),
    key!("quant.method", "method", Ty::Choice(MethodName::NAMES), Default::None, true, "always",
         "fp | r | sr | bc"),
    key!("quant.grid", "grid", Ty::Choice(GridName::NAMES), Default::Str("fixed"), true, "quant.method != \"fp\"",
         "fixed (explicit delta) | binary {-s,+s} | ternary {-s,0,+s} | bits (2^bits levels over [-range, range])"),
    key!("quant.delta", "delta", Ty::Float { min: POS, min_open: true, max: INF }, Default::None, true, "quant.grid = \"fixed\"",
         "grid resolution Delta"),
    key!("quant.range", "range", Ty::Float { min: POS, min_open: true, max: INF }, Default::None, true, "quant.grid = \"fixed\" (optional) or \"bits\" (required); networks: only with quant.layer_scale = \"fixed\"",
         "saturate at +-range"),
    key!("quant.bits", "bits", Ty::Int { min: 1, max: 16 }, Default::None, true, "quant.grid = \"bits\"",
         "number of bits k (2^k levels)"),
    key!("quant.scale", "scale", Ty::Float { min: POS, min_open: true, max: INF }, Default::Float(1.0), true, "quant.grid = \"binary\" or \"ternary\"; networks: only with quant.layer_scale = \"fixed\"",
         "the value s of the binary/ternary grid"),
    key!("quant.layer_scale", "layer_scale", Ty::Choice(LayerScale::NAMES), Default::Str("glorot"), true, "networks with a binary, ternary or bits grid",
         "glorot: each layer's own scale, s = sqrt(1.5/(fan_in+fan_out)) for binary/ternary (BinaryConnect's), range = sqrt(6/(fan_in+fan_out)) for bits | fixed: quant.scale / quant.range for every layer"),
    key!("quant.fp_first_last", "fp_first_last", Ty::Bool, Default::Bool(false), true, "networks with a quantized method",
         "keep the first and the last layer's weights in full precision"),
    key!("quant.rounding", "rounding", Ty::Choice(RoundingName::NAMES), Default::Str("nearest"), true, "quant.method = \"bc\"",
         "how BC deploys its latent weights: nearest | stochastic"),
    key!("quant.clip", "clip", Ty::Bool, Default::Bool(false), true, "quant.method = \"bc\"",
         "clip BC's latent weights to the grid's range (needs a bounded grid)"),
    key!("optim.kind", "optim", Ty::Choice(OptimName::NAMES), Default::Str("sgd"), true, "always",
         "sgd | momentum | adam"),
    key!("optim.lr", "lr", Ty::NumberOr("1/mu"), Default::None, true, "always",
         "initial step size alpha_0: a number > 0, or \"1/mu\" (with schedule inv_t and tau = 1: the theory's 1/(mu (t+1)))"),
    key!("optim.schedule", "schedule", Ty::Choice(ScheduleName::NAMES), Default::Str("const"), true, "always",
         "const | inv_t: a0/(1+t/tau) | inv_sqrt_t: a0/sqrt(1+t/tau) | step: a0*gamma^floor(t/every) | exp: a0*gamma^(t/every)"),
    key!("optim.tau", "tau", Ty::Float { min: POS, min_open: true, max: INF }, Default::Float(1.0), true, "optim.schedule = \"inv_t\" or \"inv_sqrt_t\"",
         "time scale of the inverse schedules"),
    key!("optim.every", "every", Ty::Int { min: 1, max: i64::MAX }, Default::Int(1000), true, "optim.schedule = \"step\" or \"exp\"",
         "steps per decay by gamma (networks: epochs; their schedules step once per epoch)"),
    key!("optim.gamma", "gamma", Ty::Float { min: POS, min_open: true, max: 1.0 }, Default::Float(0.5), true, "optim.schedule = \"step\" or \"exp\"",
         "decay factor"),
    key!("optim.momentum", "momentum", Ty::Float { min: 0.0, min_open: false, max: 0.999_999 }, Default::Float(0.9), true, "optim.kind = \"momentum\"",
         "heavy-ball coefficient beta (v <- beta v + g)"),
    key!("optim.beta1", "beta1", Ty::Float { min: 0.0, min_open: false, max: 0.999_999 }, Default::Float(0.9), true, "optim.kind = \"adam\"",
         "Adam first-moment decay"),
    key!("optim.beta2", "beta2", Ty::Float { min: 0.0, min_open: false, max: 0.999_999_999 }, Default::Float(0.999), true, "optim.kind = \"adam\"",
         "Adam second-moment decay"),
    key!("optim.eps", "eps", Ty::Float { min: POS, min_open: true, max: INF }, Default::Float(1e-8), true, "optim.kind = \"adam\"",
         "Adam epsilon"),
    key!("optim.batch", "batch", Ty::Int { min: 1, max: 10_000_000 }, Default::Int(10), true, "always",
         "minibatch size (at most problem.samples)"),
    key!("optim.sampling", "sampling", Ty::Choice(Sampling::NAMES), Default::Str("replacement"), true, "convex problems",
         "replacement: i.i.d. batches | shuffle: a new permutation each epoch (networks always shuffle; toys draw i.i.d. noise)"),
    key!("run.steps", "steps", Ty::Int { min: 1, max: 1_000_000_000 }, Default::Int(1000), true, "convex problems and toy simulations",
         "optimizer steps per run (networks: run.epochs)"),
    key!("run.epochs", "epochs", Ty::Int { min: 1, max: 100_000 }, Default::Int(5), true, "networks (problem.kind = \"mlp\" or \"cnn\")",
         "passes over the training set (a metrics row after each)"),
    key!("run.seeds", "seeds", Ty::Int { min: 1, max: 100_000 }, Default::Int(1), false, "always",
         "seeds per configuration (seed indices 0..seeds-1 are a sweep axis)"),
    key!("run.seed", "master_seed", Ty::Int { min: 0, max: i64::MAX }, Default::Int(0), false, "always",
         "the sweep's master seed; every stream derives from it and the run's parameters"),
    key!("run.seed_index", "seed_index", Ty::Int { min: 0, max: 99_999 }, Default::None, false, "always (optional)",
         "run only this seed index instead of 0..seeds-1 (a run's own config.toml sets it)"),
    key!("run.burn_in", "burn_in", Ty::Int { min: 0, max: i64::MAX }, Default::Computed, true, "problem.kind = \"toy\" (simulation)",
         "steps before the visit histogram and time averages start; default steps / 10"),
    key!("run.mode", "mode", Ty::Choice(Mode::NAMES), Default::Str("simulate"), true, "problem.kind = \"toy\" and quant.method = \"sr\"",
         "simulate: run SR | exact: solve SR's Markov chain for its stationary distribution (no steps, no seeds)"),
    key!("run.log_every", "log_every", Ty::Int { min: 1, max: i64::MAX }, Default::Int(100), false, "convex problems and toy simulations",
         "steps between metrics rows (the last step is always logged; networks: one row per epoch)"),
    key!("run.tail", "tail", Ty::Float { min: POS, min_open: true, max: 1.0 }, Default::Float(0.1), false, "convex problems and toys",
         "fraction of the logged points (the last ones) averaged into the tail floor (networks summarize their last epoch)"),
];

/// Keys that say where something is, not what is computed (the data folder): they are
/// recorded in a run's config.toml but are not part of its id, its seeds or the CSV
/// columns, so the same sweep gives the same results wherever its data lives.
pub const LOCATION_KEYS: &[&str] = &["problem.data_dir"];

impl KeySpec {
    pub fn is_location(&self) -> bool {
        LOCATION_KEYS.contains(&self.path)
    }
}

pub fn key(path: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.path == path)
}

/// The README's key table (markdown), generated from [`KEYS`] (`qnet-exp keys` prints it;
/// a test checks that the README holds exactly this).
pub fn markdown_table() -> String {
    let esc = |t: &str| t.replace('|', "\\|");
    let fnum = |x: f64| {
        let s = format!("{x:?}");
        s.trim_end_matches(".0").to_string() + if x.fract() == 0.0 && x.abs() < 1e15 { ".0" } else { "" }
    };
    let mut out =
        String::from("| key | type / allowed | default | axis | applies when | meaning |\n|---|---|---|---|---|---|\n");
    for k in KEYS {
        let ty = match k.ty {
            Ty::Int { min, max } if max == i64::MAX => format!("int {min}.."),
            Ty::Int { min, max } => format!("int {min}..{max}"),
            Ty::Float { min, min_open, max } => {
                let lo = if min_open { format!("float > {}", min) } else { format!("float >= {}", fnum(min)) };
                if max.is_finite() {
                    format!("{lo}, <= {}", fnum(max))
                } else {
                    lo
                }
            }
            Ty::Choice(c) => c.join(" | "),
            Ty::Bool => "bool".into(),
            Ty::Text => "string".into(),
            Ty::NumberOr(word) => format!("float > 0 or \"{word}\""),
        };
        let default = match k.default {
            Default::None if k.applies.contains("optional") => "(unset)".into(),
            Default::None => "required".into(),
            Default::Computed => "see meaning".into(),
            Default::Int(i) => format!("`{i}`"),
            Default::Float(x) => format!("`{x:?}`"),
            Default::Str(t) => format!("`{t}`"),
            Default::Bool(b) => format!("`{b}`"),
        };
        let axis = if k.axis { "yes" } else { "no" };
        out.push_str(&format!(
            "| `{}` | {} | {} | {axis} | {} | {} |\n",
            k.path,
            esc(&ty),
            esc(&default),
            esc(k.applies),
            esc(k.doc)
        ));
    }
    out
}

pub fn sections() -> Vec<&'static str> {
    let mut s: Vec<&str> = KEYS.iter().filter_map(|k| k.path.split_once('.').map(|(a, _)| a)).collect();
    s.dedup();
    s
}

/// The nearest valid key to a misspelt one: same leaf in another section, else the
/// smallest edit distance (at most a third of the length, minimum 2).
pub fn suggest(path: &str) -> Option<&'static str> {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    if let Some(k) = KEYS.iter().find(|k| k.path.rsplit('.').next() == Some(leaf) && k.path != path) {
        return Some(k.path);
    }
    let mut candidates: Vec<&'static str> = KEYS.iter().map(|k| k.path).collect();
    candidates.extend(sections());
    let limit = (path.len() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(path, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The nearest section name to a misspelt one ("optimizer" -> "optim").
pub fn suggest_section(name: &str) -> Option<&'static str> {
    let secs = sections();
    if let Some(s) = secs.iter().find(|s| name.starts_with(**s) || s.starts_with(name)) {
        return Some(s);
    }
    let limit = (name.len() / 2).max(2);
    secs.into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != cb) as usize).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("problem.dmi"), Some("problem.dim"));
        assert_eq!(suggest("problem.lr"), Some("optim.lr"));
        assert_eq!(suggest("problme"), Some("problem"));
        assert_eq!(suggest("quant.methd"), Some("quant.method"));
        assert_eq!(suggest("zzzzzzzz"), None);
        assert_eq!(suggest_section("optimizer"), Some("optim"));
        assert_eq!(suggest_section("problme"), Some("problem"));
        assert_eq!(suggest_section("data"), None);
    }

    #[test]
    fn columns_and_paths_are_unique() {
        for (i, a) in KEYS.iter().enumerate() {
            for b in &KEYS[i + 1..] {
                assert_ne!(a.path, b.path);
                assert_ne!(a.column, b.column);
            }
        }
    }
}
