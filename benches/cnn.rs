//! Speed of a CNN training epoch: the LeNet-like net (conv5-32 pool conv5-64 pool fc256,
//! batch norm, MNIST-shaped 1 x 28 x 28 synthetic images, batch 100), the whole step as the
//! sweep runs it (batch gathering, forward and backward, Adam, the method's update), FP-,
//! BC- and SR-ADAM with binary weights, 1 and 2 threads: `cargo bench --bench cnn`
//! (group `train_epoch_lenet_b100`, 2,000 images per iteration, throughput in samples/s).
//!
//! `CNN_SWEEP=1 cargo bench --bench cnn` instead times, back to back in interleaved rounds
//! (`ROUNDS=9`), the GEMM backends of src/nets/gemm.rs (this crate's kernels against the
//! `gemm` crate) at the products of a LeNet step and of the 784-1024-1024-10 MLP, one
//! thread, on-CPU time and the share of one core's fp32 peak (measured first with
//! register-only FMA chains, see benches/support/peak.rs; `PEAK_GFLOPS` overrides), then
//! one whole `forward_backward` of LeNet with each
//! backend (`THREADS=1` or `2`). The machine is shared: only compare numbers taken back
//! to back.
//!
//! `CNN_FUSE=1 cargo bench --bench cnn` times one LeNet step with the convolutions'
//! activations fused into the pooling against the separate passes (same bits), interleaved.

#[path = "support/peak.rs"]
mod peak;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use qnet_exp::nets::gemm::{matmul_strided, set_crate_backend, Dims, Op, Strided};
use qnet_exp::nets::{forward_backward, Arch, BnState, ConvStage, Layout, Parallelism, Workspace};

const BATCH: usize = 100;

fn lenet(batch_norm: bool) -> Layout {
    use ConvStage::{Conv, Pool};
    Layout::new(Arch {
        input: [1, 28, 28],
        convs: vec![Conv { c_out: 32, k: 5 }, Pool, Conv { c_out: 64, k: 5 }, Pool],
        hidden: vec![256],
        classes: 10,
        batch_norm,
    })
    .unwrap()
}

