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

use super::{block_sum_pair, for_chunks2};
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
    /// One activated plane (H*W values) in the forward pass.
    static PLANE: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The activation of one channel's values.
pub trait Act: Sync {
    fn act(&self, c: usize, z: f32) -> f32;

    /// `out[i] = act(c, z[i])`, with the channel's coefficients read once (so that the
    /// loop vectorizes: read through `&self` in the loop, they are reloaded every element).
    fn act_all(&self, c: usize, z: &[f32], out: &mut [f32]);
}

/// Batch norm in training mode (batch mean and 1/std) then ReLU:
/// `relu(gamma ((z - mean) inv_std) + beta)`, as `bn_channel::bn_train_apply`.
pub struct BnTrain<'a> {
    pub mean: &'a [f32],
    pub inv_std: &'a [f32],
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
}

/// One channel's coefficients of [`BnTrain`].
#[derive(Clone, Copy)]
struct BnChannel {
    mean: f32,
    inv_std: f32,
    gamma: f32,
    beta: f32,
}

impl BnChannel {
    #[inline(always)]
    fn xhat(self, z: f32) -> f32 {
        (z - self.mean) * self.inv_std
    }

    #[inline(always)]
    fn act(self, z: f32) -> f32 {
        relu(self.gamma * self.xhat(z) + self.beta)
    }
}

impl BnTrain<'_> {
    #[inline(always)]
    fn channel(&self, c: usize) -> BnChannel {
        BnChannel { mean: self.mean[c], inv_std: self.inv_std[c], gamma: self.gamma[c], beta: self.beta[c] }
    }
}

impl Act for BnTrain<'_> {
    #[inline(always)]
    fn act(&self, c: usize, z: f32) -> f32 {
        self.channel(c).act(z)
    }

    fn act_all(&self, c: usize, z: &[f32], out: &mut [f32]) {
        let ch = self.channel(c);
        for (o, &v) in out.iter_mut().zip(z) {
            *o = ch.act(v);
        }
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

    fn act_all(&self, c: usize, z: &[f32], out: &mut [f32]) {
        let (s, t) = (self.s[c], self.t[c]);
        for (o, &v) in out.iter_mut().zip(z) {
            *o = relu(s * v + t);
        }
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

    fn act_all(&self, c: usize, z: &[f32], out: &mut [f32]) {
        let b = self.bias[c];
        for (o, &v) in out.iter_mut().zip(z) {
            *o = relu(v + b);
        }
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
    let kernel = PoolKernel::best();
    for_chunks2(par, y, n / 4, arg, n / 4, z.len(), |c, yc, ac| {
        let zc = &z[c * n..][..n];
        PLANE.with(|cell| {
            let mut buf = cell.borrow_mut();
            if buf.len() < h * w {
                buf.resize(h * w, 0.0);
            }
            let plane = &mut buf[..h * w];
            for ((zp, yp), ap) in
                zc.chunks_exact(h * w).zip(yc.chunks_exact_mut(ho * wo)).zip(ac.chunks_exact_mut(ho * wo))
            {
                // The activation as one contiguous pass (it vectorizes), then the pooling.
                act.act_all(c, zp, plane);
                for ((rows, yr), ar) in
                    plane.chunks_exact(2 * w).zip(yp.chunks_exact_mut(wo)).zip(ap.chunks_exact_mut(wo))
                {
                    let (r0, r1) = rows.split_at(w);
                    kernel.pool_pair(r0, r1, yr, ar);
                }
            }
        });
    });
}

/// Which code max-pools a pair of rows: both give the same values and winners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PoolKernel {
    Avx512,
    Portable,
}

impl PoolKernel {
    fn best() -> PoolKernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return PoolKernel::Avx512;
            }
        }
        PoolKernel::Portable
    }

    /// `y[j]`, `arg[j]` = max of `r0[2j], r0[2j+1], r1[2j], r1[2j+1]` and its position (0-3)
    /// with `maxpool2_forward`'s conventions (ties to the first, NaN wins).
    #[inline]
    fn pool_pair(self, r0: &[f32], r1: &[f32], y: &mut [f32], arg: &mut [u8]) {
        assert!(r0.len() == 2 * y.len() && r1.len() == r0.len() && arg.len() == y.len());
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: chosen only where the CPU has AVX-512F; lengths asserted above.
            PoolKernel::Avx512 => unsafe { pool_pair_avx512(r0, r1, y, arg) },
            _ => pool_pair_portable(r0, r1, y, arg),
        }
    }

    /// One channel's `dL/dh` rows from the pooled gradient: `d0[2j..2j+2]`, `d1[2j..2j+2]`
    /// get `g[j]` at the winner `arg[j]`, 0 elsewhere.
    #[inline]
    fn unpool_pair(self, g: &[f32], arg: &[u8], d0: &mut [f32], d1: &mut [f32]) {
        assert!(d0.len() == 2 * g.len() && d1.len() == d0.len() && arg.len() == g.len());
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: chosen only where the CPU has AVX-512F; lengths asserted above.
            PoolKernel::Avx512 => unsafe { unpool_pair_avx512(g, arg, d0, d1) },
            _ => unpool_pair_portable(g, arg, d0, d1),
        }
    }
}

