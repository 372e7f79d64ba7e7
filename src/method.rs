//! The four training methods: where rounding sits relative to the optimizer step.
//!
//! - FP: `w <- w - alpha d`
//! - R:  `w <- Q_d(w - alpha d)`   (weights live on the grid)
//! - SR: `w <- Q_s(w - alpha d)`   (weights live on the grid)
//! - BC: `w_r <- w_r - alpha d`, deployed `w = Q(w_r)` with Q nearest or stochastic,
//!   optionally clipping `w_r` to the grid's range.
//!
//! The gradient is always evaluated at the deployed weights. Methods work on flat slices
//! and know nothing of the model.

use crate::quant::Lattice;
use crate::real::Real;
use crate::rng::draw;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    Nearest,
    Stochastic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Fp,
    R,
    Sr,
    Bc { rounding: Rounding, clip: bool },
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::Fp => "fp",
            Method::R => "r",
            Method::Sr => "sr",
            Method::Bc { .. } => "bc",
        }
    }

    pub fn is_quantized(&self) -> bool {
        !matches!(self, Method::Fp)
    }
}

/// Deployed weights, plus BC's full-precision latent buffer.
#[derive(Clone, Debug)]
pub struct Weights<T> {
    pub deployed: Vec<T>,
    pub latent: Option<Vec<T>>,
}

/// What one step did, for the metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepStats {
    /// Deployed weights whose value changed.
    pub changed: usize,
    /// Coordinates whose step `|alpha d_i|` was below half a grid cell (R cannot move them).
    pub subcell: usize,
    /// Sum of |deployed - value before rounding| (BC: the latent value).
    pub round_err: f64,
}

/// Where an update may land before rounding: the problem's box domain, intersected with
/// the grid's range for BC's latent clipping.
#[derive(Clone, Copy, Debug)]
pub struct Bounds<T> {
    pub lo: T,
    pub hi: T,
}

impl<T: Real> Bounds<T> {
    pub fn unbounded() -> Self {
        Bounds { lo: -T::INFINITY, hi: T::INFINITY }
    }
}

/// Where a slice's step lands: the grid its weights are rounded to and the box they are
/// clipped to first.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a, T> {
    pub lat: &'a Lattice<T>,
    pub bounds: Bounds<T>,
}

/// A slice's rounding noise: element `i` uses draw `offset + i` of the step's stream `key`,
/// `offset` being the slice's position in the whole vector, so the draws do not depend on
/// how the vector is split.
#[derive(Clone, Copy, Debug)]
pub struct Noise {
    pub key: u64,
    pub offset: usize,
}

impl Method {
    /// Put the initial point where the method keeps its weights.
    pub fn init<T: Real>(&self, w0: Vec<T>, lat: &Lattice<T>, bounds: Bounds<T>, key: u64) -> Weights<T> {
        let mut w: Vec<T> = w0.iter().map(|x| x.clamp_to(bounds.lo, bounds.hi)).collect();
        match *self {
            Method::Fp => Weights { deployed: w, latent: None },
            Method::R => {
                w.iter_mut().for_each(|x| *x = lat.nearest(*x));
                Weights { deployed: w, latent: None }
            }
            Method::Sr => {
                for (i, x) in w.iter_mut().enumerate() {
                    *x = lat.stochastic(*x, T::unit_from_bits(draw(key, i as u64)));
                }
                Weights { deployed: w, latent: None }
            }
            Method::Bc { rounding, .. } => {
                let latent = w.clone();
                for (i, x) in w.iter_mut().enumerate() {
                    *x = match rounding {
                        Rounding::Nearest => lat.nearest(*x),
                        Rounding::Stochastic => lat.stochastic(*x, T::unit_from_bits(draw(key, i as u64))),
                    };
                }
                Weights { deployed: w, latent: Some(latent) }
            }
        }
    }

    /// Take one step along `dir` with step size `alpha`. `key` seeds this step's
    /// rounding noise (element i uses draw i of it).
    #[inline]
    pub fn step<T: Real>(
        &self,
        wts: &mut Weights<T>,
        dir: &[T],
        alpha: T,
        lat: &Lattice<T>,
        bounds: Bounds<T>,
        key: u64,
    ) -> StepStats {
        let (to, noise) = (Target { lat, bounds }, Noise { key, offset: 0 });
        self.step_slices(&mut wts.deployed, wts.latent.as_deref_mut(), dir, alpha, to, noise)
    }

