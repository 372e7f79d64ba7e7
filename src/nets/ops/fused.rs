//! A convolution's element-wise passes fused with the 2 x 2 max-pooling that follows it:
//! the activation (batch norm + ReLU, or bias + ReLU) is computed on the fly from the
//! convolution's raw output `z` (CNHW) while pooling, and the backward pass routes the
//! pooled gradient through the window's winner, the ReLU and batch norm channel by channel
//! with the channel's gradient in an L2-resident scratch buffer. Neither the activation `h`
//! nor the full-size gradient `dL/dh` is ever written to memory.
//!
//! Same bits as the separate passes ([`super::bn_channel`], [`super::pool`]): every value is
//! computed by the same expression (`h = relu(gamma ((z - mean) inv_std) + beta)`, the
//! same masks), and the batch-norm sums run through the same fixed blocks over the same
//! per-element values (the tests compare both bit for bit).
//!
//! Why: on LeNet's first layer (32 x 100 x 28 x 28 floats, 10 MB) the separate passes
//! traverse the activation about 14 times per step (statistics, normalise and write `xhat`
//! and `h`, pool; pool backward writes `dh`, two batch-norm passes read `dh`, `h`, `xhat`
//! and write `dz`), at ~13 GB/s. Fused: about 5 (statistics, pool; per channel the
//! backward reads `z` once from memory and once from L2, writes `dz`).

use std::cell::RefCell;

use super::{block_sum, for_chunks2};
use crate::nets::gemm::Parallelism;

/// `max(0, x)` that keeps NaN (as [`super::bn_channel`]'s).
#[inline(always)]
fn relu(v: f32) -> f32 {
    if v < 0.0 {
        0.0
    } else {
        v
    }
}

thread_local! {
    /// One channel's `dL/dh` (B*H*W values) in the backward pass.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The activation of one channel's values.
pub trait Act: Sync {
    fn act(&self, c: usize, z: f32) -> f32;
}

/// Batch norm in training mode (batch mean and 1/std) then ReLU:
/// `relu(gamma ((z - mean) inv_std) + beta)`, as `bn_channel::bn_train_apply`.
pub struct BnTrain<'a> {
    pub mean: &'a [f32],
    pub inv_std: &'a [f32],
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
}

impl BnTrain<'_> {
    #[inline(always)]
    fn xhat(&self, c: usize, z: f32) -> f32 {
        (z - self.mean[c]) * self.inv_std[c]
    }
}

impl Act for BnTrain<'_> {
    #[inline(always)]
    fn act(&self, c: usize, z: f32) -> f32 {
        relu(self.gamma[c] * self.xhat(c, z) + self.beta[c])
    }
}

/// `relu(s z + t)`: inference-mode batch norm folded into a scale and shift, as
/// `bn_channel::scale_shift_relu`.
pub struct ScaleShift<'a> {
    pub s: &'a [f32],
    pub t: &'a [f32],
}

impl Act for ScaleShift<'_> {
    #[inline(always)]
    fn act(&self, c: usize, z: f32) -> f32 {
        relu(self.s[c] * z + self.t[c])
    }
}

/// `relu(z + bias)`, as `bn_channel::bias_relu`.
pub struct BiasRelu<'a> {
    pub bias: &'a [f32],
}

impl Act for BiasRelu<'_> {
    #[inline(always)]
    fn act(&self, c: usize, z: f32) -> f32 {
        relu(z + self.bias[c])
    }
}

/// `y`, `arg` = 2 x 2 max-pooling of `act(z)` (CNHW, `channels` channels of `h x w` planes),
/// with `maxpool2_forward`'s conventions (ties to the first, NaN wins).
#[allow(clippy::too_many_arguments)]
pub fn act_pool_forward<A: Act>(
    z: &[f32],
    channels: usize,
    h: usize,
    w: usize,
    y: &mut [f32],
    arg: &mut [u8],
    act: &A,
    par: Parallelism,
) {
    assert!(h % 2 == 0 && w % 2 == 0, "pool: plane {h} x {w} must have even sides");
    let n = z.len() / channels;
    assert_eq!(n * channels, z.len(), "pool: {} values do not split into {channels} channels", z.len());
    assert!(y.len() == z.len() / 4 && arg.len() == z.len() / 4, "pool: y and arg must hold a quarter of z");
    if n == 0 {
        return;
    }
    let (ho, wo) = (h / 2, w / 2);
    for_chunks2(par, y, n / 4, arg, n / 4, z.len(), |c, yc, ac| {
        let zc = &z[c * n..][..n];
        for ((zp, yp), ap) in zc.chunks_exact(h * w).zip(yc.chunks_exact_mut(ho * wo)).zip(ac.chunks_exact_mut(ho * wo))
        {
            for ((rows, yr), ar) in zp.chunks_exact(2 * w).zip(yp.chunks_exact_mut(wo)).zip(ap.chunks_exact_mut(wo)) {
                let (r0, r1) = rows.split_at(w);
                for (((p, q), yv), av) in r0.chunks_exact(2).zip(r1.chunks_exact(2)).zip(yr).zip(ar.iter_mut()) {
                    // Branch-free, so that the loop vectorizes.
                    let (mut best, mut at) = (act.act(c, p[0]), 0u8);
                    for (v, k) in [(act.act(c, p[1]), 1u8), (act.act(c, q[0]), 2), (act.act(c, q[1]), 3)] {
                        let take = v > best || v.is_nan();
                        best = if take { v } else { best };
                        at = if take { k } else { at };
                    }
                    *yv = best;
                    *av = at;
                }
            }
        }
    });
}

