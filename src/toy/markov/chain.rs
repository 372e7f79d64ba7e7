//! SR's transition matrix on a 1-D or 2-D toy grid (CSR), built row by row from the
//! product of the coordinates' kernels.

use super::kernel::{coord_kernel, TAIL};
use crate::toy::{Landscape, ToyGrid};

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
    pub(super) row_ptr: Vec<usize>,
    pub(super) col: Vec<u32>,
    pub(super) val: Vec<f64>,
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

#[cfg(test)]
mod tests {
    use super::super::stationary;
    use super::super::testing::wave_grid;
    use super::super::tv_distance;
    use super::*;
    use crate::quant::Lattice;

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

    /// A narrower window (8.5 sd) drops < 1e-17 per coordinate: same pi to 1e-14.
    #[test]
    fn narrow_tail_window_changes_nothing_visible() {
        let (f, g) = (Landscape::EggCrate { c: 10.0 }, ToyGrid::new(0.1, 1.5));
        let full = build(&f, &g, 0.01, 4.0);
        let narrow = build_with_tail(&f, &g, 0.01, 4.0, 8.5);
        assert!(narrow.bandwidth < full.bandwidth && narrow.nnz() < full.nnz());
        assert!(narrow.row_sum_error() < 1e-14);
        let tv = tv_distance(&stationary(&full).unwrap().pi, &stationary(&narrow).unwrap().pi);
        assert!(tv < 1e-14, "{tv:e}");
    }
}
