//! A network's passes over a batch: the training forward and backward, inference, and
//! batch-norm recalibration.
//!
//! The input is sample-major (`batch x features`, each image as stored: channels, then rows,
//! then columns) and so are the logits. The convolutional part works on channel-major CNHW
//! activations (see [`super::ops`]) and hands the dense part its output flattened
//! feature-major; hidden dense layers are sample-major like the input. All products go
//! through [`super::gemm`]; bias, ReLU, BN, pooling and softmax are slice loops that
//! vectorize. A [`Workspace`] holds every buffer for its maximum batch size, so a training
//! step allocates nothing itself (the GEMM kernels pack into per-thread buffers that grow
//! once and are reused).

use super::gemm::{Dims, Op, Parallelism};
use super::layout::{Layout, Stage};
use super::ops::act::{relu_backward, softmax_xent};
use super::ops::bn::{batch_moments, bn_backward, bn_train_apply, BnState, BN_EPS, BN_MOMENTUM};
use super::ops::conv::{conv_backward, conv_forward, ConvWorkspace};
use super::ops::dense::{bias_add, bias_relu, col_sums, product, product_transposed, scale_shift_relu};
use super::ops::pool::{maxpool2_backward, maxpool2_forward};
use super::ops::{bn_channel, flatten_feature_major, fused, unflatten_feature_major, unflatten_sample_major};

/// A stored matrix and how it is used (as is, or transposed): a dense layer's input.
type Input<'a> = (&'a [f32], Op);

/// The input of dense layer `l` for a batch of `b` (`n_in` features each) and the operation
/// that turns its slice into the `b x n_in` matrix: the dense part's input `x` for the first
/// layer, else the previous hidden layer's activations (sample-major).
fn layer_input<'a>(x: Input<'a>, act: &'a [Vec<f32>], l: usize, b: usize, n_in: usize) -> Input<'a> {
    if l == 0 {
        x
    } else {
        (&act[l - 1][..b * n_in], Op::N)
    }
}

/// A forward pass's input of hidden layer `l` (as [`layer_input`]) and the layer's own
/// output buffer (`b x n_out`, sample-major), borrowed from the activations together.
fn hidden_io<'a>(
    x: Input<'a>,
    act: &'a mut [Vec<f32>],
    l: usize,
    (b, n_in, n_out): (usize, usize, usize),
) -> (Input<'a>, &'a mut [f32]) {
    let (done, rest) = act.split_at_mut(l);
    (layer_input(x, done, l, b, n_in), &mut rest[0][..b * n_out])
}

/// The buffers of the convolutional part (all empty for an MLP).
#[derive(Clone, Debug, Default)]
struct ConvBuffers {
    /// The batch in CNHW, when the input has several channels (one channel: the batch as
    /// given already is).
    input: Vec<f32>,
    /// Per convolution layer.
    ws: Vec<ConvWorkspace>,
    /// Per stage: a convolution's post-ReLU output, a pooling's output.
    out: Vec<Vec<f32>>,
    /// Per stage: a convolution's output before batch norm, normalised in place (empty
    /// without batch norm and for pooling).
    xhat: Vec<Vec<f32>>,
    /// Per stage: where each pooled value came from (empty for convolutions).
    arg: Vec<Vec<u8>>,
    /// The last stage's output flattened feature-major: the dense part's input.
    flat: Vec<f32>,
    /// Ping-pong buffers for the gradient w.r.t. the stages' activations.
    delta: [Vec<f32>; 2],
}

/// The buffers of the dense part.
#[derive(Clone, Debug)]
struct DenseBuffers {
    /// Post-ReLU output of each hidden layer.
    act: Vec<Vec<f32>>,
    /// Normalised pre-activation of each hidden layer with BN (empty otherwise).
    xhat: Vec<Vec<f32>>,
    logits: Vec<f32>,
    /// Ping-pong buffers for the gradient w.r.t. hidden activations.
    delta: [Vec<f32>; 2],
}

/// Per BN feature or channel: the batch mean (inference: the scale), the batch variance
/// then 1/std (inference: the shift).
#[derive(Clone, Debug)]
struct BnBuffers {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
}

/// Every buffer of a forward/backward pass for batches of up to `max_batch` samples.
#[derive(Clone, Debug)]
pub struct Workspace {
    max_batch: usize,
    /// Thread use of the GEMMs and of the convolutional part's element-wise passes (the
    /// dense part's element-wise passes run on the calling thread).
    pub parallelism: Parallelism,
    conv: ConvBuffers,
    dense: DenseBuffers,
    stats: BnBuffers,
    /// A convolution followed by pooling runs its activation fused into the pooling
    /// ([`fused`]); `false` runs the separate passes (the same bits: the tests compare both).
    fuse_pool: bool,
}

