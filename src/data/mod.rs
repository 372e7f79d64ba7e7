//! Data sources: synthetic regression/classification sets for the convex problems
//! (`synthetic`), and the networks' image data sets: the IDX and CIFAR-10 readers (`idx`,
//! `cifar`) and the named sets with their folders and splits (`dataset`).

pub mod cifar;
pub mod dataset;
pub mod idx;
pub mod synthetic;
