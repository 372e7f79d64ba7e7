//! L2-regularised logistic regression; the minimiser by Newton's method.

use ndarray::Array2;

use super::{ConvexProblem, Loss};
use crate::linalg::{cholesky_solve, dot, norm2};

/// Newton stops when the full gradient's norm is below this.
pub const GRAD_TOL: f64 = 1e-12;

pub fn build(x: Array2<f64>, y: Vec<f64>, lambda: f64) -> Result<ConvexProblem, String> {
    if lambda <= 0.0 {
        return Err("logistic regression needs lambda > 0 (strong convexity)".into());
    }
    let (m, d) = (x.nrows(), x.ncols());
    let gram: Vec<f64> = x.t().dot(&x).iter().map(|v| v / m as f64).collect();
    let smoothness = crate::linalg::sym_eigenvalues(&gram, d)[d - 1] / 4.0 + lambda;
    let mut p = ConvexProblem {
        loss: Loss::Logistic,
        x,
        y,
        lambda,
        w_star: vec![0.0; d],
        f_star: 0.0,
        hessian: None,
        mu: lambda,
        smoothness,
    };
    p.w_star = newton(&p)?;
    p.f_star = p.loss(&p.w_star);
    Ok(p)
}

fn newton(p: &ConvexProblem) -> Result<Vec<f64>, String> {
    let (m, d) = (p.samples(), p.dim());
    let mut w = vec![0.0; d];
    let mut g = vec![0.0; d];
    for _ in 0..100 {
        p.grad_full(&w, &mut g);
        let gnorm = norm2(&g).sqrt();
        if gnorm < GRAD_TOL {
            return Ok(w);
        }
        // Hessian X^T diag(s (1 - s)) X / m + lambda I via a row-scaled copy of X.
        let mut xs = p.x.clone();
        for (mut row, &yi) in xs.rows_mut().into_iter().zip(&p.y) {
            let z = yi * dot(row.as_slice().unwrap(), &w);
            let s = 1.0 / (1.0 + (-z).exp());
            let c = (s * (1.0 - s)).sqrt();
            row.mapv_inplace(|v| v * c);
        }
        let mut h: Array2<f64> = xs.t().dot(&xs);
        h.mapv_inplace(|v| v / m as f64);
        for i in 0..d {
            h[[i, i]] += p.lambda;
        }
        let h: Vec<f64> = h.iter().copied().collect();
        let neg_g: Vec<f64> = g.iter().map(|v| -v).collect();
        let step = cholesky_solve(&h, &neg_g)?;
        // Damped far from the optimum; pure Newton steps once the gradient is small,
        // where loss differences drown in rounding.
        let mut t = 1.0;
        if gnorm > 1e-6 {
            let f0 = p.loss(&w);
            let slope = dot(&g, &step);
            while t > 1e-12 {
                let trial: Vec<f64> = w.iter().zip(&step).map(|(a, b)| a + t * b).collect();
                if p.loss(&trial) <= f0 + 1e-4 * t * slope {
                    break;
                }
                t *= 0.5;
            }
        }
        for (wi, si) in w.iter_mut().zip(&step) {
            *wi += t * si;
        }
    }
    p.grad_full(&w, &mut g);
    let gnorm = norm2(&g).sqrt();
    if gnorm < GRAD_TOL {
        Ok(w)
    } else {
        Err(format!("Newton's method did not reach gradient norm {GRAD_TOL:e} (got {gnorm:e})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::{generate, SyntheticSpec, Target};

    #[test]
    fn newton_reaches_gradient_norm_below_1e_12() {
        let spec =
            SyntheticSpec { dim: 20, samples: 400, noise: 0.1, cond: 10.0, target: Target::Classification, scale: 1.0 };
        let ds = generate(&spec, 3);
        let p = build(ds.x, ds.y, 1e-3).unwrap();
        let mut g = vec![0.0; 20];
        p.grad_full(&p.w_star, &mut g);
        assert!(norm2(&g).sqrt() < 1e-12);
        // w* is a minimiser: any perturbation increases F.
        for k in 0..20 {
            let mut w = p.w_star.clone();
            w[k] += 1e-3;
            assert!(p.gap(&w) > 0.0);
        }
    }

    #[test]
    fn zero_lambda_is_rejected() {
        let spec =
            SyntheticSpec { dim: 2, samples: 10, noise: 0.0, cond: 1.0, target: Target::Classification, scale: 1.0 };
        let ds = generate(&spec, 3);
        assert!(build(ds.x, ds.y, 0.0).is_err());
    }
}
