//! The operations of a network's passes, each op's backward beside its forward: affine
//! layers on sample-major batches (`dense`, with the transposed product that hands the
//! convolutional part its gradient feature-major), batch normalisation over features (`bn`)
//! and over channels ([`bn_channel`]), activations and the loss (`act`), stride-1 "same"
//! convolutions ([`conv`]), 2 x 2 max-pooling ([`pool`]) and the flatten between the
//! convolutional and the dense part (here).
//!
//! # Layout contract
//!
//! Every activation (and its gradient) of a batch of `B` images with `C` channels of
//! `H x W` pixels is stored **channel-major, CNHW**: element `(c, b, h, w)` at
//! `((c * B + b) * H + h) * W + w`, where `B` is the batch of the call (not a workspace's
//! maximum). So
//! - a channel's whole batch is one contiguous run of `B*H*W` values (batch-norm statistics
//!   and the bias gradient are one reduction over a slice);
//! - the `(c, b)` image planes are contiguous `H x W` row-major blocks in `(c, b)` order
//!   (pooling works plane by plane, whatever the layout around the planes);
//! - a convolution computes a group of `G` samples as one GEMM with `N = G*H*W` columns,
//!   whose output rows land directly in `y[c_out][b0..b0 + G]` (row stride `B*H*W`).
//!
//! Why not NCHW: a sample's planes would be contiguous, but a GEMM over a group of samples
//! would then have to scatter its output sample by sample, so the natural unit is one GEMM
//! per sample (`G = 1`), which measured 2.5-6 % slower at 14 x 14 than the best group
//! (one thread, batch 100, forward + backward: LeNet conv2 72.9 vs 71.1 ms, VGG 64->64 3x3
//! 52.9 vs 49.8 ms, 32->64 27.3 vs 25.9 ms); and a BN channel would be `B` strided runs.
//!
//! Convolution weights are PyTorch's `Conv2d.weight`: `[C_out][C_in][k][k]` row-major.
//! [`flatten_feature_major`] turns a CNHW activation into the `(C*H*W) x B` feature-major
//! matrix the MLP's hidden layers take (feature `c*H*W + h*W + w`, PyTorch's flatten order);
//! [`flatten_sample_major`] gives the `B x (C*H*W)` sample-major one.
//!
//! # Threads
//!
//! Every function takes a [`Parallelism`] (`Rayon(n)`: at most `n` threads of rayon's
//! current pool, `Rayon(0)` all of them). A convolution cuts the batch into two fixed parts,
//! one thread each, every GEMM single-threaded ([`conv`] says why and what it measured); the
//! element-wise passes split over whole channels (or planes). No floating-point sum is ever
//! split differently with the thread count: results are bitwise identical with any number
//! of threads (the tests check 1 against 2).
//!
//! The element-wise passes on a LeNet step's larger activations (32 x 100 x 28 x 28 floats,
//! 10 MB) are bound by memory bandwidth (a 10 MB copy runs at ~13.5 GB/s here, 1 MB at
//! ~64 GB/s), so a second thread helps them less than it helps the convolutions. Per batch
//! of 100 (`CONV_SWEEP=1 ELEMENTWISE=1 cargo bench --bench conv`), one thread (two): channel
//! BN + ReLU forward and backward 4.1 ms (2.3) on 32 x 100 x 28 x 28 and 1.8 ms (1.8) on
//! 64 x 100 x 14 x 14; max-pool forward and backward 2.1-2.4 ms (1.2-1.4) and 1.1 ms (0.8-1.1).
//! A convolution followed by pooling therefore runs its activation (BN apply + ReLU, or
//! bias + ReLU) fused into the pooling, forward and backward ([`fused`], the same bits):
//! one LeNet step with batch norm at batch 100, one thread, took 89.6-92.9 ms on-CPU
//! against 93.8-96.8 ms with the separate passes in three interleaved runs (`CNN_FUSE=1
//! cargo bench --bench cnn`, a heavily loaded host), ~4 % less; without batch norm no
//! difference within noise. BN statistics inside the convolution's group loop (while its
//! output is in L2) are not done.

pub(crate) mod act;
pub(crate) mod bn;
pub mod bn_channel;
pub mod conv;
pub(crate) mod dense;
pub mod fused;
pub mod pool;

