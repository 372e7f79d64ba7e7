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
//! `cargo test --release --lib toy::markov::solver::tests::timings -- --ignored --nocapture`):
//! - 1-D wave, 41 points: 6 us per build + solve at alpha = 0.001 (b = 1);
//!   0.6 ms at alpha = 0.1 (tau = 1.6, b = 40: every jump).
//! - 2-D egg-crate (c = 10, delta 0.1), tau = 0.08: 51 x 51 (b = 206) 0.03 s;
//!   101 x 101 (b = 406, 66 MB) 0.4 s.
//! - tau = 0.4: 51 x 51 b = 823, 0.36 s; 101 x 101 b = 1723, 20 s and 280 MB with the
//!   full window, 0.5 s (b = 612) with `build_with_tail(.., 8.5)`.
//!
//! Files: the one-coordinate kernel in closed form (kernel.rs), the sparse transition
//! matrix (chain.rs), the banded GTH solve and what follows from pi (solver.rs), and the
//! asymptotic variance of time averages (variance.rs).

mod chain;
mod kernel;
mod solver;
mod variance;

pub use chain::{build, build_with_tail, Chain};
pub use kernel::{coord_kernel, edge_mass, hat_mass, TAIL};
pub use solver::{detailed_balance_defect, mean_value, prob_at_minimiser, stationary, tv_distance, Stationary};
pub use variance::asymptotic_variance;

#[cfg(test)]
mod testing {
    use super::*;
    use crate::toy::{Landscape, ToyGrid};

    pub fn wave_grid() -> ToyGrid {
        ToyGrid::new(0.25, 5.0)
    }

    pub fn solve(f: &Landscape, g: &ToyGrid, alpha: f64, s: f64) -> (Chain, Vec<f64>) {
        let c = build(f, g, alpha, s);
        let st = stationary(&c).unwrap();
        assert!(st.residual_l1 < 1e-12, "alpha={alpha} s={s}: residual {:e}", st.residual_l1);
        (c, st.pi)
    }
}
