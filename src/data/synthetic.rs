//! Synthetic design matrices and teachers.
//!
//! Features: `x_ij = z_ij * s_j * scale` with `z ~ N(0, 1)` and column scales
//! `s_j = cond^(-j / (2 (d - 1)))`, so E[X^T X / m] has eigenvalues from 1 down to
//! 1/cond. Teacher `w_true ~ N(0, I)`.
//! - regression: `y = X w_true + noise * N(0, 1)`
//! - classification: `y = sign(x . w_true)` in {-1, +1}, each flipped with probability `noise`.

use ndarray::Array2;
use rand::RngExt;
use rand_distr::StandardNormal;

use crate::linalg::dot;
use crate::rng::seeded;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    Regression,
    Classification,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticSpec {
    pub dim: usize,
    pub samples: usize,
    pub noise: f64,
    pub cond: f64,
    pub target: Target,
    /// Every feature multiplied by this (1: as described above).
    pub scale: f64,
}

pub struct Dataset {
    pub x: Array2<f64>,
    pub y: Vec<f64>,
    pub w_true: Vec<f64>,
}

pub fn generate(spec: &SyntheticSpec, seed: u64) -> Dataset {
    let (m, d) = (spec.samples, spec.dim);
    let mut rng = seeded(seed);
    let scales: Vec<f64> = (0..d)
        .map(|j| if d > 1 { spec.cond.powf(-(j as f64) / (2.0 * (d - 1) as f64)) } else { 1.0 } * spec.scale)
        .collect();
    let w_true: Vec<f64> = (0..d).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
    let mut x = Array2::<f64>::zeros((m, d));
    let mut y = Vec::with_capacity(m);
    for mut row in x.rows_mut() {
        let r = row.as_slice_mut().expect("standard layout");
        for (v, s) in r.iter_mut().zip(&scales) {
            *v = rng.sample::<f64, _>(StandardNormal) * s;
        }
        let clean = dot(r, &w_true);
        let yi = match spec.target {
            Target::Regression => clean + spec.noise * rng.sample::<f64, _>(StandardNormal),
            Target::Classification => {
                let label = if clean >= 0.0 { 1.0 } else { -1.0 };
                if rng.random::<f64>() < spec.noise {
                    -label
                } else {
                    label
                }
            }
        };
        y.push(yi);
    }
    Dataset { x, y, w_true }
}