/// One channel's `dL/dh` (`n` values, planes of `h x w`) from the pooled gradient: each
/// window's winner gets its output's gradient, the others 0 (as `maxpool2_backward`).
fn unpool(dy: &[f32], arg: &[u8], h: usize, w: usize, dh: &mut [f32]) {
    let (ho, wo) = (h / 2, w / 2);
    for ((dp, dyp), ap) in dh.chunks_exact_mut(h * w).zip(dy.chunks_exact(ho * wo)).zip(arg.chunks_exact(ho * wo)) {
        for ((rows, dyr), ar) in dp.chunks_exact_mut(2 * w).zip(dyp.chunks_exact(wo)).zip(ap.chunks_exact(wo)) {
            let (r0, r1) = rows.split_at_mut(w);
            for (((p, q), &g), &a) in r0.chunks_exact_mut(2).zip(r1.chunks_exact_mut(2)).zip(dyr).zip(ar) {
                let pick = |k: u8| if a == k { g } else { 0.0 };
                p[0] = pick(0);
                p[1] = pick(1);
                q[0] = pick(2);
                q[1] = pick(3);
            }
        }
    }
}

/// Backward through pooling, ReLU and training-mode batch norm: `dy` is dL/d(pooled output),
/// `z` the convolution's raw output; writes dL/dz into `dz` and dL/dgamma, dL/dbeta. The
/// same values and sums as `maxpool2_backward` followed by `bn_channel::bn_backward`.
#[allow(clippy::too_many_arguments)]
pub fn bn_relu_pool_backward(
    dy: &[f32],
    arg: &[u8],
    z: &[f32],
    h: usize,
    w: usize,
    bn: &BnTrain<'_>,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dz: &mut [f32],
    par: Parallelism,
) {
    let channels = bn.mean.len();
    let n = z.len() / channels;
    assert!(dz.len() == z.len() && dy.len() == z.len() / 4 && arg.len() == z.len() / 4, "pool backward: lengths");
    assert!(dgamma.len() == channels && dbeta.len() == channels, "bn: dgamma and dbeta lengths");
    let inv_n = 1.0 / n as f32;
    let mut sums = vec![[0.0f32; 2]; channels];
    for_chunks2(par, dz, n, &mut sums, 1, 3 * z.len(), |c, dzc, s| {
        SCRATCH.with(|cell| {
            let mut buf = cell.borrow_mut();
            if buf.len() < n {
                buf.resize(n, 0.0);
            }
            let dh = &mut buf[..n];
            unpool(&dy[c * n / 4..][..n / 4], &arg[c * n / 4..][..n / 4], h, w, dh);
            let zc = &z[c * n..][..n];
            // dL/d(BN output) = dh [h > 0] (h > 0 is false for NaN, as in bn_backward).
            let dyv = |d: f32, zv: f32| if bn.act(c, zv) > 0.0 { d } else { 0.0 };
            let sb = block_sum(dh, zc, dyv) as f32;
            let sg = block_sum(dh, zc, |d, zv| dyv(d, zv) * bn.xhat(c, zv)) as f32;
            s[0] = [sg, sb];
            let k = bn.gamma[c] * bn.inv_std[c];
            for ((o, &d), &zv) in dzc.iter_mut().zip(dh.iter()).zip(zc) {
                *o = k * (dyv(d, zv) - (sb + bn.xhat(c, zv) * sg) * inv_n);
            }
        });
    });
    for (c, [sg, sb]) in sums.into_iter().enumerate() {
        dgamma[c] = sg;
        dbeta[c] = sb;
    }
}

