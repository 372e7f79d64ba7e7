#!/usr/bin/env python3
"""PyTorch CPU reference for qnet-exp's CNN benchmark: one training epoch of the LeNet-like
net, samples/s.

The model and step match `problem.kind = "cnn"`, `problem.arch = "lenet"` in qnet-exp
(src/nets/layout.rs, src/nets/passes.rs): MNIST 1 x 28 x 28, conv 5x5 -> 32 channels
(padding 2), BatchNorm2d, ReLU, 2 x 2 max-pooling, conv 5x5 -> 64, BatchNorm2d, ReLU,
pooling, flatten (3136), Linear 256, BatchNorm1d, ReLU, Linear 10; batch norm is optional
(``--no-batch-norm``; qnet-exp's default is on). float32, softmax cross-entropy averaged
over the batch, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8), batch 100, one epoch over the
MNIST training images (``--train-size``), read and standardised as torch_mlp.py does.
Glorot-uniform weights (a convolution's fans are C_in k k and C_out k k), zero biases.

Methods as in torch_mlp.py (its Trainer runs the step): ``fp`` plain Adam; ``bc``
BinaryConnect, the binary weights s * sign(latent) in the layers and Adam on the latent
copies (straight-through gradient); ``sr`` Adam then stochastic rounding to {-s, +s} in
place. All four weight tensors are quantized, with s = sqrt(1.5/(fan_in+fan_out)) per
layer; biases and BN parameters stay full precision.

Written as a careful PyTorch user would: the default NCHW layout (oneDNN's convolutions
on the CPU), data preloaded as one tensor, batches gathered with ``index_select(out=)``.
``torch.set_num_threads(N)``, one inter-op thread. Times the training epoch only, after
``--warmup`` batches on a throwaway model.

Usage:
  torch_cnn.py [--methods fp,bc,sr] [--threads 1] [--no-batch-norm] [--adam fused|default]
               [--data data/mnist] [--train-size 60000] [--json]
"""

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import torch_mlp  # noqa: E402  (the data loading and the per-method Trainer)


def build_lenet(torch, batch_norm, seed):
    """The LeNet-like net and its four weight layers (conv1, conv2, fc1, fc2)."""
    nn = torch.nn
    torch.manual_seed(seed)
    c1, c2 = nn.Conv2d(1, 32, 5, padding=2), nn.Conv2d(32, 64, 5, padding=2)
    f1, f2 = nn.Linear(64 * 7 * 7, 256), nn.Linear(256, 10)
    weights = [c1, c2, f1, f2]
    for m in weights:
        nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)
    bn = (lambda mod: [mod]) if batch_norm else (lambda mod: [])
    layers = ([c1] + bn(nn.BatchNorm2d(32)) + [nn.ReLU(), nn.MaxPool2d(2)]
              + [c2] + bn(nn.BatchNorm2d(64)) + [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]
              + [f1] + bn(nn.BatchNorm1d(256)) + [nn.ReLU(), f2])
    return nn.Sequential(*layers), weights


def run_method(torch, method, args, x, y):
    def trainer():
        built = build_lenet(torch, args.batch_norm, args.seed)
        return torch_mlp.Trainer(torch, method, None, args.batch_norm, args.lr, args.adam, args.seed, built=built)

    return torch_mlp.timed_run(torch, trainer, method, args, x, y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", default="fp,bc,sr", help="comma-separated subset of fp,bc,sr")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-batch-norm", dest="batch_norm", action="store_false")
    ap.add_argument("--adam", default="fused", choices=["default", "fused", "foreach", "single"],
                    help="torch.optim.Adam implementation (fused: one pass, the fastest on CPU)")
    ap.add_argument("--data", default=str(ROOT / "data" / "mnist"))
    ap.add_argument("--train-size", type=int, default=60000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=5, help="untimed batches before the epoch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON object per method")
    args = ap.parse_args()

    nt = str(args.threads)
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(v, nt)
    import torch

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    xs, ys = torch_mlp.load_mnist(args.data, args.train_size)
    x = torch.from_numpy(xs).reshape(-1, 1, 28, 28).contiguous()
    y = torch.from_numpy(ys)
    for m in args.methods.split(","):
        r = run_method(torch, m.strip(), args, x, y)
        r["torch"] = torch.__version__
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            print(f"{r['method']:3s} threads={r['threads']} bn={int(r['batch_norm'])} adam={r['adam']}: "
                  f"{r['wall_s']:.2f} s ({r['cpu_s']:.2f} s CPU), {r['samples_per_s']:.0f} samples/s, "
                  f"train loss {r['train_loss']:.4f}", flush=True)


if __name__ == "__main__":
    main()
