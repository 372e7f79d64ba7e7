//! Stride-1 "same" 2-D convolution (odd `k x k` kernel, zero padding `k/2`) on CNHW
//! activations (see [`super`] for the layout contract), as im2col + GEMM ([`matmul_strided`],
//! the project's own kernels).
//!
//! For a group of `G` samples starting at `b0`, [`im2col`] builds `col`
//! (`K x G*H*W`, `K = C_in*k*k`, row `(ci*k + kh)*k + kw`, column `g*H*W + h*W + w`) and
//! - forward: `Y[:, b0..b0+G] = W col` (`W` is `C_out x K` as stored), the product's rows
//!   written straight into `y` with row stride `B*H*W`;
//! - backward: `dW^T += col dY_g^T` into a `K x C_out` buffer over the groups in order (the
//!   first group overwrites), transposed into `dw` once per batch; and `dcol = W^T dY_g` into
//!   the `col` buffer, scattered back by [`col2im`] (the centre tap, which covers every
//!   pixel, is copied first, the other taps added in row-major order).
//!
//! A row of `col` for tap `(kh, kw)` of one sample is the input plane shifted by
//! `(kh - k/2) * W + (kw - k/2)`: one contiguous pass over the plane that ANDs each value
//! with a per-tap mask of the positions inside the image ([`TapMasks`]), so the padding
//! becomes exact zeros (a NaN or inf never leaks into it); col2im adds the masked row back
//! the same way.
//!
//! # Threads
//!
//! The batch is cut into [`PARTS`] = 2 fixed parts (samples `[0, ceil(B/2))` and the rest),
//! whatever the thread count. Each part runs its own sequence of groups with its own `col`
//! buffer and its own dW^T sum, every GEMM single-threaded; with two threads the parts run
//! side by side (`rayon::join`), with one they run one after the other. dW^T is part 0 + part
//! 1, summed in that order, so the bits are the same with any number of threads (and no
//! GEMM's inner dimension is ever split: [`crate::nets::gemm`] gives every output element to
//! one thread).
//! The group size `G` fixes the order of each part's sum over its samples. More than two
//! threads are not used by the convolutions (this machine has two cores).
//!
//! # Measurements (why it is built this way)
//!
//! `CONV_SWEEP=1 cargo bench --bench conv` times variants back to back in interleaved rounds
//! and prints medians (one thread: on-CPU time of the thread; the machine is shared with
//! other jobs, so the numbers below were taken with this session's scheduling group at
//! `nice -20`, where wall and on-CPU time agree). Batch 100, forward + dW + dX; a square
//! 512^3 GEMM of the same library ran at 99-108 GFLOP/s on one core (85-93 % of the 116
//! GFLOP/s AVX2 peak) during these runs.
//!
//! - **Group size**: `G*H*W` around 400-800 columns is fastest. One thread, LeNet conv2
//!   (32->64, 5x5 on 14x14): 72.9 / 71.1 / 73.2 / 74.5 ms at G = 1 / 2 / 3 / 4; VGG 64->64
//!   3x3 on 14x14: 52.9 / 49.8 / 51.2 / 52.4 ms; 32->64: 27.3 / 25.9 / 25.7 / 25.6 ms; at
//!   28 x 28 G = 1 (32->32: 58.4 ms, G = 2: 62.9, G = 4: 69.3). Larger groups only push
//!   `col` out of L2 (LeNet conv2 at G = 100, one GEMM per pass: 150 ms). Hence
//!   [`ConvShape::default_group`] = `max(1, 400 / (H*W))`.
//! - **dW as `dW^T = col dY^T`**: the library packs the left operand of its internal frame
//!   in column panels; for `dW = dY col^T` that operand is `col` (row-major, so packing is a
//!   transpose of the whole `K x N` block every group), for `dW^T` it is the small `dY`.
//!   The dW GEMM went from 22.8 to 19.4 ms (LeNet conv2), 20.8 to 14.4 ms (VGG 32->32) and
//!   16.1 to 13.7 ms (VGG 64->64).
//! - **Two parts, one thread each**, against one sequence of groups whose GEMMs the library
//!   splits over both threads (and im2col / col2im split over channels), 2 threads, back to
//!   back (`COMPARE_SPLIT=1`): LeNet conv2 34.3 vs 47.4 ms (G = 2), VGG 32->32 28.2 vs
//!   45.2 ms (G = 1), VGG 64->64 24.9 vs 35.0 ms (G = 2). With the library's split both
//!   threads pack the whole `col` block (each computes all of its columns for half of the
//!   output channels) and `col`, written half by each core, crosses between the cores'
//!   caches every group.
//! - **Masked im2col**: one pass per tap instead of a copy followed by zeroing the padding
//!   columns row by row: 2.05 vs 2.82 ms per batch (LeNet conv2, G = 2), 1.69 vs 2.31 ms
//!   (VGG 64->64), 2.88 vs 3.08 ms (VGG 32->32, G = 1).
//! - Tried and dropped: the forward with `W^T` stored, so the library packs `W` instead of
//!   reading it in place (LeNet conv2 22.5-23.0 vs 21.5-22.0 ms, VGG 64->64 15.8-16.7 vs
//!   14.9-15.8, VGG 32->32 1-5 % faster at G = 1: a wash); the library's lhs packing
//!   threshold raised so that the forward does not pack `col` (no faster, 22.5 vs 22.1 ms,
//!   and a global setting that would also change the MLP's GEMMs).
//!
//! Result (`cargo bench --bench conv`, default groups, medians of three criterion runs,
//! ms per batch of 100 and share of the AVX2 peak, 116 GFLOP/s per core):
//!
//! | layer                      | 1 thread        | 2 threads       |
//! |----------------------------|-----------------|-----------------|
//! | LeNet conv1 5x5 1->32 28²  |  4.85 ms  45 %  |  2.76 ms  39 %  |
//! | LeNet conv2 5x5 32->64 14² | 66.4 ms   78 %  | 34.4 ms   75 %  |
//! | VGG conv1 3x3 1->32 28²    |  2.99 ms  26 %  |  1.62 ms  24 %  |
//! | VGG conv2 3x3 32->32 28²   | 53.8 ms   70 %  | 28.4 ms   66 %  |
//! | VGG conv3 3x3 32->64 14²   | 24.0 ms   78 %  | 12.4 ms   75 %  |
//! | VGG conv4 3x3 64->64 14²   | 47.9 ms   78 %  | 25.1 ms   74 %  |
//!
//! All of LeNet's convolutions: 76 % of peak on one thread, 73 % on two; the VGG's: 73 % and
//! 70 % (first layers included; they compute no dX, and the bench computes db).
//!
//! History: these shares were measured with the `gemm` crate as the backend, on a KVM guest
//! that reports an Intel Xeon with AVX-512; the crate's AVX-512 kernels (its feature
//! `x86-v4`, never enabled) ran LeNet conv2 in 44 ms against 67 ms. The products now run on
//! [`crate::nets::gemm`]'s own kernels, AVX-512 where the CPU has it with the same bits as
//! without (the crate only behind a benchmark switch); 116 GFLOP/s, the peak quoted here, is
//! one core's AVX2 peak.
//!
//! Where the time goes (LeNet conv2, one thread, G = 2, ms per batch of 100): forward GEMM
//! 21.8, dW^T GEMM 19.4, dcol GEMM 19.5, im2col 2.0 (twice: forward and backward), col2im
//! 2.0; whole layer 67-70 ms = 74-77 % of peak (GEMMs alone 78-89 %). The first layers
//! (1 input channel: K = 25 or 9) are bound by memory and the GEMMs' per-call overheads
//! (33-37 % and 21 % of peak), 6.4 and 3.7 ms per batch.

