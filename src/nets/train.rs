//! Training a network with FP / R / SR / BC: the f32 counterpart of the convex step loop
//! (`convex/trainer.rs`).
//!
//! The parameter vector is one flat f32 slice. Each quantized weight matrix has its own
//! grid (a per-layer Glorot scale, or the config's); biases, batch-norm parameters and,
//! with `quant.fp_first_last`, the first and last weight matrices take plain FP steps.
//! Rounding noise is counter-based on the position in the whole vector, so it does not
//! depend on how the vector is split into layers.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::Rng;
use serde::Serialize;

use super::update::{Segment, StepArgs, UpdatePlan};
use super::{evaluate, forward_backward, recalibrate_bn, BnState, Layout, Parallelism, Workspace};
use crate::config::{NetSpec, RunSpec};
use crate::data::dataset::{self, ImageSet, Split};
use crate::method::{Bounds, Method, Noise, Target};
use crate::metrics::RowSink;
use crate::optim::Optimizer;
use crate::output::csv::{f64_cell, opt_cell};
use crate::quant::{Grid, Lattice};
use crate::rng::{below, draw, seeded};

/// One metrics.csv row of a network run: at step 0 and after every epoch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetRow {
    pub step: u64,
    pub epoch: u64,
    #[serde(with = "f64_cell")]
    pub lr: f64,
    /// Over the epoch's batches, in training mode (empty at step 0).
    #[serde(with = "opt_cell")]
    pub train_loss: Option<f64>,
    #[serde(with = "opt_cell")]
    pub train_error: Option<f64>,
    /// On the held-out validation images, deployed weights, inference mode (empty without
    /// a validation split).
    #[serde(with = "opt_cell")]
    pub val_loss: Option<f64>,
    #[serde(with = "opt_cell")]
    pub val_error: Option<f64>,
    /// At the deployed weights, in inference mode.
    #[serde(with = "f64_cell")]
    pub test_loss: f64,
    #[serde(with = "f64_cell")]
    pub test_error: f64,
    /// At BC's latent weights, with batch-norm statistics re-estimated for them.
    #[serde(with = "opt_cell")]
    pub test_error_latent: Option<f64>,
    /// The lowest validation error so far (the earliest epoch on ties), and the test error
    /// at that epoch: what a run stopped early on validation would report.
    #[serde(with = "opt_cell")]
    pub best_val_error: Option<f64>,
    #[serde(with = "opt_cell")]
    pub test_error_at_best_val: Option<f64>,
}

pub const METRICS_COLUMNS: &[&str] = &[
    "step",
    "epoch",
    "lr",
    "train_loss",
    "train_error",
    "val_loss",
    "val_error",
    "test_loss",
    "test_error",
    "test_error_latent",
    "best_val_error",
    "test_error_at_best_val",
];

/// One layers.csv row: a quantized weight matrix after an epoch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerRow {
    pub step: u64,
    pub epoch: u64,
    pub layer: String,
    /// Fraction of its quantized weights that differ from the previous epoch's end.
    #[serde(with = "f64_cell")]
    pub flip_frac: f64,
    /// Mean |deployed - value before rounding| at the epoch's last step.
    #[serde(with = "f64_cell")]
    pub round_err: f64,
}

pub const LAYERS_COLUMNS: &[&str] = &["step", "epoch", "layer", "flip_frac", "round_err"];
pub const LAYERS_FILE: &str = "layers.csv";

/// A data set loaded, scaled to [0, 1] and standardised with the training statistics.
/// `train` is the whole training pool; each run holds out its own validation images.
pub struct NetData {
    pub train: ImageSet,
    pub test: ImageSet,
}

/// A run's split of the training pool: image indices, each list in stored order.
pub struct PoolSplit {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
}

/// Hold out `val` of the `pool` training images, chosen with the split seed (a partial
/// Fisher-Yates shuffle); both lists sorted.
pub fn split_pool(pool: usize, val: usize, seed: u64) -> PoolSplit {
    let mut idx: Vec<usize> = (0..pool).collect();
    let mut rng = seeded(seed);
    for i in 0..val.min(pool) {
        let j = i + below(rng.next_u64(), pool - i);
        idx.swap(i, j);
    }
    let (v, t) = idx.split_at_mut(val.min(pool));
    v.sort_unstable();
    t.sort_unstable();
    PoolSplit { train: t.to_vec(), val: v.to_vec() }
}

