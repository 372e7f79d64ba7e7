//! Element-wise activations and the loss: ReLU (forward and backward), softmax
//! cross-entropy with its gradient.

/// `max(0, x)` that keeps NaN (a diverged run must stay visible).
#[inline(always)]
pub(crate) fn relu(v: f32) -> f32 {
    if v < 0.0 {
        0.0
    } else {
        v
    }
}

/// `dz <- dz * [h > 0]`.
pub(crate) fn relu_backward(dz: &mut [f32], h: &[f32]) {
    for (d, &hh) in dz.iter_mut().zip(h) {
        if hh <= 0.0 {
            *d = 0.0;
        }
    }
}

/// Softmax cross-entropy of each row of `logits` against its label: returns the summed loss
/// (accumulated in f64) and the correct count; with `grad` the rows become
/// `(softmax - onehot) / B`, the gradient of the batch-mean loss.
pub(crate) fn softmax_xent(logits: &mut [f32], y: &[u8], grad: bool) -> (f64, usize) {
    let b = y.len();
    let c = logits.len() / b;
    let inv_b = 1.0 / b as f32;
    let (mut loss, mut correct) = (0.0f64, 0usize);
    for (row, &label) in logits.chunks_exact_mut(c).zip(y) {
        let label = label as usize;
        assert!(label < c, "label {label} out of range for {c} classes");
        let (mut mx, mut arg) = (row[0], 0);
        for (j, &v) in row.iter().enumerate().skip(1) {
            if v > mx {
                mx = v;
                arg = j;
            }
        }
        correct += (arg == label) as usize;
        let z_label = row[label];
        let mut s = 0.0f32;
        if grad {
            for v in row.iter_mut() {
                *v = (*v - mx).exp();
                s += *v;
            }
            let scale = inv_b / s;
            for v in row.iter_mut() {
                *v *= scale;
            }
            row[label] -= inv_b;
        } else {
            for &v in row.iter() {
                s += (v - mx).exp();
            }
        }
        loss += (s.ln() - (z_label - mx)) as f64;
    }
    (loss, correct)
}
