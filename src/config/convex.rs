//! The convex problems' settings: synthetic data, loss, regularisation, box, initial point,
//! and the step size, which only here may be relative to the instance (`"1/mu"`).

use super::choice::{InitName, ProblemKind, Sampling};
use super::parse::Val;
use super::point::{as_f64, Point};
use crate::convex::Loss;
use crate::data::synthetic::{SyntheticSpec, Target};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Zero,
    Normal { std: f64 },
}

/// The initial step size of a convex run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConvexLr {
    Value(f64),
    /// 1/mu, mu the strong-convexity constant of the problem instance.
    InvMu,
}

impl ConvexLr {
    /// alpha_0 on an instance whose strong-convexity constant is `mu`.
    pub fn alpha0(self, mu: f64) -> f64 {
        match self {
            ConvexLr::Value(a) => a,
            ConvexLr::InvMu => 1.0 / mu,
        }
    }
}

/// A convex problem: synthetic data, loss, regularisation, optional box.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvexSpec {
    pub loss: Loss,
    pub data: SyntheticSpec,
    pub lambda: f64,
    pub radius: Option<f64>,
    pub init: Init,
    pub lr: ConvexLr,
    pub sampling: Sampling,
}

/// The `optim.lr` value "1/mu".
pub const INV_MU: &str = "1/mu";

pub fn resolve(p: &Point, kind: ProblemKind, batch: usize) -> ConvexSpec {
    let loss = if kind == ProblemKind::Logistic { Loss::Logistic } else { Loss::Squared };
    let dim = p.int("problem.dim") as usize;
    let samples = p.int("problem.samples") as usize;
    let noise = p.f64("problem.noise");
    let cond = p.f64("problem.cond");
    let lambda = as_f64(&p.computed("problem.lambda", Val::Float(if loss == Loss::Logistic { 1e-3 } else { 0.0 })));
    if loss == Loss::Logistic && noise > 0.5 {
        p.err(format!("problem.noise = {noise}: for logistic it is a label-flip probability, allowed 0..=0.5"));
    }
    if loss == Loss::Logistic && lambda <= 0.0 {
        p.err("problem.lambda = 0: logistic regression needs lambda > 0 (strong convexity)".into());
    }
    if loss == Loss::Squared && lambda == 0.0 && samples < dim {
        p.err(format!(
            "problem.samples = {samples} < problem.dim = {dim} with lambda = 0: the minimiser is not unique (set lambda > 0)"
        ));
    }
    if (dim as u64) * (samples as u64) > 1 << 28 {
        p.err(format!(
            "problem.dim x problem.samples = {}: too large (limit 2^28 values, 2 GiB)",
            dim as u64 * samples as u64
        ));
    }
    let radius = p.opt_f64("problem.radius");
    let init = match p.choice::<InitName>("problem.init") {
        Some(InitName::Normal) => Init::Normal { std: p.f64("problem.init_std") },
        Some(InitName::Zero) | None => Init::Zero,
    };
    let target = if loss == Loss::Logistic { Target::Classification } else { Target::Regression };
    let scale = match p.get("problem.feature_scale") {
        None => 1.0,
        Some(Val::Str(_)) => 1.0 / (dim as f64).sqrt(),
        Some(v) => as_f64(&v),
    };
    let lr = match p.required("optim.lr", "") {
        Some(Val::Str(_)) => ConvexLr::InvMu,
        v => ConvexLr::Value(v.map_or(f64::NAN, |v| as_f64(&v))),
    };
    if batch > samples {
        p.err(format!("optim.batch = {batch}: larger than problem.samples = {samples}"));
    }
    let sampling = p.choice::<Sampling>("optim.sampling").unwrap_or(Sampling::Replacement);
    ConvexSpec {
        loss,
        data: SyntheticSpec { dim, samples, noise, cond, target, scale },
        lambda,
        radius,
        init,
        lr,
        sampling,
    }
}