/// The images `idx` of `set`, gathered (sample-major) with their labels.
fn gather(set: &ImageSet, idx: &[usize]) -> (Vec<f32>, Vec<u8>) {
    let mut x = Vec::with_capacity(idx.len() * set.features);
    for &i in idx {
        x.extend_from_slice(set.image(i));
    }
    (x, idx.iter().map(|&i| set.labels[i]).collect())
}

pub fn load(n: &NetSpec) -> Result<NetData, String> {
    let mut train = dataset::load(n.dataset, &n.data_dir, Split::Train, n.train_size)?;
    let mut test = dataset::load(n.dataset, &n.data_dir, Split::Test, n.test_size)?;
    train.scale_unit();
    test.scale_unit();
    dataset::standardize(&mut train, &mut test);
    Ok(NetData { train, test })
}

/// Training batches (the first ones, in stored order) that re-estimate the batch-norm
/// statistics of BC's latent weights before each evaluation: 2,000 images at batch 100,
/// a forward pass costing about 1 % of an MNIST epoch.
const RECAL_BATCHES: usize = 20;

/// One quantized weight matrix: where it is and its grid.
struct QLayer {
    name: String,
    range: Range<usize>,
    lat: Lattice<f32>,
    bounds: Bounds<f32>,
}

/// Train one run, a metrics row at step 0 and after each epoch into `rows`, the layers'
/// flips into `layers`. Returns why the run failed (divergence), if it did.
pub fn train(
    spec: &RunSpec,
    n: &NetSpec,
    data: &NetData,
    par: Parallelism,
    rows: &mut impl RowSink<NetRow>,
    layers_out: &mut impl RowSink<LayerRow>,
    abandon: &AtomicBool,
) -> std::io::Result<Result<Option<String>, Abandoned>> {
    let features = data.train.features;
    let (_, n_val) = n.split(data.train.n);
    let split = split_pool(data.train.n, n_val, spec.seeds.split);
    let m = split.train.len();
    let layout = Layout::new(n.arch()).expect("validated when the config was resolved");
    assert_eq!(layout.arch().input_len(), features, "the data set's images and the network's input differ");
    let method = spec.method;
    let b = spec.batch;
    assert!(b <= m, "batch {b} above the {m} training images (the preflight check refuses this)");
    let steps_per_epoch = (m / b) as u64;
    let alpha0 = n.lr;

    // Which ranges are quantized, and with which grid.
    let layers = layout.layers();
    let mut qlayers = Vec::new();
    let mut fp_ranges = Vec::new();
    for (l, info) in layers.iter().enumerate() {
        let edge = l == 0 || l + 1 == layers.len();
        let quant = spec.quant.filter(|q| !(q.fp_first_last && edge));
        if let Some(q) = quant {
            let g = q.layer_grid(info.fan_in, info.fan_out);
            let lat = Lattice::<f32>::new(&g);
            let clip = matches!(method, Method::Bc { clip: true, .. });
            let bounds = if clip { Bounds { lo: lat.lo, hi: lat.hi } } else { Bounds::unbounded() };
            qlayers.push(QLayer { name: info.name.clone(), range: info.weight.clone(), lat, bounds });
        } else {
            fp_ranges.push(info.weight.clone());
        }
        fp_ranges.push(info.bias.clone());
        if let Some(bn) = &info.bn {
            fp_ranges.push(bn.gamma.clone());
            fp_ranges.push(bn.beta.clone());
        }
    }

    // Initial point: Glorot weights, put on the grid the way the method keeps them.
    let mut w = layout.init(spec.seeds.init);
    let mut latent = matches!(method, Method::Bc { .. }).then(|| w.clone());
    let init_key = draw(spec.seeds.rounding, 0);
    for q in &qlayers {
        let r = q.range.clone();
        let wts = method.init(w[r.clone()].to_vec(), &q.lat, q.bounds, init_key ^ r.start as u64);
        w[r.clone()].copy_from_slice(&wts.deployed);
        if let (Some(l), Some(lw)) = (latent.as_mut(), wts.latent) {
            l[r].copy_from_slice(&lw);
        }
    }

    let mut opt = Optimizer::<f32>::new(spec.optim, layout.len());
    // FP steps never round; any lattice will do for them.
    let no_grid = Lattice::<f32>::new(&Grid::fixed(1.0, None).expect("valid grid"));
    let mut segments: Vec<Segment> =
        qlayers.iter().map(|q| Segment { range: q.range.clone(), method, lat: q.lat, bounds: q.bounds }).collect();
    segments.extend(fp_ranges.iter().map(|r| Segment {
        range: r.clone(),
        method: Method::Fp,
        lat: no_grid,
        bounds: Bounds::unbounded(),
    }));
    let plan = UpdatePlan::new(segments, layout.len());
    let mut ws = Workspace::new(&layout, b.max(1), par);
    let mut bn = BnState::new(&layout);
    let mut g = vec![0.0f32; layout.len()];
    let mut xb = vec![0.0f32; b * features];
    let mut yb = vec![0u8; b];
    // Batches are consecutive slices of a permutation of the training images.
    let mut perm: Vec<usize> = split.train.clone();
    let (val_x, val_y) = gather(&data.train, &split.val);
    // The first training batches in stored order, to re-estimate BN for the latent weights.
    let recal_x = gather(&data.train, &split.train[..(RECAL_BATCHES * b).min(m)]).0;
    let mut rng = seeded(spec.seeds.batches);
    let mut prev = w.clone();
    let mut eval_w = latent.as_ref().map(|_| w.clone());

    let eval = |params: &[f32], bn: &BnState, ws: &mut Workspace| {
        evaluate(&layout, params, bn, &data.test.images, &data.test.labels, ws)
    };
    let eval_val = |params: &[f32], bn: &BnState, ws: &mut Workspace| {
        (!val_y.is_empty()).then(|| evaluate(&layout, params, bn, &val_x, &val_y, ws))
    };
    let (tl, te) = eval(&w, &bn, &mut ws);
    let val = eval_val(&w, &bn, &mut ws);
    // (best validation error, test error then), the earliest epoch on ties.
    let mut best = val.map(|v| (v.1, te));
    rows.push(&NetRow {
        step: 0,
        epoch: 0,
        lr: alpha0,
        train_loss: None,
        train_error: None,
        val_loss: val.map(|v| v.0),
        val_error: val.map(|v| v.1),
        test_loss: tl,
        test_error: te,
        test_error_latent: None,
        best_val_error: best.map(|b| b.0),
        test_error_at_best_val: best.map(|b| b.1),
    })?;

    let mut t = 0u64;
    let mut round_err = vec![0.0f64; qlayers.len()];
    for epoch in 1..=n.epochs {
        // A new permutation each epoch; batches are consecutive slices of it.
        for i in (1..m).rev() {
            perm.swap(i, below(rng.next_u64(), i + 1));
        }
        let (mut loss_sum, mut wrong) = (0.0f64, 0usize);
        // Networks step their schedule per epoch: t counts epochs (step decay, exponential).
        let lr = spec.schedule.lr(alpha0, epoch - 1);
        let started = Instant::now();
        for s in 0..steps_per_epoch as usize {
            if abandon.load(Ordering::Relaxed) {
                return Ok(Err(Abandoned));
            }
            for (k, &idx) in perm[s * b..(s + 1) * b].iter().enumerate() {
                xb[k * features..(k + 1) * features].copy_from_slice(data.train.image(idx));
                yb[k] = data.train.labels[idx];
            }
            let (loss, correct) = forward_backward(&layout, &w, &mut bn, &xb, &yb, &mut ws, &mut g);
            loss_sum += loss * b as f64;
            wrong += b - correct;
            let a = lr as f32;
            let key = draw(spec.seeds.rounding, t + 1);
            if s + 1 < steps_per_epoch as usize {
                // Threaded GEMMs: thread the parameter pass too (same bits either way).
                let threaded = matches!(par, Parallelism::Rayon(_));
                plan.step(&mut opt, &mut w, latent.as_deref_mut(), &mut g, StepArgs { alpha: a, key }, threaded);
            } else {
                // The epoch's last step also takes the statistics (rounding error), in two
                // whole passes: the counting loops are several times slower than the update.
                opt.direction(&mut g);
                for (q, err) in qlayers.iter().zip(round_err.iter_mut()) {
                    let r = q.range.clone();
                    let lat_slice = latent.as_mut().map(|l| &mut l[r.clone()]);
                    let (to, noise) = (Target { lat: &q.lat, bounds: q.bounds }, Noise { key, offset: r.start });
                    let st = method.step_slices(&mut w[r.clone()], lat_slice, &g[r.clone()], a, to, noise);
                    *err = st.round_err;
                }
                for r in &fp_ranges {
                    let (wr, gr) = (&mut w[r.clone()], &g[r.clone()]);
                    let to = Target { lat: &no_grid, bounds: Bounds::unbounded() };
                    Method::Fp.step_slices_quiet(wr, None, gr, a, to, Noise { key, offset: r.start });
                }
            }
            t += 1;
        }
        // The training loop's own time, without evaluations and set-up (what the benchmark
        // scripts compare with PyTorch's epoch: `-v` shows it).
        let train_s = started.elapsed().as_secs_f64();
        tracing::debug!(run = %spec.id, epoch, steps = steps_per_epoch, train_s, "epoch trained");
        if !loss_sum.is_finite() {
            return Ok(Ok(Some(format!("diverged: training loss = {loss_sum} in epoch {epoch}"))));
        }
        let seen = (steps_per_epoch as usize * b) as f64;
        let (tl, te) = eval(&w, &bn, &mut ws);
        let te_latent = match (latent.as_ref(), eval_w.as_mut()) {
            (Some(l), Some(ev)) => {
                // Latent weights where quantized, the shared full-precision rest.
                ev.copy_from_slice(&w);
                for q in &qlayers {
                    ev[q.range.clone()].copy_from_slice(&l[q.range.clone()]);
                }
                // The running BN statistics belong to the deployed weights; the latent
                // network gets its own, from a fixed set of training batches.
                let batches = (m / b).min(RECAL_BATCHES);
                let latent_bn = if n.batch_norm && b >= 2 && batches > 0 {
                    recalibrate_bn(&layout, ev, &recal_x, b, batches, &mut ws)
                } else {
                    bn.clone()
                };
                Some(eval(ev, &latent_bn, &mut ws).1)
            }
            _ => None,
        };
        let val = eval_val(&w, &bn, &mut ws);
        if let (Some(v), Some(bst)) = (val, best.as_mut()) {
            if v.1 < bst.0 {
                *bst = (v.1, te);
            }
        }
        rows.push(&NetRow {
            step: t,
            epoch,
            lr,
            train_loss: Some(loss_sum / seen),
            train_error: Some(wrong as f64 / seen),
            val_loss: val.map(|v| v.0),
            val_error: val.map(|v| v.1),
            test_loss: tl,
            test_error: te,
            test_error_latent: te_latent,
            best_val_error: best.map(|b| b.0),
            test_error_at_best_val: best.map(|b| b.1),
        })?;
        for (q, err) in qlayers.iter().zip(round_err.iter_mut()) {
            let r = q.range.clone();
            let flips = w[r.clone()].iter().zip(&prev[r.clone()]).filter(|(a, b)| a != b).count();
            let n_w = r.len() as f64;
            layers_out.push(&LayerRow {
                step: t,
                epoch,
                layer: q.name.clone(),
                flip_frac: flips as f64 / n_w,
                round_err: *err / n_w,
            })?;
            *err = 0.0;
        }
        prev.copy_from_slice(&w);
    }
    Ok(Ok(None))
}

/// The run stopped because the sweep was interrupted.
#[derive(Debug)]
pub struct Abandoned;
