//! Batch normalisation over features, PyTorch's way: training mode normalises with the
//! batch mean and the biased batch variance (eps = 1e-5) and moves the running mean and
//! unbiased variance ([`BnState`], model state, not parameters) with momentum 0.1; inference
//! mode uses the running statistics. Applied after an affine map and before the ReLU
//! (BinaryConnect's order), so forward and backward here include the ReLU. In training mode
//! the bias before a BN layer cancels out, so its gradient is exactly zero (written as 0,
//! not as the rounding noise of a sum that cancels); it still shifts the running mean
//! consistently, so inference is unaffected.

use super::act::{relu, relu_backward};
use super::dense::col_sums;
use crate::nets::layout::Layout;

/// Batch-norm epsilon added to the variance (PyTorch's default).
pub const BN_EPS: f32 = 1e-5;

/// Default weight of the new batch statistics in the running averages (PyTorch's default).
pub const BN_MOMENTUM: f32 = 0.1;

/// Batch-norm running statistics: model state, not parameters (no gradient, never quantized).
#[derive(Clone, Debug, PartialEq)]
pub struct BnState {
    /// Running mean of each BN feature's input, layers concatenated (see [`BnRanges::stats`](crate::nets::layout::BnRanges::stats)).
    pub mean: Vec<f32>,
    /// Running unbiased variance, same order.
    pub var: Vec<f32>,
    /// `running = (1 - momentum) running + momentum batch` ([`BN_MOMENTUM`] by default).
    pub momentum: f32,
}

impl BnState {
    /// Mean 0, variance 1 (PyTorch's start); empty for a net without batch norm.
    pub fn new(layout: &Layout) -> BnState {
        BnState { mean: vec![0.0; layout.bn_features()], var: vec![1.0; layout.bn_features()], momentum: BN_MOMENTUM }
    }
}

/// Per-feature mean and biased variance of a sample-major `B x n` batch (two passes, so no
/// cancellation; samples added in order).
pub(crate) fn batch_moments(z: &[f32], mean: &mut [f32], var: &mut [f32]) {
    let n = mean.len();
    let inv_b = 1.0 / (z.len() / n) as f32;
    col_sums(z, mean);
    for m in mean.iter_mut() {
        *m *= inv_b;
    }
    var.fill(0.0);
    for row in z.chunks_exact(n) {
        for ((v, &zz), &m) in var.iter_mut().zip(row).zip(mean.iter()) {
            let d = zz - m;
            *v += d * d;
        }
    }
    for v in var.iter_mut() {
        *v *= inv_b;
    }
}

/// `z <- xhat = (z - mean) inv_std` and `h = relu(gamma xhat + beta)` (sample-major).
pub(crate) fn bn_train_apply(z: &mut [f32], h: &mut [f32], mean: &[f32], inv_std: &[f32], gamma: &[f32], beta: &[f32]) {
    let n = mean.len();
    for (zr, hr) in z.chunks_exact_mut(n).zip(h.chunks_exact_mut(n)) {
        for j in 0..n {
            let xh = (zr[j] - mean[j]) * inv_std[j];
            zr[j] = xh;
            hr[j] = relu(gamma[j] * xh + beta[j]);
        }
    }
}

/// Through ReLU then batch norm: on entry `dz` holds dL/dh, on exit dL/dz (z the BN input);
/// writes dL/dgamma and dL/dbeta. With `dy = dh [h > 0]`:
/// `dz = gamma inv_std (dy - (dbeta + xhat dgamma) / B)`, `dbeta = sum dy`,
/// `dgamma = sum dy xhat`.
pub(crate) fn bn_backward(
    dz: &mut [f32],
    h: &[f32],
    xhat: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let n = inv_std.len();
    let inv_b = 1.0 / (dz.len() / n) as f32;
    relu_backward(dz, h);
    dgamma.fill(0.0);
    dbeta.fill(0.0);
    for (dr, xr) in dz.chunks_exact(n).zip(xhat.chunks_exact(n)) {
        for j in 0..n {
            dbeta[j] += dr[j];
            dgamma[j] += dr[j] * xr[j];
        }
    }
    for (dr, xr) in dz.chunks_exact_mut(n).zip(xhat.chunks_exact(n)) {
        for j in 0..n {
            dr[j] = gamma[j] * inv_std[j] * (dr[j] - (dbeta[j] + xr[j] * dgamma[j]) * inv_b);
        }
    }
}
