//! `qnet-exp select`: choose, per group of configurations, the one with the best (lowest)
//! mean of a measure over seeds, the way step sizes are chosen on validation data, and
//! write best.csv: the winner's whole summary.csv row, with how many candidates it beat
//! and by how much. Tables are built from best.csv, never from hand-picked runs.

use std::path::Path;

use super::summary::{self, param_keys, summary_header, summary_row, Group};
use super::{fmt_f64, fmt_opt, write_atomic};

pub const BEST_FILE: &str = "best.csv";

/// The columns best.csv adds in front of the winner's summary row.
const SELECT_COLUMNS: &[&str] = &["selected_by", "candidates", "by_mean", "by_ci95", "runner_up_mean", "margin"];

/// One group's choice.
pub struct Choice<'a> {
    pub winner: &'a Group,
    pub candidates: usize,
    pub runner_up: Option<&'a Group>,
}

/// Resolve `--within` names (CSV columns like `method`, or key paths like
/// `quant.method`) to key paths; an unknown name is an error listing the valid ones.
pub fn within_keys(names: &[String]) -> Result<Vec<&'static str>, String> {
    names
        .iter()
        .map(|n| {
            param_keys().find(|k| k.column == n || k.path == n).map(|k| k.path).ok_or_else(|| {
                let valid: Vec<&str> = param_keys().map(|k| k.column).collect();
                format!("--within {n}: not a parameter column (one of {})", valid.join(", "))
            })
        })
        .collect()
}

/// Partition `groups` by the values of `within` (in order of first appearance) and pick,
/// in each part, the configuration with the lowest mean of `by` (ties: the first in
/// summary order). Configurations without the measure are not candidates.
pub fn choose<'a>(groups: &'a [Group], within: &[&str], by: &str) -> Vec<Choice<'a>> {
    let key = |g: &Group| -> Vec<String> {
        within.iter().map(|k| g.spec.param(k).map(|v| v.canon()).unwrap_or_default()).collect()
    };
    let mut parts: Vec<(Vec<String>, Vec<&Group>)> = Vec::new();
    for g in groups.iter().filter(|g| g.measure(by).is_some()) {
        let k = key(g);
        match parts.iter_mut().find(|(q, _)| *q == k) {
            Some((_, v)) => v.push(g),
            None => parts.push((k, vec![g])),
        }
    }
    parts
        .into_iter()
        .map(|(_, mut gs)| {
            let mean = |g: &Group| g.measure(by).map_or(f64::INFINITY, |s| s.mean);
            // A stable sort keeps summary order among equal means.
            gs.sort_by(|a, b| mean(a).total_cmp(&mean(b)));
            Choice { winner: gs[0], candidates: gs.len(), runner_up: gs.get(1).copied() }
        })
        .collect()
}

/// best.csv's text.
pub fn best_csv(choices: &[Choice], by: &str) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    let mut header: Vec<String> = SELECT_COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(summary_header());
    w.write_record(&header).expect("writing to memory");
    for c in choices {
        let s = c.winner.measure(by).expect("candidates have the measure");
        let r = c.runner_up.and_then(|g| g.measure(by)).map(|r| r.mean);
        let mut row = vec![
            by.to_string(),
            c.candidates.to_string(),
            fmt_f64(s.mean),
            fmt_opt(s.ci95),
            fmt_opt(r),
            fmt_opt(r.map(|r| r - s.mean)),
        ];
        row.extend(summary_row(c.winner));
        w.write_record(&row).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 cells")
}

/// Select in a sweep folder and write its best.csv; returns the table to print.
pub fn select(dir: &Path, by: &str, within: &[String]) -> Result<String, String> {
    let within = within_keys(within)?;
    let (records, _) = summary::collect(dir)?;
    if records.is_empty() {
        return Err(format!("{}: no finished run folders; is this a sweep folder (results/<name>)?", dir.display()));
    }
    let groups = summary::group(&records);
    let known: Vec<&str> = groups.iter().flat_map(|g| g.measures.iter().map(|(n, _)| *n)).collect();
    if known.is_empty() {
        // Run folders, but no run finished: nothing has any measure.
        return Err(format!("{}: no run here finished (see the status column of runs.csv)", dir.display()));
    }
    if !known.contains(&by) {
        let mut names = known.clone();
        names.sort_unstable();
        names.dedup();
        return Err(format!("--by {by}: no configuration here has this measure (measures: {})", names.join(", ")));
    }
    let choices = choose(&groups, &within, by);
    let path = dir.join(BEST_FILE);
    write_atomic(&path, best_csv(&choices, by).as_bytes())
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    let mut out = format!("{}: lowest mean {by} per ", path.display());
    out.push_str(if within.is_empty() { "sweep" } else { "group" });
    out.push_str(":\n");
    for c in &choices {
        let s = c.winner.measure(by).expect("candidates have the measure");
        let group: Vec<String> = within.iter().map(|k| format!("{}={}", short(k), val(c.winner, k))).collect();
        let varying: Vec<String> = param_keys()
            .filter(|k| !within.contains(&k.path) && k.path != "quant.method")
            .filter(|k| {
                let vals: std::collections::BTreeSet<String> =
                    groups.iter().filter_map(|g| g.spec.param(k.path)).map(|v| v.canon()).collect();
                vals.len() > 1
            })
            .map(|k| format!("{}={}", k.column, val(c.winner, k.path)))
            .collect();
        let test = c.winner.measure("test_error").map(|t| {
            let ci = t.ci95.map(|ci| format!(" ± {:.2}", 100.0 * ci)).unwrap_or_default();
            format!(", test error {:.2}{ci} %", 100.0 * t.mean)
        });
        out.push_str(&format!(
            "  {}: {} ({} = {}, {} candidates, n = {}{})\n",
            if group.is_empty() { "all".into() } else { group.join(" ") },
            varying.join(" "),
            by,
            fmt_f64(s.mean),
            c.candidates,
            c.winner.n,
            test.unwrap_or_default()
        ));
    }
    Ok(out)
}

fn short(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn val(g: &Group, path: &str) -> String {
    g.spec.param(path).map(|v| v.canon()).unwrap_or_else(|| "-".into())
}
