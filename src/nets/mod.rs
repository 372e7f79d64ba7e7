//! Neural networks on flat f32 parameter vectors (the model side of the network family).
//! The model knows nothing of quantizers, optimizers or methods; they see only the flat
//! slices and the named ranges of [`mlp::Layout`].

mod family;
pub mod gemm;
pub mod mlp;
pub mod train;
mod update;

pub use family::NetFamily;
pub use gemm::Parallelism;
pub use mlp::{
    evaluate, forward_backward, quantizable_ranges, recalibrate_bn, BnRanges, BnState, LayerInfo, Layout, MlpSpec,
    Workspace,
};
