//! A thin safe wrapper over the `gemm` crate for row-major f32 matrices.
//!
//! Why `gemm` and not ndarray's matrixmultiply: the eight products of one forward and backward
//! pass of a 784-1024-1024-10 MLP at batch 100 (956 MFLOP) took 9.4-11.0 ms with `gemm` and
//! 11.1-11.9 ms with matrixmultiply on one core (87-100 vs 80-86 GFLOP/s, best of several
//! runs on a loaded machine; `cargo bench --bench mlp`, group `gemm_mlp_shapes_1thread`,
//! repeats the comparison). `gemm` also splits each product over rayon's pool, so a single big
//! run uses every core and the GEMM still nests safely inside a rayon sweep; matrixmultiply's
//! and OpenBLAS's own threads do not.
//!
//! # The same bits on every machine
//!
//! The crate sums the inner dimension in blocks of `kc` values, and picks `kc` from the
//! cache sizes it detects at run time: 512 on a Zen-4 (32 KiB 8-way L1), 1024 on a Sapphire
//! Rapids (48 KiB 12-way L1). A product with `k > 512` then adds its terms in another order
//! on another machine, and a network's committed results would not reproduce there. So
//! every product here is cut along `k` into [`KC`]-or-fewer blocks of equal size (what the
//! crate itself does with `kc = 512`), each one call with `k <= 512` (a single block
//! whatever the caches), accumulated in order. The crate splits work over threads along `m`
//! and `n` only, so the bits do not depend on the thread count either. Its AVX-512 kernels
//! (feature `x86-v4`) are left off: they would change the bits on machines with AVX-512
//! against those without.
//!
//! The library packs its operands into buffers it allocates per call; nothing else here
//! allocates.

/// The largest block of the inner dimension one call of the crate sums (see above).
pub const KC: usize = 512;

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