impl Workspace {
    pub fn new(layout: &Layout, max_batch: usize, parallelism: Parallelism) -> Workspace {
        assert!(max_batch >= 1, "workspace batch size must be at least 1");
        let arch = &layout.arch;
        let bn = arch.batch_norm;
        let act = arch.hidden.iter().map(|&h| vec![0.0; max_batch * h]).collect();
        let xhat = arch.hidden.iter().map(|&h| vec![0.0; if bn { max_batch * h } else { 0 }]).collect();
        let delta = [vec![0.0; max_batch * layout.max_hidden], vec![0.0; max_batch * layout.max_hidden]];
        let mut conv = ConvBuffers::default();
        if let Some((c, hw)) = layout.flat() {
            if arch.input[0] > 1 {
                conv.input = vec![0.0; max_batch * arch.input_len()];
            }
            let mut largest = c * hw;
            for stage in &layout.stages {
                let (oc, oh, ow) = stage.out_shape();
                let out = max_batch * oc * oh * ow;
                match stage {
                    Stage::Conv { shape, .. } => {
                        conv.ws.push(ConvWorkspace::new(*shape, max_batch));
                        conv.xhat.push(vec![0.0; if bn { out } else { 0 }]);
                        conv.arg.push(Vec::new());
                        largest = largest.max(max_batch * shape.c_in * shape.hw());
                    }
                    Stage::Pool { c, h, w } => {
                        conv.xhat.push(Vec::new());
                        conv.arg.push(vec![0; out]);
                        largest = largest.max(max_batch * c * h * w);
                    }
                }
                conv.out.push(vec![0.0; out]);
                largest = largest.max(out);
            }
            conv.flat = vec![0.0; max_batch * c * hw];
            conv.delta = [vec![0.0; largest], vec![0.0; largest]];
        }
        Workspace {
            max_batch,
            parallelism,
            conv,
            dense: DenseBuffers { act, xhat, logits: vec![0.0; max_batch * arch.classes], delta },
            stats: BnBuffers { mean: vec![0.0; layout.bn_len], inv_std: vec![0.0; layout.bn_len] },
            fuse_pool: true,
        }
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Runs a convolution's activation fused into the pooling that follows it (`true`, the
    /// default) or as separate passes (`false`): the same bits, for benchmarks and tests
    /// that compare the two.
    pub fn set_fuse_pool(&mut self, on: bool) {
        self.fuse_pool = on;
    }
}

/// The batch as the first convolution reads it (CNHW): as given for one channel, else
/// transposed into `conv.input`.
fn conv_input<'a>(layout: &Layout, x: &'a [f32], b: usize, input: &'a mut [f32], par: Parallelism) -> &'a [f32] {
    let [c, h, w] = layout.arch.input;
    if c == 1 {
        return x;
    }
    let dst = &mut input[..b * c * h * w];
    // Sample-major `b x (c*h*w)` to CNHW: the inverse of flattening sample-major.
    let _ = par;
    unflatten_sample_major(x, c, b, h * w, dst);
    dst
}

/// Whether stage `i` is a convolution whose output goes straight into 2 x 2 max-pooling:
/// then the activation is fused into the pooling ([`fused`]) and the convolution's own
/// output buffer (`out[i]`) is not used; the raw convolution output stays in `xhat[i]`
/// (with batch norm) or `out[i]` (without).
fn fused_with_pool(layout: &Layout, fuse: bool, i: usize) -> bool {
    fuse && matches!(layout.stages[i], Stage::Conv { .. })
        && matches!(layout.stages.get(i + 1), Some(Stage::Pool { .. }))
}

/// The convolutional part's forward pass on a batch of `b`, in training mode (batch
/// statistics, `bn`'s running statistics moved) or inference mode (`bn`'s running
/// statistics); its output flattened into `conv.flat`.
fn forward_conv(layout: &Layout, params: &[f32], mut bn: BnMode, x: &[f32], b: usize, work: &mut Workspace) {
    let Some((fc, fhw)) = layout.flat() else { return };
    let (par, fuse) = (work.parallelism, work.fuse_pool);
    let Workspace { conv, stats, .. } = work;
    let ConvBuffers { input, ws, out, xhat, arg, flat, .. } = conv;
    let x0 = conv_input(layout, x, b, input, par);
    for (i, stage) in layout.stages.iter().enumerate() {
        if i > 0 && fused_with_pool(layout, fuse, i - 1) {
            continue; // done with the convolution before it
        }
        let fused = fused_with_pool(layout, fuse, i);
        let (done, rest) = out.split_at_mut(i);
        let a: &[f32] = if i == 0 { x0 } else { &done[i - 1] };
        let (o, pooled) = rest.split_first_mut().expect("stage i exists");
        match *stage {
            Stage::Conv { layer, shape } => {
                let info = &layout.layers[layer];
                let (w, bias) = (&params[info.weight.clone()], &params[info.bias.clone()]);
                let (a, n) = (&a[..shape.in_len(b)], shape.out_len(b));
                let (c, hh, ww) = (shape.c_out, shape.h, shape.w);
                // With pooling fused: the pooled output and its winners.
                let pool_to = fused.then(|| (&mut pooled[0][..n / 4], &mut arg[i + 1][..n / 4]));
                match (&info.bn, &mut bn) {
                    (None, _) => {
                        let z = &mut o[..n];
                        conv_forward(&mut ws[layer], b, a, w, None, z, par);
                        if let Some((y, winners)) = pool_to {
                            let act = fused::BiasRelu { bias };
                            fused::act_pool_forward(z, c, hh, ww, y, winners, &act, par);
                        } else {
                            bn_channel::bias_relu(z, bias, par);
                        }
                    }
                    (Some(r), BnMode::Train(state)) => {
                        let z = &mut xhat[i][..n];
                        conv_forward(&mut ws[layer], b, a, w, None, z, par);
                        let (rm, rv) = (&mut state.mean[r.stats.clone()], &mut state.var[r.stats.clone()]);
                        let (mean, inv_std) = (&mut stats.mean[r.stats.clone()], &mut stats.inv_std[r.stats.clone()]);
                        let (gamma, beta) = (&params[r.gamma.clone()], &params[r.beta.clone()]);
                        let m = state.momentum;
                        if let Some((y, winners)) = pool_to {
                            bn_channel::batch_moments(z, mean, inv_std, par);
                            bn_channel::update_running(rm, rv, mean, inv_std, Some(bias), m, n / c);
                            bn_channel::inv_std_in_place(inv_std);
                            let act = fused::BnTrain { mean, inv_std, gamma, beta };
                            fused::act_pool_forward(z, c, hh, ww, y, winners, &act, par);
                        } else {
                            bn_channel::bn_forward_train(
                                z,
                                &mut o[..n],
                                Some(bias),
                                gamma,
                                beta,
                                rm,
                                rv,
                                m,
                                mean,
                                inv_std,
                                par,
                            );
                        }
                    }
                    (Some(r), BnMode::Infer(state)) => {
                        let z = &mut o[..n];
                        conv_forward(&mut ws[layer], b, a, w, None, z, par);
                        let (s, t) = (&mut stats.mean[r.stats.clone()], &mut stats.inv_std[r.stats.clone()]);
                        let (rm, rv) = (&state.mean[r.stats.clone()], &state.var[r.stats.clone()]);
                        let (gamma, beta) = (&params[r.gamma.clone()], &params[r.beta.clone()]);
                        bn_channel::inference_scale_shift(gamma, beta, Some(bias), rm, rv, s, t);
                        if let Some((y, winners)) = pool_to {
                            let act = fused::ScaleShift { s, t };
                            fused::act_pool_forward(z, c, hh, ww, y, winners, &act, par);
                        } else {
                            bn_channel::scale_shift_relu(z, s, t, par);
                        }
                    }
                }
            }
            Stage::Pool { c, h, w } => {
                let n = c * b * h * w;
                maxpool2_forward(&a[..n], c * b, h, w, &mut o[..n / 4], &mut arg[i][..n / 4], par);
            }
        }
    }
    let last = &out[layout.stages.len() - 1];
    flatten_feature_major(&last[..fc * b * fhw], fc, b, fhw, &mut flat[..fc * b * fhw], par);
}

/// Batch norm in training mode (moving these running statistics) or inference mode.
enum BnMode<'a> {
    Train(&'a mut BnState),
    Infer(&'a BnState),
}

/// The dense part's input: the batch itself (an MLP) or the convolutional part's
/// flattened output.
fn dense_input<'a>(layout: &Layout, x: &'a [f32], flat: &'a [f32], b: usize) -> Input<'a> {
    match layout.flat() {
        None => (x, Op::N),
        Some((c, hw)) => (&flat[..c * hw * b], Op::T),
    }
}

/// One training step's forward and backward pass on a batch: `x` is `B x input` row-major,
/// `y` the `B` labels. Batch norm runs in training mode and updates `bn`'s running
/// statistics. Writes the gradient of the batch-mean loss w.r.t. every parameter into `grad`
/// (same layout as `params`, every entry overwritten) and returns the batch-mean
/// cross-entropy and the number of correctly classified samples (argmax, first index on ties).
pub fn forward_backward(
    layout: &Layout,
    params: &[f32],
    bn: &mut BnState,
    x: &[f32],
    y: &[u8],
    ws: &mut Workspace,
    grad: &mut [f32],
) -> (f64, usize) {
    let b = y.len();
    check_batch(layout, params, x, y, ws);
    assert_eq!(grad.len(), layout.len, "gradient vector length");
    if layout.arch.batch_norm {
        assert!(b >= 2, "batch norm in training mode needs at least 2 samples per batch");
        assert_eq!(bn.mean.len(), layout.bn_len, "BnState does not match the layout");
        assert_eq!(bn.var.len(), layout.bn_len, "BnState does not match the layout");
    }
    let par = ws.parallelism;
    forward_train(layout, params, bn, x, b, ws);
    let dense = layout.dense();
    let last = dense.len() - 1;
    let Workspace { conv, dense: d, stats, .. } = ws;
    let x_in = dense_input(layout, x, &conv.flat, b);

    // Output layer and loss; the logits buffer (always sample-major) becomes dL/dlogits.
    let out = &dense[last];
    let c = out.fan_out;
    let (a_in, op_in) = layer_input(x_in, &d.act, last, b, out.fan_in);
    let logits = &mut d.logits[..b * c];
    product(Dims { m: b, n: c, k: out.fan_in }, (a_in, op_in), (&params[out.weight.clone()], Op::T), logits, par);
    bias_add(logits, &params[out.bias.clone()]);
    let (loss_sum, correct) = softmax_xent(logits, y, true);

    // Backward: dL/dW = dz^T a_in, and dL/da_in = dz W into the previous layer's store (the
    // first dense layer's: feature-major, into the convolutional part's delta).
    let conv_part = layout.flat().is_some();
    let dz: &[f32] = &d.logits[..b * c];
    product(Dims { m: c, n: out.fan_in, k: b }, (dz, Op::T), (a_in, op_in), &mut grad[out.weight.clone()], par);
    col_sums(dz, &mut grad[out.bias.clone()]);
    let w = &params[out.weight.clone()];
    let dims = Dims { m: b, n: out.fan_in, k: c };
    if last > 0 {
        product(dims, (dz, Op::N), (w, Op::N), &mut d.delta[0][..b * out.fan_in], par);
    } else if conv_part {
        product_transposed(dims, (dz, Op::N), (w, Op::N), &mut conv.delta[0][..b * out.fan_in], par);
    }
    let mut cur = 0;
    for l in (0..last).rev() {
        let info = &dense[l];
        let (n_in, n_out) = (info.fan_in, info.fan_out);
        let (d0, d1) = d.delta.split_at_mut(1);
        let (dcur, dnext) = if cur == 0 { (&mut d0[0], &mut d1[0]) } else { (&mut d1[0], &mut d0[0]) };
        let dz = &mut dcur[..b * n_out];
        let h = &d.act[l][..b * n_out];
        match &info.bn {
            None => {
                relu_backward(dz, h);
                col_sums(dz, &mut grad[info.bias.clone()]);
            }
            Some(r) => {
                // gamma's range directly precedes beta's.
                debug_assert_eq!(r.gamma.end, r.beta.start);
                let (dgamma, dbeta) = grad[r.gamma.start..r.beta.end].split_at_mut(n_out);
                let xhat = &d.xhat[l][..b * n_out];
                let (inv_std, gamma) = (&stats.inv_std[r.stats.clone()], &params[r.gamma.clone()]);
                bn_backward(dz, h, xhat, inv_std, gamma, dgamma, dbeta);
                grad[info.bias.clone()].fill(0.0);
            }
        }
        let dz: &[f32] = dz;
        let (a_in, op_in) = layer_input(x_in, &d.act, l, b, n_in);
        product(Dims { m: n_out, n: n_in, k: b }, (dz, Op::T), (a_in, op_in), &mut grad[info.weight.clone()], par);
        let w = &params[info.weight.clone()];
        let dims = Dims { m: b, n: n_in, k: n_out };
        if l > 0 {
            product(dims, (dz, Op::N), (w, Op::N), &mut dnext[..b * n_in], par);
            cur ^= 1;
        } else if conv_part {
            product_transposed(dims, (dz, Op::N), (w, Op::N), &mut conv.delta[0][..b * n_in], par);
        }
    }
    if conv_part {
        backward_conv(layout, params, x, b, ws, grad);
    }
    (loss_sum / b as f64, correct)
}

/// The convolutional part's backward pass: `conv.delta[0]` holds dL/d(flattened output),
/// feature-major; writes every convolution's gradients.
fn backward_conv(layout: &Layout, params: &[f32], x: &[f32], b: usize, work: &mut Workspace, grad: &mut [f32]) {
    let Some((fc, fhw)) = layout.flat() else { return };
    let (par, fuse) = (work.parallelism, work.fuse_pool);
    let Workspace { conv, stats, .. } = work;
    let ConvBuffers { input, ws, out, xhat, arg, delta, .. } = conv;
    let [d0, d1] = delta;
    let n = fc * b * fhw;
    unflatten_feature_major(&d0[..n], fc, b, fhw, &mut d1[..n], par);
    let x0: &[f32] = if layout.arch.input[0] == 1 { x } else { input };
    let mut cur = 1;
    for (i, stage) in layout.stages.iter().enumerate().rev() {
        if i > 0 && fused_with_pool(layout, fuse, i - 1) {
            continue; // the pooling is undone with the convolution before it
        }
        let fused = fused_with_pool(layout, fuse, i);
        let (dcur, dnext) = if cur == 0 { (&mut *d0, &mut *d1) } else { (&mut *d1, &mut *d0) };
        let a_in: &[f32] = if i == 0 { x0 } else { &out[i - 1] };
        match *stage {
            Stage::Pool { c, h, w } => {
                let n = c * b * h * w;
                maxpool2_backward(&dcur[..n / 4], &arg[i][..n / 4], c * b, h, w, &mut dnext[..n], par);
            }
            Stage::Conv { layer, shape } => {
                let info = &layout.layers[layer];
                let n = shape.out_len(b);
                // dL/dz: in place in dcur, or (fused: dcur holds the pooled gradient) into
                // dnext, and dL/dx then goes into dcur.
                let (dz, dx_buf) = if fused { (&mut dnext[..n], &mut *dcur) } else { (&mut dcur[..n], &mut *dnext) };
                let (c, hh, ww) = (shape.c_out, shape.h, shape.w);
                let db = match &info.bn {
                    None => {
                        let bias = &params[info.bias.clone()];
                        if fused {
                            let act = fused::BiasRelu { bias };
                            fused::bias_relu_pool_backward(
                                &dx_buf[..n / 4],
                                &arg[i + 1][..n / 4],
                                &out[i][..n],
                                hh,
                                ww,
                                &act,
                                dz,
                                par,
                            );
                        } else {
                            bn_channel::relu_backward(dz, &out[i][..n], par);
                        }
                        true
                    }
                    Some(r) => {
                        let (dgamma, dbeta) = grad[r.gamma.start..r.beta.end].split_at_mut(c);
                        let (inv_std, gamma) = (&stats.inv_std[r.stats.clone()], &params[r.gamma.clone()]);
                        if fused {
                            let bn = fused::BnTrain {
                                mean: &stats.mean[r.stats.clone()],
                                inv_std,
                                gamma,
                                beta: &params[r.beta.clone()],
                            };
                            let dy = &dx_buf[..n / 4];
                            fused::bn_relu_pool_backward(
                                dy,
                                &arg[i + 1][..n / 4],
                                &xhat[i][..n],
                                hh,
                                ww,
                                &bn,
                                dgamma,
                                dbeta,
                                dz,
                                par,
                            );
                        } else {
                            bn_channel::bn_backward(
                                dz,
                                &out[i][..n],
                                &xhat[i][..n],
                                inv_std,
                                gamma,
                                dgamma,
                                dbeta,
                                par,
                            );
                        }
                        // The bias before batch norm cancels in training mode.
                        grad[info.bias.clone()].fill(0.0);
                        false
                    }
                };
                // gamma and beta follow the bias, which follows the weights.
                let (gw, gb) = grad[info.weight.start..info.bias.end].split_at_mut(info.weight.len());
                let dx = (i > 0).then(|| &mut dx_buf[..shape.in_len(b)]);
                let w = &params[info.weight.clone()];
                conv_backward(&mut ws[layer], b, &a_in[..shape.in_len(b)], w, dz, gw, db.then_some(gb), dx, par);
                if fused {
                    continue; // dL/dx is in dcur, where the next stage looks
                }
            }
        }
        cur ^= 1;
    }
}

/// The forward pass in training mode on a batch of `b` samples up to the logits: the
/// convolutional part, then the hidden dense layers; fills the workspace's activations (and
/// BN's normalised inputs and batch statistics) and moves `bn`'s running statistics
/// towards the batch's.
fn forward_train(layout: &Layout, params: &[f32], bn: &mut BnState, x: &[f32], b: usize, ws: &mut Workspace) {
    let par = ws.parallelism;
    forward_conv(layout, params, BnMode::Train(bn), x, b, ws);
    let Workspace { conv, dense: d, stats, .. } = ws;
    let x_in = dense_input(layout, x, &conv.flat, b);
    let dense = layout.dense();
    let last = dense.len() - 1;
    for (l, info) in dense[..last].iter().enumerate() {
        let (n_in, n_out) = (info.fan_in, info.fan_out);
        let w = &params[info.weight.clone()];
        let bias = &params[info.bias.clone()];
        let ((a_in, op_in), h) = hidden_io(x_in, &mut d.act, l, (b, n_in, n_out));
        match &info.bn {
            None => {
                product(Dims { m: b, n: n_out, k: n_in }, (a_in, op_in), (w, Op::T), h, par);
                bias_relu(h, bias);
            }
            Some(r) => {
                let z = &mut d.xhat[l][..b * n_out];
                product(Dims { m: b, n: n_out, k: n_in }, (a_in, op_in), (w, Op::T), z, par);
                let mean = &mut stats.mean[r.stats.clone()];
                let var = &mut stats.inv_std[r.stats.clone()];
                batch_moments(z, mean, var);
                // Running statistics of the BN input z + b (the bias is not in the GEMM output).
                let m = bn.momentum;
                let unbias = b as f32 / (b - 1) as f32;
                let (rm, rv) = (&mut bn.mean[r.stats.clone()], &mut bn.var[r.stats.clone()]);
                for j in 0..n_out {
                    rm[j] = (1.0 - m) * rm[j] + m * (mean[j] + bias[j]);
                    rv[j] = (1.0 - m) * rv[j] + m * (var[j] * unbias);
                }
                for v in var.iter_mut() {
                    *v = 1.0 / (*v + BN_EPS).sqrt();
                }
                bn_train_apply(z, h, mean, var, &params[r.gamma.clone()], &params[r.beta.clone()]);
            }
        }
    }
}

/// Batch-norm statistics re-estimated for `params`: the training-mode forward pass over
/// the first `batches` batches of `batch` samples of `x`, with the running statistics the
/// plain average of the batches' (as PyTorch's SWA `update_bn`). For evaluating weights
/// other than those the running statistics were collected at, such as BC's latent
/// weights. Plain defaults for a net without batch norm.
pub fn recalibrate_bn(
    layout: &Layout,
    params: &[f32],
    x: &[f32],
    batch: usize,
    batches: usize,
    ws: &mut Workspace,
) -> BnState {
    let mut bn = BnState::new(layout);
    if !layout.arch.batch_norm {
        return bn;
    }
    let d = layout.arch.input_len();
    assert!(batch >= 2, "batch norm in training mode needs at least 2 samples per batch");
    assert!(x.len() >= batches * batch * d, "recalibration needs {batches} batches of {batch} samples");
    for (k, xb) in x.chunks_exact(batch * d).take(batches).enumerate() {
        // running = (1 - 1/(k+1)) running + batch/(k+1): the mean of batches 0..=k.
        bn.momentum = 1.0 / (k + 1) as f32;
        forward_train(layout, params, &mut bn, xb, batch, ws);
    }
    bn.momentum = BN_MOMENTUM;
    bn
}

/// Mean cross-entropy and error rate (fraction misclassified) over the whole set `x`, `y`
/// in inference mode (batch norm with the running statistics of `bn`), in chunks of the
/// workspace's batch size. NaN for an empty set.
pub fn evaluate(layout: &Layout, params: &[f32], bn: &BnState, x: &[f32], y: &[u8], ws: &mut Workspace) -> (f64, f64) {
    let n = y.len();
    let d = layout.arch.input_len();
    assert_eq!(x.len(), n * d, "x must be {n} x {d}");
    assert_eq!(bn.mean.len(), layout.bn_len, "BnState does not match the layout");
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (mut loss, mut correct) = (0.0, 0);
    let mut start = 0;
    while start < n {
        let end = (start + ws.max_batch).min(n);
        let (l, c) = forward_infer(layout, params, bn, &x[start * d..end * d], &y[start..end], ws);
        loss += l;
        correct += c;
        start = end;
    }
    (loss / n as f64, (n - correct) as f64 / n as f64)
}

/// Inference-mode forward of one chunk: (sum of the losses, correct count).
fn forward_infer(
    layout: &Layout,
    params: &[f32],
    bn: &BnState,
    x: &[f32],
    y: &[u8],
    ws: &mut Workspace,
) -> (f64, usize) {
    let b = y.len();
    check_batch(layout, params, x, y, ws);
    let par = ws.parallelism;
    forward_conv(layout, params, BnMode::Infer(bn), x, b, ws);
    let Workspace { conv, dense: d, stats, .. } = ws;
    let x_in = dense_input(layout, x, &conv.flat, b);
    let dense = layout.dense();
    let last = dense.len() - 1;
    for (l, info) in dense[..last].iter().enumerate() {
        let (n_in, n_out) = (info.fan_in, info.fan_out);
        let w = &params[info.weight.clone()];
        let bias = &params[info.bias.clone()];
        let ((a_in, op_in), h) = hidden_io(x_in, &mut d.act, l, (b, n_in, n_out));
        product(Dims { m: b, n: n_out, k: n_in }, (a_in, op_in), (w, Op::T), h, par);
        match &info.bn {
            None => bias_relu(h, bias),
            Some(r) => {
                // relu(gamma (z + b - mean) / sqrt(var + eps) + beta) = relu(s z + t).
                let s = &mut stats.mean[r.stats.clone()];
                let t = &mut stats.inv_std[r.stats.clone()];
                let (gamma, beta) = (&params[r.gamma.clone()], &params[r.beta.clone()]);
                let (rm, rv) = (&bn.mean[r.stats.clone()], &bn.var[r.stats.clone()]);
                for j in 0..n_out {
                    s[j] = gamma[j] / (rv[j] + BN_EPS).sqrt();
                    t[j] = beta[j] + s[j] * (bias[j] - rm[j]);
                }
                scale_shift_relu(h, s, t);
            }
        }
    }
    let out = &dense[last];
    let c = out.fan_out;
    let (a_in, op_in) = layer_input(x_in, &d.act, last, b, out.fan_in);
    let logits = &mut d.logits[..b * c];
    product(Dims { m: b, n: c, k: out.fan_in }, (a_in, op_in), (&params[out.weight.clone()], Op::T), logits, par);
    bias_add(logits, &params[out.bias.clone()]);
    softmax_xent(logits, y, false)
}

fn check_batch(layout: &Layout, params: &[f32], x: &[f32], y: &[u8], ws: &Workspace) {
    let b = y.len();
    let arch = &layout.arch;
    assert!(b >= 1, "empty batch");
    assert!(b <= ws.max_batch, "batch of {b} exceeds the workspace's {}", ws.max_batch);
    assert_eq!(x.len(), b * arch.input_len(), "x must be {b} x {}", arch.input_len());
    assert_eq!(params.len(), layout.len, "parameter vector length");
    assert_eq!(ws.dense.logits.len(), ws.max_batch * arch.classes, "workspace built for another layout");
    assert_eq!(ws.dense.act.len(), arch.hidden.len(), "workspace built for another layout");
    assert_eq!(ws.conv.out.len(), layout.stages.len(), "workspace built for another layout");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::layout::{Arch, Stage};
    use crate::real::Real;
    use crate::rng::seeded;
    use rand::Rng;

    fn tiny(batch_norm: bool) -> Layout {
        Layout::new(Arch::mlp(5, vec![4, 3], 3, batch_norm)).unwrap()
    }

    /// A reproducible batch: features ~ U(-1, 1), labels uniform.
    fn data(seed: u64, n: usize, d: usize, classes: usize) -> (Vec<f32>, Vec<u8>) {
        let mut rng = seeded(seed);
        let x = (0..n * d).map(|_| (2.0 * f64::unit_from_bits(rng.next_u64()) - 1.0) as f32).collect();
        let y = (0..n).map(|_| crate::rng::below(rng.next_u64(), classes) as u8).collect();
        (x, y)
    }

    /// Initial parameters with every bias and BN parameter moved off its init value, so that
    /// each of them is exercised (gamma = 1, beta = b = 0 would hide a missing factor).
    fn perturbed_params(layout: &Layout, seed: u64) -> Vec<f32> {
        let mut p = layout.init(seed);
        let mut rng = seeded(seed ^ 0xABCD);
        let mut u = || (2.0 * f64::unit_from_bits(rng.next_u64()) - 1.0) as f32;
        for l in layout.layers() {
            for v in &mut p[l.bias.clone()] {
                *v = 0.3 * u();
            }
            if let Some(r) = &l.bn {
                for v in &mut p[r.gamma.clone()] {
                    *v = 1.0 + 0.5 * u();
                }
                for v in &mut p[r.beta.clone()] {
                    *v = 0.3 * u();
                }
            }
        }
        p
    }

    /// An independent, plain-loop f64 forward in training mode (batch statistics): the mean
    /// cross-entropy and the per-BN-feature batch mean (of z + b) and biased variance.
    fn reference_loss(layout: &Layout, p: &[f64], x: &[f32], y: &[u8]) -> (f64, Vec<f64>, Vec<f64>) {
        let b = y.len();
        let a: Vec<Vec<f64>> = (0..b)
            .map(|r| {
                x[r * layout.arch().input_len()..][..layout.arch().input_len()].iter().map(|&v| v as f64).collect()
            })
            .collect();
        dense_reference(layout, p, a, y)
    }

    /// The dense part of the f64 reference on per-sample input vectors `a`.
    fn dense_reference(layout: &Layout, p: &[f64], mut a: Vec<Vec<f64>>, y: &[u8]) -> (f64, Vec<f64>, Vec<f64>) {
        let b = y.len();
        let (mut means, mut vars) = (vec![], vec![]);
        let last = layout.dense().len() - 1;
        for (l, info) in layout.dense().iter().enumerate() {
            let mut z: Vec<Vec<f64>> = a
                .iter()
                .map(|ar| {
                    (0..info.fan_out)
                        .map(|o| {
                            p[info.bias.start + o]
                                + (0..info.fan_in)
                                    .map(|i| p[info.weight.start + o * info.fan_in + i] * ar[i])
                                    .sum::<f64>()
                        })
                        .collect()
                })
                .collect();
            if l == last {
                let mut loss = 0.0;
                for (zr, &lab) in z.iter().zip(y) {
                    let mx = zr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let lse = mx + zr.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
                    loss += lse - zr[lab as usize];
                }
                return (loss / b as f64, means, vars);
            }
            if let Some(r) = &info.bn {
                for o in 0..info.fan_out {
                    let m = z.iter().map(|zr| zr[o]).sum::<f64>() / b as f64;
                    let v = z.iter().map(|zr| (zr[o] - m).powi(2)).sum::<f64>() / b as f64;
                    for zr in z.iter_mut() {
                        zr[o] = p[r.gamma.start + o] * (zr[o] - m) / (v + BN_EPS as f64).sqrt() + p[r.beta.start + o];
                    }
                    means.push(m);
                    vars.push(v);
                }
            }
            a = z.into_iter().map(|zr| zr.into_iter().map(|v| v.max(0.0)).collect()).collect();
        }
        unreachable!()
    }

    /// The f64 reference of a CNN on the batch `x` (sample-major images `C x H x W`): the
    /// convolutional part with plain loops (direct convolution, per-channel batch norm in
    /// training mode, ReLU, 2 x 2 max-pooling), flattened in PyTorch's order, then the dense
    /// reference. Also returns the smallest |pre-ReLU value| and the smallest gap between a
    /// pooling window's maximum and its runner-up: both must be far from 0 for finite
    /// differences to see a smooth function.
    fn cnn_reference(layout: &Layout, p: &[f64], x: &[f32], y: &[u8]) -> (f64, f64, f64) {
        use crate::nets::ops::testutil::naive_conv;
        let b = y.len();
        let [c0, h0, w0] = layout.arch().input;
        // CNHW f64.
        let mut a = vec![0.0; x.len()];
        for s in 0..b {
            for c in 0..c0 {
                for q in 0..h0 * w0 {
                    a[(c * b + s) * h0 * w0 + q] = x[(s * c0 + c) * h0 * w0 + q] as f64;
                }
            }
        }
        let (mut kink, mut gap) = (f64::INFINITY, f64::INFINITY);
        for stage in layout.stages() {
            match *stage {
                Stage::Conv { layer, shape } => {
                    let info = &layout.layers()[layer];
                    let (mut z, _) = naive_conv(&shape, b, &a, &p[info.weight.clone()], Some(&p[info.bias.clone()]));
                    let n = b * shape.hw();
                    for (c, run) in z.chunks_exact_mut(n).enumerate() {
                        if let Some(r) = &info.bn {
                            let m = run.iter().sum::<f64>() / n as f64;
                            let v = run.iter().map(|t| (t - m).powi(2)).sum::<f64>() / n as f64;
                            for t in run.iter_mut() {
                                *t = p[r.gamma.start + c] * (*t - m) / (v + BN_EPS as f64).sqrt() + p[r.beta.start + c];
                            }
                        }
                        for t in run.iter_mut() {
                            kink = kink.min(t.abs());
                            *t = t.max(0.0);
                        }
                    }
                    a = z;
                }
                Stage::Pool { c, h, w } => {
                    let mut o = vec![0.0; a.len() / 4];
                    for pl in 0..c * b {
                        for i in 0..h / 2 {
                            for j in 0..w / 2 {
                                let mut v: Vec<f64> =
                                    (0..4).map(|q| a[(pl * h + 2 * i + q / 2) * w + 2 * j + q % 2]).collect();
                                v.sort_by(|p, q| q.total_cmp(p));
                                if v[0] > 0.0 {
                                    gap = gap.min(v[0] - v[1]);
                                }
                                o[(pl * (h / 2) + i) * (w / 2) + j] = v[0];
                            }
                        }
                    }
                    a = o;
                }
            }
        }
        let (c, hw) = layout.flat().unwrap();
        let feats: Vec<Vec<f64>> =
            (0..b).map(|s| (0..c * hw).map(|f| a[((f / hw) * b + s) * hw + f % hw]).collect()).collect();
        (dense_reference(layout, p, feats, y).0, kink, gap)
    }

    /// A whole small CNN through the real passes (conv with padding at the borders -> BN ->
    /// ReLU -> pool -> conv -> BN -> ReLU -> pool -> flatten -> fc -> BN -> ReLU -> fc ->
    /// softmax), with and without batch norm, 1 and 2 input channels: every parameter's
    /// gradient against central differences of the f64 reference, as strict as the MLP's.
    #[test]
    fn cnn_gradient_matches_finite_differences() {
        use crate::nets::ConvStage::{Conv, Pool};
        for (batch_norm, c_in, seed) in [(true, 1, 5), (false, 2, 7), (true, 2, 9)] {
            let arch = Arch {
                input: [c_in, 8, 4],
                convs: vec![Conv { c_out: 3, k: 3 }, Pool, Conv { c_out: 4, k: 5 }, Pool],
                hidden: vec![5],
                classes: 3,
                batch_norm,
            };
            let layout = Layout::new(arch).unwrap();
            let batch = 3;
            let (x, y) = data(seed, batch, layout.arch().input_len(), 3);
            let p = perturbed_params(&layout, seed);
            let mut ws = Workspace::new(&layout, batch, Parallelism::None);
            let mut bn = BnState::new(&layout);
            let mut g = vec![f32::NAN; layout.len()];
            let (loss, _) = forward_backward(&layout, &p, &mut bn, &x, &y, &mut ws, &mut g);
            let mut p64: Vec<f64> = p.iter().map(|&v| v as f64).collect();
            let (ref_loss, kink, gap) = cnn_reference(&layout, &p64, &x, &y);
            assert!((loss - ref_loss).abs() < 1e-5, "f32 loss {loss} vs f64 reference {ref_loss}");
            assert!(kink > 1e-3 && gap > 1e-3, "data too close to a kink ({kink}) or a tie ({gap})");
            let (mut worst, mut largest) = (0.0f64, 0.0f64);
            for (i, &gi) in g.iter().enumerate() {
                let fd = crate::nets::ops::testutil::central(&mut p64, i, &mut |q| cnn_reference(&layout, q, &x, &y).0);
                let err = (gi as f64 - fd).abs();
                assert!(err <= 2e-6 + 1e-4 * fd.abs(), "parameter {i}: analytic {gi} vs fd {fd}");
                worst = worst.max(err);
                largest = largest.max(fd.abs());
            }
            eprintln!("CNN gradient check (bn {batch_norm}, {c_in} channels): worst |g - fd| {worst:.1e}, largest |fd| {largest:.2}");
            assert!(largest > 0.05, "largest gradient {largest}");
        }
    }

    /// A threaded CNN step gives the serial step's bits (loss, gradient, BN statistics), and
    /// inference agrees with itself across chunk sizes.
    #[test]
    fn cnn_threaded_step_is_bitwise_the_serial_one() {
        use crate::nets::ConvStage::{Conv, Pool};
        let arch = Arch {
            input: [3, 16, 16],
            convs: vec![Conv { c_out: 8, k: 3 }, Conv { c_out: 8, k: 3 }, Pool, Conv { c_out: 16, k: 5 }, Pool],
            hidden: vec![32],
            classes: 10,
            batch_norm: true,
        };
        let layout = Layout::new(arch).unwrap();
        let (x, y) = data(4, 24, layout.arch().input_len(), 10);
        let run = |par: Parallelism| {
            let p = layout.init(12);
            let mut g = vec![0.0; layout.len()];
            let mut ws = Workspace::new(&layout, 24, par);
            let mut bn = BnState::new(&layout);
            let (loss, correct) = forward_backward(&layout, &p, &mut bn, &x, &y, &mut ws, &mut g);
            let eval = evaluate(&layout, &p, &bn, &x, &y, &mut ws);
            (loss.to_bits(), correct, g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), bn, eval.0.to_bits())
        };
        let a = run(Parallelism::None);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let b = pool.install(|| run(Parallelism::Rayon(0)));
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1);
        assert!(a.2 == b.2, "gradients differ");
        assert_eq!(a.3, b.3);
        assert_eq!(a.4, b.4);
        assert!(a.2.iter().any(|&v| v != 0), "a gradient at all");
    }