use super::{block_sum, for_chunks};
use crate::nets::gemm::{matmul_strided, matmul_strided_raw, Dims, Parallelism, Strided};

/// The shape of one product.
fn dims(m: usize, n: usize, k: usize) -> Dims {
    Dims { m, n, k }
}

/// Shape of a stride-1 "same" convolution layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub c_in: usize,
    pub c_out: usize,
    /// Kernel size (odd).
    pub k: usize,
    /// Image height and width (input and output).
    pub h: usize,
    pub w: usize,
}

impl ConvShape {
    /// Fails on a zero size or an even kernel.
    pub fn new(c_in: usize, c_out: usize, k: usize, h: usize, w: usize) -> Result<ConvShape, String> {
        if c_in == 0 || c_out == 0 || h == 0 || w == 0 {
            return Err(format!("conv: zero size in {c_in} -> {c_out} channels on {h} x {w}"));
        }
        if k % 2 == 0 {
            return Err(format!("conv: kernel size {k} must be odd (\"same\" padding k/2)"));
        }
        Ok(ConvShape { c_in, c_out, k, h, w })
    }

    /// Zero padding on each side, `k/2`.
    pub fn pad(&self) -> usize {
        self.k / 2
    }

    /// Pixels per plane, `H*W`.
    pub fn hw(&self) -> usize {
        self.h * self.w
    }

    /// Inner dimension of the GEMMs, `C_in*k*k` (a row of the weight matrix).
    pub fn col_rows(&self) -> usize {
        self.c_in * self.k * self.k
    }

    /// Length of the weight tensor `[C_out][C_in][k][k]`.
    pub fn weight_len(&self) -> usize {
        self.c_out * self.col_rows()
    }

    /// Length of a CNHW input of batch `b`.
    pub fn in_len(&self, b: usize) -> usize {
        self.c_in * b * self.hw()
    }

    /// Length of a CNHW output of batch `b`.
    pub fn out_len(&self, b: usize) -> usize {
        self.c_out * b * self.hw()
    }

    /// Multiply-adds of one sample's forward pass (each of dW and dX costs as much).
    pub fn macs_per_sample(&self) -> usize {
        self.c_out * self.col_rows() * self.hw()
    }
}

/// GEMM columns (`G*H*W`) a group aims at: [`ConvShape::default_group`].
pub const GROUP_COLUMNS: usize = 400;

impl ConvShape {
    /// Samples per GEMM group unless set with [`ConvWorkspace::with_group`]:
    /// `max(1, 400 / (H*W))`, i.e. 2 for 14 x 14 and 1 for 28 x 28 images (the fastest on
    /// every target shape, see the module notes).
    pub fn default_group(&self) -> usize {
        (GROUP_COLUMNS / self.hw()).max(1)
    }
}

