//! One metrics pipeline for the runs that step f64 weights (convex problems and toys): the
//! row type of their metrics.csv, and the recorder that keeps what a row needs between
//! rows (running averages of the iterates, the weights at the previous row, the gradient
//! norms and sub-cell updates of the interval) and checks for divergence.

use serde::{Deserialize, Serialize};

use crate::family::{Measure, RunColumn};
use crate::method::Weights;
use crate::output::csv::{f64_cell, opt_cell};

/// One metrics.csv row of a convex or toy run. `None` is an empty cell (the quantity does
/// not apply).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub step: u64,
    #[serde(with = "opt_cell")]
    pub epoch: Option<f64>,
    #[serde(with = "f64_cell")]
    pub lr: f64,
    #[serde(with = "f64_cell")]
    pub loss: f64,
    #[serde(with = "f64_cell")]
    pub gap: f64,
    #[serde(with = "opt_cell")]
    pub gap_latent: Option<f64>,
    #[serde(with = "f64_cell")]
    pub gap_avg: f64,
    #[serde(with = "opt_cell")]
    pub gap_avg_latent: Option<f64>,
    #[serde(with = "f64_cell")]
    pub dist: f64,
    #[serde(with = "opt_cell")]
    pub dist_latent: Option<f64>,
    #[serde(with = "f64_cell")]
    pub changed_frac: f64,
    #[serde(with = "opt_cell")]
    pub subcell_frac: Option<f64>,
    #[serde(with = "opt_cell")]
    pub grad_norm: Option<f64>,
    /// The theory's bound on E[F(w_bar_t) - F*] for this run (see `convex::theory`),
    /// filled in after the run because it uses the measured G.
    #[serde(with = "opt_cell")]
    pub bound: Option<f64>,
    /// Toys only: time average of F at the deployed weights since burn-in.
    #[serde(with = "opt_cell")]
    pub mean_f: Option<f64>,
    /// Toys only: fraction of the steps since burn-in spent at a global grid minimiser.
    #[serde(with = "opt_cell")]
    pub p_min: Option<f64>,
}