fn pool_pair_portable(r0: &[f32], r1: &[f32], y: &mut [f32], arg: &mut [u8]) {
    for (((p, q), yv), av) in r0.chunks_exact(2).zip(r1.chunks_exact(2)).zip(y).zip(arg) {
        let (mut best, mut at) = (p[0], 0u8);
        for (v, k) in [(p[1], 1u8), (q[0], 2), (q[1], 3)] {
            let take = v > best || v.is_nan();
            best = if take { v } else { best };
            at = if take { k } else { at };
        }
        *yv = best;
        *av = at;
    }
}

fn unpool_pair_portable(g: &[f32], arg: &[u8], d0: &mut [f32], d1: &mut [f32]) {
    for (((p, q), &gv), &a) in d0.chunks_exact_mut(2).zip(d1.chunks_exact_mut(2)).zip(g).zip(arg) {
        let pick = |k: u8| if a == k { gv } else { 0.0 };
        p[0] = pick(0);
        p[1] = pick(1);
        q[0] = pick(2);
        q[1] = pick(3);
    }
}

/// Lane masks for `n` of 16 lanes (0 for none).
#[cfg(target_arch = "x86_64")]
fn lanes(n: usize) -> u16 {
    if n >= 16 {
        0xffff
    } else {
        ((1u32 << n) - 1) as u16
    }
}

/// [`pool_pair_portable`] 16 outputs at a time: the even and odd inputs of a row are
/// separated by one permute each, then the same compares and selects in the same order.
///
/// # Safety
/// The CPU must have AVX-512F; `r0.len() == r1.len() == 2 * y.len()`, `arg.len() == y.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pool_pair_avx512(r0: &[f32], r1: &[f32], y: &mut [f32], arg: &mut [u8]) {
    use std::arch::x86_64::*;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let wo = y.len();
    let mut j = 0;
    while j < wo {
        let cnt = (wo - j).min(16);
        let (mo, lo, hi) = (lanes(cnt), lanes(2 * cnt), lanes((2 * cnt).saturating_sub(16)));
        // SAFETY (block): inputs 2j..2j+2cnt and outputs j..j+cnt lie inside the slices
        // (lengths in the contract); masked lanes are not accessed.
        unsafe {
            let (a0, a1) = (
                _mm512_maskz_loadu_ps(lo, r0.as_ptr().add(2 * j)),
                _mm512_maskz_loadu_ps(hi, r0.as_ptr().add(2 * j + 16)),
            );
            let (b0, b1) = (
                _mm512_maskz_loadu_ps(lo, r1.as_ptr().add(2 * j)),
                _mm512_maskz_loadu_ps(hi, r1.as_ptr().add(2 * j + 16)),
            );
            let mut best = _mm512_permutex2var_ps(a0, even, a1);
            let mut at = _mm512_setzero_si512();
            for (v, k) in [
                (_mm512_permutex2var_ps(a0, odd, a1), 1),
                (_mm512_permutex2var_ps(b0, even, b1), 2),
                (_mm512_permutex2var_ps(b0, odd, b1), 3),
            ] {
                let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
                best = _mm512_mask_blend_ps(take, best, v);
                at = _mm512_mask_blend_epi32(take, at, _mm512_set1_epi32(k));
            }
            _mm512_mask_storeu_ps(y.as_mut_ptr().add(j), mo, best);
            _mm512_mask_cvtepi32_storeu_epi8(arg.as_mut_ptr().add(j).cast(), mo, at);
        }
        j += cnt;
    }
}

/// [`unpool_pair_portable`] 16 outputs at a time.
///
/// # Safety
/// The CPU must have AVX-512F; `d0.len() == d1.len() == 2 * g.len()`, `arg.len() == g.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn unpool_pair_avx512(g: &[f32], arg: &[u8], d0: &mut [f32], d1: &mut [f32]) {
    use std::arch::x86_64::*;
    let lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    let wo = g.len();
    let mut j = 0;
    while j < wo {
        let cnt = (wo - j).min(16);
        let (mo, lo, hi) = (lanes(cnt), lanes(2 * cnt), lanes((2 * cnt).saturating_sub(16)));
        let mut bytes = [0u8; 16];
        bytes[..cnt].copy_from_slice(&arg[j..j + cnt]);
        // SAFETY (block): outputs j..j+cnt and inputs 2j..2j+2cnt lie inside the slices
        // (lengths in the contract); masked lanes are not accessed.
        unsafe {
            let gv = _mm512_maskz_loadu_ps(mo, g.as_ptr().add(j));
            let a = _mm512_cvtepu8_epi32(_mm_loadu_si128(bytes.as_ptr().cast()));
            let pick = |k: i32| _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_set1_epi32(k)), gv);
            let (p0, p1, q0, q1) = (pick(0), pick(1), pick(2), pick(3));
            _mm512_mask_storeu_ps(d0.as_mut_ptr().add(2 * j), lo, _mm512_permutex2var_ps(p0, lo_idx, p1));
            _mm512_mask_storeu_ps(d0.as_mut_ptr().add(2 * j + 16), hi, _mm512_permutex2var_ps(p0, hi_idx, p1));
            _mm512_mask_storeu_ps(d1.as_mut_ptr().add(2 * j), lo, _mm512_permutex2var_ps(q0, lo_idx, q1));
            _mm512_mask_storeu_ps(d1.as_mut_ptr().add(2 * j + 16), hi, _mm512_permutex2var_ps(q0, hi_idx, q1));
        }
        j += cnt;
    }
}