pub use conv::{conv_backward, conv_forward, ConvShape, ConvWorkspace};
pub use pool::{maxpool2_backward, maxpool2_forward};

use rayon::prelude::*;

use super::gemm::{transpose8x8, Parallelism};

/// Threads the element-wise passes may use under `par`.
pub(crate) fn threads(par: Parallelism) -> usize {
    match par {
        Parallelism::None => 1,
        Parallelism::Rayon(0) => rayon::current_num_threads(),
        Parallelism::Rayon(n) => n.min(rayon::current_num_threads()),
    }
}

/// Calls `f(i, chunk_i)` for every `chunk`-element chunk of `data` (the last may be shorter),
/// split into at most [`threads`] contiguous runs of chunks over rayon's pool when `work`
/// (elements touched in all) is large enough to pay for it. Each call sees the same chunk
/// whatever the split, so `f` gives the same bits either way.
pub(crate) fn for_chunks<T: Send>(
    par: Parallelism,
    data: &mut [T],
    chunk: usize,
    work: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    let n_chunks = data.len().div_ceil(chunk.max(1));
    let t = threads(par).min(n_chunks);
    // Below ~16k elements a rayon round trip (a few microseconds) costs more than it saves.
    if t <= 1 || work < 1 << 14 {
        for (i, c) in data.chunks_mut(chunk).enumerate() {
            f(i, c);
        }
    } else {
        data.par_chunks_mut(chunk).enumerate().with_min_len(n_chunks.div_ceil(t)).for_each(|(i, c)| f(i, c));
    }
}

/// [`for_chunks`] over two slices with the same number of chunks: `f(i, a_i, b_i)`.
pub(crate) fn for_chunks2<T: Send, U: Send>(
    par: Parallelism,
    a: &mut [T],
    ca: usize,
    b: &mut [U],
    cb: usize,
    work: usize,
    f: impl Fn(usize, &mut [T], &mut [U]) + Sync + Send,
) {
    let n_chunks = a.len().div_ceil(ca.max(1));
    debug_assert_eq!(n_chunks, b.len().div_ceil(cb.max(1)));
    let t = threads(par).min(n_chunks);
    if t <= 1 || work < 1 << 14 {
        for (i, (x, y)) in a.chunks_mut(ca).zip(b.chunks_mut(cb)).enumerate() {
            f(i, x, y);
        }
    } else {
        a.par_chunks_mut(ca)
            .zip(b.par_chunks_mut(cb))
            .enumerate()
            .with_min_len(n_chunks.div_ceil(t))
            .for_each(|(i, (x, y))| f(i, x, y));
    }
}

/// f32 partial sums per block of an f64 total: 32 lanes (four independent 8-wide vector
/// accumulators, so the adds do not wait on each other's latency).
const LANES: usize = 32;
const BLOCK: usize = 512;

/// `sum f(a_i, b_i)` in a fixed order: blocks of 512 elements summed in 32 f32 lanes (which
/// vectorize), the block totals added in f64. A batch-norm channel holds `B*H*W` values
/// (78,400 in the first LeNet layer at batch 100): one f32 accumulator per lane would add
/// thousands of terms each, the blocks keep each f32 sum at 16 terms.
#[inline(always)]
pub(crate) fn block_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    block_sum3(a, b, b, |x, y, _| f(x, y))
}

/// [`block_sum`] of `f(a_i, b_i, c_i)`.
#[inline(always)]
pub(crate) fn block_sum3(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) -> f64 {
    debug_assert!(a.len() == b.len() && a.len() == c.len());
    let mut total = 0.0f64;
    for ((ab, bb), cb) in a.chunks(BLOCK).zip(b.chunks(BLOCK)).zip(c.chunks(BLOCK)) {
        let (ac, bc, cc) = (ab.chunks_exact(LANES), bb.chunks_exact(LANES), cb.chunks_exact(LANES));
        let (ar, br, cr) = (ac.remainder(), bc.remainder(), cc.remainder());
        let mut acc = [0.0f32; LANES];
        for ((x, y), z) in ac.zip(bc).zip(cc) {
            for k in 0..LANES {
                acc[k] += f(x[k], y[k], z[k]);
            }
        }
        let mut s = acc.iter().sum::<f32>();
        for ((&x, &y), &z) in ar.iter().zip(br).zip(cr) {
            s += f(x, y, z);
        }
        total += s as f64;
    }
    total
}

