//! Data sources. Synthetic regression/classification sets for the convex problems.

pub mod cifar;
pub mod dataset;
pub mod idx;
pub mod synthetic;
