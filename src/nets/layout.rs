//! The layout of a network on ONE flat f32 parameter vector: the architecture, the named
//! range of every layer's parameters, and the initial values.
//!
//! A network is an image input (`C x H x W`), a convolutional part (stride-1 "same"
//! convolutions, each followed by batch norm if asked and a ReLU, and 2 x 2 max-pooling
//! stages), then dense hidden layers and the output layer; an MLP is the case without a
//! convolutional part. Per layer, in forward order, each block contiguous: the weight
//! (a convolution's `[C_out][C_in][k][k]` as PyTorch's `Conv2d.weight`, a dense layer's
//! `fan_out x fan_in` row-major as PyTorch's `Linear`), the bias, and with batch
//! normalisation (every layer but the output) `gamma` then `beta`. Quantizers, optimizers
//! and methods see only the slice (and, for per-layer grids, the ranges [`Layout::layers`]
//! hands out); the model knows nothing of them.

use std::ops::Range;

use rand::Rng;

use super::ops::conv::ConvShape;
use crate::quant::glorot_limit;
use crate::real::Real;
use crate::rng::seeded;

/// A stage of the convolutional part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvStage {
    /// A `k x k` convolution to `c_out` channels (then batch norm, then ReLU).
    Conv { c_out: usize, k: usize },
    /// 2 x 2 max-pooling, stride 2.
    Pool,
}

/// The architecture: `input (C x H x W) -> convolutional stages -> hidden[0] -> ... ->
/// classes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arch {
    /// Channels, height and width of an input image (an MLP sees the `C*H*W` values).
    pub input: [usize; 3],
    pub convs: Vec<ConvStage>,
    pub hidden: Vec<usize>,
    pub classes: usize,
    /// Batch normalisation after every convolution and hidden affine map, before the ReLU.
    pub batch_norm: bool,
}

impl Arch {
    /// A multilayer perceptron on `input` values.
    pub fn mlp(input: usize, hidden: Vec<usize>, classes: usize, batch_norm: bool) -> Arch {
        Arch { input: [1, 1, input], convs: Vec::new(), hidden, classes, batch_norm }
    }

    /// Values per input image.
    pub fn input_len(&self) -> usize {
        self.input.iter().product()
    }
}

/// The batch-norm parameters of one layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BnRanges {
    /// Scale `gamma` in the parameter vector.
    pub gamma: Range<usize>,
    /// Shift `beta` in the parameter vector.
    pub beta: Range<usize>,
    /// This layer's features (channels) in the batch-norm state's `mean` / `var`.
    pub stats: Range<usize>,
}

/// One weight layer's place in the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// `conv1`, `conv2`, ..., `fc1`, `fc2`, ... in forward order.
    pub name: String,
    /// For a convolution, `C_in k k` and `C_out k k` (what BinaryConnect's per-layer scale
    /// and the Glorot init use).
    pub fan_in: usize,
    pub fan_out: usize,
    /// The weight tensor.
    pub weight: Range<usize>,
    pub bias: Range<usize>,
    /// Present on every layer but the output one when the architecture has batch norm.
    pub bn: Option<BnRanges>,
    /// The convolution's shape (`None`: a dense layer).
    pub conv: Option<ConvShape>,
    /// Whether the weights may be quantized. Always true for weight tensors (keeping the
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

/// A stage of the convolutional part as laid out: its input shape and, for a convolution,
/// its layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// `layers[layer]` is the convolution.
    Conv { layer: usize, shape: ConvShape },
    /// Pooling of `c` channels of `h x w` (even) images.
    Pool { c: usize, h: usize, w: usize },
}

impl Stage {
    /// `(channels, height, width)` of the stage's output.
    pub fn out_shape(&self) -> (usize, usize, usize) {
        match *self {
            Stage::Conv { shape, .. } => (shape.c_out, shape.h, shape.w),
            Stage::Pool { c, h, w } => (c, h / 2, w / 2),
        }
    }
}

