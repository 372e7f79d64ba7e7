//! fits.csv: for each method and each swept numeric axis, a least-squares fit of
//! log(floor) against log(axis value), the other parameters held fixed.

use std::collections::BTreeMap;

use super::csv::{f64_cell, opt_cell};
use super::stats::t975;
use super::summary::{param_keys, Group};
use crate::config::Val;

/// The axes a scaling law is fitted along.
pub const FIT_AXES: &[&str] =
    &["quant.delta", "problem.dim", "optim.batch", "optim.lr", "problem.samples", "problem.noise"];

/// The floor measures fitted (summary.csv column stems).
pub const FIT_MEASURES: &[&str] = &["tail_gap", "tail_gap_latent", "tail_gap_avg"];

#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    pub n: usize,
    pub slope: f64,
    /// Student-t 95% half-width of the slope (needs n >= 3).
    pub slope_ci95: Option<f64>,
    pub intercept: f64,
    pub r2: f64,
}

/// Ordinary least squares of y on x.
pub fn fit_line(x: &[f64], y: &[f64]) -> Option<Fit> {
    let n = x.len();
    if n < 2 {
        return None;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n as f64, y.iter().sum::<f64>() / n as f64);
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = x.iter().zip(y).map(|(a, b)| (b - intercept - slope * a).powi(2)).sum();
    let r2 = if syy > 0.0 { 1.0 - sse / syy } else { 1.0 };
    let slope_ci95 = (n >= 3).then(|| t975(n - 2) * (sse / (n - 2) as f64 / sxx).sqrt());
    Some(Fit { n, slope, slope_ci95, intercept, r2 })
}

fn num(v: &Val) -> Option<f64> {
    match v {
        Val::Int(i) => Some(*i as f64),
        Val::Float(x) => Some(*x),
        _ => None,
    }
}

fn measure(g: &Group, m: &str) -> Option<f64> {
    g.measure(m).map(|s| s.mean).filter(|&x| x > 0.0)
}

/// One row of fits.csv.
#[derive(serde::Serialize)]
struct FitRow {
    method: &'static str,
    axis: &'static str,
    measure: &'static str,
    fixed: String,
    n: usize,
    #[serde(with = "f64_cell")]
    slope: f64,
    #[serde(with = "opt_cell")]
    slope_ci95: Option<f64>,
    #[serde(with = "f64_cell")]
    intercept: f64,
    #[serde(with = "f64_cell")]
    r2: f64,
}

const FIT_COLUMNS: &[&str] = &["method", "axis", "measure", "fixed", "n", "slope", "slope_ci95", "intercept", "r2"];

pub fn fits_csv(groups: &[Group]) -> String {
    let mut rows = Vec::new();
    // Parameters that vary in this folder: they are what "held fixed" has to name.
    let varying: Vec<&str> = param_keys()
        .map(|k| k.path)
        .filter(|p| {
            let vals: std::collections::BTreeSet<String> =
                groups.iter().filter_map(|g| g.spec.param(p)).map(|v| v.canon()).collect();
            vals.len() > 1
        })
        .collect();
    for axis in FIT_AXES.iter().filter(|a| varying.contains(a)) {
        let column = axis.rsplit('.').next().unwrap();
        // Series: every parameter but the axis equal.
        let mut series: BTreeMap<(&str, String), Vec<&Group>> = BTreeMap::new();
        for g in groups.iter().filter(|g| g.spec.param(axis).and_then(num).is_some()) {
            let method = g.spec.method.name();
            let key: Vec<String> = varying
                .iter()
                .filter(|p| *p != axis && **p != "quant.method")
                .filter_map(|p| Some(format!("{}={}", p.rsplit('.').next().unwrap(), g.spec.param(p)?.canon())))
                .collect();
            series.entry((method, key.join(";"))).or_default().push(g);
        }
        for ((method, fixed), gs) in &series {
            for m in FIT_MEASURES {
                // Log-log: axis values <= 0 (e.g. noise = 0) have no place on the fit.
                let pts: Vec<(f64, f64)> = gs
                    .iter()
                    .filter_map(|g| {
                        let x = num(g.spec.param(axis)?).filter(|x| *x > 0.0)?;
                        Some((x.ln(), measure(g, m)?.ln()))
                    })
                    .collect();
                let (x, y): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
                if let Some(f) = fit_line(&x, &y) {
                    rows.push(FitRow {
                        method,
                        axis: column,
                        measure: m,
                        fixed: fixed.clone(),
                        n: f.n,
                        slope: f.slope,
                        slope_ci95: f.slope_ci95,
                        intercept: f.intercept,
                        r2: f.r2,
                    });
                }
            }
        }
    }
    super::csv::to_text(FIT_COLUMNS, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_power_law_gives_its_exponent() {
        let x: Vec<f64> = [0.1f64, 0.05, 0.025, 0.0125].iter().map(|v| v.ln()).collect();
        let y: Vec<f64> = [0.1f64, 0.05, 0.025, 0.0125].iter().map(|v| (3.0 * v * v).ln()).collect();
        let f = fit_line(&x, &y).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-12 && (f.intercept - 3f64.ln()).abs() < 1e-12);
        assert!((f.r2 - 1.0).abs() < 1e-12 && f.slope_ci95.unwrap() < 1e-6);
        // Known regression: x = 1..5, y = [2, 4, 5, 4, 5] -> slope 0.6, intercept 2.2,
        // r2 = 0.6, se(slope) = sqrt(2.4/3/10), t(3) = 3.182.
        let f = fit_line(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 5.0, 4.0, 5.0]).unwrap();
        assert!((f.slope - 0.6).abs() < 1e-12 && (f.intercept - 2.2).abs() < 1e-12 && (f.r2 - 0.6).abs() < 1e-12);
        assert!((f.slope_ci95.unwrap() - 3.182 * (0.08f64).sqrt()).abs() < 1e-12);
        assert!(fit_line(&[1.0], &[1.0]).is_none());
    }
}