/// Backward through pooling and `relu(z + bias)`: `dz = dh [h > 0]` from the pooled
/// gradient `dy` (as `maxpool2_backward` then `bn_channel::relu_backward`, which keeps the
/// gradient where h is NaN).
#[allow(clippy::too_many_arguments)]
pub fn bias_relu_pool_backward(
    dy: &[f32],
    arg: &[u8],
    z: &[f32],
    h: usize,
    w: usize,
    act: &BiasRelu<'_>,
    dz: &mut [f32],
    par: Parallelism,
) {
    let channels = act.bias.len();
    let n = z.len() / channels;
    assert!(dz.len() == z.len() && dy.len() == z.len() / 4 && arg.len() == z.len() / 4, "pool backward: lengths");
    let mut unused = vec![0u8; channels];
    for_chunks2(par, dz, n, &mut unused, 1, 2 * z.len(), |c, dzc, _| {
        unpool(&dy[c * n / 4..][..n / 4], &arg[c * n / 4..][..n / 4], h, w, dzc);
        for (d, &zv) in dzc.iter_mut().zip(&z[c * n..][..n]) {
            if act.act(c, zv) <= 0.0 {
                *d = 0.0;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::bn_channel::{bias_relu, bn_backward, bn_train_apply, relu_backward, scale_shift_relu};
    use super::super::pool::{maxpool2_backward, maxpool2_forward};
    use super::super::testutil::*;
    use super::*;

    /// Fused against separate passes, bit for bit, serial and threaded, with ties, zeros
    /// (ReLU kinks) and a NaN; odd channel and batch counts, channels of fewer than one
    /// 512-value sum block and of several blocks with a ragged tail.
    #[test]
    fn fused_passes_are_bitwise_the_separate_ones() {
        for (c, b, h, w) in [(5, 7, 6, 8), (3, 9, 10, 14), (1, 1, 2, 2)] {
            fused_against_separate(c, b, h, w);
        }
    }

    fn fused_against_separate(c: usize, b: usize, h: usize, w: usize) {
        let n = b * h * w;
        let mut z: Vec<f32> = uniform(3, c * n, 1.0).iter().map(|v| (v * 8.0).round() / 8.0).collect();
        let at = 17 % z.len();
        z[at] = f32::NAN;
        let dy = uniform(4, c * n / 4, 1.0);
        let mean: Vec<f32> = uniform(5, c, 0.2);
        let inv_std: Vec<f32> = uniform(6, c, 0.5).iter().map(|v| 1.5 + v).collect();
        let gamma: Vec<f32> = uniform(7, c, 0.5).iter().map(|v| 1.0 + v).collect();
        let beta = uniform(8, c, 0.3);
        let bias = uniform(9, c, 0.3);
        let bn = BnTrain { mean: &mean, inv_std: &inv_std, gamma: &gamma, beta: &beta };
        for par in [Parallelism::None, Parallelism::Rayon(0)] {
            pool2().install(|| {
                // Batch norm: separate passes.
                let mut xhat = z.clone();
                let mut hh = vec![0.0; z.len()];
                bn_train_apply(&mut xhat, &mut hh, &mean, &inv_std, &gamma, &beta, par);
                let (mut y0, mut a0) = (vec![0.0; z.len() / 4], vec![0u8; z.len() / 4]);
                maxpool2_forward(&hh, c * b, h, w, &mut y0, &mut a0, par);
                let mut d0 = vec![0.0; z.len()];
                maxpool2_backward(&dy, &a0, c * b, h, w, &mut d0, par);
                let (mut g0, mut b0) = (vec![0.0; c], vec![0.0; c]);
                bn_backward(&mut d0, &hh, &xhat, &inv_std, &gamma, &mut g0, &mut b0, par);
                // Fused.
                let (mut y1, mut a1) = (vec![0.0; z.len() / 4], vec![0u8; z.len() / 4]);
                act_pool_forward(&z, c, h, w, &mut y1, &mut a1, &bn, par);
                let mut d1 = vec![0.0; z.len()];
                let (mut g1, mut b1) = (vec![0.0; c], vec![0.0; c]);
                bn_relu_pool_backward(&dy, &a1, &z, h, w, &bn, &mut g1, &mut b1, &mut d1, par);
                assert_eq!(bits(&y0), bits(&y1));
                assert_eq!(a0, a1);
                assert_eq!(bits(&d0), bits(&d1));
                assert_eq!((bits(&g0), bits(&b0)), (bits(&g1), bits(&b1)));

                // Inference: scale and shift.
                let mut s0 = z.clone();
                scale_shift_relu(&mut s0, &gamma, &beta, par);
                maxpool2_forward(&s0, c * b, h, w, &mut y0, &mut a0, par);
                act_pool_forward(&z, c, h, w, &mut y1, &mut a1, &ScaleShift { s: &gamma, t: &beta }, par);
                assert_eq!((bits(&y0), &a0), (bits(&y1), &a1));

                // Bias + ReLU.
                let mut o = z.clone();
                bias_relu(&mut o, &bias, par);
                maxpool2_forward(&o, c * b, h, w, &mut y0, &mut a0, par);
                maxpool2_backward(&dy, &a0, c * b, h, w, &mut d0, par);
                relu_backward(&mut d0, &o, par);
                let act = BiasRelu { bias: &bias };
                act_pool_forward(&z, c, h, w, &mut y1, &mut a1, &act, par);
                bias_relu_pool_backward(&dy, &a1, &z, h, w, &act, &mut d1, par);
                assert_eq!((bits(&y0), &a0), (bits(&y1), &a1));
                assert_eq!(bits(&d0), bits(&d1));
            });
        }
    }
}