/// Named ranges of the flat parameter vector of an [`Arch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub(crate) arch: Arch,
    /// Every weight layer: the convolutions first, then the dense layers.
    pub(crate) layers: Vec<LayerInfo>,
    pub(crate) stages: Vec<Stage>,
    /// Number of convolution layers (`layers[..n_conv]`).
    pub(crate) n_conv: usize,
    pub(crate) len: usize,
    pub(crate) bn_len: usize,
    pub(crate) max_hidden: usize,
}

impl Layout {
    /// Fails on a zero size, an even kernel, pooling an odd-sized image, or fewer than 2
    /// (more than 256, labels are `u8`) classes.
    pub fn new(arch: Arch) -> Result<Layout, String> {
        let [c0, h0, w0] = arch.input;
        if c0 * h0 * w0 == 0 {
            return Err("net: the input size must be at least 1".into());
        }
        if let Some(i) = arch.hidden.iter().position(|&h| h == 0) {
            return Err(format!("net: hidden layer {} has size 0", i + 1));
        }
        if !(2..=256).contains(&arch.classes) {
            return Err(format!("net: {} classes; 2..=256 are supported", arch.classes));
        }
        let (mut off, mut bn_off) = (0, 0);
        let mut layers = Vec::new();
        let mut push = |name: String, fan_in: usize, fan_out: usize, w_len: usize, n_out: usize, bn: bool, conv| {
            let weight = off..off + w_len;
            let bias = weight.end..weight.end + n_out;
            off = bias.end;
            let bn = bn.then(|| {
                let gamma = off..off + n_out;
                let beta = gamma.end..gamma.end + n_out;
                off = beta.end;
                let stats = bn_off..bn_off + n_out;
                bn_off = stats.end;
                BnRanges { gamma, beta, stats }
            });
            layers.push(LayerInfo { name, fan_in, fan_out, weight, bias, bn, conv, quantizable: true });
        };
        let (mut c, mut h, mut w) = (c0, h0, w0);
        let mut stages = Vec::new();
        for stage in &arch.convs {
            match *stage {
                ConvStage::Conv { c_out, k } => {
                    let shape = ConvShape::new(c, c_out, k, h, w)?;
                    let n = stages.iter().filter(|s| matches!(s, Stage::Conv { .. })).count();
                    let (fan_in, fan_out) = (c * k * k, c_out * k * k);
                    push(
                        format!("conv{}", n + 1),
                        fan_in,
                        fan_out,
                        shape.weight_len(),
                        c_out,
                        arch.batch_norm,
                        Some(shape),
                    );
                    stages.push(Stage::Conv { layer: n, shape });
                    c = c_out;
                }
                ConvStage::Pool => {
                    if h % 2 != 0 || w % 2 != 0 {
                        return Err(format!("net: 2 x 2 pooling of a {h} x {w} image (height and width must be even)"));
                    }
                    stages.push(Stage::Pool { c, h, w });
                    (h, w) = (h / 2, w / 2);
                }
            }
        }
        let n_conv = stages.iter().filter(|s| matches!(s, Stage::Conv { .. })).count();
        let mut dims = vec![c * h * w];
        dims.extend_from_slice(&arch.hidden);
        dims.push(arch.classes);
        let n_dense = dims.len() - 1;
        for l in 0..n_dense {
            let (fan_in, fan_out) = (dims[l], dims[l + 1]);
            let bn = arch.batch_norm && l + 1 < n_dense;
            push(format!("fc{}", l + 1), fan_in, fan_out, fan_in * fan_out, fan_out, bn, None);
        }
        let max_hidden = arch.hidden.iter().copied().max().unwrap_or(0);
        Ok(Layout { arch, layers, stages, n_conv, len: off, bn_len: bn_off, max_hidden })
    }

    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    /// Every weight layer in forward order (the last one is the output layer).
    pub fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// The dense layers (after the convolutional part).
    pub fn dense(&self) -> &[LayerInfo] {
        &self.layers[self.n_conv..]
    }

    /// The stages of the convolutional part (empty for an MLP).
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// `(channels, pixels per plane)` of the convolutional part's output, flattened into
    /// the first dense layer's input (`None` for an MLP).
    pub fn flat(&self) -> Option<(usize, usize)> {
        self.stages.last().map(|s| {
            let (c, h, w) = s.out_shape();
            (c, h * w)
        })
    }

