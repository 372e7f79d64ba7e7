//! Small dense f64 kernels the convex problems need: dot/axpy written so that they
//! vectorize (fixed accumulation order, hence deterministic), and a Cholesky solve for
//! the exact optimum of least squares and the Newton steps of logistic regression.

/// Dot product with four independent accumulators (lets the compiler use SIMD; the
/// summation order is fixed, so results are bit-reproducible).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// y += a * x
#[inline]
pub fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

pub fn norm2(a: &[f64]) -> f64 {
    dot(a, a)
}

/// x^T A x for a symmetric row-major n x n matrix A.
pub fn quad_form(a: &[f64], x: &[f64]) -> f64 {
    let n = x.len();
    let mut s = 0.0;
    for i in 0..n {
        s += x[i] * dot(&a[i * n..(i + 1) * n], x);
    }
    s
}

/// Solve A x = b for symmetric positive definite A (row-major n x n) by Cholesky.
/// Errors when A is not numerically positive definite.
pub fn cholesky_solve(a: &[f64], b: &[f64]) -> Result<Vec<f64>, String> {
    let n = b.len();
    assert_eq!(a.len(), n * n);
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let mut d = a[j * n + j] - dot(&l[j * n..j * n + j], &l[j * n..j * n + j]);
        let scale = a[j * n + j].abs().max(1e-300);
        if d <= 1e-13 * scale || !d.is_finite() {
            return Err(format!("matrix is singular or not positive definite (pivot {j} = {d:e})"));
        }
        d = d.sqrt();
        l[j * n + j] = d;
        for i in j + 1..n {
            let s = a[i * n + j] - dot(&l[i * n..i * n + j], &l[j * n..j * n + j]);
            l[i * n + j] = s / d;
        }
    }
    // Forward then backward substitution.
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - dot(&l[i * n..i * n + i], &y[..i])) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let mut s = y[i];
        for k in i + 1..n {
            s -= l[k * n + i] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_sum() {
        let a: Vec<f64> = (0..11).map(|i| i as f64 * 0.5).collect();
        let b: Vec<f64> = (0..11).map(|i| 1.0 - i as f64).collect();
        let naive: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-12);
    }

    #[test]
    fn cholesky_solves_a_known_system() {
        // A = [[4, 2], [2, 3]], x = [1, -2] -> b = [0, -4]
        let x = cholesky_solve(&[4.0, 2.0, 2.0, 3.0], &[0.0, -4.0]).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-14 && (x[1] + 2.0).abs() < 1e-14);
        assert!(cholesky_solve(&[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0]).is_err());
        assert_eq!(quad_form(&[4.0, 2.0, 2.0, 3.0], &[1.0, -2.0]), 4.0 - 8.0 + 12.0);
    }
}

/// Eigenvalues of a symmetric row-major n x n matrix, ascending, by cyclic Jacobi
/// rotations (accurate to a few ulps of the largest eigenvalue; O(n^3) per sweep, fine
/// for the few hundred dimensions of the convex problems).
pub fn sym_eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    assert_eq!(a.len(), n * n);
    let mut m = a.to_vec();
    let total: f64 = m.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j].powi(2))
            .sum();
        if off.sqrt() <= 1e-15 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (m[p * n + p], m[q * n + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * akp - s * akq;
                    m[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * apk - s * aqk;
                    m[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut ev: Vec<f64> = (0..n).map(|i| m[i * n + i]).collect();
    ev.sort_by(f64::total_cmp);
    ev
}

#[cfg(test)]
mod eigen_tests {
    use super::*;

    #[test]
    fn eigenvalues_of_known_matrices() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        let ev = sym_eigenvalues(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((ev[0] - 1.0).abs() < 1e-14 && (ev[1] - 3.0).abs() < 1e-14, "{ev:?}");
        // The tridiagonal [-1, 2, -1] matrix of size n: 2 - 2 cos(k pi / (n + 1)).
        let n = 12;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            a[i * n + i] = 2.0;
            if i + 1 < n {
                a[i * n + i + 1] = -1.0;
                a[(i + 1) * n + i] = -1.0;
            }
        }
        let ev = sym_eigenvalues(&a, n);
        for (k, e) in ev.iter().enumerate() {
            let want = 2.0 - 2.0 * ((k + 1) as f64 * std::f64::consts::PI / (n + 1) as f64).cos();
            assert!((e - want).abs() < 1e-13, "{k}: {e} vs {want}");
        }
    }
}
