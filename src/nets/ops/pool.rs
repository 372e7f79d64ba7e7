//! 2 x 2 max-pooling with stride 2 on `H x W` planes (`H`, `W` even).
//!
//! The planes are contiguous row-major blocks one after another, so a CNHW activation of `C`
//! channels and batch `B` is `C*B` planes, and the output (`H/2 x W/2` planes in the same
//! order) is CNHW again.
//!
//! The forward pass stores, per output, which of the four window positions won as a `u8`:
//! `0` = (0, 0), `1` = (0, 1), `2` = (1, 0), `3` = (1, 1), i.e. row-major order in the
//! window. Ties go to the first in that order (a later value wins only if strictly
//! greater), as PyTorch's CPU kernel does; a NaN wins over any number (and a later NaN over
//! an earlier one, as in PyTorch), so a NaN propagates. The backward pass routes each
//! output's gradient to its window's winner only; the other three get 0.

use super::{for_chunks, for_chunks2};
use crate::nets::gemm::Parallelism;

fn check_shape(planes: usize, h: usize, w: usize) -> usize {
    assert!(h % 2 == 0 && w % 2 == 0, "maxpool2: plane {h} x {w} must have even sides");
    planes * h * w
}

/// `y` (`planes x H/2 x W/2`) = the maximum of each 2 x 2 window of `x` (`planes x H x W`),
/// `arg` its position in the window (see the module notes).
pub fn maxpool2_forward(x: &[f32], planes: usize, h: usize, w: usize, y: &mut [f32], arg: &mut [u8], par: Parallelism) {
    let n = check_shape(planes, h, w);
    assert_eq!(x.len(), n, "maxpool2: x must hold {planes} planes of {h} x {w}");
    assert_eq!(y.len(), n / 4, "maxpool2: y must hold {} values", n / 4);
    assert_eq!(arg.len(), n / 4, "maxpool2: arg must hold {} values", n / 4);
    if n == 0 {
        return;
    }
    let (ho, wo) = (h / 2, w / 2);
    for_chunks2(par, y, ho * wo, arg, ho * wo, n, |pl, yp, ap| {
        let xp = &x[pl * h * w..][..h * w];
        for ((rows, yr), ar) in xp.chunks_exact(2 * w).zip(yp.chunks_exact_mut(wo)).zip(ap.chunks_exact_mut(wo)) {
            let (r0, r1) = rows.split_at(w);
            for (((p, q), yv), av) in r0.chunks_exact(2).zip(r1.chunks_exact(2)).zip(yr).zip(ar.iter_mut()) {
                // Branch-free, so that the loop vectorizes.
                let (mut best, mut at) = (p[0], 0u8);
                for (v, k) in [(p[1], 1u8), (q[0], 2), (q[1], 3)] {
                    let take = v > best || v.is_nan();
                    best = if take { v } else { best };
                    at = if take { k } else { at };
                }
                *yv = best;
                *av = at;
            }
        }
    });
}

