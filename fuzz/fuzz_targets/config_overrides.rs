//! `--set key.path=value` / `--unset key.path` (the `overrides` of `config::parse_sweep`)
//! on fixed valid configs. Input: the first byte picks the base config, the rest is UTF-8
//! text with one override per line.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Valid configs of each problem family (each expands to a few runs).
const BASES: &[&str] = &[
    // Convex: the quickstart's shape.
    r#"name = "base-convex"
[problem]
kind = "least_squares"
dim = 5
samples = 50
[quant]
method = ["fp", "r", "sr", "bc"]
grid = "fixed"
delta = 0.05
[optim]
lr = [0.05, 0.01]
batch = 10
[run]
steps = 100
seeds = 2
log_every = 10
"#,
    // Toy.
    r#"name = "base-toy"
[problem]
kind = "toy"
landscape = "wave"
sigma = 4.0
[quant]
method = ["sr", "fp"]
delta = 0.5
[optim]
lr = 0.01
[run]
steps = 1000
mode = "simulate"
"#,
    // Networks.
    r#"name = "base-net"
[problem]
kind = ["mlp", "cnn"]
dataset = "mnist"
arch = "conv3-4 pool fc16"
width = 32
depth = 1
train_size = 100
test_size = 50
[quant]
method = ["bc", "sr"]
grid = "binary"
[optim]
kind = "adam"
lr = 0.001
batch = 20
[run]
epochs = 1
"#,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let overrides: Vec<String> = text.split('\n').take(32).map(str::to_string).collect();
    qnet_exp_fuzz::check_sweep(BASES[pick as usize % BASES.len()], &overrides);
});
