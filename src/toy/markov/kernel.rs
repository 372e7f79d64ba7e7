//! SR's kernel of one coordinate in closed form: the Gaussian-integrated probabilities of
//! landing on each grid point (see the module docs of `markov` for the formulas and how
//! cancellation is avoided).

/// Standard deviations past the hat's support kept in a coordinate kernel (see module docs).
pub const TAIL: f64 = 37.5;

const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// `psi(A) = E[(U - A)_+]`, `U ~ N(0, 1)`, for `A >= 0`.
pub(super) fn psi(a: f64) -> f64 {
    debug_assert!(a >= 0.0);
    if a < 2.0 {
        INV_SQRT_2PI * (-0.5 * a * a).exp() - a * 0.5 * libm::erfc(a * std::f64::consts::FRAC_1_SQRT_2)
    } else if a > TAIL {
        // < 1e-305: treat as 0 rather than compute with subnormals.
        0.0
    } else {
        let terms = if a < 3.0 {
            128
        } else if a < 5.0 {
            48
        } else {
            24
        };
        let mut t = 0.0;
        for k in (2..=terms).rev() {
            t = k as f64 / (a + t);
        }
        let r = 1.0 / (a + t);
        INV_SQRT_2PI * (-0.5 * a * a).exp() * r / (a + r)
    }
}

/// `T(a) = E[(X - a)_+]`, `X ~ N(0, tau^2)`.
fn tplus(a: f64, tau: f64) -> f64 {
    if a < 0.0 {
        -a + tplus(-a, tau)
    } else if tau == 0.0 {
        0.0
    } else {
        tau * psi(a / tau)
    }
}

/// `E[hat(X - d)]`: probability that SR lands on an interior point `d` cells from the mean.
pub fn hat_mass(d: f64, tau: f64) -> f64 {
    let d = d.abs();
    let p = if d >= 1.0 {
        tplus(d - 1.0, tau) - 2.0 * tplus(d, tau) + tplus(d + 1.0, tau)
    } else {
        // T(d - 1) = (1 - d) + T(1 - d): positive terms first.
        ((1.0 - d) + tplus(1.0 - d, tau)) - 2.0 * tplus(d, tau) + tplus(1.0 + d, tau)
    };
    p.max(0.0)
}

/// Probability of an end point when the mean is `e` cells inside it (`e < 0`: outside):
/// `E[clamp(1 - (X + e), 0, 1)]`.
pub fn edge_mass(e: f64, tau: f64) -> f64 {
    let p = if e >= 1.0 {
        tplus(e - 1.0, tau) - tplus(e, tau)
    } else if e >= 0.0 {
        ((1.0 - e) + tplus(1.0 - e, tau)) - tplus(e, tau)
    } else {
        // 1 - P(reaching past the end cell), the small part computed on its own.
        1.0 - (tplus(-e, tau) - tplus(1.0 - e, tau))
    };
    p.clamp(0.0, 1.0)
}

/// SR kernel of one coordinate on `n` points: pre-rounding mean `y` (cell units, point `k`
/// at `k`), std `tau` (cells). Fills `out` with `(k, p)`, `k` ascending, `p > 0`.
pub fn coord_kernel(y: f64, tau: f64, n: usize, tail: f64, out: &mut Vec<(usize, f64)>) {
    out.clear();
    let top = (n - 1) as f64;
    let w = 1.0 + tail * tau;
    let kmin = (y - w).ceil().clamp(0.0, top) as usize;
    let kmax = (y + w).floor().clamp(0.0, top) as usize;
    for k in kmin..=kmax {
        let p = if k == 0 {
            edge_mass(y, tau)
        } else if k == n - 1 {
            edge_mass(top - y, tau)
        } else {
            hat_mass(k as f64 - y, tau)
        };
        if p > 0.0 {
            out.push((k, p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// References from mpmath at 400 digits (R-function second differences). Relative
    /// error allowed 5e-14: exp(-A^2/2) alone has relative error ~A^2 eps (2e-14 at A = 20).
    #[test]
    fn kernel_masses_match_high_precision_references() {
        let hats = [
            (0.3, 0.1, 0.699_923_569_136_608),
            (0.982, 0.016, 0.019_044_725_023_948_646),
            (1.5, 0.32, 0.008_120_307_534_879_25),
            (2.7, 0.32, 3.058_652_305_076_036e-9),
            (0.0, 1.6, 0.241_528_743_979_214_46),
            (4.0, 1.6, 0.012_846_203_414_488_526),
            (1.0, 0.5, 0.190_984_010_213_102_9),
            (0.5, 1e-4, 0.5),
            (2.2, 0.04, 6.527_826_936_364_856e-201),
        ];
        for (d, tau, want) in hats {
            for got in [hat_mass(d, tau), hat_mass(-d, tau)] {
                assert!((got / want - 1.0).abs() < 5e-14, "hat({d}, {tau}) = {got:e}, want {want:e}");
            }
        }
        let edges = [
            (0.4, 0.3, 0.589_828_676_272_597_9),
            (-2.0, 0.5, 0.999_996_427_448_962_3),
            (1.7, 0.2, 1.169_618_368_428_429e-5),
            (3.0, 0.1, 1.370_012_494_729_610_6e-91),
            (-0.3, 0.02, 1.0),
            (0.99, 0.001, 0.010_000_000_000_000_009),
        ];
        for (e, tau, want) in edges {
            let got = edge_mass(e, tau);
            assert!((got / want - 1.0).abs() < 5e-14, "edge({e}, {tau}) = {got:e}, want {want:e}");
        }
        // Beyond the TAIL window a mass is exactly 0 (the true value here is 4.6e-353).
        assert_eq!(hat_mass(3.0, 0.05), 0.0);
        // tau = 0 is plain SR.
        assert_eq!(
            (hat_mass(0.25, 0.0), hat_mass(1.0, 0.0), edge_mass(-3.0, 0.0), edge_mass(0.25, 0.0)),
            (0.75, 0.0, 1.0, 0.75)
        );
    }
}
