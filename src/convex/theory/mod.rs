//! Theory made visible: the constants of a run's problem (d, Delta, mu, L, L2, D, G), the
//! paper's floors and bounds built from them, and the check of each run against them.
//!
//! Which bound applies to a run:
//! - schedule `inv_t` with `tau = 1` and `lr = "1/mu"` (alpha_t = 1/(mu (t+1))): the
//!   strongly convex bound (1 + log(T+1)) G^2 / (2 mu T) + floor;
//! - schedule `const`: the convex constant-step bound r0^2/(2 alpha T) + alpha G^2/2 + floor;
//! - any other schedule: none.
//!
//! The floor is 0 for FP, sqrt(d) Delta G / 2 for SR and D L2 sqrt(d) Delta / 2 for BC.
//! R has no bound (it stalls). The proofs cover FP, SR and BC with stochastic rounding;
//! BC with nearest rounding is not covered (its rounding error is biased), so its bound
//! is reported with `covered = false`, and so is every bound of a run whose w* lies
//! outside the box or outside the grid's range (the proofs assume neither happens).
//! Bounds are on the averaged iterate (BC: averaged latent weights); G is the measured sup
//! of the mean squared minibatch gradient norm over windows of `trainer::G_WINDOW` steps
//! (independent of logging), and where a box domain is set, the a-priori bound over the
//! box is reported too (`g_box`). Only plain SGD directions are covered: momentum and
//! Adam runs get no bound.

pub mod bounds;

use serde::{Deserialize, Serialize};

use super::trainer::Measured;
use super::{ConvexProblem, Loss};
use crate::config::{ConvexLr, RunSpec};
use crate::method::{Method, Rounding};
use crate::metrics::Row;
use crate::optim::{OptimKind, Schedule};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundKind {
    StronglyConvex,
    ConstStep,
    None,
}

/// What the theory says about one run; written to the run's theory.toml, whose names are
/// summary.csv's (`L`, `L2`, `D`, `G`, `bound_kind`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTheory {
    pub d: usize,
    pub delta: Option<f64>,
    pub mu: f64,
    #[serde(rename = "L")]
    pub smoothness: f64,
    #[serde(rename = "L2")]
    pub l2: f64,
    #[serde(rename = "D")]
    pub diameter: f64,
    /// "box" (2 R sqrt(d)) or "iterates" (twice the largest distance to w* seen).
    #[serde(rename = "D_source")]
    pub diameter_source: String,
    #[serde(rename = "G")]
    pub g_meas: f64,
    #[serde(rename = "G_box")]
    pub g_box: Option<f64>,
    /// Distance of the initial iterate (the one the bound is about) from w*.
    pub r0: f64,
    pub alpha0: f64,
    pub floor_sr: Option<f64>,
    pub floor_bc: Option<f64>,
    pub floor_bc_safe: Option<f64>,
    #[serde(rename = "bound_kind")]
    pub kind: BoundKind,
    /// This method's floor term in the bound (None: no bound, e.g. R).
    pub floor: Option<f64>,
    #[serde(rename = "bound_covered")]
    pub covered: bool,
    pub steps: u64,
    pub bound_final: Option<f64>,
    /// The measured gap the bound is about, at the last step.
    pub measured_final: f64,
    pub violated: Option<bool>,
    /// R only: max_i |alpha_T g_i(w_T)| / (Delta/2) with the full gradient at the final
    /// weights. Below 1, full-batch R cannot move any more: the stall condition.
    pub stall_ratio: Option<f64>,
    /// R only: the predicted worst gap of a stall point, where every |alpha g_i| < Delta/2:
    /// F - F* <= ||grad F||^2 / (2 mu) < d (Delta / (2 alpha))^2 / (2 mu).
    pub stall_gap_bound: Option<f64>,
}