/// `(sum f(a_i, b_i), sum g(a_i, b_i))` in one pass: each sum in the same blocks, lanes and
/// order as [`block_sum`] of it alone (its own accumulators), so the same bits as two calls.
#[inline(always)]
pub(crate) fn block_sum_pair(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> f32,
    g: impl Fn(f32, f32) -> f32,
) -> (f64, f64) {
    debug_assert!(a.len() == b.len());
    let (mut tf, mut tg) = (0.0f64, 0.0f64);
    for (ab, bb) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let (ac, bc) = (ab.chunks_exact(LANES), bb.chunks_exact(LANES));
        let (ar, br) = (ac.remainder(), bc.remainder());
        let (mut af, mut ag) = ([0.0f32; LANES], [0.0f32; LANES]);
        for (x, y) in ac.zip(bc) {
            for k in 0..LANES {
                af[k] += f(x[k], y[k]);
                ag[k] += g(x[k], y[k]);
            }
        }
        let (mut sf, mut sg) = (af.iter().sum::<f32>(), ag.iter().sum::<f32>());
        for (&x, &y) in ar.iter().zip(br) {
            sf += f(x, y);
            sg += g(x, y);
        }
        tf += sf as f64;
        tg += sg as f64;
    }
    (tf, tg)
}

/// Transposes `rows x cols` row-major `src` into `cols x rows` row-major `dst` (row stride
/// `dst_rs`): full 8 x 8 tiles in registers ([`transpose8x8`]), the ragged edges element by
/// element.
pub(crate) fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], dst_rs: usize) {
    const T: usize = 8;
    let (rf, cf) = (rows / T * T, cols / T * T);
    for r0 in (0..rf).step_by(T) {
        for c0 in (0..cf).step_by(T) {
            transpose8x8(&src[r0 * cols + c0..], cols, &mut dst[c0 * dst_rs + r0..], dst_rs);
        }
        for c in cf..cols {
            for r in r0..r0 + T {
                dst[c * dst_rs + r] = src[r * cols + c];
            }
        }
    }
    for r in rf..rows {
        for c in 0..cols {
            dst[c * dst_rs + r] = src[r * cols + c];
        }
    }
}

/// CNHW `x` (`c` channels, batch `b`, `hw` pixels per plane) to the feature-major
/// `(c*hw) x b` matrix `out`: `out[(ch * hw + p) * b + s] = x[(ch * b + s) * hw + p]`, the
/// feature order of PyTorch's `flatten(1)` on NCHW. One `b x hw` transpose per channel.
pub fn flatten_feature_major(x: &[f32], c: usize, b: usize, hw: usize, out: &mut [f32], par: Parallelism) {
    let n = c * b * hw;
    assert_eq!(x.len(), n, "flatten: x must hold {c} x {b} x {hw} values");
    assert_eq!(out.len(), n, "flatten: out must hold {n} values");
    if n == 0 {
        return;
    }
    for_chunks(par, out, hw * b, n, |ch, o| transpose(&x[ch * b * hw..][..b * hw], b, hw, o, b));
}

/// The inverse of [`flatten_feature_major`] (its backward pass): `(c*hw) x b` feature-major
/// `d` back to CNHW `dx`.
pub fn unflatten_feature_major(d: &[f32], c: usize, b: usize, hw: usize, dx: &mut [f32], par: Parallelism) {
    let n = c * b * hw;
    assert_eq!(d.len(), n, "unflatten: d must hold {c} x {hw} x {b} values");
    assert_eq!(dx.len(), n, "unflatten: dx must hold {n} values");
    if n == 0 {
        return;
    }
    for_chunks(par, dx, b * hw, n, |ch, o| transpose(&d[ch * hw * b..][..hw * b], hw, b, o, hw));
}

