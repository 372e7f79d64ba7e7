//! The exact Markov chain of SR on a toy grid, and its stationary distribution.
//!
//! Model: from grid point `w`, with stochastic gradient `g = grad F(w) + xi`,
//! `xi ~ N(0, s^2 I)` (`s = sigma / sqrt(batch)`), SR-SGD moves to
//! `Q_s(clip(w - alpha g))`, `clip` onto the box `[lo, hi]` of the grid. Coordinates are
//! independent given `w`, so the transition from `w` is the product of one kernel per
//! coordinate, each using the gradient at the current point.
//!
//! # One coordinate in closed form
//! In cell units (index `k` = grid point `lo + k delta`) the pre-rounding value is
//! `Y ~ N(y, tau^2)`, `y = k0 - alpha g_i / delta`, `tau = alpha s / delta`. SR sends
//! `Y` to interior point `k` with probability `hat(Y - k)`, `hat(z) = max(0, 1 - |z|)`;
//! the lowest point gets `clamp(1 - Y, 0, 1)` (mass below the box saturates onto it),
//! the highest symmetrically.
//! With `T(a) = E[(X - a)_+]`, `X ~ N(0, tau^2)` (the usual `R(x) = x Phi(x/tau) +
//! tau phi(x/tau) = E[(N(x, tau^2))_+]` is `T(-x)`), `d = |k - y|` and `e` = distance of
//! `y` inside the end point (negative: beyond it):
//! - interior: `p = T(d-1) - 2 T(d) + T(d+1)`,
//! - end point: `p = T(e-1) - T(e)`.
//!
//! ## Without cancellation
//! `T(a) = tau psi(a / tau)` for `a >= 0`, `psi(A) = phi(A) - A Q(A)` (`Q` = upper tail,
//! from `libm::erfc`), and `T(a) = -a + T(-a)` for `a < 0`. Every formula is then
//! arranged so that the only subtractions are of `T`-values at arguments `>= 0`, which
//! decay like `exp(-a^2 / 2 tau^2)`: for `tau < 1` each difference is dominated by its
//! first term (no cancellation at all for small `tau`, which is where the probabilities
//! get tiny); for large `tau` the second difference of a nearly linear `T` loses about
//! `log10(tau^2)` digits (tau = 1.6 in the tests: < 1 digit). `psi` itself is computed
//! directly for `A < 2` (relative error <= 2e-15), and for `A >= 2` as
//! `phi(A) r / (A + r)` with `r = 1/(A + 2/(A + 3/(A + ...)))` (Laplace's continued
//! fraction for Mills' ratio, 128/48/24 terms for A in [2,3)/[3,5)/[5,inf): all terms
//! positive, relative error <= 2e-15 against mpmath), because `phi - A Q` would lose
//! everything in the tail. The kernel masses match 400-digit references to 5e-14
//! relative (the limit is `exp(-A^2/2)` itself). `tau = 0` is exact: `T(a) = max(0, -a)`, i.e. plain SR.
//!
//! ## Truncation
//! A target `k` is kept iff `|k - y| < 1 + TAIL tau`. Beyond that the hat support lies
//! more than `TAIL = 37.5` standard deviations from the mean, where `psi` underflows
//! (< 1e-305, returned as exactly 0): every jump with probability above ~1e-300 is
//! included, and what is dropped is below 1e-300 per row. In particular tiny uphill moves
//! (1e-23 at batch 64) are kept: they are what sets `pi` in the valleys' walls.
//! [`build_with_tail`] allows a smaller window (e.g. 8.5: dropped Gaussian mass < 1e-17
//! per coordinate) to shrink the band of large-`tau` 2-D chains. Measured
//! `max |row sum - 1|` <= 9e-16 on the test chains.
//!
//! # Stationary distribution: GTH in the band
//! States are flat row-major indices, so a jump of at most `J` cells per coordinate is
//! within bandwidth `b = J` (1-D) or `b = J n + J` (2-D). The Grassmann-Taksar-Heyman
//! state reduction eliminates states `N-1, ..., 1` (the censored chain stays inside the
//! band), using `S_n = sum_{j<n} P(n, j)` instead of `1 - P(n, n)`: no subtractions, so
//! `pi` has small componentwise relative error even where it is 1e-100. Back-substitution
//! rescales when values grow past 1e200 (pi can span more than 300 decades).
//! Cost: time `N b^2` multiply-adds, memory `8 N (2 b + 1)` bytes, `N = n^dim`; the
//! sparse `P` has `N J_x J_y` entries (`J_x`: targets per coordinate). The band grows with
//! `tau` (window `1 + TAIL tau` cells each way) and with the drift `alpha |g| / delta`.
//! The result is checked by the residual `||pi P - pi||_1` against the sparse `P`:
//! measured 1e-17 to 3e-16 on every chain in the tests, so no refinement is applied.
//!
//! Measured (release, one core of a shared 2-core machine, so +-30%;
//! `cargo test --release --lib markov::tests::timings -- --ignored --nocapture`):
//! - 1-D wave, 41 points: 6 us per build + solve at alpha = 0.001 (b = 1);
//!   0.6 ms at alpha = 0.1 (tau = 1.6, b = 40: every jump).
//! - 2-D egg-crate (c = 10, delta 0.1), tau = 0.08: 51 x 51 (b = 206) 0.03 s;
//!   101 x 101 (b = 406, 66 MB) 0.4 s.
//! - tau = 0.4: 51 x 51 b = 823, 0.36 s; 101 x 101 b = 1723, 20 s and 280 MB with the
//!   full window, 0.5 s (b = 612) with `build_with_tail(.., 8.5)`.

