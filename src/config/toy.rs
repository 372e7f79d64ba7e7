//! The toys' settings: a 1-D/2-D landscape with Gaussian gradient noise on a box grid,
//! simulated or (SR only) solved exactly as a Markov chain.

use super::choice::{LandscapeName, Mode};
use super::parse::Val;
use super::point::{as_f64, Point};
use crate::method::Method;
use crate::optim::{OptimKind, Schedule};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LandscapeSpec {
    /// F(w) = a w^2 + sin(b w), 1-D.
    Wave { a: f64, b: f64 },
    /// F(x, y) = x^2 + y^2 + c (sin^2 x + sin^2 y), 2-D.
    EggCrate { c: f64 },
    /// F(w) = sum_i w_i^2 - a cos(2 pi w_i) + a, 1-D or 2-D.
    Rastrigin { a: f64, dim: usize },
}

/// A non-convex toy landscape with Gaussian gradient noise on a box grid.
#[derive(Clone, Debug, PartialEq)]
pub struct ToySpec {
    pub landscape: LandscapeSpec,
    /// Standard deviation of the gradient noise per coordinate at batch 1.
    pub sigma: f64,
    /// The box [-radius, radius] per coordinate; the grid is k * delta inside it.
    pub radius: f64,
    /// The grid's spacing (also the visit histogram's bins, FP included).
    pub delta: f64,
    /// The constant step size.
    pub alpha: f64,
    /// Steps discarded before the visit histogram and time averages start.
    pub burn_in: u64,
    /// Solve SR's exact Markov chain instead of simulating.
    pub exact: bool,
}

/// The toy's landscape, noise and box (the grid, step and mode follow, see [`finish`]).
pub fn resolve(p: &Point) -> ToySpec {
    let landscape = match p.choice::<LandscapeName>("problem.landscape") {
        Some(LandscapeName::EggCrate) => LandscapeSpec::EggCrate { c: p.f64("problem.c") },
        Some(LandscapeName::Rastrigin) => {
            let dim = p.int("problem.dim") as usize;
            if !(1..=2).contains(&dim) {
                p.err(format!("problem.dim = {dim}: the rastrigin toy is 1-D or 2-D"));
            }
            LandscapeSpec::Rastrigin { a: as_f64(&p.computed("problem.a", Val::Float(10.0))), dim }
        }
        Some(LandscapeName::Wave) | None => {
            LandscapeSpec::Wave { a: as_f64(&p.computed("problem.a", Val::Float(0.05))), b: p.f64("problem.b") }
        }
    };
    let sigma = p.f64("problem.sigma");
    let radius = as_f64(&p.computed("problem.radius", Val::Float(5.0)));
    ToySpec { landscape, sigma, radius, delta: f64::NAN, alpha: f64::NAN, burn_in: 0, exact: false }
}

/// The rest of a toy run once the method and optimizer are known: the step (a number),
/// whether it is an exact chain, and the burn-in. Returns `(steps, log_every)`.
pub fn finish(p: &Point, t: &mut ToySpec, method: Method, optim: OptimKind, schedule: Schedule) -> (u64, u64) {
    t.alpha = match p.required("optim.lr", "") {
        Some(Val::Str(s)) => {
            p.err(format!("optim.lr = {s:?}: toy landscapes are not strongly convex; give a number"));
            f64::NAN
        }
        v => v.map_or(f64::NAN, |v| as_f64(&v)),
    };
    t.exact = method == Method::Sr && p.choice::<Mode>("run.mode") == Some(Mode::Exact);
    if t.exact {
        // The chain is time-homogeneous plain SGD + SR: no state, no decay.
        if optim != OptimKind::Sgd {
            p.err("run.mode = \"exact\": the exact chain is for optim.kind = \"sgd\"".into());
        }
        if schedule != Schedule::Const {
            p.err("run.mode = \"exact\": the exact chain needs optim.schedule = \"const\"".into());
        }
    }
    if schedule != Schedule::Const {
        p.err("optim.schedule: toy runs use a constant step (sweep optim.lr instead)".into());
    }
    if t.exact && t.sigma == 0.0 {
        p.err("run.mode = \"exact\" needs problem.sigma > 0 (without noise the chain is not irreducible)".into());
    }
    if t.exact {
        // The exact chain has no trajectory; a sweep mixing modes legitimately sets these.
        let _ = (p.get("run.steps"), p.get("run.log_every"), p.get("run.burn_in"));
        return (0, 1);
    }
    let (steps, log_every) = (p.int("run.steps") as u64, p.int("run.log_every") as u64);
    t.burn_in = match p.computed("run.burn_in", Val::Int((steps / 10) as i64)) {
        Val::Int(b) => b as u64,
        _ => 0,
    };
    if t.burn_in >= steps {
        p.err(format!("run.burn_in = {}: must be smaller than run.steps = {steps}", t.burn_in));
    }
    (steps, log_every)
}
