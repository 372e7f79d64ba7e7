//! The network family: a ReLU network trained on a real image data set, one metrics row
//! per epoch and the per-layer weight flips.

use std::sync::Arc;

use super::train::{self, LayerRow, NetData, NetRow, LAYERS_COLUMNS, LAYERS_FILE, METRICS_COLUMNS};
use super::Layout;
use crate::config::{NetSpec, ProblemSpec, RunSpec};
use crate::data::dataset::{self, Split};
use crate::family::{Cost, Family, Instance, Measure, RunContext, RunEnd, Table, TableColumn};
use crate::output::summary::METRICS_FILE;
use crate::output::table::{percent, seeds};

fn net(run: &RunSpec) -> &NetSpec {
    match &run.problem {
        ProblemSpec::Net(n) => n,
        _ => panic!("run {} is not a network run", run.id),
    }
}

pub struct NetFamily;

impl Family for NetFamily {
    fn name(&self) -> &'static str {
        "network"
    }

    fn instance_key(&self, run: &RunSpec) -> Option<String> {
        let n = net(run);
        Some(format!("{:?}|{}|{:?}|{:?}", n.dataset, n.data_dir.display(), n.train_size, n.test_size))
    }

    fn preflight(&self, run: &RunSpec) -> Result<Cost, String> {
        let n = net(run);
        // Every file checked (headers, sizes, labels) and counted, once per data set.
        let count = |split| dataset::inspect(n.dataset, &n.data_dir, split);
        let (n_train, n_test) = (count(Split::Train)?, count(Split::Test)?);
        let pool = n.train_size.unwrap_or(n_train);
        if pool > n_train {
            return Err(format!(
                "problem.train_size = {pool}: the {} training set holds only {n_train} images",
                n.dataset
            ));
        }
        if let Some(t) = n.test_size.filter(|&t| t > n_test) {
            return Err(format!("problem.test_size = {t}: the {} test set holds only {n_test} images", n.dataset));
        }
        let (train, val) = n.split(pool);
        if run.batch > train {
            return Err(format!(
                "optim.batch = {}: larger than the {train} training images ({pool} in all, {val} held out by problem.val_split)",
                run.batch
            ));
        }
        let features = n.dataset.features();
        let layout = Layout::new(n.arch())?;
        let (train_n, test_n) = (pool as f64, n.test_size.unwrap_or(n_test) as f64);
        let params = layout.len() as f64;
        // Activations kept per sample: every stage's output (twice with batch norm), the
        // flattened input of the dense part, the hidden layers.
        let arch = layout.arch();
        let conv_acts: usize = layout
            .stages()
            .iter()
            .map(|s| {
                let (c, h, w) = s.out_shape();
                c * h * w
            })
            .sum();
        let acts = (run.batch * (2 * conv_acts + arch.input_len() + arch.hidden.iter().sum::<usize>())) as f64;
        Ok(Cost {
            // Weights, latent, gradient, two optimizer moments, the previous epoch's and an
            // evaluation copy; activations, BN inputs and deltas.
            run_bytes: (4.0 * (7.0 * params + 4.0 * acts)) as u64,
            instance_bytes: (4.0 * (train_n + test_n) * features as f64) as u64,
            work: 3.0 * n.epochs as f64 * train_n * layout.macs_per_sample() as f64,
            rows: n.epochs + 1,
        })
    }

    fn build(&self, run: &RunSpec) -> Result<Instance, String> {
        train::load(net(run)).map(|d| Arc::new(d) as Instance)
    }

    fn run(&self, run: &RunSpec, instance: Option<&Instance>, ctx: &RunContext) -> std::io::Result<RunEnd> {
        let data: &NetData = instance.and_then(|i| i.downcast_ref()).expect("the engine passes a network run its data");
        let mut rows = ctx.files.csv::<NetRow>(METRICS_FILE, METRICS_COLUMNS)?;
        let mut layers = ctx.files.csv::<LayerRow>(LAYERS_FILE, LAYERS_COLUMNS)?;
        let Ok(failure) = train::train(run, net(run), data, ctx.par, &mut rows, &mut layers, ctx.abandon)? else {
            return Ok(RunEnd::abandoned());
        };
        rows.finish()?;
        layers.finish()?;
        Ok(RunEnd::of(failure))
    }

    fn complete(&self, run: &RunSpec, _last_step: u64, rows: usize) -> bool {
        // A row at step 0 and one after each epoch.
        rows as u64 == net(run).epochs + 1
    }

    fn threads_inside(&self) -> bool {
        true
    }

    fn measures(&self) -> &'static [Measure] {
        const M: &[Measure] = &[
            // Over the last epoch's batches, in training mode.
            Measure { name: "train_error", of: |r| r.metrics.last("train_error") },
            // On the held-out validation images after the last epoch.
            Measure { name: "val_error", of: |r| r.metrics.last("val_error") },
            // At the deployed weights after the last epoch.
            Measure { name: "test_error", of: |r| r.metrics.last("test_error") },
            // At BC's latent weights.
            Measure { name: "test_error_latent", of: |r| r.metrics.last("test_error_latent") },
            // The lowest validation error of the run, and the test error at that epoch.
            Measure { name: "best_val_error", of: |r| r.metrics.last("best_val_error") },
            Measure { name: "test_error_at_best_val", of: |r| r.metrics.last("test_error_at_best_val") },
        ];
        M
    }

    fn table(&self) -> &'static Table {
        const T: Table = Table {
            caption: "networks, per configuration, mean ± 95% CI over seeds: error rates after the last epoch",
            columns: &[
                TableColumn { header: "n", cell: seeds },
                TableColumn { header: "test error", cell: |g| percent(g.measure("test_error")) },
                TableColumn { header: "at best val", cell: |g| percent(g.measure("test_error_at_best_val")) },
                TableColumn { header: "val error", cell: |g| percent(g.measure("val_error")) },
                TableColumn { header: "test error (bc latent)", cell: |g| percent(g.measure("test_error_latent")) },
                TableColumn { header: "train error", cell: |g| percent(g.measure("train_error")) },
            ],
        };
        &T
    }
}
