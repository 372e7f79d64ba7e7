//! qnet-exp: an experiment runner for "Training Quantized Nets: A Deeper Understanding"
//! (Li et al., NeurIPS 2017). See docs/ARCHITECTURE.md for the module map.

pub mod cli;
pub mod config;
pub mod convex;
pub mod data;
pub mod error;
pub mod family;
pub mod linalg;
pub mod method;
pub mod metrics;
pub mod nets;
pub mod optim;
pub mod output;
pub mod quant;
pub mod real;
pub mod rng;
pub mod slurm;
pub mod sweep;
pub mod toy;

/// The quickstart sweep, built in so that `qnet-exp run` works with no file at hand.
pub const QUICKSTART: &str = include_str!("../configs/quickstart.toml");
