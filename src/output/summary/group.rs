//! Runs grouped into configurations (every parameter but the seed equal), with the
//! measures their family declares aggregated over the seeds.

use std::cmp::Ordering;

use super::read::RunRecord;
use crate::config::{RunSpec, Val};
use crate::family::{self, Family};
use crate::output::stats::{summarize, Summary};

/// The keys that become parameter columns (everything but the structural and location ones).
pub fn param_keys() -> impl Iterator<Item = &'static crate::config::schema::KeySpec> {
    crate::config::schema::KEYS
        .iter()
        .filter(|k| !matches!(k.path, "name" | "run.seeds" | "run.seed_index") && !k.is_location())
}

/// One configuration aggregated over its seeds.
pub struct Group {
    pub spec: RunSpec,
    pub family: &'static dyn Family,
    /// Finished seeds, and failed ones.
    pub n: usize,
    pub n_failed: usize,
    /// The family's measures (in its order) that the finished runs all have.
    pub measures: Vec<(&'static str, Summary)>,
    /// The family's group columns (name, cell), as written to summary.csv.
    pub cells: Vec<(&'static str, String)>,
}

impl Group {
    pub fn measure(&self, name: &str) -> Option<Summary> {
        self.measures.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    pub fn cell(&self, name: &str) -> Option<&str> {
        self.cells.iter().find(|(n, _)| *n == name).map(|(_, c)| c.as_str()).filter(|c| !c.is_empty())
    }
}

fn cmp_val(a: Option<&Val>, b: Option<&Val>) -> Ordering {
    let num = |v: &Val| match v {
        Val::Int(i) => Some(*i as f64),
        Val::Float(x) => Some(*x),
        _ => None,
    };
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => match (num(x), num(y)) {
            (Some(p), Some(q)) => p.total_cmp(&q),
            _ => x.canon().cmp(&y.canon()),
        },
    }
}

/// Runs in parameter order (the seed last): the order of runs.csv and of the groups.
pub fn cmp_params(a: &RunSpec, b: &RunSpec, with_seed: bool) -> Ordering {
    for k in param_keys() {
        let o = cmp_val(a.param(k.path), b.param(k.path));
        if o != Ordering::Equal {
            return o;
        }
    }
    if with_seed {
        a.seed_index.cmp(&b.seed_index)
    } else {
        Ordering::Equal
    }
}

/// Group sorted records into configurations.
pub fn group(records: &[RunRecord]) -> Vec<Group> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < records.len() {
        let mut j = i + 1;
        while j < records.len() && cmp_params(&records[i].spec, &records[j].spec, false) == Ordering::Equal {
            j += 1;
        }
        let runs: Vec<&RunRecord> = records[i..j].iter().filter(|r| r.status.finished).collect();
        let fam = family::of(&records[i].spec.problem);
        let measures = fam
            .measures()
            .iter()
            .filter_map(|m| {
                let v: Option<Vec<f64>> = runs.iter().map(|r| (m.of)(r)).collect();
                Some((m.name, summarize(&v?)?))
            })
            .collect();
        let mut g = Group {
            spec: records[i].spec.clone(),
            family: fam,
            n: runs.len(),
            n_failed: (j - i) - runs.len(),
            measures,
            cells: Vec::new(),
        };
        if let Some(cols) = fam.group_columns() {
            let cells = (cols.cells)(&runs, &g);
            g.cells = cols.names.iter().copied().zip(cells).collect();
        }
        out.push(g);
        i = j;
    }
    out
}
