//! Sweep expansion: the Cartesian product of every axis, times the seed indices,
//! resolved into runs. Combinations that resolve to the same run (an axis that does not
//! apply to a method, e.g. delta for fp) are collapsed into one.

use std::collections::{BTreeSet, HashSet};

use super::parse::{SweepDef, Val};
use super::point::Point;
use super::run::{resolve, RunSpec};

/// Refuse to expand more than this many runs (a typo like lr = [...1000 values] x 5 axes).
pub const MAX_RUNS: u64 = 1_000_000;

#[derive(Clone, Debug)]
pub struct Sweep {
    pub def: SweepDef,
    pub runs: Vec<RunSpec>,
    /// Combinations dropped because they duplicate another run.
    pub collapsed: usize,
}

pub fn expand(def: SweepDef) -> Result<Sweep, Vec<String>> {
    let src = def.source.clone();
    let seed_indices: Vec<u64> = match (def.scalar("run.seed_index"), def.scalar("run.seeds")) {
        (Some(Val::Int(i)), _) => vec![*i as u64],
        (_, Some(Val::Int(n))) => (0..*n as u64).collect(),
        _ => vec![0],
    };
    let axes: Vec<_> = def.given.iter().filter(|(k, _)| k.axis).collect();
    let total = axes.iter().fold(seed_indices.len() as u64, |acc, (_, v)| acc.saturating_mul(v.len() as u64));
    if total > MAX_RUNS {
        return Err(vec![format!("{src}: the sweep expands to {total} runs (limit {MAX_RUNS}); shrink an axis")]);
    }

    let mut runs = Vec::new();
    let mut seen = HashSet::new();
    let mut used = BTreeSet::new();
    let mut errors: Vec<String> = Vec::new();
    let mut collapsed = 0;
    let mut idx = vec![0usize; axes.len()];
    'outer: loop {
        let mut values: Vec<_> = def.given.iter().filter(|(k, _)| !k.axis).map(|(k, v)| (*k, &v[0])).collect();
        values.extend(axes.iter().zip(&idx).map(|((k, v), &i)| (*k, &v[i])));
        for &s in &seed_indices {
            let point = Point::new(values.clone());
            match resolve(&def.name, &point, s) {
                Ok(run) => {
                    if seen.insert(run.id.clone()) {
                        runs.push(run);
                    } else {
                        collapsed += 1;
                    }
                }
                Err(es) => {
                    for e in es {
                        let line = format!("{src}: {e}");
                        if !errors.contains(&line) {
                            errors.push(line);
                        }
                    }
                }
            }
            used.extend(point.used());
        }
        // Odometer over the axes, last axis fastest.
        for k in (0..idx.len()).rev() {
            idx[k] += 1;
            if idx[k] < axes[k].1.len() {
                continue 'outer;
            }
            idx[k] = 0;
        }
        break;
    }
    if errors.is_empty() {
        for (k, _) in &def.given {
            let structural = matches!(k.path, "name" | "run.seeds" | "run.seed_index");
            if !structural && !used.contains(k.path) {
                errors.push(format!(
                    "{src}: {}: set, but applies to no run of this sweep (used when {})",
                    k.path, k.applies
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(Sweep { def, runs, collapsed })
    } else {
        Err(errors)
    }
}
