//! The networks' settings: the architecture (an MLP's width and depth, or a CNN's layer
//! list), the data set and its location, the epochs.

use std::path::PathBuf;

use super::choice::{DatasetChoice, ProblemKind};
use super::parse::{clip, Val};
use super::point::{as_f64, Point};
use crate::data::dataset::{data_dir, DatasetName};
use crate::nets::{Arch, ConvStage};

/// The layers of a network between its input and its output layer.
#[derive(Clone, Debug, PartialEq)]
pub enum NetArch {
    /// `depth` hidden layers of `width` units.
    Mlp { width: usize, depth: usize },
    /// Convolution and pooling stages, then hidden dense layers.
    Cnn { convs: Vec<ConvStage>, hidden: Vec<usize> },
}

/// A ReLU network trained on a real image data set.
#[derive(Clone, Debug, PartialEq)]
pub struct NetSpec {
    pub dataset: DatasetName,
    /// Where the data set lives (a location: not part of the run's identity).
    pub data_dir: PathBuf,
    pub arch: NetArch,
    pub batch_norm: bool,
    pub train_size: Option<usize>,
    /// Fraction of the training pool held out for validation.
    pub val_split: f64,
    pub test_size: Option<usize>,
    pub epochs: u64,
    /// The constant part of the step size (the schedule scales it).
    pub lr: f64,
}

impl NetSpec {
    /// `(training, validation)` image counts of a pool of `pool` training images.
    pub fn split(&self, pool: usize) -> (usize, usize) {
        let val = (self.val_split * pool as f64).round() as usize;
        (pool - val.min(pool), val.min(pool))
    }

    /// The network for this data set (its image shape and class count).
    pub fn arch(&self) -> Arch {
        let input = self.dataset.shape();
        let classes = self.dataset.num_classes();
        match &self.arch {
            NetArch::Mlp { width, depth } => {
                Arch::mlp(input.iter().product(), vec![*width; *depth], classes, self.batch_norm)
            }
            NetArch::Cnn { convs, hidden } => {
                Arch { input, convs: convs.clone(), hidden: hidden.clone(), classes, batch_norm: self.batch_norm }
            }
        }
    }
}

/// The ready-made CNNs: a LeNet-like and a small VGG-like net (the paper's VGG family
/// scaled to what two cores train).
pub const ARCHS: &[(&str, &str)] =
    &[("lenet", "conv5-32 pool conv5-64 pool fc256"), ("vgg", "conv3-32 conv3-32 pool conv3-64 conv3-64 pool fc512")];

/// Parse a CNN description: a ready-made name, or layers `convK-C`, `pool`, `fcN`
/// separated by spaces or commas (convolutions and pooling first, then dense layers).
pub fn parse_arch(text: &str) -> Result<(Vec<ConvStage>, Vec<usize>), String> {
    let text = ARCHS.iter().find(|(name, _)| *name == text.trim()).map_or(text, |(_, layers)| layers);
    let (mut convs, mut hidden) = (Vec::new(), Vec::new());
    let bad = |tok: &str, why: &str| format!("{:?}: {why}", clip(tok));
    for tok in text.split(|c: char| c.is_whitespace() || c == ',').filter(|t| !t.is_empty()) {
        let num = |s: &str, what: &str| -> Result<usize, String> {
            s.parse::<usize>()
                .ok()
                .filter(|&n| (1..=4096).contains(&n))
                .ok_or_else(|| bad(tok, &format!("{what} must be 1..4096")))
        };
        if tok == "pool" {
            if !hidden.is_empty() {
                return Err(bad(tok, "pooling after a dense layer"));
            }
            convs.push(ConvStage::Pool);
        } else if let Some(rest) = tok.strip_prefix("conv") {
            if !hidden.is_empty() {
                return Err(bad(tok, "a convolution after a dense layer"));
            }
            let (k, c) = rest.split_once('-').ok_or_else(|| bad(tok, "expected convK-C, e.g. conv5-32"))?;
            let (k, c_out) = (num(k, "the kernel size")?, num(c, "the channel count")?);
            if k % 2 == 0 || k > 15 {
                return Err(bad(tok, "the kernel size must be odd and at most 15 (\"same\" padding)"));
            }
            convs.push(ConvStage::Conv { c_out, k });
        } else if let Some(n) = tok.strip_prefix("fc") {
            hidden.push(num(n, "the unit count")?);
        } else {
            return Err(bad(tok, "not a layer (expected convK-C, pool or fcN)"));
        }
    }
    if convs.is_empty() && hidden.is_empty() {
        return Err("no layers (expected lenet, vgg, or a list such as \"conv5-32 pool fc256\")".into());
    }
    Ok((convs, hidden))
}