    /// The fused activation + pooling (`Workspace::fuse_pool`, the default) gives the
    /// separate passes' bits: loss, gradient, running statistics, BN recalibration and
    /// inference, with and without batch norm, odd sizes (batch 7, 12 x 20 and 6 x 10 planes, 5 and 3
    /// channels, BN channels over several 512-value sum blocks with a ragged tail), a
    /// convolution followed by another convolution and one followed by pooling, serial and
    /// on 2 threads, over two steps so that the second starts from moved statistics.
    #[test]
    fn cnn_fused_pool_is_bitwise_the_separate_passes() {
        use crate::nets::ConvStage::{Conv, Pool};
        for batch_norm in [true, false] {
            let arch = Arch {
                input: [2, 12, 20],
                convs: vec![Conv { c_out: 5, k: 3 }, Pool, Conv { c_out: 3, k: 3 }, Conv { c_out: 3, k: 5 }, Pool],
                hidden: vec![9],
                classes: 4,
                batch_norm,
            };
            let layout = Layout::new(arch).unwrap();
            let batch = 7;
            let (x, y) = data(21, 2 * batch, layout.arch().input_len(), 4);
            let d = layout.arch().input_len();
            let p = perturbed_params(&layout, 22);
            let run = |fuse: bool, par: Parallelism| {
                let mut ws = Workspace::new(&layout, batch, par);
                ws.set_fuse_pool(fuse);
                let mut bn = BnState::new(&layout);
                let mut out = Vec::new();
                for (xb, yb) in x.chunks_exact(batch * d).zip(y.chunks_exact(batch)) {
                    let mut g = vec![f32::NAN; layout.len()];
                    let (loss, correct) = forward_backward(&layout, &p, &mut bn, xb, yb, &mut ws, &mut g);
                    out.push((loss.to_bits(), correct, g.iter().map(|v| v.to_bits()).collect::<Vec<_>>()));
                }
                let eval = evaluate(&layout, &p, &bn, &x, &y, &mut ws);
                let recal = recalibrate_bn(&layout, &p, &x, batch, 2, &mut ws);
                let eval_recal = evaluate(&layout, &p, &recal, &x, &y, &mut ws);
                let stats = |s: &BnState| s.mean.iter().chain(&s.var).map(|v| v.to_bits()).collect::<Vec<_>>();
                (out, stats(&bn), stats(&recal), eval.0.to_bits(), eval.1.to_bits(), eval_recal.0.to_bits())
            };
            let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            let separate = run(false, Parallelism::None);
            assert!(separate.0.iter().all(|(_, _, g)| g.iter().any(|&v| v != 0)), "a gradient at all");
            for par in [Parallelism::None, Parallelism::Rayon(0)] {
                let fused = pool.install(|| run(true, par));
                assert!(fused == separate, "fused passes differ from the separate ones (bn {batch_norm}, {par:?})");
                assert!(pool.install(|| run(false, par)) == separate, "separate passes differ threaded");
            }
        }
    }

