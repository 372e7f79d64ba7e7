//! Speed of the MLP model: one `forward_backward` of a 784-1024-1024-10 net at batch 100
//! (1 and 2 threads; throughput in samples/s), and the GEMM backends at the shapes of that
//! pass (the measurement behind the choice of the `gemm` crate in src/nets/gemm.rs).
//!
//! PyTorch's speed on the same step, measured back to back with qnet-exp on the machines
//! named there, is in scripts/bench/README.md (`compare_mlp.py`). Run with
//! `cargo bench --bench mlp`; `MLP_PRODUCTS=1 cargo bench --bench mlp` times each product of a
//! step in a step's order (see `products`).

#[path = "support/peak.rs"]
mod peak;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};
use qnet_exp::nets::gemm::{matmul, Dims, Op, Strided};
use qnet_exp::nets::{forward_backward, Arch, BnState, Layout, Parallelism, Workspace};

const BATCH: usize = 100;

fn batch(input: usize) -> (Vec<f32>, Vec<u8>) {
    let x = (0..BATCH * input).map(|i| ((i * 7919 % 1000) as f32) * 1e-3).collect();
    let y = (0..BATCH).map(|i| (i * 7 % 10) as u8).collect();
    (x, y)
}

fn step(c: &mut Criterion) {
    let mut g = c.benchmark_group("mlp_784_1024_1024_10_b100");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    for batch_norm in [false, true] {
        let layout = Layout::new(Arch::mlp(784, vec![1024, 1024], 10, batch_norm)).unwrap();
        let params = layout.init(1);
        let (x, y) = batch(784);
        let mut grad = vec![0.0; layout.len()];
        let mut bn = BnState::new(&layout);
        for threads in [1usize, 2] {
            let par = if threads == 1 { Parallelism::None } else { Parallelism::Rayon(0) };
            let mut ws = Workspace::new(&layout, BATCH, par);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let name = format!("forward_backward{}_threads{threads}", if batch_norm { "_bn" } else { "" });
            // Rayon(0) splits each GEMM over the pool it runs in (install costs ~microseconds).
            g.bench_function(name, |b| {
                b.iter(|| {
                    pool.install(|| forward_backward(&layout, black_box(&params), &mut bn, &x, &y, &mut ws, &mut grad))
                })
            });
        }
    }
    g.finish();
}

/// The eight products of one pass (batch-major activations, W stored out x in), as
/// (m, n, k, op(A), op(B)) for C = op(A) op(B).
const SHAPES: [(usize, usize, usize, Op, Op); 8] = [
    (BATCH, 1024, 784, Op::N, Op::T),  // Z1 = X W1^T
    (BATCH, 1024, 1024, Op::N, Op::T), // Z2 = H1 W2^T
    (BATCH, 10, 1024, Op::N, Op::T),   // Z3 = H2 W3^T
    (10, 1024, BATCH, Op::T, Op::N),   // dW3 = dZ3^T H2
    (BATCH, 1024, 10, Op::N, Op::N),   // dH2 = dZ3 W3
    (1024, 1024, BATCH, Op::T, Op::N), // dW2 = dZ2^T H1
    (BATCH, 1024, 1024, Op::N, Op::N), // dH1 = dZ2 W2
    (1024, 784, BATCH, Op::T, Op::N),  // dW1 = dZ1^T X
];

fn view(data: &[f32], rows: usize, cols: usize, op: Op) -> ArrayView2<'_, f32> {
    match op {
        Op::N => ArrayView2::from_shape((rows, cols), data).unwrap(),
        Op::T => ArrayView2::from_shape((rows, cols).strides((1, rows)), data).unwrap(),
    }
}

/// A, B and C of each of [`SHAPES`], A and B filled with fixed values.
fn operands() -> Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    SHAPES
        .iter()
        .map(|&(m, n, k, _, _)| {
            let a = (0..m * k).map(|i| (i * 31 % 97) as f32 * 0.01 - 0.5).collect();
            let b = (0..k * n).map(|i| (i * 17 % 89) as f32 * 0.01 - 0.5).collect();
            (a, b, vec![0.0; m * n])
        })
        .collect()
}

fn gemm_backends(c: &mut Criterion) {
    let bufs = operands();
    let flops: u64 = SHAPES.iter().map(|&(m, n, k, _, _)| 2 * (m * n * k) as u64).sum();
    let mut g = c.benchmark_group("gemm_mlp_shapes_1thread");
    // Elements = flops: criterion's elem/s is FLOP/s.
    g.throughput(Throughput::Elements(flops));
    g.sample_size(30).measurement_time(Duration::from_secs(6));
    let mut bufs_mm = bufs.clone();
    g.bench_function("matrixmultiply", |bch| {
        bch.iter(|| {
            for (&(m, n, k, oa, ob), (a, b, cc)) in SHAPES.iter().zip(bufs_mm.iter_mut()) {
                let mut cv = ArrayViewMut2::from_shape((m, n), &mut cc[..]).unwrap();
                general_mat_mul(1.0, &view(a, m, k, oa), &view(b, k, n, ob), 0.0, &mut cv);
            }
        })
    });
    let mut bufs_g = bufs;
    g.bench_function("gemm_crate", |bch| {
        bch.iter(|| {
            for (&(m, n, k, oa, ob), (a, b, cc)) in SHAPES.iter().zip(bufs_g.iter_mut()) {
                let (sa, sb) = (Strided::op(a, oa, m, k), Strided::op(b, ob, k, n));
                matmul(Dims { m, n, k }, sa, sb, cc, false, Parallelism::None);
            }
        })
    });
    g.finish();
    for ((x, y), &(m, n, _, _, _)) in bufs_mm.iter().zip(&bufs_g).zip(&SHAPES) {
        let diff = x.2.iter().zip(&y.2).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-2, "backends disagree on a {m}x{n} product: {diff}");
    }
}

