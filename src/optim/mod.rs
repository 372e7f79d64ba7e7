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
        self.t = self.t.saturating_add(1);
        Self::apply(self.kind, self.t, g, &mut self.m, &mut self.v);
    }

    /// The same, split into chunks over the current rayon pool. Every element's update is
    /// independent of the others, so the result is the same bits as `direction`.
    pub fn direction_par(&mut self, g: &mut [T], chunk: usize) {
        use rayon::prelude::*;
        self.t = self.t.saturating_add(1);
        let (kind, t) = (self.kind, self.t);
        match kind {
            OptimKind::Sgd => {}
            OptimKind::Momentum { .. } => g
                .par_chunks_mut(chunk)
                .zip(self.m.par_chunks_mut(chunk))
                .for_each(|(gc, mc)| Self::apply(kind, t, gc, mc, &mut [])),
            OptimKind::Adam { .. } => g
                .par_chunks_mut(chunk)
                .zip(self.m.par_chunks_mut(chunk))
                .zip(self.v.par_chunks_mut(chunk))
                .for_each(|((gc, mc), vc)| Self::apply(kind, t, gc, mc, vc)),
        }
    }

    /// The direction of step `t` on matching slices of the gradient and the state.
    #[inline]
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

    #[test]
    fn parallel_direction_is_bitwise_the_serial_one() {
        for kind in
            [OptimKind::Sgd, OptimKind::Momentum { beta: 0.9 }, OptimKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }]
        {
            let n = 1000;
            let (mut a, mut b) = (Optimizer::<f32>::new(kind, n), Optimizer::<f32>::new(kind, n));
            for step in 0..3 {
                let g: Vec<f32> = (0..n).map(|i| ((i * 7 + step) as f32 * 0.37).sin()).collect();
                let (mut ga, mut gb) = (g.clone(), g);
                a.direction(&mut ga);
                let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
                pool.install(|| b.direction_par(&mut gb, 64));
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