use crate::toy::{Landscape, ToyGrid};

/// Standard deviations past the hat's support kept in a coordinate kernel (see module docs).
pub const TAIL: f64 = 37.5;

const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// `psi(A) = E[(U - A)_+]`, `U ~ N(0, 1)`, for `A >= 0`.
fn psi(a: f64) -> f64 {
    debug_assert!(a >= 0.0);
    if a < 2.0 {
        INV_SQRT_2PI * (-0.5 * a * a).exp() - a * 0.5 * libm::erfc(a * std::f64::consts::FRAC_1_SQRT_2)
    } else if a > TAIL {
        // < 1e-305: treat as 0 rather than compute with subnormals.
        0.0
    } else {
        let terms = if a < 3.0 {
            128
        } else if a < 5.0 {
            48
        } else {
            24
        };
        let mut t = 0.0;
        for k in (2..=terms).rev() {
            t = k as f64 / (a + t);
        }
        let r = 1.0 / (a + t);
        INV_SQRT_2PI * (-0.5 * a * a).exp() * r / (a + r)
    }
}

/// `T(a) = E[(X - a)_+]`, `X ~ N(0, tau^2)`.
fn tplus(a: f64, tau: f64) -> f64 {
    if a < 0.0 {
        -a + tplus(-a, tau)
    } else if tau == 0.0 {
        0.0
    } else {
        tau * psi(a / tau)
    }
}

/// `E[hat(X - d)]`: probability that SR lands on an interior point `d` cells from the mean.
pub fn hat_mass(d: f64, tau: f64) -> f64 {
    let d = d.abs();
    let p = if d >= 1.0 {
        tplus(d - 1.0, tau) - 2.0 * tplus(d, tau) + tplus(d + 1.0, tau)
    } else {
        // T(d - 1) = (1 - d) + T(1 - d): positive terms first.
        ((1.0 - d) + tplus(1.0 - d, tau)) - 2.0 * tplus(d, tau) + tplus(1.0 + d, tau)
    };
    p.max(0.0)
}

/// Probability of an end point when the mean is `e` cells inside it (`e < 0`: outside):
/// `E[clamp(1 - (X + e), 0, 1)]`.
pub fn edge_mass(e: f64, tau: f64) -> f64 {
    let p = if e >= 1.0 {
        tplus(e - 1.0, tau) - tplus(e, tau)
    } else if e >= 0.0 {
        ((1.0 - e) + tplus(1.0 - e, tau)) - tplus(e, tau)
    } else {
        // 1 - P(reaching past the end cell), the small part computed on its own.
        1.0 - (tplus(-e, tau) - tplus(1.0 - e, tau))
    };
    p.clamp(0.0, 1.0)
}

