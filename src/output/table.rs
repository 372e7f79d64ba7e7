//! The short floor table printed at the end of `run` and by `summarize`.

use super::stats::Summary;
use super::summary::{param_keys, Group};

fn cell(s: Option<Summary>) -> String {
    match s {
        None => "-".into(),
        Some(Summary { mean, ci95: Some(ci), .. }) => format!("{mean:.3e} ± {ci:.1e}"),
        Some(Summary { mean, .. }) => format!("{mean:.3e}"),
    }
}

/// One line per configuration: the method, every parameter that varies in this folder,
/// the seed count, and the tail gap of the deployed, latent (BC) and averaged weights
/// (mean ± 95% CI over seeds).
pub fn floor_table(groups: &[Group]) -> String {
    let varying: Vec<_> = param_keys()
        .filter(|k| k.path != "quant.method")
        .filter(|k| {
            // Varies among the runs that use it (fp has no delta: that is not variation).
            let vals: std::collections::BTreeSet<String> =
                groups.iter().filter_map(|g| g.spec.param(k.path)).map(|v| v.canon()).collect();
            vals.len() > 1
        })
        .collect();
    // Toys report where the iterates sit: time-averaged F and time at the minimiser.
    let toy = groups.iter().any(|g| g.mean_f.is_some());
    let net = groups.iter().any(|g| g.test_error.is_some());
    let mut header = vec!["method".to_string()];
    header.extend(varying.iter().map(|k| k.column.to_string()));
    if net {
        header.extend(["n", "test error", "test error (bc latent)", "train error"].map(String::from));
    } else if toy {
        header.extend(["n", "E[F] (time avg; exact: E_pi)", "P(at minimiser)", "tail F - F_min"].map(String::from));
    } else {
        header.extend(["n", "tail gap", "latent (bc)", "averaged", "bound (avg)"].map(String::from));
    }
    let mut rows = vec![header];
    for g in groups {
        let mut r = vec![g.spec.method.name().to_string()];
        if let crate::method::Method::Bc { rounding: crate::method::Rounding::Stochastic, .. } = g.spec.method {
            r[0] = "bc(sr)".into();
        }
        r.extend(varying.iter().map(|k| g.spec.param(k.path).map(|v| v.canon()).unwrap_or_else(|| "-".into())));
        let n = if g.n_failed > 0 { format!("{} ({} failed)", g.n, g.n_failed) } else { g.n.to_string() };
        let pct = |s: Option<Summary>| match s {
            Some(Summary { mean, ci95: Some(ci), .. }) => format!("{:.2} ± {:.2} %", 100.0 * mean, 100.0 * ci),
            Some(Summary { mean, .. }) => format!("{:.2} %", 100.0 * mean),
            None => "-".into(),
        };
        if net {
            r.extend([n, pct(g.test_error), pct(g.test_error_latent), pct(g.train_error)]);
            rows.push(r);
            continue;
        }
        if toy {
            let exact = g.spec.param("run.mode").is_some_and(|m| m.canon() == "exact");
            let n = if exact { "exact".to_string() } else { n };
            let plain = |s: Option<Summary>| match s {
                Some(Summary { mean, ci95: Some(ci), .. }) => format!("{mean:.4} ± {ci:.4}"),
                Some(Summary { mean, .. }) => format!("{mean:.4}"),
                None => "-".into(),
            };
            r.extend([n, plain(g.mean_f), plain(g.p_min), cell(g.tail_gap)]);
            rows.push(r);
            continue;
        }
        let bound = match &g.theory {
            Some(t) => match (t.bound_final, t.violated(g.bounded_gap)) {
                (Some(b), Some(true)) => format!("{b:.2e} VIOLATED"),
                (Some(b), _) if !t.covered => format!("{b:.2e} (not proven)"),
                (Some(b), _) => format!("{b:.2e}"),
                (None, _) => "-".into(),
            },
            None => "-".into(),
        };
        r.extend([n, cell(g.tail_gap), cell(g.tail_gap_latent), cell(g.tail_gap_avg), bound]);
        rows.push(r);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(s, w)| format!("{s:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
