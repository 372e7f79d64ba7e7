//! A convex problem: parameters as one flat vector, loss and gradient on a batch, and the
//! exact optimum. Problems know nothing of training methods.

use ndarray::Array2;

use super::{least_squares, logistic};
use crate::linalg::{axpy, dot};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// F(w) = 1/(2m) ||Xw - y||^2 + (lambda/2) ||w||^2
    Squared,
    /// F(w) = (1/m) sum log(1 + exp(-y_i x_i.w)) + (lambda/2) ||w||^2, y in {-1, +1}
    Logistic,
}

/// A convex empirical-risk problem in f64, with its minimiser known to ~1e-12.
pub struct ConvexProblem {
    pub loss: Loss,
    pub x: Array2<f64>,
    pub y: Vec<f64>,
    pub lambda: f64,
    pub w_star: Vec<f64>,
    pub f_star: f64,
    /// Least squares only: the (constant) Hessian X^T X / m + lambda I, row-major.
    pub hessian: Option<Vec<f64>>,
    /// Strong convexity and smoothness constants: the extreme Hessian eigenvalues for
    /// least squares; lambda and lambda_max(X^T X)/(4m) + lambda for logistic.
    pub mu: f64,
    pub smoothness: f64,
}

impl ConvexProblem {
    pub fn dim(&self) -> usize {
        self.x.ncols()
    }

    pub fn samples(&self) -> usize {
        self.x.nrows()
    }

    fn xs(&self) -> &[f64] {
        self.x.as_slice().expect("standard layout")
    }

    /// Per-sample loss and its derivative with respect to the margin/prediction z = x.w.
    #[inline]
    fn sample_loss_grad(&self, z: f64, y: f64) -> (f64, f64) {
        match self.loss {
            Loss::Squared => {
                let r = z - y;
                (0.5 * r * r, r)
            }
            Loss::Logistic => {
                let t = -y * z;
                // log(1 + e^t) and its derivative sigmoid(t), stable for large |t|.
                let l = t.max(0.0) + (-t.abs()).exp().ln_1p();
                let s = if t >= 0.0 { 1.0 / (1.0 + (-t).exp()) } else { t.exp() / (1.0 + t.exp()) };
                (l, -y * s)
            }
        }
    }

    /// F(w) over the whole data set.
    pub fn loss(&self, w: &[f64]) -> f64 {
        let d = self.dim();
        let mut s = 0.0;
        for (row, &yi) in self.xs().chunks_exact(d).zip(&self.y) {
            s += self.sample_loss_grad(dot(row, w), yi).0;
        }
        s / self.samples() as f64 + 0.5 * self.lambda * dot(w, w)
    }

    /// F(w) - F*. For least squares the exact quadratic form 1/2 e^T H e (no cancellation),
    /// otherwise the difference of the two losses.
    pub fn gap(&self, w: &[f64]) -> f64 {
        match &self.hessian {
            Some(h) => {
                let e: Vec<f64> = w.iter().zip(&self.w_star).map(|(a, b)| a - b).collect();
                0.5 * crate::linalg::quad_form(h, &e)
            }
            None => self.loss(w) - self.f_star,
        }
    }

    /// The minibatch gradient (1/|B|) sum_{i in B} grad f_i(w) + lambda w, into `g`.
    #[inline]
    pub fn grad_batch(&self, w: &[f64], batch: &[usize], g: &mut [f64]) {
        let d = self.dim();
        let xs = self.xs();
        g.iter_mut().for_each(|v| *v = 0.0);
        for &i in batch {
            let row = &xs[i * d..(i + 1) * d];
            let (_, dz) = self.sample_loss_grad(dot(row, w), self.y[i]);
            axpy(dz, row, g);
        }
        let inv = 1.0 / batch.len() as f64;
        for (gi, wi) in g.iter_mut().zip(w) {
            *gi = *gi * inv + self.lambda * wi;
        }
    }

    /// The full gradient of F at w.
    pub fn grad_full(&self, w: &[f64], g: &mut [f64]) {
        let all: Vec<usize> = (0..self.samples()).collect();
        self.grad_batch(w, &all, g);
    }

    /// Distance to the minimiser.
    pub fn dist(&self, w: &[f64]) -> f64 {
        w.iter().zip(&self.w_star).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt()
    }
}

impl ConvexProblem {
    /// (F(w), F(w) - F*), each computed the accurate way for the loss.
    pub fn value(&self, w: &[f64]) -> (f64, f64) {
        // Least squares: the gap is the exact quadratic form and F follows from it;
        // logistic: F is evaluated and the gap is the difference.
        let gap = self.gap(w);
        (self.f_star + gap, gap)
    }
}

impl crate::metrics::Objective for ConvexProblem {
    fn value(&self, w: &[f64]) -> (f64, f64) {
        ConvexProblem::value(self, w)
    }

    fn gap(&self, w: &[f64]) -> f64 {
        ConvexProblem::gap(self, w)
    }

    fn dist(&self, w: &[f64]) -> f64 {
        ConvexProblem::dist(self, w)
    }
}

/// Generate the data set of a problem spec with its data seed and solve for the optimum.
pub fn build(spec: &crate::config::ConvexSpec, data_seed: u64) -> Result<ConvexProblem, String> {
    let ds = crate::data::synthetic::generate(&spec.data, data_seed);
    match spec.loss {
        Loss::Squared => least_squares::build(ds.x, ds.y, spec.lambda),
        Loss::Logistic => logistic::build(ds.x, ds.y, spec.lambda),
    }
}
