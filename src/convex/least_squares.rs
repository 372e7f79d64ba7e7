//! Regularised least squares with the exact minimiser from a direct solve.

use ndarray::Array2;

use super::{ConvexProblem, Loss};
use crate::linalg::cholesky_solve;

/// Build the problem and solve (X^T X / m + lambda I) w* = X^T y / m by Cholesky.
pub fn build(x: Array2<f64>, y: Vec<f64>, lambda: f64) -> Result<ConvexProblem, String> {
    let (m, d) = (x.nrows(), x.ncols());
    let mut h = x.t().dot(&x);
    h.mapv_inplace(|v| v / m as f64);
    for i in 0..d {
        h[[i, i]] += lambda;
    }
    let yv = ndarray::ArrayView1::from(&y);
    let b = x.t().dot(&yv) / m as f64;
    let h: Vec<f64> = h.iter().copied().collect();
    let w_star = cholesky_solve(&h, b.as_slice().unwrap())
        .map_err(|e| format!("least squares has no unique minimiser ({e}); use samples >= dim or lambda > 0"))?;
    let ev = crate::linalg::sym_eigenvalues(&h, d);
    let (mu, smoothness) = (ev[0], ev[d - 1]);
    let mut p =
        ConvexProblem { loss: Loss::Squared, x, y, lambda, w_star, f_star: 0.0, hessian: Some(h), mu, smoothness };
    p.f_star = p.loss(&p.w_star.clone());
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::{generate, SyntheticSpec, Target};
    use crate::linalg::norm2;

    #[test]
    fn minimiser_has_zero_gradient_and_gap_is_consistent() {
        let spec =
            SyntheticSpec { dim: 8, samples: 50, noise: 0.3, cond: 10.0, target: Target::Regression, scale: 1.0 };
        let ds = generate(&spec, 1);
        let p = build(ds.x, ds.y, 0.01).unwrap();
        let mut g = vec![0.0; 8];
        p.grad_full(&p.w_star, &mut g);
        assert!(norm2(&g).sqrt() < 1e-13, "{:e}", norm2(&g).sqrt());
        let w: Vec<f64> = p.w_star.iter().map(|v| v + 0.1).collect();
        // The quadratic-form gap equals the difference of losses.
        assert!((p.gap(&w) - (p.loss(&w) - p.f_star)).abs() < 1e-12);
        assert_eq!(p.gap(&p.w_star), 0.0);
    }

    #[test]
    fn singular_problem_is_an_error() {
        let spec = SyntheticSpec { dim: 10, samples: 5, noise: 0.0, cond: 1.0, target: Target::Regression, scale: 1.0 };
        let ds = generate(&spec, 1);
        assert!(build(ds.x, ds.y, 0.0).is_err());
    }
}