/// SR kernel of one coordinate on `n` points: pre-rounding mean `y` (cell units, point `k`
/// at `k`), std `tau` (cells). Fills `out` with `(k, p)`, `k` ascending, `p > 0`.
pub fn coord_kernel(y: f64, tau: f64, n: usize, tail: f64, out: &mut Vec<(usize, f64)>) {
    out.clear();
    let top = (n - 1) as f64;
    let w = 1.0 + tail * tau;
    let kmin = (y - w).ceil().clamp(0.0, top) as usize;
    let kmax = (y + w).floor().clamp(0.0, top) as usize;
    for k in kmin..=kmax {
        let p = if k == 0 {
            edge_mass(y, tau)
        } else if k == n - 1 {
            edge_mass(top - y, tau)
        } else {
            hat_mass(k as f64 - y, tau)
        };
        if p > 0.0 {
            out.push((k, p));
        }
    }
}

/// SR's transition matrix on a 1-D or 2-D toy grid, stored by rows (CSR).
#[derive(Clone, Debug)]
pub struct Chain {
    pub landscape: Landscape,
    pub grid: ToyGrid,
    pub alpha: f64,
    pub s: f64,
    /// `alpha s / delta`: the noise in cells.
    pub tau: f64,
    pub dim: usize,
    /// Points per coordinate.
    pub n: usize,
    /// `F` at every state.
    pub values: Vec<f64>,
    /// Largest `|col - row|` of a stored entry.
    pub bandwidth: usize,
    row_ptr: Vec<usize>,
    col: Vec<u32>,
    val: Vec<f64>,
}

impl Chain {
    pub fn states(&self) -> usize {
        self.row_ptr.len() - 1
    }

    pub fn nnz(&self) -> usize {
        self.val.len()
    }

    /// Columns and probabilities of row `i` (columns ascending).
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let r = self.row_ptr[i]..self.row_ptr[i + 1];
        (&self.col[r.clone()], &self.val[r])
    }

    /// `P(i, j)`.
    pub fn prob(&self, i: usize, j: usize) -> f64 {
        let (c, v) = self.row(i);
        c.binary_search(&(j as u32)).map_or(0.0, |k| v[k])
    }

    /// `out = x P`.
    pub fn left_mul(&self, x: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        for (i, &xi) in x.iter().enumerate() {
            let (c, v) = self.row(i);
            for (&j, &p) in c.iter().zip(v) {
                out[j as usize] += xi * p;
            }
        }
    }

    /// `max_i |sum_j P(i, j) - 1|`.
    pub fn row_sum_error(&self) -> f64 {
        (0..self.states()).map(|i| (self.row(i).1.iter().sum::<f64>() - 1.0).abs()).fold(0.0, f64::max)
    }
}

/// The chain of SR-SGD with step `alpha` and gradient noise std `s` per coordinate.
pub fn build(landscape: &Landscape, grid: &ToyGrid, alpha: f64, s: f64) -> Chain {
    build_with_tail(landscape, grid, alpha, s, TAIL)
}

/// [`build`] keeping targets within `1 + tail * tau` cells of the mean (`tail <= TAIL`).
pub fn build_with_tail(landscape: &Landscape, grid: &ToyGrid, alpha: f64, s: f64, tail: f64) -> Chain {
    let dim = landscape.dim();
    assert!(dim == 1 || dim == 2, "the exact chain is built for 1-D and 2-D toys, not dim = {dim}");
    assert!(alpha > 0.0 && s >= 0.0 && alpha.is_finite() && s.is_finite(), "alpha = {alpha}, s = {s}");
    let n = grid.n();
    let big_n = grid.states(dim);
    assert!(big_n < u32::MAX as usize);
    let tau = alpha * s / grid.delta;
    let step = alpha / grid.delta;
    let (mut row_ptr, mut col, mut val) = (Vec::with_capacity(big_n + 1), Vec::new(), Vec::new());
    row_ptr.push(0);
    let (mut w, mut g) = (vec![0.0; dim], vec![0.0; dim]);
    let (mut kx, mut ky) = (Vec::new(), Vec::new());
    let mut bandwidth = 0;
    for i in 0..big_n {
        grid.coords(i, &mut w);
        landscape.grad(&w, &mut g);
        if dim == 1 {
            coord_kernel(i as f64 - step * g[0], tau, n, tail, &mut kx);
            for &(k, p) in &kx {
                col.push(k as u32);
                val.push(p);
                bandwidth = bandwidth.max(k.abs_diff(i));
            }
        } else {
            let (ix, iy) = (i / n, i % n);
            coord_kernel(ix as f64 - step * g[0], tau, n, tail, &mut kx);
            coord_kernel(iy as f64 - step * g[1], tau, n, tail, &mut ky);
            for &(a, pa) in &kx {
                for &(b, pb) in &ky {
                    let p = pa * pb;
                    // Products below 1e-300 are dropped with the rest of the truncation.
                    if p > 1e-300 {
                        let j = a * n + b;
                        col.push(j as u32);
                        val.push(p);
                        bandwidth = bandwidth.max(j.abs_diff(i));
                    }
                }
            }
        }
        row_ptr.push(val.len());
    }
    Chain {
        landscape: *landscape,
        grid: *grid,
        alpha,
        s,
        tau,
        dim,
        n,
        values: grid.values(landscape),
        bandwidth,
        row_ptr,
        col,
        val,
    }
}

