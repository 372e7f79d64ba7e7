//! Speed of the convolution kernels (src/nets/ops/conv.rs): forward + backward of each
//! convolution layer of the LeNet-like and the small VGG-like nets at batch 100, with 1 and
//! 2 threads. Throughput is in FLOP/s (criterion's elem/s): 2 flops per multiply-add,
//! forward + dW + dX = 3 GEMM-equivalents (2 for a first layer, which needs no dX).
//!
//! `cargo bench --bench conv` runs the criterion groups (default group sizes).
//! `CONV_SWEEP=1 cargo bench --bench conv` instead times variants back to back in
//! interleaved rounds and prints medians with the share of one core's fp32 peak (measured,
//! or `PEAK_GFLOPS`; conv.rs's notes used 116, the AVX2 peak, when its GEMMs were the
//! `gemm` crate's AVX2 kernels), the way the numbers in conv.rs's notes were taken:
//! - `CONV_GROUPS=1,2,4` group sizes, `LAYERS=lenet_c2,vgg` layers (substrings), `ROUNDS=9`;
//! - `BREAKDOWN=1`: each pass's parts (im2col, the GEMMs in both orientations, col2im)
//!   timed alone, GEMMs split by the library when threaded;
//! - `COMPARE_SPLIT=1`: two threads, the two-part split against library-split GEMMs;
//! - `ELEMENTWISE=1`: BN + ReLU, max-pool and flatten at LeNet's shapes instead;
//! - `NO_CALIBRATION=1` skips the 512^3 GEMM printed first; `LHS_PACK=t` sets the GEMM
//!   library's (global) lhs packing thresholds.
//!
//! One thread reports on-CPU time too (steadier on a shared machine). The machine's speed
//! drifts; only compare numbers taken back to back.

#[path = "support/peak.rs"]
mod peak;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use qnet_exp::nets::gemm::{matmul_strided, Dims, Strided};
use qnet_exp::nets::ops::conv::{col2im, im2col, TapMasks};
use qnet_exp::nets::ops::{conv_backward, conv_forward, ConvShape, ConvWorkspace};
use qnet_exp::nets::Parallelism;

const BATCH: usize = 100;

/// (name, shape, first layer).
fn layers() -> Vec<(&'static str, ConvShape, bool)> {
    let s = |ci, co, k, hw| ConvShape::new(ci, co, k, hw, hw).unwrap();
    vec![
        ("lenet_c1_5x5_1to32_28", s(1, 32, 5, 28), true),
        ("lenet_c2_5x5_32to64_14", s(32, 64, 5, 14), false),
        ("vgg_c1_3x3_1to32_28", s(1, 32, 3, 28), true),
        ("vgg_c2_3x3_32to32_28", s(32, 32, 3, 28), false),
        ("vgg_c3_3x3_32to64_14", s(32, 64, 3, 14), false),
        ("vgg_c4_3x3_64to64_14", s(64, 64, 3, 14), false),
    ]
}

/// Flops of one forward + backward at batch `b`.
fn flops(s: &ConvShape, first: bool, b: usize) -> f64 {
    2.0 * (s.macs_per_sample() * b) as f64 * if first { 2.0 } else { 3.0 }
}

struct Bufs {
    x: Vec<f32>,
    w: Vec<f32>,
    y: Vec<f32>,
    dy: Vec<f32>,
    dw: Vec<f32>,
    db: Vec<f32>,
    dx: Vec<f32>,
}

fn bufs(s: &ConvShape, b: usize) -> Bufs {
    let v = |n: usize, m: usize| (0..n).map(|i| ((i * m % 1009) as f32) * 1e-3 - 0.5).collect::<Vec<f32>>();
    Bufs {
        x: v(s.in_len(b), 7919),
        w: v(s.weight_len(), 613),
        y: vec![0.0; s.out_len(b)],
        dy: v(s.out_len(b), 337),
        dw: vec![0.0; s.weight_len()],
        db: vec![0.0; s.c_out],
        dx: vec![0.0; s.in_len(b)],
    }
}

