//! Batch normalisation over channels (PyTorch's `BatchNorm2d`) with a fused ReLU, on CNHW
//! activations: channel `c` is the contiguous run `z[c*n..(c+1)*n]`, `n = B*H*W`.
//!
//! The same functions as `nets::ops::bn`'s (a channel's `B*H*W` contiguous values play the
//! role of a feature's batch), with the same conventions: training mode normalises with the batch mean and the biased variance
//! (two passes, so no cancellation), eps = [`BN_EPS`]; the running mean and unbiased
//! variance (`n/(n-1)`, `n = B*H*W` as in PyTorch) move with `momentum`
//! ([`BN_MOMENTUM`] by default); inference folds the running statistics into one scale and
//! shift. A convolution's bias in front of a BN layer cancels in training mode: it is left out
//! of the convolution (pass `bias: None` there), added to the running mean here, and its
//! gradient is exactly 0 (the caller writes 0). ReLU keeps NaN.
//!
//! Sums are over fixed blocks (512-element f32 blocks in 32 lanes, f64 totals)
//! and each channel is summed by one thread, so the bits do not depend on the thread count.

pub use super::bn::{BN_EPS, BN_MOMENTUM};
use super::{block_sum, block_sum3, for_chunks, for_chunks2};
use crate::nets::gemm::Parallelism;

/// `max(0, x)` that keeps NaN (a diverged run must stay visible).
#[inline(always)]
fn relu(v: f32) -> f32 {
    if v < 0.0 {
        0.0
    } else {
        v
    }
}

/// Values per channel of `z` for `channels` channels.
fn per_channel(len: usize, channels: usize) -> usize {
    assert!(channels > 0 && len % channels == 0, "bn: {len} values do not split into {channels} channels");
    len / channels
}

/// Per-channel batch mean and biased variance (two passes: no cancellation).
pub fn batch_moments(z: &[f32], mean: &mut [f32], var: &mut [f32], par: Parallelism) {
    let n = per_channel(z.len(), mean.len());
    assert_eq!(var.len(), mean.len(), "bn: mean and var lengths differ");
    let inv_n = 1.0 / n as f64;
    for_chunks2(par, mean, 1, var, 1, z.len(), |c, m, v| {
        let run = &z[c * n..][..n];
        let mu = (block_sum(run, run, |x, _| x) * inv_n) as f32;
        m[0] = mu;
        v[0] = (block_sum(run, run, |x, _| (x - mu) * (x - mu)) * inv_n) as f32;
    });
}

/// `running = (1 - momentum) running + momentum batch` for the mean (of `z + bias`: the
/// bias left out of the convolution) and the unbiased variance (`var * count/(count-1)`,
/// `count = B*H*W`), as `nets::ops::bn` does.
pub fn update_running(
    running_mean: &mut [f32],
    running_var: &mut [f32],
    mean: &[f32],
    var: &[f32],
    bias: Option<&[f32]>,
    momentum: f32,
    count: usize,
) {
    let c = mean.len();
    assert!(count >= 2, "batch norm in training mode needs at least 2 values per channel");
    assert!(running_mean.len() == c && running_var.len() == c && var.len() == c, "bn: statistics lengths differ");
    let unbias = count as f32 / (count - 1) as f32;
    for j in 0..c {
        let b = bias.map_or(0.0, |b| b[j]);
        running_mean[j] = (1.0 - momentum) * running_mean[j] + momentum * (mean[j] + b);
        running_var[j] = (1.0 - momentum) * running_var[j] + momentum * (var[j] * unbias);
    }
}

/// `var <- 1 / sqrt(var + eps)`.
pub fn inv_std_in_place(var: &mut [f32]) {
    for v in var.iter_mut() {
        *v = 1.0 / (*v + BN_EPS).sqrt();
    }
}

/// `z <- xhat = (z - mean) inv_std` and `h = relu(gamma xhat + beta)`.
pub fn bn_train_apply(
    z: &mut [f32],
    h: &mut [f32],
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    beta: &[f32],
    par: Parallelism,
) {
    let n = per_channel(z.len(), mean.len());
    assert_eq!(h.len(), z.len(), "bn: h and z lengths differ");
    for_chunks2(par, z, n, h, n, 2 * n * mean.len(), |j, zr, hr| {
        let (m, is, g, be) = (mean[j], inv_std[j], gamma[j], beta[j]);
        for (zz, hh) in zr.iter_mut().zip(hr.iter_mut()) {
            let xh = (*zz - m) * is;
            *zz = xh;
            *hh = relu(g * xh + be);
        }
    });
}

