//! Optimizer directions `d_t(g)` and step-size schedules, on flat slices.
//!
//! The optimizer turns a gradient into a direction in place; where the step lands and
//! how it is rounded is the method's business (see `method.rs`). State (momentum,
//! Adam's moments) is always kept in full precision, as in the paper.

mod schedule;
pub use schedule::Schedule;

use crate::real::Real;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimKind {
    Sgd,
    /// Heavy ball: `v <- beta v + g`, `d = v`.
    Momentum {
        beta: f64,
    },
    /// Bias-corrected Adam: `d = m_hat / (sqrt(v_hat) + eps)`.
    Adam {
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
}

pub struct Optimizer<T> {
    kind: OptimKind,
    m: Vec<T>,
    v: Vec<T>,
    t: i32,
}

impl<T: Real> Optimizer<T> {
    pub fn new(kind: OptimKind, n: usize) -> Self {
        let (m, v) = match kind {
            OptimKind::Sgd => (vec![], vec![]),
            OptimKind::Momentum { .. } => (vec![T::ZERO; n], vec![]),
            OptimKind::Adam { .. } => (vec![T::ZERO; n], vec![T::ZERO; n]),
        };
        Optimizer { kind, m, v, t: 0 }
    }

    /// Replace the gradient `g` by the direction of this step.
    #[inline]
    pub fn direction(&mut self, g: &mut [T]) {
        self.begin_step().apply(g);
    }

    /// Start the next step and return its state as one piece covering the whole vector.
    /// Split it (`split_at`) and `apply` each piece to the matching part of the gradient:
    /// every element's update is independent of the others, so any split gives the same
    /// bits as `direction`. This lets a caller fuse the direction with the method's update
    /// chunk by chunk, while the chunk of `g` is still in cache, and spread chunks over
    /// threads.
    pub fn begin_step(&mut self) -> StepState<'_, T> {
        self.t = self.t.saturating_add(1);
        StepState { kind: self.kind, t: self.t, m: &mut self.m, v: &mut self.v }
    }

    /// The direction of step `t` on matching slices of the gradient and the state.
    #[inline(always)]
    fn apply(kind: OptimKind, t: i32, g: &mut [T], m: &mut [T], v: &mut [T]) {
        match kind {
            OptimKind::Sgd => {}
            OptimKind::Momentum { beta } => {
                let beta = T::from_f64(beta);
                for (gi, vi) in g.iter_mut().zip(m.iter_mut()) {
                    *vi = beta * *vi + *gi;
                    *gi = *vi;
                }
            }
            OptimKind::Adam { beta1, beta2, eps } => {
                let (b1, b2) = (T::from_f64(beta1), T::from_f64(beta2));
                let c1 = T::from_f64(1.0 / (1.0 - beta1.powi(t)));
                let c2 = T::from_f64(1.0 / (1.0 - beta2.powi(t)));
                let (one, eps) = (T::ONE, T::from_f64(eps));
                for ((gi, mi), vi) in g.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()) {
                    let x = *gi;
                    *mi = b1 * *mi + (one - b1) * x;
                    *vi = b2 * *vi + (one - b2) * x * x;
                    *gi = (*mi * c1) / ((*vi * c2).sqrt() + eps);
                }
            }
        }
    }
}

/// One step's optimizer state for a contiguous part of the parameter vector.
pub struct StepState<'a, T> {
    kind: OptimKind,
    t: i32,
    /// Empty when the optimizer keeps no such state (SGD; `v` for momentum).
    m: &'a mut [T],
    v: &'a mut [T],
}

impl<'a, T: Real> StepState<'a, T> {
    /// The first `mid` elements of this part and the rest.
    pub fn split_at(self, mid: usize) -> (StepState<'a, T>, StepState<'a, T>) {
        let (kind, t) = (self.kind, self.t);
        let (m0, m1) = split_state(self.m, mid);
        let (v0, v1) = split_state(self.v, mid);
        (StepState { kind, t, m: m0, v: v0 }, StepState { kind, t, m: m1, v: v1 })
    }

    /// Replace `g` (this part of the gradient) by the step's direction.
    #[inline]
    pub fn apply(&mut self, g: &mut [T]) {
        assert!(self.m.is_empty() || self.m.len() == g.len(), "optimizer state and gradient parts differ");
        Optimizer::apply(self.kind, self.t, g, self.m, self.v);
    }
}

/// Split a state buffer; an absent (empty) one stays empty on both sides.
fn split_state<T>(s: &mut [T], mid: usize) -> (&mut [T], &mut [T]) {
    if s.is_empty() {
        (&mut [], &mut [])
    } else {
        s.split_at_mut(mid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_is_identity_and_momentum_accumulates() {
        let mut o = Optimizer::<f64>::new(OptimKind::Sgd, 2);
        let mut g = vec![1.0, -2.0];
        o.direction(&mut g);
        assert_eq!(g, vec![1.0, -2.0]);
        let mut o = Optimizer::<f64>::new(OptimKind::Momentum { beta: 0.5 }, 1);
        let mut g = vec![1.0];
        o.direction(&mut g);
        assert_eq!(g, vec![1.0]);
        let mut g = vec![1.0];
        o.direction(&mut g);
        assert_eq!(g, vec![1.5]);
    }

    /// Applying the step piece by piece, on threads, gives the bits of the whole step.
    #[test]
    fn split_step_is_bitwise_the_whole_one() {
        for kind in
            [OptimKind::Sgd, OptimKind::Momentum { beta: 0.9 }, OptimKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }]
        {
            let n = 1000;
            let (mut a, mut b) = (Optimizer::<f32>::new(kind, n), Optimizer::<f32>::new(kind, n));
            for step in 0..3 {
                let g: Vec<f32> = (0..n).map(|i| ((i * 7 + step) as f32 * 0.37).sin()).collect();
                let (mut ga, mut gb) = (g.clone(), g);
                a.direction(&mut ga);
                // Uneven pieces, the second half on another thread.
                let (left, right) = b.begin_step().split_at(600);
                let (gl, gr) = gb.split_at_mut(600);
                let (mut l0, mut l1) = left.split_at(17);
                let (g0, g1) = gl.split_at_mut(17);
                std::thread::scope(|s| {
                    s.spawn(move || {
                        let mut right = right;
                        right.apply(gr)
                    });
                    l1.apply(g1);
                    l0.apply(g0);
                });
                assert_eq!(ga, gb, "{kind:?}");
            }
        }
    }

    #[test]
    fn adam_first_step_is_sign_like_and_bias_corrected() {
        let mut o = Optimizer::<f64>::new(OptimKind::Adam { beta1: 0.9, beta2: 0.999, eps: 0.0 }, 3);
        let mut g = vec![3.0, -0.001, 0.5];
        o.direction(&mut g);
        for (x, want) in g.iter().zip([1.0, -1.0, 1.0]) {
            assert!((x - want).abs() < 1e-12, "{x}");
        }
        // Second step with the same gradient is again exactly +-1 after bias correction.
        let mut g = vec![3.0, -0.001, 0.5];
        o.direction(&mut g);
        for (x, want) in g.iter().zip([1.0, -1.0, 1.0]) {
            assert!((x - want).abs() < 1e-12, "{x}");
        }
    }
}
