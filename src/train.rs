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
    pub dist_latent: Option<f64>,
    pub changed_frac: f64,
    pub subcell_frac: Option<f64>,
    pub grad_norm: Option<f64>,
    /// The theory's bound on E[F(w_bar_t) - F*] for this run (see `theory`), filled in
    /// after the run because it uses the measured G.
    pub bound: Option<f64>,
    /// Toys only: time average of F at the deployed weights since burn-in.
    pub mean_f: Option<f64>,
    /// Toys only: fraction of the steps since burn-in spent at a global grid minimiser.
    pub p_min: Option<f64>,
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
    "dist_latent",
    "changed_frac",
    "subcell_frac",
    "grad_norm",
    "bound",
    "mean_f",
    "p_min",
];

pub struct Outcome {
    pub rows: Vec<Row>,
    /// Why the run failed (divergence), if it did.
    pub failure: Option<String>,
    /// The last step at which any deployed weight changed (0: never).
    pub last_change: u64,
    /// The weights at the end of the run.
    pub weights: Weights<f64>,
    /// Measured along every step, independent of logging (for the theory).
    pub measured: Measured,
}

/// Steps per window over which E||g||^2 is estimated for the measured G.
pub const G_WINDOW: u64 = 100;

/// Quantities the theory needs, measured at every step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    /// sqrt of the largest mean of ||g_t||^2 over a window of G_WINDOW steps (the last,
    /// partial window counts only when there is no full one).
    pub g_sup: f64,
    /// Largest distance to w* of the iterates the bound is about (BC: latent), w_0 included.
    pub dist_max: f64,
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

/// The state of one run between steps. `step` is the whole per-step work; benchmarks
/// time exactly this.
pub struct Trainer<'a> {
    spec: &'a RunSpec,
    problem: &'a ConvexProblem,
    lat: Lattice<f64>,
    bounds: Bounds<f64>,
    opt: Optimizer<f64>,
    sampler: Sampler,
    batch: Vec<usize>,
    g: Vec<f64>,
    pub w: Weights<f64>,
    /// Uniform average of the iterates w_1..w_t (and of BC's latent ones).
    pub avg: Vec<f64>,
    pub avg_latent: Option<Vec<f64>>,
    /// Steps taken so far.
    pub t: u64,
    /// The step size of the last step.
    pub lr: f64,
    pub last_change: u64,
    alpha0: f64,
    interval: Interval,
    g2_window: f64,
    g2_sup: f64,
    dist2_max: f64,
}

/// The initial step size of a run on its problem instance.
pub fn alpha0(spec: &RunSpec, problem: &ConvexProblem) -> f64 {
    spec.convex().lr.alpha0(problem.mu)
}

impl<'a> Trainer<'a> {
    pub fn new(spec: &'a RunSpec, problem: &'a ConvexProblem) -> Self {
        let d = problem.dim();
        // FP never rounds; any lattice will do for it.
        let grid = spec.grid().unwrap_or(Grid::fixed(1.0, None).expect("valid grid"));
        let lat = Lattice::<f64>::new(&grid);
        let cs = spec.convex();
        let mut bounds = match cs.radius {
            Some(r) => Bounds { lo: -r, hi: r },
            None => Bounds::unbounded(),
        };
        if let Method::Bc { clip: true, .. } = spec.method {
            bounds = Bounds { lo: bounds.lo.max(grid.lo), hi: bounds.hi.min(grid.hi) };
        }
        let w0: Vec<f64> = match cs.init {
            Init::Zero => vec![0.0; d],
            Init::Normal { std } => {
                let mut rng = seeded(spec.seeds.init);
                (0..d).map(|_| std * rng.sample::<f64, _>(StandardNormal)).collect()
            }
        };
        let w = spec.method.init(w0, &lat, bounds, draw(spec.seeds.rounding, 0));
        Trainer {
            spec,
            problem,
            lat,
            bounds,
            opt: Optimizer::new(spec.optim, d),
            sampler: Sampler::new(spec.seeds.batches, problem.samples(), spec.convex().sampling),
            batch: vec![0; spec.batch],
            g: vec![0.0; d],
            avg: w.deployed.clone(),
            avg_latent: w.latent.clone(),
            w,
            t: 0,
            lr: spec.schedule.lr(alpha0(spec, problem), 0),
            alpha0: alpha0(spec, problem),
            last_change: 0,
            interval: Interval::default(),
            g2_window: 0.0,
            g2_sup: 0.0,
            dist2_max: 0.0,
        }
        .with_initial_distance()
    }