/// The whole training-mode forward of a BN + ReLU layer on the convolution output `z`
/// (computed without bias): batch statistics into `mean` and `inv_std` (per channel, kept
/// for the backward pass), the running statistics updated (the running mean of `z + bias`),
/// `z` becomes `xhat` and `h = relu(gamma xhat + beta)`.
#[allow(clippy::too_many_arguments)]
pub fn bn_forward_train(
    z: &mut [f32],
    h: &mut [f32],
    bias: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    momentum: f32,
    mean: &mut [f32],
    inv_std: &mut [f32],
    par: Parallelism,
) {
    let n = per_channel(z.len(), mean.len());
    batch_moments(z, mean, inv_std, par);
    update_running(running_mean, running_var, mean, inv_std, bias, momentum, n);
    inv_std_in_place(inv_std);
    bn_train_apply(z, h, mean, inv_std, gamma, beta, par);
}

/// Inference mode: `relu(gamma (z + bias - mean) / sqrt(var + eps) + beta) = relu(s z + t)`
/// with the running statistics, `z` the convolution output computed without the bias (as
/// in training mode; `t` folds the bias in); writes `s` and `t` per channel.
pub fn inference_scale_shift(
    gamma: &[f32],
    beta: &[f32],
    bias: Option<&[f32]>,
    running_mean: &[f32],
    running_var: &[f32],
    s: &mut [f32],
    t: &mut [f32],
) {
    for j in 0..gamma.len() {
        s[j] = gamma[j] / (running_var[j] + BN_EPS).sqrt();
        t[j] = beta[j] + s[j] * (bias.map_or(0.0, |b| b[j]) - running_mean[j]);
    }
}

/// `z <- relu(s_c z + t_c)` per channel `c`.
pub fn scale_shift_relu(z: &mut [f32], s: &[f32], t: &[f32], par: Parallelism) {
    let n = per_channel(z.len(), s.len());
    for_chunks(par, z, n, z.len(), |j, zr| {
        let (ss, tt) = (s[j], t[j]);
        for v in zr {
            *v = relu(ss * *v + tt);
        }
    });
}

/// `z <- relu(z + bias_c)` per channel `c` (a convolution without BN).
pub fn bias_relu(z: &mut [f32], bias: &[f32], par: Parallelism) {
    let n = per_channel(z.len(), bias.len());
    for_chunks(par, z, n, z.len(), |j, zr| {
        let bb = bias[j];
        for v in zr {
            *v = relu(*v + bb);
        }
    });
}

/// `dz <- dz * [h > 0]`.
pub fn relu_backward(dz: &mut [f32], h: &[f32], par: Parallelism) {
    assert_eq!(dz.len(), h.len(), "relu: dz and h lengths differ");
    const CHUNK: usize = 1 << 14;
    for_chunks(par, dz, CHUNK, h.len(), |i, d| {
        for (dd, &hh) in d.iter_mut().zip(&h[i * CHUNK..]) {
            if hh <= 0.0 {
                *dd = 0.0;
            }
        }
    });
}

