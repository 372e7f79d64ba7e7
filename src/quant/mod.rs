//! Grids and quantizers: pure functions on slices.
//!
//! A grid is the set `origin + k * delta` for integer `k`, optionally restricted to
//! `[lo, hi]` (both grid points). Values outside the range saturate to its ends.
//!
//! Tie rule of nearest rounding: a value exactly halfway between two grid points goes to
//! the one farther from zero, and an exact 0 halfway between two points goes up (so the
//! binary grid maps 0 to +s, the sign(0) = +1 convention of BinaryConnect). Halfway is
//! decided on `u = (w - origin) / delta` computed in floating point.

mod grid;
mod policy;
pub use grid::{Grid, GridKind};
pub use policy::{binary_connect_scale, glorot_limit, GridRule, LayerGrid, QuantPolicy};

use crate::real::Real;
use crate::rng::draw;

/// A grid converted to the working precision, with the reciprocal of delta precomputed.
#[derive(Clone, Copy, Debug)]
pub struct Lattice<T> {
    pub delta: T,
    pub inv_delta: T,
    pub origin: T,
    pub lo: T,
    pub hi: T,
}

impl<T: Real> Lattice<T> {
    pub fn new(g: &Grid) -> Self {
        Lattice {
            delta: T::from_f64(g.delta),
            inv_delta: T::from_f64(1.0 / g.delta),
            origin: T::from_f64(g.origin),
            lo: T::from_f64(g.lo),
            hi: T::from_f64(g.hi),
        }
    }

    /// Nearest grid point (ties away from zero, see module docs).
    #[inline(always)]
    pub fn nearest(&self, w: T) -> T {
        let x = w.clamp_to(self.lo, self.hi);
        let u = (x - self.origin) * self.inv_delta;
        let f = u.floor();
        let frac = u - f;
        let up = frac > T::HALF || (frac == T::HALF && x >= T::ZERO);
        let k = if up { f + T::ONE } else { f };
        (self.origin + k * self.delta).clamp_to(self.lo, self.hi)
    }

    /// Stochastic rounding with a uniform draw `r` in [0, 1): with `f = floor(u)`,
    /// `p = u - f`, go up with probability `p`. Unbiased inside the range.
    #[inline(always)]
    pub fn stochastic(&self, w: T, r: T) -> T {
        let x = w.clamp_to(self.lo, self.hi);
        let u = (x - self.origin) * self.inv_delta;
        let f = u.floor();
        let k = if r < u - f { f + T::ONE } else { f };
        (self.origin + k * self.delta).clamp_to(self.lo, self.hi)
    }
}

/// Round every element to its nearest grid point, in place.
pub fn round_nearest<T: Real>(grid: &Grid, xs: &mut [T]) {
    let l = Lattice::<T>::new(grid);
    for x in xs.iter_mut() {
        *x = l.nearest(*x);
    }
}