/// One channel's `dL/dh` (`n` values, planes of `h x w`) from the pooled gradient: each
/// window's winner gets its output's gradient, the others 0 (as `maxpool2_backward`).
fn unpool(kernel: PoolKernel, dy: &[f32], arg: &[u8], h: usize, w: usize, dh: &mut [f32]) {
    let (ho, wo) = (h / 2, w / 2);
    for ((dp, dyp), ap) in dh.chunks_exact_mut(h * w).zip(dy.chunks_exact(ho * wo)).zip(arg.chunks_exact(ho * wo)) {
        for ((rows, dyr), ar) in dp.chunks_exact_mut(2 * w).zip(dyp.chunks_exact(wo)).zip(ap.chunks_exact(wo)) {
            let (r0, r1) = rows.split_at_mut(w);
            kernel.unpool_pair(dyr, ar, r0, r1);
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
    let kernel = PoolKernel::best();
    let mut sums = vec![[0.0f32; 2]; channels];
    for_chunks2(par, dz, n, &mut sums, 1, 3 * z.len(), |c, dzc, s| {
        SCRATCH.with(|cell| {
            let mut buf = cell.borrow_mut();
            if buf.len() < n {
                buf.resize(n, 0.0);
            }
            let dh = &mut buf[..n];
            unpool(kernel, &dy[c * n / 4..][..n / 4], &arg[c * n / 4..][..n / 4], h, w, dh);
            let zc = &z[c * n..][..n];
            let ch = bn.channel(c);
            // dL/d(BN output) = dh [h > 0] (h > 0 is false for NaN, as in bn_backward).
            let dyv = |d: f32, zv: f32| if ch.act(zv) > 0.0 { d } else { 0.0 };
            let (sb, sg) = block_sum_pair(dh, zc, dyv, |d, zv| dyv(d, zv) * ch.xhat(zv));
            let (sb, sg) = (sb as f32, sg as f32);
            s[0] = [sg, sb];
            let k = ch.gamma * ch.inv_std;
            for ((o, &d), &zv) in dzc.iter_mut().zip(dh.iter()).zip(zc) {
                *o = k * (dyv(d, zv) - (sb + ch.xhat(zv) * sg) * inv_n);
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
    let kernel = PoolKernel::best();
    for_chunks2(par, dz, n, &mut unused, 1, 2 * z.len(), |c, dzc, _| {
        unpool(kernel, &dy[c * n / 4..][..n / 4], &arg[c * n / 4..][..n / 4], h, w, dzc);
        let b = act.bias[c];
        for (d, &zv) in dzc.iter_mut().zip(&z[c * n..][..n]) {
            if relu(zv + b) <= 0.0 {
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
        for (c, b, h, w) in [(5, 7, 6, 8), (3, 9, 10, 14), (1, 1, 2, 2), (2, 3, 4, 28), (1, 2, 2, 68)] {
            fused_against_separate(c, b, h, w);
        }
    }

    /// The vector kernels against the portable ones, bit for bit, for every row length up
    /// to three vectors and a ragged tail, with ties, zeros and NaNs among the inputs.
    #[test]
    fn pooling_kernels_agree() {
        let kernel = PoolKernel::best();
        for wo in 1..=50 {
            let mut r: Vec<f32> = uniform(wo as u64, 4 * wo, 1.0).iter().map(|v| (v * 4.0).round() / 4.0).collect();
            r[(7 * wo) % (4 * wo)] = f32::NAN;
            r[(3 * wo + 1) % (4 * wo)] = f32::NAN;
            let (r0, r1) = r.split_at(2 * wo);
            let (mut y0, mut a0, mut y1, mut a1) = (vec![0.0; wo], vec![9u8; wo], vec![0.0; wo], vec![9u8; wo]);
            pool_pair_portable(r0, r1, &mut y0, &mut a0);
            kernel.pool_pair(r0, r1, &mut y1, &mut a1);
            assert_eq!((bits(&y0), &a0), (bits(&y1), &a1), "pool, {wo} outputs, {kernel:?}");
            let g = uniform(wo as u64 + 100, wo, 1.0);
            let (mut d0, mut d1) = (vec![7.0; 4 * wo], vec![7.0; 4 * wo]);
            {
                let (p0, p1) = d0.split_at_mut(2 * wo);
                unpool_pair_portable(&g, &a0, p0, p1);
                let (q0, q1) = d1.split_at_mut(2 * wo);
                kernel.unpool_pair(&g, &a0, q0, q1);
            }
            assert_eq!(bits(&d0), bits(&d1), "unpool, {wo} outputs, {kernel:?}");
            assert!(d0.iter().all(|&v| v != 7.0), "unpool left a value unwritten");
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
