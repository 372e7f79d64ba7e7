//! Non-convex toy landscapes and the box grid they are quantized on (f64, flat slices).
//!
//! The toys back the "non-convex theory" checks: [`markov`] computes SR's exact stationary
//! distribution on a [`ToyGrid`], `sim` runs the project's methods on the same grid. Both
//! use `quant::Grid::fixed(delta, Some(radius))`, so grid point `k` is the f64
//! `k as f64 * delta` bit for bit in either place.
//!
//! States are flat indices: coordinate `i` has index `k_i` in `0..n` (point
//! `(k_i - K) * delta`, K = (n - 1) / 2), and a point is `sum_i k_i n^(dim-1-i)`
//! (row-major: for 2-D, `ix * n + iy`).

mod family;
pub mod markov;
pub mod sim;

pub use family::{landscape, ToyFamily, CHAIN_FILE, HISTOGRAM_FILE, TRANSITIONS_FILE};

use std::f64::consts::PI;

use crate::quant::{Grid, Lattice};

/// A toy objective `F` with an analytic gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Landscape {
    /// 1-D: `F(w) = a w^2 + sin(b w)`.
    Wave { a: f64, b: f64 },
    /// 2-D: `F(x, y) = x^2 + y^2 + c (sin^2 x + sin^2 y)`.
    EggCrate { c: f64 },
    /// `F(w) = sum_i w_i^2 - a cos(2 pi w_i) + a`.
    Rastrigin { a: f64, dim: usize },
}

impl Landscape {
    /// The 1-D wave toy of docs/THEORY.md (section 4): `0.05 w^2 + sin(2 w)`.
    pub const WAVE: Landscape = Landscape::Wave { a: 0.05, b: 2.0 };

    pub fn dim(&self) -> usize {
        match *self {
            Landscape::Wave { .. } => 1,
            Landscape::EggCrate { .. } => 2,
            Landscape::Rastrigin { dim, .. } => dim,
        }
    }

    pub fn value(&self, w: &[f64]) -> f64 {
        debug_assert_eq!(w.len(), self.dim());
        match *self {
            Landscape::Wave { a, b } => a * w[0] * w[0] + (b * w[0]).sin(),
            Landscape::EggCrate { c } => {
                let (sx, sy) = (w[0].sin(), w[1].sin());
                w[0] * w[0] + w[1] * w[1] + c * (sx * sx + sy * sy)
            }
            Landscape::Rastrigin { a, .. } => w.iter().map(|&x| x * x - a * (2.0 * PI * x).cos() + a).sum(),
        }
    }

    pub fn grad(&self, w: &[f64], g: &mut [f64]) {
        debug_assert_eq!(w.len(), self.dim());
        debug_assert_eq!(g.len(), self.dim());
        match *self {
            Landscape::Wave { a, b } => g[0] = 2.0 * a * w[0] + b * (b * w[0]).cos(),
            // d/dx c sin^2 x = c sin 2x
            Landscape::EggCrate { c } => {
                g[0] = 2.0 * w[0] + c * (2.0 * w[0]).sin();
                g[1] = 2.0 * w[1] + c * (2.0 * w[1]).sin();
            }
            Landscape::Rastrigin { a, .. } => {
                for (gi, &x) in g.iter_mut().zip(w) {
                    *gi = 2.0 * x + 2.0 * PI * a * (2.0 * PI * x).sin();
                }
            }
        }
    }
}

/// The grid `k * delta` on the box `[-radius, radius]` in every coordinate (the box is
/// rounded in to the outermost grid points).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToyGrid {
    pub delta: f64,
    pub radius: f64,
}

/// The global minimisers of `F` over the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Minimisers {
    pub value: f64,
    /// Flat state indices, ascending: every state within 1e-12 of the minimum.
    pub states: Vec<usize>,
}

impl ToyGrid {
    pub fn new(delta: f64, radius: f64) -> Self {
        let g = ToyGrid { delta, radius };
        g.grid();
        g
    }

    /// The project grid the rounding uses. Panics on an invalid delta / radius.
    pub fn grid(&self) -> Grid {
        Grid::fixed(self.delta, Some(self.radius)).expect("valid toy grid")
    }

    pub fn lattice(&self) -> Lattice<f64> {
        Lattice::new(&self.grid())
    }

    /// K: the outermost points are `+-K delta` (same rule as `Grid::fixed`).
    pub fn half(&self) -> usize {
        (self.radius / self.delta + 1e-9).floor() as usize
    }

    /// Points per coordinate: 2K + 1.
    pub fn n(&self) -> usize {
        2 * self.half() + 1
    }

    /// Number of states of a `dim`-dimensional toy: n^dim.
    pub fn states(&self, dim: usize) -> usize {
        self.n().pow(dim as u32)
    }

    /// Coordinate value of index `k` (0..n).
    #[inline]
    pub fn point(&self, k: usize) -> f64 {
        (k as i64 - self.half() as i64) as f64 * self.delta
    }

    /// All coordinate values, ascending.
    pub fn points(&self) -> Vec<f64> {
        (0..self.n()).map(|k| self.point(k)).collect()
    }

    /// Index of the grid point nearest to `x` (clamped to the box; ties as `Lattice::nearest`).
    #[inline]
    pub fn coord_index(&self, lat: &Lattice<f64>, x: f64) -> usize {
        let q = lat.nearest(x);
        ((q / self.delta).round() as i64 + self.half() as i64) as usize
    }

