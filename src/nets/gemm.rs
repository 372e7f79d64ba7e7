//! Matrix products for row-major f32 matrices: this module's own kernels (AVX-512 where the
//! CPU has it, a portable loop elsewhere, the same bits on both), and the `gemm` crate as
//! the previous backend, kept for benchmarks ([`set_crate_backend`]).
//!
//! # The kernels
//!
//! `C (m x n) = A (m x k) B (k x n)` (or `C += A B`) in tiles of 8 rows x 32 columns: per
//! step along k, two 16-lane vectors of a row of B and eight broadcast values of a column
//! of A, 16 FMAs into 16 vector accumulators (the classic register-blocked micro-kernel,
//! its loop over k unrolled by four). A tile at an edge of C runs an instance of its own
//! size (1 to 8 rows, one or two vectors), so no FMA is spent on rows or vectors it does
//! not have. A is read in place whatever its strides (broadcasts are scalar loads), B in
//! place when its rows are contiguous; an operand whose rows are a multiple of 1 KiB apart (they
//! would all fall into the same L1 sets) or, for B, whose columns are contiguous (a
//! transposed matrix) or whose block of rows spans more pages than the L1 TLB holds and is
//! read by many row tiles, is first copied into panels. k is cut into equal blocks of at
//! most `KPACK` so that the part of B a tile reads stays in L1; the tiles run row by row
//! (C written in whole rows) unless B's block is too big for L2.
//!
//! Why: the `gemm` crate's AVX2 kernels reached 73-82 % of one core's AVX2 peak (128
//! GFLOP/s: 32 flops per cycle at 4.0 GHz) on LeNet's conv2 products; its AVX-512 kernels
//! (feature `x86-v4`) would change the bits between machines with and without AVX-512 (see
//! below). These kernels run the same conv2 products in 39.8 ms per batch of 100 against
//! 59.4 ms (one thread, on-CPU time, `CNN_SWEEP=1 cargo bench --bench cnn`): 107-117 % of
//! the AVX2 peak, 57-63 % of the AVX-512 one (238 GFLOP/s measured with a register-only
//! FMA loop). The MLP's products: 1.0-1.5x the crate's speed.
//!
//! # The same bits on every machine and with any number of threads
//!
//! Every element of C is one chain `acc = fma(a_ip, b_pj, acc)` over `p = 0, 1, ..., k-1`
//! in order, starting from 0 (or from C's value with `accumulate`), one rounding per step.
//! The AVX-512 kernel computes 16 such chains per instruction, the portable kernel one at a
//! time with `f32::mul_add` (a fused multiply-add: vfmadd with this project's
//! x86-64-v3 baseline, or the libm `fmaf`): the same operations in the same order, so the
//! same bits (a test compares both and a scalar chain). The blocks along k carry the chain
//! through C, so the block size does not enter the bits either. Threads split C into
//! row or column blocks of whole tiles, each element computed by one thread: no sum is
//! split.
//! (The `gemm` crate sums in blocks whose size it picks from the L1 cache it detects, which
//! is why `matmul_crate` cuts k into equal blocks of at most 512 itself.)

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
    if crate_backend() {
        // SAFETY: as this function's contract.
        unsafe { matmul_crate(d, a, b, c, c_rs, accumulate, par) };
        return;
    }
    let (mp, np) = (m.div_ceil(MR), n.div_ceil(NR));
    let threads = if m * n * k < PAR_MIN_WORK { 1 } else { threads(par) };
    // Blocks of whole tiles, one per thread, by columns or by rows: every element of C is
    // still one FMA chain over k in order, computed by one thread, so the split does not
    // change any bit. A column split makes every thread copy all of A when A is packed, a
    // row split all of B: take the one that copies less per thread (W2 (1024 x 1024, packed)
    // times 100 columns, split by columns, had both threads pack all of W2).
    let (pack_a, pack_b) = own::packs(a, b, m, k);
    let copies = |split_a: bool| {
        let (ta, tb) = if split_a { (threads, 1) } else { (1, threads) };
        usize::from(pack_a) * m * k / ta + usize::from(pack_b) * k * n / tb
    };
    let by_rows = mp >= 2 && (np < 2 || copies(true) < copies(false));
    let t = threads.min(if by_rows { mp } else { np });
    if t <= 1 {
        // SAFETY: as this function's contract; the whole of C.
        unsafe { own::gemm(m, 0..n, k, a, b, c, c_rs, accumulate) };
        return;
    }
    let cp = SharedC(c);
    let run = |i: usize| {
        if by_rows {
            let per = mp.div_ceil(t) * MR;
            let (i0, i1) = ((i * per).min(m), ((i + 1) * per).min(m));
            if i0 < i1 {
                let a_rows = Strided { data: &a.data[i0 * a.rs..], ..a };
                // SAFETY: the row blocks are disjoint, so each thread writes its own
                // elements of C (valid by the caller's contract); rows i0..i1 of A are
                // rows 0..i1-i0 of the view.
                unsafe { own::gemm(i1 - i0, 0..n, k, a_rows, b, cp.get().add(i0 * c_rs), c_rs, accumulate) };
            }
        } else {
            let per = np.div_ceil(t) * NR;
            let (j0, j1) = ((i * per).min(n), ((i + 1) * per).min(n));
            if j0 < j1 {
                // SAFETY: the column blocks are disjoint, so each thread writes its own
                // elements of C (valid by the caller's contract).
                unsafe { own::gemm(m, j0..j1, k, a, b, cp.get(), c_rs, accumulate) };
            }
        }
    };
    use rayon::prelude::*;
    (0..t).into_par_iter().for_each(run);
}