pub fn resolve(p: &Point, kind: ProblemKind, batch: usize) -> NetSpec {
    let dataset: DatasetName = p.choice::<DatasetChoice>("problem.dataset").unwrap_or(DatasetChoice::Mnist).into();
    let given = p.text("problem.data_dir").map(PathBuf::from);
    let dir = data_dir(given.as_deref());
    // Record the folder actually used, so the run's config.toml says where its data was.
    if given.is_none() {
        p.computed("problem.data_dir", Val::Str(dir.display().to_string()));
    }
    let arch = if kind == ProblemKind::Cnn {
        let text = p.text("problem.arch").unwrap_or_default();
        match parse_arch(&text) {
            Ok((convs, hidden)) => NetArch::Cnn { convs, hidden },
            Err(e) => {
                p.err(format!("problem.arch = {:?}: {e}", clip(&text)));
                NetArch::Cnn { convs: Vec::new(), hidden: Vec::new() }
            }
        }
    } else {
        NetArch::Mlp { width: p.int("problem.width") as usize, depth: p.int("problem.depth") as usize }
    };
    let opt = |k: &'static str| p.get(k).map(|v| as_f64(&v) as usize);
    let n = NetSpec {
        dataset,
        data_dir: dir,
        arch,
        batch_norm: p.bool("problem.batch_norm"),
        train_size: opt("problem.train_size"),
        val_split: p.f64("problem.val_split"),
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
    if let NetArch::Cnn { convs, .. } = &n.arch {
        // Pooling needs even sizes: check against the data set's images.
        if !convs.is_empty() {
            if let Err(e) = crate::nets::Layout::new(n.arch()) {
                p.err(format!("problem.arch on {} images: {e}", dataset.as_str()));
            }
        }
    }
    if let Some(m) = n.train_size {
        let (train, val) = n.split(m);
        if batch > train {
            p.err(format!(
                "optim.batch = {batch}: larger than the {train} training images (problem.train_size = {m}, {val} held out by problem.val_split)"
            ));
        } else if n.val_split > 0.0 && val == 0 {
            p.err(format!("problem.val_split = {}: holds out no image of problem.train_size = {m}", n.val_split));
        }
    }
    if n.batch_norm && batch < 2 {
        p.err("optim.batch = 1: batch normalisation needs at least 2 samples per batch".into());
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_parse_and_bad_ones_say_why() {
        use ConvStage::*;
        let (c, h) = parse_arch("lenet").unwrap();
        assert_eq!(c, vec![Conv { c_out: 32, k: 5 }, Pool, Conv { c_out: 64, k: 5 }, Pool]);
        assert_eq!(h, vec![256]);
        let (c, h) = parse_arch("conv3-8, pool,fc10 fc20").unwrap();
        assert_eq!((c, h), (vec![Conv { c_out: 8, k: 3 }, Pool], vec![10, 20]));
        assert_eq!(parse_arch("vgg").unwrap().0.len(), 6);
        for (bad, why) in [
            ("conv4-8", "odd"),
            ("conv3", "expected convK-C"),
            ("fc10 pool", "pooling after a dense layer"),
            ("fc10 conv3-4", "a convolution after a dense layer"),
            ("pol", "not a layer"),
            ("fc0", "1..4096"),
            ("", "no layers"),
        ] {
            let e = parse_arch(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
