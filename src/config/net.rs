//! The networks' settings: the architecture, the data set and its location, the epochs.

use std::path::PathBuf;

use super::choice::DatasetChoice;
use super::parse::Val;
use super::point::{as_f64, Point};
use crate::data::dataset::{data_dir, DatasetName};

/// A ReLU network trained on a real image data set.
#[derive(Clone, Debug, PartialEq)]
pub struct NetSpec {
    pub dataset: DatasetName,
    /// Where the data set lives (a location: not part of the run's identity).
    pub data_dir: PathBuf,
    pub width: usize,
    pub depth: usize,
    pub batch_norm: bool,
    pub train_size: Option<usize>,
    pub test_size: Option<usize>,
    pub epochs: u64,
    /// The constant part of the step size (the schedule scales it).
    pub lr: f64,
}

pub fn resolve(p: &Point, batch: usize) -> NetSpec {
    let dataset: DatasetName = p.choice::<DatasetChoice>("problem.dataset").unwrap_or(DatasetChoice::Mnist).into();
    let given = p.text("problem.data_dir").map(PathBuf::from);
    let dir = data_dir(given.as_deref());
    // Record the folder actually used, so the run's config.toml says where its data was.
    if given.is_none() {
        p.computed("problem.data_dir", Val::Str(dir.display().to_string()));
    }
    let opt = |k: &'static str| p.get(k).map(|v| as_f64(&v) as usize);
    let n = NetSpec {
        dataset,
        data_dir: dir,
        width: p.int("problem.width") as usize,
        depth: p.int("problem.depth") as usize,
        batch_norm: p.bool("problem.batch_norm"),
        train_size: opt("problem.train_size"),
        test_size: opt("problem.test_size"),
        epochs: p.int("run.epochs") as u64,
        lr: match p.required("optim.lr", "") {
            Some(Val::Str(s)) => {
                p.err(format!("optim.lr = {s:?}: networks are not strongly convex; give a number"));
                f64::NAN
            }
            v => v.map_or(f64::NAN, |v| as_f64(&v)),
        },
    };
    if let Some(m) = n.train_size.filter(|&m| batch > m) {
        p.err(format!("optim.batch = {batch}: larger than problem.train_size = {m}"));
    }
    if n.batch_norm && batch < 2 {
        p.err("optim.batch = 1: batch normalisation needs at least 2 samples per batch".into());
    }
    n
}
