//! Data sources. Synthetic regression/classification sets for the convex problems.

pub mod synthetic;
pub mod idx;
pub mod cifar;
pub mod dataset;