    /// Central finite differences of the f64 reference loss (h = 1e-6: truncation ~1e-12,
    /// rounding ~1e-16 / 1e-6 = 1e-10) against the f32 analytic gradient, for every parameter
    /// of every layer: weights, biases, gamma and beta.
    ///
    /// Tolerance |g - fd| <= 2e-6 + 1e-4 |fd|: the f32 gradient carries rounding errors of a
    /// few ulps (6e-8 relative) of the O(1) terms it sums, times the depth of the computation,
    /// i.e. ~1e-7 (measured worst: 8e-8 with BN, 2e-8 without); a wrong formula (a missing BN
    /// mean term, a missing gamma, a transposed weight) is off by the order of the gradient
    /// itself, 1e-2..1e-1 here.
    /// `hidden` with three layers covers hidden-to-hidden products both ways; a batch of 11
    /// leaves a partial 8-row tile.
    fn gradient_check(batch_norm: bool, hidden: &[usize], batch: usize) {
        let layout = Layout::new(Arch::mlp(5, hidden.to_vec(), 3, batch_norm)).unwrap();
        let (x, y) = data(11, batch, 5, 3);
        let p = perturbed_params(&layout, 3);
        let mut ws = Workspace::new(&layout, batch, Parallelism::None);
        let mut bn = BnState::new(&layout);
        let mut g = vec![f32::NAN; layout.len()];
        let (loss, _) = forward_backward(&layout, &p, &mut bn, &x, &y, &mut ws, &mut g);

        let p64: Vec<f64> = p.iter().map(|&v| v as f64).collect();
        let (ref_loss, _, _) = reference_loss(&layout, &p64, &x, &y);
        assert!((loss - ref_loss).abs() < 1e-5, "f32 loss {loss} vs f64 reference {ref_loss}");

        let h = 1e-6;
        let mut worst: f64 = 0.0;
        let mut largest: f64 = 0.0;
        let mut q = p64.clone();
        for (l, info) in layout.layers().iter().enumerate() {
            let mut ranges = vec![("weight", info.weight.clone()), ("bias", info.bias.clone())];
            if let Some(r) = &info.bn {
                ranges.push(("gamma", r.gamma.clone()));
                ranges.push(("beta", r.beta.clone()));
            }
            for (what, range) in ranges {
                for i in range {
                    q[i] = p64[i] + h;
                    let up = reference_loss(&layout, &q, &x, &y).0;
                    q[i] = p64[i] - h;
                    let down = reference_loss(&layout, &q, &x, &y).0;
                    q[i] = p64[i];
                    let fd = (up - down) / (2.0 * h);
                    let err = (g[i] as f64 - fd).abs();
                    assert!(err <= 2e-6 + 1e-4 * fd.abs(), "layer {} {what}[{i}]: analytic {} vs fd {fd}", l + 1, g[i]);
                    worst = worst.max(err);
                    largest = largest.max(fd.abs());
                }
            }
        }
        eprintln!("gradient check (bn {batch_norm}, {hidden:?}, batch {batch}): worst |g - fd| {worst:.1e}, largest |fd| {largest:.2}");
        // The check is not vacuous: gradients of a useful size were compared.
        assert!(largest > 0.05, "largest gradient {largest}");
        assert!(worst < 2e-6, "worst error {worst}");
    }