/// The shape of `C (m x n) = A (m x k) B (k x n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub m: usize,
    pub n: usize,
    pub k: usize,
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

    /// The logical `rows x cols` matrix held by `data` as is (`Op::N`: stored `rows x
    /// cols`) or as its transpose (`Op::T`: stored `cols x rows`).
    pub fn op(data: &'a [f32], op: Op, rows: usize, cols: usize) -> Strided<'a> {
        match op {
            Op::N => Strided::rows(data, cols),
            Op::T => Strided::transposed(data, rows),
        }
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

/// `c[..m*n] = A B` (or `+=` with `accumulate`), `C` dense row-major. Panics if an operand
/// reaches past its slice.
pub fn matmul(d: Dims, a: Strided<'_>, b: Strided<'_>, c: &mut [f32], accumulate: bool, par: Parallelism) {
    matmul_strided(d, a, b, c, d.n, accumulate, par);
}

/// `C = A B` (or `C += A B` with `accumulate`) with `C` written row by row with row stride
/// `c_rs` (its columns contiguous): for products whose operands or output are blocks of a
/// larger array (the convolutions of [`super::ops::conv`] write one group of samples of every
/// output channel). The elements of `C` between rows are left untouched.
/// Panics if a view reaches past its slice or `c_rs < n` (rows would overlap).
pub fn matmul_strided(
    d: Dims,
    a: Strided<'_>,
    b: Strided<'_>,
    c: &mut [f32],
    c_rs: usize,
    accumulate: bool,
    par: Parallelism,
) {
    let Dims { m, n, .. } = d;
    if m == 0 || n == 0 {
        return;
    }
    assert!(m == 1 || c_rs >= n, "gemm: output row stride {c_rs} is below its {n} columns");
    let c_last = (m - 1) * c_rs + n - 1;
    assert!(c_last < c.len(), "gemm: C ({m} x {n}, row stride {c_rs}) reaches element {c_last} of {}", c.len());
    // SAFETY: the assert above keeps every element of C inside the slice, which is a unique
    // borrow for the whole call.
    unsafe { matmul_strided_raw(d, a, b, c.as_mut_ptr(), c_rs, accumulate, par) }
}

/// [`matmul_strided`] writing `C` through a raw pointer, for callers that write disjoint
/// blocks of one array from several threads at once (the blocks' rows interleave, so they
/// cannot be split into separate slices). Checks `A` and `B` like [`matmul_strided`].
///
/// # Safety
/// `c` must be valid for reads and writes of the elements `c + i * c_rs + j` (`i < m`,
/// `j < n`), `c_rs >= n` unless `m == 1`, and nothing else may access those elements
/// during the call.
pub unsafe fn matmul_strided_raw(
    d: Dims,
    a: Strided<'_>,
    b: Strided<'_>,
    c: *mut f32,
    c_rs: usize,
    accumulate: bool,
    par: Parallelism,
) {
    let Dims { m, n, k } = d;
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
    // Equal blocks of at most KC along k, in order (see the module docs).
    let blocks = k.div_ceil(KC);
    let kc = k.div_ceil(blocks);
    let mut p0 = 0;
    while p0 < k {
        let kb = kc.min(k - p0);
        // SAFETY: the checks above keep every element the strides of A and B address inside
        // their slices (block p0..p0 + kb lies inside 0..k); C's elements are valid and
        // exclusively ours (caller's contract), and they cannot alias A or B, which are shared
        // borrows. gemm computes dst = alpha*dst + beta*lhs*rhs and reads dst only when
        // `read_dst` is set: the first block writes (or accumulates), the others accumulate.
        unsafe {
            gemm::gemm(
                m,
                n,
                kb,
                c,
                1,
                c_rs as isize,
                accumulate || p0 > 0,
                a.data.as_ptr().add(p0 * a.cs),
                a.cs as isize,
                a.rs as isize,
                b.data.as_ptr().add(p0 * b.rs),
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
        p0 += kb;
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
                    let (sa, sb) = (Strided::op(&a, op_a, m, k), Strided::op(&b, op_b, k, n));
                    matmul(Dims { m, n, k }, sa, sb, &mut c, false, par);
                    for (x, y) in c.iter().zip(&want) {
                        assert!((*x as f64 - y).abs() < 1e-4, "{op_a:?}{op_b:?}: {x} vs {y}");
                    }
                    matmul(Dims { m, n, k }, sa, sb, &mut c, true, par);
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
            matmul_strided(Dims { m, n, k }, a, b, &mut c, c_rs, false, par);
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
            matmul_strided(Dims { m, n, k }, a, b, &mut c, c_rs, true, par);
            for (i, (x, y)) in c.iter().zip(&before).enumerate() {
                let want = if i % c_rs < n { 2.0 * y } else { *y };
                assert!((x - want).abs() < 1e-4);
            }
        }
    }

    /// Blocks along k: a product with k above KC is the ordered sum of its equal blocks'
    /// products, exactly (the bits of the first block's product plus the second's), and
    /// close to the exact product.
    #[test]
    fn long_inner_dimensions_are_summed_in_fixed_blocks() {
        let (m, n, k) = (6, 5, 1100);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.125).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 19) as f32 - 9.0) * 0.25).collect();
        let mut c = vec![0.0f32; m * n];
        matmul(Dims { m, n, k }, Strided::rows(&a, k), Strided::rows(&b, n), &mut c, false, Parallelism::None);
        // Three blocks of 367, 367, 366.
        let mut want = vec![0.0f32; m * n];
        for (p0, kb) in [(0, 367), (367, 367), (734, 366)] {
            let ab = Strided { data: &a[p0..], rs: k, cs: 1 };
            let bb = Strided { data: &b[p0 * n..], rs: n, cs: 1 };
            matmul(Dims { m, n, k: kb }, ab, bb, &mut want, p0 > 0, Parallelism::None);
        }
        assert_eq!(
            c.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        let exact = naive(m, n, k, &a, Op::N, &b, Op::N);
        for (x, y) in c.iter().zip(&exact) {
            assert!((*x as f64 - y).abs() < 1e-3 * y.abs().max(1.0), "{x} vs {y}");
        }
    }
}
