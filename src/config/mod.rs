//! Configs: the TOML schema, validation with key paths, and sweep expansion into runs.

mod expand;
mod parse;
pub mod schema;
mod spec;

pub use expand::{expand, Sweep, MAX_RUNS};
pub use parse::{load, parse, SweepDef, Val};
pub use spec::{ConvexSpec, Init, LandscapeSpec, Lr, NetSpec, ProblemSpec, RunSpec, Sampling, Seeds, ToySpec};

use std::path::Path;

/// Load, validate and expand one config file (with `--set` overrides).
pub fn load_sweep(path: &Path, overrides: &[String]) -> Result<Sweep, Vec<String>> {
    expand(load(path, overrides)?)
}

/// The same from text (tests, and the built-in default).
pub fn parse_sweep(text: &str, source: &str, overrides: &[String]) -> Result<Sweep, Vec<String>> {
    expand(parse(text, source, overrides)?)
}