/// Stochastically round every element in place. Element `i` uses draw `i` of the
/// counter-based stream `key`, so the result does not depend on how the slice is split.
pub fn round_stochastic<T: Real>(grid: &Grid, xs: &mut [T], key: u64) {
    let l = Lattice::<T>::new(grid);
    for (i, x) in xs.iter_mut().enumerate() {
        *x = l.stochastic(*x, T::unit_from_bits(draw(key, i as u64)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_on_fixed_grid_with_ties_away_from_zero() {
        let g = Grid::fixed(0.25, None).unwrap();
        let mut xs = vec![0.1, 0.125, -0.125, 0.3, 0.375, -0.375, 1.0, -7.6];
        round_nearest::<f64>(&g, &mut xs);
        assert_eq!(xs, vec![0.0, 0.25, -0.25, 0.25, 0.5, -0.5, 1.0, -7.5]);
    }

    #[test]
    fn binary_and_ternary_grids() {
        let b = Grid::binary(0.5).unwrap();
        let mut xs = vec![-3.0, -0.1, 0.0, 0.1, 2.0];
        round_nearest::<f64>(&b, &mut xs);
        assert_eq!(xs, vec![-0.5, -0.5, 0.5, 0.5, 0.5]);
        let t = Grid::ternary(1.0).unwrap();
        let mut xs = vec![-3.0, -0.6, -0.4, 0.0, 0.4, 0.5, 0.6, 9.0];
        round_nearest::<f32>(&t, &mut xs);
        assert_eq!(xs, vec![-1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn bits_grid_saturates_at_range_ends() {
        // 2 bits over [-1.5, 1.5]: levels -1.5, -0.5, 0.5, 1.5.
        let g = Grid::bits(2, 1.5).unwrap();
        assert_eq!(g.delta, 1.0);
        let mut xs = vec![-9.0, -1.0, 0.0, 0.9, 1.0, 1.6, 100.0];
        round_nearest::<f64>(&g, &mut xs);
        assert_eq!(xs, vec![-1.5, -1.5, 0.5, 0.5, 1.5, 1.5, 1.5]);
        let mut ys = vec![-9.0, 9.0, 1.5, -1.5];
        round_stochastic::<f64>(&g, &mut ys, 3);
        assert_eq!(ys, vec![-1.5, 1.5, 1.5, -1.5]);
    }

    #[test]
    fn fixed_grid_with_range_saturates() {
        let g = Grid::fixed(0.1, Some(0.35)).unwrap();
        assert!((g.hi - 0.3).abs() < 1e-15 && (g.lo + 0.3).abs() < 1e-15);
        let mut xs = vec![5.0, -5.0];
        round_stochastic::<f64>(&g, &mut xs, 1);
        assert_eq!(xs, vec![g.hi, g.lo]);
    }

    #[test]
    fn grid_points_are_fixed_points() {
        for g in [
            Grid::fixed(0.05, None).unwrap(),
            Grid::binary(1.0).unwrap(),
            Grid::ternary(0.3).unwrap(),
            Grid::bits(4, 1.0).unwrap(),
        ] {
            // Every representable point (inside the range) rounds to itself, both ways.
            let pts: Vec<f64> = (-20..20)
                .map(|k| g.origin + k as f64 * g.delta)
                .filter(|x| *x >= g.lo - 1e-12 && *x <= g.hi + 1e-12)
                .collect();
            assert!(pts.len() >= 2, "{g:?}");
            let mut a = pts.clone();
            round_nearest::<f64>(&g, &mut a);
            assert_eq!(a, pts, "{g:?}");
            let mut b = pts.clone();
            round_stochastic::<f64>(&g, &mut b, 11);
            assert_eq!(b, pts, "{g:?}");
        }
    }

    /// E[Q_s(w)] = w and Var[Q_s(w)] = delta^2 p (1 - p), per element, with a fixed seed.
    /// n = 400k draws: the mean's standard error is <= delta / (2 sqrt(n)) = delta * 7.9e-4,
    /// so 5 standard errors is a tolerance of delta * 4e-3; the sample variance of a
    /// two-point variable has relative standard error |1 - 2p| / sqrt(n p (1-p)), and we
    /// allow 5 of those.
    #[test]
    fn stochastic_rounding_is_unbiased_with_the_right_variance() {
        let delta = 0.1;
        let g = Grid::fixed(delta, None).unwrap();
        let n = 400_000;
        for &w in &[0.0123, 0.05, -0.2371, 1.0999] {
            let mut xs = vec![w; n];
            round_stochastic::<f64>(&g, &mut xs, 2024);
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let p = w / delta - (w / delta).floor();
            let want_var = delta * delta * p * (1.0 - p);
            assert!((mean - w).abs() < 5.0 * delta * 0.5 / (n as f64).sqrt(), "w={w} mean={mean}");
            let rel_se = (1.0 - 2.0 * p).abs() / (n as f64 * p * (1.0 - p)).sqrt();
            assert!((var / want_var - 1.0).abs() < 5.0 * rel_se + 1e-3, "w={w} var={var} want={want_var}");
            // Every value is one of the two neighbouring grid points.
            let f = (w / delta).floor();
            assert!(xs.iter().all(|x| {
                let k = (x / delta).round();
                (k == f || k == f + 1.0) && (x - k * delta).abs() < 1e-12
            }));
        }
    }

    #[test]
    fn stochastic_rounding_f32_is_unbiased() {
        let g = Grid::binary(1.0).unwrap();
        let n = 400_000;
        let w = 0.3f32; // P(+1) = (w + 1) / 2 = 0.65
        let mut xs = vec![w; n];
        round_stochastic::<f32>(&g, &mut xs, 99);
        let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        assert!((mean - 0.3).abs() < 5.0 / (n as f64).sqrt(), "mean={mean}");
    }

    /// Different elements and different keys are independent: the correlation of
    /// neighbouring elements' rounding decisions is zero within sampling error.
    #[test]
    fn stochastic_rounding_is_independent_across_elements() {
        let g = Grid::fixed(1.0, None).unwrap();
        let n = 200_000;
        let mut xs = vec![0.5f64; n];
        round_stochastic::<f64>(&g, &mut xs, 5);
        let c: f64 = xs.windows(2).map(|w| (w[0] - 0.5) * (w[1] - 0.5)).sum::<f64>() / (n - 1) as f64;
        // Each product is +-0.25 with mean 0: std of the mean is 0.25 / sqrt(n).
        assert!(c.abs() < 5.0 * 0.25 / (n as f64).sqrt(), "corr={c}");
        let mut ys = vec![0.5f64; n];
        round_stochastic::<f64>(&g, &mut ys, 6);
        assert_ne!(xs, ys);
    }
}
