//! Data sources. Synthetic regression/classification sets for the convex problems.

pub mod synthetic;