/// metrics.csv's columns, in the order of [`Row`]'s fields.
pub const COLUMNS: &[&str] = &[
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

impl Row {
    /// Why the run must stop at this row: a non-finite loss at the deployed weights or at
    /// BC's latent ones.
    pub fn divergence(&self) -> Option<String> {
        let finite = self.loss.is_finite() && self.gap_latent.is_none_or(f64::is_finite);
        (!finite).then(|| format!("diverged: loss = {} at step {}", self.loss, self.step))
    }
}

/// The gap measures of a run with [`Row`]s: the final gap, and the tail means of the gap at
/// the deployed, latent, averaged and averaged latent weights.
pub const GAP_MEASURES: [Measure; 5] = [
    Measure { name: "final_gap", of: |r| r.metrics.last("gap") },
    Measure { name: "tail_gap", of: |r| r.metrics.tail_mean("gap") },
    Measure { name: "tail_gap_latent", of: |r| r.metrics.tail_mean("gap_latent") },
    Measure { name: "tail_gap_avg", of: |r| r.metrics.tail_mean("gap_avg") },
    Measure { name: "tail_gap_avg_latent", of: |r| r.metrics.tail_mean("gap_avg_latent") },
];

/// runs.csv's final gap of a run with [`Row`]s.
pub const FINAL_GAP_COLUMN: RunColumn =
    RunColumn { name: "final_gap", of: |r| crate::output::fmt_opt(r.metrics.last("gap")) };

/// Where a run's rows go: a CSV file while a sweep runs, a vector in tests.
pub trait RowSink<R> {
    fn push(&mut self, row: &R) -> std::io::Result<()>;
}

impl<R: Clone> RowSink<R> for Vec<R> {
    fn push(&mut self, row: &R) -> std::io::Result<()> {
        Vec::push(self, row.clone());
        Ok(())
    }
}

/// What a row evaluates the weights with.
pub trait Objective {
    /// `(F(w), F(w) - F*)`, each the accurate way for the problem.
    fn value(&self, w: &[f64]) -> (f64, f64);
    /// `F(w) - F*`.
    fn gap(&self, w: &[f64]) -> f64;
    /// Distance to the (nearest) minimiser.
    fn dist(&self, w: &[f64]) -> f64;
}

/// The state between two rows.
pub struct Recorder {
    /// Uniform average of the iterates w_1..w_t (and of BC's latent ones).
    avg: Vec<f64>,
    avg_latent: Option<Vec<f64>>,
    /// Deployed weights at the previous row.
    prev: Vec<f64>,
    /// Sums over the steps since the previous row.
    grad_sq: f64,
    subcell: usize,
    steps: u64,
    /// Whether rows report `subcell_frac` (the fraction of updates below half a cell).
    report_subcell: bool,
}

impl Recorder {
    /// Start at the initial weights (they are the average until the first step).
    pub fn new(w: &Weights<f64>, report_subcell: bool) -> Recorder {
        Recorder {
            avg: w.deployed.clone(),
            avg_latent: w.latent.clone(),
            prev: w.deployed.clone(),
            grad_sq: 0.0,
            subcell: 0,
            steps: 0,
            report_subcell,
        }
    }

    /// The squared norm of this step's stochastic gradient.
    #[inline]
    pub fn gradient(&mut self, norm2: f64) {
        self.grad_sq += norm2;
    }

    /// After step `t` (0-based) left the weights at `w`, with `subcell` coordinates whose
    /// update was below half a grid cell.
    #[inline]
    pub fn step(&mut self, w: &Weights<f64>, t: u64, subcell: usize) {
        self.subcell += subcell;
        self.steps += 1;
        let inv = 1.0 / (t + 1) as f64;
        for (a, x) in self.avg.iter_mut().zip(&w.deployed) {
            *a += (x - *a) * inv;
        }
        if let (Some(al), Some(l)) = (self.avg_latent.as_mut(), w.latent.as_ref()) {
            for (a, x) in al.iter_mut().zip(l) {
                *a += (x - *a) * inv;
            }
        }
    }

    /// The row at the current weights; starts a new interval. `quantized`: the method
    /// rounds (the sub-cell fraction means something).
    pub fn row(&mut self, obj: &impl Objective, w: &Weights<f64>, at: RowAt, quantized: bool) -> Row {
        let d = w.deployed.len() as f64;
        let (loss, gap) = obj.value(&w.deployed);
        let changed = w.deployed.iter().zip(&self.prev).filter(|(a, b)| a != b).count();
        self.prev.copy_from_slice(&w.deployed);
        let n = self.steps as f64;
        let row = Row {
            step: at.step,
            epoch: at.epoch,
            lr: at.lr,
            loss,
            gap,
            gap_latent: w.latent.as_ref().map(|l| obj.gap(l)),
            gap_avg: obj.gap(&self.avg),
            gap_avg_latent: self.avg_latent.as_ref().map(|l| obj.gap(l)),
            dist: obj.dist(&w.deployed),
            dist_latent: w.latent.as_ref().map(|l| obj.dist(l)),
            changed_frac: changed as f64 / d,
            subcell_frac: (self.report_subcell && quantized && self.steps > 0).then(|| self.subcell as f64 / (n * d)),
            grad_norm: (self.steps > 0).then(|| (self.grad_sq / n).sqrt()),
            bound: None,
            mean_f: at.mean_f,
            p_min: at.p_min,
        };
        (self.grad_sq, self.subcell, self.steps) = (0.0, 0, 0);
        row
    }
}

/// Where a row is taken: the step, the epoch (where the run has one), the step size of the
/// last step, and the toys' time averages.
#[derive(Clone, Copy, Debug, Default)]
pub struct RowAt {
    pub step: u64,
    pub epoch: Option<f64>,
    pub lr: f64,
    pub mean_f: Option<f64>,
    pub p_min: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F(w) = |w|^2 / 2 with minimiser 0.
    struct Bowl;
    impl Objective for Bowl {
        fn value(&self, w: &[f64]) -> (f64, f64) {
            let f = w.iter().map(|x| x * x).sum::<f64>() / 2.0;
            (f, f)
        }
        fn gap(&self, w: &[f64]) -> f64 {
            self.value(w).1
        }
        fn dist(&self, w: &[f64]) -> f64 {
            w.iter().map(|x| x * x).sum::<f64>().sqrt()
        }
    }

    #[test]
    fn rows_average_the_iterates_and_count_the_interval() {
        let mut w = Weights { deployed: vec![0.0, 4.0], latent: Some(vec![0.0, 4.0]) };
        let mut rec = Recorder::new(&w, true);
        let at = |step| RowAt { step, lr: 0.5, ..RowAt::default() };
        let r0 = rec.row(&Bowl, &w, at(0), true);
        assert_eq!((r0.changed_frac, r0.grad_norm, r0.subcell_frac), (0.0, None, None));
        for (t, x) in [2.0, 4.0].into_iter().enumerate() {
            w.deployed[0] = x;
            rec.gradient(9.0);
            rec.step(&w, t as u64, 1);
        }
        let r = rec.row(&Bowl, &w, at(2), true);
        // Average of (2, 4) and (4, 4); two steps of |g|^2 = 9; one of two coordinates moved.
        assert_eq!(r.gap_avg, (9.0 + 16.0) / 2.0);
        assert_eq!((r.grad_norm, r.subcell_frac, r.changed_frac), (Some(3.0), Some(0.5), 0.5));
        assert_eq!(r.gap_latent, Some(8.0));
        assert_eq!(r.divergence(), None);
        // A new interval: nothing counted yet.
        let r = rec.row(&Bowl, &w, at(2), false);
        assert_eq!((r.grad_norm, r.changed_frac, r.subcell_frac), (None, 0.0, None));
        w.deployed[1] = f64::NAN;
        assert_eq!(rec.row(&Bowl, &w, at(3), true).divergence().unwrap(), "diverged: loss = NaN at step 3");
    }

    #[test]
    fn the_struct_and_the_column_list_agree() {
        let mut w = csv::WriterBuilder::new().has_headers(true).from_writer(vec![]);
        w.serialize(Row {
            step: 0,
            epoch: None,
            lr: 0.0,
            loss: 0.0,
            gap: 0.0,
            gap_latent: None,
            gap_avg: 0.0,
            gap_avg_latent: None,
            dist: 0.0,
            dist_latent: None,
            changed_frac: 0.0,
            subcell_frac: None,
            grad_norm: None,
            bound: None,
            mean_f: None,
            p_min: None,
        })
        .unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), COLUMNS.join(","));
    }
}
