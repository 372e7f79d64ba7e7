//! A thin safe wrapper over the `gemm` crate for row-major f32 matrices.
//!
//! Why `gemm` and not ndarray's matrixmultiply: the eight products of one forward and backward
//! pass of a 784-1024-1024-10 MLP at batch 100 (956 MFLOP) took 9.4-11.0 ms with `gemm` and
//! 11.1-11.9 ms with matrixmultiply on one Zen-4 core (87-100 vs 80-86 GFLOP/s, best of
//! several runs on a loaded machine; `cargo bench --bench mlp`, group `gemm_mlp_shapes_1thread`,
//! repeats the comparison). `gemm` also splits each product over rayon's pool (5.5 ms on 2
//! cores), so a single big run uses every core and the GEMM still nests safely inside a rayon
//! sweep; matrixmultiply's and OpenBLAS's own threads do not (DESIGN.md). Its AVX-512 kernels
//! (feature `x86-v4`) were not faster on Zen 4 and are left off.
//!
//! `C (m x n) = op(A) * op(B)`, every matrix stored densely row-major; `Op::T` means the slice
//! holds the transpose (`A` given as `k x m`, `B` as `n x k`).
//!
//! The library packs its operands into buffers it allocates per call (matrixmultiply does
//! the same); nothing else here allocates.

/// How the GEMMs use threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parallelism {
    /// The calling thread only: one run per core in a sweep.
    #[default]
    None,
    /// Split each product over rayon's current pool: `Rayon(0)` uses all of its threads,
    /// `Rayon(n)` at most `n`. Runs inside `ThreadPool::install` use that pool.
    Rayon(usize),
}

impl Parallelism {
    fn to_gemm(self) -> gemm::Parallelism {
        match self {
            Parallelism::None => gemm::Parallelism::None,
            Parallelism::Rayon(n) => gemm::Parallelism::Rayon(n),
        }
    }
}

/// Whether a stored operand is used as is or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    N,
    T,
}

/// `(row stride, column stride)` of the logical `rows x cols` operand stored under `op`.
#[inline]
fn strides(op: Op, rows: usize, cols: usize) -> (isize, isize) {
    match op {
        Op::N => (cols as isize, 1),
        Op::T => (1, rows as isize),
    }
}

/// `c[..m*n] = op(a) * op(b)` (or `+=` with `accumulate`), where `op(a)` is `m x k` and `op(b)`
/// is `k x n`, all row-major. Panics if a slice is shorter than its matrix.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    op_a: Op,
    b: &[f32],
    op_b: Op,
    c: &mut [f32],
    accumulate: bool,
    par: Parallelism,
) {
    assert!(a.len() >= m * k, "gemm: A has {} values, needs {}", a.len(), m * k);
    assert!(b.len() >= k * n, "gemm: B has {} values, needs {}", b.len(), k * n);
    assert!(c.len() >= m * n, "gemm: C has {} values, needs {}", c.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = strides(op_a, m, k);
    let (b_rs, b_cs) = strides(op_b, k, n);
    // SAFETY: the asserts above keep every element the strides address inside its slice
    // (the largest offset of a `r x c` operand is r*c - 1 either way round); `c` is a unique
    // borrow, so it aliases neither input. gemm computes dst = alpha*dst + beta*lhs*rhs and
    // reads dst only when `read_dst` is set.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            par.to_gemm(),
        );
    }
}

/// A matrix operand read through strides: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a> {
    pub data: &'a [f32],
    /// Row stride (elements).
    pub rs: usize,
    /// Column stride (elements).
    pub cs: usize,
}

