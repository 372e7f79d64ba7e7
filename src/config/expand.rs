//! Sweep expansion: the Cartesian product of every axis, times the seed indices,
//! resolved into runs. Combinations that resolve to the same run (an axis that does not
//! apply to a method, e.g. delta for fp) are collapsed into one.

use std::collections::{BTreeSet, HashSet};

use super::parse::{SweepDef, Val};
use super::point::Point;
use super::run::{resolve, RunSpec};

/// Refuse to expand more than this many runs (a typo like lr = [...1000 values] x 5 axes;
/// a plan this size takes seconds and a few hundred MB). Split bigger studies into sweeps.
pub const MAX_RUNS: u64 = 100_000;

#[derive(Clone, Debug)]
pub struct Sweep {
    pub def: SweepDef,
    pub runs: Vec<RunSpec>,
    /// Combinations dropped because they duplicate another run.
    pub collapsed: usize,
    /// Keys set by --set that apply to no run of this sweep (an error only if they apply to
    /// no run of any sweep of the invocation: see [`check_overrides_used`]).
    pub unused_set: Vec<&'static str>,
}

/// `--set` keys that apply to no run of any of these sweeps: one error each.
pub fn check_overrides_used(sweeps: &[Sweep]) -> Vec<String> {
    let Some(first) = sweeps.first() else { return Vec::new() };
    first
        .unused_set
        .iter()
        .filter(|k| sweeps.iter().all(|s| s.unused_set.contains(k)))
        .map(|k| {
            let applies = super::schema::key(k).map_or("", |s| s.applies);
            let what = if sweeps.len() > 1 { "any of these sweeps" } else { "this sweep" };
            format!("--set: {k}: set, but applies to no run of {what} (used when {applies})")
        })
        .collect()
}

/// Expand a validated file into its runs. Every problem of the file comes out in one
/// round: the parser's, the resolver's (values that do not go together) and keys that
/// apply to no run.
pub fn expand(def: SweepDef) -> Result<Sweep, Vec<String>> {
    let s = expand_lenient(def)?;
    // Alone, a --set that applies to nothing is a mistake.
    let e = check_overrides_used(std::slice::from_ref(&s));
    if e.is_empty() {
        Ok(s)
    } else {
        Err(e)
    }
}

/// [`expand`] without the check that every --set key applies to some run (for several
/// configs given together, where a key may apply to some of them only).
pub fn expand_lenient(mut def: SweepDef) -> Result<Sweep, Vec<String>> {
    let src = def.source.clone();
    let mut errors: Vec<String> = std::mem::take(&mut def.errors);
    let seeds = match def.scalar("run.seeds") {
        Some(Val::Int(n)) => *n as u64,
        _ => 1,
    };
    let seed_indices: Vec<u64> = match def.scalar("run.seed_index") {
        Some(Val::Int(i)) if *i as u64 >= seeds && def.scalar("run.seeds").is_some() => {
            errors.push(format!("{src}: run.seed_index = {i}: must be below run.seeds = {seeds}"));
            vec![*i as u64]
        }
        Some(Val::Int(i)) => vec![*i as u64],
        _ => (0..seeds).collect(),
    };
    let axes: Vec<_> = def.given.iter().filter(|(k, _)| k.axis).collect();
    let total = axes.iter().fold(seed_indices.len() as u64, |acc, (_, v)| acc.saturating_mul(v.len() as u64));
    if total > MAX_RUNS {
        errors.push(format!(
            "{src}: the sweep expands to {total} runs (limit {MAX_RUNS}); shrink an axis or split it into several sweeps"
        ));
        return Err(errors);
    }
    // Keys whose given value was invalid are resolved with their default; what the
    // resolver says about them would repeat the parser.
    let about_invalid = |e: &str| def.invalid.iter().any(|k| e.starts_with(k) || e.contains(&format!(" {k}")));

    let mut runs = Vec::new();
    let mut seen = HashSet::new();
    let mut used = BTreeSet::new();
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
                    for e in es.into_iter().filter(|e| !about_invalid(e)) {
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
    let mut unused_set = Vec::new();
    for (k, _) in &def.given {
        let structural = matches!(k.path, "name" | "run.seeds" | "run.seed_index");
        if structural || used.contains(k.path) {
            continue;
        }
        if def.from_set.iter().any(|p| p == k.path) {
            unused_set.push(k.path);
        } else {
            errors.push(format!(
                "{src}: {}: set, but applies to no run of this sweep (used when {}); leave it out with --unset {}",
                k.path, k.applies, k.path
            ));
        }
    }
    if errors.is_empty() {
        Ok(Sweep { def, runs, collapsed, unused_set })
    } else {
        Err(errors)
    }
}
