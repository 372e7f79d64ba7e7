//! The operations of a network's passes, each op's backward beside its forward: affine
//! layers in either storage order (dense.rs), batch normalisation (bn.rs), activations and
//! the loss (act.rs).

pub(crate) mod act;
pub(crate) mod bn;
pub(crate) mod dense;