impl<'a> Strided<'a> {
    /// A dense row-major `rows x cols` matrix (`cols` = row stride).
    pub fn rows(data: &'a [f32], cols: usize) -> Strided<'a> {
        Strided { data, rs: cols, cs: 1 }
    }

    /// The transpose of a dense row-major matrix with `cols` columns (element `(i, j)` of the
    /// view is element `(j, i)` of the stored matrix).
    pub fn transposed(data: &'a [f32], cols: usize) -> Strided<'a> {
        Strided { data, rs: 1, cs: cols }
    }

    /// Panics unless every element of a `rows x cols` view lies inside the slice.
    fn check(&self, rows: usize, cols: usize, what: &str) {
        let last = (rows - 1) * self.rs + (cols - 1) * self.cs;
        assert!(
            last < self.data.len(),
            "gemm: {what} ({rows} x {cols}, strides {}, {}) reaches element {last} of {}",
            self.rs,
            self.cs,
            self.data.len()
        );
    }
}

/// `C = A B` (or `C += A B` with `accumulate`) with `A` (`m x k`) and `B` (`k x n`) read
/// through strides and `C` written row by row with row stride `c_rs` (its columns
/// contiguous): for products whose operands or output are blocks of a larger array (the
/// convolutions of [`super::ops::conv`] write one group of samples of every output channel).
/// The elements of `C` between rows are left untouched. The arithmetic is the crate's, as in
/// [`matmul`] (the same operands give the same bits whatever the thread count).
/// Panics if a view reaches past its slice or `c_rs < n` (rows would overlap).
#[allow(clippy::too_many_arguments)]
pub fn matmul_strided(
    m: usize,
    n: usize,
    k: usize,
    a: Strided<'_>,
    b: Strided<'_>,
    c: &mut [f32],
    c_rs: usize,
    accumulate: bool,
    par: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(m == 1 || c_rs >= n, "gemm: output row stride {c_rs} is below its {n} columns");
    let c_last = (m - 1) * c_rs + n - 1;
    assert!(c_last < c.len(), "gemm: C ({m} x {n}, row stride {c_rs}) reaches element {c_last} of {}", c.len());
    // SAFETY: the assert above keeps every element of C inside the slice, which is a unique
    // borrow for the whole call.
    unsafe { matmul_strided_raw(m, n, k, a, b, c.as_mut_ptr(), c_rs, accumulate, par) }
}

/// [`matmul_strided`] writing `C` through a raw pointer, for callers that write disjoint
/// blocks of one array from several threads at once (the blocks' rows interleave, so they
/// cannot be split into separate slices). Checks `A` and `B` like [`matmul_strided`].
///
/// # Safety
/// `c` must be valid for reads and writes of the elements `c + i * c_rs + j` (`i < m`,
/// `j < n`), `c_rs >= n` unless `m == 1`, and nothing else may access those elements
/// during the call.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_strided_raw(
    m: usize,
    n: usize,
    k: usize,
    a: Strided<'_>,
    b: Strided<'_>,
    c: *mut f32,
    c_rs: usize,
    accumulate: bool,
    par: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: row i of C is valid for writes (caller's contract).
                unsafe { std::slice::from_raw_parts_mut(c.add(i * c_rs), n).fill(0.0) };
            }
        }
        return;
    }
    a.check(m, k, "A");
    b.check(k, n, "B");
    // SAFETY: the checks above keep every element the strides of A and B address inside
    // their slices; C's elements are valid and exclusively ours (caller's contract), and
    // they cannot alias A or B, which are shared borrows. gemm reads dst only when
    // `read_dst` is set.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            c_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par.to_gemm(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], op_a: Op, b: &[f32], op_b: Op) -> Vec<f64> {
        let at = |i: usize, p: usize| match op_a {
            Op::N => a[i * k + p],
            Op::T => a[p * m + i],
        };
        let bt = |p: usize, j: usize| match op_b {
            Op::N => b[p * n + j],
            Op::T => b[j * k + p],
        };
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| at(i, p) as f64 * bt(p, j) as f64).sum();
            }
        }
        c
    }

    #[test]
    fn matches_naive_product_for_every_op_combination() {
        let (m, n, k) = (7, 5, 9);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.125).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 19) as f32 - 9.0) * 0.25).collect();
        for op_a in [Op::N, Op::T] {
            for op_b in [Op::N, Op::T] {
                for par in [Parallelism::None, Parallelism::Rayon(2)] {
                    let want = naive(m, n, k, &a, op_a, &b, op_b);
                    let mut c = vec![1.0f32; m * n];
                    matmul(m, n, k, &a, op_a, &b, op_b, &mut c, false, par);
                    for (x, y) in c.iter().zip(&want) {
                        assert!((*x as f64 - y).abs() < 1e-4, "{op_a:?}{op_b:?}: {x} vs {y}");
                    }
                    matmul(m, n, k, &a, op_a, &b, op_b, &mut c, true, par);
                    for (x, y) in c.iter().zip(&want) {
                        assert!((*x as f64 - 2.0 * y).abs() < 1e-4, "accumulate {op_a:?}{op_b:?}");
                    }
                }
            }
        }
    }
    #[test]
    fn strided_product_writes_only_its_rows() {
        let (m, n, k) = (5, 6, 7);
        // A as a 5 x 7 block of a wider array (row stride 10), B transposed.
        let a_store: Vec<f32> = (0..m * 10).map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.125).collect();
        let b_store: Vec<f32> = (0..n * k).map(|i| ((i * 53 % 19) as f32 - 9.0) * 0.25).collect();
        let a = Strided { data: &a_store, rs: 10, cs: 1 };
        let b = Strided::transposed(&b_store, k);
        let c_rs = 9;
        for par in [Parallelism::None, Parallelism::Rayon(2)] {
            let mut c = vec![7.0f32; m * c_rs];
            matmul_strided(m, n, k, a, b, &mut c, c_rs, false, par);
            for i in 0..m {
                for j in 0..c_rs {
                    let got = c[i * c_rs + j] as f64;
                    if j >= n {
                        assert_eq!(got, 7.0, "gap element ({i}, {j}) touched");
                        continue;
                    }
                    let want: f64 = (0..k).map(|p| a_store[i * 10 + p] as f64 * b_store[j * k + p] as f64).sum();
                    assert!((got - want).abs() < 1e-4, "({i}, {j}): {got} vs {want}");
                }
            }
            let before = c.clone();
            matmul_strided(m, n, k, a, b, &mut c, c_rs, true, par);
            for (i, (x, y)) in c.iter().zip(&before).enumerate() {
                let want = if i % c_rs < n { 2.0 * y } else { *y };
                assert!((x - want).abs() < 1e-4);
            }
        }
    }
}