/// The batch is cut into this many fixed parts (samples `[0, ceil(B/2))` and the rest),
/// whatever the thread count; see [`conv_forward`].
pub const PARTS: usize = 2;

/// Scratch of one convolution layer for batches of up to `max_batch`: per part of the
/// batch, the `col` buffer of one group (`C_in*k*k x G*H*W`, reused for `dcol` in the
/// backward pass) and the part's dW^T sum. Nothing is allocated per call (the GEMM library
/// allocates its packing buffers).
#[derive(Clone, Debug)]
pub struct ConvWorkspace {
    shape: ConvShape,
    max_batch: usize,
    group: usize,
    masks: TapMasks,
    col: [Vec<f32>; PARTS],
    /// dW^T (`C_in*k*k x C_out`) of each part, summed over its groups.
    dwt: [Vec<f32>; PARTS],
}

impl ConvWorkspace {
    pub fn new(shape: ConvShape, max_batch: usize) -> ConvWorkspace {
        ConvWorkspace::with_group(shape, max_batch, shape.default_group())
    }

    /// With `group` samples per GEMM (clamped to `1..=max_batch`). The group size fixes the
    /// order in which dW sums over the batch, so it is part of the result's bits (the thread
    /// count is not).
    pub fn with_group(shape: ConvShape, max_batch: usize, group: usize) -> ConvWorkspace {
        assert!(max_batch >= 1, "conv workspace batch size must be at least 1");
        let group = group.clamp(1, max_batch);
        let col = std::array::from_fn(|_| vec![0.0; shape.col_rows() * group * shape.hw()]);
        let dwt = std::array::from_fn(|_| vec![0.0; shape.weight_len()]);
        ConvWorkspace { shape, max_batch, group, masks: TapMasks::new(&shape), col, dwt }
    }

    pub fn shape(&self) -> &ConvShape {
        &self.shape
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    pub fn group(&self) -> usize {
        self.group
    }
}

/// Valid range `[lo, hi)` of output coordinates along one axis of length `n` for a tap at
/// offset `d` (input coordinate = output + d).
#[inline]
fn valid(n: usize, d: isize) -> (usize, usize) {
    let lo = (-d).max(0) as usize;
    let hi = (n as isize - d).clamp(0, n as isize) as usize;
    (lo.min(hi), hi)
}

/// The contiguous run `[i0, i1)` of plane indices `i` (with `i + off` inside the plane)
/// that covers every valid output pixel of the tap, rows `h_lo..h_hi`; `None` when the tap
/// reads only padding (a kernel at least twice as wide as the plane: conv5 on 2 x 2).
#[inline]
fn run(hw: usize, w: usize, h_lo: usize, h_hi: usize, off: isize) -> Option<(usize, usize)> {
    let i0 = ((h_lo * w) as isize).max(-off);
    let i1 = ((h_hi * w) as isize).min(hw as isize - off);
    (i1 > i0).then_some((i0 as usize, i1 as usize))
}

/// Per tap `t = kh*k + kw` and output pixel `i`, all ones if the input pixel the tap reads
/// lies inside the image and 0 if it falls into the padding: [`im2col`] ANDs the copied
/// value with it (a select, so a NaN or inf of the input never leaks into a padding zero)
/// and [`col2im`] the added one (a padding position adds +0 to a neighbouring pixel).
#[derive(Clone, Debug)]
pub struct TapMasks {
    hw: usize,
    masks: Vec<u32>,
}

impl TapMasks {
    pub fn new(s: &ConvShape) -> TapMasks {
        let (k, w, hw, p) = (s.k, s.w, s.hw(), s.pad() as isize);
        let mut masks = vec![0u32; k * k * hw];
        for (t, m) in masks.chunks_exact_mut(hw).enumerate() {
            let (dh, dw) = ((t / k) as isize - p, (t % k) as isize - p);
            let (h_lo, h_hi) = valid(s.h, dh);
            let (w_lo, w_hi) = valid(w, dw);
            for h in h_lo..h_hi {
                m[h * w + w_lo..h * w + w_hi].fill(!0);
            }
        }
        TapMasks { hw, masks }
    }

