//! Neural networks on flat f32 parameter vectors (the model side of the MLP problem).
//! The model knows nothing of quantizers, optimizers or methods; they see only the flat
//! slices and the named ranges of [`mlp::Layout`].

pub mod gemm;
pub mod mlp;
pub mod ops;

pub use gemm::Parallelism;
pub use mlp::{
    evaluate, forward_backward, quantizable_ranges, recalibrate_bn, BnRanges, BnState, LayerInfo, Layout, MlpSpec,
    Workspace,
};
pub mod train;
mod update;
