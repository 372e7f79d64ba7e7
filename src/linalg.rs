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

/// Eigenvalues of a symmetric row-major n x n matrix, ascending: Householder reduction to
/// tridiagonal form, then the implicit QL algorithm (the classic tred2/tqli pair, values
/// only). O(4/3 n^3): about a second for n = 1000.
pub fn sym_eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    assert_eq!(a.len(), n * n);
    if n == 0 {
        return vec![];
    }
    let mut a = a.to_vec();
    let at = |i: usize, j: usize| i * n + j;
    let mut d = vec![0.0; n];
    let mut e = vec![0.0; n];
    // Householder: row i is reduced against columns 0..i-1.
    for i in (1..n).rev() {
        let l = i - 1;
        let mut h = 0.0;
        if l > 0 {
            let scale: f64 = (0..=l).map(|k| a[at(i, k)].abs()).sum();
            if scale == 0.0 {
                e[i] = a[at(i, l)];
            } else {
                for k in 0..=l {
                    a[at(i, k)] /= scale;
                    h += a[at(i, k)] * a[at(i, k)];
                }
                let f = a[at(i, l)];
                let g = if f >= 0.0 { -h.sqrt() } else { h.sqrt() };
                e[i] = scale * g;
                h -= f * g;
                a[at(i, l)] = f - g;
                let mut f = 0.0;
                for j in 0..=l {
                    let mut g = 0.0;
                    for k in 0..=j {
                        g += a[at(j, k)] * a[at(i, k)];
                    }
                    for k in j + 1..=l {
                        g += a[at(k, j)] * a[at(i, k)];
                    }
                    e[j] = g / h;
                    f += e[j] * a[at(i, j)];
                }
                let hh = f / (h + h);
                for j in 0..=l {
                    let f = a[at(i, j)];
                    let g = e[j] - hh * f;
                    e[j] = g;
                    for k in 0..=j {
                        a[at(j, k)] -= f * e[k] + g * a[at(i, k)];
                    }
                }
            }
        } else {
            e[i] = a[at(i, l)];
        }
        d[i] = h;
    }
    for i in 0..n {
        d[i] = a[at(i, i)];
    }
    // Implicit QL on the tridiagonal matrix (d diagonal, e[1..] sub-diagonal).
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    for l in 0..n {
        let mut iter = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            iter += 1;
            if iter > 60 {
                break; // never seen for symmetric input; keeps a pathological case finite
            }
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
            let mut underflow = false;
            let mut i = m;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    underflow = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
            }
            if underflow {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    d.sort_by(f64::total_cmp);
    d
}

#[cfg(test)]
mod eigen_tests {
    use super::*;

    /// Cyclic Jacobi rotations: slow but simple, the oracle for the QL algorithm.
    fn jacobi_eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
        let mut m = a.to_vec();
        for _ in 0..100 {
            let off: f64 = (0..n)
                .flat_map(|i| (0..n).map(move |j| (i, j)))
                .filter(|(i, j)| i != j)
                .map(|(i, j)| m[i * n + j].powi(2))
                .sum();
            if off < 1e-30 {
                break;
            }
            for p in 0..n {
                for q in p + 1..n {
                    let apq = m[p * n + q];
                    if apq == 0.0 {
                        continue;
                    }
                    let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                    let t =
                        if theta == 0.0 { 1.0 } else { theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt()) };
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

    #[test]
    fn ql_matches_jacobi_on_random_symmetric_matrices() {
        for (n, seed) in [(1usize, 1u64), (2, 2), (3, 3), (7, 4), (30, 5)] {
            let mut a = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..=i {
                    let v = (crate::rng::draw(seed, (i * n + j) as u64) >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                    a[i * n + j] = v;
                    a[j * n + i] = v;
                }
            }
            let (ql, jac) = (sym_eigenvalues(&a, n), jacobi_eigenvalues(&a, n));
            for (x, y) in ql.iter().zip(&jac) {
                assert!((x - y).abs() < 1e-12, "n={n}: {ql:?} vs {jac:?}");
            }
        }
        // Degenerate input: a multiple of the identity and a zero matrix.
        assert_eq!(sym_eigenvalues(&[2.0, 0.0, 0.0, 2.0], 2), vec![2.0, 2.0]);
        assert_eq!(sym_eigenvalues(&[0.0; 9], 3), vec![0.0; 3]);
    }

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