    #[test]
    fn gradient_matches_finite_differences_without_bn() {
        gradient_check(false, &[4, 3], 6);
        gradient_check(false, &[4, 3, 5], 11);
    }

    #[test]
    fn gradient_matches_finite_differences_with_bn() {
        gradient_check(true, &[4, 3], 6);
        gradient_check(true, &[4, 3, 5], 11);
    }

    #[test]
    fn running_statistics_follow_pytorch() {
        let layout = tiny(true);
        let (x, y) = data(5, 6, 5, 3);
        let p = perturbed_params(&layout, 9);
        let mut ws = Workspace::new(&layout, 8, Parallelism::None);
        let mut bn = BnState::new(&layout);
        let mut g = vec![0.0; layout.len()];
        forward_backward(&layout, &p, &mut bn, &x, &y, &mut ws, &mut g);
        let p64: Vec<f64> = p.iter().map(|&v| v as f64).collect();
        let (_, means, vars) = reference_loss(&layout, &p64, &x, &y);
        assert_eq!(means.len(), layout.bn_features());
        for j in 0..means.len() {
            let want_m = 0.1 * means[j];
            let want_v = 0.9 + 0.1 * vars[j] * 6.0 / 5.0;
            assert!((bn.mean[j] as f64 - want_m).abs() < 1e-6, "mean[{j}] {} vs {want_m}", bn.mean[j]);
            assert!((bn.var[j] as f64 - want_v).abs() < 1e-5, "var[{j}] {} vs {want_v}", bn.var[j]);
        }
    }

