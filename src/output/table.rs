//! The short table printed at the end of `run` and by `summarize`: one block per problem
//! family in the folder, each with the columns its family declares.

use super::stats::Summary;
use super::summary::{param_keys, Group};
use crate::method::{Method, Rounding};

/// `mean ± ci` in scientific notation (a gap).
pub fn sci(s: Option<Summary>) -> String {
    match s {
        None => "-".into(),
        Some(Summary { mean, ci95: Some(ci), .. }) => format!("{mean:.3e} ± {ci:.1e}"),
        Some(Summary { mean, .. }) => format!("{mean:.3e}"),
    }
}

/// `mean ± ci` as a percentage (an error rate).
pub fn percent(s: Option<Summary>) -> String {
    match s {
        Some(Summary { mean, ci95: Some(ci), .. }) => format!("{:.2} ± {:.2} %", 100.0 * mean, 100.0 * ci),
        Some(Summary { mean, .. }) => format!("{:.2} %", 100.0 * mean),
        None => "-".into(),
    }
}

/// `mean ± ci` with four decimals (a probability, a mean of F).
pub fn plain(s: Option<Summary>) -> String {
    match s {
        Some(Summary { mean, ci95: Some(ci), .. }) => format!("{mean:.4} ± {ci:.4}"),
        Some(Summary { mean, .. }) => format!("{mean:.4}"),
        None => "-".into(),
    }
}

/// The seed count, with the failed ones.
pub fn seeds(g: &Group) -> String {
    if g.n_failed > 0 {
        format!("{} ({} failed)", g.n, g.n_failed)
    } else {
        g.n.to_string()
    }
}

/// One block per family present, in the order the families first appear.
pub fn floor_table(groups: &[Group]) -> String {
    let mut out = String::new();
    let mut done: Vec<&str> = Vec::new();
    for g in groups {
        let name = g.family.name();
        if done.contains(&name) {
            continue;
        }
        done.push(name);
        let mine: Vec<&Group> = groups.iter().filter(|h| h.family.name() == name).collect();
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&family_table(&mine));
    }
    out
}

/// A family's block: its caption, then one line per configuration: the method, every
/// parameter that varies among these configurations, and the family's columns.
fn family_table(groups: &[&Group]) -> String {
    let table = groups[0].family.table();
    let varying: Vec<_> = param_keys()
        .filter(|k| k.path != "quant.method")
        .filter(|k| {
            // Varies among the runs that use it (fp has no delta: that is not variation).
            let vals: std::collections::BTreeSet<String> =
                groups.iter().filter_map(|g| g.spec.param(k.path)).map(|v| v.canon()).collect();
            vals.len() > 1
        })
        .collect();
    let mut header = vec!["method".to_string()];
    header.extend(varying.iter().map(|k| k.column.to_string()));
    header.extend(table.columns.iter().map(|c| c.header.to_string()));
    let mut rows = vec![header];
    for g in groups {
        let method = match g.spec.method {
            Method::Bc { rounding: Rounding::Stochastic, .. } => "bc(sr)",
            m => m.name(),
        };
        let mut r = vec![method.to_string()];
        r.extend(varying.iter().map(|k| g.spec.param(k.path).map(|v| v.canon()).unwrap_or_else(|| "-".into())));
        r.extend(table.columns.iter().map(|c| (c.cell)(g)));
        rows.push(r);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = format!("{}:\n", table.caption);
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(s, w)| format!("{s:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