#[derive(Clone, Debug)]
pub struct Stationary {
    pub pi: Vec<f64>,
    /// `||pi P - pi||_1` with the chain's stored `P`.
    pub residual_l1: f64,
}

/// Stationary distribution by GTH state reduction in the band (see module docs).
/// Panics if the chain is reducible (a state that cannot reach lower states; only
/// possible without noise).
pub fn stationary(chain: &Chain) -> Stationary {
    let big_n = chain.states();
    let b = chain.bandwidth;
    let w = 2 * b + 1;
    // a[i * w + (j + b - i)] = P(i, j) for |i - j| <= b.
    let mut a = vec![0.0f64; big_n * w];
    for i in 0..big_n {
        let (c, v) = chain.row(i);
        for (&j, &p) in c.iter().zip(v) {
            a[i * w + j as usize + b - i] = p;
        }
    }
    for n in (1..big_n).rev() {
        let lo = n.saturating_sub(b);
        let (head, rest) = a.split_at_mut(n * w);
        let left = &rest[lo + b - n..b];
        let s_n: f64 = left.iter().sum();
        assert!(s_n > 0.0, "reducible chain: state {n} cannot reach lower states");
        for i in lo..n {
            let row_i = &mut head[i * w..(i + 1) * w];
            let p_in = row_i[n + b - i];
            if p_in == 0.0 {
                continue;
            }
            let f = p_in / s_n;
            // Kept for the back-substitution: P(i, n) / S_n of the censored chain.
            row_i[n + b - i] = f;
            for (d, &x) in row_i[lo + b - i..n + b - i].iter_mut().zip(left) {
                *d += f * x;
            }
        }
    }
    let mut pi = vec![0.0; big_n];
    pi[0] = 1.0;
    for n in 1..big_n {
        let lo = n.saturating_sub(b);
        let x: f64 = (lo..n).map(|i| pi[i] * a[i * w + n + b - i]).sum();
        pi[n] = x;
        if x > 1e200 {
            pi[..=n].iter_mut().for_each(|p| *p *= 1e-200);
        }
    }
    let total: f64 = pi.iter().sum();
    pi.iter_mut().for_each(|p| *p /= total);
    let mut pp = vec![0.0; big_n];
    chain.left_mul(&pi, &mut pp);
    let residual_l1 = pp.iter().zip(&pi).map(|(a, b)| (a - b).abs()).sum();
    Stationary { pi, residual_l1 }
}

/// `E_pi[F]`.
pub fn mean_value(chain: &Chain, pi: &[f64]) -> f64 {
    pi.iter().zip(&chain.values).map(|(p, f)| p * f).sum()
}

/// `P_pi(global grid minimiser)` (all minimisers within 1e-12 count).
pub fn prob_at_minimiser(chain: &Chain, pi: &[f64]) -> f64 {
    chain.grid.minimisers(&chain.landscape).states.iter().map(|&s| pi[s]).sum()
}

/// Total-variation distance `sum |p - q| / 2`.
pub fn tv_distance(p: &[f64], q: &[f64]) -> f64 {
    assert_eq!(p.len(), q.len());
    0.5 * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>()
}

/// 1-D only: `max_w |pi(w) P(w, w+1) - pi(w+1) P(w+1, w)| / (pi(w) P(w, w+1))` over the
/// edges whose flow exceeds 1e-300 (below that f64 has no relative precision left).
/// 0 for a birth-death chain's exact `pi`.
pub fn detailed_balance_defect(chain: &Chain, pi: &[f64]) -> f64 {
    assert_eq!(chain.dim, 1, "detailed balance of neighbours is a 1-D check");
    (0..chain.states() - 1)
        .filter_map(|k| {
            let up = pi[k] * chain.prob(k, k + 1);
            let down = pi[k + 1] * chain.prob(k + 1, k);
            (up > 1e-300).then(|| (up - down).abs() / up)
        })
        .fold(0.0, f64::max)
}