    fn with_initial_distance(mut self) -> Self {
        self.track_distance();
        self
    }

    /// One optimizer step: minibatch, gradient at the deployed weights, direction,
    /// the method's update and rounding, running averages.
    #[inline]
    pub fn step(&mut self) {
        let t = self.t;
        self.sampler.fill(self.problem.samples(), &mut self.batch);
        self.problem.grad_batch(&self.w.deployed, &self.batch, &mut self.g);
        let g2 = crate::linalg::norm2(&self.g);
        self.interval.grad_sq += g2;
        self.g2_window += g2;
        if (t + 1) % G_WINDOW == 0 {
            self.g2_sup = self.g2_sup.max(self.g2_window / G_WINDOW as f64);
            self.g2_window = 0.0;
        }
        self.opt.direction(&mut self.g);
        self.lr = self.spec.schedule.lr(self.alpha0, t);
        let key = draw(self.spec.seeds.rounding, t + 1);
        let st = self.spec.method.step(&mut self.w, &self.g, self.lr, &self.lat, self.bounds, key);
        if st.changed > 0 {
            self.last_change = t + 1;
        }
        self.interval.subcell += st.subcell;
        self.interval.steps += 1;
        let inv = 1.0 / (t + 1) as f64;
        for (a, x) in self.avg.iter_mut().zip(&self.w.deployed) {
            *a += (x - *a) * inv;
        }
        if let (Some(al), Some(l)) = (self.avg_latent.as_mut(), self.w.latent.as_ref()) {
            for (a, x) in al.iter_mut().zip(l) {
                *a += (x - *a) * inv;
            }
        }
        self.track_distance();
        self.t = t + 1;
    }

    fn track_distance(&mut self) {
        let w = self.w.latent.as_ref().unwrap_or(&self.w.deployed);
        let d2: f64 = w.iter().zip(&self.problem.w_star).map(|(a, b)| (a - b) * (a - b)).sum();
        self.dist2_max = self.dist2_max.max(d2);
    }

    /// The theory's measured G and D so far.
    pub fn measured(&self) -> Measured {
        let partial = self.t % G_WINDOW;
        let g2 = if self.g2_sup == 0.0 && partial > 0 { self.g2_window / partial as f64 } else { self.g2_sup };
        Measured { g_sup: g2.sqrt(), dist_max: self.dist2_max.sqrt() }
    }

    /// The metrics row at the current point; starts a new logging interval.
    fn row(&mut self, prev: &mut [f64]) -> Row {
        let ctx = RowContext { problem: self.problem, method: self.spec.method, batch: self.spec.batch };
        let iv = std::mem::take(&mut self.interval);
        ctx.row(self.t, &self.w, &self.avg, &self.avg_latent, self.lr, iv, prev)
    }
}

/// Run one configuration to the end (or to divergence).
pub fn train(spec: &RunSpec, problem: &ConvexProblem) -> Outcome {
    let mut tr = Trainer::new(spec, problem);
    let mut prev = tr.w.deployed.clone();
    let mut rows = vec![tr.row(&mut prev)];
    while tr.t < spec.steps {
        tr.step();
        if tr.t % spec.log_every == 0 || tr.t == spec.steps {
            let row = tr.row(&mut prev);
            let (finite, loss) = (row.loss.is_finite() && row.gap_latent.is_none_or(f64::is_finite), row.loss);
            rows.push(row);
            if !finite {
                let failure = Some(format!("diverged: loss = {loss} at step {}", tr.t));
                let measured = tr.measured();
                return Outcome { rows, failure, last_change: tr.last_change, weights: tr.w, measured };
            }
        }
    }
    let measured = tr.measured();
    Outcome { rows, failure: None, last_change: tr.last_change, weights: tr.w, measured }
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
            dist_latent: w.latent.as_ref().map(|l| p.dist(l)),
            changed_frac: changed as f64 / d,
            subcell_frac: (self.method.is_quantized() && iv.steps > 0).then(|| iv.subcell as f64 / (n * d)),
            grad_norm: (iv.steps > 0).then(|| (iv.grad_sq / n).sqrt()),
            bound: None,
            mean_f: None,
            p_min: None,
        }
    }
}