    /// The same step without the statistics: no accumulators in the loops, so they
    /// vectorize (networks step millions of weights and need the statistics rarely).
    #[inline]
    pub fn step_slices_quiet<T: Real>(
        &self,
        w: &mut [T],
        latent: Option<&mut [T]>,
        dir: &[T],
        alpha: T,
        to: Target<'_, T>,
        noise: Noise,
    ) {
        self.step_impl::<T, false>(w, latent, dir, alpha, to, noise);
    }

    /// The same on one part of a parameter vector (e.g. one layer's weights): `offset` is
    /// the slice's position in the whole vector, so element `offset + i` uses draw
    /// `offset + i` of the step's rounding stream whatever the split.
    #[inline]
    pub fn step_slices<T: Real>(
        &self,
        w: &mut [T],
        latent: Option<&mut [T]>,
        dir: &[T],
        alpha: T,
        to: Target<'_, T>,
        noise: Noise,
    ) -> StepStats {
        self.step_impl::<T, true>(w, latent, dir, alpha, to, noise)
    }

    /// One step; with `TALLY = false` the statistics code is compiled out.
    #[inline(always)]
    fn step_impl<T: Real, const TALLY: bool>(
        &self,
        w: &mut [T],
        latent: Option<&mut [T]>,
        dir: &[T],
        alpha: T,
        to: Target<'_, T>,
        noise: Noise,
    ) -> StepStats {
        let (lat, Bounds { lo, hi }, Noise { key, offset }) = (to.lat, to.bounds, noise);
        let half = lat.delta * T::HALF;
        let mut st = StepStats::default();
        let unit = |i: usize| T::unit_from_bits(draw(key, (offset + i) as u64));
        // What a step tallies: moved weights, sub-cell updates, the rounding error.
        let mut tally = |old: T, new: T, pre: T, s: T| {
            if TALLY {
                st.changed += (new != old) as usize;
                st.subcell += (s.abs() < half) as usize;
                st.round_err += (new - pre).abs().to_f64();
            }
        };
        match *self {
            Method::Fp => {
                for (wi, &di) in w.iter_mut().zip(dir) {
                    let x = (*wi - alpha * di).clamp_to(lo, hi);
                    tally(*wi, x, x, T::INFINITY);
                    *wi = x;
                }
            }
            Method::R => {
                for (wi, &di) in w.iter_mut().zip(dir) {
                    let s = alpha * di;
                    let pre = (*wi - s).clamp_to(lo, hi);
                    let x = lat.nearest(pre);
                    tally(*wi, x, pre, s);
                    *wi = x;
                }
            }
            Method::Sr => {
                for (i, (wi, &di)) in w.iter_mut().zip(dir).enumerate() {
                    let s = alpha * di;
                    let pre = (*wi - s).clamp_to(lo, hi);
                    let x = lat.stochastic(pre, unit(i));
                    tally(*wi, x, pre, s);
                    *wi = x;
                }
            }
            Method::Bc { rounding, .. } => {
                let latent = latent.expect("BC keeps a latent buffer");
                let it = w.iter_mut().zip(latent.iter_mut()).zip(dir);
                // One loop per rounding mode: with the choice inside, the nearest loop ran
                // slower (BC-ADAM's parameter pass on a 784-1024-1024-10 MLP took 7-16 %
                // longer, the whole step 2.5-3 %, alternating both within one process).
                match rounding {
                    Rounding::Nearest => {
                        for ((wi, li), &di) in it {
                            let s = alpha * di;
                            *li = (*li - s).clamp_to(lo, hi);
                            let x = lat.nearest(*li);
                            tally(*wi, x, *li, s);
                            *wi = x;
                        }
                    }
                    Rounding::Stochastic => {
                        for (i, ((wi, li), &di)) in it.enumerate() {
                            let s = alpha * di;
                            *li = (*li - s).clamp_to(lo, hi);
                            let x = lat.stochastic(*li, unit(i));
                            tally(*wi, x, *li, s);
                            *wi = x;
                        }
                    }
                }
            }
        }
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::Grid;

    fn lat() -> Lattice<f64> {
        Lattice::new(&Grid::fixed(0.5, None).unwrap())
    }

    #[test]
    fn r_does_not_move_below_half_a_cell_and_moves_above() {
        let m = Method::R;
        let mut w = m.init(vec![0.0, 1.0], &lat(), Bounds::unbounded(), 0);
        let st = m.step(&mut w, &[0.2, -0.2], 1.0, &lat(), Bounds::unbounded(), 0);
        assert_eq!((st.changed, st.subcell), (0, 2));
        assert_eq!(w.deployed, vec![0.0, 1.0]);
        let st = m.step(&mut w, &[0.3, -0.3], 1.0, &lat(), Bounds::unbounded(), 0);
        assert_eq!((st.changed, st.subcell), (2, 0));
        assert_eq!(w.deployed, vec![-0.5, 1.5]);
    }

    #[test]
    fn bc_accumulates_small_steps_in_the_latent_buffer() {
        let m = Method::Bc { rounding: Rounding::Nearest, clip: false };
        let mut w = m.init(vec![0.0], &lat(), Bounds::unbounded(), 0);
        for _ in 0..2 {
            m.step(&mut w, &[-0.1], 1.0, &lat(), Bounds::unbounded(), 0);
            assert_eq!(w.deployed, vec![0.0]);
        }
        m.step(&mut w, &[-0.1], 1.0, &lat(), Bounds::unbounded(), 0);
        assert_eq!(w.deployed, vec![0.5]);
        assert!((w.latent.as_ref().unwrap()[0] - 0.3).abs() < 1e-15);
    }

    #[test]
    fn sr_steps_are_on_the_grid_and_unbiased() {
        let m = Method::Sr;
        let n = 100_000;
        let mut w = m.init(vec![0.0; n], &lat(), Bounds::unbounded(), 1);
        m.step(&mut w, &vec![-0.1; n], 1.0, &lat(), Bounds::unbounded(), 2);
        assert!(w.deployed.iter().all(|&x| x == 0.0 || x == 0.5));
        let mean = w.deployed.iter().sum::<f64>() / n as f64;
        // Bernoulli(0.2) * 0.5: std of the mean = 0.5 * 0.4 / sqrt(n) = 6.3e-4.
        assert!((mean - 0.1).abs() < 5.0 * 6.3e-4, "{mean}");
    }

    /// The quiet step is the same step: same weights, same draws, for every method.
    #[test]
    fn quiet_step_matches_the_counting_step() {
        let l = lat();
        let methods = [
            Method::Fp,
            Method::R,
            Method::Sr,
            Method::Bc { rounding: Rounding::Nearest, clip: false },
            Method::Bc { rounding: Rounding::Stochastic, clip: true },
        ];
        for m in methods {
            let w0: Vec<f64> = (0..50).map(|i| (i as f64 * 0.37).sin()).collect();
            let dir: Vec<f64> = (0..50).map(|i| (i as f64 * 0.91).cos()).collect();
            let b = Bounds { lo: -1.0, hi: 1.0 };
            let mut a = m.init(w0.clone(), &l, b, 1);
            let mut q = a.clone();
            let (to, noise) = (Target { lat: &l, bounds: b }, Noise { key: 9, offset: 7 });
            m.step_slices(&mut a.deployed, a.latent.as_deref_mut(), &dir, 0.3, to, noise);
            m.step_slices_quiet(&mut q.deployed, q.latent.as_deref_mut(), &dir, 0.3, to, noise);
            assert_eq!((a.deployed, a.latent), (q.deployed, q.latent), "{m:?}");
        }
    }

    #[test]
    fn bounds_clamp_before_rounding() {
        let m = Method::Fp;
        let b = Bounds { lo: -1.0, hi: 1.0 };
        let mut w = m.init(vec![0.0], &lat(), b, 0);
        m.step(&mut w, &[-5.0], 1.0, &lat(), b, 0);
        assert_eq!(w.deployed, vec![1.0]);
    }
}
