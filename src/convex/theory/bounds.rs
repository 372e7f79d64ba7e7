//! The convex bounds of docs/THEORY.md (section 3) as small pure functions. All bound
//! E[F(w_bar_T) - F*], the gap of the uniformly averaged iterate after T steps
//! (BC: the average of the latent weights).

/// SR's error floor sqrt(d) Delta G / 2: the rescaled rounding noise has
/// E||r_t||^2 <= sqrt(d) Delta G / alpha_t, so shrinking the step does not shrink it.
pub fn sr_floor(d: usize, delta: f64, g: f64) -> f64 {
    (d as f64).sqrt() * delta * g / 2.0
}

/// BC's floor in the paper's form, D L2 sqrt(d) Delta / 2 (L2: Lipschitz constant of
/// the Hessian, D: diameter of the domain).
pub fn bc_floor(diameter: f64, l2: f64, d: usize, delta: f64) -> f64 {
    diameter * l2 * (d as f64).sqrt() * delta / 2.0
}

/// BC's floor in the safe form (D L2 / 2) mean E||r||^2 <= D L2 d Delta^2 / 8, which
/// avoids the loose step from ||r|| to ||r||^2 noted by the critique of the proof.
pub fn bc_floor_safe(diameter: f64, l2: f64, d: usize, delta: f64) -> f64 {
    diameter * l2 * d as f64 * delta * delta / 8.0
}

/// mu-strongly convex, alpha_t = 1/(mu (t+1)):
/// (1 + log(T+1)) G^2 / (2 mu T) + floor.
pub fn strongly_convex(t: u64, g: f64, mu: f64, floor: f64) -> f64 {
    let t = t as f64;
    (1.0 + (t + 1.0).ln()) * g * g / (2.0 * mu * t) + floor
}

/// Convex, constant step alpha, starting at distance r0 from w*:
/// r0^2 / (2 alpha T) + alpha G^2 / 2 + floor. (Telescoping
/// E||w_{t+1} - w*||^2 <= E||w_t - w*||^2 - 2 alpha E[F(w_t) - F*] + alpha^2 G^2 + 2 alpha floor,
/// the last term being the rounding noise of SR or the curvature bias of BC.)
pub fn const_step(t: u64, alpha: f64, g: f64, r0: f64, floor: f64) -> f64 {
    r0 * r0 / (2.0 * alpha * t as f64) + alpha * g * g / 2.0 + floor
}

/// Bound on the Hessian's Lipschitz constant of the logistic loss:
/// |d^3/dz^3 log(1 + e^-z)| <= 1/(6 sqrt 3), so
/// ||H(w) - H(v)|| <= (1/(6 sqrt 3)) (1/m) sum ||x_i||^3 ||w - v||.
pub fn logistic_l2(mean_cubed_row_norm: f64) -> f64 {
    mean_cubed_row_norm / (6.0 * 3f64.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_match_hand_computations() {
        // d = 100, Delta = 0.1, G = 2: sqrt(100) * 0.1 * 2 / 2 = 1.
        assert!((sr_floor(100, 0.1, 2.0) - 1.0).abs() < 1e-15);
        // D = 4, L2 = 0.5, d = 16, Delta = 0.25: 4 * 0.5 * 4 * 0.25 / 2 = 1.
        assert!((bc_floor(4.0, 0.5, 16, 0.25) - 1.0).abs() < 1e-15);
        // 4 * 0.5 * 16 * 0.0625 / 8 = 0.25.
        assert!((bc_floor_safe(4.0, 0.5, 16, 0.25) - 0.25).abs() < 1e-15);
        // T = e - 1 makes log(T + 1) = 1: 2 * G^2 / (2 mu T) = G^2 / (mu T).
        let t = 99u64;
        let want = (1.0 + 100f64.ln()) * 9.0 / (2.0 * 0.5 * 99.0) + 0.1;
        assert!((strongly_convex(t, 3.0, 0.5, 0.1) - want).abs() < 1e-15);
        // r0 = 2, alpha = 0.1, T = 100, G = 3, floor 0.5: 4/20 + 0.45 + 0.5 = 1.15.
        assert!((const_step(100, 0.1, 3.0, 2.0, 0.5) - 1.15).abs() < 1e-14);
        // The maximum of |sigma''| is 1/(6 sqrt 3) = 0.096225.
        assert!((logistic_l2(1.0) - 0.0962250448649376).abs() < 1e-15);
    }

    /// The logistic third-derivative constant is really the maximum of |sigma''(z)|.
    #[test]
    fn logistic_third_derivative_bound_is_tight() {
        let s = |z: f64| 1.0 / (1.0 + (-z).exp());
        let max = (-4000..4000)
            .map(|i| {
                let z = i as f64 * 1e-3;
                let p = s(z);
                (p * (1.0 - p) * (1.0 - 2.0 * p)).abs()
            })
            .fold(0.0, f64::max);
        assert!(max <= logistic_l2(1.0) + 1e-12 && max > logistic_l2(1.0) - 1e-6, "{max}");
    }
}
