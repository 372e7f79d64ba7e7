//! Speed of the hot paths: rounding passes, one SR-SGD step, a whole sweep at 1 vs 2 jobs.
//! Run with `cargo bench`; numbers go into the issue notes as ratios from one run.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use qnet_exp::config::parse_sweep;
use qnet_exp::convex::Trainer;
use qnet_exp::quant::{round_nearest, round_stochastic, Grid};

const N: usize = 1 << 20;

fn rounding(c: &mut Criterion) {
    let grid = Grid::fixed(0.05, None).unwrap();
    let xs64: Vec<f64> = (0..N).map(|i| ((i as f64) * 0.618_033_988_7).sin()).collect();
    let xs32: Vec<f32> = xs64.iter().map(|&x| x as f32).collect();
    let mut g = c.benchmark_group("round_1M");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("stochastic_f64", |b| {
        let mut buf = xs64.clone();
        let mut k = 0u64;
        b.iter(|| {
            buf.copy_from_slice(&xs64);
            k += 1;
            round_stochastic(&grid, black_box(&mut buf), k);
        })
    });
    g.bench_function("stochastic_f32", |b| {
        let mut buf = xs32.clone();
        let mut k = 0u64;
        b.iter(|| {
            buf.copy_from_slice(&xs32);
            k += 1;
            round_stochastic(&grid, black_box(&mut buf), k);
        })
    });
    g.bench_function("nearest_f64", |b| {
        let mut buf = xs64.clone();
        b.iter(|| {
            buf.copy_from_slice(&xs64);
            round_nearest(&grid, black_box(&mut buf));
        })
    });
    g.bench_function("nearest_f32", |b| {
        let mut buf = xs32.clone();
        b.iter(|| {
            buf.copy_from_slice(&xs32);
            round_nearest(&grid, black_box(&mut buf));
        })
    });
    g.bench_function("copy_only_f64", |b| {
        let mut buf = xs64.clone();
        b.iter(|| buf.copy_from_slice(black_box(&xs64)))
    });
    g.finish();
}

const STEP_CONFIG: &str = r#"
name = "bench"
[problem]
dim = 100
samples = 2000
[quant]
method = ["fp", "sr", "bc"]
delta = 0.05
[optim]
lr = 0.01
batch = 10
[run]
steps = 1
"#;

fn sgd_step(c: &mut Criterion) {
    let sweep = parse_sweep(STEP_CONFIG, "bench", &[]).unwrap();
    let mut g = c.benchmark_group("step_least_squares_d100_b10");
    for spec in &sweep.runs {
        let p = qnet_exp::convex::build(spec.convex(), spec.seeds.data).unwrap();
        g.bench_function(spec.method.name(), |b| {
            let mut tr = Trainer::new(spec, &p);
            b.iter(|| tr.step());
            black_box(&tr.w);
        });
    }
    g.finish();
}

fn sweep_jobs(c: &mut Criterion) {
    let sweep = parse_sweep(qnet_exp::QUICKSTART, "quickstart", &[]).unwrap();
    let mut g = c.benchmark_group("quickstart_sweep");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for jobs in [1usize, 2] {
        g.bench_function(format!("jobs{jobs}"), |b| {
            b.iter_batched(
                || tempfile::tempdir().unwrap(),
                |dir| {
                    let opts = qnet_exp::sweep::Options::new(dir.path().to_path_buf(), jobs);
                    let stop = qnet_exp::sweep::Stop::default();
                    qnet_exp::sweep::run(std::slice::from_ref(&sweep), &opts, &stop).unwrap();
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, rounding, sgd_step, sweep_jobs);
criterion_main!(benches);