/// `dx` (`planes x H x W`, every entry written) from `dy` (`planes x H/2 x W/2`) and the
/// forward pass's `arg`.
pub fn maxpool2_backward(dy: &[f32], arg: &[u8], planes: usize, h: usize, w: usize, dx: &mut [f32], par: Parallelism) {
    let n = check_shape(planes, h, w);
    assert_eq!(dx.len(), n, "maxpool2: dx must hold {planes} planes of {h} x {w}");
    assert_eq!(dy.len(), n / 4, "maxpool2: dy must hold {} values", n / 4);
    assert_eq!(arg.len(), n / 4, "maxpool2: arg must hold {} values", n / 4);
    if n == 0 {
        return;
    }
    let (ho, wo) = (h / 2, w / 2);
    for_chunks(par, dx, h * w, n, |pl, dp| {
        let (dyp, ap) = (&dy[pl * ho * wo..][..ho * wo], &arg[pl * ho * wo..][..ho * wo]);
        for ((rows, dyr), ar) in dp.chunks_exact_mut(2 * w).zip(dyp.chunks_exact(wo)).zip(ap.chunks_exact(wo)) {
            let (r0, r1) = rows.split_at_mut(w);
            for (((p, q), &g), &a) in r0.chunks_exact_mut(2).zip(r1.chunks_exact_mut(2)).zip(dyr).zip(ar) {
                let pick = |k: u8| if a == k { g } else { 0.0 };
                p[0] = pick(0);
                p[1] = pick(1);
                q[0] = pick(2);
                q[1] = pick(3);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    /// Plain-loop f64 reference: the loss `sum r_o max(window_o)`.
    fn ref_loss(x: &[f64], planes: usize, h: usize, w: usize, r: &[f32]) -> f64 {
        let (ho, wo) = (h / 2, w / 2);
        let mut l = 0.0;
        for pl in 0..planes {
            for i in 0..ho {
                for j in 0..wo {
                    let at = |a: usize, b: usize| x[(pl * h + 2 * i + a) * w + 2 * j + b];
                    let m = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                    l += r[(pl * ho + i) * wo + j] as f64 * m;
                }
            }
        }
        l
    }

    /// Values on a 1/64 grid from a small set, so windows have exact ties (and the gaps
    /// between distinct values, >= 1/64, dwarf the finite-difference step).
    fn tied_input(planes: usize, h: usize, w: usize) -> Vec<f32> {
        let u = uniform(5, planes * h * w, 1.0);
        u.iter().map(|&v| (v * 3.0).round() / 64.0).collect()
    }

    #[test]
    fn gradient_matches_finite_differences_with_ties() {
        let (planes, h, w) = (6, 4, 6);
        let x = tied_input(planes, h, w);
        let r = uniform(6, planes * h * w / 4, 1.0);
        let (mut y, mut arg) = (vec![0.0; x.len() / 4], vec![0u8; x.len() / 4]);
        maxpool2_forward(&x, planes, h, w, &mut y, &mut arg, Parallelism::None);
        let mut dx = vec![f32::NAN; x.len()];
        maxpool2_backward(&r, &arg, planes, h, w, &mut dx, Parallelism::None);
        let mut x64 = to64(&x);
        let mut fd = FdCheck::default();
        let (ho, wo) = (h / 2, w / 2);
        let mut ties = 0;
        for pl in 0..planes {
            for i in 0..ho {
                for j in 0..wo {
                    let o = (pl * ho + i) * wo + j;
                    let idx: Vec<usize> = (0..4).map(|q| (pl * h + 2 * i + q / 2) * w + 2 * j + q % 2).collect();
                    let m = idx.iter().map(|&p| x[p]).fold(f32::NEG_INFINITY, f32::max);
                    assert_eq!(y[o], m);
                    let winners: Vec<usize> = (0..4).filter(|&q| x[idx[q]] == m).collect();
                    // Ties: the first in row-major order takes the gradient.
                    assert_eq!(arg[o] as usize, winners[0], "window {o}");
                    if winners.len() == 1 {
                        for &p in &idx {
                            let g = central(&mut x64, p, &mut |q| ref_loss(q, planes, h, w, &r));
                            fd.check(&format!("dx[{p}]"), dx[p], g);
                        }
                    } else {
                        // A tie is not differentiable along a single input; along the
                        // direction that moves all tied inputs together it is, and the
                        // routed gradient must sum to that derivative.
                        ties += 1;
                        let h_ = 1e-6;
                        let shift = |q: &mut Vec<f64>, d: f64| {
                            for &wq in &winners {
                                q[idx[wq]] += d;
                            }
                        };
                        shift(&mut x64, h_);
                        let up = ref_loss(&x64, planes, h, w, &r);
                        shift(&mut x64, -2.0 * h_);
                        let down = ref_loss(&x64, planes, h, w, &r);
                        shift(&mut x64, h_);
                        let g: f32 = winners.iter().map(|&wq| dx[idx[wq]]).sum();
                        fd.check(&format!("tie {o}"), g, (up - down) / (2.0 * h_));
                        for q in 0..4 {
                            let want = if q == winners[0] { r[o] } else { 0.0 };
                            assert_eq!(dx[idx[q]], want, "tied window {o}, position {q}");
                        }
                    }
                }
            }
        }
        assert!(ties >= 5, "only {ties} tied windows");
        fd.finish("maxpool2 gradient", 0.5);
    }

    #[test]
    fn nan_propagates_and_threads_keep_bits() {
        let (planes, h, w) = (64, 16, 20);
        let mut x = tied_input(planes, h, w);
        x[3] = f32::NAN;
        let run = |par: Parallelism| {
            let (mut y, mut arg) = (vec![0.0; x.len() / 4], vec![0u8; x.len() / 4]);
            maxpool2_forward(&x, planes, h, w, &mut y, &mut arg, par);
            let mut dx = vec![0.0; x.len()];
            maxpool2_backward(&y, &arg, planes, h, w, &mut dx, par);
            (bits(&y), arg, bits(&dx))
        };
        let a = run(Parallelism::None);
        assert!(f32::from_bits(a.0[1]).is_nan() && a.1[1] == 1, "window (0, 1) holds x[3], position 1");
        assert_eq!(a, pool2().install(|| run(Parallelism::Rayon(0))));
    }
}
