//! A network's per-step parameter pass: the optimizer's direction fused with the method's
//! update.
//!
//! Done as two passes over a 1.9M-parameter vector, the direction writes the whole gradient
//! buffer out of the cache and the update reads it back. Here both run piece by piece, so
//! each piece of the gradient is still in L1 when the update reads it; threaded runs split
//! the vector over rayon's pool. Every element's direction and update depend only on that
//! element (and rounding noise on its position in the whole vector), so the bits are the
//! same as the two whole passes, whatever the split.

use std::ops::Range;

use crate::method::{Bounds, Method, Noise, Target};
use crate::optim::{Optimizer, StepState};
use crate::quant::Lattice;

/// Elements per piece: 2 KiB of each buffer (w, latent, g, Adam's m and v), so the
/// piece of `g` the direction writes is still in L1 when the update reads it. Measured on
/// the 1.86M parameters of a 784-1024-1024-10 MLP with Adam (one Zen-4 core): FP 1.33 ->
/// 0.92 ms, BC 1.80 -> 1.48 ms, SR 2.84 -> 2.60 ms per step against two whole passes;
/// 4096-element pieces were no faster than two whole passes.
const PIECE: usize = 1 << 9;
/// Elements below which a threaded pass stops splitting (rayon's task overhead is about a
/// microsecond; a chunk this size takes tens).
const CHUNK: usize = 1 << 15;

/// How one contiguous range of the parameter vector steps.
#[derive(Clone, Debug)]
pub struct Segment {
    pub range: Range<usize>,
    pub method: Method,
    pub lat: Lattice<f32>,
    pub bounds: Bounds<f32>,
}

/// The segments of the whole vector, in order.
pub struct UpdatePlan {
    segments: Vec<Segment>,
}

/// Matching parts of every per-parameter buffer.
struct Span<'a> {
    start: usize,
    w: &'a mut [f32],
    latent: Option<&'a mut [f32]>,
    g: &'a mut [f32],
    opt: StepState<'a, f32>,
}

impl<'a> Span<'a> {
    fn split_at(self, mid: usize) -> (Span<'a>, Span<'a>) {
        let (w0, w1) = self.w.split_at_mut(mid);
        let (g0, g1) = self.g.split_at_mut(mid);
        let (l0, l1) = match self.latent {
            Some(l) => {
                let (a, b) = l.split_at_mut(mid);
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        let (o0, o1) = self.opt.split_at(mid);
        (
            Span { start: self.start, w: w0, latent: l0, g: g0, opt: o0 },
            Span { start: self.start + mid, w: w1, latent: l1, g: g1, opt: o1 },
        )
    }
}

/// What every piece of a step shares: the step size and the key of its rounding noise.
#[derive(Clone, Copy, Debug)]
pub struct StepArgs {
    pub alpha: f32,
    pub key: u64,
}

impl UpdatePlan {
    /// `segments` must tile `0..len` (any order).
    pub fn new(mut segments: Vec<Segment>, len: usize) -> UpdatePlan {
        segments.sort_by_key(|s| s.range.start);
        let mut at = 0;
        for s in &segments {
            assert_eq!(s.range.start, at, "update segments must tile the parameter vector");
            at = s.range.end;
        }
        assert_eq!(at, len, "update segments must tile the parameter vector");
        UpdatePlan { segments }
    }

    /// One step without statistics: `g` becomes the optimizer's direction and `w` (and BC's
    /// `latent`, which covers the whole vector) take the method's step of size `args.alpha`
    /// with rounding key `args.key`. With `threaded`, pieces run on the current rayon pool.
    pub fn step(
        &self,
        opt: &mut Optimizer<f32>,
        w: &mut [f32],
        latent: Option<&mut [f32]>,
        g: &mut [f32],
        args: StepArgs,
        threaded: bool,
    ) {
        assert_eq!(w.len(), g.len(), "weights and gradient differ in length");
        assert!(latent.as_ref().is_none_or(|l| l.len() == w.len()), "latent and deployed weights differ in length");
        let mut rest = Span { start: 0, w, latent, g, opt: opt.begin_step() };
        for seg in &self.segments {
            let (head, tail) = rest.split_at(seg.range.len());
            rest = tail;
            if threaded {
                fused_par(head, seg, args);
            } else {
                fused(head, seg, args);
            }
        }
    }
}

/// The pass compiled a second time with AVX-512 enabled, taken for the quantized methods
/// where the CPU has it: the same element-wise IEEE operations in 16 lanes instead of 8, so
/// the same bits (the test below compares it with the two whole passes, which run without
/// it). On the 784-1024-1024-10 MLP, whole runs paired: BC-ADAM 1.045x at one thread (6
/// pairs, 1.026-1.085) and 1.013x at two, SR-ADAM 1.042x at one (4 pairs); FP-ADAM, whose
/// pass is mostly memory traffic, was 0.975x with it and keeps the AVX2 loop.
fn fused(span: Span<'_>, seg: &Segment, args: StepArgs) {
    #[cfg(target_arch = "x86_64")]
    {
        if seg.method != Method::Fp && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { fused_avx512(span, seg, args) };
        }
    }
    fused_body(span, seg, args)
}

/// [`fused_body`] with AVX-512 enabled.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fused_avx512(span: Span<'_>, seg: &Segment, args: StepArgs) {
    fused_body(span, seg, args)
}

