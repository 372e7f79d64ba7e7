//! Configs: the TOML schema, validation with key paths, sweep expansion, and typed
//! resolution of each point of a sweep into a run (one module per problem family's spec).

pub mod choice;
mod convex;
mod expand;
mod net;
mod parse;
mod point;
mod run;
pub mod schema;
mod toy;

pub use choice::Sampling;
pub use convex::{ConvexLr, ConvexSpec, Init, INV_MU};
pub use expand::{check_overrides_used, expand, expand_lenient, Sweep, MAX_RUNS};
pub use net::{parse_arch, NetArch, NetSpec, ARCHS};
pub use parse::{load, parse, SweepDef, Val};
pub use run::{ProblemSpec, RunSpec, Seeds};
pub use toy::{LandscapeSpec, ToySpec};

use std::path::Path;

/// Load, validate and expand one config file (with `--set` overrides).
pub fn load_sweep(path: &Path, overrides: &[String]) -> Result<Sweep, Vec<String>> {
    expand(load(path, overrides)?)
}

/// Load several config files with the same overrides: every problem of every file in one
/// round, and a `--set` key is an error only if it applies to no run of any of them.
pub fn load_sweeps(paths: &[std::path::PathBuf], overrides: &[String]) -> Result<Vec<Sweep>, Vec<String>> {
    let (mut sweeps, mut errors) = (Vec::new(), Vec::new());
    for path in paths {
        match load(path, overrides).and_then(expand_lenient) {
            Ok(s) => sweeps.push(s),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        errors = check_overrides_used(&sweeps);
    }
    if errors.is_empty() {
        Ok(sweeps)
    } else {
        Err(errors)
    }
}

/// The same from text (tests, and the built-in default).
pub fn parse_sweep(text: &str, source: &str, overrides: &[String]) -> Result<Sweep, Vec<String>> {
    expand(parse(text, source, overrides)?)
}