/// One forward + backward pass (no dX for a first layer), as a network step runs it.
fn step(ws: &mut ConvWorkspace, bf: &mut Bufs, first: bool, par: Parallelism) {
    let b = BATCH;
    conv_forward(ws, b, black_box(&bf.x), &bf.w, None, &mut bf.y, par);
    let dx = if first { None } else { Some(&mut bf.dx[..]) };
    conv_backward(ws, b, &bf.x, &bf.w, black_box(&bf.dy), &mut bf.dw, Some(&mut bf.db), dx, par);
}

fn criterion_benches(c: &mut Criterion) {
    for (name, s, first) in layers() {
        let mut g = c.benchmark_group(format!("conv_{name}_b{BATCH}"));
        // Elements = flops: criterion's elem/s is FLOP/s.
        g.throughput(Throughput::Elements(flops(&s, first, BATCH) as u64));
        g.sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
        for threads in [1usize, 2] {
            let par = if threads == 1 { Parallelism::None } else { Parallelism::Rayon(0) };
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut ws = ConvWorkspace::new(s, BATCH);
            let mut bf = bufs(&s, BATCH);
            g.bench_function(format!("forward_backward_threads{threads}"), |bch| {
                bch.iter(|| pool.install(|| step(&mut ws, &mut bf, first, par)))
            });
        }
        g.finish();
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Nanoseconds the calling thread has spent on a CPU: `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`
/// (exact, unlike /proc's schedstat, which advances in scheduler ticks), by a raw system call
/// since the crate has no libc binding; 0 off x86-64 Linux. On a shared machine a
/// single-threaded variant's on-CPU time is far steadier than its wall time.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn thread_cpu_ns() -> u64 {
    let mut ts = [0i64; 2];
    let ret: i64;
    // SAFETY: clock_gettime (syscall 228) with CLOCK_THREAD_CPUTIME_ID (3) writes one
    // struct timespec (two i64) to the pointer; the syscall clobbers rcx and r11 only.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") 228i64 => ret,
            in("rdi") 3i64,
            in("rsi") ts.as_mut_ptr(),
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    if ret != 0 {
        return 0;
    }
    (ts[0] * 1_000_000_000 + ts[1]) as u64
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn thread_cpu_ns() -> u64 {
    0
}

/// Seconds per call of each variant, wall and on-CPU time of the calling thread, medians
/// over `rounds` interleaved rounds (each round runs every variant once, after one warm-up
/// call each).
fn interleaved(rounds: usize, variants: &mut [Box<dyn FnMut() + '_>]) -> Vec<(f64, f64)> {
    for f in variants.iter_mut() {
        f();
    }
    let mut t = vec![(Vec::with_capacity(rounds), Vec::with_capacity(rounds)); variants.len()];
    for _ in 0..rounds {
        for (f, (wall, cpu)) in variants.iter_mut().zip(t.iter_mut()) {
            let (start, c0) = (Instant::now(), thread_cpu_ns());
            f();
            wall.push(start.elapsed().as_secs_f64());
            cpu.push((thread_cpu_ns() - c0) as f64 * 1e-9);
        }
    }
    t.iter_mut().map(|(w, c)| (median(w), median(c))).collect()
}

/// [`im2col`] as first written: a copy of each shifted plane, then the padding columns
/// zeroed row by row.
fn im2col_copy_then_zero(s: &ConvShape, x: &[f32], b: usize, b0: usize, g: usize, col: &mut [f32]) {
    let (k, w, hw, p) = (s.k, s.w, s.hw(), s.pad() as isize);
    let n = g * hw;
    let valid = |len: usize, d: isize| {
        let lo = (-d).max(0) as usize;
        let hi = (len as isize - d).clamp(0, len as isize) as usize;
        (lo.min(hi), hi)
    };
    for (r, row) in col[..s.col_rows() * n].chunks_exact_mut(n).enumerate() {
        let (ci, t) = (r / (k * k), r % (k * k));
        let (dh, dw) = ((t / k) as isize - p, (t % k) as isize - p);
        let off = dh * w as isize + dw;
        let (h_lo, h_hi) = valid(s.h, dh);
        let (w_lo, w_hi) = valid(w, dw);
        let i0 = ((h_lo * w) as isize).max(-off) as usize;
        let i1 = (((h_hi * w) as isize).min(hw as isize - off).max(0) as usize).max(i0);
        for (gi, d) in row.chunks_exact_mut(hw).enumerate() {
            let src = &x[(ci * b + b0 + gi) * hw..][..hw];
            d[..i0].fill(0.0);
            let so = (i0 as isize + off) as usize;
            d[i0..i1].copy_from_slice(&src[so..so + (i1 - i0)]);
            d[i1..].fill(0.0);
            if w_lo > 0 || w_hi < w {
                for rr in d[h_lo * w..h_hi * w].chunks_exact_mut(w) {
                    rr[..w_lo].fill(0.0);
                    rr[w_hi..].fill(0.0);
                }
            }
        }
    }
}

/// The parts of one forward + backward at group size `g`, timed separately (whole batch).
fn breakdown(s: &ConvShape, first: bool, g: usize, par: Parallelism, rounds: usize) -> Vec<(&'static str, f64)> {
    let b = BATCH;
    let mut bf = bufs(s, b);
    let (hw, kdim) = (s.hw(), s.col_rows());
    let mut col = vec![0.0f32; kdim * g * hw];
    let masks = &TapMasks::new(s);
    let groups: Vec<(usize, usize)> = (0..b).step_by(g).map(|b0| (b0, g.min(b - b0))).collect();
    let mut names = vec!["im2col", "im2col_copy_zero", "gemm_fwd", "gemm_dw", "gemm_fwd_wt", "gemm_dwt"];
    if !first {
        names.extend(["gemm_dcol", "col2im"]);
    }
    let x = bf.x.clone();
    let w = bf.w.clone();
    let dy = bf.dy.clone();
    let mut variants: Vec<Box<dyn FnMut() + '_>> = Vec::new();
    {
        let col = &mut col;
        let groups = &groups;
        let x = &x;
        let w = &w;
        let dy = &dy;
        let y = &mut bf.y;
        let dw = &mut bf.dw;
        let dx = &mut bf.dx;
        let mut col_a = col.clone();
        let mut col_b = col.clone();
        let mut col_c = col.clone();
        let col_d = col.clone();
        let mut col_e = col.clone();
        variants.push(Box::new(move || {
            for &(b0, gg) in groups {
                im2col(s, masks, x, b, b0, gg, col, par);
            }
        }));
        // The first version, kept for the comparison: copy the shifted plane, then zero the
        // padding columns row by row (serial).
        let mut col_z = col_e.clone();
        variants.push(Box::new(move || {
            for &(b0, gg) in groups {
                im2col_copy_then_zero(s, x, b, b0, gg, &mut col_z);
            }
        }));
        variants.push(Box::new(move || {
            for &(b0, gg) in groups {
                let n = gg * hw;
                let c = Strided::rows(&col_a[..kdim * n], n);
                matmul_strided(
                    Dims { m: s.c_out, n, k: kdim },
                    Strided::rows(w, kdim),
                    c,
                    &mut y[b0 * hw..],
                    b * hw,
                    false,
                    par,
                );
            }
            col_a[0] += 0.0;
        }));
        variants.push(Box::new(move || {
            for (gi, &(b0, gg)) in groups.iter().enumerate() {
                let n = gg * hw;
                let dyg = Strided { data: &dy[b0 * hw..], rs: b * hw, cs: 1 };
                matmul_strided(
                    Dims { m: s.c_out, n: kdim, k: n },
                    dyg,
                    Strided::transposed(&col_b[..kdim * n], n),
                    dw,
                    kdim,
                    gi > 0,
                    par,
                );
            }
            col_b[0] += 0.0;
        }));
        // Forward with W^T stored (K x C_out): the library then packs W.
        let mut col_f = col_e.clone();
        let mut y2 = vec![0.0f32; s.out_len(b)];
        let wt: Vec<f32> = (0..kdim * s.c_out).map(|i| w[(i % s.c_out) * kdim + i / s.c_out]).collect();
        variants.push(Box::new(move || {
            for &(b0, gg) in groups {
                let n = gg * hw;
                let c = Strided::rows(&col_f[..kdim * n], n);
                let a = Strided::transposed(&wt, s.c_out);
                matmul_strided(Dims { m: s.c_out, n, k: kdim }, a, c, &mut y2[b0 * hw..], b * hw, false, par);
            }
            col_f[0] += 0.0;
        }));
        // dW^T = col dY_g^T into a K x C_out buffer (then one transpose per batch).
        let mut dwt = vec![0.0f32; kdim * s.c_out];
        variants.push(Box::new(move || {
            for (gi, &(b0, gg)) in groups.iter().enumerate() {
                let n = gg * hw;
                let dyt = Strided { data: &dy[b0 * hw..], rs: 1, cs: b * hw };
                matmul_strided(
                    Dims { m: kdim, n: s.c_out, k: n },
                    Strided::rows(&col_e[..kdim * n], n),
                    dyt,
                    &mut dwt,
                    s.c_out,
                    gi > 0,
                    par,
                );
            }
            col_e[0] += 0.0;
        }));
        if !first {
            variants.push(Box::new(move || {
                for &(b0, gg) in groups {
                    let n = gg * hw;
                    let dyg = Strided { data: &dy[b0 * hw..], rs: b * hw, cs: 1 };
                    matmul_strided(
                        Dims { m: kdim, n, k: s.c_out },
                        Strided::transposed(w, kdim),
                        dyg,
                        &mut col_c[..kdim * n],
                        n,
                        false,
                        par,
                    );
                }
            }));
            variants.push(Box::new(move || {
                for &(b0, gg) in groups {
                    col2im(s, masks, &col_d, b, b0, gg, dx, par);
                }
            }));
        }
    }
    let t = interleaved(rounds, &mut variants);
    // On-CPU time for one thread, wall time otherwise.
    let single = par == Parallelism::None;
    names.into_iter().zip(t).map(|(n, (w, c))| (n, if single { c } else { w })).collect()
}

/// The first threaded design, kept for the comparison: the whole batch in one sequence of
/// groups, each GEMM split over the pool by the library and im2col / col2im over channels
/// (what `conv_forward` / `conv_backward` did before the batch was cut into two parts).
fn step_library_threads(s: &ConvShape, g: usize, col: &mut [f32], dwt: &mut [f32], bf: &mut Bufs, first: bool) {
    let (b, par) = (BATCH, Parallelism::Rayon(0));
    let (hw, kdim) = (s.hw(), s.col_rows());
    let masks = TapMasks::new(s);
    for b0 in (0..b).step_by(g) {
        let gg = g.min(b - b0);
        let n = gg * hw;
        im2col(s, &masks, &bf.x, b, b0, gg, col, par);
        let c = Strided::rows(&col[..kdim * n], n);
        matmul_strided(
            Dims { m: s.c_out, n, k: kdim },
            Strided::rows(&bf.w, kdim),
            c,
            &mut bf.y[b0 * hw..],
            b * hw,
            false,
            par,
        );
    }
    for (gi, b0) in (0..b).step_by(g).enumerate() {
        let gg = g.min(b - b0);
        let n = gg * hw;
        im2col(s, &masks, &bf.x, b, b0, gg, col, par);
        let dyt = Strided { data: &bf.dy[b0 * hw..], rs: 1, cs: b * hw };
        matmul_strided(
            Dims { m: kdim, n: s.c_out, k: n },
            Strided::rows(&col[..kdim * n], n),
            dyt,
            dwt,
            s.c_out,
            gi > 0,
            par,
        );
        if !first {
            let dyg = Strided { data: &bf.dy[b0 * hw..], rs: b * hw, cs: 1 };
            matmul_strided(
                Dims { m: kdim, n, k: s.c_out },
                Strided::transposed(&bf.w, kdim),
                dyg,
                &mut col[..kdim * n],
                n,
                false,
                par,
            );
            col2im(s, &masks, col, b, b0, gg, &mut bf.dx, par);
        }
    }
}

fn sweep() {
    let peak = peak::peak_gflops();
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(9);
    let groups: Vec<usize> = std::env::var("CONV_GROUPS")
        .ok()
        .map(|v| v.split(',').map(|g| g.parse().unwrap()).collect())
        .unwrap_or(vec![1, 2, 4, 8, 16, 100]);
    let only = std::env::var("LAYERS").ok();
    if let Some(t) = std::env::var("LHS_PACK").ok().and_then(|v| v.parse().ok()) {
        gemm::set_lhs_packing_threshold_single_thread(t);
        gemm::set_lhs_packing_threshold_multi_thread(t);
    }
    // Calibration: a square 512^3 product (8 calls) through the same GEMM library, back to
    // back with nothing else, so the shares below can be read against what it reaches now.
    if std::env::var_os("NO_CALIBRATION").is_none() {
        let n = 512;
        let a: Vec<f32> = (0..n * n).map(|i| (i % 97) as f32 * 0.01).collect();
        let mut c = vec![0.0f32; n * n];
        let t = interleaved(
            rounds,
            &mut [Box::new(|| {
                for _ in 0..8 {
                    matmul_strided(
                        Dims { m: n, n, k: n },
                        Strided::rows(&a, n),
                        Strided::rows(&a, n),
                        &mut c,
                        n,
                        false,
                        Parallelism::None,
                    );
                }
            })],
        );
        let fl = 8.0 * 2.0 * (n * n * n) as f64 * 1e-9;
        let (gw, gc) = (fl / t[0].0, fl / t[0].1);
        println!(
            "calibration: 512^3 GEMM, 1 thread: {gw:.1} GFLOP/s wall ({:.1} %), {gc:.1} on-CPU ({:.1} % of {peak})",
            100.0 * gw / peak,
            100.0 * gc / peak
        );
    }
    for (name, s, first) in layers() {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|l| name.contains(l))) {
            continue;
        }
        let fl = flops(&s, first, BATCH);
        for threads in [1usize, 2] {
            let par = if threads == 1 { Parallelism::None } else { Parallelism::Rayon(0) };
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut wss: Vec<(ConvWorkspace, Bufs)> =
                    groups.iter().map(|&g| (ConvWorkspace::with_group(s, BATCH, g), bufs(&s, BATCH))).collect();
                let mut variants: Vec<Box<dyn FnMut() + '_>> = wss
                    .iter_mut()
                    .map(|(ws, bf)| Box::new(move || step(ws, bf, first, par)) as Box<dyn FnMut()>)
                    .collect();
                let t = interleaved(rounds, &mut variants);
                for (g, (wall, cpu)) in groups.iter().zip(t) {
                    let gf = fl / wall * 1e-9;
                    let cpu_note = if threads == 1 {
                        let gc = fl / cpu * 1e-9;
                        format!("  on-CPU {:7.2} ms {gc:6.1} GFLOP/s {:5.1} %", cpu * 1e3, 100.0 * gc / peak)
                    } else {
                        String::new()
                    };
                    println!(
                        "{name} threads {threads} group {g:>3}: wall {:7.2} ms {gf:6.1} GFLOP/s {:5.1} % of {threads} x {peak}{cpu_note}",
                        wall * 1e3,
                        100.0 * gf / (peak * threads as f64)
                    );
                }
                if threads == 2 && std::env::var_os("COMPARE_SPLIT").is_some() {
                    // Two fixed parts, one thread each (the library) against one sequence of
                    // groups with every GEMM split by the GEMM library (the first design).
                    let mut variants: Vec<Box<dyn FnMut() + '_>> = Vec::new();
                    for &g in &groups {
                        let (mut ws, mut bf) = (ConvWorkspace::with_group(s, BATCH, g), bufs(&s, BATCH));
                        variants.push(Box::new(move || step(&mut ws, &mut bf, first, par)));
                        let mut col = vec![0.0f32; s.col_rows() * g * s.hw()];
                        let mut dwt = vec![0.0f32; s.weight_len()];
                        let mut bf2 = bufs(&s, BATCH);
                        variants.push(Box::new(move || step_library_threads(&s, g, &mut col, &mut dwt, &mut bf2, first)));
                    }
                    let t = interleaved(rounds, &mut variants);
                    for (i, &g) in groups.iter().enumerate() {
                        println!(
                            "  group {g:>3}, 2 threads: two parts {:.2} ms, library-split GEMMs {:.2} ms",
                            t[2 * i].0 * 1e3,
                            t[2 * i + 1].0 * 1e3
                        );
                    }
                }
                if std::env::var_os("BREAKDOWN").is_some() {
                    for &g in &groups {
                        let parts = breakdown(&s, first, g, par, rounds);
                        let total: f64 = parts.iter().map(|p| p.1).sum();
                        let line: Vec<String> = parts.iter().map(|(n, t)| format!("{n} {:.2}", t * 1e3)).collect();
                        println!("  group {g:>3} parts (ms): {}  sum {:.2}", line.join("  "), total * 1e3);
                    }
                }
            });
        }
    }
}

