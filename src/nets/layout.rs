//! The layout of a network on ONE flat f32 parameter vector: the architecture, the named
//! range of every layer's parameters, and the initial values.
//!
//! Per layer `l` (in order, each block contiguous): the weight `W_l` (`fan_out x fan_in`,
//! row-major, as in PyTorch's `Linear`), the bias `b_l`, and with batch normalisation on the
//! hidden layers `gamma_l` then `beta_l`. Quantizers, optimizers and methods see only the
//! slice (and, for per-layer grids, the ranges [`Layout::layers`] hands out); the model
//! knows nothing of them.

use std::ops::Range;

use rand::Rng;

use crate::quant::glorot_limit;
use crate::real::Real;
use crate::rng::seeded;

/// The architecture: `input -> hidden[0] -> ... -> classes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlpSpec {
    pub input: usize,
    pub hidden: Vec<usize>,
    pub classes: usize,
    /// Batch normalisation on every hidden layer (after the affine map, before the ReLU).
    pub batch_norm: bool,
}

/// The batch-norm parameters of one hidden layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BnRanges {
    /// Scale `gamma` in the parameter vector.
    pub gamma: Range<usize>,
    /// Shift `beta` in the parameter vector.
    pub beta: Range<usize>,
    /// This layer's features in [`BnState::mean`] / [`BnState::var`].
    pub stats: Range<usize>,
}

/// One affine layer's place in the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// `fc1`, `fc2`, ... in forward order.
    pub name: String,
    pub fan_in: usize,
    pub fan_out: usize,
    /// `W` (`fan_out x fan_in`, row-major).
    pub weight: Range<usize>,
    pub bias: Range<usize>,
    /// Present on hidden layers when the spec has batch norm.
    pub bn: Option<BnRanges>,
    /// Whether the weights may be quantized. Always true for weight matrices (keeping the
    /// first or last layer in full precision is the caller's choice); biases and BN
    /// parameters are never quantizable and have no flag.
    pub quantizable: bool,
}

impl LayerInfo {
    /// Glorot-uniform half-width `sqrt(6 / (fan_in + fan_out))` (the init's range; BinaryConnect
    /// binarizes to half of it, `sqrt(1.5 / (fan_in + fan_out))`).
    pub fn glorot_limit(&self) -> f32 {
        glorot_limit(self.fan_in, self.fan_out) as f32
    }
}

/// Named ranges of the flat parameter vector of an [`MlpSpec`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub(crate) spec: MlpSpec,
    pub(crate) layers: Vec<LayerInfo>,
    pub(crate) len: usize,
    pub(crate) bn_len: usize,
    pub(crate) max_hidden: usize,
}

impl Layout {
    /// Fails on a zero size or fewer than 2 (more than 256, labels are `u8`) classes.
    pub fn new(spec: MlpSpec) -> Result<Layout, String> {
        if spec.input == 0 {
            return Err("mlp: the input size must be at least 1".into());
        }
        if let Some(i) = spec.hidden.iter().position(|&h| h == 0) {
            return Err(format!("mlp: hidden layer {} has size 0", i + 1));
        }
        if !(2..=256).contains(&spec.classes) {
            return Err(format!("mlp: {} classes; 2..=256 are supported", spec.classes));
        }
        let mut dims = vec![spec.input];
        dims.extend_from_slice(&spec.hidden);
        dims.push(spec.classes);
        let n_layers = dims.len() - 1;
        let (mut off, mut bn_off) = (0, 0);
        let mut layers = Vec::with_capacity(n_layers);
        for l in 0..n_layers {
            let (fan_in, fan_out) = (dims[l], dims[l + 1]);
            let weight = off..off + fan_in * fan_out;
            let bias = weight.end..weight.end + fan_out;
            off = bias.end;
            let bn = if spec.batch_norm && l + 1 < n_layers {
                let gamma = off..off + fan_out;
                let beta = gamma.end..gamma.end + fan_out;
                off = beta.end;
                let stats = bn_off..bn_off + fan_out;
                bn_off = stats.end;
                Some(BnRanges { gamma, beta, stats })
            } else {
                None
            };
            layers.push(LayerInfo {
                name: format!("fc{}", l + 1),
                fan_in,
                fan_out,
                weight,
                bias,
                bn,
                quantizable: true,
            });
        }
        let max_hidden = spec.hidden.iter().copied().max().unwrap_or(0);
        Ok(Layout { spec, layers, len: off, bn_len: bn_off, max_hidden })
    }

    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// The affine layers in forward order (the last one is the output layer).
    pub fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// Length of the flat parameter (and gradient) vector.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of batch-normalised features (length of [`BnState::mean`]).
    pub fn bn_features(&self) -> usize {
        self.bn_len
    }

    /// Multiply-adds of one sample's forward pass (the backward pass costs about twice that).
    pub fn macs_per_sample(&self) -> usize {
        self.layers.iter().map(|l| l.fan_in * l.fan_out).sum()
    }

    /// A fresh parameter vector, see [`Layout::init_into`].
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut p = vec![0.0; self.len];
        self.init_into(seed, &mut p);
        p
    }

    /// Glorot-uniform weights `U(-a, a)`, `a = sqrt(6 / (fan_in + fan_out))`, drawn layer by
    /// layer in storage order from `rng::seeded(seed)` (one 64-bit word per weight, its top
    /// 53 bits as a uniform in [0, 1)); zero biases, `gamma = 1`, `beta = 0`.
    pub fn init_into(&self, seed: u64, params: &mut [f32]) {
        assert_eq!(params.len(), self.len, "parameter vector length");
        let mut rng = seeded(seed);
        for l in &self.layers {
            let a = glorot_limit(l.fan_in, l.fan_out);
            for w in &mut params[l.weight.clone()] {
                let u = f64::unit_from_bits(rng.next_u64());
                *w = ((2.0 * u - 1.0) * a) as f32;
            }
            params[l.bias.clone()].fill(0.0);
            if let Some(bn) = &l.bn {
                params[bn.gamma.clone()].fill(1.0);
                params[bn.beta.clone()].fill(0.0);
            }
        }
    }
}

/// Each weight matrix's range, named `fc1`, `fc2`, ... (all of them; the caller drops the
/// first or last layer to keep it in full precision).
pub fn quantizable_ranges(layout: &Layout) -> Vec<(String, Range<usize>)> {
    layout.layers.iter().filter(|l| l.quantizable).map(|l| (l.name.clone(), l.weight.clone())).collect()
}