    /// Recalibrated statistics are the average over the batches of each batch's mean and
    /// unbiased variance (f64 reference), and need no running history.
    #[test]
    fn recalibrated_statistics_average_the_batches() {
        let layout = tiny(true);
        let (x, y) = data(7, 12, 5, 3);
        let p = perturbed_params(&layout, 3);
        let p64: Vec<f64> = p.iter().map(|&v| v as f64).collect();
        let (_, ma, va) = reference_loss(&layout, &p64, &x[..30], &y[..6]);
        let (_, mb, vb) = reference_loss(&layout, &p64, &x[30..], &y[6..]);
        let mut ws = Workspace::new(&layout, 6, Parallelism::None);
        let bn = recalibrate_bn(&layout, &p, &x, 6, 2, &mut ws);
        assert_eq!(bn.momentum, BN_MOMENTUM);
        for j in 0..layout.bn_features() {
            let want_m = 0.5 * (ma[j] + mb[j]);
            let want_v = 0.5 * (va[j] + vb[j]) * 6.0 / 5.0;
            assert!((bn.mean[j] as f64 - want_m).abs() < 1e-5, "mean[{j}] {} vs {want_m}", bn.mean[j]);
            assert!((bn.var[j] as f64 - want_v).abs() < 1e-5, "var[{j}] {} vs {want_v}", bn.var[j]);
        }
        // One batch: exactly that batch's statistics, whatever came before.
        let one = recalibrate_bn(&layout, &p, &x[..30], 6, 1, &mut ws);
        assert_eq!(one.mean.len(), ma.len());
        for (j, (&got, &want)) in one.mean.iter().zip(&ma).enumerate() {
            assert!((got as f64 - want).abs() < 1e-5, "mean[{j}] {got} vs {want}");
        }
    }