    /// Row-major flat index of the grid point nearest to `w`.
    #[inline]
    pub fn index(&self, lat: &Lattice<f64>, w: &[f64]) -> usize {
        let n = self.n();
        w.iter().fold(0, |acc, &x| acc * n + self.coord_index(lat, x))
    }

    /// Coordinates of state `s` into `out` (its length is the dimension).
    pub fn coords(&self, s: usize, out: &mut [f64]) {
        let n = self.n();
        let mut r = s;
        for x in out.iter_mut().rev() {
            *x = self.point(r % n);
            r /= n;
        }
    }

    /// `F` at every state, row-major.
    pub fn values(&self, f: &Landscape) -> Vec<f64> {
        let mut w = vec![0.0; f.dim()];
        (0..self.states(f.dim()))
            .map(|s| {
                self.coords(s, &mut w);
                f.value(&w)
            })
            .collect()
    }

    /// The global minimum of `F` over the grid and every state within 1e-12 of it.
    pub fn minimisers(&self, f: &Landscape) -> Minimisers {
        let v = self.values(f);
        let value = v.iter().copied().fold(f64::INFINITY, f64::min);
        let states = (0..v.len()).filter(|&s| v[s] <= value + 1e-12).collect();
        Minimisers { value, states }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences with h = 1e-6 have error ~h^2 |F'''| + eps |F| / h ~ 1e-10.
    #[test]
    fn gradients_match_finite_differences() {
        let cases = [
            (Landscape::WAVE, vec![-4.3]),
            (Landscape::WAVE, vec![0.77]),
            (Landscape::EggCrate { c: 10.0 }, vec![0.3, -2.1]),
            (Landscape::Rastrigin { a: 10.0, dim: 3 }, vec![0.1, -0.45, 1.3]),
        ];
        let h = 1e-6;
        for (f, w) in cases {
            let mut g = vec![0.0; f.dim()];
            f.grad(&w, &mut g);
            for i in 0..w.len() {
                let (mut wp, mut wm) = (w.clone(), w.clone());
                wp[i] += h;
                wm[i] -= h;
                let fd = (f.value(&wp) - f.value(&wm)) / (2.0 * h);
                assert!((fd - g[i]).abs() < 1e-7 * (1.0 + g[i].abs()), "{f:?} {w:?} i={i}: {fd} vs {}", g[i]);
            }
        }
    }

    #[test]
    fn grid_points_indices_and_rounding_agree() {
        let g = ToyGrid::new(0.25, 5.0);
        assert_eq!((g.half(), g.n()), (20, 41));
        let lat = g.lattice();
        assert_eq!((lat.lo, lat.hi), (g.point(0), g.point(40)));
        // Every point is a fixed point of the project's rounding and maps back to its index.
        for k in 0..g.n() {
            let x = g.point(k);
            assert_eq!(lat.nearest(x), x);
            assert_eq!(lat.stochastic(x, 0.999), x);
            assert_eq!(g.coord_index(&lat, x), k);
        }
        assert_eq!(g.coord_index(&lat, 0.13), 21);
        assert_eq!(g.coord_index(&lat, -99.0), 0);
        // A radius that is not a multiple of delta is rounded in: [-3, 3] with delta 0.1 -> 61.
        let g2 = ToyGrid::new(0.1, 3.0);
        assert_eq!(g2.n(), 61);
        let lat2 = g2.lattice();
        let s = g2.index(&lat2, &[0.2, -3.0]);
        assert_eq!(s, 32 * 61);
        let mut w = [0.0; 2];
        g2.coords(s, &mut w);
        assert_eq!(w, [g2.point(32), g2.point(0)]);
    }

    /// The grid minimum of the 1-D wave toy is -0.969 at w = -0.75 (sin(-1.5) + 0.05 * 0.5625).
    #[test]
    fn minimisers_of_the_toys() {
        let g = ToyGrid::new(0.25, 5.0);
        let m = g.minimisers(&Landscape::WAVE);
        assert_eq!(m.states, vec![17]);
        assert_eq!(g.point(17), -0.75);
        assert!((m.value - (0.05 * 0.5625 + (-1.5f64).sin())).abs() < 1e-15);
        assert!((m.value + 0.969).abs() < 5e-4);
        // Egg-crate and Rastrigin: the origin, uniquely.
        let g2 = ToyGrid::new(0.1, 3.0);
        let m2 = g2.minimisers(&Landscape::EggCrate { c: 10.0 });
        assert_eq!((m2.value, m2.states), (0.0, vec![30 * 61 + 30]));
        let m3 = g2.minimisers(&Landscape::Rastrigin { a: 10.0, dim: 1 });
        assert_eq!(m3.states, vec![30]);
        // Ties within 1e-12 all count: a periodic landscape has several minimisers.
        let g3 = ToyGrid::new(0.2, 1.0);
        let m4 = g3.minimisers(&Landscape::Wave { a: 0.0, b: 2.0 * PI / 0.8 });
        // sin(2 pi w / 0.8) = -1 at w = -1, -0.2 and 0.6 (equal to rounding error).
        assert_eq!(m4.states, vec![0, 4, 8]);
    }
}