/// Piece by piece: the optimizer's direction, then the method's update while the piece of
/// the direction is still in L1.
#[inline(always)]
fn fused_body(mut span: Span<'_>, seg: &Segment, args: StepArgs) {
    while !span.w.is_empty() {
        let n = span.w.len().min(PIECE);
        let (head, tail) = span.split_at(n);
        let Span { start, w, latent, g, mut opt } = head;
        opt.apply(g);
        // Only BC's quantized layers keep latent weights; FP ranges step `w` alone.
        let latent = if matches!(seg.method, Method::Bc { .. }) { latent } else { None };
        let (to, noise) = (Target { lat: &seg.lat, bounds: seg.bounds }, Noise { key: args.key, offset: start });
        seg.method.step_slices_quiet(w, latent, g, args.alpha, to, noise);
        span = tail;
    }
}

fn fused_par(span: Span<'_>, seg: &Segment, args: StepArgs) {
    let n = span.w.len();
    if n <= CHUNK {
        return fused(span, seg, args);
    }
    // Halve on a piece boundary so that pieces stay full.
    let mid = (n / 2).div_ceil(PIECE) * PIECE;
    let (a, b) = span.split_at(mid);
    rayon::join(|| fused_par(a, seg, args), || fused_par(b, seg, args));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Rounding;
    use crate::optim::OptimKind;
    use crate::quant::Grid;

    /// The fused pass gives the bits of the two whole passes (direction, then the method
    /// per segment), serial and threaded, for every method and optimizer.
    #[test]
    fn fused_pass_is_bitwise_the_two_whole_passes() {
        let n = 3 * CHUNK + 1234;
        let grid = Lattice::<f32>::new(&Grid::binary(0.05).unwrap());
        let fine = Lattice::<f32>::new(&Grid::fixed(1.0, None).unwrap());
        let methods = [
            Method::Fp,
            Method::R,
            Method::Sr,
            Method::Bc { rounding: Rounding::Nearest, clip: true },
            Method::Bc { rounding: Rounding::Stochastic, clip: false },
        ];
        let kinds = [
            OptimKind::Sgd,
            OptimKind::Momentum { beta: 0.9 },
            OptimKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        ];
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for method in methods {
            for kind in kinds {
                // An FP head (like a first layer kept in full precision), a quantized middle
                // that is not piece-aligned, an FP tail (biases).
                let cuts = [0, 1000, 1000 + 2 * CHUNK + 777, n];
                let bounds = if method == (Method::Bc { rounding: Rounding::Nearest, clip: true }) {
                    Bounds { lo: grid.lo, hi: grid.hi }
                } else {
                    Bounds::unbounded()
                };
                let segs: Vec<Segment> = (0..3)
                    .map(|i| {
                        let q = i == 1 && method.is_quantized();
                        Segment {
                            range: cuts[i]..cuts[i + 1],
                            method: if q { method } else { Method::Fp },
                            lat: if q { grid } else { fine },
                            bounds: if q { bounds } else { Bounds::unbounded() },
                        }
                    })
                    .collect();
                let plan = UpdatePlan::new(segs.clone(), n);
                let w0: Vec<f32> = (0..n).map(|i| (i as f32 * 0.013).sin() * 0.06).collect();
                let bc = matches!(method, Method::Bc { .. });
                let (mut want_w, mut want_l) = (w0.clone(), bc.then(|| w0.clone()));
                let mut want_opt = Optimizer::<f32>::new(kind, n);
                let mut got = [(w0.clone(), bc.then(|| w0.clone()), Optimizer::<f32>::new(kind, n)), {
                    (w0.clone(), bc.then(|| w0.clone()), Optimizer::<f32>::new(kind, n))
                }];
                for step in 0..3u64 {
                    let g0: Vec<f32> = (0..n).map(|i| ((i as u64 * 7 + step) as f32 * 0.37).cos()).collect();
                    let (alpha, key) = (0.01, 99 + step);
                    let mut g = g0.clone();
                    want_opt.direction(&mut g);
                    for s in &segs {
                        let r = s.range.clone();
                        let l = want_l.as_mut().filter(|_| s.method != Method::Fp).map(|l| &mut l[r.clone()]);
                        let to = Target { lat: &s.lat, bounds: s.bounds };
                        let noise = Noise { key, offset: r.start };
                        s.method.step_slices_quiet(&mut want_w[r.clone()], l, &g[r.clone()], alpha, to, noise);
                    }
                    for (threaded, (w, l, opt)) in [false, true].into_iter().zip(got.iter_mut()) {
                        let mut g = g0.clone();
                        pool.install(|| plan.step(opt, w, l.as_deref_mut(), &mut g, StepArgs { alpha, key }, threaded));
                        assert!(w == &want_w, "{method:?} {kind:?} threaded={threaded} step {step}: weights");
                        assert!(l == &want_l, "{method:?} {kind:?} threaded={threaded} step {step}: latent");
                    }
                }
                // The steps moved something (a test that cannot fail is no test).
                assert!(want_w != w0, "{method:?} {kind:?}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "tile")]
    fn segments_with_a_gap_are_rejected() {
        let fine = Lattice::<f32>::new(&Grid::fixed(1.0, None).unwrap());
        let seg = |r: Range<usize>| Segment { range: r, method: Method::Fp, lat: fine, bounds: Bounds::unbounded() };
        UpdatePlan::new(vec![seg(0..3), seg(4..6)], 6);
    }
}
