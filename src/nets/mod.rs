//! Neural networks on flat f32 parameter vectors (the model side of the network family):
//! the layout of the parameter vector (layout.rs), the passes over a batch (passes.rs) and
//! the operations they are made of (ops/), the matrix products (gemm.rs), the
//! training loop with per-layer grids (train.rs), its fused parameter pass (update.rs) and
//! the family (family.rs). The model knows nothing of quantizers, optimizers or methods;
//! they see only the flat slices and the named ranges of [`Layout`].

mod family;
pub mod gemm;
pub mod layout;
pub mod ops;
pub mod passes;
pub mod train;
mod update;

pub use family::NetFamily;
pub use gemm::Parallelism;
pub use layout::{quantizable_ranges, Arch, BnRanges, ConvStage, LayerInfo, Layout, Stage};
pub use ops::bn::{BnState, BN_EPS, BN_MOMENTUM};
pub use passes::{evaluate, forward_backward, recalibrate_bn, Workspace};
