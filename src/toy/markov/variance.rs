//! The asymptotic variance of a time average along SR's chain: the honest sampling error
//! of a simulation.

use super::chain::Chain;

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
    use super::super::{stationary, tv_distance};
    use super::*;
    use crate::toy::{Landscape, ToyGrid};

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
        let st = stationary(&c).unwrap();
        assert!(tv_distance(&st.pi, &pi0) < 1e-15);
        let f = [1.0, -2.0, 0.5];
        let m: f64 = pi0.iter().zip(&f).map(|(p, x)| p * x).sum();
        let var: f64 = pi0.iter().zip(&f).map(|(p, x)| p * (x - m) * (x - m)).sum();
        let got = asymptotic_variance(&c, &st.pi, &f);
        assert!((got / (var * (2.0 - e) / e) - 1.0).abs() < 1e-12, "{got}");
    }
}