/// The element-wise passes of a LeNet step at batch 100 after each convolution: channel
/// BN and ReLU forward and backward, 2 x 2 max-pool forward and backward, and (after the
/// second) the flatten to the dense part and back. Milliseconds per batch.
fn elementwise(rounds: usize) {
    use qnet_exp::nets::ops::bn_channel::{bn_backward, bn_forward_train, BN_MOMENTUM};
    use qnet_exp::nets::ops::{flatten_feature_major, maxpool2_backward, maxpool2_forward, unflatten_feature_major};
    for (c, hw) in [(32usize, 28usize), (64, 14)] {
        let n = c * BATCH * hw * hw;
        for threads in [1usize, 2] {
            let par = if threads == 1 { Parallelism::None } else { Parallelism::Rayon(0) };
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let z0: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1009) as f32) * 1e-3 - 0.5).collect();
                let (mut z, mut h, mut dz) = (z0.clone(), vec![0.0f32; n], vec![0.0f32; n]);
                let (gamma, beta) = (vec![1.1f32; c], vec![0.1f32; c]);
                let (mut rm, mut rv, mut mean, mut inv) = (vec![0.0; c], vec![1.0; c], vec![0.0; c], vec![0.0; c]);
                let (mut dg, mut db) = (vec![0.0; c], vec![0.0; c]);
                let (mut p, mut arg, mut dx) = (vec![0.0f32; n / 4], vec![0u8; n / 4], vec![0.0f32; n]);
                let (mut f, mut df) = (vec![0.0f32; n / 4], vec![0.0f32; n / 4]);
                let (mut zc, mut dzc) = (vec![0.0f32; n], vec![0.0f32; n]);
                let mut variants: Vec<Box<dyn FnMut() + '_>> = vec![
                    Box::new(|| {
                        z.copy_from_slice(&z0);
                        bn_forward_train(
                            &mut z,
                            &mut h,
                            None,
                            &gamma,
                            &beta,
                            &mut rm,
                            &mut rv,
                            BN_MOMENTUM,
                            &mut mean,
                            &mut inv,
                            par,
                        );
                        dz.copy_from_slice(&z0);
                        bn_backward(&mut dz, &h, &z, &inv, &gamma, &mut dg, &mut db, par);
                    }),
                    Box::new(|| {
                        // The two copies of the BN variant alone.
                        zc.copy_from_slice(&z0);
                        dzc.copy_from_slice(&z0);
                    }),
                    Box::new(|| {
                        maxpool2_forward(&z0, c * BATCH, hw, hw, &mut p, &mut arg, par);
                        maxpool2_backward(&p, &arg, c * BATCH, hw, hw, &mut dx, par);
                    }),
                    Box::new(|| {
                        let q = hw * hw / 4;
                        flatten_feature_major(&z0[..n / 4], c, BATCH, q, &mut f, par);
                        unflatten_feature_major(&f, c, BATCH, q, &mut df, par);
                    }),
                ];
                let t = interleaved(rounds, &mut variants);
                let pick = |i: usize| if threads == 1 { t[i].1 } else { t[i].0 } * 1e3;
                println!(
                    "elementwise {c} x {BATCH} x {hw} x {hw}, threads {threads} (ms): bn+relu fwd+bwd {:.2} \
                     (incl. 2 copies, alone {:.2})  maxpool fwd+bwd {:.2}  flatten+unflatten (pooled) {:.2}",
                    pick(0),
                    pick(1),
                    pick(2),
                    pick(3)
                );
            });
        }
    }
}

fn main() {
    if std::env::var_os("CONV_SWEEP").is_some() {
        if std::env::var_os("ELEMENTWISE").is_some() {
            elementwise(std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(9));
            return;
        }
        sweep();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
}