fn images(n: usize) -> (Vec<f32>, Vec<u8>) {
    let x = (0..n * 784).map(|i| (qnet_exp::rng::draw(5, i as u64) >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect();
    (x, (0..n).map(|i| (i % 10) as u8).collect())
}

/// 2,000 images of LeNet per iteration, as `qnet-exp run` runs a single network run.
fn train_epoch(c: &mut Criterion) {
    use qnet_exp::data::dataset::ImageSet;
    use qnet_exp::nets::train::{train, NetData};
    use qnet_exp::sweep::with_spinning_pool;
    let n = 2000;
    let (images, labels) = images(n);
    let set =
        |k: usize| ImageSet { images: images[..k * 784].to_vec(), labels: labels[..k].to_vec(), n: k, features: 784 };
    let data = NetData { train: set(n), test: set(100) };
    let mut g = c.benchmark_group("train_epoch_lenet_b100");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for method in ["fp", "bc", "sr"] {
        let text = format!(
            "name = \"b\"\n[problem]\nkind = \"cnn\"\narch = \"lenet\"\n\
             [quant]\nmethod = \"{method}\"\n{}[optim]\nkind = \"adam\"\nlr = 0.001\nbatch = 100\n[run]\nepochs = 1\n",
            if method == "fp" { "" } else { "grid = \"binary\"\n" }
        );
        let sweep = qnet_exp::config::parse_sweep(&text, "bench", &[]).unwrap();
        let spec = &sweep.runs[0];
        let qnet_exp::config::ProblemSpec::Net(net) = &spec.problem else { unreachable!() };
        for (threads, par) in [(1usize, Parallelism::None), (2, Parallelism::Rayon(0))] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            g.bench_function(format!("{method}_adam_{threads}thread"), |b| {
                b.iter(|| {
                    let (mut rows, mut layers) = (Vec::new(), Vec::new());
                    let never = std::sync::atomic::AtomicBool::new(false);
                    pool.install(|| with_spinning_pool(|| train(spec, net, &data, par, &mut rows, &mut layers, &never)))
                })
            });
        }
    }
    g.finish();
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Nanoseconds the calling thread has spent on a CPU (`CLOCK_THREAD_CPUTIME_ID` by a raw
/// system call, as benches/conv.rs); 0 off x86-64 Linux.
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

/// Medians of (wall, on-CPU) seconds per call of each variant over `rounds` interleaved rounds.
fn interleaved(rounds: usize, variants: &mut [Box<dyn FnMut() + '_>]) -> Vec<(f64, f64)> {
    for f in variants.iter_mut() {
        f();
    }
    let mut t = vec![(Vec::new(), Vec::new()); variants.len()];
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

/// (name, m, n, k, op A, op B, repeats per call): the products of one LeNet step at batch
/// 100 per conv2 group of 2 samples (50 per batch) and the MLP's eight.
fn shapes() -> Vec<(&'static str, usize, usize, usize, Op, Op, usize)> {
    vec![
        ("one tile, L1-resident", 8, 32, 128, Op::T, Op::N, 20000),
        ("lenet c2 fwd W col", 64, 392, 800, Op::N, Op::N, 50),
        ("lenet c2 dW^T col dY^T", 800, 64, 392, Op::N, Op::T, 50),
        ("lenet c2 dcol W^T dY", 800, 392, 64, Op::T, Op::N, 50),
        ("lenet c1 fwd W col", 32, 784, 25, Op::N, Op::N, 100),
        ("lenet c1 dW^T", 25, 32, 784, Op::N, Op::T, 100),
        ("lenet fc1 fwd", 100, 256, 3136, Op::T, Op::T, 1),
        ("lenet fc1 dW", 256, 3136, 100, Op::T, Op::T, 1),
        ("lenet fc1 dX", 3136, 100, 256, Op::T, Op::T, 1),
        ("mlp Z1 = X W1^T", 100, 1024, 784, Op::N, Op::T, 1),
        ("mlp Z2 = H1 W2^T", 100, 1024, 1024, Op::N, Op::T, 1),
        ("mlp dW2 = dZ2^T H1", 1024, 1024, 100, Op::T, Op::N, 1),
        ("mlp dH1 = dZ2 W2", 100, 1024, 1024, Op::N, Op::N, 1),
        ("mlp dW1 = dZ1^T X", 1024, 784, 100, Op::T, Op::N, 1),
    ]
}

fn sweep() {
    let peak = peak::peak_gflops();
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(9);
    let threads: usize = std::env::var("THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    println!("GEMM backends, one thread, on-CPU ms per call (peak {peak:.1} GFLOP/s)");
    for (name, m, n, k, oa, ob, reps) in shapes() {
        let a: Vec<f32> = (0..m * k).map(|i| (i * 31 % 97) as f32 * 0.01 - 0.5).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i * 17 % 89) as f32 * 0.01 - 0.5).collect();
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k * reps) as f64;
        let mut run = |own: bool| {
            set_crate_backend(!own);
            for _ in 0..reps {
                let (sa, sb) = (Strided::op(&a, oa, m, k), Strided::op(&b, ob, k, n));
                matmul_strided(Dims { m, n, k }, sa, sb, &mut c, n, false, Parallelism::None);
            }
            set_crate_backend(false);
        };
        let cell = std::cell::RefCell::new(&mut run);
        let t =
            interleaved(rounds, &mut [Box::new(|| (cell.borrow_mut())(true)), Box::new(|| (cell.borrow_mut())(false))]);
        let pct = |s: f64| 100.0 * flops / s / 1e9 / peak;
        println!(
            "{name:24} {m:5}x{n:5}x{k:5} x{reps:3}: own {:7.2} ms {:5.1} %  crate {:7.2} ms {:5.1} %",
            t[0].1 * 1e3,
            pct(t[0].1),
            t[1].1 * 1e3,
            pct(t[1].1)
        );
    }
    let mut lenet_step = Step::new(true, threads);
    let mut step = |own: bool| {
        set_crate_backend(!own);
        lenet_step.run();
        set_crate_backend(false);
    };
    let cell = std::cell::RefCell::new(&mut step);
    let t = interleaved(rounds, &mut [Box::new(|| (cell.borrow_mut())(true)), Box::new(|| (cell.borrow_mut())(false))]);
    let flops = 2.0 * lenet(true).macs_per_sample() as f64 * 3.0 * BATCH as f64;
    println!(
        "LeNet forward_backward, batch {BATCH}, {threads} thread(s), wall (on-CPU of the calling thread) ms: own {:.1} ({:.1}), crate {:.1} ({:.1}); {:.0} MFLOP",
        t[0].0 * 1e3,
        t[0].1 * 1e3,
        t[1].0 * 1e3,
        t[1].1 * 1e3,
        flops / 1e6
    );
}

/// One LeNet training step's forward and backward pass (batch 100) with its buffers, on the
/// calling thread (one thread: its on-CPU time is the step's) or in a pool of `threads`.
struct Step {
    layout: Layout,
    params: Vec<f32>,
    x: Vec<f32>,
    y: Vec<u8>,
    grad: Vec<f32>,
    bn: BnState,
    ws: Workspace,
    pool: Option<rayon::ThreadPool>,
}

impl Step {
    fn new(batch_norm: bool, threads: usize) -> Step {
        let layout = lenet(batch_norm);
        let params = layout.init(1);
        let (x, y) = images(BATCH);
        let (grad, bn) = (vec![0.0; layout.len()], BnState::new(&layout));
        let par = if threads == 1 { Parallelism::None } else { Parallelism::Rayon(0) };
        let ws = Workspace::new(&layout, BATCH, par);
        let pool = (threads > 1).then(|| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap());
        Step { layout, params, x, y, grad, bn, ws, pool }
    }

    fn run(&mut self) {
        let Step { layout, params, x, y, grad, bn, ws, pool } = self;
        let mut pass = || forward_backward(layout, black_box(params), bn, x, y, ws, grad);
        black_box(match pool {
            Some(pool) => pool.install(pass),
            None => pass(),
        });
    }
}

/// `CNN_FUSE=1`: one LeNet `forward_backward` (batch norm, batch 100) with the activation
/// fused into the pooling against the separate passes (`Workspace::set_fuse_pool`, same
/// bits), interleaved rounds, `THREADS=1` or `2`.
fn fuse_ab() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    let threads: usize = std::env::var("THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    for batch_norm in [true, false] {
        let mut lenet_step = Step::new(batch_norm, threads);
        let mut step = |fuse: bool| {
            lenet_step.ws.set_fuse_pool(fuse);
            lenet_step.run();
        };
        let cell = std::cell::RefCell::new(&mut step);
        let t =
            interleaved(rounds, &mut [Box::new(|| (cell.borrow_mut())(true)), Box::new(|| (cell.borrow_mut())(false))]);
        println!(
            "LeNet forward_backward, batch norm {batch_norm}, batch {BATCH}, {threads} thread(s), median of {rounds} \
             interleaved rounds, wall (on-CPU of the calling thread) ms: fused {:.2} ({:.2}), separate {:.2} ({:.2})",
            t[0].0 * 1e3,
            t[0].1 * 1e3,
            t[1].0 * 1e3,
            t[1].1 * 1e3,
        );
    }
}

fn main() {
    if std::env::var_os("CNN_SWEEP").is_some() {
        sweep();
        return;
    }
    if std::env::var_os("CNN_FUSE").is_some() {
        fuse_ab();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    train_epoch(&mut c);
    c.final_summary();
}
