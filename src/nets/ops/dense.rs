//! Affine layers on a batch: the product in either storage order, bias and ReLU, and the
//! per-feature sums their backward pass needs.
//!
//! Sample-major storage: loops over rows of `B x n` that vectorize across features.
//! Feature-major storage: loops over each feature's contiguous batch; its sums keep
//! [`LANES`](super::act::LANES) partial sums so that they vectorize too.

use super::act::{lane_sum, relu};
use crate::nets::gemm::{matmul, Dims, Op, Parallelism, Strided};

/// How a hidden layer's `B x n` activations (and their gradients) are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Store {
    /// Row-major `B x n`: a sample's features are contiguous (like the input).
    SampleMajor,
    /// Row-major `n x B`: a feature's batch is contiguous.
    FeatureMajor,
}

impl Store {
    /// Hidden layers alternate, the first sample-major. The GEMM library packs the operand
    /// it walks along its output's columns; with a feature-major output that is the small
    /// activation matrix instead of the weight matrix. For 784-1024-1024-10 at batch 100 on
    /// one Zen-4 core, a feature-major second layer takes the eight products of a step from
    /// 10.2 to 9.7 ms; making every layer feature-major gives 10.0 ms (the first layer's
    /// backward product through W2 is then the slow one).
    pub(crate) fn of(layer: usize) -> Store {
        if layer % 2 == 1 {
            Store::FeatureMajor
        } else {
            Store::SampleMajor
        }
    }

    /// The operation that turns the stored slice into the `B x n` matrix.
    pub(crate) fn as_bn(self) -> Op {
        match self {
            Store::SampleMajor => Op::N,
            Store::FeatureMajor => Op::T,
        }
    }

    /// The operation that turns the stored slice into the `n x B` matrix.
    pub(crate) fn as_nb(self) -> Op {
        match self {
            Store::SampleMajor => Op::T,
            Store::FeatureMajor => Op::N,
        }
    }
}

/// A stored matrix and how it is used (as is, or transposed).
pub(crate) type Operand<'a> = (&'a [f32], Op);

/// `C = op(A) op(B)` for operands stored densely (see [`Strided::op`]).
pub(crate) fn product(d: Dims, (a, op_a): Operand, (b, op_b): Operand, c: &mut [f32], par: Parallelism) {
    matmul(d, Strided::op(a, op_a, d.m, d.k), Strided::op(b, op_b, d.k, d.n), c, false, par);
}

/// `C (B x n, stored as `store`) = op(A) (B x k) * op(W) (k x n)` (`d` = `B x n x k`),
/// written as the product whose row-major output is the stored slice.
pub(crate) fn matmul_into(store: Store, d: Dims, a: Operand, w: Operand, c: &mut [f32], par: Parallelism) {
    let flip = |op: Op| if op == Op::N { Op::T } else { Op::N };
    match store {
        Store::SampleMajor => product(d, a, w, c, par),
        // C^T = op(W)^T op(A)^T.
        Store::FeatureMajor => product(Dims { m: d.n, n: d.m, k: d.k }, (w.0, flip(w.1)), (a.0, flip(a.1)), c, par),
    }
}

/// Logits only (always sample-major).
pub(crate) fn bias_add(z: &mut [f32], bias: &[f32]) {
    for row in z.chunks_exact_mut(bias.len()) {
        for (v, &bb) in row.iter_mut().zip(bias) {
            *v += bb;
        }
    }
}

pub(crate) fn bias_relu(z: &mut [f32], bias: &[f32], st: Store) {
    scale_shift_with(z, &[], bias, st, |v, _, bb| relu(v + bb));
}

pub(crate) fn scale_shift_relu(z: &mut [f32], s: &[f32], t: &[f32], st: Store) {
    scale_shift_with(z, s, t, st, |v, ss, tt| relu(ss * v + tt));
}

/// `z <- f(z, scale_j, shift_j)` for every element of feature j (an empty `scale` is 1).
#[inline(always)]
pub(crate) fn scale_shift_with(
    z: &mut [f32],
    scale: &[f32],
    shift: &[f32],
    st: Store,
    f: impl Fn(f32, f32, f32) -> f32,
) {
    let n = shift.len();
    let sc = |j: usize| if scale.is_empty() { 1.0 } else { scale[j] };
    match st {
        Store::SampleMajor => {
            for row in z.chunks_exact_mut(n) {
                if scale.is_empty() {
                    for (v, &tt) in row.iter_mut().zip(shift) {
                        *v = f(*v, 1.0, tt);
                    }
                } else {
                    for ((v, &ss), &tt) in row.iter_mut().zip(scale).zip(shift) {
                        *v = f(*v, ss, tt);
                    }
                }
            }
        }
        Store::FeatureMajor => {
            let b = z.len() / n;
            for (j, row) in z.chunks_exact_mut(b).enumerate() {
                let (ss, tt) = (sc(j), shift[j]);
                for v in row.iter_mut() {
                    *v = f(*v, ss, tt);
                }
            }
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

/// Each feature's sum over the batch.
pub(crate) fn feature_sums(m: &[f32], out: &mut [f32], st: Store) {
    match st {
        Store::SampleMajor => col_sums(m, out),
        Store::FeatureMajor => {
            let b = m.len() / out.len();
            for (o, row) in out.iter_mut().zip(m.chunks_exact(b)) {
                *o = lane_sum(row, row, |x, _| x);
            }
        }
    }
}