    /// Length of the flat parameter (and gradient) vector.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of batch-normalised features and channels (length of the batch-norm state).
    pub fn bn_features(&self) -> usize {
        self.bn_len
    }

    /// Multiply-adds of one sample's forward pass (the backward pass costs about twice that).
    pub fn macs_per_sample(&self) -> usize {
        self.layers.iter().map(|l| l.conv.map_or(l.fan_in * l.fan_out, |s| s.macs_per_sample())).sum()
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

/// Each weight tensor's range, named `conv1`, ..., `fc1`, ... (all of them; the caller drops
/// the first or last layer to keep it in full precision).
pub fn quantizable_ranges(layout: &Layout) -> Vec<(String, Range<usize>)> {
    layout.layers.iter().filter(|l| l.quantizable).map(|l| (l.name.clone(), l.weight.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_ranges_tile_the_vector() {
        let layout = Layout::new(Arch::mlp(784, vec![1024, 1024], 10, true)).unwrap();
        let mut next = 0;
        for l in layout.layers() {
            assert_eq!(l.weight.start, next);
            assert_eq!(l.weight.len(), l.fan_in * l.fan_out);
            assert_eq!(l.bias.start, l.weight.end);
            next = l.bias.end;
            if let Some(r) = &l.bn {
                assert_eq!((r.gamma.start, r.beta.start, r.beta.end), (next, next + l.fan_out, next + 2 * l.fan_out));
                next = r.beta.end;
            }
        }
        assert_eq!(next, layout.len());
        assert_eq!(layout.len(), 784 * 1024 + 1024 * 1024 + 1024 * 10 + 1024 * 6 + 10);
        assert!(layout.layers().last().unwrap().bn.is_none());
        let q = quantizable_ranges(&layout);
        assert_eq!(q.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["fc1", "fc2", "fc3"]);
        assert_eq!(q[1].1, layout.layers()[1].weight);
        assert!(Layout::new(Arch::mlp(4, vec![0], 3, false)).is_err());
        assert!(Layout::new(Arch::mlp(4, vec![], 1, false)).is_err());
        // No hidden layer: softmax regression, still a valid net.
        let lin = Layout::new(Arch::mlp(4, vec![], 3, true)).unwrap();
        assert_eq!((lin.len(), lin.bn_features()), (15, 0));
    }

    /// LeNet-like: conv5x5-32, pool, conv5x5-64, pool, fc 256, fc 10 on 1 x 28 x 28.
    #[test]
    fn a_cnn_lays_out_its_convolutions_first() {
        use ConvStage::*;
        let arch = Arch {
            input: [1, 28, 28],
            convs: vec![Conv { c_out: 32, k: 5 }, Pool, Conv { c_out: 64, k: 5 }, Pool],
            hidden: vec![256],
            classes: 10,
            batch_norm: true,
        };
        let layout = Layout::new(arch).unwrap();
        let names: Vec<&str> = layout.layers().iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["conv1", "conv2", "fc1", "fc2"]);
        let conv2 = &layout.layers()[1];
        assert_eq!((conv2.fan_in, conv2.fan_out, conv2.weight.len()), (32 * 25, 64 * 25, 64 * 32 * 25));
        assert_eq!(layout.flat(), Some((64, 49)));
        assert_eq!(layout.dense()[0].fan_in, 3136);
        // Per-channel BN on the convolutions, per feature on fc1; none on the output.
        assert_eq!(layout.bn_features(), 32 + 64 + 256);
        assert_eq!(conv2.bn.as_ref().unwrap().stats, 32..96);
        let params = 32 * 25 + 32 * 3 + 64 * 800 + 64 * 3 + 3136 * 256 + 256 * 3 + 2570;
        assert_eq!(layout.len(), params);
        // About 11.4M multiply-adds per sample forward (the two convolutions and the dense part).
        assert_eq!(layout.macs_per_sample(), 32 * 25 * 784 + 64 * 800 * 196 + 3136 * 256 + 2560);
        let odd = Arch { input: [1, 7, 7], convs: vec![Pool], hidden: vec![], classes: 2, batch_norm: false };
        assert!(Layout::new(odd).unwrap_err().contains("7 x 7"));
    }
}
