//! Affine layers on a sample-major batch (`B x n` row-major: a sample's features are
//! contiguous): the products, bias and ReLU, and the per-feature sums their backward pass
//! needs, as loops over rows that vectorize across features.
//!
//! Hidden layers used to alternate sample-major and feature-major (`n x B`) storage, which
//! let the `gemm` crate pack the small activation matrix instead of a weight matrix. With
//! this project's kernels (src/nets/gemm.rs) a feature-major layer's outputs are 100 columns
//! wide, three full 32-column tiles and a fourth of 4 (22 % of its multiply-adds wasted),
//! and all sample-major is faster: 784-1024-1024-10, batch 100, FP-ADAM, 1.08x at one
//! thread and 1.04x at two (whole runs, medians of 6 pairs back to back).

use super::act::relu;
use crate::nets::gemm::{matmul, Dims, Op, Parallelism, Strided};

/// A stored matrix and how it is used (as is, or transposed).
pub(crate) type Operand<'a> = (&'a [f32], Op);

/// `C = op(A) op(B)` for operands stored densely (see [`Strided::op`]).
pub(crate) fn product(d: Dims, (a, op_a): Operand, (b, op_b): Operand, c: &mut [f32], par: Parallelism) {
    matmul(d, Strided::op(a, op_a, d.m, d.k), Strided::op(b, op_b, d.k, d.n), c, false, par);
}

/// `C^T` for `C = op(A) op(B)` (`d` the shape of C): the product written feature-major, as
/// the convolutional part takes its gradient (`C^T = op(B)^T op(A)^T`).
pub(crate) fn product_transposed(d: Dims, (a, op_a): Operand, (b, op_b): Operand, c: &mut [f32], par: Parallelism) {
    let flip = |op: Op| if op == Op::N { Op::T } else { Op::N };
    product(Dims { m: d.n, n: d.m, k: d.k }, (b, flip(op_b)), (a, flip(op_a)), c, par);
}

/// `z += bias` on every row (the logits: no ReLU).
pub(crate) fn bias_add(z: &mut [f32], bias: &[f32]) {
    for row in z.chunks_exact_mut(bias.len()) {
        for (v, &bb) in row.iter_mut().zip(bias) {
            *v += bb;
        }
    }
}

/// `z <- relu(z + bias)` on every row (a hidden layer without batch norm).
pub(crate) fn bias_relu(z: &mut [f32], bias: &[f32]) {
    for row in z.chunks_exact_mut(bias.len()) {
        for (v, &bb) in row.iter_mut().zip(bias) {
            *v = relu(*v + bb);
        }
    }
}

/// `z <- relu(s z + t)` per feature on every row (batch norm folded, for inference).
pub(crate) fn scale_shift_relu(z: &mut [f32], s: &[f32], t: &[f32]) {
    for row in z.chunks_exact_mut(t.len()) {
        for ((v, &ss), &tt) in row.iter_mut().zip(s).zip(t) {
            *v = relu(ss * *v + tt);
        }
    }
}

/// Column sums of a sample-major `rows x out.len()` matrix into `out` (rows added in order).
pub(crate) fn col_sums(m: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for row in m.chunks_exact(out.len()) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}