impl RunTheory {
    /// Analyse a finished run from its first and last rows (r0, the final step size and
    /// gap), its final weights and what was measured along it (G, D).
    pub fn analyse(
        spec: &RunSpec,
        p: &ConvexProblem,
        first: &Row,
        last: &Row,
        w_final: &[f64],
        m: &Measured,
    ) -> RunTheory {
        let d = p.dim();
        let latent = matches!(spec.method, Method::Bc { .. });
        let dist = |r: &Row| if latent { r.dist_latent.unwrap_or(r.dist) } else { r.dist };
        let g_meas = m.g_sup;
        let (diameter, diameter_source) = match spec.convex().radius {
            Some(r) => (2.0 * r * (d as f64).sqrt(), "box"),
            None => (2.0 * m.dist_max, "iterates"),
        };
        let row_norms: Vec<f64> = p.x.rows().into_iter().map(|r| r.dot(&r).sqrt()).collect();
        let max_row = row_norms.iter().copied().fold(0.0, f64::max);
        let l2 = match p.loss {
            Loss::Squared => 0.0,
            Loss::Logistic => {
                bounds::logistic_l2(row_norms.iter().map(|n| n.powi(3)).sum::<f64>() / row_norms.len() as f64)
            }
        };
        let g_box = spec.convex().radius.map(|r| {
            let wmax = r * (d as f64).sqrt();
            let data = match p.loss {
                Loss::Squared => row_norms.iter().zip(&p.y).map(|(n, y)| n * (n * wmax + y.abs())).fold(0.0, f64::max),
                Loss::Logistic => max_row,
            };
            data + p.lambda * wmax
        });
        let delta = spec.grid().map(|g| g.delta);
        let floor_sr = delta.map(|dl| bounds::sr_floor(d, dl, g_meas));
        let floor_bc = delta.map(|dl| bounds::bc_floor(diameter, l2, d, dl));
        let floor_bc_safe = delta.map(|dl| bounds::bc_floor_safe(diameter, l2, d, dl));
        // The proofs are for plain SGD directions; momentum and Adam get no bound.
        let kind = match (spec.optim, spec.schedule, spec.convex().lr) {
            (OptimKind::Sgd, Schedule::InvT { tau: 1.0 }, ConvexLr::InvMu) => BoundKind::StronglyConvex,
            (OptimKind::Sgd, Schedule::Const, _) => BoundKind::ConstStep,
            _ => BoundKind::None,
        };
        let (floor, proven) = match spec.method {
            Method::Fp => (Some(0.0), true),
            Method::Sr => (floor_sr, true),
            Method::Bc { rounding, .. } => (floor_bc, rounding == Rounding::Stochastic),
            Method::R => (None, false),
        };
        // No floor term (R stalls): no bound of either kind.
        let kind = if floor.is_some() { kind } else { BoundKind::None };
        let alpha0 = super::trainer::alpha0(spec, p);
        let r0 = dist(first);
        let lr_final = last.lr;
        let (stall_ratio, stall_gap_bound) = match (spec.method, delta) {
            (Method::R, Some(dl)) => {
                let mut g = vec![0.0; d];
                p.grad_full(w_final, &mut g);
                let gmax = g.iter().fold(0.0f64, |a, x| a.max(x.abs()));
                let half_cell_grad = dl / (2.0 * lr_final);
                (Some(gmax / half_cell_grad), Some(d as f64 * half_cell_grad * half_cell_grad / (2.0 * p.mu)))
            }
            _ => (None, None),
        };
        let measured_final = if latent { last.gap_avg_latent.unwrap_or(last.gap_avg) } else { last.gap_avg };
        // The proofs take w* inside the domain (the box of `problem.radius`) and, for the
        // quantized methods, inside the grid's range (no saturation); outside either, the
        // iterates cannot reach the unconstrained F* the gap is measured against.
        let in_box = spec.convex().radius.is_none_or(|r| p.w_star.iter().all(|x| x.abs() <= r));
        let in_range = spec.grid().is_none_or(|g| p.w_star.iter().all(|&x| g.lo <= x && x <= g.hi));
        let mut th = RunTheory {
            d,
            delta,
            mu: p.mu,
            smoothness: p.smoothness,
            l2,
            diameter,
            diameter_source: diameter_source.into(),
            g_meas,
            g_box,
            r0,
            alpha0,
            floor_sr,
            floor_bc,
            floor_bc_safe,
            kind,
            floor,
            covered: proven && kind != BoundKind::None && p.mu > 0.0 && in_box && in_range,
            steps: last.step,
            bound_final: None,
            measured_final,
            violated: None,
            stall_ratio,
            stall_gap_bound,
        };
        th.bound_final = th.bound_at(th.steps);
        th.violated = th.bound_final.map(|b| measured_final > b);
        th
    }

    /// The bound on E[F(w_bar_t) - F*] after t steps, where one applies.
    pub fn bound_at(&self, t: u64) -> Option<f64> {
        let floor = self.floor?;
        if t == 0 {
            return None;
        }
        match self.kind {
            BoundKind::StronglyConvex => Some(bounds::strongly_convex(t, self.g_meas, self.mu, floor)),
            BoundKind::ConstStep => Some(bounds::const_step(t, self.alpha0, self.g_meas, self.r0, floor)),
            BoundKind::None => None,
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("plain values")
    }
}