    fn sgd_overfits(batch_norm: bool) {
        let layout = Layout::new(Arch::mlp(8, vec![16], 3, batch_norm)).unwrap();
        let (x, y) = data(21, 24, 8, 3);
        let mut p = layout.init(4);
        let mut g = vec![0.0; layout.len()];
        let mut ws = Workspace::new(&layout, 24, Parallelism::None);
        let mut bn = BnState::new(&layout);
        let (first, _) = forward_backward(&layout, &p, &mut bn, &x, &y, &mut ws, &mut g);
        let mut last = (first, 0);
        for _ in 0..1500 {
            last = forward_backward(&layout, &p, &mut bn, &x, &y, &mut ws, &mut g);
            for (w, gi) in p.iter_mut().zip(&g) {
                *w -= 0.3 * gi;
            }
        }
        assert!(first > 0.9, "random labels start near ln 3: {first}");
        assert!(last.0 < 0.05, "loss after SGD {} (bn {batch_norm})", last.0);
        assert_eq!(last.1, 24, "every training sample classified correctly");
    }

    #[test]
    fn sgd_overfits_a_tiny_random_dataset() {
        sgd_overfits(false);
        sgd_overfits(true);
    }

    #[test]
    fn same_seed_same_bits() {
        let layout = Layout::new(Arch::mlp(30, vec![40, 20], 10, true)).unwrap();
        let (x, y) = data(8, 16, 30, 10);
        let run = |par: Parallelism| {
            let p = layout.init(77);
            let mut g = vec![0.0; layout.len()];
            let mut ws = Workspace::new(&layout, 16, par);
            let mut bn = BnState::new(&layout);
            let (loss, correct) = forward_backward(&layout, &p, &mut bn, &x, &y, &mut ws, &mut g);
            (p, loss.to_bits(), correct, g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), bn)
        };
        let a = run(Parallelism::None);
        let b = run(Parallelism::None);
        assert!(a.0.iter().zip(&b.0).all(|(u, v)| u.to_bits() == v.to_bits()));
        assert_eq!((a.1, a.2, &a.3), (b.1, b.2, &b.3));
        assert_eq!(a.4, b.4);
        // The GEMMs split work over threads without changing any sum's order.
        let c = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| run(Parallelism::Rayon(0)));
        assert_eq!((a.1, a.2, &a.3), (c.1, c.2, &c.3));
        assert_ne!(layout.init(78), a.0);
        // Glorot range, zero bias, unit gamma.
        for l in layout.layers() {
            let lim = l.glorot_limit();
            assert!(a.0[l.weight.clone()].iter().all(|w| w.abs() <= lim));
            assert!(a.0[l.bias.clone()].iter().all(|&v| v == 0.0));
            if let Some(r) = &l.bn {
                assert!(a.0[r.gamma.clone()].iter().all(|&v| v == 1.0));
                assert!(a.0[r.beta.clone()].iter().all(|&v| v == 0.0));
            }
        }
    }

    #[test]
    fn evaluate_matches_training_forward_without_bn() {
        let layout = tiny(false);
        let (x, y) = data(13, 10, 5, 3);
        let p = perturbed_params(&layout, 1);
        let mut g = vec![0.0; layout.len()];
        let mut bn = BnState::new(&layout);
        // One chunk: the same operations, so the same bits.
        let mut ws = Workspace::new(&layout, 10, Parallelism::None);
        let (loss, correct) = forward_backward(&layout, &p, &mut bn, &x, &y, &mut ws, &mut g);
        let (eval_loss, err) = evaluate(&layout, &p, &bn, &x, &y, &mut ws);
        assert_eq!(eval_loss.to_bits(), loss.to_bits());
        assert_eq!(err, 1.0 - correct as f64 / 10.0);
        // Chunks of 4, 4, 2 against three training batches.
        let mut ws4 = Workspace::new(&layout, 4, Parallelism::None);
        let (mut sum, mut right) = (0.0, 0);
        for (lo, hi) in [(0, 4), (4, 8), (8, 10)] {
            let (l, c) = forward_backward(&layout, &p, &mut bn, &x[lo * 5..hi * 5], &y[lo..hi], &mut ws4, &mut g);
            sum += l * (hi - lo) as f64;
            right += c;
        }
        let (eval_loss, err) = evaluate(&layout, &p, &bn, &x, &y, &mut ws4);
        assert!((eval_loss - sum / 10.0).abs() < 1e-12);
        assert_eq!(err, 1.0 - right as f64 / 10.0);
    }

    #[test]
    fn evaluate_with_bn_uses_running_statistics() {
        let layout = tiny(true);
        let (x, y) = data(17, 6, 5, 3);
        let p = perturbed_params(&layout, 2);
        let mut g = vec![0.0; layout.len()];
        let mut ws = Workspace::new(&layout, 6, Parallelism::None);
        // Momentum 1: the running statistics become this batch's (variance unbiased).
        let mut bn = BnState { momentum: 1.0, ..BnState::new(&layout) };
        let (loss, _) = forward_backward(&layout, &p, &mut bn, &x, &y, &mut ws, &mut g);
        let fresh = evaluate(&layout, &p, &BnState::new(&layout), &x, &y, &mut ws).0;
        assert!((fresh - loss).abs() > 1e-3, "mean 0 / var 1 must differ from batch statistics");
        // Undo the unbiasing: inference then normalises exactly like training did.
        for v in &mut bn.var {
            *v *= 5.0 / 6.0;
        }
        let (eval_loss, _) = evaluate(&layout, &p, &bn, &x, &y, &mut ws);
        assert!((eval_loss - loss).abs() < 1e-5, "inference {eval_loss} vs training {loss}");
    }
}
