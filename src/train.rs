//! One run: the step loop, the metrics, and divergence detection.

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::config::{Init, RunSpec, Sampling};
use crate::method::{Bounds, Method, Weights};
use crate::optim::Optimizer;
use crate::problems::ConvexProblem;
use crate::quant::{Grid, Lattice};
use crate::rng::{below, draw, seeded};

/// One metrics.csv row. `None` is an empty cell (the quantity does not apply).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub step: u64,
    pub epoch: f64,
    pub lr: f64,
    pub loss: f64,
    pub gap: f64,
    pub gap_latent: Option<f64>,
    pub gap_avg: f64,
    pub gap_avg_latent: Option<f64>,
    pub dist: f64,
    pub changed_frac: f64,
    pub subcell_frac: Option<f64>,
    pub grad_norm: Option<f64>,
}

pub const METRICS_COLUMNS: &[&str] = &[
    "step",
    "epoch",
    "lr",
    "loss",
    "gap",
    "gap_latent",
    "gap_avg",
    "gap_avg_latent",
    "dist",
    "changed_frac",
    "subcell_frac",
    "grad_norm",
];

pub struct Outcome {
    pub rows: Vec<Row>,
    /// Why the run failed (divergence), if it did.
    pub failure: Option<String>,
    /// The last step at which any deployed weight changed (0: never).
    pub last_change: u64,
    /// The weights at the end of the run.
    pub weights: Weights<f64>,
}

/// Minibatch indices: i.i.d. with replacement, or consecutive slices of a fresh
/// permutation per epoch.
struct Sampler {
    rng: Xoshiro256PlusPlus,
    shuffle: bool,
    perm: Vec<usize>,
    pos: usize,
}

impl Sampler {
    fn new(seed: u64, m: usize, sampling: Sampling) -> Self {
        let shuffle = sampling == Sampling::Shuffle;
        let perm = if shuffle { (0..m).collect() } else { vec![] };
        Sampler { rng: seeded(seed), shuffle, pos: perm.len(), perm }
    }

    #[inline]
    fn fill(&mut self, m: usize, out: &mut [usize]) {
        if !self.shuffle {
            for o in out.iter_mut() {
                *o = below(self.rng.next_u64(), m);
            }
            return;
        }
        for o in out.iter_mut() {
            if self.pos == self.perm.len() {
                for i in (1..self.perm.len()).rev() {
                    let j = below(self.rng.next_u64(), i + 1);
                    self.perm.swap(i, j);
                }
                self.pos = 0;
            }
            *o = self.perm[self.pos];
            self.pos += 1;
        }
    }
}

/// Run one configuration to the end (or to divergence).
pub fn train(spec: &RunSpec, problem: &ConvexProblem) -> Outcome {
    let d = problem.dim();
    let m = problem.samples();
    let method = spec.method;
    // FP never rounds; any lattice will do for it.
    let grid = spec.grid.unwrap_or(Grid::fixed(1.0, None).expect("valid grid"));
    let lat = Lattice::<f64>::new(&grid);
    let mut bounds = match spec.problem.radius {
        Some(r) => Bounds { lo: -r, hi: r },
        None => Bounds::unbounded(),
    };
    if let Method::Bc { clip: true, .. } = method {
        bounds = Bounds { lo: bounds.lo.max(grid.lo), hi: bounds.hi.min(grid.hi) };
    }

    let w0: Vec<f64> = match spec.problem.init {
        Init::Zero => vec![0.0; d],
        Init::Normal { std } => {
            let mut rng = seeded(spec.seeds.init);
            (0..d).map(|_| std * rng.sample::<f64, _>(StandardNormal)).collect()
        }
    };
    let mut w: Weights<f64> = method.init(w0, &lat, bounds, draw(spec.seeds.rounding, 0));
    let mut opt = Optimizer::<f64>::new(spec.optim, d);
    let mut sampler = Sampler::new(spec.seeds.batches, m, spec.sampling);
    let mut batch = vec![0usize; spec.batch];
    let mut g = vec![0.0; d];
    let mut avg = w.deployed.clone();
    let mut avg_latent = w.latent.clone();
    let mut prev = w.deployed.clone();

    let mut rows = Vec::new();
    let mut last_change = 0;
    let mut interval = Interval::default();
    let mut lr = spec.schedule.lr(spec.lr, 0);

    let ctx = RowContext { problem, method, batch: spec.batch };
    rows.push(ctx.row(0, &w, &avg, &avg_latent, lr, Interval::default(), &mut prev));
    for t in 0..spec.steps {
        sampler.fill(m, &mut batch);
        problem.grad_batch(&w.deployed, &batch, &mut g);
        interval.grad_sq += crate::linalg::norm2(&g);
        opt.direction(&mut g);
        lr = spec.schedule.lr(spec.lr, t);
        let st = method.step(&mut w, &g, lr, &lat, bounds, draw(spec.seeds.rounding, t + 1));
        if st.changed > 0 {
            last_change = t + 1;
        }
        interval.subcell += st.subcell;
        interval.steps += 1;
        // Uniform average of the iterates w_1..w_t (and of BC's latent ones).
        let inv = 1.0 / (t + 1) as f64;
        for (a, x) in avg.iter_mut().zip(&w.deployed) {
            *a += (x - *a) * inv;
        }
        if let (Some(al), Some(l)) = (avg_latent.as_mut(), w.latent.as_ref()) {
            for (a, x) in al.iter_mut().zip(l) {
                *a += (x - *a) * inv;
            }
        }
        let done = t + 1;
        if done % spec.log_every == 0 || done == spec.steps {
            let row = ctx.row(done, &w, &avg, &avg_latent, lr, std::mem::take(&mut interval), &mut prev);
            let finite = row.loss.is_finite() && row.gap_latent.is_none_or(f64::is_finite);
            let loss = row.loss;
            rows.push(row);
            if !finite {
                let failure = Some(format!("diverged: loss = {loss} at step {done}"));
                return Outcome { rows, failure, last_change, weights: w };
            }
        }
    }
    Outcome { rows, failure: None, last_change, weights: w }
}

/// Sums over the steps since the previous row.
#[derive(Default)]
struct Interval {
    grad_sq: f64,
    subcell: usize,
    steps: u64,
}

struct RowContext<'a> {
    problem: &'a ConvexProblem,
    method: Method,
    batch: usize,
}

impl RowContext<'_> {
    #[allow(clippy::too_many_arguments)]
    fn row(
        &self,
        t: u64,
        w: &Weights<f64>,
        avg: &[f64],
        avg_latent: &Option<Vec<f64>>,
        lr: f64,
        iv: Interval,
        prev: &mut [f64],
    ) -> Row {
        let p = self.problem;
        let (d, m) = (p.dim() as f64, p.samples() as f64);
        let (loss, gap) = p.value(&w.deployed);
        let changed = w.deployed.iter().zip(prev.iter()).filter(|(a, b)| a != b).count();
        prev.copy_from_slice(&w.deployed);
        let n = iv.steps as f64;
        Row {
            step: t,
            epoch: t as f64 * self.batch as f64 / m,
            lr,
            loss,
            gap,
            gap_latent: w.latent.as_ref().map(|l| p.gap(l)),
            gap_avg: p.gap(avg),
            gap_avg_latent: avg_latent.as_ref().map(|l| p.gap(l)),
            dist: p.dist(&w.deployed),
            changed_frac: changed as f64 / d,
            subcell_frac: (self.method.is_quantized() && iv.steps > 0).then(|| iv.subcell as f64 / (n * d)),
            grad_norm: (iv.steps > 0).then(|| (iv.grad_sq / n).sqrt()),
        }
    }
}