    fn tap(&self, t: usize) -> &[u32] {
        &self.masks[t * self.hw..][..self.hw]
    }
}

/// `col` (`C_in*k*k x g*H*W`) of samples `b0..b0+g` of the CNHW batch `x` (batch `b`).
#[allow(clippy::too_many_arguments)]
pub fn im2col(
    s: &ConvShape,
    masks: &TapMasks,
    x: &[f32],
    b: usize,
    b0: usize,
    g: usize,
    col: &mut [f32],
    par: Parallelism,
) {
    let (k, w, hw) = (s.k, s.w, s.hw());
    let n = g * hw;
    let col = &mut col[..s.col_rows() * n];
    let p = s.pad() as isize;
    // One chunk per input channel: its k*k rows.
    for_chunks(par, col, k * k * n, col.len(), |ci, rows| {
        for (t, row) in rows.chunks_exact_mut(n).enumerate() {
            let (dh, dw) = ((t / k) as isize - p, (t % k) as isize - p);
            let off = dh * w as isize + dw;
            let (h_lo, h_hi) = valid(s.h, dh);
            let Some((i0, i1)) = run(hw, w, h_lo, h_hi, off) else {
                row.fill(0.0);
                continue;
            };
            let so = (i0 as isize + off) as usize;
            let m = &masks.tap(t)[i0..i1];
            for (gi, d) in row.chunks_exact_mut(hw).enumerate() {
                let src = &x[(ci * b + b0 + gi) * hw + so..][..i1 - i0];
                d[..i0].fill(0.0);
                for ((dd, &v), &mm) in d[i0..i1].iter_mut().zip(src).zip(m) {
                    *dd = f32::from_bits(v.to_bits() & mm);
                }
                d[i1..].fill(0.0);
            }
        }
    });
}

/// Scatters `dcol` (`C_in*k*k x g*H*W`, as [`im2col`] lays it out) into samples
/// `b0..b0+g` of the CNHW gradient `dx` (batch `b`), overwriting them: the centre tap (which
/// covers every pixel) is copied, the others added in row-major tap order.
#[allow(clippy::too_many_arguments)]
pub fn col2im(
    s: &ConvShape,
    masks: &TapMasks,
    dcol: &[f32],
    b: usize,
    b0: usize,
    g: usize,
    dx: &mut [f32],
    par: Parallelism,
) {
    let hw = s.hw();
    let n = g * hw;
    let kk = s.k * s.k;
    // One chunk of `dx` per input channel (its whole batch; the group's planes are a run
    // inside it), so the taps of a pixel are added in the same order whatever the split.
    for_chunks(par, &mut dx[..s.c_in * b * hw], b * hw, s.c_in * kk * n, |ci, planes| {
        col2im_channel(s, masks, &dcol[ci * kk * n..][..kk * n], &mut planes[b0 * hw..(b0 + g) * hw]);
    });
}

/// [`col2im`] of one input channel: its `k*k` rows of `dcol` into its `g` planes.
fn col2im_channel(s: &ConvShape, masks: &TapMasks, rows: &[f32], planes: &mut [f32]) {
    let (k, w, hw) = (s.k, s.w, s.hw());
    let n = planes.len();
    let kk = k * k;
    let center = kk / 2;
    let p = s.pad() as isize;
    planes.copy_from_slice(&rows[center * n..][..n]);
    for t in (0..kk).filter(|&t| t != center) {
        let (dh, dw) = ((t / k) as isize - p, (t % k) as isize - p);
        let off = dh * w as isize + dw;
        let (h_lo, h_hi) = valid(s.h, dh);
        // A tap that reads only padding adds nothing.
        let Some((i0, i1)) = run(hw, w, h_lo, h_hi, off) else { continue };
        let so = (i0 as isize + off) as usize;
        let m = &masks.tap(t)[i0..i1];
        let row = &rows[t * n..][..n];
        for (gi, dplane) in planes.chunks_exact_mut(hw).enumerate() {
            let src = &row[gi * hw + i0..][..i1 - i0];
            // Positions in the padding add +0 to a neighbouring pixel of the run.
            for ((d, &v), &mm) in dplane[so..so + (i1 - i0)].iter_mut().zip(src).zip(m) {
                *d += f32::from_bits(v.to_bits() & mm);
            }
        }
    }
}

/// A pointer to an array that the parts of the batch write at disjoint elements from their
/// threads (their blocks interleave: channel-major rows of both parts alternate).
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: only used to hand each part's thread the base of an array whose elements the
// parts write disjointly (see the SAFETY notes at the uses).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer (a method, so that closures capture the whole `Shared`, which is `Sync`,
    /// rather than its raw-pointer field).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Runs `f(part)` for both parts of the batch: on two threads of rayon's pool via `join`
/// when `par` allows two threads, else one after the other. The parts' work is the same
/// either way, so are the bits.
fn for_parts(
    par: Parallelism,
    cols: &mut [Vec<f32>; PARTS],
    dwts: &mut [Vec<f32>; PARTS],
    f: impl Fn(usize, &mut Vec<f32>, &mut Vec<f32>) + Sync,
) {
    let [c0, c1] = cols;
    let [d0, d1] = dwts;
    if super::threads(par) >= 2 {
        rayon::join(|| f(0, c0, d0), || f(1, c1, d1));
    } else {
        f(0, c0, d0);
        f(1, c1, d1);
    }
}

/// Samples `[lo, hi)` of part `part` of a batch of `b`.
fn part_range(b: usize, part: usize) -> (usize, usize) {
    let half = b.div_ceil(PARTS);
    (part * half, ((part + 1) * half).min(b))
}

fn check(ws: &ConvWorkspace, b: usize, x: &[f32], w: &[f32]) {
    let s = &ws.shape;
    assert!(b >= 1, "conv: empty batch");
    assert!(b <= ws.max_batch, "conv: batch of {b} exceeds the workspace's {}", ws.max_batch);
    assert_eq!(x.len(), s.in_len(b), "conv: x must be {} x {b} x {} x {}", s.c_in, s.h, s.w);
    assert_eq!(w.len(), s.weight_len(), "conv: weight must be {} x {} x {} x {}", s.c_out, s.c_in, s.k, s.k);
}

/// Forward pass on a CNHW batch `x` of `b` samples: `y` (CNHW, `C_out` channels) is the
/// convolution with weights `w` (`[C_out][C_in][k][k]`), plus `bias` (`[C_out]`) if given.
/// The bias costs one more pass over `y`: before a ReLU pass `None` and add it with
/// [`super::bn_channel::bias_relu`]; before batch norm leave it out (it cancels, see
/// [`super::bn_channel`]).
#[allow(clippy::too_many_arguments)]
pub fn conv_forward(
    ws: &mut ConvWorkspace,
    b: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    par: Parallelism,
) {
    check(ws, b, x, w);
    let s = ws.shape;
    let (hw, kdim) = (s.hw(), s.col_rows());
    assert_eq!(y.len(), s.out_len(b), "conv: y must be {} x {b} x {} x {}", s.c_out, s.h, s.w);
    let (group, y_ptr) = (ws.group, Shared(y.as_mut_ptr()));
    let masks = &ws.masks;
    for_parts(par, &mut ws.col, &mut ws.dwt, |part, col, _| {
        let (lo, hi) = part_range(b, part);
        for b0 in (lo..hi).step_by(group) {
            let g = group.min(hi - b0);
            let n = g * hw;
            im2col(&s, masks, x, b, b0, g, col, Parallelism::None);
            let col = Strided::rows(&col[..kdim * n], n);
            // SAFETY: `y` holds C_out*B*H*W values (asserted above), so the rows
            // y[co][b0..b0+g] (offset b0*H*W + co*B*H*W, n = g*H*W long) lie inside it;
            // the parts' sample ranges are disjoint and nothing else touches `y` until
            // both parts are done.
            unsafe {
                let c = y_ptr.get().add(b0 * hw);
                matmul_strided_raw(
                    dims(s.c_out, n, kdim),
                    Strided::rows(w, kdim),
                    col,
                    c,
                    b * hw,
                    false,
                    Parallelism::None,
                );
            }
        }
    });
    if let Some(bias) = bias {
        assert_eq!(bias.len(), s.c_out, "conv: bias must have {} values", s.c_out);
        for_chunks(par, y, b * hw, y.len(), |c, yc| {
            let bc = bias[c];
            for v in yc {
                *v += bc;
            }
        });
    }
}

/// Backward pass: given the forward input `x` and `dy` = dL/dy (CNHW), writes dL/dw into
/// `dw` (every entry), dL/dbias into `db` if given, and dL/dx into `dx` if given (the first
/// layer of a net does not need it).
#[allow(clippy::too_many_arguments)]
pub fn conv_backward(
    ws: &mut ConvWorkspace,
    b: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    dx: Option<&mut [f32]>,
    par: Parallelism,
) {
    check(ws, b, x, w);
    let s = ws.shape;
    let (hw, kdim) = (s.hw(), s.col_rows());
    assert_eq!(dy.len(), s.out_len(b), "conv: dy must be {} x {b} x {} x {}", s.c_out, s.h, s.w);
    assert_eq!(dw.len(), s.weight_len(), "conv: dw must have {} values", s.weight_len());
    if let Some(dx) = &dx {
        assert_eq!(dx.len(), s.in_len(b), "conv: dx must be {} x {b} x {} x {}", s.c_in, s.h, s.w);
    }
    let (group, dx_ptr) = (ws.group, dx.map(|d| Shared(d.as_mut_ptr())));
    let masks = &ws.masks;
    for_parts(par, &mut ws.col, &mut ws.dwt, |part, col, dwt| {
        let (lo, hi) = part_range(b, part);
        for (gi, b0) in (lo..hi).step_by(group).enumerate() {
            let g = group.min(hi - b0);
            let n = g * hw;
            im2col(&s, masks, x, b, b0, g, col, Parallelism::None);
            // dW^T (K x C_out) += col dY_g^T: see the module notes for why transposed.
            let dy_t = Strided { data: &dy[b0 * hw..], rs: 1, cs: b * hw };
            let c = Strided::rows(&col[..kdim * n], n);
            matmul_strided(dims(kdim, s.c_out, n), c, dy_t, dwt, s.c_out, gi > 0, Parallelism::None);
            if let Some(dx_ptr) = dx_ptr {
                let dy_g = Strided { data: &dy[b0 * hw..], rs: b * hw, cs: 1 };
                let dcol = &mut col[..kdim * n];
                let wt = Strided::transposed(w, kdim);
                matmul_strided(dims(kdim, n, s.c_out), wt, dy_g, dcol, n, false, Parallelism::None);
                for ci in 0..s.c_in {
                    // SAFETY: `dx` holds C_in*B*H*W values (asserted above); the planes
                    // of samples b0..b0+g of channel ci are this part's alone (the parts'
                    // sample ranges are disjoint) and nothing else touches `dx` until
                    // both parts are done.
                    let planes = unsafe { std::slice::from_raw_parts_mut(dx_ptr.get().add((ci * b + b0) * hw), n) };
                    col2im_channel(&s, masks, &dcol[ci * s.k * s.k * n..][..s.k * s.k * n], planes);
                }
            }
        }
    });
    // dW^T = part 0 + part 1 (a part is empty only for a batch of 1).
    let [d0, d1] = &mut ws.dwt;
    if part_range(b, 1).0 < b {
        for (a, &c) in d0.iter_mut().zip(d1.iter()) {
            *a += c;
        }
    }
    super::transpose(d0, kdim, s.c_out, dw, kdim);
    if let Some(db) = db {
        assert_eq!(db.len(), s.c_out, "conv: db must have {} values", s.c_out);
        for_chunks(par, db, 1, dy.len(), |c, o| {
            let run = &dy[c * b * hw..][..b * hw];
            o[0] = block_sum(run, run, |v, _| v) as f32;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    /// The f32 forward against the f64 direct convolution, with the rounding bound
    /// `|y - ref| <= gamma(K + 1) sum |terms|` (K = C_in k k products plus the bias; any
    /// summation order, any FMA use). Returns the worst error as a fraction of that bound.
    fn forward_matches(s: ConvShape, b: usize, group: usize, seed: u64) -> f64 {
        let x = uniform(seed, s.in_len(b), 1.0);
        let w = uniform(seed + 1, s.weight_len(), 0.5);
        let bias = uniform(seed + 2, s.c_out, 0.5);
        let mut ws = ConvWorkspace::with_group(s, b + 3, group);
        let mut y = vec![f32::NAN; s.out_len(b)];
        conv_forward(&mut ws, b, &x, &w, Some(&bias), &mut y, Parallelism::None);
        let (want, mag) = naive_conv(&s, b, &to64(&x), &to64(&w), Some(&to64(&bias)));
        let bound = gamma(s.col_rows() + 1);
        let mut worst: f64 = 0.0;
        for (i, ((&got, &r), &m)) in y.iter().zip(&want).zip(&mag).enumerate() {
            let err = (got as f64 - r).abs();
            assert!(err <= bound * m, "{s:?} b {b} group {group}: y[{i}] {got} vs {r} (bound {})", bound * m);
            worst = worst.max(err / (bound * m));
        }
        worst
    }

    #[test]
    fn forward_matches_direct_convolution() {
        let mut worst: f64 = 0.0;
        for (s, b, group) in [
            (ConvShape::new(1, 4, 3, 5, 7).unwrap(), 3, 2),
            (ConvShape::new(1, 3, 5, 6, 4).unwrap(), 5, 4),
            (ConvShape::new(3, 5, 3, 7, 9).unwrap(), 7, 3),
            (ConvShape::new(4, 2, 5, 9, 5).unwrap(), 5, 2),
            (ConvShape::new(2, 6, 5, 3, 3).unwrap(), 4, 4), // padding wider than half the image
            // Kernels at least twice as wide as the image: some taps read only padding.
            (ConvShape::new(2, 3, 5, 2, 2).unwrap(), 3, 2),
            (ConvShape::new(3, 2, 3, 1, 1).unwrap(), 4, 3),
            (ConvShape::new(1, 2, 15, 7, 5).unwrap(), 2, 2),
            (ConvShape::new(8, 16, 3, 14, 14).unwrap(), 10, 4),
            (ConvShape::new(5, 7, 1, 4, 6).unwrap(), 3, 1),
        ] {
            worst = worst.max(forward_matches(s, b, group, 11 + b as u64));
        }
        eprintln!("conv forward: worst error {worst:.3} of the rounding bound");
    }

    /// The reference loss of the gradient checks: `L = sum r_i y_i + 0.25 sum y_i^2`, so that
    /// `dL/dy = r + y / 2` (not linear in y, and every output matters).
    fn loss(y: &[f64], r: &[f32]) -> f64 {
        y.iter().zip(r).map(|(&v, &ri)| ri as f64 * v + 0.25 * v * v).sum()
    }

    fn gradient_check(s: ConvShape, b: usize, group: usize) {
        let x = uniform(21, s.in_len(b), 1.0);
        let w = uniform(22, s.weight_len(), 0.5);
        let bias = uniform(23, s.c_out, 0.5);
        let r = uniform(24, s.out_len(b), 1.0);
        let mut ws = ConvWorkspace::with_group(s, b, group);
        let mut y = vec![0.0; s.out_len(b)];
        conv_forward(&mut ws, b, &x, &w, Some(&bias), &mut y, Parallelism::None);
        let dy: Vec<f32> = y.iter().zip(&r).map(|(&v, &ri)| ri + 0.5 * v).collect();
        let (mut dw, mut db, mut dx) = (vec![f32::NAN; w.len()], vec![f32::NAN; s.c_out], vec![f32::NAN; x.len()]);
        conv_backward(&mut ws, b, &x, &w, &dy, &mut dw, Some(&mut db), Some(&mut dx), Parallelism::None);

        let (mut x64, mut w64, mut b64) = (to64(&x), to64(&w), to64(&bias));
        let mut fd = FdCheck::default();
        for (i, &d) in dw.iter().enumerate() {
            let g = central(&mut w64, i, &mut |q| loss(&naive_conv(&s, b, &x64, q, Some(&b64)).0, &r));
            fd.check(&format!("{s:?} dw[{i}]"), d, g);
        }
        for (i, &d) in db.iter().enumerate() {
            let g = central(&mut b64, i, &mut |q| loss(&naive_conv(&s, b, &x64, &w64, Some(q)).0, &r));
            fd.check(&format!("{s:?} db[{i}]"), d, g);
        }
        // Every input pixel, so every border position of the padding is exercised.
        for (i, &d) in dx.iter().enumerate() {
            let g = central(&mut x64, i, &mut |q| loss(&naive_conv(&s, b, q, &w64, Some(&b64)).0, &r));
            fd.check(&format!("{s:?} dx[{i}]"), d, g);
        }
        fd.finish(&format!("conv gradient {s:?} batch {b} group {group}"), 0.5);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        gradient_check(ConvShape::new(1, 3, 3, 5, 4).unwrap(), 3, 2);
        gradient_check(ConvShape::new(2, 3, 5, 4, 6).unwrap(), 3, 2);
        gradient_check(ConvShape::new(3, 2, 3, 6, 5).unwrap(), 5, 3);
        gradient_check(ConvShape::new(2, 2, 5, 2, 3).unwrap(), 3, 2);
        gradient_check(ConvShape::new(2, 3, 3, 1, 1).unwrap(), 2, 1);
    }

    /// dw, db and dx against direct f64 sums with the rounding bound, at sizes too large for
    /// finite differences (many groups, a short last group).
    #[test]
    fn backward_matches_direct_sums() {
        for (s, b, group) in [
            (ConvShape::new(6, 8, 5, 10, 7).unwrap(), 7, 3),
            (ConvShape::new(16, 8, 3, 12, 12).unwrap(), 9, 4),
            (ConvShape::new(3, 4, 3, 5, 6).unwrap(), 1, 2),
            (ConvShape::new(2, 3, 7, 2, 3).unwrap(), 5, 2),
        ] {
            let x = uniform(31, s.in_len(b), 1.0);
            let w = uniform(32, s.weight_len(), 0.5);
            let dy = uniform(33, s.out_len(b), 1.0);
            let mut ws = ConvWorkspace::with_group(s, b, group);
            let (mut dw, mut db, mut dx) = (vec![0.0; w.len()], vec![0.0; s.c_out], vec![0.0; x.len()]);
            conv_backward(&mut ws, b, &x, &w, &dy, &mut dw, Some(&mut db), Some(&mut dx), Parallelism::None);
            let (k, p, hh, ww) = (s.k as isize, s.pad() as isize, s.h as isize, s.w as isize);
            let xi = |ci: usize, n: usize, ih: isize, iw: isize| ((ci * b + n) * s.h + ih as usize) * s.w + iw as usize;
            let yi = |co: usize, n: usize, h: isize, x_: isize| ((co * b + n) * s.h + h as usize) * s.w + x_ as usize;
            let (mut rdw, mut mdw) = (vec![0.0f64; w.len()], vec![0.0f64; w.len()]);
            let (mut rdx, mut mdx) = (vec![0.0f64; x.len()], vec![0.0f64; x.len()]);
            let (mut rdb, mut mdb) = (vec![0.0f64; s.c_out], vec![0.0f64; s.c_out]);
            for co in 0..s.c_out {
                for n in 0..b {
                    for h in 0..hh {
                        for x_ in 0..ww {
                            let d = dy[yi(co, n, h, x_)] as f64;
                            rdb[co] += d;
                            mdb[co] += d.abs();
                            for ci in 0..s.c_in {
                                for kh in 0..k {
                                    for kw in 0..k {
                                        let (ih, iw) = (h + kh - p, x_ + kw - p);
                                        if ih < 0 || ih >= hh || iw < 0 || iw >= ww {
                                            continue;
                                        }
                                        let wi = ((co * s.c_in + ci) * s.k + kh as usize) * s.k + kw as usize;
                                        let xv = x[xi(ci, n, ih, iw)] as f64;
                                        rdw[wi] += d * xv;
                                        mdw[wi] += (d * xv).abs();
                                        rdx[xi(ci, n, ih, iw)] += d * w[wi] as f64;
                                        mdx[xi(ci, n, ih, iw)] += (d * w[wi] as f64).abs();
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let mut worst: f64 = 0.0;
            for (name, got, want, mag, terms) in [
                ("dw", &dw, &rdw, &mdw, b * s.hw()),
                ("dx", &dx, &rdx, &mdx, s.c_out * s.k * s.k),
                ("db", &db, &rdb, &mdb, b * s.hw()),
            ] {
                let bound = gamma(terms);
                for (i, ((&g, &r), &m)) in got.iter().zip(want).zip(mag).enumerate() {
                    let err = (g as f64 - r).abs();
                    assert!(err <= bound * m + 1e-30, "{s:?} {name}[{i}]: {g} vs {r}");
                    if m > 0.0 {
                        worst = worst.max(err / (bound * m));
                    }
                }
            }
            eprintln!("conv backward {s:?}: worst error {worst:.3} of the rounding bound");
        }
    }

    /// One and two threads give the same bits, forward and backward, at a size where the
    /// GEMMs and the element-wise passes do split (m n k well above the crate's threshold).
    #[test]
    fn threads_do_not_change_bits() {
        let s = ConvShape::new(8, 16, 5, 14, 14).unwrap();
        let b = 7;
        let x = uniform(41, s.in_len(b), 1.0);
        let w = uniform(42, s.weight_len(), 0.5);
        let bias = uniform(43, s.c_out, 0.5);
        let dy = uniform(44, s.out_len(b), 1.0);
        let run = |par: Parallelism| {
            let mut ws = ConvWorkspace::with_group(s, b, 3);
            let mut y = vec![0.0; s.out_len(b)];
            conv_forward(&mut ws, b, &x, &w, Some(&bias), &mut y, par);
            let (mut dw, mut db, mut dx) = (vec![0.0; w.len()], vec![0.0; s.c_out], vec![0.0; x.len()]);
            conv_backward(&mut ws, b, &x, &w, &dy, &mut dw, Some(&mut db), Some(&mut dx), par);
            (bits(&y), bits(&dw), bits(&db), bits(&dx))
        };
        let serial = run(Parallelism::None);
        let threaded = pool2().install(|| run(Parallelism::Rayon(0)));
        assert!(serial == threaded, "2 threads changed the bits");
        assert!(serial == run(Parallelism::None));
    }

    /// A NaN at the right edge of a row must not leak through the padding into the next
    /// row's left edge (im2col's copy of a shifted plane wraps there): forward and backward
    /// produce NaN exactly where the direct f64 computation does.
    #[test]
    fn nan_stays_in_its_receptive_field() {
        let s = ConvShape::new(2, 3, 5, 6, 5).unwrap();
        let b = 3;
        let mut x = uniform(61, s.in_len(b), 1.0);
        // Channel 1, sample 2, pixel (2, W-1); and (0, 0) of channel 0, sample 0.
        x[((b + 2) * s.h + 2) * s.w + s.w - 1] = f32::NAN;
        x[0] = f32::INFINITY;
        let w = uniform(62, s.weight_len(), 0.5);
        let mut ws = ConvWorkspace::with_group(s, b, 2);
        let mut y = vec![0.0; s.out_len(b)];
        conv_forward(&mut ws, b, &x, &w, None, &mut y, Parallelism::None);
        let (want, _) = naive_conv(&s, b, &to64(&x), &to64(&w), None);
        let nans = |v: &[f64]| v.iter().map(|x| !x.is_finite()).collect::<Vec<_>>();
        assert_eq!(nans(&to64(&y)), nans(&want));
        assert!(want.iter().any(|v| v.is_finite()) && want.iter().any(|v| !v.is_finite()));
        // Backward: a NaN gradient at an output on the left border.
        let mut dy = uniform(63, s.out_len(b), 1.0);
        dy[((2 * b + 1) * s.h + 3) * s.w] = f32::NAN;
        let (mut dw, mut dx) = (vec![0.0; w.len()], vec![0.0; x.len()]);
        let xf = uniform(64, s.in_len(b), 1.0);
        conv_backward(&mut ws, b, &xf, &w, &dy, &mut dw, None, Some(&mut dx), Parallelism::None);
        // dx[ci, n, ih, iw] = sum over outputs (co, n, h, w) reading it: NaN iff the NaN
        // output (channel 2, sample 1, (3, 0)) reads pixel (ih, iw), i.e. |ih - 3| <= 2 and
        // iw <= 2, for both input channels of sample 1.
        for ci in 0..s.c_in {
            for n in 0..b {
                for ih in 0..s.h {
                    for iw in 0..s.w {
                        let v = dx[((ci * b + n) * s.h + ih) * s.w + iw];
                        let reads = n == 1 && ih.abs_diff(3) <= 2 && iw <= 2;
                        assert_eq!(v.is_nan(), reads, "dx[{ci}, {n}, {ih}, {iw}] = {v}");
                    }
                }
            }
        }
    }

    /// im2col against the definition, bit for bit: every tap, planes of 16 pixels and not,
    /// NaN and inf next to the padding (which must stay +0), nothing written past the block.
    #[test]
    fn im2col_matches_the_definition() {
        for (c_in, k, h, w) in [(2, 5, 14, 14), (1, 5, 28, 28), (3, 3, 5, 7), (2, 3, 4, 4), (1, 5, 3, 3)] {
            let s = ConvShape::new(c_in, 4, k, h, w).unwrap();
            let (b, b0, g, hw, p) = (4, 1, 2, s.hw(), s.pad() as isize);
            let mut x = uniform(71, s.in_len(b), 1.0);
            x[((c_in - 1) * b + b0) * hw + w - 1] = f32::NAN;
            x[((c_in - 1) * b + b0 + 1) * hw] = f32::INFINITY;
            let mut want = vec![0.0f32; s.col_rows() * g * hw];
            for ci in 0..c_in {
                for t in 0..k * k {
                    let (dh, dw) = ((t / k) as isize - p, (t % k) as isize - p);
                    for gi in 0..g {
                        for (i, v) in want[(ci * k * k + t) * g * hw + gi * hw..][..hw].iter_mut().enumerate() {
                            let (ih, iw) = ((i / w) as isize + dh, (i % w) as isize + dw);
                            if (0..h as isize).contains(&ih) && (0..w as isize).contains(&iw) {
                                *v = x[(ci * b + b0 + gi) * hw + ih as usize * w + iw as usize];
                            }
                        }
                    }
                }
            }
            let mut col = vec![7.0f32; want.len() + 1];
            im2col(&s, &TapMasks::new(&s), &x, b, b0, g, &mut col, Parallelism::None);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&col[..want.len()]), bits(&want), "{s:?}");
            assert_eq!(col[want.len()], 7.0, "{s:?}: wrote past the block");
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(ConvShape::new(1, 1, 4, 5, 5).is_err());
        assert!(ConvShape::new(0, 1, 3, 5, 5).is_err());
        let s = ConvShape::new(2, 3, 3, 4, 4).unwrap();
        assert_eq!((s.pad(), s.col_rows(), s.weight_len(), s.macs_per_sample()), (1, 18, 54, 3 * 18 * 16));
    }
}
