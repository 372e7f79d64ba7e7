//! runs.csv and summary.csv from the records and groups. The columns are the union of
//! every family's (empty where a family has no such quantity), so the files of different
//! sweeps line up.

use super::group::{param_keys, Group};
use super::read::RunRecord;
use crate::family::{self, Family};
use crate::output::{fmt_f64, fmt_opt};

fn param_cells(spec: &crate::config::RunSpec) -> Vec<String> {
    param_keys().map(|k| spec.param(k.path).map(|v| v.canon()).unwrap_or_default()).collect()
}

fn run_column_names() -> Vec<&'static str> {
    family::union(|f| f.run_columns(), |c| c.name)
}

fn measure_names() -> Vec<&'static str> {
    family::union(|f| f.measures(), |m| m.name)
}

fn group_column_names() -> Vec<&'static str> {
    family::union(|f| f.group_columns().map_or(&[][..], |c| c.names), |n| n)
}

/// runs.csv: one row per run folder. `wall_s` is the only column that differs between
/// reruns.
pub fn runs_csv(records: &[RunRecord]) -> String {
    let extra = run_column_names();
    let mut header = vec!["id".to_string(), "sweep".into()];
    header.extend(param_keys().map(|k| k.column.to_string()));
    header.extend(["seed", "status", "reason", "wall_s", "last_change_step"].map(String::from));
    header.extend(extra.iter().map(|c| c.to_string()));
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(&header).expect("writing to memory");
    for r in records {
        let fam: &dyn Family = family::of(&r.spec.problem);
        let mut row = vec![r.spec.id.clone(), r.spec.sweep.clone()];
        row.extend(param_cells(&r.spec));
        row.push(r.spec.seed_index.to_string());
        row.push(if r.status.finished { "finished" } else { "failed" }.into());
        row.push(r.status.reason.clone());
        row.push(format!("{:.3}", r.status.wall_s));
        row.push(r.status.last_change_step.map(|s| s.to_string()).unwrap_or_default());
        for name in &extra {
            row.push(fam.run_columns().iter().find(|c| c.name == *name).map(|c| (c.of)(r)).unwrap_or_default());
        }
        w.write_record(&row).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 cells")
}

/// summary.csv: one row per configuration: its parameters, the seed counts, every
/// measure's mean, standard deviation and 95% CI half-width, then the group columns.
pub fn summary_csv(groups: &[Group]) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(summary_header()).expect("writing to memory");
    for g in groups {
        w.write_record(summary_row(g)).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 cells")
}

/// summary.csv's columns.
pub fn summary_header() -> Vec<String> {
    let mut header = vec!["sweep".to_string()];
    header.extend(param_keys().map(|k| k.column.to_string()));
    header.extend(["n", "n_failed"].map(String::from));
    for m in measure_names() {
        header.extend(["mean", "std", "ci95"].map(|x| format!("{m}_{x}")));
    }
    header.extend(group_column_names().iter().map(|c| c.to_string()));
    header
}

/// One configuration's summary.csv row.
pub fn summary_row(g: &Group) -> Vec<String> {
    let mut row = vec![g.spec.sweep.clone()];
    row.extend(param_cells(&g.spec));
    row.push(g.n.to_string());
    row.push(g.n_failed.to_string());
    for m in measure_names() {
        let s = g.measure(m);
        row.push(s.map(|s| fmt_f64(s.mean)).unwrap_or_default());
        row.push(fmt_opt(s.and_then(|s| s.std)));
        row.push(fmt_opt(s.and_then(|s| s.ci95)));
    }
    for c in group_column_names() {
        row.push(g.cells.iter().find(|(n, _)| *n == c).map(|(_, v)| v.clone()).unwrap_or_default());
    }
    row
}