/// CNHW `x` to the sample-major `b x (c*hw)` matrix (row `s` is sample `s` flattened in
/// PyTorch's order): a copy of each `(ch, s)` plane.
pub fn flatten_sample_major(x: &[f32], c: usize, b: usize, hw: usize, out: &mut [f32]) {
    let n = c * b * hw;
    assert_eq!(x.len(), n, "flatten: x must hold {c} x {b} x {hw} values");
    assert_eq!(out.len(), n, "flatten: out must hold {n} values");
    for ch in 0..c {
        for s in 0..b {
            out[(s * c + ch) * hw..][..hw].copy_from_slice(&x[(ch * b + s) * hw..][..hw]);
        }
    }
}

/// The inverse of [`flatten_sample_major`].
pub fn unflatten_sample_major(d: &[f32], c: usize, b: usize, hw: usize, dx: &mut [f32]) {
    let n = c * b * hw;
    assert_eq!(d.len(), n, "unflatten: d must hold {b} x {c} x {hw} values");
    assert_eq!(dx.len(), n, "unflatten: dx must hold {n} values");
    for ch in 0..c {
        for s in 0..b {
            dx[(ch * b + s) * hw..][..hw].copy_from_slice(&d[(s * c + ch) * hw..][..hw]);
        }
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use crate::real::Real;
    use crate::rng::seeded;
    use rand::Rng;

    /// `n` values ~ U(-a, a) from `seed`.
    pub fn uniform(seed: u64, n: usize, a: f64) -> Vec<f32> {
        let mut rng = seeded(seed);
        (0..n).map(|_| ((2.0 * f64::unit_from_bits(rng.next_u64()) - 1.0) * a) as f32).collect()
    }

    pub fn to64(v: &[f32]) -> Vec<f64> {
        v.iter().map(|&x| x as f64).collect()
    }

    pub fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// A 2-thread pool (the machine's core count; the tests compare it with serial runs).
    pub fn pool2() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap()
    }

    /// `gamma_n = n u / (1 - n u)`, u = 2^-24: the classic bound on the relative error of
    /// any order (and any FMA use) of an n-term f32 sum of products, relative to the sum of
    /// the terms' magnitudes (Higham, Accuracy and Stability, 3.1).
    pub fn gamma(n: usize) -> f64 {
        let nu = n as f64 * f32::EPSILON as f64 / 2.0;
        nu / (1.0 - nu)
    }

    /// Direct stride-1 "same" convolution of a CNHW batch in f64: the output and, per output,
    /// the sum of the magnitudes of its terms (for rounding bounds).
    pub fn naive_conv(
        s: &super::ConvShape,
        b: usize,
        x: &[f64],
        w: &[f64],
        bias: Option<&[f64]>,
    ) -> (Vec<f64>, Vec<f64>) {
        let (k, p, hh, ww) = (s.k as isize, s.pad() as isize, s.h as isize, s.w as isize);
        let mut y = vec![0.0; s.out_len(b)];
        let mut mag = vec![0.0; s.out_len(b)];
        for co in 0..s.c_out {
            for n in 0..b {
                for h in 0..hh {
                    for x_ in 0..ww {
                        let (mut acc, mut m) = (bias.map_or(0.0, |bb| bb[co]), bias.map_or(0.0, |bb| bb[co].abs()));
                        for ci in 0..s.c_in {
                            for kh in 0..k {
                                for kw in 0..k {
                                    let (ih, iw) = (h + kh - p, x_ + kw - p);
                                    if ih < 0 || ih >= hh || iw < 0 || iw >= ww {
                                        continue;
                                    }
                                    let xv = x[((ci * b + n) as isize * hh + ih) as usize * s.w + iw as usize];
                                    let wv = w[((co * s.c_in + ci) * s.k + kh as usize) * s.k + kw as usize];
                                    acc += xv * wv;
                                    m += (xv * wv).abs();
                                }
                            }
                        }
                        let o = ((co * b + n) * s.h + h as usize) * s.w + x_ as usize;
                        y[o] = acc;
                        mag[o] = m;
                    }
                }
            }
        }
        (y, mag)
    }

    /// Tracks the worst |g - fd| and the largest |fd| of a finite-difference check with the
    /// tolerance |g - fd| <= 2e-6 + 1e-4 |fd| (see `nets::passes`' gradient check).
    #[derive(Default)]
    pub struct FdCheck {
        pub worst: f64,
        /// The largest |g - fd| as a fraction of its tolerance.
        pub worst_share: f64,
        pub largest: f64,
        pub count: usize,
    }

    impl FdCheck {
        pub fn check(&mut self, what: &str, g: f32, fd: f64) {
            let err = (g as f64 - fd).abs();
            let tol = 2e-6 + 1e-4 * fd.abs();
            assert!(err <= tol, "{what}: analytic {g} vs fd {fd}");
            self.worst = self.worst.max(err);
            self.worst_share = self.worst_share.max(err / tol);
            self.largest = self.largest.max(fd.abs());
            self.count += 1;
        }

        /// Not vacuous: gradients of a useful size were compared.
        pub fn finish(&self, name: &str, min_largest: f64) {
            eprintln!(
                "{name}: {} gradients, worst |g - fd| {:.1e}, worst {:.2} of the tolerance, largest |fd| {:.3}",
                self.count, self.worst, self.worst_share, self.largest
            );
            assert!(self.largest > min_largest, "{name}: largest gradient {} is too small", self.largest);
        }
    }

    /// Central difference of `f` at `p[i]` with step 1e-6 (f64 throughout: truncation
    /// ~1e-12, rounding ~1e-16 / 1e-6 = 1e-10).
    pub fn central(p: &mut [f64], i: usize, f: &mut impl FnMut(&[f64]) -> f64) -> f64 {
        let h = 1e-6;
        let v = p[i];
        p[i] = v + h;
        let up = f(p);
        p[i] = v - h;
        let down = f(p);
        p[i] = v;
        (up - down) / (2.0 * h)
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn flatten_orders_features_like_pytorch() {
        let (c, b, h, w) = (3, 5, 4, 6);
        let hw = h * w;
        let x: Vec<f32> = (0..c * b * hw).map(|i| i as f32).collect();
        let at = |ch: usize, s: usize, p: usize| x[(ch * b + s) * hw + p];
        for par in [Parallelism::None, Parallelism::Rayon(0)] {
            let mut fm = vec![0.0; x.len()];
            pool2().install(|| flatten_feature_major(&x, c, b, hw, &mut fm, par));
            let mut sm = vec![0.0; x.len()];
            flatten_sample_major(&x, c, b, hw, &mut sm);
            for ch in 0..c {
                for s in 0..b {
                    for p in 0..hw {
                        let f = ch * hw + p;
                        assert_eq!(fm[f * b + s], at(ch, s, p));
                        assert_eq!(sm[s * c * hw + f], at(ch, s, p));
                    }
                }
            }
            let mut back = vec![0.0; x.len()];
            pool2().install(|| unflatten_feature_major(&fm, c, b, hw, &mut back, par));
            assert_eq!(back, x);
            back.fill(0.0);
            unflatten_sample_major(&sm, c, b, hw, &mut back);
            assert_eq!(back, x);
        }
    }

    #[test]
    fn transpose_handles_full_tiles_and_ragged_edges() {
        for rows in [1, 7, 8, 9, 16, 23] {
            for cols in [1, 5, 8, 17, 24] {
                let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
                let dst_rs = rows + 3;
                let mut dst = vec![-1.0f32; cols * dst_rs];
                transpose(&src, rows, cols, &mut dst, dst_rs);
                for c in 0..cols {
                    for r in 0..dst_rs {
                        let want = if r < rows { src[r * cols + c] } else { -1.0 };
                        assert_eq!(dst[c * dst_rs + r], want, "{rows} x {cols}: ({c}, {r})");
                    }
                }
            }
        }
    }

    #[test]
    fn block_sum_is_accurate_and_fixed() {
        let v = uniform(3, 100_003, 1.0);
        let exact: f64 = v.iter().map(|&x| x as f64).sum();
        let s = block_sum(&v, &v, |x, _| x);
        assert!((s - exact).abs() < 1e-4, "{s} vs {exact}");
        assert_eq!(s.to_bits(), block_sum(&v, &v, |x, _| x).to_bits());
    }

    /// One pass for two sums gives each sum's bits of its own pass, for lengths below one
    /// lane group, between blocks and with ragged tails.
    #[test]
    fn block_sum_pair_is_two_block_sums() {
        for n in [0, 5, 31, 32, 513, 1000, 100_003] {
            let (a, b) = (uniform(4, n, 1.0), uniform(5, n, 2.0));
            let f = |x: f32, y: f32| if y > 0.0 { x } else { 0.0 };
            let g = |x: f32, y: f32| x * y - 0.25;
            let (sf, sg) = block_sum_pair(&a, &b, f, g);
            assert_eq!(
                (sf.to_bits(), sg.to_bits()),
                (block_sum(&a, &b, f).to_bits(), block_sum(&a, &b, g).to_bits()),
                "n = {n}"
            );
        }
    }
    /// The chain conv(BN) -> ReLU -> pool -> conv(bias) -> ReLU -> pool -> flatten -> linear
    /// -> softmax cross-entropy, its backward pass assembled from this module's kernels and
    /// checked by finite differences of an independent f64 plain-loop forward, for every
    /// parameter and every input pixel.
    mod chain {
        use super::super::bn_channel::*;
        use super::super::testutil::*;
        use super::super::*;

        const B: usize = 3;
        const CLASSES: usize = 3;

        struct Net {
            s1: ConvShape,
            s2: ConvShape,
            feat: usize,
        }

        /// Parameters, packed: w1, b1, gamma1, beta1, w2, b2, wl (CLASSES x feat), bl.
        fn ranges(n: &Net) -> Vec<(&'static str, std::ops::Range<usize>)> {
            let sizes = [
                ("w1", n.s1.weight_len()),
                ("b1", n.s1.c_out),
                ("gamma1", n.s1.c_out),
                ("beta1", n.s1.c_out),
                ("w2", n.s2.weight_len()),
                ("b2", n.s2.c_out),
                ("wl", CLASSES * n.feat),
                ("bl", CLASSES),
            ];
            let mut off = 0;
            sizes
                .iter()
                .map(|&(name, len)| {
                    off += len;
                    (name, off - len..off)
                })
                .collect()
        }

        fn pool64(x: &[f64], planes: usize, h: usize, w: usize) -> Vec<f64> {
            let mut y = vec![0.0; x.len() / 4];
            for pl in 0..planes {
                for i in 0..h / 2 {
                    for j in 0..w / 2 {
                        let at = |a: usize, b: usize| x[(pl * h + 2 * i + a) * w + 2 * j + b];
                        y[(pl * (h / 2) + i) * (w / 2) + j] = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                    }
                }
            }
            y
        }

        /// f64 forward: the loss, plus the smallest |pre-ReLU value| and the smallest gap
        /// between a pooling window's positive maximum and its runner-up (both must be far
        /// from 0 for finite differences to see a smooth function).
        fn reference(n: &Net, p: &[f64], x: &[f64], y: &[u8]) -> (f64, f64, f64) {
            let r = ranges(n);
            let get = |i: usize| &p[r[i].1.clone()];
            let (s1, s2) = (&n.s1, &n.s2);
            let (mut kink, mut gap) = (f64::INFINITY, f64::INFINITY);
            // conv1 with its bias; BN in training mode (the bias cancels) + ReLU.
            let (mut z1, _) = naive_conv(s1, B, x, get(0), Some(get(1)));
            let m1 = B * s1.hw();
            for (c, run) in z1.chunks_exact_mut(m1).enumerate() {
                let mean = run.iter().sum::<f64>() / m1 as f64;
                let var = run.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m1 as f64;
                for v in run.iter_mut() {
                    let a = get(2)[c] * (*v - mean) / (var + BN_EPS as f64).sqrt() + get(3)[c];
                    kink = kink.min(a.abs());
                    *v = a.max(0.0);
                }
            }
            let window_gaps = |h: &[f64], planes: usize, hh: usize, ww: usize, gap: &mut f64| {
                for pl in 0..planes {
                    for i in 0..hh / 2 {
                        for j in 0..ww / 2 {
                            let mut v: Vec<f64> =
                                (0..4).map(|q| h[(pl * hh + 2 * i + q / 2) * ww + 2 * j + q % 2]).collect();
                            v.sort_by(|a, b| b.partial_cmp(a).unwrap());
                            if v[0] > 0.0 {
                                *gap = gap.min(v[0] - v[1]);
                            }
                        }
                    }
                }
            };
            window_gaps(&z1, s1.c_out * B, s1.h, s1.w, &mut gap);
            let p1 = pool64(&z1, s1.c_out * B, s1.h, s1.w);
            let (mut z2, _) = naive_conv(s2, B, &p1, get(4), Some(get(5)));
            for v in z2.iter_mut() {
                kink = kink.min(v.abs());
                *v = v.max(0.0);
            }
            window_gaps(&z2, s2.c_out * B, s2.h, s2.w, &mut gap);
            let p2 = pool64(&z2, s2.c_out * B, s2.h, s2.w);
            let hw2 = s2.hw() / 4;
            let mut loss = 0.0;
            for (smp, &label) in y.iter().enumerate() {
                // Flatten order c*H*W + h*W + w of sample smp.
                let f: Vec<f64> = (0..n.feat).map(|q| p2[((q / hw2) * B + smp) * hw2 + q % hw2]).collect();
                let logits: Vec<f64> = (0..CLASSES)
                    .map(|o| get(7)[o] + (0..n.feat).map(|q| get(6)[o * n.feat + q] * f[q]).sum::<f64>())
                    .collect();
                let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = mx + logits.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
                loss += lse - logits[label as usize];
            }
            (loss / B as f64, kink, gap)
        }

        /// The f32 forward and backward with the kernels: `(loss, gradient, dx)`.
        fn kernels(n: &Net, p: &[f32], x: &[f32], y: &[u8]) -> (f64, Vec<f32>, Vec<f32>) {
            let par = Parallelism::None;
            let r = ranges(n);
            let get = |i: usize| &p[r[i].1.clone()];
            let (s1, s2) = (n.s1, n.s2);
            let (c1, c2) = (s1.c_out, s2.c_out);
            let (hw1, hw2) = (s1.hw(), s2.hw());
            let mut g = vec![f32::NAN; p.len()];
            let mut ws1 = ConvWorkspace::with_group(s1, B, 2);
            let mut ws2 = ConvWorkspace::with_group(s2, B, 2);
            // conv1 (no bias: BN follows) -> BN + ReLU -> pool.
            let mut z1 = vec![0.0; s1.out_len(B)];
            conv_forward(&mut ws1, B, x, get(0), None, &mut z1, par);
            let mut h1 = vec![0.0; z1.len()];
            let (mut rm, mut rv, mut mean, mut inv_std) = (vec![0.0; c1], vec![1.0; c1], vec![0.0; c1], vec![0.0; c1]);
            bn_forward_train(
                &mut z1,
                &mut h1,
                Some(get(1)),
                get(2),
                get(3),
                &mut rm,
                &mut rv,
                BN_MOMENTUM,
                &mut mean,
                &mut inv_std,
                par,
            );
            let (mut p1, mut a1) = (vec![0.0; h1.len() / 4], vec![0u8; h1.len() / 4]);
            maxpool2_forward(&h1, c1 * B, s1.h, s1.w, &mut p1, &mut a1, par);
            // conv2 with bias -> ReLU -> pool -> flatten.
            let mut h2 = vec![0.0; s2.out_len(B)];
            conv_forward(&mut ws2, B, &p1, get(4), None, &mut h2, par);
            bias_relu(&mut h2, get(5), par);
            let (mut p2, mut a2) = (vec![0.0; h2.len() / 4], vec![0u8; h2.len() / 4]);
            maxpool2_forward(&h2, c2 * B, s2.h, s2.w, &mut p2, &mut a2, par);
            let mut f = vec![0.0; p2.len()];
            flatten_feature_major(&p2, c2, B, hw2 / 4, &mut f, par);
            // Linear head and softmax cross-entropy, written out here (f: feat x B).
            let (wl, bl) = (get(6), get(7));
            let mut loss = 0.0;
            let mut dlogit = [0.0f32; B * CLASSES];
            for smp in 0..B {
                let logits: Vec<f32> = (0..CLASSES)
                    .map(|o| bl[o] + (0..n.feat).map(|q| wl[o * n.feat + q] * f[q * B + smp]).sum::<f32>())
                    .collect();
                let mx = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let se: f32 = logits.iter().map(|v| (v - mx).exp()).sum();
                loss += (se.ln() + mx - logits[y[smp] as usize]) as f64;
                for o in 0..CLASSES {
                    let onehot = if o == y[smp] as usize { 1.0 } else { 0.0 };
                    dlogit[smp * CLASSES + o] = ((logits[o] - mx).exp() / se - onehot) / B as f32;
                }
            }
            let mut df = vec![0.0f32; f.len()];
            for o in 0..CLASSES {
                g[r[7].1.start + o] = (0..B).map(|smp| dlogit[smp * CLASSES + o]).sum();
                for q in 0..n.feat {
                    g[r[6].1.start + o * n.feat + q] =
                        (0..B).map(|smp| dlogit[smp * CLASSES + o] * f[q * B + smp]).sum();
                }
            }
            for q in 0..n.feat {
                for smp in 0..B {
                    df[q * B + smp] = (0..CLASSES).map(|o| wl[o * n.feat + q] * dlogit[smp * CLASSES + o]).sum();
                }
            }
            // Backward through the convolutional part.
            let mut dp2 = vec![0.0; p2.len()];
            unflatten_feature_major(&df, c2, B, hw2 / 4, &mut dp2, par);
            let mut dh2 = vec![0.0; h2.len()];
            maxpool2_backward(&dp2, &a2, c2 * B, s2.h, s2.w, &mut dh2, par);
            relu_backward(&mut dh2, &h2, par);
            let mut dp1 = vec![0.0; p1.len()];
            {
                let (lo, hi) = (r[4].1.clone(), r[5].1.clone());
                let (gw, gb) = g[lo.start..hi.end].split_at_mut(lo.len());
                conv_backward(&mut ws2, B, &p1, get(4), &dh2, gw, Some(gb), Some(&mut dp1), par);
            }
            let mut dz1 = vec![0.0; h1.len()];
            maxpool2_backward(&dp1, &a1, c1 * B, s1.h, s1.w, &mut dz1, par);
            {
                let (lo, hi) = (r[2].1.clone(), r[3].1.clone());
                let (gg, gbeta) = g[lo.start..hi.end].split_at_mut(lo.len());
                bn_backward(&mut dz1, &h1, &z1, &inv_std, get(2), gg, gbeta, par);
            }
            g[r[1].1.clone()].fill(0.0);
            let mut dx = vec![0.0; x.len()];
            conv_backward(&mut ws1, B, x, get(0), &dz1, &mut g[r[0].1.clone()], None, Some(&mut dx), par);
            assert_eq!(hw1 % 4, 0);
            (loss / B as f64, g, dx)
        }

        #[test]
        fn gradient_of_the_whole_chain_matches_finite_differences() {
            let s1 = ConvShape::new(2, 3, 3, 8, 4).unwrap();
            // 5 x 5 kernel on a 4 x 2 image: most taps fall into the padding.
            let s2 = ConvShape::new(3, 4, 5, 4, 2).unwrap();
            let net = Net { s1, s2, feat: 4 * 2 };
            let len = ranges(&net).last().unwrap().1.end;
            let mut p = uniform(91, len, 0.6);
            for (name, range) in ranges(&net) {
                if name == "gamma1" {
                    for v in &mut p[range] {
                        *v += 1.0;
                    }
                }
            }
            let x = uniform(92, s1.in_len(B), 1.0);
            let y: Vec<u8> = vec![0, 2, 1];
            let (loss, g, dx) = kernels(&net, &p, &x, &y);
            let (mut p64, mut x64) = (to64(&p), to64(&x));
            let (ref_loss, kink, gap) = reference(&net, &p64, &x64, &y);
            assert!((loss - ref_loss).abs() < 1e-5, "f32 loss {loss} vs f64 {ref_loss}");
            // Finite differences move pre-activations by ~1e-5 at most.
            assert!(kink > 1e-3 && gap > 1e-3, "data too close to a kink ({kink}) or a tie ({gap})");
            let mut fd = FdCheck::default();
            for (name, range) in ranges(&net) {
                for i in range {
                    let d = central(&mut p64, i, &mut |q| reference(&net, q, &x64, &y).0);
                    fd.check(&format!("{name}[{i}]"), g[i], d);
                }
            }
            for (i, &gx) in dx.iter().enumerate() {
                let d = central(&mut x64, i, &mut |q| reference(&net, &p64, q, &y).0);
                fd.check(&format!("dx[{i}]"), gx, d);
            }
            fd.finish("conv-BN-ReLU-pool-conv-ReLU-pool-flatten-linear chain", 0.05);
        }
    }
}