/// Through ReLU then batch norm: on entry `dz` holds dL/dh, on exit dL/dz (z the BN input);
/// writes dL/dgamma and dL/dbeta. With `dy = dh [h > 0]` and `n = B*H*W`:
/// `dz = gamma inv_std (dy - (dbeta + xhat dgamma) / n)`, `dbeta = sum dy`,
/// `dgamma = sum dy xhat`.
#[allow(clippy::too_many_arguments)]
pub fn bn_backward(
    dz: &mut [f32],
    h: &[f32],
    xhat: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    par: Parallelism,
) {
    let n = per_channel(dz.len(), inv_std.len());
    assert!(h.len() == dz.len() && xhat.len() == dz.len(), "bn: dz, h and xhat lengths differ");
    {
        let dz: &[f32] = dz;
        for_chunks2(par, dgamma, 1, dbeta, 1, 2 * dz.len(), |j, sg, sb| {
            let (d, hh, x) = (&dz[j * n..][..n], &h[j * n..][..n], &xhat[j * n..][..n]);
            // dy = dh [h > 0]; the mask is applied on the fly (h > 0 is false for NaN too,
            // as in nets::ops::act's relu_backward).
            let dy = |d: f32, h: f32| if h > 0.0 { d } else { 0.0 };
            sb[0] = block_sum(d, hh, dy) as f32;
            sg[0] = block_sum3(d, hh, x, |d, h, x| dy(d, h) * x) as f32;
        });
    }
    let inv_n = 1.0 / n as f32;
    for_chunks(par, dz, n, 2 * dz.len(), |j, d| {
        let (hh, x) = (&h[j * n..][..n], &xhat[j * n..][..n]);
        let (sb, sg, k) = (dbeta[j], dgamma[j], gamma[j] * inv_std[j]);
        for ((dd, &hv), &xv) in d.iter_mut().zip(hh).zip(x) {
            let dy = if hv > 0.0 { *dd } else { 0.0 };
            *dd = k * (dy - (sb + xv * sg) * inv_n);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    /// Plain-loop f64 training-mode BN + ReLU: `(h, mean, biased var)`.
    fn reference(z: &[f64], c: usize, gamma: &[f64], beta: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let n = z.len() / c;
        let (mut h, mut means, mut vars) = (vec![0.0; z.len()], vec![], vec![]);
        for j in 0..c {
            let run = &z[j * n..][..n];
            let m = run.iter().sum::<f64>() / n as f64;
            let v = run.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
            for (i, &x) in run.iter().enumerate() {
                h[j * n + i] = (gamma[j] * (x - m) / (v + BN_EPS as f64).sqrt() + beta[j]).max(0.0);
            }
            means.push(m);
            vars.push(v);
        }
        (h, means, vars)
    }

    struct Setup {
        c: usize,
        z: Vec<f32>,
        gamma: Vec<f32>,
        beta: Vec<f32>,
        bias: Vec<f32>,
    }

    fn setup(c: usize, n: usize, seed: u64) -> Setup {
        // A per-channel offset and scale, so that the mean matters and channels differ.
        let mut z = uniform(seed, c * n, 1.0);
        for (j, run) in z.chunks_exact_mut(n).enumerate() {
            for v in run {
                *v = *v * (1.0 + j as f32 * 0.5) + 3.0 - j as f32;
            }
        }
        let gamma = uniform(seed + 1, c, 0.5).iter().map(|g| 1.0 + g).collect();
        Setup { c, z, gamma, beta: uniform(seed + 2, c, 0.3), bias: uniform(seed + 3, c, 0.3) }
    }

    /// `(h, dz, dgamma, dbeta, running mean, running var)`.
    type Outputs = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

    /// Forward + backward with `dL/dh = r`.
    fn run(s: &Setup, r: &[f32], par: Parallelism) -> Outputs {
        let c = s.c;
        let mut z = s.z.clone();
        let mut h = vec![0.0; z.len()];
        let (mut rm, mut rv) = (vec![0.0; c], vec![1.0; c]);
        let (mut mean, mut inv_std) = (vec![0.0; c], vec![0.0; c]);
        bn_forward_train(
            &mut z,
            &mut h,
            Some(&s.bias),
            &s.gamma,
            &s.beta,
            &mut rm,
            &mut rv,
            BN_MOMENTUM,
            &mut mean,
            &mut inv_std,
            par,
        );
        let mut dz = r.to_vec();
        let (mut dg, mut db) = (vec![f32::NAN; c], vec![f32::NAN; c]);
        bn_backward(&mut dz, &h, &z, &inv_std, &s.gamma, &mut dg, &mut db, par);
        (h, dz, dg, db, rm, rv)
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (c, n) = (3, 530); // 530: a partial 512-block and a partial 32-lane run
        let s = setup(c, n, 51);
        let r = uniform(55, c * n, 1.0);
        let (h, dz, dg, db, _, _) = run(&s, &r, Parallelism::None);
        let (mut z64, mut g64, mut b64) = (to64(&s.z), to64(&s.gamma), to64(&s.beta));
        let (h_ref, _, _) = reference(&z64, c, &g64, &b64);
        for (a, b) in h.iter().zip(&h_ref) {
            assert!((*a as f64 - b).abs() < 1e-5, "h {a} vs {b}");
        }
        let loss = |h: &[f64]| h.iter().zip(&r).map(|(a, &b)| a * b as f64).sum::<f64>();
        let mut fd = FdCheck::default();
        for j in 0..c {
            let g = central(&mut g64, j, &mut |q| loss(&reference(&z64, c, q, &b64).0));
            fd.check(&format!("dgamma[{j}]"), dg[j], g);
            let g = central(&mut b64, j, &mut |q| loss(&reference(&z64, c, &g64, q).0));
            fd.check(&format!("dbeta[{j}]"), db[j], g);
        }
        for (i, &d) in dz.iter().enumerate() {
            let g = central(&mut z64, i, &mut |q| loss(&reference(q, c, &g64, &b64).0));
            fd.check(&format!("dz[{i}]"), d, g);
        }
        fd.finish("channel BN gradient", 1.0);
    }

    #[test]
    fn running_statistics_follow_pytorch() {
        let (c, n) = (4, 1000);
        let s = setup(c, n, 61);
        let (_, _, _, _, rm, rv) = run(&s, &vec![0.0; c * n], Parallelism::None);
        let (_, means, vars) = reference(&to64(&s.z), c, &to64(&s.gamma), &to64(&s.beta));
        for j in 0..c {
            // From mean 0 / var 1, one step of momentum 0.1; the mean is that of z + bias,
            // the variance unbiased over all n = B*H*W values of the channel.
            let want_m = 0.1 * (means[j] + s.bias[j] as f64);
            let want_v = 0.9 + 0.1 * vars[j] * n as f64 / (n - 1) as f64;
            assert!((rm[j] as f64 - want_m).abs() < 1e-6, "mean[{j}] {} vs {want_m}", rm[j]);
            assert!((rv[j] as f64 - want_v).abs() < 1e-5, "var[{j}] {} vs {want_v}", rv[j]);
        }
    }

    /// With running statistics equal to the batch's (biased variance), inference gives the
    /// training-mode output, the bias folded in as the running mean expects.
    #[test]
    fn inference_matches_training_with_batch_statistics() {
        let (c, n) = (3, 500);
        let s = setup(c, n, 71);
        let (h, ..) = run(&s, &vec![0.0; c * n], Parallelism::None);
        let (_, means, vars) = reference(&to64(&s.z), c, &to64(&s.gamma), &to64(&s.beta));
        let rm: Vec<f32> = means.iter().zip(&s.bias).map(|(m, b)| (m + *b as f64) as f32).collect();
        let rv: Vec<f32> = vars.iter().map(|&v| v as f32).collect();
        let (mut sc, mut sh) = (vec![0.0; c], vec![0.0; c]);
        inference_scale_shift(&s.gamma, &s.beta, Some(&s.bias), &rm, &rv, &mut sc, &mut sh);
        // The convolution output without the bias (which `t` folds in), as in training.
        let mut y = s.z.clone();
        scale_shift_relu(&mut y, &sc, &sh, Parallelism::None);
        for (a, b) in y.iter().zip(&h) {
            assert!((a - b).abs() < 2e-5, "inference {a} vs training {b}");
        }
        let mut zb = s.z.clone();
        bias_relu(&mut zb, &s.bias, Parallelism::None);
        assert!(zb.iter().zip(&s.z).enumerate().all(|(i, (a, z))| *a == (z + s.bias[i / n]).max(0.0)));
    }

    #[test]
    fn threads_do_not_change_bits() {
        let (c, n) = (8, 5000);
        let s = setup(c, n, 81);
        let r = uniform(82, c * n, 1.0);
        let serial = run(&s, &r, Parallelism::None);
        let threaded = pool2().install(|| run(&s, &r, Parallelism::Rayon(0)));
        let b = |t: &Outputs| [bits(&t.0), bits(&t.1), bits(&t.2), bits(&t.3), bits(&t.4), bits(&t.5)];
        assert!(b(&serial) == b(&threaded));
    }
}