/// Training throughput of the whole step as the sweep runs it (batch gathering, forward and
/// backward, Adam, the method's per-layer update and rounding) on 6,000 synthetic
/// MNIST-shaped images: a tenth of an epoch of a 784-1024-1024-10 MLP, batch 100.
fn train_epoch(c: &mut Criterion) {
    use qnet_exp::data::dataset::ImageSet;
    use qnet_exp::nets::train::{train, NetData};
    use qnet_exp::sweep::with_spinning_pool;
    let n = 6000;
    let images: Vec<f32> =
        (0..n * 784).map(|i| (qnet_exp::rng::draw(5, i as u64) >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let set =
        |k: usize| ImageSet { images: images[..k * 784].to_vec(), labels: labels[..k].to_vec(), n: k, features: 784 };
    let data = NetData { train: set(n), test: set(100) };
    let mut g = c.benchmark_group("train_tenth_epoch_784_1024_1024_10_b100");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for method in ["fp", "bc", "sr"] {
        let text = format!(
            "name = \"b\"\n[problem]\nkind = \"mlp\"\nwidth = 1024\ndepth = 2\nbatch_norm = false\n\
             [quant]\nmethod = \"{method}\"\n{}[optim]\nkind = \"adam\"\nlr = 0.001\nbatch = 100\n[run]\nepochs = 1\n",
            if method == "fp" { "" } else { "grid = \"binary\"\n" }
        );
        let sweep = qnet_exp::config::parse_sweep(&text, "bench", &[]).unwrap();
        let spec = &sweep.runs[0];
        let qnet_exp::config::ProblemSpec::Net(net) = &spec.problem else { unreachable!() };
        for (threads, par) in [(1usize, Parallelism::None), (2, Parallelism::Rayon(0))] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            g.bench_function(format!("{method}_adam_{threads}thread"), |b| {
                // As `qnet-exp run` runs a single network run: the other workers spin.
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

/// `MLP_PRODUCTS=1`: the eight products of one step with this project's kernels, in a
/// step's order, each timed on its own (ms per call and share of one core's peak, measured
/// by benches/support/peak.rs or set by `PEAK_GFLOPS`). Between rounds a 32 MB pass
/// evicts the caches, as a training step's parameter update does, so every product starts
/// from where it would in training; `ONLY=i` times product i alone (its operands stay
/// cached), `ROUNDS` (default 200) sets the rounds.
fn products() {
    let peak = peak::peak_gflops();
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let only: Option<usize> = std::env::var("ONLY").ok().and_then(|v| v.parse().ok());
    let mut bufs = operands();
    let mut evict = vec![1.0f32; 8 << 20];
    let warm = 5.min(rounds - 1);
    let mut t = [0.0f64; SHAPES.len()];
    for r in 0..rounds {
        for (i, (&(m, n, k, oa, ob), (a, b, c))) in SHAPES.iter().zip(bufs.iter_mut()).enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let start = std::time::Instant::now();
            let (sa, sb) = (Strided::op(a, oa, m, k), Strided::op(b, ob, k, n));
            matmul(Dims { m, n, k }, sa, sb, c, false, Parallelism::None);
            if r >= warm {
                t[i] += start.elapsed().as_secs_f64();
            }
        }
        if only.is_none() {
            for v in evict.iter_mut() {
                *v = black_box(*v * 1.000_000_1);
            }
        }
    }
    let names = [
        "Z1 = X W1^T",
        "Z2 = H1 W2^T",
        "Z3 = H2 W3^T",
        "dW3",
        "dH2",
        "dW2 = dZ2^T H1",
        "dH1 = dZ2 W2",
        "dW1 = dZ1^T X",
    ];
    let mut total = 0.0;
    for (i, (&(m, n, k, _, _), name)) in SHAPES.iter().zip(names).enumerate() {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let ms = t[i] / (rounds - warm) as f64 * 1e3;
        total += ms;
        let gflops = 2.0 * (m * n * k) as f64 / ms / 1e6;
        println!(
            "{name:16} {m:5} x {n:5} x {k:5}  {ms:6.3} ms  {gflops:6.1} GFLOP/s  {:5.1} % of peak",
            100.0 * gflops / peak
        );
    }
    println!("total {total:.3} ms per step (one thread, {} rounds)", rounds - warm);
}

criterion_group!(benches, step, gemm_backends, train_epoch);

fn main() {
    if std::env::var_os("MLP_PRODUCTS").is_some() {
        products();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