/// Products below this many multiply-adds run on the calling thread whatever `par` says.
const PAR_MIN_WORK: usize = 1 << 18;

/// Threads a product may use under `par`.
fn threads(par: Parallelism) -> usize {
    match par {
        Parallelism::None => 1,
        Parallelism::Rayon(0) => rayon::current_num_threads(),
        Parallelism::Rayon(n) => n.min(rayon::current_num_threads()),
    }
}

/// C's base pointer handed to the threads of a split product (each writes its own columns).
#[derive(Clone, Copy)]
struct SharedC(*mut f32);
// SAFETY: only used to give each thread of a split product the base of C, whose column
// blocks the threads write disjointly.
unsafe impl Send for SharedC {}
unsafe impl Sync for SharedC {}

impl SharedC {
    fn get(self) -> *mut f32 {
        self.0
    }
}

static CRATE_BACKEND: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Benchmarks only: route every product through the `gemm` crate (the previous backend, with
/// its own summation order: other bits) instead of this module's kernels.
pub fn set_crate_backend(on: bool) {
    CRATE_BACKEND.store(on, std::sync::atomic::Ordering::Relaxed);
}

fn crate_backend() -> bool {
    CRATE_BACKEND.load(std::sync::atomic::Ordering::Relaxed)
}

/// The product through the `gemm` crate, cut along k into equal blocks of at most 512.
///
/// # Safety
/// As [`matmul_strided_raw`]; `a` and `b` already checked.
unsafe fn matmul_crate(
    d: Dims,
    a: Strided<'_>,
    b: Strided<'_>,
    c: *mut f32,
    c_rs: usize,
    accumulate: bool,
    par: Parallelism,
) {
    let Dims { m, n, k } = d;
    // Equal blocks of at most KC along k, in order (see the module docs).
    let blocks = k.div_ceil(KC);
    let kc = k.div_ceil(blocks);
    let mut p0 = 0;
    while p0 < k {
        let kb = kc.min(k - p0);
        // SAFETY: the caller checked every element the strides of A and B address; C's
        // elements are valid and exclusively ours (caller's contract), and they cannot alias A
        // or B, which are shared borrows. gemm computes dst = alpha*dst + beta*lhs*rhs and
        // reads dst only when `read_dst` is set: the first block writes (or accumulates), the
        // others accumulate.
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

/// `dst[j * dst_rs + i] = src[i * src_rs + j]` for `i, j < 8`: an 8 x 8 block transposed,
/// in eight AVX registers where the build has AVX (the x86-64-v3 baseline), else element by
/// element. Packing transposed operands this way instead of through a local tile (which the
/// compiler kept on the stack: a scalar load and store per value) cut the packing's share
/// of a 784-1024-1024-10 MLP step from 12.8 % to 8.1 % of the samples (perf, one thread).
pub(crate) fn transpose8x8(src: &[f32], src_rs: usize, dst: &mut [f32], dst_rs: usize) {
    // Bounds: the last row of each side is inside its slice.
    let (src, dst) = (&src[..7 * src_rs + 8], &mut dst[..7 * dst_rs + 8]);
    #[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
    // SAFETY: AVX is enabled at compile time; rows i < 8 of 8 values start at i * stride,
    // inside the slices (checked above).
    unsafe {
        use std::arch::x86_64::*;
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(s.add(i * src_rs)));
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let out = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (j, v) in out.into_iter().enumerate() {
            _mm256_storeu_ps(d.add(j * dst_rs), v);
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx")))]
    for i in 0..8 {
        for j in 0..8 {
            dst[j * dst_rs + i] = src[i * src_rs + j];
        }
    }
}

/// Rows of C per micro-tile.
const MR: usize = 8;
/// Columns of C per micro-tile (two 16-lane AVX-512 vectors).
const NR: usize = 32;
/// Largest depth of one block along k: the part of B one tile reads (`KPACK x NR`, 32 KiB)
/// fits in L1 beside the tile's part of A. Blocks are equal (a product with k = 800 runs
/// four of 200). Tiles taken column by column (see `gemm_with`) did best with 128 (LeNet
/// conv2's three products 39.8 ms per batch against 42.1 with 256); row by row, 256 with
/// [`B_BLOCK_L2`] at 1 MiB against 128 with 512 KiB: LeNet 1.013x at one thread and 1.036x
/// at two, the MLP 0.997x and 1.014x (whole runs, medians of 8 pairs). Does not change any
/// bit: the kernel carries each element's sum from block to block in C.
const KPACK: usize = 256;

/// The depth of the equal blocks a product with inner dimension `k` is cut into.
fn block_depth(k: usize) -> usize {
    k.div_ceil(k.div_ceil(KPACK))
}

/// The most of B's block (`kb x n`) that a row of tiles may stream from L2: half of the
/// 2 MiB L2 of the Sapphire Rapids-class host it was tuned on (all of Zen 4's 1 MiB). The
/// MLP's `KPACK x 1024` blocks fit; LeNet's fc1 `dW` (`100 x 3136`) does not.
const B_BLOCK_L2: usize = 1 << 20;

mod own {
    use super::{block_depth, Strided, B_BLOCK_L2, MR, NR};
    use std::cell::RefCell;
    use std::ops::Range;

    thread_local! {
        /// Packed A (panels of `kb x MR`) and B (panels of `kb x NR`) when an operand is
        /// packed.
        static PACK: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    }

    /// Which kernel runs the micro-tiles: both give the same bits (see [`tile_portable`]).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) enum Kernel {
        Avx512,
        Portable,
    }

    pub(super) fn best_kernel() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
        }
        Kernel::Portable
    }

    /// A view the kernel reads directly: element `(i, p)` at `ptr + i * rs + p * cs`.
    #[derive(Clone, Copy)]
    struct View {
        ptr: *const f32,
        rs: usize,
        cs: usize,
    }

    /// Whether an `m`-row product copies A and B into panels. A is read by scalar
    /// broadcasts, so any layout works unless its rows alias in L1; B by vectors along its
    /// rows, so it must have unit column stride.
    pub(super) fn packs(a: Strided<'_>, b: Strided<'_>, m: usize, k: usize) -> (bool, bool) {
        let direct_a = a.cs == 1 && !set_aliasing(a.rs) || a.rs == 1 && !set_aliasing(a.cs);
        (!direct_a, b.cs != 1 || set_aliasing(b.rs) || far_rows(b.rs, m, k))
    }

    /// Strides whose rows land in the same L1 sets (a multiple of 1 KiB apart) make a
    /// direct read thrash the cache: such operands are packed.
    fn set_aliasing(stride: usize) -> bool {
        stride.is_multiple_of(256)
    }

    /// B's block (its `kb` rows read by one k-block) spread over more pages than the L1 TLB
    /// holds (64 x 4 KiB) and read by many row tiles: each tile then walks that many pages
    /// per block, and a copy into contiguous panels pays for itself. LeNet's dcol product
    /// (`800 x 392 x 64`, B = dY's rows 78 KB apart): 16.6 -> 14.4 ms per batch of 100; the
    /// MLP's `dW1 = dZ1^T X` (`1024 x 784 x 100`, X's rows 3 KB apart, 306 KB in all):
    /// 1.39 -> 1.18 ms (one thread).
    fn far_rows(rs: usize, m: usize, k: usize) -> bool {
        rs * block_depth(k) * std::mem::size_of::<f32>() >= 64 * 4096 && m >= 32 * MR
    }

    /// `C[.., cols] (+)= A B[.., cols]` for `m` rows.
    ///
    /// # Safety
    /// `c + i * c_rs + j` valid for reads and writes for `i < m`, `j` in `cols`, and not
    /// accessed by anything else during the call; `a` and `b` checked for `m x k`, `k x n`.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn gemm(
        m: usize,
        cols: Range<usize>,
        k: usize,
        a: Strided<'_>,
        b: Strided<'_>,
        c: *mut f32,
        c_rs: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded contract.
        unsafe { gemm_with(best_kernel(), m, cols, k, a, b, c, c_rs, accumulate) }
    }

    /// [`gemm`] with a given kernel.
    ///
    /// # Safety
    /// As [`gemm`]; `Kernel::Avx512` only where the CPU has AVX-512F.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn gemm_with(
        kernel: Kernel,
        m: usize,
        cols: Range<usize>,
        k: usize,
        a: Strided<'_>,
        b: Strided<'_>,
        c: *mut f32,
        c_rs: usize,
        accumulate: bool,
    ) {
        let n = cols.len();
        let (mp, np) = (m.div_ceil(MR), n.div_ceil(NR));
        let (pack_a, pack_b) = packs(a, b, m, k);
        let kc = block_depth(k);
        // Tiles row by row (each row of tiles reads its block of A from L1 and streams B's
        // block, which must then stay in L2) or column by column (each column of tiles reads
        // its panel of B from L1 and streams A's block). Row by row writes C in whole rows,
        // which the prefetchers follow, where columns of tiles write 128-byte pieces of
        // rows far apart: with the MLP's eight products in a step's order (their operands
        // and outputs evicted in between, as in training), 10.5 -> 8.4 ms, dW2 = dZ2^T H1
        // (a 4 MB output) 2.06 -> 1.52 ms; LeNet's, 6.3 -> 5.6 ms (one thread). Whole runs,
        // paired: the MLP 1.05x at one thread, 1.01x at two (6 pairs); LeNet 1.006x. The
        // order of the tiles does not change any bit.
        let rows_first = kc * n * std::mem::size_of::<f32>() <= B_BLOCK_L2;
        PACK.with(|cell| {
            let mut bufs = cell.borrow_mut();
            let (pa, pb) = &mut *bufs;
            if pack_a && pa.len() < mp * MR * kc + 16 {
                pa.resize(mp * MR * kc + 16, 0.0);
            }
            if pack_b && pb.len() < np * NR * kc + 16 {
                pb.resize(np * NR * kc + 16, 0.0);
            }
            // 64-byte aligned panels (a vector load that crosses a cache line costs two).
            let align = |v: &Vec<f32>, used: bool| if used { v.as_ptr().align_offset(64).min(16) } else { 0 };
            let (oa, ob) = (align(pa, pack_a), align(pb, pack_b));
            let (pa, pb) = (&mut pa[oa..], &mut pb[ob..]);
            let mut p0 = 0;
            while p0 < k {
                let kb = kc.min(k - p0);
                if pack_b {
                    pack_b_block(b, p0, kb, cols.clone(), &mut pb[..np * NR * kb]);
                }
                if pack_a {
                    pack_a_block(a, p0, kb, m, &mut pa[..mp * MR * kb]);
                }
                let first = p0 == 0 && !accumulate;
                let (outer, inner) = if rows_first { (mp, np) } else { (np, mp) };
                for (o, i) in (0..outer).flat_map(|o| (0..inner).map(move |i| (o, i))) {
                    let (ip, jp) = if rows_first { (o, i) } else { (i, o) };
                    let j0 = jp * NR;
                    let w = NR.min(n - j0);
                    let bv = if pack_b {
                        View { ptr: pb[jp * NR * kb..].as_ptr(), rs: NR, cs: 1 }
                    } else {
                        // SAFETY: row p0, column cols.start + j0 of B is inside its slice.
                        View { ptr: unsafe { b.data.as_ptr().add(p0 * b.rs + cols.start + j0) }, rs: b.rs, cs: 1 }
                    };
                    let i0 = ip * MR;
                    let h = MR.min(m - i0);
                    let av = if pack_a {
                        View { ptr: pa[ip * MR * kb..].as_ptr(), rs: 1, cs: MR }
                    } else {
                        // SAFETY: element (i0, p0) of A is inside its slice.
                        View { ptr: unsafe { a.data.as_ptr().add(i0 * a.rs + p0 * a.cs) }, rs: a.rs, cs: a.cs }
                    };
                    // SAFETY: rows i0..i0+h, columns cols.start+j0..+w of C are the
                    // caller's; the views reach h rows / w columns of depth kb.
                    unsafe {
                        let ct = c.add(i0 * c_rs + cols.start + j0);
                        tile(kernel, kb, av, bv, ct, c_rs, h, w, first);
                    }
                }
                p0 += kb;
            }
        });
    }

    /// Panels of `MR` rows of `A[.., p0..p0+kb]`, each `kb x MR` (depth-major), rows past `m`
    /// zero.
    fn pack_a_block(a: Strided<'_>, p0: usize, kb: usize, m: usize, out: &mut [f32]) {
        for (ip, panel) in out.chunks_exact_mut(MR * kb).enumerate() {
            let i0 = ip * MR;
            let h = MR.min(m - i0);
            // Rows contiguous along k (a weight matrix whose rows alias in L1): 8 x 8 blocks
            // transposed in registers, as pack_b_block does.
            let k8 = if a.cs == 1 && h == MR { kb / 8 * 8 } else { 0 };
            for pb in (0..k8).step_by(8) {
                super::transpose8x8(&a.data[i0 * a.rs + p0 + pb..], a.rs, &mut panel[pb * MR..], MR);
            }
            for p in k8..kb {
                let dst = &mut panel[p * MR..][..MR];
                let base = (p0 + p) * a.cs + i0 * a.rs;
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = if i < h { a.data[base + i * a.rs] } else { 0.0 };
                }
            }
        }
    }

    /// Panels of `NR` columns of `B[p0..p0+kb, cols]`, each `kb x NR` (depth-major), columns
    /// past the end zero.
    fn pack_b_block(b: Strided<'_>, p0: usize, kb: usize, cols: Range<usize>, out: &mut [f32]) {
        let n = cols.len();
        for (jp, panel) in out.chunks_exact_mut(NR * kb).enumerate() {
            let j0 = cols.start + jp * NR;
            let w = NR.min(n - jp * NR);
            if b.cs == 1 && w == NR {
                // A copy of known length is two vector moves where a copy of `w` values is a
                // call to memmove per 128 bytes (5 % of an MLP run's samples, then 1 %).
                for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
                    dst.copy_from_slice(&b.data[(p0 + p) * b.rs + j0..][..NR]);
                }
            } else if b.cs == 1 {
                for p in 0..kb {
                    let dst = &mut panel[p * NR..][..NR];
                    dst[..w].copy_from_slice(&b.data[(p0 + p) * b.rs + j0..][..w]);
                    dst[w..].fill(0.0);
                }
            } else {
                // A transposed operand (columns contiguous along k, b.rs == 1 in practice):
                // 8 x 8 blocks through a local tile (scalar stores at stride NR cost a
                // cycle each: 7 % of a LeNet step).
                let at = |j: usize, p: usize| b.data[p0 * b.rs + (j0 + j) * b.cs + p * b.rs];
                let (w8, k8) = (w / 8 * 8, if b.rs == 1 { kb / 8 * 8 } else { 0 });
                for jb in (0..w8).step_by(8) {
                    for pb in (0..k8).step_by(8) {
                        let src = &b.data[p0 + pb + (j0 + jb) * b.cs..];
                        super::transpose8x8(src, b.cs, &mut panel[pb * NR + jb..], NR);
                    }
                    for p in k8..kb {
                        for j in jb..jb + 8 {
                            panel[p * NR + j] = at(j, p);
                        }
                    }
                }
                for p in 0..kb {
                    for j in w8..NR {
                        panel[p * NR + j] = if j < w { at(j, p) } else { 0.0 };
                    }
                }
            }
        }
    }

    /// One tile of C (`h <= MR` rows, `w <= NR` columns): `C = sum_p A[.., p] B[p, ..]` over
    /// the depth `kb`, starting from 0 (`first`) or from C's values.
    ///
    /// # Safety
    /// `c + i * c_rs + j` valid for `i < h`, `j < w`; `a` valid at `(i, p)` for `i < h`,
    /// `p < kb`, `b` at `(p, j)` for `p < kb`, `j < w`; `Avx512` only with AVX-512F.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn tile(
        kernel: Kernel,
        kb: usize,
        a: View,
        b: View,
        c: *mut f32,
        c_rs: usize,
        h: usize,
        w: usize,
        first: bool,
    ) {
        // AVX-512: the instance of the tile's size, `h` rows and as many vectors as `w` needs,
        // so an edge tile (the MLP's last 4 of 100 rows, LeNet conv2's last 8 of 392 columns)
        // runs no multiply-adds for rows or vectors it does not have.
        #[cfg(target_arch = "x86_64")]
        macro_rules! rows {
            ($cols:literal, $masked:literal, $($r:literal)*) => {
                match h {
                    $($r => if a.rs == 1 {
                        tile_avx512::<true, $r, $cols, $masked>(kb, a, b, c, c_rs, w, first)
                    } else {
                        tile_avx512::<false, $r, $cols, $masked>(kb, a, b, c, c_rs, w, first)
                    },)*
                    _ => unreachable!("a tile has 1 to {MR} rows"),
                }
            };
        }
        match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: forwarded; h <= MR rows and w <= 16 * vectors columns.
            Kernel::Avx512 => unsafe {
                match w {
                    32 => rows!(2, false, 1 2 3 4 5 6 7 8),
                    17..=31 => rows!(2, true, 1 2 3 4 5 6 7 8),
                    16 => rows!(1, false, 1 2 3 4 5 6 7 8),
                    _ => rows!(1, true, 1 2 3 4 5 6 7 8),
                }
            },
            // SAFETY: forwarded.
            _ => unsafe { tile_portable(kb, a, b, c, c_rs, h, w, first) },
        }
    }

    /// Every element of C is the chain `acc = fma(a_ip, b_pj, acc)` over p in order, from 0
    /// or from C (one rounding per step): [`tile_avx512`] computes exactly the same chain in
    /// 16 lanes at once, so both give the same bits.
    ///
    /// # Safety
    /// As [`tile`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_portable(kb: usize, a: View, b: View, c: *mut f32, c_rs: usize, h: usize, w: usize, first: bool) {
        for i in 0..h {
            let mut acc = [0.0f32; NR];
            // SAFETY: rows i < h and columns j < w of the tile (caller's contract).
            unsafe {
                if !first {
                    for (j, v) in acc[..w].iter_mut().enumerate() {
                        *v = *c.add(i * c_rs + j);
                    }
                }
                for p in 0..kb {
                    let x = *a.ptr.add(i * a.rs + p * a.cs);
                    let row = b.ptr.add(p * b.rs);
                    for (j, v) in acc[..w].iter_mut().enumerate() {
                        *v = x.mul_add(*row.add(j), *v);
                    }
                }
                for (j, v) in acc[..w].iter().enumerate() {
                    *c.add(i * c_rs + j) = *v;
                }
            }
        }
    }

    /// [`tile_portable`] in AVX-512 for a tile of `R` rows and `V` vectors of 16 columns
    /// (`R x V` accumulators, 8 x 2 for a whole tile); a last vector narrower than 16 by
    /// masks. `A_COLS`: A's rows are adjacent (`rs = 1`), so the broadcasts of a step are at
    /// fixed offsets.
    ///
    /// # Safety
    /// As [`tile`] with `h = R` and `16 (V - 1) < w <= 16 V`; the CPU must have AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_avx512<const A_COLS: bool, const R: usize, const V: usize, const MASKED: bool>(
        kb: usize,
        a: View,
        b: View,
        c: *mut f32,
        c_rs: usize,
        w: usize,
        first: bool,
    ) {
        use std::arch::x86_64::*;
        let mut masks = [0xffff as __mmask16; V];
        if MASKED {
            masks[V - 1] = (1u32 << (w - 16 * (V - 1))) as u16 - 1;
        }
        // Whole vectors load without masks: with masked loads in every instance, one 8 x 32
        // tile in L1 ran at 63.8 % of peak against 68.0 % (CNN_SWEEP's first line).
        macro_rules! load {
            ($m:expr, $p:expr) => {
                if MASKED {
                    _mm512_maskz_loadu_ps($m, $p)
                } else {
                    _mm512_loadu_ps($p)
                }
            };
        }
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        // SAFETY (whole body): every access stays inside the rows i < R, columns j < w and
        // depth p < kb that the caller vouches for (masked lanes are not accessed).
        unsafe {
            if !first {
                for (i, r) in acc.iter_mut().enumerate() {
                    for (v, (x, &m)) in r.iter_mut().zip(&masks).enumerate() {
                        *x = _mm512_maskz_loadu_ps(m, c.add(i * c_rs + 16 * v));
                    }
                }
            }
            let mut bp = b.ptr;
            // The loop over k, unrolled by four: per step a row of B, then row i's value of A
            // (at `$a`) times it into row i's accumulators, then `$next` moves A along k.
            macro_rules! depth_loop {
                ($i:ident => $a:expr; $next:expr) => {
                    macro_rules! step {
                        () => {
                            let mut bv = [_mm512_setzero_ps(); V];
                            for (v, (x, &m)) in bv.iter_mut().zip(&masks).enumerate() {
                                *x = load!(m, bp.add(16 * v));
                            }
                            for ($i, r) in acc.iter_mut().enumerate() {
                                let ai = _mm512_set1_ps(*$a);
                                for (x, &bx) in r.iter_mut().zip(&bv) {
                                    *x = _mm512_fmadd_ps(ai, bx, *x);
                                }
                            }
                            $next;
                            bp = bp.add(b.rs);
                        };
                    }
                    for _ in 0..kb / 4 {
                        step!();
                        step!();
                        step!();
                        step!();
                    }
                    for _ in 0..kb % 4 {
                        step!();
                    }
                };
            }
            if A_COLS {
                let mut ap = a.ptr;
                depth_loop!(i => ap.add(i); ap = ap.add(a.cs));
            } else {
                let mut rows = [a.ptr; R];
                for (i, r) in rows.iter_mut().enumerate() {
                    *r = a.ptr.add(i * a.rs);
                }
                let mut off = 0;
                depth_loop!(i => rows[i].add(off); off += a.cs);
            }
            for (i, r) in acc.iter().enumerate() {
                for (v, (&x, &m)) in r.iter().zip(&masks).enumerate() {
                    _mm512_mask_storeu_ps(c.add(i * c_rs + 16 * v), m, x);
                }
            }
        }
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

#[cfg(test)]
mod transpose_tests {
    use super::transpose8x8;

    /// The register transpose (or the portable loop without AVX) against the definition,
    /// with strides wider than the block; nothing outside the block is written.
    #[test]
    fn transpose8x8_is_the_transpose() {
        let (src_rs, dst_rs) = (11, 13);
        let src: Vec<f32> = (0..8 * src_rs).map(|i| i as f32).collect();
        let mut dst = vec![-1.0f32; 8 * dst_rs];
        transpose8x8(&src, src_rs, &mut dst, dst_rs);
        for j in 0..8 {
            for c in 0..dst_rs {
                let want = if c < 8 { src[c * src_rs + j] } else { -1.0 };
                assert_eq!(dst[j * dst_rs + c], want, "({j}, {c})");
            }
        }
    }
}

#[cfg(test)]
mod own_tests {
    use super::own::{best_kernel, gemm_with, Kernel};
    use super::*;

    fn data(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 7919 + seed * 104729) % 2003) as f32 - 1001.0) / 997.0).collect()
    }

    /// Every element is one FMA chain over k in order: the vector kernel, the portable one,
    /// a scalar chain, any packing depth and any thread split give the same bits.
    #[test]
    fn kernels_and_splits_give_the_chain_bits() {
        for &(m, n, k, ta, tb, acc) in &[
            (8, 32, 256, false, false, false),
            (13, 70, 300, true, false, true),
            (100, 260, 784, false, true, false),
            (17, 5, 1025, true, true, true),
            // A's rows 512 floats apart (packed; 8 x 8 blocks and a ragged panel of 5 rows).
            (13, 40, 512, false, false, true),
            // A packed, few columns: threads split the rows (one panel of columns only).
            (61, 20, 512, false, false, false),
            (200, 40, 256, false, true, true),
            // B's block (256 x 1100) too big to stream per row of tiles: column by column.
            (20, 1100, 256, true, false, true),
            // B's rows spread over 68 pages per block, read by 32 row tiles: packed.
            (256, 700, 100, false, false, false),
            (1, 1, 3, false, false, false),
            // Edge tiles of every height (1 to 8 rows) and of one whole vector (16 columns),
            // one and a half, one masked vector.
            (2, 16, 40, false, false, false),
            (3, 48, 40, true, false, true),
            (6, 9, 40, true, true, false),
            (7, 48, 40, false, true, true),
            (15, 16, 40, true, false, false),
        ] {
            let a = data(m * k, 1);
            let b = data(k * n, 2);
            let sa = if ta { Strided::transposed(&a, m) } else { Strided::rows(&a, k) };
            let sb = if tb { Strided::transposed(&b, k) } else { Strided::rows(&b, n) };
            let c0 = data(m * n, 3);
            let mut want = c0.clone();
            for i in 0..m {
                for j in 0..n {
                    let mut s = if acc { c0[i * n + j] } else { 0.0f32 };
                    for p in 0..k {
                        let (x, y) = (sa.data[i * sa.rs + p * sa.cs], sb.data[p * sb.rs + j * sb.cs]);
                        s = x.mul_add(y, s);
                    }
                    want[i * n + j] = s;
                }
            }
            let mut kernels = vec![Kernel::Portable];
            if best_kernel() == Kernel::Avx512 {
                kernels.push(Kernel::Avx512);
            }
            for kern in kernels {
                let mut c = c0.clone();
                // SAFETY: c is m x n, row stride n.
                unsafe { gemm_with(kern, m, 0..n, k, sa, sb, c.as_mut_ptr(), n, acc) };
                assert!(c.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()), "{kern:?} {m}x{n}x{k}");
            }
            let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            let mut c = c0.clone();
            pool.install(|| matmul(Dims { m, n, k }, sa, sb, &mut c, acc, Parallelism::Rayon(0)));
            assert!(c.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()), "threaded {m}x{n}x{k}");
        }
    }
}