/// Asymptotic variance `lim N Var(mean of f(X_t), t < N)` of a time average along the
/// stationary chain: `2 <f', Z f'>_pi - <f', f'>_pi`, `f' = f - E_pi f`,
/// `Z = (I - P + 1 pi^T)^(-1)`. Dense `O(N^3)` solve: for chains of up to a few thousand
/// states (the 1-D toys). Gives the honest sampling error of a simulation.
pub fn asymptotic_variance(chain: &Chain, pi: &[f64], f: &[f64]) -> f64 {
    let n = chain.states();
    assert!(n <= 4000, "dense solve on {n} states");
    let mean: f64 = pi.iter().zip(f).map(|(p, x)| p * x).sum();
    let fc: Vec<f64> = f.iter().map(|x| x - mean).collect();
    // Row-major [I - P + 1 pi^T | fc], Gaussian elimination with partial pivoting.
    let m = n + 1;
    let mut a = vec![0.0; n * m];
    for i in 0..n {
        a[i * m..i * m + n].copy_from_slice(pi);
        a[i * m + i] += 1.0;
        let (c, v) = chain.row(i);
        for (&j, &p) in c.iter().zip(v) {
            a[i * m + j as usize] -= p;
        }
        a[i * m + n] = fc[i];
    }
    for k in 0..n {
        let piv = (k..n).max_by(|&x, &y| a[x * m + k].abs().total_cmp(&a[y * m + k].abs())).unwrap();
        if piv != k {
            for j in 0..m {
                a.swap(k * m + j, piv * m + j);
            }
        }
        let (top, rest) = a.split_at_mut((k + 1) * m);
        let rk = &top[k * m..];
        for ri in rest.chunks_mut(m) {
            let factor = ri[k] / rk[k];
            if factor != 0.0 {
                for j in k..m {
                    ri[j] -= factor * rk[j];
                }
            }
        }
    }
    let mut z = vec![0.0; n];
    for k in (0..n).rev() {
        let s: f64 = (k + 1..n).map(|j| a[k * m + j] * z[j]).sum();
        z[k] = (a[k * m + n] - s) / a[k * m + k];
    }
    (0..n).map(|i| pi[i] * fc[i] * (2.0 * z[i] - fc[i])).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::Lattice;

    fn wave_grid() -> ToyGrid {
        ToyGrid::new(0.25, 5.0)
    }

    fn solve(f: &Landscape, g: &ToyGrid, alpha: f64, s: f64) -> (Chain, Vec<f64>) {
        let c = build(f, g, alpha, s);
        let st = stationary(&c);
        assert!(st.residual_l1 < 1e-12, "alpha={alpha} s={s}: residual {:e}", st.residual_l1);
        (c, st.pi)
    }

    /// References from mpmath at 400 digits (R-function second differences). Relative
    /// error allowed 5e-14: exp(-A^2/2) alone has relative error ~A^2 eps (2e-14 at A = 20).
    #[test]
    fn kernel_masses_match_high_precision_references() {
        let hats = [
            (0.3, 0.1, 0.699_923_569_136_608),
            (0.982, 0.016, 0.019_044_725_023_948_646),
            (1.5, 0.32, 0.008_120_307_534_879_25),
            (2.7, 0.32, 3.058_652_305_076_036e-9),
            (0.0, 1.6, 0.241_528_743_979_214_46),
            (4.0, 1.6, 0.012_846_203_414_488_526),
            (1.0, 0.5, 0.190_984_010_213_102_9),
            (0.5, 1e-4, 0.5),
            (2.2, 0.04, 6.527_826_936_364_856e-201),
        ];
        for (d, tau, want) in hats {
            for got in [hat_mass(d, tau), hat_mass(-d, tau)] {
                assert!((got / want - 1.0).abs() < 5e-14, "hat({d}, {tau}) = {got:e}, want {want:e}");
            }
        }
        let edges = [
            (0.4, 0.3, 0.589_828_676_272_597_9),
            (-2.0, 0.5, 0.999_996_427_448_962_3),
            (1.7, 0.2, 1.169_618_368_428_429e-5),
            (3.0, 0.1, 1.370_012_494_729_610_6e-91),
            (-0.3, 0.02, 1.0),
            (0.99, 0.001, 0.010_000_000_000_000_009),
        ];
        for (e, tau, want) in edges {
            let got = edge_mass(e, tau);
            assert!((got / want - 1.0).abs() < 5e-14, "edge({e}, {tau}) = {got:e}, want {want:e}");
        }
        // Beyond the TAIL window a mass is exactly 0 (the true value here is 4.6e-353).
        assert_eq!(hat_mass(3.0, 0.05), 0.0);
        // tau = 0 is plain SR.
        assert_eq!(
            (hat_mass(0.25, 0.0), hat_mass(1.0, 0.0), edge_mass(-3.0, 0.0), edge_mass(0.25, 0.0)),
            (0.75, 0.0, 1.0, 0.75)
        );
    }

    /// (a) Rows sum to 1; with s = 0 each row is the two-point SR law of the project's
    /// lattice: up with p = u - floor(u), u = clip(w - alpha g) / delta.
    #[test]
    fn rows_sum_to_one_and_noise_free_kernel_is_plain_sr() {
        let g = wave_grid();
        for (alpha, s) in [(0.1, 4.0), (0.02, 4.0), (0.001, 4.0), (0.02, 0.5), (0.1, 0.0)] {
            let c = build(&Landscape::WAVE, &g, alpha, s);
            assert!(c.row_sum_error() < 1e-14, "alpha={alpha} s={s}: {:e}", c.row_sum_error());
        }
        let c2 = build(&Landscape::EggCrate { c: 10.0 }, &ToyGrid::new(0.2, 3.0), 0.01, 4.0);
        assert!(c2.row_sum_error() < 1e-14);
        // alpha = 0.1: drifts up to 1.8 cells and saturation at both ends.
        let (alpha, f) = (0.1, Landscape::WAVE);
        let c = build(&f, &g, alpha, 0.0);
        let lat: Lattice<f64> = g.lattice();
        let mut grad = [0.0];
        for k in 0..g.n() {
            let w = g.point(k);
            f.grad(&[w], &mut grad);
            let x = (w - alpha * grad[0]).clamp(lat.lo, lat.hi);
            let u = x / g.delta;
            let p = u - u.floor();
            let lower = (u.floor() as i64 + g.half() as i64) as usize;
            let (cols, vals) = c.row(k);
            assert!(cols.len() <= 2);
            assert!((c.prob(k, lower) - (1.0 - p)).abs() < 1e-12, "k={k}");
            if p > 1e-12 {
                assert!((c.prob(k, lower + 1) - p).abs() < 1e-12, "k={k}");
            }
            assert!((vals.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        }
    }

    /// (b) Small alpha: birth-death chain, detailed balance, pi independent of alpha and
    /// equal to PAPER.md's formula pi(w+D)/pi(w) = E[(g(w))_-] / E[(g(w+D))_+]. Large alpha
    /// (multi-cell jumps) moves pi.
    #[test]
    fn small_alpha_limit_is_detailed_balanced_and_alpha_free() {
        let (f, g) = (Landscape::WAVE, wave_grid());
        let (c, pi) = solve(&f, &g, 0.001, 4.0);
        let db = detailed_balance_defect(&c, &pi);
        assert!(db < 1e-9, "detailed balance defect {db:e}");
        for alpha in [0.0005, 0.0001] {
            let tv = tv_distance(&pi, &solve(&f, &g, alpha, 4.0).1);
            assert!(tv < 1e-9, "alpha={alpha}: TV {tv:e}");
        }
        // The formula, with E[(g + xi)_-] = s psi(g / s) and E[(g + xi)_+] = s psi(-g / s).
        let mut formula = vec![1.0];
        let mut gr = [0.0];
        let em = |w: f64, gr: &mut [f64; 1]| {
            f.grad(&[w], gr);
            (4.0 * psi_any(gr[0] / 4.0), 4.0 * psi_any(-gr[0] / 4.0))
        };
        for k in 0..g.n() - 1 {
            let (down_k, _) = em(g.point(k), &mut gr);
            let (_, up_k1) = em(g.point(k + 1), &mut gr);
            formula.push(formula[k] * down_k / up_k1);
        }
        let total: f64 = formula.iter().sum();
        formula.iter_mut().for_each(|p| *p /= total);
        let tv = tv_distance(&pi, &formula);
        assert!(tv < 1e-12, "formula TV {tv:e}");
        let tv_big = tv_distance(&pi, &solve(&f, &g, 0.1, 4.0).1);
        assert!(tv_big > 1e-3, "alpha = 0.1: TV {tv_big:e}");
    }

    /// `psi` for either sign: psi(-A) = A + psi(A).
    fn psi_any(a: f64) -> f64 {
        if a >= 0.0 {
            psi(a)
        } else {
            -a + psi(-a)
        }
    }

    /// (c) PAPER.md: E_pi[F] = -0.574 (B = 1), -0.787 / -0.892 / -0.933 (B = 4/16/64).
    /// Small alpha reproduces all four to the 3 printed decimals (tolerance 5e-4; measured
    /// -0.574120, -0.786901, -0.892327, -0.933142). At alpha = 0.02, B = 1 the exact chain
    /// gives -0.573356: two-cell jumps (tau = 0.32) move it 7.6e-4 from the alpha -> 0 limit,
    /// so PAPER.md's "-0.574 for every alpha" is the small-alpha (detailed-balance) value.
    /// A chain with only +-1 jumps does not explain it either (-0.572870).
    #[test]
    fn stationary_mean_matches_paper_and_falls_with_the_batch() {
        let (f, g) = (Landscape::WAVE, wave_grid());
        let mut prev = f64::INFINITY;
        let mut prev_min = 0.0;
        for (batch, paper) in [(1.0f64, -0.574), (4.0, -0.787), (16.0, -0.892), (64.0, -0.933)] {
            let s = 4.0 / batch.sqrt();
            let mut means = vec![];
            for alpha in [0.005, 0.001] {
                let (c, pi) = solve(&f, &g, alpha, s);
                means.push((mean_value(&c, &pi), prob_at_minimiser(&c, &pi)));
            }
            let (ef, pmin) = means[1];
            assert!((ef - paper).abs() < 5e-4, "B={batch}: E[F] = {ef}, PAPER.md {paper}");
            assert!((means[0].0 - ef).abs() < 1e-12, "B={batch}: {means:?}");
            assert!(ef < prev - 0.03 && pmin > prev_min + 0.1, "B={batch}: E[F] {ef}, P(min) {pmin}");
            (prev, prev_min) = (ef, pmin);
            // Larger batches make the grid minimiser (-0.969) likelier but never certain.
            assert!(ef > -0.969 && pmin < 0.75);
        }
        let (c, pi) = solve(&f, &g, 0.02, 4.0);
        let ef = mean_value(&c, &pi);
        assert!((ef - -0.573356).abs() < 1e-6, "{ef}");
        let m = g.minimisers(&f);
        assert_eq!(m.states.len(), 1);
        assert_eq!(g.point(m.states[0]), -0.75);
        assert!((m.value - -0.969).abs() < 5e-4);
    }

    /// (d) 2-D egg-crate on [-3, 3]^2, delta 0.1 (61 x 61), alpha 0.002, s = 4 (tau 0.08).
    #[test]
    fn egg_crate_2d_solves_and_is_symmetric() {
        let g = ToyGrid::new(0.1, 3.0);
        let (c, pi) = solve(&Landscape::EggCrate { c: 10.0 }, &g, 0.002, 4.0);
        assert_eq!((c.n, c.states()), (61, 3721));
        assert!(c.row_sum_error() < 1e-14);
        let n = c.n;
        let pmax = pi.iter().copied().fold(0.0, f64::max);
        let asym = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| (pi[i * n + j] - pi[j * n + i]).abs())
            .fold(0.0, f64::max);
        assert!(asym < 1e-12 * pmax, "asymmetry {asym:e}");
        // Also mirror-symmetric (F is even in each coordinate).
        let mirror = (0..n * n).map(|s| (pi[s] - pi[(n - 1 - s / n) * n + (n - 1 - s % n)]).abs()).fold(0.0, f64::max);
        assert!(mirror < 1e-12 * pmax, "mirror asymmetry {mirror:e}");
        let pmin = prob_at_minimiser(&c, &pi);
        assert!((0.1..0.3).contains(&pmin), "P(min) = {pmin}");
    }

    /// A narrower window (8.5 sd) drops < 1e-17 per coordinate: same pi to 1e-14.
    #[test]
    fn narrow_tail_window_changes_nothing_visible() {
        let (f, g) = (Landscape::EggCrate { c: 10.0 }, ToyGrid::new(0.1, 1.5));
        let full = build(&f, &g, 0.01, 4.0);
        let narrow = build_with_tail(&f, &g, 0.01, 4.0, 8.5);
        assert!(narrow.bandwidth < full.bandwidth && narrow.nnz() < full.nnz());
        assert!(narrow.row_sum_error() < 1e-14);
        let tv = tv_distance(&stationary(&full).pi, &stationary(&narrow).pi);
        assert!(tv < 1e-14, "{tv:e}");
    }

    /// At a large batch (s = 0.1: B = 1600) pi spans hundreds of decades: back-substitution must rescale, and
    /// the small probabilities still satisfy detailed balance (relative 1e-9).
    #[test]
    fn pi_spanning_hundreds_of_decades() {
        let (f, g) = (Landscape::WAVE, wave_grid());
        let (c, pi) = solve(&f, &g, 0.001, 0.1);
        // Back-substitution starts from pi[0] = 1: without rescaling it would overflow.
        assert!(pi[0] < 1e-310, "pi[0] = {:e}", pi[0]);
        assert!(pi.iter().all(|p| p.is_finite()));
        assert!((pi.iter().sum::<f64>() - 1.0).abs() < 1e-14);
        let db = detailed_balance_defect(&c, &pi);
        assert!(db < 1e-9, "{db:e}");
    }

    /// Closed form for a sticky chain P = (1 - e) I + e 1 pi^T: sigma^2 = Var_pi(f) (2 - e) / e.
    #[test]
    fn asymptotic_variance_closed_form() {
        let g = ToyGrid::new(1.0, 1.0);
        let pi0 = [0.2, 0.3, 0.5];
        let e = 0.1;
        let mut val = vec![];
        for i in 0..3 {
            for (j, &p) in pi0.iter().enumerate() {
                val.push(e * p + if i == j { 1.0 - e } else { 0.0 });
            }
        }
        let c = Chain {
            landscape: Landscape::WAVE,
            grid: g,
            alpha: 1.0,
            s: 1.0,
            tau: 1.0,
            dim: 1,
            n: 3,
            values: g.values(&Landscape::WAVE),
            bandwidth: 2,
            row_ptr: vec![0, 3, 6, 9],
            col: vec![0, 1, 2, 0, 1, 2, 0, 1, 2],
            val,
        };
        let st = stationary(&c);
        assert!(tv_distance(&st.pi, &pi0) < 1e-15);
        let f = [1.0, -2.0, 0.5];
        let m: f64 = pi0.iter().zip(&f).map(|(p, x)| p * x).sum();
        let var: f64 = pi0.iter().zip(&f).map(|(p, x)| p * (x - m) * (x - m)).sum();
        let got = asymptotic_variance(&c, &st.pi, &f);
        assert!((got / (var * (2.0 - e) / e) - 1.0).abs() < 1e-12, "{got}");
    }

    /// Timings for the module docs:
    /// `cargo test --release --lib markov::tests::timings -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timings() {
        let t = std::time::Instant::now();
        let reps = 1000;
        for _ in 0..reps {
            solve(&Landscape::WAVE, &wave_grid(), 0.001, 4.0);
        }
        println!("1-D 41 points, alpha 0.001: {:?} per build + solve", t.elapsed() / reps);
        let t = std::time::Instant::now();
        solve(&Landscape::WAVE, &wave_grid(), 0.1, 4.0);
        println!("1-D 41 points, alpha 0.1 (tau 1.6): {:?}", t.elapsed());
        for (radius, alpha, s, tail) in [
            (2.5, 0.002, 4.0, TAIL),
            (5.0, 0.002, 4.0, TAIL),
            (2.5, 0.01, 4.0, TAIL),
            (2.5, 0.01, 4.0, 8.5),
            (5.0, 0.01, 4.0, 8.5),
        ] {
            let g = ToyGrid::new(0.1, radius);
            let t = std::time::Instant::now();
            let c = build_with_tail(&Landscape::EggCrate { c: 10.0 }, &g, alpha, s, tail);
            let tb = t.elapsed();
            let st = stationary(&c);
            println!(
                "2-D {n} x {n}, tau {:.2}, tail {tail}: b = {}, nnz = {}, build {tb:?}, total {:?}, residual {:.1e}",
                c.tau,
                c.bandwidth,
                c.nnz(),
                t.elapsed(),
                st.residual_l1,
                n = g.n()
            );
        }
    }
}
